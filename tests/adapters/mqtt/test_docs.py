"""docs/mqtt-topics.md is exactly what the topic, command and entity tables generate."""

from __future__ import annotations

from pathlib import Path

from bmsgateway.adapters.mqtt.docs import render_markdown
from bmsgateway.adapters.mqtt.topics import TOPICS, Topic, topic
from bmsgateway.config import parse_config

DOC = Path(__file__).resolve().parents[3] / "docs" / "mqtt-topics.md"


def test_committed_topic_docs_are_current() -> None:
    assert DOC.read_text(encoding="utf-8") == render_markdown(), (
        "docs/mqtt-topics.md is out of date: run `python -m bmsgateway.adapters.mqtt.docs > docs/mqtt-topics.md`"
    )


def test_topic_root_and_device_id_place_every_gateway_topic() -> None:
    cfg = parse_config({"mqtt": {"topic_root": "site3", "device_id": "rack-2", "command_user": "scada"}}, "t").mqtt
    assert topic(Topic.STATE, cfg) == "site3/rack-2/state"
    assert topic(Topic.COMMAND_USER, cfg) == "site3/rack-2/command/user/scada"
    assert all(t.pattern.startswith(("{base}/", "{prefix}/")) for t in TOPICS)
