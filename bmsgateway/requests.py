"""Requests from adapters back to the pack cycle: the one way in.

Why a queue: adapters never reach into the loop. They submit a request; the cycle drains the
queue at the start of its next iteration and applies each request between two measurements, so a
command never lands half-way through a protection decision. Config changes are validated before
they are queued (see ``bmsgateway.settings``), so what reaches the loop is always a valid Config.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

from bmsgateway.config.model import Config

__all__ = [
    "ApplyConfig",
    "CalibrateCurrentZero",
    "Request",
    "RequestQueue",
    "ResetCounters",
    "ResetFaults",
]


@dataclass(frozen=True, slots=True)
class ResetFaults:
    """Clear latched faults whose condition is no longer present."""

    source: str = "unknown"


@dataclass(frozen=True, slots=True)
class ResetCounters:
    """Reset the resettable counters (charge/energy in/out, today's energy)."""

    source: str = "unknown"


@dataclass(frozen=True, slots=True)
class CalibrateCurrentZero:
    """Take the present current reading as the zero offset (no current must flow)."""

    source: str = "unknown"


@dataclass(frozen=True, slots=True)
class ApplyConfig:
    """Switch to a new, already validated Config."""

    config: Config
    source: str = "unknown"


Request = ResetFaults | ResetCounters | CalibrateCurrentZero | ApplyConfig


class RequestQueue:
    """Bounded, thread-safe FIFO of requests (adapters may run in other threads)."""

    def __init__(self, maxlen: int = 256) -> None:
        self._items: deque[Request] = deque(maxlen=maxlen)
        self._lock = threading.Lock()

    def submit(self, request: Request) -> None:
        with self._lock:
            self._items.append(request)

    def drain(self) -> list[Request]:
        with self._lock:
            items = list(self._items)
            self._items.clear()
        return items
