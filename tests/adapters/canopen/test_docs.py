"""The committed EDS and dictionary docs are what the table generates; the EDS loads in canopen
and lists every object the node serves; ``bmsgateway eds`` writes it."""

from __future__ import annotations

from pathlib import Path

import canopen

from bmsgateway.adapters.canopen.dictionary import build_dictionary
from bmsgateway.adapters.canopen.eds import render_eds, render_markdown
from bmsgateway.cli import main
from bmsgateway.config import Config, parse_config

DOCS = Path(__file__).resolve().parents[3] / "docs"


def test_committed_eds_and_docs_are_current() -> None:
    cfg = Config()
    assert (DOCS / "bmsgateway.eds").read_text() == render_eds(cfg), "run: bmsgateway eds -o docs/bmsgateway.eds"
    assert (DOCS / "canopen-dictionary.md").read_text() == render_markdown(cfg), (
        "run: bmsgateway eds --format md -o docs/canopen-dictionary.md")


def test_eds_loads_and_matches_the_pack(tmp_path: Path) -> None:
    cfg = parse_config({"pack": {"boards": [{"chip": "LTC6813", "cells": 18, "thermistors": 3},
                                            {"chip": "LTC6811", "cells": 12, "thermistors": 2}]},
                        "can": {"canopen": {"node_id": 9}}}, "test")
    out = tmp_path / "node.eds"
    assert main(["eds", "-o", str(out), "-c", _write(tmp_path, cfg)]) == 0
    od = canopen.import_od(str(out), 9)
    for obj in build_dictionary(cfg):
        assert obj.index in od, hex(obj.index)
    assert len(od[0x2000]) == 30 + 1 and len(od[0x2001]) == 5 + 1
    assert od[0x1800][1].default == 0x180 + 9
    assert od[0x1000].default == 0x1A2
    assert od[0x3002].max == 5000 and od[0x3002].min == 1000  # the config's own bounds for vmax_v


def _write(tmp: Path, cfg: Config) -> str:
    p = tmp / "c.toml"
    p.write_text("\n".join([
        "[[pack.boards]]", 'chip = "LTC6813"', "cells = 18", "thermistors = 3",
        "[[pack.boards]]", 'chip = "LTC6811"', "cells = 12", "thermistors = 2",
        "[can.canopen]", "node_id = 9", ""]))
    return str(p)
