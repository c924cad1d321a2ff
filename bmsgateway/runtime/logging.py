"""structlog set up once at start: JSON lines for journald/pipes, readable lines on a terminal.

Why a queue and a writer thread: a log line written straight to stdout blocks the writer when
the reader stops reading (a stuck ``journalctl``, a paused ``| less``, a full pipe). Written from
the pack cycle, that stopped the cycle after about 3 s: no watchdog pings, SIGTERM never handled,
contactors left as they were. Now the cycle (and every other caller) only renders the line and
puts it into a bounded queue without waiting; one daemon thread writes the queue out. When the
queue is full the record is dropped and counted, and the writer reports the count in one line
(``log_records_dropped``) as soon as it can write again.

The writer writes with ``os.write`` on the stream's file descriptor, not through the stream
object: a thread blocked on a full pipe then holds no Python lock, so the interpreter can still
exit (a buffered ``sys.stdout`` held by a blocked daemon thread aborts the interpreter at exit).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import queue
import sys
import threading
import time
from typing import Any, TextIO

import structlog

__all__ = ["QUEUE_RECORDS", "configure_logging", "dropped_log_records", "flush_logging"]

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}

#: log records that may wait for the writer; beyond this they are dropped (and counted)
QUEUE_RECORDS = 2000


class _Writer:
    """One thread writing rendered lines from a bounded queue to one stream."""

    def __init__(self, stream: TextIO, use_json: bool, maxsize: int) -> None:
        self._stream = stream
        self._json = use_json
        self._q: queue.Queue[str | None] = queue.Queue(maxsize)
        self._lock = threading.Lock()
        self.dropped = 0  #: records dropped since start
        self._unreported = 0
        try:
            self._fd: int | None = stream.fileno()
        except (AttributeError, OSError, ValueError):
            self._fd = None  # StringIO and friends: write through the object
        self._thread = threading.Thread(target=self._run, name="log-writer", daemon=True)
        self._thread.start()

    def put(self, line: str) -> None:
        """Never waits: a full queue drops the record and counts it."""
        try:
            self._q.put_nowait(line)
        except queue.Full:
            with self._lock:
                self.dropped += 1
                self._unreported += 1

    def stop(self) -> None:
        with contextlib.suppress(queue.Full):  # a stuck writer: the daemon thread is abandoned
            self._q.put_nowait(None)

    def flush(self, timeout_s: float) -> bool:
        """Wait (at most ``timeout_s``) until every queued record was written."""
        end = time.monotonic() + timeout_s
        with self._q.all_tasks_done:
            while self._q.unfinished_tasks:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._q.all_tasks_done.wait(left)
        return True

    def _dropped_line(self, n: int) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if self._json:
            return json.dumps({"count": n, "event": "log_records_dropped", "level": "warning", "timestamp": ts})
        return f"{ts} [warning  ] log_records_dropped            count={n}"

    def _run(self) -> None:
        while True:
            line = self._q.get()
            try:
                if line is None:
                    return
                with self._lock:
                    n, self._unreported = self._unreported, 0
                if n:
                    self._write(self._dropped_line(n) + "\n")
                self._write(line + "\n")
            finally:
                self._q.task_done()

    def _write(self, text: str) -> None:
        try:
            if self._fd is None:
                self._stream.write(text)
                self._stream.flush()
                return
            data = text.encode("utf-8", "replace")
            while data:
                data = data[os.write(self._fd, data) :]
        except (OSError, ValueError):
            with self._lock:  # a closed or broken stream: the record is lost, and counted
                self.dropped += 1


class _QueueLogger:
    """The structlog logger: hands the rendered line to the writer (all levels alike)."""

    def __init__(self, writer: _Writer) -> None:
        self._writer = writer

    def msg(self, message: str) -> None:
        self._writer.put(message)

    log = debug = info = warn = warning = err = error = critical = exception = fatal = failure = msg


_writer: _Writer | None = None


def configure_logging(
    level: str = "info", fmt: str = "auto", stream: TextIO | None = None, queue_records: int = QUEUE_RECORDS
) -> None:
    """Configure structlog; ``fmt`` is auto (console on a TTY, else JSON), json or console."""
    global _writer
    out = stream if stream is not None else sys.stdout
    use_json = fmt == "json" or (fmt == "auto" and not out.isatty())
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
    ]
    if use_json:
        processors.append(structlog.processors.JSONRenderer())
    else:
        processors.append(structlog.dev.ConsoleRenderer(colors=out.isatty(), sort_keys=False))  # V, A, SOC lead
    old, _writer = _writer, _Writer(out, use_json, queue_records)
    if old is not None:
        old.flush(0.5)
        old.stop()
    writer = _writer
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=lambda *args: _QueueLogger(writer),
        cache_logger_on_first_use=False,
    )


def flush_logging(timeout_s: float = 2.0) -> bool:
    """Wait (at most ``timeout_s``) until the queued log lines are written; False if stuck."""
    return _writer.flush(timeout_s) if _writer is not None else True


def dropped_log_records() -> int:
    """Records dropped because the log consumer did not keep up (since the logging was configured)."""
    return _writer.dropped if _writer is not None else 0


atexit.register(flush_logging, 1.0)
