"""Inverter limits every cycle: charge voltage limit (CVL), charge and discharge current limits.

CVL starts at Vbalance x cells (plus ``cvl_above_vbalance_v`` per cell: an inverter in CV at
exactly Vbalance x cells never brings *every* cell to Vbalance, the normal mode's "full"). When
the highest cell approaches Vmax it is pulled down so the top cell is not pushed over (what
dbus-serialbattery users see as overcharged top cells when a charger only looks at the pack
voltage): with ``target = Vmax - cvl_top_cell_margin_v`` the remaining
headroom of the top cell, ``(target - max_cell) x cells``, is added to the present pack voltage;
once the top cell reaches the target CVL equals the pack voltage (the charger stops pushing) and
above it CVL drops below the pack voltage. The formula is continuous, so CVL does not jump.

CCL / DCL = configured maximum x the smallest factor of the derating tables (temperature, cell
voltage near Vmax / Vmin, SOC near full / empty), and 0 when the direction is not allowed.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

__all__ = ["DeratingTable", "charge_voltage_limit"]


class DeratingTable:
    """Piecewise-linear ``factor(x)``, flat beyond the ends; NaN input gives 0 (unknown = unsafe)."""

    __slots__ = ("_fs", "_xs")

    def __init__(self, points: Sequence[tuple[float, float]]) -> None:
        self._xs = [float(x) for x, _ in points]
        self._fs = [float(f) for _, f in points]

    def __call__(self, x: float) -> float:
        xs, fs = self._xs, self._fs
        if x != x:
            return 0.0
        if x <= xs[0]:
            return fs[0]
        if x >= xs[-1]:
            return fs[-1]
        i = bisect.bisect_right(xs, x)
        x0, x1, f0, f1 = xs[i - 1], xs[i], fs[i - 1], fs[i]
        return f0 + (f1 - f0) * (x - x0) / (x1 - x0)


def charge_voltage_limit(
    cells: int, vbalance_v: float, vmax_v: float, margin_v: float, pack_v: float, max_cell_v: float,
    above_vbalance_v: float = 0.0,
) -> float:
    """CVL in volts (see the module docstring). Never above (Vbalance + above) x cells, never below 0."""
    nominal = cells * (vbalance_v + above_vbalance_v)
    if pack_v != pack_v or max_cell_v != max_cell_v:
        return nominal
    target = vmax_v - margin_v
    cvl = pack_v + (target - max_cell_v) * cells
    return max(0.0, min(nominal, cvl))
