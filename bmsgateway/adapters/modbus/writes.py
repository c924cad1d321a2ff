"""Guarded writes: PIN unlock, range checks from the table, one validated config path.

Exception codes returned to the client (documented in docs/modbus-registers.md):

* 02 ILLEGAL DATA ADDRESS -- a word of the write is unknown, reserved, read-only, or only part of
  a 32-bit register is written;
* 01 ILLEGAL FUNCTION -- writes are locked (no valid PIN within ``modbus.unlock_timeout_s``); the
  Modbus specification allows 01 for "the server is in the wrong state for this request";
* 03 ILLEGAL DATA VALUE -- a wrong PIN (which also locks; so does a wrong current PIN in a PIN
  change), a new PIN outside 0..9999, a value outside the register's range,
  an unknown command code, a change that ``SettingsStore.propose`` refuses (e.g. Vmin >= Vmax, or
  a limit outside the chemistry's envelope), or a zero-current calibration while current flows or
  the cells are not at rest (``PackState.zero_calibration_refusal``), a gain calibration whose
  reading is not steady, whose reference is too small or whose correction is too large
  (``acquisition.calibration.gain_refusal``), or the gain calibration's code written to the command
  register (it needs its reference current: register ``calibrate_current_gain``);
* 04 SERVER DEVICE FAILURE -- the daemon did not answer the change in time (process isolation).

A multi-register write is all-or-nothing: every word is checked first, the config changes of the
whole request go to ``SettingsStore.propose`` in one call, and commands are queued only after
that call accepted the changes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import structlog

from bmsgateway.adapters.modbus.bmsmap import COMMAND_CODES
from bmsgateway.adapters.modbus.stats import RateLimitedLog
from bmsgateway.adapters.modbus.table import Register, RegisterTable, decode_words
from bmsgateway.clock import Clock
from bmsgateway.config.model import Config
from bmsgateway.requests import (
    CalibrateCurrentGain,
    CalibrateCurrentZero,
    Request,
    ResetFaults,
    command_by_name,
    gain_refusal,
)
from bmsgateway.settings import redacted
from bmsgateway.state import PackState

__all__ = [
    "DEVICE_FAILURE", "ILLEGAL_ADDRESS", "ILLEGAL_FUNCTION", "ILLEGAL_VALUE", "RequestSink", "SettingsPort",
    "WriteHandler",
]

ILLEGAL_FUNCTION = 0x01
ILLEGAL_ADDRESS = 0x02
ILLEGAL_VALUE = 0x03
DEVICE_FAILURE = 0x04


class SettingsPort(Protocol):
    """What the adapter needs of ``SettingsStore`` (in process isolation, a proxy to it)."""

    @property
    def config(self) -> Config: ...

    def propose(self, changes: Mapping[str, Any], source: str = "unknown") -> list[str]: ...


class RequestSink(Protocol):
    """What the adapter needs of ``RequestQueue``."""

    def submit(self, request: Request) -> None: ...

log = structlog.get_logger("modbus")

_SOURCE = "modbus"


def _request(kind: str) -> Request:
    spec = command_by_name(kind)
    assert spec is not None  # COMMAND_CODES is built from the same table
    return spec.make(_SOURCE)


def _engineering(reg: Register, raw: int) -> float | int:
    """raw -> value in the register's unit, rounded to the register's resolution."""
    if reg.scale == 1.0:
        return raw
    digits = max(0, -math.floor(math.log10(reg.scale) + 1e-9))
    return round(raw * reg.scale, digits)


class WriteHandler:
    """Decides the outcome of one write request (function 06 or 16) against the table."""

    def __init__(
        self,
        table: RegisterTable,
        settings: SettingsPort,
        requests: RequestSink,
        pin: int,
        unlock_timeout_s: float,
        clock: Clock,
        limited_log: RateLimitedLog | None = None,
        set_op_now: Callable[[], int | None] = lambda: None,
        latest: Callable[[], PackState | None] = lambda: None,
    ) -> None:
        self._latest = latest  #: the newest snapshot (the zero calibration's preconditions)
        self._table = table
        # refusals are logged rate-limited: a client hammering locked registers costs one line
        self._refused = limited_log or RateLimitedLog(60.0)
        self._settings = settings
        self._requests = requests
        del pin  # the PIN is read from the settings on every write: a PIN change applies at once
        self._timeout_s = unlock_timeout_s
        self._clock = clock
        self._unlocked_until_s = -math.inf
        self._set_op_now = set_op_now
        #: SunSpec 802 SetInvState: what the inverter last told us (2 INVERTER_STANDBY until then)
        self.inverter_state = 2

    def unlock_remaining_s(self) -> float:
        return max(0.0, self._unlocked_until_s - self._clock.now())

    def write(self, address: int, words: Sequence[int]) -> int | None:
        """Apply a write; returns a Modbus exception code, or None when accepted."""
        parsed = self._parse(address, words)
        if isinstance(parsed, int):
            self._refused("modbus_write_refused", address=address, count=len(words), code=parsed,
                          reason="address not writable")
            return parsed
        pin = self._settings.config.modbus.pin
        pins = [(reg, raw) for reg, raw in parsed if reg.command == "pin"]
        changes = [raw for reg, raw in parsed if reg.command == "change_pin"]
        rest = [(reg, raw) for reg, raw in parsed if reg.command not in ("pin", "change_pin")]
        if changes and rest:
            self._refused("modbus_write_refused", address=address, reason="a PIN change is written alone")
            return ILLEGAL_VALUE
        if changes:
            return self._change_pin(pin, changes[0] >> 16, changes[0] & 0xFFFF)
        for _reg, raw in pins:
            if raw != pin:
                self._unlocked_until_s = -math.inf
                self._refused("modbus_wrong_pin", address=address)
                return ILLEGAL_VALUE
            self._unlocked_until_s = self._clock.now() + self._timeout_s
            log.info("modbus_unlocked", timeout_s=self._timeout_s)
        if not rest:
            return None
        if self.unlock_remaining_s() <= 0.0:
            self._refused("modbus_write_locked", address=address, count=len(words),
                          registers=[r.name for r, _ in rest])
            return ILLEGAL_FUNCTION
        return self._apply(rest)

    def _change_pin(self, current: int, old: int, new: int) -> int | None:
        """The guarded PIN change: the current PIN proves the right; neither value is ever logged."""
        if old != current:
            self._unlocked_until_s = -math.inf
            self._refused("modbus_wrong_pin", reason="PIN change with a wrong current PIN")
            return ILLEGAL_VALUE
        if not 0 <= new <= 9999:
            self._refused("modbus_write_out_of_range", register="change_pin", minimum=0, maximum=9999)
            return ILLEGAL_VALUE
        try:
            problems = self._settings.propose({"modbus.pin": new}, source=_SOURCE)
        except TimeoutError:
            log.error("modbus_write_no_answer", changes=["modbus.pin"])
            return DEVICE_FAILURE
        if problems:
            self._refused("modbus_write_rejected", changes=["modbus.pin"], problems=len(problems))
            return ILLEGAL_VALUE
        self._unlocked_until_s = -math.inf  # whoever unlocked with the old PIN is locked out
        log.info("modbus_pin_changed")
        return None

    def _gain_refusal(self, reference_a: float) -> str:
        """The pack cycle's rule for the gain calibration, applied to the newest snapshot."""
        state = self._latest()
        if state is None:
            return "no measurement yet"
        cs = self._settings.config.hardware.current_sensor
        return gain_refusal(state.gain_steady_a, state.gain_not_steady, reference_a, state.current_range_in_use_a,
                            cs.gain_min_fraction, cs.gain_max_correction_pct)

    def _parse(self, address: int, words: Sequence[int]) -> list[tuple[Register, int]] | int:
        out: list[tuple[Register, int]] = []
        pos = address
        end = address + len(words)
        while pos < end:
            reg = self._table.at(pos)
            if reg is None or reg.access != "rw" or reg.address != pos or reg.end > end:
                return ILLEGAL_ADDRESS
            chunk = words[pos - address : reg.end - address]
            out.append((reg, decode_words(reg.dtype, chunk)))
            pos = reg.end
        return out

    def _apply(self, items: list[tuple[Register, int]]) -> int | None:
        changes: dict[str, Any] = {}
        commands: list[Request] = []
        inverter_state: int | None = None
        for reg, raw in items:
            value = _engineering(reg, raw)
            lo = -math.inf if reg.minimum is None else reg.minimum
            hi = math.inf if reg.maximum is None else reg.maximum
            if not lo - 1e-9 <= value <= hi + 1e-9:
                self._refused("modbus_write_out_of_range", register=reg.name, value=value, minimum=lo, maximum=hi)
                return ILLEGAL_VALUE
            if reg.command == "command":
                if raw not in COMMAND_CODES:
                    return ILLEGAL_VALUE
                spec = command_by_name(COMMAND_CODES[raw])
                if spec is not None and spec.argument:
                    self._refused("modbus_write_refused", register=reg.name, value=raw,
                                  reason=f"{spec.command.value} needs its {spec.argument}: write its own register")
                    return ILLEGAL_VALUE
                request = _request(COMMAND_CODES[raw])
                if isinstance(request, CalibrateCurrentZero):
                    state = self._latest()
                    reason = "no measurement yet" if state is None else state.zero_calibration_refusal
                    if reason:
                        log.warning("modbus_calibration_refused", reason=reason)
                        return ILLEGAL_VALUE
                commands.append(request)
            elif reg.command == "calibrate_gain":
                reason = self._gain_refusal(float(value))
                if reason:
                    log.warning("modbus_calibration_refused", register=reg.name, reason=reason)
                    return ILLEGAL_VALUE
                commands.append(CalibrateCurrentGain(reference_a=float(value), source=_SOURCE))
            elif reg.command == "alarm_reset":
                if raw == 1:  # 0 is a harmless no-op (SunSpec clients write it back)
                    commands.append(ResetFaults(source=_SOURCE))
            elif reg.command == "set_op":
                if raw != self._set_op_now():
                    self._refused("modbus_write_refused", register=reg.name, value=raw,
                                  reason="contactors are switched by the protection stage only")
                    return ILLEGAL_VALUE
            elif reg.command == "set_inv_state":
                inverter_state = raw
            elif reg.config_key is not None:
                changes[reg.config_key] = reg.choices[raw] if reg.choices else value
        if changes:
            try:
                problems = self._settings.propose(changes, source=_SOURCE)
            except TimeoutError:
                log.error("modbus_write_no_answer", changes=redacted(changes))
                return DEVICE_FAILURE
            if problems:
                self._refused("modbus_write_rejected", changes=redacted(changes), problems=problems)
                return ILLEGAL_VALUE
        if inverter_state is not None:
            self.inverter_state = inverter_state
        for request in commands:
            self._requests.submit(request)
            log.info("modbus_command", request=type(request).__name__)
        return None
