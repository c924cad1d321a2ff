"""``PackSimulator``: the simulated battery behind the emulated LTC681x chain and the outputs.

It is three things at once, because on real hardware they share one physical pack:

* the analog front end the chip emulator samples (cell voltages, GPIO voltages of thermistors and
  the Hall current sensor, die temperature, open sense wires) and the DCC bits it applies,
* the ``DigitalIO`` of contactors and relays, whose real contact states gate the current,
* the ``BusVoltageSensor`` on the inverter's DC link (precharge).

Physics advance lazily: every call first integrates from the last time to ``clock.now()`` in
sub-steps of at most ``MAX_STEP_S`` (split at contactor moves), then answers from a per-instant
cache, so many calls within one cycle cost one step (the cell vectors themselves are settled in
blocks, see ``bmsgateway.sim.cell``). Time never runs backwards: an earlier clock
reading is treated as "no time passed".

The pack current is the scenario's charge source current if the charge path is closed minus its
load current if the discharge path is closed (see ``OutputBank.charge_path``). The precharge
current into the DC link is not drawn from the cells (it is tiny); the DC link only tracks voltage.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from bmsgateway.clock import Clock
from bmsgateway.config.model import Config
from bmsgateway.config.pack import CHIP_GPIOS
from bmsgateway.hal.thermistor import temperature_to_voltage_v
from bmsgateway.sim.cell import CellBank, CellParameters
from bmsgateway.sim.faults import CHAIN_KINDS, Injection
from bmsgateway.sim.io import CONTACTOR_NAMES, DcLink, OutputBank
from bmsgateway.sim.ocv import simulator_curve
from bmsgateway.sim.scenario import ConstantScenario, IdleScenario, Scenario, make_scenario
from bmsgateway.sim.sensors import HallSensor, NoisePool
from bmsgateway.sim.thermal import ThermalModel

__all__ = ["MAX_STEP_S", "InverterHook", "PackSimulator"]


class InverterHook(Protocol):
    """Limits the scenario's (charge source, load) currents, as an inverter obeying the BMS does."""

    def limit(self, source_a: float, load_a: float, t_s: float,
              pack_v_at: Callable[[float], float]) -> tuple[float, float]: ...

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

#: Longest integration sub-step while the current may change or cells are balanced.
MAX_STEP_S = 1.0
#: Longest sub-step for a constant scenario without balancing: constant current over a step is
#: integrated exactly (charge, RC pair, heat), so a month of rest need not cost 2.6 million steps.
LONG_STEP_S = 60.0
#: How far beyond a limit an injected sense fault reads.
FAULT_VOLTAGE_MARGIN_V = 0.1
FAULT_TEMPERATURE_MARGIN_C = 20.0
_J_PER_WH = 3600.0


class PackSimulator:
    """Equivalent-circuit pack + thermal model + sensors + outputs, driven by a scenario."""

    def __init__(
        self, config: Config, clock: Clock, scenario: Scenario | None = None, max_step_s: float = MAX_STEP_S,
    ) -> None:
        """``max_step_s``: longest integration sub-step while the current may change. The daemon
        keeps the 1 s default; a benchmark whose readings are further apart than that may set its
        reading interval (the current is held over a sub-step either way, so nothing finer than
        the readings is lost), which saves most of the simulator's time."""
        if max_step_s <= 0:
            raise ValueError("max_step_s must be > 0")
        self.config = config
        sim = config.simulator
        self._clock = clock
        self._rng = np.random.default_rng(sim.seed)
        pack = config.pack
        self._limits = pack.limits
        n = pack.cell_count

        # Board layout: cell slices and thermistor ownership.
        self._cell_slices: list[slice] = [slice(a, e) for a, e in pack.board_cell_ranges]
        self._therm_first: list[int] = [a for a, _ in pack.board_thermistor_ranges]
        self._gpio_count = [CHIP_GPIOS[b.chip] for b in pack.boards]

        params = CellParameters.draw(
            self._rng,
            n,
            capacity_ah=pack.capacity_ah,
            capacity_spread_pct=sim.capacity_spread_pct,
            r0_ohm=sim.cell_resistance_ohm,
            r1_ohm=sim.rc_resistance_ohm,
            resistance_spread_pct=sim.resistance_spread_pct,
            tau_s=sim.rc_time_constant_s,
            self_discharge_pct_per_month=sim.self_discharge_pct_per_month,
            self_discharge_spread_pct=sim.self_discharge_spread_pct,
            initial_soc_pct=sim.initial_soc_pct,
            initial_soc_spread_pct=sim.initial_soc_spread_pct,
        )
        self._cells = CellBank(params, simulator_curve(self._limits.ocv_table), sim.balance_resistance_ohm)
        self._thermal = ThermalModel(
            n,
            sim.ambient_temperature_c,
            sim.thermal_capacity_j_per_k,
            sim.thermal_resistance_k_per_w,
            sim.heater_power_w,
            sim.cooler_power_w,
        )
        self._outputs = OutputBank(sim.contactor_close_time_s)
        self._dc_link = DcLink(sim.bus_capacitance_f, sim.precharge_resistance_ohm, sim.bus_discharge_time_constant_s)
        self._scenario = scenario if scenario is not None else make_scenario(sim)
        constant = isinstance(self._scenario, (IdleScenario, ConstantScenario))
        self._max_step_s = max_step_s
        self._long_step_s = LONG_STEP_S if constant else max_step_s
        self._noise = NoisePool(self._rng)
        self._hall = HallSensor(
            config.hardware.current_sensor,
            sim.current_offset_a,
            sim.current_gain_error_pct,
            sim.current_noise_a,
            self._noise,
        )
        ccs = config.hardware.consumer_current_sensor
        #: the consumer-side sensor (two-sensor setups): it sees the load current; the current_sensor
        #: then sees the charger current (charge_minus_consumer) or the battery current
        self._consumer_hall = (
            HallSensor(ccs, sim.current_offset_a, sim.current_gain_error_pct, sim.current_noise_a, self._noise)
            if ccs.enabled else None
        )
        self._hall_on_charger = ccs.mode == "charge_minus_consumer"
        self._source_a = 0.0  #: charge source current flowing now (after gating)
        self._load_a = 0.0  #: load current flowing now (after gating)
        self._charger_j = 0.0
        self._consumer_j = 0.0

        self._bleed: BoolArray = np.zeros(n, dtype=np.bool_)
        self._board_masks = [0] * len(pack.boards)

        # Fault state set by ``inject``.
        self._cell_read_fault: dict[int, float] = {}  # cell index -> +1 (reads over Vmax) / -1 (under Vmin)
        self._therm_read_c: dict[int, float] = {}  # pack thermistor index -> forced temperature
        self._therm_pin_v: dict[int, float] = {}  # pack thermistor index -> forced pin voltage (open/short)
        self._open_wires: list[set[int]] = [set() for _ in pack.boards]
        self._bus_stuck_v: float | None = None  # bus voltage sensor frozen at this reading
        #: discrete inputs asserted by injection (``input:N``), config order; the line levels follow
        self._inputs_asserted = [False] * len(config.hardware.inputs)

        #: the charger/inverter on the CAN bus (``bmsgateway.sim.inverter``); None = open loop
        self.inverter: InverterHook | None = None
        self._start_s = clock.now()
        self._t_s = self._start_s
        self._current_a = self._gated_current(0.0)
        self._terminal_j = 0.0
        self._losses_j = 0.0
        self._bleed_j = 0.0
        self._self_discharge_j = 0.0
        self._v_term_cache: FloatArray | None = None
        self._v_read_cache: FloatArray | None = None
        self._temp_cache: list[float] = []
        self._divider_cache: list[tuple[int, float, float] | None] = [None] * len(pack.boards)
        self._therm_count = [b.thermistors for b in pack.boards]
        self._temperature_noise_c = sim.temperature_noise_c
        self._hall_board = config.hardware.current_sensor.board
        self._hall_index = config.hardware.current_sensor.gpio - 1
        self._temp_version = -1
        self._board_starts = np.array([sl.start for sl in self._cell_slices], dtype=np.intp)
        self._board_sizes = np.array([sl.stop - sl.start for sl in self._cell_slices], dtype=np.float64)

    # ------------------------------------------------------------------ physics

    def _gated_current(self, elapsed_s: float) -> float:
        source_a, load_a = self._scenario.sources_a(elapsed_s)
        if self.inverter is not None:  # closed loop: the charger/inverter obeys the BMS's CAN frames
            source_a, load_a = self.inverter.limit(source_a, load_a, self._start_s + elapsed_s,
                                                   self._cells.pack_terminal_v)
        out = self._outputs
        self._source_a = source_a if source_a > 0 and out.charge_path() else 0.0
        self._load_a = load_a if load_a > 0 and out.discharge_path() else 0.0
        return self._source_a - self._load_a

    def _advance(self) -> None:
        """Integrate up to ``clock.now()`` (no-op if time has not moved on).

        The current found at the start of a sub-step holds over it (what the sensors reported);
        sub-steps end at contactor moves and are at most ``max_step_s`` (default ``MAX_STEP_S``) long.
        """
        now = self._clock.now()
        if now <= self._t_s:
            return
        t = self._t_s
        if now - t > self._max_step_s:
            self._settle_cells()
        cells = self._cells
        outputs = self._outputs
        dc_link = self._dc_link
        while True:
            max_step = self._long_step_s if cells.bleed is None else self._max_step_s
            t_next = now if now - t <= max_step else t + max_step
            event = outputs.next_event_s
            if event is not None and t < event < t_next:
                t_next = event
            dt = t_next - t
            current = self._current_a
            power_closed = outputs.power_contact_closed()
            precharge_closed = outputs.is_closed("precharge")
            if power_closed or precharge_closed or dc_link.voltage_v != 0.0:
                dc_link.step(dt, cells.pack_terminal_v(current), power_closed, precharge_closed)
            if self._source_a or self._load_a:
                v_pack = cells.pack_terminal_v(current)
                self._charger_j += self._source_a * v_pack * dt
                self._consumer_j += self._load_a * v_pack * dt
            if cells.accumulate(dt, current):
                self._settle_cells()
            t = t_next
            if event is not None and event <= t:
                outputs.settle(t)
            if t >= now:
                break
            self._current_a = self._gated_current(t - self._start_s)
        self._t_s = now
        self._current_a = self._gated_current(now - self._start_s)
        self._v_term_cache = None
        self._v_read_cache = None

    def _settle_cells(self) -> None:
        """Bring the cell vectors up to date and book the block's energies and heat."""
        result = self._cells.settle()
        if result is None:
            return
        self._terminal_j += result.terminal_j
        self._bleed_j += result.bleed_j
        self._self_discharge_j += result.self_discharge_j
        self._losses_j += float(np.add.reduce(result.heat_j))
        relays = self._outputs.relays
        self._thermal.add(result.dt_s, result.heat_j, relays["heater"], relays["cooler"])
        self._v_term_cache = None
        self._v_read_cache = None

    def _truth(self) -> None:
        """Advance and settle everything, for exact truth values."""
        self._advance()
        self._settle_cells()

    def _terminal_now(self) -> FloatArray:
        if self._v_term_cache is None:
            self._v_term_cache = self._cells.terminal_v(self._current_a)
        return self._v_term_cache

    def _readings_now(self) -> FloatArray:
        """Terminal voltages plus this instant's measurement noise (same for every read this instant)."""
        if self._v_read_cache is None:
            v = self._terminal_now()
            sigma = self.config.simulator.voltage_noise_v
            if sigma > 0:
                v = v + sigma * self._noise.take(v.shape[0])
            self._v_read_cache = v
        return self._v_read_cache

    def _board_temps_c(self) -> list[float]:
        """Mean cell temperature per board (recomputed only when the thermal model moved)."""
        if self._temp_version != self._thermal.version:
            sums = np.add.reduceat(self._thermal.temperature_c, self._board_starts)
            self._temp_cache = (sums / self._board_sizes).tolist()
            self._temp_version = self._thermal.version
        return self._temp_cache

    # ------------------------------------------------------------------ AnalogFrontEnd

    def cell_inputs_v(self, board: int) -> Sequence[float]:
        """Used cells of ``board``, bottom first, as the chip's ADC would see them (with noise)."""
        self._advance()
        sl = self._cell_slices[board]
        values: list[float] = self._readings_now()[sl].tolist()
        if self._cell_read_fault:
            for idx, sign in self._cell_read_fault.items():
                if sl.start <= idx < sl.stop:
                    k = idx - sl.start
                    if sign > 0:
                        values[k] = max(values[k], self._limits.vmax_v + FAULT_VOLTAGE_MARGIN_V)
                    else:
                        values[k] = min(values[k], self._limits.vmin_v - FAULT_VOLTAGE_MARGIN_V)
        return values

    def gpio_inputs_v(self, board: int) -> Sequence[float]:
        """GPIO1..n: thermistor dividers on GPIO1..thermistors, the Hall sensor on its GPIO."""
        self._advance()
        values = [0.0] * self._gpio_count[board]
        count = self._therm_count[board]
        if count:
            v_base, dv_dc = self._thermistor_divider(board)
            sigma = self._temperature_noise_c
            first = self._therm_first[board]
            for k in range(count):
                forced_c = self._therm_read_c.get(first + k) if self._therm_read_c else None
                pin_v = self._therm_pin_v.get(first + k) if self._therm_pin_v else None
                if pin_v is not None:
                    values[k] = pin_v
                elif forced_c is not None:
                    values[k] = self._divider_v(forced_c)
                else:
                    values[k] = v_base + dv_dc * sigma * self._noise.one() if sigma > 0 else v_base
        if board == self._hall_board:
            self._hall.drive(values, self._source_a if self._hall_on_charger else self._current_a)
        ch = self._consumer_hall
        if ch is not None and board == ch.board:
            ch.drive(values, self._load_a)
        bv = self.config.hardware.bus_voltage
        if bv.enabled and board == bv.board and bv.gpio <= len(values):
            values[bv.gpio - 1] = min(5.0, self.read_bus_voltage_v() / bv.divider_ratio)
        return values

    def _divider_v(self, temperature_c: float) -> float:
        th = self.config.pack.thermistor
        return temperature_to_voltage_v(temperature_c, th.vref_v, th.pullup_ohm, th.r25_ohm, th.beta_k)

    def _thermistor_divider(self, board: int) -> tuple[float, float]:
        """Divider voltage at the board's mean cell temperature and its slope (V/°C), cached.

        Noise of a tenth of a degree is applied through the slope, saving two exponentials
        per thermistor per reading.
        """
        temps = self._board_temps_c()
        cached = self._divider_cache[board]
        if cached is not None and cached[0] == self._temp_version:
            return cached[1], cached[2]
        t_c = temps[board]
        v = self._divider_v(t_c)
        slope = (self._divider_v(t_c + 0.05) - self._divider_v(t_c - 0.05)) / 0.1
        self._divider_cache[board] = (self._temp_version, v, slope)
        return v, slope

    def die_temperature_c(self, board: int) -> float:
        """Board's mean cell temperature + self-heating + heat of that board's bleed resistors."""
        self._advance()
        sim = self.config.simulator
        t_c = self._board_temps_c()[board] + sim.die_self_heating_c
        sl = self._cell_slices[board]
        if self._board_masks[board] & ((1 << (sl.stop - sl.start)) - 1):
            v = self._terminal_now()[sl]
            bleed_w = float((v * v * self._bleed[sl]).sum()) / sim.balance_resistance_ohm
            t_c += bleed_w * sim.die_bleed_k_per_w
        return t_c

    def open_wires(self, board: int) -> frozenset[int]:
        """Board-local sense inputs (C0..Cn) that are open."""
        return frozenset(self._open_wires[board])

    def set_discharge(self, board: int, mask: int) -> None:
        """DCC bits now in effect for ``board`` (bit 0 = its cell 1); bits above its cells ignored."""
        if mask == self._board_masks[board]:
            return
        self._advance()
        sl = self._cell_slices[board]
        cells = sl.stop - sl.start
        self._bleed[sl] = [(mask >> j) & 1 == 1 for j in range(cells)]
        self._board_masks[board] = mask
        self._cells.set_bleed(self._bleed)
        self._settle_cells()
        self._v_term_cache = None
        self._v_read_cache = None

    # ------------------------------------------------------------------ DigitalIO / BusVoltageSensor

    def set_output(self, name: str, on: bool) -> None:
        """Drive an output; contactors move after ``contactor_close_time_s``, relays at once."""
        self._advance()
        self._outputs.command(name, on, self._t_s)
        current = self._gated_current(self._t_s - self._start_s)
        if current != self._current_a:
            self._current_a = current
            self._v_term_cache = None
            self._v_read_cache = None

    def get_output(self, name: str) -> bool:
        return self._outputs.commanded(name)

    def read_feedback(self, name: str) -> bool | None:
        """Auxiliary contact of a contactor (True = closed); None for relays, heater and cooler."""
        if name not in CONTACTOR_NAMES:
            return None
        self._advance()
        return self._outputs.is_closed(name)

    def safe_state(self) -> None:
        for name in (*CONTACTOR_NAMES, *self._outputs.relays):
            self.set_output(name, False)

    def read_inputs(self) -> tuple[bool, ...]:
        """Line levels of the discrete inputs: an asserted input drives its line to its active level."""
        wiring = self.config.hardware.inputs
        return tuple(a != c.active_low for a, c in zip(self._inputs_asserted, wiring, strict=False))

    def read_bus_voltage_v(self) -> float:
        if self._bus_stuck_v is not None:
            return self._bus_stuck_v
        self._advance()
        if self._outputs.power_contact_closed():
            return self._cells.pack_terminal_v(self._current_a)
        return self._dc_link.voltage_v

    # ------------------------------------------------------------------ fault injection

    @property
    def board_count(self) -> int:
        return len(self._cell_slices)

    def _wire_to_board(self, wire: int) -> tuple[int, int]:
        """Pack-wide sense wire (0 = pack negative, k = top of cell k) -> (board, local input)."""
        if wire == 0:
            return (0, 0)
        for b, sl in enumerate(self._cell_slices):
            if sl.start < wire <= sl.stop:
                return (b, wire - sl.start)
        raise ValueError(f"sense wire {wire} does not exist (0..{self._cell_slices[-1].stop})")

    def check_injection(self, injection: Injection) -> None:
        """Raise ValueError if the injection's target does not exist in this pack."""
        kind, target = injection.kind, injection.target
        pack = self.config.pack
        if kind in CHAIN_KINDS:
            raise ValueError(f"{injection}: {kind} is a chain fault; apply it through FaultInjector")
        if kind in ("cell_ov", "cell_uv"):
            assert isinstance(target, int)
            if not 1 <= target <= pack.cell_count:
                raise ValueError(f"{injection}: cell {target} does not exist (1..{pack.cell_count})")
        elif kind in ("over_temp", "under_temp", "thermistor_open", "thermistor_short"):
            assert isinstance(target, int)
            if not 1 <= target <= pack.thermistor_count:
                raise ValueError(f"{injection}: thermistor {target} does not exist (1..{pack.thermistor_count})")
        elif kind == "open_wire":
            assert isinstance(target, int)
            try:
                self._wire_to_board(target)
            except ValueError as exc:
                raise ValueError(f"{injection}: {exc}") from None
        elif kind == "input":
            assert isinstance(target, int)
            count = len(self.config.hardware.inputs)
            if not 1 <= target <= count:
                raise ValueError(f"{injection}: input {target} does not exist "
                                 f"(hardware.inputs has {count}{'' if count else '; add [[hardware.inputs]]'})")

    def inject(self, injection: Injection) -> None:
        """Apply a simulator-side fault now (tests call this directly; see ``FaultInjector``)."""
        self.check_injection(injection)
        self._advance()
        kind, target = injection.kind, injection.target
        relays = self.config.protection.relays
        if kind in ("cell_ov", "cell_uv"):
            assert isinstance(target, int)
            self._cell_read_fault[target - 1] = 1.0 if kind == "cell_ov" else -1.0
        elif kind == "over_temp":
            assert isinstance(target, int)
            self._therm_read_c[target - 1] = relays.tmax_c + FAULT_TEMPERATURE_MARGIN_C
        elif kind == "under_temp":
            assert isinstance(target, int)
            self._therm_read_c[target - 1] = relays.tmin_c - FAULT_TEMPERATURE_MARGIN_C
        elif kind == "open_wire":
            assert isinstance(target, int)
            board, local = self._wire_to_board(target)
            self._open_wires[board].add(local)
        elif kind == "stuck_current":
            self._hall.stuck_v = self._hall.voltage_v(self._current_a)
        elif kind == "bus_stuck":
            assert isinstance(target, float)
            self._bus_stuck_v = target
        elif kind == "current_stuck":
            assert isinstance(target, float)
            self._hall.stuck_v = self._hall.reading_voltage_v(target)
        elif kind in ("thermistor_open", "thermistor_short"):
            # The divider VREF2 -- pull-up -- pin -- NTC -- V-: an open NTC leaves the pin at
            # VREF2, a shorted one pulls it to V- (a few mV of wiring above 0 V).
            assert isinstance(target, int)
            vref = self.config.pack.thermistor.vref_v
            self._therm_pin_v[target - 1] = vref if kind == "thermistor_open" else 0.001
        elif kind == "input":
            assert isinstance(target, int)
            self._inputs_asserted[target - 1] = injection.value != 0.0
        elif kind in ("welded", "no_close"):
            assert isinstance(target, str)
            contactor = self._outputs.contactors[target]
            if kind == "welded":
                contactor.welded = True
            else:
                contactor.no_close = True

    def set_cell_soc_pct(self, soc_pct: float | Sequence[float]) -> None:
        """Put the cells at a SOC now (one value for all or one per cell): tests and demos that
        need a real over- or under-voltage rather than an injected sense fault."""
        self._advance()
        n = self._cells.count
        values = np.broadcast_to(np.asarray(soc_pct, dtype=np.float64), (n,)) / 100.0
        self._cells.set_soc(values)
        self._settle_cells()
        self._v_term_cache = None
        self._v_read_cache = None

    def clear_faults(self) -> None:
        """Remove every simulator-side fault (sensors read true values, contactors work again)."""
        self._advance()
        self._cell_read_fault.clear()
        self._therm_read_c.clear()
        self._therm_pin_v.clear()
        for wires in self._open_wires:
            wires.clear()
        self._hall.stuck_v = None
        self._hall.low_stuck_v = None
        if self._consumer_hall is not None:
            self._consumer_hall.stuck_v = self._consumer_hall.low_stuck_v = None
        self._bus_stuck_v = None
        for c in self._outputs.contactors.values():
            c.welded = False
            c.no_close = False

    # ------------------------------------------------------------------ truth

    @property
    def start_s(self) -> float:
        """Clock time at which the simulation started."""
        return self._start_s

    @property
    def time_s(self) -> float:
        """Clock time up to which the physics have been integrated (advances to now first)."""
        self._advance()
        return self._t_s

    @property
    def elapsed_s(self) -> float:
        """Simulated seconds since the start (the scenario's and the injections' time base)."""
        self._advance()
        return self._t_s - self._start_s

    @property
    def scenario(self) -> Scenario:
        return self._scenario

    @property
    def true_current_a(self) -> float:
        """Current that really flows now (after gating), positive = charging."""
        self._advance()
        return self._current_a

    @property
    def true_charger_current_a(self) -> float:
        """Charge source (solar / charger) current that really flows now (after gating)."""
        self._advance()
        return self._source_a

    @property
    def true_consumer_current_a(self) -> float:
        """Load current that really flows now (after gating)."""
        self._advance()
        return self._load_a

    @property
    def charger_energy_wh(self) -> float:
        """Cumulative energy the charge source delivered at the pack terminals."""
        self._advance()
        return self._charger_j / _J_PER_WH

    @property
    def consumer_energy_wh(self) -> float:
        """Cumulative energy the loads drew at the pack terminals."""
        self._advance()
        return self._consumer_j / _J_PER_WH

    def set_current_sensor_output(self, which: str, volts: float | None) -> None:
        """Freeze one sensor output at ``volts`` (None = live again): ``high`` / ``low`` of the
        current_sensor, ``consumer`` / ``consumer_low`` of the consumer-side sensor. A test's
        "sensor lies" (0 V = an open input, a stuck output)."""
        self._advance()
        hall = self._consumer_hall if which.startswith("consumer") else self._hall
        if hall is None:
            raise ValueError("no consumer-side current sensor configured")
        if which.endswith("low"):
            hall.low_stuck_v = volts
        else:
            hall.stuck_v = volts

    @property
    def true_cell_soc_pct(self) -> FloatArray:
        self._truth()
        return self._cells.soc * 100.0

    @property
    def true_ocv_v(self) -> FloatArray:
        self._truth()
        return self._cells.ocv_v()

    @property
    def true_cell_voltages_v(self) -> FloatArray:
        """Terminal voltage of each cell now (no noise, no injected sense faults)."""
        self._truth()
        return self._terminal_now().copy()

    @property
    def true_pack_voltage_v(self) -> float:
        self._truth()
        return float(self._terminal_now().sum())

    @property
    def cell_capacity_ah(self) -> FloatArray:
        return self._cells.params.capacity_ah.copy()

    @property
    def cell_resistance_ohm(self) -> FloatArray:
        return self._cells.params.r0_ohm.copy()

    @property
    def cell_temperatures_c(self) -> FloatArray:
        self._truth()
        self._thermal.flush()
        return self._thermal.temperature_c.copy()

    @property
    def balancing_mask(self) -> BoolArray:
        """Cells whose bleed resistor is on (pack-wide)."""
        return self._bleed.copy()

    @property
    def stored_energy_wh(self) -> float:
        """Chemical energy above 0 % SOC plus the RC pairs' capacitor energy."""
        self._truth()
        return self._cells.stored_energy_j() / _J_PER_WH

    @property
    def terminal_energy_wh(self) -> float:
        """Cumulative energy that went in at the pack terminals (negative when discharged)."""
        self._truth()
        return self._terminal_j / _J_PER_WH

    @property
    def losses_wh(self) -> float:
        """Cumulative heat: I²R0 + R1 + balancing bleed."""
        self._truth()
        return self._losses_j / _J_PER_WH

    @property
    def balancing_energy_wh(self) -> float:
        """Cumulative heat of the bleed resistors (part of ``losses_wh``)."""
        self._truth()
        return self._bleed_j / _J_PER_WH

    @property
    def self_discharge_wh(self) -> float:
        """Cumulative energy lost to self-discharge (not part of ``losses_wh``)."""
        self._truth()
        return self._self_discharge_j / _J_PER_WH

    def contactor_closed(self, name: str) -> bool:
        """Physical contact state of a contactor (or relay state), regardless of wiring."""
        self._advance()
        return self._outputs.is_closed(name)
