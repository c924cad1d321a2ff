"""PEC15: the 15-bit CRC that protects every LTC681x command and register group.

Polynomial 0x4599, seed 16, bits MSB first; the 15-bit remainder is sent shifted left by one
(LSB = 0) as a big-endian 16-bit word (protocols.md 4.2).

Why two tables: a read of a 255-cell chain checks ~150 six-byte groups per cycle, and a Python
loop per bit (or even per byte) would eat most of the 1 ms software budget. With a 65 536-entry
table indexed by 16 input bits the remainder of a 6-byte group is three look-ups. The 16-bit
table is derived from the 256-entry byte table once, at import (~20 ms).
"""

from __future__ import annotations

__all__ = [
    "PEC_SEED",
    "PEC_TABLE16",
    "append_pec",
    "check_pec",
    "pec15",
    "pec15_words",
]

_POLY = 0x4599
PEC_SEED = 16
_MASK15 = 0x7FFF


def _byte_table() -> list[int]:
    """Remainder after feeding one byte into a zero register (the classic byte-wise CRC table)."""
    table = []
    for byte in range(256):
        rem = byte << 7  # align the byte with bit 14, the register's top bit
        for _ in range(8):
            rem = ((rem << 1) ^ _POLY) if rem & 0x4000 else (rem << 1)
        table.append(rem & _MASK15)
    return table


_TABLE8: list[int] = _byte_table()


def _word_table() -> list[int]:
    """Remainder after feeding a 16-bit word into a zero register.

    After 16 shifts the old 15-bit register has been shifted out completely, so the new register
    depends only on ``word ^ (rem << 1)``: that value indexes this table directly.
    """
    t8 = _TABLE8
    out = [0] * 65536
    for hi in range(256):
        r1 = t8[hi]
        base = (r1 << 8) & _MASK15
        top = r1 >> 7
        for lo in range(256):
            out[(hi << 8) | lo] = base ^ t8[top ^ lo]
    return out


#: ``PEC_TABLE16[(rem << 1) ^ word]`` is the register after feeding the big-endian ``word``.
PEC_TABLE16: list[int] = _word_table()


def pec15(data: bytes | bytearray | memoryview) -> int:
    """The 16-bit PEC word (remainder << 1) over ``data``, as sent on the wire (MSB first)."""
    t16 = PEC_TABLE16
    rem = PEC_SEED
    n = len(data)
    even = n & ~1
    for i in range(0, even, 2):
        rem = t16[(rem << 1) ^ (data[i] << 8) ^ data[i + 1]]
    if n & 1:
        t8 = _TABLE8
        rem = ((rem << 8) & _MASK15) ^ t8[(rem >> 7) ^ data[n - 1]]
    return (rem << 1) & 0xFFFF


def pec15_words(w0: int, w1: int, w2: int) -> int:
    """PEC word of a 6-byte group given as three big-endian 16-bit words (the hot read path)."""
    t16 = PEC_TABLE16
    rem = t16[(PEC_SEED << 1) ^ w0]
    rem = t16[(rem << 1) ^ w1]
    rem = t16[(rem << 1) ^ w2]
    return rem << 1


def append_pec(data: bytes | bytearray) -> bytes:
    """``data`` followed by its PEC (big-endian), i.e. one command or one device's write slot."""
    pec = pec15(data)
    return bytes(data) + bytes((pec >> 8, pec & 0xFF))


def check_pec(frame: bytes | bytearray | memoryview) -> bool:
    """True when the last two bytes of ``frame`` are the PEC of the bytes before them."""
    if len(frame) < 3:
        return False
    return pec15(frame[:-2]) == (frame[-2] << 8) | frame[-1]
