"""Every limit inside the chemistry's safe envelope and the current sensor's range; delays that
protect cells bounded; `check-config` also checks the persisted settings that override the file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bmsgateway.config import ConfigError, parse_config
from bmsgateway.config.chemistry import ENVELOPES, Chemistry
from bmsgateway.config.envelope import current_sensor_range_a

REPO = Path(__file__).resolve().parents[2]

# The config: accepted for LFP before, every line must be refused now.
UNSAFE_LFP = """
[pack.chemistry]
preset = "LFP"
vmin_v = 1.6
vmax_v = 4.75

[protection.cell_voltage]
fault_delay_s = 600.0

[protection.temperature.charge_under]
warning = { set = -35.0, clear = -32.0, set_delay_s = 2.0, clear_delay_s = 5.0 }
fault = { set = -40.0, clear = -37.0, set_delay_s = 2.0, clear_delay_s = 10.0 }

[protection.temperature.charge_over]
warning = { set = 140.0, clear = 135.0, set_delay_s = 2.0, clear_delay_s = 5.0 }
fault = { set = 150.0, clear = 145.0, set_delay_s = 2.0, clear_delay_s = 10.0 }

[protection.current]
short_circuit_a = 800.0
"""

CUSTOM = """
[pack.chemistry.envelope]
cell_min_v = 2.0
cell_max_v = 3.9
charge_min_c = -10.0
charge_max_c = 55.0
discharge_min_c = -30.0
discharge_max_c = 60.0
"""


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bmsgateway", *args], capture_output=True, text=True,
                          timeout=60, check=False)


def problems(data: dict[str, object]) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    return "\n".join(info.value.problems)


def test_check_config_refuses_limits_outside_the_lfp_envelope(tmp_path: Path) -> None:
    f = tmp_path / "unsafe.toml"
    f.write_text(UNSAFE_LFP)
    res = cli("check-config", str(f), "--state-dir", str(tmp_path))
    assert res.returncode == 2
    err = res.stderr
    assert "pack.chemistry.vmax_v = 4.75 V is outside the LFP envelope 2.5..3.8 V" in err
    assert "pack.chemistry.vmin_v = 1.6 V is outside the LFP envelope" in err
    assert "cell under-voltage fault" in err and "= 1.5 V is outside" in err
    assert "protection.cell_voltage.fault_delay_s = 600 s is too long (at most 5 s" in err
    assert "charge_under.fault.set = -40 °C is outside the LFP envelope charging window 0..55" in err
    assert "protection.temperature.charge_over.fault.set = 150 °C is outside" in err
    assert "protection.current.short_circuit_a = 800 A must be below the current sensor's range 625 A" in err
    assert "[pack.chemistry.envelope]" in err


def test_custom_envelope_must_be_stated_in_full_and_then_bounds_the_limits(tmp_path: Path) -> None:
    assert "cell over-voltage fault (vmax_v + protection.cell_voltage.ov_fault_margin_v) = 3.85 V" in problems(
        {"pack": {"chemistry": {"vmax_v": 3.8}}})
    cfg = parse_config({"pack": {"chemistry": {"vmax_v": 3.8, "envelope": {
        "cell_min_v": 2.0, "cell_max_v": 3.9, "charge_min_c": -10.0, "charge_max_c": 55.0,
        "discharge_min_c": -30.0, "discharge_max_c": 60.0}}}})
    assert cfg.pack.limits.vmax_v == 3.8 and cfg.pack.chemistry.safe_envelope.cell_max_v == 3.9
    text = problems({"pack": {"chemistry": {"envelope": {"cell_min_v": 2.0, "cell_max_v": 3.9}}}})
    assert "pack.chemistry.envelope.charge_min_c" in text and "Field required" in text
    # the custom envelope bounds too: 4.0 V is beyond its 3.9 V
    text = problems({"pack": {"chemistry": {"vmax_v": 4.0, "envelope": {
        "cell_min_v": 2.0, "cell_max_v": 3.9, "charge_min_c": -10.0, "charge_max_c": 55.0,
        "discharge_min_c": -30.0, "discharge_max_c": 60.0}}}})
    assert "pack.chemistry.vmax_v = 4 V is outside pack.chemistry.envelope 2..3.9 V" in text
    f = tmp_path / "custom.toml"
    f.write_text('[pack.chemistry]\npreset = "LFP"\nvmax_v = 3.8\n' + CUSTOM)
    res = cli("check-config", str(f), "--state-dir", str(tmp_path))
    assert res.returncode == 0, res.stderr


def test_lfp_limits_just_beyond_the_envelope_are_refused() -> None:
    # Vmax 3.76 + 0.05 V fault margin = 3.81 V > 3.8 V
    assert "cell over-voltage fault" in problems({"pack": {"chemistry": {"vmax_v": 3.76}}})
    assert parse_config({"pack": {"chemistry": {"vmax_v": 3.75}}}).pack.limits.vmax_v == 3.75


@pytest.mark.parametrize("chem", list(Chemistry))
def test_every_preset_lies_inside_its_own_envelope(chem: Chemistry) -> None:
    cfg = parse_config({"pack": {"chemistry": {"preset": chem.value}}})
    env = ENVELOPES[chem]
    assert env.cell_min_v < cfg.pack.limits.vmin_v < cfg.pack.limits.vmax_v < env.cell_max_v


def test_peak_and_short_circuit_limits_inside_the_sensor_range() -> None:
    cfg = parse_config({})
    assert current_sensor_range_a(cfg) == pytest.approx(625.0)  # 2.5 V / 4 mV/A
    text = problems({"hardware": {"current_sensor": {"range_a": 400.0}}})
    assert "protection.current.short_circuit_a = 500 A must be below the current sensor's range 400 A" in text
    text = problems({"hardware": {"current_sensor": {"range_a": 150.0}}})
    assert "protection.current.discharge.peak_a = 200 A must be below" in text
    # a sensor zeroed off-centre saturates earlier on one side: the smaller side counts
    text = problems({"hardware": {"current_sensor": {"zero_v": 1.0}}})
    assert "range 250 A" in text


def test_check_config_checks_the_persisted_modbus_settings(tmp_path: Path) -> None:
    (tmp_path / "settings.json").write_text(json.dumps({"pack.chemistry.vmax_v": 5.0}))
    res = cli("check-config", str(REPO / "config" / "bmsgateway.toml"), "--state-dir", str(tmp_path))
    assert res.returncode == 2
    assert str(tmp_path / "settings.json") in res.stderr and "persisted settings that override" in res.stderr
    assert "pack.chemistry.vmax_v = 5 V is outside the LFP envelope" in res.stderr
    (tmp_path / "settings.json").write_text(json.dumps({"pack.chemistry.vmax_v": 3.65}))
    res = cli("check-config", str(REPO / "config" / "bmsgateway.toml"), "--state-dir", str(tmp_path))
    assert res.returncode == 0, res.stderr
    assert "Vmax 3.65 V" in res.stdout and "1 persisted setting" in res.stdout
    (tmp_path / "settings.json").write_text(json.dumps({"pack.chemistry.vmaxx": 3.65}))
    res = cli("check-config", str(REPO / "config" / "bmsgateway.toml"), "--state-dir", str(tmp_path))
    assert res.returncode == 2 and "pack.chemistry.vmaxx = 3.65: unknown setting" in res.stderr
