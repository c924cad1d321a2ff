"""Replay of a recorded trace through the estimator (and the protection engine).

Why: users analyse their own logs, and estimators can be checked against data recorded elsewhere,
with exactly the code that runs live. The trace stands in for acquisition: each row becomes one
``Measurement`` (all values fresh) and goes through the same stages in the same order as the
pack cycle: ``Estimator.update(m, previous protection)``, then ``Protection.update(m, estimate)``
driving an in-memory DigitalIO.

Input CSV (header required, one row per measurement, times strictly increasing)::

    time_s,current_a,v1,v2,...,vN[,t1,...,tM]

current positive = charging; cell voltages in volts, temperatures in °C. An empty field or ``nan``
means "not read" (NaN). The cell count comes from the header; when it differs from the config's,
the header wins for the estimator and the protection engine is skipped (its thresholds are per
board and cell); the result says so.

Output CSV: ``time_s,soc_pack,soc_1,...,soc_N,events`` where ``events`` lists this row's events as
``kind:condition@location`` separated by ``;``.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from bmsgateway.clock import VirtualClock
from bmsgateway.config.model import Config
from bmsgateway.estimation import Estimator
from bmsgateway.state import BoardHealth, EstimateStatus, Event, Measurement, ProtectionStatus

__all__ = ["MemoryIO", "ReplayResult", "Trace", "TraceError", "read_trace", "replay", "write_result_csv"]

_CELL = re.compile(r"^v(\d+)$")
_TEMP = re.compile(r"^t(\d+)$")


class TraceError(ValueError):
    """The trace cannot be used; the message names the file, line and what is wrong."""


@dataclass
class Trace:
    """A parsed trace: per row time, current, cell voltages and temperatures."""

    times_s: list[float]
    currents_a: list[float]
    cells_v: list[tuple[float, ...]]
    temperatures_c: list[tuple[float, ...]]

    @property
    def cell_count(self) -> int:
        return len(self.cells_v[0]) if self.cells_v else 0

    @property
    def temperature_count(self) -> int:
        return len(self.temperatures_c[0]) if self.temperatures_c else 0


def _numbered(names: list[str], pattern: re.Pattern[str], what: str, source: str) -> int:
    nums = [int(m.group(1)) for m in (pattern.match(n) for n in names) if m]
    if nums != list(range(1, len(nums) + 1)):
        raise TraceError(f"{source}: header: {what} columns must be {what[0]}1..{what[0]}N in order, got {names}")
    return len(nums)


def _parse(text: str, source: str) -> Trace:
    rows = csv.reader(io.StringIO(text))
    header: list[str] | None = None
    lineno = 0
    for lineno, row in enumerate(rows, start=1):  # noqa: B007 - lineno is used after the loop
        if row and "".join(row).strip() and not row[0].lstrip().startswith("#"):
            header = [c.strip().lower() for c in row]
            break
    if header is None:
        raise TraceError(f"{source}: empty file (expected a header time_s,current_a,v1,...)")
    if header[:2] != ["time_s", "current_a"]:
        raise TraceError(f"{source}:{lineno}: header must start with time_s,current_a, got {','.join(header[:2])}")
    rest = header[2:]
    cell_names = [c for c in rest if c.startswith("v")]
    temp_names = [c for c in rest if c.startswith("t")]
    if rest != cell_names + temp_names or any(not (_CELL.match(c) or _TEMP.match(c)) for c in rest):
        raise TraceError(f"{source}:{lineno}: header after current_a must be v1..vN then optional t1..tM")
    n = _numbered(cell_names, _CELL, "v", source)
    _numbered(temp_names, _TEMP, "t", source)
    if n == 0:
        raise TraceError(f"{source}:{lineno}: no cell voltage columns v1..vN")
    width = len(header)
    trace = Trace([], [], [], [])
    header_line = lineno
    for lineno, row in enumerate(rows, start=header_line + 1):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        if len(row) != width:
            raise TraceError(f"{source}:{lineno}: {len(row)} fields, the header has {width}")
        try:
            values = [float(x) if x.strip() else math.nan for x in row]
        except ValueError:
            raise TraceError(f"{source}:{lineno}: not a number in {','.join(row)!r}") from None
        t = values[0]
        if not math.isfinite(t):
            raise TraceError(f"{source}:{lineno}: time_s must be a number")
        if trace.times_s and t <= trace.times_s[-1]:
            raise TraceError(f"{source}:{lineno}: time_s {t} is not after the previous {trace.times_s[-1]}")
        trace.times_s.append(t)
        trace.currents_a.append(values[1])
        trace.cells_v.append(tuple(values[2 : 2 + n]))
        trace.temperatures_c.append(tuple(values[2 + n :]))
    if not trace.times_s:
        raise TraceError(f"{source}: no data rows after the header")
    return trace


def read_trace(path: str | Path) -> Trace:
    """Read and check a trace file; raises ``TraceError`` with file and line on any problem."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TraceError(f"{p}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    return _parse(text, str(p))


class MemoryIO:
    """A DigitalIO whose feedback contacts follow the commands at once (no hardware in replay)."""

    def __init__(self) -> None:
        self.outputs: dict[str, bool] = {}

    def set_output(self, name: str, on: bool) -> None:
        self.outputs[name] = on

    def get_output(self, name: str) -> bool:
        return self.outputs.get(name, False)

    def read_feedback(self, name: str) -> bool | None:
        return self.outputs.get(name, False)

    def safe_state(self) -> None:
        for name in self.outputs:
            self.outputs[name] = False


@dataclass
class ReplayRow:
    time_s: float
    soc_pct: float
    cell_soc_pct: tuple[float, ...]
    events: tuple[Event, ...]


@dataclass
class ReplayResult:
    rows: list[ReplayRow]
    final: EstimateStatus
    current_offset_a: float
    cell_count: int
    protection_used: bool
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The ``--json`` object: final estimates and what was run."""
        f = self.final
        events = [e for r in self.rows for e in r.events]
        return {
            "rows": len(self.rows),
            "duration_s": self.rows[-1].time_s - self.rows[0].time_s if self.rows else 0.0,
            "cells": self.cell_count,
            "protection": self.protection_used,
            "final_soc_pct": f.soc_pct,
            "final_cell_soc_pct": list(f.cell_soc_pct),
            "soc_calibrated": f.soc_calibrated,
            "capacity_ah": f.capacity_ah,
            "capacity_wh": f.capacity_wh,
            "rated_capacity_ah": f.rated_capacity_ah,
            "soh_pct": f.soh_pct,
            "cell_capacity_ah": list(f.cell_capacity_ah),
            "cell_resistance_ohm": list(f.cell_resistance_ohm),
            "current_offset_a": self.current_offset_a,
            "charge_in_ah": f.charge_in_ah,
            "charge_out_ah": f.charge_out_ah,
            "energy_in_wh": f.energy_in_wh,
            "energy_out_wh": f.energy_out_wh,
            "equivalent_cycles": f.equivalent_cycles,
            "events": len(events),
            "notes": self.notes,
        }


def _measurements(trace: Trace, config: Config, same_layout: bool) -> Iterator[Measurement]:
    boards: tuple[BoardHealth, ...] = ()
    temp_board: tuple[int, ...] = ()
    if same_layout:
        temp_board = tuple(i for i, b in enumerate(config.pack.boards) for _ in range(b.thermistors))
    if len(temp_board) != trace.temperature_count:
        temp_board = (0,) * trace.temperature_count
    for t, i, v, temps in zip(trace.times_s, trace.currents_a, trace.cells_v, trace.temperatures_c, strict=True):
        if same_layout:
            boards = tuple(
                BoardHealth(index=k, chip=b.chip, ok=True, pec_errors_total=0, failed_cycles=0, last_ok_s=t)
                for k, b in enumerate(config.pack.boards)
            )
        yield Measurement(
            time_s=t,
            cell_voltages_v=v,
            cell_age_s=tuple(0.0 if x == x else math.inf for x in v),
            temperatures_c=temps,
            temperature_age_s=tuple(0.0 if x == x else math.inf for x in temps),
            temperature_board=temp_board,
            current_a=i,
            current_age_s=0.0 if i == i else math.inf,
            pack_voltage_measured_v=math.fsum(v) if all(x == x for x in v) else math.nan,
            boards=boards,
        )


def replay(trace: Trace, config: Config, *, protection: bool = True) -> ReplayResult:
    """Run the estimator (and, if asked and possible, the protection engine) over ``trace``."""
    notes: list[str] = []
    n = trace.cell_count
    same_layout = n == config.pack.cell_count
    if not same_layout:
        notes.append(f"trace has {n} cells, config {config.pack.cell_count}: using the trace's {n} cells")
    clock = VirtualClock(start_s=trace.times_s[0])
    estimator = Estimator(config, None, cell_count=n)
    engine: Any = None
    if protection and not same_layout:
        notes.append("protection engine skipped: its board layout does not match the trace")
    elif protection:
        try:
            from bmsgateway.protection import Protection
        except ImportError:
            notes.append("protection engine not available in this build")
        else:
            engine = Protection(config, MemoryIO(), None, clock)
    prev: ProtectionStatus | None = None
    rows: list[ReplayRow] = []
    est = EstimateStatus()
    for m in _measurements(trace, config, same_layout):
        clock.advance(m.time_s - clock.now())
        est = estimator.update(m, prev)
        events: tuple[Event, ...] = ()
        if engine is not None:
            prev = engine.update(m, est, None)
            events = prev.events
        rows.append(ReplayRow(m.time_s, est.soc_pct, est.cell_soc_pct, events))
    return ReplayResult(rows, est, estimator.current_bias_a, n, engine is not None, notes)


def _event_text(e: Event) -> str:
    return f"{e.kind}:{e.condition}@{e.location}"


def write_result_csv(result: ReplayResult, out: TextIO) -> None:
    """``time_s,soc_pack,soc_1..soc_N,events`` (see the module docstring)."""
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["time_s", "soc_pack", *(f"soc_{k + 1}" for k in range(result.cell_count)), "events"])
    for r in result.rows:
        w.writerow([
            repr(r.time_s),
            f"{r.soc_pct:.4f}",
            *(f"{s:.4f}" for s in r.cell_soc_pct),
            ";".join(_event_text(e) for e in r.events),
        ])
