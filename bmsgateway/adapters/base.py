"""The one seam between the pack cycle and every protocol adapter.

An adapter (Modbus, inverter CAN, CANopen, MQTT, HTTP/Prometheus, ...) is an object with a
``name`` and an ``async run(ports)`` that serves its protocol until it is cancelled. It owns its
own reconnect loop; if it raises anyway, the daemon's supervisor logs the crash and runs it again
after a growing back-off. Nothing an adapter does can stop or delay the pack cycle: the cycle does
not await adapters, adapters never call into it, and (on a real clock) the cycle runs on a thread
and event loop of its own, so an adapter that blocks the daemon's loop does not block the cycle.

What an adapter may touch is exactly ``AdapterPorts``:

* **snapshots**: ``latest()``, ``fresh()`` (``None`` when the latest snapshot is older than the one
  age limit ``stale_after_s``: every protocol then serves "unavailable", never the last values as
  live), and ``snapshots()``, an async iterator that wakes on each newly published snapshot (a slow
  reader simply skips snapshots; it never blocks the producer);
* **events**: ``events_since(seq)`` over the sequence-numbered event log, so a subscriber that slept
  through many cycles still gets every event in order (``Event.seq`` is the resume token);
* **the way back**: ``await propose(changes, source)`` runs the one validated settings path off the
  event loop (it writes and fsyncs a file), ``submit(request)`` queues a command for the next cycle;
* ``mark_started()``: the adapter says it is serving (the daemon reports READY to systemd once every
  adapter has started or failed).

Isolation is the adapter's choice: in the daemon's event loop (cheap, fine for I/O-bound work), in
a thread, or in a child process (see the Modbus adapter, which must not compete for the GIL with
the pack cycle's thread under 20 polling clients: Python code on any thread makes the cycle wait up
to one switch interval at a time). Ports are safe to use from any thread, except
``snapshots()``, which belongs to the daemon's event loop.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from bmsgateway.clock import Clock
from bmsgateway.config.model import Config
from bmsgateway.protection.events import EventLog
from bmsgateway.requests import Request, RequestQueue
from bmsgateway.settings import SettingsStore
from bmsgateway.state import Event, PackState
from bmsgateway.store import SnapshotStore

__all__ = ["STAT_KEYS", "Adapter", "AdapterPorts", "snapshot_age_s"]

#: The counters every protocol adapter offers (``publish_stats``), each a running total since start:
#: requests served or messages sent, protocol errors (refused, malformed, failed sends), and events
#: it could not deliver because they left the bounded log (or its own buffer) first.
STAT_KEYS = ("requests", "errors", "events_dropped")


@runtime_checkable
class Adapter(Protocol):
    """A protocol server plugged into the daemon."""

    name: str

    async def run(self, ports: AdapterPorts) -> None:
        """Serve until cancelled; call ``ports.mark_started()`` once serving."""
        ...


def snapshot_age_s(state: PackState | None, now_wall: float | None = None) -> float:
    """Age of a snapshot in wall-clock seconds (``inf`` for none).

    Wall time (``PackState.wall_time``) so that a child process or a thread with no access to the
    daemon's injected clock judges staleness the same way.
    """
    if state is None:
        return math.inf
    now = time.time() if now_wall is None else now_wall
    return max(0.0, now - state.wall_time)


@dataclass(frozen=True)
class AdapterPorts:
    """Everything an adapter may use; one instance per adapter."""

    name: str
    store: SnapshotStore
    event_log: EventLog
    settings: SettingsStore
    requests: RequestQueue
    clock: Clock
    stale_after_s: float
    #: every adapter's protocol counters, shared by all ports (the metrics exporter reads them all)
    stats: dict[str, Callable[[], Mapping[str, float]]] = field(default_factory=dict, repr=False)
    _started: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    # -- snapshots ---------------------------------------------------------------------------
    def latest(self) -> PackState | None:
        """The newest snapshot, whatever its age (for diagnostics; serve ``fresh()``)."""
        return self.store.latest

    def is_stale(self, state: PackState | None) -> bool:
        """True when ``state`` must not be served as live data."""
        if state is None:
            return True
        age = self.clock.wall_time() - state.wall_time
        return not (age <= self.stale_after_s)

    def fresh(self) -> PackState | None:
        """The newest snapshot if it is recent enough to serve as live data, else ``None``."""
        s = self.store.latest
        return None if self.is_stale(s) else s

    async def snapshots(self, after_seq: int = -1) -> AsyncIterator[PackState]:
        """Each newly published snapshot, in order of publication (skipping any missed)."""
        seq = after_seq
        while True:
            s = await self.store.wait_next(seq)
            seq = s.seq
            yield s

    # -- events ------------------------------------------------------------------------------
    def events_since(self, seq: int) -> tuple[Event, ...]:
        """Events with ``Event.seq >= seq`` still kept in the log, oldest first."""
        return self.event_log.since(seq)

    def emit_event(self, kind: str, condition: str, *, severity: str = "info", message: str = "",
                   value: float = math.nan, location: int = -1) -> Event:
        """Add an adapter's own event (a write and its source, a lost peer) to the one event log.

        It gets the next sequence number, so every subscriber (MQTT, the web page, the history)
        sees it in order with the pack's events, and it is kept in the state file like them.
        """
        ev = Event(time_s=self.clock.now(), kind=kind, condition=condition, severity=severity,
                   value=value, location=location, message=message)
        return self.event_log.append(ev)

    @property
    def next_event_seq(self) -> int:
        """The sequence number the next event will get (resume point for a new subscriber)."""
        return self.event_log.total

    # -- the way back ----------------------------------------------------------------------------
    @property
    def config(self) -> Config:
        """The running, validated configuration (changes as settings are accepted)."""
        return self.settings.config

    async def propose(self, changes: Mapping[str, Any], source: str) -> list[str]:
        """Validate, persist and apply a settings change; returns the problems (empty = accepted).

        The file write and fsync run in a worker thread, never on the event loop.
        """
        return await asyncio.to_thread(self.settings.propose, dict(changes), source)

    def propose_blocking(self, changes: Mapping[str, Any], source: str) -> list[str]:
        """``propose`` for adapters that run in their own thread."""
        return self.settings.propose(dict(changes), source)

    def submit(self, request: Request) -> None:
        """Queue a command for the pack cycle (applied between two measurements)."""
        self.requests.submit(request)

    # -- counters --------------------------------------------------------------------------------
    def publish_stats(self, read: Callable[[], Mapping[str, float]]) -> None:
        """Offer this adapter's counters (``STAT_KEYS``) to the metrics exporter; read at scrape time."""
        self.stats[self.name] = read

    # -- lifecycle ---------------------------------------------------------------------------------
    def mark_started(self) -> None:
        """The adapter is serving (its ports are bound, its connection is up or being retried)."""
        self._started.set()

    async def wait_started(self) -> None:
        await self._started.wait()

    @property
    def started(self) -> bool:
        return self._started.is_set()
