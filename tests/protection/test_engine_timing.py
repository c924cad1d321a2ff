"""The fault engine's timing rules on a small table of its own: delays are continuous, a missing
reading neither advances nor restarts them, locations are independent, a latch that comes back
is not reset while present."""

from __future__ import annotations

from bmsgateway.protection.engine import Blocks, ConditionSpec, FaultEngine
from bmsgateway.protection.ids import ConditionId
from bmsgateway.state import Event, Severity

NAN = float("nan")
KEY = "cell_over_voltage.fault"


def engine(latched: bool = False, set_delay_s: float = 1.0, clear_delay_s: float = 2.0
           ) -> tuple[FaultEngine, list[Event]]:
    spec = ConditionSpec(
        key=KEY, condition=ConditionId.CELL_OVER_VOLTAGE, severity=Severity.FAULT, above=True,
        set_threshold=3.70, set_delay_s=set_delay_s, clear_threshold=3.60, clear_delay_s=clear_delay_s,
        latched=latched, blocks=Blocks.CHARGE, unit="V", location="cell", description="test",
    )
    events: list[Event] = []
    return FaultEngine([spec], events.append), events


def feed(eng: FaultEngine, values: list[float], t0: float, seconds: float, step: float = 0.1) -> float:
    """Feed ``values`` (one per location) every ``step`` for ``seconds``; returns the next time."""
    t = t0
    for _ in range(round(seconds / step)):
        eng.many(KEY, values, max((v for v in values if v == v), default=NAN), t)
        t = round(t + step, 9)
    return t


def active_locations(eng: FaultEngine) -> list[int]:
    return sorted(a.location for a in eng.summary()[0])


def test_separate_short_excursions_do_not_add_up() -> None:
    eng, _ = engine()
    t = 0.0
    for _ in range(5):
        t = feed(eng, [3.75], t, 0.6)  # past set, shorter than the 1 s set delay
        t = feed(eng, [3.65], t, 0.2)  # back below set for a moment
    assert active_locations(eng) == []
    feed(eng, [3.75], t, 1.1)
    assert active_locations(eng) == [0]


def test_the_clear_delay_must_be_continuous() -> None:
    eng, _ = engine()
    t = feed(eng, [3.75], 0.0, 1.2)
    assert active_locations(eng) == [0]
    for _ in range(5):
        t = feed(eng, [3.55], t, 1.5)  # below clear, shorter than the 2 s clear delay
        t = feed(eng, [3.65], t, 0.2)  # between clear and set: not clearing
    assert active_locations(eng) == [0]
    feed(eng, [3.55], t, 2.1)
    assert active_locations(eng) == []


def test_a_missing_reading_neither_restarts_nor_completes_the_delays() -> None:
    eng, _ = engine()
    t = feed(eng, [3.75], 0.0, 0.6)
    t = feed(eng, [NAN], t, 0.2)  # not read: the set timer keeps running
    t = feed(eng, [3.75], t, 0.3)
    assert active_locations(eng) == [0]  # 1.1 s since the first excursion
    t = feed(eng, [3.55], t, 1.5)
    t = feed(eng, [NAN], t, 0.2)
    t = feed(eng, [3.55], t, 0.4)
    assert active_locations(eng) == []  # the clear timer kept running too
    t = feed(eng, [3.75], t, 1.1)
    t = feed(eng, [NAN], t, 10.0)  # a missing reading never clears
    assert active_locations(eng) == [0]


def test_location_0_clears_while_another_location_trips() -> None:
    eng, events = engine()
    t = feed(eng, [3.75, 3.30], 0.0, 1.2)
    assert active_locations(eng) == [0]
    t = feed(eng, [3.50, 3.75], t, 2.5)
    assert active_locations(eng) == [1]
    assert [(e.kind, e.location) for e in events] == [("raised", 0), ("raised", 1), ("cleared", 0)]


def test_a_latched_fault_that_comes_back_is_not_reset_while_present() -> None:
    eng, _ = engine(latched=True)
    t = feed(eng, [3.75], 0.0, 1.2)
    t = feed(eng, [3.50], t, 2.5)  # gone: the reset command could clear it now ...
    t = feed(eng, [3.75], t, 0.3)  # ... but it is back
    assert eng.reset_latched(t) == 0
    assert active_locations(eng) == [0]
    t = feed(eng, [3.50], t, 2.5)
    assert eng.reset_latched(t) == 1
    assert active_locations(eng) == []


def test_a_latched_fault_once_gone_stays_resettable_inside_the_hysteresis_band() -> None:
    eng, _ = engine(latched=True)
    t = feed(eng, [3.75], 0.0, 1.2)
    t = feed(eng, [3.50], t, 2.5)  # gone
    t = feed(eng, [3.65], t, 1.0)  # between clear and set: not present again
    assert eng.reset_latched(t) == 1
    assert active_locations(eng) == []
