"""MQTT commands: parse, authorise, execute through the same paths as Modbus writes, answer.

A command is a JSON object ``{"command": NAME, ...}``:

* the operator commands of ``bmsgateway.requests.COMMANDS`` (``reset_faults``, ``reset_counters``,
  ``calibrate_current_zero``) are queued with ``ports.submit`` for the next cycle;
* ``set_relay_mode`` (``"mode": "normal" | "critical"``) and ``set_thresholds`` (``"changes":
  {"dotted.key": value, ...}``, keys under ``protection.`` or ``pack.chemistry.``) go to
  ``await ports.propose(...)``: the one validated settings path (ranges *and* invariants, all or
  nothing, persisted).

Authorisation: the message came in on the trusted-user topic (the broker's ACL vouches for the
sender) or it carries ``"pin"`` equal to ``modbus.pin`` (the one PIN of the gateway). A wrong PIN
refuses PIN commands for a while (doubling, up to 5 minutes) so that the 4-digit PIN cannot be
guessed at broker speed. An optional ``"id"`` is echoed in the answer (MQTT 3.1.1 correlation).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from bmsgateway.config.model import Config
from bmsgateway.requests import COMMANDS, Request, command_by_name
from bmsgateway.settings import redacted

__all__ = ["SETTING_COMMANDS", "THRESHOLD_PREFIXES", "CommandHandler", "CommandPorts"]

log = structlog.get_logger("mqtt")

#: Commands that change settings (the others come from ``requests.COMMANDS``).
SETTING_COMMANDS: dict[str, str] = {
    "set_relay_mode": 'set `protection.relays.mode`: `{"command": "set_relay_mode", "mode": "critical"}`',
    "set_thresholds": 'change thresholds in one validated, all-or-nothing step: `{"command": "set_thresholds", '
                      '"changes": {"protection.relays.tmax_c": 50.0}}` (keys under `protection.` or '
                      '`pack.chemistry.`; see docs/config-reference.md)',
}

#: Keys ``set_thresholds`` may change.
THRESHOLD_PREFIXES = ("protection.", "pack.chemistry.")

_LOCK_MAX_S = 300.0


class CommandPorts(Protocol):
    """What the handler needs of ``AdapterPorts``."""

    @property
    def config(self) -> Config: ...

    def submit(self, request: Request) -> None: ...


@dataclass
class _Outcome:
    ok: bool
    answer: dict[str, Any]


class CommandHandler:
    """Turns one command message into an action and an answer document."""

    def __init__(self, ports: CommandPorts,
                 propose: Callable[[Mapping[str, Any], str], Awaitable[list[str]]],
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._ports = ports
        self._propose = propose
        self._now = monotonic
        self._wrong_pins = 0
        self._locked_until = -math.inf

    async def handle(self, payload: bytes, trusted_user: str | None) -> tuple[bool, dict[str, Any]]:
        """(accepted, answer) for one message; never raises for bad input."""
        out = await self._handle(payload, trusted_user)
        return out.ok, out.answer

    async def _handle(self, payload: bytes, trusted_user: str | None) -> _Outcome:
        try:
            msg = json.loads(payload)
        except (UnicodeDecodeError, ValueError):
            return _refuse(None, None, "payload is not JSON")
        if not isinstance(msg, dict):
            return _refuse(None, None, "payload must be a JSON object")
        req_id = msg.get("id")
        name = msg.get("command")
        if not isinstance(name, str):
            return _refuse(req_id, None, "missing \"command\"")
        spec = command_by_name(name)
        if spec is None and name not in SETTING_COMMANDS:
            known = sorted([c.command.value for c in COMMANDS.values()] + list(SETTING_COMMANDS))
            return _refuse(req_id, name, f"unknown command; known: {', '.join(known)}")
        denied = self._authorise(msg, trusted_user)
        if denied is not None:
            return _refuse(req_id, name, denied)
        source = f"mqtt:{trusted_user}" if trusted_user else "mqtt"
        if spec is not None:
            if spec.argument and spec.make_with is not None:
                value = msg.get(spec.argument)
                if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                    return _refuse(req_id, name, f"missing or invalid \"{spec.argument}\" (a number)")
                self._ports.submit(spec.make_with(source, float(value)))
                log.info("mqtt_command", command=spec.command.value, source=source, **{spec.argument: value})
                return _accept(req_id, spec.command.value)
            self._ports.submit(spec.make(source))
            log.info("mqtt_command", command=spec.command.value, source=source)
            return _accept(req_id, spec.command.value)
        changes = _changes(name, msg)
        if isinstance(changes, str):
            return _refuse(req_id, name, changes)
        problems = await self._propose(changes, source)
        if problems:
            log.warning("mqtt_settings_refused", command=name, changes=redacted(changes), problems=problems)
            return _refuse(req_id, name, "refused by validation", problems)
        log.info("mqtt_settings_changed", command=name, changes=redacted(changes), source=source)
        return _accept(req_id, name)

    def _authorise(self, msg: Mapping[str, Any], trusted_user: str | None) -> str | None:
        """None when allowed, else the reason."""
        if trusted_user:
            return None
        pin = msg.get("pin")
        if pin is None:
            return "PIN required"
        if self._now() < self._locked_until:
            return f"locked after a wrong PIN; retry in {math.ceil(self._locked_until - self._now())} s"
        if not isinstance(pin, int | str) or str(pin) != str(self._ports.config.modbus.pin):
            self._wrong_pins += 1
            self._locked_until = self._now() + min(_LOCK_MAX_S, 2.0 ** (self._wrong_pins - 1))
            log.warning("mqtt_wrong_pin", wrong_pins=self._wrong_pins)
            return "wrong PIN"
        self._wrong_pins = 0
        return None


def _changes(name: str, msg: Mapping[str, Any]) -> dict[str, Any] | str:
    if name == "set_relay_mode":
        mode = msg.get("mode")
        if not isinstance(mode, str):
            return "missing \"mode\" (normal or critical)"
        return {"protection.relays.mode": mode}
    changes = msg.get("changes")
    if not isinstance(changes, dict) or not changes:
        return "missing \"changes\": an object of dotted config keys and values"
    bad = [k for k in changes if not isinstance(k, str) or not k.startswith(THRESHOLD_PREFIXES)]
    if bad:
        return f"not a threshold: {', '.join(map(str, bad))} (allowed under {', '.join(THRESHOLD_PREFIXES)})"
    return dict(changes)


def _accept(req_id: Any, name: str) -> _Outcome:
    answer: dict[str, Any] = {"ok": True, "command": name}
    if req_id is not None:
        answer["id"] = req_id
    return _Outcome(True, answer)


def _refuse(req_id: Any, name: str | None, error: str, problems: list[str] | None = None) -> _Outcome:
    answer: dict[str, Any] = {"ok": False, "command": name, "error": error}
    if problems:
        answer["problems"] = problems
    if req_id is not None:
        answer["id"] = req_id
    return _Outcome(False, answer)
