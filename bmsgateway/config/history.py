"""The history log: the BMS Mini's SD-card logging, as rotating CSV files the replay command reads."""

from __future__ import annotations

from pydantic import Field

from bmsgateway.config.base import Section

__all__ = ["HistoryConfig"]


class HistoryConfig(Section):
    """A size-bounded on-disk history of snapshots and every event, written off the pack cycle."""

    enabled: bool = Field(True, description="write the history log")
    dir: str = Field("", description="directory of the history files; empty: <state_dir>/history")
    interval_s: float = Field(10.0, ge=0.1, le=3600.0, description="one snapshot row per interval")
    max_file_bytes: int = Field(
        4 * 1024 * 1024, ge=16 * 1024, le=1024 * 1024 * 1024, description="a file is rotated at this size"
    )
    files: int = Field(5, ge=1, le=1000, description="rotated files kept besides the current one")
