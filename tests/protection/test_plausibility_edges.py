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
