"""Generate PyBaMM reference traces for the SOC estimator (the format of ``tests/data/pybamm``).

Not part of the product and not a runtime dependency: run it in a virtual environment of its own::

    python3 -m venv .venv-pybamm && .venv-pybamm/bin/pip install pybamm
    .venv-pybamm/bin/python scripts/pybamm_traces.py OUT_DIR --set Prada2013 --seed 11 \\
        --weather "broken clouds,overcast,clear" --offset 0.015 --gain -0.008 --gzip

What it makes (read ``tests/data/pybamm/README.md`` for the format): 4 cells in series, each an
electrochemical PyBaMM model (DFN by default, ``--model SPMe`` for a faster, simpler one) of the
chosen parameter set at 25 degC, with capacities a few % off each other (the electrode area is
scaled), driven by one 3-day off-grid solar profile sampled every 10 s (the true current is linear
between samples):

* PV: a half-sine between sunrise and sunset, times a per-day weather (``clear``, ``mostly clear``,
  ``broken clouds`` with clouds passing every few minutes, ``overcast``);
* load: a standby draw with a fridge cycling, appliances switched on at random (stronger in the
  morning and evening), and an inverter eco window at night (no load at all for 1.5-4.5 h: a rest);
* a charge controller that stops charging once a cell reaches the top of the SOC window and a
  load disconnect at the bottom (both with hysteresis), so that every cell stays inside
  [Vmin + 0.03 V, Vbalance - 0.01 V]; when a cell leaves it anyway (overpotentials), the window is
  narrowed and the run repeated.

The measured current is ``true x (1 + gain) + offset``; cell voltages get 3 mV Gaussian noise and
0.1 mV resolution. The true SOC of each cell is ``initial_soc - discharged Ah / capacity`` with
0/1 at the parameter set's voltage cut-offs (PyBaMM's electrode-SOH definition), as in the
shared data.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

try:
    import pybamm
except ImportError:  # pragma: no cover - a tool, run in its own venv
    sys.exit("pybamm_traces: needs pybamm (python3 -m venv .venv-pybamm && .venv-pybamm/bin/pip install pybamm)")

DT_S = 10.0
T_KELVIN = 298.15
N_CELLS = 4

#: Known cells: what a user would configure (nominal Ah, chemistry words for the preset) and the
#: thresholds of the shared data where it has them.
CELLS: dict[str, dict[str, Any]] = {
    "Prada2013": {"description": "A123 ANR26650 LFP/graphite cell (Prada et al. 2013 parameters)",
                  "nominal_ah": 2.3, "vmin": 2.9, "vbalance": 3.45},
    "Chen2020": {"description": "LG M50 (INR21700) NMC811/graphite-SiOx cell (Chen et al. 2020 parameters)",
                 "nominal_ah": 5.0, "vmin": 3.0, "vbalance": 4.18},
    "Mohtat2020": {"description": "NMC532/graphite pouch cell (Mohtat et al. 2020 parameters)",
                   "nominal_ah": 5.0},
    "OKane2022": {"description": "LG M50 NMC811/graphite-SiOx cell (O'Kane et al. 2022 parameters)",
                  "nominal_ah": 5.0},
    "Marquis2019": {"description": "Kokam SLPB78205130H LCO/graphite cell (Marquis et al. 2019 parameters)",
                    "nominal_ah": 0.85},
}


def stoichiometries(pv: pybamm.ParameterValues) -> tuple[float, float, float, float]:
    x0, x100, y100, y0 = pybamm.lithium_ion.get_min_max_stoichiometries(pv)
    return float(x0), float(x100), float(y100), float(y0)


def model_capacity_ah(pv: pybamm.ParameterValues) -> float:
    param = pybamm.LithiumIonParameters()
    x0, x100, _, _ = stoichiometries(pv)
    return float(pv.evaluate(param.n.Q_init)) * (x100 - x0)


def ocv_table(pv: pybamm.ParameterValues, points: int = 101) -> tuple[np.ndarray, np.ndarray]:
    """OCV over SOC 0..1: U_p(y(soc)) - U_n(x(soc)) at 25 degC."""
    param = pybamm.LithiumIonParameters()
    x0, x100, y100, y0 = stoichiometries(pv)
    soc = np.linspace(0.0, 1.0, points)
    ocv = []
    for s in soc:
        x = pybamm.Scalar(x0 + s * (x100 - x0))
        y = pybamm.Scalar(y0 - s * (y0 - y100))
        t = pybamm.Scalar(T_KELVIN)
        ocv.append(float(pv.evaluate(param.p.prim.U(y, t) - param.n.prim.U(x, t))))
    return soc, np.array(ocv)


def soc_at(soc: np.ndarray, ocv: np.ndarray, v: float) -> float:
    return float(np.interp(v, ocv, soc))


def thresholds(name: str, soc: np.ndarray, ocv: np.ndarray, vmax: float) -> tuple[float, float]:
    """(Vmin, Vbalance): the shared data's where known, else OCV at about 4 % and 99 % SOC."""
    cell = CELLS.get(name, {})
    if "vmin" in cell:
        return float(cell["vmin"]), float(cell["vbalance"])
    vmin = math.floor(float(np.interp(0.04, soc, ocv)) * 20.0) / 20.0
    vbal = min(math.floor(float(np.interp(0.99, soc, ocv)) * 100.0) / 100.0, vmax - 0.02)
    return vmin, vbal


# -- profile -------------------------------------------------------------------------------------


def _weather_factor(kind: str, t_h: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = len(t_h)
    if kind == "clear":
        return np.full(n, 0.97)
    if kind == "overcast":
        slow = np.cumsum(rng.normal(0.0, 0.01, n))
        slow = np.convolve(slow - slow.mean(), np.ones(180) / 180, mode="same")
        return np.clip(0.25 + slow, 0.1, 0.45)
    # Clouds as a two-state process: dwell times drawn per passage.
    clear_level, cloud_level = (0.95, 0.45) if kind == "mostly clear" else (1.0, 0.3)
    clear_dwell_s, cloud_dwell_s = (2400.0, 300.0) if kind == "mostly clear" else (600.0, 480.0)
    out = np.empty(n)
    k = 0
    cloudy = False
    while k < n:
        dwell = rng.exponential(cloud_dwell_s if cloudy else clear_dwell_s)
        m = max(1, round(dwell / DT_S))
        out[k:k + m] = (cloud_level if cloudy else clear_level) * rng.uniform(0.9, 1.05)
        k += m
        cloudy = not cloudy
    return out


def demand_a(times_s: np.ndarray, nominal_ah: float, weather: list[str], pv_peak_c: float,
             rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, list[tuple[float, float]]]:
    """(PV current, load current, eco rest windows in hours) at each sample, before any limit."""
    n = len(times_s)
    t_h = times_s / 3600.0
    hour = t_h % 24.0
    day = (t_h // 24.0).astype(int)
    pv = np.zeros(n)
    for d in range(math.ceil(times_s[-1] / 86400.0)):
        sel = day == d
        sunrise = 6.5 + rng.uniform(-0.5, 0.5)
        sunset = 18.5 + rng.uniform(-0.5, 0.5)
        h = hour[sel]
        shape = np.where((h > sunrise) & (h < sunset), np.sin(np.pi * (h - sunrise) / (sunset - sunrise)), 0.0)
        pv[sel] = pv_peak_c * nominal_ah * shape * _weather_factor(weather[d % len(weather)], h, rng)
    # Load: standby plus a fridge, appliances at random, evening load; eco window at night.
    load = np.full(n, 0.01 * nominal_ah)
    fridge_on = ((times_s + rng.uniform(0, 2700)) % 2700.0) < 900.0
    load += np.where(fridge_on, 0.03 * nominal_ah, 0.0)
    rate_per_h = np.where((hour >= 6) & (hour < 9), 2.0, np.where((hour >= 17) & (hour < 23), 3.0, 0.5))
    starts = rng.random(n) < rate_per_h * DT_S / 3600.0
    for k in np.flatnonzero(starts):
        length = max(1, round(rng.uniform(60.0, 1800.0) / DT_S))
        load[k:k + length] += rng.uniform(0.05, 0.45) * nominal_ah
    evening = (hour >= 18.0 + rng.uniform(0, 1)) & (hour < 22.5)
    load += np.where(evening, 0.12 * nominal_ah, 0.0)
    eco: list[tuple[float, float]] = []
    for d in range(math.ceil(times_s[-1] / 86400.0)):
        start = d * 24.0 + 23.0 + rng.uniform(0.0, 1.0)
        length = rng.uniform(1.5, 4.5)
        eco.append((start, start + length))
        load[(t_h >= start) & (t_h < start + length)] = 0.0
        pv[(t_h >= start) & (t_h < start + length)] = 0.0
    return pv, load, eco


def limit_current(pv: np.ndarray, load: np.ndarray, capacity_ah: np.ndarray, soc0: np.ndarray,
                  window: tuple[float, float], nominal_ah: float, max_charge_c: float,
                  max_discharge_c: float) -> np.ndarray:
    """The battery current (positive = charging) after the charge controller and load disconnect."""
    lo, hi = window
    soc = soc0.astype(float).copy()
    full = False
    empty = False
    out = np.empty(len(pv))
    for k in range(len(pv)):
        if soc.max() >= hi:
            full = True
        elif soc.max() < hi - 0.03:
            full = False
        if soc.min() <= lo:
            empty = True
        elif soc.min() > lo + 0.05:
            empty = False
        used_load = 0.0 if empty else load[k]
        i = pv[k] - used_load
        if full:
            i = min(i, 0.0)
        # Absorption: the charge current tapers over the last 10 % below the top of the window
        # (like a charger's CV phase; without it LFP particles run dry at the top and spike).
        taper = min(1.0, max(0.05, (hi - soc.max()) / 0.10))
        i = min(max(i, -max_discharge_c * nominal_ah), max_charge_c * nominal_ah * taper)
        if empty:
            i = max(i, 0.0)
        out[k] = i
        soc += i * DT_S / 3600.0 / capacity_ah
    # Current ramps of one sample are what PyBaMM's linear interpolation makes of them anyway.
    return np.round(out, 5)


# -- simulation ----------------------------------------------------------------------------------


def simulate_cell(args: tuple[str, str, float, float, np.ndarray, np.ndarray]) -> dict[str, np.ndarray]:
    name, model_name, factor, soc0, times_s, current_a = args
    pv = pybamm.ParameterValues(name)
    pv["Electrode width [m]"] = pv["Electrode width [m]"] * factor
    pv["Nominal cell capacity [A.h]"] = pv["Nominal cell capacity [A.h]"] * factor
    pv["Ambient temperature [K]"] = T_KELVIN
    pv["Initial temperature [K]"] = T_KELVIN
    pv["Lower voltage cut-off [V]"] = pv["Lower voltage cut-off [V]"] - 0.5
    pv["Upper voltage cut-off [V]"] = pv["Upper voltage cut-off [V]"] + 0.3
    pv["Current function [A]"] = pybamm.Interpolant(times_s, -current_a, pybamm.t, interpolator="linear")
    # initial_soc in the electrode-SOH sense needs the cut-offs the SOC is defined on.
    pv_ref = pybamm.ParameterValues(name)
    x0, x100, y100, y0 = stoichiometries(pv_ref)
    pv["Initial concentration in negative electrode [mol.m-3]"] = (
        (x0 + soc0 * (x100 - x0)) * pv["Maximum concentration in negative electrode [mol.m-3]"])
    pv["Initial concentration in positive electrode [mol.m-3]"] = (
        (y0 - soc0 * (y0 - y100)) * pv["Maximum concentration in positive electrode [mol.m-3]"])
    model = pybamm.lithium_ion.SPMe() if model_name == "SPMe" else pybamm.lithium_ion.DFN()
    solver = pybamm.IDAKLUSolver()
    # The window is checked on the result (and narrowed if left): no event stops the run (a run
    # stopped early would be extended with its last values, a cell frozen in mid-profile).
    model.events = []
    sim = pybamm.Simulation(model, parameter_values=pv, solver=solver)
    # every sample a stop: the solver must not step over a short pulse of the profile
    sol = sim.solve(times_s)
    if float(sol.t[-1]) < float(times_s[-1]) - 1.0:
        raise RuntimeError(f"{name}: solver stopped at t = {float(sol.t[-1]):.0f} s ({sol.termination})")
    # The charge through the cell must be the profile's (a frozen cell would not pass this).
    expected_ah = -float(np.sum((current_a[1:] + current_a[:-1]) * 0.5 * np.diff(times_s))) / 3600.0
    discharged = np.asarray(sol["Discharge capacity [A.h]"](times_s), dtype=float)
    got_ah = float(discharged[-1])
    if abs(got_ah - expected_ah) > 1e-3 * max(1.0, abs(expected_ah)):
        raise RuntimeError(f"{name}: discharged {got_ah:.4f} Ah, the profile says {expected_ah:.4f} Ah")
    return {
        "voltage_v": np.asarray(sol["Voltage [V]"](times_s), dtype=float),
        "discharge_ah": discharged,
    }


def write_csv(path: Path, header: list[str], columns: list[np.ndarray], fmts: list[str], gz: bool) -> None:
    lines = [",".join(header)]
    for row in zip(*columns, strict=True):
        lines.append(",".join(f % v for f, v in zip(fmts, row, strict=True)))
    text = "\n".join(lines) + "\n"
    if gz:
        with gzip.open(path.with_name(path.name + ".gz"), "wt", encoding="utf-8", compresslevel=9) as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="folder to write (created)")
    ap.add_argument("--set", default="Prada2013", help=f"PyBaMM parameter set ({', '.join(CELLS)})")
    ap.add_argument("--model", default="DFN", choices=["DFN", "SPMe"])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--weather", default="overcast,broken clouds,mostly clear",
                    help="comma-separated, one per day: clear, mostly clear, broken clouds, overcast")
    ap.add_argument("--offset", type=float, default=-0.01, help="current sensor offset, fraction of C (A per Ah)")
    ap.add_argument("--gain", type=float, default=0.01, help="current gain error (fraction)")
    ap.add_argument("--capacity-factors", default="1.03,0.98,1.0,0.96")
    ap.add_argument("--initial-soc", default="0.35,0.40,0.38,0.42")
    ap.add_argument("--pv-peak-c", type=float, default=0.6)
    ap.add_argument("--days", type=float, default=3.0, help="length (3 for the reference format)")
    ap.add_argument("--gzip", action="store_true", help="write trace.csv.gz and truth.csv.gz")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    wall0 = time.time()
    name = args.set
    cell = CELLS.get(name, {"description": name, "nominal_ah": None})
    pv_ref = pybamm.ParameterValues(name)
    nominal = float(cell["nominal_ah"] or pv_ref["Nominal cell capacity [A.h]"])
    cap_model = model_capacity_ah(pv_ref)
    vmin_param = float(pv_ref["Lower voltage cut-off [V]"])
    vmax_param = float(pv_ref["Upper voltage cut-off [V]"])
    soc_tab, ocv_tab = ocv_table(pv_ref)
    vmin, vbal = thresholds(name, soc_tab, ocv_tab, vmax_param)
    factors = np.array([float(f) for f in args.capacity_factors.split(",")])
    soc0 = np.array([float(s) for s in args.initial_soc.split(",")])
    caps = cap_model * factors
    weather = [w.strip() for w in args.weather.split(",")]
    rng = np.random.default_rng(args.seed)
    times = np.arange(0.0, args.days * 86400.0, DT_S)
    pv_a, load_a, eco = demand_a(times, nominal, weather, args.pv_peak_c, rng)
    v_lo, v_hi = vmin + 0.03, min(vmax_param - 0.03, vbal - 0.01)
    window = [max(0.12, soc_at(soc_tab, ocv_tab, v_lo) + 0.06), min(0.97, soc_at(soc_tab, ocv_tab, v_hi) - 0.01)]
    for attempt in range(4):
        current = limit_current(pv_a, load_a, caps, soc0, (window[0], window[1]), nominal, 0.5, 0.7)
        jobs = [(name, args.model, float(f), float(s), times, current) for f, s in zip(factors, soc0, strict=True)]
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            try:
                results = list(pool.map(simulate_cell, jobs))
            except (pybamm.SolverError, RuntimeError) as err:  # ran into a concentration limit
                print(f"attempt {attempt + 1}: solver failed ({err}); narrowing the window", file=sys.stderr)
                window = [window[0] + 0.03, window[1] - 0.03]
                continue
        volts = np.array([r["voltage_v"] for r in results])
        low, high = float(volts.min()), float(volts.max())
        print(f"attempt {attempt + 1}: window {window[0]:.3f}..{window[1]:.3f}, V {low:.4f}..{high:.4f} "
              f"(allowed {v_lo:.3f}..{v_hi:.3f}), {time.time() - wall0:.0f} s", file=sys.stderr)
        if low >= v_lo and high <= v_hi:
            break
        if low < v_lo:
            window[0] += 0.03
        if high > v_hi:
            window[1] -= 0.02
    else:
        print("pybamm_traces: could not keep the cells inside the voltage window", file=sys.stderr)
        return 1
    soc_true = np.array([s - r["discharge_ah"] / c for s, r, c in zip(soc0, results, caps, strict=True)])
    offset_a = args.offset * nominal
    meas_i = np.round(current * (1.0 + args.gain) + offset_a, 4)
    noisy = np.round(volts + rng.normal(0.0, 0.003, volts.shape), 4)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "trace.csv", ["time_s", "current_a", "v1", "v2", "v3", "v4", "t1"],
              [times, meas_i, *noisy, np.full(len(times), 25.0)],
              ["%.0f", "%.4f", "%.4f", "%.4f", "%.4f", "%.4f", "%.1f"], args.gzip)
    write_csv(out / "truth.csv", ["time_s", "soc_1", "soc_2", "soc_3", "soc_4"],
              [times, *soc_true], ["%.0f", "%.6f", "%.6f", "%.6f", "%.6f"], args.gzip)
    write_csv(out / "ocv.csv", ["soc", "ocv_v"], [soc_tab, ocv_tab], ["%.2f", "%.4f"], False)
    dataset = out.name
    (out / "cell.json").write_text(json.dumps({
        "dataset": dataset, "parameter_set": name, "description": cell["description"],
        "nominal_capacity_ah": nominal, "model_capacity_ah": cap_model,
        "param_vmin_v": vmin_param, "param_vmax_v": vmax_param,
        "suggested_vmin_v": vmin, "suggested_vbalance_v": vbal, "suggested_vmax_v": vmax_param,
        "ocv_soc_at_suggested_vmin": round(soc_at(soc_tab, ocv_tab, vmin), 4),
        "ocv_soc_at_suggested_vbalance": round(soc_at(soc_tab, ocv_tab, vbal), 4),
        "temperature_c": 25.0, "ocv_table": "ocv.csv (soc 0..1, ocv_v), 101 points",
    }, indent=2) + "\n", encoding="utf-8")
    (out / "meta.json").write_text(json.dumps({
        "dataset": dataset, "parameter_set": name, "description": cell["description"], "model": args.model,
        "pybamm_version": pybamm.__version__, "numpy_version": np.__version__,
        "generator": "scripts/pybamm_traces.py", "command": " ".join(sys.argv[1:] if argv is None else argv),
        "n_cells": N_CELLS, "sample_period_s": DT_S, "duration_s": args.days * 86400.0, "temperature_c": 25.0,
        "nominal_capacity_ah": nominal, "model_capacity_ah_reference_cell": cap_model,
        "capacity_factor": factors.tolist(), "capacity_ah": [round(float(c), 6) for c in caps],
        "initial_soc": soc0.tolist(),
        "soc_definition": "soc_i = initial_soc_i - PyBaMM 'Discharge capacity [A.h]'_i / capacity_ah_i "
                          "(0/1 = OCV at param cut-offs)",
        "sign_convention": "current_a positive = charging (PyBaMM's current was the negative of it)",
        "current_offset_a": offset_a, "current_gain_error": args.gain,
        "current_measurement": "current_a = true_current * (1 + current_gain_error) + current_offset_a "
                               "(the true current is piecewise linear between the 10 s samples)",
        "voltage_noise_v_sigma": 0.003, "voltage_resolution_v": 0.0001,
        "profile": {"seed": args.seed, "weather": weather, "pv_peak_c": args.pv_peak_c, "max_charge_c": 0.5,
                    "max_discharge_c": 0.7, "soc_window_used": [round(w, 3) for w in window],
                    "eco_rest_window_h": [[round(a, 2), round(b, 2)] for a, b in eco]},
        "stats": {"voltage_true_v": {"min": low, "max": high},
                  "soc_true": {"min": float(soc_true.min()), "max": float(soc_true.max()),
                               "final": [round(float(s), 4) for s in soc_true[:, -1]]},
                  "rest_fraction": float(np.mean(current == 0.0)),
                  "charge_in_ah": float(np.sum(np.maximum(current, 0)) * DT_S / 3600),
                  "charge_out_ah": float(np.sum(np.maximum(-current, 0)) * DT_S / 3600)},
        "elapsed_s": round(time.time() - wall0, 1),
    }, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out} in {time.time() - wall0:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
