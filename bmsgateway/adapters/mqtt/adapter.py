"""``MqttAdapter``: publishes the pack to an MQTT broker and takes guarded commands from it.

Runs in the daemon's event loop (it is I/O-bound; the pack cycle does not await it). Two tasks:

* the **feeder** wakes on every snapshot (or every 0.25 s when none comes, to notice staleness),
  moves new events from the log into the bounded ``EventBuffer`` and notes what is due; it runs
  whether or not the broker is reachable, so nothing is lost while it is away;
* the **connection loop** connects (back-off doubling from ``reconnect_initial_s`` to
  ``reconnect_max_s``), announces availability, discovery and configuration, subscribes to the
  command topics and then publishes: events first (QoS 1, one at a time, removed from the buffer
  only once the broker acknowledged them: in order, none lost across a broker restart), then the
  state document when due, while another task answers commands.

A broker that is down, slow or restarting only makes this adapter wait; the event buffer and the
"latest state" are all it keeps. A stale snapshot sets availability ``offline`` and replaces the
retained state with ``unavailable_document`` (no values).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import ssl
import time
from collections.abc import Mapping
from typing import Any

import aiomqtt
import paho.mqtt.client as paho
import structlog
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from bmsgateway.adapters.base import AdapterPorts
from bmsgateway.adapters.document import config_document, event_document, state_document, unavailable_document
from bmsgateway.adapters.mqtt.buffer import EventBuffer
from bmsgateway.adapters.mqtt.commands import CommandHandler
from bmsgateway.adapters.mqtt.discovery import discovery_messages
from bmsgateway.adapters.mqtt.stats import MqttStats
from bmsgateway.adapters.mqtt.topics import Topic, topic
from bmsgateway.config.modbus import DEFAULT_PIN
from bmsgateway.config.model import Config
from bmsgateway.config.mqtt import MqttConfig
from bmsgateway.state import Event, PackState

__all__ = ["MqttAdapter", "client_for"]

log = structlog.get_logger("mqtt")

_TICK_S = 0.25
_INCOMING_MAX = 1000  #: commands queued by the client beyond this are discarded (a flood costs little)
_OUTGOING_MAX = 1000
_RESUME_WAIT_S = 1.0  #: how long the first connection waits for the retained ``events/acked``
_IN_FLIGHT = 20  #: QoS 1 events awaiting their PUBACK at once (paho's default in-flight window)


class _RateLimit:
    """Token bucket: at most ``rate`` per second on average, bursts of up to ``rate / 10``."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.burst = max(float(_IN_FLIGHT), rate / 10.0)
        self._tokens = self.burst
        self._t = time.monotonic()

    async def acquire(self, n: int) -> None:
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._t) * self.rate)
        self._t = now
        self._tokens -= n
        if self._tokens < 0:
            await asyncio.sleep(-self._tokens / self.rate)


def _dumps(doc: Mapping[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()


def _tls_context(cfg: MqttConfig) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=cfg.tls.ca_file or None)
    if cfg.tls.cert_file:
        ctx.load_cert_chain(cfg.tls.cert_file, cfg.tls.key_file)
    if cfg.tls.insecure:
        ctx.check_hostname = False
    return ctx


def client_for(cfg: MqttConfig, will: aiomqtt.Will | None = None, identifier: str | None = None) -> aiomqtt.Client:
    """An aiomqtt client from the ``[mqtt]`` section (also used by the benchmark)."""
    client = aiomqtt.Client(
        cfg.host,
        cfg.port,
        username=cfg.username or None,
        password=cfg.password or None,
        identifier=identifier or cfg.effective_client_id,
        protocol=aiomqtt.ProtocolVersion.V5 if cfg.protocol == "5" else aiomqtt.ProtocolVersion.V311,
        will=will,
        clean_session=None if cfg.protocol == "5" else True,
        keepalive=cfg.keepalive_s,
        timeout=cfg.timeout_s,
        tls_context=_tls_context(cfg) if cfg.tls.enabled else None,
        max_queued_incoming_messages=_INCOMING_MAX,
        max_queued_outgoing_messages=_OUTGOING_MAX,
    )
    client.pending_calls_threshold = 2 * _IN_FLIGHT  # we pipeline on purpose: no warning per publish
    return client


def _consume_disconnect_reason(client: aiomqtt.Client) -> None:
    """Read the reason of an unexpected disconnection that aiomqtt 2 keeps in a private future.

    We learnt of the loss from the call that failed; left unread, asyncio logs "Future exception
    was never retrieved" for it when the client is collected.
    """
    fut = client._disconnected  # private: aiomqtt 2.x has no public accessor
    if fut.done() and not fut.cancelled():
        fut.exception()


def _discrete(s: PackState) -> tuple[Any, ...]:
    """What, when it changes, is published at once (not only on the interval)."""
    p = s.protection
    return (p.state, p.relay_mode, p.fault_bits, p.warning_bits, p.charge_allowed, p.discharge_allowed,
            tuple((c.name, c.commanded) for c in p.contactors), s.comm_ok)


class MqttAdapter:
    """An ``Adapter`` (see ``adapters/base.py``); ``stats`` is readable at any time."""

    name = "mqtt"

    def __init__(self, config: Config) -> None:
        self._config = config
        self.stats = MqttStats()
        self._rate = _RateLimit(config.mqtt.max_events_per_s)
        self._buffer: EventBuffer | None = None
        self._wake = asyncio.Event()
        self._state_due = True
        self._last_state_t = -math.inf
        self._last_discrete: tuple[Any, ...] | None = None
        self._available: bool | None = None  #: what availability says now (None: not sent on this connection)
        self._config_sent: Config | None = None
        self._refused_logged_at = -math.inf
        self._refused_unlogged = 0
        self._resumed = False  #: the broker's last acknowledged event was read (first connection)
        self._acked_seq: int | None = None  #: the retained ``events/acked`` found at start
        self._resume_deadline = math.inf

    @property
    def cfg(self) -> MqttConfig:
        return self._config.mqtt

    # -- entry point --------------------------------------------------------------------------------
    async def run(self, ports: AdapterPorts) -> None:
        if self._buffer is None:  # kept across supervisor restarts: events are not lost by a crash
            self._buffer = EventBuffer(self.cfg.event_buffer, ports.next_event_seq)
        # Serving from the start: the broker may be slow to answer or unreachable for minutes, and
        # neither READY nor the first pack cycle may wait for it.
        ports.mark_started()
        mq = self.stats
        ports.publish_stats(lambda: {"requests": mq.messages_published_total,
                                     "errors": mq.publish_errors_total + mq.connect_failures_total
                                     + mq.commands_refused_total,
                                     "events_dropped": mq.events_dropped_total})
        if ports.config.modbus.pin == DEFAULT_PIN and not self.cfg.command_user:
            log.warning("mqtt_default_pin", hint="set modbus.pin: MQTT commands are guarded by the same PIN")
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._feed(ports), name="bmsgateway.mqtt.feed")
            tg.create_task(self._connection_loop(ports), name="bmsgateway.mqtt.connection")

    # -- feeder ---------------------------------------------------------------------------------
    async def _feed(self, ports: AdapterPorts) -> None:
        assert self._buffer is not None
        seq = -1
        while True:
            with contextlib.suppress(TimeoutError):
                s = await asyncio.wait_for(ports.store.wait_next(seq), _TICK_S)
                seq = s.seq
            self._collect(ports)
            self._wake.set()

    def _collect(self, ports: AdapterPorts) -> None:
        assert self._buffer is not None
        buf = self._buffer
        if ports.next_event_seq > buf.next_seq:
            dropped = buf.add(ports.events_since(buf.next_seq))
            self.stats.events_dropped_total = buf.dropped_total
            if dropped:
                log.warning("mqtt_events_dropped", dropped=dropped, dropped_total=buf.dropped_total,
                            buffer=buf.maxlen, hint="raise mqtt.event_buffer or check the broker")
            self.stats.events_buffered = len(buf)

    # -- connection ----------------------------------------------------------------------------
    async def _connection_loop(self, ports: AdapterPorts) -> None:
        cfg = self.cfg
        backoff = cfg.reconnect_initial_s
        first = True
        down_since: float | None = None
        while True:
            if not first:
                self.stats.reconnects_total += 1
            first = False
            will = aiomqtt.Will(topic(Topic.AVAILABILITY, cfg), b"offline", qos=1, retain=True)
            try:
                client = client_for(cfg, will)
            except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
                # Unreadable or wrong TLS files: say which keys to check, keep retrying (they may be
                # provisioned later), never take the daemon down for telemetry.
                log.error("mqtt_tls_setup_failed", error=str(exc) or repr(exc), retry_in_s=backoff,
                          keys="mqtt.tls.ca_file, mqtt.tls.cert_file, mqtt.tls.key_file")
                self.stats.connect_failures_total += 1
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2.0, cfg.reconnect_max_s)
                continue
            try:
                async with client:
                    self.stats.connected = True
                    self.stats.connects_total += 1
                    backoff = cfg.reconnect_initial_s
                    log.info("mqtt_connected", host=cfg.host, port=cfg.port, protocol=cfg.protocol,
                             down_s=None if down_since is None else round(time.monotonic() - down_since, 1))
                    down_since = None
                    await self._serve(client, ports)
            except* aiomqtt.MqttError as group:
                err = "; ".join(str(e) for e in group.exceptions)
                if self.stats.connected or down_since is None:
                    log.warning("mqtt_disconnected" if self.stats.connected else "mqtt_connect_failed",
                                host=cfg.host, port=cfg.port, error=err, retry_in_s=backoff)
                if not self.stats.connected:
                    self.stats.connect_failures_total += 1
                down_since = down_since or time.monotonic()
            finally:
                self.stats.connected = False
                _consume_disconnect_reason(client)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2.0, cfg.reconnect_max_s)

    def _resume(self, ports: AdapterPorts) -> bool:
        """Once per process, before the first event goes out: queue, from the event log, the
        restored events after the broker's retained ``events/acked``. Without this, events logged
        while the broker was away just before a stop would never be published, since a new process
        starts at the next ``seq``. False while the retained message may still come (events wait;
        the state document does not)."""
        assert self._buffer is not None
        if self._acked_seq is None and time.monotonic() < self._resume_deadline:
            return False
        self._resumed = True
        acked = self._acked_seq
        if acked is None or acked + 1 >= self._buffer.next_seq:
            return True
        taken = self._buffer.backfill(ports.events_since(acked + 1))
        if taken:
            log.info("mqtt_events_resumed", after_seq=acked, events=taken)
        self.stats.events_dropped_total = self._buffer.dropped_total
        self.stats.events_buffered = len(self._buffer)
        return True

    async def _serve(self, client: aiomqtt.Client, ports: AdapterPorts) -> None:
        cfg = self.cfg
        handler = CommandHandler(ports, ports.propose)
        if not self._resumed:  # a retained message comes right after the SUBACK, or never
            self._resume_deadline = time.monotonic() + _RESUME_WAIT_S
            await client.subscribe(topic(Topic.EVENTS_ACKED, cfg), qos=1)
        await client.subscribe(topic(Topic.COMMAND, cfg), qos=1)
        if cfg.command_user:
            await client.subscribe(topic(Topic.COMMAND_USER, cfg), qos=1)
        if cfg.discovery:
            await client.subscribe(topic(Topic.HA_STATUS, cfg), qos=0)
        self._available = None
        self._config_sent = None
        self._state_due = True
        if cfg.discovery:
            await self._publish_discovery(client, ports.config)
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._receive(client, handler), name="bmsgateway.mqtt.receive")
                tg.create_task(self._publish_loop(client, ports), name="bmsgateway.mqtt.publish")
        except asyncio.CancelledError:
            # A clean stop: say so instead of leaving "online" retained (the will is for crashes).
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    client.publish(topic(Topic.AVAILABILITY, cfg), b"offline", qos=1, retain=True), 2.0)
            raise

    async def _pub(self, client: aiomqtt.Client, name: str, payload: bytes, qos: int, retain: bool,
                   properties: Properties | None = None) -> None:
        await client.publish(name, payload, qos=qos, retain=retain, properties=properties)
        self.stats.messages_published_total += 1

    async def _publish_discovery(self, client: aiomqtt.Client, config: Config) -> None:
        for name, doc in discovery_messages(config):
            await self._pub(client, name, _dumps(doc), 1, True)

    # -- publishing -----------------------------------------------------------------------------
    async def _publish_loop(self, client: aiomqtt.Client, ports: AdapterPorts) -> None:
        cfg = self.cfg
        assert self._buffer is not None
        buf = self._buffer
        while True:
            self._wake.clear()
            self._collect(ports)
            config = ports.config
            if config is not self._config_sent:
                await self._pub(client, topic(Topic.CONFIG, cfg), _dumps(config_document(config)), 1, True)
                self._config_sent = config
            while (self._resumed or self._resume(ports)) and (batch := buf.head(_IN_FLIGHT)):
                await self._publish_events(client, batch)
                await self._publish_state(client, ports)  # a long backlog does not hold the state back
            await self._publish_state(client, ports)
            await self._wake.wait()

    async def _publish_events(self, client: aiomqtt.Client, batch: list[Event]) -> None:
        """Publish a batch in order with up to ``_IN_FLIGHT`` awaiting their PUBACK (QoS 1).

        Only the acknowledged prefix leaves the buffer; the rest is sent again after reconnect
        (at least once, in order: a consumer drops a repeated ``seq``). The rate is capped so that
        a backlog after an outage drains without taking the CPU from the pack cycle.
        """
        assert self._buffer is not None
        await self._rate.acquire(len(batch))
        name = topic(Topic.EVENTS, self.cfg)
        results = await asyncio.gather(
            *(client.publish(name, _dumps(event_document(ev)), qos=1) for ev in batch), return_exceptions=True)
        acked = 0
        for r in results:
            if isinstance(r, BaseException):
                break
            acked += 1
        self._buffer.pop(acked)
        if acked:
            last = {"seq": batch[acked - 1].seq}
            with contextlib.suppress(aiomqtt.MqttError):  # the events are out; this is bookkeeping
                await self._pub(client, topic(Topic.EVENTS_ACKED, self.cfg), _dumps(last), 1, True)
        self.stats.messages_published_total += acked
        self.stats.events_published_total += acked
        self.stats.events_buffered = len(self._buffer)
        failed = next((r for r in results if isinstance(r, BaseException)), None)
        if failed is not None:
            raise failed

    async def _publish_state(self, client: aiomqtt.Client, ports: AdapterPorts) -> None:
        cfg = self.cfg
        now = time.monotonic()
        fresh = ports.fresh()
        if fresh is None:
            if self._available is not False:  # once per transition: no values, no "online"
                latest = ports.latest()
                age = math.inf if latest is None else ports.clock.wall_time() - latest.wall_time
                await self._pub(client, topic(Topic.STATE, cfg), _dumps(unavailable_document(latest, age)), 0, True)
                await self._pub(client, topic(Topic.AVAILABILITY, cfg), b"offline", 1, True)
                self._available = False
                if latest is not None:  # before the first cycle this is expected, not worth a warning
                    log.warning("mqtt_state_unavailable", reason="stale snapshot", age_s=round(age, 1))
            return
        discrete = _discrete(fresh)
        changed = discrete != self._last_discrete
        elapsed = now - self._last_state_t
        due = (self._state_due or elapsed >= cfg.state_interval_s
               or (changed and elapsed >= cfg.min_interval_s) or self._available is not True)
        if not due:
            return
        try:
            await self._pub(client, topic(Topic.STATE, cfg), _dumps(state_document(fresh)), 0, True)
            await self._pub(client, topic(Topic.STATS, cfg), _dumps(self.stats.as_dict()), 0, True)
        except aiomqtt.MqttCodeError as exc:
            if exc.rc != paho.MQTT_ERR_QUEUE_SIZE:
                raise
            self.stats.publish_errors_total += 1  # a slow broker: this state is skipped, a newer one follows
            return
        self._last_state_t = now
        self._last_discrete = discrete
        self._state_due = False
        if self._available is not True:
            await self._pub(client, topic(Topic.AVAILABILITY, cfg), b"online", 1, True)
            self._available = True

    # -- commands -------------------------------------------------------------------------------
    async def _receive(self, client: aiomqtt.Client, handler: CommandHandler) -> None:
        cfg = self.cfg
        cmd_topic = topic(Topic.COMMAND, cfg)
        user_topic = topic(Topic.COMMAND_USER, cfg) if cfg.command_user else None
        ha_status = topic(Topic.HA_STATUS, cfg)
        acked_topic = topic(Topic.EVENTS_ACKED, cfg)
        async for message in client.messages:
            name = message.topic.value
            if name == acked_topic:
                if not self._resumed:
                    with contextlib.suppress(ValueError, TypeError, KeyError, AttributeError):
                        self._acked_seq = int(json.loads(bytes(message.payload))["seq"])
                    self._wake.set()
                await client.unsubscribe(acked_topic)  # only the value at start matters
                continue
            if name == ha_status:
                if message.payload == b"online" and cfg.discovery:
                    await self._publish_discovery(client, self._config)
                continue
            if name not in (cmd_topic, user_topic):
                continue
            self.stats.commands_received_total += 1
            raw = message.payload
            payload = bytes(raw) if isinstance(raw, bytes | bytearray) else str(raw).encode()
            ok, answer = await handler.handle(payload, cfg.command_user if name == user_topic else None)
            if ok:
                self.stats.commands_accepted_total += 1
            else:
                self.stats.commands_refused_total += 1
                self._log_refused(name, answer)
            await self._answer(client, message, answer)

    def _log_refused(self, name: str, answer: Mapping[str, Any]) -> None:
        """A refused command is logged, but a flood of them is one line per second, not one each."""
        now = time.monotonic()
        if now - self._refused_logged_at >= 1.0:
            log.warning("mqtt_command_refused", topic=name, command=answer.get("command"), error=answer.get("error"),
                        refused_since_last_line=self._refused_unlogged + 1)
            self._refused_logged_at = now
            self._refused_unlogged = 0
        else:
            self._refused_unlogged += 1

    async def _answer(self, client: aiomqtt.Client, request: aiomqtt.Message, answer: dict[str, Any]) -> None:
        cfg = self.cfg
        reply_to = topic(Topic.RESPONSE, cfg)
        props: Properties | None = None
        req_props = request.properties
        if cfg.protocol == "5" and req_props is not None:
            props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            response_topic = getattr(req_props, "ResponseTopic", None)
            if isinstance(response_topic, str) and response_topic:
                reply_to = response_topic
            correlation = getattr(req_props, "CorrelationData", None)
            if correlation is not None:
                props.CorrelationData = correlation
        await self._pub(client, reply_to, _dumps(answer), 1, False, props)
