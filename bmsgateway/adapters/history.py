"""The history log: rotating, size-bounded CSV files of snapshots plus every event.

Why this format: a row is exactly what ``bmsgateway replay`` reads (``time_s,current_a,v1..vN,
t1..tM``; empty = not read), and events are ``#`` comment lines replay skips, so a user's own log
replays (and, with ``--truth``, scores) without conversion. ``time_s`` is wall-clock Unix time so
that rows keep increasing across daemon restarts.

Why an adapter with a writer thread: the pack cycle never touches a disk. The adapter formats a row
at each interval from the snapshot it is woken with and every new event from the sequence-numbered
log, and hands lines to a bounded queue; a thread writes them. A full disk or a read-only
filesystem is reported once (``history_write_failed``), lines are dropped and counted while it
lasts, writing is retried every ``_RETRY_S``, and the recovery is reported with the count dropped.
"""

from __future__ import annotations

import contextlib
import math
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import structlog

from bmsgateway.adapters.base import AdapterPorts
from bmsgateway.config.history import HistoryConfig
from bmsgateway.state import Event, PackState

__all__ = ["HistoryAdapter", "HistoryStats", "HistoryWriter", "format_event", "format_row", "header_for",
           "history_files"]

log = structlog.get_logger("history")

_RETRY_S = 30.0
BASENAME = "history.csv"

Opener = Callable[[Path], IO[str]]


def header_for(cells: int, temperatures: int) -> str:
    cols = ["time_s", "current_a", *(f"v{i + 1}" for i in range(cells)), *(f"t{i + 1}" for i in range(temperatures))]
    return ",".join(cols)


def _f(x: float, nd: int) -> str:
    return "" if x != x or math.isinf(x) else f"{x:.{nd}f}"


def format_row(s: PackState) -> str:
    m = s.measurement
    parts = [f"{s.wall_time:.3f}", _f(m.current_a, 3)]
    parts += [_f(v, 4) for v in m.cell_voltages_v]
    parts += [_f(t, 2) for t in m.temperatures_c]
    return ",".join(parts)


def format_event(ev: Event, wall_time: float) -> str:
    """One event as a comment line (replay skips it; ``history export`` keeps it)."""
    loc = f"@{ev.location + 1}" if ev.location >= 0 else ""
    msg = ev.message.replace("\n", " ").replace('"', "'")
    value = f" value={ev.value:.4g}" if ev.value == ev.value else ""
    return (f"# event seq={ev.seq} time_s={wall_time:.3f} {ev.kind}:{ev.condition}{loc} "
            f"severity={ev.severity}{value} message=\"{msg}\"")


def history_files(directory: Path) -> list[Path]:
    """Oldest first: history.csv.N ... history.csv.1, history.csv."""
    rotated = sorted(
        (p for p in directory.glob(BASENAME + ".*") if p.suffix[1:].isdigit()),
        key=lambda p: int(p.suffix[1:]),
        reverse=True,
    )
    current = directory / BASENAME
    return rotated + ([current] if current.exists() else [])


@dataclass
class HistoryStats:
    rows: int = 0
    events: int = 0
    dropped: int = 0  #: lines lost to a full queue or a failing disk
    rotations: int = 0
    failing: bool = False


def _default_open(path: Path) -> IO[str]:
    return open(path, "a", encoding="utf-8")


class HistoryWriter:
    """The thread that owns the files: appends, rotates at the size bound, survives disk errors."""

    def __init__(self, directory: Path, max_file_bytes: int, files: int, *, opener: Opener = _default_open,
                 queue_size: int = 10000) -> None:
        self.directory = directory
        self.max_file_bytes = max_file_bytes
        self.files = files
        self.stats = HistoryStats()
        self._open = opener
        self._q: queue.Queue[tuple[str, str] | None] = queue.Queue(maxsize=queue_size)
        self._fh: IO[str] | None = None
        self._size = 0
        self._header = ""
        self._retry_at = 0.0
        self._thread = threading.Thread(target=self._main, name="history-writer", daemon=True)

    # -- producer side (event loop): never blocks -------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def put(self, header: str, line: str) -> None:
        try:
            self._q.put_nowait((header, line))
        except queue.Full:
            self.stats.dropped += 1

    def close(self, timeout_s: float = 5.0) -> None:
        with contextlib.suppress(queue.Full):
            self._q.put(None, timeout=timeout_s)
        self._thread.join(timeout_s)

    # -- the thread ----------------------------------------------------------------------------------
    def _main(self) -> None:
        try:
            while True:
                item = self._q.get()
                if item is None:
                    break
                batch = [item]
                with contextlib.suppress(queue.Empty):
                    while len(batch) < 500:
                        nxt = self._q.get_nowait()
                        if nxt is None:
                            self._write(batch)
                            return
                        batch.append(nxt)
                self._write(batch)
        finally:
            self._close_file()

    def _close_file(self) -> None:
        if self._fh is not None:
            with contextlib.suppress(OSError):
                self._fh.close()
            self._fh = None

    def _write(self, batch: list[tuple[str, str]]) -> None:
        if self.stats.failing and time.monotonic() < self._retry_at:
            self.stats.dropped += len(batch)
            return
        try:
            for header, line in batch:
                self._ensure_file(header)
                assert self._fh is not None
                text = line + "\n"
                self._fh.write(text)
                self._size += len(text.encode())
            assert self._fh is not None
            self._fh.flush()
        except OSError as exc:
            self.stats.dropped += len(batch)
            self._close_file()
            if not self.stats.failing:
                log.error("history_write_failed", dir=str(self.directory), error=str(exc),
                          hint="history is dropped until the disk accepts writes again; the pack cycle is unaffected")
            self.stats.failing = True
            self._retry_at = time.monotonic() + _RETRY_S
            return
        if self.stats.failing:
            log.info("history_write_recovered", dir=str(self.directory), dropped=self.stats.dropped)
            self.stats.failing = False

    def _ensure_file(self, header: str) -> None:
        if self._fh is not None and header == self._header and self._size < self.max_file_bytes:
            return
        if self._fh is not None:  # size bound reached, or the pack layout changed: rotate
            self._close_file()
            self._rotate()
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / BASENAME
        existing = path.stat().st_size if path.exists() else 0
        if existing and (existing >= self.max_file_bytes or _first_header(path) != header):
            self._rotate()
            existing = 0
        self._fh = self._open(path)
        self._size = existing
        self._header = header
        if existing == 0:
            text = header + "\n"
            self._fh.write(text)
            self._size += len(text.encode())

    def _rotate(self) -> None:
        d = self.directory
        oldest = d / f"{BASENAME}.{self.files}"
        with contextlib.suppress(FileNotFoundError):
            oldest.unlink()
        for n in range(self.files - 1, 0, -1):
            src = d / f"{BASENAME}.{n}"
            if src.exists():
                os.replace(src, d / f"{BASENAME}.{n + 1}")
        cur = d / BASENAME
        if cur.exists():
            os.replace(cur, d / f"{BASENAME}.1")
        self.stats.rotations += 1


def _first_header(path: Path) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if line.strip() and not line.startswith("#"):
                    return line.strip()
    except OSError:
        return ""
    return ""


class HistoryAdapter:
    """Writes a row every ``interval_s`` of snapshot time and every event, through the writer thread."""

    name = "history"

    def __init__(self, config: HistoryConfig, directory: Path, *, opener: Opener = _default_open) -> None:
        self.config = config
        self.directory = directory
        self.writer = HistoryWriter(directory, config.max_file_bytes, config.files, opener=opener)

    async def run(self, ports: AdapterPorts) -> None:
        w = self.writer
        w.start()
        ports.mark_started()
        next_seq = ports.next_event_seq
        next_row_s = -math.inf
        try:
            async for s in ports.snapshots():
                m = s.measurement
                header = header_for(m.cell_count, len(m.temperatures_c))
                for ev in ports.events_since(next_seq):
                    w.put(header, format_event(ev, s.wall_time))
                    w.stats.events += 1
                    next_seq = ev.seq + 1
                if s.time_s >= next_row_s:
                    next_row_s = s.time_s + self.config.interval_s
                    w.put(header, format_row(s))
                    w.stats.rows += 1
        finally:
            w.close()


# -- export ------------------------------------------------------------------------------------------
def export_lines(directory: Path, start_s: float = -math.inf, end_s: float = math.inf) -> Iterator[str]:
    """One CSV (replay format) from the rotated files, oldest first, rows within [start, end].

    Files written with another pack layout (another header) than the newest are skipped: a replay
    needs one header.
    """
    files = history_files(directory)
    if not files:
        return
    header = _first_header(files[-1])
    yield header
    width = header.count(",") + 1
    for path in files:
        if _first_header(path) != header:
            continue
        yield from _rows_in(path, start_s, end_s, width)


def _rows_in(path: Path, start_s: float, end_s: float, width: int) -> Iterable[str]:
    with open(path, encoding="utf-8") as fh:
        seen_header = False
        for raw in fh:
            line = raw.rstrip("\n")
            if not line.strip():
                continue
            if line.startswith("#"):
                t = _event_time(line)
                if start_s <= t <= end_s:
                    yield line
                continue
            if not seen_header:
                seen_header = True
                continue
            fields = line.split(",")
            try:
                t = float(fields[0])
            except ValueError:
                continue
            if len(fields) != width:
                continue  # a line cut short by a crash or a full disk
            if start_s <= t <= end_s:
                yield line


def _event_time(line: str) -> float:
    for part in line.split():
        if part.startswith("time_s="):
            with contextlib.suppress(ValueError):
                return float(part[7:])
    return math.nan
