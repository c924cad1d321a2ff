"""``bmsgateway bench http --cells 255 --json``: what /metrics, /api/state and the event stream cost.

The simulated daemon runs on the real clock with its HTTP adapter on a free loopback port and a
pack of ``--cells`` cells. Measured:

* **render**: the exporter building one scrape in process (``generate_latest``), p50 / p99 / max;
* **scrape**: ``GET /metrics`` over HTTP from a client process, back to back for ``--seconds``
  (Prometheus scrapes every 5-60 s: this is far more than it asks), p50 / p99 / max and scrapes/s;
* ``GET /api/state`` the same way, and the size of one SSE snapshot;
* the pack loop's period jitter (actual start-to-start period minus the configured one) while
  the scrapes run, next to a baseline of the loop with no HTTP client.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import tempfile
import time
import urllib.request
from typing import Any

from bmsgateway.commands.bench_loop import bench_config

__all__ = ["register_bench", "run"]


def register_bench(bench_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = bench_sub.add_parser("http", help="/metrics scrape time and /api/state with N cells, pack-loop jitter")
    p.add_argument("--cells", type=int, default=255, help="cells in series (4..512, default 255)")
    p.add_argument("--seconds", type=float, default=10.0, help="duration of each phase (default 10)")
    p.add_argument("--shared-loop", action="store_true",
                   help="run the pack cycle on the adapters' event loop (as before it had a thread of its own), "
                        "to compare the jitter")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def _stats_ms(values_s: list[float]) -> dict[str, float]:
    if not values_s:
        return {"n": 0}
    s = sorted(values_s)
    def pick(q: float) -> float:
        return round(1000.0 * s[min(len(s) - 1, int(q * len(s)))], 3)
    return {"n": len(s), "p50_ms": pick(0.5), "p99_ms": pick(0.99), "max_ms": round(1000.0 * s[-1], 3)}


def _client(url: str, seconds: float, result: Any) -> None:
    """GET ``url`` back to back for ``seconds`` (in its own process, as Prometheus would be)."""
    times: list[float] = []
    size = 0
    stop_at = time.time() + seconds
    while time.time() < stop_at:
        t0 = time.perf_counter()
        with urllib.request.urlopen(url, timeout=10) as r:
            size = len(r.read())
        times.append(time.perf_counter() - t0)
    result.put((times, size))


async def _bench(cells: int, seconds: float, shared_loop: bool = False) -> dict[str, Any]:
    from bmsgateway.adapters.document import state_document
    from bmsgateway.adapters.http.metrics import render_scrape
    from bmsgateway.app import Daemon
    from bmsgateway.commands.simulate import with_overrides
    from bmsgateway.state import PackState

    cfg = with_overrides(bench_config(cells), {
        "http.enabled": True, "http.port": 0, "modbus.tcp.enabled": False, "persistence.save_interval_s": 3600.0,
    })
    periods: list[float] = []
    phase = {"name": "warmup"}
    by_phase: dict[str, list[float]] = {"baseline": [], "metrics": [], "state": []}

    def keep(s: PackState) -> None:
        if phase["name"] in by_phase:
            by_phase[phase["name"]].append(s.timing.actual_period_s - s.timing.period_s)
        periods.append(s.timing.duration_s)

    with tempfile.TemporaryDirectory() as tmp:
        daemon = Daemon.build(cfg, state_dir=tmp, log_events=False)
        daemon.cycle_thread = not shared_loop
        daemon.cycle.listeners.append(keep)
        await daemon.start()
        try:
            adapter: Any = next(a for a in daemon.adapters if a.name == "http")
            base = f"http://127.0.0.1:{adapter.port}"
            await asyncio.sleep(2.0)
            phase["name"] = "baseline"
            await asyncio.sleep(min(seconds, 10.0))
            # The render timing runs in a worker thread, as the adapter renders: 50 renders on
            # the event loop would hold the pack cycle (a task on the same loop) for ~0.4 s, a
            # stall of the benchmark's own making that earlier runs counted as the exporter's.
            phase["name"] = "render"

            scrapes = [adapter.scrape() for _ in range(50)]  # taken on the loop, as the adapter does

            def time_renders() -> tuple[list[float], bytes]:
                times: list[float] = []
                out = b""
                for scrape in scrapes:
                    t0 = time.perf_counter()
                    out = render_scrape(scrape)
                    times.append(time.perf_counter() - t0)
                return times, out

            render, body = await asyncio.to_thread(time_renders)
            series = sum(1 for line in body.decode().splitlines() if line and not line.startswith("#"))
            results: dict[str, Any] = {}
            for name, path in (("metrics", "/metrics"), ("state", "/api/state")):
                phase["name"] = name
                ctx = mp.get_context("spawn")
                queue = ctx.Queue()
                proc = ctx.Process(target=_client, args=(base + path, seconds, queue), daemon=True)
                proc.start()
                while queue.empty():
                    await asyncio.sleep(0.05)
                times, size = queue.get()
                proc.join()
                results[name] = {**_stats_ms(times), "per_s": round(len(times) / seconds, 1), "bytes": size}
            phase["name"] = "done"
            latest = daemon.store.latest
            snapshot_bytes = len(json.dumps(state_document(latest), separators=(",", ":"))) if latest else 0
        finally:
            await daemon.stop()

    def jitter(values: list[float]) -> dict[str, float]:
        return _stats_ms([abs(v) for v in values])

    return {
        "cells": cells,
        "seconds": seconds,
        "pack_cycle": "shared loop" if shared_loop else "own thread",
        "series_per_scrape": series,
        "render_metrics": _stats_ms(render),
        "scrape_metrics": results["metrics"],
        "get_api_state": results["state"],
        "sse_snapshot_bytes": snapshot_bytes,
        "loop_jitter": {k: jitter(v) for k, v in by_phase.items()},
        "cycle_duration": _stats_ms(periods),
    }


def run(args: argparse.Namespace) -> int:
    from bmsgateway.commands.common import UsageError

    if args.seconds <= 0:
        raise UsageError(f"--seconds {args.seconds}: must be > 0")
    result = asyncio.run(_bench(args.cells, args.seconds, args.shared_loop))
    if args.json:
        print(json.dumps(result))
        return 0
    m, s = result["scrape_metrics"], result["get_api_state"]
    print(f"cells {result['cells']}: {result['series_per_scrape']} series per scrape, {m['bytes']} bytes; "
          f"pack cycle on {result['pack_cycle']}")
    print(f"  render /metrics in process: p50 {result['render_metrics']['p50_ms']} ms, "
          f"p99 {result['render_metrics']['p99_ms']} ms")
    print(f"  GET /metrics: p50 {m['p50_ms']} ms, p99 {m['p99_ms']} ms, max {m['max_ms']} ms ({m['per_s']}/s)")
    print(f"  GET /api/state: p50 {s['p50_ms']} ms, p99 {s['p99_ms']} ms ({s['bytes']} bytes, {s['per_s']}/s); "
          f"SSE snapshot {result['sse_snapshot_bytes']} bytes")
    for name, j in result["loop_jitter"].items():
        if j.get("n"):
            print(f"  pack loop jitter ({name}): p50 {j['p50_ms']} ms, p99 {j['p99_ms']} ms, max {j['max_ms']} ms")
    return 0
