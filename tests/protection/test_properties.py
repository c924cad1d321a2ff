"""Property-based tests over random sequences of cell voltages, temperatures and currents."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.protection.conftest import NAN, Rig, make_config

VMIN, VBAL, VMAX = 2.9, 3.4, 3.7

cell_v = st.one_of(
    st.floats(2.6, 3.9),
    st.sampled_from([VMIN, VMAX, VBAL, VMIN + 0.001, VMAX - 0.001]),
    st.just(NAN),
)
temp_c = st.one_of(st.floats(-30.0, 70.0), st.sampled_from([0.0, 50.0, 2.0, 6.0, 35.0, 40.0]))
current = st.one_of(st.floats(-700.0, 200.0), st.sampled_from([0.0, -500.0, 500.0, 10.0]))


@st.composite
def segment(draw: st.DrawFn) -> tuple[dict[str, Any], int]:
    """One measurement held for 1..25 cycles."""
    cells = draw(st.one_of(
        st.lists(cell_v, min_size=16, max_size=16),
        st.builds(lambda v: [v] * 16, st.floats(2.8, 3.8)),
    ))
    ages = [0.0 if v == v else 0.1 for v in cells]
    kw = {
        "cells": cells,
        "cell_age_s": ages,
        "temps": draw(st.lists(temp_c, min_size=4, max_size=4)),
        "current_a": draw(current),
    }
    return kw, draw(st.integers(1, 25))


sequences = st.lists(segment(), min_size=1, max_size=12)
modes = st.sampled_from(["normal", "critical"])
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def run(mode: str, seq: list[tuple[dict[str, Any], int]], precharge: bool = False):  # type: ignore[no-untyped-def]
    cfg = make_config(relays={"mode": mode}, contactors={"precharge": precharge})
    rig = Rig(cfg)
    for kw, n in seq:
        for _ in range(n):
            yield kw, rig.step(**kw), rig


@SETTINGS
@given(modes, sequences)
def test_never_charge_at_or_above_vmax_nor_discharge_at_or_below_vmin(mode: str, seq: Any) -> None:
    # The relays act in the same cycle (delay 0), which is stricter than "longer than its delay".
    for kw, status, _ in run(mode, seq):
        fresh = [v for v in kw["cells"] if v == v]
        if fresh and max(fresh) >= VMAX:
            assert not status.charge_allowed and status.ccl_a == 0.0
        if fresh and min(fresh) <= VMIN:
            assert not status.discharge_allowed and status.dcl_a == 0.0


@SETTINGS
@given(modes, sequences)
def test_short_circuit_opens_contactors_in_the_same_cycle(mode: str, seq: Any) -> None:
    for kw, status, rig in run(mode, seq):
        if abs(kw["current_a"]) >= 500.0:
            assert not any(c.commanded for c in status.contactors)
            assert not rig.io.out.get("charge") and not rig.io.out.get("discharge")
            assert not status.charge_allowed and not status.discharge_allowed


@SETTINGS
@given(modes, sequences)
def test_outputs_switch_on_only_when_their_enable_condition_holds(mode: str, seq: Any) -> None:
    """Hysteresis: the relay decision turns on only when its enable column is proven; the
    output is never on while a disable term holds; the heater switches only past its thresholds."""
    prev_logic = prev_h = False
    for kw, status, rig in run(mode, seq):
        cells = kw["cells"]
        temps = kw["temps"]
        fresh = [v for v in cells if v == v]
        logic = rig.prot._relays.charge
        if logic and not prev_logic:
            assert len(fresh) == 16
            assert max(cells) < (VBAL if mode == "normal" else VMAX)
            assert min(temps) > 0.0 and max(temps) < 50.0
        if status.allow_charge_relay:
            assert not fresh or max(fresh) < VMAX
            assert not (mode == "normal" and len(fresh) == 16 and min(fresh) >= VBAL)
            assert min(temps) >= 0.0 and max(temps) <= 50.0
        if status.heater_on and not prev_h:
            assert min(temps) <= 2.0
        if prev_h and not status.heater_on:
            assert min(temps) >= 6.0 or status.fault_bits
        prev_logic, prev_h = logic, status.heater_on


def _held(temp_c: float, cycles: int) -> tuple[dict[str, Any], int]:
    return {"cells": [3.3] * 16, "cell_age_s": [0.0] * 16, "temps": [temp_c] * 4, "current_a": 0.0}, cycles


@SETTINGS
@given(modes, sequences, st.booleans())
# Found by hypothesis: one cycle below Tmin switches the charge relay off; it comes back only
# after min_off_s (60 s), which an earlier 20 s settling window did not allow for.
@example("normal", [_held(1.0, 1), _held(-1.0, 1), _held(1.0, 1)], False)
def test_constant_input_settles_no_chatter(mode: str, seq: Any, precharge: bool) -> None:
    """Held steady, every output settles: no output event in the last 20 s.

    The hold lasts the relays' minimum off time (a relay switched off by a one-cycle excursion
    rightly comes back only after ``min_off_s``) plus 40 s for the longest set/clear delays, then
    the 20 s window that must be quiet."""
    last_kw = seq[-1][0]
    period_s, window = 0.1, 200
    min_off_s = make_config().protection.relays.min_off_s
    settle = round((min_off_s + 40.0) / period_s)
    steady = [*seq, (last_kw, settle + window)]
    outputs_late: list[tuple[float, str]] = []
    total = sum(n for _, n in steady)
    for count, (_, status, _) in enumerate(run(mode, steady, precharge), start=1):
        if count > total - window:
            outputs_late += [(e.time_s, e.condition) for e in status.events if e.kind == "output"]
    assert outputs_late == []
