"""Issue 17 item 7: discrete input wiring errors are refused naming the key (exit 2); the simulator's
``input:N`` injection and the gpiod backend read the input lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from bmsgateway.clock import VirtualClock
from bmsgateway.config import Config, ConfigError, parse_config
from bmsgateway.sim.faults import parse_injection
from bmsgateway.sim.pack import PackSimulator
from tests.config.test_config import run_cli


def problems(data: dict[str, object]) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    return "\n".join(info.value.problems)


def test_two_functions_on_one_line_exit_2_naming_the_key(tmp_path: Path) -> None:
    f = tmp_path / "inputs.toml"
    f.write_text('[[hardware.inputs]]\nline = 25\nfunction = "remote_off"\n\n'
                 '[[hardware.inputs]]\nline = 25\nfunction = "emergency_stop"\n')
    res = run_cli("check-config", str(f))
    assert res.returncode == 2
    assert "hardware.inputs[1].line = 25: line 25 is already used by hardware.inputs[0] (remote_off)" in res.stderr


def test_an_input_on_an_output_or_feedback_line_is_refused() -> None:
    text = problems({"hardware": {"inputs": [{"line": 27, "function": "generic"}]}})
    assert "hardware.inputs[0].line = 27: line 27 is already used by hardware.gpio.charge" in text
    text = problems({"hardware": {"gpio": {"alarm": 25}, "inputs": [{"line": 25}]}})
    assert "hardware.inputs[0].line = 25: line 25 is already used by hardware.gpio.alarm" in text
    assert "is already used by hardware.gpio.charge_feedback" in problems({"hardware": {"inputs": [{"line": 5}]}})


def test_bad_input_values_name_key_and_allowed() -> None:
    text = problems({"hardware": {"inputs": [{"line": 25, "function": "panic"}]}})
    assert "hardware.inputs[0].function" in text and "emergency_stop" in text
    assert "hardware.inputs[0].debounce_s" in problems({"hardware": {"inputs": [{"line": 25, "debounce_s": -1}]}})
    assert "protection.alarm.fault_pattern_s" in problems({"protection": {"alarm": {"fault_pattern_s": [1.0]}}})


def test_simulated_input_lines_follow_the_injection_and_the_wiring() -> None:
    cfg = Config.model_validate({"hardware": {"inputs": [
        {"line": 25, "function": "remote_off"}, {"line": 26, "function": "emergency_stop", "active_low": True}]}})
    sim = PackSimulator(cfg, VirtualClock())
    assert sim.read_inputs() == (False, True)  # idle: an active-low line sits high
    sim.inject(parse_injection("input:2"))
    assert sim.read_inputs() == (False, False)
    sim.inject(parse_injection("input:1=1"))
    sim.inject(parse_injection("input:2=0"))
    assert sim.read_inputs() == (True, True)
    with pytest.raises(ValueError, match="input 3 does not exist"):
        sim.check_injection(parse_injection("input:3@1h"))
    with pytest.raises(ValueError, match="'=1'"):
        parse_injection("input:1=0.5")
