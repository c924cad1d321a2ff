"""Scenarios: idle, constant, solar_day shape, CSV profiles and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from bmsgateway.config.simulator import SimulatorConfig
from bmsgateway.sim.scenario import CsvScenario, SolarDayScenario, make_scenario


def test_idle_and_constant() -> None:
    assert make_scenario(SimulatorConfig(scenario="idle")).current_a(123.0) == 0.0
    constant = make_scenario(SimulatorConfig(scenario="constant", constant_current_a=-12.5))
    assert constant.current_a(0.0) == constant.current_a(1e6) == -12.5
    assert constant.sources_a(5.0) == (0.0, 12.5)


def test_solar_day_shape() -> None:
    sc = make_scenario(
        SimulatorConfig(scenario="solar_day", start_hour=0.0, solar_peak_a=40.0, evening_load_a=25.0, base_load_a=3.0)
    )
    assert isinstance(sc, SolarDayScenario)

    def at(hour: float) -> float:
        return sc.current_a(hour * 3600.0)

    assert at(3.0) == pytest.approx(-3.0)  # night: base load only
    assert at(6.9) == pytest.approx(-3.0)
    assert at(13.0) == pytest.approx(40.0 - 3.0)  # solar noon peak
    assert at(10.0) == pytest.approx(40.0 * 0.7071 - 3.0, abs=0.01)
    assert at(10.0) == pytest.approx(at(16.0))  # symmetric half-sine
    assert at(18.5) < -3.0  # evening load on top, PV fading
    assert at(21.0) == pytest.approx(-28.0)  # evening: base + evening load
    assert at(23.5) == pytest.approx(-3.0)
    assert at(24.0 + 13.0) == pytest.approx(at(13.0))  # repeats daily
    pv, load = sc.sources_a(12.0 * 3600.0)
    assert pv > 30.0 and load == pytest.approx(3.0)
    # A day's charge exceeds the day's load with the defaults: PV 40 A * 12 h * 2/pi vs 197 Ah.
    ah = sum(sc.current_a(t * 60.0) for t in range(24 * 60)) / 60.0
    assert ah == pytest.approx(40 * 12 * 2 / 3.14159265 - 72 - 125, rel=0.01)


def test_solar_day_start_hour_shifts_time() -> None:
    sc = make_scenario(SimulatorConfig(scenario="solar_day", start_hour=13.0, base_load_a=3.0))
    assert sc.current_a(0.0) == pytest.approx(40.0 - 3.0)


def test_csv_interpolates_and_repeats(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("time_s,current_a\n0,0\n10,10\n20,-10\n30,0\n")
    sc = make_scenario(SimulatorConfig(scenario="csv", csv_path=str(path)))
    assert sc.current_a(5.0) == pytest.approx(5.0)
    assert sc.current_a(15.0) == pytest.approx(0.0)
    assert sc.current_a(20.0) == pytest.approx(-10.0)
    assert sc.current_a(35.0) == pytest.approx(5.0)  # repeats with period 30 s
    assert sc.sources_a(20.0) == pytest.approx((0.0, 10.0))
    held = make_scenario(SimulatorConfig(scenario="csv", csv_path=str(path), csv_repeat=False))
    assert held.current_a(35.0) == 0.0
    assert held.current_a(1e6) == 0.0
    assert held.current_a(25.0) == pytest.approx(-5.0)


def test_csv_hold_last_value(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("# comment\n0,2\n100,7\n")
    sc = CsvScenario.from_file(path, repeat=False)
    assert sc.current_a(-5.0) == 2.0
    assert sc.current_a(50.0) == pytest.approx(4.5)
    assert sc.current_a(500.0) == 7.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0,1\n5\n", "expected time_s,current_a"),
        ("0,1\n5,abc\n", "not numbers"),
        ("0,1\n5,2\n5,3\n", "is not after"),
        ("time_s,current_a\n", "no time_s,current_a rows"),
    ],
)
def test_csv_errors_name_the_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        make_scenario(SimulatorConfig(scenario="csv", csv_path=str(path)))


def test_csv_missing_file_and_path() -> None:
    with pytest.raises(ValueError, match=r"needs simulator\.csv_path"):
        make_scenario(SimulatorConfig(scenario="csv"))
    with pytest.raises(ValueError, match="cannot read file"):
        make_scenario(SimulatorConfig(scenario="csv", csv_path="/nonexistent/profile.csv"))
