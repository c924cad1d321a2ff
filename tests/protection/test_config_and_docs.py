"""Protection config cross-field checks and the generated fault documentation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bmsgateway.config import Config
from bmsgateway.config.protection import ProtectionConfig, check_protection_against_pack
from bmsgateway.protection import Protection, render_faults_markdown
from bmsgateway.protection.ids import CONDITION_BITS, ConditionId
from tests.protection.conftest import FakeIO, make_config

DOCS = Path(__file__).resolve().parents[2] / "docs" / "faults.md"


def level(set_: float, clear: float) -> dict[str, float]:
    return {"set": set_, "clear": clear, "set_delay_s": 1.0, "clear_delay_s": 1.0}


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"temperature": {"charge_over": {"warning": level(56, 50), "fault": level(55, 50)}}},
         "temperature.charge_over.warning.set = 56.0 must be below temperature.charge_over.fault.set = 55.0"),
        ({"temperature": {"charge_under": {"warning": level(5, 7), "fault": level(0, -1)}}},
         "temperature.charge_under.fault.clear = -1.0 must be above temperature.charge_under.fault.set = 0.0"),
        ({"current": {"charge": {"warning": level(55, 50), "fault": level(60, 61), "peak_a": 100}}},
         "current.charge.fault.clear = 61.0 must be below current.charge.fault.set = 60.0"),
        ({"current": {"charge": {"warning": level(55, 50), "fault": level(60, 50), "peak_a": 600}}},
         "current.charge.peak_a = 600.0 must be below current.short_circuit_a = 500.0"),
        ({"balancing": {"start_delta_v": 0.005, "stop_delta_v": 0.006}},
         "balancing.stop_delta_v = 0.006 must be below balancing.start_delta_v = 0.005"),
        ({"thermal": {"heater_on_c": 8.0, "heater_off_c": 6.0}},
         "thermal.heater_on_c = 8.0 must be below thermal.heater_off_c = 6.0"),
        ({"limits": {"charge_soc_derating": [[0, 1.0], [0, 0.5]]}},
         "limits.charge_soc_derating x values = [0.0, 0.0] must be strictly increasing"),
        ({"limits": {"charge_temperature_derating": [[0, 1.0], [10, 0.2], [20, 1.0]]}},
         "must rise to a maximum and then fall"),
        ({"communication": {"warning_cycles": 9}, "comm_loss_cycles": 5},
         "protection.communication.warning_cycles = 9 must not exceed protection.comm_loss_cycles = 5"),
        ({"relays": {"tmin_c": 20.0, "tmax_c": 10.0}}, "tmin_c = 20.0 must be below"),
    ],
)
def test_cross_field_errors_name_key_value_and_relation(section: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as exc:
        ProtectionConfig.model_validate(section)
    assert message in str(exc.value)


def test_defaults_valid_and_checked_against_chemistry() -> None:
    cfg = Config()
    lim = cfg.pack.limits
    check_protection_against_pack(cfg.protection, lim.vmin_v, lim.vmax_v)
    bad = ProtectionConfig.model_validate({"cell_voltage": {"ov_warning_margin_v": 0.7, "uv_warning_margin_v": 0.2}})
    with pytest.raises(ValueError, match="under-voltage warning at Vmin"):
        check_protection_against_pack(bad, lim.vmin_v, lim.vmax_v)


def test_docs_faults_md_is_generated_from_the_table() -> None:
    assert DOCS.read_text() == render_faults_markdown(Config()), (
        "regenerate: python -m bmsgateway.protection.faultdoc > docs/faults.md"
    )
    for c in ConditionId:
        assert f"| {CONDITION_BITS[c]} | `{c.value}` |" in DOCS.read_text()


def test_apply_config_keeps_raised_conditions_and_uses_new_thresholds() -> None:
    from bmsgateway.clock import VirtualClock
    from bmsgateway.state import EstimateStatus
    from tests.protection.conftest import measurement

    io = FakeIO()
    clock = VirtualClock()
    p = Protection(make_config(), io, None, clock)
    est = EstimateStatus(soc_pct=50.0)
    t = 0.0
    for _ in range(30):
        st = p.update(measurement(t, temps=[25.0, 25.0, 25.0, 46.0]), est, None)
        t += 0.1
    assert st.warning_bits
    p.apply_config(make_config(temperature={"charge_over": {"warning": level(47, 44), "fault": level(55, 50)}}))
    st = p.update(measurement(t, temps=[25.0, 25.0, 25.0, 46.0]), est, None)
    assert st.warning_bits  # 46 °C is above the new clear threshold: still raised
    for _ in range(60):
        t += 0.1
        st = p.update(measurement(t, temps=[25.0, 25.0, 25.0, 43.0]), est, None)
    assert not st.warning_bits
    p.apply_config(make_config(contactors={"layout": "single_main"}))
    t += 0.1
    st = p.update(measurement(t), est, None)
    assert {c.name for c in st.contactors} == {"main"}
    assert not io.out["charge"] and io.out["main"]


def test_event_log_ring_buffer_and_since() -> None:
    from bmsgateway.protection.events import EventLog
    from bmsgateway.state import Event

    log = EventLog(10)
    for i in range(25):
        log.append(Event(time_s=float(i), kind="output", condition="x", severity="info"))
    assert len(log) == 10 and log.total == 25
    assert [e.time_s for e in log.since(20)] == [20.0, 21.0, 22.0, 23.0, 24.0]
    assert log.since(0)[0].time_s == 15.0
    assert log.since(25) == ()
