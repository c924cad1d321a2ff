"""Discrete inputs (``[[hardware.inputs]]``) and the alarm output pattern (``[protection.alarm]``).

Why a function per input instead of fixed pins: the products bmsgateway replaces each wire a few
contacts differently (BMS Mini: four inputs and an on/off button; ENNOID: charger detection;
Servovision: a buzzer), so an installer names the line and says what it means. Each function has
one consumer in the protection stage (``bmsgateway.protection.inputs``):

* ``remote_off``: while active every contactor and relay is open (a fault-table row, auto clears);
* ``emergency_stop``: a latched fault: opens everything, stays until released *and* reset;
* ``charger_present``: charger detection, published (Modbus, JSON, metrics, MQTT);
* ``generic``: only published.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from bmsgateway.config.base import Section

__all__ = ["INPUT_FUNCTIONS", "AlarmConfig", "InputConfig", "InputFunction"]

InputFunction = Literal["remote_off", "charger_present", "emergency_stop", "generic"]
INPUT_FUNCTIONS: tuple[str, ...] = ("remote_off", "charger_present", "emergency_stop", "generic")


class InputConfig(Section):
    """One discrete input on a GPIO line: its function, polarity and debounce time.

    The line is sampled once per pack cycle; a new level counts only once every sample for
    ``debounce_s`` (clock time) showed it, so a glitch shorter than that changes nothing (the
    resolution is the cycle period: set it to a few periods).
    """

    line: int = Field(ge=0, le=511, description="gpiod line offset on hardware.gpio.chip")
    function: InputFunction = Field("generic", description="remote_off, charger_present, emergency_stop or generic")
    name: str = Field("", max_length=32, description="label shown with the input (default: its function)")
    active_low: bool = Field(
        False, description="true: the input is active while the line is low (contact to ground)"
    )
    debounce_s: float = Field(0.3, ge=0.0, le=60.0, description="a level must hold this long to count")


def _check_pattern(key: str, pattern: tuple[float, ...]) -> None:
    if len(pattern) % 2:
        raise ValueError(f"{key} = {list(pattern)}: needs on/off pairs (an even count), or [] for steady")
    bad = [p for p in pattern if not 0.05 <= p <= 3600.0]
    if bad:
        raise ValueError(f"{key} = {list(pattern)}: each duration must be within 0.05..3600 s (got {bad[0]})")


class AlarmConfig(Section):
    """The alarm output (``hardware.gpio.alarm``; a buzzer, a lamp or a dialler contact).

    It follows the active faults (``remote_off``, an operator's own action, does not sound it):
    steady on, or a pattern of on/off seconds repeated from the moment the alarm started. The
    pattern is stepped once per pack cycle, so durations are rounded up to whole cycle periods.
    """

    fault_pattern_s: tuple[float, ...] = Field(
        (), description="on, off, on, off ... seconds while a fault is active; [] = steady on"
    )
    on_warnings: bool = Field(False, description="also sound while only warnings are active")
    warning_pattern_s: tuple[float, ...] = Field(
        (0.5, 4.5), description="on/off seconds while only warnings are active"
    )

    @model_validator(mode="after")
    def _patterns(self) -> Self:
        _check_pattern("protection.alarm.fault_pattern_s", self.fault_pattern_s)
        _check_pattern("protection.alarm.warning_pattern_s", self.warning_pattern_s)
        return self
