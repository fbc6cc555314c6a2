"""Collection arguments: a constructor's list of routes, actions, plugins, keys...

Iterating whatever was given would turn a slip into a riddle: ``5`` fails with "'int' object
is not iterable" naming no argument, a string becomes its characters, and a mapping its keys.
:func:`items` refuses those by the argument's name instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypeVar

__all__ = ["items"]

T = TypeVar("T")


def items(value: Iterable[T], where: str, what: str) -> tuple[T, ...]:
    """``value`` as a tuple, ``where`` naming the argument and ``what`` its elements.

    >>> items(["a"], "routes", "Route values")
    ('a',)

    Raises:
        TypeError: ``value`` is no collection (a number, ``None``), or it is a string, bytes
            or a mapping (whose iteration gives characters or keys, never what was meant).
    """
    if isinstance(value, str | bytes | bytearray | Mapping) or not isinstance(value, Iterable):
        raise TypeError(
            f"{where} must be a collection (a list or tuple) of {what}, "
            f"not {type(value).__name__} {value!r:.60}"
        )
    return tuple(value)
