"""The settings the web page shows and may change, with their allowed ranges from the config models.

Why read the models: the pydantic fields are where every key's type and range is declared once
(the file check, Modbus writes and this page agree by construction). The page may change the
operating thresholds an installer tunes on site (pack capacity and chemistry voltages, protection
and estimation); wiring, hardware, network ports, the PIN itself and the simulator stay file-only,
as they need a restart or physical access anyway. Every change still goes through
``AdapterPorts.propose``: the same merge-and-validate path as the config file and Modbus.
"""

from __future__ import annotations

import enum
import types
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from bmsgateway.config.model import Config

__all__ = ["WRITABLE_PREFIXES", "SettingInfo", "check_value", "setting_index", "settings_document"]

#: Dotted-key prefixes the page may change (the rest is shown read-only, secrets not at all).
WRITABLE_PREFIXES: tuple[str, ...] = ("pack.capacity_ah", "pack.chemistry.", "protection.", "estimation.")
_HIDDEN = ("modbus.pin",)


@dataclass(frozen=True)
class SettingInfo:
    """One scalar key: type, range and whether the page may write it."""

    key: str
    section: str
    type: str  #: "number" | "integer" | "boolean" | "string" | "choice"
    choices: tuple[Any, ...]
    minimum: float | None
    maximum: float | None
    exclusive_minimum: bool
    exclusive_maximum: bool
    optional: bool
    writable: bool
    description: str

    def allowed(self) -> str:
        """The allowed range as people read it (the 400 answer names it)."""
        if self.type == "choice":
            return "one of " + ", ".join(str(c) for c in self.choices)
        if self.type == "boolean":
            return "true or false"
        parts = []
        if self.minimum is not None:
            parts.append(f"{'>' if self.exclusive_minimum else '>='} {self.minimum:g}")
        if self.maximum is not None:
            parts.append(f"{'<' if self.exclusive_maximum else '<='} {self.maximum:g}")
        return ", ".join(parts) or f"any {self.type}"


def _scalar(ann: Any) -> tuple[str, tuple[Any, ...], bool] | None:
    """(type, choices, optional) of a scalar annotation; None for tables and lists."""
    optional = False
    origin = typing.get_origin(ann)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        if len(args) != 1:
            return None
        ann, optional = args[0], True
        origin = typing.get_origin(ann)
    if origin is typing.Literal:
        return "choice", typing.get_args(ann), optional
    if isinstance(ann, type) and issubclass(ann, enum.Enum):
        return "choice", tuple(m.value for m in ann), optional
    if ann is bool:
        return "boolean", (), optional
    if ann is int:
        return "integer", (), optional
    if ann is float:
        return "number", (), optional
    if ann is str:
        return "string", (), optional
    return None


def _info(key: str, section: str, field: FieldInfo) -> SettingInfo | None:
    kind = _scalar(field.annotation)
    if kind is None:
        return None
    typ, choices, optional = kind
    lo = hi = None
    lo_x = hi_x = False
    for meta in field.metadata:
        if getattr(meta, "ge", None) is not None:
            lo, lo_x = float(meta.ge), False
        if getattr(meta, "gt", None) is not None:
            lo, lo_x = float(meta.gt), True
        if getattr(meta, "le", None) is not None:
            hi, hi_x = float(meta.le), False
        if getattr(meta, "lt", None) is not None:
            hi, hi_x = float(meta.lt), True
    writable = key.startswith(WRITABLE_PREFIXES) and typ != "string"
    return SettingInfo(key, section, typ, choices, lo, hi, lo_x, hi_x, optional, writable, field.description or "")


def _walk(model: type[BaseModel], prefix: str, section: str, out: dict[str, SettingInfo]) -> None:
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        if key in _HIDDEN:
            continue
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            _walk(ann, key + ".", key, out)
            continue
        info = _info(key, section or name, field)
        if info is not None:
            out[key] = info


_INDEX: dict[str, SettingInfo] = {}


def setting_index() -> dict[str, SettingInfo]:
    """Every scalar key of ``Config`` (tables of boards and derating lists are file-only)."""
    if not _INDEX:
        _walk(Config, "", "", _INDEX)
    return _INDEX


def _current(config: Config, key: str) -> Any:
    node: Any = config.model_dump(mode="json")
    for part in key.split("."):
        node = node[part]
    return node


def settings_document(config: Config, unlock_timeout_s: float) -> dict[str, Any]:
    """GET /api/settings: every key with its value and range, grouped by config section."""
    sections: dict[str, list[dict[str, Any]]] = {}
    for key, info in setting_index().items():
        sections.setdefault(info.section, []).append({
            "key": key,
            "value": _current(config, key),
            "type": info.type,
            "choices": list(info.choices),
            "minimum": info.minimum,
            "maximum": info.maximum,
            "exclusive_minimum": info.exclusive_minimum,
            "exclusive_maximum": info.exclusive_maximum,
            "optional": info.optional,
            "allowed": info.allowed(),
            "writable": info.writable,
            "description": info.description,
        })
    return {
        "unlock_timeout_s": unlock_timeout_s,
        "sections": [{"section": name, "settings": rows} for name, rows in sections.items()],
    }


def check_value(key: str, value: Any) -> str | None:
    """A problem with one proposed value before it reaches the validated path (None = go on).

    Catches what JSON lets through that the config would coerce silently (``true`` for a number,
    ``"3.5"`` for a float) and keys the page may not change. Ranges and cross-key rules are left
    to ``propose``, which checks them exactly as the file check does.
    """
    info = setting_index().get(key)
    if info is None:
        return "unknown setting"
    if not info.writable:
        return "not writable over HTTP (change it in the config file)"
    if value is None and info.optional:
        return None
    if info.type == "boolean" and not isinstance(value, bool):
        return "must be true or false"
    if info.type in ("number", "integer") and (isinstance(value, bool) or not isinstance(value, int | float)):
        return f"must be a {info.type}"
    if info.type == "integer" and isinstance(value, float) and not value.is_integer():
        return "must be an integer"
    if info.type == "choice" and value not in info.choices:
        return "must be " + info.allowed()
    return None
