"""Daemon-wide settings: cycle period, logging, where state lives."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bmsgateway.config.base import Section

__all__ = ["LoggingConfig", "SystemConfig"]


class SystemConfig(Section):
    """The pack cycle and its supervision."""

    cycle_period_s: float = Field(0.1, ge=0.02, le=10.0, description="acquisition/protection period")
    summary_interval_s: float = Field(10.0, ge=0.5, le=86400.0, description="summary log line interval")
    state_dir: str = Field("state", min_length=1, description="directory for persistent state")
    watchdog: bool = Field(True, description="ping the systemd watchdog from the pack cycle when run under systemd")
    stale_after_s: float = Field(
        2.0, ge=0.1, le=60.0,
        description="a snapshot older than this is served by every adapter as unavailable, never as live",
    )
    adapter_restart_max_s: float = Field(
        60.0, ge=1.0, le=3600.0, description="longest back-off before a crashed adapter is started again",
    )


class LoggingConfig(Section):
    """structlog output."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = Field(
        "auto", description="auto: console lines on a terminal, JSON lines otherwise"
    )
