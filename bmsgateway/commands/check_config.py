"""``bmsgateway check-config FILE``: validate only, print every problem, exit 2 if any.

The persisted runtime settings (``settings.json`` in the state directory: Modbus writes, later
other adapters) override the file when the daemon starts, so they are checked too, merged on top
of the file exactly as the daemon merges them. A settings file the daemon would ignore (unreadable,
unknown key, or a value the current rules refuse) is reported as a problem: the daemon would then
run with values other than those the installer last set.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bmsgateway.commands.common import load_or_exit
from bmsgateway.config import Config, ConfigError, parse_config
from bmsgateway.settings import merge_dotted

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("check-config", help="validate a config file and the persisted settings (2 on any problem)")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--state-dir", default=None,
                   help="where the daemon keeps settings.json (default: system.state_dir of FILE)")
    p.set_defaults(func=run)


def _with_settings(cfg: Config, path: Path) -> tuple[Config, int, list[str]]:
    """``cfg`` with the persisted settings at ``path`` applied: (config, settings count, problems)."""
    if not path.exists():
        return cfg, 0, []
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return cfg, 0, [f"cannot read the persisted settings: {exc}"]
    if not isinstance(saved, dict):
        return cfg, 0, ["the persisted settings are not a JSON object"]
    try:
        merged = merge_dotted(cfg.model_dump(mode="json"), saved)
    except KeyError as exc:
        return cfg, 0, [f"{exc.args[0]} = {saved.get(exc.args[0])!r}: unknown setting"]
    try:
        return parse_config(merged, str(path)), len(saved), []
    except ConfigError as err:
        return cfg, 0, err.problems


def run(args: argparse.Namespace) -> int:
    cfg = load_or_exit(args.file)
    if cfg is None:
        return 2
    settings_path = Path(args.state_dir or cfg.system.state_dir) / "settings.json"
    cfg, n_settings, problems = _with_settings(cfg, settings_path)
    if problems:
        for problem in problems:
            print(f"config error: {settings_path} (persisted settings that override {args.file}): {problem}",
                  file=sys.stderr)
        return 2
    lim = cfg.pack.limits
    extra = f", with {n_settings} persisted setting(s) from {settings_path}" if n_settings else ""
    print(
        f"{args.file}: ok — {cfg.pack.cell_count} cells on {len(cfg.pack.boards)} boards, "
        f"{lim.chemistry} (Vmin {lim.vmin_v} V, Vbalance {lim.vbalance_v} V, Vmax {lim.vmax_v} V), "
        f"backend {cfg.hardware.backend}, cycle {cfg.system.cycle_period_s} s{extra}"
    )
    return 0
