"""The state file: round trip, corrupt and missing files, the backup, kill -9 at random moments."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bmsgateway.clock import VirtualClock
from bmsgateway.persist.atomic import atomic_write_bytes
from bmsgateway.persist.saver import StateSaver
from bmsgateway.persist.state import SavedState, decode_state, encode_state, load_state

REPO = Path(__file__).resolve().parents[2]


def _state(seq: int) -> SavedState:
    return SavedState(cell_soc_pct=[50.0, 60.0], cell_capacity_ah=[99.0, 101.0], counters={"seq": seq})


def _seq(state: SavedState) -> int:
    return int(state.counters.get("seq", -1))


def test_round_trip(tmp_path: Path) -> None:
    s = _state(7)
    s.events = [{"time_s": 1.0, "kind": "raised", "condition": "cell_overvoltage", "value": float("nan")}]
    back, problems = decode_state(encode_state(s))
    assert problems == []
    assert back.cell_soc_pct == [50.0, 60.0] and _seq(back) == 7
    assert back.events[0]["condition"] == "cell_overvoltage"


def test_missing_file_gives_defaults(tmp_path: Path) -> None:
    state, problems = load_state(tmp_path / "state.json")
    assert state == SavedState()
    assert len(problems) == 2 and "no state file" in problems[0]


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "empty"])
def test_corrupt_file_uses_backup_and_keeps_it(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "state.json"
    atomic_write_bytes(path, encode_state(_state(1)))
    atomic_write_bytes(path, encode_state(_state(2)))  # state 1 is now the .bak
    raw = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "flip":
        i = raw.index(b"60.0")
        path.write_bytes(raw[:i] + b"61.0" + raw[i + 4 :])  # valid JSON, wrong checksum
    elif damage == "garbage":
        path.write_bytes(os.urandom(200))
    else:
        path.write_bytes(b"")
    state, problems = load_state(path)
    assert _seq(state) == 1
    assert any("backup" in p for p in problems)
    assert (tmp_path / "state.json.corrupt").exists()
    # The next save must not destroy the good backup.
    atomic_write_bytes(path, encode_state(_state(3)))
    bak, bak_problems = decode_state((tmp_path / "state.json.bak").read_bytes())
    assert _seq(bak) == 1 and bak_problems == []
    assert _seq(load_state(path)[0]) == 3


def test_both_copies_corrupt_gives_defaults(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(b"{not json")
    (tmp_path / "state.json.bak").write_bytes(b'{"format": "something else"}')
    state, problems = load_state(path)
    assert state == SavedState()
    assert any("default" in p for p in problems)


def test_invalid_fields_are_dropped_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    s = _state(5)
    s.cell_soc_pct = [50.0, 150.0]  # impossible SOC
    atomic_write_bytes(path, encode_state(s))
    state, problems = load_state(path)
    assert state.cell_soc_pct == [] and state.cell_capacity_ah == [99.0, 101.0]
    assert any("cell_soc_pct" in p for p in problems)


def test_saver_is_rate_limited_and_close_writes_latest(tmp_path: Path) -> None:
    clock = VirtualClock()
    path = tmp_path / "state.json"
    saver = StateSaver(path, 10.0, clock)
    try:
        for k in range(1, 30):
            saver.maybe_save(_state(k))
            clock.advance(1.0)
            saver.flush()
        # t = 0 and t = 10 and t = 20: three writes for 29 offers
        assert saver.writes == 3
        assert _seq(load_state(path)[0]) == 21
        saver.maybe_save(_state(100), force=True)
        saver.flush()
        assert _seq(load_state(path)[0]) == 100
        saver.maybe_save(_state(101))  # rate-limited away ...
    finally:
        saver.close()
    assert _seq(load_state(path)[0]) == 101  # ... but close() writes it


def test_saver_survives_unwritable_directory(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    saver = StateSaver(blocker / "state.json", 1.0, VirtualClock())
    saver.maybe_save(_state(1), force=True)
    saver.flush()
    saver.close()
    assert saver.failures >= 1 and saver.writes == 0


def test_kill_9_at_random_moments_always_leaves_a_valid_state(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    rng = random.Random(4)
    last_seq = 0
    env = dict(os.environ, PYTHONPATH=str(REPO))
    deadline = time.monotonic() + 40.0
    kills = 0
    while kills < 30 and time.monotonic() < deadline:
        proc = subprocess.Popen(
            [sys.executable, str(REPO / "tests" / "persist" / "writer_proc.py"), str(path), str(last_seq)],
            stdout=subprocess.PIPE, env=env,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0.0, 0.08))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        kills += 1
        state, problems = load_state(path)
        assert not any("corrupt" in p or "checksum" in p or "JSON" in p for p in problems), problems
        if path.exists():
            seq = _seq(state)
            assert seq >= last_seq, "a kill lost an already written state"
            assert state.cell_soc_pct == [float(seq % 100)] * 255
            last_seq = seq
    assert kills >= 10
    assert last_seq > 0
    assert not list(tmp_path.glob(".*.tmp"))  # load_state cleaned up what the kills left


def test_unreadable_state_path_gives_defaults_and_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.mkdir()  # something that cannot be read as a file
    state, problems = load_state(path)
    assert state == SavedState()
    assert any("cannot read" in p for p in problems)
    assert path.is_dir()  # not moved aside: it was not our damaged file
