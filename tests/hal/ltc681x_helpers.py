"""Shared set-up for the LTC681x driver/emulator tests (a helper module, not a test file)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bmsgateway.clock import VirtualClock
from bmsgateway.hal.ltc681x import ChainRead, EmulatedChain, LTC681xChain, StaticAfe
from bmsgateway.hal.ltc681x.chips import chip_info


@dataclass
class Rig:
    clock: VirtualClock
    afe: StaticAfe
    emu: EmulatedChain
    chain: LTC681xChain
    cells_used: list[int]

    def settle(self, nominal_s: float) -> None:
        """Wait a started conversion out: its nominal time, then PLADC polls until done."""
        assert self.chain.wait_done(self.clock.advance, nominal_s, timeout_s=1.0)

    def cells(self) -> ChainRead[list[float]]:
        """One full ADCV: CLRCELL, wait until the chips report done, then read."""
        self.chain.clear_cells()
        self.settle(self.chain.start_cell_conversion())
        return self.chain.read_cell_voltages()

    def open_wire_readings(self, repetitions: int = 5) -> tuple[list[list[float]], list[list[float]]]:
        pu, pd = self.chain.open_wire_readings(self.clock.advance, repetitions)
        assert all(pu.ok) and all(pd.ok)
        return pu.values, pd.values


def board_voltages(board: int, n: int) -> list[float]:
    """Distinct per board and per cell, with digits below 100 µV so quantisation shows."""
    return [3.0 + 0.1 * board + 0.0123 * k + 0.00004 for k in range(n)]


def make_rig(chips: Sequence[str], cells_used: Sequence[int] | None = None, pec_retries: int = 2, seed: int = 0) -> Rig:
    used = list(cells_used) if cells_used is not None else [chip_info(c).cells for c in chips]
    clock = VirtualClock()
    afe = StaticAfe([board_voltages(b, n) for b, n in enumerate(used)])
    emu = EmulatedChain(chips, clock, afe, used, seed=seed)
    chain = LTC681xChain(emu, chips, pec_retries=pec_retries)
    chain.wakeup()
    return Rig(clock, afe, emu, chain, used)
