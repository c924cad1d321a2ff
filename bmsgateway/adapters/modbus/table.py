"""The one declarative register table: what every Modbus register means and how it is encoded.

Why one table: the server image, the validation of writes and ``docs/modbus-registers.md`` are
all generated from the same ``Register`` rows, so the documentation cannot drift from what the
server answers.

Encoding rules, stated once (they are also printed at the top of the generated docs):

* registers are 16-bit, big-endian; 32-bit values are sent **high word first** (the SunSpec order);
* ``raw = round(value / scale)``; a reader computes ``value = raw * scale``;
* a value that is not available (NaN, no snapshot yet, slot beyond the pack size) reads as the
  "not available" value of its type, which is also the SunSpec "not implemented" value:
  u16/enum16/bitfield16 0xFFFF, s16 0x8000, u32/bitfield32 0xFFFFFFFF, s32 0x80000000,
  sunssf 0x8000, string all NUL, pad 0;
* values outside the range of the type are clamped to the largest/smallest valid raw value
  (the sentinel is never produced by a real value).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from bmsgateway.config.model import Config
from bmsgateway.config.reference import key_bounds
from bmsgateway.state import PackState

__all__ = [
    "DTYPE_WORDS",
    "NOT_AVAILABLE",
    "Access",
    "DType",
    "EncodeContext",
    "Register",
    "RegisterTable",
    "Value",
    "constant",
    "decode_words",
    "encode_value",
    "reserved",
]

DType = Literal["u16", "s16", "u32", "s32", "enum16", "bitfield16", "bitfield32", "string", "sunssf", "pad"]
Access = Literal["ro", "rw"]
#: what a source returns: a number, a string, or None for "not available".
Value = float | int | str | None

#: registers per element (strings: set per row with ``size``).
DTYPE_WORDS: dict[str, int] = {
    "u16": 1, "s16": 1, "u32": 2, "s32": 2, "enum16": 1, "bitfield16": 1, "bitfield32": 2,
    "sunssf": 1, "pad": 1,
}

#: the raw word(s) sent when a value is not available.
NOT_AVAILABLE: dict[str, int] = {
    "u16": 0xFFFF, "enum16": 0xFFFF, "bitfield16": 0xFFFF, "s16": 0x8000, "sunssf": 0x8000,
    "u32": 0xFFFFFFFF, "bitfield32": 0xFFFFFFFF, "s32": 0x80000000, "pad": 0,
}

#: valid raw ranges (the sentinel excluded), as signed integers.
_RAW_RANGE: dict[str, tuple[int, int]] = {
    "u16": (0, 0xFFFE), "enum16": (0, 0xFFFE), "bitfield16": (0, 0xFFFF),
    "s16": (-0x7FFF, 0x7FFF), "sunssf": (-10, 10),
    "u32": (0, 0xFFFFFFFE), "bitfield32": (0, 0xFFFFFFFF), "s32": (-0x7FFFFFFF, 0x7FFFFFFF),
    "pad": (0, 0),
}


@dataclass(frozen=True, slots=True)
class EncodeContext:
    """Everything a source may read: the latest snapshot (None before the first) and the config."""

    state: PackState | None
    config: Config
    uptime_s: float = math.nan


Source = Callable[[EncodeContext], Value | Sequence[Value]]


@dataclass(frozen=True, slots=True)
class Register:
    """One row of the table: a value (or an array of ``count`` equal-typed values)."""

    address: int  #: 0-based PDU address of the first word
    name: str
    dtype: DType
    description: str
    source: Source | None = None  #: None = not implemented (reads as not available)
    unit: str = ""
    scale: float = 1.0
    access: Access = "ro"
    count: int = 1  #: array length; the source then returns a sequence
    size: int = 0  #: words per element for strings (0 = from dtype)
    minimum: float | None = None  #: allowed range of a write, engineering units
    maximum: float | None = None
    config_key: str | None = None  #: dotted key for ``SettingsStore.propose``
    choices: tuple[str, ...] = ()  #: enum16 written to config as a string: raw n = choices[n]
    bits: tuple[tuple[int, str], ...] = ()  #: documented bit meanings
    enum: tuple[tuple[int, str], ...] = ()  #: documented enum values
    group: str = ""  #: heading in the docs
    command: str | None = None  #: write handler kind: "pin", "command", "alarm_reset"

    def __post_init__(self) -> None:
        # A setting's allowed range is the config model's: declared once, never copied here.
        if self.config_key is not None and not self.choices and self.minimum is None and self.maximum is None:
            lo, hi = key_bounds(self.config_key, self.scale)
            object.__setattr__(self, "minimum", lo)
            object.__setattr__(self, "maximum", hi)

    @property
    def words_per_element(self) -> int:
        return self.size if self.dtype == "string" else DTYPE_WORDS[self.dtype]

    @property
    def words(self) -> int:
        return self.words_per_element * self.count

    @property
    def end(self) -> int:
        """First address after this register."""
        return self.address + self.words


def _to_raw(dtype: str, value: float | int, scale: float) -> int | None:
    if isinstance(value, float):
        if math.isnan(value):
            return None
        scaled = value / scale
        if math.isinf(scaled):
            lo, hi = _RAW_RANGE[dtype]
            return hi if scaled > 0 else lo
        raw = round(scaled)
    else:
        raw = int(value) if scale == 1.0 else round(value / scale)
    lo, hi = _RAW_RANGE[dtype]
    return min(hi, max(lo, raw))


def encode_value(dtype: str, value: Value, scale: float = 1.0, size: int = 0) -> list[int]:
    """The words of one element (high word first)."""
    if dtype == "string":
        text = "" if value is None else str(value)
        data = text.encode("ascii", "replace")[: size * 2].ljust(size * 2, b"\0")
        return [(data[i] << 8) | data[i + 1] for i in range(0, size * 2, 2)]
    if dtype == "pad":
        return [0]
    raw: int | None
    raw = None if value is None or isinstance(value, str) else _to_raw(dtype, value, scale)
    if raw is None:
        na = NOT_AVAILABLE[dtype]
        return [na >> 16, na & 0xFFFF] if DTYPE_WORDS[dtype] == 2 else [na]
    if DTYPE_WORDS[dtype] == 2:
        raw &= 0xFFFFFFFF
        return [raw >> 16, raw & 0xFFFF]
    return [raw & 0xFFFF]


def decode_words(dtype: str, words: Sequence[int]) -> int:
    """The raw integer (signed for s16/s32/sunssf) of one element's words."""
    if DTYPE_WORDS[dtype] == 2:
        raw = (words[0] << 16) | words[1]
        return raw - (1 << 32) if dtype == "s32" and raw & 0x80000000 else raw
    raw = words[0]
    return raw - (1 << 16) if dtype in ("s16", "sunssf") and raw & 0x8000 else raw


class RegisterTable:
    """An ordered, non-overlapping set of registers with a precomputed word image.

    ``encode`` is meant to run once per new snapshot: the server answers every read from the
    list it returns, so the per-request cost does not depend on how the values are produced.
    """

    def __init__(self, registers: Sequence[Register]) -> None:
        rows = sorted(registers, key=lambda r: r.address)
        for prev, nxt in itertools.pairwise(rows):
            if nxt.address < prev.end:
                raise ValueError(f"register {nxt.name}@{nxt.address} overlaps {prev.name}@{prev.address}")
        self.registers: tuple[Register, ...] = tuple(rows)
        self.start = rows[0].address if rows else 0
        self.end = rows[-1].end if rows else 0
        self._base: list[int] | None = None
        self._live: tuple[tuple[Register, int], ...] = tuple(
            (r, r.address - self.start) for r in rows
            if r.source is not None and not getattr(r.source, "constant", False)
        )
        self._by_word: dict[int, Register] = {}
        for reg in rows:
            for addr in range(reg.address, reg.end):
                self._by_word[addr] = reg

    def at(self, address: int) -> Register | None:
        """The register covering ``address`` (None for a gap or outside the table)."""
        return self._by_word.get(address)

    def by_name(self, name: str) -> Register:
        for reg in self.registers:
            if reg.name == name:
                return reg
        raise KeyError(name)

    def encode(self, ctx: EncodeContext) -> list[int]:
        """The word image from ``start`` to ``end`` (gaps read 0).

        Rows without a source and rows whose source is marked constant (``constant()``) are
        encoded once, on the first call; later calls copy that base and encode only live rows.
        """
        if self._base is None:
            base = [0] * (self.end - self.start)
            for reg in self.registers:
                if reg.source is None or getattr(reg.source, "constant", False):
                    pos = reg.address - self.start
                    words = self._encode_register(reg, ctx)
                    base[pos : pos + len(words)] = words
            self._base = base
        image = list(self._base)
        for reg, pos in self._live:
            words = self._encode_register(reg, ctx)
            image[pos : pos + len(words)] = words
        return image

    @staticmethod
    def _encode_register(reg: Register, ctx: EncodeContext) -> list[int]:
        per = reg.words_per_element
        if reg.source is None:
            return encode_value(reg.dtype, None, reg.scale, per) * reg.count
        try:
            value = reg.source(ctx)
        except (ArithmeticError, IndexError, ValueError, AttributeError):
            value = None  # a source that cannot compute its value reports "not available"
        if reg.count == 1:
            return encode_value(reg.dtype, value if not isinstance(value, Sequence) or isinstance(value, str)
                                else None, reg.scale, per)
        values: Sequence[Value] = value if isinstance(value, Sequence) and not isinstance(value, str) else ()
        out: list[int] = []
        for i in range(reg.count):
            out.extend(encode_value(reg.dtype, values[i] if i < len(values) else None, reg.scale, per))
        return out


def constant(value: Value) -> Callable[[EncodeContext], Value]:
    """A source that ignores the snapshot and config (encoded once per table)."""

    def source(ctx: EncodeContext) -> Value:
        return value

    source.constant = True  # type: ignore[attr-defined]
    return source


def reserved(address: int, words: int, group: str) -> Register:
    """Spare words inside a section (read 0, writes refused) so that sections stay contiguous."""
    return Register(address, f"reserved_{address}", "pad", "reserved, reads 0", count=words, group=group)

