"""Issue 17: what a 123\\SmartBMS / BMS Mini user reads over Modbus (die temperature, stored
energy, per-cell resistance and capacity, status lights) read by a real pymodbus client."""

from __future__ import annotations

import math

from pymodbus.client import AsyncModbusTcpClient

from bmsgateway.state import BoardHealth
from tests.adapters.conftest import Rig, make_state
from tests.adapters.modbus.test_tcp_map import read, s16


async def test_die_temperature_per_board(rig: Rig) -> None:
    cfg = rig.config
    boards = [BoardHealth(i, b.chip, True, 0, 0, 0.0, die_temperature_c=31.4 + 10 * i)
              for i, b in enumerate(cfg.pack.boards)]
    boards[-1] = BoardHealth(len(boards) - 1, cfg.pack.boards[-1].chip, False, 0, 1, 0.0,
                             die_temperature_c=math.nan)
    await rig.publish(make_state(cfg, seq=2, boards=boards))
    async with AsyncModbusTcpClient("127.0.0.1", port=rig.port) as client:
        w = await read(client, 628, len(boards) + 1)
    assert s16(w[0]) == 314
    assert w[len(boards) - 1] == 0x8000  # not measured this cycle: not available
    assert w[len(boards)] == 0x8000  # no such board


async def test_stored_energy_register_and_document(rig: Rig) -> None:
    from bmsgateway.adapters.document import state_document
    from bmsgateway.app import summary_fields
    from bmsgateway.state import EstimateStatus
    from tests.adapters.modbus.test_tcp_map import u32

    est = EstimateStatus(soc_pct=52.3, capacity_ah=96.5, stored_energy_wh=12345.6)
    state = make_state(rig.config, seq=2, estimate=est)
    await rig.publish(state)
    async with AsyncModbusTcpClient("127.0.0.1", port=rig.port) as client:
        w = await read(client, 48, 2)
    assert u32(w, 0) == 12346
    doc = state_document(state)
    assert doc["pack"]["stored_energy_wh"] == 12345.6 and doc["estimate"]["stored_energy_wh"] == 12345.6
    assert summary_fields(state)["stored_kwh"] == 12.35


async def test_cell_resistance_and_capacity_per_cell(rig: Rig) -> None:
    from bmsgateway.state import EstimateStatus
    from tests.adapters.modbus.test_tcp_map import u32

    n = rig.config.pack.cell_count
    est = EstimateStatus(
        soc_pct=50.0,
        cell_resistance_ohm=tuple(0.0005 + 0.00001 * i for i in range(n)),
        cell_capacity_ah=tuple(100.0 - 0.25 * i for i in range(n)),
        cell_capacity_learnt=tuple(i in (0, 3) for i in range(n)),
    )
    await rig.publish(make_state(rig.config, seq=2, estimate=est))
    async with AsyncModbusTcpClient("127.0.0.1", port=rig.port) as client:
        r = await read(client, 1100, n + 1)
        cap = await read(client, 1400, 2 * n + 2)
        learnt = await read(client, 1910, 16)
        # the whole new block reads in runs of 125 words, function 04 as well
        for start in range(1025, 1926, 125):
            await read(client, start, min(125, 1926 - start), fc=4)
    assert r[:n] == [50 + i for i in range(n)]  # 0.01 mΩ steps
    assert r[n] == 0xFFFF  # no such cell
    assert [u32(cap, 2 * i) for i in range(n)] == [round(10000 - 25 * i) for i in range(n)]
    assert u32(cap, 2 * n) == 0xFFFFFFFF
    assert learnt == [0b1001] + [0] * 15


async def test_status_lights_register(rig: Rig) -> None:
    from bmsgateway.state import ProtectionStatus

    await rig.publish(make_state(rig.config, seq=2, protection=ProtectionStatus(status_lights=0b10010)))
    async with AsyncModbusTcpClient("127.0.0.1", port=rig.port) as client:
        w = await read(client, 81, 1)
    assert w == [0b10010]  # Vh and Tl
