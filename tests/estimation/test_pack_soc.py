"""Pack SOC definition: the lowest cell's SOC, continuous, 0 % at the first empty cell, 100 % at full."""

from __future__ import annotations

import numpy as np
import pytest

from bmsgateway.estimation.pack_soc import pack_figures


def test_pack_soc_is_the_lowest_cells_soc_and_its_sigma() -> None:
    soc = np.array([0.50, 0.42, 0.61])
    std = np.array([0.01, 0.02, 0.03])
    fig = pack_figures(soc, np.array([100.0, 110.0, 90.0]), 100.0, std)
    assert fig.soc_pct == pytest.approx(42.0)
    assert fig.soc_sigma_pct == pytest.approx(2.0)


def test_pack_soc_does_not_jump_when_the_cell_with_the_least_charge_changes() -> None:
    # Two cells with nearly the same charge at SOCs two points apart: a 0.4 % change of one
    # capacity swaps which holds less charge. The pack figure must not jump with it (the least
    # charge cell's SOC would go 40 % -> 38 %), since capacities are never known that well.
    soc = np.array([0.40, 0.38])
    before = pack_figures(soc, np.array([100.0, 104.8]), 100.0)
    after = pack_figures(soc, np.array([100.0, 105.6]), 100.0)
    assert int((soc * np.array([100.0, 104.8])).argmin()) == 1  # 39.8 Ah against 40 Ah
    assert int((soc * np.array([100.0, 105.6])).argmin()) == 0  # 40 Ah against 40.1 Ah
    assert before.soc_pct == pytest.approx(after.soc_pct)
    assert before.soc_pct == pytest.approx(38.0)


def test_pack_soc_reaches_zero_exactly_when_the_first_cell_is_empty() -> None:
    # A small cell at a higher SOC holds less charge than a large one: discharging both with the
    # same current, the small one empties first, and the pack reads 0 % then and not before.
    cap = np.array([90.0, 110.0])
    soc0 = np.array([0.30, 0.28])  # 27 Ah and 30.8 Ah
    first_empty_ah = float((soc0 * cap).min())
    for drawn_ah in np.linspace(0.0, first_empty_ah, 50):
        fig = pack_figures(soc0 - drawn_ah / cap, cap, 100.0)
        if drawn_ah < first_empty_ah - 1e-9:
            assert fig.soc_pct > 0.0
    assert fig.soc_pct == pytest.approx(0.0, abs=1e-9)


def test_pack_soc_rises_to_100_as_the_fullest_cell_reaches_full() -> None:
    cap = np.array([100.0, 100.0])
    assert pack_figures(np.array([0.95, 1.0]), cap, 100.0).soc_pct == pytest.approx(100.0)
    mid = pack_figures(np.array([0.95, 0.985]), cap, 100.0).soc_pct
    assert 95.0 < mid < 100.0
    assert pack_figures(np.array([0.90, 0.96]), cap, 100.0).soc_pct == pytest.approx(90.0)
