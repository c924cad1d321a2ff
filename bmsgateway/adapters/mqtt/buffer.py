"""A bounded, ordered buffer of events waiting for the broker.

Why the adapter keeps its own buffer instead of re-reading the event log on reconnect: its size is
the MQTT user's choice (``mqtt.event_buffer``), and the drop is counted where it happens. The
buffer is filled from ``AdapterPorts.events_since`` whether or not the broker is reachable; a gap in
the log itself (the log dropped events before we read them) counts as dropped too.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from bmsgateway.state import Event

__all__ = ["EventBuffer"]


class EventBuffer:
    """FIFO of events, oldest dropped first when full; ``next_seq`` is the resume point."""

    def __init__(self, maxlen: int, next_seq: int) -> None:
        self._items: deque[Event] = deque()
        self.maxlen = maxlen
        self.next_seq = next_seq  #: the first sequence number not yet taken from the log
        self.dropped_total = 0

    def add(self, events: Iterable[Event]) -> int:
        """Append events read from the log (oldest first); returns how many were dropped now."""
        dropped = 0
        for ev in events:
            if ev.seq < self.next_seq:
                continue
            dropped += ev.seq - self.next_seq  # the log lost these before we read them
            self._items.append(ev)
            self.next_seq = ev.seq + 1
            if len(self._items) > self.maxlen:
                self._items.popleft()
                dropped += 1
        self.dropped_total += dropped
        return dropped

    def backfill(self, events: Iterable[Event]) -> int:
        """Put older events (oldest first) in front of what is waiting: those the log restored from
        the state file that the broker never acknowledged. Returns how many were taken; when that
        would overfill the buffer the oldest of them are left out (and counted as dropped)."""
        first = self._items[0].seq if self._items else self.next_seq
        older = [ev for ev in events if ev.seq < first]
        room = max(0, self.maxlen - len(self._items))
        if len(older) > room:
            self.dropped_total += len(older) - room
            older = older[len(older) - room:]
        self._items.extendleft(reversed(older))
        return len(older)

    def head(self, n: int) -> list[Event]:
        """The ``n`` oldest events (fewer if fewer are waiting), still kept."""
        return [self._items[i] for i in range(min(n, len(self._items)))]

    def pop(self, n: int = 1) -> None:
        """Remove the ``n`` oldest events (after the broker acknowledged them)."""
        for _ in range(n):
            self._items.popleft()

    def __len__(self) -> int:
        return len(self._items)
