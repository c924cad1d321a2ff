"""The MQTT adapter against a real mosquitto: documents, staleness, commands, broker restarts."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from bmsgateway.adapters.base import AdapterPorts
from bmsgateway.adapters.document import state_document
from bmsgateway.adapters.mqtt import MqttAdapter
from bmsgateway.clock import RealClock
from bmsgateway.config import Config, parse_config
from bmsgateway.protection.events import EventLog
from bmsgateway.requests import CalibrateCurrentGain, RequestQueue, ResetCounters, ResetFaults
from bmsgateway.settings import SettingsStore
from bmsgateway.state import Event, PackState
from bmsgateway.store import SnapshotStore
from tests.adapters.conftest import make_state
from tests.adapters.mqtt.conftest import Broker, Subscriber

BASE = "bmsgateway/t1"


def mqtt_config(port: int, **mqtt: Any) -> Config:
    data: dict[str, Any] = {
        "system": {"stale_after_s": 0.5},
        "modbus": {"pin": 4321, "tcp": {"enabled": False}},
        "mqtt": {"enabled": True, "port": port, "device_id": "t1", "state_interval_s": 0.2, "min_interval_s": 0.1,
                 "reconnect_initial_s": 0.1, "reconnect_max_s": 0.5, "timeout_s": 2.0, **mqtt},
    }
    return parse_config(data, "test")


@dataclass
class Rig:
    adapter: MqttAdapter
    ports: AdapterPorts
    store: SnapshotStore
    log: EventLog
    settings: SettingsStore
    requests: RequestQueue
    config: Config
    task: asyncio.Task[None]

    def publish_fresh(self, seq: int, **kw: Any) -> PackState:
        s = make_state(self.config, seq=seq, **kw)
        s = dataclasses.replace(s, wall_time=time.time())
        self.store.publish(s)
        return s

    def event(self, n: int) -> Event:
        return self.log.append(Event(time_s=float(n), kind="raised", condition=f"test_{n}", severity="warning",
                                     value=float(n), location=n % 16))


@contextlib.asynccontextmanager
async def running(config: Config, tmp_path: Path) -> AsyncIterator[Rig]:
    requests = RequestQueue()
    settings = SettingsStore(config, tmp_path / "settings.json", requests)
    store = SnapshotStore()
    log = EventLog(1000)
    ports = AdapterPorts("mqtt", store, log, settings, requests, RealClock(), config.system.stale_after_s)
    adapter = MqttAdapter(config)
    task = asyncio.create_task(adapter.run(ports))
    rig = Rig(adapter, ports, store, log, settings, requests, config, task)
    try:
        yield rig
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def wait_until(cond: Any, timeout_s: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout_s} s")
        await asyncio.sleep(0.02)


async def test_state_document_matches_snapshot_and_stale_snapshot_goes_unavailable(
    broker: Broker, subscriber_factory: Any, tmp_path: Path
) -> None:
    cfg = mqtt_config(broker.port)
    sub: Subscriber = await subscriber_factory(broker.port, f"{BASE}/#")
    async with running(cfg, tmp_path) as rig:
        snap = rig.publish_fresh(7, cells_v=[3.3 + 0.001 * i for i in range(15)] + [float("nan")])
        got = await sub.wait_for(lambda m: m.topic == f"{BASE}/state" and m.json().get("seq") == 7,
                                 what="state document of snapshot 7")
        doc = got.json()
        assert doc == json.loads(json.dumps(state_document(snap)))  # exactly the shared document
        assert doc["available"] is True
        assert doc["cells"]["voltages_v"][:3] == [3.3, 3.301, 3.302]
        assert doc["cells"]["voltages_v"][15] is None  # NaN (not read) is null, never a number
        assert doc["cells"]["min_cell"] == 1 and doc["cells"]["max_cell"] == 15
        assert doc["pack"]["current_a"] == -12.345 and doc["pack"]["soc_pct"] == 52.3
        assert len(doc["temperatures"]["sensors_c"]) == cfg.pack.thermistor_count
        assert got.retain is False  # live delivery; the broker keeps it retained for late subscribers
        await sub.wait_for(lambda m: m.topic == f"{BASE}/availability" and m.payload == b"online")
        # The cycle stops publishing: after stale_after_s the gateway says so and withdraws the values.
        n = len(sub.messages)
        await sub.wait_for(lambda m: m.topic == f"{BASE}/availability" and m.payload == b"offline", 5.0,
                           "availability offline after the snapshot went stale")
        later = [m.json() for m in sub.messages[n:] if m.topic == f"{BASE}/state"]
        assert later and later[-1]["available"] is False and "pack" not in later[-1]
        assert later[-1]["seq"] == 7 and later[-1]["reason"] == "stale"
        # A subscriber arriving now gets the retained unavailable document, not the old values.
        late: Subscriber = await subscriber_factory(broker.port, f"{BASE}/state", f"{BASE}/availability")
        st = await late.wait_for(lambda m: m.topic == f"{BASE}/state")
        assert st.retain and st.json()["available"] is False
        av = await late.wait_for(lambda m: m.topic == f"{BASE}/availability")
        assert av.payload == b"offline"
        # Fresh again: online and values again.
        rig.publish_fresh(8)
        await sub.wait_for(lambda m: m.topic == f"{BASE}/state" and m.json().get("seq") == 8)
        n2 = len(sub.messages)
        await wait_until(lambda: any(m.payload == b"online" for m in sub.messages[n2 - 3:]), 5.0, "online again")
        # The running configuration, PIN redacted.
        conf = (await sub.wait_for(lambda m: m.topic == f"{BASE}/config")).json()
        assert conf["modbus"]["pin"] == "***" and conf["mqtt"]["device_id"] == "t1"


async def _command(client: aiomqtt.Client, topic: str, body: dict[str, Any],
                   correlation: bytes | None = None, response_topic: str | None = None) -> None:
    props = None
    if correlation is not None:
        props = Properties(PacketTypes.PUBLISH)
        props.CorrelationData = correlation
        props.ResponseTopic = response_topic
    await client.publish(topic, json.dumps(body), qos=1, properties=props)


async def test_commands_need_the_pin_and_answer_with_correlation_data(
    broker: Broker, subscriber_factory: Any, tmp_path: Path
) -> None:
    cfg = mqtt_config(broker.port)
    v5 = aiomqtt.ProtocolVersion.V5
    sub: Subscriber = await subscriber_factory(broker.port, f"{BASE}/response", "client/answers", protocol=v5)
    async with running(cfg, tmp_path) as rig:
        rig.publish_fresh(1)
        await wait_until(lambda: rig.adapter.stats.connected, what="connected")
        await wait_until(lambda: rig.adapter.stats.messages_published_total > 5, what="first publications")
        assert sub.client is not None
        # MQTT 5: the answer goes to the request's response topic, with its correlation data.
        await _command(sub.client, f"{BASE}/command", {"command": "set_relay_mode", "mode": "critical", "pin": 4321},
                       b"req-1", "client/answers")
        ans = await sub.wait_for(lambda m: m.topic == "client/answers", what="answer to set_relay_mode")
        assert ans.json() == {"ok": True, "command": "set_relay_mode"}
        assert ans.properties.CorrelationData == b"req-1"
        assert rig.settings.config.protection.relays.mode == "critical"
        assert json.loads((tmp_path / "settings.json").read_text()) == {"protection.relays.mode": "critical"}
        assert any(getattr(r, "source", "") == "mqtt" for r in rig.requests.drain())  # ApplyConfig queued
        # Refused: no PIN; a wrong PIN; a value the config validation refuses; a key that is not a threshold.
        cases = [
            ({"command": "reset_faults", "id": 1}, "PIN required"),
            ({"command": "set_thresholds", "changes": {"pack.chemistry.vmax_v": 1.0}, "pin": 4321, "id": 2},
             "refused by validation"),
            ({"command": "set_thresholds", "changes": {"modbus.pin": 1}, "pin": 4321, "id": 3}, "not a threshold"),
            ({"command": "reboot", "pin": 4321, "id": 4}, "unknown command"),
            ({"command": "calibrate_current_gain", "pin": 4321, "id": 8}, "missing or invalid \"reference_a\""),
            ({"command": "reset_counters", "pin": 1111, "id": 5}, "wrong PIN"),
            ({"command": "reset_counters", "pin": 4321, "id": 6}, "locked after a wrong PIN"),
        ]
        for body, error in cases:
            await _command(sub.client, f"{BASE}/command", body)
            ans = await sub.wait_for(lambda m, i=body["id"]: m.topic == f"{BASE}/response" and m.json()["id"] == i)
            assert ans.json()["ok"] is False and ans.json()["error"].startswith(error), ans.json()
        problems = next(m.json() for m in sub.on(f"{BASE}/response") if m.json()["id"] == 2)["problems"]
        assert any("vmax" in p for p in problems)
        # Nothing changed, nothing queued.
        assert rig.requests.drain() == []
        assert rig.settings.config.pack.limits.vmax_v == cfg.pack.limits.vmax_v
        assert json.loads((tmp_path / "settings.json").read_text()) == {"protection.relays.mode": "critical"}
        assert rig.adapter.stats.commands_refused_total == len(cases)
        assert rig.adapter.stats.commands_accepted_total == 1
        # Once the lock has passed, the right PIN works again (MQTT 3.1.1 style: "id" correlates).
        await asyncio.sleep(1.1)
        await _command(sub.client, f"{BASE}/command", {"command": "reset_counters", "pin": "4321", "id": 7})
        ans = await sub.wait_for(lambda m: m.topic == f"{BASE}/response" and m.json()["id"] == 7)
        assert ans.json()["ok"] is True
        assert rig.requests.drain() == [ResetCounters(source="mqtt")]
        # a command with its argument: the gain calibration's reference current
        await _command(sub.client, f"{BASE}/command",
                       {"command": "calibrate_current_gain", "reference_a": 50, "pin": "4321", "id": 9})
        ans = await sub.wait_for(lambda m: m.topic == f"{BASE}/response" and m.json()["id"] == 9)
        assert ans.json()["ok"] is True
        assert rig.requests.drain() == [CalibrateCurrentGain(reference_a=50.0, source="mqtt")]


async def test_trusted_user_topic_is_guarded_by_the_broker_acl(
    tmp_path: Path, subscriber_factory: Any
) -> None:
    acl = ("user gateway\ntopic readwrite bmsgateway/#\ntopic readwrite homeassistant/#\n\n"
           "user mallory\ntopic read bmsgateway/#\ntopic write bmsgateway/#\n\n"
           "user ha\ntopic read bmsgateway/#\n\n"
           "pattern write bmsgateway/+/command/user/%u\n")
    # mallory may write every gateway topic but the pattern: only `ha` may write .../command/user/ha.
    acl = acl.replace("topic write bmsgateway/#", "topic write bmsgateway/+/command")
    b = Broker(tmp_path / "broker", users={"gateway": "gw-pass", "ha": "ha-pass", "mallory": "m-pass"}, acl=acl)
    b.start()
    try:
        cfg = mqtt_config(b.port, username="gateway", password="gw-pass", command_user="ha")
        ha: Subscriber = await subscriber_factory(b.port, f"{BASE}/response", username="ha", password="ha-pass")
        mallory: Subscriber = await subscriber_factory(b.port, f"{BASE}/response", username="mallory",
                                                       password="m-pass")
        async with running(cfg, tmp_path) as rig:
            rig.publish_fresh(1)
            await wait_until(lambda: rig.adapter.stats.messages_published_total > 5, what="first publications")
            assert ha.client is not None and mallory.client is not None
            # mallory tries the trusted topic: the broker drops it, the gateway never sees it.
            await mallory.client.publish(f"{BASE}/command/user/ha", json.dumps({"command": "reset_faults", "id": 1}),
                                         qos=1)
            # ha uses it without a PIN: accepted.
            await ha.client.publish(f"{BASE}/command/user/ha", json.dumps({"command": "reset_faults", "id": 2}),
                                    qos=1)
            ans = await ha.wait_for(lambda m: m.json().get("id") == 2, what="answer to ha")
            assert ans.json()["ok"] is True
            await asyncio.sleep(0.3)
            assert [m.json()["id"] for m in ha.messages] == [2]
            assert rig.requests.drain() == [ResetFaults(source="mqtt:ha")]
            assert rig.adapter.stats.commands_received_total == 1
    finally:
        b.stop()


async def test_broker_restart_mid_run_delivers_every_event_in_order(
    broker: Broker, subscriber_factory: Any, tmp_path: Path
) -> None:
    cfg = mqtt_config(broker.port)
    # A persistent session: the broker queues our QoS 1 events while the subscriber is away too.
    sub: Subscriber = await subscriber_factory(broker.port, f"{BASE}/events", identifier="event-archiver",
                                               clean=False)
    async with running(cfg, tmp_path) as rig:
        rig.publish_fresh(1)
        await wait_until(lambda: rig.adapter.stats.connected, what="connected")
        stop = asyncio.Event()
        produced: list[int] = []

        async def produce() -> None:
            n = 0
            while not stop.is_set():
                produced.append(rig.event(n).seq)
                rig.publish_fresh(n + 2)  # the cycle keeps running
                n += 1
                await asyncio.sleep(0.01)

        producer = asyncio.create_task(produce())
        await asyncio.sleep(0.5)
        await asyncio.to_thread(broker.stop)
        await asyncio.sleep(1.0)  # events keep coming while the broker is down
        assert not rig.adapter.stats.connected
        during_outage = len(produced)
        await asyncio.to_thread(broker.start)
        await asyncio.sleep(0.5)
        stop.set()
        await producer
        assert len(produced) > during_outage > 50

        def seqs() -> list[int]:
            return [m.json()["seq"] for m in sub.on(f"{BASE}/events")]

        await wait_until(lambda: produced[-1] in seqs(), 15.0, "the last event delivered")
        await wait_until(lambda: rig.adapter.stats.events_buffered == 0, 5.0, "the last PUBACK")
        got = seqs()
        unique = list(dict.fromkeys(got))  # QoS 1 is at-least-once: a resent event may come twice
        assert unique == produced, "every event, in order"
        # What comes twice is a resend (QoS 1 is at least once: the gateway resends what was in flight
        # when the broker went away, the broker redelivers what the subscriber had not acknowledged);
        # first occurrences are in order, and each event left the gateway's buffer exactly once.
        assert rig.adapter.stats.reconnects_total >= 1
        assert rig.adapter.stats.events_dropped_total == 0
        assert rig.adapter.stats.events_published_total == len(produced)
        doc = sub.on(f"{BASE}/events")[0].json()
        assert set(doc) >= {"seq", "time_s", "kind", "condition", "severity", "value", "location"}


async def test_full_buffer_drops_the_oldest_events_and_counts_them(
    tmp_path: Path, subscriber_factory: Any
) -> None:
    b = Broker(tmp_path / "broker")  # not started yet: the gateway comes up with the broker away
    cfg = mqtt_config(b.port, event_buffer=10)
    async with running(cfg, tmp_path) as rig:
        rig.publish_fresh(1)
        await wait_until(lambda: rig.adapter.stats.connect_failures_total >= 1, what="a failed connection attempt")
        for n in range(25):
            rig.event(n)
        await wait_until(lambda: rig.adapter.stats.events_dropped_total == 15, 5.0, "15 events counted as dropped")
        assert rig.adapter.stats.events_buffered == 10
        b.start()
        try:
            sub: Subscriber = await subscriber_factory(b.port, f"{BASE}/events", f"{BASE}/stats")
            await wait_until(lambda: len(sub.on(f"{BASE}/events")) >= 10, 10.0, "the buffered events")
            assert [m.json()["seq"] for m in sub.on(f"{BASE}/events")] == list(range(15, 25))
            rig.publish_fresh(2)
            stats = await sub.wait_for(lambda m: m.topic == f"{BASE}/stats" and m.json()["events_buffered"] == 0)
            assert stats.json()["events_dropped_total"] == 15
        finally:
            b.stop()


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
async def test_both_protocol_versions_publish_and_answer(
    protocol: str, broker: Broker, subscriber_factory: Any, tmp_path: Path
) -> None:
    cfg = mqtt_config(broker.port, protocol=protocol)
    sub: Subscriber = await subscriber_factory(broker.port, f"{BASE}/#")
    async with running(cfg, tmp_path) as rig:
        rig.publish_fresh(3)
        await sub.wait_for(lambda m: m.topic == f"{BASE}/state" and m.json().get("seq") == 3)
        assert sub.client is not None
        await sub.client.publish(f"{BASE}/command", json.dumps({"command": "reset_faults", "pin": 4321, "id": "x"}),
                                 qos=1)
        ans = await sub.wait_for(lambda m: m.topic == f"{BASE}/response")
        assert ans.json() == {"ok": True, "command": "reset_faults", "id": "x"}


TLS = Path(__file__).resolve().parents[2] / "data" / "mqtt-tls"


async def test_tls_with_client_certificate_and_client_id(tmp_path: Path, subscriber_factory: Any) -> None:
    from tests.adapters.mqtt.conftest import free_port

    tls_port = free_port()
    b = Broker(tmp_path / "broker", extra=(
        f"listener {tls_port} 127.0.0.1\ncafile {TLS / 'ca.crt'}\ncertfile {TLS / 'server.crt'}\n"
        f"keyfile {TLS / 'server.key'}\nrequire_certificate true\n"))
    b.start()
    try:
        sub: Subscriber = await subscriber_factory(b.port, f"{BASE}/state")  # the plain listener
        tls = {"enabled": True, "ca_file": str(TLS / "ca.crt"), "cert_file": str(TLS / "client.crt"),
               "key_file": str(TLS / "client.key")}
        cfg = mqtt_config(tls_port, tls=tls, client_id="rack-7-gw")
        async with running(cfg, tmp_path) as rig:
            rig.publish_fresh(5)
            got = await sub.wait_for(lambda m: m.json().get("seq") == 5, what="state over TLS")
            assert got.json()["available"] is True
            assert " as rack-7-gw " in b.log()  # the configured client id
        # Without the client certificate the broker refuses the handshake: retried, never connected.
        no_cert = mqtt_config(tls_port, tls={"enabled": True, "ca_file": str(TLS / "ca.crt")})
        async with running(no_cert, tmp_path) as rig:
            await wait_until(lambda: rig.adapter.stats.connect_failures_total >= 2, what="two refused attempts")
            assert rig.adapter.stats.connects_total == 0
        # A CA file that is not there: reported and retried; the adapter keeps running.
        missing = mqtt_config(tls_port, tls={"enabled": True, "ca_file": str(tmp_path / "nope.crt")})
        async with running(missing, tmp_path) as rig:
            await wait_until(lambda: rig.adapter.stats.connect_failures_total >= 2, what="two failed set-ups")
            assert not rig.task.done()
    finally:
        b.stop()


async def test_events_restored_from_the_state_file_reach_the_broker_after_a_restart(
    broker: Broker, subscriber_factory: Any, tmp_path: Path
) -> None:
    """Events logged while the broker was away, just before the gateway stopped, come back from the
    state file into the event log; the next process publishes them (after the broker's retained
    ``events/acked``) instead of starting at the next ``seq``."""
    cfg = mqtt_config(broker.port)
    sub: Subscriber = await subscriber_factory(broker.port, f"{BASE}/events", identifier="archiver", clean=False)

    def seqs() -> list[int]:
        return list(dict.fromkeys(m.json()["seq"] for m in sub.on(f"{BASE}/events")))

    async with running(cfg, tmp_path / "first") as rig:
        rig.publish_fresh(1)
        await wait_until(lambda: rig.adapter.stats.connected, what="connected")
        for n in range(5):
            rig.event(n)
        await wait_until(lambda: seqs() == [0, 1, 2, 3, 4], 10.0, "events 0-4 delivered")
        await wait_until(lambda: rig.adapter.stats.events_buffered == 0, 5.0, "their PUBACKs")
        await asyncio.to_thread(broker.stop)
        await wait_until(lambda: not rig.adapter.stats.connected, 5.0, "disconnected")
        for n in range(5, 10):  # logged (and saved in the state file) while the broker is away
            rig.event(n)
        await wait_until(lambda: rig.adapter.stats.events_buffered == 5, 5.0, "5 events waiting")
        restored = list(rig.log.since(0))
    # the gateway stopped with 5 events undelivered; the broker comes back, then a new process
    await asyncio.to_thread(broker.start)
    log = EventLog(1000)
    log.restore(restored)
    assert log.total == 10
    requests = RequestQueue()
    ports = AdapterPorts("mqtt", SnapshotStore(), log, SettingsStore(cfg, tmp_path / "s2.json", requests), requests,
                         RealClock(), cfg.system.stale_after_s)
    adapter = MqttAdapter(cfg)
    task = asyncio.create_task(adapter.run(ports))
    try:
        await wait_until(lambda: 9 in seqs(), 15.0, "the restored events delivered")
        await asyncio.sleep(0.3)
        assert seqs() == list(range(10)), "every event once (no gap, none of 0-4 again), in order"
        assert adapter.stats.events_dropped_total == 0
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
