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
   their first different fault, and Hypothesis can shrink draws one at a time. The first
   draw picks the fault: each kind has a band of draws as wide as its probability, at the
   bottom of a slot of its own (a quarter of [0, 1) for the four message faults, while
   they fit), so a kind's band does not move when another kind's probability changes.
   Setting one probability to 0 then changes a run only from that kind's first fault on,
   which is what lets Hypothesis shrink a probability the failure does not need to 0.
5. Invariants are checked after every event that can change an agent (a delivery, a crash)
   and once when the run begins. Faults change no agent, so this finds the same first
   failing event as checking after every event. A violation stops the run with
   :class:`InvariantViolated`, carrying the seed, the event index and the trace so far.
6. A run ends when nothing is pending (it is *quiescent*), when its event budget is spent,
   or at its time bound ``until``: what is due by then happens, and the clock moves on to
   the bound. A system that keeps time (a cron job, a timer that re-arms itself) is never
   quiescent, so the bound is how to run it for so long; the result says whether it ended
   *idle* (nothing pending but timers: every signal handled, every outcome in) and
   whether it ran out of events first.
7. A trace serializes to JSON lines: a header (seed, event budget, time bound, fault plan,
   latency, epoch, the agents started and the inputs sent), one line per event, and a last
   line for a violation or a crash. :func:`replay` re-runs the header and compares line by
   line.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, TypeVar, final, overload

import attrs

from jido import (
    ActionCrashed,
    Agent,
    AgentSpec,
    CustomDirective,
    FrozenMap,
    Signal,
)
from jido.serde import Codec

from ._checks import callables, directive_handlers, given_signal, plain_callables, seconds
from ._faults import (
    NO_FAULTS,
    FaultPlan,
)
from ._kernel import DEFAULT_EPOCH, SENSOR_NEEDS, DirectiveHandler, SensorFn
from ._options import AgentOptions
from ._policy import CrashHandled, check_option_names, check_options
from ._sim_engine import _Engine, _Recorded, _Violated
from ._sim_events import (
    ActionCrash,
    AgentStarted,
    Invariant,
    InvariantViolated,
    SimEvent,
    SimulationCrashed,
    SimulationResult,
    Violation,
    crash_message,
)
from ._sync import EFFECT_NEEDS, EffectHandler

__all__ = ["Scenario", "Simulation", "simulate"]

S = TypeVar("S")

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
        codec: a codec that knows the run's custom directives: the result carries it, and
            :func:`simulation_to_jsonl` writes the trace with it by default (a scenario's
            simulation gets the scenario's ``codec``).
        options, default_options: :class:`AgentOptions` by spec name, and for the rest, as
            for SyncRuntime: without, an agent is unsupervised and a crash in user code
            stops the run (``ActionCrashed``), as it always did; with, the crash follows the
            agent's ``error_policy`` as on AsyncRuntime, is a :class:`CrashHandled` event of
            the run, and the run goes on. ``Restart`` counts restarts within ``within``
            seconds of virtual time. A parent's stop applies each child's
            ``on_parent_death``. The trace header records them (what of them changes a run).

    Raises:
        ValueError: ``latency`` is negative or not finite.
        TypeError: an option is not an :class:`AgentOptions`; ``seed`` is not an integer.

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
        options: Mapping[str, AgentOptions] | None = None,
        default_options: AgentOptions | None = None,
        codec: Codec | None = None,
    ) -> None:
        if seconds(latency) is None:
            raise ValueError(f"latency must be a finite number of seconds >= 0, got {latency!r}")
        if type(seed) is not int:
            # The trace records it, and replay seeds with it again: an integer, as JSON has.
            raise TypeError(f"seed must be an integer, not {seed!r}")
        # Checked here, not when the run first uses them.
        if rng is not None and not isinstance(rng, random.Random):
            raise TypeError(f"rng must be a random.Random, not {rng!r}")
        if not isinstance(faults, FaultPlan):
            raise TypeError(f"faults must be a FaultPlan, not {faults!r}")
        if codec is not None and not isinstance(codec, Codec):
            raise TypeError(f"codec must be a jido.serde.Codec, not {codec!r}")
        invariants = callables("invariant", invariants)
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
            invariants=invariants,
            sinks=sinks,
            sensors=sensors,
            directives=directives,
            latency=float(latency),
            epoch=epoch,
            record=record,
            options=check_options(options, default_options),
            default_options=default_options,
        )
        self._started: list[Agent[Any]] = []
        self._inputs: list[tuple[float, str, Signal]] = []
        self._sent_after: list[int] = []
        self._budget = 0
        self._until: float | None = None
        self._out_of_events = False
        self._ran = False
        self._violation: Violation | None = None
        self._crash: ActionCrash | None = None
        self._codec = codec

    # ------------------------------------------------------------------ setup

    @overload
    def start(
        self, spec: AgentSpec[S], id: str, state: S | Mapping[str, Any] | None = None
    ) -> Agent[S]: ...
    @overload
    def start(self, spec: str, id: str, state: object = None) -> Agent[Any]: ...
    def start(self, spec: AgentSpec[Any] | str, id: str, state: object = None) -> Agent[Any]:
        """Start an agent before the run (registering its spec if given one).

        Returns:
            The new agent. Its startup schedules are armed on virtual time; what went wrong
            executing them (a bad cron expression) is a problem of its ``AgentStarted`` event.
            Given the spec itself, not its name, it is typed as an agent of the spec's state
            class.

        Raises:
            RuntimeError: the run has begun.
            ValueError: an agent with this id is already running, or the id is empty or
                holds a lone surrogate.
            LookupError: ``spec`` names no registered spec.
            TypeError: ``id`` is not a string, or ``state`` does not fit the spec's
                state class.
        """
        self._before_run("start")
        e = self._engine
        known = len(e.problems)
        agent = e.start(spec, id, state)
        # Its startup's problems (a bad declared cron job) are the start event's, as a
        # step's are its delivery's: the run would otherwise go on as if nothing were wrong.
        problems = tuple(e.problems[known:])
        self._started.append(agent)
        e.note("started", lambda i: AgentStarted(index=i, at=e.now, agent=agent, problems=problems))
        return agent

    def send(
        self, agent_id: str, signal: Signal | str, data: object = None, *, at: float = 0.0
    ) -> Signal:
        """Send a signal from outside, arriving at virtual time ``at`` (plus a latency).

        Args:
            agent_id: the addressee; if it is not running when the signal arrives, the
                signal becomes a dead letter.
            signal: a signal (no draft), or the type of a new one: id ``ext-N``, time
                ``at``.
            data: the new signal's data (none beside a signal, which carries its own).
            at: when it is sent, in virtual seconds (>= 0).

        Returns:
            The signal sent. Inputs are messages: message faults apply to them.

        Raises:
            RuntimeError: the run has begun.
            InvalidSignal: ``signal`` is a draft, or a type or data a signal cannot have, or
                passes for the runtime's own (a lifecycle type, a runtime source: see
                docs/runtime.md).
            TypeError: ``data`` is given beside a :class:`~jido.Signal`.
            ValueError: ``at`` is negative or not finite; ``agent_id`` is no agent id (a
                non-empty string).
        """
        self._input_checks(agent_id, at)
        e = self._engine
        sig = given_signal(
            signal, data, lambda kind, data: attrs.evolve(e.signal(kind, data), time=e.time_at(at))
        )
        self._inputs.append((float(at), agent_id, sig))
        self._sent_after.append(len(self._started))
        return sig

    def _recorded_input(self, agent_id: str, sig: Signal, at: float) -> None:
        """An input a trace recorded, sent again by :func:`replay` as it was: the door's
        checks of what a signal from outside may be are those of the version that recorded
        it (an input of a type or source refused since still replays)."""
        self._input_checks(agent_id, at)
        self._inputs.append((float(at), agent_id, sig))
        self._sent_after.append(len(self._started))

    def _input_checks(self, agent_id: str, at: float) -> None:
        self._before_run("send")
        given: object = agent_id
        if not isinstance(given, str) or not agent_id:
            raise ValueError(f"agent_id must be a non-empty string, not {agent_id!r}")
        if seconds(at) is None:
            raise ValueError(f"at must be a finite number of seconds >= 0, got {at!r}")
        if at > self._engine.end_of_time:
            raise ValueError(f"at {at!r} s after the epoch is past the end of the calendar")

    def _before_run(self, what: str) -> None:
        if self._ran:
            raise RuntimeError(f"cannot {what} once the simulation has run")

    # ------------------------------------------------------------------ running

    def run(
        self,
        events: int = 10_000,
        *,
        until: float | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> SimulationResult:
        """Run until nothing is pending, ``events`` more events have happened, or nothing
        more is due by the virtual time ``until``.

        A system that keeps time — a cron job, a timer that re-arms itself — always has
        something pending, so it never runs out of events by itself: bound its run by time
        with ``until`` (say, a day of it), and ask the result whether it ended ``idle``
        (nothing pending but timers: every signal handled, every effect's outcome in).

        A duplicated message at the limit is still delivered, so a run may record one event
        more than asked. A run with a larger budget, or a later ``until``, records the same
        events first.

        >>> sim = Simulation(seed=1)
        >>> result = sim.run(until=60.0)
        >>> result.now, result.quiescent, result.out_of_events
        (60.0, True, False)

        Args:
            events: the event budget (>= 0).
            until: the time bound, in virtual seconds since the epoch (>= 0): what is due
                at ``until`` or before happens, nothing due later does, and unless the
                budget ran out first the clock ends at ``until``. ``None``: no bound.
            progress: called with the number of events so far, now and then and at the end.

        Returns:
            The result. ``quiescent``: nothing was left to do at all; ``idle``: nothing but
            timers; ``out_of_events``: the budget ran out with something still due (by
            ``until``).

        Raises:
            InvariantViolated: an invariant failed; the run stopped after that event.
            ActionCrashed: an action of an agent without options raised (a bug; with
                options its policy handles it, a ``CrashHandled`` event); a note gives the
                seed and the event index, and :meth:`result` has the run up to the event
                before, and the crash (``crash``: its trace ends with it).
            Exception: other user code raised (a route guard, a custom strategy), as it
                is, with the same note.
            RuntimeError: the simulation has already run.
            ValueError: ``events`` is no integer >= 0; ``until`` is negative, not finite, or past
                the end of the calendar.
        """
        self._before_run("run")
        if type(events) is not int or events < 0:
            raise ValueError(f"events must be an integer >= 0, got {events!r}")
        e = self._engine
        until = self._time_bound(until)
        self._ran = True
        self._budget = events
        self._until = until
        # Inputs go in flight in the order they are sent in virtual time (``at``; ties in
        # the order of the calls), whatever order the setup made the calls in.
        e.send_inputs(sorted(self._inputs, key=lambda item: item[0]))
        try:
            if e.invariants:
                e.check()
            self._out_of_events = e.run(events, progress, until)
        except _Violated as exc:
            self._violation = exc.violation
            # From the invariant's exception, if it raised one (its traceback shows where).
            raise InvariantViolated(self.result()) from exc.__cause__
        except ActionCrashed as exc:
            self._crash = ActionCrash(
                index=e.count,
                agent_id=exc.agent_id,
                action=exc.action,
                signal_type=exc.signal_type,
                message=crash_message(exc),
            )
            crashed = SimulationCrashed(self.result())
            for note in (*getattr(exc, "__notes__", ()), self._where(e.count)):
                crashed.add_note(note)
            raise crashed from exc.__cause__
        except BaseException as exc:
            # Other user code that raised (a route guard, a custom strategy): a bug as well,
            # left as it is, but saying which run to repeat.
            exc.add_note(self._where(e.count))
            raise
        return self.result()

    def _where(self, index: int) -> str:
        if self._seed is None:
            return f"in a simulation whose choices were given (not a seed), at event {index}"
        return f"in a simulation with seed {self._seed}, at event {index}"

    def _time_bound(self, until: float | None) -> float | None:
        """``until`` as a float (``None`` stays ``None``), checked before anything runs.

        Raises:
            ValueError: negative, not finite, or past the end of the calendar.
        """
        if until is None:
            return None
        bound = seconds(until)
        if bound is None:
            raise ValueError(f"until must be a finite number of seconds >= 0, got {until!r}")
        if bound > self._engine.end_of_time:
            raise ValueError(f"until {until!r} s after the epoch is past the end of the calendar")
        return bound

    def result(self) -> SimulationResult:
        """The run so far (complete once :meth:`run` has returned or raised)."""
        e = self._engine
        # A run an invariant or a crash stopped is neither quiescent nor idle: it stopped
        # in the middle of something.
        ended = self._violation is None and self._crash is None
        return SimulationResult(
            seed=self._seed,
            max_events=self._budget,
            until=self._until,
            faults=e.plan,
            latency=e.latency,
            epoch=e.epoch,
            started=tuple(self._started),
            inputs=tuple(self._inputs),
            sent_after=tuple(self._sent_after),
            events=tuple(e.events),
            event_count=e.count,
            agents=FrozenMap(dict(e.agents)),
            now=e.now,
            quiescent=ended and e.quiescent(),
            idle=ended and e.idle(),
            out_of_events=self._out_of_events,
            violation=self._violation,
            counts=FrozenMap(dict(e.counts)),
            problems=tuple(e.problems),
            sinks=FrozenMap({name: tuple(sigs) for name, sigs in e.sinks.items()}),
            choices=None if self._choices is None else tuple(self._choices),
            crash=self._crash,
            options=FrozenMap(self._engine.options),
            default_options=self._engine.default_options,
            codec=self._codec,
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
    def crashes(self) -> tuple[CrashHandled, ...]:
        """The crashes the agents' error policies handled so far (events of the run)."""
        return tuple(e for e in self._engine.events if isinstance(e, CrashHandled))

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


# The fakes and checks are checked as each run's Simulation checks them, once, when the
# scenario is built: not inside its first run.


def _effects(value: Mapping[str, EffectHandler]) -> Mapping[str, EffectHandler]:
    return MappingProxyType(plain_callables("effect", value, EFFECT_NEEDS))


def _invariants(value: Mapping[str, Invariant]) -> Mapping[str, Invariant]:
    return MappingProxyType(callables("invariant", value))


def _sensors(value: Mapping[str, SensorFn]) -> Mapping[str, SensorFn]:
    return MappingProxyType(plain_callables("sensor", value, SENSOR_NEEDS))


def _options(value: Mapping[str, AgentOptions]) -> Mapping[str, AgentOptions]:
    return MappingProxyType(check_options(value, None))


def _handlers(
    value: Mapping[type[CustomDirective], DirectiveHandler],
) -> Mapping[type[CustomDirective], DirectiveHandler]:
    return MappingProxyType(directive_handlers(value))


@final
@attrs.frozen(kw_only=True, eq=False)
class Scenario:
    """A system to simulate: its specs, how to set it up, its fakes and its invariants.

    ``jido simulate MODULE:SPEC`` uses the module's ``SCENARIO`` if it has one.

    A scenario is run many times (every seed, every Hypothesis example, every replay), and
    the same seed must give the same run every time: fakes that keep state (a fake store an
    effect handler writes to, a sensor that counts) must be made afresh for every run, or one
    run sees what another left. Give ``make_effects`` / ``make_sensors`` /
    ``make_directives`` for those (as :class:`~jido_interpreters.testing.AgentMachine` has
    them per case); ``effects``, ``sensors`` and ``directives`` are shared by every run, for
    fakes without state.

    Attributes:
        specs: every spec an agent may run.
        setup: starts agents and sends inputs on a fresh :class:`Simulation`. Replay does
            not call it: a trace's header records what it did.
        effects: fake effect handlers by name, shared by every run.
        make_effects: makes the fake effect handlers of one run; called once per run
            (:meth:`simulation`, and so :func:`simulate`, ``jido simulate``,
            ``first_failure``; and :func:`replay`), in place of ``effects``.
        invariants: checks over all running agents, by name.
        sensors: sensor functions by name, shared by every run.
        make_sensors: makes the sensors of one run, in place of ``sensors``; called once
            per run, after ``make_effects``.
        directives: custom directive handlers by class, shared by every run.
        make_directives: makes the custom directive handlers of one run, in place of
            ``directives``; called once per run, after ``make_sensors``.
        sinks, latency, epoch: as for :class:`Simulation`.
        options, default_options: as for :class:`Simulation`: the agents' error policies
            and ``on_parent_death``. Replay takes them from the scenario; the trace header
            records them, so a replay under other options differs from its first line.
        codec: the codec for traces, if they hold custom directives: a run of the scenario
            carries it, and :func:`simulation_to_jsonl` (``jido simulate``, :func:`replay`)
            writes its trace with it.

    Raises:
        TypeError: a fake, invariant or directive handler is not callable, or is of a kind
            no run can call (an ``async def`` effect, sensor or directive handler), as each
            run's :class:`Simulation` would refuse it.
        ValueError: a shared kind of fake is given with its maker too.
    """

    specs: tuple[AgentSpec[Any], ...] = attrs.field(converter=_specs)
    setup: Callable[[Simulation], object] | None = None
    effects: Mapping[str, EffectHandler] = attrs.field(factory=dict, converter=_effects)
    invariants: Mapping[str, Invariant] = attrs.field(factory=dict, converter=_invariants)
    sinks: tuple[str, ...] = attrs.field(default=(), converter=_names)
    sensors: Mapping[str, SensorFn] = attrs.field(factory=dict, converter=_sensors)
    make_effects: Callable[[], Mapping[str, EffectHandler]] | None = None
    make_sensors: Callable[[], Mapping[str, SensorFn]] | None = None
    directives: Mapping[type[CustomDirective], DirectiveHandler] = attrs.field(
        factory=dict, converter=_handlers
    )
    make_directives: Callable[[], Mapping[type[CustomDirective], DirectiveHandler]] | None = None
    latency: float = 0.001
    epoch: datetime = DEFAULT_EPOCH
    codec: Codec | None = None
    options: Mapping[str, AgentOptions] = attrs.field(factory=dict, converter=_options)
    default_options: AgentOptions | None = None

    def __attrs_post_init__(self) -> None:
        check_option_names(self.options, [s.name for s in self.specs])
        # What each run calls is checked now, not inside the first run.
        for name in ("setup", "make_effects", "make_sensors", "make_directives"):
            value: object = getattr(self, name)
            if value is not None and not callable(value):
                raise TypeError(f"{name} must be callable, not {value!r}")
        # Which fakes a run gets must be plain: two sources of one kind would leave it to a
        # rule of precedence, or of merging, to say.
        for made, shared in (
            ("make_effects", "effects"),
            ("make_sensors", "sensors"),
            ("make_directives", "directives"),
        ):
            if getattr(self, made) is not None and getattr(self, shared):
                raise ValueError(f"a scenario takes {shared} or {made}, not both")

    def _fakes(
        self,
    ) -> tuple[
        Mapping[str, EffectHandler],
        Mapping[str, SensorFn],
        Mapping[type[CustomDirective], DirectiveHandler],
    ]:
        """The effect handlers, sensors and directive handlers of one run: made by
        ``make_effects``, ``make_sensors`` and ``make_directives`` (in that order) if given,
        else the shared ``effects``, ``sensors`` and ``directives``. Everything that runs
        the scenario calls it once per run."""
        effects = self.effects if self.make_effects is None else self.make_effects()
        sensors = self.sensors if self.make_sensors is None else self.make_sensors()
        handlers = self.directives if self.make_directives is None else self.make_directives()
        return effects, sensors, handlers

    def simulation(
        self,
        *,
        seed: int = 0,
        rng: random.Random | None = None,
        faults: FaultPlan = NO_FAULTS,
        record: bool = True,
        setup: bool = True,
    ) -> Simulation:
        """A fresh simulation of this scenario, set up (unless ``setup`` is false), with
        fakes of its own (see ``make_effects``).

        Raises:
            ValueError: the setup started an agent of a spec ``specs`` does not list (its
                run could not be replayed against the scenario).
        """
        effects, sensors, handlers = self._fakes()
        sim = Simulation(
            self.specs,
            seed=seed,
            rng=rng,
            faults=faults,
            effects=effects,
            invariants=self.invariants,
            sinks=self.sinks,
            sensors=sensors,
            directives=handlers,
            latency=self.latency,
            epoch=self.epoch,
            record=record,
            options=self.options,
            default_options=self.default_options,
            codec=self.codec,
        )
        if setup and self.setup is not None:
            self.setup(sim)
            listed = {spec.name for spec in self.specs}
            for agent in sim._started:
                if agent.spec not in listed:
                    raise ValueError(
                        f"the setup started {agent.id!r}, of spec {agent.spec!r}, which the"
                        " scenario's specs do not list: a run of it could not be replayed"
                    )
        return sim


def simulate(
    scenario: Scenario,
    *,
    seed: int = 0,
    events: int = 10_000,
    until: float | None = None,
    faults: FaultPlan = NO_FAULTS,
    rng: random.Random | None = None,
    record: bool = True,
    progress: Callable[[int], None] | None = None,
) -> SimulationResult:
    """Set up ``scenario`` and run it: ``scenario.simulation(...).run(events, until=until)``.

    Raises:
        InvariantViolated: an invariant failed (the error carries the seed, the event index
            and the trace so far).
        ActionCrashed: an action raised.
        ValueError: ``until`` is negative, not finite, or past the end of the calendar.
    """
    sim = scenario.simulation(seed=seed, rng=rng, faults=faults, record=record)
    return sim.run(events, until=until, progress=progress)
