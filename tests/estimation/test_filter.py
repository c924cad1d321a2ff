"""The SOC filter on known cases: counting, voltage pinning, offset learning, stale inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bmsgateway.config import Config
from bmsgateway.config.ocv import OcvCurve
from bmsgateway.estimation import Estimator
from bmsgateway.state import ProtectionStatus
from tests.estimation.helpers import ModelCells, measurement


def _config(**estimation: object) -> Config:
    base = Config()
    return base.model_copy(update={"estimation": base.estimation.model_copy(update=estimation)})


def _run(est: Estimator, cells: ModelCells, seconds: float, current_a: float, *, dt: float = 1.0,
         t0: float = 0.0, offset_a: float = 0.0, noise_v: float = 0.0, seed: int = 0,
         prev: ProtectionStatus | None = None) -> float:
    rng = np.random.default_rng(seed)
    t = t0
    for _ in range(round(seconds / dt)):
        t += dt
        cells.step(dt, current_a)
        v = cells.voltages(current_a) + noise_v * rng.standard_normal(len(cells.soc))
        est.update(measurement(t, v, current_a + offset_a), prev)
    return t


def test_ocv_curve_slope_and_inverse() -> None:
    cfg = Config()
    curve = OcvCurve(cfg.pack.limits.ocv_table)
    soc = np.array([0.05, 0.5, 0.97])
    v = curve.voltage(soc)
    assert np.allclose(curve.soc(v), soc, atol=1e-9)
    slope = curve.slope(soc)
    # LFP: steep at the ends, flat in the middle.
    assert slope[0] > 5 * slope[1] and slope[2] > 5 * slope[1]
    # the tabulated slope is the central difference over +-1 % SOC everywhere, ends included
    grid = np.linspace(-0.3, 1.3, 20001)
    h = 0.01
    np.testing.assert_allclose(curve.slope(grid), (curve.voltage(grid + h) - curve.voltage(grid - h)) / (2 * h),
                               atol=1e-9)


def test_rest_voltage_soc_averages_the_noise() -> None:
    """A capacity measuring point's SOC comes from the rest's voltages, averaged: its sigma falls
    with the readings, it matches the cells, and a load ends the rest."""
    cfg = _config(initial_soc_pct=15.0, initial_soc_std_pct=1.0)
    cells = ModelCells(cfg, 12.0)
    est = Estimator(cfg, None)
    _run(est, cells, 900.0, 0.0, noise_v=0.005, seed=3)
    f = est._filter  # the filter's rest average
    slope = f.last_slope
    assert np.all(f.rest_readings >= 50)
    single = float(np.hypot(cfg.estimation.voltage_noise_v, cfg.estimation.ocv_error_v) / slope.min())
    assert float(f.voltage_soc_std(slope).max()) < 0.6 * single
    assert np.abs(f.voltage_soc - cells.soc).max() < 0.01
    # a load switched on ends the rest: the average restarts
    _run(est, cells, 60.0, -40.0, t0=900.0)
    assert np.all(f.rest_readings == 0)


def test_constant_current_counts_charge_exactly() -> None:
    """1 h at +20 A into a 100 Ah pack whose SOC is known: +20 SOC points."""
    cfg = _config(initial_soc_pct=40.0, initial_soc_std_pct=0.5)
    cells = ModelCells(cfg, 40.0)
    est = Estimator(cfg, None)
    _run(est, cells, 3600.0, 20.0, dt=0.5)
    status = est.last
    assert status.soc_pct == pytest.approx(60.0, abs=0.5)
    assert max(status.cell_soc_pct) - min(status.cell_soc_pct) < 0.2
    assert status.charge_in_ah == pytest.approx(20.0, rel=0.01)
    assert status.dod_pct == pytest.approx(100.0 - status.soc_pct)


def test_rest_on_steep_part_pins_soc_from_a_wrong_start() -> None:
    """Resting cells at 15 % while the estimate starts at 60 %: the voltage pulls it there."""
    cfg = _config(initial_soc_pct=60.0)
    cells = ModelCells(cfg, 15.0)
    est = Estimator(cfg, None)
    _run(est, cells, 1800.0, 0.0, noise_v=0.005)
    assert est.last.soc_pct == pytest.approx(15.0, abs=1.5)
    assert est.last.soc_calibrated


def test_flat_region_converges_with_noise() -> None:
    """Even on the flat LFP plateau (about 1 mV per SOC point) a 30-point error goes away."""
    cfg = _config(initial_soc_pct=80.0)
    cells = ModelCells(cfg, 50.0)
    est = Estimator(cfg, None)
    _run(est, cells, 3 * 3600.0, 0.0, noise_v=0.005, dt=2.0)
    assert est.last.soc_pct == pytest.approx(50.0, abs=4.0)


def test_current_offset_is_learnt_and_drift_stops() -> None:
    """A 0.5 A sensor offset on a slow discharge near the steep low end is learnt by the filter."""
    cfg = _config(initial_soc_pct=25.0, initial_soc_std_pct=2.0)
    cells = ModelCells(cfg, 25.0)
    est = Estimator(cfg, None)
    _run(est, cells, 8 * 3600.0, -2.0, offset_a=0.5, noise_v=0.002, dt=5.0)
    assert est.current_bias_a == pytest.approx(0.5, abs=0.15)
    true_pct = float(np.mean(cells.soc)) * 100
    assert est.last.soc_pct == pytest.approx(true_pct, abs=1.5)


def test_stale_voltage_cell_is_counted_and_stale_current_holds() -> None:
    cfg = _config(initial_soc_pct=50.0, initial_soc_std_pct=1.0)
    est = Estimator(cfg, None)
    n = cfg.pack.cell_count
    ocv = OcvCurve(cfg.pack.limits.ocv_table).voltage(np.full(n, 0.5))
    volts = list(ocv)
    volts[3] = math.nan
    t = 0.0
    for _ in range(360):
        t += 1.0
        est.update(measurement(t, volts, 10.0), None)
    soc = est.last.cell_soc_pct
    # cell 3 had no voltage: pure counting, +1 point in 6 minutes at 10 A
    assert soc[3] == pytest.approx(51.0, abs=0.1)
    before = est.last.soc_pct
    for _ in range(100):
        t += 1.0
        est.update(measurement(t, volts, math.nan, current_age_s=math.inf), None)
    assert est.last.soc_pct == pytest.approx(before, abs=1e-9)
    assert all(math.isfinite(x) for x in est.last.cell_soc_pct)


@pytest.mark.parametrize("mode", ["normal", "critical"])
def test_full_recalibration_sets_100(mode: str) -> None:
    # Voltage noise set huge: the filter ignores the voltages, only the recalibration acts.
    base = _config(initial_soc_pct=70.0, initial_soc_std_pct=10.0, voltage_noise_v=0.5)
    relays = base.protection.relays.model_copy(update={"mode": mode})
    cfg = base.model_copy(update={"protection": base.protection.model_copy(update={"relays": relays})})
    est = Estimator(cfg, None)
    vbal = cfg.pack.limits.vbalance_v
    n = cfg.pack.cell_count
    volts = [vbal + 0.04] * n  # about 99.4 % by the LFP table
    volts[0] = vbal - 0.02  # one cell low: only critical mode (average) calls this full
    t = 0.0
    for _ in range(30):
        t += 1.0
        est.update(measurement(t, volts, 0.0), None)
    if mode == "critical":
        assert est.last.soc_pct >= 98.5
        assert est.last.soc_calibrated
    else:
        assert est.last.soc_pct < 95.0
        volts[0] = vbal + 0.04
        for _ in range(30):
            t += 1.0
            est.update(measurement(t, volts, 0.0), None)
        assert est.last.soc_pct >= 98.5


def test_empty_recalibration_needs_discharge_blocked() -> None:
    cfg = _config(initial_soc_pct=30.0, initial_soc_std_pct=1.0, voltage_noise_v=0.5)  # ignore voltage
    est = Estimator(cfg, None)
    n = cfg.pack.cell_count
    volts = [3.25] * n
    volts[5] = cfg.pack.limits.vmin_v - 0.05
    allowed = ProtectionStatus(discharge_allowed=True)
    blocked = ProtectionStatus(discharge_allowed=False)
    t = 0.0
    for _ in range(60):
        t += 1.0
        est.update(measurement(t, volts, 0.0), allowed)
    assert est.last.cell_soc_pct[5] > 20.0
    for _ in range(60):
        t += 1.0
        est.update(measurement(t, volts, 0.0), blocked)
    assert est.last.cell_soc_pct[5] < 2.0
    assert est.last.soc_pct < 2.0  # the weakest cell empties the pack


def test_saved_state_restores_soc_capacity_and_counters() -> None:
    from bmsgateway.persist.state import decode_state, encode_state

    cfg = _config(initial_soc_pct=40.0, initial_soc_std_pct=0.5)
    cells = ModelCells(cfg, 40.0)
    est = Estimator(cfg, None)
    _run(est, cells, 600.0, 30.0)
    est.reset_counters()
    _run(est, cells, 600.0, -10.0, t0=600.0)
    saved, problems = decode_state(encode_state(est.saved_state()))
    assert problems == []
    again = Estimator(cfg, saved)
    m = measurement(1300.0, cells.voltages(0.0), 0.0)
    s1, s2 = est.update(m, None), again.update(m, None)
    assert s2.soc_pct == pytest.approx(s1.soc_pct, abs=0.05)
    assert s2.charge_out_ah == pytest.approx(10.0 * 600 / 3600, rel=0.01)
    assert s2.charge_in_ah == pytest.approx(0.0, abs=0.01)  # reset before the discharge
    assert s2.cell_capacity_ah == s1.cell_capacity_ah


def test_counters_day_boundary_and_balancing_energy(monkeypatch: pytest.MonkeyPatch) -> None:
    import time as _time

    from bmsgateway.clock import VirtualClock

    monkeypatch.setenv("TZ", "UTC")
    _time.tzset()

    cfg = _config()
    clock = VirtualClock(start_wall=1_767_225_600.0 - 1800.0)  # 23:30 UTC
    est = Estimator(cfg, None, clock=clock)
    n = cfg.pack.cell_count
    volts = [3.3] * n
    bal = tuple(i == 2 for i in range(n))
    for _ in range(3600):  # one hour discharging at 10 A, across midnight
        clock.advance(1.0)
        est.update(measurement(clock.now(), volts, -10.0), ProtectionStatus(balancing=bal))
    s = est.last
    # Only the half hour after midnight is "today"; the total has the whole hour.
    assert s.today_out_wh == pytest.approx(0.5 * s.energy_out_wh, rel=0.01)
    assert s.energy_out_wh == pytest.approx(10.0 * 3.3 * n, rel=0.01)
    assert s.balancing_energy_wh == pytest.approx(3.3**2 / 33.0, rel=0.01)
    assert s.equivalent_cycles == pytest.approx(10.0 / 100.0, rel=0.01)
    est.reset_counters()
    s = est.update(measurement(clock.now() + 1.0, volts, -10.0), None)
    assert s.energy_out_wh < 0.2 and s.today_out_wh < 0.2  # one second since the reset
    assert s.equivalent_cycles == pytest.approx(0.1, rel=0.01)  # lifetime figure is not reset


def test_cell_resistance_learnt_from_current_steps() -> None:
    """True R0 is 1.2 mΩ, the config says 0.8 mΩ: load steps of 30 A reveal it."""
    cfg = _config(initial_soc_pct=50.0, initial_soc_std_pct=1.0)
    cells = ModelCells(cfg, 50.0)
    cells.r0 = 0.0012
    est = Estimator(cfg, None)
    rng = np.random.default_rng(1)
    t = 0.0
    for k in range(3000):
        current = -30.0 if (k // 10) % 2 else 0.0
        t += 1.0
        cells.step(1.0, current)
        v = cells.voltages(current) + 0.002 * rng.standard_normal(len(cells.soc))
        est.update(measurement(t, v, current), None)
    r = np.array(est.last.cell_resistance_ohm)
    assert np.all(np.abs(r / 0.0012 - 1.0) < 0.1)
