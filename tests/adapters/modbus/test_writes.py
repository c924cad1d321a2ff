"""Every write path: locked, wrong PIN, out of range, invariant, read-only, unknown, accepted."""

from __future__ import annotations

import asyncio

from pymodbus.client import AsyncModbusTcpClient

from bmsgateway.config import Config
from bmsgateway.requests import ApplyConfig, CalibrateCurrentZero, RequestQueue, ResetCounters, ResetFaults
from bmsgateway.settings import SettingsStore
from tests.adapters.conftest import Rig, modbus_config

PIN = 4321
VMIN, VBAL, VMAX = 1010, 1011, 1012


async def write(client: AsyncModbusTcpClient, address: int, values: list[int]) -> int | None:
    """Exception code, or None when accepted (function 16; function 06 for one word)."""
    if len(values) == 1:
        r = await client.write_register(address, values[0], device_id=1)
    else:
        r = await client.write_registers(address, values, device_id=1)
    return int(r.exception_code) if r.isError() else None


async def unlock(client: AsyncModbusTcpClient) -> None:
    assert await write(client, 1000, [PIN]) is None


async def test_locked_and_wrong_pin_change_nothing(rig: Rig) -> None:
    before = rig.settings.config
    async with AsyncModbusTcpClient("127.0.0.1", port=rig.port) as client:
        assert await write(client, VMAX, [3650]) == 1  # locked: ILLEGAL FUNCTION
        assert await write(client, 1000, [1234]) == 3  # wrong PIN (the default one)
        assert await write(client, VMAX, [3650]) == 1  # still locked
        r = await client.read_holding_registers(1000, count=2, device_id=1)
        assert r.registers == [0, 0]  # PIN never readable; not unlocked
    assert rig.settings.config is before
    assert rig.requests.drain() == []
    assert not rig.overrides.exists()


async def test_accepted_change_is_persisted_and_queued(rig: Rig) -> None:
    async with AsyncModbusTcpClient("127.0.0.1", port=rig.port) as client:
        await unlock(client)
        r = await client.read_holding_registers(1001, count=1, device_id=1)
        assert 0 < r.registers[0] <= rig.config.modbus.unlock_timeout_s
        assert await write(client, VMAX, [3650]) is None
        r = await client.read_holding_registers(VMIN, count=3, device_id=1)
        assert r.registers == [2900, 3400, 3650]  # the register shows the new value at once
        assert await write(client, 1013, [1]) is None  # relay mode enum -> "critical"
        assert await write(client, 1018, [0, 2005]) is None  # u32 capacity, high word first
    assert rig.settings.config.pack.limits.vmax_v == 3.65
    assert rig.settings.config.protection.relays.mode == "critical"
    assert rig.settings.config.pack.capacity_ah == 200.5
    queued = rig.requests.drain()
    assert len(queued) == 3 and all(isinstance(q, ApplyConfig) for q in queued)
    # a restart: a new SettingsStore loads the overrides file
    fresh = SettingsStore(modbus_config(), rig.overrides, RequestQueue()).load_overrides()
    assert fresh.pack.limits.vmax_v == 3.65
    assert fresh.protection.relays.mode == "critical"
    assert fresh.pack.capacity_ah == 200.5


async def test_out_of_range_and_invariant_are_refused_with_03(rig: Rig) -> None:
    async with AsyncModbusTcpClient("127.0.0.1", port=rig.port) as client:
        await unlock(client)
        assert await write(client, VMAX, [6000]) == 3  # 6.0 V > 5.0 V allowed
        assert await write(client, 1016, [0xFE0C]) == 3  # tmin -50.0 °C < -40 °C
        assert await write(client, 1013, [7]) == 3  # no such relay mode
        assert await write(client, VMIN, [3800]) == 3  # Vmin above Vbalance/Vmax: SettingsStore says no
        # all-or-nothing: the valid vmin in the same request is not applied either
        assert await write(client, VMIN, [3000, 3400, 3300]) == 3
        assert await write(client, 1002, [9]) == 3  # unknown command
    assert rig.settings.config.pack.limits.vmin_v == 2.9
    assert rig.settings.config.pack.limits.vmax_v == Config().pack.limits.vmax_v
    assert rig.requests.drain() == []
    assert not rig.overrides.exists()


async def test_read_only_unknown_and_partial_writes_get_02(rig: Rig) -> None:
    async with AsyncModbusTcpClient("127.0.0.1", port=rig.port) as client:
        await unlock(client)
        assert await write(client, 20, [1]) == 2  # pack voltage: read-only
        assert await write(client, 1001, [5]) == 2  # unlock status: read-only
        assert await write(client, 19, [0]) == 2  # reserved
        assert await write(client, 30000, [0]) == 2  # outside every block
        assert await write(client, 1019, [1]) == 2  # second word of a u32 alone
        assert await write(client, 1024, [6, 0]) == 2  # runs past the last writable register
        assert await write(client, 40002, [1]) == 2  # SunSpec model ID
    assert rig.requests.drain() == []


async def test_commands(rig: Rig) -> None:
    import dataclasses

    from tests.adapters.conftest import make_state

    # the pack at rest: the zero calibration may be taken (see test_calibration_refused_with_03)
    await rig.publish(dataclasses.replace(make_state(rig.config, seq=2), zero_calibration_refusal=""))
    async with AsyncModbusTcpClient("127.0.0.1", port=rig.port) as client:
        assert await write(client, 1002, [1]) == 1  # locked
        await unlock(client)
        assert await write(client, 1002, [1]) is None
        assert await write(client, 1002, [2]) is None
        assert await write(client, 1002, [3]) is None
        r = await client.read_holding_registers(1002, count=1, device_id=1)
        assert r.registers == [0]
    queued = rig.requests.drain()
    assert [type(q) for q in queued] == [ResetFaults, ResetCounters, CalibrateCurrentZero]
    assert {q.source for q in queued} == {"modbus"}


async def test_sunspec_alarm_reset(rig: Rig) -> None:
    from tests.adapters.modbus.test_sunspec import offsets, walk

    async with AsyncModbusTcpClient("127.0.0.1", port=rig.port) as client:
        chain = await walk(client)
        alm = next(a for a, m, _ in chain if m == 802) + offsets(802)["AlmRst"]
        assert await write(client, alm, [1]) == 1
        await unlock(client)
        assert await write(client, alm, [1]) is None
    # In process isolation the command crosses a pipe to the daemon: give it a moment under load.
    got: list[object] = []
    for _ in range(100):
        got += rig.requests.drain()
        if got:
            break
        await asyncio.sleep(0.05)
    assert [type(q) for q in got] == [ResetFaults]


async def test_sunspec_802_writes_need_the_pin_and_act_or_refuse(rig: Rig) -> None:
    from tests.adapters.modbus.test_sunspec import offsets, walk

    async with AsyncModbusTcpClient("127.0.0.1", port=rig.port) as client:
        chain = await walk(client)
        base = next(a for a, m, _ in chain if m == 802)
        off = offsets(802)
        alm, set_op, inv = base + off["AlmRst"], base + off["SetOp"], base + off["SetInvState"]
        r = await client.read_holding_registers(set_op, count=1, device_id=1)
        assert r.registers == [1]  # CONNECT: the snapshot has a contactor commanded closed
        assert await write(client, set_op, [1]) == 1  # locked
        assert await write(client, inv, [3]) == 1
        assert await write(client, alm, [0]) == 1
        await unlock(client)
        assert await write(client, alm, [0]) is None  # a no-op, not 03
        assert await write(client, alm, [2]) == 3
        assert await write(client, set_op, [1]) is None  # the present state: accepted
        assert await write(client, set_op, [2]) == 3  # opening the contactors is protection's call
        assert await write(client, set_op, [0]) == 3
        r = await client.read_holding_registers(inv, count=1, device_id=1)
        assert r.registers == [2]  # INVERTER_STANDBY until the inverter says otherwise
        assert await write(client, inv, [3]) is None
        assert await write(client, inv, [4]) == 3
        r = await client.read_holding_registers(inv, count=1, device_id=1)
        assert r.registers == [3]
    assert rig.requests.drain() == []  # nothing acted on the pack


async def test_unlock_expires(thread_rig: Rig) -> None:
    rig = thread_rig
    async with AsyncModbusTcpClient("127.0.0.1", port=rig.port) as client:
        await unlock(client)
        rig.clock.advance(rig.config.modbus.unlock_timeout_s + 1.0)
        assert await write(client, VMAX, [3650]) == 1
        r = await client.read_holding_registers(1001, count=1, device_id=1)
        assert r.registers == [0]
    assert rig.settings.config.pack.limits.vmax_v == Config().pack.limits.vmax_v
