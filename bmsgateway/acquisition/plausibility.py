"""Sensor plausibility: is each reading of this cycle believable, judged against the others?

Why a module of its own (not inside protection): the fault checks compare *believable* values with
thresholds; whether a value is believable at all is a property of the sensors and their wiring.
``SensorPlausibility.check`` turns one ``Measurement`` into a ``PlausibilityReport`` whose fields
feed rows of the fault table (``bmsgateway.protection.table``), each row naming the field it reads.

What is judged here:

* **Cell voltages.** A reading outside ``sensors.cell_min_v..cell_max_v`` is no cell voltage (a
  broken sense path, a dead ADC, an unconverted 0xFFFF): it says nothing about either direction.
* **Thermistors.** A divider pin at VREF2 (open NTC) or at 0 V (shorted NTC) reads as NaN with age
  0 while its board answers fine; a temperature outside ``sensors.thermistor_min_c..max_c`` is just
  as impossible. Both are sensor faults. A board whose thermistors all read nothing valid leaves its
  cells without a temperature, and a pack without any valid temperature cannot be judged at all.
  Thermistors of a board that does not answer are communication_lost's business, not reported here.
* **Current sensor frozen.** A frozen sensor (an ADC pin that stopped moving, a stuck Hall output)
  repeats one reading exactly. That alone proves nothing (a dead band makes a resting pack read
  exactly 0 A for hours); what proves it is that the cells' voltages move in a way the frozen
  current cannot explain. Over ``current.stuck_window_s`` the median cell voltage must step by
  R0 x the current step (``estimation.r0_ohm``): the step the voltages show, expressed in amperes,
  minus the measured current step and a tolerance for R0 errors, is the *unexplained current*.
  The median, not the mean: a current moves every cell, so it moves the median as much as the
  mean, while one cell whose reading jumps (a sense fault: +0.5 V on one of 16 cells moves the
  mean by 31 mV, "39 A" at 0.8 mOhm) moves the mean and not the median. With the mean, such a cell
  at rest (0 A read exactly, in the dead band) raised current_sensor_stuck beside the cell's own
  fault: a wrong diagnosis, and both contactors opened for a sense fault.
  The window is short on purpose: the cells' slow relaxation after a current change must not read
  as a step. A current that changes too slowly for a step is caught by the SOC the voltages imply:
  from the moment the reading froze, the SOC interval the median cell voltage allows (OCV table,
  widened by ``current.stuck_soc_tolerance_v`` and by R1 x the current change still relaxing) must
  move the way the frozen reading counts charge; the distance, as an average current over the
  frozen time, is unexplained current too.
* **Pack voltage.** The sum of the cells if every cell is fresh, else the chips' own sum-of-cells
  reading if it is younger than ``sensors.pack_sum_max_age_s``, else nothing (NaN): an old pack
  voltage is never used as the precharge target or for the pack voltage faults.
* **Bus voltage.** During precharge the DC link charges from 0 V up to the pack voltage; a reading
  above the pack voltage (by more than ``sensors.bus_above_pack_fraction``) is a sensor stuck high
  and must fail precharge rather than complete it.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bmsgateway.config.model import Config
from bmsgateway.state import Measurement

__all__ = ["PlausibilityReport", "SensorPlausibility"]

NAN = math.nan


@dataclass(frozen=True, slots=True)
class PlausibilityReport:
    """The plausibility verdicts of one cycle (indices are pack-wide, 0-based)."""

    #: cells whose reading is outside the range a cell voltage can have
    implausible_cells: tuple[int, ...] = ()
    #: thermistors of answering boards that read open, shorted or outside the plausible range
    bad_thermistors: tuple[int, ...] = ()
    #: answering boards with thermistors of which none reads a valid temperature
    boards_without_temperature: tuple[int, ...] = ()
    #: not one valid cell temperature in the whole pack (whatever the reason)
    pack_without_temperature: bool = False
    #: current (A) the cells' voltage step implies beyond the frozen reading; 0 while the reading
    #: moves, NaN when it cannot be judged (cells or current missing, too little history)
    current_unexplained_a: float = NAN
    #: sum of the cells if all are fresh, else the chips' sum-of-cells if young enough, else NaN
    pack_voltage_v: float = NAN
    #: the chips' sum-of-cells reading if young enough, else NaN
    pack_voltage_measured_v: float = NAN
    #: bus voltage above the pack voltage beyond the tolerance (stuck high)
    bus_above_pack: bool = False


class SensorPlausibility:
    """Judges each cycle's Measurement; keeps the little history the current check needs."""

    def __init__(self, config: Config) -> None:
        self._hist: deque[tuple[float, float, float]] = deque()  #: (time, median cell V, current A)
        self._last_current = NAN
        self._last_t = NAN
        self._i_rc = 0.0  #: measured current through the cells' RC time constant (its relaxing part)
        #: frozen run: (start time, SOC interval low/high in %, reading A, voltage tolerance V)
        self._run: tuple[float, float, float, float, float] | None = None
        self.apply_config(config)

    def apply_config(self, config: Config) -> None:
        """Take new thresholds (the pack layout does not change at run time)."""
        p = config.protection
        s = p.sensors
        self._t_lo, self._t_hi = s.thermistor_min_c, s.thermistor_max_c
        self._v_lo, self._v_hi = s.cell_min_v, s.cell_max_v
        self._sum_max_age_s = s.pack_sum_max_age_s
        self._bus_factor = 1.0 + s.bus_above_pack_fraction
        c = p.current
        self._window_s = c.stuck_window_s
        self._tolerance = c.stuck_tolerance
        self._r0_ohm = config.estimation.r0_ohm
        self._r1_ohm = config.estimation.r1_ohm
        self._tau_s = config.estimation.tau_s
        self._soc_tol_v = c.stuck_soc_tolerance_v
        self._capacity_as = config.pack.capacity_ah * 3600.0
        table = config.pack.limits.ocv_table
        self._ocv_v = np.array([v for _, v in table], dtype=np.float64)
        self._ocv_soc = np.array([s for s, _ in table], dtype=np.float64)
        self._n_cells = config.pack.cell_count
        self._therms_per_board = tuple(b.thermistors for b in config.pack.boards)

    # -- one cycle -------------------------------------------------------------------------------
    def check(self, m: Measurement, cell_lo_v: float = NAN, cell_hi_v: float = NAN) -> PlausibilityReport:
        """Judge one cycle. ``cell_lo_v`` / ``cell_hi_v``: min and max of the fresh cells if the
        caller has them already (``state.extremes``), so 255 cells are not scanned twice."""
        bad, no_temp, none_valid = self._thermistors(m)
        cells = m.cell_voltages_v
        s = sum(cells) if cells else NAN
        fresh = s == s and len(cells) == self._n_cells and self._n_cells > 0
        measured = m.pack_voltage_measured_v if m.pack_voltage_measured_age_s <= self._sum_max_age_s else NAN
        pack_v = s if fresh else measured
        bus = m.bus_voltage_v
        lo, hi = self._v_lo, self._v_hi
        implausible: tuple[int, ...] = ()
        if fresh:
            if cell_lo_v != cell_lo_v or cell_hi_v != cell_hi_v:
                cell_lo_v, cell_hi_v = min(cells), max(cells)
            if not lo <= cell_lo_v <= cell_hi_v <= hi:
                implausible = tuple(i for i, v in enumerate(cells) if not lo <= v <= hi)
        else:
            implausible = tuple(i for i, v in enumerate(cells) if v == v and not lo <= v <= hi)
        return PlausibilityReport(
            implausible_cells=implausible,
            bad_thermistors=bad,
            boards_without_temperature=no_temp,
            pack_without_temperature=none_valid,
            current_unexplained_a=self._current(m.time_s, _median(cells) if fresh else NAN, m.current_a),
            pack_voltage_v=pack_v,
            pack_voltage_measured_v=measured,
            bus_above_pack=bus == bus and pack_v == pack_v and bus > self._bus_factor * pack_v,
        )

    # -- thermistors -----------------------------------------------------------------------------
    def _thermistors(self, m: Measurement) -> tuple[tuple[int, ...], tuple[int, ...], bool]:
        temps = m.temperatures_c
        lo, hi = self._t_lo, self._t_hi
        total = sum(temps)
        if temps and total == total and len(temps) == len(m.temperature_board) \
                and lo < min(temps) and max(temps) < hi:
            return (), (), False  # the common case: every thermistor reads a valid temperature
        boards = m.boards
        tb = m.temperature_board
        n_boards = max(len(boards), len(self._therms_per_board))
        valid_per_board = [0] * n_boards
        wired_per_board = [0] * n_boards  #: thermistors the Measurement assigns to each board
        bad: list[int] = []
        any_valid = False
        for i, v in enumerate(temps):
            b = tb[i] if i < len(tb) else -1
            if 0 <= b < n_boards:
                wired_per_board[b] += 1
            if v == v and lo < v < hi:
                any_valid = True
                if 0 <= b < n_boards:
                    valid_per_board[b] += 1
            elif 0 <= b < len(boards) and boards[b].ok:
                bad.append(i)
        no_temp = tuple(
            b for b in range(len(boards))
            if wired_per_board[b] > 0 and valid_per_board[b] == 0 and boards[b].ok
        )
        return tuple(bad), no_temp, not any_valid

    # -- current ---------------------------------------------------------------------------------
    def _current(self, t: float, mean_v: float, current_a: float) -> float:
        """Unexplained current (A) while the reading repeats exactly; 0 while it moves."""
        frozen = current_a == self._last_current
        self._last_current = current_a
        if mean_v != mean_v or current_a != current_a:
            return NAN
        i_rc_before = self._i_rc
        dt = t - self._last_t if self._last_t == self._last_t else 0.0
        self._last_t = t
        self._i_rc += (current_a - self._i_rc) * min(1.0, max(0.0, dt) / self._tau_s)
        step = self._step_evidence(t, mean_v, current_a)
        if not frozen:
            self._run = None
            return 0.0 if step == step else NAN
        soc = self._soc_evidence(t, mean_v, current_a, i_rc_before)
        if step != step:
            return soc
        return max(step, soc)

    def _step_evidence(self, t: float, mean_v: float, current_a: float) -> float:
        """Voltage step over the window minus R0 x current step, in A, less the tolerance."""
        hist = self._hist
        hist.append((t, mean_v, current_a))
        w = self._window_s
        while len(hist) >= 2 and hist[1][0] <= t - w + 1e-9:
            hist.popleft()
        t_ref, v_ref, i_ref = hist[0]
        if t - t_ref < w - 1e-9:
            return NAN  # too little history
        if t - t_ref > 2.0 * w:
            hist.popleft()  # a gap (missing cells): the reference is too old to compare with
            return NAN
        di = current_a - i_ref
        implied = (mean_v - v_ref) / self._r0_ohm
        return abs(implied - di) - self._tolerance * abs(di)

    def _soc_interval(self, mean_v: float, current_a: float, tol_v: float) -> tuple[float, float]:
        v = mean_v - self._r0_ohm * current_a
        lo = float(np.interp(v - tol_v, self._ocv_v, self._ocv_soc))
        hi = float(np.interp(v + tol_v, self._ocv_v, self._ocv_soc))
        return lo, hi

    def _soc_evidence(self, t: float, mean_v: float, current_a: float, i_rc: float) -> float:
        """Average current (A) over the frozen time that the voltage-implied SOC change needs
        beyond what the frozen reading counts; 0 while the two agree within the tolerance."""
        run = self._run
        if run is None:
            tol = self._soc_tol_v + self._r1_ohm * abs(i_rc - current_a)
            lo, hi = self._soc_interval(mean_v, current_a, tol)
            self._run = (t, lo, hi, current_a, tol)
            return 0.0
        t0, a_lo, a_hi, i_f, tol = run
        elapsed = t - t0
        if elapsed <= 0.0:
            return 0.0
        b_lo, b_hi = self._soc_interval(mean_v, i_f, tol)
        counted = i_f * elapsed / self._capacity_as * 100.0
        lo, hi = b_lo - a_hi, b_hi - a_lo  # SOC changes (%) the voltages allow
        missing = lo - counted if counted < lo else counted - hi if counted > hi else 0.0
        return missing / 100.0 * self._capacity_as / elapsed


def _median(values: Sequence[float]) -> float:
    """The median of a non-empty sequence (sorted once: 255 cells in about 10 us)."""
    ordered = sorted(values)
    h = len(ordered) // 2
    return ordered[h] if len(ordered) % 2 else 0.5 * (ordered[h - 1] + ordered[h])
