"""``bmsgateway check-config FILE``: validate only, print every problem, exit 2 if any."""

from __future__ import annotations

import argparse

from bmsgateway.commands.common import load_or_exit

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("check-config", help="validate a config file and exit (2 on any problem)")
    p.add_argument("file", metavar="FILE")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = load_or_exit(args.file)
    if cfg is None:
        return 2
    lim = cfg.pack.limits
    print(
        f"{args.file}: ok — {cfg.pack.cell_count} cells on {len(cfg.pack.boards)} boards, "
        f"{lim.chemistry} (Vmin {lim.vmin_v} V, Vbalance {lim.vbalance_v} V, Vmax {lim.vmax_v} V), "
        f"backend {cfg.hardware.backend}, cycle {cfg.system.cycle_period_s} s"
    )
    return 0
