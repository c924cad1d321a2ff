"""Helpers for adapter tests: PackStates with chosen values, a running Modbus adapter."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bmsgateway.clock import VirtualClock
from bmsgateway.config import Config, parse_config
from bmsgateway.requests import RequestQueue
from bmsgateway.settings import SettingsStore
from bmsgateway.state import (
    BoardHealth,
    ContactorState,
    CycleTiming,
    EstimateStatus,
    Measurement,
    PackState,
    ProtectionStatus,
)
from bmsgateway.store import SnapshotStore


def make_state(
    config: Config,
    *,
    seq: int = 1,
    cells_v: Sequence[float] | None = None,
    temps_c: Sequence[float] | None = None,
    current_a: float = -12.345,
    estimate: EstimateStatus | None = None,
    protection: ProtectionStatus | None = None,
    boards: Sequence[BoardHealth] | None = None,
    wall_time: float | None = None,
) -> PackState:
    """A snapshot for ``config``'s pack: distinct cell voltages and temperatures by default."""
    n = config.pack.cell_count
    cells = tuple(cells_v) if cells_v is not None else tuple(3.2 + 0.003 * i for i in range(n))
    t_n = config.pack.thermistor_count
    temps = tuple(temps_c) if temps_c is not None else tuple(20.0 + 1.5 * i for i in range(t_n))
    temp_board = tuple(b for b, bc in enumerate(config.pack.boards) for _ in range(bc.thermistors))
    health = tuple(boards) if boards is not None else tuple(
        BoardHealth(i, b.chip, True, 3 * i, 0, 0.0) for i, b in enumerate(config.pack.boards)
    )
    m = Measurement(
        time_s=10.0 * seq, cell_voltages_v=cells, cell_age_s=(0.0,) * len(cells), temperatures_c=temps,
        temperature_age_s=(0.0,) * len(temps), temperature_board=temp_board, current_a=current_a,
        current_age_s=0.0, pack_voltage_measured_v=math.fsum(cells), boards=health,
    )
    est = estimate or EstimateStatus(soc_pct=52.3, soh_pct=98.7, dod_pct=47.7, capacity_ah=96.5,
                                     equivalent_cycles=12.34, energy_in_wh=123456.0)
    prot = protection or ProtectionStatus(
        state="ready", charge_allowed=True, discharge_allowed=True, cvl_v=55.2, ccl_a=50.0, dcl_a=100.0,
        contactors=(ContactorState("charge", True, True), ContactorState("discharge", True, None)),
        balancing=tuple(i in (2, 15) for i in range(n)),
    )
    return PackState(seq, 10.0 * seq, time.time() if wall_time is None else wall_time, m, est, prot,
                     CycleTiming(0.1, 0.1, 0.002, 0))


@dataclass
class Rig:
    """A started ModbusAdapter with its collaborators."""

    adapter: Any
    config: Config
    store: SnapshotStore
    settings: SettingsStore
    requests: RequestQueue
    clock: VirtualClock
    overrides: Path

    @property
    def port(self) -> int:
        assert self.adapter.tcp_port is not None
        return int(self.adapter.tcp_port)

    async def publish(self, state: PackState) -> None:
        """Publish, then wait until the server shows it (the Modbus process gets it over a pipe)."""
        self.store.publish(state)
        assert await self.adapter.wait_serving(), "the listener did not open after the first snapshot"
        await wait_for_seq(self.port, state.seq)


async def wait_for_seq(port: int, seq: int, timeout_s: float = 5.0) -> None:
    from pymodbus.client import AsyncModbusTcpClient

    loop = asyncio.get_running_loop()
    end = loop.time() + timeout_s
    async with AsyncModbusTcpClient("127.0.0.1", port=port) as client:
        while True:
            r = await client.read_holding_registers(14, count=2, device_id=1)
            if not r.isError() and ((r.registers[0] << 16) | r.registers[1]) == seq:
                return
            if loop.time() > end:
                raise AssertionError(f"snapshot {seq} not served within {timeout_s} s")
            await asyncio.sleep(0.005)


def modbus_config(**modbus: Any) -> Config:
    tcp = {"enabled": True, "port": 0, **modbus.pop("tcp", {})}
    # Tests hold one published snapshot for many seconds: a long staleness limit (the largest
    # allowed), except in the staleness test, which publishes an old snapshot.
    return parse_config({"modbus": {"tcp": tcp, "pin": 4321, **modbus}, "system": {"stale_after_s": 60.0}}, "test")


async def start_rig(tmp_path: Path, isolation: str, first_snapshot: bool = True, **modbus: Any) -> Rig:
    """A started adapter; with ``first_snapshot`` a snapshot (seq 1) is published and served."""
    from bmsgateway.adapters.modbus import ModbusAdapter

    cfg = modbus_config(**modbus)
    requests = RequestQueue()
    overrides = tmp_path / "settings.json"
    settings = SettingsStore(cfg, overrides, requests)
    store = SnapshotStore()
    clock = VirtualClock()
    adapter = ModbusAdapter(cfg, store, settings, requests, clock=clock, started_s=0.0,
                            isolation=isolation)  # type: ignore[arg-type]
    await adapter.start()
    rig = Rig(adapter, cfg, store, settings, requests, clock, overrides)
    if first_snapshot:
        await rig.publish(make_state(cfg, seq=0))  # tests publish seq >= 1: waiting for theirs is unambiguous
    return rig


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    """The adapter as the daemon runs it: servers in a child process."""
    r = await start_rig(tmp_path, "process")
    try:
        yield r
    finally:
        await r.adapter.stop()


@pytest.fixture
async def thread_rig(tmp_path: Path) -> AsyncIterator[Rig]:
    """Servers in a thread: the injected VirtualClock reaches the write guard (unlock expiry)."""
    r = await start_rig(tmp_path, "thread")
    try:
        yield r
    finally:
        await r.adapter.stop()
