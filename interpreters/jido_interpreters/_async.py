"""AsyncRuntime: the production interpreter on asyncio (Jido's AgentServer).

Theory of operation
-------------------

* One task and one bounded mailbox per agent. A step is synchronous: the task takes a
  signal, calls ``jido.step``, stores the new agent, answers a waiting ``call``, and executes
  the directives without awaiting anything. So an agent is never half-way through a step, and
  nothing can interleave inside one.
* Effects (``Invoke``) run as their own tasks, concurrently, outside the agent's loop: a slow
  effect never blocks the agent's mailbox or a ``call``. Outcomes come back as signals, and the
  outcomes of the effects one step invoked are delivered in the order of its ``Invoke``
  directives (each as soon as it and those before it have finished).
* The bound applies to what comes from outside (``cast``): ``cast`` waits for room,
  ``cast_nowait`` raises :class:`MailboxFull`. Signals agents send each other, effect outcomes
  and timer firings are always accepted, so two agents can never deadlock on each other's full
  mailboxes.
* A bug in user code (an action raising :class:`jido.ActionCrashed`, a failing sensor or
  directive handler) follows the agent's :data:`ErrorPolicy`. The agent keeps its last good
  state (the step never committed), and every accepted signal is either handled or reported
  (dead letters, the shutdown report): nothing is dropped silently.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal, TypeAlias, assert_never, final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs
from croniter import croniter
from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

import jido
from jido import (
    CHILD_EXIT,
    CHILD_STARTED,
    ORPHANED,
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
    ProblemKind,
    Schedule,
    Signal,
    SpawnAgent,
    StartSensor,
    Stop,
    StopChild,
    StopSensor,
    ToAgent,
    ToParent,
    ToSelf,
    ToSink,
    derive_id,
    freeze,
)
from jido.serde import Codec

from ._committer import Committer
from ._durable import (
    Outbox,
    Replayed,
    Upgrade,
    decode_agent,
    journal_json,
    replay,
    snapshot_record,
)
from ._kernel import UnknownAgent
from ._mailbox import Mailbox, MailboxFull
from ._options import (
    DEFAULT_OPTIONS,
    AgentOptions,
    Continue,
    ErrorPolicy,
    Escalate,
    Restart,
    StopAgent,
)
from ._outcomes import directive_problem, outcome_signal, system_signal
from ._storage import (
    AgentRecord,
    CorruptJournal,
    JournalEntry,
    RecoveryError,
    SnapshotRecord,
    Storage,
    StorageError,
    UnknownSpec,
)
from ._trace import TraceEntry

__all__ = [
    "AgentOptions",
    "AsyncEffectHandler",
    "AsyncRuntime",
    "AsyncSensorFn",
    "CallTimeout",
    "Continue",
    "ErrorPolicy",
    "Escalate",
    "MailboxFull",
    "Restart",
    "RuntimeClosed",
    "RuntimeStatistics",
    "ShutdownReport",
    "StopAgent",
]

log = logging.getLogger("jido.runtime")
_propagator = TraceContextTextMapPropagator()

#: An async effect handler: gets the ``Invoke`` args, returns a JSON-able result or raises.
AsyncEffectHandler: TypeAlias = Callable[[FrozenMap[str, JsonValue]], Awaitable[object]]
#: An async sensor: given its config, yields ``(type, data)`` for signals to the agent.
AsyncSensorFn: TypeAlias = Callable[[FrozenMap[str, JsonValue]], AsyncIterator[tuple[str, object]]]
#: A sink: called with each signal emitted to it.
SinkFn: TypeAlias = Callable[[Signal], None]
#: A handler for a user-defined directive: returns signals to deliver to the agent.
AsyncDirectiveHandler: TypeAlias = Callable[[str, Any], Iterable[Signal]]


# ---------------------------------------------------------------------------- errors


class RuntimeClosed(Exception):
    """The runtime is shutting down or shut down; it accepts no new signals or agents."""


class CallTimeout(TimeoutError):
    """``call`` gave up waiting. The signal was accepted and will still be handled."""

    def __init__(self, agent_id: str, signal_type: str, timeout: float) -> None:
        super().__init__(
            f"agent {agent_id!r} did not handle {signal_type!r} within {timeout:g}s "
            "(it is still queued and will be handled)"
        )
        self.agent_id = agent_id
        self.signal_type = signal_type
        self.timeout = timeout


# ---------------------------------------------------------------------------- reports


@final
@attrs.frozen(kw_only=True)
class RuntimeStatistics:
    """A snapshot of a runtime (trio-style ``statistics()``).

    Latency percentiles are over the most recent steps (up to 10,000), in microseconds,
    measuring ``step`` plus directive execution; ``nan`` before the first step.
    """

    agents: int
    mailbox_depths: FrozenMap[str, int]
    steps: int
    errors: int
    crashes: int
    restarts: int
    problems: int
    dead_letters: int
    in_flight_effects: int
    step_latency_p50_us: float
    step_latency_p90_us: float
    step_latency_p99_us: float


@final
@attrs.frozen(kw_only=True)
class ShutdownReport:
    """What a shutdown left behind.

    Attributes:
        drained: every mailbox emptied and every effect finished before the deadline.
        left: signals still queued at the deadline, by agent id (not handled, not lost:
            here they are).
        cancelled_effects: effects still running at the deadline, cancelled.
        cancelled_timers: schedules, cron jobs and sensors that were armed.
    """

    drained: bool
    left: FrozenMap[str, tuple[Signal, ...]]
    cancelled_effects: int
    cancelled_timers: int


# ---------------------------------------------------------------------------- one agent


class _Server:
    __slots__ = (
        "agent",
        "children",
        "crons",
        "effects",
        "last_effect",
        "last_seq",
        "mailbox",
        "options",
        "out_crons",
        "out_invokes",
        "out_schedules",
        "parent",
        "restarts",
        "sensors",
        "since_snapshot",
        "spec",
        "stopped",
        "task",
        "timers",
    )

    def __init__(self, spec: AgentSpec[Any], agent: Agent[Any], options: AgentOptions) -> None:
        self.spec = spec
        self.agent = agent
        self.options = options
        self.mailbox = Mailbox(options.mailbox_size)
        self.task: asyncio.Task[None] | None = None
        self.parent: tuple[str, str] | None = None
        self.children: dict[str, str] = {}
        self.timers: set[asyncio.TimerHandle] = set()
        self.crons: dict[str, asyncio.TimerHandle] = {}
        self.sensors: dict[str, asyncio.Task[None]] = {}
        self.effects: set[asyncio.Task[None]] = set()
        self.last_effect: asyncio.Task[None] | None = None
        self.restarts: deque[float] = deque()
        self.stopped = False
        # What a snapshot must remember (kept only when the runtime is durable).
        self.out_invokes: dict[str, tuple[Invoke, Signal | None]] = {}
        self.out_schedules: dict[str, tuple[float, Signal]] = {}
        self.out_crons: dict[str, Cron] = {}
        self.since_snapshot = 0
        self.last_seq = 0

    def outbox(self) -> Outbox:
        return Outbox(
            invokes=tuple(self.out_invokes.values()),
            schedules=tuple(self.out_schedules.values()),
            crons=tuple(self.out_crons.values()),
        )

    def cancel_timers(self) -> int:
        n = len(self.timers) + len(self.crons) + len(self.sensors)
        for h in self.timers:
            h.cancel()
        for h in self.crons.values():
            h.cancel()
        for t in self.sensors.values():
            t.cancel()
        self.timers.clear()
        self.crons.clear()
        self.sensors.clear()
        return n


#: A signal journalled for an agent, waiting for its mailbox: the signal, the ``call``
#: waiting for its step (if any), and its journal position (``None``: the journal already
#: held its id, so it is not handled again; only a waiting ``call`` is answered).
_Queued: TypeAlias = tuple[Signal, asyncio.Future[Agent[Any]] | None, int | None]


class _Hibernated:
    """What the runtime keeps of a hibernated agent: not its state (that is in storage), but
    what it needs to treat the agent as alive. Hibernation saves memory; it is not a stop.

    Attributes:
        seq: the journal position its last step handled. Entries after it were journalled
            while it was out of memory and never handled: on thaw they are handled live
            (from ``parked``), not replayed.
        options: its spec's options (``on_parent_death`` applies while it hibernates).
        parent, children: its links, kept up to date while it hibernates.
        parked: signals journalled for it since, in journal order, until it is back.
        task: the thaw under way, if any (one at a time).
        wakeups: timers standing in for its own schedules and cron jobs: one falling due
            delivers its signal, which thaws the agent.
        fired: ids of the schedules the wake-ups delivered (not re-armed on thaw).
    """

    __slots__ = ("children", "fired", "options", "parent", "parked", "seq", "task", "wakeups")

    def __init__(
        self,
        seq: int,
        options: AgentOptions,
        parent: tuple[str, str] | None,
        children: dict[str, str],
    ) -> None:
        self.seq = seq
        self.options = options
        self.parent = parent
        self.children = children
        self.parked: list[_Queued] = []
        self.task: asyncio.Task[Exception | None] | None = None
        self.wakeups: list[asyncio.TimerHandle] = []
        self.fired: set[str] = set()

    def cancel_wakeups(self) -> int:
        n = len(self.wakeups)
        for h in self.wakeups:
            h.cancel()
        self.wakeups.clear()
        return n


def _crashed(agent_id: str, sig: Signal, exc: Exception) -> ActionCrashed:
    crash = ActionCrashed(agent_id, "<step>", sig.type)
    crash.__cause__ = exc
    return crash


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return math.nan
    k = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[k]


# ---------------------------------------------------------------------------- the runtime


@final
class AsyncRuntime:
    """Runs agents on asyncio, with real time. Many runtimes may coexist: no globals.

    Use it as an async context manager (shutdown on exit), or call :meth:`shutdown`.

    Args:
        specs: the specs agents may run (``start`` and ``SpawnAgent`` find them by name).
        effects: async effect handlers by name.
        sinks: sink names (collected, see :meth:`sink`) or sink functions by name.
        sensors: async sensors by name: ``config -> async iterator of (type, data)``.
        directives: handlers for user-defined directives, by class.
        options: :class:`AgentOptions` by spec name; ``default_options`` for the rest.
        record: keep a trace of every step (as SyncRuntime does), for tests and review.
        clock: the wall clock for signal times and cron (injectable for tests).

    >>> async def main() -> None:
    ...     async with AsyncRuntime() as rt:
    ...         print(rt.statistics().agents)
    >>> asyncio.run(main())
    0
    """

    def __init__(
        self,
        specs: Iterable[AgentSpec[Any]] = (),
        *,
        effects: Mapping[str, AsyncEffectHandler] | None = None,
        sinks: Iterable[str] | Mapping[str, SinkFn] = (),
        sensors: Mapping[str, AsyncSensorFn] | None = None,
        directives: Mapping[type[CustomDirective], AsyncDirectiveHandler] | None = None,
        options: Mapping[str, AgentOptions] | None = None,
        default_options: AgentOptions = DEFAULT_OPTIONS,
        record: bool = False,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        storage: Storage | None = None,
        snapshot_every: int = 1000,
        tracer_provider: trace.TracerProvider | None = None,
        upgrade: Upgrade | None = None,
        codec: Codec | None = None,
    ) -> None:
        self._specs: dict[str, AgentSpec[Any]] = {}
        for spec in specs:
            self._register(spec)
        self._effects = dict(effects or {})
        self._sink_fns: dict[str, SinkFn] = {}
        self._sinks: dict[str, list[Signal]] = {}
        if isinstance(sinks, Mapping):
            self._sink_fns.update(sinks)
        else:
            for name in sinks:
                collected: list[Signal] = []
                self._sinks[name] = collected
                self._sink_fns[name] = collected.append
        self._sensor_fns = dict(sensors or {})
        self._directive_handlers = dict(directives or {})
        self._options = dict(options or {})
        self._default_options = default_options
        self._record = record
        self._clock = clock
        self._servers: dict[str, _Server] = {}
        self._hibernated: dict[str, _Hibernated] = {}
        self._closed = False
        self._seq = 0
        # Salts the ids this runtime makes up (external, system, sensor, cron signals): a
        # durable journal drops ids it holds, so a restarted runtime must not repeat them.
        self._incarnation = uuid.uuid4().hex[:16]
        self._pending = 0  # queued signals + running effects, runtime-wide
        self._idle: asyncio.Event | None = None
        self._t0 = time.perf_counter()
        self.trace: list[TraceEntry] = []
        self.problems: deque[Problem] = deque(maxlen=1000)
        self.dead_letters: deque[tuple[str, Signal]] = deque(maxlen=10_000)
        self._dead_count = 0
        self._problem_count = 0
        self._steps = 0
        self._errors = 0
        self._crashes = 0
        self._restarts = 0
        self._latencies: deque[float] = deque(maxlen=10_000)
        self._external = 0
        provider = tracer_provider or trace.get_tracer_provider()
        # With no SDK configured the API hands out no-op spans; skipping them entirely keeps
        # the hot path free of their (small, per-directive) cost.
        self._tracing = not isinstance(
            provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider
        )
        self._tracer = provider.get_tracer("jido")
        self._storage = storage
        self._snapshot_every = snapshot_every
        self._upgrade = upgrade
        self._codec = codec or Codec()
        self._committer: Committer | None = None

    # ------------------------------------------------------------------ registry

    def _register(self, spec: AgentSpec[Any]) -> AgentSpec[Any]:
        known = self._specs.setdefault(spec.name, spec)
        if known is not spec:
            raise ValueError(f"a different spec is already registered as {spec.name!r}")
        return spec

    def _server(self, agent_id: str) -> _Server:
        srv = self._servers.get(agent_id)
        if srv is None or srv.stopped:
            raise UnknownAgent(agent_id)
        return srv

    def _idle_event(self) -> asyncio.Event:
        if self._idle is None:
            self._idle = asyncio.Event()
            if self._pending == 0:
                self._idle.set()
        return self._idle

    def _add_pending(self, n: int = 1) -> None:
        self._pending += n
        if self._idle is not None and self._pending > 0:
            self._idle.clear()

    def _done_pending(self, n: int = 1) -> None:
        self._pending -= n
        if self._pending == 0 and self._idle is not None:
            self._idle.set()

    # ------------------------------------------------------------------ public API

    def signal(self, type: str, data: object = None, **fields: Any) -> Signal:
        """A signal from outside with a fresh id (``ext-<runtime>-<n>``) and the current time."""
        self._external += 1
        return Signal(
            type=type,
            source="jido://runtime",
            id=f"ext-{self._incarnation}-{self._external}",
            time=self._clock(),
            data=data,
            **fields,
        )

    async def start(self, spec: AgentSpec[Any] | str, id: str, state: object = None) -> Agent[Any]:
        """Start an agent and its declared schedules; returns the new agent.

        Raises:
            RuntimeClosed: the runtime is shutting down.
            ValueError: an agent with this id is running.
            LookupError: ``spec`` names no registered spec.
            TypeError: ``state`` does not fit the spec's state class.
        """
        return self._start(spec, id, state, parent=None)

    def _start(
        self,
        spec: AgentSpec[Any] | str,
        agent_id: str,
        state: object,
        *,
        parent: tuple[str, str] | None,
    ) -> Agent[Any]:
        if self._closed:
            raise RuntimeClosed("the runtime is shut down")
        if isinstance(spec, str):
            s = self._specs.get(spec)
            if s is None:
                raise LookupError(f"no spec named {spec!r} is registered")
        else:
            s = self._register(spec)
        existing = self._servers.get(agent_id)
        if (existing is not None and not existing.stopped) or agent_id in self._hibernated:
            raise ValueError(f"an agent {agent_id!r} is already running")
        agent = s.new(agent_id, state)
        srv = _Server(s, agent, self._options.get(s.name, self._default_options))
        self._servers[agent_id] = srv
        if parent is not None:
            srv.parent = parent
            self._servers[parent[0]].children[parent[1]] = agent_id
        srv.task = asyncio.get_running_loop().create_task(
            self._loop(agent_id, srv), name=f"jido-agent:{agent_id}"
        )
        if self._storage is not None:
            self._commit().submit(
                "register",
                AgentRecord(
                    agent_id=agent_id,
                    spec=s.name,
                    schema_version=s.schema_version,
                    initial=self._codec.to_json(agent),
                    parent_id=None if parent is None else parent[0],
                    tag=None if parent is None else parent[1],
                ),
            )
        self._execute(srv, None, s.startup(agent))
        return agent

    async def cast(self, agent_id: str, signal: Signal | str, data: object = None) -> Signal:
        """Queue a signal for the agent, waiting while its mailbox is full.

        A hibernated agent is thawed for it (see :meth:`hibernate`): the signal is journalled
        at once (that is its acknowledgement) and handled once the agent is back.

        Returns:
            The queued signal.

        Raises:
            UnknownAgent: no such running (or hibernated) agent.
            RuntimeClosed: the runtime is shutting down.
        """
        sig = signal if isinstance(signal, Signal) else self.signal(signal, data)
        srv = self._accepting(agent_id)
        if srv is None:
            await self._journal(agent_id, sig, None)
            return sig
        if srv.mailbox.full():
            await srv.mailbox.wait_room()
        if self._storage is not None:
            # Acknowledged only once journalled (group commit batches the fsyncs).
            await self._journal(agent_id, sig, None)
        else:
            srv.mailbox.put_internal((sig, None, None))
            self._add_pending()
        return sig

    def cast_nowait(self, agent_id: str, signal: Signal | str, data: object = None) -> Signal:
        """Queue a signal, or raise :class:`MailboxFull` at once if there is no room.

        A hibernated agent has no mailbox to be full: the signal is journalled and thaws it.
        """
        sig = signal if isinstance(signal, Signal) else self.signal(signal, data)
        srv = self._accepting(agent_id)
        if srv is None:
            self._journal(agent_id, sig, None)
            return sig
        if srv.mailbox.full():
            raise MailboxFull(agent_id, srv.mailbox.maxsize)
        if self._storage is not None:
            # Queued for the next group commit; durable shortly (use ``cast`` to wait for it).
            self._journal(agent_id, sig, None)
        else:
            srv.mailbox.put_internal((sig, None, None))
            self._add_pending()
        return sig

    async def call(
        self,
        agent_id: str,
        signal: Signal | str,
        data: object = None,
        *,
        timeout: float = 5.0,
    ) -> Agent[Any]:
        """Queue a signal and return the agent right after *its* step.

        The reply comes before the step's directives have had any effect (as in Jido): an
        effect it invoked is still running. A hibernated agent is thawed first (within the
        same ``timeout``).

        Raises:
            CallTimeout: no step within ``timeout`` s (the signal stays queued).
            ActionCrashed: the step crashed (the agent's error policy has been applied).
            UnknownAgent: no such agent, or it stopped before handling the signal.
            RecoveryError: the agent was hibernated and its stored data cannot be thawed.
            RuntimeClosed: the runtime is shutting down.
        """
        sig = signal if isinstance(signal, Signal) else self.signal(signal, data)
        srv = self._accepting(agent_id)
        reply: asyncio.Future[Agent[Any]] = asyncio.get_running_loop().create_future()
        if srv is not None and srv.mailbox.full():
            await srv.mailbox.wait_room()
        if srv is None or self._storage is not None:
            await self._journal(agent_id, sig, reply)
        else:
            srv.mailbox.put_internal((sig, reply, None))
            self._add_pending()
        # asyncio.timeout, not wait_for: no extra task per call. On expiry the reply future is
        # cancelled, which the agent's loop sees (it never sets a done future); the signal
        # itself stays queued and is handled.
        limit = asyncio.timeout(timeout)
        try:
            async with limit:
                return await reply
        except TimeoutError:
            if limit.expired():
                raise CallTimeout(agent_id, sig.type, timeout) from None
            raise

    def _accepting(self, agent_id: str) -> _Server | None:
        """The agent's server, or ``None`` for a hibernated agent (journal what is for it:
        that thaws it)."""
        if self._closed:
            raise RuntimeClosed("the runtime is shutting down; no new signals are accepted")
        if agent_id in self._hibernated:
            return None
        return self._server(agent_id)

    def agent(self, agent_id: str) -> Agent[Any]:
        """The agent's current value. Raises :class:`UnknownAgent`."""
        return self._server(agent_id).agent

    def state(self, agent_id: str) -> Any:
        """The agent's current state. Raises :class:`UnknownAgent`."""
        return self._server(agent_id).agent.state

    @property
    def agent_ids(self) -> tuple[str, ...]:
        """The running agents, in start order."""
        return tuple(k for k, s in self._servers.items() if not s.stopped)

    def children(self, agent_id: str) -> Mapping[str, str]:
        """The agent's children, tag to child id."""
        return dict(self._server(agent_id).children)

    def parent(self, agent_id: str) -> str | None:
        """The agent's parent id, if it has one."""
        link = self._server(agent_id).parent
        return None if link is None else link[0]

    def sink(self, name: str) -> tuple[Signal, ...]:
        """What was emitted to a collected sink (one given by name). ``KeyError`` if none."""
        return tuple(self._sinks[name])

    async def stop(self, agent_id: str, reason: str = "normal") -> None:
        """Stop an agent: queued signals become dead letters, children follow their
        ``on_parent_death`` policy, the parent gets ``jido.agent.child.exit``.

        A hibernated agent is stopped where it is, without being thawed.

        Raises:
            UnknownAgent: no such running (or hibernated) agent.
        """
        if agent_id in self._hibernated:
            self._stop_hibernated(agent_id, reason)
        else:
            self._stop(self._server(agent_id), reason)

    async def wait_idle(self, timeout: float | None = None) -> None:
        """Wait until no signal is queued and no effect is running (timers may be armed).

        Raises:
            TimeoutError: not idle within ``timeout`` seconds.
        """
        await asyncio.wait_for(self._idle_event().wait(), timeout)

    def statistics(self) -> RuntimeStatistics:
        """A frozen snapshot of the runtime's counters."""
        lat = sorted(self._latencies)
        running = [s for s in self._servers.values() if not s.stopped]
        return RuntimeStatistics(
            agents=len(running),
            mailbox_depths=FrozenMap({s.agent.id: len(s.mailbox.items) for s in running}),
            steps=self._steps,
            errors=self._errors,
            crashes=self._crashes,
            restarts=self._restarts,
            problems=self._problem_count,
            dead_letters=self._dead_count,
            in_flight_effects=sum(len(s.effects) for s in self._servers.values()),
            step_latency_p50_us=_percentile(lat, 0.50),
            step_latency_p90_us=_percentile(lat, 0.90),
            step_latency_p99_us=_percentile(lat, 0.99),
        )

    async def shutdown(self, deadline: float = 5.0) -> ShutdownReport:
        """Stop accepting signals, drain mailboxes for up to ``deadline`` seconds, then stop
        every agent and report what was left. Timers, cron jobs and sensors are cancelled
        first, so draining converges."""
        if self._closed and not self._servers:
            return ShutdownReport(
                drained=True, left=FrozenMap(), cancelled_effects=0, cancelled_timers=0
            )
        self._closed = True
        timers = sum(s.cancel_timers() for s in self._servers.values())
        timers += sum(h.cancel_wakeups() for h in self._hibernated.values())
        drained = True
        try:
            await asyncio.wait_for(self._idle_event().wait(), deadline)
        except TimeoutError:
            drained = False
        left: dict[str, tuple[Signal, ...]] = {}
        effects = 0
        # Hibernated agents with signals still parked (their thaw did not finish in time):
        # the thaw is cancelled here, before anything below awaits, so it cannot bring an
        # agent back into a runtime being torn down. The signals stay journalled.
        for agent_id, hib in self._hibernated.items():
            if hib.task is not None:
                hib.task.cancel()
            waiting = tuple(sig for sig, _, seq in hib.parked if seq is not None)
            if waiting:
                left[agent_id] = waiting
            for _, reply, _ in hib.parked:
                if reply is not None and not reply.done():
                    reply.set_exception(RuntimeClosed("the runtime shut down"))
        self._hibernated.clear()
        for agent_id, srv in list(self._servers.items()):
            if srv.mailbox.items:
                left[agent_id] = tuple(sig for sig, _, _ in srv.mailbox.items)
            effects += sum(1 for t in srv.effects if not t.done())
            for t in list(srv.effects):
                t.cancel()
            self._halt(srv, RuntimeClosed("the runtime shut down"))
        self._servers.clear()
        self._pending = 0
        if self._committer is not None:
            await self._committer.close()
            self._committer = None
        await asyncio.sleep(0)  # let cancelled tasks unwind
        if left or effects:
            log.warning(
                "shutdown left %d signals and cancelled %d effects",
                sum(map(len, left.values())),
                effects,
                extra={"jido": {"left": {k: len(v) for k, v in left.items()}}},
            )
        return ShutdownReport(
            drained=drained and not left,
            left=FrozenMap(left),
            cancelled_effects=effects,
            cancelled_timers=timers,
        )

    async def __aenter__(self) -> AsyncRuntime:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()

    # ------------------------------------------------------------------ durability

    def _commit(self) -> Committer:
        if self._committer is None:
            assert self._storage is not None
            self._committer = Committer(self._storage)
        return self._committer

    def _journal(
        self, agent_id: str, sig: Signal, reply: asyncio.Future[Agent[Any]] | None
    ) -> asyncio.Future[object]:
        """Journal a signal; once durable, it enters the agent's mailbox (or, for a
        hibernated agent, waits for its thaw: see :meth:`_park`)."""
        self._add_pending()
        fut = self._commit().submit(
            "append", (agent_id, sig.id, journal_json(sig, self._codec), self._clock().timestamp())
        )
        fut.add_done_callback(lambda f: self._committed(agent_id, sig, reply, f))
        return fut

    def _committed(
        self,
        agent_id: str,
        sig: Signal,
        reply: asyncio.Future[Agent[Any]] | None,
        fut: asyncio.Future[object],
    ) -> None:
        # Done callbacks run in the order the batch resolved: mailbox order is journal order.
        srv = self._servers.get(agent_id)
        exc = None if fut.cancelled() else fut.exception()
        if fut.cancelled() or exc is not None:
            self._done_pending()
            log.error("journalling %s for %s failed: %s", sig.id, agent_id, exc)
            if reply is not None and not reply.done():
                reply.set_exception(exc or RuntimeClosed("the runtime shut down"))
            return
        seq = fut.result()
        assert seq is None or isinstance(seq, int)
        hib = self._hibernated.get(agent_id) if srv is None else None
        if seq is None:
            # Already journalled (a re-delivery after recovery): handled once, not twice.
            self._done_pending()
            if reply is not None and not reply.done():
                if srv is not None:
                    reply.set_result(srv.agent)
                elif hib is not None:
                    self._park(agent_id, hib, (sig, reply, None))  # answered once it is back
                else:
                    reply.set_exception(UnknownAgent(agent_id))
            return
        if hib is not None:
            self._park(agent_id, hib, (sig, reply, seq))  # still pending: handled after thaw
            return
        if srv is None or srv.stopped:
            self._done_pending()
            self._dead(agent_id, sig)
            if reply is not None and not reply.done():
                reply.set_exception(UnknownAgent(agent_id))
            return
        srv.mailbox.put_internal((sig, reply, seq))

    def _maybe_snapshot(self, srv: _Server, seq: int) -> None:
        srv.last_seq = seq
        srv.since_snapshot += 1
        if srv.since_snapshot >= self._snapshot_every and not srv.stopped:
            srv.since_snapshot = 0
            self._commit().submit(
                "snapshot", snapshot_record(srv.agent, srv.spec, seq, srv.outbox(), self._codec)
            )

    async def hibernate(self, agent_id: str) -> None:
        """Snapshot the agent and take it out of memory; :meth:`thaw` brings it back.

        Hibernation saves memory; it is not a stop (as in Jido). A hibernated agent is not
        among :attr:`agent_ids`, and :meth:`agent` / :meth:`state` do not know it, but
        anything addressed to it thaws it transparently first: ``cast`` and ``call`` (the
        signal is journalled at once, and handled once the agent is back), emits from other
        agents, lifecycle signals, and its own schedules and cron jobs falling due. It keeps
        its parent and children; ``stop`` and ``StopChild`` stop it without thawing it.

        The agent first finishes what it is doing (its queued signals and running effects),
        so that no effect of it is in flight across the hibernation.

        Raises:
            ValueError: the runtime has no storage.
            UnknownAgent: no such running agent.
        """
        if self._storage is None:
            raise ValueError("hibernate needs a runtime with storage")
        srv = self._server(agent_id)
        while True:
            await self.wait_idle()
            srv = self._server(agent_id)  # it may have stopped meanwhile
            if not srv.mailbox.items and not srv.effects:
                break
        # From here to the halt nothing awaits: the snapshot covers exactly the journal up
        # to ``last_seq``, and whatever is journalled for the agent later is parked.
        record = snapshot_record(srv.agent, srv.spec, srv.last_seq, srv.outbox(), self._codec)
        hib = _Hibernated(srv.last_seq, srv.options, srv.parent, dict(srv.children))
        self._arm_wakeups(agent_id, hib, srv)
        self._halt(srv, UnknownAgent(agent_id))
        del self._servers[agent_id]
        self._hibernated[agent_id] = hib
        # Should this write fail, nothing is lost: thawing replays the journal up to ``seq``
        # from the previous snapshot.
        await self._commit().submit("snapshot", record)

    def _arm_wakeups(self, agent_id: str, hib: _Hibernated, srv: _Server) -> None:
        """Timers that stand in for a hibernating agent's own schedules and cron jobs: each
        delivers the signal that falls due, which thaws the agent (the thawed agent arms its
        own timers again)."""
        loop = asyncio.get_running_loop()
        now = self._clock()

        def fire(sig: Signal) -> None:
            hib.fired.add(sig.id)
            self._deliver(agent_id, attrs.evolve(sig, time=self._clock()))

        def tick(job: Cron) -> None:
            self._deliver(agent_id, self._cron_signal(agent_id, job))

        for due, sig in srv.out_schedules.values():
            hib.wakeups.append(loop.call_later(max(0.0, due - now.timestamp()), fire, sig))
        for job in srv.out_crons.values():
            # Valid: ``_cron`` records only the jobs it could arm.
            it = croniter(job.expression, now.astimezone(ZoneInfo(job.timezone)))
            nxt: datetime = it.get_next(datetime)
            delay = max(0.0, (nxt - now).total_seconds())
            hib.wakeups.append(loop.call_later(delay, tick, job))

    def _park(self, agent_id: str, hib: _Hibernated, item: _Queued) -> None:
        """Keep a signal journalled for a hibernated agent until it is back; thaw it."""
        hib.parked.append(item)
        if hib.task is None:
            hib.task = asyncio.get_running_loop().create_task(
                self._thaw_hibernated(agent_id), name=f"jido-thaw:{agent_id}"
            )

    async def _thaw_hibernated(self, agent_id: str) -> Exception | None:
        """The thaw task of a hibernated agent (one at a time): bring it back, which hands it
        what was parked. Returns why it could not (the agent then stays hibernated, and what
        was parked becomes dead letters: journalled, but not handled here)."""
        failure: Exception | None = None
        try:
            await self._restore({agent_id}, thawing=agent_id)
        except Exception as exc:  # CancelledError (a stop, the shutdown) is not caught
            failure = exc
        hib = self._hibernated.get(agent_id)
        if hib is None:
            return None  # back, and handed what was parked
        hib.task = None
        failure = failure or UnknownAgent(agent_id)
        log.error("thawing hibernated agent %s failed: %s", agent_id, failure)
        parked, hib.parked = hib.parked, []
        for sig, reply, seq in parked:
            if seq is not None:
                self._dead(agent_id, sig)
                self._done_pending()
            if reply is not None and not reply.done():
                reply.set_exception(failure)
        return failure

    async def thaw(self, agent_id: str) -> Agent[Any]:
        """Bring a hibernated (or not yet recovered) agent back from storage.

        Raises:
            RecoveryError: its stored data cannot be used (see :meth:`restore`).
            UnknownAgent: storage holds no such agent that is not stopped (or it was stopped
                while thawing).
        """
        hib = self._hibernated.get(agent_id)
        if hib is not None:
            if hib.task is None:
                hib.task = asyncio.get_running_loop().create_task(
                    self._thaw_hibernated(agent_id), name=f"jido-thaw:{agent_id}"
                )
            task = hib.task
            await asyncio.wait([task])
            if task.cancelled():
                raise UnknownAgent(agent_id)
            failure = task.result()
            if failure is not None:
                raise failure
            return self.agent(agent_id)
        ids = await self.restore(only=[agent_id])
        if agent_id not in ids:
            raise UnknownAgent(agent_id)
        return self.agent(agent_id)

    async def restore(self, *, only: Iterable[str] | None = None) -> tuple[str, ...]:
        """Recover every stored agent that is not stopped (or just ``only``) by replay.

        Each agent is its snapshot plus its journal replayed through ``jido.step``; then what
        the replayed steps left outstanding is finished: effects without a recorded outcome
        are re-issued once, timers re-armed for their remaining time, cron jobs re-registered,
        emits re-delivered (receivers drop ids they already hold), missing children spawned.

        A replayed ``Stop`` stops the agent as the live runtime does: the emits and spawns of
        its steps are carried out, then its parent gets ``jido.agent.child.exit`` and its
        children follow their ``on_parent_death``. (Those lifecycle signals have ids derived
        from the stopping signal, so a parent that already got one drops the repeat.) Only
        agents in memory are reached: a parent or child left out of this restore (``only``)
        hears nothing of it.

        A state upgraded from an older ``schema_version`` is snapshotted right away (after
        the re-delivered emits are journalled), so the next restore needs no upgrade hook.

        Hibernated agents come back as by :meth:`thaw`.

        Returns:
            The ids of the agents recovered (and running).

        Raises:
            ValueError: the runtime has no storage.
            RecoveryError: some agents' data cannot be used (a corrupt registration, entry or
                snapshot, an unknown spec, a schema mismatch); each error names its agent and
                position, and *no* agent was started.
        """
        if self._storage is None:
            raise ValueError("restore needs a runtime with storage")
        return await self._restore(None if only is None else set(only))

    async def _restore(
        self, wanted: set[str] | None, thawing: str | None = None
    ) -> tuple[str, ...]:
        """:meth:`restore`, for the agents in ``wanted`` (all if ``None``); ``thawing`` is
        the hibernated agent whose thaw task this is."""
        storage = self._storage
        assert storage is not None
        loop = asyncio.get_running_loop()

        def ours(agent_id: str) -> bool:
            if wanted is not None and agent_id not in wanted:
                return False
            srv = self._servers.get(agent_id)
            if srv is not None and not srv.stopped:
                return False
            # A hibernated agent being thawed comes back through its thaw task alone.
            hib = self._hibernated.get(agent_id)
            return hib is None or hib.task is None or agent_id == thawing

        await self._commit().submit("barrier", None)  # earlier writes are durable now
        records = await loop.run_in_executor(None, storage.agents)
        errors: list[StorageError] = []
        todo: list[AgentRecord] = []
        for r in records:
            if isinstance(r, CorruptJournal):
                if ours(r.agent_id):
                    errors.append(r)
            elif not r.stopped and ours(r.agent_id):
                todo.append(r)
        plans: list[tuple[AgentRecord, AgentSpec[Any], Replayed, _Hibernated | None, bool]] = []
        tails: dict[str, int] = {}  # journal entries replayed since the snapshot, per agent
        for rec in todo:
            spec = self._specs.get(rec.spec)
            if spec is None:
                errors.append(UnknownSpec(rec.agent_id, rec.spec))
                continue
            hib = self._hibernated.get(rec.agent_id)
            try:
                snap, entries = await loop.run_in_executor(None, storage.load, rec.agent_id)
                if hib is not None:
                    # Entries after its last step arrived while it hibernated: they are parked
                    # and handled live once it is back, not replayed.
                    entries = [e for e in entries if e.seq <= hib.seq]
                plan, upgraded = self._replay(rec, spec, snap, entries)
                plans.append((rec, spec, plan, hib, upgraded))
                tails[rec.agent_id] = len(entries)
            except StorageError as exc:
                errors.append(exc)
        if errors:
            raise RecoveryError("recovery failed; no agent was started", errors)
        # Other restores, thaws or stops ran while this one awaited storage: start only what
        # is still ours to start (and a hibernated agent only if it is still hibernated).
        plans = [
            p for p in plans if ours(p[0].agent_id) and self._hibernated.get(p[0].agent_id) is p[3]
        ]
        known = {r.agent_id for r in records}
        now = self._clock().timestamp()
        started: list[tuple[AgentRecord, AgentSpec[Any], Replayed, _Hibernated | None, bool]] = []
        for rec, spec, plan, hib, upgraded in plans:
            srv = _Server(spec, plan.agent, self._options.get(spec.name, self._default_options))
            srv.last_seq = plan.last_seq
            # The replayed tail counts toward the next snapshot: otherwise a runtime restarted
            # more often than every ``snapshot_every`` signals never snapshots again.
            srv.since_snapshot = tails[rec.agent_id]
            if hib is not None:
                del self._hibernated[rec.agent_id]
                hib.cancel_wakeups()  # its own timers are armed again below
                # What arrived while it hibernated, in journal order, ahead of anything later
                # (and before any stop below, which then makes dead letters of it).
                for sig, reply, seq in hib.parked:
                    if seq is not None:
                        srv.mailbox.put_internal((sig, reply, seq))
                    elif reply is not None and not reply.done():
                        reply.set_result(srv.agent)
                hib.parked.clear()
            self._servers[rec.agent_id] = srv
            if not plan.stopped:
                srv.task = loop.create_task(
                    self._loop(rec.agent_id, srv), name=f"jido-agent:{rec.agent_id}"
                )
            started.append((rec, spec, plan, hib, upgraded))
        for rec, _, _, hib, _ in started:
            srv = self._servers[rec.agent_id]
            if hib is not None:
                # Its links were kept up to date while it hibernated; storage has the old ones.
                srv.parent = hib.parent
                srv.children.update(hib.children)
            elif rec.parent_id is not None and rec.tag is not None:
                srv.parent = (rec.parent_id, rec.tag)
                parent = self._servers.get(rec.parent_id)
                if parent is not None and not parent.stopped:
                    parent.children[rec.tag] = rec.agent_id
                elif rec.parent_id in self._hibernated:
                    self._hibernated[rec.parent_id].children[rec.tag] = rec.agent_id
        # A parent brought back (thawed) while its children kept running: link them again.
        back = {rec.agent_id for rec, *_ in started}
        for child_id, child in self._servers.items():
            if child.parent is not None and child.parent[0] in back and not child.stopped:
                self._servers[child.parent[0]].children[child.parent[1]] = child_id
        for rec, spec, plan, hib, upgraded in started:
            srv = self._servers[rec.agent_id]
            if srv.stopped:
                continue  # stopped just now with a parent that replayed a Stop
            emits = [e for e in plan.emits if not isinstance(e.to, ToSink)]
            missing = [d for d in plan.spawns if (d.id or f"{rec.agent_id}/{d.tag}") not in known]
            if plan.stopped:
                # As live: what its steps emitted and spawned before the Stop was carried out,
                # then it stopped (effects and timers it had armed were cancelled by the stop).
                self._execute(srv, None, emits)
                self._execute(srv, None, missing)
                self._stop(srv, plan.stop_reason, cause=plan.stopped_by)
                continue
            outbox = plan.outbox
            if hib is not None and hib.fired:
                # Schedules its wake-ups delivered while it hibernated are parked, not due.
                outbox = attrs.evolve(
                    outbox,
                    schedules=tuple((d, s) for d, s in outbox.schedules if s.id not in hib.fired),
                )
            self._execute(srv, None, outbox.crons)
            for due, sig in outbox.schedules:
                self._after(srv, max(0.0, due - now), sig)
            for invoke, cause in outbox.invokes:
                self._execute(srv, cause, (invoke,))
            self._execute(srv, None, emits)
            self._execute(srv, None, missing)
            if self._closed:
                # Thawed during shutdown's drain: armed timers would keep the drain from
                # converging. They stay in the outbox, so snapshots still remember them.
                srv.cancel_timers()
            if upgraded and not srv.stopped:
                # Submitted after the emits above were, so journalled after them: a snapshot
                # at ``last_seq`` never skips a re-delivery that was not yet durable.
                srv.since_snapshot = 0
                self._commit().submit(
                    "snapshot", snapshot_record(srv.agent, spec, srv.last_seq, outbox, self._codec)
                )
        return tuple(rec.agent_id for rec, *_ in started if not self._servers[rec.agent_id].stopped)

    def _replay(
        self,
        rec: AgentRecord,
        spec: AgentSpec[Any],
        snap: SnapshotRecord | None,
        entries: list[JournalEntry],
    ) -> tuple[Replayed, bool]:
        """Replay an agent; also says whether its stored state was upgraded."""
        codec = self._codec
        if snap is not None:
            stored = snap.schema_version
            agent = decode_agent(
                snap.agent,
                spec,
                snap.schema_version,
                agent_id=rec.agent_id,
                seq=-1,
                codec=codec,
                upgrade=self._upgrade,
            )
            try:
                outbox = Outbox.from_json(snap.outbox, codec)
            except (ValueError, KeyError, TypeError) as exc:
                raise CorruptJournal(rec.agent_id, -1, f"outbox: {exc}") from None
            start = snap.seq
        else:
            stored = rec.schema_version
            agent = decode_agent(
                rec.initial,
                spec,
                rec.schema_version,
                agent_id=rec.agent_id,
                seq=0,
                codec=codec,
                upgrade=self._upgrade,
            )
            # The declared schedules were registered at start, not by a step.
            started = spec.startup(agent)
            first = entries[0].at if entries else self._clock().timestamp()
            outbox = Outbox(
                crons=tuple(d for d in started if isinstance(d, Cron)),
                schedules=tuple(
                    (first + d.delay, d.signal) for d in started if isinstance(d, Schedule)
                ),
            )
            start = 0
        replayed = replay(spec, agent, entries, outbox=outbox, start_seq=start, codec=codec)
        # decode_agent raised unless the hook took it from ``stored`` to the spec's version.
        return replayed, stored != spec.schema_version

    # ------------------------------------------------------------------ the agent loop

    async def _loop(self, agent_id: str, srv: _Server) -> None:
        while not srv.stopped:
            sig, reply, seq = await srv.mailbox.get()
            try:
                self._handle(srv, sig, reply)
                if seq is not None:
                    self._maybe_snapshot(srv, seq)
            finally:
                self._done_pending()

    def _handle(self, srv: _Server, sig: Signal, reply: asyncio.Future[Agent[Any]] | None) -> None:
        before = srv.agent
        t0 = time.perf_counter()
        span_cm = None
        if self._tracing:
            parent_ctx = _propagator.extract(dict(sig.extensions))
            span_cm = self._tracer.start_as_current_span(
                f"jido.step {sig.type}",
                context=parent_ctx,
                attributes={"jido.agent.id": before.id, "jido.signal.type": sig.type},
            )
            span_cm.__enter__()
            carrier: dict[str, str] = {}
            _propagator.inject(carrier)
            if carrier:
                # Signals born in this step become children of this span: the core copies the
                # handled signal's trace context into what it stamps.
                sig = attrs.evolve(sig, extensions={**sig.extensions, **carrier})
        try:
            try:
                result = jido.step(srv.spec, before, sig)
            except Exception as exc:
                # ActionCrashed from an action; anything else came from other user code the
                # core calls (a route guard, a custom strategy): the same policy applies.
                crash = exc if isinstance(exc, ActionCrashed) else _crashed(before.id, sig, exc)
                self._crash(srv, sig, crash)
                if reply is not None and not reply.done():
                    reply.set_exception(crash)
                return
            srv.agent = result.agent
            self._steps += 1
            if reply is not None and not reply.done():
                reply.set_result(result.agent)
            problems = self._execute(srv, sig, result.directives)
            if self._record:
                self.trace.append(
                    TraceEntry(
                        index=len(self.trace),
                        at=time.perf_counter() - self._t0,
                        agent_id=before.id,
                        signal=sig,
                        before=before,
                        after=result.agent,
                        directives=result.directives,
                        problems=tuple(problems),
                    )
                )
        finally:
            self._latencies.append((time.perf_counter() - t0) * 1e6)
            if span_cm is not None:
                span_cm.__exit__(None, None, None)

    # ------------------------------------------------------------------ crashes

    def _crash(self, srv: _Server, sig: Signal, exc: BaseException) -> None:
        self._crashes += 1
        self._errors += 1
        policy = srv.options.error_policy
        agent_id = srv.agent.id
        log.error(
            "agent %s crashed handling %s: %s",
            agent_id,
            sig.type,
            exc.__cause__ or exc,
            exc_info=exc,
            extra={"jido": {"agent": agent_id, "signal": sig.id, "policy": type(policy).__name__}},
        )
        match policy:
            case Continue():
                pass
            case StopAgent():
                self._stop(srv, "crashed")
            case Restart(max_restarts=limit, within=window):
                now = time.monotonic()
                srv.restarts.append(now)
                while srv.restarts and srv.restarts[0] < now - window:
                    srv.restarts.popleft()
                if len(srv.restarts) > limit:
                    self._escalate(srv, exc, f"restarted {limit} times within {window:g}s")
                else:
                    self._restarts += 1
                    srv.cancel_timers()
                    # The restart re-registers the declared schedules; what the agent armed
                    # itself is gone with its timers, so snapshots must forget it too.
                    srv.out_schedules.clear()
                    srv.out_crons.clear()
                    self._execute(srv, None, srv.spec.startup(srv.agent))
            case Escalate():
                self._escalate(srv, exc, "crashed")
            case _:
                assert_never(policy)

    def _escalate(self, srv: _Server, exc: BaseException, why: str) -> None:
        cause = exc.__cause__ or exc
        reason = f"{why}: {type(cause).__name__}: {cause}"
        if srv.parent is None:
            log.error("root agent %s stopped: %s", srv.agent.id, reason)
        self._stop(srv, reason)

    # ------------------------------------------------------------------ stopping

    def _stop(self, srv: _Server, reason: str, cause: Signal | None = None) -> None:
        """Stop a running agent for good. ``cause``: the signal whose step gave the ``Stop``
        directive, if that is what stopped it (see :meth:`_stopped`)."""
        if srv.stopped:
            return
        agent_id = srv.agent.id
        self._halt(srv, UnknownAgent(agent_id))
        for sig, _, _ in srv.mailbox.items:
            self._dead(agent_id, sig)
            self._done_pending()
        srv.mailbox.items.clear()
        for t in srv.effects:
            t.cancel()
        parent, children = srv.parent, dict(srv.children)
        srv.children.clear()
        self._stopped(agent_id, parent, children, reason, cause)

    def _stop_hibernated(self, agent_id: str, reason: str, cause: Signal | None = None) -> None:
        """Stop a hibernated agent for good, where it is: no need to thaw it first."""
        hib = self._hibernated.pop(agent_id)
        if hib.task is not None:
            hib.task.cancel()  # it has not brought the agent back: it would have popped ``hib``
        hib.cancel_wakeups()
        for sig, reply, seq in hib.parked:
            if seq is not None:
                self._dead(agent_id, sig)
                self._done_pending()
            if reply is not None and not reply.done():
                reply.set_exception(UnknownAgent(agent_id))
        hib.parked.clear()
        self._stopped(agent_id, hib.parent, hib.children, reason, cause)

    def _stopped(
        self,
        agent_id: str,
        parent: tuple[str, str] | None,
        children: Mapping[str, str],
        reason: str,
        cause: Signal | None,
    ) -> None:
        """What follows an agent's stop: storage marks it stopped, its parent gets
        ``child.exit``, its children follow their ``on_parent_death``.

        A stop by a ``Stop`` directive (``cause`` given) is in the journal: a restore that
        replays it stops the agent again and does all this again. So its lifecycle signals
        get ids derived from ``cause`` (a repeat is dropped by the receiver's journal), and
        storage marks it stopped only *after* they are submitted: a crash in between leaves
        an agent that recovery stops again, not a parent that is never told. (A child
        stopped by its ``on_parent_death`` shares its parent's ``cause``.) Other stops
        (``stop``, ``StopChild``, a crash policy) are in no journal, so storage marks them
        stopped first: a crash then leaves a parent untold rather than an agent that comes
        back after its parent was told it exited.
        """
        if self._storage is not None and cause is None:
            self._commit().submit("stopped", agent_id)
        if parent is not None:
            parent_id, tag = parent
            links: dict[str, str] | None = None
            up = self._servers.get(parent_id)
            if up is not None and not up.stopped:
                links = up.children
            elif parent_id in self._hibernated:
                links = self._hibernated[parent_id].children
            if links is not None:
                links.pop(tag, None)
                self._lifecycle(
                    agent_id,
                    parent_id,
                    CHILD_EXIT,
                    {"child_id": agent_id, "tag": tag, "reason": reason},
                    cause,
                )
        for tag, child_id in sorted(children.items()):
            child = self._servers.get(child_id)
            if child is not None and not child.stopped:
                child.parent = None
                policy = child.options.on_parent_death
            elif (child_hib := self._hibernated.get(child_id)) is not None:
                child_hib.parent = None
                policy = child_hib.options.on_parent_death
            else:
                continue
            match policy:
                case "stop":
                    why = f"parent {agent_id} stopped"
                    if child is not None and not child.stopped:
                        self._stop(child, why, cause)
                    else:
                        self._stop_hibernated(child_id, why, cause)
                case "orphan":
                    self._lifecycle(
                        agent_id,
                        child_id,
                        ORPHANED,
                        {"parent_id": agent_id, "tag": tag, "reason": reason},
                        cause,
                    )
                case "continue":
                    pass
        if self._storage is not None and cause is not None:
            self._commit().submit("stopped", agent_id)
        log.info("agent %s stopped (%s)", agent_id, reason, extra={"jido": {"agent": agent_id}})

    def _lifecycle(
        self, source: str, target: str, type: str, data: object, cause: Signal | None
    ) -> None:
        """A lifecycle signal about ``source`` to ``target`` (running or hibernated)."""
        if cause is None:
            self._system_to(target, type, data, source)
            return
        sig = system_signal(
            type,
            data,
            agent_id=target,
            cause=f"{source}:{cause.id}",
            seq=0,
            time=self._clock(),
        )
        self._deliver(target, sig)

    def _halt(self, srv: _Server, exc: BaseException) -> None:
        srv.stopped = True
        srv.cancel_timers()
        for _, reply, _ in srv.mailbox.items:
            if reply is not None and not reply.done():
                reply.set_exception(exc)
        srv.mailbox.release_putters(exc)
        task = srv.task
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    def _dead(self, agent_id: str, sig: Signal) -> None:
        self._dead_count += 1
        self.dead_letters.append((agent_id, sig))

    # ------------------------------------------------------------------ delivery

    def _deliver(self, agent_id: str, sig: Signal) -> bool:
        srv = self._servers.get(agent_id)
        if srv is None and agent_id in self._hibernated:
            self._journal(agent_id, sig, None)  # committed, it is parked and thaws the agent
            return True
        if srv is None or srv.stopped:
            self._dead(agent_id, sig)
            return False
        if self._storage is not None:
            self._journal(agent_id, sig, None)
        else:
            srv.mailbox.put_internal((sig, None, None))
            self._add_pending()
        return True

    def _system(self, srv: _Server, type: str, data: object, cause: str) -> None:
        self._system_to(srv.agent.id, type, data, cause)

    def _system_to(self, agent_id: str, type: str, data: object, cause: str) -> None:
        self._seq += 1
        # The cause only feeds the id: salted, so a restarted runtime's counter starting at 1
        # again does not repeat an id the journal holds (it would be dropped as a duplicate).
        salted = f"{cause}@{self._incarnation}"
        sig = system_signal(
            type, data, agent_id=agent_id, cause=salted, seq=self._seq, time=self._clock()
        )
        self._deliver(agent_id, sig)

    def _problem(self, problems: list[Problem], problem: Problem, agent_id: str) -> None:
        problems.append(problem)
        self.problems.append(problem)
        self._problem_count += 1
        log.warning("agent %s: %s", agent_id, problem.message, extra={"jido": {"agent": agent_id}})

    # ------------------------------------------------------------------ directives

    def _execute(
        self, srv: _Server, cause: Signal | None, directives: Iterable[Directive]
    ) -> list[Problem]:
        problems: list[Problem] = []
        agent_id = srv.agent.id
        chain: asyncio.Task[None] | None = None
        for d in directives:
            if srv.stopped:
                break  # stopped by an earlier directive: the rest are not executed
            try:
                if self._tracing:
                    with self._tracer.start_as_current_span(
                        f"jido.directive {type(d).__name__}", attributes={"jido.agent.id": agent_id}
                    ):
                        chain = self._execute_one(srv, cause, d, chain, problems)
                else:
                    chain = self._execute_one(srv, cause, d, chain, problems)
            except Exception as exc:
                # A bug in a user-supplied directive handler: the agent's error policy.
                trigger = cause or Signal(type="jido.directive", source="jido://runtime", id="-")
                crash = ActionCrashed(agent_id, type(d).__name__, trigger.type)
                crash.__cause__ = exc
                self._crash(srv, trigger, crash)
        return problems

    def _execute_one(
        self,
        srv: _Server,
        cause: Signal | None,
        d: Directive,
        chain: asyncio.Task[None] | None,
        problems: list[Problem],
    ) -> asyncio.Task[None] | None:
        agent_id = srv.agent.id
        if isinstance(d, CustomDirective):
            self._custom(srv, d, problems)
            return chain
        match d:
            case Emit(signal=sig, to=to):
                self._emit(srv, sig, to, problems)
            case Invoke():
                chain = self._invoke(srv, cause, d, chain, problems)
            case Schedule(delay=delay, signal=sig):
                self._after(srv, delay, sig)
            case Cron():
                self._cron(srv, d, problems)
            case CronCancel(job_id=job_id):
                srv.out_crons.pop(job_id, None)
                h = srv.crons.pop(job_id, None)
                if h is not None:
                    h.cancel()
            case SpawnAgent():
                self._spawn(srv, d, problems)
            case StopChild(tag=tag, reason=reason):
                child_id = srv.children.get(tag, "")
                child = self._servers.get(child_id)
                if child is not None and not child.stopped:
                    self._stop(child, reason)
                elif child_id in self._hibernated:
                    self._stop_hibernated(child_id, reason)
                else:
                    self._problem(
                        problems,
                        directive_problem(f"no child tagged {tag!r}", tag=tag),
                        agent_id,
                    )
            case AdoptChild():
                self._adopt(srv, d, problems)
            case StartSensor():
                self._start_sensor(srv, d, problems)
            case StopSensor(tag=tag):
                t = srv.sensors.pop(tag, None)
                if t is not None:
                    t.cancel()
            case Stop(reason=reason):
                self._stop(srv, reason, cause)
            case Error(problem=p):
                self._errors += 1
                log.info("agent %s: %s", agent_id, p.message, extra={"jido": {"agent": agent_id}})
            case _:
                assert_never(d)
        return chain

    def _emit(
        self,
        srv: _Server,
        sig: Signal,
        to: ToSelf | ToParent | ToAgent | ToSink,
        problems: list[Problem],
    ) -> None:
        agent_id = srv.agent.id
        match to:
            case ToSelf():
                self._deliver(agent_id, sig)
            case ToParent():
                if srv.parent is None:
                    self._problem(
                        problems,
                        directive_problem(
                            f"agent {agent_id!r} has no parent to emit {sig.type!r} to",
                            signal_type=sig.type,
                        ),
                        agent_id,
                    )
                else:
                    self._deliver(srv.parent[0], sig)
            case ToAgent(id=target):
                if not self._deliver(target, sig):
                    self._problem(
                        problems,
                        directive_problem(
                            f"no running agent {target!r} to emit {sig.type!r} to",
                            agent=target,
                            signal_type=sig.type,
                        ),
                        agent_id,
                    )
            case ToSink(name=name):
                fn = self._sink_fns.get(name)
                if fn is None:
                    self._problem(
                        problems, directive_problem(f"no sink named {name!r}", sink=name), agent_id
                    )
                else:
                    fn(sig)
            case _:
                assert_never(to)

    def _invoke(
        self,
        srv: _Server,
        cause: Signal | None,
        d: Invoke,
        previous: asyncio.Task[None] | None,
        problems: list[Problem],
    ) -> asyncio.Task[None]:
        handler = self._effects.get(d.effect)
        if handler is None:
            self._problem(
                problems,
                Problem.of(
                    ProblemKind.EFFECT, f"no handler for effect {d.effect!r}", effect=d.effect
                ),
                srv.agent.id,
            )
        self._add_pending()
        if self._storage is not None:
            srv.out_invokes[d.key] = (d, cause)
        task = asyncio.get_running_loop().create_task(
            self._run_effect(srv, d, cause, handler, previous), name=f"jido-effect:{d.effect}"
        )
        srv.effects.add(task)

        def done(t: asyncio.Task[None]) -> None:
            # A callback, not a ``finally``: a task cancelled before it ever ran runs no
            # ``finally``, and the pending count must still come down.
            srv.effects.discard(t)
            self._done_pending()

        task.add_done_callback(done)
        return task

    async def _run_effect(
        self,
        srv: _Server,
        d: Invoke,
        cause: Signal | None,
        handler: AsyncEffectHandler | None,
        previous: asyncio.Task[None] | None,
    ) -> None:
        outcome: tuple[Literal["ok"], JsonValue] | tuple[Literal["error"], str, str]
        if handler is None:
            outcome = ("error", "UnknownEffect", f"no handler for effect {d.effect!r}")
        else:
            span = (
                self._tracer.start_as_current_span(
                    f"jido.effect {d.effect}", attributes={"jido.effect.key": d.key}
                )
                if self._tracing
                else None
            )
            limit = asyncio.timeout(srv.options.effect_timeout)
            try:
                if span is not None:
                    span.__enter__()
                async with limit:
                    result = await handler(d.args)
                try:
                    outcome = ("ok", freeze(result))
                except TypeError as exc:
                    outcome = ("error", "InvalidResult", str(exc))
            except TimeoutError as exc:
                # Ours (the effect timeout) or the handler's own; the message tells which.
                message = (
                    f"effect {d.effect!r} took longer than {srv.options.effect_timeout:g}s"
                    if limit.expired()
                    else str(exc)
                )
                outcome = ("error", "TimeoutError", message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                outcome = ("error", type(exc).__name__, str(exc))
            finally:
                if span is not None:
                    span.__exit__(None, None, None)
        if previous is not None and not previous.done():
            # Outcomes of one step's effects are delivered in directive order.
            await asyncio.wait([previous])
        srv.out_invokes.pop(d.key, None)
        self._deliver(srv.agent.id, outcome_signal(d, outcome, cause=cause, time=self._clock()))

    def _after(self, srv: _Server, delay: float, sig: Signal, tag: str | None = None) -> None:
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle

        def fire() -> None:
            srv.timers.discard(handle)
            srv.out_schedules.pop(sig.id, None)
            if not srv.stopped:
                self._deliver(srv.agent.id, attrs.evolve(sig, time=self._clock()))

        handle = loop.call_later(delay, fire)
        srv.timers.add(handle)
        if self._storage is not None:
            srv.out_schedules[sig.id] = (self._clock().timestamp() + delay, sig)

    def _cron(self, srv: _Server, d: Cron, problems: list[Problem]) -> None:
        agent_id = srv.agent.id
        try:
            tz = ZoneInfo(d.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            self._problem(
                problems,
                directive_problem(
                    f"unknown timezone {d.timezone!r}", job_id=d.job_id, timezone=d.timezone
                ),
                agent_id,
            )
            return
        if not croniter.is_valid(d.expression):
            self._problem(
                problems,
                directive_problem(
                    f"invalid cron expression {d.expression!r}",
                    job_id=d.job_id,
                    expression=d.expression,
                ),
                agent_id,
            )
            return
        old = srv.crons.pop(d.job_id, None)
        if old is not None:
            old.cancel()
        if self._storage is not None:
            srv.out_crons[d.job_id] = d
        it = croniter(d.expression, self._clock().astimezone(tz))
        loop = asyncio.get_running_loop()

        def arm() -> None:
            nxt: datetime = it.get_next(datetime)
            delay = max(0.0, (nxt - self._clock()).total_seconds())
            srv.crons[d.job_id] = loop.call_later(delay, tick)

        def tick() -> None:
            if srv.stopped:
                return
            self._deliver(agent_id, self._cron_signal(agent_id, d))
            arm()

        arm()

    def _cron_signal(self, agent_id: str, d: Cron) -> Signal:
        """A cron tick's signal. Its id counts ticks runtime-wide, not per registration: a
        job registered again (an agent thawed, restarted) must not repeat the ids of its
        earlier ticks, which the journal would drop as re-deliveries."""
        self._seq += 1
        return attrs.evolve(
            d.signal,
            id=derive_id(d.signal.id, agent_id, self._seq, self._incarnation),
            time=self._clock(),
        )

    def _spawn(self, parent: _Server, d: SpawnAgent, problems: list[Problem]) -> None:
        parent_id = parent.agent.id
        child_id = d.id or f"{parent_id}/{d.tag}"
        if d.spec not in self._specs:
            self._problem(
                problems,
                directive_problem(f"no spec named {d.spec!r} to spawn", spec=d.spec),
                parent_id,
            )
            return
        existing = self._servers.get(child_id)
        if (existing is not None and not existing.stopped) or child_id in self._hibernated:
            self._problem(
                problems,
                directive_problem(f"an agent {child_id!r} already runs", child_id=child_id),
                parent_id,
            )
            return
        if d.tag in parent.children:
            self._problem(
                problems,
                directive_problem(f"child tag {d.tag!r} is already in use", tag=d.tag),
                parent_id,
            )
            return
        try:
            self._start(d.spec, child_id, jido.thaw(d.state) or None, parent=(parent_id, d.tag))
        except (TypeError, ValueError, RuntimeClosed) as exc:
            self._problem(
                problems,
                directive_problem(f"cannot start {child_id!r}: {exc}", child_id=child_id),
                parent_id,
            )
            return
        self._system(
            parent,
            CHILD_STARTED,
            {"child_id": child_id, "tag": d.tag, "spec": d.spec, "meta": d.meta},
            child_id,
        )

    def _adopt(self, parent: _Server, d: AdoptChild, problems: list[Problem]) -> None:
        parent_id = parent.agent.id
        child = self._servers.get(d.child_id)
        message: str | None = None
        if d.child_id == parent_id:
            message = "an agent cannot adopt itself"
        elif child is None or child.stopped:
            message = f"no running agent {d.child_id!r} to adopt"
        elif child.parent is not None:
            message = f"agent {d.child_id!r} already has a parent"
        elif d.tag in parent.children:
            message = f"child tag {d.tag!r} is already in use"
        if message is not None or child is None:
            self._problem(
                problems, directive_problem(message or "", child_id=d.child_id), parent_id
            )
            return
        child.parent = (parent_id, d.tag)
        parent.children[d.tag] = d.child_id
        self._system(
            parent,
            CHILD_STARTED,
            {"child_id": d.child_id, "tag": d.tag, "spec": child.spec.name, "meta": d.meta},
            d.child_id,
        )

    def _start_sensor(self, srv: _Server, d: StartSensor, problems: list[Problem]) -> None:
        fn = self._sensor_fns.get(d.sensor)
        if fn is None:
            self._problem(
                problems,
                directive_problem(f"no sensor named {d.sensor!r}", sensor=d.sensor),
                srv.agent.id,
            )
            return
        old = srv.sensors.pop(d.tag, None)
        if old is not None:
            old.cancel()
        self._seq += 1
        generation = self._seq

        async def run() -> None:
            reason = "normal"
            n = 0
            try:
                async for type_, data in fn(d.config):
                    sig = Signal(
                        type=type_,
                        source=f"jido://sensor/{d.sensor}",
                        id=derive_id(
                            f"sensor:{d.tag}:{generation}", srv.agent.id, n, self._incarnation
                        ),
                        time=self._clock(),
                        data=data,
                    )
                    n += 1
                    self._deliver(srv.agent.id, sig)
            except asyncio.CancelledError:
                return  # StopSensor / the agent stopped: a controlled stop, no exit signal
            except Exception as exc:
                reason = f"{type(exc).__name__}: {exc}"
            if srv.sensors.get(d.tag) is task:
                del srv.sensors[d.tag]
            if not srv.stopped:
                self._system(
                    srv,
                    SENSOR_EXIT,
                    {"tag": d.tag, "sensor": d.sensor, "reason": reason},
                    f"sensor:{d.tag}",
                )

        task = asyncio.get_running_loop().create_task(run(), name=f"jido-sensor:{d.tag}")
        srv.sensors[d.tag] = task

    def _custom(self, srv: _Server, d: CustomDirective, problems: list[Problem]) -> None:
        handler = self._directive_handlers.get(type(d))
        if handler is None:
            self._problem(
                problems,
                directive_problem(
                    f"no handler for directive {type(d).__name__}", directive=type(d).__qualname__
                ),
                srv.agent.id,
            )
            return
        for sig in handler(srv.agent.id, d):
            self._deliver(srv.agent.id, sig)
