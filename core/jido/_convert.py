"""The one private cattrs converter: JSON data in and out of typed values.

Two users: action parameter validation (``step`` structures signal data into the action's
params class) and :mod:`jido.serde` (signals, directives and agents to and from JSON). Both are
edges where data crosses into typed code, so both get the same strict rules: no silent
coercion of ``"5"`` to ``5`` or of ``1.5`` to ``1``.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Mapping, MutableSet, Sequence
from collections.abc import Set as AbstractSet
from datetime import datetime, timezone
from enum import Enum, Flag
from types import UnionType
from typing import (
    Annotated,
    Any,
    Final,
    Literal,
    TypeVar,
    Union,
    get_args,
    get_origin,
    get_type_hints,
    is_typeddict,
)

import attrs
import cattrs
import cattrs.disambiguators
import cattrs.v
from cattrs.cols import (
    homogenous_tuple_structure_factory,
    is_any_set,
    is_mapping,
    is_namedtuple,
    is_sequence,
    list_structure_factory,
)
from cattrs.errors import (
    ClassValidationError,
    ForbiddenExtraKeysError,
)

from . import _directives
from ._json import EMPTY, FrozenMap, JsonValue, freeze, thaw
from ._signal import _fixed_offset

__all__ = [
    "converter",
    "describe",
    "format_exception",
    "parse_rfc3339",
    "prepare_params",
    "prepare_state",
    "state_type_problems",
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
#: Map keys JSON writes as they are.
_AS_IS: Final = frozenset({str, int})
_INT_KEY: Final = re.compile(r"0|-?[1-9][0-9]*")


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


def _only_json(t: Any) -> bool:
    # JsonValue itself (or ``| None``), not a union of it and more (``JsonValue | Point``).
    return _is_json(t) and all(
        a in _SCALAR_TYPES or get_origin(a) in (tuple, FrozenMap) for a in get_args(t) or [t]
    )


def _unwrap(t: Any) -> Any:
    # ``Annotated[T, ...]`` and ``NewType("N", T)`` are read and written as ``T``.
    while True:
        if get_origin(t) is Annotated:
            t = get_args(t)[0]
        elif hasattr(t, "__supertype__"):
            t = t.__supertype__
        else:
            return t


def _type_name(t: Any) -> str:
    # ``FrozenMap[Prio, int]``, ``str | Color``: as written, without module paths, and
    # ``JsonValue`` as its name rather than the union it expands to.
    if _only_json(t):
        return "JsonValue"
    origin, args = get_origin(t), get_args(t)
    if origin is None and isinstance(t, type):
        return t.__name__
    if origin in (Union, UnionType) and args:
        return " | ".join("None" if a is type(None) else _type_name(a) for a in args)
    if origin is not None and origin is not Literal and args:
        head = _MODULE_PATH.sub("", repr(t)).split("[", 1)[0]
        inner = ", ".join("..." if a is Ellipsis else _type_name(a) for a in args)
        return f"{head}[{inner}]"
    return _MODULE_PATH.sub("", repr(t))


_MODULE_PATH: Final = re.compile(r"\b(?:[A-Za-z_][A-Za-z0-9_]*\.)+(?=[A-Za-z_])")


def _key_text(value: object) -> str | None:
    """The text JSON writes for a map key holding ``value`` (an enum member as its value, as
    the converter writes it), ``None`` for a value no JSON object key holds.

    >>> _key_text(True), _key_text(1), _key_text(1.0), _key_text("a"), _key_text(None)
    ('true', '1', '1.0', 'a', None)
    """
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float) and math.isfinite(value):
        return float.__repr__(value)
    return None


def _read_int(conv: cattrs.Converter, text: str) -> int:
    return int(text)


def _read_number(conv: cattrs.Converter, text: str) -> int | float:
    # An int key of a float map is written as an int, and read back as one.
    return int(text) if _INT_KEY.fullmatch(text) else float(text)


def _is_number_key(text: str) -> bool:
    # Only the text JSON writes for a finite float (``repr``), or for an int.
    if _INT_KEY.fullmatch(text):
        return True
    try:
        number = float(text)
    except ValueError:
        return False
    return math.isfinite(number) and float.__repr__(number) == text


def _read_text(conv: cattrs.Converter, text: str) -> str:
    return text


def _flag_key(t: type[Flag]) -> Callable[[str], bool]:
    def takes(text: str) -> bool:
        if _INT_KEY.fullmatch(text) is None:
            return False
        try:
            t(int(text))
        except ValueError:
            return False
        return True

    return takes


def _read_flag(t: type[Flag]) -> Callable[[cattrs.Converter, str], object]:
    def read(conv: cattrs.Converter, text: str) -> object:
        return t(int(text))

    return read


def _is_int_key(text: str) -> bool:
    return _INT_KEY.fullmatch(text) is not None


def _any_text(text: str) -> bool:
    return True


def _is_time_key(text: str) -> bool:
    try:
        _parse_time(text, _STATE_TIME)
    except ValueError:
        return False
    return True


@attrs.frozen
class _KeyForm:
    """How the keys of a map key type are written as JSON object keys, and read back: a
    finite type's values by their texts, an open one's by a reader of the texts it takes."""

    name: str
    texts: Mapping[str, object]
    #: An open form's test of the texts it takes, and its reader of them.
    takes: Callable[[str], bool] | None = None
    rest: Callable[[cattrs.Converter, str], object] | None = None

    def read(self, conv: cattrs.Converter, text: str) -> object:
        if text in self.texts:
            return self.texts[text]
        if self.takes is not None and self.rest is not None and self.takes(text):
            return self.rest(conv, text)
        raise _BadKey(f"expected a key of {self.name}, got {text!r}")


class _BadKey(ValueError):
    """A JSON object key no key of the map's key type is written as."""


def _reader(t: Any) -> Callable[[cattrs.Converter, str], object]:
    # Text structured as ``t`` is (a datetime from RFC 3339, a str subclass as itself).
    def read(conv: cattrs.Converter, text: str) -> object:
        return conv.structure(text, t)

    return read


def _finite_form(name: str, values: list[object]) -> _KeyForm | str:
    texts: dict[str, object] = {}
    for v in values:
        text = _key_text(v)
        if text is None:
            return f"{v!r} has no JSON object key form (keys are strings, numbers or booleans)"
        if text in texts:
            return f"{texts[text]!r} and {v!r} are both written as the key {text!r}"
        texts[text] = v
    return _KeyForm(name, texts)


def _key_form(kt: Any) -> _KeyForm | str:
    """How a map keyed by ``kt`` writes and reads its keys, or why it cannot round-trip them
    through JSON (whose object keys are strings): a ``str`` (or a subclass, or a datetime)
    as its text, an ``int`` or ``float`` as its digits, a ``bool`` as ``true`` or ``false``,
    an enum member as its value's text, a ``Literal`` value as its text; a union of those
    whose texts no two members share."""
    try:
        known = _KEY_FORMS.get(kt)
    except TypeError:  # an unhashable annotation
        return f"{_type_name(kt)} is no key type JSON can hold"
    if known is None:
        known = _KEY_FORMS[kt] = _make_key_form(kt)
    return known


def _make_key_form(kt: Any) -> _KeyForm | str:
    t = _unwrap(kt)
    name = _type_name(kt)
    origin = get_origin(t)
    if origin is Literal:
        return _finite_form(name, list(get_args(t)))
    if origin in (Union, UnionType):
        return _union_key_form(name, [_key_form(m) for m in get_args(t)])
    if t is bool:
        return _KeyForm(name, {"true": True, "false": False})
    if t is int:
        return _KeyForm(name, {}, _is_int_key, _read_int)
    if t is float:
        return _KeyForm(name, {}, _is_number_key, _read_number)
    if t is datetime:
        return _KeyForm(name, {}, _is_time_key, _reader(datetime))
    if t is Any or t is object:
        # Keys of any type: what JSON gives back, their texts (as an untyped map reads them).
        return _KeyForm(name, {}, _any_text, _read_text)
    if isinstance(t, type) and issubclass(t, Flag):
        # Any value the flag type takes (a combination, none), by its int value's text.
        return _KeyForm(name, {}, _flag_key(t), _read_flag(t))
    if isinstance(t, type) and issubclass(t, Enum):
        return _finite_form(name, list(t))
    if isinstance(t, type) and issubclass(t, str):
        return _KeyForm(name, {}, _any_text, _reader(kt))
    return f"{name} is no key type JSON can hold (its object keys are strings)"


def _union_key_form(name: str, forms: list[_KeyForm | str]) -> _KeyForm | str:
    texts: dict[str, object] = {}
    open_forms: list[_KeyForm] = []
    for form in forms:
        if isinstance(form, str):
            return form
        for text, v in form.texts.items():
            if text in texts:
                return f"{texts[text]!r} and {v!r} are both written as the key {text!r}"
            texts[text] = v
        if form.takes is not None:
            open_forms.append(form)
    if len(open_forms) > 1:
        return (
            f"{open_forms[0].name} and {open_forms[1].name} keys may be written as the same"
            " text, and would not be told apart"
        )
    if not open_forms:
        return _KeyForm(name, texts)
    rest = open_forms[0]
    assert rest.takes is not None
    for text, v in texts.items():
        if rest.takes(text):
            return f"{v!r} and the {rest.name} {text!r} are both written as the key {text!r}"
    return _KeyForm(name, texts, rest.takes, rest.rest)


# Each key type's form: a memo of a pure function of annotations.
_KEY_FORMS: dict[Any, _KeyForm | str] = {}


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
            # A set is read as a frozenset but where a mutable one is named.
            mutable = (get_origin(cl) or cl) in (set, MutableSet)
            make: type[Any] = set if mutable else frozenset

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

    # A NamedTuple, as the fixed tuple of its fields' types: cattrs reads those from its
    # annotations as written, strings under ``from __future__ import annotations``.
    def structure_namedtuple(cl: Any, conv: cattrs.Converter) -> Any:
        try:
            hints = get_type_hints(cl)
        except (NameError, TypeError):  # a name only the defining scope knew
            hints = dict(cl.__annotations__)
        fixed: Any = tuple.__class_getitem__(tuple(hints[f] for f in cl._fields))
        inner = conv.get_structure_hook(fixed)
        return lambda value, _: cl(*inner(value, fixed))

    c.register_structure_hook_factory(is_namedtuple, structure_namedtuple)

    # And written as that tuple: each field by its (resolved) type, an enum as its value.
    def unstructure_namedtuple(cl: Any, conv: cattrs.Converter) -> Any:
        try:
            hints = get_type_hints(cl)
        except (NameError, TypeError):  # a name only the defining scope knew: by class
            hook = conv.unstructure
            return lambda value: tuple(hook(v) for v in value)
        hooks = [conv.get_unstructure_hook(hints[f]) for f in cl._fields]
        return lambda value: tuple(h(v) for h, v in zip(hooks, value, strict=True))

    c.register_unstructure_hook_factory(is_namedtuple, unstructure_namedtuple)

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
        # A JSON object: its values any JSON, its keys text (keys of another type are read
        # through their key form, whatever the values).
        args = get_args(t)
        return not args or (
            args[0] in (str, Any, object) and (_is_json(args[1]) or args[1] in (Any, object))
        )

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
        read_key = key_reader(conv, kt)
        vh = conv.get_structure_hook(vt)

        def structure_typed(value: object, _: Any) -> FrozenMap[Any, Any]:
            if not isinstance(value, Mapping):
                raise TypeError(f"expected an object, got {type(value).__name__}")
            return FrozenMap({read_key(k): vh(v, vt) for k, v in value.items()})

        return structure_typed

    def key_reader(conv: cattrs.Converter, kt: Any) -> Callable[[Any], Any]:
        # A str key is itself, an int key's digits read directly: the commonest keys skip
        # the form's dispatch.
        form = _key_form(kt)
        if kt is str:
            return lambda k: k if k.__class__ is str else key(conv, k, kt, form)
        if kt is int:
            match = _INT_KEY.fullmatch
            return lambda k: int(k) if k.__class__ is str and match(k) else key(conv, k, kt, form)
        return lambda k: key(conv, k, kt, form)

    # JSON object keys are strings: each key comes back through its type's key form (see
    # ``_key_form``), which reads back exactly the text JSON wrote for it.
    def key(conv: cattrs.Converter, k: object, kt: Any, form: _KeyForm | str) -> Any:
        if type(k) is not str or isinstance(form, str):
            # A map a state op writes holds its keys as they are (a member, a float); a key
            # type the spec refuses is read as cattrs reads it.
            return conv.structure(k, kt)
        return form.read(conv, k)

    def is_keyed_dict(t: Any) -> bool:
        args = get_args(t)
        return (
            len(args) == 2
            and args[0] is not str
            and is_mapping(t)
            and get_origin(t) is not FrozenMap
            and isinstance(_key_form(args[0]), _KeyForm)
        )

    def structure_keyed(cl: Any, conv: cattrs.Converter) -> Any:
        kt, vt = get_args(cl)
        read_key = key_reader(conv, kt)
        vh = conv.get_structure_hook(vt)

        def hook(value: Any, _: Any) -> Any:
            if not isinstance(value, Mapping):
                raise TypeError(f"expected an object, got {type(value).__name__} {value!r}")
            return {read_key(k): vh(v, vt) for k, v in value.items()}

        return hook

    def unstructure_frozen_map(cl: Any, conv: cattrs.Converter) -> Any:
        if untyped(cl):
            # Also a map cattrs finds by its class alone (a recursive class's, its field
            # type not yet known): a key of a type JSON does not write as it is (an enum
            # member, a datetime) by its own class, as a typed map writes it.
            unstructure = conv.unstructure
            return lambda m: {
                k if k.__class__ in _AS_IS else unstructure(k): unstructure(v) for k, v in m.items()
            }
        kt, vt = get_args(cl)
        vh = conv.get_unstructure_hook(vt)
        if kt is str or kt is int:
            # JSON writes these keys as they are (a str, an int's digits).
            return lambda m: {k: vh(v) for k, v in m.items()}
        if kt in (float, bool) or (isinstance(kt, type) and issubclass(kt, Enum)):
            kh = conv.get_unstructure_hook(kt)
            return lambda m: {kh(k): vh(v) for k, v in m.items()}
        # By each key's own class: an enum member (in a union, a Literal) as its value.
        unstructure = conv.unstructure
        return lambda m: {
            k if k.__class__ in _AS_IS else unstructure(k): vh(v) for k, v in m.items()
        }

    c.register_structure_hook_factory(is_frozen_map, structure_frozen_map)
    c.register_structure_hook_factory(is_keyed_dict, structure_keyed)
    c.register_unstructure_hook_factory(is_frozen_map, unstructure_frozen_map)
    # A bare JSON value (signal data, effect results): freeze on the way in, thaw on the way out.
    c.register_structure_hook_func(_is_json, lambda v, _: freeze(v))
    # ``Any`` (and ``object``) takes any JSON value, frozen too: a state field so typed equals
    # its round trip, and holds nothing mutable.
    # ``object`` is read as ``Any``: both take whatever the field holds.
    c.register_structure_hook_func(lambda t: t is Any or t is object, lambda v, _: freeze(v))
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
    if isinstance(exc, _BadKey):  # a map's key: cattrs would say only "expected FrozenMap"
        return str(exc)
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


#: Field types with no JSON form the codec reads back (by module and name, subclasses too:
#: the core imports none of their modules), with what to hold instead.
_NO_JSON: Final[Mapping[str, str]] = {
    "datetime.date": "a datetime (written as RFC 3339) or the date's ISO 8601 text (a str)",
    "datetime.time": "a str (ISO 8601) or a number of seconds since midnight",
    "datetime.timedelta": "a number of seconds (a float or an int)",
    "decimal.Decimal": "an int of the smallest unit (cents) or the number's text (a str)",
    "uuid.UUID": "its text (a str)",
    "builtins.bytes": "text (a str: base64 or hex)",
    "builtins.bytearray": "text (a str: base64 or hex)",
    "builtins.memoryview": "text (a str: base64 or hex)",
    "builtins.complex": "a tuple[float, float]",
}


def state_type_problems(cls: type[Any]) -> list[str]:
    """What in the field types of the state class ``cls`` (and of the attrs classes they
    name) JSON cannot round-trip, one string each naming the field: a type with no JSON
    form (a ``date``, ``Decimal``, ``bytes``...), a map key type whose keys JSON object keys
    cannot give back (see ``_key_form``), a union holding an enum whose values another
    member reads as well (see ``_union_problem``). Annotations must resolve (see
    :func:`prepare_state`)."""
    problems: list[str] = []
    _check_fields(cls, "", problems, set())
    return problems


def _check_fields(cls: Any, prefix: str, problems: list[str], seen: set[Any]) -> None:
    # An attrs class or a dataclass (cattrs reads both by their fields), a NamedTuple or a
    # TypedDict; a generic one's fields typed by its parameters as ``cls`` binds them
    # (``Box[date]``: its ``item: T`` holds a date).
    origin = get_origin(cls) or cls
    if cls in seen:
        return
    seen.add(cls)
    try:
        hints = get_type_hints(origin)
    except Exception:  # annotations that do not resolve: the codec reads them on its own terms
        return
    params = getattr(origin, "__parameters__", ())
    args = get_args(cls)
    bound = dict(zip(params, args, strict=True)) if len(params) == len(args) else {}
    if attrs.has(origin):
        names = [f.name for f in attrs.fields(origin)]
    elif dataclasses.is_dataclass(origin):
        names = [f.name for f in dataclasses.fields(origin)]
    else:
        names = list(hints)
    for name in names:
        if name in hints:
            _check_type(_bind(hints[name], bound), prefix + name, problems, seen)


def _bind(t: Any, bound: Mapping[Any, Any]) -> Any:
    # ``t`` with the type parameters ``bound`` names replaced by what they are bound to.
    if not bound:
        return t
    if isinstance(t, TypeVar):
        return bound.get(t, t)
    params = getattr(t, "__parameters__", ())
    if not params:
        return t
    try:
        return t[tuple(bound.get(p, p) for p in params)]
    except TypeError:
        return t


def _check_type(t: Any, where: str, problems: list[str], seen: set[Any]) -> None:
    t = _unwrap(t)
    if t is Any or t is object or isinstance(t, TypeVar) or _only_json(t):
        return
    origin, args = get_origin(t), get_args(t)
    if origin is Literal:
        return
    if origin in (Union, UnionType):
        reason = _union_problem([_unwrap(a) for a in args])
        if reason is not None:
            problems.append(f"field {where!r} ({_type_name(t)}): {reason}")
        for arg in args:
            _check_type(arg, where, problems, seen)
        return
    if (t is FrozenMap or origin is FrozenMap or is_mapping(t)) and len(args) == 2:
        form = _key_form(args[0])
        if isinstance(form, str):
            problems.append(
                f"field {where!r} ({_type_name(t)}): its keys cannot round-trip through JSON,"
                f" whose object keys are strings: {form} (key it by str, int, float, bool, an"
                " enum or a Literal)"
            )
        _check_type(args[1], where, problems, seen)
        return
    if origin is not None and not attrs.has(origin):
        for arg in args:
            if arg is not Ellipsis:
                _check_type(arg, where, problems, seen)
        return
    if (
        attrs.has(origin or t)
        or dataclasses.is_dataclass(origin or t)
        or is_namedtuple(t)
        or is_typeddict(t)
    ):
        _check_fields(t, where + ".", problems, seen)
        return
    if isinstance(t, type) and issubclass(t, Enum):
        reason = _enum_problem(t)
        if reason is not None:
            problems.append(f"field {where!r} ({t.__name__}): {reason}")
        return
    if not isinstance(t, type) or issubclass(t, _JSON_LEAVES):
        return
    for base in t.__mro__:
        instead = _NO_JSON.get(f"{base.__module__}.{base.__qualname__}")
        if instead is not None:
            problems.append(
                f"field {where!r} ({t.__name__}): JSON has no {base.__name__} the codec"
                f" reads back; hold {instead}"
            )
            return
    if not issubclass(t, _COLLECTIONS):
        problems.append(
            f"field {where!r} ({t.__name__}): the codec has no JSON form for a"
            f" {t.__name__} it reads back; hold what JSON holds (a str, int, float, bool,"
            " datetime, enum, attrs class or dataclass, tuple, FrozenMap or JsonValue)"
        )


def _enum_problem(t: type[Enum]) -> str | None:
    # An enum is written as its members' values, and read back by them.
    members = list(t)
    if not members:
        return (
            "an enum without members has no value it reads back (name the enum whose"
            " members the field holds)"
        )
    for m in members:
        v = m.value
        if not (type(v) in _SCALAR_TYPES and (type(v) is not float or math.isfinite(v))):
            return (
                f"{m!r} is written as its value {v!r}, which is no JSON scalar it is read"
                " back from (give its members str, int, float or bool values)"
            )
    return None


#: The classes a value of which is a JSON scalar, or read from one (subclasses too).
_JSON_LEAVES: Final = (str, int, float, Enum, datetime, type(None))
#: Collections named bare (``tuple``, ``FrozenMap``): they hold JSON values.
_COLLECTIONS: Final = (Mapping, Sequence, AbstractSet)


def _json_values(t: Any) -> list[object] | None:
    # The JSON values an enum's members are written as (their values); ``None`` for any
    # other type.
    if isinstance(t, type) and issubclass(t, Enum):
        return [m.value for m in t]
    return None


def _reads(t: Any, value: object) -> bool:
    """Whether a union member of type ``t`` reads the JSON value ``value``, as the strict
    hooks do (``True`` is no int, ``1`` is a float)."""
    if t is Any or t is object or _is_json(t):
        return True
    enum_values = _json_values(t)
    if enum_values is not None:
        return any(type(v) is type(value) and v == value for v in enum_values)
    if get_origin(t) is Literal:
        literal = [a.value if isinstance(a, Enum) else a for a in get_args(t)]
        return any(type(v) is type(value) and v == value for v in literal)
    kind = type(value)
    if t is datetime:
        return kind is str and _is_time_key(str(value))
    if isinstance(t, type) and not issubclass(t, Enum):
        if kind is bool:
            return issubclass(t, bool)
        if kind is int:
            return issubclass(t, int | float) and not issubclass(t, bool)
        if kind is float:
            return issubclass(t, float)
        if kind is str:
            return issubclass(t, str)
    return False


def _union_problem(members: list[Any]) -> str | None:
    """Why a union cannot round-trip, if it cannot. A union of attrs classes (and ``None``)
    is read by cattrs, which tells its classes apart by a field only one of them requires,
    and refuses one it cannot tell apart. Any other union's members are tried in order when
    a value is read: a member that reads a value a later one writes gives that value back
    as its own (``str`` reads a datetime's text, a map a class's object, ``int`` an
    IntEnum member's value, ``Any`` anything). An enum member is written as its value, so
    an enum and a member reading or writing one of its values would not be told apart
    either way (a float member writes ``1.0``, never an int enum's ``1``)."""
    others = [m for m in members if m is not type(None)]
    if others and all(_tagged(m) for m in others):
        return None  # directives and targets: the codec tells them apart by their tags
    if len(others) > 1 and all(attrs.has(get_origin(m) or m) for m in others):
        try:
            cattrs.disambiguators.create_default_dis_func(converter, *others)
        except Exception:
            names = " and ".join(_type_name(m) for m in others)
            return (
                f"a union of {names} reads an object by a field only one of them requires,"
                " and none tells them apart: a value of one could come back as another (give"
                " each a field without a default the others lack)"
            )
        return None
    for i, first in enumerate(others):
        for later in others[i + 1 :]:
            reason = _shadows(first, later)
            if reason is not None:
                return reason
    return None


def _tagged(t: Any) -> bool:
    # A directive or target class: jido.serde writes each with its ``kind`` tag.
    return isinstance(t, type) and (
        t.__module__ == _directives.__name__ or issubclass(t, _directives.CustomDirective)
    )


def _shadows(first: Any, later: Any) -> str | None:
    # Why a value of ``later`` (or of ``first``) would come back as the other, ``first``
    # being tried first.
    a, b = _type_name(first), _type_name(later)
    for e, other, other_first in ((later, first, True), (first, later, False)):
        values = _json_values(e)
        if values is None:
            continue
        if other_first:
            shared = [v for v in values if _reads(other, v)]
        else:
            # A float member writes floats (``1.0``), never an int value of the enum.
            shared = [v for v in values if _reads(other, v) and not _float_holding_int(other, v)]
        if shared:
            return (
                f"{e.__name__} is written as its values, and {_type_name(other)} reads"
                f" {shared[0]!r} too: a value of one would come back as the other (hold"
                " the enum alone, or tell the two apart with attrs classes)"
            )
    fk, lk = _json_kind(first), _json_kind(later)
    clash = (
        (fk == "any" and not _plain_scalar(later))
        or (lk == "any" and not _plain_scalar(first))
        or (fk == lk == "object")
        or (fk == lk == "time")
        or ({fk, lk} == {"str", "time"})
        or (fk == lk == "array" and _container(first) is not _container(later))
    )
    if not clash:
        return None
    return (
        f"{b} is written as JSON {a} reads too: a {b} would come back as a {a}, or a {a}"
        f" as a {b} (hold one of them, or tell the two apart with attrs classes)"
    )


def _float_holding_int(t: Any, value: object) -> bool:
    return type(value) is int and isinstance(t, type) and issubclass(t, float)


def _plain_scalar(t: Any) -> bool:
    # A member whose values any JSON reading gives back as they were.
    return t in (str, int, float, bool) or get_origin(t) is Literal


def _json_kind(t: Any) -> str:
    # What JSON a union member writes and reads: ``any``, ``object``, ``array``, ``time``
    # (a datetime's text), ``str``, or ``scalar`` (numbers, booleans, enums, Literals:
    # told apart by ``_json_values``/``_reads``).
    t = _unwrap(t)
    origin = get_origin(t) or t
    if t is Any or t is object or _is_json(t):
        return "any"
    if not isinstance(origin, type):
        return "scalar"
    if issubclass(origin, Enum):
        return "scalar"
    if issubclass(origin, datetime):
        return "time"
    if issubclass(origin, str):
        return "str"
    if (
        attrs.has(origin)
        or dataclasses.is_dataclass(origin)
        or issubclass(origin, Mapping)
        or is_typeddict(origin)
    ):
        return "object"
    if issubclass(origin, (tuple, list, AbstractSet)) or is_sequence(t) or is_any_set(t):
        return "array"
    return "scalar"


def _container(t: Any) -> Any:
    # The class a JSON array is read back into (a NamedTuple's own, a set's kind).
    origin = get_origin(t) or t
    if is_namedtuple(origin):
        return origin
    if isinstance(origin, type) and issubclass(origin, AbstractSet):
        return AbstractSet
    if isinstance(origin, type) and issubclass(origin, tuple):
        return tuple
    return list


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
