"""Open sense wires: the emulator's ADOW physics plus the driver's datasheet algorithm."""

from __future__ import annotations

import pytest

from bmsgateway.hal.ltc681x import detect_open_wires
from bmsgateway.hal.ltc681x.driver import LTC681xChain
from tests.hal.ltc681x_helpers import make_rig


@pytest.mark.parametrize(
    ("chips", "used", "board", "wire"),
    [
        (["LTC6811", "LTC6811"], [12, 12], 1, 0),  # bottom (C0)
        (["LTC6811", "LTC6811"], [12, 12], 0, 5),  # middle
        (["LTC6811", "LTC6811"], [12, 12], 1, 12),  # top
        (["LTC6811", "LTC6813"], [12, 16], 1, 16),  # top of a partly used LTC6813
        (["LTC6813"], [18], 0, 1),
        (["LTC6813"], [18], 0, 17),
    ],
)
def test_open_wire_found_on_the_right_board(chips: list[str], used: list[int], board: int, wire: int) -> None:
    rig = make_rig(chips, used)
    rig.afe.open[board] = frozenset({wire})
    pu, pd = rig.open_wire_readings()
    expected = [[wire] if b == board else [] for b in range(len(chips))]
    assert detect_open_wires(pu, pd, used) == expected
    assert LTC681xChain.detect_open_wires(pu, pd, used) == expected


def test_no_open_wire_no_report() -> None:
    rig = make_rig(["LTC6811", "LTC6813"], [10, 18])
    pu, pd = rig.open_wire_readings()
    assert detect_open_wires(pu, pd, [10, 18]) == [[], []]


def test_two_separate_open_wires() -> None:
    rig = make_rig(["LTC6811"], [12])
    rig.afe.open[0] = frozenset({3, 9})
    pu, pd = rig.open_wire_readings()
    assert detect_open_wires(pu, pd, [12]) == [[3, 9]]


def test_open_interior_wire_distorts_plain_adcv_readings() -> None:
    rig = make_rig(["LTC6811"], [12])
    before = rig.cells().values[0]
    rig.afe.open[0] = frozenset({4})
    after = rig.cells().values[0]
    assert after[3] != before[3] and after[4] != before[4]
    assert after[3] + after[4] == pytest.approx(before[3] + before[4], abs=2e-4)


def test_algorithm_on_hand_made_readings() -> None:
    # Cell 3 reads 0 V with pull-up and double with pull-down: wire C2 is open.
    pu = [[3.3, 3.3, 0.0, 6.6, 3.3]]
    pd = [[3.3, 0.0, 6.6, 3.3, 3.3]]
    assert detect_open_wires(pu, pd, [5]) == [[2]]
    nan = float("nan")
    assert detect_open_wires([[nan] * 5], [[nan] * 5], [5]) == [[]]
