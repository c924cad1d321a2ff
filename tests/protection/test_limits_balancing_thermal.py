"""CVL / CCL / DCL, balancing bits and energy, heater / cooler hysteresis, loop overrun."""

from __future__ import annotations

import pytest

from bmsgateway.protection.limits import DeratingTable, charge_voltage_limit
from bmsgateway.state import CycleTiming, EstimateStatus
from tests.protection.conftest import NAN, Rig, make_config, measurement


def test_cvl_nominal_when_top_cell_far_from_vmax() -> None:
    st = Rig().run(0.3, cells=3.3)
    assert st.cvl_v == pytest.approx(16 * 3.4)


def test_cvl_pulled_down_when_top_cell_approaches_vmax() -> None:
    # one runaway cell: pack 15*3.35 + 3.58 = 53.83 V; target top cell 3.6 V
    cells = [3.35] * 15 + [3.58]
    st = Rig().run(0.3, cells=cells)
    assert st.cvl_v < 16 * 3.4
    assert st.cvl_v == pytest.approx(sum(cells) + (3.6 - 3.58) * 16)
    # at the target the charger must stop pushing: CVL == pack voltage; above it CVL < pack voltage
    at = [3.35] * 15 + [3.60]
    assert Rig().run(0.3, cells=at).cvl_v == pytest.approx(sum(at))
    over = [3.35] * 15 + [3.65]
    assert Rig().run(0.3, cells=over).cvl_v < sum(over)


def test_cvl_is_continuous_in_the_top_cell_voltage() -> None:
    prev = None
    for k in range(200):
        top = 3.40 + k * 0.001
        cvl = charge_voltage_limit(16, 3.4, 3.7, 0.1, 15 * 3.4 + top, top)
        if prev is not None:
            assert abs(cvl - prev) < 0.02
        prev = cvl


def test_derating_table_interpolates_and_clamps() -> None:
    t = DeratingTable(((0.0, 0.0), (10.0, 1.0), (40.0, 1.0), (50.0, 0.0)))
    assert t(-5) == 0.0 and t(5) == pytest.approx(0.5) and t(25) == 1.0 and t(45) == pytest.approx(0.5)
    assert t(99) == 0.0 and t(NAN) == 0.0


def test_ccl_dcl_derated_by_temperature_soc_and_voltage() -> None:
    rig = Rig(make_config(relays={"tmin_c": -40.0, "tmax_c": 90.0}))
    st = rig.run(0.3)
    assert st.ccl_a == pytest.approx(50.0) and st.dcl_a == pytest.approx(100.0)
    st = rig.run(0.3, temps=[25.0, 25.0, 25.0, 7.5])  # charge table: 5 °C -> 0.2, 10 °C -> 1.0
    assert st.ccl_a == pytest.approx(50.0 * 0.6)
    assert st.dcl_a == pytest.approx(100.0)
    st = rig.run(0.3, temps=[25.0, 25.0, 25.0, 57.5])  # discharge: 55 -> 0.5, 60 -> 0
    assert st.dcl_a == pytest.approx(100.0 * 0.25)
    rig.soc_pct = 95.0
    st = rig.run(0.3)
    assert st.ccl_a == pytest.approx(50.0 * 0.65)  # SOC 90 -> 1.0, 100 -> 0.3
    rig.soc_pct = 5.0
    st = rig.run(0.3)
    assert st.dcl_a == pytest.approx(100.0 * 0.3)
    rig.soc_pct = 50.0
    st = rig.run(0.3, cells=[3.3] * 15 + [3.6])  # 0.1 V below Vmax: between 0.05 (0.1) and 0.15 (1.0)
    assert st.ccl_a == pytest.approx(50.0 * 0.55)


def test_limits_zero_when_direction_not_allowed() -> None:
    rig = Rig()
    st = rig.run(0.3, cells=[3.3] * 15 + [3.70])  # critical: a cell >= Vmax stops charging
    assert not st.charge_allowed and st.ccl_a == 0.0 and st.dcl_a > 0


def bal_rig(**bal: object) -> Rig:
    return Rig(make_config(balancing=bal))


def test_differential_balancing_start_and_stop_delta() -> None:
    rig = bal_rig(mode="differential", start_delta_v=0.010, stop_delta_v=0.003)
    cells = [3.300] * 16
    cells[5] = 3.315
    cells[6] = 3.308  # within start delta: does not start
    st = rig.step(cells=cells, current_a=5.0)
    assert st.balancing[5] and not st.balancing[6] and sum(st.balancing) == 1
    cells[5] = 3.305  # below start but above stop: keeps bleeding
    st = rig.step(cells=cells, current_a=5.0)
    assert st.balancing[5]
    cells[5] = 3.302  # within stop delta: stops
    st = rig.step(cells=cells, current_a=5.0)
    assert not any(st.balancing)


def test_differential_balancing_not_while_discharging() -> None:
    rig = bal_rig(mode="differential")
    cells = [3.30] * 15 + [3.35]
    assert rig.step(cells=cells, current_a=0.5).balancing[15]  # resting
    assert not any(rig.step(cells=cells, current_a=-20.0).balancing)


def test_differential_balancing_only_near_the_top() -> None:
    """A spread near empty is not bled away (top balancing); the same spread near full is."""
    rig = bal_rig(mode="differential", below_vbalance_v=0.1)  # LFP: only cells above 3.3 V
    low = [3.00] * 15 + [3.06]
    assert not any(rig.step(cells=low, current_a=0.0).balancing)
    high = [3.30] * 15 + [3.36]
    assert rig.step(cells=high, current_a=0.0).balancing[15]


def test_threshold_balancing_above_vbalance_any_current() -> None:
    rig = bal_rig(mode="threshold")
    cells = [3.38] * 14 + [3.41, 3.45]
    st = rig.step(cells=cells, current_a=-5.0)
    assert [i for i, b in enumerate(st.balancing) if b] == [14, 15]


def test_balancing_at_most_n_per_chip_highest_first() -> None:
    rig = bal_rig(mode="threshold", max_cells_per_chip=2)
    cells = [3.41, 3.42, 3.43, 3.44, 3.30, 3.30, 3.30, 3.30] + [3.45] * 3 + [3.30] * 5
    st = rig.step(cells=cells)
    on = [i for i, b in enumerate(st.balancing) if b]
    assert on == [2, 3, 8, 9]  # board 0: two highest; board 1: two of the three equal


def test_no_balancing_on_a_hot_board_or_stale_data() -> None:
    rig = bal_rig(mode="threshold", max_board_temperature_c=50.0)
    cells = [3.45] * 16
    st = rig.step(cells=cells, die_c=55.0)
    assert not any(st.balancing)
    st = rig.step(cells=cells, temps=[25.0, 25.0, 52.0, 25.0])  # thermistor 2 is on board 1
    assert any(st.balancing[:8]) and not any(st.balancing[8:])
    stale = list(cells)
    stale[3] = NAN
    st = rig.step(cells=stale, cell_age_s=[0.0] * 3 + [0.1] + [0.0] * 12)
    assert not any(st.balancing)


def test_heater_and_cooler_hysteresis() -> None:
    rig = Rig(make_config(relays={"tmin_c": -40.0, "tmax_c": 90.0}))
    seq = [(10, False), (2.0, True), (4.0, True), (5.9, True), (6.0, False), (3.0, False), (1.0, True)]
    for t_c, on in seq:
        st = rig.step(temps=[t_c, 20.0, 20.0, 20.0])
        assert st.heater_on is on, t_c
        assert rig.io.out.get("heater", False) is on
    seq = [(30, False), (40.0, True), (36.0, True), (35.0, False), (39.9, False)]
    for t_c, on in seq:
        st = rig.step(temps=[20.0, 20.0, 20.0, t_c])
        assert st.cooler_on is on, t_c


def test_heater_off_when_temperatures_unreliable() -> None:
    rig = Rig(make_config(relays={"tmin_c": -40.0}))
    st = rig.step(temps=[1.0, 20.0, 20.0, 20.0])
    assert st.heater_on
    st = rig.run(2.0, temps=[1.0, 20.0, 20.0, 200.0])  # thermistor 3 reads impossible values
    assert not st.heater_on


def test_loop_overrun_warning_and_fault() -> None:
    rig = Rig()
    p = rig.prot
    ok = CycleTiming(period_s=0.1, actual_period_s=0.1, duration_s=0.002, overruns=0)
    slow = CycleTiming(period_s=0.1, actual_period_s=0.12, duration_s=0.12, overruns=1)
    stall = CycleTiming(period_s=0.1, actual_period_s=1.5, duration_s=0.05, overruns=1)
    est = EstimateStatus(soc_pct=50.0)
    st = p.update(measurement(0.0), est, ok)
    assert not st.active
    st = p.update(measurement(0.1), est, slow)
    assert any(a.condition == "loop_overrun" and a.severity.value == "warning" for a in st.active)
    st = p.update(measurement(1.6), est, stall)
    assert any(a.condition == "loop_overrun" and a.severity.value == "fault" for a in st.active)
    assert not st.charge_allowed and not st.discharge_allowed
    t = 1.6
    for _ in range(60):
        t += 0.1
        st = p.update(measurement(t), est, ok)
    assert not st.active


def test_derating_table_is_flat_beyond_its_ends_and_linear_between() -> None:
    d = DeratingTable([(0.0, 0.2), (10.0, 1.0), (40.0, 1.0), (50.0, 0.0)])
    assert d(-20.0) == 0.2 and d(0.0) == 0.2  # below and at the first point
    assert d(50.0) == 0.0 and d(80.0) == 0.0  # at and above the last point
    assert d(5.0) == pytest.approx(0.6) and d(45.0) == pytest.approx(0.5)
    assert d(float("nan")) == 0.0  # unknown = unsafe


def test_charge_voltage_limit_without_a_fresh_reading_is_the_nominal() -> None:
    nan = float("nan")
    assert charge_voltage_limit(16, 3.4, 3.7, 0.1, nan, 3.3) == 16 * 3.4
    assert charge_voltage_limit(16, 3.4, 3.7, 0.1, 16 * 3.3, nan) == 16 * 3.4
