"""The MQTT adapter's counters, in one small object other parts read (Prometheus exporter, bench).

Plain integers written only by the adapter's task and read anywhere: no lock is needed for a
reader that tolerates a value one message old.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["MqttStats"]


@dataclass
class MqttStats:
    """Counters since the daemon started (``_total``: never decrease)."""

    connected: bool = False
    connects_total: int = 0  #: successful connections (the first one included)
    reconnects_total: int = 0  #: connection attempts after a loss or a failed attempt
    connect_failures_total: int = 0
    messages_published_total: int = 0  #: every message the broker accepted (all topics)
    publish_errors_total: int = 0  #: QoS 0 messages the client could not queue (state is sent again later)
    events_published_total: int = 0
    events_dropped_total: int = 0  #: events lost because the buffer (or the event log) overflowed
    events_buffered: int = 0  #: events waiting to be published now
    commands_received_total: int = 0
    commands_accepted_total: int = 0
    commands_refused_total: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
