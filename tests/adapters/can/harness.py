"""Closed-loop runs: the daemon on the simulated pack, the inverter adapters on virtual CAN buses,
the simulated inverter obeying one of them, and recorder buses that capture every frame sent."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import can
import cantools
import structlog

from bmsgateway.adapters.can import InverterAdapter
from bmsgateway.app import Daemon
from bmsgateway.clock import VirtualClock
from bmsgateway.commands.simulate import inverter_overrides, with_overrides
from bmsgateway.config import Config
from bmsgateway.sim.faults import FaultInjector
from bmsgateway.state import PackState

DBC_PATH = Path(__file__).resolve().parents[2] / "data" / "pylontech_lv.dbc"
DB = cantools.database.load_file(DBC_PATH)


def decode(can_id: int, data: bytes) -> dict[str, float]:
    """A frame decoded with cantools and the reference DBC (frames may be shorter than the DBC's)."""
    out = DB.decode_message(can_id, data, decode_choices=False, allow_truncated=True)
    return {k: float(v) for k, v in out.items()}  # type: ignore[arg-type]


@dataclass
class Group:
    """One frame set as captured on the bus, with the snapshot it was built from."""

    t_s: float
    frames: list[tuple[int, bytes]]
    state: PackState

    def decoded(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for can_id, data in self.frames:
            out.update(decode(can_id, data))
        return out

    @property
    def layout(self) -> tuple[tuple[int, int], ...]:
        return tuple((i, len(d)) for i, d in self.frames)


@dataclass
class Truth:
    t_s: float
    max_cell_v: float
    current_a: float
    source_a: float  #: what the scenario's PV could give


@dataclass
class LoopRun:
    config: Config
    states: list[PackState] = field(default_factory=list)
    groups: dict[str, list[Group]] = field(default_factory=dict)
    truth: list[Truth] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)


def _split_groups(msgs: list[can.Message]) -> list[list[tuple[int, bytes]]]:
    """Frames in arrival order -> groups, each starting at 0x351."""
    groups: list[list[tuple[int, bytes]]] = []
    for m in msgs:
        if m.arbitration_id == 0x305:
            continue
        if m.arbitration_id == 0x351 or not groups:
            groups.append([])
        groups[-1].append((m.arbitration_id, bytes(m.data)))
    return groups


def closed_loop(
    changes: dict[str, Any],
    duration_s: float,
    *,
    dialect: str = "victron",
    watch: tuple[str, ...] = ("pylontech", "sma", "victron"),
    period_s: float = 10.0,
    injections: tuple[str, ...] = (),
    on_start: Callable[[Daemon], None] | None = None,
) -> LoopRun:
    """Run the simulated daemon with the simulated inverter obeying ``dialect``.

    Every dialect in ``watch`` gets an adapter of its own (on its own virtual channel for the
    ones that do not close the loop) and a recorder bus; frames drained at a snapshot's listener
    call were sent for the snapshot before it (the adapter wakes right after each publish).
    """
    saved_logging = structlog.get_config()  # restored below: module fixtures call this, and
    # a quieted logger left behind hid later tests' captured logs
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    base = Config()
    cfg = with_overrides(base, {"system.cycle_period_s": period_s, "persistence.save_interval_s": 3600.0,
                                **changes})
    cfg = with_overrides(cfg, {**inverter_overrides(cfg, dialect, period_s),
                               "can.channel": f"loop-{dialect}", "can.inverter.keepalive_timeout_s": 60.0})
    run = LoopRun(config=cfg)

    async def main() -> None:
        clock = VirtualClock()
        with tempfile.TemporaryDirectory(prefix="bmsgw-can-") as tmp:
            daemon = Daemon.build(cfg, clock, state_dir=tmp, adapters=False, log_events=False)
            sim = daemon.hardware.simulator
            daemon.add_can_adapters(cfg)
            recorders: dict[str, can.BusABC] = {}
            for d in watch:
                channel = cfg.can.channel if d == dialect else f"watch-{d}"
                recorders[d] = can.Bus(interface="virtual", channel=channel)
                run.groups[d] = []
                if d != dialect:
                    other = with_overrides(cfg, {"can.inverter.dialect": d, "can.channel": channel,
                                                 "can.simulated_inverter": False})
                    daemon.add_adapter(InverterAdapter(other))
            injector = FaultInjector(sim, daemon.hardware.emulator)
            injector.schedule([_parse(i) for i in injections])
            if on_start is not None:
                on_start(daemon)
            prev: list[PackState] = []

            def listen(s: PackState) -> None:
                injector.poll(s.time_s)
                run.events.extend(s.protection.events)
                if prev:
                    for d, bus in recorders.items():
                        msgs = []
                        while (m := bus.recv(timeout=0)) is not None:
                            msgs.append(m)
                        for frames in _split_groups(msgs):
                            run.groups[d].append(Group(prev[0].time_s, frames, prev[0]))
                prev[:] = [s]
                run.states.append(s)
                pv, _load = sim.scenario.sources_a(sim.elapsed_s)
                run.truth.append(Truth(s.time_s, float(sim.true_cell_voltages_v.max()), sim.true_current_a, pv))

            daemon.cycle.listeners.append(listen)
            await daemon.start(until_s=clock.now() + duration_s)
            try:
                await daemon.wait()
            finally:
                await daemon.stop()
                for bus in recorders.values():
                    bus.shutdown()
                if sim.inverter is not None:
                    sim.inverter.close()

    try:
        asyncio.run(main())
    finally:
        structlog.configure(**saved_logging)
    return run


def _parse(text: str) -> Any:
    from bmsgateway.sim.faults import parse_injection

    return parse_injection(text)
