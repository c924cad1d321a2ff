"""Cross-checks that keep every limit of a config inside what the cells and the sensors allow.

Why a module of its own: the sections validate their own ranges and orderings, but only with the
chemistry, the current sensor and the protection settings together can one say "an over-voltage
fault at 4.8 V is beyond an LFP cell" or "a short-circuit limit of 800 A cannot trip on a sensor
that saturates at 625 A". The same checks run for the file, for ``check-config`` (including the
persisted Modbus settings) and for every runtime change (``SettingsStore.propose``), because all
of them build a ``Config``.

What is bounded:

* cell voltages: Vmin, Vbalance, Vmax and the cell and pack over/under-voltage fault thresholds
  (per cell) within the envelope's ``cell_min_v .. cell_max_v``;
* temperatures: the charge and discharge fault thresholds within the envelope's charge and
  discharge windows (these faults block a direction whatever the signal relays do, so the
  relays' own Tmin / Tmax need no bound of their own);
* delays: a fault that protects the cell itself must act within seconds (``MAX_FAULT_DELAY_S``);
* currents: the short-circuit and peak limits strictly inside the current sensor's range (at
  the range the reading saturates, so a limit there can never trip).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bmsgateway.config.model import Config

__all__ = ["ADC_FULL_SCALE_V", "MAX_FAULT_DELAY_S", "check_envelope", "current_sensor_range_a"]

#: LTC681x GPIO (auxiliary) inputs measure 0 .. ~5 V.
ADC_FULL_SCALE_V = 5.0

#: Longest allowed set delay of the faults that protect the cells (seconds).
MAX_FAULT_DELAY_S: dict[str, float] = {
    "protection.cell_voltage.fault_delay_s": 5.0,
    "protection.pack_voltage.fault_delay_s": 5.0,
    "protection.temperature.*.fault.set_delay_s": 30.0,
    "protection.current.*.fault.set_delay_s": 30.0,
    "protection.current.*.peak_delay_s": 2.0,
}


def current_sensor_range_a(config: Config) -> float:
    """The current magnitude the sensor can report: its rated range if stated, else what its zero
    point and sensitivity leave on the 0..5 V input (both sides; the smaller one counts)."""
    return config.hardware.current_sensor.measuring_range_a()


def check_envelope(config: Config) -> None:
    """Raise ValueError naming every key, its value and the bound it crosses."""
    problems: list[str] = []
    chem = config.pack.chemistry
    env = chem.safe_envelope
    lim = config.pack.limits
    p = config.protection
    source = "pack.chemistry.envelope" if chem.envelope is not None else f"the {lim.chemistry} envelope"
    outside = False

    def volt(key: str, v: float) -> None:
        nonlocal outside
        if not env.cell_min_v - 1e-9 <= v <= env.cell_max_v + 1e-9:
            outside = True
            problems.append(f"{key} = {v:.4g} V is outside {source} {env.cell_min_v:g}..{env.cell_max_v:g} V")

    volt("pack.chemistry.vmin_v", lim.vmin_v)
    volt("pack.chemistry.vbalance_v", lim.vbalance_v)
    volt("pack.chemistry.vmax_v", lim.vmax_v)
    cv, pv = p.cell_voltage, p.pack_voltage
    volt("cell over-voltage fault (vmax_v + protection.cell_voltage.ov_fault_margin_v)",
         lim.vmax_v + cv.ov_fault_margin_v)
    volt("cell under-voltage fault (vmin_v - protection.cell_voltage.uv_fault_margin_v)",
         lim.vmin_v - cv.uv_fault_margin_v)
    volt("pack over-voltage fault per cell (vmax_v + protection.pack_voltage.ov_fault_margin_v)",
         lim.vmax_v + pv.ov_fault_margin_v)
    volt("pack under-voltage fault per cell (vmin_v - protection.pack_voltage.uv_fault_margin_v)",
         lim.vmin_v - pv.uv_fault_margin_v)
    uv_fault = lim.vmin_v - cv.uv_fault_margin_v
    if not uv_fault > p.sensors.cell_min_v:
        problems.append(
            f"protection.sensors.cell_min_v = {p.sensors.cell_min_v:g} V must be below the cell under-voltage "
            f"fault {uv_fault:.4g} V (a lower cell would read as a broken sense path, not as under-voltage)"
        )

    def temp(key: str, v: float, lo: float, hi: float, what: str) -> None:
        nonlocal outside
        if not lo <= v <= hi:
            outside = True
            problems.append(f"{key} = {v:g} °C is outside {source} {what} window {lo:g}..{hi:g} °C")

    t = p.temperature
    temp("protection.temperature.charge_over.fault.set", t.charge_over.fault.set, env.charge_min_c,
         env.charge_max_c, "charging")
    temp("protection.temperature.charge_under.fault.set", t.charge_under.fault.set, env.charge_min_c,
         env.charge_max_c, "charging")
    temp("protection.temperature.discharge_over.fault.set", t.discharge_over.fault.set, env.discharge_min_c,
         env.discharge_max_c, "discharging")
    temp("protection.temperature.discharge_under.fault.set", t.discharge_under.fault.set, env.discharge_min_c,
         env.discharge_max_c, "discharging")

    def delay(key: str, v: float, bound_key: str) -> None:
        hi = MAX_FAULT_DELAY_S[bound_key]
        if v > hi:
            problems.append(f"{key} = {v:g} s is too long (at most {hi:g} s: this fault protects the cells)")

    delay("protection.cell_voltage.fault_delay_s", cv.fault_delay_s, "protection.cell_voltage.fault_delay_s")
    delay("protection.pack_voltage.fault_delay_s", pv.fault_delay_s, "protection.pack_voltage.fault_delay_s")
    for name in ("charge_over", "charge_under", "discharge_over", "discharge_under"):
        delay(f"protection.temperature.{name}.fault.set_delay_s", getattr(t, name).fault.set_delay_s,
              "protection.temperature.*.fault.set_delay_s")
    cur = p.current
    rng = current_sensor_range_a(config)
    for name in ("charge", "discharge"):
        d = getattr(cur, name)
        delay(f"protection.current.{name}.fault.set_delay_s", d.fault.set_delay_s,
              "protection.current.*.fault.set_delay_s")
        delay(f"protection.current.{name}.peak_delay_s", d.peak_delay_s, "protection.current.*.peak_delay_s")
        if not d.peak_a < rng:
            problems.append(
                f"protection.current.{name}.peak_a = {d.peak_a:g} A must be below the current sensor's "
                f"range {rng:.4g} A (hardware.current_sensor: the reading saturates there)"
            )
    if not cur.short_circuit_a < rng:
        problems.append(
            f"protection.current.short_circuit_a = {cur.short_circuit_a:g} A must be below the current "
            f"sensor's range {rng:.4g} A (hardware.current_sensor: the reading saturates there)"
        )
    if outside and chem.envelope is None:
        problems.append("a cell whose datasheet allows more: state all its limits in [pack.chemistry.envelope]")
    if problems:
        raise ValueError("; ".join(problems))
