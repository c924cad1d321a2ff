"""What the CAN adapters know about the bus and the inverter, shared with the CANopen node."""

from __future__ import annotations

from dataclasses import dataclass, field

from bmsgateway.adapters.can.bus import BusCounters

__all__ = ["CanStatus"]


@dataclass
class CanStatus:
    """Written by the inverter adapter (event loop), read by the CANopen node (its own thread)."""

    keepalive_ok: bool | None = None  #: None until the inverter's first 0x305 or the first timeout
    alive_frames: int = 0
    groups_sent: int = 0
    inverter_counters: BusCounters = field(default_factory=BusCounters)
    last_values: dict[str, float] = field(default_factory=dict)  #: signal values of the last set sent
