"""Which fault-engine conditions light which inverter alarm bit: one table for 0x359 and 0x35A.

Why one table: the Pylontech flags (0x359: protection = our faults, warning = our warnings) and
the SMA/Victron 2-bit pairs (0x35A: alarm = fault, warning = warning) say the same thing in two
layouts; the docs and the tests read this table too. A condition not listed still raises the
general alarm (0x35A "General") and, at fault level, the Pylontech "system error".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bmsgateway.protection.ids import ConditionId as C
from bmsgateway.state import ActiveCondition

__all__ = ["ACTIVE", "ALARMS", "NOT_SUPPORTED", "OK", "AlarmRow", "alarm_values", "stale_alarm_values"]

#: 0x35A field values: (hi bit << 1) | lo bit
ACTIVE, OK, NOT_SUPPORTED = 1, 2, 0
ONLINE, OFFLINE = 2, 1


@dataclass(frozen=True, slots=True)
class AlarmRow:
    """Conditions -> Pylontech fault/warning flag (0x359) and SMA/Victron field (0x35A)."""

    conditions: tuple[C, ...]
    pylon_fault: str | None  #: 0x359 protection flag set by a fault of these conditions
    pylon_warning: str | None  #: 0x359 warning flag set by a warning of these conditions
    field: str  #: 0x35A field name without the Alm_/Wrn_ prefix


ALARMS: tuple[AlarmRow, ...] = (
    AlarmRow((C.CELL_OVER_VOLTAGE, C.PACK_OVER_VOLTAGE), "Prot_CellOverVoltage", "Warn_CellHighVoltage",
             "HighVoltage"),
    AlarmRow((C.CELL_UNDER_VOLTAGE, C.PACK_UNDER_VOLTAGE), "Prot_CellUnderVoltage", "Warn_CellLowVoltage",
             "LowVoltage"),
    AlarmRow((C.CHARGE_OVER_TEMPERATURE, C.DISCHARGE_OVER_TEMPERATURE), "Prot_OverTemperature",
             "Warn_HighTemperature", "HighTemperature"),
    AlarmRow((C.CHARGE_UNDER_TEMPERATURE, C.DISCHARGE_UNDER_TEMPERATURE), "Prot_UnderTemperature",
             "Warn_LowTemperature", "LowTemperature"),
    AlarmRow((C.CHARGE_OVER_TEMPERATURE,), None, None, "HighTempCharge"),
    AlarmRow((C.CHARGE_UNDER_TEMPERATURE,), None, None, "LowTempCharge"),
    AlarmRow((C.DISCHARGE_OVER_CURRENT,), "Prot_DischargeOverCurrent", "Warn_DischargeHighCurrent",
             "HighDischargeCurrent"),
    AlarmRow((C.CHARGE_OVER_CURRENT,), "Prot_ChargeOverCurrent", "Warn_ChargeHighCurrent", "HighChargeCurrent"),
    AlarmRow((C.SHORT_CIRCUIT,), "Prot_DischargeOverCurrent", "Warn_DischargeHighCurrent", "ShortCircuit"),
    AlarmRow((C.CONTACTOR_WELDED, C.CONTACTOR_FAILED_TO_CLOSE, C.PRECHARGE_FAILED), "Prot_SystemError", None,
             "Contactor"),
    AlarmRow((C.COMMUNICATION_LOST,), "Prot_SystemError", "Warn_InternalCommFail", "BmsInternal"),
    AlarmRow((C.OPEN_SENSE_WIRE, C.PACK_VOLTAGE_IMPLAUSIBLE, C.THERMISTOR_FAULT, C.CURRENT_SENSOR_STUCK,
              C.LOOP_OVERRUN), "Prot_SystemError", None, "BmsInternal"),
    AlarmRow((C.CELL_IMBALANCE,), "Prot_SystemError", None, "CellImbalance"),
)

_PYLON_FLAGS = sorted({n for r in ALARMS for n in (r.pylon_fault, r.pylon_warning) if n} | {"Prot_SystemError"})
_FIELDS = sorted({r.field for r in ALARMS} | {"General"})


def alarm_values(active: Iterable[ActiveCondition]) -> dict[str, float]:
    """0x359 flags and 0x35A fields for the active conditions (every field reported OK or active)."""
    out: dict[str, float] = dict.fromkeys(_PYLON_FLAGS, 0)
    for f in _FIELDS:
        out["Alm_" + f] = OK
        out["Wrn_" + f] = OK
    for a in active:
        fault = a.severity == "fault"
        if fault:
            out["Alm_General"] = ACTIVE
        else:
            out["Wrn_General"] = ACTIVE
        listed = False
        for row in ALARMS:
            if a.condition not in row.conditions:
                continue
            listed = True
            flag = row.pylon_fault if fault else row.pylon_warning
            if flag:
                out[flag] = 1
            out[("Alm_" if fault else "Wrn_") + row.field] = ACTIVE
        if fault and not listed:
            out["Prot_SystemError"] = 1
    out["SystemStatus"] = ONLINE
    return out


def stale_alarm_values() -> dict[str, float]:
    """No fresh snapshot: system error and internal-communication alarm, the rest unknown."""
    out: dict[str, float] = dict.fromkeys(_PYLON_FLAGS, 0)
    for f in _FIELDS:
        out["Alm_" + f] = NOT_SUPPORTED
        out["Wrn_" + f] = NOT_SUPPORTED
    out.update({"Prot_SystemError": 1, "Warn_InternalCommFail": 1, "Alm_General": ACTIVE,
                "Alm_BmsInternal": ACTIVE, "SystemStatus": OFFLINE})
    return out
