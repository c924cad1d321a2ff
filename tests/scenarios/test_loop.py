"""The pack cycle end to end in simulation: what the daemon reports is what the pack does."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
import structlog

from bmsgateway.app import Daemon
from bmsgateway.clock import VirtualClock
from bmsgateway.commands.simulate import with_overrides
from bmsgateway.config import Config
from bmsgateway.requests import CalibrateCurrentZero
from bmsgateway.sim.faults import parse_injection
from bmsgateway.state import Event
from tests.scenarios.harness import run_cycles


def _config(**changes: object) -> Config:
    base: dict[str, object] = {"persistence.save_interval_s": 3600.0, "modbus.tcp.enabled": False}
    base.update(changes)
    return with_overrides(Config(), base)


@pytest.fixture(autouse=True)
def _quiet() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))


def test_measurements_match_the_simulated_pack(tmp_path: Path) -> None:
    async def main() -> None:
        d = Daemon.build(_config(**{"simulator.scenario": "constant"}), VirtualClock(), state_dir=tmp_path)
        s = await run_cycles(d, 50)
        sim = d.hardware.simulator
        m = s.measurement
        assert all(b.ok for b in m.boards) and sum(b.pec_errors_total for b in m.boards) == 0
        truth = sim.true_cell_voltages_v
        # 0.5 mV noise + 100 uV ADC steps; the cycle sampled a moment earlier than "now"
        assert np.max(np.abs(np.array(m.cell_voltages_v) - truth)) < 0.004
        assert m.current_a == pytest.approx(sim.true_current_a, abs=0.3)
        assert sim.true_current_a == pytest.approx(10.0)  # the constant scenario flows once connected
        assert s.min_temperature_c == pytest.approx(float(np.min(sim.cell_temperatures_c)), abs=0.6)
        assert m.pack_voltage_measured_v == pytest.approx(m.pack_voltage_sum_v, abs=0.02)
        assert max(m.cell_age_s) == 0.0 and m.current_age_s == 0.0
        assert s.protection.state == "ready" and s.seq == 49
        await d.stop()

    asyncio.run(main())


def test_balancing_energy_counted_matches_the_heat_in_the_simulator(tmp_path: Path) -> None:
    async def main() -> None:
        cfg = _config(**{"simulator.scenario": "idle", "system.cycle_period_s": 1.0})
        d = Daemon.build(cfg, VirtualClock(), state_dir=tmp_path)
        sim = d.hardware.simulator
        socs = [96.0] * 16
        socs[3], socs[11] = 99.5, 99.0  # two high cells near the top: differential balancing bleeds them
        sim.set_cell_soc_pct(socs)
        s = await run_cycles(d, 1800)
        assert sim.balancing_energy_wh > 0.2  # 33 ohm at ~3.35 V: ~0.34 W per cell
        assert s.estimate.balancing_energy_wh == pytest.approx(sim.balancing_energy_wh, rel=0.05)
        await d.stop()

    asyncio.run(main())


def test_zero_current_calibration_request(tmp_path: Path) -> None:
    async def main() -> None:
        cfg = _config(**{"simulator.scenario": "idle", "simulator.current_offset_a": 0.8,
                         "simulator.current_noise_a": 0.0, "hardware.current_sensor.zero_rest_s": 1.0})
        d = Daemon.build(cfg, VirtualClock(), state_dir=tmp_path)
        s = await run_cycles(d, 20)
        assert s.measurement.current_a == pytest.approx(0.8, abs=0.05)  # the sensor's offset shows
        d.requests.submit(CalibrateCurrentZero(source="test"))
        s = await run_cycles(d, 5)
        assert s.measurement.current_a == pytest.approx(0.0, abs=0.05)
        # one owner: the offset the sensor reading is corrected by is the one every protocol shows
        assert s.measurement.current_zero_offset_a == pytest.approx(0.8, abs=0.05)
        await d.stop()
        # the offset is kept across a restart
        again = Daemon.build(cfg, VirtualClock(), state_dir=tmp_path)
        s = await run_cycles(again, 5)
        assert s.measurement.current_a == pytest.approx(0.0, abs=0.05)
        await again.stop()

    asyncio.run(main())


def test_settings_change_takes_effect_in_the_loop_and_persists(tmp_path: Path) -> None:
    async def main() -> None:
        d = Daemon.build(_config(), VirtualClock(), state_dir=tmp_path)
        s = await run_cycles(d, 3)
        assert s.protection.relay_mode == "normal"
        assert d.settings.propose({"protection.relays.mode": "critical"}, source="test") == []
        s = await run_cycles(d, 1)
        assert s.protection.relay_mode == "critical"
        assert d.cycle.config.protection.relays.mode == "critical"
        await d.stop()
        again = Daemon.build(_config(), VirtualClock(), state_dir=tmp_path)
        s = await run_cycles(again, 1)
        assert s.protection.relay_mode == "critical"
        await again.stop()

    asyncio.run(main())


def test_soc_and_counters_survive_a_restart(tmp_path: Path) -> None:
    async def main() -> None:
        cfg = _config(**{"simulator.scenario": "constant", "simulator.constant_current_a": 50.0,
                         "system.cycle_period_s": 1.0})
        d = Daemon.build(cfg, VirtualClock(), state_dir=tmp_path)
        s = await run_cycles(d, 1800)  # 25 Ah into a 100 Ah pack
        soc_before, ah_before = s.estimate.soc_pct, s.estimate.charge_in_ah
        assert ah_before == pytest.approx(25.0, rel=0.05)
        await d.stop()
        again = Daemon.build(cfg, VirtualClock(), state_dir=tmp_path)
        s = await run_cycles(again, 1)
        assert s.estimate.soc_pct == pytest.approx(soc_before, abs=1.0)
        assert s.estimate.charge_in_ah == pytest.approx(ah_before, abs=0.1)
        await again.stop()

    asyncio.run(main())


def test_crash_in_the_cycle_opens_every_output(tmp_path: Path) -> None:
    async def main() -> None:
        d = Daemon.build(_config(), VirtualClock(), state_dir=tmp_path)
        await run_cycles(d, 10)
        sim = d.hardware.simulator
        assert sim.get_output("charge") and sim.get_output("discharge")

        def boom(*_: object) -> None:
            raise RuntimeError("estimator bug")

        d.cycle.estimator.update = boom  # type: ignore[method-assign]
        await d.start()
        with pytest.raises(RuntimeError, match="estimator bug"):
            await d.wait()
        assert not any(sim.get_output(n) for n in ("precharge", "charge", "discharge", "allow_charge",
                                                    "allow_discharge"))
        await d.stop()

    asyncio.run(main())


def test_precharge_verified_with_the_bus_voltage_read_through_a_gpio(tmp_path: Path) -> None:
    """[hardware.bus_voltage]: the bus is read through a divider on an LTC681x GPIO, as on hardware."""

    async def main() -> None:
        cfg = _config(**{"hardware.bus_voltage.enabled": True, "hardware.bus_voltage.gpio": 3})
        d = Daemon.build(cfg, VirtualClock(), state_dir=tmp_path)
        states = [await d.cycle.run_once() for _ in range(1)]
        for _ in range(10):
            await d.clock.sleep(0.1)
            states.append(await d.cycle.run_once())
        bus = [s.measurement.bus_voltage_v for s in states]
        assert bus[0] < 5.0  # DC link empty at start
        # read through the chip: 100 uV ADC steps times the divider ratio of 20
        assert all(abs(v / 0.002 - round(v / 0.002)) < 1e-6 for v in bus)
        done = next(s for s in states if s.protection.state == "ready")
        pack_v = done.measurement.pack_voltage_sum_v
        after = states[states.index(done) + 2]  # main contactors closed: bus = pack
        assert after.measurement.bus_voltage_v == pytest.approx(pack_v, rel=0.02)
        # it closed only once the bus had reached the precharge fraction (0.9) of the pack
        before = [s for s in states if s.seq < done.seq]
        assert before and all(s.protection.state == "precharge" for s in before)
        assert all(s.measurement.bus_voltage_v < 0.9 * pack_v for s in before)
        assert done.measurement.bus_voltage_v >= 0.9 * pack_v
        await d.stop()

    asyncio.run(main())


def test_event_log_survives_a_restart(tmp_path: Path) -> None:
    async def main() -> None:
        cfg = _config()
        d = Daemon.build(cfg, VirtualClock(), state_dir=tmp_path)
        await run_cycles(d, 5)
        d.hardware.simulator.inject(parse_injection("cell_ov:3"))
        await run_cycles(d, 20)
        await d.stop()  # opening the outputs at stop adds events too

        def key(e: Event) -> tuple[object, ...]:
            return (e.time_s, e.kind, e.condition, e.severity, e.location, e.message)

        before = [key(e) for e in d.cycle.protection.event_log]
        assert any(k[1:3] == ("raised", "cell_over_voltage") for k in before)
        assert any(k[-1] == "off (shutdown)" for k in before)
        again = Daemon.build(cfg, VirtualClock(), state_dir=tmp_path)
        kept = [key(e) for e in again.cycle.protection.event_log]
        assert kept[: len(before)] == before
        # ... followed by the latched over-voltage fault, raised again from the state file
        assert [k[1:5] for k in kept[len(before):]] == [("raised", "cell_over_voltage", "fault", 2)]
        await run_cycles(again, 3)
        assert len(again.cycle.protection.event_log) > len(before)  # new events follow the old ones
        await again.stop()

    asyncio.run(main())


def test_corrupt_state_file_is_reported_and_the_daemon_starts(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text('{"version": 1, "cell_soc_pct": [1, 2')
    async def main() -> None:
        d = Daemon.build(_config(**{"simulator.initial_soc_pct": 50.0}), VirtualClock(), state_dir=tmp_path)
        s = await run_cycles(d, 3)
        assert s.protection.state in ("precharge", "ready")
        assert s.estimate.soc_pct == pytest.approx(50.0, abs=5.0)  # safe default, not garbage
        await d.stop()

    asyncio.run(main())
    assert (tmp_path / "state.json.corrupt").exists()
    assert (tmp_path / "state.json").exists()  # a good file written again at stop
