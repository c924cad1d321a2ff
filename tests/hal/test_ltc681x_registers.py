"""Register group codecs: round trips and the bit positions of protocols.md 4.4."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from bmsgateway.hal.ltc681x.registers import (
    ConfigRegisters,
    StatusFlags,
    c_to_itmp_code,
    code_to_v,
    decode_codes,
    decode_config,
    decode_status_a,
    decode_status_b,
    encode_cfga,
    encode_cfgb,
    encode_codes,
    encode_status_a,
    encode_status_b,
    itmp_code_to_c,
    overvoltage_code,
    undervoltage_code,
    v_to_code,
)

u16 = st.integers(min_value=0, max_value=0xFFFF)

configs_6813 = st.builds(
    ConfigRegisters,
    gpio_pulldown_off=st.integers(0, 0x1FF),
    refon=st.booleans(),
    dten=st.booleans(),
    adcopt=st.booleans(),
    vuv_code=st.integers(0, 0xFFF),
    vov_code=st.integers(0, 0xFFF),
    dcc=st.integers(0, (1 << 18) - 1),
    dcto=st.integers(0, 15),
    dcc0=st.booleans(),
    dtmen=st.booleans(),
    ps=st.integers(0, 3),
    fdrf=st.booleans(),
    mute=st.booleans(),
)


@given(configs_6813)
def test_config_a_and_b_round_trip(cfg: ConfigRegisters) -> None:
    assert decode_config(encode_cfga(cfg), encode_cfgb(cfg)) == cfg


@given(st.integers(0, 0x1F), st.integers(0, 0xFFF), st.integers(0, 0xFFF), st.integers(0, 0xFFF), st.booleans())
def test_config_a_alone_round_trips_the_6811_fields(gpio: int, vuv: int, vov: int, dcc: int, refon: bool) -> None:
    cfg = ConfigRegisters(gpio_pulldown_off=gpio | 0x1E0, vuv_code=vuv, vov_code=vov, dcc=dcc, refon=refon)
    assert decode_config(encode_cfga(cfg)) == cfg


def test_config_a_bit_positions() -> None:
    cfg = ConfigRegisters(
        gpio_pulldown_off=0b10001, refon=True, adcopt=True, vuv_code=0xABC, vov_code=0x123, dcc=0x801, dcto=0x7
    )
    assert encode_cfga(cfg) == bytes([0b1000_1101, 0xBC, 0x3A, 0x12, 0x01, 0x78])


def test_config_b_places_dcc13_to_18_and_gpio6_to_9() -> None:
    cfg = ConfigRegisters(gpio_pulldown_off=0b1_0000_0000 | 0x1F, dcc=(1 << 12) | (1 << 15) | (1 << 17))
    b = encode_cfgb(cfg)
    assert b[0] == 0b1001_1000  # DCC16, DCC13 | GPIO9
    assert b[1] == 0b10  # DCC18
    assert b[2:] == b"\x00\x00\x00\x00"


def test_default_config_is_power_on_state() -> None:
    assert encode_cfga(ConfigRegisters()) == bytes([0xF8, 0, 0, 0, 0, 0])


def test_threshold_codes_follow_datasheet_formulae() -> None:
    assert ConfigRegisters(vuv_code=undervoltage_code(2.8)).vuv_v == 2.8
    assert math.isclose(ConfigRegisters(vov_code=overvoltage_code(4.2)).vov_v, 4.2, abs_tol=0.0016)


@given(u16, u16, u16)
def test_codes_round_trip_little_endian(c0: int, c1: int, c2: int) -> None:
    data = encode_codes(c0, c1, c2)
    assert data[0] == c0 & 0xFF and data[1] == c0 >> 8
    assert decode_codes(data) == (c0, c1, c2)


@given(st.floats(min_value=0.0, max_value=6.5))
def test_voltage_quantised_to_100uv(v: float) -> None:
    assert abs(code_to_v(v_to_code(v)) - v) <= 0.00005 + 1e-12


def test_cleared_code_reads_nan_and_clamps() -> None:
    assert math.isnan(code_to_v(0xFFFF))
    assert v_to_code(-0.2) == 0
    assert v_to_code(10.0) == 0xFFFE


def test_status_a_sum_of_cells_scale_per_chip() -> None:
    data = encode_status_a(20_000, c_to_itmp_code(25.0), 50_000)
    sc_6811, temp_c, va_v = decode_status_a(data, 20)
    sc_6813, _, _ = decode_status_a(data, 30)
    assert sc_6811 == 40.0 and sc_6813 == 60.0
    assert math.isclose(temp_c, 25.0, abs_tol=0.01) and va_v == 5.0


@given(st.floats(min_value=-40.0, max_value=150.0))
def test_die_temperature_round_trip(t_c: float) -> None:
    assert math.isclose(itmp_code_to_c(c_to_itmp_code(t_c)), t_c, abs_tol=0.01)


@given(u16, st.integers(0, 0xFFF), st.integers(0, 0xFFF), st.booleans(), st.booleans(), st.integers(0, 15))
def test_status_b_round_trip(vd: int, uv: int, ov: int, thsd: bool, muxfail: bool, rev: int) -> None:
    flags = StatusFlags(uv_mask=uv, ov_mask=ov, thsd=thsd, muxfail=muxfail, rev=rev)
    vd_v, decoded = decode_status_b(encode_status_b(vd, flags))
    assert decoded == flags
    assert vd_v == code_to_v(vd) or (math.isnan(vd_v) and vd == 0xFFFF)


def test_status_b_flag_pairs() -> None:
    data = encode_status_b(30_000, StatusFlags(uv_mask=0b1, ov_mask=0b10, thsd=True))
    assert data[2] == 0b0000_1001  # C1UV (bit 0), C2OV (bit 3)
    assert data[5] == 0b01


def test_a_cleared_status_a_decodes_as_missing_not_as_values() -> None:
    """After CLRSTAT every status code reads 0xFFFF: sum of cells, die temperature and VA are
    missing (NaN), not ~131 V / ~586 °C / 6.55 V."""
    sc_v, temp_c, va_v = decode_status_a(encode_status_a(0xFFFF, 0xFFFF, 0xFFFF), 20)
    assert math.isnan(sc_v) and math.isnan(temp_c) and math.isnan(va_v)
    assert math.isnan(itmp_code_to_c(0xFFFF))
    # the largest real code still decodes
    assert decode_status_a(encode_status_a(0xFFFE, 0xFFFE, 0xFFFE), 20)[0] == 0xFFFE * 20 / 10_000.0


def test_compare_thresholds_clamp_to_their_12_bit_fields() -> None:
    """VUV/VOV are 12-bit fields: a threshold beyond them is clamped, never wrapped or widened."""
    from bmsgateway.hal.ltc681x.registers import overvoltage_code, undervoltage_code

    assert overvoltage_code(100.0) == 0xFFF and undervoltage_code(100.0) == 0xFFF
    assert overvoltage_code(0.0) == 0 and undervoltage_code(0.0) == 0
    assert overvoltage_code(-1.0) == 0 and undervoltage_code(0.0016) == 0


def test_config_b_dcc17_is_neither_dcc0_nor_dtmen() -> None:
    """CFGBR1 bit 0 is DCC17 (bit 2 DCC0, bit 3 DTMEN, bit 6 FDRF): each bit decodes to its own field only."""
    from bmsgateway.hal.ltc681x.registers import decode_config

    cfg = decode_config(bytes(6), bytes((0, 0x01, 0, 0, 0, 0)))
    assert cfg.dcc == 1 << 16 and not cfg.dcc0 and not cfg.dtmen and not cfg.fdrf and not cfg.mute
    cfg = decode_config(bytes(6), bytes((0, 0x0C, 0, 0, 0, 0)))
    assert cfg.dcc == 0 and cfg.dcc0 and cfg.dtmen
