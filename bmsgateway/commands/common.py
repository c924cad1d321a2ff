"""Helpers shared by the subcommands: config loading with exit code 2, duration parsing."""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Iterable
from typing import Any

from bmsgateway.config import Config, ConfigError, load_config

__all__ = [
    "UsageError", "add_config_arg", "check_injection_times", "fmt_time", "jitter", "load_or_exit",
    "parse_duration_s", "parse_speed", "percentile",
]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


class UsageError(Exception):
    """A bad command-line value (exit status 2)."""


def parse_duration_s(text: str) -> float:
    """'24h', '30m', '45s', '1.5h', '2d' or plain seconds."""
    m = _DURATION.match(text)
    if not m:
        raise UsageError(f"duration {text!r}: expected a number with an optional unit ms, s, m, h or d")
    return float(m.group(1)) * _UNIT_S[m.group(2)]


def parse_speed(text: str | None) -> str | float | None:
    """``--speed``: ``max`` or a positive factor (None = real time); UsageError otherwise."""
    if text is None:
        return None
    if text.strip().lower() == "max":
        return "max"
    try:
        factor = float(text)
    except ValueError:
        factor = math.nan
    if not (math.isfinite(factor) and factor > 0):
        raise UsageError(
            f"--speed {text!r}: expected 'max' (as fast as the CPU allows) or a positive factor, e.g. 1, 10, 60"
        )
    return factor


def check_injection_times(injections: Iterable[Any], duration_s: float | None) -> None:
    """An injection after the end of the run would silently never happen: refuse it."""
    if duration_s is None:
        return
    for inj in injections:
        if inj.at_s > duration_s:
            raise UsageError(
                f"--inject {inj}: at {fmt_time(inj.at_s)} is after the end of the run "
                f"(--duration {fmt_time(duration_s)})"
            )


def fmt_time(t_s: float) -> str:
    """``HH:MM:SS.mmm`` of a time in seconds; rounded once, so never ``00:24:60.000``."""
    ms = round(t_s * 1000.0)
    sign = "-" if ms < 0 else ""
    h, rem = divmod(abs(ms), 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms_part = divmod(rem, 1000)
    return f"{sign}{h:02d}:{m:02d}:{s:02d}.{ms_part:03d}"


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values`` by rank (no interpolation); NaN when empty."""
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


def add_config_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config", "-c", metavar="FILE", default=None,
        help="TOML config file (default: the embedded simulated 16-cell LFP pack)",
    )


def load_or_exit(path: str | None) -> Config | None:
    """The validated config, or None after printing one line per problem to stderr."""
    try:
        return load_config(path)
    except ConfigError as err:
        for problem in err.problems:
            print(f"config error: {err.source}: {problem}", file=sys.stderr)
        return None


def jitter(periods_ms: list[float]) -> dict[str, float]:
    """The pack loop's period statistics every bench reports (p50, p99, max, cycles, cycles over 5 ms)."""
    return {"p50_ms": round(percentile(periods_ms, 0.50), 3), "p99_ms": round(percentile(periods_ms, 0.99), 3),
            "max_ms": round(max(periods_ms), 3) if periods_ms else float("nan"), "cycles": len(periods_ms),
            "cycles_over_5ms": sum(1 for p in periods_ms if p > 5.0)}
