"""Two current sensors (123\\SmartBMS: one in the chargers' line, one in the consumers'), end to end.

A simulated solar day, compressed to 3 h of simulated time (``simulator.day_length_h``) with a
10 s cycle so it runs in seconds: the simulator drives the charge-side sensor with the solar
current and the consumer-side sensor with the load current, on the emulated LTC6811's GPIOs; the
daemon reads them through the real driver. Checked on every cycle: battery current = charger -
consumer, each side against the simulator's truth. At the end: the energy counters against the
simulator's energy, "today" restarted at the local midnight of the injected clock, and the same
values read back by a real Modbus TCP client.

Fail safe: a consumer-side sensor that lies (an open input: 0 V, the end of its range) makes the
battery current unknown, never wrong, and ``communication_lost.current`` opens the contactors.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pymodbus.client import AsyncModbusTcpClient

from bmsgateway.app import Daemon
from bmsgateway.clock import VirtualClock
from bmsgateway.commands.simulate import with_overrides
from bmsgateway.config import Config
from bmsgateway.sim import PackSimulator
from bmsgateway.state import PackState

DAY_H = 3.0  #: the profile's 24 h in 3 simulated hours
FAST = {
    "simulator.scenario": "solar_day",
    "simulator.day_length_h": DAY_H,
    "simulator.start_hour": 6.0,
    "hardware.consumer_current_sensor.mode": "charge_minus_consumer",
    "system.cycle_period_s": 10.0,
    "persistence.save_interval_s": 3600.0,
    "hardware.open_wire_interval_s": 600.0,
    "hardware.status_interval_s": 60.0,
    "hardware.self_test_interval_s": 600.0,
    "hardware.chain_probe_interval_s": 600.0,
    "modbus.tcp.enabled": True,
    "modbus.tcp.port": 0,
}


@dataclass(frozen=True)
class Row:
    day: str  #: local date of the injected clock's wall time
    battery_a: float
    charger_a: float
    consumer_a: float
    true_charger_a: float
    true_consumer_a: float
    true_charger_wh: float
    true_consumer_wh: float
    charger_today_wh: float
    charger_total_wh: float
    consumer_today_wh: float
    consumer_total_wh: float


def _local_wall(year: int, month: int, day: int, hour: int) -> float:
    return time.mktime((year, month, day, hour, 0, 0, 0, 0, -1))


def _s32(hi: int, lo: int) -> int:
    v = (hi << 16) | lo
    return v - (1 << 32) if v & 0x80000000 else v


def _u32(hi: int, lo: int) -> int:
    return (hi << 16) | lo


def test_solar_day_with_a_charger_and_a_consumer_sensor(tmp_path: Path) -> None:
    rows: list[Row] = []
    final: dict[str, Any] = {}

    async def day() -> None:
        cfg = with_overrides(Config(), {**FAST, "modbus.tcp.enabled": False})
        # local 23:00 on the injected clock: local midnight falls 1 h into the (3 h) day
        clock = VirtualClock(start_wall=_local_wall(2026, 6, 1, 23))
        d = Daemon.build(cfg, clock, state_dir=tmp_path, log_events=False)
        sim = d.hardware.simulator
        assert sim is not None

        def listen(s: PackState) -> None:
            m, e = s.measurement, s.estimate
            rows.append(Row(
                time.strftime("%Y-%m-%d", time.localtime(s.wall_time)), m.current_a, m.charger_current_a,
                m.consumer_current_a, sim.true_charger_current_a, sim.true_consumer_current_a,
                sim.charger_energy_wh, sim.consumer_energy_wh, e.charger_today_wh, e.charger_total_wh,
                e.consumer_today_wh, e.consumer_total_wh,
            ))

        d.cycle.listeners.append(listen)
        await d.start(until_s=clock.now() + DAY_H * 3600.0)
        try:
            await d.wait()
        finally:
            await d.stop()  # saves the counters in the state file

    async def restart_and_read_modbus() -> None:
        # the next start, at noon of the profile, on today's clock (the Modbus adapter judges its
        # snapshot's age by the wall clock): the totals come back from the state file
        cfg = with_overrides(Config(), {**FAST, "simulator.start_hour": 12.0})
        clock = VirtualClock()
        d = Daemon.build(cfg, clock, state_dir=tmp_path, log_events=False)
        await d.start(until_s=clock.now() + 120.0)
        try:
            await d.wait()
            s = await d.cycle.run_once()  # one period after the loop's last snapshot: a live one
            final["state"] = s
            adapter: Any = d.adapters[0]
            assert await adapter.wait_serving()
            async with AsyncModbusTcpClient("127.0.0.1", port=adapter.tcp_port) as client:
                for _ in range(100):
                    r = await client.read_holding_registers(14, count=20, device_id=1)
                    if _u32(r.registers[0], r.registers[1]) == s.seq:
                        break
                    await asyncio.sleep(0.05)
                final["pack"] = r.registers[6:]
                r = await client.read_holding_registers(119, count=21, device_id=1)
                final["sides"] = r.registers
        finally:
            await d.stop()

    asyncio.run(day())
    asyncio.run(restart_and_read_modbus())

    assert len(rows) == pytest.approx(DAY_H * 360, abs=3)
    # every cycle: the battery current is the difference of the two sensors, and each side reads
    # what the simulator drives through it (noise 0.05 A, dead band 0.375 A, ADC step 0.025 A)
    for r in rows:
        assert math.isfinite(r.battery_a) and math.isfinite(r.charger_a) and math.isfinite(r.consumer_a)
        assert r.battery_a == pytest.approx(r.charger_a - r.consumer_a, abs=1e-9)
        assert r.charger_a == pytest.approx(r.true_charger_a, abs=0.6)
        assert r.consumer_a == pytest.approx(r.true_consumer_a, abs=0.6)
    # the day had both: solar up to its 40 A peak with the base load, and the evening load
    assert max(r.charger_a for r in rows) > 35.0
    assert min(r.consumer_a for r in rows[6:]) > 1.5  # after the start-up (precharge, contactors closing)
    assert max(r.consumer_a for r in rows) > 13.0
    assert any(r.charger_a > 5.0 and r.consumer_a > 10.0 for r in rows)  # 18:00-19:00: both at once

    last = rows[-1]
    # totals: the energy the simulator's source delivered and its loads drew, within 2 %
    assert last.true_charger_wh > 1000.0
    assert last.charger_total_wh == pytest.approx(last.true_charger_wh, rel=0.02)
    assert last.consumer_total_wh == pytest.approx(last.true_consumer_wh, rel=0.02)
    # today: restarted at local midnight of the injected clock, then counted what came after it
    days = [r.day for r in rows]
    assert days[0] == "2026-06-01" and days[-1] == "2026-06-02"
    k = days.index("2026-06-02")
    assert rows[k - 1].charger_today_wh == pytest.approx(rows[k - 1].charger_total_wh)
    assert rows[k].charger_today_wh < 0.01 * rows[k - 1].charger_today_wh + 1.0
    since_midnight_c = last.true_charger_wh - rows[k - 1].true_charger_wh
    since_midnight_l = last.true_consumer_wh - rows[k - 1].true_consumer_wh
    assert last.charger_today_wh == pytest.approx(since_midnight_c, rel=0.03)
    assert last.consumer_today_wh == pytest.approx(since_midnight_l, rel=0.03)
    assert last.charger_today_wh < last.charger_total_wh

    # after a restart (state file), over Modbus (registers 20.. pack, 119.. the two sensors)
    s: PackState = final["state"]
    p, w = final["pack"], final["sides"]
    m = s.measurement
    assert m.charger_current_a > 20.0 and m.consumer_current_a > 1.5  # noon: solar and the base load
    charger = _s32(w[1], w[2]) / 1000.0
    consumer = _s32(w[3], w[4]) / 1000.0
    assert charger == pytest.approx(m.charger_current_a, abs=0.001)
    assert consumer == pytest.approx(m.consumer_current_a, abs=0.001)
    assert _s32(p[2], p[3]) / 1000.0 == pytest.approx(charger - consumer, abs=0.002)  # current_a
    assert _s32(w[5], w[6]) == round(s.charger_power_w)
    assert _s32(w[7], w[8]) == round(s.consumer_power_w)
    e = s.estimate
    # restored from the state file, plus the 2 minutes since (at most 45 A / 5 A at 60 V)
    assert last.charger_total_wh < e.charger_total_wh < last.charger_total_wh + 45.0 * 60.0 / 30.0
    assert last.consumer_total_wh < e.consumer_total_wh < last.consumer_total_wh + 5.0 * 60.0 / 30.0
    assert 0.0 < e.charger_today_wh < 100.0  # another day: today started over
    assert _u32(w[9], w[10]) / 1000.0 == pytest.approx(e.charger_today_wh / 1000.0, abs=0.001)
    assert _u32(w[11], w[12]) / 1000.0 == pytest.approx(e.charger_total_wh / 1000.0, abs=0.001)
    assert _u32(w[13], w[14]) / 1000.0 == pytest.approx(e.consumer_today_wh / 1000.0, abs=0.001)
    assert _u32(w[15], w[16]) / 1000.0 == pytest.approx(e.consumer_total_wh / 1000.0, abs=0.001)
    assert w[0] == 10000  # current_gain 1.0000: no gain calibration


async def _discharging_through_the_consumer_sensor(tmp_path: Path) -> tuple[Daemon, PackSimulator, Config, PackState]:
    """A daemon on the simulator, 20 A to the consumers (charge_minus_consumer), after 6 s."""
    cfg = with_overrides(Config(), {
        "simulator.scenario": "constant", "simulator.constant_current_a": -20.0,
        "hardware.consumer_current_sensor.mode": "charge_minus_consumer",
        "persistence.save_interval_s": 3600.0, "modbus.tcp.enabled": False,
    })
    clock = VirtualClock()
    d = Daemon.build(cfg, clock, state_dir=tmp_path, log_events=False)
    sim = d.hardware.simulator
    assert sim is not None
    s = None
    for _ in range(60):
        s = await d.cycle.run_once()
        await clock.sleep(0.1)
    assert s is not None
    return d, sim, cfg, s


def test_a_lying_consumer_sensor_makes_the_battery_current_unknown_and_opens(tmp_path: Path) -> None:
    async def main() -> None:
        d, sim, cfg, s = await _discharging_through_the_consumer_sensor(tmp_path)
        clock = d.clock
        assert s is not None
        assert s.measurement.consumer_current_a == pytest.approx(20.0, abs=0.6)
        assert s.measurement.current_a == pytest.approx(-20.0, abs=0.6)
        assert s.protection.state == "ready"
        sim.set_current_sensor_output("consumer", 0.0)  # open input: reads -625 A, the end of its range
        states = []
        for _ in range(40):
            states.append(await d.cycle.run_once())
            await clock.sleep(0.1)
        first = states[0]
        assert math.isnan(first.measurement.consumer_current_a)
        assert math.isnan(first.measurement.current_a)  # unknown, never -20 - (-625) = +605 A
        assert all(math.isnan(x.measurement.current_a) for x in states)
        assert not any(x.protection.active and any(a.condition.endswith("over_current") for a in x.protection.active)
                       for x in states)
        last = states[-1]
        assert last.measurement.current_age_s > cfg.hardware.current_sensor.max_age_s
        assert "communication_lost" in {a.condition for a in last.protection.active if a.severity == "fault"}
        assert last.protection.state == "fault"
        # the sensor is read again: the battery current is known again (0 A: the contactors are open)
        sim.set_current_sensor_output("consumer", None)
        s = await d.cycle.run_once()
        assert s.measurement.current_a == pytest.approx(0.0, abs=0.6)
        await d.stop()

    asyncio.run(main())


def test_a_short_on_the_consumer_side_opens_in_the_cycle_that_sees_it(tmp_path: Path) -> None:
    """The consumer sensor at the end of its range in the direction of consumption: the battery
    discharges at least that much; the short-circuit fault trips and the contactors open in the
    first cycle that reads it (not a second later, as for a reading that is merely unknown)."""
    async def main() -> None:
        d, sim, cfg, s = await _discharging_through_the_consumer_sensor(tmp_path)
        assert s.protection.state == "ready"
        sim.set_current_sensor_output("consumer", 5.0)  # the output at its top rail: >= 625 A drawn
        s = await d.cycle.run_once()
        assert s.measurement.current_a < -cfg.protection.current.short_circuit_a
        assert "short_circuit" in {a.condition for a in s.protection.active if a.severity == "fault"}
        assert s.protection.state == "fault"
        assert s.protection.contactors and not any(c.commanded for c in s.protection.contactors)
        assert not s.protection.discharge_allowed
        # the rail is a bound, not a measurement: a sensor left stuck there is not coulomb counted
        # (10 s at -600 A would be 1.7 Ah, 1.7 % of the pack)
        assert s.measurement.current_at_rail
        soc0, out0 = s.estimate.soc_pct, s.estimate.charge_out_ah
        for _ in range(100):
            await d.clock.sleep(0.1)
            s = await d.cycle.run_once()
        assert s.measurement.current_at_rail and s.measurement.current_a < -500.0
        assert s.estimate.soc_pct == pytest.approx(soc0, abs=0.05)
        assert s.estimate.charge_out_ah == pytest.approx(out0, abs=0.01)
        await d.stop()

    asyncio.run(main())
