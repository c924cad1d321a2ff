"""``bmsgateway bench telemetry --json``: what telemetry costs and whether the pack loop notices.

MQTT (``bench_mqtt``): messages published per second and the pack loop's jitter while the broker is
flooded, stopped and restarted. The goal: jitter unchanged, p99 <= 5 ms at the 100 ms cycle.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

__all__ = ["register_bench", "run", "run_bench"]


def register_bench(bench_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = bench_sub.add_parser("telemetry", help="MQTT publish rate and pack-loop jitter against the broker")
    p.add_argument("--seconds", type=float, default=10.0, help="duration of each phase (default 10)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


async def run_bench(seconds: float) -> dict[str, Any]:
    from bmsgateway.commands.bench_mqtt import run_mqtt_bench

    return {"seconds_per_phase": seconds, "cpus": os.cpu_count(), "python": sys.version.split()[0],
            "mqtt": await run_mqtt_bench(seconds)}


def run(args: argparse.Namespace) -> int:
    from bmsgateway.commands.bench_mqtt import mosquitto_path
    from bmsgateway.commands.common import UsageError

    if not 2.0 <= args.seconds <= 3600.0:
        raise UsageError(f"--seconds {args.seconds}: allowed 2..3600")
    if mosquitto_path() is None:
        raise UsageError("mosquitto is not installed: apt-get install mosquitto")
    from bmsgateway.runtime.logging import configure_logging

    configure_logging("warning", "auto", sys.stderr)  # --json output stays one parseable object
    result = asyncio.run(run_bench(args.seconds))
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for phase, r in result["mqtt"].items():
        if not isinstance(r, dict):
            print(f"{phase}: {r}")
            continue
        j = r["loop_jitter"]
        rate = r.get("messages_published_per_s", "-")
        print(f"{phase:18s} published {rate:>9} msg/s  loop jitter p50 {j['p50_ms']} ms p99 {j['p99_ms']} ms "
              f"max {j['max_ms']} ms" + "".join(f"  {k} {v}" for k, v in r.items()
                                                 if k not in ("loop_jitter", "messages_published_per_s")))
    return 0
