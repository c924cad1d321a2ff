"""Clocks, the settings path, atomic writes and the snapshot store."""

from __future__ import annotations

import asyncio
import json
import math
import time
from pathlib import Path

import pytest

from bmsgateway.clock import RealClock, ScaledClock, VirtualClock, make_clock
from bmsgateway.config import Config
from bmsgateway.persist.atomic import atomic_write_bytes
from bmsgateway.requests import ApplyConfig, RequestQueue, ResetFaults
from bmsgateway.settings import SettingsStore, merge_dotted
from bmsgateway.state import extremes


async def test_virtual_clock_runs_faster_than_real_time() -> None:
    clock = VirtualClock()
    t0 = time.perf_counter()
    for _ in range(1000):
        await clock.sleep(3600.0)
    assert clock.now() == pytest.approx(3600.0 * 1000)
    assert time.perf_counter() - t0 < 10.0  # a thousand simulated hours did not wait real time


async def test_scaled_clock_speed() -> None:
    clock = ScaledClock(50.0)
    start = clock.now()
    await clock.sleep(1.0)  # 20 ms of wall time
    elapsed = clock.now() - start
    assert 0.95 <= elapsed < 10.0  # waited the full simulated second, in 1/50 of the wall time


def test_make_clock() -> None:
    assert isinstance(make_clock(None), RealClock)
    assert isinstance(make_clock("max"), VirtualClock)
    assert isinstance(make_clock("20"), ScaledClock)
    with pytest.raises(ValueError):
        make_clock("fast")


def test_extremes_ignores_nan() -> None:
    assert extremes((3.3, math.nan, 3.1, 3.5)) == (3.1, 2, 3.5, 3, pytest.approx(3.3))
    lo, lo_i, _hi, hi_i, avg = extremes((math.nan,))
    assert math.isnan(lo) and lo_i == -1 and hi_i == -1 and math.isnan(avg)


def test_merge_dotted_rejects_unknown_paths() -> None:
    base = Config().model_dump(mode="json")
    assert merge_dotted(base, {"pack.capacity_ah": 50})["pack"]["capacity_ah"] == 50
    with pytest.raises(KeyError):
        merge_dotted(base, {"pack.capacity": 50})


def test_settings_accepts_persists_and_queues(tmp_path: Path) -> None:
    q = RequestQueue()
    store = SettingsStore(Config(), tmp_path / "settings.json", q)
    assert store.propose({"pack.chemistry.vmax_v": 3.65}, source="test") == []
    assert store.config.pack.limits.vmax_v == 3.65
    (req,) = q.drain()
    assert isinstance(req, ApplyConfig) and req.config.pack.limits.vmax_v == 3.65
    # a new process loads the change on top of the file config
    again = SettingsStore(Config(), tmp_path / "settings.json", RequestQueue())
    assert again.load_overrides().pack.limits.vmax_v == 3.65


def test_settings_rejects_invariant_violation_and_changes_nothing(tmp_path: Path) -> None:
    q = RequestQueue()
    store = SettingsStore(Config(), tmp_path / "settings.json", q)
    problems = store.propose({"pack.chemistry.vmin_v": 3.8})
    assert problems and "must be below" in problems[0]
    assert store.config == Config()
    assert q.drain() == []
    assert not (tmp_path / "settings.json").exists()


def test_settings_rejects_out_of_range_and_unknown(tmp_path: Path) -> None:
    store = SettingsStore(Config(), None, RequestQueue())
    assert "less than or equal to 100" in store.propose({"protection.relays.charge_restart_soc_pct": 150})[0]
    assert store.propose({"pack.nope": 1}) == ["pack.nope: unknown setting"]
    assert store.config == Config()


def test_corrupt_overrides_are_ignored_not_fatal(tmp_path: Path) -> None:
    f = tmp_path / "settings.json"
    f.write_text("{not json")
    store = SettingsStore(Config(), f, RequestQueue())
    assert store.load_overrides() == Config()
    f.write_text(json.dumps({"pack.chemistry.vmin_v": 9.0}))
    assert store.load_overrides() == Config()


def test_atomic_write_keeps_previous_copy(tmp_path: Path) -> None:
    f = tmp_path / "a" / "state.json"
    atomic_write_bytes(f, b"one")
    atomic_write_bytes(f, b"two")
    assert f.read_bytes() == b"two"
    assert (tmp_path / "a" / "state.json.bak").read_bytes() == b"one"
    assert [p.name for p in f.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_request_queue_is_fifo_and_bounded() -> None:
    q = RequestQueue(maxlen=3)
    for i in range(5):
        q.submit(ResetFaults(source=str(i)))
    assert [r.source for r in q.drain()] == ["2", "3", "4"]  # type: ignore[union-attr]
    assert q.drain() == []


async def test_snapshot_store_wait_next() -> None:
    from bmsgateway.store import SnapshotStore

    store = SnapshotStore()
    waiter = asyncio.create_task(store.wait_next(-1))
    await asyncio.sleep(0)
    assert not waiter.done()
    sentinel = object()
    store._latest = None
    # publish accepts any PackState; a minimal object with seq is enough for the store
    store.publish(type("S", (), {"seq": 0})())  # type: ignore[arg-type]
    result = await asyncio.wait_for(waiter, 1.0)
    assert result.seq == 0 and result is not sentinel


async def test_snapshot_store_wakes_readers_on_their_loop_when_published_from_another_thread() -> None:
    """The pack cycle publishes from its own thread: readers waiting on the daemon's loop must
    wake for each snapshot (asyncio.Event is not thread-safe; the store hands the wake-up over)."""
    import threading

    from bmsgateway.store import SnapshotStore

    store = SnapshotStore()
    store.bind_loop(asyncio.get_running_loop())
    seen: list[int] = []

    async def reader() -> None:
        seq = -1
        while seq < 49:
            s = await store.wait_next(seq)
            seq = s.seq
            seen.append(seq)

    task = asyncio.create_task(reader())
    await asyncio.sleep(0)

    def producer() -> None:
        for i in range(50):
            store.publish(type("S", (), {"seq": i})())  # type: ignore[arg-type]
            time.sleep(0.002)

    thread = threading.Thread(target=producer)
    thread.start()
    await asyncio.wait_for(task, 5.0)
    thread.join()
    assert seen[-1] == 49 and seen == sorted(seen)
    assert len(seen) >= 10  # woken again and again, not once at the end
