"""``docs/inverter-can.md``, generated from the frame, dialect and alarm tables (a test keeps it current).

Run ``python -m bmsgateway.adapters.can.docs > docs/inverter-can.md`` after changing a table.
"""

from __future__ import annotations

from bmsgateway.adapters.can.alarms import ALARMS
from bmsgateway.adapters.can.frames import DIALECT_FRAMES, FRAMES
from bmsgateway.config.can import DIALECT_PERIOD_S

__all__ = ["render_markdown"]


def render_markdown() -> str:
    dialects = tuple(DIALECT_FRAMES)
    out = [
        "# Inverter CAN protocol (Pylontech / SMA / Victron low-voltage family)",
        "",
        "Generated from `bmsgateway/adapters/can/frames.py` and `alarms.py`. CAN 2.0A, 11-bit ids, little-endian",
        "(Intel) fields; `start` is the bit number of the least significant bit from byte 0 bit 0;",
        "value = raw x scale + offset. Frames in each dialect's order, with its length (DLC):",
        "",
        "| frame | " + " | ".join(dialects) + " |",
        "|---|" + "---|" * len(dialects),
    ]
    ids = sorted({i for layout in DIALECT_FRAMES.values() for i, _ in layout})
    for can_id in ids:
        cells = []
        for d in dialects:
            dlc = dict(DIALECT_FRAMES[d]).get(can_id)
            cells.append("" if dlc is None else f"DLC {dlc}")
        out.append(f"| 0x{can_id:03X} {FRAMES[can_id].name} | " + " | ".join(cells) + " |")
    out.append("| period | " + " | ".join(f"{DIALECT_PERIOD_S[d]:g} s" for d in dialects) + " |")
    out += ["", "The inverter sends 0x305 (any content) as its keep-alive.", ""]
    for can_id, f in sorted(FRAMES.items()):
        out += [f"## 0x{can_id:03X} {f.name}", "", f.description, "",
                "| signal | start | bits | signed | scale | offset | unit |", "|---|---|---|---|---|---|---|"]
        for s in f.signals:
            out.append(f"| {s.name} | {s.start} | {s.length} | {'yes' if s.signed else ''} | {s.scale:g} | "
                       f"{s.offset:g} | {s.unit} |")
        out.append("")
    out += ["## Conditions to alarm bits", "",
            "Faults set the 0x359 protection flag and the 0x35A alarm (`Alm_`), warnings the 0x359 warning flag",
            "and the 0x35A warning (`Wrn_`); 0x35A fields are 1 = active, 2 = OK. Any fault also sets",
            "`Alm_General` (any warning `Wrn_General`); a fault not listed sets `Prot_SystemError`. A stale",
            "snapshot sets `Prot_SystemError`, `Warn_InternalCommFail`, `Alm_General`, `Alm_BmsInternal`.", "",
            "| conditions | 0x359 fault | 0x359 warning | 0x35A field |", "|---|---|---|---|"]
    for r in ALARMS:
        out.append(f"| {', '.join(c.value for c in r.conditions)} | {r.pylon_fault or ''} | "
                   f"{r.pylon_warning or ''} | {r.field} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    import sys

    sys.stdout.write(render_markdown())
