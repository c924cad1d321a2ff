"""The exporter as Prometheus and Grafana see it: promtool, a real Prometheus, the dashboard's queries."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bmsgateway.adapters.http.metrics import METRICS, metric_names, render_markdown
from bmsgateway.config import Config
from bmsgateway.persist.state import SavedState, encode_state
from tests.adapters.http.conftest import Web, start_web

ROOT = Path(__file__).resolve().parents[3]
DASHBOARD = ROOT / "docker" / "grafana" / "dashboards" / "bmsgateway.json"
PROMQL_WORDS = {"sum", "by", "min", "max", "rate", "increase", "histogram_quantile", "or", "vector", "le",
                "count", "avg", "without", "on", "and", "unless"}


def dashboard_queries(gateway: str = ".*") -> list[str]:
    """Every panel query, with the dashboard's gateway selector set as Grafana would ("All" = .*)."""
    dash = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    out = []
    for panel in dash["panels"]:
        for target in panel.get("targets", []):
            out.append(target["expr"].replace("$gateway", gateway))
    return out


def test_every_panel_follows_the_gateway_selector() -> None:
    """A fleet shares one Prometheus: every bms_ selector of every panel is filtered by $gateway."""
    dash = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    var = next(v for v in dash["templating"]["list"] if v["name"] == "gateway")
    assert "label_values(bms_up, gateway)" in json.dumps(var["query"])
    for panel in dash["panels"]:
        for target in panel.get("targets", []):
            selectors = re.findall(r"bms_[a-z_]+(\{[^}]*\})?", target["expr"])
            assert selectors and all('gateway=~"$gateway"' in s for s in selectors), target["expr"]


def test_metrics_doc_is_current() -> None:
    assert (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8") == render_markdown(), (
        "docs/metrics.md is out of date: run `python -m bmsgateway.adapters.http.metrics > docs/metrics.md`"
    )


def test_metric_names_follow_the_conventions() -> None:
    for m in METRICS:
        assert re.fullmatch(r"bms_[a-z_]+", m.name), m.name
        assert m.name.endswith("_total") == (m.kind == "counter"), m.name


def test_no_panel_queries_a_metric_the_exporter_lacks() -> None:
    exported = metric_names()
    queries = dashboard_queries()
    assert len(queries) >= 20
    used = set()
    for q in queries:
        names = {w for w in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", re.sub(r'"[^"]*"|\[[^\]]*\]', "", q))
                 if w.startswith("bms_")}
        assert names, f"query names no bms_ metric: {q}"
        assert names <= exported, f"{q}: not exported: {names - exported}"
        used |= names
    # every part of the dashboard is there
    for needed in ("bms_cell_voltage_volts", "bms_temperature_celsius", "bms_pack_current_amperes",
                   "bms_pack_power_watts", "bms_state_of_charge_ratio", "bms_charge_current_limit_amperes",
                   "bms_faults_raised_total", "bms_cell_voltage_spread_volts"):
        assert needed in used, needed


async def _scrape(web: Web) -> str:
    async with web.session.get(web.url("/metrics")) as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain")
        return await r.text()


async def _raise_a_fault(web: Web) -> None:
    web.inject("cell_ov:3")
    for _ in range(100):
        if "bms_condition_active{" in await _scrape(web):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("no condition became active")


async def test_promtool_accepts_a_scrape(web: Web) -> None:
    await _raise_a_fault(web)
    text = await _scrape(web)
    done = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "" and done.stderr.strip() == "", done.stdout + done.stderr  # no lint hints
    for n in ("bms_cell_voltage_volts{board=\"1\",cell=\"1\"}", "bms_cycle_duration_seconds_bucket",
              "bms_faults_raised_total{", "bms_up 1.0"):
        assert n in text, n
    # the SOC comes with its 1-sigma (issue 14), as a ratio like the SOC itself
    sigma = float(re.search(r"^bms_state_of_charge_sigma_ratio (\S+)$", text, re.M).group(1))  # type: ignore[union-attr]
    assert 0.0 < sigma < 0.5


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _query(web: Web, base: str, q: str) -> list[Any]:
    async with web.session.get(f"{base}/api/v1/query", params={"query": q}) as r:
        body = await r.json()
    assert body["status"] == "success", (q, body)
    result: list[Any] = body["data"]["result"]
    return result


@pytest.fixture
async def learnt_web(tmp_path: Path) -> AsyncIterator[Web]:
    """A gateway that learnt its cells' capacity in an earlier run (SOH is known, not "not yet")."""
    cells = Config().pack.cell_count
    saved = SavedState(cell_capacity_ah=[96.0] * cells, cell_capacity_std_ah=[0.5] * cells)
    (tmp_path / "state.json").write_bytes(encode_state(saved))
    w = await start_web(tmp_path)
    try:
        yield w
    finally:
        await w.session.close()
        await w.daemon.stop()


async def test_a_real_prometheus_runs_every_dashboard_query(learnt_web: Web, tmp_path: Path) -> None:
    web = learnt_web
    promtool_dir = shutil.which("prometheus")
    assert promtool_dir, "prometheus is not installed (scripts/test installs it)"
    assert web.daemon.store.latest is not None and web.daemon.store.latest.estimate.soh_pct < 100.0
    await _raise_a_fault(web)
    port = _free_port()
    target = web.base.removeprefix("http://")
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"scrape_configs:\n  - job_name: bmsgateway\n    static_configs:\n      - targets: ['{target}']\n",
        encoding="utf-8",
    )
    proc = subprocess.Popen(
        ["prometheus", f"--config.file={cfg}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        stdout=subprocess.DEVNULL, stderr=open(tmp_path / "prometheus.log", "wb"),  # noqa: SIM115
    )
    base = f"http://127.0.0.1:{port}"
    try:
        # Wait for a few scrapes: rate() and increase() need two samples in their window.
        for _ in range(300):
            try:
                got = await _query(web, base, 'count_over_time(up{job="bmsgateway"}[1m])')
                if got and float(got[0]["value"][1]) >= 4:
                    break
            except Exception:
                pass
            assert proc.poll() is None, (tmp_path / "prometheus.log").read_text()
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("Prometheus did not scrape the daemon: " + (tmp_path / "prometheus.log").read_text())
        up = await _query(web, base, 'up{job="bmsgateway"}')
        assert float(up[0]["value"][1]) == 1.0
        empty = []
        for q in dashboard_queries():
            if not await _query(web, base, q):
                empty.append(q)
        assert not empty, f"dashboard queries that return no data: {empty}"
        cells = await _query(web, base, "bms_cell_voltage_volts")
        assert len(cells) == 16 and {c["metric"]["board"] for c in cells} == {"1", "2"}
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def test_other_adapters_counters_are_exported(tmp_path: Path) -> None:
    """Modbus requests and errors reach /metrics through the seam (the Modbus servers run in a
    child process; their counters come back with the snapshot feed)."""
    from pymodbus.client import AsyncModbusTcpClient

    web = await start_web(tmp_path, extra={"modbus": {"tcp": {"enabled": True, "port": 0}}})
    try:
        modbus = next(a for a in web.daemon.adapters if a.name == "modbus")
        assert await modbus.wait_serving()  # type: ignore[attr-defined]
        async with AsyncModbusTcpClient("127.0.0.1", port=modbus.tcp_port) as client:  # type: ignore[attr-defined]
            for _ in range(5):
                r = await client.read_holding_registers(0, count=10, device_id=1)
                assert not r.isError()
            bad = await client.read_holding_registers(60000, count=10, device_id=1)
            assert bad.isError()  # exception 02: counted as an error
        values: dict[str, float] = {}
        for _ in range(100):
            text = await _scrape(web)
            values = {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines()
                      if line.startswith(("bms_adapter_requests_total", "bms_adapter_errors_total"))}
            if values.get('bms_adapter_errors_total{adapter="modbus"}', 0.0) >= 1.0:
                break
            await asyncio.sleep(0.1)
        assert values['bms_adapter_requests_total{adapter="modbus"}'] >= 6.0
        assert values['bms_adapter_errors_total{adapter="modbus"}'] >= 1.0
        assert 'bms_adapter_requests_total{adapter="http"}' not in values  # HTTP counts itself, by handler
    finally:
        await web.session.close()
        await web.daemon.stop()
