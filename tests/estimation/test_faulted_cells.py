"""A cell under a sense, open-wire or plausibility fault drives neither pack SOC nor full/empty."""

from __future__ import annotations

import numpy as np
import pytest

from bmsgateway.config import parse_config
from bmsgateway.estimation import Estimator
from bmsgateway.estimation.faulted import untrusted_cells
from bmsgateway.state import ActiveCondition, ProtectionStatus, Severity
from tests.estimation.helpers import measurement


def _four_cells() -> Estimator:
    cfg = parse_config({
        "pack": {"capacity_ah": 10.0, "boards": [{"cells": 4, "thermistors": 1}]},
        "estimation": {"initial_soc_pct": 50.0, "initial_soc_std_pct": 5.0},
    }, "test")
    return Estimator(cfg, None)


def _run(est: Estimator, prev: ProtectionStatus | None, seconds: int = 1800) -> None:
    """Discharge at 0.5 A with cell 2 reading 0.1 V above Vmax (LFP: 3.8 V), the others at 3.28 V."""
    for k in range(seconds):
        est.update(measurement(float(k + 1), [3.28, 3.28, 3.8, 3.28], -0.5), prev)


def test_a_cell_reading_over_vmax_drives_pack_soc_without_the_exclusion() -> None:
    est = _four_cells()
    _run(est, None)
    assert est.last.cell_soc_pct[2] > 95.0
    assert est.last.soc_pct > 95.0  # the defect of issue 8 item 12: 100 % while discharging


def test_cell_under_over_voltage_fault_is_left_out_of_pack_soc_and_full() -> None:
    est = _four_cells()
    ov = ActiveCondition("cell_over_voltage", Severity.FAULT, 3.8, 3.7, location=2)
    _run(est, ProtectionStatus(active=(ov,)))
    s = est.last
    assert s.soc_excluded_cells == (2,)
    # Cell 2 is only counted: 50 % minus 0.25 Ah of 10 Ah.
    assert s.cell_soc_pct[2] == pytest.approx(47.5, abs=1.0)
    assert s.soc_pct < 60.0  # the pack follows the healthy cells down
    assert s.soc_pct == pytest.approx(min(s.cell_soc_pct[i] for i in (0, 1, 3)), abs=0.5)
    assert not s.soc_calibrated or s.soc_pct < 60.0


def test_open_sense_wire_excludes_both_neighbouring_cells() -> None:
    ow = ActiveCondition("open_sense_wire", Severity.FAULT, 1.0, 1.0, location=2)  # between cells 1 and 2
    pack_wide = ActiveCondition("pack_voltage_implausible", Severity.FAULT, 1.0, 1.0, location=-1)
    mask = untrusted_cells(ProtectionStatus(active=(ow, pack_wide)), 4)
    assert mask.tolist() == [False, True, True, False]
    warning = ActiveCondition("cell_over_voltage", Severity.WARNING, 3.6, 3.55, location=0)
    under = ActiveCondition("cell_under_voltage", Severity.FAULT, 2.5, 2.8, location=3)
    assert not untrusted_cells(ProtectionStatus(active=(warning, under)), 4).any()
    assert np.array_equal(untrusted_cells(None, 4), np.zeros(4, dtype=bool))
