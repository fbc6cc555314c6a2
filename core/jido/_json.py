"""Immutable JSON values: what signal data, effect arguments and error details hold.

A JSON value here is ``None``, ``bool``, ``int``, ``float`` (finite), ``str``, a ``tuple`` of
JSON values, or a :class:`FrozenMap` from ``str`` to JSON values. All of them are hashable, so
every value that carries them (signals, directives) hashes by value.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import TypeAlias, TypeVar, Union, final, overload

__all__ = ["EMPTY", "FrozenMap", "JsonValue", "freeze", "freeze_map", "is_json", "thaw"]

_K = TypeVar("_K")
_V = TypeVar("_V")


@final
class FrozenMap(Mapping[_K, _V]):
    """A hashable, read-only mapping that keeps insertion order.

    Equality follows :class:`dict` (order does not matter); the hash is computed once, on
    first use, from the items.

    >>> m = FrozenMap({"a": 1})
    >>> m["a"], len(m), m == {"a": 1}
    (1, 1, True)
    """

    __slots__ = ("_d", "_h")

    def __init__(self, items: Mapping[_K, _V] | None = None) -> None:
        self._d: dict[_K, _V] = dict(items) if items is not None else {}
        self._h: int | None = None

    def __getitem__(self, key: _K) -> _V:
        return self._d[key]

    def __iter__(self) -> Iterator[_K]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def __contains__(self, key: object) -> bool:
        return key in self._d

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrozenMap):
            return self._d == other._d
        if isinstance(other, Mapping):
            return self._d == dict(other)
        return NotImplemented

    def __hash__(self) -> int:
        if self._h is None:
            self._h = hash(frozenset(self._d.items()))
        return self._h

    def __repr__(self) -> str:
        return f"FrozenMap({self._d!r})"

    def set(self, key: _K, value: _V) -> FrozenMap[_K, _V]:
        """Return a copy with ``key`` bound to ``value``."""
        d = dict(self._d)
        d[key] = value
        return FrozenMap(d)

    def delete(self, key: _K) -> FrozenMap[_K, _V]:
        """Return a copy without ``key``; a missing key gives an equal copy."""
        d = dict(self._d)
        d.pop(key, None)
        return FrozenMap(d)

    def to_dict(self) -> dict[_K, _V]:
        """A shallow, mutable copy."""
        return dict(self._d)


# A real (recursive) union at run time, not a string, so that cattrs and get_type_hints can
# recognise it inside user classes.
JsonValue: TypeAlias = Union[  # noqa: UP007 - "X | 'Y'" is not valid at run time
    bool, int, float, str, tuple["JsonValue", ...], FrozenMap[str, "JsonValue"], None
]

_SCALARS = (str, int, bool, type(None))

#: The empty frozen map, shared.
EMPTY: FrozenMap[str, JsonValue] = FrozenMap()


def freeze(value: object, *, path: str = "$") -> JsonValue:
    """Turn plain JSON-able data into an immutable :data:`JsonValue`.

    Lists become tuples and dicts become :class:`FrozenMap`; already-frozen values pass
    through.

    Raises:
        TypeError: ``value`` is not JSON-able (a set, an object, a non-string key, NaN...);
            the message names the path of the first bad part, e.g. ``$.items[2]``.

    >>> freeze({"a": [1, 2]})
    FrozenMap({'a': (1, 2)})
    """
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError(f"{path}: {value!r} is not a finite number, JSON has no such value")
        return value
    if value is EMPTY:
        return value
    if isinstance(value, Mapping):
        # FrozenMap is public, so one may hold anything: its contents are checked too.
        out: dict[str, JsonValue] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{path}: key {k!r} is not a string")
            out[k] = freeze(v, path=f"{path}.{k}")
        return FrozenMap(out)
    if isinstance(value, list | tuple):
        return tuple(freeze(v, path=f"{path}[{i}]") for i, v in enumerate(value))
    raise TypeError(f"{path}: {type(value).__name__} {value!r} is not JSON-able")


def freeze_map(value: object, *, path: str = "$") -> FrozenMap[str, JsonValue]:
    """Like :func:`freeze`, for a value that must be a mapping (``None`` gives an empty one).

    Raises:
        TypeError: ``value`` is not a JSON-able mapping.
    """
    if value is None:
        return EMPTY
    if not isinstance(value, Mapping):
        raise TypeError(f"{path}: expected a mapping, got {type(value).__name__}")
    frozen = freeze(value, path=path)
    assert isinstance(frozen, FrozenMap)
    return frozen


def is_json(value: object) -> bool:
    """Whether :func:`freeze` accepts ``value``."""
    try:
        freeze(value)
    except TypeError:
        return False
    return True


@overload
def thaw(value: FrozenMap[str, JsonValue]) -> dict[str, object]: ...
@overload
def thaw(value: JsonValue) -> object: ...
def thaw(value: JsonValue) -> object:
    """The plain-Python form of a frozen value (dicts and lists), e.g. for ``json.dumps``.

    >>> thaw(freeze({"a": [1]}))
    {'a': [1]}
    """
    if isinstance(value, FrozenMap):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [thaw(v) for v in value]
    return value
