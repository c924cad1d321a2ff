"""MQTT telemetry settings (owned by ``bmsgateway.adapters.mqtt``).

Why a topic root *and* a device id: many gateways share one broker, each under
``<topic_root>/<device_id>/...``; Home Assistant gets one device per gateway, named by the id.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from bmsgateway.config.base import Section

__all__ = ["MqttConfig", "MqttTlsConfig"]

#: Topic levels we build from config: no wildcards, no separators, nothing a broker would refuse.
_LEVEL = r"^[A-Za-z0-9_-]+$"


class MqttTlsConfig(Section):
    """TLS to the broker (port 8883 by convention). Empty paths use the system's CA store."""

    enabled: bool = False
    ca_file: str = Field("", description="CA certificate(s) that signed the broker's certificate (PEM)")
    cert_file: str = Field("", description="client certificate (PEM) for brokers that require one")
    key_file: str = Field("", description="the client certificate's private key (PEM)")
    insecure: bool = Field(False, description="skip the broker host name check (test brokers only)")

    @model_validator(mode="after")
    def _pair(self) -> Self:
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("mqtt.tls.cert_file and mqtt.tls.key_file go together: set both or neither")
        return self


class MqttConfig(Section):
    """MQTT client: state, cells, events, config, Home Assistant discovery, guarded commands."""

    enabled: bool = False
    host: str = Field("127.0.0.1", min_length=1, description="broker host name or address")
    port: int = Field(1883, ge=1, le=65535, description="1883 plain, 8883 TLS by convention")
    protocol: Literal["3.1.1", "5"] = Field(
        "5", description="MQTT version; 5 answers commands on the request's response topic with its correlation data"
    )
    client_id: str = Field("", max_length=64, description="empty: bmsgateway-<device_id>")
    username: str = Field("", description="broker user (empty: connect anonymously)")
    password: str = Field("", description="broker password (never published with the running configuration)")
    keepalive_s: int = Field(30, ge=5, le=3600, description="the broker declares us gone (last will) after 1.5x this")
    tls: MqttTlsConfig = MqttTlsConfig()
    topic_root: str = Field("bmsgateway", pattern=_LEVEL, description="first topic level, shared by all gateways")
    device_id: str = Field(
        "bms1", pattern=_LEVEL, max_length=48, description="second topic level and Home Assistant device id"
    )
    device_name: str = Field("Battery", min_length=1, max_length=64, description="device name in Home Assistant")
    state_interval_s: float = Field(
        5.0, ge=0.1, le=3600.0, description="the state document is published at least this often"
    )
    min_interval_s: float = Field(
        0.5, ge=0.05, le=60.0,
        description="a change of state, faults, warnings or relays is published at once, but at most this often",
    )
    event_buffer: int = Field(
        1000, ge=10, le=100000,
        description="events kept while the broker is away (oldest dropped first; the drop is counted and reported)",
    )
    max_events_per_s: float = Field(
        200.0, ge=10.0, le=100000.0,
        description="events are published at most this fast, so a backlog after an outage drains without "
        "taking the CPU from the pack cycle",
    )
    discovery: bool = Field(True, description="publish Home Assistant MQTT discovery")
    discovery_prefix: str = Field("homeassistant", pattern=_LEVEL)
    cell_entities: bool = Field(
        True, description="one Home Assistant sensor per cell voltage and per temperature sensor"
    )
    command_user: str = Field(
        "",
        description="broker user whose commands need no PIN; they arrive on <root>/command/user/<this user>, a "
        "topic the broker's ACL lets only that user write (see README). Empty: every command needs the PIN",
    )
    reconnect_initial_s: float = Field(1.0, gt=0.0, le=60.0, description="first reconnect delay")
    reconnect_max_s: float = Field(30.0, gt=0.0, le=3600.0, description="reconnect delay doubles up to this")
    timeout_s: float = Field(
        10.0, gt=0.0, le=300.0, description="a QoS 1 publish not acknowledged within this counts the broker as gone"
    )

    @model_validator(mode="after")
    def _checks(self) -> Self:
        if self.reconnect_initial_s > self.reconnect_max_s:
            raise ValueError(
                f"mqtt.reconnect_initial_s = {self.reconnect_initial_s} must not exceed "
                f"mqtt.reconnect_max_s = {self.reconnect_max_s}"
            )
        if self.command_user and ("/" in self.command_user or "+" in self.command_user or "#" in self.command_user):
            raise ValueError(f"mqtt.command_user = {self.command_user!r} may not contain '/', '+' or '#'")
        return self

    @property
    def effective_client_id(self) -> str:
        return self.client_id or f"bmsgateway-{self.device_id}"
