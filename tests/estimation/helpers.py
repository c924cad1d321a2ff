"""Synthetic measurements for estimator tests: cells that follow the filter's own model exactly."""

from __future__ import annotations

import math

import numpy as np

from bmsgateway.config import Config
from bmsgateway.state import Measurement


def measurement(
    time_s: float, volts: list[float] | np.ndarray, current_a: float, current_age_s: float = 0.0
) -> Measurement:
    v = tuple(float(x) for x in volts)
    return Measurement(
        time_s=time_s,
        cell_voltages_v=v,
        cell_age_s=tuple(0.0 if x == x else math.inf for x in v),
        temperatures_c=(),
        temperature_age_s=(),
        temperature_board=(),
        current_a=current_a,
        current_age_s=current_age_s,
        pack_voltage_measured_v=math.fsum(v) if all(x == x for x in v) else math.nan,
        boards=(),
    )


class ModelCells:
    """Ideal 1-RC cells with the config's OCV table (true state for the tests)."""

    def __init__(self, config: Config, soc_pct: float | list[float], capacity_ah: float | None = None) -> None:
        lim = config.pack.limits
        n = config.pack.cell_count
        self.table_soc = np.array([s for s, _ in lim.ocv_table]) / 100.0
        self.table_v = np.array([v for _, v in lim.ocv_table])
        self.soc = np.full(n, 0.0) + np.array(soc_pct, dtype=float) / 100.0
        self.v_rc = np.zeros(n)
        self.capacity_ah = capacity_ah if capacity_ah is not None else config.pack.capacity_ah
        e = config.estimation
        self.r0, self.r1, self.tau = e.r0_ohm, e.r1_ohm, e.tau_s

    def step(self, dt_s: float, current_a: float) -> None:
        a = math.exp(-dt_s / self.tau)
        self.v_rc = a * self.v_rc + self.r1 * (1 - a) * current_a
        self.soc = np.clip(self.soc + current_a * dt_s / 3600.0 / self.capacity_ah, 0.0, 1.0)

    def voltages(self, current_a: float) -> np.ndarray:
        ocv = np.interp(self.soc, self.table_soc, self.table_v)
        out: np.ndarray = ocv + self.v_rc + self.r0 * current_a
        return out
