"""Outputs: current gating by contactors and relays, contactor delays and faults, the DC link."""

from __future__ import annotations

import math

import pytest

from bmsgateway.sim import parse_injection
from tests.sim.helpers import QUIET, make_sim


def test_charge_current_needs_charge_contactor_and_allow_charge() -> None:
    sim, clock = make_sim(scenario="constant", constant_current_a=30.0, **QUIET)
    sim.set_output("allow_charge", True)
    clock.advance(1.0)
    assert sim.true_current_a == 0.0  # relay on, contactor open
    sim.set_output("charge", True)
    assert sim.true_current_a == 0.0  # commanded, contact not closed yet
    clock.advance(0.05)
    assert sim.true_current_a == pytest.approx(30.0)
    sim.set_output("allow_charge", False)  # charger switched off at once
    assert sim.true_current_a == 0.0
    sim.set_output("allow_charge", True)
    sim.set_output("discharge", True)
    sim.set_output("allow_discharge", True)
    clock.advance(1.0)
    assert sim.true_current_a == pytest.approx(30.0)  # discharge path does not stop a charger


def test_discharge_current_needs_discharge_path_and_main_works_for_both() -> None:
    sim, clock = make_sim(scenario="constant", constant_current_a=-20.0, **QUIET)
    sim.set_output("charge", True)
    sim.set_output("allow_charge", True)
    sim.set_output("allow_discharge", True)
    clock.advance(1.0)
    assert sim.true_current_a == 0.0  # only the charge contactor is closed
    sim.set_output("main", True)
    clock.advance(1.0)
    assert sim.true_current_a == pytest.approx(-20.0)
    sim.safe_state()
    clock.advance(1.0)
    assert sim.true_current_a == 0.0
    assert not any(sim.get_output(n) for n in ("main", "charge", "allow_charge", "allow_discharge"))


def test_solar_day_components_are_gated_separately() -> None:
    sim, clock = make_sim(
        scenario="solar_day", start_hour=13.0, solar_peak_a=40.0, base_load_a=3.0, evening_load_a=25.0, **QUIET
    )
    for name in ("charge", "discharge", "allow_charge", "allow_discharge"):
        sim.set_output(name, True)
    clock.advance(1.0)
    assert sim.true_current_a == pytest.approx(37.0, abs=0.01)
    sim.set_output("allow_discharge", False)  # inverter off: the PV still charges
    assert sim.true_current_a == pytest.approx(40.0, abs=0.01)
    sim.set_output("allow_discharge", True)
    sim.set_output("allow_charge", False)  # PV off: the base load still discharges
    assert sim.true_current_a == pytest.approx(-3.0)


def test_contactor_feedback_follows_after_close_time() -> None:
    sim, clock = make_sim(contactor_close_time_s=0.05)
    assert sim.read_feedback("charge") is False
    assert sim.read_feedback("allow_charge") is None
    assert sim.read_feedback("heater") is None
    sim.set_output("charge", True)
    assert sim.get_output("charge") is True
    clock.advance(0.03)
    assert sim.read_feedback("charge") is False
    clock.advance(0.03)
    assert sim.read_feedback("charge") is True
    sim.set_output("charge", False)
    assert sim.read_feedback("charge") is True
    clock.advance(0.06)
    assert sim.read_feedback("charge") is False


def test_unknown_output_names_are_ignored() -> None:
    sim, _ = make_sim()
    sim.set_output("no_such_output", True)
    assert sim.get_output("no_such_output") is False
    assert sim.read_feedback("no_such_output") is None


def test_welded_contactor_stays_closed_when_commanded_open() -> None:
    sim, clock = make_sim(scenario="constant", constant_current_a=-10.0, **QUIET)
    sim.inject(parse_injection("welded:discharge"))
    sim.set_output("discharge", True)
    sim.set_output("allow_discharge", True)
    clock.advance(1.0)
    assert sim.read_feedback("discharge") is True
    sim.set_output("discharge", False)
    clock.advance(1.0)
    assert sim.get_output("discharge") is False
    assert sim.read_feedback("discharge") is True
    assert sim.true_current_a == pytest.approx(-10.0)  # still flows: only the relay can stop it
    sim.clear_faults()
    sim.set_output("discharge", False)
    clock.advance(1.0)
    assert sim.read_feedback("discharge") is False


def test_no_close_contactor_never_closes() -> None:
    sim, clock = make_sim(scenario="constant", constant_current_a=10.0, **QUIET)
    sim.inject(parse_injection("no_close:charge"))
    sim.set_output("charge", True)
    sim.set_output("allow_charge", True)
    clock.advance(2.0)
    assert sim.get_output("charge") is True
    assert sim.read_feedback("charge") is False
    assert sim.true_current_a == 0.0
    assert sim.read_feedback("discharge") is False


def test_precharge_charges_the_dc_link_with_rc_time_constant() -> None:
    sim, clock = make_sim(bus_capacitance_f=0.002, precharge_resistance_ohm=50.0, contactor_close_time_s=0.0)
    tau = 0.002 * 50.0
    pack_v = sim.true_pack_voltage_v
    assert sim.read_bus_voltage_v() == 0.0
    sim.set_output("precharge", True)
    clock.advance(tau)
    assert sim.read_bus_voltage_v() == pytest.approx(pack_v * (1 - math.exp(-1)), rel=0.01)
    clock.advance(4 * tau)
    assert sim.read_bus_voltage_v() > 0.99 * pack_v
    sim.set_output("discharge", True)
    sim.set_output("precharge", False)
    clock.advance(0.1)
    assert sim.read_bus_voltage_v() == pytest.approx(sim.true_pack_voltage_v, rel=1e-6)
    sim.set_output("discharge", False)
    clock.advance(1.0)
    v1 = sim.read_bus_voltage_v()
    assert 0.9 * pack_v < v1 < pack_v  # decays slowly ...
    clock.advance(600.0)
    assert sim.read_bus_voltage_v() < 0.01 * pack_v  # ... but it does decay


def test_closing_without_precharge_puts_pack_voltage_on_the_bus_at_once() -> None:
    sim, clock = make_sim(contactor_close_time_s=0.03)
    sim.set_output("main", True)
    clock.advance(0.02)
    assert sim.read_bus_voltage_v() == 0.0
    clock.advance(0.02)
    assert sim.read_bus_voltage_v() == pytest.approx(sim.true_pack_voltage_v)


def test_heater_warms_and_cooler_cools_the_pack() -> None:
    sim, clock = make_sim(scenario="idle", heater_power_w=160.0, cooler_power_w=160.0, **QUIET)
    sim.set_output("heater", True)
    clock.advance(3600.0)
    warm = sim.cell_temperatures_c
    assert warm.min() > 25.0 + 10.0  # 10 W per cell * 3 K/W -> up to +30 K
    sim.set_output("heater", False)
    sim.set_output("cooler", True)
    clock.advance(3 * 3600.0)
    assert sim.cell_temperatures_c.max() < 25.0
