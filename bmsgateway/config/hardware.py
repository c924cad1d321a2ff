"""Hardware backends: the simulated pack (default) or the Raspberry Pi's SPI and GPIO."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Self

from pydantic import Field, model_validator

from bmsgateway.config.base import Section
from bmsgateway.config.discrete import InputConfig

__all__ = [
    "ADC_INPUT_MAX_V",
    "BLIND_SPOT_FRACTION",
    "BusVoltageConfig",
    "ConsumerCurrentSensorConfig",
    "CurrentSensorConfig",
    "GpioConfig",
    "HardwareConfig",
    "SpiConfig",
]

#: LTC681x GPIO (auxiliary) inputs measure 0 .. ~5 V.
ADC_INPUT_MAX_V = 5.0
#: The dead band ("blind spot") as a fraction of the sensor's range when not configured: the
#: 123\SmartBMS dual-range sensor documents ±300 mA on its 500 A range (±150 mA / 250 A and
#: ±75 mA / 125 A with 2 or 4 loops through it), i.e. 0.06 % of the range every time.
BLIND_SPOT_FRACTION = 0.0006


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


class _HallChannel(Section):
    """What every Hall sensor input shares (no fields: the sections keep their own field order)."""

    if TYPE_CHECKING:  # declared by each section (in its own order); typed here for the helpers
        zero_v: float
        sensitivity_v_per_a: float
        range_a: float | None
        dead_band_a: float | None
        low_range_gpio: int
        low_range_zero_v: float
        low_range_sensitivity_v_per_a: float
        low_range_a: float
        low_range_hysteresis_a: float

    def measuring_range_a(self) -> float:
        """The current magnitude the (high-range) output can report: the rated range if stated, else what
        the zero point and sensitivity leave on the 0..5 V input (both sides; the smaller one counts)."""
        adc_a = min(self.zero_v, ADC_INPUT_MAX_V - self.zero_v) / self.sensitivity_v_per_a
        return adc_a if self.range_a is None else min(self.range_a, adc_a)

    def dead_band_used_a(self) -> float:
        """The configured dead band, or ``BLIND_SPOT_FRACTION`` of the measuring range."""
        return BLIND_SPOT_FRACTION * self.measuring_range_a() if self.dead_band_a is None else self.dead_band_a

    def low_range_used(self) -> bool:
        return self.low_range_gpio > 0

    def _check_low_range(self, section: str) -> None:
        if not self.low_range_used():
            return
        span = min(self.low_range_zero_v, ADC_INPUT_MAX_V - self.low_range_zero_v) / self.low_range_sensitivity_v_per_a
        if self.low_range_a > span + 1e-9:
            raise ValueError(
                f"{section}.low_range_a = {self.low_range_a:g} A exceeds what low_range_zero_v and "
                f"low_range_sensitivity_v_per_a leave on the 0..5 V input ({span:.4g} A)"
            )
        if self.low_range_a >= self.measuring_range_a():
            raise ValueError(
                f"{section}.low_range_a = {self.low_range_a:g} A must be below the high range "
                f"{self.measuring_range_a():.4g} A"
            )
        if self.low_range_hysteresis_a >= self.low_range_a:
            raise ValueError(
                f"{section}.low_range_hysteresis_a = {self.low_range_hysteresis_a:g} A must be below "
                f"low_range_a = {self.low_range_a:g} A"
            )


class CurrentSensorConfig(_HallChannel):
    """Pack current from a Hall sensor wired to a GPIO (aux ADC) input of one LTC681x.

    current_a = ((v_gpio - zero_v) / sensitivity_v_per_a * (-1 if inverted) - zero offset) x gain;
    positive = charging. The zero offset set by calibration (the 123\\SmartBMS button) and the gain
    factor set by a calibration with a known reference current are kept in the state file.

    Dual range (the 123\\SmartBMS 20 A / 500 A sensor): with ``low_range_gpio`` set, the sensor's second,
    more sensitive output is read too, and the reading comes from it while |I| is inside
    ``low_range_a`` (back to it only below ``low_range_a - low_range_hysteresis_a``, so it does not
    chatter at the boundary). A low-range output that is not fresh, saturates or disagrees with the
    high range by more than a quarter of ``low_range_a`` is not used (the high range is); a high
    range that is not fresh makes the current unknown.

    Dead band (the 123's "blind spot"): |I| below it reads 0 A, so that the zero drift of the sensor
    is not counted as charge for days. Not set, it is 0.06 % of the (high) measuring range, the
    123\\SmartBMS sensor's documented ±300 mA on 500 A (0.375 A for the default 625 A range).

    In a two-sensor setup (``[hardware.consumer_current_sensor]``) this sensor is on the charger /
    solar side, or on the battery itself (see that section's ``mode``).
    """

    board: int = Field(0, ge=0, le=63, description="board whose GPIO reads the sensor")
    gpio: int = Field(5, ge=1, le=9, description="GPIO input number (1-based)")
    zero_v: float = Field(2.5, ge=0.0, le=5.0, description="sensor output at 0 A")
    sensitivity_v_per_a: float = Field(0.004, gt=0, le=1.0, description="e.g. 4 mV/A for a ±500 A sensor")
    inverted: bool = False
    dead_band_a: float | None = Field(
        None, ge=0.0, le=10.0, description="|I| below this reads as 0 A; default: 0.06 % of the measuring range "
        "(the 123\\SmartBMS blind spot, ±0.3 A on 500 A)",
    )
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
    low_range_gpio: int = Field(
        0, ge=0, le=9, description="dual-range sensor: GPIO (same board) of the low-range output; 0 = single range"
    )
    low_range_zero_v: float = Field(2.5, ge=0.0, le=5.0, description="low-range output at 0 A")
    low_range_sensitivity_v_per_a: float = Field(
        0.1, gt=0, le=1.0, description="low-range output slope, e.g. 100 mV/A for ±20 A"
    )
    low_range_a: float = Field(20.0, gt=0, le=2000.0, description="the reading uses the low range while |I| is "
                               "inside ±this")
    low_range_hysteresis_a: float = Field(
        1.0, ge=0.0, le=100.0, description="back to the low range only once |I| is this far inside low_range_a"
    )
    gain_min_fraction: float = Field(
        0.02, gt=0.0, le=1.0, description="gain calibration: refused unless |reference| is at least this fraction "
        "of the range in use (low range while it is used)",
    )
    gain_max_correction_pct: float = Field(
        10.0, gt=0.0, le=50.0, description="gain calibration: refused if the correction it implies is larger"
    )
    gain_steady_s: float = Field(
        5.0, ge=0.0, le=600.0, description="gain calibration: the reading must have been steady this long"
    )
    gain_steady_pct: float = Field(
        1.0, gt=0.0, le=20.0, description="gain calibration: steady = every reading of gain_steady_s within ±this "
        "% of their mean",
    )

    @model_validator(mode="after")
    def _low_range(self) -> Self:
        self._check_low_range("hardware.current_sensor")
        return self


class ConsumerCurrentSensorConfig(_HallChannel):
    """An optional second Hall sensor on the consumers' side (123\\SmartBMS "Sensor 2").

    The 123\\SmartBMS has one sensor in the charger / solar line and one in the consumers' line
    (inverter, motor controller); the battery current is their difference. ``mode``:

    * ``off`` -- one sensor: ``[hardware.current_sensor]`` measures the battery current;
    * ``charge_minus_consumer`` -- ``[hardware.current_sensor]`` is in the charger line, this one in
      the consumers' line: battery = charger - consumer current;
    * ``battery_and_consumer`` -- ``[hardware.current_sensor]`` measures the battery, this one the
      consumers: charger = battery + consumer current.

    Positive = current into the consumers. A reading that is not fresh, NaN or outside its range (an
    open input reads 0 V, i.e. the range limit) is no reading: in ``charge_minus_consumer`` mode the
    battery current is then unknown (NaN, its age grows: communication_lost.current), never wrong.
    The one exception is the end of the range in the direction of consumption in that mode (a short
    on the consumer side): the battery discharges at least the range, which is reported so that the
    short-circuit fault trips at once, and flagged as a bound that is not coulomb counted.
    The zero calibration zeroes both sensors; the freshness limit is ``current_sensor.max_age_s``.
    """

    mode: Literal["off", "charge_minus_consumer", "battery_and_consumer"] = Field(
        "off", description="how the two sensors combine (off = one sensor only)"
    )
    board: int = Field(0, ge=0, le=63, description="board whose GPIO reads the sensor")
    gpio: int = Field(3, ge=1, le=9, description="GPIO input number (1-based)")
    zero_v: float = Field(2.5, ge=0.0, le=5.0, description="sensor output at 0 A")
    sensitivity_v_per_a: float = Field(0.004, gt=0, le=1.0, description="e.g. 4 mV/A for a ±500 A sensor")
    inverted: bool = False
    dead_band_a: float | None = Field(
        None, ge=0.0, le=10.0, description="|I| below this reads as 0 A; default: 0.06 % of the measuring range"
    )
    range_a: float | None = Field(
        None, gt=0, le=20000.0, description="rated measuring range (±A); default: what zero_v and "
        "sensitivity_v_per_a leave on the 0..5 V input. A reading at or beyond it is no reading, except "
        "consumption at the limit in charge_minus_consumer mode (a short: the short-circuit fault trips)",
    )
    low_range_gpio: int = Field(
        0, ge=0, le=9, description="dual-range sensor: GPIO (same board) of the low-range output; 0 = single range"
    )
    low_range_zero_v: float = Field(2.5, ge=0.0, le=5.0, description="low-range output at 0 A")
    low_range_sensitivity_v_per_a: float = Field(0.1, gt=0, le=1.0, description="low-range output slope")
    low_range_a: float = Field(20.0, gt=0, le=2000.0, description="low range used while |I| is inside ±this")
    low_range_hysteresis_a: float = Field(1.0, ge=0.0, le=100.0, description="low-range switching hysteresis")

    @model_validator(mode="after")
    def _low_range(self) -> Self:
        self._check_low_range("hardware.consumer_current_sensor")
        return self

    @property
    def enabled(self) -> bool:
        return self.mode != "off"


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
    consumer_current_sensor: ConsumerCurrentSensorConfig = ConsumerCurrentSensorConfig()
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
