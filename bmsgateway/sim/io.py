"""Simulated outputs: contactors that take time to move (and can fail), relays, and the DC link.

Why model the contacts apart from the commands: the protection layer checks feedback contacts and
must notice a welded contactor (commanded open, still closed) or one that never closes. A
contactor moves ``contactor_close_time_s`` after its command; a command reversed before it moved
cancels the move. Relays (allow_charge, allow_discharge) and heater/cooler switch at once and have
no feedback contact.

The DC link (inverter input capacitor) charges through the precharge resistor while only the
precharge contactor is closed, sits at the pack voltage while a power contactor is closed and
otherwise bleeds down slowly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bmsgateway.hal.interfaces import OUTPUT_NAMES

__all__ = ["CONTACTOR_NAMES", "Contactor", "DcLink", "OutputBank"]

#: Outputs with a moving contact and an auxiliary feedback contact.
CONTACTOR_NAMES: tuple[str, ...] = ("precharge", "charge", "discharge", "main")


@dataclass(slots=True)
class Contactor:
    """One contactor: the last command, the real contact, a pending move and fault flags."""

    name: str
    commanded: bool = False
    closed: bool = False
    pending_at_s: float | None = None
    welded: bool = False
    no_close: bool = False

    def _target_reachable(self, target: bool) -> bool:
        if target and self.no_close:
            return False
        return target or not self.welded

    def command(self, on: bool, now_s: float, delay_s: float) -> None:
        """Drive the coil; the contact follows after ``delay_s`` (if it can)."""
        self.commanded = on
        if on == self.closed:
            self.pending_at_s = None
        elif self.pending_at_s is None:
            self.pending_at_s = now_s + delay_s
            self.settle(now_s)

    def settle(self, now_s: float) -> None:
        """Apply a pending move that is due by ``now_s``."""
        if self.pending_at_s is not None and self.pending_at_s <= now_s:
            self.pending_at_s = None
            if self._target_reachable(self.commanded):
                self.closed = self.commanded


class OutputBank:
    """All outputs of ``OUTPUT_NAMES``: contactors with delays and faults, relays immediate."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.contactors: dict[str, Contactor] = {n: Contactor(n) for n in CONTACTOR_NAMES}
        self.relays: dict[str, bool] = {n: False for n in OUTPUT_NAMES if n not in CONTACTOR_NAMES}
        #: Earliest pending contact move, if any.
        self.next_event_s: float | None = None

    def command(self, name: str, on: bool, now_s: float) -> None:
        """Command one output; unknown names are ignored (as on hardware with unwired outputs)."""
        if name in self.contactors:
            contactor = self.contactors[name]
            before = contactor.pending_at_s
            contactor.command(on, now_s, self.delay_s)
            if contactor.pending_at_s != before:
                self._update_next_event()
        elif name in self.relays:
            self.relays[name] = on

    def commanded(self, name: str) -> bool:
        if name in self.contactors:
            return self.contactors[name].commanded
        return self.relays.get(name, False)

    def is_closed(self, name: str) -> bool:
        """Physical state: contact closed (contactor) or relay on."""
        if name in self.contactors:
            return self.contactors[name].closed
        return self.relays.get(name, False)

    def _update_next_event(self) -> None:
        times = [c.pending_at_s for c in self.contactors.values() if c.pending_at_s is not None]
        self.next_event_s = min(times) if times else None

    def settle(self, now_s: float) -> None:
        """Apply the contact moves due by ``now_s``."""
        for c in self.contactors.values():
            if c.pending_at_s is not None:
                c.settle(now_s)
        self._update_next_event()

    def charge_path(self) -> bool:
        """Chargers can push current in: charge (or main) contact closed and allow_charge on."""
        c = self.contactors
        return (c["charge"].closed or c["main"].closed) and self.relays["allow_charge"]

    def discharge_path(self) -> bool:
        """Loads can draw current: discharge (or main) contact closed and allow_discharge on."""
        c = self.contactors
        return (c["discharge"].closed or c["main"].closed) and self.relays["allow_discharge"]

    def power_contact_closed(self) -> bool:
        c = self.contactors
        return c["charge"].closed or c["discharge"].closed or c["main"].closed


class DcLink:
    """The inverter's DC-link capacitor voltage."""

    def __init__(self, capacitance_f: float, precharge_ohm: float, decay_tau_s: float) -> None:
        self.voltage_v = 0.0
        self._precharge_tau_s = capacitance_f * precharge_ohm
        self._decay_tau_s = decay_tau_s

    def step(self, dt_s: float, pack_v: float, power_closed: bool, precharge_closed: bool) -> None:
        if power_closed:
            self.voltage_v = pack_v
        elif precharge_closed:
            self.voltage_v = pack_v + (self.voltage_v - pack_v) * math.exp(-dt_s / self._precharge_tau_s)
        else:
            self.voltage_v *= math.exp(-dt_s / self._decay_tau_s)
