"""Modbus TCP/RTU gateway: one register table (bmsgateway map + SunSpec), guarded writes."""

from bmsgateway.adapters.modbus.server import ModbusAdapter, RegisterImage, build_registers

__all__ = ["ModbusAdapter", "RegisterImage", "build_registers"]
