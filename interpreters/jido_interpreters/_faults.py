"""Fault plans and fault events: what a simulation may do wrong, and what it did.

A :class:`FaultPlan` says how often each kind of fault happens; the simulation draws every
fault from its seeded random generator, so a plan and a seed fix the faults exactly. Each
fault injected is recorded in the trace as one of the event classes here (:data:`Fault`).
"""

from __future__ import annotations

import json
import math
from typing import Any, Final, Literal, TypeAlias, final, get_args

import attrs

from jido import JidoError, Signal
from jido.serde import DecodeError

from ._jsonl import split_lines

__all__ = [
    "FAULT_CLASSES",
    "NO_FAULTS",
    "AgentCrashed",
    "EffectDelayed",
    "EffectFailed",
    "EffectReissued",
    "Fault",
    "FaultPlan",
    "InvalidFaultPlan",
    "MessageDelayed",
    "MessageDropped",
    "MessageDuplicated",
    "MessageReordered",
    "Recovery",
    "fault_plan_from_json",
]

#: How a crashed agent comes back: see :attr:`FaultPlan.recovery`.
Recovery: TypeAlias = Literal["durable", "restart"]
_RECOVERIES: Final[tuple[str, ...]] = get_args(Recovery)

_PROBABILITIES: Final = (
    "drop",
    "delay",
    "duplicate",
    "reorder",
    "crash",
    "effect_failure",
    "effect_latency",
)
_DURATIONS: Final = ("max_delay", "max_latency")
# Sums of probabilities are compared with a little slack: 0.1 + 0.2 + 0.3 + 0.4 > 1.0 in
# binary floating point, and a plan written that way should be accepted.
_SLACK: Final = 1e-9


class InvalidFaultPlan(JidoError, ValueError):
    """A fault plan field holds a value that makes no sense.

    Attributes:
        field: the offending field (for a sum that exceeds 1, the last field set in it).
        value: the rejected value.
        reason: why it was rejected.
    """

    def __init__(self, field: str, value: object, reason: str) -> None:
        super().__init__(f"fault plan {field} {value!r}: {reason}")
        self.field = field
        self.value = value
        self.reason = reason


@final
@attrs.frozen(kw_only=True)
class FaultPlan:
    """How often a :class:`~jido_interpreters.Simulation` injects each kind of fault.

    Every field defaults to 0: the default plan injects nothing.

    *Message* faults hit signals that cross between parties — an agent's emit to another
    agent or to its parent, and inputs sent from outside — as they arrive. An agent's signals
    to itself, lifecycle signals (child started, child exit...), timers and effect outcomes
    are local and never hit by them. One draw per message picks at most one of ``drop``,
    ``delay``, ``duplicate`` and ``reorder``, so their sum may not exceed 1; a message that
    was delayed, reordered or is itself a duplicate is not faulted again.

    Attributes:
        drop: probability that a message is lost.
        delay: probability that it is held back for up to ``max_delay`` seconds, so that
            later messages and timers may overtake it.
        duplicate: probability that it is delivered, and a copy arrives again later.
        reorder: probability that it is sent to the back of its link: every message sent
            before on the same (sender, receiver) link arrives before it.
        crash: after each delivery, the probability that one agent, chosen at random,
            crashes and comes back from its last state, as ``recovery`` says.
        effect_failure: probability that an ``Invoke`` outcome is replaced by an error of
            type ``InjectedFault`` — the effect ran, but its caller is told it failed (the
            hard case for idempotency).
        effect_latency: probability that an ``Invoke`` outcome arrives up to
            ``max_latency`` seconds late. ``effect_failure + effect_latency`` may not
            exceed 1.
        max_delay: the longest message delay, in virtual seconds (> 0).
        max_latency: the longest extra effect latency, in virtual seconds (> 0).
        recovery: how a crashed agent comes back. ``"durable"`` (the default): as a durable
            ``AsyncRuntime`` recovers it from its journal — its value, timers, cron jobs and
            sensors are kept, and every effect it invoked whose outcome had not arrived is
            invoked again (the first outcome is lost with the crash; the handler runs a
            second time, which is what makes effects at-least-once). Its sensors go on where
            they were, unlike a restore's, which starts each again from its beginning, so
            that the agent handles the readings from before the crash a second time (under
            new ids: see docs/runtime.md). ``"restart"``: as a
            ``Restart`` error policy restarts an agent without storage — its value is kept,
            what it armed in memory (``Schedule``, cron ticks, sensor emissions) is lost, and
            its spec's startup schedules are registered again; effects in flight still
            deliver their outcomes.

    Raises:
        InvalidFaultPlan: a probability outside [0, 1], a sum above 1, a duration that is not
            a finite number above 0, a ``recovery`` that is neither ``"durable"`` nor
            ``"restart"``.
    """

    drop: float = 0.0
    delay: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    crash: float = 0.0
    effect_failure: float = 0.0
    effect_latency: float = 0.0
    max_delay: float = 1.0
    max_latency: float = 1.0
    recovery: Recovery = "durable"

    def __attrs_post_init__(self) -> None:
        if self.recovery not in _RECOVERIES:
            raise InvalidFaultPlan(
                "recovery", self.recovery, f"must be one of {', '.join(map(repr, _RECOVERIES))}"
            )
        for name in (*_PROBABILITIES, *_DURATIONS):
            value: object = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidFaultPlan(name, value, "must be a number")
            try:
                value = float(value)  # an int too large for a float is not finite either
            except OverflowError:
                value = math.inf
            if not math.isfinite(value):
                raise InvalidFaultPlan(name, getattr(self, name), "must be finite")
            if name in _DURATIONS and value <= 0:
                raise InvalidFaultPlan(name, value, "must be a number of seconds above 0")
            if name in _PROBABILITIES and not 0 <= value <= 1:
                raise InvalidFaultPlan(name, value, "must be a probability in [0, 1]")
            object.__setattr__(self, name, float(value))
        self._sum_at_most_one("message", ("drop", "delay", "duplicate", "reorder"))
        self._sum_at_most_one("effect", ("effect_failure", "effect_latency"))

    def _sum_at_most_one(self, what: str, names: tuple[str, ...]) -> None:
        # The faults of one kind share a draw, so their probabilities must fit in [0, 1]
        # together. The error names the fields that were set, the last of them as ``field``.
        terms = [(n, float(getattr(self, n))) for n in names if getattr(self, n)]
        total = sum(v for _, v in terms)
        if total > 1 + _SLACK:
            written = " + ".join(f"{n} {v!r}" for n, v in terms)
            raise InvalidFaultPlan(
                terms[-1][0],
                terms[-1][1],
                f"{written} = {total!r} exceeds 1 (the {what} faults share one draw)",
            )


#: The plan that injects no fault.
NO_FAULTS: Final = FaultPlan()


def fault_plan_from_json(text: str, *, name: str = "fault plan") -> FaultPlan:
    """Parse a fault plan: a JSON object of :class:`FaultPlan` fields to their values.

    >>> fault_plan_from_json('{"drop": 0.1, "crash": 0.01}').drop
    0.1

    Args:
        text: the JSON text.
        name: what to call the input in error messages (a file name).

    Raises:
        DecodeError: the text is not a JSON object (or is nested too deep to read), names
            an unknown field or one twice, or holds a bad value; ``what`` is ``"<name> line
            <n>"``, the line of the offending key where it can be found.
    """
    try:
        raw: Any = json.loads(text, object_pairs_hook=_once_each)
    except json.JSONDecodeError as exc:
        raise DecodeError(f"{name} line {exc.lineno}", f"not JSON: {exc.msg}") from None
    except RecursionError:
        raise DecodeError(
            f"{name} line 1", "values are nested deeper than the JSON reader goes"
        ) from None
    except _Repeated as exc:
        raise DecodeError(
            f"{name} line {_line_of(text, exc.key, last=True)}",
            f"{exc.key!r} is given twice (which one was meant?)",
        ) from None
    if not isinstance(raw, dict):
        raise DecodeError(f"{name} line 1", "expected a JSON object of fault plan fields")
    known = (*_PROBABILITIES, *_DURATIONS, "recovery")
    for key in raw:
        if key not in known:
            raise DecodeError(
                f"{name} line {_line_of(text, key)}",
                f"unknown fault {key!r}; expected some of {', '.join(known)}",
            )
    try:
        return FaultPlan(**raw)
    except InvalidFaultPlan as exc:
        raise DecodeError(f"{name} line {_line_of(text, exc.field)}", str(exc)) from None


class _Repeated(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _once_each(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # A plan written by hand may set a fault twice; JSON keeps the last, silently.
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Repeated(key)
        out[key] = value
    return out


def _line_of(text: str, key: str, *, last: bool = False) -> int:
    needle = json.dumps(key)
    found = 1
    for lineno, line in enumerate(split_lines(text), start=1):
        if needle in line:
            if not last:
                return lineno
            found = lineno
    return found


# ---------------------------------------------------------------------------- fault events


@final
@attrs.frozen(kw_only=True)
class MessageDropped:
    """A message was lost on its way to ``agent_id``.

    Attributes:
        index: the event's position in the run, from 0.
        at: virtual seconds since the epoch of the run.
        agent_id: the addressee.
        sender: the sending agent's id, or ``"@input"`` for an input from outside.
        signal: the message.
    """

    index: int
    at: float
    agent_id: str
    sender: str
    signal: Signal


@final
@attrs.frozen(kw_only=True)
class MessageDelayed:
    """A message was held back; it arrives at ``until`` (virtual seconds)."""

    index: int
    at: float
    agent_id: str
    sender: str
    signal: Signal
    until: float


@final
@attrs.frozen(kw_only=True)
class MessageDuplicated:
    """A message is delivered now (the next event) and a copy of it arrives later."""

    index: int
    at: float
    agent_id: str
    sender: str
    signal: Signal


@final
@attrs.frozen(kw_only=True)
class MessageReordered:
    """A message went to the back of its link: those sent before it on it arrive first."""

    index: int
    at: float
    agent_id: str
    sender: str
    signal: Signal


@final
@attrs.frozen(kw_only=True)
class AgentCrashed:
    """An agent crashed and came back from its last state (see :attr:`FaultPlan.recovery`).

    Attributes:
        lost: how many of its timers (schedules, cron ticks, sensor emissions) were lost:
            always 0 under ``"durable"`` recovery. The effects it invokes again follow as
            :class:`EffectReissued` events.
    """

    index: int
    at: float
    agent_id: str
    lost: int


@final
@attrs.frozen(kw_only=True)
class EffectFailed:
    """The outcome of the effect with this idempotency ``key`` was replaced by an error."""

    index: int
    at: float
    agent_id: str
    effect: str
    key: str


@final
@attrs.frozen(kw_only=True)
class EffectDelayed:
    """The outcome of the effect with this ``key`` arrives late, at ``until``."""

    index: int
    at: float
    agent_id: str
    effect: str
    key: str
    until: float


@final
@attrs.frozen(kw_only=True)
class EffectReissued:
    """A crashed agent's effect whose outcome had not arrived was invoked again on recovery.

    The first invocation's outcome is lost; the handler ran again and its new outcome is in
    flight (``"durable"`` recovery only).
    """

    index: int
    at: float
    agent_id: str
    effect: str
    key: str


#: Every kind of injected fault, as recorded in a simulation's trace.
Fault: TypeAlias = (
    MessageDropped
    | MessageDelayed
    | MessageDuplicated
    | MessageReordered
    | AgentCrashed
    | EffectFailed
    | EffectDelayed
    | EffectReissued
)

#: The classes of :data:`Fault`, for ``isinstance``.
FAULT_CLASSES: Final[tuple[type[Any], ...]] = get_args(Fault)
