"""``EmulatedChain``: a byte-level LTC6811/LTC6813 daisy chain behind the ``SpiTransport`` interface.

Why byte level: the simulated pack must exercise the real driver — command PECs, write ordering
(top device first), read ordering (bottom device first), per-device PECs, conversion times, the
watchdog, corrupted and missing replies — not a shortcut that returns floats. The analog side
(cell voltages, GPIO pins, die temperature, open wires, the effect of discharge) comes from an
``AnalogFrontEnd`` (the battery simulator); this module only plays the chips.

Modelled behaviour:

* a command whose PEC is wrong is ignored by every chip (no reply, no watchdog reset);
* conversions sample the analog inputs when the command arrives; results become readable only
  when the chip's *own* conversion time has passed on the injected clock: the datasheet time of
  that mode and chip, times the chip's ADC clock error (seeded, 0..+1.5 % slow), plus the
  reference power-up time tREFUP when the reference was off (REFON = 0 lets it power down after
  every conversion; a chip that slept always starts with it off). Until then reads return the
  previous register contents (0xFFFF after CLRCELL/CLRAUX/CLRSTAT) and PLADC reads 0x00, exactly
  what a driver that reads too early gets from a real chip;
* isoSPI idle: after ``T_IDLE_S`` without traffic the port idles and the next frame only wakes it
  (that frame is lost: no command executed, reply bytes 0xFF) unless the host woke it first
  (``wakeup_idle``/``wakeup``);
* self tests: CVST/AXST fill the registers with the datasheet pattern, DIAGN sets MUXFAIL;
* open wire: each sense input has a filter capacitor; an open input keeps its charge and each
  ADOW moves it by I × t_conversion / C (100 µA into ``OPEN_WIRE_FILTER_F``) towards the rail it
  is pulled to, so a few fast ADOWs do not move it the 400 mV the detection needs;
* LTC6813 C13..C18 UV/OV flags live in aux group D (bytes 2-4), written by cell conversions;
* ADCV/ADOW with DCP = 0 pause the discharge switches while sampling (the AFE sees the mask
  drop to 0 and come back), so the reading is taken without balance current;
* ADOW: an open sense wire follows the 100 µA current sources — pulled up to the next connected
  input above, or down to the next connected input below (so the datasheet algorithm finds it);
  in a plain ADCV an open interior input floats to the midpoint of its neighbours;
* channels above ``cells_used[board]`` are tied to the top cell and read 0 V;
* watchdog: a chip that gets no valid command for 2 s resets its configuration (discharge off)
  and sleeps; a sleeping chip (and every chip above it) ignores commands until ``wakeup``.
  Chips start asleep, as after power-on;
* a dead board and every board above it neither receive nor answer (their reply bytes read
  0xFF, so the PEC fails); their watchdogs run out as on real hardware;
* an LTC6811 in a mixed chain ignores LTC6813-only commands and its reply slot reads 0xFF.

Fault knobs beyond PEC errors and dead boards: ``set_stalled`` (the ADC stops mid-conversion:
PLADC stays busy, registers keep their contents), ``set_drop`` (a fraction of the conversion
commands is lost for that board), ``set_frozen`` (conversions complete but the codes never
change), ``set_muxfail``, ``set_self_test_fail``, ``corrupt_replies`` (the next N replies of one
board to one read command, optionally only those after a given conversion: fails exactly the
status read, or exactly the open-wire read, and nothing else), ``lose_writes`` (configuration
writes that do not reach a board), ``set_pladc_stuck`` (PLADC reads busy though the results
landed), ``set_ref2`` (the second reference drifts), ``set_supplies`` (VA/VD as ADSTAT measures
them); ``extra_boards`` appends answering chips
beyond the configured chain.

Not modelled: partial register updates during a conversion (results appear all at once at the
end), the discharge timer (DCTO) and the GPIO read-back of pin levels (reads the written bits).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from bmsgateway.clock import Clock
from bmsgateway.hal.ltc681x import commands as cmd
from bmsgateway.hal.ltc681x.chips import ChipInfo, chip_info
from bmsgateway.hal.ltc681x.commands import Conversion
from bmsgateway.hal.ltc681x.pec import append_pec, check_pec
from bmsgateway.hal.ltc681x.registers import (
    LSB_V,
    ConfigRegisters,
    StatusFlags,
    c_to_itmp_code,
    decode_config,
    encode_cfga,
    encode_cfgb,
    encode_status_b,
    v_to_code,
)

__all__ = [
    "OPEN_WIRE_FILTER_F",
    "REF2_V",
    "VA_V",
    "VD_V",
    "WATCHDOG_S",
    "AnalogFrontEnd",
    "EmulatedChain",
    "StaticAfe",
]

#: No valid command for this long: configuration reset, chip sleeps (tSLEEP, 1.8-2.2 s).
WATCHDOG_S = 2.0
REF2_V = 3.0  #: second reference, measured with the GPIOs
VA_V = 5.0  #: analog supply seen by ADSTAT
VD_V = 3.0  #: digital supply seen by ADSTAT
THSD_C = 150.0  #: die temperature that sets the thermal shutdown flag
#: Sense-input filter capacitance seen by the 100 µA ADOW currents (an assumption: boards differ;
#: with it one 7 kHz ADOW moves an open input ~0.11 V, a 26 Hz ADOW all the way).
OPEN_WIRE_FILTER_F = 2.2e-6
_ADOW_CURRENT_A = 100e-6
_CLOCK_ERROR_MAX = 0.015  #: ADC clock tolerance modelled: conversions up to 1.5 % slower

_CLEARED_SLOT = append_pec(b"\xff" * 6)
#: PEC check result per 4-byte command head (there are few distinct commands; corrupted heads
#: are cached too, which is harmless: the answer for the same bytes never changes).
_COMMAND_OK: dict[bytes, bool] = {}
_NO_REPLY_SLOT = b"\xff" * 8
_CMD_MASK_ADCV = ~(0x180 | 0x010 | 0x007) & 0x7FF
_CMD_MASK_ADOW = ~(0x180 | 0x040 | 0x010 | 0x007) & 0x7FF
_CMD_MASK_ADX = ~(0x180 | 0x007) & 0x7FF
#: Read commands by name, for ``EmulatedChain.corrupt_replies``.
_READS: dict[str, tuple[int, ...]] = {
    "RDCFGA": (cmd.RDCFGA,),
    "RDCFGB": (cmd.RDCFGB,),
    "RDCV": cmd.RDCV,
    "RDAUX": cmd.RDAUX,
    "RDSTATA": (cmd.RDSTATA,),
    "RDSTATB": (cmd.RDSTATB,),
}
#: Conversion commands by name (what ``corrupt_replies(after=...)`` may name).
_CONVERSIONS = ("ADCV", "ADOW", "ADAX", "ADSTAT", "CVST", "AXST", "DIAGN")


class AnalogFrontEnd(Protocol):
    """What the chips measure; implemented by the battery simulator (``bmsgateway/sim/``)."""

    def cell_inputs_v(self, board: int) -> Sequence[float]:
        """The used cells of ``board``, bottom first, at ``clock.now()``."""
        ...

    def gpio_inputs_v(self, board: int) -> Sequence[float]:
        """GPIO1..n pin voltages (n = 5 or 9)."""
        ...

    def die_temperature_c(self, board: int) -> float:
        """Chip die temperature."""
        ...

    def open_wires(self, board: int) -> frozenset[int]:
        """Board-local sense inputs C0..Cn that are open."""
        ...

    def set_discharge(self, board: int, mask: int) -> None:
        """DCC bits now in effect (bit 0 = cell 1)."""
        ...


class StaticAfe:
    """Fixed voltages for tests: every knob is a plain attribute."""

    def __init__(
        self,
        cells_v: Sequence[Sequence[float]],
        gpios_v: Sequence[Sequence[float]] | None = None,
        die_temperature_c: float = 25.0,
    ) -> None:
        self.cells_v: list[list[float]] = [list(c) for c in cells_v]
        self.gpios_v: list[list[float]] = (
            [list(g) for g in gpios_v] if gpios_v is not None else [[1.5] * 9 for _ in cells_v]
        )
        self.die_temps_c: list[float] = [die_temperature_c] * len(cells_v)
        self.open: list[frozenset[int]] = [frozenset() for _ in cells_v]
        self.discharge: list[int] = [0] * len(cells_v)
        #: Every ``set_discharge`` call in order: (board, mask).
        self.discharge_log: list[tuple[int, int]] = []

    def cell_inputs_v(self, board: int) -> Sequence[float]:
        return self.cells_v[board]

    def gpio_inputs_v(self, board: int) -> Sequence[float]:
        return self.gpios_v[board]

    def die_temperature_c(self, board: int) -> float:
        return self.die_temps_c[board]

    def open_wires(self, board: int) -> frozenset[int]:
        return self.open[board]

    def set_discharge(self, board: int, mask: int) -> None:
        self.discharge[board] = mask
        self.discharge_log.append((board, mask))


def _slot(data: bytes) -> bytes:
    """6 register bytes + their PEC: one device's 8-byte reply, built when the register changes."""
    return append_pec(data)


def _aux_d_slot(chip: _Chip) -> bytes:
    """LTC6813 aux group D: GPIO9 code, the C13-C18 UV/OV flag bytes, one reserved byte."""
    raw = chip.aux_slots[3]
    return _slot(raw[:2] + chip.hi_flags + raw[5:6])


class _ExtendedAfe:
    """The configured boards' AFE plus fixed-voltage boards beyond the configured chain."""

    def __init__(self, inner: AnalogFrontEnd, n_inner: int, extra: StaticAfe) -> None:
        self._inner = inner
        self._n = n_inner
        self._extra = extra

    def cell_inputs_v(self, board: int) -> Sequence[float]:
        if board < self._n:
            return self._inner.cell_inputs_v(board)
        return self._extra.cell_inputs_v(board - self._n)

    def gpio_inputs_v(self, board: int) -> Sequence[float]:
        if board < self._n:
            return self._inner.gpio_inputs_v(board)
        return self._extra.gpio_inputs_v(board - self._n)

    def die_temperature_c(self, board: int) -> float:
        if board < self._n:
            return self._inner.die_temperature_c(board)
        return self._extra.die_temperature_c(board - self._n)

    def open_wires(self, board: int) -> frozenset[int]:
        if board < self._n:
            return self._inner.open_wires(board)
        return frozenset()

    def set_discharge(self, board: int, mask: int) -> None:
        if board < self._n:
            self._inner.set_discharge(board, mask)


def _groups_of_codes(codes: Sequence[int]) -> list[bytes]:
    """Reply slots for a run of 16-bit codes, 3 per group, little-endian."""
    out = []
    for g in range(0, len(codes), 3):
        c0, c1, c2 = codes[g : g + 3]
        out.append(_slot(bytes((c0 & 0xFF, c0 >> 8, c1 & 0xFF, c1 >> 8, c2 & 0xFF, c2 >> 8))))
    return out


class _Chip:
    """Register state of one emulated chip."""

    def __init__(self, info: ChipInfo) -> None:
        self.info = info
        self.cfga = bytearray(encode_cfga(ConfigRegisters()))
        self.cfgb = bytearray(encode_cfgb(ConfigRegisters()))
        self.cell_slots: list[bytes] = [_CLEARED_SLOT] * info.cell_groups
        self.aux_slots: list[bytes] = [_CLEARED_SLOT] * info.aux_groups
        self.stat_a_slot: bytes = _CLEARED_SLOT
        self.stat_b_slot: bytes = _CLEARED_SLOT
        self.vd_code = 0xFFFF
        self.flags = StatusFlags()
        self.pending_end_s = -1.0
        self.pending_commit: Callable[[], None] | None = None
        self.last_cmd_s = 0.0
        self.asleep = True
        self.applied_mask = 0
        self.ref_up = False  #: reference powered (REFON = 1 keeps it up after a conversion)
        self.hi_flags = b"\x00\x00\x00"  #: LTC6813 C13-C18 UV/OV pairs (aux group D bytes 2-4)
        self.clock_error = 0.0
        self.stalled = False
        self.drop_p = 0.0
        self.drop_only: str | None = None  #: drop only this conversion (``set_drop``)
        self.lost_writes = 0  #: WRCFGA writes still to lose (``lose_writes``)
        self.pladc_stuck = False
        self.ref2_v = REF2_V  #: what the aux conversion measures as REF2 (``set_ref2``)
        self.va_v = VA_V  #: analog supply ADSTAT measures (``set_supplies``)
        self.vd_v = VD_V  #: digital supply ADSTAT measures
        self.frozen = False
        self.frozen_snapshot: tuple[list[bytes] | None, list[bytes] | None, bytes] | None = None
        self.muxfail = False
        self.self_test_fail = False
        self.self_test_fail_only: str | None = None  #: "CVST" or "AXST": only that self test fails
        self.pin_state: dict[int, float] = {}  #: open input -> its filter capacitor voltage

    def config(self) -> ConfigRegisters:
        return decode_config(self.cfga, self.cfgb if self.info.has_cfgb else None)

    def dcc_mask(self) -> int:
        mask = self.cfga[4] | ((self.cfga[5] & 0xF) << 8)
        if self.info.has_cfgb:
            mask |= ((self.cfgb[0] >> 4) & 0xF) << 12 | (self.cfgb[1] & 0x3) << 16
        return mask

    def reset_config(self) -> None:
        self.cfga[:] = encode_cfga(ConfigRegisters())
        self.cfgb[:] = encode_cfgb(ConfigRegisters())
        self.ref_up = False

    def refresh_stat_b(self) -> None:
        self.stat_b_slot = _slot(encode_status_b(self.vd_code, self.flags))


class EmulatedChain:
    """A chain of emulated LTC681x chips answering the driver's bytes (board 0 nearest the host)."""

    def __init__(
        self,
        chips: Sequence[str],
        clock: Clock,
        afe: AnalogFrontEnd,
        cells_used: Sequence[int],
        seed: int = 0,
        extra_boards: int = 0,
        model_idle: bool = True,
    ) -> None:
        if len(cells_used) != len(chips):
            raise ValueError(f"cells_used has {len(cells_used)} entries for {len(chips)} chips")
        if extra_boards < 0:
            raise ValueError(f"extra_boards must be >= 0, got {extra_boards}")
        n_cfg = len(chips)
        if extra_boards:
            # Answering boards beyond the configured chain, measuring 3.3 V cells of their own.
            chips = [*chips, *([chips[-1]] * extra_boards)]
            full = chip_info(chips[-1]).cells
            cells_used = [*cells_used, *([full] * extra_boards)]
            afe = _ExtendedAfe(afe, n_cfg, StaticAfe([[3.3] * full for _ in range(extra_boards)]))
        self._chips = [_Chip(chip_info(c)) for c in chips]
        for b, (chip, n) in enumerate(zip(self._chips, cells_used, strict=True)):
            if not 0 < n <= chip.info.cells:
                raise ValueError(f"board {b}: {n} cells used on an {chip.info.name}")
        self._clock = clock
        self._afe = afe
        self._cells_used = list(cells_used)
        self._rng = random.Random(seed)
        for chip in self._chips:
            chip.clock_error = self._rng.uniform(0.0, _CLOCK_ERROR_MAX)
        self._model_idle = model_idle
        self._last_activity_s = -1e18  #: isoSPI port starts idle
        #: Frames lost because the isoSPI port was idle (diagnostics for tests).
        self.idle_frames_lost = 0
        #: Conversion commands that a board lost (``set_drop``).
        self.dropped_conversions = 0
        self._dead = [False] * len(chips)
        self._corrupt_p = [0.0] * len(chips)
        self._corrupt_next = [0] * len(chips)
        #: per board: [read codes, only after this conversion (or None), replies left to corrupt]
        self._reply_faults: list[list[tuple[frozenset[int], str | None, list[int]]]] = [[] for _ in chips]
        self._last_conversion: str | None = None  #: the last conversion command the chain got
        #: Wall time spent inside ``transfer``/``wakeup`` (benchmarks subtract it from the driver's).
        self.emulator_time_s = 0.0
        #: what ``emulator_time_s`` is measured with; benchmarks may set ``time.thread_time`` (CPU time)
        self.timer: Callable[[], float] = time.perf_counter
        #: Commands dropped because their PEC was wrong (diagnostics for tests).
        self.bad_command_pecs = 0
        #: PLADC polls answered "busy" (diagnostics: a driver that polls sees some).
        self.pladc_busy_polls = 0

    # ------------------------------------------------------------------ fault knobs

    @property
    def n_boards(self) -> int:
        return len(self._chips)

    def set_dead(self, board: int, dead: bool) -> None:
        """Cut the chain at ``board``: it and every board above it stop receiving and answering."""
        self._dead[board] = dead

    def set_corruption(self, board: int, probability: float) -> None:
        """Flip one random bit in each reply of ``board`` with this probability (seeded RNG)."""
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"probability must be within 0..1, got {probability}")
        self._corrupt_p[board] = probability

    def corrupt_next(self, board: int, count: int) -> None:
        """Corrupt exactly the next ``count`` register replies of ``board``."""
        self._corrupt_next[board] = max(0, count)

    def corrupt_replies(self, board: int, read: str, count: int, after: str | None = None) -> None:
        """Corrupt the next ``count`` replies of ``board`` to the read command ``read`` (one of
        RDCFGA, RDCFGB, RDCV, RDAUX, RDSTATA, RDSTATB; every group of RDCV/RDAUX counts) and no
        other reply. With ``after`` (ADCV, ADOW, ADAX, ADSTAT, CVST, AXST, DIAGN) only the reads
        made while that was the last conversion the chain got count, e.g. ``("RDCV", 3, "ADOW")``
        fails the first cell group of an open-wire check (the driver reads it 1 + 2 retries
        times) but not the regular cell reading. Counts wait until such a read comes."""
        if read not in _READS:
            raise ValueError(f"read must be one of {sorted(_READS)}, got {read!r}")
        if after is not None and after not in _CONVERSIONS:
            raise ValueError(f"after must be one of {list(_CONVERSIONS)}, got {after!r}")
        if count > 0:
            self._reply_faults[board].append((frozenset(_READS[read]), after, [count]))

    def set_stalled(self, board: int, stalled: bool = True) -> None:
        """The ADC of ``board`` stops: conversions never finish (PLADC busy), registers keep data."""
        self._chips[board].stalled = stalled
        if not stalled:
            self._chips[board].pending_commit = None

    def set_drop(self, board: int, probability: float, only: str | None = None) -> None:
        """``board`` loses this fraction of its conversion commands (seeded RNG); with ``only``
        (ADCV, ADOW, ADAX, ADSTAT, CVST, AXST, DIAGN) only that conversion's commands."""
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"probability must be within 0..1, got {probability}")
        if only is not None and only not in _CONVERSIONS:
            raise ValueError(f"only must be one of {list(_CONVERSIONS)}, got {only!r}")
        self._chips[board].drop_p = probability
        self._chips[board].drop_only = only

    def lose_writes(self, board: int, count: int) -> None:
        """The next ``count`` WRCFGA writes do not reach ``board`` (its data PEC arrived
        corrupted): the chip keeps its previous configuration."""
        self._chips[board].lost_writes = max(0, count)

    def set_ref2(self, board: int, volts: float = REF2_V) -> None:
        """The second reference of ``board`` reads ``volts`` from the next aux conversion on."""
        self._chips[board].ref2_v = volts

    def set_supplies(self, board: int, va_v: float = VA_V, vd_v: float = VD_V) -> None:
        """The analog (VA) and digital (VD) supplies of ``board`` as its next ADSTAT measures them."""
        self._chips[board].va_v = va_v
        self._chips[board].vd_v = vd_v

    def set_pladc_stuck(self, board: int, stuck: bool = True) -> None:
        """``board`` holds PLADC busy (e.g. a stuck SDO) while its conversions complete normally."""
        self._chips[board].pladc_stuck = stuck

    def set_frozen(self, board: int, frozen: bool = True) -> None:
        """Conversions of ``board`` complete but its result codes never change again."""
        self._chips[board].frozen = frozen
        self._chips[board].frozen_snapshot = None

    def set_muxfail(self, board: int, fail: bool = True) -> None:
        """DIAGN on ``board`` reports a multiplexer failure."""
        self._chips[board].muxfail = fail

    def set_self_test_fail(self, board: int, fail: bool = True, only: str | None = None) -> None:
        """CVST/AXST on ``board`` return a wrong pattern (a broken digital filter); with ``only``
        ("CVST" or "AXST") just that one of the two."""
        if only not in (None, "CVST", "AXST"):
            raise ValueError(f"only must be CVST or AXST, got {only!r}")
        self._chips[board].self_test_fail = fail
        self._chips[board].self_test_fail_only = only

    # ------------------------------------------------------------------ introspection

    def config(self, board: int) -> ConfigRegisters:
        """Configuration registers as the chip holds them now."""
        self.update()
        return self._chips[board].config()

    def discharge_mask(self, board: int) -> int:
        """DCC bits of ``board`` in effect now (bit 0 = cell 1)."""
        self.update()
        return self._chips[board].applied_mask

    def reference_up(self, board: int) -> bool:
        """True while the chip's reference is powered (conversions start without tREFUP)."""
        self.update()
        return self._chips[board].ref_up

    def asleep(self, board: int) -> bool:
        """True while ``board`` sleeps (watchdog expired, or never woken)."""
        self.update()
        return self._chips[board].asleep

    # ------------------------------------------------------------------ time

    def update(self) -> None:
        """Bring the chips to ``clock.now()``: finish conversions, run out watchdogs.

        ``transfer``/``wakeup`` call this; the simulator may call it to see a watchdog expire
        even when the host has gone silent.
        """
        now = self._clock.now()
        for b, chip in enumerate(self._chips):
            if chip.pending_commit is not None and now >= chip.pending_end_s and not chip.stalled:
                chip.pending_commit()
                chip.pending_commit = None
                chip.ref_up = bool(chip.cfga[0] & 0x04)  # REFON = 0: the reference powers down
            if not chip.asleep and now - chip.last_cmd_s > WATCHDOG_S:
                chip.reset_config()
                chip.asleep = True
                chip.pending_commit = None
                self._apply_discharge(b, chip, paused=False)

    def _reachable(self) -> int:
        """Number of boards from the bottom that receive commands (below the first dead/asleep)."""
        for b, chip in enumerate(self._chips):
            if self._dead[b] or chip.asleep:
                return b
        return len(self._chips)

    def _apply_discharge(self, board: int, chip: _Chip, paused: bool) -> None:
        mask = 0 if paused else chip.dcc_mask() & ((1 << chip.info.cells) - 1)
        if mask != chip.applied_mask:
            chip.applied_mask = mask
            self._afe.set_discharge(board, mask)

    # ------------------------------------------------------------------ SpiTransport

    def wakeup(self, chain_length: int) -> None:
        """Wake sleeping chips up to the first dead board (the wake pulse travels up the chain)."""
        t0 = self.timer()
        try:
            self.update()
            now = self._clock.now()
            self._last_activity_s = now
            for b, chip in enumerate(self._chips):
                if self._dead[b]:
                    break
                if chip.asleep:
                    chip.asleep = False
                    chip.last_cmd_s = now
        finally:
            self.emulator_time_s += self.timer() - t0

    def wakeup_idle(self, chain_length: int) -> None:
        """A dummy byte per device: the isoSPI ports become ready; sleeping cores stay asleep."""
        self._last_activity_s = self._clock.now()

    def transfer(self, tx: bytes) -> bytes:
        """One CS-framed exchange: a command (+ write data or read clocks) in, the chain's bytes out."""
        t0 = self.timer()
        try:
            return self._transfer(tx)
        finally:
            self.emulator_time_s += self.timer() - t0

    def _transfer(self, tx: bytes) -> bytes:
        self.update()
        now = self._clock.now()
        idle = self._model_idle and now - self._last_activity_s > cmd.T_IDLE_S
        self._last_activity_s = now
        if idle:
            # The CS edge wakes the port; the frame itself never reaches the chips.
            self.idle_frames_lost += 1
            return b"\xff" * len(tx)
        if len(tx) < 4:
            return b"\xff" * len(tx)
        head = bytes(tx[:4])
        good = _COMMAND_OK.get(head)
        if good is None:
            good = _COMMAND_OK[head] = check_pec(head)
        if not good:
            self.bad_command_pecs += 1
            return b"\xff" * len(tx)
        code = cmd.command_code(tx)
        n_live = self._reachable()
        now = self._clock.now()
        for chip in self._chips[:n_live]:
            chip.last_cmd_s = now
        reader = self._reply_reader(code)
        if reader is not None:
            return self._read_reply(tx, n_live, reader, code)
        if code == cmd.PLADC:
            busy = any(c.pending_commit is not None or c.pladc_stuck for c in self._chips[:n_live])
            if busy:
                self.pladc_busy_polls += 1
            return b"\xff" * 4 + (b"\x00" if busy else b"\xff") * (len(tx) - 4)
        if code in (cmd.WRCFGA, cmd.WRCFGB):
            self._write(code, tx[4:], n_live)
        else:
            self._execute(code, n_live, now)
        return b"\xff" * len(tx)

    # ------------------------------------------------------------------ commands

    def _reply_reader(self, code: int) -> Callable[[_Chip], bytes] | None:
        """How a chip answers a read command, or None if ``code`` is not a read."""
        if code == cmd.RDCFGA:

            def cfga(chip: _Chip) -> bytes:
                data = bytearray(chip.cfga)
                data[0] |= 0x02  # DTEN reads 1: the discharge timer is available
                return _slot(bytes(data))

            return cfga
        if code == cmd.RDCFGB:
            return lambda chip: _slot(bytes(chip.cfgb)) if chip.info.has_cfgb else _NO_REPLY_SLOT
        if code in cmd.RDCV:
            g = cmd.RDCV.index(code)
            return lambda chip: chip.cell_slots[g] if g < chip.info.cell_groups else _NO_REPLY_SLOT
        if code in cmd.RDAUX:
            g = cmd.RDAUX.index(code)
            if g == 3:
                return lambda chip: _aux_d_slot(chip) if g < chip.info.aux_groups else _NO_REPLY_SLOT
            return lambda chip: chip.aux_slots[g] if g < chip.info.aux_groups else _NO_REPLY_SLOT
        if code == cmd.RDSTATA:
            return lambda chip: chip.stat_a_slot
        if code == cmd.RDSTATB:
            return lambda chip: chip.stat_b_slot
        return None

    def _targeted_fault(self, board: int, code: int) -> bool:
        """True (and one reply used up) if a ``corrupt_replies`` fault covers this reply."""
        faults = self._reply_faults[board]
        for i, (codes, after, left) in enumerate(faults):
            if code in codes and (after is None or after == self._last_conversion):
                left[0] -= 1
                if left[0] <= 0:
                    del faults[i]
                return True
        return False

    def _read_reply(self, tx: bytes, n_live: int, reader: Callable[[_Chip], bytes], code: int) -> bytes:
        out = bytearray(b"\xff" * len(tx))
        for b in range(n_live):
            start = 4 + 8 * b
            if start + 8 > len(tx):
                break
            slot = reader(self._chips[b])
            targeted = bool(self._reply_faults[b]) and self._targeted_fault(b, code)
            if targeted or self._corrupt_next[b] > 0 or (
                self._corrupt_p[b] > 0 and self._rng.random() < self._corrupt_p[b]
            ):
                if not targeted and self._corrupt_next[b] > 0:
                    self._corrupt_next[b] -= 1
                bit = self._rng.randrange(64)
                damaged = bytearray(slot)
                damaged[bit >> 3] ^= 1 << (bit & 7)
                slot = bytes(damaged)
            out[start : start + 8] = slot
        return bytes(out)

    def _write(self, code: int, data: bytes, n_live: int) -> None:
        """Write data arrives top device first, so board b's slot is the (b+1)-th from the end."""
        for b in range(n_live):
            end = len(data) - 8 * b
            if end - 8 < 0:
                break
            slot = data[end - 8 : end]
            if not check_pec(slot):
                continue
            chip = self._chips[b]
            if code == cmd.WRCFGA and chip.lost_writes > 0:
                chip.lost_writes -= 1
                continue
            if code == cmd.WRCFGA:
                chip.cfga[:] = slot[:6]
            elif chip.info.has_cfgb:
                chip.cfgb[:] = slot[:6]
            self._apply_discharge(b, chip, paused=False)

    def _execute(self, code: int, n_live: int, now: float) -> None:
        if code in (cmd.CLRCELL, cmd.CLRAUX, cmd.CLRSTAT):
            for chip in self._chips[:n_live]:
                if code == cmd.CLRCELL:
                    chip.cell_slots = [_CLEARED_SLOT] * chip.info.cell_groups
                elif code == cmd.CLRAUX:
                    chip.aux_slots = [_CLEARED_SLOT] * chip.info.aux_groups
                    chip.hi_flags = b"\xff\xff\xff"
                else:
                    chip.stat_a_slot = chip.stat_b_slot = _CLEARED_SLOT
            return
        if code == cmd.DIAGN:
            self._last_conversion = "DIAGN"
            for b in range(n_live):
                self._start(b, self._chips[b], self._diagn(self._chips[b]), cmd.T_DIAGN_S, now)
            return
        mode = cmd.AdcMode((code >> 7) & 0x3)
        st = (code >> 5) & 0x3
        base = code & ~(0x180 | 0x060) & 0x7FF
        if base in (cmd.CVST, cmd.AXST) and st in (1, 2):
            kind = Conversion.CELLS if base == cmd.CVST else Conversion.AUX
            self._last_conversion = "CVST" if base == cmd.CVST else "AXST"
            for b in range(n_live):
                chip = self._chips[b]
                adcopt = bool(chip.cfga[0] & 0x01)
                fail = chip.self_test_fail and chip.self_test_fail_only in (None, self._last_conversion)
                pattern = cmd.self_test_code(st, mode, adcopt) ^ (0x0100 if fail else 0)
                t = cmd.conversion_time_s(kind, chip.info.name, mode, adcopt)
                self._start(b, chip, self._self_test(chip, kind, pattern), t, now)
            return
        # Only the "all channels" forms (CH/CHG/CHST = 0) are modelled; the other channel
        # selections share code space with ADCVAX/ADCVSC and are ignored like unknown commands.
        if code & 0x007:
            return
        dcp = bool(code & 0x010)
        if code & _CMD_MASK_ADCV == cmd.ADCV or code & _CMD_MASK_ADOW == cmd.ADOW:
            kind = Conversion.CELLS
            self._last_conversion = "ADCV" if code & _CMD_MASK_ADCV == cmd.ADCV else "ADOW"
        elif code & _CMD_MASK_ADX == cmd.ADAX:
            kind = Conversion.AUX
            self._last_conversion = "ADAX"
        elif code & _CMD_MASK_ADX == cmd.ADSTAT:
            kind = Conversion.STATUS
            self._last_conversion = "ADSTAT"
        else:
            return  # a valid command this emulator does not model: ignored, watchdog fed
        pull = bool(code & 0x040) if code & _CMD_MASK_ADOW == cmd.ADOW else None
        for b in range(n_live):
            chip = self._chips[b]
            if chip.drop_p > 0 and chip.drop_only in (None, self._last_conversion) and self._rng.random() < chip.drop_p:
                self.dropped_conversions += 1
                continue  # this board never saw the command: nothing starts, registers stay
            adcopt = bool(chip.cfga[0] & 0x01)
            t = cmd.conversion_time_s(kind, chip.info.name, mode, adcopt)
            if kind is Conversion.CELLS:
                commit = self._convert_cells(b, chip, dcp, pull, t)
            elif kind is Conversion.AUX:
                commit = self._convert_aux(b, chip)
            else:
                commit = self._convert_status(b, chip)
            self._start(b, chip, commit, t, now)

    def _start(self, board: int, chip: _Chip, commit: Callable[[], None], nominal_s: float, now: float) -> None:
        """Schedule ``commit`` after this chip's own conversion time (clock error, tREFUP)."""
        duration = nominal_s * (1.0 + chip.clock_error)
        if not chip.ref_up:
            duration += cmd.T_REFUP_S
        if chip.frozen:

            def commit_frozen() -> None:
                # The first conversion of each kind after the fault still lands; every later one
                # repeats it (a stuck digital filter / mux): registers refilled with the same codes.
                before_cells, before_aux = chip.cell_slots, chip.aux_slots
                commit()
                snap_c, snap_a, snap_f = chip.frozen_snapshot or (None, None, chip.hi_flags)
                if chip.cell_slots is not before_cells:
                    if snap_c is None:
                        snap_c, snap_f = list(chip.cell_slots), chip.hi_flags
                    else:
                        chip.cell_slots, chip.hi_flags = list(snap_c), snap_f
                if chip.aux_slots is not before_aux:
                    if snap_a is None:
                        snap_a = list(chip.aux_slots)
                    else:
                        chip.aux_slots = list(snap_a)
                chip.frozen_snapshot = (snap_c, snap_a, snap_f)

            chip.pending_commit = commit_frozen
        else:
            chip.pending_commit = commit
        chip.pending_end_s = now + duration

    def _self_test(self, chip: _Chip, kind: Conversion, pattern: int) -> Callable[[], None]:
        def commit() -> None:
            if kind is Conversion.CELLS:
                chip.cell_slots = _groups_of_codes([pattern] * (3 * chip.info.cell_groups))
            else:
                chip.aux_slots = _groups_of_codes([pattern] * (3 * chip.info.aux_groups))

        return commit

    def _diagn(self, chip: _Chip) -> Callable[[], None]:
        def commit() -> None:
            f = chip.flags
            chip.flags = StatusFlags(f.uv_mask, f.ov_mask, f.thsd, chip.muxfail, f.rev)
            chip.refresh_stat_b()

        return commit

    # ------------------------------------------------------------------ conversions

    def _pin_voltages(
        self, board: int, chip: _Chip, pull: bool | None, conversion_s: float = 0.0
    ) -> list[float]:
        """Sense input voltages C0..Cmax relative to C0, with open wires applied."""
        n_used = self._cells_used[board]
        cells = list(self._afe.cell_inputs_v(board))[:n_used]
        cells += [0.0] * (n_used - len(cells))
        pins = [0.0]
        for v in cells:
            pins.append(pins[-1] + v)
        opened = self._afe.open_wires(board)
        for k in [k for k in chip.pin_state if k not in opened]:
            del chip.pin_state[k]  # wire reconnected: its capacitor follows the cell again
        if opened:
            connected = [k for k in range(n_used + 1) if k not in opened]
            true = list(pins)
            for k in sorted(opened):
                if not 0 <= k <= n_used:
                    continue
                above = [c for c in connected if c > k]
                below = [c for c in connected if c < k]
                lo = true[below[-1]] if below else 0.0
                hi = true[above[0]] if above else true[n_used]
                if pull is None:
                    if 0 < k < n_used:  # floating input: settles between its neighbours
                        pins[k] = 0.5 * (lo + hi)
                        chip.pin_state[k] = pins[k]
                    continue
                # ADOW: the 100 µA source moves the filter capacitor by I·t/C per conversion
                # towards the rail it is pulled to (the next connected input; C0/top: held).
                if pull and k >= n_used:
                    hi = true[n_used]  # the top input is pulled towards V+, i.e. the true top
                if not pull and k == 0:
                    lo = 0.0  # C0 is pulled towards V-, i.e. its true potential
                v = chip.pin_state.get(k, true[k])
                step = _ADOW_CURRENT_A * conversion_s / OPEN_WIRE_FILTER_F
                v = min(hi, v + step) if pull else max(lo, v - step)
                chip.pin_state[k] = v
                pins[k] = v
        top = pins[n_used]
        pins += [top] * (chip.info.cells - n_used)  # unused inputs tied to the top cell
        return pins

    def _convert_cells(
        self, board: int, chip: _Chip, dcp: bool, pull: bool | None, conversion_s: float = 0.0
    ) -> Callable[[], None]:
        if not dcp:
            self._apply_discharge(board, chip, paused=True)
        pins = self._pin_voltages(board, chip, pull, conversion_s)
        if not dcp:
            self._apply_discharge(board, chip, paused=False)
        codes = [v_to_code(pins[k + 1] - pins[k]) for k in range(chip.info.cells)]
        slots = _groups_of_codes(codes)
        cfg = chip.config()
        uv_code = (cfg.vuv_code + 1) * 16
        ov_code = cfg.vov_code * 16
        uv = ov = 0
        for k, c in enumerate(codes):
            uv |= (c < uv_code) << k
            ov |= (c > ov_code) << k
        pairs = 0
        for k in range(12, chip.info.cells):
            pairs |= ((uv >> k) & 1) << (2 * (k - 12)) | ((ov >> k) & 1) << (2 * (k - 12) + 1)
        hi_flags = bytes((pairs & 0xFF, (pairs >> 8) & 0xFF, pairs >> 16))
        uv &= 0xFFF
        ov &= 0xFFF

        def commit() -> None:
            chip.cell_slots = slots
            chip.hi_flags = hi_flags
            chip.flags = StatusFlags(uv, ov, chip.flags.thsd, chip.flags.muxfail, chip.flags.rev)
            chip.refresh_stat_b()

        return commit

    def _convert_aux(self, board: int, chip: _Chip) -> Callable[[], None]:
        gpios = list(self._afe.gpio_inputs_v(board))[: chip.info.gpios]
        gpios += [0.0] * (chip.info.gpios - len(gpios))
        pulldown_off = chip.config().gpio_pulldown_off
        codes = [v_to_code(v) if (pulldown_off >> k) & 1 else 0 for k, v in enumerate(gpios)]
        ref = v_to_code(chip.ref2_v)
        layout = [codes[0], codes[1], codes[2], codes[3], codes[4], ref]
        if chip.info.aux_groups > 2:
            layout += [codes[5], codes[6], codes[7], codes[8], 0, 0]
        slots = _groups_of_codes(layout)

        def commit() -> None:
            chip.aux_slots = slots

        return commit

    def _convert_status(self, board: int, chip: _Chip) -> Callable[[], None]:
        cells = list(self._afe.cell_inputs_v(board))[: self._cells_used[board]]
        sc_code = min(0xFFFE, int(sum(cells) / (LSB_V * chip.info.sc_scale) + 0.5))
        temp_c = self._afe.die_temperature_c(board)
        itmp = c_to_itmp_code(temp_c)
        va = v_to_code(chip.va_v)
        slot_a = _slot(bytes((sc_code & 0xFF, sc_code >> 8, itmp & 0xFF, itmp >> 8, va & 0xFF, va >> 8)))
        thsd = temp_c > THSD_C

        def commit() -> None:
            chip.stat_a_slot = slot_a
            chip.vd_code = v_to_code(chip.vd_v)
            flags = chip.flags
            chip.flags = StatusFlags(flags.uv_mask, flags.ov_mask, thsd or flags.thsd, flags.muxfail, flags.rev)
            chip.refresh_stat_b()

        return commit
