"""`bmsgateway run` as a user starts it: a subprocess, JSON log lines, SIGTERM -> exit 0."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _start(tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(
        (REPO / "config" / "bmsgateway.toml")
        .read_text()
        .replace("summary_interval_s = 10.0", "summary_interval_s = 0.5")
        .replace("port = 5020", "port = 0")  # a free port: tests may run beside a real daemon
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("NOTIFY_SOCKET", None)
    return subprocess.Popen(
        [sys.executable, "-m", "bmsgateway", "run", "--config", str(cfg), "--state-dir", str(tmp_path / "st"), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _read_lines_until(proc: subprocess.Popen[str], want: str, timeout_s: float) -> list[dict[str, object]]:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout_s
    lines: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        rec = json.loads(line)  # every stdout line is a JSON object when not on a terminal
        lines.append(rec)
        if rec.get("event") == want:
            return lines
    raise AssertionError(f"no {want!r} line within {timeout_s} s; got {lines}")


def test_run_logs_json_summaries_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    proc = _start(tmp_path)
    try:
        lines = _read_lines_until(proc, "summary", 30)
        started = next(r for r in lines if r["event"] == "started")
        assert started["cells"] == 16 and started["backend"] == "simulated"
        summary = lines[-1]
        assert summary["boards_ok"] == 2
        assert 40.0 < float(summary["pack_v"]) < 60.0  # 16 LFP cells
        assert summary["level"] == "info" and "timestamp" in summary
        # a second summary after the interval, not a line per cycle
        more = _read_lines_until(proc, "summary", 10)
        assert len([r for r in more if r["event"] == "summary"]) == 1
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    tail = [json.loads(x) for x in out.splitlines() if x.strip()]
    assert tail[-1]["event"] == "stopped"
    assert (tmp_path / "st" / "state.json").exists()  # final save on a clean stop


def test_run_stops_cleanly_on_sigint(tmp_path: Path) -> None:
    proc = _start(tmp_path)
    try:
        _read_lines_until(proc, "summary", 30)
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0


def test_run_keeps_protecting_when_the_modbus_port_is_taken(tmp_path: Path) -> None:
    import socket

    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(
        (REPO / "config" / "bmsgateway.toml")
        .read_text()
        .replace("summary_interval_s = 10.0", "summary_interval_s = 0.5")
        .replace("port = 5020", f"port = {port}")
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "bmsgateway", "run", "--config", str(cfg), "--state-dir", str(tmp_path / "st")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        lines = _read_lines_until(proc, "summary", 30)
        failed = [r for r in lines if r["event"] == "adapter_start_failed"]
        assert failed and failed[0]["level"] == "error"
        assert lines[-1]["boards_ok"] == 2  # the pack cycle runs regardless
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
    finally:
        blocker.close()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0


def test_run_speaks_the_systemd_notify_protocol(tmp_path: Path) -> None:
    """Under systemd (Type=notify): READY=1 at start, WATCHDOG=1 from the pack cycle, STOPPING=1."""
    import socket

    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(20.0)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "NOTIFY_SOCKET": str(sock_path), "WATCHDOG_USEC": "5000000"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bmsgateway", "run", "--config", str(REPO / "config" / "bmsgateway.toml"),
         "--state-dir", str(tmp_path / "st")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    got: list[str] = []
    try:
        while not any(m.startswith("WATCHDOG=1") for m in got):
            got.append(sock.recv(256).decode())
        assert got[0].startswith("READY=1")
        proc.send_signal(signal.SIGTERM)
        while "STOPPING=1" not in got:
            got.append(sock.recv(256).decode())
        proc.communicate(timeout=20)
    finally:
        sock.close()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0


def test_run_on_missing_hardware_says_what_is_missing(tmp_path: Path) -> None:
    cfg = tmp_path / "hw.toml"
    cfg.write_text((REPO / "config" / "bmsgateway.toml").read_text().replace(
        'backend = "simulated"', 'backend = "spidev"'))
    res = subprocess.run(
        [sys.executable, "-m", "bmsgateway", "run", "--config", str(cfg), "--state-dir", str(tmp_path / "st")],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert res.returncode == 1
    assert "bmsgateway: cannot start:" in res.stderr and "Traceback" not in res.stderr
