"""The frozen-current-sensor evidence of ``SensorPlausibility`` cycle by cycle: the step over the
``stuck_window_s`` history (too little history or a gap = no verdict), the measured current step
and its tolerance, and the SOC-interval evidence of a slow drift, widened by the current change
still relaxing through R1. Each value is the report's ``current_unexplained_a``, the field the
``current_sensor_stuck`` row of the fault table reads."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from bmsgateway.acquisition.plausibility import SensorPlausibility
from tests.protection.conftest import NAN, make_config, measurement

CFG = make_config()
R0 = CFG.estimation.r0_ohm  # 0.8 mΩ
R1 = CFG.estimation.r1_ohm
CAP_AS = CFG.pack.capacity_ah * 3600.0
SOC_TOL_V = CFG.protection.current.stuck_soc_tolerance_v  # 0.02 V
TOL = CFG.protection.current.stuck_tolerance  # 0.5 of the measured step
OCV_V = np.array([v for _, v in CFG.pack.limits.ocv_table])
OCV_SOC = np.array([s for s, _ in CFG.pack.limits.ocv_table])
assert CFG.protection.current.stuck_window_s == 2.0


def _feed(p: SensorPlausibility, rows: list[tuple[float, float, float]]) -> list[float]:
    """(time s, cell voltage V, current A) per cycle -> the unexplained current of each cycle."""
    return [p.check(measurement(t, cells=v, current_a=i)).current_unexplained_a for t, v, i in rows]


def _same(got: list[float], want: list[float]) -> None:
    assert len(got) == len(want)
    for k, (g, w) in enumerate(zip(got, want, strict=True)):
        assert (math.isnan(g) and math.isnan(w)) or g == pytest.approx(w, abs=1e-6), (k, got, want)


def test_the_step_is_judged_only_over_a_full_window_and_against_its_oldest_reading() -> None:
    p = SensorPlausibility(CFG)
    got = _feed(p, [
        (0.0, 3.30, 0.0),   # first reading: nothing to compare with
        (1.0, 3.29, 0.0),   # frozen, 10 mV lower, but only 1 s of the 2 s window: no step verdict
        (2.0, 3.29, 0.0),   # 2 s after the first: 10 mV / 0.8 mΩ = 12.5 A nobody measured
        (3.0, 3.29, 0.0),   # the window now starts at 1 s: no step since
        (4.0, 3.29, -0.5),  # the reading moves: 0, whatever the voltages
    ])
    _same(got, [NAN, 0.0, 0.01 / R0, 0.0, 0.0])


def test_a_measured_current_step_explains_its_own_voltage_step_within_the_tolerance() -> None:
    """20 A more discharge at 1 s, then the reading freezes: over the 2 s window the cells must step
    by R0 x 20 A, give or take ``stuck_tolerance`` x 20 A."""
    def third(cell_step_a: float) -> float:
        p = SensorPlausibility(CFG)
        v = 3.30 - R0 * cell_step_a
        return _feed(p, [(0.0, 3.30, -10.0), (1.0, v, -30.0), (2.0, v, -30.0)])[2]

    assert third(16.0) == 0.0  # 4 A off, inside the 10 A tolerance (the SOC check has nothing yet)
    assert third(24.0) == 0.0
    assert third(50.0) == pytest.approx(30.0 - TOL * 20.0)  # 30 A the measured step cannot explain
    assert third(-10.0) == pytest.approx(30.0 - TOL * 20.0)  # the cells rose while more was drawn


def test_a_gap_in_the_history_gives_no_verdict_until_a_window_is_full_again() -> None:
    p = SensorPlausibility(CFG)
    got = _feed(p, [
        (0.0, 3.30, 1.0), (1.0, 3.30, 2.0), (2.0, 3.30, 3.0),  # moving: 0 once the window is full
        (8.0, 3.29, 4.0),  # 6 s without cells (a gap > 2 windows): the old reference is too old
        (9.0, 3.29, 5.0),  # 1 s of new history
        (10.0, 3.28, 6.0),  # a full window again: a verdict (0 while the reading moves)
    ])
    _same(got, [NAN, NAN, 0.0, NAN, NAN, 0.0])


def test_missing_cells_or_current_give_no_verdict_and_a_moving_reading_ends_the_frozen_run() -> None:
    p = SensorPlausibility(CFG)
    assert _feed(p, [(0.0, 3.30, 0.0), (1.0, 3.30, 0.0), (2.0, 3.30, 0.0)])[2] == 0.0
    assert math.isnan(p.check(measurement(3.0, cells=NAN, current_a=0.0)).current_unexplained_a)
    assert math.isnan(p.check(measurement(4.0, cells=3.30, current_a=NAN)).current_unexplained_a)
    # the frozen run that started at 1 s (SOC ~50 %) ends when the reading moves: the cells drift
    # 1 mV/s down for a minute with a live reading, then the reading freezes at 3.24 V. A new run
    # starts from there; compared with the old run's SOC the pack would have lost 20 % unseen.
    live = _feed(p, [(5.0 + k, 3.30 - 0.001 * k, -0.5 - 0.001 * (k % 2)) for k in range(61)])
    assert all(g == 0.0 or math.isnan(g) for g in live) and live[-1] == 0.0
    frozen = _feed(p, [(66.0 + k, 3.24, -0.5) for k in range(10)])
    assert max(frozen) < 2.0, frozen  # 1.25 A: the last 1 mV of drift inside the step window


def test_a_measurement_at_the_same_time_as_the_last_gives_no_soc_verdict() -> None:
    p = SensorPlausibility(CFG)
    got = _feed(p, [(0.0, 3.30, 0.0), (1.0, 3.30, 0.0), (1.0, 3.25, 0.0)])
    assert got[1:] == [0.0, 0.0]


def _soc(v: float) -> float:
    return float(np.interp(v, OCV_V, OCV_SOC))


def _soc_missing_a(v0: float, v1: float, reading_a: float, elapsed_s: float, tol_v: float) -> float:
    """The documented rule: the SOC change the two voltages allow (each an OCV interval of ±tol
    around the voltage less R0 x the reading) against the change the frozen reading counts."""
    a_lo, a_hi = _soc(v0 - R0 * reading_a - tol_v), _soc(v0 - R0 * reading_a + tol_v)
    b_lo, b_hi = _soc(v1 - R0 * reading_a - tol_v), _soc(v1 - R0 * reading_a + tol_v)
    counted = reading_a * elapsed_s / CAP_AS * 100.0
    lo, hi = b_lo - a_hi, b_hi - a_lo
    missing = lo - counted if counted < lo else counted - hi if counted > hi else 0.0
    return missing / 100.0 * CAP_AS / elapsed_s


@pytest.mark.parametrize("reading_a", [0.0, -20.0, 20.0])
def test_a_slow_drift_the_frozen_reading_cannot_count_is_unexplained_current(reading_a: float) -> None:
    """After 10 min of a live reading around ``reading_a`` the reading freezes at it while the
    cells drift 1 mV/s down (too slow for the step check: 2.5 A over its window): the SOC the
    voltages allow leaves the SOC the reading counts."""
    p = SensorPlausibility(CFG)
    v0 = 3.30 + R0 * reading_a
    _feed(p, [(float(k), v0, reading_a + 0.001 * (k % 2 == 0)) for k in range(600)])
    rows = [(600.0 + k, v0 - 0.001 * k, reading_a) for k in range(121)]
    got = _feed(p, rows)
    # the reading last moved at 599 s: the frozen run starts at 600 s with nothing to compare yet
    assert got[0] == pytest.approx(0.0, abs=0.01)
    for k in range(1, 121):
        want = _soc_missing_a(v0, v0 - 0.001 * k, reading_a, float(k), SOC_TOL_V)
        step = 0.001 * min(k, 2) / R0  # the step check: the 2 s window holds 1 or 2 mV of drift
        # (rel 1 %: what of the 10 min history is still relaxing widens the interval by µV)
        assert got[k] == pytest.approx(max(want, step), rel=1e-2, abs=0.01), (k, got[k], want)
    assert got[-1] > 100.0  # far beyond stuck_unexplained_a: the fault opens the contactors


def test_the_interval_grows_with_the_current_change_still_relaxing() -> None:
    """After 10 min of 200 A discharge the reading drops to 0 A (the true current) and freezes
    while the cells recover by R1 x 200 A = 100 mV through the time constant: the interval, widened
    by R1 x the measured change still relaxing, takes that as no evidence. The same creep after
    10 min at rest is evidence (nothing measured was relaxing)."""
    def creep(before_a: float) -> list[float]:
        p = SensorPlausibility(CFG)
        _feed(p, [(float(k), 3.18 - R0 * 200.0 if before_a else 3.18, before_a + 0.001 * (k % 2))
                  for k in range(600)])
        return _feed(p, [(600.0 + j, 3.18 + R1 * 200.0 * (1.0 - math.exp(-j / CFG.estimation.tau_s)), 0.0)
                         for j in range(241)])

    limit = CFG.protection.current.stuck_unexplained_a
    relaxing = creep(-200.0)
    assert max(relaxing) < limit / 2, max(relaxing)
    rested = creep(0.0)
    assert max(rested) > 10 * limit and rested[-1] > 10 * limit


def test_a_board_with_no_thermistor_wired_is_not_a_board_without_temperature() -> None:
    """Both thermistors sit on board 0; one reads open. Board 1 has none to judge."""
    p = SensorPlausibility(CFG)
    m = replace(measurement(0.0, temps=[NAN, 25.0]), temperature_board=(0, 0))
    r = p.check(m)
    assert r.bad_thermistors == (0,) and r.boards_without_temperature == () and not r.pack_without_temperature
    r = p.check(replace(measurement(1.0, temps=[NAN, NAN]), temperature_board=(0, 0)))
    assert r.boards_without_temperature == (0,) and r.pack_without_temperature
    # one thermistor per board: board 1's only one reads open, so board 1 has no temperature
    r = p.check(replace(measurement(2.0, temps=[25.0, NAN]), temperature_board=(0, 1)))
    assert r.bad_thermistors == (1,) and r.boards_without_temperature == (1,)


def test_one_cell_whose_reading_jumps_at_rest_is_not_a_frozen_current_sensor() -> None:
    """At rest the dead band makes the reading exactly 0 A, cycle after cycle. One cell's reading
    jumping by 0.5 V (a sense fault, its own condition) moves the mean of 16 cells by 31 mV,
    "39 A" at 0.8 mOhm; the median does not move: no unexplained current."""
    p = SensorPlausibility(CFG)
    rest = [3.30] * 16
    jumped = [*rest[:4], 3.80, *rest[5:]]
    got = [p.check(measurement(t, cells=c, current_a=0.0)).current_unexplained_a
           for t, c in ((0.0, rest), (1.0, rest), (2.0, jumped), (3.0, jumped), (4.0, jumped))]
    assert got[0] != got[0]  # no history yet
    assert got[1:] == [0.0, 0.0, 0.0, 0.0]
    # every cell moving the same 31 mV with the reading frozen still is a frozen sensor
    p = SensorPlausibility(CFG)
    moved = [3.30 - 0.031] * 16
    got = [p.check(measurement(t, cells=c, current_a=0.0)).current_unexplained_a
           for t, c in ((0.0, rest), (1.0, rest), (2.0, moved))]
    assert got[2] == pytest.approx(0.031 / R0)


def test_the_median_of_odd_and_even_counts() -> None:
    from bmsgateway.acquisition.plausibility import _median

    assert _median([3.0, 1.0, 2.0]) == 2.0
    assert _median([4.0, 1.0, 3.0, 2.0]) == 2.5
    assert _median([7.0]) == 7.0
