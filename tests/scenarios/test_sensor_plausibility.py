"""Implausible sensors through the whole daemon and the byte-level chip emulator (issue 8, items
1, 2 and 11): the injected fault reaches the analog front end, the emulated LTC681x chain reads it,
acquisition and plausibility judge it, the fault table raises the condition and the outputs open
within the set delay plus one cycle (plus one more where the check needs a repeated reading).
"""

from __future__ import annotations

from pathlib import Path

from bmsgateway.protection.table import build_condition_table
from tests.scenarios.harness import Recording, simulate

PERIOD_S = 0.1
EPS = 1e-6
BASE = {
    "simulator.scenario": "constant",
    "simulator.constant_current_a": 10.0,  # charging, so both directions carry meaning
    "persistence.save_interval_s": 3600.0,
}
THERMISTOR_DELAY_S = 1.0  # protection.sensors.thermistor_delay_s (default)
STUCK_DELAY_S = 1.0  # protection.current.stuck_delay_s (default)
ALL = ("charge", "discharge", "allow_charge", "allow_discharge")


def _off_time(rec: Recording, output: str, after_s: float) -> float | None:
    offs = [t for t, on in rec.outputs(output) if not on and t >= after_s]
    return offs[0] if offs else None


def _was_on_before(rec: Recording, output: str, t: float) -> bool:
    before = [on for tt, on in rec.outputs(output) if tt < t]
    return bool(before) and before[-1]


def _raised(rec: Recording, key: str, after_s: float) -> list[float]:
    """Times the fault-table row ``key`` was raised at or after ``after_s``."""
    assert rec.config is not None
    spec = {s.key: s for s in build_condition_table(rec.config)}[key]
    return [e.time_s for e in rec.events if e.kind == "raised" and e.condition == spec.condition.value
            and e.message == spec.description and e.time_s >= after_s]


def test_open_thermistor_stops_charging_within_its_delay_but_not_discharging() -> None:
    rec = simulate(BASE, 9.0, injections=["thermistor_open:1@5"])
    ((t_inj, _),) = rec.injections
    raised = _raised(rec, "thermistor_fault.fault", t_inj)
    assert raised and raised[0] - t_inj <= THERMISTOR_DELAY_S + PERIOD_S + EPS
    assert raised[0] - t_inj >= THERMISTOR_DELAY_S - EPS
    for out in ("charge", "allow_charge"):
        assert _was_on_before(rec, out, t_inj)
        t_off = _off_time(rec, out, t_inj)
        assert t_off is not None and t_off - t_inj <= THERMISTOR_DELAY_S + PERIOD_S + EPS
    # the board's other thermistor still reads, so its cells keep a temperature: discharging goes on
    for out in ("discharge", "allow_discharge"):
        assert _off_time(rec, out, t_inj) is None
    last = rec.states[-1]
    assert last.measurement.temperatures_c[0] != last.measurement.temperatures_c[0]  # NaN, not a value
    assert last.measurement.temperature_age_s[0] < 0.2  # it *was* read: the NTC, not the chain, failed


def test_board_without_a_valid_temperature_stops_discharging_too() -> None:
    rec = simulate(BASE, 9.0, injections=["thermistor_short:3@5", "thermistor_open:4@5"])
    t_inj = rec.injections[0][0]
    board = _raised(rec, "thermistor_fault.board", t_inj)
    assert board and board[0] - t_inj <= THERMISTOR_DELAY_S + PERIOD_S + EPS
    assert rec.config is not None
    board_row = {s.key: s for s in build_condition_table(rec.config)}["thermistor_fault.board"]
    assert [e.location for e in rec.raised("thermistor_fault") if e.message == board_row.description] == [1]
    for out in ALL:
        assert _was_on_before(rec, out, t_inj)
        t_off = _off_time(rec, out, t_inj)
        assert t_off is not None and t_off - t_inj <= THERMISTOR_DELAY_S + PERIOD_S + EPS, out


def test_pack_without_any_valid_temperature_never_charges_or_discharges() -> None:
    faults = ["thermistor_open:1@3", "thermistor_short:2@3", "thermistor_open:3@3", "thermistor_short:4@3"]
    rec = simulate(BASE, 8.0, injections=faults)
    t_inj = rec.injections[0][0]
    pack = _raised(rec, "thermistor_fault.pack", t_inj)
    assert pack and pack[0] - t_inj <= THERMISTOR_DELAY_S + PERIOD_S + EPS
    late = [s for s in rec.states if s.time_s >= t_inj + THERMISTOR_DELAY_S + PERIOD_S + EPS]
    assert late and all(not s.protection.charge_allowed and not s.protection.discharge_allowed for s in late)
    assert all(not c.commanded for c in late[-1].protection.contactors)


def test_current_sensor_stuck_near_zero_while_current_flows_opens_the_contactors() -> None:
    # 100 A discharge, then the sensor output freezes at the reading for 0 A: the cells' voltages
    # did not step up by R0 x 100 A, so no near-zero current explains them.
    rec = simulate({**BASE, "simulator.constant_current_a": -100.0}, 9.0, injections=["current_stuck:0@5"])
    ((t_inj, _),) = rec.injections
    after = [s for s in rec.states if s.time_s > t_inj + 0.2]
    assert after and after[0].measurement.current_a == 0.0  # the chain really reads the frozen output
    raised = _raised(rec, "current_sensor_stuck.fault", t_inj)
    # the reading must repeat once before it counts as frozen: delay + 2 cycles
    assert raised and raised[0] - t_inj <= STUCK_DELAY_S + 2 * PERIOD_S + EPS
    for out in ALL:
        assert _was_on_before(rec, out, t_inj)
        t_off = _off_time(rec, out, t_inj)
        assert t_off is not None and t_off - t_inj <= STUCK_DELAY_S + 2 * PERIOD_S + EPS, out
    # latched: it stays until the reset command although no current flows any more
    assert any(a.condition == "current_sensor_stuck" and a.latched for a in rec.states[-1].protection.active)


def test_sensor_frozen_at_its_present_reading_is_caught_when_the_current_changes() -> None:
    # Frozen at 40 A charging (no step yet: nothing to see). A cold thermistor then opens the charge
    # contactor: the real current drops to 0 A, the cells step down, the reading stays at 40 A.
    rec = simulate({**BASE, "simulator.constant_current_a": 40.0, "protection.relays.tmin_c": -40.0}, 11.0,
                   injections=["stuck_current@2", "under_temp:2@4"])
    t_stuck = rec.injections[0][0]
    t_open = _off_time(rec, "charge", t_stuck)
    assert t_open is not None
    # while the real current still matched the frozen reading nothing could be told apart
    assert all(t > t_open for t in _raised(rec, "current_sensor_stuck.fault", 0.0))
    raised = _raised(rec, "current_sensor_stuck.fault", t_open)
    close_time_s = 0.03  # simulator.contactor_close_time_s: the contact moves after the command
    assert raised and raised[0] - t_open <= close_time_s + STUCK_DELAY_S + 2 * PERIOD_S + EPS
    t_off = _off_time(rec, "discharge", t_open)
    assert t_off is not None and t_off <= raised[0] + EPS


def test_live_current_sensor_through_steps_is_not_called_stuck() -> None:
    # the solar day has ramps, load steps and contactor moves; the sensor is fine
    rec = simulate({**BASE, "simulator.scenario": "solar_day", "simulator.start_hour": 17.999,
                    "simulator.evening_load_a": 100.0}, 30.0)
    currents = [s.measurement.current_a for s in rec.states]
    assert min(currents) < -80.0 < max(currents)  # the evening load step really happened
    assert not rec.raised("current_sensor_stuck")


def test_bus_voltage_stuck_above_the_pack_fails_precharge() -> None:
    rec = simulate({**BASE, "protection.contactors.precharge": True}, 3.0, injections=["bus_stuck:60"])
    raised = _raised(rec, "precharge_failed.bus_high", 0.0)
    assert raised and raised[0] <= 2 * PERIOD_S + EPS
    for main in ("charge", "discharge"):
        assert not [t for t, on in rec.outputs(main) if on], f"{main} closed onto an uncharged bus"
    assert rec.states[-1].protection.state == "fault"
    pre = rec.outputs("precharge")
    assert pre and pre[-1][1] is False


def test_bus_voltage_at_the_pack_voltage_still_completes_precharge() -> None:
    rec = simulate({**BASE, "protection.contactors.precharge": True}, 3.0)
    assert not rec.raised("precharge_failed")
    assert [t for t, on in rec.outputs("discharge") if on]


def test_frozen_sensor_during_a_slow_ramp_is_caught_by_the_soc_the_voltages_imply(tmp_path: Path) -> None:
    # The sensor freezes at -20 A, then the load ramps to 110 A over 200 s: under 1 A per
    # stuck_window_s, far too slowly for a voltage step, so only the SOC the voltages imply (falling
    # much faster than -20 A counts) shows that the frozen reading is wrong.
    profile = tmp_path / "ramp.csv"
    profile.write_text("time_s,current_a\n0,-20\n10,-20\n210,-110\n")
    changes = {**BASE, "simulator.scenario": "csv", "simulator.csv_path": str(profile),
               "pack.chemistry.preset": "NMC"}
    rec = simulate(changes, 150.0, injections=["stuck_current@5"], keep_every=10)
    t_stuck = rec.injections[0][0]
    raised = _raised(rec, "current_sensor_stuck.fault", t_stuck)
    assert raised, "frozen sensor not found"
    assert all(abs(s.measurement.current_a + 20.0) < 0.5 for s in rec.states if s.time_s > t_stuck + 0.2)
    assert _off_time(rec, "discharge", t_stuck) == raised[0]
    assert not rec.raised("cell_under_voltage")
    print(f"\nslow ramp: frozen sensor found {raised[0] - t_stuck:.1f} s after it froze")


def test_legit_zero_reading_while_the_cells_relax_is_not_called_stuck() -> None:
    # 100 A discharge, then a fault opens the contactors: with a dead band the sensor reads exactly
    # 0 A from then on (a frozen-looking reading) while the cells relax by R1 x 100 A for minutes.
    changes = {**BASE, "simulator.constant_current_a": -100.0, "hardware.current_sensor.dead_band_a": 0.5}
    rec = simulate(changes, 180.0, injections=["over_temp:1@30"], keep_every=50)
    t_open = _off_time(rec, "discharge", 25.0)
    assert t_open is not None
    late = [s for s in rec.states if s.time_s > t_open + 1.0]
    assert late and all(s.measurement.current_a == 0.0 for s in late)
    assert not rec.raised("current_sensor_stuck")


def test_sum_of_cells_carries_its_age_through_the_emulated_chain() -> None:
    # status conversions (sum of cells) every 3 s: the Measurement says how old the value is
    rec = simulate({**BASE, "hardware.status_interval_s": 3.0}, 8.0)
    ages = [s.measurement.pack_voltage_measured_age_s for s in rec.states]
    assert max(ages) == max(ages) and 2.8 <= max(ages) <= 3.0 + 1e-6
    assert min(ages[5:]) <= 0.05  # back to fresh after each status read
    assert all(s.measurement.pack_voltage_measured_v == s.measurement.pack_voltage_measured_v
               for s in rec.states)
