"""What the chip emulator sees: cell inputs, GPIO voltages, die temperature, discharge bits."""

from __future__ import annotations

import numpy as np
import pytest

from bmsgateway.config import Config
from bmsgateway.config.hardware import CurrentSensorConfig, HardwareConfig
from bmsgateway.config.pack import BoardConfig, PackConfig
from bmsgateway.hal.thermistor import voltage_to_temperature_c
from tests.sim.helpers import QUIET, close_all, make_sim


def test_cell_inputs_are_terminal_voltages_with_noise() -> None:
    sim, clock = make_sim(voltage_noise_v=0.002)
    clock.advance(1.0)
    true_v = sim.true_cell_voltages_v
    samples = []
    for _ in range(400):
        clock.advance(0.1)
        samples.append(list(sim.cell_inputs_v(0)) + list(sim.cell_inputs_v(1)))
    arr = np.array(samples)
    assert arr.shape == (400, 16)
    np.testing.assert_allclose(arr.mean(axis=0), true_v, atol=0.0008)
    assert arr.std(axis=0).mean() == pytest.approx(0.002, rel=0.2)


def test_gpio_layout_thermistors_and_hall_sensor() -> None:
    sim, clock = make_sim(
        scenario="constant", constant_current_a=-40.0, current_offset_a=1.0, current_gain_error_pct=5.0, **QUIET
    )
    close_all(sim, clock)
    cfg = sim.config
    cs = cfg.hardware.current_sensor
    th = cfg.pack.thermistor
    g0, g1 = sim.gpio_inputs_v(0), sim.gpio_inputs_v(1)
    assert len(g0) == len(g1) == 5
    for g in (g0, g1):
        for k in range(2):
            t = voltage_to_temperature_c(g[k], th.vref_v, th.pullup_ohm, th.r25_ohm, th.beta_k)
            assert t == pytest.approx(25.0, abs=0.2)
    assert g1[2:] == [0.0, 0.0, 0.0]
    assert g0[2:4] == [0.0, 0.0]
    measured_a = (g0[cs.gpio - 1] - cs.zero_v) / cs.sensitivity_v_per_a
    assert measured_a == pytest.approx(-40.0 * 1.05 + 1.0, abs=1e-6)


def test_inverted_hall_sensor_on_another_board_and_ltc6813() -> None:
    pack = PackConfig(boards=(BoardConfig(), BoardConfig(chip="LTC6813", cells=15, thermistors=3)))
    hw = HardwareConfig(current_sensor=CurrentSensorConfig(board=1, gpio=7, inverted=True))
    sim, clock = make_sim(Config(pack=pack, hardware=hw), scenario="constant", constant_current_a=25.0, **QUIET)
    close_all(sim, clock)
    assert len(sim.cell_inputs_v(1)) == 15
    g = sim.gpio_inputs_v(1)
    assert len(g) == 9
    assert g[6] == pytest.approx(2.5 - 25.0 * 0.004)
    assert sim.gpio_inputs_v(0)[4] == 0.0


def test_discharge_mask_bits_beyond_the_board_cells_are_ignored() -> None:
    sim, clock = make_sim(**QUIET)
    sim.set_discharge(1, 0b1111_0000_0001)  # bits 9..12 do not exist on an 8-cell board
    mask = sim.balancing_mask
    assert mask.tolist() == [False] * 8 + [True] + [False] * 7
    clock.advance(10.0)
    assert sim.balancing_energy_wh > 0.0


def test_die_temperature_tracks_board_and_bleed() -> None:
    sim, _clock = make_sim(die_self_heating_c=3.0, die_bleed_k_per_w=5.0, **QUIET)
    assert sim.die_temperature_c(0) == pytest.approx(28.0, abs=0.01)
    sim.set_discharge(0, 0b111111)  # 6 cells * 3.3^2/33 W ~ 2 W -> ~ +10 K at once
    assert sim.die_temperature_c(0) == pytest.approx(28.0 + 6 * 3.3**2 / 33 * 5.0, abs=0.5)
    assert sim.die_temperature_c(1) == pytest.approx(28.0, abs=0.01)


def test_large_pack_steps_cheaply() -> None:
    boards = tuple(BoardConfig(chip="LTC6813", cells=16, thermistors=2) for _ in range(16))  # 256 cells
    sim, clock = make_sim(Config(pack=PackConfig(boards=boards)), scenario="solar_day")
    close_all(sim, clock)
    for _ in range(3000):
        clock.advance(0.1)
        for b in range(16):
            sim.cell_inputs_v(b)
    assert sim.true_cell_soc_pct.shape == (256,)
    assert sim.elapsed_s == pytest.approx(301.0)
