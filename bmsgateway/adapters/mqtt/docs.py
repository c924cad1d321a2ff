"""``docs/mqtt-topics.md``, generated from the topic, command and entity tables.

Run ``python -m bmsgateway.adapters.mqtt.docs > docs/mqtt-topics.md`` after changing a table; a
test regenerates it and compares.
"""

from __future__ import annotations

import json

from bmsgateway.adapters.document import state_document
from bmsgateway.adapters.mqtt.commands import SETTING_COMMANDS
from bmsgateway.adapters.mqtt.discovery import ENTITIES, TWO_SENSOR_ENTITIES
from bmsgateway.adapters.mqtt.topics import TOPICS
from bmsgateway.requests import COMMANDS

__all__ = ["render_markdown"]


def _example_document() -> str:
    from bmsgateway.config.model import Config
    from bmsgateway.state import (
        BoardHealth,
        ContactorState,
        ControlState,
        CycleTiming,
        EstimateStatus,
        Measurement,
        PackState,
        ProtectionStatus,
    )

    cfg = Config()
    n, t = 4, 2  # shortened: the real document has every cell and sensor of the pack
    cells = tuple(3.301 + 0.002 * i for i in range(n))
    m = Measurement(time_s=3600.0, cell_voltages_v=cells, cell_age_s=(0.0,) * n, temperatures_c=(24.5, 25.1),
                    temperature_age_s=(0.0,) * t, temperature_board=(0, 1), current_a=-12.5, current_age_s=0.0,
                    pack_voltage_measured_v=sum(cells), boards=(BoardHealth(0, cfg.pack.boards[0].chip, True, 0, 0,
                                                                            3599.9, 31.0),))
    e = EstimateStatus(soc_pct=64.2, soh_pct=98.5, dod_pct=35.8, capacity_ah=98.5, rated_capacity_ah=100.0,
                       charge_in_ah=512.25, charge_out_ah=498.5, energy_in_wh=26950.0, energy_out_wh=25800.5,
                       equivalent_cycles=5.1)
    p = ProtectionStatus(state=ControlState.READY, charge_allowed=True, discharge_allowed=True,
                         cvl_v=14.2, ccl_a=50.0, dcl_a=100.0,
                         contactors=(ContactorState("main", True, True),), balancing=(False, True, False, False))
    s = PackState(1234, 3600.0, 1.7e9, m, e, p, CycleTiming(0.1, 0.1, 0.003, 0))
    return json.dumps(state_document(s), indent=2)


def render_markdown() -> str:
    lines = [
        "# MQTT topics",
        "",
        "Generated from `bmsgateway/adapters/mqtt/topics.py`, `commands.py` and `discovery.py` by "
        "`python -m bmsgateway.adapters.mqtt.docs`; do not edit by hand.",
        "",
        "`{base}` is `<mqtt.topic_root>/<mqtt.device_id>` (default `bmsgateway/bms1`), `{prefix}` is "
        "`mqtt.discovery_prefix` (default `homeassistant`).",
        "",
        "| topic | direction | QoS | retained | payload | meaning |",
        "|---|---|---|---|---|---|",
    ]
    for t in TOPICS:
        lines.append(f"| `{t.pattern}` | {t.direction} | {t.qos} | {'yes' if t.retain else 'no'} | {t.payload} | "
                     f"{t.description} |")
    lines += [
        "",
        "## Commands",
        "",
        "Publish a JSON object to `{base}/command` with `\"pin\"` (the gateway's PIN, `modbus.pin`), or without it "
        "to `{base}/command/user/<mqtt.command_user>` as that broker user. An optional `\"id\"` is echoed in the "
        "answer. The answer goes to `{base}/response`, or under MQTT 5 to the request's response topic with its "
        "correlation data: `{\"ok\": true, \"command\": ...}` or `{\"ok\": false, \"command\": ..., \"error\": ..., "
        "\"problems\": [...]}`. A refused command changes nothing. After a wrong PIN, PIN commands are refused "
        "for 1 s, doubling with each further wrong PIN up to 5 minutes.",
        "",
        "| command | what it does |",
        "|---|---|",
    ]
    for c in COMMANDS.values():
        arg = f"; give `\"{c.argument}\"` (a number)" if c.argument else ""
        lines.append(f"| `{c.command.value}` | {c.description}{arg} (queued for the next cycle) |")
    for name, text in SETTING_COMMANDS.items():
        lines.append(f"| `{name}` | {text} |")
    lines += [
        "",
        "## Home Assistant entities",
        "",
        "Discovery topics are `{prefix}/<component>/<device_id>/<object_id>/config` (retained); all entities "
        "belong to one device per gateway. With `mqtt.cell_entities`, a sensor `cell_<n>_voltage` per cell and "
        "`temperature_<n>` per temperature sensor is added. Buttons are only announced when `mqtt.command_user` "
        "is set (they publish to that user's command topic; a discovery payload never carries the PIN). The "
        "charger / consumer entities are announced only with a consumer-side current sensor "
        "(`hardware.consumer_current_sensor.mode` not `off`).",
        "",
        "| component | object id | name | document path | unit | device class | state class |",
        "|---|---|---|---|---|---|---|",
    ]
    for e in ENTITIES + TWO_SENSOR_ENTITIES:
        path = f"`{e.path}`" if e.path else ("command `" + e.command + "`" if e.command else "(template)")
        lines.append(f"| {e.component} | `{e.object_id}` | {e.name} | {path} | {e.unit or ''} | "
                     f"{e.device_class or ''} | {e.state_class or ''} |")
    lines += [
        "",
        "## State document",
        "",
        "Built by `bmsgateway.adapters.document.state_document` (the web API serves the same document). NaN "
        "(not measured this cycle) is `null`; cell, sensor and board numbers such as `min_cell` count from 1; arrays "
        "are in pack order. Example (a 4-cell pack):",
        "",
        "```json",
        _example_document(),
        "```",
        "",
        "When the snapshot is stale: `{\"version\": 1, \"available\": false, \"reason\": \"stale\", \"seq\": ..., "
        "\"age_s\": ...}` (no values).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(render_markdown(), end="")
