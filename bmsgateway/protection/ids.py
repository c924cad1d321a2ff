"""Every condition the fault engine owns, with a stable bit number.

Why a fixed number: the Modbus fault/warning bitfields, the CAN alarm frames and the docs all
refer to a condition by its bit, so bits are append-only. Never renumber; add new ones at the end.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["CONDITION_BITS", "ConditionId"]


class ConditionId(StrEnum):
    """Condition names as they appear in events, logs and docs."""

    CELL_OVER_VOLTAGE = "cell_over_voltage"
    CELL_UNDER_VOLTAGE = "cell_under_voltage"
    PACK_OVER_VOLTAGE = "pack_over_voltage"
    PACK_UNDER_VOLTAGE = "pack_under_voltage"
    CHARGE_OVER_TEMPERATURE = "charge_over_temperature"
    CHARGE_UNDER_TEMPERATURE = "charge_under_temperature"
    DISCHARGE_OVER_TEMPERATURE = "discharge_over_temperature"
    DISCHARGE_UNDER_TEMPERATURE = "discharge_under_temperature"
    CHARGE_OVER_CURRENT = "charge_over_current"
    DISCHARGE_OVER_CURRENT = "discharge_over_current"
    SHORT_CIRCUIT = "short_circuit"
    CELL_IMBALANCE = "cell_imbalance"
    COMMUNICATION_LOST = "communication_lost"
    OPEN_SENSE_WIRE = "open_sense_wire"
    PACK_VOLTAGE_IMPLAUSIBLE = "pack_voltage_implausible"
    THERMISTOR_FAULT = "thermistor_fault"
    CURRENT_SENSOR_STUCK = "current_sensor_stuck"
    CONTACTOR_WELDED = "contactor_welded"
    CONTACTOR_FAILED_TO_CLOSE = "contactor_failed_to_close"
    PRECHARGE_FAILED = "precharge_failed"
    LOOP_OVERRUN = "loop_overrun"
    ADC_FAULT = "adc_fault"
    CHAIN_CONFIGURATION = "chain_configuration"
    CHIP_VOLTAGE_FLAG = "chip_voltage_flag"
    CELL_VOLTAGE_IMPLAUSIBLE = "cell_voltage_implausible"
    EMERGENCY_STOP = "emergency_stop"
    REMOTE_OFF = "remote_off"


#: bit number of each condition in the fault and warning bitfields (append-only).
CONDITION_BITS: dict[ConditionId, int] = {c: i for i, c in enumerate(ConditionId)}
