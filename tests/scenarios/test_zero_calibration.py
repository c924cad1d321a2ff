"""The zero-current calibration through the real pack cycle: refused under load and while the
cells relax, with an event saying why; taken once current is near zero and the cells are at rest."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bmsgateway.app import Daemon
from bmsgateway.clock import VirtualClock
from bmsgateway.commands.simulate import with_overrides
from bmsgateway.config import Config
from bmsgateway.requests import CalibrateCurrentZero
from tests.scenarios.harness import run_cycles


def _calibration_events(d: Daemon) -> list[str]:
    return [e.message for e in d.protection.event_log if e.condition == "calibrate_current_zero"]


def test_calibration_refused_at_40_a_and_accepted_at_rest(tmp_path: Path) -> None:
    async def main() -> None:
        profile = tmp_path / "load.csv"  # 40 A charging for 10.5 s, then nothing
        profile.write_text("time_s,current_a\n0,40\n10.5,40\n10.6,0\n100000,0\n")
        cfg = with_overrides(Config(), {
            "modbus.tcp.enabled": False, "simulator.scenario": "csv", "simulator.csv_path": str(profile),
            "simulator.csv_repeat": False,
            "simulator.current_noise_a": 0.0, "simulator.current_offset_a": 0.3,
            "hardware.current_sensor.zero_rest_s": 5.0, "persistence.save_interval_s": 3600.0,
        })
        d = Daemon.build(cfg, VirtualClock(), state_dir=tmp_path)
        s = await run_cycles(d, 90)
        assert s.measurement.current_a == pytest.approx(40.3, abs=0.5)
        assert "outside the zero band" in s.zero_calibration_refusal
        d.requests.submit(CalibrateCurrentZero(source="test"))
        s = await run_cycles(d, 3)
        assert d.cycle.acquisition.zero_offset_a == 0.0  # nothing stored
        assert s.measurement.current_a == pytest.approx(40.3, abs=0.5)
        assert "refused: the current sensor reads +40" in _calibration_events(d)[-1]

        # the charger stops: the cells relax first, so not yet ...
        s = await run_cycles(d, 20)
        assert abs(s.measurement.current_a) < 0.5
        assert "not at rest" in s.zero_calibration_refusal
        d.requests.submit(CalibrateCurrentZero(source="test"))
        await run_cycles(d, 2)
        assert d.cycle.acquisition.zero_offset_a == 0.0
        assert "refused: the cells are not at rest" in _calibration_events(d)[-1]
        # ... but once at rest, yes
        for _ in range(600):
            s = await run_cycles(d, 10)
            if not s.zero_calibration_refusal:
                break
        assert s.zero_calibration_refusal == ""
        d.requests.submit(CalibrateCurrentZero(source="test"))
        s = await run_cycles(d, 3)
        assert d.cycle.acquisition.zero_offset_a == pytest.approx(0.3, abs=0.05)
        assert abs(s.measurement.current_a) < 0.05
        assert "zero offset set to +0.3" in _calibration_events(d)[-1]
        await d.stop()

    asyncio.run(main())
