"""The Prometheus metrics: one declarative table, read at scrape time, documented from itself.

Why a table read at scrape time (a custom collector) rather than gauges set every cycle: the pack
cycle never pays for metrics, a scrape reads the one latest snapshot consistently, and staleness is
decided in one place. When the latest snapshot is stale (``AdapterPorts.fresh()`` is None) every
row marked ``pack`` disappears from the scrape and ``bms_up`` is 0: a dashboard shows a gap, never
a frozen value. Counters kept since the daemon started (PEC errors, overruns) stay: a counter that
stops rising is true, not frozen.

Names follow Prometheus conventions: a ``bms_`` prefix, base units in the name (volts, amperes,
watts, celsius, seconds, joules, coulombs, ratio for 0..1), ``_total`` on counters. Cells, sensors
and boards are labelled from 1 as people count them. ``docs/metrics.md`` is generated from
``METRICS`` (``python -m bmsgateway.adapters.http.metrics > docs/metrics.md``); a test keeps it
current, and another makes sure the Grafana dashboard queries only names from this table.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from prometheus_client import generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from bmsgateway import __version__
from bmsgateway.config.model import Config
from bmsgateway.state import PackState

__all__ = [
    "CYCLE_BUCKETS_S",
    "METRICS",
    "ExporterCounters",
    "MetricSpec",
    "Scrape",
    "TableCollector",
    "make_registry",
    "render_markdown",
    "render_scrape",
]

Kind = Literal["gauge", "counter", "histogram"]
Sample = tuple[tuple[str, ...], float]

#: Buckets of the pack cycle's duration (software time per cycle; the period is 100 ms by default).
CYCLE_BUCKETS_S: tuple[float, ...] = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)


@dataclass
class ExporterCounters:
    """What the HTTP adapter counts itself (from the event log and its own requests)."""

    faults_raised: Counter[tuple[str, str]] = field(default_factory=Counter)  #: (condition, severity)
    events: Counter[tuple[str, str]] = field(default_factory=Counter)  #: (kind, severity)
    events_dropped: Counter[str] = field(default_factory=Counter)  #: per adapter
    http_requests: Counter[tuple[str, str]] = field(default_factory=Counter)  #: (handler, code)
    pin_failures: Counter[str] = field(default_factory=Counter)  #: per adapter
    writes: Counter[tuple[str, str]] = field(default_factory=Counter)  #: (kind, outcome)
    cycle_buckets: list[int] = field(default_factory=lambda: [0] * len(CYCLE_BUCKETS_S))
    cycle_count: int = 0
    cycle_sum_s: float = 0.0

    def copy(self) -> ExporterCounters:
        """A copy that a worker thread may read while the event loop goes on counting."""
        return ExporterCounters(
            Counter(self.faults_raised), Counter(self.events), Counter(self.events_dropped),
            Counter(self.http_requests), Counter(self.pin_failures), Counter(self.writes),
            list(self.cycle_buckets), self.cycle_count, self.cycle_sum_s,
        )

    def observe_cycle(self, duration_s: float) -> None:
        if duration_s != duration_s:
            return
        self.cycle_count += 1
        self.cycle_sum_s += duration_s
        for i, le in enumerate(CYCLE_BUCKETS_S):
            if duration_s <= le:
                self.cycle_buckets[i] += 1


@dataclass(frozen=True)
class Scrape:
    """What one scrape reads: the snapshot (fresh or not), the config and the adapter's counters."""

    fresh: PackState | None
    latest: PackState | None
    config: Config
    counters: ExporterCounters
    now_wall: float
    #: every other adapter's counters (``AdapterPorts.publish_stats``), read on the event loop
    adapters: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricSpec:
    """One row: a metric family and how to read its samples."""

    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...]
    read: Callable[[Scrape], Iterable[Sample]]
    pack: bool = True  #: read from the fresh snapshot only: absent while the snapshot is stale
    group: str = "pack"


def _finite(samples: Iterable[Sample]) -> Iterator[Sample]:
    """Drop NaN samples: a value not read this cycle is absent, never a number."""
    for labels, v in samples:
        if v == v:
            yield labels, float(v)


def _one(get: Callable[[PackState], float]) -> Callable[[Scrape], Iterable[Sample]]:
    def read(s: Scrape) -> Iterable[Sample]:
        assert s.fresh is not None
        return [((), float(get(s.fresh)))]
    return read


def _cell_boards(config: Config) -> list[str]:
    return [str(b + 1) for b, bc in enumerate(config.pack.boards) for _ in range(bc.cells)]


def _cells(get: Callable[[PackState], tuple[float, ...] | tuple[bool, ...]]) -> Callable[[Scrape], Iterable[Sample]]:
    def read(s: Scrape) -> Iterable[Sample]:
        assert s.fresh is not None
        boards = _cell_boards(s.config)
        return [
            ((str(i + 1), boards[i] if i < len(boards) else "0"), float(v)) for i, v in enumerate(get(s.fresh))
        ]
    return read


def _temperatures(s: Scrape) -> Iterable[Sample]:
    assert s.fresh is not None
    m = s.fresh.measurement
    return [((str(i + 1), str(m.temperature_board[i] + 1)), t) for i, t in enumerate(m.temperatures_c)]


def _boards(get: Callable[[PackState, int], float], fresh: bool = True) -> Callable[[Scrape], Iterable[Sample]]:
    def read(s: Scrape) -> Iterable[Sample]:
        state = s.fresh if fresh else s.latest
        if state is None:
            return []
        return [((str(b.index + 1),), float(get(state, b.index))) for b in state.measurement.boards]
    return read


def _state(s: Scrape) -> Iterable[Sample]:
    assert s.fresh is not None
    now = s.fresh.protection.state
    return [((name,), 1.0 if name == now else 0.0) for name in ("init", "precharge", "ready", "fault", "stopped")]


def _active(s: Scrape) -> Iterable[Sample]:
    assert s.fresh is not None
    out: Counter[tuple[str, str]] = Counter()
    for a in s.fresh.protection.active:
        out[(a.condition, str(a.severity))] += 1
    return [(k, float(n)) for k, n in sorted(out.items())]


def _severity_count(severity: str) -> Callable[[Scrape], Iterable[Sample]]:
    def read(s: Scrape) -> Iterable[Sample]:
        assert s.fresh is not None
        return [((), float(sum(1 for a in s.fresh.protection.active if a.severity == severity)))]
    return read


def _contactors(commanded: bool) -> Callable[[Scrape], Iterable[Sample]]:
    def read(s: Scrape) -> Iterable[Sample]:
        assert s.fresh is not None
        out: list[Sample] = []
        for c in s.fresh.protection.contactors:
            v = c.commanded if commanded else c.feedback
            if v is not None:
                out.append(((c.name,), float(v)))
        return out
    return read


def _inputs(s: Scrape) -> Iterable[Sample]:
    """One series per configured discrete input, labelled with its number, function and name."""
    assert s.fresh is not None
    active = s.fresh.protection.inputs
    return [((str(k + 1), c.function, c.name or c.function), float(active[k]))
            for k, c in enumerate(s.config.hardware.inputs) if k < len(active)]


def _charger(s: Scrape) -> Iterable[Sample]:
    assert s.fresh is not None
    present = s.fresh.protection.charger_present
    return [] if present is None else [((), float(present))]


def _latest(get: Callable[[PackState], float]) -> Callable[[Scrape], Iterable[Sample]]:
    def read(s: Scrape) -> Iterable[Sample]:
        return [] if s.latest is None else [((), float(get(s.latest)))]
    return read


def _counter(get: Callable[[ExporterCounters], Counter[tuple[str, str]] | Counter[str]]
             ) -> Callable[[Scrape], Iterable[Sample]]:
    def read(s: Scrape) -> Iterable[Sample]:
        out: list[Sample] = []
        for k, n in sorted(get(s.counters).items()):
            out.append(((k,) if isinstance(k, str) else tuple(k), float(n)))
        return out
    return read


def _adapter_stat(key: str) -> Callable[[Scrape], Iterable[Sample]]:
    def read(s: Scrape) -> Iterable[Sample]:
        return [((name,), float(st.get(key, 0.0))) for name, st in sorted(s.adapters.items())]
    return read


def _dropped(s: Scrape) -> Iterable[Sample]:
    """The HTTP adapter's own drops and every other adapter's, one series per adapter."""
    out = Counter(s.counters.events_dropped)
    for name, st in s.adapters.items():
        out[name] += int(st.get("events_dropped", 0))
    return [((name,), float(n)) for name, n in sorted(out.items())]


def _up(s: Scrape) -> Iterable[Sample]:
    return [((), 0.0 if s.fresh is None else 1.0)]


def _age(s: Scrape) -> Iterable[Sample]:
    return [] if s.latest is None else [((), max(0.0, s.now_wall - s.latest.wall_time))]


def _info(s: Scrape) -> Iterable[Sample]:
    c = s.config
    return [((__version__, str(c.pack.limits.chemistry), str(c.pack.cell_count), c.hardware.backend), 1.0)]


def _sides(get: Callable[[PackState, str], float]) -> Callable[[Scrape], Iterable[Sample]]:
    """Two-sensor setups (hardware.consumer_current_sensor): one sample per side, none with one sensor."""
    def read(s: Scrape) -> Iterable[Sample]:
        assert s.fresh is not None
        if not s.fresh.measurement.two_current_sensors:
            return []
        return [((side,), float(get(s.fresh, side))) for side in ("charger", "consumer")]
    return read


def _side_current(s: PackState, side: str) -> float:
    m = s.measurement
    return m.charger_current_a if side == "charger" else m.consumer_current_a


def _side_power(s: PackState, side: str) -> float:
    return s.charger_power_w if side == "charger" else s.consumer_power_w


def _side_energy(s: PackState, side: str) -> float:
    e = s.estimate
    return (e.charger_total_wh if side == "charger" else e.consumer_total_wh) * _WH_J


def _side_energy_today(s: PackState, side: str) -> float:
    e = s.estimate
    return (e.charger_today_wh if side == "charger" else e.consumer_today_wh) * _WH_J


_WH_J = 3600.0
_AH_C = 3600.0

#: The one metrics table. Order = order of the docs and of the scrape.
METRICS: tuple[MetricSpec, ...] = (
    # -- liveness -------------------------------------------------------------------------------
    MetricSpec("bms_up", "gauge", "1 while the latest pack snapshot is fresh, 0 when it is stale or missing "
               "(pack gauges are then absent)", (), _up, pack=False, group="daemon"),
    MetricSpec("bms_snapshot_age_seconds", "gauge", "age of the latest pack snapshot", (), _age, pack=False,
               group="daemon"),
    MetricSpec("bms_info", "gauge", "always 1; the labels describe the gateway",
               ("version", "chemistry", "cells", "backend"), _info, pack=False, group="daemon"),
    # -- pack -----------------------------------------------------------------------------------
    MetricSpec("bms_pack_voltage_volts", "gauge", "pack voltage (sum of the cells)", (),
               _one(lambda s: s.pack_voltage_v)),
    MetricSpec("bms_pack_current_amperes", "gauge", "pack current, positive = charging", (),
               _one(lambda s: s.measurement.current_a)),
    MetricSpec("bms_pack_power_watts", "gauge", "pack power, positive = charging", (), _one(lambda s: s.power_w)),
    MetricSpec("bms_state_of_charge_ratio", "gauge", "state of charge, 0..1", (),
               _one(lambda s: s.estimate.soc_pct / 100.0)),
    MetricSpec("bms_state_of_charge_sigma_ratio", "gauge",
               "1-sigma uncertainty of the state of charge, 0..1 (the truth lies within 2 sigma)", (),
               _one(lambda s: s.estimate.soc_sigma_pct / 100.0)),
    MetricSpec("bms_state_of_health_ratio", "gauge", "state of health (usable / rated capacity), 0..1", (),
               _one(lambda s: s.estimate.soh_pct / 100.0)),
    MetricSpec("bms_capacity_coulombs", "gauge", "estimated usable capacity (Ah x 3600)", (),
               _one(lambda s: s.estimate.capacity_ah * _AH_C)),
    MetricSpec("bms_equivalent_full_cycles", "gauge", "charge throughput in full cycles since the counters began",
               (), _one(lambda s: s.estimate.equivalent_cycles)),
    MetricSpec("bms_energy_charged_joules", "gauge", "energy into the pack since the last counter reset (Wh x 3600)",
               (), _one(lambda s: s.estimate.energy_in_wh * _WH_J)),
    MetricSpec("bms_energy_discharged_joules", "gauge",
               "energy out of the pack since the last counter reset (Wh x 3600)", (),
               _one(lambda s: s.estimate.energy_out_wh * _WH_J)),
    MetricSpec("bms_current_sensor_gain_ratio", "gauge", "gain factor of the current sensor (gain calibration; "
               "1 = none)", (), _one(lambda s: s.measurement.current_gain)),
    MetricSpec("bms_current_low_range", "gauge", "1 while the dual-range current sensor reads from its low range",
               (), _one(lambda s: s.measurement.current_low_range)),
    MetricSpec("bms_side_current_amperes", "gauge", "two-sensor setups: current from the chargers / solar "
               "(side=charger) and drawn by the consumers (side=consumer)", ("side",), _sides(_side_current)),
    MetricSpec("bms_side_power_watts", "gauge", "two-sensor setups: power from the chargers / solar and to the "
               "consumers", ("side",), _sides(_side_power)),
    MetricSpec("bms_side_energy_joules", "gauge", "two-sensor setups: energy from the chargers / solar and to the "
               "consumers since the last counter reset (Wh x 3600)", ("side",), _sides(_side_energy)),
    MetricSpec("bms_side_energy_today_joules", "gauge", "two-sensor setups: the same since local midnight",
               ("side",), _sides(_side_energy_today)),
    # -- cells ----------------------------------------------------------------------------------
    MetricSpec("bms_cell_voltage_volts", "gauge", "cell voltage (absent for a cell not read this cycle)",
               ("cell", "board"), _cells(lambda s: s.measurement.cell_voltages_v), group="cells"),
    MetricSpec("bms_cell_balancing", "gauge", "1 while the cell's balancing resistor is switched on",
               ("cell", "board"), _cells(lambda s: s.protection.balancing), group="cells"),
    MetricSpec("bms_cell_voltage_spread_volts", "gauge", "highest minus lowest fresh cell voltage", (),
               _one(lambda s: s.max_cell_v - s.min_cell_v), group="cells"),
    MetricSpec("bms_temperature_celsius", "gauge", "thermistor temperature", ("sensor", "board"), _temperatures,
               group="cells"),
    MetricSpec("bms_board_ok", "gauge", "1 when every register of the board was read with a good PEC this cycle",
               ("board",), _boards(lambda s, b: s.measurement.boards[b].ok), group="cells"),
    MetricSpec("bms_board_die_temperature_celsius", "gauge", "the monitor chip's die temperature", ("board",),
               _boards(lambda s, b: s.measurement.boards[b].die_temperature_c), group="cells"),
    # -- limits and protection -------------------------------------------------------------------
    MetricSpec("bms_charge_voltage_limit_volts", "gauge", "CVL sent to the inverter", (),
               _one(lambda s: s.protection.cvl_v), group="limits"),
    MetricSpec("bms_charge_current_limit_amperes", "gauge", "CCL sent to the inverter", (),
               _one(lambda s: s.protection.ccl_a), group="limits"),
    MetricSpec("bms_discharge_current_limit_amperes", "gauge", "DCL sent to the inverter", (),
               _one(lambda s: s.protection.dcl_a), group="limits"),
    MetricSpec("bms_charge_allowed", "gauge", "1 while charging is allowed", (),
               _one(lambda s: s.protection.charge_allowed), group="limits"),
    MetricSpec("bms_discharge_allowed", "gauge", "1 while discharging is allowed", (),
               _one(lambda s: s.protection.discharge_allowed), group="limits"),
    MetricSpec("bms_protection_state", "gauge", "1 for the control state the pack is in", ("state",), _state,
               group="limits"),
    MetricSpec("bms_condition_active", "gauge", "active conditions of the fault engine (count of locations)",
               ("condition", "severity"), _active, group="limits"),
    MetricSpec("bms_faults_active", "gauge", "number of active faults", (), _severity_count("fault"),
               group="limits"),
    MetricSpec("bms_warnings_active", "gauge", "number of active warnings", (), _severity_count("warning"),
               group="limits"),
    MetricSpec("bms_contactor_commanded", "gauge", "1 while the contactor or relay output is commanded closed",
               ("contactor",), _contactors(True), group="limits"),
    MetricSpec("bms_contactor_feedback", "gauge", "the contactor's feedback input (absent when none is wired)",
               ("contactor",), _contactors(False), group="limits"),
    MetricSpec("bms_input_active", "gauge", "1 while the discrete input is active (debounced, hardware.inputs)",
               ("input", "function", "name"), _inputs, group="limits"),
    MetricSpec("bms_charger_present", "gauge", "1 while a charger_present input is active (absent when none)",
               (), _charger, group="limits"),
    MetricSpec("bms_alarm_active", "gauge", "1 while the alarm is active (a fault, not remote off; also silenced)",
               (), _one(lambda s: s.protection.alarm_active), group="limits"),
    MetricSpec("bms_alarm_output", "gauge", "the alarm output right now (its pattern's on phase)", (),
               _one(lambda s: s.protection.alarm_on), group="limits"),
    # -- counters (since the daemon started) -----------------------------------------------------
    MetricSpec("bms_pec_errors_total", "counter", "isoSPI reads with a bad PEC (each failed attempt)", ("board",),
               _boards(lambda s, b: s.measurement.boards[b].pec_errors_total, fresh=False), pack=False,
               group="counters"),
    MetricSpec("bms_loop_overruns_total", "counter", "pack cycles that took longer than their period", (),
               _latest(lambda s: s.timing.overruns), pack=False, group="counters"),
    MetricSpec("bms_faults_raised_total", "counter", "conditions raised by the fault engine",
               ("condition", "severity"), _counter(lambda c: c.faults_raised), pack=False, group="counters"),
    MetricSpec("bms_events_total", "counter", "events appended to the event log", ("kind", "severity"),
               _counter(lambda c: c.events), pack=False, group="counters"),
    MetricSpec("bms_events_dropped_total", "counter",
               "events a subscriber could not get (gone from the bounded log or buffer before delivery)",
               ("adapter",), _dropped, pack=False, group="counters"),
    MetricSpec("bms_adapter_requests_total", "counter",
               "requests served or messages sent by each protocol adapter (Modbus requests, MQTT messages, "
               "inverter CAN frames)", ("adapter",), _adapter_stat("requests"), pack=False, group="counters"),
    MetricSpec("bms_adapter_errors_total", "counter",
               "protocol errors of each adapter (Modbus exception replies and framing errors, MQTT publish and "
               "connect failures and refused commands, CAN send errors and bus-off)",
               ("adapter",), _adapter_stat("errors"), pack=False, group="counters"),
    MetricSpec("bms_http_requests_total", "counter", "HTTP requests answered", ("handler", "code"),
               _counter(lambda c: c.http_requests), pack=False, group="counters"),
    MetricSpec("bms_pin_failures_total", "counter", "writes refused for a missing or wrong PIN", ("adapter",),
               _counter(lambda c: c.pin_failures), pack=False, group="counters"),
    MetricSpec("bms_writes_total", "counter", "settings changes and commands received over HTTP",
               ("kind", "outcome"), _counter(lambda c: c.writes), pack=False, group="counters"),
    MetricSpec("bms_cycle_duration_seconds", "histogram",
               "software time of each pack cycle (acquisition, estimation, protection)", (), lambda s: [],
               pack=False, group="counters"),
)

class TableCollector(Collector):
    """Builds every family of ``METRICS`` from one ``Scrape`` per collection."""

    def __init__(self, scrape: Callable[[], Scrape]) -> None:
        self._scrape = scrape

    def describe(self) -> Iterable[Metric]:
        return []  # families depend on the snapshot: no early registration check

    def collect(self) -> Iterable[Metric]:
        s = self._scrape()
        for spec in METRICS:
            if spec.pack and s.fresh is None:
                continue
            if spec.kind == "histogram":
                c = s.counters
                h = HistogramMetricFamily(spec.name, spec.help)
                buckets = [(_le(le), float(n)) for le, n in zip(CYCLE_BUCKETS_S, c.cycle_buckets, strict=True)]
                buckets.append(("+Inf", float(c.cycle_count)))
                h.add_metric([], buckets, c.cycle_sum_s)
                yield h
                continue
            family: GaugeMetricFamily | CounterMetricFamily
            if spec.kind == "counter":
                family = CounterMetricFamily(spec.name.removesuffix("_total"), spec.help, labels=spec.labels)
            else:
                family = GaugeMetricFamily(spec.name, spec.help, labels=spec.labels)
            for labels, value in _finite(spec.read(s)):
                family.add_metric(list(labels), value)
            yield family


def _le(x: float) -> str:
    return repr(x)


def make_registry(scrape: Callable[[], Scrape]) -> CollectorRegistry:
    """A registry of its own per adapter (several daemons may live in one test process)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(TableCollector(scrape))
    return registry


def render_scrape(scrape: Scrape) -> bytes:
    """The Prometheus text format of one scrape (safe in a worker thread: ``scrape`` is not shared)."""
    return generate_latest(make_registry(lambda: scrape))


def render_markdown() -> str:
    """``docs/metrics.md``."""
    out = [
        "# Prometheus metrics",
        "",
        "Generated from `bmsgateway/adapters/http/metrics.py` by",
        "`python -m bmsgateway.adapters.http.metrics > docs/metrics.md`; do not edit.",
        "",
        "Served on `/metrics` of the HTTP server (`[http]`). Units are in the names (base units:",
        "volts, amperes, watts, celsius, seconds, joules, coulombs; ratios 0..1). Cells, sensors and",
        "boards are labelled from 1. **Stale**: `hidden` rows disappear from the scrape while the latest",
        "snapshot is older than `system.stale_after_s` (then `bms_up` is 0): a dashboard shows a gap,",
        "never a frozen value. `kept` rows stay (counters since start, liveness).",
        "",
        "| metric | type | labels | stale | meaning |",
        "|---|---|---|---|---|",
    ]
    for m in METRICS:
        labels = ", ".join(f"`{x}`" for x in m.labels)
        out.append(f"| `{m.name}` | {m.kind} | {labels} | {'hidden' if m.pack else 'kept'} | {m.help} |")
    return "\n".join(out) + "\n"


def metric_names() -> frozenset[str]:
    """Every series name a scrape can contain (histograms with their suffixes)."""
    names: set[str] = set()
    for m in METRICS:
        names.add(m.name)
        if m.kind == "histogram":
            names.update({m.name + "_bucket", m.name + "_sum", m.name + "_count"})
    return frozenset(names)


if __name__ == "__main__":
    print(render_markdown(), end="")
