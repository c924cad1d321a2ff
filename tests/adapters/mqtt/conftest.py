"""A real mosquitto broker per test, on a free loopback port, plus a small subscriber helper."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt
import pytest


def mosquitto_binary() -> str:
    found = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)
    if found is None:  # never skip: scripts/test installs it
        raise RuntimeError("mosquitto is not installed: run scripts/test (it installs it with apt-get)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Broker:
    """mosquitto with persistence on (sessions and retained messages survive a restart)."""

    workdir: Path
    port: int = field(default_factory=free_port)
    users: dict[str, str] = field(default_factory=dict)  #: user -> password; empty: anonymous allowed
    acl: str = ""
    extra: str = ""  #: more mosquitto.conf lines (e.g. a TLS listener)
    proc: subprocess.Popen[bytes] | None = None

    def _write_config(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        lines = [f"listener {self.port} 127.0.0.1", "persistence true", f"persistence_location {self.workdir}/",
                 "autosave_interval 0", f"log_dest file {self.workdir}/mosquitto.log", "log_type all",
                 # run as root, mosquitto would switch to the user "mosquitto", who cannot read our files
                 f"user {getpass.getuser()}"]
        if self.users:
            pw = self.workdir / "passwd"
            pw.write_text("".join(f"{u}:{p}\n" for u, p in self.users.items()))
            pw.chmod(0o600)
            subprocess.run(["mosquitto_passwd", "-U", str(pw)], check=True)
            lines += ["allow_anonymous false", f"password_file {pw}"]
        else:
            lines.append("allow_anonymous true")
        if self.acl:
            acl = self.workdir / "acl"
            acl.write_text(self.acl)
            lines.append(f"acl_file {acl}")
        if self.extra:
            lines.append(self.extra)
        conf = self.workdir / "mosquitto.conf"
        conf.write_text("\n".join(lines) + "\n")
        return conf

    def start(self) -> None:
        conf = self._write_config()
        self.proc = subprocess.Popen([mosquitto_binary(), "-c", str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=(self.workdir / "stderr.log").open("ab"))
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise RuntimeError(f"mosquitto did not start on port {self.port}: {self.log()[-2000:]}"
                           f"{(self.workdir / 'stderr.log').read_text(errors='replace')}")

    def stop(self) -> None:
        """SIGTERM: mosquitto saves its persistence file (sessions, queued QoS 1 messages) and exits."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def log(self) -> str:
        p = self.workdir / "mosquitto.log"
        return p.read_text(errors="replace") if p.exists() else ""


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path / "broker")
    b.start()
    try:
        yield b
    finally:
        b.stop()


@dataclass
class Received:
    topic: str
    payload: bytes
    retain: bool
    properties: Any = None

    def json(self) -> Any:
        return json.loads(self.payload)


class Subscriber:
    """Collects messages on some topics in the background; ``wait_for`` polls what came."""

    def __init__(self, port: int, *topics: str, identifier: str | None = None, clean: bool = True,
                 protocol: aiomqtt.ProtocolVersion = aiomqtt.ProtocolVersion.V311,
                 username: str | None = None, password: str | None = None) -> None:
        self.port = port
        self.topics = topics
        self.identifier = identifier
        self.clean = clean
        self.protocol = protocol
        self.username, self.password = username, password
        self.messages: list[Received] = []
        self.client: aiomqtt.Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()

    def _client(self) -> aiomqtt.Client:
        v5 = self.protocol == aiomqtt.ProtocolVersion.V5
        return aiomqtt.Client("127.0.0.1", self.port, identifier=self.identifier, protocol=self.protocol,
                              clean_session=None if v5 else self.clean, username=self.username,
                              password=self.password)

    async def _run(self) -> None:
        while True:  # reconnects (persistent sessions get what was queued while away)
            try:
                async with self._client() as client:
                    self.client = client
                    for t in self.topics:
                        await client.subscribe(t, qos=1)
                    self._connected.set()
                    async for m in client.messages:
                        self.messages.append(Received(m.topic.value, bytes(m.payload), m.retain, m.properties))
            except aiomqtt.MqttError:
                client_fut = self.client._disconnected if self.client is not None else None
                if client_fut is not None and client_fut.done() and not client_fut.cancelled():
                    client_fut.exception()  # read, so asyncio does not log it as never retrieved
                self._connected.clear()
                self.client = None
                await asyncio.sleep(0.1)

    async def __aenter__(self) -> Subscriber:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._connected.wait(), 10.0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    def on(self, topic: str) -> list[Received]:
        return [m for m in self.messages if m.topic == topic]

    async def wait_for(self, predicate: Any, timeout_s: float = 10.0, what: str = "message") -> Received:
        """The first message (in arrival order) for which ``predicate(m)`` holds."""
        deadline = time.monotonic() + timeout_s
        while True:
            for m in self.messages:
                if predicate(m):
                    return m
            if time.monotonic() > deadline:
                seen = [(m.topic, m.payload[:120]) for m in self.messages[-10:]]
                raise AssertionError(f"no {what} within {timeout_s} s; last seen: {seen}")
            await asyncio.sleep(0.02)


@pytest.fixture
async def subscriber_factory() -> AsyncIterator[Any]:
    opened: list[Subscriber] = []

    async def make(*args: Any, **kw: Any) -> Subscriber:
        s = Subscriber(*args, **kw)
        await s.__aenter__()
        opened.append(s)
        return s

    yield make
    for s in opened:
        await s.__aexit__(None, None, None)
