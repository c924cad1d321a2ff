"""Pack topology and chemistry: the daisy chain of cell-monitor boards and the cell limits."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Literal, Self

from pydantic import Field, model_validator

from bmsgateway.config.base import Section
from bmsgateway.config.chemistry import ENVELOPES, PRESETS, Chemistry, Envelope

__all__ = [
    "CHIP_CHANNELS", "BoardConfig", "CellLimits", "ChemistryConfig", "CustomEnvelope", "PackConfig",
    "ThermistorConfig",
]

#: Cell input channels per chip type.
CHIP_CHANNELS: dict[str, int] = {"LTC6811": 12, "LTC6813": 18}
#: GPIO (auxiliary) inputs per chip type.
CHIP_GPIOS: dict[str, int] = {"LTC6811": 5, "LTC6813": 9}


class ThermistorConfig(Section):
    """NTC thermistors on the LTC681x GPIO inputs: divider from VREF2 with a pull-up resistor."""

    beta_k: float = Field(3435.0, ge=1000.0, le=10000.0, description="NTC Beta constant (K)")
    r25_ohm: float = Field(10000.0, gt=0, le=1e6, description="NTC resistance at 25 °C")
    pullup_ohm: float = Field(10000.0, gt=0, le=1e6, description="pull-up from VREF2 to the GPIO")
    vref_v: float = Field(3.0, ge=2.9, le=3.1, description="VREF2 of the chip (3.0 V nominal)")


class BoardConfig(Section):
    """One cell-monitor board in the chain, listed bottom (nearest the host) first."""

    chip: Literal["LTC6811", "LTC6813"] = "LTC6811"
    cells: int = Field(8, ge=4, le=18, description="cells used; unused channels tied to the top cell")
    thermistors: int = Field(2, ge=0, le=9, description="NTCs on GPIO1..n")

    @model_validator(mode="after")
    def _fits_chip(self) -> Self:
        channels = CHIP_CHANNELS[self.chip]
        if self.cells > channels:
            raise ValueError(f"cells = {self.cells} exceeds the {channels} channels of an {self.chip}")
        gpios = CHIP_GPIOS[self.chip]
        if self.thermistors > gpios:
            raise ValueError(f"thermistors = {self.thermistors} exceeds the {gpios} GPIOs of an {self.chip}")
        return self


class CellLimits(Section):
    """The resolved per-cell limits and OCV table used by every stage."""

    chemistry: Chemistry
    vmin_v: float
    vbalance_v: float
    vmax_v: float
    nominal_v: float
    ocv_table: tuple[tuple[float, float], ...]


class CustomEnvelope(Section):
    """A custom cell's safe envelope, replacing the preset's (``[pack.chemistry.envelope]``).

    Every value must be given: the table exists for a cell whose datasheet differs from the
    preset, and stating each limit is the user's explicit statement of that datasheet. Only the
    measuring range of the LTC681x (0.5..5.0 V) and of the thermistors bound these.
    """

    cell_min_v: float = Field(ge=0.5, le=5.0, description="datasheet minimum cell voltage")
    cell_max_v: float = Field(ge=0.5, le=5.0, description="datasheet maximum cell voltage")
    charge_min_c: float = Field(ge=-60.0, le=100.0, description="datasheet minimum charging temperature")
    charge_max_c: float = Field(ge=-60.0, le=100.0, description="datasheet maximum charging temperature")
    discharge_min_c: float = Field(ge=-60.0, le=100.0, description="datasheet minimum discharging temperature")
    discharge_max_c: float = Field(ge=-60.0, le=100.0, description="datasheet maximum discharging temperature")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        for lo, hi in (("cell_min_v", "cell_max_v"), ("charge_min_c", "charge_max_c"),
                       ("discharge_min_c", "discharge_max_c")):
            if not getattr(self, lo) < getattr(self, hi):
                raise ValueError(
                    f"pack.chemistry.envelope.{lo} = {getattr(self, lo)} must be below "
                    f"pack.chemistry.envelope.{hi} = {getattr(self, hi)}"
                )
        return self


class ChemistryConfig(Section):
    """Chemistry preset plus optional overrides of each of its values.

    Every voltage and temperature limit of the config must lie inside the chemistry's safe
    envelope (``bmsgateway.config.chemistry.ENVELOPES``); a cell outside it is described with an
    explicit ``[pack.chemistry.envelope]`` table.
    """

    preset: Chemistry = Chemistry.LFP
    vmin_v: float | None = Field(None, ge=1.0, le=5.0)
    vbalance_v: float | None = Field(None, ge=1.0, le=5.0)
    vmax_v: float | None = Field(None, ge=1.0, le=5.0)
    nominal_v: float | None = Field(None, ge=1.0, le=5.0)
    ocv_table: tuple[tuple[float, float], ...] | None = Field(
        None, description="[[soc_pct, voltage_v], ...] from 0 to 100 % SOC"
    )
    envelope: CustomEnvelope | None = Field(
        None, description="custom cell: its datasheet limits, replacing the preset's safe envelope "
        "(all six values required)",
    )

    @property
    def safe_envelope(self) -> Envelope:
        """The envelope every limit must stay inside: the custom one if stated, else the preset's."""
        e = self.envelope
        if e is None:
            return ENVELOPES[self.preset]
        return Envelope(e.cell_min_v, e.cell_max_v, e.charge_min_c, e.charge_max_c, e.discharge_min_c,
                        e.discharge_max_c)

    def resolve(self) -> CellLimits:
        """Preset values with the overrides applied."""
        p = PRESETS[self.preset]
        return CellLimits(
            chemistry=self.preset,
            vmin_v=p.vmin_v if self.vmin_v is None else self.vmin_v,
            vbalance_v=p.vbalance_v if self.vbalance_v is None else self.vbalance_v,
            vmax_v=p.vmax_v if self.vmax_v is None else self.vmax_v,
            nominal_v=p.nominal_v if self.nominal_v is None else self.nominal_v,
            ocv_table=p.ocv_table if self.ocv_table is None else self.ocv_table,
        )

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        lim = self.resolve()
        if not lim.vmin_v < lim.vbalance_v:
            raise ValueError(f"vmin_v = {lim.vmin_v} must be below vbalance_v = {lim.vbalance_v}")
        if not lim.vbalance_v < lim.vmax_v:
            raise ValueError(f"vbalance_v = {lim.vbalance_v} must be below vmax_v = {lim.vmax_v}")
        table = lim.ocv_table
        if len(table) < 2:
            raise ValueError(f"ocv_table = {list(table)} needs at least 2 points")
        socs = [s for s, _ in table]
        volts = [v for _, v in table]
        if socs[0] != 0 or socs[-1] != 100:
            raise ValueError(f"ocv_table SOC points = {socs} must start at 0 and end at 100")
        if any(b <= a for a, b in itertools.pairwise(socs)):
            raise ValueError(f"ocv_table SOC points = {socs} must be strictly increasing")
        if any(b <= a for a, b in itertools.pairwise(volts)):
            raise ValueError(f"ocv_table voltages = {volts} must be strictly increasing")
        if any(not 1.0 <= v <= 5.0 for v in volts):
            raise ValueError(f"ocv_table voltages = {volts} must lie within 1.0..5.0 V")
        return self


class PackConfig(Section):
    """The pack: chemistry, rated capacity and the chain of boards (bottom board first)."""

    capacity_ah: float = Field(100.0, gt=0, le=10000.0, description="rated capacity")
    chemistry: ChemistryConfig = ChemistryConfig()
    thermistor: ThermistorConfig = ThermistorConfig()
    boards: tuple[BoardConfig, ...] = Field(
        (BoardConfig(), BoardConfig()), min_length=1, max_length=64
    )

    @property
    def cell_count(self) -> int:
        return sum(b.cells for b in self.boards)

    @property
    def thermistor_count(self) -> int:
        return sum(b.thermistors for b in self.boards)

    @property
    def board_cell_ranges(self) -> tuple[tuple[int, int], ...]:
        """Per board, the pack-wide cell indices ``(first, end)`` it measures (bottom board first).

        The one statement of the layout: acquisition, protection, the simulator and the SunSpec
        modules read it from here.
        """
        return _ranges(b.cells for b in self.boards)

    @property
    def board_thermistor_ranges(self) -> tuple[tuple[int, int], ...]:
        """Per board, the pack-wide thermistor indices ``(first, end)`` it measures."""
        return _ranges(b.thermistors for b in self.boards)

    @property
    def limits(self) -> CellLimits:
        return self.chemistry.resolve()

    @model_validator(mode="after")
    def _size(self) -> Self:
        if self.cell_count > 512:
            raise ValueError(f"boards hold {self.cell_count} cells; at most 512 are supported")
        if self.thermistor_count == 0:
            raise ValueError(
                "boards[].thermistors = 0 on every board: a pack without a cell temperature is never "
                "allowed to charge or discharge (wire at least one NTC)"
            )
        return self


def _ranges(counts: Iterable[int]) -> tuple[tuple[int, int], ...]:
    """Consecutive ``(first, end)`` index ranges for blocks of the given sizes."""
    out: list[tuple[int, int]] = []
    first = 0
    for n in counts:
        out.append((first, first + n))
        first += n
    return tuple(out)
