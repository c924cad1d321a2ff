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
    voltage_noise_v: float = Field(0.008, gt=0.0, le=0.5, description="cell voltage noise at rest, 1 sigma")
    model_error_v_per_c: float = Field(
        0.15, ge=0.0, le=2.0,
        description="1 sigma the cell model may be off per C-rate of current (diffusion, wrong R)",
    )
    relaxation_tau_s: float = Field(
        300.0, gt=0.0, le=36000.0, description="how slowly the overpotential of past current fades"
    )
    ocv_error_v: float = Field(
        0.003, ge=0.0, le=0.1, description="accuracy of the OCV table (bounds what a rest can teach)"
    )
    current_noise_a: float | None = Field(
        None, ge=0.0, le=100.0,
        description="unmodelled current error driving SOC drift (default 0.003 x capacity_ah)",
    )
    current_gain_noise_pct: float = Field(1.0, ge=0.0, le=20.0, description="current gain uncertainty")
    initial_bias_std_a: float | None = Field(
        None, ge=0.0, le=100.0, description="current sensor offset, 1 sigma (default 0.01 x capacity_ah)"
    )
    bias_limit_a: float | None = Field(
        None, gt=0.0, le=1000.0,
        description="largest current sensor offset the filter may learn (default 0.02 x capacity_ah)",
    )
    bias_drift_a_per_sqrt_h: float | None = Field(
        None, ge=0.0, le=10.0,
        description="how fast the sensor offset may wander (default 0.0005 x capacity_ah per sqrt(h))",
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
    capacity_learn_rate: float = Field(
        0.3, gt=0.0, le=1.0, description="largest weight of one capacity sample once learnt (ageing)"
    )
    capacity_prior_std_pct: float = Field(
        5.0, gt=0.0, le=50.0, description="how far a new cell's capacity may be from rated, 1 sigma"
    )
    capacity_learnt_std_pct: float = Field(
        1.5, gt=0.0, le=50.0, description="a capacity counts as learnt below this 1 sigma"
    )
    resistance_step_a: float = Field(
        5.0, gt=0.0, le=1000.0, description="current step that yields a resistance sample"
    )
    resistance_forget: float = Field(
        0.995, gt=0.5, le=1.0, description="forgetting factor of the resistance least squares"
    )


class PersistenceConfig(Section):
    """Crash-safe state file."""

    save_interval_s: float = Field(10.0, ge=1.0, le=3600.0, description="at most one write per interval")
