"""The README's benchmark commands run and report their figures (short phases).

Why: a benchmark nobody runs rots. ``bench telemetry`` crashed at its first phase for a while
(it took the first adapter for the MQTT one) without any test noticing. These run each command
as a user does, with phases of a second or two, and check what the figures say about behaviour
(requests served, events delivered, no errors), never how fast this machine was.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.cli.test_simulate import cli

pytestmark = pytest.mark.timeout(300)


def _json(*args: str) -> Any:
    res = cli("bench", *args, "--json", timeout=240)
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout)


def _jitter_measured(phase: dict[str, Any]) -> None:
    assert phase["loop_jitter"]["cycles"] >= 3  # the pack cycle ran during the phase


def test_bench_telemetry_runs_every_phase_against_a_real_broker_and_loses_no_event() -> None:
    out = _json("telemetry", "--seconds", "2")
    m = out["mqtt"]
    for phase in ("baseline_no_mqtt", "publishing_uncapped", "publishing", "broker_flooded_no_mqtt",
                  "broker_flooded", "broker_restart"):
        _jitter_measured(m[phase])
    assert m["publishing"]["events_published_per_s"] > 0
    assert m["publishing_uncapped"]["events_dropped_total"] == 0
    restart = m["broker_restart"]
    assert restart["reconnects"] >= 1  # the broker really went away and came back
    assert restart["events_left_in_buffer"] == 0 and restart["events_dropped_total"] == 0


def test_bench_http_scrapes_metrics_and_state_with_the_cycle_on_its_own_thread() -> None:
    out = _json("http", "--cells", "32", "--seconds", "1")
    assert out["pack_cycle"] == "own thread"
    assert out["series_per_scrape"] > 100 and out["scrape_metrics"]["per_s"] > 0
    assert out["get_api_state"]["per_s"] > 0 and out["sse_snapshot_bytes"] > 0
    for phase in ("baseline", "metrics", "state"):
        assert out["loop_jitter"][phase]["n"] >= 3


def test_bench_can_puts_frames_on_the_bus_and_answers_sdo_reads() -> None:
    out = _json("can", "--seconds", "1")
    _jitter_measured(out["baseline_no_can"])
    can = out["with_can"]
    _jitter_measured(can)
    assert can["bus_frames_per_s"] > 0 and can["sdo_reads_per_s"] > 0 and can["sdo_errors"] == 0


def test_bench_modbus_serves_the_whole_map_without_errors() -> None:
    out = _json("modbus", "--clients", "4", "--seconds", "1")
    ours = out["bmsgateway"]
    assert ours["requests_per_s"] > 0 and ours["maps_per_s"] > 0 and ours["errors"] == 0
    assert out["bare_pymodbus"]["errors"] == 0
    _jitter_measured(ours)
