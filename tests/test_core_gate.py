"""Gates on the pure core: what it may import, what it exports, and its doctests."""

from __future__ import annotations

import ast
import doctest
import importlib
import inspect
import json
import subprocess
import sys
from pathlib import Path

import attrs
import pytest

import jido

CORE = Path(jido.__file__).parent

# What the core must never import: clocks, randomness, threads, I/O, the interpreters.
FORBIDDEN = {
    "asyncio",
    "threading",
    "time",
    "random",
    "uuid",
    "os",
    "sqlite3",
    "socket",
    "logging",
    "subprocess",
    "multiprocessing",
    "jido_interpreters",
}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def _core_modules() -> list[str]:
    return sorted(
        f"jido.{p.stem}" for p in CORE.glob("*.py") if p.stem not in ("__init__", "testing")
    )


def test_core_imports_nothing_effectful() -> None:
    """No module under core/jido imports asyncio, time, random, os, sqlite3, logging..."""
    bad = [
        f"{path.relative_to(CORE.parent)}:{line}: imports {name}"
        for path in sorted(CORE.glob("*.py"))
        for line, name in _imports(path)
        if name.split(".")[0] in FORBIDDEN
    ]
    assert bad == []


def test_the_gate_sees_a_forbidden_import(tmp_path: Path) -> None:
    """The import walker finds both ``import x`` and ``from x import y`` forms."""
    src = tmp_path / "m.py"
    src.write_text("import os.path\nfrom time import monotonic\nfrom . import sibling\n")
    assert [n for _, n in _imports(src)] == ["os.path", "time"]


def test_importing_the_core_loads_no_effectful_module() -> None:
    """A fresh interpreter that imports every core module loads none of the forbidden
    modules beyond what its allowed dependencies (attrs, cattrs, returns) load themselves."""
    script = (
        "import sys, json\n"
        "import attrs, cattrs, cattrs.strategies, returns.result\n"
        "before = set(sys.modules)\n"
        f"for m in {_core_modules()!r}: __import__(m)\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    loaded = set(json.loads(out))
    watched = {"asyncio", "sqlite3", "socket", "random", "uuid", "jido_interpreters"}
    watched |= {"multiprocessing", "subprocess", "threading"}
    assert sorted(loaded & watched) == []


def test_step_reads_no_clock_and_draws_no_randomness() -> None:
    """The same step twice, in two fresh interpreters, gives byte-identical JSON."""
    script = (
        "import attrs, json\n"
        "from jido import AgentSpec, Route, Signal, action, emit, ok, step, invoke\n"
        "from jido.serde import to_dict\n"
        "@attrs.frozen\n"
        "class S:\n"
        "    n: int = 0\n"
        "@action()\n"
        "def a(s, p, c):\n"
        "    return ok(S(s.n + 1), emit('x.done', {'n': s.n}),"
        " invoke('e', {}, on_ok='x.ok', on_error='x.err'))\n"
        "spec = AgentSpec(name='s', state=S, routes=[Route(pattern='x.go', target=a)])\n"
        "r = step(spec, spec.new('a1'), Signal(type='x.go', source='/t', id='1'))\n"
        "print(json.dumps(to_dict(r), sort_keys=True))\n"
    )
    runs = {
        subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed, "PATH": ""},
        ).stdout
        for seed in ("1", "2")
    }
    assert len(runs) == 1


def test_all_is_complete_and_unique() -> None:
    """``jido.__all__`` names exist, appear once, and cover every public re-export."""
    names = jido.__all__
    assert len(names) == len(set(names))
    assert all(hasattr(jido, n) for n in names)
    public = {n for n in vars(jido) if not n.startswith("_")}
    submodules = {"serde", "testing"}
    assert public - submodules - set(names) == set()


@pytest.mark.parametrize("name", sorted(jido.__all__))
def test_public_names_are_documented(name: str) -> None:
    """Every public class and function of the core has a docstring."""
    obj = getattr(jido, name)
    if isinstance(obj, type) or inspect.isfunction(obj):
        assert (obj.__doc__ or "").strip(), f"{name} has no docstring"


def test_public_data_classes_are_final() -> None:
    """Public concrete attrs classes are final, except the base meant for subclassing."""
    not_final = [
        n
        for n in jido.__all__
        if isinstance(getattr(jido, n), type)
        and attrs.has(getattr(jido, n))
        and n != "CustomDirective"
        and not getattr(getattr(jido, n), "__final__", False)
    ]
    assert not_final == []


@pytest.mark.parametrize("module", [*_core_modules(), "jido"])
def test_doctests(module: str) -> None:
    """The examples in the core's docstrings run and print what they claim."""
    mod = importlib.import_module(module)
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_doctests_exist() -> None:
    """The doctest gate is not vacuous: the core has examples to run."""
    total = sum(
        doctest.testmod(importlib.import_module(m), report=False).attempted for m in _core_modules()
    )
    assert total >= 10
