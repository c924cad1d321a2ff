"""Every MQTT topic of the gateway, declared once: the adapter, the discovery and the docs read this.

All topics of one gateway live under ``<mqtt.topic_root>/<mqtt.device_id>/`` (the *base*), so that
many gateways share one broker; Home Assistant discovery lives under ``<mqtt.discovery_prefix>/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bmsgateway.config.mqtt import MqttConfig

__all__ = ["TOPICS", "Topic", "TopicSpec", "base", "topic"]


class Topic(StrEnum):
    AVAILABILITY = "availability"
    STATE = "state"
    EVENTS = "events"
    EVENTS_ACKED = "events_acked"
    CONFIG = "config"
    STATS = "stats"
    COMMAND = "command"
    COMMAND_USER = "command_user"
    RESPONSE = "response"
    HA_STATUS = "ha_status"


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One row of the topic table."""

    key: Topic
    pattern: str  #: ``{base}`` = ``<topic_root>/<device_id>``, ``{prefix}`` = discovery prefix
    direction: str  #: "publish" (gateway -> broker) or "subscribe" (broker -> gateway)
    qos: int
    retain: bool
    payload: str
    description: str


#: The topic table (order = order in docs/mqtt-topics.md).
TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(Topic.AVAILABILITY, "{base}/availability", "publish", 1, True, "`online` \\| `offline`",
              "`online` while connected with a fresh snapshot; `offline` when the snapshot is stale, on a clean "
              "stop, and as the last will when the gateway dies (the broker publishes it)"),
    TopicSpec(Topic.STATE, "{base}/state", "publish", 0, True, "JSON state document",
              "the pack (voltages, current, SOC, every cell and temperature, counters, protection, limits, "
              "boards) every `mqtt.state_interval_s` and at once when state, faults, warnings or relays change; "
              "`{\"available\": false, ...}` without values when the snapshot is stale"),
    TopicSpec(Topic.EVENTS, "{base}/events", "publish", 1, False, "JSON event document",
              "one message per event of the log, in order, each with its `seq`; kept in a bounded buffer while "
              "the broker is away and delivered after reconnect (a gap in `seq` means events were dropped, "
              "see `stats`; QoS 1 is at least once: an event repeated after a reconnect has the same `seq`, "
              "drop it)"),
    TopicSpec(Topic.EVENTS_ACKED, "{base}/events/acked", "publish", 1, True, "`{\"seq\": n}`",
              "the `seq` of the last event the broker acknowledged; read back at start, so that events restored "
              "from the state file that never reached the broker (it was away when the gateway stopped) are "
              "published after a restart instead of being skipped"),
    TopicSpec(Topic.CONFIG, "{base}/config", "publish", 1, True, "JSON running configuration",
              "the running configuration (PIN and broker password redacted); again after every accepted change"),
    TopicSpec(Topic.STATS, "{base}/stats", "publish", 0, True, "JSON counters",
              "the adapter's counters: messages published, reconnects, events dropped, commands accepted/refused"),
    TopicSpec(Topic.COMMAND, "{base}/command", "subscribe", 1, False, "JSON command with `pin`",
              "a command (see below); refused unless it carries the PIN (`modbus.pin`)"),
    TopicSpec(Topic.COMMAND_USER, "{base}/command/user/{user}", "subscribe", 1, False, "JSON command",
              "a command from the broker user `mqtt.command_user` (no PIN); only subscribed when that is set, "
              "and only safe when the broker's ACL lets no one else write it"),
    TopicSpec(Topic.RESPONSE, "{base}/response", "publish", 1, False, "JSON answer",
              "the answer to each command, unless an MQTT 5 request names its own response topic (then there, "
              "with the request's correlation data)"),
    TopicSpec(Topic.HA_STATUS, "{prefix}/status", "subscribe", 0, False, "`online`",
              "Home Assistant's birth message: discovery is published again when it comes"),
)

_BY_KEY = {t.key: t for t in TOPICS}


def base(config: MqttConfig) -> str:
    return f"{config.topic_root}/{config.device_id}"


def topic(key: Topic, config: MqttConfig) -> str:
    """The full topic name of ``key`` for this gateway."""
    return _BY_KEY[key].pattern.format(base=base(config), prefix=config.discovery_prefix,
                                       user=config.command_user or "<user>")


def spec(key: Topic) -> TopicSpec:
    return _BY_KEY[key]
