"""The Modbus adapter: TCP and RTU servers in their own thread, answering from the latest snapshot.

Isolation design (measured with ``bmsgateway bench modbus``): the servers run in a dedicated
thread with its own asyncio loop, so request handling never queues behind -- or in front of --
the pack cycle's callbacks. The adapter only *reads* ``store.latest`` (an immutable object) and
``settings.config``; it encodes the register image at most once per new snapshot or config, in
its own thread, and every read is a slice of that image. Writes go to
``SettingsStore.propose`` / ``RequestQueue`` (both thread-safe) and never touch the loop.

pymodbus API used: ``SimDevice``/``SimData`` with an ``action`` hook (the datastore API that
replaces ``ModbusDeviceContext`` in pymodbus 4). Addresses are 0-based PDU addresses end to end;
there is no +1 offset anywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import threading
from collections.abc import Sequence
from typing import Any, cast

import structlog
from pymodbus.constants import ExcCodes
from pymodbus.pdu import ModbusPDU
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import SimData, SimDevice
from pymodbus.simulator.simutils import DataType

from bmsgateway.adapters.modbus.bmsmap import WRITE_BASE, bms_registers
from bmsgateway.adapters.modbus.sunspec import sunspec_registers
from bmsgateway.adapters.modbus.table import EncodeContext, Register, RegisterTable
from bmsgateway.adapters.modbus.writes import WriteHandler
from bmsgateway.clock import Clock, RealClock
from bmsgateway.config.modbus import DEFAULT_PIN
from bmsgateway.config.model import Config
from bmsgateway.requests import RequestQueue
from bmsgateway.settings import SettingsStore
from bmsgateway.state import PackState
from bmsgateway.store import SnapshotStore

__all__ = ["ModbusAdapter", "RegisterImage", "build_registers"]

log = structlog.get_logger("modbus")

_WRITE_FCS = frozenset({6, 16, 22, 23})
_REGISTER_FCS = frozenset({3, 4}) | _WRITE_FCS
_UNLOCK_STATUS = WRITE_BASE + 1


def build_registers(config: Config) -> list[Register]:
    """Every register the device serves: the bmsgateway map plus, if enabled, the SunSpec chain."""
    rows = bms_registers()
    if config.modbus.sunspec.enabled:
        rows += sunspec_registers(config)
    return rows


class RegisterImage:
    """The encoded words of the whole table and the ``action`` hook pymodbus calls per request."""

    def __init__(
        self,
        config: Config,
        store: SnapshotStore,
        settings: SettingsStore,
        requests: RequestQueue,
        clock: Clock,
        started_s: float,
    ) -> None:
        self._store = store
        self._settings = settings
        self._clock = clock
        self._started_s = started_s
        self.table = RegisterTable(build_registers(config))
        # one table per contiguous block, so that encoding never walks the gap between blocks
        self._blocks = [RegisterTable(rows) for rows in _contiguous(self.table.registers)]
        self.writes = WriteHandler(self.table, settings, requests, config.modbus.pin,
                                   config.modbus.unlock_timeout_s, clock)
        self._key: tuple[PackState | None, Config] | None = None
        self._words: list[tuple[int, list[int]]] = []
        self._loaded: dict[int, tuple[PackState | None, Config]] = {}
        self.encodes = 0

    def simdata(self) -> list[SimData]:
        """Contiguous blocks (bmsgateway map, SunSpec) as pymodbus register blocks."""
        return [SimData(b.start, count=b.end - b.start, values=0, datatype=DataType.REGISTERS) for b in self._blocks]

    def current_words(self) -> list[tuple[int, list[int]]]:
        """(start address, words) per block for the latest snapshot and config, encoded once per change."""
        key = (self._store.latest, self._settings.config)
        if self._key is None or key[0] is not self._key[0] or key[1] is not self._key[1]:
            ctx = EncodeContext(key[0], key[1], self._clock.now() - self._started_s)
            self._words = [(b.start, b.encode(ctx)) for b in self._blocks]
            self._key = key
            self.encodes += 1
        return self._words

    def _load(self, registers: list[int], start_address: int) -> None:
        blocks = self.current_words()
        assert self._key is not None
        if self._loaded.get(id(registers)) is not self._key:
            for start, words in blocks:
                off = start - start_address
                registers[off : off + len(words)] = words
            self._loaded[id(registers)] = self._key
        pos = _UNLOCK_STATUS - start_address
        if 0 <= pos < len(registers):
            registers[pos] = min(0xFFFE, math.ceil(self.writes.unlock_remaining_s()))

    async def action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        """pymodbus hook: refresh the image, refuse bit access, route writes through the guard."""
        if function_code not in _REGISTER_FCS:
            return ExcCodes.ILLEGAL_FUNCTION  # coils / discrete inputs would alias register bits
        self._load(registers, start_address)
        if function_code in _WRITE_FCS and set_values is not None:
            words = [int(v) for v in set_values]
            code = self.writes.write(address, words)
            if code is not None:
                return ExcCodes(code)
            self._load(registers, start_address)  # config may have changed: show the new values
            off = address - start_address
            set_values[:] = registers[off : off + len(words)]  # type: ignore[assignment]
        return None


def _contiguous(rows: Sequence[Register]) -> list[list[Register]]:
    """Split address-sorted rows into runs without gaps."""
    runs: list[list[Register]] = []
    for reg in rows:
        if runs and runs[-1][-1].end == reg.address:
            runs[-1].append(reg)
        else:
            runs.append([reg])
    return runs


class _UnitFilter:
    """RTU is a shared bus: requests for another unit id must get no answer at all."""

    def __init__(self, unit_id: int) -> None:
        self.unit_id = unit_id

    def __call__(self, sending: bool, pdu: ModbusPDU) -> ModbusPDU | None:
        if not sending and pdu.dev_id != self.unit_id:
            return None
        return pdu


class ModbusAdapter:
    """Serves the register table over TCP and/or RTU from a background thread.

    ``await start()`` returns once the enabled servers listen (a missing serial port does not
    fail start: it is retried in the background); ``await stop()`` closes them and joins the
    thread. Neither blocks the caller's loop for longer than the thread start/join.
    """

    def __init__(
        self,
        config: Config,
        store: SnapshotStore,
        settings: SettingsStore,
        requests: RequestQueue,
        *,
        clock: Clock | None = None,
        started_s: float | None = None,
    ) -> None:
        self._config = config
        self._clock = clock or RealClock()
        started = self._clock.now() if started_s is None else started_s
        self.image = RegisterImage(config, store, settings, requests, self._clock, started)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._start_error: BaseException | None = None
        self.tcp_port: int | None = None  #: bound TCP port (useful with port 0)
        self.rtu_connected = False

    async def start(self) -> None:
        if self._config.modbus.pin == DEFAULT_PIN:
            log.warning("modbus_default_pin", pin=DEFAULT_PIN,
                        hint="set modbus.pin in the config file; anyone on the network can unlock writes")
        self._thread = threading.Thread(target=self._run, name="modbus", daemon=True)
        self._thread.start()
        await asyncio.to_thread(self._ready.wait, 10.0)
        if self._start_error is not None:
            await self.stop()
            raise RuntimeError(f"modbus adapter failed to start: {self._start_error}")

    async def stop(self) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 10.0)
            self._thread = None

    # --- the adapter thread ------------------------------------------------------------------
    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:
            self._start_error = exc
            log.error("modbus_thread_failed", error=repr(exc))
        finally:
            self._ready.set()

    def _device(self) -> SimDevice:
        return SimDevice(0, simdata=self.image.simdata(), action=self.image.action)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        cfg = self._config.modbus
        tcp: ModbusTcpServer | None = None
        rtu_task: asyncio.Task[None] | None = None
        try:
            if cfg.tcp.enabled:
                tcp = ModbusTcpServer(self._device(), address=(cfg.tcp.host, cfg.tcp.port))
                await tcp.serve_forever(background=True)
                self.tcp_port = _bound_port(tcp)
                log.info("modbus_tcp_listening", host=cfg.tcp.host, port=self.tcp_port)
            if cfg.rtu.enabled:
                rtu_task = asyncio.create_task(self._rtu_supervisor())
            self._ready.set()
            await self._stop.wait()
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
                    self._device(), port=rtu.port, baudrate=rtu.baudrate, parity=rtu.parity,
                    stopbits=rtu.stopbits, bytesize=8,
                    # returning None from trace_pdu drops the request (typed as returning a PDU)
                    trace_pdu=cast(Any, _UnitFilter(self._config.modbus.unit_id)),
                )
                await server.serve_forever(background=True)
                self.rtu_connected = True
                log.info("modbus_rtu_listening", port=rtu.port, baudrate=rtu.baudrate, parity=rtu.parity,
                         stopbits=rtu.stopbits, unit_id=self._config.modbus.unit_id)
                delay_s = rtu.retry_initial_s
                while os.path.exists(rtu.port) and server.transport is not None:
                    await asyncio.sleep(1.0)
                raise OSError(f"serial port {rtu.port} lost")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.rtu_connected = False
                log.error("modbus_rtu_error", port=rtu.port, error=str(exc), retry_in_s=delay_s)
            finally:
                if server is not None:
                    with contextlib.suppress(Exception):
                        await server.shutdown()  # type: ignore[no-untyped-call]
            await asyncio.sleep(delay_s)
            delay_s = min(rtu.retry_max_s, delay_s * 2)


def _bound_port(server: Any) -> int | None:
    """The port a listening server got (an asyncio ``Server`` in pymodbus' ``transport``)."""
    transport = getattr(server, "transport", None)
    sockets = getattr(transport, "sockets", None) or ()
    for sock in sockets:
        name: Sequence[Any] = sock.getsockname()
        return int(name[1])
    return None

