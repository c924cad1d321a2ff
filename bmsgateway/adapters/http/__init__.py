"""The HTTP adapter (``server.HttpAdapter``): web page, JSON/SSE API and Prometheus ``/metrics`` on one port.

Nothing is imported here, so ``python -m bmsgateway.adapters.http.metrics`` (the docs generator)
runs without loading the server.
"""
