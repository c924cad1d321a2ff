"""Sensor plausibility verdicts (bmsgateway.acquisition.plausibility) through Protection.update():
thermistors open/shorted, a frozen current sensor, an old sum-of-cells, a bus voltage stuck high."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bmsgateway.config import Config
from bmsgateway.protection.table import build_condition_table
from bmsgateway.state import ProtectionStatus
from tests.protection.conftest import NAN, FakeBus, FakeIO, Rig, make_config

SPECS = {s.key: s for s in build_condition_table(make_config())}
PACK_V = 16 * 3.30
R0 = 0.0008  # estimation.r0_ohm (default)


def active_keys(st: ProtectionStatus) -> set[tuple[str, str, int]]:
    return {(a.condition, a.severity.value, a.location) for a in st.active}


def raised_rows(rig: Rig, key: str) -> list[tuple[float, int]]:
    """(time, location) of each raise of the fault-table row ``key``."""
    spec = SPECS[key]
    return [(e.time_s, e.location) for e in rig.events if e.kind == "raised"
            and e.condition == spec.condition.value and e.message == spec.description]


# -- thermistors ---------------------------------------------------------------------------------
def test_open_thermistor_on_a_healthy_board_stops_charging_only() -> None:
    rig = Rig(make_config(relays={"tmin_c": -40.0, "tmax_c": 90.0}))
    rig.run(1.0)
    t0 = rig.t
    st = rig.run(0.9, temps=[NAN, 25.0, 25.0, 25.0])  # age 0: read fine, the NTC is open
    assert st.charge_allowed
    st = rig.run(0.2, temps=[NAN, 25.0, 25.0, 25.0])
    assert raised_rows(rig, "thermistor_fault.fault") == [(t0 + 1.0, 0)]
    assert not st.charge_allowed and st.ccl_a == 0.0
    assert st.discharge_allowed and st.dcl_a > 0.0  # board 0 still has thermistor 1
    st = rig.run(2.2)
    assert not raised_rows(rig, "thermistor_fault.fault")[1:]  # cleared, not raised again
    assert ("thermistor_fault", "fault", 0) not in active_keys(st)
    assert not st.charge_allowed  # the allow-charge relay keeps its minimum off time ...
    st = rig.run(rig.config.protection.relays.min_off_s)
    assert st.charge_allowed  # ... then charging recovers by itself once the NTC reads again


def test_board_without_a_valid_temperature_stops_discharging() -> None:
    rig = Rig(make_config(relays={"tmin_c": -40.0, "tmax_c": 90.0}))
    st = rig.run(1.2, temps=[25.0, 25.0, NAN, 400.0])  # board 1: one shorted, one impossible
    assert ("thermistor_fault", "fault", 1) in active_keys(st)
    assert raised_rows(rig, "thermistor_fault.board") == [(1.0, 1)]
    assert not st.charge_allowed and not st.discharge_allowed


def test_pack_without_any_valid_temperature_is_never_allowed_either_direction() -> None:
    rig = Rig()
    st = rig.run(1.2, temps=[NAN, NAN, NAN, NAN])
    assert raised_rows(rig, "thermistor_fault.pack") == [(1.0, -1)]
    assert not st.charge_allowed and not st.discharge_allowed
    assert all(not c.commanded for c in st.contactors)


def test_silent_board_thermistors_are_communication_not_thermistor_faults() -> None:
    rig = Rig()
    st = rig.run(3.0, temps=[25.0, 25.0, NAN, NAN], temp_age_s=[0, 0, 3.0, 3.0],
                 board_ok=[True, False], failed_cycles=[0, 30], cell_age_s=[0.0] * 8 + [3.0] * 8)
    assert not raised_rows(rig, "thermistor_fault.fault")
    assert not raised_rows(rig, "thermistor_fault.board")
    assert not st.charge_allowed and not st.discharge_allowed  # communication_lost


# -- current sensor ------------------------------------------------------------------------------
def test_frozen_reading_with_a_voltage_step_no_current_explains_opens_everything_latched() -> None:
    rig = Rig()
    spec = SPECS["current_sensor_stuck.fault"]
    rig.run(3.0, cells=3.30, current_a=0.0)
    # 60 A of discharge starts; the sensor keeps reading exactly 0 A: cells step down by R0 x 60 A
    sag = [3.30 - R0 * 60.0] * 16
    t0 = rig.t
    st = rig.run(spec.set_delay_s, cells=sag, current_a=0.0)
    assert st.discharge_allowed  # not before the delay
    st = rig.step(cells=sag, current_a=0.0)
    assert raised_rows(rig, "current_sensor_stuck.fault") == [(t0 + spec.set_delay_s, -1)]
    assert not st.charge_allowed and not st.discharge_allowed
    st = rig.run(10.0, cells=3.30, current_a=0.0)
    assert ("current_sensor_stuck", "fault", -1) in active_keys(st)  # latched
    rig.prot.reset_latched()
    st = rig.run(0.3, cells=3.30, current_a=0.0)
    assert ("current_sensor_stuck", "fault", -1) not in active_keys(st)


def test_live_readings_that_follow_the_voltage_steps_are_plausible() -> None:
    rig = Rig()
    rig.run(3.0)
    for k in range(60):
        # the load changes every second; the cells follow R0 x current; noise keeps readings apart
        i = -80.0 if (k // 10) % 2 else -5.0
        i += 0.01 * (k % 3)
        st = rig.step(cells=3.30 + R0 * i, current_a=i)
    assert not raised_rows(rig, "current_sensor_stuck.fault")
    assert st.discharge_allowed


def test_frozen_reading_without_any_voltage_movement_is_no_evidence() -> None:
    rig = Rig()
    st = rig.run(30.0, cells=3.30, current_a=12.5)
    assert not raised_rows(rig, "current_sensor_stuck.fault")
    assert st.charge_allowed


# -- pack voltage and precharge -----------------------------------------------------------------
def precharge_rig(bus: FakeBus | None, **contactors: object) -> Rig:
    return Rig(make_config(contactors={"precharge": True, **contactors}), io=FakeIO(), bus=bus)


def cmd(st: ProtectionStatus) -> dict[str, bool]:
    return {c.name: c.commanded for c in st.contactors}


def test_bus_voltage_above_the_pack_fails_precharge_at_once() -> None:
    rig = precharge_rig(FakeBus(1.2 * PACK_V))
    st = rig.step()
    assert cmd(st)["precharge"]
    st = rig.step()
    assert not any(cmd(st).values())
    assert raised_rows(rig, "precharge_failed.bus_high") == [(0.1, -1)]
    st = rig.run(5.0)
    assert not any(cmd(st).values())  # latched: no retry
    assert st.state == "fault"


def test_bus_voltage_at_the_pack_voltage_completes_precharge() -> None:
    rig = precharge_rig(FakeBus(1.02 * PACK_V))
    rig.step()
    st = rig.step()
    assert cmd(st) == {"precharge": False, "charge": True, "discharge": True}


def test_an_old_sum_of_cells_is_not_used_as_the_precharge_target() -> None:
    cells = [3.30] * 15 + [NAN]  # one cell missing: only the chips' sum-of-cells could give the pack
    rig = precharge_rig(FakeBus(0.95 * PACK_V), precharge_timeout_s=1.0)
    st = rig.run(1.2, cells=cells, cell_age_s=[0.0] * 15 + [0.1], pack_measured_v=PACK_V,
                 pack_measured_age_s=5.0)
    assert not cmd(st)["charge"] and not cmd(st)["discharge"]
    assert any(a.condition == "precharge_failed" for a in st.active)
    # the same reading, fresh, is used
    rig = precharge_rig(FakeBus(0.95 * PACK_V), precharge_timeout_s=1.0)
    rig.step(cells=cells, pack_measured_v=PACK_V, pack_measured_age_s=0.5)
    st = rig.step(cells=cells, pack_measured_v=PACK_V, pack_measured_age_s=0.6)
    assert cmd(st)["discharge"]


def test_an_old_sum_of_cells_feeds_no_pack_voltage_fault() -> None:
    rig = Rig()
    cells = [3.30] * 15 + [NAN]
    st = rig.run(5.0, cells=cells, cell_age_s=[0.0] * 15 + [0.1], pack_measured_v=16 * 3.9,
                 pack_measured_age_s=10.0)
    assert not any(a.condition == "pack_over_voltage" for a in st.active)
    st = rig.run(5.0, cells=cells, cell_age_s=[0.0] * 15 + [0.1], pack_measured_v=16 * 3.9,
                 pack_measured_age_s=0.5)
    assert any(a.condition == "pack_over_voltage" for a in st.active)


def test_a_wired_bus_sensor_without_a_reading_fails_precharge_instead_of_timing_it() -> None:
    rig = precharge_rig(FakeBus(None), precharge_timeout_s=1.0)
    st = rig.run(1.2)
    assert not cmd(st)["charge"] and not cmd(st)["discharge"]
    assert any(a.condition == "precharge_failed" for a in st.active)


# -- cell voltages -------------------------------------------------------------------------------
def test_a_cell_reading_no_cell_can_have_stops_both_directions() -> None:
    rig = Rig()
    cells = [3.30] * 16
    cells[4] = 0.0  # a dead ADC channel or a broken sense path, not a cell at 0 V
    st = rig.run(0.4, cells=cells)
    assert st.charge_allowed  # under-voltage would only stop discharging; not yet implausible
    st = rig.run(0.2, cells=cells)
    assert ("cell_voltage_implausible", "fault", 4) in active_keys(st)
    assert not st.charge_allowed and not st.discharge_allowed


def test_a_pack_configured_without_any_thermistor_is_refused() -> None:
    base = Config().model_dump()
    base["pack"]["boards"] = [{"chip": "LTC6811", "cells": 8, "thermistors": 0}] * 2
    with pytest.raises(ValidationError, match="never allowed to charge or discharge"):
        Config.model_validate(base)
