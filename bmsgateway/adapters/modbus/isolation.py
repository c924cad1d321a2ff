"""Process isolation: the Modbus servers run in a child process fed with snapshots over a pipe.

Why a process (measured with ``bmsgateway bench modbus``): with the servers in a thread of the
daemon, 20 clients polling as fast as they can keep that thread busy, and the pack loop waits for
the GIL at its wake-ups (loop period jitter p99 up to ~14 ms on 2 cores, bare pymodbus in a thread
alike). In a child process the loop stays near its baseline jitter (p99 1-3 ms). The daemon side does only this:

* a feeder thread sends ``(store.latest, settings.config if changed, uptime_s)`` when the
  snapshot object changes (polled every 5 ms; pickling a snapshot takes ~40 µs);
* an RPC thread answers the child's ``propose`` (``SettingsStore.propose``, whose reply carries
  the new config so the child shows it at once), ``submit`` (``RequestQueue.submit``) and status
  messages.

The child ignores SIGINT/SIGTERM and exits when the snapshot pipe closes (daemon stop or death).
If the child dies while the daemon runs, it is restarted with a doubling back-off.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import multiprocessing as mp
import signal
import threading
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection
from typing import Any

import structlog

from bmsgateway.adapters.modbus.image import RegisterImage, StateSource
from bmsgateway.adapters.modbus.servers import Servers
from bmsgateway.adapters.modbus.writes import RequestSink, SettingsPort
from bmsgateway.clock import Clock, RealClock
from bmsgateway.config.model import Config
from bmsgateway.requests import Request
from bmsgateway.state import PackState

__all__ = ["ProcessLink", "child_main"]

log = structlog.get_logger("modbus")

_RPC_TIMEOUT_S = 5.0
_FEED_POLL_S = 0.005


# --- child side ----------------------------------------------------------------------------------
class _Mirror:
    """The child's view of the daemon: latest snapshot, config, uptime; proxies for writes."""

    def __init__(self, config: Config, rpc: Connection) -> None:
        self.latest: PackState | None = None
        self.config = config
        self.uptime = math.nan
        self._rpc = rpc
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def uptime_s(self) -> float:
        return self.uptime

    def propose(self, changes: Mapping[str, Any], source: str = "unknown") -> list[str]:
        with self._lock:
            rid = next(self._ids)
            self._rpc.send(("propose", rid, dict(changes), source))
            while True:
                if not self._rpc.poll(_RPC_TIMEOUT_S):
                    raise TimeoutError("daemon did not answer a settings change")
                reply_id, problems, config = self._rpc.recv()
                if reply_id == rid:
                    break  # a late reply to an earlier, timed-out request is dropped
        if config is not None:
            self.config = config
        return list(problems)

    def submit(self, request: Request) -> None:
        with self._lock:
            self._rpc.send(("submit", request))

    def status(self, kind: str, value: Any) -> None:
        with self._lock, contextlib.suppress(OSError):
            self._rpc.send(("status", kind, value))


def _receive(mirror: _Mirror, conn: Connection, loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    while True:
        try:
            state, config, uptime_s = conn.recv()
        except (EOFError, OSError):
            loop.call_soon_threadsafe(stop.set)
            return
        if config is not None:
            mirror.config = config
        mirror.uptime = uptime_s
        mirror.latest = state


async def _child(config: Config, snapshots: Connection, rpc: Connection) -> None:
    mirror = _Mirror(config, rpc)
    stop = asyncio.Event()
    threading.Thread(target=_receive, args=(mirror, snapshots, asyncio.get_running_loop(), stop),
                     name="modbus-feed", daemon=True).start()
    image = RegisterImage(config, mirror, mirror, mirror, RealClock(), mirror.uptime_s)
    await Servers(config, image, mirror.status).run(stop)


def child_main(config: Config, snapshots: Connection, rpc: Connection) -> None:
    """Entry point of the Modbus process (spawned)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with contextlib.suppress(ImportError):
        from bmsgateway.runtime.logging import configure_logging

        configure_logging(config.logging.level, config.logging.format)
    try:
        asyncio.run(_child(config, snapshots, rpc))
    except Exception as exc:  # reported to the daemon, which fails start() or restarts us
        with contextlib.suppress(OSError):
            rpc.send(("status", "error", repr(exc)))
        raise


# --- daemon side ---------------------------------------------------------------------------------
class ProcessLink:
    """Spawns, feeds, answers and supervises the Modbus child process."""

    def __init__(
        self,
        config: Config,
        store: StateSource,
        settings: SettingsPort,
        requests: RequestSink,
        clock: Clock,
        started_s: float,
        on_status: Callable[[str, Any], None],
    ) -> None:
        self._config = config
        self._store = store
        self._settings = settings
        self._requests = requests
        self._clock = clock
        self._started_s = started_s
        self._on_status = on_status
        self._stopping = threading.Event()
        self.ready = threading.Event()
        self.error: str | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._supervise, name="modbus-supervisor", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _supervise(self) -> None:
        delay_s = 1.0
        while not self._stopping.is_set():
            try:
                self._run_child()
            except Exception as exc:  # never let the supervisor die
                log.error("modbus_process_error", error=repr(exc))
            if not self.ready.is_set():
                self.error = self.error or "the Modbus process exited before it was ready"
                self.ready.set()
            if self._stopping.is_set() or self.error is not None:
                return  # stopped, or the child never came up: start() reports it
            log.error("modbus_process_died", restart_in_s=delay_s)
            self._stopping.wait(delay_s)
            delay_s = min(30.0, delay_s * 2)

    def _run_child(self) -> None:
        ctx = mp.get_context("spawn")
        snap_recv, snap_send = ctx.Pipe(duplex=False)
        rpc_parent, rpc_child = ctx.Pipe(duplex=True)
        proc = ctx.Process(target=child_main, args=(self._config, snap_recv, rpc_child),
                           name="bmsgateway-modbus", daemon=True)
        proc.start()
        snap_recv.close()
        rpc_child.close()
        rpc = threading.Thread(target=self._serve_rpc, args=(rpc_parent,), name="modbus-rpc", daemon=True)
        rpc.start()
        try:
            self._feed(snap_send, proc)
        finally:
            snap_send.close()  # the child sees EOF and exits
            proc.join(5.0)
            if proc.is_alive():
                proc.terminate()
                proc.join(5.0)
            rpc.join(5.0)
            rpc_parent.close()

    def _feed(self, conn: Connection, proc: Any) -> None:
        last_state: object = None
        last_config: Config | None = None
        sent_once = False
        while not self._stopping.is_set() and proc.is_alive():
            state = self._store.latest
            config = self._settings.config
            if not sent_once or state is not last_state or config is not last_config:
                uptime_s = self._clock.now() - self._started_s
                try:
                    conn.send((state, config if config is not last_config else None, uptime_s))
                except OSError:
                    return
                last_state, last_config, sent_once = state, config, True
            self._stopping.wait(_FEED_POLL_S)

    def _serve_rpc(self, conn: Connection) -> None:
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                return
            kind = msg[0]
            if kind == "propose":
                _, rid, changes, source = msg
                problems = self._settings.propose(changes, source=source)
                with contextlib.suppress(OSError):
                    conn.send((rid, problems, None if problems else self._settings.config))
            elif kind == "submit":
                self._requests.submit(msg[1])
            elif kind == "status":
                _, what, value = msg
                if what == "error" and not self.ready.is_set():
                    self.error = str(value)  # a start failure (e.g. the TCP port is taken)
                    self.ready.set()
                elif what == "error":
                    log.error("modbus_process_failed", error=str(value))
                elif what == "ready":
                    self.ready.set()
                self._on_status(what, value)
