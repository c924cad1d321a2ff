"""Issue 17 item 9: the settings a 123\\SmartBMS / BMS Mini user types are accepted or refused
as those products do (standard baud rates only, cell thresholds down to 1.0 V where the cell allows)."""

from __future__ import annotations

import pytest

from bmsgateway.config import ConfigError, parse_config
from bmsgateway.config.modbus import BAUD_RATES


def problems(data: dict[str, object]) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    return "\n".join(info.value.problems)


@pytest.mark.parametrize("rate", BAUD_RATES)
def test_every_standard_baud_rate_is_accepted(rate: int) -> None:
    assert parse_config({"modbus": {"rtu": {"baudrate": rate}}}).modbus.rtu.baudrate == rate


@pytest.mark.parametrize("rate", [1000, 9601, 300, 230400])
def test_a_non_standard_baud_rate_is_refused_naming_the_allowed_ones(rate: int) -> None:
    text = problems({"modbus": {"rtu": {"baudrate": rate}}})
    assert f"modbus.rtu.baudrate: {rate} is not a standard baud rate" in text
    assert "600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200" in text


LOW_CELL = {"cell_min_v": 0.9, "cell_max_v": 2.85, "charge_min_c": -30.0, "charge_max_c": 55.0,
            "discharge_min_c": -40.0, "discharge_max_c": 60.0}


def test_lto_thresholds_down_to_1_0_v_when_the_cell_allows_it() -> None:
    cfg = parse_config({"pack": {"chemistry": {"preset": "LTO", "vmin_v": 1.0, "envelope": LOW_CELL}},
                        "protection": {"sensors": {"cell_min_v": 0.5}}})
    assert cfg.pack.limits.vmin_v == 1.0


def test_1_0_v_is_refused_beyond_the_preset_envelope_and_below_the_spec_range() -> None:
    # the LTO datasheet envelope (1.5 V) still bounds the preset: a deeper cell states its own
    assert "pack.chemistry.vmin_v = 1 V is outside the LTO envelope 1.5..2.85 V" in problems(
        {"pack": {"chemistry": {"preset": "LTO", "vmin_v": 1.0}}})
    assert "pack.chemistry.vmin_v = 0.99" in problems(
        {"pack": {"chemistry": {"preset": "LTO", "vmin_v": 0.99, "envelope": LOW_CELL}}})


def test_an_under_voltage_fault_below_the_plausible_cell_reading_is_refused() -> None:
    text = problems({"pack": {"chemistry": {"preset": "LTO", "vmin_v": 1.0, "envelope": LOW_CELL}}})
    assert "protection.sensors.cell_min_v = 1" in text
