"""Randomised thread latency against the emulated chain: is a value ever taken as fresh that was
not converted in its own cycle? (issue 15, "24 h simulated run").

How it works:

* ``JitterTransport`` wraps the emulated chain and advances the virtual clock by a random
  0..``max_jitter_s`` before every burst, as a late worker thread on a Pi would. A burst is what
  the driver issues in one go: the isoSPI idle wake and its frame (the driver sends them
  back to back), or a sleep wake. With the default 8 ms the isoSPI idle timeout (4.3 ms) and the
  conversion times are exceeded all the time.
* ``CountingAfe`` makes every sample identifiable: each time the chips sample a board's cells its
  counter increases, and every cell of that board reads 3.0 V + counter x 100 µV (mod 10 000); the
  current-sensor GPIO likewise. A value the sampler reports as fresh must decode to a counter
  sampled during that cycle; anything else is a stale register taken as fresh.
* A fraction of conversion commands is dropped and some replies are corrupted, so lost commands
  and PEC errors happen too.

``run_latency(hours)`` is the bench (``bmsgateway bench latency``); the test suite runs a short one.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bmsgateway.clock import VirtualClock
from bmsgateway.hal.ltc681x.driver import LTC681xChain
from bmsgateway.hal.ltc681x.emulator import EmulatedChain

__all__ = ["CountingAfe", "JitterTransport", "LatencyResult", "run_latency"]

_BASE_V = 3.0
_MOD = 10_000


class JitterTransport:
    """``SpiTransport`` wrapper: a random delay on the virtual clock before every burst."""

    def __init__(self, inner: EmulatedChain, clock: VirtualClock, rng: random.Random, max_jitter_s: float) -> None:
        self._inner = inner
        self._clock = clock
        self._rng = rng
        self._max = max_jitter_s
        self._woken = False

    def _late(self) -> None:
        self._clock.advance(self._rng.uniform(0.0, self._max))

    def wakeup(self, chain_length: int) -> None:
        self._late()
        self._inner.wakeup(chain_length)
        self._woken = True

    def wakeup_idle(self, chain_length: int) -> None:
        self._late()
        self._inner.wakeup_idle(chain_length)
        self._woken = True

    def transfer(self, tx: bytes) -> bytes:
        if not self._woken:
            self._late()  # a frame the driver sent without a wake in front: late like any burst
        self._woken = False
        return self._inner.transfer(tx)


class CountingAfe:
    """An AFE whose every sample of a board is identifiable by the voltages it reads."""

    def __init__(self, cells_per_board: Sequence[int], clock: VirtualClock) -> None:
        self._cells = list(cells_per_board)
        self._clock = clock
        self.counter = [0] * len(self._cells)
        #: (time, board, counter) of every cell sample
        self.samples: list[tuple[float, int, int]] = []
        self.gpio_counter = [0] * len(self._cells)
        self.gpio_samples: list[tuple[float, int, int]] = []

    def cell_inputs_v(self, board: int) -> Sequence[float]:
        self.counter[board] += 1
        c = self.counter[board]
        self.samples.append((self._clock.now(), board, c))
        return [_BASE_V + (c % _MOD) * 1e-4] * self._cells[board]

    def gpio_inputs_v(self, board: int) -> Sequence[float]:
        self.gpio_counter[board] += 1
        c = self.gpio_counter[board]
        self.gpio_samples.append((self._clock.now(), board, c))
        return [1.0 + (c % _MOD) * 1e-4] * 9

    def die_temperature_c(self, board: int) -> float:
        return 30.0

    def open_wires(self, board: int) -> frozenset[int]:
        return frozenset()

    def set_discharge(self, board: int, mask: int) -> None:
        return None


@dataclass
class LatencyResult:
    cycles: int = 0
    fresh_cells_checked: int = 0
    fresh_currents_checked: int = 0
    stale_taken_as_fresh: int = 0  #: must be 0
    missing_cells: int = 0  #: NaN (not fresh) cell values: availability, not safety
    idle_frames_lost: int = 0
    dropped_conversions: int = 0
    examples: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "examples"} | {"examples": self.examples[:5]}


def run_latency(
    hours: float,
    max_jitter_s: float = 0.008,
    seed: int = 1,
    drop_p: float = 0.02,
    corrupt_p: float = 0.01,
    wake_before_burst: bool = True,
) -> LatencyResult:
    """Run the sampler for ``hours`` of simulated time with jitter; count stale-as-fresh values.

    ``wake_before_burst=False`` is the old driver (one wake per cycle): it shows the check bites."""
    from bmsgateway.acquisition.sampler import Acquisition
    from bmsgateway.config import parse_config

    boards = [{"chip": "LTC6811", "cells": 12, "thermistors": 2}, {"chip": "LTC6813", "cells": 18, "thermistors": 2}]
    cfg = parse_config(
        {
            "pack": {"boards": boards},
            "hardware": {
                # the default ±625 A sensor (the protection limits must lie inside its range)
                "current_sensor": {"board": 0, "gpio": 5, "zero_v": 2.5, "sensitivity_v_per_a": 0.004},
                "open_wire_interval_s": 10.0,
            },
        },
        "latency",
    )
    clock = VirtualClock()
    rng = random.Random(seed)
    cells = [b.cells for b in cfg.pack.boards]
    chips = [b.chip for b in cfg.pack.boards]
    afe = CountingAfe(cells, clock)
    emu = EmulatedChain(chips, clock, afe, cells, seed=seed)
    for b in range(len(chips)):
        emu.set_drop(b, drop_p)
        emu.set_corruption(b, corrupt_p)
    chain = LTC681xChain(
        JitterTransport(emu, clock, rng, max_jitter_s), chips, cfg.hardware.pec_retries, wake_before_burst
    )
    acq = Acquisition(cfg, chain, clock)
    period = cfg.system.cycle_period_s
    n_cycles = int(hours * 3600 / period)
    res = LatencyResult()
    cs_board = cfg.hardware.current_sensor.board

    async def main() -> None:
        next_s = clock.now()
        for _ in range(n_cycles):
            s0 = len(afe.samples)
            g0 = len(afe.gpio_samples)
            m = await acq.acquire()
            window = {(b, c % _MOD) for _t, b, c in afe.samples[s0:]}
            gwindow = {(b, c % _MOD) for _t, b, c in afe.gpio_samples[g0:]}
            res.cycles += 1
            off = 0
            for b, n in enumerate(cells):
                for i in range(n):
                    v = m.cell_voltages_v[off + i]
                    if v != v:
                        res.missing_cells += 1
                        continue
                    res.fresh_cells_checked += 1
                    code = round((v - _BASE_V) * 1e4)
                    if (b, code) not in window:
                        res.stale_taken_as_fresh += 1
                        if len(res.examples) < 5:
                            res.examples.append(f"t={m.time_s:.3f} board {b + 1} cell {i + 1}: sample {code}")
                off += n
            if m.current_a == m.current_a and m.current_age_s == 0.0:
                res.fresh_currents_checked += 1
                cs = cfg.hardware.current_sensor
                gpio_v = m.current_a * cs.sensitivity_v_per_a + cs.zero_v  # back to the pin voltage
                code = round((gpio_v - 1.0) * 1e4)
                if (cs_board, code) not in gwindow:
                    res.stale_taken_as_fresh += 1
                    if len(res.examples) < 5:
                        res.examples.append(f"t={m.time_s:.3f} current: sample {code}")
            del afe.samples[:s0]
            del afe.gpio_samples[:g0]
            next_s = max(next_s + period, clock.now())
            clock.advance(next_s - clock.now())

    asyncio.run(main())
    res.idle_frames_lost = emu.idle_frames_lost
    res.dropped_conversions = emu.dropped_conversions
    return res
