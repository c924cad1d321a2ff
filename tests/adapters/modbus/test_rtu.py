"""Modbus RTU through a socat pseudo-terminal pair, and serial errors that never stop the adapter."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from pymodbus.client import AsyncModbusSerialClient
from pymodbus.exceptions import ModbusException

from bmsgateway.adapters.modbus import ModbusAdapter
from bmsgateway.clock import VirtualClock
from bmsgateway.config import parse_config
from bmsgateway.requests import RequestQueue
from bmsgateway.settings import SettingsStore
from bmsgateway.store import SnapshotStore
from tests.adapters.conftest import make_state


def start_socat(a: Path, b: Path) -> subprocess.Popen[bytes]:
    socat = shutil.which("socat")
    if socat is None:
        pytest.fail("socat is required for the RTU tests (apt-get install socat)")
    return subprocess.Popen(
        [socat, "-d", "-d", f"pty,raw,echo=0,link={a}", f"pty,raw,echo=0,link={b}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


async def wait_for(cond: Any, timeout_s: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout_s
    while not cond():
        if loop.time() > end:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def wait_rtu_seq(client: AsyncModbusSerialClient, seq: int, unit: int = 7) -> None:
    """The Modbus process receives snapshots over a pipe: wait until it serves ``seq``."""
    for _ in range(200):
        r = await client.read_holding_registers(14, count=2, device_id=unit)
        if not r.isError() and ((r.registers[0] << 16) | r.registers[1]) == seq:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"snapshot {seq} not served over RTU")


@pytest.fixture
def pty_pair(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    a, b = tmp_path / "ttyS-bms", tmp_path / "ttyS-client"
    proc = start_socat(a, b)
    try:
        yield a, b
    finally:
        proc.terminate()
        proc.wait(5)


def rtu_config(port: Path, **rtu: Any) -> Any:
    rtu_section = {"enabled": True, "port": str(port), "baudrate": 115200, **rtu}
    return parse_config({"modbus": {"unit_id": 7, "tcp": {"enabled": False}, "rtu": rtu_section}}, "test")


@pytest.fixture
async def rtu_adapter(pty_pair: tuple[Path, Path], tmp_path: Path) -> AsyncIterator[tuple[ModbusAdapter, Any, Any]]:
    a, _ = pty_pair
    await wait_for(a.exists)
    cfg = rtu_config(a)
    store = SnapshotStore()
    q = RequestQueue()
    adapter = ModbusAdapter(cfg, store, SettingsStore(cfg, tmp_path / "s.json", q), q, clock=VirtualClock())
    await adapter.start()
    store.publish(make_state(cfg))  # the serial port opens once a first snapshot exists
    await wait_for(lambda: adapter.rtu_connected)
    try:
        yield adapter, cfg, store
    finally:
        await adapter.stop()


async def test_rtu_reads_the_snapshot(rtu_adapter: Any, pty_pair: tuple[Path, Path]) -> None:
    _, cfg, store = rtu_adapter
    state = make_state(cfg)
    store.publish(state)
    client = AsyncModbusSerialClient(str(pty_pair[1]), baudrate=115200, timeout=1, retries=0)
    await client.connect()
    try:
        await wait_rtu_seq(client, state.seq)
        r = await client.read_holding_registers(20, count=9, device_id=7)
        assert not r.isError(), r
        assert ((r.registers[0] << 16) | r.registers[1]) == round(state.pack_voltage_v * 1000)
        assert r.registers[6] == 523
        r = await client.read_input_registers(200, count=cfg.pack.cell_count, device_id=7)
        assert r.registers == [round(v * 1000) for v in state.measurement.cell_voltages_v]
        r = await client.read_holding_registers(40000, count=2, device_id=7)
        assert r.registers == [0x5375, 0x6E53]
        r = await client.write_register(1010, 3000, device_id=7)
        assert r.isError() and r.exception_code == 1  # locked over RTU too
    finally:
        client.close()


async def test_rtu_ignores_other_unit_ids(rtu_adapter: Any, pty_pair: tuple[Path, Path]) -> None:
    _, cfg, store = rtu_adapter
    store.publish(make_state(cfg))
    client = AsyncModbusSerialClient(str(pty_pair[1]), baudrate=115200, timeout=0.3, retries=0)
    await client.connect()
    try:
        with pytest.raises(ModbusException):  # no answer at all: the client times out
            await client.read_holding_registers(0, count=2, device_id=8)
        r = await client.read_holding_registers(0, count=2, device_id=7)
        assert not r.isError()
    finally:
        client.close()


async def test_missing_port_is_retried_until_it_appears(tmp_path: Path) -> None:
    a, b = tmp_path / "late-bms", tmp_path / "late-client"
    cfg = rtu_config(a, retry_initial_s=0.05, retry_max_s=0.2)
    store = SnapshotStore()
    q = RequestQueue()
    adapter = ModbusAdapter(cfg, store, SettingsStore(cfg, tmp_path / "s.json", q), q, clock=VirtualClock())
    await adapter.start()  # the port does not exist: start still succeeds
    store.publish(make_state(cfg))
    proc = None
    try:
        await asyncio.sleep(0.15)
        assert not adapter.rtu_connected
        proc = start_socat(a, b)
        await wait_for(lambda: adapter.rtu_connected)
        client = AsyncModbusSerialClient(str(b), baudrate=115200, timeout=1, retries=0)
        await client.connect()
        r = await client.read_holding_registers(0, count=1, device_id=7)
        client.close()
        assert r.registers == [1]
        # unplugged: the link disappears, the adapter notices and keeps retrying
        proc.terminate()
        proc.wait(5)
        proc = None
        await wait_for(lambda: not adapter.rtu_connected)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(5)
        await adapter.stop()


def rtu_frame(unit: int, pdu: bytes) -> bytes:
    from bmsgateway.adapters.modbus.rtu import crc16

    adu = bytes([unit]) + pdu
    return adu + crc16(adu)


async def test_rtu_resynchronises_after_garbage_bad_crc_and_truncated_frames(
    rtu_adapter: Any, pty_pair: tuple[Path, Path]
) -> None:
    import serial

    adapter, _, _ = rtu_adapter
    read0 = rtu_frame(7, bytes([3, 0, 0, 0, 1]))
    answer0 = rtu_frame(7, bytes([3, 2, 0, 1]))  # register 0 (map version) = 1
    bad_crc = read0[:-1] + bytes([read0[-1] ^ 0xFF])
    line = serial.Serial(str(pty_pair[1]), baudrate=115200, timeout=1.0)

    def exchange(payload: bytes, expect: int, pause_s: float = 0.0) -> bytes:
        line.reset_input_buffer()
        if pause_s:
            line.write(payload[:-len(read0)])
            line.flush()
            import time

            time.sleep(pause_s)
            payload = payload[-len(read0):]
        line.write(payload)
        return bytes(line.read(expect))

    try:
        cases = {
            "noise before a frame": (b"\xde\xad\xbe\xef\x00\xff\x07" + read0, 0.0),
            "bad CRC, then a frame": (bad_crc + read0, 0.0),
            "truncated frame, then a frame": (read0[:5] + read0, 0.0),
            "truncated write announcing 200 bytes, then a frame": (bytes([7, 16, 0, 0, 0, 100, 200, 1]) + read0, 0.0),
            "noise, a pause, then a frame": (b"\x07\x03\x00\x00" + read0, 0.2),
            "bad CRC, a pause, then a frame": (bad_crc + read0, 0.2),
        }
        for name, (payload, pause_s) in cases.items():
            got = await asyncio.to_thread(exchange, payload, len(answer0), pause_s)
            assert got == answer0, name
        # a well-framed request we do not support gets the spec exception, exactly
        got = await asyncio.to_thread(exchange, rtu_frame(7, bytes([0x41, 1, 2])), 5)
        assert got == rtu_frame(7, b"\xc1\x01")
        got = await asyncio.to_thread(exchange, rtu_frame(7, bytes([3, 0, 0, 0, 0])), 5)
        assert got == rtu_frame(7, b"\x83\x03")
        got = await asyncio.to_thread(exchange, rtu_frame(7, bytes([8, 0x12, 0x34, 0, 0])), 5)
        assert got == rtu_frame(7, b"\x88\x01")
        await wait_for(lambda: adapter.stats.protocol_errors >= 4)
    finally:
        line.close()
