"""A small status file for ``bmsgateway health`` (Docker HEALTHCHECK, installers' monitoring).

Why a file and not a network port: it works whatever protocols are enabled, inside a container and
on the host, and needs no credentials. Why an adapter: the pack cycle never touches a disk; this
writes the latest snapshot's summary once a second from a worker thread (temp file + rename, no
fsync: the file is a heartbeat, not data to keep, and an SD card should not be synced every second).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import structlog

from bmsgateway.adapters.base import AdapterPorts
from bmsgateway.state import PackState, Severity

__all__ = ["STATUS_FILE", "StatusAdapter", "status_document", "status_line"]

STATUS_FILE = "status.json"

log = structlog.get_logger("status")


def _r(x: float, nd: int) -> float | None:
    return None if x != x or math.isinf(x) else round(x, nd)


def status_line(s: PackState) -> str:
    """One line for people (systemd STATUS=, the health command)."""
    faults = [a for a in s.protection.active if a.severity == Severity.FAULT]
    parts = [
        f"{s.pack_voltage_v:.1f} V" if s.pack_voltage_v == s.pack_voltage_v else "-- V",
        f"{s.measurement.current_a:+.1f} A" if s.measurement.current_a == s.measurement.current_a else "-- A",
        f"SOC {s.estimate.soc_pct:.1f} %" if s.estimate.soc_pct == s.estimate.soc_pct else "SOC --",
        str(s.protection.state),
    ]
    if faults:
        parts.append("faults: " + ", ".join(
            a.condition + (f"@{a.location + 1}" if a.location >= 0 else "") for a in faults))
    return ", ".join(parts)


def status_document(s: PackState, snapshot_age_s: float) -> dict[str, Any]:
    p = s.protection
    return {
        "pid": os.getpid(),
        "written_at": time.time(),
        "snapshot_age_s": round(snapshot_age_s, 3),
        "seq": s.seq,
        "state": str(p.state),
        "pack_voltage_v": _r(s.pack_voltage_v, 3),
        "current_a": _r(s.measurement.current_a, 3),
        "soc_pct": _r(s.estimate.soc_pct, 2),
        "faults": sorted({a.condition for a in p.active if a.severity == Severity.FAULT}),
        "warnings": sorted({a.condition for a in p.active if a.severity == Severity.WARNING}),
        "line": status_line(s),
    }


class StatusAdapter:
    name = "status"

    def __init__(self, path: Path, interval_s: float = 1.0) -> None:
        self.path = path
        self.interval_s = interval_s

    def _write(self, doc: dict[str, Any]) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(doc), encoding="utf-8")
        os.replace(tmp, self.path)

    async def run(self, ports: AdapterPorts) -> None:
        ports.mark_started()
        reported = False
        try:
            while True:
                s = ports.latest()
                if s is not None:
                    doc = status_document(s, max(0.0, ports.clock.wall_time() - s.wall_time))
                    try:
                        await asyncio.to_thread(self._write, doc)
                        reported = False
                    except OSError as exc:
                        if not reported:  # once per outage: a read-only or full disk is not news every second
                            log.error("status_file_write_failed", path=str(self.path), error=str(exc))
                            reported = True
                await asyncio.sleep(self.interval_s)
        finally:
            with contextlib.suppress(OSError):
                self.path.unlink()  # a stopped daemon leaves no stale "healthy" file behind

