"""SyncRuntime: run agents in the calling thread, on a virtual clock, for tests."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any, Final, TypeAlias, TypeVar, final, overload

from jido import (
    ActionCrashed,
    Agent,
    AgentSpec,
    CustomDirective,
    FrozenMap,
    Invoke,
    JsonValue,
    Problem,
    ProblemKind,
    Signal,
    freeze,
)

from ._checks import given_signal, plain_callables
from ._kernel import (
    DEFAULT_EPOCH,
    CallRefused,
    DirectiveHandler,
    EffectOutcome,
    Kernel,
    RunawayError,
    SensorFn,
    UnknownAgent,
)
from ._options import AgentOptions
from ._policy import PASSING, CrashHandled
from ._trace import TraceEntry

__all__ = ["EffectHandler", "SyncRuntime"]

S = TypeVar("S")

#: A synchronous effect handler: gets the ``Invoke`` args, returns a JSON-able result or
#: raises. Its outcome returns to the agent as the ``on_ok`` / ``on_error`` signal.
EffectHandler: TypeAlias = Callable[[FrozenMap[str, JsonValue]], object]


def unknown_effect(invoke: Invoke, problems: list[Problem]) -> EffectOutcome:
    """The outcome of an ``Invoke`` no handler is registered for: a problem and an error."""
    message = f"no handler for effect {invoke.effect!r}"
    problems.append(Problem.of(ProblemKind.EFFECT, message, effect=invoke.effect))
    return ("error", "UnknownEffect", message)


EFFECT_NEEDS: Final = (
    "SyncRuntime and Simulation call an effect's handler and take its result at once, so it"
    " must be a plain function (def) returning it; async handlers are for AsyncRuntime"
)


class _CallHandlers:
    __slots__ = ("handlers", "log")

    def __init__(self, handlers: Mapping[str, EffectHandler] | None) -> None:
        """Raises ``TypeError`` for a handler that is not callable, or is async."""
        self.handlers = plain_callables("effect", handlers, EFFECT_NEEDS)
        self.log: list[tuple[str, Invoke, EffectOutcome]] = []

    def perform(self, invoke: Invoke, agent_id: str, problems: list[Problem]) -> EffectOutcome:
        fn = self.handlers.get(invoke.effect)
        outcome: EffectOutcome
        if fn is None:
            outcome = unknown_effect(invoke, problems)
        else:
            try:
                result = fn(invoke.args)
            except PASSING:
                raise
            except BaseException as exc:
                outcome = ("error", type(exc).__name__, str(exc))
            else:
                try:
                    outcome = ("ok", freeze(result))
                except TypeError as exc:
                    outcome = ("error", "InvalidResult", str(exc))
        self.log.append((agent_id, invoke, outcome))
        return outcome


class _Runtime:
    """What every synchronous interpreter offers (SyncRuntime, DryRun)."""

    _kernel: Kernel

    @overload
    def start(
        self, spec: AgentSpec[S], id: str, state: S | Mapping[str, Any] | None = None
    ) -> Agent[S]: ...
    @overload
    def start(self, spec: str, id: str, state: object = None) -> Agent[Any]: ...
    def start(self, spec: AgentSpec[Any] | str, id: str, state: object = None) -> Agent[Any]:
        """Start an agent (registering its spec if given one) and run until idle.

        Returns:
            The agent once everything its start caused has been handled. Given the spec
            itself, not its name, it is typed as an agent of the spec's state class.

        Raises:
            ValueError: an agent with this id is already running, or the id is empty or
                holds a lone surrogate.
            LookupError: ``spec`` names no registered spec.
            TypeError: ``id`` is not a string, or ``state`` does not fit the spec's
                state class.
        """
        k = self._enter("start")
        try:
            k.start(spec, id, state)
            k.run_until_idle()
            return k.agent(id)
        finally:
            k.busy = None

    def signal(self, type: str, data: object = None, **fields: Any) -> Signal:
        """A signal from outside: a deterministic id (``ext-N``) and the current virtual time."""
        return self._kernel.signal(type, data, **fields)

    def send(self, agent_id: str, signal: Signal | str, data: object = None) -> None:
        """Deliver a signal (or a new one of this type with ``data``) and run until idle.

        A crash its error policy handles (see ``options``) is not raised: it is in
        :attr:`crashes`, and the run goes on.

        Raises:
            UnknownAgent: no running agent has this id; nothing was queued.
            ActionCrashed: an action of an agent without options raised (so does other
                user code: a route guard, a custom strategy, as it is).
            InvalidSignal: ``signal`` is a draft, or a type or data a signal cannot have.
            TypeError: ``data`` is given beside a :class:`~jido.Signal`.
            RunawayError: the run went on past ``max_steps`` signals (an endless loop?);
                what is still queued stays queued, so stop the looping agent.
            RuntimeError: called from inside a step (see :meth:`run_until_idle`).
        """
        k = self._enter("send")
        try:
            k.deliver(agent_id, given_signal(signal, data, self.signal))
            k.run_until_idle()
        finally:
            k.busy = None

    def cast(self, agent_id: str, signal: Signal | str, data: object = None) -> Signal:
        """Queue a signal without running anything; :meth:`run_until_idle` handles it.

        Returns:
            The queued signal.

        It may be called from inside a step (an effect handler, a sink): the run under
        way handles what it queues.

        Raises:
            UnknownAgent: no running agent has this id; nothing was queued.
            InvalidSignal: ``signal`` is a draft, or a type or data a signal cannot have.
            TypeError: ``data`` is given beside a :class:`~jido.Signal`.
        """
        sig = given_signal(signal, data, self.signal)
        self._kernel.deliver(agent_id, sig)
        return sig

    def call(
        self, agent_id: str, signal: Signal | str, data: object = None, *, check: bool = False
    ) -> Agent[Any]:
        """Like :meth:`send`, returning the agent right after *this* signal's step.

        ``check``: raise :class:`CallRefused` if that step reported problems (``Error``
        directives), as AsyncRuntime's ``call`` does.

        Raises:
            UnknownAgent: the agent is not running, or stopped before handling the signal.
            ActionCrashed: the signal's step crashed and the agent's error policy handled it
                (as AsyncRuntime's ``call`` raises; the run went on until idle first).
                Without options for the agent, a crash is raised as it happens.
            CallRefused: with ``check``, the step reported problems (the run went on until
                idle first).
            InvalidSignal, TypeError, RunawayError, RuntimeError: as for :meth:`send`.
        """
        k = self._enter("call")
        try:
            return self._call(k, agent_id, given_signal(signal, data, self.signal), check)
        finally:
            k.busy = None

    def _call(self, k: Kernel, agent_id: str, sig: Signal, check: bool) -> Agent[Any]:
        k.deliver(agent_id, sig)
        result: Agent[Any] | None = None
        crashed: ActionCrashed | None = None
        refused: tuple[Problem, ...] = ()
        handled = 0
        while k.queue:
            if handled >= k.max_steps:
                raise RunawayError(k.max_steps, len(k.queue))
            target, current = k.queue.popleft()
            after = k.handle(target, current)
            handled += 1
            if current is sig and target == agent_id:
                result = after
                if after is None and k.last_crash is not None and k.last_crash[0] is sig:
                    crashed = k.last_crash[1]
                elif after is not None and check and k.last_step is not None:
                    refused = k.last_step.problems
        k.run_until_idle()  # the timers due now (and what they set off)
        if crashed is not None:
            raise crashed
        if result is None:
            raise UnknownAgent(agent_id)
        if refused:
            raise CallRefused(agent_id, sig.type, refused, result)
        return result

    def agent(self, agent_id: str) -> Agent[Any]:
        """The agent's current value. Raises :class:`UnknownAgent`."""
        return self._kernel.agent(agent_id)

    def state(self, agent_id: str) -> Any:
        """The agent's current state. Raises :class:`UnknownAgent`."""
        return self._kernel.agent(agent_id).state

    def stop(self, agent_id: str, reason: str = "normal") -> None:
        """Stop the agent (the parent told, its children following their
        ``on_parent_death``: orphaned by default) and run until idle.

        Raises:
            UnknownAgent: no running agent has this id.
            TypeError: ``reason`` is not a string.
            RunawayError, RuntimeError: as for :meth:`send`.
        """
        k = self._enter("stop")
        try:
            k.stop(agent_id, reason)
            k.run_until_idle()
        finally:
            k.busy = None

    def advance(self, seconds: float | Fraction | Decimal) -> int:
        """Move the virtual clock, firing due schedules, cron ticks and sensor emissions in
        time order; returns how many signals were handled.

        Virtual time is kept in whole microseconds, as the datetimes it is reported in
        (:attr:`now`, signal times): ten ``advance(0.1)`` move it exactly 1 s on (advances
        add up exactly, then round), and a timer armed for 1 s has fired by then. Timers due
        in the same microsecond fire in the order they were armed.

        Raises:
            TypeError: ``seconds`` is not a number (a bool is not one).
            ValueError: ``seconds`` is negative, not finite, or takes virtual time past the
                year 9999.
            RunawayError, RuntimeError: as for :meth:`send`.
        """
        k = self._enter("advance")
        try:
            return k.advance(seconds)
        finally:
            k.busy = None

    def run_until_idle(self) -> int:
        """Handle everything queued, and the timers due now (armed with no delay) with what
        they set off; returns how many signals were handled. The clock does not move:
        :meth:`advance` moves it. (:meth:`start`, :meth:`send`, :meth:`call` and
        :meth:`stop` end with this.)

        Raises:
            RunawayError: the run went on past ``max_steps`` signals (an endless loop?).
            RuntimeError: called from inside a step: an effect handler, a sink, a sensor, a
                directive handler or a guard calling back into the runtime, whose steps
                would interleave with the one under way (as would ``start``, ``send``,
                ``call``, ``stop`` and ``advance``); :meth:`cast` queues for the run under
                way instead.
        """
        k = self._enter("run_until_idle")
        try:
            return k.run_until_idle()
        finally:
            k.busy = None

    def _enter(self, what: str) -> Kernel:
        k = self._kernel
        if k.busy is not None:
            raise RuntimeError(
                f"{what} was called while {k.busy} runs steps (from an effect handler, a sink,"
                " a sensor or a directive handler?): the runtime is not re-entrant; cast"
                " queues a signal for the run under way"
            )
        k.busy = what
        return k

    @property
    def now(self) -> datetime:
        """The virtual time."""
        return self._kernel.clock()

    @property
    def trace(self) -> tuple[TraceEntry, ...]:
        """Every signal handled so far, with the directives out and the agent before/after."""
        return tuple(self._kernel.trace)

    @property
    def problems(self) -> tuple[Problem, ...]:
        """Problems executing directives (also in the trace entries), in order."""
        return tuple(self._kernel.problems)

    @property
    def crashes(self) -> tuple[CrashHandled, ...]:
        """The crashes the agents' error policies handled (with ``options`` or
        ``default_options`` given), in order; without, a crash is raised instead."""
        return tuple(self._kernel.crashes)

    @property
    def dead_letters(self) -> tuple[tuple[str, Signal], ...]:
        """Signals addressed to agents that were not running, with the intended agent id."""
        return tuple(self._kernel.dead_letters)

    @property
    def agent_ids(self) -> tuple[str, ...]:
        """The running agents, in start order."""
        return tuple(self._kernel.agents)

    def sink(self, name: str) -> tuple[Signal, ...]:
        """What was emitted to the named sink. Raises ``KeyError`` for an unknown sink."""
        return tuple(self._kernel.sinks[name])

    def children(self, agent_id: str) -> Mapping[str, str]:
        """The agent's children, tag to child id.

        Raises:
            UnknownAgent: no running agent has this id (as on AsyncRuntime: a stopped
                agent's children are no longer its own).
        """
        self._kernel.agent(agent_id)
        return dict(self._kernel.children.get(agent_id, {}))

    def parent(self, agent_id: str) -> str | None:
        """The agent's parent id, if it has one.

        Raises:
            UnknownAgent: no running agent has this id.
        """
        self._kernel.agent(agent_id)
        link = self._kernel.parents.get(agent_id)
        return None if link is None else link[0]

    def pending_timers(self) -> int:
        """How many schedules, cron ticks and sensor emissions are armed."""
        return self._kernel.pending_timers()


@final
class SyncRuntime(_Runtime):
    """Runs agents synchronously, until idle, on a virtual clock. For tests.

    Every built-in directive is executed: ``Emit`` (to self, parent, another agent or a named
    sink), ``Invoke`` (through plain-function handlers; the outcome comes back as the
    ``on_ok``/``on_error`` signal), ``Schedule`` and ``Cron`` (on the virtual clock, moved by
    :meth:`advance`), ``SpawnAgent``/``StopChild``/``AdoptChild`` (with child-started,
    child-exit and orphaned signals), sensors, ``Stop``. A directive that cannot be executed
    (no handler, no parent, unknown sink...) is a problem in the trace, never a crash.

    Args:
        specs: the specs agents may run (``start`` and ``SpawnAgent`` look them up by name).
        effects: effect handlers by name: plain functions (not ``async def``).
        sinks: the names of the sinks ``Emit`` may target.
        sensors: sensor functions by name: ``config -> [(delay, type, data), ...]``.
        directives: handlers for user-defined directives by class:
            ``(agent_id, directive) -> signals to deliver to the agent``: drafts
            (``Signal.draft``), which are stamped from the step that produced the
            directive, the same way on every runtime, or whole signals, delivered as they
            are.
        epoch: the virtual time at 0 seconds.
        max_steps: a run handling more signals than this without going idle raises
            :class:`RunawayError`.
        record: keep the trace (turn off for long benchmark runs).
        options: :class:`AgentOptions` by spec name, as for AsyncRuntime (each the name of
            one of ``specs``: another is a ``ValueError``, and a spec only passed to
            :meth:`start` takes ``default_options``); ``default_options`` for the specs
            not named. Only ``error_policy`` and ``on_parent_death`` mean
            anything here (``mailbox_size`` and ``effect_timeout`` are accepted and ignored:
            there is no mailbox, and effects run within their step).
        default_options: the options of the specs ``options`` does not name; ``None`` (the
            default) leaves them unsupervised, unlike AsyncRuntime, whose default is
            ``AgentOptions()`` (``Continue()``): a crash in user code (an action raising, a
            route guard, a custom strategy) is raised to the caller, so that a test never
            passes over a bug, a custom directive handler that raises is a problem of its
            directive, and a parent's stop orphans its children. A supervised agent's crash
            follows its policy as on AsyncRuntime (the same ``child.exit`` reasons, the last
            good state kept, ``Restart`` counting restarts within ``within`` seconds of
            virtual time and telling the agent with ``jido.agent.restarted``) and is listed
            in :attr:`crashes`.

    Raises:
        TypeError: a handler or sensor is not callable, or is async (``async def``, or an
            async generator function): this runtime would never await it; an option is not
            an :class:`AgentOptions`.

    >>> from jido_interpreters import AgentOptions, StopAgent
    >>> rt = SyncRuntime(default_options=AgentOptions(error_policy=StopAgent()))
    >>> rt.crashes
    ()

    >>> rt = SyncRuntime()
    >>> rt.now.isoformat()
    '2026-01-01T00:00:00+00:00'
    """

    def __init__(
        self,
        specs: Iterable[AgentSpec[Any]] = (),
        *,
        effects: Mapping[str, EffectHandler] | None = None,
        sinks: Iterable[str] = (),
        sensors: Mapping[str, SensorFn] | None = None,
        directives: Mapping[type[CustomDirective], DirectiveHandler] | None = None,
        epoch: datetime = DEFAULT_EPOCH,
        max_steps: int = 1_000_000,
        record: bool = True,
        options: Mapping[str, AgentOptions] | None = None,
        default_options: AgentOptions | None = None,
    ) -> None:
        self._effects = _CallHandlers(effects)
        self._kernel = Kernel(
            specs,
            effects=self._effects,
            sinks=sinks,
            sensors=sensors,
            directives=directives,
            epoch=epoch,
            max_steps=max_steps,
            record=record,
            options=options,
            default_options=default_options,
        )

    @property
    def effect_log(self) -> tuple[tuple[str, Invoke, EffectOutcome], ...]:
        """Every effect performed: ``(agent id, invoke, outcome)``, in order."""
        return tuple(self._effects.log)
