"""`bmsgateway run` with `[mqtt]` as a user runs it: online, discovery, commands, last will on SIGKILL."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from bmsgateway.adapters.mqtt.discovery import ENTITIES
from tests.adapters.mqtt.conftest import Broker, Subscriber

REPO = Path(__file__).resolve().parents[3]
BASE = "bmsgateway/bms7"


def start_daemon(tmp_path: Path, port: int) -> subprocess.Popen[bytes]:
    cfg = tmp_path / "cfg.toml"
    example = (REPO / "config" / "bmsgateway.toml").read_text()
    example = example[: example.index("\n[mqtt]")]  # the example's own [mqtt] section, replaced here
    cfg.write_text(
        example.replace("port = 5020", "port = 0")
        + f"""
[mqtt]
enabled = true
port = {port}
device_id = "bms7"
device_name = "Shed battery"
command_user = "homeassistant"
state_interval_s = 0.5
"""
    )
    cfg.write_text(cfg.read_text().replace("pin = 1234", "pin = 2468"))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("NOTIFY_SOCKET", None)
    return subprocess.Popen(
        [sys.executable, "-m", "bmsgateway", "run", "--config", str(cfg), "--state-dir", str(tmp_path / "st")],
        stdout=(tmp_path / "daemon.log").open("wb"), stderr=subprocess.STDOUT, env=env,
    )


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)


async def test_daemon_online_with_discovery_then_last_will_after_sigkill(
    broker: Broker, subscriber_factory: Any, tmp_path: Path
) -> None:
    sub: Subscriber = await subscriber_factory(broker.port, f"{BASE}/#", "homeassistant/#")
    proc = start_daemon(tmp_path, broker.port)
    try:
        try:
            await sub.wait_for(lambda m: m.topic == f"{BASE}/availability" and m.payload == b"online", 30.0,
                               "availability online")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\ndaemon output:\n{(tmp_path / 'daemon.log').read_text()[-3000:]}") from None
        state = (await sub.wait_for(lambda m: m.topic == f"{BASE}/state" and m.json()["available"])).json()
        assert state["cells"]["count"] == 16
        assert 40.0 < state["pack"]["voltage_v"] < 60.0

        # Discovery: one device, the energy counters fit the Energy dashboard, paths exist in the document.
        await sub.wait_for(lambda m: m.topic == "homeassistant/button/bms7/reset_counters/config")
        disc = {m.topic: m.json() for m in sub.messages if m.topic.startswith("homeassistant/")}
        assert len(disc) == len(ENTITIES) + 16 + 4  # fixed entities + a sensor per cell and per thermistor
        devices = {json.dumps(p["device"], sort_keys=True) for p in disc.values()}
        assert len(devices) == 1 and json.loads(devices.pop())["name"] == "Shed battery"
        assert len({p["unique_id"] for p in disc.values()}) == len(disc)
        e_in = disc["homeassistant/sensor/bms7/energy_in/config"]
        assert (e_in["device_class"], e_in["state_class"], e_in["unit_of_measurement"]) == (
            "energy", "total_increasing", "Wh")
        soc = disc["homeassistant/sensor/bms7/soc/config"]
        assert (soc["device_class"], soc["unit_of_measurement"], soc["state_class"]) == ("battery", "%", "measurement")
        cell = disc["homeassistant/sensor/bms7/cell_16_voltage/config"]
        assert cell["value_template"] == "{{ value_json.cells.voltages_v[15] if value_json.available else None }}"
        assert disc["homeassistant/binary_sensor/bms7/fault/config"]["device_class"] == "problem"
        btn = disc["homeassistant/button/bms7/reset_faults/config"]
        assert btn["command_topic"] == f"{BASE}/command/user/homeassistant"
        assert json.loads(btn["payload_press"]) == {"command": "reset_faults"}
        assert "2468" not in json.dumps(disc)  # the PIN is never published
        for p in disc.values():
            assert p["availability_topic"] == f"{BASE}/availability"
            if "state_topic" in p:
                assert p["state_topic"] == f"{BASE}/state"
        for e in ENTITIES:  # every path a template reads exists in the live document
            if e.path:
                node: Any = state
                for part in e.path.split("."):
                    node = node[int(part)] if isinstance(node, list) else node[part]

        # A command accepted (with the PIN) and one refused (wrong PIN) through the running daemon.
        assert sub.client is not None
        await sub.client.publish(f"{BASE}/command", json.dumps(
            {"command": "set_relay_mode", "mode": "critical", "pin": 2468, "id": "a"}), qos=1)
        ok = await sub.wait_for(lambda m: m.topic == f"{BASE}/response" and m.json().get("id") == "a")
        assert ok.json()["ok"] is True
        await sub.wait_for(lambda m: m.topic == f"{BASE}/state" and m.json().get("protection", {}).get(
            "relay_mode") == "critical", 10.0, "relay mode critical in the state document")
        await sub.wait_for(lambda m: m.topic == f"{BASE}/config" and m.json()["protection"]["relays"]["mode"]
                           == "critical", 10.0, "running config republished")
        await sub.client.publish(f"{BASE}/command", json.dumps(
            {"command": "set_relay_mode", "mode": "normal", "pin": 1234, "id": "b"}), qos=1)
        bad = await sub.wait_for(lambda m: m.topic == f"{BASE}/response" and m.json().get("id") == "b")
        assert bad.json()["ok"] is False and bad.json()["error"] == "wrong PIN"
        await asyncio.sleep(1.0)  # a few state documents later: still critical
        assert sub.on(f"{BASE}/state")[-1].json()["protection"]["relay_mode"] == "critical"

        # SIGKILL: no goodbye from the daemon; the broker publishes the retained last will.
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        await sub.wait_for(lambda m: m.topic == f"{BASE}/availability" and m.payload == b"offline", 10.0,
                           "the last will")
        late: Subscriber = await subscriber_factory(broker.port, f"{BASE}/availability")
        will = await late.wait_for(lambda m: True)
        assert will.payload == b"offline" and will.retain
    finally:
        _kill(proc)
