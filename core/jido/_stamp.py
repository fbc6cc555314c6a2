"""Stamping: giving the drafts an action produced their deterministic ids and trace context."""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from ._directives import Cron, Directive, Emit, Invoke, Schedule
from ._json import FrozenMap
from ._signal import DRAFT, Signal, _restamp, derive_id

__all__ = ["agent_source", "stamp"]


def agent_source(agent_id: str) -> str:
    """The ``source`` of signals an agent produces.

    >>> agent_source("a1")
    'jido://agent/a1'
    """
    return f"jido://agent/{agent_id}"


def _with_signal(d: Emit | Schedule | Cron, signal: Signal) -> Emit | Schedule | Cron:
    # Like attrs.evolve, minus re-running validators on fields that were already checked.
    cls = type(d)
    new = object.__new__(cls)
    for name in _FIELDS[cls]:
        object.__setattr__(new, name, signal if name == "signal" else getattr(d, name))
    return new


_FIELDS = {cls: tuple(f.name for f in attrs.fields(cls)) for cls in (Emit, Schedule, Cron)}


def stamp(
    directives: Iterable[Directive],
    *,
    agent_id: str,
    cause_id: str,
    cause: Signal | None,
) -> tuple[Directive, ...]:
    """Replace every draft signal and unset ``Invoke`` key in ``directives``.

    The n-th stamped item gets ``derive_id(cause_id, agent_id, n)``. Stamped signals inherit
    the cause's time and trace context: ``causationid`` is the cause's id, ``correlationid`` the
    cause's correlation id (or its id, for a chain's first link), and ``traceparent`` /
    ``tracestate`` are carried over.
    """
    out: list[Directive] = []
    position = 0
    source = agent_source(agent_id)
    trace: dict[str, str | int | bool] = {"causationid": cause_id}
    time = None
    if cause is not None:
        time = cause.time
        trace["correlationid"] = cause.extensions.get("correlationid") or cause.id
        for key in ("traceparent", "tracestate"):
            if key in cause.extensions:
                trace[key] = cause.extensions[key]
    inherited = FrozenMap(trace)  # shared by every stamped signal without extensions of its own
    for d in directives:
        match d:
            case Emit(signal=s) | Schedule(signal=s) | Cron(signal=s) if s.id == DRAFT:
                if s.extensions:
                    # What the action set explicitly wins over inherited trace context.
                    extensions = FrozenMap({**trace, **s.extensions})
                else:
                    extensions = inherited
                new = _restamp(
                    s,
                    id=derive_id(cause_id, agent_id, position),
                    source=source,
                    time=time,
                    extensions=extensions,
                )
                position += 1
                d = _with_signal(d, new)
            case Invoke(key=key) if key == DRAFT:
                d = attrs.evolve(d, key=derive_id(cause_id, agent_id, position))
                position += 1
            case _:
                pass
        out.append(d)
    return tuple(out)
