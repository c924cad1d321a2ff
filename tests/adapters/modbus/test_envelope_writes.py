"""Modbus writes go through the config model: the chemistry envelope refuses them with 03."""

from __future__ import annotations

from pymodbus.client import AsyncModbusTcpClient

from bmsgateway.config import Config
from tests.adapters.conftest import Rig
from tests.adapters.modbus.test_writes import VMAX, VMIN, unlock, write


async def test_vmax_5v_and_vmin_1_6v_for_lfp_get_exception_03(rig: Rig) -> None:
    async with AsyncModbusTcpClient("127.0.0.1", port=rig.port) as client:
        await unlock(client)
        assert await write(client, VMAX, [5000]) == 3  # inside the register's 1.5..5 V, beyond LFP's 3.8 V
        assert await write(client, VMIN, [1600]) == 3  # LFP's envelope starts at 2.5 V
        assert await write(client, VMAX, [3750]) is None  # the edge that still fits: 3.75 + 0.05 = 3.8 V
    assert rig.settings.config.pack.limits.vmin_v == Config().pack.limits.vmin_v
    assert rig.settings.config.pack.limits.vmax_v == 3.75
