"""Immutable JSON values: what signal data, effect arguments and error details hold.

A JSON value here is ``None``, ``bool``, ``int``, ``float`` (finite), ``str``, a ``tuple`` of
JSON values, or a :class:`FrozenMap` from ``str`` to JSON values. All of them are hashable, so
every value that carries them (signals, directives) hashes by value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final, TypeAlias, TypeVar, Union, cast, final, overload

__all__ = ["EMPTY", "FrozenMap", "JsonValue", "freeze", "freeze_map", "is_json", "thaw"]

_K = TypeVar("_K")
_V = TypeVar("_V")


@final
class FrozenMap(dict[_K, _V]):
    """A hashable, read-only mapping that keeps insertion order.

    A :class:`dict` underneath (so lookups, iteration, equality and ``json.dumps`` run at
    C speed) whose mutating methods raise :class:`TypeError`. Equality is :class:`dict`'s
    (order does not matter); the hash is computed once, on first use, from the items.

    >>> m = FrozenMap({"a": 1})
    >>> m["a"], len(m), m == {"a": 1}
    (1, 1, True)
    """

    __slots__ = ("_h",)
    _h: int

    def __hash__(self) -> int:  # type: ignore[override]
        try:
            return self._h
        except AttributeError:
            h = self._h = hash(frozenset(self.items()))
            return h

    def __repr__(self) -> str:
        return f"FrozenMap({dict.__repr__(self)})"

    def __reduce__(self) -> tuple[Any, ...]:
        # dict's default pickling refills the instance item by item, which is refused here.
        return (FrozenMap, (dict(self),))

    def _refuse(self, *args: object, **kwargs: object) -> Any:
        raise TypeError("FrozenMap is immutable: use .set() or .delete() for a changed copy")

    __setitem__ = _refuse
    __delitem__ = _refuse
    __ior__ = _refuse
    clear = _refuse
    pop = _refuse
    popitem = _refuse
    setdefault = _refuse
    update = _refuse

    def set(self, key: _K, value: _V) -> FrozenMap[_K, _V]:
        """Return a copy with ``key`` bound to ``value``."""
        d = dict(self)
        d[key] = value
        return FrozenMap(d)

    def delete(self, key: _K) -> FrozenMap[_K, _V]:
        """Return a copy without ``key``; a missing key gives an equal copy."""
        d = dict(self)
        d.pop(key, None)
        return FrozenMap(d)

    def to_dict(self) -> dict[_K, _V]:
        """A shallow, mutable copy."""
        return dict(self)


#: The core's own constructor, for a dict it built and nobody else holds.
_adopt = FrozenMap

# A real (recursive) union at run time, not a string, so that cattrs and get_type_hints can
# recognise it inside user classes.
JsonValue: TypeAlias = Union[  # noqa: UP007 - "X | 'Y'" is not valid at run time
    bool, int, float, str, tuple["JsonValue", ...], FrozenMap[str, "JsonValue"], None
]

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
    try:
        return _freeze(value)
    except _NotJson as exc:
        raise TypeError(f"{path}{exc.where}: {exc.reason}") from None
    except RecursionError:
        raise TypeError(f"{path}: {_TOO_DEEP}") from None


class _NotJson(Exception):
    # Carries where (built only on failure, so the happy path formats no path strings).
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.where = ""


_INLINE: Final = frozenset({str, int, bool, type(None)})
_TOO_DEEP: Final = "nested too deeply to be JSON (or it contains itself)"


def _freeze(value: object) -> JsonValue:
    t = type(value)
    if t is dict:
        # The usual payload: a flat object of strings, integers, booleans and nulls, which
        # needs no recursion and is copied whole.
        flat = cast("dict[str, JsonValue]", value)
        for k, v in flat.items():
            if type(k) is not str or type(v) not in _INLINE:
                break
        else:
            return FrozenMap(flat)
    if t is str or t is int or t is bool or value is None:
        return value  # type: ignore[return-value]
    if t is float:
        if not math.isfinite(value):  # type: ignore[arg-type]
            raise _NotJson(f"{value!r} is not a finite number, JSON has no such value")
        return value  # type: ignore[return-value]
    if value is EMPTY:
        return EMPTY
    if t is dict or isinstance(value, Mapping):
        # FrozenMap is public, so one may hold anything: its contents are checked too.
        out: dict[str, JsonValue] = {}
        for k, v in value.items():  # type: ignore[attr-defined]
            if type(k) is not str and not isinstance(k, str):
                raise _NotJson(f"key {k!r} is not a string")
            tv = type(v)
            if tv is str or tv is int or tv is bool or v is None:
                out[k] = v  # the usual payload: scalars, kept inline (no call per value)
                continue
            try:
                out[k] = _freeze(v)
            except _NotJson as exc:
                exc.where = f".{k}{exc.where}"
                raise
        return _adopt(out)
    if t is list or t is tuple or isinstance(value, list | tuple):
        items: list[JsonValue] = []
        for i, v in enumerate(value):  # type: ignore[arg-type]
            try:
                items.append(_freeze(v))
            except _NotJson as exc:
                exc.where = f"[{i}]{exc.where}"
                raise
        return tuple(items)
    if isinstance(value, str | int):  # subclasses: str enums, int enums (bool is handled)
        return value
    if isinstance(value, float):
        return _freeze(float(value))
    raise _NotJson(f"{type(value).__name__} {value!r} is not JSON-able")


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
