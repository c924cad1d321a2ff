"""Pack-level figures from the per-cell estimates.

Pack SOC (documented definition): the SOC of the *weakest* cell, the one with the lowest SOC.
It is 0 % exactly when the first cell is empty, which is when discharging must stop: every cell
above empty has a SOC above 0, and the cell that empties first (the least charge,
min_i SOC_i * C_i) reads 0 %. Near the top it rises to 100 % as the fullest cell approaches full
(over the last ``FULL_BLEND`` of that cell's SOC), so that 100 % still means "charging must stop",
as the 123\\SmartBMS shows it:

    SOC_pack = SOC_w + (1 - SOC_w) * r,    SOC_w = min_i SOC_i,
    r = clip(1 - (1 - max_i SOC_i) / FULL_BLEND, 0, 1)

Why the lowest SOC, not the SOC of the cell with the least charge (the definition before): that
one jumps. On an unbalanced pack two cells can hold nearly the same charge for days at SOCs a
point or two apart; which of them holds less flips with a capacity error of 0.2 %, and the pack
figure jumped with it (by up to 3 points in the simulated benchmark, in the truth as much as in
the estimate). The lowest SOC is continuous, it is never further from the truth than the worst
cell's error (|min a - min b| <= max |a_i - b_i|), and it is never above the SOC of the cell that
will be empty first, so it never promises more than the pack holds.

Why not the share of dischargeable over dischargeable + chargeable (the definition before that):
on an unbalanced pack it is far from every cell (two cells at 35 % and 42 % gave 38 %, on the way
up a pack reading 60 % had its weakest cell at 54 %), so it described no cell a user could check.

Its 1-sigma is the weakest cell's (and, inside the blend, the fullest cell's through r: the
difference r makes when that cell is one sigma lower).

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


def _rise(s_top: float) -> float:
    """How far the pack SOC has risen towards 100 % with its fullest cell's SOC (0..1)."""
    return min(1.0, max(0.0, 1.0 - (1.0 - s_top) / FULL_BLEND))


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
    w = int(soc.argmin())
    top = int(soc.argmax())
    dischargeable = float((soc * capacity_ah).min())
    chargeable = float(((1.0 - soc) * capacity_ah).min())
    s_w = float(soc[w])
    s_top = float(soc[top])
    r = _rise(s_top)
    pack = s_w + (1.0 - s_w) * r
    sigma = math.nan
    if soc_std is not None:
        sigma = (1.0 - r) * float(soc_std[w])
        if r > 0.0:
            # what the pack would read with its fullest cell one sigma lower: a difference, not
            # a derivative, so that a fullest cell set to 100 % (where the blend is clipped and
            # its slope is 0) still passes its own uncertainty on to the pack
            sigma = math.hypot(sigma, (1.0 - s_w) * (r - _rise(s_top - float(soc_std[top]))))
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
