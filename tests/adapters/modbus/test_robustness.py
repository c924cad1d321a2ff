"""Malformed, truncated and unknown frames over a raw socket never stop the server."""

from __future__ import annotations

import asyncio
import struct

from pymodbus.client import AsyncModbusTcpClient

from tests.adapters.conftest import Rig, make_state


async def still_answers(rig: Rig) -> None:
    async with AsyncModbusTcpClient("127.0.0.1", port=rig.port, timeout=2) as client:
        r = await client.read_holding_registers(0, count=20, device_id=1)
        assert not r.isError() and r.registers[0] == 1


async def raw_exchange(rig: Rig, payload: bytes, wait_s: float = 0.3) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", rig.port)
    writer.write(payload)
    await writer.drain()
    try:
        data = await asyncio.wait_for(reader.read(512), wait_s)
    except TimeoutError:
        data = b""
    writer.close()
    await writer.wait_closed()
    return data


async def test_unknown_function_code_gets_an_exception(rig: Rig) -> None:
    await rig.publish(make_state(rig.config))
    reply = await raw_exchange(rig, struct.pack(">HHHBB", 1, 0, 2, 1, 0x41))
    assert reply == struct.pack(">HHHBBB", 1, 0, 3, 1, 0xC1, 1)  # the request's fc | 0x80, code 01
    await still_answers(rig)


async def test_coil_functions_are_refused(rig: Rig) -> None:
    reply = await raw_exchange(rig, struct.pack(">HHHBBHH", 2, 0, 6, 1, 5, 1010, 0xFF00))  # write coil
    assert reply[7] == 0x85 and reply[8] == 1
    assert rig.settings.config.pack.limits.vmin_v == 2.9
    await still_answers(rig)


async def test_garbage_truncated_and_oversized_frames(rig: Rig) -> None:
    frames = [
        b"\xde\xad\xbe\xef" * 16,  # garbage
        struct.pack(">HHHBBH", 3, 0, 6, 1, 3, 0),  # truncated read request
        struct.pack(">HHHBBHH", 4, 0, 6, 1, 3, 0, 2000),  # count above 125
        struct.pack(">HHHBBHHB", 5, 0, 9, 1, 16, 1010, 5, 10) + b"\x00\x01",  # byte count lies
        struct.pack(">HHHBBHH", 6, 0, 6, 1, 3, 65530, 100),  # runs past 65535
        struct.pack(">HHH", 7, 0, 200),  # header announcing more than ever comes
    ]
    for frame in frames:
        await raw_exchange(rig, frame)
        await still_answers(rig)
    assert rig.requests.drain() == []


async def test_abrupt_disconnect_mid_request(rig: Rig) -> None:
    _, writer = await asyncio.open_connection("127.0.0.1", rig.port)
    writer.write(struct.pack(">HHHB", 8, 0, 6, 1))
    writer.transport.abort()
    await still_answers(rig)
