"""Supervision shared by every interpreter: what a crash under an error policy records, and
why an agent stopped by one says it stopped.

AsyncRuntime applies :class:`~jido_interpreters.AgentOptions` to every agent (its default is
``Continue()``). SyncRuntime, Simulation, DryRun and ``AgentMachine`` apply them only to the
agents of specs they were given options for (``options=`` by spec name, or
``default_options=`` for every spec): without, a crash is raised to the caller as it always
was, so that a bug in a test never passes unseen. With, a crash follows the policy as it does
on AsyncRuntime, with the same lifecycle signals and reasons, and is recorded as a
:class:`CrashHandled`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Mapping
from typing import Any, Final, Literal, TypeAlias, assert_never, final

import attrs

from jido import ActionCrashed, Emit, Signal

from ._options import AgentOptions, Continue, ErrorPolicy, Escalate, Restart, StopAgent
from ._outcomes import SYSTEM_SOURCE, as_text

__all__ = [
    "PASSING",
    "PASSING_ASYNC",
    "CrashHandled",
    "CrashOutcome",
    "check_option_names",
    "check_options",
    "crash_message",
    "crash_reason",
    "handler_crash",
    "judge",
    "options_json",
    "policy_name",
    "why",
]

#: What a policy did with a crash: the agent went on (``Continue``), was stopped
#: (``StopAgent``), restarted (``Restart``), or stopped with its parent told why (``Escalate``,
#: or ``Restart`` past its limit).
CrashOutcome: TypeAlias = Literal["continued", "stopped", "restarted", "escalated"]


#: What user code may raise that is no crash of its own but the end of the process (an
#: interrupt, an exit): every runtime lets it pass (under asyncio it then ends the event
#: loop's run, as from any task). Anything else user code raises, a ``BaseException`` that is
#: no ``Exception`` included (an ``asyncio.CancelledError`` or a ``GeneratorExit`` it raised
#: itself), is a crash of the agent's, as :class:`jido.ActionCrashed` is: it follows the
#: agent's error policy, or is a directive handler's crash, a waiter's exception.
PASSING: Final = (KeyboardInterrupt, SystemExit)

#: :data:`PASSING`, for what is a coroutine (an async effect handler, a sensor): also
#: ``GeneratorExit``, which Python throws into a coroutine it closes, and which the coroutine
#: must not catch. Anything else it raises is an effect's ``on_error``, a sensor's exit.
PASSING_ASYNC: Final = (*PASSING, GeneratorExit)


def crash_message(exc: BaseException) -> str:
    """What a crash says, with the exception behind it: ``action 'pay' of agent 'a' raised
    handling 'x.pay': KeyError: 'card'`` (an :class:`~jido.ActionCrashed` names the action;
    its ``__cause__`` is what the action raised). Text throughout (see
    :func:`~jido_interpreters._outcomes.as_text`): an exception's message may hold a lone
    surrogate, which a trace, a terminal or a log could not write."""
    cause = exc.__cause__
    return as_text(str(exc) if cause is None else f"{exc}: {type(cause).__name__}: {cause}")


def why(what: str, exc: BaseException) -> str:
    """``what``, with the exception behind the crash ``exc``: ``crashed: KeyError: 'card'``."""
    cause = exc.__cause__ or exc
    return as_text(f"{what}: {type(cause).__name__}: {cause}")


def crash_reason(policy: StopAgent | Escalate, exc: BaseException) -> str:
    """Why an agent that crashed with ``exc`` stopped under ``policy`` (what its parent's
    ``child.exit`` says), on every runtime, live and when a recovery repeats the crash."""
    if isinstance(policy, StopAgent):
        return "crashed"
    return why("crashed", exc)


def judge(
    policy: ErrorPolicy, exc: BaseException, restarts: deque[float], now: float
) -> tuple[CrashOutcome, str | None]:
    """What ``policy`` does with the crash ``exc``, on every runtime: the outcome, and the
    reason the agent stops with if it stops (its parent's ``child.exit`` says it).

    ``restarts`` holds the times of the agent's earlier restarts, ``now`` the time of this
    crash, both on the runtime's clock (virtual seconds, or AsyncRuntime's ``clock`` in
    epoch seconds). Under ``Restart`` this crash's time is added and the times out of the
    policy's window are dropped, so that afterwards ``len(restarts)`` counts the restarts
    within the window (this one too); past ``max_restarts`` the agent escalates instead.
    """
    match policy:
        case Continue():
            return "continued", None
        case StopAgent():
            return "stopped", crash_reason(policy, exc)
        case Restart(max_restarts=limit, within=window):
            restarts.append(now)
            while restarts and restarts[0] < now - window:
                restarts.popleft()
            if len(restarts) > limit:
                return "escalated", why(f"restarted {limit} times within {window:g}s", exc)
            return "restarted", None
        case Escalate():
            return "escalated", crash_reason(policy, exc)
        case _:
            assert_never(policy)


def policy_name(policy: ErrorPolicy) -> Literal["continue", "stop", "restart", "escalate"]:
    """The policy's name in a record or a trace."""
    match policy:
        case Continue():
            return "continue"
        case StopAgent():
            return "stop"
        case Restart():
            return "restart"
        case Escalate():
            return "escalate"
        case _:
            assert_never(policy)


def check_options(
    options: Mapping[str, AgentOptions] | None, default_options: AgentOptions | None
) -> dict[str, AgentOptions]:
    """``options`` as a dict, each checked to be an :class:`AgentOptions` (as AsyncRuntime
    checks them).

    Raises:
        TypeError: an option is not an :class:`AgentOptions` (named).
    """
    if options is not None and not isinstance(options, Mapping):
        raise TypeError(f"options must be a mapping of spec name to AgentOptions, not {options!r}")
    given: list[tuple[str, object]] = [*(options or {}).items()]
    if default_options is not None:
        given.append(("default_options", default_options))
    for name, opts in given:
        if not isinstance(opts, AgentOptions):
            raise TypeError(f"options for {name!r} must be AgentOptions, not {opts!r}")
    return dict(options or {})


def check_option_names(options: Mapping[str, object], specs: Collection[str]) -> None:
    """Refuse ``options`` for a spec name none of ``specs`` (the names of the specs a
    runtime or a scenario is built with) has: a typo (``"wroker"``) would leave the spec it
    meant under the default options, without a word. Options are given for the specs listed
    where they are given; a spec only started later takes ``default_options``.

    Raises:
        ValueError: a name is no spec's (each such named, with the specs there are).
    """
    unknown = [name for name in options if name not in specs]
    if unknown:
        raise ValueError(
            f"options name no spec of this runtime: {', '.join(map(repr, unknown))}"
            f" (its specs: {', '.join(map(repr, specs)) or 'none'}); options are for the"
            " specs it is built with"
        )


def options_json(opts: AgentOptions) -> dict[str, Any]:
    """What of ``opts`` changes a run on virtual time, as JSON for a simulation trace's
    header: the error policy and ``on_parent_death`` (a mailbox bound and an effect timeout
    mean nothing there)."""
    policy = opts.error_policy
    kind = policy_name(policy)
    recorded: object = kind
    if isinstance(policy, Restart):
        recorded = {kind: {"max_restarts": policy.max_restarts, "within": policy.within}}
    return {"error_policy": recorded, "on_parent_death": opts.on_parent_death}


@final
@attrs.frozen(kw_only=True)
class CrashHandled:
    """A crash in user code (an action raising, a route guard, a custom strategy, a custom
    directive handler) that the agent's error policy handled: ``SyncRuntime.crashes``, and
    an event of a simulation's trace.

    Attributes:
        index: in a simulation, the event's position in the run; in SyncRuntime, the index
            the crashed step's trace entry would have had (a crashed step commits nothing,
            so it has none).
        at: virtual seconds since the epoch.
        agent_id: the agent that crashed.
        sender: in a simulation, where the signal came from (as ``SignalDelivered.sender``);
            ``None`` in SyncRuntime.
        signal: the signal whose step (or whose directives) crashed.
        policy: ``"continue"``, ``"stop"``, ``"restart"`` or ``"escalate"``.
        outcome: what the policy did (see :data:`CrashOutcome`).
        reason: the reason the agent stopped with (its parent's ``child.exit`` says it), if
            it stopped.
        message: the crash and the exception behind it (:func:`crash_message`).
    """

    index: int
    at: float
    agent_id: str
    sender: str | None = None
    signal: Signal
    policy: Literal["continue", "stop", "restart", "escalate"]
    outcome: CrashOutcome
    reason: str | None = None
    message: str


def handler_crash(
    agent_id: str, cause: Signal | None, d: object, exc: BaseException
) -> tuple[Signal, ActionCrashed]:
    """The crash of a directive handler that raised ``exc`` on ``d``, with the signal it is
    a crash of: the step's cause, or a stand-in for directives no signal caused (an agent's
    startup schedules), on every runtime alike."""
    trigger = cause or Signal(type="jido.directive", source=SYSTEM_SOURCE, id="-")
    crash = ActionCrashed(agent_id, type(d).__name__, trigger.type)
    crash.__cause__ = exc
    # Its message names the directive where an action's would be (kept so: simulation
    # traces and restart notices hold it); a traceback and the CLI show this note too.
    handler = (
        "the sink function an Emit directive targets"
        if isinstance(d, Emit)
        else f"the handler of the {type(d).__name__} directive"
    )
    crash.add_note(f"{handler} raised, not an action")
    return trigger, crash
