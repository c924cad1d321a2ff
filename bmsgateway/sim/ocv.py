"""Open-circuit voltage vs SOC, and the chemical energy it implies, for whole cell vectors.

Why a separate curve object: the cell model needs OCV(SOC) every step and the energy truth needs
its integral (stored energy = capacity * integral of OCV over SOC). Both come from one
piecewise-linear table, so the energy bookkeeping is exact for the voltages the cells show.

Beyond the table the curve is extended with a slope three times as steep as its end segments, so
a cell that is overcharged (or over-discharged) by a protection failure really does climb above
Vmax (fall below Vmin) instead of sticking at the table's end. SOC is confined to
``SOC_MIN_FRACTION .. SOC_MAX_FRACTION``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

__all__ = ["SOC_MAX_FRACTION", "SOC_MIN_FRACTION", "OcvCurve"]

FloatArray = NDArray[np.float64]

#: How far beyond empty / full the simulated SOC may go (fractions of capacity).
SOC_MIN_FRACTION = -0.10
SOC_MAX_FRACTION = 1.10
_EXTRAPOLATION_STEEPNESS = 3.0


class OcvCurve:
    """Piecewise-linear OCV over SOC as a fraction (0..1), extended beyond empty and full."""

    def __init__(self, table: Sequence[tuple[float, float]]) -> None:
        soc = np.array([p[0] for p in table], dtype=np.float64) / 100.0
        volt = np.array([p[1] for p in table], dtype=np.float64)
        if len(soc) < 2 or np.any(np.diff(soc) <= 0):
            raise ValueError(f"OCV table SOC points must be strictly increasing, got {soc * 100}")
        low_slope = (volt[1] - volt[0]) / (soc[1] - soc[0]) * _EXTRAPOLATION_STEEPNESS
        high_slope = (volt[-1] - volt[-2]) / (soc[-1] - soc[-2]) * _EXTRAPOLATION_STEEPNESS
        s_lo = min(SOC_MIN_FRACTION, soc[0] - 1e-3)
        s_hi = max(SOC_MAX_FRACTION, soc[-1] + 1e-3)
        v_lo = max(0.0, volt[0] - low_slope * (soc[0] - s_lo))
        v_hi = volt[-1] + high_slope * (s_hi - soc[-1])
        self.soc_points: FloatArray = np.concatenate(([s_lo], soc, [s_hi]))
        self.voltage_points: FloatArray = np.concatenate(([v_lo], volt, [v_hi]))
        self._slopes: FloatArray = np.diff(self.voltage_points) / np.diff(self.soc_points)
        seg_energy = 0.5 * (self.voltage_points[1:] + self.voltage_points[:-1]) * np.diff(self.soc_points)
        # Cumulative integral of OCV dSOC from SOC = 0 (not from the extended start) at each point.
        cum = np.concatenate(([0.0], np.cumsum(seg_energy)))
        self._cum_points: FloatArray = cum - self._integral_from_start(0.0, cum)

    def _integral_from_start(self, soc: float, cum: FloatArray) -> float:
        k = int(np.clip(np.searchsorted(self.soc_points, soc, side="right") - 1, 0, len(self._slopes) - 1))
        ds = soc - self.soc_points[k]
        return float(cum[k] + ds * (self.voltage_points[k] + 0.5 * self._slopes[k] * ds))

    def voltage_v(self, soc_fraction: FloatArray) -> FloatArray:
        """OCV of each cell at its SOC (fraction); SOC outside the extended range is clamped."""
        return np.interp(soc_fraction, self.soc_points, self.voltage_points)

    def energy_v_per_unit(self, soc_fraction: FloatArray) -> FloatArray:
        """Integral of OCV dSOC from 0 to each SOC (V * fraction); times capacity_ah gives Wh."""
        s = np.clip(soc_fraction, self.soc_points[0], self.soc_points[-1])
        k = np.clip(np.searchsorted(self.soc_points, s, side="right") - 1, 0, len(self._slopes) - 1)
        ds = s - self.soc_points[k]
        result: FloatArray = self._cum_points[k] + ds * (self.voltage_points[k] + 0.5 * self._slopes[k] * ds)
        return result
