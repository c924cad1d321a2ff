"""A small server-sent-events reader for the tests (what a browser's EventSource does)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp


@dataclass
class Message:
    event: str
    data: Any
    id: str | None


async def messages(resp: aiohttp.ClientResponse) -> AsyncIterator[Message]:
    event, data, ident = "message", [], None
    async for raw in resp.content:
        line = raw.decode().rstrip("\r\n")
        if not line:
            if data:
                yield Message(event, json.loads("\n".join(data)), ident)
            event, data, ident = "message", [], None
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id":
            ident = value


async def collect(resp: aiohttp.ClientResponse, done: Any, timeout_s: float = 10.0) -> list[Message]:
    """Messages until ``done(list_so_far)`` is true (AssertionError after ``timeout_s``)."""
    out: list[Message] = []

    async def run() -> None:
        async for m in messages(resp):
            out.append(m)
            if done(out):
                return

    try:
        await asyncio.wait_for(run(), timeout_s)
    except TimeoutError:
        raise AssertionError(f"stream did not deliver in {timeout_s} s; got {[(m.event, m.id) for m in out]}") from None
    return out
