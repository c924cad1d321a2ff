"""The estimator's persistent state and its file format, read back without ever failing.

File format (JSON, UTF-8)::

    {"format": "bmsgateway-state", "version": 1, "crc32": <of the canonical "state" text>,
     "state": {...SavedState fields...}}

Why a checksum on top of atomic writes: the write itself cannot tear (``atomic_write_bytes``), but
an SD card can still return flipped bits; the CRC turns that into a reported, recoverable problem
instead of a silently wrong SOC.

Why ``load_state`` never raises: the daemon must start whatever is on disk. A missing file gives
defaults; a corrupt one is reported, renamed aside to ``<name>.corrupt`` (so the next write does
not turn it into the backup and lose the good ``.bak``) and the ``.bak`` copy is used if valid.
"""

from __future__ import annotations

import json
import math
import os
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import structlog

__all__ = ["FORMAT", "VERSION", "SavedState", "decode_state", "encode_state", "load_state"]

FORMAT = "bmsgateway-state"
VERSION = 1

_log = structlog.get_logger(__name__)


@dataclass
class SavedState:
    """Everything that must survive a restart. Empty lists mean "not known" (use config defaults)."""

    cell_soc_pct: list[float] = field(default_factory=list)
    cell_soc_std_pct: list[float] = field(default_factory=list)
    cell_capacity_ah: list[float] = field(default_factory=list)
    cell_capacity_std_ah: list[float] = field(default_factory=list)  #: 1 sigma of the learnt capacity
    cell_resistance_ohm: list[float] = field(default_factory=list)
    cell_charge_ah: list[float] = field(default_factory=list)  #: capacity learner's charge count
    capacity_anchor_soc_pct: list[float] = field(default_factory=list)  #: NaN = no anchor
    capacity_anchor_charge_ah: list[float] = field(default_factory=list)
    current_bias_a: float = 0.0  #: offset learnt by the filter (on top of the zero offset)
    current_zero_offset_a: float = 0.0  #: zero calibration; the acquisition layer subtracts it
    soc_calibrated: bool = False
    current_gain: float = 1.0  #: gain calibration of hardware.current_sensor; acquisition multiplies by it
    consumer_zero_offset_a: float = 0.0  #: zero calibration of hardware.consumer_current_sensor
    counters: dict[str, Any] = field(default_factory=dict)
    #: bmsgateway.state.Event as dicts when loaded; the Events themselves when saved (converted by the
    #: saver thread, off the pack loop)
    events: list[Any] = field(default_factory=list)
    #: latched faults (``FaultEngine.latched_records``): active again after a restart until reset
    latched_faults: list[dict[str, Any]] = field(default_factory=list)
    saved_wall_time: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_FLOAT_LISTS = (
    "cell_soc_pct", "cell_soc_std_pct", "cell_capacity_ah", "cell_capacity_std_ah", "cell_resistance_ohm",
    "cell_charge_ah", "capacity_anchor_soc_pct", "capacity_anchor_charge_ah",
)
_NAN_OK = ("capacity_anchor_soc_pct", "capacity_anchor_charge_ah")
_RANGES: dict[str, tuple[float, float]] = {
    "cell_soc_pct": (0.0, 100.0),
    "cell_soc_std_pct": (0.0, 100.0),
    "cell_capacity_ah": (1e-6, 1e6),
    "cell_capacity_std_ah": (0.0, 1e6),
    "cell_resistance_ohm": (1e-7, 10.0),
}


def _finite(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def state_from_dict(data: object) -> tuple[SavedState, list[str]]:
    """Build a SavedState from decoded JSON; bad fields are dropped (defaults) and reported."""
    out = SavedState()
    problems: list[str] = []
    if not isinstance(data, dict):
        return out, ["state is not an object"]
    for name in _FLOAT_LISTS:
        value = data.get(name, [])
        ok = isinstance(value, list) and all(
            _finite(v) or (name in _NAN_OK and isinstance(v, float) and math.isnan(v)) for v in value
        )
        lo, hi = _RANGES.get(name, (-math.inf, math.inf))
        if ok and not all(lo <= v <= hi for v in value if not math.isnan(v)):
            ok = False
        if ok:
            setattr(out, name, [float(v) for v in value])
        else:
            problems.append(f"{name}: invalid value dropped")
    for name in ("current_bias_a", "current_zero_offset_a", "saved_wall_time"):
        value = data.get(name, 0.0)
        if _finite(value):
            setattr(out, name, float(value))
        else:
            problems.append(f"{name} = {value!r}: invalid value dropped")
    value = data.get("consumer_zero_offset_a", 0.0)
    if _finite(value):
        out.consumer_zero_offset_a = float(value)
    else:
        problems.append(f"consumer_zero_offset_a = {value!r}: invalid value dropped")
    value = data.get("current_gain", 1.0)
    if _finite(value) and 0.5 <= value <= 2.0:
        out.current_gain = float(value)
    else:
        problems.append(f"current_gain = {value!r}: invalid value dropped (allowed 0.5..2)")
    out.soc_calibrated = data.get("soc_calibrated") is True
    counters = data.get("counters", {})
    out.counters = counters if isinstance(counters, dict) else {}
    events = data.get("events", [])
    out.events = [e for e in events if isinstance(e, dict)] if isinstance(events, list) else []
    latched = data.get("latched_faults", [])
    if isinstance(latched, list):
        out.latched_faults = [r for r in latched if _latch_record_ok(r)]
        if len(out.latched_faults) != len(latched):
            problems.append(
                f"latched_faults: {len(latched) - len(out.latched_faults)} invalid record(s) dropped"
            )
    else:
        problems.append("latched_faults: invalid value dropped")
    return out, problems


def _latch_record_ok(r: object) -> bool:
    """A latched-fault record as ``FaultEngine.latched_records`` writes it."""
    return (
        isinstance(r, dict)
        and isinstance(r.get("key"), str)
        and isinstance(r.get("location"), int)
        and isinstance(r.get("above"), bool)
        and _finite(r.get("set_threshold"))
        and _finite(r.get("clear_threshold"))
    )


def _canonical(state: dict[str, Any]) -> str:
    return json.dumps(state, sort_keys=True, separators=(",", ":"))


def encode_state(state: SavedState) -> bytes:
    """The file's bytes for ``state`` (with format tag, version and checksum)."""
    body = state.to_dict()
    crc = zlib.crc32(_canonical(body).encode("utf-8"))
    doc = {"format": FORMAT, "version": VERSION, "crc32": crc, "state": body}
    return (json.dumps(doc, sort_keys=True, indent=1) + "\n").encode("utf-8")


def decode_state(raw: bytes) -> tuple[SavedState, list[str]]:
    """Parse file bytes; raises ``ValueError`` when the file as a whole cannot be trusted."""
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError("not a bmsgateway state file")
    if doc.get("version") != VERSION:
        raise ValueError(f"unsupported version {doc.get('version')!r} (this build reads {VERSION})")
    body = doc.get("state")
    if not isinstance(body, dict):
        raise ValueError("no state object")
    if zlib.crc32(_canonical(body).encode("utf-8")) != doc.get("crc32"):
        raise ValueError("checksum mismatch (file damaged)")
    return state_from_dict(body)


def _read(path: Path) -> tuple[SavedState | None, str | None, list[str], bool]:
    """(state, problem, field problems, damaged) for one file; state None when unusable.

    ``damaged`` is True only when the bytes were read but are not a valid state file.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, None, [], False
    except OSError as exc:
        return None, f"{path}: cannot read ({exc.strerror or exc})", [], False
    try:
        state, field_problems = decode_state(raw)
    except ValueError as exc:
        return None, f"{path}: {exc}", [], True
    return state, None, [f"{path}: {p}" for p in field_problems], False


def load_state(path: Path) -> tuple[SavedState, list[str]]:
    """Read the state file, falling back to ``path.bak`` and then to defaults. Never raises.

    Returns the state and the problems found (empty when the main file was good). Each problem
    is also logged. A corrupt main file is renamed to ``<name>.corrupt`` so that the next save
    cannot turn it into the backup.
    """
    path = Path(path)
    problems: list[str] = []
    try:
        _remove_stale_temps(path)
        state, problem, field_problems, damaged = _read(path)
        if state is not None:
            problems.extend(field_problems)
            for p in problems:
                _log.warning("state_file_problem", problem=p)
            return state, problems
        if problem is None:
            problems.append(f"{path}: no state file, starting from defaults")
        else:
            problems.append(problem)
            if damaged:
                _set_aside(path, problems)
        bak = path.with_name(path.name + ".bak")
        state, problem, field_problems, _ = _read(bak)
        if state is not None:
            problems.append(f"{bak}: using the backup copy")
            problems.extend(field_problems)
        else:
            if problem is not None:
                problems.append(problem)
            problems.append("using default state (SOC from configuration, counters at zero)")
            state = SavedState()
    except Exception as exc:  # the daemon must start whatever happens here
        problems.append(f"{path}: unexpected error reading state ({exc!r}); using defaults")
        state = SavedState()
    first_run = len(problems) == 2 and "no state file" in problems[0] and problems[1].startswith("using default")
    if first_run:  # a first start is not a problem: one line, no warning
        _log.info("no saved state, starting fresh", path=str(path))
        return state, problems
    for p in problems:
        _log.warning("state_file_problem", problem=p)
    return state, problems


def _set_aside(path: Path, problems: list[str]) -> None:
    target = path.with_name(path.name + ".corrupt")
    try:
        os.replace(path, target)
        problems.append(f"{path}: moved aside to {target.name}")
    except OSError as exc:
        problems.append(f"{path}: could not move aside ({exc.strerror or exc})")


def _remove_stale_temps(path: Path) -> None:
    """Delete temp files a killed writer left behind (no writer runs while the daemon starts)."""
    if not path.parent.is_dir():
        return
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        try:
            tmp.unlink()
        except OSError:
            continue
