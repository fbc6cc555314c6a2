"""AsyncRuntime's supervision: error policies, and what an agent's stop sets off.

* A bug in user code (an action raising :class:`jido.ActionCrashed`, a failing route guard,
  custom strategy or directive handler) is a crash, and :func:`crash` applies the agent's
  :data:`ErrorPolicy`: carry on, stop it, restart it (re-registering its declared
  schedules; past ``max_restarts`` within ``within`` seconds it escalates), or escalate
  (stop it, telling its parent why). The agent keeps its last good state: the crashed step
  never committed.
* A stop is for good (:func:`stop`, or :func:`stop_hibernated` for an agent out of memory,
  which is stopped where it is). Its queued signals become dead letters, calls waiting on
  them fail with :class:`UnknownAgent`, its effects are cancelled; its parent gets
  ``jido.agent.child.exit`` and its children follow their ``on_parent_death`` (stop with
  it, get ``jido.agent.orphaned``, or carry on). Storage marks it stopped: see
  :func:`_stopped` for the order, which a restore relies on.

Executing directives can stop or crash an agent, and a restart executes directives: this
module and :mod:`._async_directives` call each other, each through the other's module
object, so either may be imported first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, assert_never

from jido import CHILD_EXIT, ORPHANED, Signal

from . import _async_directives as directives
from . import _async_durable as durable
from ._async_server import RESENT, Server
from ._durable import restart_notice, restarted
from ._kernel import UnknownAgent
from ._outcomes import system_signal
from ._policy import crash_message, judge

if TYPE_CHECKING:
    from ._async import AsyncRuntime

__all__ = ["crash", "orphaned", "stop", "stop_hibernated"]

log = logging.getLogger("jido.runtime")


def crash(
    rt: AsyncRuntime, srv: Server, sig: Signal, exc: BaseException, *, in_step: bool = False
) -> bool:
    """Apply the agent's error policy to ``exc``, raised while it handled ``sig`` (or while
    its directives were executed). Returns whether the agent was restarted.

    ``in_step``: the step itself raised, so a recovery replaying ``sig`` meets the same
    crash; a stop it causes is then a stop *by* ``sig`` (see :func:`_stopped`), which
    replay repeats should the process die before storage marks the agent stopped."""
    rt._stats.crashes += 1
    rt._stats.errors += 1
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
    cause = sig if in_step else None
    # With storage: when ``sig`` was journalled, as replay times it, or (a crash outside the
    # step, which replay does not meet) now, on the runtime's clock too. Without: now, on
    # the monotonic clock (no replay to agree with; a wall clock stepped back or ahead
    # would move the window).
    if rt._storage is None:
        at = time.monotonic()
    else:
        at = srv.at if in_step and srv.at is not None else rt._clock().timestamp()
    outcome, reason = judge(policy, exc, srv.restarts, at)
    match outcome:
        case "continued":
            pass
        case "stopped":
            assert reason is not None
            stop(rt, srv, reason, cause)
        case "escalated":
            assert reason is not None
            # Past a Restart's limit too: replay judges the crash against the restarts the
            # snapshot kept and those it replays, and escalates again.
            _escalate(rt, srv, reason, cause)
        case "restarted":
            rt._stats.restarts += 1
            srv.cancel_timers()
            # The restart re-registers the declared schedules; what the agent armed
            # itself (timers, cron jobs, sensors) is gone, so snapshots must forget it too.
            srv.out_schedules.clear()
            srv.out_crons.clear()
            srv.out_sensors.clear()
            directives.execute(rt, srv, None, restarted(srv.spec, srv.agent, sig))
            if not in_step and rt._storage is not None:
                # Replay sees the step, not the handler that raised: only a snapshot
                # taken now (after this step and its notice, see AsyncRuntime._loop)
                # records the restart.
                srv.since_snapshot = rt._snapshot_every
            _announce(rt, srv, sig, exc)
            return True
        case _:
            assert_never(outcome)
    return False


def _announce(rt: AsyncRuntime, srv: Server, sig: Signal, exc: BaseException) -> None:
    """Tell the restarted agent (``jido.agent.restarted``), before anything else it
    handles, so that it may arm again what the restart dropped. Its id derives from the
    crashed signal ``sig`` (see ``_durable.restart_notice``); durable, it is journalled
    first (see ``_async_durable.announce_restart``)."""
    notice = restart_notice(
        srv.agent.id, sig, restarts=len(srv.restarts), reason=crash_message(exc), time=rt._clock()
    )
    if rt._spans.enabled:
        notice = rt._spans.carry(notice)  # part of the trace of the step that crashed
    if rt._storage is None:
        srv.mailbox.put_first((notice, None, None))
        rt._add_pending()
    else:
        durable.announce_restart(rt, srv, notice)


def _escalate(rt: AsyncRuntime, srv: Server, reason: str, cause: Signal | None = None) -> None:
    if srv.parent is None:
        log.error(
            "root agent %s stopped: %s",
            srv.agent.id,
            reason,
            extra={"jido": {"agent": srv.agent.id, "reason": reason}},
        )
    stop(rt, srv, reason, cause)


def stop(
    rt: AsyncRuntime,
    srv: Server,
    reason: str,
    cause: Signal | None = None,
    *,
    keep: Collection[asyncio.Task[None]] = (),
) -> None:
    """Stop a running agent for good. ``cause``: the signal whose step gave the ``Stop``
    directive, if that is what stopped it (see :func:`_stopped`). Its running effects are
    cancelled, except those in ``keep`` (the stopping step's own): they run on, outside the
    agent (a shutdown still cancels them), and their outcomes are dead letters."""
    if srv.stopped:
        return
    agent_id = srv.agent.id
    srv.halt(UnknownAgent(agent_id))
    for sig, _, seq in srv.mailbox.items:
        if seq != RESENT:  # a resend queued for its call is no letter: the first one is
            rt._dead(agent_id, sig)
        rt._done_pending()
    srv.mailbox.items.clear()
    for t in srv.effects:
        if t in keep:
            rt._lingering.add(t)
            t.add_done_callback(rt._lingering.discard)
        else:
            t.cancel()
    parent, children = srv.parent, dict(srv.children)
    srv.children.clear()
    _stopped(rt, agent_id, parent, children, reason, cause)
    # Forgotten once the code stopping it is done with it (a restore still walks its
    # servers): a runtime that starts and stops agents for ever must not keep them all.
    asyncio.get_running_loop().call_soon(_forget, rt, agent_id, srv)


def _forget(rt: AsyncRuntime, agent_id: str, srv: Server) -> None:
    if rt._servers.get(agent_id) is srv:
        del rt._servers[agent_id]


def stop_hibernated(
    rt: AsyncRuntime, agent_id: str, reason: str, cause: Signal | None = None
) -> None:
    """Stop a hibernated agent for good, where it is: no need to thaw it first."""
    hib = rt._hibernated.pop(agent_id)
    if hib.task is not None:
        hib.task.cancel()  # it has not brought the agent back: it would have popped ``hib``
    hib.cancel_wakeups()
    rt._add_pending(hib.released)  # so that each dead letter below settles its own
    hib.released = 0
    for sig, reply, seq in hib.parked:
        if seq:  # not a resend (``RESENT``): parked for its call only, and not pending
            rt._dead(agent_id, sig)
            rt._done_pending()
        if reply is not None and not reply.done():
            reply.set_exception(UnknownAgent(agent_id))
    hib.parked.clear()
    _stopped(rt, agent_id, hib.parent, hib.children, reason, cause)


def _stopped(
    rt: AsyncRuntime,
    agent_id: str,
    parent: tuple[str, str] | None,
    children: Mapping[str, str],
    reason: str,
    cause: Signal | None,
) -> None:
    """What follows an agent's stop: storage marks it stopped, its parent gets
    ``child.exit``, its children follow their ``on_parent_death``.

    A stop by a ``Stop`` or ``StopChild`` directive (``cause`` given: the signal whose
    step gave it) is in a journal, the agent's or its parent's: a restore that replays it
    stops the agent again and does all this again. So its lifecycle signals get ids
    derived from ``cause`` (a repeat is dropped by the receiver's journal), and storage
    marks it stopped only *after* they are submitted: a crash in between leaves an agent
    that recovery stops again, not a parent that is never told. (A child stopped by its
    ``on_parent_death`` shares its parent's ``cause``, and is marked stopped before it.)
    A crash's policy stopping the agent in its step (``StopAgent``, ``Escalate``, a
    ``Restart`` past its limit) is such a stop too: replay meets the crash and judges it
    again. Other stops (``stop``, a crash in a directive handler) are in no journal, so
    storage marks them
    stopped first: a crash then leaves a parent untold rather than an agent that comes
    back after its parent was told it exited; and its children, stored linked to a
    stopped parent, follow their ``on_parent_death`` when they are recovered (see
    ``_async_durable._bereft``).
    """
    if rt._storage is not None and cause is None:
        rt._commit().post("stopped", agent_id)
    rt._dormant.discard(agent_id)
    if rt._restoring:
        rt._stopped_meanwhile.add(agent_id)
    rt._waiters.fail(agent_id, UnknownAgent(agent_id))
    if parent is not None:
        parent_id, tag = parent
        links: dict[str, str] | None = None
        up = rt._servers.get(parent_id)
        if up is not None and not up.stopped:
            links = up.children
        elif parent_id in rt._hibernated:
            links = rt._hibernated[parent_id].children
        if links is not None or parent_id in rt._dormant:
            # A parent storage holds, not restored yet, gets it journalled (see _deliver).
            if links is not None:
                links.pop(tag, None)
            _lifecycle(
                rt,
                agent_id,
                parent_id,
                CHILD_EXIT,
                {"child_id": agent_id, "tag": tag, "reason": reason},
                cause,
            )
    for tag, child_id in sorted(children.items()):
        child = rt._servers.get(child_id)
        if child is not None and not child.stopped:
            child.parent = None
            policy = child.options.on_parent_death
        elif (child_hib := rt._hibernated.get(child_id)) is not None:
            child_hib.parent = None
            policy = child_hib.options.on_parent_death
        else:
            continue
        match policy:
            case "stop":
                why = f"parent {agent_id} stopped"
                if child is not None and not child.stopped:
                    stop(rt, child, why, cause)
                else:
                    stop_hibernated(rt, child_id, why, cause)
            case "orphan" | "continue":
                # Parentless from now on, in storage too: a recovery must not hand it back
                # to this parent, or to a new agent started under its id. It is unlinked
                # after its notice is journalled: a crash between the two leaves it linked,
                # and the recovery tells it again with the same id, dropped if it was told.
                # A journalled stop (``cause``) is done again by the recovery, ids derived
                # from ``cause``; any other leaves it linked to a parent stored stopped,
                # and ``_bereft`` tells it, with the id :func:`orphaned` gives here.
                if policy == "orphan":
                    data = {"parent_id": agent_id, "tag": tag, "reason": reason}
                    if cause is None and rt._storage is not None:
                        rt._deliver(child_id, orphaned(rt, agent_id, child_id, tag, data))
                    else:
                        _lifecycle(rt, agent_id, child_id, ORPHANED, data, cause)
                if rt._storage is not None:
                    rt._commit().post("parent", (child_id, None, None))
    if rt._storage is not None and cause is not None:
        rt._commit().post("stopped", agent_id)
    log.info("agent %s stopped (%s)", agent_id, reason, extra={"jido": {"agent": agent_id}})


def orphaned(
    rt: AsyncRuntime, parent_id: str, child_id: str, tag: str, data: dict[str, str]
) -> Signal:
    """The ``jido.agent.orphaned`` a durable child gets from a stop of its parent that is in
    no journal, live or (``_async_durable._bereft``) on recovery: its id derives from the
    parent and tag, so the child's journal holds one. (A child orphaned so a second time by
    the same parent id under the same tag, in this life or a later one, is not told: its
    journal keeps the id. Telling it would need an id storage gives each life of the
    parent.)"""
    return system_signal(
        ORPHANED,
        data,
        agent_id=child_id,
        cause=f"orphaned:{len(parent_id)}:{parent_id}{tag}",
        seq=0,
        time=rt._clock(),
    )


def _lifecycle(
    rt: AsyncRuntime, source: str, target: str, type: str, data: object, cause: Signal | None
) -> None:
    """A lifecycle signal about ``source`` to ``target`` (running or hibernated)."""
    if cause is None:
        rt._system_to(target, type, data, source)
        return
    sig = system_signal(
        type,
        data,
        agent_id=target,
        cause=f"{source}:{cause.id}",
        seq=0,
        time=rt._clock(),
    )
    rt._deliver(target, sig)


def link(rt: AsyncRuntime, child_id: str, parent_id: str, tag: str) -> None:
    """Write a child's link to its parent. Until the write settles the parent counts as
    unlinked (not snapshotted: a snapshot taken meanwhile, the one after the very step
    that made the link included, would stand in for that step should the write fail)."""
    rt._unlinked[parent_id] = rt._unlinked.get(parent_id, 0) + 1
    rt._commit().post("parent", (child_id, parent_id, tag), link_written, (rt, parent_id))


def link_written(ctx: tuple[AsyncRuntime, str], _: object, exc: BaseException | None) -> None:
    """After storage wrote (or failed to write) a child's link to ``ctx[1]``, its parent:
    a failed write leaves the parent's journal, the step that made the link, as the only
    durable record of it, so the parent stays unsnapshotted (a snapshot would stand in for
    that step, and a recovery would not make the link again)."""
    rt, parent_id = ctx
    if exc is None:
        left = rt._unlinked.get(parent_id, 0) - 1
        if left > 0:
            rt._unlinked[parent_id] = left
        else:
            rt._unlinked.pop(parent_id, None)
        return
    log.error(
        "storage parent failed: %s; agent %s is not snapshotted any more, so that"
        " recovery makes the link again",
        exc,
        parent_id,
        extra={"jido": {"agent": parent_id, "operation": "parent"}},
    )
