"""AsyncRuntime's durability: the journal, snapshots, hibernation and recovery.

All of it applies only to a runtime given a :class:`Storage`; storage operations run on
one thread through the runtime's :class:`Committer` (group commit).

* **Journal first.** Every signal for an agent is journalled before it enters the
  mailbox; ``cast`` and ``call`` are acknowledged once it is durable. Journal writes
  resolve in submission order, so mailbox order is journal order. A signal whose source
  and id the journal already holds (a re-delivery after recovery, or a resend) is not
  handled again; only a ``call`` waiting on it is answered, once what was queued before
  it (the first one included) has been handled.
* **Snapshots.** After every ``snapshot_every`` journalled steps an agent is snapshotted
  with its outbox (effects in flight, armed schedules and cron jobs), so recovery replays
  only the journal's tail.
* **Hibernation** takes an idle agent out of memory, leaving a :class:`Hibernated`
  stand-in that keeps its links. Signals journalled for it are parked, and the first one
  starts its thaw (one task at a time), which restores it and hands it what was parked;
  timers stand in for its own schedules and cron jobs and thaw it when one falls due.
* **Recovery** replays each agent's journal tail through ``jido.step`` on top of its
  snapshot, then finishes what the replayed steps left outstanding: effects re-issued
  once, timers re-armed for their remaining time, cron jobs re-registered, emits
  re-delivered (receivers drop the signals they hold), missing children spawned and
  unannounced ones announced (see ``_children``), a replayed ``Stop`` carried out again.
  Either every wanted agent starts or none does.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

import attrs

from jido import Agent, AgentSpec, Cron, Directive, Schedule, Signal, ToAgent, ToSink

from . import _async_supervision as supervision
from ._async_directives import (
    after,
    announce_adopted,
    announce_child,
    cron_signal,
    execute,
    parent_of,
    respawn,
)
from ._async_errors import NotDurable, RuntimeClosed, unknown
from ._async_server import RESENT, Hibernated, Queued, Server
from ._cron import cron_over
from ._durable import (
    ChildStop,
    Outbox,
    Replayed,
    decode_agent,
    journal_json,
    reconciled,
    replay,
    restart_notice,
    salted,
    snapshot_record,
)
from ._jsonl import loads
from ._kernel import UnknownAgent
from ._options import Escalate, Restart, StopAgent
from ._outcomes import is_ancestor, spawned_id
from ._policy import crash_reason
from ._storage import (
    AgentRecord,
    CorruptJournal,
    JournalEntry,
    RecoveryError,
    SnapshotRecord,
    StorageError,
    UnknownSpec,
    check_sequence,
)

if TYPE_CHECKING:
    from ._async import AsyncRuntime

__all__ = [
    "announce_restart",
    "hibernate",
    "journal",
    "journalled",
    "maybe_snapshot",
    "notice_handled",
    "restore",
    "thaw",
]

log = logging.getLogger("jido.runtime")


def journal(
    rt: AsyncRuntime,
    agent_id: str,
    sig: Signal,
    reply: asyncio.Future[Agent[Any]] | None,
    written: asyncio.Future[None] | None = None,
) -> None:
    """Journal a signal; once durable, it enters the agent's mailbox (or, for a
    hibernated agent, waits for its thaw: see :func:`_park`).

    A failed write is logged, and the signal is not handled: ``written`` fails with
    :class:`NotDurable` and ``reply`` is cancelled (it would never be answered).

    Args:
        reply: a ``call`` waiting for the signal's step.
        written: resolved once the signal is durable (after it was queued), or failed with
            :class:`NotDurable`: for a caller that acknowledges only durable signals.
    """
    rt._add_pending()
    srv = rt._servers.get(agent_id)
    if srv is not None:
        srv.mailbox.incoming += 1
    holder = srv or rt._hibernated.get(agent_id)
    entry = _entry(rt, agent_id, sig)
    rt._commit().post(
        "append",
        entry,
        _appended,
        (rt, srv, agent_id, sig, reply, written, None if holder is None else holder.life, entry[4]),
    )


def afresh(
    rt: AsyncRuntime, agent: Agent[Any], startup: tuple[Directive, ...]
) -> tuple[Directive, ...]:
    """The declared schedules an agent registers at start, with signal ids of this start's
    own: an id started again after a stop must not repeat its earlier life's, which
    storage keeps (and so would drop as re-deliveries). The start's snapshot records them;
    a recovery without it recomputes the plain ones."""
    rt._seq += 1
    return salted(startup, agent.id, f"start@{rt._incarnation}:{rt._seq}")


def _entry(rt: AsyncRuntime, agent_id: str, sig: Signal) -> tuple[str, str, str, str, float]:
    """What ``Storage.append`` journals for ``sig``."""
    return (agent_id, sig.source, sig.id, journal_json(sig, rt._codec), rt._clock().timestamp())


def keep(rt: AsyncRuntime, agent_id: str, sig: Signal) -> None:
    """Journal a signal for an agent storage holds but no restore has brought back (a
    restore of some agents only, or a thaw): its recovery replays it. A failed write is
    logged."""
    rt._add_pending()
    entry = _entry(rt, agent_id, sig)
    rt._commit().post("append", entry, _kept, (rt, agent_id, sig, entry[4]))


def _kept(
    ctx: tuple[AsyncRuntime, str, Signal, float], seq: object, exc: BaseException | None
) -> None:
    rt, agent_id, sig, at = ctx
    rt._done_pending()
    if exc is not None:
        failed = NotDurable(agent_id, sig, exc)
        log.error("%s", failed, extra={"jido": {"agent": agent_id, "signal": sig.id}})
        return
    if not isinstance(seq, int):
        return  # already journalled: a re-delivery
    # Written while a restore of the agent may have read its journal already: that restore
    # would replay up to what it read and never see this entry. So it is handed over here
    # (the agent is back) or there (see _restore), unless the restore read it.
    srv = rt._servers.get(agent_id)
    if srv is not None and not srv.stopped:
        if seq > srv.last_seq:
            rt._add_pending()
            srv.journalled[seq] = at
            srv.mailbox.put_internal((sig, None, seq))
    elif rt._restoring:
        rt._arriving.setdefault(agent_id, []).append((sig, seq, at))


def _appended(
    ctx: tuple[
        AsyncRuntime,
        Server | None,
        str,
        Signal,
        asyncio.Future[Agent[Any]] | None,
        asyncio.Future[None] | None,
        object,
        float,
    ],
    seq: object,
    exc: BaseException | None,
) -> None:
    # One function for every signal, its context a tuple: see Committer.post.
    rt, srv, agent_id, sig, reply, written, life, at = ctx
    failed = None if exc is None else NotDurable(agent_id, sig, exc)
    _committed(rt, agent_id, sig, reply, seq, failed, life, at)
    if srv is not None:
        # Counted on the server it was journalled for (a thaw may have replaced it since).
        srv.mailbox.arrived()
        if srv.quiet:
            srv.notify_quiet()
    if written is not None and not written.done():
        if failed is None:
            written.set_result(None)
        else:
            written.set_exception(failed)


async def journalled(
    rt: AsyncRuntime, agent_id: str, sig: Signal, reply: asyncio.Future[Agent[Any]] | None
) -> None:
    """:func:`journal`, returning once the signal is durable.

    Raises:
        NotDurable: the write failed (the storage's error is its cause).
    """
    written: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    journal(rt, agent_id, sig, reply, written)
    await written


def _committed(
    rt: AsyncRuntime,
    agent_id: str,
    sig: Signal,
    reply: asyncio.Future[Agent[Any]] | None,
    seq: object,
    exc: BaseException | None,
    life: object = None,
    at: float | None = None,
) -> None:
    # Called in the order the batch was submitted: mailbox order is journal order.
    srv = rt._servers.get(agent_id)
    if exc is not None:
        rt._done_pending()
        log.error("%s", exc, extra={"jido": {"agent": agent_id, "signal": sig.id}})
        if reply is not None:
            reply.cancel()  # the caller hears of it through ``written``
        return
    leftover = None if rt._leftover is None else rt._leftover.get(agent_id)
    if leftover is not None and (srv is None or srv.stopped) and life in (None, leftover[0]):
        # Shutdown stopped the agent while this was being written, for the life it stopped:
        # storage holds it (a re-delivery, ``seq`` None, it held already), so ``restore``
        # handles it; shutdown reports it as left, not as a dead letter.
        rt._done_pending()
        if seq is not None:
            leftover[1].append(sig)
        if reply is not None and not reply.done():
            reply.set_exception(RuntimeClosed("the runtime shut down"))
        return
    if life is not None:
        holder = srv or rt._hibernated.get(agent_id)
        if holder is None or holder.life is not life:
            # Accepted for a life of the agent id that has ended since (stopped, then
            # started again): a dead letter, as without storage. (Storage dropped it with
            # that life's journal, which the new registration replaced.)
            rt._done_pending()
            rt._dead(agent_id, sig)
            if reply is not None and not reply.done():
                reply.set_exception(UnknownAgent(agent_id))
            return
    assert seq is None or isinstance(seq, int)
    hib = rt._hibernated.get(agent_id) if srv is None else None
    if seq is None:
        # Its source and id are journalled already (a re-delivery after recovery, or a
        # resend): handled once, not twice. A call waiting on it is answered with the agent
        # after what was queued before it, the first one included if it is still queued
        # (its step may not have come yet): never with a value that lacks it.
        log.debug(
            "agent %s: signal %r from %r is journalled already (a resend or re-delivery); "
            "not handled again",
            agent_id,
            sig.id,
            sig.source,
            extra={"jido": {"agent": agent_id, "signal": sig.id, "source": sig.source}},
        )
        if reply is None or reply.done():
            rt._done_pending()
        elif srv is not None and not srv.stopped:
            srv.mailbox.put_internal((sig, reply, RESENT))  # still pending: its loop answers
        elif hib is not None:
            rt._done_pending()  # as parked signals are not (see _thaw_task)...
            _park(rt, agent_id, hib, (sig, reply, RESENT))  # ...until its thaw queues it
        else:
            rt._done_pending()
            if srv is not None:
                reply.set_result(srv.agent)  # stopped: as it ended
            else:
                reply.set_exception(UnknownAgent(agent_id))
        return
    if hib is not None:
        if at is not None:
            hib.journalled[seq] = at
        _park(rt, agent_id, hib, (sig, reply, seq))  # still pending: handled after thaw
        return
    if srv is None or srv.stopped:
        rt._done_pending()
        rt._dead(agent_id, sig)
        if reply is not None and not reply.done():
            reply.set_exception(UnknownAgent(agent_id))
        return
    if at is not None:
        srv.journalled[seq] = at
    srv.mailbox.put_internal((sig, reply, seq))


def announce_restart(rt: AsyncRuntime, srv: Server, notice: Signal) -> None:
    """Journal a restart's ``notice`` (``jido.agent.restarted``) and make it the first
    thing the agent handles: its mailbox is held until the notice is durable, which then
    goes ahead of what is queued.

    So it is handled before signals journalled ahead of it; replay does the same (it
    handles a notice right after the crash it answers: ``_durable.replay``). Until it is
    handled no snapshot is taken (one taken between the crash and the notice would place
    the notice after it), and the snapshot taken right after it records the journal
    position handled before it, so that replay from there passes the notice over. A failed
    write is logged and the agent goes on untold; a recovery replaying the crash finds no
    notice, and sends it then (see ``_durable.replay``)."""
    agent_id = srv.agent.id
    srv.notice = notice
    srv.mailbox.held = True
    srv.mailbox.incoming += 1
    rt._add_pending()
    entry = _entry(rt, agent_id, notice)
    rt._commit().post("append", entry, _notice_appended, (rt, srv, entry[4]))


def _notice_appended(
    ctx: tuple[AsyncRuntime, Server, float], seq: object, exc: BaseException | None
) -> None:
    rt, srv, at = ctx
    srv.mailbox.arrived()
    notice = srv.notice
    assert notice is not None
    if srv.stopped or not isinstance(seq, int):
        # Stopped meanwhile (the notice is for no one now), the write failed, or the journal
        # holds it already: nothing to handle.
        srv.notice = None
        srv.mailbox.release()
        rt._done_pending()
        if exc is not None:
            log.error(
                "%s", NotDurable(srv.agent.id, notice, exc), extra={"jido": {"agent": srv.agent.id}}
            )
        elif srv.stopped:
            leftover = None if rt._leftover is None else rt._leftover.get(srv.agent.id)
            if leftover is None or leftover[0] is not srv.life:
                rt._dead(srv.agent.id, notice)
            elif seq is not None:
                # Shutdown stopped the agent while the notice was being written: storage
                # holds it and ``restore`` handles it, so it is left, as in ``_committed``.
                leftover[1].append(notice)
        if srv.quiet:
            srv.notify_quiet()
        return
    srv.journalled[seq] = at
    srv.mailbox.put_first((notice, None, seq))


def notice_handled(rt: AsyncRuntime, srv: Server, notice: Signal) -> None:
    """After the step of a restart's ``notice``: snapshot the agent at once, as of the
    journal position handled before the notice (see :func:`announce_restart`); unless that
    step crashed and restarted the agent again, its next notice now on its way."""
    if srv.notice is notice:
        srv.notice = None
        srv.since_snapshot = rt._snapshot_every - 1
        maybe_snapshot(rt, srv, srv.last_seq)


def maybe_snapshot(rt: AsyncRuntime, srv: Server, seq: int) -> None:
    """After the step that handled journal entry ``seq``: snapshot the agent if
    ``snapshot_every`` entries were handled since its last snapshot (but not while a
    restart's notice is on its way: see :func:`announce_restart`)."""
    srv.last_seq = seq
    srv.since_snapshot += 1
    if srv.since_snapshot >= rt._snapshot_every:
        _snapshot(rt, srv)


def snapshot_at_shutdown(rt: AsyncRuntime, srv: Server) -> None:
    """Before shutdown stops a running agent: snapshot it if it handled journal entries
    since its last snapshot (not while a restart's notice is on its way, as above).

    Then a restore after a graceful shutdown replays nothing the agent had handled: only
    what was journalled and not yet handled (reported as left). Code deployed in between
    (an action changed, a route removed, an effect added before another, whose key then
    moves) does not rewrite the agent's history, as replaying that history through it
    would. Only a crash leaves a tail to replay."""
    if srv.since_snapshot:
        _snapshot(rt, srv)


def _outbox(rt: AsyncRuntime, srv: Server) -> Outbox:
    """What a snapshot of ``srv`` records as outstanding, with its restarts within its
    policy's window (on the runtime's clock, as replay reads them)."""
    box = srv.outbox()
    if not srv.restarts:
        return box
    return attrs.evolve(box, restarts=tuple(srv.restarts))


def _snapshot(rt: AsyncRuntime, srv: Server) -> None:
    # Not of a stopped agent, nor while a restart's notice is on its way, nor of one with a
    # child link unwritten (see supervision.link): a snapshot would stand in for steps a
    # recovery must replay.
    if srv.stopped or srv.notice is not None or srv.agent.id in rt._unlinked:
        return
    srv.since_snapshot = 0
    try:
        record = snapshot_record(srv.agent, srv.spec, srv.last_seq, _outbox(rt, srv), rt._codec)
    except Exception as exc:
        # A state the codec cannot write: the journal still holds every signal, so
        # recovery replays it instead. The agent goes on; the next snapshot tries again.
        log.error(
            "agent %s: snapshot failed, recovery will replay its journal: %s",
            srv.agent.id,
            exc,
            extra={"jido": {"agent": srv.agent.id}},
        )
        return
    rt._commit().post("snapshot", record)


async def hibernate(rt: AsyncRuntime, agent_id: str) -> None:
    """:meth:`AsyncRuntime.hibernate`, for a runtime with storage: wait until the agent is
    idle, snapshot it, and swap its server for a :class:`Hibernated` stand-in.

    An agent hibernated already (or by another call while this one waited) is left as it
    is: hibernating is idempotent.

    Raises:
        UnknownAgent: no such running agent (or it stopped while this waited).
    """
    if agent_id in rt._hibernated:
        return
    srv = rt._server(agent_id)
    # Quiet: nothing queued, running or being journalled for it. The rest of the runtime
    # may stay busy (two agents emitting to each other for ever must not keep a third awake).
    while not srv.is_quiet():
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        srv.quiet.append(fut)
        await fut  # fails with UnknownAgent if it stops meanwhile
        if agent_id in rt._hibernated:
            return
        srv = rt._server(agent_id)
    # From here to the halt nothing awaits: the snapshot covers exactly the journal up
    # to ``last_seq``, and whatever is journalled for the agent later is parked. Only the
    # snapshot's encoding can fail, and it comes first: the server is then left as it was.
    record = snapshot_record(srv.agent, srv.spec, srv.last_seq, _outbox(rt, srv), rt._codec)
    # Its sensors keep running (what they sense thaws it): handed over, not cancelled.
    sensors, srv.sensors = srv.sensors, {}
    hib = Hibernated(srv.last_seq, srv.options, srv.parent, dict(srv.children), sensors, srv.life)
    hib.restarts = srv.restarts
    _arm_wakeups(rt, agent_id, hib, srv)
    srv.halt(UnknownAgent(agent_id))
    del rt._servers[agent_id]
    rt._hibernated[agent_id] = hib
    if agent_id in rt._unlinked:
        # A link to a child storage has not (or not yet) written: a snapshot would stand in
        # for the step that made it. Without one, a thaw replays that step and makes it.
        return
    # Should this write fail, nothing is lost: thawing replays the journal up to ``seq``
    # from the previous snapshot. The agent is hibernated all the same, so the failure is
    # logged, not raised (the caller would take it for a hibernation that did not happen).
    try:
        await rt._commit().submit("snapshot", record)
    except Exception as exc:
        log.warning(
            "agent %s hibernated, but its snapshot was not written (%s: %s): a thaw replays"
            " its journal from its previous snapshot",
            agent_id,
            type(exc).__name__,
            exc,
            extra={"jido": {"agent": agent_id, "operation": "snapshot"}},
        )


def _arm_wakeups(rt: AsyncRuntime, agent_id: str, hib: Hibernated, srv: Server) -> None:
    """Timers that stand in for a hibernating agent's own schedules and cron jobs: each
    delivers the signal that falls due, which thaws the agent (the thawed agent arms its
    own timers again). Nothing here fails."""
    loop = asyncio.get_running_loop()
    now = rt._clock()
    loop_now = loop.time()

    def fire(sig: Signal) -> None:
        hib.fired.add((sig.source, sig.id))
        rt._deliver(agent_id, attrs.evolve(sig, time=rt._clock()))

    def tick(job: Cron) -> None:
        rt._deliver(agent_id, cron_signal(rt, agent_id, job))

    for due, sig in srv.out_schedules.values():
        hib.wakeups.append(loop.call_later(max(0.0, due - now.timestamp()), fire, sig))
    for job_id, job in srv.out_crons.items():
        armed = srv.crons.get(job_id)
        if armed is None:
            continue  # over: its last tick came (or a shutdown disarmed it)
        # When the job's own timer would have fired, with the tick it was armed for, rather
        # than a next tick worked out again from the wall clock: a tick due but not yet
        # fired (the clock jumped, or it is due this very moment) still comes, and a job
        # whose last tick that is has no "next" to fail on.
        hib.wakeups.append(loop.call_later(max(0.0, armed.when() - loop_now), tick, job))


def _park(rt: AsyncRuntime, agent_id: str, hib: Hibernated, item: Queued) -> None:
    """Keep a signal journalled for a hibernated agent until it is back; thaw it."""
    hib.parked.append(item)
    if hib.task is None:
        hib.task = asyncio.get_running_loop().create_task(
            _thaw_task(rt, agent_id), name=f"jido-thaw:{agent_id}"
        )


async def _thaw_task(rt: AsyncRuntime, agent_id: str) -> Exception | None:
    """The thaw task of a hibernated agent (one at a time): bring it back, which hands it
    what was parked. Returns why it could not: the agent then stays hibernated, the calls
    waiting on it fail, and what was parked stays parked (it is journalled: the next thaw,
    or a restore after a restart, hands it over; it is not reported as a dead letter)."""
    failure: Exception | None = None
    try:
        await restore(rt, {agent_id}, thawing=agent_id)
    except Exception as exc:  # CancelledError (a stop, the shutdown) is not caught
        failure = exc
    hib = rt._hibernated.get(agent_id)
    if hib is None:
        return None  # back, and handed what was parked
    hib.task = None
    failure = failure or UnknownAgent(agent_id)
    log.error(
        "thawing hibernated agent %s failed: %s",
        agent_id,
        failure,
        extra={"jido": {"agent": agent_id}},
    )
    kept: list[Queued] = []
    for sig, reply, seq in hib.parked:
        if reply is not None and not reply.done():
            reply.set_exception(failure)
        if seq:  # a resend, parked only for its call, is not kept: nobody waits for it now
            kept.append((sig, None, seq))
    hib.parked = kept
    # Not pending while nothing can handle them (the runtime can go idle); counted again
    # when a thaw hands them over.
    rt._done_pending(len(kept) - hib.released)
    hib.released = len(kept)
    return failure


def recovering(rt: AsyncRuntime, agent_id: str) -> asyncio.Future[None] | None:
    """The end of a restore (or thaw) under way that may bring ``agent_id`` back, if any:
    one of every agent, or of some agents among which ``agent_id`` is."""
    for wanted, done in rt._recoveries:
        if wanted is None or agent_id in wanted:
            return done
    return None


async def recovered(rt: AsyncRuntime, agent_id: str) -> bool:
    """Wait until no restore or thaw that may bring ``agent_id`` back is under way (they
    decide whether it runs); whether there was one. Cancelling the caller leaves them be."""
    waited = False
    while (done := recovering(rt, agent_id)) is not None:
        waited = True
        await asyncio.wait([done])
    return waited


async def thaw(rt: AsyncRuntime, agent_id: str) -> Agent[Any]:
    """:meth:`AsyncRuntime.thaw`: a hibernated agent through its thaw task (started here if
    none is under way), a running one as it is (thawed meanwhile, or never hibernated), one
    that a restore or thaw under way may bring back once that is done, any other through a
    restore of just that agent."""
    while True:
        srv = rt._servers.get(agent_id)
        if srv is not None and not srv.stopped:
            return srv.agent
        hib = rt._hibernated.get(agent_id)
        if hib is not None:
            if hib.task is None:
                hib.task = asyncio.get_running_loop().create_task(
                    _thaw_task(rt, agent_id), name=f"jido-thaw:{agent_id}"
                )
            task = hib.task
            await asyncio.wait([task])
            if task.cancelled():
                if rt._closed:
                    raise RuntimeClosed("the runtime shut down while the agent was thawed")
                raise unknown(agent_id, "it was stopped while it was thawed")
            failure = task.result()
            if failure is not None:
                raise failure
            continue  # back (unless stopped at once, say by a replayed Stop)
        if not await recovered(rt, agent_id):
            break
        if rt._closed:
            raise RuntimeClosed("the runtime shut down while the agent was restored")
    why: dict[str, str] = {}
    await restore(rt, {agent_id}, why=why)
    srv = rt._servers.get(agent_id)
    if srv is not None and not srv.stopped:
        return srv.agent  # by this restore, or another that read storage later
    raise unknown(agent_id, why.get(agent_id, "it stopped as it was restored"))


async def restore(
    rt: AsyncRuntime,
    wanted: set[str] | None,
    thawing: str | None = None,
    why: dict[str, str] | None = None,
) -> tuple[str, ...]:
    """:meth:`AsyncRuntime.restore`, for the agents in ``wanted`` (all if ``None``);
    ``thawing`` is the hibernated agent whose thaw task this is. ``why`` gets, for each
    agent in ``wanted`` not brought back, why not (when storage says so).

    While it runs, it is among ``rt._recoveries``: a thaw, call or cast of an agent it may
    bring back waits for it (see :func:`recovered`)."""
    # Agents that stop while a restore awaits storage are remembered until no restore is
    # under way: what it read says they had not stopped (see ``dormant`` below).
    rt._restoring += 1
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    entry = (wanted, done)
    rt._recoveries.append(entry)
    try:
        return await _restore(rt, wanted, thawing, why)
    finally:
        rt._recoveries.remove(entry)
        done.set_result(None)
        rt._restoring -= 1
        if not rt._restoring:
            rt._stopped_meanwhile.clear()
            rt._arriving.clear()  # for agents no restore brought back: journalled, waiting


async def _restore(
    rt: AsyncRuntime, wanted: set[str] | None, thawing: str | None, why: dict[str, str] | None
) -> tuple[str, ...]:
    storage = rt._storage
    assert storage is not None
    loop = asyncio.get_running_loop()

    def ours(agent_id: str) -> bool:
        if wanted is not None and agent_id not in wanted:
            return False
        srv = rt._servers.get(agent_id)
        if srv is not None and not srv.stopped:
            return False
        # A hibernated agent being thawed comes back through its thaw task alone.
        hib = rt._hibernated.get(agent_id)
        return hib is None or hib.task is None or agent_id == thawing

    await rt._commit().submit("barrier", None)  # earlier writes are durable now
    records = await loop.run_in_executor(None, storage.agents)
    errors: list[StorageError] = []
    todo: list[AgentRecord] = []
    for r in records:
        if isinstance(r, CorruptJournal):
            if ours(r.agent_id):
                errors.append(r)
        elif not r.stopped and ours(r.agent_id):
            todo.append(r)
    if why is not None and wanted is not None:
        held = {r.agent_id: r for r in records}
        for agent_id in wanted:
            rec = held.get(agent_id)
            if rec is None:
                why[agent_id] = "storage holds no such agent"
            elif isinstance(rec, AgentRecord) and rec.stopped:
                why[agent_id] = "it has stopped"
    plans: list[tuple[AgentRecord, AgentSpec[Any], Replayed, Hibernated | None, bool]] = []
    tails: dict[str, int] = {}  # journal entries replayed since the snapshot, per agent
    for rec in todo:
        spec = rt._specs.get(rec.spec)
        if spec is None:
            errors.append(UnknownSpec(rec.agent_id, rec.spec))
            continue
        hib = rt._hibernated.get(rec.agent_id)
        try:
            snap, entries = await loop.run_in_executor(None, storage.load, rec.agent_id)
            # Checked here too, for stores of one's own: an entry missing is a different agent.
            check_sequence(rec.agent_id, snap, entries)
            if hib is not None:
                # Entries after its last step arrived while it hibernated: they are parked
                # and handled live once it is back, not replayed.
                entries = [e for e in entries if e.seq <= hib.seq]
            plan, upgraded = _replay(rt, rec, spec, snap, entries)
            plans.append((rec, spec, plan, hib, upgraded))
            tails[rec.agent_id] = len(entries)
        except StorageError as exc:
            errors.append(exc)
    if errors:
        raise RecoveryError("recovery failed; no agent was started", errors)
    if rt._closed and thawing is None:
        # Shut down while this restore awaited storage: nothing is started (a thaw still
        # is, during shutdown's drain, to hand a hibernated agent what was parked for it).
        raise RuntimeClosed(
            "the runtime began shutting down during the restore; no agent was started"
        )
    # Other restores, thaws or stops ran while this one awaited storage: start only what
    # is still ours to start (and a hibernated agent only if it is still hibernated).
    plans = [p for p in plans if ours(p[0].agent_id) and rt._hibernated.get(p[0].agent_id) is p[3]]
    stored = {r.agent_id: r for r in records}
    stopped = {r.agent_id for r in records if isinstance(r, AgentRecord) and r.stopped}
    # Stored, not stopped, and neither in memory nor about to be: what is sent to them is
    # journalled for their recovery. (Read before the awaits above: agents another restore
    # brought back since are in memory now, and those stopped since are remembered.)
    rt._dormant = {
        r.agent_id
        for r in records
        if isinstance(r, AgentRecord)
        and not r.stopped
        and r.agent_id not in rt._servers
        and r.agent_id not in rt._hibernated
        and r.agent_id not in rt._stopped_meanwhile
    }.difference(p[0].agent_id for p in plans)
    now = rt._clock().timestamp()
    started: list[tuple[AgentRecord, AgentSpec[Any], Replayed, Hibernated | None, bool]] = []
    for rec, spec, plan, hib, upgraded in plans:
        srv = Server(spec, plan.agent, rt._options.get(spec.name, rt._default_options))
        srv.last_seq = plan.last_seq
        # The replayed tail counts toward the next snapshot: otherwise a runtime restarted
        # more often than every ``snapshot_every`` signals never snapshots again.
        srv.since_snapshot = tails[rec.agent_id]
        srv.restarts.extend(plan.outbox.restarts)
        # Journalled after a restarting crash whose notice was cut off: not handled yet
        # (see _durable.replay), so handled now, after the notice (sent below), in order.
        for position, sig, at in plan.pending:
            rt._add_pending()
            srv.journalled[position] = at
            srv.mailbox.put_internal((sig, None, position))
        if hib is not None:
            del rt._hibernated[rec.agent_id]
            srv.life = hib.life
            srv.restarts = hib.restarts
            srv.journalled.update(hib.journalled)
            # Its sensors kept running: they are its own again (and are not restarted below).
            srv.sensors, hib.sensors = hib.sensors, {}
            hib.cancel_wakeups()  # its own timers are armed again below
            # What arrived while it hibernated, in journal order, ahead of anything later
            # (and before any stop below, which then makes dead letters of it).
            rt._add_pending(hib.released)  # parked through a failed thaw: pending again
            hib.released = 0
            for sig, reply, seq in hib.parked:
                if seq:
                    srv.mailbox.put_internal((sig, reply, seq))
                elif reply is not None and not reply.done():
                    # A resend: its call is answered once what was parked before it (the
                    # first one among them, maybe) has been handled.
                    rt._add_pending()
                    srv.mailbox.put_internal((sig, reply, RESENT))
            hib.parked.clear()
        rt._servers[rec.agent_id] = srv
        # Kept for it while this restore read storage, after what the restore read.
        for sig, seq, at in sorted(rt._arriving.pop(rec.agent_id, ()), key=lambda item: item[1]):
            if seq > plan.last_seq:
                rt._add_pending()
                srv.journalled[seq] = at
                srv.mailbox.put_internal((sig, None, seq))
        if not plan.stopped:
            srv.task = loop.create_task(
                rt._loop(rec.agent_id, srv), name=f"jido-agent:{rec.agent_id}"
            )
        started.append((rec, spec, plan, hib, upgraded))
    bereft: list[tuple[Server, str, str]] = []  # children whose stored parent has stopped
    for rec, _, _, hib, _ in started:
        srv = rt._servers[rec.agent_id]
        if hib is not None:
            # Its links were kept up to date while it hibernated; storage has the old ones.
            srv.parent = hib.parent
            srv.children.update(hib.children)
        elif rec.parent_id is not None and rec.tag is not None and rec.parent_id in stopped:
            bereft.append((srv, rec.parent_id, rec.tag))
        elif rec.parent_id is not None and rec.tag is not None:
            srv.parent = (rec.parent_id, rec.tag)
            parent = rt._servers.get(rec.parent_id)
            if parent is not None and not parent.stopped:
                parent.children[rec.tag] = rec.agent_id
            elif rec.parent_id in rt._hibernated:
                rt._hibernated[rec.parent_id].children[rec.tag] = rec.agent_id
    # A parent brought back (thawed) while its children kept running: link them again.
    back = {rec.agent_id for rec, *_ in started}
    for child_id, child in rt._servers.items():
        if child.parent is not None and child.parent[0] in back and not child.stopped:
            rt._servers[child.parent[0]].children[child.parent[1]] = child_id
    for srv, parent_id, tag in bereft:
        _bereft(rt, srv, parent_id, tag)
    # Children replaced (a StopChild, then a spawn or adoption under its tag): the old one
    # stopped first, as live, so that its tag (and id) is free for the new one.
    for rec, _, plan, _, _ in started:
        _replaced(rt, rt._servers[rec.agent_id], plan)
    # Adoptions whose link the crash kept from storage (see _adopt): made again, and written.
    for rec, _, plan, _, _ in started:
        adopter = rt._servers[rec.agent_id]
        for adopt, announced in zip(plan.adoptions, plan.adopted, strict=True):
            adoptee = rt._servers.get(adopt.child_id)
            if (
                adoptee is not None
                and adoptee is not adopter
                and not adoptee.stopped
                and adoptee.parent is None
                and adopt.tag not in adopter.children
                and not is_ancestor(adopt.child_id, rec.agent_id, partial(parent_of, rt))
            ):
                adoptee.parent = (rec.agent_id, adopt.tag)
                adopter.children[adopt.tag] = adopt.child_id
                supervision.link(rt, adopt.child_id, rec.agent_id, adopt.tag)
            if (
                not announced
                and adoptee is not None
                and not adopter.stopped
                and adopter.children.get(adopt.tag) == adopt.child_id
            ):
                # Linked (now, or in storage), its child.started cut off: told now, once.
                announce_adopted(rt, adopter, adopt, adoptee.spec.name)
    for rec, spec, plan, hib, upgraded in started:
        refused, first = plan.refused
        if refused:
            # Said once per agent: the live steps may have been refused alike (each logged
            # then), or code deployed since refuses what the live code took.
            log.info(
                "agent %s: %d of the journal's steps replayed on recovery were refused,"
                " the first: %s",
                rec.agent_id,
                refused,
                first.message if first is not None else "",
                extra={"jido": {"agent": rec.agent_id}},
            )
        srv = rt._servers[rec.agent_id]
        if srv.stopped:
            continue  # stopped just now with a parent that replayed a Stop
        # Not to sinks (at most once: they left the system), nor to agents that stopped
        # for good: what reached them was handled before their stop, and the rest was a
        # dead letter then already.
        emits = [
            e
            for e in plan.emits
            if not isinstance(e.to, ToSink)
            and not (isinstance(e.to, ToAgent) and e.to.id in stopped)
        ]
        if plan.stopped:
            # As live: what its steps emitted and spawned before the Stop was carried out,
            # then it stopped (effects and timers it had armed were cancelled by the stop).
            execute(rt, srv, None, emits)
            _children(rt, srv, plan, stored)
            _stop_children(rt, srv, plan)
            supervision.stop(rt, srv, plan.stop_reason, cause=plan.stopped_by)
            continue
        outbox = plan.outbox
        if hib is not None and hib.fired:
            # Schedules its wake-ups delivered while it hibernated are parked, not due.
            outbox = attrs.evolve(
                outbox,
                schedules=tuple(
                    (d, s) for d, s in outbox.schedules if (s.source, s.id) not in hib.fired
                ),
            )
        # A job whose last tick came while the agent was away is over: no problem to report.
        clock = rt._clock()
        execute(rt, srv, None, [d for d in outbox.crons if not cron_over(d, clock)])
        for sensor in outbox.sensors:
            if sensor.tag in srv.sensors:
                srv.out_sensors[sensor.tag] = sensor  # ran on while it hibernated
            elif hib is None:
                execute(rt, srv, None, (sensor,))
        for due, sig in outbox.schedules:
            after(rt, srv, max(0.0, due - now), sig)
        # Each step's effects together, so their outcomes arrive in the order of its Invoke
        # directives, as live (the outbox keeps them in step order).
        for cause, group in itertools.groupby(outbox.invokes, key=lambda pair: pair[1]):
            execute(rt, srv, cause, tuple(invoke for invoke, _ in group))
        execute(rt, srv, None, emits)
        _children(rt, srv, plan, stored)
        _stop_children(rt, srv, plan)
        if plan.unannounced is not None and not srv.stopped:
            # A restart whose notice the crash cut off: the agent is told now, first.
            crashed, restarts, reason = plan.unannounced
            notice = restart_notice(
                rec.agent_id, crashed, restarts=restarts, reason=reason, time=rt._clock()
            )
            announce_restart(rt, srv, notice)
        if rt._closed:
            # Thawed during shutdown's drain: armed timers would keep the drain from
            # converging. They stay in the outbox, so snapshots still remember them.
            srv.cancel_timers()
        if upgraded and rec.agent_id not in rt._unlinked and not srv.stopped:
            # Submitted after the emits above were, so journalled after them: a snapshot
            # at ``last_seq`` never skips a re-delivery that was not yet durable. (Not for
            # an agent with a link unwritten: the next recovery upgrades it again.)
            # With what the new spec declares (replay does not say): the next upgrade
            # reconciles its own with these.
            srv.since_snapshot = 0
            box = attrs.evolve(outbox, declared=srv.declared)
            rt._commit().post(
                "snapshot", snapshot_record(srv.agent, spec, srv.last_seq, box, rt._codec)
            )
    return tuple(rec.agent_id for rec, *_ in started if not rt._servers[rec.agent_id].stopped)


def _children(
    rt: AsyncRuntime,
    parent: Server,
    plan: Replayed,
    stored: Mapping[str, AgentRecord | CorruptJournal],
) -> None:
    """Finish the spawns of the replayed steps that no ``child.exit`` answers, so that the
    parent gets exactly one ``child.started`` for each child it spawned.

    Live, a child is registered before its parent's ``child.started`` is journalled, and a
    crash may come between the two, or before either. So a child storage does not hold is
    spawned now (and announced, unless the parent's journal holds its notice already: then
    its registration was lost, not the notice), and one storage holds as this parent's
    child, not stopped, whose notice the journal lacks is announced now. (Storage holding
    the id for another agent is the refusal of a registration the crash kept the parent
    from hearing of; nothing is said.) The notice is journalled as any lifecycle signal,
    so a later recovery finds it and does not announce the child twice.

    A spawn replacing a child its parent stopped (see :func:`_replaced`), unannounced, whose
    id storage holds for an agent stopped (the old child, or the new one stopped just now)
    is spawned afresh: live, the old one was marked stopped before the new one was
    registered.
    """
    parent_id = parent.agent.id
    for d, announced, replacing in zip(plan.spawns, plan.announced, plan.replacing, strict=True):
        child_id = spawned_id(parent_id, d)
        rec = stored.get(child_id)
        old = rt._servers.get(child_id)
        if (
            replacing
            and not announced
            and isinstance(rec, AgentRecord)
            and (rec.stopped or (old is not None and old.stopped))
        ):
            execute(rt, parent, None, (d,))
        elif rec is None:
            if announced:
                respawn(rt, parent, d)
            else:
                execute(rt, parent, None, (d,))
        elif (
            not announced
            and isinstance(rec, AgentRecord)
            and not rec.stopped
            and (rec.parent_id, rec.tag) == (parent_id, d.tag)
        ):
            announce_child(rt, parent, d)


def _bereft(rt: AsyncRuntime, srv: Server, parent_id: str, tag: str) -> None:
    """A child stored linked to a parent storage marks stopped: a stop that is in no
    journal (``stop``, a crash in a directive handler) marks the parent first and then
    deals with each child, and a crash came between. The child follows its
    ``on_parent_death`` now, as it would have: it stops (``parent <id> stopped``), or is
    unlinked, in storage too, and, for ``"orphan"``, told with ``jido.agent.orphaned``,
    whose ``reason`` is ``unknown`` (the parent's was not stored). The notice is journalled
    before the unlink, with the id the live stop gives it (``supervision.orphaned``): a
    crash between the two, here or live, leaves the child linked, and the notice sent again
    is dropped by its journal. So it is told once."""
    if srv.stopped:
        return
    policy = srv.options.on_parent_death
    if policy == "stop":
        supervision.stop(rt, srv, f"parent {parent_id} stopped")
        return
    agent_id = srv.agent.id
    if policy == "orphan":
        data = {"parent_id": parent_id, "tag": tag, "reason": "unknown"}
        rt._deliver(agent_id, supervision.orphaned(rt, parent_id, agent_id, tag, data))
    rt._commit().post("parent", (agent_id, None, None))


def _stop_children(rt: AsyncRuntime, parent: Server, plan: Replayed) -> None:
    """Carry out again the ``StopChild`` directives of the replayed steps that replaced no
    child (see :func:`_replaced` for those) whose child is still linked to ``parent``:
    live, the child is marked stopped in storage only after its parent's ``child.exit``
    (whose id derives from the stopping signal, so a repeat is dropped), and a crash
    before that mark brings it back linked."""
    for stop in plan.stop_children:
        if stop.then is None:
            _stop_child(rt, parent, stop, parent.children.get(stop.directive.tag))


def _replaced(rt: AsyncRuntime, parent: Server, plan: Replayed) -> None:
    """Carry out again the ``StopChild`` directives of the replayed steps that a spawn or
    adoption under their tag followed, before those are finished (see :func:`_children`):
    live, the old child was stopped (its parent's ``child.exit``, then its mark) before
    the new one was registered or linked, and its parent's ``child.started`` journalled.

    With that notice journalled the stop was done. Otherwise the child stopped is the one
    its ``child.exit`` names, if journalled, else the one linked under the tag: the old
    child, still stored running, or (the id reused, ``parent/tag`` by default) maybe the
    new one, registered before the crash, which has handled nothing yet; it is stopped
    and spawned afresh, which comes to the same (its ``child.exit`` has the old stop's id,
    and is dropped). An adoptee linked under the tag already is the new child, not
    stopped. (So a ``StopChild`` that found no child, followed by a spawn of the id under
    its tag cut off before its notice, tells the parent of an exit it was not told live.)
    """
    if parent.stopped:
        return
    for stop in plan.stop_children:
        if stop.then is None or stop.then_told:
            continue
        target = stop.stopped or parent.children.get(stop.directive.tag)
        if target is None or (stop.stopped is None and stop.adopts and target == stop.then):
            continue
        _stop_child(rt, parent, stop, target)


def _stop_child(rt: AsyncRuntime, parent: Server, stop: ChildStop, child_id: str | None) -> None:
    """Stop ``child_id``, as ``stop`` did, if it is still linked to ``parent`` under its
    tag, running or hibernated."""
    if child_id is None:
        return
    d, link = stop.directive, (parent.agent.id, stop.directive.tag)
    child = rt._servers.get(child_id)
    if child is not None and not child.stopped:
        if child.parent == link:
            supervision.stop(rt, child, d.reason, stop.cause)
    elif (hib := rt._hibernated.get(child_id)) is not None and hib.parent == link:
        supervision.stop_hibernated(rt, child_id, d.reason, stop.cause)


def _replay(
    rt: AsyncRuntime,
    rec: AgentRecord,
    spec: AgentSpec[Any],
    snap: SnapshotRecord | None,
    entries: list[JournalEntry],
) -> tuple[Replayed, bool]:
    """Replay an agent; also says whether its stored state was upgraded."""
    codec = rt._codec
    initial: object = None
    if snap is not None:
        # The snapshot stands in for the registration's initial agent (every agent has one
        # from its start on); a registration damaged there still fails loudly.
        try:
            initial = loads(rec.initial)
        except ValueError as exc:
            raise CorruptJournal(
                rec.agent_id, 0, f"its initial agent is not JSON ({exc})"
            ) from None
        stored = snap.schema_version
        agent = decode_agent(
            snap.agent,
            spec,
            snap.schema_version,
            agent_id=rec.agent_id,
            seq=-1,
            codec=codec,
            upgrade=rt._upgrade,
        )
        try:
            outbox = Outbox.from_json(snap.outbox, codec)
        except (ValueError, KeyError, TypeError) as exc:
            raise CorruptJournal(rec.agent_id, -1, f"outbox: {exc}") from None
        if stored != spec.schema_version:
            # Upgraded: the new version's declared schedules, in place of the old one's.
            outbox = reconciled(
                outbox,
                spec.startup(agent),
                rec.agent_id,
                salt=f"upgrade@{snap.seq}:{stored}",
                now=rt._clock().timestamp(),
            )
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
            upgrade=rt._upgrade,
        )
        # The declared schedules were registered at start, not by a step.
        started = spec.startup(agent)
        first = entries[0].at if entries else rt._clock().timestamp()
        outbox = Outbox(
            crons=tuple(d for d in started if isinstance(d, Cron)),
            schedules=tuple(
                (first + d.delay, d.signal) for d in started if isinstance(d, Schedule)
            ),
        )
        start = 0
    policy = rt._options.get(spec.name, rt._default_options).error_policy
    replayed = replay(
        spec,
        agent,
        entries,
        outbox=outbox,
        start_seq=start,
        codec=codec,
        restart=policy if isinstance(policy, Restart) else None,
        stop=partial(crash_reason, policy) if isinstance(policy, StopAgent | Escalate) else None,
    )
    if snap is not None and stored == spec.schema_version:
        # Each journal entry is one step, and a step adds at most one to the version; so
        # does each restart notice the snapshot covers past its position (handled live
        # right after its crash, ahead of what was journalled between). A snapshot further
        # from the start than that allows has a seq too low, and the entries it already
        # holds would be replayed over it again. (Not told of an agent an upgrade
        # rewrote: the hook may have set its version.)
        base = initial.get("version") if isinstance(initial, dict) else None
        steps = agent.version - (base if type(base) is int else 0)
        if steps > snap.seq + replayed.covered:
            raise CorruptJournal(
                rec.agent_id,
                -1,
                f"it holds the agent after {steps} steps, but says it follows entry {snap.seq}",
            )
    # decode_agent raised unless the hook took it from ``stored`` to the spec's version.
    return replayed, stored != spec.schema_version
