"""LTC6811/LTC6813 battery monitor chips: PEC15, commands, register codecs, driver, emulator.

``LTC681xChain`` talks to a chain through any ``SpiTransport``: the Raspberry Pi's spidev
(``bmsgateway.hal.spidev_transport``) or the byte-level ``EmulatedChain`` used by the simulator.
"""

from __future__ import annotations

from bmsgateway.hal.ltc681x.commands import AdcMode
from bmsgateway.hal.ltc681x.driver import ChainRead, LTC681xChain, detect_open_wires
from bmsgateway.hal.ltc681x.emulator import AnalogFrontEnd, EmulatedChain, StaticAfe
from bmsgateway.hal.ltc681x.registers import ConfigRegisters, StatusFlags, StatusReading

__all__ = [
    "AdcMode",
    "AnalogFrontEnd",
    "ChainRead",
    "ConfigRegisters",
    "EmulatedChain",
    "LTC681xChain",
    "StaticAfe",
    "StatusFlags",
    "StatusReading",
    "detect_open_wires",
]
