"""Benchmark: Protection.update() at 255 cells (15 LTC6813 boards x 17 cells), no active faults.

Run: .venv/bin/python -m tests.protection.bench_protection
"""

from __future__ import annotations

import random
import time

from bmsgateway.clock import VirtualClock
from bmsgateway.config import Config
from bmsgateway.protection import Protection
from bmsgateway.state import BoardHealth, CycleTiming, EstimateStatus, Measurement
from tests.protection.conftest import FakeIO


def config_255() -> Config:
    base = Config().model_dump()
    base["pack"]["boards"] = [{"chip": "LTC6813", "cells": 17, "thermistors": 2}] * 15
    return Config.model_validate(base)


def measurements(n: int, cells: int = 255, boards: int = 15, balancing: bool = False) -> list[Measurement]:
    rng = random.Random(1)
    health = tuple(BoardHealth(index=i, chip="LTC6813", ok=True, pec_errors_total=0, failed_cycles=0,
                               last_ok_s=0.0, die_temperature_c=30.0) for i in range(boards))
    out = []
    for k in range(n):
        spread = 0.03 if balancing else 0.004
        cv = tuple(3.30 + rng.uniform(0, spread) for _ in range(cells))
        temps = tuple(25.0 + rng.uniform(-1, 1) for _ in range(2 * boards))
        out.append(Measurement(
            time_s=k * 0.1, cell_voltages_v=cv, cell_age_s=(0.0,) * cells, temperatures_c=temps,
            temperature_age_s=(0.0,) * len(temps), temperature_board=tuple(i // 2 for i in range(len(temps))),
            current_a=5.0 + rng.uniform(-0.1, 0.1), current_age_s=0.0, pack_voltage_measured_v=sum(cv),
            boards=health,
        ))
    return out


def bench(balancing: bool) -> float:
    cfg = config_255()
    p = Protection(cfg, FakeIO(("charge", "discharge")), None, VirtualClock())
    ms = measurements(2000, balancing=balancing)
    est = EstimateStatus(soc_pct=50.0)
    timing = CycleTiming(period_s=0.1, actual_period_s=0.1, duration_s=0.001, overruns=0)
    for m in ms[:200]:
        p.update(m, est, timing)
    t0 = time.perf_counter()
    for m in ms[200:]:
        st = p.update(m, est, timing)
    dt = (time.perf_counter() - t0) / (len(ms) - 200)
    assert balancing or not st.active, st.active
    return dt * 1000.0


if __name__ == "__main__":
    print(f"255 cells, no active faults, no balancing: {bench(False):.3f} ms per update")
    print(f"255 cells, differential balancing active:  {bench(True):.3f} ms per update")
