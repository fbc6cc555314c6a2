"""What AsyncRuntime keeps per agent: a running agent's server, a hibernated one's stand-in.

Both are plain mutable records owned by one runtime and changed only on its event loop; the
runtime's modules (the loop, directives, supervision, durability) read and write their
fields directly.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final, TypeAlias, final

from jido import Agent, AgentSpec, Cron, Invoke, Signal, StartSensor

from ._durable import Outbox
from ._mailbox import Mailbox
from ._options import AgentOptions

__all__ = ["RESENT", "Hibernated", "Queued", "Server"]


@final
class Server:
    """One running agent (Jido's AgentServer): its value, mailbox, task and links, and what
    it has armed.

    Attributes:
        spec, agent, options: what it runs, its current value, its spec's options.
        mailbox: signals waiting for its loop.
        task: its loop (``None`` for an agent recovered already stopped).
        parent: ``(parent id, tag)``, if it has a parent.
        children: its children, tag to child id.
        timers, crons, sensors: its armed schedules, cron jobs (by job id) and sensors (by
            tag); :meth:`cancel_timers` disarms them all.
        cron_due: each armed cron job's next tick, with the handle armed for it and the
            function that delivers it, by job id in the order they were armed (see
            ``_async_directives._cron``).
        effects: its running effects.
        quiet: futures of callers waiting for it to have nothing queued, running or being
            journalled (see :meth:`notify_quiet`).
        restarts: times of its recent crashes under a ``Restart`` policy, in epoch seconds
            on the runtime's clock, as replay times them (those within its window count
            toward ``max_restarts``).
        stopped: it stopped for good, or was hibernated; its loop has ended or is ending.
        out_invokes, out_schedules, out_crons, out_sensors: what a snapshot must remember (its
            :meth:`outbox`), kept only when the runtime is durable.
        since_snapshot, last_seq: journal entries handled since its last snapshot, and the
            journal position of the last one.
        notice: the ``jido.agent.restarted`` a durable restart is journalling or has
            queued, until it is handled: no snapshot is taken meanwhile (see
            ``_async_durable.announce_restart``).
        journalled: when (epoch seconds on the runtime's clock) each queued journal entry
            was journalled, by position: replay times a crash by it, so the live runtime
            does too (see ``_async_supervision.crash``).
        at: that time for the entry being handled, if known.
    """

    __slots__ = (
        "agent",
        "at",
        "children",
        "cron_due",
        "crons",
        "declared",
        "effects",
        "journalled",
        "last_seq",
        "life",
        "mailbox",
        "notice",
        "options",
        "out_crons",
        "out_invokes",
        "out_schedules",
        "out_sensors",
        "parent",
        "quiet",
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
        # The spec's schedules, stamped for the agent (they depend on its id alone): what a
        # snapshot records as declared, for an upgrade to reconcile (_durable.reconciled).
        self.declared = spec.startup(agent)
        # Which life of the agent id this is: kept through hibernation, new when the id is
        # started again after a stop (a signal accepted for one life is not the next one's).
        self.life = object()
        self.mailbox = Mailbox(options.mailbox_size)
        self.task: asyncio.Task[None] | None = None
        self.parent: tuple[str, str] | None = None
        self.children: dict[str, str] = {}
        self.timers: set[asyncio.TimerHandle] = set()
        self.crons: dict[str, asyncio.TimerHandle] = {}
        self.cron_due: dict[str, tuple[datetime, asyncio.TimerHandle, Callable[[], None]]] = {}
        self.sensors: dict[str, asyncio.Task[None]] = {}
        self.effects: set[asyncio.Task[None]] = set()
        self.quiet: list[asyncio.Future[None]] = []
        self.restarts: deque[float] = deque()
        self.journalled: dict[int, float] = {}
        self.at: float | None = None
        self.stopped = False
        # What a snapshot must remember (kept only when the runtime is durable).
        self.out_invokes: dict[str, tuple[Invoke, Signal | None]] = {}
        # Schedules by their signal's source and id (another source may use the same id).
        self.out_schedules: dict[tuple[str, str], tuple[float, Signal]] = {}
        self.out_crons: dict[str, Cron] = {}
        self.out_sensors: dict[str, StartSensor] = {}
        self.since_snapshot = 0
        self.last_seq = 0
        self.notice: Signal | None = None

    def outbox(self) -> Outbox:
        return Outbox(
            invokes=tuple(self.out_invokes.values()),
            schedules=tuple(self.out_schedules.values()),
            crons=tuple(self.out_crons.values()),
            sensors=tuple(self.out_sensors.values()),
            declared=self.declared,
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
        self.cron_due.clear()
        self.sensors.clear()
        return n

    def is_quiet(self) -> bool:
        """Nothing queued, running or being journalled for it."""
        return not (self.mailbox.items or self.effects or self.mailbox.incoming)

    def notify_quiet(self) -> None:
        """Resolve the ``quiet`` waiters if it is quiet. Called where it may have become so:
        after a step, when an effect ends, when a journal write for it settles."""
        if self.quiet and self.is_quiet():
            waiters, self.quiet = self.quiet, []
            for fut in waiters:
                if not fut.done():
                    fut.set_result(None)

    def halt(self, exc: BaseException) -> None:
        """Mark it stopped and disarm it: its timers are cancelled, calls waiting on queued
        signals and casts waiting for room fail with ``exc``, as do callers waiting for it to
        be quiet, and its loop is cancelled (unless it is the caller). Its queued signals stay
        in the mailbox, for the caller to report."""
        self.stopped = True
        self.cancel_timers()
        waiters, self.quiet = self.quiet, []
        for fut in waiters:
            if not fut.done():
                fut.set_exception(exc)
        for _, reply, _ in self.mailbox.items:
            if reply is not None and not reply.done():
                reply.set_exception(exc)
        self.mailbox.release_putters(exc)
        task = self.task
        if task is not None and task is not asyncio.current_task():
            task.cancel()


#: The journal position of a signal whose source and id the journal held already (a resend,
#: or a re-delivery after recovery): queued only for the ``call`` waiting on it, which is
#: answered when the loop reaches it (after the step of the first one, if that was queued
#: still); it is not handled again. Real positions count from 1.
RESENT: Final = 0

#: A signal for an agent, waiting for its mailbox (or, parked, for its thaw): the signal,
#: the ``call`` waiting for its step (if any), and its journal position (:data:`RESENT`
#: for a signal journalled already; ``None`` in a runtime without storage).
Queued: TypeAlias = tuple[Signal, asyncio.Future[Agent[Any]] | None, int | None]


@final
class Hibernated:
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
        sensors: its sensors, by tag: they keep running, and what they sense thaws it.
        fired: the schedules the wake-ups delivered, by their signal's source and id (not
            re-armed on thaw).
        restarts: when its ``Restart`` policy restarted it (the window's budget goes on).
        journalled: when each parked entry was journalled, by position (see ``Server``).
    """

    __slots__ = (
        "children",
        "fired",
        "journalled",
        "life",
        "options",
        "parent",
        "parked",
        "released",
        "restarts",
        "sensors",
        "seq",
        "task",
        "wakeups",
    )

    def __init__(
        self,
        seq: int,
        options: AgentOptions,
        parent: tuple[str, str] | None,
        children: dict[str, str],
        sensors: dict[str, asyncio.Task[None]],
        life: object,
    ) -> None:
        self.seq = seq
        self.options = options
        self.parent = parent
        self.children = children
        self.life = life
        self.parked: list[Queued] = []
        self.journalled: dict[int, float] = {}
        self.task: asyncio.Task[Exception | None] | None = None
        self.wakeups: list[asyncio.TimerHandle] = []
        self.fired: set[tuple[str, str]] = set()
        self.sensors = sensors
        self.restarts: deque[float] = deque()
        self.released = 0  # parked signals no longer counted pending (a thaw failed)

    def cancel_wakeups(self) -> int:
        """Disarm its wake-up timers and cancel its sensors; returns how many."""
        n = len(self.wakeups) + len(self.sensors)
        for h in self.wakeups:
            h.cancel()
        for t in self.sensors.values():
            t.cancel()
        self.wakeups.clear()
        self.sensors.clear()
        return n
