"""The current sensor as the 123\\SmartBMS documents it: dual range (20 A / 625 A outputs on two GPIOs
of the emulated LTC6811, read through the real driver), the dead band default, and the fallbacks
of a dual-range reading that cannot be trusted."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest

from bmsgateway.acquisition.current import HallChannel
from bmsgateway.acquisition.sampler import Acquisition
from bmsgateway.clock import VirtualClock
from bmsgateway.config import Config, parse_config
from bmsgateway.config.load import ConfigError
from bmsgateway.hal.ltc681x import EmulatedChain, LTC681xChain
from bmsgateway.sim.pack import PackSimulator
from bmsgateway.state import Measurement
from tests.sim.helpers import close_all

HIGH_STEP_A = 100e-6 / 0.004  #: one ADC step (100 µV) of the 4 mV/A high-range output: 25 mA


class Knob:
    """A scenario whose current the test sets (positive = charging)."""

    def __init__(self) -> None:
        self.current = 0.0

    def current_a(self, t_s: float) -> float:
        return self.current

    def sources_a(self, t_s: float) -> tuple[float, float]:
        return (self.current, 0.0) if self.current >= 0 else (0.0, -self.current)


def _rig(hardware: dict[str, Any], **sim: Any) -> tuple[Acquisition, PackSimulator, VirtualClock, Knob]:
    cfg = parse_config(
        {
            "simulator": {"current_noise_a": 0.0, **sim},
            "hardware": {"open_wire_interval_s": 0.0, "self_test_interval_s": 0.0, **hardware},
        },
        "test",
    )
    clock = VirtualClock()
    knob = Knob()
    psim = PackSimulator(cfg, clock, scenario=knob)
    close_all(psim, clock)
    chips = [b.chip for b in cfg.pack.boards]
    emu = EmulatedChain(chips, clock, psim, [b.cells for b in cfg.pack.boards])
    return Acquisition(cfg, LTC681xChain(emu, chips), clock), psim, clock, knob


def _read(acq: Acquisition, clock: VirtualClock, n: int = 1) -> Measurement:
    async def run() -> Measurement:
        m = None
        for _ in range(n):
            m = await acq.acquire()
            clock.advance(0.1)
        assert m is not None
        return m

    return asyncio.run(run())


DUAL = {"current_sensor": {"low_range_gpio": 3}}  # GPIO3 of board 0: 100 mV/A, ±20 A; GPIO5: 4 mV/A


def test_dual_range_reads_the_low_range_inside_20_a_with_hysteresis_and_the_high_range_outside() -> None:
    acq, _sim, clock, knob = _rig(DUAL)
    knob.current = 5.013
    m = _read(acq, clock, 2)
    assert m.current_low_range
    assert m.current_a == pytest.approx(5.013, abs=0.002)  # 1 mA steps: finer than the high range's 25 mA
    assert abs(m.current_a / HIGH_STEP_A - round(m.current_a / HIGH_STEP_A)) > 0.1
    knob.current = -12.3456
    m = _read(acq, clock)
    assert m.current_low_range and m.current_a == pytest.approx(-12.3456, abs=0.002)

    knob.current = 25.0  # outside the low range: the high range
    m = _read(acq, clock)
    assert not m.current_low_range and m.current_a == pytest.approx(25.0, abs=HIGH_STEP_A)
    # back inside, but within the 1 A hysteresis: no switch, and no chatter around 19.5 A
    ranges = []
    for i in range(10):
        knob.current = 19.3 if i % 2 else 19.8
        ranges.append(_read(acq, clock).current_low_range)
    assert ranges == [False] * 10
    knob.current = 18.5
    m = _read(acq, clock)
    assert m.current_low_range and m.current_a == pytest.approx(18.5, abs=0.002)
    ranges = []
    for i in range(10):  # and from the low range the same currents keep the low range
        knob.current = 19.3 if i % 2 else 19.8
        ranges.append(_read(acq, clock).current_low_range)
    assert ranges == [True] * 10
    knob.current = 20.5  # just beyond: the low output is beyond its range, the high one takes over
    m = _read(acq, clock)
    assert not m.current_low_range and m.current_a == pytest.approx(20.5, abs=HIGH_STEP_A)


def test_a_stuck_low_range_output_is_not_used() -> None:
    acq, sim, clock, knob = _rig(DUAL)
    knob.current = 10.0
    assert _read(acq, clock, 2).current_low_range
    sim.set_current_sensor_output("low", 2.5)  # stuck at its 0 A voltage while 10 A flow
    m = _read(acq, clock)
    assert not m.current_low_range  # 10 A apart: more than a quarter of the 20 A range
    assert m.current_a == pytest.approx(10.0, abs=HIGH_STEP_A)
    sim.set_current_sensor_output("low", None)
    assert _read(acq, clock).current_low_range


def test_dual_range_fallbacks_on_unknown_outputs() -> None:
    cfg = Config().hardware.current_sensor.model_copy(update={"low_range_gpio": 3})
    ch = HallChannel(cfg)
    gpio = [1.0, 1.0, 2.5 + 0.1 * 5.0, 0.0, 2.5 + 0.004 * 5.0]  # 5 A on both outputs
    assert ch.raw(gpio) == pytest.approx(5.0) and ch.low_active
    gpio_low_nan = [1.0, 1.0, math.nan, 0.0, 2.5 + 0.004 * 5.0]
    assert ch.raw(gpio_low_nan) == pytest.approx(5.0) and not ch.low_active  # stale low range: the high one
    gpio_high_nan = [1.0, 1.0, 2.5 + 0.1 * 5.0, 0.0, math.nan]
    assert math.isnan(ch.raw(gpio_high_nan)) and not ch.low_active  # NaN high range: unknown


def test_dead_band_default_matches_the_sensor() -> None:
    cs = Config().hardware.current_sensor
    assert cs.dead_band_a is None
    assert cs.dead_band_used_a() == pytest.approx(0.375)  # 0.06 % of the 625 A the 4 mV/A output spans
    # the 123\SmartBMS sensor: ±300 mA on 500 A (and ±150 mA / ±75 mA with 2 / 4 loops)
    for range_a, blind_a in ((500.0, 0.3), (250.0, 0.15), (125.0, 0.075)):
        assert cs.model_copy(update={"range_a": range_a}).dead_band_used_a() == pytest.approx(blind_a)


def test_dead_band_zeroes_a_small_offset_and_can_be_set_to_zero() -> None:
    acq, _sim, clock, knob = _rig({}, current_offset_a=0.2)
    knob.current = 0.0
    assert _read(acq, clock, 2).current_a == 0.0  # 0.2 A of zero drift is not counted as charge
    knob.current = 0.5
    assert _read(acq, clock).current_a == pytest.approx(0.7, abs=HIGH_STEP_A)
    acq, _sim, clock, knob = _rig({"current_sensor": {"dead_band_a": 0.0}}, current_offset_a=0.2)
    assert _read(acq, clock, 2).current_a == pytest.approx(0.2, abs=HIGH_STEP_A)


@pytest.mark.parametrize(("hardware", "message"), [
    ({"current_sensor": {"low_range_gpio": 1}}, "low_range_gpio = 1 is used by a thermistor"),
    ({"current_sensor": {"low_range_gpio": 5}}, "is already hardware.current_sensor.gpio"),
    ({"current_sensor": {"low_range_gpio": 3, "low_range_a": 30.0}}, "low_range_a = 30 A exceeds"),
    ({"consumer_current_sensor": {"mode": "charge_minus_consumer", "gpio": 5}},
     "consumer_current_sensor.gpio = 5 on board 0 is already hardware.current_sensor.gpio"),
    ({"consumer_current_sensor": {"mode": "charge_minus_consumer", "board": 2}},
     "consumer_current_sensor.board = 2 but the chain has 2 boards"),
])
def test_bad_current_sensor_wiring_is_refused_naming_the_key(hardware: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config({"hardware": hardware}, "test")


def _sensors(mode: str) -> Any:
    from bmsgateway.acquisition.current import CurrentSensors

    cfg = parse_config({"hardware": {"consumer_current_sensor": {"mode": mode}}}, "test").hardware
    return CurrentSensors(cfg.current_sensor, cfg.consumer_current_sensor)


def _gpio(first_a: float, consumer_v: float) -> list[list[float]]:
    board0 = [1.0, 1.0, consumer_v, 0.0, 2.5 + 0.004 * first_a]
    return [board0, [1.0] * 5]


def test_two_sensor_modes_and_a_consumer_sensor_that_cannot_be_believed() -> None:
    both = [True, True]
    s = _sensors("charge_minus_consumer")
    r = s.read(_gpio(30.0, 2.5 + 0.004 * 12.0), both, 0.0, 1.0, 0.0)
    assert (r.charger_a, r.consumer_a, r.battery_a) == pytest.approx((30.0, 12.0, 18.0))
    for bad_v in (0.0, math.nan):  # open input (the rail no consumer explains) / not converted
        r = s.read(_gpio(30.0, bad_v), both, 0.0, 1.0, 0.0)
        assert math.isnan(r.consumer_a) and math.isnan(r.battery_a)  # unknown, never 30 - (-625)
        assert r.charger_a == pytest.approx(30.0)
    # saturated in the direction of consumption (a consumer-side short): at least the range flows
    # out of the battery, and that is reported, so the short-circuit fault trips at once
    rng = s.consumer.range_a if s.consumer is not None else math.nan
    r = s.read(_gpio(30.0, 5.0), both, 0.0, 1.0, 0.0)
    assert r.consumer_a == pytest.approx(rng, rel=0.01)
    assert r.battery_a == pytest.approx(30.0 - rng, rel=0.01) and r.battery_a < -500.0
    assert r.at_rail  # a bound for protection, not a current to count
    r = s.read(_gpio(30.0, 2.5 + 0.004 * 12.0), both, 0.0, 1.0, 0.0)
    assert not r.at_rail
    r = s.read(_gpio(700.0, 2.5 + 0.004 * 12.0), both, 0.0, 1.0, 0.0)  # the charger-side sensor saturated
    assert r.at_rail
    r = s.read(_gpio(30.0, 2.5 + 0.004 * 12.0), [True, True], 0.0, 1.0, 0.5)  # consumer zero offset
    assert r.consumer_a == pytest.approx(11.5)
    # the first sensor on the battery itself, the second on the consumers
    s = _sensors("battery_and_consumer")
    r = s.read(_gpio(-8.0, 2.5 + 0.004 * 12.0), both, 0.0, 1.0, 0.0)
    assert (r.battery_a, r.consumer_a, r.charger_a) == pytest.approx((-8.0, 12.0, 4.0))
    for bad_v in (0.0, 5.0):  # either rail: the charger figure is unknown, the battery stays known
        r = s.read(_gpio(-8.0, bad_v), both, 0.0, 1.0, 0.0)
        assert r.battery_a == pytest.approx(-8.0) and math.isnan(r.charger_a)
    # a board not trusted this cycle (ADC fault): nothing from it is used
    r = s.read(_gpio(-8.0, 2.5), [False, True], 0.0, 1.0, 0.0)
    assert math.isnan(r.battery_a)
