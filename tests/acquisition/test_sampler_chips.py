"""The sampler against the emulated chain: frozen ADC, wiring checks, REF2, start-up check."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest

from bmsgateway.acquisition.sampler import Acquisition
from bmsgateway.clock import VirtualClock
from bmsgateway.config import parse_config
from bmsgateway.hal.ltc681x import EmulatedChain, LTC681xChain
from bmsgateway.hal.ltc681x.driver import ChainError
from bmsgateway.sim.pack import PackSimulator
from bmsgateway.state import Measurement
from tests.sim.helpers import close_all


def _rig(cells_wired: list[int] | None = None, **sim: Any) -> tuple[Acquisition, EmulatedChain, PackSimulator, Any]:
    cfg = parse_config(
        {
            "simulator": {"scenario": "constant", "constant_current_a": -30.0, **sim},
            "hardware": {"stale_conversions": 20, "open_wire_interval_s": 0.0},
        },
        "test",
    )
    clock = VirtualClock()
    psim = PackSimulator(cfg, clock)
    close_all(psim, clock)
    boards = cfg.pack.boards
    chips = [b.chip for b in boards]
    emu = EmulatedChain(chips, clock, psim, cells_wired or [b.cells for b in boards])
    chain = LTC681xChain(emu, chips)
    return Acquisition(cfg, chain, clock), emu, psim, clock


def _cycles(acq: Acquisition, clock: VirtualClock, n: int) -> list[Measurement]:
    async def run() -> list[Measurement]:
        out = []
        for _ in range(n):
            out.append(await acq.acquire())
            clock.advance(0.1)
        return out

    return asyncio.run(run())


def test_a_frozen_adc_becomes_stale_while_current_flows() -> None:
    acq, emu, _sim, clock = _rig()
    first = _cycles(acq, clock, 3)
    assert all(not b.adc_fault for b in first[-1].boards)
    emu.set_frozen(1)
    ms = _cycles(acq, clock, 30)
    faults = [m.boards[1].adc_fault for m in ms]
    k = faults.index("frozen")
    assert 19 <= k <= 22  # after stale_conversions = 20 identical conversions
    assert all(math.isnan(v) for v in ms[-1].cell_voltages_v[8:])  # never used as fresh
    assert not ms[-1].boards[0].adc_fault


def test_fewer_cells_wired_than_configured_is_a_chain_fault() -> None:
    acq, _emu, _sim, clock = _rig(cells_wired=[8, 6])
    m = _cycles(acq, clock, 1)[0]
    assert any("fewer cells wired" in f and "board 2" in f for f in m.chain_faults)


def test_thermistors_use_the_measured_ref2() -> None:
    acq, _emu, psim, clock = _rig()
    m = _cycles(acq, clock, 2)[-1]
    assert m.temperatures_c[0] == pytest.approx(float(psim.cell_temperatures_c[0]), abs=0.5)


def test_the_first_cycle_refuses_a_silent_chain() -> None:
    acq, emu, _sim, clock = _rig()
    emu.set_dead(0, True)
    with pytest.raises(ChainError, match="no answer from board 1: check SPI mode/speed and wiring"):
        _cycles(acq, clock, 1)


def test_balancing_a_cell_bleeds_exactly_that_cell() -> None:
    acq, emu, _sim, clock = _rig()
    _cycles(acq, clock, 1)
    balancing = [False] * 16
    balancing[10] = True  # board 2, its third cell

    async def run() -> None:
        await acq.acquire(balancing)

    asyncio.run(run())
    assert emu.discharge_mask(0) == 0
    assert emu.discharge_mask(1) == 0b100
    for nothing in ([False] * 16, []):  # nothing to bleed (the common case): every DCC bit clears
        asyncio.run(acq.acquire(nothing))
        assert emu.discharge_mask(0) == 0 and emu.discharge_mask(1) == 0, nothing


def test_a_board_that_stops_answering_is_failed_and_recovers_fully() -> None:
    """Board 2 silent for three cycles: it is not ok, its cells and thermistors are not fresh
    (their age grows); once it answers again its failed-cycle count is back to 0."""
    acq, emu, _sim, clock = _rig()
    _cycles(acq, clock, 2)
    emu.set_dead(1, True)
    ms = _cycles(acq, clock, 3)
    b1 = [i for i, b in enumerate(ms[-1].temperature_board) if b == 1]
    assert [m.boards[1].failed_cycles for m in ms] == [1, 2, 3]
    assert not ms[-1].boards[1].ok and ms[-1].boards[0].ok
    assert all(math.isnan(ms[-1].temperatures_c[i]) for i in b1)
    assert all(ms[-1].temperature_age_s[i] >= 0.25 for i in b1)
    assert all(ms[-1].cell_age_s[i] >= 0.25 for i in range(8, 16))
    emu.set_dead(1, False)
    m = _cycles(acq, clock, 1)[0]
    assert m.boards[1].ok and m.boards[1].failed_cycles == 0
    assert all(m.temperature_age_s[i] == 0.0 for i in b1)


def test_a_lost_current_reading_is_not_fresh() -> None:
    """The chain goes silent (after start-up): the current is missing and its age grows, so
    protection sees lost communication instead of a fresh 0 A."""
    acq, emu, _sim, clock = _rig()
    assert _cycles(acq, clock, 2)[-1].current_age_s == 0.0
    emu.set_dead(0, True)
    ms = _cycles(acq, clock, 3)
    assert all(math.isnan(m.current_a) for m in ms)
    assert ms[-1].current_age_s >= 0.25
