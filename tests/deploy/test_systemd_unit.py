"""The systemd unit as an installer gets it: verified by systemd itself, tied to the pack cycle."""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "systemd" / "bmsgateway.service"


def test_systemd_analyze_verify_accepts_the_unit_without_a_warning(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "bmsgateway"
    assert exe.exists()
    unit = tmp_path / "bmsgateway.service"
    unit.write_text(UNIT.read_text().replace("/opt/bmsgateway/.venv/bin/bmsgateway", str(exe)))
    r = subprocess.run(["systemd-analyze", "verify", str(unit)], check=False, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip() == "" and r.stdout.strip() == "", r.stderr + r.stdout


def _service() -> configparser.SectionProxy:
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    cp.optionxform = str  # type: ignore[assignment,method-assign]
    cp.read_string(UNIT.read_text())
    return cp["Service"]


def test_the_unit_is_notify_with_watchdog_restart_and_a_dedicated_user() -> None:
    s = _service()
    assert s["Type"] == "notify" and int(s["WatchdogSec"]) >= 2
    assert s["Restart"] == "on-failure"
    assert s["User"] == "bmsgateway" and set(s["SupplementaryGroups"].split()) >= {"spi", "gpio", "dialout"}
    assert s["StateDirectory"] == "bmsgateway" and "--state-dir /var/lib/bmsgateway" in s["ExecStart"]
    assert "AF_CAN" in s["RestrictAddressFamilies"]  # inverter CAN / CANopen over socketcan
    assert s["ExecStartPre"].split()[1:3] == ["check-config", "/etc/bmsgateway/bmsgateway.toml"]


def test_pi_example_config_is_valid_and_describes_real_hardware() -> None:
    r = subprocess.run([sys.executable, "-m", "bmsgateway", "check-config", str(REPO / "config" / "pi-example.toml")],
                       check=False, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr + r.stdout
    text = (REPO / "config" / "pi-example.toml").read_text()
    assert 'backend = "spidev"' in text and "[hardware.current_sensor]" in text and "[modbus.rtu]" in text
