"""State operations: declarative changes an action asks for, applied in order by ``step``.

An agent's state (and each plugin's slice) is a frozen attrs instance; nested values may be
attrs instances or mappings. Paths walk through both: a name is a field of an attrs instance
or a key of a mapping.

Removing a *field* is impossible on an attrs class, so "delete" resets a field to its default;
on a mapping it removes the key.

Plain dicts and lists stored inside a mapping are frozen (to :class:`FrozenMap` and tuples),
like the mappings the ops build; set on an attrs field, they become what the field declares
(as from JSON, strictly), so a state stays immutable, hashable and equal to its round trip.
"""

from __future__ import annotations

import typing
from collections.abc import Iterable, Mapping
from typing import Any, TypeAlias, final

import attrs
from cattrs.errors import ClassValidationError, IterableValidationError

from ._convert import converter, describe
from ._json import FrozenMap

__all__ = [
    "DeleteKeys",
    "DeletePath",
    "ReplaceState",
    "SetPath",
    "SetState",
    "StateOp",
    "StateOpError",
    "apply_ops",
]


def _tuple_of_str(value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        # A bare string is a common slip for a one-element path; accept it as such.
        return (value,)
    return tuple(value)


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
    """Delete the key at ``path`` (reset it, for an attrs field); a missing path is a no-op."""

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
                state = _merge(state, values, ())
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
                state = _set_path(state, path, value, ())
            case DeletePath(path=path):
                if not path:
                    raise StateOpError("DeletePath needs a non-empty path", path)
                state = _delete_path(state, path, ())
            case _:
                raise StateOpError(f"{op!r} is not a state operation", ())
    return state


def _fields(obj: Any) -> dict[str, attrs.Attribute[Any]]:
    return {str(f.name): f for f in attrs.fields(type(obj))}


def _evolve(obj: Any, changes: dict[str, Any], where: tuple[str, ...]) -> Any:
    fields = _fields(obj)
    try:
        return attrs.evolve(obj, **{str(fields[name].alias): v for name, v in changes.items()})
    except (TypeError, ValueError) as exc:
        raise StateOpError(f"rejected by {type(obj).__name__}: {exc}", where) from None


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
    return value


def _field_value(obj: Any, name: str, value: Any, where: tuple[str, ...]) -> Any:
    # A plain dict or list set on a field becomes what the field declares (a FrozenMap, a
    # tuple, an attrs instance...), as it would coming from JSON: the state stays immutable,
    # hashable and equal to its round trip, and a value the field cannot hold is refused.
    if type(value) is not dict and type(value) is not list:
        return value
    declared = _field_types(type(obj)).get(name, Any)
    if declared is Any:
        return _frozen(value)
    try:
        return converter.structure(value, declared)
    except Exception as exc:
        reasons = (
            describe(exc)
            if isinstance(exc, ClassValidationError | IterableValidationError)
            else [str(exc)]
        )
        raise StateOpError(
            f"{type(obj).__name__}.{name} cannot hold {value!r}: {'; '.join(reasons)}", where
        ) from None


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


def _check_field(obj: Any, name: str, where: tuple[str, ...]) -> None:
    if name not in _fields(obj):
        raise StateOpError(f"{type(obj).__name__} has no field {name!r}", where)


def _merge(current: Any, values: Mapping[str, Any], where: tuple[str, ...]) -> Any:
    if attrs.has(type(current)):
        changes: dict[str, Any] = {}
        for name, value in values.items():
            here = (*where, name)
            _check_field(current, name, here)
            old = getattr(current, name)
            if isinstance(value, Mapping) and (attrs.has(type(old)) or isinstance(old, Mapping)):
                value = _merge(old, value, here)
            changes[name] = _field_value(current, name, value, here)
        return _evolve(current, changes, where)
    if isinstance(current, Mapping):
        merged = dict(current)
        for key, value in values.items():
            old = merged.get(key)
            if isinstance(value, Mapping) and (attrs.has(type(old)) or isinstance(old, Mapping)):
                value = _merge(old, value, (*where, key))
            merged[key] = _frozen(value)
        return FrozenMap(merged)
    raise StateOpError(f"cannot merge into a {type(current).__name__}", where)


def _delete(current: Any, name: str, where: tuple[str, ...]) -> Any:
    if attrs.has(type(current)):
        _check_field(current, name, where)
        return _evolve(current, {name: _default(current, name, where)}, where)
    if isinstance(current, Mapping):
        if name not in current:
            return current
        return FrozenMap({k: v for k, v in current.items() if k != name})
    raise StateOpError(f"cannot delete from a {type(current).__name__}", where)


def _set_path(current: Any, path: tuple[str, ...], value: Any, where: tuple[str, ...]) -> Any:
    name, rest = path[0], path[1:]
    here = (*where, name)
    if attrs.has(type(current)):
        _check_field(current, name, here)
        if rest:
            value = _set_path(getattr(current, name), rest, value, here)
        else:
            value = _field_value(current, name, value, here)
        return _evolve(current, {name: value}, where)
    if isinstance(current, Mapping):
        if rest:
            child = current.get(name)
            if not (attrs.has(type(child)) or isinstance(child, Mapping)):
                child = FrozenMap()
            value = _set_path(child, rest, value, here)
        merged = dict(current)
        merged[name] = _frozen(value)
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
