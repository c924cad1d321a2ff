"""Every config error path: the message names the key, the value and what is allowed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bmsgateway.config import Config, ConfigError, load_config, parse_config
from bmsgateway.config.chemistry import PRESETS, Chemistry

REPO = Path(__file__).resolve().parents[2]
DEFAULT = REPO / "config" / "bmsgateway.toml"


def problems(data: dict[str, object]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    return info.value.problems


def test_default_file_equals_embedded_default() -> None:
    cfg = load_config(DEFAULT)
    assert cfg == Config()
    assert cfg.pack.cell_count == 16
    assert [b.chip for b in cfg.pack.boards] == ["LTC6811", "LTC6811"]
    assert cfg.pack.limits.chemistry == Chemistry.LFP
    assert cfg.system.cycle_period_s == 0.1
    assert cfg.hardware.backend == "simulated"


@pytest.mark.parametrize(
    ("chem", "vmin", "vbal", "vmax"),
    [("LFP", 2.9, 3.4, 3.7), ("LTO", 2.15, 2.6, 2.7), ("NMC", 3.43, 4.0, 4.1), ("Li-ion", 3.43, 4.1, 4.15)],
)
def test_smartbms_presets(chem: str, vmin: float, vbal: float, vmax: float) -> None:
    lim = parse_config({"pack": {"chemistry": {"preset": chem}}}).pack.limits
    assert (lim.vmin_v, lim.vbalance_v, lim.vmax_v) == (vmin, vbal, vmax)


@pytest.mark.parametrize("chem", list(Chemistry))
def test_every_preset_is_valid(chem: Chemistry) -> None:
    lim = parse_config({"pack": {"chemistry": {"preset": chem.value}}}).pack.limits
    assert lim.ocv_table == PRESETS[chem].ocv_table
    assert lim.vmin_v < lim.vbalance_v < lim.vmax_v


def test_override_and_user_ocv_table() -> None:
    table = [[0, 3.0], [50, 3.3], [100, 3.5]]
    lim = parse_config({"pack": {"chemistry": {"preset": "LFP", "vmax_v": 3.65, "ocv_table": table}}}).pack.limits
    assert lim.vmax_v == 3.65
    assert lim.ocv_table == ((0, 3.0), (50, 3.3), (100, 3.5))


def test_unknown_key_lists_allowed_keys() -> None:
    (line,) = problems({"system": {"cycle_periode_s": 0.1}})
    assert line.startswith("system.cycle_periode_s = 0.1: unknown key")
    assert "cycle_period_s" in line


def test_unknown_section() -> None:
    (line,) = problems({"sytem": {}})
    assert line.startswith("sytem = {}: unknown key")


def test_wrong_type_names_key_and_value() -> None:
    (line,) = problems({"pack": {"capacity_ah": "lots"}})
    assert line.startswith("pack.capacity_ah = 'lots':")
    assert "number" in line


def test_out_of_range_names_the_bound() -> None:
    (line,) = problems({"system": {"cycle_period_s": 0.0}})
    assert line == (
        "system.cycle_period_s = 0.0: Input should be greater than or equal to 0.02 (allowed: >= 0.02)"
    )


def test_vmin_above_vmax() -> None:
    (line,) = problems({"pack": {"chemistry": {"vmin_v": 3.8}}})
    assert "vmin_v = 3.8 must be below vbalance_v = 3.4" in line


def test_vbalance_above_vmax() -> None:
    (line,) = problems({"pack": {"chemistry": {"vbalance_v": 3.75}}})
    assert "vbalance_v = 3.75 must be below vmax_v = 3.7" in line


def test_ocv_table_not_monotonic() -> None:
    (line,) = problems({"pack": {"chemistry": {"ocv_table": [[0, 3.0], [50, 2.9], [100, 3.5]]}}})
    assert "strictly increasing" in line


def test_ocv_table_not_covering_0_to_100() -> None:
    (line,) = problems({"pack": {"chemistry": {"ocv_table": [[10, 3.0], [100, 3.5]]}}})
    assert "must start at 0 and end at 100" in line


def test_board_cells_exceed_chip_channels() -> None:
    (line,) = problems({"pack": {"boards": [{"chip": "LTC6811", "cells": 14}]}})
    assert line.startswith("pack.boards[0]: cells = 14 exceeds the 12 channels of an LTC6811")


def test_board_cells_below_four() -> None:
    (line,) = problems({"pack": {"boards": [{"cells": 3}]}})
    assert line.startswith("pack.boards[0].cells = 3:") and ">= 4" in line


def test_unknown_chip() -> None:
    (line,) = problems({"pack": {"boards": [{"chip": "LTC6804"}]}})
    assert "pack.boards[0].chip = 'LTC6804'" in line and "LTC6811" in line


def test_current_sensor_on_missing_board() -> None:
    (line,) = problems({"hardware": {"current_sensor": {"board": 5}}})
    assert "hardware.current_sensor.board = 5" in line and "0..1" in line


def test_several_problems_reported_together() -> None:
    lines = problems({"system": {"cycle_period_s": 99}, "pack": {"capacity_ah": -1}})
    assert len(lines) == 2


def test_255_cells_supported() -> None:
    boards = [{"chip": "LTC6813", "cells": 17, "thermistors": 2}] * 15
    cfg = parse_config({"pack": {"boards": boards}})
    assert cfg.pack.cell_count == 255


def test_bad_toml_file(tmp_path: Path) -> None:
    f = tmp_path / "bad.toml"
    f.write_text("[system\ncycle_period_s = 1\n")
    with pytest.raises(ConfigError) as info:
        load_config(f)
    assert "not valid TOML" in info.value.problems[0]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.toml")
    assert "cannot read file" in info.value.problems[0]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bmsgateway", *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_check_config_ok() -> None:
    res = run_cli("check-config", str(DEFAULT))
    assert res.returncode == 0, res.stderr
    assert "16 cells on 2 boards" in res.stdout


def test_check_config_bad_exits_2_with_one_line_per_problem(tmp_path: Path) -> None:
    f = tmp_path / "bad.toml"
    f.write_text('[pack.chemistry]\nvmin_v = 3.9\n[system]\ncycle_period_s = -1\nbogus = 1\n')
    res = run_cli("check-config", str(f))
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 3
    assert any("system.cycle_period_s = -1" in ln for ln in lines)
    assert any("system.bogus = 1: unknown key" in ln for ln in lines)
    assert any("vmin_v = 3.9 must be below" in ln for ln in lines)


def test_run_with_bad_config_exits_2_before_starting(tmp_path: Path) -> None:
    f = tmp_path / "bad.toml"
    f.write_text("[pack]\ncapacity_ah = 0\n")
    res = run_cli("run", "--config", str(f), "--state-dir", str(tmp_path / "state"))
    assert res.returncode == 2
    assert "pack.capacity_ah = 0" in res.stderr
    assert "started" not in res.stdout
    assert not (tmp_path / "state").exists()


def test_config_reference_is_current() -> None:
    from bmsgateway.config.reference import render_reference

    committed = (REPO / "docs" / "config-reference.md").read_text()
    assert committed == render_reference(), "run: python -m bmsgateway.config.reference > docs/config-reference.md"
    assert "| `pack.boards[].cells` | integer | `8` | >= 4, <= 18 |" in committed


def test_bus_voltage_input_must_not_collide() -> None:
    (line,) = problems({"hardware": {"bus_voltage": {"enabled": True, "gpio": 1}}})
    assert "hardware.bus_voltage.gpio = 1 is used by a thermistor of board 0" in line
    (line,) = problems({"hardware": {"bus_voltage": {"enabled": True, "gpio": 5}}})
    assert "is the current sensor's input" in line
