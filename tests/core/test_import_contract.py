"""The import contract: data flows one way, and adapters see only the vocabulary and the ports.

    hal -> acquisition -> estimation / protection -> state (PackState) -> adapters

Read from the source (every ``import`` of every module, including imports inside functions), so a
new module that reaches across a layer fails here, in the README's test command, before review.
The vocabulary (states, requests and commands, config, clock, the snapshot store, the settings
path, fault ids and the event log type, logging set-up) may be imported from anywhere.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "bmsgateway"

VOCABULARY = {
    "bmsgateway", "bmsgateway.state", "bmsgateway.requests", "bmsgateway.config", "bmsgateway.clock",
    "bmsgateway.store", "bmsgateway.settings", "bmsgateway.persist", "bmsgateway.runtime",
    "bmsgateway.protection.ids", "bmsgateway.protection.events",
}

#: layer (first package component) -> the layers it may import besides the vocabulary and itself
ALLOWED: dict[str, set[str]] = {
    "hal": set(),
    "acquisition": {"hal"},
    "estimation": set(),
    "protection": {"hal.interfaces"},
    "sim": {"hal"},
    "cycle": {"acquisition"},
    "adapters": set(),
    # vocabulary modules themselves
    "state": set(), "requests": set(), "config": set(), "clock": set(), "store": set(),
    "settings": set(), "persist": set(), "runtime": set(),
}
#: composition roots: build and wire everything, so they may import anything
ROOTS = {"app", "cli", "commands", "replay", "__main__", "__init__"}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return {m for m in out if m == "bmsgateway" or m.startswith("bmsgateway.")}


def _is_vocabulary(target: str) -> bool:
    if target == "bmsgateway":  # the package itself: __version__
        return True
    return any(target == v or target.startswith(v + ".") for v in VOCABULARY - {"bmsgateway"})


def _violations() -> list[str]:
    bad = []
    for path in sorted(PKG.rglob("*.py")):
        mod = _module_name(path)
        parts = mod.split(".")
        layer = parts[1] if len(parts) > 1 else "__init__"
        if layer in ROOTS:
            continue
        allowed = ALLOWED.get(layer)
        if allowed is None:
            bad.append(f"{mod}: layer {layer!r} is not in the contract (add it to ALLOWED or ROOTS)")
            continue
        for target in _imports(path):
            tparts = target.split(".")
            if _is_vocabulary(target) or (len(tparts) > 1 and tparts[1] == layer):
                continue
            rest = ".".join(tparts[1:])
            if any(rest == a or rest.startswith(a + ".") for a in allowed):
                continue
            bad.append(f"{mod} imports {target}")
    return bad


def test_every_module_keeps_to_the_import_contract() -> None:
    assert _violations() == []


@pytest.mark.parametrize("layer", ["adapters"])
def test_adapters_never_reach_hal_or_the_engines(layer: str) -> None:
    forbidden = ("hal", "acquisition", "estimation", "sim", "cycle", "app")
    for path in (PKG / layer).rglob("*.py"):
        for target in _imports(path):
            tparts = target.split(".")
            assert not (len(tparts) > 1 and tparts[1] in forbidden), f"{_module_name(path)} imports {target}"
            if len(tparts) > 2 and tparts[1] == "protection":
                assert tparts[2] in {"ids", "events"}, f"{_module_name(path)} imports {target}"
