"""The history log: bounded rotation, a file replay reads, events kept, a full disk survived."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import IO

import pytest
import structlog
from structlog.testing import capture_logs

from bmsgateway.adapters.history import BASENAME, HistoryAdapter, export_lines, history_files
from bmsgateway.app import Daemon
from bmsgateway.clock import VirtualClock
from bmsgateway.commands.simulate import with_overrides
from bmsgateway.config import Config
from bmsgateway.requests import ResetFaults
from bmsgateway.state import PackState


def _config(tmp: Path, **extra: object) -> Config:
    changes: dict[str, object] = {
        "persistence.save_interval_s": 3600.0,
        "modbus.tcp.enabled": False,
        "history.enabled": True,
        "history.dir": str(tmp / "hist"),
        "history.interval_s": 0.1,
        "history.max_file_bytes": 16 * 1024,
        "history.files": 2,
    }
    changes.update(extra)
    return with_overrides(Config(), changes)


async def _run_cycles(d: Daemon, cycles: int, every: int = 0) -> list[PackState]:
    seen: list[PackState] = []
    d.cycle.listeners.append(seen.append)
    if every:
        d.cycle.listeners.append(lambda s: d.requests.submit(ResetFaults("test")) if s.seq % every == 1 else None)
    await d.start()
    while len(seen) < cycles:
        await asyncio.sleep(0.001)  # give the history adapter real time to keep up
    await d.stop()
    return seen


def _history(d: Daemon) -> HistoryAdapter:
    return next(a for a in d.adapters if isinstance(a, HistoryAdapter))


def test_history_rotates_at_its_size_bound_and_replays(tmp_path: Path) -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    cfg = _config(tmp_path)
    d = Daemon.build(cfg, VirtualClock(), state_dir=tmp_path / "st", log_events=False)
    seen = asyncio.run(_run_cycles(d, 600, every=40))
    hist = tmp_path / "hist"
    files = history_files(hist)
    stats = _history(d).writer.stats
    assert stats.rotations >= 2 and stats.dropped == 0
    assert [p.name for p in files] == [f"{BASENAME}.2", f"{BASENAME}.1", BASENAME]  # files = 2 kept + current
    row_bytes = max(len(line) + 1 for p in files for line in p.read_text().splitlines())
    for p in files:
        assert p.stat().st_size <= cfg.history.max_file_bytes + row_bytes
        assert p.read_text().splitlines()[0].startswith("time_s,current_a,v1,")

    # Events are comment lines, in sequence order, with nothing lost inside the kept window.
    exported = list(export_lines(hist))
    events = [line for line in exported if line.startswith("# event")]
    seqs = [int(line.split("seq=")[1].split()[0]) for line in events]
    assert len(seqs) >= 5 and seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert any("command:reset_latched" in line for line in events)

    # The exported CSV is what replay reads; rows hold what the snapshots held.
    rows = [line for line in exported[1:] if not line.startswith("#")]
    last = seen[-1]
    by_time = {round(s.wall_time, 3): s for s in seen}
    t, cur, *rest = rows[-1].split(",")
    s = by_time[float(t)]
    assert float(rest[0]) == pytest.approx(s.measurement.cell_voltages_v[0], abs=1e-4)
    assert float(cur) == pytest.approx(s.measurement.current_a, abs=1e-3)
    assert s.seq <= last.seq
    out = tmp_path / "export.csv"
    r = subprocess.run(
        [sys.executable, "-m", "bmsgateway", "history", "export", "--dir", str(hist), "--out", str(out)],
        check=False, capture_output=True, text=True, timeout=60,
    )
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-m", "bmsgateway", "replay", str(out), "--json"],
                       check=False, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary  # replay read every row of the user's own log

    # --from/--to select a window.
    mid = float(rows[len(rows) // 2].split(",")[0])
    window = [line for line in export_lines(hist, mid, mid + 1.0) if not line.startswith("#")][1:]
    assert window and all(mid <= float(line.split(",")[0]) <= mid + 1.0 for line in window)


def test_a_full_disk_is_reported_once_and_never_stops_the_cycle(tmp_path: Path) -> None:
    def full_disk(_path: Path) -> IO[str]:
        return open("/dev/full", "a", encoding="utf-8")  # every flush fails with ENOSPC

    cfg = _config(tmp_path)
    d = Daemon.build(cfg, VirtualClock(), state_dir=tmp_path / "st", log_events=False)
    hist = _history(d)
    hist.writer._open = full_disk  # the kernel's own ENOSPC
    with capture_logs() as logs:
        seen = asyncio.run(_run_cycles(d, 300))
    assert [s.seq for s in seen] == list(range(len(seen)))  # the cycle never skipped
    assert seen[-1].protection.state == "ready"
    failures = [e for e in logs if e["event"] == "history_write_failed"]
    assert len(failures) == 1 and "No space left" in failures[0]["error"]
    assert hist.writer.stats.failing and hist.writer.stats.dropped > 0


def test_history_export_command_reports_a_missing_history(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "bmsgateway", "history", "export", "--dir", str(tmp_path / "none")],
        check=False, capture_output=True, text=True, timeout=60,
    )
    assert r.returncode == 1 and "no history" in r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "bmsgateway", "history", "export", "--dir", str(tmp_path), "--from", "yesterday"],
        check=False, capture_output=True, text=True, timeout=60,
    )
    assert r.returncode == 2 and "ISO 8601" in r.stderr
