"""The adapter seam: what any adapter may rely on, and what no adapter can break.

* an adapter that crashes on every snapshot is restarted with a growing back-off, and the pack
  cycle publishes exactly what it publishes without that adapter (same snapshots, same outputs);
* an adapter that only looks every 50 cycles still gets every event, in order, by sequence number;
* a stale snapshot is not served as fresh;
* ``propose`` goes through the one validated path and does not run on the event loop.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import structlog

from bmsgateway.adapters.base import Adapter, AdapterPorts
from bmsgateway.app import Daemon
from bmsgateway.clock import VirtualClock
from bmsgateway.commands.simulate import with_overrides
from bmsgateway.config import Config
from bmsgateway.requests import ResetFaults
from bmsgateway.state import Event, PackState


def _config() -> Config:
    return with_overrides(Config(), {"persistence.save_interval_s": 3600.0, "modbus.tcp.enabled": False})


def _quiet() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(50))


def _outputs(s: PackState) -> tuple[Any, ...]:
    p = s.protection
    return (
        s.seq, s.time_s, s.measurement.cell_voltages_v, s.measurement.current_a, p.state,
        p.charge_allowed, p.discharge_allowed, tuple((c.name, c.commanded) for c in p.contactors),
        p.cvl_v, p.ccl_a, p.dcl_a, p.balancing, s.estimate.soc_pct,
    )


class CrashOnEverySnapshot:
    name = "crasher"

    def __init__(self) -> None:
        self.starts: list[float] = []

    async def run(self, ports: AdapterPorts) -> None:
        self.starts.append(time.monotonic())
        ports.mark_started()
        async for _ in ports.snapshots():
            raise RuntimeError("this adapter fails on every snapshot")


def test_a_crashing_adapter_is_restarted_with_backoff_and_the_cycle_is_unaffected(tmp_path: Path) -> None:
    _quiet()

    async def main() -> None:
        crasher = CrashOnEverySnapshot()
        assert isinstance(crasher, Adapter)
        d = Daemon.build(_config(), VirtualClock(), state_dir=tmp_path / "a", log_events=False)
        d.add_adapter(crasher)
        seen: list[PackState] = []
        d.cycle.listeners.append(seen.append)
        await d.start()
        # The cycle runs on the virtual clock (as fast as it can) while the adapter keeps crashing.
        deadline = time.monotonic() + 20.0
        while len(crasher.starts) < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        n = len(seen)
        await d.stop()
        assert len(crasher.starts) >= 3, "the crashed adapter was not started again"
        gaps = [b - a for a, b in zip(crasher.starts, crasher.starts[1:], strict=False)]
        assert gaps[0] >= 0.9 and gaps[1] >= 1.5 * gaps[0] * 0.9, f"no growing back-off: {gaps}"
        assert d.adapter_restarts["crasher"] >= 2
        assert n > 50
        # Every cycle was published, in order, with no gap.
        assert [s.seq for s in seen[:n]] == list(range(n))

        # The same pack without the adapter, cycle for cycle: identical snapshots and outputs.
        ref = Daemon.build(_config(), VirtualClock(), state_dir=tmp_path / "b", log_events=False)
        ref_seen: list[PackState] = []
        ref.cycle.listeners.append(ref_seen.append)
        await ref.start()
        while len(ref_seen) < n:
            await asyncio.sleep(0)
        await ref.stop()
        for a, b in zip(seen[:n], ref_seen[:n], strict=True):
            assert _outputs(a) == _outputs(b)
        assert seen[n - 1].protection.state == "ready"

    asyncio.run(main())


class LooksEvery50Cycles:
    name = "sleeper"

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.next_seq = 0
        self.looks = 0

    async def run(self, ports: AdapterPorts) -> None:
        ports.mark_started()
        self.next_seq = ports.next_event_seq
        last_look = -1
        async for s in ports.snapshots():
            if s.seq - last_look < 50:
                continue
            last_look = s.seq
            self.looks += 1
            new = ports.events_since(self.next_seq)
            if new:
                self.events.extend(new)
                self.next_seq = new[-1].seq + 1


def test_an_adapter_that_sleeps_through_50_cycles_receives_every_event_in_order(tmp_path: Path) -> None:
    _quiet()

    async def main() -> None:
        sleeper = LooksEvery50Cycles()
        d = Daemon.build(_config(), VirtualClock(), state_dir=tmp_path, log_events=False)
        d.add_adapter(sleeper)
        produced: list[Event] = []

        def command_now_and_then(s: PackState) -> None:
            produced.extend(s.protection.events)
            if s.seq % 7 == 3:  # a reset command every 7 cycles: one "command" event each
                d.requests.submit(ResetFaults(source="test"))

        d.cycle.listeners.append(command_now_and_then)
        await d.start()
        while sleeper.looks < 8:
            await asyncio.sleep(0)
        await d.stop()
        logged = [e for e in d.protection.event_log if e.seq < sleeper.next_seq]
        assert len([e for e in produced if e.seq < sleeper.next_seq]) > 40
        assert [e.seq for e in sleeper.events] == list(range(sleeper.events[0].seq, sleeper.next_seq))
        assert sleeper.events == logged  # the same events, in the same order, nothing lost or doubled
        # every command was recorded with its source, between the pack's own events
        assert sum(1 for e in sleeper.events if e.kind == "write" and "(from test)" in e.message) > 10

    asyncio.run(main())


def test_event_sequence_numbers_continue_across_a_restart(tmp_path: Path) -> None:
    _quiet()

    async def main() -> None:
        d = Daemon.build(_config(), VirtualClock(), state_dir=tmp_path, log_events=False)
        for _ in range(30):
            await d.cycle.run_once()
            await d.clock.sleep(0.1)
        await d.stop()
        last = max(e.seq for e in d.protection.event_log)
        again = Daemon.build(_config(), VirtualClock(), state_dir=tmp_path, log_events=False)
        restored = list(again.protection.event_log)
        assert restored[-1].seq == last
        s = await again.cycle.run_once()
        assert s.protection.events and min(e.seq for e in s.protection.events) == last + 1
        await again.stop()

    asyncio.run(main())


def test_stale_snapshots_are_not_served_as_fresh_and_propose_runs_off_the_loop(tmp_path: Path) -> None:
    _quiet()

    async def main() -> None:
        clock = VirtualClock()
        d = Daemon.build(_config(), clock, state_dir=tmp_path, log_events=False)
        ports = d._ports_for("probe")
        assert ports.fresh() is None  # nothing published yet
        s = await d.cycle.run_once()
        assert ports.fresh() is s
        clock.advance(d.config.system.stale_after_s + 0.5)  # the cycle stalls
        assert ports.fresh() is None and ports.latest() is s

        loop_thread = threading.get_ident()
        seen_threads: list[int] = []
        original = d.settings.propose

        def spy(changes: Any, source: str = "unknown") -> list[str]:
            seen_threads.append(threading.get_ident())
            return original(changes, source)

        d.settings.propose = spy  # type: ignore[method-assign]
        problems = await ports.propose({"protection.relays.mode": "critical"}, "test")
        assert problems == [] and d.settings.config.protection.relays.mode == "critical"
        assert seen_threads and seen_threads[0] != loop_thread
        bad = await ports.propose({"pack.chemistry.vmin_v": 9.0}, "test")
        assert bad and "pack.chemistry.vmin_v" in bad[0]
        assert d.settings.config.protection.relays.mode == "critical"  # the refused change altered nothing
        await d.stop()

    asyncio.run(main())


class BlocksTheLoop:
    """An adapter that makes a synchronous call which hangs for 2.5 s: the whole event loop it
    runs on hangs with it (a blocking socket, a slow disk, a long CPU-bound render)."""

    name = "blocker"

    def __init__(self) -> None:
        self.blocking = threading.Event()
        self.window: tuple[float, float] = (0.0, 0.0)
        self.seqs: tuple[int, int] = (0, 0)
        self.done = asyncio.Event()

    async def run(self, ports: AdapterPorts) -> None:
        ports.mark_started()
        await asyncio.sleep(1.0)  # the pack is running
        s0 = ports.latest()
        assert s0 is not None
        t0 = time.time()
        self.blocking.set()
        time.sleep(2.5)  # the point of this adapter: it blocks its loop
        s1 = ports.latest()
        assert s1 is not None
        self.window, self.seqs = (t0, time.time()), (s0.seq, s1.seq)
        self.done.set()
        await asyncio.Event().wait()


def test_an_adapter_that_blocks_its_event_loop_does_not_hold_back_protection(tmp_path: Path) -> None:
    """A cell over-voltage that starts while an adapter has the event loop blocked opens the
    charge contactor within its fault delay, not after the adapter lets go: the pack cycle runs on a
    thread and event loop of its own (on a real clock, as the daemon runs)."""
    _quiet()

    async def main() -> None:
        from bmsgateway.clock import RealClock
        from bmsgateway.sim.faults import parse_injection

        d = Daemon.build(_config(), RealClock(), state_dir=tmp_path, adapters=False, log_events=False)
        blocker = BlocksTheLoop()
        d.add_adapter(blocker)
        injected: list[float] = []

        def inject_when_blocked(s: PackState) -> None:  # runs in the pack cycle, between cycles
            if blocker.blocking.is_set() and not injected:
                d.hardware.simulator.inject(parse_injection("cell_ov:3"))
                injected.append(s.wall_time)

        d.cycle.listeners.append(inject_when_blocked)
        await d.start()
        await asyncio.wait_for(blocker.done.wait(), 20.0)
        s = d.store.latest
        await d.stop()
        assert s is not None
        t0, t1 = blocker.window
        # the cycle kept its 10 Hz while the loop was blocked (2.5 s: 25 cycles)
        assert blocker.seqs[1] - blocker.seqs[0] >= 15
        # the fault was raised, and the contactors commanded open, while the adapter still blocked
        raised = [e for e in d.protection.event_log
                  if e.condition == "cell_over_voltage" and e.severity == "fault" and e.kind == "raised"]
        assert injected and raised
        assert any(a.condition == "cell_over_voltage" and a.severity == "fault" for a in s.protection.active)
        # an over-voltage stops charging: the charge contactor open, charging not allowed
        assert not s.protection.charge_allowed
        assert [c.commanded for c in s.protection.contactors if c.name == "charge"] == [False]
        fault_wall = d.clock.wall_time() - (d.clock.now() - raised[0].time_s)
        assert t0 < fault_wall < t1 - 0.5
        assert fault_wall - injected[0] < 2.0  # its 1 s delay, plus a cycle or two

    asyncio.run(main())
