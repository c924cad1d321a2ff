"""Modbus TCP and RTU gateway settings (owned by ``bmsgateway.adapters.modbus``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from bmsgateway.config.base import Section

__all__ = [
    "BAUD_RATES", "DEFAULT_PIN", "DEFAULT_SERIAL_NUMBER", "ModbusConfig", "ModbusRtuConfig", "ModbusTcpConfig",
    "SunSpecConfig",
]

#: The factory PIN; the daemon warns at start while it is still in use.
DEFAULT_PIN = 1234
#: The factory SunSpec serial number; the daemon warns at start while it is still in use.
DEFAULT_SERIAL_NUMBER = "0000000001"
#: The standard RS-485 rates the BMS Mini offers; anything else is a typo (1000, 9601).
BAUD_RATES: tuple[int, ...] = (600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)


class ModbusTcpConfig(Section):
    """Modbus TCP server. 127.0.0.1:5020 needs no root; use 0.0.0.0:502 in production."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(5020, ge=0, le=65535, description="0 picks a free port (tests)")
    max_connections: int = Field(
        32, ge=1, le=1024, description="connections beyond this are closed at once (counted as refused)"
    )
    idle_timeout_s: float = Field(
        120.0, ge=1.0, le=86400.0, description="a connection that sends nothing for this long is closed"
    )
    frame_timeout_s: float = Field(
        0.5, ge=0.1, le=60.0,
        description="a request still incomplete this long after its first byte closes the connection "
                    "(a request fits one TCP segment: only stray bytes or a stalled sender leave one incomplete)",
    )


class ModbusRtuConfig(Section):
    """Modbus RTU on RS-485 (BMS Mini: 600 to 115200 baud, 9600 8N1 default)."""

    enabled: bool = False
    port: str = "/dev/ttyUSB0"
    baudrate: int = Field(9600, description="one of 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200")
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    retry_initial_s: float = Field(1.0, gt=0.0, le=60.0, description="first retry after a serial error")
    retry_max_s: float = Field(30.0, gt=0.0, le=3600.0, description="retry interval doubles up to this")

    @field_validator("baudrate")
    @classmethod
    def _standard_rate(cls, v: int) -> int:
        if v not in BAUD_RATES:
            raise ValueError(f"{v} is not a standard baud rate; allowed: {', '.join(map(str, BAUD_RATES))}")
        return v


class SunSpecConfig(Section):
    """The SunSpec device (models 1, 802, 803, 804, 805) served next to the bmsgateway map."""

    enabled: bool = True
    base_address: int = Field(
        40000, ge=2000, le=60000, description="0-based address of 'SunS' (40000 = register 40001)"
    )
    manufacturer: str = Field("bmsgateway", max_length=32)
    model: str = Field("bmsgateway LTC681x BMS", max_length=32)
    serial_number: str = Field(DEFAULT_SERIAL_NUMBER, max_length=32, description="set one per device")


class ModbusConfig(Section):
    """Both transports serve the same map from the latest snapshot."""

    unit_id: int = Field(1, ge=1, le=247)
    tcp: ModbusTcpConfig = ModbusTcpConfig()
    rtu: ModbusRtuConfig = ModbusRtuConfig()
    sunspec: SunSpecConfig = SunSpecConfig()
    pin: int = Field(DEFAULT_PIN, ge=0, le=9999, description="PIN that unlocks writes; change it")
    unlock_timeout_s: float = Field(300.0, ge=5.0, le=86400.0)
    log_interval_s: float = Field(
        60.0, ge=1.0, le=86400.0,
        description="refused writes and protocol errors: first logged, then one summary line per interval",
    )
