"""The base of every config section: frozen, unknown keys rejected.

Why: a typo in a safety threshold must fail at start, never be silently ignored (Klipper's
unused-option check). Frozen so that a running stage can keep a reference without it changing
under it; changes go through ``bmsgateway.settings`` which builds a new validated Config.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["Section"]


class Section(BaseModel):
    """A config section: strict keys, immutable, validated on assignment-free construction."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)
