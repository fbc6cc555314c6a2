"""Purity gate: the core (``core/jido``) imports and loads nothing effectful."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import jido

CORE_DIR = Path(jido.__file__).resolve().parent

#: Top-level modules the core may never import: clocks, randomness, threads, processes, I/O,
#: logging, and the interpreters (dependencies point one way).
FORBIDDEN_IMPORTS = frozenset(
    {
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
)

#: Modules that importing the core must not newly load (dependencies included).
WATCHED_LOADS = frozenset(
    {
        "asyncio",
        "sqlite3",
        "socket",
        "random",
        "uuid",
        "jido_interpreters",
        "multiprocessing",
        "subprocess",
    }
)


def imported_modules(source: str, filename: str) -> list[tuple[int, str]]:
    """Every absolute module name ``source`` imports, with its line (relative ones skipped)."""
    tree = ast.parse(source, filename=filename)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module is not None:
            found.append((node.lineno, node.module))
    return found


def forbidden_in(source: str, filename: str) -> list[str]:
    """``file:line: module`` for each forbidden import in ``source``."""
    return [
        f"{filename}:{line}: imports {name}"
        for line, name in imported_modules(source, filename)
        if name.split(".")[0] in FORBIDDEN_IMPORTS
    ]


def core_files() -> list[Path]:
    """Every .py file under core/jido, recursively."""
    return sorted(CORE_DIR.rglob("*.py"))


def core_module_names() -> list[str]:
    """``jido``, ``jido.serde`` and every jido submodule except ``jido.testing``."""
    names = {"jido", "jido.serde"}
    for path in core_files():
        rel = path.relative_to(CORE_DIR.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        names.add(".".join(parts))
    names.discard("jido.testing")
    return sorted(names)


def newly_loaded(modules: list[str]) -> tuple[set[str], set[str]]:
    """In a fresh interpreter: what a bare start loads, and what importing ``modules`` adds."""
    script = (
        "import sys, json\n"
        "before = sorted(sys.modules)\n"
        f"for name in {modules!r}:\n"
        "    __import__(name)\n"
        "after = sorted(sys.modules)\n"
        "print(json.dumps({'before': before, 'after': after}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    report = json.loads(proc.stdout)
    before = set(report["before"])
    return before, set(report["after"]) - before


def watched(names: set[str]) -> list[str]:
    """The names in ``names`` that are, or are inside, a watched module."""
    return sorted(n for n in names if n.split(".")[0] in WATCHED_LOADS)


def test_core_files_exist() -> None:
    """The walk finds the core's modules (an empty walk would pass vacuously)."""
    stems = {p.stem for p in core_files()}
    assert {"__init__", "_signal", "_step", "_router", "serde"} <= stems


def test_core_imports_nothing_effectful() -> None:
    """No file under core/jido imports a forbidden module (checked with ast, file:line named)."""
    problems: list[str] = []
    for path in core_files():
        rel = str(path.relative_to(CORE_DIR.parent))
        problems.extend(forbidden_in(path.read_text(encoding="utf-8"), rel))
    assert problems == [], "\n".join(problems)


def test_import_walker_catches_every_form() -> None:
    """The walker flags ``import x``, dotted, aliased, nested and ``from x import y`` forms."""
    source = (
        "import os.path\n"
        "import json, random as rnd\n"
        "from time import monotonic\n"
        "from logging.handlers import RotatingFileHandler\n"
        "from . import sibling\n"
        "from .time import local_thing\n"
        "from datetime import datetime\n"
        "def f():\n"
        "    import asyncio\n"
        "    from jido_interpreters import SyncRuntime\n"
        "try:\n"
        "    import uuid\n"
        "except ImportError:\n"
        "    pass\n"
    )
    assert forbidden_in(source, "m.py") == [
        "m.py:1: imports os.path",
        "m.py:2: imports random",
        "m.py:3: imports time",
        "m.py:4: imports logging.handlers",
        "m.py:9: imports asyncio",
        "m.py:10: imports jido_interpreters",
        "m.py:12: imports uuid",
    ]


def test_module_list_covers_the_core() -> None:
    """The subprocess check imports jido, jido.serde and the private modules, not testing."""
    names = core_module_names()
    assert {"jido", "jido.serde", "jido._step", "jido._signal", "jido._convert"} <= set(names)
    assert "jido.testing" not in names


def test_importing_the_core_loads_no_effectful_module() -> None:
    """A fresh interpreter importing the core loads none of the watched modules anew."""
    before, added = newly_loaded(core_module_names())
    print("bare interpreter loads:", len(before), "modules; the core adds:", sorted(added))
    assert "jido._step" in added  # the imports did happen
    assert watched(added) == []


def test_the_load_check_can_fail() -> None:
    """The same subprocess check does flag a watched module when one gets loaded."""
    _, added = newly_loaded(["jido", "uuid"])
    assert "uuid" in watched(added)
