"""From a ``PackState`` (or none fresh) to the frame set of one dialect.

What the inverter sees, and why:

* CVL = the protection's CVL (already pulled down as the top cell nears Vmax: the lever Victron
  MPPTs honour), CCL / DCL = the protection's derated limits; all three shaped by
  ``HeldLimit`` (down at once, up after the hold, ramped);
* a forbidden direction: its current limit 0 and its enable bit cleared; forbidden charging also
  lowers CVL to the pack voltage (the block a Deye and a Victron both understand: protocols.md
  §1.4 says never CVL = 0 to a Victron);
* no fresh snapshot: CCL = DCL = 0, CVL = DVL = cells x Vmin, both enable bits cleared, the
  system-error / internal alarm set and every measurement 0, never the last good values;
* SOC in the configured window: ``(soc - soc_min) / (soc_max - soc_min)``, clamped to 0..100 %.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bmsgateway import __version__
from bmsgateway.adapters.can.alarms import alarm_values, stale_alarm_values
from bmsgateway.adapters.can.frames import DIALECT_FRAMES, FRAMES
from bmsgateway.adapters.can.shaping import HeldFlag, HeldLimit
from bmsgateway.config.model import Config
from bmsgateway.state import ActiveCondition, PackState, extremes

__all__ = ["FrameSet", "InverterEncoder"]

_MIN_LIMIT_A = 0.1  #: what "zero" becomes with ``nonzero_limits`` (Sofar)


def _version_parts() -> tuple[int, int]:
    parts = [int(p) if p.isdigit() else 0 for p in __version__.split(".")[:2]]
    padded = [*parts, 0, 0]
    return padded[0], padded[1]


@dataclass(frozen=True, slots=True)
class FrameSet:
    """One group of frames ready to send, and what decides an immediate send."""

    frames: tuple[tuple[int, bytes], ...]
    flags: tuple[object, ...]  #: enable bits + alarm values: a change sends the group at once
    values: dict[str, float]


class InverterEncoder:
    """Keeps the limit shapers; ``encode`` is called for every snapshot (or every stale tick)."""

    def __init__(self, config: Config) -> None:
        self.configure(config)

    def configure(self, config: Config) -> None:
        inv = config.can.inverter
        self.config = config
        self.dialect = inv.dialect
        self.layout = DIALECT_FRAMES[inv.dialect]
        hold = inv.limit_hold_s
        if not hasattr(self, "cvl"):
            self.cvl = HeldLimit(hold, inv.voltage_ramp_v_per_s, 0.05)
            self.ccl = HeldLimit(hold, inv.current_ramp_a_per_s, 0.5)
            self.dcl = HeldLimit(hold, inv.current_ramp_a_per_s, 0.5)
            self.charge_enable = HeldFlag(hold)
            self.discharge_enable = HeldFlag(hold)
        for lim, rate in ((self.cvl, inv.voltage_ramp_v_per_s), (self.ccl, inv.current_ramp_a_per_s),
                          (self.dcl, inv.current_ramp_a_per_s)):
            lim.hold_s, lim.rate_per_s = hold, rate
        self.charge_enable.hold_s = self.discharge_enable.hold_s = hold
        name = inv.manufacturer_name.encode("ascii").ljust(8, b" ")[:8]
        self._name = {f"Name{i}": float(b) for i, b in enumerate(name)}
        major, minor = _version_parts()
        self._info = {
            "Chemistry": float(ord("L") | (ord("I") << 8)), "VersionMajor": major, "VersionMinor": minor,
            "CapacityAh": round(config.pack.capacity_ah), "SoftwareVersion": major * 256 + minor,
            "ModuleCount": 1, "MagicP": 0x50, "MagicN": 0x4E, "Events": 0,
        }
        self._empty_v = config.pack.cell_count * config.pack.limits.vmin_v
        self._flag_keys: tuple[str, ...] | None = None
        self._alarm_cache: tuple[tuple[ActiveCondition, ...], dict[str, float]] | None = None

    def _soc_seen(self, soc_pct: float) -> float:
        inv = self.config.can.inverter
        if soc_pct != soc_pct:
            return 0.0
        scaled = (soc_pct - inv.soc_min_pct) / (inv.soc_max_pct - inv.soc_min_pct) * 100.0
        return min(100.0, max(0.0, scaled))

    def encode(self, state: PackState | None, t_s: float, block_charge: bool = False) -> FrameSet:
        """The frame set for ``state`` (``None`` = nothing fresh) at clock time ``t_s``.

        ``block_charge``: the inverter's keep-alive is missing and the config says stop charging.
        """
        v: dict[str, float] = {**self._name, **self._info}
        if state is None:
            self._stale(v, t_s)
        else:
            self._fresh(v, state, t_s, block_charge)
        nonzero = self.config.can.inverter.nonzero_limits
        for key in ("ChargeCurrentLimit", "DischargeCurrentLimit"):
            if nonzero and v[key] < _MIN_LIMIT_A:
                v[key] = _MIN_LIMIT_A
        frames = tuple((can_id, FRAMES[can_id].encode(v, dlc)) for can_id, dlc in self.layout)
        if self._flag_keys is None:
            self._flag_keys = tuple(sorted(k for k in v if k.startswith(("Prot_", "Warn_", "Alm_", "Wrn_"))))
        flags = (v["ChargeEnable"], v["DischargeEnable"], v["ForceChargeRequestI"],
                 *(v[k] for k in self._flag_keys))
        return FrameSet(frames, flags, v)

    def _stale(self, v: dict[str, float], t_s: float) -> None:
        for lim in (self.ccl, self.dcl):
            lim.force(0.0, t_s)
        self.cvl.force(self._empty_v, t_s)
        self.charge_enable.force(False)
        self.discharge_enable.force(False)
        v.update(stale_alarm_values())
        v.update({
            "ChargeVoltageLimit": self._empty_v, "ChargeCurrentLimit": 0.0, "DischargeCurrentLimit": 0.0,
            "DischargeVoltageLimit": self._empty_v, "SOC": 0.0, "SOH": 0.0, "SOC_HiRes": 0.0,
            "BatteryVoltage": 0.0, "BatteryCurrent": 0.0, "BatteryTemperature": 0.0,
            "ChargeEnable": 0, "DischargeEnable": 0, "ForceChargeRequestI": 0, "ForceChargeRequestII": 0,
            "FullChargeRequest": 0, "ModulesOnline": 0, "ModulesBlockingCharge": 0,
            "ModulesBlockingDischarge": 0, "ModulesOffline": 1, "MinCellVoltage": 0.0, "MaxCellVoltage": 0.0,
            "MinCellTemperature": -273.0, "MaxCellTemperature": -273.0,
        })

    def _fresh(self, v: dict[str, float], s: PackState, t_s: float, block_charge: bool) -> None:
        p = s.protection
        pack_v = s.pack_voltage_v
        charge_ok = p.charge_allowed and not block_charge
        cvl_target = p.cvl_v
        if not charge_ok and pack_v == pack_v:
            cvl_target = min(cvl_target, pack_v)
        ccl_target = p.ccl_a if charge_ok else 0.0
        dcl_target = p.dcl_a if p.discharge_allowed else 0.0
        charge_en = self.charge_enable.update(charge_ok, t_s)
        discharge_en = self.discharge_enable.update(p.discharge_allowed, t_s)
        # The shapers run while a direction is allowed (its hold runs with the enable bit's hold),
        # and are pinned at 0 while it is forbidden; nothing is sent until the enable bit is set.
        ccl = self.ccl.update(ccl_target, t_s) if charge_ok else self._zero(self.ccl, t_s)
        dcl = self.dcl.update(dcl_target, t_s) if p.discharge_allowed else self._zero(self.dcl, t_s)
        ccl = ccl if charge_en else 0.0
        dcl = dcl if discharge_en else 0.0
        cvl = self.cvl.update(cvl_target, t_s)
        temp_mean = extremes(s.measurement.temperatures_c)[4]
        soc = self._soc_seen(s.estimate.soc_pct)
        soh = s.estimate.soh_pct  # NaN until capacity is learnt: sent as 100 % (the rated capacity in use)
        active: tuple[ActiveCondition, ...] = p.active
        low_cell = any(a.condition in ("cell_under_voltage", "pack_under_voltage") for a in active)
        cache = self._alarm_cache
        if cache is None or cache[0] != active:  # conditions change rarely: reuse the last mapping
            cache = self._alarm_cache = (active, alarm_values(active))
        v.update(cache[1])
        v.update({
            "ChargeVoltageLimit": cvl, "ChargeCurrentLimit": ccl, "DischargeCurrentLimit": dcl,
            "DischargeVoltageLimit": self._empty_v, "SOC": soc, "SOH": soh if soh == soh else 100.0,
            "SOC_HiRes": soc, "BatteryVoltage": _num(pack_v), "BatteryCurrent": _num(s.measurement.current_a),
            "BatteryTemperature": _num(temp_mean), "ChargeEnable": int(charge_en),
            "DischargeEnable": int(discharge_en), "ForceChargeRequestI": int(low_cell and charge_en),
            "ForceChargeRequestII": 0, "FullChargeRequest": 0,
            "ModulesOnline": 1, "ModulesBlockingCharge": int(not charge_en),
            "ModulesBlockingDischarge": int(not discharge_en), "ModulesOffline": 0,
            "MinCellVoltage": _num(s.min_cell_v), "MaxCellVoltage": _num(s.max_cell_v),
            "MinCellTemperature": _num(s.min_temperature_c, -273.0),
            "MaxCellTemperature": _num(s.max_temperature_c, -273.0),
        })

    @staticmethod
    def _zero(lim: HeldLimit, t_s: float) -> float:
        lim.force(0.0, t_s)
        return 0.0


def _num(x: float, missing: float = 0.0) -> float:
    return missing if x != x or math.isinf(x) else x
