"""Reading a TOML file into a validated ``Config``, with one clear line per problem.

Every problem names the key, the value and what is allowed, so that an installer can fix the
file without reading code. The CLI prints these lines and exits with status 2 before anything
starts.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from bmsgateway.config.model import Config

__all__ = ["ConfigError", "format_validation_error", "load_config", "parse_config"]


class ConfigError(Exception):
    """A config that cannot be used; ``problems`` holds one human-readable line each."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


def _dotted(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out or "(top level)"


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The section model that owns the key at ``loc`` (for listing the allowed keys)."""
    model: Any = Config
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if hasattr(model, "model_fields") else None
        if field is None:
            return None
        ann = field.annotation
        args = getattr(ann, "__args__", ())
        candidates = [ann, *args]
        nxt = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if nxt is None:
            return None
        model = nxt
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def format_validation_error(err: ValidationError) -> list[str]:
    """One line per pydantic error: ``key = value: what is wrong (what is allowed)``."""
    lines: list[str] = []
    errors = err.errors(include_url=False)
    locs = [tuple(e["loc"]) for e in errors]
    for e in errors:
        loc = tuple(e["loc"])
        if e["type"] == "too_short" and any(o[: len(loc)] == loc and len(o) > len(loc) for o in locs):
            continue  # a consequence of an item error already reported

        key = _dotted(loc)
        value = e.get("input")
        kind = e["type"]
        msg = e["msg"]
        if kind == "extra_forbidden":
            owner = _model_at(loc)
            allowed = ", ".join(sorted(owner.model_fields)) if owner else "see docs"
            lines.append(f"{key} = {value!r}: unknown key (allowed keys here: {allowed})")
        elif kind == "value_error":
            # Cross-field checks already name the keys and values in their message.
            text = msg.removeprefix("Value error, ")
            where = f"{key}: " if loc else ""
            lines.append(f"{where}{text}")
        else:
            ctx = e.get("ctx") or {}
            bounds = []
            for name, sym in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
                if name in ctx:
                    bounds.append(f"{sym} {ctx[name]}")
            allowed = f" (allowed: {' and '.join(bounds)})" if bounds else ""
            lines.append(f"{key} = {value!r}: {msg}{allowed}")
    return lines


def parse_config(data: dict[str, Any], source: str = "<config>") -> Config:
    """Validate a parsed TOML document; raises ``ConfigError`` listing every problem."""
    try:
        return Config.model_validate(data)
    except ValidationError as err:
        raise ConfigError(source, format_validation_error(err)) from None


def load_config(path: str | Path | None) -> Config:
    """Load and validate a TOML file; ``None`` gives the embedded default (simulated pack)."""
    if path is None:
        return Config()
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(p), [f"cannot read file: {exc.strerror or exc}"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(p), [f"not valid TOML: {exc}"]) from None
    return parse_config(data, str(p))
