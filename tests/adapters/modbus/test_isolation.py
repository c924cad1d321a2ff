"""The Modbus process: restarted if it dies, start fails clearly on a taken TCP port."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import socket
from pathlib import Path

import pytest

from bmsgateway.adapters.modbus import ModbusAdapter
from bmsgateway.config import parse_config
from bmsgateway.requests import RequestQueue
from bmsgateway.settings import SettingsStore
from bmsgateway.store import SnapshotStore
from tests.adapters.conftest import Rig, make_state, wait_for_seq


def modbus_children() -> list[multiprocessing.process.BaseProcess]:
    return [p for p in multiprocessing.active_children() if p.name == "bmsgateway-modbus"]


async def test_killed_modbus_process_is_restarted(rig: Rig) -> None:
    await rig.publish(make_state(rig.config, seq=3))
    children = modbus_children()
    assert len(children) == 1
    old_port = rig.port
    assert children[0].pid is not None
    os.kill(children[0].pid, signal.SIGKILL)
    loop = asyncio.get_running_loop()
    end = loop.time() + 15.0
    while rig.adapter.tcp_port == old_port:
        assert loop.time() < end, "Modbus process not restarted"
        await asyncio.sleep(0.05)
    await wait_for_seq(rig.port, 3)  # the new process is fed the latest snapshot at once


async def test_taken_tcp_port_fails_start(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cfg = parse_config({"modbus": {"tcp": {"enabled": True, "port": port}}}, "test")
        q = RequestQueue()
        adapter = ModbusAdapter(cfg, SnapshotStore(), SettingsStore(cfg, tmp_path / "s.json", q), q)
        with pytest.raises(RuntimeError, match="modbus adapter failed to start"):
            await adapter.start()
    assert modbus_children() == []
