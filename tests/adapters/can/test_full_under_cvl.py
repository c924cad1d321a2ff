"""Issue 17 item 1 in closed loop: an inverter obeying CVL must still let the pack become "full".

With CVL = cells x Vbalance (``protection.limits.cvl_above_vbalance_v = 0``, the default) the
simulated inverter holds the pack voltage at exactly that, so every cell >= Vbalance -- the
normal mode's full -- needs a perfectly balanced pack: measured on this pack over 6 h from 08:00
the lowest cell got to 3.395 V, charging never stopped and SOC stayed at 98.7 %. With CVL a bit
above (the 123\\SmartBMS manual's 13.7 V for 4 x 3.4 V, 0.025 V a cell) the cells reach Vbalance,
the relay stops charging and SOC reads 100 % in that cycle.
"""

from __future__ import annotations

import pytest

from tests.adapters.can.harness import closed_loop

pytestmark = pytest.mark.timeout(600)

PACK = {
    "pack.capacity_ah": 40.0,
    "pack.boards": [{"chip": "LTC6811", "cells": 8, "thermistors": 2}],
    "simulator.scenario": "solar_day",
    "simulator.start_hour": 10.0,
    "simulator.initial_soc_pct": 85.0,
    "hardware.open_wire_interval_s": 600.0,
    "hardware.status_interval_s": 30.0,
    "can.inverter.limit_hold_s": 60.0,
    "protection.relays.mode": "normal",
    "protection.limits.cvl_above_vbalance_v": 0.025,
}


def test_cvl_above_vbalance_lets_the_inverter_fill_the_pack_to_100_pct() -> None:
    run = closed_loop(PACK, 1.5 * 3600.0, watch=("victron",))
    vbal = run.config.pack.limits.vbalance_v
    states = run.states
    cvl = [g.decoded()["ChargeVoltageLimit"] for g in run.groups["victron"] if g.state.protection.charge_allowed]
    assert max(cvl) == pytest.approx(8 * (vbal + 0.025), abs=0.05)  # what the inverter was told
    stops = [i for i in range(1, len(states))
             if states[i - 1].protection.allow_charge_relay and not states[i].protection.allow_charge_relay]
    assert stops, "the inverter must bring every cell to Vbalance"
    s = states[stops[0]]
    assert s.measurement.all_cells_fresh and s.min_cell_v >= vbal and not s.protection.active
    assert s.estimate.soc_pct == pytest.approx(100.0, abs=0.05)
    assert states[stops[0] - 1].estimate.soc_pct < 100.0
