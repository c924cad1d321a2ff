"""Pack-level figures from the per-cell estimates.

Pack SOC (documented definition): the charge the pack can still deliver before its *weakest* cell
is empty, as a share of that plus the charge it can still take before its *strongest* cell is full:

    dischargeable_ah = min_i(SOC_i * C_i)          chargeable_ah = min_i((1 - SOC_i) * C_i)
    SOC_pack         = dischargeable / (dischargeable + chargeable) * 100

With equal capacities this is SOC_min / (SOC_min + (100 - SOC_max)) * 100. It is 100 % as soon
as one cell is full (charging must stop) and 0 % as soon as one cell is empty (discharging must
stop), which matches the 123\\SmartBMS recalibration points. ``dischargeable + chargeable`` is the
usable capacity of the pack as it is balanced now; it does not change while charging or
discharging (all cells see the same current), only through balancing or ageing.

SOH is the smallest cell capacity against the rated capacity: a perfectly balanced pack can use
exactly its weakest cell's capacity, so that is the health figure that ageing reduces.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["PackFigures", "pack_figures"]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class PackFigures:
    soc_pct: float
    usable_capacity_ah: float
    soh_pct: float


def pack_figures(soc: FloatArray, capacity_ah: FloatArray, rated_ah: float) -> PackFigures:
    """Pack SOC (%), usable capacity (Ah) and SOH (%) from cell SOC fractions and capacities."""
    if len(soc) == 0:
        return PackFigures(float("nan"), float("nan"), float("nan"))
    dischargeable = float(np.min(soc * capacity_ah))
    chargeable = float(np.min((1.0 - soc) * capacity_ah))
    usable = dischargeable + chargeable
    soc_pct = 100.0 * dischargeable / usable if usable > 0 else 100.0 * float(np.mean(soc))
    return PackFigures(soc_pct, usable, 100.0 * float(np.min(capacity_ah)) / rated_ah)
