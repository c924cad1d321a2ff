"""The committed register docs are exactly what the table generates."""

from __future__ import annotations

from pathlib import Path

from bmsgateway.adapters.modbus.docs import render_csv, render_markdown
from bmsgateway.adapters.modbus.server import build_registers
from bmsgateway.config import Config

DOC = Path(__file__).resolve().parents[3] / "docs" / "modbus-registers.md"


def test_committed_markdown_is_current() -> None:
    assert DOC.read_text(encoding="utf-8") == render_markdown(Config()), (
        "docs/modbus-registers.md is out of date: run `bmsgateway registers --format md > docs/modbus-registers.md`"
    )


def test_csv_lists_every_register_once() -> None:
    lines = render_csv(Config()).splitlines()
    rows = build_registers(Config())
    assert len(lines) == 1 + len(rows)
    assert lines[0].startswith("address,words,name")
    assert any(line.startswith("1012,1,vmax_v,u16,1,V,0.001,rw,1,5,pack.chemistry.vmax_v") for line in lines)
