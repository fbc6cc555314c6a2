"""Checks of what the interpreters are constructed with: wrong kinds of value fail at once,
naming what is wrong, rather than deep inside a run."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from jido import AgentSpec

__all__ = ["callables", "seconds", "specs_by_name"]

F = TypeVar("F")


def specs_by_name(specs: Iterable[object]) -> dict[str, AgentSpec[Any]]:
    """The specs by name.

    Raises:
        TypeError: one is not an :class:`~jido.AgentSpec` (a name, say).
        ValueError: two different specs share a name.
    """
    if isinstance(specs, str | AgentSpec):
        raise TypeError(f"specs must be a collection of AgentSpec values, not {specs!r}")
    out: dict[str, AgentSpec[Any]] = {}
    for spec in specs:
        if not isinstance(spec, AgentSpec):
            raise TypeError(f"specs must be AgentSpec values, not {spec!r}")
        known = out.setdefault(spec.name, spec)
        if known is not spec:
            raise ValueError(f"two different specs are named {spec.name!r}")
    return out


def callables(what: str, handlers: Mapping[Any, F] | None) -> dict[Any, F]:
    """A copy of ``handlers``, each checked to be callable.

    Raises:
        TypeError: ``handlers`` is not a mapping, or a handler is not callable; ``what``
            names the kind (``"effect"``, ``"sensor"``...).
    """
    if handlers is None:
        return {}
    if not isinstance(handlers, Mapping):
        raise TypeError(f"{what} handlers must be a mapping of name to function, not {handlers!r}")
    for name, fn in handlers.items():
        if not callable(fn):
            raise TypeError(f"{what} {name!r} is not callable: {fn!r}")
    return dict(handlers)


def seconds(value: object) -> float | None:
    """``value`` as a finite number of seconds >= 0 (a float), or ``None`` if it is not one:
    not a number, a bool, NaN, an infinity, negative, or an int too large for a float."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        as_float = float(value)
    except OverflowError:
        return None
    return as_float if math.isfinite(as_float) and as_float >= 0 else None
