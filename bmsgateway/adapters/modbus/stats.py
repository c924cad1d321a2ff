"""Counters of what the Modbus servers refused, and logging that a hostile client cannot flood.

Why counters and a limiter: a scanner or a misconfigured master can send thousands of bad frames
or locked writes a minute. Each kind of event is counted (``ModbusStats``, read by the metrics
exporter through ``ModbusAdapter.stats``) and logged by ``RateLimitedLog``: the first occurrence of
a kind is logged at once with its details, further ones only as one summary line per interval
(``modbus.log_interval_s``) with the count. Log lines never carry request payloads (no frame
dumps), only addresses, function codes and counts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

import structlog

__all__ = ["COUNTERS", "ModbusStats", "RateLimitedLog"]

log = structlog.get_logger("modbus")


@dataclass
class ModbusStats:
    """Monotonic counters since the adapter started (process isolation: mirrored from the child)."""

    requests: int = 0  #: well-formed requests answered (normal or exception reply)
    exception_replies: int = 0  #: requests answered with a Modbus exception (any code)
    writes_refused: int = 0  #: writes answered with an exception (locked, wrong PIN, range, address)
    protocol_errors: int = 0  #: framing errors: bad MBAP header, bad RTU CRC, truncated frames
    connections_accepted: int = 0
    connections_refused: int = 0  #: TCP connections closed at once because ``max_connections`` were open
    connections_timed_out: int = 0  #: TCP connections closed by the idle or partial-frame timeout
    connections_closed_on_error: int = 0  #: TCP connections closed after a framing error
    connections_open: int = 0  #: gauge: TCP connections open now

    def as_dict(self) -> dict[str, int]:
        return {f.name: int(getattr(self, f.name)) for f in fields(self)}

    def update(self, values: Mapping[str, int]) -> None:
        for name, value in values.items():
            if name in COUNTERS:
                setattr(self, name, int(value))


#: counter names, in declaration order (the exporter's metric names derive from these)
COUNTERS: tuple[str, ...] = tuple(f.name for f in fields(ModbusStats))


class RateLimitedLog:
    """First occurrence of each event kind logged at once, then one summary per interval."""

    def __init__(self, interval_s: float, now: Callable[[], float] = time.monotonic) -> None:
        self._interval_s = interval_s
        self._now = now
        self._window_start: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def __call__(self, event: str, level: str = "warning", **details: Any) -> None:
        t = self._now()
        start = self._window_start.get(event)
        if start is None:
            self._window_start[event] = t
            self._suppressed[event] = 0
            getattr(log, level)(event, **details)
            return
        self._suppressed[event] += 1
        if t - start >= self._interval_s:
            self.flush(event)

    def flush(self, event: str | None = None) -> None:
        """Log the summary of ``event`` (or every kind whose interval is over) and open a new window."""
        t = self._now()
        kinds = [event] if event is not None else [
            k for k, s in self._window_start.items() if t - s >= self._interval_s
        ]
        for kind in kinds:
            n = self._suppressed.pop(kind, 0)
            self._window_start.pop(kind, None)
            if n:
                log.warning(f"{kind}_repeated", count=n, interval_s=self._interval_s)
                # the next occurrence starts a fresh window with a detailed line again, but only
                # after a summary, so the log shows at most 2 lines per kind and interval
                self._window_start[kind] = t
                self._suppressed[kind] = 0
