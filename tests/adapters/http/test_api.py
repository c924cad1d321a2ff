"""The HTTP API against the running daemon, with a real HTTP client."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path

from bmsgateway.adapters.document import state_document
from bmsgateway.requests import ResetFaults
from tests.adapters.http.conftest import PIN, Web, start_web
from tests.adapters.http.sse import collect


async def test_state_is_the_latest_snapshot(web: Web) -> None:
    status, body = await web.get_json("/api/state")
    assert status == 200 and body["available"] is True
    doc = body["state"]
    latest = web.daemon.store.latest
    assert latest is not None and 0 <= latest.seq - doc["seq"] <= 20
    assert len(doc["cells"]["voltages_v"]) == 16
    assert math.isclose(doc["pack"]["voltage_v"], sum(doc["cells"]["voltages_v"]), abs_tol=0.01)
    assert 0.0 < doc["estimate"]["soc_pct"] < 100.0
    assert [b["cells"] for b in body["layout"]["boards"]] == [8, 8]
    # the same document the adapters share, JSON all the way (no NaN)
    assert set(doc) == set(state_document(latest))


async def test_a_stale_snapshot_is_served_as_unavailable(web: Web) -> None:
    web.daemon.request_stop()  # the pack cycle ends (adapters go on); its last snapshot ages past 0.5 s
    await web.daemon.wait()
    await asyncio.sleep(0.8)
    status, body = await web.get_json("/api/state")
    assert status == 503
    assert body["available"] is False and body["state"] is None
    assert body["last_wall_time"] == web.daemon.store.latest.wall_time  # "stale since" for the page
    async with web.session.get(web.url("/metrics")) as r:
        text = await r.text()
    assert "\nbms_up 0.0" in text
    assert "bms_cell_voltage_volts" not in text and "bms_pack_voltage_volts" not in text
    assert "bms_pec_errors_total" in text  # counters stay (they are not frozen values)


async def test_event_stream_resumes_after_a_disconnect_with_no_event_lost(web: Web) -> None:
    log = web.daemon.protection.event_log
    async with web.session.get(web.url("/api/events")) as r:
        assert r.headers["Content-Type"].startswith("text/event-stream")
        first = await collect(r, lambda ms: any(m.event == "snapshot" for m in ms) and any(
            m.event == "event" for m in ms))
    seen = [int(m.id) for m in first if m.event == "event" and m.id is not None]
    assert seen == list(range(seen[0], seen[-1] + 1))
    last = seen[-1]
    # While the client is away, faults are raised and cleared.
    web.inject("cell_ov:3")
    for _ in range(100):
        if any(ev.condition == "cell_over_voltage" and ev.kind == "raised" and ev.severity == "fault"
               for ev in log.since(last + 1)):
            break
        await asyncio.sleep(0.05)
    missed = log.since(last + 1)
    assert any(ev.condition == "cell_over_voltage" for ev in missed)
    target = missed[-1].seq
    async with web.session.get(web.url("/api/events"), headers={"Last-Event-ID": str(last)}) as r:
        again = await collect(r, lambda ms: any(m.event == "event" and int(m.id) >= target for m in ms))
    got = [m for m in again if m.event == "event"]
    assert [int(m.id) for m in got][: len(missed)] == [ev.seq for ev in missed]
    for m, ev in zip(got, missed, strict=False):
        assert (m.data["kind"], m.data["condition"], m.data["severity"]) == (ev.kind, ev.condition, ev.severity)
    # ?since= starts at a given sequence number too
    async with web.session.get(web.url(f"/api/events?since={target}")) as r:
        from_target = await collect(r, lambda ms: any(m.event == "event" for m in ms))
    assert next(int(m.id) for m in from_target if m.event == "event") == target


async def test_stream_sends_live_snapshots(web: Web) -> None:
    async with web.session.get(web.url("/api/events")) as r:
        ms = await collect(r, lambda ms: sum(m.event == "snapshot" for m in ms) >= 3)
    seqs = [m.data["seq"] for m in ms if m.event == "snapshot"]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


async def test_settings_list_values_and_ranges(web: Web) -> None:
    status, body = await web.get_json("/api/settings")
    assert status == 200 and body["unlock_timeout_s"] == 30.0
    rows = {s["key"]: s for sec in body["sections"] for s in sec["settings"]}
    tmax = rows["protection.relays.tmax_c"]
    assert (tmax["minimum"], tmax["maximum"], tmax["writable"]) == (-40.0, 100.0, True)
    assert rows["system.cycle_period_s"]["writable"] is False
    assert "modbus.pin" not in rows  # the PIN is never served
    assert "protection.relays" in [sec["section"] for sec in body["sections"]]


async def test_setting_accepted_with_the_pin(web: Web) -> None:
    change = {"pin": str(PIN), "changes": {"protection.relays.tmax_c": 52.5}}
    status, body = await web.post_json("/api/settings", change)
    assert status == 200 and body["accepted"] is True and body["source"].startswith("http:")
    assert web.daemon.settings.config.protection.relays.tmax_c == 52.5
    saved = json.loads((web.state_dir / "settings.json").read_text())
    assert saved["protection.relays.tmax_c"] == 52.5
    _, listing = await web.get_json("/api/settings")
    rows = {s["key"]: s for sec in listing["sections"] for s in sec["settings"]}
    assert rows["protection.relays.tmax_c"]["value"] == 52.5


async def test_state_body_follows_the_snapshot_and_the_settings(web: Web) -> None:
    """/api/state is encoded once per snapshot, but never served from an older one or under
    settings that have changed since."""
    _, first = await web.get_json("/api/state")
    assert first["layout"]["vmax_v"] != 3.62
    status, body = await web.post_json("/api/settings", {"pin": str(PIN), "changes": {"pack.chemistry.vmax_v": 3.62}})
    assert status == 200 and body["accepted"] is True
    _, after = await web.get_json("/api/state")
    assert after["layout"]["vmax_v"] == 3.62  # at once, even if no new cycle ran yet
    for _ in range(50):
        _, later = await web.get_json("/api/state")
        if later["state"]["seq"] > after["state"]["seq"]:
            break
        await asyncio.sleep(0.05)
    assert later["state"]["seq"] > after["state"]["seq"]  # a new cycle: a new body


async def test_settings_refused_change_nothing(web: Web) -> None:
    before = web.daemon.settings.config
    cases = [
        ({"protection.relays.tmax_c": 500}, 400, "protection.relays.tmax_c", ">= -40, <= 100"),
        ({"protection.relays.tmax_c": "hot"}, 400, "protection.relays.tmax_c", ">= -40, <= 100"),
        ({"system.cycle_period_s": 0.2}, 400, "system.cycle_period_s", ">= 0.02, <= 10"),
        ({"protection.nope": 1}, 400, "protection.nope", None),
        # valid range, but breaks Vmin < Vbalance: the one validated path refuses it
        ({"pack.chemistry.vmin_v": 3.5}, 400, "pack.chemistry.vmin_v", ">= 1, <= 5"),
    ]
    for changes, code, key, allowed in cases:
        status, body = await web.post_json("/api/settings", {"pin": PIN, "changes": changes})
        assert (status, body["key"], body["allowed"]) == (code, key, allowed), body
    assert web.daemon.settings.config == before
    assert not (web.state_dir / "settings.json").exists()


async def test_settings_need_the_pin_and_wrong_pins_are_limited(web: Web) -> None:
    change = {"changes": {"protection.relays.tmax_c": 51.0}}
    status, body = await web.post_json("/api/settings", change)
    assert (status, body["error"]) == (403, "PIN required")
    for _ in range(3):  # http.pin_attempts = 3
        status, body = await web.post_json("/api/settings", {**change, "pin": "0000"})
        assert (status, body["error"]) == (403, "wrong PIN")
    status, body = await web.post_json("/api/settings", {**change, "pin": PIN})
    assert status == 429 and body["retry_after_s"] > 0  # locked out even with the right PIN
    assert web.daemon.settings.config.protection.relays.tmax_c != 51.0
    async with web.session.get(web.url("/metrics")) as r:
        text = await r.text()
    assert 'bms_pin_failures_total{adapter="http"} 4.0' in text


async def test_commands(web: Web) -> None:
    status, body = await web.get_json("/api/commands")
    assert [c["command"] for c in body["commands"]] == ["reset_faults", "reset_counters", "calibrate_current_zero",
                                                        "calibrate_current_gain", "silence_alarm"]
    assert [c["argument"] for c in body["commands"]] == [None, None, None, "reference_a", None]
    status, body = await web.post_json("/api/commands", {"command": "reset_counters"})
    assert status == 403
    status, body = await web.post_json("/api/commands", {"command": "explode", "pin": PIN})
    assert status == 400 and "reset_faults" in body["allowed"]
    # the gain calibration carries its reference current; the pack cycle judges it (400 A is not
    # what flows: refused there, with an event saying why, and the gain stays)
    status, body = await web.post_json("/api/commands", {"command": "calibrate_current_gain", "pin": PIN})
    assert status == 400 and "reference_a" in body["error"]
    status, body = await web.post_json("/api/commands", {"command": "calibrate_current_gain", "reference_a": 400,
                                                         "pin": PIN})
    assert status == 202 and body["queued"] == "calibrate_current_gain"
    for _ in range(100):
        refused = [e for e in web.daemon.protection.event_log if e.condition == "calibrate_current_gain"]
        if refused:
            break
        await asyncio.sleep(0.05)
    assert refused and refused[-1].message.startswith("refused")
    assert web.daemon.cycle.acquisition.gain == 1.0
    # A latched cell fault stays until reset_faults, once its cause is gone.
    web.inject("cell_ov:5")
    for _ in range(100):
        _, st = await web.get_json("/api/state")
        active = st["state"]["protection"]["active"]
        if any(a["condition"] == "cell_over_voltage" and a["severity"] == "fault" for a in active):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("cell_ov fault not raised")
    web.daemon.hardware.simulator.clear_faults()
    await asyncio.sleep(0.5)
    _, st = await web.get_json("/api/state")
    assert any(a["condition"] == "cell_over_voltage" and a["latched"] for a in st["state"]["protection"]["active"])
    status, body = await web.post_json("/api/commands", {"command": "reset_faults"}, **{"X-BMS-PIN": str(PIN)})
    assert status == 202 and body["queued"] == "reset_faults"
    for _ in range(100):
        _, st = await web.get_json("/api/state")
        if not any(a["condition"] == "cell_over_voltage" for a in st["state"]["protection"]["active"]):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError(f"reset_faults did not clear the latched fault: {st['state']['protection']['active']}")


async def test_page_and_static_files_are_served(web: Web) -> None:
    async with web.session.get(web.url("/")) as r:
        assert r.status == 200
        html = await r.text()
    assert "<html" in html.lower()
    for ref in ("/static/app.js", "/static/style.css"):
        assert ref in html
        async with web.session.get(web.url(ref)) as r:
            assert r.status == 200
    assert "http" not in html.replace("http-equiv", "").split("<body")[0].lower().replace("https://", "x")


async def test_events_gone_from_the_bounded_log_are_announced_and_counted(tmp_path: Path) -> None:
    web = await start_web(tmp_path, extra={"protection": {"event_log_size": 10}})
    try:
        log = web.daemon.protection.event_log
        async with web.session.get(web.url("/api/events")) as r:
            first = await collect(r, lambda ms: any(m.event == "event" for m in ms))
        last = max(int(m.id) for m in first if m.event == "event")
        await asyncio.sleep(0.6)  # the server notices the first stream is gone (its next write fails)
        for _ in range(15):  # each reset is one "command" event: more than the log keeps
            web.daemon.requests.submit(ResetFaults(source="test"))
        for _ in range(100):
            if log.total >= last + 16:
                break
            await asyncio.sleep(0.05)
        kept_from = log.since(0)[0].seq
        assert kept_from > last + 1
        async with web.session.get(web.url("/api/events"), headers={"Last-Event-ID": str(last)}) as r:
            ms = await collect(r, lambda ms: any(m.event == "event" and int(m.id) >= log.total - 1 for m in ms))
        gap = next(m for m in ms if m.event == "gap")
        assert (gap.data["from_seq"], gap.data["to_seq"]) == (last + 1, kept_from - 1)
        seqs = [int(m.id) for m in ms if m.event == "event"]
        assert seqs[0] == kept_from and seqs == list(range(seqs[0], seqs[-1] + 1))
        async with web.session.get(web.url("/metrics")) as r:
            text = await r.text()
        dropped = [line for line in text.splitlines() if line.startswith("bms_events_dropped_total")]
        assert dropped == [f'bms_events_dropped_total{{adapter="http"}} {float(kept_from - last - 1)}'], dropped
    finally:
        await web.session.close()
        await web.daemon.stop()
