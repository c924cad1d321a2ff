"""The fault table: every condition spec built from the config, and its Markdown rendering.

Why here and only here: the engine, the event messages and ``docs/faults.md`` all come from this
one function, so the documentation cannot drift from what the daemon does. Regenerate the docs
with ``python -m bmsgateway.protection.faultdoc > docs/faults.md`` (a test checks they are equal).
"""

from __future__ import annotations

from bmsgateway.config.model import Config
from bmsgateway.config.protection import Level
from bmsgateway.protection.engine import Blocks, ConditionSpec
from bmsgateway.protection.ids import CONDITION_BITS, ConditionId
from bmsgateway.state import Severity

__all__ = ["build_condition_table", "render_faults_markdown"]

W = Severity.WARNING
F = Severity.FAULT
C = ConditionId


#: The value each row compares with its thresholds: a ``Measurement`` field, a
#: ``PlausibilityReport`` field (``bmsgateway.acquisition.plausibility``) or a derived quantity.
#: Every row must be listed (building the table raises KeyError otherwise).
INPUTS: dict[str, str] = {
    "cell_over_voltage.warning": "measurement.cell_voltages_v",
    "cell_over_voltage.fault": "measurement.cell_voltages_v",
    "cell_under_voltage.warning": "measurement.cell_voltages_v",
    "cell_under_voltage.fault": "measurement.cell_voltages_v",
    "pack_over_voltage.warning": "plausibility.pack_voltage_v",
    "pack_over_voltage.fault": "plausibility.pack_voltage_v",
    "pack_under_voltage.warning": "plausibility.pack_voltage_v",
    "pack_under_voltage.fault": "plausibility.pack_voltage_v",
    **{f"{c}.{lvl}": "measurement.temperatures_c" for c in (
        "charge_over_temperature", "charge_under_temperature", "discharge_over_temperature",
        "discharge_under_temperature") for lvl in ("warning", "fault")},
    **{f"charge_over_current.{lvl}": "measurement.current_a" for lvl in ("warning", "fault", "peak")},
    **{f"discharge_over_current.{lvl}": "-measurement.current_a" for lvl in ("warning", "fault", "peak")},
    "short_circuit.fault": "|measurement.current_a|",
    "cell_imbalance.warning": "max - min of measurement.cell_voltages_v",
    "cell_imbalance.fault": "max - min of measurement.cell_voltages_v",
    "communication_lost.warning": "measurement.boards[].failed_cycles",
    "communication_lost.fault": "measurement.boards[].failed_cycles",
    "communication_lost.stale": "measurement.cell_age_s, temperature_age_s (oldest per board)",
    "communication_lost.current": "measurement.current_age_s",
    "open_sense_wire.fault": "measurement.open_wire_cells",
    "cell_voltage_implausible.fault": "plausibility.implausible_cells",
    "pack_voltage_implausible.warning": "|sum of cells - plausibility.pack_voltage_measured_v|",
    "pack_voltage_implausible.fault": "|sum of cells - plausibility.pack_voltage_measured_v|",
    "thermistor_fault.fault": "plausibility.bad_thermistors",
    "thermistor_fault.board": "plausibility.boards_without_temperature",
    "thermistor_fault.pack": "plausibility.pack_without_temperature",
    "current_sensor_stuck.fault": "plausibility.current_unexplained_a",
    "contactor_welded.fault": "contactor feedback: s since the open command",
    "contactor_failed_to_close.fault": "contactor feedback: s since the close command",
    "precharge_failed.fault": "measurement.bus_voltage_v / plausibility.pack_voltage_v",
    "precharge_failed.bus_high": "plausibility.bus_above_pack",
    "adc_fault.fault": "measurement.boards[].adc_fault (lost/stalled/frozen conversion, self test)",
    "chain_configuration.fault": "measurement.chain_faults",
    "chip_voltage_flag.over": "measurement.chip_ov_cells (the chips' own VOV comparators)",
    "chip_voltage_flag.under": "measurement.chip_uv_cells (the chips' own VUV comparators)",
    "loop_overrun.warning": "timing.duration_s / period_s",
    "loop_overrun.fault": "timing.actual_period_s / period_s",
    "emergency_stop.input": "hardware.inputs with function emergency_stop (debounced)",
    "remote_off.input": "hardware.inputs with function remote_off (debounced)",
}


def _from_level(
    key: str, cond: ConditionId, sev: Severity, above: bool, lvl: Level, blocks: Blocks, unit: str,
    location: str, description: str, latched: bool = False,
) -> ConditionSpec:
    return ConditionSpec(
        key=key, condition=cond, severity=sev, above=above, set_threshold=lvl.set,
        set_delay_s=lvl.set_delay_s, clear_threshold=lvl.clear, clear_delay_s=lvl.clear_delay_s,
        latched=latched, blocks=blocks if sev is F else Blocks.NONE, unit=unit, location=location,
        description=description, input=INPUTS[key],
    )


def build_condition_table(config: Config) -> tuple[ConditionSpec, ...]:
    """Every condition spec for ``config`` (order = docs order)."""
    p = config.protection
    lim = config.pack.limits
    n = config.pack.cell_count
    cv = p.cell_voltage
    pv = p.pack_voltage
    specs: list[ConditionSpec] = []

    def add(key: str, cond: ConditionId, sev: Severity, above: bool, set_: float, set_delay_s: float,
            clear: float, clear_delay_s: float, blocks: Blocks, unit: str, location: str,
            description: str, latched: bool = False) -> None:
        specs.append(ConditionSpec(
            key=key, condition=cond, severity=sev, above=above, set_threshold=set_,
            set_delay_s=set_delay_s, clear_threshold=clear, clear_delay_s=clear_delay_s,
            latched=latched, blocks=blocks if sev is F else Blocks.NONE, unit=unit,
            location=location, description=description, input=INPUTS[key],
        ))

    # cell voltage
    ovw = lim.vmax_v - cv.ov_warning_margin_v
    ovf = lim.vmax_v + cv.ov_fault_margin_v
    uvw = lim.vmin_v + cv.uv_warning_margin_v
    uvf = lim.vmin_v - cv.uv_fault_margin_v
    h = cv.hysteresis_v
    add("cell_over_voltage.warning", C.CELL_OVER_VOLTAGE, W, True, ovw, cv.warning_delay_s, ovw - h,
        cv.clear_delay_s, Blocks.NONE, "V", "cell", "cell voltage near Vmax")
    add("cell_over_voltage.fault", C.CELL_OVER_VOLTAGE, F, True, ovf, cv.fault_delay_s, ovf - h,
        cv.clear_delay_s, Blocks.CHARGE, "V", "cell", "cell voltage above Vmax", cv.latch_faults)
    add("cell_under_voltage.warning", C.CELL_UNDER_VOLTAGE, W, False, uvw, cv.warning_delay_s, uvw + h,
        cv.clear_delay_s, Blocks.NONE, "V", "cell", "cell voltage near Vmin")
    add("cell_under_voltage.fault", C.CELL_UNDER_VOLTAGE, F, False, uvf, cv.fault_delay_s, uvf + h,
        cv.clear_delay_s, Blocks.DISCHARGE, "V", "cell", "cell voltage below Vmin", cv.latch_faults)

    # pack voltage
    add("pack_over_voltage.warning", C.PACK_OVER_VOLTAGE, W, True, n * (lim.vmax_v - pv.ov_warning_margin_v),
        pv.warning_delay_s, n * (lim.vmax_v - pv.ov_warning_margin_v - pv.hysteresis_v), pv.clear_delay_s,
        Blocks.NONE, "V", "pack", "pack voltage near cells x Vmax")
    add("pack_over_voltage.fault", C.PACK_OVER_VOLTAGE, F, True, n * (lim.vmax_v + pv.ov_fault_margin_v),
        pv.fault_delay_s, n * (lim.vmax_v + pv.ov_fault_margin_v - pv.hysteresis_v), pv.clear_delay_s,
        Blocks.CHARGE, "V", "pack", "pack voltage above cells x Vmax")
    add("pack_under_voltage.warning", C.PACK_UNDER_VOLTAGE, W, False,
        n * (lim.vmin_v + pv.uv_warning_margin_v), pv.warning_delay_s,
        n * (lim.vmin_v + pv.uv_warning_margin_v + pv.hysteresis_v), pv.clear_delay_s,
        Blocks.NONE, "V", "pack", "pack voltage near cells x Vmin")
    add("pack_under_voltage.fault", C.PACK_UNDER_VOLTAGE, F, False, n * (lim.vmin_v - pv.uv_fault_margin_v),
        pv.fault_delay_s, n * (lim.vmin_v - pv.uv_fault_margin_v + pv.hysteresis_v), pv.clear_delay_s,
        Blocks.DISCHARGE, "V", "pack", "pack voltage below cells x Vmin")

    # temperature (per thermistor)
    t = p.temperature
    for cond, pair, above, blocks, what in (
        (C.CHARGE_OVER_TEMPERATURE, t.charge_over, True, Blocks.CHARGE, "too hot to charge"),
        (C.CHARGE_UNDER_TEMPERATURE, t.charge_under, False, Blocks.CHARGE, "too cold to charge"),
        (C.DISCHARGE_OVER_TEMPERATURE, t.discharge_over, True, Blocks.DISCHARGE, "too hot to discharge"),
        (C.DISCHARGE_UNDER_TEMPERATURE, t.discharge_under, False, Blocks.DISCHARGE, "too cold to discharge"),
    ):
        specs.append(_from_level(f"{cond.value}.warning", cond, W, above, pair.warning, blocks, "°C",
                                 "sensor", f"cell temperature nearly {what}"))
        specs.append(_from_level(f"{cond.value}.fault", cond, F, above, pair.fault, blocks, "°C",
                                 "sensor", f"cell temperature {what}"))

    # current (magnitudes; charge = positive current, discharge = negative current)
    cur = p.current
    for cond, d, blocks, what in (
        (C.CHARGE_OVER_CURRENT, cur.charge, Blocks.CHARGE, "charge"),
        (C.DISCHARGE_OVER_CURRENT, cur.discharge, Blocks.DISCHARGE, "discharge"),
    ):
        specs.append(_from_level(f"{cond.value}.warning", cond, W, True, d.warning, blocks, "A", "pack",
                                 f"{what} current above its continuous limit"))
        specs.append(_from_level(f"{cond.value}.fault", cond, F, True, d.fault, blocks, "A", "pack",
                                 f"{what} current above its continuous limit"))
        add(f"{cond.value}.peak", cond, F, True, d.peak_a, d.peak_delay_s, d.fault.clear, d.fault.clear_delay_s,
            blocks, "A", "pack", f"{what} current above its peak limit", latched=True)
    add("short_circuit.fault", C.SHORT_CIRCUIT, F, True, cur.short_circuit_a, 0.0, 0.1 * cur.short_circuit_a,
        1.0, Blocks.BOTH, "A", "pack", "short circuit: |current| above the short-circuit limit", latched=True)

    # imbalance
    im = p.imbalance
    specs.append(_from_level("cell_imbalance.warning", C.CELL_IMBALANCE, W, True, im.levels.warning,
                             Blocks.NONE, "V", "pack", "highest minus lowest cell voltage"))
    specs.append(_from_level("cell_imbalance.fault", C.CELL_IMBALANCE, F, True, im.levels.fault,
                             Blocks.CHARGE if im.fault_blocks_charge else Blocks.NONE, "V", "pack",
                             "highest minus lowest cell voltage"))

    # communication
    period = config.system.cycle_period_s
    add("communication_lost.warning", C.COMMUNICATION_LOST, W, True, float(p.communication.warning_cycles),
        0.0, 0.0, 2.0, Blocks.NONE, "cycles", "board", "board reads failing (PEC errors or silence)")
    add("communication_lost.fault", C.COMMUNICATION_LOST, F, True, float(p.comm_loss_cycles + 1), 0.0, 0.0,
        5.0, Blocks.BOTH, "cycles", "board",
        f"board failed more than comm_loss_cycles = {p.comm_loss_cycles} cycles in a row")
    add("communication_lost.stale", C.COMMUNICATION_LOST, F, True, p.max_value_age_s, 0.0,
        min(p.max_value_age_s, 2 * period), 5.0, Blocks.BOTH, "s", "board",
        "a cell voltage (or a temperature of a failing board) is older than max_value_age_s")
    cs_age = config.hardware.current_sensor.max_age_s
    add("communication_lost.current", C.COMMUNICATION_LOST, F, True, cs_age, 0.0, min(cs_age, 2 * period), 5.0,
        Blocks.BOTH, "s", "pack", "the current reading is older than hardware.current_sensor.max_age_s")

    # sensors and wiring
    add("open_sense_wire.fault", C.OPEN_SENSE_WIRE, F, True, 1.0, 0.0, 0.0, 0.0, Blocks.BOTH, "flag", "wire",
        "open cell sense wire (ADOW check; wire 0 = pack -)")
    s = p.sensors
    add("cell_voltage_implausible.fault", C.CELL_VOLTAGE_IMPLAUSIBLE, F, True, 1.0, s.cell_delay_s, 0.0, 2.0,
        Blocks.BOTH, "flag", "cell",
        f"a cell reads outside sensors.cell_min_v..cell_max_v = "
        f"{s.cell_min_v:g}..{s.cell_max_v:g} V, which no cell voltage can be (broken sense path, dead ADC)")
    add("pack_voltage_implausible.warning", C.PACK_VOLTAGE_IMPLAUSIBLE, W, True,
        n * s.pack_sum_warning_per_cell_v, s.pack_sum_delay_s, 0.5 * n * s.pack_sum_warning_per_cell_v,
        s.pack_sum_clear_delay_s, Blocks.NONE, "V", "pack", "|sum of cells - measured pack voltage|")
    add("pack_voltage_implausible.fault", C.PACK_VOLTAGE_IMPLAUSIBLE, F, True,
        n * s.pack_sum_fault_per_cell_v, s.pack_sum_delay_s, n * s.pack_sum_warning_per_cell_v,
        s.pack_sum_clear_delay_s, Blocks.BOTH, "V", "pack", "|sum of cells - measured pack voltage|")
    add("thermistor_fault.fault", C.THERMISTOR_FAULT, F, True, 1.0, s.thermistor_delay_s, 0.0, 2.0,
        Blocks.CHARGE, "flag", "sensor",
        f"a thermistor of an answering board reads open (pin at VREF2), "
        f"shorted (pin at 0 V) or outside {s.thermistor_min_c:g}..{s.thermistor_max_c:g} °C; charging "
        f"stops (its cells' temperature is unknown)")
    add("thermistor_fault.board", C.THERMISTOR_FAULT, F, True, 1.0, s.thermistor_delay_s, 0.0, 2.0,
        Blocks.DISCHARGE, "flag", "board",
        "no thermistor of an answering board reads a valid "
        "temperature, so none is left for its cells; discharging stops too")
    add("thermistor_fault.pack", C.THERMISTOR_FAULT, F, True, 1.0, s.thermistor_delay_s, 0.0, 2.0,
        Blocks.BOTH, "flag", "pack",
        "not one valid cell temperature in the pack (for any "
        "reason): neither charging nor discharging")
    add("current_sensor_stuck.fault", C.CURRENT_SENSOR_STUCK, F, True, cur.stuck_unexplained_a,
        cur.stuck_delay_s, 0.5 * cur.stuck_unexplained_a, 5.0, Blocks.BOTH, "A", "pack",
        f"the current reading repeats exactly while the median cell "
        f"voltage steps over stuck_window_s = {cur.stuck_window_s:g} s by more than "
        f"R0 = {config.estimation.r0_ohm:g} Ω x the measured current step explains (tolerance "
        f"stuck_tolerance = {cur.stuck_tolerance:g} of that step), or while the SOC the cell voltages imply "
        f"(OCV table ± stuck_soc_tolerance_v = {cur.stuck_soc_tolerance_v:g} V) moves away from the charge "
        f"the frozen reading counts by more than this average current: a frozen current sensor; the "
        f"reading must repeat once before it counts as frozen, so this acts one cycle after its delay",
        latched=True)

    # battery monitor chips (hal/ltc681x, acquisition/sampler.py)
    add("adc_fault.fault", C.ADC_FAULT, F, True, 1.0, s.adc_fault_delay_s, 0.0, 2.0, Blocks.BOTH, "flag", "board",
        "a board's conversions cannot be trusted: lost (registers still cleared), not finished within "
        "hardware.conversion_timeout_s, every channel frozen for hardware.stale_conversions conversions "
        "while current flows, or a failed self test (CVST/AXST, MUXFAIL, thermal shutdown, VA/VD/REF2)")
    add("chain_configuration.fault", C.CHAIN_CONFIGURATION, F, True, 1.0, 0.0, 0.0, 0.0, Blocks.BOTH, "flag",
        "pack", "the chain does not match [pack] boards: a board answers beyond the configured chain, "
        "a chip type differs, or a channel shows more or fewer cells wired than configured")
    add("chip_voltage_flag.over", C.CHIP_VOLTAGE_FLAG, F, True, 1.0, cv.fault_delay_s, 0.0, cv.clear_delay_s,
        Blocks.CHARGE, "flag", "cell", f"the chip's own VOV comparator (written as Vmax + "
        f"{cv.ov_fault_margin_v:g} V) flags the cell: an independent second over-voltage check")
    add("chip_voltage_flag.under", C.CHIP_VOLTAGE_FLAG, F, True, 1.0, cv.fault_delay_s, 0.0, cv.clear_delay_s,
        Blocks.DISCHARGE, "flag", "cell", f"the chip's own VUV comparator (written as Vmin - "
        f"{cv.uv_fault_margin_v:g} V) flags the cell: an independent second under-voltage check")

    # contactors and sequence
    ct = p.contactors
    add("contactor_welded.fault", C.CONTACTOR_WELDED, F, True, ct.feedback_delay_s, 0.0, 0.0, 1.0, Blocks.BOTH,
        "s", "contactor", "feedback still closed feedback_delay_s after the open command", latched=True)
    add("contactor_failed_to_close.fault", C.CONTACTOR_FAILED_TO_CLOSE, F, True, ct.feedback_delay_s, 0.0,
        0.0, 1.0, Blocks.BOTH, "s", "contactor",
        "feedback still open feedback_delay_s after the close command", latched=True)
    add("precharge_failed.fault", C.PRECHARGE_FAILED, F, True, 1.0, 0.0, 0.0, 0.0, Blocks.BOTH, "flag", "pack",
        f"bus voltage did not reach precharge_fraction = {ct.precharge_fraction:g} of the pack voltage "
        f"within precharge_timeout_s = {ct.precharge_timeout_s:g} s (or no fresh pack voltage to compare "
        f"with, or a bus voltage sensor that gives no reading)", latched=True)
    add("precharge_failed.bus_high", C.PRECHARGE_FAILED, F, True, 1.0, 0.0, 0.0, 0.0, Blocks.BOTH, "flag",
        "pack", f"during precharge the bus voltage reads above the pack voltage "
        f"x (1 + sensors.bus_above_pack_fraction = {s.bus_above_pack_fraction:g}), a sensor stuck high; "
        f"precharge fails instead of closing the contactors", latched=True)

    # timing
    lp = p.loop
    add("loop_overrun.warning", C.LOOP_OVERRUN, W, True, 1.0, 0.0, 0.9, lp.clear_delay_s, Blocks.NONE,
        "periods", "pack", "a cycle's software time exceeded the cycle period")
    add("loop_overrun.fault", C.LOOP_OVERRUN, F, True, lp.fault_factor, 0.0, 1.5, lp.clear_delay_s,
        Blocks.BOTH, "periods", "pack", "the time between two cycles stretched to fault_factor periods")

    # discrete inputs (hardware.inputs; debounced in bmsgateway.protection.inputs; location = input)
    add("emergency_stop.input", C.EMERGENCY_STOP, F, True, 1.0, 0.0, 0.0, 0.0, Blocks.BOTH, "flag", "input",
        "an emergency stop input is active: every contactor and relay opens; latched, so after the "
        "input is released the reset command is still needed", latched=True)
    specs.append(ConditionSpec(
        key="remote_off.input", condition=C.REMOTE_OFF, severity=F, above=True, set_threshold=1.0,
        set_delay_s=0.0, clear_threshold=0.0, clear_delay_s=0.0, latched=False, blocks=Blocks.BOTH, unit="flag",
        location="input", input=INPUTS["remote_off.input"], recurs=False,
        description="a remote off input (on/off switch) is active: every contactor and relay stays open "
        "until it is released, then the pack starts again as at power-up; an operator's own switch, so "
        "it never latches by recurrence and does not sound the alarm output"))
    return tuple(specs)


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def render_faults_markdown(config: Config | None = None) -> str:
    """``docs/faults.md``: the table for ``config`` (the defaults: 16-cell LFP) with explanations."""
    cfg = config or Config()
    lim = cfg.pack.limits
    lines = [
        "# Faults and warnings",
        "",
        "Generated from `bmsgateway.protection.table.build_condition_table` by",
        "`python -m bmsgateway.protection.faultdoc > docs/faults.md`; do not edit by hand.",
        f"Values below are for the default config ({cfg.pack.cell_count} cells {lim.chemistry.value}: "
        f"Vmin {lim.vmin_v} V, Vbalance {lim.vbalance_v} V, Vmax {lim.vmax_v} V); cell and pack voltage",
        "thresholds move with `[pack.chemistry]`, everything else is set in `[protection]`.",
        "",
        "* **input**: the value the row compares with its thresholds: a `Measurement` field, or a verdict",
        "  of the sensor plausibility checks (`bmsgateway/acquisition/plausibility.py`, `plausibility.*`).",
        "* **trips at**: an over condition trips at value >= set, an under condition at value <= set;",
        "  it is raised after the value stayed there for the set delay (0 s = in the same cycle).",
        "* **clears at**: the value must pass the clear threshold (hysteresis) and stay there for the",
        "  clear delay. *latched* conditions then stay raised until the reset command (Modbus/CLI).",
        "* **blocks**: which direction a raised fault forbids: it opens that direction's contactor",
        "  at once, switches its signal relay off and sets its current limit to 0. Warnings only report.",
        "* **bit**: bit number in the fault and warning bitfields (Modbus, CAN); never renumbered.",
        "* Missing data (NaN) is no evidence: nothing clears on it; stale data raises communication_lost.",
        "",
        "| bit | condition | level | per | input | trips at | set delay | clears at | clear delay | recovery "
        "| blocks |",
        "|---:|---|---|---|---|---|---:|---|---:|---|---|",
    ]
    for s in build_condition_table(cfg):
        op_set = ">=" if s.above else "<="
        op_clr = "<=" if s.above else ">="
        level = s.key.split(".", 1)[1]
        blocks = {Blocks.NONE: "-", Blocks.CHARGE: "charge", Blocks.DISCHARGE: "discharge",
                  Blocks.BOTH: "both"}[s.blocks]
        lines.append(
            f"| {CONDITION_BITS[s.condition]} | `{s.condition.value}` | {level} | {s.location} | {s.input} | "
            f"{op_set} {_fmt(s.set_threshold)} {s.unit} | {_fmt(s.set_delay_s)} s | "
            f"{op_clr} {_fmt(s.clear_threshold)} {s.unit} | {_fmt(s.clear_delay_s)} s | "
            f"{'latched' if s.latched else 'auto'} | {blocks} |"
        )
    lines += ["", "## What each condition means", ""]
    seen: set[str] = set()
    for s in build_condition_table(cfg):
        if s.key in seen:
            continue
        seen.add(s.key)
        lines.append(f"* `{s.key}`: {s.description}.")
    lines += [
        "",
        "## Signal relays (123\\SmartBMS algorithm)",
        "",
        "Independent of the table above, the allow-charge and allow-discharge relays follow the",
        "123\\SmartBMS tables exactly (`protection.relays.mode`); a raised fault that blocks a",
        "direction also holds that relay off. See `bmsgateway/protection/relays.py`.",
        "",
    ]
    lines += _latch_and_envelope_markdown(cfg)
    return "\n".join(lines)


def _latch_and_envelope_markdown(cfg: Config) -> list[str]:
    """Latches across restarts, recurrence, the relays' off-time and the chemistry envelopes."""
    from bmsgateway.config.chemistry import ENVELOPES
    from bmsgateway.config.envelope import MAX_FAULT_DELAY_S, current_sensor_range_a

    rc = cfg.protection.recurrence
    lines = [
        "## Latches, restarts and recurring faults",
        "",
        "* A latched fault is judged by the thresholds in force when it latched: a new config (say Vmax",
        "  raised over Modbus) cannot make it clear. The reset command clears only latches whose",
        "  condition is gone by those thresholds; the reset event says how many it kept.",
        "* Latched faults are saved in the state file (at once when one is raised or cleared) and are",
        "  active again from the first cycle after a restart, crash or power cycle, until the reset",
        "  command clears them (the condition must first be seen gone again for its clear delay).",
        f"* Recurrence (`protection.recurrence`): an auto-recovering fault raised {rc.count} times at one",
        f"  location within {rc.window_s:g} s latches on that raise (count 0 = never).",
        "* The allow-charge and allow-discharge relays stay off at least `protection.relays.min_off_s` =",
        f"  {cfg.protection.relays.min_off_s:g} s after switching off, whatever switched them off.",
        "",
        "## Safe envelopes (config limits that are refused)",
        "",
        "Every cell voltage limit (Vmin, Vbalance, Vmax, the cell and pack over/under-voltage faults per",
        "cell) and every temperature fault threshold must lie inside the chemistry's envelope; a custom",
        "cell states its own in `[pack.chemistry.envelope]` (all six values). Checked for the file, for",
        "`check-config` (with the persisted settings) and for every Modbus write (exception 03).",
        "",
        "| chemistry | cell voltage | charging | discharging |",
        "|---|---|---|---|",
    ]
    for chem, e in ENVELOPES.items():
        lines.append(f"| {chem.value} | {e.cell_min_v:g}..{e.cell_max_v:g} V | "
                     f"{e.charge_min_c:g}..{e.charge_max_c:g} °C | {e.discharge_min_c:g}..{e.discharge_max_c:g} °C |")
    lines += ["", "Longest allowed fault delays:", ""]
    lines += [f"* `{k}`: {v:g} s" for k, v in MAX_FAULT_DELAY_S.items()]
    lines += [
        "",
        "The peak and short-circuit current limits must lie below the current sensor's range",
        "(`hardware.current_sensor.range_a`, default: what zero_v and sensitivity leave on the 0..5 V",
        f"input; {current_sensor_range_a(cfg):.4g} A here).",
        "",
    ]
    return lines
