"""The latest ``PackState``, published by the cycle, read by adapters.

Readers take ``store.latest`` (an immutable object: no lock needed, no copy) or await the next
snapshot. Publishing never waits on a reader: a slow adapter only sees fewer snapshots.

The pack cycle may publish from its own thread (the daemon runs it there on a real clock, so
that an adapter hogging the readers' event loop cannot delay it): readers' wake-ups then go to
their loop (``bind_loop``) with ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

from bmsgateway.state import PackState

__all__ = ["SnapshotStore"]


class SnapshotStore:
    """Single writer, many readers."""

    def __init__(self) -> None:
        self._latest: PackState | None = None
        self._event = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0

    @property
    def latest(self) -> PackState | None:
        return self._latest

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """The readers' event loop (call from it): a publish from another thread wakes them there."""
        self._loop = loop
        self._loop_thread = threading.get_ident()

    def publish(self, state: PackState) -> None:
        self._latest = state
        loop = self._loop
        if loop is None or threading.get_ident() == self._loop_thread:
            self._wake()
            return
        with contextlib.suppress(RuntimeError):  # the readers' loop is closed: nobody to wake
            loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait_next(self, after_seq: int = -1) -> PackState:
        """The first snapshot with ``seq > after_seq``."""
        while True:
            latest = self._latest
            if latest is not None and latest.seq > after_seq:
                return latest
            await self._event.wait()
