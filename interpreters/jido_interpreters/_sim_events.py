"""What a simulation records: its events, the invariants it checks, and its result."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeAlias, final

import attrs

from jido import (
    ActionCrashed,
    Agent,
    Directive,
    FrozenMap,
    JidoError,
    Problem,
    Signal,
)
from jido.serde import Codec

from ._faults import (
    FAULT_CLASSES,
    Fault,
    FaultPlan,
)
from ._options import AgentOptions
from ._policy import CrashHandled, crash_message
from ._trace import TraceEntry

__all__ = [
    "ActionCrash",
    "AgentStarted",
    "CrashHandled",
    "DeadLettered",
    "Invariant",
    "InvariantViolated",
    "SignalDelivered",
    "SimEvent",
    "SimulationCrashed",
    "SimulationResult",
    "Violation",
    "crash_message",
]

#: A check over all running agents (a read-only view, by id). It must return ``True`` to
#: pass; ``False``, or a message saying what is wrong (a non-empty string), to fail. Anything
#: else fails too, reported as what it returned: ``returned None`` (a forgotten
#: ``return True``), ``returned ''``, ``returned 0``. One that raises fails with ``raised
#: ...``. It must not change the agents.
Invariant: TypeAlias = Callable[[Mapping[str, Agent[Any]]], "bool | str"]


@final
@attrs.frozen(kw_only=True)
class AgentStarted:
    """An agent was started (before the run), with this initial value.

    Attributes:
        problems: what went wrong executing its startup directives (a declared cron job
            whose expression or time zone is bad...), as a delivery's ``problems`` are of
            its step's.
    """

    index: int
    at: float
    agent: Agent[Any]
    problems: tuple[Problem, ...] = ()


@final
@attrs.frozen(kw_only=True)
class SignalDelivered:
    """An agent handled a signal.

    Attributes:
        index: the event's position in the run, from 0.
        at: virtual seconds since the run's epoch.
        agent_id: the agent that handled it.
        sender: where it came from: the sending agent's id, ``"@input"`` (from outside),
            ``"@timer"``, ``"@cron"``, ``"@sensor"``, ``"@effect"`` (an ``Invoke`` outcome),
            ``"@runtime"`` (a lifecycle signal) or ``"@directive"`` (a custom directive).
        signal: the signal in.
        before: the agent before the step.
        after: the agent after the step.
        directives: the directives out, as ``step`` returned them.
        problems: what went wrong executing them (no handler, no parent, unknown sink...).
    """

    index: int
    at: float
    agent_id: str
    sender: str
    signal: Signal
    before: Agent[Any]
    after: Agent[Any]
    directives: tuple[Directive, ...]
    problems: tuple[Problem, ...] = ()

    @property
    def entry(self) -> TraceEntry:
        """The same step as a :class:`~jido_interpreters.TraceEntry` (as SyncRuntime records)."""
        return TraceEntry(
            index=self.index,
            at=self.at,
            agent_id=self.agent_id,
            signal=self.signal,
            before=self.before,
            after=self.after,
            directives=self.directives,
            problems=self.problems,
        )


@final
@attrs.frozen(kw_only=True)
class DeadLettered:
    """A signal arrived for an agent that is not running; nobody handled it."""

    index: int
    at: float
    agent_id: str
    sender: str
    signal: Signal


#: Everything a simulation records: starts, deliveries, dead letters, injected faults, and
#: crashes an error policy handled.
SimEvent: TypeAlias = AgentStarted | SignalDelivered | DeadLettered | Fault | CrashHandled


@final
@attrs.frozen(kw_only=True)
class Violation:
    """An invariant that failed: its name, its message, and the event after which it did.

    ``index`` is -1 when it failed before any event.
    """

    invariant: str
    message: str
    index: int


@final
@attrs.frozen(kw_only=True)
class ActionCrash:
    """An action that raised (a bug in a spec), which stopped the run.

    Attributes:
        index: the index the delivery that crashed would have had (the run's events are
            those before it).
        agent_id: the agent that was stepping.
        action: the action that raised.
        signal_type: the type of the signal it was handling, if any.
        message: what :func:`crash_message` says: the crash and what the action raised.
    """

    index: int
    agent_id: str
    action: str
    signal_type: str | None
    message: str


@final
@attrs.frozen(kw_only=True)
class SimulationResult:
    """What a run did: its parameters, every event, and the agents at the end.

    Attributes:
        seed: the seed, or ``None`` when the choices came from a given generator (Hypothesis).
        max_events: the event budget the run was given.
        faults: the fault plan.
        latency: the longest in-flight time of a signal, in virtual seconds.
        epoch: virtual time 0.
        started: the agents as started, in order.
        inputs: the inputs sent from outside: ``(at, agent id, signal)``, in order.
        events: every event, in order (empty when recording was off).
        event_count: how many events happened (also when recording was off).
        agents: the running agents at the end, by id.
        now: the virtual time at the end, in seconds (``until``, if the run was given one
            and its budget did not run out first).
        quiescent: nothing was left to deliver or fire.
        violation: the invariant that stopped the run, if one did.
        counts: how many events of each kind (``"delivered"``, ``"dropped"``...).
        problems: every problem executing directives, in order, as
            :attr:`SyncRuntime.problems <jido_interpreters.SyncRuntime.problems>` has them:
            those of deliveries and of starts (each also on its event), and those of
            restarts (a crash's spec startup run again). Kept when recording is off.
        sinks: what was emitted to each named sink.
        choices: when the run had no seed, every draw it took from the given generator, in
            order: what :func:`replay` feeds back to re-run it (``None`` for a seeded run).
        sent_after: for each input, how many agents had been started when it was sent
            (starts and sends interleave in a setup, and the order is part of the run).
        crash: the action that raised and stopped the run, if one did.
        until: the time bound the run was given, in virtual seconds (``None``: none).
        idle: nothing was pending but timers (schedules, cron ticks, sensor emissions): every
            signal sent had been handled (or lost), every effect's outcome had arrived. A
            quiescent run is idle; a system with a cron job never is quiescent, but is idle
            between its ticks once it has done what they and its inputs asked.
        out_of_events: the run stopped because its event budget ran out while something
            was still due (by ``until``, if given): a larger budget would have gone on.
            ``False`` for a run an invariant or a crash stopped.
        options: the agents' options by spec name (see :class:`Simulation`).
        default_options: the options of the specs ``options`` does not name, if any.
        codec: the codec the run's simulation was given (a scenario's ``codec``):
            :func:`simulation_to_jsonl` writes the trace with it unless given another. Not
            part of what the run did, so no part of equality.
    """

    seed: int | None
    max_events: int
    faults: FaultPlan
    latency: float
    epoch: datetime
    started: tuple[Agent[Any], ...]
    inputs: tuple[tuple[float, str, Signal], ...]
    events: tuple[SimEvent, ...]
    event_count: int
    agents: FrozenMap[str, Agent[Any]]
    now: float
    quiescent: bool
    violation: Violation | None = None
    counts: FrozenMap[str, int] = attrs.field(factory=FrozenMap)
    problems: tuple[Problem, ...] = ()
    sinks: FrozenMap[str, tuple[Signal, ...]] = attrs.field(factory=FrozenMap)
    choices: tuple[float, ...] | None = None
    sent_after: tuple[int, ...] = ()
    crash: ActionCrash | None = None
    until: float | None = None
    idle: bool = False
    out_of_events: bool = False
    options: FrozenMap[str, AgentOptions] = attrs.field(factory=FrozenMap)
    default_options: AgentOptions | None = None
    codec: Codec | None = attrs.field(default=None, eq=False, repr=False)

    @property
    def entries(self) -> tuple[TraceEntry, ...]:
        """The deliveries as SyncRuntime-style trace entries."""
        return tuple(e.entry for e in self.events if isinstance(e, SignalDelivered))

    @property
    def faults_injected(self) -> tuple[Fault, ...]:
        """The fault events, in order."""
        return tuple(e for e in self.events if isinstance(e, FAULT_CLASSES))


class InvariantViolated(JidoError, AssertionError):
    """An invariant failed during a simulation.

    The message names the invariant, the event index and the seed; replaying the seed with
    the same specs and inputs fails at the same event.

    Attributes:
        invariant: the invariant's name.
        message: what it reported.
        seed: the run's seed (``None`` when Hypothesis drew the choices).
        index: the event after which it failed (-1: before any).
        trace: the events up to and including that one.
        result: the whole run so far (serialize it with :func:`simulation_to_jsonl`).
    """

    def __init__(self, result: SimulationResult) -> None:
        v = result.violation
        if v is None:
            raise ValueError("InvariantViolated needs a result with a violation")
        seed = "none: its trace records the choices" if result.seed is None else result.seed
        super().__init__(
            f"invariant {v.invariant!r} violated after event {v.index} (seed {seed}): {v.message}"
        )
        self.invariant = v.invariant
        self.message = v.message
        self.seed = result.seed
        self.index = v.index
        self.trace = result.events
        self.result = result

    def __reduce__(self) -> tuple[type[InvariantViolated], tuple[SimulationResult]]:
        # Rebuilt from the result, not the message (pickling, copying across processes).
        return (type(self), (self.result,))


@final
class SimulationCrashed(ActionCrashed):
    """An action raised during a simulation: the :class:`~jido.ActionCrashed`, with the run
    so far (its ``__cause__`` is what the action raised, as for any ``ActionCrashed``).

    Attributes:
        seed: the run's seed (``None`` when Hypothesis drew the choices).
        index: the index the delivery that crashed would have had.
        result: the whole run so far, its ``crash`` set: its trace ends with the crash
            (write it with :func:`simulation_to_jsonl`; ``jido replay`` repeats it).
    """

    def __init__(self, result: SimulationResult) -> None:
        c = result.crash
        if c is None:
            raise ValueError("SimulationCrashed needs a result with a crash")
        super().__init__(c.agent_id, c.action, c.signal_type)
        self.seed = result.seed
        self.index = c.index
        self.result = result

    def __reduce__(self) -> tuple[type[SimulationCrashed], tuple[SimulationResult]]:
        # Rebuilt from the result, as InvariantViolated is.
        return (type(self), (self.result,))
