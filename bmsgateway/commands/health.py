"""``bmsgateway health``: exit 0 when the running daemon's last snapshot is fresh and no fault is
active, 1 otherwise, with one line saying why (Docker HEALTHCHECK, installers' monitoring)."""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from bmsgateway.adapters.status import STATUS_FILE
from bmsgateway.commands.common import add_config_arg, load_or_exit

__all__ = ["check_health", "register"]

#: the status file is rewritten every second: allow for that on top of the staleness limit
_WRITE_GRACE_S = 2.5


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user (the service user)
    return True


def check_health(path: Path, stale_after_s: float, now: float | None = None) -> tuple[int, str]:
    """(exit code, one line)."""
    now = time.time() if now is None else now
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return 1, f"unhealthy: no running daemon (no status file {path})"
    except (OSError, ValueError) as exc:
        return 1, f"unhealthy: status file {path} unreadable: {exc}"
    pid = int(doc.get("pid", -1))
    if pid > 0 and not _alive(pid):
        return 1, f"unhealthy: daemon (pid {pid}) is not running"
    age = float(doc.get("snapshot_age_s", float("inf"))) + max(0.0, now - float(doc.get("written_at", 0.0)))
    line = str(doc.get("line", ""))
    if not age <= stale_after_s + _WRITE_GRACE_S:
        return 1, f"unhealthy: last snapshot is {age:.1f} s old (pack cycle stalled?): {line}"
    faults = doc.get("faults") or []
    if faults:
        return 1, f"unhealthy: fault active ({', '.join(faults)}): {line}"
    return 0, f"ok: {line} (snapshot {age:.1f} s old)"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("health", help="exit 0 if the running daemon is fresh and fault-free, 1 otherwise")
    add_config_arg(p)
    p.add_argument("--state-dir", default=None, help="the daemon's state directory (default: system.state_dir)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    config = load_or_exit(args.config)
    if config is None:
        return 2
    path = config.system.resolved_state_dir(args.state_dir) / STATUS_FILE
    code, line = check_health(path, config.system.stale_after_s)
    print(line)
    return code
