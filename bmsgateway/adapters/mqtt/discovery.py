"""Home Assistant MQTT discovery, from one entity table.

One device per gateway (identified by ``mqtt.device_id``); every entity reads the one state
document (``bmsgateway.adapters.document.state_document``) with a template, and is unavailable
whenever the gateway's availability topic says ``offline`` (gateway gone, or snapshot stale).
The energy counters are ``device_class: energy`` / ``state_class: total_increasing`` in Wh, which
is what the Energy dashboard's battery section asks for ("energy going in / coming out").
Buttons publish to the trusted-user command topic, so they are only announced when
``mqtt.command_user`` is set: a discovery payload is readable by every broker client and must never
carry the PIN.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bmsgateway import __version__
from bmsgateway.adapters.mqtt.topics import Topic, topic
from bmsgateway.config.model import Config
from bmsgateway.requests import Command

__all__ = ["ENTITIES", "Entity", "discovery_messages", "entities_for"]

#: The control states of ``ProtectionStatus.state``.
PROTECTION_STATES = ("init", "precharge", "ready", "fault", "stopped")


@dataclass(frozen=True, slots=True)
class Entity:
    """One Home Assistant entity of the gateway's device."""

    component: str  #: "sensor" | "binary_sensor" | "button"
    object_id: str
    name: str
    path: str = ""  #: dotted path into the state document (sensors, binary sensors)
    unit: str | None = None
    device_class: str | None = None
    state_class: str | None = None
    precision: int | None = None
    category: str | None = None  #: "diagnostic" | "config" | None
    options: tuple[str, ...] = ()  #: enum sensors
    template: str | None = None  #: overrides the template built from ``path`` (a state is <= 255 chars)
    command: str | None = None  #: buttons: the command name sent


def _m(object_id: str, name: str, path: str, unit: str | None, device_class: str | None,
       precision: int | None = None, category: str | None = None) -> Entity:
    return Entity("sensor", object_id, name, path, unit, device_class, "measurement", precision, category)


def _total(object_id: str, name: str, path: str, unit: str | None, device_class: str | None,
           precision: int | None = None) -> Entity:
    return Entity("sensor", object_id, name, path, unit, device_class, "total_increasing", precision)


def _bin(object_id: str, name: str, path: str, device_class: str | None, category: str | None = None) -> Entity:
    return Entity("binary_sensor", object_id, name, path, device_class=device_class, category=category)


#: The fixed entities (per-cell sensors are added by ``entities_for``).
ENTITIES: tuple[Entity, ...] = (
    _m("pack_voltage", "Pack voltage", "pack.voltage_v", "V", "voltage", 2),
    _m("pack_current", "Pack current", "pack.current_a", "A", "current", 2),
    _m("pack_power", "Pack power", "pack.power_w", "W", "power", 0),
    _m("soc", "State of charge", "pack.soc_pct", "%", "battery", 1),
    _m("soc_sigma", "State of charge uncertainty (1 sigma)", "pack.soc_sigma_pct", "%", None, 1, "diagnostic"),
    _m("soh", "State of health", "pack.soh_pct", "%", None, 1),
    _m("capacity", "Usable capacity", "pack.capacity_ah", "Ah", None, 1, "diagnostic"),
    _m("cell_min_voltage", "Lowest cell voltage", "cells.min_v", "V", "voltage", 3),
    _m("cell_max_voltage", "Highest cell voltage", "cells.max_v", "V", "voltage", 3),
    _m("cell_avg_voltage", "Average cell voltage", "cells.avg_v", "V", "voltage", 3),
    _m("cell_delta_voltage", "Cell voltage spread", "cells.delta_v", "V", "voltage", 3),
    _m("temperature_min", "Lowest temperature", "temperatures.min_c", "°C", "temperature", 1),
    _m("temperature_max", "Highest temperature", "temperatures.max_c", "°C", "temperature", 1),
    _m("charge_voltage_limit", "Charge voltage limit", "limits.cvl_v", "V", "voltage", 2, "diagnostic"),
    _m("charge_current_limit", "Charge current limit", "limits.ccl_a", "A", "current", 1, "diagnostic"),
    _m("discharge_current_limit", "Discharge current limit", "limits.dcl_a", "A", "current", 1, "diagnostic"),
    _total("energy_in", "Energy charged", "counters.energy_in_wh", "Wh", "energy", 0),
    _total("energy_out", "Energy discharged", "counters.energy_out_wh", "Wh", "energy", 0),
    _total("charge_in", "Charge in", "counters.charge_in_ah", "Ah", None, 2),
    _total("charge_out", "Charge out", "counters.charge_out_ah", "Ah", None, 2),
    _total("equivalent_cycles", "Equivalent full cycles", "counters.equivalent_cycles", None, None, 2),
    Entity("sensor", "state", "Control state", "protection.state", device_class="enum", options=PROTECTION_STATES),
    Entity("sensor", "relay_mode", "Relay mode", "protection.relay_mode", device_class="enum",
           options=("normal", "critical"), category="diagnostic"),
    Entity("sensor", "faults", "Active faults",
           template="{{ ((value_json.protection.faults | join(', ')) or 'none')[:255] "
           "if value_json.available else None }}"),
    Entity("sensor", "warnings", "Active warnings", template="{{ ((value_json.protection.warnings | join(', ')) "
           "or 'none')[:255] if value_json.available else None }}"),
    _bin("charge_allowed", "Charge allowed", "protection.charge_allowed", None),
    _bin("discharge_allowed", "Discharge allowed", "protection.discharge_allowed", None),
    _bin("fault", "Fault", "protection.fault_active", "problem"),
    _bin("warning", "Warning", "protection.warning_active", "problem"),
    _bin("communication", "Cell board communication", "comm_ok", "connectivity", "diagnostic"),
    _bin("alarm", "Alarm", "protection.alarm_active", "problem"),
    _bin("remote_off", "Remote off", "protection.remote_off", None),
    Entity("binary_sensor", "balancing", "Balancing", device_class="running",
           template="{{ ('ON' if true in value_json.cells.balancing else 'OFF') if value_json.available else None }}"),
    Entity("button", "reset_faults", "Reset latched faults", category="config", command=Command.RESET_FAULTS.value),
    Entity("button", "reset_counters", "Reset counters", category="config", command=Command.RESET_COUNTERS.value),
)


#: Two-sensor setups (hardware.consumer_current_sensor): the chargers' / solar and the consumers' side.
TWO_SENSOR_ENTITIES: tuple[Entity, ...] = (
    _m("charger_current", "Charger / solar current", "current_sensors.charger_current_a", "A", "current", 2),
    _m("consumer_current", "Consumer current", "current_sensors.consumer_current_a", "A", "current", 2),
    _m("charger_power", "Charger / solar power", "current_sensors.charger_power_w", "W", "power", 0),
    _m("consumer_power", "Consumer power", "current_sensors.consumer_power_w", "W", "power", 0),
    _total("charger_energy", "Charger / solar energy", "current_sensors.charger_total_kwh", "kWh", "energy", 3),
    _total("consumer_energy", "Consumer energy", "current_sensors.consumer_total_kwh", "kWh", "energy", 3),
    _total("charger_energy_today", "Charger / solar energy today", "current_sensors.charger_today_kwh", "kWh",
           "energy", 3),
    _total("consumer_energy_today", "Consumer energy today", "current_sensors.consumer_today_kwh", "kWh",
           "energy", 3),
)


def entities_for(config: Config) -> tuple[Entity, ...]:
    """The entities announced for this config (per-cell sensors, buttons only with a trusted user,
    the two-sensor figures with a consumer-side current sensor)."""
    out = [e for e in ENTITIES if e.component != "button" or config.mqtt.command_user]
    if config.hardware.consumer_current_sensor.enabled:
        out += TWO_SENSOR_ENTITIES
    # discrete inputs (hardware.inputs): one binary sensor each, and charger detection if wired
    out += [_bin(f"input_{k + 1}", f"Input {k + 1} ({c.name or c.function})", f"protection.inputs.{k}", None)
            for k, c in enumerate(config.hardware.inputs)]
    if any(c.function == "charger_present" for c in config.hardware.inputs):
        out.append(_bin("charger_present", "Charger present", "protection.charger_present", "plug"))
    if config.mqtt.cell_entities:
        out += [_m(f"cell_{i + 1}_voltage", f"Cell {i + 1} voltage", f"cells.voltages_v.{i}", "V", "voltage", 3)
                for i in range(config.pack.cell_count)]
        out += [_m(f"temperature_{i + 1}", f"Temperature {i + 1}", f"temperatures.sensors_c.{i}", "°C",
                   "temperature", 1) for i in range(config.pack.thermistor_count)]
    return tuple(out)


def _template(e: Entity) -> str:
    if e.template is not None:
        return e.template
    parts = e.path.split(".")
    expr = "value_json" + "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in parts)
    if e.component == "binary_sensor":
        expr = f"('ON' if {expr} else 'OFF')"
    # A stale document has no values: render None, which Home Assistant shows as unknown.
    return "{{ " + expr + " if value_json.available else None }}"


def device_id_for(config: Config) -> str:
    return f"bmsgateway_{config.mqtt.device_id}"


def discovery_topic(e: Entity, config: Config) -> str:
    return f"{config.mqtt.discovery_prefix}/{e.component}/{config.mqtt.device_id}/{e.object_id}/config"


def payload(e: Entity, config: Config) -> dict[str, Any]:
    """The discovery payload of one entity."""
    mq = config.mqtt
    dev = device_id_for(config)
    out: dict[str, Any] = {
        "name": e.name,
        "unique_id": f"{dev}_{e.object_id}",
        "availability_topic": topic(Topic.AVAILABILITY, mq),
        "payload_available": "online",
        "payload_not_available": "offline",
        "device": {
            "identifiers": [dev],
            "name": mq.device_name,
            "manufacturer": "bmsgateway",
            "model": f"{len(config.pack.boards)}x {config.pack.boards[0].chip}, {config.pack.cell_count} cells",
            "sw_version": __version__,
        },
        "origin": {"name": "bmsgateway", "sw_version": __version__},
    }
    if e.component == "button":
        out["command_topic"] = topic(Topic.COMMAND_USER, mq)
        out["payload_press"] = json.dumps({"command": e.command})
    else:
        out["state_topic"] = topic(Topic.STATE, mq)
        out["value_template"] = _template(e)
    if e.component == "binary_sensor":
        out["payload_on"] = "ON"
        out["payload_off"] = "OFF"
    for key, value in (("unit_of_measurement", e.unit), ("device_class", e.device_class),
                       ("state_class", e.state_class), ("suggested_display_precision", e.precision),
                       ("entity_category", e.category)):
        if value is not None:
            out[key] = value
    if e.options:
        out["options"] = list(e.options)
    return out


def discovery_messages(config: Config) -> list[tuple[str, dict[str, Any]]]:
    """(topic, payload) of every entity, published retained."""
    return [(discovery_topic(e, config), payload(e, config)) for e in entities_for(config)]
