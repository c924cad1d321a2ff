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
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Sequence
from typing import TypeVar

from bmsgateway.clock import Clock
from bmsgateway.config.model import Config
from bmsgateway.hal.interfaces import BusVoltageSensor
from bmsgateway.hal.ltc681x.driver import LTC681xChain, detect_open_wires
from bmsgateway.hal.thermistor import voltage_to_temperature_c
from bmsgateway.state import BoardHealth, Measurement

__all__ = ["Acquisition"]

NAN = math.nan
INF = math.inf
T = TypeVar("T")


class Acquisition:
    """Owns the per-value ages, PEC health per board and the current-sensor zero offset."""

    def __init__(
        self,
        config: Config,
        chain: LTC681xChain,
        clock: Clock,
        bus: BusVoltageSensor | None = None,
        offload: bool = False,
        zero_offset_a: float = 0.0,
    ) -> None:
        self._chain = chain
        self._clock = clock
        self._bus = bus
        self._offload = offload
        self.zero_offset_a = zero_offset_a
        self._last_status_s = -INF
        self._last_open_wire_s = -INF
        self._last_masks: list[int] | None = None
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

    def apply_config(self, config: Config) -> None:
        """Take a new config (topology must not change at run time; limits and intervals may)."""
        self._config = config
        boards = config.pack.boards
        self._cells_used = [b.cells for b in boards]
        self._therms = [b.thermistors for b in boards]
        self._cell_offset = [sum(self._cells_used[:i]) for i in range(len(boards))]
        self._temp_board = tuple(i for i, b in enumerate(boards) for _ in range(b.thermistors))
        th = config.pack.thermistor
        self._th = (th.vref_v, th.pullup_ohm, th.r25_ohm, th.beta_k)
        cs = config.hardware.current_sensor
        self._cs = cs
        self._bv = config.hardware.bus_voltage
        self._cs_sign = -1.0 if cs.inverted else 1.0
        self._status_interval_s = config.hardware.status_interval_s
        self._open_wire_interval_s = config.hardware.open_wire_interval_s

    @property
    def raw_current_a(self) -> float:
        """The last current reading before the zero offset (for zero calibration)."""
        return self._raw_current_a

    def calibrate_zero(self) -> float:
        """Take the present reading as zero (no current must flow); returns the new offset."""
        if self._raw_current_a == self._raw_current_a:
            self.zero_offset_a = self._raw_current_a
        return self.zero_offset_a

    async def _call(self, fn: Callable[[], T]) -> T:
        if self._offload:
            return await asyncio.to_thread(fn)
        return fn()

    async def _convert(self, start: Callable[[], float]) -> None:
        wait_s = await self._call(start)
        await self._clock.sleep(wait_s)

    def _masks(self, balancing: Sequence[bool]) -> list[int]:
        masks = []
        for b, used in enumerate(self._cells_used):
            off = self._cell_offset[b]
            m = 0
            if balancing:
                for i in range(used):
                    if balancing[off + i]:
                        m |= 1 << i
            masks.append(m)
        return masks

    async def acquire(self, balancing: Sequence[bool] = ()) -> Measurement:
        """Run one cycle of conversions and reads; never raises for a board that does not answer."""
        chain = self._chain
        t0 = self._clock.now()
        await self._call(chain.wakeup)
        # DCC bits are refreshed every cycle: it also restores the config after a chip reset.
        masks = self._masks(balancing)
        await self._call(lambda: chain.set_discharge(masks))
        await self._convert(lambda: chain.start_cell_conversion(discharge_permitted=False))
        cells = await self._call(chain.read_cell_voltages)
        await self._convert(chain.start_aux_conversion)
        aux = await self._call(chain.read_aux_voltages)
        now = self._clock.now()
        board_ok = [c and a for c, a in zip(cells.ok, aux.ok, strict=True)]

        if self._status_interval_s > 0 and now - self._last_status_s >= self._status_interval_s:
            self._last_status_s = now
            await self._convert(chain.start_status_conversion)
            status = await self._call(chain.read_status)
            for b, (ok, st) in enumerate(zip(status.ok, status.values, strict=True)):
                self._die_c[b] = st.die_temperature_c if ok else NAN
                self._sc_v[b] = st.sum_of_cells_v if ok else NAN
                if ok:
                    self._sc_time[b] = now
                board_ok[b] = board_ok[b] and ok

        if self._open_wire_interval_s > 0 and now - self._last_open_wire_s >= self._open_wire_interval_s:
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
            for i in range(used):
                v = chan[i]
                if v == v and i not in suspect:
                    cell_time[off + i] = t0
                    volts.append(v)
                else:
                    volts.append(NAN)
        # thermistors and current
        temps: list[float] = []
        k = 0
        vref, rpu, r25, beta = self._th
        for b, n in enumerate(self._therms):
            gp = aux.values[b]
            for g in range(n):
                v = gp[g]
                t = voltage_to_temperature_c(v, vref, rpu, r25, beta) if v == v else NAN
                if v == v:
                    self._temp_time[k] = t0  # read fine; an open/shorted NTC is a plausibility fault
                temps.append(t)
                k += 1
        cs = self._cs
        v_cs = aux.values[cs.board][cs.gpio - 1]
        if v_cs == v_cs:
            raw = self._cs_sign * (v_cs - cs.zero_v) / cs.sensitivity_v_per_a
            self._raw_current_a = raw
            current = raw - self.zero_offset_a
            if abs(current) < cs.dead_band_a:
                current = 0.0
            self._current_time = t0
        else:
            self._raw_current_a = NAN
            current = NAN

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
        return Measurement(
            time_s=t0,
            cell_voltages_v=tuple(volts),
            cell_age_s=tuple(t0 - t for t in cell_time),
            temperatures_c=tuple(temps),
            temperature_age_s=tuple(t0 - t for t in self._temp_time),
            temperature_board=self._temp_board,
            current_a=current,
            current_age_s=t0 - self._current_time,
            pack_voltage_measured_v=measured,
            boards=tuple(boards),
            open_wire_cells=open_cells,
            bus_voltage_v=bus_v,
            pack_voltage_measured_age_s=max(0.0, t0 - min(self._sc_time, default=-INF)),
        )

    async def _open_wire_check(self, board_ok: list[bool]) -> None:
        """ADOW pull-up twice, read; pull-down twice, read; compare (datasheet procedure)."""
        chain = self._chain
        for _ in range(2):
            await self._convert(lambda: chain.start_open_wire(pull_up=True))
        pu = await self._call(chain.read_cell_voltages)
        for _ in range(2):
            await self._convert(lambda: chain.start_open_wire(pull_up=False))
        pd = await self._call(chain.read_cell_voltages)
        found = detect_open_wires(pu.values, pd.values, self._cells_used)
        for b in range(len(self._cells_used)):
            if pu.ok[b] and pd.ok[b]:
                self._open_local[b] = tuple(found[b])
            else:
                board_ok[b] = False
