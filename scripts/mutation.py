#!/usr/bin/env python3
"""Mutation benchmark for the safety core: how much of it do the tests really pin down?

Each mutant changes one token of one module (a comparison flipped, ``and`` <-> ``or``, a guard
forced true or false, a ``return`` / reset / counter step deleted, an integer constant shifted by
one, ``not`` dropped). The mutant is written into a private copy of the repository (the working
tree is never touched) and the module's own fast, targeted tests run against it with a timeout.
A mutant whose tests still pass *survived*: either a test is missing, or the mutant is
equivalent (listed with its reason in ``scripts/mutation-equivalent.txt``, and not counted).

Each test's executed lines of the mutated module are recorded in the unmutated run; a mutant then
runs only the tests that execute its line, fastest first (with ``-x``), or the whole mapped set
when no test executes that line inside a function (module level code runs at import).

This is a benchmark, not part of ``scripts/test``. Usage::

    .venv/bin/python scripts/mutation.py                          # every file in the scope
    .venv/bin/python scripts/mutation.py --file bmsgateway/acquisition/sampler.py   # one file
    .venv/bin/python scripts/mutation.py relays contactors -n 2  # two files, two mutants at once
    .venv/bin/python scripts/mutation.py --list relays            # list mutants, run nothing
    .venv/bin/python scripts/mutation.py engine --only 17,18      # chosen mutants (numbers from --list)

Prints every surviving mutant as ``#n file:line mutation`` plus the line to paste into
``scripts/mutation-equivalent.txt`` if it is equivalent, then a Markdown table: score per file.
"""

from __future__ import annotations

import argparse
import ast
import copy
import inspect
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENT_FILE = ROOT / "scripts" / "mutation-equivalent.txt"

_P = "tests/protection/"
#: tests to deselect because they fail without any mutant (none today; the baseline run must pass)
_BROKEN: list[str] = []

#: module (under bmsgateway/) -> the fast tests that judge its mutants: the module's own tests
#: and the scenarios that drive it (the property tests and the solar-day scenarios are left out:
#: they dominate the runtime). A path missing from the copy (an older checkout) is skipped.
SCOPE: dict[str, list[str]] = {
    "protection/engine.py": [_P + "test_engine_timing.py", _P + "test_engine_table.py", _P + "test_conditions.py",
                             _P + "test_latches.py",
                             _P + "test_config_and_docs.py::"
                                  "test_apply_config_keeps_raised_conditions_and_uses_new_thresholds"],
    "protection/relays.py": [_P + "test_relays.py", _P + "test_status_lights.py", _P + "test_latches.py"],
    "protection/contactors.py": [_P + "test_contactors.py", _P + "test_latches.py", _P + "test_protection_commands.py"],
    "protection/limits.py": [_P + "test_limits_balancing_thermal.py"],
    "protection/protection.py": [_P + "test_protection_outputs.py", _P + "test_protection_commands.py",
                                 _P + "test_relays.py", _P + "test_contactors.py", _P + "test_plausibility.py",
                                 _P + "test_plausibility_edges.py",
                                 _P + "test_status_lights.py", "tests/scenarios/test_faults.py",
                                 _P + "test_conditions.py", _P + "test_latches.py",
                                 _P + "test_limits_balancing_thermal.py", _P + "test_inputs.py"],
    "protection/table.py": [_P + "test_table.py", _P + "test_conditions.py", _P + "test_config_and_docs.py",
                            _P + "test_inputs.py"],
    "acquisition/sampler.py": ["tests/acquisition", "tests/scenarios/test_chip_faults.py",
                               "tests/scenarios/test_zero_calibration.py", "tests/scenarios/test_faults.py",
                               "tests/scenarios/test_loop.py::test_precharge_verified_with_the_bus_voltage_read_through_a_gpio"],
    "acquisition/current.py": ["tests/acquisition",
                               "tests/scenarios/test_two_current_sensors.py::"
                               "test_a_lying_consumer_sensor_makes_the_battery_current_unknown_and_opens"],
    "acquisition/plausibility.py": [_P + "test_plausibility.py", _P + "test_plausibility_edges.py",
                                    _P + "test_plausibility_current.py",
                                    _P + "test_plausibility_property.py",
                                    "tests/scenarios/test_sensor_plausibility.py"],
    "hal/ltc681x/pec.py": ["tests/hal/test_ltc681x_pec.py", "tests/hal/test_ltc681x_bitflips.py"],
    "hal/ltc681x/registers.py": ["tests/hal/test_ltc681x_registers.py", "tests/hal/test_ltc681x_reference.py"],
}

_CMP_SWAP: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Lt: ast.LtE, ast.LtE: ast.Lt,
    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is,
    ast.In: ast.NotIn, ast.NotIn: ast.In,
}
_CMP_TXT = {ast.Gt: ">", ast.GtE: ">=", ast.Lt: "<", ast.LtE: "<=", ast.Eq: "==", ast.NotEq: "!=",
            ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in"}


@dataclass(frozen=True)
class Mutant:
    file: str  #: path under bmsgateway/
    index: int  #: position in the file's mutant list (stable while the file does not change)
    line: int
    what: str
    where: str = ""  #: enclosing class/function, e.g. ``RelayLogic.update`` ("" at module level)
    text: str = ""  #: the mutated line's source, stripped, without its comment
    nth: int = 1  #: 2, 3, ... when the same (where, text, what) occurs more than once

    @property
    def key(self) -> str:
        """``file:line mutation``: for reading; line numbers move with every edit."""
        return f"{self.file}:{self.line} {self.what}"

    @property
    def ident(self) -> str:
        """What the equivalent list records: no line number, so it survives edits elsewhere in the
        file (and merges); it goes stale only when the mutated line itself changes."""
        nth = f" [{self.nth}]" if self.nth > 1 else ""
        return f"{self.file} {self.where or '-'} | {self.text} | {self.what}{nth}"


def _skip(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """Docstrings, type annotations and ``if TYPE_CHECKING`` are not behaviour."""
    p = parents.get(node)
    child = node
    while p is not None:
        if isinstance(p, ast.FunctionDef | ast.ClassDef) and any(child is d for d in p.decorator_list):
            return True
        if isinstance(p, ast.If) and isinstance(p.test, ast.Name) and p.test.id == "TYPE_CHECKING":
            return True
        if isinstance(p, ast.AnnAssign) and node is not p.value and not _inside(node, p.value):
            return True
        if isinstance(p, ast.arg | ast.FunctionDef) and getattr(p, "returns", None) is node:
            return True
        child, p = p, parents.get(p)
    return False


def _inside(node: ast.AST, root: ast.AST | None) -> bool:
    return root is not None and any(n is node for n in ast.walk(root))


def _sites(tree: ast.Module) -> Iterator[tuple[ast.AST, str, str]]:
    """(node, kind, description) for every mutation site, in a stable order."""
    parents = {c: p for p in ast.walk(tree) for c in ast.iter_child_nodes(p)}
    for node in ast.walk(tree):
        if _skip(node, parents) or isinstance(parents.get(node), ast.arg):
            continue
        if isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                if type(op) in _CMP_SWAP:
                    new = _CMP_TXT[_CMP_SWAP[type(op)]]
                    yield node, f"cmp{i}", f"{_CMP_TXT[type(op)]} -> {new}"
        elif isinstance(node, ast.BoolOp):
            yield node, "boolop", "and -> or" if isinstance(node.op, ast.And) else "or -> and"
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            yield node, "not", "not dropped"
        elif isinstance(node, ast.If | ast.While) and not (
            isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
        ):
            yield node, "true", "condition -> True"
            yield node, "false", "condition -> False"
        elif isinstance(node, ast.Return | ast.Break | ast.Continue | ast.AugAssign):
            body = _body_of(node, parents)
            if body is not None and not (isinstance(node, ast.Return) and body[-1] is node
                                         and isinstance(parents.get(node), ast.FunctionDef)):
                yield node, "delete", f"{type(node).__name__.lower()} deleted"
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(
            parents.get(node), ast.If | ast.For | ast.While | ast.FunctionDef | ast.With | ast.Try
        ):
            yield node, "delete", f"reset to {node.value.value!r} deleted"
        elif isinstance(node, ast.Constant) and type(node.value) in (int, bool) and not isinstance(
            parents.get(node), ast.Subscript | ast.Slice
        ):
            if isinstance(node.value, bool):
                yield node, "const", f"{node.value} -> {not node.value}"
            else:
                yield node, "const", f"{node.value} -> {node.value + 1}"


def _body_of(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> list[ast.stmt] | None:
    p = parents.get(node)
    for field in ("body", "orelse", "finalbody"):
        body = getattr(p, field, None)
        if isinstance(body, list) and any(s is node for s in body):
            return body
    return None


def _apply(tree: ast.Module, target: ast.AST, kind: str) -> None:
    parents = {c: p for p in ast.walk(tree) for c in ast.iter_child_nodes(p)}
    if kind.startswith("cmp"):
        assert isinstance(target, ast.Compare)
        i = int(kind[3:])
        target.ops[i] = _CMP_SWAP[type(target.ops[i])]()
    elif kind == "boolop":
        assert isinstance(target, ast.BoolOp)
        target.op = ast.Or() if isinstance(target.op, ast.And) else ast.And()
    elif kind == "not":
        assert isinstance(target, ast.UnaryOp)
        _replace(parents[target], target, target.operand)
    elif kind in ("true", "false"):
        assert isinstance(target, ast.If | ast.While)
        target.test = ast.Constant(kind == "true")
    elif kind == "delete":
        body = _body_of(target, parents)
        assert body is not None
        body[[id(s) for s in body].index(id(target))] = ast.Pass()
    elif kind == "const":
        assert isinstance(target, ast.Constant)
        target.value = (not target.value) if isinstance(target.value, bool) else target.value + 1


def _replace(parent: ast.AST, old: ast.AST, new: ast.AST) -> None:
    for field, value in ast.iter_fields(parent):
        if value is old:
            setattr(parent, field, new)
            return
        if isinstance(value, list):
            for i, v in enumerate(value):
                if v is old:
                    value[i] = new
                    return
    raise AssertionError("node not found under its parent")


def _scopes(tree: ast.Module) -> dict[int, str]:
    """Line -> qualified name of the innermost class/function holding it."""
    out: dict[int, str] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = f"{prefix}.{child.name}" if prefix else child.name
                for line in range(child.lineno, (child.end_lineno or child.lineno) + 1):
                    out[line] = name
                visit(child, name)
            else:
                visit(child, prefix)

    visit(tree, "")
    return out


def _line_text(lines: list[str], lineno: int) -> str:
    text = lines[lineno - 1].strip() if 0 < lineno <= len(lines) else ""
    if " #" in text:  # drop a trailing comment (no string in the scope holds " #")
        text = text.split(" #", 1)[0].rstrip()
    return text


def mutants_of(file: str, source: str) -> list[Mutant]:
    tree = ast.parse(source)
    scopes = _scopes(tree)
    lines = source.splitlines()
    sites = [(i, getattr(n, "lineno", 0), getattr(n, "col_offset", 0), what)
             for i, (n, _, what) in enumerate(_sites(tree))]
    out: dict[int, Mutant] = {}
    seen: dict[tuple[str, str, str], int] = {}
    for i, line, _col, what in sorted(sites, key=lambda s: (s[1], s[2], s[0])):  # nth in source order
        where, text = scopes.get(line, ""), _line_text(lines, line)
        nth = seen[(where, text, what)] = seen.get((where, text, what), 0) + 1
        out[i] = Mutant(file, i, line, what, where, text, nth)
    return [out[i] for i in range(len(sites))]


def mutants(file: str) -> tuple[list[Mutant], str]:
    source = (ROOT / "bmsgateway" / file).read_text()
    return mutants_of(file, source), source


def mutated_source(source: str, index: int) -> str:
    tree = ast.parse(source)
    node, kind, _ = list(_sites(tree))[index]
    tree2 = copy.deepcopy(tree)
    node2, kind2, _ = list(_sites(tree2))[index]
    _apply(tree2, node2, kind2)
    del node, kind
    return ast.unparse(ast.fix_missing_locations(tree2))


def _preload() -> None:
    """Import the heavy third-party packages once in this process: every mutant's test run is a
    fork of it, so it skips interpreter start-up and these imports (never bmsgateway itself, whose
    modules each child imports fresh from the mutated copy)."""
    import hypothesis  # noqa: F401
    import numpy  # noqa: F401
    import pydantic  # noqa: F401
    import pytest  # noqa: F401


_CO_OPTIMIZED = inspect.CO_OPTIMIZED


class _Coverage:
    """pytest plugin for the unmutated run: which lines of the mutated module each test executes.

    A mutant then runs only the tests that execute its line (the rest cannot notice it), which
    makes a run several times faster; a line no test executes (module level, run at import) runs
    the module's whole mapped set."""

    def __init__(self, module: str, out: Path) -> None:
        self.suffix = "/bmsgateway/" + module
        self.out = out
        self.current: str | None = None
        self.lines: dict[str, set[int]] = {}
        self.order: list[str] = []
        self.seconds: dict[str, float] = {}
        self._t0 = 0.0

    def _global(self, frame: Any, event: str, arg: Any) -> Any:
        code = frame.f_code  # functions only: module and class bodies run at import, for every test
        return self._local if code.co_flags & _CO_OPTIMIZED and code.co_filename.endswith(self.suffix) else None

    def _local(self, frame: Any, event: str, arg: Any) -> Any:
        if event == "line" and self.current is not None:
            self.lines[self.current].add(frame.f_lineno)
        return self._local

    def pytest_runtest_protocol(self, item: Any, nextitem: Any) -> None:
        self.current = item.nodeid
        self._t0 = time.perf_counter()
        self.order.append(item.nodeid)
        self.lines.setdefault(item.nodeid, set())
        sys.settrace(self._global)
        threading.settrace(self._global)

    def pytest_runtest_logfinish(self, nodeid: str, location: Any) -> None:
        sys.settrace(None)
        threading.settrace(None)  # type: ignore[arg-type]
        self.seconds[nodeid] = time.perf_counter() - self._t0
        self.current = None

    def pytest_sessionfinish(self, session: Any, exitstatus: int) -> None:
        # fastest first: with -x a mutant's run stops at the first test that notices it
        order = sorted(self.order, key=lambda t: self.seconds.get(t, 0.0))
        self.out.write_text(json.dumps({t: sorted(self.lines[t]) for t in order}))


def _spawn(work: Path, tests: list[str], cover: _Coverage | None = None) -> int:
    """Fork a child that runs ``tests`` in the private copy ``work``; its exit status is pytest's."""
    tests = [t for t in tests if (work / t.split("::")[0]).exists()]
    args = ["-q", "-x", "-p", "no:randomly", "-p", "no:cacheprovider", "-o", "addopts=", *tests,
            *[a for b in _BROKEN for a in ("--deselect", b)]]
    pid = os.fork()
    if pid == 0:  # the child: run pytest on the copy and exit with its status
        rc = 1
        try:
            os.setsid()
            os.chdir(work)
            sys.path.insert(0, str(work))
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            import pytest

            rc = int(pytest.main(args, plugins=[cover] if cover is not None else []))
        finally:
            os._exit(rc)
    return pid


def _kill(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def _run_tests(work: Path, tests: list[str], timeout_s: float, cover: _Coverage | None = None) -> str:
    """'killed', 'survived' or 'timeout' for the tests in the private copy ``work``."""
    pid = _spawn(work, tests, cover)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return "survived" if os.waitstatus_to_exitcode(status) == 0 else "killed"
            if time.monotonic() > deadline:
                _kill(pid)
                return "timeout"
            time.sleep(0.02)
    except BaseException:
        _kill(pid)
        raise


@dataclass
class FileResult:
    file: str
    mutants: int
    equivalent: int
    killed: int
    timeouts: int
    survivors: list[Mutant]
    seconds: float

    @property
    def counted(self) -> int:
        return self.killed + len(self.survivors)

    @property
    def score(self) -> float:
        return 100.0 * self.killed / self.counted if self.counted else 100.0


def _run_file(works: list[Path], f: str, tests: list[str], only: set[int], equivalent: set[str],
              timeout_s: float) -> FileResult | None:
    """Every mutant of ``f``, spread over one private copy per worker."""
    ms, source = mutants(f)
    t0 = time.monotonic()
    cover_file = works[0].parent / "coverage.json"
    if _run_tests(works[0], tests, timeout_s * 10, _Coverage(f, cover_file)) != "survived":
        print(f"{f}: its tests fail without any mutant; fix them first", file=sys.stderr)
        return None
    # the traced run is slower than a plain one: 2.5 x its time is a generous per-mutant bound
    timeout = max(timeout_s, 2.5 * (time.monotonic() - t0))
    per_test: dict[str, list[int]] = json.loads(cover_file.read_text())

    def tests_for(m: Mutant) -> list[str]:
        hit = [t for t, lines in per_test.items() if m.line in lines]
        return hit or tests
    todo = [m for m in ms if not only or m.index in only]
    eq = sum(1 for m in todo if m.ident in equivalent or m.key in equivalent)
    queue = [m for m in todo if not (m.ident in equivalent or m.key in equivalent)]
    res = FileResult(f, len(todo), eq, 0, 0, [], 0.0)
    running: dict[int, tuple[int, Mutant, float]] = {}  # worker -> (pid, mutant, deadline)
    try:
        while queue or running:
            for w, work in enumerate(works):
                if w not in running and queue:
                    m = queue.pop(0)
                    (work / "bmsgateway" / f).write_text(mutated_source(source, m.index))
                    running[w] = (_spawn(work, tests_for(m)), m, time.monotonic() + timeout)
            time.sleep(0.02)
            for w, (pid, m, deadline) in list(running.items()):
                done, status = os.waitpid(pid, os.WNOHANG)
                if not done and time.monotonic() <= deadline:
                    continue
                if not done:
                    _kill(pid)
                    res.timeouts += 1
                del running[w]
                (works[w] / "bmsgateway" / f).write_text(source)
                if done and os.waitstatus_to_exitcode(status) == 0:
                    res.survivors.append(m)
                    print(f"  survived  #{m.index} {m.key}\n            {m.ident}", flush=True)
                else:
                    res.killed += 1
    finally:
        for pid, _m, _d in running.values():
            _kill(pid)
        for work in works:
            (work / "bmsgateway" / f).write_text(source)
    res.survivors.sort(key=lambda m: m.index)
    res.seconds = time.monotonic() - t0
    return res


def _table(results: list[FileResult]) -> str:
    rows = ["| file | killed / counted | score | equivalent | mutants | time |",
            "|---|---:|---:|---:|---:|---:|"]
    for r in results:
        rows.append(f"| `{r.file}` | {r.killed}/{r.counted} | {r.score:.0f} % | {r.equivalent} | "
                    f"{r.mutants} | {r.seconds:.0f} s |")
    if len(results) > 1:
        k = sum(r.killed for r in results)
        c = sum(r.counted for r in results)
        rows.append(f"| **total** | {k}/{c} | {100.0 * k / c if c else 100.0:.0f} % | "
                    f"{sum(r.equivalent for r in results)} | {sum(r.mutants for r in results)} | "
                    f"{sum(r.seconds for r in results):.0f} s |")
    return "\n".join(rows)


def _copy_repo(dest: Path) -> None:
    for name in ("bmsgateway", "tests", "pyproject.toml"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif src.exists():
            shutil.copy2(src, dest / name)
    for extra in ("docs",):  # generated-docs currency tests read these
        if (ROOT / extra).is_dir():
            shutil.copytree(ROOT / extra, dest / extra)


def _equivalent() -> set[str]:
    """The listed equivalent mutants: ``Mutant.ident`` (or an old ``file:line mutation`` key)."""
    if not EQUIVALENT_FILE.exists():
        return set()
    keys = set()
    for raw in EQUIVALENT_FILE.read_text().splitlines():
        if raw.lstrip().startswith("#"):
            continue
        key = raw.split("  # ", 1)[0].strip()  # "<ident>  # reason"
        if key:
            keys.add(key)
    return keys


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="*", help="files under bmsgateway/ (a unique suffix is enough)")
    ap.add_argument("--file", action="append", default=[], help="same as a positional file (repeatable)")
    ap.add_argument("--list", action="store_true", help="list the mutants and run nothing")
    ap.add_argument("--only", default="", help="comma-separated mutant numbers (from --list) to run")
    ap.add_argument("--tests", nargs="*", default=None,
                    help="run these tests instead of the module's mapped set (quick checks)")
    ap.add_argument("--timeout", type=float, default=20.0,
                    help="seconds per mutant at least (default 20; 2.5 x the unmutated run if longer)")
    ap.add_argument("-n", "--workers", type=int, default=1,
                    help="mutants run at once, each in its own copy (default 1)")
    args = ap.parse_args()
    files = list(SCOPE)
    wanted = [*args.files, *args.file]
    if wanted:
        files = []
        for f in wanted:
            name = f if f.endswith(".py") else f + ".py"
            name = name.removeprefix("bmsgateway/")
            hits = [s for s in SCOPE if s == name or s.endswith("/" + name)]
            if len(hits) != 1:
                print(f"{f}: not one file of the scope {sorted(SCOPE)}", file=sys.stderr)
                return 2
            files += hits
    equivalent = _equivalent()
    if args.list:
        for f in files:
            for m in mutants(f)[0]:
                listed = m.ident in equivalent or m.key in equivalent
                print(f"#{m.index:<4} {m.key}" + ("  [equivalent]" if listed else "") + f"\n      {m.ident}")
        return 0
    os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
    sys.dont_write_bytecode = True
    _preload()
    only = {int(x) for x in args.only.split(",") if x}
    results: list[FileResult] = []
    with tempfile.TemporaryDirectory(prefix="bms-mutation-") as tmp:
        works = [Path(tmp) / f"w{i}" for i in range(max(1, args.workers))]
        for work in works:
            work.mkdir()
            _copy_repo(work)
        for f in files:
            r = _run_file(works, f, args.tests or SCOPE[f], only, equivalent, args.timeout)
            if r is None:
                return 1
            print(f"{f}: {r.killed}/{r.counted} killed = {r.score:.0f} % ({r.equivalent} equivalent, "
                  f"{r.mutants} mutants, {r.timeouts} by timeout, {r.seconds:.0f} s)", flush=True)
            results.append(r)
    print("\nscore per file (equivalent mutants not counted):\n" + _table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
