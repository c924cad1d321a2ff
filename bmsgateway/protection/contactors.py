"""Contactor sequencing: precharge, then the main contactor(s); feedback supervision.

Layouts (``protection.contactors.layout``):

* ``charge_discharge`` -- separate charge and discharge contactors (ENNOID-BMS, BMS Mini): a fault
  that forbids one direction opens only that direction's contactor;
* ``single_main`` -- one ``main`` contactor, closed while either direction is allowed (the signal
  relays and the current limits then tell the devices which direction).

Start-up (and after everything was open): precharge closes; once the bus voltage reaches
``precharge_fraction`` x pack voltage the wanted main contactor(s) close and precharge opens. If
that does not happen within ``precharge_timeout_s``, everything opens and the caller raises
precharge_failed (latched, so no retry until the reset command). When one main contactor is
already closed the bus is live, so another one closes directly without a new precharge.

If no bus voltage can be measured at all (no sensor and none in the Measurement), precharge is
timed: the main contactor closes after ``precharge_timeout_s`` (documented fallback for simple
installations).
"""

from __future__ import annotations

import math

from bmsgateway.config.protection import ContactorConfig
from bmsgateway.hal.interfaces import DigitalIO
from bmsgateway.protection.outputs import OutputDriver
from bmsgateway.state import ContactorState

__all__ = ["ContactorController"]


class ContactorController:
    """Commands the contactors from the allowed directions; reports feedback mismatches."""

    def __init__(self, cfg: ContactorConfig, io: DigitalIO, out: OutputDriver) -> None:
        self._io = io
        self._out = out
        self.configure(cfg)
        self.precharging = False
        self._precharge_start_s = math.nan
        self.stopped = False
        self._last_feedback: dict[str, bool | None] = {}

    def configure(self, cfg: ContactorConfig) -> None:
        self.cfg = cfg
        self.mains: tuple[str, ...] = ("charge", "discharge") if cfg.layout == "charge_discharge" else ("main",)
        self.names: tuple[str, ...] = (("precharge",) if cfg.precharge else ()) + self.mains

    @property
    def closed_mains(self) -> tuple[str, ...]:
        return tuple(m for m in self.mains if self._out.get(m))

    def path_closed(self, charge: bool) -> bool:
        """Is the power path for that direction closed?"""
        if self.cfg.layout == "single_main":
            return self._out.get("main")
        return self._out.get("charge" if charge else "discharge")

    def update(
        self, t: float, want_charge: bool, want_discharge: bool, pack_v: float, bus_v: float,
        bus_sensor: bool = False,
    ) -> bool:
        """One cycle of sequencing. Returns True when precharge failed in this cycle.

        ``bus_sensor``: a bus voltage sensor is wired, so a missing reading (NaN) is a failed
        sensor, not the timed-precharge installation: precharge then times out and fails. A NaN
        ``pack_v`` (no fresh pack voltage) likewise never completes precharge."""
        if self.stopped:
            return False
        want = {"charge": want_charge, "discharge": want_discharge, "main": want_charge or want_discharge}
        any_want = want_charge or want_discharge
        out = self._out
        if self.precharging:
            if not any_want:
                self._abort(t, "direction no longer allowed")
                return False
            blind = bus_v != bus_v and not bus_sensor
            done = (not blind) and pack_v == pack_v and bus_v >= self.cfg.precharge_fraction * pack_v
            elapsed = t - self._precharge_start_s
            if done or (blind and elapsed >= self.cfg.precharge_timeout_s):
                for m in self.mains:
                    out.set(m, want[m], t, "precharge done" if done else "timed precharge done")
                out.set("precharge", False, t, "precharge done")
                self.precharging = False
                return False
            if elapsed >= self.cfg.precharge_timeout_s:
                self._abort(t, "precharge timeout")
                return True
            return False
        if self.closed_mains:
            for m in self.mains:
                out.set(m, want[m], t, "allowed" if want[m] else "not allowed")
            return False
        if any_want:
            if self.cfg.precharge:
                out.set("precharge", True, t, "start precharge")
                self.precharging = True
                self._precharge_start_s = t
            else:
                for m in self.mains:
                    out.set(m, want[m], t, "allowed")
        return False

    def _abort(self, t: float, reason: str) -> None:
        self.precharging = False
        for name in self.names:
            self._out.set(name, False, t, reason)

    def open_all(self, t: float, reason: str) -> None:
        self._abort(t, reason)

    def shutdown(self, t: float) -> None:
        self.stopped = True
        self.precharging = False
        self._out.safe_state(t, "shutdown")

    def feedback(self, t: float) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
        """(welded, failed_to_close) as [(contactor index in ``names``, seconds since command)] for
        every contactor whose wired feedback disagrees with its command; the fault engine compares
        the seconds with feedback_delay_s."""
        welded: list[tuple[int, float]] = []
        failed: list[tuple[int, float]] = []
        fbs: dict[str, bool | None] = {}
        for i, name in enumerate(self.names):
            fb = fbs[name] = self._io.read_feedback(name)
            if fb is None:
                continue
            cmd = self._out.get(name)
            if fb == cmd:
                continue
            since = self._out.changed_at.get(name)
            if since is None:
                self._out.changed_at[name] = since = t
            (welded if fb else failed).append((i, t - since))
        self._last_feedback = fbs
        return welded, failed

    def states(self) -> tuple[ContactorState, ...]:
        return tuple(
            ContactorState(name=n, commanded=self._out.get(n), feedback=self._last_feedback.get(n))
            for n in self.names
        )
