"""When the current sensor calibrations may be taken: zero (no current flowing, cells at rest) and
gain (a known, steady reference current; see ``GainCalibrationGuard``).

Why a guard: the calibration stores the present sensor reading as "0 A". Taken while 80 A flow,
it stores an offset of 80 A and every later reading, the SOC and the over-current protection are
off by that much. So the command is refused unless

* the sensor reading the calibration would store (the raw reading, before the present offset)
  lies within ``hardware.current_sensor.zero_band_a`` -- a real sensor's offset is small; and
* the cells are at rest: that reading stayed within the band and the average cell voltage moved
  by no more than ``zero_rest_dv_v`` for ``zero_rest_s`` -- a current the sensor misses (a stuck
  sensor) still moves the cell voltages, and cells relaxing after a load show it too.

The guard is fed once per cycle (two comparisons); ``refusal()`` says why not, or "" when allowed.
The reason is published in every ``PackState`` so that an adapter can refuse the command at once
(Modbus exception 03) with the same rule the pack cycle applies.
"""

from __future__ import annotations

import math
from collections import deque

from bmsgateway.config.hardware import CurrentSensorConfig
from bmsgateway.requests import gain_refusal

__all__ = ["GainCalibrationGuard", "ZeroCalibrationGuard", "calibrated_gain", "gain_refusal"]


class ZeroCalibrationGuard:
    """Tracks how long the pack has been at rest; see the module docstring."""

    def __init__(self, cfg: CurrentSensorConfig) -> None:
        self.configure(cfg)
        self._rest_since = math.nan  #: clock time since which the pack has been at rest
        self._ref_v = math.nan  #: average cell voltage at that time
        self._t = math.nan
        self._raw_a = math.nan

    def configure(self, cfg: CurrentSensorConfig) -> None:
        self.band_a = cfg.zero_band_a
        self.rest_s = cfg.zero_rest_s
        self.rest_dv_v = cfg.zero_rest_dv_v

    def update(self, t: float, avg_cell_v: float, raw_current_a: float) -> None:
        """One cycle: the average fresh cell voltage (NaN if not all fresh) and the raw reading."""
        self._t, self._raw_a = t, raw_current_a
        if avg_cell_v != avg_cell_v or raw_current_a != raw_current_a or abs(raw_current_a) > self.band_a:
            self._rest_since = math.nan  # no evidence of rest: start over
            return
        if self._rest_since != self._rest_since or abs(avg_cell_v - self._ref_v) > self.rest_dv_v:
            self._rest_since, self._ref_v = t, avg_cell_v

    def refusal(self) -> str:
        """Why the calibration must not be taken now; "" when it may."""
        if self._raw_a != self._raw_a:
            return "no fresh current reading"
        if abs(self._raw_a) > self.band_a:
            return (f"the current sensor reads {self._raw_a:+.2f} A, outside the zero band ±{self.band_a:g} A "
                    "(hardware.current_sensor.zero_band_a): current is flowing; stop chargers and loads first")
        rested = self._t - self._rest_since if self._rest_since == self._rest_since else 0.0
        if rested < self.rest_s - 1e-6:
            return (f"the cells are not at rest: current near zero and cell voltages steady for {rested:.0f} s "
                    f"of the {self.rest_s:g} s needed (hardware.current_sensor.zero_rest_s)")
        return ""


class GainCalibrationGuard:
    """When a gain calibration with a known reference current may be taken, and what it sets.

    Why a guard (Servovision calibrates the gain with a known current besides the zero): the new
    gain is ``gain x reference / reading``. Taken while the current moves, against a reference the
    sensor cannot resolve, or against a wrong reference (wrong sign, a typo), it would scale every
    later reading, the SOC and the over-current protection by a wrong factor. So it is refused
    unless

    * the reading of ``hardware.current_sensor`` (zero offset and present gain applied) was fresh
      and stayed within ``gain_steady_pct`` of its mean for ``gain_steady_s``;
    * the reference is large enough to be resolved: at least ``gain_min_fraction`` of the range in
      use (the low range while a dual-range sensor uses it), and of the same sign as the reading;
    * the correction it implies is within ``gain_max_correction_pct``.

    ``steady()`` (fed once per cycle) gives the steady mean or why there is none; ``refusal`` is a
    pure function of that, the reference and the gain, so an adapter can refuse at once (Modbus
    exception 03) with the same rule the pack cycle applies.
    """

    def __init__(self, cfg: CurrentSensorConfig) -> None:
        self._window: deque[tuple[float, float]] = deque()
        self.configure(cfg)

    def configure(self, cfg: CurrentSensorConfig) -> None:
        self.steady_s = cfg.gain_steady_s
        self.steady_pct = cfg.gain_steady_pct
        self.min_fraction = cfg.gain_min_fraction
        self.max_correction_pct = cfg.gain_max_correction_pct

    def update(self, t: float, reading_a: float) -> None:
        """One cycle: the sensor's reading with offset and gain, before the dead band (NaN = none)."""
        w = self._window
        if reading_a != reading_a:
            w.clear()
            return
        w.append((t, reading_a))
        while len(w) > 1 and w[1][0] <= t - self.steady_s + 1e-9:
            w.popleft()

    def steady(self) -> tuple[float, str]:
        """(mean reading over the steady window, "") or (NaN, why the reading is not steady)."""
        w = self._window
        if not w:
            return math.nan, "no fresh current reading"
        span = w[-1][0] - w[0][0]
        if span < self.steady_s - 1e-6:
            return math.nan, (f"the current reading has been fresh for {span:.1f} s of the {self.steady_s:g} s "
                              "needed (hardware.current_sensor.gain_steady_s)")
        values = [v for _, v in w]
        mean = math.fsum(values) / len(values)
        spread = max(abs(max(values) - mean), abs(mean - min(values)))
        if spread > self.steady_pct / 100.0 * abs(mean):
            return math.nan, (f"the current is not steady: it moved ±{spread:.2f} A around {mean:+.2f} A over "
                              f"{self.steady_s:g} s (allowed ±{self.steady_pct:g} %, "
                              "hardware.current_sensor.gain_steady_pct)")
        return mean, ""

    def refusal(self, reference_a: float, range_in_use_a: float) -> str:
        return gain_refusal(*self.steady(), reference_a, range_in_use_a, self.min_fraction, self.max_correction_pct)


def calibrated_gain(steady_a: float, reference_a: float, gain: float) -> float:
    """The new gain once ``gain_refusal`` allowed it: the reading then equals the reference."""
    return gain * reference_a / steady_a
