"""Small CLI defects found in the safety review: broken pipes, bad --speed, 60-second times,
injections after the end of the run, and --inject on `bmsgateway run`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bmsgateway.commands.common import fmt_time

REPO = Path(__file__).resolve().parents[2]
PY = sys.executable


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PY, "-m", "bmsgateway", *args], capture_output=True, text=True, timeout=timeout,
                          check=False)


def _piped_to_head(command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-o", "pipefail", "-c", f"{command} | head -n 2"], capture_output=True,
                          text=True, timeout=120, check=False)


def test_simulate_into_head_exits_quietly() -> None:
    res = _piped_to_head(f"{PY} -m bmsgateway simulate --duration 12h --period 1 --summary-every 1s")
    assert len(res.stdout.splitlines()) == 2
    assert "Traceback" not in res.stderr and "BrokenPipe" not in res.stderr, res.stderr
    assert res.returncode == 0


def test_replay_into_head_exits_quietly(tmp_path: Path) -> None:
    trace = tmp_path / "t.csv"
    rows = ["time_s,current_a," + ",".join(f"v{i}" for i in range(1, 17))]
    rows += [f"{t},-5.0," + ",".join(["3.30"] * 16) for t in range(20000)]
    trace.write_text("\n".join(rows) + "\n")
    res = _piped_to_head(f"{PY} -m bmsgateway replay {trace}")
    assert len(res.stdout.splitlines()) == 2
    assert "Traceback" not in res.stderr and "BrokenPipe" not in res.stderr, res.stderr
    assert res.returncode == 0


def test_bad_speed_is_a_usage_error() -> None:
    for cmd in (("simulate", "--duration", "10s"), ("run", "--duration", "1s")):
        res = cli(*cmd, "--speed", "fast")
        assert res.returncode == 2
        assert "--speed 'fast': expected 'max'" in res.stderr and "Traceback" not in res.stderr
    res = cli("simulate", "--duration", "10s", "--speed", "-3")
    assert res.returncode == 2 and "positive factor" in res.stderr


def test_times_never_print_sixty_seconds() -> None:
    assert fmt_time(1499.9996) == "00:25:00.000"
    assert fmt_time(3599.9999) == "01:00:00.000"
    assert fmt_time(61.25) == "00:01:01.250"
    assert fmt_time(90061.5) == "25:01:01.500"


def test_injection_after_the_end_is_an_error() -> None:
    res = cli("simulate", "--duration", "10m", "--inject", "cell_ov:1@20m")
    assert res.returncode == 2
    assert "after the end of the run" in res.stderr and "00:20:00.000" in res.stderr
    res = cli("run", "--duration", "5s", "--inject", "cell_ov:1@1m")
    assert res.returncode == 2 and "after the end of the run" in res.stderr


def test_run_injects_a_fault_on_the_simulated_backend(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.toml"
    cfg.write_text((REPO / "config" / "bmsgateway.toml").read_text().replace("port = 5020", "port = 0"))
    res = cli("run", "--config", str(cfg), "--state-dir", str(tmp_path / "st"), "--inject", "cell_ov:5@1s",
              "--duration", "4s", timeout=60)
    assert res.returncode == 0, res.stderr
    lines = [json.loads(x) for x in res.stdout.splitlines() if x.startswith("{")]
    injected = [r for r in lines if r["event"] == "fault_injected"]
    assert [r["fault"] for r in injected] == ["cell_ov:5@1s"]
    raised = [r for r in lines if r["event"] == "event" and r.get("kind") == "raised" and r["severity"] == "fault"]
    assert raised and raised[0]["condition"] == "cell_over_voltage" and raised[0]["location"] == 5
    assert lines[-1]["event"] == "stopped"
