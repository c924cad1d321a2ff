"""The latest ``PackState``, published by the cycle, read by adapters.

Readers take ``store.latest`` (an immutable object: no lock needed, no copy) or await the next
snapshot. Publishing never waits on a reader: a slow adapter only sees fewer snapshots.
"""

from __future__ import annotations

import asyncio

from bmsgateway.state import PackState

__all__ = ["SnapshotStore"]


class SnapshotStore:
    """Single writer, many readers."""

    def __init__(self) -> None:
        self._latest: PackState | None = None
        self._event = asyncio.Event()

    @property
    def latest(self) -> PackState | None:
        return self._latest

    def publish(self, state: PackState) -> None:
        self._latest = state
        self._event.set()
        self._event = asyncio.Event()

    async def wait_next(self, after_seq: int = -1) -> PackState:
        """The first snapshot with ``seq > after_seq``."""
        while True:
            latest = self._latest
            if latest is not None and latest.seq > after_seq:
                return latest
            await self._event.wait()
