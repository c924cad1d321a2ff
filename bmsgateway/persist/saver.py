"""Rate-limited, crash-safe saving of the estimator state from a worker thread.

Why a thread: the pack cycle must never wait for an SD card (an fsync can take hundreds of
milliseconds). ``maybe_save`` only hands the state over; one worker thread encodes and writes it
with ``atomic_write_bytes``. At most one write is in flight: a state offered while the worker is
busy replaces any older waiting one (only the newest matters), so a slow disk cannot build a queue.

Rate: at most one write per ``interval_s`` of clock time unless ``force`` (a reset, a shutdown).
``close`` stops the worker and writes the newest state offered synchronously, so a clean shutdown
never loses the last seconds.
"""

from __future__ import annotations

import threading
from pathlib import Path

import structlog

from bmsgateway.clock import Clock
from bmsgateway.persist.atomic import atomic_write_bytes
from bmsgateway.persist.state import SavedState, encode_state

__all__ = ["StateSaver"]

_log = structlog.get_logger(__name__)


class StateSaver:
    """Hands states to a writer thread no more often than ``interval_s`` (see module docstring)."""

    def __init__(self, path: Path, interval_s: float, clock: Clock) -> None:
        self.path = Path(path)
        self.interval_s = interval_s
        self._clock = clock
        self._cond = threading.Condition()
        self._pending: SavedState | None = None  # waiting for the worker
        self._latest: SavedState | None = None  # newest state offered (for close)
        self._last_submit_s = -float("inf")
        self._closed = False
        self._busy = False
        self.writes = 0
        self.failures = 0
        self._thread = threading.Thread(target=self._run, name="state-saver", daemon=True)
        self._thread.start()

    def maybe_save(self, state: SavedState, force: bool = False) -> None:
        """Offer the current state; it is written if the interval has passed (or ``force``)."""
        now = self._clock.now()
        with self._cond:
            if self._closed:
                return
            self._latest = state
            if not force and now - self._last_submit_s < self.interval_s:
                return
            self._last_submit_s = now
            self._pending = state
            self._cond.notify()

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait (real time) until nothing is pending or being written; for tests and shutdown."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending is None and not self._busy, timeout_s)

    def close(self) -> None:
        """Stop the worker and write the newest offered state synchronously (if any)."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        self._thread.join()
        with self._cond:
            latest = self._latest
            self._pending = None
        if latest is not None:
            self._write(latest)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending is not None or self._closed)
                if self._closed:
                    return
                state, self._pending = self._pending, None
                self._busy = True
            try:
                if state is not None:
                    self._write(state)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _write(self, state: SavedState) -> None:
        try:
            atomic_write_bytes(self.path, encode_state(state))
            self.writes += 1
        except Exception as exc:  # a full or read-only disk must not stop the daemon
            self.failures += 1
            _log.error("state_save_failed", path=str(self.path), error=repr(exc))
