"""Measurement errors of the simulated sensors: gaussian noise and the Hall current sensor.

Why a noise pool: the chip emulator asks for readings several times per 100 ms cycle; drawing a
few normals from numpy per call costs more than the rest of the call, so normals are drawn in
large blocks and handed out in slices (a fresh block once one is used up, so nothing repeats).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from bmsgateway.config.hardware import CurrentSensorConfig

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
    """Pack current -> the GPIO voltage of the Hall sensor, with offset, gain error and noise.

    v = zero_v + I_measured * sensitivity (sign flipped if inverted), clamped to the 0..5 V GPIO
    input range; ``stuck_v`` freezes the output (fault injection).
    """

    GPIO_MAX_V = 5.0

    def __init__(
        self, cfg: CurrentSensorConfig, offset_a: float, gain_error_pct: float, noise_a: float, noise: NoisePool
    ) -> None:
        self._zero_v = cfg.zero_v
        self._v_per_a = -cfg.sensitivity_v_per_a if cfg.inverted else cfg.sensitivity_v_per_a
        self._offset_a = offset_a
        self._gain = 1.0 + gain_error_pct / 100.0
        self._noise_a = noise_a
        self._noise = noise
        self.stuck_v: float | None = None

    def reading_voltage_v(self, reading_a: float) -> float:
        """The output voltage at which the host reads ``reading_a`` (no offset, gain error or noise)."""
        return min(max(self._zero_v + reading_a * self._v_per_a, 0.0), self.GPIO_MAX_V)

    def voltage_v(self, current_a: float) -> float:
        if self.stuck_v is not None:
            return self.stuck_v
        measured_a = current_a * self._gain + self._offset_a
        if self._noise_a > 0:
            measured_a += self._noise_a * self._noise.one()
        v = self._zero_v + measured_a * self._v_per_a
        return min(max(v, 0.0), self.GPIO_MAX_V)
