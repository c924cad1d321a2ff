"""The in-memory event log: a bounded ring buffer of ``Event`` with a running sequence number.

Why a sequence number: consumers (the state file, MQTT, the web page, the CLI) poll the log at
their own pace; ``since(seq)`` hands each one exactly the events it has not seen, even after the
ring wrapped (it then simply gets what is still kept). Every appended event carries its number in
``Event.seq``; numbers continue across restarts (``restore`` resumes after the last saved one), so
a subscriber's resume token stays meaningful. Appends come from the pack cycle, reads from adapter
threads: a lock keeps the two apart (held for a deque append or a copy, never for I/O).
"""

from __future__ import annotations

import dataclasses
import threading
from collections import deque
from collections.abc import Iterable, Iterator

from bmsgateway.state import Event

__all__ = ["EventLog"]


class EventLog:
    """Bounded FIFO of events; the oldest are dropped first."""

    def __init__(self, maxlen: int = 1000) -> None:
        self._events: deque[Event] = deque(maxlen=maxlen)
        self._total = 0  #: the sequence number of the next event
        self._lock = threading.Lock()

    def append(self, event: Event) -> Event:
        """Append ``event`` numbered with the next sequence number; returns the numbered event."""
        with self._lock:
            ev = dataclasses.replace(event, seq=self._total)
            self._events.append(ev)
            self._total += 1
        return ev

    @property
    def total(self) -> int:
        """The sequence number the next event will get (events ever appended, across restarts)."""
        return self._total

    def since(self, seq: int) -> tuple[Event, ...]:
        """Events with sequence number >= ``seq`` that are still kept (oldest first)."""
        with self._lock:
            first_kept = self._total - len(self._events)
            skip = max(0, seq - first_kept)
            if skip >= len(self._events):
                return ()
            return tuple(self._events)[skip:]

    def restore(self, events: Iterable[Event]) -> None:
        """Put back events saved by an earlier run (oldest first), before any new one.

        Saved sequence numbers are kept when they increase; numbering then resumes after the last.
        """
        with self._lock:
            for ev in events:
                seq = ev.seq if ev.seq >= self._total else self._total
                self._events.append(dataclasses.replace(ev, seq=seq))
                self._total = seq + 1

    def resize(self, maxlen: int) -> None:
        """Keep the newest ``maxlen`` events under a new capacity."""
        with self._lock:
            if maxlen != self._events.maxlen:
                self._events = deque(self._events, maxlen=maxlen)

    def __len__(self) -> int:
        return len(self._events)

    def __iter__(self) -> Iterator[Event]:
        with self._lock:
            return iter(tuple(self._events))
