"""The current sensors' calibrations as the sampler applies them, read through the real driver
over the emulated chain: the zero calibration zeroes the consumer-side sensor too (the
123\\SmartBMS button zeroes both) and keeps an offset it cannot measure; the gain calibration's
result scales every later reading, and a gain that cannot be right (0, negative, NaN, inf) is
never taken."""

from __future__ import annotations

import math

import pytest

from bmsgateway.acquisition.current import CurrentSensors
from bmsgateway.acquisition.sampler import Acquisition
from bmsgateway.clock import VirtualClock
from bmsgateway.config import parse_config
from bmsgateway.hal.ltc681x import EmulatedChain, LTC681xChain
from bmsgateway.sim.pack import PackSimulator
from tests.acquisition.test_current_sensor_ranges import _read, _rig
from tests.sim.helpers import close_all

NO_DEAD_BAND = {"current_sensor": {"dead_band_a": 0.0}}
TWO_SENSORS = {
    **NO_DEAD_BAND,
    "consumer_current_sensor": {"mode": "battery_and_consumer", "dead_band_a": 0.0},
}


def test_zero_calibration_zeroes_the_consumer_sensor_and_keeps_its_offset_without_a_reading() -> None:
    acq, psim, clock, knob = _rig(TWO_SENSORS, current_offset_a=3.0)  # both Hall sensors read +3 A at 0 A
    knob.current = 0.0
    m = _read(acq, clock)
    assert m.two_current_sensors
    assert m.current_a == pytest.approx(3.0, abs=0.1) and m.consumer_current_a == pytest.approx(3.0, abs=0.1)
    acq.calibrate_zero()
    m = _read(acq, clock)
    assert m.current_a == pytest.approx(0.0, abs=0.1)
    assert m.consumer_current_a == pytest.approx(0.0, abs=0.1)  # the consumer side is zeroed with it
    psim.set_current_sensor_output("consumer", 0.0)  # open input: no consumer reading
    m = _read(acq, clock)
    assert math.isnan(m.consumer_current_a)
    acq.calibrate_zero()  # taken while the consumer sensor has no reading: its offset stays
    psim.set_current_sensor_output("consumer", None)
    m = _read(acq, clock)
    assert m.consumer_current_a == pytest.approx(0.0, abs=0.1)
    assert m.current_a == pytest.approx(0.0, abs=0.1)


def test_a_gain_calibration_scales_later_readings_and_an_impossible_gain_is_never_taken() -> None:
    acq, _psim, clock, knob = _rig(NO_DEAD_BAND)
    knob.current = -30.0
    assert _read(acq, clock).current_a == pytest.approx(-30.0, abs=0.05)
    acq.set_gain(0.98)  # a sensor that reads 2 % high
    m = _read(acq, clock)
    assert m.current_a == pytest.approx(-29.4, abs=0.05) and m.current_gain == 0.98
    acq.set_gain(1.05)
    m = _read(acq, clock)
    assert m.current_a == pytest.approx(-31.5, abs=0.05) and m.current_gain == 1.05
    for bad in (0.0, -1.05, math.nan, math.inf):
        acq.set_gain(bad)
        m = _read(acq, clock)
        assert m.current_a == pytest.approx(-31.5, abs=0.05) and m.current_gain == 1.05, bad


def _sampler(gain: float) -> tuple[Acquisition, VirtualClock]:
    """A sampler as the daemon builds it at start, with the gain restored from the state file."""
    cfg = parse_config({"simulator": {"current_noise_a": 0.0, "scenario": "constant", "constant_current_a": -30.0},
                        "hardware": {"open_wire_interval_s": 0.0, "self_test_interval_s": 0.0, **NO_DEAD_BAND}},
                       "test")
    clock = VirtualClock()
    psim = PackSimulator(cfg, clock)
    close_all(psim, clock)
    chips = [b.chip for b in cfg.pack.boards]
    emu = EmulatedChain(chips, clock, psim, [b.cells for b in cfg.pack.boards])
    return Acquisition(cfg, LTC681xChain(emu, chips), clock, gain=gain), clock


@pytest.mark.parametrize("stored", [0.0, -0.98, math.nan, math.inf])
def test_an_impossible_stored_gain_starts_at_1(stored: float) -> None:
    """A gain restored from a damaged state file must not zero, flip or poison the current."""
    m = _read(*_sampler(stored))
    assert m.current_gain == 1.0 and m.current_a == pytest.approx(-30.0, abs=0.05)


@pytest.mark.parametrize("stored", [0.98, 1.02])
def test_a_stored_gain_is_applied_from_the_first_reading(stored: float) -> None:
    m = _read(*_sampler(stored))
    assert m.current_gain == stored and m.current_a == pytest.approx(-30.0 * stored, abs=0.05)
    assert not m.two_current_sensors


def _dual(low_gpio: int) -> CurrentSensors:
    boards = [{"chip": "LTC6811", "cells": 8, "thermistors": 0}, {"chip": "LTC6811", "cells": 8, "thermistors": 2}]
    cfg = parse_config({"pack": {"boards": boards},  # board 0's GPIO1..2 free for the sensor
                        "hardware": {"current_sensor": {"low_range_gpio": low_gpio}}}, "test").hardware
    return CurrentSensors(cfg.current_sensor, cfg.consumer_current_sensor)


def _volts(current_a: float, low_gpio: int = 3) -> list[list[float]]:
    """Board 0's GPIO voltages: the high range (4 mV/A) on GPIO5, the low one (100 mV/A) on ``low_gpio``."""
    board0 = [1.0, 1.0, 1.0, 0.0, 2.5 + 0.004 * current_a]
    board0[low_gpio - 1] = 2.5 + 0.1 * current_a
    return [board0, [1.0] * 5]


TRUSTED = [True, True]


def test_the_range_starts_high_and_an_untrusted_cycle_ends_the_low_range() -> None:
    """Inside the hysteresis band (19..20 A) the range in use stays; a cycle whose board is not
    trusted breaks that: the next reading starts again from the high range, as at start."""
    s = _dual(3)
    s.read(_volts(19.5), TRUSTED, 0.0, 1.0, 0.0)
    assert not s.primary.low_active  # at start: the high range, 19.5 A is inside the band
    s.read(_volts(10.0), TRUSTED, 0.0, 1.0, 0.0)
    assert s.primary.low_active
    assert s.read(_volts(19.5), TRUSTED, 0.0, 1.0, 0.0).battery_a == pytest.approx(19.5)
    assert s.primary.low_active  # kept inside the band
    assert math.isnan(s.read(_volts(19.5), [False, True], 0.0, 1.0, 0.0).battery_a)
    assert not s.primary.low_active
    s.read(_volts(19.5), TRUSTED, 0.0, 1.0, 0.0)
    assert not s.primary.low_active


@pytest.mark.parametrize("low_gpio", [1, 2])
def test_a_low_range_on_gpio_1_or_2_is_used(low_gpio: int) -> None:
    s = _dual(low_gpio)
    assert s.read(_volts(5.0, low_gpio), TRUSTED, 0.0, 1.0, 0.0).battery_a == pytest.approx(5.0)
    assert s.primary.low_active and s.primary.range_in_use_a() == 20.0
