"""The CANopen object dictionary, declared once: the EDS, the docs and the SDO server read it.

Layout (CiA 301 communication area, CiA 418 where it fits, manufacturer area for the rest):

* 0x1000-0x1A02: device type 0x1A2 (CiA 418 battery module), error register, names, heartbeat
  producer time, identity, three TPDOs (communication 0x1800-0x1802, mapping 0x1A00-0x1A02);
* 0x6000 battery status, 0x6010 temperature (1/8 °C), 0x6020 battery parameters, 0x6060 battery
  voltage (1/1024 V), 0x6070 charge current requested (= CCL, 1/16 A), 0x6081 SOC (%); the CiA
  418 scalings are from the profile's public summary (protocols.md §3.1, marked unverified there);
* 0x2000 every cell voltage (mV), 0x2001 every temperature (0.1 °C), 0x2010-0x2024 pack values,
  faults, status, 0x2030-0x2032 the inverter limits, 0x2040-0x204A counters (manufacturer area);
* 0x3000-0x3007 settings (rw, through the validated config path, PIN rule as Modbus), 0x3100 the
  PIN (write-only), 0x3101 the command object (codes of ``bmsgateway.requests.COMMANDS``).

Values are engineering values divided by ``scale`` and rounded (``raw = round(value / scale)``).
A live value with no fresh snapshot is refused with SDO abort 0x08000024 (no data available),
never served from an old snapshot.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from bmsgateway import __version__
from bmsgateway.config.model import Config
from bmsgateway.config.reference import key_bounds
from bmsgateway.requests import COMMANDS
from bmsgateway.state import PackState, extremes

__all__ = ["DTYPES", "Context", "Entry", "Obj", "build_dictionary", "tpdo_layout"]

DType = Literal["U8", "U16", "U32", "I16", "I32", "STR"]
Access = Literal["ro", "rw", "wo", "const"]

#: EDS data type codes and bit widths.
DTYPES: dict[str, tuple[int, int]] = {
    "I16": (0x0003, 16), "I32": (0x0004, 32), "U8": (0x0005, 8), "U16": (0x0006, 16), "U32": (0x0007, 32),
    "STR": (0x0009, 0),
}
DEVICE_TYPE_CIA418 = 0x000001A2
STATES = ("init", "precharge", "ready", "fault", "stopped")


@dataclass(frozen=True, slots=True)
class Context:
    """What a value is computed from: the fresh snapshot (None = stale), the config, extra status."""

    state: PackState | None
    config: Config
    extra: Mapping[str, float] = field(default_factory=dict)


Source = Callable[[Context], float | int | str | None]


@dataclass(frozen=True, slots=True)
class Entry:
    """One VAR (sub-index 0 of a VAR object, or one sub-index of an ARRAY/RECORD)."""

    sub: int
    name: str
    dtype: DType
    access: Access = "ro"
    source: Source | None = None  #: live value in engineering units (needs a fresh snapshot)
    default: float | int | str | None = None  #: constant / configuration value for the EDS
    unit: str = ""
    scale: float = 1.0
    pdo: bool = False
    live: bool = True  #: needs a fresh snapshot (False: config, constants, counters of the node)
    config_key: str | None = None
    minimum: float | None = None  #: engineering units, for writes and the EDS limits
    maximum: float | None = None
    command: str | None = None  #: "pin" or "command"
    description: str = ""

    def raw(self, value: float | int | str) -> int | str:
        if self.dtype == "STR":
            return str(value)
        assert not isinstance(value, str)
        if isinstance(value, float) and (value != value or math.isinf(value)):
            raise ValueError("not a number")
        r = round(value / self.scale)
        bits = DTYPES[self.dtype][1]
        if self.dtype.startswith("I"):
            lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        else:
            lo, hi = 0, (1 << bits) - 1
        return min(hi, max(lo, r))


@dataclass(frozen=True, slots=True)
class Obj:
    """An object: VAR (one entry, sub 0), ARRAY or RECORD (sub 0 = highest sub-index)."""

    index: int
    name: str
    kind: Literal["VAR", "ARRAY", "RECORD"]
    entries: tuple[Entry, ...]
    group: str = ""

    @property
    def object_type(self) -> int:
        return {"VAR": 0x7, "ARRAY": 0x8, "RECORD": 0x9}[self.kind]


def _st(fn: Callable[[PackState], float | int]) -> Source:
    def get(c: Context) -> float | int | None:
        return None if c.state is None else fn(c.state)

    return get


def _active(s: PackState, *conditions: str) -> bool:
    return any(a.condition in conditions for a in s.protection.active)


def battery_status(s: PackState) -> int:
    """0x6000: bit0 charge allowed, bit1 discharge allowed, bit2 fault, bit3 warning, bit4 balancing."""
    p = s.protection
    return (int(p.charge_allowed) | int(p.discharge_allowed) << 1 | int(p.fault_bits != 0) << 2
            | int(p.warning_bits != 0) << 3 | int(any(p.balancing)) << 4)


def error_register(c: Context) -> int:
    """0x1001 (CiA 301): bit0 generic, bit1 current, bit2 voltage, bit3 temperature, bit4 communication."""
    s = c.state
    if s is None:
        return 0x11  # generic + communication: no fresh data
    faults = [a.condition for a in s.protection.active if a.severity == "fault"]
    if not faults:
        return 0
    reg = 0x01
    if any("current" in f or f == "short_circuit" for f in faults):
        reg |= 0x02
    if any("voltage" in f for f in faults):
        reg |= 0x04
    if any("temperature" in f for f in faults):
        reg |= 0x08
    if "communication_lost" in faults:
        reg |= 0x10
    return reg


def _cell(i: int) -> Source:
    return _st(lambda s: s.measurement.cell_voltages_v[i])


def _temp(i: int) -> Source:
    return _st(lambda s: s.measurement.temperatures_c[i])


def _mean_temp(s: PackState) -> float:
    return extremes(s.measurement.temperatures_c)[4]


def _setting(index: int, name: str, key: str, dtype: DType, scale: float, unit: str,
             get: Callable[[Config], float]) -> Obj:
    lo, hi = key_bounds(key, scale)
    return Obj(index, name, "VAR", (Entry(
        0, name, dtype, "rw", source=lambda c: get(c.config), default=None, unit=unit, scale=scale, live=False,
        config_key=key, minimum=lo, maximum=hi, description=f"config `{key}`",
    ),), group="Settings (PIN)")


def tpdo_layout() -> tuple[tuple[str, tuple[tuple[int, int], ...]], ...]:
    """(name, ((index, sub), ...)) of TPDO1..3, at most 8 bytes each."""
    return (
        ("TPDO1 status, temperature, SOC, faults", ((0x6000, 0), (0x6010, 0), (0x6081, 0), (0x2020, 0))),
        ("TPDO2 pack voltage and current", ((0x2011, 0), (0x2010, 0))),
        ("TPDO3 cell and temperature extremes", ((0x2012, 0), (0x2013, 0), (0x2014, 0), (0x2015, 0))),
    )


def build_dictionary(config: Config) -> tuple[Obj, ...]:
    """Every object, in index order, for ``config``'s pack (cell and sensor counts)."""
    n_cells = config.pack.cell_count
    n_temps = config.pack.thermistor_count
    co = config.can.canopen
    major, _, rest = __version__.partition(".")
    objs: list[Obj] = []

    def var(index: int, name: str, dtype: DType, source: Source | None = None, *, group: str,
            **kw: Any) -> None:
        objs.append(Obj(index, name, "VAR", (Entry(0, name, dtype, source=source, **kw),), group=group))

    g = "Communication (CiA 301)"
    var(0x1000, "Device type", "U32", default=DEVICE_TYPE_CIA418, access="const", live=False, group=g,
        description="0x1A2: CiA 418 battery module")
    var(0x1001, "Error register", "U8", error_register, live=False, pdo=True, group=g,
        description="bit0 generic, bit1 current, bit2 voltage, bit3 temperature, bit4 communication")
    var(0x1008, "Manufacturer device name", "STR", default="bmsgateway", access="const", live=False, group=g)
    var(0x100A, "Manufacturer software version", "STR", default=__version__, access="const", live=False,
        group=g)
    objs.append(Obj(0x1017, "Producer heartbeat time", "VAR", (Entry(
        0, "Producer heartbeat time", "U16", "rw", source=lambda c: c.config.can.canopen.heartbeat_ms,
        default=co.heartbeat_ms, unit="ms", live=False, config_key="can.canopen.heartbeat_ms",
        minimum=0, maximum=65535, description="config `can.canopen.heartbeat_ms` (PIN)"),), group=g))
    objs.append(Obj(0x1018, "Identity object", "RECORD", (
        Entry(1, "Vendor-ID", "U32", default=0, access="ro", live=False),
        Entry(2, "Product code", "U32", default=0x418, access="ro", live=False),
        Entry(3, "Revision number", "U32", default=int(major) << 16 | int(rest.split(".")[0] or 0), access="ro",
              live=False),
        Entry(4, "Serial number", "U32", default=0, access="ro", live=False),
    ), group=g))
    tpdos = tpdo_layout()
    for k, (_name, _mapped) in enumerate(tpdos):
        objs.append(Obj(0x1800 + k, f"TPDO communication parameter {k + 1}", "RECORD", (
            Entry(1, "COB-ID used by TPDO", "U32", default=f"$NODEID+0x{0x180 + 0x100 * k:X}", access="ro",
                  live=False),
            Entry(2, "Transmission type", "U8", default=254, access="ro", live=False),
            Entry(3, "Inhibit time", "U16", default=0, access="ro", live=False),
            Entry(5, "Event timer", "U16", default=round(co.tpdo_period_s * 1000), unit="ms", access="ro",
                  live=False, description="config `can.canopen.tpdo_period_s`"),
        ), group=g))
    index_of: dict[tuple[int, int], Entry] = {}

    g = "CiA 418 battery"
    var(0x6000, "Battery status", "U8", _st(battery_status), pdo=True, group=g,
        description="bit0 charge allowed, bit1 discharge allowed, bit2 fault, bit3 warning, bit4 balancing, "
                    "bit5 no fresh data (TPDO only; SDO aborts 0x08000024)")
    var(0x6010, "Temperature", "I16", _st(_mean_temp), unit="°C", scale=0.125, pdo=True, group=g,
        description="mean of the pack's thermistors")
    objs.append(Obj(0x6020, "Battery parameters", "ARRAY", (
        Entry(1, "Battery type", "U8", default=4, access="ro", live=False, description="4 = lithium ion"),
        Entry(2, "Ah capacity", "U16", source=lambda c: c.config.pack.capacity_ah, unit="Ah", live=False),
        Entry(3, "Maximum charge current", "U16", source=lambda c: c.config.protection.limits.max_charge_current_a,
              unit="A", scale=0.0625, live=False),
        Entry(4, "Number of cells", "U16", default=n_cells, access="ro", live=False),
    ), group=g))
    var(0x6060, "Battery voltage", "U32", _st(lambda s: s.pack_voltage_v), unit="V", scale=1 / 1024, pdo=True,
        group=g)
    var(0x6070, "Charge current requested", "U16", _st(lambda s: s.protection.ccl_a), unit="A", scale=0.0625,
        pdo=True, group=g, description="the charge current limit (CCL)")
    var(0x6081, "Battery state of charge", "U8", _st(lambda s: s.estimate.soc_pct), unit="%", pdo=True, group=g)

    g = "Cells and temperatures"
    objs.append(Obj(0x2000, "Cell voltages", "ARRAY", tuple(
        Entry(i + 1, f"Cell {i + 1} voltage", "U16", source=_cell(i),
              unit="V", scale=0.001) for i in range(n_cells)), group=g))
    objs.append(Obj(0x2001, "Temperatures", "ARRAY", tuple(
        Entry(i + 1, f"Temperature {i + 1}", "I16", source=_temp(i),
              unit="°C", scale=0.1) for i in range(n_temps)), group=g))

    g = "Pack"
    var(0x2010, "Pack current", "I32", _st(lambda s: s.measurement.current_a), unit="A", scale=0.001, pdo=True,
        group=g, description="positive = charging")
    var(0x2011, "Pack voltage", "U32", _st(lambda s: s.pack_voltage_v), unit="V", scale=0.001, pdo=True, group=g)
    var(0x2012, "Min cell voltage", "U16", _st(lambda s: s.min_cell_v), unit="V", scale=0.001, pdo=True, group=g)
    var(0x2013, "Max cell voltage", "U16", _st(lambda s: s.max_cell_v), unit="V", scale=0.001, pdo=True, group=g)
    var(0x2014, "Min temperature", "I16", _st(lambda s: s.min_temperature_c), unit="°C", scale=0.1, pdo=True,
        group=g)
    var(0x2015, "Max temperature", "I16", _st(lambda s: s.max_temperature_c), unit="°C", scale=0.1, pdo=True,
        group=g)
    var(0x2016, "State of charge", "U16", _st(lambda s: s.estimate.soc_pct), unit="%", scale=0.1, group=g)
    var(0x2017, "State of health", "U16", _st(lambda s: s.estimate.soh_pct), unit="%", scale=0.1, group=g)
    var(0x2020, "Fault bits", "U32", _st(lambda s: s.protection.fault_bits), pdo=True, group=g,
        description="bit n = condition n at fault level (docs/faults.md)")
    var(0x2021, "Warning bits", "U32", _st(lambda s: s.protection.warning_bits), pdo=True, group=g)
    var(0x2022, "Control state", "U8", _st(lambda s: STATES.index(s.protection.state)
                                            if s.protection.state in STATES else 255), group=g,
        description=", ".join(f"{i} {n}" for i, n in enumerate(STATES)))
    var(0x2023, "Snapshot sequence", "U32", _st(lambda s: s.seq), group=g)
    var(0x2024, "Data fresh", "U8", lambda c: int(c.state is not None), live=False, group=g,
        description="1 = a fresh snapshot is served, 0 = stale (live objects then abort 0x08000024)")

    g = "Inverter limits"
    var(0x2030, "Charge voltage limit", "U32", _st(lambda s: s.protection.cvl_v), unit="V", scale=0.001, group=g)
    var(0x2031, "Charge current limit", "U16", _st(lambda s: s.protection.ccl_a), unit="A", scale=0.1, group=g)
    var(0x2032, "Discharge current limit", "U16", _st(lambda s: s.protection.dcl_a), unit="A", scale=0.1, group=g)

    g = "Counters"
    var(0x2040, "Charge in", "U32", _st(lambda s: s.estimate.charge_in_ah), unit="Ah", scale=0.01, group=g)
    var(0x2041, "Charge out", "U32", _st(lambda s: s.estimate.charge_out_ah), unit="Ah", scale=0.01, group=g)
    var(0x2042, "Energy in", "U32", _st(lambda s: s.estimate.energy_in_wh), unit="Wh", group=g)
    var(0x2043, "Energy out", "U32", _st(lambda s: s.estimate.energy_out_wh), unit="Wh", group=g)
    var(0x2044, "Equivalent cycles", "U32", _st(lambda s: s.estimate.equivalent_cycles), scale=0.01, group=g)
    var(0x2045, "PEC errors", "U32", _st(lambda s: sum(b.pec_errors_total for b in s.measurement.boards)),
        group=g)
    var(0x2046, "Loop overruns", "U32", _st(lambda s: s.timing.overruns), group=g)
    var(0x2047, "CAN frames sent (inverter)", "U32", lambda c: c.extra.get("frames_sent", 0), live=False, group=g)
    var(0x2048, "CAN send errors (inverter)", "U32", lambda c: c.extra.get("send_errors", 0), live=False, group=g)
    var(0x2049, "CAN bus-off / reopen count", "U32", lambda c: c.extra.get("reopens", 0), live=False, group=g)
    var(0x204A, "Inverter keep-alive", "U8", lambda c: c.extra.get("keepalive", 0), live=False, group=g,
        description="0 unknown, 1 present, 2 missing (0x305 from the inverter)")

    lim = "pack.chemistry"
    objs.append(_setting(0x3000, "Cell Vmin", f"{lim}.vmin_v", "U16", 0.001, "V", lambda c: c.pack.limits.vmin_v))
    objs.append(_setting(0x3001, "Cell Vbalance", f"{lim}.vbalance_v", "U16", 0.001, "V",
                         lambda c: c.pack.limits.vbalance_v))
    objs.append(_setting(0x3002, "Cell Vmax", f"{lim}.vmax_v", "U16", 0.001, "V", lambda c: c.pack.limits.vmax_v))
    objs.append(_setting(0x3003, "Max charge current", "protection.limits.max_charge_current_a", "U16", 0.1, "A",
                         lambda c: c.protection.limits.max_charge_current_a))
    objs.append(_setting(0x3004, "Max discharge current", "protection.limits.max_discharge_current_a", "U16", 0.1,
                         "A", lambda c: c.protection.limits.max_discharge_current_a))
    objs.append(_setting(0x3005, "Capacity", "pack.capacity_ah", "U32", 0.1, "Ah", lambda c: c.pack.capacity_ah))
    objs.append(_setting(0x3006, "Charge restart SOC", "protection.relays.charge_restart_soc_pct", "U16", 0.1, "%",
                         lambda c: c.protection.relays.charge_restart_soc_pct))
    objs.append(_setting(0x3007, "Discharge restart SOC", "protection.relays.discharge_restart_soc_pct", "U16", 0.1,
                         "%", lambda c: c.protection.relays.discharge_restart_soc_pct))
    g = "Access"
    var(0x3100, "PIN", "U16", access="wo", live=False, minimum=0, maximum=9999, command="pin", group=g,
        description="write the PIN (config `modbus.pin`) to unlock writes for `modbus.unlock_timeout_s`")
    codes = ", ".join(f"{c.code} {c.command.value}" for c in COMMANDS.values() if not c.argument)
    var(0x3101, "Command", "U16", lambda c: 0, access="rw", live=False, minimum=0, maximum=65535,
        command="command", group=g, description=f"write a command code (PIN): {codes}; reads 0")

    for o in objs:
        for e in o.entries:
            index_of[(o.index, e.sub)] = e
    for k, (_name, mapped) in enumerate(tpdos):
        words = []
        for key in mapped:
            e = index_of[key]
            assert e.pdo, f"TPDO maps 0x{key[0]:04X}:{key[1]} which is not mappable"
            words.append(key[0] << 16 | key[1] << 8 | DTYPES[e.dtype][1])
        objs.append(Obj(0x1A00 + k, f"TPDO mapping parameter {k + 1}", "RECORD", tuple(
            Entry(j + 1, f"Mapped object {j + 1}", "U32", default=w, access="ro", live=False)
            for j, w in enumerate(words)), group="Communication (CiA 301)"))
    return tuple(sorted(objs, key=lambda o: o.index))
