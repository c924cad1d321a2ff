"""`bmsgateway simulate` and `bmsgateway bench loop` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bmsgateway", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def test_simulate_prints_injection_event_and_output_change_with_simulated_time() -> None:
    res = cli("simulate", "--scenario", "constant", "--duration", "2m", "--inject", "cell_ov:5@1m", "--json")
    assert res.returncode == 0, res.stderr
    lines = [json.loads(x) for x in res.stdout.splitlines()]
    inj = [r for r in lines if r["type"] == "injection"]
    assert [r["fault"] for r in inj] == ["cell_ov:5@1m"]
    assert inj[0]["time"].startswith("00:01:00")
    raised = [r for r in lines if r["type"] == "event" and r["kind"] == "raised" and r["severity"] == "fault"]
    assert raised[0]["condition"] == "cell_over_voltage" and raised[0]["location"] == 5
    assert raised[0]["time"].startswith("00:01:01")  # 1 s set delay
    offs = [r for r in lines if r["type"] == "event" and r["kind"] == "output" and r["condition"] == "charge"]
    assert offs[-1]["value"] == 0.0 and offs[-1]["time"] >= raised[0]["time"]
    final = lines[-1]
    assert final["type"] == "final" and final["simulated_s"] >= 119 and "cell_over_voltage" in final["faults"]


def test_a_cell_sense_fault_at_rest_is_not_taken_for_a_frozen_current_sensor() -> None:
    """At rest the current reads exactly 0 A (dead band) every cycle; one cell's reading jumping to
    3.8 V is that cell's fault, not evidence that the current sensor froze (it was, while the
    frozen-sensor check used the mean cell voltage: both contactors opened for a sense fault)."""
    res = cli("simulate", "--scenario", "idle", "--duration", "90s", "--inject", "cell_ov:5@60s", "--json")
    assert res.returncode == 0, res.stderr
    final = json.loads(res.stdout.splitlines()[-1])
    assert "cell_over_voltage" in final["faults"]
    assert "current_sensor_stuck" not in final["faults"]


def test_simulate_text_output_runs_faster_than_real_time() -> None:
    res = cli("simulate", "--duration", "1h", "--period", "1", "--summary-every", "30m")
    assert res.returncode == 0, res.stderr
    assert sum(1 for ln in res.stdout.splitlines() if "SUMMARY" in ln) == 2
    assert res.stdout.splitlines()[-1].split()[0].startswith("00:59:59")


def test_simulate_rejects_unknown_fault_and_board() -> None:
    res = cli("simulate", "--duration", "10s", "--inject", "melt:3@5s")
    assert res.returncode == 2 and "unknown fault kind 'melt'" in res.stderr
    res = cli("simulate", "--duration", "10s", "--inject", "dead_board:9@5s")
    assert res.returncode == 2 and "board 9 does not exist" in res.stderr


def test_bench_loop_prints_one_json_object() -> None:
    res = cli("bench", "loop", "--cells", "96", "--cycles", "20", "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["cells"] == 96 and out["cycles"] == 20
    assert 0 < out["per_cycle_ms"] < 50 and out["emulator_ms"] > 0


def test_simulate_csv_profile_and_its_errors(tmp_path: Path) -> None:
    good = tmp_path / "load.csv"
    good.write_text("time_s,current_a\n0,20\n60,20\n120,-10\n")
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[simulator]\nscenario = "csv"\ncsv_path = "{good}"\n')
    res = cli("simulate", "--config", str(cfg), "--duration", "90s", "--summary-every", "50s", "--json")
    assert res.returncode == 0, res.stderr
    summaries = [json.loads(x) for x in res.stdout.splitlines() if '"summary"' in x]
    assert summaries[-1]["current_a"] > 15.0  # the profile's 20 A charge at 50 s
    res = cli("simulate", "--scenario", "csv", "--duration", "10s")
    assert res.returncode == 2 and "needs simulator.csv_path" in res.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("time_s,current_a\n0,5\nx,3\n")
    cfg.write_text(f'[simulator]\nscenario = "csv"\ncsv_path = "{bad}"\n')
    res = cli("simulate", "--config", str(cfg), "--duration", "10s")
    assert res.returncode == 2 and "bad.csv:3" in res.stderr and "Traceback" not in res.stderr
