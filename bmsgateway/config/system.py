"""Daemon-wide settings: cycle period, logging, where state lives."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field

from bmsgateway.config.base import Section

__all__ = ["LoggingConfig", "SystemConfig"]


class SystemConfig(Section):
    """The pack cycle and its supervision."""

    cycle_period_s: float = Field(0.1, ge=0.02, le=10.0, description="acquisition/protection period")
    summary_interval_s: float = Field(10.0, ge=0.5, le=86400.0, description="summary log line interval")
    state_dir: str = Field(
        "",
        description="directory for persistent state; empty: $STATE_DIRECTORY (systemd), else the user's "
        "data directory ($XDG_STATE_HOME or ~/.local/state)/bmsgateway",
    )

    def resolved_state_dir(self, override: str | Path | None = None) -> Path:
        """Where state lives: the override (``--state-dir``), the configured path, or the default.

        The default is the service's state directory under systemd (``StateDirectory=`` sets
        ``$STATE_DIRECTORY``) and a per-user data directory otherwise, never the current directory.
        """
        if override:
            return Path(override)
        if self.state_dir:
            return Path(self.state_dir)
        service = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
        if service:
            return Path(service)
        base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        return Path(base) / "bmsgateway"
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
