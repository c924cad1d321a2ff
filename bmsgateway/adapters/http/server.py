"""One HTTP server on the adapter seam: the web page, its JSON/SSE API and Prometheus ``/metrics``.

Why aiohttp: it is a server *and* a client in one asyncio library with no ASGI layer in between.
The server embeds in the daemon's own event loop through ``AppRunner``/``TCPSite`` (no second
server process or signal handling to tame, as uvicorn would need), streams server-sent events with
a plain ``StreamResponse``, and the same package gives the tests a real HTTP client. Everything
here is I/O-bound and cheap, so the adapter runs in the daemon's loop; the pack cycle never awaits
it (a slow client only slows its own stream).

Routes:

* ``GET /`` and ``/static/...``: the page (plain files shipped in the package, no build step);
* ``GET /api/state``: the latest snapshot as ``state_document`` (503 while stale: never last values
  as live);
* ``GET /api/events``: server-sent events: ``snapshot`` at ``http.stream_interval_s``, ``stale``
  while there is none, and every ``event`` of the log with its ``seq`` as the SSE id, so a client
  that reconnects with ``Last-Event-ID`` (browsers do it by themselves) or ``?since=SEQ`` gets
  every event it missed, in order. Events gone from the bounded log are announced as ``gap``;
* ``GET/POST /api/settings``: effective settings with their ranges; a change needs the PIN and goes
  through ``ports.propose`` (400 names the key and its allowed range, 403 without the PIN, 429
  after too many wrong PINs);
* ``POST /api/unlock``: checks a PIN (counted like a failed write when wrong) so the page can
  unlock its controls; the page then sends the PIN with each write until the unlock timeout;
* ``GET/POST /api/commands``: the command table (``requests.COMMANDS``), queued with ``ports.submit``;
* ``GET /metrics``: Prometheus text format from the metrics table.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from bmsgateway.adapters.base import AdapterPorts
from bmsgateway.adapters.document import event_document, state_document
from bmsgateway.adapters.http.guard import PinCheck, PinGuard
from bmsgateway.adapters.http.metrics import ExporterCounters, Scrape, render_scrape
from bmsgateway.adapters.http.settings_view import check_value, setting_index, settings_document
from bmsgateway.config.http import HttpConfig
from bmsgateway.config.model import Config
from bmsgateway.requests import COMMANDS, command_by_name
from bmsgateway.state import Event, PackState

__all__ = ["STATIC_DIR", "HttpAdapter"]

log = structlog.get_logger("http")

STATIC_DIR = Path(__file__).resolve().parent / "static"
#: Events sent to a new subscriber that names no resume point (the page's initial log).
BACKLOG_EVENTS = 100
#: How often an event stream looks for new events (they reach the page within this).
_EVENT_POLL_S = 0.1

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(data: Any, status: int = 200, **headers: str) -> web.Response:
    return web.Response(text=json.dumps(data, allow_nan=False), status=status,
                        content_type="application/json", headers=headers or None)


def _problem(status: int, error: str, **extra: Any) -> web.Response:
    return _json({"error": error, **extra}, status=status)


class HttpAdapter:
    """The web page, API and exporter on one port (``[http]``)."""

    name = "http"

    def __init__(self, config: HttpConfig) -> None:
        self._cfg = config
        self.port: int | None = None  #: the bound port (after start; ``http.port = 0`` picks one)
        self.counters = ExporterCounters()
        self._ports: AdapterPorts | None = None
        self._guard: PinGuard | None = None
        self._sse_cache: tuple[int, str] | None = None  #: (snapshot seq, its SSE message)
        self._state_cache: tuple[int, Config, str] | None = None  #: (seq, config, /api/state body)

    # -- lifecycle -----------------------------------------------------------------------------
    async def run(self, ports: AdapterPorts) -> None:
        self._ports = ports
        self._guard = PinGuard(lambda: ports.config.modbus.pin, self._cfg.pin_attempts, self._cfg.pin_window_s)
        self.counters = ExporterCounters()
        runner = web.AppRunner(self.build_app(), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._cfg.host, self._cfg.port)
            await site.start()
            addresses = runner.addresses
            self.port = int(addresses[0][1]) if addresses else self._cfg.port
            log.info("http_listening", host=self._cfg.host, port=self.port)
            ports.mark_started()
            await self._follow(ports)
        finally:
            await runner.cleanup()

    async def _follow(self, ports: AdapterPorts) -> None:
        """Count what the exporter reports: each snapshot's cycle time and each new event."""
        next_seq = ports.next_event_seq
        async for s in ports.snapshots():
            self.counters.observe_cycle(s.timing.duration_s)
            for ev in ports.events_since(next_seq):
                self._count_event(ev)
                next_seq = ev.seq + 1

    def _count_event(self, ev: Event) -> None:
        self.counters.events[(ev.kind, ev.severity)] += 1
        if ev.kind == "raised":
            self.counters.faults_raised[(ev.condition, ev.severity)] += 1

    @property
    def ports(self) -> AdapterPorts:
        assert self._ports is not None, "adapter not running"
        return self._ports

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._count_requests], client_max_size=64 * 1024)
        app.router.add_get("/", self._index)
        app.router.add_static("/static/", STATIC_DIR, append_version=False)
        app.router.add_get("/api/state", self._state)
        app.router.add_get("/api/events", self._events)
        app.router.add_get("/api/settings", self._settings_get)
        app.router.add_post("/api/settings", self._settings_post)
        app.router.add_post("/api/unlock", self._unlock)
        app.router.add_get("/api/commands", self._commands_get)
        app.router.add_post("/api/commands", self._commands_post)
        app.router.add_get("/metrics", self._metrics)
        return app

    @web.middleware
    async def _count_requests(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        route = request.match_info.route.resource
        name = route.canonical if route is not None else "other"
        if name.startswith("/static"):
            name = "/static"
        try:
            resp = await handler(request)
        except web.HTTPException as exc:
            self.counters.http_requests[(name, str(exc.status))] += 1
            raise
        self.counters.http_requests[(name, str(resp.status))] += 1
        return resp

    # -- page ----------------------------------------------------------------------------------
    async def _index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    # -- state ---------------------------------------------------------------------------------
    def _layout(self) -> dict[str, Any]:
        cfg = self.ports.config
        return {
            "boards": [{"board": i + 1, "chip": b.chip, "cells": b.cells, "thermistors": b.thermistors}
                       for i, b in enumerate(cfg.pack.boards)],
            "chemistry": str(cfg.pack.limits.chemistry),
            "vmin_v": cfg.pack.limits.vmin_v,
            "vmax_v": cfg.pack.limits.vmax_v,
            "vbalance_v": cfg.pack.limits.vbalance_v,
            "stale_after_s": self.ports.stale_after_s,
            "stream_interval_s": self._cfg.stream_interval_s,
        }

    def _stale_info(self) -> dict[str, Any]:
        latest = self.ports.latest()
        return {"available": False, "last_wall_time": None if latest is None else latest.wall_time,
                "last_seq": None if latest is None else latest.seq}

    async def _state(self, request: web.Request) -> web.StreamResponse:
        s = self.ports.fresh()
        if s is None:
            return _json({**self._stale_info(), "layout": self._layout(), "state": None}, status=503,
                         **{"Retry-After": "1"})
        return web.Response(text=self._state_body(s), content_type="application/json")

    def _state_body(self, s: PackState) -> str:
        """``/api/state``'s body, encoded once per snapshot (and config): a client polling faster
        than the cycle, or many of them, costs the loop one encoding per cycle, not one per
        request."""
        cfg = self.ports.config
        cached = self._state_cache
        if cached is None or cached[0] != s.seq or cached[1] is not cfg:
            body = json.dumps({"available": True, "layout": self._layout(), "state": state_document(s)},
                              allow_nan=False)
            cached = self._state_cache = (s.seq, cfg, body)
        return cached[2]

    def _snapshot_sse(self, s: PackState) -> str:
        """The snapshot's SSE message, encoded once per snapshot however many streams send it
        (a 255-cell document is milliseconds of the loop's time: not once per browser)."""
        cached = self._sse_cache
        if cached is None or cached[0] != s.seq:
            cached = self._sse_cache = (s.seq, _sse("snapshot", state_document(s)))
        return cached[1]

    # -- events --------------------------------------------------------------------------------
    def _resume_from(self, request: web.Request) -> int:
        """The first event seq this stream sends (raises HTTPBadRequest on a malformed id)."""
        try:
            last_id = request.headers.get("Last-Event-ID")
            if last_id not in (None, ""):
                return int(str(last_id)) + 1
            since = request.query.get("since")
            if since is not None:
                return max(0, int(since))
        except ValueError:
            raise web.HTTPBadRequest(text="Last-Event-ID and since must be event sequence numbers") from None
        return max(0, self.ports.next_event_seq - BACKLOG_EVENTS)

    async def _events(self, request: web.Request) -> web.StreamResponse:
        ports = self.ports
        next_seq = self._resume_from(request)
        resp = web.StreamResponse(headers={
            "Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no",
        })
        await resp.prepare(request)
        interval = self._cfg.stream_interval_s
        last_snapshot_t = -math.inf
        last_seq = -1
        try:
            await resp.write(b"retry: 1000\n\n")
            while True:
                if request.transport is None or request.transport.is_closing():
                    break  # the client went away: stop counting (and sending) for it
                chunks: list[str] = []
                events = ports.events_since(next_seq)
                first = events[0].seq if events else ports.next_event_seq
                if first > next_seq:  # fell off the bounded log before this subscriber got them
                    self.counters.events_dropped["http"] += first - next_seq
                    chunks.append(_sse("gap", {"from_seq": next_seq, "to_seq": first - 1}))
                    next_seq = first
                for ev in events:
                    chunks.append(_sse("event", event_document(ev), ev.seq))
                    next_seq = ev.seq + 1
                now = time.monotonic()
                if now - last_snapshot_t >= interval:
                    last_snapshot_t = now
                    s = ports.fresh()
                    if s is None:
                        chunks.append(_sse("stale", self._stale_info()))
                    elif s.seq != last_seq:
                        last_seq = s.seq
                        chunks.append(self._snapshot_sse(s))
                if chunks:
                    await resp.write("".join(chunks).encode())
                await asyncio.sleep(_EVENT_POLL_S)
        except (ConnectionResetError, ConnectionError):
            pass
        return resp

    # -- settings ------------------------------------------------------------------------------
    async def _settings_get(self, request: web.Request) -> web.StreamResponse:
        cfg = self.ports.config
        return _json(settings_document(cfg, cfg.modbus.unlock_timeout_s))

    async def _read_body(self, request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise web.HTTPBadRequest(text=json.dumps({"error": "body must be a JSON object"}),
                                     content_type="application/json") from None
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(text=json.dumps({"error": "body must be a JSON object"}),
                                     content_type="application/json")
        return body

    def _pin_refusal(self, request: web.Request, body: dict[str, Any], what: str) -> web.Response | None:
        """None when the PIN is right; else the 403/429 answer (logged, counted)."""
        assert self._guard is not None
        client = request.remote or "unknown"
        given = request.headers.get("X-BMS-PIN", body.get("pin"))
        result = self._guard.check(client, given)
        if result is PinCheck.OK:
            return None
        self.counters.writes[(what, "refused")] += 1
        if result is PinCheck.LOCKED_OUT:
            retry = math.ceil(self._guard.retry_after_s(client))
            log.warning("http_pin_locked_out", client=client, write=what, retry_after_s=retry)
            return _json({"error": "too many wrong PINs; try again later", "retry_after_s": retry}, status=429,
                         **{"Retry-After": str(retry)})
        self.counters.pin_failures["http"] += 1
        log.warning("http_pin_refused", client=client, write=what, reason=result.value)
        return _problem(403, "PIN required" if result is PinCheck.MISSING else "wrong PIN")

    async def _unlock(self, request: web.Request) -> web.StreamResponse:
        """Check a PIN without writing (the page's Unlock): 200 with the unlock timeout, else 403/429."""
        body = await self._read_body(request)
        refused = self._pin_refusal(request, body, "unlock")
        if refused is not None:
            return refused
        timeout_s = self.ports.config.modbus.unlock_timeout_s
        log.info("http_unlocked", client=request.remote or "unknown", timeout_s=timeout_s)
        return _json({"unlocked": True, "unlock_timeout_s": timeout_s})

    async def _settings_post(self, request: web.Request) -> web.StreamResponse:
        body = await self._read_body(request)
        refused = self._pin_refusal(request, body, "settings")
        if refused is not None:
            return refused
        changes = body.get("changes")
        if not isinstance(changes, dict) or not changes:
            return _problem(400, "changes must be a non-empty object of dotted keys")
        index = setting_index()
        source = f"http:{request.remote or 'unknown'}"
        for key, value in changes.items():
            problem = check_value(key, value)
            if problem is not None:
                info = index.get(key)
                self.counters.writes[("settings", "rejected")] += 1
                log.warning("http_setting_rejected", source=source, key=key, value=value, problem=problem)
                return _problem(400, f"{key}: {problem}", key=key, value=value,
                                allowed=None if info is None else info.allowed())
        problems = await self.ports.propose(changes, source)
        if problems:
            key = next((k for k in changes if any(p.startswith(k) for p in problems)),
                       next((k for k in changes if any(k.rsplit(".", 1)[-1] in p for p in problems)),
                            next(iter(changes))))
            info = index.get(key)
            self.counters.writes[("settings", "rejected")] += 1
            log.warning("http_setting_rejected", source=source, changes=changes, problems=problems)
            return _problem(400, "; ".join(problems), key=key, value=changes.get(key),
                            allowed=None if info is None else info.allowed(), problems=problems)
        self.counters.writes[("settings", "accepted")] += 1
        log.info("http_setting_changed", source=source, changes=changes)
        return _json({"accepted": True, "changes": changes, "source": source})

    # -- commands ------------------------------------------------------------------------------
    async def _commands_get(self, request: web.Request) -> web.StreamResponse:
        return _json({"commands": [
            {"command": c.command.value, "cli_name": c.cli_name, "needs_pin": c.needs_pin,
             "description": c.description, "argument": c.argument or None}
            for c in COMMANDS.values()
        ]})

    async def _commands_post(self, request: web.Request) -> web.StreamResponse:
        body = await self._read_body(request)
        name = body.get("command")
        spec = command_by_name(name) if isinstance(name, str) else None
        if spec is None:
            return _problem(400, f"unknown command {name!r}",
                            allowed=[c.command.value for c in COMMANDS.values()])
        if spec.needs_pin:
            refused = self._pin_refusal(request, body, "command")
            if refused is not None:
                return refused
        source = f"http:{request.remote or 'unknown'}"
        if spec.argument and spec.make_with is not None:
            value = body.get(spec.argument)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                return _problem(400, f"{spec.command.value} needs \"{spec.argument}\" (a number)",
                                key=spec.argument)
            self.ports.submit(spec.make_with(source, float(value)))
        else:
            self.ports.submit(spec.make(source))
        self.counters.writes[("command", "accepted")] += 1
        log.info("http_command", source=source, command=spec.command.value)
        return _json({"queued": spec.command.value, "source": source}, status=202)

    # -- metrics -------------------------------------------------------------------------------
    def scrape(self) -> Scrape:
        """What one scrape reads, taken on the event loop: immutable snapshot, copied counters."""
        ports = self.ports
        adapters: dict[str, dict[str, float]] = {}
        for name, read in list(ports.stats.items()):
            if name == ports.name:
                continue
            try:
                adapters[name] = {k: float(v) for k, v in read().items()}
            except Exception:
                continue
        return Scrape(ports.fresh(), ports.latest(), ports.config, self.counters.copy(), ports.clock.wall_time(),
                      adapters)

    async def _metrics(self, request: web.Request) -> web.StreamResponse:
        # Formatting a 255-cell scrape takes milliseconds of CPU: done in a worker thread, so the
        # event loop (and the pack cycle in it) is held at most one GIL switch interval at a time.
        scrape = self.scrape()
        body = await asyncio.to_thread(render_scrape, scrape)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def _sse(kind: str, data: Any, seq: int | None = None) -> str:
    head = f"id: {seq}\n" if seq is not None else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data, allow_nan=False, separators=(',', ':'))}\n\n"

