"""Pure encoders/decoders of the LTC681x register groups (6 data bytes each, protocols.md 4.4).

Why pure functions on bytes: the driver (host side) and the emulator (chip side) share them, so
a layout mistake cannot hide by being made the same way twice in two places — and the codecs are
round-trip tested on their own. Masks use bit 0 = cell 1 / GPIO1, like the DCC bits.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

__all__ = [
    "CLEARED_CODE",
    "LSB_V",
    "ConfigRegisters",
    "StatusFlags",
    "StatusReading",
    "c_to_itmp_code",
    "code_to_v",
    "decode_codes",
    "decode_config",
    "decode_status_a",
    "decode_status_b",
    "encode_cfga",
    "encode_cfgb",
    "encode_codes",
    "encode_status_a",
    "encode_status_b",
    "itmp_code_to_c",
    "overvoltage_code",
    "undervoltage_code",
    "v_to_code",
]

#: 100 µV per LSB for cell, GPIO, REF2, VA and VD codes.
LSB_V = 1e-4
#: Register content after CLRCELL/CLRAUX/CLRSTAT or power-on: "no conversion result".
CLEARED_CODE = 0xFFFF
#: VUV/VOV compare thresholds are in steps of 16 LSB = 1.6 mV.
_THRESHOLD_STEP_V = 16 * LSB_V
# ITMP: T = ITMP × 100 µV / 7.6 mV/K − 276 °C, for both chips.
# * LTC6813: verified — the datasheet formula "ITMP • 100 µV / 7.6 mV/°C − 276 °C" as quoted in a
#   public LTC6813 Linduino-style sketch (stored code corpus).
# * LTC6811: the LTC6811-1 datasheet (ADSTAT, "Internal Die Temperature") gives the same 7.6 mV/°C
#   and 276 °C — not verified here (the datasheet page is not in the stored corpus).
# * 7.5 mV/°C and 273 °C (used by the DC2259 LTC6811 demo sketch) is the LTC6804 formula
#   (verified: LTC6804-1/-2 datasheet, ADSTAT section, p. 27): a carry-over, off by ≈ 6 °C near
#   25 °C on an LTC6811; this driver uses the LTC6811/6813 constants.
_ITMP_V_PER_K = 7.6e-3
_ITMP_OFFSET_C = 276.0

_U16X3 = struct.Struct("<3H")


@dataclass(frozen=True, slots=True)
class ConfigRegisters:
    """Configuration register groups A (+ B on the LTC6813) of one chip, decoded."""

    gpio_pulldown_off: int = 0x1FF  #: bit k = GPIO(k+1); 1 = pull-down off (default), 0 = pulled low
    refon: bool = False  #: keep the 3 V reference up between conversions (faster starts)
    dten: bool = False  #: discharge timer enabled (read-only on the chip; ignored on write)
    adcopt: bool = False  #: selects the 14 kHz / 3 kHz / 2 kHz / 1 kHz mode set
    vuv_code: int = 0  #: under-voltage compare = (VUV + 1) × 1.6 mV
    vov_code: int = 0  #: over-voltage compare = VOV × 1.6 mV
    dcc: int = 0  #: discharge switches, bit 0 = cell 1 … bit 17 = cell 18
    dcto: int = 0  #: discharge timeout code (0 = disabled, 1 = 30 s, 2 = 1 min …)
    dcc0: bool = False  #: LTC6813 DCC0 (GPIO9 pull-down)
    dtmen: bool = False  #: LTC6813 discharge timer monitor
    ps: int = 0  #: LTC6813 digital redundancy path select (2 bits)
    fdrf: bool = False  #: LTC6813 force digital redundancy failure
    mute: bool = False  #: LTC6813 discharge mute status (read-only)

    @property
    def vuv_v(self) -> float:
        """Under-voltage compare threshold in volts."""
        return (self.vuv_code + 1) * 16 / 10_000.0

    @property
    def vov_v(self) -> float:
        """Over-voltage compare threshold in volts."""
        return self.vov_code * 16 / 10_000.0


def undervoltage_code(threshold_v: float) -> int:
    """VUV field for a cell under-voltage compare threshold (clamped to 12 bits)."""
    return min(0xFFF, max(0, round(threshold_v / _THRESHOLD_STEP_V) - 1))


def overvoltage_code(threshold_v: float) -> int:
    """VOV field for a cell over-voltage compare threshold (clamped to 12 bits)."""
    return min(0xFFF, max(0, round(threshold_v / _THRESHOLD_STEP_V)))


def encode_cfga(cfg: ConfigRegisters) -> bytes:
    """CFGR0..CFGR5: GPIO5..1, REFON, DTEN, ADCOPT | VUV | VOV | DCC1-12 | DCTO."""
    vuv = cfg.vuv_code & 0xFFF
    vov = cfg.vov_code & 0xFFF
    return bytes(
        (
            ((cfg.gpio_pulldown_off & 0x1F) << 3) | (cfg.refon << 2) | (cfg.dten << 1) | int(cfg.adcopt),
            vuv & 0xFF,
            ((vov & 0xF) << 4) | (vuv >> 8),
            vov >> 4,
            cfg.dcc & 0xFF,
            ((cfg.dcto & 0xF) << 4) | ((cfg.dcc >> 8) & 0xF),
        )
    )


def encode_cfgb(cfg: ConfigRegisters) -> bytes:
    """CFGRB0..5 (LTC6813): DCC16..13 + GPIO9..6 | MUTE FDRF PS DTMEN DCC0 DCC18 DCC17 | reserved."""
    return bytes(
        (
            (((cfg.dcc >> 12) & 0xF) << 4) | ((cfg.gpio_pulldown_off >> 5) & 0xF),
            (cfg.mute << 7)
            | (cfg.fdrf << 6)
            | ((cfg.ps & 0x3) << 4)
            | (cfg.dtmen << 3)
            | (cfg.dcc0 << 2)
            | ((cfg.dcc >> 16) & 0x3),
            0,
            0,
            0,
            0,
        )
    )


def decode_config(
    cfga: bytes | bytearray | memoryview, cfgb: bytes | bytearray | memoryview | None = None
) -> ConfigRegisters:
    """Decode group A (and B when given; without it GPIO6-9 read as defaults and DCC13-18 as off)."""
    a0, a1, a2, a3, a4, a5 = cfga[:6]
    gpio = (a0 >> 3) & 0x1F
    dcc = a4 | ((a5 & 0xF) << 8)
    dcc0 = dtmen = fdrf = mute = False
    ps = 0
    if cfgb is None:
        gpio |= 0xF << 5
    else:
        b0, b1 = cfgb[0], cfgb[1]
        gpio |= (b0 & 0xF) << 5
        dcc |= ((b0 >> 4) & 0xF) << 12 | (b1 & 0x3) << 16
        dcc0 = bool(b1 & 0x04)
        dtmen = bool(b1 & 0x08)
        ps = (b1 >> 4) & 0x3
        fdrf = bool(b1 & 0x40)
        mute = bool(b1 & 0x80)
    return ConfigRegisters(
        gpio_pulldown_off=gpio,
        refon=bool(a0 & 0x04),
        dten=bool(a0 & 0x02),
        adcopt=bool(a0 & 0x01),
        vuv_code=a1 | ((a2 & 0xF) << 8),
        vov_code=(a2 >> 4) | (a3 << 4),
        dcc=dcc,
        dcto=a5 >> 4,
        dcc0=dcc0,
        dtmen=dtmen,
        ps=ps,
        fdrf=fdrf,
        mute=mute,
    )


def v_to_code(voltage_v: float) -> int:
    """ADC code of a voltage (nearest 100 µV), clamped to 0..0xFFFE so it never reads as cleared."""
    if not voltage_v > 0.0:  # also NaN
        return 0
    return min(0xFFFE, int(voltage_v / LSB_V + 0.5))


def code_to_v(code: int) -> float:
    """Volts of a 16-bit code; NaN for the cleared value 0xFFFF (no conversion since the clear)."""
    return math.nan if code == CLEARED_CODE else code / 10_000.0


def encode_codes(c0: int, c1: int, c2: int) -> bytes:
    """Three 16-bit codes, little-endian: a cell, aux, or status-A group."""
    return _U16X3.pack(c0, c1, c2)


def decode_codes(data: bytes | bytearray | memoryview) -> tuple[int, int, int]:
    """The three little-endian 16-bit codes of a register group."""
    c0, c1, c2 = _U16X3.unpack_from(data)
    return c0, c1, c2


def itmp_code_to_c(code: int) -> float:
    """Die temperature in °C from the ITMP code."""
    if code == CLEARED_CODE:
        return math.nan
    return code * LSB_V / _ITMP_V_PER_K - _ITMP_OFFSET_C


def c_to_itmp_code(temperature_c: float) -> int:
    """ITMP code for a die temperature (inverse of ``itmp_code_to_c``, clamped)."""
    return v_to_code((temperature_c + _ITMP_OFFSET_C) * _ITMP_V_PER_K)


@dataclass(frozen=True, slots=True)
class StatusFlags:
    """Status register group B flags (the chip's own cell compare, thermal shutdown, mux self test)."""

    uv_mask: int = 0  #: bit 0 = cell 1 below VUV (cells 1-12 only)
    ov_mask: int = 0  #: bit 0 = cell 1 above VOV (cells 1-12 only)
    thsd: bool = False  #: thermal shutdown occurred
    muxfail: bool = False  #: multiplexer self-test failed
    rev: int = 0  #: silicon revision code


@dataclass(frozen=True, slots=True)
class StatusReading:
    """Decoded status groups A and B of one chip (NaN where its group failed its PEC)."""

    sum_of_cells_v: float
    die_temperature_c: float
    va_v: float  #: analog supply
    vd_v: float  #: digital supply
    flags: StatusFlags


def decode_status_a(data: bytes | bytearray | memoryview, sc_scale: int) -> tuple[float, float, float]:
    """(sum of cells V, die temperature °C, VA V) from status group A."""
    sc, itmp, va = _U16X3.unpack_from(data)
    sc_v = math.nan if sc == CLEARED_CODE else sc * sc_scale / 10_000.0
    return sc_v, itmp_code_to_c(itmp), code_to_v(va)


def encode_status_a(sc_code: int, itmp_code: int, va_code: int) -> bytes:
    """Status group A from its three codes."""
    return _U16X3.pack(sc_code, itmp_code, va_code)


def decode_status_b(data: bytes | bytearray | memoryview) -> tuple[float, StatusFlags]:
    """(VD V, flags) from status group B: VD, C1..C12 UV/OV pairs, REV | MUXFAIL | THSD."""
    vd = data[0] | (data[1] << 8)
    pairs = data[2] | (data[3] << 8) | (data[4] << 16)  # bit 2k = C(k+1) UV, bit 2k+1 = OV
    uv = ov = 0
    for k in range(12):
        uv |= ((pairs >> (2 * k)) & 1) << k
        ov |= ((pairs >> (2 * k + 1)) & 1) << k
    b5 = data[5]
    flags = StatusFlags(uv_mask=uv, ov_mask=ov, thsd=bool(b5 & 1), muxfail=bool(b5 & 2), rev=b5 >> 4)
    return code_to_v(vd), flags


def encode_status_b(vd_code: int, flags: StatusFlags) -> bytes:
    """Status group B from VD and the flags (inverse of ``decode_status_b``)."""
    pairs = 0
    for k in range(12):
        pairs |= ((flags.uv_mask >> k) & 1) << (2 * k)
        pairs |= ((flags.ov_mask >> k) & 1) << (2 * k + 1)
    b5 = ((flags.rev & 0xF) << 4) | (flags.muxfail << 1) | int(flags.thsd)
    return bytes((vd_code & 0xFF, vd_code >> 8, pairs & 0xFF, (pairs >> 8) & 0xFF, pairs >> 16, b5))
