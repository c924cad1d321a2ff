"""The inverter CAN frames, declared once: ids, signal positions, scales, and each dialect's set.

Why a table of our own instead of loading the DBC at run time: encoding is on the adapter's hot
path (10 frame sets a second for SMA) and needs no parser dependency; the shipped reference DBC
(``tests/data/pylontech_lv.dbc``, from protocols.md §1.5) is what the tests decode our frames
with, and a test checks that every signal here matches the DBC bit for bit. Signal names are the
DBC's. All fields are little-endian (Intel), ``start`` is the bit number of the least significant
bit counted from byte 0 bit 0.

Each dialect sends exactly its inverters' set with their lengths (protocols.md §1.4):

* pylontech: 351 (8), 355 (4), 356 (6), 359 (7), 35C (2), 35E (8), every 1 s;
* victron: 351, 355 (6, with high-resolution SOC), 356, 35A, 35E, 35F, 372, 373, every 1 s
  (Venus needs 351/355/356/35A; the rest fill the GX display);
* sma: 351 (with DVL), 355 (6), 356, 35A, 35B, 35E, 35F, every 100 ms; never the Pylontech 35C.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["ALARM_FIELDS", "DIALECT_FRAMES", "FRAMES", "INVERTER_ALIVE_ID", "Frame", "Signal"]


@dataclass(frozen=True, slots=True)
class Signal:
    """One field of a frame: ``raw = round((value - offset) / scale)``, clamped to its width."""

    name: str
    start: int
    length: int
    signed: bool = False
    scale: float = 1.0
    offset: float = 0.0
    unit: str = ""
    _lo: int = field(init=False, repr=False, compare=False)
    _hi: int = field(init=False, repr=False, compare=False)
    _mask: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        half = 1 << (self.length - 1)
        lo, hi = (-half, half - 1) if self.signed else (0, (1 << self.length) - 1)
        object.__setattr__(self, "_lo", lo)
        object.__setattr__(self, "_hi", hi)
        object.__setattr__(self, "_mask", (1 << self.length) - 1)

    def raw(self, value: float) -> int:
        r = round((value - self.offset) / self.scale)
        r = self._lo if r < self._lo else self._hi if r > self._hi else r
        return r & self._mask

    def value(self, raw: int) -> float:
        if self.signed and raw & (1 << (self.length - 1)):
            raw -= 1 << self.length
        return raw * self.scale + self.offset


@dataclass(frozen=True, slots=True)
class Frame:
    """A frame: 11-bit id, maximum length, signals."""

    can_id: int
    name: str
    length: int
    signals: tuple[Signal, ...]
    description: str = ""

    def encode(self, values: Mapping[str, float], dlc: int | None = None) -> bytes:
        """Payload of ``dlc`` bytes (default: the full length); missing signals are 0."""
        word = 0
        for s in self.signals:
            v = values.get(s.name)
            if v is not None:
                word |= s.raw(v) << s.start
        return word.to_bytes(8, "little")[: self.length if dlc is None else dlc]

    def decode(self, data: bytes | bytearray) -> dict[str, float]:
        """Signals that lie within ``data`` (a shorter frame simply lacks the later ones)."""
        word = int.from_bytes(bytes(data).ljust(8, b"\0"), "little")
        bits = len(data) * 8
        return {
            s.name: s.value((word >> s.start) & ((1 << s.length) - 1))
            for s in self.signals
            if s.start + s.length <= bits
        }


def _bits(*pairs: tuple[str, int]) -> tuple[Signal, ...]:
    return tuple(Signal(name, bit, 1) for name, bit in pairs)


def _pairs(prefix: str, first_bit: int, names: tuple[str, ...]) -> tuple[Signal, ...]:
    return tuple(Signal(prefix + n, first_bit + 2 * i, 2) for i, n in enumerate(names))


#: Order of the 2-bit SMA/Victron alarm fields (0x35A bytes 0-3, repeated as warnings in 4-7).
ALARM_FIELDS = (
    "General", "HighVoltage", "LowVoltage", "HighTemperature", "LowTemperature", "HighTempCharge",
    "LowTempCharge", "HighDischargeCurrent", "HighChargeCurrent", "Contactor", "ShortCircuit",
    "BmsInternal", "CellImbalance",
)

INVERTER_ALIVE_ID = 0x305

FRAMES: dict[int, Frame] = {
    f.can_id: f
    for f in (
        Frame(0x351, "BMS_Limits_351", 8, (
            Signal("ChargeVoltageLimit", 0, 16, False, 0.1, unit="V"),
            Signal("ChargeCurrentLimit", 16, 16, True, 0.1, unit="A"),
            Signal("DischargeCurrentLimit", 32, 16, True, 0.1, unit="A"),
            Signal("DischargeVoltageLimit", 48, 16, False, 0.1, unit="V"),
        ), "charge voltage limit (CVL), charge and discharge current limits, discharge voltage limit"),
        Frame(0x355, "BMS_SocSoh_355", 6, (
            Signal("SOC", 0, 16, False, 1.0, unit="%"),
            Signal("SOH", 16, 16, False, 1.0, unit="%"),
            Signal("SOC_HiRes", 32, 16, False, 0.01, unit="%"),
        ), "state of charge (in the configured SOC window), state of health"),
        Frame(0x356, "BMS_Measurements_356", 6, (
            Signal("BatteryVoltage", 0, 16, True, 0.01, unit="V"),
            Signal("BatteryCurrent", 16, 16, True, 0.1, unit="A"),
            Signal("BatteryTemperature", 32, 16, True, 0.1, unit="degC"),
        ), "pack voltage, current (positive = charging), mean temperature"),
        Frame(0x359, "BMS_ProtectAlarm_359", 8, (
            *_bits(("Prot_CellOverVoltage", 1), ("Prot_CellUnderVoltage", 2), ("Prot_OverTemperature", 3),
                   ("Prot_UnderTemperature", 4), ("Prot_DischargeOverCurrent", 7), ("Prot_ChargeOverCurrent", 8),
                   ("Prot_SystemError", 11), ("Warn_CellHighVoltage", 17), ("Warn_CellLowVoltage", 18),
                   ("Warn_HighTemperature", 19), ("Warn_LowTemperature", 20), ("Warn_DischargeHighCurrent", 23),
                   ("Warn_ChargeHighCurrent", 24), ("Warn_InternalCommFail", 27)),
            Signal("ModuleCount", 32, 8),
            Signal("MagicP", 40, 8),
            Signal("MagicN", 48, 8),
        ), "Pylontech protection (fault) and warning flags, module count, 'PN'"),
        Frame(0x35A, "BMS_AlarmWarning_35A", 8, (
            *_pairs("Alm_", 0, ALARM_FIELDS),
            *_pairs("Wrn_", 32, ALARM_FIELDS),
            Signal("SystemStatus", 58, 2),
        ), "SMA/Victron alarm and warning pairs: 1 = active, 2 = OK; system status 2 = online, 1 = offline"),
        Frame(0x35B, "BMS_Events_35B", 8, (Signal("Events", 0, 64),), "SMA events (all zero)"),
        Frame(0x35C, "BMS_Request_35C", 2, _bits(
            ("FullChargeRequest", 3), ("ForceChargeRequestII", 4), ("ForceChargeRequestI", 5),
            ("DischargeEnable", 6), ("ChargeEnable", 7),
        ), "charge / discharge enable, force-charge request (Pylontech)"),
        Frame(0x35E, "BMS_Manufacturer_35E", 8, tuple(Signal(f"Name{i}", 8 * i, 8) for i in range(8)),
              "manufacturer name, ASCII, space padded"),
        Frame(0x35F, "BMS_Info_35F", 8, (
            Signal("Chemistry", 0, 16), Signal("VersionMajor", 16, 8), Signal("VersionMinor", 24, 8),
            Signal("CapacityAh", 32, 16, unit="Ah"), Signal("SoftwareVersion", 48, 16),
        ), "chemistry 'LI', version, rated capacity"),
        Frame(0x372, "BMS_ModuleCounts_372", 8, (
            Signal("ModulesOnline", 0, 16), Signal("ModulesBlockingCharge", 16, 16),
            Signal("ModulesBlockingDischarge", 32, 16), Signal("ModulesOffline", 48, 16),
        ), "Victron: modules online / blocking charge / blocking discharge / offline"),
        Frame(0x373, "BMS_CellExtremes_373", 8, (
            Signal("MinCellVoltage", 0, 16, False, 0.001, unit="V"),
            Signal("MaxCellVoltage", 16, 16, False, 0.001, unit="V"),
            Signal("MinCellTemperature", 32, 16, False, 1.0, -273.0, unit="degC"),
            Signal("MaxCellTemperature", 48, 16, False, 1.0, -273.0, unit="degC"),
        ), "Victron: lowest and highest cell voltage and temperature"),
        Frame(INVERTER_ALIVE_ID, "INV_Heartbeat_305", 8, (Signal("InverterAlive", 0, 8),),
              "from the inverter: keep-alive (any 0x305 counts)"),
    )
}


#: (frame id, DLC) in sending order, per dialect.
DIALECT_FRAMES: dict[str, tuple[tuple[int, int], ...]] = {
    "pylontech": ((0x351, 8), (0x355, 4), (0x356, 6), (0x359, 7), (0x35C, 2), (0x35E, 8)),
    "victron": ((0x351, 8), (0x355, 6), (0x356, 6), (0x35A, 8), (0x35E, 8), (0x35F, 8), (0x372, 8), (0x373, 8)),
    "sma": ((0x351, 8), (0x355, 6), (0x356, 6), (0x35A, 8), (0x35B, 8), (0x35E, 8), (0x35F, 8)),
}
