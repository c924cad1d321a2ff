"""Measurement errors of the simulated sensors: gaussian noise and the Hall current sensor.

Why a noise pool: the chip emulator asks for readings several times per 100 ms cycle; drawing a
few normals from numpy per call costs more than the rest of the call, so normals are drawn in
large blocks and handed out in slices (a fresh block once one is used up, so nothing repeats).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from bmsgateway.config.hardware import ConsumerCurrentSensorConfig, CurrentSensorConfig

__all__ = ["HallSensor", "NoisePool"]

FloatArray = NDArray[np.float64]


class NoisePool:
    """Standard-normal samples handed out in slices from pre-drawn blocks."""

    def __init__(self, rng: np.random.Generator, block: int = 65536) -> None:
        self._rng = rng
        self._block = block
        self._pool: FloatArray = rng.standard_normal(block)
        self._pos = 0
        self._scalars: list[float] = rng.standard_normal(block).tolist()
        self._scalar_pos = 0

    def take(self, count: int) -> FloatArray:
        """``count`` samples as an array (a view; do not modify)."""
        if self._pos + count > self._pool.shape[0]:
            self._pool = self._rng.standard_normal(max(self._block, count))
            self._pos = 0
        out = self._pool[self._pos : self._pos + count]
        self._pos += count
        return out

    def one(self) -> float:
        """One sample as a Python float (cheaper than ``take(1)``)."""
        pos = self._scalar_pos
        if pos >= len(self._scalars):
            self._scalars = self._rng.standard_normal(self._block).tolist()
            pos = 0
        self._scalar_pos = pos + 1
        return self._scalars[pos]


class HallSensor:
    """A current -> the GPIO voltage(s) of a Hall sensor, with offset, gain error and noise.

    v = zero_v + I_measured * sensitivity (sign flipped if inverted), clamped to the 0..5 V GPIO
    input range; a dual-range sensor (``low_range_gpio``) has a second output with the low range's
    zero and sensitivity, fed by the same measured current (it saturates at the rails outside its
    range). ``stuck_v`` / ``low_stuck_v`` freeze an output (fault injection).
    """

    GPIO_MAX_V = 5.0

    def __init__(
        self, cfg: CurrentSensorConfig | ConsumerCurrentSensorConfig, offset_a: float, gain_error_pct: float,
        noise_a: float, noise: NoisePool,
    ) -> None:
        sign = -1.0 if cfg.inverted else 1.0
        self._zero_v = cfg.zero_v
        self._v_per_a = sign * cfg.sensitivity_v_per_a
        self._low_zero_v = cfg.low_range_zero_v
        self._low_v_per_a = sign * cfg.low_range_sensitivity_v_per_a
        self.board = cfg.board
        self.index = cfg.gpio - 1
        self.low_index = cfg.low_range_gpio - 1  #: -1 = single range
        self._offset_a = offset_a
        self._gain = 1.0 + gain_error_pct / 100.0
        self._noise_a = noise_a
        self._noise = noise
        self.stuck_v: float | None = None
        self.low_stuck_v: float | None = None
        self._low_v = self._low_zero_v

    def reading_voltage_v(self, reading_a: float) -> float:
        """The output voltage at which the host reads ``reading_a`` (no offset, gain error or noise)."""
        return min(max(self._zero_v + reading_a * self._v_per_a, 0.0), self.GPIO_MAX_V)

    def voltage_v(self, current_a: float) -> float:
        """The high-range output; the low-range output of the same instant is then ``low_voltage_v``."""
        measured_a = current_a * self._gain + self._offset_a
        if self._noise_a > 0:
            measured_a += self._noise_a * self._noise.one()
        self._low_v = min(max(self._low_zero_v + measured_a * self._low_v_per_a, 0.0), self.GPIO_MAX_V)
        if self.stuck_v is not None:
            return self.stuck_v
        v = self._zero_v + measured_a * self._v_per_a
        return min(max(v, 0.0), self.GPIO_MAX_V)

    def low_voltage_v(self) -> float:
        """The low-range output at the instant of the last ``voltage_v`` call."""
        return self._low_v if self.low_stuck_v is None else self.low_stuck_v

    def drive(self, values: list[float], current_a: float) -> None:
        """Put this sensor's output(s) into one board's GPIO voltages."""
        if self.index < len(values):
            values[self.index] = self.voltage_v(current_a)
        if 0 <= self.low_index < len(values):
            values[self.low_index] = self.low_voltage_v()
