"""PEC15 against the datasheet vectors and a straightforward bit-by-bit reference."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bmsgateway.hal.ltc681x.pec import append_pec, check_pec, pec15, pec15_words


def _pec15_bitwise(data: bytes) -> int:
    """The definition in protocols.md 4.2, one bit at a time (slow, obviously right)."""
    rem = 16
    for byte in data:
        for i in range(7, -1, -1):
            din = ((byte >> i) & 1) ^ ((rem >> 14) & 1)
            rem = (rem << 1) & 0x7FFF
            if din:
                rem ^= 0x4599
    return (rem << 1) & 0xFFFF


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (0x0001, 0x3D6E),  # WRCFGA
        (0x0002, 0x2B0A),  # RDCFGA
        (0x0004, 0x07C2),  # RDCVA
        (0x0360, 0xF46C),  # ADCV MD=10 DCP=0 CH=000
        (0x0711, 0xC9C0),  # CLRCELL
        (0x0714, 0xF36C),  # PLADC
    ],
)
def test_datasheet_vectors(code: int, expected: int) -> None:
    assert pec15(code.to_bytes(2, "big")) == expected


@given(st.binary(max_size=40))
def test_table_matches_bitwise_definition(data: bytes) -> None:
    assert pec15(data) == _pec15_bitwise(data)


@given(st.binary(min_size=6, max_size=6))
def test_word_fast_path_matches(data: bytes) -> None:
    words = [int.from_bytes(data[i : i + 2], "big") for i in (0, 2, 4)]
    assert pec15_words(*words) == pec15(data)


@given(st.binary(min_size=1, max_size=12), st.integers(min_value=0, max_value=1000))
def test_any_single_bit_flip_is_detected(data: bytes, bit_seed: int) -> None:
    frame = bytearray(append_pec(data))
    assert check_pec(frame)
    bit = bit_seed % (8 * len(frame))
    frame[bit // 8] ^= 1 << (bit % 8)
    assert not check_pec(frame)


def test_pec_lsb_is_always_zero() -> None:
    assert all(pec15(bytes([b, b ^ 0x5A])) & 1 == 0 for b in range(256))


def test_a_frame_too_short_to_hold_data_and_a_pec_never_passes() -> None:
    """A PEC alone (2 bytes, whatever their value) or nothing is no valid frame."""
    from bmsgateway.hal.ltc681x.pec import check_pec, pec15

    empty_pec = pec15(b"")
    assert not check_pec(bytes((empty_pec >> 8, empty_pec & 0xFF)))
    assert not check_pec(b"") and not check_pec(b"\x01")
    assert check_pec(bytes((0x42, *divmod(pec15(b"\x42"), 256))))  # one data byte and its PEC
