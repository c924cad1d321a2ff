"""``bmsgateway eds``: write the CANopen EDS (or its markdown docs) from the one dictionary table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bmsgateway.commands.common import UsageError, add_config_arg, load_or_exit

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("eds", help="write the CANopen EDS of this config's node (or --format md: its docs)")
    p.add_argument("--format", choices=("eds", "md"), default="eds", help="output format (default eds)")
    p.add_argument("--output", "-o", metavar="FILE", default=None, help="write to FILE instead of stdout")
    add_config_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bmsgateway.adapters.canopen.eds import render_eds, render_markdown

    cfg = load_or_exit(args.config)
    if cfg is None:
        return 2
    text = render_eds(cfg) if args.format == "eds" else render_markdown(cfg)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:
        Path(args.output).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--output {args.output}: {exc.strerror or exc}") from None
    return 0
