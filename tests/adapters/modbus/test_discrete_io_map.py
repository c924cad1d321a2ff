"""Issue 17 item 7: discrete inputs and the alarm output as a PLC (real pymodbus client), the JSON
document, Prometheus and Home Assistant discovery see them."""

from __future__ import annotations

from pymodbus.client import AsyncModbusTcpClient

from bmsgateway.adapters.document import state_document
from bmsgateway.adapters.http.metrics import ExporterCounters, Scrape, render_scrape
from bmsgateway.adapters.mqtt.discovery import entities_for
from bmsgateway.config import Config
from bmsgateway.state import ContactorState, Output, ProtectionStatus
from tests.adapters.conftest import Rig, make_state
from tests.adapters.modbus.test_tcp_map import read

ALARM_BIT = 1 << list(Output).index(Output.ALARM)


def _status(**kw: object) -> ProtectionStatus:
    return ProtectionStatus(state="fault", contactors=(ContactorState("charge", False, False),), **kw)  # type: ignore[arg-type]


async def test_input_and_alarm_registers(rig: Rig) -> None:
    prot = _status(inputs=(True, False, True), remote_off=True, charger_present=None, alarm_active=True,
                   alarm_on=True)
    await rig.publish(make_state(rig.config, seq=2, protection=prot))
    async with AsyncModbusTcpClient("127.0.0.1", port=rig.port) as client:
        w = await read(client, 90, 6)
        outputs = await read(client, 69, 1)
    assert w[0] == 0b101  # inputs 1 and 3 active
    assert w[1] == 0  # the test config wires no inputs
    assert w[2] == 1  # remote off
    assert w[3] == 0xFFFF  # no charger_present input: not available
    assert w[4:] == [1, 1]  # alarm sounding, output on now
    assert outputs[0] & ALARM_BIT
    prot = _status(inputs=(False,), charger_present=True, alarm_active=True, alarm_on=False)
    await rig.publish(make_state(rig.config, seq=3, protection=prot))
    async with AsyncModbusTcpClient("127.0.0.1", port=rig.port) as client:
        w = await read(client, 90, 6)
        outputs = await read(client, 69, 1)
    assert w == [0, 0, 0, 1, 1, 0]  # the pattern's off phase
    assert not outputs[0] & ALARM_BIT


def test_document_metrics_and_discovery_show_the_inputs() -> None:
    cfg = Config.model_validate({"hardware": {"inputs": [
        {"line": 25, "function": "remote_off", "name": "on/off"}, {"line": 26, "function": "charger_present"}]}})
    prot = _status(inputs=(True, False), remote_off=True, charger_present=False, alarm_active=False)
    state = make_state(cfg, seq=2, protection=prot)
    doc = state_document(state)["protection"]
    assert doc["inputs"] == [True, False] and doc["remote_off"] is True and doc["charger_present"] is False
    assert doc["alarm_active"] is False and doc["alarm_on"] is False
    text = render_scrape(Scrape(state, state, cfg, ExporterCounters(), state.wall_time)).decode()
    assert 'bms_input_active{function="remote_off",input="1",name="on/off"} 1.0' in text
    assert 'bms_input_active{function="charger_present",input="2",name="charger_present"} 0.0' in text
    assert "bms_charger_present 0.0" in text and "bms_alarm_output 0.0" in text
    ids = {e.object_id: e for e in entities_for(cfg)}
    assert ids["input_1"].path == "protection.inputs.0" and ids["charger_present"].device_class == "plug"
    assert "charger_present" not in {e.object_id for e in entities_for(Config())}
