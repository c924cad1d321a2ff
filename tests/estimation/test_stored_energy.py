"""Issue 17 item 4: the energy still in the pack (remaining kWh), from the OCV curve."""

from __future__ import annotations

import pytest

from bmsgateway.estimation import Estimator
from tests.estimation.helpers import ModelCells
from tests.estimation.test_filter import _config, _run


def test_stored_energy_follows_soc_and_drops_by_the_energy_taken_out() -> None:
    cfg = _config(initial_soc_pct=60.0, initial_soc_std_pct=0.5)
    n, cap = cfg.pack.cell_count, cfg.pack.capacity_ah
    cells = ModelCells(cfg, 60.0)
    est = Estimator(cfg, None)
    t = _run(est, cells, 60.0, 0.0)
    before = est.last.stored_energy_wh
    # about SOC x capacity x nominal voltage (LFP: below the 60 % point the OCV is near 3.2..3.3 V)
    assert before == pytest.approx(0.6 * cap * n * 3.2, rel=0.05)
    _run(est, cells, 3600.0, -20.0, t0=t)
    after = est.last.stored_energy_wh
    # 20 Ah out: the stored energy falls by what the cells gave at their OCV (the counter sees the
    # terminal voltage, a little lower under load: within 3 %)
    assert before - after == pytest.approx(est.last.energy_out_wh, rel=0.03)
    assert after == pytest.approx(0.4 * cap * n * 3.2, rel=0.05)


def test_a_full_pack_stores_its_capacity_at_the_mean_ocv_and_an_empty_one_nothing() -> None:
    cfg = _config(initial_soc_pct=100.0, initial_soc_std_pct=0.5)
    est = Estimator(cfg, None)
    _run(est, ModelCells(cfg, 100.0), 30.0, 0.0)
    full = est.last.stored_energy_wh
    lim = cfg.pack.limits
    assert lim.vmin_v * cfg.pack.capacity_ah * cfg.pack.cell_count < full
    assert full < lim.vbalance_v * cfg.pack.capacity_ah * cfg.pack.cell_count
    cfg0 = _config(initial_soc_pct=0.0, initial_soc_std_pct=0.5)
    est0 = Estimator(cfg0, None)
    _run(est0, ModelCells(cfg0, 0.0), 30.0, 0.0)
    assert est0.last.stored_energy_wh == pytest.approx(0.0, abs=0.01 * full)
