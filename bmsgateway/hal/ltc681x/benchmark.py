"""Driver software time per acquisition cycle at ~255 cells: ``python -m bmsgateway.hal.ltc681x.benchmark``.

One cycle = CLRCELL, CLRAUX, ADCV polled to completion + all cell groups, ADAX polled + all aux
groups (each burst preceded by an isoSPI idle wake), against the emulated chain. The
emulator's own time (``emulator_time_s``) is subtracted, so the figure is what the driver costs
on top of the SPI transfers on real hardware.
"""

from __future__ import annotations

import time

from bmsgateway.clock import VirtualClock
from bmsgateway.hal.ltc681x import EmulatedChain, LTC681xChain, StaticAfe


def driver_time_per_cycle_s(chip: str, boards: int, cells_per_board: int, cycles: int = 200) -> tuple[float, float]:
    """(driver seconds per cycle, emulator seconds per cycle), best of 5 runs."""
    clock = VirtualClock()
    afe = StaticAfe([[3.3 + 0.0001 * k for k in range(cells_per_board)] for _ in range(boards)])
    emu = EmulatedChain([chip] * boards, clock, afe, [cells_per_board] * boards)
    chain = LTC681xChain(emu, [chip] * boards)
    chain.wakeup()
    best_driver = best_emu = float("inf")
    for _ in range(5):
        emu_before = emu.emulator_time_s
        t0 = time.perf_counter()
        for _ in range(cycles):
            chain.clear_cells()
            chain.clear_aux()
            chain.wait_done(clock.advance, chain.start_cell_conversion(), timeout_s=0.05)
            cells = chain.read_cell_voltages()
            chain.wait_done(clock.advance, chain.start_aux_conversion(), timeout_s=0.05)
            aux = chain.read_aux_voltages()
        total = time.perf_counter() - t0
        emu_s = emu.emulator_time_s - emu_before
        if not (all(cells.ok) and all(aux.ok)):
            raise RuntimeError("benchmark chain did not read cleanly")
        best_driver = min(best_driver, (total - emu_s) / cycles)
        best_emu = min(best_emu, emu_s / cycles)
    return best_driver, best_emu


def main() -> None:
    for chip, boards, cells in (("LTC6813", 15, 17), ("LTC6811", 22, 12)):
        drv, emu = driver_time_per_cycle_s(chip, boards, cells)
        print(
            f"{boards} x {chip} ({boards * cells} cells): "
            f"driver {drv * 1e3:.3f} ms/cycle, emulator {emu * 1e3:.3f} ms/cycle"
        )


if __name__ == "__main__":
    main()
