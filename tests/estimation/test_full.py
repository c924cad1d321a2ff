"""Issue 17 item 1: full means 100 %: the charge relay and the estimator share one definition."""

from __future__ import annotations

import numpy as np
import pytest

from bmsgateway.config.ocv import OcvCurve
from bmsgateway.estimation import Estimator
from bmsgateway.protection.relays import RelayInputs, RelayLogic
from bmsgateway.state import is_full
from tests.estimation.helpers import measurement
from tests.estimation.test_filter import _config


def test_the_cycle_the_relay_stops_charging_at_vbalance_soc_reads_100() -> None:
    cfg = _config(initial_soc_pct=90.0, initial_soc_std_pct=2.0)
    lim = cfg.pack.limits
    n = cfg.pack.cell_count
    est = Estimator(cfg, None)
    relay = RelayLogic("normal", lim.vmin_v, lim.vbalance_v, lim.vmax_v, 0.0, 50.0, 90.0, 20.0)
    relay.charge = relay.discharge = True
    below = [lim.vbalance_v - 0.01] * n
    at = [lim.vbalance_v] * (n - 1) + [lim.vbalance_v + 0.02]
    for k in range(5):  # charging at 20 A, one cell still below Vbalance: not full
        est.update(measurement(float(k), [*below[:-1], lim.vbalance_v + 0.05], 20.0), None)
    assert est.last.soc_pct < 99.0
    # every cell reaches Vbalance *under* 20 A (less R0 x I it would not): the relay opens ...
    m = measurement(5.0, at, 20.0)
    status = est.update(m, None)
    charge, _ = relay.update(RelayInputs(min(at), max(at), 25.0, 25.0, status.soc_pct, True))
    assert is_full(min(at), lim.vbalance_v, True)
    assert not charge
    # ... and in the same cycle the estimator says 100 %
    assert status.soc_pct == pytest.approx(100.0, abs=0.05)
    assert status.soc_calibrated
    # cells resting at a full cell's OCV keep it there
    rest = [3.43] * n
    for k in range(6, 30):
        est.update(measurement(float(k), rest, 0.0), None)
    assert est.last.soc_pct >= 99.0


def test_not_full_when_a_cell_was_not_read() -> None:
    assert not is_full(3.45, 3.4, False)
    assert not is_full(float("nan"), 3.4, True)
    assert is_full(3.4, 3.4, True)


def test_relay_full_under_charge_says_how_unsure_it_is_and_teaches_no_capacity() -> None:
    """Full at Vbalance *under* 40 A: 100 % as the 123 shows it, but with a sigma as wide as the
    IR drop says the cells may still be short of full, and no capacity measuring point. Once the
    cells rest above Vbalance (the rested full), the 100 % is a fact: sigma shrinks, the point
    counts."""
    cfg = _config(initial_soc_pct=20.0, initial_soc_std_pct=1.0)
    r0 = cfg.estimation.r0_ohm
    lim = cfg.pack.limits
    n = cfg.pack.cell_count
    est = Estimator(cfg, None)
    # a measuring point at the bottom first: rested on the steep end of the LFP curve
    low = [3.0] * n
    for k in range(600):
        est.update(measurement(float(k), low, 0.0), None)
    anchors = est._capacity.anchor_soc.copy()  # the learner's measuring points
    assert np.all(np.isfinite(anchors))
    # the relay's full under 40 A: the cells' voltage less R0 x I is ~0.03 V under Vbalance
    ir = r0 * 40.0
    at = [lim.vbalance_v + 0.001] * n
    status = est.update(measurement(600.0, at, 40.0), None)
    assert status.soc_pct == pytest.approx(100.0, abs=0.05)
    curve = OcvCurve(lim.ocv_table)
    gap_pct = 100.0 * (1.0 - float(curve.soc(np.array([lim.vbalance_v + 0.001 - ir]))[0]))
    assert gap_pct > 1.5  # the IR drop hides more than the recalibration's own 1 %
    # the pack's 100 % comes from its fullest cell, set to 100 % with the sigma the gap leaves,
    # and the pack's own sigma says it
    top = int(np.argmax(status.cell_soc_pct))
    assert status.cell_soc_pct[top] == pytest.approx(100.0, abs=0.05)
    assert status.cell_soc_sigma_pct[top] >= 0.8 * gap_pct
    assert status.soc_sigma_pct >= 0.8 * gap_pct
    # no capacity sample from it: the anchors are still the rested bottom ones
    np.testing.assert_array_equal(est._capacity.anchor_soc, anchors)
    assert not est._capacity.samples.any()
    # rested at a full cell's voltage for full_hold_s: the rested full
    top = [lim.vbalance_v + 0.03] * n
    for k in range(601, 601 + int(cfg.estimation.full_hold_s) + 3):
        status = est.update(measurement(float(k), top, 0.0), None)
    assert max(status.cell_soc_sigma_pct) <= 1.5
    assert np.all(est._capacity.anchor_soc > 0.98)  # the top is a measuring point now


def test_relay_full_sets_the_fullest_cell_and_leaves_the_lower_ones_where_they_are() -> None:
    """Under 30 A every cell reads at least Vbalance while the lower ones are a few % short of
    full: the pack reads 100 % (its fullest cell is set), but a cell whose voltage less the IR
    and RC drop still says 93 % does not read 100 % (cell SOCs are served per cell)."""
    cfg = _config(initial_soc_pct=94.0, initial_soc_std_pct=2.0)
    lim = cfg.pack.limits
    n = cfg.pack.cell_count
    est = Estimator(cfg, None)
    ramp = np.linspace(0.0, 0.04, n)  # the last cell is the fullest
    v = [lim.vbalance_v + 0.001 + float(x) for x in ramp]
    for k in range(5):
        est.update(measurement(float(k), [x - 0.05 for x in v], 30.0), None)
    status = est.update(measurement(5.0, v, 30.0), None)
    assert status.soc_pct == pytest.approx(100.0, abs=0.05)
    assert status.cell_soc_pct[-1] == pytest.approx(100.0, abs=0.05)
    assert status.cell_soc_pct[0] < 99.0
    # what it reads is still within its own 2 sigma of the 100 % the relay implies at worst
    assert status.cell_soc_pct[0] + 2.0 * status.cell_soc_sigma_pct[0] >= 96.0


def test_a_full_that_flickers_at_the_top_of_a_cv_charge_recalibrates_once() -> None:
    """At the top of a CV charge the lowest cell sits at Vbalance and "full" comes and goes with
    the noise. One recalibration per charge (re-armed below the relay's restart SOC), so the
    current offset is not taught the same "drift" again and again."""
    cfg = _config(initial_soc_pct=95.0, initial_soc_std_pct=2.0)
    lim = cfg.pack.limits
    n = cfg.pack.cell_count
    est = Estimator(cfg, None)
    t = 0.0
    for k in range(3600):  # an hour: every other minute the lowest cell dips 1 mV below Vbalance
        t += 1.0
        low = lim.vbalance_v - 0.001 if (k // 60) % 2 else lim.vbalance_v + 0.001
        est.update(measurement(t, [low] + [lim.vbalance_v + 0.02] * (n - 1), -0.3), None)
    assert est.last.soc_pct > 99.0
    assert abs(est.current_bias_a) < 0.3  # before: one recalibration a minute walked it to its 2 A limit
    # once the pack has been used below the restart SOC, the next full recalibrates again
    # every cell near full (only the fullest is set to 100 %, the others keep their estimate)
    est2 = Estimator(_config(initial_soc_pct=99.0, initial_soc_std_pct=1.0, voltage_noise_v=0.5), None)
    below = [lim.vbalance_v - 0.15] * n  # under 100 A: with R0 x I back, an OCV well short of full
    at = [lim.vbalance_v + 0.001] * n
    est2.update(measurement(1.0, at, 5.0), None)
    assert est2.last.soc_pct == pytest.approx(100.0, abs=0.05)
    t = 1.0
    for _ in range(300):  # 100 A for 5 min: 8.3 Ah of 100, still above the 90 % restart
        t += 1.0
        est2.update(measurement(t, below, -100.0), None)
    est2.update(measurement(t + 1.0, at, 5.0), None)
    assert est2.last.soc_pct < 93.0  # not re-armed: no second 100 %
    t += 1.0
    for _ in range(200):  # 5.6 Ah more: below 90 %
        t += 1.0
        est2.update(measurement(t, below, -100.0), None)
    assert est2.last.soc_pct < cfg.protection.relays.charge_restart_soc_pct
    est2.update(measurement(t + 1.0, at, 5.0), None)
    assert est2.last.soc_pct == pytest.approx(100.0, abs=0.05)  # re-armed: the next charge's full
