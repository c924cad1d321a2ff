"""spidev/gpiod backends: clear errors without the modules, correct calls with stand-ins."""

from __future__ import annotations

import sys
import types
from enum import Enum
from typing import Any

import pytest

from bmsgateway.config.hardware import GpioConfig
from bmsgateway.hal.gpiod_io import GpiodIO
from bmsgateway.hal.interfaces import DigitalIO, SpiTransport
from bmsgateway.hal.spidev_transport import SpidevTransport


def test_spidev_missing_gives_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "spidev", None)
    with pytest.raises(RuntimeError, match="spidev"):
        SpidevTransport(0, 0, 500_000)


def test_gpiod_missing_gives_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gpiod", None)
    with pytest.raises(RuntimeError, match="gpiod"):
        GpiodIO(GpioConfig())


class FakeSpiDev:
    def __init__(self) -> None:
        self.opened: tuple[int, int] | None = None
        self.mode = 0
        self.max_speed_hz = 0
        self.bits_per_word = 0
        self.calls: list[list[int]] = []

    def open(self, bus: int, device: int) -> None:
        self.opened = (bus, device)

    def xfer2(self, data: list[int]) -> list[int]:
        self.calls.append(list(data))
        return [(b + 1) & 0xFF for b in data]

    def close(self) -> None:
        self.opened = None


def test_spidev_transport_mode_3_full_duplex(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeSpiDev()
    monkeypatch.setitem(sys.modules, "spidev", types.SimpleNamespace(SpiDev=lambda: fake))
    t = SpidevTransport(0, 1, 500_000)
    assert isinstance(t, SpiTransport)
    assert fake.opened == (0, 1) and fake.mode == 3 and fake.max_speed_hz == 500_000
    assert t.transfer(b"\x00\x01\xfe") == b"\x01\x02\xff"
    t.wakeup(3)
    wake_calls = fake.calls[1:]
    assert len(wake_calls) == 3
    assert all(len(c) * 8 / 500_000 >= 300e-6 for c in wake_calls)  # CS low >= 300 µs each
    with pytest.raises(ValueError, match="speed_hz"):
        SpidevTransport(0, 0, 5_000_000)


class _Direction(Enum):
    INPUT = "in"
    OUTPUT = "out"


class _Value(Enum):
    ACTIVE = 1
    INACTIVE = 0


class FakeRequest:
    def __init__(self, config: dict[int, Any]) -> None:
        self.config = config
        self.values = {line: s["output_value"] for line, s in config.items() if s["direction"] is _Direction.OUTPUT}
        self.inputs: dict[int, _Value] = {}

    def set_value(self, line: int, value: _Value) -> None:
        assert self.config[line]["direction"] is _Direction.OUTPUT
        self.values[line] = value

    def set_values(self, values: dict[int, _Value]) -> None:
        for line, value in values.items():
            self.set_value(line, value)

    def get_value(self, line: int) -> _Value:
        return self.inputs.get(line, _Value.INACTIVE)

    def get_values(self, lines: list[int]) -> list[_Value]:
        return [self.get_value(line) for line in lines]

    def release(self) -> None:
        pass


def _fake_gpiod(monkeypatch: pytest.MonkeyPatch) -> list[FakeRequest]:
    requests: list[FakeRequest] = []

    def request_lines(path: str, consumer: str, config: dict[int, Any]) -> FakeRequest:
        req = FakeRequest(config)
        requests.append(req)
        return req

    line_mod = types.SimpleNamespace(Direction=_Direction, Value=_Value)
    gpiod_mod = types.SimpleNamespace(
        LineSettings=lambda **kw: {"output_value": None, "active_low": False, **kw},
        request_lines=request_lines,
        line=line_mod,
    )
    monkeypatch.setitem(sys.modules, "gpiod", gpiod_mod)
    monkeypatch.setitem(sys.modules, "gpiod.line", line_mod)
    return requests


def test_gpiod_io_drives_wired_outputs_and_safe_state_opens_all(monkeypatch: pytest.MonkeyPatch) -> None:
    requests = _fake_gpiod(monkeypatch)
    cfg = GpioConfig(heater=-1, charge_feedback=5, discharge_feedback=-1)
    io = GpiodIO(cfg)
    assert isinstance(io, DigitalIO)
    (req,) = requests
    assert all(v is _Value.INACTIVE for v in req.values.values())  # everything starts open
    io.set_output("charge", True)
    io.set_output("precharge", True)
    io.set_output("heater", True)  # not wired: ignored
    assert req.values[cfg.charge] is _Value.ACTIVE and io.get_output("charge")
    assert not io.get_output("heater")
    req.inputs[5] = _Value.ACTIVE
    assert io.read_feedback("charge") is True
    assert io.read_feedback("discharge") is None
    io.safe_state()
    assert all(v is _Value.INACTIVE for v in req.values.values())
    assert not io.get_output("charge")


def test_gpiod_io_reads_discrete_input_levels_and_drives_the_alarm(monkeypatch: pytest.MonkeyPatch) -> None:
    from bmsgateway.config.discrete import InputConfig

    requests = _fake_gpiod(monkeypatch)
    cfg = GpioConfig(alarm=16)
    io = GpiodIO(cfg, (InputConfig(line=25, function="remote_off"), InputConfig(line=26, active_low=True)))
    (req,) = requests
    assert req.config[25]["direction"] is _Direction.INPUT and req.config[26]["direction"] is _Direction.INPUT
    assert req.config[26]["active_low"] is False  # plain levels: polarity is applied by protection.inputs
    assert io.read_inputs() == (False, False)
    req.inputs[26] = _Value.ACTIVE
    assert io.read_inputs() == (False, True)
    io.set_output("alarm", True)
    assert req.values[16] is _Value.ACTIVE
    io.safe_state()
    assert req.values[16] is _Value.INACTIVE
    assert GpiodIO(GpioConfig()).read_inputs() == ()
