"""Command line: argument parsing only; each subcommand lives in ``bmsgateway.commands``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from bmsgateway import __version__
from bmsgateway.commands import bench_latency, bench_loop, check_config, run, simulate
from bmsgateway.commands.common import UsageError
from bmsgateway.runtime.logging import configure_logging, flush_logging

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bmsgateway",
        description="Battery management system gateway daemon (LTC681x, protection, SOC, Modbus/SunSpec).",
    )
    parser.add_argument("--version", action="version", version=f"bmsgateway {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run.register(sub)
    simulate.register(sub)
    check_config.register(sub)
    bench = sub.add_parser("bench", help="benchmarks that print figures")
    bench_sub = bench.add_subparsers(dest="bench", required=True, metavar="BENCH")
    bench_loop.register_bench(bench_sub)
    bench_latency.register_bench(bench_sub)
    _optional(sub, bench_sub)
    return parser


def _optional(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    bench_sub: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """Subcommands of the estimation and Modbus layers."""
    from bmsgateway.commands import (
        bench_can,
        bench_http,
        bench_modbus,
        bench_soc,
        bench_telemetry,
        command,
        eds,
        health,
        history,
        registers,
        replay,
    )

    command.register(sub)
    history.register(sub)
    health.register(sub)
    replay.register(sub)
    registers.register(sub)
    bench_soc.register_bench(bench_sub)
    bench_modbus.register_bench(bench_sub)
    bench_http.register_bench(bench_sub)
    eds.register(sub)
    bench_can.register_bench(bench_sub)
    bench_telemetry.register_bench(bench_sub)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # Commands other than `run` print their results on stdout; their log lines go to stderr.
    configure_logging("warning", "auto", stream=sys.stderr)
    try:
        code: int = args.func(args)
        sys.stdout.flush()
    except UsageError as exc:
        print(f"bmsgateway: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:
        # `bmsgateway simulate ... | head`: the reader has all it wants; stop quietly.
        _silence_stdout()
        return 0
    finally:
        flush_logging(2.0)  # log lines are written by a thread: let the last ones out
    return code


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot raise again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
