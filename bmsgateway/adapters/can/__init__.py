"""CAN: the inverter protocol (Pylontech / SMA / Victron LV family) and the bus it runs on."""

from __future__ import annotations

from bmsgateway.adapters.base import Adapter
from bmsgateway.adapters.can.inverter import InverterAdapter
from bmsgateway.adapters.can.status import CanStatus
from bmsgateway.config.model import Config

__all__ = ["CanStatus", "InverterAdapter", "build_can_adapters"]


def build_can_adapters(config: Config) -> list[Adapter]:
    """The adapters ``[can]`` asks for (the simulated inverter is wired by the daemon, app.py)."""
    if not config.can.enabled:
        return []
    status = CanStatus()
    adapters: list[Adapter] = []
    if config.can.inverter.enabled:
        adapters.append(InverterAdapter(config, status))
    if config.can.canopen.enabled:
        from bmsgateway.adapters.canopen.node import CanopenAdapter

        adapters.append(CanopenAdapter(config, status))
    return adapters
