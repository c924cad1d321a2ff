"""The sampler against single chip faults the emulator can inject precisely: one failed register
read (``corrupt_replies``), a lost configuration write, a lost ADSTAT, PLADC stuck busy, failing
self tests. A failed read fails that board for the cycle and is never taken as a result."""

from __future__ import annotations

import asyncio
import math
import threading
from typing import Any

from bmsgateway.acquisition.sampler import Acquisition
from bmsgateway.clock import VirtualClock
from bmsgateway.config import parse_config
from bmsgateway.hal.ltc681x import EmulatedChain, LTC681xChain
from bmsgateway.hal.ltc681x.emulator import StaticAfe
from bmsgateway.sim.faults import Injection
from bmsgateway.sim.pack import PackSimulator
from bmsgateway.state import Measurement
from tests.sim.helpers import close_all

PERIOD_S = 0.1


def _rig(cells_wired: list[int] | None = None, offload: bool = False, constant_current_a: float = -30.0,
         **hardware: Any) -> tuple[Acquisition, EmulatedChain, PackSimulator, VirtualClock]:
    cfg = parse_config(
        {
            "simulator": {"scenario": "constant", "constant_current_a": constant_current_a},
            "hardware": {"stale_conversions": 20, "open_wire_interval_s": 0.0, **hardware},
        },
        "test",
    )
    clock = VirtualClock()
    psim = PackSimulator(cfg, clock)
    close_all(psim, clock)
    chips = [b.chip for b in cfg.pack.boards]
    emu = EmulatedChain(chips, clock, psim, cells_wired or [b.cells for b in cfg.pack.boards])
    chain = LTC681xChain(emu, chips)
    acq = Acquisition(cfg, chain, clock, offload=True) if offload else Acquisition(cfg, chain, clock)
    return acq, emu, psim, clock


def _cycles(acq: Acquisition, clock: VirtualClock, n: int, balancing: list[bool] | None = None
            ) -> list[Measurement]:
    async def run() -> list[Measurement]:
        out = []
        for _ in range(n):
            out.append(await acq.acquire(balancing or ()))
            clock.advance(PERIOD_S)
        return out

    return asyncio.run(run())


def test_a_failed_status_read_fails_the_board_for_that_cycle_only() -> None:
    acq, emu, _sim, clock = _rig(status_interval_s=1.0)
    first = _cycles(acq, clock, 1)[0]
    assert first.boards[1].ok and first.pack_voltage_measured_v > 40.0
    assert first.pack_voltage_measured_age_s < 0.05  # read this cycle
    _cycles(acq, clock, 9)  # the next status read is due 1 s after the first
    emu.corrupt_replies(1, "RDSTATA", 3, after="ADSTAT")  # the read and both retries
    m = _cycles(acq, clock, 1)[0]
    assert not m.boards[1].ok and m.boards[1].failed_cycles == 1
    assert m.boards[0].ok
    assert math.isnan(m.boards[1].die_temperature_c) and math.isnan(m.boards[1].sum_of_cells_v)
    assert math.isnan(m.pack_voltage_measured_v)  # never the sum of last second's value
    assert m.pack_voltage_measured_age_s >= 0.9  # and its age keeps growing
    assert not math.isnan(m.boards[0].sum_of_cells_v)
    after = _cycles(acq, clock, 1)[0]  # no status read this cycle: the board answers again
    assert after.boards[1].ok and after.boards[1].failed_cycles == 0


def test_a_failed_status_b_read_fails_the_board_too() -> None:
    acq, emu, _sim, clock = _rig(status_interval_s=1.0)
    emu.corrupt_replies(0, "RDSTATB", 3, after="ADSTAT")
    m = _cycles(acq, clock, 1)[0]
    assert not m.boards[0].ok and m.boards[1].ok
    assert math.isnan(m.boards[0].die_temperature_c)


def test_an_open_wire_check_whose_read_failed_changes_no_result() -> None:
    """An open wire is found; a later check whose pull-up read fails its PEC on that board fails
    the board for the cycle and keeps the open wire reported (the failed read shows none)."""
    acq, emu, psim, clock = _rig(open_wire_interval_s=0.5)
    psim.inject(Injection("open_wire", 2))  # top of cell 2: board 1, cells 2 and 3 suspect
    m = _cycles(acq, clock, 1)[0]
    assert m.open_wire_cells == (2,) and m.boards[0].open_wires == (2,)
    assert math.isnan(m.cell_voltages_v[1]) and math.isnan(m.cell_voltages_v[2])
    # the board's other cells are still read fresh
    assert all(v == v and m.cell_age_s[i] == 0.0 for i, v in enumerate(m.cell_voltages_v) if i not in (1, 2))
    emu.corrupt_replies(0, "RDCV", 3, after="ADOW")  # group A of the next check, 3 attempts
    ms = _cycles(acq, clock, 6)  # the next check runs 0.5 s after the first
    checked = [i for i, x in enumerate(ms) if not x.boards[0].ok]
    assert len(checked) == 1, [x.boards[0].ok for x in ms]
    assert all(x.open_wire_cells == (2,) for x in ms)
    assert ms[checked[0]].boards[0].failed_cycles == 1 and ms[checked[0]].boards[1].ok
    assert all(math.isnan(x.cell_voltages_v[1]) for x in ms)  # still suspect, never fresh


def test_zero_calibration_takes_the_reading_and_ignores_a_missing_one() -> None:
    acq, emu, _sim, clock = _rig()
    _cycles(acq, clock, 1)
    raw = acq.raw_current_a
    assert raw == raw and abs(raw + 30.0) < 2.0
    assert acq.calibrate_zero() == raw
    assert abs(_cycles(acq, clock, 1)[0].current_a) < 0.5  # measured against the new zero
    emu.set_dead(0, True)
    _cycles(acq, clock, 1)
    assert math.isnan(acq.raw_current_a)
    assert acq.calibrate_zero() == raw  # no reading: the offset stays


def test_a_configuration_write_a_chip_missed_is_counted_and_written_again() -> None:
    """The read-back (with the status) finds the chip holding an old DCC: it is counted as a
    configuration reset and written again, so the cell balances in this very cycle."""
    acq, emu, _sim, clock = _rig(status_interval_s=0.05)
    _cycles(acq, clock, 2)
    balancing = [False] * 16
    balancing[10] = True  # board 2, its third cell
    emu.lose_writes(1, 1)
    m = _cycles(acq, clock, 1, balancing)[0]
    assert [b.config_resets for b in m.boards] == [0, 1]
    assert emu.discharge_mask(1) == 0b100 and emu.discharge_mask(0) == 0
    again = _cycles(acq, clock, 3, balancing)[-1]
    assert [b.config_resets for b in again.boards] == [0, 1]  # counted once, not every cycle


def test_a_lost_status_conversion_reads_cleared_never_last_seconds_status() -> None:
    acq, emu, _sim, clock = _rig(status_interval_s=1.0)
    first = _cycles(acq, clock, 1)[0]
    assert first.boards[1].die_temperature_c == first.boards[1].die_temperature_c
    _cycles(acq, clock, 9)
    emu.set_drop(1, 1.0, only="ADSTAT")
    m = _cycles(acq, clock, 1)[0]
    assert m.boards[1].adc_fault == "not_converted" and not m.boards[0].adc_fault
    assert math.isnan(m.boards[1].die_temperature_c) and math.isnan(m.pack_voltage_measured_v)
    assert all(math.isnan(v) for v in m.cell_voltages_v[8:])  # the board's ADC is suspect
    assert not any(math.isnan(v) for v in m.cell_voltages_v[:8])


def test_pladc_stuck_busy_makes_every_board_suspect() -> None:
    """Conversions end but PLADC never says so: no board can be told apart (none reads cleared),
    so every board's readings of the cycle are suspect, none is fresh."""
    acq, emu, _sim, clock = _rig()
    assert not any(b.adc_fault for b in _cycles(acq, clock, 2)[-1].boards)
    emu.set_pladc_stuck(0)
    m = _cycles(acq, clock, 1)[0]
    assert [b.adc_fault for b in m.boards] == ["conversion_timeout"] * 2
    assert all(math.isnan(v) for v in m.cell_voltages_v) and math.isnan(m.current_a)
    emu.set_pladc_stuck(0, False)
    assert not any(b.adc_fault for b in _cycles(acq, clock, 1)[0].boards)


def test_a_failing_self_test_or_mux_check_faults_that_board_until_one_passes() -> None:
    acq, emu, _sim, clock = _rig(self_test_interval_s=0.5)
    emu.set_self_test_fail(1)
    emu.set_muxfail(0)
    ms = _cycles(acq, clock, 3)
    assert [b.adc_fault for b in ms[-1].boards] == ["muxfail", "self_test"]
    assert all(math.isnan(v) for v in ms[-1].cell_voltages_v)
    emu.set_self_test_fail(1, False)
    emu.set_muxfail(0, False)
    ms = _cycles(acq, clock, 6)  # the next self test (0.5 s on) passes
    assert [b.adc_fault for b in ms[-1].boards] == ["", ""]
    assert any(b.adc_fault for b in ms[0].boards)  # sticky until then


def test_a_wiring_fault_is_reported_once_however_many_cycles_run() -> None:
    acq, _emu, _sim, clock = _rig(cells_wired=[8, 6], chain_probe_interval_s=0.3)
    ms = _cycles(acq, clock, 8)
    for m in ms:
        assert [f for f in m.chain_faults if "fewer cells wired" in f] == [
            "board 2: configured cells [7, 8] read 0 V: fewer cells wired than the configured 8?"
        ], m.chain_faults


def _transfer_threads(offload: bool) -> set[str]:
    acq, emu, _sim, clock = _rig(offload=offload)
    threads: set[str] = set()
    transfer = emu.transfer

    def spy(tx: bytes) -> bytes:
        threads.add(threading.current_thread().name)
        return transfer(tx)

    emu.transfer = spy  # type: ignore[method-assign]
    m = _cycles(acq, clock, 1)[0]
    assert all(b.ok for b in m.boards) and m.cell_voltages_v[0] > 3.0
    return threads


def test_offload_runs_the_chain_transfers_in_a_worker_thread_and_simulation_inline() -> None:
    """On hardware (offload) the blocking SPI transfers must not block the event loop's thread;
    by default (simulation) they run inline, in the loop's own thread."""
    main = threading.main_thread().name
    offloaded = _transfer_threads(True)
    assert offloaded and main not in offloaded
    assert _transfer_threads(False) == {main}


def test_a_board_whose_adc_is_suspect_gets_no_wiring_verdict() -> None:
    """Board 2 has 6 cells wired of 8 configured, but its aux conversions are lost: while its
    ADC is suspect its readings say nothing about the wiring; once it converts, they do."""
    acq, emu, _sim, clock = _rig(cells_wired=[8, 6], chain_probe_interval_s=0.3)
    emu.set_drop(1, 1.0, only="ADAX")
    m = _cycles(acq, clock, 1)[0]
    assert m.boards[1].adc_fault == "not_converted"
    assert not any("fewer cells wired" in f for f in m.chain_faults)
    emu.set_drop(1, 0.0)
    ms = _cycles(acq, clock, 4)
    assert any("fewer cells wired" in f and "board 2" in f for f in ms[-1].chain_faults)


def test_more_cells_wired_than_configured_is_a_chain_fault() -> None:
    cfg = parse_config({"pack": {"boards": [{"cells": 8}, {"cells": 6}]}}, "test")
    clock = VirtualClock()
    afe = StaticAfe([[3.3] * 12, [3.3] * 8 + [0.0] * 4])  # board 2: 8 cells on its inputs
    emu = EmulatedChain(["LTC6811", "LTC6811"], clock, afe, [8, 8])
    acq = Acquisition(cfg, LTC681xChain(emu, ["LTC6811", "LTC6811"]), clock)
    m = _cycles(acq, clock, 1)[0]
    assert [f for f in m.chain_faults if "more cells wired" in f] == [
        "board 2: channels [7, 8] above the configured 6 cells read a cell voltage: more cells wired "
        "than configured"
    ]
    assert not any("board 1" in f for f in m.chain_faults)


def test_a_status_interval_of_0_reads_no_status() -> None:
    acq, _emu, _sim, clock = _rig(status_interval_s=0.0)
    m = _cycles(acq, clock, 3)[-1]
    assert all(math.isnan(b.die_temperature_c) and math.isnan(b.sum_of_cells_v) for b in m.boards)
    assert math.isnan(m.pack_voltage_measured_v) and all(b.ok for b in m.boards)
    assert m.chip_uv_cells == () and m.chip_ov_cells == ()  # no status read: no chip flags


def test_at_rest_identical_readings_are_no_frozen_adc() -> None:
    """Without current the cells do not move and every conversion may read the same codes (here
    exactly: fixed inputs, the current sensor at its zero): that is no frozen ADC, only identical
    readings while current flows are."""
    cfg = parse_config({"hardware": {"stale_conversions": 5, "open_wire_interval_s": 0.0}}, "test")
    clock = VirtualClock()
    gpios = [1.5, 1.5, 1.5, 1.5, 2.5]  # thermistors ~ 25 degC, GPIO5 the current sensor at 0 A
    afe = StaticAfe([[3.3] * 12, [3.3] * 12], [gpios, gpios])
    emu = EmulatedChain(["LTC6811", "LTC6811"], clock, afe, [8, 8])
    acq = Acquisition(cfg, LTC681xChain(emu, ["LTC6811", "LTC6811"]), clock)
    ms = _cycles(acq, clock, 10)
    assert ms[-1].current_a == 0.0
    assert all(not b.adc_fault for m in ms for b in m.boards)
    assert not any(math.isnan(v) for v in ms[-1].cell_voltages_v)


def test_a_silent_board_is_a_communication_problem_not_an_adc_fault() -> None:
    acq, emu, _sim, clock = _rig()
    _cycles(acq, clock, 2)
    emu.set_dead(1, True)
    m = _cycles(acq, clock, 1)[0]
    assert not m.boards[1].ok and m.boards[1].adc_fault == ""


def test_a_reference_out_of_its_window_is_an_adc_fault_of_that_board() -> None:
    acq, emu, _sim, clock = _rig()
    _cycles(acq, clock, 1)
    emu.set_ref2(0, 3.05)  # REF2 must be 3.0 V +- 0.5 %
    m = _cycles(acq, clock, 1)[0]
    assert [b.adc_fault for b in m.boards] == ["reference", ""]
    assert all(math.isnan(v) for v in m.cell_voltages_v[:8]) and math.isnan(m.temperatures_c[0])
    emu.set_ref2(0)
    assert not any(b.adc_fault for b in _cycles(acq, clock, 1)[0].boards)


def test_a_current_inside_the_dead_band_reads_0_a() -> None:
    acq, _emu, _sim, clock = _rig(constant_current_a=0.3, current_sensor={"dead_band_a": 0.5})
    m = _cycles(acq, clock, 2)[-1]
    assert m.current_a == 0.0 and m.current_age_s == 0.0
    acq2, _emu2, _sim2, clock2 = _rig(constant_current_a=2.0, current_sensor={"dead_band_a": 0.5})
    assert abs(_cycles(acq2, clock2, 2)[-1].current_a - 2.0) < 0.3


def test_a_failing_cell_adc_self_test_alone_faults_the_board() -> None:
    acq, emu, _sim, clock = _rig()
    emu.set_self_test_fail(0, only="CVST")
    m = _cycles(acq, clock, 1)[0]
    assert [b.adc_fault for b in m.boards] == ["self_test", ""]


def test_the_ltc6813_flags_of_cells_13_to_18_reach_the_measurement() -> None:
    """An LTC6813 keeps the over/under-voltage flags of C13..C18 in aux group D: a cell there
    above VOV is reported as a chip over-voltage cell like any other."""
    cfg = parse_config({"pack": {"boards": [{"chip": "LTC6813", "cells": 16, "thermistors": 2}]}}, "test")
    clock = VirtualClock()
    cells = [3.3, 3.3, 4.5] + [3.3] * 11 + [4.5, 1.0] + [0.0, 0.0]
    afe = StaticAfe([cells], [[1.5, 1.5, 2.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5]])
    emu = EmulatedChain(["LTC6813"], clock, afe, [16])
    acq = Acquisition(cfg, LTC681xChain(emu, ["LTC6813"]), clock)
    m = _cycles(acq, clock, 2)[-1]
    assert m.chip_ov_cells == (2, 14) and m.chip_uv_cells == (15,)  # C3 from status B, C15/C16 from aux D


def test_a_failing_aux_adc_self_test_alone_faults_the_board() -> None:
    acq, emu, _sim, clock = _rig()
    emu.set_self_test_fail(1, only="AXST")
    m = _cycles(acq, clock, 1)[0]
    assert [b.adc_fault for b in m.boards] == ["", "self_test"]


def test_a_self_test_interval_of_0_runs_no_self_test() -> None:
    acq, emu, _sim, clock = _rig(self_test_interval_s=0.0)
    emu.set_self_test_fail(0)
    emu.set_muxfail(1)
    m = _cycles(acq, clock, 2)[-1]
    assert [b.adc_fault for b in m.boards] == ["", ""]


def test_a_probe_interval_of_0_probes_the_chain_at_start() -> None:
    acq, _emu, _sim, clock = _rig(cells_wired=[8, 6], chain_probe_interval_s=0.0)
    ms = _cycles(acq, clock, 3)
    assert all(len([f for f in m.chain_faults if "fewer cells wired" in f]) == 1 for m in ms)


def test_a_failed_aux_read_fails_the_board() -> None:
    acq, emu, _sim, clock = _rig()
    _cycles(acq, clock, 1)
    emu.corrupt_replies(1, "RDAUX", 3, after="ADAX")  # aux group A of board 2, all 3 attempts
    m = _cycles(acq, clock, 1)[0]
    assert not m.boards[1].ok and m.boards[1].failed_cycles == 1 and m.boards[0].ok
    assert m.boards[1].adc_fault == ""  # a communication problem, not an ADC fault
    b1 = [i for i, b in enumerate(m.temperature_board) if b == 1]
    assert all(math.isnan(m.temperatures_c[i]) for i in b1)


def _frozen_rig(stale: int) -> tuple[Acquisition, EmulatedChain, StaticAfe, VirtualClock]:
    """Fixed inputs; board 1 carries the current sensor (GPIO5), so freezing board 2 leaves the
    current reading live."""
    cfg = parse_config({"hardware": {"stale_conversions": stale, "open_wire_interval_s": 0.0}}, "test")
    clock = VirtualClock()
    gpios = [1.5, 1.5, 1.5, 1.5, 2.5]
    afe = StaticAfe([[3.3] * 12, [3.3] * 12], [list(gpios), list(gpios)])
    emu = EmulatedChain(["LTC6811", "LTC6811"], clock, afe, [8, 8])
    return Acquisition(cfg, LTC681xChain(emu, ["LTC6811", "LTC6811"]), clock), emu, afe, clock


def _set_current(afe: StaticAfe, amps: float) -> None:
    afe.gpios_v[0][4] = 2.5 + 0.004 * amps  # 4 mV/A around 2.5 V


def test_a_frozen_adc_counts_identical_conversions_only_while_current_flows() -> None:
    """Identical readings count towards 'frozen' while current flows; a pause at rest holds the
    count (it neither adds nor starts over); a cycle the board did not convert starts over."""
    acq, emu, afe, clock = _frozen_rig(stale=4)
    _set_current(afe, 20.0)
    _cycles(acq, clock, 1)
    emu.set_frozen(1)
    faults = [m.boards[1].adc_fault for m in _cycles(acq, clock, 3)]  # 3 repeats
    _set_current(afe, 0.0)
    faults += [m.boards[1].adc_fault for m in _cycles(acq, clock, 3)]  # rest: held at 3
    _set_current(afe, 20.0)
    faults += [m.boards[1].adc_fault for m in _cycles(acq, clock, 3)]  # the 4th repeat: frozen
    assert faults == ["", "", "", "", "", "", "frozen", "frozen", "frozen"]
    emu.set_drop(1, 1.0, only="ADCV")
    gap = _cycles(acq, clock, 1)[0]
    assert gap.boards[1].adc_fault == "not_converted"
    emu.set_drop(1, 0.0)
    after = [m.boards[1].adc_fault for m in _cycles(acq, clock, 6)]
    assert after == ["", "", "", "", "frozen", "frozen"]


def test_a_reading_that_moves_starts_the_frozen_count_over() -> None:
    acq, _emu, afe, clock = _frozen_rig(stale=4)
    _set_current(afe, 20.0)
    faults = [m.boards[1].adc_fault for m in _cycles(acq, clock, 4)]  # 3 repeats
    afe.cells_v[1][2] = 3.31  # board 2's third cell moves: the ADC is alive
    faults += [m.boards[1].adc_fault for m in _cycles(acq, clock, 5)]
    assert faults == ["", "", "", "", "", "", "", "", "frozen"]


def test_a_chip_in_thermal_shutdown_or_off_its_supplies_is_an_adc_fault() -> None:
    """ADSTAT's verdicts: THSD set, or VA outside 4.5..5.5 V, or VD outside 2.7..3.6 V."""
    acq, emu, _sim, clock = _rig(status_interval_s=0.05)
    assert [b.adc_fault for b in _cycles(acq, clock, 1)[0].boards] == ["", ""]
    emu.set_supplies(0, va_v=4.3)
    emu.set_supplies(1, vd_v=3.8)
    m = _cycles(acq, clock, 2)[-1]
    assert [b.adc_fault for b in m.boards] == ["supply", "supply"]
    assert all(math.isnan(v) for v in m.cell_voltages_v)
    emu.set_supplies(0)
    emu.set_supplies(1)
    assert [b.adc_fault for b in _cycles(acq, clock, 2)[-1].boards] == ["", ""]
    cfg = parse_config({"hardware": {"open_wire_interval_s": 0.0}}, "test")
    clock = VirtualClock()
    afe = StaticAfe([[3.3] * 12, [3.3] * 12], [[1.5, 1.5, 1.5, 1.5, 2.5]] * 2, die_temperature_c=160.0)
    emu = EmulatedChain(["LTC6811", "LTC6811"], clock, afe, [8, 8])
    acq = Acquisition(cfg, LTC681xChain(emu, ["LTC6811", "LTC6811"]), clock)
    m = _cycles(acq, clock, 1)[0]
    assert [b.adc_fault for b in m.boards] == ["thermal_shutdown", "thermal_shutdown"]


def test_a_board_whose_first_read_fails_has_one_failed_cycle() -> None:
    acq, emu, _sim, clock = _rig()
    emu.corrupt_replies(1, "RDCV", 3, after="ADCV")
    m = _cycles(acq, clock, 1)[0]
    assert [b.failed_cycles for b in m.boards] == [0, 1]


def test_the_bleed_pauses_while_the_cells_are_measured() -> None:
    """DCP = 0: the chip switches its discharge off during the cell conversion, so the reading is
    taken without the balance current; the bleed resumes afterwards."""
    cfg = parse_config({"hardware": {"open_wire_interval_s": 0.0, "self_test_interval_s": 0.0}}, "test")
    clock = VirtualClock()
    afe = StaticAfe([[3.3] * 12, [3.3] * 12], [[1.5, 1.5, 1.5, 1.5, 2.5]] * 2)
    emu = EmulatedChain(["LTC6811", "LTC6811"], clock, afe, [8, 8])
    acq = Acquisition(cfg, LTC681xChain(emu, ["LTC6811", "LTC6811"]), clock)
    balancing = [False] * 16
    balancing[2] = True
    _cycles(acq, clock, 1, balancing)
    afe.discharge_log.clear()
    _cycles(acq, clock, 1, balancing)
    assert afe.discharge_log == [(0, 0), (0, 0b100)]
