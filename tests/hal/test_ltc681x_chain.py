"""Driver against the byte-level emulated chain: what acquisition will see from a real chain."""

from __future__ import annotations

import math

import pytest

from bmsgateway.hal.ltc681x import AdcMode, ConfigRegisters
from bmsgateway.hal.ltc681x.commands import RDCV, T_REFUP_S, WRCFGA, adcv_code, frame
from bmsgateway.hal.ltc681x.pec import append_pec
from bmsgateway.hal.ltc681x.registers import encode_cfga
from tests.hal.ltc681x_helpers import board_voltages, make_rig

CHAINS = {
    "6811x3": (["LTC6811"] * 3, [12, 12, 10]),
    "6813x2": (["LTC6813"] * 2, [18, 16]),
    "mixed": (["LTC6811", "LTC6813", "LTC6811"], [12, 17, 9]),
}


@pytest.mark.parametrize("name", sorted(CHAINS))
def test_reads_each_boards_voltages_quantised(name: str) -> None:
    chips, used = CHAINS[name]
    rig = make_rig(chips, used)
    read = rig.cells()
    assert read.ok == [True] * len(chips)
    for b, n in enumerate(used):
        assert len(read.values[b]) == rig.chain.channels(b)
        expected = [round(v, 4) for v in board_voltages(b, n)]
        assert read.values[b][:n] == pytest.approx(expected, abs=1e-9)
        assert read.values[b][n:] == [0.0] * (rig.chain.channels(b) - n)  # tied to the top cell
    assert rig.chain.pec_errors == [0] * len(chips)


def test_channel_counts_and_conversion_time() -> None:
    rig = make_rig(["LTC6811", "LTC6813"])
    assert [rig.chain.channels(b) for b in range(2)] == [12, 18]
    only_6811 = make_rig(["LTC6811"])
    # REFON = 0: the reference is off before every conversion, so each wait includes tREFUP.
    assert only_6811.chain.start_cell_conversion(AdcMode.NORMAL) == pytest.approx(2.335e-3 * 1.02 + T_REFUP_S)
    only_6811.chain.write_config([ConfigRegisters(refon=True)])
    assert only_6811.chain.start_cell_conversion(AdcMode.NORMAL) == pytest.approx(2.335e-3 * 1.02 + T_REFUP_S)
    # With REFON = 1 the reference stays up after the first conversion: the nominal table time.
    assert only_6811.chain.start_cell_conversion(AdcMode.FAST) == pytest.approx(1.113e-3 * 1.02)
    # The chain waits for its slowest chip.
    assert rig.chain.start_cell_conversion() > only_6811.chain.start_cell_conversion()


def test_results_appear_only_after_the_conversion_time() -> None:
    rig = make_rig(["LTC6811", "LTC6811"])
    t_s = rig.chain.start_cell_conversion()
    early = rig.chain.read_cell_voltages()
    assert not rig.chain.adc_done()
    assert all(math.isnan(v) for v in early.values[0])  # still cleared after power-on
    assert early.ok == [True, True]  # communication is fine; there is just no result yet
    rig.settle(t_s)
    first = rig.chain.read_cell_voltages().values

    rig.afe.cells_v[0] = [3.5] * 12
    t_s = rig.chain.start_cell_conversion()
    rig.clock.advance(t_s * 0.9)
    assert not rig.chain.adc_done()
    assert rig.chain.read_cell_voltages().values == first  # previous contents while converting
    rig.settle(t_s * 0.1)
    assert rig.chain.read_cell_voltages().values[0] == [3.5] * 12


def test_a_driver_reading_at_the_nominal_time_is_early_without_refon() -> None:
    """The chip's own time: table time × its clock error + tREFUP while the reference is off."""
    rig = make_rig(["LTC6811"])
    nominal = 2.335e-3  # the table time alone, what the old driver waited
    rig.chain.clear_cells()
    rig.chain.start_cell_conversion()
    rig.clock.advance(nominal)
    assert not rig.chain.adc_done()
    assert all(math.isnan(v) for v in rig.chain.read_cell_voltages().values[0])  # wrong: no values
    assert not rig.emu.reference_up(0)
    # The fixed driver sets REFON and polls: after the first conversion the reference stays up.
    rig.chain.write_config([ConfigRegisters(refon=True)])
    rig.settle(rig.chain.start_cell_conversion())
    assert rig.emu.reference_up(0)
    rig.chain.clear_cells()
    rig.settle(rig.chain.start_cell_conversion())
    assert not any(math.isnan(v) for v in rig.chain.read_cell_voltages().values[0])


def test_clear_cells_reads_nan_until_next_conversion() -> None:
    rig = make_rig(["LTC6811"])
    rig.cells()
    rig.chain.clear_cells()
    read = rig.chain.read_cell_voltages()
    assert read.ok == [True] and all(math.isnan(v) for v in read.values[0])
    assert not any(math.isnan(v) for v in rig.cells().values[0])


def test_a_corrupted_reply_is_retried_and_recovers() -> None:
    rig = make_rig(["LTC6811"] * 3)
    rig.emu.corrupt_next(1, 1)
    read = rig.cells()
    assert read.ok == [True, True, True]
    assert read.values[1][:12] == pytest.approx([round(v, 4) for v in board_voltages(1, 12)])
    assert rig.chain.pec_errors == [0, 1, 0]


def test_exhausted_retries_give_nan_never_the_old_value() -> None:
    rig = make_rig(["LTC6811"] * 3, pec_retries=2)
    good = rig.cells()
    assert all(good.ok)
    rig.emu.corrupt_next(2, 3)  # the first group read of board 2 fails all 3 attempts
    read = rig.cells()
    assert read.ok == [True, True, False]
    assert all(math.isnan(v) for v in read.values[2][0:3])
    assert read.values[2][3:] == good.values[2][3:]  # later groups read fine
    assert read.values[:2] == good.values[:2]
    assert rig.chain.pec_errors == [0, 0, 3]


def test_random_corruption_is_always_detected() -> None:
    rig = make_rig(["LTC6813"] * 2, pec_retries=0, seed=7)
    rig.emu.set_corruption(0, 0.3)
    expected = [round(v, 4) for v in board_voltages(0, 18)]
    bad_reads = 0
    for _ in range(40):
        read = rig.cells()
        bad_reads += not read.ok[0]
        for got, want in zip(read.values[0], expected, strict=True):
            assert math.isnan(got) or got == pytest.approx(want)  # NaN or right, never wrong
        assert read.ok[1]
    assert bad_reads > 0
    assert rig.chain.pec_errors[0] >= bad_reads and rig.chain.pec_errors[1] == 0


def test_dead_board_and_those_above_fail_boards_below_are_fine() -> None:
    rig = make_rig(["LTC6811"] * 4)
    rig.emu.set_dead(2, True)
    read = rig.cells()
    assert read.ok == [True, True, False, False]
    assert all(math.isnan(v) for b in (2, 3) for v in read.values[b])
    assert read.values[1][:12] == pytest.approx([round(v, 4) for v in board_voltages(1, 12)])
    assert rig.chain.pec_errors[:2] == [0, 0] and min(rig.chain.pec_errors[2:]) >= 1

    rig.emu.set_dead(2, False)
    rig.chain.wakeup()
    assert rig.cells().ok == [True] * 4


def test_write_data_reaches_the_right_board() -> None:
    rig = make_rig(["LTC6811", "LTC6813", "LTC6811"])
    masks = [0b1, 1 << 16, 0b1010_0000_0000]
    rig.chain.set_discharge(masks)
    assert rig.afe.discharge == masks
    read = rig.chain.read_config()
    assert read.ok == [True, True, True]
    assert [c.dcc for c in read.values if c is not None] == masks


def test_config_round_trips_through_the_chain() -> None:
    rig = make_rig(["LTC6813", "LTC6811"])
    cfgs = [
        ConfigRegisters(refon=True, vuv_code=1749, vov_code=2625, dcc=0x2_0001, dcto=3),
        ConfigRegisters(adcopt=True, gpio_pulldown_off=0x1EF, dcc=0x800),
    ]
    rig.chain.write_config(cfgs)
    read = rig.chain.read_config()
    assert read.ok == [True, True]
    assert read.values[0] == ConfigRegisters(refon=True, dten=True, vuv_code=1749, vov_code=2625, dcc=0x2_0001, dcto=3)
    assert read.values[1] is not None and read.values[1].adcopt and read.values[1].dcc == 0x800


def test_set_discharge_keeps_the_rest_of_the_config() -> None:
    rig = make_rig(["LTC6811"])
    rig.chain.write_config([ConfigRegisters(refon=True, vuv_code=100)])
    rig.chain.set_discharge([0b11])
    cfg = rig.emu.config(0)
    assert cfg.refon and cfg.vuv_code == 100 and cfg.dcc == 0b11


def test_set_discharge_rejects_masks_beyond_the_channels() -> None:
    rig = make_rig(["LTC6811"])
    with pytest.raises(ValueError, match="exceeds"):
        rig.chain.set_discharge([1 << 12])
    with pytest.raises(ValueError, match="masks"):
        rig.chain.set_discharge([0, 0])


def test_watchdog_clears_discharge_after_2_s_without_commands() -> None:
    rig = make_rig(["LTC6811", "LTC6811"])
    rig.chain.set_discharge([0b100, 0b1])
    rig.clock.advance(1.5)
    rig.cells()  # any valid command feeds the watchdog
    rig.clock.advance(1.5)
    rig.emu.update()
    assert rig.afe.discharge == [0b100, 0b1]
    rig.clock.advance(0.6)
    rig.emu.update()
    assert rig.afe.discharge == [0, 0]
    assert rig.emu.asleep(0)
    # Asleep: nothing answers until woken; then the configuration is back at its defaults.
    assert rig.chain.read_config().ok == [False, False]
    rig.chain.wakeup()
    read = rig.chain.read_config()
    assert read.ok == [True, True] and [c.dcc for c in read.values if c is not None] == [0, 0]


def test_chips_start_asleep_until_woken() -> None:
    rig = make_rig(["LTC6811"])
    rig.clock.advance(3.0)
    rig.emu.update()
    assert rig.cells().ok == [False]
    rig.chain.wakeup()
    assert rig.cells().ok == [True]


def test_discharge_paused_during_adcv_unless_permitted() -> None:
    rig = make_rig(["LTC6811"])
    rig.chain.set_discharge([0b1])
    rig.afe.discharge_log.clear()
    rig.settle(rig.chain.start_cell_conversion(discharge_permitted=False))
    assert rig.afe.discharge_log == [(0, 0), (0, 0b1)]  # paused for the sample, then back on
    rig.afe.discharge_log.clear()
    rig.settle(rig.chain.start_cell_conversion(discharge_permitted=True))
    assert rig.afe.discharge_log == []


def test_command_with_bad_pec_is_ignored() -> None:
    rig = make_rig(["LTC6811", "LTC6811"])
    payload = append_pec(encode_cfga(ConfigRegisters(dcc=0xFFF)))
    bad_cmd = bytearray(frame(WRCFGA))
    bad_cmd[3] ^= 0x01
    rig.emu.transfer(bytes(bad_cmd) + payload + payload)
    assert rig.emu.bad_command_pecs == 1
    assert rig.afe.discharge == [0, 0] and rig.emu.config(0).dcc == 0

    rig.emu.transfer(frame(WRCFGA) + payload + payload)  # the same write with a good PEC works
    assert rig.afe.discharge == [0xFFF, 0xFFF]

    bad_adcv = bytearray(frame(adcv_code()))
    bad_adcv[2] ^= 0x80
    rig.emu.transfer(bytes(bad_adcv))
    assert rig.chain.adc_done()  # no conversion started
    assert all(math.isnan(v) for v in rig.chain.read_cell_voltages().values[0])


def test_write_slot_with_bad_pec_is_ignored_by_that_device_only() -> None:
    rig = make_rig(["LTC6811", "LTC6811"])
    good = append_pec(encode_cfga(ConfigRegisters(dcc=0x3)))
    broken = bytearray(good)
    broken[6] ^= 0xFF
    # Top device (board 1) first: board 1 gets the broken slot, board 0 the good one.
    rig.emu.transfer(frame(WRCFGA) + bytes(broken) + good)
    assert rig.afe.discharge == [0x3, 0]


def test_emulator_answers_reads_bottom_board_first() -> None:
    rig = make_rig(["LTC6811", "LTC6811"])
    rig.cells()
    rx = rig.emu.transfer(frame(RDCV[0]) + b"\xff" * 16)
    board0_cell1 = int.from_bytes(rx[4:6], "little")
    board1_cell1 = int.from_bytes(rx[12:14], "little")
    assert board0_cell1 == round(board_voltages(0, 1)[0] * 10_000)
    assert board1_cell1 == round(board_voltages(1, 1)[0] * 10_000)


def test_aux_voltages_and_ref2() -> None:
    rig = make_rig(["LTC6811", "LTC6813"])
    rig.afe.gpios_v = [[0.1, 0.2, 0.3, 0.4, 0.5], [1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9]]
    rig.settle(rig.chain.start_aux_conversion())
    read = rig.chain.read_aux_voltages()
    assert read.ok == [True, True]
    assert read.values[0] == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5, 3.0])
    assert read.values[1] == pytest.approx([1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9, 3.0])
    assert rig.chain.pec_errors == [0, 0]


def test_gpio_pulled_down_reads_zero() -> None:
    rig = make_rig(["LTC6811"])
    rig.chain.write_config([ConfigRegisters(gpio_pulldown_off=0b11101)])  # GPIO2 pulled low
    rig.settle(rig.chain.start_aux_conversion())
    values = rig.chain.read_aux_voltages().values[0]
    assert values[1] == 0.0 and values[0] == pytest.approx(1.5)


def test_status_sum_of_cells_and_die_temperature() -> None:
    rig = make_rig(["LTC6811", "LTC6813"], [12, 15])
    rig.afe.die_temps_c = [31.0, 160.0]
    rig.settle(rig.chain.start_status_conversion())
    read = rig.chain.read_status()
    assert read.ok == [True, True]
    for b, n in enumerate([12, 15]):
        assert read.values[b].sum_of_cells_v == pytest.approx(sum(board_voltages(b, n)), abs=0.003)
    assert read.values[0].die_temperature_c == pytest.approx(31.0, abs=0.02)
    assert read.values[1].flags.thsd and not read.values[0].flags.thsd
    assert read.values[0].va_v == pytest.approx(5.0) and read.values[0].vd_v == pytest.approx(3.0)


def test_status_flags_follow_the_compare_thresholds() -> None:
    rig = make_rig(["LTC6811"], [12])
    rig.afe.cells_v[0] = [3.3] * 10 + [2.0, 4.5]
    rig.chain.write_config([ConfigRegisters(vuv_code=1749, vov_code=2625)])  # 2.8 V / 4.2 V
    rig.cells()
    flags = rig.chain.read_status().values[0].flags
    assert flags.uv_mask == 1 << 10 and flags.ov_mask == 1 << 11
