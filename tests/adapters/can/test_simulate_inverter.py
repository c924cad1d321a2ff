"""``simulate --inverter DIALECT`` closes the loop on a virtual CAN bus; ``--inverter none`` keeps
the open loop where only the allow-charge relay stops the charger."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bmsgateway.cli import main

#: simulated hours cost ~30 s on an idle 2-core machine; a loaded one needs more than the default 120 s
pytestmark = pytest.mark.timeout(900)
ARGS = ["simulate", "--duration", "1h", "--period", "10", "--summary-every", "10m", "--json"]


def _run(tmp_path: Path, capsys: pytest.CaptureFixture[str], inverter: str) -> list[dict]:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[simulator]\nstart_hour = 11.0\ninitial_soc_pct = 85.0\n[pack]\ncapacity_ah = 40.0\n")
    assert main([*ARGS, "-c", str(cfg), "--inverter", inverter]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_closed_loop_tapers_under_cvl_and_open_loop_cuts_the_relay(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    closed = _run(tmp_path, capsys, "victron")
    summaries = [r for r in closed if r["type"] in ("summary", "final")]
    # Full by noon: the charger holds CVL, the current has tapered to almost nothing, the relay stays on.
    assert summaries[-1]["soc_pct"] > 97 and 0 <= summaries[-1]["current_a"] < 3.0
    assert all(r["charge"] for r in summaries[1:])
    assert not [r for r in closed if r["type"] == "event" and r.get("condition") == "allow_charge"
                and r.get("message") == "off"]
    opened = _run(tmp_path, capsys, "none")
    # Open loop: the scenario's PV runs at full current until the allow-charge relay cuts it.
    offs = [r for r in opened if r["type"] == "event" and r.get("condition") == "allow_charge"
            and r.get("message") == "off"]
    assert offs, "the relay never cut the charger"
