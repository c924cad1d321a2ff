"""The simulated pack: equivalent-circuit cells, thermal model, scenario, sensor errors."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bmsgateway.config.base import Section

__all__ = ["SimulatorConfig"]


class SimulatorConfig(Section):
    """Parameters of the simulated battery (only used with hardware.backend = "simulated")."""

    seed: int = Field(1, ge=0)
    scenario: Literal["idle", "constant", "solar_day", "csv"] = "solar_day"
    constant_current_a: float = Field(10.0, ge=-2000.0, le=2000.0, description="for scenario constant")
    csv_path: str = Field("", description="load profile time_s,current_a for scenario csv")
    solar_peak_a: float = Field(40.0, ge=0.0, le=2000.0)
    evening_load_a: float = Field(25.0, ge=0.0, le=2000.0)
    base_load_a: float = Field(3.0, ge=0.0, le=2000.0)
    initial_soc_pct: float = Field(50.0, ge=0.0, le=100.0)
    initial_soc_spread_pct: float = Field(1.0, ge=0.0, le=20.0)
    capacity_spread_pct: float = Field(3.0, ge=0.0, le=30.0)
    resistance_spread_pct: float = Field(5.0, ge=0.0, le=50.0)
    cell_resistance_ohm: float = Field(0.0008, gt=0.0, le=1.0, description="series resistance R0")
    rc_resistance_ohm: float = Field(0.0005, ge=0.0, le=1.0, description="R1 of the RC pair")
    rc_time_constant_s: float = Field(60.0, gt=0.0, le=36000.0)
    self_discharge_pct_per_month: float = Field(2.0, ge=0.0, le=50.0)
    self_discharge_spread_pct: float = Field(30.0, ge=0.0, le=100.0)
    ambient_temperature_c: float = Field(25.0, ge=-40.0, le=80.0)
    thermal_capacity_j_per_k: float = Field(800.0, gt=0.0, description="per cell")
    thermal_resistance_k_per_w: float = Field(3.0, gt=0.0, description="cell to ambient")
    balance_resistance_ohm: float = Field(33.0, gt=0.0, le=1000.0)
    voltage_noise_v: float = Field(0.0005, ge=0.0, le=0.1)
    temperature_noise_c: float = Field(0.1, ge=0.0, le=5.0)
    current_offset_a: float = Field(0.0, ge=-50.0, le=50.0)
    current_gain_error_pct: float = Field(0.0, ge=-20.0, le=20.0)
    current_noise_a: float = Field(0.05, ge=0.0, le=10.0)
    bus_capacitance_f: float = Field(0.002, gt=0.0, le=10.0, description="inverter DC-link capacitance")
    precharge_resistance_ohm: float = Field(50.0, gt=0.0, le=10000.0)
    contactor_close_time_s: float = Field(0.03, ge=0.0, le=2.0)
