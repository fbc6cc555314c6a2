"""Durable agents (issue 5): journal, snapshots, recovery by replay, and bad stored data.

Every test runs on both stores: :class:`SQLiteStorage` in a temporary file and
:class:`RedisStorage` on a real ``redis-server`` (see ``tests/redis_server.py``), each test
under its own key prefix. A "restart" is a shutdown followed by a fresh runtime over a freshly
opened store; a "crash" is a shutdown whose deadline is too short for the work in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import attrs
import pytest
from tests.redis_server import redis_url

import jido_interpreters._async as async_module
from jido import (
    CHILD_EXIT,
    CHILD_STARTED,
    ORPHANED,
    ActionResult,
    Agent,
    AgentSpec,
    Context,
    FrozenMap,
    JsonValue,
    NoParams,
    Route,
    Signal,
    action,
    adopt_child,
    cron,
    cron_cancel,
    emit_to,
    invoke,
    ok,
    schedule,
    spawn_agent,
    stop,
    stop_child,
)
from jido.serde import Codec
from jido_interpreters import (
    AgentExists,
    AgentOptions,
    AgentRecord,
    AsyncEffectHandler,
    AsyncRuntime,
    CorruptJournal,
    JournalEntry,
    RecoveryError,
    RedisStorage,
    RuntimeClosed,
    SchemaMismatch,
    SnapshotRecord,
    SQLiteStorage,
    Storage,
    SyncRuntime,
    UnknownAgent,
    UnknownSpec,
)
from jido_interpreters._storage import JOURNAL, StorageError

__all__ = ["redis_url"]  # the fixture, imported so pytest finds it here

# ---------------------------------------------------------------------------- the system


@attrs.frozen
class Count:
    """A counter whose trail records, in order, everything it handled."""

    n: int = 0
    trail: tuple[str, ...] = ()


@attrs.frozen
class By:
    """How much to add."""

    by: int = 1


@attrs.frozen
class Found:
    """An effect's answer."""

    result: JsonValue = None


@attrs.frozen
class Remind:
    """Add ``by`` after ``delay`` seconds."""

    delay: float = 1.0
    by: int = 1


@attrs.frozen
class Job:
    """A cron job: its id and expression."""

    job: str = "job"
    expression: str = "* * * * *"


@attrs.frozen
class Tag:
    """A child's tag, and the spec it runs."""

    tag: str = "kid"
    spec: str = "counter"


@attrs.frozen
class ChildInfo:
    """What lifecycle signals say about a child."""

    child_id: str = ""


def _plus(state: Count, by: int) -> Count:
    return attrs.evolve(state, n=state.n + by, trail=(*state.trail, f"+{by}"))


def _note(state: Count, entry: str) -> Count:
    return attrs.evolve(state, trail=(*state.trail, entry))


@action(params=By)
def add(state: Count, p: By, ctx: Context) -> ActionResult[Count]:
    """Count, and tell the tally."""
    return ok(_plus(state, p.by), emit_to("tally", "t.added", {"by": p.by}))


@action(params=By)
def tally(state: Count, p: By, ctx: Context) -> ActionResult[Count]:
    """Sum what the counters report."""
    return ok(_plus(state, p.by))


@action()
def lookup(state: Count, _: NoParams, ctx: Context) -> ActionResult[Count]:
    """Ask the ``lookup`` effect about the current count."""
    return ok(state, invoke("lookup", {"q": state.n}, on_ok="t.found", on_error="t.lost"))


@action(params=Found)
def found(state: Count, p: Found, ctx: Context) -> ActionResult[Count]:
    """Keep the effect's answer."""
    return ok(_note(state, f"found:{p.result}"))


@action()
def lost(state: Count, _: NoParams, ctx: Context) -> ActionResult[Count]:
    """Note a failed effect."""
    return ok(_note(state, "lost"))


@action(params=Remind)
def remind(state: Count, p: Remind, ctx: Context) -> ActionResult[Count]:
    """Arm a timer that adds later."""
    return ok(state, schedule(p.delay, "t.add", {"by": p.by}))


@action(params=Job)
def every(state: Count, p: Job, ctx: Context) -> ActionResult[Count]:
    """Register a cron job that ticks ``t.tick``."""
    return ok(state, cron(p.expression, "t.tick", {"job": p.job}, job_id=p.job))


@action(params=Job)
def cancel(state: Count, p: Job, ctx: Context) -> ActionResult[Count]:
    """Cancel a cron job."""
    return ok(state, cron_cancel(p.job))


@action(params=Job)
def tick(state: Count, p: Job, ctx: Context) -> ActionResult[Count]:
    """Note a cron tick."""
    return ok(_note(state, f"tick:{p.job}"))


@action()
def quit_(state: Count, _: NoParams, ctx: Context) -> ActionResult[Count]:
    """Stop for good."""
    return ok(state, stop("done"))


@action(params=Tag)
def hire(state: Count, p: Tag, ctx: Context) -> ActionResult[Count]:
    """Spawn a child (a counter unless told otherwise)."""
    return ok(state, spawn_agent(p.spec, p.tag))


@action(params=Tag)
def fire(state: Count, p: Tag, ctx: Context) -> ActionResult[Count]:
    """Stop a child."""
    return ok(state, stop_child(p.tag))


@action(params=ChildInfo)
def lifecycle(state: Count, p: ChildInfo, ctx: Context) -> ActionResult[Count]:
    """Note a child starting or exiting."""
    kind = "?" if ctx.signal is None else ctx.signal.type.rsplit(".", 1)[-1]
    return ok(_note(state, f"{kind}:{p.child_id}"))


@attrs.frozen
class ParentInfo:
    """What ``jido.agent.orphaned`` says about the parent."""

    parent_id: str = ""


@action(params=ParentInfo)
def orphaned(state: Count, p: ParentInfo, ctx: Context) -> ActionResult[Count]:
    """Note losing the parent."""
    return ok(_note(state, f"orphaned:{p.parent_id}"))


COUNTER = AgentSpec(
    name="counter",
    state=Count,
    routes=[
        Route(pattern="t.add", target=add),
        Route(pattern="t.lookup", target=lookup),
        Route(pattern="t.found", target=found),
        Route(pattern="t.lost", target=lost),
        Route(pattern="t.remind", target=remind),
        Route(pattern="t.every", target=every),
        Route(pattern="t.cancel", target=cancel),
        Route(pattern="t.tick", target=tick),
        Route(pattern="t.quit", target=quit_),
        Route(pattern=ORPHANED, target=orphaned),
    ],
)
TALLY = AgentSpec(name="tally", state=Count, routes=[Route(pattern="t.added", target=tally)])
BOSS = AgentSpec(
    name="boss",
    state=Count,
    routes=[
        Route(pattern="t.hire", target=hire),
        Route(pattern="t.fire", target=fire),
        Route(pattern=CHILD_STARTED, target=lifecycle),
        Route(pattern=CHILD_EXIT, target=lifecycle),
        Route(pattern="t.quit", target=quit_),
    ],
)
SPECS = (COUNTER, TALLY, BOSS)


def answering(calls: list[JsonValue]) -> dict[str, AsyncEffectHandler]:
    """A ``lookup`` effect that answers at once and records each call's ``q``."""

    async def lookup(args: FrozenMap[str, JsonValue]) -> str:
        calls.append(args["q"])
        return f"answer-{args['q']}"

    return {"lookup": lookup}


async def start_system(rt: AsyncRuntime, *counters: str) -> None:
    """The tally, then the named counters."""
    await rt.start(TALLY, "tally")
    for c in counters:
        await rt.start(COUNTER, c)


def agents_of(rt: AsyncRuntime) -> dict[str, Agent[Any]]:
    """Every running agent, by id."""
    return {i: rt.agent(i) for i in rt.agent_ids}


async def eventually(cond: Callable[[], bool], what: str, timeout: float = 5.0) -> float:
    """Await ``cond()`` within a bounded deadline; returns how long it took (seconds)."""
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    while not cond():
        if loop.time() - t0 > timeout:
            raise AssertionError(f"not within {timeout}s: {what}")
        await asyncio.sleep(0.005)
    return loop.time() - t0


def ext(i: int | str, type: str = "t.add", data: object = None) -> Signal:
    """An external signal with a deterministic id."""
    return Signal(type=type, source="/test", id=f"x-{i}", data=data)


# ---------------------------------------------------------------------------- stores


@attrs.define
class Backend:
    """One store, reopened at will (a fresh ``Storage`` per runtime, as after a restart), and
    the means to damage what it holds."""

    kind: Literal["sqlite", "redis"]
    path: Path
    url: str = ""
    prefix: str = ""
    compact: bool = False  # SQLite only: drop the entries a snapshot covers
    opened: list[Storage] = attrs.Factory(list)

    def open(self) -> Storage:
        """A new connection to the same data."""
        store: Storage
        if self.kind == "sqlite":
            store = SQLiteStorage(self.path, compact=self.compact)
        else:
            store = RedisStorage(self.url, prefix=self.prefix)
        self.opened.append(store)
        return store

    def close(self) -> None:
        """Close every connection opened."""
        for store in self.opened:
            store.close()
        self.opened.clear()

    def journal(self, agent_id: str) -> list[tuple[int, str, str]]:
        """The whole journal of an agent, ``(seq, signal_id, signal)``, whatever the snapshots."""
        if self.kind == "sqlite":
            with _sqlite(self.path) as db:
                rows = db.execute(
                    "SELECT seq, signal_id, signal FROM journal WHERE agent_id = ? ORDER BY seq",
                    (agent_id,),
                ).fetchall()
            return [(int(s), str(i), str(g)) for s, i, g in rows]
        with _redis(self.url) as r:
            out = []
            for raw in r.lrange(f"{self.prefix}j:{agent_id}", 0, -1):
                seq, _, sid, sig, _ = json.loads(raw)
                out.append((int(seq), str(sid), str(sig)))
            return out

    def corrupt_entry(self, agent_id: str, seq: int, mode: str) -> None:
        """Damage journal entry ``seq`` of ``agent_id`` (see ``ENTRY_DAMAGE``)."""
        original = {s: g for s, _, g in self.journal(agent_id)}[seq]
        text: str | bytes
        match mode:
            case "not-json":
                text = "this is not JSON"
            case "truncated":
                text = original[: len(original) // 2]
            case "not-a-signal":
                text = '{"id": "x", "what": 42}'
            case "another-id":
                raw = json.loads(original)
                text = json.dumps({**raw, "id": "someone-else"})
            case "binary":
                text = b"\xff\xfe\x00\x13garbage"
            case "bad-utf8":
                text = "bad-utf8"  # written below, per store
            case _:
                raise AssertionError(mode)
        if self.kind == "sqlite":
            with _sqlite(self.path) as db:
                if mode == "bad-utf8":  # TEXT that is not UTF-8, as a flipped bit would leave
                    cur = db.execute(
                        "UPDATE journal SET signal = CAST(X'7B22FFFE' AS TEXT)"
                        " WHERE agent_id = ? AND seq = ?",
                        (agent_id, seq),
                    )
                else:
                    cur = db.execute(
                        "UPDATE journal SET signal = ? WHERE agent_id = ? AND seq = ?",
                        (text, agent_id, seq),
                    )
                assert cur.rowcount == 1
            return
        with _redis(self.url) as r:
            key = f"{self.prefix}j:{agent_id}"
            index = next(
                k for k, raw in enumerate(r.lrange(key, 0, -1)) if json.loads(raw)[0] == seq
            )
            if isinstance(text, bytes):  # the list element itself is garbage
                r.lset(key, index, text)
            elif mode == "bad-utf8":  # a truncated element, cut inside a UTF-8 sequence
                r.lset(key, index, r.lindex(key, index)[:9] + b"\xe2\x82")
            else:
                _, source, sid, _, at = json.loads(r.lindex(key, index))
                r.lset(key, index, json.dumps([seq, source, sid, text, at]))

    def corrupt_registration(self, agent_id: str, mode: str) -> None:
        """Damage the agent's registration (see ``REGISTRATION_DAMAGE``; the ``redis-*``
        modes damage what only Redis has: a JSON record, and the order beside it)."""
        if self.kind == "sqlite":
            sql = {
                "wrong-type": "UPDATE agents SET schema_version = 'one' WHERE agent_id = ?",
                "bad-utf8": "UPDATE agents SET spec = CAST(X'FFFE' AS TEXT) WHERE agent_id = ?",
                "half-link": "UPDATE agents SET parent_id = 'tally' WHERE agent_id = ?",
                "initial-not-json": "UPDATE agents SET initial = 'garbage' WHERE agent_id = ?",
            }[mode]
            with _sqlite(self.path) as db:
                assert db.execute(sql, (agent_id,)).rowcount == 1
            return
        with _redis(self.url) as r:
            key = f"{self.prefix}agents"
            record = json.loads(r.hget(key, agent_id))
            value: str | bytes
            match mode:
                case "wrong-type":
                    value = json.dumps({**record, "schema_version": "one"})
                case "bad-utf8":
                    value = b"\xff\xfe" + json.dumps(record).encode()
                case "half-link":
                    value = json.dumps({**record, "parent_id": "tally"})
                case "initial-not-json":
                    value = json.dumps({**record, "initial": "garbage"})
                case "redis-not-json":
                    value = json.dumps(record)[:-5]
                case "redis-not-an-object":
                    value = json.dumps([record])
                case "redis-missing-field":
                    value = json.dumps({k: v for k, v in record.items() if k != "spec"})
                case "redis-no-record":
                    assert r.hdel(key, agent_id) == 1
                    return
                case "redis-unordered":
                    assert r.zrem(f"{self.prefix}order", agent_id) == 1
                    return
                case _:
                    raise AssertionError(mode)
            r.hset(key, agent_id, value)

    def unmark_stopped(self, agent_id: str) -> None:
        """Lose the agent's ``stopped`` mark, and only that (as a crash right before the
        mark was written would)."""
        if self.kind == "sqlite":
            with _sqlite(self.path) as db:
                sql = "UPDATE agents SET stopped = 0 WHERE agent_id = ?"
                assert db.execute(sql, (agent_id,)).rowcount == 1
            return
        with _redis(self.url) as r:
            key = f"{self.prefix}agents"
            record = json.loads(r.hget(key, agent_id))
            r.hset(key, agent_id, json.dumps({**record, "stopped": False}))

    def drop_registration(self, agent_id: str) -> None:
        """Lose the agent's registration, and only that (its journal and snapshot stay)."""
        if self.kind == "sqlite":
            with _sqlite(self.path) as db:
                sql = "DELETE FROM agents WHERE agent_id = ?"
                assert db.execute(sql, (agent_id,)).rowcount == 1
            return
        with _redis(self.url) as r:
            assert r.hdel(f"{self.prefix}agents", agent_id) == 1
            assert r.zrem(f"{self.prefix}order", agent_id) == 1

    def corrupt_snapshot(self, agent_id: str, part: Literal["agent", "record", "id"]) -> None:
        """Damage the agent's snapshot: the stored agent, the record around it, or the
        stored agent's id (a well-formed agent, but not this one)."""
        if part == "id":
            self._rename_snapshot(agent_id)
            return
        if self.kind == "sqlite":
            column = "agent" if part == "agent" else "outbox"
            with _sqlite(self.path) as db:
                cur = db.execute(
                    f"UPDATE snapshots SET {column} = ? WHERE agent_id = ?",
                    ('{"spec": "counter", "state": ', agent_id),
                )
                assert cur.rowcount == 1
            return
        with _redis(self.url) as r:
            key = f"{self.prefix}snap:{agent_id}"
            raw = r.get(key)
            assert raw is not None
            if part == "agent":
                record = json.loads(raw)
                record["agent"] = '{"spec": "counter", "state": '
                r.set(key, json.dumps(record))
            else:
                r.set(key, b"\x00 not a snapshot record")

    def _rename_snapshot(self, agent_id: str) -> None:
        def renamed(agent: str) -> str:
            raw = json.loads(agent)
            raw["id"] = f"not-{agent_id}"
            return json.dumps(raw)

        if self.kind == "sqlite":
            with _sqlite(self.path) as db:
                (agent,) = db.execute(
                    "SELECT agent FROM snapshots WHERE agent_id = ?", (agent_id,)
                ).fetchone()
                db.execute(
                    "UPDATE snapshots SET agent = ? WHERE agent_id = ?", (renamed(agent), agent_id)
                )
            return
        with _redis(self.url) as r:
            key = f"{self.prefix}snap:{agent_id}"
            record = json.loads(r.get(key) or b"")
            record["agent"] = renamed(record["agent"])
            r.set(key, json.dumps(record))


class _sqlite:
    """A plain sqlite3 connection to the store's file, committed and closed on exit."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path)

    def __enter__(self) -> sqlite3.Connection:
        return self.db

    def __exit__(self, *exc: object) -> None:
        self.db.commit()
        self.db.close()


class _redis:
    """A plain Redis client, closed on exit."""

    def __init__(self, url: str) -> None:
        import redis

        self.r: Any = redis.Redis.from_url(url)

    def __enter__(self) -> Any:
        return self.r

    def __exit__(self, *exc: object) -> None:
        self.r.close()


_prefixes = itertools.count()


@pytest.fixture(params=["sqlite", "redis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """The same test on SQLite (a file) and on Redis (a key prefix of its own)."""
    if request.param == "sqlite":
        b = Backend(kind="sqlite", path=tmp_path / "agents.db")
    else:
        url = request.getfixturevalue("redis_url")
        prefix = f"jido-test:{time.time_ns()}:{next(_prefixes)}:"
        b = Backend(kind="redis", path=tmp_path, url=url, prefix=prefix)
    yield b
    b.close()
    if b.kind == "redis":
        with _redis(b.url) as r:
            keys = list(r.scan_iter(match=f"{b.prefix}*"))
            if keys:
                r.delete(*keys)


@contextlib.asynccontextmanager
async def restored(
    backend: Backend, specs: tuple[AgentSpec[Any], ...] = SPECS, **kw: Any
) -> AsyncIterator[AsyncRuntime]:
    """A fresh runtime over the store, restored and idle; shut down on leaving."""
    rt = AsyncRuntime(specs, storage=backend.open(), **kw)
    try:
        await rt.restore()
        await rt.wait_idle(timeout=5)
        yield rt
    finally:
        await rt.shutdown()


# ---------------------------------------------------------------------------- recovery


def test_acknowledged_casts_and_calls_survive_a_shutdown(backend: Backend) -> None:
    """Signals acknowledged by cast and call survive a shutdown: restore() gives agents equal
    (==) to those before, which then keep working."""
    calls: list[JsonValue] = []

    async def first() -> dict[str, Agent[Any]]:
        async with AsyncRuntime(SPECS, storage=backend.open(), effects=answering(calls)) as rt:
            await start_system(rt, "c1", "c2")
            for i in range(10):
                await rt.cast("c1", "t.add", {"by": i})
                after = await rt.call("c2", "t.add", {"by": 10 + i})
                assert after.state.n == sum(range(10, 11 + i))
            await rt.call("c1", "t.lookup")
            await rt.wait_idle(timeout=5)
            return agents_of(rt)

    async def second(before: dict[str, Agent[Any]]) -> None:
        async with restored(backend, effects=answering(calls)) as rt:
            assert rt.agent_ids == ("tally", "c1", "c2")
            assert agents_of(rt) == before
            await rt.cast("c1", "t.add", {"by": 100})
            after = await rt.call("c2", "t.add", {"by": 1000})
            assert after.state.n == before["c2"].state.n + 1000
            await rt.wait_idle(timeout=5)
            assert rt.state("c1").n == before["c1"].state.n + 100
            assert rt.state("tally").n == before["tally"].state.n + 1100

    before = asyncio.run(first())
    assert before["c1"].state.trail[-1] == "found:answer-45"
    assert before["tally"].state.n == sum(range(20))
    asyncio.run(second(before))
    assert calls == [45]  # the finished effect was not run again on recovery


def test_restore_after_snapshots_every_5(backend: Backend) -> None:
    """With ``snapshot_every=5`` snapshots are written, and snapshot + journal tail restore
    agents equal to those before and to a SyncRuntime run of the same signals, twice over."""
    first_batch = [ext(i, data={"by": i}) for i in range(23)]
    second_batch = [ext(i, data={"by": i}) for i in range(23, 32)]

    async def session(batch: list[Signal], *, fresh: bool) -> dict[str, Agent[Any]]:
        # Periodic snapshots only: none at shutdown.
        rt = AsyncRuntime(
            SPECS, storage=backend.open(), snapshot_every=5, snapshot_at_shutdown=False
        )
        try:
            if fresh:
                await start_system(rt, "c1")
            else:
                assert await rt.restore() == ("tally", "c1")
            for sig in batch:
                await rt.cast("c1", sig)
            await rt.wait_idle(timeout=5)
            return agents_of(rt)
        finally:
            await rt.shutdown()

    async def reload() -> dict[str, Agent[Any]]:
        async with restored(backend, snapshot_every=5, snapshot_at_shutdown=False) as rt:
            return agents_of(rt)

    before = asyncio.run(session(first_batch, fresh=True))
    inspect = backend.open()
    snap, tail = inspect.load("c1")
    assert snap is not None
    assert snap.seq == 20  # snapshots at 5, 10, 15, 20
    assert [e.seq for e in tail] == [21, 22, 23]
    assert asyncio.run(reload()) == before

    before = asyncio.run(session(second_batch, fresh=False))
    snap, tail = inspect.load("c1")
    assert snap is not None
    assert snap.seq == 30
    assert [e.signal_id for e in tail] == ["x-30", "x-31"]
    assert asyncio.run(reload()) == before

    sync = SyncRuntime(SPECS)
    sync.start(TALLY, "tally")
    sync.start(COUNTER, "c1")
    for sig in first_batch + second_batch:
        sync.send("c1", sig)
    assert {i: sync.agent(i) for i in sync.agent_ids} == before


def test_snapshots_keep_up_with_frequent_restarts(backend: Backend) -> None:
    """The tail replayed on recovery counts toward the next snapshot: restarted every 3
    signals with ``snapshot_every=5``, the runtime still snapshots every 5 journal entries."""

    async def session(k: int) -> None:
        # Periodic snapshots only: none at shutdown.
        rt = AsyncRuntime(
            SPECS, storage=backend.open(), snapshot_every=5, snapshot_at_shutdown=False
        )
        try:
            if k == 0:
                await start_system(rt, "c1")
            else:
                await rt.restore()
            for i in range(3):
                await rt.cast("c1", ext(f"{k}-{i}", data={"by": 1}))
            await rt.wait_idle(timeout=5)
        finally:
            await rt.shutdown()

    for k in range(4):
        asyncio.run(session(k))
    snap, tail = backend.open().load("c1")
    assert snap is not None
    assert snap.seq == 10  # 12 entries: snapshots after 5 and 10, across the restarts
    assert [e.seq for e in tail] == [11, 12]


def test_hibernate_and_thaw(backend: Backend) -> None:
    """A hibernated agent leaves memory (unknown to ``agent`` until thawed), comes back
    equal, keeps its pending timer, and keeps working."""

    async def main() -> None:
        async with AsyncRuntime(SPECS, storage=backend.open()) as rt:
            await start_system(rt, "c1", "c2")
            for i in range(4):
                await rt.cast("c1", "t.add", {"by": i})
            await rt.cast("c1", "t.remind", {"delay": 0.2, "by": 50})
            await rt.wait_idle(timeout=5)
            before = rt.agent("c1")
            await rt.hibernate("c1")
            assert rt.agent_ids == ("tally", "c2")
            with pytest.raises(UnknownAgent):
                rt.agent("c1")
            assert await rt.thaw("c1") == before
            assert rt.agent("c1") == before
            await rt.wait_until("c1", lambda a: a.state.n == 6 + 50)  # the reminder, after thaw
            await rt.cast("c1", "t.add", {"by": 1000})
            await rt.wait_idle(timeout=5)
            assert rt.state("c1").n == 1056
            assert rt.state("tally").n == 1056
            with pytest.raises(UnknownAgent):
                await rt.thaw("nobody")

    asyncio.run(main())


def test_a_cast_or_call_thaws_a_hibernated_agent(backend: Backend) -> None:
    """Hibernation saves memory; it is not a stop. ``cast``, ``cast_nowait`` and ``call`` to a
    hibernated agent thaw it first, transparently: the signals are handled once each, in the
    order sent, the call's reply is the agent right after its own step, and nothing becomes
    a dead letter. Back in memory, it hibernates and thaws again as often as asked."""

    async def main() -> None:
        async with AsyncRuntime(SPECS, storage=backend.open()) as rt:
            await start_system(rt, "c1")
            await rt.cast("c1", "t.add", {"by": 1})
            await rt.wait_idle(timeout=5)
            await rt.hibernate("c1")
            assert "c1" not in rt.agent_ids
            await rt.cast("c1", "t.add", {"by": 2})
            rt.cast_nowait("c1", "t.add", {"by": 3})
            after = await rt.call("c1", "t.add", {"by": 4})
            assert after.state == Count(n=10, trail=("+1", "+2", "+3", "+4"))
            await rt.wait_idle(timeout=5)
            assert rt.agent_ids == ("tally", "c1")
            assert rt.state("c1") == after.state
            assert rt.state("tally").n == 10
            for round_ in range(3):  # and again: each thaw hands over what it was sent
                await rt.hibernate("c1")
                again = await rt.call("c1", "t.add", {"by": 100})
                assert again.state.n == 110 + 100 * round_
            await rt.wait_idle(timeout=5)
            assert rt.state("tally").n == 310
            assert rt.statistics().dead_letters == 0
            assert not rt.problems
        assert [s for s, _, _ in backend.journal("c1")] == list(range(1, 8))  # each once

    asyncio.run(main())


def test_emits_to_a_hibernated_agent_thaw_it(backend: Backend) -> None:
    """Signals other agents emit to a hibernated agent thaw it too (no dead letter, no
    "no running agent" problem); so does the re-delivery of a signal it already handled,
    which is still handled once."""

    async def main() -> None:
        async with AsyncRuntime(SPECS, storage=backend.open()) as rt:
            await start_system(rt, "c1", "c2")
            await rt.cast("c1", "t.add", {"by": 1})
            await rt.wait_idle(timeout=5)
            await rt.hibernate("tally")
            await rt.cast("c1", "t.add", {"by": 2})
            await rt.cast("c2", "t.add", {"by": 3})
            await rt.wait_idle(timeout=5)
            assert rt.state("tally") == Count(n=6, trail=("+1", "+2", "+3"))
            await rt.hibernate("c1")
            sig = ext("again", data={"by": 5})
            await rt.cast("c2", sig)
            await rt.wait_idle(timeout=5)
            await rt.hibernate("c2")
            assert (await rt.call("c2", sig)).state.n == 8  # a re-delivery: answered, not redone
            await rt.wait_idle(timeout=5)
            assert rt.state("c2").n == 8
            assert rt.state("tally").n == 11
            assert rt.statistics().dead_letters == 0
            assert not rt.problems

    asyncio.run(main())


def test_a_hibernated_agent_keeps_its_timers(backend: Backend) -> None:
    """A hibernated agent's own schedule falling due thaws it and is handled once; so does a
    cron tick."""
    every_second = "* * * * * *"

    async def main() -> None:
        async with AsyncRuntime(SPECS, storage=backend.open()) as rt:
            await start_system(rt, "c1", "c2")
            await rt.cast("c1", "t.remind", {"delay": 0.3, "by": 50})
            await rt.cast("c2", "t.every", {"job": "beat", "expression": every_second})
            await rt.wait_idle(timeout=5)
            await rt.hibernate("c1")
            await rt.hibernate("c2")
            assert rt.agent_ids == ("tally",)
            await eventually(lambda: "c1" in rt.agent_ids, "the reminder thawing c1")
            await rt.wait_idle(timeout=5)
            assert rt.state("c1") == Count(n=50, trail=("+50",))
            assert not rt._servers["c1"].timers, "the fired schedule was armed again"
            await eventually(lambda: "c2" in rt.agent_ids, "a cron tick thawing c2")
            await rt.wait_until("c2", lambda a: "tick:beat" in a.state.trail)  # the tick handled
            assert set(rt._servers["c2"].crons) == {"beat"}  # and it keeps ticking

    asyncio.run(main())


def test_hibernating_as_a_cron_jobs_last_tick_falls_due(backend: Backend) -> None:
    """An agent hibernated when its cron job's last tick is due by the wall clock but not yet
    fired hibernates (it failed looking for a tick after that one, with the agent's sensors
    already handed over): the tick still comes when the job's timer would have fired, and
    thaws the agent, which finds the job over (no problem)."""
    now = datetime(2026, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC)  # the tick in 0.5 s

    async def main() -> None:
        nonlocal now
        async with AsyncRuntime(SPECS, storage=backend.open(), clock=lambda: now) as rt:
            await start_system(rt, "c1")
            # Its only tick: 2027-01-01 00:00:00 (seconds 0, year 2027).
            await rt.call("c1", "t.every", {"job": "last", "expression": "0 0 1 1 * 0 2027"})
            now = datetime(2027, 1, 1, 0, 0, 1, tzinfo=UTC)  # due, its timer not yet fired
            await rt.hibernate("c1")
            assert rt.hibernated_ids == ("c1",)
            await eventually(lambda: "c1" in rt.agent_ids, "the last tick thawing c1")
            await rt.wait_until("c1", lambda a: a.state.trail == ("tick:last",))
            assert not rt._servers["c1"].crons  # over
            assert not rt.problems

    asyncio.run(main())


def test_stopping_a_hibernated_agent_or_its_parent(backend: Backend) -> None:
    """A hibernated agent keeps its links: ``StopChild`` and ``stop`` stop it where it is (its
    parent hears of it; it stays stopped, also after a restart), and a hibernated parent is
    thawed by the exit of a child."""

    async def first() -> None:
        async with AsyncRuntime(SPECS, storage=backend.open()) as rt:
            await start_system(rt)
            await rt.start(BOSS, "boss")
            for tag in ("a", "b", "c"):
                await rt.cast("boss", "t.hire", {"tag": tag})
            await rt.wait_idle(timeout=5)
            await rt.hibernate("boss/a")
            await rt.hibernate("boss/b")
            assert rt.children("boss") == {"a": "boss/a", "b": "boss/b", "c": "boss/c"}
            await rt.cast("boss", "t.fire", {"tag": "a"})
            await rt.wait_idle(timeout=5)
            await rt.stop("boss/b")
            await rt.wait_idle(timeout=5)
            for gone in ("boss/a", "boss/b"):
                with pytest.raises(UnknownAgent):
                    await rt.thaw(gone)
            await rt.hibernate("boss")
            await rt.stop("boss/c")
            await rt.wait_idle(timeout=5)
            assert "boss" in rt.agent_ids
            assert rt.children("boss") == {}
            assert rt.state("boss").trail[3:] == ("exit:boss/a", "exit:boss/b", "exit:boss/c")
            assert not rt.problems

    async def second() -> None:
        async with restored(backend) as rt:
            assert rt.agent_ids == ("tally", "boss")
            assert rt.state("boss").trail[3:] == ("exit:boss/a", "exit:boss/b", "exit:boss/c")

    asyncio.run(first())
    asyncio.run(second())


def test_a_hibernated_agent_that_cannot_be_thawed(backend: Backend) -> None:
    """If a hibernated agent's stored data has gone bad, a call to it raises the
    RecoveryError naming it, what was sent stays journalled and parked for a thaw that can
    succeed (not reported as dead letters), and the runtime goes idle rather than waiting
    for it."""

    async def main() -> None:
        async with AsyncRuntime(SPECS, storage=backend.open()) as rt:
            await start_system(rt, "c1")
            await rt.cast("c1", "t.add", {"by": 1})
            await rt.wait_idle(timeout=5)
            await rt.hibernate("c1")
            backend.corrupt_snapshot("c1", "agent")
            with pytest.raises(RecoveryError) as info:
                await rt.call("c1", "t.add", {"by": 2})
            (err,) = info.value.exceptions
            assert isinstance(err, CorruptJournal)
            assert (err.agent_id, err.seq) == ("c1", -1)
            await rt.cast("c1", "t.add", {"by": 3})
            await rt.wait_idle(timeout=5)
            assert not rt.dead_letters
            assert rt.agent_ids == ("tally",)
            assert rt.hibernated_ids == ("c1",)
            journalled = [json.loads(sig)["data"] for _, _, sig in backend.journal("c1")]
            assert journalled[-2:] == [{"by": 2}, {"by": 3}]

    asyncio.run(main())


def test_thawing_a_parent_keeps_its_children(backend: Backend) -> None:
    """A parent hibernated and thawed while its children run gets its children back: the
    parent/children links survive, and the parent can still stop a child."""

    async def main() -> None:
        async with AsyncRuntime(SPECS, storage=backend.open()) as rt:
            await start_system(rt)
            await rt.start(BOSS, "boss")
            await rt.cast("boss", "t.hire", {"tag": "a"})
            await rt.cast("boss", "t.hire", {"tag": "b"})
            await rt.wait_idle(timeout=5)
            assert rt.children("boss") == {"a": "boss/a", "b": "boss/b"}
            await rt.hibernate("boss")
            await rt.thaw("boss")
            assert rt.children("boss") == {"a": "boss/a", "b": "boss/b"}
            assert rt.parent("boss/a") == "boss"
            await rt.cast("boss", "t.fire", {"tag": "a"})
            await rt.wait_idle(timeout=5)
            assert "boss/a" not in rt.agent_ids
            assert rt.state("boss").trail[-1] == "exit:boss/a"

    asyncio.run(main())


def test_a_redelivered_signal_id_is_journalled_once(backend: Backend) -> None:
    """The same signal (same id) cast twice, called once, and cast again after a restart is
    journalled and handled once."""
    sig = ext("dup", data={"by": 5})

    async def first() -> None:
        async with AsyncRuntime(SPECS, storage=backend.open()) as rt:
            await start_system(rt, "c1")
            await rt.cast("c1", sig)
            await rt.cast("c1", sig)
            assert (await rt.call("c1", sig)).state.n == 5
            await rt.wait_idle(timeout=5)
            assert rt.state("c1") == Count(n=5, trail=("+5",))
            assert rt.state("tally").n == 5

    async def second() -> None:
        async with restored(backend) as rt:
            await rt.cast("c1", sig)
            await rt.wait_idle(timeout=5)
            assert rt.state("c1") == Count(n=5, trail=("+5",))
            assert rt.state("tally") == Count(n=5, trail=("+5",))

    asyncio.run(first())
    asyncio.run(second())
    assert [i for _, i, _ in backend.journal("c1")] == ["x-dup"]
    assert len(backend.journal("tally")) == 1


def test_new_signals_after_a_restart_are_not_mistaken_for_old_ones(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Signals the runtime makes (``rt.signal``, cast by type) get ids a later runtime never
    repeats, even one at the same memory address (a process restarted without address-space
    randomisation places it there): otherwise a new signal is dropped as a re-delivery."""
    monkeypatch.setattr(async_module, "id", lambda _: 0x5EED, raising=False)

    async def first() -> None:
        async with AsyncRuntime(SPECS, storage=backend.open()) as rt:
            await start_system(rt, "c1")
            await rt.cast("c1", "t.add", {"by": 1})
            await rt.wait_idle(timeout=5)

    async def second() -> None:
        async with restored(backend) as rt:
            await rt.cast("c1", "t.add", {"by": 2})
            await rt.wait_idle(timeout=5)
            assert rt.state("c1") == Count(n=3, trail=("+1", "+2"))

    asyncio.run(first())
    asyncio.run(second())


def test_an_invoke_in_flight_at_a_crash_is_reissued_once(backend: Backend) -> None:
    """An effect still running when the runtime went down is re-issued once on recovery and
    its outcome applied once; a later recovery does not run it again."""
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
            await rt.cast("c1", "t.add", {"by": 3})
            await rt.cast("c1", "t.lookup")
            await asyncio.wait_for(started.wait(), timeout=5)
        finally:
            report = await rt.shutdown(deadline=0.05)
        assert report.cancelled_effects == 1

    async def later() -> Count:
        async with restored(backend, effects=answering(calls)) as rt:
            state: Count = rt.state("c1")
            return state

    asyncio.run(first())
    assert asyncio.run(later()) == Count(n=3, trail=("+3", "found:answer-3"))
    assert calls == [3]
    assert asyncio.run(later()) == Count(n=3, trail=("+3", "found:answer-3"))
    assert calls == [3]
    outcomes = [i for _, i, _ in backend.journal("c1") if i.endswith(":ok")]
    assert len(outcomes) == 1


@pytest.mark.parametrize("snapshot_every", [1000, 1])
def test_a_schedule_survives_a_restart(backend: Backend, snapshot_every: int) -> None:
    """A Schedule armed before a restart fires after it, once, at its original due time (the
    remaining delay, not the whole delay again), whether it was replayed or snapshotted."""
    skew = 29.5  # the restarted runtime's clock is this far ahead: 0.5 s of a 30 s delay left

    async def first() -> float:
        async with AsyncRuntime(SPECS, storage=backend.open(), snapshot_every=snapshot_every) as rt:
            await start_system(rt, "c1")
            armed = time.time()
            await rt.cast("c1", "t.remind", {"delay": 30, "by": 7})
            await rt.wait_idle(timeout=5)
            return armed

    def ahead(seconds: float) -> Callable[[], datetime]:
        return lambda: datetime.now(UTC) + timedelta(seconds=seconds)

    async def second(armed: float) -> None:
        async with restored(backend, snapshot_every=snapshot_every, clock=ahead(skew)) as rt:
            await rt.wait_until("c1", lambda a: a.state.n == 7, timeout=10)  # the reminder
            fired = time.time()
            assert fired >= armed + 30 - skew - 0.05, "fired before its remaining delay"
            await rt.wait_idle(timeout=5)
            assert rt.state("c1") == Count(n=7, trail=("+7",))
            assert rt.state("tally").n == 7

    async def third() -> None:
        async with restored(backend, snapshot_every=snapshot_every, clock=ahead(3600)) as rt:
            assert not rt._servers["c1"].timers, "a fired schedule was armed again"
            assert rt.state("c1") == Count(n=7, trail=("+7",))

    armed = asyncio.run(first())
    asyncio.run(second(armed))
    asyncio.run(third())


DECLARED = AgentSpec(
    name="declared",
    state=Count,
    routes=[Route(pattern="t.add", target=add), Route(pattern="t.quit", target=quit_)],
    schedules=[schedule(3600.0, "t.add", {"by": 1})],
)


PROMPT = AgentSpec(
    name="prompt",
    state=Count,
    routes=[Route(pattern="t.add", target=add), Route(pattern="t.quit", target=quit_)],
    schedules=[schedule(0.0, "t.add", {"by": 1})],
)


def _ahead(seconds: float) -> Callable[[], datetime]:
    return lambda: datetime.now(UTC) + timedelta(seconds=seconds)


def test_a_declared_schedule_recovered_keeps_its_due_time(backend: Backend) -> None:
    """A schedule the spec declares is due its delay after the agent *started*: recovered
    before it fired (and before any snapshot), it fires then, not a whole delay after
    the restore (or after the first journalled signal)."""

    async def main() -> None:
        specs = (*SPECS, DECLARED)
        async with AsyncRuntime(specs, storage=backend.open()) as rt:
            await start_system(rt)
            await rt.start(DECLARED, "d")
        async with restored(backend, specs, clock=_ahead(3600)) as rt:
            await rt.wait_until("d", lambda a: a.state.n == 1, timeout=5)

    asyncio.run(main())


def test_an_id_started_again_gets_its_declared_schedules(backend: Backend) -> None:
    """An agent stopped, then started again under the same id, registers its declared
    schedules afresh: they fire for the new agent, although storage keeps the ids of the
    signals the old one saw (its declared timer's among them)."""

    async def main() -> None:
        specs = (*SPECS, PROMPT)
        async with AsyncRuntime(specs, storage=backend.open()) as rt:
            await start_system(rt)
            await rt.start(PROMPT, "d")
            await rt.wait_until("d", lambda a: a.state.n == 1, timeout=5)
            await rt.call("d", "t.quit", timeout=5)
            await rt.start(PROMPT, "d")
            await rt.wait_until("d", lambda a: a.state.n == 1, timeout=5)
            await rt.wait_idle(timeout=5)
            assert rt.state("tally").n == 2

    asyncio.run(main())


def test_a_cron_job_survives_a_restart(backend: Backend) -> None:
    """A Cron job registered before a restart is registered again and keeps ticking right
    away (its first ticks are not mistaken for the ones journalled before); a cancelled job
    stays cancelled."""
    every_second = "* * * * * *"  # croniter's optional sixth field: seconds

    def ticks(rt: AsyncRuntime, job: str) -> int:
        return sum(1 for t in rt.state("c1").trail if t == f"tick:{job}")

    async def first() -> None:
        async with AsyncRuntime(SPECS, storage=backend.open()) as rt:
            await start_system(rt, "c1")
            await rt.cast("c1", "t.every", {"job": "beat", "expression": every_second})
            await rt.cast("c1", "t.every", {"job": "gone", "expression": every_second})
            await rt.cast("c1", "t.cancel", {"job": "gone"})
            await rt.wait_until("c1", lambda a: a.state.trail.count("tick:beat") >= 2)

    async def second() -> None:
        async with restored(backend) as rt:
            assert set(rt._servers["c1"].crons) == {"beat"}
            before = ticks(rt, "beat")
            took = await eventually(lambda: ticks(rt, "beat") > before, "a tick after restore")
            # A tick is due every second; losing the first ones after the restart takes >= 2 s.
            assert took < 1.9
            assert ticks(rt, "gone") <= 1  # at most one tick before it was cancelled
            gone = ticks(rt, "gone")
            await rt.wait_until("c1", lambda a: a.state.trail.count("tick:beat") > before + 1)
            assert ticks(rt, "gone") == gone

    asyncio.run(first())
    asyncio.run(second())


def test_children_are_restored_with_their_parent(backend: Backend) -> None:
    """Children come back with their parent, linked both ways and equal; after the restart
    the parent can stop a child and hears of its exit; a stopped child stays stopped."""

    async def first() -> dict[str, Agent[Any]]:
        async with AsyncRuntime(SPECS, storage=backend.open()) as rt:
            await start_system(rt)
            await rt.start(BOSS, "boss")
            await rt.cast("boss", "t.hire", {"tag": "a"})
            await rt.cast("boss", "t.hire", {"tag": "b"})
            await rt.wait_idle(timeout=5)
            await rt.cast("boss/a", "t.add", {"by": 2})
            await rt.cast("boss/b", "t.add", {"by": 3})
            await rt.wait_idle(timeout=5)
            return agents_of(rt)

    async def second(before: dict[str, Agent[Any]]) -> None:
        async with restored(backend) as rt:
            assert agents_of(rt) == before
            assert rt.children("boss") == {"a": "boss/a", "b": "boss/b"}
            assert (rt.parent("boss/a"), rt.parent("boss/b"), rt.parent("boss")) == (
                "boss",
                "boss",
                None,
            )
            await rt.cast("boss", "t.fire", {"tag": "a"})
            await rt.wait_idle(timeout=5)
            assert "boss/a" not in rt.agent_ids
            assert rt.children("boss") == {"b": "boss/b"}
            assert rt.state("boss").trail == ("started:boss/a", "started:boss/b", "exit:boss/a")

    async def third() -> None:
        async with restored(backend) as rt:
            assert set(rt.agent_ids) == {"tally", "boss", "boss/b"}
            assert rt.children("boss") == {"b": "boss/b"}
            assert rt.state("boss/b").n == 3

    before = asyncio.run(first())
    assert before["boss"].state.trail == ("started:boss/a", "started:boss/b")
    asyncio.run(second(before))
    asyncio.run(third())


def test_a_stopped_agent_is_not_recovered(backend: Backend) -> None:
    """Agents stopped for good (by the runtime or by their own Stop directive) are not
    recovered and cannot be thawed."""

    async def first() -> None:
        async with AsyncRuntime(SPECS, storage=backend.open()) as rt:
            await start_system(rt, "c1", "c2", "c3")
            await rt.cast("c3", "t.add", {"by": 1})
            await rt.stop("c1")
            # Durable once stop returns: a process killed now would not bring it back.
            (c1,) = [r for r in backend.open().agents() if r.agent_id == "c1"]
            assert isinstance(c1, AgentRecord)
            assert c1.stopped
            await rt.cast("c2", "t.quit")
            await rt.wait_idle(timeout=5)
            assert rt.agent_ids == ("tally", "c3")

    async def second() -> None:
        async with restored(backend) as rt:
            assert rt.agent_ids == ("tally", "c3")
            assert rt.state("c3").n == 1
            for gone in ("c1", "c2"):
                with pytest.raises(UnknownAgent):
                    await rt.thaw(gone)

    asyncio.run(first())
    asyncio.run(second())


@pytest.mark.parametrize("policy", ["orphan", "stop"])
def test_a_replayed_stop_tells_the_parent_and_the_children(
    backend: Backend, policy: Literal["orphan", "stop"]
) -> None:
    """A ``Stop`` journalled but never carried out (the runtime went down before its step)
    is carried out by restore as at runtime: the parent gets ``child.exit`` and drops the
    child, the children follow their ``on_parent_death``. Restoring again after a crash
    that lost only the "stopped" mark repeats none of it (the signals' ids derive from the
    stopping signal, so the repeats are dropped)."""
    options = {"counter": AgentOptions(on_parent_death=policy)}

    async def first() -> None:
        async with AsyncRuntime(SPECS, storage=backend.open(), options=options) as rt:
            await start_system(rt)
            await rt.start(BOSS, "top")
            await rt.cast("top", "t.hire", {"tag": "mid", "spec": "boss"})
            await rt.wait_idle(timeout=5)
            await rt.cast("top/mid", "t.hire", {"tag": "kid"})
            await rt.wait_idle(timeout=5)
            assert rt.children("top/mid") == {"kid": "top/mid/kid"}

    async def second() -> None:
        async with restored(backend, options=options) as rt:
            assert "top/mid" not in rt.agent_ids
            assert rt.state("top").trail == ("started:top/mid", "exit:top/mid")
            assert rt.children("top") == {}
            if policy == "orphan":
                assert rt.parent("top/mid/kid") is None
                assert rt.state("top/mid/kid").trail == ("orphaned:top/mid",)
            else:
                assert "top/mid/kid" not in rt.agent_ids

    asyncio.run(first())
    # The crash: ``t.quit`` journalled for top/mid, its step never run.
    store = backend.open()
    quit_ = ext("quit", "t.quit")
    (seq,) = store.append(
        [("top/mid", quit_.source, quit_.id, Codec().to_json(quit_), time.time())]
    )
    assert seq is not None
    asyncio.run(second())
    # A crash that lost the "stopped" mark, and only that: the Stop is replayed again.
    (mid,) = [r for r in store.agents() if r.agent_id == "top/mid"]
    assert isinstance(mid, AgentRecord)
    assert mid.stopped
    backend.unmark_stopped("top/mid")
    asyncio.run(second())


# ---------------------------------------------------------------------------- bad data


def _prepare(backend: Backend, *, snapshot_every: int = 1000, boss: bool = False) -> None:
    """tally, c1 (3 adds: entries 1-3) and c2 (1 add); optionally a boss with a child. No
    snapshot at shutdown: the journal is left to replay, as a crash leaves it."""

    async def main() -> None:
        async with AsyncRuntime(
            SPECS,
            storage=backend.open(),
            snapshot_every=snapshot_every,
            snapshot_at_shutdown=False,
        ) as rt:
            await start_system(rt, "c1", "c2")
            for i in range(3):
                await rt.cast("c1", "t.add", {"by": i + 1})
            await rt.cast("c2", "t.add", {"by": 10})
            if boss:
                await rt.start(BOSS, "boss")
                await rt.cast("boss", "t.hire", {"tag": "kid"})
            await rt.wait_idle(timeout=5)

    asyncio.run(main())


async def _refused(backend: Backend, specs: tuple[AgentSpec[Any], ...] = SPECS) -> RecoveryError:
    """Restore, expecting a RecoveryError; checks no agent was started."""
    rt = AsyncRuntime(specs, storage=backend.open())
    try:
        with pytest.raises(RecoveryError) as info:
            await rt.restore()
        assert rt.agent_ids == ()
        with pytest.raises(UnknownAgent):
            rt.agent("tally")
        return info.value
    finally:
        await rt.shutdown()


ENTRY_DAMAGE = ["not-json", "truncated", "not-a-signal", "another-id", "binary", "bad-utf8"]


@pytest.mark.parametrize("mode", ENTRY_DAMAGE)
def test_a_corrupt_journal_entry_fails_recovery(backend: Backend, mode: str) -> None:
    """A damaged journal entry fails recovery with a RecoveryError holding one CorruptJournal
    that names the agent and the entry's seq; no agent is started (not even healthy ones),
    and the healthy ones can still be restored explicitly."""
    _prepare(backend)
    backend.corrupt_entry("c1", 2, mode)

    async def main() -> None:
        group = await _refused(backend)
        (err,) = group.exceptions
        assert isinstance(err, CorruptJournal)
        assert (err.agent_id, err.seq) == ("c1", 2)
        assert "'c1'" in str(err)
        assert "journal entry 2" in str(err)
        rt = AsyncRuntime(SPECS, storage=backend.open())
        try:
            assert await rt.restore(only=["tally", "c2"]) == ("tally", "c2")
            await rt.wait_idle(timeout=5)
            assert rt.state("c2").n == 10
        finally:
            await rt.shutdown()

    asyncio.run(main())


@pytest.mark.parametrize("part", ["agent", "record", "id"])
def test_a_corrupt_snapshot_fails_recovery(
    backend: Backend, part: Literal["agent", "record", "id"]
) -> None:
    """A damaged snapshot (the agent in it, the record around it, or an agent of another
    id in it) fails recovery with a CorruptJournal naming the agent and its snapshot (seq
    -1); no agent is started."""
    _prepare(backend, snapshot_every=2)
    backend.corrupt_snapshot("c1", part)

    async def main() -> None:
        group = await _refused(backend)
        (err,) = group.exceptions
        assert isinstance(err, CorruptJournal)
        assert (err.agent_id, err.seq) == ("c1", -1)
        assert "its snapshot" in str(err)

    asyncio.run(main())


def test_every_unusable_agent_is_reported_at_once(backend: Backend) -> None:
    """Several damaged agents are all reported in one RecoveryError, each by name and seq."""
    _prepare(backend)
    backend.corrupt_entry("c1", 3, "not-json")
    backend.corrupt_entry("c2", 1, "truncated")

    async def main() -> None:
        group = await _refused(backend)
        got = sorted((e.agent_id, e.seq) for e in group.exceptions if isinstance(e, CorruptJournal))
        assert got == [("c1", 3), ("c2", 1)]
        assert len(group.exceptions) == 2

    asyncio.run(main())


REGISTRATION_DAMAGE = ["wrong-type", "bad-utf8", "half-link", "initial-not-json"]
REDIS_REGISTRATION_DAMAGE = [
    "redis-not-json",
    "redis-not-an-object",
    "redis-missing-field",
    "redis-no-record",
    "redis-unordered",
]


async def _refused_registration(backend: Backend) -> None:
    """Restore with c1's registration damaged: one CorruptJournal naming c1 and its
    registration (seq 0), nothing started; the healthy agents can still be restored."""
    group = await _refused(backend)
    (err,) = group.exceptions
    assert isinstance(err, CorruptJournal)
    assert (err.agent_id, err.seq) == ("c1", 0)
    assert "agent 'c1': its registration is corrupt" in str(err)
    rt = AsyncRuntime(SPECS, storage=backend.open())
    try:
        assert await rt.restore(only=["tally", "c2"]) == ("tally", "c2")
        await rt.wait_idle(timeout=5)
        assert rt.state("c2").n == 10
        # Asked for explicitly, it is refused the same way.
        with pytest.raises(RecoveryError) as info:
            await rt.thaw("c1")
        (again,) = info.value.exceptions
        assert isinstance(again, CorruptJournal)
        assert (again.agent_id, again.seq) == ("c1", 0)
    finally:
        await rt.shutdown()


@pytest.mark.parametrize("mode", REGISTRATION_DAMAGE)
def test_a_corrupt_registration_fails_recovery(backend: Backend, mode: str) -> None:
    """A damaged registration (a field of the wrong type, bytes that are not UTF-8, a parent
    link without its tag, an initial agent that is not JSON) fails recovery with a
    RecoveryError holding a CorruptJournal for it (never a raw TypeError or KeyError)."""
    _prepare(backend)
    backend.corrupt_registration("c1", mode)
    asyncio.run(_refused_registration(backend))


@pytest.mark.parametrize("mode", REDIS_REGISTRATION_DAMAGE)
def test_a_corrupt_redis_registration_fails_recovery(
    redis_url: str, tmp_path: Path, mode: str
) -> None:
    """On Redis the registration is a JSON record in a hash, beside an order: a record that
    is not JSON, not an object, missing a field, missing altogether, or missing from the
    order is a CorruptJournal too."""
    prefix = f"jido-test:{time.time_ns()}:{next(_prefixes)}:"
    backend = Backend(kind="redis", path=tmp_path, url=redis_url, prefix=prefix)
    try:
        _prepare(backend)
        backend.corrupt_registration("c1", mode)
        asyncio.run(_refused_registration(backend))
    finally:
        backend.close()
        with _redis(redis_url) as r:
            keys = list(r.scan_iter(match=f"{prefix}*"))
            if keys:
                r.delete(*keys)


def test_corrupt_registrations_are_reported_with_the_rest(backend: Backend) -> None:
    """Damaged registrations are reported in the same RecoveryError as damaged journals and
    unknown specs: every unusable agent at once."""
    _prepare(backend, boss=True)
    backend.corrupt_registration("c1", "wrong-type")
    backend.corrupt_registration("tally", "bad-utf8")
    backend.corrupt_entry("c2", 1, "not-json")

    async def main() -> None:
        group = await _refused(backend, (COUNTER, TALLY))  # no boss spec either
        corrupt = sorted(
            (e.agent_id, e.seq) for e in group.exceptions if isinstance(e, CorruptJournal)
        )
        unknown = [e.agent_id for e in group.exceptions if isinstance(e, UnknownSpec)]
        assert corrupt == [("c1", 0), ("c2", 1), ("tally", 0)]
        assert unknown == ["boss"]
        assert len(group.exceptions) == 4

    asyncio.run(main())


def test_marking_a_corrupt_redis_registration_stopped_does_not_raise(
    redis_url: str, tmp_path: Path
) -> None:
    """``mark_stopped`` runs inside a group-commit batch, where raising would fail the whole
    batch: on a registration it cannot decode it changes nothing, and ``agents`` still
    reports the damage."""
    prefix = f"jido-test:{time.time_ns()}:{next(_prefixes)}:"
    backend = Backend(kind="redis", path=tmp_path, url=redis_url, prefix=prefix)
    try:
        _prepare(backend)
        backend.corrupt_registration("c1", "redis-not-json")
        store = backend.open()
        store.mark_stopped("c1")
        store.mark_stopped("c2")
        by_id = {r.agent_id: r for r in store.agents()}
        assert isinstance(by_id["c1"], CorruptJournal)
        c2 = by_id["c2"]
        assert isinstance(c2, AgentRecord)
        assert c2.stopped
    finally:
        backend.close()
        with _redis(redis_url) as r:
            keys = list(r.scan_iter(match=f"{prefix}*"))
            if keys:
                r.delete(*keys)


def test_an_unknown_spec_is_refused(backend: Backend) -> None:
    """An agent whose spec the runtime was not given fails recovery with UnknownSpec naming
    agent and spec; no agent is started, not even those whose specs are known."""
    _prepare(backend, boss=True)

    async def main() -> None:
        group = await _refused(backend, (COUNTER, TALLY))
        (err,) = group.exceptions
        assert isinstance(err, UnknownSpec)
        assert (err.agent_id, err.spec) == ("boss", "boss")
        assert "'boss'" in str(err)

    asyncio.run(main())


@attrs.frozen
class CountV2:
    """The counter's state at schema version 2: ``n`` is now ``total``."""

    total: int = 0
    trail: tuple[str, ...] = ()


@action(params=By)
def add_v2(state: CountV2, p: By, ctx: Context) -> ActionResult[CountV2]:
    """Count (v2), and tell the tally."""
    new = attrs.evolve(state, total=state.total + p.by, trail=(*state.trail, f"+{p.by}"))
    return ok(new, emit_to("tally", "t.added", {"by": p.by}))


COUNTER_V2 = AgentSpec(
    name="counter", state=CountV2, routes=[Route(pattern="t.add", target=add_v2)], schema_version=2
)
SPECS_V2 = (COUNTER_V2, TALLY)


@pytest.mark.parametrize("snapshot_every", [1000, 2])
def test_an_upgraded_state_is_snapshotted_on_restore(backend: Backend, snapshot_every: int) -> None:
    """A restore that upgraded a stored state snapshots it at once, at the current schema
    version: the next restore needs no upgrade hook, and gives the same agents."""
    _prepare(backend, snapshot_every=snapshot_every)
    seen: list[str] = []

    def upgrade(spec: str, version: int, raw: dict[str, Any]) -> dict[str, Any]:
        seen.append(spec)
        state = dict(raw["state"])
        state["total"] = state.pop("n")
        return {**raw, "state": state}

    async def restore(hook: Any) -> dict[str, Agent[Any]]:
        rt = AsyncRuntime(SPECS_V2, storage=backend.open(), upgrade=hook)
        try:
            assert await rt.restore() == ("tally", "c1", "c2")
            await rt.wait_idle(timeout=5)
            return agents_of(rt)
        finally:
            await rt.shutdown()

    upgraded = asyncio.run(restore(upgrade))
    assert seen == ["counter", "counter"]
    assert upgraded["c1"].state == CountV2(total=6, trail=("+1", "+2", "+3"))
    store = backend.open()
    for agent_id, last in (("c1", 3), ("c2", 1)):
        snap, tail = store.load(agent_id)
        assert snap is not None
        assert (snap.seq, snap.schema_version, tail) == (last, 2, [])
    assert asyncio.run(restore(None)) == upgraded
    assert seen == ["counter", "counter"]


def test_an_upgrade_that_sets_the_version_is_not_taken_for_a_snapshot_seq_too_low(
    backend: Backend,
) -> None:
    """A snapshot whose agent took more steps than its seq allows has a seq too low (the
    journal would be replayed over it again), but an upgrade may set the version it likes:
    the agent it rewrote is not held to that check."""
    _prepare(backend, snapshot_every=2)

    def upgrade(spec: str, version: int, raw: dict[str, Any]) -> dict[str, Any]:
        state = dict(raw["state"])
        state["total"] = state.pop("n")
        return {**raw, "state": state, "version": raw["version"] + 1000}

    async def main() -> None:
        rt = AsyncRuntime(SPECS_V2, storage=backend.open(), upgrade=upgrade)
        try:
            assert "c1" in await rt.restore()
            assert rt.agent("c1").version > 1000
        finally:
            await rt.shutdown()

    asyncio.run(main())


@pytest.mark.parametrize("snapshot_every", [1000, 2])
def test_an_older_schema_version_needs_an_upgrade(backend: Backend, snapshot_every: int) -> None:
    """State stored at schema version 1, restored under a spec at version 2: without an
    upgrade hook a SchemaMismatch (no agent started); a failing hook is a SchemaMismatch too;
    with a hook mapping the raw agent dict the agent comes back upgraded, journal replayed on
    top, and keeps working."""
    _prepare(backend, snapshot_every=snapshot_every)
    seen: list[tuple[str, int]] = []

    def upgrade(spec: str, version: int, raw: dict[str, Any]) -> dict[str, Any]:
        seen.append((spec, version))
        state = dict(raw["state"])
        state["total"] = state.pop("n")
        return {**raw, "state": state}

    def refuse(spec: str, version: int, raw: dict[str, Any]) -> dict[str, Any]:
        raise ValueError("no way back")

    async def main() -> None:
        group = await _refused(backend, SPECS_V2)
        mismatches = [e for e in group.exceptions if isinstance(e, SchemaMismatch)]
        assert [(e.agent_id, e.stored, e.current) for e in mismatches] == [
            ("c1", 1, 2),
            ("c2", 1, 2),
        ]
        assert len(group.exceptions) == 2

        rt = AsyncRuntime(SPECS_V2, storage=backend.open(), upgrade=refuse)
        try:
            with pytest.raises(RecoveryError) as info:
                await rt.restore()
            assert all(isinstance(e, SchemaMismatch) for e in info.value.exceptions)
            assert rt.agent_ids == ()
        finally:
            await rt.shutdown()

        rt = AsyncRuntime(SPECS_V2, storage=backend.open(), upgrade=upgrade)
        try:
            assert await rt.restore() == ("tally", "c1", "c2")
            await rt.wait_idle(timeout=5)
            assert rt.state("c1") == CountV2(total=6, trail=("+1", "+2", "+3"))
            assert rt.state("c2") == CountV2(total=10, trail=("+10",))
            assert rt.state("tally").n == 16
            await rt.cast("c1", "t.add", {"by": 4})
            await rt.wait_idle(timeout=5)
            assert rt.state("c1").total == 10
            assert rt.state("tally").n == 20
        finally:
            await rt.shutdown()

    asyncio.run(main())
    assert set(seen) == {("counter", 1)}


# ---------------------------------------------------------------------------- ids reused


def test_starting_an_id_storage_holds_is_refused_until_it_stopped(backend: Backend) -> None:
    """A runtime that did not restore an agent cannot start another under its id (that
    would throw its journal away): ``start`` raises AgentExists and storage keeps it. Once
    it stopped, the id starts a new agent, and recovery gives the new one, not the old
    one's journal replayed over it."""

    async def first() -> None:
        async with AsyncRuntime(SPECS, storage=backend.open()) as rt:
            await start_system(rt, "c")
            await rt.cast("c", "t.add", {"by": 5})

    async def second() -> None:
        rt = AsyncRuntime(SPECS, storage=backend.open())
        try:
            with pytest.raises(AgentExists) as info:
                await rt.start(COUNTER, "c")
            assert info.value.agent_id == "c"
            assert rt.agent_ids == ()
            await rt.restore()
            assert rt.state("c").n == 5
            await rt.stop("c")
            await rt.start(COUNTER, "c")
            await rt.call("c", "t.add", {"by": 1})
            await rt.wait_idle(timeout=5)
        finally:
            await rt.shutdown()

    async def third() -> None:
        async with restored(backend) as rt:
            assert rt.state("c") == Count(n=1, trail=("+1",))
            assert rt.state("tally").n == 6

    asyncio.run(first())
    asyncio.run(second())
    asyncio.run(third())


def test_a_child_tag_reused_after_its_child_stopped(backend: Backend) -> None:
    """A parent stops a child and spawns another under the same tag (so the same id): the
    new child starts from its initial state, live and after recovery."""

    async def first() -> None:
        async with AsyncRuntime(SPECS, storage=backend.open()) as rt:
            await rt.start(TALLY, "tally")
            await rt.start(BOSS, "boss")
            await rt.call("boss", "t.hire", {"tag": "kid"})
            await rt.wait_idle(timeout=5)
            await rt.cast("boss/kid", "t.add", {"by": 7})
            await rt.call("boss", "t.fire", {"tag": "kid"})
            await rt.wait_idle(timeout=5)
            assert "boss/kid" not in rt.agent_ids
            await rt.call("boss", "t.hire", {"tag": "kid"})
            await rt.wait_idle(timeout=5)
            await rt.cast("boss/kid", "t.add", {"by": 1})
            await rt.wait_idle(timeout=5)
            assert rt.state("boss/kid") == Count(n=1, trail=("+1",))

    async def second() -> None:
        async with restored(backend) as rt:
            assert rt.state("boss/kid") == Count(n=1, trail=("+1",))
            assert rt.children("boss") == {"kid": "boss/kid"}
            assert rt.state("tally").n == 8

    asyncio.run(first())
    asyncio.run(second())


def test_recovery_re_delivers_no_emit_to_an_agent_that_stopped(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    """A replayed step's emits are re-delivered on recovery, except to agents that stopped
    for good: what reached them was handled before their stop (re-delivering would only
    report them missing)."""

    async def first() -> None:
        async with AsyncRuntime(SPECS, storage=backend.open()) as rt:
            await start_system(rt, "c")
            await rt.cast("c", "t.add", {"by": 2})  # emits t.added to the tally
            await rt.wait_idle(timeout=5)
            assert rt.state("tally").n == 2
            await rt.stop("tally")

    async def second() -> None:
        async with restored(backend) as rt:
            assert rt.agent_ids == ("c",)
            assert rt.state("c").n == 2
            assert rt.statistics().problems == 0

    asyncio.run(first())
    with caplog.at_level(logging.INFO, logger="jido.runtime"):
        asyncio.run(second())
    assert "no running agent" not in caplog.text


@action(params=By)
def tell_kid(state: Count, p: By, ctx: Context) -> ActionResult[Count]:
    """Tell the child tagged ``kid`` to add."""
    return ok(state, emit_to(f"{ctx.agent_id}/kid", "t.add", {"by": p.by}))


TELLER = AgentSpec(
    name="teller",
    state=Count,
    routes=[
        Route(pattern="t.hire", target=hire),
        Route(pattern="t.fire", target=fire),
        Route(pattern="t.tell", target=tell_kid),
    ],
)


HIRE = ("t.hire", {"tag": "kid"})
TELL = ("t.tell", {"by": 5})
FIRE = ("t.fire", {"tag": "kid"})


@pytest.mark.parametrize(
    ("script", "dead"),
    [
        # The first child got the emit; the second, under the same id, must not.
        ([HIRE, TELL, FIRE, HIRE], []),
        # The emit found no child (a dead letter); the child spawned later must not get it.
        ([TELL, HIRE], ["p/kid"]),
    ],
    ids=["a reused child id", "an emit before the spawn"],
)
def test_recovery_hands_a_new_child_nothing_that_was_not_sent_to_it(
    backend: Backend, script: list[tuple[str, dict[str, Any]]], dead: list[str]
) -> None:
    """Recovery replays the parent's journal, emits included, and re-delivers them: never to
    a child that did not get them live. The recovered agents equal the live ones."""
    specs = (*SPECS, TELLER)

    async def first() -> dict[str, Agent[Any]]:
        async with AsyncRuntime(specs, storage=backend.open()) as rt:
            await rt.start(TALLY, "tally")
            await rt.start(TELLER, "p")
            for type_, data in script:
                await rt.call("p", type_, data)
                await rt.wait_idle(timeout=5)
            assert [agent for agent, _ in rt.dead_letters] == dead
            assert rt.state("p/kid") == Count()
            return agents_of(rt)

    async def second(before: dict[str, Agent[Any]]) -> None:
        async with restored(backend, specs=specs) as rt:
            assert agents_of(rt) == before
            assert rt.children("p") == {"kid": "p/kid"}

    asyncio.run(second(asyncio.run(first())))


def test_hibernate_and_thaw_are_idempotent(backend: Backend) -> None:
    """Two hibernations of one agent at once both return, and so does hibernating it again;
    two thaws at once both give the agent, and thawing a running agent gives it as it is."""

    async def main() -> None:
        async with AsyncRuntime(SPECS, storage=backend.open()) as rt:
            await start_system(rt, "c1")
            await rt.cast("c1", "t.add", {"by": 4})
            await asyncio.gather(rt.hibernate("c1"), rt.hibernate("c1"))
            assert rt.hibernated_ids == ("c1",)
            stats = rt.statistics()
            assert (stats.agents, stats.hibernated) == (1, 1)
            await rt.hibernate("c1")
            one, two = await asyncio.gather(rt.thaw("c1"), rt.thaw("c1"))
            assert one == two == rt.agent("c1")
            assert (rt.statistics().agents, rt.statistics().hibernated) == (2, 0)
            assert one.state.n == 4
            assert await rt.thaw("c1") == one
            assert await rt.thaw("tally") == rt.agent("tally")
            with pytest.raises(UnknownAgent):
                await rt.hibernate("nobody")

    asyncio.run(main())


@action(params=NoParams)
def volley(state: Count, _: NoParams, ctx: Context) -> ActionResult[Count]:
    """Count, and send the ball back to the other player."""
    other = "p2" if ctx.agent_id == "p1" else "p1"
    return ok(_plus(state, 1), emit_to(other, "t.volley"))


PLAYER = AgentSpec(name="player", state=Count, routes=[Route(pattern="t.volley", target=volley)])


def test_hibernating_a_quiet_agent_does_not_wait_for_the_others(backend: Backend) -> None:
    """Two agents play ball for ever; a third, quiet one still hibernates at once (it waits
    for its own work only, not for the whole runtime to be idle) and thaws as it was."""

    async def main() -> None:
        async with AsyncRuntime((*SPECS, PLAYER), storage=backend.open()) as rt:
            await start_system(rt, "c")
            await rt.call("c", "t.add", {"by": 2})
            await rt.start(PLAYER, "p1")
            await rt.start(PLAYER, "p2")
            await rt.cast("p1", "t.volley")
            await asyncio.wait_for(rt.hibernate("c"), timeout=5)
            assert rt.hibernated_ids == ("c",)
            assert rt.state("p1").n > 0  # the game goes on
            assert (await rt.thaw("c")).state.n == 2
            await rt.stop("p1")
            await rt.stop("p2")

    asyncio.run(main())


@attrs.frozen
class Adoption:
    """Whom to adopt, under which tag."""

    child_id: str
    tag: str = "adopted"


@action(params=Adoption)
def adopt(state: Count, p: Adoption, ctx: Context) -> ActionResult[Count]:
    """Adopt a running agent."""
    return ok(state, adopt_child(p.child_id, p.tag))


ADOPTER = AgentSpec(
    name="adopter",
    state=Count,
    routes=[
        Route(pattern="t.adopt", target=adopt),
        Route(pattern=CHILD_STARTED, target=lifecycle),
        Route(pattern=CHILD_EXIT, target=lifecycle),
    ],
)


@pytest.mark.parametrize("snapshot_every", [1000, 1])
def test_an_adopted_child_keeps_its_parent_after_a_restart(
    backend: Backend, snapshot_every: int
) -> None:
    """``AdoptChild`` is durable: after a restart the child still has its parent and the
    parent its child (also when a snapshot taken after the adoption means the adopting step
    is not replayed), and stopping the parent still reaches the child."""

    async def main() -> None:
        specs = (*SPECS, ADOPTER)
        async with AsyncRuntime(specs, storage=backend.open(), snapshot_every=snapshot_every) as rt:
            await rt.start(ADOPTER, "boss")
            await rt.start(COUNTER, "w")
            await rt.call("boss", "t.adopt", {"child_id": "w"})
            await rt.wait_idle(timeout=5)
            assert rt.parent("w") == "boss"
        async with restored(backend, specs, snapshot_every=snapshot_every) as rt:
            assert rt.children("boss") == {"adopted": "w"}
            assert rt.parent("w") == "boss"
            assert rt.state("boss").trail == ("started:w",)
            await rt.stop("boss")
            await rt.wait_idle(timeout=5)
            assert rt.state("w").trail == ("orphaned:boss",)

    asyncio.run(main())


# ------------------------------------------------------------------ lives, links, odd data


@action()
def recycle(state: Count, _: NoParams, ctx: Context) -> ActionResult[Count]:
    """Send the child something, stop it, and spawn a new one under the same tag (so id)."""
    return ok(
        state,
        emit_to("boss/kid", "t.add", {"by": 100}),
        stop_child("kid"),
        spawn_agent("counter", "kid"),
    )


RECYCLER = AgentSpec(
    name="recycler",
    state=Count,
    routes=[
        Route(pattern="t.hire", target=hire),
        Route(pattern="t.recycle", target=recycle),
        Route(pattern=CHILD_STARTED, target=lifecycle),
        Route(pattern=CHILD_EXIT, target=lifecycle),
    ],
)


def test_a_signal_for_an_ended_life_is_not_handed_to_the_next(backend: Backend) -> None:
    """A signal journalled for a child that is then stopped and spawned again under the same
    id, in one step, is a dead letter (as without storage), not news to the new child; and
    the new child recovers as it ran."""

    async def main() -> None:
        specs = (*SPECS, RECYCLER)
        async with AsyncRuntime(specs, storage=backend.open()) as rt:
            await start_system(rt)
            await rt.start(RECYCLER, "boss")
            await rt.cast("boss", "t.hire", {"tag": "kid"})
            await rt.wait_idle(timeout=5)
            await rt.cast("boss", "t.recycle")
            await rt.wait_idle(timeout=5)
            live = rt.state("boss/kid")
            assert live == Count()
            assert [(a, s.type) for a, s in rt.dead_letters] == [("boss/kid", "t.add")]
        async with restored(backend, specs) as rt:
            assert rt.state("boss/kid") == live

    asyncio.run(main())


def test_a_child_spawned_under_a_stored_agents_id_does_not_run(backend: Backend) -> None:
    """Storage holds an agent that has not stopped (not restored yet); a child spawned under
    its id cannot be registered, so it stops at once (its parent told why) rather than run
    and journal its signals into the stored agent's journal; that agent recovers intact."""

    async def main() -> None:
        async with AsyncRuntime(SPECS, storage=backend.open()) as rt:
            await start_system(rt, "boss/kid")
            await rt.call("boss/kid", "t.add", {"by": 5}, timeout=5)
        async with AsyncRuntime(SPECS, storage=backend.open()) as rt:
            await rt.start(BOSS, "boss")
            await rt.cast("boss", "t.hire", {"tag": "kid"})
            await rt.wait_until("boss", lambda a: len(a.state.trail) == 2, timeout=5)
            assert rt.state("boss").trail == ("started:boss/kid", "exit:boss/kid")
            assert "boss/kid" not in rt.agent_ids
            with pytest.raises(UnknownAgent):
                await rt.cast("boss/kid", "t.add", {"by": 100})
        async with restored(backend) as rt:
            assert rt.state("boss/kid") == Count(n=5, trail=("+5",))

    asyncio.run(main())


@pytest.mark.parametrize("how", ["thaw", "restore only"])
def test_an_emit_replayed_to_an_agent_not_yet_recovered_waits_for_it(
    backend: Backend, how: str
) -> None:
    """Recovering agents one at a time: a replayed step's emit to a stored agent that is
    not back yet is journalled for it (its recovery handles it), not a dead letter."""

    async def crash() -> None:
        rt = AsyncRuntime(SPECS, storage=backend.open())
        await start_system(rt, "c")
        rt.cast_nowait("c", "t.add", {"by": 3})  # journalled, never handled: the crash
        report = await rt.shutdown(deadline=0)
        assert not report.drained

    async def recover(agent_id: str, rt: AsyncRuntime) -> None:
        if how == "thaw":
            await rt.thaw(agent_id)
        else:
            assert await rt.restore(only=[agent_id]) == (agent_id,)
        await rt.wait_idle(timeout=5)

    async def main() -> None:
        async with AsyncRuntime(SPECS, storage=backend.open()) as rt:
            await recover("c", rt)
            assert rt.state("c").n == 3
            assert not rt.dead_letters
            await recover("tally", rt)
            assert rt.state("tally").n == 3

    asyncio.run(crash())
    asyncio.run(main())


@action()
def ask_twice(state: Count, _: NoParams, ctx: Context) -> ActionResult[Count]:
    """Ask a slow effect, then a fast one."""
    return ok(
        state,
        invoke("slow", None, on_ok="t.found", on_error="t.lost"),
        invoke("fast", None, on_ok="t.found", on_error="t.lost"),
    )


ASKER = AgentSpec(
    name="asker",
    state=Count,
    routes=[Route(pattern="t.ask", target=ask_twice), Route(pattern="t.found", target=found)],
)


def test_effects_reissued_by_recovery_answer_in_directive_order(backend: Backend) -> None:
    """A step's effects re-issued after a crash deliver their outcomes in the order of its
    Invoke directives, as live, though the second finishes first."""

    async def never(args: object) -> str:
        await asyncio.Event().wait()
        return "never"

    async def main() -> None:
        specs = (*SPECS, ASKER)
        rt = AsyncRuntime(specs, storage=backend.open(), effects={"slow": never, "fast": never})
        await rt.start(ASKER, "a")
        await rt.call("a", "t.ask", timeout=5)
        report = await rt.shutdown(deadline=0)  # the crash: both effects in flight
        assert report.cancelled_effects == 2
        fast_done = asyncio.Event()

        async def slow(args: object) -> str:
            await fast_done.wait()
            return "slow"

        async def fast(args: object) -> str:
            fast_done.set()
            return "fast"

        async with restored(backend, specs, effects={"slow": slow, "fast": fast}) as rt:
            await rt.wait_until("a", lambda a: len(a.state.trail) == 2, timeout=5)
            assert rt.state("a").trail == ("found:slow", "found:fast")

    asyncio.run(main())


def test_a_parent_not_yet_recovered_hears_of_its_childs_exit(backend: Backend) -> None:
    """A child recovered on its own that stops: its parent, still in storage, gets the
    ``child.exit`` when it is recovered."""

    async def main() -> None:
        async with AsyncRuntime(SPECS, storage=backend.open()) as rt:
            await start_system(rt)
            await rt.start(BOSS, "boss")
            await rt.call("boss", "t.hire", {"tag": "kid"}, timeout=5)
            await rt.wait_idle(timeout=5)
        async with AsyncRuntime(SPECS, storage=backend.open()) as rt:
            assert await rt.restore(only=["boss/kid"]) == ("boss/kid",)
            await rt.call("boss/kid", "t.quit", timeout=5)
            await rt.wait_idle(timeout=5)
            assert await rt.restore(only=["boss"]) == ("boss",)
            await rt.wait_idle(timeout=5)
            assert rt.state("boss").trail == ("started:boss/kid", "exit:boss/kid")

    asyncio.run(main())


def test_a_child_is_not_spawned_under_the_id_of_an_agent_not_yet_recovered(
    backend: Backend,
) -> None:
    """After a restore that left an agent in storage, a spawn under its id is refused at
    once (a directive problem), so what is sent to that id keeps reaching the stored agent;
    the parent gets ``child.exit`` (without ``child.started``), as when storage refuses the
    registration of a child the runtime did not know to be stored."""

    async def main() -> None:
        async with AsyncRuntime(SPECS, storage=backend.open()) as rt:
            await start_system(rt, "boss/kid")
            await rt.call("boss/kid", "t.add", {"by": 5}, timeout=5)
        async with AsyncRuntime(SPECS, storage=backend.open(), record=True) as rt:
            assert await rt.restore(only=["tally"]) == ("tally",)
            await rt.start(BOSS, "boss")
            await rt.call("boss", "t.hire", {"tag": "kid"}, timeout=5)
            await rt.wait_idle(timeout=5)
            assert "boss/kid" not in rt.agent_ids
            assert rt.state("boss").trail == ("exit:boss/kid",)
            (problem,) = rt.problems
            assert "'boss/kid' is in storage and has not stopped" in problem.message
            (exit_,) = [e.signal for e in rt.trace if e.signal.type == CHILD_EXIT]
            assert exit_.data == {
                "child_id": "boss/kid",
                "tag": "kid",
                "reason": f"not registered: {AgentExists('boss/kid')}",
            }
        async with restored(backend) as rt:
            assert rt.state("boss/kid") == Count(n=5, trail=("+5",))

    asyncio.run(main())


def test_a_refused_spawn_is_not_tried_again_on_recovery(backend: Backend) -> None:
    """A spawn the runtime refused (no such spec) is answered by ``child.exit``, which the
    parent's journal holds: a recovery that replays the spawning step does not spawn the
    child again, so the parent hears of the refusal once, and recovers as it was."""

    async def main() -> None:
        async with AsyncRuntime(SPECS, storage=backend.open()) as rt:
            await rt.start(BOSS, "boss")
            await rt.cast("boss", "t.hire", {"tag": "kid", "spec": "ghost"})
            live = await rt.wait_until("boss", lambda a: len(a.state.trail) == 1, timeout=5)
            assert live.state.trail == ("exit:boss/kid",)
            assert len(rt.problems) == 1
        async with restored(backend) as rt:
            assert rt.agent("boss") == live
            assert not rt.problems

    asyncio.run(main())


def _picky(sig: Signal) -> bool:
    if isinstance(sig.data, dict) and sig.data.get("by") == 13:
        raise ValueError("unlucky")
    return True


GUARDED = AgentSpec(
    name="guarded", state=Count, routes=[Route(pattern="t.add", target=add, guard=_picky)]
)


def test_a_step_whose_guard_raised_is_skipped_on_replay_as_live(backend: Backend) -> None:
    """A route guard raising is a crash like an action raising: the live agent carries on
    (its error policy), and recovery skips that step as the live runtime did."""

    async def main() -> None:
        specs = (*SPECS, GUARDED)
        async with AsyncRuntime(specs, storage=backend.open()) as rt:
            await start_system(rt)
            await rt.start(GUARDED, "g")
            for by in (1, 13, 2):
                await rt.cast("g", "t.add", {"by": by})
            await rt.wait_idle(timeout=5)
            live = rt.state("g")
            assert live.n == 3
        async with restored(backend, specs) as rt:
            assert rt.state("g") == live

    asyncio.run(main())


def test_an_orphan_stays_parentless_after_a_restart(backend: Backend) -> None:
    """A child orphaned by its parent's stop has no parent in storage either: after a
    restart it is not linked back to the parent, nor to a new agent under its id."""

    async def main() -> None:
        async with AsyncRuntime(SPECS, storage=backend.open()) as rt:
            await start_system(rt)
            await rt.start(BOSS, "boss")
            await rt.cast("boss", "t.hire", {"tag": "kid"})
            await rt.wait_idle(timeout=5)
            await rt.stop("boss")
            await rt.wait_idle(timeout=5)
            assert rt.parent("boss/kid") is None
        async with restored(backend) as rt:
            assert rt.parent("boss/kid") is None
            await rt.start(BOSS, "boss")
            assert rt.children("boss") == {}

    asyncio.run(main())


def test_a_shut_down_runtime_does_not_restore(backend: Backend) -> None:
    """``restore`` on a runtime that shut down raises RuntimeClosed and starts nothing; the
    store stays free for the next runtime."""

    async def main() -> None:
        async with AsyncRuntime(SPECS, storage=backend.open()) as rt:
            await start_system(rt, "c")
        with pytest.raises(RuntimeClosed):
            await rt.restore()
        assert rt.agent_ids == ()
        async with restored(backend) as again:
            assert set(again.agent_ids) == {"tally", "c"}

    asyncio.run(main())


def _retype(backend: Backend, where: Literal["entry", "snapshot"]) -> None:
    # A field stored with the wrong type: a string where a sequence number belongs.
    if backend.kind == "sqlite":
        table = "journal" if where == "entry" else "snapshots"
        with _sqlite(backend.path) as db:
            sql = f"UPDATE {table} SET seq = 'two' WHERE agent_id = 'c1'"
            if where == "entry":
                sql += " AND seq = 2"
            assert db.execute(sql).rowcount == 1
        return
    with _redis(backend.url) as r:
        if where == "snapshot":
            key = f"{backend.prefix}snap:c1"
            record = json.loads(r.get(key))
            r.set(key, json.dumps({**record, "seq": "two"}))
        else:
            key = f"{backend.prefix}j:c1"
            _, source, sid, sig, at = json.loads(r.lindex(key, 1))
            r.lset(key, 1, json.dumps(["two", source, sid, sig, at]))


@pytest.mark.parametrize("where", ["entry", "snapshot"])
def test_stored_fields_of_the_wrong_type_are_corrupt_journals(
    backend: Backend, where: Literal["entry", "snapshot"]
) -> None:
    """A sequence number stored as text (a hand edit, a foreign writer) fails recovery with
    a CorruptJournal naming the agent, like any damage, not a raw TypeError."""
    _prepare(backend, snapshot_every=2 if where == "snapshot" else 1000)
    _retype(backend, where)

    async def main() -> None:
        group = await _refused(backend)
        (err,) = group.exceptions
        assert isinstance(err, CorruptJournal)
        assert err.agent_id == "c1"

    asyncio.run(main())


def _lose(backend: Backend, what: str) -> None:
    """Damage c1's data as a hand edit, a bad copy or Redis eviction would: an entry
    removed (the second, or the last), the journal key or id set gone (Redis), the
    snapshot gone, or the snapshot's seq moved (``seq+100``, ``seq=0``)."""
    if backend.kind == "sqlite":
        sql = {
            "entry-2": "DELETE FROM journal WHERE agent_id = 'c1' AND seq = 2",
            "snapshot": "DELETE FROM snapshots WHERE agent_id = 'c1'",
            "seq+100": "UPDATE snapshots SET seq = seq + 100 WHERE agent_id = 'c1'",
            "seq=0": "UPDATE snapshots SET seq = 0 WHERE agent_id = 'c1'",
        }[what]
        with _sqlite(backend.path) as db:
            assert db.execute(sql).rowcount == 1
        return
    with _redis(backend.url) as r:
        p = backend.prefix
        match what:
            case "entry-2":
                r.lset(f"{p}j:c1", 1, b"gone")
                assert r.lrem(f"{p}j:c1", 1, b"gone") == 1
            case "entry-last":
                assert r.rpop(f"{p}j:c1") is not None
            case "journal-key":
                assert r.delete(f"{p}j:c1") == 1
            case "id-set":
                assert r.delete(f"{p}ids:c1") == 1
            case "seq+100" | "seq=0":
                record = json.loads(r.get(f"{p}snap:c1"))
                seq = record["seq"] + 100 if what == "seq+100" else 0
                r.set(f"{p}snap:c1", json.dumps({**record, "seq": seq}))
            case _:
                raise AssertionError(what)


async def _refused_for_c1(backend: Backend) -> CorruptJournal:
    """Restore, expecting one CorruptJournal, for c1."""
    group = await _refused(backend)
    (err,) = group.exceptions
    assert isinstance(err, CorruptJournal)
    assert err.agent_id == "c1"
    return err


def test_a_missing_journal_entry_fails_recovery(backend: Backend) -> None:
    """Sequence numbers have no gaps: an entry removed from the middle of a journal fails
    recovery with a CorruptJournal naming the agent and the missing entry, rather than
    replaying an agent that never handled it."""
    _prepare(backend)
    _lose(backend, "entry-2")

    async def main() -> None:
        err = await _refused_for_c1(backend)
        assert err.seq == 2
        assert "journal entry 2 is corrupt: missing" in str(err)

    asyncio.run(main())


@pytest.mark.parametrize("backend", ["redis"], indirect=True)
@pytest.mark.parametrize(
    ("what", "seq"), [("entry-last", 3), ("journal-key", 1), ("id-set", JOURNAL)]
)
def test_a_redis_journal_cut_short_fails_recovery(backend: Backend, what: str, seq: int) -> None:
    """On Redis the agent's count of its entries says how many its journal holds, and its
    id set holds at least as many signals: the last entry removed, the journal key evicted
    (recovery would bring the agent back from its snapshot alone) or its id set evicted
    (re-deliveries would be handled again) fails recovery, naming the agent."""
    _prepare(backend, snapshot_every=2)
    _lose(backend, what)
    err = asyncio.run(_refused_for_c1(backend))
    assert err.seq == seq


@pytest.mark.parametrize(("what", "seq"), [("seq+100", -1), ("seq=0", -1)])
def test_a_snapshot_whose_seq_is_off_fails_recovery(backend: Backend, what: str, seq: int) -> None:
    """A snapshot is the agent after entry ``seq``: one whose seq is past the journal's end
    (entries would be skipped), or lower than the steps its agent took (the entries it
    holds would be replayed over it again), fails recovery with a CorruptJournal naming
    the agent and its snapshot."""
    _prepare(backend, snapshot_every=2)
    _lose(backend, what)

    async def main() -> None:
        err = await _refused_for_c1(backend)
        assert err.seq == seq
        assert "its snapshot is corrupt" in str(err)

    asyncio.run(main())


@pytest.mark.parametrize(("what", "seq"), [("snapshot", 1), ("seq+100", -1), ("seq=0", 1)])
def test_a_compacted_journal_without_its_snapshot_fails_recovery(
    tmp_path: Path, what: str, seq: int
) -> None:
    """With compaction, the entries a snapshot covers are gone: the snapshot removed, or its
    seq moved, leaves entries no snapshot covers, and recovery fails naming the agent and
    what is missing (it would replay the agent from its start over the later entries)."""
    backend = Backend(kind="sqlite", path=tmp_path / "agents.db", compact=True)
    try:
        _prepare(backend, snapshot_every=2)
        _lose(backend, what)
        err = asyncio.run(_refused_for_c1(backend))
        assert err.seq == seq
    finally:
        backend.close()


@pytest.mark.parametrize("table", ["journal", "snapshots", "agents"])
def test_a_table_missing_from_a_sqlite_store_is_a_storage_error(tmp_path: Path, table: str) -> None:
    """A table of the store dropped (a hand edit, a bad copy) is refused with the storage
    errors the docs describe, not sqlite3's own: by ``SQLiteStorage`` opening the file (a
    StorageError naming the table), and, dropped under a store opened already, by
    recovery (a CorruptJournal per agent for its journal, in a RecoveryError; a
    StorageError for the registrations)."""
    backend = Backend(kind="sqlite", path=tmp_path / "agents.db")
    try:
        _prepare(backend, snapshot_every=2)
        store = backend.open()  # opened before the damage
        with _sqlite(backend.path) as db:
            db.execute(f"DROP TABLE {table}")
        with pytest.raises(StorageError, match=f"its {table} table is missing"):
            SQLiteStorage(backend.path)

        async def main() -> None:
            rt = AsyncRuntime(SPECS, storage=store)
            try:
                if table == "agents":
                    with pytest.raises(StorageError, match="no such table: agents"):
                        await rt.restore()
                else:
                    with pytest.raises(RecoveryError) as info:
                        await rt.restore()
                    errors = info.value.exceptions
                    assert all(isinstance(e, CorruptJournal) for e in errors)
                    assert {
                        (e.agent_id, e.seq) for e in errors if isinstance(e, CorruptJournal)
                    } == {
                        ("tally", JOURNAL),
                        ("c1", JOURNAL),
                        ("c2", JOURNAL),
                    }
                    assert f"no such table: {table}" in str(errors[0])
                assert rt.agent_ids == ()
            finally:
                await rt.shutdown()

        asyncio.run(main())
    finally:
        backend.close()


def test_a_start_overtaken_by_shutdown_leaves_no_agent_to_recover(backend: Backend) -> None:
    """A start whose registration is being written when the runtime shuts down raises
    RuntimeClosed, and storage does not hold the agent as one to recover."""

    async def main() -> None:
        rt = AsyncRuntime(SPECS, storage=backend.open())
        await start_system(rt, "warm")
        late = asyncio.create_task(rt.start(COUNTER, "late"))
        await asyncio.sleep(0)  # its registration is on its way to storage
        await rt.shutdown()
        with pytest.raises(RuntimeClosed):
            await late
        async with restored(backend) as again:
            assert set(again.agent_ids) == {"tally", "warm"}

    asyncio.run(main())


def test_nothing_hibernates_or_writes_once_shutdown_began(backend: Backend) -> None:
    """``hibernate`` during shutdown's drain raises RuntimeClosed (a hibernated agent's
    wake-ups would outlive the shutdown), and once shutdown is over nothing claims the store
    again: the next runtime restores at once."""

    async def main() -> None:
        rt = AsyncRuntime(SPECS, storage=backend.open())
        await start_system(rt, "c")
        await rt.call("c", "t.remind", {"by": 1})
        closing = asyncio.create_task(rt.shutdown(deadline=2))
        await asyncio.sleep(0)
        with pytest.raises(RuntimeClosed):
            await rt.hibernate("c")
        await closing
        async with restored(backend) as again:
            assert set(again.agent_ids) == {"tally", "c"}

    asyncio.run(main())


class ReadsThrough:
    """The reads, claim and close of a store standing in front of ``inner`` (a test's store
    that fails writes the way a killed process leaves them), passed through."""

    inner: Storage

    def agents(self) -> Sequence[AgentRecord | CorruptJournal]:
        return self.inner.agents()

    def load(self, agent_id: str) -> tuple[SnapshotRecord | None, list[JournalEntry]]:
        return self.inner.load(agent_id)

    def claim(self) -> None:
        getattr(self.inner, "claim", lambda: None)()

    def release(self) -> None:
        getattr(self.inner, "release", lambda: None)()

    def close(self) -> None:
        self.inner.close()


class _KilledBefore(ReadsThrough):
    """A store that writes nothing more from the first journal batch holding a signal of
    type ``kind`` on: what a process killed right before that write leaves in storage."""

    def __init__(self, inner: Storage, kind: str) -> None:
        self.inner = inner
        self.kind = kind
        self.dead = False

    def _alive(self) -> None:
        if self.dead:
            raise OSError("the process was killed")

    def register(self, record: AgentRecord) -> None:
        self._alive()
        self.inner.register(record)

    def mark_stopped(self, agent_id: str) -> None:
        self._alive()
        self.inner.mark_stopped(agent_id)

    def set_parent(self, agent_id: str, parent_id: str | None, tag: str | None) -> None:
        self._alive()
        self.inner.set_parent(agent_id, parent_id, tag)

    def mark_undelivered(self, agent_id: str, source: str, signal_id: str) -> None:
        self._alive()
        self.inner.mark_undelivered(agent_id, source, signal_id)

    def append(self, entries: Sequence[tuple[str, str, str, str, float]]) -> list[int | None]:
        if any(self.kind in signal for _, _, _, signal, _ in entries):
            self.dead = True
        self._alive()
        return self.inner.append(entries)

    def snapshot(self, record: SnapshotRecord) -> None:
        self._alive()
        self.inner.snapshot(record)


def test_a_child_whose_started_notice_a_crash_cut_off_is_announced_once(
    backend: Backend,
) -> None:
    """Live, a spawned child is registered before its parent's ``child.started`` is
    journalled, so a crash between the two leaves the child in storage and the notice
    nowhere. Recovery brings the child back with its parent and tells the parent, once: a
    later recovery finds that notice journalled and does not tell it again."""

    async def crash() -> None:
        store = _KilledBefore(backend.open(), CHILD_STARTED)
        rt = AsyncRuntime(SPECS, storage=store)
        await rt.start(BOSS, "boss")
        await rt.call("boss", "t.hire", {"tag": "kid"}, timeout=5)  # journalled: it spawns
        await rt.shutdown()
        assert store.dead  # the child's registration was written, its notice was not
        assert not any(CHILD_STARTED in signal for _, _, signal in backend.journal("boss"))

    async def recover() -> None:
        async with restored(backend) as rt:
            _kid_back_once(rt)

    asyncio.run(crash())
    asyncio.run(recover())
    asyncio.run(recover())


def _kid_back_once(rt: AsyncRuntime) -> None:
    """The boss and its child ``kid`` run, the boss told of the child once."""
    assert set(rt.agent_ids) == {"boss", "boss/kid"}
    assert rt.children("boss") == {"kid": "boss/kid"}
    assert rt.state("boss").trail == ("started:boss/kid",)


def test_a_child_whose_registration_was_lost_is_spawned_without_a_second_notice(
    backend: Backend,
) -> None:
    """A child whose parent's journal holds its ``child.started`` but whose registration
    storage lost is spawned again by recovery, its parent not told a second time."""

    async def main() -> None:
        # As a crash leaves it: the spawn is in the journal's tail, to replay.
        async with AsyncRuntime(SPECS, storage=backend.open(), snapshot_at_shutdown=False) as rt:
            await rt.start(BOSS, "boss")
            await rt.cast("boss", "t.hire", {"tag": "kid"})
            await rt.wait_until("boss", lambda a: len(a.state.trail) == 1, timeout=5)
        backend.drop_registration("boss/kid")
        for _ in range(2):
            async with restored(backend) as rt:
                _kid_back_once(rt)
                assert not rt.problems

    asyncio.run(main())


def test_a_spawn_handled_in_the_shutdown_drain_starts_its_child(backend: Backend) -> None:
    """A signal accepted before the shutdown began is handled in its drain as any other: a
    child its step spawns starts (its parent told), is stopped with the other agents once
    the drain is over, and comes back with its parent on restore. It is not refused for the
    shutdown, which would lose it for good (recovery does not try a refused spawn again)."""

    async def main() -> None:
        rt = AsyncRuntime(SPECS, storage=backend.open(), record=True)
        await rt.start(BOSS, "boss")
        # Accepted; nothing awaits between it and the shutdown, which begins before the
        # signal is journalled, so its step comes in the drain.
        rt.cast_nowait("boss", "t.hire", {"tag": "kid"})
        report = await rt.shutdown()
        assert (report.drained, dict(report.left)) == (True, {})
        assert not rt.problems
        assert [(e.agent_id, e.signal.type) for e in rt.trace] == [
            ("boss", "t.hire"),
            ("boss", CHILD_STARTED),
        ]
        async with restored(backend) as again:
            _kid_back_once(again)
            assert not again.problems

    asyncio.run(main())


def test_a_spawn_handled_in_the_shutdown_drain_starts_its_child_without_storage() -> None:
    """Without storage too: the child starts in the drain, its parent told, and is stopped
    with the rest; no problem is reported."""

    async def main() -> None:
        rt = AsyncRuntime(SPECS, record=True)
        await rt.start(BOSS, "boss")
        rt.cast_nowait("boss", "t.hire", {"tag": "kid"})  # queued when the shutdown begins
        report = await rt.shutdown()
        assert (report.drained, dict(report.left)) == (True, {})
        assert not rt.problems
        assert [(e.agent_id, e.signal.type) for e in rt.trace] == [
            ("boss", "t.hire"),
            ("boss", CHILD_STARTED),
        ]

    asyncio.run(main())


@action(params=By)
def add_tenfold(state: Count, p: By, ctx: Context) -> ActionResult[Count]:
    """The counter's ``add`` as a later release changed it."""
    return ok(_plus(state, p.by * 10), emit_to("tally", "t.added", {"by": p.by * 10}))


COUNTER_CHANGED = attrs.evolve(COUNTER, routes=[Route(pattern="t.add", target=add_tenfold)])


def test_a_graceful_shutdown_snapshots_what_each_agent_handled(backend: Backend) -> None:
    """Shutdown snapshots every agent that handled journal entries since its last snapshot,
    so a restore replays none of them: code deployed in between (here, ``add`` changed)
    does not rewrite the agents' history, as replaying it through that code did. Without
    the snapshot (``snapshot_at_shutdown=False``, or a crash) the tail is replayed."""

    async def write(store: Backend, **kw: Any) -> dict[str, Agent[Any]]:
        async with AsyncRuntime(SPECS, storage=store.open(), **kw) as rt:
            await start_system(rt, "c1")
            for i in range(3):
                await rt.cast("c1", "t.add", {"by": i + 1})
            await rt.wait_idle(timeout=5)
            return agents_of(rt)

    async def deployed(store: Backend) -> dict[str, Agent[Any]]:
        async with restored(store, (COUNTER_CHANGED, TALLY, BOSS)) as rt:
            return agents_of(rt)

    before = asyncio.run(write(backend))
    snap, tail = backend.open().load("c1")
    assert snap is not None
    assert (snap.seq, tail) == (3, [])
    assert asyncio.run(deployed(backend)) == before
    crashed = attrs.evolve(
        backend, path=backend.path.with_name("crashed.db"), prefix=f"{backend.prefix}crashed:"
    )
    try:
        asyncio.run(write(crashed, snapshot_at_shutdown=False))
        _, tail = crashed.open().load("c1")
        assert [e.seq for e in tail] == [1, 2, 3]
        assert asyncio.run(deployed(crashed))["c1"].state.n == 60  # replayed, by the new code
    finally:
        crashed.close()


def test_snapshot_at_shutdown_is_a_bool() -> None:
    """A truthy value is not taken for True: the option decides what a restore replays."""
    with pytest.raises(TypeError, match="snapshot_at_shutdown must be True or False"):
        AsyncRuntime(SPECS, snapshot_at_shutdown=1)  # type: ignore[arg-type]


def test_a_recovery_says_how_many_replayed_steps_were_refused(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    """Replayed through a spec that lost a route, the journal's steps are refused without a
    word (the state as if they had never come): the recovery says how many, once per
    agent, with the first problem, for whoever deployed the code to see."""
    asyncio.run(_write_adds(backend, 3))
    unrouted = attrs.evolve(COUNTER, routes=[r for r in COUNTER.routes if r.pattern != "t.add"])

    async def deployed() -> dict[str, Agent[Any]]:
        async with restored(backend, (unrouted, TALLY, BOSS)) as rt:
            return agents_of(rt)

    with caplog.at_level(logging.INFO, logger="jido.runtime"):
        agents = asyncio.run(deployed())
    assert agents["c1"].state.n == 0
    (said,) = [r.getMessage() for r in caplog.records if "replayed on recovery" in r.getMessage()]
    assert said.startswith("agent c1: 3 of the journal's steps replayed on recovery were refused")
    assert "t.add" in said


async def _write_adds(backend: Backend, n: int) -> None:
    """c1 adds ``n`` times, its journal left to replay (no snapshot at shutdown)."""
    async with AsyncRuntime(SPECS, storage=backend.open(), snapshot_at_shutdown=False) as rt:
        await start_system(rt, "c1")
        for i in range(n):
            await rt.cast("c1", "t.add", {"by": i + 1})
        await rt.wait_idle(timeout=5)
