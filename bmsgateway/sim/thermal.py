"""Lumped thermal model: one heat capacity per cell, losing heat to ambient through a resistance.

Why lumped per cell: balancing a single cell must visibly warm that cell (and the thermistors of
its board), while a pack-wide current warms all cells alike. Heat from a step is spread evenly over
the step, so the update T -> T_inf + (T - T_inf) * exp(-dt / (R*C)) is exact for it.
Heater and cooler outputs add or remove a pack-wide power shared evenly by all cells.

Why heat is batched (``add``): with a time constant of R*C = 40 min, updating temperatures every
100 ms cycle buys nothing; heat is summed and applied once ``FLUSH_INTERVAL_S`` has gathered
(or when someone asks for exact temperatures via ``flush``). ``version`` counts the updates so
that readers can cache what they derive from the temperatures.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

__all__ = ["ThermalModel"]

FloatArray = NDArray[np.float64]


class ThermalModel:
    """Cell temperatures (°C) and their update from per-cell heat."""

    FLUSH_INTERVAL_S = 1.0

    def __init__(
        self,
        count: int,
        ambient_c: float,
        capacity_j_per_k: float,
        resistance_k_per_w: float,
        heater_power_w: float,
        cooler_power_w: float,
    ) -> None:
        self.ambient_c = ambient_c
        self.temperature_c: FloatArray = np.full(count, ambient_c, dtype=np.float64)
        self._c_j_per_k = capacity_j_per_k
        self._r_k_per_w = resistance_k_per_w
        self._tau_s = capacity_j_per_k * resistance_k_per_w
        self._heater_w_per_cell = heater_power_w / max(count, 1)
        self._cooler_w_per_cell = cooler_power_w / max(count, 1)
        self._decay_cache: tuple[float, float] = (-1.0, 0.0)
        self._acc_heat_j: FloatArray = np.zeros(count, dtype=np.float64)
        self._acc_dt_s = 0.0
        self._acc_outputs = (False, False)
        self.version = 0

    def add(self, dt_s: float, heat_j: FloatArray, heater_on: bool, cooler_on: bool) -> None:
        """Gather ``heat_j`` (J per cell) produced over ``dt_s``; applied in batches."""
        if (heater_on, cooler_on) != self._acc_outputs:
            self.flush()
            self._acc_outputs = (heater_on, cooler_on)
        self._acc_heat_j += heat_j
        self._acc_dt_s += dt_s
        if self._acc_dt_s >= self.FLUSH_INTERVAL_S:
            self.flush()

    def flush(self) -> None:
        """Apply the gathered heat now."""
        if self._acc_dt_s <= 0:
            return
        self.step(self._acc_dt_s, self._acc_heat_j, *self._acc_outputs)
        self._acc_heat_j[:] = 0.0
        self._acc_dt_s = 0.0
        self.version += 1

    def step(self, dt_s: float, heat_j: FloatArray | float, heater_on: bool, cooler_on: bool) -> None:
        """Advance by ``dt_s`` with ``heat_j`` (J per cell) generated during the step."""
        if dt_s <= 0:
            return
        cached_dt, e = self._decay_cache
        if cached_dt != dt_s:
            e = math.exp(-dt_s / self._tau_s)
            self._decay_cache = (dt_s, e)
        extra_w = (self._heater_w_per_cell if heater_on else 0.0) - (self._cooler_w_per_cell if cooler_on else 0.0)
        t_inf = self.ambient_c + (heat_j / dt_s + extra_w) * self._r_k_per_w
        self.temperature_c = t_inf + (self.temperature_c - t_inf) * e
