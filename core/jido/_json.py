"""Immutable JSON values: what signal data, effect arguments and error details hold.

A JSON value here is ``None``, ``bool``, ``int`` (of at most :data:`MAX_INT_DIGITS` digits),
``float`` (finite), ``str`` (Unicode text: no lone surrogate), a ``tuple`` of JSON values, or a
:class:`FrozenMap` from ``str`` to JSON values. All of them are hashable, so every value that
carries them (signals, directives) hashes by value, and all of them can be written as JSON
text in UTF-8 and read back equal.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final, TypeAlias, TypeVar, Union, cast, final, overload

__all__ = [
    "EMPTY",
    "MAX_DEPTH",
    "MAX_INT_DIGITS",
    "FrozenMap",
    "JsonValue",
    "carried_map",
    "freeze",
    "freeze_map",
    "is_json",
    "lone_surrogate",
    "thaw",
]

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


#: The most decimal digits an ``int`` in a JSON value may have: CPython's default limit on
#: converting an ``int`` to or from text (``sys.get_int_max_str_digits()``, 4300), past which
#: ``json.dumps`` raises and ``json.loads`` refuses the number. A fixed bound, not the
#: process's setting: that is process state, and what the core accepts must not depend on it.
MAX_INT_DIGITS: Final = 4300
#: The deepest a JSON value may nest (arrays and objects within one another). A fixed bound,
#: well inside what the json module, orjson and Python's recursion limit read back wherever
#: a value is decoded: a bound set by how deep the caller's stack happened to be would let
#: through data a journal could write and no replay read again.
MAX_DEPTH: Final = 256
# _INT_MIN < n < _INT_MAX: n has at most MAX_INT_DIGITS digits. Comparing a machine-sized int
# with these looks at the sizes only, so the check costs next to nothing on the usual values
# (both bounds are built once: negating a 4301-digit int on every check would not).
_INT_MAX: Final = 10**MAX_INT_DIGITS
_INT_MIN: Final = -_INT_MAX


def freeze(value: object, *, path: str = "$") -> JsonValue:
    """Turn plain JSON-able data into an immutable :data:`JsonValue`.

    Lists become tuples and dicts become :class:`FrozenMap`; already-frozen values pass
    through.

    Raises:
        TypeError: ``value`` is not JSON-able (a set, an object, a non-string key, NaN, an
            integer of more than :data:`MAX_INT_DIGITS` digits, a string or key holding a
            lone surrogate...); the message names the path of the first bad part, e.g.
            ``$.items[2]``.

    >>> freeze({"a": [1, 2]})
    FrozenMap({'a': (1, 2)})
    """
    return _frozen(value, path, 0)


def _frozen(value: object, path: str, depth: int) -> JsonValue:
    # ``freeze`` of a value ``depth`` levels down in what it will be carried in.
    try:
        return _freeze(value, depth)
    except _NotJson as exc:
        if depth and exc.reason is _TOO_DEEP:
            exc.reason = _too_deep(MAX_DEPTH - depth)  # the bound it is held to, not data's
        raise TypeError(f"{path}{exc.shown}") from None
    except RecursionError:
        raise TypeError(f"{path}: {_too_deep(MAX_DEPTH - depth)}") from None


class _NotJson(Exception):
    # Carries where (built only on failure, so the happy path formats no path strings).
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.where = ""

    @property
    def shown(self) -> str:
        """Where, then why: a path hundreds of levels deep cut in its middle."""
        where = self.where
        if len(where) > 160:
            where = f"{where[:80]}...{where[-60:]}"
        return f"{where}: {self.reason}"


def _too_deep(limit: int) -> str:
    return f"nested more than {limit} deep (or it contains itself)"


_TOO_DEEP: Final = _too_deep(MAX_DEPTH)


def _surrogate_in(text: str) -> str | None:
    # The first lone surrogate in ``text``, a string known not to be ASCII (the caller's
    # fast path). UTF-8 encodes every code point but the surrogates, so encoding (in C)
    # finds the first one faster than a search (a regex is several times slower), and its
    # error says where it is.
    try:
        text.encode()
    except UnicodeEncodeError as exc:
        return text[exc.start]
    return None


def _not_text(text: str, what: str) -> _NotJson | None:
    # The refusal of a non-ASCII string (a value, or with ``what="key "`` a key) that is not
    # Unicode text; its repr shows the surrogate escaped, so the message is text itself.
    found = _surrogate_in(text)
    if found is None:
        return None
    return _NotJson(
        f"{what}{text!r:.60} holds a lone surrogate (\\u{ord(found):04x}),"
        " which UTF-8 cannot encode"
    )


def lone_surrogate(value: object) -> str | None:
    r"""The first lone surrogate in the strings of a JSON value, mapping keys included, in
    document order; ``None`` if there is none.

    A lone surrogate is a code point U+D800..U+DFFF: half of a UTF-16 pair, no character,
    and not encodable in UTF-8. ``json.loads('"\ud83d"')`` (a truncated emoji) makes one;
    :func:`freeze` refuses it. This finds it in plain data (what ``json.loads`` returns:
    dicts and lists) or frozen data (FrozenMaps and tuples), building nothing; other values
    are passed over. ``value`` must not contain itself (no JSON value does).

    >>> import json
    >>> lone_surrogate(json.loads('{"title": ["caf\\u00e9", "\\ud83d\\ude00"]}'))  # a pair
    >>> lone_surrogate(json.loads('{"title": ["caf\\u00e9", "\\ud83d"]}'))
    '\ud83d'
    """
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            if not v.isascii():
                found = _surrogate_in(v)
                if found is not None:
                    return found
        elif isinstance(v, dict):  # a FrozenMap is a dict
            stack.extend(reversed([x for kv in v.items() for x in kv]))
        elif isinstance(v, list | tuple):
            stack.extend(reversed(v))
    return None


_INT_TOO_LONG: Final = (
    f"an integer of more than {MAX_INT_DIGITS} digits, which Python does not convert to or"
    " from JSON text"
)


def _freeze(value: object, depth: int = 0) -> JsonValue:
    t = type(value)
    if depth >= MAX_DEPTH and isinstance(value, Mapping | list | tuple):
        raise _NotJson(_TOO_DEEP)
    if t is dict:
        # The usual payload: a flat object of strings, integers, booleans and nulls, which
        # needs no recursion and is copied whole. A string is looked through only when it is
        # not ASCII (a flag CPython keeps: no scan); anything refused, or not scalar, takes
        # the general path below, which says what and where.
        flat = cast("dict[str, JsonValue]", value)
        for k, v in flat.items():
            if type(k) is not str or (not k.isascii() and _surrogate_in(k) is not None):
                break
            tv = type(v)
            if tv is str:
                if not v.isascii() and _surrogate_in(v) is not None:  # type: ignore[union-attr,arg-type]
                    break
            elif tv is int:
                if not _INT_MIN < v < _INT_MAX:  # type: ignore[operator]
                    break
            elif tv is not bool and v is not None:
                break
        else:
            return FrozenMap(flat)
    if t is str:
        if not value.isascii():  # type: ignore[attr-defined]
            bad = _not_text(value, "")  # type: ignore[arg-type]
            if bad is not None:
                raise bad
        return value  # type: ignore[return-value]
    if t is int:
        if not _INT_MIN < value < _INT_MAX:  # type: ignore[operator]
            raise _NotJson(_INT_TOO_LONG)
        return value  # type: ignore[return-value]
    if t is bool or value is None:
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
                raise _NotJson(f"key {_shown(k)} is not a string")
            if not k.isascii():
                bad = _not_text(k, "key ")
                if bad is not None:
                    raise bad
            # The usual payload: scalars, kept inline (no call per value).
            tv = type(v)
            if tv is str:
                if v.isascii() or _surrogate_in(v) is None:
                    out[k] = v
                    continue
            elif tv is int:
                if _INT_MIN < v < _INT_MAX:
                    out[k] = v
                    continue
            elif tv is bool or v is None:
                out[k] = v
                continue
            try:
                out[k] = _freeze(v, depth + 1)
            except _NotJson as exc:
                exc.where = f".{k}{exc.where}"
                raise
        return _adopt(out)
    if t is list or t is tuple or isinstance(value, list | tuple):
        items: list[JsonValue] = []
        for i, v in enumerate(value):  # type: ignore[arg-type]
            try:
                items.append(_freeze(v, depth + 1))
            except _NotJson as exc:
                exc.where = f"[{i}]{exc.where}"
                raise
        return tuple(items)
    if isinstance(value, str):  # a subclass: a str enum's member
        bad = _not_text(value, "")
        if bad is not None:
            raise bad
        return value
    if isinstance(value, int):  # a subclass: an int enum's member (bool is handled)
        if not _INT_MIN < value < _INT_MAX:
            raise _NotJson(_INT_TOO_LONG)
        return value
    if isinstance(value, float):
        return _freeze(float(value))
    raise _NotJson(f"{type(value).__name__} {_shown(value)} is not JSON-able")


def _shown(value: object) -> str:
    """``repr(value)`` for a message, or what it is when that fails: the repr of an integer
    past Python's digit limit (or of anything holding one) raises ``ValueError``, which would
    replace the refusal being reported."""
    try:
        return repr(value)
    except RecursionError:
        return f"<{type(value).__name__} nested too deeply to show>"
    except ValueError:
        if isinstance(value, int) and not _INT_MIN < value < _INT_MAX:
            return f"<an integer of more than {MAX_INT_DIGITS} digits>"
        return f"<{type(value).__name__} holding an integer too long to show>"


def freeze_map(value: object, *, path: str = "$") -> FrozenMap[str, JsonValue]:
    """Like :func:`freeze`, for a value that must be a mapping (``None`` gives an empty one).

    Raises:
        TypeError: ``value`` is not a JSON-able mapping.
    """
    return _frozen_map(value, path, 0)


def _frozen_map(value: object, path: str, depth: int) -> FrozenMap[str, JsonValue]:
    if value is None:
        return EMPTY
    if not isinstance(value, Mapping):
        raise TypeError(f"{path}: expected a mapping, got {type(value).__name__}")
    frozen = _frozen(value, path, depth)
    assert isinstance(frozen, FrozenMap)
    return frozen


def carried_map(value: object) -> FrozenMap[str, JsonValue]:
    """:func:`freeze_map` for a directive's field that the runtime carries in the data of a
    signal, one level down (an ``Invoke``'s ``context`` in its outcome's, a spawn's ``meta``
    in ``child.started``): it may nest one level less than signal data, so that signal can
    always be built.

    Raises:
        TypeError: as :func:`freeze_map`.
    """
    return _frozen_map(value, "$", 1)


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
