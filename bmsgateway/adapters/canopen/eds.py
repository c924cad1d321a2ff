"""EDS (CiA 306) and markdown docs, both written from ``build_dictionary``.

Why generated: the EDS a CANopen master imports, the dictionary our LocalNode serves and the docs
are one table; ``bmsgateway eds`` writes the EDS for a config, and a test keeps the committed
``docs/bmsgateway.eds`` and ``docs/canopen-dictionary.md`` (default config) current.
"""

from __future__ import annotations

from bmsgateway.adapters.canopen.dictionary import DTYPES, Entry, Obj, build_dictionary, tpdo_layout
from bmsgateway.config.model import Config

__all__ = ["render_eds", "render_markdown"]

_ACCESS = {"ro": "ro", "rw": "rw", "wo": "wo", "const": "const"}


def _num(e: Entry, value: float | int | str) -> str:
    if isinstance(value, str):
        return value
    raw = e.raw(value)
    return f"0x{raw:X}" if e.dtype in ("U32",) and isinstance(raw, int) and raw > 0xFFFF else str(raw)


def _var_lines(name: str, e: Entry, config: Config) -> list[str]:
    from bmsgateway.adapters.canopen.dictionary import Context

    lines = [f"ParameterName={name}", "ObjectType=0x7", f"DataType=0x{DTYPES[e.dtype][0]:04X}",
             f"AccessType={_ACCESS[e.access]}"]
    default = e.default
    if default is None and not e.live and e.source is not None:
        default = e.source(Context(None, config))
    if default is None:
        default = "" if e.dtype == "STR" else 0
    lines.append(f"DefaultValue={_num(e, default)}")
    if e.minimum is not None and e.dtype != "STR":
        lines.append(f"LowLimit={e.raw(e.minimum)}")
    if e.maximum is not None and e.dtype != "STR":
        lines.append(f"HighLimit={e.raw(e.maximum)}")
    lines.append(f"PDOMapping={int(e.pdo)}")
    return lines


def render_eds(config: Config) -> str:
    """The EDS text for ``config`` (cell and sensor counts, heartbeat, TPDO period)."""
    objs = build_dictionary(config)
    mandatory = [o for o in objs if o.index in (0x1000, 0x1001, 0x1018)]
    manufacturer = [o for o in objs if 0x2000 <= o.index < 0x6000]
    optional = [o for o in objs if o not in mandatory and o not in manufacturer]
    out = [
        "[FileInfo]", "FileName=bmsgateway.eds", "FileVersion=1", "FileRevision=0", "EDSVersion=4.0",
        "Description=bmsgateway battery management system (CiA 418 battery module + manufacturer area)",
        "CreatedBy=bmsgateway eds", "",
        "[DeviceInfo]", "VendorName=bmsgateway", "VendorNumber=0x00000000", "ProductName=bmsgateway",
        "ProductNumber=0x418", "RevisionNumber=0",
        *(f"BaudRate_{r}={int(r in (125, 250, 500, 1000))}" for r in (10, 20, 50, 125, 250, 500, 800, 1000)),
        "SimpleBootUpMaster=0", "SimpleBootUpSlave=1", "Granularity=8", "DynamicChannelsSupported=0",
        "GroupMessaging=0", "NrOfRXPDO=0", f"NrOfTXPDO={len(tpdo_layout())}", "LSS_Supported=0", "",
        "[DummyUsage]", *(f"Dummy000{i}=0" for i in range(1, 8)), "",
    ]
    for title, group in (("MandatoryObjects", mandatory), ("OptionalObjects", optional),
                         ("ManufacturerObjects", manufacturer)):
        out.append(f"[{title}]")
        out.append(f"SupportedObjects={len(group)}")
        out.extend(f"{i + 1}=0x{o.index:04X}" for i, o in enumerate(group))
        out.append("")
    for o in objs:
        out.extend(_object_lines(o, config))
    return "\n".join(out) + "\n"


def _object_lines(o: Obj, config: Config) -> list[str]:
    if o.kind == "VAR":
        return [f"[{o.index:04X}]", *_var_lines(o.name, o.entries[0], config), ""]
    highest = max(e.sub for e in o.entries)
    lines = [f"[{o.index:04X}]", f"ParameterName={o.name}", f"ObjectType=0x{o.object_type:X}",
             f"SubNumber={len(o.entries) + 1}", "",
             f"[{o.index:04X}sub0]", "ParameterName=Highest sub-index supported", "ObjectType=0x7",
             "DataType=0x0005", "AccessType=const", f"DefaultValue={highest}", "PDOMapping=0", ""]
    for e in o.entries:
        lines.extend([f"[{o.index:04X}sub{e.sub:X}]", *_var_lines(e.name, e, config), ""])
    return lines


def render_markdown(config: Config) -> str:
    """docs/canopen-dictionary.md."""
    objs = build_dictionary(config)
    out = [
        "# CANopen object dictionary",
        "",
        "Generated from `bmsgateway/adapters/canopen/dictionary.py` (`python -m bmsgateway.adapters.canopen.eds`);",
        "a test keeps it current. The EDS for the default config is `docs/bmsgateway.eds`; `bmsgateway eds -c FILE`",
        "writes the one for your pack. Values: raw = value / scale. Live objects abort with 0x08000024 while",
        "the snapshot is stale. Writes to settings (and commands) need the PIN written to 0x3100 first (same PIN",
        "and unlock timeout as Modbus); aborts: 0x06090030 value out of range or refused by the config",
        "validation, 0x06010002 read-only object, 0x08000020 locked (no PIN), 0x06010001 write-only.",
        "",
        f"TPDOs ({config.can.canopen.tpdo_period_s:g} s, in OPERATIONAL only), COB-ID 0x180/0x280/0x380 + node id:",
        "",
    ]
    for _k, (name, mapped) in enumerate(tpdo_layout()):
        out.append(f"- {name}: " + ", ".join(f"0x{i:04X}" for i, _ in mapped))
    out.append("")
    group = None
    for o in objs:
        if o.group != group:
            group = o.group
            out += ["", f"## {group}", "", "| index | sub | name | type | access | unit | scale | PDO | notes |",
                    "|---|---|---|---|---|---|---|---|---|"]
        for e in o.entries:
            sub = "" if o.kind == "VAR" else str(e.sub)
            name = e.name if o.kind == "VAR" else f"{o.name}: {e.name}"
            notes = e.description
            if e.minimum is not None and e.access in ("rw", "wo"):
                notes = f"{notes} (range {e.minimum:g}..{e.maximum:g})".strip()
            scale = "" if e.scale == 1.0 else f"{e.scale:g}"
            out.append(f"| 0x{o.index:04X} | {sub} | {name} | {e.dtype} | {e.access} | {e.unit} | {scale} | "
                       f"{'yes' if e.pdo else ''} | {notes} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    import sys

    sys.stdout.write(render_markdown(Config()))
