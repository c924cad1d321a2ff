"""Protection across operator actions: a settings change that keeps the contactor layout leaves
the power path alone; the reset command says exactly what it cleared and kept."""

from __future__ import annotations

from tests.protection.conftest import NAN, FakeBus, Rig, make_config, raised


def test_a_settings_change_that_keeps_the_layout_leaves_the_contactors_closed() -> None:
    rig = Rig()
    st = rig.run(1.0)
    assert all(c.commanded for c in st.contactors) and st.charge_allowed
    switched = len(rig.io.log)
    rig.prot.apply_config(make_config(cell_voltage={"ov_fault_margin_v": 0.06}))
    st = rig.run(1.0)
    assert all(c.commanded for c in st.contactors) and st.charge_allowed
    assert rig.io.log[switched:] == []  # no output switched at all
    assert not [e for e in rig.events if "layout changed" in e.message]


def test_a_layout_change_opens_the_old_contactors_once() -> None:
    rig = Rig()
    rig.run(1.0)
    rig.prot.apply_config(make_config(contactors={"layout": "single_main"}))
    st = rig.run(0.5)
    assert {c.name for c in st.contactors} == {"main"}
    assert not rig.io.out["charge"] and not rig.io.out["discharge"] and rig.io.out["main"]


def test_the_reset_command_reports_what_it_cleared_and_kept() -> None:
    rig = Rig()
    rig.run(2.0, current_a=400.0)  # above the peak current limit: a latched fault
    rig.run(20.0, current_a=0.0)  # gone (after the clear delays)
    rig.prot.reset_latched()
    rig.step(current_a=0.0)
    cmd = [e for e in rig.events if e.kind == "command" and e.condition == "reset_latched"]
    assert [e.message for e in cmd] == ["reset: 2 latched condition(s) cleared"]  # peak and short circuit
    rig.run(2.0, current_a=400.0)
    rig.prot.reset_latched()  # still present: kept
    rig.step(current_a=400.0)
    cmd = [e for e in rig.events if e.kind == "command" and e.condition == "reset_latched"]
    assert cmd[-1].message == ("reset: 0 latched condition(s) cleared, 2 kept (condition still present by "
                               "the thresholds it latched under)")
    assert raised(rig.run(0.2, current_a=400.0), "charge_over_current")


def test_a_blocked_direction_has_a_zero_current_limit() -> None:
    rig = Rig(make_config(contactors={"layout": "charge_discharge"}))
    rig.run(1.0, cells=3.30)
    st = rig.run(5.0, cells=[3.30] * 15 + [2.50])  # under Vmin: discharge blocked
    assert not st.discharge_allowed and st.dcl_a == 0.0
    assert st.charge_allowed and st.ccl_a > 0.0


def test_a_cycle_without_every_cell_holds_the_charge_voltage_limit() -> None:
    rig = Rig()
    high = rig.run(2.0, cells=[3.40] * 15 + [3.62])  # one cell near Vmax: CVL pulled down
    nominal = rig.config.pack.cell_count * rig.config.pack.limits.vbalance_v
    assert high.cvl_v < nominal - 0.05
    st = rig.step(cells=[3.40] * 14 + [NAN, 3.62])  # one cell not read this cycle
    assert st.cvl_v == high.cvl_v


def test_without_an_estimate_a_missing_current_leaves_the_fallback_soc_alone() -> None:
    """Before the estimator has a SOC, protection counts its own from the current; a cycle without
    a current reading must not move it (the SOC derating of DCL would show it)."""
    rig = Rig(soc_pct=NAN)
    before = rig.run(1.0, current_a=-1.0)
    assert before.discharge_allowed and before.dcl_a > 0.0
    st = rig.step(current_a=NAN, current_age_s=0.1)
    assert st.dcl_a == before.dcl_a


def test_a_bus_sensor_that_gives_no_reading_fails_precharge_instead_of_closing_blind() -> None:
    """With a bus voltage sensor wired, a missing reading is a failed sensor: precharge must not
    close the mains on its timeout as it does without any sensor."""
    cfg = make_config(contactors={"precharge": True, "precharge_timeout_s": 1.0})
    rig = Rig(cfg, bus=FakeBus(None))
    st = rig.run(3.0)
    assert not any(c.commanded for c in st.contactors if c.name != "precharge")
    assert not st.charge_allowed and not st.discharge_allowed
    assert [(a.condition, a.location) for a in st.active] == [("precharge_failed", -1)]  # the pack's


def test_a_layout_change_during_precharge_starts_precharge_over() -> None:
    bus = FakeBus(0.0)
    rig = Rig(make_config(contactors={"precharge": True}), bus=bus)
    st = rig.run(0.3)
    assert st.state == "precharge"
    rig.prot.apply_config(make_config(contactors={"precharge": True, "layout": "single_main"}))
    st = rig.run(0.3)
    assert {c.name: c.commanded for c in st.contactors} == {"precharge": True, "main": False}
    assert st.state == "precharge"


def test_temperatures_a_board_no_longer_delivers_count_as_lost_communication() -> None:
    """Board 2 answers its cell reads but not its aux reads: its cells stay fresh, its
    thermistors age. That is lost communication (not a thermistor fault: the sensors may be fine)."""
    rig = Rig()
    rig.run(1.0)
    st = rig.run(3.0, board_ok=[True, False], failed_cycles=[0, 0], temps=[25.0, 25.0, NAN, NAN],
                 temp_age_s=[0.0, 0.0, 5.0, 5.0])
    assert raised(st, "communication_lost") and not raised(st, "thermistor_fault")
    assert not st.charge_allowed and not st.discharge_allowed


def test_a_healthy_boards_missing_temperature_is_a_thermistor_fault_not_lost_communication() -> None:
    rig = Rig()
    rig.run(1.0)
    st = rig.run(3.0, temps=[25.0, 25.0, NAN, 25.0], temp_age_s=[0.0, 0.0, 5.0, 0.0])
    assert raised(st, "thermistor_fault") and not raised(st, "communication_lost")


def test_lost_communication_is_reported_for_the_silent_board_only() -> None:
    rig = Rig()
    rig.run(1.0)
    st = rig.run(3.0, board_ok=[True, False], failed_cycles=[0, 0], temps=[25.0, NAN, NAN, NAN],
                 temp_age_s=[0.0, 5.0, 5.0, 5.0])
    lost = sorted({a.location for a in st.active if a.condition == "communication_lost"})
    assert lost == [1]  # board 1's missing thermistor is its own (thermistor) fault
    assert any(a.condition == "thermistor_fault" and a.location == 1 for a in st.active)


def test_a_board_exactly_at_its_temperature_limit_still_balances() -> None:
    """Balancing stops on a board *above* balancing.max_board_temperature_c (die or thermistor)."""
    cfg = make_config(balancing={"mode": "threshold", "max_board_temperature_c": 50.0})
    rig = Rig(cfg)
    cells = [3.45] * 16
    st = rig.step(cells=cells, die_c=50.0)
    assert any(st.balancing[:8]) and any(st.balancing[8:])
    st = rig.step(cells=cells, die_c=30.0, temps=[25.0, 25.0, 50.0, 25.0])
    assert any(st.balancing[:8]) and any(st.balancing[8:])
    st = rig.step(cells=cells, die_c=30.0, temps=[25.0, 25.0, 50.5, 25.0])
    assert any(st.balancing[:8]) and not any(st.balancing[8:])


def test_the_first_boards_hot_thermistor_and_lost_temperatures_count_too() -> None:
    cfg = make_config(balancing={"mode": "threshold", "max_board_temperature_c": 50.0})
    rig = Rig(cfg)
    st = rig.step(cells=[3.45] * 16, die_c=30.0, temps=[52.0, 25.0, 25.0, 25.0])  # board 0 hot
    assert not any(st.balancing[:8]) and any(st.balancing[8:])
    rig = Rig()
    rig.run(1.0)
    st = rig.run(3.0, board_ok=[False, True], failed_cycles=[0, 0], temps=[NAN, NAN, 25.0, 25.0],
                 temp_age_s=[5.0, 5.0, 0.0, 0.0])
    assert sorted({a.location for a in st.active if a.condition == "communication_lost"}) == [0]


def test_no_current_limit_while_a_fault_blocks_with_healthy_cells_and_temperatures() -> None:
    rig = Rig()
    assert rig.run(1.0).dcl_a > 0.0
    st = rig.run(1.0, current_a=-400.0)  # discharge over-current: discharging blocked
    assert not st.discharge_allowed and st.charge_allowed
    assert st.dcl_a == 0.0 and st.ccl_a > 0.0


def test_a_cell_exactly_as_old_as_allowed_is_stale() -> None:
    rig = Rig()
    limit = rig.config.protection.max_value_age_s
    rig.run(0.5)
    st = rig.run(3.0, cell_age_s=[0.0] * 15 + [limit])
    assert any(a.condition == "communication_lost" for a in st.active)


def test_precharge_completes_with_the_bus_exactly_at_its_fraction_of_the_pack() -> None:
    cfg = make_config(contactors={"precharge": True})
    pack_v = sum([3.30] * 16)
    rig = Rig(cfg, bus=FakeBus(cfg.protection.contactors.precharge_fraction * pack_v))
    st = rig.run(0.5, cells=3.30)
    assert st.state == "ready" and all(c.commanded for c in st.contactors if c.name != "precharge")


def test_without_an_estimate_the_fallback_soc_is_full_only_when_every_cell_reaches_vbalance() -> None:
    """Normal relay mode: "full" is the lowest cell at Vbalance (state.is_full), not a pack voltage
    at n x Vbalance that high cells reach while one is still low. The charge SOC derating of CCL
    (x 0.3 at 100 %) shows the fallback SOC."""
    rig = Rig(soc_pct=NAN)
    vbal = rig.config.pack.limits.vbalance_v
    before = rig.run(1.0, current_a=0.0, cells=3.30)
    assert before.ccl_a > 0.0
    rig.step(current_a=0.0, cells=[vbal + 0.01] * 15 + [vbal - 0.1])  # the sum is above 16 x Vbalance
    assert rig.run(1.0, current_a=0.0, cells=3.30).ccl_a == before.ccl_a  # still ~50 %: not full
    rig.step(current_a=0.0, cells=[vbal] * 16)  # every cell at Vbalance: full, the charge relay stops
    after = rig.run(1.0, current_a=0.0, cells=3.30)
    # 100 %: the relay restarts only below charge_restart_soc_pct (with 50 % it would at once)
    assert not after.charge_allowed and after.ccl_a == 0.0 and after.discharge_allowed
