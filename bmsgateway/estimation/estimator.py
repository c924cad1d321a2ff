"""The estimation stage: one ``update`` per cycle turns a Measurement into an EstimateStatus.

What runs when:

* every cycle: coulomb counting of each cell (measured current, dead band, balancing current,
  minus the filter's offset estimate), the energy counters, resistance steps, full/empty checks;
* every ``estimation.filter_interval_s`` (1 s by default): one Kalman step over the charge counted
  since the last one, corrected by the cell voltages (``soc_filter``). The reported SOC between
  two filter steps is the filter state plus the charge counted since, so it moves every cycle.

Stale inputs: a cell voltage that is NaN is not used (that cell is only coulomb counted). A stale
current (NaN or older than ``hardware.current_sensor.max_age_s``) holds everything: without the
current neither the charge nor the IR drop in the voltage is known. So does a current at a
sensor's rail (``Measurement.current_at_rail``): it is a bound, not a measurement.

Recalibration (kept from the 123\\SmartBMS, applied as a strong measurement of the filter so that
the offset estimate learns from it too):

* full: normal mode, ``state.is_full`` -- every cell, read this cycle, at or above Vbalance, the
  very condition on which the charge relay stops charging (same measurement, same cycle: the
  estimate runs just before protection), so a pack that stopped charging because it is full
  reads 100 % (the 123 rule). Deliberately no current condition and no IR correction: with
  either, a charger that is not regulated at Vbalance x cells has the relay stop before "full"
  and SOC never reaches 100 % (the issue 17 item 1 defect). Stopped at 20-40 A the cells may be
  93-97 %, so this full is a weak measurement: the filter is told "100 % +- what the voltage
  less the IR and RC drop leaves open", it is no capacity measuring point, and only the fullest
  cell (and any cell its voltage shows full) is set to 100 %, which is enough for the pack to
  read 100 %. The **rested full** -- every cell (critical mode: the average cell), less its IR
  drop (R0 x current), at or above Vbalance for ``full_hold_s`` -- is the strong one (and the
  only one in critical mode, where the relay stops only at Vmax): the cells at or above
  Vbalance are set to 100 %. A cell under
  a sense fault (excluded below) or a stale current holds the recalibration, but those faults
  block charging themselves.
* empty: a cell below Vmin for ``empty_hold_s`` while the previous cycle did not allow discharge
  is set to 0 %.

Counters integrate the measured current (zero offset applied by acquisition, dead band here),
so they do not depend on the filter; the capacity learner uses the offset-corrected current.

Day boundary of "today" counters: local calendar day of ``clock.wall_time()`` when a clock is
given; without one (replay), whole days of ``Measurement.time_s`` counted from 0 (UTC days when
time_s is Unix time).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import structlog
from numpy.typing import NDArray

from bmsgateway.clock import Clock
from bmsgateway.config.model import Config
from bmsgateway.config.ocv import OcvCurve
from bmsgateway.estimation.capacity import CapacityLearner
from bmsgateway.estimation.counters import Counters
from bmsgateway.estimation.faulted import untrusted_cells
from bmsgateway.estimation.pack_soc import pack_figures
from bmsgateway.estimation.resistance import ResistanceLearner
from bmsgateway.estimation.soc_filter import CellSocFilter, FilterTuning
from bmsgateway.persist.state import SavedState
from bmsgateway.state import EstimateStatus, Measurement, ProtectionStatus, is_full

__all__ = ["Estimator"]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

#: A gap between two measurements longer than this is a hole in the data, not a step to integrate.
_MAX_STEP_S = 60.0

_log = structlog.get_logger(__name__)


def _scaled(value: float | None, per_ah: float, capacity_ah: float) -> float:
    """A configured current figure, or its default in proportion to the cell capacity.

    Why: the sensor of a pack is sized for its cells, so "0.3 A of noise" means a lot for 2 Ah
    cells and little for 300 Ah ones; defaults in proportion to the capacity fit both.
    """
    return value if value is not None else per_ah * capacity_ah


def _tuning(config: Config) -> FilterTuning:
    e = config.estimation
    cap = config.pack.capacity_ah
    return FilterTuning(
        r1_ohm=e.r1_ohm,
        tau_s=e.tau_s,
        coulomb_efficiency=e.coulomb_efficiency,
        voltage_noise_v=e.voltage_noise_v,
        current_noise_a=_scaled(e.current_noise_a, 0.003, cap),
        current_gain_noise=e.current_gain_noise_pct / 100.0,
        bias_drift_a_per_sqrt_h=_scaled(e.bias_drift_a_per_sqrt_h, 0.0005, cap),
        bias_limit_a=_scaled(e.bias_limit_a, 0.02, cap),
        rated_ah=cap,
        model_error_v_per_c=e.model_error_v_per_c,
        relaxation_tau_s=e.relaxation_tau_s,
        ocv_error_v=e.ocv_error_v,
    )


def _bias_std_a(config: Config) -> float:
    return _scaled(config.estimation.initial_bias_std_a, 0.01, config.pack.capacity_ah)


def _fit(values: list[float], n: int) -> FloatArray | None:
    """The saved per-cell list as an array if it has the right length, else None."""
    return np.array(values, dtype=np.float64) if len(values) == n else None


@dataclass(frozen=True, slots=True)
class _SlowFigures:
    """Per-cell figures that change only when the filter or the capacity learner steps."""

    std: FloatArray
    std_pct: tuple[float, ...]
    capacity_ah: FloatArray
    capacity_std_ah: FloatArray
    learnt: BoolArray
    inv_as: FloatArray  #: SOC fraction per ampere-second of each cell
    shown_ah: tuple[float, ...]  #: capacity as published (rated until learnt)
    r0_ohm: tuple[float, ...]
    r0_max_ohm: float
    learnt_flags: tuple[bool, ...]
    all_certain: bool  #: every cell's sigma below ``calibrated_std_pct``


class Estimator:
    """SOC, SOH, capacity, resistance and counters of the pack (see the module docstring)."""

    def __init__(
        self,
        config: Config,
        saved: SavedState | None,
        clock: Clock | None = None,
        cell_count: int | None = None,
    ) -> None:
        self._clock = clock
        self._n = config.pack.cell_count if cell_count is None else cell_count
        self._config = config
        self._configure(config)
        self._restore(saved or SavedState())

    # -- set-up -------------------------------------------------------------------------------

    def _configure(self, config: Config) -> None:
        self._config = config
        lim = config.pack.limits
        self._ocv = OcvCurve(lim.ocv_table)
        self._vmin_v = lim.vmin_v
        self._vbalance_v = lim.vbalance_v
        self._nominal_v = lim.nominal_v
        self._rated_ah = config.pack.capacity_ah
        self._critical = config.protection.relays.mode == "critical"
        self._restart_soc_pct = config.protection.relays.charge_restart_soc_pct
        self._dead_band_a = config.hardware.current_sensor.dead_band_used_a()
        self._max_current_age_s = config.hardware.current_sensor.max_age_s
        self._balance_r_ohm = config.protection.balancing.resistor_ohm
        self._est = config.estimation

    def _restore(self, saved: SavedState) -> None:
        n, e = self._n, self._config.estimation
        soc = _fit(saved.cell_soc_pct, n)
        std = _fit(saved.cell_soc_std_pct, n)
        if soc is None:
            if saved.cell_soc_pct:
                _log.warning("saved_soc_ignored", reason="cell count changed", saved=len(saved.cell_soc_pct), cells=n)
            soc = np.full(n, e.initial_soc_pct)
            std = np.full(n, e.initial_soc_std_pct)
        elif std is None:
            std = np.full(n, 10.0)
        cap = _fit(saved.cell_capacity_ah, n)
        cap_std = _fit(saved.cell_capacity_std_ah, n)
        prior_std = np.full(n, e.capacity_prior_std_pct / 100.0 * self._rated_ah)
        if cap is None:
            cap = np.full(n, self._rated_ah)
        if cap_std is None:  # a capacity saved without its uncertainty was never really learnt
            cap, cap_std = np.full(n, self._rated_ah), prior_std
        r0 = _fit(saved.cell_resistance_ohm, n)
        if r0 is None:
            r0 = np.full(n, e.r0_ohm)
        self._filter = CellSocFilter(
            ocv=self._ocv,
            tuning=_tuning(self._config),
            soc=soc / 100.0,
            soc_std=std / 100.0,
            bias_a=np.full(n, saved.current_bias_a),
            bias_std_a=_bias_std_a(self._config),
        )
        self._capacity = CapacityLearner(
            cap, cap_std, self._rated_ah, e.capacity_min_delta_soc_pct / 100.0, e.capacity_learn_rate,
            e.capacity_learnt_std_pct / 100.0,
        )
        # Capacity anchors are not restored: their time base (the monotonic clock) restarts.
        self._resistance = ResistanceLearner(r0, e.resistance_step_a, e.resistance_forget)
        self._counters = Counters.from_dict(saved.counters)
        self._recalibrated = saved.soc_calibrated and len(saved.cell_soc_pct) == n
        self._last_time_s: float | None = None
        self._acc_t_s = 0.0
        # Measured charge since the last filter step (see ``_counted_as``): the common current's
        # charge, the time spent in the dead band and, while cells balance, their bleed charge.
        self._acc_q_common_as = 0.0
        self._acc_dead_s = 0.0
        self._acc_q_bal_as = np.zeros(n)
        self._acc_bal = False
        self._full_since_s: float | None = None
        self._full_latched = False  #: the relay's full was applied (normal mode)
        self._full_rested_latched = False  #: the rested full was applied
        self._empty_since_s = np.full(n, np.nan)
        self._empty_latched = np.zeros(n, dtype=bool)
        self._empty_pending = False  #: an empty timer runs or a cell is latched empty
        self._last_pack_v = math.nan
        self._last = EstimateStatus()
        self._day_minute = -1
        self._day_text = ""
        self._learnt: _SlowFigures | None = None  # cached until the next filter step
        self._excluded = np.zeros(n, dtype=bool)
        self._any_excluded = False
        self._excluded_list: tuple[int, ...] = ()
        self._included: BoolArray | None = None
        self._excluded_key: object = None

    def apply_config(self, config: Config) -> None:
        """Take a new config; learnt values stay unless the cell count changed."""
        if config.pack.cell_count != self._n and self._n == self._config.pack.cell_count:
            _log.warning("estimator_reset", reason="cell count changed", cells=config.pack.cell_count)
            self._n = config.pack.cell_count
            self._configure(config)
            self._restore(SavedState(counters=self._counters.to_dict()))
            return
        self._configure(config)
        self._filter.ocv = self._ocv
        self._filter.tuning = _tuning(config)
        e = config.estimation
        self._capacity.rated_ah = self._rated_ah
        self._capacity.min_delta_soc = e.capacity_min_delta_soc_pct / 100.0
        self._capacity.learn_rate = e.capacity_learn_rate
        self._capacity.learnt_std = e.capacity_learnt_std_pct / 100.0
        self._resistance.step_a = e.resistance_step_a
        self._resistance.forget = e.resistance_forget

    def reset_counters(self) -> None:
        """Clear charge/energy in/out, balancing energy and today's figures (lifetime stays)."""
        self._counters.reset()

    def reset_current_bias(self) -> None:
        """A new zero calibration (owned by acquisition): the learnt residual offset no longer applies."""
        self._flush()  # the charge counted so far was counted with the old offset
        self._filter.reset_bias(0.0, _bias_std_a(self._config))
        self._learnt = None

    @property
    def current_bias_a(self) -> float:
        """The filter's estimate of the residual current sensor offset (mean over cells)."""
        return float(np.mean(self._filter.bias_a)) if self._n else 0.0

    @property
    def last(self) -> EstimateStatus:
        return self._last

    # -- the cycle ------------------------------------------------------------------------------

    def _day(self, time_s: float) -> str:
        if self._clock is None:
            return f"day {math.floor(time_s / 86400.0)}"
        minute = math.floor(self._clock.wall_time() / 60.0)
        if minute != self._day_minute:  # local time zones change days on whole minutes
            self._day_minute = minute
            self._day_text = time.strftime("%Y-%m-%d", time.localtime(minute * 60.0))
        return self._day_text

    def _cells(self, values: tuple[float, ...]) -> FloatArray:
        if len(values) == self._n:
            return np.array(values, dtype=np.float64)
        v = np.full(self._n, np.nan)
        k = min(self._n, len(values))
        v[:k] = values[:k]
        return v

    def _balancing(self, prev: ProtectionStatus | None) -> BoolArray:
        b = np.zeros(self._n, dtype=bool)
        if prev is not None and prev.balancing:
            k = min(self._n, len(prev.balancing))
            b[:k] = prev.balancing[:k]
        return b

    def update(self, m: Measurement, prev: ProtectionStatus | None) -> EstimateStatus:
        """One cycle: count, maybe filter, check full/empty, learn; returns this cycle's estimate.

        Per-cycle cost matters (255 cells every 100 ms): between filter steps only scalars are
        accumulated (the measured current's charge, the time in the dead band) plus, while
        cells balance, their bleed charge; the per-cell arrays are built at the filter step.
        """
        t = m.time_s
        dt = 0.0 if self._last_time_s is None else t - self._last_time_s
        self._last_time_s = t

        v = self._cells(m.cell_voltages_v)
        self._update_excluded(prev)
        # A cell under a sense, open-wire or plausibility fault: its reading is not used at all
        # (coulomb counting only), not for the filter and not for full / empty.
        v_est = np.where(self._excluded, np.nan, v) if self._any_excluded else v
        total_v = float(v.sum())
        if math.isfinite(total_v):  # every cell fresh (a NaN makes the sum NaN)
            self._last_pack_v = total_v
        elif math.isfinite(m.pack_voltage_measured_v):
            self._last_pack_v = m.pack_voltage_measured_v
        step_ok = 0.0 < dt <= _MAX_STEP_S
        bal_i: FloatArray | None = None
        bal_w = 0.0
        if prev is not None and prev.balancing and any(prev.balancing):
            cell_v_for_bal = np.where(np.isfinite(v), v, self._nominal_v)
            bal_i = np.where(self._balancing(prev), cell_v_for_bal / self._balance_r_ohm, 0.0)
            bal_w = float(np.sum(bal_i * cell_v_for_bal)) if step_ok else 0.0

        # A reading at a sensor's rail is a bound, not a current: counted, a sensor stuck there would
        # run the SOC and the counters down at the full range for as long as it stays stuck.
        current_fresh = (math.isfinite(m.current_a) and m.current_age_s <= self._max_current_age_s
                         and not m.current_at_rail)
        if current_fresh:
            i_meas = m.current_a
            # A reading zeroed by the dead band means "no current": then no offset applies either
            # (the cells are counted with the filter's offset, which the filter takes off again).
            in_dead_band = abs(i_meas) < self._dead_band_a
            if step_ok:
                if in_dead_band:
                    self._acc_dead_s += dt
                else:
                    self._acc_q_common_as += i_meas * dt
                if bal_i is not None:
                    self._acc_q_bal_as += bal_i * dt
                    self._acc_bal = True
                self._acc_t_s += dt
                # Counters use the measured current as the sensor reports it (like the 123\\SmartBMS
                # dashboard), not the filter's corrected one: they must not move with the filter.
                i_pack = 0.0 if in_dead_band else i_meas
                self._counters.add(i_pack, self._last_pack_v, dt, bal_w, self._day(t))
                self._counters.add_sides(m.charger_current_a, m.consumer_current_a, self._last_pack_v, dt)
            self._resistance.observe(t, v_est, i_meas)
            if self._acc_t_s >= self._est.filter_interval_s:
                self._flush()
                f = self._filter
                # the current through each cell at the moment of the reading
                i_cells = f.bias_a.copy() if in_dead_band else np.full(self._n, i_meas)
                if bal_i is not None:
                    i_cells -= bal_i
                f.update_voltage(v_est, i_cells, self._resistance.r0_ohm)
                self._learn_capacity(t, np.zeros(self._n, dtype=bool))
                self._learnt = None
            self._check_full(t, v_est, i_meas)
        elif step_ok:
            self._counters.add(0.0, self._last_pack_v, dt, bal_w, self._day(t))
        self._check_empty(t, v_est, prev)
        self._last = self._status()
        return self._last

    def _update_excluded(self, prev: ProtectionStatus | None) -> None:
        """Cells whose readings are not trusted now (see ``faulted``); cheap when nothing changed."""
        key = prev.active if prev is not None else None
        if key is self._excluded_key:
            return
        self._excluded_key = key
        # No log line of its own: the fault's event says why, and the state lists the cells.
        self._excluded = untrusted_cells(prev, self._n)
        self._any_excluded = bool(self._excluded.any())
        self._excluded_list = tuple(int(i) for i in np.flatnonzero(self._excluded))
        self._included = ~self._excluded if self._any_excluded else None

    def _counted_as(self) -> FloatArray:
        """Measured charge (A s) through each cell since the last filter step.

        In the dead band each cell counts the filter's offset estimate (so the filter sees no
        current); the offset only changes at filter steps, which flush first, so multiplying the
        dead-band time by today's estimate is exact.
        """
        q: FloatArray = self._filter.bias_a * self._acc_dead_s + self._acc_q_common_as
        if self._acc_bal:
            q -= self._acc_q_bal_as
        return q

    def _flush(self) -> None:
        """Run the filter's prediction over the charge counted since its last step."""
        if self._acc_t_s > 0:
            cap = self._capacity
            q_as = self._counted_as()
            # The capacity learner counts the offset-corrected charge (its throughput per filter
            # step, not per cycle: a sign change inside one step is netted, a negligible part).
            cap.count((q_as - self._filter.bias_a * self._acc_t_s) / self._acc_t_s, self._acc_t_s)
            self._filter.predict(self._acc_t_s, q_as / self._acc_t_s, cap.capacity_ah, cap.rel_std)
            self._learnt = None
        self._acc_t_s = 0.0
        self._acc_dead_s = 0.0
        self._acc_q_common_as = 0.0
        if self._acc_bal:
            self._acc_q_bal_as[:] = 0.0
            self._acc_bal = False

    def _learn_capacity(self, t: float, recalibrated: BoolArray) -> None:
        """Offer measuring points: recalibrations, or rested cells certain on a steep part."""
        f = self._filter
        if not (f.relaxed.any() or recalibrated.any()):
            return  # no measuring point possible: skip the array work (most cycles under load)
        steep = f.last_slope >= self._est.capacity_anchor_slope_mv_per_pct * 0.1  # mV/% -> V/unit
        certain = f.soc_std <= self._est.capacity_anchor_std_pct / 100.0
        # A rested point's SOC is the one its voltages point at (averaged over the rest), with
        # their own error: not the filter's SOC, which carries the coulomb count made with the
        # capacity being learnt (a sample would then partly confirm the estimate it is meant to
        # test, and the largest and smallest cells' capacities would stay pulled to the rated).
        v_std = f.voltage_soc_std(f.last_slope)
        rested = certain & steep & f.relaxed & ~self._excluded & (v_std <= self._est.capacity_anchor_std_pct / 100.0)
        known = recalibrated | rested
        soc = np.where(recalibrated, f.soc, f.voltage_soc)
        std = np.where(recalibrated, self._est.recal_soc_std_pct / 100.0, v_std)
        bias_std = np.sqrt(f.bias_var)
        self._capacity.anchor(t, soc, std, known, f.tuning.current_gain_noise, bias_std)

    def _check_full(self, t: float, v: FloatArray, i_meas: float) -> None:
        """Full recalibrations: the relay's "full" (normal mode) and the rested "full" (both modes).

        * Rested full -- the cells less their IR drop (R0 x current) at or above Vbalance for
          ``full_hold_s`` (every cell in normal mode, as the relay counts; the average cell in
          critical mode, where the relay stops only at Vmax): the SOC really is 100 % (to the
          recalibration's std). A strong measurement for the filter and a measuring point for
          the capacity learner. Critical mode has only this one.
        * Relay full (normal mode) -- ``state.is_full``, the charge relay's own condition, fires
          at once and sets the pack to 100 % (the 123 rule: charging stopped because full reads
          100 %) by setting its fullest cell to 100 %. Under a charge current the cells may still
          be a few % short of full: the voltage less the model's IR and RC drop says how far
          (``_full_gap``), so the filter is told "100 % +- that gap", not "100 % +- 1 %"; the
          other cells keep the update's estimate. It is no measuring point for the capacity
          learner (a capacity counted from a 100 % that was 97 % is 3 % low) and it teaches the
          current offset only what that gap allows. The OCV corrections that follow at rest move
          the SOC to where the cells really are.
        """
        # Neither full is possible while even the highest cell (plus the largest IR rise under a
        # discharge) is below Vbalance: the common case, decided with one reduction. The R0 is
        # the one cached at the last filter step, doubled in case it moved since.
        if float(np.fmax.reduce(v)) + 2.0 * self._slow().r0_max_ohm * max(0.0, -i_meas) < self._vbalance_v:
            self._not_full()
            return
        fresh = np.isfinite(v)
        if not fresh.any():
            return
        v_ocv = v - self._resistance.r0_ohm * i_meas
        if self._critical:
            rested = bool(np.mean(v_ocv[fresh]) >= self._vbalance_v)
            relay_full = False
        else:  # the relay's own definition: no IR correction, no hold (the relay acts at once)
            relay_full = is_full(float(np.min(v[fresh])), self._vbalance_v, bool(fresh.all()))
            rested = is_full(float(np.min(v_ocv[fresh])), self._vbalance_v, bool(fresh.all()))
        if not (relay_full or rested):
            self._not_full()
            return
        if relay_full and not self._full_latched:
            self._full_latched = True
            above = fresh & (v >= self._vbalance_v)
            self._flush()
            gap = self._full_gap(v, i_meas)
            std = np.maximum(self._est.recal_soc_std_pct / 100.0, gap)
            # a gap within the recalibration's own std is as good as a rested full
            certain = above & (gap <= self._est.recal_soc_std_pct / 100.0)
            # The 123 rule needs the pack to read 100 %, and the pack reads 100 % once its fullest
            # cell does: that cell (the closest to full by its voltage) and any cell its voltage
            # shows full are set; the others take the measurement for what it is worth and keep
            # reading where they are (a cell at 93 % under 30 A does not read 100 %).
            fullest = certain.copy()
            fullest[int(np.argmin(np.where(above, gap, np.inf)))] = True
            self._filter.update_soc(np.ones(self._n), std, above, fullest)
            self._learn_capacity(t, certain)
            self._learnt = None
            self._recalibrated = True
            _log.info("soc_recalibrated", to_pct=100.0, cells=int(above.sum()))
        if not rested:
            self._full_since_s = None
            return
        if self._full_since_s is None:
            self._full_since_s = t
        if self._full_rested_latched or t - self._full_since_s < self._est.full_hold_s:
            return
        self._full_rested_latched = True
        above = fresh & (v_ocv >= self._vbalance_v)
        self._flush()
        # R0 x I is off the voltage, but an RC overpotential left from charging may not be yet:
        # a cell whose voltage less both is still short of full is told so, and is no measuring
        # point (a capacity counted from a 100 % that was 97 % is 3 % off).
        gap = self._full_gap(v, i_meas)
        recal_std = self._est.recal_soc_std_pct / 100.0
        self._filter.update_soc(np.ones(self._n), np.maximum(recal_std, gap), above)
        self._learn_capacity(t, above & (gap <= recal_std))
        self._learnt = None
        if self._critical:  # in normal mode the relay's full said it already
            self._recalibrated = True
            _log.info("soc_recalibrated", to_pct=100.0, cells=int(above.sum()))

    def _not_full(self) -> None:
        """No full condition this cycle: the hold timer restarts; the recalibrations are armed
        again only once the pack SOC is below the charge relay's restart SOC.

        Why not at once: at the top of a CV charge the lowest cell sits at Vbalance and the
        condition comes and goes with every millivolt of noise. Each new "100 %" after a few
        minutes of counting looks to the filter like a drift of the count, and it moved the
        current offset estimate a little further every time (seed 4 of ``bench soc``: 1.5 A
        learnt for a 0.3 A offset within a morning). One full per charge, as the relay counts.
        """
        self._full_since_s = None
        if self._last.soc_pct < self._restart_soc_pct:
            self._full_latched = self._full_rested_latched = False

    def _full_gap(self, v: FloatArray, i_meas: float) -> FloatArray:
        """How far below 100 % each cell may still be (fraction): 1 - the SOC its voltage less the
        model's IR and RC drop points at (0 where that is at the top of the curve or unknown)."""
        f = self._filter
        u = v - f.v_rc - self._resistance.r0_ohm * (i_meas - f.bias_a)
        gap: FloatArray = 1.0 - self._ocv.soc(np.where(np.isfinite(u), u, np.inf))
        return np.clip(gap, 0.0, 1.0)

    def _check_empty(self, t: float, v: FloatArray, prev: ProtectionStatus | None) -> None:
        if (prev is None or prev.discharge_allowed) and not self._empty_pending:
            return  # no cell can count as empty while discharge is allowed, and no timer runs
        low = np.isfinite(v) & (v < self._vmin_v) & (prev is not None and not prev.discharge_allowed)
        if not low.any() and not self._empty_latched.any():
            self._empty_since_s.fill(np.nan)
            self._empty_pending = False
            return
        self._empty_pending = True
        self._empty_since_s = np.where(low, np.where(np.isnan(self._empty_since_s), t, self._empty_since_s), np.nan)
        self._empty_latched &= low
        due = low & ~self._empty_latched & (t - self._empty_since_s >= self._est.empty_hold_s)
        if not due.any():
            return
        self._empty_latched |= due
        self._flush()
        self._filter.update_soc(np.zeros(self._n), self._est.recal_soc_std_pct / 100.0, due)
        self._learn_capacity(t, due)
        self._learnt = None
        self._recalibrated = True
        _log.info("soc_recalibrated", to_pct=0.0, cells=[int(i) for i in np.flatnonzero(due)])

    def _cell_soc(self) -> FloatArray:
        """Filter SOC plus the charge counted since its last step (fraction)."""
        f = self._filter
        if self._acc_t_s == 0.0:
            return f.soc.copy()  # just after a filter step; the filter keeps it inside 0..1
        # counted charge less the offset over the same time (see ``_counted_as``)
        q: FloatArray = f.bias_a * (self._acc_dead_s - self._acc_t_s) + self._acc_q_common_as
        if self._acc_bal:
            q -= self._acc_q_bal_as
        q *= self._slow().inv_as
        q += f.soc
        out: FloatArray = np.minimum(np.maximum(q, 0.0, out=q), 1.0, out=q)
        return out

    def _stored_energy_wh(self, soc: FloatArray, cap: FloatArray, soc_pct: float, usable_ah: float) -> float:
        """Wh the pack delivers from here to empty: better than SOC x capacity x nominal voltage.

        The pack gives ``soc_pct x usable_ah`` of charge; each cell gives that charge from its
        own SOC downwards, at its OCV, so a full LFP cell's plateau and a nearly empty cell's
        steep end are both counted as they are (the integral of the OCV table).
        """
        if not (math.isfinite(soc_pct) and math.isfinite(usable_ah)) or len(soc) == 0:
            return math.nan
        q_ah = max(0.0, soc_pct / 100.0 * usable_ah)
        start = soc
        end = np.maximum(soc - q_ah / cap, 0.0)
        # both ends are inside 0..1: the soc is clipped, the end is above 0 and below the soc
        per_cell = (self._ocv.energy_0_1(start) - self._ocv.energy_0_1(end)) * cap
        return float(per_cell.sum())

    def _slow(self) -> _SlowFigures:
        """The figures that change only at filter steps and recalibrations (cached until then)."""
        slow = self._learnt
        if slow is None:
            f, c = self._filter, self._capacity
            std = f.soc_std
            cap = c.capacity_ah
            learnt = c.learnt
            shown = np.where(learnt, cap, self._rated_ah)  # rated until learnt
            slow = self._learnt = _SlowFigures(
                std=std,
                std_pct=tuple((std * 100.0).tolist()),
                capacity_ah=cap,
                capacity_std_ah=c.capacity_std_ah,
                learnt=learnt,
                inv_as=1.0 / (3600.0 * cap),
                shown_ah=tuple(shown.tolist()),
                r0_ohm=tuple(self._resistance.r0_ohm.tolist()),
                r0_max_ohm=float(self._resistance.r0_ohm.max()),
                learnt_flags=tuple(learnt.tolist()),
                all_certain=bool(np.all(std <= self._est.calibrated_std_pct / 100.0)),
            )
        return slow

    def _status(self) -> EstimateStatus:
        soc = self._cell_soc()
        slow = self._slow()
        cap = slow.capacity_ah
        figures = pack_figures(soc, cap, self._rated_ah, slow.std, slow.learnt, self._included,
                               slow.capacity_std_ah)
        c = self._counters
        calibrated = self._recalibrated or slow.all_certain
        return EstimateStatus(
            soc_pct=figures.soc_pct,
            cell_soc_pct=tuple((soc * 100.0).tolist()),
            dod_pct=100.0 - figures.soc_pct,
            soh_pct=figures.soh_pct,
            capacity_ah=figures.usable_capacity_ah,
            capacity_wh=figures.usable_capacity_ah * self._nominal_v * self._n,
            stored_energy_wh=self._stored_energy_wh(soc, cap, figures.soc_pct, figures.usable_capacity_ah),
            rated_capacity_ah=self._rated_ah,
            cell_capacity_ah=slow.shown_ah,
            cell_resistance_ohm=slow.r0_ohm,
            soc_sigma_pct=figures.soc_sigma_pct,
            cell_soc_sigma_pct=slow.std_pct,
            cell_capacity_learnt=slow.learnt_flags,
            soc_excluded_cells=self._excluded_list,
            soc_calibrated=calibrated,
            charge_in_ah=c.charge_in_ah,
            charge_out_ah=c.charge_out_ah,
            energy_in_wh=c.energy_in_wh,
            energy_out_wh=c.energy_out_wh,
            balancing_energy_wh=c.balancing_energy_wh,
            equivalent_cycles=c.equivalent_cycles(self._rated_ah),
            today_in_wh=c.today_in_wh,
            today_out_wh=c.today_out_wh,
            charger_today_wh=c.charger_today_wh,
            charger_total_wh=c.charger_total_wh,
            consumer_today_wh=c.consumer_today_wh,
            consumer_total_wh=c.consumer_total_wh,
        )

    # -- persistence ----------------------------------------------------------------------------

    def saved_state(self) -> SavedState:
        """What to persist now (cheap: lists of floats, no I/O)."""
        soc = self._cell_soc()
        wall = self._clock.wall_time() if self._clock is not None else 0.0
        return SavedState(
            cell_soc_pct=(soc * 100.0).tolist(),
            cell_soc_std_pct=(self._filter.soc_std * 100.0).tolist(),
            cell_capacity_ah=self._capacity.capacity_ah.tolist(),
            cell_capacity_std_ah=self._capacity.capacity_std_ah.tolist(),
            cell_resistance_ohm=self._resistance.r0_ohm.tolist(),
            cell_charge_ah=self._capacity.charge_ah.tolist(),
            capacity_anchor_soc_pct=(self._capacity.anchor_soc * 100.0).tolist(),
            capacity_anchor_charge_ah=self._capacity.anchor_charge_ah.tolist(),
            current_bias_a=self.current_bias_a,
            soc_calibrated=self._recalibrated,
            counters=self._counters.to_dict(),
            saved_wall_time=wall,
        )
