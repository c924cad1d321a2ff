"""The simulator behind the real byte-level chip emulator and driver (what the daemon runs)."""

from __future__ import annotations

import pytest

from bmsgateway.clock import VirtualClock
from bmsgateway.hal.ltc681x.driver import LTC681xChain
from bmsgateway.hal.ltc681x.emulator import EmulatedChain
from bmsgateway.hal.thermistor import voltage_to_temperature_c
from bmsgateway.sim import FaultInjector, PackSimulator
from tests.sim.helpers import QUIET, close_all, make_sim


def _chain(sim: PackSimulator, clock: VirtualClock) -> tuple[EmulatedChain, LTC681xChain]:
    boards = sim.config.pack.boards
    chips = [b.chip for b in boards]
    emu = EmulatedChain(chips, clock, sim, [b.cells for b in boards])
    return emu, LTC681xChain(emu, chips)


def test_driver_reads_the_simulated_cells_and_sensors() -> None:
    sim, clock = make_sim(scenario="constant", constant_current_a=-30.0, **QUIET)
    close_all(sim, clock)
    _emu, chain = _chain(sim, clock)
    chain.wakeup()
    assert chain.wait_done(clock.advance, chain.start_cell_conversion(), 1.0)
    cells = chain.read_cell_voltages()
    assert all(cells.ok)
    read = [v for board, b in zip(cells.values, sim.config.pack.boards, strict=True) for v in board[: b.cells]]
    true_v = sim.true_cell_voltages_v
    assert read == pytest.approx(true_v.tolist(), abs=2e-4)

    assert chain.wait_done(clock.advance, chain.start_aux_conversion(), 1.0)
    aux = chain.read_aux_voltages()
    th = sim.config.pack.thermistor
    t_c = voltage_to_temperature_c(aux.values[0][0], th.vref_v, th.pullup_ohm, th.r25_ohm, th.beta_k)
    assert t_c == pytest.approx(25.0, abs=0.2)
    cs = sim.config.hardware.current_sensor
    current_a = (aux.values[cs.board][cs.gpio - 1] - cs.zero_v) / cs.sensitivity_v_per_a
    assert current_a == pytest.approx(-30.0, abs=0.1)


def test_driver_discharge_bits_reach_the_cells() -> None:
    sim, clock = make_sim(**QUIET)
    emu, chain = _chain(sim, clock)
    chain.wakeup()
    chain.set_discharge([0b10, 0b1])
    clock.advance(1.0)
    emu.update()
    assert sim.balancing_mask.tolist() == [False, True] + [False] * 6 + [True] + [False] * 7
    clock.advance(600.0)
    assert sim.balancing_energy_wh > 0.0


def test_injected_dead_board_stops_its_replies() -> None:
    sim, clock = make_sim(**QUIET)
    emu, chain = _chain(sim, clock)
    injector = FaultInjector(sim, emu)
    injector.schedule(["dead_board:2@10s"])
    chain.wakeup()
    assert chain.wait_done(clock.advance, chain.start_cell_conversion(), 1.0)
    assert all(chain.read_cell_voltages().ok)
    clock.advance(10.0)
    assert [str(i) for i in injector.poll(clock.now())] == ["dead_board:2@10s"]
    chain.wakeup()
    assert chain.wait_done(clock.advance, chain.start_cell_conversion(), 1.0)
    assert chain.read_cell_voltages().ok == [True, False]
