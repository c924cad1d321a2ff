"""The HTTP server: the local web page, its JSON/SSE API and the Prometheus ``/metrics``.

Owned by ``bmsgateway.adapters.http``. Off by default and bound to 127.0.0.1 when on: the API
changes settings (with the PIN), so reaching it from the LAN is a deliberate ``host = "0.0.0.0"``.
The PIN is ``modbus.pin`` (one PIN for every protocol) and so is its unlock timeout.
"""

from __future__ import annotations

from pydantic import Field

from bmsgateway.config.base import Section

__all__ = ["HttpConfig"]


class HttpConfig(Section):
    """One server, one port: ``/`` (page), ``/api/...`` and ``/metrics``."""

    enabled: bool = Field(False, description="serve the web page, its API and /metrics")
    host: str = Field("127.0.0.1", min_length=1, description="0.0.0.0 opens the page and API to the LAN")
    port: int = Field(8080, ge=0, le=65535, description="0 picks a free port (tests)")
    stream_interval_s: float = Field(
        0.5, ge=0.2, le=10.0, description="live snapshot period of /api/events (events are sent at once)"
    )
    pin_attempts: int = Field(5, ge=1, le=100, description="wrong PINs allowed per client within pin_window_s")
    pin_window_s: float = Field(
        60.0, ge=1.0, le=86400.0, description="a client over pin_attempts is refused (429) for this long"
    )
