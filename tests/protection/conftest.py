"""Helpers for the protection tests: Measurement builder, fake IO and bus, a driver loop."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pytest

from bmsgateway.clock import VirtualClock
from bmsgateway.config import Config
from bmsgateway.protection import Protection
from bmsgateway.state import BoardHealth, EstimateStatus, Measurement, ProtectionStatus

NAN = math.nan


def make_config(**protection: Any) -> Config:
    """Default 16-cell LFP config with ``protection`` section overrides (nested dicts allowed).

    Precharge is off unless asked for, so the power path closes in the first cycle."""
    base = Config().model_dump()
    prot = base["protection"]
    prot["contactors"]["precharge"] = False
    for key, value in protection.items():
        if isinstance(value, dict):
            prot[key].update(value)
        else:
            prot[key] = value
    return Config.model_validate(base)


def measurement(
    t: float,
    cells: Sequence[float] | float = 3.30,
    temps: Sequence[float] | float = 25.0,
    current_a: float = 0.0,
    n_cells: int = 16,
    n_temps: int = 4,
    boards: int = 2,
    board_ok: Sequence[bool] | None = None,
    failed_cycles: Sequence[int] | None = None,
    cell_age_s: Sequence[float] | None = None,
    temp_age_s: Sequence[float] | None = None,
    current_age_s: float = 0.0,
    pack_measured_v: float | None = None,
    pack_measured_age_s: float = 0.0,
    open_wires: Sequence[int] = (),
    bus_v: float = NAN,
    die_c: float = 30.0,
    adc_fault: Sequence[str] | None = None,
    chain_faults: Sequence[str] = (),
    chip_ov: Sequence[int] = (),
    chip_uv: Sequence[int] = (),
) -> Measurement:
    """A Measurement for a pack of ``boards`` equal boards; scalars are broadcast."""
    cv = tuple(cells) if isinstance(cells, Sequence) else (float(cells),) * n_cells
    tv = tuple(temps) if isinstance(temps, Sequence) else (float(temps),) * n_temps
    ok = tuple(board_ok) if board_ok is not None else (True,) * boards
    fc = tuple(failed_cycles) if failed_cycles is not None else tuple(0 if o else 1 for o in ok)
    per_board_t = max(1, len(tv) // boards)
    health = tuple(
        BoardHealth(index=i, chip="LTC6811", ok=ok[i], pec_errors_total=0, failed_cycles=fc[i],
                    last_ok_s=t, die_temperature_c=die_c,
                    adc_fault=adc_fault[i] if adc_fault is not None else "")
        for i in range(boards)
    )
    measured = pack_measured_v if pack_measured_v is not None else (
        math.fsum(cv) if all(v == v for v in cv) else NAN
    )
    return Measurement(
        time_s=t,
        cell_voltages_v=cv,
        cell_age_s=tuple(cell_age_s) if cell_age_s is not None else tuple(0.0 if v == v else 0.1 for v in cv),
        temperatures_c=tv,
        temperature_age_s=tuple(temp_age_s) if temp_age_s is not None else tuple(0.0 for _ in tv),
        temperature_board=tuple(min(i // per_board_t, boards - 1) for i in range(len(tv))),
        current_a=current_a,
        current_age_s=current_age_s,
        pack_voltage_measured_v=measured,
        boards=health,
        open_wire_cells=tuple(open_wires),
        bus_voltage_v=bus_v,
        chain_faults=tuple(chain_faults),
        chip_ov_cells=tuple(chip_ov),
        chip_uv_cells=tuple(chip_uv),
        pack_voltage_measured_age_s=pack_measured_age_s,
    )


class FakeIO:
    """In-test DigitalIO: outputs, optional feedback contacts that follow (or not) the command."""

    def __init__(self, feedback: Sequence[str] = ()) -> None:
        self.out: dict[str, bool] = {}
        self.wired = set(feedback)
        self.welded: set[str] = set()
        self.stuck_open: set[str] = set()
        self.safe_calls = 0
        self.log: list[tuple[str, bool]] = []
        self.levels: tuple[bool, ...] = ()  #: discrete input line levels (True = high)

    def read_inputs(self) -> tuple[bool, ...]:
        return self.levels

    def set_output(self, name: str, on: bool) -> None:
        self.out[name] = on
        self.log.append((name, on))

    def get_output(self, name: str) -> bool:
        return self.out.get(name, False)

    def read_feedback(self, name: str) -> bool | None:
        if name not in self.wired:
            return None
        if name in self.welded:
            return True
        if name in self.stuck_open:
            return False
        return self.out.get(name, False)

    def safe_state(self) -> None:
        self.safe_calls += 1
        for k in self.out:
            self.out[k] = False


class FakeBus:
    """Bus voltage that a test sets directly (None = cannot be measured)."""

    def __init__(self, v: float | None = 0.0) -> None:
        self.v = v

    def read_bus_voltage_v(self) -> float | None:
        return self.v


class Rig:
    """A Protection with fakes and a clock; ``step`` feeds one Measurement."""

    def __init__(self, config: Config | None = None, io: FakeIO | None = None, bus: FakeBus | None = None,
                 soc_pct: float = 50.0) -> None:
        self.config = config or make_config()
        self.io = io or FakeIO()
        self.bus = bus
        self.clock = VirtualClock()
        self.prot = Protection(self.config, self.io, self.bus, self.clock)
        self.soc_pct = soc_pct
        self.t = 0.0
        self.period_s = 0.1
        self.last: ProtectionStatus | None = None
        self.events: list[Any] = []

    def step(self, **kw: Any) -> ProtectionStatus:
        if "current_a" not in kw:
            # A live sensor's reading is never bit-identical from cycle to cycle; a test that does
            # not care about the current must not look like a frozen sensor (which a voltage jump
            # with no current change would then reveal). Tests that give current_a get it exactly.
            kw["current_a"] = 0.001 * (round(self.t / self.period_s) % 2)
        if "bus_v" not in kw and self.bus is not None and self.bus.v is not None:
            kw["bus_v"] = self.bus.v  # acquisition reads the bus sensor into the Measurement
        m = measurement(self.t, **kw)
        st = self.prot.update(m, EstimateStatus(soc_pct=self.soc_pct), None)
        self.events.extend(st.events)
        self.last = st
        self.t = round(self.t + self.period_s, 9)
        self.clock.advance(self.period_s)
        return st

    def run(self, seconds: float, **kw: Any) -> ProtectionStatus:
        st = self.step(**kw)
        for _ in range(round(seconds / self.period_s) - 1):
            st = self.step(**kw)
        return st


def raised(st: ProtectionStatus, condition: str, severity: str = "fault") -> bool:
    return any(a.condition == condition and a.severity.value == severity for a in st.active)


@pytest.fixture
def rig() -> Rig:
    return Rig()
