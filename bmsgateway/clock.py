"""Injectable clocks: every part of the loop asks one clock for the time.

Why: the simulator must run faster than real time (``--speed max`` or ``--speed 20``) with the
same acquisition, protection and estimation code that runs on hardware. Nothing in the domain
code calls ``time.monotonic()`` or ``asyncio.sleep()`` directly; it asks the clock.

* ``RealClock``     -- monotonic seconds, sleeps really sleep.
* ``ScaledClock``   -- simulated time runs ``speed`` times faster than the wall clock.
* ``VirtualClock``  -- "as fast as the CPU allows": sleeping advances simulated time at once.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "RealClock", "ScaledClock", "VirtualClock", "make_clock"]


@runtime_checkable
class Clock(Protocol):
    """What the loop needs from time: a monotonic reading and a way to wait."""

    def now(self) -> float:
        """Monotonic time in seconds (simulated time for simulated clocks)."""
        ...

    def wall_time(self) -> float:
        """Unix time in seconds matching ``now()`` (for time stamps shown to people)."""
        ...

    async def sleep(self, duration_s: float) -> None:
        """Wait ``duration_s`` seconds of this clock's time."""
        ...

    def sleep_blocking(self, duration_s: float) -> None:
        """Wait without an event loop (driver code running in a worker thread)."""
        ...


class RealClock:
    """Real time: ``time.monotonic`` and ``asyncio.sleep``."""

    def __init__(self) -> None:
        self._offset_s = time.time() - time.monotonic()

    def now(self) -> float:
        return time.monotonic()

    def wall_time(self) -> float:
        return time.monotonic() + self._offset_s

    async def sleep(self, duration_s: float) -> None:
        await asyncio.sleep(max(0.0, duration_s))

    def sleep_blocking(self, duration_s: float) -> None:
        if duration_s > 0:
            time.sleep(duration_s)


class ScaledClock:
    """Simulated time that runs ``speed`` times faster than the wall clock."""

    def __init__(self, speed: float, start_s: float = 0.0, start_wall: float | None = None) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self.speed = speed
        self._start_s = start_s
        self._mono0 = time.monotonic()
        self._wall0 = time.time() if start_wall is None else start_wall

    def now(self) -> float:
        return self._start_s + (time.monotonic() - self._mono0) * self.speed

    def wall_time(self) -> float:
        return self._wall0 + (self.now() - self._start_s)

    async def sleep(self, duration_s: float) -> None:
        await asyncio.sleep(max(0.0, duration_s) / self.speed)

    def sleep_blocking(self, duration_s: float) -> None:
        if duration_s > 0:
            time.sleep(duration_s / self.speed)


class VirtualClock:
    """Simulated time that advances only when someone sleeps: runs as fast as the CPU allows.

    ``sleep`` moves time forward at once and yields to the event loop once, so other tasks still
    get to run between cycles. Meant for one timing owner (the pack cycle); adapters that talk to
    real sockets keep real time for their own timeouts.
    """

    def __init__(self, start_s: float = 0.0, start_wall: float | None = None) -> None:
        self._now_s = start_s
        self._start_s = start_s
        self._wall0 = time.time() if start_wall is None else start_wall

    def now(self) -> float:
        return self._now_s

    def wall_time(self) -> float:
        return self._wall0 + (self._now_s - self._start_s)

    def advance(self, duration_s: float) -> None:
        """Move simulated time forward without yielding (tests and benchmarks)."""
        if duration_s > 0:
            self._now_s += duration_s

    async def sleep(self, duration_s: float) -> None:
        self.advance(duration_s)
        await asyncio.sleep(0)

    def sleep_blocking(self, duration_s: float) -> None:
        self.advance(duration_s)


def make_clock(speed: str | float | None) -> Clock:
    """Clock for a ``--speed`` option: ``None``/``1`` real time, a number scaled, ``max`` virtual."""
    if speed is None:
        return RealClock()
    if isinstance(speed, str):
        if speed.strip().lower() == "max":
            return VirtualClock()
        speed = float(speed)
    if speed == 1.0:
        return RealClock()
    return ScaledClock(speed)
