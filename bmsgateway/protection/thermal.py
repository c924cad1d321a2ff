"""Heater and cooler outputs with hysteresis from the cell temperatures (BMS Mini).

Heater: on when the coldest fresh sensor is <= heater_on_c, off when it is >= heater_off_c.
Cooler: on when the hottest fresh sensor is >= cooler_on_c, off when it is <= cooler_off_c.
Without a fresh temperature the outputs hold; when the temperature is known to be unreliable
(thermistor fault or lost communication) the heater is forced off, because heating blind is the
dangerous direction.
"""

from __future__ import annotations

from bmsgateway.config.protection import ThermalConfig

__all__ = ["ThermalControl"]


class ThermalControl:
    """Two hysteresis switches."""

    def __init__(self, cfg: ThermalConfig) -> None:
        self.cfg = cfg
        self.heater = False
        self.cooler = False

    def update(self, min_t_c: float, max_t_c: float, unreliable: bool) -> tuple[bool, bool]:
        c = self.cfg
        if min_t_c == min_t_c:
            if min_t_c <= c.heater_on_c:
                self.heater = True
            elif min_t_c >= c.heater_off_c:
                self.heater = False
        if max_t_c == max_t_c:
            if max_t_c >= c.cooler_on_c:
                self.cooler = True
            elif max_t_c <= c.cooler_off_c:
                self.cooler = False
        if unreliable:
            self.heater = False
        return self.heater, self.cooler
