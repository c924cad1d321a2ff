"""A persistent 150 A over-current through the simulated pack and chip emulator: the discharge
contactor re-closes into it only until the fault has come back ``recurrence.count`` times, and the
allow-discharge relay never comes back on sooner than ``min_off_s`` after it went off."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

from bmsgateway.app import Daemon
from bmsgateway.clock import VirtualClock
from bmsgateway.commands.simulate import with_overrides
from bmsgateway.config import Config
from bmsgateway.state import Event


def test_persistent_over_current_latches_and_relay_keeps_min_off(tmp_path: Path) -> None:
    async def main() -> list[Event]:
        cfg = with_overrides(Config(), {
            "modbus.tcp.enabled": False, "simulator.scenario": "constant", "simulator.constant_current_a": -150.0,
            "persistence.save_interval_s": 3600.0, "system.cycle_period_s": 0.5,
        })
        d = Daemon.build(cfg, VirtualClock(), state_dir=tmp_path, log_events=False)
        t0 = d.clock.now()
        while d.clock.now() - t0 < 600.0:
            await d.cycle.run_once()
            await d.clock.sleep(cfg.system.cycle_period_s)
        events = list(d.protection.event_log)
        await d.stop()
        return events

    events = asyncio.run(main())
    closes = [e for e in events if e.kind == "output" and e.condition == "discharge" and e.value == 1.0]
    assert len(closes) == 3  # the first close and two re-closes; the third raise latched
    faults = [e for e in events if e.kind == "raised" and e.condition == "discharge_over_current"
              and e.severity == "fault"]
    assert len(faults) == 3 and "latched until the reset command" in faults[-1].message
    relay = [e for e in events if e.kind == "output" and e.condition == "allow_discharge"]
    for off, on in itertools.pairwise(relay):
        if off.value == 0.0 and on.value == 1.0:
            assert on.time_s - off.time_s >= 60.0 - 1e-6  # protection.relays.min_off_s
    assert relay[-1].value == 0.0
