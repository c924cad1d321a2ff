"""Smooth limits for the inverter: down at once, up only after a hold, then ramped.

Why: the most reported dbus-serialbattery problem is a charge current limit that toggles when a
cell hovers at a derating threshold: the inverter's charger then pumps, the cell crosses back and
forth, and the limit flips every second. Here a limit may always fall at once (safety first), but
rises only after its target has stayed above the sent value for ``hold_s`` without interruption,
and then at a bounded rate. A dithering cell therefore keeps the lower limit: the sent limit
rises at most once per hold, never faster. Enable bits follow the same rule (clear at once, set
after the hold).
"""

from __future__ import annotations

import math

__all__ = ["HeldFlag", "HeldLimit"]


class HeldLimit:
    """One limit (CVL, CCL or DCL) as sent: immediate decrease, hold-then-ramp increase."""

    __slots__ = ("_above_since", "_t", "deadband", "hold_s", "out", "rate_per_s")

    def __init__(self, hold_s: float, rate_per_s: float, deadband: float) -> None:
        self.hold_s = hold_s
        self.rate_per_s = rate_per_s
        self.deadband = deadband
        self.out = math.nan  #: NaN until the first update: then it starts at its target
        self._above_since = math.nan
        self._t = math.nan

    def update(self, target: float, t_s: float) -> float:
        dt = 0.0 if self._t != self._t else max(0.0, t_s - self._t)
        self._t = t_s
        if self.out != self.out:
            self.out = target
            return target
        if target <= self.out:
            self.out = target
            self._above_since = math.nan
            return target
        if self._above_since != self._above_since:
            if target - self.out < self.deadband:
                return self.out  # a rise within the dead band: noise, not a recovery
            self._above_since = t_s
            return self.out
        if t_s - self._above_since >= self.hold_s:
            self.out = min(target, self.out + self.rate_per_s * dt)
        return self.out

    def force(self, value: float, t_s: float) -> None:
        """Set the sent value (e.g. 0 while the snapshot is stale); a rise again needs the hold."""
        self.out = value
        self._t = t_s
        self._above_since = math.nan


class HeldFlag:
    """An enable bit: clears at once, sets only after its cause stayed away for ``hold_s``."""

    __slots__ = ("_true_since", "hold_s", "out")

    def __init__(self, hold_s: float) -> None:
        self.hold_s = hold_s
        self.out: bool | None = None
        self._true_since = math.nan

    def update(self, wanted: bool, t_s: float) -> bool:
        if self.out is None:
            self.out = wanted
            return wanted
        if not wanted:
            self.out = False
            self._true_since = math.nan
            return False
        if self.out:
            return True
        if self._true_since != self._true_since:
            self._true_since = t_s
        if t_s - self._true_since >= self.hold_s:
            self.out = True
        return self.out

    def force(self, value: bool) -> None:
        self.out = value
        self._true_since = math.nan
