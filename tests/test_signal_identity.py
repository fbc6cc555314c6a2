"""A signal is its source and id together (CloudEvents: "producers MUST ensure that source +
id is unique for each distinct event"), in every journal and on every path that recognises
a signal it has seen.

Two webhooks that each number their events from 1 send distinct signals that share ids: a
durable runtime journals and handles both, as a runtime without storage does, and keeps
both through a restart. The same source and id again is a resend: journalled once, handled
once, and a ``call`` with it is answered with the first one's step done. The stores keep
pairs apart whatever characters they hold, and refuse stores written when the journal knew
an id alone. Runs on SQLite (a file) and on a real Redis server (``tests/redis_server.py``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.redis_server import redis_url
from tests.test_durable import (
    SPECS,
    Backend,
    Count,
    answering,
    backend,
    restored,
    start_system,
)
from tests.test_durable_core import open_store
from tests.test_durable_restart import BUMPED

from jido import FrozenMap, JsonValue, Signal
from jido_interpreters import (
    AgentOptions,
    AgentRecord,
    AsyncRuntime,
    RedisStorage,
    Restart,
    SnapshotRecord,
    SQLiteStorage,
    Storage,
    StorageError,
    UnknownAgent,
)

__all__ = ["backend", "open_store", "redis_url"]  # fixtures imported so pytest finds them

GITHUB = "/webhooks/github"
STRIPE = "/webhooks/stripe"


def webhook(source: str, id: str, by: int) -> Signal:
    """An event from a webhook that numbers its events itself."""
    return Signal(type="t.add", source=source, id=id, data={"by": by})


def _sources(backend: Backend, agent_id: str) -> list[tuple[str, str]]:
    """``(source, id)`` of each signal in the agent's journal, in order."""
    return [(json.loads(sig)["source"], i) for _, i, sig in backend.journal(agent_id)]


# ---------------------------------------------------------------------------- the runtime


def test_the_same_id_from_another_source_is_another_signal(backend: Backend) -> None:
    """Two sources' events with the same id are both journalled and handled (and so are
    what their steps emit: the tally hears of both), and both come back after a restart; a
    resend of either (same source, same id) is handled once, before the restart and after."""
    github, stripe = webhook(GITHUB, "1", 1), webhook(STRIPE, "1", 10)

    async def first() -> None:
        async with AsyncRuntime(SPECS, storage=backend.open()) as rt:
            await start_system(rt, "c1")
            assert (await rt.call("c1", github)).version == 1
            assert (await rt.call("c1", stripe)).version == 2
            await rt.cast("c1", github)  # resends
            assert (await rt.call("c1", stripe)).version == 2
            await rt.wait_idle(timeout=5)
            assert rt.state("c1") == Count(n=11, trail=("+1", "+10"))
            assert rt.state("tally") == Count(n=11, trail=("+1", "+10"))
            assert rt.statistics().dead_letters == 0

    async def second() -> None:
        async with restored(backend) as rt:
            assert rt.state("c1") == Count(n=11, trail=("+1", "+10"))
            assert rt.state("tally") == Count(n=11, trail=("+1", "+10"))
            await rt.cast("c1", stripe)  # a resend, after the restart
            await rt.cast("c1", webhook("/webhooks/gitlab", "1", 100))  # a third source
            await rt.wait_idle(timeout=5)
            assert rt.state("c1") == Count(n=111, trail=("+1", "+10", "+100"))
            assert rt.state("tally").n == 111

    asyncio.run(first())
    asyncio.run(second())
    assert _sources(backend, "c1") == [(GITHUB, "1"), (STRIPE, "1"), ("/webhooks/gitlab", "1")]
    assert len(backend.journal("tally")) == 3


def test_without_storage_every_signal_is_handled() -> None:
    """The reference: a runtime without storage (no journal) handles the same id from two
    sources as two signals too, and a resend again."""

    async def main() -> None:
        async with AsyncRuntime(SPECS) as rt:
            await start_system(rt, "c1")
            assert (await rt.call("c1", webhook(GITHUB, "1", 1))).version == 1
            assert (await rt.call("c1", webhook(STRIPE, "1", 10))).version == 2
            assert (await rt.call("c1", webhook(STRIPE, "1", 10))).version == 3
            await rt.wait_idle(timeout=5)
            assert rt.state("tally").n == 21

    asyncio.run(main())


def test_a_resent_call_is_answered_after_the_first_ones_step(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    """A call whose signal is a resend of one still queued is answered once that one has
    been handled (never with a value that lacks it), a running agent's and a hibernated
    one's alike; the resend is no dead letter and nothing is left over, and a DEBUG record
    names it."""
    caplog.set_level(logging.DEBUG, logger="jido.runtime")
    one, two = webhook(GITHUB, "1", 1), webhook(GITHUB, "2", 2)

    async def main() -> None:
        async with AsyncRuntime(SPECS, storage=backend.open()) as rt:
            await start_system(rt, "c1")
            rt.cast_nowait("c1", one)  # journalled with the call's resend, in one batch
            assert (await rt.call("c1", one)).state == Count(n=1, trail=("+1",))
            await rt.wait_idle(timeout=5)
            await rt.hibernate("c1")
            rt.cast_nowait("c1", two)  # parked for the thaw, with the resend after it
            assert (await rt.call("c1", two)).state == Count(n=3, trail=("+1", "+2"))
            await rt.wait_idle(timeout=5)
            assert rt.state("c1") == Count(n=3, trail=("+1", "+2"))
            assert rt.statistics().dead_letters == 0
            report = await rt.shutdown()
            assert not report.left

    asyncio.run(main())
    resends = [r for r in caplog.records if "journalled already" in r.getMessage()]
    noted = [
        (r.levelno, r.__dict__["jido"]["source"], r.__dict__["jido"]["signal"]) for r in resends
    ]
    assert noted == [(logging.DEBUG, GITHUB, "1"), (logging.DEBUG, GITHUB, "2")]


def test_a_resent_call_to_an_agent_that_stops_first_hears_that_it_stopped(
    backend: Backend,
) -> None:
    """An agent that stops before handling a signal makes a dead letter of it, once: its
    resend, queued behind it for a call, is no second dead letter, and the call raises
    ``UnknownAgent`` (it stopped before handling the signal) rather than return a value
    that lacks it."""
    one = webhook(GITHUB, "1", 1)

    async def main() -> None:
        async with AsyncRuntime(SPECS, storage=backend.open()) as rt:
            await start_system(rt, "c1")
            rt.cast_nowait("c1", "t.quit")  # all three journalled in one batch
            rt.cast_nowait("c1", one)
            with pytest.raises(UnknownAgent):
                await rt.call("c1", one)
            await rt.wait_idle(timeout=5)
            assert "c1" not in rt.agent_ids
            assert list(rt.dead_letters) == [("c1", one)]
            assert rt.statistics().dead_letters == 1

    asyncio.run(main())


def test_a_timer_is_settled_by_its_own_signal_only(backend: Backend) -> None:
    """A signal from elsewhere that happens to carry the id of an armed timer's signal is
    handled, and is not taken for the timer firing: recovery re-arms the timer, as live."""

    async def first() -> Signal:
        async with AsyncRuntime(SPECS, storage=backend.open()) as rt:
            await start_system(rt, "c1")
            await rt.cast("c1", "t.remind", {"delay": 3600, "by": 5})
            await rt.wait_idle(timeout=5)
            ((_, armed),) = rt._servers["c1"].outbox().schedules
            await rt.cast("c1", webhook("/elsewhere", armed.id, 1))
            await rt.wait_idle(timeout=5)
            assert rt.state("c1").n == 1
            assert [s for _, s in rt._servers["c1"].outbox().schedules] == [armed]
            return armed

    async def second(armed: Signal) -> None:
        async with restored(backend) as rt:
            assert rt.state("c1").n == 1
            assert [s for _, s in rt._servers["c1"].outbox().schedules] == [armed]

    asyncio.run(second(asyncio.run(first())))


def test_an_effect_is_settled_by_its_own_outcome_only(backend: Backend) -> None:
    """A signal from elsewhere whose id is that of an effect's outcome (``<key>:ok``) is
    handled, and is not taken for the outcome: the effect, still running when the runtime
    went down, is re-issued on recovery, and its real outcome handled too."""
    calls: list[JsonValue] = []

    async def first() -> None:
        started = asyncio.Event()

        async def never(args: FrozenMap[str, JsonValue]) -> str:
            started.set()
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

        rt = AsyncRuntime(SPECS, storage=backend.open(), effects={"lookup": never})
        try:
            await start_system(rt, "c1")
            await rt.cast("c1", "t.lookup")
            await asyncio.wait_for(started.wait(), timeout=5)
            (key,) = rt._servers["c1"].out_invokes
            fake = Signal(
                type="t.found", source="/elsewhere", id=f"{key}:ok", data={"result": "fake"}
            )
            await rt.cast("c1", fake)
            assert (await rt.call("c1", "t.add", {"by": 0})).state.trail == ("found:fake", "+0")
        finally:
            report = await rt.shutdown(deadline=0.05)
        assert report.cancelled_effects == 1

    async def second() -> None:
        async with restored(backend, effects=answering(calls)) as rt:
            assert rt.state("c1").trail == ("found:fake", "+0", "found:answer-0")

    asyncio.run(first())
    asyncio.run(second())
    assert calls == [0]


def test_two_crashes_on_signals_that_share_an_id_are_two_restarts(backend: Backend) -> None:
    """Under ``Restart`` the declared timer is registered again after each crash, with ids
    derived from the crashing signal: from its source as well as its id, so the timer of the
    second restart (a crash on another source's signal with the same id) is not taken for a
    re-delivery of the first restart's, and fires."""
    options = {"bumped": AgentOptions(error_policy=Restart(max_restarts=5, within=60.0))}

    async def main() -> None:
        async with AsyncRuntime([BUMPED], storage=backend.open(), options=options) as rt:
            await rt.start(BUMPED, "b")
            await rt.wait_until("b", lambda a: a.state.n == 10, timeout=5)
            await rt.cast("b", Signal(type="t.boom", source=GITHUB, id="1"))
            await rt.wait_until("b", lambda a: a.state.n == 20, timeout=5)
            await rt.cast("b", Signal(type="t.boom", source=STRIPE, id="1"))
            await rt.wait_until("b", lambda a: a.state.n == 30, timeout=5)
            assert rt.statistics().restarts == 2

    asyncio.run(main())


# ---------------------------------------------------------------------------- the stores

#: Pairs that one string would join alike were the parts simply concatenated, or put either
#: side of a separator (which either part may contain), or prefixed by a length in
#: characters rather than bytes.
TRICKY = [
    ("/a", "1"),
    ("/b", "1"),
    ("ab", "c"),
    ("a", "bc"),
    ("a:b", "c"),
    ("a", "b:c"),
    ("a\x00b", "c"),
    ("a", "b\x00c"),
    ("a\x1fb", "c"),
    ("a", "b\x1fc"),
    ("1:a", "b"),
    ("1", ":ab"),
    ("é", "1"),
    ("e\u0301", "1"),
    ("2:é", "x"),
    ("é", "2:éx"),
]


def test_a_journal_tells_signals_apart_by_source_and_id(
    open_store: Callable[[], Storage],
) -> None:
    """Each (source, id) pair is a signal of its own, however the two strings would join;
    the same pair again, in the same batch, a later one or a store opened later, is not
    journalled twice; entries come back with their source and id exactly."""
    store = open_store()
    entries = [("a", source, sid, "{}", 0.0) for source, sid in TRICKY]
    assert store.append(entries) == list(range(1, len(TRICKY) + 1))
    assert store.append([*entries[:2], ("a", GITHUB, "1", "{}", 0.0), entries[0]]) == [
        None,
        None,
        len(TRICKY) + 1,
        None,
    ]
    again = open_store()
    assert again.append(entries) == [None] * len(TRICKY)
    assert [(e.source, e.signal_id) for e in again.load("a")[1]] == [*TRICKY, (GITHUB, "1")]


def test_what_a_store_keeps_without_entries_is_source_and_id(
    open_store: Callable[[], Storage],
) -> None:
    """The signals remembered without a journal entry (an undelivered one; those a stopped
    agent of the same id saw) are pairs too: the same id from another source is new."""
    store = open_store()
    store.mark_undelivered("x", GITHUB, "1")
    assert store.append([("x", STRIPE, "1", "{}", 0.0), ("x", GITHUB, "1", "{}", 0.0)]) == [
        1,
        None,
    ]
    record = AgentRecord(agent_id="y", spec="counter", schema_version=1, initial="{}")
    store.register(record)
    assert store.append([("y", GITHUB, "1", "{}", 0.0)]) == [1]
    store.mark_stopped("y")
    store.register(record)
    assert open_store().append([("y", STRIPE, "1", "{}", 0.0), ("y", GITHUB, "1", "{}", 0.0)]) == [
        1,
        None,
    ]


def test_compaction_keeps_sources_and_ids(tmp_path: Path) -> None:
    """``SQLiteStorage(compact=True)`` keeps what it drops as (source, id) pairs: after
    compaction the same id from another source is new, the same pair is not."""
    store = SQLiteStorage(tmp_path / "agents.db", compact=True)
    try:
        assert store.append([("a", GITHUB, "1", "{}", 0.0)]) == [1]
        store.snapshot(
            SnapshotRecord(agent_id="a", seq=1, schema_version=1, agent="{}", outbox="{}")
        )
        assert store.load("a")[1] == []
        assert store.append([("a", STRIPE, "1", "{}", 0.0), ("a", GITHUB, "1", "{}", 0.0)]) == [
            2,
            None,
        ]
    finally:
        store.close()


# ---------------------------------------------------------------------------- older stores

_FORMAT_1 = """
CREATE TABLE agents (agent_id TEXT PRIMARY KEY, position INTEGER NOT NULL, spec TEXT NOT NULL,
    schema_version INTEGER NOT NULL, initial TEXT NOT NULL, parent_id TEXT, tag TEXT,
    stopped INTEGER NOT NULL DEFAULT 0);
CREATE TABLE journal (agent_id TEXT NOT NULL, seq INTEGER NOT NULL, signal_id TEXT NOT NULL,
    signal TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY (agent_id, seq),
    UNIQUE (agent_id, signal_id)) WITHOUT ROWID;
CREATE TABLE seen (agent_id TEXT NOT NULL, signal_id TEXT NOT NULL,
    PRIMARY KEY (agent_id, signal_id)) WITHOUT ROWID;
CREATE TABLE snapshots (agent_id TEXT PRIMARY KEY, seq INTEGER NOT NULL,
    schema_version INTEGER NOT NULL, agent TEXT NOT NULL, outbox TEXT NOT NULL);
INSERT INTO agents VALUES ('c1', 1, 'counter', 1, '{}', NULL, NULL, 0);
INSERT INTO journal VALUES ('c1', 1, '1', '{}', 0.0);
INSERT INTO seen VALUES ('c1', '7');
"""


def test_an_sqlite_store_of_another_format_is_refused(tmp_path: Path) -> None:
    """A file written when the journal knew an id alone (no recorded format), or one that
    records another format, is refused with a StorageError when opened, and left as it
    was; a new file records the format it is written in."""
    old = tmp_path / "old.db"
    with sqlite3.connect(old) as db:
        db.executescript(_FORMAT_1)
    db.close()
    with pytest.raises(StorageError, match=r"earlier jido \(store format 1.*format 2 only"):
        SQLiteStorage(old)
    with sqlite3.connect(old) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (0,)
        assert db.execute("SELECT signal_id FROM seen").fetchall() == [("7",)]
    db.close()
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("PRAGMA user_version = 7")
    db.close()
    with pytest.raises(StorageError, match="holds store format 7"):
        SQLiteStorage(other)
    SQLiteStorage(tmp_path / "new.db").close()
    with sqlite3.connect(tmp_path / "new.db") as db:
        assert db.execute("PRAGMA user_version").fetchone() == (2,)
    db.close()
    SQLiteStorage(tmp_path / "new.db").close()  # and opens again


def test_a_redis_prefix_of_another_format_is_refused(redis_url: str) -> None:
    """A prefix holding registrations with no recorded format (written when the id sets held
    bare ids), or another recorded format, is refused with a StorageError by reads and
    writes alike, nothing written; a new prefix records its format with its first write."""
    import redis

    client = redis.Redis.from_url(redis_url)
    base = f"identity-format:{time.time_ns()}:"
    try:
        client.hset(base + "old:agents", "c1", json.dumps({"spec": "counter"}))
        client.zadd(base + "old:order", {"c1": 1})
        client.sadd(base + "old:ids:c1", "1")
        client.set(base + "other:format", "9")
        for prefix, found in (("old:", "earlier jido"), ("other:", "holds store format 9")):
            store = RedisStorage(redis_url, prefix=base + prefix)
            try:
                with pytest.raises(StorageError, match=found):
                    store.agents()
                with pytest.raises(StorageError, match=found):
                    store.append([("c1", GITHUB, "2", "{}", 0.0)])
                with pytest.raises(StorageError, match=found):
                    store.mark_undelivered("c1", GITHUB, "3")
            finally:
                store.close()
        assert client.get(base + "old:format") is None
        assert client.exists(base + "old:j:c1") == 0
        assert client.smembers(base + "old:ids:c1") == {b"1"}

        async def restore_old() -> None:
            store = RedisStorage(redis_url, prefix=base + "old:")
            rt = AsyncRuntime(SPECS, storage=store)
            try:
                with pytest.raises(StorageError, match="earlier jido"):
                    await rt.restore()
            finally:
                await rt.shutdown()
                store.close()

        asyncio.run(restore_old())
        new = RedisStorage(redis_url, prefix=base + "new:")
        try:
            assert new.agents() == []
            assert new.append([("c1", GITHUB, "1", "{}", 0.0)]) == [1]
            assert client.get(base + "new:format") == b"2"
            assert new.agents() == []
        finally:
            new.close()
    finally:
        keys = list(client.scan_iter(match=base + "*"))
        if keys:
            client.delete(*keys)
        client.close()
