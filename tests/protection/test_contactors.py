"""Contactor sequencing with an in-test DigitalIO and bus voltage fake."""

from __future__ import annotations

from bmsgateway.state import ProtectionStatus
from tests.protection.conftest import FakeBus, FakeIO, Rig, make_config

PACK_V = 16 * 3.30


def cmd(st: ProtectionStatus) -> dict[str, bool]:
    return {c.name: c.commanded for c in st.contactors}


def precharge_rig(bus: FakeBus | None, feedback: tuple[str, ...] = (), **contactors: object) -> Rig:
    cfg = make_config(contactors={"precharge": True, **contactors})
    return Rig(cfg, io=FakeIO(feedback), bus=bus)


def test_precharge_ok_then_mains_close_and_precharge_opens() -> None:
    bus = FakeBus(0.0)
    rig = precharge_rig(bus)
    st = rig.step()
    assert cmd(st) == {"precharge": True, "charge": False, "discharge": False}
    assert st.state == "precharge" and not st.charge_allowed and st.ccl_a == 0.0
    bus.v = 0.5 * PACK_V
    st = rig.run(1.0)
    assert st.state == "precharge"
    bus.v = 0.91 * PACK_V
    st = rig.step()
    assert cmd(st) == {"precharge": False, "charge": True, "discharge": True}
    assert st.state == "ready" and st.charge_allowed and st.discharge_allowed
    names = [(e.condition, e.value) for e in st.events if e.kind == "output"]
    assert ("precharge", 0.0) in names and ("charge", 1.0) in names and ("discharge", 1.0) in names


def test_precharge_uses_measured_bus_voltage_first() -> None:
    rig = precharge_rig(FakeBus(None))
    rig.step()
    st = rig.step(bus_v=0.95 * PACK_V)
    assert cmd(st)["discharge"] and not cmd(st)["precharge"]


def test_precharge_timeout_opens_everything_and_latches() -> None:
    bus = FakeBus(0.2 * PACK_V)
    rig = precharge_rig(bus, precharge_timeout_s=2.0)
    rig.step()
    st = rig.run(1.8)
    assert cmd(st)["precharge"]
    st = rig.run(0.3)
    assert not any(cmd(st).values())
    assert any(a.condition == "precharge_failed" for a in st.active)
    assert st.state == "fault"
    # no retry while latched, even with the bus now fine
    bus.v = PACK_V
    st = rig.run(3.0)
    assert not any(cmd(st).values())
    rig.prot.reset_latched()
    st = rig.run(0.3)
    assert cmd(st)["discharge"] and cmd(st)["charge"] and not cmd(st)["precharge"]


def test_timed_precharge_without_any_bus_voltage_source() -> None:
    rig = precharge_rig(None, precharge_timeout_s=1.0)
    st = rig.run(0.9)
    assert cmd(st)["precharge"] and not cmd(st)["discharge"]
    st = rig.run(0.2)
    assert cmd(st) == {"precharge": False, "charge": True, "discharge": True}
    assert not st.active


def test_welded_contactor_detected_after_feedback_delay() -> None:
    io = FakeIO(feedback=("charge", "discharge"))
    rig = Rig(make_config(relays={"tmin_c": -40.0}), io=io)
    st = rig.run(1.0)
    assert cmd(st)["charge"]
    io.welded.add("charge")
    st = rig.run(3.0, temps=[25.0, 25.0, 25.0, -1.0])  # too cold to charge: charge opens
    assert not cmd(st)["charge"]
    welded = [a for a in st.active if a.condition == "contactor_welded"]
    assert welded and welded[0].location == 0  # index in ProtectionStatus.contactors
    assert {c.name: c.feedback for c in st.contactors}["charge"] is True
    assert not cmd(st)["discharge"] and st.state == "fault"  # welded blocks both
    ev = [e for e in rig.events if e.kind == "raised" and e.condition == "contactor_welded"]
    open_ev = [e for e in rig.events if e.kind == "output" and e.condition == "charge" and e.value == 0.0]
    assert ev[0].time_s - open_ev[0].time_s >= 0.2 - 1e-9  # not before feedback_delay_s


def test_failed_to_close_detected_and_opens_all() -> None:
    io = FakeIO(feedback=("charge", "discharge"))
    io.stuck_open.add("discharge")
    rig = Rig(make_config(), io=io)
    st = rig.step()
    assert cmd(st)["discharge"]
    assert not any(a.condition == "contactor_failed_to_close" for a in st.active)
    st = rig.run(0.3)
    assert any(a.condition == "contactor_failed_to_close" and a.location == 1 for a in st.active)
    assert not any(cmd(st).values())


def test_feedback_that_follows_within_delay_is_fine() -> None:
    io = FakeIO(feedback=("charge", "discharge"))
    rig = Rig(make_config(), io=io)
    st = rig.run(5.0)
    assert not st.active and cmd(st)["charge"] and cmd(st)["discharge"]


def test_short_circuit_opens_contactors_in_the_same_cycle() -> None:
    rig = Rig()
    rig.run(0.5)
    st = rig.step(current_a=-800.0)
    assert not any(cmd(st).values())
    assert not st.charge_allowed and not st.discharge_allowed
    assert not rig.io.out["charge"] and not rig.io.out["discharge"]
    assert not rig.io.out["allow_discharge"]


def test_single_main_layout() -> None:
    rig = Rig(make_config(contactors={"layout": "single_main"}, relays={"tmin_c": -40.0}))
    st = rig.run(0.5)
    assert cmd(st) == {"main": True}
    st = rig.run(3.0, temps=[25.0, 25.0, 25.0, -1.0])  # charge blocked only: main stays closed
    assert cmd(st) == {"main": True} and not st.charge_allowed and st.discharge_allowed
    st = rig.step(current_a=-800.0)
    assert cmd(st) == {"main": False}


def test_shutdown_opens_everything_and_stays_open() -> None:
    rig = Rig()
    rig.run(0.5)
    rig.prot.shutdown()
    assert rig.io.safe_calls == 1
    assert not any(rig.io.out.values())
    st = rig.run(1.0)
    assert st.state == "stopped" and not any(rig.io.out.values())
    assert not st.charge_allowed and not st.discharge_allowed and st.ccl_a == 0 and st.dcl_a == 0


def test_output_changes_are_events_and_in_the_log() -> None:
    rig = Rig()
    rig.step()
    outs = [e for e in rig.prot.event_log if e.kind == "output"]
    assert {e.condition for e in outs} >= {"charge", "discharge", "allow_charge", "allow_discharge"}
    n = rig.prot.event_log.total
    rig.run(2.0)
    assert rig.prot.event_log.total == n  # nothing changes, nothing logged


def test_precharge_end_closes_only_the_allowed_direction() -> None:
    """Charging is blocked (too cold) while precharging: when precharge completes, the charge
    contactor stays open in every cycle; only discharge closes."""
    bus = FakeBus(0.0)
    rig = precharge_rig(bus, precharge_timeout_s=30.0)
    rig.step()
    st = rig.run(3.0, temps=-5.0)
    assert cmd(st)["precharge"] and not st.charge_allowed
    bus.v = 0.95 * PACK_V
    st = rig.run(1.0, temps=-5.0)
    assert cmd(st) == {"precharge": False, "charge": False, "discharge": True}
    assert ("charge", True) not in rig.io.log


def test_precharge_opens_when_a_fault_blocks_both_directions() -> None:
    """A fault that blocks both directions during precharge opens the precharge contactor at
    once; it does not wait for the precharge timeout."""
    rig = precharge_rig(FakeBus(0.0), precharge_timeout_s=30.0)
    rig.step()
    st = rig.run(0.5)
    assert cmd(st)["precharge"]
    st = rig.run(5.0, temps=80.0)
    assert not st.charge_allowed and not st.discharge_allowed
    assert cmd(st) == {"precharge": False, "charge": False, "discharge": False}
    assert st.state != "precharge"
    assert not any(a.condition == "precharge_failed" for a in st.active)  # not a precharge failure


def test_after_an_aborted_precharge_the_next_start_precharges_again() -> None:
    """Precharge aborted because both directions were blocked; the bus is now up (from outside).
    When the fault clears, the contactors go through precharge again, never straight to mains."""
    bus = FakeBus(0.0)
    rig = precharge_rig(bus, precharge_timeout_s=30.0)
    rig.step()
    rig.run(0.5)
    rig.run(5.0, temps=80.0)
    assert not rig.io.out["precharge"]
    mark = len(rig.io.log)
    bus.v = 0.95 * PACK_V
    st = rig.run(20.0, temps=25.0)
    assert cmd(st)["discharge"]
    closes = [name for name, on in rig.io.log[mark:] if on and name in ("precharge", "charge", "discharge")]
    assert closes[0] == "precharge"


def test_precharge_times_out_exactly_at_its_timeout() -> None:
    rig = precharge_rig(FakeBus(0.2 * PACK_V), precharge_timeout_s=2.0)
    rig.step()  # t = 0: precharge starts
    assert cmd(rig.run(1.9))["precharge"]  # t = 1.9
    st = rig.step()  # t = 2.0: elapsed == timeout
    assert not cmd(st)["precharge"] and any(a.condition == "precharge_failed" for a in st.active)
