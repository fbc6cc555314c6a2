"""AsyncRuntime: the production interpreter on asyncio (Jido's AgentServer).

Theory of operation
-------------------

* One task and one bounded mailbox per agent. A step is synchronous: the task takes a
  signal, calls ``jido.step``, stores the new agent, answers a waiting ``call``, and executes
  the directives without awaiting anything. So an agent is never half-way through a step, and
  nothing can interleave inside one.
* Effects (``Invoke``) run as their own tasks, concurrently, outside the agent's loop: a slow
  effect never blocks the agent's mailbox or a ``call``. Outcomes come back as signals, in
  the order of the step's ``Invoke`` directives (see :mod:`._async_directives`).
* The bound applies to what comes from outside (``cast``): ``cast`` waits for room,
  ``cast_nowait`` raises :class:`MailboxFull`. Signals agents send each other, effect outcomes
  and timer firings are always accepted, so two agents can never deadlock on each other's full
  mailboxes.
* A bug in user code follows the agent's :data:`ErrorPolicy` (see
  :mod:`._async_supervision`). The agent keeps its last good state (the step never
  committed), and every accepted signal is either handled or reported (dead letters, the
  shutdown report): nothing is dropped silently.

Where things live
-----------------

AsyncRuntime is one object whose internals are split by concept. This module holds its
public API, the agent loop and delivery. Three modules are functions of the runtime
(``rt``) that read and change its state directly:

* :mod:`._async_directives`: executing a step's directives;
* :mod:`._async_supervision`: crashes, error policies, stopping, parent and children;
* :mod:`._async_durable`: the journal, snapshots, hibernation and recovery.

Three more hold the pieces they share:

* :mod:`._async_server`: what it keeps per agent (running, or hibernated);
* :mod:`._async_errors`: the errors it raises to callers;
* :mod:`._telemetry`: the counters behind :meth:`AsyncRuntime.statistics`, and OTel spans.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
import uuid
from asyncio.events import _get_running_loop
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime
from threading import get_ident
from typing import Any, Final, TypeAlias, TypeVar, final, overload

import attrs
from opentelemetry import trace

import jido
from jido import (
    ActionCrashed,
    Agent,
    AgentSpec,
    CustomDirective,
    FrozenMap,
    JsonValue,
    Problem,
    Signal,
)
from jido.serde import Codec

from . import _async_durable as durable
from . import _async_supervision as supervision
from ._async_directives import execute
from ._async_errors import (
    AgentHibernated,
    CallTimeout,
    NotDurable,
    RuntimeClosed,
    WaitTimeout,
    unknown,
)
from ._async_server import RESENT, Hibernated, Server
from ._async_waiters import Condition, Waiters
from ._checks import (
    DRAFT_ID,
    RESERVED_TYPES,
    RUNTIME_SOURCES,
    async_callables,
    check_reason,
    check_timeout,
    directive_handlers,
    given_signal,
    handler_kind,
    plain_callables,
    sink_names,
    specs_by_name,
)
from ._committer import Committer
from ._durable import Upgrade, snapshot_record
from ._kernel import CallRefused, UnknownAgent
from ._mailbox import MailboxFull
from ._options import (
    DEFAULT_OPTIONS,
    AgentOptions,
    Continue,
    ErrorPolicy,
    Escalate,
    Restart,
    StopAgent,
)
from ._outcomes import system_signal
from ._policy import PASSING, check_option_names, check_options
from ._storage import AgentExists, AgentRecord, Storage
from ._telemetry import Counters, RuntimeStatistics, Spans, failed
from ._trace import TraceEntry

__all__ = [
    "AgentHibernated",
    "AgentOptions",
    "AsyncEffectHandler",
    "AsyncRuntime",
    "AsyncSensorFn",
    "CallTimeout",
    "Continue",
    "ErrorPolicy",
    "Escalate",
    "MailboxFull",
    "NotDurable",
    "Restart",
    "RuntimeClosed",
    "RuntimeStatistics",
    "ShutdownReport",
    "StopAgent",
    "WaitTimeout",
]

log = logging.getLogger("jido.runtime")

S = TypeVar("S")

#: How many signals an agent handles in a row before it lets the event loop run others.
_FAIR_SHARE: Final = 64

#: An async effect handler: gets the ``Invoke`` args, returns a JSON-able result or raises.
AsyncEffectHandler: TypeAlias = Callable[[FrozenMap[str, JsonValue]], Awaitable[object]]
#: An async sensor: given its config, yields ``(type, data)`` for signals to the agent.
AsyncSensorFn: TypeAlias = Callable[[FrozenMap[str, JsonValue]], AsyncIterator[tuple[str, object]]]
#: A sink: called with each signal emitted to it.
SinkFn: TypeAlias = Callable[[Signal], None]
#: A handler for a user-defined directive: returns signals to deliver to the agent (drafts,
#: which the runtime stamps as every runtime does, or whole signals).
AsyncDirectiveHandler: TypeAlias = Callable[[str, Any], Iterable[Signal]]

# Why each kind of handler must be what it must be, for the TypeError refusing another.
_EFFECT_NEEDS: Final = (
    "AsyncRuntime awaits what an effect's handler returns (an object whose __call__ is"
    " async def will do too); plain handlers are for SyncRuntime and Simulation"
)
_SENSOR_NEEDS: Final = (
    "AsyncRuntime reads a sensor with async for (an object whose __call__ is an async"
    " generator function will do too); plain sensors are for SyncRuntime and Simulation"
)
_SINK_NEEDS: Final = (
    "AsyncRuntime calls a sink within the step that emits to it, and does not await it, so"
    " it must be a plain function (def)"
)


# ---------------------------------------------------------------------------- reports


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


def _registered(ctx: tuple[AsyncRuntime, Server], _: object, exc: BaseException | None) -> None:
    """A spawned child's registration is written; if it failed, the child stops: it is not
    durable, and storage may hold another agent under its id (not yet restored), whose
    journal must not take the child's writes. The committer refuses those until told that
    the child is gone ("admit": what is written for the id from then on is not the
    child's)."""
    if exc is None:
        return
    rt, srv = ctx
    agent_id = srv.agent.id
    log.error("%s", NotDurable(agent_id, None, exc), extra={"jido": {"agent": agent_id}})
    supervision.stop(rt, srv, f"not registered: {exc}")  # if it has not stopped already
    rt._commit().post("admit", agent_id)


def _snapshotted(
    ctx: tuple[AsyncRuntime, Server, asyncio.Future[None] | None],
    _: object,
    exc: BaseException | None,
) -> None:
    """An agent's start snapshot is written; if it failed, the agent stops (see _start)."""
    rt, srv, written = ctx
    if exc is not None and not srv.stopped:
        agent_id = srv.agent.id
        failure = NotDurable(agent_id, None, exc, started=True)
        log.error("%s", failure, extra={"jido": {"agent": agent_id}})
        supervision.stop(rt, srv, f"not durable: {exc}")
    if written is not None and not written.done():
        if exc is None:
            written.set_result(None)
        else:
            written.set_exception(exc)


def _crashed(agent_id: str, sig: Signal, exc: BaseException) -> ActionCrashed:
    crash = ActionCrashed(agent_id, "<step>", sig.type)
    crash.__cause__ = exc
    return crash


# ---------------------------------------------------------------------------- the runtime

#: How many problems :attr:`AsyncRuntime.problems` keeps (the latest).
PROBLEMS_KEPT: Final = 1000
#: How many dead letters :attr:`AsyncRuntime.dead_letters` keeps (the latest).
DEAD_LETTERS_KEPT: Final = 10_000


_CONDITION_NEEDS: Final = (
    "wait_until's condition is tried on the agent after each of its steps, within the"
    " runtime: it must be a plain function (def, lambda) returning true or false, not an"
    " async def, whose coroutine would count as true"
)


def _check_condition(condition: object) -> None:
    if not callable(condition):
        raise TypeError(f"condition must be a function of the agent, not {condition!r:.60}")
    if handler_kind(condition) in ("async", "async generator", "generator"):
        raise TypeError(_CONDITION_NEEDS)


@final
class AsyncRuntime:
    """Runs agents on asyncio, with real time. Many runtimes may coexist: no globals.

    Use it as an async context manager (shutdown on exit), or call :meth:`shutdown`.

    A runtime is bound to the event loop it first runs agents (or storage) on, and is not
    thread-safe: its methods that act (``start``, ``cast``, ``cast_nowait``, ``call``,
    ``wait_until``, ``wait_idle``, ``stop``, ``hibernate``, ``thaw``, ``restore``,
    ``shutdown``) refuse to be called from another thread or on another loop with a
    ``RuntimeError`` saying so (``cast`` and ``cast_nowait``, kept cheap, look at the
    thread, and at the loop once the first one was torn down). From another thread, hand
    the call to its loop (``loop.call_soon_threadsafe(rt.cast_nowait, ...)``,
    ``asyncio.run_coroutine_threadsafe(rt.call(...), loop)``); under a new loop (a second
    ``asyncio.run``), create a new runtime.

    Args:
        specs: the specs agents may run (``start`` and ``SpawnAgent`` find them by name).
        effects: async effect handlers by name: ``async def`` functions (or partials of
            them, or objects whose ``__call__`` is one).
        sinks: sink names (collected, see :meth:`sink`) or sink functions by name (plain
            functions, called within the step).
        sensors: async sensors by name: ``config -> async iterator of (type, data)``, async
            generator functions (``async def`` with ``yield``).
        directives: handlers for user-defined directives, by class (plain functions,
            ``(agent_id, directive) -> signals``; drafts among them are stamped as on
            every runtime, see ``docs/concepts.md``).
        options: :class:`AgentOptions` by spec name, each the name of one of ``specs`` (a
            spec only passed to :meth:`start` takes ``default_options``);
            ``default_options`` for the rest.
        record: keep a trace of every step (as SyncRuntime does), for tests and review.
        clock: the wall clock for signal times and cron (injectable for tests).
        storage: makes agents durable (see :meth:`restore`); ``None``: in memory only.
        snapshot_every: with storage, snapshot an agent after this many journalled steps.
        snapshot_at_shutdown: with storage, snapshot every running agent that handled
            journal entries since its last snapshot when :meth:`shutdown` stops it, so a
            restore after a graceful shutdown replays none of what it had handled (not
            through code deployed since, either: see docs/runtime.md, "Deploying new code").
            ``False`` leaves the journal's tail to replay, as a crash does.
        upgrade: with storage, brings a stored state of an older ``schema_version`` up to
            date on recovery: ``upgrade(spec_name, stored_version, raw) -> raw``, ``raw``
            the stored agent as JSON data (``state``, ``slices``, ``version``...), returned
            as the current version has it (a dict too: anything else is a
            ``SchemaMismatch``); raise to refuse (a ``SchemaMismatch``, its cause what was
            raised).
        codec: with storage, the codec for what is stored (one that knows any custom
            directives).
        tracer_provider: OpenTelemetry's; the global one if ``None`` (or the API's proxy
            provider, which follows the global one).

    Raises:
        ValueError: ``snapshot_every`` is not an integer >= 1, two specs share a name, or
            ``options`` names no spec of ``specs`` (a typo, which would leave the spec it
            meant under ``default_options``).
        TypeError: ``snapshot_at_shutdown`` is not a bool; an option is not an
            :class:`AgentOptions`; a handler is not callable, or
            of the wrong kind (a plain function as an effect handler or sensor, an async
            one as a sink or directive handler), named in the message.

    Attributes:
        dead_letters: ``(agent_id, signal)`` of the latest signals that will not be handled
            (their agent was gone), up to 10,000; older ones are dropped
            from it (logged once), and ``statistics().dead_letters`` counts them all.
            A reader may empty it as it goes (``rt.dead_letters.clear()``): a long-running
            process that hands them on keeps none twice and drops none.
        problems: the latest directives that could not be executed (up to 1,000).
        trace: with ``record``, every step (a tuple, as SyncRuntime's).

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
        snapshot_at_shutdown: bool = True,
        tracer_provider: trace.TracerProvider | None = None,
        upgrade: Upgrade | None = None,
        codec: Codec | None = None,
    ) -> None:
        if isinstance(snapshot_every, bool) or not isinstance(snapshot_every, int):
            raise ValueError(f"snapshot_every must be an integer >= 1, not {snapshot_every!r}")
        if snapshot_every < 1:
            raise ValueError(f"snapshot_every must be an integer >= 1, not {snapshot_every!r}")
        if not isinstance(snapshot_at_shutdown, bool):
            raise TypeError(
                f"snapshot_at_shutdown must be True or False, not {snapshot_at_shutdown!r}"
            )
        # Every agent here is supervised: no ``None`` default (it means "unsupervised" to the
        # runtimes on virtual time, which share the check).
        checked = check_options(options, default_options)
        if not isinstance(default_options, AgentOptions):
            raise TypeError(
                f"options for 'default_options' must be AgentOptions, not {default_options!r}"
            )
        # Checked here, not at the first start or write that would use them.
        given: dict[str, object] = {"clock": clock, "upgrade": upgrade}
        for name, value in given.items():
            if value is not None and not callable(value):
                raise TypeError(f"{name} must be callable, not {value!r}")
        if storage is not None and not isinstance(storage, Storage):
            raise TypeError(
                f"storage must be a Storage (SQLiteStorage, RedisStorage), not {storage!r}"
            )
        if codec is not None and not isinstance(codec, Codec):
            raise TypeError(f"codec must be a jido.serde.Codec, not {codec!r}")
        self._specs: dict[str, AgentSpec[Any]] = specs_by_name(specs)
        check_option_names(checked, self._specs)
        self._effects = async_callables("effect", effects, "async", _EFFECT_NEEDS)
        self._sink_fns: dict[str, SinkFn] = {}
        self._sinks: dict[str, list[Signal]] = {}
        if isinstance(sinks, Mapping):
            self._sink_fns.update(plain_callables("sink", sinks, _SINK_NEEDS))
        else:
            for name in sink_names(sinks):
                collected: list[Signal] = []
                self._sinks[name] = collected
                self._sink_fns[name] = collected.append
        self._sensor_fns = async_callables("sensor", sensors, "async generator", _SENSOR_NEEDS)
        self._directive_handlers = directive_handlers(directives)
        self._options = checked
        self._default_options = default_options
        self._record = record
        self._clock = clock
        self._servers: dict[str, Server] = {}
        self._hibernated: dict[str, Hibernated] = {}
        # Agents storage holds (not stopped) that no restore has brought back yet: what is
        # sent to them is journalled for their recovery, not a dead letter.
        self._dormant: set[str] = set()
        # Agents whose journal holds the only durable record of a link to a child, by how
        # many such links: written and not yet settled, or failed (those stay). Not
        # snapshotted, so that recovery replays the step that made the link, and makes it
        # again (see supervision.link and link_written).
        self._unlinked: dict[str, int] = {}
        self._restoring = 0  # restores under way
        # Restores and thaws under way: the agents each may bring back (``None``: all), and
        # a future resolved when it ends (see durable.recovered).
        self._recoveries: list[tuple[set[str] | None, asyncio.Future[None]]] = []
        # The event loop (and its thread) the runtime first ran agents (or storage) on: it
        # is bound to it, and refuses to be used from another (see _elsewhere).
        self._home: asyncio.AbstractEventLoop | None = None
        self._home_thread = 0
        # What the hot path (cast, cast_nowait) compares the caller's thread with: the home
        # thread's id, or -1 (never a thread's) until the runtime is bound, or once its
        # loop is being torn down (see _loop): the full check (_at_home) decides then.
        self._door = -1
        self._stopped_meanwhile: set[str] = set()  # agents stopped while one was
        # Signals kept for agents while a restore was under way, by agent: (signal, seq).
        self._arriving: dict[str, list[tuple[Signal, int, float]]] = {}
        # Effects of agents that stopped, left to finish (see supervision.stop).
        self._lingering: set[asyncio.Task[None]] = set()
        self._starting: set[str] = set()  # ids whose registration is being written
        self._waiters = Waiters()  # wait_until callers
        self._checked: set[asyncio.Future[Agent[Any]]] = set()  # replies of call(check=True)
        self._closed = False
        self._shut_down = False  # shutdown has finished: storage is released for good
        self._shutting: asyncio.Future[ShutdownReport] | None = None  # its report, once begun
        self._drain_cut: asyncio.Event | None = None  # set: a later shutdown cut the drain
        # Timers shutdown cancelled, over its passes (one cancelled halfway counted some).
        self._timers_cancelled = 0
        self._sparing: set[asyncio.Task[Any] | None] = set()  # effects awaiting the shutdown
        self._dropped_dead = False  # a dead letter was dropped from the full list
        # While shutdown writes what was handed to storage: signals journalled for the agents
        # it stopped, by agent (left for ``restore``, not dead letters).
        self._leftover: dict[str, tuple[object, list[Signal]]] | None = None
        self._seq = 0
        # Salts the ids this runtime makes up (external, system, sensor, cron signals): a
        # durable journal drops the signals (source and id) it holds, so a restarted runtime
        # must not repeat them.
        self._incarnation = uuid.uuid4().hex[:16]
        self._pending = 0  # queued signals + running effects, runtime-wide
        self._idle: asyncio.Event | None = None
        self._t0 = time.perf_counter()
        self._trace: list[TraceEntry] = []
        self._problems: deque[Problem] = deque(maxlen=PROBLEMS_KEPT)
        self.dead_letters: deque[tuple[str, Signal]] = deque(maxlen=DEAD_LETTERS_KEPT)
        self._stats = Counters()
        self._external = 0
        self._spans = Spans(tracer_provider)
        self._storage = storage
        self._snapshot_every = snapshot_every
        self._snapshot_at_shutdown = snapshot_at_shutdown
        self._upgrade = upgrade
        self._codec = codec or Codec()
        self._committer: Committer | None = None

    # ------------------------------------------------------------------ registry

    def _register(self, spec: AgentSpec[Any]) -> AgentSpec[Any]:
        known = self._specs.setdefault(spec.name, spec)
        if known is not spec:
            raise ValueError(f"a different spec is already registered as {spec.name!r}")
        return spec

    def _server(self, agent_id: str) -> Server:
        srv = self._servers.get(agent_id)
        if srv is None or srv.stopped:
            raise UnknownAgent(agent_id)
        return srv

    def _bind(self) -> None:
        """Bind the runtime to the running event loop, if not yet bound: its agents' tasks
        (or its storage's) are about to live there."""
        if self._home is None:
            self._home = asyncio.get_running_loop()
            self._home_thread = self._door = get_ident()

    def _at_home(self, method: str) -> None:
        """Refuse a call of ``method`` from another thread than the runtime's, or on another
        event loop than its own (or once its own has closed), saying what to do instead;
        unless the runtime is not bound to a loop yet (nothing of it runs anywhere) or has
        shut down (the method itself says so). Its own thread with no loop running (between
        ``run_until_complete`` calls) is let through.

        ``cast`` and ``cast_nowait`` call it only when the caller's thread is not
        ``_door``: ``asyncio.get_running_loop`` makes a system call (``getpid``) on every
        call, too dear for them; ``threading.get_ident`` does not.

        Raises:
            RuntimeError: the runtime's loop is another.
        """
        home = self._home
        if home is None or self._shut_down:
            return
        call = f"rt.{method}(...)"
        hand = (
            f"asyncio.run_coroutine_threadsafe({call}, loop)"
            if method != "cast_nowait"
            else f"loop.call_soon_threadsafe(rt.{method}, ...)"
        )
        if home.is_closed():
            raise RuntimeError(
                f"AsyncRuntime.{method}: the event loop this runtime ran its agents on has"
                " closed (the asyncio.run it ran under ended), and their tasks ended with"
                " it; a runtime is bound to the loop it first ran agents on: shut this one"
                " down (which lets its store go), then create a new AsyncRuntime under this"
                " loop and restore its agents from storage"
            )
        if get_ident() != self._home_thread:
            raise RuntimeError(
                f"AsyncRuntime.{method} was called from another thread than its event"
                " loop's; a runtime is not thread-safe, and is bound to the loop it first ran"
                f" agents on: hand the call to that loop with {hand}"
            )
        running = _get_running_loop()
        if running is None or running is home:
            return  # its own loop, or its thread between runs of it
        raise RuntimeError(
            f"AsyncRuntime.{method} was called on another event loop than the one it first"
            " ran agents on, to which a runtime is bound: call it from a coroutine on that"
            f" loop (from elsewhere, with {hand}), or create a runtime for this loop"
        )

    def _closing(self, what: str) -> RuntimeClosed:
        """:class:`RuntimeClosed` naming the shutdown's phase, then ``what`` is refused."""
        phase = "has shut down" if self._shut_down else "is shutting down"
        return RuntimeClosed(f"the runtime {phase}; {what}")

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
        # Never below zero: shutdown settles the count at once, and the effects it cancels
        # report their end afterwards.
        self._pending = max(0, self._pending - n)
        if self._pending == 0 and self._idle is not None:
            self._idle.set()

    # ------------------------------------------------------------------ public API

    def _given(self, signal: Signal | str, data: object) -> Signal:
        """:func:`given_signal` with the usual cases first (a type; a signal, no data, no
        draft, nothing that passes for the runtime's own), which need none of its work."""
        if type(signal) is str and not signal.startswith(RESERVED_TYPES):
            return self.signal(signal, data)
        if (
            type(signal) is Signal
            and data is None
            and signal.id != DRAFT_ID
            and not signal.type.startswith(RESERVED_TYPES)
            and not signal.source.startswith(RUNTIME_SOURCES)
        ):
            return signal
        return given_signal(signal, data, self.signal)

    def signal(self, type: str, data: object = None, **fields: Any) -> Signal:
        """A signal from outside with a fresh id (``ext-<runtime>-<n>``) and the current time.

        With tracing on, it carries the caller's current span (an HTTP request's, say), so
        the steps it causes are part of that trace.
        """
        self._external += 1
        sig = Signal(
            type=type,
            source="jido://runtime",
            id=f"ext-{self._incarnation}-{self._external}",
            time=self._clock(),
            data=data,
            **fields,
        )
        return self._spans.carry(sig) if self._spans.enabled else sig

    @overload
    async def start(
        self, spec: AgentSpec[S], id: str, state: S | Mapping[str, Any] | None = None
    ) -> Agent[S]: ...
    @overload
    async def start(self, spec: str, id: str, state: object = None) -> Agent[Any]: ...
    async def start(self, spec: AgentSpec[Any] | str, id: str, state: object = None) -> Agent[Any]:
        """Start an agent and its declared schedules; returns the new agent (given the spec
        itself, not its name, typed as an agent of the spec's state class).

        With storage, the agent is registered (durably) before it starts, so it is recovered
        even if it never handles a signal.

        Raises:
            RuntimeClosed: the runtime is shutting down, or has shut down (the message
                says which).
            ValueError: an agent with this id is running, or the id is empty or holds a lone
                surrogate.
            AgentExists: storage holds an agent with this id that has not stopped (a
                ``ValueError``): ``restore`` it, or use another id.
            LookupError: ``spec`` names no registered spec.
            TypeError: ``id`` is not a string, or ``state`` does not fit the spec's
                state class.
            NotDurable: storage failed to register it (it was not started), or to write its
                start snapshot (it was stopped again at once); the store's error is its
                cause (``StorageInUse`` for a store another runtime holds).
            RuntimeError: called from another thread, or on another event loop, than the
                one the runtime first ran agents on (it is bound to it; see the class).
        """
        self._at_home("start")
        self._spans.refresh()
        s, agent = self._new(spec, id, state)
        if self._storage is None:
            return self._start(s, agent, parent=None, register=False)
        # Reserved while its registration is written: a second start of the same id must
        # not overwrite the registration of the first.
        self._starting.add(id)
        # Pending while it is written: a shutdown drains it, so that a registration it
        # overtakes is marked stopped below while storage is still open.
        self._add_pending()
        try:
            await self._commit().submit("register", self._registration(s, agent, parent=None))
            if self._closed:
                # Shut down meanwhile: the agent never runs, so storage must not hold it
                # as one to recover.
                await self._commit().submit("stopped", id)
                raise RuntimeClosed("the runtime shut down while the agent was registered")
        except (AgentExists, RuntimeClosed):
            raise
        except Exception as exc:
            raise NotDurable(id, None, exc) from exc
        finally:
            self._starting.discard(id)
            self._done_pending()
        written: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._start(s, agent, parent=None, register=False, written=written)
        try:
            await written
        except Exception as exc:
            raise NotDurable(id, None, exc, started=True) from exc
        return agent

    def _new(
        self, spec: AgentSpec[Any] | str, agent_id: str, state: object, *, child: bool = False
    ) -> tuple[AgentSpec[Any], Agent[Any]]:
        """The spec and a new agent for :meth:`_start` (which checks the id again); ``child``:
        spawned by a step (see :meth:`_check_free`)."""
        if isinstance(spec, str):
            s = self._specs.get(spec)
            if s is None:
                raise LookupError(f"no spec named {spec!r} is registered")
        else:
            s = self._register(spec)
        self._check_free(agent_id, child=child)
        return s, s.new(agent_id, state)

    def _in_use(self, agent_id: str) -> bool:
        """Whether an agent runs under this id, hibernates under it, or is being started."""
        existing = self._servers.get(agent_id)
        return (
            (existing is not None and not existing.stopped)
            or agent_id in self._hibernated
            or agent_id in self._starting
        )

    def _check_free(self, agent_id: str, *, child: bool = False) -> None:
        """Raise unless an agent may start under ``agent_id`` now.

        A ``child`` (spawned by a step) still starts during shutdown's drain: its step
        handles a signal the runtime accepted, and a graceful shutdown loses none of that
        work. The child is stopped with the other agents at the end of the drain (with
        storage it is registered, so ``restore`` brings it back with its parent). Only a
        ``start`` from outside is new work, refused once the shutdown began.
        """
        if self._shut_down if child else self._closed:
            raise self._closing("no agent is started")
        if self._in_use(agent_id):
            raise ValueError(f"an agent {agent_id!r} is already running")

    def _registration(
        self, spec: AgentSpec[Any], agent: Agent[Any], *, parent: tuple[str, str] | None
    ) -> AgentRecord:
        return AgentRecord(
            agent_id=agent.id,
            spec=spec.name,
            schema_version=spec.schema_version,
            initial=self._codec.to_json(agent),
            parent_id=None if parent is None else parent[0],
            tag=None if parent is None else parent[1],
        )

    def _start(
        self,
        spec: AgentSpec[Any],
        agent: Agent[Any],
        *,
        parent: tuple[str, str] | None,
        register: bool,
        written: asyncio.Future[None] | None = None,
    ) -> Agent[Any]:
        """Start an agent now. With storage and ``register`` (a spawned child), its
        registration is written first (in order with the journal); if that fails, the error
        is logged and the child stops (its parent gets ``child.exit``): there is no caller
        to tell. With storage, a snapshot of what it armed at start follows (its declared
        schedules' ids and due times are only there); if that fails, the agent stops too,
        and ``written`` (when given) fails with the error."""
        agent_id = agent.id
        self._check_free(agent_id, child=parent is not None)
        self._bind()
        srv = Server(spec, agent, self._options.get(spec.name, self._default_options))
        self._servers[agent_id] = srv
        if parent is not None:
            srv.parent = parent
            self._servers[parent[0]].children[parent[1]] = agent_id
        srv.task = asyncio.get_running_loop().create_task(
            self._loop(agent_id, srv), name=f"jido-agent:{agent_id}"
        )
        if self._storage is None:
            execute(self, srv, None, spec.startup(agent))
            return agent
        if register:
            self._commit().post(
                "register_child",
                self._registration(spec, agent, parent=parent),
                _registered,
                (self, srv),
            )
        execute(self, srv, None, durable.afresh(self, agent, spec.startup(agent)))
        # What it armed at start, with due times and ids, for a recovery before its first
        # snapshot (recomputing them would count the delays from the wrong time, and give
        # the declared schedules their plain ids, not the ones they fired with).
        self._commit().post(
            "snapshot",
            snapshot_record(agent, spec, 0, srv.outbox(), self._codec),
            _snapshotted,
            (self, srv, written),
        )
        return agent

    async def cast(self, agent_id: str, signal: Signal | str, data: object = None) -> Signal:
        """Queue a signal for the agent, waiting while its mailbox is full.

        A hibernated agent is thawed for it (see :meth:`hibernate`): the signal is journalled
        at once (that is its acknowledgement) and handled once the agent is back. An agent
        that a ``restore`` or ``thaw`` under way may bring back is waited for.

        Returns:
            The queued signal.

        Raises:
            UnknownAgent: no such running (or hibernated) agent, or it stopped while the
                cast waited for room (the signal was not queued).
            RuntimeClosed: the runtime is shutting down, or has shut down.
            InvalidSignal: ``signal`` is a draft, or a type that is not valid, or ``data``
                is not JSON data (a ``ValueError``); nothing was sent.
            TypeError: ``data`` is given beside a :class:`~jido.Signal`, which carries its
                own; nothing was sent.
            NotDurable: with storage, the signal could not be journalled (it is not
                handled; the store's error is its cause).
            RuntimeError: called from another thread, or on another event loop, than the
                one the runtime first ran agents on (it is bound to it; see the class).
        """
        if get_ident() != self._door:  # the hot path's check: see _at_home
            self._at_home("cast")
        sig = self._given(signal, data)
        srv = await self._room(agent_id)
        if srv is None:
            # Hibernated: no agent task of its own tells of a loop torn down (see _door).
            self._at_home("cast")
            await durable.journalled(self, agent_id, sig, None)
            return sig
        if self._storage is not None:
            # Acknowledged only once journalled (group commit batches the fsyncs).
            await durable.journalled(self, agent_id, sig, None)
        else:
            srv.mailbox.put_internal((sig, None, None))
            self._add_pending()
        return sig

    def cast_nowait(self, agent_id: str, signal: Signal | str, data: object = None) -> Signal:
        """Queue a signal, or raise :class:`MailboxFull` at once if there is no room.

        A hibernated agent has no mailbox to be full: the signal is journalled and thaws it.
        With storage it returns before the signal is durable (a failed write is logged at
        ERROR on ``jido.runtime``): use :meth:`cast` to be told.

        Raises:
            MailboxFull: the agent's mailbox is full, or casts are waiting for room in it.
            UnknownAgent: no such running (or hibernated) agent; or one that a restore under
                way may bring back (the message says so: :meth:`cast` and :meth:`call` wait
                for it).
            RuntimeClosed: the runtime is shutting down, or has shut down.
            InvalidSignal: ``signal`` is a draft, or a type that is not valid, or ``data``
                is not JSON data (a ``ValueError``); nothing was sent.
            TypeError: ``data`` is given beside a :class:`~jido.Signal`, which carries its
                own; nothing was sent.
            RuntimeError: called from another thread, or on another event loop, than the
                one the runtime first ran agents on (from a thread, use
                ``loop.call_soon_threadsafe``).
        """
        if get_ident() != self._door:  # the hot path's check: see _at_home
            self._at_home("cast_nowait")
        # ``_given`` inline: as a call, it cost a quarter of what this whole method does.
        if type(signal) is str and not signal.startswith(RESERVED_TYPES):
            sig = self.signal(signal, data)
        elif (
            type(signal) is Signal
            and data is None
            and signal.id != DRAFT_ID
            and not signal.type.startswith(RESERVED_TYPES)
            and not signal.source.startswith(RUNTIME_SOURCES)
        ):
            sig = signal
        else:
            sig = given_signal(signal, data, self.signal)
        srv = self._accepting(agent_id)
        if srv is None:
            # Hibernated: no agent task of its own tells of a loop torn down (see _door).
            self._at_home("cast_nowait")
            durable.journal(self, agent_id, sig, None)
            return sig
        if srv.mailbox.crowded():  # full, or senders wait for room before this one
            raise MailboxFull(agent_id, srv.mailbox.maxsize)
        if self._storage is not None:
            # Queued for the next group commit; durable shortly (use ``cast`` to wait for it).
            durable.journal(self, agent_id, sig, None)
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
        timeout: float | None = 5.0,
        check: bool = False,
    ) -> Agent[Any]:
        """Queue a signal and return the agent right after *its* step.

        ``check``: raise :class:`CallRefused` if the step reported problems (``Error``
        directives: no route, bad params, an illegal transition, an action's ``Failure``),
        so that a caller can answer a refusal (an HTTP 400) rather than read the agent.
        Without it, such a step returns the agent as any other (its problems are logged
        and counted). A resend answered without a step (see below) is not checked.

        The reply comes before the step's directives have had any effect (as in Jido): an
        effect it invoked is still running. A hibernated agent is thawed first, and an agent
        that a ``restore`` or ``thaw`` under way may bring back is waited for (within the
        same ``timeout``: a call that ran out meanwhile was not sent).

        With storage, a signal whose ``source`` and ``id`` the agent's journal holds already
        (a resend, say after a ``CallTimeout``) is not handled again: the call returns the
        agent once everything queued before the resend has been handled, so with the first
        one's step (and what followed it) done; that step having crashed raises nothing
        here. A debug record on ``jido.runtime`` notes the resend. A signal from another
        source that shares the id is a signal of its own, and handled. (Without storage
        there is no journal: a resend is handled again.)

        Raises:
            CallRefused: with ``check``, the step reported problems; it was taken (the
                error holds the agent after it).
            CallTimeout: no step within ``timeout`` s, room in a full mailbox included (a
                signal that was queued stays queued; one still waiting for room is not
                sent: its ``queued`` says which).
            ActionCrashed: the step crashed (the agent's error policy has been applied).
            UnknownAgent: no such agent, or it stopped before handling the signal.
            RecoveryError: the agent was hibernated and its stored data cannot be thawed.
            RuntimeClosed: the runtime is shutting down, or has shut down.
            InvalidSignal: ``signal`` is a draft, or a type that is not valid, or ``data``
                is not JSON data (a ``ValueError``); nothing was sent.
            TypeError: ``data`` is given beside a :class:`~jido.Signal`, which carries its
                own; nothing was sent.
            NotDurable: with storage, the signal could not be journalled (it is not
                handled; the store's error is its cause).
            ValueError: ``timeout`` is neither ``None`` (no limit) nor a number of seconds
                >= 0; nothing was sent.
            RuntimeError: called from another thread, or on another event loop, than the
                one the runtime first ran agents on (it is bound to it; see the class).
        """
        loop = asyncio.get_running_loop()  # for the reply's future too
        if loop is not self._home or get_ident() != self._door:
            self._at_home("call")
        check_timeout("timeout", timeout, optional=True)
        sig = self._given(signal, data)
        try:
            srv = self._accepting(agent_id)  # fail fast, before the timeout starts
            back = False
        except UnknownAgent:
            # Unless a restore or thaw under way may bring it back: waited for (in _room),
            # within the timeout.
            if durable.recovering(self, agent_id) is None:
                raise
            srv, back = None, True
        reply: asyncio.Future[Agent[Any]] = loop.create_future()
        # asyncio.timeout, not wait_for: no extra task per call. The timeout covers the whole
        # call, a wait for room in a full mailbox included. On expiry the reply future is
        # cancelled, which the agent's loop sees (it never sets a done future); a signal
        # already queued (or being journalled) stays so and is handled.
        limit = asyncio.timeout(timeout)
        sent = False
        if check:
            self._checked.add(reply)
        try:
            async with limit:
                if back or (srv is not None and srv.mailbox.crowded()):
                    srv = await self._room(agent_id)
                sent = True
                if srv is None or self._storage is not None:
                    await durable.journalled(self, agent_id, sig, reply)
                else:
                    srv.mailbox.put_internal((sig, reply, None))
                    self._add_pending()
                return await reply
        except TimeoutError:
            if limit.expired():
                assert timeout is not None  # no limit never expires
                raise CallTimeout(agent_id, sig.type, timeout, queued=sent) from None
            raise
        finally:
            # Nobody awaits the reply any more (a timeout, or the caller was cancelled while
            # the signal was being journalled): cancelled, the agent's loop leaves it alone
            # rather than set an outcome no one will read.
            if not reply.done():
                reply.cancel()
            if check:
                self._checked.discard(reply)

    async def wait_until(
        self,
        agent_id: str,
        condition: Condition,
        *,
        timeout: float | None = 5.0,
    ) -> Agent[Any]:
        """Wait until the agent's value meets ``condition``, and return that value.

        Event-driven, not polled: ``condition`` is tried on the value now, then after each
        step of the agent, until it returns true. Use it for what ``call`` does not wait
        for, such as the outcome of an effect a step invoked (``lambda a: a.status ==
        "done"``). A hibernated agent is thawed to be looked at, and one that a
        ``restore`` or ``thaw`` under way may bring back is waited for: ``timeout`` bounds
        the whole wait, that included (a thaw given up on goes on).

        Raises:
            WaitTimeout: not met within ``timeout`` seconds (it says where the agent stood,
                or that it was still being thawed).
            UnknownAgent: no such agent, or it stopped before meeting ``condition``.
            RecoveryError: it was hibernated, and its stored data cannot be thawed.
            RuntimeClosed: the runtime has shut down, or shut down meanwhile.
            Exception: whatever ``condition`` raised.
            ValueError: ``timeout`` is neither ``None`` (no limit) nor a number of seconds
                >= 0.
            RuntimeError: called from another thread, or on another event loop, than the
                one the runtime first ran agents on (it is bound to it; see the class).
            TypeError: ``condition`` is not callable, or is an ``async def`` (its coroutine
                would count as true, unawaited).
        """
        self._at_home("wait_until")
        check_timeout("timeout", timeout, optional=True)
        _check_condition(condition)
        if self._shut_down:
            raise self._closing("no agent runs")
        srv: Server | None = None

        def timed_out() -> WaitTimeout:
            assert timeout is not None  # no limit never runs out
            now = self._servers.get(agent_id)
            seen = srv if now is None else now
            if seen is None:
                # Still being thawed (or restored): its value is not in memory yet.
                hib = self._hibernated.get(agent_id)
                parked = 0 if hib is None else len(hib.parked)
                return WaitTimeout(
                    agent_id, timeout, status="hibernated", version=None, queued=parked, effects=0
                )
            agent = seen.agent
            return WaitTimeout(
                agent_id,
                timeout,
                status=agent.status,
                version=agent.version,
                queued=0 if now is None else len(now.mailbox.items),
                effects=0 if now is None else sum(1 for t in now.effects if not t.done()),
            )

        # One limit for the whole wait, a thaw included.
        limit = asyncio.timeout(timeout)
        try:
            async with limit:
                running = self._servers.get(agent_id)
                if (running is None or running.stopped) and (
                    agent_id in self._hibernated or durable.recovering(self, agent_id)
                ):
                    # Thawed to be looked at, or waited for while a restore may bring it
                    # back (a thaw given up on goes on: what waits on it is served).
                    await durable.thaw(self, agent_id)
                srv = self._server(agent_id)
                met: object = condition(srv.agent)
                if inspect.isawaitable(met):
                    # A callable object whose __call__ is an async def (handler_kind cannot
                    # tell from its class): its coroutine, unawaited, would count as true.
                    if inspect.iscoroutine(met):
                        met.close()
                    raise TypeError(_CONDITION_NEEDS)
                if met:
                    return srv.agent
                return await self._waiters.wait(agent_id, condition, None, timed_out)
        except TimeoutError:
            if not limit.expired():
                raise
            raise timed_out() from None

    def _accepting(self, agent_id: str) -> Server | None:
        """The agent's server, or ``None`` for a hibernated agent (journal what is for it:
        that thaws it)."""
        if self._closed:
            raise self._closing("no new signals are accepted")
        if agent_id in self._hibernated:
            return None
        srv = self._servers.get(agent_id)
        if srv is None or srv.stopped:
            if durable.recovering(self, agent_id) is not None:
                raise unknown(
                    agent_id, "it is being restored (await cast or call, which wait for it)"
                )
            raise UnknownAgent(agent_id)
        return srv

    async def _room(self, agent_id: str) -> Server | None:
        """As :meth:`_accepting`, once the agent's mailbox has room. What happened while
        waiting counts: the step that made room may have stopped the agent (its signal
        would be lost in a halted mailbox), or the runtime may have begun to shut down.
        An agent that a restore or thaw under way may bring back is waited for."""
        try:
            srv = self._accepting(agent_id)
        except UnknownAgent:
            if not await durable.recovered(self, agent_id):
                raise  # no restore or thaw under way could bring it back
            srv = self._accepting(agent_id)  # it is back, or it is not coming
        while srv is not None and srv.mailbox.crowded():
            await srv.mailbox.wait_room()  # in turn, behind those that waited first
            now = self._accepting(agent_id)
            if now is srv:
                return srv  # the room is this sender's (others may still wait behind it)
            srv = now
        return srv

    def _in_memory(self, agent_id: str) -> Server:
        if agent_id in self._hibernated:
            raise AgentHibernated(agent_id)
        return self._server(agent_id)

    def agent(self, agent_id: str) -> Agent[Any]:
        """The agent's current value.

        Raises:
            AgentHibernated: it is hibernated (``await thaw(agent_id)`` first).
            UnknownAgent: no such running agent.
        """
        return self._in_memory(agent_id).agent

    def state(self, agent_id: str) -> Any:
        """The agent's current state. Raises as :meth:`agent`."""
        return self._in_memory(agent_id).agent.state

    @property
    def agent_ids(self) -> tuple[str, ...]:
        """The running agents, in start order (hibernated ones are not among them)."""
        return tuple(k for k, s in self._servers.items() if not s.stopped)

    @property
    def hibernated_ids(self) -> tuple[str, ...]:
        """The hibernated agents, in the order they were hibernated."""
        return tuple(self._hibernated)

    def _links(self, agent_id: str) -> tuple[tuple[str, str] | None, dict[str, str]]:
        hib = self._hibernated.get(agent_id)
        if hib is not None:
            return hib.parent, hib.children
        srv = self._server(agent_id)
        return srv.parent, srv.children

    def children(self, agent_id: str) -> Mapping[str, str]:
        """The agent's children, tag to child id (a hibernated agent's too).

        Raises:
            UnknownAgent: no such running or hibernated agent.
        """
        return dict(self._links(agent_id)[1])

    def parent(self, agent_id: str) -> str | None:
        """The agent's parent id, if it has one (a hibernated agent's too).

        Raises:
            UnknownAgent: no such running or hibernated agent.
        """
        link = self._links(agent_id)[0]
        return None if link is None else link[0]

    @property
    def trace(self) -> tuple[TraceEntry, ...]:
        """With ``record``, every step, in order (empty without). A tuple, as SyncRuntime's."""
        return tuple(self._trace)

    @property
    def problems(self) -> tuple[Problem, ...]:
        """Problems executing directives, in order: the latest :data:`PROBLEMS_KEPT`
        (``statistics().problems`` counts them all). A tuple, as SyncRuntime's."""
        return tuple(self._problems)

    def sink(self, name: str) -> tuple[Signal, ...]:
        """What was emitted to a collected sink (one given by name).

        Raises:
            KeyError: no sink was given by that name, or it was given as a function (its
                signals went to the function, and are not collected).
        """
        collected = self._sinks.get(name)
        if collected is None:
            if name in self._sink_fns:
                raise KeyError(
                    f"sink {name!r} was given as a function: its signals went to it, and are"
                    " not collected (give sinks by name to collect them)"
                )
            raise KeyError(f"no sink named {name!r}")
        return tuple(collected)

    async def stop(self, agent_id: str, reason: str = "normal") -> None:
        """Stop an agent: queued signals become dead letters, children follow their
        ``on_parent_death`` policy, the parent gets ``jido.agent.child.exit``.

        A hibernated agent is stopped where it is, without being thawed. With storage, it
        returns once the stop is durable (no recovery brings the agent back).

        Raises:
            UnknownAgent: no such running (or hibernated) agent.
            RuntimeClosed: the runtime has shut down (every agent stopped with it). During
                shutdown's drain an agent may still be stopped.
            TypeError: ``reason`` is not a string (it goes into the parent's ``child.exit``).
            RuntimeError: called from another thread, or on another event loop, than the
                one the runtime first ran agents on (it is bound to it; see the class).
        """
        self._at_home("stop")
        check_reason(reason)
        if self._shut_down:
            raise self._closing("its agents were stopped")
        if agent_id in self._hibernated:
            supervision.stop_hibernated(self, agent_id, reason)
        else:
            supervision.stop(self, self._server(agent_id), reason)
        if self._storage is not None and not self._shut_down:
            await self._commit().submit("barrier", None)

    async def wait_idle(self, timeout: float | None = None) -> None:
        """Wait until no signal is queued and no effect is running (timers may be armed).

        Raises:
            TimeoutError: not idle within ``timeout`` seconds (it says what was still busy).
            ValueError: ``timeout`` is neither ``None`` nor a number of seconds >= 0.
            RuntimeError: called from another thread, or on another event loop, than the
                one the runtime first ran agents on (it is bound to it; see the class).
        """
        self._at_home("wait_idle")
        check_timeout("timeout", timeout, optional=True)
        try:
            await _wait(self._idle_event(), timeout)
        except TimeoutError:
            busy = {
                agent_id: (len(s.mailbox.items) + s.mailbox.incoming, len(s.effects))
                for agent_id, s in self._servers.items()
                if not s.stopped and not s.is_quiet()
            }
            detail = ", ".join(f"{a}: {q} queued, {e} effects" for a, (q, e) in busy.items())
            detail = detail or "writes, or effects of stopped agents"
            raise TimeoutError(f"not idle within {timeout:g} s ({detail})") from None

    def statistics(self) -> RuntimeStatistics:
        """A frozen snapshot of the runtime's counters."""
        return self._stats.snapshot(self._servers.values(), len(self._hibernated), self._lingering)

    async def shutdown(self, deadline: float = 5.0) -> ShutdownReport:
        """Stop accepting signals, drain mailboxes for up to ``deadline`` seconds, then stop
        every agent and report what was left. Timers, cron jobs and sensors are cancelled
        first, so draining converges.

        The drain handles what was accepted as any step is handled: a child a step spawns
        in it starts, and is stopped with the rest when the drain ends (with storage it is
        registered, and ``restore`` brings it back). Only ``start`` from outside, casts and
        calls are refused once the shutdown began.

        Called again while a shutdown is under way (a second Ctrl-C, ``__aexit__`` after a
        cancellation), it cuts that drain to its own ``deadline`` (if sooner) and returns the
        same report; called after one finished, it returns an empty report.

        Raises:
            ValueError: ``deadline`` is no number of seconds >= 0 (nothing is shut down).
            RuntimeError: called from another thread, or on another event loop, than the
                one the runtime first ran agents on (it is bound to it; see the class),
                while that loop still runs. Once it has closed, ``shutdown`` lets the
                store go, so that a runtime under a new loop may restore the agents.
        """
        check_timeout("deadline", deadline)
        if self._home is not None and self._home.is_closed() and not self._shut_down:
            return self._abandon()
        self._at_home("shutdown")
        if self._shutting is not None:
            self._cut_drain(deadline)
            if self._inside_effect():
                # As in the first call: the drain must not wait for the effect calling this,
                # nor cancel it (it would cancel its own shutdown).
                self._done_pending()
                self._sparing.add(asyncio.current_task())
            try:
                return await asyncio.shield(self._shutting)
            except asyncio.CancelledError:
                me = asyncio.current_task()
                if me is not None and me.cancelling():
                    raise  # this caller was cancelled
                # The shutdown under way was cancelled halfway: this call carries it out.
                return await self.shutdown(deadline)
        if self._shut_down:  # a shutdown finished the teardown already
            return ShutdownReport(
                drained=True, left=FrozenMap(), cancelled_effects=0, cancelled_timers=0
            )
        shutting = self._shutting = asyncio.get_running_loop().create_future()
        try:
            report = await self._shutdown(deadline)
        except BaseException as exc:
            # Not finished: the next call runs the teardown again (a cancelled shutdown
            # must not leave a runtime that can never be shut down).
            self._shutting = None
            if isinstance(exc, asyncio.CancelledError):
                shutting.cancel()
            else:
                shutting.set_exception(exc)
                shutting.exception()  # retrieved: a later caller may never come
            raise
        self._shutting = None
        shutting.set_result(report)  # for the calls that came while it ran
        return report

    def _abandon(self) -> ShutdownReport:
        """Shut down a runtime whose event loop has closed (its ``asyncio.run`` ended): its
        agents' tasks ended with the loop and nothing of it can run again, so what is left
        to do is let its store go, for a runtime under another loop to restore the agents.
        What was queued is reported as left (with storage it is journalled: ``restore``
        handles it); writes not yet made were acknowledged to no one, and are dropped."""
        self._closed = self._shut_down = True
        left = {
            agent_id: tuple(item[0] for item in srv.mailbox.items)
            for agent_id, srv in self._servers.items()
            if srv.mailbox.items
        }
        self._servers.clear()
        if self._committer is not None:
            self._committer.abandon()
            self._committer = None
            release = getattr(self._storage, "release", None)
            if release is not None:
                release()
        return ShutdownReport(
            drained=not left, left=FrozenMap(left), cancelled_effects=0, cancelled_timers=0
        )

    def _inside_effect(self) -> bool:
        """Whether the running task is an effect of one of this runtime's agents."""
        me = asyncio.current_task()
        return me in self._lingering or any(me in s.effects for s in self._servers.values())

    def _cut_drain(self, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        if self._drain_cut is not None:
            loop.call_later(max(0.0, deadline), self._drain_cut.set)

    async def _shutdown(self, deadline: float) -> ShutdownReport:
        self._closed = True
        for srv in self._servers.values():
            # Senders waiting for room hear it now, not once the drain has made room.
            srv.mailbox.release_putters(RuntimeClosed("the runtime is shutting down"))
        self._timers_cancelled += sum(s.cancel_timers() for s in self._servers.values())
        self._timers_cancelled += sum(h.cancel_wakeups() for h in self._hibernated.values())
        drained = True
        # Called from inside an effect (an agent's command to shut down): that effect ends
        # only once this returns, so the drain does not wait for it, and it is not cancelled
        # (its own shutdown would be cancelled with it, halfway).
        me = asyncio.current_task()
        if self._inside_effect():
            self._done_pending()
        self._drain_cut = asyncio.Event()
        if not await _drain(self._idle_event(), self._drain_cut, deadline):
            drained = False
        left: dict[str, tuple[Signal, ...]] = {}
        # Signals still being journalled for the agents stopped below are not dead letters:
        # storage holds them and ``restore`` handles them. They are reported as left.
        # (A shutdown cancelled halfway left its own: this one goes on with them.)
        leftover = self._leftover if self._leftover is not None else {}
        for i, srv in self._servers.items():
            if not srv.stopped:
                leftover.setdefault(i, (srv.life, []))
        self._leftover = leftover
        effects = 0
        # Hibernated agents with signals still parked (their thaw did not finish in time):
        # the thaw is cancelled here, before anything below awaits, so it cannot bring an
        # agent back into a runtime being torn down. The signals stay journalled.
        for agent_id, hib in self._hibernated.items():
            leftover.setdefault(agent_id, (hib.life, []))
            if hib.task is not None:
                hib.task.cancel()
            waiting = tuple(sig for sig, _, seq in hib.parked if seq)  # resends are not
            if waiting:
                left[agent_id] = waiting
            for _, reply, _ in hib.parked:
                if reply is not None and not reply.done():
                    reply.set_exception(RuntimeClosed("the runtime shut down"))
        self._hibernated.clear()
        for agent_id, srv in list(self._servers.items()):
            if self._storage is not None and self._snapshot_at_shutdown:
                # What it handled is not replayed on restore (through code deployed since).
                durable.snapshot_at_shutdown(self, srv)
            # Resends queued for their calls only are not left: the first ones are.
            queued = tuple(sig for sig, _, seq in srv.mailbox.items if seq != RESENT)
            if queued:
                left[agent_id] = queued
            running = [
                t for t in srv.effects if not t.done() and t is not me and t not in self._sparing
            ]
            effects += len(running)
            for t in running:
                t.cancel()
            # Armed by steps handled while draining.
            self._timers_cancelled += srv.cancel_timers()
            srv.halt(RuntimeClosed("the runtime shut down"))
        lingering = [
            t for t in self._lingering if not t.done() and t is not me and t not in self._sparing
        ]
        effects += len(lingering)
        for t in lingering:
            t.cancel()
        self._servers.clear()
        self._waiters.fail(None, RuntimeClosed("the runtime shut down"))
        self._pending = 0
        if self._idle is not None:
            self._idle.set()  # nothing is queued or running any more: wait_idle returns
        if self._committer is not None:
            await self._committer.close()
            self._committer = None
            release = getattr(self._storage, "release", None)
            if release is not None:
                # Off the event loop: a store that stalls (a Redis server that does not
                # answer, for as long as its client's timeouts) must not stop every other
                # task of the process meanwhile.
                await asyncio.to_thread(release)
        for agent_id, (_, journalled) in self._leftover.items():
            if journalled:
                left[agent_id] = (*left.get(agent_id, ()), *journalled)
        self._leftover = None
        self._shut_down = True
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
            cancelled_timers=self._timers_cancelled,
        )

    async def __aenter__(self) -> AsyncRuntime:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        """Shut down, draining for :meth:`shutdown`'s default deadline; not draining at all
        when the block is left by a cancellation, ``KeyboardInterrupt`` or ``SystemExit``,
        whose cleanup must be prompt (with storage nothing accepted is lost: what is still
        queued stays journalled for ``restore``)."""
        abrupt = exc_type is not None and not issubclass(exc_type, Exception)
        await self.shutdown(deadline=0.0) if abrupt else await self.shutdown()

    # ------------------------------------------------------------------ durability

    def _commit(self) -> Committer:
        """The storage committer, started on first use (shutdown closes it for good).

        Raises:
            RuntimeClosed: the runtime has shut down: nothing more is written, and the store
                is not claimed again.
        """
        if self._committer is None:
            if self._shut_down:
                raise RuntimeClosed("the runtime has shut down; its storage is released")
            assert self._storage is not None
            self._bind()
            # Two runtimes writing one store would corrupt it: a store that can be claimed
            # is claimed before the first write (and released at shutdown).
            claim = getattr(self._storage, "claim", None)
            if claim is not None:
                claim()
            self._committer = Committer(self._storage)
        return self._committer

    async def hibernate(self, agent_id: str) -> None:
        """Snapshot the agent and take it out of memory; :meth:`thaw` brings it back.

        Hibernation saves memory; it is not a stop (as in Jido). A hibernated agent is not
        among :attr:`agent_ids` (it is among :attr:`hibernated_ids`), and :meth:`agent` /
        :meth:`state` raise :class:`AgentHibernated` for it, but anything addressed to it
        thaws it transparently first: ``cast`` and ``call`` (the signal is journalled at
        once, and handled once the agent is back), emits from other agents, lifecycle
        signals, its own schedules and cron jobs falling due, and what its sensors sense
        (they keep running). It keeps its parent and children; ``stop`` and ``StopChild``
        stop it without thawing it.

        The agent first finishes what it is doing (its queued signals and running effects),
        so that no effect of it is in flight across the hibernation. Hibernating a
        hibernated agent does nothing. A snapshot that storage fails to write is logged,
        not raised: the agent is hibernated all the same, and a thaw replays its journal
        from its previous snapshot.

        Raises:
            ValueError: the runtime has no storage.
            UnknownAgent: no such agent, running or hibernated.
            RuntimeClosed: the runtime is shutting down, or has shut down.
            RuntimeError: called from another thread, or on another event loop, than the
                one the runtime first ran agents on (it is bound to it; see the class).
        """
        self._at_home("hibernate")
        if self._storage is None:
            raise ValueError("hibernate needs a runtime with storage")
        if self._closed:
            raise self._closing("no agent is hibernated")
        await durable.hibernate(self, agent_id)

    async def thaw(self, agent_id: str) -> Agent[Any]:
        """Bring a hibernated (or not yet recovered) agent back from storage; an agent
        running already (thawed meanwhile, say) is returned as it is, and one that a
        ``restore`` or ``thaw`` under way may bring back is waited for (then returned, or
        restored here if that did not bring it back).

        Refused once a shutdown began, as ``restore`` and ``hibernate`` are (a signal
        parked for a hibernated agent still thaws it during the drain, to be handled).

        Raises:
            ValueError: the runtime has no storage.
            RecoveryError: its stored data cannot be used (see :meth:`restore`).
            UnknownAgent: storage holds no such agent, or it has stopped (or it was stopped
                while thawing); the message says which.
            StorageInUse: another runtime holds the store (raised as it is).
            RuntimeClosed: the runtime is shutting down, or has shut down (or began to while
                the agent was thawed).
            RuntimeError: called from another thread, or on another event loop, than the
                one the runtime first ran agents on (it is bound to it; see the class).
        """
        self._at_home("thaw")
        if self._storage is None:
            raise ValueError("thaw needs a runtime with storage")
        if self._closed:
            raise self._closing("no agent is thawed (signals parked for one still thaw it)")
        self._spans.refresh()
        return await durable.thaw(self, agent_id)

    async def restore(self, *, only: Iterable[str] | None = None) -> tuple[str, ...]:
        """Recover every stored agent that is not stopped (or just ``only``) by replay.

        Each agent is its snapshot plus its journal replayed through ``jido.step``; then what
        the replayed steps left outstanding is finished: effects without a recorded outcome
        are re-issued once, timers re-armed for their remaining time, cron jobs re-registered,
        emits re-delivered (receivers drop the signals, by source and id, they already hold),
        missing children spawned, and each parent told once (``child.started``) of each
        child its replayed steps spawned, a notice the crash cut off included.

        A replayed ``Stop`` stops the agent as the live runtime does: the emits and spawns of
        its steps are carried out, then its parent gets ``jido.agent.child.exit`` and its
        children follow their ``on_parent_death``. (Those lifecycle signals have ids derived
        from the stopping signal, so a parent that already got one drops the repeat.) Only
        agents in memory are reached: a parent or child left out of this restore (``only``)
        hears nothing of it. What is sent to an agent storage holds but no restore has
        brought back yet (emits re-delivered here included) is journalled for it, and
        handled when it is recovered.

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
            StorageInUse: another runtime holds the store (raised as it is).
            StorageError: the store cannot be used as it is (a Redis server that may evict
                keys, a damaged SQLite file, another store format).
            RuntimeClosed: the runtime is shutting down, or has shut down (or began to while
                this read storage: then no agent was started).
            RuntimeError: called from another thread, or on another event loop, than the
                one the runtime first ran agents on (it is bound to it; see the class).
            TypeError: ``only`` is a string, not a collection of agent ids.

        A store that cannot be reached or written (a Redis server down or out of memory, a
        read-only file) raises its own exception (``redis.ConnectionError``,
        ``sqlite3.OperationalError``...), and no agent is started.
        """
        self._at_home("restore")
        if self._storage is None:
            raise ValueError("restore needs a runtime with storage")
        if self._closed:
            raise self._closing("no agent is restored")
        self._spans.refresh()
        if isinstance(only, str):
            raise TypeError(
                f"only must be a collection of agent ids, not the string {only!r:.60}"
                " (its characters would be taken for ids)"
            )
        return await durable.restore(self, None if only is None else set(only))

    # ------------------------------------------------------------------ the agent loop

    async def _loop(self, agent_id: str, srv: Server) -> None:
        try:
            handled = 0
            while not srv.stopped:
                sig, reply, seq = await srv.mailbox.get()
                try:
                    if seq is None:  # no storage
                        self._handle(srv, sig, reply)
                    elif sig is srv.notice:
                        # A restart's notice, handled ahead of its place in the journal: it
                        # moves no journal position on (see durable.announce_restart).
                        srv.at = srv.journalled.pop(seq, None)
                        self._handle(srv, sig, reply)
                        durable.notice_handled(self, srv, sig)
                    elif seq:
                        srv.at = srv.journalled.pop(seq, None)
                        self._handle(srv, sig, reply)
                        durable.maybe_snapshot(self, srv, seq)
                    elif reply is not None and not reply.done():  # RESENT: answered, not handled
                        reply.set_result(srv.agent)
                finally:
                    self._done_pending()
                    if srv.quiet:
                        srv.notify_quiet()
                handled += 1
                if handled == _FAIR_SHARE:
                    # ``get`` does not suspend while the mailbox holds signals: an agent with a
                    # backlog (or one that emits to itself) would otherwise keep every other
                    # task — agents, effects, timers, timeouts, shutdown — from running.
                    handled = 0
                    await asyncio.sleep(0)
        except asyncio.CancelledError:
            if not srv.stopped:
                # Cancelled, yet not stopped by the runtime (which marks an agent stopped
                # before it cancels its loop): its event loop is being torn down, as at the
                # end of an asyncio.run. The hot path's door now takes the full check,
                # which refuses the runtime's use once that loop has closed.
                self._door = -1
            raise

    def _handle(self, srv: Server, sig: Signal, reply: asyncio.Future[Agent[Any]] | None) -> None:
        before = srv.agent
        t0 = time.perf_counter()
        span_cm = span = None
        traced = sig
        if self._spans.enabled:
            # The step's span; ``traced`` carries its context to the effects the step starts.
            span_cm, span, traced = self._spans.enter_step(before.id, sig)
        try:
            try:
                # The signal as it was sent (and journalled), not ``traced``: an action sees
                # what a replay of the journal shows it, tracing on or off.
                result = jido.step(srv.spec, before, sig)
            except PASSING:
                raise
            except BaseException as exc:
                # ActionCrashed from an action; anything else came from other user code the
                # core calls (a route guard, a custom strategy): the same policy applies.
                crash = exc if isinstance(exc, ActionCrashed) else _crashed(before.id, sig, exc)
                if span is not None:
                    failed(span, crash)
                supervision.crash(self, srv, sig, crash, in_step=True)
                if reply is not None and not reply.done():
                    reply.set_exception(crash)
                return
            srv.agent = result.agent
            self._stats.steps += 1
            if reply is not None and not reply.done():
                if self._checked and reply in self._checked and (refused := result.problems):
                    reply.set_exception(CallRefused(before.id, sig.type, refused, result.agent))
                else:
                    reply.set_result(result.agent)
            if self._waiters:
                self._waiters.woken(before.id, result.agent)
            directives = result.directives
            if traced is not sig and directives:
                # What the step stamped becomes the step span's child, as it inherited the
                # handled signal's trace context.
                directives = self._spans.retrace(directives, sig, traced)
            problems = execute(self, srv, traced, directives)
            if self._record:
                self._trace.append(
                    TraceEntry(
                        index=len(self._trace),
                        at=time.perf_counter() - self._t0,
                        agent_id=before.id,
                        signal=sig,
                        before=before,
                        after=result.agent,
                        directives=directives,
                        problems=tuple(problems),
                    )
                )
            # Only a step that committed, as ``steps`` counts them: a crashed one is a crash.
            self._stats.latencies.append((time.perf_counter() - t0) * 1e6)
        finally:
            if span_cm is not None:
                span_cm.__exit__(None, None, None)

    # ------------------------------------------------------------------ delivery

    def _deliver(self, agent_id: str, sig: Signal) -> bool:
        """Deliver a signal from inside the runtime (another agent, an effect, a timer, a
        sensor): always accepted, whatever the mailbox bound; journalled first when the
        runtime is durable. Returns ``False`` if the agent is gone (a dead letter)."""
        srv = self._servers.get(agent_id)
        if srv is None and agent_id in self._hibernated:
            # Once committed it is parked, and that thaws the agent.
            durable.journal(self, agent_id, sig, None)
            return True
        if srv is None and agent_id in self._dormant:
            durable.keep(self, agent_id, sig)  # handled when it is recovered
            return True
        if srv is None or srv.stopped:
            self._undelivered(agent_id, sig)
            return False
        if self._storage is not None:
            durable.journal(self, agent_id, sig, None)
        else:
            srv.mailbox.put_internal((sig, None, None))
            self._add_pending()
        return True

    def _undelivered(self, agent_id: str, sig: Signal) -> None:
        """``sig`` found no agent to take it: a dead letter."""
        self._dead(agent_id, sig)
        if self._storage is not None and not self._shut_down:
            # So that no recovery hands it to an agent started under that id later.
            self._commit().post("undelivered", (agent_id, sig.source, sig.id))

    def _system(self, srv: Server, type: str, data: object, cause: str) -> None:
        self._system_to(srv.agent.id, type, data, cause)

    def _system_to(self, agent_id: str, type: str, data: object, cause: str) -> None:
        """Deliver a lifecycle signal made up by the runtime, with a fresh id."""
        self._seq += 1
        # The cause only feeds the id: salted, so a restarted runtime's counter starting at 1
        # again does not repeat an id the journal holds (it would be dropped as a duplicate).
        salted = f"{cause}@{self._incarnation}"
        sig = system_signal(
            type, data, agent_id=agent_id, cause=salted, seq=self._seq, time=self._clock()
        )
        if self._spans.enabled:
            sig = self._spans.carry(sig)  # part of the trace of the step that caused it
        self._deliver(agent_id, sig)

    def _problem(self, problems: list[Problem], problem: Problem, agent_id: str) -> None:
        """Report a directive that could not be executed: to the step's ``problems``, the
        runtime's :attr:`problems` and the log."""
        problems.append(problem)
        self._problems.append(problem)
        self._stats.problems += 1
        log.warning("agent %s: %s", agent_id, problem.message, extra={"jido": {"agent": agent_id}})

    def _dead(self, agent_id: str, sig: Signal) -> None:
        """Record a signal that will not be handled (its agent is gone)."""
        self._stats.dead_letters += 1
        if len(self.dead_letters) == DEAD_LETTERS_KEPT and not self._dropped_dead:
            self._dropped_dead = True  # said once
            log.warning(
                "more than %d dead letters: AsyncRuntime.dead_letters keeps the latest %d"
                " (statistics().dead_letters counts them all)",
                DEAD_LETTERS_KEPT,
                DEAD_LETTERS_KEPT,
                extra={"jido": {"agent": agent_id, "kept": DEAD_LETTERS_KEPT}},
            )
        self.dead_letters.append((agent_id, sig))


async def _drain(idle: asyncio.Event, cut: asyncio.Event, deadline: float) -> bool:
    """Wait for ``idle`` until ``deadline`` seconds pass or ``cut`` is set; whether it was."""
    if idle.is_set():
        return True
    waits = [asyncio.ensure_future(idle.wait()), asyncio.ensure_future(cut.wait())]
    try:
        await asyncio.wait(waits, timeout=max(0.0, deadline), return_when="FIRST_COMPLETED")
    finally:
        for w in waits:
            w.cancel()
    return idle.is_set()


async def _wait(event: asyncio.Event, timeout: float | None) -> None:
    """``event.wait()`` within ``timeout`` seconds; an event already set is no wait at all
    (``asyncio.wait_for`` with a timeout of 0 gives up before looking)."""
    if not event.is_set():
        await asyncio.wait_for(event.wait(), timeout)
