"""The Modbus application layer we serve: request PDU in, response PDU out, spec-exact exceptions.

Why our own (decided for issue 16, pymodbus 3.16 pinned): the server side of pymodbus answers an
undecodable request as function 0x80 (upstream chose 0x00 on purpose, pymodbus#2990/#2992), checks
quantities after decoding, raises inside the decoder for function 8 sub-functions and codes >= 0x80,
and its transport keeps a per-connection 516-byte buffer that swallows valid requests after a bad
header and clears it on every send. None of that is reachable through a public extension point
(framer classes, ``custom_pdu``, ``trace_*`` hooks) without subclassing private classes. Newer
3.x releases keep that design and 4.0 replaces the datastore. We serve six function codes, so the
application layer is small enough to own: this module follows the request-processing state
diagrams of the Modbus Application Protocol V1.1b3 (section 6): function supported? (else 01),
quantity and byte count valid? (else 03), address range valid? (else 02), then the request is
executed (the write guard may answer 01/02/03/04). pymodbus stays our client library.

A reply to a request with function code ``fc`` that fails is ``fc | 0x80`` followed by the code.
"""

from __future__ import annotations

import struct
from typing import Protocol

__all__ = [
    "ILLEGAL_ADDRESS", "ILLEGAL_FUNCTION", "ILLEGAL_VALUE", "MAX_PDU", "SUPPORTED_FCS", "RegisterAccess",
    "exception_pdu", "handle_pdu", "request_fc",
]

ILLEGAL_FUNCTION = 0x01
ILLEGAL_ADDRESS = 0x02
ILLEGAL_VALUE = 0x03

MAX_PDU = 253  #: function code + data (the RS-485 ADU limit of 256 bytes minus address and CRC)

READ_HOLDING, READ_INPUT, WRITE_SINGLE, WRITE_MULTIPLE, MASK_WRITE, READ_WRITE = 3, 4, 6, 16, 22, 23
SUPPORTED_FCS = frozenset({READ_HOLDING, READ_INPUT, WRITE_SINGLE, WRITE_MULTIPLE, MASK_WRITE, READ_WRITE})

_MAX_READ = 125  #: registers per read (fc 3, 4, 23 read part)
_MAX_WRITE = 123  #: registers per write (fc 16)
_MAX_RW_WRITE = 121  #: registers in the write part of fc 23


class RegisterAccess(Protocol):
    """What the application layer needs of ``RegisterImage``."""

    def read(self, address: int, count: int) -> list[int] | int:
        """Words, or an exception code (02 when a word is not mapped)."""
        ...

    def write(self, address: int, words: list[int]) -> int | None:
        """None when accepted, else an exception code."""
        ...


def request_fc(pdu: bytes) -> int:
    return pdu[0] if pdu else 0


def exception_pdu(fc: int, code: int) -> bytes:
    """The exception reply: the request's function code with the high bit set, then the code."""
    return bytes(((fc | 0x80) & 0xFF, code))


def _check(pdu: bytes) -> int | None:
    """Exception code for a malformed or unsupported request, None when it is well formed."""
    fc = pdu[0]
    if fc not in SUPPORTED_FCS:
        return ILLEGAL_FUNCTION  # includes 0, 1/2/5/15 (bit access), 8 (diagnostics), >= 0x80
    n = len(pdu)
    if fc in (READ_HOLDING, READ_INPUT):
        if n != 5:
            return ILLEGAL_VALUE
        _, count = struct.unpack_from(">HH", pdu, 1)
        return None if 1 <= count <= _MAX_READ else ILLEGAL_VALUE
    if fc == WRITE_SINGLE:
        return None if n == 5 else ILLEGAL_VALUE
    if fc == WRITE_MULTIPLE:
        if n < 6:
            return ILLEGAL_VALUE
        _, count, nbytes = struct.unpack_from(">HHB", pdu, 1)
        ok = 1 <= count <= _MAX_WRITE and nbytes == 2 * count and n == 6 + nbytes
        return None if ok else ILLEGAL_VALUE
    if fc == MASK_WRITE:
        return None if n == 7 else ILLEGAL_VALUE
    # READ_WRITE
    if n < 10:
        return ILLEGAL_VALUE
    _, rcount, _, wcount, nbytes = struct.unpack_from(">HHHHB", pdu, 1)
    ok = (1 <= rcount <= _MAX_READ and 1 <= wcount <= _MAX_RW_WRITE and nbytes == 2 * wcount
          and n == 10 + nbytes)
    return None if ok else ILLEGAL_VALUE


def _in_range(address: int, count: int) -> bool:
    return address + count <= 0x10000


def _words(data: bytes) -> list[int]:
    return list(struct.unpack(f">{len(data) // 2}H", data))


def handle_pdu(pdu: bytes, image: RegisterAccess) -> tuple[bytes, bool]:
    """(response PDU, did the write guard refuse it) for one request PDU (function code first).

    The flag tells the caller whether the refusal was already logged by the guard (``writes.py``).
    """
    code = _check(pdu) if pdu else ILLEGAL_FUNCTION
    fc = request_fc(pdu)
    if code is not None:
        return exception_pdu(fc, code), False
    if fc in (READ_HOLDING, READ_INPUT):
        address, count = struct.unpack_from(">HH", pdu, 1)
        if not _in_range(address, count):
            return exception_pdu(fc, ILLEGAL_ADDRESS), False
        words = image.read(address, count)
        if isinstance(words, int):
            return exception_pdu(fc, words), False
        return struct.pack(f">BB{count}H", fc, 2 * count, *words), False
    if fc == WRITE_SINGLE:
        address, value = struct.unpack_from(">HH", pdu, 1)
        result = image.write(address, [value])
        return (pdu, False) if result is None else (exception_pdu(fc, result), True)
    if fc == WRITE_MULTIPLE:
        address, count = struct.unpack_from(">HH", pdu, 1)
        if not _in_range(address, count):
            return exception_pdu(fc, ILLEGAL_ADDRESS), False
        result = image.write(address, _words(pdu[6:]))
        return (pdu[:5], False) if result is None else (exception_pdu(fc, result), True)
    if fc == MASK_WRITE:
        address, and_mask, or_mask = struct.unpack_from(">HHH", pdu, 1)
        current = image.read(address, 1)
        if isinstance(current, int):
            return exception_pdu(fc, current), False
        value = (current[0] & and_mask) | (or_mask & ~and_mask & 0xFFFF)
        result = image.write(address, [value])
        return (pdu, False) if result is None else (exception_pdu(fc, result), True)
    # READ_WRITE: the write is performed before the read (spec 6.17)
    raddr, rcount, waddr, wcount = struct.unpack_from(">HHHH", pdu, 1)
    if not (_in_range(raddr, rcount) and _in_range(waddr, wcount)):
        return exception_pdu(fc, ILLEGAL_ADDRESS), False
    result = image.write(waddr, _words(pdu[10:]))
    if result is not None:
        return exception_pdu(fc, result), True
    words = image.read(raddr, rcount)
    if isinstance(words, int):
        return exception_pdu(fc, words), False
    return struct.pack(f">BB{rcount}H", fc, 2 * rcount, *words), False
