"""``LTC681xChain``: the host side of an LTC6811/LTC6813 isoSPI daisy chain.

Synchronous and never sleeping: ``start_*`` methods send the conversion command and return the
time the caller must wait (on its own clock) before reading; ``adc_done`` polls PLADC. Board 0 is
the chip nearest the host (the bottom of the stack): read replies arrive board 0 first, write data
is sent top board first (protocols.md 4.1).

Speed matters: a 255-cell chain is read every cycle on a Raspberry Pi, so the read path unpacks a
whole reply with one precompiled ``struct`` call per byte order and checks each board's PEC with
three table look-ups (``pec.PEC_TABLE16``); command frames are prebuilt in ``commands``.

Failures are explicit: a register group whose PEC still fails after ``pec_retries`` re-reads gives
NaN for its values and ``ok = False`` for that board — never the previous value.

As the manufacturer's reference does (Linduino LTC681x: ``wakeup_idle`` before every command
group), every burst starts with an isoSPI idle wake (``wake_before_burst``): a Pi thread that is
a few ms late would otherwise find the port idle and lose the frame. Conversion waits include
tREFUP whenever the reference may be off (first conversion, after a watchdog reset).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, Literal, TypeVar, overload

from bmsgateway.hal.interfaces import SpiTransport
from bmsgateway.hal.ltc681x import commands as cmd
from bmsgateway.hal.ltc681x.chips import ChipInfo, chip_info
from bmsgateway.hal.ltc681x.commands import AdcMode, Conversion
from bmsgateway.hal.ltc681x.pec import PEC_TABLE16, append_pec, check_pec
from bmsgateway.hal.ltc681x.registers import (
    CLEARED_CODE,
    LSB_V,
    ConfigRegisters,
    StatusFlags,
    StatusReading,
    decode_config,
    decode_status_a,
    decode_status_b,
    encode_cfga,
    encode_cfgb,
)

__all__ = ["OPEN_WIRE_THRESHOLD_V", "ChainError", "ChainRead", "LTC681xChain", "detect_open_wires"]

T = TypeVar("T")
_Codes = tuple[int, int, int]
NAN = math.nan
_SEED_INDEX = 16 << 1  # (PEC seed << 1), XORed with the first data word
#: Datasheet open-wire criterion: cell n+1 reads this much lower with pull-up than with pull-down.
OPEN_WIRE_THRESHOLD_V = -0.4
_ZERO_V = 0.5 * LSB_V  # "reads 0.0000 V": below half an LSB
_CLOCK_MARGIN = 1.02
_CODES_PER_V = 10_000.0  # dividing (not multiplying by 1e-4) gives 3.3, not 3.3000000000000003


def _split_pairs(pairs: int) -> tuple[int, int]:
    """LTC6813 aux D C13..C18 flag pairs (UV bit 2k, OV bit 2k+1) -> (uv, ov) masks, bit 12 = cell 13."""
    uv = ov = 0
    for k in range(6):
        uv |= ((pairs >> (2 * k)) & 1) << (12 + k)
        ov |= ((pairs >> (2 * k + 1)) & 1) << (12 + k)
    return uv, ov


#: ``_split_pairs`` of every 12-bit value: the aux D read decodes a flag word per board per cycle.
_PAIRS_TABLE: tuple[tuple[int, int], ...] = tuple(_split_pairs(p) for p in range(1 << 12))


class ChainError(RuntimeError):
    """The chain does not answer at all (wrong SPI mode/speed, wiring): a start-up error."""


@dataclass(frozen=True, slots=True)
class ChainRead(Generic[T]):
    """One value per board (board 0 = nearest the host) and whether that board read cleanly."""

    values: list[T]
    ok: list[bool]


# Aux register slots per chip: for group A..D the output index of each of its 3 codes (-1 = unused).
# Output order is GPIO1..n then REF2.
_AUX_SLOTS: dict[str, tuple[tuple[int, int, int], ...]] = {
    "LTC6811": ((0, 1, 2), (3, 4, 5)),
    "LTC6813": ((0, 1, 2), (3, 4, 9), (5, 6, 7), (8, -1, -1)),
}


class LTC681xChain:
    """Driver for a daisy chain of LTC6811/LTC6813 boards behind one ``SpiTransport``."""

    def __init__(
        self,
        transport: SpiTransport,
        chips: Sequence[str],
        pec_retries: int = 2,
        wake_before_burst: bool = True,
    ) -> None:
        if not chips:
            raise ValueError("a chain needs at least one board")
        if pec_retries < 0:
            raise ValueError(f"pec_retries must be >= 0, got {pec_retries}")
        self._transport = transport
        self._infos: tuple[ChipInfo, ...] = tuple(chip_info(c) for c in chips)
        self.chips: tuple[str, ...] = tuple(i.name for i in self._infos)
        self.n_boards = len(self._infos)
        self.pec_retries = pec_retries
        #: Cumulative failed read attempts (PEC mismatch or short reply) per board.
        self.pec_errors: list[int] = [0] * self.n_boards
        self._configs: list[ConfigRegisters] = [ConfigRegisters() for _ in self._infos]
        self._cfg_frames: tuple[bytes, ...] = ()  #: the WRCFGA/B frames of ``_configs``
        self._any_cfgb = any(i.has_cfgb for i in self._infos)
        n = self.n_boards
        self._read_pad = b"\xff" * (8 * n)
        self._be = struct.Struct(f">{4 * n}H")
        self._le = struct.Struct(f"<{4 * n}H")
        max_cell_groups = max(i.cell_groups for i in self._infos)
        self._cell_boards = [
            [b for b, i in enumerate(self._infos) if i.cell_groups > g] for g in range(max_cell_groups)
        ]
        max_aux_groups = max(i.aux_groups for i in self._infos)
        self._aux_boards = [[b for b, i in enumerate(self._infos) if i.aux_groups > g] for g in range(max_aux_groups)]
        self._aux_slots = [_AUX_SLOTS[i.name] for i in self._infos]
        #: per board and aux group: (value slot, code index) of the codes that carry a voltage
        self._aux_used = [
            [tuple((slot, k) for k, slot in enumerate(group) if slot >= 0) for group in slots]
            for slots in self._aux_slots
        ]
        self._cfgb_boards = [b for b, i in enumerate(self._infos) if i.has_cfgb]
        self._all_boards = list(range(n))
        self._time_cache: dict[tuple[Conversion, AdcMode], float] = {}
        #: Send an isoSPI idle wake before every burst (the reference's ``wakeup_idle``).
        self.wake_before_burst = wake_before_burst
        self._wake_idle_fn = getattr(transport, "wakeup_idle", None) or transport.wakeup
        #: False while a chip's reference may be off: the next conversion then needs tREFUP.
        self._ref_up = False
        #: LTC6813 C13..C18 compare flags from the last aux read: (uv, ov) masks with bit 12 =
        #: cell 13, or None (LTC6811, failed read, or no cell conversion since the clear).
        self.high_cell_flags: list[tuple[int, int] | None] = [None] * self.n_boards

    # ------------------------------------------------------------------ chain facts

    def channels(self, board: int) -> int:
        """Cell input channels of ``board`` (12 for an LTC6811, 18 for an LTC6813)."""
        return self._infos[board].cells

    def gpios(self, board: int) -> int:
        """GPIO inputs of ``board`` (5 or 9); ``read_aux_voltages`` gives these plus REF2."""
        return self._infos[board].gpios

    @property
    def configs(self) -> tuple[ConfigRegisters, ...]:
        """The configuration last written (what ``set_discharge`` builds on)."""
        return tuple(self._configs)

    # ------------------------------------------------------------------ low level

    def wakeup(self) -> None:
        """Wake every chip from SLEEP (long CS pulses, ``wakeup_sleep``); also readies isoSPI."""
        self._transport.wakeup(self.n_boards)

    def wake_idle(self) -> None:
        """Ready the isoSPI ports (a dummy byte per device, ``wakeup_idle``); cores stay as they are."""
        self._wake_idle_fn(self.n_boards)

    def _xfer(self, tx: bytes) -> bytes:
        if self.wake_before_burst:
            self._wake_idle_fn(self.n_boards)
        return self._transport.transfer(tx)

    def _command(self, code: int) -> None:
        self._xfer(cmd.frame(code))

    def _write(self, code: int, payloads: Sequence[bytes]) -> None:
        """Write one 6-byte payload per board; the top board's slot goes out first."""
        self._xfer(self._write_frame(code, payloads))

    @staticmethod
    def _write_frame(code: int, payloads: Sequence[bytes]) -> bytes:
        parts = [cmd.frame(code)]
        parts.extend(append_pec(p) for p in reversed(payloads))
        return b"".join(parts)

    @overload
    def _read(self, code: int, boards: Sequence[int], raw: Literal[False]) -> list[_Codes | None]: ...
    @overload
    def _read(self, code: int, boards: Sequence[int], raw: Literal[True]) -> list[bytes | None]: ...
    def _read(self, code: int, boards: Sequence[int], raw: bool) -> list[Any]:
        """Read one register group; per board its 3 LE codes (or 6 raw bytes), None if PEC failed.

        Boards not in ``boards`` (chips without this group) are neither checked nor counted.
        Failing boards are re-read up to ``pec_retries`` times; boards already good keep their data.
        """
        tx = cmd.frame(code) + self._read_pad
        results: list[Any] = [None] * self.n_boards
        pending = list(boards)
        tab = PEC_TABLE16
        errors = self.pec_errors
        for _attempt in range(self.pec_retries + 1):
            rx = self._xfer(tx)
            if len(rx) != len(tx):
                for b in pending:
                    errors[b] += 1
                continue
            be = self._be.unpack_from(rx, 4)
            le = None if raw else self._le.unpack_from(rx, 4)
            still: list[int] = []
            for b in pending:
                i = b << 2
                rem = tab[_SEED_INDEX ^ be[i]]
                rem = tab[(rem << 1) ^ be[i + 1]]
                rem = tab[(rem << 1) ^ be[i + 2]]
                if (rem << 1) == be[i + 3]:
                    if le is None:
                        start = 4 + (b << 3)
                        results[b] = rx[start : start + 6]
                    else:
                        results[b] = (le[i], le[i + 1], le[i + 2])
                else:
                    errors[b] += 1
                    still.append(b)
            pending = still
            if not pending:
                break
        return results

    # ------------------------------------------------------------------ configuration

    def write_config(self, cfgs: Sequence[ConfigRegisters]) -> None:
        """Write CFGRA (and CFGRB when the chain has an LTC6813) of every board; cache them."""
        if len(cfgs) != self.n_boards:
            raise ValueError(f"need {self.n_boards} configurations, got {len(cfgs)}")
        if list(cfgs) == self._configs and self._cfg_frames:
            # The same registers as last time (every cycle rewrites them for the watchdog): the
            # same bytes, without encoding and PEC-ing them again.
            for frame in self._cfg_frames:
                self._xfer(frame)
            return
        frames = [self._write_frame(cmd.WRCFGA, [encode_cfga(c) for c in cfgs])]
        if self._any_cfgb:
            frames.append(self._write_frame(cmd.WRCFGB, [encode_cfgb(c) for c in cfgs]))
        for frame in frames:
            self._xfer(frame)
        if any(c.refon != old.refon for c, old in zip(cfgs, self._configs, strict=True)):
            self._ref_up = False
        self._configs = list(cfgs)
        self._cfg_frames = tuple(frames)
        self._time_cache.clear()

    def config_mismatches(self) -> ChainRead[bool]:
        """Read the configuration back; value True for a board whose chip lost what was written.

        Compared: REFON, ADCOPT, VUV, VOV, DCC and DCTO (DTEN/MUTE are read-only, GPIO bits read
        the pin levels). A mismatch means a watchdog/sleep reset (or a corrupted write): the
        caller rewrites the configuration, and the reference is off again.
        """
        read = self.read_config()
        out: list[bool] = []
        for got, want, ok in zip(read.values, self._configs, read.ok, strict=True):
            if not ok or got is None:
                out.append(False)
                continue
            out.append(
                (got.refon, got.adcopt, got.vuv_code, got.vov_code, got.dcc, got.dcto)
                != (want.refon, want.adcopt, want.vuv_code, want.vov_code, want.dcc, want.dcto)
            )
        if any(out):
            self._ref_up = False
        return ChainRead(out, read.ok)

    def reference_lost(self) -> None:
        """The chips may have reset (sleep): the next conversion waits tREFUP again."""
        self._ref_up = False

    def check_answers(self) -> None:
        """Start-up check: raise ``ChainError`` naming the first board that does not answer."""
        read = self.read_config()
        if not read.ok[0]:
            raise ChainError("no answer from board 1: check SPI mode/speed and wiring")
        for b, ok in enumerate(read.ok):
            if not ok:
                raise ChainError(
                    f"no answer from board {b + 1} (boards 1..{b} answer): check the isoSPI link "
                    f"between board {b} and board {b + 1}, and the configured chip types"
                )

    def probe_beyond(self) -> bool:
        """Read one slot beyond the configured chain: True if a board answers there.

        An answering extra board is a board nobody monitors (configuration fault).
        """
        n = self.n_boards
        tx = cmd.frame(cmd.RDCFGA) + b"\xff" * (8 * (n + 1))
        rx = self._xfer(tx)
        if len(rx) != len(tx):
            return False
        slot = rx[4 + 8 * n : 4 + 8 * (n + 1)]
        return slot != b"\xff" * 8 and check_pec(slot)

    def chip_type_mismatches(self) -> list[str]:
        """Boards whose configuration register group B answer contradicts the configured chip."""
        tx = cmd.frame(cmd.RDCFGB) + self._read_pad
        rx = self._xfer(tx)
        a = self._read(cmd.RDCFGA, self._all_boards, raw=True)
        problems: list[str] = []
        if len(rx) != len(tx):
            return problems
        for b, info in enumerate(self._infos):
            if a[b] is None:
                continue  # this board does not answer at all: communication, not type
            slot = rx[4 + 8 * b : 12 + 8 * b]
            answers_b = slot != b"\xff" * 8 and check_pec(slot)
            if info.has_cfgb and not answers_b:
                problems.append(f"board {b + 1}: configured {info.name} but it has no CFGB (an LTC6811?)")
            elif not info.has_cfgb and answers_b:
                problems.append(f"board {b + 1}: configured {info.name} but it answers RDCFGB (an LTC6813?)")
        return problems
    def read_config(self) -> ChainRead[ConfigRegisters | None]:
        """Read the configuration back (None and ok = False for a board whose read failed)."""
        a = self._read(cmd.RDCFGA, self._all_boards, raw=True)
        b = self._read(cmd.RDCFGB, self._cfgb_boards, raw=True) if self._cfgb_boards else None
        values: list[ConfigRegisters | None] = []
        ok: list[bool] = []
        for board, info in enumerate(self._infos):
            ra = a[board]
            rb = b[board] if (b is not None and info.has_cfgb) else None
            good = ra is not None and (not info.has_cfgb or rb is not None)
            if good and ra is not None:
                values.append(decode_config(ra, rb))
            else:
                values.append(None)
            ok.append(good)
        return ChainRead(values, ok)

    def set_discharge(self, masks: Sequence[int]) -> None:
        """Set the discharge (balancing) switches: one mask per board, bit 0 = cell 1.

        The rest of the last written configuration is kept. Rewrite it at least every ~2 s: the
        chips' watchdog clears the DCC bits when no valid command arrives for 2 s.
        """
        if len(masks) != self.n_boards:
            raise ValueError(f"need {self.n_boards} discharge masks, got {len(masks)}")
        new = []
        for board, (mask, cfg) in enumerate(zip(masks, self._configs, strict=True)):
            if mask < 0 or mask >> self._infos[board].cells:
                raise ValueError(f"board {board}: discharge mask {mask:#x} exceeds its channels")
            new.append(replace(cfg, dcc=mask))
        self.write_config(new)

    # ------------------------------------------------------------------ conversions

    def _conversion_time_s(self, kind: Conversion, mode: AdcMode) -> float:
        key = (kind, mode)
        t = self._time_cache.get(key)
        if t is None:
            # + 2 %: the chips' ADC clock tolerance (U), so the first PLADC poll usually finds
            # the conversion done; polling still decides.
            t = _CLOCK_MARGIN * max(
                cmd.conversion_time_s(kind, i.name, mode, c.adcopt)
                for i, c in zip(self._infos, self._configs, strict=True)
            )
            self._time_cache[key] = t
        if not self._ref_up:
            t += cmd.T_REFUP_S
            self._ref_up = all(c.refon for c in self._configs)
        return t

    def start_cell_conversion(self, mode: AdcMode = AdcMode.NORMAL, discharge_permitted: bool = False) -> float:
        """ADCV on all cells; returns the seconds to wait before ``read_cell_voltages``.

        With ``discharge_permitted`` False (DCP = 0) the chips pause balancing during the
        conversion, so the reading is not lowered by the balance current.
        """
        self._command(cmd.adcv_code(mode, discharge_permitted))
        return self._conversion_time_s(Conversion.CELLS, mode)

    def start_aux_conversion(self, mode: AdcMode = AdcMode.NORMAL) -> float:
        """ADAX on all GPIOs and REF2; returns the seconds to wait before ``read_aux_voltages``."""
        self._command(cmd.adax_code(mode))
        return self._conversion_time_s(Conversion.AUX, mode)

    def start_status_conversion(self, mode: AdcMode = AdcMode.NORMAL) -> float:
        """ADSTAT (SC, ITMP, VA, VD); returns the seconds to wait before ``read_status``."""
        self._command(cmd.adstat_code(mode))
        return self._conversion_time_s(Conversion.STATUS, mode)

    def start_open_wire(self, pull_up: bool, mode: AdcMode = AdcMode.NORMAL) -> float:
        """ADOW with pull-up or pull-down currents; results land in the cell registers.

        Procedure (Linduino ``LTC681x_run_openwire_multi``): CLRCELL, then 5 × (ADOW pull-up,
        poll), read; CLRCELL, 5 × (ADOW pull-down, poll), read; ``detect_open_wires``. The sense
        filter capacitors need repeated 100 µA pulls before an open input moves 400 mV: the
        reference uses the 26 Hz/2 kHz mode; faster modes need more repetitions.
        """
        self._command(cmd.adow_code(pull_up, mode))
        return self._conversion_time_s(Conversion.CELLS, mode)

    def adc_done(self) -> bool:
        """PLADC poll: True once every chip has finished its conversion."""
        tx = cmd.frame(cmd.PLADC) + b"\xff"
        rx = self._xfer(tx)
        return len(rx) == len(tx) and rx[4] != 0

    def wait_done(
        self, advance: Callable[[float], None], nominal_s: float, timeout_s: float, step_s: float = 2e-4
    ) -> bool:
        """Blocking wait for a conversion: ``advance(nominal_s)``, then poll PLADC every ``step_s``
        until done; False if ``timeout_s`` (from the command) passed first. For synchronous
        callers (tests, benchmarks); the sampler does the same on its async clock."""
        advance(nominal_s)
        waited = nominal_s
        while not self.adc_done():
            if waited >= timeout_s:
                return False
            advance(step_s)
            waited += step_s
        return True

    def open_wire_readings(
        self, advance: Callable[[float], None], repetitions: int = 5, mode: AdcMode = AdcMode.NORMAL,
        timeout_s: float = 0.5,
    ) -> tuple[ChainRead[list[float]], ChainRead[list[float]]]:
        """The reference open-wire procedure, blocking: CLRCELL, ``repetitions`` × ADOW pull-up
        (each polled to completion), read; the same with pull-down. Returns (pull-up, pull-down)."""
        out = []
        for pull_up in (True, False):
            self.clear_cells()
            for _ in range(repetitions):
                self.wait_done(advance, self.start_open_wire(pull_up, mode), timeout_s)
            out.append(self.read_cell_voltages())
        return out[0], out[1]

    def start_self_test(self, cells: bool, mode: AdcMode = AdcMode.NORMAL, st: int = 1) -> float:
        """CVST (``cells``) or AXST: the ADCs convert a known pattern; returns the nominal wait."""
        self._command(cmd.cvst_code(mode, st) if cells else cmd.axst_code(mode, st))
        return self._conversion_time_s(Conversion.CELLS if cells else Conversion.AUX, mode)

    def self_test_failures(self, cells: bool, mode: AdcMode = AdcMode.NORMAL, st: int = 1) -> ChainRead[bool]:
        """Read the registers after ``start_self_test``: True for a board whose codes are wrong."""
        groups = self._cell_boards if cells else self._aux_boards
        codes = cmd.RDCV if cells else cmd.RDAUX
        bad = [False] * self.n_boards
        ok = [True] * self.n_boards
        for g, boards in enumerate(groups):
            results = self._read(codes[g], boards, raw=False)
            for b in boards:
                r = results[b]
                if r is None:
                    ok[b] = False
                    continue
                want = cmd.self_test_code(st, mode, self._configs[b].adcopt)
                used = (r[0],) if (not cells and self._infos[b].name == "LTC6813" and g == 3) else r
                if any(c != want for c in used):
                    bad[b] = True
        return ChainRead(bad, ok)

    def start_mux_diagnostic(self) -> float:
        """DIAGN: the multiplexer self test; MUXFAIL in status B afterwards."""
        self._command(cmd.DIAGN)
        return cmd.T_DIAGN_S

    def clear_cells(self) -> None:
        """CLRCELL: cell registers read 0xFFFF (NaN) until the next conversion completes."""
        self._command(cmd.CLRCELL)

    def clear_aux(self) -> None:
        """CLRAUX: aux registers read 0xFFFF (NaN) until the next conversion completes."""
        self._command(cmd.CLRAUX)

    def clear_status(self) -> None:
        """CLRSTAT: status registers read 0xFFFF (NaN) until the next conversion completes."""
        self._command(cmd.CLRSTAT)

    # ------------------------------------------------------------------ reads

    def read_cell_voltages(self) -> ChainRead[list[float]]:
        """Every board's channel voltages in volts (12 or 18, channel 1 first).

        A group that fails its PEC after the retries gives NaN for its 3 channels and ok = False.
        A cleared register (0xFFFF: no conversion since CLRCELL/power-on) also reads NaN.
        """
        values = [[NAN] * i.cells for i in self._infos]
        ok = [True] * self.n_boards
        per_v = _CODES_PER_V
        cleared = CLEARED_CODE
        for g, boards in enumerate(self._cell_boards):
            results = self._read(cmd.RDCV[g], boards, raw=False)
            base = 3 * g
            for b in boards:
                r = results[b]
                if r is None:
                    ok[b] = False
                    continue
                c0, c1, c2 = r
                vals = values[b]
                vals[base] = NAN if c0 == cleared else c0 / per_v
                vals[base + 1] = NAN if c1 == cleared else c1 / per_v
                vals[base + 2] = NAN if c2 == cleared else c2 / per_v
        return ChainRead(values, ok)

    def read_aux_voltages(self) -> ChainRead[list[float]]:
        """Every board's GPIO1..n voltages then REF2, in volts (6 values or 10)."""
        values = [[NAN] * (i.gpios + 1) for i in self._infos]
        ok = [True] * self.n_boards
        per_v = _CODES_PER_V
        cleared = CLEARED_CODE
        for g, boards in enumerate(self._aux_boards):
            results = self._read(cmd.RDAUX[g], boards, raw=False)
            for b in boards:
                r = results[b]
                if r is None:
                    ok[b] = False
                    if g == 3:
                        self.high_cell_flags[b] = None
                    continue
                vals = values[b]
                for slot, k in self._aux_used[b][g]:
                    code = r[k]
                    vals[slot] = NAN if code == cleared else code / per_v
                if g == 3:  # LTC6813 aux D: bytes 2-4 hold the C13..C18 UV/OV pairs
                    pairs = r[1] | ((r[2] & 0xFF) << 16)
                    if pairs == 0xFFFFFF:
                        self.high_cell_flags[b] = None  # cleared, no cell conversion since
                    else:
                        self.high_cell_flags[b] = _PAIRS_TABLE[pairs & 0xFFF]
        return ChainRead(values, ok)

    def read_status(self) -> ChainRead[StatusReading]:
        """Sum of cells, die temperature, VA, VD and flags of every board (NaN where a group failed)."""
        a = self._read(cmd.RDSTATA, self._all_boards, raw=True)
        b = self._read(cmd.RDSTATB, self._all_boards, raw=True)
        values: list[StatusReading] = []
        ok: list[bool] = []
        for board, info in enumerate(self._infos):
            ra, rb = a[board], b[board]
            sc_v = temp_c = va_v = vd_v = NAN
            flags = StatusFlags()
            if ra is not None:
                sc_v, temp_c, va_v = decode_status_a(ra, info.sc_scale)
            if rb is not None:
                vd_v, flags = decode_status_b(rb)
            values.append(StatusReading(sc_v, temp_c, va_v, vd_v, flags))
            ok.append(ra is not None and rb is not None)
        return ChainRead(values, ok)

    @staticmethod
    def detect_open_wires(
        pull_up: Sequence[Sequence[float]], pull_down: Sequence[Sequence[float]], cells_used: Sequence[int]
    ) -> list[list[int]]:
        """Same as the module function ``detect_open_wires`` (kept on the class for convenience)."""
        return detect_open_wires(pull_up, pull_down, cells_used)


def detect_open_wires(
    pull_up: Sequence[Sequence[float]], pull_down: Sequence[Sequence[float]], cells_used: Sequence[int]
) -> list[list[int]]:
    """Open sense wires per board from one pull-up and one pull-down ADOW reading (datasheet method).

    With N cells used on a board: wire Cn (0 <= n < N) is open if cell n+1 reads more than 0.4 V
    lower with pull-up than with pull-down (C0 also if cell 1 reads 0 V with pull-up); the top
    wire CN is open if cell N reads more than 0.4 V higher with pull-up, or 0 V with pull-down.
    Returns board-local sense input numbers (0..N), ascending. NaN readings never report a wire as open.
    """
    result: list[list[int]] = []
    for pu, pd, n_cells in zip(pull_up, pull_down, cells_used, strict=True):
        open_wires: list[int] = []
        if n_cells > 0:
            # Wire C(n) open (n < N): cell n+1 reads >= 400 mV lower with pull-up than with
            # pull-down; for C0 also "cell 1 reads 0 V with pull-up" (a strong pull).
            for n in range(n_cells):
                if pu[n] - pd[n] < OPEN_WIRE_THRESHOLD_V or (n == 0 and 0.0 <= pu[0] < _ZERO_V):
                    open_wires.append(n)
            top = n_cells - 1
            # Top wire: cell N reads >= 400 mV higher with pull-up, or 0 V with pull-down.
            if pu[top] - pd[top] > -OPEN_WIRE_THRESHOLD_V or 0.0 <= pd[top] < _ZERO_V:
                open_wires.append(n_cells)
        result.append(open_wires)
    return result
