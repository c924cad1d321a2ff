"""The adapter wired into the real daemon serves the snapshots the pack cycle publishes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pymodbus.client import AsyncModbusTcpClient

from bmsgateway.clock import VirtualClock
from bmsgateway.config import parse_config


async def test_daemon_snapshot_matches_what_modbus_serves(tmp_path: Path) -> None:
    from bmsgateway.app import Daemon

    cfg = parse_config({"modbus": {"tcp": {"enabled": True, "port": 0}}}, "test")
    daemon = Daemon.build(cfg, VirtualClock(), state_dir=tmp_path, log_events=False)
    seen: dict[int, tuple[int, int, int]] = {}

    def keep(state: Any) -> None:
        # only what is compared, so that a wide window (the simulated clock runs as fast as the CPU
        # allows, and a loaded machine delays the server) costs little memory
        seen[state.seq] = (round(state.pack_voltage_v * 1000), round(state.estimate.soc_pct * 10),
                           round(state.min_cell_v * 1000))
        seen.pop(state.seq - 50_000, None)

    daemon.cycle.listeners.append(keep)
    await daemon.start()
    try:
        adapter: Any = daemon.adapters[0]
        assert await adapter.wait_serving()  # the listener opens once the first snapshot exists
        port = adapter.tcp_port
        async with AsyncModbusTcpClient("127.0.0.1", port=port) as client:
            checked = 0
            for _ in range(20):
                r = await client.read_holding_registers(0, count=125, device_id=1)
                w = r.registers
                seq = (w[14] << 16) | w[15]
                if seq not in seen:
                    continue  # no snapshot yet, or already dropped from our window
                pack_mv, soc_permille, min_mv = seen[seq]
                assert (w[20] << 16) | w[21] == pack_mv
                assert w[26] == soc_permille
                assert w[35] == min_mv
                checked += 1
            assert checked > 0
    finally:
        await daemon.stop()
