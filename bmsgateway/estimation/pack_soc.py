"""Pack-level figures from the per-cell estimates.

Pack SOC (documented definition): the SOC of the *weakest* cell, the one that will be empty
first (least dischargeable charge, min_i SOC_i * C_i), because that is how much the pack can still
deliver: 0 % when the first cell is empty, which is when discharging must stop. Near the top it
rises to 100 % as the fullest cell approaches full (over the last ``FULL_BLEND`` of that cell's
SOC), so that 100 % still means "charging must stop", as the 123\\SmartBMS shows it:

    SOC_pack = SOC_w + (1 - SOC_w) * r,    r = clip(1 - (1 - max_i SOC_i) / FULL_BLEND, 0, 1)

Why not the share of dischargeable over dischargeable + chargeable (the earlier definition): on
an unbalanced pack it is far from every cell (two cells at 35 % and 42 % gave 38 %, on the way up
a pack reading 60 % had its weakest cell at 54 %), so it described no cell a user could check.

Its 1-sigma is the weakest cell's (and, inside the blend, the fullest cell's through r).

``usable_capacity_ah`` is what the pack can move between "first cell empty" and "first cell
full": min_i(SOC_i C_i) + min_i((1 - SOC_i) C_i). SOH is the smallest cell capacity against the
rated capacity (a balanced pack can use exactly its weakest cell's capacity); it is NaN while the
smallest capacity is not learnt yet (or a cell not learnt yet could still be smaller): the rated
figure is not a measurement of health.

Cells left out (``include`` False: readings under a sense fault) do not take part; when every
cell is left out, all are used (a number from counting beats none).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["FULL_BLEND", "PackFigures", "pack_figures"]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

#: SOC band (fraction) below full in which the pack SOC rises to 100 % with the fullest cell.
FULL_BLEND = 0.03


@dataclass(frozen=True, slots=True)
class PackFigures:
    soc_pct: float
    usable_capacity_ah: float
    soh_pct: float
    soc_sigma_pct: float = math.nan


def pack_figures(
    soc: FloatArray,
    capacity_ah: FloatArray,
    rated_ah: float,
    soc_std: FloatArray | None = None,
    learnt: BoolArray | None = None,
    include: BoolArray | None = None,
    capacity_std_ah: FloatArray | None = None,
) -> PackFigures:
    """Pack SOC (%), usable capacity (Ah), SOH (%) and SOC 1-sigma from cell fractions."""
    if len(soc) == 0:
        return PackFigures(math.nan, math.nan, math.nan)
    if include is not None and include.any() and not include.all():
        soc, capacity_ah = soc[include], capacity_ah[include]
        soc_std = soc_std[include] if soc_std is not None else None
        learnt = learnt[include] if learnt is not None else None
        capacity_std_ah = capacity_std_ah[include] if capacity_std_ah is not None else None
    # ndarray methods rather than np.argmin & co.: same result, a fraction of the call overhead
    # (this runs every cycle).
    charge = soc * capacity_ah
    w = int(charge.argmin())
    top = int(soc.argmax())
    dischargeable = float(charge[w])
    chargeable = float(((1.0 - soc) * capacity_ah).min())
    s_w = float(soc[w])
    r = min(1.0, max(0.0, 1.0 - (1.0 - float(soc[top])) / FULL_BLEND))
    pack = s_w + (1.0 - s_w) * r
    sigma = math.nan
    if soc_std is not None:
        sigma = (1.0 - r) * float(soc_std[w])
        if 0.0 < r < 1.0:
            sigma = math.hypot(sigma, (1.0 - s_w) * float(soc_std[top]) / FULL_BLEND)
        sigma *= 100.0
    smallest = int(capacity_ah.argmin())
    soh = 100.0 * float(capacity_ah[smallest]) / rated_ah
    if learnt is not None and not learnt.all():
        # Known only if the smallest capacity is learnt and no cell still unlearnt could be
        # smaller (its capacity less 2 sigma stays above it).
        std = capacity_std_ah if capacity_std_ah is not None else np.full(len(capacity_ah), np.inf)
        others = ~learnt
        if not learnt[smallest] or bool(np.any(capacity_ah[others] - 2.0 * std[others] < capacity_ah[smallest])):
            soh = math.nan
    return PackFigures(100.0 * pack, dischargeable + chargeable, soh, sigma)
