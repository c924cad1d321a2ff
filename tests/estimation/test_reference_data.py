"""The estimator on data it was not built from: PyBaMM (DFN) traces of LFP and NMC packs.

Each data set is 3 solar days of 4 cells in series with a current sensor offset and gain error,
3 mV voltage noise, cell capacities a few % off the rated one and no full/empty point ever
reached (``tests/data/pybamm/README.md``). The estimator starts with no saved state (50 % +/- 30)
and is scored after the first 2 hours, with the product's own scoring (``replay.score``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bmsgateway.replay import GOALS, score_reference

DATA = Path(__file__).resolve().parents[1] / "data"
#: The shared traces, then the extra ones made with ``scripts/pybamm_traces.py`` (other seeds,
#: weather, offsets and parameter sets; ``tests/data/pybamm_extra/README.md``).
DATASETS = ["pybamm/lfp", "pybamm/nmc", *sorted(
    f"pybamm_extra/{d.name}" for d in (DATA / "pybamm_extra").iterdir() if (d / "meta.json").exists()
)]


@pytest.mark.timeout(600)  # about 15 s each on an idle machine; CI machines are shared
@pytest.mark.parametrize("dataset", DATASETS)
def test_soc_goals_on_pybamm_data(dataset: str) -> None:
    folder = DATA / dataset
    r = score_reference(folder, skip_s=7200.0, protection=False)
    assert r["mean_cell_rms_pp"] <= GOALS["mean_cell_rms_pp"]
    assert r["max_cell_error_pp"] <= GOALS["max_cell_error_pp"]
    assert r["pack"]["rms_pp"] <= GOALS["pack_rms_pp"]
    # Honest uncertainty: the truth inside the published +/- 2 sigma most of the time, per cell
    # and for the pack.
    for cell in r["cells"]:
        assert cell["coverage_2sigma_pct"] >= GOALS["coverage_2sigma_pct"]
    assert r["pack"]["coverage_2sigma_pct"] >= GOALS["coverage_2sigma_pct"]
    assert r["goals_met"]
    # Capacity: a learnt capacity is within 3 % of the truth; one not learnt is flagged, and SOH
    # is then unknown rather than a made-up number.
    cap = r["capacity"]
    for err in cap["capacity_error_pct"]:
        assert err is None or abs(err) <= 3.0
    if cap["learnt_cells"] == 0:
        assert cap["soh_pct"] is None
    if cap["soh_pct"] is not None:
        assert math.isfinite(cap["soh_pct"])
    # The sensor offset is learnt with the right sign and size.
    true_offset = json.loads((folder / "meta.json").read_text(encoding="utf-8"))["current_offset_a"]
    assert r["current_offset_learnt_a"] == pytest.approx(true_offset, abs=0.5 * abs(true_offset))
