"""State operations: declarative changes an action asks for, applied in order by ``step``.

An agent's state (and each plugin's slice) is a frozen attrs instance; nested values may be
attrs instances or mappings. Paths walk through both: a name is a field of an attrs instance
or a key of a mapping.

Removing a *field* is impossible on an attrs class, so "delete" resets a field to its default;
on a mapping it removes the key.

A value written where the state declares a type (an attrs field, or a value of a mapping
field declared ``FrozenMap[K, V]`` or ``dict[K, V]``) becomes that type as it would coming
from JSON, strictly: a dict, list, tuple or FrozenMap (signal data is frozen) is structured,
and a value the type cannot hold, or a key its class lacks, is refused. Where nothing is
declared (``Any``, ``JsonValue``), plain dicts and lists are frozen (to :class:`FrozenMap` and
tuples), like the mappings the ops build. A time in a zone with rules is kept as the instant
at its offset (:func:`fixed_times`). So a state stays immutable, hashable and equal to its
round trip.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from enum import Enum
from types import UnionType
from typing import Any, Final, TypeAlias, final

import attrs
from cattrs.errors import ClassValidationError, IterableValidationError

from ._convert import _is_json, _writing, describe
from ._items import items
from ._json import FrozenMap, is_json
from ._signal import _fixed_offset

__all__ = [
    "ZONED",
    "DeleteKeys",
    "DeletePath",
    "ReplaceState",
    "SetPath",
    "SetState",
    "StateOp",
    "StateOpError",
    "apply_ops",
    "fixed_times",
    "may_hold_times",
]


def _tuple_of_str(value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        # A bare string is a common slip for a one-element path; accept it as such.
        return (value,)
    return items(value, "DeleteKeys keys or a SetPath / DeletePath path", "strings")


def _frozen_mapping(value: Mapping[str, Any]) -> FrozenMap[str, Any]:
    return value if isinstance(value, FrozenMap) else FrozenMap(value)


@final
@attrs.frozen
class SetState:
    """Deep-merge ``values`` into the state: nested mappings merge, anything else replaces."""

    values: FrozenMap[str, Any] = attrs.field(converter=_frozen_mapping)


@final
@attrs.frozen
class ReplaceState:
    """Replace the whole state with ``state`` (an instance of the state class)."""

    state: Any


@final
@attrs.frozen
class DeleteKeys:
    """Reset top-level fields to their defaults (or drop keys of a mapping state)."""

    keys: tuple[str, ...] = attrs.field(converter=_tuple_of_str)


@final
@attrs.frozen
class SetPath:
    """Set the value at ``path``, creating intermediate mappings; non-mapping intermediates
    inside mappings are overwritten."""

    path: tuple[str, ...] = attrs.field(converter=_tuple_of_str)
    value: Any


@final
@attrs.frozen
class DeletePath:
    """Delete the key at ``path`` (reset it, for an attrs field).

    A key a mapping does not hold, or a path running into a scalar, is a no-op; a field the
    attrs class does not declare is an error (a typo, not an absent value).
    """

    path: tuple[str, ...] = attrs.field(converter=_tuple_of_str)


StateOp: TypeAlias = SetState | ReplaceState | DeleteKeys | SetPath | DeletePath


class StateOpError(Exception):
    """Raised inside :func:`apply_ops`; ``step`` turns it into a ``state`` problem."""

    def __init__(self, message: str, path: tuple[str, ...]) -> None:
        super().__init__(message)
        self.path = path


def apply_ops(state: Any, ops: Iterable[StateOp]) -> Any:
    """Apply ``ops`` to ``state`` in order and return the new state.

    Raises:
        StateOpError: an op names a field the state does not have, walks into a value that is
            neither an attrs instance nor a mapping, or a field validator rejects a value.
            ``state`` itself is never modified.
    """
    for op in ops:
        match op:
            case SetState(values=values):
                state = _merge(state, values, (), Any)
            case ReplaceState(state=new):
                if type(new) is not type(state):
                    raise StateOpError(
                        f"ReplaceState needs a {type(state).__name__}, got {type(new).__name__}",
                        (),
                    )
                state = new
            case DeleteKeys(keys=keys):
                for key in keys:
                    state = _delete(state, key, (key,))
            case SetPath(path=path, value=value):
                if not path:
                    raise StateOpError("SetPath needs a non-empty path", path)
                state = _set_path(state, path, value, (), Any)
            case DeletePath(path=path):
                if not path:
                    raise StateOpError("DeletePath needs a non-empty path", path)
                state = _delete_path(state, path, ())
            case _:
                raise StateOpError(f"{op!r} is not a state operation", ())
    return state


def new_state(cls: type[Any], values: Mapping[str, Any]) -> Any:
    """An instance of the state class ``cls`` made from ``values``: its fields without
    defaults given by them (each written as ``SetState`` writes a field), the others
    merged over their defaults as ``SetState`` merges them.

    Raises:
        StateOpError: ``values`` lacks a field ``cls`` has no default for, names a field
            ``cls`` does not have, or holds a value a field refuses.
    """
    given = SetState(values).values
    required = [f for f in attrs.fields(cls) if f.init and f.default is attrs.NOTHING]
    missing = [str(f.name) for f in required if f.name not in given]
    if missing:
        names = ", ".join(repr(n) for n in missing)
        raise StateOpError(
            f"{cls.__name__} has no default for {names}: the mapping must give"
            f" {'it' if len(missing) == 1 else 'them'}",
            (),
        )
    fields = {str(f.name): f for f in attrs.fields(cls)}
    for name in given:
        if name not in fields:
            raise StateOpError(f"{cls.__name__} has no field {name!r}", (name,))
    types = _field_types(cls)
    # The instance is built once, from every value given (a check across fields, a validator
    # reading another field or ``__attrs_post_init__``, sees them all), each merged over the
    # field's default as ``SetState`` merges it.
    kwargs: dict[str, Any] = {}
    for name, value in given.items():
        f = fields[name]
        declared = types.get(name, Any)
        default = _default_of(f)
        if isinstance(value, Mapping) and (
            attrs.has(type(default)) or isinstance(default, Mapping)
        ):
            value = _merge(default, value, (name,), declared)
        else:
            value = _written(
                value,
                declared,
                (name,),
                f"{cls.__name__}.{name}",
                converts=f.converter is not None,
            )
        kwargs[str(f.alias)] = value
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise StateOpError(f"rejected by {cls.__name__}: {exc}", ()) from None


def _default_of(field: attrs.Attribute[Any]) -> Any:
    # A field's default made without an instance (``_ABSENT`` for none, or one made from it).
    default: Any = field.default
    if default is attrs.NOTHING:
        return _ABSENT
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        return _ABSENT if default.takes_self else default.factory()
    return default


def _fields(obj: Any) -> dict[str, attrs.Attribute[Any]]:
    return {str(f.name): f for f in attrs.fields(type(obj))}


def _evolve(obj: Any, changes: dict[str, Any], where: tuple[str, ...]) -> Any:
    fields = _fields(obj)
    try:
        return attrs.evolve(obj, **{str(fields[name].alias): v for name, v in changes.items()})
    except (TypeError, ValueError) as exc:
        # ``where`` is the object's path: the rejected value is at one of its fields. Which
        # one is found by trying each change alone (on this failing path only); a check
        # across fields (a post-init hook) is reported at the object.
        at, reason = where, exc
        if len(changes) == 1:
            at = (*where, next(iter(changes)))
        else:
            for name, v in changes.items():
                try:
                    attrs.evolve(obj, **{str(fields[name].alias): v})
                except (TypeError, ValueError) as one:
                    at, reason = (*where, name), one
                    break
        raise StateOpError(f"rejected by {type(obj).__name__}: {reason}", at) from None


def _default(obj: Any, name: str, where: tuple[str, ...]) -> Any:
    field = _fields(obj)[name]
    default: Any = field.default
    if default is attrs.NOTHING:
        raise StateOpError(f"field {name!r} has no default to reset to", where)
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        factory: Any = default.factory
        return factory(obj) if default.takes_self else factory()
    return default


def _frozen(value: Any) -> Any:
    # A plain dict or list stored inside a mapping is frozen like the mapping itself, so the
    # state stays immutable, hashable and equal to its JSON round trip.
    if isinstance(value, dict):
        return FrozenMap({k: _frozen(v) for k, v in value.items()})
    if isinstance(value, list) or type(value) is tuple:
        return tuple(_frozen(v) for v in value)
    if type(value) is datetime:
        return fixed_times(value)
    return value


#: No value held yet (``None`` may be one).
_ABSENT: Final = object()


def _written(
    value: Any,
    declared: Any,
    where: tuple[str, ...],
    what: str,
    *,
    old: Any = _ABSENT,
    converts: bool = False,
) -> Any:
    # A value written where the state declares a type (an attrs field, or a value of a
    # ``FrozenMap[K, V]`` / ``dict[K, V]`` field) becomes that type as it would coming from
    # JSON, strictly and with no unknown keys: a dict, list, tuple or FrozenMap (signal data
    # is frozen) is structured, so the state stays hashable and equal to its round trip, and
    # what the type cannot hold is refused. Where nothing is declared (``Any``, JSON) it is
    # frozen. ``old``: what the field or key holds now; ``converts``: the attrs field has a
    # converter of its own, which then takes the value as given (as ``attrs.evolve`` would).
    if declared is Any:
        return _frozen(value)
    t = type(value)
    if (t is declared and t is not datetime) or value is old or converts:
        return value  # a value of the declared class; the one already there; the field's
    if _built(value, declared):
        # Typed values the action built: taken as given, as attrs itself takes them (their
        # classes validate themselves), not restructured on every write.
        return value
    try:
        return _writing.structure(value, declared)
    except Exception as exc:
        if not (t is list or t is dict) and not is_json(value) and _holds_built(value):
            # Not JSON data but typed values the action built (say, instances of a union
            # cattrs tells apart by shape only, enum members, dataclasses): taken as given,
            # as attrs itself takes them. What holds only plain values (a set of numbers,
            # bytes, a bare object) is no such value: refused, as no type is declared so.
            return value
        reasons = (
            describe(exc)
            if isinstance(exc, ClassValidationError | IterableValidationError)
            else [str(exc)]
        )
        raise StateOpError(f"{what} cannot hold {value!r}: {'; '.join(reasons)}", where) from None


def _field_written(obj: Any, name: str, value: Any, where: tuple[str, ...]) -> Any:
    """``value`` as written to the attrs field ``name`` of ``obj`` (see ``_written``)."""
    return _written(
        value,
        _field_type(obj, name),
        where,
        f"{type(obj).__name__}.{name}",
        old=getattr(obj, name),
        converts=_converts(obj, name),
    )


def _built(value: Any, declared: Any) -> bool:
    """Whether ``value`` is made of instances an action built: an attrs instance, or an
    immutable collection of nothing else (a mapping's keys, too, of the declared key class
    when it names one), not of JSON data such as a signal's."""
    t = type(value)
    if attrs.has(t):
        return True
    if t is tuple or t is frozenset:
        return bool(value) and all(attrs.has(type(v)) for v in value)
    if t is FrozenMap:
        if not value or not all(attrs.has(type(v)) for v in value.values()):
            return False
        args = typing.get_args(declared)
        key = args[0] if len(args) == 2 else None
        return not isinstance(key, type) or all(type(k) is key for k in value)
    return False


_COLLECTIONS: Final = frozenset({tuple, list, set, frozenset})


def _holds_built(value: Any) -> bool:
    """Whether ``value`` is, or is a collection holding somewhere, an instance of a type of
    the program's own (an attrs class, a dataclass, an enum), rather than plain values (a
    number, bytes, a datetime, a UUID, a path...)."""
    t = type(value)
    if isinstance(value, Mapping):
        return any(_holds_built(v) for v in value.values())
    if t in _COLLECTIONS:
        return any(_holds_built(v) for v in value)
    return attrs.has(t) or dataclasses.is_dataclass(value) or isinstance(value, Enum)


def _converts(obj: Any, name: str) -> bool:
    """Whether the attrs field ``name`` of ``obj`` has a converter."""
    cls = type(obj)
    known = _CONVERTS.get(cls)
    if known is None:
        known = _CONVERTS[cls] = {f.name for f in attrs.fields(cls) if f.converter is not None}
    return name in known


# Each state class's fields with converters: a memo of a pure function of its class.
_CONVERTS: dict[type[Any], set[str]] = {}


def _field_type(obj: Any, name: str) -> Any:
    return _field_types(type(obj)).get(name, Any)


def _value_type(declared: Any) -> Any:
    # What a mapping declared as ``dict[K, V]`` / ``FrozenMap[K, V]`` / ``Mapping[K, V]``
    # (optionally ``| None``) holds: ``V``; ``Any`` when that is not known, or is JSON.
    origin = typing.get_origin(declared)
    if origin in (typing.Union, UnionType):
        members = [a for a in typing.get_args(declared) if a is not type(None)]
        return _value_type(members[0]) if len(members) == 1 else Any
    args = typing.get_args(declared)
    if len(args) != 2 or not isinstance(origin, type) or not issubclass(origin, Mapping):
        return Any
    value: Any = args[1]
    if value is object or _is_json(value):
        return Any
    return value


def _field_types(cls: type[Any]) -> dict[str, Any]:
    types = _FIELD_TYPES.get(cls)
    if types is None:
        try:
            types = typing.get_type_hints(cls)
        except Exception:  # annotations that do not resolve: values are frozen, not checked
            types = {}
        _FIELD_TYPES[cls] = types
    return types


# Each state class's resolved field types: a memo of a pure function of classes the program
# defines.
_FIELD_TYPES: dict[type[Any], dict[str, Any]] = {}


def fixed_times(value: Any, before: Any = None) -> Any:
    """``value`` with every time in a zone with rules (``ZoneInfo``) replaced by the same
    instant at the fixed offset it has, as a :class:`~jido.Signal`'s time is: that is what its
    JSON says, and a time in a daylight-saving fold compares unequal to its fixed-offset copy,
    so a state holding one would not equal its round trip (nor the agent a journal restores).
    Attrs instances, tuples, lists, mappings and sets are walked; ``value`` itself is returned
    when nothing changes.

    ``before``: an earlier value of the same attrs class, already fixed: the fields ``value``
    shares with it (the same objects) are not walked again, so a step that changed one field
    of a large state pays for that field only.
    """
    t = type(value)
    if t is datetime:
        tz = value.tzinfo
        return value if tz is None or tz.__class__ is timezone else _fixed_offset(value)
    if attrs.has(t):
        same = type(before) is t
        changes = {}
        for f in attrs.fields(t):
            if f.init:
                old = getattr(value, f.name)
                if same and old is getattr(before, f.name):
                    continue
                new = fixed_times(old)
                if new is not old:
                    changes[str(f.alias)] = new
        return attrs.evolve(value, **changes) if changes else value
    if t is tuple or t is list or t is frozenset or t is set:
        items = [fixed_times(v) for v in value]
        if all(a is b for a, b in zip(items, value, strict=True)):
            return value
        return t(items)
    if isinstance(value, Mapping):
        pairs = {k: fixed_times(v) for k, v in value.items()}
        if all(pairs[k] is v for k, v in value.items()):
            return value
        return FrozenMap(pairs) if t is FrozenMap else t(pairs)
    return value


def may_hold_times(cls: type[Any]) -> bool:
    """Whether the annotations of the state class ``cls`` declare a ``datetime`` anywhere
    (in a field, a nested attrs class, a container or a union): only such a state needs
    :func:`fixed_times`."""
    known = _TIMES.get(cls)
    if known is None:
        known = _TIMES[cls] = _declares_times(cls, set())
        if known:
            ZONED.add(cls)
    return known


def _declares_times(t: Any, seen: set[type[Any]]) -> bool:
    if isinstance(t, type) and issubclass(t, datetime):
        return True
    if isinstance(t, type) and attrs.has(t):
        if t in seen:
            return False
        seen.add(t)
        return any(_declares_times(a, seen) for a in _field_types(t).values())
    return any(_declares_times(a, seen) for a in typing.get_args(t) if a is not Ellipsis)


# Whether each state class declares a time: a memo of a pure function of classes the program
# defines.
_TIMES: dict[type[Any], bool] = {}
#: The classes :func:`may_hold_times` found to declare a time (an AgentSpec asks about its
#: state classes when it is built): ``step`` tests a new state's class against this set,
#: which is empty, and so cheapest, in the many programs whose states hold no time.
ZONED: Final[set[type[Any]]] = set()


def _check_field(obj: Any, name: str, where: tuple[str, ...]) -> None:
    if name not in _fields(obj):
        raise StateOpError(f"{type(obj).__name__} has no field {name!r}", where)


def _merge(current: Any, values: Mapping[str, Any], where: tuple[str, ...], declared: Any) -> Any:
    if attrs.has(type(current)):
        changes: dict[str, Any] = {}
        for name, value in values.items():
            here = (*where, name)
            _check_field(current, name, here)
            old = getattr(current, name)
            field_type = _field_type(current, name)
            if isinstance(value, Mapping) and (attrs.has(type(old)) or isinstance(old, Mapping)):
                value = _merge(old, value, here, field_type)
            else:
                value = _field_written(current, name, value, here)
            changes[name] = value
        return _evolve(current, changes, where)
    if isinstance(current, Mapping):
        held = _value_type(declared)
        merged = dict(current)
        for key, value in values.items():
            here = (*where, key)
            old = merged.get(key, _ABSENT)
            if isinstance(value, Mapping) and (attrs.has(type(old)) or isinstance(old, Mapping)):
                value = _merge(old, value, here, held)
            else:
                value = _written(value, held, here, _path_name(here), old=old)
            merged[key] = value
        return FrozenMap(merged)
    raise StateOpError(f"cannot merge into a {type(current).__name__}", where)


def _path_name(path: tuple[Any, ...]) -> str:
    # A map's keys need not be strings (``FrozenMap[int, int]``, an enum's members).
    return ".".join(p if type(p) is str else str(p) for p in path)


def _delete(current: Any, name: str, where: tuple[str, ...]) -> Any:
    if attrs.has(type(current)):
        _check_field(current, name, where)
        return _evolve(current, {name: _default(current, name, where)}, where)
    if isinstance(current, Mapping):
        if name not in current:
            return current
        return FrozenMap({k: v for k, v in current.items() if k != name})
    raise StateOpError(f"cannot delete from a {type(current).__name__}", where)


def _set_path(
    current: Any, path: tuple[str, ...], value: Any, where: tuple[str, ...], declared: Any
) -> Any:
    name, rest = path[0], path[1:]
    here = (*where, name)
    if attrs.has(type(current)):
        _check_field(current, name, here)
        field_type = _field_type(current, name)
        if rest:
            value = _set_path(getattr(current, name), rest, value, here, field_type)
        else:
            value = _field_written(current, name, value, here)
        return _evolve(current, {name: value}, where)
    if isinstance(current, Mapping):
        held = _value_type(declared)
        if rest:
            child = current.get(name)
            made = not (attrs.has(type(child)) or isinstance(child, Mapping))
            if made:
                child = FrozenMap()
            value = _set_path(child, rest, value, here, held)
            if made:
                # A value the path created: what the mapping holds (``Item(qty=4)`` for
                # ``items.k.qty`` in a ``FrozenMap[str, Item]``), not a bare mapping.
                value = _written(value, held, here, _path_name(here))
        else:
            value = _written(value, held, here, _path_name(here), old=current.get(name, _ABSENT))
        merged = dict(current)
        merged[name] = value
        return FrozenMap(merged)
    raise StateOpError(f"cannot set a path inside a {type(current).__name__}", where)


def _delete_path(current: Any, path: tuple[str, ...], where: tuple[str, ...]) -> Any:
    name, rest = path[0], path[1:]
    here = (*where, name)
    if not rest:
        if isinstance(current, Mapping) or attrs.has(type(current)):
            return _delete(current, name, here)
        return current
    if attrs.has(type(current)):
        _check_field(current, name, here)
        child = getattr(current, name)
        new_child = _delete_path(child, rest, here)
        return current if new_child is child else _evolve(current, {name: new_child}, where)
    if isinstance(current, Mapping):
        if name not in current:
            return current
        child = current[name]
        new_child = _delete_path(child, rest, here)
        if new_child is child:
            return current
        merged = dict(current)
        merged[name] = new_child
        return FrozenMap(merged)
    # A path that runs into a scalar does not exist: nothing to delete.
    return current
