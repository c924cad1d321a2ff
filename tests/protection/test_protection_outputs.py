"""Protection outputs that must hold or follow the right input: allow-charge follows the charge
contactor, missing temperatures hold the limits, the relay table sees lost communication."""

from __future__ import annotations

from tests.protection.conftest import NAN, Rig, make_config, raised


def test_allow_charge_follows_the_charge_contactor_not_the_discharge_one() -> None:
    """Two-contactor layout, a cell under Vmin: discharge is blocked and its contactor opens;
    charging (which lifts the cell) stays allowed with its own contactor closed."""
    rig = Rig(make_config(contactors={"layout": "charge_discharge"}))
    rig.run(1.0, cells=3.30)
    st = rig.run(5.0, cells=[3.30] * 15 + [2.50])
    assert raised(st, "cell_under_voltage")
    cmd = {c.name: c.commanded for c in st.contactors}
    assert cmd == {"charge": True, "discharge": False}
    assert st.allow_charge_relay and not st.allow_discharge_relay
    assert st.charge_allowed and st.ccl_a > 0.0


def test_a_cycle_without_temperatures_holds_the_current_limits() -> None:
    rig = Rig()
    before = rig.run(2.0, temps=20.0)
    assert before.ccl_a > 0.0 and before.dcl_a > 0.0
    st = rig.step(temps=[NAN] * 4, temp_age_s=[0.1] * 4)
    assert (st.ccl_a, st.dcl_a) == (before.ccl_a, before.dcl_a)


def test_after_lost_communication_the_relays_need_their_enable_terms_again() -> None:
    """Communication lost switches both relays off in the relay table itself; when it comes back
    with the SOC in the hysteresis band, the charge relay stays off (no enable term holds)."""
    rig = Rig(make_config(relays={"min_off_s": 0.0}))
    assert rig.run(1.0).allow_charge_relay
    st = rig.run(10.0, current_a=0.0, current_age_s=10.0)
    assert raised(st, "communication_lost")
    rig.soc_pct = 95.0
    st = rig.run(30.0)
    assert not raised(st, "communication_lost")
    assert not st.allow_charge_relay and st.allow_discharge_relay
