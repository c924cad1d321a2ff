"""The pack cycle: the one place the order of work in a cycle is written down.

    requests -> acquire -> estimate -> protect (drives outputs) -> PackState -> publish -> persist

Why one place (foxBMS ftask_cfg, Klipper's timing-critical separation): the decision follows the
measurement with no network I/O in between. The only awaits inside a cycle are the conversion
waits on the injected clock (and, on hardware, the SPI worker thread). Adapters read the
published snapshot; they never call into this loop. Persistence hands a copy to a worker thread.
The daemon runs ``PackCycle.run`` on a thread and event loop of its own on a real clock
(``Daemon.cycle_thread``), so nothing on the adapters' loop can hold it back.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, Protocol

import structlog

from bmsgateway.acquisition.calibration import GainCalibrationGuard, ZeroCalibrationGuard, calibrated_gain
from bmsgateway.acquisition.sampler import Acquisition
from bmsgateway.clock import Clock
from bmsgateway.config.model import Config
from bmsgateway.protection.events import EventLog
from bmsgateway.requests import (
    ApplyConfig,
    CalibrateCurrentGain,
    CalibrateCurrentZero,
    Request,
    RequestQueue,
    ResetCounters,
    ResetFaults,
    SilenceAlarm,
)
from bmsgateway.state import (
    CycleTiming,
    EstimateStatus,
    Event,
    Measurement,
    PackState,
    ProtectionStatus,
)
from bmsgateway.store import SnapshotStore

__all__ = ["EstimatorLike", "PackCycle", "ProtectionLike", "StopFlag"]

log = structlog.get_logger("cycle")


class EstimatorLike(Protocol):
    def update(self, m: Measurement, prev: ProtectionStatus | None) -> EstimateStatus: ...
    def apply_config(self, config: Config) -> None: ...
    def reset_counters(self) -> None: ...
    def reset_current_bias(self) -> None: ...


class ProtectionLike(Protocol):
    def update(self, m: Measurement, est: EstimateStatus, timing: CycleTiming | None) -> ProtectionStatus: ...
    def apply_config(self, config: Config) -> None: ...
    def reset_latched(self) -> None: ...
    def shutdown(self) -> None: ...
    def note_command(self, command: str, severity: str, message: str, value: float = ...) -> None: ...
    def silence_alarm(self) -> None: ...


class StopFlag(Protocol):
    """What ``PackCycle.run`` polls between cycles (an ``asyncio.Event`` or a ``threading.Event``:
    the cycle may run on a thread of its own and only reads the flag)."""

    def is_set(self) -> bool: ...


class PackCycle:
    """Runs acquisition -> estimation -> protection at a fixed period and publishes snapshots."""

    def __init__(
        self,
        config: Config,
        acquisition: Acquisition,
        estimator: EstimatorLike,
        protection: ProtectionLike,
        store: SnapshotStore,
        requests: RequestQueue,
        clock: Clock,
        on_state: Callable[[PackState], None] | None = None,
    ) -> None:
        self._config = config
        self.acquisition = acquisition
        self.estimator = estimator
        self.protection = protection
        self.store = store
        self._requests = requests
        self._clock = clock
        self._on_state = on_state
        self._seq = 0
        self._overruns = 0
        self._last_start_s: float | None = None
        self._timing: CycleTiming | None = None
        self._prev_protection: ProtectionStatus | None = None
        #: where writes from outside are recorded (the protection stage's event log; set by the daemon)
        self.event_log: EventLog | None = None
        self._zero_guard = ZeroCalibrationGuard(config.hardware.current_sensor)
        self._gain_guard = GainCalibrationGuard(config.hardware.current_sensor)
        #: callbacks run after each published snapshot (summary logging, watchdog, persistence)
        self.listeners: list[Callable[[PackState], None]] = []
        if on_state is not None:
            self.listeners.append(on_state)

    @property
    def config(self) -> Config:
        return self._config

    # -- requests: one handler per request type -------------------------------------------------
    def _apply_config(self, req: ApplyConfig) -> None:
        self._config = req.config
        self._zero_guard.configure(req.config.hardware.current_sensor)
        self._gain_guard.configure(req.config.hardware.current_sensor)
        self.acquisition.apply_config(req.config)
        self.estimator.apply_config(req.config)
        self.protection.apply_config(req.config)
        log.info("config_applied", source=req.source)

    def _reset_faults(self, req: ResetFaults) -> None:
        self.protection.reset_latched()
        log.info("faults_reset", source=req.source)

    def _silence_alarm(self, req: SilenceAlarm) -> None:
        self.protection.silence_alarm()
        log.info("alarm_silenced", source=req.source)

    def _reset_counters(self, req: ResetCounters) -> None:
        self.estimator.reset_counters()
        log.info("counters_reset", source=req.source)

    def _calibrate_zero(self, req: CalibrateCurrentZero) -> None:
        reason = self._zero_guard.refusal()
        if reason:
            self.protection.note_command("calibrate_current_zero", "warning", f"refused: {reason}")
            log.warning("current_zero_calibration_refused", source=req.source, reason=reason)
            return
        offset = self.acquisition.calibrate_zero()
        self.estimator.reset_current_bias()  # the learnt bias starts over
        self.protection.note_command("calibrate_current_zero", "info", f"zero offset set to {offset:+.3f} A", offset)
        log.info("current_zero_calibrated", source=req.source, offset_a=round(offset, 4))

    def _calibrate_gain(self, req: CalibrateCurrentGain) -> None:
        acq = self.acquisition
        reason = self._gain_guard.refusal(req.reference_a, acq.sensors.primary.range_in_use_a())
        if reason:
            self.protection.note_command("calibrate_current_gain", "warning", f"refused: {reason}")
            log.warning("current_gain_calibration_refused", source=req.source, reason=reason)
            return
        steady_a, _ = self._gain_guard.steady()
        old = acq.gain
        acq.set_gain(calibrated_gain(steady_a, req.reference_a, old))
        self._gain_guard.update(self._clock.now(), math.nan)  # readings of the old gain: start over
        self.protection.note_command("calibrate_current_gain", "info",
                                     f"gain set to {acq.gain:.5f} (was {old:.5f}; reference {req.reference_a:+.3f} A, "
                                     f"read {steady_a:+.3f} A)", acq.gain)
        log.info("current_gain_calibrated", source=req.source, gain=round(acq.gain, 6), previous=round(old, 6),
                 reference_a=req.reference_a, reading_a=round(steady_a, 4))

    def _apply_requests(self) -> None:
        requests = self._requests.drain()
        if not requests:  # the common case at 10 Hz: nothing to dispatch
            return
        handlers: dict[type, Callable[[Any], None]] = {
            ApplyConfig: self._apply_config,
            ResetFaults: self._reset_faults,
            ResetCounters: self._reset_counters,
            CalibrateCurrentZero: self._calibrate_zero,
            CalibrateCurrentGain: self._calibrate_gain,
            SilenceAlarm: self._silence_alarm,
        }
        for req in requests:
            handlers[type(req)](req)
            self._record(req)

    def _record(self, req: Request) -> None:
        """Every write from outside is an event with its source (who changed what, and when)."""
        if self.event_log is None:
            return
        condition = "settings_changed" if isinstance(req, ApplyConfig) else "command"
        self.event_log.append(Event(time_s=self._clock.now(), kind="write", condition=condition,
                                    severity="info", message=self.write_event_message(req)))

    @staticmethod
    def write_event_message(req: Request) -> str:
        """The event text of a write: the keys changed, never their values (the PIN is one)."""
        what = "settings changed: " + ", ".join(req.keys) if isinstance(req, ApplyConfig) else type(req).__name__
        return f"{what} (from {req.source})"

    def step(self, m: Measurement, start_s: float, t_wall0: float | None = None) -> PackState:
        """The pure part of a cycle: one measurement -> estimate -> protect -> the snapshot.

        The one statement of the stage order (estimate, then protect with that estimate); the
        live cycle calls it after acquiring, and so can replay and the benchmarks.
        """
        if t_wall0 is None:
            t_wall0 = time.perf_counter()
        cells = m.cell_voltages_v
        raw = m.current_sensor_raw_a
        if raw != raw:  # a Measurement from elsewhere (replay): the reading with the offset undone
            raw = m.current_a + self.acquisition.zero_offset_a
        craw = self.acquisition.current_reading.consumer_raw_a
        if craw == craw and abs(craw) > abs(raw):
            raw = craw  # the zero calibration zeroes both sensors: the larger reading must be in the band
        self._zero_guard.update(m.time_s, sum(cells) / len(cells) if cells else math.nan, raw)
        self._gain_guard.update(m.time_s, m.current_sensor_a)
        est = self.estimator.update(m, self._prev_protection)
        prot = self.protection.update(m, est, self._timing)
        self._prev_protection = prot
        period = self._config.system.cycle_period_s
        actual = period if self._last_start_s is None else start_s - self._last_start_s
        self._last_start_s = start_s
        duration = time.perf_counter() - t_wall0
        if duration > period:
            self._overruns += 1
        self._timing = CycleTiming(period, actual, duration, self._overruns)
        gain_steady_a, gain_not_steady = self._gain_guard.steady()
        state = PackState(
            seq=self._seq,
            time_s=start_s,
            wall_time=self._clock.wall_time(),
            measurement=m,
            estimate=est,
            protection=prot,
            timing=self._timing,
            zero_calibration_refusal=self._zero_guard.refusal(),
            gain_steady_a=gain_steady_a,
            gain_not_steady=gain_not_steady,
            current_range_in_use_a=self.acquisition.sensors.primary.range_in_use_a(),
        )
        self._seq += 1
        return state

    async def run_once(self) -> PackState:
        """One complete cycle; returns the published snapshot."""
        start_s = self._clock.now()
        # Wall time on purpose (not the injected clock): the real cost of the software, which is
        # what a loop overrun is about, also when simulated time runs faster.
        t_wall0 = time.perf_counter()
        self._apply_requests()
        balancing = self._prev_protection.balancing if self._prev_protection else ()
        m = await self.acquisition.acquire(balancing)
        state = self.step(m, start_s, t_wall0)
        self.store.publish(state)
        for listener in self.listeners:
            listener(state)
        return state

    async def run(self, stop: StopFlag, until_s: float | None = None) -> None:
        """Cycle at the configured period until ``stop`` is set (or the clock reaches ``until_s``).

        Deadlines are absolute (start + n * period) so the period does not drift; after an
        overrun the schedule restarts from now instead of bursting to catch up.
        """
        next_s = self._clock.now()
        try:
            while not stop.is_set():
                if until_s is not None and self._clock.now() >= until_s:
                    break
                await self.run_once()
                period = self._config.system.cycle_period_s
                next_s += period
                now = self._clock.now()
                next_s = max(next_s, now)
                await self._clock.sleep(next_s - now)
        except BaseException:
            # Fail safe: whatever stopped the loop, the outputs open.
            self.protection.shutdown()
            raise
