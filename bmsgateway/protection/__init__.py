"""Protection and control: the fault engine, contactors, relays, limits, balancing."""

from bmsgateway.protection.events import EventLog
from bmsgateway.protection.protection import Protection
from bmsgateway.protection.table import build_condition_table, render_faults_markdown

__all__ = ["EventLog", "Protection", "build_condition_table", "render_faults_markdown"]
