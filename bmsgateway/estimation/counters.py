"""Charge, energy, balancing and cycle counters (the 123\\SmartBMS dashboard figures).

Resettable (the user's "reset counters"): charge in/out, energy in/out, balancing energy.
Today's harvested / consumed energy restarts by itself at the local day boundary and is also
cleared by a reset. Lifetime totals (and the equivalent full cycles derived from them) are never
reset: they describe the battery's wear, not a billing period.

With two current sensors (123\\SmartBMS: one in the chargers' line, one in the consumers'), the
energy from the chargers / solar and the energy to the consumers are counted apart, today and in
total (``add_sides``); both restart with the same day boundary and are cleared by a reset.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = ["Counters"]


@dataclass
class Counters:
    """All counters; current positive = charging (in), negative = discharging (out)."""

    charge_in_ah: float = 0.0
    charge_out_ah: float = 0.0
    energy_in_wh: float = 0.0
    energy_out_wh: float = 0.0
    balancing_energy_wh: float = 0.0
    today_in_wh: float = 0.0
    today_out_wh: float = 0.0
    day: str = ""  #: local date (YYYY-MM-DD) or day number that today's figures belong to
    lifetime_in_ah: float = 0.0
    lifetime_out_ah: float = 0.0
    lifetime_in_wh: float = 0.0
    lifetime_out_wh: float = 0.0
    charger_today_wh: float = 0.0
    charger_total_wh: float = 0.0
    consumer_today_wh: float = 0.0
    consumer_total_wh: float = 0.0

    def add(self, current_a: float, pack_voltage_v: float, dt_s: float, balancing_w: float, day: str) -> None:
        """Integrate one step; ``day`` identifies the calendar day the step belongs to."""
        if day != self.day:
            if self.day:
                self.today_in_wh = 0.0
                self.today_out_wh = 0.0
                self.charger_today_wh = self.consumer_today_wh = 0.0
            self.day = day
        h = dt_s / 3600.0
        ah = current_a * h
        wh = ah * pack_voltage_v if math.isfinite(pack_voltage_v) else 0.0
        if ah > 0:
            self.charge_in_ah += ah
            self.lifetime_in_ah += ah
            self.energy_in_wh += wh
            self.lifetime_in_wh += wh
            self.today_in_wh += wh
        elif ah < 0:
            self.charge_out_ah -= ah
            self.lifetime_out_ah -= ah
            self.energy_out_wh -= wh
            self.lifetime_out_wh -= wh
            self.today_out_wh -= wh
        self.balancing_energy_wh += balancing_w * h

    def reset(self) -> None:
        """Clear the resettable counters (lifetime totals stay)."""
        self.charge_in_ah = self.charge_out_ah = 0.0
        self.energy_in_wh = self.energy_out_wh = 0.0
        self.balancing_energy_wh = 0.0
        self.today_in_wh = self.today_out_wh = 0.0
        self.charger_today_wh = self.charger_total_wh = 0.0
        self.consumer_today_wh = self.consumer_total_wh = 0.0

    def add_sides(self, charger_a: float, consumer_a: float, pack_voltage_v: float, dt_s: float) -> None:
        """Integrate the chargers' and consumers' energy of one step (call after ``add``, which keeps
        the day). Only energy in the sensor's direction counts; an unknown (NaN) current or pack
        voltage adds nothing."""
        if not math.isfinite(pack_voltage_v):
            return
        h = dt_s / 3600.0 * pack_voltage_v
        if charger_a > 0:  # False for NaN
            wh = charger_a * h
            self.charger_today_wh += wh
            self.charger_total_wh += wh
        if consumer_a > 0:
            wh = consumer_a * h
            self.consumer_today_wh += wh
            self.consumer_total_wh += wh

    def equivalent_cycles(self, capacity_ah: float) -> float:
        """Lifetime discharged charge in units of the (rated) capacity."""
        return self.lifetime_out_ah / capacity_ah if capacity_ah > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Counters:
        """Known keys only; a missing or malformed value falls back to its default."""
        out = cls()
        for f in fields(cls):
            value = data.get(f.name)
            if f.name == "day":
                if isinstance(value, str):
                    out.day = value
            elif isinstance(value, int | float) and math.isfinite(value):
                setattr(out, f.name, float(value))
        return out
