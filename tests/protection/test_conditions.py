"""Every condition of the fault table, driven through Protection.update():

raised after its set delay and not before; still raised between set and clear (hysteresis);
cleared only after the clear threshold held for the clear delay; latched ones only after reset.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from bmsgateway.protection.engine import ConditionSpec
from bmsgateway.protection.table import build_condition_table
from bmsgateway.state import ProtectionStatus
from tests.protection.conftest import NAN, Rig, make_config

SPECS = {s.key: s for s in build_condition_table(make_config())}


def one_cell(v: float, index: int = 15, base: float = 3.30) -> list[float]:
    cells = [base] * 16
    cells[index] = v
    return cells


def hot(v: float) -> list[float]:
    return [25.0, 25.0, 25.0, v]


def is_raised(st: ProtectionStatus, spec: ConditionSpec) -> bool:
    return any(
        a.condition == spec.condition.value and a.severity is spec.severity and a.threshold == spec.set_threshold
        for a in st.active
    )


def sum_off(diff: float) -> dict[str, Any]:
    return {"pack_measured_v": 16 * 3.30 + diff}


# key, trip, between (past set back but not past clear; None for boolean conditions), clear, location
CASES: list[tuple[str, dict[str, Any], dict[str, Any] | None, dict[str, Any], int]] = [
    ("cell_over_voltage.warning", {"cells": one_cell(3.66)}, {"cells": one_cell(3.62)},
     {"cells": one_cell(3.55)}, 15),
    ("cell_over_voltage.fault", {"cells": one_cell(3.76)}, {"cells": one_cell(3.72)},
     {"cells": one_cell(3.60)}, 15),
    ("cell_under_voltage.warning", {"cells": one_cell(2.99, 3)}, {"cells": one_cell(3.02, 3)},
     {"cells": one_cell(3.10, 3)}, 3),
    ("cell_under_voltage.fault", {"cells": one_cell(2.79, 0)}, {"cells": one_cell(2.82, 0)},
     {"cells": one_cell(2.90, 0)}, 0),
    ("pack_over_voltage.warning", {"cells": 3.66}, {"cells": 3.62}, {"cells": 3.55}, -1),
    ("pack_over_voltage.fault", {"cells": 3.71}, {"cells": 3.67}, {"cells": 3.60}, -1),
    ("pack_under_voltage.warning", {"cells": 2.99}, {"cells": 3.02}, {"cells": 3.10}, -1),
    ("pack_under_voltage.fault", {"cells": 2.89}, {"cells": 2.92}, {"cells": 3.00}, -1),
    ("charge_over_temperature.warning", {"temps": hot(46)}, {"temps": hot(43)}, {"temps": hot(41)}, 3),
    ("charge_over_temperature.fault", {"temps": hot(56)}, {"temps": hot(52)}, {"temps": hot(49)}, 3),
    ("charge_under_temperature.warning", {"temps": hot(4)}, {"temps": hot(6)}, {"temps": hot(8)}, 3),
    ("charge_under_temperature.fault", {"temps": hot(-1)}, {"temps": hot(2)}, {"temps": hot(4)}, 3),
    ("discharge_over_temperature.warning", {"temps": hot(56)}, {"temps": hot(53)}, {"temps": hot(51)}, 3),
    ("discharge_over_temperature.fault", {"temps": hot(61)}, {"temps": hot(57)}, {"temps": hot(54)}, 3),
    ("discharge_under_temperature.warning", {"temps": hot(-11)}, {"temps": hot(-8)}, {"temps": hot(-6)}, 3),
    ("discharge_under_temperature.fault", {"temps": hot(-21)}, {"temps": hot(-18)}, {"temps": hot(-16)}, 3),
    ("charge_over_current.warning", {"current_a": 56.0}, {"current_a": 52.0}, {"current_a": 49.0}, -1),
    ("charge_over_current.fault", {"current_a": 61.0}, {"current_a": 55.0}, {"current_a": 49.0}, -1),
    ("charge_over_current.peak", {"current_a": 101.0}, {"current_a": 55.0}, {"current_a": 49.0}, -1),
    ("discharge_over_current.warning", {"current_a": -111.0}, {"current_a": -105.0}, {"current_a": -99.0}, -1),
    ("discharge_over_current.fault", {"current_a": -121.0}, {"current_a": -110.0}, {"current_a": -99.0}, -1),
    ("discharge_over_current.peak", {"current_a": -201.0}, {"current_a": -110.0}, {"current_a": -99.0}, -1),
    ("short_circuit.fault", {"current_a": -501.0}, {"current_a": -100.0}, {"current_a": 0.0}, -1),
    ("cell_imbalance.warning", {"cells": one_cell(3.41)}, {"cells": one_cell(3.37)}, {"cells": one_cell(3.34)}, -1),
    ("cell_imbalance.fault", {"cells": one_cell(3.71)}, {"cells": one_cell(3.55)}, {"cells": one_cell(3.45)}, -1),
    ("communication_lost.warning", {"board_ok": [False, True], "failed_cycles": [2, 0]},
     {"board_ok": [False, True], "failed_cycles": [1, 0]}, {}, 0),
    ("communication_lost.fault", {"board_ok": [True, False], "failed_cycles": [0, 6]},
     {"board_ok": [True, False], "failed_cycles": [0, 3]}, {}, 1),
    ("communication_lost.stale", {"cell_age_s": [0.0] * 8 + [1.5] * 8}, {"cell_age_s": [0.0] * 8 + [0.5] * 8},
     {}, 1),
    ("communication_lost.current", {"current_age_s": 1.5}, {"current_age_s": 0.5}, {}, -1),
    ("open_sense_wire.fault", {"open_wires": (3,)}, None, {}, 3),
    ("pack_voltage_implausible.warning", sum_off(0.4), sum_off(0.2), sum_off(0.1), -1),
    ("pack_voltage_implausible.fault", sum_off(0.9), sum_off(0.5), sum_off(0.2), -1),
    ("adc_fault.fault", {"adc_fault": ["", "frozen"]}, None, {}, 1),
    ("chain_configuration.fault", {"chain_faults": ["a board answers beyond the 2 configured"]}, None, {}, 0),
    ("chip_voltage_flag.over", {"chip_ov": (5,)}, None, {}, 5),
    ("chip_voltage_flag.under", {"chip_uv": (2,)}, None, {}, 2),
    ("cell_voltage_implausible.fault", {"cells": one_cell(6.5535)}, None, {}, 15),
    # an open or shorted NTC: NaN although the board was read fine this cycle (age 0)
    ("thermistor_fault.fault", {"temps": [25.0, NAN, 25.0, 25.0]}, None, {}, 1),
]


def test_every_measurement_condition_has_a_case() -> None:
    covered = {c[0] for c in CASES}
    # driven by their own tests (tests/protection/test_plausibility.py, test_contactors.py)
    special = {"current_sensor_stuck.fault", "contactor_welded.fault", "contactor_failed_to_close.fault",
               "precharge_failed.fault", "precharge_failed.bus_high", "loop_overrun.warning",
               "loop_overrun.fault", "thermistor_fault.board", "thermistor_fault.pack",
               "emergency_stop.input", "remote_off.input"}  # tests/protection/test_inputs.py
    assert set(SPECS) == covered | special


@pytest.mark.parametrize(("key", "trip", "between", "clear", "location"), CASES, ids=[c[0] for c in CASES])
def test_condition_lifecycle(
    key: str, trip: dict[str, Any], between: dict[str, Any] | None, clear: dict[str, Any], location: int
) -> None:
    spec = SPECS[key]
    rig = Rig()
    st = rig.run(1.0)
    assert not is_raised(st, spec)

    # not before the set delay ...
    t0 = rig.t
    while rig.t < t0 + spec.set_delay_s - 1e-9:
        st = rig.step(**trip)
        assert not is_raised(st, spec), f"{key} raised {rig.t - t0:.2f} s after tripping"
    # ... but in the cycle that reaches it
    st = rig.step(**trip)
    assert is_raised(st, spec)
    ev = [e for e in st.events if e.kind == "raised" and e.condition == spec.condition.value
          and e.threshold == spec.set_threshold]
    assert len(ev) == 1 and ev[0].location == location and ev[0].time_s == pytest.approx(rig.t - rig.period_s)
    assert st.fault_bits if spec.severity.value == "fault" else st.warning_bits

    # hysteresis: back past the set threshold but not past clear -> stays raised
    if between is not None:
        st = rig.run(spec.clear_delay_s + 1.0, **between)
        assert is_raised(st, spec)

    # clear threshold must hold for the clear delay
    t1 = rig.t
    while rig.t < t1 + spec.clear_delay_s - 1e-9:
        st = rig.step(**clear)
        assert is_raised(st, spec), f"{key} cleared {rig.t - t1:.2f} s after the value cleared"
    st = rig.step(**clear)
    if not spec.latched:
        assert not is_raised(st, spec)
        assert any(e.kind == "cleared" and e.condition == spec.condition.value for e in st.events)
        return
    st = rig.run(5.0, **clear)
    assert is_raised(st, spec), "a latched condition must not clear by itself"
    rig.prot.reset_latched()
    st = rig.step(**clear)
    assert not is_raised(st, spec)
    assert any(e.kind == "cleared" and e.message == "reset command" for e in st.events)


@pytest.mark.parametrize("key", [k for k, s in SPECS.items() if s.latched and k in {c[0] for c in CASES}])
def test_reset_while_still_present_keeps_latched(key: str) -> None:
    case = next(c for c in CASES if c[0] == key)
    spec = SPECS[key]
    rig = Rig()
    st = rig.run(spec.set_delay_s + 0.5, **case[1])
    assert is_raised(st, spec)
    rig.prot.reset_latched()
    st = rig.step(**case[1])
    assert is_raised(st, spec)


def test_faults_block_the_right_direction() -> None:
    # relay window opened wide so that only the fault table decides here
    rig = Rig(make_config(relays={"tmin_c": -40.0, "tmax_c": 90.0}))
    st = rig.run(3.0, temps=hot(-1))  # too cold to charge, fine to discharge
    assert not st.charge_allowed and st.discharge_allowed
    assert st.ccl_a == 0.0 and st.dcl_a > 0
    names = {c.name: c.commanded for c in st.contactors}
    assert names == {"charge": False, "discharge": True}
    st = rig.run(3.0, temps=hot(-21))
    assert not st.discharge_allowed and not st.charge_allowed
    assert st.state == "fault"


def test_thermistor_out_of_range_is_a_fault() -> None:
    spec = SPECS["thermistor_fault.fault"]
    rig = Rig()
    st = rig.run(spec.set_delay_s + 0.2, temps=hot(200.0))
    assert is_raised(st, spec)


def test_missing_temperature_of_a_silent_board_is_not_a_thermistor_fault() -> None:
    rig = Rig()
    st = rig.run(3.0, temps=[25.0, 25.0, NAN, NAN], temp_age_s=[0, 0, 3.0, 3.0],
                 board_ok=[True, False], failed_cycles=[0, 30], cell_age_s=[0.0] * 8 + [3.0] * 8)
    assert not is_raised(st, SPECS["thermistor_fault.fault"])
    assert is_raised(st, SPECS["communication_lost.stale"])
    assert is_raised(st, SPECS["communication_lost.fault"])
    assert not st.charge_allowed and not st.discharge_allowed


def test_nan_never_clears_and_never_raises() -> None:
    spec = SPECS["cell_over_voltage.warning"]
    rig = Rig()
    st = rig.run(2.0, cells=one_cell(3.66))
    assert is_raised(st, spec)
    nan_cells = one_cell(NAN)
    st = rig.run(10.0, cells=nan_cells, cell_age_s=[0.0] * 15 + [0.5])
    assert is_raised(st, spec)
    assert not math.isnan(st.cvl_v)


def test_warning_bits_and_fault_bits_use_condition_bits() -> None:
    from bmsgateway.protection.ids import CONDITION_BITS, ConditionId

    rig = Rig()
    st = rig.run(3.0, temps=hot(46))
    assert st.warning_bits == 1 << CONDITION_BITS[ConditionId.CHARGE_OVER_TEMPERATURE]
    assert st.fault_bits == 0


def test_cells_at_an_open_wire_do_not_also_read_as_lost_communication() -> None:
    rig = Rig()
    cells = [3.3] * 16
    cells[2] = cells[3] = NAN  # wire 3 is the top of cell index 2 and the bottom of cell index 3
    ages = [0.0] * 16
    ages[2] = ages[3] = 5.0
    st = rig.run(3.0, cells=cells, cell_age_s=ages, open_wires=(3,))
    assert is_raised(st, SPECS["open_sense_wire.fault"])
    assert not is_raised(st, SPECS["communication_lost.stale"])
    ages[7] = 5.0  # but another stale cell on the same board still does
    st = rig.run(0.2, cells=cells, cell_age_s=ages, open_wires=(3,))
    assert is_raised(st, SPECS["communication_lost.stale"])
