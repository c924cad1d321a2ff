"""``bmsgateway bench latency --hours 24 --json``: randomised thread latency against the chain.

The issue-15 proof run: hours of simulated time with 0..8 ms of latency before every SPI burst,
lost conversion commands and corrupted replies; counts every cell/current value the sampler
reported as fresh that was not converted in its own cycle (must be 0; exit status 1 otherwise).
The test suite runs a three-minute version (tests/hal/test_ltc681x_latency.py).
"""

from __future__ import annotations

import argparse
import json
import time

from bmsgateway.commands.common import UsageError

__all__ = ["register_bench", "run"]


def register_bench(bench_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = bench_sub.add_parser("latency", help="stale-as-fresh check under random SPI latency (issue 15)")
    p.add_argument("--hours", type=float, default=24.0, help="simulated hours (default 24)")
    p.add_argument("--jitter-ms", type=float, default=8.0, help="max latency before each burst (default 8)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bmsgateway.commands.latency_rig import run_latency

    if not 0.0 < args.hours <= 24.0 * 365:
        raise UsageError(f"--hours {args.hours}: allowed (0, 8760]")
    if not 0.0 <= args.jitter_ms <= 100.0:
        raise UsageError(f"--jitter-ms {args.jitter_ms}: allowed 0..100")
    t0 = time.perf_counter()
    res = run_latency(args.hours, max_jitter_s=args.jitter_ms * 1e-3, seed=args.seed)
    out = {"hours": args.hours, "jitter_ms": args.jitter_ms, **res.as_dict(),
           "wall_s": round(time.perf_counter() - t0, 1)}
    if args.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k:24s} {v}")
    return 0 if res.stale_taken_as_fresh == 0 else 1
