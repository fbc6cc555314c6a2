"""The signals interpreters send agents: effect outcomes and lifecycle notices.

Every interpreter builds them here, so the same directive gives the same signal whichever
interpreter ran it (the scenario suite compares final states across interpreters).
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Mapping
from datetime import datetime
from typing import Final, Literal, TypeAlias

from jido import (
    InvalidSignal,
    Invoke,
    JsonValue,
    Problem,
    ProblemKind,
    Signal,
    SpawnAgent,
    derive_id,
    lone_surrogate,
)

from ._storage import AgentExists

__all__ = [
    "SYSTEM_SOURCE",
    "EffectOutcome",
    "adopted_ancestor",
    "as_text",
    "directive_problem",
    "effect_source",
    "handler_failed",
    "handler_signal",
    "handler_signals",
    "is_ancestor",
    "no_handler",
    "outcome_signal",
    "spawn_refused",
    "spawned_id",
    "start_failed",
    "system_id",
    "system_signal",
]

#: ``("ok", result)``, ``("error", error type, message)``, or ``None`` for "no outcome".
EffectOutcome: TypeAlias = (
    tuple[Literal["ok"], JsonValue] | tuple[Literal["error"], str, str] | None
)


def as_text(value: str) -> str:
    r"""``value`` with each lone surrogate written as its escape (``"\ud83d"``, six ASCII
    characters), so that a signal may carry it: for text the runtime passes on but did not
    write, such as an exception's message (``str(exc)`` of ``ValueError(title)``, whose title
    came from a truncated emoji). Unicode text comes back as it is.

    >>> as_text("caf\u00e9"), as_text("caf\u00e9 \ud83d")
    ('café', 'café \\ud83d')
    """
    if value.isascii() or lone_surrogate(value) is None:
        return value
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def directive_problem(message: str, **details: object) -> Problem:
    """A ``directive`` problem: a directive that could not be executed. The message is
    made text (:func:`as_text`): it may quote what a handler raised."""
    return Problem.of(ProblemKind.DIRECTIVE, as_text(message), **details)


def no_handler(d: object) -> Problem:
    """The problem of a custom directive the interpreter has no handler for."""
    return directive_problem(
        f"no handler for directive {type(d).__name__}", directive=type(d).__qualname__
    )


def handler_failed(d: object, what: str) -> Problem:
    """The problem of a custom directive whose handler ``what`` (``"raised ..."``,
    ``"produced ..., not a Signal"``)."""
    return directive_problem(
        f"the handler for directive {type(d).__name__} {what}", directive=type(d).__qualname__
    )


def handler_signals(
    d: object, result: object, *, agent_id: str, cause: Signal | None, index: int
) -> tuple[list[Signal], list[Problem]]:
    """What the handler of the custom directive ``d`` returned, sorted on every runtime:
    the signals to deliver, in order, and a problem for what cannot be delivered (a
    result that is no iterable of signals: ``None``, a string, a lone signal, a mapping,
    one problem, not one per character or key; an item that is no :class:`~jido.Signal`).

    A draft (``Signal.draft``) is stamped here, as ``step`` stamps an action's, so that it
    is the same signal on every runtime and in every run: see :func:`handler_signal`. A
    whole signal is delivered as it is. ``d`` is the ``index``-th directive of the step
    ``agent_id`` took on ``cause``.

    Iterating ``result`` runs user code (a generator): call it where what that raises is
    the handler's crash.
    """
    if isinstance(result, str | bytes | Mapping | Signal) or not isinstance(result, Iterable):
        return [], [handler_failed(d, f"returned {result!r:.80}, not an iterable of signals")]
    signals: list[Signal] = []
    problems: list[Problem] = []
    for position, item in enumerate(result):
        if not isinstance(item, Signal):
            problems.append(handler_failed(d, f"produced {item!r:.80}, not a Signal"))
        elif item.is_draft:
            signals.append(handler_signal(item, d, agent_id, cause, index, position))
        else:
            signals.append(item)
    return signals, problems


def handler_signal(
    draft: Signal, d: object, agent_id: str, cause: Signal | None, index: int, position: int
) -> Signal:
    """The ``draft`` a custom directive's handler returned at ``position``, stamped.

    Its source is ``jido://directive/<class>`` (the directive's class, as ``d``'s
    ``__qualname__``); its id is ``derive_id("directive:<index>:<cause id>", agent_id,
    position, <cause source>)``, ``index`` being the directive's place among its step's
    directives: a function of where it stands alone, so a simulation run again with its
    seed, a replay, and every runtime give it the same id, and a durable runtime takes it
    for the same signal (a resend) only when it is one. It has the cause's time and, as a
    signal ``step`` stamps, its trace context (``causationid``, ``correlationid``,
    ``traceparent`` / ``tracestate``), below the draft's own extensions.
    """
    ext = {} if cause is None else _trace_of(cause, cause.id)
    ext.update(draft.extensions)
    return Signal(
        type=draft.type,
        source=f"jido://directive/{type(d).__qualname__}",
        id=derive_id(
            f"directive:{index}:{'' if cause is None else cause.id}",
            agent_id,
            position,
            "" if cause is None else cause.source,
        ),
        time=None if cause is None else cause.time,
        subject=draft.subject,
        data=draft.data,
        datacontenttype=draft.datacontenttype,
        extensions=ext,
    )


def spawned_id(parent_id: str, spawn: SpawnAgent) -> str:
    """The id of the child ``spawn`` starts: its own ``id``, else ``parent/tag``.

    >>> from jido import spawn_agent
    >>> spawned_id("boss", spawn_agent("worker", "w0"))
    'boss/w0'
    """
    return spawn.id or f"{parent_id}/{spawn.tag}"


def is_ancestor(candidate: str, agent_id: str, parent_of: Callable[[str], str | None]) -> bool:
    """Whether ``candidate`` is ``agent_id``'s parent, or its parent's, and so on up
    (``parent_of`` gives an agent's parent id, or ``None``). An agent adopting one of its
    ancestors would close a cycle, whose stop would tell one agent both that its child
    exited and that it is orphaned, by itself: every runtime refuses it.

    >>> parents = {"a/b": "a", "a/b/c": "a/b"}
    >>> is_ancestor("a", "a/b/c", parents.get), is_ancestor("a/b/c", "a", parents.get)
    (True, False)
    """
    seen: set[str] = set()
    up = parent_of(agent_id)
    while up is not None and up not in seen:
        if up == candidate:
            return True
        seen.add(up)
        up = parent_of(up)
    return False


def adopted_ancestor(child_id: str, parent_id: str) -> Problem:
    """The problem of ``parent_id`` adopting ``child_id``, one of its ancestors
    (:func:`is_ancestor`)."""
    return directive_problem(
        f"agent {child_id!r} is an ancestor of {parent_id!r}: adopting it would make a cycle",
        child_id=child_id,
    )


def spawn_refused(
    d: SpawnAgent,
    child_id: str,
    *,
    specs: Container[str],
    in_use: Callable[[str], bool],
    stored: Container[str] = (),
    tags: Container[str],
) -> tuple[Problem, str] | None:
    """Why the child ``d`` asks for, ``child_id``, cannot start, checked before it is built
    and in this order on every runtime: no spec of that name among ``specs``, an agent
    ``in_use`` under the id, one ``stored`` under it that no restore has brought back (a
    runtime with storage), the parent's ``tags`` holding the tag already. Returns the
    directive problem and the reason the parent's ``child.exit`` gives (``not started:
    ...``, or for a stored agent the ``not registered: ...`` of the registration storage
    would refuse); ``None`` if nothing stands in the child's way."""
    if d.spec not in specs:
        problem = directive_problem(f"no spec named {d.spec!r} to spawn", spec=d.spec)
    elif in_use(child_id):
        problem = directive_problem(f"an agent {child_id!r} already runs", child_id=child_id)
    elif child_id in stored:
        # What is sent to that id is journalled for the stored agent, not for a child of
        # the same name.
        problem = directive_problem(
            f"an agent {child_id!r} is in storage and has not stopped (restore it first)",
            child_id=child_id,
        )
        return problem, f"not registered: {AgentExists(child_id)}"
    elif d.tag in tags:
        problem = directive_problem(f"child tag {d.tag!r} is already in use", tag=d.tag)
    else:
        return None
    return _not_started(problem)


def start_failed(child_id: str, exc: Exception) -> tuple[Problem, str]:
    """The refusal of a child that passed :func:`spawn_refused` but could not be built or
    started (``exc``: a bad initial state, the runtime closing): the directive problem and
    the reason the parent's ``child.exit`` gives."""
    return _not_started(directive_problem(f"cannot start {child_id!r}: {exc}", child_id=child_id))


def _not_started(problem: Problem) -> tuple[Problem, str]:
    return problem, f"not started: {problem.message}"


def effect_source(effect: str) -> str:
    """The ``source`` of the outcome signals of the effect named ``effect``.

    >>> effect_source("llm.draft")
    'jido://effect/llm.draft'
    """
    return f"jido://effect/{effect}"


def _trace_of(cause: Signal, causation: str) -> dict[str, str | int | bool]:
    """The trace context a signal made from ``cause``'s step carries, as ``step`` stamps
    it: ``causationid``, ``cause``'s correlation id (or its id, a chain's first link), and
    its ``traceparent`` / ``tracestate``."""
    ext: dict[str, str | int | bool] = {
        "causationid": causation,
        "correlationid": cause.correlation_id or cause.id,
    }
    for k in ("traceparent", "tracestate"):
        if k in cause.extensions:
            ext[k] = cause.extensions[k]
    return ext


def outcome_signal(
    invoke: Invoke,
    outcome: tuple[Literal["ok"], JsonValue] | tuple[Literal["error"], str, str],
    *,
    cause: Signal | None,
    time: datetime | None,
) -> Signal:
    """The ``on_ok`` / ``on_error`` signal for an effect's outcome.

    Its id is ``<key>:ok`` or ``<key>:error`` (deterministic: the key is), its source
    ``jido://effect/<name>``; it carries the trace context of the step that invoked it. A
    result no signal can carry (not JSON: a set, NaN, a string holding a lone surrogate, an
    integer of more than 4300 digits) becomes an ``InvalidResult`` error outcome; an error's
    type and message are passed through :func:`as_text`, so the error outcome is always built.
    """
    base: dict[str, object] = {
        "effect": invoke.effect,
        "key": invoke.key,
        "context": invoke.context,
    }
    ext = {"causationid": invoke.key} if cause is None else _trace_of(cause, invoke.key)
    source = effect_source(invoke.effect)
    if outcome[0] == "ok":
        try:
            return Signal(
                type=invoke.on_ok,
                source=source,
                id=f"{invoke.key}:ok",
                time=time,
                data={"result": outcome[1], **base},
                extensions=ext,
            )
        except InvalidSignal as exc:
            error = {"type": "InvalidResult", "message": str(exc)}
    else:
        error = {"type": as_text(outcome[1]), "message": as_text(outcome[2])}
    return Signal(
        type=invoke.on_error,
        source=source,
        id=f"{invoke.key}:error",
        time=time,
        data={"error": error, **base},
        extensions=ext,
    )


#: The source of the lifecycle signals a runtime sends (see :func:`system_signal`).
SYSTEM_SOURCE: Final = "jido://runtime"


def system_id(agent_id: str, cause: str, seq: int) -> str:
    """The id of the lifecycle signal :func:`system_signal` makes for these arguments."""
    return derive_id(f"system:{cause}", agent_id, seq)


def system_signal(
    type: str, data: object, *, agent_id: str, cause: str, seq: int, time: datetime | None
) -> Signal:
    """A lifecycle signal (child started / exited, orphaned, sensor exit) for ``agent_id``.

    Its strings pass through :func:`as_text`: a reason may be an exception's message, and
    an agent or a runtime must not fail for want of telling its parent why a child ended.
    """
    if isinstance(data, dict):
        data = {k: as_text(v) if isinstance(v, str) else v for k, v in data.items()}
    return Signal(
        type=type,
        source=SYSTEM_SOURCE,
        id=system_id(agent_id, cause, seq),
        time=time,
        data=data,
    )
