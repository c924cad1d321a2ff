"""The driver's share of an acquisition cycle at 255 cells stays within the 1 ms budget."""

from __future__ import annotations

import pytest

from bmsgateway.hal.ltc681x.benchmark import driver_time_per_cycle_s


@pytest.mark.parametrize(("chip", "boards", "cells"), [("LTC6813", 15, 17), ("LTC6811", 22, 12)])
def test_driver_time_per_cycle_under_1_ms(chip: str, boards: int, cells: int) -> None:
    driver_s, _emulator_s = driver_time_per_cycle_s(chip, boards, cells, cycles=30)
    assert driver_s < 1.0e-3
