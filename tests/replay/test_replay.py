"""Replay: a simulator trace replayed gives the live estimates; bad input is a clean exit 2."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import pytest

from bmsgateway.commands import replay as replay_cmd
from bmsgateway.commands.bench_soc import SimDriver, bench_config
from bmsgateway.config import Config
from bmsgateway.estimation import Estimator
from bmsgateway.replay import TraceError, read_trace, replay


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    replay_cmd.register(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


def _record(path: Path, hours: float) -> list[float]:
    """Run the simulator with a live estimator, write the trace, return the live pack SOCs."""
    config = bench_config(seed=3)
    driver = SimDriver(config)
    est = Estimator(config, None)
    live: list[float] = []
    n = config.pack.cell_count
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["time_s", "current_a", *(f"v{k + 1}" for k in range(n))])
        for _ in range(round(hours * 3600)):
            driver.step(1.0)
            m = driver.measure()
            live.append(est.update(m, None).soc_pct)
            w.writerow([repr(m.time_s), repr(m.current_a), *(repr(v) for v in m.cell_voltages_v)])
    return live


def test_replay_of_simulator_trace_matches_live_run(tmp_path: Path) -> None:
    trace_path = tmp_path / "trace.csv"
    live = _record(trace_path, hours=1.0)
    result = replay(read_trace(trace_path), bench_config(seed=3), protection=False)
    replayed = [r.soc_pct for r in result.rows]
    assert len(replayed) == len(live)
    assert replayed == pytest.approx(live, abs=1e-9)

    out = tmp_path / "result.csv"
    assert _cli(["replay", str(trace_path), "--out", str(out), "--no-protection"]) == 0
    rows = list(csv.reader(out.open()))
    assert rows[0][:3] == ["time_s", "soc_pack", "soc_1"] and rows[0][-1] == "events"
    assert len(rows) == len(live) + 1
    assert float(rows[-1][1]) == pytest.approx(live[-1], abs=1e-3)


def test_json_summary_and_protection_events(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    n = Config().pack.cell_count
    lines = ["time_s,current_a," + ",".join(f"v{k + 1}" for k in range(n)) + ",t1,t2,t3,t4"]
    for k in range(60):
        volts = [3.3] * n
        if k >= 20:
            volts[4] = 3.9  # above Vmax of LFP (3.7 V)
        lines.append(f"{k * 0.1:.1f},2.0," + ",".join(map(str, volts)) + ",25,25,25,25")
    trace = tmp_path / "ov.csv"
    trace.write_text("\n".join(lines) + "\n")
    out = tmp_path / "res.csv"
    assert _cli(["replay", str(trace), "--json", "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rows"] == 60 and summary["cells"] == n and summary["protection"] is True
    assert 0.0 <= summary["final_soc_pct"] <= 100.0
    # Six seconds teach no capacity: SOH is unknown (null), not the rated 100 %.
    assert summary["soh_pct"] is None and summary["cell_capacity_learnt"] == [False] * n
    assert summary["soc_sigma_pct"] > 0.0
    text = out.read_text()
    assert "raised:cell_over_voltage@4" in text


def test_cell_count_from_header_wins(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "four.csv"
    trace.write_text("time_s,current_a,v1,v2,v3,v4\n0,0,3.3,3.3,3.3,3.3\n1,0,3.3,3.3,,3.3\n")
    assert _cli(["replay", str(trace), "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["cells"] == 4
    assert "using the trace's 4 cells" in captured.err


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "empty file"),
        ("time,current_a,v1\n0,0,3.3\n", "header must start"),
        ("time_s,current_a,v1,v3\n0,0,3.3,3.3\n", "v1..vN"),
        ("time_s,current_a,v1\n0,0,abc\n", ":2: not a number"),
        ("time_s,current_a,v1\n1,0,3.3\n0.5,0,3.3\n", ":3: time_s 0.5 is not after"),
        ("time_s,current_a,v1\n0,0\n", ":2: 2 fields"),
        ("time_s,current_a,v1\n", "no data rows"),
    ],
)
def test_bad_trace_is_reported_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, needle: str
) -> None:
    trace = tmp_path / "bad.csv"
    trace.write_text(text)
    with pytest.raises(TraceError, match=needle):
        read_trace(trace)
    assert _cli(["replay", str(trace)]) == 2
    assert needle in capsys.readouterr().err


def test_missing_trace_and_bad_config_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli(["replay", str(tmp_path / "nope.csv")]) == 2
    bad = tmp_path / "bad.toml"
    bad.write_text("[estimation]\nfilter_interval_s = -1\n")
    good = tmp_path / "t.csv"
    good.write_text("time_s,current_a,v1\n0,0,3.3\n")
    assert _cli(["replay", str(good), "--config", str(bad)]) == 2
    assert "filter_interval_s" in capsys.readouterr().err


def _short_reference(tmp_path: Path, hours: float) -> Path:
    """The first hours of the PyBaMM LFP data set, as a reference folder."""
    import gzip
    import shutil

    src = Path(__file__).resolve().parents[1] / "data" / "pybamm" / "lfp"
    dst = tmp_path / "lfp_short"
    dst.mkdir()
    for name in ("ocv.csv", "cell.json", "meta.json"):
        shutil.copy(src / name, dst / name)
    for name in ("trace.csv", "truth.csv"):
        lines = gzip.decompress((src / f"{name}.gz").read_bytes()).decode().splitlines()
        (dst / name).write_text("\n".join(lines[: 1 + round(hours * 360)]) + "\n")
    return dst


def test_replay_scores_against_truth(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bmsgateway.commands import bench_soc

    ref = _short_reference(tmp_path, hours=3.0)
    cfg = tmp_path / "lfp.toml"
    # The config a user writes for these cells: their OCV table, thresholds and rated capacity.
    table = [[float(s) * 100, float(v)] for s, v in (r.split(",") for r in (ref / "ocv.csv").read_text().split()[1:])]
    cfg.write_text(
        "[pack]\ncapacity_ah = 2.3\n[[pack.boards]]\ncells = 4\nthermistors = 1\n"
        f"[pack.chemistry]\npreset = \"LFP\"\nvmin_v = 2.9\nvbalance_v = 3.45\nvmax_v = 3.6\nocv_table = {table}\n"
    )
    assert _cli(["replay", str(ref / "trace.csv"), "--config", str(cfg), "--truth", str(ref / "truth.csv"),
                 "--skip", "2h", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    s = summary["score"]
    assert s["scored_rows"] == 360  # the third hour, 10 s rows
    assert len(s["cells"]) == 4
    for c in s["cells"]:
        assert set(c) == {"rms_pp", "max_pp", "coverage_2sigma_pct", "mean_sigma_pp"}
        assert c["rms_pp"] < 5.0 and 0.0 <= c["coverage_2sigma_pct"] <= 100.0
    assert s["pack"]["rms_pp"] < 5.0
    assert len(summary["cell_soc_sigma_pct"]) == 4

    # The same folder through bench soc --reference: the folder's own config is derived.
    args = argparse.Namespace(reference=str(ref), skip="2h", json=True, days=10.0, step=1.0, seed=1)
    assert bench_soc.run(args) == 0
    (r,) = json.loads(capsys.readouterr().out)
    assert r["dataset"] == "lfp_short" and r["scored_rows"] == 360
    assert r["capacity"]["true_capacity_ah"][0] == pytest.approx(2.372555)

    # A truth file that does not fit is a clean exit 2.
    (tmp_path / "bad.csv").write_text("time_s,soc_1\n0,0.5\n")
    assert _cli(["replay", str(ref / "trace.csv"), "--truth", str(tmp_path / "bad.csv"), "--json"]) == 2
    assert "truth has 1 cells" in capsys.readouterr().err
