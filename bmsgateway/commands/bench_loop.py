"""``bmsgateway bench loop --cells N --json``: software time of one pack cycle.

Runs the real cycle (driver, PEC, decoding, snapshot, estimation, protection, limits, balancing)
against the byte-level chip emulator on a virtual clock, and reports the time spent inside the
emulator (and the battery model it drives) apart, since on hardware that time is the SPI bus.
Times are the CPU time of the cycle's thread (``time.thread_time``), so the figure does not
depend on what else the machine runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any, TypeVar

from bmsgateway.commands.common import UsageError, percentile
from bmsgateway.config import Config, parse_config

__all__ = ["bench_config", "register_bench", "run", "run_bench"]

F = TypeVar("F", bound=Callable[..., Any])

#: CPU time of this thread: what the software costs, unaffected by other processes on the machine
#: (wall time on a shared machine measures the neighbours as well).
_cpu = time.thread_time


def register_bench(bench_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = bench_sub.add_parser("loop", help="per-cycle software time of the pack cycle")
    p.add_argument("--cells", type=int, default=16, help="cells in series (4..512)")
    p.add_argument("--cycles", type=int, default=600, help="cycles to measure (after 50 warm-up cycles)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def bench_config(cells: int) -> Config:
    """A chain holding ``cells`` cells: LTC6811 boards of up to 12 cells, LTC6813 beyond."""
    if not 4 <= cells <= 512:
        raise UsageError(f"--cells {cells}: allowed 4..512")
    per = 12 if cells <= 96 else 18
    n = math.ceil(cells / per)
    base, extra = divmod(cells, n)
    sizes = [base + (1 if i < extra else 0) for i in range(n)]
    if min(sizes) < 4:
        raise UsageError(f"--cells {cells}: cannot split into boards of 4..18 cells")
    chip = "LTC6811" if max(sizes) <= 12 else "LTC6813"
    boards = [{"chip": chip, "cells": s, "thermistors": 2} for s in sizes]
    return parse_config({"pack": {"boards": boards}, "simulator": {"scenario": "constant"}}, "bench")


def _timed(fn: F, sink: list[float]) -> F:
    def wrapper(*a: Any, **kw: Any) -> Any:
        t = _cpu()
        try:
            return fn(*a, **kw)
        finally:
            sink.append(_cpu() - t)

    return wrapper  # type: ignore[return-value]


async def run_bench(cells: int, cycles: int) -> dict[str, Any]:
    from bmsgateway.app import Daemon
    from bmsgateway.clock import VirtualClock

    cfg = bench_config(cells)
    clock = VirtualClock()
    with tempfile.TemporaryDirectory(prefix="bmsgateway-bench-") as tmp:
        daemon = Daemon.build(cfg, clock, state_dir=tmp, adapters=False, log_events=False)
        cycle = daemon.cycle
        emu = daemon.hardware.emulator
        emu.timer = _cpu
        est_t: list[float] = []
        prot_t: list[float] = []
        cycle.estimator.update = _timed(cycle.estimator.update, est_t)  # type: ignore[method-assign]
        cycle.protection.update = _timed(cycle.protection.update, prot_t)  # type: ignore[method-assign]
        period = cfg.system.cycle_period_s
        warmup = 50
        per_cycle: list[float] = []
        emu_cycle: list[float] = []
        for i in range(warmup + cycles):
            e0 = emu.emulator_time_s
            t0 = _cpu()
            await cycle.run_once()
            wall = _cpu() - t0
            emu_s = emu.emulator_time_s - e0
            clock.advance(max(0.0, period - 0.0))
            if i >= warmup:
                per_cycle.append(wall - emu_s)
                emu_cycle.append(emu_s)
        est_t, prot_t = est_t[warmup:], prot_t[warmup:]
        daemon.saver.close()
    ms = 1000.0
    return {
        "cells": cells,
        "boards": len(cfg.pack.boards),
        "chip": cfg.pack.boards[0].chip,
        "cycles": cycles,
        "per_cycle_ms": round(statistics.median(per_cycle) * ms, 4),
        "per_cycle_p99_ms": round(percentile(per_cycle, 0.99) * ms, 4),
        "emulator_ms": round(statistics.median(emu_cycle) * ms, 4),
        "estimation_ms": round(statistics.median(est_t) * ms, 4),
        "protection_ms": round(statistics.median(prot_t) * ms, 4),
    }


def run(args: argparse.Namespace) -> int:
    if args.cycles < 10:
        raise UsageError(f"--cycles {args.cycles}: at least 10")
    result = asyncio.run(run_bench(args.cells, args.cycles))
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:20s} {v}")
    return 0
