"""A SunSpec client's view: 'SunS' at 40000, the model chain, points with their scale factors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pymodbus.client import AsyncModbusTcpClient

from tests.adapters.conftest import Rig, make_state

SPEC_DIR = Path(__file__).resolve().parents[3] / "bmsgateway" / "adapters" / "modbus" / "sunspec"


def offsets(model_id: int) -> dict[str, int]:
    """Point name -> offset from the model's ID word, straight from the official JSON."""
    model: dict[str, Any] = json.loads((SPEC_DIR / f"model_{model_id}.json").read_text())
    out: dict[str, int] = {}
    off = 0
    for p in model["group"]["points"]:
        out[p["name"]] = off
        off += int(p["size"])
    out["_fixed"] = off
    return out


def s16(v: int) -> int:
    return v - 0x10000 if v & 0x8000 else v


async def read(client: AsyncModbusTcpClient, address: int, count: int) -> list[int]:
    words: list[int] = []
    while count > 0:
        n = min(125, count)
        r = await client.read_holding_registers(address, count=n, device_id=1)
        assert not r.isError(), r
        words += r.registers
        address += n
        count -= n
    return words


async def walk(client: AsyncModbusTcpClient, base: int = 40000) -> list[tuple[int, int, int]]:
    """(address, model id, L) for every model until the end model, as a SunSpec scanner does."""
    assert await read(client, base, 2) == [0x5375, 0x6E53]  # 'SunS'
    chain = []
    addr = base + 2
    for _ in range(50):
        model_id, length = await read(client, addr, 2)
        chain.append((addr, model_id, length))
        if model_id == 0xFFFF:
            break
        addr += 2 + length
    return chain


async def test_marker_and_model_chain(rig: Rig) -> None:
    await rig.publish(make_state(rig.config))
    async with AsyncModbusTcpClient("127.0.0.1", port=rig.port) as client:
        chain = await walk(client)
    ids = [m for _, m, _ in chain]
    boards = rig.config.pack.boards
    assert ids == [1, 802, 803, 804] + [805] * len(boards) + [0xFFFF]
    lengths = {m: length for _, m, length in chain}
    assert lengths[1] == 66 and lengths[802] == 62
    assert lengths[803] == 26 + 32 * 1  # one string
    assert lengths[804] == 46 + 16 * len(boards)  # one module entry per board
    assert lengths[805] == 42 + 4 * boards[0].cells  # one cell entry per cell
    assert chain[-1][2] == 0


async def test_points_with_scale_factors(rig: Rig) -> None:
    state = make_state(rig.config)
    await rig.publish(state)
    async with AsyncModbusTcpClient("127.0.0.1", port=rig.port) as client:
        chain = await walk(client)
        at = {m: a for a, m, _ in reversed(chain)}  # first 805 = module 1
        o = offsets(802)
        b = await read(client, at[802], o["_fixed"])

        def scaled(point: str, sf: str, signed: bool = False) -> float:
            raw = s16(b[o[point]]) if signed else b[o[point]]
            return float(raw * 10.0 ** s16(b[o[sf]]))

        assert abs(scaled("SoC", "SoC_SF") - 52.3) < 1e-6
        assert abs(scaled("SoH", "SoH_SF") - 98.7) < 1e-6
        assert abs(scaled("V", "V_SF") - state.pack_voltage_v) < 0.01
        a_sf = s16(b[o["A_SF"]])
        assert abs(scaled("A", "A_SF", signed=True) - -12.345) <= 0.5 * 10.0**a_sf + 1e-9  # within resolution
        assert abs(scaled("CellVMax", "CellV_SF") - state.max_cell_v) < 0.001
        assert abs(scaled("AHRtg", "AHRtg_SF") - rig.config.pack.capacity_ah) < 0.01
        assert b[o["Typ"]] == 4  # LITHIUM_ION
        assert b[o["State"]] == 3  # CONNECTED
        assert b[o["ChaSt"]] == 3  # DISCHARGING (-12 A)
        assert b[o["CellVMaxMod"]] == 2  # highest cell sits on board 2
        assert b[o["DisChaRte"]] == 0xFFFF  # not implemented uint16
        assert [b[o["WarrDt"]], b[o["WarrDt"] + 1]] == [0xFFFF, 0xFFFF]  # not implemented uint32

        common = offsets(1)
        c = await read(client, at[1], common["_fixed"])
        mn = b"".join(x.to_bytes(2, "big") for x in c[common["Mn"]:common["Mn"] + 16]).rstrip(b"\0")
        assert mn == rig.config.modbus.sunspec.manufacturer.encode()

        # module 2 (second 805), cell 3 -> pack cell index 8 + 2
        m805 = [a for a, m, _ in chain if m == 805]
        o5 = offsets(805)
        words = await read(client, m805[1], o5["_fixed"] + 4 * 8)
        assert words[o5["ModIdx"]] == 2 and words[o5["NCell"]] == 8
        cell_sf = s16(words[o5["CellV_SF"]])
        cell3 = words[o5["_fixed"] + 4 * 2] * 10.0**cell_sf
        assert abs(cell3 - state.measurement.cell_voltages_v[10]) < 1e-6
        # cell 16 (board 2 cell 8) balances: CellSt bit 0 (bitfield32, high word first)
        assert words[o5["_fixed"] + 4 * 7 + 2 : o5["_fixed"] + 4 * 7 + 4] == [0, 1]
