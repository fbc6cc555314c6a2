"""SQLiteStorage: the embedded default store (stdlib ``sqlite3``, WAL mode)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, final

from ._storage import (
    JOURNAL,
    STORE_FORMAT,
    AgentExists,
    AgentRecord,
    CorruptJournal,
    JournalEntry,
    SnapshotRecord,
    StorageError,
    StorageInUse,
    check_sequence,
    decode_entry,
    decode_registration,
    decode_snapshot,
    entry_time,
    unreadable_format,
)

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no claim is enforced
    fcntl = None  # type: ignore[assignment]

__all__ = ["SQLiteStorage"]

# A signal's identity is its source and id together: both are columns of the journal's
# unique key and of ``seen``'s, so no two (source, id) pairs can collide, whatever characters
# they hold. The id comes before the source in those keys: ids tell signals apart far more
# than sources do, and the look-ups in ``_known`` go by agent and id.
# ``PRAGMA user_version`` records the format (``STORE_FORMAT``); 0 is a new database, or
# one written before the format was recorded, when the journal's key was the id alone.
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS agents (
    agent_id TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    spec TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    initial TEXT NOT NULL,
    parent_id TEXT,
    tag TEXT,
    stopped INTEGER NOT NULL DEFAULT 0
)""",
    """CREATE TABLE IF NOT EXISTS journal (
    agent_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    source TEXT NOT NULL,
    signal_id TEXT NOT NULL,
    signal TEXT NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (agent_id, seq),
    UNIQUE (agent_id, signal_id, source)
) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS seen (
    agent_id TEXT NOT NULL,
    source TEXT NOT NULL,
    signal_id TEXT NOT NULL,
    PRIMARY KEY (agent_id, signal_id, source)
) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS snapshots (
    agent_id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    schema_version INTEGER NOT NULL,
    agent TEXT NOT NULL,
    outbox TEXT NOT NULL
)""",
)


_TABLES = ("agents", "journal", "seen", "snapshots")


def _damaged(exc: sqlite3.DatabaseError) -> bool:
    """Whether ``exc`` says the file's content is damaged (a table or column of the store
    missing, a page malformed), not that it is busy or that the disk failed."""
    if type(exc) is sqlite3.DatabaseError:  # "malformed", "not a database"
        return True
    return isinstance(exc, sqlite3.OperationalError) and str(exc).startswith(
        ("no such table", "no such column")
    )


def _text(raw: bytes) -> str | bytes:
    # TEXT that is not UTF-8 (a damaged file) is handed on as bytes, which decoding rejects
    # as a CorruptJournal naming the row; sqlite3's default would fail the whole query.
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return raw


def _rollback(db: sqlite3.Connection) -> None:
    """End the transaction that failed, if it is still open.

    A COMMIT that fails on a full disk or an I/O error may have rolled the transaction
    back already (SQLite does, for those): a ROLLBACK then raises "no transaction is
    active", which would replace the error that matters and skip what the caller must do
    after it. A ROLLBACK that fails as well leaves that first error to be raised."""
    if db.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            db.execute("ROLLBACK")


@final
class SQLiteStorage:
    """Agents' journals and snapshots in one SQLite database file.

    The database runs in WAL mode. Each :meth:`append` is one transaction, so the runtime's
    group commit turns many accepted signals into one fsync. ``synchronous="FULL"`` (the
    default) survives power loss; ``"NORMAL"`` survives a killed process and is faster.

    Args:
        path: the database file (created if missing), or ``":memory:"``.
        synchronous: SQLite's ``PRAGMA synchronous``.
        compact: drop journal entries covered by a snapshot when one is written. The
            journal is also what recognises a re-delivered signal (by its source and id), so
            the sources and ids of the entries dropped are kept in a table of their own
            (``seen``: no signals), and a re-delivery after compaction is still journalled,
            and handled, at most once. That table grows by one short row per compacted
            signal, forever: compaction bounds the space signals take, not the space their
            identities take.

    Raises:
        ValueError: ``synchronous`` is not one of SQLite's three levels.
        StorageError: the file holds a jido store of another format (one written before
            signals were told apart by source and id is not converted), or one with a table
            missing.
        sqlite3.Error: the file cannot be opened as a database.
        ValueError: ``path`` is no path (``None``, a number, an empty string).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: Literal["FULL", "NORMAL", "OFF"] = "FULL",
        compact: bool = False,
    ) -> None:
        if synchronous not in ("FULL", "NORMAL", "OFF"):
            raise ValueError(f"synchronous must be 'FULL', 'NORMAL' or 'OFF', not {synchronous!r}")
        given: object = path
        if not isinstance(given, str | os.PathLike) or not str(path):
            # ``str(None)`` would name a file "None"; "" is SQLite's temporary database, gone
            # when it is closed: no store for agents meant to last.
            raise ValueError(f"path must be a file path (or ':memory:'), not {path!r}")
        self.path = str(path)
        self._claim: int | None = None  # the lock file's descriptor, while claimed
        self._claimed = False
        # One connection, used from the runtime's storage thread (and, before the runtime
        # starts, from the caller's): guarded by a lock, so check_same_thread can be off.
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.text_factory = _text
        self._lock = threading.Lock()
        self._compact = compact
        with self._lock:
            try:
                # The format first: a file that is refused is left as it was, WAL mode too.
                self._schema()
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute(f"PRAGMA synchronous={synchronous}")
            except BaseException:
                self._db.close()  # nothing opened is left behind for the caller to close
                raise
            self._position = 0
            self._next: dict[str, int] = {}
            self._seen_agents: set[str] = set()
            self._cache()

    def _schema(self) -> None:
        """Create the tables in a new database, or check that an existing one holds this
        format (with ``_lock`` held). Only a new database is written to.

        Raises:
            StorageError: a table of this format is missing (damage); or another format,
                in particular jido's tables without a recorded format, written when the
                journal held each signal id once whatever its source: read as they are,
                they would drop signals of other sources sharing those ids, and let through
                re-deliveries of the ids in ``seen``.
        """
        found = self._format()
        if found == STORE_FORMAT:
            # A table dropped (a hand edit, a bad copy) would fail every later read with
            # sqlite3's own error, or pass for no data.
            have = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master")}
            missing = [t for t in _TABLES if t not in have]
            if missing:
                raise StorageError(
                    f"{self.path} is a damaged store: its {', '.join(missing)} table is missing"
                )
            return
        if found != 0:
            raise unreadable_format(self.path, found)
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            # Again, in the transaction: another process may have created the tables since.
            found = self._format()
            if found == 0:
                for statement in _SCHEMA:
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {STORE_FORMAT}")
            elif found != STORE_FORMAT:
                raise unreadable_format(self.path, found)
            db.execute("COMMIT")
        except BaseException:
            _rollback(db)
            raise

    def _format(self) -> int:
        """The format the database holds: what it records, else 1 if it has jido's tables
        (written before the format was recorded), else 0 (a new database)."""
        (version,) = self._db.execute("PRAGMA user_version").fetchone()
        if (
            version == 0
            and self._db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'journal'"
            ).fetchone()
        ):
            return 1
        return int(version)

    def _cache(self) -> None:
        """Read what is kept in memory from the file (with ``_lock`` held): at opening, and
        again on claiming it, as the previous owner may have written since."""
        (n,) = self._db.execute("SELECT COALESCE(MAX(position), 0) FROM agents").fetchone()
        self._position = int(n)
        self._next = {}
        # The agents with signals in ``seen`` (compacted, undelivered, or seen by a stopped
        # agent of the same id): for the others, the hot path of ``append`` need not look
        # there.
        self._seen_agents = {r[0] for r in self._db.execute("SELECT DISTINCT agent_id FROM seen")}

    def register(self, record: AgentRecord) -> None:
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute(
                    "SELECT stopped FROM agents WHERE agent_id = ?", (record.agent_id,)
                ).fetchone()
                if row is not None and row[0] != 1:
                    raise AgentExists(record.agent_id)
                # A new life under the id of a stopped agent (or of none: what is left there
                # is no agent's): the old journal and snapshot go, but not the signals it
                # saw (their sources and ids are kept in ``seen``, as compaction keeps them):
                # a signal the old one was sent is not handled by the new one when a recovery
                # delivers it again.
                moved = db.execute(
                    "INSERT OR IGNORE INTO seen (agent_id, source, signal_id) SELECT agent_id,"
                    " source, signal_id FROM journal WHERE agent_id = ?",
                    (record.agent_id,),
                ).rowcount
                for table in ("journal", "snapshots"):
                    db.execute(f"DELETE FROM {table} WHERE agent_id = ?", (record.agent_id,))
                self._next.pop(record.agent_id, None)
                position = self._position + 1
                db.execute(
                    "INSERT INTO agents (agent_id, position, spec, schema_version, initial,"
                    " parent_id, tag, stopped) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT(agent_id) DO UPDATE SET position=excluded.position,"
                    " spec=excluded.spec, schema_version=excluded.schema_version,"
                    " initial=excluded.initial, parent_id=excluded.parent_id, tag=excluded.tag,"
                    " stopped=excluded.stopped",
                    (
                        record.agent_id,
                        position,
                        record.spec,
                        record.schema_version,
                        record.initial,
                        record.parent_id,
                        record.tag,
                        int(record.stopped),
                    ),
                )
                db.execute("COMMIT")
            except BaseException:
                _rollback(db)
                raise
            self._position = position
            if moved > 0:
                self._seen_agents.add(record.agent_id)

    def mark_stopped(self, agent_id: str) -> None:
        with self._lock:
            self._db.execute("UPDATE agents SET stopped = 1 WHERE agent_id = ?", (agent_id,))

    def set_parent(self, agent_id: str, parent_id: str | None, tag: str | None) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE agents SET parent_id = ?, tag = ? WHERE agent_id = ?",
                (parent_id, tag, agent_id),
            )

    def _next_seq(self, agent_id: str) -> int:
        n = self._next.get(agent_id)
        if n is None:
            (m,) = self._db.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM journal WHERE agent_id = ?", (agent_id,)
            ).fetchone()
            (s,) = self._db.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM snapshots WHERE agent_id = ?", (agent_id,)
            ).fetchone()
            n = max(int(m), int(s)) + 1
        return n

    def append(self, entries: Sequence[tuple[str, str, str, str, float]]) -> list[int | None]:
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                out: list[int | None] | None = None
                if not self._seen_agents or self._seen_agents.isdisjoint(e[0] for e in entries):
                    # Optimistic: re-deliveries are rare, and the journal's unique index on
                    # (agent_id, signal_id, source) refuses one, so insert first and look the
                    # signals up only if that is refused (all of the batch rolls back to a
                    # savepoint).
                    db.execute("SAVEPOINT fresh")
                    try:
                        out = self._insert(entries, known=None)
                    except sqlite3.IntegrityError:
                        db.execute("ROLLBACK TO fresh")
                        self._next.clear()
                    db.execute("RELEASE fresh")
                if out is None:
                    out = self._insert(entries, known=self._known(entries))
                db.execute("COMMIT")
            except BaseException:
                self._next.clear()  # the numbers the batch took are free again
                _rollback(db)
                raise
        return out

    def _known(
        self, entries: Sequence[tuple[str, str, str, str, float]]
    ) -> set[tuple[str, str, str]]:
        """Which of the entries' ``(agent_id, source, signal_id)`` are journalled (or were,
        before compaction dropped them)."""
        db = self._db
        # One query per agent in the batch (chunked), not a statement per row: a statement
        # costs more than the row. It asks by id, and the sources that come back with each
        # id tell which of the entries are known.
        ids_by_agent: dict[str, list[str]] = {}
        for agent_id, _, signal_id, _, _ in entries:
            ids_by_agent.setdefault(agent_id, []).append(signal_id)
        known: set[tuple[str, str, str]] = set()
        for agent_id, ids in ids_by_agent.items():
            # ``seen`` holds signals kept without their entries, for the agents listed there.
            tables = ("journal", "seen") if agent_id in self._seen_agents else ("journal",)
            for i in range(0, len(ids), 500):
                chunk = ids[i : i + 500]
                marks = ",".join("?" * len(chunk))
                for table in tables:
                    rows = db.execute(
                        f"SELECT source, signal_id FROM {table} WHERE agent_id = ? AND"
                        f" signal_id IN ({marks})",
                        (agent_id, *chunk),
                    )
                    known.update((agent_id, r[0], r[1]) for r in rows)
        return known

    def _insert(
        self,
        entries: Sequence[tuple[str, str, str, str, float]],
        known: set[tuple[str, str, str]] | None,
    ) -> list[int | None]:
        """Insert the entries not in ``known`` (all of them if ``None``: the journal's unique
        index then refuses a duplicate) with their next sequence numbers."""
        rows = []
        out: list[int | None] = []
        for agent_id, source, signal_id, signal, at in entries:
            if known is not None:
                key = (agent_id, source, signal_id)
                if key in known:
                    out.append(None)
                    continue
                known.add(key)  # a duplicate within the batch, too
            seq = self._next_seq(agent_id)
            self._next[agent_id] = seq + 1
            rows.append((agent_id, seq, source, signal_id, signal, entry_time(at)))
            out.append(seq)
        self._db.executemany(
            "INSERT INTO journal (agent_id, seq, source, signal_id, signal, at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )
        return out

    def snapshot(self, record: SnapshotRecord) -> None:
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute(
                    "INSERT INTO snapshots (agent_id, seq, schema_version, agent, outbox)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT(agent_id) DO UPDATE SET seq=excluded.seq,"
                    " schema_version=excluded.schema_version, agent=excluded.agent,"
                    " outbox=excluded.outbox",
                    (
                        record.agent_id,
                        record.seq,
                        record.schema_version,
                        record.agent,
                        record.outbox,
                    ),
                )
                if self._compact:
                    # The dropped entries' sources and ids move to ``seen`` in the same
                    # transaction: a crash leaves either both tables as they were or both
                    # updated, never a signal forgotten (which would let a re-delivery be
                    # handled twice).
                    moved = db.execute(
                        "INSERT OR IGNORE INTO seen (agent_id, source, signal_id) SELECT"
                        " agent_id, source, signal_id FROM journal WHERE agent_id = ? AND"
                        " seq <= ?",
                        (record.agent_id, record.seq),
                    ).rowcount
                    db.execute(
                        "DELETE FROM journal WHERE agent_id = ? AND seq <= ?",
                        (record.agent_id, record.seq),
                    )
                else:
                    moved = 0
                db.execute("COMMIT")
            except BaseException:
                _rollback(db)
                raise
            if moved > 0:
                self._seen_agents.add(record.agent_id)

    def mark_undelivered(self, agent_id: str, source: str, signal_id: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO seen (agent_id, source, signal_id) VALUES (?, ?, ?)",
                (agent_id, source, signal_id),
            )
            self._seen_agents.add(agent_id)

    def agents(self) -> list[AgentRecord | CorruptJournal]:
        """Every registration in registration order; a row that cannot be used (a column of
        the wrong type or not UTF-8 text, as a damaged file or a hand edit leaves: SQLite
        does not enforce column types) is a :class:`CorruptJournal` in its place.

        Raises:
            StorageError: the registrations cannot be read at all (their table is missing,
                the file is malformed).
        """
        try:
            with self._lock:
                rows = self._db.execute(
                    "SELECT agent_id, spec, schema_version, initial, parent_id, tag, stopped"
                    " FROM agents ORDER BY position"
                ).fetchall()
        except sqlite3.DatabaseError as exc:
            if not _damaged(exc):
                raise
            raise StorageError(f"{self.path}: the registrations cannot be read ({exc})") from None
        out: list[AgentRecord | CorruptJournal] = []
        for agent_id, spec, version, initial, parent_id, tag, stopped in rows:
            if not isinstance(agent_id, str):
                name = (
                    agent_id.decode(errors="backslashreplace")
                    if isinstance(agent_id, bytes)
                    else str(agent_id)
                )
                out.append(CorruptJournal(name, 0, "its id is not UTF-8 text"))
                continue
            fields = {
                "spec": spec,
                "schema_version": version,
                "initial": initial,
                "parent_id": parent_id,
                "tag": tag,
                "stopped": stopped,
            }
            out.append(decode_registration(agent_id, fields))
        return out

    def load(self, agent_id: str) -> tuple[SnapshotRecord | None, list[JournalEntry]]:
        """See :meth:`Storage.load`; the entries are checked to follow on from the snapshot,
        with none missing (:func:`check_sequence`), and the snapshot not to claim entries
        beyond the journal's last.

        Raises:
            CorruptJournal: damaged or missing data, tables missing from the file included.
        """
        try:
            with self._lock:
                snap = self._db.execute(
                    "SELECT seq, schema_version, agent, outbox FROM snapshots WHERE agent_id = ?",
                    (agent_id,),
                ).fetchone()
                record = None if snap is None else decode_snapshot(agent_id, *snap)
                after = 0 if record is None else record.seq
                rows = self._db.execute(
                    "SELECT seq, source, signal_id, signal, at FROM journal WHERE agent_id = ?"
                    " AND seq > ? ORDER BY seq",
                    (agent_id, after),
                ).fetchall()
                # The journal's end, for a snapshot past it: with entries after the snapshot
                # it is the last of them; without, compaction may have dropped every entry,
                # and then it is unknown (a snapshot with nothing after it is the agent).
                (last,) = (
                    self._db.execute(
                        "SELECT MAX(seq) FROM journal WHERE agent_id = ?", (agent_id,)
                    ).fetchone()
                    if not rows
                    else (None,)
                )
        except sqlite3.DatabaseError as exc:
            if not _damaged(exc):
                raise
            raise CorruptJournal(agent_id, JOURNAL, f"it cannot be read ({exc})") from None
        # An entry's position is its seq; one whose seq is damaged is named by where it
        # stands (the entries after a snapshot follow on from its seq).
        entries = [
            decode_entry(agent_id, r[0] if type(r[0]) is int else after + i + 1, *r)
            for i, r in enumerate(rows)
        ]
        check_sequence(agent_id, record, entries, last if type(last) is int else None)
        return record, entries

    def claim(self) -> None:
        """Take the store for one runtime: an exclusive lock on ``<path>.lock`` (the path
        with symbolic links resolved, so every name of the file takes one lock), held until
        :meth:`release` (or :meth:`close`, or the process's end, however it ends). The
        runtime claims its store before its first write; reading needs no claim.

        Raises:
            StorageInUse: another process, or another runtime in this one, holds it.
            StorageError: the file is damaged (a table of the store missing).
        """
        if self._claimed:
            # One store object given to two runtimes: each would run its own copy of the
            # agents it recovers, as two processes on one file would.
            raise StorageInUse(self.path, f"{os.getpid()}, this one")
        if self.path == ":memory:" or fcntl is None:
            self._claimed = True
            return
        fd = os.open(os.path.realpath(self.path) + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
            os.close(fd)
            raise StorageInUse(self.path, holder) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._claim = fd
        try:
            with self._lock:
                self._cache()  # the previous owner may have written since the file was opened
        except BaseException as exc:
            self.release()
            if isinstance(exc, sqlite3.DatabaseError) and _damaged(exc):
                raise StorageError(f"{self.path} cannot be read ({exc})") from None
            raise
        self._claimed = True

    def release(self) -> None:
        """Give up the claim, if held."""
        self._claimed = False
        fd, self._claim = self._claim, None
        if fd is not None:
            os.close(fd)  # which drops the lock

    def close(self) -> None:
        self.release()
        with self._lock:
            self._db.close()
