"""Raw-socket conformance: exact exception bytes, framing errors, timeouts, limits, bounded logs.

The parametrized cases run with the servers in a thread (same protocol code, no process spawn
per case); the pipelining and counter tests use the daemon's process isolation.
"""

from __future__ import annotations

import asyncio
import struct
import time
from pathlib import Path

import pytest
import structlog

from tests.adapters.conftest import Rig, start_rig

READ_8 = struct.pack(">HHHBBHH", 9, 0, 6, 1, 3, 0, 8)  # a valid read of 8 words, transaction 9


def mbap(tid: int, pdu: bytes, unit: int = 1, length: int | None = None, pid: int = 0) -> bytes:
    return struct.pack(">HHHB", tid, pid, len(pdu) + 1 if length is None else length, unit) + pdu


async def exchange(port: int, payload: bytes, expect: int, timeout_s: float = 2.0) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(payload)
        await writer.drain()
        return await asyncio.wait_for(reader.readexactly(expect), timeout_s)
    finally:
        writer.close()


# (request PDU, exact reply PDU): the request's function code | 0x80, then the exception code
MALFORMED = [
    pytest.param(struct.pack(">BHH", 3, 0, 0), b"\x83\x03", id="read-count-0"),
    pytest.param(struct.pack(">BHH", 3, 0, 126), b"\x83\x03", id="read-count-126"),
    pytest.param(struct.pack(">BHH", 4, 0, 2000), b"\x84\x03", id="input-count-2000"),
    pytest.param(struct.pack(">BH", 3, 0), b"\x83\x03", id="read-pdu-too-short"),
    pytest.param(struct.pack(">BHHB", 16, 1010, 5, 10) + b"\x00\x01", b"\x90\x03", id="byte-count-lies"),
    pytest.param(struct.pack(">BHHB", 16, 1010, 124, 2) + bytes(2), b"\x90\x03", id="write-count-124"),
    pytest.param(struct.pack(">BHHB", 16, 1010, 0, 0), b"\x90\x03", id="write-count-0"),
    pytest.param(struct.pack(">BHH", 3, 65530, 100), b"\x83\x02", id="read-past-65535"),
    pytest.param(struct.pack(">BHH", 3, 30000, 2), b"\x83\x02", id="unmapped-address"),
    pytest.param(b"\x41", b"\xc1\x01", id="unknown-function"),
    pytest.param(b"\x00", b"\x80\x01", id="function-0"),
    pytest.param(struct.pack(">BHH", 8, 0x1234, 0), b"\x88\x01", id="diagnostics-unknown-subfunction"),
    pytest.param(struct.pack(">BHH", 8, 0, 0xA55A), b"\x88\x01", id="diagnostics-echo"),
    pytest.param(b"\x83\x01", b"\x83\x01", id="function-0x83"),
    pytest.param(b"\xff" + bytes(4), b"\xff\x01", id="function-0xff"),
    pytest.param(struct.pack(">BHH", 5, 1010, 0xFF00), b"\x85\x01", id="write-coil"),
    pytest.param(struct.pack(">BHH", 1, 0, 8), b"\x81\x01", id="read-coils"),
]


@pytest.mark.parametrize(("pdu", "reply"), MALFORMED)
async def test_malformed_requests_get_the_spec_exception_and_the_connection_stays_usable(
    thread_rig: Rig, pdu: bytes, reply: bytes, capfd: pytest.CaptureFixture[str]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", thread_rig.port)
    try:
        writer.write(mbap(0x1234, pdu, unit=7))
        await writer.drain()
        got = await asyncio.wait_for(reader.readexactly(9), 2.0)
        assert got == struct.pack(">HHHB", 0x1234, 0, 3, 7) + reply
        writer.write(READ_8)  # the same connection answers the next request
        await writer.drain()
        answer = await asyncio.wait_for(reader.readexactly(9 + 16), 2.0)
        assert answer[:9] == struct.pack(">HHHBBB", 9, 0, 19, 1, 3, 16)
    finally:
        writer.close()
    err = capfd.readouterr().err
    assert "Traceback" not in err and "KeyError" not in err


@pytest.mark.parametrize("header", [
    pytest.param(struct.pack(">HHHB", 1, 0, 0, 1), id="length-0"),
    pytest.param(struct.pack(">HHHB", 1, 0, 1, 1), id="length-1"),
    pytest.param(struct.pack(">HHHB", 1, 0, 65535, 1), id="length-65535"),
    pytest.param(struct.pack(">HHHB", 1, 0, 300, 1), id="length-300"),
    pytest.param(struct.pack(">HHHBBHH", 1, 1, 6, 1, 3, 0, 8), id="protocol-id-1"),
    pytest.param(b"\x00\x00\x00", id="3-stray-bytes"),
    pytest.param(b"\x00\x00\x00\x00", id="4-stray-bytes"),
    pytest.param(b"\x01\x02\x03\x04\x05", id="5-stray-bytes"),
])
async def test_bad_header_then_valid_request_is_answered_or_closed_within_a_second(
    thread_rig: Rig, header: bytes
) -> None:
    rig = thread_rig
    reader, writer = await asyncio.open_connection("127.0.0.1", rig.port)
    t0 = time.monotonic()
    try:
        writer.write(header + READ_8)
        await writer.drain()
        # either the valid request is answered, or the connection is closed (EOF): never silence.
        # (Stray bytes can shift the framing so that a piece is answered as a request of its own.)
        answer = struct.pack(">HHHBBB", 9, 0, 19, 1, 3, 16)
        data = b""
        while answer not in data:
            chunk = await asyncio.wait_for(reader.read(4096), 1.0 - (time.monotonic() - t0))
            if not chunk:
                break  # closed
            data += chunk
        assert time.monotonic() - t0 < 1.0
    finally:
        writer.close()
    got = await exchange(rig.port, READ_8, 25)  # the master reconnects and is served
    assert got[:9] == struct.pack(">HHHBBB", 9, 0, 19, 1, 3, 16)


async def test_pipelined_requests_are_all_answered_in_order(rig: Rig) -> None:
    payload = b"".join(struct.pack(">HHHBBHH", tid, 0, 6, 1, 3, 0, 2) for tid in range(1, 51))
    got = await exchange(rig.port, payload, 50 * 13)
    assert [struct.unpack_from(">H", got, 13 * i)[0] for i in range(50)] == list(range(1, 51))


async def test_idle_and_slowloris_connections_are_closed_and_the_cap_refuses(tmp_path: Path) -> None:
    rig = await start_rig(tmp_path, "thread", tcp={"idle_timeout_s": 1.0, "frame_timeout_s": 0.5,
                                                    "max_connections": 3})
    try:
        idle_r, idle_w = await asyncio.open_connection("127.0.0.1", rig.port)
        slow_r, slow_w = await asyncio.open_connection("127.0.0.1", rig.port)
        busy_r, busy_w = await asyncio.open_connection("127.0.0.1", rig.port)
        # the 4th connection is over the cap: closed at once, counted
        extra_r, extra_w = await asyncio.open_connection("127.0.0.1", rig.port)
        assert await asyncio.wait_for(extra_r.read(100), 1.0) == b""
        extra_w.close()
        assert rig.adapter.stats.connections_refused == 1
        t0 = time.monotonic()

        async def busy() -> None:
            busy_w.write(READ_8)
            assert len(await asyncio.wait_for(busy_r.readexactly(25), 1.0)) == 25

        for b in READ_8[:4]:  # a slowloris: one byte every 0.2 s never completes in 0.5 s
            slow_w.write(bytes([b]))
            await busy()
            await asyncio.sleep(0.2)
        assert await asyncio.wait_for(slow_r.read(100), 1.0) == b""
        assert time.monotonic() - t0 < 1.5
        await busy()
        assert await asyncio.wait_for(idle_r.read(100), 2.0) == b""  # idle for 1 s: closed
        assert 1.0 <= time.monotonic() - t0 < 2.5
        await busy()  # a connection in use outlives the idle timeout
        assert rig.adapter.stats.connections_timed_out == 2
        for w in (idle_w, slow_w, busy_w):
            w.close()
    finally:
        await rig.adapter.stop()


async def test_a_thousand_refused_writes_cost_a_handful_of_log_lines(tmp_path: Path) -> None:
    rig = await start_rig(tmp_path, "thread")
    try:
        payload = b"".join(mbap(i, struct.pack(">BHH", 6, 1010, 3000)) for i in range(1000))
        with structlog.testing.capture_logs() as logs:
            got = await exchange(rig.port, payload, 1000 * 9, timeout_s=20.0)
            await asyncio.sleep(0.5)  # the periodic summary flush runs
        assert all(got[9 * i + 7 : 9 * i + 9] == b"\x86\x01" for i in range(1000))  # locked: 01
        assert rig.adapter.stats.writes_refused == 1000
        modbus_lines = [e for e in logs if str(e.get("event", "")).startswith("modbus_")]
        assert 1 <= len(modbus_lines) <= 5, modbus_lines
        assert all("3000" not in str(e.get("values", "")) for e in modbus_lines)
        assert rig.settings.config.pack.limits.vmin_v == 2.9
    finally:
        await rig.adapter.stop()


async def test_counters_reach_the_daemon_from_the_modbus_process(rig: Rig) -> None:
    await exchange(rig.port, mbap(1, struct.pack(">BHH", 6, 1010, 3000)), 9)
    reader, writer = await asyncio.open_connection("127.0.0.1", rig.port)
    writer.write(struct.pack(">HHHB", 1, 5, 6, 1))  # protocol id 5: framing error, closed
    assert await asyncio.wait_for(reader.read(10), 1.0) == b""
    writer.close()
    for _ in range(100):
        s = rig.adapter.stats
        if s.writes_refused == 1 and s.protocol_errors == 1 and s.connections_closed_on_error == 1:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"counters not mirrored: {rig.adapter.stats}")


def test_rate_limited_log_summarises_per_interval() -> None:
    from bmsgateway.adapters.modbus.stats import RateLimitedLog

    now = [0.0]
    limited = RateLimitedLog(60.0, now=lambda: now[0])
    with structlog.testing.capture_logs() as logs:
        for i in range(1000):
            now[0] = i * 0.1  # 100 s of a client hammering
            limited("modbus_write_locked", address=1010)
        now[0] = 200.0
        limited.flush()
    events = [(e["event"], e.get("count")) for e in logs]
    # the first occurrence with details, one summary when the 60 s window closed, one for the rest
    assert events == [("modbus_write_locked", None), ("modbus_write_locked_repeated", 600),
                      ("modbus_write_locked_repeated", 399)]
