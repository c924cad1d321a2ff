"""The compose stack, checked without a Docker engine: the file parses (docker-compose config),
every file a service mounts exists, each gateway's config is valid, and Prometheus scrapes exactly
the gateways' HTTP ports under the device ids the dashboard selects by."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"


def _compose(*args: str) -> str:
    r = subprocess.run(["docker-compose", "-f", str(DOCKER / "compose.yaml"), *args], check=False,
                       capture_output=True, text=True, timeout=120, cwd=DOCKER)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_compose_file_parses_with_and_without_the_fleet_profile() -> None:
    _compose("config", "-q")
    services = yaml.safe_load(_compose("--profile", "fleet", "config"))["services"]
    base = {n for n, s in services.items() if not s.get("profiles")}
    fleet = {n for n, s in services.items() if s.get("profiles") == ["fleet"]}
    assert base == {"bmsgateway", "mosquitto", "prometheus", "grafana"}
    assert fleet == {"gateway-a", "gateway-b", "gateway-c"}


def _services() -> dict[str, dict[str, object]]:
    doc = yaml.safe_load(_compose("--profile", "fleet", "config"))
    services: dict[str, dict[str, object]] = doc["services"]
    return services


def test_every_mounted_file_exists_and_every_gateway_config_is_valid() -> None:
    gateways = {}
    for name, svc in _services().items():
        for vol in svc.get("volumes", []):  # type: ignore[attr-defined]
            source = str(vol).split(":")[0]
            if source.startswith("/"):
                assert Path(source).exists(), f"{name} mounts missing {source}"
                if str(vol).split(":")[1] == "/etc/bmsgateway/bmsgateway.toml":
                    gateways[name] = Path(source)
        if svc.get("image") == "bmsgateway:local":
            assert name in gateways, f"{name} has no config mounted"
    assert set(gateways) == {"bmsgateway", "gateway-a", "gateway-b", "gateway-c"}
    for name, cfg in gateways.items():
        r = subprocess.run([sys.executable, "-m", "bmsgateway", "check-config", str(cfg)], check=False,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, f"{name}: {r.stderr}{r.stdout}"


def test_prometheus_scrapes_every_gateway_on_its_http_port_and_grafana_reads_that_prometheus() -> None:
    services = _services()
    prom = yaml.safe_load((DOCKER / "prometheus" / "prometheus.yml").read_text())
    targets = {
        t: sc["labels"]["gateway"]
        for job in prom["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]
    }
    expected = {}
    for name, svc in services.items():
        if svc.get("image") != "bmsgateway:local":
            continue
        vols = [str(v) for v in svc["volumes"]]  # type: ignore[attr-defined]
        cfg_path = next(v.split(":")[0] for v in vols if ":/etc/bmsgateway/bmsgateway.toml" in v)
        cfg = tomllib.loads(Path(cfg_path).read_text())
        assert cfg["http"]["enabled"] and cfg["http"]["host"] == "0.0.0.0"
        expected[f"{name}:{cfg['http']['port']}"] = cfg["mqtt"]["device_id"]
    assert targets == expected
    assert len(set(expected.values())) == len(expected)  # one device id per gateway
    ds = yaml.safe_load((DOCKER / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text())
    url = ds["datasources"][0]["url"]
    assert url == "http://prometheus:9090" and "prometheus" in services
    ports = [str(p) for p in services["prometheus"]["ports"]]  # type: ignore[attr-defined]
    assert any("9090" in p for p in ports)
