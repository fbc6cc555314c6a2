"""Stamping: giving the drafts an action produced their deterministic ids and trace context."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import attrs

from ._directives import Cron, Directive, Emit, Invoke, Schedule
from ._signal import DRAFT, Signal, derive_id

__all__ = ["agent_source", "stamp"]


def agent_source(agent_id: str) -> str:
    """The ``source`` of signals an agent produces.

    >>> agent_source("a1")
    'jido://agent/a1'
    """
    return f"jido://agent/{agent_id}"


def _stamp_signal(
    draft: Signal,
    *,
    new_id: str,
    source: str,
    time: datetime | None,
    trace: dict[str, str | int | bool],
) -> Signal:
    extensions = dict(trace)
    # What the action set explicitly wins over inherited trace context.
    extensions.update(draft.extensions)
    return attrs.evolve(draft, id=new_id, source=source, time=time, extensions=extensions)


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
        trace["correlationid"] = cause.correlation_id or cause.id
        for key in ("traceparent", "tracestate"):
            if key in cause.extensions:
                trace[key] = cause.extensions[key]
    for d in directives:
        match d:
            case Emit(signal=s) | Schedule(signal=s) | Cron(signal=s) if s.id == DRAFT:
                new = _stamp_signal(
                    s,
                    new_id=derive_id(cause_id, agent_id, position),
                    source=source,
                    time=time,
                    trace=trace,
                )
                position += 1
                d = attrs.evolve(d, signal=new)
            case Invoke(key=key) if key == DRAFT:
                d = attrs.evolve(d, key=derive_id(cause_id, agent_id, position))
                position += 1
            case _:
                pass
        out.append(d)
    return tuple(out)
