"""``docs/config-reference.md``, generated from the pydantic models: every key, default and bound.

Why generated: the models are the one place the keys, defaults and allowed ranges are written;
the reference cannot drift from what ``check-config`` enforces (a test regenerates and compares).
Run ``python -m bmsgateway.config.reference > docs/config-reference.md`` after changing a model.
"""

from __future__ import annotations

import enum
import json
import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from bmsgateway.config.model import Config

__all__ = ["key_bounds", "render_reference"]


def _submodel(ann: Any) -> type[BaseModel] | None:
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    return None


def _type_name(ann: Any) -> str:
    origin = typing.get_origin(ann)
    if origin is typing.Literal:
        return " \\| ".join(json.dumps(a) for a in typing.get_args(ann))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(ann) if a is not type(None)) + " (optional)"
    if origin is tuple:
        return "list"
    if isinstance(ann, type) and issubclass(ann, enum.Enum):
        return " \\| ".join(json.dumps(m.value) for m in ann)
    if isinstance(ann, type):
        return {"float": "number", "int": "integer", "str": "string", "bool": "boolean"}.get(
            ann.__name__, ann.__name__
        )
    return str(ann)


def _bounds(field: FieldInfo) -> str:
    parts = []
    for meta in field.metadata:
        for attr, sym in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"), ("min_length", "min length"),
                          ("max_length", "max length")):
            value = getattr(meta, attr, None)
            if value is not None:
                parts.append(f"{sym} {value}")
    return ", ".join(parts)


def key_bounds(key: str, step: float) -> tuple[float | None, float | None]:
    """Inclusive (low, high) bounds of the numeric config key ``a.b.c`` as declared in its model.

    An exclusive bound (gt / lt) becomes the next value on a grid of ``step`` (a Modbus register's
    scale), so that writers such as the register map take their ranges from the one declaration.
    """
    model: Any = Config
    field: FieldInfo | None = None
    for part in key.split("."):
        if field is not None:
            model = _submodel(field.annotation)
            if model is None:
                raise KeyError(key)
        field = model.model_fields.get(part)
        if field is None:
            raise KeyError(key)
    assert field is not None
    lo: float | None = None
    hi: float | None = None
    for meta in field.metadata:
        if getattr(meta, "ge", None) is not None:
            lo = float(meta.ge)
        if getattr(meta, "gt", None) is not None:
            lo = float(meta.gt) + step
        if getattr(meta, "le", None) is not None:
            hi = float(meta.le)
        if getattr(meta, "lt", None) is not None:
            hi = float(meta.lt) - step
    return lo, hi


def _default(value: Any) -> str:
    if isinstance(value, BaseModel):
        return "(table)"
    if isinstance(value, tuple):
        text = json.dumps(value)
        return text if len(text) <= 60 else text[:57] + "..."
    return json.dumps(value)


def _walk(model: BaseModel, prefix: str, rows: list[tuple[str, str, str, str, str]]) -> None:
    """Rows for every leaf key, with the defaults taken from the default instance ``model``."""
    for name, field in type(model).model_fields.items():
        key = f"{prefix}{name}"
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            _walk(value, key + ".", rows)
            continue
        args = typing.get_args(field.annotation)
        item = _submodel(args[0]) if args else None
        if item is not None and typing.get_origin(field.annotation) is tuple:
            rows.append((key, "list of tables", f"{len(value)} tables", _bounds(field), field.description or ""))
            if value:
                _walk(value[0], key + "[].", rows)
            else:  # an empty list by default: its table's keys, required ones marked
                for sub, f in item.model_fields.items():
                    default = "(required)" if f.is_required() else _default(f.get_default(call_default_factory=True))
                    rows.append((f"{key}[].{sub}", _type_name(f.annotation), default, _bounds(f), f.description or ""))
            continue
        rows.append((key, _type_name(field.annotation), _default(value), _bounds(field), field.description or ""))


def render_reference() -> str:
    """The whole reference as Markdown."""
    rows: list[tuple[str, str, str, str, str]] = []
    _walk(Config(), "", rows)
    out = [
        "# Configuration reference",
        "",
        "Generated from `bmsgateway/config/` by `python -m bmsgateway.config.reference`; do not edit.",
        "Keys are dotted TOML paths (`pack.boards[].cells` is `cells` in a `[[pack.boards]]` table).",
        "Every default below is also the built-in value, so a key left out of the file takes it.",
        "Units are in the names: `_v` volts, `_a` amperes (positive = charging), `_c` °C, `_s` seconds,",
        "`_ah` ampere-hours, `_pct` percent. Cross-key rules (Vmin < Vbalance < Vmax, warning before",
        "fault, clear on the safe side of set, ...) are checked too and named in the error message.",
        "",
        "| key | type | default | allowed | meaning |",
        "|---|---|---|---|---|",
    ]
    for key, typ, default, bounds, desc in rows:
        out.append(f"| `{key}` | {typ} | `{default}` | {bounds} | {desc.replace('|', '/')} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(render_reference(), end="")
