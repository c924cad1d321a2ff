"""Modbus TCP and RTU gateway settings."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bmsgateway.config.base import Section

__all__ = ["ModbusConfig", "ModbusRtuConfig", "ModbusTcpConfig"]


class ModbusTcpConfig(Section):
    """Modbus TCP server. 127.0.0.1:5020 needs no root; use 0.0.0.0:502 in production."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(5020, ge=1, le=65535)


class ModbusRtuConfig(Section):
    """Modbus RTU on RS-485 (BMS Mini: 600 to 115200 baud, 9600 8N1 default)."""

    enabled: bool = False
    port: str = "/dev/ttyUSB0"
    baudrate: int = Field(9600, ge=600, le=115200)
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1


class ModbusConfig(Section):
    """Both transports serve the same map from the latest snapshot."""

    unit_id: int = Field(1, ge=1, le=247)
    tcp: ModbusTcpConfig = ModbusTcpConfig()
    rtu: ModbusRtuConfig = ModbusRtuConfig()
    pin: int = Field(1234, ge=0, le=9999, description="PIN that unlocks writes; change it")
    unlock_timeout_s: float = Field(300.0, ge=5.0, le=86400.0)
