"""Issue 17 item 5: the PIN is changed while running, with the current PIN, persisted, never logged."""

from __future__ import annotations

import asyncio
import json

import structlog
from pymodbus.client import AsyncModbusTcpClient

from bmsgateway.cycle import PackCycle
from bmsgateway.requests import ApplyConfig, RequestQueue
from bmsgateway.settings import SettingsStore
from tests.adapters.conftest import Rig, modbus_config
from tests.adapters.modbus.test_writes import PIN, VMAX, write

CHANGE_PIN = 1003
NEW_PIN = 8765


async def test_pin_changed_with_the_current_pin_and_persisted(rig: Rig) -> None:
    async with AsyncModbusTcpClient("127.0.0.1", port=rig.port) as client:
        assert await write(client, CHANGE_PIN, [PIN, NEW_PIN]) is None
        assert rig.settings.config.modbus.pin == NEW_PIN
        r = await client.read_holding_registers(CHANGE_PIN, count=2, device_id=1)
        assert r.registers == [0, 0]  # never readable
        assert await write(client, 1000, [PIN]) == 3  # the old PIN no longer unlocks
        assert await write(client, 1000, [NEW_PIN]) is None
        assert await write(client, VMAX, [3650]) is None
    # persisted: a restart loads the new PIN
    fresh = SettingsStore(modbus_config(), rig.overrides, RequestQueue()).load_overrides()
    assert fresh.modbus.pin == NEW_PIN
    queued = rig.requests.drain()
    assert isinstance(queued[0], ApplyConfig) and queued[0].keys == ("modbus.pin",)


async def test_pin_change_without_the_current_pin_changes_nothing(rig: Rig) -> None:
    async with AsyncModbusTcpClient("127.0.0.1", port=rig.port) as client:
        assert await write(client, 1000, [PIN]) is None  # even an unlocked client needs the current PIN
        assert await write(client, CHANGE_PIN, [1111, NEW_PIN]) == 3  # wrong current PIN
        assert await write(client, VMAX, [3650]) == 1  # ... and that locked writes again
        assert await write(client, CHANGE_PIN, [PIN, 10000]) == 3  # new PIN out of range
        assert await write(client, CHANGE_PIN, [PIN]) == 2  # half of the pair
        assert await write(client, CHANGE_PIN + 1, [NEW_PIN]) == 2
    assert rig.settings.config.modbus.pin == PIN
    assert rig.requests.drain() == []
    assert not rig.overrides.exists()


async def test_the_pin_value_is_never_logged_nor_recorded(thread_rig: Rig) -> None:
    rig = thread_rig
    # every level reaches the capture, whatever an earlier test left configured (conftest restores it)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(0))
    with structlog.testing.capture_logs() as logs:
        async with AsyncModbusTcpClient("127.0.0.1", port=rig.port) as client:
            assert await write(client, CHANGE_PIN, [1111, 2222]) == 3
            assert await write(client, CHANGE_PIN, [PIN, NEW_PIN]) is None
        # the answer may leave before the server's thread has logged the change (a loaded machine)
        for _ in range(200):
            if "modbus_pin_changed" in json.dumps(logs, default=str):
                break
            await asyncio.sleep(0.02)
    text = json.dumps(logs, default=str)
    assert "settings_changed" in text and "modbus_pin_changed" in text
    for secret in (str(PIN), str(NEW_PIN), "1111", "2222"):
        assert secret not in text
    (req,) = rig.requests.drain()
    assert isinstance(req, ApplyConfig)
    # the write event the pack cycle records names the key, not the value
    assert PackCycle.write_event_message(req) == "settings changed: modbus.pin (from modbus)"
