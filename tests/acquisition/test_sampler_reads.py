"""The sampler when exactly one register read fails (emulator ``corrupt_replies``): a failed
status read or a failed open-wire read fails that board for the cycle and is never taken as a
result; the zero calibration ignores a missing reading."""

from __future__ import annotations

import asyncio
import math
from typing import Any

from bmsgateway.acquisition.sampler import Acquisition
from bmsgateway.clock import VirtualClock
from bmsgateway.config import parse_config
from bmsgateway.hal.ltc681x import EmulatedChain, LTC681xChain
from bmsgateway.sim.faults import Injection
from bmsgateway.sim.pack import PackSimulator
from bmsgateway.state import Measurement

PERIOD_S = 0.1


def _rig(**hardware: Any) -> tuple[Acquisition, EmulatedChain, PackSimulator, VirtualClock]:
    cfg = parse_config(
        {
            "simulator": {"scenario": "constant", "constant_current_a": -30.0},
            "hardware": {"stale_conversions": 20, "open_wire_interval_s": 0.0, **hardware},
        },
        "test",
    )
    clock = VirtualClock()
    psim = PackSimulator(cfg, clock)
    for name in ("charge", "discharge", "allow_charge", "allow_discharge"):
        psim.set_output(name, True)
    clock.advance(1.0)
    chips = [b.chip for b in cfg.pack.boards]
    emu = EmulatedChain(chips, clock, psim, [b.cells for b in cfg.pack.boards])
    return Acquisition(cfg, LTC681xChain(emu, chips), clock), emu, psim, clock


def _cycles(acq: Acquisition, clock: VirtualClock, n: int) -> list[Measurement]:
    async def run() -> list[Measurement]:
        out = []
        for _ in range(n):
            out.append(await acq.acquire())
            clock.advance(PERIOD_S)
        return out

    return asyncio.run(run())


def test_a_failed_status_read_fails_the_board_for_that_cycle_only() -> None:
    acq, emu, _sim, clock = _rig(status_interval_s=1.0)
    first = _cycles(acq, clock, 1)[0]
    assert first.boards[1].ok and first.pack_voltage_measured_v > 40.0
    _cycles(acq, clock, 9)  # the next status read is due 1 s after the first
    emu.corrupt_replies(1, "RDSTATA", 3, after="ADSTAT")  # the read and both retries
    m = _cycles(acq, clock, 1)[0]
    assert not m.boards[1].ok and m.boards[1].failed_cycles == 1
    assert m.boards[0].ok
    assert math.isnan(m.boards[1].die_temperature_c) and math.isnan(m.boards[1].sum_of_cells_v)
    assert math.isnan(m.pack_voltage_measured_v)  # never the sum of last second's value
    assert not math.isnan(m.boards[0].sum_of_cells_v)
    after = _cycles(acq, clock, 1)[0]  # no status read this cycle: the board answers again
    assert after.boards[1].ok and after.boards[1].failed_cycles == 0


def test_a_failed_status_b_read_fails_the_board_too() -> None:
    acq, emu, _sim, clock = _rig(status_interval_s=1.0)
    emu.corrupt_replies(0, "RDSTATB", 3, after="ADSTAT")
    m = _cycles(acq, clock, 1)[0]
    assert not m.boards[0].ok and m.boards[1].ok
    assert math.isnan(m.boards[0].die_temperature_c)


def test_an_open_wire_check_whose_read_failed_changes_no_result() -> None:
    """An open wire is found; a later check whose pull-up read fails its PEC on that board fails
    the board for the cycle and keeps the open wire reported (the failed read shows none)."""
    acq, emu, psim, clock = _rig(open_wire_interval_s=0.5)
    psim.inject(Injection("open_wire", 2))  # top of cell 2: board 1, cells 2 and 3 suspect
    m = _cycles(acq, clock, 1)[0]
    assert m.open_wire_cells == (2,) and m.boards[0].open_wires == (2,)
    assert math.isnan(m.cell_voltages_v[1]) and math.isnan(m.cell_voltages_v[2])
    emu.corrupt_replies(0, "RDCV", 3, after="ADOW")  # group A of the next check, 3 attempts
    ms = _cycles(acq, clock, 6)  # the next check runs 0.5 s after the first
    checked = [i for i, x in enumerate(ms) if not x.boards[0].ok]
    assert len(checked) == 1, [x.boards[0].ok for x in ms]
    assert all(x.open_wire_cells == (2,) for x in ms)
    assert ms[checked[0]].boards[0].failed_cycles == 1 and ms[checked[0]].boards[1].ok
    assert all(math.isnan(x.cell_voltages_v[1]) for x in ms)  # still suspect, never fresh


def test_zero_calibration_takes_the_reading_and_ignores_a_missing_one() -> None:
    acq, emu, _sim, clock = _rig()
    _cycles(acq, clock, 1)
    raw = acq.raw_current_a
    assert raw == raw and abs(raw + 30.0) < 2.0
    assert acq.calibrate_zero() == raw
    assert abs(_cycles(acq, clock, 1)[0].current_a) < 0.5  # measured against the new zero
    emu.set_dead(0, True)
    _cycles(acq, clock, 1)
    assert math.isnan(acq.raw_current_a)
    assert acq.calibrate_zero() == raw  # no reading: the offset stays
