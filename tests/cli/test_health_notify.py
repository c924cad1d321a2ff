"""systemd notify tied to the pack cycle, and the health command's exit codes."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import structlog

from bmsgateway.app import Daemon
from bmsgateway.clock import RealClock
from bmsgateway.commands.health import check_health
from bmsgateway.commands.simulate import with_overrides
from bmsgateway.config import Config
from bmsgateway.state import Measurement

REPO = Path(__file__).resolve().parents[2]


def _drain(sock: socket.socket) -> list[str]:
    out = []
    while True:
        try:
            out.append(sock.recv(512).decode())
        except BlockingIOError:
            return out


def test_ready_waits_for_the_first_snapshot_and_no_watchdog_while_the_cycle_stalls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(50))
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    monkeypatch.setenv("WATCHDOG_USEC", "2000000")
    cfg = with_overrides(Config(), {"modbus.tcp.enabled": False, "history.enabled": False})

    async def main() -> None:
        d = Daemon.build(cfg, RealClock(), state_dir=tmp_path / "st", log_events=False)
        # a threading.Event: the cycle runs on a thread and event loop of its own
        gate = threading.Event()
        real_acquire = d.cycle.acquisition.acquire

        async def gated(balancing: tuple[bool, ...]) -> Measurement:
            while not gate.is_set():  # closed: the cycle is stalled inside acquisition
                await asyncio.sleep(0.01)
            return await real_acquire(balancing)

        d.cycle.acquisition.acquire = gated  # type: ignore[method-assign]
        task = asyncio.create_task(d.run_until_signal(signals=()))
        await asyncio.sleep(1.5)
        before = _drain(sock)
        assert not any("READY=1" in m for m in before), before  # no snapshot yet: not ready

        gate.set()
        await asyncio.sleep(2.5)
        running = _drain(sock)
        assert running[0].startswith("READY=1") and "STATUS=" in running[0]
        pings = [m for m in running if m.startswith("WATCHDOG=1")]
        assert 1 <= len(pings) <= 4  # rate-limited to about one a second, not one per cycle
        assert "SOC" in pings[-1] and "STATUS=" in pings[-1]

        gate.clear()  # the cycle stalls
        await asyncio.sleep(0.3)
        _drain(sock)
        await asyncio.sleep(2.5)
        stalled = _drain(sock)
        assert not any(m.startswith("WATCHDOG=1") for m in stalled), stalled

        gate.set()
        await asyncio.sleep(1.5)
        assert any(m.startswith("WATCHDOG=1") for m in _drain(sock))
        d.request_stop()
        assert await asyncio.wait_for(task, 20) == 0
        assert any("STOPPING=1" in m for m in _drain(sock))

    try:
        asyncio.run(main())
    finally:
        sock.close()


def _status(tmp: Path, **doc: object) -> Path:
    base: dict[str, object] = {"pid": os.getpid(), "written_at": time.time(), "snapshot_age_s": 0.2,
                               "faults": [], "line": "52.1 V, +1.0 A, SOC 50.0 %, ready"}
    base.update(doc)
    p = tmp / "status.json"
    p.write_text(json.dumps(base))
    return p


def test_health_verdicts(tmp_path: Path) -> None:
    code, line = check_health(tmp_path / "missing.json", 2.0)
    assert code == 1 and "no running daemon" in line
    code, line = check_health(_status(tmp_path), 2.0)
    assert code == 0 and line.startswith("ok:")
    code, line = check_health(_status(tmp_path, faults=["cell_ov"]), 2.0)
    assert code == 1 and "cell_ov" in line
    code, line = check_health(_status(tmp_path, written_at=time.time() - 30), 2.0)
    assert code == 1 and "stalled" in line
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    code, line = check_health(_status(tmp_path, pid=dead.pid), 2.0)
    assert code == 1 and "not running" in line


def test_health_command_against_a_running_daemon(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.toml"
    cfg.write_text((REPO / "config" / "bmsgateway.toml").read_text().replace("port = 5020", "port = 0"))
    st = tmp_path / "st"
    proc = subprocess.Popen(
        [sys.executable, "-m", "bmsgateway", "run", "--config", str(cfg), "--state-dir", str(st)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    health = [sys.executable, "-m", "bmsgateway", "health", "--config", str(cfg), "--state-dir", str(st)]
    try:
        deadline = time.monotonic() + 60
        r = subprocess.run(health, check=False, capture_output=True, text=True, timeout=60)
        while r.returncode != 0 and time.monotonic() < deadline:
            time.sleep(0.5)
            r = subprocess.run(health, check=False, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and r.stdout.startswith("ok:") and "SOC" in r.stdout
        assert len(r.stdout.strip().splitlines()) == 1
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    r = subprocess.run(health, check=False, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "no running daemon" in r.stdout
