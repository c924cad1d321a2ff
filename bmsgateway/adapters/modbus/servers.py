"""The TCP and RTU servers of one register image, run on whichever loop calls ``run``.

Serial errors (port missing, unplugged, permission) are logged and retried with a doubling
back-off; they never end ``run`` and never reach the daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Sequence
from typing import Any, cast

import structlog
from pymodbus.pdu import ModbusPDU
from pymodbus.server import ModbusSerialServer, ModbusTcpServer

from bmsgateway.adapters.modbus.image import RegisterImage
from bmsgateway.config.model import Config

__all__ = ["Servers"]

log = structlog.get_logger("modbus")


class _UnitFilter:
    """RTU is a shared bus: requests for another unit id must get no answer at all."""

    def __init__(self, unit_id: int) -> None:
        self.unit_id = unit_id

    def __call__(self, sending: bool, pdu: ModbusPDU) -> ModbusPDU | None:
        if not sending and pdu.dev_id != self.unit_id:
            return None  # pymodbus drops a request whose traced PDU is None
        return pdu


def _bound_port(server: Any) -> int | None:
    """The port a listening server got (an asyncio ``Server`` in pymodbus' ``transport``)."""
    transport = getattr(server, "transport", None)
    sockets = getattr(transport, "sockets", None) or ()
    for sock in sockets:
        name: Sequence[Any] = sock.getsockname()
        return int(name[1])
    return None


class Servers:
    """TCP and/or RTU per config; ``on_status`` hears the TCP port once and RTU up/down changes."""

    def __init__(self, config: Config, image: RegisterImage,
                 on_status: Callable[[str, Any], None] = lambda kind, value: None) -> None:
        self._config = config
        self._image = image
        self._on_status = on_status

    async def run(self, stop: asyncio.Event) -> None:
        cfg = self._config.modbus
        tcp: ModbusTcpServer | None = None
        rtu_task: asyncio.Task[None] | None = None
        try:
            if cfg.tcp.enabled:
                tcp = ModbusTcpServer(self._image.device(), address=(cfg.tcp.host, cfg.tcp.port))
                await tcp.serve_forever(background=True)
                port = _bound_port(tcp)
                log.info("modbus_tcp_listening", host=cfg.tcp.host, port=port)
                self._on_status("tcp_port", port)
            if cfg.rtu.enabled:
                rtu_task = asyncio.create_task(self._rtu_supervisor())
            self._on_status("ready", True)
            await stop.wait()
        finally:
            if rtu_task is not None:
                rtu_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await rtu_task
            if tcp is not None:
                await tcp.shutdown()  # type: ignore[no-untyped-call]

    async def _rtu_supervisor(self) -> None:
        """Open the serial port, watch it, and reopen with doubling back-off after any error."""
        rtu = self._config.modbus.rtu
        delay_s = rtu.retry_initial_s
        while True:
            server: ModbusSerialServer | None = None
            try:
                if not os.path.exists(rtu.port):
                    raise OSError(f"serial port {rtu.port} does not exist")
                server = ModbusSerialServer(
                    self._image.device(), port=rtu.port, baudrate=rtu.baudrate, parity=rtu.parity,
                    stopbits=rtu.stopbits, bytesize=8,
                    # returning None from trace_pdu drops the request (typed as returning a PDU)
                    trace_pdu=cast(Any, _UnitFilter(self._config.modbus.unit_id)),
                )
                await server.serve_forever(background=True)
                self._on_status("rtu_connected", True)
                log.info("modbus_rtu_listening", port=rtu.port, baudrate=rtu.baudrate, parity=rtu.parity,
                         stopbits=rtu.stopbits, unit_id=self._config.modbus.unit_id)
                delay_s = rtu.retry_initial_s
                while os.path.exists(rtu.port) and server.transport is not None:
                    await asyncio.sleep(0.5)
                raise OSError(f"serial port {rtu.port} lost")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a serial problem must never stop the daemon
                self._on_status("rtu_connected", False)
                log.error("modbus_rtu_error", port=rtu.port, error=str(exc), retry_in_s=delay_s)
            finally:
                if server is not None:
                    with contextlib.suppress(Exception):
                        await server.shutdown()  # type: ignore[no-untyped-call]
            await asyncio.sleep(delay_s)
            delay_s = min(rtu.retry_max_s, delay_s * 2)
