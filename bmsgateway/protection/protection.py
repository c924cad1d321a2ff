"""The protection / control stage: one ``update()`` per cycle.

Order within a cycle (why this order: a fault raised from this cycle's measurement must act on
the outputs in the *same* cycle -- a short circuit opens the contactors before update returns):

1. feed every condition of the fault table from the Measurement (and timing);
2. summarise: active conditions, fault/warning bits, blocked directions;
3. signal relays (123\\SmartBMS algorithm) gated by the blocked directions;
4. contactors: sequence and open what is blocked; check feedback; precharge result;
5. limits (CVL / CCL / DCL), balancing bits, heater / cooler.

Whether a reading is believable at all (thermistor open/short, current sensor frozen, pack voltage
too old, bus voltage stuck high) is judged in ``bmsgateway.acquisition.plausibility``; this stage
only feeds that report's fields to their fault-table rows.

Data rules: NaN means "not read this cycle". Decisions that need a value hold while it is missing
(one failed read must not chatter a relay); if it stays missing, communication_lost (or
thermistor_fault) is raised and that blocks both directions. Nothing ever uses a last good value.

SOC for the relays comes from ``EstimateStatus.soc_pct``; while that is NaN an internal coulomb
counter is used (starting at ``estimation.initial_soc_pct``, integrating ``current_a`` over the
pack's rated capacity, set to 100 % when the pack is full by the 123\\SmartBMS rule: all cells >=
Vbalance in normal mode, average cell >= Vbalance in critical mode).
"""

from __future__ import annotations

import math
from typing import Any

from bmsgateway.acquisition.plausibility import PlausibilityReport, SensorPlausibility
from bmsgateway.clock import Clock
from bmsgateway.config.model import Config
from bmsgateway.hal.interfaces import BusVoltageSensor, DigitalIO
from bmsgateway.protection.alarm import AlarmPattern
from bmsgateway.protection.balancing import Balancer
from bmsgateway.protection.contactors import ContactorController
from bmsgateway.protection.engine import Blocks, FaultEngine
from bmsgateway.protection.events import EventLog
from bmsgateway.protection.ids import CONDITION_BITS, ConditionId
from bmsgateway.protection.inputs import DiscreteInputs
from bmsgateway.protection.limits import DeratingTable, charge_voltage_limit
from bmsgateway.protection.outputs import OutputDriver
from bmsgateway.protection.relays import RelayInputs, RelayLogic
from bmsgateway.protection.table import build_condition_table
from bmsgateway.protection.thermal import ThermalControl
from bmsgateway.state import (
    ContactorState,
    ControlState,
    CycleTiming,
    EstimateStatus,
    Event,
    Measurement,
    ProtectionStatus,
    RelayMode,
    extremes,
    is_full,
)

__all__ = ["Protection"]

NAN = math.nan
_COMM_BIT = 1 << CONDITION_BITS[ConditionId.COMMUNICATION_LOST]
_THERM_BIT = 1 << CONDITION_BITS[ConditionId.THERMISTOR_FAULT]
_REMOTE_OFF_BIT = 1 << CONDITION_BITS[ConditionId.REMOTE_OFF]
#: conditions that switch off everything, heater and cooler too (remote off, emergency stop)
_ALL_OFF_BITS = _REMOTE_OFF_BIT | 1 << CONDITION_BITS[ConditionId.EMERGENCY_STOP]
_CONTACTOR_KEYS = ("contactor_welded.fault", "contactor_failed_to_close.fault", "precharge_failed.fault")


class Protection:
    """Fault engine + contactors + relays + limits + balancing + thermal, driven once per cycle."""

    def __init__(self, config: Config, io: DigitalIO, bus: BusVoltageSensor | None, clock: Clock) -> None:
        """``bus``: the bus voltage sensor if one is wired. Its readings arrive in the Measurement
        (acquisition reads it); here it only tells whether a missing reading is a fault (a sensor
        that gives nothing) or the documented timed precharge (no sensor at all)."""
        self._io = io
        self._bus = bus
        self._plausibility = SensorPlausibility(config)
        self._clock = clock
        self.event_log = EventLog(config.protection.event_log_size)
        self._cycle_events: list[Event] = []
        self._out = OutputDriver(io, self._emit)
        rc = config.protection.recurrence
        self._engine = FaultEngine(build_condition_table(config), self._emit, rc.count, rc.window_s)
        self._contactors = ContactorController(config.protection.contactors, io, self._out)
        self._thermal = ThermalControl(config.protection.thermal)
        lim = config.pack.limits
        self._relays = RelayLogic(RelayMode.NORMAL, lim.vmin_v, lim.vbalance_v, lim.vmax_v, 0.0, 0.0, 0.0, 0.0)
        self._balancer = Balancer(config.protection.balancing, lim.vbalance_v, ())
        self._stopped = False
        self._allow_off_s: dict[str, float] = {}  #: when each allow relay last went from on to off
        self._last_t = NAN
        self._soc_fallback_pct = config.estimation.initial_soc_pct
        self._tf_charge = 0.0  #: last temperature derating factors (held while no fresh temperature)
        self._tf_discharge = 0.0
        self._vf_charge = 0.0
        self._vf_discharge = 0.0
        self._contactor_cache: tuple[tuple[tuple[str, bool, bool | None], ...], tuple[ContactorState, ...]] = (
            (), ()
        )
        self._inputs = DiscreteInputs(config.hardware.inputs)
        self._alarm = AlarmPattern(config.protection.alarm)
        self._alarm_active = False
        self._alarm_silenced_at: int | None = None  #: engine.raised_faults when silenced; None = not
        self._configure(config)
        self._cvl_v = self._cvl_nominal_v

    # -- configuration ----------------------------------------------------------------------
    def _configure(self, config: Config) -> None:
        self.config = config
        p = config.protection
        lim = config.pack.limits
        self._vmin_v, self._vbal_v, self._vmax_v = lim.vmin_v, lim.vbalance_v, lim.vmax_v
        self._n_cells = config.pack.cell_count
        self._cvl_nominal_v = self._n_cells * lim.vbalance_v
        ranges = config.pack.board_cell_ranges
        self._board_ranges = ranges
        self._bus_sensor = self._bus is not None or config.hardware.bus_voltage.enabled
        r = p.relays
        rl = self._relays
        rl.mode, rl.vmin_v, rl.vbalance_v, rl.vmax_v = r.mode, lim.vmin_v, lim.vbalance_v, lim.vmax_v
        rl.tmin_c, rl.tmax_c, rl.min_off_s = r.tmin_c, r.tmax_c, r.min_off_s
        rl.critical_charge_hysteresis_v = r.critical_charge_hysteresis_v
        rl.charge_restart_soc_pct, rl.discharge_restart_soc_pct = r.charge_restart_soc_pct, r.discharge_restart_soc_pct
        self._balancer.configure(p.balancing, lim.vbalance_v, ranges)
        lt = p.limits
        self._d_ct = DeratingTable(lt.charge_temperature_derating)
        self._d_dt = DeratingTable(lt.discharge_temperature_derating)
        self._d_cv = DeratingTable(lt.charge_cell_voltage_derating)
        self._d_dv = DeratingTable(lt.discharge_cell_voltage_derating)
        self._d_cs = DeratingTable(lt.charge_soc_derating)
        self._d_ds = DeratingTable(lt.discharge_soc_derating)
        self._thermal.cfg = p.thermal
        self.event_log.resize(p.event_log_size)
        self._inputs.configure(config.hardware.inputs)
        self._alarm.cfg = p.alarm

    def apply_config(self, config: Config) -> None:
        """Switch to a new validated config between cycles; raised conditions keep their state."""
        old_names = self._contactors.names
        self._engine.set_specs(build_condition_table(config))
        rc = config.protection.recurrence
        self._engine.recurrence_count, self._engine.recurrence_window_s = rc.count, rc.window_s
        self._contactors.configure(config.protection.contactors)
        if self._contactors.names != old_names:
            # A different contactor set: open the old one completely, start over with precharge.
            t = self._clock.now()
            for name in old_names:
                self._out.set(name, False, t, "contactor layout changed")
            self._contactors.precharging = False
        self._plausibility.apply_config(config)
        self._configure(config)

    # -- commands ----------------------------------------------------------------------------
    def reset_latched(self) -> None:
        """The reset command: clear latched conditions that are no longer present."""
        t = self._clock.now()
        n = self._engine.reset_latched(t)
        left, _ = self._engine.latched_count()
        msg = f"reset: {n} latched condition(s) cleared"
        if left:
            msg += f", {left} kept (condition still present by the thresholds it latched under)"
        self._emit(Event(time_s=t, kind="command", condition="reset_latched", severity="info",
                         value=float(n), message=msg))

    def silence_alarm(self) -> None:
        """The silence command: the alarm output goes off until another fault is raised."""
        was = self._alarm_active and self._alarm_silenced_at is None
        if was:  # a second press while silenced changes nothing (it must not re-arm the alarm)
            self._alarm_silenced_at = self._engine.raised_faults
        self.note_command("silence_alarm", "info", "alarm output silenced until another fault is raised"
                          if was else "nothing to silence: no alarm is sounding")

    def note_command(self, command: str, severity: str, message: str, value: float = NAN) -> None:
        """An operator command's outcome as an event (e.g. a refused zero calibration)."""
        self._emit(Event(time_s=self._clock.now(), kind="command", condition=command, severity=severity,
                         value=value, message=message))

    # -- persistence -------------------------------------------------------------------------
    @property
    def latch_version(self) -> int:
        """Changes whenever a latch is raised or cleared (the daemon saves the state file then)."""
        return self._engine.latch_version

    def latched_records(self) -> list[dict[str, Any]]:
        """The latched faults for the state file."""
        return self._engine.latched_records()

    def restore_latched(self, records: list[dict[str, Any]]) -> int:
        """Raise the latched faults saved by an earlier run (before the first cycle)."""
        return self._engine.restore_latched(records, self._clock.now())

    def shutdown(self) -> None:
        """Every output to its safe (open) state; update() keeps them there afterwards."""
        self._stopped = True
        self._contactors.shutdown(self._clock.now())

    def _emit(self, ev: Event) -> None:
        self._cycle_events.append(self.event_log.append(ev))

    # -- the cycle -------------------------------------------------------------------------------
    def update(self, m: Measurement, est: EstimateStatus, timing: CycleTiming | None) -> ProtectionStatus:
        """One cycle: conditions -> decisions -> outputs -> limits -> balancing bits."""
        t = m.time_s
        dt = t - self._last_t if self._last_t == self._last_t else 0.0
        self._last_t = t
        if self._stopped:
            return self._status_stopped()
        p = self.config.protection
        eng = self._engine
        n = self._n_cells

        # 1. conditions ------------------------------------------------------------------------
        cells = m.cell_voltages_v
        s = sum(cells)
        fresh = s == s and len(cells) == n and n > 0
        lo, _, hi, _, _ = extremes(cells)
        plaus = self._plausibility.check(m, lo, hi)
        eng.many("cell_over_voltage.warning", cells, hi, t)
        eng.many("cell_over_voltage.fault", cells, hi, t)
        eng.many("cell_under_voltage.warning", cells, lo, t)
        eng.many("cell_under_voltage.fault", cells, lo, t)

        measured = plaus.pack_voltage_measured_v
        pack_v = plaus.pack_voltage_v
        eng.scalar("pack_over_voltage.warning", pack_v, t)
        eng.scalar("pack_over_voltage.fault", pack_v, t)
        eng.scalar("pack_under_voltage.warning", pack_v, t)
        eng.scalar("pack_under_voltage.fault", pack_v, t)

        temps = m.temperatures_c
        tlo, _, thi, _, _ = extremes(temps)
        eng.many("charge_over_temperature.warning", temps, thi, t)
        eng.many("charge_over_temperature.fault", temps, thi, t)
        eng.many("discharge_over_temperature.warning", temps, thi, t)
        eng.many("discharge_over_temperature.fault", temps, thi, t)
        eng.many("charge_under_temperature.warning", temps, tlo, t)
        eng.many("charge_under_temperature.fault", temps, tlo, t)
        eng.many("discharge_under_temperature.warning", temps, tlo, t)
        eng.many("discharge_under_temperature.fault", temps, tlo, t)

        cur = m.current_a
        eng.scalar("charge_over_current.warning", cur, t)
        eng.scalar("charge_over_current.fault", cur, t)
        eng.scalar("charge_over_current.peak", cur, t)
        eng.scalar("discharge_over_current.warning", -cur, t)
        eng.scalar("discharge_over_current.fault", -cur, t)
        eng.scalar("discharge_over_current.peak", -cur, t)
        eng.scalar("short_circuit.fault", abs(cur), t)

        spread = hi - lo if fresh else NAN
        eng.scalar("cell_imbalance.warning", spread, t)
        eng.scalar("cell_imbalance.fault", spread, t)

        self._feed_communication(m, t)

        if m.open_wire_cells or eng.tracking("open_sense_wire.fault"):
            eng.flags("open_sense_wire.fault", m.open_wire_cells, t)

        diff = abs(s - measured) if fresh and measured == measured else NAN
        eng.scalar("pack_voltage_implausible.warning", diff, t)
        eng.scalar("pack_voltage_implausible.fault", diff, t)

        self._feed_plausibility(plaus, t)
        self._feed_chips(m, t)
        self._feed_inputs(t)

        if timing is not None and timing.period_s > 0:
            eng.scalar("loop_overrun.warning", timing.duration_s / timing.period_s, t)
            eng.scalar("loop_overrun.fault", timing.actual_period_s / timing.period_s, t)

        # 2. summary -----------------------------------------------------------------------------
        active, fbits, wbits, blocks = eng.summary()
        comm_ok = not fbits & _COMM_BIT

        # 3. relays (123\SmartBMS) ---------------------------------------------------------------
        soc = est.soc_pct
        fallback = self._update_soc_fallback(cur, dt, fresh, lo, s)
        if soc != soc:
            soc = fallback
        relay_in = RelayInputs(lo, hi, tlo, thi, soc, comm_ok, fresh)
        relay_c, relay_d = self._relays.update(relay_in, t)
        lights = self._relays.lights(relay_in)

        # 4. contactors --------------------------------------------------------------------------
        raised_before = eng.raised_faults
        self._drive_contactors(m, plaus, t, blocks, pack_v)
        if eng.raised_faults != raised_before:
            # A contactor / precharge fault raised just now: act on it in this cycle too.
            active, fbits, wbits, blocks = eng.summary()
            self._drive_contactors(m, plaus, t, blocks, pack_v, feed=False)
        ctl = self._contactors
        charge_allowed = self._min_off("allow_charge", relay_c and not blocks & Blocks.CHARGE
                                       and ctl.path_closed(True), t)
        discharge_allowed = self._min_off("allow_discharge", relay_d and not blocks & Blocks.DISCHARGE
                                          and ctl.path_closed(False), t)
        self._out.set("allow_charge", charge_allowed, t)
        self._out.set("allow_discharge", discharge_allowed, t)

        # 5. limits, balancing, thermal ------------------------------------------------------------
        lt = p.limits
        if fresh:
            self._cvl_v = charge_voltage_limit(n, self._vbal_v, self._vmax_v, lt.cvl_top_cell_margin_v, s, hi,
                                               lt.cvl_above_vbalance_v)
            self._vf_charge = self._d_cv(self._vmax_v - hi)
            self._vf_discharge = self._d_dv(lo - self._vmin_v)
        if tlo == tlo:
            self._tf_charge = min(self._d_ct(tlo), self._d_ct(thi))
            self._tf_discharge = min(self._d_dt(tlo), self._d_dt(thi))
        ccl = dcl = 0.0
        if charge_allowed:
            ccl = lt.max_charge_current_a * min(self._tf_charge, self._vf_charge, self._d_cs(soc))
        if discharge_allowed:
            dcl = lt.max_discharge_current_a * min(self._tf_discharge, self._vf_discharge, self._d_ds(soc))

        bal = self._balancer
        hot = self._hot_boards(m) if fresh and bal.cfg.mode != "off" and (
            hi - lo > bal.cfg.stop_delta_v or hi > self._vbal_v) else ()
        bits = bal.update(cells, lo, hi, fresh and comm_ok, cur, hot)

        heater, cooler = self._thermal.update(tlo, thi, bool(fbits & (_COMM_BIT | _THERM_BIT)))
        if fbits & _ALL_OFF_BITS:  # remote off / emergency stop: everything off, heater and cooler too
            heater = cooler = False
        self._out.set("heater", heater, t)
        self._out.set("cooler", cooler, t)
        alarm_active, alarm_on = self._drive_alarm(fbits, wbits, t)

        state = (
            ControlState.FAULT if blocks == Blocks.BOTH
            else ControlState.PRECHARGE if ctl.precharging
            else ControlState.READY if ctl.closed_mains
            else ControlState.INIT
        )
        events = tuple(self._cycle_events)
        self._cycle_events.clear()
        return ProtectionStatus(
            state=state, relay_mode=self._relays.mode, charge_allowed=charge_allowed,
            discharge_allowed=discharge_allowed, active=active, fault_bits=fbits, warning_bits=wbits,
            contactors=self._contactor_states(), cvl_v=self._cvl_v, ccl_a=ccl, dcl_a=dcl,
            balancing=bits, heater_on=heater, cooler_on=cooler, events=events, status_lights=lights,
            inputs=self._inputs.active, remote_off=bool(fbits & _REMOTE_OFF_BIT),
            charger_present=self._inputs.charger_present(), alarm_active=alarm_active, alarm_on=alarm_on,
        )

    # -- helpers ---------------------------------------------------------------------------------
    def _min_off(self, name: str, on: bool, t: float) -> bool:
        """An allow relay that went off (for any reason: its own table, a fault, an open
        contactor) stays off for ``relays.min_off_s``; switching off is never delayed."""
        was_on = self._out.get(name)
        if was_on and not on:
            self._allow_off_s[name] = t
        elif on and not was_on and t - self._allow_off_s.get(name, -math.inf) < self._relays.min_off_s - 1e-6:
            return False
        return on

    def _feed_inputs(self, t: float) -> None:
        """Discrete inputs: debounce the line levels, feed emergency stop and remote off."""
        eng = self._engine
        if self._inputs.configured:
            self._inputs.update(self._io.read_inputs(), t)
        for function, key in (("emergency_stop", "emergency_stop.input"), ("remote_off", "remote_off.input")):
            if self._inputs.configured or eng.tracking(key):
                eng.flags(key, self._inputs.indices(function), t)

    def _drive_alarm(self, fbits: int, wbits: int, t: float) -> tuple[bool, bool]:
        """The alarm output follows the active faults (not remote off) with its pattern; one event
        when it starts and one when it stops, none per beep."""
        active, on = self._alarm.update(bool(fbits & ~_REMOTE_OFF_BIT), bool(wbits), t)
        if self._alarm_silenced_at is not None:
            if not active or self._engine.raised_faults != self._alarm_silenced_at:
                self._alarm_silenced_at = None  # the alarm ended, or a new fault: sound again
            else:
                on = False
        if active != self._alarm_active:
            self._alarm_active = active
            self._emit(Event(time_s=t, kind="output", condition="alarm", severity="info",
                             value=1.0 if active else 0.0,
                             message="on (alarm: a fault is active)" if fbits & ~_REMOTE_OFF_BIT
                             else "on (alarm: a warning is active)" if active else "off (alarm: no fault)"))
        self._out.set("alarm", on, t, event=False)
        return active, on

    def _feed_chips(self, m: Measurement, t: float) -> None:
        """Battery monitor chip conditions: ADC faults per board, chain wiring, chip comparators."""
        eng = self._engine
        bad = [b.index for b in m.boards if b.adc_fault]
        if bad or eng.tracking("adc_fault.fault"):
            eng.flags("adc_fault.fault", bad, t)
        if m.chain_faults or eng.tracking("chain_configuration.fault"):
            eng.flags("chain_configuration.fault", (0,) if m.chain_faults else (), t)
        if m.chip_ov_cells or eng.tracking("chip_voltage_flag.over"):
            eng.flags("chip_voltage_flag.over", m.chip_ov_cells, t)
        if m.chip_uv_cells or eng.tracking("chip_voltage_flag.under"):
            eng.flags("chip_voltage_flag.under", m.chip_uv_cells, t)

    def _feed_communication(self, m: Measurement, t: float) -> None:
        eng = self._engine
        boards = m.boards
        if boards:
            failed = [float(b.failed_cycles) for b in boards]
            worst = max(failed)
            eng.many("communication_lost.warning", failed, worst, t)
            eng.many("communication_lost.fault", failed, worst, t)
        limit = self.config.protection.max_value_age_s
        ages = m.cell_age_s
        oldest = max(ages) if ages else 0.0
        all_ok = all(b.ok for b in boards)
        if oldest >= limit or not all_ok or eng.tracking("communication_lost.stale"):
            per_board = [0.0] * len(self._board_ranges)
            # Cells next to an open sense wire cannot be measured; open_sense_wire reports them,
            # so they must not also read as lost communication (wire k = top of cell index k-1).
            skip = {c for w in m.open_wire_cells for c in (w - 1, w)}
            for b, (first, end) in enumerate(self._board_ranges):
                if end <= len(ages) and end > first:
                    if skip:
                        per_board[b] = max((ages[i] for i in range(first, end) if i not in skip), default=0.0)
                    else:
                        per_board[b] = max(ages[first:end])
            for i, b in enumerate(m.temperature_board):
                # A silent board's temperatures count as lost communication; a healthy board's
                # missing temperature is a thermistor fault instead.
                if 0 <= b < len(per_board) and b < len(boards) and not boards[b].ok:
                    per_board[b] = max(per_board[b], m.temperature_age_s[i])
            eng.many("communication_lost.stale", per_board, max(per_board) if per_board else NAN, t)
        eng.scalar("communication_lost.current", m.current_age_s, t)

    def _feed_plausibility(self, plaus: PlausibilityReport, t: float) -> None:
        """Each plausibility verdict to its fault-table row (the row names the field it reads)."""
        eng = self._engine
        if plaus.implausible_cells or eng.tracking("cell_voltage_implausible.fault"):
            eng.flags("cell_voltage_implausible.fault", plaus.implausible_cells, t)
        if plaus.bad_thermistors or eng.tracking("thermistor_fault.fault"):
            eng.flags("thermistor_fault.fault", plaus.bad_thermistors, t)
        if plaus.boards_without_temperature or eng.tracking("thermistor_fault.board"):
            eng.flags("thermistor_fault.board", plaus.boards_without_temperature, t)
        eng.scalar("thermistor_fault.pack", 1.0 if plaus.pack_without_temperature else 0.0, t)
        eng.scalar("current_sensor_stuck.fault", plaus.current_unexplained_a, t)

    def _update_soc_fallback(self, cur: float, dt: float, fresh: bool, lo: float, s: float) -> float:
        cap = self.config.pack.capacity_ah
        soc = self._soc_fallback_pct
        if cur == cur and dt > 0:
            soc += cur * dt / 3600.0 / cap * 100.0
        if fresh:
            normal = self._relays.mode == RelayMode.NORMAL
            full = is_full(lo, self._vbal_v, fresh) if normal else s >= self._cvl_nominal_v
            if full:
                soc = 100.0
        self._soc_fallback_pct = min(100.0, max(0.0, soc))
        return self._soc_fallback_pct

    def _drive_contactors(
        self, m: Measurement, plaus: PlausibilityReport, t: float, blocks: Blocks, pack_v: float, feed: bool = True
    ) -> None:
        ctl = self._contactors
        eng = self._engine
        if feed:
            # A bus voltage above the pack voltage cannot come from charging the DC link through the
            # precharge resistor: the sensor is stuck high, and trusting it would close the mains
            # onto an uncharged bus. Fail precharge (latched) instead.
            high = ctl.precharging and plaus.bus_above_pack
            if high:
                ctl.open_all(t, "precharge failed: bus voltage reads above the pack voltage")
            if high or eng.tracking("precharge_failed.bus_high"):
                eng.flags("precharge_failed.bus_high", (-1,) if high else (), t)
        bus_v = NAN
        if ctl.precharging or not ctl.closed_mains:
            bus_v = m.bus_voltage_v
        failed_now = ctl.update(
            t, not blocks & Blocks.CHARGE, not blocks & Blocks.DISCHARGE, pack_v, bus_v, self._bus_sensor
        )
        if failed_now or eng.tracking("precharge_failed.fault"):
            eng.flags("precharge_failed.fault", (-1,) if failed_now else (), t)
        if feed:
            welded, failed = ctl.feedback(t)
            if welded or eng.tracking("contactor_welded.fault"):
                eng.sparse("contactor_welded.fault", welded, t)
            if failed or eng.tracking("contactor_failed_to_close.fault"):
                eng.sparse("contactor_failed_to_close.fault", failed, t)

    def _hot_boards(self, m: Measurement) -> list[bool]:
        limit = self._balancer.cfg.max_board_temperature_c
        hot = [b.die_temperature_c > limit for b in m.boards]
        for i, v in enumerate(m.temperatures_c):
            b = m.temperature_board[i] if i < len(m.temperature_board) else -1
            if 0 <= b < len(hot) and v > limit:
                hot[b] = True
        return hot

    def _contactor_states(self) -> tuple[ContactorState, ...]:
        states = self._contactors.states()
        key = tuple((c.name, c.commanded, c.feedback) for c in states)
        if key != self._contactor_cache[0]:
            self._contactor_cache = (key, states)
        return self._contactor_cache[1]

    def _status_stopped(self) -> ProtectionStatus:
        events = tuple(self._cycle_events)
        self._cycle_events.clear()
        active, fbits, wbits, _ = self._engine.summary()
        return ProtectionStatus(
            state=ControlState.STOPPED, relay_mode=self._relays.mode, active=active, fault_bits=fbits,
            warning_bits=wbits, contactors=self._contactor_states(), cvl_v=self._cvl_v,
            balancing=self._balancer._off, events=events,
        )
