"""Recovery by replay: an agent is its snapshot plus the signals journalled since.

Replaying runs ``jido.step`` over the journal and executes nothing; it only works out what the
replayed steps left outstanding, so the runtime can finish it:

* ``Invoke`` whose outcome signal (``<key>:ok`` / ``<key>:error`` from
  ``jido://effect/<name>``) is not in the journal: in flight at the crash, re-issued once
  (at-least-once; the key lets the effect dedupe).
* ``Schedule`` whose signal (its source and id) is not in the journal: re-armed for what is
  left of its delay.
* ``Cron`` jobs (minus ``CronCancel``): re-registered.
* ``StartSensor`` (minus ``StopSensor``, and sensors whose ``jido.agent.sensor.exit`` is in
  the journal): started again, from their config (a sensor is a source of new facts; what it
  would have produced while the runtime was down is not made up).
* ``Emit`` to other agents: re-delivered; the receiver's journal drops signals (source and
  id) it already holds.
* ``SpawnAgent`` of a child that was never registered, and whose ``jido.agent.child.exit``
  is not in the journal either (a spawn the runtime refused is answered by one): spawned now.
  Whether its ``jido.agent.child.started`` is in the journal is told too: the live runtime
  registers a child before that notice is journalled, so a crash between the two leaves a
  child that storage holds and its parent never heard of, to be told now.
* ``AdoptChild`` whose link storage does not hold (the crash came before it was written):
  linked now. Whether its ``jido.agent.child.started`` is in the journal is told too, as
  for a spawn: the link is written before that notice is journalled, so a parent whose
  notice the crash cut off is told now, and one told already is not told again.
* ``jido.agent.restarted``: a restart's notice is handled right after the crash it
  answers, before what was journalled between the two (the live agent held its mailbox
  until the notice was durable, then handled it first); at its own place in the journal it
  is passed over (a snapshot taken after it covers it, its crash then being replayed no
  more). A restarting crash whose notice the journal lacks was cut off before the notice
  was durable, so nothing after it was handled yet: replay ends there, leaving the notice
  to be sent and the entries after the crash to be handled (``unannounced``).
* A crash under ``Restart`` is judged as live, against the restarts within the policy's
  window (the snapshot's, then the crashes replayed, timed when they were journalled): one
  past ``max_restarts`` escalates, stopping the agent as a replayed ``Stop`` does.
* ``StopChild``: the child, should storage still hold it linked (the crash came before it
  was marked stopped), is stopped now, as live (its parent told, with the ids the live
  stop gave: a repeat is dropped). The ``child.exit`` that id gives, journalled, names the
  child stopped and settles no spawn (see :class:`ChildStop`). One followed by a spawn or
  adoption under its tag (a child replaced) is carried out before that spawn or adoption
  is finished, as live; unless the new child's ``child.started`` is journalled (then the
  stop was done).
* ``Stop``: the agent is stopped as the live runtime stops it (its parent told, its children
  dealt with by their ``on_parent_death``); replay ends there, and, as live, the directives
  after the ``Stop`` in that step are not carried out.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import partial
from typing import Any, Final, TypeAlias, final

import attrs
import orjson

import jido
from jido import (
    CHILD_EXIT,
    CHILD_STARTED,
    RESTARTED,
    SENSOR_EXIT,
    AdoptChild,
    Agent,
    AgentSpec,
    Cron,
    CronCancel,
    Directive,
    Emit,
    Invoke,
    Problem,
    Schedule,
    Signal,
    SpawnAgent,
    StartSensor,
    Stop,
    StopChild,
    StopSensor,
    derive_id,
)
from jido.serde import Codec, DecodeError

from ._jsonl import loads
from ._options import Restart
from ._outcomes import SYSTEM_SOURCE, effect_source, spawned_id, system_id, system_signal
from ._policy import PASSING, crash_message, judge
from ._storage import (
    CorruptJournal,
    JournalEntry,
    SchemaMismatch,
    SnapshotRecord,
    due_seconds,
    epoch_seconds,
)

__all__ = [
    "ChildStop",
    "Outbox",
    "Replayed",
    "Upgrade",
    "decode_agent",
    "journal_json",
    "reconciled",
    "replay",
    "restart_notice",
    "restarted",
    "salted",
    "snapshot_record",
]


def restarted(spec: AgentSpec[Any], agent: Agent[Any], crashed: Signal) -> tuple[Directive, ...]:
    """What a ``Restart`` registers again: the declared schedules, as at start, but with
    signal ids of their own, derived from the signal whose step crashed (its source and id:
    two crashes on signals that share an id but not a source are two restarts). The journal
    keeps every signal it accepted, so a timer reusing an earlier registration's id would be
    dropped as a re-delivery; replay derives the same ids as the live restart did."""
    # Length-prefixed: the source and id side by side, with no way for two pairs to meet.
    return salted(
        spec.startup(agent), agent.id, f"{len(crashed.source)}:{crashed.source}{crashed.id}"
    )


def _restart_cause(crashed: Signal) -> str:
    # Length-prefixed, as in ``restarted``: the crashed signal's source and id together.
    return f"restart:{len(crashed.source)}:{crashed.source}{crashed.id}"


def restart_notice(
    agent_id: str, crashed: Signal, *, restarts: int, reason: str, time: datetime | None
) -> Signal:
    """The ``jido.agent.restarted`` AsyncRuntime sends ``agent_id`` when its ``Restart``
    policy restarts it after the step of ``crashed`` crashed: a lifecycle signal whose id
    derives from ``crashed`` (its source and id, as the restart's schedules' ids do), so
    that a journal, which holds ``crashed`` once, holds one notice for it, and replay knows
    which notice answers which crash (:func:`restart_notice_key`)."""
    return system_signal(
        RESTARTED,
        {"restarts": restarts, "reason": reason},
        agent_id=agent_id,
        cause=_restart_cause(crashed),
        seq=0,
        time=time,
    )


def restart_notice_key(agent_id: str, crashed: Signal) -> tuple[str, str]:
    """The source and id of :func:`restart_notice` for ``crashed``."""
    return SYSTEM_SOURCE, system_id(agent_id, _restart_cause(crashed), 0)


def reconciled(
    outbox: Outbox,
    declared: tuple[Schedule | Cron, ...],
    agent_id: str,
    *,
    salt: str,
    now: float,
) -> Outbox:
    """``outbox``, stored by an older version of its spec, with the schedules the current
    one ``declared`` (``AgentSpec.startup``) in place of the ones the old one did
    (``outbox.declared``), as a spec's schedules are registered at start: a plugin mounted
    since gets its cron jobs and timers armed, one removed since has its own dropped
    (they would fire into routing errors for ever). A cron job is known by its job id,
    a timer by its signal's type: one both versions declare is left as it is (a timer
    fired since start is not armed again). A new timer is due its delay after ``now``,
    its signal given an id of ``salt``'s own (as a restart's are: a journal keeps the ids
    of earlier registrations); a stable ``salt`` lets a repeated upgrade arm the same.

    An outbox that does not say what was declared (written before it was kept) loses
    nothing: new cron jobs (by id) are armed, and no timer is armed or dropped.
    """
    new_jobs = {d.job_id: d for d in declared if isinstance(d, Cron)}
    new_timers = {d.signal.type for d in declared if isinstance(d, Schedule)}
    crons = {c.job_id: c for c in outbox.crons}
    schedules = list(outbox.schedules)
    old_jobs: set[str] = set()
    if outbox.declared is not None:
        old_jobs = {d.job_id for d in outbox.declared if isinstance(d, Cron)}
        old_timers = {d.signal.type for d in outbox.declared if isinstance(d, Schedule)}
        for job_id in old_jobs - new_jobs.keys():
            crons.pop(job_id, None)
        gone = old_timers - new_timers
        schedules = [(due, s) for due, s in schedules if s.type not in gone]
        for d in salted(declared, agent_id, salt):
            if isinstance(d, Schedule) and d.signal.type not in old_timers:
                schedules.append((now + d.delay, d.signal))
    for job_id, job in new_jobs.items():
        # One the old version declared too and is not armed was cancelled, or is over.
        if job_id not in crons and job_id not in old_jobs:
            crons[job_id] = job
    return attrs.evolve(
        outbox, crons=tuple(crons.values()), schedules=tuple(schedules), declared=declared
    )


def salted(directives: Iterable[Directive], agent_id: str, salt: str) -> tuple[Directive, ...]:
    """``directives`` with each ``Schedule``'s signal given an id of ``salt``'s own (derived
    from the id it had): declared schedules registered again must not repeat their ids."""
    return tuple(
        attrs.evolve(d, signal=attrs.evolve(d.signal, id=derive_id(d.signal.id, agent_id, 0, salt)))
        if isinstance(d, Schedule)
        else d
        for d in directives
    )


def journal_json(signal: Signal, codec: Codec) -> str:
    """``signal`` as the journal stores it: JSON that ``codec`` decodes to ``signal``.

    Every durable signal is encoded once, before it is acknowledged, so this is on the hot
    path. orjson writes compact JSON in C, taking frozen data as the dicts and arrays it is
    (some floats are spelled differently from ``codec.to_json``, ``1e-7`` for ``1e-07``, with
    the same value); what it cannot write exactly (integers beyond 64 bits, which it refuses;
    a time zone other than UTC, whose sub-minute offsets it drops) goes through the codec.
    """
    time = signal.time
    if time is not None and time.tzinfo is not UTC:
        return codec.to_json(signal)
    out: dict[str, object] = {"specversion": "1.0", "id": signal.id, "source": signal.source}
    out["type"] = signal.type
    if signal.subject is not None:
        out["subject"] = signal.subject
    if time is not None:
        out["time"] = time  # written as isoformat writes it
    out["datacontenttype"] = signal.datacontenttype
    if signal.data is not None:
        out["data"] = signal.data
    if signal.extensions:
        out.update(signal.extensions)
    try:
        return orjson.dumps(out).decode()
    except TypeError:
        return codec.to_json(signal)


#: ``upgrade(spec_name, stored_version, raw_agent_dict) -> raw_agent_dict`` at the current
#: version; raise to refuse.
Upgrade: TypeAlias = Callable[[str, int, dict[str, Any]], dict[str, Any]]


@final
@attrs.frozen(kw_only=True)
class Outbox:
    """What an agent's past steps left outstanding (see the module docs).

    Attributes:
        invokes: effects without a journalled outcome, with the signal that invoked them.
        schedules: ``(due, signal)``, due in wall-clock epoch seconds.
        crons: registered cron jobs, by job id.
        sensors: running sensors, by tag.
        restarts: when (epoch seconds on the runtime's clock) a ``Restart`` policy
            restarted the agent, those within its window: its budget goes on after a
            recovery.
        declared: the schedules and cron jobs its spec declared (``AgentSpec.startup``)
            when the snapshot was taken, or ``None`` (a snapshot written before they were
            kept): what an upgrade reconciles with the new spec's (:func:`reconciled`).
    """

    invokes: tuple[tuple[Invoke, Signal | None], ...] = ()
    schedules: tuple[tuple[float, Signal], ...] = ()
    crons: tuple[Cron, ...] = ()
    sensors: tuple[StartSensor, ...] = ()
    restarts: tuple[float, ...] = ()
    declared: tuple[Schedule | Cron, ...] | None = None

    def to_json(self, codec: Codec) -> str:
        """The outbox as JSON, for a snapshot."""
        return json.dumps(
            {
                "invokes": [
                    [codec.to_dict(i), None if c is None else codec.to_dict(c)]
                    for i, c in self.invokes
                ],
                "schedules": [[due, codec.to_dict(s)] for due, s in self.schedules],
                "crons": [codec.to_dict(c) for c in self.crons],
                "sensors": [codec.to_dict(s) for s in self.sensors],
                "restarts": list(self.restarts),
                **(
                    {}
                    if self.declared is None
                    else {"declared": [codec.to_dict(d) for d in self.declared]}
                ),
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str, codec: Codec) -> Outbox:
        """Decode :meth:`to_json`'s output.

        Raises:
            ValueError: the text is not JSON (see ``_jsonl.loads``), or a part does not
                decode (a ``DecodeError``), or a schedule's due time is no time (see
                ``due_seconds``), or a restart's no wall-clock time (``epoch_seconds``).
            KeyError, TypeError: the JSON is not an outbox's shape.
        """
        raw = loads(text)
        invokes = []
        for i, c in raw["invokes"]:
            inv = codec.directive_from_dict(i)
            if not isinstance(inv, Invoke):
                raise DecodeError("outbox", f"expected an invoke, got {type(inv).__name__}")
            invokes.append((inv, None if c is None else codec.signal_from_dict(c)))
        crons = []
        for c in raw["crons"]:
            cron = codec.directive_from_dict(c)
            if not isinstance(cron, Cron):
                raise DecodeError("outbox", f"expected a cron job, got {type(cron).__name__}")
            crons.append(cron)
        sensors = []
        for c in raw.get("sensors", ()):  # absent from snapshots written before sensors were
            sensor = codec.directive_from_dict(c)
            if not isinstance(sensor, StartSensor):
                raise DecodeError("outbox", f"expected a sensor, got {type(sensor).__name__}")
            sensors.append(sensor)
        schedules = []
        for due, s in raw["schedules"]:
            at = due_seconds(due)
            if at is None:  # not a time: it would fire at once, or never
                raise DecodeError("outbox", f"schedule due {due!r:.40} is no time")
            schedules.append((at, codec.signal_from_dict(s)))
        restarts = []
        for t in raw.get("restarts", ()):
            at = epoch_seconds(t)
            if at is None:  # a restart counted at no time would be counted wrongly for ever
                raise DecodeError("outbox", f"restart at {t!r:.40} is no wall-clock time")
            restarts.append(at)
        declared: list[Schedule | Cron] | None = None
        if "declared" in raw:  # absent from snapshots written before it was kept
            declared = []
            for c in raw["declared"]:
                d = codec.directive_from_dict(c)
                if not isinstance(d, Schedule | Cron):
                    raise DecodeError("outbox", f"expected a schedule, got {type(d).__name__}")
                declared.append(d)
        return cls(
            invokes=tuple(invokes),
            schedules=tuple(schedules),
            crons=tuple(crons),
            sensors=tuple(sensors),
            # Absent from snapshots written before restarts were kept.
            restarts=tuple(restarts),
            declared=None if declared is None else tuple(declared),
        )


@final
@attrs.frozen(kw_only=True)
class ChildStop:
    """A ``StopChild`` of the replayed steps, as recovery carries it out again.

    Attributes:
        directive: the ``StopChild``.
        cause: the signal whose step gave it (the ids of the stop's lifecycle signals
            derive from it).
        stopped: the child it stopped, if its parent's ``child.exit`` for this stop is
            journalled (else the child under its tag, whichever recovery finds there).
        then: the child id of the first spawn or adoption under its tag after it (a child
            replaced), if any; ``adopts`` says which.
        then_told: whether that spawn or adoption is answered in the journal (its
            ``child.started``, or a ``child.exit``): the stop was done before it.
    """

    directive: StopChild
    cause: Signal
    stopped: str | None = None
    then: str | None = None
    adopts: bool = False
    then_told: bool = False


@attrs.define
class _Pending:
    """A ``StopChild`` being replayed (see :class:`ChildStop`); ``then`` is the entry of
    ``spawns`` or ``adoptions`` that follows it under its tag, whose ``[1]`` says whether
    it is announced (a spawn a ``child.exit`` took out counts as answered)."""

    directive: StopChild
    cause: Signal
    stopped: str | None = None
    then: list[Any] | None = None
    then_id: str | None = None


@final
@attrs.frozen(kw_only=True)
class Replayed:
    """The result of :func:`replay`.

    Attributes:
        agent: the agent after the last journal entry.
        last_seq: that entry's position (the snapshot's, if the journal was empty).
        outbox: what is outstanding.
        emits: every ``Emit`` of the replayed steps, with the id of the emitting agent.
        spawns: every ``SpawnAgent`` of the replayed steps but those a journalled
            ``jido.agent.child.exit`` answers (not one of a ``StopChild``: see
            :class:`ChildStop`).
        announced: for each of ``spawns``, whether a journalled
            ``jido.agent.child.started`` answers it (its parent was told the child started).
        adoptions: every ``AdoptChild`` of the replayed steps.
        adopted: for each of ``adoptions``, whether a journalled
            ``jido.agent.child.started`` answers it.
        replacing: for each of ``spawns``, whether a ``StopChild`` under its tag came
            before it in the replayed steps (the spawn replaces the child it stopped).
        stop_children: the ``StopChild`` directives of the replayed steps, in order (of
            several under a tag with no spawn or adoption between, the last).
        stopped_by: the journalled signal whose step stopped the agent (a ``Stop``
            directive, or a crash under ``StopAgent`` / ``Escalate``), or ``None``.
        stop_reason: that stop's reason.
        refused: how many replayed steps gave ``Error`` directives, and the first of
            their problems (as the live steps may have too; or code deployed since
            refuses what the live code took: see docs/runtime.md, "Deploying new code").
        unannounced: a restarting crash whose ``jido.agent.restarted`` the journal lacks,
            where replay ended: the crashed signal, the restarts its notice counts and its
            reason; the notice is to be sent, first.
        pending: the journal entries after that crash, not handled yet, in order: each
            position, signal and when it was journalled.
        covered: how many restart notices the journal holds after the snapshot whose
            crash it does not (at or before the snapshot's position): the snapshot
            covers them, one step each beyond the entries it follows (the live agent
            handled each right after its crash, ahead of what was journalled between).
    """

    agent: Agent[Any]
    last_seq: int
    outbox: Outbox
    emits: tuple[Emit, ...]
    spawns: tuple[SpawnAgent, ...]
    announced: tuple[bool, ...]
    adoptions: tuple[AdoptChild, ...] = ()
    adopted: tuple[bool, ...] = ()
    replacing: tuple[bool, ...] = ()
    stop_children: tuple[ChildStop, ...] = ()
    stopped_by: Signal | None = None
    stop_reason: str = ""
    refused: tuple[int, Problem | None] = (0, None)
    covered: int = 0
    unannounced: tuple[Signal, int, str] | None = None
    pending: tuple[tuple[int, Signal, float], ...] = ()

    @property
    def stopped(self) -> bool:
        """A replayed step stopped the agent."""
        return self.stopped_by is not None


#: What a stored agent (``Codec.to_dict`` of it) always holds, as an upgrade hook must
#: return it.
_AGENT_KEYS: Final = ("id", "spec", "state", "version", "status")
_AGENT_KEYS_TEXT: Final = ", ".join(map(repr, _AGENT_KEYS))


def _what(value: object) -> str:
    """``value`` named in a message: ``None``, or its type and a short repr."""
    return "None" if value is None else f"{type(value).__name__} {value!r:.60}"


def decode_agent(
    raw_text: str,
    spec: AgentSpec[Any],
    stored_version: int,
    *,
    agent_id: str,
    seq: int,
    codec: Codec,
    upgrade: Upgrade | None,
) -> Agent[Any]:
    """Decode a stored agent, upgrading its state from an older schema version.

    Raises:
        SchemaMismatch: an older version and no upgrade for it, or an upgrade hook that
            raised (the exception is the cause) or returned no stored agent (a dict); or a
            newer version (a downgrade, which no hook is asked to do).
        CorruptJournal: the data does not decode, or does not fit the spec (``seq`` says
            where).
    """
    try:
        raw = loads(raw_text)
    except ValueError as exc:  # not JSON, too deep; or bytes that are not UTF-8
        raise CorruptJournal(agent_id, seq, f"not JSON ({exc})") from None
    if stored_version != spec.schema_version:
        mismatch = partial(SchemaMismatch, agent_id, spec.name, stored_version, spec.schema_version)
        if upgrade is None or stored_version > spec.schema_version:
            raise mismatch()
        try:
            raw = upgrade(spec.name, stored_version, raw)
        except PASSING:
            raise
        except BaseException as exc:
            raise mismatch(why=f"the upgrade hook raised {type(exc).__name__}: {exc}") from exc
        # Told here, not as data that does not decode: the stored agent may be sound and
        # the hook's result what is wrong (a forgotten return, the state returned alone).
        if not isinstance(raw, dict):
            raise mismatch(
                why=f"the upgrade hook returned {_what(raw)}, not the stored agent (a dict"
                f" with {_AGENT_KEYS_TEXT}...)"
            )
        missing = [k for k in _AGENT_KEYS if k not in raw]
        if missing:
            raise mismatch(
                why=f"the upgrade hook returned a dict without {', '.join(map(repr, missing))}:"
                f" not the stored agent, a dict with {_AGENT_KEYS_TEXT}..."
            )
    try:
        agent = codec.agent_from_dict(raw, spec)
    except DecodeError as exc:
        reason = exc.reason
        if exc.what == "plugin slices":
            # A plugin mounted or removed since the agent was stored.
            reason = (
                f"its plugin slices {reason} (if the spec's plugins changed since it was"
                f" stored, give spec {spec.name!r} a new schema_version and an upgrade that"
                " adds or drops the slices in the stored agent's 'slices')"
            )
        elif exc.what == "FSM status":
            # The spec's FSM lost the status since the agent was stored: the agent would
            # refuse every signal the table controls, for ever.
            reason = (
                f"{reason} (if the FSM changed since it was stored, give spec"
                f" {spec.name!r} a new schema_version and an upgrade that moves the stored"
                " agent's 'status' to one of them)"
            )
        elif exc.what == "agent state" or exc.what.startswith("plugin slice "):
            # Seldom damage; mostly a class changed under the stored value (a field gone,
            # renamed or of another type) without a new schema version.
            reason = (
                f"the {exc.what} does not fit its class: {reason} (if the class changed since"
                f" it was stored, give spec {spec.name!r} a new schema_version and an upgrade"
                " for the old value)"
            )
        raise CorruptJournal(agent_id, seq, reason) from None
    if agent.id != agent_id:
        raise CorruptJournal(agent_id, seq, f"it holds the agent {agent.id!r}")
    return agent


def replay(
    spec: AgentSpec[Any],
    agent: Agent[Any],
    entries: Iterable[JournalEntry],
    *,
    outbox: Outbox,
    start_seq: int,
    codec: Codec,
    restart: Restart | None = None,
    stop: Callable[[BaseException], str] | None = None,
) -> Replayed:
    """Replay journal ``entries`` over ``agent`` (see the module docs).

    A step that crashes (an action, a route guard or a custom strategy raising) is skipped,
    as the live runtime skipped it. With
    ``restart`` (the agent's ``Restart`` policy) the crash also does what the live
    restart did: what the agent armed itself (timers, cron jobs, sensors) is dropped, and
    the spec's declared schedules are registered again, as of the crashed entry's time;
    or, past the policy's ``max_restarts`` within its window (counting ``outbox.restarts``),
    the agent escalates: it is stopped.
    With ``stop`` (``StopAgent`` or ``Escalate``) the crash stopped the agent, for the
    reason ``stop(exception)`` gives: the agent is replayed up to it and stopped again. (It
    was marked stopped, but a process killed before that mark was written must not bring
    it back.)

    Raises:
        CorruptJournal: an entry does not decode; nothing is returned, so no partial state
            can be used.
    """
    invokes: dict[str, tuple[Invoke, Signal | None]] = {i.key: (i, c) for i, c in outbox.invokes}
    # A signal is known by its source and id together: another source may use the same id.
    schedules: dict[tuple[str, str], tuple[float, Signal]] = {
        (s.source, s.id): (due, s) for due, s in outbox.schedules
    }
    crons: dict[str, Cron] = {c.job_id: c for c in outbox.crons}
    sensors: dict[str, StartSensor] = {s.tag: s for s in outbox.sensors}
    restarts = deque(outbox.restarts)
    unannounced: tuple[Signal, int, str] | None = None
    unhandled: list[tuple[int, Signal, float]] = []
    emits: list[Emit] = []
    # Each spawn as [directive, whether its child.started is journalled, whether it
    # replaces a child a StopChild stopped] (see ``_answer``).
    spawns: list[list[Any]] = []
    adoptions: list[list[Any]] = []  # each as [directive, whether it was announced]
    stop_children: list[_Pending] = []
    stopped_by: Signal | None = None
    stop_reason = ""
    refused: tuple[int, Problem | None] = (0, None)
    seq = start_seq
    decoded: list[tuple[JournalEntry, Signal]] = []
    for entry in entries:
        try:
            signal = codec.signal_from_json(entry.signal)
        except ValueError as exc:  # DecodeError; UnicodeDecodeError for bytes not UTF-8
            reason = exc.reason if isinstance(exc, DecodeError) else f"not JSON ({exc})"
            raise CorruptJournal(agent.id, entry.seq, reason) from None
        if signal.id != entry.signal_id or signal.source != entry.source:
            raise CorruptJournal(
                agent.id, entry.seq, "the signal's source or id does not match its row"
            )
        decoded.append((entry, signal))
    # Restart notices, by source and id: each is handled right after the crash it answers.
    notices = {
        (s.source, s.id): (e, s)
        for e, s in decoded
        if s.type == RESTARTED and s.source == SYSTEM_SOURCE
    }
    forward: set[tuple[str, str]] = set()  # the notices brought forward
    # Each with whether it is a notice brought forward to follow its crash.
    work = deque((e, s, False) for e, s in decoded)
    while work:
        entry, signal, early = work.popleft()
        if not early:
            seq = entry.seq
            if notices and (signal.source, signal.id) in notices:
                continue  # handled after its crash, or covered by the snapshot
        # An outcome or a fired timer settles what produced it: the outcome of an effect
        # comes from that effect (a signal from elsewhere that merely shares the id is not
        # it), a timer's signal is the one it armed, source and id.
        key, _, outcome = signal.id.rpartition(":")
        if outcome in ("ok", "error"):
            pending = invokes.get(key)
            if pending is not None and signal.source == effect_source(pending[0].effect):
                del invokes[key]
        schedules.pop((signal.source, signal.id), None)
        if signal.type == SENSOR_EXIT and isinstance(signal.data, dict):
            # The runtime reports the end of the sensor running under the tag (a replaced or
            # stopped one ends silently).
            sensors.pop(str(signal.data.get("tag")), None)
        if (
            signal.type in (CHILD_STARTED, CHILD_EXIT)
            and isinstance(signal.data, dict)
            and not _stopped_child(stop_children, spawns, agent.id, signal)
        ):
            spawned = _answer(spawns, agent.id, signal.type, signal.data)
            if not spawned:
                _answer_adoption(adoptions, signal.type, signal.data)
        try:
            result = jido.step(spec, agent, signal)
        except PASSING:
            raise
        except BaseException as exc:  # ActionCrashed, or a guard or custom strategy raising
            if stop is not None:
                stopped_by, stop_reason = signal, stop(exc)
                break
            if restart is not None:
                outcome, why = judge(restart, exc, restarts, entry.at)
                if outcome == "escalated":
                    stopped_by, stop_reason = signal, why or ""
                    break
                schedules.clear()
                crons.clear()
                sensors.clear()
                for d in restarted(spec, agent, signal):
                    if isinstance(d, Schedule):
                        schedules[d.signal.source, d.signal.id] = (entry.at + d.delay, d.signal)
                    elif isinstance(d, Cron):
                        crons[d.job_id] = d
                notice = notices.get(restart_notice_key(agent.id, signal))
                if notice is not None:
                    # Next, as live: its own place in the journal (a later one) is passed over.
                    forward.add((notice[1].source, notice[1].id))
                    work.appendleft((*notice, True))
                else:
                    # Cut off before its notice was durable: the live agent held its mailbox
                    # from here, so what follows was not handled; it is, after the notice.
                    unannounced = (signal, len(restarts), crash_message(exc))
                    # (Not the notices of crashes the snapshot covers: handled already.)
                    unhandled = [
                        (e.seq, s, e.at)
                        for e, s, early in work
                        if not early and (s.source, s.id) not in notices
                    ]
                    break
            continue
        agent = result.agent
        problems = result.problems
        if problems:
            refused = (refused[0] + 1, refused[1] or problems[0])
        for d in result.directives:
            match d:
                case Invoke():
                    invokes[d.key] = (d, signal)
                case Schedule(delay=delay, signal=s):
                    schedules[s.source, s.id] = (entry.at + delay, s)
                case Cron():
                    crons[d.job_id] = d
                case CronCancel(job_id=job_id):
                    crons.pop(job_id, None)
                case StartSensor(tag=tag):
                    sensors[tag] = d
                case StopSensor(tag=tag):
                    sensors.pop(tag, None)
                case Emit():
                    emits.append(d)
                case SpawnAgent():
                    spawns.append([d, False, _followed(stop_children, d.tag)])
                    _follow(stop_children, d.tag, spawns[-1], spawned_id(agent.id, d))
                case AdoptChild():
                    adoptions.append([d, False])
                    _follow(stop_children, d.tag, adoptions[-1], d.child_id)
                case StopChild(tag=tag):
                    # An earlier one under the tag that nothing followed stopped nothing
                    # this one would not: the last is kept, in the order they were given.
                    stop_children[:] = [
                        p for p in stop_children if p.directive.tag != tag or p.then is not None
                    ]
                    stop_children.append(_Pending(d, signal))
                case Stop(reason=reason):
                    stopped_by, stop_reason = signal, reason
                case _:
                    pass
            if stopped_by is not None:
                break  # the live runtime executes nothing after a Stop, in this step or later
        if stopped_by is not None:
            break
    return Replayed(
        agent=agent,
        last_seq=seq,
        outbox=Outbox(
            invokes=tuple(invokes.values()),
            schedules=tuple(schedules.values()),
            crons=tuple(crons.values()),
            sensors=tuple(sensors.values()),
            restarts=tuple(restarts),
        ),
        emits=tuple(emits),
        spawns=tuple(s[0] for s in spawns),
        announced=tuple(s[1] for s in spawns),
        replacing=tuple(s[2] for s in spawns),
        adoptions=tuple(a[0] for a in adoptions),
        adopted=tuple(a[1] for a in adoptions),
        stop_children=tuple(
            ChildStop(
                directive=p.directive,
                cause=p.cause,
                stopped=p.stopped,
                then=p.then_id,
                adopts=p.then is not None and isinstance(p.then[0], AdoptChild),
                then_told=p.then is not None and (p.then[1] or not _held(p.then, spawns)),
            )
            for p in stop_children
        ),
        stopped_by=stopped_by,
        stop_reason=stop_reason,
        refused=refused,
        covered=len(notices.keys() - forward),
        unannounced=unannounced,
        pending=tuple(unhandled),
    )


def _followed(stops: list[_Pending], tag: str) -> bool:
    """Whether a spawn under ``tag`` replaces a child: a ``StopChild`` under it came
    before, and no spawn or adoption since."""
    return any(p.directive.tag == tag and p.then is None for p in stops)


def _follow(stops: list[_Pending], tag: str, entry: list[Any], child_id: str) -> None:
    """Note the spawn or adoption ``entry`` (of ``child_id``) as what follows the
    ``StopChild`` directives under ``tag`` that nothing followed yet."""
    for p in stops:
        if p.directive.tag == tag and p.then is None:
            p.then, p.then_id = entry, child_id


def _held(entry: list[Any], spawns: list[list[Any]]) -> bool:
    """Whether a spawn or adoption entry is still held (a ``child.exit`` takes a spawn
    out: it was answered). Adoptions are never taken out."""
    return not isinstance(entry[0], SpawnAgent) or any(s is entry for s in spawns)


def _stopped_child(
    stops: list[_Pending], spawns: list[list[Any]], parent_id: str, signal: Signal
) -> bool:
    """Whether ``signal`` is the ``child.exit`` of one of ``stops``: its id is the one the
    stop gives it (derived from the child and the stopping signal). It names the child
    stopped, and takes out the first spawn of that child (the one stopped), not the spawn
    that follows the stop under its tag (the child it was replaced by, not yet
    announced)."""
    data = signal.data
    if signal.type != CHILD_EXIT or signal.source != SYSTEM_SOURCE or not isinstance(data, dict):
        return False
    tag, child_id = data.get("tag"), data.get("child_id")
    for p in stops:
        if (
            p.directive.tag == tag
            and p.stopped is None
            and signal.id == system_id(parent_id, f"{child_id}:{p.cause.id}", 0)
        ):
            p.stopped = str(child_id)
            for i, s in enumerate(spawns):
                if s is not p.then and s[0].tag == tag and spawned_id(parent_id, s[0]) == child_id:
                    del spawns[i]
                    break
            return True
    return False


def _answer(spawns: list[list[Any]], parent_id: str, kind: str, data: dict[str, Any]) -> bool:
    """Settle the spawn that a journalled ``child.started`` or ``child.exit`` (``kind``)
    answers: one of ``spawns`` of its tag and child id. Returns whether one was.

    ``child.started`` marks the first such spawn not yet announced as announced.
    ``child.exit`` (a spawn the runtime refused, or a child that stopped) takes one out:
    the parent was told the child is gone, so recovery must not spawn it again (nor tell
    the parent of a refusal twice). It takes an unannounced one if there is one, since a
    refusal comes with no ``child.started`` (a spawn refused for the tag of a running
    child follows that child's announced spawn), else the first.
    """
    tag, child_id = data.get("tag"), data.get("child_id")
    ours = [
        i
        for i, (spawn, *_) in enumerate(spawns)
        if spawn.tag == tag and spawned_id(parent_id, spawn) == child_id
    ]
    unannounced = [i for i in ours if not spawns[i][1]]
    if kind == CHILD_STARTED:
        if unannounced:
            spawns[unannounced[0]][1] = True
            return True
    elif unannounced or ours:
        del spawns[(unannounced or ours)[0]]
        return True
    return False


def _answer_adoption(adoptions: list[list[Any]], kind: str, data: dict[str, Any]) -> None:
    """Mark announced the first unannounced adoption of its tag and child that a journalled
    ``child.started`` (``kind``) answers, no spawn having taken it."""
    if kind != CHILD_STARTED:
        return
    tag, child_id = data.get("tag"), data.get("child_id")
    for entry in adoptions:
        d, told = entry
        if not told and d.tag == tag and d.child_id == child_id:
            entry[1] = True
            return


def snapshot_record(
    agent: Agent[Any], spec: AgentSpec[Any], seq: int, outbox: Outbox, codec: Codec
) -> SnapshotRecord:
    """The snapshot of ``agent`` after journal entry ``seq``."""
    return SnapshotRecord(
        agent_id=agent.id,
        seq=seq,
        schema_version=spec.schema_version,
        agent=codec.to_json(agent),
        outbox=outbox.to_json(codec),
    )
