"""A real pymodbus TCP client reads the bmsgateway map and sees the published snapshot."""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path

import pytest
from pymodbus.client import AsyncModbusTcpClient

from bmsgateway.protection.ids import CONDITION_BITS, ConditionId
from bmsgateway.state import ProtectionStatus
from tests.adapters.conftest import Rig, make_state, start_rig


def u32(words: list[int], i: int) -> int:
    return (words[i] << 16) | words[i + 1]


def s32(words: list[int], i: int) -> int:
    v = u32(words, i)
    return v - (1 << 32) if v & 0x80000000 else v


def s16(v: int) -> int:
    return v - 0x10000 if v & 0x8000 else v


async def read(client: AsyncModbusTcpClient, address: int, count: int, fc: int = 3) -> list[int]:
    if fc == 3:
        r = await client.read_holding_registers(address, count=count, device_id=1)
    else:
        r = await client.read_input_registers(address, count=count, device_id=1)
    assert not r.isError(), r
    return list(r.registers)


async def test_values_match_the_published_snapshot(rig: Rig) -> None:
    state = make_state(rig.config)
    await rig.publish(state)
    async with AsyncModbusTcpClient("127.0.0.1", port=rig.port) as client:
        w = await read(client, 0, 125)
        assert u32(w, 20) == round(state.pack_voltage_v * 1000)  # high word first
        assert s32(w, 22) == -12345  # discharging is negative
        assert s32(w, 24) == round(state.power_w)
        assert w[26] == 523 and w[27] == 987 and w[28] == 477
        assert w[35] == round(state.min_cell_v * 1000) and w[36] == 1  # 1-based cell number
        assert w[37] == round(state.max_cell_v * 1000) and w[38] == rig.config.pack.cell_count
        assert w[41] == 200 and w[42] == 1 and w[44] == rig.config.pack.thermistor_count
        assert w[65] == 2  # ready
        assert w[72] == 552 and w[73] == 500 and w[74] == 1000
        assert u32(w, 14) == state.seq
        assert u32(w, 116) == 12 and u32(w, 104) == 123456

        cells = await read(client, 200, 20)
        n = rig.config.pack.cell_count
        assert cells[:n] == [round(v * 1000) for v in state.measurement.cell_voltages_v]
        assert cells[n:] == [0xFFFF] * (20 - n)  # slots beyond the pack: not available
        bal = await read(client, 140, 2)
        assert bal == [(1 << 2) | (1 << 15), 0]  # cells 3 and 16 balancing
        boards = await read(client, 700, 2)
        assert boards == [1, 1]
        pec = await read(client, 764, 4)
        assert [u32(pec, 0), u32(pec, 2)] == [0, 3]
        # function 04 reads the same words as 03
        assert await read(client, 0, 125, fc=4) == w


async def test_nan_negative_temperature_and_bits(rig: Rig) -> None:
    cfg = rig.config
    cells = [3.3] * cfg.pack.cell_count
    cells[5] = math.nan
    bit = CONDITION_BITS[ConditionId.CELL_OVER_VOLTAGE]
    wbit = CONDITION_BITS[ConditionId.LOOP_OVERRUN]
    prot = ProtectionStatus(state="fault", fault_bits=1 << bit, warning_bits=1 << wbit)
    await rig.publish(make_state(cfg, seq=2, cells_v=cells, temps_c=[-5.5, 1.0, 2.0, 3.0], current_a=math.nan,
                                 protection=prot))
    async with AsyncModbusTcpClient("127.0.0.1", port=rig.port) as client:
        w = await read(client, 0, 80)
        assert [w[22], w[23]] == [0x8000, 0x0000]  # s32 not available
        assert [w[20], w[21]] == [0xFFFF, 0xFFFF]  # cell missing and no chip sum: not available
        assert u32(w, 60) == 1 << bit and u32(w, 62) == 1 << wbit
        assert w[65] == 3  # fault
        cells_w = await read(client, 200, cfg.pack.cell_count)
        assert cells_w[5] == 0xFFFF and cells_w[4] == 3300
        t = await read(client, 500, 4)
        assert s16(t[0]) == -55


async def test_listener_opens_with_the_first_snapshot_and_refreshes_per_snapshot(tmp_path: Path) -> None:
    # Before the first snapshot every live point would read "not available" (SunSpec Evt1 all
    # ones): the port is bound but refuses connections until a snapshot exists.
    rig = await start_rig(tmp_path, "process", first_snapshot=False)
    try:
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", rig.port)
        await rig.publish(make_state(rig.config, seq=7))
        async with AsyncModbusTcpClient("127.0.0.1", port=rig.port) as client:
            w = await read(client, 14, 2)
            assert u32(w, 0) == 7
            await rig.publish(make_state(rig.config, seq=8, current_a=3.0))
            w = await read(client, 22, 2)
            assert s32(w, 0) == 3000
    finally:
        await rig.adapter.stop()


async def test_identity_words(rig: Rig) -> None:
    from bmsgateway import __version__

    async with AsyncModbusTcpClient("127.0.0.1", port=rig.port) as client:
        w = await read(client, 0, 19)
    assert w[0] == 1
    text = b"".join(x.to_bytes(2, "big") for x in w[1:9]).rstrip(b"\0").decode()
    assert text == __version__
    assert w[16:19] == [rig.config.pack.cell_count, rig.config.pack.thermistor_count, len(rig.config.pack.boards)]


async def test_a_stale_snapshot_is_served_as_not_available(rig: Rig) -> None:
    """A pack cycle that stopped publishing must not leave its last values on the bus as live."""
    cfg = rig.config
    old = time.time() - cfg.system.stale_after_s - 5.0
    rig.store.publish(make_state(cfg, seq=7, wall_time=old))
    async with AsyncModbusTcpClient("127.0.0.1", port=rig.port) as client:
        w: list[int] = []
        for _ in range(100):
            w = await read(client, 0, 80)
            if (w[14], w[15]) == (0xFFFF, 0xFFFF):
                break
            await asyncio.sleep(0.05)
        assert (w[14], w[15]) == (0xFFFF, 0xFFFF)  # no sequence number: no live snapshot
        assert [w[20], w[21]] == [0xFFFF, 0xFFFF] and [w[22], w[23]] == [0x8000, 0x0000]  # V, A unavailable
        cells_w = await read(client, 200, cfg.pack.cell_count)
        assert all(c == 0xFFFF for c in cells_w)
    fresh = make_state(cfg, seq=8)
    await rig.publish(fresh)  # and live again with the next fresh snapshot
