"""The curated public surface: ``__all__`` is complete and sorted, classes final, all documented."""

from __future__ import annotations

import importlib
import inspect
import types
from pathlib import Path
from typing import Any, final

import attrs
import pytest

import jido
import jido.serde

CORE_DIR = Path(jido.__file__).resolve().parent
PUBLIC_MODULES: list[types.ModuleType] = [jido, jido.serde]


def private_modules() -> list[types.ModuleType]:
    """Every private module of jido (``jido._x``), imported."""
    return [
        importlib.import_module(f"jido.{p.stem}")
        for p in sorted(CORE_DIR.glob("_*.py"))
        if p.stem != "__init__"
    ]


def isort_key(name: str) -> tuple[int, str]:
    """The order ruff's RUF022 keeps ``__all__`` in: CONSTANTS, then Classes, then the rest."""
    if name.isupper():
        return (0, name)
    if name[:1].isupper():
        return (1, name)
    return (2, name)


def public_classes() -> list[type[Any]]:
    """Public classes defined (not re-exported) in jido's private modules and jido.serde."""
    found: list[type[Any]] = []
    for mod in [*private_modules(), jido.serde]:
        for name, obj in vars(mod).items():
            if inspect.isclass(obj) and obj.__module__ == mod.__name__ and not name.startswith("_"):
                found.append(obj)
    return found


def must_be_final(cls: type[Any]) -> bool:
    """Whether the finality rule applies: concrete attrs classes, bar documented exceptions."""
    if cls is jido.CustomDirective or issubclass(cls, BaseException):
        return False
    return attrs.has(cls) and not inspect.isabstract(cls)


def not_final(classes: list[type[Any]]) -> list[str]:
    """The names of the classes in ``classes`` the rule covers that are not ``typing.final``."""
    return [
        f"{c.__module__}.{c.__qualname__}"
        for c in classes
        if must_be_final(c) and getattr(c, "__final__", False) is not True
    ]


@pytest.mark.parametrize("module", PUBLIC_MODULES, ids=lambda m: m.__name__)
def test_every_exported_name_exists(module: types.ModuleType) -> None:
    """Each name in ``__all__`` is an attribute of the module."""
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert missing == []


@pytest.mark.parametrize("module", PUBLIC_MODULES, ids=lambda m: m.__name__)
def test_all_is_sorted_and_unique(module: types.ModuleType) -> None:
    """``__all__`` has no duplicates and is in isort order (constants, classes, functions)."""
    names = list(module.__all__)
    assert len(names) == len(set(names))
    assert names == sorted(names, key=isort_key)


def test_all_matches_the_public_attributes() -> None:
    """Every public, non-module attribute of ``jido`` is listed in ``__all__``."""
    public = {
        name
        for name, obj in vars(jido).items()
        if not name.startswith("_") and not isinstance(obj, types.ModuleType)
    }
    assert public - set(jido.__all__) == set()


def test_serde_exports_what_it_defines() -> None:
    """Every public class or function defined in ``jido.serde`` is listed in its ``__all__``."""
    defined = {
        name
        for name, obj in vars(jido.serde).items()
        if not name.startswith("_")
        and (inspect.isclass(obj) or inspect.isfunction(obj))
        and obj.__module__ == "jido.serde"
    }
    assert defined
    assert defined - set(jido.serde.__all__) == set()


def test_core_names_are_exported() -> None:
    """The entry points and main types named by the design are on the top-level surface."""
    for name in ("Signal", "Router", "Route", "Action", "AgentSpec", "Agent", "step", "cmd"):
        assert name in jido.__all__
    for name in ("Emit", "Invoke", "Schedule", "Cron", "Stop", "Error", "FSM", "Direct", "Plugin"):
        assert name in jido.__all__


def test_public_attrs_classes_are_final() -> None:
    """Every public concrete attrs class is ``typing.final`` (CustomDirective excepted)."""
    classes = public_classes()
    covered = [c for c in classes if must_be_final(c)]
    assert len(covered) >= 35  # the walk really found the data classes
    assert jido.Signal in covered
    assert jido.Emit in covered
    assert jido.Step in covered
    assert not_final(classes) == []


def test_custom_directive_is_the_open_exception() -> None:
    """CustomDirective is attrs-based but deliberately not final."""
    assert attrs.has(jido.CustomDirective)
    assert not must_be_final(jido.CustomDirective)


def test_non_attrs_value_classes_are_final_too() -> None:
    """FrozenMap, Router and Codec, the value classes not built with attrs, are final."""
    for cls in (jido.FrozenMap, jido.Router, jido.serde.Codec):
        assert getattr(cls, "__final__", False) is True, cls


def test_the_finality_check_catches_a_non_final_class() -> None:
    """The finality rule flags an attrs class that lacks ``@final`` and passes one with it."""

    @attrs.frozen
    class Open:
        x: int = 0

    @final
    @attrs.frozen
    class Closed:
        x: int = 0

    assert not_final([Open, Closed]) == [f"{__name__}.{Open.__qualname__}"]


def documented_names() -> list[tuple[str, str]]:
    """``(module, name)`` for every exported class or function of the public modules."""
    out: list[tuple[str, str]] = []
    for module in PUBLIC_MODULES:
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isroutine(obj):
                out.append((module.__name__, name))
    return out


def test_documented_names_were_found() -> None:
    """The docstring check covers many names, functions and classes both."""
    names = {n for _, n in documented_names()}
    assert len(names) >= 60
    assert {"step", "cmd", "Signal", "emit", "Codec", "to_json"} <= names


@pytest.mark.parametrize(("module", "name"), documented_names())
def test_public_callables_have_docstrings(module: str, name: str) -> None:
    """Every exported class and function has a non-empty docstring of its own."""
    obj = getattr(importlib.import_module(module), name)
    doc = obj.__doc__
    if inspect.ismethod(obj):  # the serde module functions are bound Codec methods
        doc = obj.__func__.__doc__
    assert doc is not None, f"{module}.{name} has no docstring"
    assert doc.strip(), f"{module}.{name} has an empty docstring"
    if inspect.isclass(obj) and not issubclass(obj, BaseException):
        # not just inherited from object or a base
        assert doc != object.__doc__


def test_the_handler_aliases_the_signatures_use_are_exported() -> None:
    """``make_directives`` and the runtimes' ``directives=`` are typed with handler aliases
    a user can import to type their own (``DirectiveHandler``, ``AsyncDirectiveHandler``)."""
    import typing
    from collections.abc import Mapping

    import jido_interpreters as ji
    from jido import CustomDirective
    from jido_interpreters.testing import AgentMachine

    wanted = Mapping[type[CustomDirective], ji.DirectiveHandler]
    assert typing.get_type_hints(AgentMachine.make_directives)["return"] == wanted
    for fn, alias in [
        (ji.SyncRuntime.__init__, "DirectiveHandler"),
        (ji.Simulation.__init__, "DirectiveHandler"),
        (ji.AsyncRuntime.__init__, "AsyncDirectiveHandler"),
    ]:
        assert f"{alias}]" in fn.__annotations__["directives"]
        assert alias in ji.__all__
