"""Hall current sensors on LTC681x GPIO inputs: one or two sensors, single or dual range.

Why a module of its own: the sampler reads voltages; turning them into *a battery current that is
either right or unknown* has rules of its own, stated here once:

* **Dual range** (the 123\\SmartBMS 20 A / 500 A sensor): the low-range output is used while |I| is
  inside ``low_range_a``. The switch back from the high range happens only below
  ``low_range_a - low_range_hysteresis_a`` so that a current near the boundary does not chatter
  between two slightly different readings. The low range is not used when it is not fresh, when
  it saturates (beyond ``low_range_a``), or when it disagrees with the high range by more than a
  quarter of ``low_range_a`` (a stuck or disconnected low output); the high range is then the
  reading. A high range that is not fresh makes the sensor's reading unknown (NaN), whatever the
  low range says: it is the one that sees every current.
* **Zero offset, gain, dead band**, in this order: ``(raw - offset) x gain``, then |I| below the
  dead band reads 0 A.
* **Two sensors** (``hardware.consumer_current_sensor.mode``): battery = charger - consumer, or
  charger = battery + consumer. The consumer sensor must be believable to be used: a reading that
  is not fresh or lies at or beyond its measuring range (an open input reads 0 V, which is the
  range limit) is no reading, and in ``charge_minus_consumer`` mode the battery current is then
  NaN -- unknown, never wrong; its age grows and ``communication_lost.current`` opens the
  contactors after ``current_sensor.max_age_s``. One exception, in ``charge_minus_consumer``
  mode: the consumer sensor at the end of its range in the direction of consumption (a short on
  the consumer side, or a broken sensor whose output sits at that rail) is taken at the rail: the
  battery then discharges at least that much, the short-circuit fault trips in the same cycle as
  for a saturated battery sensor, and the contactors open at once instead of a second later. An
  open input on a non-inverted sensor reads the other rail (0 V = minus the range), which no
  consumer current explains: no reading.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from bmsgateway.config.hardware import ConsumerCurrentSensorConfig, CurrentSensorConfig

__all__ = ["CurrentReading", "CurrentSensors", "HallChannel"]

NAN = math.nan
#: the two outputs of a dual-range sensor must agree within this fraction of the low range
_AGREE_FRACTION = 0.25
#: a reading within this fraction of the measuring range from its limit counts as at the limit
_RAIL_FRACTION = 0.995


class HallChannel:
    """One Hall sensor (one or two outputs): GPIO voltages -> its raw reading in A (before the
    zero offset and gain), with the dual-range switching state."""

    def __init__(self, cfg: CurrentSensorConfig | ConsumerCurrentSensorConfig) -> None:
        self.board = cfg.board
        self._gpio = cfg.gpio - 1
        self._zero_v = cfg.zero_v
        self._sign = -1.0 if cfg.inverted else 1.0
        self._sens = cfg.sensitivity_v_per_a
        self.range_a = cfg.measuring_range_a()
        self.dead_band_a = cfg.dead_band_used_a()
        self._low = cfg.low_range_gpio - 1  #: -1 = single range
        self._low_zero_v = cfg.low_range_zero_v
        self._low_sens = cfg.low_range_sensitivity_v_per_a
        self.low_range_a = cfg.low_range_a
        self._hyst = cfg.low_range_hysteresis_a
        self.low_active = False  #: the last reading came from the low range

    def range_in_use_a(self) -> float:
        return self.low_range_a if self.low_active else self.range_a

    def raw(self, gpio_v: Sequence[float]) -> float:
        """The raw reading from this cycle's GPIO voltages of the sensor's board (NaN = unknown)."""
        v = gpio_v[self._gpio]
        if v != v:
            self.low_active = False
            return NAN
        high = self._sign * (v - self._zero_v) / self._sens
        if self._low < 0:
            return high
        lv = gpio_v[self._low]
        low = self._sign * (lv - self._low_zero_v) / self._low_sens if lv == lv else NAN
        lim = self.low_range_a
        usable = low == low and abs(low) <= lim and abs(low - high) <= _AGREE_FRACTION * lim
        if usable and (self.low_active or abs(high) < lim - self._hyst):
            self.low_active = True
            return low
        self.low_active = False
        return high

    def at_limit(self, current_a: float) -> bool:
        """A reading at (or beyond) the end of the measuring range: saturated or an open input."""
        return abs(current_a) >= _RAIL_FRACTION * self.range_a


@dataclass(frozen=True, slots=True)
class CurrentReading:
    """One cycle's currents (A; NaN = unknown). ``battery_a`` positive = charging."""

    battery_a: float
    charger_a: float = NAN  #: into the battery side from the chargers / solar (two-sensor setups)
    consumer_a: float = NAN  #: drawn by the consumers (two-sensor setups)
    primary_a: float = NAN  #: the ``current_sensor``'s reading with offset and gain, before the dead band
    primary_raw_a: float = NAN  #: the ``current_sensor``'s raw reading (before offset and gain)
    consumer_raw_a: float = NAN  #: the consumer sensor's raw reading (before its offset)
    #: ``battery_a`` comes from a sensor at the end of its range: a bound (the current is at least
    #: that), not a measurement -- protection trips on it, counting must not integrate it
    at_rail: bool = False


class CurrentSensors:
    """The configured sensor(s) and their calibration: GPIO voltages of one cycle -> currents."""

    def __init__(self, cs: CurrentSensorConfig, ccs: ConsumerCurrentSensorConfig) -> None:
        self.primary = HallChannel(cs)
        self.mode = ccs.mode
        self.consumer = HallChannel(ccs) if ccs.enabled else None
        self._primary_board = cs.board

    def read(
        self,
        aux: Sequence[Sequence[float]],
        trusted: Sequence[bool],
        zero_offset_a: float,
        gain: float,
        consumer_offset_a: float,
    ) -> CurrentReading:
        """``aux``: GPIO voltages per board; ``trusted``: boards whose ADC results count this cycle."""
        p = self.primary
        praw = p.raw(aux[p.board]) if trusted[p.board] else NAN
        if praw != praw:
            p.low_active = False
        pval = (praw - zero_offset_a) * gain
        first = 0.0 if abs(pval) < p.dead_band_a else pval
        primary_rail = praw == praw and p.at_limit(praw)
        c = self.consumer
        if c is None:
            return CurrentReading(battery_a=first, primary_a=pval, primary_raw_a=praw, at_rail=primary_rail)
        craw = c.raw(aux[c.board]) if trusted[c.board] else NAN
        consumer_rail = craw == craw and c.at_limit(craw)
        if consumer_rail:
            c.low_active = False
            if not (self.mode == "charge_minus_consumer" and craw > 0):
                craw = NAN  # an open input, or a rail no consumer current can explain: no reading
            # else: the consumers draw at least the sensor's range (a short on the consumer side):
            # the battery discharges at least that much, and that is what is reported, so the
            # short-circuit fault trips in this cycle, as it does for a saturated battery sensor
        cval = craw - consumer_offset_a
        consumer = 0.0 if abs(cval) < c.dead_band_a else cval
        if self.mode == "charge_minus_consumer":
            battery = first - consumer  # NaN if either is unknown
            charger = first
            rail = primary_rail or (consumer_rail and craw == craw)
        else:  # battery_and_consumer
            battery = first
            charger = first + consumer
            rail = primary_rail
        return CurrentReading(
            battery_a=battery, charger_a=charger, consumer_a=consumer, primary_a=pval, primary_raw_a=praw,
            consumer_raw_a=craw, at_rail=rail,
        )
