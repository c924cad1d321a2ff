"""``GpiodIO``: contactor/relay outputs and feedback inputs on Raspberry Pi GPIO lines (libgpiod 2.x).

Line numbers come from ``GpioConfig`` (-1 = not wired: the output is ignored, its feedback reads
None). ``active_low`` inverts the outputs (relay boards that switch on a low level); feedback
inputs read True = contact closed = line high. The discrete inputs (``hardware.inputs``) are
read as plain levels, True = high; their polarity and debounce are applied by
``protection.inputs``. ``gpiod`` is imported when the object is created
so the package imports without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bmsgateway.config.discrete import InputConfig
from bmsgateway.config.hardware import GpioConfig
from bmsgateway.hal.interfaces import OUTPUT_NAMES

__all__ = ["GpiodIO"]

_CONSUMER = "bmsgateway"


class GpiodIO:
    """``DigitalIO`` backed by one gpiod line request; every output starts (and fails) open."""

    def __init__(self, config: GpioConfig, inputs: Sequence[InputConfig] = ()) -> None:
        try:
            import gpiod  # optional dependency, only on the Pi
            from gpiod.line import Direction, Value
        except ImportError as exc:
            raise RuntimeError(
                "the 'gpiod' module (libgpiod 2.x bindings) is not installed; install bmsgateway[pi] "
                "on the Raspberry Pi or use hardware.backend = 'simulated'"
            ) from exc
        self._active = Value.ACTIVE
        self._inactive = Value.INACTIVE
        self._outputs: dict[str, int] = {}
        self._inputs: dict[str, int] = {}
        for name in OUTPUT_NAMES:
            line = int(getattr(config, name, -1))
            if line >= 0:
                self._outputs[name] = line
            feedback = int(getattr(config, f"{name}_feedback", -1))
            if feedback >= 0:
                self._inputs[name] = feedback
        settings: dict[int, Any] = {
            line: gpiod.LineSettings(
                direction=Direction.OUTPUT, output_value=Value.INACTIVE, active_low=config.active_low
            )
            for line in self._outputs.values()
        }
        for line in self._inputs.values():
            settings[line] = gpiod.LineSettings(direction=Direction.INPUT)
        self._discrete: tuple[int, ...] = tuple(i.line for i in inputs)
        for line in self._discrete:
            settings[line] = gpiod.LineSettings(direction=Direction.INPUT)
        self._request: Any = gpiod.request_lines(config.chip, consumer=_CONSUMER, config=settings)
        self._state: dict[str, bool] = dict.fromkeys(OUTPUT_NAMES, False)

    def set_output(self, name: str, on: bool) -> None:
        """Drive ``name``; unknown or unwired outputs are ignored."""
        line = self._outputs.get(name)
        if line is None:
            return
        self._request.set_value(line, self._active if on else self._inactive)
        self._state[name] = on

    def get_output(self, name: str) -> bool:
        """Last commanded state (False for unknown/unwired names)."""
        return self._state.get(name, False)

    def read_feedback(self, name: str) -> bool | None:
        """Auxiliary contact of ``name``: True = closed; None when not wired."""
        line = self._inputs.get(name)
        if line is None:
            return None
        return bool(self._request.get_value(line) == self._active)

    def read_inputs(self) -> tuple[bool, ...]:
        """Levels of the discrete inputs in config order (True = high), one gpiod call."""
        if not self._discrete:
            return ()
        values = self._request.get_values(list(self._discrete))
        return tuple(v == self._active for v in values)

    def safe_state(self) -> None:
        """Open every output in one call (daemon stop, loop crash)."""
        if self._outputs:
            self._request.set_values(dict.fromkeys(self._outputs.values(), self._inactive))
        for name in self._state:
            self._state[name] = False

    def close(self) -> None:
        """Open all outputs and release the lines."""
        self.safe_state()
        self._request.release()
