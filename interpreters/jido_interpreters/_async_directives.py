"""How AsyncRuntime executes the directives a step returns.

* Execution is synchronous, inside the agent's step: nothing awaits, so no other step can
  interleave. What takes time is started, not waited for: effects and sensors run as tasks,
  schedules and cron jobs as loop timers, and everything they produce comes back to the
  agent as a signal.
* Effects (``Invoke``) run concurrently, outside the agent's loop: a slow effect never
  blocks the agent's mailbox or a ``call``. The outcomes of the effects one step invoked
  are delivered in the order of its ``Invoke`` directives (each as soon as it and those
  before it have finished): each effect's task waits for the previous one's.
* A directive that cannot be executed (no such effect handler, sink, sensor or child, an
  unknown timezone, a spawn whose id is taken, ...) is a :class:`jido.Problem`, reported
  and logged; the other directives still run. A refused spawn also answers the parent with
  ``jido.agent.child.exit``, which it may be waiting for. ``Stop``, ``StopChild`` and a crashing
  custom handler go to :mod:`._async_supervision`.
* A durable runtime also records what a snapshot must remember of each agent (its effects
  in flight, schedules and cron jobs: its outbox).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Literal, assert_never

import attrs
from opentelemetry import trace

import jido
from jido import (
    CHILD_EXIT,
    CHILD_STARTED,
    SENSOR_EXIT,
    AdoptChild,
    Cron,
    CronCancel,
    CustomDirective,
    Directive,
    Emit,
    Error,
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

from . import _async_supervision as supervision
from ._async_errors import RuntimeClosed
from ._async_server import Server
from ._cron import cron_ticks
from ._outcomes import (
    adopted_ancestor,
    directive_problem,
    handler_signals,
    is_ancestor,
    no_handler,
    outcome_signal,
    spawn_refused,
    spawned_id,
    start_failed,
)
from ._policy import PASSING, PASSING_ASYNC, handler_crash
from ._telemetry import cancelled, failed

if TYPE_CHECKING:
    from ._async import AsyncEffectHandler, AsyncRuntime

__all__ = ["after", "announce_child", "cron_signal", "execute", "respawn"]

log = logging.getLogger("jido.runtime")


def execute(
    rt: AsyncRuntime, srv: Server, cause: Signal | None, directives: Iterable[Directive]
) -> list[Problem]:
    """Execute ``directives``, from the step that handled ``cause`` (``None``: from no step,
    e.g. the declared schedules at start), in order; returns the problems met.

    Nothing here awaits: effects and sensors are started as tasks, timers armed. Once the
    agent is stopped (by an earlier directive) the rest are skipped. A directive handler
    that raises is a crash, and the agent's error policy applies.
    """
    problems: list[Problem] = []
    agent_id = srv.agent.id
    chain: asyncio.Task[None] | None = None
    invoked: list[asyncio.Task[None]] = []  # this step's effects (a Stop lets them run)
    for index, d in enumerate(directives):
        if srv.stopped:
            break  # stopped by an earlier directive: the rest are not executed
        try:
            if rt._spans.enabled:
                with rt._spans.directive(agent_id, d) as span:
                    met = len(problems)
                    chain = _execute_one(rt, srv, cause, index, d, chain, invoked, problems)
                    if len(problems) > met:  # it could not be executed: a failed directive
                        failed(span, "; ".join(p.message for p in problems[met:]))
            else:
                chain = _execute_one(rt, srv, cause, index, d, chain, invoked, problems)
        except PASSING:
            raise
        except BaseException as exc:
            # A bug in a user-supplied directive handler: the agent's error policy.
            trigger, crash = handler_crash(agent_id, cause, d, exc)
            if supervision.crash(rt, srv, trigger, crash):
                break  # restarted: the rest of the crashed step is not carried out
    return problems


def _execute_one(
    rt: AsyncRuntime,
    srv: Server,
    cause: Signal | None,
    index: int,
    d: Directive,
    chain: asyncio.Task[None] | None,
    invoked: list[asyncio.Task[None]],
    problems: list[Problem],
) -> asyncio.Task[None] | None:
    agent_id = srv.agent.id
    if isinstance(d, CustomDirective):
        _custom(rt, srv, cause, index, d, problems)
        return chain
    match d:
        case Emit(signal=sig, to=to):
            _emit(rt, srv, sig, to, problems)
        case Invoke():
            chain = _invoke(rt, srv, cause, d, chain, problems)
            invoked.append(chain)
        case Schedule(delay=delay, signal=sig):
            after(rt, srv, delay, sig)
        case Cron():
            _cron(rt, srv, d, problems)
        case CronCancel(job_id=job_id):
            srv.out_crons.pop(job_id, None)
            srv.cron_due.pop(job_id, None)
            h = srv.crons.pop(job_id, None)
            if h is not None:
                h.cancel()
        case SpawnAgent():
            _spawn(rt, srv, d, problems)
        case StopChild(tag=tag, reason=reason):
            child_id = srv.children.get(tag, "")
            child = rt._servers.get(child_id)
            # A stop by the step's signal (``cause``): the parent's journal holds it, and a
            # recovery replaying it stops the child again should storage not have marked
            # it stopped (see supervision._stopped).
            if child is not None and not child.stopped:
                supervision.stop(rt, child, reason, cause)
            elif child_id in rt._hibernated:
                supervision.stop_hibernated(rt, child_id, reason, cause)
            else:
                rt._problem(
                    problems,
                    directive_problem(f"no child tagged {tag!r}", tag=tag),
                    agent_id,
                )
        case AdoptChild():
            _adopt(rt, srv, d, problems)
        case StartSensor():
            _start_sensor(rt, srv, d, problems)
        case StopSensor(tag=tag):
            t = srv.sensors.pop(tag, None)
            srv.out_sensors.pop(tag, None)
            if t is not None:
                t.cancel()
        case Stop(reason=reason):
            # The effects this step invoked before stopping run (their outcomes are dead
            # letters), as on SyncRuntime: "notify, then stop" notifies.
            supervision.stop(rt, srv, reason, cause, keep=invoked)
        case Error(problem=p):
            rt._stats.errors += 1
            log.info("agent %s: %s", agent_id, p.message, extra={"jido": {"agent": agent_id}})
        case _:
            assert_never(d)
    return chain


def _emit(
    rt: AsyncRuntime,
    srv: Server,
    sig: Signal,
    to: ToSelf | ToParent | ToAgent | ToSink,
    problems: list[Problem],
) -> None:
    agent_id = srv.agent.id
    if rt._spans.enabled:
        # What the core stamped carries the step's trace context already; a ready-made
        # signal (an id of its own) gets the current one, unless it has its own.
        sig = rt._spans.carry(sig)
    match to:
        case ToSelf():
            rt._deliver(agent_id, sig)
        case ToParent():
            if srv.parent is None:
                rt._problem(
                    problems,
                    directive_problem(
                        f"agent {agent_id!r} has no parent to emit {sig.type!r} to",
                        signal_type=sig.type,
                    ),
                    agent_id,
                )
            else:
                rt._deliver(srv.parent[0], sig)
        case ToAgent(id=target):
            if not rt._deliver(target, sig):
                rt._problem(
                    problems,
                    directive_problem(
                        f"no running agent {target!r} to emit {sig.type!r} to",
                        agent=target,
                        signal_type=sig.type,
                    ),
                    agent_id,
                )
        case ToSink(name=name):
            fn = rt._sink_fns.get(name)
            if fn is None:
                rt._problem(
                    problems, directive_problem(f"no sink named {name!r}", sink=name), agent_id
                )
            else:
                fn(sig)
        case _:
            assert_never(to)


def _invoke(
    rt: AsyncRuntime,
    srv: Server,
    cause: Signal | None,
    d: Invoke,
    previous: asyncio.Task[None] | None,
    problems: list[Problem],
) -> asyncio.Task[None]:
    handler = rt._effects.get(d.effect)
    if handler is None:
        rt._problem(
            problems,
            Problem.of(ProblemKind.EFFECT, f"no handler for effect {d.effect!r}", effect=d.effect),
            srv.agent.id,
        )
    rt._add_pending()
    if rt._storage is not None:
        srv.out_invokes[d.key] = (d, cause)
    task = asyncio.get_running_loop().create_task(
        _run_effect(rt, srv, d, cause, handler, previous), name=f"jido-effect:{d.effect}"
    )
    srv.effects.add(task)

    def done(t: asyncio.Task[None]) -> None:
        # A callback, not a ``finally``: a task cancelled before it ever ran runs no
        # ``finally``, and the pending count must still come down.
        srv.effects.discard(t)
        rt._done_pending()
        if srv.quiet:
            srv.notify_quiet()

    task.add_done_callback(done)
    return task


async def _run_effect(
    rt: AsyncRuntime,
    srv: Server,
    d: Invoke,
    cause: Signal | None,
    handler: AsyncEffectHandler | None,
    previous: asyncio.Task[None] | None,
) -> None:
    outcome: tuple[Literal["ok"], JsonValue] | tuple[Literal["error"], str, str] | None = None
    span = rt._spans.effect(srv.agent.id, d) if rt._spans.enabled else None
    live: trace.Span | None = None
    error: BaseException | None = None  # what the outcome's error was, if an exception
    ours = False  # the error is the runtime's effect timeout (its cause: our cancellation)
    limit = asyncio.timeout(srv.options.effect_timeout)
    try:
        if span is not None:
            live = span.__enter__()
        if handler is None:
            outcome = ("error", "UnknownEffect", f"no handler for effect {d.effect!r}")
        else:
            async with limit:
                result = await handler(d.args)
            try:
                outcome = ("ok", freeze(result))
            except TypeError as exc:
                error = exc
                outcome = ("error", "InvalidResult", str(exc))
    except TimeoutError as exc:
        # Ours (the effect timeout) or the handler's own; the message tells which.
        error, ours = exc, limit.expired()
        message = (
            f"effect {d.effect!r} took longer than {srv.options.effect_timeout:g}s"
            if ours
            else str(exc)
        )
        outcome = ("error", "TimeoutError", message)
    except asyncio.CancelledError as exc:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise  # the runtime cancelled the effect (shutdown, stop): no outcome
        # The handler's own: something it awaited was cancelled. Its caller is told, as
        # for any other exception, rather than left waiting for an outcome for ever.
        error = exc
        outcome = ("error", "CancelledError", str(exc) or f"effect {d.effect!r} cancelled")
    except PASSING_ASYNC as exc:
        error = exc
        raise
    except BaseException as exc:
        error = exc
        outcome = ("error", type(exc).__name__, str(exc))
    finally:
        # Reached however the effect ended, a cancellation by the runtime included (then
        # with no outcome): the span always ends, and the task ends as it would untraced.
        if span is not None:
            if live is not None:
                if outcome is None:
                    if error is None:
                        cancelled(live, f"effect {d.effect!r} cancelled by the runtime")
                    else:
                        failed(live, error)
                elif outcome[0] == "error":
                    failed(
                        live,
                        error or outcome[2],
                        outcome[2],
                        status=f"{outcome[1]}: {outcome[2]}",
                        with_cause=not ours,
                    )
            span.__exit__(None, None, None)
    assert outcome is not None  # every way out of the ``try`` without one raised
    if previous is not None and not previous.done():
        # Outcomes of one step's effects are delivered in directive order.
        await asyncio.wait([previous])
    srv.out_invokes.pop(d.key, None)
    sig = outcome_signal(d, outcome, cause=cause, time=rt._clock())
    if srv.stopped:
        # Its agent stopped while it ran (it was the stopping step's, see supervision.stop):
        # a dead letter, even if another agent has been started under the id since.
        rt._undelivered(srv.agent.id, sig)
    else:
        rt._deliver(srv.agent.id, sig)


def after(rt: AsyncRuntime, srv: Server, delay: float, sig: Signal) -> None:
    """Arm a timer that delivers ``sig`` (stamped with the time it fires) in ``delay`` s."""
    loop = asyncio.get_running_loop()
    handle: asyncio.TimerHandle

    def fire() -> None:
        srv.timers.discard(handle)
        srv.out_schedules.pop((sig.source, sig.id), None)
        if not srv.stopped:
            rt._deliver(srv.agent.id, attrs.evolve(sig, time=rt._clock()))

    if rt._spans.enabled:
        sig = rt._spans.carry(sig)  # a spawned child's first timers: in its parent's trace
    handle = loop.call_later(delay, fire)
    srv.timers.add(handle)
    if rt._storage is not None:
        srv.out_schedules[sig.source, sig.id] = (rt._clock().timestamp() + delay, sig)


def _cron(rt: AsyncRuntime, srv: Server, d: Cron, problems: list[Problem]) -> None:
    agent_id = srv.agent.id
    found = cron_ticks(d, rt._clock())
    if isinstance(found, Problem):
        rt._problem(problems, found, agent_id)
        return
    times, first = found
    old = srv.crons.pop(d.job_id, None)
    if old is not None:
        old.cancel()
    if rt._storage is not None:
        srv.out_crons[d.job_id] = d
    loop = asyncio.get_running_loop()

    def arm(nxt: datetime | None) -> None:
        srv.cron_due.pop(d.job_id, None)  # armed again: after those armed before
        if nxt is None:  # it will never tick again: the job is over
            srv.crons.pop(d.job_id, None)
            srv.out_crons.pop(d.job_id, None)
            return
        delay = max(0.0, (nxt - rt._clock()).total_seconds())
        handle = loop.call_later(delay, _cron_due, srv, nxt)
        srv.crons[d.job_id] = handle
        srv.cron_due[d.job_id] = (nxt, handle, tick)

    def tick() -> None:
        rt._deliver(agent_id, cron_signal(rt, agent_id, d))
        nxt = times.next()
        now = rt._clock()
        if nxt is not None and nxt <= now:
            # A whole period late or more (the wall clock jumped ahead, the loop was
            # blocked): this one late tick stands for those missed, which are skipped (as
            # on thaw and restore) rather than delivered back to back.
            nxt = times.after(now)
        arm(nxt)

    arm(first)


def _cron_due(srv: Server, at: datetime) -> None:
    """A cron job's timer fired for its tick at ``at``: tick every job of the agent due at
    that instant, in the order they were armed, as SyncRuntime and Simulation do. Each has
    a loop timer of its own, but timers armed at different moments for one instant fire
    in no set order (their delays were worked out from the clock at different times), so
    the first to fire ticks them all and disarms the others."""
    if srv.stopped:
        return
    for job_id, (due, handle, tick) in list(srv.cron_due.items()):
        if due == at and srv.crons.get(job_id) is handle:
            handle.cancel()
            tick()


def cron_signal(rt: AsyncRuntime, agent_id: str, d: Cron) -> Signal:
    """A cron tick's signal. Its id counts ticks runtime-wide, not per registration: a
    job registered again (an agent thawed, restarted) must not repeat the ids of its
    earlier ticks, which the journal would drop as re-deliveries. With tracing on, each
    tick starts a trace of its own (see :meth:`Spans.cron_tick`)."""
    rt._seq += 1
    sig = attrs.evolve(
        d.signal,
        id=derive_id(d.signal.id, agent_id, rt._seq, rt._incarnation),
        time=rt._clock(),
    )
    return rt._spans.cron_tick(agent_id, sig) if rt._spans.enabled else sig


def _spawn(
    rt: AsyncRuntime,
    parent: Server,
    d: SpawnAgent,
    problems: list[Problem],
    *,
    announce: bool = True,
) -> None:
    """Start the child ``d`` asks for, or refuse it: a directive problem, and the parent gets
    ``child.exit`` at once, as on every runtime, so that a parent waiting for the child
    hears that it will not come. An agent that holds the id runs on, untouched.

    A started child is announced to its parent (``child.started``) unless ``announce`` is
    false: a recovery spawning again a child whose parent was told already."""
    parent_id = parent.agent.id
    child_id = spawned_id(parent_id, d)
    # A stored agent no restore has brought back is ``_dormant``: the parent hears what it
    # would had storage refused the child's registration (see ``_registered``).
    refused = spawn_refused(
        d,
        child_id,
        specs=rt._specs,
        in_use=rt._in_use,
        stored=rt._dormant,
        tags=parent.children,
    )
    if refused is None:
        try:
            spec, child = rt._new(d.spec, child_id, jido.thaw(d.state) or None, child=True)
            rt._start(spec, child, parent=(parent_id, d.tag), register=True)
        except (TypeError, ValueError, RuntimeClosed) as exc:
            refused = start_failed(child_id, exc)
        else:
            if announce:
                announce_child(rt, parent, d)
            return
    problem, reason = refused
    rt._problem(problems, problem, parent_id)
    rt._system(
        parent, CHILD_EXIT, {"child_id": child_id, "tag": d.tag, "reason": reason}, parent_id
    )


def announce_child(rt: AsyncRuntime, parent: Server, d: SpawnAgent) -> None:
    """Tell ``parent`` that the child ``d`` asked for started: ``child.started``."""
    child_id = spawned_id(parent.agent.id, d)
    rt._system(
        parent,
        CHILD_STARTED,
        {"child_id": child_id, "tag": d.tag, "spec": d.spec, "meta": d.meta},
        child_id,
    )


def respawn(rt: AsyncRuntime, parent: Server, d: SpawnAgent) -> None:
    """Recovery: spawn again a child whose parent's journal holds its ``child.started``
    but storage no registration (it was lost): the child starts, and its parent, told
    once already, is not told again. A refusal is reported as any spawn's."""
    _spawn(rt, parent, d, [], announce=False)


def _adopt(rt: AsyncRuntime, parent: Server, d: AdoptChild, problems: list[Problem]) -> None:
    parent_id = parent.agent.id
    child = rt._servers.get(d.child_id)
    message: str | None = None
    if d.child_id == parent_id:
        message = "an agent cannot adopt itself"
    elif child is None or child.stopped:
        message = f"no running agent {d.child_id!r} to adopt"
    elif child.parent is not None:
        message = f"agent {d.child_id!r} already has a parent"
    elif is_ancestor(d.child_id, parent_id, partial(parent_of, rt)):
        rt._problem(problems, adopted_ancestor(d.child_id, parent_id), parent_id)
        return
    elif d.tag in parent.children:
        message = f"child tag {d.tag!r} is already in use"
    if message is not None or child is None:
        rt._problem(problems, directive_problem(message or "", child_id=d.child_id), parent_id)
        return
    child.parent = (parent_id, d.tag)
    parent.children[d.tag] = d.child_id
    if rt._storage is not None:
        # Before the snapshot that may follow this step: a recovery from that snapshot does
        # not replay the step, so the registration must say who the parent is.
        supervision.link(rt, d.child_id, parent_id, d.tag)
    announce_adopted(rt, parent, d, child.spec.name)


def announce_adopted(rt: AsyncRuntime, parent: Server, d: AdoptChild, spec: str) -> None:
    """Tell ``parent`` that it adopted the child ``d`` names, of spec ``spec``:
    ``child.started``."""
    rt._system(
        parent,
        CHILD_STARTED,
        {"child_id": d.child_id, "tag": d.tag, "spec": spec, "meta": d.meta},
        d.child_id,
    )


def parent_of(rt: AsyncRuntime, agent_id: str) -> str | None:
    """The parent id of a running or hibernated agent, ``None`` for another (or a root)."""
    srv = rt._servers.get(agent_id)
    hib = rt._hibernated.get(agent_id) if srv is None else None
    link = srv.parent if srv is not None else hib.parent if hib is not None else None
    return None if link is None else link[0]


def _start_sensor(rt: AsyncRuntime, srv: Server, d: StartSensor, problems: list[Problem]) -> None:
    agent_id = srv.agent.id
    fn = rt._sensor_fns.get(d.sensor)
    if fn is None:
        rt._problem(
            problems,
            directive_problem(f"no sensor named {d.sensor!r}", sensor=d.sensor),
            agent_id,
        )
        return
    old = srv.sensors.pop(d.tag, None)
    if old is not None:
        old.cancel()
    if rt._storage is not None:
        srv.out_sensors[d.tag] = d
    rt._seq += 1
    generation = rt._seq

    def failed(exc: BaseException, reason: str) -> None:
        # Its exit signal tells the agent; the log tells the operator, with the traceback.
        log.warning(
            "agent %s: sensor %r (%s) failed: %s",
            agent_id,
            d.tag,
            d.sensor,
            reason,
            exc_info=exc,
            extra={"jido": {"agent": agent_id, "tag": d.tag, "sensor": d.sensor}},
        )

    async def run() -> None:
        reason = "normal"
        n = 0
        try:
            async for type_, data in fn(d.config):
                sig = Signal(
                    type=type_,
                    source=f"jido://sensor/{d.sensor}",
                    id=derive_id(f"sensor:{d.tag}:{generation}", agent_id, n, rt._incarnation),
                    time=rt._clock(),
                    data=data,
                )
                n += 1
                # A sensor is a source from outside: it waits for room as ``cast`` does, so
                # one faster than its agent neither grows the mailbox without bound nor,
                # never suspending, holds the event loop.
                holder = rt._servers.get(agent_id)
                if holder is not None and not holder.stopped and holder.mailbox.crowded():
                    await holder.mailbox.wait_room()
                rt._deliver(agent_id, sig)
        except asyncio.CancelledError as exc:
            me = asyncio.current_task()
            if me is None or me.cancelling():
                return  # StopSensor / the agent stopped: a controlled stop, no exit signal
            # A CancelledError of the sensor's own (a future it awaited was cancelled): it
            # ended, as with any other error.
            reason = f"CancelledError: {exc}"
            failed(exc, reason)
        except PASSING_ASYNC:
            raise
        except BaseException as exc:
            reason = f"{type(exc).__name__}: {exc}"
            failed(exc, reason)
        # The agent's sensors are held by its server, or, while it hibernates, by its
        # stand-in: this task moves with them.
        holder = rt._servers.get(agent_id)
        sensors = holder.sensors if holder is not None and not holder.stopped else None
        if sensors is None and (hib := rt._hibernated.get(agent_id)) is not None:
            sensors = hib.sensors
        if sensors is None or sensors.get(d.tag) is not task:
            return  # the agent stopped, or the sensor was replaced
        del sensors[d.tag]
        if holder is not None and not holder.stopped:
            holder.out_sensors.pop(d.tag, None)
        rt._system_to(
            agent_id,
            SENSOR_EXIT,
            {"tag": d.tag, "sensor": d.sensor, "reason": reason},
            f"sensor:{d.tag}",
        )

    task = asyncio.get_running_loop().create_task(run(), name=f"jido-sensor:{d.tag}")
    srv.sensors[d.tag] = task


def _custom(
    rt: AsyncRuntime,
    srv: Server,
    cause: Signal | None,
    index: int,
    d: CustomDirective,
    problems: list[Problem],
) -> None:
    """Hand ``d``, the ``index``-th directive of the step on ``cause``, to its handler and
    deliver the signals it returns (its drafts stamped as on every runtime)."""
    handler = rt._directive_handlers.get(type(d))
    agent_id = srv.agent.id
    if handler is None:
        rt._problem(problems, no_handler(d), agent_id)
        return
    signals, refused = handler_signals(
        d, handler(agent_id, d), agent_id=agent_id, cause=cause, index=index
    )
    for problem in refused:  # as SyncRuntime: the directive's problems
        rt._problem(problems, problem, srv.agent.id)
    for sig in signals:
        if rt._spans.enabled:
            sig = rt._spans.carry(sig)  # in the step's trace, unless it has its own
        rt._deliver(srv.agent.id, sig)
