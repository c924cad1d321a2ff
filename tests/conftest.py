"""Suite-wide test settings."""

from __future__ import annotations

from hypothesis import settings

# No example database: a failing example stored by one run must not turn a later, unrelated run
# red (CI runs a fresh clone; developers get the same behaviour). Failures print their example.
settings.register_profile("bmsgateway", database=None)
settings.load_profile("bmsgateway")
