"""Plausibility verdicts at their edges, through protection's fault table: which cells are named
implausible when some are missing."""

from __future__ import annotations

from tests.protection.conftest import NAN, Rig


def test_a_missing_cell_is_not_named_implausible_next_to_one_that_is() -> None:
    rig = Rig()
    rig.run(0.5)
    st = rig.run(1.0, cells=[3.30] * 14 + [NAN, 6.0])
    locations = sorted(a.location for a in st.active if a.condition == "cell_voltage_implausible")
    assert locations == [15]


def test_a_frozen_current_sensor_is_found_after_a_cycle_without_a_current_reading() -> None:
    """One cycle without a current reading (NaN) must not blind the frozen-sensor check."""
    from bmsgateway.protection.table import build_condition_table
    from tests.protection.conftest import make_config

    spec = {s.key: s for s in build_condition_table(make_config())}["current_sensor_stuck.fault"]
    rig = Rig()
    rig.run(1.5, cells=3.30, current_a=0.0)
    rig.step(cells=3.30, current_a=NAN, current_age_s=0.1)
    rig.run(1.5, cells=3.30, current_a=0.0)
    sag = [3.30 - 0.0008 * 60.0] * 16  # 60 A flow, the sensor keeps reading exactly 0 A
    st = rig.run(spec.set_delay_s + 0.2, cells=sag, current_a=0.0)
    assert any(a.condition == "current_sensor_stuck" for a in st.active)
    assert not st.charge_allowed and not st.discharge_allowed


def test_precharge_opened_on_a_bus_reading_above_the_pack_says_why() -> None:
    from tests.protection.conftest import FakeBus, FakeIO, make_config

    rig = Rig(make_config(contactors={"precharge": True}), io=FakeIO(), bus=FakeBus(1.2 * 16 * 3.30))
    rig.run(0.3)
    opened = [e for e in rig.events if e.kind == "output" and e.condition == "precharge" and e.value == 0.0]
    assert opened and opened[0].message == "off (precharge failed: bus voltage reads above the pack voltage)"


def test_a_thermistor_exactly_at_its_plausible_limit_reads_as_open_or_shorted() -> None:
    """Valid temperatures lie strictly inside sensors.thermistor_min_c .. thermistor_max_c."""
    rig = Rig()
    s = rig.config.protection.sensors
    rig.run(0.5)
    st = rig.run(3.0, temps=[25.0, 25.0, s.thermistor_min_c, 25.0])
    assert any(a.condition == "thermistor_fault" and a.location == 2 for a in st.active)
    rig = Rig()
    rig.run(0.5)
    st = rig.run(3.0, temps=[25.0, s.thermistor_max_c, 25.0, 25.0])
    assert any(a.condition == "thermistor_fault" and a.location == 1 for a in st.active)


def test_cells_exactly_at_the_plausible_limits_are_plausible() -> None:
    """A cell reading is implausible only outside sensors.cell_min_v .. cell_max_v."""
    rig = Rig()
    s = rig.config.protection.sensors
    rig.run(0.5)
    st = rig.run(1.0, cells=[s.cell_min_v] + [3.30] * 14 + [s.cell_max_v])
    assert not any(a.condition == "cell_voltage_implausible" for a in st.active)
    st = rig.run(1.0, cells=[s.cell_min_v - 0.01] + [3.30] * 14 + [s.cell_max_v + 0.01])
    assert sorted(a.location for a in st.active if a.condition == "cell_voltage_implausible") == [0, 15]


def test_the_first_board_without_any_valid_temperature_stops_discharging() -> None:
    rig = Rig()
    rig.run(0.5)
    st = rig.run(3.0, temps=[NAN, NAN, 25.0, 25.0], temp_age_s=[0.0] * 4)
    assert not st.discharge_allowed


def test_next_to_an_implausible_cell_one_exactly_at_the_limit_is_not_named() -> None:
    rig = Rig()
    s = rig.config.protection.sensors
    rig.run(0.5)
    st = rig.run(1.0, cells=[s.cell_min_v] + [3.30] * 13 + [s.cell_max_v, s.cell_max_v + 0.01])
    assert sorted(a.location for a in st.active if a.condition == "cell_voltage_implausible") == [15]
    st = rig.run(1.0, cells=[s.cell_min_v] + [3.30] * 12 + [NAN, s.cell_max_v, s.cell_max_v + 0.01])
    assert sorted(a.location for a in st.active if a.condition == "cell_voltage_implausible") == [15]
