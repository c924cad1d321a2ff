"""The immutable per-cycle snapshot every adapter reads: ``PackState``.

One producer (the pack cycle) builds one ``PackState`` per cycle from the stage outputs:

    Measurement (acquisition) -> EstimateStatus (estimation) -> ProtectionStatus (protection)

Conventions, stated once:

* units are in the names (``_v``, ``_a``, ``_c`` for °C, ``_s``, ``_ah``, ``_wh``, ``_pct``);
* current is positive when the pack is **charging**;
* indices are 0-based and pack-wide (cell 0 is the lowest cell of board 0, the board nearest the
  host); adapters add 1 where their protocol counts from 1;
* a value that was not read successfully in this cycle is ``NaN`` (never the last good value), and
  its ``*_age_s`` tells how long ago it was last read (``inf`` if never). Aggregates (min / max /
  average) are taken over fresh values only and are ``NaN`` with index -1 when there are none;
* times ``time_s`` are from the injected clock (simulated time in simulation).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = [
    "STATUS_LIGHTS",
    "ActiveCondition",
    "BalancingMode",
    "BoardHealth",
    "ContactorState",
    "ControlState",
    "CycleTiming",
    "EstimateStatus",
    "Event",
    "Measurement",
    "Output",
    "PackState",
    "ProtectionStatus",
    "RelayMode",
    "Severity",
    "event_from_dict",
    "extremes",
    "is_full",
]

NAN = math.nan


class Severity(StrEnum):
    """Warnings are the early stage of a quantity; faults act on contactors and relays."""

    WARNING = "warning"
    FAULT = "fault"


# -- the vocabulary every protocol reads (declared once; the order is the protocols' numbering) --
class ControlState(StrEnum):
    """The control state machine (Modbus and CANopen number them in this order, from 0)."""

    INIT = "init"  #: started, contactors open, waiting for valid measurements
    PRECHARGE = "precharge"
    READY = "ready"  #: main contactors closed
    FAULT = "fault"  #: a fault blocks both directions: everything open
    STOPPED = "stopped"  #: shut down (daemon stopping): everything open

    @property
    def code(self) -> int:
        return list(ControlState).index(self)


class RelayMode(StrEnum):
    """123\\SmartBMS allow-charge/allow-discharge relay algorithm."""

    NORMAL = "normal"
    CRITICAL = "critical"

    @property
    def code(self) -> int:
        return list(RelayMode).index(self)


class BalancingMode(StrEnum):
    """Passive balancing strategy."""

    OFF = "off"
    THRESHOLD = "threshold"  #: 123\\SmartBMS: bleed every cell above Vbalance
    DIFFERENTIAL = "differential"  #: ENNOID-BMS: bleed cells more than a delta above the lowest

    @property
    def code(self) -> int:
        return list(BalancingMode).index(self)


class Output(StrEnum):
    """The digital outputs (GPIO lines on hardware, simulated relays in simulation), in bit order."""

    PRECHARGE = "precharge"
    CHARGE = "charge"
    DISCHARGE = "discharge"
    MAIN = "main"
    ALLOW_CHARGE = "allow_charge"
    ALLOW_DISCHARGE = "allow_discharge"
    HEATER = "heater"
    COOLER = "cooler"
    ALARM = "alarm"  #: follows active faults with protection.alarm's pattern (buzzer, lamp)


@dataclass(frozen=True, slots=True)
class BoardHealth:
    """Communication health of one board in the daisy chain."""

    index: int
    chip: str
    ok: bool  #: every register group of this cycle was read with a good PEC
    pec_errors_total: int  #: PEC failures since start (each failed attempt counts)
    failed_cycles: int  #: consecutive cycles in which some read of this board failed
    last_ok_s: float  #: clock time of the last complete good read (-inf if never)
    die_temperature_c: float = NAN
    sum_of_cells_v: float = NAN  #: the chip's own SC measurement
    open_wires: tuple[int, ...] = ()  #: board-local sense inputs (C0..Cn) found open
    #: why this board's ADC results are not trusted ("" = fine): conversion_timeout,
    #: not_converted, frozen, self_test, muxfail, thermal_shutdown, supply, reference
    adc_fault: str = ""
    config_resets: int = 0  #: configuration found reset (watchdog/sleep) and rewritten, since start


@dataclass(frozen=True, slots=True)
class Measurement:
    """What acquisition produced in one cycle (fresh values only; NaN where a read failed)."""

    time_s: float
    cell_voltages_v: tuple[float, ...]
    cell_age_s: tuple[float, ...]
    temperatures_c: tuple[float, ...]  #: thermistors, board 0 first, GPIO1 first
    temperature_age_s: tuple[float, ...]
    temperature_board: tuple[int, ...]  #: board index of each thermistor
    current_a: float  #: positive = charging; NaN if not read
    current_age_s: float
    pack_voltage_measured_v: float  #: sum of the chips' sum-of-cells readings (NaN if any missing)
    boards: tuple[BoardHealth, ...]
    open_wire_cells: tuple[int, ...] = ()  #: pack-wide sense wire numbers found open (0 = pack -)
    bus_voltage_v: float = NAN  #: load side of the contactors (for precharge)
    current_zero_offset_a: float = 0.0  #: the zero calibration subtracted from the sensor (owned here, once)
    #: chain wiring/configuration problems (extra board, chip type, cells wired), one text each
    chain_faults: tuple[str, ...] = ()
    chip_ov_cells: tuple[int, ...] = ()  #: cells the chips' own VOV comparator flags (pack index)
    chip_uv_cells: tuple[int, ...] = ()  #: cells the chips' own VUV comparator flags (pack index)
    pack_voltage_measured_age_s: float = 0.0  #: age of the oldest sum-of-cells reading in it
    #: two-sensor setups (hardware.consumer_current_sensor): current from the chargers / solar into the
    #: battery side and current drawn by the consumers (positive = flowing that way); NaN otherwise
    charger_current_a: float = NAN
    consumer_current_a: float = NAN
    #: hardware.current_sensor's own reading, offset and gain applied, before the dead band
    current_sensor_a: float = NAN
    current_sensor_raw_a: float = NAN  #: the same before offset and gain (what a zero calibration stores)
    current_low_range: bool = False  #: the reading came from the dual-range sensor's low range
    #: ``current_a`` comes from a sensor at the end of its range: the current is at least that (a short
    #: trips on it at once) but it is a bound, not a measurement, so it is not coulomb counted
    current_at_rail: bool = False
    current_gain: float = 1.0  #: gain calibration factor of hardware.current_sensor (owned here, once)
    consumer_zero_offset_a: float = 0.0  #: zero calibration of the consumer-side sensor
    two_current_sensors: bool = False  #: a consumer-side sensor is configured (the two currents above apply)

    @property
    def cell_count(self) -> int:
        return len(self.cell_voltages_v)

    @property
    def pack_voltage_sum_v(self) -> float:
        """Sum of the cell voltages (NaN if any cell is missing)."""
        return math.fsum(self.cell_voltages_v) if self.cell_voltages_v else NAN

    @property
    def all_cells_fresh(self) -> bool:
        return all(v == v for v in self.cell_voltages_v)


def extremes(values: tuple[float, ...]) -> tuple[float, int, float, int, float]:
    """(min, argmin, max, argmax, mean) over the non-NaN values; NaN/-1 when none."""
    total = sum(values)
    if values and total == total:  # no NaN: the common case, done by C-level builtins
        lo, hi = min(values), max(values)
        return lo, values.index(lo), hi, values.index(hi), total / len(values)
    lo, lo_i, hi, hi_i, total, n = math.inf, -1, -math.inf, -1, 0.0, 0
    for i, v in enumerate(values):
        if v != v:  # NaN
            continue
        n += 1
        total += v
        if v < lo:
            lo, lo_i = v, i
        if v > hi:
            hi, hi_i = v, i
    if n == 0:
        return NAN, -1, NAN, -1, NAN
    return lo, lo_i, hi, hi_i, total / n


@dataclass(frozen=True, slots=True)
class EstimateStatus:
    """Output of the estimation stage."""

    soc_pct: float = NAN
    cell_soc_pct: tuple[float, ...] = ()
    dod_pct: float = NAN
    soh_pct: float = NAN  #: NaN until every (unfaulted) cell's capacity is learnt
    capacity_ah: float = NAN  #: estimated usable capacity
    capacity_wh: float = NAN
    #: energy the pack can still deliver: each cell's OCV integrated over the charge it gives
    #: until the pack is empty (pack SOC x usable capacity); NaN without a SOC
    stored_energy_wh: float = NAN
    rated_capacity_ah: float = NAN
    cell_capacity_ah: tuple[float, ...] = ()  #: learnt, or the rated value while not learnt
    soc_sigma_pct: float = NAN  #: 1-sigma uncertainty of ``soc_pct`` (percentage points)
    cell_soc_sigma_pct: tuple[float, ...] = ()  #: 1-sigma of each cell's SOC (percentage points)
    cell_capacity_learnt: tuple[bool, ...] = ()  #: False: ``cell_capacity_ah`` is still the rated value
    soc_excluded_cells: tuple[int, ...] = ()  #: cells left out of pack SOC and full/empty (sensor faults)
    cell_resistance_ohm: tuple[float, ...] = ()
    soc_calibrated: bool = False
    charge_in_ah: float = 0.0
    charge_out_ah: float = 0.0
    energy_in_wh: float = 0.0
    energy_out_wh: float = 0.0
    balancing_energy_wh: float = 0.0
    equivalent_cycles: float = 0.0
    today_in_wh: float = 0.0
    today_out_wh: float = 0.0
    #: two-sensor setups: energy from the chargers / solar and energy to the consumers, today (since
    #: local midnight) and in total (resettable, like energy_in_wh)
    charger_today_wh: float = 0.0
    charger_total_wh: float = 0.0
    consumer_today_wh: float = 0.0
    consumer_total_wh: float = 0.0


@dataclass(frozen=True, slots=True)
class ActiveCondition:
    """A condition of the fault engine that is currently set."""

    condition: str  #: ConditionId value
    severity: Severity
    value: float
    threshold: float
    location: int = -1  #: cell, sensor or board index; -1 when pack-wide
    latched: bool = False
    since_s: float = NAN


@dataclass(frozen=True, slots=True)
class Event:
    """A raise or clear of a condition, or another state change worth a log line."""

    time_s: float
    kind: str  #: "raised" | "cleared" | "output" | "command" | ...
    condition: str
    severity: str
    value: float = NAN
    threshold: float = NAN
    location: int = -1
    message: str = ""
    seq: int = -1  #: position in the event log since the log began (kept across restarts); -1 = not logged


def event_from_dict(data: Mapping[str, Any]) -> Event | None:
    """An ``Event`` from its saved form (``dataclasses.asdict``); None if it is not one.

    Missing or null numbers become NaN (JSON has no NaN), unknown keys are ignored, so state files
    written by older or newer versions still load.
    """

    def num(key: str) -> float:
        v = data.get(key)
        return NAN if v is None else float(v)

    try:
        return Event(
            time_s=float(data["time_s"]),
            kind=str(data["kind"]),
            condition=str(data["condition"]),
            severity=str(data.get("severity", "")),
            value=num("value"),
            threshold=num("threshold"),
            location=int(data.get("location", -1)),
            message=str(data.get("message", "")),
            seq=int(data.get("seq", -1)),
        )
    except (KeyError, TypeError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class ContactorState:
    """A contactor or relay output: what was commanded and what its feedback says."""

    name: str
    commanded: bool
    feedback: bool | None  #: None when no feedback input is wired


def is_full(min_cell_v: float, vbalance_v: float, all_cells_fresh: bool) -> bool:
    """The one definition of "full" (123\\SmartBMS normal mode): every cell, read this cycle, at or
    above Vbalance (the measured voltage). The charge relay stops charging on it and the estimator
    sets SOC to 100 % on it, in the same cycle, so a pack that stopped charging reads 100 %.
    """
    return all_cells_fresh and min_cell_v == min_cell_v and min_cell_v >= vbalance_v


#: The 123\SmartBMS warning lights, bit n of ``ProtectionStatus.status_lights``: E = cell board
#: communication error, Vh / Vl = a cell at or beyond Vmax / Vmin, Th / Tl = a cell temperature
#: beyond the relay Tmax / Tmin -- exactly the relay table's disable terms, not the fault table's.
STATUS_LIGHTS: tuple[str, ...] = ("E", "Vh", "Vl", "Th", "Tl")


@dataclass(frozen=True, slots=True)
class ProtectionStatus:
    """Output of the protection / control stage."""

    state: ControlState = ControlState.INIT
    relay_mode: RelayMode = RelayMode.NORMAL
    charge_allowed: bool = False  #: the allow-charge relay output follows this
    discharge_allowed: bool = False  #: the allow-discharge relay output follows this
    active: tuple[ActiveCondition, ...] = ()
    fault_bits: int = 0  #: bit n set = ConditionId with bit n active at fault level
    warning_bits: int = 0
    contactors: tuple[ContactorState, ...] = ()
    cvl_v: float = 0.0
    ccl_a: float = 0.0
    dcl_a: float = 0.0
    balancing: tuple[bool, ...] = ()  #: per cell, DCC bit commanded
    heater_on: bool = False
    cooler_on: bool = False
    events: tuple[Event, ...] = ()  #: events raised in this cycle
    status_lights: int = 0  #: bit n = STATUS_LIGHTS[n] on (the 123 warning lights)
    #: discrete inputs (hardware.inputs, in config order): debounced, True = active
    inputs: tuple[bool, ...] = ()
    remote_off: bool = False  #: a remote_off input is active: everything is held open
    charger_present: bool | None = None  #: a charger_present input is active; None = no such input
    alarm_active: bool = False  #: the alarm wants to sound (a fault, or a warning with on_warnings)
    alarm_on: bool = False  #: the alarm output right now (its pattern's on phase)

    @property
    def allow_charge_relay(self) -> bool:
        """The allow-charge relay output (it is driven from ``charge_allowed``)."""
        return self.charge_allowed

    @property
    def allow_discharge_relay(self) -> bool:
        return self.discharge_allowed


@dataclass(frozen=True, slots=True)
class CycleTiming:
    """How the cycle kept time."""

    period_s: float  #: configured
    actual_period_s: float  #: start-to-start, clock time
    duration_s: float  #: wall time spent in software for this cycle
    overruns: int  #: cycles that took longer than the period, since start


@dataclass(frozen=True, slots=True)
class PackState:
    """One immutable snapshot per cycle; adapters only ever read these."""

    seq: int
    time_s: float
    wall_time: float
    measurement: Measurement
    estimate: EstimateStatus
    protection: ProtectionStatus
    timing: CycleTiming
    #: why a zero-current calibration would be refused now ("" = it may be taken); see
    #: bmsgateway.acquisition.calibration
    zero_calibration_refusal: str = "no measurement yet"
    #: the gain calibration's view (bmsgateway.acquisition.calibration.gain_refusal): the steady mean
    #: of the current sensor's reading (NaN when not steady), why it is not steady, and the range in use
    gain_steady_a: float = NAN
    gain_not_steady: str = "no measurement yet"
    current_range_in_use_a: float = NAN
    min_cell_v: float = field(init=False)
    min_cell_index: int = field(init=False)
    max_cell_v: float = field(init=False)
    max_cell_index: int = field(init=False)
    avg_cell_v: float = field(init=False)
    min_temperature_c: float = field(init=False)
    min_temperature_index: int = field(init=False)
    max_temperature_c: float = field(init=False)
    max_temperature_index: int = field(init=False)

    def __post_init__(self) -> None:
        lo, lo_i, hi, hi_i, avg = extremes(self.measurement.cell_voltages_v)
        tlo, tlo_i, thi, thi_i, _ = extremes(self.measurement.temperatures_c)
        for name, value in (
            ("min_cell_v", lo), ("min_cell_index", lo_i), ("max_cell_v", hi),
            ("max_cell_index", hi_i), ("avg_cell_v", avg), ("min_temperature_c", tlo),
            ("min_temperature_index", tlo_i), ("max_temperature_c", thi),
            ("max_temperature_index", thi_i),
        ):
            object.__setattr__(self, name, value)

    @property
    def pack_voltage_v(self) -> float:
        """Sum of cells when every cell is fresh, else the chips' measured sum (may be NaN)."""
        s = self.measurement.pack_voltage_sum_v
        return s if s == s else self.measurement.pack_voltage_measured_v

    @property
    def power_w(self) -> float:
        return self.pack_voltage_v * self.measurement.current_a

    @property
    def charger_power_w(self) -> float:
        """Power from the chargers / solar (two-sensor setups; NaN otherwise)."""
        return self.pack_voltage_v * self.measurement.charger_current_a

    @property
    def consumer_power_w(self) -> float:
        """Power drawn by the consumers (two-sensor setups; NaN otherwise)."""
        return self.pack_voltage_v * self.measurement.consumer_current_a

    @property
    def comm_ok(self) -> bool:
        return all(b.ok for b in self.measurement.boards)
