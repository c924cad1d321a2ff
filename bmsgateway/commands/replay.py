"""``bmsgateway replay TRACE.csv``: run the estimator and protection over a recorded trace.

Exit status: 0 done, 2 bad config or bad trace (one clear line on stderr).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
from pathlib import Path
from typing import Any

from bmsgateway.config import ConfigError, load_config
from bmsgateway.persist.atomic import atomic_write_bytes
from bmsgateway.replay import TraceError, read_trace, replay, write_result_csv

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``replay`` to the top-level subcommands."""
    p = sub.add_parser(
        "replay",
        help="run the estimator and protection over a recorded CSV trace",
        description="Input CSV header: time_s,current_a,v1..vN[,t1..tM] (current positive = charging).",
    )
    p.add_argument("trace", metavar="TRACE.csv", help="recorded trace")
    p.add_argument("--config", "-c", metavar="FILE", default=None, help="TOML config (default: embedded)")
    p.add_argument("--out", "-o", metavar="RESULT.csv", default=None,
                   help="write time_s,soc_pack,soc_1..soc_N,events here (default: stdout unless --json)")
    p.add_argument("--json", action="store_true", help="print a JSON summary (final SOC, capacity, SOH)")
    p.add_argument("--no-protection", action="store_true", help="run the estimator only")
    p.set_defaults(func=run)


def _clean(value: Any) -> Any:
    """JSON has no NaN: report it as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as err:
        for problem in err.problems:
            print(f"config error: {err.source}: {problem}", file=sys.stderr)
        return 2
    try:
        trace = read_trace(args.trace)
    except TraceError as err:
        print(f"replay: {err}", file=sys.stderr)
        return 2
    result = replay(trace, config, protection=not args.no_protection)
    for note in result.notes:
        print(f"replay: {note}", file=sys.stderr)
    if args.out:
        buf = io.StringIO()
        write_result_csv(result, buf)
        try:
            atomic_write_bytes(Path(args.out), buf.getvalue().encode("utf-8"), keep_backup=False)
        except OSError as exc:
            print(f"replay: cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
            return 2
    elif not args.json:
        write_result_csv(result, sys.stdout)
    if args.json:
        summary = {k: _clean(v) for k, v in result.summary().items()}
        print(json.dumps(summary, indent=2))
    return 0
