"""The HTTP adapter: web page, JSON/SSE API and Prometheus ``/metrics`` on one port."""

from bmsgateway.adapters.http.server import HttpAdapter

__all__ = ["HttpAdapter"]
