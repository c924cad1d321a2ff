"""Modbus TCP server: MBAP framing, one connection per client, bounded in time and number.

Why each rule (issue 16):

* **Close on a framing error.** A protocol id other than 0 or a length field outside 2..254 means
  the byte stream can no longer be split into frames; guessing where the next frame starts would
  risk executing a write built from the middle of another. The Modbus TCP norm is to close; the
  master reconnects at once instead of timing out on requests that are silently dropped.
* **Well-framed but invalid requests** get the exception reply of ``pdu.handle_pdu`` and the
  connection stays usable.
* **Timeouts.** A connection idle for ``modbus.tcp.idle_timeout_s``, or holding an incomplete frame
  for ``modbus.tcp.frame_timeout_s`` (slowloris, half-open), is closed.
* **Cap.** Beyond ``modbus.tcp.max_connections`` a new connection is closed as soon as it is accepted
  (counted in ``connections_refused``), so the server cannot be exhausted by idle sockets.

Requests on one connection are answered in order, synchronously on the server loop (the image
is in memory; a write that needs the daemon waits on its pipe at most ``_RPC_TIMEOUT_S``).
"""

from __future__ import annotations

import asyncio
import struct

import structlog

from bmsgateway.adapters.modbus.image import RegisterImage
from bmsgateway.adapters.modbus.pdu import MAX_PDU
from bmsgateway.config.modbus import ModbusTcpConfig

__all__ = ["TcpServer"]

log = structlog.get_logger("modbus")

_HEADER = 7  #: transaction id, protocol id, length, unit id
_MAX_LENGTH = 1 + MAX_PDU  #: unit id + PDU


class _Connection(asyncio.Protocol):
    def __init__(self, server: TcpServer) -> None:
        self._server = server
        self._buf = bytearray()
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._loop = asyncio.get_running_loop()

    # --- asyncio.Protocol ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        stats = self._server.image.stats
        if len(self._server.connections) >= self._server.config.max_connections:
            stats.connections_refused += 1
            self._server.image.limited_log("modbus_connection_refused", open=len(self._server.connections),
                                           max_connections=self._server.config.max_connections)
            transport.abort()
            return
        self._server.connections.add(self)
        stats.connections_accepted += 1
        stats.connections_open = len(self._server.connections)
        self._arm(self._server.config.idle_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._server.connections.discard(self)
        self._server.image.stats.connections_open = len(self._server.connections)
        self._transport = None

    def data_received(self, data: bytes) -> None:
        self._buf += data
        buf = self._buf
        used = 0
        while self._transport is not None and len(buf) - used >= _HEADER:
            tid, pid, length, unit = struct.unpack_from(">HHHB", buf, used)
            if pid != 0 or not 2 <= length <= _MAX_LENGTH:
                self._framing_error(pid=pid, length=length)
                return
            end = used + 6 + length
            if len(buf) < end:
                break
            pdu = bytes(buf[used + _HEADER : end])
            used = end
            reply = self._server.image.answer(pdu)
            self._transport.write(struct.pack(">HHHB", tid, 0, len(reply) + 1, unit) + reply)
        del buf[:used]
        if self._transport is not None:
            # an incomplete frame must complete within the frame timeout; otherwise the idle timeout runs
            self._arm(self._server.config.frame_timeout_s if buf else self._server.config.idle_timeout_s)

    # --- helpers --------------------------------------------------------------------------------
    def _arm(self, seconds: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_later(seconds, self._timed_out)

    def _timed_out(self) -> None:
        if self._transport is None:
            return
        self._server.image.stats.connections_timed_out += 1
        partial = bool(self._buf)
        self._server.image.limited_log("modbus_connection_timeout", level="info",
                                       reason="incomplete frame" if partial else "idle")
        self._transport.abort()

    def _framing_error(self, pid: int, length: int) -> None:
        stats = self._server.image.stats
        stats.protocol_errors += 1
        stats.connections_closed_on_error += 1
        self._server.image.limited_log("modbus_framing_error", transport="tcp", protocol_id=pid, length=length)
        self._buf.clear()
        assert self._transport is not None
        self._transport.close()


class TcpServer:
    """Listens on ``host:port``; bound by ``bind`` (errors surface at start), serving from ``serve``."""

    def __init__(self, config: ModbusTcpConfig, image: RegisterImage) -> None:
        self.config = config
        self.image = image
        self.connections: set[_Connection] = set()
        self._server: asyncio.Server | None = None

    async def bind(self) -> int:
        """Bind the socket without accepting yet (connection attempts are refused); returns the port."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self), self.config.host, self.config.port,
                                                start_serving=False, reuse_address=True)
        return int(self._server.sockets[0].getsockname()[1])

    async def serve(self) -> None:
        assert self._server is not None
        await self._server.start_serving()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for conn in list(self.connections):
                if conn._transport is not None:
                    conn._transport.abort()
            await self._server.wait_closed()
