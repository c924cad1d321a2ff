"""Fault injection: parsing, scheduling, and what each fault does to the readings."""

from __future__ import annotations

import math

import pytest

from bmsgateway.hal.thermistor import voltage_to_temperature_c
from bmsgateway.sim import FaultInjector, Injection, parse_injection
from bmsgateway.sim.faults import format_injection, parse_duration_s
from tests.sim.helpers import QUIET, close_all, make_sim


@pytest.mark.parametrize(
    ("text", "kind", "target", "at_s", "value"),
    [
        ("cell_ov:5@2h", "cell_ov", 5, 7200.0, None),
        ("cell_uv:16@30m", "cell_uv", 16, 1800.0, None),
        ("over_temp:1@45s", "over_temp", 1, 45.0, None),
        ("under_temp:4@1.5h", "under_temp", 4, 5400.0, None),
        ("open_wire:0@90", "open_wire", 0, 90.0, None),
        ("pec_errors:2", "pec_errors", 2, 0.0, None),
        ("pec_errors:2=0.25@1m", "pec_errors", 2, 60.0, 0.25),
        ("dead_board:1@1d", "dead_board", 1, 86400.0, None),
        ("stuck_current@10m", "stuck_current", None, 600.0, None),
        (" welded:Charge @ 5s ", "welded", "charge", 5.0, None),
        ("no_close:main", "no_close", "main", 0.0, None),
    ],
)
def test_parse_good(text: str, kind: str, target: object, at_s: float, value: float | None) -> None:
    inj = parse_injection(text)
    assert (inj.kind, inj.target, inj.at_s, inj.value) == (kind, target, at_s, value)
    assert parse_injection(format_injection(inj)) == inj


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("", "empty"),
        ("cell_ov:5@", "missing time"),
        ("cell_ov:5@2x", "'2x'"),
        ("cell_ov:5@-3s", "'-3s'"),
        ("cell_over:5@2h", "'cell_over'"),
        ("cell_ov@2h", "needs a number"),
        ("cell_ov:five@2h", "'five'"),
        ("cell_ov:0", "counts from 1"),
        ("welded:inverter", "'inverter'"),
        ("welded", "needs a contactor name"),
        ("stuck_current:3", "takes no target"),
        ("cell_ov:3=0.5", "only pec_errors"),
        ("pec_errors:1=1.5", "within 0..1"),
        ("pec_errors:1=abc", "'abc'"),
    ],
)
def test_parse_bad_names_the_part(text: str, names: str) -> None:
    with pytest.raises(ValueError, match=names.replace(".", r"\.")):
        parse_injection(text)


def test_durations() -> None:
    assert parse_duration_s("90") == 90.0
    assert parse_duration_s("2.5m") == 150.0
    assert parse_duration_s("1H") == 3600.0


class FakeEmulator:
    """Records the chain fault knobs the injector turns."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, object]] = []

    def set_dead(self, board: int, dead: bool) -> None:
        self.calls.append(("dead", board, dead))

    def set_corruption(self, board: int, probability: float) -> None:
        self.calls.append(("corrupt", board, probability))

    def corrupt_next(self, board: int, count: int) -> None:
        self.calls.append(("next", board, count))


def test_injector_applies_due_injections_in_time_order() -> None:
    sim, clock = make_sim(**QUIET)
    emu = FakeEmulator()
    inj = FaultInjector(sim, emu)
    inj.schedule(["dead_board:2@1h", "pec_errors:1@30m", "cell_ov:3@10m", parse_injection("pec_errors:2=0.1@2h")])
    assert inj.poll(clock.now()) == []
    clock.advance(700.0)
    applied = inj.poll(clock.now())
    assert [a.kind for a in applied] == ["cell_ov"]
    assert max(sim.cell_inputs_v(0)) > sim.config.pack.limits.vmax_v
    clock.advance(3 * 3600.0)
    assert [str(a) for a in inj.poll()] == ["pec_errors:1@30m", "dead_board:2@1h", "pec_errors:2=0.1@2h"]
    assert emu.calls == [("corrupt", 0, 1.0), ("dead", 1, True), ("corrupt", 1, 0.1)]
    assert inj.pending == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cell_ov:17", "cell 17 does not exist"),
        ("over_temp:5", "thermistor 5 does not exist"),
        ("open_wire:17", "sense wire 17 does not exist"),
        ("dead_board:3", "board 3 does not exist"),
    ],
)
def test_injector_rejects_targets_outside_the_pack(text: str, message: str) -> None:
    sim, _ = make_sim()
    with pytest.raises(ValueError, match=message):
        FaultInjector(sim, FakeEmulator()).schedule([text])


def test_chain_faults_need_the_emulator() -> None:
    sim, _ = make_sim()
    with pytest.raises(ValueError, match="needs the emulated chain"):
        FaultInjector(sim, None).schedule(["dead_board:1"])
    with pytest.raises(ValueError, match="chain fault"):
        sim.inject(parse_injection("pec_errors:1"))


def test_cell_uv_reads_below_vmin_and_true_cell_is_untouched() -> None:
    sim, _ = make_sim(**QUIET)
    true_before = sim.true_cell_voltages_v
    sim.inject(parse_injection("cell_uv:10"))
    board1 = sim.cell_inputs_v(1)
    assert board1[1] < sim.config.pack.limits.vmin_v
    assert min(sim.cell_inputs_v(0)) > 3.0
    assert sim.true_cell_voltages_v[9] == pytest.approx(true_before[9])


def _thermistor_c(sim: object, board: int, k: int) -> float:
    th = sim.config.pack.thermistor  # type: ignore[attr-defined]
    v = sim.gpio_inputs_v(board)[k]  # type: ignore[attr-defined]
    return voltage_to_temperature_c(v, th.vref_v, th.pullup_ohm, th.r25_ohm, th.beta_k)


def test_over_and_under_temp_force_one_thermistor() -> None:
    sim, _ = make_sim(**QUIET)
    sim.inject(Injection(kind="over_temp", target=3))
    sim.inject(Injection(kind="under_temp", target=2))
    assert _thermistor_c(sim, 1, 0) == pytest.approx(70.0, abs=0.01)
    assert _thermistor_c(sim, 0, 1) == pytest.approx(-20.0, abs=0.01)
    assert _thermistor_c(sim, 0, 0) == pytest.approx(25.0, abs=0.01)
    assert _thermistor_c(sim, 1, 1) == pytest.approx(25.0, abs=0.01)


@pytest.mark.parametrize(("wire", "board", "local"), [(0, 0, 0), (1, 0, 1), (8, 0, 8), (9, 1, 1), (16, 1, 8)])
def test_open_wire_maps_pack_wire_to_board_input(wire: int, board: int, local: int) -> None:
    sim, _ = make_sim()
    sim.inject(parse_injection(f"open_wire:{wire}"))
    assert sim.open_wires(board) == frozenset({local})
    assert sim.open_wires(1 - board) == frozenset()


def test_stuck_current_freezes_the_hall_sensor_voltage() -> None:
    sim, clock = make_sim(scenario="constant", constant_current_a=20.0, current_noise_a=0.5)
    close_all(sim, clock)
    cs = sim.config.hardware.current_sensor
    live = {sim.gpio_inputs_v(cs.board)[cs.gpio - 1] for _ in range(5)}
    assert len(live) > 1  # noisy while healthy
    sim.inject(parse_injection("stuck_current"))
    stuck = sim.gpio_inputs_v(cs.board)[cs.gpio - 1]
    sim.set_output("allow_charge", False)
    clock.advance(10.0)
    assert sim.true_current_a == 0.0
    assert sim.gpio_inputs_v(cs.board)[cs.gpio - 1] == stuck
    assert (stuck - cs.zero_v) / cs.sensitivity_v_per_a == pytest.approx(20.0, abs=3.0)


@pytest.mark.parametrize(("kind", "pin_v"), [("thermistor_open", "vref"), ("thermistor_short", 0.0)])
def test_open_and_shorted_thermistor_drive_the_divider_pin(kind: str, pin_v: object) -> None:
    sim, _ = make_sim(**QUIET)
    sim.inject(parse_injection(f"{kind}:3"))  # thermistor 3 = board 1, GPIO1
    th = sim.config.pack.thermistor
    v = sim.gpio_inputs_v(1)[0]
    assert v == pytest.approx(th.vref_v if pin_v == "vref" else 0.0, abs=0.002)
    assert math.isnan(_thermistor_c(sim, 1, 0))  # the host reads "no temperature", not a value
    assert _thermistor_c(sim, 1, 1) == pytest.approx(25.0, abs=0.01)  # its neighbour is untouched
    sim.clear_faults()
    assert _thermistor_c(sim, 1, 0) == pytest.approx(25.0, abs=0.01)


@pytest.mark.parametrize("reading_a", [0.0, -2.5, 150.0])
def test_current_stuck_freezes_the_output_at_the_reading_for_a_amperes(reading_a: float) -> None:
    sim, clock = make_sim(scenario="constant", constant_current_a=-80.0, current_noise_a=0.5)
    close_all(sim, clock)
    cs = sim.config.hardware.current_sensor
    sim.inject(parse_injection(f"current_stuck:{reading_a:g}@1m"))
    outs = set()
    for _ in range(5):
        clock.advance(0.1)
        outs.add(sim.gpio_inputs_v(cs.board)[cs.gpio - 1])
    (v,) = outs  # frozen: the same voltage every time, whatever flows
    assert sim.true_current_a == pytest.approx(-80.0)
    assert (v - cs.zero_v) / cs.sensitivity_v_per_a == pytest.approx(reading_a, abs=1e-9)


def test_bus_stuck_makes_the_bus_sensor_read_a_fixed_voltage() -> None:
    sim, clock = make_sim(**QUIET)
    assert sim.read_bus_voltage_v() == 0.0
    sim.inject(parse_injection("bus_stuck:60"))
    clock.advance(1.0)
    assert sim.read_bus_voltage_v() == 60.0
    sim.clear_faults()
    assert sim.read_bus_voltage_v() == 0.0


@pytest.mark.parametrize(("text", "message"), [
    ("current_stuck", "needs a number"),
    ("current_stuck:abc", "must be a number"),
    ("current_stuck:nan", "must be finite"),
    ("thermistor_open:0", "counts from 1"),
])
def test_new_injections_reject_bad_targets(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_injection(text)


def test_thermistor_fault_on_a_missing_thermistor_is_rejected() -> None:
    sim, _ = make_sim()
    with pytest.raises(ValueError, match="thermistor 9 does not exist"):
        sim.check_injection(parse_injection("thermistor_short:9"))
