"""``bmsgateway simulate``: the whole daemon on the simulated pack, faster than real time.

Prints each injected fault, each event and each output change with its simulated time, a summary
every ``--summary-every`` of simulated time and a final summary; ``--json`` prints one JSON object
per line instead (``{"type": "event" | "injection" | "summary" | "final", ...}``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from typing import Any

from bmsgateway.commands.common import (
    UsageError,
    add_config_arg,
    check_injection_times,
    fmt_time,
    load_or_exit,
    parse_duration_s,
    parse_speed,
)
from bmsgateway.config import Config, ConfigError, parse_config
from bmsgateway.runtime.logging import configure_logging
from bmsgateway.settings import merge_dotted

__all__ = ["fmt_time", "register", "run", "with_overrides"]

SCENARIOS = ("idle", "constant", "solar_day", "csv")
INVERTER_DIALECTS = ("pylontech", "sma", "victron")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("simulate", help="run the daemon on the simulated pack faster than real time")
    add_config_arg(p)
    p.add_argument("--scenario", choices=SCENARIOS, default=None, help="current profile (default: config)")
    p.add_argument("--duration", default="24h", help="simulated time to run, e.g. 24h, 90m (default 24h)")
    p.add_argument("--speed", default="max", help="'max' (as fast as the CPU allows) or a factor, e.g. 60")
    p.add_argument("--period", type=float, default=None, help="override system.cycle_period_s (s)")
    p.add_argument(
        "--inject", action="append", default=[], metavar="FAULT@TIME",
        help="inject a fault, e.g. cell_ov:5@2h, dead_board:2@30m, welded:charge@1h (repeatable)",
    )
    p.add_argument("--summary-every", default="1h", help="simulated time between summary lines")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument(
        "--inverter", choices=("none", *INVERTER_DIALECTS), default=None,
        help="closed loop: the simulated inverter obeys this dialect's CAN frames on a virtual bus; "
             "none = open loop (default: the config's [can] simulated_inverter)",
    )
    p.set_defaults(func=run)


def with_overrides(cfg: Config, changes: dict[str, Any]) -> Config:
    """A copy of ``cfg`` with dotted-key changes, validated like a file."""
    return parse_config(merge_dotted(cfg.model_dump(mode="json"), changes), "command line")


def inverter_overrides(cfg: Config, dialect: str, period_s: float | None) -> dict[str, Any]:
    """Changes for ``--inverter``: the simulated inverter on a virtual bus, or open loop."""
    if dialect == "none":
        return {"can.simulated_inverter": False}
    period = period_s if period_s is not None else cfg.system.cycle_period_s
    return {
        "can.enabled": True, "can.interface": "virtual", "can.channel": "bmsgateway-simulate",
        "can.simulated_inverter": True, "can.inverter.enabled": True, "can.inverter.dialect": dialect,
        # Virtual time moves a whole period before an adapter reads a snapshot: keep it fresh.
        "system.stale_after_s": min(60.0, max(cfg.system.stale_after_s, 2.5 * period)),
        "can.inverter.keepalive_timeout_s": min(600.0, max(cfg.can.inverter.keepalive_timeout_s, 3.0 * period)),
    }


def run(args: argparse.Namespace) -> int:
    cfg = load_or_exit(args.config)
    if cfg is None:
        return 2
    if cfg.hardware.backend != "simulated":
        raise UsageError("simulate needs hardware.backend = \"simulated\"")
    changes: dict[str, Any] = {}
    if args.scenario:
        changes["simulator.scenario"] = args.scenario
    if args.period is not None:
        changes["system.cycle_period_s"] = args.period
    if args.inverter is not None:
        changes.update(inverter_overrides(cfg, args.inverter, args.period))
    try:
        cfg = with_overrides(cfg, changes)
    except ConfigError as err:
        for problem in err.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    # Log lines (warnings and worse) go to stderr so stdout holds only the simulation's own lines.
    configure_logging("warning", "json" if args.json else "auto", stream=sys.stderr)
    duration_s = parse_duration_s(args.duration)
    summary_s = parse_duration_s(args.summary_every)
    speed = parse_speed(args.speed)
    from bmsgateway.sim.faults import FaultInjector, parse_injection

    try:
        injections = [parse_injection(text) for text in args.inject]
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    check_injection_times(injections, duration_s)
    return asyncio.run(_simulate(cfg, duration_s, speed, injections, summary_s, args.json, FaultInjector))


async def _simulate(
    cfg: Config, duration_s: float, speed: str | float | None, injections: list[Any], summary_s: float, as_json: bool,
    injector_cls: Any,
) -> int:
    from bmsgateway.app import Daemon, event_fields, summary_fields
    from bmsgateway.clock import make_clock
    from bmsgateway.state import PackState

    try:
        clock = make_clock(speed)
    except ValueError as exc:
        raise UsageError(f"--speed {speed!r}: {exc}") from None
    out = sys.stdout

    def emit(kind: str, t_s: float, fields: dict[str, Any], text: str) -> None:
        if as_json:
            out.write(json.dumps({"type": kind, "time": fmt_time(t_s), **fields}) + "\n")
        else:
            out.write(f"{fmt_time(t_s)}  {text}\n")

    with tempfile.TemporaryDirectory(prefix="bmsgateway-sim-") as tmp:
        try:
            daemon = Daemon.build(cfg, clock, state_dir=tmp, adapters=False, log_events=False)
        except ValueError as exc:  # e.g. an unreadable CSV profile
            print(f"config error: {exc}", file=sys.stderr)
            return 2
        if cfg.can.enabled and cfg.can.simulated_inverter:
            daemon.add_can_adapters(cfg)
        t0 = clock.now()
        injector = injector_cls(daemon.hardware.simulator, daemon.hardware.emulator)
        try:
            injector.schedule(injections)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        next_summary = [t0]

        def on_state(s: PackState) -> None:
            rel = s.time_s - t0
            for inj in injector.poll(s.time_s):
                emit("injection", rel, {"fault": str(inj)}, f"INJECT  {inj}")
            for ev in s.protection.events:
                f = event_fields(ev)
                f.pop("t_s", None)
                detail = " ".join(f"{k}={v}" for k, v in f.items() if k not in ("kind", "condition"))
                emit("event", ev.time_s - t0, f, f"{ev.kind.upper():7s} {ev.condition} {detail}")
            if s.time_s >= next_summary[0]:
                next_summary[0] += summary_s
                f = summary_fields(s)
                f.pop("t_s", None)
                emit("summary", rel, f, "SUMMARY " + " ".join(f"{k}={v}" for k, v in f.items()))

        daemon.cycle.listeners.append(on_state)
        await daemon.start(until_s=t0 + duration_s)
        try:
            await daemon.wait()
        finally:
            await daemon.stop()
            inverter = getattr(daemon.hardware.simulator, "inverter", None)
            if inverter is not None:
                inverter.close()
        last = daemon.store.latest
        if last is not None:
            f = summary_fields(last)
            f.pop("t_s", None)
            f["cycles"] = last.seq + 1
            f["simulated_s"] = round(last.time_s - t0, 1)
            emit("final", last.time_s - t0, f, "FINAL   " + " ".join(f"{k}={v}" for k, v in f.items()))
    return 0
