"""Drives digital outputs only on change and turns every change into an ``output`` event.

Why only on change: a GPIO write per cycle per output is wasted work on the 10 Hz path, and the
CLI prints each output change with its time -- so a change is exactly one event.
"""

from __future__ import annotations

from collections.abc import Callable

from bmsgateway.hal.interfaces import DigitalIO
from bmsgateway.state import Event

__all__ = ["OutputDriver"]


class OutputDriver:
    """Remembers the commanded state of each output; emits an Event per change."""

    def __init__(self, io: DigitalIO, emit: Callable[[Event], None]) -> None:
        self._io = io
        self._emit = emit
        self._state: dict[str, bool] = {}
        self.changed_at: dict[str, float] = {}  #: clock time of the last command per output

    def get(self, name: str) -> bool:
        return self._state.get(name, False)

    def set(self, name: str, on: bool, t: float, reason: str = "", event: bool = True) -> None:
        """``event=False``: a change not worth an event of its own (the alarm's beeps: the alarm
        reports its start and end once instead of an event per beep)."""
        if name in self._state and self._state[name] == on:
            return
        first = name not in self._state
        self._io.set_output(name, on)
        self._state[name] = on
        self.changed_at[name] = t
        if (first and not on) or not event:
            return  # start-up: writing the safe (off) state explicitly is not a change worth an event
        self._emit(Event(
            time_s=t, kind="output", condition=name, severity="info", value=1.0 if on else 0.0,
            message=("on" if on else "off") + (f" ({reason})" if reason else ""),
        ))

    def safe_state(self, t: float, reason: str) -> None:
        """Open everything through the IO's own safe-state call, then record what changed."""
        self._io.safe_state()
        for name, on in list(self._state.items()):
            if on:
                self._state[name] = False
                self.changed_at[name] = t
                self._emit(Event(time_s=t, kind="output", condition=name, severity="info", value=0.0,
                                 message=f"off ({reason})"))
