"""Estimation (SOC, SOH, resistance, counters) and persistence settings.

The model values (``r0_ohm``, ``r1_ohm``, ``tau_s``) describe one cell as the same 1-RC equivalent
circuit the simulator uses; their defaults equal the simulator's defaults so a simulated pack needs
no tuning. On a real pack the series resistance is learned on line (``bmsgateway.estimation``),
so a rough value is enough.
"""

from __future__ import annotations

from pydantic import Field

from bmsgateway.config.base import Section

__all__ = ["EstimationConfig", "PersistenceConfig"]


class EstimationConfig(Section):
    """SOC filter tuning, recalibration, capacity and resistance learning."""

    initial_soc_pct: float = Field(50.0, ge=0.0, le=100.0, description="used when no state is saved")
    initial_soc_std_pct: float = Field(
        30.0, gt=0.0, le=100.0, description="how uncertain that start value is (1 sigma)"
    )
    r0_ohm: float = Field(0.0008, gt=0.0, le=1.0, description="cell series resistance (start value)")
    r1_ohm: float = Field(0.0005, ge=0.0, le=1.0, description="R of the cell's RC pair")
    tau_s: float = Field(60.0, gt=0.0, le=36000.0, description="time constant of the RC pair")
    coulomb_efficiency: float = Field(1.0, gt=0.5, le=1.0, description="charge stored per charge in")
    filter_interval_s: float = Field(
        1.0, ge=0.05, le=60.0, description="voltage correction period; coulomb counting runs every cycle"
    )
    voltage_noise_v: float = Field(0.008, gt=0.0, le=0.5, description="cell voltage + model error, 1 sigma")
    current_noise_a: float = Field(
        0.3, ge=0.0, le=100.0, description="unmodelled current error (noise, gain) driving SOC drift"
    )
    current_gain_noise_pct: float = Field(1.0, ge=0.0, le=20.0, description="current gain uncertainty")
    initial_bias_std_a: float = Field(0.5, ge=0.0, le=100.0, description="current sensor offset, 1 sigma")
    bias_limit_a: float = Field(
        2.0, gt=0.0, le=1000.0, description="largest current sensor offset the filter may learn"
    )
    bias_drift_a_per_sqrt_h: float = Field(
        0.05, ge=0.0, le=10.0, description="how fast the sensor offset may wander"
    )
    full_hold_s: float = Field(10.0, ge=0.0, le=3600.0, description="full condition held before 100 %")
    empty_hold_s: float = Field(30.0, ge=0.0, le=3600.0, description="cell below Vmin held before 0 %")
    recal_soc_std_pct: float = Field(1.0, gt=0.0, le=20.0, description="trust in a full/empty recalibration")
    calibrated_std_pct: float = Field(
        5.0, gt=0.0, le=50.0, description="SOC counts as calibrated when every cell is this sure"
    )
    capacity_anchor_std_pct: float = Field(
        1.5, gt=0.0, le=20.0, description="SOC certainty of a capacity measuring point"
    )
    capacity_anchor_slope_mv_per_pct: float = Field(
        3.0, ge=0.0, le=1000.0, description="OCV slope needed for a voltage-based measuring point"
    )
    capacity_min_delta_soc_pct: float = Field(
        40.0, ge=10.0, le=100.0, description="SOC swing between two measuring points"
    )
    capacity_learn_rate: float = Field(0.3, gt=0.0, le=1.0, description="weight of a new capacity sample")
    resistance_step_a: float = Field(
        5.0, gt=0.0, le=1000.0, description="current step that yields a resistance sample"
    )
    resistance_forget: float = Field(
        0.995, gt=0.5, le=1.0, description="forgetting factor of the resistance least squares"
    )


class PersistenceConfig(Section):
    """Crash-safe state file."""

    save_interval_s: float = Field(10.0, ge=1.0, le=3600.0, description="at most one write per interval")
