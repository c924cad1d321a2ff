"""The simulated system's charger and inverter, on the CAN bus, obeying the BMS's frames.

Why: with the open-loop scenario the only thing that stops a charge is the allow-charge relay.
A real hybrid inverter (Victron, SMA, Deye) reads 0x351 and obeys CVL, CCL and DCL (and, in the
Pylontech dialect, the 0x35C enable bits): its charger runs constant-current up to CCL and then
constant-voltage at CVL, so the current tapers as the top cell nears Vmax. This class is that
inverter for ``PackSimulator``: it joins the ``[can]`` bus with a python-can bus of its own,
decodes what the adapter sends with the same frame table, answers with its own 0x305 keep-alive
every second, and limits the scenario's charge source and load currents:

* PV feeds the loads first (as a hybrid inverter's AC/DC bus does); the battery takes the surplus,
  at most CCL and the CV current that brings the pack's terminal voltage to CVL
  (``(CVL - V(0 A)) / R``, the pack being linear in current over one step), or covers the deficit,
  at most DCL;
* a direction whose enable bit is clear (Pylontech 0x35C) or whose limit is 0 gets nothing;
* no 0x351 for ``LOST_AFTER_S``: battery lost, as Venus OS says: neither charge nor discharge.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import can
import structlog

from bmsgateway.adapters.can.bus import open_bus
from bmsgateway.adapters.can.frames import FRAMES, INVERTER_ALIVE_ID
from bmsgateway.config.model import Config

__all__ = ["LOST_AFTER_S", "SimulatedInverter"]

log = structlog.get_logger("sim.inverter")

LOST_AFTER_S = 10.0
ALIVE_PERIOD_S = 1.0
_LIMITS, _REQUEST = FRAMES[0x351], FRAMES[0x35C]


class SimulatedInverter:
    """Charger + inverter that follow the BMS's CAN limits (see the module docstring)."""

    def __init__(self, config: Config, bus: can.BusABC | None = None) -> None:
        self._bus = bus if bus is not None else open_bus(config.can)
        self.cvl_v = math.nan
        self.ccl_a = 0.0
        self.dcl_a = 0.0
        self.charge_enable: bool | None = None  #: None: no 0x35C seen (Victron/SMA: the limits decide)
        self.discharge_enable: bool | None = None
        self.last_limits_s = -math.inf
        self.frames_received = 0
        self.send_alive = True  #: tests switch the keep-alive off
        self._next_alive_s = -math.inf
        self._t_s = -math.inf

    def poll(self, t_s: float) -> None:
        """Read what the BMS sent; send our 0x305 once a second."""
        if t_s < self._t_s:
            return
        self._t_s = t_s
        bus = self._bus
        while (msg := bus.recv(timeout=0)) is not None:
            if msg.is_error_frame or msg.is_extended_id:
                continue
            if msg.arbitration_id == 0x351:
                v = _LIMITS.decode(msg.data)
                self.cvl_v = v.get("ChargeVoltageLimit", math.nan)
                self.ccl_a = max(0.0, v.get("ChargeCurrentLimit", 0.0))
                self.dcl_a = max(0.0, v.get("DischargeCurrentLimit", 0.0))
                self.last_limits_s = t_s
                self.frames_received += 1
            elif msg.arbitration_id == 0x35C:
                r = _REQUEST.decode(msg.data)
                self.charge_enable = bool(r.get("ChargeEnable", 0))
                self.discharge_enable = bool(r.get("DischargeEnable", 0))
        if self.send_alive and t_s >= self._next_alive_s:
            self._next_alive_s = t_s + ALIVE_PERIOD_S
            try:
                bus.send(can.Message(arbitration_id=INVERTER_ALIVE_ID, data=bytes(8), is_extended_id=False))
            except can.CanError as exc:
                log.warning("sim_inverter_send_failed", error=str(exc))

    def limit(self, source_a: float, load_a: float, t_s: float,
              pack_v_at: Callable[[float], float]) -> tuple[float, float]:
        """(charge current, load current) through the battery at ``t_s``.

        A hybrid inverter feeds its loads from PV first: the battery takes the surplus (up to CCL
        and the CV current) or covers the deficit (up to DCL).
        """
        self.poll(t_s)
        if t_s - self.last_limits_s > LOST_AFTER_S:
            return 0.0, 0.0
        surplus = source_a - load_a
        if surplus >= 0:
            if self.ccl_a <= 0 or self.charge_enable is False or self.cvl_v != self.cvl_v:
                return 0.0, 0.0
            charge = min(surplus, self.ccl_a)
            v0 = pack_v_at(0.0)
            r = pack_v_at(1.0) - v0
            if r > 0:
                charge = min(charge, max(0.0, (self.cvl_v - v0) / r))
            return charge, 0.0
        if self.dcl_a <= 0 or self.discharge_enable is False:
            return 0.0, 0.0
        return 0.0, min(-surplus, self.dcl_a)

    def close(self) -> None:
        self._bus.shutdown()
