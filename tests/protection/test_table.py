"""The fault table itself, built from the config and judged by the fault engine: which rows
block which direction, which latch, and where their thresholds sit."""

from __future__ import annotations

import pytest

from bmsgateway.protection.engine import Blocks, FaultEngine
from bmsgateway.protection.table import build_condition_table
from bmsgateway.state import Severity
from tests.protection.conftest import make_config

C, D, B, N = Blocks.CHARGE, Blocks.DISCHARGE, Blocks.BOTH, Blocks.NONE

#: key -> (blocks, latched) for the default config
EXPECTED: dict[str, tuple[Blocks, bool]] = {
    "cell_over_voltage.fault": (C, True), "cell_under_voltage.fault": (D, True),
    "pack_over_voltage.fault": (C, False), "pack_under_voltage.fault": (D, False),
    "charge_over_temperature.fault": (C, False), "charge_under_temperature.fault": (C, False),
    "discharge_over_temperature.fault": (D, False), "discharge_under_temperature.fault": (D, False),
    "charge_over_current.fault": (C, False), "charge_over_current.peak": (C, True),
    "discharge_over_current.fault": (D, False), "discharge_over_current.peak": (D, True),
    "short_circuit.fault": (B, True),
    "communication_lost.fault": (B, False), "communication_lost.stale": (B, False),
    "communication_lost.current": (B, False), "open_sense_wire.fault": (B, False),
    "thermistor_fault.fault": (C, False), "thermistor_fault.board": (D, False), "thermistor_fault.pack": (B, False),
    "current_sensor_stuck.fault": (B, True), "adc_fault.fault": (B, False),
    "chip_voltage_flag.over": (C, False), "chip_voltage_flag.under": (D, False),
    "contactor_welded.fault": (B, True), "contactor_failed_to_close.fault": (B, True),
    "precharge_failed.fault": (B, True), "precharge_failed.bus_high": (B, True),
    "loop_overrun.fault": (B, False),
}


def test_each_fault_blocks_its_direction_and_latches_as_documented() -> None:
    table = {s.key: s for s in build_condition_table(make_config())}
    for key, (blocks, latched) in EXPECTED.items():
        assert (table[key].blocks, table[key].latched) == (blocks, latched), key
    for spec in table.values():
        if spec.severity is Severity.WARNING:
            assert spec.blocks is N and not spec.latched, spec.key
        # hysteresis: the clear threshold is on the safe side of the set threshold
        assert (spec.clear_threshold < spec.set_threshold) if spec.above else (
            spec.clear_threshold > spec.set_threshold), spec.key


def test_latch_faults_and_imbalance_blocking_follow_the_config() -> None:
    table = {s.key: s for s in build_condition_table(make_config())}
    assert table["cell_imbalance.fault"].blocks is C
    cfg = make_config(cell_voltage={"latch_faults": False}, imbalance={"fault_blocks_charge": False})
    table = {s.key: s for s in build_condition_table(cfg)}
    assert not table["cell_over_voltage.fault"].latched and not table["cell_under_voltage.fault"].latched
    assert table["cell_imbalance.fault"].blocks is N


def _raised_after(key: str, value: float, seconds: float) -> bool:
    cfg = make_config()
    eng = FaultEngine(build_condition_table(cfg), lambda e: None)
    t = 0.0
    for _ in range(round(seconds / 0.1) + 1):
        eng.scalar(key, value, t)
        t = round(t + 0.1, 9)
    return any(a.severity is Severity.FAULT for a in eng.summary()[0])


@pytest.mark.parametrize(("key", "below", "at"), [
    # (key, a value that must never raise, a value that must raise after the row's delay)
    ("cell_over_voltage.fault", 3.70, 3.80),  # Vmax 3.7 + 0.05 margin: 3.70 is fine
    ("cell_under_voltage.fault", 2.90, 2.80),
    ("communication_lost.fault", 5.0, 6.0),  # comm_loss_cycles = 5: the 6th failed cycle
    ("short_circuit.fault", 499.0, 500.0),
])
def test_thresholds_sit_where_the_config_puts_them(key: str, below: float, at: float) -> None:
    assert not _raised_after(key, below, 30.0)
    assert _raised_after(key, at, 30.0)


def test_the_faults_document_shows_the_config_it_is_given() -> None:
    from bmsgateway.protection.table import render_faults_markdown

    default = render_faults_markdown()
    wider = render_faults_markdown(make_config(cell_voltage={"ov_fault_margin_v": 0.07}))
    assert default != wider and default == render_faults_markdown(make_config())
