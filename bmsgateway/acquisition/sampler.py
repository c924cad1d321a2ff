"""One acquisition cycle: trigger conversions, read every board, build a ``Measurement``.

Why it is shaped this way:

* The driver never sleeps; this module waits each conversion time on the injected clock, so the
  same code runs on hardware (real time) and in simulation (faster than real time).
* Balancing bits are written before the cell conversion with DCP = 0, so the chips pause the
  bleed current while they measure and it does not distort the readings.
* A value that failed its PEC after the driver's retries is NaN in the Measurement, and its age
  keeps growing; it is never replaced by the last good value (fail safe).
* On real hardware the blocking SPI transfers run in a worker thread (``offload=True``) so the
  event loop stays responsive; in simulation they run inline (cheaper, deterministic).
* A register that was not converted this cycle must never be read as fresh: every conversion is
  preceded by CLRCELL/CLRAUX(/CLRSTAT) so a lost command reads 0xFFFF (NaN), completion is polled
  (PLADC) with a bounded timeout that becomes a board ADC fault, the self tests run on an
  interval, and a board whose every channel repeats exactly for ``stale_conversions`` conversions
  while current flows is stale (a frozen ADC). Such a board's values are NaN this cycle.
* The configuration (REFON = 1 as the reference does, VUV/VOV from the fault thresholds, DCC) is
  written every cycle and read back: a mismatch means the chip slept/reset, and is counted.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Sequence
from functools import partial
from typing import TypeVar

from bmsgateway.acquisition.current import CurrentReading, CurrentSensors
from bmsgateway.clock import Clock
from bmsgateway.config.model import Config
from bmsgateway.hal.interfaces import BusVoltageSensor
from bmsgateway.hal.ltc681x.commands import AdcMode
from bmsgateway.hal.ltc681x.driver import LTC681xChain, detect_open_wires
from bmsgateway.hal.ltc681x.registers import ConfigRegisters, overvoltage_code, undervoltage_code
from bmsgateway.hal.thermistor import voltage_to_temperature_c
from bmsgateway.state import BoardHealth, Measurement

__all__ = ["Acquisition"]

_POLL_STEP_S = 0.5e-3  #: PLADC poll period after the nominal conversion time
_VA_RANGE_V = (4.5, 5.5)  #: analog supply VREG window (U: LTC6811 VREG 4.5..5.5 V)
_VD_RANGE_V = (2.7, 3.6)  #: digital supply VREGD window (U: LTC6811 datasheet)
_REF2_RANGE_V = (2.985, 3.015)  #: second reference 3.0 V ± 0.5 % (U: LTC6811 V_REF2 limits)
_OW_MODES = {"fast": AdcMode.FAST, "normal": AdcMode.NORMAL, "filtered": AdcMode.FILTERED}

NAN = math.nan
INF = math.inf
T = TypeVar("T")


class Acquisition:
    """Owns the per-value ages, PEC health per board and the current sensors' calibration (zero
    offsets, gain) and range state."""

    def __init__(
        self,
        config: Config,
        chain: LTC681xChain,
        clock: Clock,
        bus: BusVoltageSensor | None = None,
        offload: bool = False,
        zero_offset_a: float = 0.0,
        gain: float = 1.0,
        consumer_zero_offset_a: float = 0.0,
    ) -> None:
        self._chain = chain
        self._clock = clock
        self._bus = bus
        self._offload = offload
        self.zero_offset_a = zero_offset_a
        #: gain factor of ``hardware.current_sensor`` (gain calibration with a reference current)
        self.gain = gain if math.isfinite(gain) and gain > 0 else 1.0
        self.consumer_zero_offset_a = consumer_zero_offset_a
        self._reading = CurrentReading(battery_a=NAN)
        self._last_status_s = -INF
        self._last_open_wire_s = -INF
        self._raw_current_a = NAN
        self.apply_config(config)
        n_cells = config.pack.cell_count
        n_temps = config.pack.thermistor_count
        self._cell_time = [-INF] * n_cells
        self._temp_time = [-INF] * n_temps
        self._current_time = -INF
        self._failed_cycles = [0] * len(config.pack.boards)
        self._last_ok = [-INF] * len(config.pack.boards)
        self._die_c = [NAN] * len(config.pack.boards)
        self._sc_v = [NAN] * len(config.pack.boards)
        self._sc_time = [-INF] * len(config.pack.boards)  #: when each board's SC was last read
        self._open_local: list[tuple[int, ...]] = [() for _ in config.pack.boards]
        nb = len(config.pack.boards)
        self._started = False
        self._timed_out = False
        self._last_self_test_s = -INF
        self._last_probe_s = -INF
        self._self_test_bad: list[str] = [""] * nb  #: sticky until the next passing self test
        self._status_bad: list[str] = [""] * nb
        self._prev_codes: list[tuple[float, ...] | None] = [None] * nb
        self._same_count = [0] * nb
        self._config_resets = [0] * nb
        self._chain_faults: tuple[str, ...] = ()
        self._chip_flags: list[tuple[int, int]] = [(0, 0)] * nb  #: (uv, ov) from the last status read
        self._cfg_key: tuple[int, ...] = ()
        self._cfgs: list[ConfigRegisters] = []

    def apply_config(self, config: Config) -> None:
        """Take a new config (topology must not change at run time; limits and intervals may)."""
        boards = config.pack.boards
        self._cells_used = [b.cells for b in boards]
        self._therms = [b.thermistors for b in boards]
        self._cell_offset = [first for first, _ in config.pack.board_cell_ranges]
        self._temp_board = tuple(i for i, b in enumerate(boards) for _ in range(b.thermistors))
        th = config.pack.thermistor
        self._th = (th.vref_v, th.pullup_ohm, th.r25_ohm, th.beta_k)
        cs = config.hardware.current_sensor
        self._cs = cs
        self._bv = config.hardware.bus_voltage
        self._cs_sign = -1.0 if cs.inverted else 1.0
        self._sensors = CurrentSensors(cs, config.hardware.consumer_current_sensor)
        hw = config.hardware
        self._status_interval_s = hw.status_interval_s
        self._open_wire_interval_s = hw.open_wire_interval_s
        self._hw = hw
        cv = config.protection.cell_voltage
        lim = config.pack.limits
        self._vov_code = overvoltage_code(lim.vmax_v + cv.ov_fault_margin_v)
        self._vuv_code = undervoltage_code(lim.vmin_v - cv.uv_fault_margin_v)

    @property
    def raw_current_a(self) -> float:
        """The last current reading before the zero offset (for zero calibration)."""
        return self._raw_current_a

    @property
    def current_reading(self) -> CurrentReading:
        """The last cycle's currents of every sensor (for the calibrations)."""
        return self._reading

    @property
    def sensors(self) -> CurrentSensors:
        return self._sensors

    def calibrate_zero(self) -> float:
        """Take the present reading as zero (no current must flow); returns the new offset.

        A consumer-side sensor is zeroed with it (the 123\\SmartBMS button zeroes both sensors)."""
        if self._raw_current_a == self._raw_current_a:
            self.zero_offset_a = self._raw_current_a
        craw = self._reading.consumer_raw_a
        if craw == craw:
            self.consumer_zero_offset_a = craw
        return self.zero_offset_a

    def set_gain(self, gain: float) -> None:
        """The gain calibration's result (checked by ``GainCalibrationGuard`` first)."""
        if math.isfinite(gain) and gain > 0:
            self.gain = gain

    async def _call(self, fn: Callable[[], T]) -> T:
        if self._offload:
            return await asyncio.to_thread(fn)
        return fn()

    async def _convert(self, start: Callable[[], float]) -> bool:
        """Start a conversion, wait its nominal time, then poll PLADC; False on timeout."""
        chain = self._chain
        wait_s = await self._call(start)
        await self._clock.sleep(wait_s)
        waited = wait_s
        # Once a conversion timed out in this cycle the chain is known to hang: later waits of the
        # cycle give up after the nominal time instead of stretching the cycle further.
        timeout = wait_s if self._timed_out else max(self._hw.conversion_timeout_s, wait_s)
        while not await self._call(chain.adc_done):
            if waited >= timeout:
                self._timed_out = True
                return False
            await self._clock.sleep(_POLL_STEP_S)
            waited += _POLL_STEP_S
        return True

    def _write_config(self, masks: list[int]) -> None:
        key = (self._vuv_code, self._vov_code, *masks)
        if key != self._cfg_key:  # the same registers every cycle unless balancing changes
            self._cfg_key = key
            self._cfgs = [
                ConfigRegisters(refon=True, vuv_code=self._vuv_code, vov_code=self._vov_code, dcc=m)
                for m in masks
            ]
        self._chain.write_config(self._cfgs)

    async def _self_test(self) -> None:
        """CVST and AXST (pattern 1) and DIAGN; a failing board stays faulted until one passes."""
        chain = self._chain
        bad = [""] * len(self._cells_used)
        for cells in (True, False):
            await self._call(chain.clear_cells if cells else chain.clear_aux)
            done = await self._convert(partial(chain.start_self_test, cells))
            res = await self._call(partial(chain.self_test_failures, cells))
            for b, (wrong, ok) in enumerate(zip(res.values, res.ok, strict=True)):
                if ok and (wrong or not done):
                    bad[b] = bad[b] or "self_test"
        await self._convert(chain.start_mux_diagnostic)
        st = await self._call(chain.read_status)
        for b, (ok, reading) in enumerate(zip(st.ok, st.values, strict=True)):
            if ok and reading.flags.muxfail:
                bad[b] = bad[b] or "muxfail"
        self._self_test_bad = bad

    def _wiring_faults(
        self, values: Sequence[Sequence[float]], ok: Sequence[bool], adc_fault: Sequence[str]
    ) -> tuple[str, ...]:
        """Cells wired vs configured, from this cycle's cell reading.

        Unused inputs are tied to the top cell and read 0 V: a configured cell that reads 0 V while
        the board's other cells read a real voltage is most likely not wired (fewer cells than
        configured); a channel above the configured count that reads a cell voltage means more.
        """
        out: list[str] = []
        for b, used in enumerate(self._cells_used):
            if not ok[b] or adc_fault[b]:
                continue
            chan = values[b]
            real = [v for v in chan[:used] if v == v and v > 1.0]
            if not real:
                continue
            zero = [i + 1 for i, v in enumerate(chan[:used]) if v == v and v < 0.05]
            if zero:
                out.append(
                    f"board {b + 1}: configured cells {zero} read 0 V: fewer cells wired than the "
                    f"configured {used}?"
                )
            above = [i + 1 for i, v in enumerate(chan[used:], start=used) if v == v and v > 0.5]
            if above:
                out.append(
                    f"board {b + 1}: channels {above} above the configured {used} cells read a cell "
                    "voltage: more cells wired than configured"
                )
        return tuple(out)

    async def _probe_chain(self) -> None:
        """One slot beyond the chain, chip types, and cells wired vs configured."""
        chain = self._chain
        faults: list[str] = []
        if await self._call(chain.probe_beyond):
            faults.append(
                f"a board answers beyond the {chain.n_boards} configured: it is not monitored "
                "(add it to [pack] boards)"
            )
        faults.extend(await self._call(chain.chip_type_mismatches))
        self._chain_faults = tuple(faults)

    def _masks(self, balancing: Sequence[bool]) -> list[int]:
        if not any(balancing):
            return [0] * len(self._cells_used)  # the common case: nothing bleeds
        masks = []
        for b, used in enumerate(self._cells_used):
            off = self._cell_offset[b]
            m = 0
            for i in range(used):
                if balancing[off + i]:
                    m |= 1 << i
            masks.append(m)
        return masks

    async def acquire(self, balancing: Sequence[bool] = ()) -> Measurement:
        """Run one cycle of conversions and reads; never raises for a board that does not answer.

        The very first call checks that the chain answers at all and raises ``ChainError``
        ("no answer from board 1: check SPI mode/speed and wiring") if it does not.
        """
        chain = self._chain
        hw = self._hw
        t0 = self._clock.now()
        self._timed_out = False
        await self._call(chain.wakeup)
        masks = self._masks(balancing)
        if not self._started:
            self._started = True
            await self._call(lambda: self._write_config(masks))
            await self._call(chain.check_answers)
        # The configuration is written every cycle (DCC refresh, watchdog) and read back: a chip
        # that lost it slept or reset; it is counted and written again.
        await self._call(lambda: self._write_config(masks))
        status_due = self._status_interval_s > 0 and t0 - self._last_status_s >= self._status_interval_s
        # Read back with the status (1 s by default): the write above already repairs a reset
        # every cycle; the read-back makes it visible and puts tREFUP back into the waits.
        mism = await self._call(chain.config_mismatches) if status_due else None
        if mism is not None and any(mism.values):
            for b, m in enumerate(mism.values):
                if m:
                    self._config_resets[b] += 1
            await self._call(lambda: self._write_config(masks))

        if hw.self_test_interval_s > 0 and t0 - self._last_self_test_s >= hw.self_test_interval_s:
            self._last_self_test_s = t0
            await self._self_test()
        probe = t0 - self._last_probe_s >= hw.chain_probe_interval_s if hw.chain_probe_interval_s > 0 else (
            self._last_probe_s == -INF
        )
        if probe:
            self._last_probe_s = t0
            await self._probe_chain()

        # Clear first: a conversion command that is lost leaves 0xFFFF (NaN), never last cycle's data.
        await self._call(chain.clear_cells)
        await self._call(chain.clear_aux)
        if status_due:
            await self._call(chain.clear_status)
        cells_done = await self._convert(lambda: chain.start_cell_conversion(discharge_permitted=False))
        cells = await self._call(chain.read_cell_voltages)
        aux_done = await self._convert(chain.start_aux_conversion)
        aux = await self._call(chain.read_aux_voltages)
        now = self._clock.now()
        board_ok = [c and a for c, a in zip(cells.ok, aux.ok, strict=True)]

        if status_due:
            self._last_status_s = now
            st_done = await self._convert(chain.start_status_conversion)
            status = await self._call(chain.read_status)
            for b, (ok, st) in enumerate(zip(status.ok, status.values, strict=True)):
                good = ok and st_done
                self._die_c[b] = st.die_temperature_c if good else NAN
                self._sc_v[b] = st.sum_of_cells_v if good else NAN
                if good:
                    self._sc_time[b] = now
                board_ok[b] = board_ok[b] and ok
                reason = ""
                if good and (st.va_v != st.va_v or st.vd_v != st.vd_v):
                    reason = "not_converted"  # still cleared: the flag byte reads 0xFF, meaningless
                elif good:
                    f = st.flags
                    if f.thsd:
                        reason = "thermal_shutdown"
                    elif not (_VA_RANGE_V[0] <= st.va_v <= _VA_RANGE_V[1]) or not (
                        _VD_RANGE_V[0] <= st.vd_v <= _VD_RANGE_V[1]
                    ):
                        reason = "supply"
                    self._chip_flags[b] = (f.uv_mask, f.ov_mask)
                self._status_bad[b] = reason

        # Per-board ADC health of this cycle's conversions.
        adc_fault = [self._self_test_bad[b] or self._status_bad[b] for b in range(len(self._cells_used))]
        cur_raw = self._current_raw(aux.values)
        flowing = cur_raw == cur_raw and abs(cur_raw) >= hw.stale_min_current_a
        clean: set[int] = set()  #: boards whose every channel converted in this cycle
        for b, used in enumerate(self._cells_used):
            if not (cells.ok[b] and aux.ok[b]):
                continue  # a communication problem, handled as such
            chan = cells.values[b][:used]
            gp = aux.values[b]
            total = sum(chan) + sum(gp)  # finite readings or NaN: one NaN makes the sum NaN
            missing = total != total
            if missing:
                adc_fault[b] = adc_fault[b] or ("not_converted" if cells_done and aux_done else "conversion_timeout")
                self._prev_codes[b] = None
                self._same_count[b] = 0
                continue
            clean.add(b)
            ref2 = gp[-1]
            if not _REF2_RANGE_V[0] <= ref2 <= _REF2_RANGE_V[1]:
                adc_fault[b] = adc_fault[b] or "reference"
            codes = (*chan, *gp)
            if flowing and codes == self._prev_codes[b]:
                self._same_count[b] += 1
            elif codes != self._prev_codes[b]:
                self._same_count[b] = 0
            self._prev_codes[b] = codes
            if self._same_count[b] >= hw.stale_conversions:
                adc_fault[b] = adc_fault[b] or "frozen"
        if probe:
            self._chain_faults = self._chain_faults + self._wiring_faults(cells.values, cells.ok, adc_fault)
        if not (cells_done and aux_done) and not any(adc_fault):
            # PLADC never reported done: the boards that still read cleared are the stalled ones;
            # if none can be told apart, every board's results of this cycle are suspect.
            adc_fault = ["conversion_timeout"] * len(adc_fault)

        if (
            self._open_wire_interval_s > 0
            and now - self._last_open_wire_s >= self._open_wire_interval_s
            and not self._timed_out
        ):
            self._last_open_wire_s = now
            await self._open_wire_check(board_ok)

        # cells
        volts: list[float] = []
        cell_time = self._cell_time
        for b, used in enumerate(self._cells_used):
            chan = cells.values[b]
            off = self._cell_offset[b]
            # an open sense wire C_n makes cells n and n+1 (1-based) read wrong: not fresh
            suspect = {c for w in self._open_local[b] for c in (w - 1, w)}
            trusted = not adc_fault[b]
            if trusted and not suspect and b in clean:
                # every channel converted (checked above): all fresh, no per-cell test needed
                volts.extend(chan[:used])
                cell_time[off : off + used] = [t0] * used
                continue
            for i in range(used):
                v = chan[i]
                if trusted and v == v and i not in suspect:
                    cell_time[off + i] = t0
                    volts.append(v)
                else:
                    volts.append(NAN)
        # thermistors and current
        temps: list[float] = []
        k = 0
        _vref_cfg, rpu, r25, beta = self._th
        for b, n in enumerate(self._therms):
            gp = aux.values[b]
            # The divider is fed from REF2: use the REF2 the chip measured this cycle (its
            # range is checked above; a board outside it has an ADC fault and reads NaN).
            vref = gp[-1]
            trusted = not adc_fault[b]
            for g in range(n):
                v = gp[g] if trusted else NAN
                t = voltage_to_temperature_c(v, vref, rpu, r25, beta) if v == v else NAN
                if v == v:
                    self._temp_time[k] = t0  # read fine; an open/shorted NTC is a plausibility fault
                temps.append(t)
                k += 1
        trusted_boards = [not f for f in adc_fault]
        reading = self._sensors.read(aux.values, trusted_boards, self.zero_offset_a, self.gain,
                                     self.consumer_zero_offset_a)
        self._reading = reading
        self._raw_current_a = reading.primary_raw_a
        current = reading.battery_a
        if current == current:
            self._current_time = t0

        boards = []
        pec = chain.pec_errors
        for b, ok in enumerate(board_ok):
            if ok:
                self._failed_cycles[b] = 0
                self._last_ok[b] = t0
            else:
                self._failed_cycles[b] += 1
            boards.append(
                BoardHealth(
                    index=b,
                    chip=chain.chips[b],
                    ok=ok,
                    pec_errors_total=pec[b],
                    failed_cycles=self._failed_cycles[b],
                    last_ok_s=self._last_ok[b],
                    die_temperature_c=self._die_c[b],
                    sum_of_cells_v=self._sc_v[b],
                    open_wires=self._open_local[b],
                    adc_fault=adc_fault[b],
                    config_resets=self._config_resets[b],
                )
            )
        sc = self._sc_v
        measured = math.fsum(sc) if all(x == x for x in sc) else NAN
        open_cells = tuple(
            self._cell_offset[b] + w for b, wires in enumerate(self._open_local) for w in wires
        )
        bus_v = NAN
        if self._bv.enabled:
            # NaN when that board's read failed
            bus_v = aux.values[self._bv.board][self._bv.gpio - 1] * self._bv.divider_ratio
        elif self._bus is not None:
            direct = self._bus.read_bus_voltage_v()
            bus_v = NAN if direct is None else direct
        ov_cells: list[int] = []
        uv_cells: list[int] = []
        hi_flags = chain.high_cell_flags
        for b, used in enumerate(self._cells_used):
            uv, ov = self._chip_flags[b]
            hf = hi_flags[b]
            if hf is not None:
                uv |= hf[0]
                ov |= hf[1]
            if not (uv or ov):
                continue  # the common case: no flag set, nothing to walk
            off = self._cell_offset[b]
            for i in range(used):
                if (ov >> i) & 1:
                    ov_cells.append(off + i)
                if (uv >> i) & 1:
                    uv_cells.append(off + i)
        return Measurement(
            time_s=t0,
            cell_voltages_v=tuple(volts),
            cell_age_s=tuple([t0 - t for t in cell_time]),
            temperatures_c=tuple(temps),
            temperature_age_s=tuple([t0 - t for t in self._temp_time]),
            temperature_board=self._temp_board,
            current_a=current,
            current_age_s=t0 - self._current_time,
            pack_voltage_measured_v=measured,
            boards=tuple(boards),
            open_wire_cells=open_cells,
            bus_voltage_v=bus_v,
            current_zero_offset_a=self.zero_offset_a,
            charger_current_a=reading.charger_a,
            consumer_current_a=reading.consumer_a,
            current_sensor_a=reading.primary_a,
            current_sensor_raw_a=reading.primary_raw_a,
            current_low_range=self._sensors.primary.low_active,
            current_at_rail=reading.at_rail,
            current_gain=self.gain,
            consumer_zero_offset_a=self.consumer_zero_offset_a,
            two_current_sensors=self._sensors.consumer is not None,
            chain_faults=self._chain_faults,
            chip_ov_cells=tuple(ov_cells),
            chip_uv_cells=tuple(uv_cells),
            pack_voltage_measured_age_s=max(0.0, t0 - min(self._sc_time, default=-INF)),
        )

    def _current_raw(self, aux_values: Sequence[Sequence[float]]) -> float:
        cs = self._cs
        v = aux_values[cs.board][cs.gpio - 1]
        return NAN if v != v else self._cs_sign * (v - cs.zero_v) / cs.sensitivity_v_per_a

    async def _open_wire_check(self, board_ok: list[bool]) -> None:
        """The reference procedure: CLRCELL, N × ADOW pull-up (each polled), read; the same with
        pull-down; compare (Linduino ``LTC681x_run_openwire_multi``, datasheet algorithm)."""
        chain = self._chain
        mode = _OW_MODES[self._hw.open_wire_mode]
        reads = []
        for pull_up in (True, False):
            await self._call(chain.clear_cells)
            done = True
            for _ in range(self._hw.open_wire_repetitions):
                done = await self._convert(partial(chain.start_open_wire, pull_up, mode)) and done
            reads.append((await self._call(chain.read_cell_voltages), done))
        (pu, pu_done), (pd, pd_done) = reads
        found = detect_open_wires(pu.values, pd.values, self._cells_used)
        for b, used in enumerate(self._cells_used):
            complete = all(v == v for v in pu.values[b][:used]) and all(v == v for v in pd.values[b][:used])
            if pu.ok[b] and pd.ok[b] and pu_done and pd_done and complete:
                self._open_local[b] = tuple(found[b])
            else:
                board_ok[b] = False  # the check could not run: its result is unknown
