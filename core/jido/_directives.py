"""Directives: commands from the core to an interpreter, as plain data.

``step`` never performs an effect; it returns directives that say what should happen. Each is a
frozen, final, data-only class (no callables), so a directive list can be asserted on,
serialized, reviewed in a dry run or replayed. Outcomes come back as signals.

The built-in union is closed (:data:`BuiltinDirective`); users add their own kinds by
subclassing :class:`CustomDirective`, and an interpreter without a handler for one reports a
clear error instead of crashing.
"""

from __future__ import annotations

import math
from typing import Any, Final, TypeAlias, final

import attrs

from ._errors import Problem, ProblemKind
from ._json import EMPTY, FrozenMap, JsonValue, _surrogate_in, carried_map, freeze_map
from ._signal import DRAFT, Signal, is_valid_type

__all__ = [
    "PARENT",
    "SELF",
    "AdoptChild",
    "BuiltinDirective",
    "Cron",
    "CronCancel",
    "CustomDirective",
    "Directive",
    "Emit",
    "Error",
    "Invoke",
    "Schedule",
    "SpawnAgent",
    "StartSensor",
    "Stop",
    "StopChild",
    "StopSensor",
    "Target",
    "ToAgent",
    "ToParent",
    "ToSelf",
    "ToSink",
    "adopt_child",
    "cron",
    "cron_cancel",
    "emit",
    "emit_to",
    "emit_to_parent",
    "emit_to_sink",
    "error",
    "invoke",
    "schedule",
    "spawn_agent",
    "start_sensor",
    "stop",
    "stop_child",
    "stop_sensor",
]


def _text(_: object, attribute: attrs.Attribute[str], value: object) -> None:
    # A stop's reason goes into lifecycle signals and traces: text, as JSON writes it.
    if not isinstance(value, str):
        raise TypeError(f"{attribute.name} must be a string, got {value!r}")


def _non_empty(_: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{attribute.name} must be a non-empty string, got {value!r}")
    if not value.isascii():
        # A name that is no Unicode text could not be written out (the directive, or the
        # signals built from it: an effect's outcome has the effect's name as its source).
        found = _surrogate_in(value)
        if found is not None:
            raise ValueError(
                f"{attribute.name} {value!r} holds a lone surrogate (\\u{ord(found):04x}),"
                " which UTF-8 cannot encode"
            )


def _optional_name(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    # ``None`` (the default is made up), else a name as ``_non_empty`` wants it.
    if value is not None:
        _non_empty(instance, attribute, value)


def _signal_type(_: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str) or not is_valid_type(value):
        raise ValueError(f"{attribute.name} {value!r} is not a valid signal type")


# ---------------------------------------------------------------------------- targets


@final
@attrs.frozen
class ToSelf:
    """Deliver to the agent that emitted."""


@final
@attrs.frozen
class ToParent:
    """Deliver to the emitting agent's parent (an error in the trace if it has none)."""


@final
@attrs.frozen
class ToAgent:
    """Deliver to the agent with this id."""

    id: str = attrs.field(validator=_non_empty)


@final
@attrs.frozen
class ToSink:
    """Deliver to a named sink the interpreter was configured with (a log, a queue, a bus)."""

    name: str = attrs.field(validator=_non_empty)


Target: TypeAlias = ToSelf | ToParent | ToAgent | ToSink

#: Deliver to the emitting agent itself (the default target of :class:`Emit`).
SELF = ToSelf()
#: Deliver to the emitting agent's parent.
PARENT = ToParent()


# ---------------------------------------------------------------------------- directives


def _is_signal(_: object, attribute: attrs.Attribute[Signal], value: object) -> None:
    if type(value) is not Signal:
        raise TypeError(f"{attribute.name} must be a Signal, got {type(value).__name__} {value!r}")


def _is_target(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if type(value) not in _TARGETS:
        raise TypeError(
            f"{attribute.name} must be a target (SELF, PARENT, ToAgent(id), ToSink(name)),"
            f" got {type(value).__name__} {value!r}"
        )


_TARGETS: Final = frozenset({ToSelf, ToParent, ToAgent, ToSink})


@final
@attrs.frozen(kw_only=True)
class Emit:
    """Send ``signal`` to ``to``."""

    signal: Signal = attrs.field(validator=_is_signal)
    to: Target = attrs.field(default=SELF, validator=_is_target)


@final
@attrs.frozen(kw_only=True)
class Invoke:
    """Run the named effect with ``args``; its outcome returns as a signal.

    On success the interpreter sends the agent a signal of type ``on_ok`` with data
    ``{"result": <handler's value>, "effect", "key", "context"}``; on failure, one of type
    ``on_error`` with data ``{"error": {"type", "message"}, "effect", "key", "context"}``.
    ``context`` is passed through untouched, for the handling action to know which request
    this was.

    Attributes:
        key: a deterministic idempotency key; ``step`` derives it (from the handled signal,
            the agent and the position) when the action leaves it unset.
    """

    effect: str = attrs.field(validator=_non_empty)
    args: FrozenMap[str, JsonValue] = attrs.field(default=EMPTY, converter=freeze_map)
    on_ok: str = attrs.field(validator=_signal_type)
    on_error: str = attrs.field(validator=_signal_type)
    context: FrozenMap[str, JsonValue] = attrs.field(default=EMPTY, converter=carried_map)
    key: str = attrs.field(default=DRAFT, validator=_non_empty)


def _delay(value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"delay must be a number of seconds, got {value!r}")
    try:
        seconds = float(value)
    except OverflowError:  # an integer past the largest float: no finite number of seconds
        raise ValueError("delay must be finite and >= 0, got an integer past any float") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"delay must be finite and >= 0, got {value!r}")
    return seconds


@final
@attrs.frozen(kw_only=True)
class Schedule:
    """Deliver ``signal`` to the agent itself after ``delay`` seconds."""

    delay: float = attrs.field(converter=_delay)
    signal: Signal


@final
@attrs.frozen(kw_only=True)
class Cron:
    """Register (or replace) a recurring job: ``signal`` is delivered on every tick.

    The expression is parsed by the interpreter (standard five-field cron, or six fields with
    the seconds *last*, as croniter reads them); an expression it cannot parse, one that
    matches no date (April 31st), or an unknown timezone is reported as a problem, not a
    crash. So is croniter's random ``R`` (``R``, ``R(a-b)``, ``R/n``): the job would tick
    at other times on every run. A job whose dates run out (a year field) ends after its
    last tick. Across daylight-saving changes in ``timezone``, a job at fixed times of day
    ticks once per wall-clock time (once in an hour the clocks repeat, right after one
    they skip), any other job by real time (in both passes of a repeated hour), as in
    Vixie cron.
    """

    expression: str = attrs.field(validator=_non_empty)
    signal: Signal
    job_id: str = attrs.field(validator=_non_empty)
    timezone: str = attrs.field(default="UTC", validator=_non_empty)


@final
@attrs.frozen(kw_only=True)
class CronCancel:
    """Cancel the recurring job ``job_id``; an unknown id is a no-op."""

    job_id: str = attrs.field(validator=_non_empty)


@final
@attrs.frozen(kw_only=True)
class SpawnAgent:
    """Start a child agent from the spec registered under ``spec``, tracked under ``tag``.

    The child's id is ``id`` or, by default, ``"<parent id>/<tag>"``. ``state`` is merged over
    the child spec's defaults. The parent receives ``jido.agent.child.started`` once it runs.
    """

    spec: str = attrs.field(validator=_non_empty)
    tag: str = attrs.field(validator=_non_empty)
    id: str | None = attrs.field(default=None, validator=_optional_name)
    state: FrozenMap[str, JsonValue] = attrs.field(default=EMPTY, converter=freeze_map)
    meta: FrozenMap[str, JsonValue] = attrs.field(default=EMPTY, converter=carried_map)


@final
@attrs.frozen(kw_only=True)
class StopChild:
    """Stop the child tracked under ``tag``; the parent then gets ``jido.agent.child.exit``."""

    tag: str = attrs.field(validator=_non_empty)
    reason: str = attrs.field(default="normal", validator=_text)


@final
@attrs.frozen(kw_only=True)
class AdoptChild:
    """Adopt the running, parentless agent ``child_id`` as a child tracked under ``tag``."""

    child_id: str = attrs.field(validator=_non_empty)
    tag: str = attrs.field(validator=_non_empty)
    meta: FrozenMap[str, JsonValue] = attrs.field(default=EMPTY, converter=carried_map)


@final
@attrs.frozen(kw_only=True)
class StartSensor:
    """Start (or replace) the sensor registered as ``sensor``, tracked under ``tag``.

    When the sensor ends (it runs out, with reason ``"normal"``, or fails, with the error as
    the reason) the agent gets ``jido.agent.sensor.exit`` (``{tag, sensor, reason}``); a
    sensor stopped by ``StopSensor`` or with its agent ends silently.
    """

    sensor: str = attrs.field(validator=_non_empty)
    tag: str = attrs.field(validator=_non_empty)
    config: FrozenMap[str, JsonValue] = attrs.field(default=EMPTY, converter=freeze_map)


@final
@attrs.frozen(kw_only=True)
class StopSensor:
    """Stop the sensor tracked under ``tag``; an unknown tag is a no-op."""

    tag: str = attrs.field(validator=_non_empty)


@final
@attrs.frozen(kw_only=True)
class Stop:
    """Stop this agent; directives after this one in the same step are not executed."""

    reason: str = attrs.field(default="normal", validator=_text)


@final
@attrs.frozen(kw_only=True)
class Error:
    """Report a problem; the agent's state was left unchanged by whatever caused it."""

    problem: Problem = attrs.field(validator=attrs.validators.instance_of(Problem))


@attrs.frozen(kw_only=True)
class CustomDirective:
    """Base for user-defined directives: subclass it with ``@attrs.frozen`` and data fields.

    Interpreters look up a handler by class; one with no handler records a ``directive``
    problem in its trace. To serialize one, register its class with ``jido.serde.Codec``.
    A draft signal (``Signal.draft``) it holds in a field, or in a tuple in a field, is
    stamped by ``step`` as an ``Emit``'s is; one nested deeper is not. Fields decode as they
    are annotated: signals in a field typed ``tuple[Signal, ...]`` come back as signals, in one
    typed bare ``tuple`` or ``Any`` as plain dicts.
    """


BuiltinDirective: TypeAlias = (
    Emit
    | Invoke
    | Schedule
    | Cron
    | CronCancel
    | SpawnAgent
    | StopChild
    | AdoptChild
    | StartSensor
    | StopSensor
    | Stop
    | Error
)
Directive: TypeAlias = BuiltinDirective | CustomDirective


# ---------------------------------------------------------------------------- helpers


def emit(
    type: str,
    data: object = None,
    *,
    to: Target = SELF,
    subject: str | None = None,
) -> Emit:
    """Emit a new signal of ``type`` (a draft that ``step`` stamps) to ``to`` (self by default).

    >>> emit("counter.incremented", {"count": 1}).signal.type
    'counter.incremented'
    """
    # The draft is checked by Signal.draft and the target here, as Emit's validators would:
    # this is the hot path of every action that emits, so the instance is filled directly.
    if to is not SELF and to.__class__ not in _TARGETS:  # (``type`` is the signal type here)
        _is_target(None, _EMIT_TO, to)
    new: Emit = _new(Emit)
    _set_emit_signal(new, Signal.draft(type, data, subject=subject))
    _set_emit_to(new, to)
    return new


_new = object.__new__
_set_emit_signal = Emit.__dict__["signal"].__set__
_set_emit_to = Emit.__dict__["to"].__set__
_set_to_agent_id = ToAgent.__dict__["id"].__set__
_EMIT_TO: Final = attrs.fields(Emit).to


def emit_to_parent(type: str, data: object = None, *, subject: str | None = None) -> Emit:
    """Emit a new signal to this agent's parent."""
    return emit(type, data, to=PARENT, subject=subject)


def emit_to(agent_id: str, type: str, data: object = None, *, subject: str | None = None) -> Emit:
    """Emit a new signal to the agent ``agent_id``."""
    if agent_id.__class__ is str and agent_id:
        # ToAgent's one check, done here: emitting to another agent is the hot path of
        # every pipeline.
        to: ToAgent = _new(ToAgent)
        _set_to_agent_id(to, agent_id)
    else:
        to = ToAgent(agent_id)  # raises the validator's error
    return emit(type, data, to=to, subject=subject)


def emit_to_sink(sink: str, type: str, data: object = None, *, subject: str | None = None) -> Emit:
    """Emit a new signal to the named sink ``sink``."""
    return emit(type, data, to=ToSink(sink), subject=subject)


def invoke(
    effect: str,
    args: object = None,
    *,
    on_ok: str,
    on_error: str,
    context: object = None,
) -> Invoke:
    """Ask the interpreter to run ``effect(args)``; see :class:`Invoke`."""
    return Invoke(
        effect=effect,
        args=args,
        on_ok=on_ok,
        on_error=on_error,
        context=context,
    )


def schedule(delay: float, type: str, data: object = None) -> Schedule:
    """Deliver a new signal of ``type`` to this agent after ``delay`` seconds."""
    return Schedule(delay=delay, signal=Signal.draft(type, data))


def cron(
    expression: str, type: str, data: object = None, *, job_id: str, timezone: str = "UTC"
) -> Cron:
    """Deliver a new signal of ``type`` to this agent on every tick of ``expression``."""
    return Cron(
        expression=expression, signal=Signal.draft(type, data), job_id=job_id, timezone=timezone
    )


def cron_cancel(job_id: str) -> CronCancel:
    """Cancel the recurring job ``job_id``."""
    return CronCancel(job_id=job_id)


def spawn_agent(
    spec: str,
    tag: str,
    *,
    id: str | None = None,
    state: object = None,
    meta: object = None,
) -> SpawnAgent:
    """Start a child agent; see :class:`SpawnAgent`."""
    return SpawnAgent(spec=spec, tag=tag, id=id, state=state, meta=meta)


def stop_child(tag: str, reason: str = "normal") -> StopChild:
    """Stop the child tracked under ``tag``."""
    return StopChild(tag=tag, reason=reason)


def adopt_child(child_id: str, tag: str, meta: object = None) -> AdoptChild:
    """Adopt the parentless agent ``child_id`` under ``tag`` (not the adopter itself, nor
    one of its ancestors: every runtime refuses those, as a directive problem)."""
    return AdoptChild(child_id=child_id, tag=tag, meta=meta)


def start_sensor(sensor: str, tag: str, config: object = None) -> StartSensor:
    """Start the sensor registered as ``sensor`` under ``tag``."""
    return StartSensor(sensor=sensor, tag=tag, config=config)


def stop_sensor(tag: str) -> StopSensor:
    """Stop the sensor tracked under ``tag``."""
    return StopSensor(tag=tag)


def stop(reason: str = "normal") -> Stop:
    """Stop this agent."""
    return Stop(reason=reason)


def error(kind: ProblemKind, message: str, /, **details: object) -> Error:
    """An :class:`Error` directive carrying ``Problem.of(kind, message, **details)``."""
    return Error(problem=Problem.of(kind, message, **details))
