"""The TCP and RTU servers of one register image, run on whichever loop calls ``run``.

The TCP socket is bound at start (a taken port fails ``start``), but connections are accepted
only once the first snapshot exists: before it every live point would read "not available"
(SunSpec ``Evt1`` all ones, mandatory points not implemented), which a master could act on.
The RTU port likewise opens only then.

Serial errors (port missing, unplugged, permission) are logged and retried with a doubling
back-off; they never end ``run`` and never reach the daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from typing import Any

import structlog

from bmsgateway.adapters.modbus.image import RegisterImage
from bmsgateway.adapters.modbus.rtu import RtuServer
from bmsgateway.adapters.modbus.tcp import TcpServer
from bmsgateway.config.model import Config

__all__ = ["Servers"]

log = structlog.get_logger("modbus")

_SNAPSHOT_POLL_S = 0.005
_STATS_PERIOD_S = 0.25


class Servers:
    """TCP and/or RTU per config; ``on_status`` hears the TCP port, RTU up/down, ready, stats."""

    def __init__(self, config: Config, image: RegisterImage,
                 on_status: Callable[[str, Any], None] = lambda kind, value: None) -> None:
        self._config = config
        self._image = image
        self._on_status = on_status

    async def run(self, stop: asyncio.Event) -> None:
        cfg = self._config.modbus
        tcp: TcpServer | None = None
        tasks: list[asyncio.Task[None]] = []
        try:
            if cfg.tcp.enabled:
                tcp = TcpServer(cfg.tcp, self._image)
                port = await tcp.bind()
                self._on_status("tcp_port", port)
            self._on_status("ready", True)
            tasks.append(asyncio.create_task(self._report_stats()))
            while not self._image.has_snapshot() and not stop.is_set():
                await asyncio.sleep(_SNAPSHOT_POLL_S)
            if stop.is_set():
                return
            if tcp is not None:
                await tcp.serve()
                log.info("modbus_tcp_listening", host=cfg.tcp.host, port=port,
                         max_connections=cfg.tcp.max_connections, idle_timeout_s=cfg.tcp.idle_timeout_s)
            if cfg.rtu.enabled:
                tasks.append(asyncio.create_task(self._rtu_supervisor()))
            self._on_status("serving", True)
            await stop.wait()
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if tcp is not None:
                await tcp.close()
            self._image.limited_log.flush()
            self._on_status("stats", self._image.stats.as_dict())

    async def _report_stats(self) -> None:
        """Push the counters to the daemon when they change; flush rate-limited log summaries."""
        last: dict[str, int] = {}
        while True:
            await asyncio.sleep(_STATS_PERIOD_S)
            now = self._image.stats.as_dict()
            if now != last:
                self._on_status("stats", now)
                last = now
            self._image.limited_log.flush()

    async def _rtu_supervisor(self) -> None:
        """Open the serial port, serve it, and reopen with doubling back-off after any error."""
        rtu = self._config.modbus.rtu
        unit_id = self._config.modbus.unit_id
        delay_s = rtu.retry_initial_s
        while True:
            try:
                if not os.path.exists(rtu.port):
                    raise OSError(f"serial port {rtu.port} does not exist")

                def connected() -> None:
                    nonlocal delay_s
                    delay_s = rtu.retry_initial_s
                    self._on_status("rtu_connected", True)
                    log.info("modbus_rtu_listening", port=rtu.port, baudrate=rtu.baudrate, parity=rtu.parity,
                             stopbits=rtu.stopbits, unit_id=unit_id)

                server = RtuServer(self._image, unit_id, rtu.port, rtu.baudrate, rtu.parity, rtu.stopbits,
                                   connected)
                serving = asyncio.create_task(server.run())
                try:
                    while not serving.done():
                        if not os.path.exists(rtu.port):
                            raise OSError(f"serial port {rtu.port} lost")
                        await asyncio.wait({serving}, timeout=0.5)
                    serving.result()  # raises the serial error
                finally:
                    serving.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await serving
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a serial problem must never stop the daemon
                self._on_status("rtu_connected", False)
                log.error("modbus_rtu_error", port=rtu.port, error=str(exc), retry_in_s=delay_s)
            await asyncio.sleep(delay_s)
            delay_s = min(rtu.retry_max_s, delay_s * 2)
