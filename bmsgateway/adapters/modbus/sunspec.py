"""SunSpec device image: 'SunS', models 1, 802, 803, 804, 805 (one per board), end model.

Why the official JSON is read here instead of hand-typed offsets: the point order, sizes, types
and scale-factor names come from the SunSpec model files shipped in ``sunspec/`` (Apache-2.0,
unmodified), so a SunSpec client that walks the chain finds exactly what the models define. This
module only says where each point's value comes from and which scale factor exponent we chose;
every point without a source reads as the SunSpec "not implemented" value of its type.

Topology as SunSpec sees it: one bank (803) with one string (804); each LTC681x board is one
module (a 804 module group entry and one 805 model with a per-cell group). Indices are 1-based.
Points that SunSpec marks RW are read-only here except ``AlmRst`` (802), which resets latched
faults like the bmsgateway command register.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from bmsgateway import __version__
from bmsgateway.adapters.modbus.table import DType, EncodeContext, Register, Value, constant
from bmsgateway.config.model import Config
from bmsgateway.protection.ids import CONDITION_BITS, ConditionId
from bmsgateway.state import ControlState, PackState

__all__ = ["END_MODEL_ID", "SUNS_MARKER", "load_model", "sunspec_registers"]

SUNS_MARKER = (0x5375, 0x6E53)  # "SunS"
END_MODEL_ID = 0xFFFF

_TYPES: dict[str, DType] = {
    "uint16": "u16", "int16": "s16", "uint32": "u32", "int32": "s32", "enum16": "enum16",
    "bitfield16": "bitfield16", "bitfield32": "bitfield32", "string": "string", "sunssf": "sunssf",
    "pad": "pad", "acc32": "u32",
}

Src = Callable[[EncodeContext], Value]


@cache
def load_model(model_id: int) -> dict[str, Any]:
    """The official JSON definition of one model (shipped as package data)."""
    text = resources.files("bmsgateway.adapters.modbus").joinpath(f"sunspec/model_{model_id}.json").read_text(
        encoding="utf-8"
    )
    data: dict[str, Any] = json.loads(text)
    return data


def _sf(max_abs: float, signed: bool) -> int:
    """The finest power-of-ten exponent (>= -3) at which ``max_abs`` still fits the type."""
    limit = 32767 if signed else 65534
    for exponent in range(-3, 6):
        if max_abs / 10.0**exponent <= limit:
            return exponent
    return 6


# --- conditions -> SunSpec 802 Evt1 bits --------------------------------------------------------
_C = ConditionId
_EVT1: tuple[tuple[int, int, tuple[ConditionId, ...]], ...] = (
    # (alarm bit, warning bit (-1 = none), conditions)
    (0, 0, (_C.COMMUNICATION_LOST,)),
    (1, 2, (_C.CHARGE_OVER_TEMPERATURE, _C.DISCHARGE_OVER_TEMPERATURE)),
    (3, 4, (_C.CHARGE_UNDER_TEMPERATURE, _C.DISCHARGE_UNDER_TEMPERATURE)),
    (5, 6, (_C.CHARGE_OVER_CURRENT,)),
    (7, 8, (_C.DISCHARGE_OVER_CURRENT, _C.SHORT_CIRCUIT)),
    (9, 10, (_C.CELL_OVER_VOLTAGE, _C.PACK_OVER_VOLTAGE)),
    (11, 12, (_C.CELL_UNDER_VOLTAGE, _C.PACK_UNDER_VOLTAGE)),
    (17, 17, (_C.CELL_IMBALANCE,)),
    (20, 20, (_C.CONTACTOR_WELDED, _C.CONTACTOR_FAILED_TO_CLOSE, _C.PRECHARGE_FAILED)),
)
_MAPPED = {c for _, _, conds in _EVT1 for c in conds}


def evt1_bits(fault_bits: int, warning_bits: int) -> int:
    """SunSpec Evt1 from the fault engine's bitfields; unmapped conditions -> OTHER_ALARM/WARNING."""
    out = 0
    for alarm_bit, warn_bit, conds in _EVT1:
        for cond in conds:
            bit = 1 << CONDITION_BITS[cond]
            if fault_bits & bit:
                out |= 1 << alarm_bit
            if warning_bits & bit:
                out |= 1 << warn_bit
    for cond, n in CONDITION_BITS.items():
        if cond in _MAPPED:
            continue
        if fault_bits & (1 << n):
            out |= 1 << 25
        if warning_bits & (1 << n):
            out |= 1 << 26
    return out


# --- pack topology helpers -----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Module:
    index: int  # 0-based board index
    first_cell: int
    cells: int
    first_temp: int
    temps: int


def _modules(config: Config) -> list[_Module]:
    pack = config.pack
    return [
        _Module(i, c0, c1 - c0, t0, t1 - t0)
        for i, ((c0, c1), (t0, t1)) in enumerate(zip(pack.board_cell_ranges, pack.board_thermistor_ranges, strict=True))
    ]


def _fresh(values: Sequence[float]) -> list[tuple[int, float]]:
    return [(i, v) for i, v in enumerate(values) if v == v]


def _stat(values: Sequence[float], kind: str) -> Value:
    """max / argmax(1-based) / min / argmin / avg over fresh values (None when none)."""
    fresh = _fresh(values)
    if not fresh:
        return None
    if kind == "max":
        return max(v for _, v in fresh)
    if kind == "min":
        return min(v for _, v in fresh)
    if kind == "avg":
        return math.fsum(v for _, v in fresh) / len(fresh)
    if kind == "argmax":
        return max(fresh, key=lambda t: t[1])[0] + 1
    return min(fresh, key=lambda t: t[1])[0] + 1


def _board_of_cell(config: Config, cell: int) -> int | None:
    for m in _modules(config):
        if m.first_cell <= cell < m.first_cell + m.cells:
            return m.index + 1
    return None


def _board_of_temp(s: PackState, index: int) -> int | None:
    boards = s.measurement.temperature_board
    return boards[index] + 1 if 0 <= index < len(boards) else None


def _live(fn: Callable[[PackState, Config], Value]) -> Src:
    def source(ctx: EncodeContext) -> Value:
        return None if ctx.state is None else fn(ctx.state, ctx.config)

    return source


def _const(value: Value) -> Src:
    return constant(value)


def _charge_status(s: PackState, _c: Config) -> int:
    p = s.protection
    if p.state == "stopped":
        return 1  # OFF
    soc = s.estimate.soc_pct
    i = s.measurement.current_a
    if soc == soc and soc >= 99.5 and not p.charge_allowed:
        return 5  # FULL
    if soc == soc and soc <= 0.5 and not p.discharge_allowed:
        return 2  # EMPTY
    if i == i and i > 0.5:
        return 4  # CHARGING
    if i == i and i < -0.5:
        return 3  # DISCHARGING
    return 6  # HOLDING


_STATE_802 = {"init": 2, "precharge": 2, "ready": 3, "fault": 99, "stopped": 1}
_STATE_VND = {st.value: st.code for st in ControlState}  # the vocabulary's numbering, as the flat map


def discharge_voltage_limit_v(config: Config) -> float:
    """The pack voltage below which the inverter must stop discharging (SunSpec 802 ``VMin``)."""
    return config.pack.cell_count * config.pack.limits.vmin_v


def _heartbeat(ctx: EncodeContext) -> Value:
    """Seconds of uptime, wrapping below the u16 "not implemented" value; None before a snapshot."""
    if ctx.state is None or ctx.uptime_s != ctx.uptime_s:
        return None
    return int(ctx.uptime_s) % 0xFFFF


SET_OP_CONNECT, SET_OP_DISCONNECT = 1, 2
INVERTER_STANDBY = 2


def _set_op(s: PackState) -> int:
    return SET_OP_CONNECT if any(c.commanded for c in s.protection.contactors) else SET_OP_DISCONNECT


def set_op_now(state: PackState | None) -> int | None:
    """What ``SetOp`` reads for ``state`` (the write guard accepts only this value)."""
    return None if state is None else _set_op(state)


def _contactor_bits(s: PackState) -> int:
    return sum(1 << i for i, c in enumerate(s.protection.contactors[:32]) if c.commanded)


def _string_status(s: PackState) -> int:
    closed = any(c.commanded for c in s.protection.contactors)
    return 1 | (2 if closed else 0)  # STRING_ENABLED, CONTACTOR_STATUS


def _module_cells(s: PackState, m: _Module) -> tuple[float, ...]:
    return s.measurement.cell_voltages_v[m.first_cell : m.first_cell + m.cells]


def _module_temps(s: PackState, m: _Module) -> tuple[float, ...]:
    return s.measurement.temperatures_c[m.first_temp : m.first_temp + m.temps]


def _cell_thermistor(m: _Module, k: int) -> int | None:
    """Index (pack-wide) of the thermistor that stands for cell ``k`` (0-based within ``m``)."""
    if m.temps == 0:
        return None
    return m.first_temp + min(m.temps - 1, k * m.temps // m.cells)


def _module_cell_temps(s: PackState, m: _Module) -> list[float]:
    temps = s.measurement.temperatures_c
    out: list[float] = []
    for k in range(m.cells):
        t = _cell_thermistor(m, k)
        out.append(temps[t] if t is not None and t < len(temps) else math.nan)
    return out


def _module_soc(s: PackState, m: _Module) -> Value:
    socs = s.estimate.cell_soc_pct[m.first_cell : m.first_cell + m.cells]
    fresh = [v for v in socs if v == v]
    return math.fsum(fresh) / len(fresh) if fresh else None


def _module_voltage(s: PackState, m: _Module) -> Value:
    cells = _module_cells(s, m)
    if cells and all(v == v for v in cells):
        return math.fsum(cells)
    if m.index < len(s.measurement.boards):
        return s.measurement.boards[m.index].sum_of_cells_v
    return None


def _module_balancing(s: PackState, m: _Module) -> int:
    return sum(1 for b in s.protection.balancing[m.first_cell : m.first_cell + m.cells] if b)


# --- scale factors ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Scales:
    v: int
    cell_v: int
    a: int
    a_max: int
    w: int
    ah: int
    wh: int
    w_max: int
    pct: int = -1
    tmp: int = -1


def _scales(config: Config) -> _Scales:
    pack = config.pack
    lim = config.protection.limits
    v_max = pack.cell_count * 5.0
    a_max = max(100.0, 4.0 * max(lim.max_charge_current_a, lim.max_discharge_current_a))
    wh = pack.capacity_ah * pack.limits.nominal_v * pack.cell_count
    w_rate = max(lim.max_charge_current_a, lim.max_discharge_current_a) * pack.cell_count * pack.limits.nominal_v
    return _Scales(
        v=_sf(v_max, False), cell_v=-3, a=_sf(a_max, True),
        a_max=_sf(max(lim.max_charge_current_a, lim.max_discharge_current_a, 1.0), False),
        w=_sf(v_max * a_max, True), ah=_sf(pack.capacity_ah, False), wh=_sf(wh, False),
        w_max=_sf(max(w_rate, 1.0), False),
    )


#: 802 points a client may write (after the PIN): write handler kind, allowed raw range
_WRITABLE_802: dict[str, tuple[str, int, int]] = {
    "AlmRst": ("alarm_reset", 0, 1),
    "SetOp": ("set_op", SET_OP_CONNECT, SET_OP_DISCONNECT),
    "SetInvState": ("set_inv_state", 1, 3),
}


#: what a reader must know about points whose source is a choice (shown in the register docs)
_NOTES: dict[tuple[int, str], str] = {
    (802, "VMax"): "the charge voltage limit (CVL) the protection stage sends on every protocol",
    (802, "VMin"): "the discharge voltage limit: cells x pack.chemistry.vmin_v",
    (802, "WChaRteMax"): "max charge current x cells x nominal cell voltage",
    (802, "WDisChaRteMax"): "max discharge current x cells x nominal cell voltage",
    (802, "Hb"): "seconds of uptime, mod 65535",
    (802, "AlmRst"): "needs the PIN; 1 resets latched faults, 0 is a no-op",
    (802, "SetOp"): "1 while a contactor is commanded closed, else 2; needs the PIN; writing the present "
                    "state is accepted, a change is refused with 03 (the protection stage decides)",
    (802, "SetInvState"): "needs the PIN; the inverter reports its state, read back as written "
                          "(2 until written)",
    (805, "CellTmp"): "thermistor floor(k x T / C) of the module for cell k (0-based) of C cells and T thermistors",
    (805, "CellTmpMaxCell"): "first cell (1-based, in the module) whose CellTmp is the maximum",
    (805, "CellTmpMinCell"): "first cell (1-based, in the module) whose CellTmp is the minimum",
    (804, "ModCellTmpMaxCell"): "first cell (1-based, in the module) whose CellTmp is the maximum",
    (804, "ModCellTmpMinCell"): "first cell (1-based, in the module) whose CellTmp is the minimum",
}


# --- model layout ---------------------------------------------------------------------------------
def _points(group: dict[str, Any]) -> list[dict[str, Any]]:
    pts: list[dict[str, Any]] = group["points"]
    return pts


def _layout(
    model_id: int,
    address: int,
    fixed: dict[str, Src],
    sfs: dict[str, int],
    groups: Sequence[dict[str, Src]],
    label: str,
) -> list[Register]:
    """Registers of one model instance at ``address`` (its ID word)."""
    model = load_model(model_id)
    top = model["group"]
    sub = top.get("groups", [])
    group_def = sub[0] if sub else None
    fixed_words = sum(int(p["size"]) for p in _points(top))
    group_words = sum(int(p["size"]) for p in _points(group_def)) if group_def else 0
    length = fixed_words - 2 + group_words * len(groups)
    heading = f"SunSpec model {model_id} {top['name']}{label}"
    rows: list[Register] = []

    def add(p: dict[str, Any], addr: int, name: str, values: dict[str, Src]) -> int:
        ptype = str(p["type"])
        dtype = _TYPES[ptype]
        size = int(p["size"])
        sf_name = p.get("sf")
        scale = 1.0
        unit = str(p.get("units", ""))
        if isinstance(sf_name, str) and sf_name in sfs:
            scale = 10.0 ** sfs[sf_name]
        source: Src | None
        access: str = "ro"
        command: str | None = None
        if p["name"] == "ID":
            source = _const(model_id)
        elif p["name"] == "L":
            source = _const(length)
        elif ptype == "sunssf":
            source = _const(sfs[p["name"]]) if p["name"] in sfs else None
        else:
            source = values.get(p["name"])
        minimum = maximum = None
        if model_id == 802 and p["name"] in _WRITABLE_802:
            access, command, minimum, maximum = "rw", *_WRITABLE_802[p["name"]]
        desc = str(p.get("label") or p.get("desc") or p["name"])
        note = _NOTES.get((model_id, str(p["name"])))
        if note:
            desc += f" -- {note}"
        if isinstance(sf_name, str):
            desc += f" (scale {sf_name})"
        if source is None and ptype not in ("pad",):
            desc += "; not implemented"
        bits = tuple((int(s["value"]), str(s["name"])) for s in p.get("symbols", []) if "bitfield" in ptype)
        enum = tuple((int(s["value"]), str(s["name"])) for s in p.get("symbols", []) if ptype == "enum16")
        rows.append(Register(
            addr, name, dtype, desc, source, unit=unit, scale=scale, access="rw" if access == "rw" else "ro",
            size=size if dtype == "string" else 0, minimum=minimum,
            maximum=maximum, bits=bits, enum=enum, group=heading, command=command,
        ))
        return addr + size

    addr = address
    prefix = f"{model_id}{label}"
    for p in _points(top):
        addr = add(p, addr, f"{prefix}.{p['name']}", fixed)
    if group_def is not None:
        for i, values in enumerate(groups):
            for p in _points(group_def):
                addr = add(p, addr, f"{prefix}.{group_def['name']}[{i + 1}].{p['name']}", values)
    if addr - address != length + 2:
        raise AssertionError(f"model {model_id}: laid out {addr - address} words, L says {length + 2}")
    return rows


def _common(config: Config) -> dict[str, Src]:
    ss = config.modbus.sunspec
    return {
        "Mn": _const(ss.manufacturer), "Md": _const(ss.model), "Opt": _const(""),
        "Vr": _const(__version__), "SN": _const(ss.serial_number), "DA": _const(config.modbus.unit_id),
    }


def _battery(config: Config, sc: _Scales) -> tuple[dict[str, Src], dict[str, int]]:
    pack = config.pack
    lim = config.protection.limits
    n = pack.cell_count
    limits = pack.limits
    values: dict[str, Src] = {
        "AHRtg": lambda c: c.config.pack.capacity_ah,
        "WHRtg": lambda c: c.config.pack.capacity_ah * c.config.pack.limits.nominal_v * c.config.pack.cell_count,
        "WChaRteMax": _const(lim.max_charge_current_a * n * limits.nominal_v),
        "WDisChaRteMax": _const(lim.max_discharge_current_a * n * limits.nominal_v),
        "SetOp": _live(lambda s, c: _set_op(s)), "SetInvState": _const(INVERTER_STANDBY),
        "SoCMax": _const(100.0), "SoCMin": _const(0.0),
        "SoC": _live(lambda s, c: s.estimate.soc_pct), "DoD": _live(lambda s, c: s.estimate.dod_pct),
        "SoH": _live(lambda s, c: s.estimate.soh_pct),
        "NCyc": _live(lambda s, c: math.floor(s.estimate.equivalent_cycles)),
        "ChaSt": _live(_charge_status), "LocRemCtl": _const(1),
        "Hb": _heartbeat, "AlmRst": _const(0), "Typ": _const(4),
        "State": _live(lambda s, c: _STATE_802.get(s.protection.state)),
        "StateVnd": _live(lambda s, c: _STATE_VND.get(s.protection.state)),
        "Evt1": _live(lambda s, c: evt1_bits(s.protection.fault_bits, s.protection.warning_bits)),
        "Evt2": _live(lambda s, c: 0),
        "EvtVnd1": _live(lambda s, c: s.protection.fault_bits),
        "EvtVnd2": _live(lambda s, c: s.protection.warning_bits),
        "V": _live(lambda s, c: s.pack_voltage_v),
        "VMax": _live(lambda s, c: s.protection.cvl_v),
        "VMin": lambda c: discharge_voltage_limit_v(c.config),
        "CellVMax": _live(lambda s, c: s.max_cell_v), "CellVMaxStr": _live(lambda s, c: 1),
        "CellVMaxMod": _live(lambda s, c: _board_of_cell(c, s.max_cell_index)),
        "CellVMin": _live(lambda s, c: s.min_cell_v), "CellVMinStr": _live(lambda s, c: 1),
        "CellVMinMod": _live(lambda s, c: _board_of_cell(c, s.min_cell_index)),
        "CellVAvg": _live(lambda s, c: s.avg_cell_v),
        "A": _live(lambda s, c: s.measurement.current_a),
        "AChaMax": _live(lambda s, c: s.protection.ccl_a), "ADisChaMax": _live(lambda s, c: s.protection.dcl_a),
        "W": _live(lambda s, c: s.power_w),
    }
    sfs = {"AHRtg_SF": sc.ah, "WHRtg_SF": sc.wh, "WChaDisChaMax_SF": sc.w_max, "SoC_SF": sc.pct,
           "DoD_SF": sc.pct, "SoH_SF": sc.pct, "V_SF": sc.v, "CellV_SF": sc.cell_v, "A_SF": sc.a,
           "AMax_SF": sc.a_max, "W_SF": sc.w}
    return values, sfs


def _temps_summary(prefix: str) -> dict[str, Src]:
    return {
        f"{prefix}Max": _live(lambda s, c: s.max_temperature_c),
        f"{prefix}MaxMod": _live(lambda s, c: _board_of_temp(s, s.max_temperature_index)),
        f"{prefix}Min": _live(lambda s, c: s.min_temperature_c),
        f"{prefix}MinMod": _live(lambda s, c: _board_of_temp(s, s.min_temperature_index)),
        f"{prefix}Avg": _live(lambda s, c: _stat(s.measurement.temperatures_c, "avg")),
    }


def _bank(config: Config, sc: _Scales) -> tuple[dict[str, Src], dict[str, int], list[dict[str, Src]]]:
    nbal = _live(lambda s, c: sum(1 for b in s.protection.balancing if b))
    values: dict[str, Src] = {
        "NStr": _const(1), "NStrCon": _live(lambda s, c: 1 if s.protection.state == "ready" else 0),
        **_temps_summary("ModTmp"),
        "ModTmpMaxStr": _live(lambda s, c: 1), "ModTmpMinStr": _live(lambda s, c: 1),
        "StrVMax": _live(lambda s, c: s.pack_voltage_v), "StrVMaxStr": _const(1),
        "StrVMin": _live(lambda s, c: s.pack_voltage_v), "StrVMinStr": _const(1),
        "StrVAvg": _live(lambda s, c: s.pack_voltage_v),
        "StrAMax": _live(lambda s, c: s.measurement.current_a), "StrAMaxStr": _const(1),
        "StrAMin": _live(lambda s, c: s.measurement.current_a), "StrAMinStr": _const(1),
        "StrAAvg": _live(lambda s, c: s.measurement.current_a), "NCellBal": nbal,
    }
    sfs = {"CellV_SF": sc.cell_v, "ModTmp_SF": sc.tmp, "A_SF": sc.a, "SoH_SF": sc.pct, "SoC_SF": sc.pct,
           "V_SF": sc.v}
    string: dict[str, Src] = {
        "StrNMod": _const(len(config.pack.boards)), "StrSt": _live(lambda s, c: _string_status(s)),
        "StrSoC": _live(lambda s, c: s.estimate.soc_pct), "StrSoH": _live(lambda s, c: s.estimate.soh_pct),
        "StrA": _live(lambda s, c: s.measurement.current_a),
        "StrCellVMax": _live(lambda s, c: s.max_cell_v),
        "StrCellVMaxMod": _live(lambda s, c: _board_of_cell(c, s.max_cell_index)),
        "StrCellVMin": _live(lambda s, c: s.min_cell_v),
        "StrCellVMinMod": _live(lambda s, c: _board_of_cell(c, s.min_cell_index)),
        "StrCellVAvg": _live(lambda s, c: s.avg_cell_v),
        **{f"Str{k}": v for k, v in _temps_summary("ModTmp").items()},
        "StrDisRsn": _live(lambda s, c: 1 if s.protection.state == "fault" else 0),
        "StrConSt": _live(lambda s, c: _contactor_bits(s)),
        "StrEvt1": _live(lambda s, c: evt1_bits(s.protection.fault_bits, s.protection.warning_bits)),
        "StrEvt2": _live(lambda s, c: 0),
        "StrEvtVnd1": _live(lambda s, c: s.protection.fault_bits),
        "StrEvtVnd2": _live(lambda s, c: s.protection.warning_bits),
    }
    return values, sfs, [string]


def _module_soc_source(m: _Module) -> Src:
    return _live(lambda s, c: _module_soc(s, m))


def _cell_voltage_source(i: int) -> Src:
    return _live(lambda s, c: s.measurement.cell_voltages_v[i])


def _cell_temp_source(m: _Module, k: int) -> Src:
    return _live(lambda s, c: _module_cell_temps(s, m)[k])


def _cell_status_source(i: int) -> Src:
    """CellSt bit 0 CELL_IS_BALANCING."""
    return _live(lambda s, c: 1 if i < len(s.protection.balancing) and s.protection.balancing[i] else 0)


def _module_summary(m: _Module, cell_prefix: str, tmp_prefix: str, idx_suffix: str) -> dict[str, Src]:
    return {
        f"{cell_prefix}Max": _live(lambda s, c: _stat(_module_cells(s, m), "max")),
        f"{cell_prefix}Max{idx_suffix}": _live(lambda s, c: _stat(_module_cells(s, m), "argmax")),
        f"{cell_prefix}Min": _live(lambda s, c: _stat(_module_cells(s, m), "min")),
        f"{cell_prefix}Min{idx_suffix}": _live(lambda s, c: _stat(_module_cells(s, m), "argmin")),
        f"{cell_prefix}Avg": _live(lambda s, c: _stat(_module_cells(s, m), "avg")),
        f"{tmp_prefix}Max": _live(lambda s, c: _stat(_module_temps(s, m), "max")),
        f"{tmp_prefix}Max{idx_suffix}": _live(lambda s, c: _stat(_module_cell_temps(s, m), "argmax")),
        f"{tmp_prefix}Min": _live(lambda s, c: _stat(_module_temps(s, m), "min")),
        f"{tmp_prefix}Min{idx_suffix}": _live(lambda s, c: _stat(_module_cell_temps(s, m), "argmin")),
        f"{tmp_prefix}Avg": _live(lambda s, c: _stat(_module_temps(s, m), "avg")),
    }


def _string(config: Config, sc: _Scales) -> tuple[dict[str, Src], dict[str, int], list[dict[str, Src]]]:
    values: dict[str, Src] = {
        "Idx": _const(1), "NMod": _const(len(config.pack.boards)), "St": _live(lambda s, c: _string_status(s)),
        "NCellBal": _live(lambda s, c: sum(1 for b in s.protection.balancing if b)),
        "SoC": _live(lambda s, c: s.estimate.soc_pct), "DoD": _live(lambda s, c: s.estimate.dod_pct),
        "NCyc": _live(lambda s, c: math.floor(s.estimate.equivalent_cycles)),
        "SoH": _live(lambda s, c: s.estimate.soh_pct), "A": _live(lambda s, c: s.measurement.current_a),
        "V": _live(lambda s, c: s.pack_voltage_v),
        "CellVMax": _live(lambda s, c: s.max_cell_v),
        "CellVMaxMod": _live(lambda s, c: _board_of_cell(c, s.max_cell_index)),
        "CellVMin": _live(lambda s, c: s.min_cell_v),
        "CellVMinMod": _live(lambda s, c: _board_of_cell(c, s.min_cell_index)),
        "CellVAvg": _live(lambda s, c: s.avg_cell_v),
        **_temps_summary("ModTmp"),
        "ConSt": _live(lambda s, c: _contactor_bits(s)),
        "Evt1": _live(lambda s, c: evt1_bits(s.protection.fault_bits, s.protection.warning_bits)),
        "Evt2": _live(lambda s, c: 0),
        "EvtVnd1": _live(lambda s, c: s.protection.fault_bits),
        "EvtVnd2": _live(lambda s, c: s.protection.warning_bits),
    }
    sfs = {"SoC_SF": sc.pct, "SoH_SF": sc.pct, "DoD_SF": sc.pct, "A_SF": sc.a, "V_SF": sc.v,
           "CellV_SF": sc.cell_v, "ModTmp_SF": sc.tmp}
    groups: list[dict[str, Src]] = []
    for m in _modules(config):
        g = {"ModNCell": _const(m.cells), "ModSoC": _module_soc_source(m),
             **{f"Mod{k}": v for k, v in _module_summary(m, "CellV", "CellTmp", "Cell").items()}}
        groups.append(g)
    return values, sfs, groups


def _module(config: Config, sc: _Scales, m: _Module) -> tuple[dict[str, Src], dict[str, int], list[dict[str, Src]]]:
    serial = config.modbus.sunspec.serial_number
    values: dict[str, Src] = {
        "StrIdx": _const(1), "ModIdx": _const(m.index + 1), "NCell": _const(m.cells),
        "SoC": _live(lambda s, c: _module_soc(s, m)), "V": _live(lambda s, c: _module_voltage(s, m)),
        **_module_summary(m, "CellV", "CellTmp", "Cell"),
        "NCellBal": _live(lambda s, c: _module_balancing(s, m)), "SN": _const(f"{serial}-{m.index + 1}"),
    }
    sfs = {"SoC_SF": sc.pct, "V_SF": _sf(m.cells * 5.0, False), "CellV_SF": sc.cell_v, "Tmp_SF": sc.tmp}
    cells: list[dict[str, Src]] = []
    for k in range(m.cells):
        i = m.first_cell + k
        cells.append({"CellV": _cell_voltage_source(i), "CellSt": _cell_status_source(i),
                      "CellTmp": _cell_temp_source(m, k)})
    return values, sfs, cells


def sunspec_registers(config: Config) -> list[Register]:
    """The SunSpec chain at ``config.modbus.sunspec.base_address``: marker, models, end model."""
    base = config.modbus.sunspec.base_address
    sc = _scales(config)
    rows: list[Register] = [Register(base, "SunS", "u32", "SunSpec marker 'SunS' (0x5375 0x6E53)",
                                     _const(0x53756E53), group="SunSpec header")]
    addr = base + 2
    b_vals, b_sfs = _battery(config, sc)
    bank_vals, bank_sfs, bank_groups = _bank(config, sc)
    str_vals, str_sfs, str_groups = _string(config, sc)
    instances: list[tuple[int, dict[str, Src], dict[str, int], list[dict[str, Src]], str]] = [
        (1, _common(config), {}, [], ""),
        (802, b_vals, b_sfs, [], ""),
        (803, bank_vals, bank_sfs, bank_groups, ""),
        (804, str_vals, str_sfs, str_groups, ""),
    ]
    for m in _modules(config):
        vals, sfs, cells = _module(config, sc, m)
        instances.append((805, vals, sfs, cells, f" module {m.index + 1}"))
    for model_id, vals, sfs, groups, label in instances:
        model_rows = _layout(model_id, addr, vals, sfs, groups, label.replace(" module ", "#"))
        for r in model_rows:
            rows.append(r)
        addr = model_rows[-1].end
    # 0xFFFF is the u16 "not available" word, which is exactly what the end model ID is.
    rows.append(Register(addr, "end.ID", "u16", "end model ID 0xFFFF", _const(None), group="SunSpec end"))
    rows.append(Register(addr + 1, "end.L", "u16", "end model length 0", _const(0), group="SunSpec end"))
    if rows[-1].end > 0x10000:
        raise ValueError(f"SunSpec block at {base} ends past address 65535; lower modbus.sunspec.base_address")
    return rows
