"""``bmsgateway bench soc``: accuracy of the SOC estimator on a simulated 10-day solar profile.

The simulated pack has the sensor errors a real installation has (current offset 0.3 A, 1 % gain
error, 5 mV cell voltage noise, ±4 % cell capacity spread) and the estimator starts 30 SOC points
off. The estimator gets a reading every 3 s (``--step``) straight from the simulator (no chip
emulator: the estimator does not care how the numbers were read); errors are sampled every 10 s.
Both keep a 10-day run short; ``--step 1`` reproduces the earlier, slower setting.

Side by side: the estimator, plain coulomb counting (same wrong start, rated capacity, no
recalibration) and 123\\SmartBMS-style coulomb counting (recalibrated to 100 % at full and 0 % at
empty). Errors are of the pack SOC (definition in ``bmsgateway.estimation.pack_soc``) against the
simulator's true pack SOC computed with the same definition, counted after the first two hours.
The goal (``BenchResult.passed``): RMS <= 0.5 pp, and max <= 5 pp while the estimate reads below
100 % (at 100 % the error can be the 123 rule's; the max overall is reported as well).

The profile: the default solar day (PV half-sine 07:00-19:00, 3 A base load, 25 A evening load)
with a fixed cloudiness per day, so that some days end full (charger tapers at 3.45 V/cell,
like a CV charger) and some nights run down to the low-voltage disconnect at Vmin.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from bmsgateway.clock import VirtualClock
from bmsgateway.commands.common import UsageError, parse_duration_s
from bmsgateway.config import Config
from bmsgateway.config.simulator import SimulatorConfig
from bmsgateway.estimation import Estimator
from bmsgateway.estimation.pack_soc import pack_figures
from bmsgateway.replay import GOALS, TraceError, score_reference
from bmsgateway.sim.pack import MAX_STEP_S, PackSimulator
from bmsgateway.sim.scenario import SolarDayScenario
from bmsgateway.state import BoardHealth, ControlState, EstimateStatus, Measurement, ProtectionStatus

__all__ = [
    "BenchResult", "Progress", "SimDriver", "bench_config", "reference_folders", "register_bench", "run",
    "run_reference", "run_soc_bench",
]

#: Share of the clear-sky PV current on each day of the benchmark (cycled if more days are run).
CLOUDINESS = (1.0, 0.85, 0.35, 0.3, 0.95, 1.0, 0.5, 0.3, 1.0, 0.8)
#: Charger absorption voltage per cell (CV phase) for LFP; the charge current tapers above it.
_CV_PER_CELL_V = 3.45
_WARMUP_S = 2 * 3600.0
#: Errors are sampled every this many simulated seconds (not every step: the statistics over days
#: are the same, the bench is faster).
_SCORE_EVERY_S = 10.0
#: The benchmark's goals (pack SOC after the first 2 h, percentage points); see ``BenchResult.passed``.
GOAL_RMS_PP = 0.5
GOAL_MAX_PP = 5.0
#: A pack SOC at or above this (%) reads as full (see ``BenchResult.passed``).
_FULL_PCT = 99.95


class BenchScenario:
    """Solar days with a per-day cloud factor and a charger that tapers at the CV voltage."""

    def __init__(self, solar: SolarDayScenario, cloudiness: tuple[float, ...]) -> None:
        self._solar = solar
        self._clouds = cloudiness
        self.charge_limit_a = math.inf  #: set by the driver (CV taper)

    def sources_a(self, t_s: float) -> tuple[float, float]:
        pv, load = self._solar.sources_a(t_s)
        day = int((t_s + self._solar.start_s) // 86400.0)
        pv *= self._clouds[day % len(self._clouds)]
        return min(pv, self.charge_limit_a), load

    def current_a(self, t_s: float) -> float:
        pv, load = self.sources_a(t_s)
        return pv - load


def bench_config(seed: int = 1) -> Config:
    """The default 16-cell LFP pack with the benchmark's sensor errors and spreads."""
    base = Config()
    sim = base.simulator.model_dump()
    sim.update(
        seed=seed,
        current_offset_a=0.3,
        current_gain_error_pct=1.0,
        voltage_noise_v=0.005,
        capacity_spread_pct=4.0,
        initial_soc_pct=60.0,
        start_hour=6.0,
    )
    return base.model_copy(update={"simulator": SimulatorConfig(**sim)})


class SimDriver:
    """Runs a PackSimulator at fixed steps and builds the Measurement the estimator sees.

    Also plays the parts of the charger (CV taper) and of the protection's low-voltage disconnect
    (``allow_discharge`` off below Vmin, on again after recharging), so the pack stays within its
    limits for days without the protection engine.
    """

    def __init__(self, config: Config, scenario: BenchScenario | None = None, max_step_s: float = MAX_STEP_S) -> None:
        self.config = config
        self.clock = VirtualClock(start_s=0.0, start_wall=1_767_225_600.0)  # 2026-01-01 00:00 UTC
        sim = config.simulator
        solar = SolarDayScenario(sim.solar_peak_a, sim.evening_load_a, sim.base_load_a, sim.start_hour)
        self.scenario = scenario if scenario is not None else BenchScenario(solar, CLOUDINESS)
        self.sim = PackSimulator(config, self.clock, self.scenario, max_step_s=max_step_s)
        for name in ("main", "charge", "discharge", "allow_charge", "allow_discharge"):
            self.sim.set_output(name, True)
        self.clock.advance(1.0)  # let the contactors close
        self.discharge_allowed = True
        lim = config.pack.limits
        self._vmin_v = lim.vmin_v
        self._boards = tuple(
            BoardHealth(index=i, chip=b.chip, ok=True, pec_errors_total=0, failed_cycles=0, last_ok_s=0.0)
            for i, b in enumerate(config.pack.boards)
        )
        self._n = config.pack.cell_count
        cs = config.hardware.current_sensor
        self._cs = cs

    def measure(self) -> Measurement:
        """Noisy cell voltages and the Hall sensor's current (offset and gain error included)."""
        sim = self.sim
        volts: list[float] = []
        for b in range(len(self.config.pack.boards)):
            volts.extend(sim.cell_inputs_v(b))
        cs = self._cs
        gpio_v = sim.gpio_inputs_v(cs.board)[cs.gpio - 1]
        current = (gpio_v - cs.zero_v) / cs.sensitivity_v_per_a * (-1.0 if cs.inverted else 1.0)
        return Measurement(
            time_s=self.clock.now(),
            cell_voltages_v=tuple(volts),
            cell_age_s=(0.0,) * self._n,
            temperatures_c=(),
            temperature_age_s=(),
            temperature_board=(),
            current_a=current,
            current_age_s=0.0,
            pack_voltage_measured_v=math.fsum(volts),
            boards=self._boards,
        )

    def control(self, m: Measurement) -> ProtectionStatus:
        """Charger taper and low-voltage disconnect from the measured voltages."""
        v_max = max(m.cell_voltages_v)
        v_min = min(m.cell_voltages_v)
        lim = self.scenario.charge_limit_a
        if v_max > _CV_PER_CELL_V:
            lim = max(0.0, min(lim, 60.0) * 0.9 - 0.2)
        elif v_max < _CV_PER_CELL_V - 0.02:
            lim = min(lim + 0.5, 1000.0) if math.isfinite(lim) else lim
        self.scenario.charge_limit_a = lim
        if self.discharge_allowed and v_min < self._vmin_v:
            self.discharge_allowed = False
            self.sim.set_output("allow_discharge", False)
        elif not self.discharge_allowed and v_min > 3.25 and m.current_a > 1.0:
            self.discharge_allowed = True
            self.sim.set_output("allow_discharge", True)
        return ProtectionStatus(state=ControlState.READY, charge_allowed=True, discharge_allowed=self.discharge_allowed)

    def step(self, dt_s: float) -> None:
        self.clock.advance(dt_s)


class CoulombCounter:
    """Plain coulomb counting of the pack (rated capacity), optionally with 123-style recalibration."""

    def __init__(self, config: Config, soc_pct: float, recalibrate: bool) -> None:
        self.soc_pct = soc_pct
        self._cap_ah = config.pack.capacity_ah
        self._recal = recalibrate
        lim = config.pack.limits
        self._vbal = lim.vbalance_v
        self._vmin = lim.vmin_v
        self._last_t: float | None = None
        self._low_since: float | None = None

    def update(self, m: Measurement, prev: ProtectionStatus) -> float:
        if self._last_t is not None:
            self.soc_pct += m.current_a * (m.time_s - self._last_t) / 36.0 / self._cap_ah
        self._last_t = m.time_s
        self.soc_pct = min(100.0, max(0.0, self.soc_pct))
        if self._recal:
            if min(m.cell_voltages_v) >= self._vbal:
                self.soc_pct = 100.0
            low = min(m.cell_voltages_v) < self._vmin and not prev.discharge_allowed
            self._low_since = (self._low_since or m.time_s) if low else None
            if self._low_since is not None and m.time_s - self._low_since >= 30.0:
                self.soc_pct = 0.0
        return self.soc_pct


@dataclass(frozen=True)
class BenchResult:
    days: float
    step_s: float
    initial_error_pct: float
    rms_error_pct: float
    max_error_pct: float
    max_error_below_full_pct: float
    coulomb_rms_error_pct: float
    coulomb_max_error_pct: float
    smartbms_rms_error_pct: float
    smartbms_max_error_pct: float
    cell_rms_error_pct: float
    cell_max_error_pct: float
    capacity_error_pct: float
    cell_capacity_max_error_pct: float
    soh_pct: float
    true_soh_pct: float
    final_soc_pct: float
    true_final_soc_pct: float
    current_offset_estimate_a: float
    runtime_s: float
    estimator_update_us: float

    @property
    def passed(self) -> bool:
        """RMS <= 0.5 pp (issue 14); max <= 5 pp while the estimate is below 100 %.

        Why the max leaves out the readings of 100 %: in normal mode the pack reads 100 % the
        moment every cell reaches Vbalance under charge (the 123 rule, issue 17), when under
        30 A the lowest cell may be at 93 %. That error is the rule's, it is the same for any
        estimator, and ``max_error_pct`` still reports it.
        """
        return self.rms_error_pct <= GOAL_RMS_PP and self.max_error_below_full_pct <= GOAL_MAX_PP


def run_soc_bench(
    days: float = 10.0, step_s: float = 3.0, seed: int = 1, initial_error_pct: float = -30.0,
    progress: Callable[[float], None] | None = None,
) -> BenchResult:
    """Run the benchmark and return its figures (see the module docstring).

    ``progress`` (if given) is called now and then with the share done (0..1).
    """
    wall0 = time.perf_counter()
    config = bench_config(seed)
    # The simulator integrates in sub-steps as long as the readings are apart: the profile's
    # current moves little in 3 s, the charger taper acts per reading anyway, and 1 s sub-steps
    # were most of the bench's time.
    driver = SimDriver(config, max_step_s=max(MAX_STEP_S, step_s))
    true0 = pack_figures(driver.sim.true_cell_soc_pct / 100.0, driver.sim.cell_capacity_ah, 100.0).soc_pct
    start_soc = min(100.0, max(0.0, true0 + initial_error_pct))
    est_cfg = config.estimation.model_copy(update={"initial_soc_pct": start_soc})
    config = config.model_copy(update={"estimation": est_cfg})
    estimator = Estimator(config, None, clock=driver.clock)
    plain = CoulombCounter(config, start_soc, recalibrate=False)
    smart = CoulombCounter(config, start_soc, recalibrate=True)
    true_cap = driver.sim.cell_capacity_ah
    rated = config.pack.capacity_ah
    errs: list[float] = []
    below_full_errs: list[float] = []
    plain_errs: list[float] = []
    smart_errs: list[float] = []
    cell_errs: list[float] = []
    prev = ProtectionStatus(state=ControlState.READY, charge_allowed=True, discharge_allowed=True)
    steps = round(days * 86400.0 / step_s)
    t0 = driver.clock.now()
    est_time_s = 0.0
    est = EstimateStatus()
    truth_soc = math.nan
    every = max(1, round(_SCORE_EVERY_S / step_s))
    for k in range(steps):
        if progress is not None and k % 3600 == 0:
            progress(k / steps)
        driver.step(step_s)
        m = driver.measure()
        c0 = time.perf_counter()
        est = estimator.update(m, prev)
        est_time_s += time.perf_counter() - c0
        p_soc = plain.update(m, prev)
        s_soc = smart.update(m, prev)
        prev = driver.control(m)
        if m.time_s - t0 < _WARMUP_S or k % every:
            continue
        true_cells = driver.sim.true_cell_soc_pct / 100.0
        truth_soc = pack_figures(np.clip(true_cells, 0.0, 1.0), true_cap, rated).soc_pct
        errs.append(est.soc_pct - truth_soc)
        if est.soc_pct < _FULL_PCT:
            below_full_errs.append(est.soc_pct - truth_soc)
        plain_errs.append(p_soc - truth_soc)
        smart_errs.append(s_soc - truth_soc)
        cell_errs.append(float(np.max(np.abs(np.array(est.cell_soc_pct) - true_cells * 100.0))))

    def rms(x: list[float]) -> float:
        return float(np.sqrt(np.mean(np.square(x)))) if x else math.nan

    def peak(x: list[float]) -> float:
        return float(np.max(np.abs(x))) if x else math.nan

    true_cells = np.clip(driver.sim.true_cell_soc_pct / 100.0, 0.0, 1.0)
    true_fig = pack_figures(true_cells, true_cap, rated)
    est_cap = np.array(est.cell_capacity_ah)
    return BenchResult(
        days=days,
        step_s=step_s,
        initial_error_pct=initial_error_pct,
        rms_error_pct=rms(errs),
        max_error_pct=peak(errs),
        max_error_below_full_pct=peak(below_full_errs),
        coulomb_rms_error_pct=rms(plain_errs),
        coulomb_max_error_pct=peak(plain_errs),
        smartbms_rms_error_pct=rms(smart_errs),
        smartbms_max_error_pct=peak(smart_errs),
        cell_rms_error_pct=rms(cell_errs),
        cell_max_error_pct=peak(cell_errs),
        capacity_error_pct=100.0 * (est.capacity_ah - true_fig.usable_capacity_ah) / true_fig.usable_capacity_ah,
        cell_capacity_max_error_pct=float(np.max(np.abs(est_cap / true_cap - 1.0)) * 100.0),
        soh_pct=est.soh_pct,
        true_soh_pct=true_fig.soh_pct,
        final_soc_pct=est.soc_pct,
        true_final_soc_pct=true_fig.soc_pct,
        current_offset_estimate_a=estimator.current_bias_a,
        runtime_s=time.perf_counter() - wall0,
        estimator_update_us=1e6 * est_time_s / max(1, steps),
    )


class Progress:
    """``label: 42 %`` rewritten in place on a terminal; silent when stderr is not one."""

    def __init__(self, label: str, out: TextIO | None = None) -> None:
        self._out = out if out is not None else sys.stderr
        self._on = self._out.isatty()
        self._label = label
        self._last = -1

    def __call__(self, share: float) -> None:
        pct = int(100 * share)
        if self._on and pct != self._last:
            self._last = pct
            self._out.write(f"\r{self._label}: {pct:3d} %")
            self._out.flush()

    def done(self) -> None:
        if self._on:
            self._out.write("\r" + " " * (len(self._label) + 8) + "\r")
            self._out.flush()


def _soh_text(soh_pct: float) -> str:
    return f"{soh_pct:.1f} %" if math.isfinite(soh_pct) else "unknown (capacity not learnt yet)"


def _print_table(r: BenchResult) -> None:
    print(f"SOC benchmark: {r.days:g} days at {r.step_s:g} s steps, start {r.initial_error_pct:+g} SOC points off")
    print("errors of the pack SOC after the first 2 h (percentage points):")
    print(f"  {'':24}{'RMS':>8}{'max':>8}")
    print(f"  {'estimator (EKF)':24}{r.rms_error_pct:8.2f}{r.max_error_pct:8.2f}")
    print(f"  {'  while below 100 %':24}{'':8}{r.max_error_below_full_pct:8.2f}")
    print(f"  {'coulomb counting':24}{r.coulomb_rms_error_pct:8.2f}{r.coulomb_max_error_pct:8.2f}")
    print(f"  {'123-style recalibrated':24}{r.smartbms_rms_error_pct:8.2f}{r.smartbms_max_error_pct:8.2f}")
    print(f"  worst single cell: RMS {r.cell_rms_error_pct:.2f}, max {r.cell_max_error_pct:.2f}")
    print(f"capacity error after {r.days:g} days: pack {r.capacity_error_pct:+.2f} %, "
          f"worst cell {r.cell_capacity_max_error_pct:.2f} %")
    print(f"SOH {_soh_text(r.soh_pct)} (true {r.true_soh_pct:.1f} %), "
          f"current offset learnt {r.current_offset_estimate_a:+.3f} A (true +0.300 A)")
    print(f"goal RMS <= {GOAL_RMS_PP:g}, max <= {GOAL_MAX_PP:g} while below 100 % "
          f"(at 100 % the 123 rule's error counts only in the max): {'met' if r.passed else 'NOT met'}; "
          f"{r.runtime_s:.0f} s, {r.estimator_update_us:.0f} us per estimator update")


def reference_folders(path: Path) -> list[Path]:
    """The data sets under ``path``: itself if it holds a trace, else each subfolder that does."""
    def has_trace(d: Path) -> bool:
        return (d / "trace.csv").exists() or (d / "trace.csv.gz").exists()

    if has_trace(path):
        return [path]
    return sorted(d for d in path.iterdir() if d.is_dir() and has_trace(d)) if path.is_dir() else []


def _print_reference(r: dict[str, Any]) -> None:
    p = r["pack"]
    cov = min(r["min_cell_coverage_2sigma_pct"], p["coverage_2sigma_pct"])
    print(f"{r['dataset']:<12}{r['mean_cell_rms_pp']:9.2f}{r['max_cell_error_pp']:8.2f}{p['rms_pp']:9.2f}"
          f"{p['max_pp']:8.2f}{cov:9.1f}   {'met' if r['goals_met'] else 'NOT met'}")
    cap = r.get("capacity")
    if cap is not None:
        errs = ", ".join("not learnt" if e is None else f"{e:+.1f} %" for e in cap["capacity_error_pct"])
        soh = "unknown" if cap["soh_pct"] is None else f"{cap['soh_pct']:.1f} %"
        print(f"{'':12}capacity vs truth: {errs}; SOH {soh}; offset learnt {r['current_offset_learnt_a']:+.4f} A")


def _no_nan(value: Any) -> Any:
    """JSON has no NaN: null instead."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_no_nan(v) for v in value]
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    return value


def run_reference(folder: str, skip_s: float, as_json: bool) -> int:
    """``bench soc --reference DIR``: score the estimator on every data set in DIR."""
    folders = reference_folders(Path(folder))
    if not folders:
        print(f"bench soc: {folder}: no trace.csv[.gz] in it or in its subfolders", file=sys.stderr)
        return 2
    results = []
    for d in folders:
        progress = Progress(f"bench soc {d.name}")
        try:
            results.append(score_reference(d, skip_s=skip_s, progress=progress))
        except TraceError as err:
            progress.done()
            print(f"bench soc: {err}", file=sys.stderr)
            return 2
        progress.done()
    if as_json:
        print(json.dumps(_no_nan(results), indent=2))
        return 0
    print(f"SOC on reference data, from no saved state, after the first {skip_s / 3600:g} h "
          "(percentage points; pack against the weakest cell):")
    print(f"{'data set':<12}{'cell RMS':>9}{'max':>8}{'pack RMS':>9}{'max':>8}{'2-sigma':>9}   goals")
    for r in results:
        _print_reference(r)
    g = GOALS
    print(f"goals: mean cell RMS <= {g['mean_cell_rms_pp']:g}, max <= {g['max_cell_error_pp']:g}, "
          f"pack RMS <= {g['pack_rms_pp']:g}, truth inside 2 sigma >= {g['coverage_2sigma_pct']:g} % of the time")
    return 0


def register_bench(bench_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``soc`` under ``bmsgateway bench``."""
    p = bench_sub.add_parser("soc", help="SOC estimator accuracy on a simulated 10-day solar profile")
    p.add_argument("--days", type=float, default=10.0, help="simulated days (default 10)")
    p.add_argument("--step", type=float, default=3.0,
                   help="seconds between the readings the estimator gets (default 3; the simulator integrates finer)")
    p.add_argument("--seed", type=int, default=1, help="simulator seed")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    p.add_argument("--reference", metavar="DIR", default=None,
                   help="score on recorded data instead: a folder with trace.csv, truth.csv, ocv.csv, "
                        "cell.json (or a folder of such folders), e.g. tests/data/pybamm")
    p.add_argument("--skip", metavar="DURATION", default="2h", help="with --reference: not scored at the start")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.reference is not None:
        try:
            skip_s = parse_duration_s(args.skip)
        except UsageError as err:
            print(f"bench soc: --skip: {err}", file=sys.stderr)
            return 2
        return run_reference(args.reference, skip_s, args.json)
    if args.days <= 0 or args.step <= 0 or args.days * 86400.0 <= _WARMUP_S:
        print("bench soc: --days must cover more than the 2 h warm-up and --step must be > 0", file=sys.stderr)
        return 2
    progress = Progress("bench soc")
    result = run_soc_bench(days=args.days, step_s=args.step, seed=args.seed, progress=progress)
    progress.done()
    if args.json:
        out: dict[str, Any] = asdict(result)
        out["goal_met"] = result.passed
        print(json.dumps(_no_nan(out), indent=2))
    else:
        _print_table(result)
    return 0
