"""Discrete inputs (issue 17 item 7) through Protection.update(): debounce, polarity, remote off,
emergency stop, charger detection, and the alarm output's pattern."""

from __future__ import annotations

from typing import Any

import pytest

from bmsgateway.config import Config
from bmsgateway.config.discrete import AlarmConfig
from bmsgateway.protection.alarm import AlarmPattern
from tests.protection.conftest import FakeIO, Rig, make_config, raised

CONTACTORS = ("charge", "discharge")


def _config(inputs: list[dict[str, Any]], **alarm: Any) -> Config:
    base = make_config().model_dump()
    base["hardware"]["inputs"] = inputs
    base["hardware"]["gpio"]["alarm"] = 16
    base["protection"]["alarm"].update(alarm)
    return Config.model_validate(base)


def _rig(inputs: list[dict[str, Any]], **alarm: Any) -> Rig:
    return Rig(_config(inputs, **alarm), FakeIO())


def _closed(rig: Rig) -> bool:
    return all(rig.io.out.get(name, False) for name in CONTACTORS)


def _open(rig: Rig) -> bool:
    return not any(rig.io.out.get(name, False) for name in (*CONTACTORS, "precharge", "allow_charge",
                                                              "allow_discharge", "heater", "cooler"))


def test_a_glitch_shorter_than_the_debounce_changes_nothing() -> None:
    rig = _rig([{"line": 25, "function": "emergency_stop", "debounce_s": 0.5}])
    rig.run(2.0)
    assert _closed(rig)
    rig.io.levels = (True,)
    rig.run(0.4)  # 4 samples of the new level spanning 0.3 s: shorter than 0.5 s
    rig.io.levels = (False,)
    st = rig.run(2.0)
    assert not raised(st, "emergency_stop") and st.inputs == (False,) and _closed(rig)
    assert not [e for e in rig.events if e.condition == "emergency_stop"]


def test_emergency_stop_latches_until_released_and_reset() -> None:
    rig = _rig([{"line": 25, "function": "emergency_stop", "active_low": True, "debounce_s": 0.2}])
    rig.io.levels = (True,)  # active low: a high line is the idle state
    rig.run(2.0)
    assert _closed(rig)
    rig.io.levels = (False,)  # pressed
    st = rig.step()
    assert st.inputs == (False,)  # not yet: the debounce time has not passed
    st = rig.run(0.3)
    assert st.inputs == (True,) and raised(st, "emergency_stop") and _open(rig)
    assert st.state == "fault" and not st.charge_allowed and not st.discharge_allowed
    rig.prot.reset_latched()  # still pressed: the reset keeps it
    st = rig.run(1.0)
    assert raised(st, "emergency_stop") and _open(rig)
    rig.io.levels = (True,)  # released: still latched
    st = rig.run(5.0)
    assert raised(st, "emergency_stop") and _open(rig)
    rig.prot.reset_latched()
    st = rig.run(2.0)
    assert not raised(st, "emergency_stop") and _closed(rig)
    kinds = [(e.kind, e.message) for e in rig.events if e.condition == "emergency_stop"]
    assert [k for k, _ in kinds] == ["raised", "cleared"] and kinds[1][1] == "reset command"


def test_remote_off_holds_everything_open_while_active_and_never_latches() -> None:
    rig = _rig([{"line": 25, "function": "remote_off", "debounce_s": 0.1}])
    rig.run(2.0, temps=[2.0, 25.0, 25.0, 25.0])  # cold: the heater is on
    assert _closed(rig) and rig.io.out.get("heater")
    for _ in range(4):  # switched off and on again, more often than recurrence latches a fault
        rig.io.levels = (True,)
        st = rig.run(1.0, temps=[2.0, 25.0, 25.0, 25.0])
        assert st.remote_off and raised(st, "remote_off") and _open(rig) and st.state == "fault"
        assert not st.alarm_active and not rig.io.out.get("alarm")  # the user's own switch: no alarm
        rig.io.levels = (False,)
        st = rig.run(3.0, temps=[2.0, 25.0, 25.0, 25.0])
        assert not st.remote_off and not raised(st, "remote_off") and _closed(rig) and rig.io.out.get("heater")
    assert not any(a.latched for a in st.active)
    raises = [e for e in rig.events if e.condition == "remote_off" and e.kind == "raised"]
    assert len(raises) == 4


def test_charger_present_and_generic_inputs_are_published() -> None:
    rig = _rig([{"line": 25, "function": "charger_present"}, {"line": 26, "function": "generic", "active_low": True}])
    rig.io.levels = (False, True)
    st = rig.run(1.0)
    assert st.charger_present is False and st.inputs == (False, False)
    rig.io.levels = (True, False)
    st = rig.run(1.0)
    assert st.charger_present is True and st.inputs == (True, True) and not st.active and _closed(rig)
    assert Rig().run(0.5).charger_present is None  # no such input configured


def test_a_missing_reading_holds_the_state() -> None:
    rig = _rig([{"line": 25, "function": "generic", "debounce_s": 0.0}])
    rig.io.levels = (True,)
    assert rig.run(0.2).inputs == (True,)
    rig.io.levels = ()
    assert rig.run(1.0).inputs == (True,)


def test_alarm_output_follows_a_fault_with_its_pattern() -> None:
    rig = _rig([], fault_pattern_s=[0.3, 0.2])
    rig.run(1.0)
    assert not rig.io.out.get("alarm")
    seen = []
    for _ in range(20):  # 2 s of a cell over Vmax + fault delay
        st = rig.step(cells=[3.3] * 15 + [3.80])
        seen.append((st.alarm_active, st.alarm_on, rig.io.out.get("alarm", False)))
    first = next(k for k, (active, _, _) in enumerate(seen) if active)
    beeps = [on for _, on, _ in seen[first:]]
    assert all(on == out for _, on, out in seen)  # the output follows the pattern
    # 0.3 s on, 0.2 s off at a 0.1 s cycle: on on on off off, repeated from the fault's cycle
    assert beeps[:10] == [True, True, True, False, False] * 2
    alarm_events = [e for e in rig.events if e.condition == "alarm"]
    assert len(alarm_events) == 1 and alarm_events[0].message.startswith("on")  # one event, not one per beep
    st = rig.run(6.0, cells=3.3)
    assert st.alarm_active  # the over-voltage fault is latched: it sounds on until the reset
    rig.prot.reset_latched()
    st = rig.run(1.0, cells=3.3)
    assert not st.active and not st.alarm_active and not rig.io.out.get("alarm")
    assert [e.message[:3] for e in rig.events if e.condition == "alarm"] == ["on ", "off"]


def test_alarm_pattern_steady_and_warnings() -> None:
    steady = AlarmPattern(AlarmConfig())
    assert steady.update(True, False, 0.0) == (True, True) and steady.update(True, False, 7.3) == (True, True)
    assert steady.update(False, True, 8.0) == (False, False)  # warnings are silent by default
    warn = AlarmPattern(AlarmConfig(on_warnings=True, warning_pattern_s=(1.0, 4.0)))
    assert warn.update(False, True, 10.0) == (True, True)
    assert warn.update(False, True, 11.5) == (True, False)
    assert warn.update(False, True, 15.2) == (True, True)
    assert warn.update(True, True, 15.3) == (True, True)  # a fault: steady from now on


@pytest.mark.parametrize(("pattern", "match"), [([0.5], "pairs"), ([0.5, 0.01], "0.05..3600")])
def test_bad_alarm_pattern_is_refused(pattern: list[float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        AlarmConfig(fault_pattern_s=tuple(pattern))


def test_silence_switches_the_alarm_off_until_another_fault() -> None:
    rig = _rig([{"line": 25, "function": "emergency_stop", "debounce_s": 0.0}])
    rig.io.levels = (True,)
    st = rig.run(0.5)
    assert st.alarm_active and rig.io.out.get("alarm")
    rig.prot.silence_alarm()
    st = rig.run(2.0)
    assert st.alarm_active and not st.alarm_on and not rig.io.out.get("alarm")  # silenced: the fault stays
    assert raised(st, "emergency_stop")
    st = rig.run(2.0, cells=[3.3] * 15 + [3.80])  # another fault is raised: it sounds again
    assert raised(st, "cell_over_voltage") and rig.io.out.get("alarm")
    notes = [e.message for e in rig.events if e.condition == "silence_alarm"]
    assert notes == ["alarm output silenced until another fault is raised"]


def test_a_second_silence_keeps_the_alarm_silenced_and_one_without_an_alarm_arms_nothing() -> None:
    rig = _rig([{"line": 25, "function": "emergency_stop", "debounce_s": 0.0}])
    rig.prot.silence_alarm()  # nothing sounds yet: the next fault must still sound
    rig.io.levels = (True,)
    st = rig.run(0.5)
    assert st.alarm_on and rig.io.out.get("alarm")
    rig.prot.silence_alarm()
    rig.prot.silence_alarm()  # pressed twice: still silenced, not re-armed
    st = rig.run(1.0)
    assert st.alarm_active and not st.alarm_on and not rig.io.out.get("alarm")
    notes = [e.message for e in rig.events if e.condition == "silence_alarm"]
    assert notes == ["nothing to silence: no alarm is sounding", "alarm output silenced until another fault is raised",
                     "nothing to silence: no alarm is sounding"]


def test_a_silenced_warning_alarm_sounds_again_for_the_next_warning() -> None:
    """Warnings raise no fault, so "until another fault" cannot end the silence: the alarm ending does."""
    rig = _rig([], on_warnings=True, warning_pattern_s=[1.0, 1.0])
    vmax = rig.config.pack.limits.vmax_v
    warn = [3.3] * 15 + [vmax - 0.02]  # above the warning level, below the fault level
    rig.run(0.5)
    st = rig.step(cells=warn)
    while not st.alarm_active:  # presses while nothing sounds (up to the warning's cycle) silence nothing
        rig.prot.silence_alarm()
        st = rig.step(cells=warn)
    assert st.alarm_on and rig.io.out.get("alarm")
    assert not raised(st, "cell_over_voltage") and raised(st, "cell_over_voltage", "warning")
    st = rig.run(0.5, cells=warn)
    rig.prot.silence_alarm()
    assert not rig.run(1.0, cells=warn).alarm_on
    st = rig.run(5.0, cells=3.3)  # the warning clears: the alarm ends
    assert not st.alarm_active
    st = rig.run(2.0, cells=warn)  # the next warning sounds again
    assert st.alarm_active and st.alarm_on


def test_an_emergency_stop_switches_the_heater_off_too() -> None:
    rig = _rig([{"line": 25, "function": "emergency_stop", "debounce_s": 0.0}])
    cold = [2.0, 25.0, 25.0, 25.0]
    rig.run(2.0, temps=cold)
    assert rig.io.out.get("heater")
    rig.io.levels = (True,)
    st = rig.run(0.5, temps=cold)
    assert raised(st, "emergency_stop") and not st.heater_on and _open(rig)
