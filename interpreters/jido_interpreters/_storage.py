"""Durable storage for agents: a signal journal plus snapshots.

Because ``jido.step`` is deterministic, an agent *is* its last snapshot plus the signals it
accepted since: recovery loads the snapshot and replays the journal through the core. A
:class:`Storage` keeps, per agent:

* a registration (spec, parent, the initial agent),
* the journal: every accepted signal, in the order the agent handles them, each at most once
  per signal id (ids are deterministic, so a re-delivery after a crash is recognised),
* the latest snapshot: the agent after the journal entry ``seq``, plus what was outstanding
  then (effects in flight, armed timers, cron jobs).

Implementations: :class:`~jido_interpreters.SQLiteStorage` (embedded, the default) and
:class:`~jido_interpreters.RedisStorage`. Methods are blocking; the runtime calls them from
one worker thread, in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, final, runtime_checkable

import attrs

__all__ = [
    "AgentRecord",
    "CorruptJournal",
    "JournalEntry",
    "RecoveryError",
    "SchemaMismatch",
    "SnapshotRecord",
    "Storage",
    "StorageError",
    "UnknownSpec",
]


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
    """One accepted signal: ``seq`` orders an agent's entries; ``at`` is wall-clock seconds
    (epoch) when it was journalled; ``signal`` is its CloudEvents JSON."""

    agent_id: str
    seq: int
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
    """What the runtime needs from a store. All methods block; all are called in order
    from one thread."""

    def register(self, record: AgentRecord) -> None:
        """Add (or replace) an agent's registration."""
        ...

    def mark_stopped(self, agent_id: str) -> None:
        """The agent stopped for good; it will not be recovered."""
        ...

    def append(self, entries: Sequence[tuple[str, str, str, float]]) -> list[int | None]:
        """Journal ``(agent_id, signal_id, signal_json, at)`` entries in one durable batch.

        Returns:
            Each entry's sequence number, or ``None`` for a signal id the agent's journal
            already holds (a re-delivery: not journalled twice).
        """
        ...

    def snapshot(self, record: SnapshotRecord) -> None:
        """Store the agent's latest snapshot (older entries may then be compacted)."""
        ...

    def agents(self) -> list[AgentRecord]:
        """Every registration, in registration order."""
        ...

    def load(self, agent_id: str) -> tuple[SnapshotRecord | None, list[JournalEntry]]:
        """The latest snapshot and the journal entries after it, in order."""
        ...

    def close(self) -> None:
        """Release the store."""
        ...


class StorageError(Exception):
    """Stored data cannot be used as it is."""


class CorruptJournal(StorageError):
    """A journal entry or snapshot could not be decoded.

    Attributes:
        agent_id: whose data.
        seq: the journal position (``-1`` for the snapshot, ``0`` for the registration).
    """

    def __init__(self, agent_id: str, seq: int, reason: str) -> None:
        where = {-1: "its snapshot", 0: "its registration"}.get(seq, f"journal entry {seq}")
        super().__init__(f"agent {agent_id!r}: {where} is corrupt: {reason}")
        self.agent_id = agent_id
        self.seq = seq
        self.reason = reason


class SchemaMismatch(StorageError):
    """A stored state has an older ``schema_version`` and no upgrade hook was given."""

    def __init__(self, agent_id: str, spec: str, stored: int, current: int) -> None:
        super().__init__(
            f"agent {agent_id!r}: stored state has schema version {stored}, spec {spec!r} is at "
            f"{current}, and no upgrade hook covers it"
        )
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
    group was started (never a silent partial state)."""
