"""What differs between the supported chips: cell channels, GPIO inputs, register groups.

Why a table: a chain may mix LTC6811 (12 cells, 5 GPIOs) and LTC6813 (18 cells, 9 GPIOs)
boards; the driver and the emulator both ask here instead of sprinkling ``if chip == ...``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CHIPS", "LTC6811", "LTC6813", "ChipInfo", "chip_info"]

LTC6811 = "LTC6811"
LTC6813 = "LTC6813"


@dataclass(frozen=True, slots=True)
class ChipInfo:
    """Static facts about one chip type."""

    name: str
    cells: int  #: cell input channels (C1..Cn)
    gpios: int  #: GPIO (aux ADC) inputs
    cell_groups: int  #: cell voltage register groups (A-D or A-F), 3 cells each
    aux_groups: int  #: aux register groups (A-B or A-D)
    has_cfgb: bool  #: configuration register group B (DCC13-18, GPIO6-9)
    sc_scale: int  #: sum-of-cells code multiplier (code × 100 µV × scale)


CHIPS: dict[str, ChipInfo] = {
    LTC6811: ChipInfo(LTC6811, cells=12, gpios=5, cell_groups=4, aux_groups=2, has_cfgb=False, sc_scale=20),
    LTC6813: ChipInfo(LTC6813, cells=18, gpios=9, cell_groups=6, aux_groups=4, has_cfgb=True, sc_scale=30),
}


def chip_info(name: str) -> ChipInfo:
    """Facts for ``name`` ("LTC6811"/"LTC6813", case-insensitive; "-1" suffix allowed)."""
    key = name.strip().upper().removesuffix("-1")
    try:
        return CHIPS[key]
    except KeyError:
        raise ValueError(f"unsupported chip {name!r}; expected one of {sorted(CHIPS)}") from None
