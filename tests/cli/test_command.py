"""`bmsgateway command NAME` against a running daemon: the installer's reset and calibrate buttons."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bmsgateway", *args], capture_output=True, text=True,
                          timeout=60, check=False)


def test_commands_reach_the_running_daemon(tmp_path: Path) -> None:
    port = _free_port()
    cfg = tmp_path / "cfg.toml"
    cfg.write_text((REPO / "config" / "bmsgateway.toml").read_text().replace("port = 5020", f"port = {port}"))
    daemon = subprocess.Popen(
        [sys.executable, "-m", "bmsgateway", "run", "--config", str(cfg), "--state-dir", str(tmp_path / "st")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert daemon.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if json.loads(daemon.stdout.readline()).get("event") == "modbus_tcp_listening":
                break
        res = cli("command", "reset-counters", "--config", str(cfg))
        assert res.returncode == 0 and "reset-counters: accepted" in res.stdout, res.stderr
        res = cli("command", "calibrate-current", "--config", str(cfg))
        # just started, solar-day current flowing: refused with a reason a person can act on
        assert res.returncode == 1 and "exception 03" in res.stderr
        assert "current is flowing or the cells are not at rest" in res.stderr
        res = cli("command", "calibrate-current-gain", "--config", str(cfg))
        assert res.returncode == 2 and "needs --reference-a" in res.stderr
        res = cli("command", "calibrate-current-gain", "--config", str(cfg), "--reference-a", "400")
        # the solar-day current is nowhere near 400 A (or not steady yet): refused, nothing changed
        assert res.returncode == 1 and "exception 03" in res.stderr and "reference" in res.stderr
        res = cli("command", "reset-faults", "--config", str(cfg), "--pin", "4321")
        assert res.returncode == 1 and "exception 03" in res.stderr
        daemon.send_signal(signal.SIGTERM)
        out, _ = daemon.communicate(timeout=20)
    finally:
        if daemon.poll() is None:
            daemon.kill()
    events = [json.loads(x)["event"] for x in out.splitlines() if x.strip()]
    assert "counters_reset" in events and "current_zero_calibrated" not in events
    assert "current_gain_calibrated" not in events
    assert "modbus_calibration_refused" in events
    assert "faults_reset" not in events  # the wrong PIN changed nothing


def test_command_without_a_daemon_says_so(tmp_path: Path) -> None:
    res = cli("command", "reset-faults", "--port", str(_free_port()))
    assert res.returncode == 1 and "cannot reach" in res.stderr
