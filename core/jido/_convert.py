"""The one private cattrs converter: JSON data in and out of typed values.

Two users: action parameter validation (``step`` structures signal data into the action's
params class) and :mod:`jido.serde` (signals, directives and agents to and from JSON). Both are
edges where data crosses into typed code, so both get the same strict rules: no silent
coercion of ``"5"`` to ``5`` or of ``1.5`` to ``1``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from enum import Enum
from types import UnionType
from typing import Any, Final, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import attrs
import cattrs
import cattrs.v
from cattrs.cols import (
    homogenous_tuple_structure_factory,
    is_any_set,
    is_frozenset,
    is_mapping,
    is_sequence,
    list_structure_factory,
)
from cattrs.errors import (
    ClassValidationError,
    ForbiddenExtraKeysError,
)

from ._json import EMPTY, FrozenMap, JsonValue, freeze, thaw
from ._signal import _fixed_offset

__all__ = [
    "converter",
    "describe",
    "format_exception",
    "parse_rfc3339",
    "prepare_params",
    "prepare_state",
    "structure_params",
]

P = TypeVar("P")


def _strict(
    kind: type[Any], accept: tuple[type[Any], ...], reject: tuple[type[Any], ...] = ()
) -> Any:
    def hook(value: object, t: Any) -> Any:
        if t is not kind:
            # cattrs dispatches a subclass (an IntEnum, a StrEnum) to its base's hook: an
            # enum is structured as an enum, anything else as its own class.
            if isinstance(t, type) and issubclass(t, Enum):
                return _structure_enum(value, t)
            return t(hook(value, kind))
        if isinstance(value, reject) or not isinstance(value, accept):
            raise TypeError(f"expected {kind.__name__}, got {type(value).__name__} {value!r}")
        if value.__class__ is float and not math.isfinite(value):
            # NaN and the infinities have no JSON form: a value holding one could never be
            # written out again (1e400 in JSON text reads as infinity).
            raise ValueError(f"expected a finite {kind.__name__}, got {value!r}")
        # An int in a float field stays an int (a float is what the type allows, and an int
        # is one for Python's numeric tower): its JSON text stays the same after a round trip.
        return value

    return hook


def _structure_enum(value: object, t: type[Enum]) -> Any:
    # Strict as the scalars: a member, or the value of one in that value's own type (so
    # neither ``True`` nor ``1.0`` is ``Level.LOW``, and ``"1"`` is not either).
    if isinstance(value, t):
        return value
    try:
        member = t(value)
    except ValueError:
        pass
    else:
        if type(member.value) is type(value):
            return member
    values = ", ".join(repr(m.value) for m in t)
    raise ValueError(
        f"expected {t.__name__} (one of {values}), got {type(value).__name__} {value!r}"
    )


_SCALAR_TYPES: Final = frozenset({bool, int, float, str, type(None)})
_INT_KEY: Final = re.compile(r"-?(0|[1-9][0-9]*)")


# RFC 3339 section 5.6 ``date-time`` (ASCII digits only: ``\d`` would take any script's).
_RFC3339: Final = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)

# A time in a state as ``datetime.isoformat`` writes it: RFC 3339, or without an offset (a
# naive datetime), or with an offset finer than a minute (``+05:00:15``, which RFC 3339 has
# no form for: written as it is, so that it reads back exactly and at any year).
_STATE_TIME: Final = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?"
    r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?)?"
)


def parse_rfc3339(text: str) -> datetime:
    """``text``, an RFC 3339 timestamp, as a datetime.

    ``datetime.fromisoformat`` alone takes forms RFC 3339 does not (basic format, week
    dates, a date alone, no seconds, ``+0100``), which would be written back otherwise,
    and refuses one it does (a lower-case ``t`` or ``z``).

    >>> parse_rfc3339("2020-01-01t10:00:00z")
    datetime.datetime(2020, 1, 1, 10, 0, tzinfo=datetime.timezone.utc)

    Raises:
        ValueError: ``text`` is no such timestamp (or names no day or time: a month 13).
    """
    return _parse_time(text, _RFC3339)


def _parse_time(text: str, form: re.Pattern[str]) -> datetime:
    if form.fullmatch(text) is None:
        raise ValueError(f"{text!r:.60} is not an RFC 3339 timestamp")
    try:
        return datetime.fromisoformat(text.upper())
    except ValueError as exc:
        raise ValueError(f"{text!r:.60} is not an RFC 3339 timestamp ({exc})") from None


def _structure_datetime(value: object, _: object) -> datetime:
    # What _unstructure_datetime writes (see _STATE_TIME), or (a value a state op sets) a
    # datetime; a time in a zone with rules becomes the instant at its fixed offset, as its
    # text would (see ``Signal.time``).
    if type(value) is datetime:
        tz = value.tzinfo
        return value if tz is None or tz.__class__ is timezone else _fixed_offset(value)
    if not isinstance(value, str):
        raise TypeError(f"expected an RFC 3339 time, got {type(value).__name__} {value!r}")
    return _parse_time(value, _STATE_TIME)


def _unstructure_datetime(value: datetime) -> str:
    # isoformat: RFC 3339 but for a naive time (no offset) and an offset finer than a
    # minute (seconds in it), both read back by _structure_datetime.
    return value.isoformat()


def _is_json(t: Any) -> bool:
    # JsonValue as annotated in user code may arrive with its forward references resolved to
    # different depths (``from __future__ import annotations`` or not), so it is recognised
    # by shape: a union of the JSON scalars, a tuple and a FrozenMap.
    if t == JsonValue:
        return True
    if get_origin(t) is not Union:
        return False
    args = get_args(t)
    return set(args) >= _SCALAR_TYPES and any(get_origin(a) is FrozenMap for a in args)


def _make(*, detailed: bool = True, forbid_extra: bool = False) -> cattrs.Converter:
    c = cattrs.Converter(detailed_validation=detailed, forbid_extra_keys=forbid_extra)
    c.register_structure_hook(str, _strict(str, (str,)))
    c.register_structure_hook(bool, _strict(bool, (bool,)))
    c.register_structure_hook(int, _strict(int, (int,), (bool,)))
    c.register_structure_hook(float, _strict(float, (int, float), (bool,)))
    c.register_structure_hook_func(
        lambda t: isinstance(t, type) and issubclass(t, Enum), _structure_enum
    )

    # cattrs' generated attrs hooks test ``"field" in value``, so a string or a list would
    # silently become an instance built from defaults; only a JSON object may become one.
    # The factory takes the converter so that copies (jido.serde's codecs) use their own.
    def structure_attrs(cl: Any, conv: cattrs.Converter) -> Any:
        inner = conv.gen_structure_attrs_fromdict(cl)

        def hook(value: Any, t: Any) -> Any:
            t_ = type(value)
            if t_ is not dict and t_ is not FrozenMap and not isinstance(value, Mapping):
                if t_ is cl:  # an instance already (a state op may write one): as it is
                    return value
                raise TypeError(f"expected an object, got {t_.__name__} {value!r}")
            return inner(value, t)

        return hook

    c.register_structure_hook_factory(attrs.has, structure_attrs)

    # cattrs structures any iterable into a list, tuple or set: a string would become its
    # characters, an object its keys. Only a JSON array (a list, or a tuple once frozen) may.
    def structure_array(cl: Any, conv: cattrs.Converter) -> Any:
        args = get_args(cl)
        inner: Callable[[Any, Any], Any]
        if is_any_set(cl):
            item = args[0] if args else Any
            make: type[Any] = frozenset if is_frozenset(cl) else set

            def structure_set(value: Any, _: Any) -> Any:
                return make(conv.structure(v, item) for v in value)

            inner = structure_set
        elif get_origin(cl) is tuple and not (len(args) == 2 and args[1] is Ellipsis):

            def structure_fixed(value: Any, _: Any) -> Any:
                if len(value) != len(args):
                    raise ValueError(f"expected {len(args)} items, got {len(value)}")
                return tuple(conv.structure(v, a) for v, a in zip(value, args, strict=True))

            inner = structure_fixed
        elif get_origin(cl) is tuple or cl is tuple:
            inner = homogenous_tuple_structure_factory(cl, conv)
        else:
            inner = list_structure_factory(cl, conv)

        def hook(value: Any, t: Any) -> Any:
            t_ = type(value)
            if t_ is not list and t_ is not tuple:
                raise TypeError(f"expected an array, got {t_.__name__} {value!r}")
            return inner(value, t)

        return hook

    def is_array(t: Any) -> bool:
        return is_sequence(t) or is_any_set(t) or get_origin(t) is tuple

    c.register_structure_hook_factory(is_array, structure_array)

    # Unions of anything but attrs classes (``int | str``): cattrs has no hook for them. The
    # members are tried in order; the strict scalar hooks above make the first fit the only
    # one among scalars (none converts a value, so ``float | int`` keeps an int an int). An
    # enum member takes its value, so ``Level | int`` reads 1 as ``Level.LOW``: order matters.
    def is_plain_union(t: Any) -> bool:
        if get_origin(t) not in (Union, UnionType) or _is_json(t):
            return False
        members = [a for a in get_args(t) if a is not type(None)]
        return not all(attrs.has(a) for a in members)

    def structure_union(cl: Any, conv: cattrs.Converter) -> Any:
        members = get_args(cl)
        names = " | ".join(getattr(a, "__name__", repr(a)) for a in members)

        def hook(value: Any, _: Any) -> Any:
            if value is None and type(None) in members:
                return None
            for member in members:
                if member is type(None):
                    continue
                try:
                    return conv.structure(value, member)
                except Exception:  # not this member: try the next
                    continue
            raise TypeError(f"expected {names}, got {type(value).__name__} {value!r}")

        return hook

    c.register_structure_hook_factory(is_plain_union, structure_union)

    def is_frozen_map(t: Any) -> bool:
        return t is FrozenMap or get_origin(t) is FrozenMap

    def untyped(t: Any) -> bool:
        args = get_args(t)
        return not args or _is_json(args[1]) or args[1] in (Any, object)

    # Factories taking the converter, like the ones above: a copy (jido.serde's codecs, with
    # their tagged unions, CloudEvents signals and sorted sets) uses its own hooks for what a
    # FrozenMap holds, as it does for what a dict holds.
    def structure_frozen_map(cl: Any, conv: cattrs.Converter) -> Any:
        if untyped(cl):

            def structure_json(value: object, _: Any) -> FrozenMap[Any, Any]:
                if not isinstance(value, Mapping):
                    raise TypeError(f"expected an object, got {type(value).__name__}")
                frozen = freeze(value)
                assert isinstance(frozen, FrozenMap)
                return frozen

            return structure_json
        kt, vt = get_args(cl)

        def structure_typed(value: object, _: Any) -> FrozenMap[Any, Any]:
            if not isinstance(value, Mapping):
                raise TypeError(f"expected an object, got {type(value).__name__}")
            return FrozenMap({key(conv, k, kt): conv.structure(v, vt) for k, v in value.items()})

        return structure_typed

    # JSON object keys are strings, so an ``int`` key comes back as its digits: only those
    # (the canonical spelling ``str(int)`` writes) are read back as the integer.
    def key(conv: cattrs.Converter, k: object, kt: Any) -> Any:
        if kt is int and type(k) is str and _INT_KEY.fullmatch(k):
            return int(k)
        return conv.structure(k, kt)

    def is_int_keyed_dict(t: Any) -> bool:
        args = get_args(t)
        return bool(args) and args[0] is int and is_mapping(t) and get_origin(t) is not FrozenMap

    def structure_int_keyed(cl: Any, conv: cattrs.Converter) -> Any:
        vt = get_args(cl)[1]

        def hook(value: Any, _: Any) -> Any:
            if not isinstance(value, Mapping):
                raise TypeError(f"expected an object, got {type(value).__name__} {value!r}")
            return {key(conv, k, int): conv.structure(v, vt) for k, v in value.items()}

        return hook

    def unstructure_frozen_map(cl: Any, conv: cattrs.Converter) -> Any:
        if untyped(cl):
            return lambda m: {k: conv.unstructure(v) for k, v in m.items()}
        kt, vt = get_args(cl)
        kh = conv.get_unstructure_hook(kt)
        vh = conv.get_unstructure_hook(vt)
        return lambda m: {kh(k): vh(v) for k, v in m.items()}

    c.register_structure_hook_factory(is_frozen_map, structure_frozen_map)
    c.register_structure_hook_factory(is_int_keyed_dict, structure_int_keyed)
    c.register_unstructure_hook_factory(is_frozen_map, unstructure_frozen_map)
    # A bare JSON value (signal data, effect results): freeze on the way in, thaw on the way out.
    c.register_structure_hook_func(_is_json, lambda v, _: freeze(v))
    # ``Any`` takes any JSON value, frozen too: a state field typed ``Any`` equals its round
    # trip, and holds nothing mutable.
    c.register_structure_hook_func(lambda t: t is Any, lambda v, _: freeze(v))
    c.register_unstructure_hook_func(_is_json, thaw)
    c.register_structure_hook(datetime, _structure_datetime)
    c.register_unstructure_hook(datetime, _unstructure_datetime)
    return c


def format_exception(exc: BaseException, t: Any) -> str:
    """cattrs' wording for an error it located (``t`` is then the type expected there), and
    the exception's own words for one it did not: what a class's ``__init__`` raised (an
    attrs validator or converter), whose message names the field and the reason, where
    cattrs would say only "invalid value"."""
    if t is None and isinstance(exc, TypeError | ValueError) and exc.args:
        return str(exc.args[0])
    if (t is float or t is datetime) and isinstance(exc, ValueError) and exc.args:
        # A float refused for not being finite (see _strict), a time for not being RFC 3339:
        # cattrs would say only "invalid value".
        return str(exc.args[0])
    if get_origin(t) is Literal and isinstance(exc, Exception):
        # cattrs has no words of its own for it ("unknown error (c not in literal ...)").
        return "expected one of " + ", ".join(repr(v) for v in get_args(t))
    return cattrs.v.format_exception(exc, t)


def describe(exc: BaseException) -> list[str]:
    """Every problem in a structuring error, one string each, ending with its JSON path."""
    if isinstance(exc, cattrs.BaseValidationError):
        return cattrs.transform_error(exc, format_exception=format_exception)
    return [f"{exc} @ $"]


#: The converter. Only ``jido`` modules use it; users build their own for their needs.
converter: Final = _make()

# The same rules without cattrs' detailed validation, which records every field's error at a
# cost on every call: params that validate (nearly all of them) take this path, and any that
# fail are structured again by ``converter`` for the full list of problems.
_fast: Final = _make(detailed=False)
# For actions with ``extra="forbid"``: unknown keys are errors at every level of the params.
_forbidding: Final = _make(forbid_extra=True)
# For values a state op writes: as from JSON, but a key the class does not have is an error
# (as it is for a field SetState names), not silently dropped.
_writing: Final = _forbidding
_EXTRA: Final = re.compile(r"extra fields found \((.*)\) @ (\$.*)")
# Each params class's hook, looked up once (cattrs' dispatch costs more than the hook's call):
# a memo of pure functions, keyed by classes the program defines.
_fast_hooks: dict[type[Any], Callable[[Any, Any], Any]] = {}


def structure_params(data: object, cls: type[P], forbid_extra: bool) -> P | list[str]:
    """Validate ``data`` into ``cls``; on failure return every problem, one string each.

    Each message ends with the JSON path of the bad field (``... @ $.by``).
    """
    hook = _fast_hooks.get(cls)
    if hook is None:
        hook = _fast_hooks[cls] = _fast_hook(cls)
    if hook is _no_fields:
        return cls()  # a class without fields (NoParams): the data does not matter
    if data is None:
        data = EMPTY
    elif type(data) is not FrozenMap and not isinstance(data, Mapping):
        return [f"expected an object of parameters, got {type(data).__name__} @ $"]
    if not forbid_extra:
        try:
            return hook(data, cls)  # type: ignore[no-any-return]
        except Exception:  # the detailed pass below says what was wrong, and where
            pass
    return _structure_detailed(data, cls, forbid_extra=forbid_extra)


def prepare_params(cls: type[Any], forbid_extra: bool) -> None:
    """Build the hooks that validate params into ``cls`` now, not on the first step.

    Raises:
        StructureHandlerNotFoundError: a field's type has no JSON form parameters could be
            read into (``object``, a ``date``...): no signal could ever be validated into
            ``cls`` (the hooks are built whole, for every field, given or not).
        Exception: what else building them raised, ``NameError`` for an annotation that
            names what cannot be found (a class local to a function, under ``from
            __future__ import annotations``).
    """
    try:
        if cls not in _fast_hooks:
            _fast_hooks[cls] = _fast_hook(cls)
        (_forbidding if forbid_extra else converter).get_structure_hook(cls)
    except BaseException:
        _fast_hooks.pop(cls, None)
        raise


def prepare_state(cls: type[Any]) -> None:
    """Resolve the annotations of the state class ``cls``, and of the attrs classes they
    name, now: an annotation that names what cannot be found is found when the spec is
    built, not when the state is first written or read.

    Raises:
        NameError: an annotation names what cannot be found.
    """
    _resolve(cls, set())


def _resolve(t: Any, seen: set[type[Any]]) -> None:
    # Only names are resolved: whether cattrs can structure each type is the codec's
    # business (jido.serde adds hooks, for targets and signals, that this converter lacks).
    if isinstance(t, type) and attrs.has(t):
        if t in seen:
            return
        seen.add(t)
        for hint in get_type_hints(t).values():
            _resolve(hint, seen)
        return
    for arg in get_args(t):
        _resolve(arg, seen)


def _no_fields(data: object, cls: type[Any]) -> Any:
    return cls()


def _fast_hook(cls: type[Any]) -> Callable[[Any, Any], Any]:
    if not attrs.fields(cls):
        return _no_fields
    # The generated attrs hook itself: the mapping check its wrapper makes is done above.
    return _fast.gen_structure_attrs_fromdict(cls)


def _structure_detailed(
    data: Mapping[str, Any], cls: type[P], *, forbid_extra: bool
) -> P | list[str]:
    fields: tuple[attrs.Attribute[Any], ...] = cls.__attrs_attrs__  # type: ignore[attr-defined]
    if not fields:
        return cls()
    errors: list[str] = []
    conv = _forbidding if forbid_extra else converter
    try:
        return conv.get_structure_hook(cls)(data, cls)  # type: ignore[no-any-return]
    except (ClassValidationError, ForbiddenExtraKeysError) as exc:
        for message in cattrs.transform_error(exc, format_exception=format_exception):
            extra = _EXTRA.fullmatch(message)
            if extra is None:
                errors.append(message)
            else:  # one error per unknown key (cattrs' keys: attribute names, not aliases)
                keys, where = extra.groups()
                errors.extend(f"unknown parameter @ {where}.{k}" for k in keys.split(", "))
        return errors
    except (TypeError, ValueError) as exc:
        errors.append(f"{exc} @ $")
        return errors
