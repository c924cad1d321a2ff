"""``bmsgateway replay TRACE.csv``: run the estimator and protection over a recorded trace.

With ``--truth TRUTH.csv`` (``time_s,soc_1..soc_N``, fractions) the estimates are scored: per cell
and for the pack (against the weakest cell), RMS and largest error in percentage points and the
share of time the truth lies inside the estimator's own 2-sigma band; ``--skip`` leaves the start
(convergence) out. ``--json`` then prints the scores under ``"score"``.

Exit status: 0 done, 2 bad config, bad trace or bad truth file (one clear line on stderr).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
from pathlib import Path
from typing import Any

from bmsgateway.commands.common import UsageError, parse_duration_s
from bmsgateway.config import ConfigError, load_config
from bmsgateway.persist.atomic import atomic_write_bytes
from bmsgateway.replay import TraceError, read_trace, read_truth, replay, score, write_result_csv

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
    p.add_argument("--truth", metavar="TRUTH.csv", default=None,
                   help="score against the true SOC: time_s,soc_1..soc_N (fractions 0..1)")
    p.add_argument("--skip", metavar="DURATION", default="0s",
                   help="with --truth: leave this much of the start unscored, e.g. 2h (default 0s)")
    p.set_defaults(func=run)


def _clean(value: Any) -> Any:
    """JSON has no NaN: report it as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def _print_scores(s: dict[str, Any]) -> None:
    print(f"scored {s['scored_rows']} rows after the first {s['skip_s']:g} s (percentage points):")
    print(f"  {'':8}{'RMS':>8}{'max':>8}{'2-sigma':>9}")
    for k, c in enumerate(s["cells"]):
        print(f"  {'cell ' + str(k + 1):8}{c['rms_pp']:8.2f}{c['max_pp']:8.2f}{c['coverage_2sigma_pct']:8.1f}%")
    p = s["pack"]
    print(f"  {'pack':8}{p['rms_pp']:8.2f}{p['max_pp']:8.2f}{p['coverage_2sigma_pct']:8.1f}%  (vs weakest cell)")


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as err:
        for problem in err.problems:
            print(f"config error: {err.source}: {problem}", file=sys.stderr)
        return 2
    try:
        skip_s = parse_duration_s(args.skip)
    except UsageError as err:
        print(f"replay: --skip: {err}", file=sys.stderr)
        return 2
    try:
        trace = read_trace(args.trace)
        truth = read_truth(args.truth) if args.truth else None
    except TraceError as err:
        print(f"replay: {err}", file=sys.stderr)
        return 2
    result = replay(trace, config, protection=not args.no_protection)
    scores: dict[str, Any] | None = None
    if truth is not None:
        try:
            scores = score(result, truth, skip_s)
        except TraceError as err:
            print(f"replay: {args.truth}: {err}", file=sys.stderr)
            return 2
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
    elif not args.json and scores is None:
        write_result_csv(result, sys.stdout)
    if args.json:
        summary = {k: _clean(v) for k, v in result.summary().items()}
        if scores is not None:
            summary["score"] = _clean(scores)
        print(json.dumps(summary, indent=2))
    elif scores is not None:
        _print_scores(scores)
    return 0
