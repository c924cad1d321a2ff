"""Fault injection: ``kind[:target][=value][@time]`` strings, scheduled and applied on time.

Why strings: the same text goes on the command line (``--inject cell_ov:5@2h``), into tests and
into benchmark scripts, and a typo must be reported with the offending part named.

Kinds (targets are 1-based like the pack's labels, except sense wires which count from 0 = pack
negative):

======================  =========================================================================
``cell_ov:N``           cell N *reads* 0.1 V above Vmax (sense-level fault: a drifting or broken
                        measurement; the cell itself is untouched, so protection reacts without
                        a real cell being abused). Readings above that stay as they are.
``cell_uv:N``           cell N reads 0.1 V below Vmin (sense-level, likewise).
``over_temp:N``         thermistor N reads 20 °C above protection.relays.tmax_c (70 °C by default).
``under_temp:N``        thermistor N reads 20 °C below protection.relays.tmin_c (-20 °C by default).
``open_wire:N``         pack-wide sense wire N open; wire 0 is the pack negative (C0 of board 1),
                        wire k >= 1 the top of cell k, i.e. input C(k - cells below) of its board.
``pec_errors:B[=P]``    board B corrupts each reply with probability P (default 1.0) from then on.
``dead_board:B``        board B stops answering.
``stuck_current``       the Hall sensor's GPIO voltage freezes at its present value.
``adc_stall:B``         board B's ADC stops: conversions never finish, its registers keep their data.
``adc_drop:B=P``        board B loses a fraction P (0..1) of its conversion commands.
``thermistor_open:N``   thermistor N's NTC is open: its divider pin sits at VREF2.
``thermistor_short:N``  thermistor N's NTC is shorted: its divider pin sits at 0 V.
``current_stuck:A``     the Hall sensor's output freezes at the voltage it gives for A amperes (A may
                        be negative or fractional: ``current_stuck:0``, ``current_stuck:-2.5``).
``bus_stuck:V``         the bus (DC link) voltage sensor reads V volts whatever the bus does.
``welded:NAME``         contactor NAME (precharge, charge, discharge, main) stays closed once closed.
``no_close:NAME``       contactor NAME never closes.
``input:N[=0|1]``       discrete input N (1-based, ``hardware.inputs`` order) asserted (=1, the
                        default) or released (=0); the simulated line level follows its
                        ``active_low`` wiring. Not a fault: the remote switch, charger or
                        emergency stop button a user would press (``input:1@2h input:1=0@3h``).
======================  =========================================================================

Times: ``45s``, ``30m``, ``2h``, ``1.5h``, ``1d`` or plain seconds (``90``); no ``@`` means at once.
The chain faults (pec_errors, dead_board) go to the chip emulator; the others to the simulator.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal, Protocol, cast

__all__ = [
    "CHAIN_KINDS",
    "CONTACTOR_TARGETS",
    "KINDS",
    "ChainFaultTarget",
    "FaultInjector",
    "Injection",
    "InjectionTarget",
    "format_injection",
    "parse_duration_s",
    "parse_injection",
]

Kind = Literal[
    "cell_ov",
    "cell_uv",
    "over_temp",
    "under_temp",
    "open_wire",
    "pec_errors",
    "dead_board",
    "adc_stall",
    "adc_drop",
    "stuck_current",
    "welded",
    "no_close",
    "thermistor_open",
    "thermistor_short",
    "current_stuck",
    "bus_stuck",
    "input",
]

#: Every kind and what its target is: "index" (number), "name" (contactor), "number" (a current) or "none".
KINDS: dict[str, Literal["index", "name", "none", "number"]] = {
    "cell_ov": "index",
    "cell_uv": "index",
    "over_temp": "index",
    "under_temp": "index",
    "open_wire": "index",
    "pec_errors": "index",
    "dead_board": "index",
    "adc_stall": "index",
    "adc_drop": "index",
    "stuck_current": "none",
    "welded": "name",
    "no_close": "name",
    "thermistor_open": "index",
    "thermistor_short": "index",
    "current_stuck": "number",
    "bus_stuck": "number",
    "input": "index",
}
#: Kinds that the chip emulator applies.
CHAIN_KINDS: frozenset[str] = frozenset({"pec_errors", "dead_board", "adc_stall", "adc_drop"})
CONTACTOR_TARGETS: tuple[str, ...] = ("precharge", "charge", "discharge", "main")

_UNITS_S = {"": 1.0, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Injection:
    """One fault: ``kind``, its ``target`` (1-based index, wire number, contactor name, amperes or None),
    the simulated time ``at_s`` (seconds since the simulation started) and an optional ``value``."""

    kind: Kind
    target: int | str | float | None = None
    at_s: float = 0.0
    value: float | None = None
    text: str = field(default="", compare=False)

    def __str__(self) -> str:
        return self.text or format_injection(self)


def format_injection(inj: Injection) -> str:
    """The canonical text of an injection (what ``parse_injection`` reads back)."""
    out: str = inj.kind
    if inj.target is not None:
        out += f":{inj.target:g}" if isinstance(inj.target, float) else f":{inj.target}"
    if inj.value is not None:
        out += f"={inj.value:g}"
    return out + f"@{inj.at_s:g}s"


def parse_duration_s(text: str) -> float:
    """``45s``, ``30m``, ``2h``, ``1.5h``, ``1d`` or plain seconds -> seconds."""
    m = _DURATION.match(text)
    if m is None or m.group(2).lower() not in _UNITS_S:
        raise ValueError(
            f"bad time {text!r}: use a number with an optional unit s, m, h or d (e.g. 90, 45s, 30m, 1.5h)"
        )
    return float(m.group(1)) * _UNITS_S[m.group(2).lower()]


def parse_injection(text: str) -> Injection:
    """Parse ``kind[:target][=value][@time]``; ValueError names the bad part and what is allowed."""
    s = text.strip()
    if not s:
        raise ValueError("empty fault injection; expected kind[:target][@time], e.g. cell_ov:5@2h")
    at_s = 0.0
    if "@" in s:
        s, _, when = s.partition("@")
        if not when.strip():
            raise ValueError(f"{text!r}: missing time after '@' (e.g. @2h)")
        try:
            at_s = parse_duration_s(when)
        except ValueError as exc:
            raise ValueError(f"{text!r}: {exc}") from None
    value: float | None = None
    if "=" in s:
        s, _, raw_value = s.partition("=")
        try:
            value = float(raw_value)
        except ValueError:
            raise ValueError(f"{text!r}: value {raw_value!r} after '=' is not a number") from None
        if not math.isfinite(value):
            raise ValueError(f"{text!r}: value {raw_value!r} must be finite")
    kind, sep, raw_target = s.partition(":")
    kind = kind.strip().lower()
    raw_target = raw_target.strip()
    if kind not in KINDS:
        raise ValueError(f"{text!r}: unknown fault kind {kind!r} (allowed: {', '.join(KINDS)})")
    target_type = KINDS[kind]
    target: int | str | float | None = None
    if target_type == "none":
        if sep:
            raise ValueError(f"{text!r}: {kind} takes no target (got {raw_target!r})")
    elif not sep or not raw_target:
        what = "a contactor name" if target_type == "name" else "a number"
        raise ValueError(f"{text!r}: {kind} needs {what} after ':' (e.g. {_example(kind)})")
    elif target_type == "number":
        try:
            number = float(raw_target)
        except ValueError:
            raise ValueError(f"{text!r}: target {raw_target!r} of {kind} must be a number (e.g. 0, -150)") from None
        if not math.isfinite(number):
            raise ValueError(f"{text!r}: target {raw_target!r} of {kind} must be finite")
        target = number
    elif target_type == "name":
        name = raw_target.lower()
        if name not in CONTACTOR_TARGETS:
            raise ValueError(f"{text!r}: {raw_target!r} is not a contactor (allowed: {', '.join(CONTACTOR_TARGETS)})")
        target = name
    else:
        if not raw_target.isdigit():
            raise ValueError(f"{text!r}: target {raw_target!r} of {kind} must be a whole number")
        target = int(raw_target)
        lowest = 0 if kind == "open_wire" else 1
        if target < lowest:
            raise ValueError(f"{text!r}: target of {kind} counts from {lowest}, got {target}")
    if kind == "adc_drop" and value is None:
        raise ValueError(f"{text!r}: adc_drop needs '=P', the fraction of conversions lost (e.g. adc_drop:1=0.5)")
    if kind == "input":
        if value not in (None, 0.0, 1.0):
            raise ValueError(f"{text!r}: input takes '=1' (asserted, the default) or '=0' (released)")
    elif value is not None:
        if kind not in ("pec_errors", "adc_drop"):
            raise ValueError(f"{text!r}: only pec_errors and adc_drop take '=value' (a probability)")
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{text!r}: {kind} probability {value} must be within 0..1")
    return Injection(kind=cast(Kind, kind), target=target, at_s=at_s, value=value, text=text.strip())


def _example(kind: str) -> str:
    if KINDS[kind] == "name":
        return f"{kind}:charge@1h"
    if KINDS[kind] == "number":
        return f"{kind}:0@30m"
    return f"{kind}:{0 if kind == 'open_wire' else 1}@30m"


class ChainFaultTarget(Protocol):
    """The fault knobs of the LTC681x chip emulator."""

    def set_dead(self, board: int, dead: bool) -> None: ...

    def set_corruption(self, board: int, probability: float) -> None: ...

    def corrupt_next(self, board: int, count: int) -> None: ...

    def set_stalled(self, board: int, stalled: bool = True) -> None: ...

    def set_drop(self, board: int, probability: float) -> None: ...


class InjectionTarget(Protocol):
    """What the simulator offers the injector."""

    @property
    def elapsed_s(self) -> float: ...

    @property
    def start_s(self) -> float: ...

    @property
    def board_count(self) -> int: ...

    def check_injection(self, injection: Injection) -> None: ...

    def inject(self, injection: Injection) -> None: ...


class FaultInjector:
    """Holds scheduled injections and applies each once it is due.

    ``poll`` is meant to be called once per cycle with the simulation's elapsed time; it returns
    the injections applied in that call so the caller can log them.
    """

    def __init__(self, sim: InjectionTarget, emulator: ChainFaultTarget | None = None) -> None:
        self._sim = sim
        self._emulator = emulator
        self._pending: list[Injection] = []

    @property
    def pending(self) -> tuple[Injection, ...]:
        return tuple(self._pending)

    def schedule(self, injections: Iterable[Injection | str]) -> None:
        """Check every injection against the pack (raises ValueError naming it) and queue them."""
        checked: list[Injection] = []
        for item in injections:
            inj = parse_injection(item) if isinstance(item, str) else item
            if inj.kind in CHAIN_KINDS:
                if self._emulator is None:
                    raise ValueError(f"{inj}: {inj.kind} needs the emulated chain (hardware.backend = simulated)")
                assert isinstance(inj.target, int)
                if inj.target > self._sim.board_count:
                    raise ValueError(
                        f"{inj}: board {inj.target} does not exist (the chain has {self._sim.board_count})"
                    )
            else:
                self._sim.check_injection(inj)
            checked.append(inj)
        self._pending.extend(checked)
        self._pending.sort(key=lambda i: i.at_s)

    def poll(self, now_s: float | None = None) -> list[Injection]:
        """Apply every injection due by clock time ``now_s`` (``clock.now()``; default: the
        simulator's present time). Injection times count from the simulator's start."""
        t = self._sim.elapsed_s if now_s is None else now_s - self._sim.start_s
        applied: list[Injection] = []
        while self._pending and self._pending[0].at_s <= t:
            inj = self._pending.pop(0)
            self._apply(inj)
            applied.append(inj)
        return applied

    def _apply(self, inj: Injection) -> None:
        if inj.kind not in CHAIN_KINDS:
            self._sim.inject(inj)
            return
        assert self._emulator is not None and isinstance(inj.target, int)
        board = inj.target - 1
        if inj.kind == "dead_board":
            self._emulator.set_dead(board, True)
        elif inj.kind == "adc_stall":
            self._emulator.set_stalled(board, True)
        elif inj.kind == "adc_drop":
            self._emulator.set_drop(board, 1.0 if inj.value is None else inj.value)
        else:
            self._emulator.set_corruption(board, 1.0 if inj.value is None else inj.value)
