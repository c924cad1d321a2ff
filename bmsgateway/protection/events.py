"""The in-memory event log: a bounded ring buffer of ``Event`` with a running sequence number.

Why a sequence number: consumers (the state file, MQTT, the CLI) poll the log at their own pace;
``since(seq)`` hands each one exactly the events it has not seen, even after the ring wrapped
(it then simply gets what is still kept).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator

from bmsgateway.state import Event

__all__ = ["EventLog"]


class EventLog:
    """Bounded FIFO of events; the oldest are dropped first."""

    def __init__(self, maxlen: int = 1000) -> None:
        self._events: deque[Event] = deque(maxlen=maxlen)
        self._total = 0  #: events appended since start (the sequence number of the next one)

    def append(self, event: Event) -> None:
        self._events.append(event)
        self._total += 1

    @property
    def total(self) -> int:
        """Events appended since start (including those already dropped)."""
        return self._total

    def since(self, seq: int) -> tuple[Event, ...]:
        """Events with sequence number >= ``seq`` that are still kept (oldest first)."""
        first_kept = self._total - len(self._events)
        skip = max(0, seq - first_kept)
        if skip >= len(self._events):
            return ()
        return tuple(self._events)[skip:]

    def restore(self, events: Iterable[Event]) -> None:
        """Put back events saved by an earlier run (oldest first), before any new one."""
        for ev in events:
            self.append(ev)

    def resize(self, maxlen: int) -> None:
        """Keep the newest ``maxlen`` events under a new capacity."""
        if maxlen != self._events.maxlen:
            self._events = deque(self._events, maxlen=maxlen)

    def __len__(self) -> int:
        return len(self._events)

    def __iter__(self) -> Iterator[Event]:
        return iter(tuple(self._events))
