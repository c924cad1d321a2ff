"""Run the whole daemon on the simulated pack, faster than real time, and record what happened."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from bmsgateway.app import Daemon
from bmsgateway.clock import VirtualClock
from bmsgateway.commands.simulate import with_overrides
from bmsgateway.config import Config
from bmsgateway.requests import Request
from bmsgateway.sim.faults import FaultInjector, Injection
from bmsgateway.state import Event, PackState


@dataclass
class Recording:
    """Every snapshot (or every n-th), every event, and the injections with their times."""

    states: list[PackState] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    injections: list[tuple[float, Injection]] = field(default_factory=list)
    rows: list[Any] = field(default_factory=list)
    daemon: Daemon | None = None
    config: Config | None = None

    def outputs(self, name: str) -> list[tuple[float, bool]]:
        """(time, on) of each change of an output, from the output events."""
        out = []
        for ev in self.events:
            if ev.kind == "output" and ev.condition == name:
                out.append((ev.time_s, ev.message.startswith("on")))
        return out

    def raised(self, condition: str, severity: str | None = None) -> list[Event]:
        return [
            e for e in self.events
            if e.kind == "raised" and e.condition == condition and (severity is None or e.severity == severity)
        ]


async def run_cycles(daemon: Daemon, cycles: int) -> PackState:
    """Run ``cycles`` pack cycles of a built daemon at its period on its (virtual) clock; the last snapshot."""
    state = None
    for _ in range(cycles):
        state = await daemon.cycle.run_once()
        await daemon.clock.sleep(daemon.cycle.config.system.cycle_period_s)
    assert state is not None
    return state


def simulate(
    changes: dict[str, Any],
    duration_s: float,
    injections: list[str] = (),  # type: ignore[assignment]
    keep_every: int = 1,
    row: Callable[[PackState], Any] | None = None,
    commands: list[tuple[float, Request]] = (),  # type: ignore[assignment]
) -> Recording:
    """Run the simulated daemon for ``duration_s`` of simulated time.

    ``commands``: (seconds since the start, request) submitted as an adapter would, after the
    cycle that reaches that time (so applied at the start of the next one)."""
    cfg = with_overrides(Config(), changes)
    rec = Recording(config=cfg)
    saved_logging = structlog.get_config()  # restored below: module fixtures call this, and
    # a quieted logger left behind hid later tests' captured logs
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))

    async def main() -> None:
        clock = VirtualClock()
        with tempfile.TemporaryDirectory(prefix="bmsgw-scn-") as tmp:
            daemon = Daemon.build(cfg, clock, state_dir=tmp, adapters=False, log_events=False)
            rec.daemon = daemon
            injector = FaultInjector(daemon.hardware.simulator, daemon.hardware.emulator)
            injector.schedule(list(injections))
            pending = sorted(commands, key=lambda c: c[0])
            start_s = clock.now()

            def listen(s: PackState) -> None:
                while pending and s.time_s - start_s >= pending[0][0]:
                    daemon.requests.submit(pending.pop(0)[1])
                for inj in injector.poll(s.time_s):
                    rec.injections.append((s.time_s, inj))
                rec.events.extend(s.protection.events)
                if row is not None:
                    rec.rows.append(row(s))
                elif s.seq % keep_every == 0:
                    rec.states.append(s)

            daemon.cycle.listeners.append(listen)
            await daemon.start(until_s=clock.now() + duration_s)
            try:
                await daemon.wait()
            finally:
                await daemon.stop()

    try:
        asyncio.run(main())
    finally:
        structlog.configure(**saved_logging)
    return rec
