"""The single-threaded machinery behind SyncRuntime and DryRun.

One FIFO queue of deliveries, a virtual clock, timers, cron jobs, the parent/child
hierarchy and sensors. The kernel never changes an agent except through ``jido.step``: every
directive's outcome comes back as a signal.

What differs between interpreters is how an ``Invoke`` is performed (:class:`Effects`): run
a plain function (SyncRuntime), or record it and maybe answer from canned replies (DryRun).
"""

from __future__ import annotations

import heapq
import itertools
import math
import numbers
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any, Final, Protocol, TypeAlias, assert_never

import attrs

import jido
from jido import (
    CHILD_EXIT,
    CHILD_STARTED,
    ORPHANED,
    RESTARTED,
    SENSOR_EXIT,
    ActionCrashed,
    AdoptChild,
    Agent,
    AgentSpec,
    Cron,
    CronCancel,
    CustomDirective,
    Directive,
    Emit,
    Error,
    FrozenMap,
    Invoke,
    JsonValue,
    Problem,
    Schedule,
    Signal,
    SpawnAgent,
    StartSensor,
    Step,
    Stop,
    StopChild,
    StopSensor,
    ToAgent,
    ToParent,
    ToSelf,
    ToSink,
    derive_id,
)

from ._checks import (
    check_reason,
    directive_handlers,
    plain_callables,
    sink_names,
    specs_by_name,
)
from ._cron import CronTicks, cron_ticks
from ._durable import restarted
from ._options import AgentOptions, ParentDeath
from ._outcomes import (
    EffectOutcome,
    adopted_ancestor,
    directive_problem,
    handler_failed,
    handler_signals,
    is_ancestor,
    no_handler,
    outcome_signal,
    spawn_refused,
    spawned_id,
    start_failed,
    system_signal,
)
from ._policy import (
    PASSING,
    CrashHandled,
    CrashOutcome,
    check_option_names,
    check_options,
    crash_message,
    handler_crash,
    judge,
    policy_name,
)
from ._trace import TraceEntry

__all__ = [
    "DEFAULT_EPOCH",
    "CallRefused",
    "EffectOutcome",
    "Effects",
    "Kernel",
    "RunawayError",
    "SensorFn",
    "UnknownAgent",
    "fired_by",
]

#: Virtual time 0 of a runtime unless told otherwise.
DEFAULT_EPOCH: Final = datetime(2026, 1, 1, tzinfo=UTC)

#: A sensor: given its config, the signals it will produce as ``(delay, type, data)``.
SensorFn: TypeAlias = Callable[[FrozenMap[str, JsonValue]], Iterable[tuple[float, str, object]]]

#: A handler for a user-defined directive: returns signals to deliver to the agent (an
#: iterable of drafts, which the runtime stamps, or of whole signals; see
#: ``_outcomes.handler_signals``).
DirectiveHandler: TypeAlias = Callable[[str, Any], Iterable[Signal]]

SENSOR_NEEDS: Final = (
    "SyncRuntime, Simulation and DryRun take a sensor's emissions from what it returns, so"
    " it must be a plain function (def) returning (delay, type, data) items; async sensors"
    " are for AsyncRuntime"
)


class Effects(Protocol):
    """How a kernel performs ``Invoke`` directives."""

    def perform(self, invoke: Invoke, agent_id: str, problems: list[Problem]) -> EffectOutcome:
        """Perform (or not) the effect; the outcome is delivered as a signal.

        Problems worth a line in the trace (an effect with no handler) go to ``problems``.
        """
        ...


_LAST_TIME: Final = datetime(9999, 12, 30, tzinfo=UTC)


class UnknownAgent(LookupError):
    """The runtime has no running agent with this id."""

    def __init__(self, agent_id: str) -> None:
        super().__init__(f"no running agent {agent_id!r}")
        self.agent_id = agent_id


class CallRefused(Exception):
    """A ``call(..., check=True)`` whose signal was handled, but whose step reported
    problems (``Error`` directives): no route for its type, bad params, an illegal
    transition, an action's ``Failure``. The step was taken: the agent after it is here,
    its other actions' changes kept (an HTTP endpoint answers 400 from ``problems``).

    Attributes:
        agent_id: the agent called.
        signal_type: the type of the signal sent.
        problems: the step's problems, in order.
        agent: the agent after the step.
    """

    def __init__(
        self, agent_id: str, signal_type: str, problems: tuple[Problem, ...], agent: Agent[Any]
    ) -> None:
        said = "; ".join(f"{p.kind}: {p.message}" for p in problems)
        super().__init__(f"agent {agent_id!r} refused {signal_type!r}: {said}")
        self.agent_id = agent_id
        self.signal_type = signal_type
        self.problems = problems
        self.agent = agent


class RunawayError(RuntimeError):
    """A run handled more signals than its ``max_steps`` without becoming idle (counting,
    in an ``advance``, what timers armed with no delay went on to cause).

    Usually an agent that emits to itself on every signal (or re-arms a timer at once).
    Nothing was lost: the queue still holds what was pending (``pending``), and the trace
    shows the loop.
    """

    def __init__(self, max_steps: int, pending: int) -> None:
        super().__init__(
            f"still busy after {max_steps} signals ({pending} pending): an endless loop?"
        )
        self.max_steps = max_steps
        self.pending = pending


@attrs.define
class _CronJob:
    agent_id: str
    directive: Cron
    times: CronTicks
    ticks: int = 0
    generation: int = 0


class Kernel:
    """The queue-and-clock engine shared by the synchronous interpreters."""

    def __init__(
        self,
        specs: Iterable[AgentSpec[Any]],
        *,
        effects: Effects,
        sinks: Iterable[str] = (),
        sensors: Mapping[str, SensorFn] | None = None,
        directives: Mapping[type[CustomDirective], DirectiveHandler] | None = None,
        epoch: datetime = DEFAULT_EPOCH,
        max_steps: int = 1_000_000,
        record: bool = True,
        options: Mapping[str, AgentOptions] | None = None,
        default_options: AgentOptions | None = None,
    ) -> None:
        self.specs: dict[str, AgentSpec[Any]] = specs_by_name(specs)
        # Options by spec name, and for the rest: ``None`` there means unsupervised (a crash
        # is raised to the caller, a parent's stop orphans its children), see ``_policy``.
        self.options = check_options(options, default_options)
        check_option_names(self.options, self.specs)
        self.default_options = default_options
        #: The crashes the agents' error policies handled, in order.
        self.crashes: list[CrashHandled] = []
        # The latest crash handled, with its exception: ``call`` raises it for its signal.
        self.last_crash: tuple[Signal, ActionCrashed] | None = None
        # The last step taken (its Error directives answer a call(check=True)).
        self.last_step: Step[Any] | None = None
        # Per agent, the virtual times of its restarts within its policy's window.
        self._restarts: dict[str, deque[float]] = {}
        #: Whether a restarted agent is sent ``jido.agent.restarted`` (a simulation replaying
        #: a trace written before the signal existed turns it off, to run as it ran).
        self.announce_restarts = True
        given: object = epoch
        if not isinstance(given, datetime) or given.utcoffset() is None:
            raise ValueError(f"epoch must be a timezone-aware datetime, not {epoch!r}")
        if type(max_steps) is not int or max_steps < 1:
            # NaN would never be reached: a loop would run for ever.
            raise ValueError(f"max_steps must be an integer >= 1, not {max_steps!r}")
        self.effects = effects
        self.sinks: dict[str, list[Signal]] = {name: [] for name in sink_names(sinks)}
        self.sensor_fns = plain_callables("sensor", sensors, SENSOR_NEEDS)
        self.directive_handlers = directive_handlers(directives)
        self.epoch = epoch
        self.max_steps = max_steps
        self.record = record
        self.now = 0.0
        # What ``advance`` was asked for, summed exactly: rounding each advance to the
        # microsecond would lose time (three advances of 1/3 s would move 0.999999 s on).
        self._asked = Fraction(0)
        self.agents: dict[str, Agent[Any]] = {}
        self.parents: dict[str, tuple[str, str]] = {}  # child id -> (parent id, tag)
        self.children: dict[str, dict[str, str]] = {}  # parent id -> tag -> child id
        self.queue: deque[tuple[str, Signal]] = deque()
        # The place of the custom directive being executed among its step's directives,
        # which the drafts its handler returns are stamped with (see handler_signal).
        self.directive_index = 0
        self.timers: list[tuple[float, int, str, Signal, tuple[str, ...]]] = []
        # Timers armed with no delay (due the instant they were armed), by seq: how many
        # steps the run that armed them had taken (see advance).
        self._at_once: dict[int, int] = {}
        self._chain = 0  # steps of the run under way
        self.crons: dict[tuple[str, str], _CronJob] = {}
        self.sensor_tags: dict[tuple[str, str], int] = {}  # (agent, tag) -> generation
        # (agent, tag) -> (sensor name, id of its last emission, exit reason): when that one
        # fires, the sensor has ended, and its agent hears so and why ("normal", or what it
        # raised after producing the rest), as in AsyncRuntime. The id is derived from the
        # generation, so it names the live sensor's last emission only.
        self.sensor_ends: dict[tuple[str, str], tuple[str, str, str]] = {}
        self.trace: list[TraceEntry] = []
        self.problems: list[Problem] = []
        # Those of agents starting (declared schedules), which no trace entry holds.
        self.start_problems: list[tuple[str, Problem]] = []
        self.dead_letters: list[tuple[str, Signal]] = []
        # Effect outcomes of the directives being executed, and how deeply (a spawned
        # child's startup runs inside its parent's step): queued when the outermost is done.
        self._outcomes: list[Any] = []
        # Timers those directives armed, held until they are done (a simulation holds them:
        # see its _timer); here always empty.
        self._held: list[Any] = []
        # The timers those directives armed (a restart in their midst keeps none of them:
        # see take_due).
        self._armed_now: set[int] = set()
        # The runtime method running steps now (SyncRuntime and DryRun refuse to be entered
        # again from inside one), or None.
        self.busy: str | None = None
        self._depth = 0
        self.steps = 0
        self._seq = itertools.count()
        self._generation = itertools.count(1)
        self._external = itertools.count()
        self._clock_at = 0.0
        self._clock_value = self.epoch
        try:
            self._epoch_utc = self.epoch.astimezone(UTC)
        except OverflowError:
            raise ValueError(f"epoch {self.epoch.isoformat()} has no time in UTC") from None
        if self.epoch.tzinfo is not UTC:
            # The epoch as the wall clock of its zone shows that instant: a local time the
            # clocks skip (02:30 on a spring-forward night) is no time a trace could name
            # again, so it is the time it stands for (03:30).
            self.epoch = self._epoch_utc.astimezone(self.epoch.tzinfo)
            self._clock_value = self.epoch
        #: Virtual seconds from the epoch to the last time a datetime can hold (year 9999,
        #: less a day for zones ahead of UTC): virtual time never passes it.
        self.end_of_time = (_LAST_TIME - self._epoch_utc).total_seconds()

    # ------------------------------------------------------------------ time and ids

    def clock(self) -> datetime:
        """The current virtual time as a datetime."""
        # Every signal from outside is stamped with it, and virtual time stands still between
        # advances: the last answer is kept.
        if self._clock_at != self.now:
            self._clock_at = self.now
            self._clock_value = self.time_at(self.now)
        return self._clock_value

    def time_at(self, seconds: float) -> datetime:
        """The time ``seconds`` of virtual time after the epoch: counted in absolute time
        (an epoch in a zone with daylight saving would otherwise be advanced in wall-clock
        time), shown in the epoch's zone."""
        value = self._epoch_utc + timedelta(seconds=seconds)
        return value if self.epoch.tzinfo is UTC else value.astimezone(self.epoch.tzinfo)

    def later(self, seconds: float) -> float:
        """The virtual time ``seconds`` from now, on a whole microsecond, as the datetimes
        it is reported in are (:meth:`time_at`): a timer armed for 1 s falls due once ten
        advances of 0.1 s have passed, as ``now`` then reads 1 s later (the float sums
        themselves differ in their last bit). Virtual time has microsecond granularity:
        timers due in the same microsecond fire in the order they were armed, and a delay
        under half of one is no delay."""
        # ``now`` is on a microsecond (advance and every due time are), so this is never
        # before it. (The Simulation, whose clock is not, takes delays as they are.)
        return round(self.now + seconds, 6)

    def signal(
        self, type: str, data: object = None, *, source: str = "jido://runtime", **kw: Any
    ) -> Signal:
        """A signal from outside, with a deterministic id and the current virtual time."""
        n = next(self._external)
        return Signal(type=type, source=source, id=f"ext-{n}", time=self.clock(), data=data, **kw)

    # ------------------------------------------------------------------ lifecycle

    def start(
        self,
        spec: AgentSpec[Any] | str,
        agent_id: str,
        state: object = None,
        *,
        parent: tuple[str, str] | None = None,
    ) -> Agent[Any]:
        """Start an agent and register its declared schedules."""
        s = self._spec(spec)
        if agent_id in self.agents:
            raise ValueError(f"an agent {agent_id!r} is already running")
        agent = s.new(agent_id, state)
        self.agents[agent_id] = agent
        if parent is not None:
            self._link(parent[0], parent[1], agent_id)
        problems: list[Problem] = []
        self._execute(agent_id, None, s.startup(agent), problems)
        self.problems.extend(problems)
        self.start_problems.extend((agent_id, p) for p in problems)
        return agent

    def _spec(self, spec: AgentSpec[Any] | str) -> AgentSpec[Any]:
        if isinstance(spec, str):
            try:
                return self.specs[spec]
            except KeyError:
                raise LookupError(f"no spec named {spec!r} is registered") from None
        known = self.specs.setdefault(spec.name, spec)
        if known is not spec:
            raise ValueError(f"a different spec is already registered as {spec.name!r}")
        return spec

    def _link(self, parent_id: str, tag: str, child_id: str) -> None:
        self.parents[child_id] = (parent_id, tag)
        self.children.setdefault(parent_id, {})[tag] = child_id

    def agent(self, agent_id: str) -> Agent[Any]:
        """The current value of a running agent. Raises :class:`UnknownAgent`."""
        try:
            return self.agents[agent_id]
        except KeyError:
            raise UnknownAgent(agent_id) from None

    def stop(self, agent_id: str, reason: str = "normal") -> None:
        """Stop an agent: its parent told, its timers dropped, its children following their
        ``on_parent_death`` (orphaned, unless options say otherwise).

        Raises:
            UnknownAgent: no such running agent.
            TypeError: ``reason`` is not a string (it goes into the parent's ``child.exit``).
        """
        check_reason(reason)
        if agent_id not in self.agents:
            raise UnknownAgent(agent_id)
        self._stop(agent_id, reason)

    def _stop(self, agent_id: str, reason: str) -> None:
        del self.agents[agent_id]
        # Its armed timers go too: a Schedule must not fire into a later agent with this id.
        self._drop_armed(agent_id)
        # Signals already queued for a stopped agent are not silently lost: dead letters.
        self.queue = deque(self._undelivered(self.queue, agent_id))
        self._outcomes_stopped(agent_id)
        link = self.parents.pop(agent_id, None)
        if link is not None:
            parent_id, tag = link
            self.children.get(parent_id, {}).pop(tag, None)
            if parent_id in self.agents:
                self._system(
                    parent_id,
                    CHILD_EXIT,
                    {"child_id": agent_id, "tag": tag, "reason": reason},
                    cause=agent_id,
                )
        self._restarts.pop(agent_id, None)  # an agent started under the id starts afresh
        for tag, child_id in sorted(self.children.pop(agent_id, {}).items()):
            self.parents.pop(child_id, None)
            if child_id not in self.agents:
                continue
            # As on AsyncRuntime: each child follows its own ``on_parent_death``, in tag order.
            policy = self.parent_death(child_id)
            match policy:
                case "stop":
                    self._stop(child_id, f"parent {agent_id} stopped")
                case "orphan":
                    self._system(
                        child_id,
                        ORPHANED,
                        {"parent_id": agent_id, "tag": tag, "reason": reason},
                        cause=agent_id,
                    )
                case "continue":
                    pass  # parentless from now on, and not told
                case _:
                    assert_never(policy)

    def _system(self, agent_id: str, type: str, data: object, *, cause: str) -> None:
        sig = system_signal(
            type, data, agent_id=agent_id, cause=cause, seq=next(self._seq), time=self.clock()
        )
        self.queue.append((agent_id, sig))

    # ------------------------------------------------------------------ running

    def deliver(self, agent_id: str, signal: Signal) -> None:
        """Queue ``signal`` for ``agent_id`` (a dead letter if it is not running)."""
        if agent_id not in self.agents:
            raise UnknownAgent(agent_id)
        self.queue.append((agent_id, signal))

    def run_until_idle(self) -> int:
        """Handle queued signals, and the timers due now (armed with no delay), until none
        is left; return how many were handled. The clock does not move."""
        self._chain = 0
        try:
            return self._drain() + self._fire_until(self.now)
        finally:
            self._chain = 0

    def _drain(self) -> int:
        # The run under way may have begun before (see advance): ``_chain`` counts its steps.
        handled = 0
        while self.queue:
            if self._chain >= self.max_steps:
                raise RunawayError(self.max_steps, len(self.queue))
            agent_id, signal = self.queue.popleft()
            self._chain += 1  # first: a timer the step arms continues the run with it
            self.handle(agent_id, signal)
            handled += 1
        return handled

    def handle(self, agent_id: str, signal: Signal) -> Agent[Any] | None:
        """Step one agent on one signal and execute the directives; the agent after, or
        ``None`` if it is not running (the signal becomes a dead letter) or the step crashed
        and the agent's error policy handled it (see :meth:`crashed`).

        Raises:
            Exception: what user code raised in the step, if the agent has no options.
        """
        before = self.agents.get(agent_id)
        if before is None:
            self.dead_letters.append((agent_id, signal))
            return None
        spec = self.specs[before.spec]
        try:
            result = jido.step(spec, before, signal)
        except PASSING:
            raise
        except BaseException as exc:
            # A bug in user code the core ran (an action, a route guard, a custom strategy).
            # (A ``try`` costs nothing until something raises: the path of a step that does
            # not crash is as it was.)
            opts = self.options.get(spec.name, self.default_options)
            if opts is None:
                raise  # unsupervised: the caller sees the bug, as it always did
            self.crashed(agent_id, signal, exc, opts)
            return None
        self.agents[agent_id] = result.agent
        self.steps += 1
        self.last_step = result
        problems: list[Problem] = []
        try:
            self._execute(agent_id, signal, result.directives, problems)
        finally:
            # Recorded even if executing raised (a bug in an interpreter's extension): the
            # step was taken, and the trace must say so to stay a chain of befores and afters.
            if self.record:
                self.trace.append(
                    TraceEntry(
                        index=len(self.trace),
                        at=self.now,
                        agent_id=agent_id,
                        signal=signal,
                        before=before,
                        after=result.agent,
                        directives=result.directives,
                        problems=tuple(problems),
                    )
                )
            self.problems.extend(problems)
        return result.agent

    # ------------------------------------------------------------------ directives

    def _execute(
        self,
        agent_id: str,
        cause: Signal | None,
        directives: Iterable[Directive],
        problems: list[Problem],
    ) -> None:
        self._depth += 1
        try:
            for index, d in enumerate(directives):
                if agent_id not in self.agents:
                    break  # stopped by an earlier directive: the rest are not executed
                if type(d) is Emit and type(d.to) is ToAgent:
                    # The commonest directive of all, tested by type before the `match` below
                    # (whose class patterns cost several times more): an emit to a running agent.
                    target = d.to.id
                    if target in self.agents:
                        self._send(agent_id, target, d.signal)
                        continue
                if isinstance(d, CustomDirective):
                    self.directive_index = index  # where its handler's drafts stand
                    if self._custom(agent_id, cause, d, problems):
                        break  # restarted: the rest of the crashed step is not carried out
                    continue
                match d:
                    case Emit(signal=sig, to=to):
                        self._emit(agent_id, sig, to, problems)
                    case Invoke():
                        self._invoke(agent_id, cause, d, problems)
                    case Schedule(delay=delay, signal=sig):
                        self._timer(self.later(delay), agent_id, sig)
                    case Cron():
                        self._cron(agent_id, d, problems)
                    case CronCancel(job_id=job_id):
                        self.crons.pop((agent_id, job_id), None)
                    case SpawnAgent():
                        self._spawn(agent_id, d, problems)
                    case StopChild(tag=tag, reason=reason):
                        child = self.children.get(agent_id, {}).get(tag)
                        if child is None or child not in self.agents:
                            problems.append(directive_problem(f"no child tagged {tag!r}", tag=tag))
                        else:
                            self._stop(child, reason)
                    case AdoptChild():
                        self._adopt(agent_id, d, problems)
                    case StartSensor():
                        self._start_sensor(agent_id, d, problems)
                    case StopSensor(tag=tag):
                        self.sensor_tags.pop((agent_id, tag), None)
                        self.sensor_ends.pop((agent_id, tag), None)
                    case Stop(reason=reason):
                        self._stop(agent_id, reason)
                    case Error():
                        pass  # recorded in the trace as a directive; nothing to execute
                    case _:
                        assert_never(d)
        finally:
            self._depth -= 1
            if not self._depth:
                if self._outcomes or self._held:
                    self._flush_outcomes()
                if self._armed_now:
                    self._armed_now.clear()

    def _flush_outcomes(self) -> None:
        """Queue the outcomes of the effects the directives just executed invoked (the hook
        a simulation overrides to put them, and the timers it held, in flight)."""
        self.queue.extend(self._outcomes)
        self._outcomes.clear()

    def _outcomes_stopped(self, agent_id: str) -> None:
        """The agent stopped in the step whose effect outcomes are waiting to be queued:
        theirs are dead letters now, as in every runtime, not news for an agent started
        under the id before their turn (a simulation, which knows each message's addressee,
        overrides it)."""
        if self._outcomes:
            self._outcomes[:] = self._undelivered(self._outcomes, agent_id)

    def _undelivered(
        self, pending: Iterable[tuple[str, Signal]], agent_id: str
    ) -> list[tuple[str, Signal]]:
        """``pending`` but what is for ``agent_id``, which becomes dead letters, in order."""
        kept: list[tuple[str, Signal]] = []
        for item in pending:
            (self.dead_letters if item[0] == agent_id else kept).append(item)
        return kept

    def _emit(
        self,
        agent_id: str,
        sig: Signal,
        to: ToSelf | ToParent | ToAgent | ToSink,
        problems: list[Problem],
    ) -> None:
        match to:
            case ToSelf():
                self._send(agent_id, agent_id, sig)
            case ToParent():
                link = self.parents.get(agent_id)
                if link is None:
                    problems.append(
                        directive_problem(
                            f"agent {agent_id!r} has no parent to emit {sig.type!r} to",
                            signal_type=sig.type,
                        )
                    )
                else:
                    self._send(agent_id, link[0], sig)
            case ToAgent(id=target):
                if target in self.agents:
                    self._send(agent_id, target, sig)
                else:
                    problems.append(
                        directive_problem(
                            f"no running agent {target!r} to emit {sig.type!r} to",
                            agent=target,
                            signal_type=sig.type,
                        )
                    )
                    self.dead_letters.append((target, sig))
            case ToSink(name=name):
                sink = self.sinks.get(name)
                if sink is None:
                    problems.append(directive_problem(f"no sink named {name!r}", sink=name))
                else:
                    sink.append(sig)
            case _:
                assert_never(to)

    def _send(self, sender: str, target: str, sig: Signal) -> None:
        """Deliver an emitted signal to a running agent (the hook a simulation overrides to
        put messages in flight)."""
        self.queue.append((target, sig))

    def _invoke(
        self, agent_id: str, cause: Signal | None, d: Invoke, problems: list[Problem]
    ) -> None:
        outcome = self.effects.perform(d, agent_id, problems)
        if outcome is not None:
            # Queued once the step's other directives are done, as in AsyncRuntime (where
            # the effect runs as a task after the step): a signal a later directive of the
            # same step sends (to itself, say) arrives before the outcome.
            self._outcomes.append(
                (agent_id, outcome_signal(d, outcome, cause=cause, time=self.clock()))
            )

    def _timer(self, due: float, agent_id: str, sig: Signal, tag: tuple[str, ...] = ()) -> None:
        seq = next(self._seq)
        if self._depth:
            self._armed_now.add(seq)
        if due <= self.now:
            self._at_once[seq] = self._chain  # armed with no delay: see advance
        heapq.heappush(self.timers, (due, seq, agent_id, sig, tag))

    def _cron(self, agent_id: str, d: Cron, problems: list[Problem]) -> None:
        found = cron_ticks(d, self.clock())
        if isinstance(found, Problem):
            problems.append(found)
            return
        times, first = found
        job = _CronJob(agent_id, d, times, generation=next(self._generation))
        self.crons[(agent_id, d.job_id)] = job
        self._arm_cron(job, first)

    def _arm_cron(self, job: _CronJob, at: datetime | None = None) -> None:
        """Arm the job's next tick (``at``, or the one after the last); a job that will never
        tick again is over."""
        nxt = job.times.next() if at is None else at
        if nxt is None:
            key = (job.agent_id, job.directive.job_id)
            if self.crons.get(key) is job:
                del self.crons[key]
            return
        # In absolute time: wall-clock arithmetic between two datetimes of one zone would
        # be off by an hour across a daylight-saving change.
        due = (nxt.astimezone(UTC) - self._epoch_utc).total_seconds()
        tag = ("cron", job.directive.job_id, str(job.generation))
        self._timer(max(due, self.now), job.agent_id, job.directive.signal, tag)

    def _spawn(self, parent_id: str, d: SpawnAgent, problems: list[Problem]) -> None:
        """Start the child ``d`` asks for, or refuse it: a directive problem, and the parent
        gets ``child.exit`` at once (reason ``not started: ...``), as on every runtime, so
        that a parent waiting for the child hears that it will not come."""
        child_id = spawned_id(parent_id, d)
        refused = spawn_refused(
            d,
            child_id,
            specs=self.specs,
            in_use=self.agents.__contains__,
            tags=self.children.get(parent_id, {}),
        )
        if refused is None:
            try:
                self.start(
                    self.specs[d.spec],
                    child_id,
                    jido.thaw(d.state) or None,
                    parent=(parent_id, d.tag),
                )
            except (TypeError, ValueError) as exc:
                refused = start_failed(child_id, exc)
        if refused is not None:
            problem, reason = refused
            problems.append(problem)
            # Caused by the parent's own step, not by the agent that may hold ``child_id``
            # (which runs on, untouched): a simulation puts it on the parent's link to
            # itself, after what the step sent the parent before it, as queued here.
            self._system(
                parent_id,
                CHILD_EXIT,
                {"child_id": child_id, "tag": d.tag, "reason": reason},
                cause=parent_id,
            )
            return
        self._system(
            parent_id,
            CHILD_STARTED,
            {"child_id": child_id, "tag": d.tag, "spec": d.spec, "meta": d.meta},
            cause=child_id,
        )

    def _adopt(self, parent_id: str, d: AdoptChild, problems: list[Problem]) -> None:
        child = d.child_id
        if child == parent_id:
            problems.append(directive_problem("an agent cannot adopt itself", child_id=child))
        elif child not in self.agents:
            problems.append(
                directive_problem(f"no running agent {child!r} to adopt", child_id=child)
            )
        elif child in self.parents:
            problems.append(
                directive_problem(f"agent {child!r} already has a parent", child_id=child)
            )
        elif is_ancestor(child, parent_id, lambda a: (self.parents.get(a) or (None,))[0]):
            problems.append(adopted_ancestor(child, parent_id))
        elif d.tag in self.children.get(parent_id, {}):
            problems.append(directive_problem(f"child tag {d.tag!r} is already in use", tag=d.tag))
        else:
            self._link(parent_id, d.tag, child)
            self._system(
                parent_id,
                CHILD_STARTED,
                {
                    "child_id": child,
                    "tag": d.tag,
                    "spec": self.agents[child].spec,
                    "meta": d.meta,
                },
                cause=child,
            )

    def _start_sensor(self, agent_id: str, d: StartSensor, problems: list[Problem]) -> None:
        fn = self.sensor_fns.get(d.sensor)
        if fn is None:
            problems.append(directive_problem(f"no sensor named {d.sensor!r}", sensor=d.sensor))
            return
        generation = next(self._generation)
        self.sensor_tags[(agent_id, d.tag)] = generation  # replaces an older one
        tag = ("sensor", d.tag, str(generation))
        # Malformed output (a bad type, data that is not JSON, a delay that is not a finite
        # number of seconds >= 0) ends the sensor like raising does, as in AsyncRuntime: a
        # SENSOR_EXIT, not a crash of the run. What it produced before that is delivered
        # first, as AsyncRuntime delivers what an async sensor yielded before it failed.
        emissions: list[tuple[float, Signal]] = []
        reason = "normal"
        try:
            for n, (delay, type_, data) in enumerate(fn(d.config)):
                seconds = float(delay)
                if not (math.isfinite(seconds) and seconds >= 0):
                    raise ValueError(
                        f"invalid sensor delay {delay!r}: expected a finite number of seconds >= 0"
                    )
                sig = Signal(
                    type=type_,
                    source=f"jido://sensor/{d.sensor}",
                    id=derive_id(f"sensor:{d.tag}:{generation}", agent_id, n),
                    data=data,
                )
                emissions.append((seconds, sig))
        except PASSING:
            raise
        except BaseException as exc:
            reason = f"{type(exc).__name__}: {exc}"
        if not emissions:
            self._sensor_ended(agent_id, d.tag, d.sensor, reason)
            return
        last = max(range(len(emissions)), key=lambda i: (emissions[i][0], i))
        self.sensor_ends[(agent_id, d.tag)] = (d.sensor, emissions[last][1].id, reason)
        for delay, sig in emissions:
            self._timer(self.later(delay), agent_id, sig, tag)

    def _sensor_fired(self, agent_id: str, tag: tuple[str, ...], sig: Signal) -> None:
        """After a sensor's emission was delivered: if it was its last, the sensor ended."""
        end = self.sensor_ends.get((agent_id, tag[1]))
        if end is not None and end[1] == sig.id:
            self._sensor_ended(agent_id, tag[1], end[0], end[2])

    def _sensor_ended(self, agent_id: str, tag: str, sensor: str, reason: str) -> None:
        self.sensor_tags.pop((agent_id, tag), None)
        self.sensor_ends.pop((agent_id, tag), None)
        self._system(
            agent_id,
            SENSOR_EXIT,
            {"tag": tag, "sensor": sensor, "reason": reason},
            cause=f"sensor:{tag}",
        )

    def _custom(
        self, agent_id: str, cause: Signal | None, d: CustomDirective, problems: list[Problem]
    ) -> bool:
        """Hand ``d`` to its handler; returns whether the agent was restarted (by its error
        policy, the handler having raised), so that the rest of the step is not executed."""
        handler = self.directive_handlers.get(type(d))
        if handler is None:
            problems.append(no_handler(d))
            return False
        try:
            at = self.directive_index
            signals, refused = handler_signals(
                d, handler(agent_id, d), agent_id=agent_id, cause=cause, index=at
            )
        except PASSING:
            raise
        except BaseException as exc:
            opts = self.options.get(self.agents[agent_id].spec, self.default_options)
            if opts is None:
                # Unsupervised: what the handler cannot do is a problem of the directive,
                # as for a built-in one (and as it always was here).
                problems.append(handler_failed(d, f"raised {type(exc).__name__}: {exc}"))
                return False
            # Supervised: a crash, as on AsyncRuntime, and the agent's error policy applies.
            trigger, crash = handler_crash(agent_id, cause, d, exc)
            return self.crashed(agent_id, trigger, crash, opts) == "restarted"
        problems.extend(refused)
        self.queue.extend((agent_id, sig) for sig in signals)
        return False

    # ------------------------------------------------------------------ supervision

    def crashed(
        self, agent_id: str, sig: Signal, exc: BaseException, opts: AgentOptions
    ) -> CrashOutcome:
        """Apply ``opts.error_policy`` to ``exc``, raised by user code while ``agent_id``
        handled ``sig``, as AsyncRuntime does (``_async_supervision.crash``): the agent
        keeps its last good state (a crashed step commits nothing); ``StopAgent`` stops it
        (``child.exit`` reason ``"crashed"``); ``Escalate`` stops it with the error in the
        reason; ``Restart`` drops what it armed, registers its spec's startup schedules
        again and tells it (``jido.agent.restarted``, first in the queue: see
        :meth:`announce_restart`), and past ``max_restarts`` within ``within`` seconds of
        *virtual* time it escalates. Records a :class:`CrashHandled` (see :meth:`crash_handled`)."""
        crash = exc
        if not isinstance(crash, ActionCrashed):
            # A route guard or a custom strategy: the same crash as an action's, by the step.
            crash = ActionCrashed(agent_id, "<step>", sig.type)
            crash.__cause__ = exc
        policy = opts.error_policy
        at = self.now
        times = self._restarts.setdefault(agent_id, deque())
        outcome, reason = judge(policy, crash, times, at)
        self.last_crash = (sig, crash)
        message = crash_message(crash)
        name = policy_name(policy)
        self.crash_handled(
            lambda i: CrashHandled(
                index=i,
                at=at,
                agent_id=agent_id,
                signal=sig,
                policy=name,
                outcome=outcome,
                reason=reason,
                message=message,
            )
        )
        if reason is not None:
            self._stop(agent_id, reason)
        elif outcome == "restarted":
            self.restart(agent_id, sig)
            self.announce_restart(agent_id, len(times), message)
        return outcome

    def crash_handled(self, make: Callable[[int], CrashHandled]) -> None:
        """Record a crash a policy handled, given its record by index (the hook a
        simulation overrides to make it an event of its run)."""
        self.crashes.append(make(self.steps))  # the index its trace entry would have had

    def restart(self, agent_id: str, crashed: Signal) -> None:
        """Restart a running agent as a ``Restart`` policy does: its value kept, what it
        armed itself (timers, cron jobs, sensors) dropped, the schedules its spec declares
        registered again, with ids derived from the signal whose step ``crashed`` (as on
        AsyncRuntime, whose journal must not take them for re-deliveries).

        What it armed that is due now has fired, though, as on AsyncRuntime, where a timer
        due at the instant of the crash has put its signal in the mailbox before the step
        ran (a cron tick due with the crashing one, say): those signals are delivered."""
        due = self.take_due(agent_id)
        self.forget_armed(agent_id)
        agent = self.agents[agent_id]
        problems: list[Problem] = []
        self._execute(agent_id, None, restarted(self.specs[agent.spec], agent, crashed), problems)
        self.problems.extend(problems)
        for sender, sig in due:
            self.refire(agent_id, sender, sig)

    def take_due(self, agent_id: str) -> list[tuple[str, Signal]]:
        """Fire the live timers of ``agent_id`` due now, in order, taking them out: what
        each fired (``"@timer"``, ``"@cron"`` or ``"@sensor"``) and its signal. Not those
        the step under way armed (the one crashing, whose directive handler raised): on
        AsyncRuntime they were not due before it ran, and the restart drops them."""
        due = sorted(
            t
            for t in self.timers
            if t[2] == agent_id
            and t[0] <= self.now
            and t[1] not in self._armed_now
            and self._timer_live(agent_id, t[4])
        )
        if not due:
            return []
        taken = {t[1] for t in due}
        self.timers = [t for t in self.timers if t[1] not in taken]
        heapq.heapify(self.timers)
        for t in due:
            self._at_once.pop(t[1], None)
        return [(fired_by(t[4]), self.fired(agent_id, t[3], t[4])) for t in due]

    def refire(self, agent_id: str, sender: str, sig: Signal) -> None:
        """Deliver a signal :meth:`take_due` fired (the hook a simulation overrides)."""
        self.queue.append((agent_id, sig))

    def announce_restart(self, agent_id: str, restarts: int, reason: str) -> None:
        """Tell ``agent_id``, just restarted, that it was (``jido.agent.restarted``), so that
        it may arm again what the restart dropped: first in the queue, before anything else
        it handles, as on AsyncRuntime. Its id comes from the counter the other lifecycle
        signals' ids do; ``reason`` is made text as theirs are."""
        if self.announce_restarts:
            sig = self._restarted_signal(agent_id, restarts, reason)
            self.queue.appendleft((agent_id, sig))

    def _restarted_signal(self, agent_id: str, restarts: int, reason: str) -> Signal:
        return system_signal(
            RESTARTED,
            {"restarts": restarts, "reason": reason},
            agent_id=agent_id,
            cause="restart",
            seq=next(self._seq),
            time=self.clock(),
        )

    def forget_armed(self, agent_id: str) -> int:
        """Drop the timers, cron jobs and sensors ``agent_id`` armed (it restarts); returns
        how many of them were live."""
        lost = sum(1 for t in self.timers if t[2] == agent_id and self._timer_live(agent_id, t[4]))
        self._drop_armed(agent_id)
        return lost

    def _drop_armed(self, agent_id: str) -> None:
        """Drop the timers, cron jobs and sensors of ``agent_id`` (it stops, or restarts)."""
        if any(t[2] == agent_id for t in self.timers):
            for t in self.timers:
                if t[2] == agent_id:
                    self._at_once.pop(t[1], None)
            self.timers = [t for t in self.timers if t[2] != agent_id]
            heapq.heapify(self.timers)
        for key in [k for k in self.crons if k[0] == agent_id]:
            del self.crons[key]
        for key in [k for k in self.sensor_tags if k[0] == agent_id]:
            del self.sensor_tags[key]
            self.sensor_ends.pop(key, None)

    def parent_death(self, child_id: str) -> ParentDeath:
        """What ``child_id`` does when its parent stops: its spec's ``on_parent_death``;
        ``"orphan"`` when it has no options (AsyncRuntime's default too)."""
        opts = self.options.get(self.agents[child_id].spec, self.default_options)
        return "orphan" if opts is None else opts.on_parent_death

    # ------------------------------------------------------------------ the clock

    def advance(self, seconds: float | Fraction | Decimal) -> int:
        """Move virtual time forward, firing due timers in order; return signals handled.

        Raises:
            ValueError: ``seconds`` is negative (time only moves forward), not finite (a
                cron job would tick for ever), or takes virtual time past the year 9999.
        """
        given: object = seconds
        if isinstance(given, bool) or not isinstance(given, numbers.Real | Decimal):
            raise TypeError(f"seconds must be a real number, not {given!r:.60}")
        try:
            as_float = float(given)
        except OverflowError:
            raise ValueError(
                f"cannot advance {given} s: virtual time would pass {_LAST_TIME.date()}"
            ) from None
        if not math.isfinite(as_float):
            raise ValueError(f"cannot advance by {as_float} seconds: not a finite number")
        if as_float < 0:
            raise ValueError("time only moves forward")
        # Exactly, where the number is exact (an int, a Fraction, a Decimal); another kind
        # of real number (numpy's, say) as the float it is.
        exact = Fraction(given if isinstance(given, numbers.Rational | Decimal) else as_float)
        handled = self.run_until_idle()
        asked = self._asked
        if _on_microseconds(asked) < self.now:  # moved on by other means: go on from there
            asked = Fraction(self.now)
        asked += exact
        target = max(self.now, _on_microseconds(asked))
        if target > self.end_of_time:
            raise ValueError(
                f"cannot advance {as_float:g} s: virtual time would pass {_LAST_TIME.date()},"
                " the last date a datetime holds"
            )
        try:
            handled += self._fire_until(target)
        except BaseException:
            # A step raised on the way (now is where it stopped): the rest of this advance
            # is not owed to the next one.
            self._asked = Fraction(self.now)
            raise
        finally:
            self._chain = 0
        self._asked = asked
        self.now = target
        return handled

    def _fire_until(self, target: float) -> int:
        handled = 0
        while self.timers and self.timers[0][0] <= target:
            due, seq, agent_id, sig, tag = heapq.heappop(self.timers)
            # The steps a timer armed with no delay causes continue the run that armed it:
            # timers that keep re-arming at once are as endless a loop as signals that keep
            # emitting. Any other timer starts a run of its own.
            self._chain = self._at_once.pop(seq, 0)
            self.now = max(self.now, due)
            if not self._timer_live(agent_id, tag):
                continue
            sig = self.fired(agent_id, sig, tag)
            if agent_id in self.agents:
                self.queue.append((agent_id, sig))
                if tag and tag[0] == "sensor":
                    self._sensor_fired(agent_id, tag, sig)
            handled += self._drain()
        return handled

    def fired(self, agent_id: str, sig: Signal, tag: tuple[str, ...]) -> Signal:
        """The signal of a live timer of ``agent_id`` firing now: a cron tick gets its own
        id (and the job's next tick is armed), any timer the current time."""
        if tag and tag[0] == "cron":
            job = self.crons[(agent_id, tag[1])]
            job.ticks += 1
            self._arm_cron(job)
            return attrs.evolve(sig, id=derive_id(sig.id, agent_id, job.ticks), time=self.clock())
        return attrs.evolve(sig, time=self.clock())

    def _timer_live(self, agent_id: str, tag: tuple[str, ...]) -> bool:
        if agent_id not in self.agents:
            return False
        if not tag:
            return True
        kind, name, generation = tag
        if kind == "cron":
            job = self.crons.get((agent_id, name))
            return job is not None and str(job.generation) == generation
        return str(self.sensor_tags.get((agent_id, name))) == generation

    def pending_timers(self) -> int:
        """How many timers (schedules, cron ticks, sensor emissions) are armed."""
        return sum(1 for t in self.timers if self._timer_live(t[2], t[4]))


def _on_microseconds(seconds: Fraction) -> float:
    """``seconds`` to the nearest whole microsecond, as virtual time counts them."""
    return round(seconds * 1_000_000) / 1_000_000


def fired_by(tag: tuple[str, ...]) -> str:
    """Where a timer's signal comes from, as a simulation's events name it."""
    if not tag:
        return "@timer"
    return "@cron" if tag[0] == "cron" else "@sensor"
