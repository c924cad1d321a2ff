"""CAN bus settings: the inverter protocol (LV family) and the CANopen node (owned by
``bmsgateway.adapters.can`` and ``bmsgateway.adapters.canopen``).

Why one bus section: the BMS has one CAN port (a Pi CAN HAT's ``can0``); the inverter frames
(0x305, 0x351-0x37F) and the CANopen objects of our node id (0x80/0x180/0x580/0x600/0x700 + id)
do not collide as long as no other CANopen node uses id 0x05 or 0x51-0x7F with RPDO2.
``virtual`` is python-can's in-process bus (tests, ``simulate``), ``udp_multicast`` lets another
process on the same host join the bus (tests in a network namespace), ``socketcan`` is a real
interface.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from bmsgateway.config.base import Section

__all__ = ["CanConfig", "CanopenConfig", "InverterCanConfig", "dialect_period_s"]

Dialect = Literal["pylontech", "sma", "victron"]

#: The frame-set period each dialect's inverters expect (protocols.md §1.4).
DIALECT_PERIOD_S: dict[str, float] = {"pylontech": 1.0, "victron": 1.0, "sma": 0.1}


def dialect_period_s(dialect: str, configured_s: float) -> float:
    """``configured_s`` when set (> 0), else the dialect's own period."""
    return configured_s if configured_s > 0 else DIALECT_PERIOD_S[dialect]


class InverterCanConfig(Section):
    """Battery limits to a hybrid inverter (Pylontech / SMA / Victron low-voltage CAN protocol)."""

    enabled: bool = True
    dialect: Dialect = Field(
        "victron",
        description="pylontech (Deye, Sunsynk, Sol-Ark, Solis, GoodWe, Sofar), sma (Sunny Island), victron (GX)",
    )
    period_s: float = Field(
        0.0, ge=0.0, le=10.0, description="frame-set period; 0 = the dialect's own (pylontech/victron 1 s, sma 0.1 s)"
    )
    keepalive_timeout_s: float = Field(
        10.0, ge=0.0, le=600.0, description="no 0x305 from the inverter for this long: event + status bit (0 = off)"
    )
    stop_charge_without_keepalive: bool = Field(
        False, description="send CCL = 0 and clear charge enable while the inverter's keep-alive is missing"
    )
    limit_hold_s: float = Field(
        60.0, ge=0.0, le=3600.0,
        description="a limit or enable bit that went down rises again only after its cause stayed away this long",
    )
    current_ramp_a_per_s: float = Field(2.0, gt=0.0, le=1000.0, description="CCL/DCL rise rate after the hold")
    voltage_ramp_v_per_s: float = Field(0.05, gt=0.0, le=100.0, description="CVL rise rate after the hold")
    soc_min_pct: float = Field(0.0, ge=0.0, lt=100.0, description="SOC window: this SOC is shown as 0 %")
    soc_max_pct: float = Field(100.0, gt=0.0, le=100.0, description="SOC window: this SOC is shown as 100 %")
    manufacturer: str = Field(
        "", max_length=8, pattern=r"^[ -~]*$",
        description="0x35E name (ASCII, <= 8); empty = PYLON for pylontech, BMSGW otherwise",
    )
    nonzero_limits: bool = Field(False, description="send 0.1 A instead of 0 A (Sofar ignores zero limits)")

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.soc_min_pct >= self.soc_max_pct:
            raise ValueError(
                f"can.inverter.soc_min_pct = {self.soc_min_pct} must be below soc_max_pct = {self.soc_max_pct}"
            )
        if self.dialect == "pylontech" and self.manufacturer and not self.manufacturer.startswith("PYLON"):
            raise ValueError(
                f"can.inverter.manufacturer = {self.manufacturer!r}: the pylontech dialect needs a name starting "
                "with 'PYLON' (Deye and others reject anything else)"
            )
        return self

    @property
    def manufacturer_name(self) -> str:
        if self.manufacturer:
            return self.manufacturer
        return "PYLON" if self.dialect == "pylontech" else "BMSGW"


class CanopenConfig(Section):
    """A CANopen node (CiA 418 battery module objects + a manufacturer area), as the BMS Mini has."""

    enabled: bool = False
    node_id: int = Field(5, ge=1, le=127)
    heartbeat_ms: int = Field(1000, ge=0, le=65535, description="heartbeat producer time (0x1017); 0 = off")
    tpdo_period_s: float = Field(1.0, ge=0.01, le=60.0, description="period of the TPDOs")
    self_start: bool = Field(False, description="go OPERATIONAL by itself (no NMT master on the bus)")


class CanConfig(Section):
    """One CAN interface shared by the inverter protocol and the CANopen node."""

    enabled: bool = False
    interface: Literal["socketcan", "virtual", "udp_multicast"] = "socketcan"
    channel: str = Field(
        "can0", min_length=1, description="can0 (socketcan), any name (virtual), a multicast group (udp_multicast)"
    )
    bitrate: Literal[125000, 250000, 500000, 1000000] = Field(
        500000, description="bit/s; inverters use 500000 (socketcan: set it with `ip link`, checked here)"
    )
    log_path: str = Field("", description="candump-format log of every frame sent and received (empty = off)")
    retry_initial_s: float = Field(1.0, gt=0.0, le=60.0, description="first retry after a bus error")
    retry_max_s: float = Field(30.0, gt=0.0, le=3600.0, description="retry interval doubles up to this")
    simulated_inverter: bool = Field(
        False, description="simulated backend: the simulator's charger/inverter joins the bus and obeys the limits"
    )
    inverter: InverterCanConfig = InverterCanConfig()
    canopen: CanopenConfig = CanopenConfig()
