"""The inverter adapter on an in-process virtual bus: keep-alive, stale data, limit stability,
alarms and derating, bus failures, the candump log, config errors, and the table vs the DBC."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import can
import pytest

from bmsgateway.adapters.base import AdapterPorts
from bmsgateway.adapters.can import CanStatus, InverterAdapter
from bmsgateway.adapters.can.bus import BusLink
from bmsgateway.adapters.can.encoder import InverterEncoder
from bmsgateway.adapters.can.frames import FRAMES
from bmsgateway.clock import RealClock, VirtualClock
from bmsgateway.config import Config, ConfigError, parse_config
from bmsgateway.protection.events import EventLog
from bmsgateway.protection.limits import DeratingTable
from bmsgateway.requests import RequestQueue
from bmsgateway.settings import SettingsStore
from bmsgateway.state import ActiveCondition, PackState, ProtectionStatus, Severity
from bmsgateway.store import SnapshotStore
from tests.adapters.can.harness import DB, closed_loop, decode
from tests.adapters.conftest import make_state


def can_config(channel: str, can_extra: dict[str, Any] | None = None, **inverter: Any) -> Config:
    inv = {"dialect": "pylontech", "period_s": 0.1, **inverter}
    return parse_config({"can": {"enabled": True, "interface": "virtual", "channel": channel, "inverter": inv,
                                 **(can_extra or {})}}, "test")


class Live:
    """An InverterAdapter serving fresh snapshots in real time, a test bus on the same channel."""

    def __init__(self, cfg: Config, tmp: Path) -> None:
        self.cfg = cfg
        self.clock = RealClock()
        self.store = SnapshotStore()
        self.events = EventLog(100)
        self.ports = AdapterPorts("can-inverter", self.store, self.events,
                                  SettingsStore(cfg, tmp / "s.json", RequestQueue()), RequestQueue(),
                                  self.clock, stale_after_s=0.5)
        self.adapter = InverterAdapter(cfg, CanStatus())
        self.bus = can.Bus(interface="virtual", channel=cfg.can.channel)
        self.seq = 0
        self.protection: ProtectionStatus | None = None
        self.publishing = True
        self.seen: list[can.Message] = []

    def state(self) -> PackState:
        self.seq += 1
        s = make_state(self.cfg, seq=self.seq, protection=self.protection)
        return dataclasses.replace(s, time_s=self.clock.now(), wall_time=self.clock.wall_time())

    async def publisher(self) -> None:
        while True:
            if self.publishing:
                self.store.publish(self.state())
            await asyncio.sleep(0.05)

    def frames(self) -> list[can.Message]:
        """Frames received since the last call (also kept for ``last``)."""
        out = []
        while (m := self.bus.recv(timeout=0)) is not None:
            out.append(m)
        self.seen.extend(out)
        return out

    def reset(self) -> None:
        self.frames()
        self.seen.clear()

    def last(self, can_id: int) -> dict[str, float]:
        self.frames()
        msgs = [m for m in self.seen if m.arbitration_id == can_id]
        assert msgs, f"no 0x{can_id:X} sent"
        return decode(can_id, bytes(msgs[-1].data))


@pytest.fixture
async def live_factory(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    tasks: list[asyncio.Task[Any]] = []
    lives: list[Live] = []

    async def start(cfg: Config) -> Live:
        live = Live(cfg, tmp_path)
        lives.append(live)
        tasks.append(asyncio.create_task(live.publisher()))
        tasks.append(asyncio.create_task(live.adapter.run(live.ports)))
        await live.ports.wait_started()
        return live

    yield start
    for t in tasks:
        t.cancel()
    for t in tasks:
        with pytest.raises(asyncio.CancelledError):
            await t
    for live in lives:
        live.bus.shutdown()


async def _until(cond: Callable[[], bool], timeout_s: float = 5.0) -> None:
    end = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < end, "condition not reached"
        await asyncio.sleep(0.02)


async def test_keepalive_timeout_is_an_event_a_status_bit_and_stops_charging(live_factory: Any) -> None:
    live: Live = await live_factory(can_config("ka", keepalive_timeout_s=0.6, stop_charge_without_keepalive=True,
                                               limit_hold_s=0.0))
    alive = can.Message(arbitration_id=0x305, data=bytes(8), is_extended_id=False)
    for _ in range(10):  # the inverter talks for a while
        live.bus.send(alive)
        await asyncio.sleep(0.1)
    await _until(lambda: live.adapter.status.keepalive_ok is True)
    live.reset()
    await asyncio.sleep(0.3)
    assert live.last(0x351)["ChargeCurrentLimit"] == 50.0
    # ... then falls silent
    await _until(lambda: live.adapter.status.keepalive_ok is False, 3.0)
    lost = [e for e in live.events.since(0) if e.condition == "inverter_keepalive"]
    assert [e.severity for e in lost] == ["warning"]
    live.reset()
    await asyncio.sleep(0.3)
    assert live.last(0x351)["ChargeCurrentLimit"] == 0.0
    assert live.last(0x35C)["ChargeEnable"] == 0
    assert live.last(0x35C)["DischargeEnable"] == 1  # discharging is not the inverter's keep-alive's business
    # It comes back: status, event, charging again.
    live.bus.send(alive)
    await _until(lambda: live.adapter.status.keepalive_ok is True, 3.0)
    assert [e.severity for e in live.events.since(0) if e.condition == "inverter_keepalive"] == ["warning", "info"]
    live.reset()
    live.bus.send(alive)
    await asyncio.sleep(0.3)
    assert live.last(0x35C)["ChargeEnable"] == 1


async def test_stale_snapshot_sends_zero_limits_and_alarm_bits(live_factory: Any) -> None:
    live: Live = await live_factory(can_config("stale"))
    await asyncio.sleep(0.3)
    assert live.last(0x351)["DischargeCurrentLimit"] == 100.0
    live.publishing = False  # the pack cycle stalls: the last snapshot ages
    await asyncio.sleep(0.9)
    live.reset()
    await asyncio.sleep(0.3)
    lim = live.last(0x351)
    assert lim["ChargeCurrentLimit"] == 0 and lim["DischargeCurrentLimit"] == 0
    assert lim["ChargeVoltageLimit"] == pytest.approx(16 * 2.9)
    flags = live.last(0x359)
    assert flags["Prot_SystemError"] == 1 and flags["Warn_InternalCommFail"] == 1
    req = live.last(0x35C)
    assert req["ChargeEnable"] == 0 and req["DischargeEnable"] == 0
    meas = live.last(0x356)
    assert meas["BatteryVoltage"] == 0 and meas["BatteryCurrent"] == 0  # never the last good values


async def test_alarm_change_is_sent_at_once(live_factory: Any) -> None:
    cfg = can_config("alarm", period_s=5.0)
    live: Live = await live_factory(cfg)
    await asyncio.sleep(0.3)
    live.reset()
    live.protection = ProtectionStatus(
        state="ready", charge_allowed=False, discharge_allowed=True, cvl_v=55.2, ccl_a=0.0, dcl_a=100.0,
        active=(ActiveCondition("cell_over_voltage", Severity.FAULT, 3.8, 3.7, 4),),
    )
    t0 = time.monotonic()
    await _until(lambda: _has_ov(live), 2.0)
    assert time.monotonic() - t0 < 1.0  # long before the 5 s period


def _has_ov(live: Live) -> bool:
    return any(
        m.arbitration_id == 0x359 and decode(0x359, bytes(m.data))["Prot_CellOverVoltage"] == 1
        for m in live.frames()
    )


def test_dithering_cell_never_toggles_ccl_faster_than_the_hold() -> None:
    """A top cell dithering around a derating point every cycle: the target CCL flips each second,
    the sent CCL falls once and rises only after the cell stayed away from the point for the hold."""
    hold = 30.0
    cfg = parse_config({"can": {"inverter": {"limit_hold_s": hold, "current_ramp_a_per_s": 5.0}}}, "test")
    enc = InverterEncoder(cfg)
    lim = cfg.protection.limits
    derate = DeratingTable(lim.charge_cell_voltage_derating)
    vmax = cfg.pack.limits.vmax_v
    sent: list[tuple[float, float]] = []
    targets: list[float] = []
    for k in range(1200):
        t = float(k)
        top = vmax - 0.10 + (0.02 if k % 2 and k < 600 else 0.0)  # dithers for 10 min, then stays low
        ccl = lim.max_charge_current_a * derate(vmax - top)
        targets.append(ccl)
        prot = ProtectionStatus(state="ready", charge_allowed=True, discharge_allowed=True, cvl_v=55.0,
                                ccl_a=ccl, dcl_a=100.0)
        fs = enc.encode(make_state(cfg, protection=prot), t)
        sent.append((t, decode(0x351, fs.frames[0][1])["ChargeCurrentLimit"]))
    target_flips = sum(1 for a, b in itertools.pairwise(targets) if a != b)
    assert target_flips > 500  # the cause really toggles every cycle
    last_fall = -1e9
    rises = 0
    for (_t0, a), (t1, b) in itertools.pairwise(sent):
        if b < a - 0.05:
            last_fall = t1
        elif b > a + 0.05:
            assert t1 - last_fall >= hold, f"CCL rose at {t1} s, {t1 - last_fall} s after it fell"
            rises += 1
    assert rises > 0
    assert sent[-1][1] == pytest.approx(targets[-1], abs=0.1)  # after the dithering: ramped back up


def test_soc_window_scales_the_soc_the_inverter_sees() -> None:
    cfg = parse_config({"can": {"inverter": {"soc_min_pct": 10.0, "soc_max_pct": 90.0}}}, "test")
    enc = InverterEncoder(cfg)
    for soc, seen in ((50.0, 50.0), (90.0, 100.0), (95.0, 100.0), (5.0, 0.0), (30.0, 25.0)):
        from bmsgateway.state import EstimateStatus

        fs = enc.encode(make_state(cfg, estimate=EstimateStatus(soc_pct=soc, soh_pct=99.0)), 0.0)
        assert decode(0x355, dict(fs.frames)[0x355])["SOC"] == seen


@pytest.mark.timeout(600)
def test_closed_loop_alarms_on_injected_faults_and_ccl_derates_with_heat() -> None:
    run = closed_loop(
        {"pack.boards": [{"chip": "LTC6811", "cells": 8, "thermistors": 2}], "simulator.start_hour": 11.0,
         "simulator.ambient_temperature_c": 44.0, "simulator.initial_soc_pct": 40.0, "pack.capacity_ah": 200.0,
         "simulator.cooler_power_w": 0.0},
        20 * 60.0, dialect="pylontech", injections=("cell_ov:3@12m",), period_s=5.0,
    )
    lim = run.config.protection.limits
    derate = DeratingTable(lim.charge_temperature_derating)
    before = [g for g in run.groups["pylontech"] if g.t_s - run.states[0].time_s < 11 * 60]
    hot = 0
    for g in before:
        d = g.decoded()
        expected = lim.max_charge_current_a * derate(g.state.max_temperature_c)
        assert d["ChargeCurrentLimit"] <= expected + 0.1
        if g.state.max_temperature_c > 42.0:
            hot += 1
            assert d["ChargeCurrentLimit"] < lim.max_charge_current_a * 0.85
    assert hot > 100
    # the simulated inverter charged within the derated CCL
    for t in run.truth:
        assert t.current_a <= lim.max_charge_current_a * derate(42.0) + 0.5
    after = [g.decoded() for g in run.groups["pylontech"] if g.t_s - run.states[0].time_s > 12 * 60 + 10]
    assert after and all(d["Prot_CellOverVoltage"] == 1 for d in after)
    assert all(d["ChargeEnable"] == 0 and d["ChargeCurrentLimit"] == 0 for d in after)
    for dialect in ("sma", "victron"):
        late = [g.decoded() for g in run.groups[dialect] if g.t_s - run.states[0].time_s > 12 * 60 + 10]
        assert late and all(d["Alm_HighVoltage"] == 1 and d["Alm_General"] == 1 for d in late)


def test_frame_table_matches_the_reference_dbc() -> None:
    for can_id, frame in FRAMES.items():
        msg = DB.get_message_by_frame_id(can_id)
        assert frame.length == msg.length
        ref = {s.name: s for s in msg.signals}
        for s in frame.signals:
            r = ref[s.name]
            assert (s.start, s.length, s.signed, s.scale, s.offset) == (
                r.start, r.length, r.is_signed, r.scale, r.offset), s.name


def test_bad_can_config_names_key_and_allowed_values() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"can": {"bitrate": 300000}}, "test")
    assert "can.bitrate" in str(err.value.problems)
    with pytest.raises(ConfigError) as err:
        parse_config({"can": {"inverter": {"dialect": "pylontech", "manufacturer": "DIYPYLON"}}}, "test")
    assert "PYLON" in str(err.value.problems)
    with pytest.raises(ConfigError):
        parse_config({"can": {"inverter": {"dialect": "growatt"}}}, "test")


async def test_missing_interface_is_retried_with_backoff_and_never_stops_the_cycle(tmp_path: Path) -> None:
    from bmsgateway.app import Daemon

    cfg = parse_config({"modbus": {"tcp": {"enabled": False}},
                        "can": {"enabled": True, "interface": "socketcan", "channel": "nosuchcan9",
                                "retry_initial_s": 0.05}}, "test")
    link = BusLink(cfg.can, "test")
    assert not link.ensure_open()
    assert not link.ensure_open()  # not retried before its back-off
    assert link.counters.open_failures == 1
    await asyncio.sleep(0.06)
    assert not link.ensure_open()
    assert link.counters.open_failures == 2 and link.retry_in_s > 0.06  # the back-off doubled

    daemon = Daemon.build(cfg, VirtualClock(), state_dir=tmp_path, log_events=False)
    await daemon.start(until_s=60.0)
    await daemon.wait()
    await daemon.stop()
    last = daemon.store.latest
    assert last is not None and last.seq >= 500  # 60 s of 100 ms cycles, undisturbed


async def test_candump_log_records_frames(tmp_path: Path, live_factory: Any) -> None:
    path = tmp_path / "can.log"
    cfg = can_config("log", {"log_path": str(path)})
    live: Live = await live_factory(cfg)
    live.bus.send(can.Message(arbitration_id=0x305, data=bytes(8), is_extended_id=False))
    await _until(lambda: path.exists() and "351#" in path.read_text() and "305#" in path.read_text())
    ids = {m.arbitration_id for m in can.LogReader(str(path))}
    assert {0x305, 0x351, 0x355, 0x356, 0x359, 0x35C, 0x35E} <= ids


def test_inverter_docs_are_current() -> None:
    from bmsgateway.adapters.can.docs import render_markdown

    committed = (Path(__file__).resolve().parents[3] / "docs" / "inverter-can.md").read_text()
    assert committed == render_markdown(), "run: python -m bmsgateway.adapters.can.docs > docs/inverter-can.md"


async def test_send_errors_close_the_bus_and_it_is_reopened_after_the_backoff() -> None:
    cfg = can_config("errors", {"retry_initial_s": 0.05})
    link = BusLink(cfg.can, "test")
    assert link.ensure_open()
    assert link.bus is not None
    link.bus.shutdown()  # the interface goes away under the adapter
    for _ in range(5):
        assert not link.send(0x351, bytes(8))
    assert link.counters.send_errors == 5 and link.counters.reopens == 1 and not link.is_open
    assert not link.ensure_open()  # waits for its back-off
    await asyncio.sleep(0.06)
    assert link.ensure_open() and link.send(0x351, bytes(8))
    assert link.counters.frames_sent == 1
    link.close()
