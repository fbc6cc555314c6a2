"""The ``>>>`` examples in the core's docstrings run and pass."""

from __future__ import annotations

import doctest
import importlib
import types
from pathlib import Path

import pytest

import jido

CORE_DIR = Path(jido.__file__).resolve().parent

#: The modules known to carry examples; the test below also finds any others.
WITH_EXAMPLES = (
    "jido._json",
    "jido._signal",
    "jido._router",
    "jido._graph",
    "jido._stamp",
    "jido._action",
    "jido._strategy",
    "jido._directives",
)


def module_names() -> list[str]:
    """``jido`` and every module under core/jido, by import name."""
    names = []
    for path in sorted(CORE_DIR.glob("*.py")):
        names.append("jido" if path.stem == "__init__" else f"jido.{path.stem}")
    return names


def run_doctests(module: types.ModuleType) -> doctest.TestResults:
    """Run the module's doctests quietly and return (failed, attempted)."""
    return doctest.testmod(module, verbose=False, report=False, optionflags=doctest.ELLIPSIS)


@pytest.mark.parametrize("name", module_names())
def test_module_doctests_pass(name: str) -> None:
    """Every example in the module's docstrings gives the output it shows."""
    result = run_doctests(importlib.import_module(name))
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"


def test_examples_exist_and_ran() -> None:
    """The documented example modules really hold examples, so the gate is not vacuous."""
    total = 0
    for name in module_names():
        result = run_doctests(importlib.import_module(name))
        assert result.failed == 0
        total += result.attempted
        if name in WITH_EXAMPLES:
            assert result.attempted >= 1, f"{name} lost its examples"
    assert total >= len(WITH_EXAMPLES)


def test_a_wrong_example_is_reported() -> None:
    """The doctest runner used here does count a failing example as a failure."""
    module = types.ModuleType("jido_doctest_probe")
    exec(
        'def double(x):\n    """Twice x.\n\n    >>> double(2)\n    5\n    """\n    return 2 * x\n',
        module.__dict__,
    )
    # doctest prints the failure report to stdout; that is fine inside pytest's capture
    result = run_doctests(module)
    assert (result.failed, result.attempted) == (1, 1)
