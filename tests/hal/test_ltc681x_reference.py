"""What real chips do to a careless driver (issue 15), and that the driver does what the reference does.

Each emulator test drives the chain the careless way and shows wrong or missing values, so it
can fail; the matching driver test shows the fixed procedure getting the right values.
"""

from __future__ import annotations

import math

import pytest

from bmsgateway.clock import VirtualClock
from bmsgateway.hal.ltc681x import ConfigRegisters, EmulatedChain, LTC681xChain, StaticAfe, detect_open_wires
from bmsgateway.hal.ltc681x.commands import T_IDLE_S
from bmsgateway.hal.ltc681x.driver import ChainError
from bmsgateway.hal.ltc681x.emulator import WATCHDOG_S
from bmsgateway.hal.ltc681x.registers import overvoltage_code, undervoltage_code
from tests.hal.ltc681x_helpers import board_voltages, make_rig


def _aux_after_a_late_thread(wake: bool) -> tuple[list[list[float]], int]:
    rig = make_rig(["LTC6813", "LTC6813"])
    rig.chain.wake_before_burst = wake
    rig.chain.clear_aux()
    rig.clock.advance(T_IDLE_S + 0.001)  # the worker thread was 5.3 ms late between two bursts
    rig.clock.advance(rig.chain.start_aux_conversion() + 0.001)
    return rig.chain.read_aux_voltages().values, rig.emu.idle_frames_lost


def test_skipping_the_idle_wake_loses_the_conversion_command() -> None:
    values, lost = _aux_after_a_late_thread(wake=False)  # the old driver: one wake per cycle
    assert lost >= 1  # the ADAX frame only woke the isoSPI port (and so may a read)
    assert all(math.isnan(v) for board in values for v in board)  # nothing was converted


def test_the_driver_wakes_before_every_burst() -> None:
    values, lost = _aux_after_a_late_thread(wake=True)
    assert lost == 0
    assert not any(math.isnan(v) for board in values for v in board)


def test_skipping_clrcell_reads_last_cycles_values_as_if_fresh() -> None:
    rig = make_rig(["LTC6811"])
    first = rig.cells().values[0]
    rig.afe.cells_v[0] = [2.5] * 12  # the cells move ...
    rig.emu.set_drop(0, 1.0)  # ... but every conversion command is lost on the way
    rig.settle(rig.chain.start_cell_conversion())  # the careless driver: no CLRCELL
    stale = rig.chain.read_cell_voltages()
    assert stale.ok == [True] and stale.values[0] == first  # old data, good PEC: looks fresh


def test_with_clrcell_a_lost_conversion_reads_nan() -> None:
    rig = make_rig(["LTC6811"])
    rig.cells()
    rig.emu.set_drop(0, 1.0)
    read = rig.cells()  # CLRCELL, ADCV (lost), poll, read
    assert all(math.isnan(v) for v in read.values[0])
    assert rig.emu.dropped_conversions == 1


@pytest.mark.parametrize("wire", [0, 5, 12])
def test_two_fast_adow_per_polarity_miss_an_open_wire(wire: int) -> None:
    rig = make_rig(["LTC6811"])
    rig.afe.open[0] = frozenset({wire})
    pu, pd = rig.open_wire_readings(repetitions=2)  # the old procedure: 2 x ADOW at 7 kHz
    assert detect_open_wires(pu, pd, [12]) == [[]]


@pytest.mark.parametrize("wire", [0, 5, 12])
def test_the_reference_procedure_finds_the_open_wire(wire: int) -> None:
    rig = make_rig(["LTC6811"])
    rig.afe.open[0] = frozenset({wire})
    pu, pd = rig.open_wire_readings(repetitions=5)  # clear, 5 x ADOW per polarity, polled
    assert detect_open_wires(pu, pd, [12]) == [[wire]]


def test_watchdog_reset_is_detected_by_reading_the_configuration_back() -> None:
    rig = make_rig(["LTC6811", "LTC6811"])
    cfg = ConfigRegisters(refon=True, vov_code=overvoltage_code(3.75), vuv_code=undervoltage_code(2.5), dcc=0b101)
    rig.chain.write_config([cfg, cfg])
    assert rig.chain.config_mismatches().values == [False, False]
    rig.clock.advance(WATCHDOG_S + 0.1)  # the host went silent: the chips reset and sleep
    rig.chain.wakeup()
    assert rig.chain.config_mismatches().values == [True, True]
    rig.chain.write_config([cfg, cfg])
    assert rig.chain.config_mismatches().values == [False, False]
    assert rig.emu.discharge_mask(0) == 0b101


def test_chip_comparators_flag_cells_including_ltc6813_cells_13_to_18() -> None:
    rig = make_rig(["LTC6813"])
    rig.afe.cells_v[0] = [3.3] * 18
    rig.afe.cells_v[0][2] = 3.9  # cell 3 over
    rig.afe.cells_v[0][15] = 3.9  # cell 16 over
    rig.afe.cells_v[0][16] = 2.0  # cell 17 under
    cfg = ConfigRegisters(refon=True, vov_code=overvoltage_code(3.75), vuv_code=undervoltage_code(2.5))
    rig.chain.write_config([cfg])
    rig.chain.clear_aux()
    rig.cells()
    rig.chain.clear_status()
    rig.settle(rig.chain.start_status_conversion())
    flags = rig.chain.read_status().values[0].flags
    assert flags.ov_mask == 1 << 2 and flags.uv_mask == 0
    rig.settle(rig.chain.start_aux_conversion())
    rig.chain.read_aux_voltages()
    assert rig.chain.high_cell_flags[0] == (1 << 16, 1 << 15)


def test_self_tests_find_a_broken_filter_and_a_mux_failure() -> None:
    rig = make_rig(["LTC6811", "LTC6813"])
    rig.settle(rig.chain.start_self_test(cells=True))
    assert rig.chain.self_test_failures(cells=True).values == [False, False]
    rig.emu.set_self_test_fail(1)
    rig.settle(rig.chain.start_self_test(cells=True))
    assert rig.chain.self_test_failures(cells=True).values == [False, True]
    rig.settle(rig.chain.start_self_test(cells=False))
    assert rig.chain.self_test_failures(cells=False).values == [False, True]
    rig.emu.set_muxfail(0)
    rig.settle(rig.chain.start_mux_diagnostic())
    assert [r.flags.muxfail for r in rig.chain.read_status().values] == [True, False]


def test_stalled_adc_never_reports_done() -> None:
    rig = make_rig(["LTC6811", "LTC6811"])
    rig.emu.set_stalled(1)
    rig.chain.clear_cells()
    assert not rig.chain.wait_done(rig.clock.advance, rig.chain.start_cell_conversion(), timeout_s=0.05)
    read = rig.chain.read_cell_voltages()
    assert not any(math.isnan(v) for v in read.values[0])
    assert all(math.isnan(v) for v in read.values[1])  # the stalled board: still cleared


def test_extra_board_and_chip_type_mismatch_are_found() -> None:
    clock = VirtualClock()
    afe = StaticAfe([board_voltages(0, 12)])
    emu = EmulatedChain(["LTC6811"], clock, afe, [12], extra_boards=1)
    chain = LTC681xChain(emu, ["LTC6811"])
    chain.wakeup()
    assert chain.probe_beyond()
    # configured LTC6813, wired LTC6811
    emu2 = EmulatedChain(["LTC6811"], clock, StaticAfe([board_voltages(0, 12)]), [12])
    chain2 = LTC681xChain(emu2, ["LTC6813"])
    chain2.wakeup()
    assert not chain2.probe_beyond()
    assert chain2.chip_type_mismatches() == ["board 1: configured LTC6813 but it has no CFGB (an LTC6811?)"]


def test_no_answer_from_board_1_is_a_clear_start_up_error() -> None:
    rig = make_rig(["LTC6811", "LTC6811"])
    rig.emu.set_dead(0, True)
    with pytest.raises(ChainError, match="no answer from board 1: check SPI mode/speed and wiring"):
        rig.chain.check_answers()
    rig.emu.set_dead(0, False)
    rig.emu.set_dead(1, True)
    with pytest.raises(ChainError, match="no answer from board 2"):
        rig.chain.check_answers()
