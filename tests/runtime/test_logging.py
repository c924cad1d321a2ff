"""The pack cycle never waits on its log consumer: a reader that stops reading costs log lines
(dropped and counted), never the watchdog, the cycle or the SIGTERM path."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import structlog

from bmsgateway.runtime.logging import configure_logging, dropped_log_records, flush_logging

REPO = Path(__file__).resolve().parents[2]


def _small_pipe() -> tuple[int, int]:
    r, w = os.pipe()
    fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, 4096)  # fills after a few lines instead of 64 KiB
    return r, w


def test_a_stuck_reader_drops_and_counts_records_without_blocking_the_caller() -> None:
    r, w = _small_pipe()
    stream = os.fdopen(w, "w")
    try:
        configure_logging("info", "json", stream=stream, queue_records=100)
        log = structlog.get_logger("t")
        t0 = time.monotonic()
        for i in range(5000):
            log.info("line", i=i, pad="x" * 100)
        assert time.monotonic() - t0 < 5.0  # never waited on the pipe (it holds ~30 lines)
        dropped = dropped_log_records()
        assert dropped > 4000
        # the reader comes back: the lines kept, then one line with the count of the dropped
        chunks = []
        os.set_blocking(r, False)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                chunk = os.read(r, 65536)
            except BlockingIOError:
                if flush_logging(0.05):
                    break
                continue
            chunks.append(chunk)
        while True:  # the rest after the final flush
            try:
                chunk = os.read(r, 65536)
            except BlockingIOError:
                break
            chunks.append(chunk)
        lines = [json.loads(x) for x in b"".join(chunks).decode().splitlines()]
        reports = [x for x in lines if x["event"] == "log_records_dropped"]
        assert reports and sum(x["count"] for x in reports) == dropped
        kept = [x["i"] for x in lines if x["event"] == "line"]
        assert kept == sorted(kept) and len(kept) + dropped == 5000
    finally:
        configure_logging("warning", "auto", stream=sys.stderr)
        stream.close()
        os.close(r)


def test_daemon_keeps_cycling_and_stops_on_sigterm_with_a_stuck_stdout_reader(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.toml"
    cfg.write_text((REPO / "config" / "bmsgateway.toml").read_text()
                   .replace("summary_interval_s = 10.0", "summary_interval_s = 0.5")
                   .replace("port = 5020", "port = 0"))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    sock.settimeout(1.0)
    r, w = _small_pipe()
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": "2000000"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bmsgateway", "run", "--config", str(cfg), "--state-dir", str(tmp_path / "st"),
         "--inject", "cell_ov:2@1s"],
        stdout=w, stderr=subprocess.DEVNULL, env=env,
    )
    os.close(w)  # nobody reads r: the pipe fills with the first lines and stays full
    try:
        got: list[tuple[float, str]] = []

        def recv_until(pred: object, timeout_s: float) -> None:
            end = time.monotonic() + timeout_s
            while time.monotonic() < end:
                try:
                    got.append((time.monotonic(), sock.recv(256).decode()))
                except TimeoutError:
                    continue
                if callable(pred) and pred():
                    return

        recv_until(lambda: any(m.startswith("READY=1") for _, m in got), 60)
        ready_at = next(t for t, m in got if m.startswith("READY=1"))
        recv_until(None, 10.0)  # summaries every 0.5 s and the fault events: the 4 KiB pipe is long full
        pings = [t for t, m in got if m.startswith("WATCHDOG=1") and t > ready_at + 5.0]
        # the cycle pings (rate-limited to about one a second), stuck reader or not
        assert len(pings) >= 3 and pings[-1] > ready_at + 8.0, got[-5:]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        sock.close()
        os.close(r)
    # the final save happened after the outputs opened: the shutdown events are in the state file
    events = json.loads((tmp_path / "st" / "state.json").read_text())["state"]["events"]
    opened = {e["condition"] for e in events if e["kind"] == "output" and e["message"] == "off (shutdown)"}
    assert {"discharge", "allow_discharge"} <= opened
    assert any(e["kind"] == "raised" and e["condition"] == "cell_over_voltage" for e in events)
