"""`[mqtt]` config errors name key, value and what is allowed; the event buffer counts every loss."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bmsgateway.adapters.mqtt.buffer import EventBuffer
from bmsgateway.state import Event


def test_bad_mqtt_config_exits_2_naming_each_key(tmp_path: Path) -> None:
    f = tmp_path / "bad.toml"
    f.write_text('[mqtt]\nenabled = true\ndevice_id = "rack/2"\nport = 70000\nprotocol = "4"\n'
                 '[mqtt.tls]\nenabled = true\ncert_file = "client.crt"\n')
    res = subprocess.run([sys.executable, "-m", "bmsgateway", "check-config", str(f)], capture_output=True,
                         text=True, timeout=60, check=False)
    assert res.returncode == 2
    err = res.stderr
    assert "mqtt.device_id = 'rack/2': String should match pattern '^[A-Za-z0-9_-]+$'" in err
    assert "mqtt.port = 70000" in err and "<= 65535" in err
    assert "mqtt.protocol" in err and "3.1.1" in err
    assert "cert_file and mqtt.tls.key_file go together" in err


def _ev(seq: int) -> Event:
    return Event(time_s=float(seq), kind="raised", condition="x", severity="warning", seq=seq)


def test_buffer_drops_oldest_and_counts_gaps_left_by_the_log() -> None:
    buf = EventBuffer(maxlen=3, next_seq=10)
    assert buf.add([_ev(8), _ev(9)]) == 0 and len(buf) == 0  # before our start: not ours
    assert buf.add([_ev(10), _ev(11)]) == 0
    assert buf.add([_ev(14), _ev(15)]) == 3  # 12, 13 lost by the log, 10 pushed out by 15
    assert [e.seq for e in buf.head(5)] == [11, 14, 15]
    buf.pop(2)
    assert [e.seq for e in buf.head(5)] == [15] and buf.next_seq == 16 and buf.dropped_total == 3


def test_backfill_puts_restored_events_first_within_the_buffer_size() -> None:
    buf = EventBuffer(maxlen=4, next_seq=10)
    buf.add([_ev(10), _ev(11)])
    # restored from the state file, never acknowledged by the broker: 6..9 (and 10, 11 already here)
    assert buf.backfill([_ev(6), _ev(7), _ev(8), _ev(9), _ev(10), _ev(11)]) == 2  # room for two
    assert [e.seq for e in buf.head(10)] == [8, 9, 10, 11]  # in order; the oldest left out ...
    assert buf.dropped_total == 2  # ... and counted
    assert buf.next_seq == 12
