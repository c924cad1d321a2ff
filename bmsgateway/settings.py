"""The one validated path for config changes made while the daemon runs.

Adapters (Modbus writes, later CANopen SDO and MQTT commands) call ``SettingsStore.propose`` with
dotted keys such as ``{"pack.chemistry.vmax_v": 3.65}``. The change is merged into the current
config and validated as a whole, with the same rules as the file at start (ranges *and*
invariants such as Vmin < Vmax). A rejected change alters nothing; an accepted one is written to
the overrides file (atomically) and queued for the pack cycle, so it survives a restart.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import structlog

from bmsgateway.config.load import ConfigError, parse_config
from bmsgateway.config.model import Config
from bmsgateway.persist.atomic import atomic_write_bytes
from bmsgateway.requests import ApplyConfig, RequestQueue

__all__ = ["SECRET_KEYS", "SettingsStore", "merge_dotted", "redacted"]

log = structlog.get_logger("settings")

#: Settings whose values never reach a log line, an event or a document: the key is shown, the value is not.
SECRET_KEYS: frozenset[str] = frozenset({"modbus.pin", "mqtt.password"})


def redacted(changes: Mapping[str, Any]) -> dict[str, Any]:
    """``changes`` fit for a log: each secret's value replaced by ``"***"``."""
    return {k: "***" if k in SECRET_KEYS else v for k, v in changes.items()}


def merge_dotted(base: dict[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of ``base`` with ``a.b.c = value`` keys applied; unknown paths raise KeyError."""
    out: dict[str, Any] = json.loads(json.dumps(base))
    for key, value in changes.items():
        parts = key.split(".")
        node = out
        for part in parts[:-1]:
            if not isinstance(node, dict) or part not in node:
                raise KeyError(key)
            node = node[part]
        if not isinstance(node, dict) or parts[-1] not in node:
            raise KeyError(key)
        node[parts[-1]] = value
    return out


class SettingsStore:
    """Holds the running Config; validates, persists and queues changes."""

    def __init__(self, config: Config, overrides_path: Path | None, queue: RequestQueue) -> None:
        self._config = config
        self._path = overrides_path
        self._queue = queue
        self._overrides: dict[str, Any] = {}
        # propose() may be called from adapter threads (Modbus runs its own loop thread).
        self._lock = threading.Lock()

    @property
    def config(self) -> Config:
        return self._config

    @property
    def overrides(self) -> dict[str, Any]:
        return dict(self._overrides)

    def load_overrides(self) -> Config:
        """Apply the overrides saved by earlier runs on top of the file config.

        A corrupt or no longer valid overrides file is reported and ignored: the daemon starts
        with the file config rather than not at all.
        """
        if self._path is None or not self._path.exists():
            return self._config
        try:
            saved = json.loads(self._path.read_text(encoding="utf-8"))
            if not isinstance(saved, dict):
                raise ValueError("not a JSON object")
            cfg = self._validated(saved)
        except (OSError, ValueError, KeyError, ConfigError) as exc:
            log.error("settings_overrides_ignored", path=str(self._path), error=str(exc))
            return self._config
        self._overrides = saved
        self._config = cfg
        log.info("settings_overrides_applied", path=str(self._path), keys=sorted(saved))
        return cfg

    def _validated(self, changes: Mapping[str, Any]) -> Config:
        merged = merge_dotted(self._config.model_dump(mode="json"), changes)
        return parse_config(merged, "settings")

    def propose(self, changes: Mapping[str, Any], source: str = "unknown") -> list[str]:
        """Validate and apply ``changes``; returns the problems (empty list = accepted)."""
        with self._lock:
            return self._propose(changes, source)

    def _propose(self, changes: Mapping[str, Any], source: str) -> list[str]:
        try:
            cfg = self._validated(changes)
        except KeyError as exc:
            return [f"{exc.args[0]}: unknown setting"]
        except ConfigError as exc:
            return exc.problems
        new_overrides = {**self._overrides, **changes}
        if self._path is not None:
            try:
                atomic_write_bytes(self._path, json.dumps(new_overrides, indent=2, sort_keys=True).encode())
            except OSError as exc:
                log.error("settings_persist_failed", path=str(self._path), error=str(exc))
                return [f"cannot persist settings: {exc}"]
        self._overrides = new_overrides
        self._config = cfg
        self._queue.submit(ApplyConfig(cfg, source=source, keys=tuple(sorted(changes))))
        log.info("settings_changed", source=source, changes=redacted(changes))
        return []
