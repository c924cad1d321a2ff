"""The encoded register image: what a read returns and where a write goes.

Why an image: a read is then a slice of a list, whatever the map contains. The image is
re-encoded at most once per new snapshot or config object, and only when a request comes in
(an idle server encodes nothing). Addresses are 0-based PDU addresses end to end; there is no +1
offset anywhere. The application layer (``pdu.py``) calls ``read`` and ``write``.
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from bmsgateway.adapters.modbus.bmsmap import WRITE_BASE, bms_registers
from bmsgateway.adapters.modbus.pdu import handle_pdu
from bmsgateway.adapters.modbus.stats import ModbusStats, RateLimitedLog
from bmsgateway.adapters.modbus.sunspec import set_op_now, sunspec_registers
from bmsgateway.adapters.modbus.table import EncodeContext, Register, RegisterTable
from bmsgateway.adapters.modbus.writes import RequestSink, SettingsPort, WriteHandler
from bmsgateway.clock import Clock
from bmsgateway.config.model import Config
from bmsgateway.state import PackState

__all__ = ["RegisterImage", "StateSource", "build_registers"]

_ILLEGAL_ADDRESS = 0x02
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
        stats: ModbusStats | None = None,
        limited_log: RateLimitedLog | None = None,
    ) -> None:
        self._store = store
        self._settings = settings
        self._uptime_s = uptime_s
        self._stale_after_s = config.system.stale_after_s
        self.table = RegisterTable(build_registers(config))
        # one table per contiguous block, so that encoding never walks the gap between blocks
        self._blocks = [RegisterTable(rows) for rows in _contiguous(self.table.registers)]
        self._starts = [b.start for b in self._blocks]
        self._ends = [b.end for b in self._blocks]
        self.stats = stats or ModbusStats()
        self.limited_log = limited_log or RateLimitedLog(config.modbus.log_interval_s)
        self.writes = WriteHandler(self.table, settings, requests, config.modbus.pin,
                                   config.modbus.unlock_timeout_s, clock, self.limited_log,
                                   lambda: set_op_now(self._store.latest),
                                   lambda: self._store.latest)
        inv = self.table.by_name("802.SetInvState") if config.modbus.sunspec.enabled else None
        #: words whose value changes between snapshots: (address, current value)
        self._live_words: list[tuple[int, Callable[[], int]]] = [
            (_UNLOCK_STATUS, lambda: min(0xFFFE, math.ceil(self.writes.unlock_remaining_s()))),
        ]
        if inv is not None:
            self._live_words.append((inv.address, lambda: self.writes.inverter_state))
        self._key: tuple[PackState | None, Config] | None = None
        self._words: list[tuple[int, list[int]]] = []
        self.encodes = 0

    def has_snapshot(self) -> bool:
        """True once the daemon published a first snapshot (the listeners open only then)."""
        return self._store.latest is not None

    def current_words(self) -> list[tuple[int, list[int]]]:
        """(start address, words) per block for the latest snapshot and config, encoded once per change."""
        latest = self._store.latest
        # A snapshot older than system.stale_after_s (the pack cycle stalled) is served as "not
        # available", as before the first one, never as live values. Wall time: this may run in a
        # child process without the daemon's clock.
        if latest is not None and not time.time() - latest.wall_time <= self._stale_after_s:
            latest = None
        key = (latest, self._settings.config)
        if self._key is None or key[0] is not self._key[0] or key[1] is not self._key[1]:
            ctx = EncodeContext(key[0], key[1], self._uptime_s())
            self._words = [(b.start, b.encode(ctx)) for b in self._blocks]
            self._key = key
            self.encodes += 1
        return self._words

    def read(self, address: int, count: int) -> list[int] | int:
        """``count`` words from ``address``, or 02 when any of them is outside the served blocks."""
        blocks = self.current_words()
        k = bisect.bisect_right(self._starts, address) - 1
        if k < 0 or address + count > self._ends[k]:
            return _ILLEGAL_ADDRESS
        start, words = blocks[k]
        out = words[address - start : address - start + count]
        for live_address, value in self._live_words:
            pos = live_address - address
            if 0 <= pos < count:
                out[pos] = value()
        return out

    def answer(self, pdu: bytes) -> bytes:
        """The response PDU to one request PDU; counts it, logs refusals rate-limited."""
        reply, refused_write = handle_pdu(pdu, self)
        stats = self.stats
        stats.requests += 1
        if reply[0] & 0x80:
            stats.exception_replies += 1
            if refused_write:
                stats.writes_refused += 1  # logged by the write guard, rate-limited
            else:
                self.limited_log("modbus_request_refused", function=pdu[0] if pdu else 0, code=reply[1])
        return reply

    def write(self, address: int, words: list[int]) -> int | None:
        """Route a write through the guard; None when accepted, else the exception code."""
        return self.writes.write(address, words)
