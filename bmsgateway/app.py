"""The composition root: builds every object from the config in dependency order.

Why one place: the set of code that can run is fixed and visible here (no plugin loading by
name), dependencies are passed in as typed constructor arguments, and start-up, ready and
shutdown happen in one order. The simulated pack is the embedded default backend.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from bmsgateway import __version__
from bmsgateway.acquisition.sampler import Acquisition
from bmsgateway.adapters.base import Adapter, AdapterPorts
from bmsgateway.adapters.status import status_line
from bmsgateway.clock import Clock, RealClock, VirtualClock
from bmsgateway.config.model import Config
from bmsgateway.cycle import PackCycle
from bmsgateway.estimation.estimator import Estimator
from bmsgateway.hal.interfaces import BusVoltageSensor, DigitalIO, SpiTransport
from bmsgateway.hal.ltc681x.driver import LTC681xChain
from bmsgateway.persist.saver import StateSaver
from bmsgateway.persist.state import SavedState, load_state
from bmsgateway.protection.protection import Protection
from bmsgateway.requests import RequestQueue
from bmsgateway.runtime.sdnotify import SystemdNotifier
from bmsgateway.settings import SettingsStore
from bmsgateway.state import Event, PackState, event_from_dict
from bmsgateway.store import SnapshotStore

__all__ = ["Daemon", "Hardware", "build_hardware", "summary_fields"]

log = structlog.get_logger("app")

_PING_S = 1.0  #: watchdog ping interval (WatchdogSec in the unit is several times this)


@dataclass
class Hardware:
    """What the backend gives the rest of the daemon."""

    transport: SpiTransport
    io: DigitalIO
    bus: BusVoltageSensor | None
    offload: bool  #: run blocking driver calls in a worker thread
    simulator: Any = None  #: the PackSimulator in simulation (truth for tests and summaries)
    emulator: Any = None  #: the EmulatedChain in simulation (fault knobs, emulator time)


def build_hardware(config: Config, clock: Clock) -> Hardware:
    """The simulated pack (default) or the Raspberry Pi's spidev + gpiod."""
    chips = [b.chip for b in config.pack.boards]
    if config.hardware.backend == "simulated":
        from bmsgateway.hal.ltc681x.emulator import EmulatedChain
        from bmsgateway.sim.pack import PackSimulator

        sim = PackSimulator(config, clock)
        emu = EmulatedChain(
            chips,
            clock,
            sim,
            [b.cells for b in config.pack.boards],
            seed=config.simulator.seed,
            extra_boards=config.simulator.unconfigured_boards,
        )
        return Hardware(transport=emu, io=sim, bus=sim, offload=False, simulator=sim, emulator=emu)
    from bmsgateway.hal.gpiod_io import GpiodIO
    from bmsgateway.hal.spidev_transport import SpidevTransport

    spi = config.hardware.spi
    return Hardware(
        transport=SpidevTransport(spi.bus, spi.device, spi.speed_hz, spi.mode),
        io=GpiodIO(config.hardware.gpio, config.hardware.inputs),
        bus=None,
        offload=True,
    )


def _r(x: float, nd: int = 3) -> float | None:
    return None if x != x or math.isinf(x) else round(x, nd)


def summary_fields(s: PackState) -> dict[str, Any]:
    """The fields of the periodic summary line (also used by ``simulate``)."""
    m, p, e = s.measurement, s.protection, s.estimate
    return {  # what a person looks at first leads: voltage, current, SOC, state
        "pack_v": _r(s.pack_voltage_v, 2),
        "current_a": _r(m.current_a, 2),
        "soc_pct": _r(e.soc_pct, 1),
        "stored_kwh": _r(e.stored_energy_wh / 1000.0, 2),
        "state": str(p.state),
        "t_s": round(s.time_s, 1),
        "min_cell_v": _r(s.min_cell_v),
        "min_cell": s.min_cell_index + 1 if s.min_cell_index >= 0 else None,
        "max_cell_v": _r(s.max_cell_v),
        "max_cell": s.max_cell_index + 1 if s.max_cell_index >= 0 else None,
        "min_temp_c": _r(s.min_temperature_c, 1),
        "max_temp_c": _r(s.max_temperature_c, 1),
        "boards_ok": sum(1 for b in m.boards if b.ok),
        "boards": len(m.boards),
        "pec_errors": sum(b.pec_errors_total for b in m.boards),
        "charge": p.allow_charge_relay,
        "discharge": p.allow_discharge_relay,
        "faults": sorted(a.condition for a in p.active if a.severity == "fault"),
        "warnings": sorted(a.condition for a in p.active if a.severity == "warning"),
        "balancing": sum(p.balancing),
    }


def event_fields(ev: Event) -> dict[str, Any]:
    """One event as log/JSON fields (cells and boards counted from 1 for people)."""
    out: dict[str, Any] = {
        "t_s": round(ev.time_s, 3),
        "kind": ev.kind,
        "condition": ev.condition,
        "severity": ev.severity,
    }
    if ev.value == ev.value:
        out["value"] = round(ev.value, 4)
    if ev.threshold == ev.threshold:
        out["threshold"] = round(ev.threshold, 4)
    if ev.location >= 0:
        out["location"] = ev.location + 1
    if ev.message:
        out["message"] = ev.message
    return out


@dataclass
class _Summary:
    interval_s: float
    emit: Callable[[PackState], None]
    next_s: float = -math.inf

    def __call__(self, s: PackState) -> None:
        if s.time_s >= self.next_s:
            self.next_s = s.time_s + self.interval_s
            self.emit(s)


@dataclass
class Daemon:
    """Everything that runs, wired together."""

    config: Config
    clock: Clock
    hardware: Hardware
    cycle: PackCycle
    store: SnapshotStore
    requests: RequestQueue
    settings: SettingsStore
    saver: StateSaver
    estimator: Estimator
    protection: Protection
    adapters: list[Adapter] = field(default_factory=list)
    notifier: SystemdNotifier = field(default_factory=lambda: SystemdNotifier(False))
    #: per adapter name: its ports (what it may touch) and restart count, for tests and status
    ports: dict[str, AdapterPorts] = field(default_factory=dict)
    adapter_restarts: dict[str, int] = field(default_factory=dict)
    #: each adapter's counters (``AdapterPorts.publish_stats``), one dict shared by every port
    adapter_stats: dict[str, Callable[[], Mapping[str, float]]] = field(default_factory=dict)
    #: run the pack cycle on a thread and event loop of its own (None: yes, unless the clock is a
    #: VirtualClock, whose simulated time only moves when the one shared loop gets to the cycle)
    cycle_thread: bool | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Future[None] | None = None
    _adapters_task: asyncio.Task[None] | None = None
    _thread: threading.Thread | None = None
    _last_ping: float = -math.inf
    _next_save_s: float = -math.inf
    _saved_latch_version: int = 0

    @classmethod
    def build(
        cls,
        config: Config,
        clock: Clock | None = None,
        *,
        state_dir: str | Path | None = None,
        adapters: bool = True,
        log_events: bool = True,
    ) -> Daemon:
        clock = clock or RealClock()
        sdir = config.system.resolved_state_dir(state_dir)
        requests = RequestQueue()
        settings = SettingsStore(config, sdir / "settings.json", requests)
        config = settings.load_overrides()
        saved, _problems = load_state(sdir / "state.json")  # load_state logs each problem itself
        hw = build_hardware(config, clock)
        chain = LTC681xChain(hw.transport, [b.chip for b in config.pack.boards], config.hardware.pec_retries)
        # Start-up check: a chain that does not answer at all (SPI mode/speed, wiring) is a clear
        # error now (ChainError, a RuntimeError: "no answer from board 1: ..."), not PEC errors forever.
        chain.wakeup()
        chain.check_answers()
        acquisition = Acquisition(
            config, chain, clock, hw.bus, offload=hw.offload, zero_offset_a=saved.current_zero_offset_a,
            gain=saved.current_gain, consumer_zero_offset_a=saved.consumer_zero_offset_a,
        )
        if (
            config.hardware.backend != "simulated"
            and config.protection.contactors.precharge
            and not config.hardware.bus_voltage.enabled
        ):
            log.warning(
                "precharge_unverified",
                hint="no [hardware.bus_voltage] sensor: precharge can only wait its timeout",
            )
        estimator = Estimator(config, saved, clock=clock)
        protection = Protection(config, hw.io, hw.bus, clock)
        # The event log outlives restarts: the protection stage owns it, the state file keeps it.
        restored = [ev for ev in map(event_from_dict, saved.events) if ev is not None]
        protection.event_log.restore(restored[-config.protection.event_log_size :])
        # Latched faults outlive restarts too: active from the first cycle, until the reset command.
        if saved.latched_faults:
            n = protection.restore_latched(saved.latched_faults)
            log.warning("latched_faults_restored", count=n,
                        hint="cleared by the reset command once each condition is gone")
        store = SnapshotStore()
        cycle = PackCycle(config, acquisition, estimator, protection, store, requests, clock)
        cycle.event_log = protection.event_log
        saver = StateSaver(sdir / "state.json", config.persistence.save_interval_s, clock)
        daemon = cls(config, clock, hw, cycle, store, requests, settings, saver, estimator, protection)
        cycle.listeners.append(daemon._persist)
        if log_events:
            cycle.listeners.append(_Summary(config.system.summary_interval_s, daemon._log_summary))
            cycle.listeners.append(daemon._log_events)
        if adapters and (config.modbus.tcp.enabled or config.modbus.rtu.enabled):
            from bmsgateway.adapters.modbus.server import ModbusAdapter

            daemon.add_adapter(ModbusAdapter(config, store, settings, requests))
        if adapters:
            from bmsgateway.adapters.status import STATUS_FILE, StatusAdapter

            daemon.add_adapter(StatusAdapter(sdir / STATUS_FILE))
        if adapters and config.history.enabled:
            from bmsgateway.adapters.history import HistoryAdapter

            hdir = Path(config.history.dir) if config.history.dir else sdir / "history"
            daemon.add_adapter(HistoryAdapter(config.history, hdir))
        if adapters and config.http.enabled:
            from bmsgateway.adapters.http.server import HttpAdapter

            daemon.add_adapter(HttpAdapter(config.http))
        if adapters and config.can.enabled:
            daemon.add_can_adapters(config)
        if adapters and config.mqtt.enabled:
            from bmsgateway.adapters.mqtt import MqttAdapter

            daemon.add_adapter(MqttAdapter(config))
        return daemon

    # -- listeners -------------------------------------------------------------------------
    def _persist(self, s: PackState) -> None:
        # Building the saved state costs more than a cycle should spend: only when a save is due,
        # or at once when a latch was raised or cleared (a crash right after must not lose it).
        latch_changed = self.protection.latch_version != self._saved_latch_version
        if s.time_s < self._next_save_s and not latch_changed:
            return
        self._next_save_s = s.time_s + self.cycle.config.persistence.save_interval_s
        self._saved_latch_version = self.protection.latch_version
        self.saver.maybe_save(self._saved_state(), force=latch_changed)

    def _saved_state(self) -> SavedState:
        """Estimator state + zero calibration + the protection event log, for the state file."""
        saved = self.estimator.saved_state()
        saved.current_zero_offset_a = self.cycle.acquisition.zero_offset_a
        saved.current_gain = self.cycle.acquisition.gain
        saved.consumer_zero_offset_a = self.cycle.acquisition.consumer_zero_offset_a
        # The Event objects themselves (immutable): the saver thread turns them into dicts, so the
        # pack loop never spends milliseconds converting a thousand events.
        saved.events = list(self.protection.event_log)
        saved.latched_faults = self.protection.latched_records()
        return saved

    def _log_summary(self, s: PackState) -> None:
        log.info("summary", **summary_fields(s))

    def _log_events(self, s: PackState) -> None:
        for ev in s.protection.events:
            log.info("event", **event_fields(ev))

    def _watchdog(self, s: PackState) -> None:
        """Called after every completed cycle: a stalled cycle stops the pings and systemd restarts us.

        Pinged at most every ``_PING_S`` of wall time (with a one-line STATUS=), not at 10 Hz.
        """
        now = time.monotonic()
        if now - self._last_ping >= _PING_S:
            self._last_ping = now
            self.notifier.watchdog(status_line(s))

    async def first_valid_snapshot(self) -> PackState:
        """The first snapshot in which the chain answered (some cell measured)."""
        seq = -1
        while True:
            s = await self.store.wait_next(seq)
            seq = s.seq
            if any(v == v for v in s.measurement.cell_voltages_v):
                return s

    # -- adapters ----------------------------------------------------------------------------
    def add_adapter(self, adapter: Adapter) -> None:
        """Plug an adapter into the seam (before ``start``)."""
        self.adapters.append(adapter)

    def add_can_adapters(self, config: Config) -> None:
        """The CAN adapters ``[can]`` asks for; in simulation the simulator's charger/inverter then
        listens to the frames and obeys them (``can.simulated_inverter``)."""
        from bmsgateway.adapters.can import build_can_adapters

        for adapter in build_can_adapters(config):
            self.add_adapter(adapter)
        if config.can.simulated_inverter and self.hardware.simulator is not None:
            from bmsgateway.sim.inverter import SimulatedInverter

            self.hardware.simulator.inverter = SimulatedInverter(config)

    def _ports_for(self, name: str) -> AdapterPorts:
        return AdapterPorts(
            name=name,
            store=self.store,
            event_log=self.protection.event_log,
            settings=self.settings,
            requests=self.requests,
            clock=self.clock,
            stale_after_s=self.config.system.stale_after_s,
            stats=self.adapter_stats,
        )

    async def _supervise(self, adapter: Adapter, ports: AdapterPorts) -> None:
        """Run one adapter; a crash is logged and the adapter started again after a back-off.

        The back-off doubles from 1 s up to ``system.adapter_restart_max_s`` and starts over once
        the adapter has run for a minute. Real time (not the injected clock): adapters talk to
        real sockets. The pack cycle is a separate task: it never waits here.
        """
        backoff_s = 1.0
        max_s = self.config.system.adapter_restart_max_s
        while True:
            t0 = time.monotonic()
            try:
                await adapter.run(ports)
                log.warning("adapter_returned", adapter=adapter.name, restart_in_s=backoff_s)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                event = "adapter_crashed" if ports.started else "adapter_start_failed"
                # One that cannot start counts as started for READY: it was tried and logged.
                ports.mark_started()
                log.error(event, adapter=adapter.name, error=str(exc) or repr(exc), restart_in_s=backoff_s)
            if time.monotonic() - t0 > 60.0:
                backoff_s = 1.0
            self.adapter_restarts[adapter.name] = self.adapter_restarts.get(adapter.name, 0) + 1
            await asyncio.sleep(backoff_s)
            backoff_s = min(backoff_s * 2.0, max_s)

    async def _run_adapters(self) -> None:
        async with asyncio.TaskGroup() as tg:
            for adapter in self.adapters:
                tg.create_task(self._supervise(adapter, self.ports[adapter.name]),
                               name=f"bmsgateway.adapter.{adapter.name}")

    async def wait_adapters_started(self, timeout_s: float = 30.0) -> None:
        """Until every adapter has started serving or has failed once (and logged why)."""
        waits = [p.wait_started() for p in self.ports.values()]
        if waits:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*waits), timeout_s)

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self, until_s: float | None = None, duration_s: float | None = None) -> None:
        """Start adapters, then the pack cycle (until clock time ``until_s`` or for ``duration_s``
        counted from when the cycle starts, if given)."""
        # Protection does not depend on any adapter: each runs as its own supervised task, one
        # that cannot start (port in use, ...) is reported and retried, and the pack cycle runs
        # regardless.
        self.ports = {a.name: self._ports_for(a.name) for a in self.adapters}
        if self.adapters:
            self._adapters_task = asyncio.create_task(self._run_adapters(), name="bmsgateway.adapters")
            await self.wait_adapters_started()
        if duration_s is not None:
            until_s = self.clock.now() + duration_s
        threaded = self.cycle_thread if self.cycle_thread is not None else not isinstance(self.clock, VirtualClock)
        if threaded:
            self._task = self._start_cycle_thread(until_s)
        else:
            self._task = asyncio.create_task(self.cycle.run(self._stop, until_s), name="bmsgateway.pack_cycle")

    def _start_cycle_thread(self, until_s: float | None) -> asyncio.Future[None]:
        """The pack cycle on a thread with its own event loop; a future on this loop for its end.

        Why: on the shared loop, an adapter that spends CPU time (a /metrics render) or blocks
        (a synchronous call) holds the cycle back for as long, and with it protection. On its own
        thread, the cycle waits at most for the interpreter's switch interval while another thread
        runs Python, and not at all while it sleeps or waits on I/O. The cycle talks to the rest
        only through objects made for that: snapshots (the store wakes readers on their loop),
        the locked request queue and event log, and the stop flag it polls between cycles.
        """
        loop = asyncio.get_running_loop()
        self.store.bind_loop(loop)
        done: asyncio.Future[None] = loop.create_future()

        def finish(exc: BaseException | None) -> None:
            if done.done():
                return
            if exc is None:
                done.set_result(None)
            else:
                done.set_exception(exc)

        def main() -> None:
            exc: BaseException | None = None
            try:
                asyncio.run(self.cycle.run(self._stop, until_s))
            except BaseException as e:  # handed to the awaiting loop, as the task's would be
                exc = e
            with contextlib.suppress(RuntimeError):  # the daemon's loop is already closed
                loop.call_soon_threadsafe(finish, exc)

        # A daemon thread: if the interpreter exits without stop(), the thread must not keep it
        # alive (stop() ends it cleanly: it sets the flag and waits for the future).
        self._thread = threading.Thread(target=main, name="bmsgateway-pack-cycle", daemon=True)
        self._thread.start()
        return done

    def request_stop(self) -> None:
        self._stop.set()

    async def wait(self) -> None:
        """Wait for the pack cycle to end (stop requested, ``until_s`` reached, or a crash)."""
        if self._task is not None:
            # the thread's future is shielded: a cancelled waiter must not orphan the running cycle
            await (asyncio.shield(self._task) if self._thread is not None else self._task)

    async def stop(self) -> None:
        self._stop.set()
        try:
            if self._task is not None:
                # A crash of the cycle was already raised from wait(); here only the clean-up counts.
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await (asyncio.shield(self._task) if self._thread is not None else self._task)
            if self._thread is not None:
                # no cycle may drive the outputs after the shutdown below has opened them
                await asyncio.to_thread(self._thread.join, 10.0)
        finally:
            self.cycle.protection.shutdown()
            log.info("outputs_opened", reason="daemon stopping: contactors, relays and heater/cooler are open")
            if self._adapters_task is not None:
                self._adapters_task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._adapters_task
                self._adapters_task = None
            self._persist_final()

    def _persist_final(self) -> None:
        try:
            self.saver.maybe_save(self._saved_state(), force=True)
            self.saver.close()
        except Exception as exc:  # never let a disk problem hide the real shutdown reason
            log.error("final_save_failed", error=str(exc))

    async def run_until_signal(
        self, signals: Sequence[int] = (signal.SIGTERM, signal.SIGINT), duration_s: float | None = None
    ) -> int:
        """Run in the foreground until SIGTERM/SIGINT (or for ``duration_s``); 0 on a clean stop."""
        loop = asyncio.get_running_loop()
        for sig in signals:
            loop.add_signal_handler(sig, self.request_stop)
        self.notifier = SystemdNotifier(self.config.system.watchdog)
        log.info(
            "started",
            version=__version__,
            backend=self.config.hardware.backend,
            cells=self.config.pack.cell_count,
            boards=len(self.config.pack.boards),
            chemistry=str(self.config.pack.limits.chemistry),
            cycle_period_s=self.config.system.cycle_period_s,
        )
        await self.start(duration_s=duration_s)  # returns once every adapter has started or failed (and logged why)
        # READY only once the pack is measured: a chain that never answers fails the start-up
        # (systemd's TimeoutStartSec) instead of reporting a running BMS that sees nothing.
        wait_first: asyncio.Future[PackState] = asyncio.ensure_future(self.first_valid_snapshot())
        pending: list[asyncio.Future[Any]] = [wait_first] + ([self._task] if self._task is not None else [])
        await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        if wait_first.done():
            self.notifier.ready(status=status_line(wait_first.result()))
            if self.notifier.active:  # pings start after READY, from each completed cycle
                self.cycle.listeners.append(self._watchdog)
        else:
            wait_first.cancel()
        code = 0
        try:
            await self.wait()
        except Exception as exc:
            log.error("pack_cycle_crashed", error=repr(exc))
            code = 1
        finally:
            self.notifier.stopping()
            await self.stop()
            for sig in signals:
                loop.remove_signal_handler(sig)
        log.info("stopped", exit_code=code)
        return code
