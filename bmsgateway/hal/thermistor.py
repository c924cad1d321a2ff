"""NTC thermistor on an LTC681x GPIO: Beta equation, both directions.

Wiring: VREF2 -- R_pullup -- GPIOx -- NTC -- V-. The driver turns a GPIO voltage into °C;
the simulator turns a cell temperature into the GPIO voltage the chip would see.
"""

from __future__ import annotations

import math

__all__ = ["ZERO_C_IN_K", "temperature_to_voltage_v", "voltage_to_temperature_c"]

ZERO_C_IN_K = 273.15
_T25_K = 25.0 + ZERO_C_IN_K


def voltage_to_temperature_c(
    v_gpio: float, vref_v: float, pullup_ohm: float, r25_ohm: float, beta_k: float
) -> float:
    """Temperature from the divider voltage; NaN for an open (>= 0.995 Vref) or shorted (<= 5 mV) NTC."""
    if v_gpio != v_gpio or v_gpio >= 0.995 * vref_v or v_gpio <= 0.005:
        return math.nan
    r_ntc = pullup_ohm * v_gpio / (vref_v - v_gpio)
    inv_t = 1.0 / _T25_K + math.log(r_ntc / r25_ohm) / beta_k
    return 1.0 / inv_t - ZERO_C_IN_K


def temperature_to_voltage_v(
    temperature_c: float, vref_v: float, pullup_ohm: float, r25_ohm: float, beta_k: float
) -> float:
    """Divider voltage for a temperature (inverse of ``voltage_to_temperature_c``)."""
    t_k = temperature_c + ZERO_C_IN_K
    r_ntc = r25_ohm * math.exp(beta_k * (1.0 / t_k - 1.0 / _T25_K))
    return vref_v * r_ntc / (r_ntc + pullup_ohm)
