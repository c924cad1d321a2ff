"""Requests from adapters back to the pack cycle: the one way in.

Why a queue: adapters never reach into the loop. They submit a request; the cycle drains the
queue at the start of its next iteration and applies each request between two measurements, so a
command never lands half-way through a protection decision. Config changes are validated before
they are queued (see ``bmsgateway.settings``), so what reaches the loop is always a valid Config.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from bmsgateway.config.model import Config

__all__ = [
    "COMMANDS",
    "ApplyConfig",
    "CalibrateCurrentGain",
    "CalibrateCurrentZero",
    "Command",
    "CommandSpec",
    "Request",
    "RequestQueue",
    "ResetCounters",
    "ResetFaults",
    "SilenceAlarm",
    "command_by_code",
    "command_by_name",
    "gain_refusal",
]


@dataclass(frozen=True, slots=True)
class ResetFaults:
    """Clear latched faults whose condition is no longer present."""

    source: str = "unknown"


@dataclass(frozen=True, slots=True)
class ResetCounters:
    """Reset the resettable counters (charge/energy in/out, today's energy)."""

    source: str = "unknown"


@dataclass(frozen=True, slots=True)
class CalibrateCurrentZero:
    """Take the present current reading as the zero offset (no current must flow)."""

    source: str = "unknown"


@dataclass(frozen=True, slots=True)
class CalibrateCurrentGain:
    """Scale the current sensor so that it reads ``reference_a`` now (a known current flows through it;
    positive = charging). Refused unless the reading is steady, the reference large enough and the
    correction small (``bmsgateway.acquisition.calibration.GainCalibrationGuard``)."""

    reference_a: float = math.nan
    source: str = "unknown"


@dataclass(frozen=True, slots=True)
class SilenceAlarm:
    """Switch the alarm output off until another fault is raised (the faults themselves stay)."""

    source: str = "unknown"


@dataclass(frozen=True, slots=True)
class ApplyConfig:
    """Switch to a new, already validated Config."""

    config: Config
    source: str = "unknown"
    keys: tuple[str, ...] = ()  #: the dotted settings that changed (for the event that records the write)


def gain_refusal(
    steady_a: float, not_steady: str, reference_a: float, range_in_use_a: float, min_fraction: float,
    max_correction_pct: float,
) -> str:
    """Why a gain calibration against ``reference_a`` must not be taken; "" when it may."""
    if not math.isfinite(reference_a):
        return "no reference current given"
    if not_steady:
        return not_steady
    least = min_fraction * range_in_use_a
    if abs(reference_a) < least:
        return (f"the reference {reference_a:+.2f} A is too small: at least {least:.3g} A "
                f"({min_fraction * 100:g} % of the {range_in_use_a:.4g} A range in use, "
                "hardware.current_sensor.gain_min_fraction)")
    if abs(steady_a) < least or (steady_a > 0) != (reference_a > 0):
        return (f"the sensor reads {steady_a:+.2f} A against a reference of {reference_a:+.2f} A: "
                "wrong direction or no current through the sensor (check hardware.current_sensor.inverted)")
    correction = reference_a / steady_a
    if abs(correction - 1.0) * 100.0 > max_correction_pct:
        return (f"the sensor reads {steady_a:+.2f} A against a reference of {reference_a:+.2f} A: a gain "
                f"correction of {(correction - 1.0) * 100:+.1f} %, more than ±{max_correction_pct:g} % "
                "(hardware.current_sensor.gain_max_correction_pct): a wrong reference or a wrong sensitivity_v_per_a")
    return ""


Request = ResetFaults | ResetCounters | CalibrateCurrentZero | CalibrateCurrentGain | ApplyConfig | SilenceAlarm


class Command(StrEnum):
    """The operator commands, named once: MQTT/HTTP use the value, the CLI the value with dashes."""

    RESET_FAULTS = "reset_faults"
    RESET_COUNTERS = "reset_counters"
    CALIBRATE_CURRENT_ZERO = "calibrate_current_zero"
    CALIBRATE_CURRENT_GAIN = "calibrate_current_gain"
    SILENCE_ALARM = "silence_alarm"

    @property
    def cli_name(self) -> str:
        return COMMANDS[self].cli_name


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One row of the command table every protocol reads."""

    command: Command
    code: int  #: Modbus command register value, CANopen command object value
    cli_name: str  #: ``bmsgateway command NAME``
    make: Callable[[str], Request]  #: builds the request, given its source (protocol and peer)
    needs_pin: bool  #: every command changes the pack's state: all need the PIN today
    description: str
    #: the command's one argument ("" = none): its name with unit, e.g. ``reference_a``. Then
    #: ``make_with(source, value)`` builds the request; ``make(source)`` builds one without the
    #: value, which the pack cycle refuses (a protocol that cannot carry it)
    argument: str = ""
    make_with: Callable[[str, float], Request] | None = None


#: The one command table (Modbus register 1002 codes, CLI names, MQTT/HTTP command names).
COMMANDS: dict[Command, CommandSpec] = {
    spec.command: spec
    for spec in (
        CommandSpec(Command.RESET_FAULTS, 1, "reset-faults", lambda src: ResetFaults(source=src), True,
                    "clear latched faults whose condition is gone"),
        CommandSpec(Command.RESET_COUNTERS, 2, "reset-counters", lambda src: ResetCounters(source=src), True,
                    "reset charge/energy in/out and today's energy counters"),
        CommandSpec(Command.CALIBRATE_CURRENT_ZERO, 3, "calibrate-current",
                    lambda src: CalibrateCurrentZero(source=src), True,
                    "take the present current reading as zero (no current may flow)"),
        CommandSpec(Command.CALIBRATE_CURRENT_GAIN, 4, "calibrate-current-gain",
                    lambda src: CalibrateCurrentGain(source=src), True,
                    "scale the current sensor so that it reads the known reference current (A, positive = "
                    "charging) flowing through it now", argument="reference_a",
                    make_with=lambda src, value: CalibrateCurrentGain(reference_a=value, source=src)),
        # code 6: 5 is kept free for a second current-sensor calibration command
        CommandSpec(Command.SILENCE_ALARM, 6, "silence-alarm", lambda src: SilenceAlarm(source=src), True,
                    "switch the alarm output off until another fault is raised (the faults stay)"),
    )
}


def command_by_code(code: int) -> CommandSpec | None:
    return next((c for c in COMMANDS.values() if c.code == code), None)


def command_by_name(name: str) -> CommandSpec | None:
    """By enum value (``reset_faults``) or CLI name (``reset-faults``)."""
    return next((c for c in COMMANDS.values() if name in (c.command.value, c.cli_name)), None)


class RequestQueue:
    """Bounded, thread-safe FIFO of requests (adapters may run in other threads)."""

    def __init__(self, maxlen: int = 256) -> None:
        self._items: deque[Request] = deque(maxlen=maxlen)
        self._lock = threading.Lock()

    def submit(self, request: Request) -> None:
        with self._lock:
            self._items.append(request)

    def drain(self) -> list[Request]:
        with self._lock:
            items = list(self._items)
            self._items.clear()
        return items
