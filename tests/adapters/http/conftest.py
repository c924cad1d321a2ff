"""A running daemon (simulated pack, real clock) with the HTTP adapter on a free loopback port."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bmsgateway.app import Daemon
from bmsgateway.config import parse_config
from bmsgateway.sim.faults import Injection

PIN = 4321


@dataclass
class Web:
    """The daemon and a client session pointed at its HTTP server."""

    daemon: Daemon
    session: aiohttp.ClientSession
    base: str
    state_dir: Path

    @property
    def adapter(self) -> Any:
        return next(a for a in self.daemon.adapters if a.name == "http")

    def url(self, path: str) -> str:
        return self.base + path

    async def get_json(self, path: str) -> tuple[int, Any]:
        async with self.session.get(self.url(path)) as r:
            return r.status, await r.json()

    async def post_json(self, path: str, body: Any, **headers: str) -> tuple[int, Any]:
        async with self.session.post(self.url(path), json=body, headers=headers or None) as r:
            return r.status, await r.json()

    def inject(self, text: str) -> None:
        kind, _, target = text.partition(":")
        self.daemon.hardware.simulator.inject(Injection(kind, int(target) if target else None))  # type: ignore[arg-type]


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def web_config(extra: dict[str, Any] | None = None, **http: Any) -> Any:
    return parse_config(_merge({
        "modbus": {"tcp": {"enabled": False}, "pin": PIN, "unlock_timeout_s": 30.0},
        "http": {"enabled": True, "port": 0, "stream_interval_s": 0.2, "pin_attempts": 3, **http},
        "system": {"stale_after_s": 0.5},
        "protection": {"cell_voltage": {"warning_delay_s": 0.0, "fault_delay_s": 0.2, "clear_delay_s": 0.2}},
        "persistence": {"save_interval_s": 3600.0},
    }, extra or {}), "test")


async def start_web(tmp_path: Path, extra: dict[str, Any] | None = None, **http: Any) -> Web:
    daemon = Daemon.build(web_config(extra, **http), state_dir=tmp_path, log_events=False)
    await daemon.start()
    adapter = next(a for a in daemon.adapters if a.name == "http")
    assert adapter.port, "HTTP adapter did not start"
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
    web = Web(daemon, session, f"http://127.0.0.1:{adapter.port}", tmp_path)
    # Serving live data: the first snapshot is out.
    for _ in range(100):
        status, _body = await web.get_json("/api/state")
        if status == 200:
            break
        await asyncio.sleep(0.05)
    return web


@pytest.fixture
async def web(tmp_path: Path) -> AsyncIterator[Web]:
    w = await start_web(tmp_path)
    try:
        yield w
    finally:
        await w.session.close()
        await w.daemon.stop()
