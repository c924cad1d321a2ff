"""``bmsgateway bench can --seconds 10 --json``: CAN frame rates and the pack loop's jitter.

Three measurements, the daemon on the simulated pack at its configured period (100 ms) on the
real clock, its CAN adapters on a python-can ``virtual`` bus in the same process (the worst case
for the pack loop: every frame costs the daemon's own GIL):

0. **baseline** -- the daemon alone, no CAN: the jitter the machine itself gives;
1. **can** -- the daemon with the inverter adapter (SMA dialect: 7 frames every 100 ms) and the
   CANopen node (3 TPDOs every ``--tpdo-ms``, heartbeat) running, and a CANopen master thread
   reading objects by SDO as fast as the node answers; a listener counts the frames on the bus;
2. **encode** -- what the inverter adapter alone sustains: frame sets built from a snapshot and
   sent on the bus in a tight loop (frames per second), no daemon.

Jitter = actual start-to-start period minus the configured one (p50 / p99 / max). Goal: with CAN
running, p99 <= 5 ms at a 100 ms period.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import threading
import time
from typing import Any

from bmsgateway.commands.common import jitter

__all__ = ["register_bench", "run", "run_bench"]


def register_bench(bench_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = bench_sub.add_parser("can", help="CAN frame rates (inverter + CANopen) and pack-loop jitter")
    p.add_argument("--seconds", type=float, default=10.0, help="duration of each phase (default 10)")
    p.add_argument("--tpdo-ms", type=float, default=20.0, help="CANopen TPDO period in ms (default 20)")
    p.add_argument("--sdo-per-s", type=float, default=100.0,
                   help="SDO reads per second by the master (0 = as fast as the node answers; default 100)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


_jitter = jitter  # one definition (commands/common.py)


def _config(with_can: bool, tpdo_ms: float, channel: str) -> Any:
    from bmsgateway.config import parse_config

    can: dict[str, Any] = {"enabled": with_can, "interface": "virtual", "channel": channel,
                           "inverter": {"dialect": "sma"},
                           "canopen": {"enabled": True, "tpdo_period_s": tpdo_ms / 1000.0, "self_start": True,
                                       "heartbeat_ms": 100}}
    return parse_config({"modbus": {"tcp": {"enabled": False}}, "can": can}, "bench")


async def _phase(with_can: bool, seconds: float, tpdo_ms: float, sdo_per_s: float) -> dict[str, Any]:
    import can

    from bmsgateway.app import Daemon
    from bmsgateway.clock import RealClock

    channel = f"bench-{time.monotonic_ns()}"
    cfg = _config(with_can, tpdo_ms, channel)
    periods_ms: list[float] = []
    counts: dict[str, int] = {"frames": 0, "sdo_reads": 0, "sdo_errors": 0}
    stop = threading.Event()
    threads: list[threading.Thread] = []
    with tempfile.TemporaryDirectory(prefix="bmsgw-bench-can-") as tmp:
        daemon = Daemon.build(cfg, RealClock(), state_dir=tmp, log_events=False)

        def listener(state: Any) -> None:
            if state.seq > 5:
                periods_ms.append((state.timing.actual_period_s - state.timing.period_s) * 1000.0)

        daemon.cycle.listeners.append(listener)
        await daemon.start()
        if with_can:
            bus = can.Bus(interface="virtual", channel=channel)

            def count() -> None:
                while not stop.is_set():
                    if bus.recv(timeout=0.1) is not None:
                        counts["frames"] += 1

            threads.append(threading.Thread(target=count, daemon=True))
            threads.append(threading.Thread(target=_sdo_master, args=(cfg, channel, stop, counts, sdo_per_s),
                                            daemon=True))
            await asyncio.sleep(1.0)  # the node boots
            for t in threads:
                t.start()
        t0 = time.monotonic()
        await asyncio.sleep(seconds)
        elapsed = time.monotonic() - t0
        stop.set()
        for t in threads:
            t.join(timeout=2.0)
        await daemon.stop()
        if with_can:
            bus.shutdown()
    out: dict[str, Any] = {"loop_jitter": _jitter(periods_ms)}
    if with_can:
        out["bus_frames_per_s"] = round(counts["frames"] / elapsed, 1)
        out["sdo_reads_per_s"] = round(counts["sdo_reads"] / elapsed, 1)
        out["sdo_errors"] = counts["sdo_errors"]
    return out


def _sdo_master(cfg: Any, channel: str, stop: threading.Event, counts: dict[str, int], per_s: float) -> None:
    """A CANopen master reading pack voltage, SOC and cell 1 in a loop (``per_s`` reads a second)."""
    import io

    import canopen

    from bmsgateway.adapters.canopen.eds import render_eds

    eds = io.StringIO(render_eds(cfg))
    eds.name = "bmsgateway.eds"
    net = canopen.Network()
    net.connect(interface="virtual", channel=channel)
    node = canopen.RemoteNode(cfg.can.canopen.node_id, canopen.import_od(eds, cfg.can.canopen.node_id))
    net.add_node(node)
    objs = (node.sdo[0x2011], node.sdo[0x6081], node.sdo[0x2000][1])
    k = 0
    next_t = time.monotonic()
    try:
        while not stop.is_set():
            if per_s > 0:
                next_t += 1.0 / per_s
                time.sleep(max(0.0, next_t - time.monotonic()))
            try:
                objs[k % 3].raw  # noqa: B018  # the read is the point
                counts["sdo_reads"] += 1
            except Exception:
                counts["sdo_errors"] += 1
            k += 1
    finally:
        net.disconnect()


def _encode_rate(seconds: float) -> dict[str, Any]:
    """Frame sets built and sent in a tight loop (the inverter adapter's own cost)."""
    import can

    from bmsgateway.adapters.can.bus import BusLink
    from bmsgateway.adapters.can.encoder import InverterEncoder
    from bmsgateway.config import parse_config
    from bmsgateway.state import (
        BoardHealth,
        ControlState,
        CycleTiming,
        EstimateStatus,
        Measurement,
        PackState,
        ProtectionStatus,
    )

    channel = f"bench-enc-{time.monotonic_ns()}"
    cfg = parse_config({"can": {"enabled": True, "interface": "virtual", "channel": channel,
                                "inverter": {"dialect": "victron"}}}, "bench")
    n = cfg.pack.cell_count
    cells = tuple(3.3 + 0.001 * i for i in range(n))
    m = Measurement(0.0, cells, (0.0,) * n, (25.0, 26.0, 25.5, 24.0), (0.0,) * 4, (0, 0, 1, 1), -10.0, 0.0,
                    sum(cells), (BoardHealth(0, "LTC6811", True, 0, 0, 0.0),))
    state = PackState(1, 0.0, time.time(), m, EstimateStatus(soc_pct=55.0, soh_pct=99.0),
                      ProtectionStatus(state=ControlState.READY, charge_allowed=True, discharge_allowed=True,
                                       cvl_v=55.2,
                                       ccl_a=50.0, dcl_a=100.0), CycleTiming(0.1, 0.1, 0.001, 0))
    enc = InverterEncoder(cfg)
    link = BusLink(cfg.can, "bench")
    link.ensure_open()
    sink = can.Bus(interface="virtual", channel=channel)
    frames = sets = 0
    t0 = time.perf_counter()
    end = t0 + seconds
    while time.perf_counter() < end:
        fs = enc.encode(state, float(sets))
        for can_id, data in fs.frames:
            link.send(can_id, data)
            frames += 1
        sets += 1
        if sets % 64 == 0:
            while sink.recv(timeout=0) is not None:
                pass
    elapsed = time.perf_counter() - t0
    link.close()
    sink.shutdown()
    return {"frames_per_s": round(frames / elapsed), "frame_sets_per_s": round(sets / elapsed),
            "encode_us_per_set": round(elapsed / sets * 1e6, 1)}


async def run_bench(seconds: float, tpdo_ms: float, sdo_per_s: float = 100.0) -> dict[str, Any]:
    baseline = await _phase(False, seconds, tpdo_ms, sdo_per_s)
    loaded = await _phase(True, seconds, tpdo_ms, sdo_per_s)
    encode = await asyncio.to_thread(_encode_rate, min(seconds, 5.0))
    return {
        "period_ms": 100.0,
        "seconds": seconds,
        "tpdo_period_ms": tpdo_ms,
        "sdo_reads_per_s_asked": sdo_per_s,
        "baseline_no_can": baseline,
        "with_can": loaded,
        "inverter_encode_and_send": encode,
        "goals": {"jitter_p99_le_5ms": loaded["loop_jitter"]["p99_ms"] <= 5.0},
    }


def run(args: argparse.Namespace) -> int:
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    result = asyncio.run(run_bench(args.seconds, args.tpdo_ms, args.sdo_per_s))
    if args.json:
        print(json.dumps(result))
    else:
        b, w, e = result["baseline_no_can"], result["with_can"], result["inverter_encode_and_send"]
        print(f"no CAN   : loop jitter p50 {b['loop_jitter']['p50_ms']} ms p99 {b['loop_jitter']['p99_ms']} ms "
              f"max {b['loop_jitter']['max_ms']} ms")
        print(f"with CAN : {w['bus_frames_per_s']} frames/s on the bus, {w['sdo_reads_per_s']} SDO reads/s; "
              f"loop jitter p50 {w['loop_jitter']['p50_ms']} ms p99 {w['loop_jitter']['p99_ms']} ms "
              f"max {w['loop_jitter']['max_ms']} ms")
        print(f"encoder  : {e['frames_per_s']} frames/s ({e['frame_sets_per_s']} sets/s, "
              f"{e['encode_us_per_set']} µs per set)")
    return 0
