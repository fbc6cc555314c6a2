"""Simulation: many agents in one thread, on virtual time, with seeded choices and faults.

Theory of operation
-------------------

In the manner of FoundationDB's simulator and TigerBeetle's VOPR:

1. Everything pending lives in one heap ordered by virtual due time, ties broken by a
   sequence number: signals in flight, timers (``Schedule``, cron ticks, sensor emissions,
   inputs sent for later) and effect outcomes. Each turn pops the earliest item and the
   clock jumps to its time. Nothing reads a real clock and nothing sleeps.
2. One ``random.Random(seed)`` (never the global one) makes every choice the world would
   make: each signal's latency, drawn in ``[0, latency)``, which is how the delivery order
   is chosen — agents' signals interleave differently under different seeds, while each
   (sender, receiver) link stays first-in first-out, as Erlang and TCP guarantee — and
   every fault of the :class:`~jido_interpreters.FaultPlan`. Same seed, specs and inputs:
   the same events, byte for byte. Under Hypothesis the generator may be one whose draws
   come from Hypothesis's data, so shrinking a failing run simplifies its choices (every
   draw here reads "no fault, no latency" at 0).
3. Directives mean what they mean in :class:`~jido_interpreters.SyncRuntime`: the engine *is*
   the synchronous kernel, with its FIFO queue replaced by the heap, and effects are plain
   functions (fakes). Outcomes and lifecycle signals are built by ``_outcomes`` as in every
   interpreter.
4. Message faults are decided when a message arrives, effect faults when an outcome
   arrives, a crash after a delivery; each is recorded as an event (``_faults``). Each of
   these decisions draws two values whatever the plan says, so changing the plan, or one
   draw, leaves the other draws where they were: two plans under one seed run alike up to
   their first different fault, and Hypothesis can shrink draws one at a time.
5. Invariants are checked after every event that can change an agent (a delivery, a crash)
   and once when the run begins. Faults change no agent, so this finds the same first
   failing event as checking after every event. A violation stops the run with
   :class:`InvariantViolated`, carrying the seed, the event index and the trace so far.
6. A trace serializes to JSON lines: a header (seed, event budget, fault plan, latency,
   epoch, the agents started and the inputs sent), one line per event, and a last line for
   a violation. :func:`replay` re-runs the header and compares line by line.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import json
import math
import random
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, Final, TypeAlias, assert_never, final

import attrs

import jido
from jido import (
    ActionCrashed,
    Agent,
    AgentSpec,
    CustomDirective,
    Directive,
    FrozenMap,
    Invoke,
    JidoError,
    Problem,
    Signal,
    derive_id,
)
from jido.serde import Codec, DecodeError

from ._faults import (
    NO_FAULTS,
    AgentCrashed,
    EffectDelayed,
    EffectFailed,
    Fault,
    FaultPlan,
    InvalidFaultPlan,
    MessageDelayed,
    MessageDropped,
    MessageDuplicated,
    MessageReordered,
)
from ._jsonl import loads, split_lines
from ._kernel import DEFAULT_EPOCH, DirectiveHandler, EffectOutcome, Kernel, SensorFn
from ._outcomes import outcome_signal, system_signal
from ._sync import EffectHandler, _CallHandlers
from ._trace import TraceEntry

__all__ = [
    "AgentStarted",
    "DeadLettered",
    "Divergence",
    "Invariant",
    "InvariantViolated",
    "Scenario",
    "SignalDelivered",
    "SimEvent",
    "Simulation",
    "SimulationResult",
    "Violation",
    "replay",
    "simulate",
    "simulation_to_jsonl",
    "trace_spec",
]

#: A check over every running agent, by id: ``True`` if it holds; ``False`` or a message
#: saying what is wrong if it does not.
Invariant: TypeAlias = Callable[[Mapping[str, Agent[Any]]], "bool | str"]

#: The ``format`` of a trace's header line.
TRACE_FORMAT: Final = "jido.simulation"
TRACE_VERSION: Final = 1

# ---------------------------------------------------------------------------- events


@final
@attrs.frozen(kw_only=True)
class AgentStarted:
    """An agent was started (before the run), with this initial value."""

    index: int
    at: float
    agent: Agent[Any]


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


#: Everything a simulation records: starts, deliveries, dead letters and injected faults.
SimEvent: TypeAlias = AgentStarted | SignalDelivered | DeadLettered | Fault


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
        now: the virtual time at the end, in seconds.
        quiescent: nothing was left to deliver or fire.
        violation: the invariant that stopped the run, if one did.
        counts: how many events of each kind (``"delivered"``, ``"dropped"``...).
        sinks: what was emitted to each named sink.
        choices: when the run had no seed, every draw it took from the given generator, in
            order: what :func:`replay` feeds back to re-run it (``None`` for a seeded run).
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
    sinks: FrozenMap[str, tuple[Signal, ...]] = attrs.field(factory=FrozenMap)
    choices: tuple[float, ...] | None = None

    @property
    def entries(self) -> tuple[TraceEntry, ...]:
        """The deliveries as SyncRuntime-style trace entries."""
        return tuple(e.entry for e in self.events if isinstance(e, SignalDelivered))

    @property
    def faults_injected(self) -> tuple[Fault, ...]:
        """The fault events, in order."""
        return tuple(
            e
            for e in self.events
            if isinstance(
                e,
                MessageDropped
                | MessageDelayed
                | MessageDuplicated
                | MessageReordered
                | AgentCrashed
                | EffectFailed
                | EffectDelayed,
            )
        )


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


# ---------------------------------------------------------------------------- the engine

# What a heap item is. Items are plain tuples, (due, seq, kind, target, sender, payload,
# extra), because the heap is the hot path: seq is unique, so tuples never compare further.
_NET: Final = 0  # a message between parties (faults apply); extra: already faulted
_LOCAL: Final = 1  # a signal to oneself, a lifecycle signal, a custom directive's signal
_EFFECT: Final = 2  # an Invoke outcome; payload (invoke, outcome, cause); extra: faulted
_TIMER: Final = 3  # Schedule / cron / sensor; extra (incarnation, kernel timer tag)

_Item: TypeAlias = tuple[float, int, int, str, str, Any, Any]


class _Violated(Exception):
    def __init__(self, invariant: str, message: str, index: int) -> None:
        super().__init__(invariant, message, index)
        self.violation = Violation(invariant=invariant, message=message, index=index)


class _Outbox(deque[tuple[str, Signal]]):
    """The kernel's queue, for the one kernel path that appends to it directly (signals
    from custom directive handlers): each goes to the heap as a local signal."""

    def __init__(self, engine: _Engine) -> None:
        super().__init__()
        self._engine = engine

    def append(self, item: tuple[str, Signal], /) -> None:
        target, sig = item
        self._engine.send_local(target, "@directive", sig)


class _Engine(Kernel):
    """The synchronous kernel with its queue and timers replaced by one seeded heap."""

    def __init__(
        self,
        specs: Iterable[AgentSpec[Any]],
        *,
        rng: random.Random,
        faults: FaultPlan,
        effects: Mapping[str, EffectHandler],
        invariants: Mapping[str, Invariant],
        sinks: Iterable[str],
        sensors: Mapping[str, SensorFn] | None,
        directives: Mapping[type[CustomDirective], DirectiveHandler] | None,
        latency: float,
        epoch: datetime,
        record: bool,
    ) -> None:
        super().__init__(
            specs,
            effects=_CallHandlers(effects),
            sinks=sinks,
            sensors=sensors,
            directives=directives,
            epoch=epoch,
            record=False,
        )
        self._outbox = _Outbox(self)
        self.queue = self._outbox
        self.rng = rng
        self.plan = faults
        self.invariants = dict(invariants)
        self.latency = latency
        self.keep = record
        self.heap: list[_Item] = []
        self.events: list[SimEvent] = []
        self.count = 0
        self.counts: dict[str, int] = {}
        self._order = itertools.count()
        self._last_due: dict[tuple[str, str], float] = {}
        self._incarnation: dict[str, int] = {}
        self._incarnations = itertools.count()
        self._view = MappingProxyType(self.agents)
        # Fault thresholds: a draw r in [0, 1) picks the fault whose band [t, previous t)
        # holds it. The bands sit at the top, so r = 0 (what Hypothesis shrinks to) means
        # "no fault" unless the probabilities sum to 1.
        p = faults
        self._t_drop = 1.0 - p.drop
        self._t_delay = self._t_drop - p.delay
        self._t_dup = self._t_delay - p.duplicate
        self._t_reorder = self._t_dup - p.reorder
        self._t_fail = 1.0 - p.effect_failure
        self._t_slow = self._t_fail - p.effect_latency
        self._t_crash = 1.0 - p.crash

    # ------------------------------------------------------------------ recording

    def note(self, kind: str, event: Callable[[int], SimEvent]) -> None:
        index = self.count
        self.count = index + 1
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if self.keep:
            self.events.append(event(index))

    def check(self) -> None:
        for name, invariant in self.invariants.items():
            try:
                verdict = invariant(self._view)
            except Exception as exc:
                verdict = f"raised {type(exc).__name__}: {exc}"
            if verdict is not True:
                message = verdict if isinstance(verdict, str) else "returned False"
                raise _Violated(name, message, self.count - 1)

    # ------------------------------------------------------------------ sending

    def push(
        self, due: float, kind: int, target: str, sender: str, payload: Any, extra: Any
    ) -> None:
        heapq.heappush(self.heap, (due, next(self._order), kind, target, sender, payload, extra))

    def _link_due(self, sender: str, target: str, base: float, draw: float | None = None) -> float:
        if self.latency:
            due = base + (self.rng.random() if draw is None else draw) * self.latency
        else:
            due = base
        link = (sender, target)
        last = self._last_due.get(link)
        if last is not None and last > due:
            due = last
        self._last_due[link] = due
        return due

    def send_net(self, target: str, sender: str, sig: Signal, *, base: float | None = None) -> None:
        due = self._link_due(sender, target, self.now if base is None else base)
        self.push(due, _NET, target, sender, sig, False)

    def send_local(self, target: str, sender: str, sig: Signal) -> None:
        self.push(self._link_due(sender, target, self.now), _LOCAL, target, sender, sig, False)

    # ------------------------------------------------------------------ kernel hooks

    def start(
        self,
        spec: AgentSpec[Any] | str,
        agent_id: str,
        state: object = None,
        *,
        parent: tuple[str, str] | None = None,
    ) -> Agent[Any]:
        if agent_id not in self.agents:
            # A new incarnation: timers a former agent of this id armed are not its own.
            self._incarnation[agent_id] = next(self._incarnations)
        return super().start(spec, agent_id, state, parent=parent)

    def _send(self, sender: str, target: str, sig: Signal) -> None:
        # To itself an agent posts locally; to another it goes over the (faulty) network.
        if target == sender:
            self.send_local(target, sender, sig)
        else:
            self.send_net(target, sender, sig)

    def _invoke(
        self, agent_id: str, cause: Signal | None, d: Invoke, problems: list[Problem]
    ) -> None:
        outcome = self.effects.perform(d, agent_id, problems)
        if outcome is not None:
            due = self.now + self.rng.random() * self.latency if self.latency else self.now
            self.push(due, _EFFECT, agent_id, "@effect", (d, outcome, cause), False)

    def _system(self, agent_id: str, type: str, data: object, *, cause: str) -> None:
        sig = system_signal(
            type, data, agent_id=agent_id, cause=cause, seq=next(self._seq), time=self.clock()
        )
        # A lifecycle signal about an agent (``cause``: the child that exited, the parent
        # that stopped) must not overtake what that agent sent before it, as in every other
        # runtime (and in Erlang, where a monitor's DOWN follows the process's last message):
        # it takes its turn on that agent's link, with no latency of its own (no draw).
        due = self._link_due(cause, agent_id, self.now, draw=0.0)
        self.push(due, _LOCAL, agent_id, "@runtime", sig, False)

    def _timer(self, due: float, agent_id: str, sig: Signal, tag: tuple[str, ...] = ()) -> None:
        # The kernel numbers its timers and lifecycle signals from one counter, and lifecycle
        # signal ids derive from it: advancing it as the kernel does keeps those ids equal to
        # SyncRuntime's.
        next(self._seq)
        self.push(due, _TIMER, agent_id, "@timer", sig, (self._incarnation[agent_id], tag))

    def _stop(self, agent_id: str, reason: str) -> None:
        super()._stop(agent_id, reason)
        # The kernel rebuilt its queue to move queued signals to dead letters; signals in
        # flight here become dead letters when they arrive, so put the outbox back.
        leftover, self.queue = self.queue, self._outbox
        if leftover is not self._outbox:
            for target, sig in leftover:
                self.send_local(target, "@runtime", sig)

    # ------------------------------------------------------------------ running

    def run(self, budget: int, progress: Callable[[int], None] | None) -> None:
        heap = self.heap
        pop = heapq.heappop
        limit = self.count + budget
        report = self.count + 1024
        while heap and self.count < limit:
            due, _, kind, target, sender, payload, extra = pop(heap)
            self.now = due
            if kind == _LOCAL:
                self.deliver_now(target, sender, payload, limit)
            elif kind == _NET:
                if extra or not self._message_fault(target, sender, payload):
                    self.deliver_now(target, sender, payload, limit)
            elif kind == _EFFECT:
                invoke, outcome, cause = payload
                if not extra:
                    outcome = self._effect_fault(target, invoke, outcome, cause)
                if outcome is not None:
                    sig = outcome_signal(invoke, outcome, cause=cause, time=self.clock())
                    self.deliver_now(target, "@effect", sig, limit)
            else:
                self._fire(target, payload, extra, limit)
            if progress is not None and self.count >= report:
                progress(self.count)
                report = self.count + 1024
        if progress is not None:
            progress(self.count)

    def _fire(self, agent_id: str, sig: Signal, extra: Any, limit: int) -> None:
        incarnation, tag = extra
        if self._incarnation.get(agent_id) != incarnation or not self._timer_live(agent_id, tag):
            return  # cancelled, replaced, or lost in a crash: time passes, nothing happens
        if tag and tag[0] == "cron":
            # As Kernel.advance does: each tick gets its own id, and the next one is armed.
            job = self.crons[(agent_id, tag[1])]
            job.ticks += 1
            sig = attrs.evolve(sig, id=derive_id(sig.id, agent_id, job.ticks), time=self.clock())
            self._arm_cron(job)
            self.deliver_now(agent_id, "@cron", sig, limit)
        else:
            sender = "@sensor" if tag else "@timer"
            self.deliver_now(agent_id, sender, attrs.evolve(sig, time=self.clock()), limit)

    def deliver_now(self, target: str, sender: str, sig: Signal, limit: int) -> None:
        before = self.agents.get(target)
        at = self.now
        if before is None:
            self.dead_letters.append((target, sig))
            self.note(
                "dead_letter",
                lambda i: DeadLettered(index=i, at=at, agent_id=target, sender=sender, signal=sig),
            )
            return
        result = jido.step(self.specs[before.spec], before, sig)
        after = result.agent
        self.agents[target] = after
        self.steps += 1
        problems: list[Problem] = []
        if result.directives:
            self._execute(target, sig, result.directives, problems)
        directives = result.directives
        self.note(
            "delivered",
            lambda i: SignalDelivered(
                index=i,
                at=at,
                agent_id=target,
                sender=sender,
                signal=sig,
                before=before,
                after=after,
                directives=directives,
                problems=tuple(problems),
            ),
        )
        if self.invariants:
            self.check()
        if self.count < limit:
            r, which = self.rng.random(), self.rng.random()
            if r >= self._t_crash:
                self._crash(which)

    def _message_fault(self, target: str, sender: str, sig: Signal) -> bool:
        """Maybe inject a message fault; whether the message was consumed by it."""
        r, extra = self.rng.random(), self.rng.random()
        at = self.now
        if r >= self._t_drop:
            self.note(
                "dropped",
                lambda i: MessageDropped(
                    index=i, at=at, agent_id=target, sender=sender, signal=sig
                ),
            )
            return True
        if r >= self._t_delay:
            until = at + extra * self.plan.max_delay
            self.note(
                "delayed",
                lambda i: MessageDelayed(
                    index=i, at=at, agent_id=target, sender=sender, signal=sig, until=until
                ),
            )
            self.push(until, _NET, target, sender, sig, True)
            return True
        if r >= self._t_dup:
            self.note(
                "duplicated",
                lambda i: MessageDuplicated(
                    index=i, at=at, agent_id=target, sender=sender, signal=sig
                ),
            )
            self.push(self._link_due(sender, target, at, extra), _NET, target, sender, sig, True)
            return False
        if r >= self._t_reorder:
            self.note(
                "reordered",
                lambda i: MessageReordered(
                    index=i, at=at, agent_id=target, sender=sender, signal=sig
                ),
            )
            link = (sender, target)
            due = max(at, self._last_due.get(link, at))
            self._last_due[link] = due
            self.push(due, _NET, target, sender, sig, True)
            return True
        return False

    def _effect_fault(
        self, agent_id: str, invoke: Invoke, outcome: EffectOutcome, cause: Signal | None
    ) -> EffectOutcome:
        """Maybe inject an effect fault; the outcome to deliver now, or ``None``."""
        r, extra = self.rng.random(), self.rng.random()
        at = self.now
        if r >= self._t_fail:
            self.note(
                "effect_failed",
                lambda i: EffectFailed(
                    index=i, at=at, agent_id=agent_id, effect=invoke.effect, key=invoke.key
                ),
            )
            return ("error", "InjectedFault", f"fault injected into effect {invoke.effect!r}")
        if r >= self._t_slow:
            until = at + extra * self.plan.max_latency
            self.note(
                "effect_delayed",
                lambda i: EffectDelayed(
                    index=i,
                    at=at,
                    agent_id=agent_id,
                    effect=invoke.effect,
                    key=invoke.key,
                    until=until,
                ),
            )
            self.push(until, _EFFECT, agent_id, "@effect", (invoke, outcome, cause), True)
            return None
        return outcome

    def _crash(self, which: float) -> None:
        ids = list(self.agents)
        if not ids:
            return
        victim = ids[min(int(which * len(ids)), len(ids) - 1)]
        incarnation = self._incarnation[victim]
        lost = sum(
            1
            for item in self.heap
            if item[2] == _TIMER
            and item[3] == victim
            and item[6][0] == incarnation
            and self._timer_live(victim, item[6][1])
        )
        self._incarnation[victim] = next(self._incarnations)
        for key in [k for k in self.crons if k[0] == victim]:
            del self.crons[key]
        for key in [k for k in self.sensor_tags if k[0] == victim]:
            del self.sensor_tags[key]
        at = self.now
        self.note("crashed", lambda i: AgentCrashed(index=i, at=at, agent_id=victim, lost=lost))
        # Restarted from its last state, as recovery from a snapshot would: the value is
        # kept, and what the spec declares for startup is registered again.
        agent = self.agents[victim]
        problems: list[Problem] = []
        self._execute(victim, None, self.specs[agent.spec].startup(agent), problems)
        self.problems.extend(problems)
        if self.invariants:
            self.check()

    def idle(self) -> bool:
        """Whether nothing live is pending (stale timers do not count)."""
        for item in self.heap:
            if item[2] != _TIMER:
                return False
            incarnation, tag = item[6]
            if self._incarnation.get(item[3]) == incarnation and self._timer_live(item[3], tag):
                return False
        return True


class _Recorded(random.Random):
    """A given generator whose draws are kept, so that a run without a seed can be replayed.

    The engine draws only with ``random()``; that is the one method recorded.
    """

    def __init__(self, inner: random.Random, log: list[float]) -> None:
        super().__init__(0)
        self._inner = inner
        self._log = log

    def random(self) -> float:
        value = self._inner.random()
        self._log.append(value)
        return value


class _ChoicesExhausted(JidoError, LookupError):
    """A replayed run drew more choices than its trace recorded (it diverged)."""


class _Replayed(random.Random):
    """Gives back recorded draws, in order; one more than recorded is a divergence."""

    def __init__(self, choices: Iterable[float]) -> None:
        super().__init__(0)
        self._next = iter(choices)

    def random(self) -> float:
        try:
            return next(self._next)
        except StopIteration:
            raise _ChoicesExhausted("the run drew more choices than the trace recorded") from None


# ---------------------------------------------------------------------------- the facade


@final
class Simulation:
    """Runs many agents in one thread on virtual time, with seeded choices and faults.

    Set it up with :meth:`start` and :meth:`send`, then :meth:`run` it once. Directives mean
    what they mean in :class:`~jido_interpreters.SyncRuntime`; what differs is that the
    delivery order, the firing of timers relative to signals in flight, and every fault of
    ``faults`` are drawn from ``random.Random(seed)`` — so the same seed, specs and inputs
    give the same run, event for event (see the module docs).

    Args:
        specs: the specs agents may run.
        seed: seeds the generator behind every choice.
        rng: a generator to use instead of ``random.Random(seed)``; for Hypothesis (see
            ``jido_interpreters.simulation_testing``). The result then records no seed but
            every draw (``choices``), and its trace replays from those.
        faults: what to inject, and how often.
        effects: fake effect handlers by name (plain functions, as for SyncRuntime).
        invariants: checks over all running agents, by name; see :data:`Invariant`.
        sinks, sensors, directives, epoch: as for SyncRuntime.
        latency: the longest time a signal spends in flight, in virtual seconds; each
            latency is drawn in ``[0, latency)``. ``0`` delivers in sending order (FIFO over
            the whole system, as SyncRuntime), leaving only faults to chance.
        record: keep every event (turn off for long or benchmark runs; counts are kept).

    Raises:
        ValueError: ``latency`` is negative or not finite.

    >>> sim = Simulation(seed=1)
    >>> sim.run(events=10).quiescent
    True
    """

    def __init__(
        self,
        specs: Iterable[AgentSpec[Any]] = (),
        *,
        seed: int = 0,
        rng: random.Random | None = None,
        faults: FaultPlan = NO_FAULTS,
        effects: Mapping[str, EffectHandler] | None = None,
        invariants: Mapping[str, Invariant] | None = None,
        sinks: Iterable[str] = (),
        sensors: Mapping[str, SensorFn] | None = None,
        directives: Mapping[type[CustomDirective], DirectiveHandler] | None = None,
        latency: float = 0.001,
        epoch: datetime = DEFAULT_EPOCH,
        record: bool = True,
    ) -> None:
        if isinstance(latency, bool) or not math.isfinite(latency) or latency < 0:
            raise ValueError(f"latency must be a finite number of seconds >= 0, got {latency!r}")
        self._seed: int | None = seed if rng is None else None
        self._choices: list[float] | None = None
        if rng is None:
            rng = random.Random(seed)
        else:
            # Without a seed, the draws are the only record of the run's choices: keep them.
            self._choices = []
            rng = _Recorded(rng, self._choices)
        self._engine = _Engine(
            specs,
            rng=rng,
            faults=faults,
            effects=effects or {},
            invariants=invariants or {},
            sinks=sinks,
            sensors=sensors,
            directives=directives,
            latency=float(latency),
            epoch=epoch,
            record=record,
        )
        self._started: list[Agent[Any]] = []
        self._inputs: list[tuple[float, str, Signal]] = []
        self._budget = 0
        self._ran = False
        self._violation: Violation | None = None

    # ------------------------------------------------------------------ setup

    def start(self, spec: AgentSpec[Any] | str, id: str, state: object = None) -> Agent[Any]:
        """Start an agent before the run (registering its spec if given one).

        Returns:
            The new agent. Its startup schedules are armed on virtual time.

        Raises:
            RuntimeError: the run has begun.
            ValueError: an agent with this id is already running.
            LookupError: ``spec`` names no registered spec.
            TypeError: ``state`` does not fit the spec's state class.
        """
        self._before_run("start")
        e = self._engine
        agent = e.start(spec, id, state)
        self._started.append(agent)
        e.note("started", lambda i: AgentStarted(index=i, at=e.now, agent=agent))
        return agent

    def send(
        self, agent_id: str, signal: Signal | str, data: object = None, *, at: float = 0.0
    ) -> Signal:
        """Send a signal from outside, arriving at virtual time ``at`` (plus a latency).

        Args:
            agent_id: the addressee; if it is not running when the signal arrives, the
                signal becomes a dead letter.
            signal: a signal, or the type of a new one: id ``ext-N``, time ``at``.
            data: the new signal's data.
            at: when it is sent, in virtual seconds (>= 0).

        Returns:
            The signal sent. Inputs are messages: message faults apply to them.

        Raises:
            RuntimeError: the run has begun.
            ValueError: ``at`` is negative or not finite.
        """
        self._before_run("send")
        if isinstance(at, bool) or not math.isfinite(at) or at < 0:
            raise ValueError(f"at must be a finite number of seconds >= 0, got {at!r}")
        e = self._engine
        if isinstance(signal, Signal):
            sig = signal
        else:
            sig = attrs.evolve(e.signal(signal, data), time=e.epoch + timedelta(seconds=at))
        self._inputs.append((float(at), agent_id, sig))
        e.send_net(agent_id, "@input", sig, base=float(at))
        return sig

    def _before_run(self, what: str) -> None:
        if self._ran:
            raise RuntimeError(f"cannot {what} once the simulation has run")

    # ------------------------------------------------------------------ running

    def run(
        self, events: int = 10_000, *, progress: Callable[[int], None] | None = None
    ) -> SimulationResult:
        """Run until nothing is pending or ``events`` more events have happened.

        A duplicated message at the limit is still delivered, so a run may record one event
        more than asked. A run with a larger budget records the same events first.

        Args:
            events: the event budget (>= 0).
            progress: called with the number of events so far, now and then and at the end.

        Returns:
            The result.

        Raises:
            InvariantViolated: an invariant failed; the run stopped after that event.
            ActionCrashed: an action raised (a bug); a note gives the seed and the event
                index, and :meth:`result` has the run up to the event before.
            RuntimeError: the simulation has already run.
            ValueError: ``events`` is negative.
        """
        self._before_run("run")
        if isinstance(events, bool) or events < 0:
            raise ValueError(f"events must be >= 0, got {events!r}")
        self._ran = True
        self._budget = events
        e = self._engine
        try:
            if e.invariants:
                e.check()
            e.run(events, progress)
        except _Violated as exc:
            self._violation = exc.violation
            raise InvariantViolated(self.result()) from None
        except ActionCrashed as exc:
            exc.add_note(f"in a simulation with seed {self._seed}, at event {e.count}")
            raise
        return self.result()

    def result(self) -> SimulationResult:
        """The run so far (complete once :meth:`run` has returned or raised)."""
        e = self._engine
        return SimulationResult(
            seed=self._seed,
            max_events=self._budget,
            faults=e.plan,
            latency=e.latency,
            epoch=e.epoch,
            started=tuple(self._started),
            inputs=tuple(self._inputs),
            events=tuple(e.events),
            event_count=e.count,
            agents=FrozenMap(dict(e.agents)),
            now=e.now,
            quiescent=self._violation is None and e.idle(),
            violation=self._violation,
            counts=FrozenMap(dict(e.counts)),
            sinks=FrozenMap({name: tuple(sigs) for name, sigs in e.sinks.items()}),
            choices=None if self._choices is None else tuple(self._choices),
        )

    # ------------------------------------------------------------------ reading

    @property
    def seed(self) -> int | None:
        """The seed (``None`` when a generator was given)."""
        return self._seed

    @property
    def faults(self) -> FaultPlan:
        """The fault plan."""
        return self._engine.plan

    @property
    def now(self) -> datetime:
        """The virtual time."""
        return self._engine.clock()

    @property
    def events(self) -> tuple[SimEvent, ...]:
        """The events so far."""
        return tuple(self._engine.events)

    @property
    def agents(self) -> Mapping[str, Agent[Any]]:
        """The running agents by id (a read-only view)."""
        return MappingProxyType(self._engine.agents)

    def agent(self, agent_id: str) -> Agent[Any]:
        """The agent's current value. Raises :class:`~jido_interpreters.UnknownAgent`."""
        return self._engine.agent(agent_id)

    def sink(self, name: str) -> tuple[Signal, ...]:
        """What was emitted to the named sink. Raises ``KeyError`` for an unknown sink."""
        return tuple(self._engine.sinks[name])


# ---------------------------------------------------------------------------- scenarios


def _specs(value: Iterable[AgentSpec[Any]]) -> tuple[AgentSpec[Any], ...]:
    return tuple(value)


def _names(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _effects(value: Mapping[str, EffectHandler]) -> Mapping[str, EffectHandler]:
    return MappingProxyType(dict(value))


def _invariants(value: Mapping[str, Invariant]) -> Mapping[str, Invariant]:
    return MappingProxyType(dict(value))


def _sensors(value: Mapping[str, SensorFn]) -> Mapping[str, SensorFn]:
    return MappingProxyType(dict(value))


def _handlers(
    value: Mapping[type[CustomDirective], DirectiveHandler],
) -> Mapping[type[CustomDirective], DirectiveHandler]:
    return MappingProxyType(dict(value))


@final
@attrs.frozen(kw_only=True, eq=False)
class Scenario:
    """A system to simulate: its specs, how to set it up, its fakes and its invariants.

    ``jido simulate MODULE:SPEC`` uses the module's ``SCENARIO`` if it has one.

    Attributes:
        specs: every spec an agent may run.
        setup: starts agents and sends inputs on a fresh :class:`Simulation`. Replay does
            not call it: a trace's header records what it did.
        effects: fake effect handlers by name.
        invariants: checks over all running agents, by name.
        sinks, sensors, directives, latency, epoch: as for :class:`Simulation`.
        codec: the codec for traces, if they hold custom directives.
    """

    specs: tuple[AgentSpec[Any], ...] = attrs.field(converter=_specs)
    setup: Callable[[Simulation], object] | None = None
    effects: Mapping[str, EffectHandler] = attrs.field(factory=dict, converter=_effects)
    invariants: Mapping[str, Invariant] = attrs.field(factory=dict, converter=_invariants)
    sinks: tuple[str, ...] = attrs.field(default=(), converter=_names)
    sensors: Mapping[str, SensorFn] = attrs.field(factory=dict, converter=_sensors)
    directives: Mapping[type[CustomDirective], DirectiveHandler] = attrs.field(
        factory=dict, converter=_handlers
    )
    latency: float = 0.001
    epoch: datetime = DEFAULT_EPOCH
    codec: Codec | None = None

    def simulation(
        self,
        *,
        seed: int = 0,
        rng: random.Random | None = None,
        faults: FaultPlan = NO_FAULTS,
        record: bool = True,
        setup: bool = True,
    ) -> Simulation:
        """A fresh simulation of this scenario, set up (unless ``setup`` is false)."""
        sim = Simulation(
            self.specs,
            seed=seed,
            rng=rng,
            faults=faults,
            effects=self.effects,
            invariants=self.invariants,
            sinks=self.sinks,
            sensors=self.sensors,
            directives=self.directives,
            latency=self.latency,
            epoch=self.epoch,
            record=record,
        )
        if setup and self.setup is not None:
            self.setup(sim)
        return sim


def simulate(
    scenario: Scenario,
    *,
    seed: int = 0,
    events: int = 10_000,
    faults: FaultPlan = NO_FAULTS,
    rng: random.Random | None = None,
    record: bool = True,
    progress: Callable[[int], None] | None = None,
) -> SimulationResult:
    """Set up ``scenario`` and run it: ``scenario.simulation(...).run(events)``.

    Raises:
        InvariantViolated: an invariant failed (the error carries the seed, the event index
            and the trace so far).
        ActionCrashed: an action raised.
    """
    sim = scenario.simulation(seed=seed, rng=rng, faults=faults, record=record)
    return sim.run(events, progress=progress)


# ---------------------------------------------------------------------------- traces

_KIND: Final[Mapping[type[Any], str]] = {
    AgentStarted: "started",
    SignalDelivered: "delivered",
    DeadLettered: "dead_letter",
    MessageDropped: "dropped",
    MessageDelayed: "delayed",
    MessageDuplicated: "duplicated",
    MessageReordered: "reordered",
    AgentCrashed: "crashed",
    EffectFailed: "effect_failed",
    EffectDelayed: "effect_delayed",
}


def _event_to_dict(e: SimEvent, codec: Codec) -> dict[str, Any]:
    out: dict[str, Any] = {"i": e.index, "at": e.at, "kind": _KIND[type(e)]}
    match e:
        case AgentStarted(agent=agent):
            out["agent"] = codec.to_dict(agent)
        case SignalDelivered():
            out["to"] = e.agent_id
            out["from"] = e.sender
            out["signal"] = codec.to_dict(e.signal)
            out["after"] = codec.to_dict(e.after)
            out["directives"] = [codec.to_dict(d) for d in e.directives]
            out["problems"] = [codec.to_dict(p) for p in e.problems]
        case DeadLettered(agent_id=to, sender=sender, signal=sig):
            out.update({"to": to, "from": sender, "signal": codec.to_dict(sig)})
        case (
            MessageDropped(agent_id=to, sender=sender, signal=sig)
            | MessageDuplicated(agent_id=to, sender=sender, signal=sig)
            | MessageReordered(agent_id=to, sender=sender, signal=sig)
        ):
            out.update({"to": to, "from": sender, "signal_id": sig.id, "type": sig.type})
        case MessageDelayed(agent_id=to, sender=sender, signal=sig, until=until):
            out.update(
                {"to": to, "from": sender, "signal_id": sig.id, "type": sig.type, "until": until}
            )
        case AgentCrashed(agent_id=agent_id, lost=lost):
            out.update({"agent": agent_id, "lost": lost})
        case EffectFailed(agent_id=agent_id, effect=effect, key=key):
            out.update({"agent": agent_id, "effect": effect, "key": key})
        case EffectDelayed(agent_id=agent_id, effect=effect, key=key, until=until):
            out.update({"agent": agent_id, "effect": effect, "key": key, "until": until})
        case _:
            assert_never(e)
    return out


@functools.cache
def _codec() -> Codec:
    # Building a codec configures cattrs from scratch (tens of milliseconds): build the
    # default one once.
    return Codec()


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def simulation_to_jsonl(
    result: SimulationResult, *, codec: Codec | None = None, spec: str | None = None
) -> str:
    """The run as JSON lines: a header, one line per event, a last line for a violation.

    The header records what :func:`replay` needs to re-run it: ``seed`` (or, for a run whose
    choices a given generator made, ``choices``: every draw), ``events`` (the budget),
    ``faults``, ``latency``, ``epoch``, the ``agents`` as started and the ``inputs`` sent.
    Two runs with the same seed, specs and inputs give the same bytes.

    Args:
        result: a run (recorded: a run with recording off has no events to write).
        codec: a codec that knows any custom directives in the run.
        spec: where the system came from (``MODULE:NAME``), recorded in the header so the
            trace alone says what to replay it against (see :func:`trace_spec`).
    """
    c = codec or _codec()
    header = {
        "format": TRACE_FORMAT,
        "version": TRACE_VERSION,
        **({} if spec is None else {"spec": spec}),
        "seed": result.seed,
        **({} if result.choices is None else {"choices": list(result.choices)}),
        "events": result.max_events,
        "faults": attrs.asdict(result.faults),
        "latency": result.latency,
        "epoch": result.epoch.isoformat(),
        "agents": [c.to_dict(a) for a in result.started],
        "inputs": [{"at": at, "to": to, "signal": c.to_dict(sig)} for at, to, sig in result.inputs],
    }
    lines = [_dumps(header)]
    lines.extend(_dumps(_event_to_dict(e, c)) for e in result.events)
    v = result.violation
    if v is not None:
        lines.append(
            _dumps(
                {
                    "i": v.index,
                    "kind": "violated",
                    "invariant": v.invariant,
                    "message": v.message,
                }
            )
        )
    return "".join(line + "\n" for line in lines)


@final
@attrs.frozen(kw_only=True)
class Divergence:
    """Where a replayed run first differs from the recorded trace.

    Attributes:
        line: the trace's line number (1 is the header).
        expected: the recorded line, or ``None`` if the trace ended there.
        actual: the replayed line, or ``None`` if the replay ended there.
        note: why the replay stopped early, if it did (an action crashed).
    """

    line: int
    expected: str | None
    actual: str | None
    note: str | None = None

    def describe(self) -> str:
        """One line saying what differs, for people."""
        got = _summary(self.actual) if self.actual is not None else "the run ended"
        if self.note:
            got += f" ({self.note})"
        want = _summary(self.expected) if self.expected is not None else "the trace ended"
        return f"line {self.line}: recorded {want}; replay gave {got}"


def _summary(line: str) -> str:
    try:
        raw = json.loads(line)
    except json.JSONDecodeError:
        return repr(line[:80])
    if not isinstance(raw, dict):
        return repr(line[:80])
    if raw.get("format") == TRACE_FORMAT:
        return "a header"
    kind = raw.get("kind")
    who = raw.get("to") or raw.get("agent")
    if isinstance(who, dict):
        who = who.get("id")
    what = raw.get("type") or (raw.get("signal") or {}).get("type") or raw.get("invariant") or ""
    text = f"event {raw.get('i')}: {kind} {who or ''} {what}".rstrip()
    if kind == "delivered":
        after = raw.get("after") or {}
        text += f" -> {after.get('id')} v{after.get('version')}"
    return text


@final
@attrs.frozen
class _Header:
    spec: str | None
    seed: int | None
    choices: tuple[float, ...] | None
    events: int
    faults: FaultPlan
    latency: float
    epoch: datetime
    agents: tuple[Agent[Any], ...]
    inputs: tuple[tuple[float, str, Signal], ...]


_HEADER: Final = "simulation trace line 1"


def _header_dict(raw: object) -> dict[str, Any]:
    if not isinstance(raw, dict) or raw.get("format") != TRACE_FORMAT:
        raise DecodeError(_HEADER, f"not a simulation trace header (no format {TRACE_FORMAT!r})")
    return raw


def _header_spec(raw: dict[str, Any]) -> str | None:
    spec = raw.get("spec")
    if spec is not None and not isinstance(spec, str):
        raise DecodeError(_HEADER, f"spec {spec!r} is not a string")
    return spec


def _read_header(raw: object, scenario: Scenario) -> _Header:
    what = _HEADER
    raw = _header_dict(raw)
    if raw.get("version") != TRACE_VERSION:
        raise DecodeError(what, f"trace version {raw.get('version')!r} is not {TRACE_VERSION}")
    spec_ref = _header_spec(raw)
    seed, events, latency = raw.get("seed"), raw.get("events"), raw.get("latency")
    choices: tuple[float, ...] | None = None
    if seed is None:
        drawn = raw.get("choices")
        if drawn is None:
            raise DecodeError(what, "no seed and no recorded choices: nothing to replay from")
        if not isinstance(drawn, list) or not all(
            type(c) is float and 0.0 <= c < 1.0 for c in drawn
        ):
            raise DecodeError(what, "choices must be a list of numbers in [0, 1)")
        choices = tuple(drawn)
    elif isinstance(seed, bool) or not isinstance(seed, int):
        raise DecodeError(what, f"seed {seed!r} is not an integer")
    if isinstance(events, bool) or not isinstance(events, int) or events < 0:
        raise DecodeError(what, f"events {events!r} is not an integer >= 0")
    if isinstance(latency, bool) or not isinstance(latency, int | float) or latency < 0:
        raise DecodeError(what, f"latency {latency!r} is not a number >= 0")
    faults = raw.get("faults")
    if not isinstance(faults, dict):
        raise DecodeError(what, "faults must be an object")
    try:
        plan = FaultPlan(**faults)
        epoch = datetime.fromisoformat(str(raw.get("epoch")))
    except InvalidFaultPlan as exc:
        raise DecodeError(what, str(exc)) from None
    except TypeError as exc:
        raise DecodeError(what, f"faults: {exc}") from None
    except ValueError as exc:
        raise DecodeError(what, f"epoch: {exc}") from None
    if epoch.utcoffset() is None:
        raise DecodeError(what, "epoch must be timezone-aware")
    by_name = {s.name: s for s in scenario.specs}
    codec = scenario.codec or _codec()
    agents: list[Agent[Any]] = []
    inputs: list[tuple[float, str, Signal]] = []
    try:
        for a in raw.get("agents", []):
            name = a.get("spec") if isinstance(a, dict) else None
            spec = by_name.get(name) if isinstance(name, str) else None
            if spec is None:
                raise DecodeError(what, f"agent {a!r} runs no spec of the scenario")
            agents.append(codec.agent_from_dict(a, spec))
        for item in raw.get("inputs", []):
            at, to = item["at"], item["to"]
            if isinstance(at, bool) or not isinstance(at, int | float) or not isinstance(to, str):
                raise DecodeError(what, f"input {item!r} needs a number 'at' and a string 'to'")
            inputs.append((float(at), to, codec.signal_from_dict(item["signal"])))
    except DecodeError as exc:
        raise DecodeError(what, exc.reason if exc.what == what else str(exc)) from None
    except (KeyError, TypeError, AttributeError) as exc:
        raise DecodeError(what, f"{type(exc).__name__}: {exc}") from None
    return _Header(
        spec_ref, seed, choices, events, plan, float(latency), epoch, tuple(agents), tuple(inputs)
    )


def trace_spec(text: str) -> str | None:
    """The ``MODULE:NAME`` a trace's header says it was simulated from (``jido simulate``
    records it), or ``None`` if it does not say.

    Raises:
        DecodeError: the first line is not a simulation trace header.
    """
    lines = split_lines(text)
    try:
        raw = loads(lines[0]) if lines else None
    except ValueError as exc:
        raise DecodeError(_HEADER, f"not JSON: {exc}") from None
    return _header_spec(_header_dict(raw))


def replay(
    text: str,
    scenario: Scenario,
    *,
    progress: Callable[[int], None] | None = None,
) -> Divergence | None:
    """Re-run a trace written by :func:`simulation_to_jsonl` and compare it, line by line.

    The run is rebuilt from the header alone (seed or recorded choices, budget, faults,
    latency, epoch, agents, inputs); ``scenario`` supplies the specs, fakes and invariants. A
    spec, fake or invariant that changed behaviour shows up as a divergence (for a run
    replayed from its choices, possibly as one that drew more choices than were recorded).

    Returns:
        ``None`` if the replay gives the same bytes, else the first :class:`Divergence`.

    Raises:
        DecodeError: a line is not a JSON object, or the header is malformed; ``what``
            names the line.
    """
    lines = split_lines(text)
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise DecodeError("simulation trace line 1", "the trace is empty")
    parsed: list[object] = []
    for lineno, line in enumerate(lines, start=1):
        try:
            raw = loads(line)
        except json.JSONDecodeError as exc:
            raise DecodeError(f"simulation trace line {lineno}", f"not JSON: {exc.msg}") from None
        except ValueError as exc:
            raise DecodeError(f"simulation trace line {lineno}", str(exc)) from None
        if not isinstance(raw, dict):
            raise DecodeError(f"simulation trace line {lineno}", "expected a JSON object")
        parsed.append(raw)
    header = _read_header(parsed[0], scenario)
    sim = Simulation(
        scenario.specs,
        seed=header.seed or 0,
        rng=None if header.choices is None else _Replayed(header.choices),
        faults=header.faults,
        effects=scenario.effects,
        invariants=scenario.invariants,
        sinks=scenario.sinks,
        sensors=scenario.sensors,
        directives=scenario.directives,
        latency=header.latency,
        epoch=header.epoch,
    )
    note: str | None = None
    try:
        for agent in header.agents:
            sim.start(agent.spec, agent.id, agent.state)
        for at, to, sig in header.inputs:
            sim.send(to, sig, at=at)
        result = sim.run(header.events, progress=progress)
    except InvariantViolated as exc:
        result = exc.result
    except ActionCrashed as exc:
        note = str(exc)
        result = sim.result()
    except _ChoicesExhausted as exc:
        note = str(exc)
        result = sim.result()
    if header.choices is not None:
        # The header is compared as recorded: a diverging run shows at its first differing
        # event, not at a header listing the draws it happened to take.
        result = attrs.evolve(result, choices=header.choices)
    actual = split_lines(simulation_to_jsonl(result, codec=scenario.codec, spec=header.spec))
    for n in range(max(len(lines), len(actual))):
        want = lines[n] if n < len(lines) else None
        got = actual[n] if n < len(actual) else None
        if want != got:
            return Divergence(line=n + 1, expected=want, actual=got, note=note)
    return None
