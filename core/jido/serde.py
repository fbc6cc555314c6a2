"""JSON for signals, directives and agents: the serialization edge.

Every :class:`~jido.Signal`, directive and :class:`~jido.Agent` round-trips exactly::

    signal_from_json(to_json(s)) == s
    directive_from_json(to_json(d)) == d
    agent_from_json(to_json(a), spec) == a

Signals use the CloudEvents 1.0 JSON format (``specversion``, extensions as top-level
attributes). On input, an attribute that is null is absent (as the format says), and the
optional ``dataschema`` is accepted but not kept (a :class:`~jido.Signal` has no field for
it); binary data (``data_base64``) is refused. Where a signal is stricter than CloudEvents,
so is its decoding: a ``type`` must be dot-separated segments of letters, digits, ``_`` and
``-`` (``com.example/order.created`` is a valid CloudEvents type, refused here), an
extension's value a string, an integer or a boolean (``5.0`` is refused). Two leniencies: a
missing ``specversion`` is read as ``1.0`` (any other value is refused), and ``"data":
null`` reads as no data (a signal does not tell the two apart; it is written without
``data``).

Directives and targets carry a ``"kind"`` tag whose values are part of the wire format
(``"emit"``, ``"invoke"``, ...), independent of class names; so does a directive an agent's
state holds in a field typed with several directive classes (``Directive``,
``BuiltinDirective``, ``Emit | Schedule``) or with ``CustomDirective``, and it is read back
by that tag. Agents need their spec to decode,
since the spec knows the state classes.

User-defined directives are serialized by a :class:`Codec` that knows their classes::

    codec = Codec(directives={"billing.refund": Refund})
    codec.directive_from_json(codec.to_json(Refund(...)))

Malformed input raises :class:`DecodeError` naming what is wrong and where (for a signal,
the attribute too, as :attr:`DecodeError.field`); what is no JSON text at all (``None``, a
dict already parsed) is a ``TypeError``; a value the codec cannot write (an unregistered
directive class) raises :class:`EncodeError`.

Sets in agent state (``set``, ``frozenset``) are written as JSON arrays in a fixed order (null,
then numbers, then strings, then other values by their JSON text), never in hash order, so one
state always gives the same text; a field annotated as a set reads them back as a set.
"""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from types import UnionType
from typing import Any, Final, TypeVar, Union, final, get_args, get_origin

import attrs
import cattrs
from cattrs.disambiguators import create_default_dis_func
from cattrs.strategies import configure_tagged_union

from . import _directives as d
from ._agent import Agent, AgentSpec, check_agent_id
from ._convert import converter as _base
from ._convert import format_exception, parse_rfc3339
from ._errors import InvalidSignal, JidoError, Problem
from ._json import lone_surrogate, thaw
from ._signal import Signal
from ._step import Step
from ._strategy import FSM, _check_status

__all__ = [
    "Codec",
    "DecodeError",
    "EncodeError",
    "agent_from_dict",
    "agent_from_json",
    "directive_from_dict",
    "directive_from_json",
    "signal_from_dict",
    "signal_from_json",
    "to_dict",
    "to_json",
]

S = TypeVar("S")

_DIRECTIVE_TAGS: Final[Mapping[type[Any], str]] = {
    d.Emit: "emit",
    d.Invoke: "invoke",
    d.Schedule: "schedule",
    d.Cron: "cron",
    d.CronCancel: "cron_cancel",
    d.SpawnAgent: "spawn_agent",
    d.StopChild: "stop_child",
    d.AdoptChild: "adopt_child",
    d.StartSensor: "start_sensor",
    d.StopSensor: "stop_sensor",
    d.Stop: "stop",
    d.Error: "error",
}
_TARGET_TAGS: Final[Mapping[type[Any], str]] = {
    d.ToSelf: "self",
    d.ToParent: "parent",
    d.ToAgent: "agent",
    d.ToSink: "sink",
}
_AGENT_KEYS: Final = frozenset({"id", "spec", "state", "version", "status", "slices"})
_CE_CORE: Final = ("id", "source", "type", "subject", "time", "datacontenttype", "data")
# Core attributes a Signal does not keep: the version (always 1.0) and the data's schema.
_CE_OTHER: Final = ("specversion", "dataschema")


class DecodeError(JidoError, ValueError):
    """Input could not be decoded.

    Attributes:
        what: what was being decoded (``"signal"``, ``"directive"``, ``"agent"``...).
        reason: why it could not be.
        field: for a signal, the attribute at fault (``"type"``, ``"specversion"``,
            ``"id"``: the first of those missing..., ``"extensions"`` for an extension),
            else ``None``.
    """

    def __init__(self, what: str, reason: str, field: str | None = None) -> None:
        super().__init__(f"cannot decode {what}: {reason}")
        self.what = what
        self.reason = reason
        self.field = field


class _BadAttribute(ValueError):
    """A CloudEvents attribute refused before any signal field is checked."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class EncodeError(JidoError, TypeError):
    """A value could not be encoded; ``what`` names it (with its class), ``reason`` says why.

    Raised for a directive whose class the codec does not know (a
    :class:`~jido.CustomDirective` subclass not registered with this :class:`Codec`) and for a
    value that is no signal, directive, agent, problem or step.
    """

    def __init__(self, what: str, reason: str) -> None:
        super().__init__(f"cannot encode {what}: {reason}")
        self.what = what
        self.reason = reason


class _BadTag(ValueError):
    """A tagged object (directive, target) whose ``kind`` no class claims.

    Its message is the whole reason, kept as written when cattrs reports a nested field.
    """


def _format_error(exc: BaseException, t: type[Any] | None) -> str:
    if isinstance(exc, _BadTag):
        return str(exc)
    return format_exception(exc, t)  # a class's own validators speak for themselves


def _guard_kinds(c: cattrs.Converter, union: Any, known: frozenset[str], what: str) -> None:
    """Make ``c`` check the ``kind`` tag of a ``union`` object before decoding it.

    A missing, non-string or unknown kind raises :class:`_BadTag` naming it and listing the
    known kinds (for directives, also how to register a user-defined one), where cattrs'
    tagged-union hook, which looks the tag up in a dict, would raise a bare ``KeyError``.
    """
    inner = c.get_structure_hook(union)
    listing = ", ".join(sorted(known))

    def hook(value: Any, t: Any) -> Any:
        if type(value) is not dict and not isinstance(value, Mapping):
            raise _BadTag(f"expected a JSON object, got {type(value).__name__}")
        kind = value.get("kind")
        if isinstance(kind, str) and kind in known:
            return inner(value, t)
        if "kind" not in value:
            raise _BadTag(f"no 'kind' tag; known {what} kinds: {listing}")
        if not isinstance(kind, str):
            raise _BadTag(f"'kind' must be a string, got {type(kind).__name__} {kind!r}")
        reason = f"unknown {what} kind {kind!r}; known {what} kinds: {listing}"
        if what == "directive":
            reason += (
                "; a user-defined directive decodes only with a Codec that registers its class,"
                f" e.g. Codec(directives={{{kind!r}: MyDirective}})"
            )
        raise _BadTag(reason)

    c.register_structure_hook(union, hook)


def _is_set(t: Any) -> bool:
    origin = get_origin(t) or t
    return isinstance(origin, type) and issubclass(origin, AbstractSet)


def _set_order(value: object) -> tuple[int, Any]:
    # A total order on JSON values: distinct elements that tie encode to the same text, so the
    # array written does not depend on the set's iteration (hash) order.
    if value is None:
        return (0, 0)
    if isinstance(value, int | float):
        if isinstance(value, float) and math.isnan(value):
            return (3, "NaN")
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    return (3, _encode(value))


def _sorted_set(t: Any, c: cattrs.Converter) -> Callable[[Any], list[Any]]:
    """Unstructure a set to a list sorted by :func:`_set_order` (its elements by ``t``'s)."""
    args = get_args(t)
    if args:
        element = args[0]

        def hook(value: Any) -> list[Any]:
            return sorted((c.unstructure(x, unstructure_as=element) for x in value), key=_set_order)

    else:

        def hook(value: Any) -> list[Any]:
            return sorted((c.unstructure(x) for x in value), key=_set_order)

    return hook


# Built once: ``json.dumps`` with options builds a new encoder on every call.
# NaN and the infinities are not JSON (strict parsers refuse them, and NaN is not even equal
# to itself after a round trip): a value holding one is an EncodeError, not invalid text.
_encode: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def _signal_to_dict(s: Signal, *, thawed: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"specversion": "1.0", "id": s.id, "source": s.source, "type": s.type}
    if s.subject is not None:
        out["subject"] = s.subject
    if s.time is not None:
        out["time"] = s.time.isoformat()
    out["datacontenttype"] = s.datacontenttype
    if s.data is not None:
        out["data"] = thaw(s.data) if thawed else s.data
    if s.extensions:
        out.update(s.extensions)
    return out


def _signal_from_dict(raw: object, _: object = None) -> Signal:
    if not isinstance(raw, Mapping):
        raise TypeError(f"a signal must be a JSON object, got {type(raw).__name__}")
    if any(v is None for v in raw.values()):
        # CloudEvents JSON format 1.0: a null attribute is treated as unset (a required one
        # is then missing). ``specversion`` stays, to be refused: only its absence is read
        # as 1.0.
        raw = {k: v for k, v in raw.items() if v is not None or k == "specversion"}
    # ``dataschema`` is an OPTIONAL core attribute (a URI) of CloudEvents 1.0. A Signal has
    # no field for it (its fields are the ones the design lists), so it is checked and not
    # kept: a valid event still decodes.
    schema = raw.get("dataschema")
    if schema is not None and (not isinstance(schema, str) or not schema):
        raise InvalidSignal("dataschema", schema, "must be a non-empty URI string")
    if "data_base64" in raw:
        raise _BadAttribute(
            "data_base64", "binary data (data_base64) is not supported: data must be JSON"
        )
    if raw.get("specversion", "1.0") != "1.0":
        raise _BadAttribute("specversion", f"specversion {raw.get('specversion')!r} is not 1.0")
    missing = [k for k in ("id", "source", "type") if k not in raw]
    if missing:
        raise _BadAttribute(missing[0], f"missing required attribute(s) {', '.join(missing)}")
    time = raw.get("time")
    if time is not None:
        if not isinstance(time, str):
            raise InvalidSignal("time", time, "must be an RFC 3339 string")
        try:
            time = parse_rfc3339(time)
        except ValueError:
            raise InvalidSignal("time", time, "is not an RFC 3339 timestamp") from None
    extensions = {k: v for k, v in raw.items() if k not in _CE_CORE and k not in _CE_OTHER}
    return Signal(
        id=raw["id"],
        source=raw["source"],
        type=raw["type"],
        subject=raw.get("subject"),
        time=time,
        datacontenttype=raw.get("datacontenttype", "application/json"),
        data=raw.get("data"),
        extensions=extensions,
    )


#: The classes a field may name that hold directives: a value of any of them is a directive.
_DIRECTIVE_CLASSES: Final = (*_DIRECTIVE_TAGS, d.CustomDirective)


def _names_directives(t: Any) -> bool:
    """Whether a field of type ``t`` holds a directive that only its tag tells apart:
    ``CustomDirective`` itself, or a union (``None`` aside) of two or more directive classes.
    A single concrete class (``Schedule``, ``Schedule | None``, a registered custom one) is
    decoded as that class, untagged, as it always was."""
    if t is d.CustomDirective:
        return True
    if get_origin(t) not in (Union, UnionType):
        return False
    members = [a for a in get_args(t) if a is not type(None)]
    return (len(members) > 1 or d.CustomDirective in members) and all(
        isinstance(a, type) and issubclass(a, _DIRECTIVE_CLASSES) for a in members
    )


def _tagged_in(
    c: cattrs.Converter, whole: Callable[[Any, Any], Any], t: Any
) -> Callable[[Any, Any], Any]:
    """Decode a value of the directive type ``t`` by its tag (``whole`` decodes any
    directive the codec knows), refusing one of a kind ``t`` does not allow. An object
    without a tag, as such a field was written before it had one, is told apart by its
    fields as it was then (where they tell it: else the tag's absence is the error)."""
    members = tuple(a for a in get_args(t) if a is not type(None)) or (t,)
    optional = type(None) in get_args(t)
    names = " | ".join(a.__name__ for a in members)

    def hook(value: Any, _: Any) -> Any:
        if value is None and optional:
            return None
        if isinstance(value, Mapping) and "kind" not in value and len(members) > 1:
            try:
                cls = create_default_dis_func(c, *members)(value)
            except Exception:  # no field tells them apart: the tag was needed
                cls = None
            if cls is not None:
                return c.structure(value, cls)
        decoded = whole(value, t)
        if not isinstance(decoded, members):
            raise _BadTag(f"expected {names}, got {type(decoded).__name__}")
        return decoded

    return hook


def _tagged_out(whole: Callable[[Any], Any], tags: Mapping[type[Any], str]) -> Callable[[Any], Any]:
    """Encode a value of a directive type with its tag (``whole`` encodes any directive the
    codec knows); a directive of a class it does not know is an :class:`EncodeError`."""

    def hook(value: Any) -> Any:
        if value is None:
            return None
        if type(value) not in tags:
            raise _unknown_class(value)
        return whole(value)

    return hook


def _union(classes: list[type[Any]]) -> Any:
    union: Any = classes[0]
    for cls in classes[1:]:
        union = Union[union, cls]  # noqa: UP007 - a union built at run time
    return union


@final
class Codec:
    """A JSON codec for signals, directives and agents.

    Args:
        directives: user-defined directive classes (subclasses of
            :class:`~jido.CustomDirective`), by the tag that names them on the wire.

    Raises:
        ValueError: a tag is not a non-empty line of text or collides with a built-in one;
            a class is not a ``CustomDirective`` subclass, is a dataclass (directives are
            attrs classes), annotates fields without being decorated (they would not be
            encoded), is registered under two tags, or has a field named ``kind`` (the
            tag's key).
    """

    __slots__ = ("_c", "_directive_type", "_states", "_tags")

    def __init__(self, *, directives: Mapping[str, type[d.CustomDirective]] | None = None) -> None:
        custom = dict(directives or {})
        tags: dict[type[Any], str] = dict(_DIRECTIVE_TAGS)
        for tag, cls in custom.items():
            given: object = tag
            if not isinstance(given, str) or not tag or not tag.isprintable():
                raise ValueError(f"directive tag {given!r}: a tag is a non-empty line of text")
            if tag in tags.values():
                raise ValueError(f"directive tag {tag!r} is built in")
            candidate: object = cls
            if not (isinstance(candidate, type) and issubclass(candidate, d.CustomDirective)):
                raise ValueError(f"{cls!r} is not a CustomDirective subclass")
            if "__dataclass_fields__" in cls.__dict__:
                # Its fields are no attrs fields: the codec would neither see a ``kind`` among
                # them nor set the fields it inherits.
                raise ValueError(
                    f"{cls.__name__} is a dataclass: a custom directive is an attrs class"
                    " (@attrs.frozen)"
                )
            own = [
                name
                for name, hint in inspect.get_annotations(cls).items()
                # A class variable is no field (a string under postponed annotations).
                if not str(hint).startswith(("ClassVar", "typing.ClassVar"))
            ]
            if own and "__attrs_attrs__" not in cls.__dict__:
                # Annotated but undecorated: what it annotates is no field, and would be
                # dropped (a subclass adding nothing, or an attrs class's, is fine).
                raise ValueError(
                    f"{cls.__name__} annotates {', '.join(own)} but is not decorated: decorate"
                    " it with @attrs.frozen, or those are no fields and are not encoded"
                )
            if cls in tags:
                raise ValueError(
                    f"{cls.__name__} is registered under two tags, {tags[cls]!r} and {tag!r}"
                )
            if attrs.has(cls) and any(f.name == "kind" for f in attrs.fields(cls)):
                # The wire tag is the ``kind`` key: the field would be overwritten by it.
                raise ValueError(
                    f"{cls.__name__} has a field named 'kind', which its JSON uses for the"
                    " directive's tag: rename the field"
                )
            tags[cls] = tag
        self._tags = tags
        self._directive_type = _union(list(tags))
        self._c = self._converter(forbid_extra_keys=False)
        self._states: cattrs.Converter | None = None  # made on first use: see _state_converter

    def _converter(self, *, forbid_extra_keys: bool) -> cattrs.Converter:
        c = _base.copy(forbid_extra_keys=forbid_extra_keys)
        c.register_unstructure_hook(Signal, _signal_to_dict)
        c.register_structure_hook(Signal, _signal_from_dict)
        c.register_unstructure_hook_factory(_is_set, _sorted_set)
        target_type = _union(list(_TARGET_TAGS))
        configure_tagged_union(
            target_type, c, tag_generator=_TARGET_TAGS.__getitem__, tag_name="kind"
        )
        _guard_kinds(c, target_type, frozenset(_TARGET_TAGS.values()), "target")
        tags = self._tags
        configure_tagged_union(
            self._directive_type, c, tag_generator=tags.__getitem__, tag_name="kind"
        )
        _guard_kinds(c, self._directive_type, frozenset(tags.values()), "directive")
        # A field typed with several directive classes (``Directive``, ``BuiltinDirective``,
        # ``Emit | Schedule``, with or without ``None``) or with ``CustomDirective`` itself:
        # its value is told apart by the tag, as a directive on its own is (cattrs' own
        # union hook would guess by field names, and fail for those that have the same).
        whole_in = c.get_structure_hook(self._directive_type)
        whole_out = c.get_unstructure_hook(self._directive_type)

        def names_directives(t: Any) -> bool:
            return t != self._directive_type and _names_directives(t)

        c.register_structure_hook_factory(names_directives, lambda t: _tagged_in(c, whole_in, t))
        tagged_out = _tagged_out(whole_out, tags)
        c.register_unstructure_hook_factory(names_directives, lambda _: tagged_out)
        return c

    def _state_converter(self) -> cattrs.Converter:
        # Agent states and slices are decoded refusing keys their classes do not have: a
        # stored value holding a field the class lost is a schema change (a new
        # schema_version and an upgrade), not a value to drop without a word. Built as the
        # main converter is (a copy of it would not carry the union hooks), on first use:
        # most codecs never decode an agent.
        if self._states is None:
            self._states = self._converter(forbid_extra_keys=True)
        return self._states

    # ------------------------------------------------------------------ out

    def to_dict(
        self, value: Signal | d.Directive | Agent[Any] | Problem | Step[Any]
    ) -> dict[str, Any]:
        """The JSON-ready form of ``value`` (plain dicts, lists and scalars).

        Raises:
            EncodeError: ``value`` is a directive of a class this codec does not know (register
                it with ``Codec(directives=...)``), or no value this codec encodes.
        """
        try:
            return self._to_dict(value)
        except EncodeError:
            raise
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            # A value that is not what its class declares (a state field holding a
            # FrozenMap where an attrs instance belongs): the hooks, which trust the
            # declared types, fail on it in their own ways.
            raise EncodeError(type(value).__name__, f"{type(exc).__name__}: {exc}") from exc

    def _to_dict(
        self, value: Signal | d.Directive | Agent[Any] | Problem | Step[Any]
    ) -> dict[str, Any]:
        if isinstance(value, Signal):
            return _signal_to_dict(value)
        if isinstance(value, Agent):
            return {
                "id": value.id,
                "spec": value.spec,
                "state": self._c.unstructure(value.state),
                "version": value.version,
                "status": value.status,
                "slices": {k: self._c.unstructure(v) for k, v in value.slices.items()},
            }
        if isinstance(value, Step):
            return {
                "agent": self._to_dict(value.agent),
                "directives": [self._to_dict(x) for x in value.directives],
            }
        if isinstance(value, Problem):
            return self._c.unstructure(value)  # type: ignore[no-any-return]
        try:
            return self._c.unstructure(value, unstructure_as=self._directive_type)  # type: ignore[no-any-return]
        except KeyError:
            # The tagged-union hook looks the class up in a dict; checked only on failure, so
            # encoding a known directive pays nothing for it.
            if type(value) in self._tags:
                raise
            raise _unknown_class(value) from None

    def to_json(self, value: Signal | d.Directive | Agent[Any] | Problem | Step[Any]) -> str:
        """``value`` as a compact JSON string (keys in a fixed order).

        Raises:
            EncodeError: as :meth:`to_dict`; or a value JSON cannot write: a state field
                holding what is not JSON (bytes, a ``date``, a ``Decimal``...), an integer
                of more than 4,300 digits, a string with a lone surrogate.
        """
        try:
            if type(value) is Signal:
                # Frozen data is already JSON to the encoder (FrozenMap is a dict, tuples
                # encode as arrays), so the signal's data is not thawed on the way. (A
                # signal holds no lone surrogate: it refused one when it was made.)
                return _encode(_signal_to_dict(value, thawed=False))
            text = _encode(self.to_dict(value))
        except EncodeError:
            raise
        except (TypeError, ValueError) as exc:
            raise EncodeError(type(value).__name__, str(exc)) from exc
        # An agent's state is the action's own value, not checked when it was made: a lone
        # surrogate in it would make text no UTF-8 can hold, which a store or a file could
        # not write (found here in one pass of the encoder, only for text that is not ASCII).
        if not text.isascii():
            try:
                text.encode()
            except UnicodeEncodeError:
                raise EncodeError(
                    type(value).__name__,
                    "a string holds a lone surrogate, which UTF-8 cannot encode",
                ) from None
        return text

    # ------------------------------------------------------------------ in

    def signal_from_dict(self, raw: object) -> Signal:
        """Decode a CloudEvents JSON object. Raises :class:`DecodeError`."""
        try:
            return _signal_from_dict(raw)
        except InvalidSignal as exc:
            raise DecodeError("signal", str(exc), exc.field) from exc
        except _BadAttribute as exc:
            raise DecodeError("signal", str(exc), exc.field) from None
        except (TypeError, ValueError, KeyError) as exc:
            raise DecodeError("signal", str(exc)) from None

    def directive_from_dict(self, raw: object) -> d.Directive:
        """Decode a tagged directive object. Raises :class:`DecodeError`."""
        return self._structure(raw, self._directive_type, "directive")  # type: ignore[no-any-return]

    def problem_from_dict(self, raw: object) -> Problem:
        """Decode a problem object. Raises :class:`DecodeError`."""
        return self._structure(raw, Problem, "problem")  # type: ignore[no-any-return]

    def agent_from_dict(self, raw: object, spec: AgentSpec[S]) -> Agent[S]:
        """Decode an agent of ``spec``. Raises :class:`DecodeError`, also on a spec mismatch,
        on a key an agent does not have, on a state (or plugin slice) holding a field its
        class does not have (decoding does not drop what was stored), on ``slices`` present
        but no object, on an id no agent may have (empty, a line break or control character,
        a lone surrogate, as where an agent is made), on a status that is no status (a
        non-empty line of text, not ``"*"``, as wherever a status enters), and on a status
        the spec's :class:`FSM` does not have when no ``"*"`` row leaves it (an agent in it
        would refuse every signal, for ever). A strategy of another kind keeps its own
        notion of statuses, if any: which statuses it has is not checked."""
        if not isinstance(raw, Mapping):
            raise DecodeError("agent", f"expected a JSON object, got {type(raw).__name__}")
        extra = set(raw) - _AGENT_KEYS
        if extra:  # as a state's are: what was stored is not dropped without a word
            raise DecodeError("agent", f"unknown keys {sorted(map(str, extra))}")
        if raw.get("spec") != spec.name:
            raise DecodeError("agent", f"it runs spec {raw.get('spec')!r}, not {spec.name!r}")
        slice_types = {p.name: p.state for p in spec.plugins}
        raw_slices = raw.get("slices", {})  # absent: none; present, it is an object
        if not isinstance(raw_slices, Mapping) or set(raw_slices) != set(slice_types):
            raise DecodeError(
                "plugin slices",
                f"{sorted(raw_slices) if isinstance(raw_slices, Mapping) else raw_slices!r}"
                f" do not match the spec's plugins {sorted(slice_types)}",
            )
        strict = self._state_converter()
        state = self._structure(raw.get("state"), spec.state, "agent state", strict)
        slices = {
            name: self._structure(raw_slices[name], t, f"plugin slice {name!r}", strict)
            for name, t in slice_types.items()
        }
        # Decoded outside the ``try`` below: a DecodeError is a ValueError, and wrapping it
        # again would repeat "cannot decode" in the message.
        agent_id = self._structure(raw.get("id"), str, "agent id")
        try:
            check_agent_id(agent_id)  # as where an agent is made
        except ValueError as exc:
            raise DecodeError("agent id", str(exc)) from None
        version = self._structure(raw.get("version"), int, "agent version")
        status = self._structure(raw.get("status"), str, "agent status")
        try:
            _check_status("status", status, wildcard=False)  # as where a status enters
        except ValueError as exc:
            raise DecodeError("agent status", f"{status!r} is no status ({exc})") from None
        strategy = spec.strategy
        if (
            isinstance(strategy, FSM)
            and status not in strategy.statuses
            and not any(t.source == "*" for t in strategy.transitions)
        ):
            # Stuck for ever: no row of the table leaves the status. A "*" row (in any
            # status) is a way out, as the FSM's own checks keep it for a restored agent.
            raise DecodeError(
                "FSM status",
                f"the agent's status {status!r} is not one of the FSM's"
                f" {list(strategy.statuses)}, and no '*' row leaves it",
            )
        try:
            return Agent(
                id=agent_id,
                spec=spec.name,
                state=state,
                version=version,
                status=status,
                slices=slices,
            )
        except (TypeError, ValueError) as exc:  # pragma: no cover - guarded above
            raise DecodeError("agent", str(exc)) from None

    def signal_from_json(self, text: str | bytes | bytearray) -> Signal:
        """Decode a signal from JSON text. Raises :class:`DecodeError` (a ``TypeError`` for
        what is no text)."""
        return self.signal_from_dict(_load(text, "signal"))

    def directive_from_json(self, text: str | bytes | bytearray) -> d.Directive:
        """Decode a directive from JSON text. Raises :class:`DecodeError` (a ``TypeError`` for
        what is no text)."""
        return self.directive_from_dict(_load(text, "directive"))

    def agent_from_json(self, text: str | bytes | bytearray, spec: AgentSpec[S]) -> Agent[S]:
        """Decode an agent of ``spec`` from JSON text. Raises :class:`DecodeError` (a
        ``TypeError`` for what is no text)."""
        return self.agent_from_dict(_load(text, "agent"), spec)

    def _structure(self, raw: object, t: Any, what: str, c: cattrs.Converter | None = None) -> Any:
        try:
            return (c or self._c).structure(raw, t)
        except cattrs.BaseValidationError as exc:
            errors = cattrs.transform_error(exc, format_exception=_format_error)
            raise DecodeError(what, "; ".join(errors)) from None
        except (TypeError, ValueError) as exc:
            # The core's hooks raise these with a whole sentence ("expected int, got ...").
            raise DecodeError(what, str(exc)) from None
        except Exception as exc:
            # Anything else a hook raised on input it could not read (a KeyError, cattrs'
            # StructureHandlerNotFoundError for a class it has no hook for...): input is
            # refused with a DecodeError, whatever refused it.
            raise DecodeError(what, f"{type(exc).__name__}: {exc}") from None


def _unknown_class(value: object) -> EncodeError:
    cls = type(value)
    name = f"{cls.__module__}.{cls.__qualname__}"
    if isinstance(value, d.CustomDirective):
        return EncodeError(
            f"directive {name}",
            f"this codec does not know the class {cls.__qualname__}; register it under a tag "
            f"and encode with that codec: Codec(directives={{'my.tag': {cls.__qualname__}}})",
        )
    return EncodeError(name, "it is no Signal, directive, Agent, Problem or Step")


def _not_json(name: str) -> object:
    # Python's parser reads NaN, Infinity and -Infinity; JSON has no such values.
    raise ValueError(f"{name} is not JSON")


# One decoder for every call: json.loads given any keyword builds a decoder (and its
# scanner) anew each time, a fifth of what decoding a signal costs.
_DECODER: Final = json.JSONDecoder(parse_constant=_not_json)


def _load(given: str | bytes | bytearray, what: str) -> object:
    if isinstance(given, bytearray):
        given = bytes(given)
    text: object = given
    if not isinstance(text, str | bytes):
        raise TypeError(f"a {what} decodes from JSON text (str or bytes), not {text!r:.60}")
    try:
        if isinstance(text, bytes):  # as json.loads reads bytes: UTF-8, -16 or -32
            text = text.decode(json.detect_encoding(text), "surrogatepass")
        value = _DECODER.decode(text)
    except (ValueError, RecursionError) as exc:
        # ValueError: not JSON (NaN and Infinity included), bytes that are not UTF-8, an
        # integer too long to convert; RecursionError: nested deeper than the parser goes.
        raise DecodeError(what, f"not JSON ({type(exc).__name__}: {exc})") from None
    # A lone surrogate (``"\ud800"``, valid JSON syntax) makes a string no UTF-8 can hold:
    # whatever is decoded could never be written out again. Looked for only where the text
    # could hold one (an escape starting a surrogate, or raw non-ASCII text).
    suspect = not text.isascii() or "\\ud" in text.lower()
    if suspect and lone_surrogate(value) is not None:
        raise DecodeError(what, "a string holds a lone surrogate, which UTF-8 cannot encode")
    return value


#: The codec for built-in directives, behind the module-level functions.
_default: Final = Codec()


to_dict = _default.to_dict
to_json = _default.to_json
signal_from_dict = _default.signal_from_dict
signal_from_json = _default.signal_from_json
directive_from_dict = _default.directive_from_dict
directive_from_json = _default.directive_from_json
agent_from_dict = _default.agent_from_dict
agent_from_json = _default.agent_from_json
