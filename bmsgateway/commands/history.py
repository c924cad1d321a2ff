"""``bmsgateway history export``: the rotated history files as one CSV that ``replay`` reads."""

from __future__ import annotations

import argparse
import math
import sys
from datetime import datetime
from pathlib import Path

from bmsgateway.adapters.history import export_lines
from bmsgateway.commands.common import UsageError, add_config_arg, load_or_exit
from bmsgateway.config import Config

__all__ = ["history_dir", "parse_time", "register"]


def history_dir(config: Config, state_dir: str | None = None) -> Path:
    """Where the daemon writes its history (``history.dir``, else ``<state_dir>/history``)."""
    if config.history.dir:
        return Path(config.history.dir)
    return config.system.resolved_state_dir(state_dir) / "history"


def parse_time(text: str) -> float:
    """Unix seconds, or an ISO 8601 date/time (local time when no zone is given)."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise UsageError(f"time {text!r}: expected Unix seconds or an ISO 8601 date/time "
                         "such as 2026-12-01T08:00") from None


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("history", help="export the on-disk history log as one CSV")
    hs = p.add_subparsers(dest="history_cmd", required=True, metavar="ACTION")
    e = hs.add_parser("export", help="one CSV in the replay format (rows and event comment lines)")
    add_config_arg(e)
    e.add_argument("--state-dir", default=None, help="the daemon's state directory (default: system.state_dir)")
    e.add_argument("--dir", default=None, help="history directory (default: history.dir or <state_dir>/history)")
    e.add_argument("--from", dest="start", default=None, help="first time (Unix seconds or ISO 8601)")
    e.add_argument("--to", dest="end", default=None, help="last time (Unix seconds or ISO 8601)")
    e.add_argument("--out", "-o", default=None, help="output file (default: stdout)")
    e.set_defaults(func=_export)


def _export(args: argparse.Namespace) -> int:
    config = load_or_exit(args.config)
    if config is None:
        return 2
    directory = Path(args.dir) if args.dir else history_dir(config, args.state_dir)
    start = parse_time(args.start) if args.start else -math.inf
    end = parse_time(args.end) if args.end else math.inf
    if not directory.is_dir():
        print(f"bmsgateway: no history in {directory}", file=sys.stderr)
        return 1
    lines = export_lines(directory, start, end)
    try:
        if args.out:
            with open(args.out, "w", encoding="utf-8") as fh:
                for line in lines:
                    fh.write(line + "\n")
        else:
            for line in lines:
                sys.stdout.write(line + "\n")
            sys.stdout.flush()
    except BrokenPipeError:  # `history export | head`
        sys.stderr.close()
        return 0
    return 0
