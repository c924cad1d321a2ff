"""Protection and control settings: fault thresholds, contactors, relays, limits, balancing.

Owned by the protection layer (``bmsgateway.protection``). Cell voltage limits themselves come
from ``pack.chemistry`` (Vmin / Vbalance / Vmax) so that they are stated once: the cell and pack
voltage conditions here are *margins* relative to those limits, so switching the chemistry moves
every voltage threshold with it.

Why so many cross-field checks: a warning threshold beyond its fault threshold, or a clear
threshold on the unsafe side of its set threshold, gives a condition that never warns or never
clears (or chatters). Each check names the keys, their values and the relation that must hold.
"""

from __future__ import annotations

import itertools
from typing import Literal, Self

from pydantic import Field, model_validator

from bmsgateway.config.base import Section
from bmsgateway.config.discrete import AlarmConfig
from bmsgateway.state import BalancingMode, RelayMode

__all__ = [
    "BalancingConfig",
    "CellVoltageConfig",
    "CommunicationConfig",
    "ContactorConfig",
    "CurrentConfig",
    "CurrentDirectionConfig",
    "ImbalanceConfig",
    "Level",
    "LevelPair",
    "LimitsConfig",
    "LoopConfig",
    "PackVoltageConfig",
    "ProtectionConfig",
    "RecurrenceConfig",
    "RelayConfig",
    "SensorPlausibilityConfig",
    "TemperatureConfig",
    "ThermalConfig",
    "check_protection_against_pack",
]

Table = tuple[tuple[float, float], ...]


class Level(Section):
    """One stage (warning or fault) of a condition: set/clear thresholds and their delays.

    Which side is "safe" depends on the condition (over- or under-); the owning section checks it.
    """

    set: float = Field(ge=-10000.0, le=10000.0, description="threshold that raises the condition")
    clear: float = Field(ge=-10000.0, le=10000.0, description="threshold the value must pass to clear")
    set_delay_s: float = Field(1.0, ge=0.0, le=3600.0, description="value must stay past set this long")
    clear_delay_s: float = Field(2.0, ge=0.0, le=3600.0, description="value must stay past clear this long")


class LevelPair(Section):
    """Warning (early stage) and fault of one quantity."""

    warning: Level
    fault: Level


def _check_over(key: str, pair: LevelPair) -> None:
    """For an *over* condition: clear below set, warning set below fault set."""
    for name, lvl in (("warning", pair.warning), ("fault", pair.fault)):
        if not lvl.clear < lvl.set:
            raise ValueError(
                f"{key}.{name}.clear = {lvl.clear} must be below {key}.{name}.set = {lvl.set}"
            )
    if not pair.warning.set < pair.fault.set:
        raise ValueError(
            f"{key}.warning.set = {pair.warning.set} must be below {key}.fault.set = {pair.fault.set}"
        )


def _check_under(key: str, pair: LevelPair) -> None:
    """For an *under* condition: clear above set, warning set above fault set."""
    for name, lvl in (("warning", pair.warning), ("fault", pair.fault)):
        if not lvl.clear > lvl.set:
            raise ValueError(
                f"{key}.{name}.clear = {lvl.clear} must be above {key}.{name}.set = {lvl.set}"
            )
    if not pair.warning.set > pair.fault.set:
        raise ValueError(
            f"{key}.warning.set = {pair.warning.set} must be above {key}.fault.set = {pair.fault.set}"
        )


def _check_range(key: str, pair: LevelPair, lo: float, hi: float, unit: str) -> None:
    for name, lvl in (("warning", pair.warning), ("fault", pair.fault)):
        for attr in ("set", "clear"):
            v = getattr(lvl, attr)
            if not lo <= v <= hi:
                raise ValueError(f"{key}.{name}.{attr} = {v} must lie within {lo}..{hi} {unit}")


def _lvl(set_: float, clear: float, set_delay_s: float, clear_delay_s: float) -> Level:
    return Level(set=set_, clear=clear, set_delay_s=set_delay_s, clear_delay_s=clear_delay_s)


def _check_table(key: str, table: Table, unimodal: bool) -> None:
    """A derating table: >= 2 points, x strictly increasing, factors within 0..1."""
    if len(table) < 2:
        raise ValueError(f"{key} = {list(table)} needs at least 2 points [x, factor]")
    xs = [x for x, _ in table]
    fs = [f for _, f in table]
    if any(b <= a for a, b in itertools.pairwise(xs)):
        raise ValueError(f"{key} x values = {xs} must be strictly increasing")
    if any(not 0.0 <= f <= 1.0 for f in fs):
        raise ValueError(f"{key} factors = {fs} must lie within 0..1")
    if unimodal:
        # Rise then fall: the lowest factor over a temperature range is then at one of its ends,
        # which lets the limits code look at the coldest and hottest sensor only.
        peak = fs.index(max(fs))
        rising, falling = fs[: peak + 1], fs[peak:]
        if any(b < a for a, b in itertools.pairwise(rising)) or any(b > a for a, b in itertools.pairwise(falling)):
            raise ValueError(f"{key} factors = {fs} must rise to a maximum and then fall (no dips)")


class RelayConfig(Section):
    """The allow-charge / allow-discharge signal relays (123\\SmartBMS algorithm)."""

    mode: RelayMode = RelayMode.NORMAL
    charge_restart_soc_pct: float = Field(90.0, ge=0.0, le=100.0)
    discharge_restart_soc_pct: float = Field(20.0, ge=0.0, le=100.0)
    tmin_c: float = Field(0.0, ge=-40.0, le=80.0)
    tmax_c: float = Field(50.0, ge=-40.0, le=100.0)
    min_off_s: float = Field(
        60.0, ge=0.0, le=3600.0,
        description="a relay switched off stays off at least this long, so that a cell relaxing right "
        "after the current stops does not make the relay chatter (switching off is never delayed)",
    )
    critical_charge_hysteresis_v: float = Field(
        0.05, ge=0.0, le=1.0,
        description="critical mode: the charge relay switched off at Vmax comes back only when every "
        "cell is below Vmax minus this (a departure from the 123 table, which has none: an unregulated "
        "charger would otherwise switch every min_off_s all day); 0 = the table exactly",
    )

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if not self.tmin_c < self.tmax_c:
            raise ValueError(f"relays.tmin_c = {self.tmin_c} must be below relays.tmax_c = {self.tmax_c}")
        return self


class ContactorConfig(Section):
    """Contactor set and precharge sequence."""

    layout: Literal["charge_discharge", "single_main"] = "charge_discharge"
    precharge: bool = True
    precharge_fraction: float = Field(0.9, gt=0.0, lt=1.0, description="bus/pack voltage to finish")
    precharge_timeout_s: float = Field(3.0, gt=0.0, le=60.0)
    feedback_delay_s: float = Field(0.2, ge=0.0, le=5.0, description="allowed time for feedback to follow")


class LimitsConfig(Section):
    """Inverter limits (CVL / CCL / DCL) and their derating.

    Derating tables are ``[[x, factor], ...]`` interpolated linearly and held flat beyond their
    ends; the smallest factor of all tables applies. Cell-voltage tables take x as the distance in
    volts of the highest cell below Vmax (charge) or of the lowest cell above Vmin (discharge).
    """

    max_charge_current_a: float = Field(50.0, ge=0.0, le=5000.0)
    max_discharge_current_a: float = Field(100.0, ge=0.0, le=5000.0)
    cvl_top_cell_margin_v: float = Field(
        0.1, ge=0.0, le=1.0,
        description="CVL is pulled down so the highest cell stops this far below Vmax",
    )
    cvl_above_vbalance_v: float = Field(
        0.0, ge=0.0, le=0.2,
        description="CVL = cells x (Vbalance + this): with 0 an inverter holds the pack at cells x Vbalance, so "
        "in normal mode every cell >= Vbalance (full: charging stops, SOC 100 %) is reached only by a perfectly "
        "balanced pack; the 123\\SmartBMS manual sets chargers a bit higher (13.7 V for 4 x 3.4 V: 0.025)",
    )
    charge_temperature_derating: Table = Field(
        ((0.0, 0.0), (5.0, 0.2), (10.0, 1.0), (40.0, 1.0), (45.0, 0.5), (50.0, 0.0)),
        description="[[temperature_c, factor], ...]",
    )
    discharge_temperature_derating: Table = Field(
        ((-20.0, 0.0), (-10.0, 0.3), (0.0, 1.0), (50.0, 1.0), (55.0, 0.5), (60.0, 0.0)),
        description="[[temperature_c, factor], ...]",
    )
    charge_cell_voltage_derating: Table = Field(
        ((0.0, 0.0), (0.05, 0.1), (0.15, 1.0)), description="[[volts below Vmax, factor], ...]"
    )
    discharge_cell_voltage_derating: Table = Field(
        ((0.0, 0.0), (0.05, 0.2), (0.2, 1.0)), description="[[volts above Vmin, factor], ...]"
    )
    charge_soc_derating: Table = Field(
        ((0.0, 1.0), (90.0, 1.0), (100.0, 0.3)), description="[[soc_pct, factor], ...]"
    )
    discharge_soc_derating: Table = Field(
        ((0.0, 0.1), (10.0, 0.5), (20.0, 1.0), (100.0, 1.0)), description="[[soc_pct, factor], ...]"
    )

    @model_validator(mode="after")
    def _tables(self) -> Self:
        _check_table("limits.charge_temperature_derating", self.charge_temperature_derating, True)
        _check_table("limits.discharge_temperature_derating", self.discharge_temperature_derating, True)
        _check_table("limits.charge_cell_voltage_derating", self.charge_cell_voltage_derating, False)
        _check_table("limits.discharge_cell_voltage_derating", self.discharge_cell_voltage_derating, False)
        _check_table("limits.charge_soc_derating", self.charge_soc_derating, False)
        _check_table("limits.discharge_soc_derating", self.discharge_soc_derating, False)
        return self


class BalancingConfig(Section):
    """Passive balancing through the LTC681x DCC bits."""

    mode: BalancingMode = BalancingMode.DIFFERENTIAL
    start_delta_v: float = Field(0.010, gt=0.0, le=0.5)
    stop_delta_v: float = Field(0.003, ge=0.0, le=0.5)
    max_board_temperature_c: float = Field(55.0, ge=0.0, le=100.0)
    max_cells_per_chip: int = Field(6, ge=1, le=18)
    resistor_ohm: float = Field(33.0, gt=0.0, le=10000.0, description="bleed resistor per cell")
    rest_current_a: float = Field(
        1.0, ge=0.0, le=100.0, description="differential mode: discharge below this counts as resting"
    )
    below_vbalance_v: float = Field(
        0.1, ge=0.0, le=2.0,
        description="differential mode: only cells above Vbalance minus this bleed (top balancing: "
        "at low SOC a flat curve such as LFP's says little about charge, and bleeding an empty pack harms it)",
    )

    @model_validator(mode="after")
    def _deltas(self) -> Self:
        if not self.stop_delta_v < self.start_delta_v:
            raise ValueError(
                f"balancing.stop_delta_v = {self.stop_delta_v} must be below "
                f"balancing.start_delta_v = {self.start_delta_v}"
            )
        return self


class ThermalConfig(Section):
    """Heater and cooler outputs with hysteresis (BMS Mini)."""

    heater_on_c: float = Field(2.0, ge=-40.0, le=40.0)
    heater_off_c: float = Field(6.0, ge=-40.0, le=50.0)
    cooler_on_c: float = Field(40.0, ge=0.0, le=90.0)
    cooler_off_c: float = Field(35.0, ge=0.0, le=90.0)

    @model_validator(mode="after")
    def _hysteresis(self) -> Self:
        if not self.heater_on_c < self.heater_off_c:
            raise ValueError(
                f"thermal.heater_on_c = {self.heater_on_c} must be below thermal.heater_off_c = "
                f"{self.heater_off_c}"
            )
        if not self.cooler_off_c < self.cooler_on_c:
            raise ValueError(
                f"thermal.cooler_off_c = {self.cooler_off_c} must be below thermal.cooler_on_c = "
                f"{self.cooler_on_c}"
            )
        if not self.heater_off_c < self.cooler_off_c:
            raise ValueError(
                f"thermal.heater_off_c = {self.heater_off_c} must be below thermal.cooler_off_c = "
                f"{self.cooler_off_c} (heater and cooler would fight)"
            )
        return self


class CellVoltageConfig(Section):
    """Cell over/under-voltage, as margins around the chemistry's Vmax / Vmin.

    Warning OV at Vmax - ov_warning_margin_v, fault OV at Vmax + ov_fault_margin_v; warning UV at
    Vmin + uv_warning_margin_v, fault UV at Vmin - uv_fault_margin_v. Each clears hysteresis_v on
    the safe side of its set threshold. The relays already stop charging at Vmax (and discharging
    at Vmin) at once; these faults additionally open the contactors.
    """

    ov_warning_margin_v: float = Field(0.05, ge=0.0, le=1.0)
    ov_fault_margin_v: float = Field(0.05, ge=0.0, le=0.5)
    uv_warning_margin_v: float = Field(0.10, ge=0.0, le=1.0)
    uv_fault_margin_v: float = Field(0.10, ge=0.0, le=0.5)
    hysteresis_v: float = Field(0.05, gt=0.0, le=1.0)
    warning_delay_s: float = Field(1.0, ge=0.0, le=600.0)
    fault_delay_s: float = Field(1.0, ge=0.0, le=600.0)
    clear_delay_s: float = Field(2.0, ge=0.0, le=600.0)
    latch_faults: bool = Field(True, description="cell OV/UV faults stay until the reset command")


class PackVoltageConfig(Section):
    """Pack over/under-voltage, as margins per cell around cells x Vmax / cells x Vmin."""

    ov_warning_margin_v: float = Field(0.05, ge=0.0, le=1.0, description="per cell")
    ov_fault_margin_v: float = Field(0.0, ge=0.0, le=0.5, description="per cell")
    uv_warning_margin_v: float = Field(0.10, ge=0.0, le=1.0, description="per cell")
    uv_fault_margin_v: float = Field(0.0, ge=0.0, le=0.5, description="per cell")
    hysteresis_v: float = Field(0.05, gt=0.0, le=1.0, description="per cell")
    warning_delay_s: float = Field(2.0, ge=0.0, le=600.0)
    fault_delay_s: float = Field(2.0, ge=0.0, le=600.0)
    clear_delay_s: float = Field(5.0, ge=0.0, le=600.0)


class TemperatureConfig(Section):
    """Cell temperatures, with separate windows for charging and for discharging.

    LFP must not be charged below 0 °C, hence the default charge under-temperature fault at 0 °C.
    """

    charge_over: LevelPair = LevelPair(warning=_lvl(45.0, 42.0, 2.0, 5.0), fault=_lvl(55.0, 50.0, 2.0, 10.0))
    charge_under: LevelPair = LevelPair(warning=_lvl(5.0, 7.0, 2.0, 5.0), fault=_lvl(0.0, 3.0, 2.0, 10.0))
    discharge_over: LevelPair = LevelPair(
        warning=_lvl(55.0, 52.0, 2.0, 5.0), fault=_lvl(60.0, 55.0, 2.0, 10.0)
    )
    discharge_under: LevelPair = LevelPair(
        warning=_lvl(-10.0, -7.0, 2.0, 5.0), fault=_lvl(-20.0, -17.0, 2.0, 10.0)
    )

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        for key, pair, over in (
            ("temperature.charge_over", self.charge_over, True),
            ("temperature.charge_under", self.charge_under, False),
            ("temperature.discharge_over", self.discharge_over, True),
            ("temperature.discharge_under", self.discharge_under, False),
        ):
            _check_range(key, pair, -60.0, 150.0, "°C")
            (_check_over if over else _check_under)(key, pair)
        for d in ("charge", "discharge"):
            under: LevelPair = getattr(self, f"{d}_under")
            over_p: LevelPair = getattr(self, f"{d}_over")
            if not under.warning.clear < over_p.warning.clear:
                raise ValueError(
                    f"temperature.{d}_under.warning.clear = {under.warning.clear} must be below "
                    f"temperature.{d}_over.warning.clear = {over_p.warning.clear}"
                )
        return self


class CurrentDirectionConfig(Section):
    """Over-current of one direction (magnitudes in A): continuous levels plus a faster peak."""

    warning: Level
    fault: Level
    peak_a: float = Field(ge=0.0, le=20000.0, description="trips after peak_delay_s (faster)")
    peak_delay_s: float = Field(0.2, ge=0.0, le=60.0)


class CurrentConfig(Section):
    """Over-current, short circuit and the stuck-sensor check. Current positive = charging."""

    charge: CurrentDirectionConfig = CurrentDirectionConfig(
        warning=_lvl(55.0, 50.0, 2.0, 5.0), fault=_lvl(60.0, 50.0, 5.0, 10.0), peak_a=100.0
    )
    discharge: CurrentDirectionConfig = CurrentDirectionConfig(
        warning=_lvl(110.0, 100.0, 2.0, 5.0), fault=_lvl(120.0, 100.0, 5.0, 10.0), peak_a=200.0
    )
    short_circuit_a: float = Field(
        500.0, gt=0.0, le=50000.0, description="|current| that opens every contactor in the same cycle"
    )
    stuck_unexplained_a: float = Field(
        10.0, gt=0.0, le=5000.0,
        description="frozen sensor: current (A) that the cells' voltage step over stuck_window_s implies "
        "(median cell step / estimation.r0_ohm) beyond the measured current step and its tolerance",
    )
    stuck_window_s: float = Field(
        2.0, gt=0.0, le=60.0,
        description="span over which the cells' voltage step is compared with the current step (short, "
        "so that the slow relaxation of the cells after a current change is not mistaken for a step)",
    )
    stuck_delay_s: float = Field(
        1.0, ge=0.0, le=30.0, description="the implausible step must last this long (below stuck_window_s)"
    )
    stuck_soc_tolerance_v: float = Field(
        0.02, ge=0.0, le=1.0,
        description="frozen sensor, SOC check: the cells' voltage may drift this much (hysteresis, slow "
        "relaxation) plus estimation.r1_ohm x the current change still relaxing, before the SOC the "
        "voltages imply is held against the SOC the frozen reading counts",
    )
    stuck_tolerance: float = Field(
        0.5, ge=0.0, le=5.0,
        description="fraction of the measured current step that an error in R0 (temperature, ageing) "
        "may leave unexplained",
    )

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        for key, d in (("current.charge", self.charge), ("current.discharge", self.discharge)):
            _check_range(key, LevelPair(warning=d.warning, fault=d.fault), 0.0, 20000.0, "A")
            _check_over(key, LevelPair(warning=d.warning, fault=d.fault))
            if not d.fault.set < d.peak_a:
                raise ValueError(f"{key}.fault.set = {d.fault.set} must be below {key}.peak_a = {d.peak_a}")
            if not d.peak_a < self.short_circuit_a:
                raise ValueError(
                    f"{key}.peak_a = {d.peak_a} must be below current.short_circuit_a = {self.short_circuit_a}"
                )
            if not d.peak_delay_s <= d.fault.set_delay_s:
                raise ValueError(
                    f"{key}.peak_delay_s = {d.peak_delay_s} must not exceed "
                    f"{key}.fault.set_delay_s = {d.fault.set_delay_s} (the peak trips faster)"
                )
        if not self.stuck_delay_s < self.stuck_window_s:
            raise ValueError(
                f"current.stuck_delay_s = {self.stuck_delay_s} must be below current.stuck_window_s = "
                f"{self.stuck_window_s} (an unexplained step is only seen while it is inside the window)"
            )
        return self


class ImbalanceConfig(Section):
    """Cell imbalance: highest minus lowest cell voltage (V)."""

    levels: LevelPair = LevelPair(warning=_lvl(0.10, 0.05, 5.0, 10.0), fault=_lvl(0.40, 0.20, 10.0, 30.0))
    fault_blocks_charge: bool = Field(True, description="an imbalance fault stops charging")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        _check_range("imbalance.levels", self.levels, 0.0, 5.0, "V")
        _check_over("imbalance.levels", self.levels)
        return self


class SensorPlausibilityConfig(Section):
    """Implausible sensors: sum of cells vs the chips' pack measurement, thermistor range, bus
    voltage against the pack (checked in ``bmsgateway.acquisition.plausibility``)."""

    pack_sum_warning_per_cell_v: float = Field(0.02, gt=0.0, le=1.0)
    pack_sum_fault_per_cell_v: float = Field(0.05, gt=0.0, le=1.0)
    pack_sum_delay_s: float = Field(3.0, ge=0.0, le=600.0)
    pack_sum_clear_delay_s: float = Field(5.0, ge=0.0, le=600.0)
    thermistor_min_c: float = Field(-50.0, ge=-100.0, le=0.0, description="below reads as shorted/open")
    thermistor_max_c: float = Field(150.0, ge=50.0, le=300.0, description="above reads as shorted/open")
    thermistor_delay_s: float = Field(1.0, ge=0.0, le=600.0)
    adc_fault_delay_s: float = Field(
        0.3, ge=0.0, le=10.0, description="a board's ADC fault (lost/stalled/frozen conversion, self test) this long"
    )
    cell_min_v: float = Field(
        1.0, ge=0.0, le=3.0,
        description="a cell reading below this is no cell voltage (broken sense path, dead ADC): neither "
        "direction is allowed",
    )
    cell_max_v: float = Field(
        5.0, ge=3.0, le=6.6, description="a cell reading above this is no cell voltage (e.g. 0xFFFF = 6.5535 V)"
    )
    cell_delay_s: float = Field(0.5, ge=0.0, le=60.0, description="an implausible cell reading lasts this long")
    pack_sum_max_age_s: float = Field(
        2.0, gt=0.0, le=60.0,
        description="the chips' sum-of-cells pack voltage older than this is not used (not for the pack "
        "voltage faults, not as the precharge target, not in the sum-of-cells comparison)",
    )
    bus_above_pack_fraction: float = Field(
        0.05, ge=0.0, le=1.0,
        description="a bus voltage above the pack voltage by more than this fraction is implausible "
        "(a stuck-high sensor): precharge fails instead of closing the contactors",
    )

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if not self.cell_min_v < self.cell_max_v:
            raise ValueError(
                f"sensors.cell_min_v = {self.cell_min_v} must be below sensors.cell_max_v = {self.cell_max_v}"
            )
        if not self.pack_sum_warning_per_cell_v < self.pack_sum_fault_per_cell_v:
            raise ValueError(
                f"sensors.pack_sum_warning_per_cell_v = {self.pack_sum_warning_per_cell_v} must be below "
                f"sensors.pack_sum_fault_per_cell_v = {self.pack_sum_fault_per_cell_v}"
            )
        return self


class CommunicationConfig(Section):
    """Lost communication: failed board reads and stale values."""

    warning_cycles: int = Field(2, ge=1, le=1000, description="failed cycles of a board that warn")


class LoopConfig(Section):
    """Loop overrun: a warning when a cycle's software time exceeds its period, a fault when the
    start-to-start period stretches to ``fault_factor`` periods (protection is then too slow)."""

    fault_factor: float = Field(10.0, gt=1.0, le=1000.0)
    clear_delay_s: float = Field(5.0, ge=0.0, le=600.0)


class RecurrenceConfig(Section):
    """Auto-recovering faults that keep coming back latch (the ENNOID error-count idea).

    Without it a persistent fault (a load drawing 150 A against a 120 A limit) clears after its
    clear delay, the contactor re-closes into it, and the cycle repeats for as long as the fault
    lasts. The ``count``-th raise of one fault at one location within ``window_s`` latches it
    until the reset command.
    """

    count: int = Field(3, ge=0, le=100, description="raises within window_s that latch (0 = never latch)")
    window_s: float = Field(600.0, gt=0.0, le=86400.0, description="window over which raises are counted")


class ProtectionConfig(Section):
    """Fault thresholds and delays not derived from the chemistry."""

    relays: RelayConfig = RelayConfig()
    contactors: ContactorConfig = ContactorConfig()
    limits: LimitsConfig = LimitsConfig()
    balancing: BalancingConfig = BalancingConfig()
    thermal: ThermalConfig = ThermalConfig()
    cell_voltage: CellVoltageConfig = CellVoltageConfig()
    pack_voltage: PackVoltageConfig = PackVoltageConfig()
    temperature: TemperatureConfig = TemperatureConfig()
    current: CurrentConfig = CurrentConfig()
    imbalance: ImbalanceConfig = ImbalanceConfig()
    sensors: SensorPlausibilityConfig = SensorPlausibilityConfig()
    communication: CommunicationConfig = CommunicationConfig()
    loop: LoopConfig = LoopConfig()
    recurrence: RecurrenceConfig = RecurrenceConfig()
    event_log_size: int = Field(1000, ge=10, le=100000, description="events kept in memory")
    comm_loss_cycles: int = Field(
        5, ge=1, le=1000, description="a board failing more than this many cycles in a row is lost"
    )
    max_value_age_s: float = Field(1.0, gt=0.0, le=60.0, description="older values count as lost")
    alarm: AlarmConfig = AlarmConfig()

    @model_validator(mode="after")
    def _comm(self) -> Self:
        if not self.communication.warning_cycles <= self.comm_loss_cycles:
            raise ValueError(
                f"protection.communication.warning_cycles = {self.communication.warning_cycles} must not "
                f"exceed protection.comm_loss_cycles = {self.comm_loss_cycles}"
            )
        return self


def check_protection_against_pack(protection: ProtectionConfig, vmin_v: float, vmax_v: float) -> None:
    """Cross-section checks that need the chemistry (called from ``Config``'s validator).

    Raises ValueError naming the keys, values and the relation that must hold.
    """
    cv = protection.cell_voltage
    ov_warn = vmax_v - cv.ov_warning_margin_v
    uv_warn = vmin_v + cv.uv_warning_margin_v
    if not uv_warn < ov_warn:
        raise ValueError(
            f"protection.cell_voltage: under-voltage warning at Vmin + uv_warning_margin_v = {uv_warn:.3f} V "
            f"must be below the over-voltage warning at Vmax - ov_warning_margin_v = {ov_warn:.3f} V"
        )
    if not ov_warn - cv.hysteresis_v > vmin_v:
        raise ValueError(
            f"protection.cell_voltage.hysteresis_v = {cv.hysteresis_v} puts the over-voltage warning's "
            f"clear threshold {ov_warn - cv.hysteresis_v:.3f} V below Vmin = {vmin_v}"
        )
    if not vmin_v - cv.uv_fault_margin_v > 0.5:
        raise ValueError(
            f"protection.cell_voltage.uv_fault_margin_v = {cv.uv_fault_margin_v} puts the under-voltage "
            f"fault at {vmin_v - cv.uv_fault_margin_v:.3f} V (must stay above 0.5 V)"
        )
