"""Estimation (SOC, SOH, resistance, counters) and persistence settings."""

from __future__ import annotations

from pydantic import Field

from bmsgateway.config.base import Section

__all__ = ["EstimationConfig", "PersistenceConfig"]


class EstimationConfig(Section):
    """SOC filter tuning and counters."""

    initial_soc_pct: float = Field(50.0, ge=0.0, le=100.0, description="used when no state is saved")


class PersistenceConfig(Section):
    """Crash-safe state file."""

    save_interval_s: float = Field(10.0, ge=1.0, le=3600.0, description="at most one write per interval")
