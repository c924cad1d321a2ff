"""When the zero-current calibration may be taken: no current flowing, cells at rest.

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

from bmsgateway.config.hardware import CurrentSensorConfig

__all__ = ["ZeroCalibrationGuard"]


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
