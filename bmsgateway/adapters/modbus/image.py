"""The encoded register image and the per-request ``action`` hook pymodbus calls.

Why an image: a read is then a slice of a list, whatever the map contains. The image is
re-encoded at most once per new snapshot or config object, and only when a request comes in
(an idle server encodes nothing). pymodbus API used: ``SimDevice``/``SimData`` with an ``action``
hook, the datastore API that replaces ``ModbusDeviceContext`` in pymodbus 4. Addresses are 0-based
PDU addresses end to end; there is no +1 offset anywhere.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Protocol

from pymodbus.constants import ExcCodes
from pymodbus.simulator import SimData, SimDevice
from pymodbus.simulator.simutils import DataType

from bmsgateway.adapters.modbus.bmsmap import WRITE_BASE, bms_registers
from bmsgateway.adapters.modbus.sunspec import sunspec_registers
from bmsgateway.adapters.modbus.table import EncodeContext, Register, RegisterTable
from bmsgateway.adapters.modbus.writes import RequestSink, SettingsPort, WriteHandler
from bmsgateway.clock import Clock
from bmsgateway.config.model import Config
from bmsgateway.state import PackState

__all__ = ["RegisterImage", "StateSource", "build_registers"]

_WRITE_FCS = frozenset({6, 16, 22, 23})
_REGISTER_FCS = frozenset({3, 4}) | _WRITE_FCS
_UNLOCK_STATUS = WRITE_BASE + 1


class StateSource(Protocol):
    """What the adapter needs of ``SnapshotStore``: the latest immutable snapshot."""

    @property
    def latest(self) -> PackState | None: ...


def build_registers(config: Config) -> list[Register]:
    """Every register the device serves: the bmsgateway map plus, if enabled, the SunSpec chain."""
    rows = bms_registers()
    if config.modbus.sunspec.enabled:
        rows += sunspec_registers(config)
    return rows


def _contiguous(rows: Sequence[Register]) -> list[list[Register]]:
    """Split address-sorted rows into runs without gaps."""
    runs: list[list[Register]] = []
    for reg in rows:
        if runs and runs[-1][-1].end == reg.address:
            runs[-1].append(reg)
        else:
            runs.append([reg])
    return runs


class RegisterImage:
    """The encoded words of the whole table, and the write guard."""

    def __init__(
        self,
        config: Config,
        store: StateSource,
        settings: SettingsPort,
        requests: RequestSink,
        clock: Clock,
        uptime_s: Callable[[], float],
    ) -> None:
        self._store = store
        self._settings = settings
        self._uptime_s = uptime_s
        self.table = RegisterTable(build_registers(config))
        # one table per contiguous block, so that encoding never walks the gap between blocks
        self._blocks = [RegisterTable(rows) for rows in _contiguous(self.table.registers)]
        self.writes = WriteHandler(self.table, settings, requests, config.modbus.pin,
                                   config.modbus.unlock_timeout_s, clock, lambda: store.latest)
        self._key: tuple[PackState | None, Config] | None = None
        self._words: list[tuple[int, list[int]]] = []
        self._loaded: dict[int, tuple[PackState | None, Config]] = {}
        self.encodes = 0

    def device(self) -> SimDevice:
        """A pymodbus device answering any unit id (RTU filters ids before this)."""
        blocks = [SimData(b.start, count=b.end - b.start, values=0, datatype=DataType.REGISTERS)
                  for b in self._blocks]
        return SimDevice(0, simdata=blocks, action=self.action)

    def current_words(self) -> list[tuple[int, list[int]]]:
        """(start address, words) per block for the latest snapshot and config, encoded once per change."""
        key = (self._store.latest, self._settings.config)
        if self._key is None or key[0] is not self._key[0] or key[1] is not self._key[1]:
            ctx = EncodeContext(key[0], key[1], self._uptime_s())
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
