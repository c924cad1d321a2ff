"""The fault engine's bookkeeping that its callers act on: which keys it still tracks, the latch
version the daemon saves the state file on, the count of raised faults that makes protection
act in the same cycle, and what a new table does to raised and latched conditions."""

from __future__ import annotations

from dataclasses import replace

from bmsgateway.protection.engine import Blocks, ConditionSpec, FaultEngine
from bmsgateway.protection.ids import ConditionId
from bmsgateway.state import Event, Severity

NAN = float("nan")
OV = "cell_over_voltage.fault"
WARN = "cell_over_voltage.warning"
UT = "charge_under_temperature.fault"


def spec(key: str = OV, latched: bool = False, severity: Severity = Severity.FAULT, set_v: float = 3.70,
         clear_v: float = 3.60, set_delay_s: float = 1.0, clear_delay_s: float = 2.0) -> ConditionSpec:
    return ConditionSpec(
        key=key, condition=ConditionId.CELL_OVER_VOLTAGE, severity=severity, above=True,
        set_threshold=set_v, set_delay_s=set_delay_s, clear_threshold=clear_v, clear_delay_s=clear_delay_s,
        latched=latched, blocks=Blocks.CHARGE, unit="V", location="cell", description=key,
    )


def under(latched: bool = True) -> ConditionSpec:
    return ConditionSpec(
        key=UT, condition=ConditionId.CHARGE_UNDER_TEMPERATURE, severity=Severity.FAULT, above=False,
        set_threshold=0.0, set_delay_s=0.0, clear_threshold=3.0, clear_delay_s=0.0, latched=latched,
        blocks=Blocks.CHARGE, unit="C", location="sensor", description=UT,
    )


def feed(eng: FaultEngine, key: str, values: list[float], t0: float, seconds: float, step: float = 0.1) -> float:
    t = t0
    for _ in range(round(seconds / step)):
        fresh = [v for v in values if v == v]
        eng.many(key, values, (max(fresh) if eng.spec(key).above else min(fresh)) if fresh else NAN, t)
        t = round(t + step, 9)
    return t


def active(eng: FaultEngine) -> list[tuple[str, int]]:
    return sorted((a.condition, a.location) for a in eng.summary()[0])


def test_a_key_is_tracked_only_while_raised_or_pending() -> None:
    """Protection feeds some conditions only while the engine tracks them: a short excursion
    that never raised, and a cleared condition, must leave nothing tracked behind."""
    eng = FaultEngine([spec()], lambda e: None)
    assert not eng.tracking(OV)
    t = feed(eng, OV, [3.75, 3.3], 0.0, 0.5)  # pending
    assert eng.tracking(OV)
    t = feed(eng, OV, [3.65, 3.3], t, 0.2)  # back below set before the delay
    assert not eng.tracking(OV)
    t = feed(eng, OV, [3.75, 3.3], t, 1.2)
    assert eng.tracking(OV) and active(eng) == [("cell_over_voltage", 0)]
    feed(eng, OV, [3.50, 3.3], t, 2.2)
    assert not eng.tracking(OV) and active(eng) == []


def test_a_short_excursion_with_no_clear_delay_emits_nothing() -> None:
    events: list[Event] = []
    eng = FaultEngine([spec(clear_delay_s=0.0)], events.append)
    t = feed(eng, OV, [3.75], 0.0, 0.5)
    feed(eng, OV, [3.50], t, 1.0)
    assert events == [] and active(eng) == []


def test_latch_version_moves_with_latches_only() -> None:
    """The daemon saves the state file when the latch version moves: on a latch raised and a
    latch reset, not on an auto-recovering fault coming and going."""
    eng = FaultEngine([spec(), under()], lambda e: None)
    v0 = eng.latch_version
    t = feed(eng, OV, [3.75], 0.0, 1.2)
    t = feed(eng, OV, [3.50], t, 2.2)
    assert active(eng) == [] and eng.latch_version == v0
    t = feed(eng, UT, [-1.0], t, 0.1)
    v1 = eng.latch_version
    assert v1 != v0 and active(eng) == [("charge_under_temperature", 0)]
    t = feed(eng, UT, [5.0], t, 0.2)  # gone, but latched: no change until the reset
    assert eng.latch_version == v1
    assert eng.reset_latched(t) == 1
    assert eng.latch_version not in (v0, v1) and active(eng) == []


def test_raised_faults_counts_fault_raises_only() -> None:
    eng = FaultEngine([spec(), spec(WARN, severity=Severity.WARNING, set_v=3.65, clear_v=3.55)], lambda e: None)
    t = feed(eng, WARN, [3.68], 0.0, 1.2)
    t = feed(eng, OV, [3.68], t, 1.2)
    assert eng.raised_faults == 0  # a warning is raised, no fault
    t = feed(eng, OV, [3.75], t, 1.2)
    assert eng.raised_faults == 1
    feed(eng, OV, [3.50], t, 2.2)  # its clear is no raise
    assert eng.raised_faults == 1


def test_a_new_table_judges_new_locations_by_its_own_thresholds() -> None:
    """A latched fault keeps the thresholds it latched under; every other location of the same
    key is judged by the new table."""
    eng = FaultEngine([spec(latched=True)], lambda e: None)
    t = feed(eng, OV, [3.75, 3.30], 0.0, 1.2)
    assert active(eng) == [("cell_over_voltage", 0)]
    eng.set_specs([spec(latched=True, set_v=3.80, clear_v=3.70)])
    feed(eng, OV, [3.75, 3.76], t, 2.0)  # cell 1 above the old set, below the new one
    assert active(eng) == [("cell_over_voltage", 0)]


def test_a_new_table_without_a_key_keeps_its_latches_and_drops_the_rest() -> None:
    eng = FaultEngine([spec(), under()], lambda e: None)
    t = feed(eng, OV, [3.75], 0.0, 1.2)
    t = feed(eng, UT, [-1.0, 20.0], t, 0.1)
    assert active(eng) == [("cell_over_voltage", 0), ("charge_under_temperature", 0)]
    eng.set_specs([])  # both rows gone from the table
    summary = eng.summary()
    assert [(a.condition, a.latched) for a in summary[0]] == [("charge_under_temperature", True)]
    assert summary[3] == Blocks.CHARGE  # the latch still blocks charging
    assert eng.reset_latched(t) == 1 and active(eng) == []


def test_a_raised_condition_keeps_its_state_across_a_new_table() -> None:
    eng = FaultEngine([spec()], lambda e: None)
    t = feed(eng, OV, [3.75], 0.0, 1.2)
    eng.set_specs([replace(spec(), set_threshold=3.72)])
    assert active(eng) == [("cell_over_voltage", 0)]
    feed(eng, OV, [3.65], t, 1.0)  # between clear and set: stays raised
    assert active(eng) == [("cell_over_voltage", 0)]


def test_an_under_condition_trips_at_its_set_value_and_clears_at_its_clear_value() -> None:
    events: list[Event] = []
    eng = FaultEngine([under(latched=False)], events.append)
    t = feed(eng, UT, [0.0], 0.0, 0.1)  # exactly the set threshold (0 degC): trips
    assert active(eng) == [("charge_under_temperature", 0)]
    t = feed(eng, UT, [2.9], t, 0.5)  # inside the hysteresis band: stays
    assert active(eng) == [("charge_under_temperature", 0)]
    feed(eng, UT, [3.0], t, 0.1)  # exactly the clear threshold: clears
    assert active(eng) == [] and [e.kind for e in events] == ["raised", "cleared"]


def test_restored_latches_move_the_latch_version() -> None:
    """Restored latches are a change of the latched set: the daemon saves them back at once."""
    eng = FaultEngine([spec(latched=True)], lambda e: None)
    v0 = eng.latch_version
    assert eng.restore_latched([{"key": OV, "location": 2, "above": True, "set_threshold": 3.7,
                                 "clear_threshold": 3.6}], 0.0) == 1
    assert eng.latch_version != v0 and active(eng) == [("cell_over_voltage", 2)]


def test_a_pending_condition_is_not_active_and_no_latch_is_counted() -> None:
    eng = FaultEngine([spec(), under()], lambda e: None)
    t = feed(eng, OV, [3.75], 0.0, 0.5)  # pending, not yet raised
    assert eng.tracking(OV) and active(eng) == [] and eng.summary()[3] == Blocks.NONE
    t = feed(eng, OV, [3.75], t, 1.0)  # raised, but not latched
    assert active(eng) == [("cell_over_voltage", 0)] and eng.latched_count() == (0, 0)
    t = feed(eng, UT, [-1.0], t, 0.1)
    assert eng.latched_count() == (1, 0)
    t = feed(eng, UT, [5.0], t, 0.1)
    assert eng.latched_count() == (1, 1)
    t = feed(eng, OV, [3.50], t, 2.2)  # the over-voltage clears ...
    feed(eng, OV, [3.75], t, 0.5)  # ... and is pending again next to the raised latch
    assert active(eng) == [("charge_under_temperature", 0)]


def test_a_saved_latch_with_a_non_finite_threshold_is_not_restored() -> None:
    eng = FaultEngine([spec(latched=True)], lambda e: None)
    bad = {"key": OV, "location": 1, "above": True, "set_threshold": float("nan"), "clear_threshold": 3.6}
    assert eng.restore_latched([bad, {**bad, "clear_threshold": float("inf"), "set_threshold": 3.7},
                                {**bad, "set_threshold": 3.7, "clear_delay_s": float("nan")}], 0.0) == 0
    assert active(eng) == []


def test_after_a_clear_a_new_excursion_waits_the_full_set_delay_again() -> None:
    eng = FaultEngine([spec()], lambda e: None)
    t = feed(eng, OV, [3.75], 0.0, 1.2)
    t = feed(eng, OV, [3.50], t, 2.2)
    assert active(eng) == []
    t = feed(eng, OV, [3.75], t, 0.5)  # half the set delay
    assert active(eng) == []
    feed(eng, OV, [3.75], t, 0.6)
    assert active(eng) == [("cell_over_voltage", 0)]


def test_a_recurrence_count_of_1_latches_the_first_raise() -> None:
    eng = FaultEngine([spec()], lambda e: None, recurrence_count=1, recurrence_window_s=600.0)
    t = feed(eng, OV, [3.75], 0.0, 1.2)
    feed(eng, OV, [3.50], t, 2.2)
    assert [(a.condition, a.latched) for a in eng.summary()[0]] == [("cell_over_voltage", True)]


def test_sparse_values_raise_where_given_and_clear_where_no_longer_given() -> None:
    """``sparse`` (per-contactor conditions): a location given a value trips on it; a tracked
    location no longer given reads 0 and clears."""
    flag = replace(spec(), set_threshold=0.5, clear_threshold=0.5, set_delay_s=0.0, clear_delay_s=0.0)
    eng = FaultEngine([flag], lambda e: None)
    eng.sparse(OV, [(1, 1.0)], 0.0)
    eng.sparse(OV, [(1, 1.0), (2, 1.0)], 0.1)
    assert active(eng) == [("cell_over_voltage", 1), ("cell_over_voltage", 2)]
    eng.sparse(OV, [(2, 1.0)], 0.2)
    assert active(eng) == [("cell_over_voltage", 2)]
    eng.sparse(OV, [], 0.3)
    assert active(eng) == [] and not eng.tracking(OV)


def test_nothing_active_is_no_bit_and_no_block() -> None:
    eng = FaultEngine([spec(), spec(WARN, severity=Severity.WARNING)], lambda e: None)
    assert eng.summary() == ((), 0, 0, Blocks.NONE)
    t = feed(eng, OV, [3.75], 0.0, 1.2)
    assert eng.summary()[1] != 0
    feed(eng, OV, [3.50], t, 2.2)
    assert eng.summary() == ((), 0, 0, Blocks.NONE)


def test_malformed_saved_latches_are_skipped_and_the_rest_restored() -> None:
    eng = FaultEngine([spec(latched=True)], lambda e: None)
    good = {"key": OV, "location": 1, "above": True, "set_threshold": 3.7, "clear_threshold": 3.6}
    records = [{"location": 1}, {**good, "set_threshold": "high"}, {**good, "location": None}, good]
    assert eng.restore_latched(records, 0.0) == 1
    assert active(eng) == [("cell_over_voltage", 1)]


def test_the_reset_of_a_latch_reports_the_thresholds_it_latched_under() -> None:
    events: list[Event] = []
    eng = FaultEngine([spec(latched=True)], events.append)
    t = feed(eng, OV, [3.75], 0.0, 1.2)
    eng.set_specs([spec(latched=True, set_v=3.80, clear_v=3.50)])
    t = feed(eng, OV, [3.55], t, 2.2)  # below the old clear threshold (3.60): gone
    assert eng.reset_latched(t) == 1
    assert [(e.kind, e.threshold) for e in events] == [("raised", 3.70), ("cleared", 3.60)]
