"""The flat bmsgateway register map (addresses 0..1925), for PLC programmers.

Why a fixed layout: a PLC program hard-codes addresses, so no address depends on the pack
configuration. Arrays have fixed slots (255 cells, 128 temperatures, 64 boards); slots beyond the
configured pack read as "not available". Every section is contiguous (spare words are reserved
and read 0), so a client may read any run of up to 125 words inside the map in one request.
Both function 03 (holding) and 04 (input) read the same words.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from bmsgateway import __version__
from bmsgateway.adapters.modbus.table import EncodeContext, Register, Value, constant, reserved
from bmsgateway.protection.ids import CONDITION_BITS
from bmsgateway.requests import COMMANDS
from bmsgateway.state import STATUS_LIGHTS, BalancingMode, ControlState, Output, PackState, RelayMode

__all__ = [
    "BMS_MAP_END",
    "COMMAND_CODES",
    "CONTROL_STATES",
    "MAP_VERSION",
    "MAX_BOARDS",
    "MAX_CELLS",
    "MAX_TEMPERATURES",
    "WRITE_BASE",
    "bms_registers",
]

MAP_VERSION = 1
MAX_CELLS = 255
MAX_TEMPERATURES = 128
MAX_BOARDS = 64
WRITE_BASE = 1000
BMS_MAP_END = 1926
#: per-cell learnt values (BMS Mini shows them per cell): resistance, capacity, learnt bitmap
CELL_RESISTANCE_BASE = 1100
CELL_CAPACITY_BASE = 1400
CELL_LEARNT_BASE = CELL_CAPACITY_BASE + 2 * MAX_CELLS

#: control state machine values (ProtectionStatus.state) as enum numbers.
# The numbering is the declaration order of the vocabulary enums (state.py), shared by every protocol.
CONTROL_STATES: tuple[str, ...] = tuple(ControlState)
RELAY_MODES: tuple[str, ...] = tuple(RelayMode)
BALANCING_MODES: tuple[str, ...] = tuple(BalancingMode)
#: value written to the command register -> request.
COMMAND_CODES: dict[int, str] = {c.code: c.command.value for c in COMMANDS.values()}

_CONDITION_DOC = tuple(sorted((bit, str(cond)) for cond, bit in CONDITION_BITS.items()))
_LIGHT_MEANING = {"E": "cell board communication error", "Vh": "a cell >= Vmax", "Vl": "a cell <= Vmin",
                  "Th": "a cell temperature > Tmax", "Tl": "a cell temperature < Tmin"}
_LIGHTS_DOC = tuple((n, f"{name}: {_LIGHT_MEANING[name]}") for n, name in enumerate(STATUS_LIGHTS))
OUTPUT_NAMES: tuple[str, ...] = tuple(Output)
_OUTPUT_DOC = tuple((i, name) for i, name in enumerate(OUTPUT_NAMES))


def _live(fn: Callable[[PackState], Value | Sequence[Value]]) -> Callable[[EncodeContext], Value | Sequence[Value]]:
    """A source that needs a snapshot; before the first one it reads as not available."""

    def source(ctx: EncodeContext) -> Value | Sequence[Value]:
        return None if ctx.state is None else fn(ctx.state)

    return source


def _two_sensors(fn: Callable[[PackState], Value]) -> Callable[[EncodeContext], Value | Sequence[Value]]:
    """A value of two-sensor setups: not available with one sensor (consumer_current_sensor.mode off)."""

    def source(ctx: EncodeContext) -> Value | Sequence[Value]:
        if ctx.state is None or not ctx.config.hardware.consumer_current_sensor.enabled:
            return None
        return fn(ctx.state)

    return source


def _number(index: int) -> int:
    """1-based number of a 0-based index (0 = none)."""
    return index + 1 if index >= 0 else 0


def _bool(flag: bool) -> int:
    return 1 if flag else 0


def _enum(choices: tuple[str, ...], value: str) -> int | None:
    return choices.index(value) if value in choices else None


def _outputs(s: PackState) -> tuple[int, int, int]:
    """(commanded, feedback closed, feedback wired) bitfields over OUTPUT_NAMES."""
    commanded = closed = wired = 0
    p = s.protection
    extra = {"allow_charge": p.allow_charge_relay, "allow_discharge": p.allow_discharge_relay,
             "heater": p.heater_on, "cooler": p.cooler_on, "alarm": p.alarm_on}
    for name, on in extra.items():
        if on:
            commanded |= 1 << OUTPUT_NAMES.index(name)
    for c in p.contactors:
        if c.name not in OUTPUT_NAMES:
            continue
        bit = 1 << OUTPUT_NAMES.index(c.name)
        if c.commanded:
            commanded |= bit
        if c.feedback is not None:
            wired |= bit
            if c.feedback:
                closed |= bit
    return commanded, closed, wired


def _balancing_words(s: PackState) -> list[int]:
    words = [0] * 16
    for i, on in enumerate(s.protection.balancing[:MAX_CELLS]):
        if on:
            words[i // 16] |= 1 << (i % 16)
    return words


def _board_status(s: PackState) -> list[int]:
    return [_bool(b.ok) | (2 if b.open_wires else 0) for b in s.measurement.boards[:MAX_BOARDS]]


def _cell_delta(s: PackState) -> float:
    return s.max_cell_v - s.min_cell_v


def _version_part(i: int) -> int | None:
    parts = __version__.split(".")
    try:
        return int(parts[i])
    except (IndexError, ValueError):
        return None


def _identity() -> list[Register]:
    g = "Identity"
    return [
        Register(0, "map_version", "u16", "version of this register map layout", constant(MAP_VERSION), group=g),
        Register(1, "firmware_version", "string", "bmsgateway version, ASCII, NUL padded",
                 constant(__version__), size=8, group=g),
        Register(9, "firmware_major", "u16", "version major number", constant(_version_part(0)), group=g),
        Register(10, "firmware_minor", "u16", "version minor number", constant(_version_part(1)), group=g),
        Register(11, "firmware_patch", "u16", "version patch number", constant(_version_part(2)), group=g),
        Register(12, "uptime_s", "u32", "seconds since the daemon started", lambda c: c.uptime_s, "s", group=g),
        Register(14, "snapshot_seq", "u32", "sequence number of the snapshot served (changes every cycle)",
                 _live(lambda s: s.seq), group=g),
        Register(16, "cell_count", "u16", "cells in the pack", lambda c: c.config.pack.cell_count, group=g),
        Register(17, "temperature_count", "u16", "thermistors in the pack",
                 lambda c: c.config.pack.thermistor_count, group=g),
        Register(18, "board_count", "u16", "cell-monitor boards in the chain",
                 lambda c: len(c.config.pack.boards), group=g),
        reserved(19, 1, g),
    ]


def _pack() -> list[Register]:
    g = "Pack"
    m = "cell number (1-based, 0 = none)"
    return [
        Register(20, "pack_voltage_v", "u32", "pack voltage (sum of cells)", _live(lambda s: s.pack_voltage_v),
                 "V", 0.001, group=g),
        Register(22, "current_a", "s32", "pack current, positive = charging",
                 _live(lambda s: s.measurement.current_a), "A", 0.001, group=g),
        Register(24, "power_w", "s32", "pack power, positive = charging", _live(lambda s: s.power_w), "W", group=g),
        Register(26, "soc_pct", "u16", "state of charge", _live(lambda s: s.estimate.soc_pct), "%", 0.1, group=g),
        Register(27, "soh_pct", "u16", "state of health", _live(lambda s: s.estimate.soh_pct), "%", 0.1, group=g),
        Register(28, "dod_pct", "u16", "depth of discharge", _live(lambda s: s.estimate.dod_pct), "%", 0.1, group=g),
        Register(29, "capacity_ah", "u32", "estimated usable capacity",
                 _live(lambda s: s.estimate.capacity_ah), "Ah", 0.01, group=g),
        Register(31, "rated_capacity_ah", "u32", "rated capacity (config pack.capacity_ah)",
                 lambda c: c.config.pack.capacity_ah, "Ah", 0.01, group=g),
        Register(33, "capacity_wh", "u32", "estimated usable energy",
                 _live(lambda s: s.estimate.capacity_wh), "Wh", group=g),
        Register(35, "min_cell_v", "u16", "lowest cell voltage", _live(lambda s: s.min_cell_v), "V", 0.001, group=g),
        Register(36, "min_cell_number", "u16", f"{m} of the lowest cell",
                 _live(lambda s: _number(s.min_cell_index)), group=g),
        Register(37, "max_cell_v", "u16", "highest cell voltage", _live(lambda s: s.max_cell_v), "V", 0.001, group=g),
        Register(38, "max_cell_number", "u16", f"{m} of the highest cell",
                 _live(lambda s: _number(s.max_cell_index)), group=g),
        Register(39, "avg_cell_v", "u16", "average cell voltage", _live(lambda s: s.avg_cell_v), "V", 0.001, group=g),
        Register(40, "cell_delta_v", "u16", "highest minus lowest cell voltage", _live(_cell_delta),
                 "V", 0.001, group=g),
        Register(41, "min_temperature_c", "s16", "lowest thermistor temperature",
                 _live(lambda s: s.min_temperature_c), "°C", 0.1, group=g),
        Register(42, "min_temperature_number", "u16", "sensor number (1-based, 0 = none) of the lowest",
                 _live(lambda s: _number(s.min_temperature_index)), group=g),
        Register(43, "max_temperature_c", "s16", "highest thermistor temperature",
                 _live(lambda s: s.max_temperature_c), "°C", 0.1, group=g),
        Register(44, "max_temperature_number", "u16", "sensor number (1-based, 0 = none) of the highest",
                 _live(lambda s: _number(s.max_temperature_index)), group=g),
        Register(45, "bus_voltage_v", "u32", "load-side (bus) voltage behind the contactors",
                 _live(lambda s: s.measurement.bus_voltage_v), "V", 0.001, group=g),
        Register(47, "soc_sigma_pct", "u16", "1-sigma uncertainty of soc_pct (percentage points)",
                 _live(lambda s: s.estimate.soc_sigma_pct), "%", 0.1, group=g),
        Register(48, "stored_energy_wh", "u32", "energy the pack can still deliver (remaining, from the OCV curve)",
                 _live(lambda s: s.estimate.stored_energy_wh), "Wh", group=g),
        reserved(50, 10, g),
    ]


def _status() -> list[Register]:
    g = "Status and control"
    state_doc = tuple(enumerate(CONTROL_STATES))
    return [
        Register(60, "fault_bits", "bitfield32", "conditions active at fault level (bit = condition)",
                 _live(lambda s: s.protection.fault_bits), bits=_CONDITION_DOC, group=g),
        Register(62, "warning_bits", "bitfield32", "conditions active at warning level (same bits)",
                 _live(lambda s: s.protection.warning_bits), bits=_CONDITION_DOC, group=g),
        Register(64, "active_condition_count", "u16", "number of active conditions (faults and warnings)",
                 _live(lambda s: len(s.protection.active)), group=g),
        Register(65, "control_state", "enum16", "contactor control state",
                 _live(lambda s: _enum(CONTROL_STATES, s.protection.state)), enum=state_doc, group=g),
        Register(66, "relay_mode_active", "enum16", "relay mode in use",
                 _live(lambda s: _enum(RELAY_MODES, s.protection.relay_mode)),
                 enum=tuple(enumerate(RELAY_MODES)), group=g),
        Register(67, "charge_allowed", "u16", "1 = charging allowed",
                 _live(lambda s: _bool(s.protection.charge_allowed)), group=g),
        Register(68, "discharge_allowed", "u16", "1 = discharging allowed",
                 _live(lambda s: _bool(s.protection.discharge_allowed)), group=g),
        Register(69, "outputs_commanded", "bitfield16", "outputs (contactors, relays) commanded on",
                 _live(lambda s: _outputs(s)[0]), bits=_OUTPUT_DOC, group=g),
        Register(70, "outputs_feedback_closed", "bitfield16", "auxiliary contacts reading closed",
                 _live(lambda s: _outputs(s)[1]), bits=_OUTPUT_DOC, group=g),
        Register(71, "outputs_feedback_wired", "bitfield16", "outputs that have a feedback input",
                 _live(lambda s: _outputs(s)[2]), bits=_OUTPUT_DOC, group=g),
        Register(72, "cvl_v", "u16", "charge voltage limit for the inverter", _live(lambda s: s.protection.cvl_v),
                 "V", 0.1, group=g),
        Register(73, "ccl_a", "u16", "charge current limit", _live(lambda s: s.protection.ccl_a), "A", 0.1, group=g),
        Register(74, "dcl_a", "u16", "discharge current limit", _live(lambda s: s.protection.dcl_a), "A", 0.1,
                 group=g),
        Register(75, "comm_ok", "u16", "1 = every board read correctly this cycle", _live(lambda s: _bool(s.comm_ok)),
                 group=g),
        Register(76, "balancing_count", "u16", "cells being balanced",
                 _live(lambda s: sum(1 for b in s.protection.balancing if b)), group=g),
        Register(77, "soc_calibrated", "u16", "1 = SOC was calibrated at a full or empty point",
                 _live(lambda s: _bool(s.estimate.soc_calibrated)), group=g),
        Register(78, "cycle_overruns", "u32", "pack cycles that took longer than the period",
                 _live(lambda s: s.timing.overruns), group=g),
        Register(80, "cycle_duration_s", "u16", "software time of the last pack cycle",
                 _live(lambda s: s.timing.duration_s), "s", 0.0001, group=g),
        Register(81, "status_lights", "bitfield16",
                 "the 123\\SmartBMS warning lights at the relay thresholds (Vmax/Vmin of pack.chemistry, "
                 "Tmax/Tmin of protection.relays)",
                 _live(lambda s: s.protection.status_lights),
                 bits=_LIGHTS_DOC, group=g),
        reserved(82, 8, g),
        *_discrete_io(g),
        reserved(96, 4, g),
    ]


def _bits(flags: Sequence[bool]) -> int:
    return sum(1 << k for k, on in enumerate(flags[:16]) if on)


def _discrete_io(g: str) -> list[Register]:
    """Discrete inputs (hardware.inputs) and the alarm output (protection.alarm)."""
    inputs_doc = tuple((k, f"input {k + 1} (hardware.inputs[{k}])") for k in range(16))
    return [
        Register(90, "inputs_active", "bitfield16", "discrete inputs active now (debounced, polarity applied)",
                 _live(lambda s: _bits(s.protection.inputs)), bits=inputs_doc, group=g),
        Register(91, "inputs_configured", "bitfield16", "discrete inputs configured (hardware.inputs)",
                 lambda c: _bits([True] * len(c.config.hardware.inputs)), bits=inputs_doc, group=g),
        Register(92, "remote_off", "u16", "1 = a remote_off input holds every contactor and relay open",
                 _live(lambda s: _bool(s.protection.remote_off)), group=g),
        Register(93, "charger_present", "u16", "1 = a charger_present input is active (not available: no such "
                 "input)", _live(lambda s: None if s.protection.charger_present is None
                                 else _bool(s.protection.charger_present)), group=g),
        Register(94, "alarm_active", "u16", "1 = the alarm is active (an active fault, remote off excluded; "
                 "stays 1 while silenced)",
                 _live(lambda s: _bool(s.protection.alarm_active)), group=g),
        Register(95, "alarm_output", "u16", "1 = the alarm output is on right now (its pattern's on phase)",
                 _live(lambda s: _bool(s.protection.alarm_on)), group=g),
    ]


def _counters() -> list[Register]:
    g = "Counters"
    est = "estimate"
    return [
        Register(100, "charge_in_ah", "u32", "charge into the pack (resettable)",
                 _live(lambda s: s.estimate.charge_in_ah), "Ah", 0.01, group=g),
        Register(102, "charge_out_ah", "u32", "charge out of the pack (resettable)",
                 _live(lambda s: s.estimate.charge_out_ah), "Ah", 0.01, group=g),
        Register(104, "energy_in_wh", "u32", "energy into the pack (resettable)",
                 _live(lambda s: s.estimate.energy_in_wh), "Wh", group=g),
        Register(106, "energy_out_wh", "u32", "energy out of the pack (resettable)",
                 _live(lambda s: s.estimate.energy_out_wh), "Wh", group=g),
        Register(108, "today_in_wh", "u32", "energy in today", _live(lambda s: s.estimate.today_in_wh), "Wh",
                 group=g),
        Register(110, "today_out_wh", "u32", "energy out today", _live(lambda s: s.estimate.today_out_wh), "Wh",
                 group=g),
        Register(112, "balancing_energy_wh", "u32", "energy burnt in balancing resistors",
                 _live(lambda s: s.estimate.balancing_energy_wh), "Wh", 0.01, group=g),
        Register(114, "equivalent_cycles", "u32", "full equivalent cycles",
                 _live(lambda s: s.estimate.equivalent_cycles), "", 0.01, group=g),
        Register(116, "cycle_count", "u32", "full equivalent cycles, whole number",
                 _live(lambda s: math.floor(s.estimate.equivalent_cycles)), group=g),
        Register(118, "current_zero_offset_a", "s16", f"current sensor zero offset ({est})",
                 _live(lambda s: s.measurement.current_zero_offset_a), "A", 0.001, group=g),
        *_current_sensors(),
    ]


def _current_sensors() -> list[Register]:
    """Issue 17: the second (consumer-side) sensor's figures, the dual range and the gain calibration."""
    g = "Counters"
    two = "two-sensor setups (hardware.consumer_current_sensor), else not available"
    return [
        Register(119, "current_gain", "u16", "gain factor of the current sensor (gain calibration; 1 = none)",
                 _live(lambda s: s.measurement.current_gain), "", 0.0001, group=g),
        Register(120, "charger_current_a", "s32", f"current from the chargers / solar; {two}",
                 _two_sensors(lambda s: s.measurement.charger_current_a), "A", 0.001, group=g),
        Register(122, "consumer_current_a", "s32", f"current drawn by the consumers; {two}",
                 _two_sensors(lambda s: s.measurement.consumer_current_a), "A", 0.001, group=g),
        Register(124, "charger_power_w", "s32", f"power from the chargers / solar; {two}",
                 _two_sensors(lambda s: s.charger_power_w), "W", group=g),
        Register(126, "consumer_power_w", "s32", f"power drawn by the consumers; {two}",
                 _two_sensors(lambda s: s.consumer_power_w), "W", group=g),
        Register(128, "charger_today_kwh", "u32", f"energy from the chargers / solar since local midnight; {two}",
                 _two_sensors(lambda s: s.estimate.charger_today_wh / 1000.0), "kWh", 0.001, group=g),
        Register(130, "charger_total_kwh", "u32", f"energy from the chargers / solar (resettable); {two}",
                 _two_sensors(lambda s: s.estimate.charger_total_wh / 1000.0), "kWh", 0.001, group=g),
        Register(132, "consumer_today_kwh", "u32", f"energy to the consumers since local midnight; {two}",
                 _two_sensors(lambda s: s.estimate.consumer_today_wh / 1000.0), "kWh", 0.001, group=g),
        Register(134, "consumer_total_kwh", "u32", f"energy to the consumers (resettable); {two}",
                 _two_sensors(lambda s: s.estimate.consumer_total_wh / 1000.0), "kWh", 0.001, group=g),
        Register(136, "current_low_range", "u16", "1 = the dual-range current sensor reads from its low range",
                 _live(lambda s: _bool(s.measurement.current_low_range)), group=g),
        Register(137, "consumer_zero_offset_a", "s16", f"consumer-side sensor zero offset; {two}",
                 _two_sensors(lambda s: s.measurement.consumer_zero_offset_a), "A", 0.001, group=g),
        reserved(138, 2, g),
    ]


def _arrays() -> list[Register]:
    return [
        Register(140, "balancing_bitmap", "bitfield16", "DCC bit per cell: word k bit n = cell 16k+n+1",
                 _live(_balancing_words), count=16, group="Balancing"),
        reserved(156, 44, "Balancing"),
        Register(200, "cell_voltage_v", "u16", f"cell 1..{MAX_CELLS} voltage (pack-wide, bottom cell first)",
                 _live(lambda s: s.measurement.cell_voltages_v[:MAX_CELLS]), "V", 0.001, count=MAX_CELLS,
                 group="Cells"),
        reserved(200 + MAX_CELLS, 500 - 200 - MAX_CELLS, "Cells"),
        Register(500, "temperature_c", "s16", f"thermistor 1..{MAX_TEMPERATURES} (board 0 first, GPIO1 first)",
                 _live(lambda s: s.measurement.temperatures_c[:MAX_TEMPERATURES]), "°C", 0.1,
                 count=MAX_TEMPERATURES, group="Temperatures"),
        Register(500 + MAX_TEMPERATURES, "board_die_temperature_c", "s16",
                 f"board 1..{MAX_BOARDS}: the monitor chip's die temperature (the board temperature)",
                 _live(lambda s: [b.die_temperature_c for b in s.measurement.boards[:MAX_BOARDS]]), "°C", 0.1,
                 count=MAX_BOARDS, group="Temperatures"),
        reserved(500 + MAX_TEMPERATURES + MAX_BOARDS, 700 - 500 - MAX_TEMPERATURES - MAX_BOARDS, "Temperatures"),
        Register(700, "board_status", "bitfield16", f"board 1..{MAX_BOARDS}: communication status",
                 _live(_board_status), count=MAX_BOARDS, bits=((0, "read ok this cycle"), (1, "open wire found")),
                 group="Boards"),
        Register(764, "board_pec_errors", "u32", "PEC errors since start, per board",
                 _live(lambda s: [b.pec_errors_total for b in s.measurement.boards[:MAX_BOARDS]]),
                 count=MAX_BOARDS, group="Boards"),
        Register(892, "board_failed_cycles", "u16", "consecutive cycles with a failed read, per board",
                 _live(lambda s: [b.failed_cycles for b in s.measurement.boards[:MAX_BOARDS]]),
                 count=MAX_BOARDS, group="Boards"),
        reserved(956, 44, "Boards"),
    ]


def _writable() -> list[Register]:
    g = "Settings and commands (writable)"
    cmd_doc = tuple(COMMAND_CODES.items())
    return [
        Register(WRITE_BASE, "unlock_pin", "u16", "write the PIN to unlock writes; reads 0",
                 constant(0), access="rw", minimum=0, maximum=9999, command="pin", group=g),
        Register(WRITE_BASE + 1, "unlock_remaining_s", "u16", "seconds until writes lock again (0 = locked)",
                 constant(0), "s", group=g),
        Register(WRITE_BASE + 2, "command", "u16", "write a command code; reads 0 (calibrate_current_gain needs its "
                 "reference current: write register 1005 calibrate_current_gain instead)", constant(0), access="rw",
                 minimum=1, maximum=max(COMMAND_CODES), command="command", enum=cmd_doc, group=g),
        Register(WRITE_BASE + 3, "change_pin", "u32",
                 "change the PIN: write both words in one request, high word = the current PIN, low word = "
                 "the new PIN (0..9999); needs no unlock, a wrong current PIN locks; reads 0",
                 constant(0), access="rw", command="change_pin", group=g),
        Register(WRITE_BASE + 5, "calibrate_current_gain", "s32",
                 "gain calibration: write the known reference current (A, positive = charging) flowing through "
                 "the current sensor now, both words in one request (needs the unlock); refused with 03 unless "
                 "the reading is steady, the reference large enough and the correction within "
                 "hardware.current_sensor.gain_max_correction_pct; reads 0",
                 constant(0), "A", 0.001, access="rw", minimum=-20000.0, maximum=20000.0,
                 command="calibrate_gain", group=g),
        reserved(WRITE_BASE + 7, 3, g),
        Register(1010, "vmin_v", "u16", "cell minimum voltage (pack.chemistry.vmin_v)",
                 lambda c: c.config.pack.limits.vmin_v, "V", 0.001, "rw", config_key="pack.chemistry.vmin_v", group=g),
        Register(1011, "vbalance_v", "u16", "balancing start voltage (pack.chemistry.vbalance_v)",
                 lambda c: c.config.pack.limits.vbalance_v, "V", 0.001, "rw",
                 config_key="pack.chemistry.vbalance_v", group=g),
        Register(1012, "vmax_v", "u16", "cell maximum voltage (pack.chemistry.vmax_v)",
                 lambda c: c.config.pack.limits.vmax_v, "V", 0.001, "rw", config_key="pack.chemistry.vmax_v", group=g),
        Register(1013, "relay_mode", "enum16", "relay mode (protection.relays.mode)",
                 lambda c: RELAY_MODES.index(c.config.protection.relays.mode), access="rw", minimum=0,
                 maximum=len(RELAY_MODES) - 1, config_key="protection.relays.mode", choices=RELAY_MODES,
                 enum=tuple(enumerate(RELAY_MODES)), group=g),
        Register(1014, "charge_restart_soc_pct", "u16", "SOC below which charging is allowed again",
                 lambda c: c.config.protection.relays.charge_restart_soc_pct, "%", 0.1, "rw",
                 config_key="protection.relays.charge_restart_soc_pct", group=g),
        Register(1015, "discharge_restart_soc_pct", "u16", "SOC above which discharging is allowed again",
                 lambda c: c.config.protection.relays.discharge_restart_soc_pct, "%", 0.1, "rw",
                 config_key="protection.relays.discharge_restart_soc_pct", group=g),
        Register(1016, "relay_tmin_c", "s16", "relay minimum temperature (protection.relays.tmin_c)",
                 lambda c: c.config.protection.relays.tmin_c, "°C", 0.1, "rw",
                 config_key="protection.relays.tmin_c", group=g),
        Register(1017, "relay_tmax_c", "s16", "relay maximum temperature (protection.relays.tmax_c)",
                 lambda c: c.config.protection.relays.tmax_c, "°C", 0.1, "rw",
                 config_key="protection.relays.tmax_c", group=g),
        Register(1018, "pack_capacity_ah", "u32", "rated capacity (pack.capacity_ah)",
                 lambda c: c.config.pack.capacity_ah, "Ah", 0.1, "rw", config_key="pack.capacity_ah", group=g),
        Register(1020, "balancing_mode", "enum16", "balancing mode (protection.balancing.mode)",
                 lambda c: BALANCING_MODES.index(c.config.protection.balancing.mode), access="rw", minimum=0,
                 maximum=len(BALANCING_MODES) - 1, config_key="protection.balancing.mode",
                 choices=BALANCING_MODES, enum=tuple(enumerate(BALANCING_MODES)), group=g),
        Register(1021, "balancing_start_delta_v", "u16", "cell delta that starts balancing",
                 lambda c: c.config.protection.balancing.start_delta_v, "V", 0.001, "rw",
                 config_key="protection.balancing.start_delta_v", group=g),
        Register(1022, "balancing_stop_delta_v", "u16", "cell delta that stops balancing",
                 lambda c: c.config.protection.balancing.stop_delta_v, "V", 0.001, "rw",
                 config_key="protection.balancing.stop_delta_v", group=g),
        Register(1023, "balancing_max_board_temperature_c", "s16", "no balancing above this board temperature",
                 lambda c: c.config.protection.balancing.max_board_temperature_c, "°C", 0.1, "rw",
                 config_key="protection.balancing.max_board_temperature_c", group=g),
        Register(1024, "balancing_max_cells_per_chip", "u16", "cells balanced at once per chip",
                 lambda c: c.config.protection.balancing.max_cells_per_chip, access="rw",
                 config_key="protection.balancing.max_cells_per_chip", group=g),
    ]


def _learnt_words(s: PackState) -> list[int]:
    words = [0] * 16
    for i, learnt in enumerate(s.estimate.cell_capacity_learnt[:MAX_CELLS]):
        if learnt:
            words[i // 16] |= 1 << (i % 16)
    return words


def _cell_learnt() -> list[Register]:
    """What the estimator learnt per cell (it also shows in ``replay --json`` and the state file)."""
    g = "Cell resistance and capacity"
    return [
        reserved(1025, CELL_RESISTANCE_BASE - 1025, "Settings and commands (writable)"),
        Register(CELL_RESISTANCE_BASE, "cell_resistance_ohm", "u16",
                 f"cell 1..{MAX_CELLS}: learnt internal (ohmic) resistance R0",
                 _live(lambda s: s.estimate.cell_resistance_ohm[:MAX_CELLS]), "Ω", 0.00001, count=MAX_CELLS,
                 group=g),
        reserved(CELL_RESISTANCE_BASE + MAX_CELLS, CELL_CAPACITY_BASE - CELL_RESISTANCE_BASE - MAX_CELLS, g),
        Register(CELL_CAPACITY_BASE, "cell_capacity_ah", "u32",
                 f"cell 1..{MAX_CELLS}: capacity (learnt; the rated value until learnt, see cell_capacity_learnt)",
                 _live(lambda s: s.estimate.cell_capacity_ah[:MAX_CELLS]), "Ah", 0.01, count=MAX_CELLS, group=g),
        Register(CELL_LEARNT_BASE, "cell_capacity_learnt", "bitfield16",
                 "1 = the cell's capacity is learnt: word k bit n = cell 16k+n+1",
                 _live(_learnt_words), count=16, group=g),
    ]


def bms_registers() -> list[Register]:
    """Every row of the bmsgateway map, addresses 0..``BMS_MAP_END - 1``."""
    rows = _identity() + _pack() + _status() + _counters() + _arrays() + _writable() + _cell_learnt()
    rows.sort(key=lambda r: r.address)
    expected = 0
    for r in rows:
        if r.address != expected:
            raise AssertionError(f"gap or overlap before {r.name}@{r.address} (expected {expected})")
        expected = r.end
    if expected != BMS_MAP_END:
        raise AssertionError(f"map ends at {expected}, expected {BMS_MAP_END}")
    return rows
