"""The simulated pack: equivalent-circuit cells, thermal model, scenario, sensor errors.

Why every value is bounded: the simulator is also the demo and the test bench; a typo such as a
capacitance of 2000 F or a negative thermal resistance must fail at start with the key named, not
produce a pack that silently does nothing. Spreads are the half-width of a uniform distribution
drawn once per cell from ``seed`` (so a run is reproducible), e.g. capacity_spread_pct = 3 gives
cells between 97 % and 103 % of ``pack.capacity_ah``.

The solar_day defaults suit the default 100 Ah pack: PV of 40 A peak fills it by early afternoon
(about 300 Ah of sun against 108 Ah of load), and the night's 84 Ah of load takes it down to
roughly 15 % by sunrise, so both relays and top balancing get exercised every simulated day.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from bmsgateway.config.base import Section

__all__ = ["SimulatorConfig"]


class SimulatorConfig(Section):
    """Parameters of the simulated battery (only used with hardware.backend = "simulated")."""

    seed: int = Field(1, ge=0, le=2**63 - 1, description="seed of every random draw (spreads, noise)")
    scenario: Literal["idle", "constant", "solar_day", "csv"] = "solar_day"
    constant_current_a: float = Field(10.0, ge=-2000.0, le=2000.0, description="for scenario constant")
    csv_path: str = Field("", description="load profile time_s,current_a for scenario csv")
    csv_repeat: bool = Field(
        True, description="scenario csv: repeat the profile after its last time (else hold the last value)"
    )
    start_hour: float = Field(
        6.0, ge=0.0, lt=24.0, description="time of day when the simulation starts (scenario solar_day)"
    )
    solar_peak_a: float = Field(40.0, ge=0.0, le=2000.0, description="PV charge current at noon")
    evening_load_a: float = Field(12.0, ge=0.0, le=2000.0, description="inverter load 18:00 to 23:00")
    base_load_a: float = Field(2.0, ge=0.0, le=2000.0, description="inverter load at all hours")
    day_length_h: float = Field(
        24.0, ge=0.1, le=24.0, description="scenario solar_day: simulated hours the profile's 24 h take (shorter = "
        "a fast day for tests and demos)",
    )
    initial_soc_pct: float = Field(50.0, ge=0.0, le=100.0)
    initial_soc_spread_pct: float = Field(1.0, ge=0.0, le=20.0, description="± SOC points per cell")
    capacity_spread_pct: float = Field(3.0, ge=0.0, le=30.0, description="± % of pack.capacity_ah")
    resistance_spread_pct: float = Field(5.0, ge=0.0, le=50.0, description="± % of R0 and R1")
    cell_resistance_ohm: float = Field(0.0008, gt=0.0, le=1.0, description="series resistance R0")
    rc_resistance_ohm: float = Field(0.0005, ge=0.0, le=1.0, description="R1 of the RC pair")
    rc_time_constant_s: float = Field(60.0, gt=0.0, le=36000.0, description="tau = R1 * C1")
    self_discharge_pct_per_month: float = Field(2.0, ge=0.0, le=50.0, description="of capacity, 30 days")
    self_discharge_spread_pct: float = Field(30.0, ge=0.0, le=100.0, description="± % of the rate")
    ambient_temperature_c: float = Field(25.0, ge=-40.0, le=80.0)
    thermal_capacity_j_per_k: float = Field(800.0, gt=0.0, le=1e7, description="per cell")
    thermal_resistance_k_per_w: float = Field(3.0, gt=0.0, le=1000.0, description="cell to ambient")
    heater_power_w: float = Field(100.0, ge=0.0, le=1e5, description="pack heater, shared by all cells")
    cooler_power_w: float = Field(100.0, ge=0.0, le=1e5, description="heat the cooler removes, all cells")
    balance_resistance_ohm: float = Field(33.0, gt=0.0, le=1000.0, description="bleed resistor per cell")
    die_self_heating_c: float = Field(3.0, ge=0.0, le=30.0, description="LTC681x die above its cells")
    die_bleed_k_per_w: float = Field(5.0, ge=0.0, le=100.0, description="die rise per W of board bleed")
    voltage_noise_v: float = Field(0.0005, ge=0.0, le=0.1, description="gaussian sigma per reading")
    temperature_noise_c: float = Field(0.1, ge=0.0, le=5.0, description="gaussian sigma per reading")
    current_offset_a: float = Field(0.0, ge=-50.0, le=50.0, description="Hall sensor zero error")
    current_gain_error_pct: float = Field(0.0, ge=-20.0, le=20.0)
    current_noise_a: float = Field(0.05, ge=0.0, le=10.0, description="gaussian sigma per reading")
    bus_capacitance_f: float = Field(0.002, gt=0.0, le=10.0, description="inverter DC-link capacitance")
    precharge_resistance_ohm: float = Field(50.0, gt=0.0, le=10000.0)
    bus_discharge_time_constant_s: float = Field(
        60.0, gt=0.0, le=86400.0, description="DC-link decay through the inverter's bleed when all are open"
    )
    unconfigured_boards: int = Field(
        0, ge=0, le=8, description="answering LTC681x boards beyond the configured chain (a wiring fault)"
    )
    contactor_close_time_s: float = Field(
        0.03, ge=0.0, le=2.0, description="delay from command to contact closing (and opening)"
    )

    @model_validator(mode="after")
    def _csv_needs_path(self) -> Self:
        if self.scenario == "csv" and not self.csv_path.strip():
            raise ValueError("simulator.scenario = 'csv' needs simulator.csv_path (a time_s,current_a file)")
        return self

