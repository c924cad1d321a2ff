"""The fault engine: one declarative table of condition specs, one small state machine per
(condition, location).

Why one table (in the spirit of foxBMS's diagnosis module): every threshold, delay, hysteresis,
severity and recovery policy is data, so the docs (``docs/faults.md``), the events and the tests
all come from the same source. The engine knows nothing about batteries; the protection stage
feeds it values.

Semantics of one instance (a spec at one location -- a cell, a sensor, a board or the pack):

* it *trips* when ``value >= set`` (over conditions) or ``value <= set`` (under conditions); it is
  raised once it has tripped continuously for ``set_delay_s`` (0 = in the same cycle);
* once raised it clears when ``value <= clear`` (over) / ``value >= clear`` (under) has held for
  ``clear_delay_s``. A latched spec then only becomes *gone*: it stays raised until the reset
  command (``reset_latched``), which clears the gone ones only;
* a latched instance keeps the spec it latched under (``_Instance.frozen``): a new config (say
  Vmax moved to 5.0 V over Modbus) cannot make a latch "gone" -- it must be gone by the
  thresholds in force when it latched;
* recurrence: an auto-recovering *fault* raised ``recurrence_count`` times at one location within
  ``recurrence_window_s`` latches on that raise (the ENNOID error-count idea), so a persistent
  fault does not re-close the contactors again and again;
* latched instances can be exported (``latched_records``) and put back after a restart
  (``restore_latched``): the state file keeps them, so a crash or power cycle clears nothing;
* a NaN value is no evidence either way: timers are neither advanced to a decision nor reset, and
  nothing clears on missing data (lost data is its own condition, communication_lost).

Cost: with nothing tripped or pending, ``many()`` is two comparisons on a precomputed extreme, so a
255-cell pack costs nothing per cell in the normal case.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from enum import IntFlag
from typing import Any

from bmsgateway.protection.ids import CONDITION_BITS, ConditionId
from bmsgateway.state import ActiveCondition, Event, Severity

__all__ = ["Blocks", "ConditionSpec", "FaultEngine"]

NAN = float("nan")
#: tolerance on delays: 0.1 s steps summed in floating point must reach a 0.2 s delay
_EPS_S = 1e-6


class Blocks(IntFlag):
    """Which directions a raised fault forbids (warnings never block)."""

    NONE = 0
    CHARGE = 1
    DISCHARGE = 2
    BOTH = 3


@dataclass(frozen=True, slots=True)
class ConditionSpec:
    """One row of the fault table."""

    key: str  #: stable name, e.g. "cell_over_voltage.fault"
    condition: ConditionId
    severity: Severity
    above: bool  #: True: trips at value >= set (over); False: at value <= set (under)
    set_threshold: float
    set_delay_s: float
    clear_threshold: float
    clear_delay_s: float
    latched: bool
    blocks: Blocks
    unit: str
    location: str  #: what ``location`` counts: pack, cell, sensor, board, wire, contactor
    description: str
    input: str = ""  #: the value the row compares with its thresholds (a Measurement or plausibility field)
    recurs: bool = True  #: counts for recurrence latching (False: an operator's own switch, remote_off)

    def trips(self, v: float) -> bool:
        return v >= self.set_threshold if self.above else v <= self.set_threshold

    def clears(self, v: float) -> bool:
        return v <= self.clear_threshold if self.above else v >= self.clear_threshold


class _Instance:
    """Timers and flags of one spec at one location."""

    __slots__ = ("active", "clear_since", "frozen", "gone", "pending_since", "since", "value")

    def __init__(self) -> None:
        self.pending_since: float | None = None
        self.active = False
        self.since = NAN
        self.clear_since: float | None = None
        self.gone = False  #: latched and no longer present: the reset command may clear it
        self.value = NAN
        #: the spec this instance latched under (None while not latched); judged by it until reset
        self.frozen: ConditionSpec | None = None


class FaultEngine:
    """Evaluates the table; reports raises/clears through ``emit``; summarises active conditions."""

    def __init__(
        self, specs: Sequence[ConditionSpec], emit: Callable[[Event], None],
        recurrence_count: int = 0, recurrence_window_s: float = 0.0,
    ) -> None:
        self._emit_event = emit  #: receives every raise/clear (the protection stage logs them)
        self._specs: dict[str, ConditionSpec] = {}
        self._tracked: dict[str, dict[int, _Instance]] = {}
        self._n_active = 0
        self.raised_faults = 0  #: fault-level raises since start (lets the caller see new ones)
        #: bumped whenever the set of latched instances changes (the daemon saves at once then)
        self.latch_version = 0
        self.recurrence_count = recurrence_count  #: 0 = off
        self.recurrence_window_s = recurrence_window_s
        self._raises: dict[tuple[str, int], deque[float]] = {}
        self.set_specs(specs)

    # -- table -------------------------------------------------------------------------------
    def set_specs(self, specs: Sequence[ConditionSpec]) -> None:
        """Swap in a new table (new config); instances of keys that still exist keep their state."""
        self._specs = {s.key: s for s in specs}
        self._table_keys = frozenset(self._specs)
        old = self._tracked
        self._tracked = {k: old.get(k, {}) for k in self._specs}
        # A latched instance of a key the new table no longer has stays (judged by its own spec):
        # a config change must never clear a latch.
        for k, d in old.items():
            if k not in self._specs:
                kept = {loc: i for loc, i in d.items() if i.active and i.frozen is not None}
                if kept:
                    frozen = next(iter(kept.values())).frozen
                    assert frozen is not None
                    self._specs[k] = frozen
                    self._tracked[k] = kept
        self._n_active = sum(1 for d in self._tracked.values() for i in d.values() if i.active)

    @property
    def specs(self) -> tuple[ConditionSpec, ...]:
        return tuple(self._specs.values())

    def spec(self, key: str) -> ConditionSpec:
        return self._specs[key]

    def tracking(self, key: str) -> bool:
        """Is any instance of ``key`` raised or pending (so its values must be fed)?"""
        return bool(self._tracked[key])

    # -- evaluation --------------------------------------------------------------------------
    def scalar(self, key: str, value: float, t: float, location: int = -1) -> None:
        """Feed one value of ``key`` at ``location``."""
        tracked = self._tracked[key]
        inst = tracked.get(location)
        if inst is None:
            spec = self._specs[key]
            if value != value or not spec.trips(value):
                return  # the common case: nothing to track
            inst = _Instance()
            tracked[location] = inst
        self._step(self._specs[key], inst, value, t, location)
        if not inst.active and inst.pending_since is None:
            del tracked[location]

    def many(self, key: str, values: Sequence[float], extreme: float, t: float) -> None:
        """Feed a value per location (index = location). ``extreme`` is max (over) or min (under)
        of the fresh values, NaN if none: it lets the engine skip the loop when nothing trips."""
        spec = self._specs[key]
        tracked = self._tracked[key]
        if extreme == extreme and spec.trips(extreme):
            s = spec.set_threshold
            if spec.above:
                hits = [i for i, v in enumerate(values) if v >= s]
            else:
                hits = [i for i, v in enumerate(values) if v <= s]
            for i in hits:
                self.scalar(key, values[i], t, i)
            if tracked:
                hit_set = set(hits)
                n = len(values)
                for loc in [loc for loc in tracked if loc not in hit_set]:
                    self.scalar(key, values[loc] if 0 <= loc < n else NAN, t, loc)
        elif tracked:
            n = len(values)
            for loc in list(tracked):
                self.scalar(key, values[loc] if 0 <= loc < n else NAN, t, loc)

    def flags(self, key: str, present: Iterable[int], t: float) -> None:
        """Boolean per-location condition: value 1.0 at ``present`` locations, 0.0 elsewhere."""
        seen = set(present)
        for loc in seen:
            self.scalar(key, 1.0, t, loc)
        tracked = self._tracked[key]
        for loc in [loc for loc in tracked if loc not in seen]:
            self.scalar(key, 0.0, t, loc)

    def sparse(self, key: str, items: Iterable[tuple[int, float]], t: float) -> None:
        """Per-location values given only where non-zero; every other tracked location gets 0.0."""
        seen: set[int] = set()
        for loc, v in items:
            seen.add(loc)
            self.scalar(key, v, t, loc)
        tracked = self._tracked[key]
        for loc in [loc for loc in tracked if loc not in seen]:
            self.scalar(key, 0.0, t, loc)

    def _step(self, spec: ConditionSpec, inst: _Instance, v: float, t: float, loc: int) -> None:
        if v != v:
            return
        inst.value = v
        if not inst.active:
            if spec.trips(v):
                if inst.pending_since is None:
                    inst.pending_since = t
                if t - inst.pending_since >= spec.set_delay_s - _EPS_S:
                    inst.active = True
                    inst.since = t
                    inst.pending_since = None
                    inst.clear_since = None
                    inst.gone = False
                    self._n_active += 1
                    message = spec.description
                    if spec.latched:
                        inst.frozen = spec
                    elif self._recurs(spec, loc, t):
                        inst.frozen = replace(spec, latched=True)
                        message = (f"{spec.description}; raised {self.recurrence_count} times within "
                                   f"{self.recurrence_window_s:g} s: latched until the reset command")
                    if inst.frozen is not None:
                        self.latch_version += 1
                    self._emit(t, "raised", spec, v, spec.set_threshold, loc, message)
            else:
                inst.pending_since = None
            return
        if inst.frozen is not None:
            spec = inst.frozen
        if spec.trips(v):
            inst.gone = False
        if inst.gone:
            return
        if spec.clears(v):
            if inst.clear_since is None:
                inst.clear_since = t
            if t - inst.clear_since >= spec.clear_delay_s - _EPS_S:
                if inst.frozen is not None:
                    inst.gone = True
                else:
                    self._deactivate(inst)
                    self._emit(t, "cleared", spec, v, spec.clear_threshold, loc, spec.description)
        else:
            inst.clear_since = None

    def _recurs(self, spec: ConditionSpec, loc: int, t: float) -> bool:
        """Count an auto-recovering fault's raise; True when it is the N-th within the window."""
        if self.recurrence_count <= 0 or spec.severity is not Severity.FAULT or not spec.recurs:
            return False
        times = self._raises.setdefault((spec.key, loc), deque(maxlen=self.recurrence_count))
        times.append(t)
        if len(times) < self.recurrence_count or t - times[0] > self.recurrence_window_s + _EPS_S:
            return False
        times.clear()
        return True

    def _deactivate(self, inst: _Instance) -> None:
        """Lower a raised instance. Its callers drop it right after (``scalar`` deletes an idle
        instance, ``reset_latched`` deletes it), so its timers and flags need no reset."""
        if inst.frozen is not None:
            self.latch_version += 1
        inst.active = False
        self._n_active -= 1

    def _emit(self, t: float, kind: str, spec: ConditionSpec, v: float, thr: float, loc: int, msg: str) -> None:
        ev = Event(
            time_s=t, kind=kind, condition=spec.condition.value, severity=spec.severity.value,
            value=v, threshold=thr, location=loc, message=msg,
        )
        if kind == "raised" and spec.severity is Severity.FAULT:
            self.raised_faults += 1
        self._emit_event(ev)

    # -- commands ----------------------------------------------------------------------------
    def reset_latched(self, t: float) -> int:
        """Clear latched instances whose condition is gone; returns how many were cleared."""
        n = 0
        for key, tracked in self._tracked.items():
            # A latch of a condition the table no longer has is never fed again, so it can never be
            # seen gone: the reset command (an explicit operator action) clears it.
            orphan = key not in self._table_keys
            for loc in list(tracked):
                inst = tracked[loc]
                if inst.active and (inst.gone or orphan):
                    spec = inst.frozen or self._specs[key]
                    self._deactivate(inst)
                    del tracked[loc]
                    self._emit(t, "cleared", spec, inst.value, spec.clear_threshold, loc, "reset command")
                    n += 1
        return n

    def latched_count(self) -> tuple[int, int]:
        """(latched instances, of which gone) -- what a reset would leave and clear."""
        n = gone = 0
        for tracked in self._tracked.values():
            for inst in tracked.values():
                if inst.active and inst.frozen is not None:
                    n += 1
                    gone += inst.gone
        return n, gone

    # -- persistence -------------------------------------------------------------------------
    def latched_records(self) -> list[dict[str, Any]]:
        """Every latched instance as plain data for the state file (thresholds it latched under)."""
        out: list[dict[str, Any]] = []
        for key, tracked in self._tracked.items():
            for loc, inst in tracked.items():
                f = inst.frozen
                if not inst.active or f is None:
                    continue
                out.append({
                    "key": key, "location": loc, "since_s": _num(inst.since), "value": _num(inst.value),
                    "above": f.above, "set_threshold": f.set_threshold, "clear_threshold": f.clear_threshold,
                    "clear_delay_s": f.clear_delay_s, "blocks": int(f.blocks),
                })
        return out

    def restore_latched(self, records: Iterable[dict[str, Any]], t: float) -> int:
        """Raise the latched instances an earlier run saved; returns how many were restored.

        Each comes back active and *not* gone: the condition must be seen gone again (by the
        thresholds it latched under) before the reset command clears it. A record whose key is
        unknown to this table is restored under a stand-in spec that blocks what it blocked.
        """
        n = 0
        for r in records:
            try:
                key = str(r["key"])
                loc = int(r["location"])
                above = bool(r["above"])
                set_thr = float(r["set_threshold"])
                clear_thr = float(r["clear_threshold"])
                clear_delay = float(r.get("clear_delay_s", 0.0))
                blocks = Blocks(int(r.get("blocks", Blocks.BOTH)) & Blocks.BOTH)
            except (KeyError, TypeError, ValueError):
                continue
            if not (math.isfinite(set_thr) and math.isfinite(clear_thr) and math.isfinite(clear_delay)):
                continue
            base = self._specs.get(key)
            if base is None:
                base = self._stand_in(key, blocks)
                if base is None:
                    continue
                self._specs[key] = base
                self._tracked[key] = {}
            frozen = replace(base, above=above, set_threshold=set_thr, clear_threshold=clear_thr,
                             clear_delay_s=max(0.0, clear_delay), latched=True,
                             blocks=blocks if base.severity is Severity.FAULT else Blocks.NONE)
            tracked = self._tracked[key]
            inst = tracked.get(loc)
            if inst is None:
                inst = _Instance()
                tracked[loc] = inst
            if not inst.active:
                self._n_active += 1
            inst.active = True
            inst.frozen = frozen
            inst.gone = False
            inst.clear_since = None
            inst.pending_since = None
            inst.since = t
            inst.value = float(r.get("value") or NAN)
            self.latch_version += 1
            n += 1
            self._emit(t, "raised", frozen, inst.value, set_thr, loc,
                       f"{frozen.description}; latched before the restart (state file): "
                       "stays until the condition is gone and the reset command")
        return n

    @staticmethod
    def _stand_in(key: str, blocks: Blocks) -> ConditionSpec | None:
        cond_name = key.split(".", 1)[0]
        try:
            cond = ConditionId(cond_name)
        except ValueError:
            return None
        return ConditionSpec(
            key=key, condition=cond, severity=Severity.FAULT, above=True, set_threshold=NAN,
            set_delay_s=0.0, clear_threshold=NAN, clear_delay_s=0.0, latched=True, blocks=blocks,
            unit="", location="", description=f"{cond_name} (no longer in the fault table)",
        )

    # -- summary -----------------------------------------------------------------------------
    def summary(self) -> tuple[tuple[ActiveCondition, ...], int, int, Blocks]:
        """(active conditions, fault_bits, warning_bits, blocked directions)."""
        if self._n_active == 0:
            return (), 0, 0, Blocks.NONE
        active: list[ActiveCondition] = []
        fault_bits = warning_bits = 0
        blocks = Blocks.NONE
        for key, tracked in self._tracked.items():
            if not tracked:
                continue
            base = self._specs[key]
            bit = 1 << CONDITION_BITS[base.condition]
            for loc, inst in tracked.items():
                if not inst.active:
                    continue
                spec = inst.frozen or base
                active.append(
                    ActiveCondition(
                        condition=spec.condition.value, severity=spec.severity, value=inst.value,
                        threshold=spec.set_threshold, location=loc, latched=inst.frozen is not None,
                        since_s=inst.since,
                    )
                )
                if spec.severity is Severity.FAULT:
                    fault_bits |= bit
                    blocks |= spec.blocks
                else:
                    warning_bits |= bit
        return tuple(active), fault_bits, warning_bits, blocks


def _num(x: float) -> float | None:
    """JSON has no NaN: a missing number is saved as null."""
    return x if math.isfinite(x) else None
