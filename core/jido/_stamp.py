"""Stamping: giving the drafts an action produced their deterministic ids and trace context."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, cast, get_args

import attrs

from ._directives import (
    BuiltinDirective,
    Cron,
    CustomDirective,
    Directive,
    Emit,
    Invoke,
    Schedule,
)
from ._json import EMPTY, FrozenMap, _adopt
from ._signal import (
    DRAFT,
    Signal,
    _set_data,
    _set_datacontenttype,
    _set_extensions,
    _set_id,
    _set_source,
    _set_subject,
    _set_time,
    _set_type,
    derive_id,
)

__all__ = ["agent_source", "stamp"]


def agent_source(agent_id: str) -> str:
    """The ``source`` of signals an agent produces.

    >>> agent_source("a1")
    'jido://agent/a1'
    """
    return f"jido://agent/{agent_id}"


def _with_signal(d: Emit | Schedule | Cron, signal: Signal) -> Emit | Schedule | Cron:
    # Like attrs.evolve, minus re-running validators on fields that were already checked.
    if type(d) is Emit:
        new: Emit = _new(Emit)
        _set_emit_signal(new, signal)
        _set_emit_to(new, d.to)
        return new
    cls = type(d)
    other = _new(cls)
    for name in _FIELDS[cls]:
        object.__setattr__(other, name, signal if name == "signal" else getattr(d, name))
    return other


_new = object.__new__
_set_emit_signal = Emit.__dict__["signal"].__set__
_set_emit_to = Emit.__dict__["to"].__set__
_FIELDS = {cls: tuple(f.name for f in attrs.fields(cls)) for cls in (Schedule, Cron)}


def stamp(
    directives: Iterable[Directive],
    agent_id: str,
    cause_id: str,
    cause: Signal | None,
    position: int = 0,
) -> tuple[Directive, ...]:
    """Replace every draft signal and unset ``Invoke`` key in ``directives``.

    The n-th stamped item gets ``derive_id(cause_id, agent_id, position + n, salt)``, the
    salt being the cause's ``source`` (``""`` without a cause): a signal is its source and
    id together, so two causes that share an id but come from different sources (two
    webhooks that each number their events from 1) give the signals and ``Invoke`` keys
    they lead to ids of their own, not ids a journal would take for one sent twice. Stamped
    signals inherit the cause's time and trace context: ``causationid`` is the cause's id,
    ``correlationid`` the cause's correlation id (or its id, for a chain's first link), and
    ``traceparent`` / ``tracestate`` are carried over. A :class:`CustomDirective`'s drafts
    are those held in its fields, or in tuples its fields hold.
    """
    out: list[Directive] = []
    # The trace context is built on the first draft only: many steps stamp nothing.
    trace: dict[str, str | int | bool] | None = None
    inherited: FrozenMap[str, str | int | bool] = EMPTY  # type: ignore[assignment]
    source = ""
    time = None
    salt = "" if cause is None else cause.source
    for d in directives:
        # Plain type tests rather than `match` with class patterns: once per directive of
        # every step, and the patterns cost several times more.
        t = type(d)
        if t is Emit or t is Schedule or t is Cron:
            s = d.signal  # type: ignore[union-attr]
            if s.id == DRAFT:
                if trace is None:
                    source = agent_source(agent_id)
                    trace = {"causationid": cause_id}
                    if cause is not None:
                        time = cause.time
                        ext = cause.extensions
                        trace["correlationid"] = ext.get("correlationid") or cause.id
                        if "traceparent" in ext:
                            trace["traceparent"] = ext["traceparent"]
                        if "tracestate" in ext:
                            trace["tracestate"] = ext["tracestate"]
                    # Shared by every stamped signal without extensions of its own.
                    inherited = _adopt(trace)
                if s.extensions:
                    # What the action set explicitly wins over inherited trace context.
                    extensions = _adopt({**trace, **s.extensions})
                else:
                    extensions = inherited
                # A new signal from the validated draft and values the core computed: filled
                # through its slots (see ``_signal``), as ``_restamp`` does, minus a call.
                new = _new(Signal)
                _set_type(new, s.type)
                _set_source(new, source)
                _set_id(new, derive_id(cause_id, agent_id, position, salt))
                _set_time(new, time)
                _set_subject(new, s.subject)
                _set_data(new, s.data)
                _set_datacontenttype(new, s.datacontenttype)
                _set_extensions(new, extensions)
                position += 1
                d = _with_signal(d, new)  # type: ignore[arg-type]
        elif t is Invoke:
            if d.key == DRAFT:  # type: ignore[union-attr]
                d = attrs.evolve(cast(Invoke, d), key=derive_id(cause_id, agent_id, position, salt))
                position += 1
        elif t not in _BUILTIN and isinstance(d, CustomDirective):
            d, position = _stamp_custom(d, agent_id, cause_id, cause, position)
        out.append(d)
    return tuple(out)


def _stamp_custom(
    d: CustomDirective, agent_id: str, cause_id: str, cause: Signal | None, position: int
) -> tuple[CustomDirective, int]:
    # The drafts a user-defined directive holds, in field order (a tuple's in its order),
    # stamped as Emits in their place would be: a rare path, so it goes through ``stamp``.
    changes: dict[str, object] = {}
    for f in attrs.fields(type(d)):
        value = getattr(d, f.name)
        if type(value) is Signal and value.id == DRAFT:
            (done,) = stamp([Emit(signal=value)], agent_id, cause_id, cause, position)
            changes[str(f.alias)] = cast(Emit, done).signal
            position += 1
        elif type(value) is tuple and any(type(v) is Signal and v.id == DRAFT for v in value):
            items: list[object] = []
            for v in value:
                if type(v) is Signal and v.id == DRAFT:
                    (done,) = stamp([Emit(signal=v)], agent_id, cause_id, cause, position)
                    v = cast(Emit, done).signal
                    position += 1
                items.append(v)
            changes[str(f.alias)] = tuple(items)
    return (attrs.evolve(d, **changes) if changes else d), position


_BUILTIN: Final = frozenset(get_args(BuiltinDirective))
