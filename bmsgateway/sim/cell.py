"""The cells of the pack as one vector of equivalent circuits (OCV + R0 + one R1||C1 pair).

Why vectors: a pack of 255+ series cells must cost no more per step than a handful of numpy
operations. Every cell carries the same series current; a cell whose balancing switch (DCC bit)
is set also feeds its bleed resistor, which sits across the cell's sense terminals, so that cell's
own current is ``I - V_terminal / R_bal``.

Within a step the current is held constant, which makes the RC pair's exponential update and the
heat in R1 exact; SOC moves by the charge that passed. The losses are kept as cumulative energies
so that tests can check that energy in at the terminals = stored energy change + losses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from bmsgateway.sim.ocv import SOC_MAX_FRACTION, SOC_MIN_FRACTION, OcvCurve

__all__ = ["CellBank", "CellParameters", "StepResult"]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

_SECONDS_PER_HOUR = 3600.0
_SECONDS_PER_MONTH = 30.0 * 86400.0


@dataclass(frozen=True, slots=True)
class CellParameters:
    """Per-cell parameters, drawn once from the seeded RNG (see ``CellParameters.draw``)."""

    capacity_ah: FloatArray
    r0_ohm: FloatArray
    r1_ohm: FloatArray
    tau_s: float
    self_discharge_a: FloatArray
    initial_soc_fraction: FloatArray

    @staticmethod
    def draw(
        rng: np.random.Generator,
        count: int,
        *,
        capacity_ah: float,
        capacity_spread_pct: float,
        r0_ohm: float,
        r1_ohm: float,
        resistance_spread_pct: float,
        tau_s: float,
        self_discharge_pct_per_month: float,
        self_discharge_spread_pct: float,
        initial_soc_pct: float,
        initial_soc_spread_pct: float,
    ) -> CellParameters:
        """Uniform spreads of ± the given percentage around each nominal value."""

        def spread(pct: float) -> FloatArray:
            return 1.0 + rng.uniform(-pct, pct, count) / 100.0

        cap = capacity_ah * spread(capacity_spread_pct)
        r_spread = spread(resistance_spread_pct)
        sd_rate = self_discharge_pct_per_month / 100.0 * spread(self_discharge_spread_pct)
        # Self-discharge as a constant internal leakage: that fraction of capacity per 30 days.
        sd_a = np.maximum(sd_rate, 0.0) * cap * _SECONDS_PER_HOUR / _SECONDS_PER_MONTH
        soc = (
            np.clip(initial_soc_pct + rng.uniform(-initial_soc_spread_pct, initial_soc_spread_pct, count), 0.0, 100.0)
            / 100.0
        )
        return CellParameters(
            capacity_ah=cap,
            r0_ohm=r0_ohm * r_spread,
            r1_ohm=r1_ohm * r_spread,
            tau_s=tau_s,
            self_discharge_a=sd_a,
            initial_soc_fraction=soc,
        )


@dataclass(slots=True)
class StepResult:
    """What one step of the cells produced: heat per cell (J) and bookkeeping energies (J)."""

    heat_j: FloatArray
    bleed_j: float
    self_discharge_j: float


class CellBank:
    """State (SOC, RC voltage) and stepping of all cells."""

    def __init__(self, params: CellParameters, curve: OcvCurve, balance_resistance_ohm: float) -> None:
        self.params = params
        self.curve = curve
        self.r_bal_ohm = balance_resistance_ohm
        self.soc: FloatArray = params.initial_soc_fraction.copy()
        self.v1_v: FloatArray = np.zeros_like(self.soc)
        self._coulomb_per_fraction: FloatArray = params.capacity_ah * _SECONDS_PER_HOUR
        self._r1_safe: FloatArray = np.where(params.r1_ohm > 0, params.r1_ohm, 1.0)
        self._c1_f: FloatArray = np.where(params.r1_ohm > 0, params.tau_s / self._r1_safe, 0.0)
        self._inv_coulomb: FloatArray = 1.0 / self._coulomb_per_fraction
        self._sd_fraction_per_s: FloatArray = params.self_discharge_a * self._inv_coulomb
        self._r0_plus_r1: FloatArray = params.r0_ohm + params.r1_ohm
        self._r0_over_rbal: FloatArray = params.r0_ohm / balance_resistance_ohm
        self._has_rc = bool(np.any(params.r1_ohm > 0))
        self._coef_dt_s = -1.0
        self._coef = (0.0, 0.0, 0.0)
        self._ocv: FloatArray = curve.voltage_v(self.soc)

    @property
    def count(self) -> int:
        return int(self.soc.shape[0])

    def ocv_v(self) -> FloatArray:
        """OCV at the present SOC (kept up to date by ``step``)."""
        return self._ocv

    def terminal_v(self, current_a: float, bleed: BoolArray | None) -> FloatArray:
        """Voltage across each cell's sense terminals for pack current ``current_a`` right now.

        With the bleed resistor across the terminals: V = (OCV + V1 + I*R0) / (1 + R0/R_bal).
        """
        v = self._ocv + self.v1_v + current_a * self.params.r0_ohm
        if bleed is not None:
            v = v / (1.0 + bleed * self._r0_over_rbal)
        return v

    def stored_energy_j(self) -> float:
        """Chemical energy (above 0 % SOC) plus the energy in the RC capacitors."""
        chem = self.curve.energy_v_per_unit(self.soc) * self._coulomb_per_fraction
        cap = 0.5 * self._c1_f * self.v1_v * self.v1_v
        return float(chem.sum() + cap.sum())

    def _coefficients(self, dt_s: float) -> tuple[float, float, float]:
        """exp(-dt/tau) and the two R1-heat weights for a step of ``dt_s`` (cached)."""
        if self._coef_dt_s != dt_s:
            tau = self.params.tau_s
            e = math.exp(-dt_s / tau)
            self._coef = (e, 2.0 * tau * (1.0 - e), 0.5 * tau * (1.0 - e * e))
            self._coef_dt_s = dt_s
        return self._coef

    def step(self, dt_s: float, current_a: float, bleed: BoolArray | None) -> StepResult:
        """Advance by ``dt_s`` with pack current ``current_a`` (constant in the step).

        Heat per cell: i²·R0·dt plus the exact heat of R1 for V1(t) = a + b·exp(-t/tau) with
        a = i·R1, b = V1(0) - a, i.e. i²·R1·dt + 2·tau·(1-e)·i·b + tau/2·(1-e²)·b²/R1, plus the
        bleed resistor's V·I_bleed·dt when balancing.
        """
        p = self.params
        ocv = self._ocv
        e, k_ab, k_bb = self._coefficients(dt_s)
        bleed_j = 0.0
        if bleed is None:
            i_cell: FloatArray | float = current_a
            a = current_a * p.r1_ohm
            b = self.v1_v - a
            heat = (current_a * current_a * dt_s) * self._r0_plus_r1 + (k_ab * current_a) * b
            soc = self.soc + ((current_a * dt_s) * self._inv_coulomb - self._sd_fraction_per_s * dt_s)
        else:
            v_term = (ocv + self.v1_v + current_a * p.r0_ohm) / (1.0 + bleed * self._r0_over_rbal)
            i_bleed = bleed * (v_term / self.r_bal_ohm)
            i_cell = current_a - i_bleed
            a = i_cell * p.r1_ohm
            b = self.v1_v - a
            bleed_heat = i_bleed * v_term * dt_s
            bleed_j = float(bleed_heat.sum())
            heat = i_cell * i_cell * dt_s * self._r0_plus_r1 + k_ab * i_cell * b + bleed_heat
            soc = self.soc + ((i_cell * dt_s) * self._inv_coulomb - self._sd_fraction_per_s * dt_s)
        if self._has_rc:
            heat += (k_bb * b) * b / self._r1_safe
            self.v1_v = a + b * e
        sd_j = float(np.dot(p.self_discharge_a, ocv)) * dt_s
        np.maximum(soc, SOC_MIN_FRACTION, out=soc)
        np.minimum(soc, SOC_MAX_FRACTION, out=soc)
        self.soc = soc
        self._ocv = self.curve.voltage_v(soc)
        return StepResult(heat_j=heat, bleed_j=bleed_j, self_discharge_j=sd_j)
