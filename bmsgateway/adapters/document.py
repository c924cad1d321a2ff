"""The pack state as one JSON document: what ``/api/state`` serves and MQTT publishes.

Why one function: every protocol that ships the whole snapshot as JSON sends the same document,
so a dashboard written against one works against the other. NaN (a value not read this cycle) and
infinities become ``null``: JSON has no NaN, and a consumer must never mistake a missing value for
a number. Cells, thermistors and boards are counted from 1 here, as people count them.
"""

from __future__ import annotations

import math
from typing import Any

from bmsgateway.state import Event, PackState

__all__ = ["event_document", "state_document"]


def _num(x: float, nd: int = 4) -> float | None:
    return None if math.isnan(x) or math.isinf(x) else round(x, nd)


def _nums(xs: tuple[float, ...], nd: int = 4) -> list[float | None]:
    return [_num(x, nd) for x in xs]


def _index(i: int) -> int | None:
    return i + 1 if i >= 0 else None


def event_document(ev: Event) -> dict[str, Any]:
    """One event of the log (``seq`` is the resume token of every event stream)."""
    return {
        "seq": ev.seq,
        "time_s": round(ev.time_s, 3),
        "kind": ev.kind,
        "condition": ev.condition,
        "severity": ev.severity,
        "value": _num(ev.value),
        "threshold": _num(ev.threshold),
        "location": _index(ev.location),
        "message": ev.message,
    }


def state_document(s: PackState) -> dict[str, Any]:
    """The whole snapshot as plain JSON types."""
    m, e, p, t = s.measurement, s.estimate, s.protection, s.timing
    return {
        "seq": s.seq,
        "time_s": round(s.time_s, 3),
        "wall_time": round(s.wall_time, 3),
        "pack": {
            "voltage_v": _num(s.pack_voltage_v, 3),
            "current_a": _num(m.current_a, 3),
            "power_w": _num(s.power_w, 1),
            "bus_voltage_v": _num(m.bus_voltage_v, 3),
        },
        "cells": {
            "voltages_v": _nums(m.cell_voltages_v),
            "age_s": _nums(m.cell_age_s, 3),
            "balancing": list(p.balancing),
            "soc_pct": _nums(e.cell_soc_pct, 2),
            "min_v": _num(s.min_cell_v),
            "min_cell": _index(s.min_cell_index),
            "max_v": _num(s.max_cell_v),
            "max_cell": _index(s.max_cell_index),
            "avg_v": _num(s.avg_cell_v),
            "spread_v": _num(s.max_cell_v - s.min_cell_v),
        },
        "temperatures": {
            "values_c": _nums(m.temperatures_c, 2),
            "board": [b + 1 for b in m.temperature_board],
            "min_c": _num(s.min_temperature_c, 2),
            "max_c": _num(s.max_temperature_c, 2),
        },
        "boards": [
            {
                "board": b.index + 1,
                "chip": b.chip,
                "ok": b.ok,
                "pec_errors_total": b.pec_errors_total,
                "failed_cycles": b.failed_cycles,
                "die_temperature_c": _num(b.die_temperature_c, 2),
                "open_wires": list(b.open_wires),
            }
            for b in m.boards
        ],
        "estimate": {
            "soc_pct": _num(e.soc_pct, 2),
            # one-sigma uncertainty, once the estimator publishes it (None until then)
            "soc_std_pct": _num(getattr(e, "soc_std_pct", math.nan), 2),
            "dod_pct": _num(e.dod_pct, 2),
            "soh_pct": _num(e.soh_pct, 2),
            "capacity_ah": _num(e.capacity_ah, 3),
            "rated_capacity_ah": _num(e.rated_capacity_ah, 3),
            "soc_calibrated": e.soc_calibrated,
            "charge_in_ah": _num(e.charge_in_ah, 3),
            "charge_out_ah": _num(e.charge_out_ah, 3),
            "energy_in_wh": _num(e.energy_in_wh, 1),
            "energy_out_wh": _num(e.energy_out_wh, 1),
            "balancing_energy_wh": _num(e.balancing_energy_wh, 3),
            "equivalent_cycles": _num(e.equivalent_cycles, 3),
            "today_in_wh": _num(e.today_in_wh, 1),
            "today_out_wh": _num(e.today_out_wh, 1),
        },
        "protection": {
            "state": p.state,
            "relay_mode": p.relay_mode,
            "charge_allowed": p.charge_allowed,
            "discharge_allowed": p.discharge_allowed,
            "allow_charge_relay": p.allow_charge_relay,
            "allow_discharge_relay": p.allow_discharge_relay,
            "cvl_v": _num(p.cvl_v, 3),
            "ccl_a": _num(p.ccl_a, 2),
            "dcl_a": _num(p.dcl_a, 2),
            "heater_on": p.heater_on,
            "cooler_on": p.cooler_on,
            "fault_bits": p.fault_bits,
            "warning_bits": p.warning_bits,
            "active": [
                {
                    "condition": a.condition,
                    "severity": str(a.severity),
                    "value": _num(a.value),
                    "threshold": _num(a.threshold),
                    "location": _index(a.location),
                    "latched": a.latched,
                    "since_s": _num(a.since_s, 3),
                }
                for a in p.active
            ],
            "contactors": [
                {"name": c.name, "commanded": c.commanded, "feedback": c.feedback} for c in p.contactors
            ],
        },
        "timing": {
            "period_s": t.period_s,
            "actual_period_s": _num(t.actual_period_s, 4),
            "duration_s": _num(t.duration_s, 6),
            "overruns": t.overruns,
        },
    }
