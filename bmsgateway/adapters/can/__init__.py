"""CAN: the inverter protocol (Pylontech / SMA / Victron LV family) and the bus it runs on."""

from __future__ import annotations

from typing import Any

from bmsgateway.adapters.base import Adapter
from bmsgateway.adapters.can.inverter import InverterAdapter
from bmsgateway.adapters.can.status import CanStatus
from bmsgateway.config.model import Config

__all__ = ["CanStatus", "InverterAdapter", "build_can_adapters"]


def build_can_adapters(config: Config, simulator: Any = None) -> list[Adapter]:
    """The adapters ``[can]`` asks for; in simulation, also the inverter the simulator puts on the bus.

    ``simulator``: the ``PackSimulator`` (simulated backend) whose charger and inverter then obey
    the frames when ``can.simulated_inverter`` is set.
    """
    if not config.can.enabled:
        return []
    status = CanStatus()
    adapters: list[Adapter] = []
    if config.can.inverter.enabled:
        adapters.append(InverterAdapter(config, status))
    if config.can.canopen.enabled:
        from bmsgateway.adapters.canopen.node import CanopenAdapter

        adapters.append(CanopenAdapter(config, status))
    if config.can.simulated_inverter and simulator is not None:
        from bmsgateway.sim.inverter import SimulatedInverter

        simulator.inverter = SimulatedInverter(config)
    return adapters
