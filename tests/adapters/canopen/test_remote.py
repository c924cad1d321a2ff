"""A canopen RemoteNode in another process reads our node by SDO, gets the abort codes, starts and
stops it by NMT, and receives its TPDOs and heartbeats; both processes share a python-can
``udp_multicast`` bus inside a network namespace this test creates (never the host network).
The node is the real daemon (``bmsgateway run``) on the simulated pack."""

from __future__ import annotations

import itertools
import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from bmsgateway.adapters.canopen.eds import render_eds
from bmsgateway.config import load_config

HERE = Path(__file__).resolve().parent
PIN = 4321
CONFIG = f"""
[system]
state_dir = "{{state}}"
[modbus]
pin = {PIN}
[modbus.tcp]
enabled = false
[can]
enabled = true
interface = "udp_multicast"
channel = "239.74.163.2"
[can.inverter]
enabled = false
[can.canopen]
enabled = true
node_id = 5
heartbeat_ms = 200
tpdo_period_s = 0.25
"""


@pytest.fixture(scope="module")
def seen(tmp_path_factory: pytest.TempPathFactory) -> dict:
    assert shutil.which("unshare"), "unshare (util-linux) is needed for the network namespace"
    tmp = tmp_path_factory.mktemp("canopen")
    cfg_path = tmp / "bmsgateway.toml"
    cfg_path.write_text(CONFIG.replace("{state}", str(tmp / "state")))
    eds = tmp / "bmsgateway.eds"
    eds.write_text(render_eds(load_config(cfg_path)))
    py = sys.executable
    script = f"""
set -e
ip link set lo up
ip route add 239.0.0.0/8 dev lo
{py} -m bmsgateway run -c {cfg_path} > {tmp}/daemon.log 2>&1 &
DAEMON=$!
set +e
{py} {HERE / 'remote_client.py'} {eds} 5 {PIN} > {tmp}/client.json 2> {tmp}/client.err
RC=$?
kill -TERM $DAEMON
wait $DAEMON
exit $RC
"""
    res = subprocess.run(["unshare", "--net", "sh", "-c", script], capture_output=True, text=True, timeout=90,
                         cwd=Path(__file__).resolve().parents[3], check=False)
    assert res.returncode == 0, (res.stderr, (tmp / "client.err").read_text(), (tmp / "daemon.log").read_text())
    out: dict = json.loads((tmp / "client.json").read_text())
    out["overrides"] = (tmp / "state" / "settings.json").read_text()
    return out


def test_sdo_reads_come_from_the_live_snapshot(seen: dict) -> None:
    r = seen["reads"]
    assert r["device_type"] == 0x1A2 and r["identity_product"] == 0x418
    assert r["cells"] == 16 and len(r["cell_mv"]) == 16
    assert all(2900 < mv < 3700 for mv in r["cell_mv"])
    assert abs(r["pack_mv"] - sum(r["cell_mv"])) < 100  # separate reads, a few cycles apart
    assert abs(r["battery_v_1024"] / 1024 * 1000 - r["pack_mv"]) < 100
    assert 0 <= r["soc_pct"] <= 100
    assert r["fresh"] == 1 and r["heartbeat_ms"] == 200


def test_abort_codes(seen: dict) -> None:
    a = seen["aborts"]
    assert a["locked"] == 0x08000020
    assert a["read_only"] == 0x06010002 and a["read_only_cell"] == 0x06010002
    assert a["wrong_pin"] == 0x06090030
    assert a["pin"] == 0
    assert a["out_of_range"] == 0x06090030
    assert a["invalid"] == 0x06090030
    assert a["bad_command"] == 0x06090030
    assert a["accepted"] == 0
    assert seen["reads"]["vmax_after_mv"] == 3650
    assert json.loads(seen["overrides"]) == {"pack.chemistry.vmax_v": 3.65}  # persisted, nothing else


def test_tpdos_only_while_operational_and_heartbeats_follow_nmt(seen: dict) -> None:
    assert seen["tpdo_before_start"] == 0
    t_start, t_stop = seen["t_start"], seen["t_stop"]
    tp2 = seen["tpdo"]["0x285"]
    during = [(t, d) for t, d in tp2 if t_start < t < t_stop + 0.3]
    assert len(during) >= 5  # 2 s at 0.25 s
    assert all(t < t_stop + 0.6 for t, _ in tp2)  # none long after STOPPED
    mv, ma = struct.unpack("<Ii", bytes.fromhex(during[-1][1]))
    assert abs(mv - seen["reads"]["pack_mv"]) < 500
    assert abs(ma) < 200_000
    tp1 = [d for t, d in seen["tpdo"]["0x185"] if t_start < t < t_stop]
    status, temp_8th, soc, faults = struct.unpack("<BhBI", bytes.fromhex(tp1[-1]))
    assert status & 0x20 == 0 and 15 < temp_8th / 8 < 40 and 0 <= soc <= 100 and faults == 0
    tp3 = [d for t, d in seen["tpdo"]["0x385"] if t_start < t < t_stop]
    lo, hi, tlo, thi = struct.unpack("<HHhh", bytes.fromhex(tp3[-1]))
    assert 2900 < lo <= hi < 3700 and tlo <= thi
    states = [(t, d) for t, d in seen["heartbeats"]]
    assert {d for t, d in states if t < t_start} <= {"7f", "00"} and any(d == "7f" for t, d in states)
    assert any(d == "05" for t, d in states if t_start + 0.3 < t < t_stop)
    assert any(d == "04" for t, d in states if t > t_stop + 0.3)
    gaps = [b - a for (a, _), (b, _) in itertools.pairwise(states)]
    assert max(gaps) < 0.6  # produced every 200 ms
