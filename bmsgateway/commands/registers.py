"""``bmsgateway registers --format md|csv``: print the Modbus register map from the one table."""

from __future__ import annotations

import argparse
import sys

from bmsgateway.commands.common import add_config_arg, load_or_exit

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("registers", help="print the Modbus register map (Markdown or CSV)")
    p.add_argument("--format", choices=("md", "csv"), default="md", help="output format (default md)")
    add_config_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bmsgateway.adapters.modbus.docs import render_csv, render_markdown

    cfg = load_or_exit(args.config)
    if cfg is None:
        return 2
    sys.stdout.write(render_markdown(cfg) if args.format == "md" else render_csv(cfg))
    return 0
