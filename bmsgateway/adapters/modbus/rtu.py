"""Modbus RTU on a serial line: framing that resynchronises after noise, unit filtering, replies.

Why our own framer (issue 16): RTU has no length header; frames are delimited by silence and
checked by their CRC. pymodbus 3.16's RTU framer drops the whole receive buffer on a CRC error,
so a truncated frame followed by a valid one loses the valid one too. Here:

* frames of the function codes we know are sized from their header and accepted only with a
  valid CRC; when the bytes at the front do not form one, the framer *hunts* byte by byte for
  the next position where a complete frame with a valid CRC starts (false match chance 2^-16);
* after a silence of ``gap_s`` (3.5 character times, at least ``_MIN_GAP_S`` since ptys and USB
  adapters deliver in bursts) whatever is left is one frame: answered as an unsupported function
  (01) when its CRC is valid and it is for us, otherwise dropped as garbage;
* dropped garbage counts as a protocol error (``ModbusStats.protocol_errors``); nothing is logged
  per byte (rate-limited, no payloads).

Requests for another unit id get no answer at all (RS-485 is a shared bus), nor do broadcasts
(unit 0): a gateway must never act on a write it cannot confirm.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import serial

from bmsgateway.adapters.modbus.image import RegisterImage

__all__ = ["RtuFramer", "RtuServer", "crc16"]

_MIN_GAP_S = 0.02
_MAX_BUFFER = 512


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc_table()


def crc16(data: bytes | bytearray | memoryview) -> bytes:
    """Modbus CRC-16 (poly 0xA001, init 0xFFFF), low byte first as sent on the line."""
    crc = 0xFFFF
    for b in data:
        crc = (crc >> 8) ^ _TABLE[(crc ^ b) & 0xFF]
    return bytes((crc & 0xFF, crc >> 8))


def _frame_size(buf: bytearray, p: int) -> int | None:
    """Size of the request frame (address .. CRC) starting at ``p``, None when unknown or not yet known."""
    n = len(buf) - p
    if n < 2:
        return None
    fc = buf[p + 1]
    if fc in (1, 2, 3, 4, 5, 6, 8):
        return 8
    if fc in (7, 11, 12, 17):
        return 4
    if fc == 22:
        return 10
    if fc in (15, 16):
        return 9 + buf[p + 6] if n > 6 else None
    if fc == 23:
        return 13 + buf[p + 10] if n > 10 else None
    return None


class RtuFramer:
    """Splits a byte stream into CRC-checked frames; counts what it had to throw away."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.dropped = 0  #: garbage runs discarded (each counted once)

    def feed(self, data: bytes) -> list[bytes]:
        """Frames (address + PDU, CRC stripped) completed by ``data``."""
        self.buf += data
        if len(self.buf) > _MAX_BUFFER:
            del self.buf[: len(self.buf) - _MAX_BUFFER]
            self.dropped += 1
        frames: list[bytes] = []
        buf = self.buf
        pos = 0
        while True:
            found: tuple[int, int] | None = None
            for p in range(pos, len(buf) - 3):
                size = _frame_size(buf, p)
                if size is None or p + size > len(buf):
                    continue
                if crc16(memoryview(buf)[p : p + size - 2]) == buf[p + size - 2 : p + size]:
                    found = (p, size)
                    break
            if found is None:
                break
            p, size = found
            if p > pos:
                self.dropped += 1
            frames.append(bytes(buf[p : p + size - 2]))
            pos = p + size
        del buf[:pos]
        return frames

    def silence(self) -> bytes | None:
        """The line went quiet: the rest is one frame (CRC-valid, unknown function) or garbage."""
        buf, self.buf = self.buf, bytearray()
        if len(buf) >= 4 and crc16(buf[:-2]) == buf[-2:]:
            return bytes(buf[:-2])
        if buf:
            self.dropped += 1
        return None


class RtuServer:
    """Serves one serial port until it fails (``run`` raises) or is cancelled."""

    def __init__(self, image: RegisterImage, unit_id: int, port: str, baudrate: int, parity: str,
                 stopbits: int, on_connected: Callable[[], None] = lambda: None) -> None:
        self._image = image
        self._unit_id = unit_id
        self._port = port
        self._settings = {"baudrate": baudrate, "parity": parity, "stopbits": stopbits, "bytesize": 8}
        # 3.5 characters of 11 bits (start, 8 data, parity or 2nd stop, stop)
        self._gap_s = max(_MIN_GAP_S, 3.5 * 11 / baudrate)
        self._framer = RtuFramer()
        self._on_connected = on_connected

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        ser = serial.Serial(self._port, timeout=0, write_timeout=1.0, **self._settings)
        failed: asyncio.Future[None] = loop.create_future()
        timer: asyncio.TimerHandle | None = None
        fd = ser.fileno()

        def on_silence() -> None:
            frame = self._framer.silence()
            if frame is not None:
                self._answer(ser, frame)
            self._sync_errors()

        def on_readable() -> None:
            nonlocal timer
            try:
                data = ser.read(4096)
            except (OSError, serial.SerialException) as exc:
                if not failed.done():
                    failed.set_exception(OSError(f"serial port {self._port}: {exc}"))
                return
            if not data:
                return
            if timer is not None:
                timer.cancel()
            for frame in self._framer.feed(data):
                self._answer(ser, frame)
            self._sync_errors()
            timer = loop.call_later(self._gap_s, on_silence) if self._framer.buf else None

        loop.add_reader(fd, on_readable)
        try:
            self._on_connected()
            await failed
        finally:
            if timer is not None:
                timer.cancel()
            loop.remove_reader(fd)
            with contextlib.suppress(Exception):
                ser.close()

    def _sync_errors(self) -> None:
        if self._framer.dropped:
            self._image.stats.protocol_errors += self._framer.dropped
            self._image.limited_log("modbus_framing_error", transport="rtu", dropped=self._framer.dropped)
            self._framer.dropped = 0

    def _answer(self, ser: serial.Serial, frame: bytes) -> None:
        unit, pdu = frame[0], frame[1:]
        if unit != self._unit_id:
            return
        reply = self._image.answer(pdu)
        adu = bytes((unit,)) + reply
        ser.write(adu + crc16(adu))
