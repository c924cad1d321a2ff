"""The cells of the pack as one vector of equivalent circuits (OCV + R0 + one R1||C1 pair).

Why vectors: a pack of 255+ series cells must cost no more per step than a handful of numpy
operations. Every cell carries the same series current; a cell whose balancing switch (DCC bit)
is set also feeds its bleed resistor, which sits across the cell's sense terminals, so that cell's
own current is ``I - V_terminal / R_bal``.

Why blocks: the simulator is asked for readings every 100 ms cycle, but the cell vectors change
too little in 100 ms to matter. So every tick only adds scalars (charge ``∫I dt``, ``∫I² dt``,
time) to an open block (``accumulate``), and the vectors are brought up to date (``settle``) once
the block spans ``BLOCK_S`` or when someone needs exact values (truth, DCC change). Charge and
I²R0 heat stay exact for any current shape inside a block; the RC pair is updated with the exact
exponential for the block's mean current, so it lags the true RC state by at most one block
(well under a millivolt for tau = 60 s). With a bleed resistor across a cell's sense terminals the
cell's own current is ``I - i_bleed`` with ``i_bleed = g + h*I`` (g = (OCV+V1)/(R_bal+R0),
h = R0/(R_bal+R0)), which keeps the bleed charge and heat exact as well. The losses are kept as
cumulative energies so that tests can check that energy in at the terminals = stored energy
change + losses.
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
    """What one settled block produced: heat per cell (J) and bookkeeping energies (J)."""

    dt_s: float
    heat_j: FloatArray
    bleed_j: float
    self_discharge_j: float
    terminal_j: float


class CellBank:
    """State (SOC, RC voltage) of all cells, integrated in blocks of at most ``BLOCK_S``."""

    BLOCK_S = 1.0

    def __init__(self, params: CellParameters, curve: OcvCurve, balance_resistance_ohm: float) -> None:
        self.params = params
        self.curve = curve
        self.r_bal_ohm = balance_resistance_ohm
        self.soc: FloatArray = params.initial_soc_fraction.copy()
        self.v1_v: FloatArray = np.zeros_like(self.soc)
        self._coulomb_per_fraction: FloatArray = params.capacity_ah * _SECONDS_PER_HOUR
        self._inv_coulomb: FloatArray = 1.0 / self._coulomb_per_fraction
        self._r1_safe: FloatArray = np.where(params.r1_ohm > 0, params.r1_ohm, 1.0)
        self._c1_f: FloatArray = np.where(params.r1_ohm > 0, params.tau_s / self._r1_safe, 0.0)
        self._sd_fraction_per_s: FloatArray = params.self_discharge_a * self._inv_coulomb
        self._has_rc = bool(np.any(params.r1_ohm > 0))
        self._r0_total_ohm = float(params.r0_ohm.sum())
        self._bleed_g_factor: FloatArray = 1.0 / (balance_resistance_ohm + params.r0_ohm)
        self._bleed_h: FloatArray = params.r0_ohm * self._bleed_g_factor
        self._coef_dt_s = -1.0
        self._coef = (0.0, 0.0, 0.0)
        self.bleed: BoolArray | None = None
        # Open block: time, charge (C = A*s) and integral of I² (A²*s) since the last settle.
        self.block_dt_s = 0.0
        self._block_q = 0.0
        self._block_q2 = 0.0
        self._refresh()

    def _refresh(self) -> None:
        """Derived vectors after the state changed."""
        self._ocv: FloatArray = self.curve.voltage_v(self.soc)
        self.internal_v: FloatArray = self._ocv + self.v1_v
        self.internal_sum_v = float(np.add.reduce(self.internal_v))

    @property
    def count(self) -> int:
        return int(self.soc.shape[0])

    def ocv_v(self) -> FloatArray:
        """OCV at the SOC of the last settle."""
        return self._ocv

    def set_soc(self, soc_fraction: FloatArray) -> None:
        """Overwrite the SOC of every cell (tests, scenarios); settles the open block first."""
        self.settle()
        self.soc = np.clip(np.asarray(soc_fraction, dtype=np.float64), SOC_MIN_FRACTION, SOC_MAX_FRACTION)
        self._refresh()

    def set_bleed(self, bleed: BoolArray | None) -> None:
        """Change which bleed resistors are on (settles the open block under the old ones first)."""
        self.settle()
        self.bleed = None if bleed is None or not bleed.any() else bleed.copy()

    def terminal_v(self, current_a: float) -> FloatArray:
        """Voltage across each cell's sense terminals for pack current ``current_a`` right now.

        With the bleed resistor across the terminals: V = (OCV + V1 + I*R0) * R_bal / (R_bal + R0).
        """
        v = self.internal_v + current_a * self.params.r0_ohm
        if self.bleed is not None:
            v = v * np.where(self.bleed, self.r_bal_ohm * self._bleed_g_factor, 1.0)
        return v

    def pack_terminal_v(self, current_a: float) -> float:
        """Sum of the terminal voltages (ignoring the tiny bleed correction)."""
        return self.internal_sum_v + current_a * self._r0_total_ohm

    def stored_energy_j(self) -> float:
        """Chemical energy (above 0 % SOC) plus the energy in the RC capacitors (settled state)."""
        chem = self.curve.energy_v_per_unit(self.soc) * self._coulomb_per_fraction
        cap = 0.5 * self._c1_f * self.v1_v * self.v1_v
        return float(chem.sum() + cap.sum())

    def accumulate(self, dt_s: float, current_a: float) -> bool:
        """Add ``dt_s`` at constant ``current_a`` to the open block; True when it should settle.

        A caller that adds a long step should settle the open block first, so that the long
        step's constant current is integrated exactly on its own.
        """
        self.block_dt_s += dt_s
        self._block_q += current_a * dt_s
        self._block_q2 += current_a * current_a * dt_s
        return self.block_dt_s >= self.BLOCK_S

    def _coefficients(self, dt_s: float) -> tuple[float, float, float]:
        """exp(-dt/tau) and the two R1-heat weights for a block of ``dt_s`` (cached)."""
        if self._coef_dt_s != dt_s:
            tau = self.params.tau_s
            e = math.exp(-dt_s / tau)
            self._coef = (e, 2.0 * tau * (1.0 - e), 0.5 * tau * (1.0 - e * e))
            self._coef_dt_s = dt_s
        return self._coef

    def settle(self) -> StepResult | None:
        """Apply the open block to the cell vectors; None if the block is empty.

        Heat per cell: R0·∫i² plus the exact heat of R1 for V1(t) = a + b·exp(-t/tau) with
        a = ī·R1, b = V1(0) - a: ī²·R1·dt + 2·tau·(1-e)·ī·b + tau/2·(1-e²)·b²/R1, plus the bleed
        resistor's R_bal·∫i_bleed² when balancing.
        """
        dt = self.block_dt_s
        if dt <= 0.0:
            return None
        q, q2 = self._block_q, self._block_q2
        self.block_dt_s = self._block_q = self._block_q2 = 0.0
        p = self.params
        e, k_ab, k_bb = self._coefficients(dt)
        start_sum_v = self.internal_sum_v
        bleed_j = 0.0
        if self.bleed is None:
            i_mean: FloatArray | float = q / dt
            heat = p.r0_ohm * q2
            cell_q: FloatArray | float = q
        else:
            g = self.bleed * (self.internal_v * self._bleed_g_factor)
            h = self.bleed * self._bleed_h
            bleed_q = g * dt + h * q
            bleed_q2 = g * g * dt + 2.0 * g * h * q + h * h * q2
            cell_q = q - bleed_q
            i_mean = cell_q / dt
            heat_bleed = self.r_bal_ohm * bleed_q2
            bleed_j = float(heat_bleed.sum())
            heat = p.r0_ohm * (q2 - 2.0 * (g * q + h * q2) + bleed_q2) + heat_bleed
        if self._has_rc:
            a = i_mean * p.r1_ohm
            b = self.v1_v - a
            heat = heat + (a * i_mean) * dt + (k_ab * i_mean) * b + (k_bb * b) * b / self._r1_safe
            self.v1_v = a + b * e
        sd_j = float(np.dot(p.self_discharge_a, self._ocv)) * dt
        soc = self.soc + (cell_q * self._inv_coulomb - self._sd_fraction_per_s * dt)
        np.maximum(soc, SOC_MIN_FRACTION, out=soc)
        np.minimum(soc, SOC_MAX_FRACTION, out=soc)
        self.soc = soc
        self._refresh()
        # Energy in at the pack terminals over the block (trapezoid on the slow internal voltage).
        terminal_j = 0.5 * (start_sum_v + self.internal_sum_v) * q + self._r0_total_ohm * q2
        return StepResult(dt_s=dt, heat_j=heat, bleed_j=bleed_j, self_discharge_j=sd_j, terminal_j=terminal_j)
