"""The pack state as one JSON document: what MQTT publishes and the web page's ``/api/state`` serves.

Why one module: two protocols showing the same snapshot must not disagree on a name, a unit or a
rounding. Everything here is a pure function of immutable inputs (a ``PackState``, an ``Event``,
the ``Config``) returning plain ``dict``s ready for ``json.dumps`` (``allow_nan=False`` safe).

Conventions (in addition to those of ``bmsgateway.state``):

* ``NaN`` (not read this cycle) and infinities become ``null``: JSON has neither, and a consumer must
  see "no value", never a stale one;
* arrays are in pack order (cell 0 first); single cell/sensor/board numbers (``min_cell``,
  ``location``) count from 1, as people and the other protocols do, and are ``null`` when none;
* ``available`` is ``true`` in a live document; a stale or missing snapshot gives
  ``unavailable_document``, which has no measured values at all (never the last ones as live).

The keys are versioned by ``DOCUMENT_VERSION``; adding keys does not bump it, renaming does.
"""

from __future__ import annotations

import math
from typing import Any

from bmsgateway.config.model import Config
from bmsgateway.state import Event, PackState

__all__ = [
    "DOCUMENT_VERSION",
    "REDACTED",
    "config_document",
    "event_document",
    "state_document",
    "unavailable_document",
]

DOCUMENT_VERSION = 1

#: Put in place of secrets in ``config_document``.
REDACTED = "***"

#: Config keys never published (dotted paths).
_SECRETS = ("modbus.pin", "mqtt.password")


def _num(x: float, nd: int) -> float | None:
    """A finite float rounded to ``nd`` decimals, else None."""
    if x != x or math.isinf(x):
        return None
    return round(x, nd)


def _nums(xs: tuple[float, ...], nd: int) -> list[float | None]:
    return [None if (x != x or math.isinf(x)) else round(x, nd) for x in xs]


def _number(index: int) -> int | None:
    return index + 1 if index >= 0 else None


def state_document(state: PackState) -> dict[str, Any]:
    """The live document for one snapshot (serve only a *fresh* snapshot: see ``AdapterPorts.fresh``)."""
    m, e, p = state.measurement, state.estimate, state.protection
    faults = sorted({a.condition for a in p.active if a.severity == "fault"})
    warnings = sorted({a.condition for a in p.active if a.severity == "warning"})
    return {
        "version": DOCUMENT_VERSION,
        "available": True,
        "seq": state.seq,
        "time_s": round(state.time_s, 3),
        "wall_time": round(state.wall_time, 3),
        "pack": {
            "voltage_v": _num(state.pack_voltage_v, 3),
            "current_a": _num(m.current_a, 3),
            "power_w": _num(state.power_w, 1),
            "bus_voltage_v": _num(m.bus_voltage_v, 3),
            "soc_pct": _num(e.soc_pct, 2),
            "soc_sigma_pct": _num(e.soc_sigma_pct, 2),
            "soh_pct": _num(e.soh_pct, 2),
            "dod_pct": _num(e.dod_pct, 2),
            "capacity_ah": _num(e.capacity_ah, 3),
            "rated_capacity_ah": _num(e.rated_capacity_ah, 3),
            "stored_energy_wh": _num(e.stored_energy_wh, 1),
            "soc_calibrated": e.soc_calibrated,
        },
        "cells": {
            "count": m.cell_count,
            "min_v": _num(state.min_cell_v, 4),
            "min_cell": _number(state.min_cell_index),
            "max_v": _num(state.max_cell_v, 4),
            "max_cell": _number(state.max_cell_index),
            "avg_v": _num(state.avg_cell_v, 4),
            "delta_v": _num(state.max_cell_v - state.min_cell_v, 4),
            "spread_v": _num(state.max_cell_v - state.min_cell_v, 4),
            "voltages_v": _nums(m.cell_voltages_v, 4),
            "age_s": _nums(m.cell_age_s, 3),
            "soc_pct": _nums(e.cell_soc_pct, 2),
            "balancing": list(p.balancing),
        },
        "temperatures": {
            "min_c": _num(state.min_temperature_c, 2),
            "min_sensor": _number(state.min_temperature_index),
            "max_c": _num(state.max_temperature_c, 2),
            "max_sensor": _number(state.max_temperature_index),
            "sensors_c": _nums(m.temperatures_c, 2),
            "sensor_board": list(m.temperature_board),
            "values_c": _nums(m.temperatures_c, 2),  # the web page's name for sensors_c
            "board": [b + 1 for b in m.temperature_board],  # board number (from 1) of each sensor
        },
        "counters": {
            "charge_in_ah": round(e.charge_in_ah, 4),
            "charge_out_ah": round(e.charge_out_ah, 4),
            "energy_in_wh": round(e.energy_in_wh, 2),
            "energy_out_wh": round(e.energy_out_wh, 2),
            "today_in_wh": round(e.today_in_wh, 2),
            "today_out_wh": round(e.today_out_wh, 2),
            "balancing_energy_wh": round(e.balancing_energy_wh, 3),
            "equivalent_cycles": round(e.equivalent_cycles, 3),
        },
        "current_sensors": _current_sensors(state),
        "protection": {
            "state": p.state,
            "relay_mode": p.relay_mode,
            "charge_allowed": p.charge_allowed,
            "discharge_allowed": p.discharge_allowed,
            "allow_charge_relay": p.allow_charge_relay,
            "allow_discharge_relay": p.allow_discharge_relay,
            "faults": faults,
            "warnings": warnings,
            "fault_active": bool(faults),
            "warning_active": bool(warnings),
            "fault_bits": p.fault_bits,
            "warning_bits": p.warning_bits,
            "heater_on": p.heater_on,
            "cooler_on": p.cooler_on,
            # discrete inputs in hardware.inputs order (names and functions: the config document)
            "inputs": list(p.inputs),
            "remote_off": p.remote_off,
            "charger_present": p.charger_present,
            "alarm_active": p.alarm_active,
            "alarm_on": p.alarm_on,
            "cvl_v": _num(p.cvl_v, 3),
            "ccl_a": _num(p.ccl_a, 2),
            "dcl_a": _num(p.dcl_a, 2),
            "active": [
                {
                    "condition": a.condition,
                    "severity": str(a.severity),
                    "value": _num(a.value, 4),
                    "threshold": _num(a.threshold, 4),
                    "location": _number(a.location),
                    "latched": a.latched,
                    "since_s": _num(a.since_s, 3),
                }
                for a in p.active
            ],
            "contactors": [
                {"name": c.name, "commanded": c.commanded, "feedback": c.feedback} for c in p.contactors
            ],
        },
        "estimate": {
            "soc_pct": _num(e.soc_pct, 2),
            "soc_std_pct": _num(e.soc_sigma_pct, 2),  # 1-sigma uncertainty (percentage points)
            "dod_pct": _num(e.dod_pct, 2),
            "soh_pct": _num(e.soh_pct, 2),
            "capacity_ah": _num(e.capacity_ah, 3),
            "rated_capacity_ah": _num(e.rated_capacity_ah, 3),
            "stored_energy_wh": _num(e.stored_energy_wh, 1),
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
        "limits": {"cvl_v": _num(p.cvl_v, 3), "ccl_a": _num(p.ccl_a, 2), "dcl_a": _num(p.dcl_a, 2)},
        "boards": [
            {
                "index": b.index,
                "board": b.index + 1,
                "chip": b.chip,
                "ok": b.ok,
                "pec_errors_total": b.pec_errors_total,
                "failed_cycles": b.failed_cycles,
                "die_temperature_c": _num(b.die_temperature_c, 1),
                "open_wires": list(b.open_wires),
            }
            for b in m.boards
        ],
        "comm_ok": state.comm_ok,
        "timing": {
            "period_s": state.timing.period_s,
            "actual_period_s": round(state.timing.actual_period_s, 5),
            "duration_s": round(state.timing.duration_s, 5),
            "overruns": state.timing.overruns,
        },
    }


def _current_sensors(state: PackState) -> dict[str, Any]:
    """The current sensors (issue 17): calibration, dual range, and in two-sensor setups the chargers' /
    solar and the consumers' current, power and energy (null with one sensor)."""
    m, e = state.measurement, state.estimate
    two = m.two_current_sensors

    def kwh(wh: float) -> float | None:
        return round(wh / 1000.0, 4) if two else None

    return {
        "two_sensors": two,
        "gain": round(m.current_gain, 6),
        "zero_offset_a": _num(m.current_zero_offset_a, 4),
        "low_range": m.current_low_range,
        "charger_current_a": _num(m.charger_current_a, 3),
        "consumer_current_a": _num(m.consumer_current_a, 3),
        "charger_power_w": _num(state.charger_power_w, 1),
        "consumer_power_w": _num(state.consumer_power_w, 1),
        "charger_today_kwh": kwh(e.charger_today_wh),
        "charger_total_kwh": kwh(e.charger_total_wh),
        "consumer_today_kwh": kwh(e.consumer_today_wh),
        "consumer_total_kwh": kwh(e.consumer_total_wh),
        "consumer_zero_offset_a": _num(m.consumer_zero_offset_a, 4) if two else None,
    }


def unavailable_document(latest: PackState | None, age_s: float) -> dict[str, Any]:
    """What is served instead of values when the snapshot is stale (or there is none yet).

    ``seq`` and ``age_s`` say which snapshot was the last one and how old it is; no measured value
    is included, so nothing old can be read as live.
    """
    return {
        "version": DOCUMENT_VERSION,
        "available": False,
        "reason": "no snapshot yet" if latest is None else "stale",
        "seq": None if latest is None else latest.seq,
        "age_s": _num(age_s, 1),
    }


def event_document(event: Event) -> dict[str, Any]:
    """One event of the log, with its sequence number (``seq``, the consumer's resume/dedup key)."""
    return {
        "seq": event.seq,
        "time_s": round(event.time_s, 3),
        "kind": event.kind,
        "condition": event.condition,
        "severity": event.severity,
        "value": _num(event.value, 4),
        "threshold": _num(event.threshold, 4),
        "location": _number(event.location),
        "message": event.message,
    }


def config_document(config: Config) -> dict[str, Any]:
    """The running configuration, secrets replaced by ``REDACTED``."""
    doc = config.model_dump(mode="json")
    for key in _SECRETS:
        *path, last = key.split(".")
        node = doc
        for part in path:
            node = node.get(part, {})
        if last in node and node[last] not in ("", None):
            node[last] = REDACTED
    return doc
