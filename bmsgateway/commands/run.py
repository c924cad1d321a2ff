"""``bmsgateway run [--config FILE]``: the daemon in the foreground until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import sys

import structlog

from bmsgateway.commands.common import (
    UsageError,
    add_config_arg,
    check_injection_times,
    load_or_exit,
    parse_duration_s,
    parse_speed,
)
from bmsgateway.runtime.logging import configure_logging
from bmsgateway.state import PackState

__all__ = ["register", "run"]

log = structlog.get_logger("run")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("run", help="run the daemon in the foreground")
    add_config_arg(p)
    p.add_argument("--speed", default=None, help="simulated clock speed: a factor or 'max' (simulation only)")
    p.add_argument("--state-dir", default=None, help="override system.state_dir")
    p.add_argument("--duration", default=None, help="stop (exit 0) after this much clock time, e.g. 90s, 2h")
    p.add_argument(
        "--inject", action="append", default=[], metavar="FAULT@TIME",
        help="simulated backend: inject a fault while the daemon serves, e.g. cell_ov:5@30s (repeatable); "
        "times count from the start",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = load_or_exit(args.config)
    if cfg is None:
        return 2
    configure_logging(cfg.logging.level, cfg.logging.format)
    from bmsgateway.app import Daemon
    from bmsgateway.clock import make_clock

    if args.speed is not None and cfg.hardware.backend != "simulated":
        raise UsageError("--speed only applies to the simulated backend")
    if args.inject and cfg.hardware.backend != "simulated":
        raise UsageError("--inject only applies to the simulated backend")
    duration_s = parse_duration_s(args.duration) if args.duration is not None else None
    from bmsgateway.sim.faults import FaultInjector, parse_injection

    try:
        injections = [parse_injection(text) for text in args.inject]
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    check_injection_times(injections, duration_s)
    try:
        clock = make_clock(parse_speed(args.speed))
    except ValueError as exc:
        raise UsageError(f"--speed {args.speed!r}: {exc}") from None

    async def main() -> int:
        try:
            daemon = Daemon.build(cfg, clock, state_dir=args.state_dir)
        except ValueError as exc:
            # data a config key points to (e.g. the simulator's CSV profile) is unusable
            print(f"config error: {exc}", file=sys.stderr)
            return 2
        except (RuntimeError, OSError) as exc:
            # Hardware that cannot be opened (no spidev module, no /dev/spidev*, GPIO busy): nothing
            # was started, so there is nothing to make safe; say what is missing and stop.
            log.error("cannot_start", error=str(exc))
            print(f"bmsgateway: cannot start: {exc}", file=sys.stderr)
            return 1
        if injections:
            injector = FaultInjector(daemon.hardware.simulator, daemon.hardware.emulator)
            try:
                injector.schedule(injections)
            except ValueError as exc:
                print(f"bmsgateway: error: {exc}", file=sys.stderr)
                return 2

            def inject(s: PackState) -> None:
                for inj in injector.poll(s.time_s):
                    log.warning("fault_injected", fault=str(inj), t_s=round(s.time_s, 3))

            daemon.cycle.listeners.insert(0, inject)
        return await daemon.run_until_signal(duration_s=duration_s)

    return asyncio.run(main())
