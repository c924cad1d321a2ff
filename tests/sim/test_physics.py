"""Cell physics: SOC, voltages, energy balance, balancing heat, RC relaxation, spreads."""

from __future__ import annotations

import numpy as np
import pytest

from bmsgateway.clock import VirtualClock
from bmsgateway.config import Config
from bmsgateway.config.simulator import SimulatorConfig
from bmsgateway.sim import PackSimulator
from tests.sim.helpers import QUIET, close_all, make_sim, run


def test_charging_raises_soc_and_voltage_discharging_lowers_them() -> None:
    sim, clock = make_sim(scenario="constant", constant_current_a=50.0, **QUIET)
    close_all(sim, clock)
    soc0, ocv0 = sim.true_cell_soc_pct, sim.true_ocv_v
    run(sim, clock, 1800.0, 1.0)
    assert sim.true_current_a == pytest.approx(50.0)
    assert np.all(sim.true_cell_soc_pct - soc0 > 20.0)  # 25 Ah into ~100 Ah cells
    assert np.all(sim.true_ocv_v > ocv0)
    # Terminal voltage under charge sits above the OCV by I*(R0 + relaxed R1).
    assert np.all(sim.true_cell_voltages_v > sim.true_ocv_v + 50.0 * 0.0008 * 0.9)

    sim2, clock2 = make_sim(scenario="constant", constant_current_a=-50.0, **QUIET)
    close_all(sim2, clock2)
    soc0, ocv0 = sim2.true_cell_soc_pct, sim2.true_ocv_v
    run(sim2, clock2, 1800.0, 1.0)
    assert sim2.true_current_a == pytest.approx(-50.0)
    assert np.all(soc0 - sim2.true_cell_soc_pct > 20.0)
    assert np.all(sim2.true_ocv_v < ocv0)
    assert np.all(sim2.true_cell_voltages_v < sim2.true_ocv_v)


def test_soc_change_matches_charge_per_cell_capacity() -> None:
    sim, clock = make_sim(scenario="constant", constant_current_a=20.0, self_discharge_pct_per_month=0.0, **QUIET)
    close_all(sim, clock)
    soc0 = sim.true_cell_soc_pct
    t0 = sim.elapsed_s
    run(sim, clock, 3600.0, 0.5)
    ah = 20.0 * (sim.elapsed_s - t0) / 3600.0
    np.testing.assert_allclose(sim.true_cell_soc_pct - soc0, 100.0 * ah / sim.cell_capacity_ah, rtol=1e-6)


@pytest.mark.parametrize("current_a", [40.0, -40.0])
def test_energy_in_at_terminals_equals_stored_change_plus_losses(current_a: float) -> None:
    sim, clock = make_sim(scenario="constant", constant_current_a=current_a, self_discharge_pct_per_month=0.0, **QUIET)
    close_all(sim, clock)
    sim.set_discharge(0, 0b101)  # balancing on two cells at the same time
    e0, l0, t_wh0 = sim.stored_energy_wh, sim.losses_wh, sim.terminal_energy_wh
    # Integrate I * V_pack ourselves from what the pack shows each tick.
    measured_wh = 0.0
    for _ in range(3600):
        v_pack = float(sim.true_cell_voltages_v.sum())
        i = sim.true_current_a
        clock.advance(1.0)
        measured_wh += i * v_pack / 3600.0
    stored = sim.stored_energy_wh - e0
    losses = sim.losses_wh - l0
    assert losses > 0.0
    assert sim.balancing_energy_wh > 0.0
    assert measured_wh == pytest.approx(stored + losses, rel=2e-3)
    assert sim.terminal_energy_wh - t_wh0 == pytest.approx(stored + losses, rel=1e-4)


def test_balancing_heats_the_cell_and_lowers_its_soc() -> None:
    sim, clock = make_sim(
        scenario="idle", initial_soc_spread_pct=0.0, capacity_spread_pct=0.0, self_discharge_pct_per_month=0.0, **QUIET
    )
    sim.set_discharge(0, 1 << 2)  # cell 3
    run(sim, clock, 2 * 3600.0, 1.0)
    soc = sim.true_cell_soc_pct
    temps = sim.cell_temperatures_c
    others = np.delete(np.arange(16), 2)
    # ~0.1 A for 2 h = 0.2 Ah of 100 Ah.
    assert soc[others].max() - soc[2] == pytest.approx(0.2, rel=0.15)
    assert temps[2] - temps[others].max() > 0.3
    assert sim.balancing_energy_wh == pytest.approx(0.2 * 3.3, rel=0.15)
    # The die of that board runs warmer than the other board's die.
    assert sim.die_temperature_c(0) > sim.die_temperature_c(1)
    sim.set_discharge(0, 0)
    e = sim.balancing_energy_wh
    run(sim, clock, 600.0, 1.0)
    assert sim.balancing_energy_wh == pytest.approx(e)


def test_rc_pair_relaxes_after_a_current_step() -> None:
    sim, clock = make_sim(
        scenario="constant",
        constant_current_a=-80.0,
        rc_time_constant_s=60.0,
        self_discharge_pct_per_month=0.0,
        **QUIET,
    )
    close_all(sim, clock)
    run(sim, clock, 600.0, 0.5)
    loaded_gap = sim.true_ocv_v - sim.true_cell_voltages_v
    sim.set_output("allow_discharge", False)  # the inverter stops: current steps to 0
    assert sim.true_current_a == 0.0
    right_after = sim.true_ocv_v - sim.true_cell_voltages_v
    # The R0 drop vanishes at once, the R1 drop (~80 A * 0.5 mOhm) remains ...
    assert np.all(right_after < loaded_gap - 80.0 * 0.0008 * 0.9)
    assert np.all(right_after > 80.0 * 0.0005 * 0.8)
    run(sim, clock, 60.0, 0.5)
    after_tau = sim.true_ocv_v - sim.true_cell_voltages_v
    # ... and decays with tau: about exp(-1) after one time constant.
    np.testing.assert_allclose(after_tau / right_after, np.exp(-1.0), rtol=0.05)
    run(sim, clock, 600.0, 1.0)
    assert np.all(np.abs(sim.true_ocv_v - sim.true_cell_voltages_v) < 1e-5)


def test_self_discharge_lowers_soc_over_days_with_spread() -> None:
    sim, clock = make_sim(scenario="idle", self_discharge_pct_per_month=3.0, self_discharge_spread_pct=50.0, **QUIET)
    soc0 = sim.true_cell_soc_pct
    clock.advance(30 * 86400.0)
    drop = soc0 - sim.true_cell_soc_pct
    assert np.all(drop > 1.4) and np.all(drop < 4.6)
    assert drop.max() - drop.min() > 0.5  # cells self-discharge at different rates
    assert sim.self_discharge_wh > 0.0


def test_capacity_spread_gives_different_soc_swings() -> None:
    sim, clock = make_sim(
        scenario="constant",
        constant_current_a=-30.0,
        capacity_spread_pct=10.0,
        self_discharge_pct_per_month=0.0,
        **QUIET,
    )
    close_all(sim, clock)
    soc0 = sim.true_cell_soc_pct
    run(sim, clock, 3600.0, 1.0)
    swing = soc0 - sim.true_cell_soc_pct
    cap = sim.cell_capacity_ah
    assert cap.max() / cap.min() > 1.08
    assert swing[np.argmin(cap)] > swing[np.argmax(cap)] * 1.08


def test_spreads_are_reproducible_from_the_seed() -> None:
    a, _ = make_sim(seed=7)
    b, _ = make_sim(seed=7)
    c, _ = make_sim(seed=8)
    np.testing.assert_array_equal(a.cell_capacity_ah, b.cell_capacity_ah)
    np.testing.assert_array_equal(a.true_cell_soc_pct, b.true_cell_soc_pct)
    assert not np.array_equal(a.cell_capacity_ah, c.cell_capacity_ah)


def test_overcharge_drives_cells_beyond_vmax() -> None:
    sim, clock = make_sim(scenario="constant", constant_current_a=50.0, initial_soc_pct=95.0, **QUIET)
    close_all(sim, clock)
    run(sim, clock, 1800.0, 1.0)
    assert sim.true_cell_voltages_v.max() > sim.config.pack.limits.vmax_v


def test_current_heats_cells_and_they_cool_back_to_ambient() -> None:
    sim, clock = make_sim(scenario="constant", constant_current_a=-150.0, cell_resistance_ohm=0.005, **QUIET)
    close_all(sim, clock)
    run(sim, clock, 1800.0, 1.0)
    hot = sim.cell_temperatures_c
    assert np.all(hot > 25.0 + 2.0)
    sim.set_output("allow_discharge", False)
    clock.advance(10 * 3600.0)
    assert np.all(np.abs(sim.cell_temperatures_c - 25.0) < 0.1)


def test_time_never_runs_backwards_and_many_reads_in_one_instant_agree() -> None:
    sim, clock = make_sim(scenario="constant", constant_current_a=10.0)
    close_all(sim, clock)
    clock.advance(5.0)
    first = list(sim.cell_inputs_v(1))
    assert list(sim.cell_inputs_v(1)) == first
    t = sim.time_s
    clock._now_s -= 3.0  # a clock that jumped back must not rewind the pack
    assert sim.time_s == t


def test_set_cell_soc_moves_the_ocv() -> None:
    sim, _ = make_sim(**QUIET)
    sim.set_cell_soc_pct([50.0] * 15 + [100.0])
    assert sim.true_cell_soc_pct[-1] == pytest.approx(100.0)
    assert sim.true_ocv_v[-1] == pytest.approx(3.45)
    assert sim.cell_inputs_v(1)[-1] == pytest.approx(3.45)
    sim.set_cell_soc_pct(0.0)
    assert np.all(sim.true_ocv_v == pytest.approx(2.80))


def test_longer_sub_steps_keep_the_charge_and_the_state() -> None:
    """A benchmark's 3 s sub-steps (``max_step_s``) against the daemon's 1 s: over a solar
    morning read every 3 s, the cells' SOC and RC voltage end where they end with 1 s steps
    (the profile moves little in 3 s), and a non-positive step is refused."""
    base = Config()
    cfg = base.model_copy(update={"simulator": SimulatorConfig(
        **{**base.simulator.model_dump(), **QUIET, "scenario": "solar_day", "start_hour": 7.0})})
    ends = []
    for step in (1.0, 3.0):
        clock = VirtualClock()
        sim = PackSimulator(cfg, clock, max_step_s=step)
        close_all(sim, clock)
        start = sim.true_cell_soc_pct.copy()
        for _ in range(1200):  # an hour of readings every 3 s
            clock.advance(3.0)
            sim.cell_inputs_v(0)
        ends.append((sim.true_cell_soc_pct.copy(), sim.true_cell_voltages_v.copy()))
    assert np.abs(ends[0][0] - ends[1][0]).max() < 0.01  # SOC, percentage points
    assert np.abs(ends[0][1] - ends[1][1]).max() < 0.001  # terminal voltage, V
    assert np.abs(ends[1][0] - start).min() > 1.0  # the morning moved every cell
    with pytest.raises(ValueError, match="max_step_s"):
        PackSimulator(cfg, VirtualClock(), max_step_s=0.0)
