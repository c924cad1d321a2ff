"""The chemistry's open-circuit voltage curve, evaluated for whole cell vectors: one class for all.

Why one class: the estimator needs OCV(SOC), its slope and the inverse at every filter step; the
battery simulator needs OCV(SOC) every step and the stored energy (the integral of OCV over SOC).
Both read the same ``ocv_table`` of the config, so both use this piecewise-linear curve; they
differ only in how the curve goes on beyond the table, which is a parameter:

* the estimator (default) extends the end segments by one unit of SOC with their own slopes, so
  a single ``numpy.interp`` covers the small overshoots a filter may make beyond 0..1;
* the simulator asks for ends three times as steep, confined to -10 .. 110 %, so a cell that a
  protection failure overcharges really climbs above Vmax (falls below Vmin) instead of sticking
  at the table's end.

SOC is a fraction (0..1) in this module; the table is given in percent as in the config. It lives
in the config package because it is the config's ``ocv_table`` made usable, and every layer may
read the config.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

try:  # numpy.interp's compiled core without its Python wrapper (a third of a call's cost here)
    from numpy._core.multiarray import interp as _interp  # numpy 2
except ImportError:  # pragma: no cover - numpy 1.26
    from numpy.core.multiarray import interp as _interp  # type: ignore[no-redef,attr-defined,unused-ignore]

__all__ = ["OcvCurve"]

FloatArray = NDArray[np.float64]

#: Half width of the central difference used for the slope (SOC fraction). Smooths the kinks of
#: the piecewise-linear table so the filter gain does not jump at each table point.
_SLOPE_HALF_WIDTH = 0.01
#: Points of the tabulated energy integral over SOC 0..1 (see ``energy_0_1``).
_ENERGY_POINTS = 2001


class OcvCurve:
    """Piecewise-linear OCV over SOC (fraction) from ``(soc_pct, voltage_v)`` points, extended.

    ``end_steepness`` multiplies the end segments' slopes beyond the table; ``soc_limits`` is the
    SOC range (fractions) the extension covers, beyond which the voltage is held.
    """

    def __init__(
        self,
        table: Sequence[tuple[float, float]],
        *,
        end_steepness: float = 1.0,
        soc_limits: tuple[float, float] = (-1.0, 2.0),
    ) -> None:
        pts = sorted(table)
        soc = np.array([p[0] for p in pts], dtype=np.float64) / 100.0
        volt = np.array([p[1] for p in pts], dtype=np.float64)
        if len(soc) < 2 or np.any(np.diff(soc) <= 0):
            raise ValueError(f"OCV table SOC points must be strictly increasing, got {soc * 100}")
        self.table_soc: FloatArray = soc
        self.table_voltage_v: FloatArray = volt
        low_slope = (volt[1] - volt[0]) / (soc[1] - soc[0]) * end_steepness
        high_slope = (volt[-1] - volt[-2]) / (soc[-1] - soc[-2]) * end_steepness
        s_lo = min(soc_limits[0], soc[0] - 1e-3)
        s_hi = max(soc_limits[1], soc[-1] + 1e-3)
        v_lo = max(0.0, volt[0] - low_slope * (soc[0] - s_lo))
        v_hi = volt[-1] + high_slope * (s_hi - soc[-1])
        self.soc_points: FloatArray = np.concatenate(([s_lo], soc, [s_hi]))
        self.voltage_points: FloatArray = np.concatenate(([v_lo], volt, [v_hi]))
        self._slopes: FloatArray = np.diff(self.voltage_points) / np.diff(self.soc_points)
        seg_energy = 0.5 * (self.voltage_points[1:] + self.voltage_points[:-1]) * np.diff(self.soc_points)
        # Cumulative integral of OCV dSOC from SOC = 0 (not from the extended start) at each point.
        cum = np.concatenate(([0.0], np.cumsum(seg_energy)))
        self._cum_points: FloatArray = cum - self._integral_from_start(0.0, cum)
        self._energy_grid: tuple[FloatArray, FloatArray] | None = None  #: built on first use
        # The central-difference slope of a piecewise-linear curve is itself piecewise linear,
        # with corners at the table points +- the half width: tabulated there, it is one interp.
        h = _SLOPE_HALF_WIDTH
        corners = np.unique(np.concatenate((self.soc_points - h, self.soc_points + h)))
        self._slope_soc: FloatArray = corners
        self._slope_v: FloatArray = (self.voltage(corners + h) - self.voltage(corners - h)) / (2.0 * h)

    def _integral_from_start(self, soc: float, cum: FloatArray) -> float:
        k = int(np.clip(np.searchsorted(self.soc_points, soc, side="right") - 1, 0, len(self._slopes) - 1))
        ds = soc - self.soc_points[k]
        return float(cum[k] + ds * (self.voltage_points[k] + 0.5 * self._slopes[k] * ds))

    def voltage(self, soc: FloatArray) -> FloatArray:
        """OCV at each SOC fraction (extended beyond the table, held beyond ``soc_limits``)."""
        out: FloatArray = _interp(soc, self.soc_points, self.voltage_points)
        return out

    voltage_v = voltage

    def slope(self, soc: FloatArray) -> FloatArray:
        """dOCV/dSOC in volts per unit SOC fraction (central difference over ±1 % SOC)."""
        out: FloatArray = _interp(soc, self._slope_soc, self._slope_v)
        return out

    def soc(self, voltage_v: FloatArray) -> FloatArray:
        """Inverse: SOC fraction for each rested cell voltage (held at the table ends)."""
        out: FloatArray = _interp(voltage_v, self.table_voltage_v, self.table_soc)
        return out

    def energy_0_1(self, soc_fraction: FloatArray) -> FloatArray:
        """``energy_v_per_unit`` for SOC inside 0..1 from a tabulated copy (one ``numpy.interp``).

        Why: the estimator needs it for every cell every cycle. The integral is tabulated every
        0.05 % SOC; between those points the error is below 1e-5 V x unit (the curve's curvature
        over half a step), a few mWh for a 100 Ah cell.
        """
        if self._energy_grid is None:
            grid = np.linspace(0.0, 1.0, _ENERGY_POINTS)
            self._energy_grid = (grid, self.energy_v_per_unit(grid))
        out: FloatArray = _interp(soc_fraction, *self._energy_grid)
        return out

    def energy_v_per_unit(self, soc_fraction: FloatArray) -> FloatArray:
        """Integral of OCV dSOC from 0 to each SOC (V * fraction); times capacity_ah gives Wh."""
        # minimum/maximum instead of np.clip: same result, a fraction of the call overhead.
        s = np.minimum(np.maximum(soc_fraction, self.soc_points[0]), self.soc_points[-1])
        k = np.minimum(np.maximum(self.soc_points.searchsorted(s, side="right") - 1, 0), len(self._slopes) - 1)
        ds = s - self.soc_points[k]
        result: FloatArray = self._cum_points[k] + ds * (self.voltage_points[k] + 0.5 * self._slopes[k] * ds)
        return result
