"""One python-can bus from ``[can]``, with error counting, bus-off handling and back-off.

Why this wrapper: the pack cycle shares the event loop with the inverter adapter, so nothing here
may block. Sends never wait (socketcan sockets are made non-blocking; a full queue is an error
that is counted), receives only drain what is already there, and a bus that fails (interface
missing, bus-off, too many errors in a row) is closed and reopened after a back-off that doubles
from ``can.retry_initial_s`` to ``can.retry_max_s``. Each failure is logged once per state change
and counted; the pack cycle never sees it.

The optional candump log (``can.log_path``) is written by python-can's own
``CanutilsLogWriter`` in a thread of its own, fed by a queue: a slow SD card delays nothing.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

import can
import structlog

from bmsgateway.config.can import CanConfig

__all__ = ["BusCounters", "BusLink", "FrameLog", "open_bus"]

log = structlog.get_logger("can")

#: SocketCAN error-frame class bit for bus-off (linux/can/error.h CAN_ERR_BUSOFF).
_CAN_ERR_BUSOFF = 0x40
#: Errors in a row after which the bus is closed and reopened.
_MAX_ERRORS_IN_ROW = 5


def open_bus(cfg: CanConfig, receive_own_messages: bool = False) -> can.BusABC:
    """A python-can bus for ``[can]`` (raises ``can.CanError`` / ``OSError`` when it cannot open)."""
    kwargs: dict[str, Any] = {"interface": cfg.interface, "channel": cfg.channel}
    if cfg.interface == "socketcan":
        kwargs["bitrate"] = cfg.bitrate
    if cfg.interface in ("virtual", "udp_multicast"):
        kwargs["receive_own_messages"] = receive_own_messages
    bus = can.Bus(**kwargs)
    sock = getattr(bus, "socket", None)
    if cfg.interface == "socketcan" and sock is not None:
        sock.setblocking(False)
    return bus


class FrameLog:
    """candump-format log of frames, written from a thread of its own."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._queue: queue.SimpleQueue[can.Message | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._write, name="bmsgateway.can.log", daemon=True)
        self._thread.start()

    def add(self, msg: can.Message) -> None:
        self._queue.put(msg)

    def _write(self) -> None:
        try:
            writer = can.CanutilsLogWriter(self.path, channel="can0", append=True)
        except OSError as exc:
            log.error("can_log_unwritable", path=self.path, error=str(exc))
            return
        try:
            while (msg := self._queue.get()) is not None:
                writer.on_message_received(msg)
                if self._queue.empty():
                    writer.file.flush()
        finally:
            writer.stop()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=2.0)


@dataclass
class BusCounters:
    """What went wrong on the bus since start (shown by the CANopen node and the bench)."""

    frames_sent: int = 0
    frames_received: int = 0
    send_errors: int = 0
    bus_off: int = 0
    reopens: int = 0
    open_failures: int = 0


class BusLink:
    """A bus that is open or being retried; ``send`` and ``drain`` never block."""

    def __init__(self, cfg: CanConfig, name: str, frame_log: FrameLog | None = None) -> None:
        self.cfg = cfg
        self.name = name
        self.counters = BusCounters()
        self.bus: can.BusABC | None = None
        self._log = frame_log
        self._retry_at = 0.0
        self._backoff_s = cfg.retry_initial_s
        self._errors_in_row = 0

    @property
    def is_open(self) -> bool:
        return self.bus is not None

    def ensure_open(self) -> bool:
        """Open the bus if it is closed and its retry time has come; True when open."""
        if self.bus is not None:
            return True
        now = time.monotonic()
        if now < self._retry_at:
            return False
        try:
            self.bus = open_bus(self.cfg)
        except (can.CanError, OSError, ValueError, ImportError) as exc:
            self.counters.open_failures += 1
            self._schedule_retry(now)
            log.warning("can_open_failed", adapter=self.name, interface=self.cfg.interface,
                        channel=self.cfg.channel, error=str(exc), retry_in_s=round(self._backoff_s, 1))
            return False
        if self.counters.open_failures or self.counters.reopens:
            log.info("can_bus_open", adapter=self.name, channel=self.cfg.channel)
        self._errors_in_row = 0
        return True

    def _schedule_retry(self, now: float) -> None:
        self._retry_at = now + self._backoff_s
        self._backoff_s = min(self._backoff_s * 2.0, self.cfg.retry_max_s)

    def _fail(self, reason: str) -> None:
        """Close the bus and retry after the back-off."""
        log.warning("can_bus_reset", adapter=self.name, reason=reason, retry_in_s=round(self._backoff_s, 1))
        self.close()
        self.counters.reopens += 1
        self._schedule_retry(time.monotonic())

    def send(self, can_id: int, data: bytes) -> bool:
        """Queue one frame for sending; False (and counted) when it could not be."""
        if self.bus is None:
            return False
        msg = can.Message(arbitration_id=can_id, data=data, is_extended_id=False)
        try:
            self.bus.send(msg, timeout=0)
        except (can.CanError, OSError) as exc:
            self.counters.send_errors += 1
            self._errors_in_row += 1
            if self._errors_in_row == 1:
                log.warning("can_send_failed", adapter=self.name, can_id=hex(can_id), error=str(exc))
            if self._errors_in_row >= _MAX_ERRORS_IN_ROW:
                self._fail(f"{self._errors_in_row} send errors in a row")
            return False
        if self._errors_in_row:
            log.info("can_send_recovered", adapter=self.name, errors=self._errors_in_row)
        self._errors_in_row = 0
        self._backoff_s = self.cfg.retry_initial_s
        self.counters.frames_sent += 1
        if self._log is not None:
            msg.timestamp = time.time()
            self._log.add(msg)
        return True

    def drain(self, limit: int = 1000) -> list[can.Message]:
        """Frames already received (at most ``limit``); error frames are counted, bus-off resets."""
        if self.bus is None:
            return []
        out: list[can.Message] = []
        try:
            for _ in range(limit):
                msg = self.bus.recv(timeout=0)
                if msg is None:
                    break
                if msg.is_error_frame:
                    if msg.arbitration_id & _CAN_ERR_BUSOFF:
                        self.counters.bus_off += 1
                        self._fail("bus-off")
                        break
                    continue
                self.counters.frames_received += 1
                if self._log is not None:
                    self._log.add(msg)
                out.append(msg)
        except (can.CanError, OSError) as exc:
            self._fail(f"receive failed: {exc}")
        return out

    def close(self) -> None:
        bus, self.bus = self.bus, None
        if bus is not None:
            try:
                bus.shutdown()
            except (can.CanError, OSError) as exc:  # already broken: nothing more to do
                log.debug("can_shutdown_failed", error=str(exc))

    @property
    def retry_in_s(self) -> float:
        return 0.0 if self.bus is not None else max(0.0, self._retry_at - time.monotonic())

