"""Suite-wide test settings."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog
from hypothesis import settings

# No example database: a failing example stored by one run must not turn a later, unrelated run
# red (CI runs a fresh clone; developers get the same behaviour). Failures print their example.
settings.register_profile("bmsgateway", database=None)
settings.load_profile("bmsgateway")


@pytest.fixture(autouse=True)
def _restore_structlog() -> Iterator[None]:
    """A test that quiets or reconfigures structlog must not change what the next test sees
    (``capture_logs`` cannot see a call that a filtering wrapper from an earlier test dropped)."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)
