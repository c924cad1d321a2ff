"""LTC681x command codes, their option bits, ready-made 4-byte frames and conversion times.

Every command on the wire is CMD0, CMD1 (an 11-bit code, MSB first) followed by its PEC15
(protocols.md 4.1/4.3). The frames are built once at import so the acquisition cycle never
computes a command PEC.

Conversion times (protocols.md 4.5) are what the caller must wait before reading results; the
driver never sleeps. LTC6811 ADCV values are the datasheet table (LTC6804/6811, Table 5). The
422 Hz and 1 kHz entries, the LTC6813 values (6 cells per ADC instead of 4: ADCV × 1.5; 10 aux
channels instead of 6: ADAX × 1.67) and ADSTAT (≈ 0.67 × ADCV, from 1 563 µs at 7 kHz) are
scaled estimates, rounded up, so a caller that waits them is never early. Polling PLADC
(``LTC681xChain.adc_done``) is exact.
"""

from __future__ import annotations

from enum import Enum, IntEnum

from bmsgateway.hal.ltc681x.chips import chip_info
from bmsgateway.hal.ltc681x.pec import append_pec

__all__ = [
    "ADAX",
    "ADCV",
    "ADOW",
    "ADSTAT",
    "CLRAUX",
    "CLRCELL",
    "CLRSTAT",
    "PLADC",
    "RDAUX",
    "RDCFGA",
    "RDCFGB",
    "RDCV",
    "RDSTATA",
    "RDSTATB",
    "WRCFGA",
    "WRCFGB",
    "AdcMode",
    "Conversion",
    "adax_code",
    "adcv_code",
    "adow_code",
    "adstat_code",
    "command_code",
    "conversion_time_s",
    "frame",
]

WRCFGA = 0x001
WRCFGB = 0x024
RDCFGA = 0x002
RDCFGB = 0x026
#: Cell voltage register groups A..F (cells 1-3, 4-6, ..., 16-18).
RDCV: tuple[int, ...] = (0x004, 0x006, 0x008, 0x00A, 0x009, 0x00B)
#: Aux register groups A..D (GPIO1-3, GPIO4-5+REF2, GPIO6-8, GPIO9).
RDAUX: tuple[int, ...] = (0x00C, 0x00E, 0x00D, 0x00F)
RDSTATA = 0x010
RDSTATB = 0x012
CLRCELL = 0x711
CLRAUX = 0x712
CLRSTAT = 0x713
PLADC = 0x714

# Bases of the conversion commands; option bits are ORed in (protocols.md 4.3).
ADCV = 0x260
ADOW = 0x228
ADAX = 0x460
ADSTAT = 0x468
_MD_MASK = 0x180
_DCP_BIT = 0x010
_PUP_BIT = 0x040


class AdcMode(IntEnum):
    """ADC mode; the value is the MD field. Rates are for ADCOPT = 0 (ADCOPT = 1 in brackets)."""

    HZ_422 = 0  #: 422 Hz (1 kHz)
    FAST = 1  #: 27 kHz (14 kHz)
    NORMAL = 2  #: 7 kHz (3 kHz), the datasheet's default
    FILTERED = 3  #: 26 Hz (2 kHz)


class Conversion(Enum):
    """Which measurement a conversion command starts (selects its time table)."""

    CELLS = "cells"  #: ADCV / ADOW, all cells
    AUX = "aux"  #: ADAX, all GPIOs + REF2
    STATUS = "status"  #: ADSTAT, SC + ITMP + VA + VD


def _md_bits(mode: AdcMode) -> int:
    """MD[1] goes to CMD0 bit 0 (code bit 8), MD[0] to CMD1 bit 7 (code bit 7)."""
    return (int(mode) & 0x3) << 7


def adcv_code(mode: AdcMode = AdcMode.NORMAL, discharge_permitted: bool = False, ch: int = 0) -> int:
    """ADCV: start cell conversion (CH 0 = all cells); DCP = 1 keeps discharge on while converting."""
    return ADCV | _md_bits(mode) | (_DCP_BIT if discharge_permitted else 0) | (ch & 0x7)


def adow_code(pull_up: bool, mode: AdcMode = AdcMode.NORMAL, discharge_permitted: bool = False, ch: int = 0) -> int:
    """ADOW: cell conversion with 100 µA pull-up (PUP = 1) or pull-down currents on the inputs."""
    return ADOW | _md_bits(mode) | (_PUP_BIT if pull_up else 0) | (_DCP_BIT if discharge_permitted else 0) | (ch & 0x7)


def adax_code(mode: AdcMode = AdcMode.NORMAL, chg: int = 0) -> int:
    """ADAX: GPIO conversion (CHG 0 = all GPIOs and REF2)."""
    return ADAX | _md_bits(mode) | (chg & 0x7)


def adstat_code(mode: AdcMode = AdcMode.NORMAL, chst: int = 0) -> int:
    """ADSTAT: status conversion (CHST 0 = SC, ITMP, VA, VD)."""
    return ADSTAT | _md_bits(mode) | (chst & 0x7)


def command_code(frame_bytes: bytes | bytearray | memoryview) -> int:
    """The 11-bit command code in the first two bytes of a frame."""
    return ((frame_bytes[0] & 0x07) << 8) | frame_bytes[1]


_FRAMES: dict[int, bytes] = {}


def frame(code: int) -> bytes:
    """The 4-byte command frame (code + PEC), built once per code and cached."""
    cached = _FRAMES.get(code)
    if cached is None:
        cached = append_pec(bytes(((code >> 8) & 0x07, code & 0xFF)))
        _FRAMES[code] = cached
    return cached


def _prebuild() -> None:
    """Build every frame the driver uses so the first acquisition cycle is as fast as the rest."""
    fixed = (WRCFGA, WRCFGB, RDCFGA, RDCFGB, RDSTATA, RDSTATB, CLRCELL, CLRAUX, CLRSTAT, PLADC)
    for code in (*fixed, *RDCV, *RDAUX):
        frame(code)
    for mode in AdcMode:
        frame(adax_code(mode))
        frame(adstat_code(mode))
        for dcp in (False, True):
            frame(adcv_code(mode, dcp))
            for pup in (False, True):
                frame(adow_code(pup, mode, dcp))


_prebuild()

# ADCV all cells on an LTC6811, µs, by (MD, ADCOPT).
_ADCV_6811_US: dict[tuple[int, bool], int] = {
    (AdcMode.FAST, False): 1_113,
    (AdcMode.FAST, True): 1_288,
    (AdcMode.NORMAL, False): 2_335,
    (AdcMode.NORMAL, True): 3_033,
    (AdcMode.FILTERED, False): 201_317,
    (AdcMode.FILTERED, True): 4_430,
    (AdcMode.HZ_422, False): 12_807,
    (AdcMode.HZ_422, True): 7_153,
}
_CHIP_FACTOR: dict[tuple[Conversion, str], float] = {
    (Conversion.CELLS, "LTC6811"): 1.0,
    (Conversion.CELLS, "LTC6813"): 1.5,
    (Conversion.AUX, "LTC6811"): 1.0,
    (Conversion.AUX, "LTC6813"): 1.67,
    (Conversion.STATUS, "LTC6811"): 0.67,
    (Conversion.STATUS, "LTC6813"): 0.67,
}
_MARGIN_US = 10  # rounding margin on the scaled entries


def conversion_time_s(kind: Conversion, chip: str, mode: AdcMode, adcopt: bool = False) -> float:
    """Seconds from the conversion command until the results of one ``chip`` are readable."""
    name = chip_info(chip).name
    base_us = _ADCV_6811_US[(AdcMode(mode), bool(adcopt))]
    factor = _CHIP_FACTOR[(kind, name)]
    if factor == 1.0:
        return base_us * 1e-6
    return (int(base_us * factor) + _MARGIN_US) * 1e-6
