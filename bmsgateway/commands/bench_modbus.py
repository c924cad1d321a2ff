"""``bmsgateway bench modbus --clients 20 --seconds 20 --json``: Modbus load vs pack-loop timing.

Three phases in one run, each with the simulated daemon's pack loop running at its configured
period (100 ms) on the real clock:

0. **baseline** -- the loop alone, no Modbus (at most 10 s): the jitter the machine itself gives;
1. **bare** -- a plain pymodbus TCP server (static ``SimData`` block of the same size as the
   bmsgateway map) in its own process, hosted like the adapter, next to the daemon;
2. **bmsgateway** -- the daemon with its Modbus adapter enabled.

In the two load phases (``--seconds`` each) ``--clients`` TCP clients read the whole bmsgateway
map (1025 words, 9 requests of at most 125 words) as fast as they can. The clients are raw-socket
loops in separate processes (``--client-processes``), so they take neither the daemon's GIL nor
much CPU per request; they stand in for remote SCADA machines. Reported: requests answered per
second, and the pack loop's period jitter (actual start-to-start period minus the configured one:
p50 / p99 / max).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing as mp
import os
import socket
import struct
import sys
import tempfile
import threading
import time
from typing import Any

from bmsgateway.commands.common import percentile

__all__ = ["register_bench", "run", "run_bench"]

_MAX_READ = 125


def register_bench(bench_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = bench_sub.add_parser("modbus", help="Modbus TCP throughput and pack-loop jitter under load")
    p.add_argument("--clients", type=int, default=20, help="concurrent TCP clients (default 20)")
    p.add_argument("--seconds", type=float, default=20.0, help="duration of each phase (default 20)")
    p.add_argument("--client-processes", type=int, default=0,
                   help="processes the clients are spread over (default: number of CPUs, at most --clients)")
    p.add_argument("--client-nice", type=int, default=0, help="nice increment of the client processes")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


# --- load generator (runs in child processes) ---------------------------------------------------
def _requests(words: int) -> list[tuple[bytes, int]]:
    """(MBAP header + FC3 PDU without transaction id, expected response length) per chunk."""
    out = []
    for start in range(0, words, _MAX_READ):
        n = min(_MAX_READ, words - start)
        out.append((struct.pack(">HHBBHH", 0, 6, 1, 3, start, n), 9 + 2 * n))
    return out


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return bytes(buf)


def _client_thread(port: int, words: int, start_at: float, stop_at: float, result: list[int]) -> None:
    reqs = _requests(words)
    ok = errors = 0
    tid = 0
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5.0) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            time.sleep(max(0.0, start_at - time.time()))
            while time.time() < stop_at:
                for body, expect in reqs:
                    tid = (tid + 1) & 0xFFFF
                    sock.sendall(struct.pack(">H", tid) + body)
                    resp = _recv_exact(sock, 9)
                    if resp[7] != 3:
                        errors += 1
                        continue
                    _recv_exact(sock, expect - 9)
                    ok += 1
    except OSError:
        errors += 1
    result.extend((ok, errors))


def _client_process(port: int, words: int, threads: int, start_at: float, stop_at: float, nice: int,
                    out: Any) -> None:
    if nice:
        with contextlib.suppress(OSError):
            os.nice(nice)
    results: list[list[int]] = [[] for _ in range(threads)]
    pool = [threading.Thread(target=_client_thread, args=(port, words, start_at, stop_at, results[i]))
            for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    out.put((sum(r[0] for r in results if r), sum(r[1] for r in results if r)))


async def _load(
    port: int, words: int, clients: int, procs: int, seconds: float, nice: int, window: list[float]
) -> tuple[int, int]:
    """Run the clients; ``window`` receives the (start, stop) wall times of the measured load."""
    ctx = mp.get_context("spawn")
    q: Any = ctx.Queue()
    start_at = time.time() + 3.0  # time for the spawned interpreters to come up (not measured)
    stop_at = start_at + seconds
    window[:] = [start_at, stop_at]
    per = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
    ps = [ctx.Process(target=_client_process, args=(port, words, n, start_at, stop_at, nice, q), daemon=True)
          for n in per if n > 0]
    for p in ps:
        p.start()
    results = [await asyncio.to_thread(q.get, True, seconds + 60.0) for _ in ps]
    for p in ps:
        await asyncio.to_thread(p.join, 10.0)
    return sum(r[0] for r in results), sum(r[1] for r in results)


# --- phases ----------------------------------------------------------------------------------------
def _jitter(periods_ms: list[float]) -> dict[str, float]:
    return {"p50_ms": round(percentile(periods_ms, 0.50), 3), "p99_ms": round(percentile(periods_ms, 0.99), 3),
            "max_ms": round(max(periods_ms), 3) if periods_ms else float("nan"), "cycles": len(periods_ms),
            "cycles_over_5ms": sum(1 for p in periods_ms if p > 5.0)}


def _bare_server_main(words: int, port_out: Any) -> None:
    """Child process: a plain pymodbus TCP server with a static block, until killed."""

    async def main() -> None:
        from pymodbus.server import ModbusTcpServer
        from pymodbus.simulator import SimData, SimDevice
        from pymodbus.simulator.simutils import DataType

        device = SimDevice(0, simdata=[SimData(0, count=words, values=1, datatype=DataType.REGISTERS)])
        server = ModbusTcpServer(device, address=("127.0.0.1", 0))
        await server.serve_forever(background=True)
        sockets: list[Any] = list(getattr(server.transport, "sockets", None) or [])
        port_out.put(int(sockets[0].getsockname()[1]))
        await asyncio.Event().wait()

    asyncio.run(main())


class _BareServer:
    """The bare pymodbus server in its own process: hosted exactly like the adapter (process isolation)."""

    def __init__(self, words: int) -> None:
        ctx = mp.get_context("spawn")
        self._q: Any = ctx.Queue()
        self._proc = ctx.Process(target=_bare_server_main, args=(words, self._q), daemon=True)
        self.port: int | None = None

    def start(self) -> None:
        self._proc.start()
        self.port = int(self._q.get(True, 30.0))

    def stop(self) -> None:
        self._proc.terminate()
        self._proc.join(10.0)


async def _phase(kind: str, clients: int, procs: int, seconds: float, nice: int) -> dict[str, Any]:
    from bmsgateway.adapters.modbus.bmsmap import BMS_MAP_END
    from bmsgateway.config import parse_config

    ours = kind == "bmsgateway"
    cfg = parse_config({"modbus": {"tcp": {"enabled": ours, "host": "127.0.0.1", "port": 0}},
                        "logging": {"level": "warning"}}, "bench")
    with tempfile.TemporaryDirectory(prefix="bmsgateway-bench-modbus-") as tmp:
        daemon, loop_kind = _build_daemon(cfg, tmp, ours)
        periods_ms: list[float] = []
        window = [math.inf, -math.inf]

        def listener(state: Any) -> None:
            if window[0] <= time.time() <= window[1]:
                periods_ms.append((state.timing.actual_period_s - state.timing.period_s) * 1000.0)

        daemon.cycle.listeners.append(listener)
        bare = None
        await daemon.start()
        try:
            await asyncio.sleep(1.0)  # warm-up: let the loop settle before timing it
            t0 = time.perf_counter()
            if kind == "baseline":  # the loop alone: what the machine gives without any Modbus load
                window[:] = [time.time(), time.time() + seconds]
                await asyncio.sleep(seconds)
                ok = errors = 0
            else:
                if ours:
                    port = daemon.adapters[0].tcp_port
                else:
                    bare = _BareServer(BMS_MAP_END)
                    await asyncio.to_thread(bare.start)
                    port = bare.port
                assert port is not None
                ok, errors = await _load(port, BMS_MAP_END, clients, procs, seconds, nice, window)
            wall_s = time.perf_counter() - t0
        finally:
            if bare is not None:
                await asyncio.to_thread(bare.stop)
            await daemon.stop()
        image = getattr(daemon.adapters[0], "image", None) if ours else None
        isolation = getattr(daemon.adapters[0], "isolation", None) if ours else None
        encodes = image.encodes if image is not None else None
    requests_per_map = -(-BMS_MAP_END // _MAX_READ)
    result: dict[str, Any] = {
        "requests_per_s": round(ok / seconds, 1),
        "maps_per_s": round(ok / seconds / requests_per_map, 1),
        "errors": errors,
        "loop_jitter": _jitter(periods_ms),
        "phase_wall_s": round(wall_s, 1),
        "pack_loop": loop_kind,
    }
    if encodes is not None:
        result["image_encodes"] = encodes
    if isolation is not None:
        result["isolation"] = isolation
    return result


async def run_bench(clients: int, seconds: float, procs: int = 0, nice: int = 0) -> dict[str, Any]:
    from bmsgateway.adapters.modbus.bmsmap import BMS_MAP_END

    procs = procs or min(clients, os.cpu_count() or 1)
    baseline = await _phase("baseline", clients, procs, min(seconds, 10.0), nice)
    bare = await _phase("bare", clients, procs, seconds, nice)
    ours = await _phase("bmsgateway", clients, procs, seconds, nice)
    ratio = ours["requests_per_s"] / bare["requests_per_s"] if bare["requests_per_s"] else float("nan")
    return {
        "clients": clients, "client_processes": procs, "client_nice": nice, "seconds_per_phase": seconds,
        "map_words": BMS_MAP_END, "requests_per_map": -(-BMS_MAP_END // _MAX_READ),
        "cpus": os.cpu_count(), "python": sys.version.split()[0],
        "baseline_no_modbus": {"loop_jitter": baseline["loop_jitter"], "pack_loop": baseline["pack_loop"]},
        "bare_pymodbus": bare, "bmsgateway": ours, "throughput_ratio": round(ratio, 3),
        "goals": {"jitter_p99_le_5ms": ours["loop_jitter"]["p99_ms"] <= 5.0, "ratio_ge_0_8": ratio >= 0.8},
    }


def run(args: argparse.Namespace) -> int:
    from bmsgateway.commands.common import UsageError

    if not 1 <= args.clients <= 500:
        raise UsageError(f"--clients {args.clients}: allowed 1..500")
    if not 1.0 <= args.seconds <= 3600.0:
        raise UsageError(f"--seconds {args.seconds}: allowed 1..3600")
    try:  # log lines go to stderr so that --json output stays one parseable object
        from bmsgateway.runtime.logging import configure_logging

        configure_logging("warning", "auto", sys.stderr)
    except ImportError:
        pass
    result = asyncio.run(run_bench(args.clients, args.seconds, args.client_processes, args.client_nice))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        b, o = result["bare_pymodbus"], result["bmsgateway"]
        print(f"clients {result['clients']}, {result['seconds_per_phase']} s per phase, "
              f"map {result['map_words']} words")
        j = result["baseline_no_modbus"]["loop_jitter"]
        print(f"no Modbus     : {'-':>9} req/s  loop jitter p50 {j['p50_ms']} ms p99 {j['p99_ms']} ms "
              f"max {j['max_ms']} ms")
        print(f"bare pymodbus : {b['requests_per_s']:>9} req/s  loop jitter p50 {b['loop_jitter']['p50_ms']} ms "
              f"p99 {b['loop_jitter']['p99_ms']} ms max {b['loop_jitter']['max_ms']} ms")
        print(f"bmsgateway    : {o['requests_per_s']:>9} req/s  loop jitter p50 {o['loop_jitter']['p50_ms']} ms "
              f"p99 {o['loop_jitter']['p99_ms']} ms max {o['loop_jitter']['max_ms']} ms")
        print(f"throughput ratio {result['throughput_ratio']} (goal >= 0.8), goals {result['goals']}")
    return 0


# --- stand-in for the daemon while bmsgateway.app cannot be imported ------------------------------
class _StandInCycle:
    """Publishes a synthetic PackState every period on the real clock, like the pack cycle does."""

    def __init__(self, config: Any, store: Any) -> None:
        self.config = config
        self.store = store
        self.listeners: list[Any] = []

    async def run(self, stop: asyncio.Event) -> None:
        from bmsgateway.state import (
            BoardHealth,
            ControlState,
            CycleTiming,
            EstimateStatus,
            Measurement,
            PackState,
            ProtectionStatus,
        )

        period_s = self.config.system.cycle_period_s
        cells = self.config.pack.cell_count
        temps = self.config.pack.thermistor_count
        boards = tuple(BoardHealth(i, b.chip, True, 0, 0, 0.0) for i, b in enumerate(self.config.pack.boards))
        loop = asyncio.get_running_loop()
        seq = 0
        prev = loop.time()
        deadline = prev + period_s
        while not stop.is_set():
            await asyncio.sleep(max(0.0, deadline - loop.time()))
            start = loop.time()
            t0 = time.perf_counter()
            m = Measurement(start, tuple(3.3 + 0.001 * (i % 7) for i in range(cells)), (0.0,) * cells,
                            (25.0,) * temps, (0.0,) * temps, (0,) * temps, 10.0, 0.0, 3.3 * cells, boards)
            state = PackState(seq, start, time.time(), m, EstimateStatus(soc_pct=50.0),
                              ProtectionStatus(state=ControlState.READY),
                              CycleTiming(period_s, start - prev, time.perf_counter() - t0, 0))
            self.store.publish(state)
            for fn in self.listeners:
                fn(state)
            seq += 1
            prev = start
            deadline += period_s


class _StandInDaemon:
    """The subset of ``bmsgateway.app.Daemon`` the benchmark uses."""

    def __init__(self, config: Any, state_dir: str, adapters: bool) -> None:
        from pathlib import Path

        from bmsgateway.adapters.modbus import ModbusAdapter
        from bmsgateway.requests import RequestQueue
        from bmsgateway.settings import SettingsStore
        from bmsgateway.store import SnapshotStore

        self.store = SnapshotStore()
        requests = RequestQueue()
        settings = SettingsStore(config, Path(state_dir) / "settings.json", requests)
        self.cycle = _StandInCycle(config, self.store)
        self.adapters: list[Any] = [ModbusAdapter(config, self.store, settings, requests)] if adapters else []
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        for a in self.adapters:
            await a.start()
        self._task = asyncio.create_task(self.cycle.run(self._stop))

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
        for a in self.adapters:
            await a.stop()


def _build_daemon(config: Any, state_dir: str, adapters: bool) -> tuple[Any, str]:
    """The real daemon when ``bmsgateway.app`` imports, else the stand-in (named in the output)."""
    try:
        from bmsgateway.app import Daemon
        from bmsgateway.clock import RealClock
    except ImportError:
        return _StandInDaemon(config, state_dir, adapters), "stand-in publisher (bmsgateway.app not importable)"
    return Daemon.build(config, RealClock(), state_dir=state_dir, adapters=adapters, log_events=False), "daemon"
