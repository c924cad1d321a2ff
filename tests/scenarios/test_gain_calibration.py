"""The current sensor's gain calibration with a known reference current (Servovision), end to end.

The simulated Hall sensor has a +4 % gain error: 50 A through it read 52 A. A real Modbus TCP client
writes the reference current to register ``calibrate_current_gain`` (1005): refused with exception
03 while the reading is not steady yet, for a reference too small to resolve, for one in the wrong
direction and for one implying more than the allowed ±10 % correction -- each changing nothing --
then accepted with the right one; the reading is then 50 A, the gain (register 119) survives a
restart through the state file.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from pymodbus.client import AsyncModbusTcpClient

from bmsgateway.app import Daemon
from bmsgateway.clock import VirtualClock
from bmsgateway.commands.simulate import with_overrides
from bmsgateway.config import Config
from bmsgateway.requests import CalibrateCurrentGain
from tests.scenarios.harness import run_cycles

GAIN_REGISTER = 1005
CONFIG = {
    "simulator.scenario": "constant",
    "simulator.constant_current_a": 50.0,
    "simulator.current_gain_error_pct": 4.0,
    "persistence.save_interval_s": 3600.0,
    "modbus.tcp.enabled": True,
    "modbus.tcp.port": 0,
}


def _s32_words(value_a: float) -> list[int]:
    raw = round(value_a * 1000.0) & 0xFFFFFFFF
    return [raw >> 16, raw & 0xFFFF]


async def _write(client: AsyncModbusTcpClient, address: int, values: list[int]) -> int | None:
    r = await client.write_registers(address, values, device_id=1)
    return int(r.exception_code) if r.isError() else None



def _gain_events(d: Daemon) -> list[str]:
    return [e.message for e in d.protection.event_log if e.condition == "calibrate_current_gain"]


def test_gain_calibration_refused_for_bad_references_accepted_for_a_good_one_and_kept(tmp_path: Path) -> None:
    cfg = with_overrides(Config(), CONFIG)

    async def first_run() -> float:
        d = Daemon.build(cfg, VirtualClock(), state_dir=tmp_path, log_events=False)
        await d.start(until_s=d.clock.now())  # the adapters; the pack cycle is driven here
        try:
            s = await run_cycles(d, 20)
            adapter: Any = d.adapters[0]
            assert await adapter.wait_serving(), "the Modbus adapter did not start"  # after a first snapshot
            assert s.measurement.current_a == pytest.approx(52.0, abs=0.3)  # +4 % gain error
            async with AsyncModbusTcpClient("127.0.0.1", port=adapter.tcp_port) as client:
                assert await _write(client, 1000, [cfg.modbus.pin]) is None  # unlock
                # 2 s of readings, 5 s needed (hardware.current_sensor.gain_steady_s)
                assert "fresh for" in s.gain_not_steady
                assert await _write(client, GAIN_REGISTER, _s32_words(50.0)) == 3
                await run_cycles(d, 60)
                assert await _write(client, GAIN_REGISTER, _s32_words(5.0)) == 3  # < 2 % of the 625 A range
                assert await _write(client, GAIN_REGISTER, _s32_words(-50.0)) == 3  # wrong direction
                assert await _write(client, GAIN_REGISTER, _s32_words(60.0)) == 3  # +15 % correction
                assert await _write(client, 1002, [4]) == 3  # the command code alone: no reference
                s = await run_cycles(d, 3)
                assert d.cycle.acquisition.gain == 1.0 and s.measurement.current_gain == 1.0
                assert d.requests.drain() == []
                # the pack cycle applies the same rule to a request that reached it anyway
                d.requests.submit(CalibrateCurrentGain(reference_a=60.0, source="test"))
                s = await run_cycles(d, 2)
                assert d.cycle.acquisition.gain == 1.0
                assert "refused" in _gain_events(d)[-1] and "+15.4 %" in _gain_events(d)[-1]
                # the right reference
                assert await _write(client, GAIN_REGISTER, _s32_words(50.0)) is None
                for _ in range(100):  # the accepted write reaches the pack cycle from the server's thread
                    s = await run_cycles(d, 1)
                    if d.cycle.acquisition.gain != 1.0:
                        break
                    await asyncio.sleep(0.02)
                s = await run_cycles(d, 2)
                gain = d.cycle.acquisition.gain
                assert gain == pytest.approx(1.0 / 1.04, rel=0.003)
                assert s.measurement.current_a == pytest.approx(50.0, abs=0.3)
                assert "gain set to" in _gain_events(d)[-1]
                s = await run_cycles(d, 1)
                r = await client.read_holding_registers(119, count=1, device_id=1)
                for _ in range(50):  # the served image follows the newest snapshot
                    if r.registers[0] == round(gain * 10000):
                        break
                    await asyncio.sleep(0.05)
                    r = await client.read_holding_registers(119, count=1, device_id=1)
                assert r.registers[0] == round(gain * 10000)
            return gain
        finally:
            await d.stop()  # the final save writes the state file

    async def second_run(gain: float) -> None:
        d = Daemon.build(with_overrides(cfg, {"modbus.tcp.enabled": False}), VirtualClock(), state_dir=tmp_path,
                         log_events=False)
        assert d.cycle.acquisition.gain == pytest.approx(gain, rel=1e-9)
        s = await run_cycles(d, 10)
        assert s.measurement.current_a == pytest.approx(50.0, abs=0.3)
        await d.stop()

    gain = asyncio.run(first_run())
    asyncio.run(second_run(gain))
