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


async def test_calibration_refused_with_03_unless_the_pack_is_at_rest(rig: Rig) -> None:
    import dataclasses

    from bmsgateway.requests import CalibrateCurrentZero
    from tests.adapters.conftest import make_state

    flowing = dataclasses.replace(make_state(rig.config, seq=1, current_a=80.0), zero_calibration_refusal=(
        "the current sensor reads +80.00 A, outside the zero band ±2 A"))
    await rig.publish(flowing)
    async with AsyncModbusTcpClient("127.0.0.1", port=rig.port) as client:
        await unlock(client)
        assert await write(client, 1002, [3]) == 3
        assert rig.requests.drain() == []
        await rig.publish(dataclasses.replace(make_state(rig.config, seq=2, current_a=0.1),
                                              zero_calibration_refusal=""))
        assert await write(client, 1002, [3]) is None
    assert [type(q) for q in rig.requests.drain()] == [CalibrateCurrentZero]
