"""A latched fault survives SIGKILL and SIGTERM restarts of a real `bmsgateway run`, and the
reset command (over Modbus, `bmsgateway command reset-faults`) clears it only once it is gone."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


class Daemon:
    """`bmsgateway run` in a subprocess; its JSON stdout lines are read by a thread."""

    def __init__(self, tmp: Path, *extra: str) -> None:
        cfg = tmp / "cfg.toml"
        cfg.write_text((REPO / "config" / "bmsgateway.toml").read_text().replace("port = 5020", "port = 0")
                       .replace("summary_interval_s = 10.0", "summary_interval_s = 0.5"))
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("NOTIFY_SOCKET", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bmsgateway", "run", "--config", str(cfg), "--state-dir", str(tmp / "st"),
             *extra],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
        )
        self.lines: list[dict[str, Any]] = []
        self._q: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                self._q.put(json.loads(line))

    def wait_for(self, pred: Any, timeout_s: float = 30.0, seen: bool = False) -> dict[str, Any]:
        """The next line matching ``pred`` (with ``seen``: or one already read)."""
        if seen:
            for rec in self.lines:
                if pred(rec):
                    return rec
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                rec = self._q.get(timeout=0.2)
            except queue.Empty:
                continue
            self.lines.append(rec)
            if pred(rec):
                return rec
        raise AssertionError(f"no matching line within {timeout_s} s; got {self.lines[-20:]}")

    def port(self) -> int:
        return int(next(r for r in self.lines if r["event"] == "modbus_tcp_listening")["port"])

    def reset(self) -> None:
        res = subprocess.run([sys.executable, "-m", "bmsgateway", "command", "reset-faults", "--port",
                              str(self.port())], capture_output=True, text=True, timeout=60, check=False)
        assert res.returncode == 0, res.stderr

    def stop(self, sig: int) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=30)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


def _is(kind: str, condition: str, severity: str | None = None, text: str = "") -> Any:
    def pred(r: dict[str, Any]) -> bool:
        return (r.get("event") == "event" and r.get("kind") == kind and r.get("condition") == condition
                and (severity is None or r.get("severity") == severity) and text in r.get("message", ""))
    return pred


def _saved_latches(tmp: Path) -> list[dict[str, Any]]:
    try:
        doc = json.loads((tmp / "st" / "state.json").read_text())
    except (OSError, ValueError):
        return []
    return list(doc["state"].get("latched_faults", []))


def _charge_closed(d: Daemon) -> bool:
    return any(r.get("event") == "event" and r.get("kind") == "output" and r.get("condition") == "charge"
               and r.get("value") == 1.0 for r in d.lines)


def test_latched_fault_survives_sigkill_and_sigterm_and_reset_needs_it_gone(tmp_path: Path) -> None:
    # 1. latch an over-voltage fault, then SIGKILL (no chance to save at exit)
    d = Daemon(tmp_path, "--inject", "cell_ov:3@1s")
    try:
        d.wait_for(_is("raised", "cell_over_voltage", "fault"))
        deadline = time.monotonic() + 10
        while not _saved_latches(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.05)
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait(timeout=30)
    finally:
        d.kill()
    assert [(r["key"], r["location"]) for r in _saved_latches(tmp_path)] == [("cell_over_voltage.fault", 2)]

    # 2. restart with the cell still reading high: latched from the start; reset refuses; SIGTERM
    d = Daemon(tmp_path, "--inject", "cell_ov:3@0s")
    try:
        d.wait_for(_is("raised", "cell_over_voltage", "fault", "before the restart"))
        d.wait_for(lambda r: r.get("event") == "modbus_tcp_listening", seen=True)
        time.sleep(3.0)  # longer than the 2 s clear delay
        d.reset()
        cmd = d.wait_for(_is("command", "reset_latched"))
        assert cmd["value"] == 0 and "1 kept" in cmd["message"]
        summary = d.wait_for(lambda r: r.get("event") == "summary")
        assert "cell_over_voltage" in summary["faults"] and summary["charge"] is False
        assert not _charge_closed(d)  # never closed into the latched fault
        assert d.stop(signal.SIGTERM) == 0
    finally:
        d.kill()
    assert len(_saved_latches(tmp_path)) == 1

    # 3. restart with the cell healthy: still latched until the reset command, which now clears it
    d = Daemon(tmp_path)
    try:
        d.wait_for(_is("raised", "cell_over_voltage", "fault", "before the restart"))
        d.wait_for(lambda r: r.get("event") == "modbus_tcp_listening", seen=True)
        time.sleep(3.5)  # the latch must be seen gone for its clear delay first
        d.wait_for(lambda r: r.get("event") == "summary")
        assert not _charge_closed(d)
        d.reset()
        d.wait_for(_is("cleared", "cell_over_voltage", "fault", "reset command"))
        d.wait_for(lambda r: r.get("event") == "event" and r.get("kind") == "output"
                   and r.get("condition") == "charge" and r.get("value") == 1.0)
        assert d.stop(signal.SIGTERM) == 0
    finally:
        d.kill()
    assert _saved_latches(tmp_path) == []
