"""Which cells' readings the estimator must not trust: those under a sense-level fault.

Why: a cell whose reading is wrong (an open sense wire, a drifting or broken input that reads
above Vmax while the pack discharges, a reading the plausibility checks reject) would otherwise
drive the filter to 100 % or 0 % and, through the pack SOC, the whole pack with it. Such a cell
is only coulomb counted, and it is left out of the full / empty recalibrations and of pack SOC
while the condition is active.

The protection engine already knows which conditions are active and where; the estimator reads
them from the previous cycle's ``ProtectionStatus`` (the same one-way flow as everywhere). Which
conditions count, and what their ``location`` means, is declared here once:

* ``open_sense_wire``: location = pack-wide sense wire w (0 = pack -): cells w-1 and w;
* ``cell_over_voltage`` at fault level: location = cell. A cell far above Vmax while the others
  are not is much more often a sense fault than a real overcharge (the charger stops at the first
  full cell), and either way charging is blocked by the fault itself;
* any condition whose id names a cell reading as implausible or its sense input as faulty
  (``..._implausible``, ``..._sense...``, ``..._stale``) with a cell location.

Not listed on purpose: ``cell_under_voltage`` (it is what the empty recalibration needs) and
``communication_lost`` (those readings are NaN already; the counted SOC stays valid).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from bmsgateway.state import ProtectionStatus, Severity

__all__ = ["untrusted_cells"]

BoolArray = NDArray[np.bool_]

_WIRE_CONDITIONS = frozenset({"open_sense_wire"})
_CELL_FAULT_CONDITIONS = frozenset({"cell_over_voltage"})
_CELL_READING_WORDS = ("implausible", "sense", "stale")
#: Conditions that are about the pack or a board, never a single cell reading.
_NOT_CELL = frozenset({"pack_voltage_implausible", "communication_lost"})


def untrusted_cells(prev: ProtectionStatus | None, cell_count: int) -> BoolArray:
    """Mask of the cells whose readings are under a sense-level fault (see the module docstring)."""
    out = np.zeros(cell_count, dtype=bool)
    if prev is None or not prev.active:
        return out
    for c in prev.active:
        loc = c.location
        if loc < 0 or c.condition in _NOT_CELL:
            continue
        if c.condition in _WIRE_CONDITIONS:
            for cell in (loc - 1, loc):
                if 0 <= cell < cell_count:
                    out[cell] = True
        elif loc < cell_count and (
            (c.condition in _CELL_FAULT_CONDITIONS and c.severity == Severity.FAULT)
            or any(w in c.condition for w in _CELL_READING_WORDS)
        ):
            out[loc] = True
    return out
