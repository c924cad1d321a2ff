"""MQTT telemetry and commands (see ``adapter.py``; topics in ``topics.py``, discovery in ``discovery.py``)."""

from bmsgateway.adapters.mqtt.adapter import MqttAdapter
from bmsgateway.adapters.mqtt.stats import MqttStats

__all__ = ["MqttAdapter", "MqttStats"]
