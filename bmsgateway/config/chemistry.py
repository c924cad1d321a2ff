"""Cell chemistry presets: voltage limits and an open-circuit-voltage (OCV) vs SOC table each.

Why here: thresholds live in config, validated at start. A preset gives sane values for a
chemistry; every value can be overridden in the ``[pack.chemistry]`` section, including a
user-supplied OCV table. Vmin / Vbalance / Vmax for LFP, LTO, NMC and Li-ion are the values the
123\\SmartBMS manual recommends; LCO, LMO and NCA (the other chemistries the BMS Mini lists) use
common manufacturer values.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["ENVELOPES", "PRESETS", "Chemistry", "ChemistryPreset", "Envelope"]


class Chemistry(StrEnum):
    """Chemistry names accepted in config (case-sensitive, as written in the table)."""

    LFP = "LFP"
    LTO = "LTO"
    NMC = "NMC"
    LI_ION = "Li-ion"
    LCO = "LCO"
    LMO = "LMO"
    NCA = "NCA"


@dataclass(frozen=True, slots=True)
class ChemistryPreset:
    """Defaults for one chemistry. ``ocv_table`` is ((soc_pct, voltage_v), ...), SOC ascending."""

    vmin_v: float
    vbalance_v: float
    vmax_v: float
    nominal_v: float
    ocv_table: tuple[tuple[float, float], ...]


PRESETS: dict[Chemistry, ChemistryPreset] = {
    Chemistry.LFP: ChemistryPreset(
        2.9, 3.4, 3.7, 3.2,
        ((0, 2.80), (2, 3.00), (5, 3.12), (10, 3.20), (20, 3.25), (30, 3.27), (40, 3.29),
         (50, 3.30), (60, 3.31), (70, 3.32), (80, 3.33), (90, 3.34), (95, 3.36), (98, 3.40),
         (100, 3.45)),
    ),
    Chemistry.LTO: ChemistryPreset(
        2.15, 2.6, 2.7, 2.3,
        ((0, 1.80), (5, 2.10), (10, 2.18), (20, 2.22), (30, 2.25), (40, 2.27), (50, 2.29),
         (60, 2.31), (70, 2.34), (80, 2.38), (90, 2.45), (95, 2.52), (100, 2.65)),
    ),
    Chemistry.NMC: ChemistryPreset(
        3.43, 4.0, 4.1, 3.65,
        ((0, 3.30), (5, 3.45), (10, 3.53), (20, 3.60), (30, 3.65), (40, 3.70), (50, 3.75),
         (60, 3.81), (70, 3.88), (80, 3.95), (90, 4.02), (100, 4.08)),
    ),
    Chemistry.LI_ION: ChemistryPreset(
        3.43, 4.1, 4.15, 3.6,
        ((0, 3.30), (5, 3.45), (10, 3.55), (20, 3.62), (30, 3.67), (40, 3.72), (50, 3.77),
         (60, 3.84), (70, 3.91), (80, 3.98), (90, 4.06), (100, 4.13)),
    ),
    Chemistry.LCO: ChemistryPreset(
        3.0, 4.1, 4.2, 3.7,
        ((0, 3.00), (10, 3.60), (20, 3.68), (30, 3.74), (40, 3.78), (50, 3.82), (60, 3.87),
         (70, 3.93), (80, 4.00), (90, 4.08), (100, 4.18)),
    ),
    Chemistry.LMO: ChemistryPreset(
        3.0, 4.1, 4.2, 3.8,
        ((0, 3.00), (10, 3.65), (20, 3.78), (30, 3.85), (40, 3.90), (50, 3.95), (60, 3.99),
         (70, 4.03), (80, 4.07), (90, 4.11), (100, 4.18)),
    ),
    Chemistry.NCA: ChemistryPreset(
        3.0, 4.1, 4.2, 3.6,
        ((0, 3.00), (10, 3.40), (20, 3.50), (30, 3.58), (40, 3.65), (50, 3.72), (60, 3.80),
         (70, 3.88), (80, 3.96), (90, 4.05), (100, 4.17)),
    ),
}


@dataclass(frozen=True, slots=True)
class Envelope:
    """The safe operating envelope of a cell chemistry: no limit in the config may lie outside it.

    Why a separate table from the presets: the preset values (Vmin, Vmax, ...) are *settings* a
    user may move; the envelope is the *cell's* limit (datasheet absolute values) that no setting,
    file or Modbus write, may cross. Voltages are per cell; temperatures are cell temperatures.
    """

    cell_min_v: float  #: no cell voltage limit (Vmin, under-voltage fault) below this
    cell_max_v: float  #: no cell voltage limit (Vmax, over-voltage fault) above this
    charge_min_c: float  #: charging below this damages the cell (lithium plating)
    charge_max_c: float
    discharge_min_c: float
    discharge_max_c: float


#: Per preset. Voltages: common datasheet absolute limits (LFP 2.5..3.8 V: above ~3.9 V the
#: electrolyte decomposes, below 2.5 V copper dissolves). Temperatures: the common datasheet
#: windows (LTO is the cold-tolerant chemistry). A cell outside these needs ``[pack.chemistry.envelope]``.
ENVELOPES: dict[Chemistry, Envelope] = {
    Chemistry.LFP: Envelope(2.5, 3.8, 0.0, 55.0, -20.0, 60.0),
    Chemistry.LTO: Envelope(1.5, 2.85, -30.0, 55.0, -40.0, 60.0),
    Chemistry.NMC: Envelope(2.5, 4.25, 0.0, 55.0, -20.0, 60.0),
    Chemistry.LI_ION: Envelope(2.5, 4.25, 0.0, 55.0, -20.0, 60.0),
    Chemistry.LCO: Envelope(2.75, 4.25, 0.0, 55.0, -20.0, 60.0),
    Chemistry.LMO: Envelope(2.5, 4.25, 0.0, 55.0, -20.0, 60.0),
    Chemistry.NCA: Envelope(2.5, 4.25, 0.0, 55.0, -20.0, 60.0),
}
