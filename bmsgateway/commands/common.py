"""Helpers shared by the subcommands: config loading with exit code 2, duration parsing."""

from __future__ import annotations

import argparse
import re
import sys

from bmsgateway.config import Config, ConfigError, load_config

__all__ = ["UsageError", "add_config_arg", "jitter", "load_or_exit", "parse_duration_s", "percentile"]

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
