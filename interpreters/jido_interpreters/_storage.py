"""Durable storage for agents: a signal journal plus snapshots.

Because ``jido.step`` is deterministic, an agent *is* its last snapshot plus the signals it
accepted since: recovery loads the snapshot and replays the journal through the core. A
:class:`Storage` keeps, per agent:

* a registration (spec, parent, the initial agent),
* the journal: every accepted signal, in the order the agent handles them, each at most once
  per signal identity, its ``source`` and ``id`` together (as CloudEvents defines an
  event's identity: two sources may number their events alike). Ids are deterministic, so
  a re-delivery after a crash is recognised; a signal from another source that happens to
  share an id is not one, and is journalled,
* the latest snapshot: the agent after the journal entry ``seq``, plus what was outstanding
  then (effects in flight, armed timers, cron jobs).

Implementations: :class:`~jido_interpreters.SQLiteStorage` (embedded, the default) and
:class:`~jido_interpreters.RedisStorage`. Methods are blocking, and a store must be safe to
use from several threads: the runtime makes its writes from one worker thread, in order,
reads (``agents``, ``load``) from another while writes may go on, and calls ``claim()`` /
``release()`` from the event loop's thread. A store may offer those two (``claim`` raising
:class:`StorageInUse` if another runtime holds it, the one a store object was claimed by
already included): the runtime calls them before its first write and at shutdown, if they
are there.

The stores here record the format of what they write (:data:`STORE_FORMAT`) and refuse,
with a :class:`StorageError`, data written in another one rather than misread it: stores
written before signals were told apart by source and id (format 1) held each id once per
agent whatever its source, and are not converted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Final, Protocol, final, runtime_checkable

import attrs

__all__ = [
    "JOURNAL",
    "STORE_FORMAT",
    "AgentExists",
    "AgentRecord",
    "CorruptJournal",
    "JournalEntry",
    "RecoveryError",
    "SchemaMismatch",
    "SnapshotRecord",
    "Storage",
    "StorageError",
    "StorageInUse",
    "UnknownSpec",
    "check_sequence",
    "decode_entry",
    "decode_registration",
    "decode_snapshot",
    "due_seconds",
    "entry_time",
    "epoch_seconds",
    "unreadable_format",
]

#: The layout stores write: 2 since a signal's identity in the journal is its source and id
#: together (format 1, unmarked, keyed it by id alone).
STORE_FORMAT: Final = 2


@final
@attrs.frozen(kw_only=True)
class AgentRecord:
    """A registered agent.

    Attributes:
        agent_id: its id.
        spec: its spec's name.
        schema_version: the spec's ``schema_version`` when ``initial`` was written.
        initial: the agent as started, JSON (``jido.serde``).
        parent_id, tag: its parent link, if any.
        stopped: it stopped for good (not recovered).
    """

    agent_id: str
    spec: str
    schema_version: int
    initial: str
    parent_id: str | None = None
    tag: str | None = None
    stopped: bool = False


@final
@attrs.frozen(kw_only=True)
class JournalEntry:
    """One accepted signal: ``seq`` orders an agent's entries; ``source`` and ``signal_id``
    are the signal's identity (an agent's journal holds each pair once); ``at`` is
    wall-clock seconds (epoch) when it was journalled; ``signal`` is its CloudEvents JSON."""

    agent_id: str
    seq: int
    source: str
    signal_id: str
    signal: str
    at: float


@final
@attrs.frozen(kw_only=True)
class SnapshotRecord:
    """The agent after journal entry ``seq``, and what was outstanding then (JSON)."""

    agent_id: str
    seq: int
    schema_version: int
    agent: str
    outbox: str


@runtime_checkable
class Storage(Protocol):
    """What the runtime needs from a store. All methods block; writes are called in order
    from one thread, reads from others (see the module docs: a store must be thread-safe)."""

    def register(self, record: AgentRecord) -> None:
        """Register a new agent, atomically.

        An id whose registration is marked stopped (or that has none) starts afresh: a
        journal and snapshot left under it are dropped, so recovery never replays an
        earlier life over the new one. The signal ids the earlier agent saw are kept: a
        signal sent to it is not journalled for the new one (a recovery re-delivering what
        an earlier step emitted must not reach the new agent as news).

        Raises:
            AgentExists: the id is registered and not stopped (nothing is changed).
        """
        ...

    def mark_stopped(self, agent_id: str) -> None:
        """The agent stopped for good; it will not be recovered."""
        ...

    def set_parent(self, agent_id: str, parent_id: str | None, tag: str | None) -> None:
        """The agent became the child of ``parent_id`` under ``tag`` (an ``AdoptChild``), or
        has no parent any more (``None``: orphaned): its registration's parent link says so
        from now on. An unknown id is ignored."""
        ...

    def mark_undelivered(self, agent_id: str, source: str, signal_id: str) -> None:
        """A signal for ``agent_id`` could not be delivered (no such agent was running).

        Its identity (``source`` and ``signal_id``) is remembered as seen by that agent id,
        without a journal entry: a recovery that re-delivers it (replaying the step that
        emitted it) must not hand it to an agent registered under that id afterwards, which
        never got it live. ``append`` then treats it as journalled already.
        """
        ...

    def append(self, entries: Sequence[tuple[str, str, str, str, float]]) -> list[int | None]:
        """Journal ``(agent_id, source, signal_id, signal_json, at)`` entries in one durable
        batch: all of them or, if it raises, none.

        A signal's identity is its ``source`` and ``signal_id`` together: the same id from
        two sources is two signals, each journalled. A store must key on the pair so that no
        two pairs collide, whatever characters either holds (no plain concatenation).

        Returns:
            Each entry's sequence number, or ``None`` for a source and id the agent's
            journal already holds, or an earlier entry of the batch has (a re-delivery or a
            resend: not journalled twice).

        Raises:
            ValueError: an ``at`` is not a finite number of seconds.
        """
        ...

    def snapshot(self, record: SnapshotRecord) -> None:
        """Store the agent's latest snapshot (older entries may then be compacted)."""
        ...

    def agents(self) -> Sequence[AgentRecord | CorruptJournal]:
        """Every registration, in registration order.

        A registration that cannot be decoded is given, in its place, as a
        :class:`CorruptJournal` naming the agent (``seq`` 0), not raised: the caller then
        reports every unusable agent at once and can still recover the others on request.
        """
        ...

    def load(self, agent_id: str) -> tuple[SnapshotRecord | None, list[JournalEntry]]:
        """The latest snapshot and the journal entries after it, in order.

        Sequence numbers count from 1, one per entry, with no gaps: the entries returned
        follow on from the snapshot's ``seq`` (from 1 without one). A store checks what it
        can of that (see :func:`check_sequence`), and the runtime checks it again.

        Raises:
            CorruptJournal: what is stored cannot be used, entries missing included.
        """
        ...

    def close(self) -> None:
        """Release the store."""
        ...


class AgentExists(ValueError):
    """Storage holds an agent under this id that has not stopped: starting a new one would
    throw its journal away. Recover it (``restore`` / ``thaw``) or use another id."""

    def __init__(self, agent_id: str) -> None:
        super().__init__(
            f"agent {agent_id!r} is in storage and has not stopped: restore() it, or start "
            "the new agent under another id"
        )
        self.agent_id = agent_id


class StorageInUse(RuntimeError):
    """Another runtime holds the store: two runtimes writing one journal would each run
    their own copy of its agents, and a recovery would merge what neither saw.

    Attributes:
        where: the store (a file path, or the server and prefix).
        holder: what the holder wrote of itself (its process id), if anything.
        lapses_in: for a store held by a lease (Redis), the seconds until it lapses unless
            renewed: a runtime that died without shutting down holds the store until then.
    """

    def __init__(self, where: str, holder: str, lapses_in: float | None = None) -> None:
        who = f" (process {holder})" if holder else ""
        wait = (
            ""
            if lapses_in is None
            else f"; if that runtime is gone, its claim lapses within {lapses_in:.1f} s"
        )
        super().__init__(
            f"{where} is in use by another runtime{who}: shut that one down first, or use "
            f"another store{wait}"
        )
        self.where = where
        self.holder = holder
        self.lapses_in = lapses_in


#: :attr:`CorruptJournal.seq` when the damage is to an agent's journal as a whole, not one entry.
JOURNAL: Final = -2


class StorageError(Exception):
    """Stored data cannot be used as it is."""


class CorruptJournal(StorageError):
    """A journal entry or snapshot could not be decoded.

    Attributes:
        agent_id: whose data.
        seq: the journal position (``-1`` for the snapshot, ``0`` for the registration,
            ``-2`` for the journal as a whole).
    """

    def __init__(self, agent_id: str, seq: int, reason: str) -> None:
        where = {JOURNAL: "its journal", -1: "its snapshot", 0: "its registration"}.get(
            seq, f"journal entry {seq}"
        )
        super().__init__(f"agent {agent_id!r}: {where} is corrupt: {reason}")
        self.agent_id = agent_id
        self.seq = seq
        self.reason = reason


class SchemaMismatch(StorageError):
    """A stored state has a ``schema_version`` other than its spec's, and could not be
    brought to it: an older one with no upgrade hook, or a hook that failed (``why`` says
    how: it raised, the exception the ``__cause__``, or returned no stored agent); or a newer
    one (the store was written by a newer version of the spec: a downgrade, which no hook is
    asked to do)."""

    def __init__(
        self, agent_id: str, spec: str, stored: int, current: int, *, why: str | None = None
    ) -> None:
        if why is None and stored > current:
            text = (
                f"stored state has schema version {stored}, spec {spec!r} is at {current}:"
                " the store was written by a newer version of the spec (a downgrade, which"
                " no upgrade hook applies to)"
            )
        else:
            text = (
                f"stored state has schema version {stored}, spec {spec!r} is at {current},"
                f" and {why or 'no upgrade hook covers it'}"
            )
        super().__init__(f"agent {agent_id!r}: {text}")
        self.agent_id = agent_id
        self.spec = spec
        self.stored = stored
        self.current = current


class UnknownSpec(StorageError):
    """A stored agent runs a spec the runtime was not given."""

    def __init__(self, agent_id: str, spec: str) -> None:
        super().__init__(f"agent {agent_id!r} runs spec {spec!r}, which is not registered")
        self.agent_id = agent_id
        self.spec = spec


class RecoveryError(ExceptionGroup[StorageError]):
    """Recovery failed for some agents; each exception names its agent. No agent of the
    group was started (never a silent partial state).

    Its text says what failed (the first few of its exceptions), not only how many: it is
    what a log line or a caller's ``str(exc)`` shows.
    """

    def __str__(self) -> str:
        shown = [f"\n  - {e}" for e in self.exceptions[:_RECOVERY_SHOWN]]
        more = len(self.exceptions) - _RECOVERY_SHOWN
        if more > 0:
            shown.append(f"\n  - and {more} more")
        return super().__str__() + ":" + "".join(shown)


#: How many of a :class:`RecoveryError`'s exceptions its text shows.
_RECOVERY_SHOWN: Final = 5


def decode_registration(
    agent_id: str, fields: Mapping[str, object]
) -> AgentRecord | CorruptJournal:
    """Check a registration's stored ``fields`` (``spec``, ``schema_version``, ``initial``,
    ``parent_id``, ``tag``, ``stopped``) and build its :class:`AgentRecord`.

    Stores keep these fields in forms that do not enforce their types (a JSON object in
    Redis; SQLite columns, whose types are advisory), so each is checked here: a wrong type
    would otherwise surface later as a raw ``TypeError`` in the middle of recovery.

    Returns:
        The record, or a :class:`CorruptJournal` (``seq`` 0) saying what is wrong.
    """

    def bad(reason: str) -> CorruptJournal:
        return CorruptJournal(agent_id, 0, reason)

    missing = [
        k
        for k in ("spec", "schema_version", "initial", "parent_id", "tag", "stopped")
        if k not in fields
    ]
    if missing:
        return bad(f"no {', '.join(map(repr, missing))} field")
    spec, version, initial = fields["spec"], fields["schema_version"], fields["initial"]
    parent_id, tag, stopped = fields["parent_id"], fields["tag"], fields["stopped"]
    if not isinstance(spec, str) or not spec:
        return bad(f"spec {spec!r} is not a spec name")
    # bool is an int subclass; JSON's true is not a version.
    if not isinstance(version, int) or isinstance(version, bool):
        return bad(f"schema_version {version!r} is not an integer")
    if not isinstance(initial, str):
        return bad(f"initial agent {initial!r:.40} is not text")
    if parent_id is not None and not isinstance(parent_id, str):
        return bad(f"parent_id {parent_id!r} is not text")
    if tag is not None and not isinstance(tag, str):
        return bad(f"tag {tag!r} is not text")
    # The runtime links a child by both; one without the other is no link it can restore.
    if (parent_id is None) != (tag is None):
        return bad(f"parent_id {parent_id!r} and tag {tag!r}: one without the other")
    if not isinstance(stopped, bool | int) or stopped not in (0, 1):
        return bad(f"stopped {stopped!r} is not a flag")
    return AgentRecord(
        agent_id=agent_id,
        spec=spec,
        schema_version=version,
        initial=initial,
        parent_id=parent_id,
        tag=tag,
        stopped=bool(stopped),
    )


# The epoch seconds at which the years 1 and 10000 begin (the years a ``datetime`` holds are
# between): a wall-clock time outside them is no time a clock gave, and a timer due then
# fires at once or never.
_EARLIEST: Final = -62135596800.0
_END: Final = 253402300800.0


def epoch_seconds(value: object) -> float | None:
    """``value`` as wall-clock epoch seconds, or ``None`` if it is none: not a number (a
    ``bool`` is not one), not finite, or outside the years 1 to 9999.

    >>> epoch_seconds(1700000000), epoch_seconds(1e300), epoch_seconds(10**400)
    (1700000000.0, None, None)
    """
    seconds = _seconds(value)
    # NaN fails both comparisons.
    return seconds if seconds is not None and _EARLIEST <= seconds < _END else None


def due_seconds(value: object) -> float | None:
    """``value`` as the epoch seconds a timer is due at, or ``None`` if it is none: as
    :func:`epoch_seconds`, but with no upper bound, since a clock's time plus any finite
    delay (``schedule(1e12, ...)`` for "never") is a due time the runtime writes.

    >>> due_seconds(1e12), due_seconds(float("inf")), due_seconds(-1e300)
    (1000000000000.0, None, None)
    """
    seconds = _seconds(value)
    return seconds if seconds is not None and _EARLIEST <= seconds < math.inf else None


def _seconds(value: object) -> float | None:
    """``value`` as a float if it is a number (a ``bool`` is not one) a float can hold."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return float(value)
    except OverflowError:  # an integer past the largest float
        return None


def entry_time(at: object) -> float:
    """``at``, checked as a journal entry's time (what ``Storage.append`` is given, and
    what a store reads back).

    Raises:
        ValueError: ``at`` is not a finite number of seconds in the years 1 to 9999 (see
            :func:`epoch_seconds`).
    """
    seconds = epoch_seconds(at)
    if seconds is None:
        raise ValueError(
            f"a journal entry's time must be a finite number of epoch seconds in the years"
            f" 1 to 9999, not {at!r:.40}"
        )
    return seconds


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def decode_entry(
    agent_id: str,
    position: int,
    seq: object,
    source: object,
    signal_id: object,
    signal: object,
    at: object,
) -> JournalEntry:
    """A journal entry from its stored fields, each checked (stores do not enforce types).

    Raises:
        CorruptJournal: a field of the wrong type, or a time that is no wall-clock time
            (see :func:`entry_time`); ``position`` names the entry.
    """
    if (
        not _is_int(seq)
        or not isinstance(source, str)
        or not isinstance(signal_id, str)
        or not isinstance(signal, str)
    ):
        raise CorruptJournal(
            agent_id,
            position,
            f"not a journal entry (seq {seq!r:.20}, source {source!r:.40}, id {signal_id!r:.40})",
        )
    time = epoch_seconds(at)
    if time is None:
        raise CorruptJournal(
            agent_id,
            position,
            f"journal entry time {at!r:.20} is no number of epoch seconds in the years 1 to 9999",
        )
    assert isinstance(seq, int)
    return JournalEntry(
        agent_id=agent_id, seq=seq, source=source, signal_id=signal_id, signal=signal, at=time
    )


def check_sequence(
    agent_id: str,
    snapshot: SnapshotRecord | None,
    entries: Sequence[JournalEntry],
    last: int | None = None,
) -> None:
    """Check that ``entries`` (what ``Storage.load`` read for ``agent_id``) follow on from
    ``snapshot`` with no gap: their seqs are the snapshot's ``seq`` + 1 (1 without a
    snapshot), + 2, and so on, up to ``last``, the store's last seq for the agent, if it
    knows one.

    An agent is its snapshot plus every entry after it, so an entry missing (a row
    deleted, a key evicted, a snapshot gone whose entries compaction dropped, a
    snapshot's seq off) would otherwise be replayed as a silently different agent.

    Raises:
        CorruptJournal: an entry is missing (named by its seq), or the snapshot claims to
            come after the store's last entry (``seq`` -1).
    """
    after = 0 if snapshot is None else snapshot.seq
    if last is not None and after > last:
        raise CorruptJournal(
            agent_id, -1, f"it comes after entry {after}, but the journal ends at entry {last}"
        )
    expected = after + 1
    for entry in entries:
        if entry.seq != expected:
            if snapshot is None and expected == 1:
                why = "with no snapshot to cover the entries before it"
            else:
                why = f"after entry {expected - 1}"
            raise CorruptJournal(
                agent_id, expected, f"missing: the journal goes on at entry {entry.seq} {why}"
            )
        expected += 1
    if last is not None and expected <= last:
        raise CorruptJournal(
            agent_id, expected, f"missing: the journal ends at entry {expected - 1}, not {last}"
        )


def unreadable_format(where: str, found: object) -> StorageError:
    """The error for a store holding data in a format other than :data:`STORE_FORMAT`.

    Args:
        where: the store (a path, a server and prefix).
        found: the format it records (``1``: written before stores recorded one).
    """
    if found == 1:
        what = (
            "was written by an earlier jido (store format 1, which told signals apart by id alone)"
        )
    else:
        what = f"holds store format {found!r:.20}"
    return StorageError(
        f"{where} {what}; this jido reads format {STORE_FORMAT} only and does not convert "
        "stores: use a new one"
    )


def decode_snapshot(
    agent_id: str, seq: object, schema_version: object, agent: object, outbox: object
) -> SnapshotRecord:
    """A snapshot record from its stored fields, each checked.

    Raises:
        CorruptJournal: a field of the wrong type (position -1: the snapshot).
    """
    if not _is_int(seq) or not _is_int(schema_version):
        raise CorruptJournal(
            agent_id,
            -1,
            f"snapshot seq {seq!r:.20} / schema_version {schema_version!r:.20} is not an integer",
        )
    if not isinstance(agent, str) or not isinstance(outbox, str):
        raise CorruptJournal(agent_id, -1, "snapshot agent or outbox is not text")
    assert isinstance(seq, int)
    assert isinstance(schema_version, int)
    return SnapshotRecord(
        agent_id=agent_id, seq=seq, schema_version=schema_version, agent=agent, outbox=outbox
    )
