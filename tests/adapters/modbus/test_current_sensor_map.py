"""Issue 17 items 2 and 3 in the register map: the two current sensors' currents, power and energy
(today and total, kWh), the dual range, the gain, and the gain calibration register. Encoded from
the one table (what every Modbus server serves), for one sensor and for two; the JSON document and
the metrics read the same snapshot."""

from __future__ import annotations

import dataclasses
import math

import pytest

from bmsgateway.adapters.document import state_document
from bmsgateway.adapters.http.metrics import ExporterCounters, Scrape, render_scrape
from bmsgateway.adapters.modbus.bmsmap import bms_registers
from bmsgateway.adapters.modbus.table import EncodeContext, RegisterTable
from bmsgateway.config import Config, parse_config
from bmsgateway.state import EstimateStatus, PackState
from tests.adapters.conftest import make_state

TWO = parse_config({"hardware": {"consumer_current_sensor": {"mode": "charge_minus_consumer"}}}, "test")
TABLE = RegisterTable(bms_registers())


def _state(config: Config, two: bool) -> PackState:
    s = make_state(config, current_a=-12.345)
    m = dataclasses.replace(
        s.measurement, charger_current_a=20.5 if two else math.nan, consumer_current_a=32.845 if two else math.nan,
        current_gain=0.98764, current_low_range=True, two_current_sensors=two,
        consumer_zero_offset_a=0.123 if two else 0.0,
    )
    e = EstimateStatus(soc_pct=50.0, charger_today_wh=1234.4, charger_total_wh=45678.9, consumer_today_wh=987.6,
                       consumer_total_wh=34567.8)
    return dataclasses.replace(s, measurement=m, estimate=e)


def _words(config: Config, state: PackState, name: str) -> list[int]:
    reg = TABLE.by_name(name)
    image = TABLE.encode(EncodeContext(state, config))
    return image[reg.address - TABLE.start: reg.end - TABLE.start]


def _s32(w: list[int]) -> int:
    v = (w[0] << 16) | w[1]
    return v - (1 << 32) if v & 0x80000000 else v


def test_rows_of_the_two_sensors_and_the_calibration() -> None:
    rows = {r.name: r for r in bms_registers()}
    expected = {
        "current_gain": (119, "u16", ""), "charger_current_a": (120, "s32", "A"),
        "consumer_current_a": (122, "s32", "A"), "charger_power_w": (124, "s32", "W"),
        "consumer_power_w": (126, "s32", "W"), "charger_today_kwh": (128, "u32", "kWh"),
        "charger_total_kwh": (130, "u32", "kWh"), "consumer_today_kwh": (132, "u32", "kWh"),
        "consumer_total_kwh": (134, "u32", "kWh"), "current_low_range": (136, "u16", ""),
        "consumer_zero_offset_a": (137, "s16", "A"), "calibrate_current_gain": (1005, "s32", "A"),
    }
    for name, (address, dtype, unit) in expected.items():
        r = rows[name]
        assert (r.address, r.dtype, r.unit) == (address, dtype, unit), name
    assert rows["calibrate_current_gain"].access == "rw"
    assert rows["calibrate_current_gain"].command == "calibrate_gain"


def test_two_sensors_values_encoded() -> None:
    s = _state(TWO, two=True)
    assert _s32(_words(TWO, s, "charger_current_a")) == 20500
    assert _s32(_words(TWO, s, "consumer_current_a")) == 32845
    assert _s32(_words(TWO, s, "current_a")) == 20500 - 32845  # battery = charger - consumer
    assert _s32(_words(TWO, s, "charger_power_w")) == round(s.pack_voltage_v * 20.5)
    assert _s32(_words(TWO, s, "consumer_power_w")) == round(s.pack_voltage_v * 32.845)
    assert _s32(_words(TWO, s, "charger_today_kwh")) == 1234  # 1.2344 kWh in 0.001 kWh
    assert _s32(_words(TWO, s, "charger_total_kwh")) == 45679
    assert _s32(_words(TWO, s, "consumer_today_kwh")) == 988
    assert _s32(_words(TWO, s, "consumer_total_kwh")) == 34568
    assert _words(TWO, s, "current_gain") == [9876]
    assert _words(TWO, s, "current_low_range") == [1]
    assert _words(TWO, s, "consumer_zero_offset_a") == [123]
    assert _words(TWO, s, "calibrate_current_gain") == [0, 0]  # a write-only command: reads 0


def test_one_sensor_reads_the_two_sensor_values_as_not_available() -> None:
    cfg = Config()
    s = _state(cfg, two=False)
    for name in ("charger_current_a", "consumer_current_a", "charger_power_w", "consumer_power_w"):
        assert _words(cfg, s, name) == [0x8000, 0x0000], name
    for name in ("charger_today_kwh", "charger_total_kwh", "consumer_today_kwh", "consumer_total_kwh"):
        assert _words(cfg, s, name) == [0xFFFF, 0xFFFF], name
    assert _words(cfg, s, "consumer_zero_offset_a") == [0x8000]
    assert _words(cfg, s, "current_gain") == [9876]  # the gain and the range are the one sensor's


def test_document_and_metrics_show_the_same_figures() -> None:
    s = _state(TWO, two=True)
    doc = state_document(s)["current_sensors"]
    assert doc["two_sensors"] is True
    assert doc["charger_current_a"] == 20.5 and doc["consumer_current_a"] == 32.845
    assert doc["charger_today_kwh"] == pytest.approx(1.2344) and doc["consumer_total_kwh"] == pytest.approx(34.5678)
    assert doc["gain"] == pytest.approx(0.98764) and doc["low_range"] is True
    one = state_document(_state(Config(), two=False))["current_sensors"]
    assert one["charger_current_a"] is None and one["charger_total_kwh"] is None

    text = render_scrape(Scrape(s, s, TWO, ExporterCounters(), s.wall_time)).decode()
    assert 'bms_side_current_amperes{side="charger"} 20.5' in text
    assert 'bms_side_current_amperes{side="consumer"} 32.845' in text
    joules = float(text.split('bms_side_energy_joules{side="charger"} ')[1].split()[0])
    assert joules == pytest.approx(45678.9 * 3600.0)
    assert "bms_current_sensor_gain_ratio 0.98764" in text
    s1 = _state(Config(), two=False)
    text = render_scrape(Scrape(s1, s1, Config(), ExporterCounters(), s1.wall_time)).decode()
    assert "bms_side_current_amperes{" not in text  # one sensor: no side series at all
