"""The chemistry's open-circuit voltage curve, evaluated for many cells at once.

Why a class: the filter needs the voltage *and* its slope at every cell's SOC each filter step,
and the inverse (SOC from a rested voltage) at start; doing it with ``numpy.interp`` over arrays
keeps 255 cells far below a millisecond.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["OcvCurve"]

FloatArray = NDArray[np.float64]

#: Half width of the central difference used for the slope (SOC fraction). Smooths the kinks of
#: the piecewise-linear table so the filter gain does not jump at each table point.
_SLOPE_HALF_WIDTH = 0.01


class OcvCurve:
    """Piecewise-linear OCV(SOC) from a table of (soc_pct, voltage_v); SOC here is a fraction 0..1."""

    def __init__(self, table: tuple[tuple[float, float], ...]) -> None:
        pts = sorted(table)
        soc = np.array([s / 100.0 for s, _ in pts], dtype=np.float64)
        v = np.array([v for _, v in pts], dtype=np.float64)
        self._soc_table = soc
        self._v_table = v
        # Extend both ends linearly by one unit of SOC with the end segments' slopes, so that a
        # single ``np.interp`` covers the small overshoots the filter may make beyond 0..1.
        slope_lo = (v[1] - v[0]) / (soc[1] - soc[0])
        slope_hi = (v[-1] - v[-2]) / (soc[-1] - soc[-2])
        self._soc = np.concatenate(([soc[0] - 1.0], soc, [soc[-1] + 1.0]))
        self._v = np.concatenate(([v[0] - slope_lo], v, [v[-1] + slope_hi]))

    def voltage(self, soc: FloatArray) -> FloatArray:
        """OCV at each SOC fraction, extended linearly beyond the table ends."""
        out: FloatArray = np.interp(soc, self._soc, self._v)
        return out

    def slope(self, soc: FloatArray) -> FloatArray:
        """dOCV/dSOC in volts per unit SOC fraction (central difference over ±1 % SOC)."""
        h = _SLOPE_HALF_WIDTH
        return (self.voltage(soc + h) - self.voltage(soc - h)) / (2.0 * h)

    def soc(self, voltage_v: FloatArray) -> FloatArray:
        """Inverse: SOC fraction for each rested cell voltage (0..1, held at the table ends)."""
        out: FloatArray = np.interp(voltage_v, self._v_table, self._soc_table)
        return out
