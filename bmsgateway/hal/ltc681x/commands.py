"""LTC681x command codes, their option bits, ready-made 4-byte frames and conversion times.

Every command on the wire is CMD0, CMD1 (an 11-bit code, MSB first) followed by its PEC15
(protocols.md 4.1/4.3). The frames are built once at import so the acquisition cycle never
computes a command PEC.

Conversion times (protocols.md 4.5) are the *nominal* time until the results are readable; the
driver never sleeps, and the sampler does not trust them alone: it waits this long and then polls
PLADC until the chips report done, with a bounded timeout (``LTC681xChain.adc_done``).

Where each timing constant comes from (V = verified against a stored source, U = not verified,
taken from the LTC6811-1/LTC6813-1 datasheets as remembered or scaled; rounded so that a driver
waiting them is never early):

* ADCV all cells on an LTC6811, 27 kHz/14 kHz/7 kHz/3 kHz/2 kHz/26 Hz: 1 113/1 288/2 335/3 033/
  4 430/201 317 µs — V: LTC6804-1 datasheet Table 35 (same ADC core and command set) and
  Table 5 (t6C); 422 Hz = 12 807 µs and 1 kHz = 7 153 µs — U (LTC6811 datasheet Table 5).
* ADAX all GPIOs + REF2: the same times as ADCV on the LTC6811 — V: LTC6804 Table 35 (CHG = 000
  row equals the CH = 000 row).
* ADSTAT all (SC, ITMP, VA, VD) 748/865/1 563/2 028/2 959/134 218 µs — V: LTC6804 Table 9 (t4C);
  here as 0.67 × ADCV, which is ≥ every Table 9 entry.
* LTC6813: ADCV × 1.5 (3 ADCs × 6 cells instead of 4) and ADAX × 1.67 (10 aux channels instead of
  6) — U: scaled estimates, not the LTC6813 Table; polling makes an error here cost only time.
* ``T_REFUP_S`` = 4.4 ms, reference power-up after it was off (REFON = 0 or after sleep) — U:
  LTC6811 Electrical Characteristics tREFUP max.
* ``T_IDLE_S`` = 4.3 ms, isoSPI port idle timeout — V (minimum): Linduino LTC681x
  ``wakeup_idle`` comment "idle after 4.3 ms of no isoSPI activity"; the LTC6820 slave's own
  t_IDLE is 5.7 ms typical (LTC6820 datasheet, IDLE Mode and Wake-Up Detection).
* ``T_SLEEP_S`` = 1.8 s, watchdog/sleep timeout (minimum of 1.8..2.2 s) — U: LTC6811 tSLEEP.
* ``T_WAKE_S`` = 400 µs, core wake-up time from SLEEP — U: LTC6811 tWAKE max; the Linduino
  ``wakeup_sleep`` holds CS low 300 µs per device (V).
* Self-test patterns (CVST/AXST, ST = 01/10) — V: LTC6804 Table 35.
"""

from __future__ import annotations

import functools
from enum import Enum, IntEnum

from bmsgateway.hal.ltc681x.chips import chip_info
from bmsgateway.hal.ltc681x.pec import append_pec

__all__ = [
    "ADAX",
    "ADCV",
    "ADOW",
    "ADSTAT",
    "AXST",
    "CLRAUX",
    "CLRCELL",
    "CLRSTAT",
    "CVST",
    "DIAGN",
    "PLADC",
    "RDAUX",
    "RDCFGA",
    "RDCFGB",
    "RDCV",
    "RDSTATA",
    "RDSTATB",
    "T_DIAGN_S",
    "T_IDLE_S",
    "T_REFUP_S",
    "T_SLEEP_S",
    "T_WAKE_S",
    "WRCFGA",
    "WRCFGB",
    "AdcMode",
    "Conversion",
    "adax_code",
    "adcv_code",
    "adow_code",
    "adstat_code",
    "axst_code",
    "command_code",
    "conversion_time_s",
    "cvst_code",
    "frame",
    "self_test_code",
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
DIAGN = 0x715  #: mux decoder self test; result in MUXFAIL (status B)

# Bases of the conversion commands; option bits are ORed in (protocols.md 4.3).
ADCV = 0x260
ADOW = 0x228
ADAX = 0x460
ADSTAT = 0x468
CVST = 0x207  #: cell ADC digital-filter self test (| MD bits | ST << 5)
AXST = 0x407  #: aux ADC digital-filter self test (| MD bits | ST << 5)
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


def cvst_code(mode: AdcMode = AdcMode.NORMAL, st: int = 1) -> int:
    """CVST: the cell ADCs convert a known self-test value into every cell register."""
    return CVST | _md_bits(mode) | ((st & 0x3) << 5)


def axst_code(mode: AdcMode = AdcMode.NORMAL, st: int = 1) -> int:
    """AXST: the aux ADC converts the self-test value into every aux register."""
    return AXST | _md_bits(mode) | ((st & 0x3) << 5)


# Expected self-test result code by (ST, MD) with ADCOPT = 0 (LTC6804 Table 35, verified):
# 27 kHz and 14 kHz differ from the other modes.
_SELF_TEST: dict[tuple[int, int], int] = {
    (1, AdcMode.FAST): 0x9565,
    (2, AdcMode.FAST): 0x6A9A,
}
_SELF_TEST_14K = {1: 0x9553, 2: 0x6AAC}


def self_test_code(st: int, mode: AdcMode, adcopt: bool = False) -> int:
    """The code every register must hold after CVST/AXST with self-test pattern ``st`` (1 or 2)."""
    if st not in (1, 2):
        raise ValueError(f"self test pattern must be 1 or 2, got {st}")
    if mode == AdcMode.FAST:
        return _SELF_TEST_14K[st] if adcopt else _SELF_TEST[(st, AdcMode.FAST)]
    return 0x9555 if st == 1 else 0x6AAA


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
    fixed = (WRCFGA, WRCFGB, RDCFGA, RDCFGB, RDSTATA, RDSTATB, CLRCELL, CLRAUX, CLRSTAT, PLADC, DIAGN)
    for code in (*fixed, *RDCV, *RDAUX):
        frame(code)
    for mode in AdcMode:
        frame(adax_code(mode))
        frame(adstat_code(mode))
        frame(cvst_code(mode))
        frame(axst_code(mode))
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

T_REFUP_S = 4.4e-3  #: reference power-up (U: LTC6811 tREFUP max)
T_IDLE_S = 4.3e-3  #: isoSPI idle timeout, minimum (V: Linduino wakeup_idle; LTC6820 5.7 ms typ)
T_SLEEP_S = 1.8  #: watchdog: no valid command this long -> config reset, sleep (U: tSLEEP min)
T_WAKE_S = 400e-6  #: SLEEP -> STANDBY after a wake pulse (U: tWAKE max)
#: DIAGN (mux decoder self test) time (U: the Linduino header says "roughly 1 ms").
T_DIAGN_S = 1.0e-3


@functools.lru_cache(maxsize=256)
def conversion_time_s(kind: Conversion, chip: str, mode: AdcMode, adcopt: bool = False) -> float:
    """Seconds from the conversion command until the results of one ``chip`` are readable."""
    name = chip_info(chip).name
    base_us = _ADCV_6811_US[(AdcMode(mode), bool(adcopt))]
    factor = _CHIP_FACTOR[(kind, name)]
    if factor == 1.0:
        return base_us * 1e-6
    return (int(base_us * factor) + _MARGIN_US) * 1e-6
