"""pysunspec2 (the SunSpec Alliance's own client) walks the chain and reads every model point."""

from __future__ import annotations

import asyncio
import math
from typing import Any

from sunspec2.modbus.client import SunSpecModbusClientDeviceTCP

from tests.adapters.conftest import Rig, make_state


def _groups(group: Any) -> list[Any]:
    out = [group]
    for sub in group.groups.values():
        for g in sub if isinstance(sub, list) else [sub]:
            out += _groups(g)
    return out


def _scan(port: int) -> tuple[dict[int, list[Any]], list[str]]:
    dev = SunSpecModbusClientDeviceTCP(slave_id=1, ipaddr="127.0.0.1", ipport=port, timeout=5)
    try:
        dev.scan()
        missing = []
        models: dict[int, list[Any]] = {}
        for model in dev.model_list:
            models.setdefault(model.model_id, []).append(model)
            for g in _groups(model):
                for name, point in g.points.items():
                    if point.pdef.get("mandatory") == "M" and point.pdef.get("type") != "pad" \
                            and not point.is_impl():
                        missing.append(f"{model.model_id}.{g.gdef['name']}.{name}")
        return models, missing
    finally:
        dev.close()


async def test_every_mandatory_point_is_implemented_and_vmax_is_the_cvl(rig: Rig) -> None:
    state = make_state(rig.config, seq=5)
    await rig.publish(state)
    models, missing = await asyncio.to_thread(_scan, rig.port)
    boards = len(rig.config.pack.boards)
    assert sorted(models) == [1, 802, 803, 804, 805]
    assert len(models[805]) == boards
    assert missing == []
    battery = models[802][0]
    # the same CVL the protection stage gives every protocol (bmsgateway register 72, CAN, MQTT)
    assert math.isclose(battery.VMax.cvalue, state.protection.cvl_v, abs_tol=0.05)
    assert math.isclose(battery.VMin.cvalue, rig.config.pack.cell_count * rig.config.pack.limits.vmin_v,
                        abs_tol=0.05)
    # both power ratings on one base: current x cells x nominal voltage
    lim, pack = rig.config.protection.limits, rig.config.pack
    assert math.isclose(battery.WChaRteMax.cvalue / battery.WDisChaRteMax.cvalue,
                        lim.max_charge_current_a / lim.max_discharge_current_a, rel_tol=0.01)
    assert math.isclose(battery.WChaRteMax.cvalue,
                        lim.max_charge_current_a * pack.cell_count * pack.limits.nominal_v, rel_tol=0.01)
    assert battery.SetOp.value == 1  # a contactor is commanded closed
    assert battery.SetInvState.value == 2
    # every cell has a temperature: its module's nearest thermistor
    temps = state.measurement.temperatures_c
    first_temp = 0
    for m, board in zip(models[805], pack.boards, strict=True):
        cells = m.groups["lithium-ion-module-cell"]
        assert len(cells) == board.cells
        got = [c.CellTmp.cvalue for c in cells]
        want = [temps[first_temp + min(board.thermistors - 1, k * board.thermistors // board.cells)]
                for k in range(board.cells)]
        assert got == [round(t, 1) for t in want]
        hottest = max(range(board.cells), key=lambda k: (want[k], -k))
        assert m.CellTmpMaxCell.value == hottest + 1  # a cell number, not a thermistor number
        first_temp += board.thermistors


async def test_heartbeat_counts_seconds(rig: Rig) -> None:
    # the adapter's uptime comes from the injected clock: 5 s later, 50 snapshots later, Hb is +5
    await rig.publish(make_state(rig.config, seq=10))
    models, _ = await asyncio.to_thread(_scan, rig.port)
    hb0 = models[802][0].Hb.value
    rig.clock.advance(5.0)
    await rig.publish(make_state(rig.config, seq=60))
    models, _ = await asyncio.to_thread(_scan, rig.port)
    assert models[802][0].Hb.value == hb0 + 5
