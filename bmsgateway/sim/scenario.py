"""Pack current profiles: what the chargers and loads would draw if every path were closed.

Why two components: in an off-grid system (123\\SmartBMS manual, the "allow to charge" relay cuts
the solar chargers and the "allow to discharge" relay cuts the inverter) charging and discharging
are switched separately. A scenario therefore states the charge source current and the load
current apart (``sources_a``); the simulator lets each through only when its path is closed and
the pack current is their difference. ``current_a`` is that net with every path closed.

Times are seconds since the simulation started. Positive current = charging.
"""

from __future__ import annotations

import csv
import itertools
import math
from bisect import bisect_right
from pathlib import Path
from typing import Protocol, runtime_checkable

from bmsgateway.config.simulator import SimulatorConfig

__all__ = [
    "ConstantScenario",
    "CsvScenario",
    "IdleScenario",
    "Scenario",
    "SolarDayScenario",
    "make_scenario",
]

_DAY_S = 86400.0
_HOUR_S = 3600.0


@runtime_checkable
class Scenario(Protocol):
    """A current profile over simulated time."""

    def current_a(self, t_s: float) -> float:
        """Net pack current at ``t_s`` with every path closed (positive = charging)."""
        ...

    def sources_a(self, t_s: float) -> tuple[float, float]:
        """(charge source current >= 0, load current >= 0) at ``t_s``."""
        ...


def _split(net_a: float) -> tuple[float, float]:
    return (net_a, 0.0) if net_a >= 0 else (0.0, -net_a)


class IdleScenario:
    """No current at all: rest, relaxation and self-discharge."""

    def current_a(self, t_s: float) -> float:
        return 0.0

    def sources_a(self, t_s: float) -> tuple[float, float]:
        return (0.0, 0.0)


class ConstantScenario:
    """One constant current: a charger (positive) or a load (negative)."""

    def __init__(self, current_a: float) -> None:
        self._current_a = current_a

    def current_a(self, t_s: float) -> float:
        return self._current_a

    def sources_a(self, t_s: float) -> tuple[float, float]:
        return _split(self._current_a)


class SolarDayScenario:
    """An off-grid day, repeating every 24 h.

    PV charges with a half-sine from 07:00 to 19:00 peaking at ``solar_peak_a`` at 13:00; the
    inverter draws ``base_load_a`` at all hours plus ``evening_load_a`` from 18:00 to 23:00.
    ``start_hour`` is the time of day at t = 0. ``day_length_h`` compresses the day: the profile's
    24 hours then pass in that many hours of simulated time (a fast day for tests and demos).
    """

    SUNRISE_H = 7.0
    SUNSET_H = 19.0
    EVENING_START_H = 18.0
    EVENING_END_H = 23.0

    def __init__(self, solar_peak_a: float, evening_load_a: float, base_load_a: float, start_hour: float,
                 day_length_h: float = 24.0) -> None:
        self.solar_peak_a = solar_peak_a
        self._speed = 24.0 / day_length_h
        self.evening_load_a = evening_load_a
        self.base_load_a = base_load_a
        self.start_s = start_hour * _HOUR_S

    def hour_of_day(self, t_s: float) -> float:
        return ((t_s * self._speed + self.start_s) % _DAY_S) / _HOUR_S

    def sources_a(self, t_s: float) -> tuple[float, float]:
        h = self.hour_of_day(t_s)
        pv = 0.0
        if self.SUNRISE_H < h < self.SUNSET_H:
            pv = self.solar_peak_a * math.sin(math.pi * (h - self.SUNRISE_H) / (self.SUNSET_H - self.SUNRISE_H))
        load = self.base_load_a
        if self.EVENING_START_H <= h < self.EVENING_END_H:
            load += self.evening_load_a
        return (pv, load)

    def current_a(self, t_s: float) -> float:
        pv, load = self.sources_a(t_s)
        return pv - load


class CsvScenario:
    """A recorded profile: rows ``time_s,current_a`` (a header line is allowed), linear in between.

    Before the first time the first value holds. After the last time the profile either starts
    again from its beginning (``repeat``; period = last time, so the last row should equal the
    first) or holds the last value.
    """

    def __init__(self, times_s: list[float], currents_a: list[float], repeat: bool) -> None:
        if not times_s:
            raise ValueError("CSV profile has no rows")
        if any(b <= a for a, b in itertools.pairwise(times_s)):
            raise ValueError("CSV profile times must be strictly increasing")
        self.times_s = times_s
        self.currents_a = currents_a
        self.repeat = repeat and times_s[-1] > 0

    @classmethod
    def from_file(cls, path: str | Path, repeat: bool) -> CsvScenario:
        """Read a profile; errors name the file and line."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"simulator.csv_path = {str(p)!r}: cannot read file: {exc.strerror or exc}") from None
        times: list[float] = []
        currents: list[float] = []
        for lineno, row in enumerate(csv.reader(text.splitlines()), start=1):
            if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
                continue
            if len(row) < 2:
                raise ValueError(f"{p}:{lineno}: expected time_s,current_a, got {','.join(row)!r}")
            try:
                t, i = float(row[0]), float(row[1])
            except ValueError:
                if not times:
                    continue  # header line
                raise ValueError(f"{p}:{lineno}: not numbers: {','.join(row)!r}") from None
            if times and t <= times[-1]:
                raise ValueError(f"{p}:{lineno}: time {t} is not after the previous {times[-1]}")
            times.append(t)
            currents.append(i)
        if not times:
            raise ValueError(f"{p}: no time_s,current_a rows")
        return cls(times, currents, repeat)

    def current_a(self, t_s: float) -> float:
        ts = self.times_s
        if self.repeat and t_s > ts[-1]:
            t_s = ts[0] + (t_s - ts[0]) % (ts[-1] - ts[0]) if ts[-1] > ts[0] else ts[0]
        if t_s <= ts[0]:
            return self.currents_a[0]
        if t_s >= ts[-1]:
            return self.currents_a[-1]
        k = bisect_right(ts, t_s) - 1
        frac = (t_s - ts[k]) / (ts[k + 1] - ts[k])
        return self.currents_a[k] + frac * (self.currents_a[k + 1] - self.currents_a[k])

    def sources_a(self, t_s: float) -> tuple[float, float]:
        return _split(self.current_a(t_s))


def make_scenario(cfg: SimulatorConfig) -> Scenario:
    """The scenario named in ``simulator.scenario``; raises ValueError for an unusable CSV."""
    if cfg.scenario == "idle":
        return IdleScenario()
    if cfg.scenario == "constant":
        return ConstantScenario(cfg.constant_current_a)
    if cfg.scenario == "solar_day":
        return SolarDayScenario(cfg.solar_peak_a, cfg.evening_load_a, cfg.base_load_a, cfg.start_hour,
                                cfg.day_length_h)
    if not cfg.csv_path:
        raise ValueError("simulator.scenario = 'csv' needs simulator.csv_path")
    return CsvScenario.from_file(cfg.csv_path, cfg.csv_repeat)
