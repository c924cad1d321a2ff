"""Hardware backends: the simulated pack (default) or the Raspberry Pi's SPI and GPIO."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from bmsgateway.config.base import Section
from bmsgateway.config.discrete import InputConfig

__all__ = ["BusVoltageConfig", "CurrentSensorConfig", "GpioConfig", "HardwareConfig", "SpiConfig"]


class SpiConfig(Section):
    """spidev device of the LTC6820 isoSPI master.

    The LTC6820's POL and PHA pins set the SPI mode it expects (mode = 2·POL + PHA; the common
    isoSPI HATs strap POL = PHA = 1, mode 3, as the Linduino DC1941/DC2792 boards do), and its
    SLOW pin the clock: SLOW = 0 allows up to 1 MHz, SLOW = 1 needs tCLK >= 5 µs (<= 200 kHz,
    LTC6820 datasheet isoSPI master timing). A mode or speed that does not match the strapping
    gives no answer at all: the daemon stops at start with "no answer from board 1".
    """

    bus: int = Field(0, ge=0, le=7)
    device: int = Field(0, ge=0, le=7)
    mode: int = Field(3, ge=0, le=3, description="SPI mode = 2*POL + PHA of the LTC6820 strapping")
    speed_hz: int = Field(
        500_000, ge=10_000, le=1_000_000, description="SCK; 1 MHz max (SLOW = 0), 200 kHz max with SLOW = 1"
    )


class GpioConfig(Section):
    """gpiod lines of the contactor/relay outputs and their feedback inputs (-1 = not wired)."""

    chip: str = Field("/dev/gpiochip0", min_length=1)
    active_low: bool = False
    precharge: int = Field(17, ge=-1, le=511)
    charge: int = Field(27, ge=-1, le=511)
    discharge: int = Field(22, ge=-1, le=511)
    allow_charge: int = Field(23, ge=-1, le=511)
    allow_discharge: int = Field(24, ge=-1, le=511)
    heater: int = Field(-1, ge=-1, le=511)
    cooler: int = Field(-1, ge=-1, le=511)
    precharge_feedback: int = Field(-1, ge=-1, le=511)
    charge_feedback: int = Field(5, ge=-1, le=511)
    discharge_feedback: int = Field(6, ge=-1, le=511)
    alarm: int = Field(-1, ge=-1, le=511, description="alarm output (buzzer, lamp); see protection.alarm")


class CurrentSensorConfig(Section):
    """Pack current from a Hall sensor wired to a GPIO (aux ADC) input of one LTC681x.

    current_a = (v_gpio - zero_v) / sensitivity_v_per_a * (-1 if inverted); positive = charging.
    The zero offset set by calibration (the 123\\SmartBMS button) is kept in the state file.
    """

    board: int = Field(0, ge=0, le=63, description="board whose GPIO reads the sensor")
    gpio: int = Field(5, ge=1, le=9, description="GPIO input number (1-based)")
    zero_v: float = Field(2.5, ge=0.0, le=5.0, description="sensor output at 0 A")
    sensitivity_v_per_a: float = Field(0.004, gt=0, le=1.0, description="e.g. 4 mV/A for a ±500 A sensor")
    inverted: bool = False
    dead_band_a: float = Field(0.0, ge=0.0, le=10.0, description="|I| below this reads as 0 A")
    max_age_s: float = Field(1.0, gt=0, le=60.0, description="older readings count as stale")
    range_a: float | None = Field(
        None, gt=0, le=20000.0,
        description="rated measuring range (±A); default: what zero_v and sensitivity_v_per_a leave on the "
        "0..5 V input. Short-circuit and peak limits must lie below it",
    )
    zero_band_a: float = Field(
        2.0, gt=0.0, le=50.0, description="zero calibration: refused unless the raw reading (the offset it "
        "would store) is within ±this",
    )
    zero_rest_s: float = Field(
        30.0, ge=0.0, le=3600.0, description="zero calibration: the reading in the band and the cells' voltage "
        "steady for this long first (cells at rest)",
    )
    zero_rest_dv_v: float = Field(
        0.005, gt=0.0, le=0.1, description="zero calibration: largest change of the average cell voltage that "
        "still counts as steady",
    )


class BusVoltageConfig(Section):
    """Bus (load-side) voltage through a resistor divider to a GPIO of one LTC681x.

    bus_v = v_gpio * divider_ratio. Precharge is verified with it: without it (enabled = false on
    real hardware) precharge can only wait its timeout, and the daemon warns at start. The
    divider must be referenced to that board's V- (the bottom board's V- is the pack negative).
    """

    enabled: bool = False
    board: int = Field(0, ge=0, le=63, description="board whose GPIO reads the divider")
    gpio: int = Field(4, ge=1, le=9, description="GPIO input number (1-based)")
    divider_ratio: float = Field(20.0, gt=1.0, le=1000.0, description="bus voltage / GPIO voltage")


class HardwareConfig(Section):
    """Which backend drives the chain; driver retry/timing knobs."""

    backend: Literal["simulated", "spidev"] = "simulated"
    spi: SpiConfig = SpiConfig()
    gpio: GpioConfig = GpioConfig()
    current_sensor: CurrentSensorConfig = CurrentSensorConfig()
    bus_voltage: BusVoltageConfig = BusVoltageConfig()
    pec_retries: int = Field(2, ge=0, le=10, description="re-reads of a register group after a PEC error")
    open_wire_interval_s: float = Field(10.0, ge=0.0, le=3600.0, description="0 disables ADOW checks")
    status_interval_s: float = Field(1.0, ge=0.0, le=3600.0, description="ADSTAT (sum of cells, die temp)")
    open_wire_repetitions: int = Field(
        5, ge=1, le=50, description="ADOW per polarity (reference: 5); the filter capacitors need repeated pulls"
    )
    open_wire_mode: Literal["fast", "normal", "filtered"] = Field(
        "normal", description="ADOW ADC mode: 27 kHz, 7 kHz or 26 Hz (26 Hz takes 0.2 s per ADOW)"
    )
    conversion_timeout_s: float = Field(
        0.05, ge=0.005, le=2.0, description="PLADC polling gives up after this: the boards get an ADC fault"
    )
    self_test_interval_s: float = Field(
        10.0, ge=0.0, le=86400.0, description="CVST/AXST/DIAGN self tests; 0 disables"
    )
    stale_conversions: int = Field(
        300, ge=3, le=1_000_000, description="a board whose every channel repeats this many conversions is stale"
    )
    stale_min_current_a: float = Field(
        5.0, ge=0.0, le=2000.0, description="the stale check counts only while |current| is at least this"
    )
    chain_probe_interval_s: float = Field(
        10.0, ge=0.0, le=86400.0, description="read one slot beyond the chain (and chip types); 0 = only at start"
    )
    inputs: tuple[InputConfig, ...] = Field(
        (), max_length=16, description="discrete inputs, one [[hardware.inputs]] table each (none by default)",
    )

    @model_validator(mode="after")
    def _input_lines(self) -> Self:
        """A line is one thing: one input function, never also an output or a feedback input."""
        used = {
            int(v): f"hardware.gpio.{k}" for k, v in self.gpio.model_dump().items()
            if k != "chip" and isinstance(v, int) and not isinstance(v, bool) and v >= 0
        }
        for k, inp in enumerate(self.inputs):
            key = f"hardware.inputs[{k}].line"
            other = used.get(inp.line)
            if other is not None:
                raise ValueError(f"{key} = {inp.line}: line {inp.line} is already used by {other}")
            used[inp.line] = f"hardware.inputs[{k}] ({inp.function})"
        return self
