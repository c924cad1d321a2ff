"""Protection and control settings: fault thresholds, contactors, relays, limits, balancing.

Owned by the protection layer (``bmsgateway.protection``). Cell voltage limits themselves come
from ``pack.chemistry`` (Vmin / Vbalance / Vmax) so that they are stated once.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bmsgateway.config.base import Section

__all__ = [
    "BalancingConfig",
    "ContactorConfig",
    "LimitsConfig",
    "ProtectionConfig",
    "RelayConfig",
    "ThermalConfig",
]


class RelayConfig(Section):
    """The allow-charge / allow-discharge signal relays (123\\SmartBMS algorithm)."""

    mode: Literal["normal", "critical"] = "normal"
    charge_restart_soc_pct: float = Field(90.0, ge=0.0, le=100.0)
    discharge_restart_soc_pct: float = Field(20.0, ge=0.0, le=100.0)
    tmin_c: float = Field(0.0, ge=-40.0, le=80.0)
    tmax_c: float = Field(50.0, ge=-40.0, le=100.0)


class ContactorConfig(Section):
    """Contactor set and precharge sequence."""

    layout: Literal["charge_discharge", "single_main"] = "charge_discharge"
    precharge: bool = True
    precharge_fraction: float = Field(0.9, gt=0.0, lt=1.0, description="bus/pack voltage to finish")
    precharge_timeout_s: float = Field(3.0, gt=0.0, le=60.0)
    feedback_delay_s: float = Field(0.2, ge=0.0, le=5.0, description="allowed time for feedback to follow")


class LimitsConfig(Section):
    """Inverter limits (CVL / CCL / DCL) and their derating."""

    max_charge_current_a: float = Field(50.0, ge=0.0, le=5000.0)
    max_discharge_current_a: float = Field(100.0, ge=0.0, le=5000.0)


class BalancingConfig(Section):
    """Passive balancing through the LTC681x DCC bits."""

    mode: Literal["off", "threshold", "differential"] = "differential"
    start_delta_v: float = Field(0.010, gt=0.0, le=0.5)
    stop_delta_v: float = Field(0.003, ge=0.0, le=0.5)
    max_board_temperature_c: float = Field(55.0, ge=0.0, le=100.0)
    max_cells_per_chip: int = Field(6, ge=1, le=18)


class ThermalConfig(Section):
    """Heater and cooler outputs with hysteresis (BMS Mini)."""

    heater_on_c: float = Field(2.0, ge=-40.0, le=40.0)
    heater_off_c: float = Field(6.0, ge=-40.0, le=50.0)
    cooler_on_c: float = Field(40.0, ge=0.0, le=90.0)
    cooler_off_c: float = Field(35.0, ge=0.0, le=90.0)


class ProtectionConfig(Section):
    """Fault thresholds and delays not derived from the chemistry."""

    relays: RelayConfig = RelayConfig()
    contactors: ContactorConfig = ContactorConfig()
    limits: LimitsConfig = LimitsConfig()
    balancing: BalancingConfig = BalancingConfig()
    thermal: ThermalConfig = ThermalConfig()
    comm_loss_cycles: int = Field(5, ge=1, le=1000, description="failed cycles before lost communication")
    max_value_age_s: float = Field(1.0, gt=0.0, le=60.0, description="older values count as lost")
