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

Scoring against a truth file (``time_s,soc_1..soc_N``, SOC as fractions 0..1, e.g. from a lab
or an electrochemical model; rows matched by time): per cell and for the pack, the RMS and the
largest error in percentage points, and the *coverage*: the share of the scored time in which the
truth lies inside the estimator's own +/- 2 sigma band. The pack SOC is scored against the true
SOC of the weakest cell (the lowest true SOC), which is what the pack SOC stands for (see
``bmsgateway.estimation.pack_soc``). The first ``skip_s`` seconds (convergence) are not scored.

Output CSV: ``time_s,soc_pack,soc_1,...,soc_N,events`` where ``events`` lists this row's events as
``kind:condition@location`` separated by ``;``.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from bmsgateway.clock import VirtualClock
from bmsgateway.config import ConfigError, parse_config
from bmsgateway.config.model import Config
from bmsgateway.estimation import Estimator
from bmsgateway.state import BoardHealth, EstimateStatus, Event, Measurement, ProtectionStatus

__all__ = [
    "GOALS",
    "MemoryIO",
    "ReplayResult",
    "Trace",
    "TraceError",
    "Truth",
    "read_trace",
    "read_truth",
    "reference_config",
    "replay",
    "score",
    "score_capacity",
    "score_reference",
    "write_result_csv",
]

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


def read_text(path: str | Path) -> str:
    """A CSV file's text; ``.gz`` files are decompressed. ``TraceError`` names the file."""
    p = Path(path)
    try:
        data = p.read_bytes()
        if p.suffix == ".gz":
            data = gzip.decompress(data)
        return data.decode("utf-8")
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise TraceError(f"{p}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None


def read_trace(path: str | Path) -> Trace:
    """Read and check a trace file (``.csv`` or ``.csv.gz``); ``TraceError`` names file and line."""
    return _parse(read_text(path), str(path))


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

    def read_inputs(self) -> tuple[bool, ...]:
        return ()  # a trace has no discrete inputs

    def safe_state(self) -> None:
        for name in self.outputs:
            self.outputs[name] = False


@dataclass
class ReplayRow:
    time_s: float
    soc_pct: float
    cell_soc_pct: tuple[float, ...]
    events: tuple[Event, ...]
    soc_sigma_pct: float = math.nan
    cell_soc_sigma_pct: tuple[float, ...] = ()


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
            "soc_sigma_pct": f.soc_sigma_pct,
            "cell_soc_sigma_pct": list(f.cell_soc_sigma_pct),
            "cell_capacity_ah": list(f.cell_capacity_ah),
            "cell_capacity_learnt": list(f.cell_capacity_learnt),
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


def replay(
    trace: Trace, config: Config, *, protection: bool = True,
    progress: Callable[[float], None] | None = None,
) -> ReplayResult:
    """Run the estimator (and, if asked and possible, the protection engine) over ``trace``.

    ``progress`` (if given) is called now and then with the share of the trace done (0..1).
    """
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
    every = max(1, len(trace.times_s) // 100)
    for k, m in enumerate(_measurements(trace, config, same_layout)):
        if progress is not None and k % every == 0:
            progress(k / len(trace.times_s))
        clock.advance(m.time_s - clock.now())
        # The recorded voltages already show whatever balancing really happened; the replayed
        # protection's balancing commands never did, so the estimator must not count them.
        est = estimator.update(m, replace(prev, balancing=()) if prev is not None and prev.balancing else prev)
        events: tuple[Event, ...] = ()
        if engine is not None:
            prev = engine.update(m, est, None)
            events = prev.events
        rows.append(ReplayRow(m.time_s, est.soc_pct, est.cell_soc_pct, events, est.soc_sigma_pct,
                              est.cell_soc_sigma_pct))
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


@dataclass
class Truth:
    """True SOC (fractions) per row: ``soc[k][i]`` at ``times_s[k]`` for cell i."""

    times_s: list[float]
    soc: list[tuple[float, ...]]


def read_truth(path: str | Path) -> Truth:
    """Read ``time_s,soc_1..soc_N`` (``.csv`` or ``.csv.gz``); ``TraceError`` names file and line."""
    text = read_text(path)
    rows = csv.reader(io.StringIO(text))
    header = next(rows, None)
    if not header or header[0].strip() != "time_s" or not header[1:] or any(
        h.strip() != f"soc_{k + 1}" for k, h in enumerate(header[1:])
    ):
        raise TraceError(f"{path}:1: header must be time_s,soc_1..soc_N")
    truth = Truth([], [])
    for lineno, row in enumerate(rows, start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise TraceError(f"{path}:{lineno}: {len(row)} fields, the header has {len(header)}")
        try:
            values = [float(x) for x in row]
        except ValueError:
            raise TraceError(f"{path}:{lineno}: not a number in {','.join(row)!r}") from None
        truth.times_s.append(values[0])
        truth.soc.append(tuple(values[1:]))
    if not truth.times_s:
        raise TraceError(f"{path}: no data rows after the header")
    return truth


def _errors(est: list[float], sigma: list[float], true: list[float]) -> dict[str, float]:
    n = len(est)
    if n == 0:
        return {"rms_pp": math.nan, "max_pp": math.nan, "coverage_2sigma_pct": math.nan, "mean_sigma_pp": math.nan}
    err = [e - t for e, t in zip(est, true, strict=True)]
    inside = sum(1 for d, s in zip(err, sigma, strict=True) if abs(d) <= 2.0 * s)
    return {
        "rms_pp": math.sqrt(math.fsum(d * d for d in err) / n),
        "max_pp": max(abs(d) for d in err),
        "coverage_2sigma_pct": 100.0 * inside / n,
        "mean_sigma_pp": math.fsum(sigma) / n,
    }


def score(result: ReplayResult, truth: Truth, skip_s: float = 0.0) -> dict[str, Any]:
    """Errors of the replayed estimates against ``truth`` (see the module docstring).

    Raises ``TraceError`` when the truth has another cell count or shares no time with the trace.
    """
    n = result.cell_count
    if truth.soc and len(truth.soc[0]) != n:
        raise TraceError(f"truth has {len(truth.soc[0])} cells, the trace {n}")
    by_time = dict(zip(truth.times_s, truth.soc, strict=True))
    t0 = result.rows[0].time_s if result.rows else 0.0
    cells_est: list[list[float]] = [[] for _ in range(n)]
    cells_sig: list[list[float]] = [[] for _ in range(n)]
    cells_true: list[list[float]] = [[] for _ in range(n)]
    pack_est: list[float] = []
    pack_sig: list[float] = []
    pack_true: list[float] = []
    for r in result.rows:
        if r.time_s - t0 < skip_s:
            continue
        true = by_time.get(r.time_s)
        if true is None:
            continue
        sig = r.cell_soc_sigma_pct or (math.nan,) * n
        for i in range(n):
            cells_est[i].append(r.cell_soc_pct[i])
            cells_sig[i].append(sig[i])
            cells_true[i].append(100.0 * true[i])
        pack_est.append(r.soc_pct)
        pack_sig.append(r.soc_sigma_pct)
        pack_true.append(100.0 * min(true))
    if not pack_est:
        raise TraceError("the truth shares no time_s with the trace after the skipped start")
    cells = [_errors(cells_est[i], cells_sig[i], cells_true[i]) for i in range(n)]
    return {
        "scored_rows": len(pack_est),
        "skip_s": skip_s,
        "cells": cells,
        "mean_cell_rms_pp": math.fsum(c["rms_pp"] for c in cells) / n,
        "max_cell_error_pp": max(c["max_pp"] for c in cells),
        "min_cell_coverage_2sigma_pct": min(c["coverage_2sigma_pct"] for c in cells),
        "pack": _errors(pack_est, pack_sig, pack_true),
    }


# -- reference data sets ------------------------------------------------------------------------
#
# Reference data sets for the SOC estimator: a folder with a trace, the true SOC and the cell.
#
# Why: "how good is the SOC" must be answerable on data the project did not simulate itself (an
# electrochemical model, a lab cycler), with the product's own code. A folder holds::
#
#     trace.csv[.gz]   time_s,current_a,v1..vN[,t1..tM]       (what ``bmsgateway replay`` reads)
#     truth.csv[.gz]   time_s,soc_1..soc_N                     (true SOC, fractions 0..1)
#     ocv.csv          soc,ocv_v                               (the cell's OCV table, SOC 0..1)
#     cell.json        nominal_capacity_ah, suggested_vmin_v / _vbalance_v / _vmax_v, description
#     meta.json        optional: capacity_ah (true capacity per cell) for the capacity check
#
# The config is what a user would write for such a pack: one board per 12 cells, the folder's OCV
# table (in percent), its thresholds, the nominal capacity as rated; everything else default. This
# is the format of the PyBaMM traces in ``tests/data/pybamm`` (read the README there).

#: Scored goals a data set of this kind must meet (issue 14); reported next to the figures.
GOALS = {"mean_cell_rms_pp": 2.5, "max_cell_error_pp": 8.0, "pack_rms_pp": 3.0, "coverage_2sigma_pct": 90.0}


def _file(folder: Path, name: str) -> Path:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.exists():
            return candidate
    raise TraceError(f"{folder}: no {name} or {name}.gz")


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TraceError(f"{path}: cannot read: {exc}") from None
    if not isinstance(data, dict):
        raise TraceError(f"{path}: expected a JSON object")
    return data


def _ocv_table(path: Path) -> list[list[float]]:
    rows = list(csv.reader(io.StringIO(read_text(path))))
    if not rows or [h.strip() for h in rows[0]] != ["soc", "ocv_v"]:
        raise TraceError(f"{path}:1: header must be soc,ocv_v")
    try:
        return [[round(100.0 * float(s), 6), float(v)] for s, v in (r for r in rows[1:] if r)]
    except ValueError:
        raise TraceError(f"{path}: not a number in the table") from None


def _preset(cell: dict[str, Any]) -> str:
    text = f"{cell.get('description', '')} {cell.get('dataset', '')}".upper()
    for name in ("LFP", "LTO", "NMC", "NCA", "LCO", "LMO"):
        if name in text:
            return name
    return "Li-ion"


def reference_config(folder: str | Path, cells: int, thermistors: int) -> Config:
    """The config a user would write for the folder's cells (see the module docstring)."""
    d = Path(folder)
    cell = _json(d / "cell.json")
    boards = []
    left, t_left = cells, thermistors
    while left > 0:
        k = min(12, left) if left - min(12, left) == 0 or left - min(12, left) >= 4 else left - 4
        t = min(5, t_left)
        boards.append({"chip": "LTC6811", "cells": k, "thermistors": t})
        left -= k
        t_left -= t
    try:
        return parse_config({
            "pack": {
                "capacity_ah": float(cell["nominal_capacity_ah"]),
                "boards": boards,
                "chemistry": {
                    "preset": _preset(cell),
                    "vmin_v": float(cell["suggested_vmin_v"]),
                    "vbalance_v": float(cell["suggested_vbalance_v"]),
                    "vmax_v": float(cell["suggested_vmax_v"]),
                    "ocv_table": _ocv_table(d / "ocv.csv"),
                },
            },
            # The traces record the sensor's reading as it is (offset, gain error, noise), without a
            # dead band; the default one is sized for the default ±625 A sensor (0.375 A) and
            # would zero most of a 2 Ah cell's currents.
            "hardware": {"current_sensor": {"dead_band_a": 0.0}},
        }, str(d))
    except KeyError as exc:
        raise TraceError(f"{d / 'cell.json'}: missing {exc.args[0]}") from None
    except ConfigError as err:
        raise TraceError(f"{d}: the derived config is invalid: {'; '.join(err.problems)}") from None


def score_capacity(result: ReplayResult, true_ah: list[float]) -> dict[str, Any]:
    """Learnt capacities against the truth: error per cell (None while not learnt), worst error."""
    est = result.final
    errs: list[float | None] = []
    for k, true in enumerate(true_ah):
        learnt = k < len(est.cell_capacity_learnt) and est.cell_capacity_learnt[k]
        errs.append(100.0 * (est.cell_capacity_ah[k] / true - 1.0) if learnt else None)
    learnt_errs = [abs(e) for e in errs if e is not None]
    return {
        "true_capacity_ah": true_ah,
        "capacity_error_pct": errs,
        "learnt_cells": len(learnt_errs),
        "max_learnt_error_pct": max(learnt_errs) if learnt_errs else None,
        "soh_pct": est.soh_pct if math.isfinite(est.soh_pct) else None,
    }


def score_reference(
    folder: str | Path,
    *,
    config: Config | None = None,
    skip_s: float = 7200.0,
    protection: bool = True,
    progress: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """Replay the folder's trace from no saved state and score it (``TraceError`` on bad files)."""
    d = Path(folder)
    trace = read_trace(_file(d, "trace.csv"))
    truth = read_truth(_file(d, "truth.csv"))
    cfg = config or reference_config(d, trace.cell_count, trace.temperature_count)
    result = replay(trace, cfg, protection=protection, progress=progress)
    out: dict[str, Any] = {"dataset": d.name, **score(result, truth, skip_s)}
    meta_path = d / "meta.json"
    if meta_path.exists():
        caps = _json(meta_path).get("capacity_ah")
        if isinstance(caps, list) and len(caps) == trace.cell_count:
            out["capacity"] = score_capacity(result, [float(c) for c in caps])
    out["current_offset_learnt_a"] = result.current_offset_a
    out["goals_met"] = (
        out["mean_cell_rms_pp"] <= GOALS["mean_cell_rms_pp"]
        and out["max_cell_error_pp"] <= GOALS["max_cell_error_pp"]
        and out["pack"]["rms_pp"] <= GOALS["pack_rms_pp"]
        and out["min_cell_coverage_2sigma_pct"] >= GOALS["coverage_2sigma_pct"]
        and out["pack"]["coverage_2sigma_pct"] >= GOALS["coverage_2sigma_pct"]
    )
    return out
