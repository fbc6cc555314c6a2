"""Signals: facts that happened, in a CloudEvents 1.0 envelope."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from hashlib import blake2b as _blake2b
from typing import Final, final

import attrs

from ._errors import InvalidSignal
from ._json import (
    _TOO_DEEP,
    EMPTY,
    FrozenMap,
    JsonValue,
    _freeze,
    _NotJson,
    _shown,
    _surrogate_in,
    freeze,
)

__all__ = ["DRAFT", "Signal", "derive_id", "is_valid_type"]

#: The id and source of a draft signal: one an action built without knowing where it stands.
#: ``step`` replaces both when it stamps the signal (see :meth:`Signal.draft`).
DRAFT: Final = "jido:draft"

# CloudEvents leaves `type` free-form; Jido (and this library) use dot-separated segments
# going from general to specific, e.g. "order.payment.captured". The same segment alphabet is
# used by route patterns, so every valid type can be routed exactly.
_TYPE_RE: Final = re.compile(r"[A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]+)*")
# CloudEvents 1.0, "Extension Context Attributes": lower-case ASCII letters or digits (the
# spec's 20 characters are a SHOULD: longer names other producers use are accepted).
_EXT_NAME_RE: Final = re.compile(r"[a-z0-9]+")
_RESERVED: Final = frozenset(
    {"id", "source", "type", "subject", "time", "data", "datacontenttype", "specversion"}
    | {"dataschema", "data_base64"}
)


def _is_json(content_type: str) -> bool:
    """Whether a media type is JSON (CloudEvents' JSON format: ``application/json``,
    ``text/json`` or any ``+json`` suffix, parameters aside)."""
    media = content_type.partition(";")[0].strip().lower()
    return media in ("application/json", "text/json") or media.endswith("+json")


def is_valid_type(value: str) -> bool:
    """Whether ``value`` is a well-formed signal type (dot-separated ``[A-Za-z0-9_-]`` segments).

    >>> is_valid_type("counter.incremented"), is_valid_type("a..b"), is_valid_type("")
    (True, False, False)
    """
    return _TYPE_RE.fullmatch(value) is not None


def _freeze_data(value: object) -> JsonValue:
    try:
        return freeze(value)
    except TypeError as exc:
        raise InvalidSignal("data", value, str(exc)) from None


def _check_text(field: str, value: str) -> None:
    # For a field's string that is not ASCII (the caller's fast path): one holding a lone
    # surrogate is no Unicode text, and no JSON encoder could write the signal out in UTF-8.
    found = _surrogate_in(value)
    if found is not None:
        raise InvalidSignal(
            field, value, f"holds a lone surrogate (\\u{ord(found):04x}), which UTF-8 cannot encode"
        )


_INT32_MIN: Final = -(2**31)
_INT32_MAX: Final = 2**31 - 1


def _freeze_extensions(value: object) -> FrozenMap[str, str | int | bool]:
    if value is None or value is EMPTY:
        return _NO_EXTENSIONS
    if not isinstance(value, Mapping):
        raise InvalidSignal("extensions", value, "expected a mapping of name to value")
    for name, v in value.items():
        if not isinstance(name, str) or _EXT_NAME_RE.fullmatch(name) is None:
            raise InvalidSignal(
                "extensions", value, f"name {name!r} is not lower-case letters or digits"
            )
        if name in _RESERVED:
            raise InvalidSignal("extensions", value, f"name {name!r} is a core attribute")
        if not isinstance(v, str | int | bool):
            raise InvalidSignal(
                "extensions", value, f"{name}: {v!r} is not a string, integer or boolean"
            )
        if isinstance(v, str) and not v.isascii():
            found = _surrogate_in(v)
            if found is not None:
                raise InvalidSignal(
                    "extensions",
                    value,
                    f"{name}: {v!r} holds a lone surrogate (\\u{ord(found):04x}),"
                    " which UTF-8 cannot encode",
                )
        if type(v) is not bool and isinstance(v, int) and not _INT32_MIN <= v <= _INT32_MAX:
            # CloudEvents' Integer is 32-bit: a wider one would not survive other SDKs.
            raise InvalidSignal(
                "extensions",
                value,
                f"{name}: {_shown(v)} is outside CloudEvents' 32-bit integers",
            )
    return FrozenMap(value)


_NO_EXTENSIONS: FrozenMap[str, str | int | bool] = EMPTY  # type: ignore[assignment]


@final
@attrs.frozen(kw_only=True, init=False)
class Signal:
    """A fact that happened, addressed to agents: a CloudEvents 1.0 envelope.

    Signals are immutable and hash by value. Construction validates every field, so a
    malformed signal cannot exist, and every signal can be written as JSON (in UTF-8) and
    read back equal: no string in it (data, keys, extensions, source, id, subject) holds a
    lone surrogate, and no integer in its data has more than 4300 digits.

    The core never makes ids or reads clocks: interpreters (the edge) pass ``id`` and ``time``
    in, and signals produced inside ``step`` get ids derived from the signal being handled
    (see :func:`derive_id`).

    Attributes:
        type: what happened, dot-separated, general to specific (``"order.paid"``).
        source: who says so: any non-empty string, by convention (CloudEvents) a URI-reference
            such as ``"/billing"`` or ``"jido://agent/a1"``.
        id: unique for its source.
        time: when it happened (timezone-aware), or ``None``.
        subject: what it is about, within the source, or ``None``.
        data: the payload, any JSON value (frozen: dicts become :class:`FrozenMap`, lists
            become tuples; what :func:`~jido.freeze` refuses is refused).
        datacontenttype: the media type of ``data``.
        extensions: CloudEvents extension attributes (tracing: ``traceparent``,
            ``correlationid``, ``causationid``...): strings, booleans and 32-bit integers.

    Raises:
        InvalidSignal: a field is malformed; its ``field`` attribute names which.
    """

    type: str
    source: str
    id: str
    time: datetime | None = None
    subject: str | None = None
    data: JsonValue = None
    datacontenttype: str = "application/json"
    extensions: FrozenMap[str, str | int | bool] = _NO_EXTENSIONS

    def __init__(
        self,
        *,
        type: str,
        source: str,
        id: str,
        time: datetime | None = None,
        subject: str | None = None,
        data: object = None,
        datacontenttype: str = "application/json",
        extensions: Mapping[str, str | int | bool] | None = None,
    ) -> None:
        # Written out rather than generated by attrs: every signal from outside comes through
        # here, and filling the slots directly after the checks costs half of attrs' __init__
        # with converters and a post-init hook. Annotations are not enforced at run time;
        # callers may pass anything, so each field is checked (data first, as converters ran).
        frozen_data = None if data is None else _freeze_data(data)
        frozen_ext = _freeze_extensions(extensions)
        if type.__class__ is not str or type not in _VALID_TYPES:
            _check_type(type)
        given: tuple[object, object, object, object, object] = (
            source,
            id,
            time,
            subject,
            datacontenttype,
        )
        source_, id_, time_, subject_, ctype = given
        if not isinstance(source_, str) or not source_:
            raise InvalidSignal("source", source_, "must be a non-empty string")
        if not isinstance(id_, str) or not id_:
            raise InvalidSignal("id", id_, "must be a non-empty string")
        if not source_.isascii():
            _check_text("source", source_)
        if not id_.isascii():
            _check_text("id", id_)
        if time_ is not None and (
            not isinstance(time_, datetime)
            or (time_.tzinfo is not UTC and time_.utcoffset() is None)
        ):
            raise InvalidSignal("time", time_, "must be a timezone-aware datetime or None")
        if time_ is not None and time_.tzinfo is not UTC:
            time = _fixed_offset(time_)
        if subject_ is not None:
            if not isinstance(subject_, str) or not subject_:
                raise InvalidSignal("subject", subject_, "must be a non-empty string or None")
            if not subject_.isascii():
                _check_text("subject", subject_)
        if ctype != "application/json":
            if not isinstance(ctype, str) or not ctype:
                raise InvalidSignal("datacontenttype", ctype, "must be a non-empty string")
            if not ctype.isascii():
                _check_text("datacontenttype", ctype)
            if frozen_data is not None and frozen_data.__class__ is not str and not _is_json(ctype):
                # CloudEvents' JSON format writes such data as a JSON string; anything else
                # would be read back as JSON that the content type says it is not.
                raise InvalidSignal(
                    "data",
                    data,
                    f"with datacontenttype {ctype!r} (not JSON) data must be a string",
                )
        _set_type(self, type)
        _set_source(self, source)
        _set_id(self, id)
        _set_time(self, time)
        _set_subject(self, subject)
        _set_data(self, frozen_data)
        _set_datacontenttype(self, datacontenttype)
        _set_extensions(self, frozen_ext)

    @classmethod
    def draft(
        cls,
        type: str,
        data: object = None,
        *,
        subject: str | None = None,
        extensions: FrozenMap[str, str | int | bool] | dict[str, str | int | bool] | None = None,
    ) -> Signal:
        """A signal an action produces: ``step`` stamps its id, source, time and trace.

        Use this (or the ``emit``/``schedule`` helpers, which call it) inside actions.
        When ``step`` returns, every draft in its directives (the signal of an ``Emit``,
        ``Schedule`` or ``Cron``, and a signal a ``CustomDirective`` holds in a field, or in
        a tuple in a field) has been replaced by a signal whose id is derived from the
        handled signal, the agent id and its position.
        """
        if extensions or (subject is not None):
            return cls(
                type=type,
                source=DRAFT,
                id=DRAFT,
                subject=subject,
                data=data,
                extensions=extensions,
            )
        # The common case, on the hot path of every action that emits: only ``type`` and
        # ``data`` come from the caller, and both are checked here exactly as __init__ would.
        given: object = type
        if given.__class__ is not str or given not in _VALID_TYPES:
            _check_type(given)
        new: Signal = _new(cls)
        _set_type(new, type)
        _set_source(new, DRAFT)
        _set_id(new, DRAFT)
        _set_time(new, None)
        _set_subject(new, None)
        if data is None:
            _set_data(new, None)
        else:
            try:
                _set_data(new, _freeze(data))
            except _NotJson as exc:
                raise InvalidSignal("data", data, f"${exc.shown}") from None
            except RecursionError:
                raise InvalidSignal("data", data, f"$: {_TOO_DEEP}") from None
        _set_datacontenttype(new, "application/json")
        _set_extensions(new, EMPTY)
        return new

    @property
    def is_draft(self) -> bool:
        """Whether this signal still waits for ``step`` to stamp it."""
        return self.id == DRAFT

    @property
    def causation_id(self) -> str | None:
        """The id of the signal whose handling produced this one, if recorded."""
        v = self.extensions.get("causationid")
        return v if isinstance(v, str) else None

    @property
    def correlation_id(self) -> str | None:
        """The id shared by every signal in one chain of cause and effect, if recorded."""
        v = self.extensions.get("correlationid")
        return v if isinstance(v, str) else None


def _fixed_offset(time: datetime) -> datetime:
    # A time in a zone with rules (ZoneInfo) is kept as the instant it names, at the offset it
    # had: that is what its text says (RFC 3339), so a round trip gives it back equal (a time
    # in a daylight-saving fold would otherwise compare unequal to its own copy). An offset
    # finer than a minute has no RFC 3339 form: such a time is kept in UTC.
    offset = time.utcoffset()
    assert offset is not None
    if offset % _MINUTE:
        return time.astimezone(UTC)
    if time.tzinfo.__class__ is timezone:
        return time
    return time.astimezone(timezone(offset))


_MINUTE: Final = timedelta(minutes=1)


def derive_id(parent_id: str, agent_id: str, position: int, salt: str = "") -> str:
    """The deterministic id of the ``position``-th signal produced while handling ``parent_id``.

    A 128-bit BLAKE2b digest, shown as 32 hex digits: the same inputs always give the same id,
    different inputs collide with negligible probability, and ids stay short however long the
    causal chain grows. ``salt`` is whatever else the id must depend on: ``step`` passes the
    handled signal's ``source`` (two sources may use one id, and what their signals lead to
    must not share ids), interpreters what tells apart registrations of the same timers (a
    restart, a cron tick).

    >>> derive_id("s1", "agent-1", 0) == derive_id("s1", "agent-1", 0)
    True
    >>> derive_id("s1", "agent-1", 0) != derive_id("s1", "agent-1", 1)
    True
    """
    if "\x1f" in parent_id or "\x1f" in agent_id or "\x1f" in salt:
        # The separator inside a part would let two different inputs join to one string:
        # such parts are length-prefixed instead, hashed in a domain of their own (other
        # ids keep the plain, cheaper form, and the ids they always had).
        key = f"{len(parent_id)}:{parent_id}{len(agent_id)}:{agent_id}{position}:{salt}"
        return _blake2b(key.encode(), digest_size=16, person=b"jido.prefixed").hexdigest()
    return _blake2b(
        f"{parent_id}\x1f{agent_id}\x1f{position}\x1f{salt}".encode(), digest_size=16
    ).hexdigest()


def _restamp(
    draft: Signal,
    *,
    id: str,
    source: str,
    time: datetime | None,
    extensions: FrozenMap[str, str | int | bool],
) -> Signal:
    # The hot path of ``step``: every field is either taken from an already-validated signal
    # or computed by the core (a hex digest, an agent source, a cause's time and trace), so
    # the constructor's checks could not fail. Skipping them (as h11 does for events built by
    # its own parser) keeps stamping cheap.
    new: Signal = _new(Signal)
    _set_type(new, draft.type)
    _set_source(new, source)
    _set_id(new, id)
    _set_time(new, time)
    _set_subject(new, draft.subject)
    _set_data(new, draft.data)
    _set_datacontenttype(new, draft.datacontenttype)
    _set_extensions(new, extensions)
    return new


# Trusted construction sets the slots through their descriptors: the cheapest way CPython
# offers to fill a frozen slotted instance (attrs' own __init__ goes through __setattr__).
_new = object.__new__
_set_type = Signal.__dict__["type"].__set__
_set_source = Signal.__dict__["source"].__set__
_set_id = Signal.__dict__["id"].__set__
_set_time = Signal.__dict__["time"].__set__
_set_subject = Signal.__dict__["subject"].__set__
_set_data = Signal.__dict__["data"].__set__
_set_datacontenttype = Signal.__dict__["datacontenttype"].__set__
_set_extensions = Signal.__dict__["extensions"].__set__

# Signal types already checked by ``Signal.draft``: a pure memo (the check depends on the
# string alone), bounded so that a stream of ever-new types cannot grow it without limit:
# in count, and in size, as only short types are kept (a longer one, rare and perhaps from
# outside, is checked each time: otherwise 4,096 types of 100 KB would be held for ever).
_VALID_TYPES: dict[str, None] = {}
_VALID_TYPES_LIMIT: Final = 4096
_VALID_TYPE_MEMO_LENGTH: Final = 128


def _check_type(given: object) -> None:
    if not isinstance(given, str) or _TYPE_RE.fullmatch(given) is None:
        raise InvalidSignal(
            "type", given, "expected dot-separated segments of letters, digits, '_' or '-'"
        )
    if len(given) <= _VALID_TYPE_MEMO_LENGTH and len(_VALID_TYPES) < _VALID_TYPES_LIMIT:
        _VALID_TYPES[given] = None
