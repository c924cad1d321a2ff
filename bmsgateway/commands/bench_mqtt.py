"""The MQTT part of ``bmsgateway bench telemetry``: publish rate and pack-loop jitter vs the broker.

Starts its own mosquitto on a free loopback port (``mosquitto`` must be installed) and the simulated
daemon on the real clock (100 ms cycle) with the MQTT adapter, then runs, each for ``seconds``:

0. **baseline** -- the daemon without MQTT: the jitter the machine itself gives;
1. **publishing_uncapped** -- MQTT on, and the event log kept topped up so that the adapter publishes
   events (QoS 1, each acknowledged by the broker) as fast as it can, without the
   ``mqtt.max_events_per_s`` cap: the capacity, and what a message costs the daemon's CPU;
   **publishing** -- the same with the default cap (200/s): a backlog draining after an outage;
2. **broker_flooded** -- a separate process floods the broker with QoS 0 messages on other topics
   as fast as it can (the broker is busy, our connection shares it), while events flow at 20/s;
   **broker_flooded_no_mqtt** is the same flood with the adapter off: on a small machine the flood
   itself takes the CPU, and the difference between the two is what the adapter adds;
3. **broker_restart** -- events at 50/s while the broker is stopped for half the phase and started
   again: reconnect time, events buffered and delivered in order afterwards.

Jitter is the cycle's actual start-to-start period minus the configured one (p50 / p99 / max);
``daemon_cpu_pct`` is the daemon process's CPU time over the phase (100 = one core), and
``loop_thread_cpu_ms_per_period`` the CPU the pack cycle's thread used per 100 ms period (the
cycle runs on a thread of its own; the adapter's cost shows in ``daemon_cpu_pct``). Jitter on a
loaded machine is mostly the machine: compare each phase with ``baseline_no_mqtt``, and a late
cycle with the cycle thread's CPU per period well under the period says it was waiting for a core
or the GIL, not blocked by the adapter.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bmsgateway.commands.common import jitter as _jitter
from bmsgateway.commands.common import percentile as _percentile

__all__ = ["mosquitto_path", "run_mqtt_bench"]


def mosquitto_path() -> str | None:
    return shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Broker:
    def __init__(self, binary: str, workdir: Path) -> None:
        import getpass

        self.port = _free_port()
        self._binary = binary
        self._conf = workdir / "mosquitto.conf"
        self._conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                              f"user {getpass.getuser()}\n")
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._proc = subprocess.Popen([self._binary, "-c", str(self._conf)], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                return
            time.sleep(0.02)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            self._proc.wait(10)
        self._proc = None


# --- flooder (child process): raw MQTT 3.1.1 QoS 0 publishes as fast as the socket takes them -----
def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n % 128, n // 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _flood_main(port: int, seconds: float, out: Any) -> None:
    cid = b"bench-flooder"
    var = struct.pack(">H", 4) + b"MQTT" + bytes([4, 0x02]) + struct.pack(">H", 60)
    body = var + struct.pack(">H", len(cid)) + cid
    sent = 0
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"\x10" + _varint(len(body)) + body)
        sock.recv(4)  # CONNACK
        topic = b"flood/load"
        payload = b"x" * 200
        pub_body = struct.pack(">H", len(topic)) + topic + payload
        packet = b"\x30" + _varint(len(pub_body)) + pub_body
        batch = packet * 100
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            sock.sendall(batch)
            sent += 100
    out.put(sent)


# --- phases (jitter as in ``bench modbus``) ------------------------------------------------------
async def _phase(kind: str, seconds: float, broker: _Broker | None, tmp: str) -> dict[str, Any]:
    from bmsgateway.app import Daemon
    from bmsgateway.clock import RealClock
    from bmsgateway.config import parse_config
    from bmsgateway.state import Event

    mqtt_on = kind not in ("baseline", "broker_flooded_no_mqtt")
    cfg = parse_config({
        "modbus": {"tcp": {"enabled": False}},
        "logging": {"level": "warning"},
        "protection": {"event_log_size": 5000},
        # The state file save (every 10 s by default) turns the whole event log into dicts on the
        # loop: ~115 ms with 5000 events. That cost is the daemon's, not MQTT's: kept out here.
        "persistence": {"save_interval_s": 3600.0},
        "mqtt": {"enabled": mqtt_on, "port": broker.port if broker else 1883, "device_id": "bench",
                 "reconnect_initial_s": 0.2, "reconnect_max_s": 1.0, "event_buffer": 10000,
                 # the publishing phase measures capacity: no rate cap there
                 **({"max_events_per_s": 100000.0} if kind == "publishing_uncapped" else {})},
    }, "bench")
    daemon = Daemon.build(cfg, RealClock(), state_dir=Path(tmp) / kind, log_events=False)
    periods_ms: list[float] = []
    window = [float("inf"), float("-inf")]

    cpu_ms: list[float] = []
    last_cpu = [time.thread_time()]

    def listener(state: Any) -> None:
        cpu = time.thread_time()
        if window[0] <= time.monotonic() <= window[1]:
            periods_ms.append((state.timing.actual_period_s - state.timing.period_s) * 1000.0)
            cpu_ms.append((cpu - last_cpu[0]) * 1000.0)
        last_cpu[0] = cpu

    daemon.cycle.listeners.append(listener)
    log = daemon.protection.event_log
    n = 0

    def event() -> None:
        nonlocal n
        log.append(Event(time_s=time.monotonic(), kind="bench", condition="bench", severity="info", value=float(n)))
        n += 1

    await daemon.start()
    adapter: Any = next(a for a in daemon.adapters if a.name == "mqtt") if mqtt_on else None
    result: dict[str, Any] = {}
    try:
        if adapter is not None:
            deadline = time.monotonic() + 10.0
            while not adapter.stats.connected and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # warm-up
        pub0 = adapter.stats.messages_published_total if adapter else 0
        ev0 = adapter.stats.events_published_total if adapter else 0
        t0 = time.monotonic()
        cpu0 = time.process_time()
        window[:] = [t0, t0 + seconds]
        if kind == "baseline":
            await asyncio.sleep(seconds)
        elif kind.startswith("publishing"):
            while time.monotonic() < window[1]:
                # top up in small steps: the producer shares the loop with the pack cycle too
                for _ in range(min(50, max(0, 2000 - adapter.stats.events_buffered))):
                    event()
                await asyncio.sleep(0.01)
        elif kind in ("broker_flooded", "broker_flooded_no_mqtt"):
            assert broker is not None
            ctx = mp.get_context("spawn")
            q: Any = ctx.Queue()
            proc = ctx.Process(target=_flood_main, args=(broker.port, seconds, q), daemon=True)
            proc.start()
            while time.monotonic() < window[1]:
                event()  # events keep flowing at 20/s through the flooded broker
                await asyncio.sleep(0.05)
            flood = await asyncio.to_thread(q.get, True, 30.0)
            await asyncio.to_thread(proc.join, 10.0)
            result["flood_messages_per_s"] = round(flood / seconds, 0)
            if adapter is not None:
                deadline = time.monotonic() + 20.0
                while adapter.stats.events_buffered and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                result["events_left_in_buffer"] = adapter.stats.events_buffered
        elif kind == "broker_restart":
            assert broker is not None
            first = n
            half = t0 + seconds / 2
            stopped = False
            restarted_at = 0.0
            while time.monotonic() < window[1]:
                now = time.monotonic()
                if not stopped and now >= t0 + seconds / 4:
                    await asyncio.to_thread(broker.stop)
                    stopped = True
                elif stopped and not restarted_at and now >= half + seconds / 4:
                    await asyncio.to_thread(broker.start)
                    restarted_at = time.monotonic()
                event()
                await asyncio.sleep(0.02)
            deadline = time.monotonic() + 20.0
            while adapter.stats.events_buffered and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            result["broker_down_s"] = round(seconds / 2, 1)
            result["events_during_phase"] = n - first
            result["reconnects"] = adapter.stats.reconnects_total
            result["events_left_in_buffer"] = adapter.stats.events_buffered
        elapsed = time.monotonic() - t0
        result["daemon_cpu_pct"] = round(100.0 * (time.process_time() - cpu0) / elapsed, 1)
        if adapter is not None:
            s = adapter.stats
            result["messages_published_per_s"] = round((s.messages_published_total - pub0) / elapsed, 1)
            result["events_published_per_s"] = round((s.events_published_total - ev0) / elapsed, 1)
            result["events_dropped_total"] = s.events_dropped_total
    finally:
        await daemon.stop()
    result["loop_jitter"] = _jitter(periods_ms)
    # CPU the daemon's event-loop thread used per cycle period: a late cycle with little CPU in
    # its period was the machine (another process had the core), not something in the loop.
    result["loop_thread_cpu_ms_per_period"] = {"p50": round(_percentile(cpu_ms, 0.5), 2),
                                               "max": round(max(cpu_ms), 2) if cpu_ms else None}
    return result


async def run_mqtt_bench(seconds: float) -> dict[str, Any]:
    """All phases; raises RuntimeError when mosquitto is missing."""
    binary = mosquitto_path()
    if binary is None:
        raise RuntimeError("mosquitto is not installed (apt-get install mosquitto)")
    with tempfile.TemporaryDirectory(prefix="bmsgateway-bench-mqtt-") as tmp:
        broker = _Broker(binary, Path(tmp))
        out: dict[str, Any] = {"baseline_no_mqtt": await _phase("baseline", seconds, None, tmp)}
        broker.start()
        try:
            for kind in ("publishing_uncapped", "publishing", "broker_flooded_no_mqtt", "broker_flooded",
                         "broker_restart"):
                out[kind] = await _phase(kind, seconds, broker, tmp)
        finally:
            broker.stop()
    base_cpu = out["baseline_no_mqtt"]["daemon_cpu_pct"]
    pub = out["publishing_uncapped"]
    if pub.get("messages_published_per_s"):
        # what one message costs the daemon's process (CPU above the baseline, per message)
        pub["cpu_us_per_message"] = round(
            (pub["daemon_cpu_pct"] - base_cpu) / 100.0 / pub["messages_published_per_s"] * 1e6, 1)
    # the goal is for the daemon as configured: the uncapped stress phase and the control are not it
    worst = max(v["loop_jitter"]["p99_ms"] for k, v in out.items()
                if k not in ("broker_flooded_no_mqtt", "publishing_uncapped"))
    out["goal_jitter_p99_le_5ms"] = worst <= 5.0
    return out
