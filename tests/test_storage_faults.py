"""When storage fails to write: nothing is acknowledged that is not durable, nothing that
was accepted is lost, and the runtime carries on once storage is back.

The store is a real :class:`SQLiteStorage` behind a wrapper that makes chosen operations
fail the way a full or broken disk does (``sqlite3.OperationalError``) while it is told to;
a real Redis server is stopped and started again under a running runtime.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import json
import logging
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from tests.redis_server import free_port, redis_url, start_redis
from tests.test_durable import ADOPTER, BOSS, COUNTER, GUARDED, SPECS, TALLY, agents_of, ext

from jido import Agent
from jido_interpreters import (
    AgentOptions,
    AgentRecord,
    AsyncRuntime,
    CorruptJournal,
    ErrorPolicy,
    Escalate,
    JournalEntry,
    NotDurable,
    RecoveryError,
    RedisStorage,
    SnapshotRecord,
    SQLiteStorage,
    StopAgent,
    Storage,
    StorageError,
    StorageInUse,
)

__all__ = ["redis_url"]  # the fixture, imported so pytest finds it here


class Flaky:
    """A :class:`Storage` over SQLite whose operations named in ``failing`` raise."""

    def __init__(self, path: Path) -> None:
        self.inner = SQLiteStorage(path)
        self.failing: set[str] = set()
        self.failures = 0

    def _check(self, op: str) -> None:
        if op in self.failing:
            self.failures += 1
            raise sqlite3.OperationalError("disk I/O error")

    def register(self, record: AgentRecord) -> None:
        self._check("register")
        self.inner.register(record)

    def mark_stopped(self, agent_id: str) -> None:
        self._check("mark_stopped")
        self.inner.mark_stopped(agent_id)

    def set_parent(self, agent_id: str, parent_id: str | None, tag: str | None) -> None:
        self._check("set_parent")
        self.inner.set_parent(agent_id, parent_id, tag)

    def mark_undelivered(self, agent_id: str, source: str, signal_id: str) -> None:
        self._check("mark_undelivered")
        self.inner.mark_undelivered(agent_id, source, signal_id)

    def append(self, entries: Sequence[tuple[str, str, str, str, float]]) -> list[int | None]:
        self._check("append")
        return self.inner.append(entries)

    def snapshot(self, record: SnapshotRecord) -> None:
        self._check("snapshot")
        self.inner.snapshot(record)

    def agents(self) -> Sequence[AgentRecord | CorruptJournal]:
        return self.inner.agents()

    def load(self, agent_id: str) -> tuple[SnapshotRecord | None, list[JournalEntry]]:
        return self.inner.load(agent_id)

    def close(self) -> None:
        self.inner.close()


def test_the_wrapper_is_a_storage(tmp_path: Path) -> None:
    store = Flaky(tmp_path / "db")
    assert isinstance(store, Storage)
    store.close()


async def _system(store: Storage, **kw: Any) -> AsyncRuntime:
    rt = AsyncRuntime(SPECS, storage=store, **kw)
    await rt.start(TALLY, "tally")
    await rt.start(COUNTER, "c")
    return rt


async def _reloaded(path: Path) -> dict[str, Agent[Any]]:
    rt = AsyncRuntime(SPECS, storage=SQLiteStorage(path))
    await rt.restore()
    await rt.wait_idle(timeout=5)
    agents = agents_of(rt)
    await rt.shutdown()
    return agents


def test_a_cast_that_cannot_be_journalled_is_refused_and_can_be_sent_again(
    tmp_path: Path,
) -> None:
    """``cast`` raises NotDurable (naming the agent and the signal, the store's error as its
    cause); the signal is not handled. Sent again once storage is back, it is handled once."""
    store = Flaky(tmp_path / "db")

    async def main() -> dict[str, Agent[Any]]:
        rt = await _system(store)
        await rt.cast("c", ext(1, data={"by": 1}))
        await rt.wait_idle(timeout=5)  # its emit to the tally is journalled too
        store.failing.add("append")
        sig = ext(2, data={"by": 10})
        with pytest.raises(NotDurable) as info:
            await rt.cast("c", sig)
        assert info.value.agent_id == "c"
        assert info.value.signal == sig
        assert isinstance(info.value.__cause__, sqlite3.OperationalError)
        assert "'c'" in str(info.value)
        assert "'x-2'" in str(info.value)
        await rt.wait_idle(timeout=5)  # nothing is left pending by the failure
        assert rt.state("c").n == 1
        store.failing.clear()
        await rt.cast("c", sig)
        await rt.cast("c", sig)  # a re-delivery of the same id: not handled twice
        await rt.wait_idle(timeout=5)
        assert rt.state("c").n == 11
        assert rt.state("tally").n == 11
        agents = agents_of(rt)
        await rt.shutdown()
        return agents

    before = asyncio.run(main())
    assert store.failures == 1
    assert asyncio.run(_reloaded(tmp_path / "db")) == before


def test_a_call_that_cannot_be_journalled_raises_not_durable(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``call`` raises NotDurable, and leaves no unanswered future behind (asyncio would log
    'exception was never retrieved' for it)."""
    store = Flaky(tmp_path / "db")

    async def main() -> None:
        rt = await _system(store)
        store.failing.add("append")
        with pytest.raises(NotDurable) as info:
            await rt.call("c", "t.add", {"by": 5})
        assert info.value.agent_id == "c"
        store.failing.clear()
        after = await rt.call("c", "t.add", {"by": 7})
        assert after.state.n == 7
        await rt.shutdown()

    with caplog.at_level(logging.ERROR, logger="asyncio"):
        asyncio.run(main())
        gc.collect()
    assert not [r for r in caplog.records if r.name == "asyncio"], caplog.text


def test_every_cast_of_a_failed_batch_is_refused(tmp_path: Path) -> None:
    """A failed group commit fails each of its signals; none is handled."""
    store = Flaky(tmp_path / "db")

    async def main() -> None:
        rt = await _system(store)
        store.failing.add("append")
        results = await asyncio.gather(
            *(rt.cast("c", ext(i, data={"by": 1})) for i in range(20)), return_exceptions=True
        )
        assert all(isinstance(r, NotDurable) for r in results)
        refused = [r.signal for r in results if isinstance(r, NotDurable)]
        assert sorted(s.id for s in refused if s is not None) == sorted(f"x-{i}" for i in range(20))
        await rt.wait_idle(timeout=5)
        assert rt.state("c").n == 0
        assert rt.statistics().steps == 0
        await rt.shutdown()

    asyncio.run(main())


def test_a_cast_nowait_that_cannot_be_journalled_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``cast_nowait`` has no caller left to tell: the failure is logged, naming the agent
    and the signal, and the signal is not handled."""
    store = Flaky(tmp_path / "db")

    async def main() -> None:
        rt = await _system(store)
        store.failing.add("append")
        rt.cast_nowait("c", ext(3, data={"by": 1}))
        await rt.wait_idle(timeout=5)
        assert rt.state("c").n == 0
        await rt.shutdown()

    with caplog.at_level(logging.ERROR, logger="jido.runtime"):
        asyncio.run(main())
    (record,) = [r for r in caplog.records if "x-3" in r.getMessage()]
    assert record.levelno == logging.ERROR
    assert "agent 'c'" in record.getMessage()
    assert "disk I/O error" in record.getMessage()


def test_an_emit_that_cannot_be_journalled_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The counter's step is journalled; the emit it makes to the tally is not. The counter
    keeps its step, the tally never sees the emit, and the loss is logged."""
    store = Flaky(tmp_path / "db")

    async def main() -> None:
        rt = await _system(store)
        await rt.call("c", "t.add", {"by": 4})  # journalled; its emit is next
        store.failing.add("append")
        await rt.wait_idle(timeout=5)
        assert rt.state("c").n == 4
        assert rt.state("tally").n == 0
        await rt.shutdown()

    with caplog.at_level(logging.ERROR, logger="jido.runtime"):
        asyncio.run(main())
    assert any("agent 'tally'" in r.getMessage() for r in caplog.records), caplog.text


def test_an_agent_whose_registration_fails_is_not_started(tmp_path: Path) -> None:
    """``start`` registers the agent durably before it runs: if that fails, it raises
    NotDurable and no agent is running under the id, which can then be started again."""
    store = Flaky(tmp_path / "db")

    async def main() -> None:
        rt = AsyncRuntime(SPECS, storage=store)
        store.failing.add("register")
        with pytest.raises(NotDurable) as info:
            await rt.start(COUNTER, "c")
        assert info.value.agent_id == "c"
        assert info.value.signal is None
        assert "registering it failed" in str(info.value)
        assert rt.agent_ids == ()
        store.failing.clear()
        await rt.start(COUNTER, "c")
        await rt.start(TALLY, "tally")
        await rt.call("c", "t.add", {"by": 2})
        await rt.shutdown()

    asyncio.run(main())
    assert sorted(asyncio.run(_reloaded(tmp_path / "db"))) == ["c", "tally"]


def test_a_second_start_of_an_id_being_registered_is_refused(tmp_path: Path) -> None:
    """While one start's registration is written, a second start of the same id fails (it
    would otherwise overwrite the first's registration with its own initial state)."""

    async def main() -> None:
        rt = AsyncRuntime(SPECS, storage=SQLiteStorage(tmp_path / "db"))
        first = asyncio.ensure_future(rt.start(COUNTER, "c"))
        await asyncio.sleep(0)  # the first start is now waiting for its registration
        with pytest.raises(ValueError, match="already running"):
            await rt.start(COUNTER, "c")
        await first
        assert rt.agent_ids == ("c",)
        await rt.shutdown()

    asyncio.run(main())


def test_a_child_whose_registration_fails_is_logged_and_stops(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = Flaky(tmp_path / "db")

    async def main() -> None:
        rt = AsyncRuntime(SPECS, storage=store)
        await rt.start(BOSS, "boss")
        store.failing.add("register")
        await rt.call("boss", "t.hire", {"tag": "kid"})
        await rt.wait_until("boss", lambda a: len(a.state.trail) == 2, timeout=5)
        # Not durable, so not running: its parent is told, as of any child's exit.
        assert rt.state("boss").trail == ("started:boss/kid", "exit:boss/kid")
        assert rt.agent_ids == ("boss",)
        await rt.shutdown()

    with caplog.at_level(logging.ERROR, logger="jido.runtime"):
        asyncio.run(main())
    assert any(
        "agent 'boss/kid': registering it failed" in r.getMessage() for r in caplog.records
    ), caplog.text


@pytest.mark.parametrize("policy", [StopAgent(), Escalate()])
def test_an_agent_its_policy_stopped_stays_stopped_without_the_mark(
    tmp_path: Path, policy: ErrorPolicy
) -> None:
    """A crash under ``StopAgent`` or ``Escalate`` stops the agent; should the process die
    before storage marks it stopped (here: the mark fails to be written), recovery meets
    the crash in the journal and stops it again, rather than bring it back to handle what
    were dead letters. Its parent's ``child.exit`` is not repeated."""
    store = Flaky(tmp_path / "db")
    options = {"guarded": AgentOptions(error_policy=policy)}
    specs = (*SPECS, GUARDED)

    async def main() -> None:
        rt = AsyncRuntime(specs, storage=store, options=options)
        await rt.start(TALLY, "tally")
        await rt.start(BOSS, "boss")
        await rt.call("boss", "t.hire", {"tag": "g", "spec": "guarded"})
        store.failing.add("mark_stopped")
        await rt.cast("boss/g", "t.add", {"by": 1})
        rt.cast_nowait("boss/g", "t.add", {"by": 13})  # the guard raises
        rt.cast_nowait("boss/g", "t.add", {"by": 2})  # a dead letter
        await rt.wait_until("boss", lambda a: len(a.state.trail) == 2, timeout=5)
        assert rt.agent_ids == ("tally", "boss")
        await rt.shutdown()
        assert store.failures >= 1

    asyncio.run(main())

    async def recovered() -> None:
        async with AsyncRuntime(
            specs, storage=SQLiteStorage(tmp_path / "db"), options=options
        ) as rt:
            assert await rt.restore() == ("tally", "boss")
            await rt.wait_idle(timeout=5)
            assert rt.state("boss").trail == ("started:boss/g", "exit:boss/g")
            assert rt.state("tally").n == 1

    asyncio.run(recovered())


def test_an_agent_whose_start_snapshot_fails_is_stopped(tmp_path: Path) -> None:
    """The snapshot written at start holds the ids and due times of the declared schedules;
    an agent it cannot be written for does not run (``start`` raises NotDurable), and no
    recovery brings it back with schedules it would fire twice."""
    store = Flaky(tmp_path / "db")

    async def main() -> None:
        async with AsyncRuntime(SPECS, storage=store) as rt:
            await rt.start(TALLY, "tally")
            store.failing.add("snapshot")
            with pytest.raises(NotDurable, match="'c': writing its start snapshot failed"):
                await rt.start(COUNTER, "c")
            assert rt.agent_ids == ("tally",)
            store.failing.clear()
        assert await _reloaded_ids(tmp_path / "db") == ("tally",)

    asyncio.run(main())


async def _reloaded_ids(path: Path) -> tuple[str, ...]:
    async with AsyncRuntime(SPECS, storage=SQLiteStorage(path)) as rt:
        return await rt.restore()


class _Held(Flaky):
    """SQLite that, once it has read what a restore reads first (the records, or with
    ``load_of`` that agent's journal), waits until ``go`` is set: a restore that read, then
    took long to come back. ``read`` tells it is held."""

    def __init__(self, path: Path, load_of: str | None = None) -> None:
        super().__init__(path)
        self.load_of = load_of
        self.read = threading.Event()
        self.go = threading.Event()

    def _hold(self) -> None:
        if not self.read.is_set():
            self.read.set()
            self.go.wait(timeout=10)

    def agents(self) -> Sequence[AgentRecord | CorruptJournal]:
        records = super().agents()
        if self.load_of is None:
            self._hold()
        return records

    def load(self, agent_id: str) -> tuple[SnapshotRecord | None, list[JournalEntry]]:
        loaded = super().load(agent_id)
        if agent_id == self.load_of:
            self._hold()
        return loaded


def test_an_agent_stopped_during_another_restore_stays_stopped_to_senders(
    tmp_path: Path,
) -> None:
    """A restore that read the records before an agent was restored and stopped by
    another does not take that agent for one waiting in storage: what is sent to it is a
    dead letter, not journalled for a recovery that will never come."""
    path = tmp_path / "agents.db"

    async def main() -> None:
        async with AsyncRuntime(SPECS, storage=SQLiteStorage(path)) as rt:
            await rt.start(TALLY, "tally")
            await rt.start(COUNTER, "c")
        store = _Held(path)
        async with AsyncRuntime(SPECS, storage=store) as rt:
            slow = asyncio.create_task(rt.restore(only=["c"]))
            await asyncio.to_thread(store.read.wait, 10)  # its records are read; it is held
            assert await rt.restore(only=["tally"]) == ("tally",)
            await rt.stop("tally")
            store.go.set()
            assert await slow == ("c",)
            await rt.call("c", "t.add", {"by": 1}, timeout=5)
            await rt.wait_idle(timeout=5)
            assert [(a, s.type) for a, s in rt.dead_letters] == [("tally", "t.added")]

    asyncio.run(main())


class _LoadFailsOnce(Flaky):
    """SQLite whose next ``load`` fails once ``fail_load`` is set (a dropped connection)."""

    fail_load = False

    def load(self, agent_id: str) -> tuple[SnapshotRecord | None, list[JournalEntry]]:
        if self.fail_load:
            self.fail_load = False
            raise sqlite3.OperationalError("connection dropped")
        return super().load(agent_id)


def test_a_failed_thaw_keeps_what_was_parked_for_the_next(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A thaw that fails (storage could not be read) leaves what was sent to the hibernated
    agent journalled and parked, not reported as dead letters: the next thaw hands it over,
    and the runtime can still go idle meanwhile."""
    store = _LoadFailsOnce(tmp_path / "db")

    async def main() -> None:
        async with AsyncRuntime(SPECS, storage=store) as rt:
            await rt.start(TALLY, "tally")
            await rt.start(COUNTER, "c")
            await rt.hibernate("c")
            store.fail_load = True
            await rt.cast("c", "t.add", {"by": 2})  # journalled; its thaw fails
            await rt.wait_idle(timeout=5)
            assert rt.hibernated_ids == ("c",)
            assert not rt.dead_letters
            await rt.thaw("c")
            await rt.wait_idle(timeout=5)
            assert rt.state("c").n == 2
            assert not rt.dead_letters

    with caplog.at_level(logging.ERROR, logger="jido.runtime"):
        asyncio.run(main())
    assert any("thawing hibernated agent c failed" in r.getMessage() for r in caplog.records)


def test_a_signal_kept_while_its_agent_is_being_restored_is_handled(tmp_path: Path) -> None:
    """An emit journalled for an agent not yet recovered, written after a restore of that
    agent read its journal, is handed to it once it is back (that restore never saw it)."""
    path = tmp_path / "agents.db"

    async def main() -> None:
        async with AsyncRuntime(SPECS, storage=SQLiteStorage(path)) as rt:
            await rt.start(TALLY, "tally")
            await rt.start(COUNTER, "c")
        store = _Held(path, load_of="tally")
        async with AsyncRuntime(SPECS, storage=store) as rt:
            assert await rt.restore(only=["c"]) == ("c",)  # the tally stays in storage
            restoring = asyncio.create_task(rt.restore(only=["tally"]))
            await asyncio.to_thread(store.read.wait, 10)  # it has read the tally's journal
            await rt.call("c", "t.add", {"by": 4}, timeout=5)  # its emit: kept for the tally
            await rt.wait_idle(timeout=5)  # written
            store.go.set()
            assert await restoring == ("tally",)
            await rt.wait_idle(timeout=5)
            assert rt.state("tally").n == 4

    asyncio.run(main())


def test_a_failed_snapshot_loses_nothing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Snapshots are an optimisation over the journal: when one fails (logged), recovery
    replays the journal instead and gives back equal agents."""
    store = Flaky(tmp_path / "db")

    async def main() -> dict[str, Agent[Any]]:
        rt = await _system(store, snapshot_every=2)
        store.failing.add("snapshot")
        for i in range(7):
            await rt.cast("c", ext(i, data={"by": i}))
        await rt.wait_idle(timeout=5)
        agents = agents_of(rt)
        await rt.shutdown()
        return agents

    with caplog.at_level(logging.ERROR, logger="jido.runtime"):
        before = asyncio.run(main())
    assert store.failures >= 3
    assert any("storage snapshot failed" in r.getMessage() for r in caplog.records)
    assert before["c"].state.n == sum(range(7))
    assert asyncio.run(_reloaded(tmp_path / "db")) == before


def test_a_hibernation_whose_snapshot_fails_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The agent is hibernated all the same (a thaw replays its journal): its caller was
    given the store's own exception, for a hibernation that had happened."""
    store = Flaky(tmp_path / "db")

    async def main() -> None:
        rt = await _system(store)
        await rt.call("c", ext(1, data={"by": 5}))
        store.failing.add("snapshot")
        await rt.hibernate("c")
        assert rt.hibernated_ids == ("c",)
        store.failing.clear()
        assert (await rt.call("c", ext(2, data={"by": 1}), timeout=5)).state.n == 6
        await rt.shutdown()

    with caplog.at_level(logging.WARNING, logger="jido.runtime"):
        asyncio.run(main())
    (record,) = [r for r in caplog.records if "hibernated, but its snapshot" in r.getMessage()]
    assert "disk I/O error" in record.getMessage()


def test_a_store_of_ones_own_that_loses_an_entry_fails_recovery(tmp_path: Path) -> None:
    """The runtime checks what any store's ``load`` gives: journal entries that do not
    follow on from the snapshot without a gap (a store of one's own losing one) fail
    recovery with a CorruptJournal naming the agent and the missing entry."""
    store = Flaky(tmp_path / "db")

    async def main() -> None:
        rt = await _system(store, snapshot_at_shutdown=False)  # its journal left to replay
        for i in range(3):
            await rt.cast("c", ext(i, data={"by": i}))
        await rt.wait_idle(timeout=5)
        await rt.shutdown()

    asyncio.run(main())
    store.close()
    losing = Flaky(tmp_path / "db")
    load = losing.inner.load

    def lossy(agent_id: str) -> tuple[SnapshotRecord | None, list[JournalEntry]]:
        snap, entries = load(agent_id)
        return snap, [e for e in entries if (e.agent_id, e.seq) != ("c", 2)]

    losing.load = lossy  # type: ignore[method-assign]

    async def restore() -> None:
        rt = AsyncRuntime(SPECS, storage=losing)
        try:
            with pytest.raises(RecoveryError) as info:
                await rt.restore()
            (err,) = info.value.exceptions
            assert isinstance(err, CorruptJournal)
            assert (err.agent_id, err.seq) == ("c", 2)
            assert rt.agent_ids == ()
        finally:
            await rt.shutdown()

    asyncio.run(restore())
    losing.close()


def test_shutdown_writes_what_was_handed_to_storage(tmp_path: Path) -> None:
    """A stop right before shutdown is written: shutdown waits for the batch in flight
    rather than cancelling it (which lost it when the storage thread had not started it)."""

    async def main(k: int) -> None:
        rt = AsyncRuntime(SPECS, storage=SQLiteStorage(tmp_path / f"{k}.db"))
        await rt.start(COUNTER, "c")
        await rt.start(TALLY, "tally")
        await rt.stop("tally")
        await rt.shutdown()

    async def reload(k: int) -> tuple[str, ...]:
        rt = AsyncRuntime(SPECS, storage=SQLiteStorage(tmp_path / f"{k}.db"))
        await rt.restore()
        ids = rt.agent_ids
        await rt.shutdown()
        return ids

    for k in range(20):
        asyncio.run(main(k))
        assert asyncio.run(reload(k)) == ("c",), k


async def _restored_as_left(rt: AsyncRuntime, url: str, prefix: str) -> dict[str, Agent[Any]]:
    """Shut ``rt`` down, restore its Redis prefix in a fresh runtime, and check that every
    agent came back as it was left; returns them."""
    before = agents_of(rt)
    await rt.shutdown()
    again = AsyncRuntime(SPECS, storage=RedisStorage(url, prefix=prefix))
    await again.restore()
    await again.wait_idle(timeout=5)
    assert agents_of(again) == before
    await again.shutdown()
    return before


def test_a_redis_outage_refuses_signals_and_loses_nothing(tmp_path: Path) -> None:
    """A real Redis server stops under a running runtime: ``cast`` raises NotDurable (the
    client's connection error as its cause) and nothing is handled. Once the server is back
    on the same port with its append-only file, the runtime carries on by itself, and a
    fresh runtime recovers agents equal to the live ones."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (.ci/run installs it)")
    import redis

    port = free_port()

    async def main() -> dict[str, Agent[Any]]:
        with start_redis(tmp_path, port) as url:
            rt = await _system(RedisStorage(url, prefix="outage:"))
            await rt.cast("c", ext(1, data={"by": 1}))
            await rt.wait_idle(timeout=5)
        # The server is down now.
        sig = ext(2, data={"by": 10})
        with pytest.raises(NotDurable) as info:
            await rt.cast("c", sig)
        assert isinstance(info.value.__cause__, redis.ConnectionError)
        await rt.wait_idle(timeout=5)
        assert rt.state("c").n == 1
        with start_redis(tmp_path, port):
            await rt.cast("c", sig)
            await rt.call("c", "t.add", {"by": 100})
            await rt.wait_idle(timeout=5)
            assert rt.state("c").n == 111
            assert rt.state("tally").n == 111
            return await _restored_as_left(rt, url, "outage:")

    assert asyncio.run(main())["c"].state.n == 111


@functools.cache
def _debug_flags() -> tuple[str, ...]:
    """What lets a test server run ``DEBUG SLEEP``: off by default since Redis 7, and an
    unknown option before it."""
    found = subprocess.run(
        ["redis-server", "--version"], capture_output=True, text=True, check=True
    ).stdout
    major = int(found.split("v=", 1)[1].split(".", 1)[0])
    return ("--enable-debug-command", "yes") if major >= 7 else ()


def _stall(url: str, seconds: float) -> threading.Thread:
    """Stall the server for ``seconds`` (``DEBUG SLEEP``: it reads nothing meanwhile, and
    runs what arrived once it wakes); returns once it is stalled."""
    import redis

    blocker = redis.Redis.from_url(url)
    thread = threading.Thread(target=blocker.execute_command, args=("DEBUG", "SLEEP", seconds))
    thread.start()
    probe = redis.Redis.from_url(url, socket_timeout=0.05, retry=None)
    # Bounded by time, not by pings: a busy machine may start the thread late.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            probe.ping()
        except redis.TimeoutError:
            return thread
    raise AssertionError("the server did not stall")


def _until(holds: Callable[[], bool], what: str) -> None:
    """Wait, bounded by time, until ``holds()``: each call a round trip to the server, which
    may wake from a stall before it reads every connection that waited."""
    deadline = time.monotonic() + 10
    while not holds():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within 10 s: {what}")


def _journalled_late(url: str, key: str, length: int) -> Any:
    """Once the stalled server has run what reached it meanwhile: wait until the journal
    list ``key`` holds ``length`` entries; returns a plain client."""
    import redis

    raw = redis.Redis.from_url(url)
    _until(lambda: raw.llen(key) == length, f"{key} holds {length} entries")
    return raw


TAKEN_BACK = "journal entries were taken out again"


def _impatient(url: str) -> Any:
    """A client that gives up fast: a short timeout, and no retries of its own (the store
    still sends a write again a few times, about 1.2 s in all)."""
    import redis

    return redis.Redis.from_url(url, socket_timeout=0.2, retry=None)


def test_a_write_the_server_ran_after_the_store_gave_up_is_taken_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A Redis server stalls past the client's timeouts while a cast is journalled, and runs
    the write once it wakes. The cast raised NotDurable, so the store takes the late entry
    out again before anything else: the signal was refused, as its sender was told, sending
    it again is handled (not dropped as journalled), and a fresh runtime restores agents
    equal to the live ones."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (.ci/run installs it)")
    import redis

    async def main(url: str) -> None:
        # A long lease: its keeper thread (which settles too) does not wake in the test.
        rt = await _system(RedisStorage(client=_impatient(url), prefix="late:", claim_ttl=60))
        await rt.cast("c", ext(1, data={"by": 1}))
        await rt.wait_idle(timeout=5)
        stalled = _stall(url, 2.5)
        sig = ext(2, data={"by": 10})
        with pytest.raises(NotDurable) as info:
            await rt.cast("c", sig)
        assert isinstance(info.value.__cause__, redis.TimeoutError)
        await asyncio.to_thread(stalled.join)
        # The server runs it once it wakes (the journal holds what the sender was refused)
        # and the store takes it back, when it casts next or from its keeper thread.
        raw = redis.Redis.from_url(url)
        _until(lambda: raw.llen("late:j:c") == 2 or TAKEN_BACK in caplog.text, "it ran late")
        await rt.cast("c", sig)
        await rt.wait_idle(timeout=5)
        assert rt.state("c").n == 11
        assert [json.loads(e)[2] for e in raw.lrange("late:j:c", 0, -1)] == ["x-1", "x-2"]
        assert "1 " + TAKEN_BACK in caplog.text
        await _restored_as_left(rt, url, "late:")

    with start_redis(tmp_path, extra=_debug_flags()) as url:
        asyncio.run(main(url))


def test_settling_takes_back_only_what_the_late_write_journalled(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The late batch held a signal journalled before it (sent again): that entry stays,
    and only the batch's own entries go; the store logs what it took back."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (.ci/run installs it)")
    import redis

    record = AgentRecord(agent_id="a", spec="s", schema_version=1, initial="{}")
    with start_redis(tmp_path, extra=_debug_flags()) as url:
        # Not claimed: no keeper thread settles it before the load does.
        store = RedisStorage(client=_impatient(url), prefix="late:")
        store.register(record)
        assert store.append([("a", "/s", "0", "{}", 1.0)]) == [1]
        stalled = _stall(url, 2.5)
        with pytest.raises(redis.TimeoutError):
            store.append([("a", "/s", "1", "{}", 2.0), ("a", "/s", "0", "{}", 2.0)])
        stalled.join()
        _journalled_late(url, "late:j:a", 2)  # it ran late
        with caplog.at_level(logging.WARNING, logger="jido.runtime"):
            _, entries = store.load("a")
        assert [(e.seq, e.signal_id) for e in entries] == [(1, "0")]
        assert "1 " + TAKEN_BACK in caplog.text
        assert store.append([("a", "/s", "1", "{}", 3.0), ("a", "/s", "0", "{}", 3.0)]) == [
            2,
            None,
        ]
        store.close()


def test_a_registration_the_server_ran_after_start_gave_up_is_marked_stopped(
    tmp_path: Path,
) -> None:
    """``start`` raised NotDurable (not started) while a stalled server ran the
    registration once it woke: the store marks it stopped, so starting the id again works,
    rather than being refused as registered, and a restore brings back what runs."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (.ci/run installs it)")
    import redis

    async def main(url: str) -> None:
        rt = await _system(RedisStorage(client=_impatient(url), prefix="reg:", claim_ttl=60))
        stalled = _stall(url, 2.5)
        with pytest.raises(NotDurable) as info:
            await rt.start(COUNTER, "late")
        assert isinstance(info.value.__cause__, redis.TimeoutError)
        await asyncio.to_thread(stalled.join)
        raw = redis.Redis.from_url(url)
        _until(lambda: bool(raw.hexists("reg:agents", "late")), "the registration ran late")
        assert "late" not in rt.agent_ids
        await rt.start(COUNTER, "late")
        await rt.cast("late", ext(1, data={"by": 5}))
        await rt.wait_idle(timeout=5)
        assert (await _restored_as_left(rt, url, "reg:"))["late"].state.n == 5

    with start_redis(tmp_path, extra=_debug_flags()) as url:
        asyncio.run(main(url))


def test_a_late_write_settled_after_its_record_expired_is_logged_as_unknown(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The server keeps what a batch did for 30 s. Settled later than that, a batch whose
    signal the id set holds cannot be told from one sent again after being journalled:
    nothing is taken out, and the store says at ERROR that the outcome stays unknown."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (.ci/run installs it)")
    import redis

    record = AgentRecord(agent_id="a", spec="s", schema_version=1, initial="{}")
    with start_redis(tmp_path, extra=_debug_flags()) as url:
        # Not claimed: no keeper thread settles it before the record is gone.
        store = RedisStorage(client=_impatient(url), prefix="old:")
        store.register(record)
        assert store.append([("a", "/s", "0", "{}", 0.5)]) == [1]  # loads the script
        stalled = _stall(url, 2.5)
        with pytest.raises(redis.TimeoutError):
            store.append([("a", "/s", "1", "{}", 1.0)])
        stalled.join()
        raw = _journalled_late(url, "old:j:a", 2)
        assert raw.delete(*raw.keys("old:batch:*")) == 2  # as if 30 s had passed
        with caplog.at_level(logging.ERROR, logger="jido.runtime"):
            _, entries = store.load("a")
        assert [e.signal_id for e in entries] == ["0", "1"]
        assert "settled too late" in caplog.text
        assert "id '1'" in caplog.text
        store.close()


def test_a_write_the_server_never_ran_is_settled_so_it_never_will(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A write that failed before the server read it (the server was down) is marked
    abandoned by the next one, so a copy of it arriving later writes nothing; a signal in
    it that was journalled before (sent again) is no sign that it ran."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (.ci/run installs it)")
    import redis

    port = free_port()
    record = AgentRecord(agent_id="a", spec="s", schema_version=1, initial="{}")
    with start_redis(tmp_path, port) as url:
        store = RedisStorage(client=_impatient(url), prefix="never:", claim_ttl=60)
        store.claim()
        store.register(record)
        assert store.append([("a", "/s", "0", "{}", 0.5)]) == [1]
    with pytest.raises(redis.ConnectionError):  # "0" sent again: journalled, not by this
        store.append([("a", "/s", "1", "{}", 1.0), ("a", "/s", "0", "{}", 1.0)])
    with start_redis(tmp_path, port) as url, caplog.at_level(logging.WARNING, "jido.runtime"):
        raw = redis.Redis.from_url(url)
        assert store.append([("a", "/s", "2", "{}", 2.0)]) == [2]
        marks = [raw.get(k) for k in raw.keys("never:batch:*")]
        assert b'"abandoned"' in marks
        _, entries = store.load("a")
        assert [e.signal_id for e in entries] == ["0", "2"]
        store.close()
    assert caplog.records == []  # nothing ran late, nothing to take back or warn of


def test_a_runtime_shut_down_during_a_stall_leaves_the_next_owners_journal_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A runtime shuts down while the server stalls, a write of unknown outcome unsettled:
    it says so at ERROR and forgets it, rather than settling it later without its claim.
    The server runs the write once it wakes; the next runtime, which claims the prefix and
    restores (handling that signal), keeps its journal whole, whatever the first runtime's
    store does after."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (.ci/run installs it)")

    async def main(url: str) -> None:
        store = RedisStorage(client=_impatient(url), prefix="gone:", claim_ttl=1)
        rt = await _system(store, snapshot_at_shutdown=False)
        await rt.cast("c", ext(1, data={"by": 1}))
        await rt.wait_idle(timeout=5)
        stalled = _stall(url, 4)
        with pytest.raises(NotDurable):
            await rt.cast("c", ext(2, data={"by": 10}))
        with caplog.at_level(logging.ERROR, logger="jido.runtime"):
            await rt.shutdown()
        assert "let go with a write whose every send failed still unsettled" in caplog.text
        await asyncio.to_thread(stalled.join)
        raw = _journalled_late(url, "gone:j:c", 2)
        _until(lambda: not raw.exists("gone:claim"), "the first runtime's lease lapses")
        second = AsyncRuntime(SPECS, storage=RedisStorage(url, prefix="gone:"))
        await second.restore()
        await second.wait_idle(timeout=5)
        assert second.state("c").n == 11  # the write ran: the journal is the truth now
        await asyncio.to_thread(store.close)
        await second.cast("c", ext(3, data={"by": 100}))
        await second.wait_idle(timeout=5)
        await _restored_as_left(second, url, "gone:")

    with start_redis(tmp_path, extra=_debug_flags()) as url:
        asyncio.run(main(url))


def test_the_keeper_settles_an_idle_stores_write_once_the_server_answers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """With a long lease and nothing else written, the thread that keeps the claim settles
    a write of unknown outcome as soon as the server answers, well within the 30 s the
    server keeps what a batch did."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (.ci/run installs it)")
    import redis

    record = AgentRecord(agent_id="a", spec="s", schema_version=1, initial="{}")
    with start_redis(tmp_path, extra=_debug_flags()) as url:
        store = RedisStorage(client=_impatient(url), prefix="idle:", claim_ttl=300)
        store.claim()
        store.register(record)
        assert store.append([("a", "/s", "0", "{}", 0.5)]) == [1]
        stalled = _stall(url, 2.5)
        with pytest.raises(redis.TimeoutError):
            store.append([("a", "/s", "1", "{}", 1.0)])
        stalled.join()
        raw = redis.Redis.from_url(url)
        # Run late, then taken back by the keeper alone (the store is not called meanwhile).
        _until(lambda: TAKEN_BACK in caplog.text, "the keeper took the late write back")
        assert raw.llen("idle:j:a") == 1
        store.close()


# ---------------------------------------------------------------------------- one owner


@pytest.mark.parametrize("via", ["its name", "a symbolic link"])
def test_a_second_runtime_on_the_same_file_is_refused(tmp_path: Path, via: str) -> None:
    """Two runtimes writing one SQLite file would each run their own copies of its agents:
    the second is refused (StorageInUse, naming the file and the holder's process) until the
    first shuts down, whatever name it reaches the file by. Reading the file needs no
    claim."""
    path = tmp_path / "agents.db"
    other = path
    if via == "a symbolic link":
        SQLiteStorage(path).close()
        other = tmp_path / "link.db"
        other.symlink_to(path)

    async def main() -> None:
        first = await _system(SQLiteStorage(path))
        await first.call("c", "t.add", {"by": 3})
        second = AsyncRuntime(SPECS, storage=SQLiteStorage(other))
        with pytest.raises(StorageInUse) as info:
            await second.restore()
        assert info.value.where == str(other)
        assert info.value.holder == str(os.getpid())
        assert str(other) in str(info.value)
        assert [r.agent_id for r in SQLiteStorage(path).agents()] == ["tally", "c"]
        await first.shutdown()
        assert await second.restore() == ("tally", "c")
        assert second.state("c").n == 3
        await second.shutdown()

    asyncio.run(main())


@pytest.mark.parametrize("kind", ["file", "memory", "redis"])
def test_one_store_object_given_to_two_runtimes_is_refused_to_the_second(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The same store object handed to a second runtime while the first holds it is
    refused as another store on the file is (the holder is this process): else the second
    would restore, and run, its own copy of the first's agents. Once the first shuts down,
    the second may have it."""
    store: Storage
    if kind == "redis":
        url = request.getfixturevalue("redis_url")
        store = RedisStorage(url, prefix=f"claim:{os.getpid()}:shared-object:")
    else:
        store = SQLiteStorage(tmp_path / "agents.db" if kind == "file" else ":memory:")

    async def main() -> None:
        first = await _system(store)
        await first.call("c", "t.add", {"by": 2})
        second = AsyncRuntime(SPECS, storage=store)
        with pytest.raises(StorageInUse, match="this one") as info:
            await second.restore()
        assert str(os.getpid()) in info.value.holder
        assert first.state("c").n == 2  # the first goes on, its claim kept
        await first.call("c", "t.add", {"by": 1})
        await first.shutdown()
        assert await second.restore() == ("tally", "c")
        assert second.state("c").n == 3
        await second.shutdown()

    try:
        asyncio.run(main())
    finally:
        store.close()


def test_a_store_opened_before_its_last_owner_wrote_reads_it_again_when_claimed(
    tmp_path: Path,
) -> None:
    """A store opened while another runtime still owned the file, and claimed once that one
    shut down, works from what the file holds then: a dead letter the owner remembered is
    not handed to its agent by the recovery, and new registrations come after the old."""
    path = tmp_path / "agents.db"
    early = SQLiteStorage(path)  # opened (not claimed) before the owner writes anything

    async def owner() -> None:
        async with AsyncRuntime(SPECS, storage=SQLiteStorage(path)) as rt:
            await rt.start(COUNTER, "c")
            await rt.call("c", "t.add", {"by": 3})  # its emit to the tally: a dead letter
            await rt.start(TALLY, "tally")
            await rt.wait_idle(timeout=5)

    async def successor() -> None:
        async with AsyncRuntime(SPECS, storage=early) as rt:
            assert await rt.restore() == ("c", "tally")
            await rt.wait_idle(timeout=5)
            assert rt.state("tally").n == 0
            await rt.start(COUNTER, "z")
        assert [r.agent_id for r in SQLiteStorage(path).agents()] == ["c", "tally", "z"]

    asyncio.run(owner())
    asyncio.run(successor())


_HOLDER = """
import asyncio, sys
from jido_interpreters import AsyncRuntime, SQLiteStorage
from tests.test_durable import COUNTER, SPECS, TALLY

async def main():
    rt = AsyncRuntime(SPECS, storage=SQLiteStorage(sys.argv[1]))
    await rt.start(TALLY, "tally")
    await rt.start(COUNTER, "c")
    await rt.call("c", "t.add", {"by": 7})
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

asyncio.run(main())
"""


def test_the_claim_of_a_killed_process_is_gone_with_it(tmp_path: Path) -> None:
    """Another process holds the file: refused, naming that process. Killed with SIGKILL
    (no shutdown), its claim goes with it, and its agents are recovered here."""
    path = tmp_path / "agents.db"

    async def refused(pid: int) -> None:
        rt = AsyncRuntime(SPECS, storage=SQLiteStorage(path))
        with pytest.raises(StorageInUse) as info:
            await rt.restore()
        assert info.value.holder == str(pid)
        assert info.value.lapses_in is None  # a file lock: it goes with its process
        await rt.shutdown()

    with subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=Path(__file__).parent.parent,
    ) as holder:
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline() == b"ready\n"  # it holds the claim now
            asyncio.run(refused(holder.pid))
        finally:
            holder.kill()
            holder.wait(timeout=10)

    async def recovered() -> int:
        rt = AsyncRuntime(SPECS, storage=SQLiteStorage(path))
        await rt.restore()
        n: int = rt.state("c").n
        await rt.shutdown()
        return n

    assert asyncio.run(recovered()) == 7


def test_one_runtime_per_redis_prefix(redis_url: str) -> None:
    """A runtime leases its Redis prefix; a second is refused (naming the holder's host and
    process) while the first runs, renewing its lease, and may take it once it shut down."""
    import socket

    prefix = f"claim:{os.getpid()}:one:"

    async def main() -> None:
        # A lease of 3 s, renewed every third of it: a loaded machine's stall of a second
        # or two does not let it lapse (with 0.3 s it once did, and 1 s is close).
        first = await _system(RedisStorage(redis_url, prefix=prefix, claim_ttl=3.0))
        await first.call("c", "t.add", {"by": 2})
        # Over two leases long: held because it is renewed, not because it has not run out.
        await asyncio.sleep(6.5)
        second = AsyncRuntime(SPECS, storage=RedisStorage(redis_url, prefix=prefix))
        with pytest.raises(StorageInUse) as info:
            await second.restore()
        assert info.value.holder == f"{socket.gethostname()}:{os.getpid()}"
        assert prefix in info.value.where
        # How long a dead holder would keep the prefix: at most a lease.
        assert info.value.lapses_in is not None
        assert 0 < info.value.lapses_in <= 3.0
        assert "its claim lapses within" in str(info.value)
        assert "redis" not in info.value.where.split("prefix")[1]  # no URL, no password
        await first.call("c", "t.add", {"by": 1})  # the holder goes on writing
        await first.shutdown()
        assert await second.restore() == ("tally", "c")
        assert second.state("c").n == 3
        await second.shutdown()

    asyncio.run(main())


def test_a_runtime_whose_redis_lease_lapsed_stops_writing(redis_url: str) -> None:
    """If the lease lapses (here: taken away from outside, as when the holder was cut off
    or paused for longer than it) and another runtime claims the prefix, the first's next
    write is refused inside the write itself (the claim is its fence): its cast raises
    NotDurable, caused by StorageInUse naming the new holder, and nothing more is written."""
    import redis

    prefix = f"claim:{os.getpid()}:lapsed:"

    async def main() -> None:
        first = await _system(RedisStorage(redis_url, prefix=prefix))
        await first.call("c", "t.add", {"by": 1})
        client = redis.Redis.from_url(redis_url)
        client.delete(prefix + "claim")
        other = RedisStorage(redis_url, prefix=prefix)
        other.claim()
        length = client.llen(prefix + "j:c")
        with pytest.raises(NotDurable) as info:
            await first.cast("c", "t.add", {"by": 1})
        assert isinstance(info.value.__cause__, StorageInUse)
        assert info.value.__cause__.holder.endswith(f":{os.getpid()}")
        assert client.llen(prefix + "j:c") == length
        assert first.state("c").n == 1
        await first.shutdown()
        other.close()
        client.close()

    asyncio.run(main())


@pytest.mark.parametrize(("every", "hibernated"), [(1000, False), (1, False), (1000, True)])
def test_an_adoption_storage_never_heard_of_is_made_again_on_recovery(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, every: int, hibernated: bool
) -> None:
    """If the link never reached storage, recovery makes it again from the journalled step
    that adopted (without a second ``child.started``), and writes it. No snapshot of the
    adopter stands in for that step: not the one at shutdown, nor one taken after it (with
    ``snapshot_every=1``, the one after the very step, taken before the write failed), nor
    its hibernation's."""
    path = tmp_path / "links.db"
    specs = (*SPECS, ADOPTER)

    async def main() -> None:
        flaky = Flaky(path)
        flaky.failing.add("set_parent")
        with caplog.at_level(logging.CRITICAL, logger="jido.runtime"):
            async with AsyncRuntime(specs, storage=flaky, snapshot_every=every) as rt:
                await rt.start(ADOPTER, "boss")
                await rt.start(COUNTER, "w")
                await rt.call("boss", "t.adopt", {"child_id": "w"})
                await rt.wait_idle(timeout=5)
                if hibernated:
                    await rt.hibernate("boss")
        flaky.close()
        assert flaky.failures == 1
        for _ in range(2):  # the second recovery finds the link in storage
            store = SQLiteStorage(path)
            async with AsyncRuntime(specs, storage=store) as rt:
                await rt.restore()
                await rt.wait_idle(timeout=5)
                assert rt.children("boss") == {"adopted": "w"}
                assert rt.parent("w") == "boss"
                assert rt.state("boss").trail == ("started:w",)
            store.close()
        store = SQLiteStorage(path)
        records = [r for r in store.agents() if isinstance(r, AgentRecord)]
        store.close()
        (record,) = [r for r in records if r.agent_id == "w"]
        assert (record.parent_id, record.tag) == ("boss", "adopted")

    asyncio.run(main())


def test_a_redis_lease_that_lapsed_unclaimed_is_taken_again(redis_url: str) -> None:
    """A lease that lapsed with nobody claiming the prefix since (the server was away, or
    the holder paused, for longer than ``claim_ttl``) is the holder's again: its next write
    takes it back and goes through."""
    import redis

    prefix = f"claim:{os.getpid()}:unclaimed:"

    async def main() -> None:
        store = RedisStorage(redis_url, prefix=prefix)
        rt = await _system(store)
        await rt.call("c", "t.add", {"by": 1})
        client = redis.Redis.from_url(redis_url)
        token = client.get(prefix + "claim")
        client.delete(prefix + "claim")  # lapsed; nobody claimed it since
        await rt.cast("c", "t.add", {"by": 1})
        await rt.wait_idle(timeout=5)
        assert rt.state("c").n == 2
        assert client.get(prefix + "claim") == token
        await rt.shutdown()
        client.close()

    asyncio.run(main())


class _ReplyDropper:
    """A TCP proxy in front of a Redis server that, when told to, lets the next script call
    through and drops its reply (closing the connection), as a network cut would."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.armed = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            state = {"drop": False}
            threading.Thread(target=self._pump, args=(client, server, True, state)).start()
            threading.Thread(target=self._pump, args=(server, client, False, state)).start()

    def _pump(
        self, src: socket.socket, dst: socket.socket, up: bool, state: dict[str, bool]
    ) -> None:
        try:
            while data := src.recv(65536):
                if not up and state["drop"]:
                    state["drop"] = False
                    break  # the reply never reaches the client
                dst.sendall(data)
                if up and self.armed.is_set() and b"EVALSHA" in data.upper():
                    self.armed.clear()
                    state["drop"] = True
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.close()

    def close(self) -> None:
        self.listener.close()


def test_a_redis_write_whose_reply_was_lost_is_not_a_failed_write(redis_url: str) -> None:
    """The connection drops after the server journalled a batch, before its reply arrives:
    the batch is sent again under its batch id and the server answers with what it did, so
    the cast is acknowledged and the signal handled once, live and after recovery."""
    import redis

    prefix = f"lost-reply:{os.getpid()}:"
    kw = redis.Redis.from_url(redis_url).connection_pool.connection_kwargs
    proxy = _ReplyDropper((kw["host"], kw["port"]))

    async def main() -> None:
        store = RedisStorage(f"redis://127.0.0.1:{proxy.port}/{kw.get('db', 0)}", prefix=prefix)
        rt = await _system(store)
        proxy.armed.set()
        await rt.cast("c", ext(1, data={"by": 1}))
        assert not proxy.armed.is_set()  # the reply was dropped
        await rt.wait_idle(timeout=5)
        assert rt.state("c").n == 1
        await _restored_as_left(rt, redis_url, prefix)

    try:
        asyncio.run(main())
    finally:
        proxy.close()


def test_a_redis_registration_or_claim_whose_reply_was_lost_is_not_refused(redis_url: str) -> None:
    """The connection drops after the server registered an agent (or took the claim), before
    the reply arrives: the request is sent again under its id (the claim under its token)
    and answered as done, rather than refused as a duplicate (or as another's claim)."""
    import redis

    prefix = f"lost-reply-register:{os.getpid()}:"
    kw = redis.Redis.from_url(redis_url).connection_pool.connection_kwargs
    proxy = _ReplyDropper((kw["host"], kw["port"]))
    store = RedisStorage(f"redis://127.0.0.1:{proxy.port}/{kw.get('db', 0)}", prefix=prefix)
    try:
        proxy.armed.set()
        store.claim()
        assert not proxy.armed.is_set()  # the reply was dropped
        proxy.armed.set()
        store.register(AgentRecord(agent_id="x", spec="counter", schema_version=1, initial="{}"))
        assert not proxy.armed.is_set()
        (record,) = store.agents()
        assert isinstance(record, AgentRecord)
        assert record.agent_id == "x"
        other = RedisStorage(redis_url, prefix=prefix)
        with pytest.raises(StorageInUse):  # the claim is held, by this store
            other.claim()
        other.close()
    finally:
        store.close()
        proxy.close()


@pytest.mark.parametrize(
    ("key", "damage", "what"),
    [
        ("j:b", lambda r, k: r.set(k, "foreign"), "'j:' key holds a string"),
        ("ids:b", lambda r, k: r.rpush(k, "x"), "'ids:' key holds a list"),
        ("seq:b", lambda r, k: r.set(k, "many"), "'seq:' key holds no count"),
    ],
)
def test_foreign_data_in_a_redis_journal_fails_the_whole_batch(
    redis_url: str, key: str, damage: Any, what: str
) -> None:
    """A key of another agent's journal holding something else (another type, a sequence
    counter that is no count) fails the batch with CorruptJournal naming that agent before
    anything is written: no entry of the batch (not even another agent's) is journalled, and
    the same batch sent again once the key is mended journals every entry."""
    import redis

    prefix = f"foreign:{os.getpid()}:{key}:"
    client = redis.Redis.from_url(redis_url)
    store = RedisStorage(redis_url, prefix=prefix)
    batch = [("a", "/t", "s1", "{}", 1.0), ("b", "/t", "s1", "{}", 1.0)]
    try:
        damage(client, prefix + key)
        with pytest.raises(CorruptJournal) as info:
            store.append(batch)
        assert (info.value.agent_id, info.value.seq) == ("b", -2)
        assert what in str(info.value)
        assert "agent 'b': its journal is corrupt" in str(info.value)
        assert store.load("a") == (None, [])
        assert client.scard(prefix + "ids:a") == 0
        client.delete(prefix + key)
        assert store.append(batch) == [1, 1]
    finally:
        store.close()
        client.close()


def test_foreign_data_under_a_stored_redis_agent_is_a_recovery_error(redis_url: str) -> None:
    """A stored agent whose snapshot key or journal key holds another type fails recovery
    with a CorruptJournal naming the agent (snapshot: seq -1, journal: seq -2), reported in
    the RecoveryError, not a raw server error; registrations that cannot be read are a
    StorageError naming the store."""
    import redis

    from jido_interpreters import RecoveryError, StorageError

    prefix = f"foreign-restore:{os.getpid()}:"
    client = redis.Redis.from_url(redis_url)

    async def prepared() -> None:
        store = RedisStorage(redis_url, prefix=prefix)
        rt = await _system(store)
        await rt.call("c", "t.add", {"by": 1})
        await rt.shutdown()
        store.close()

    async def failing() -> BaseException:
        store = RedisStorage(redis_url, prefix=prefix)
        rt = AsyncRuntime(SPECS, storage=store)
        try:
            with pytest.raises((RecoveryError, StorageError)) as info:
                await rt.restore()
            return info.value
        finally:
            await rt.shutdown()
            store.close()

    try:
        asyncio.run(prepared())
        for key, seq in (("snap:c", -1), ("j:c", -2)):
            saved = client.dump(prefix + key)
            client.delete(prefix + key)
            client.rpush(prefix + key, "x") if seq == -1 else client.set(prefix + key, "x")
            err = asyncio.run(failing())
            assert isinstance(err, RecoveryError)
            (corrupt,) = err.exceptions
            assert isinstance(corrupt, CorruptJournal)
            assert (corrupt.agent_id, corrupt.seq) == ("c", seq)
            client.delete(prefix + key)
            if saved is not None:
                client.restore(prefix + key, 0, saved)
        client.rename(prefix + "agents", prefix + "saved")
        client.set(prefix + "agents", "x")
        err = asyncio.run(failing())
        assert type(err) is StorageError
        assert prefix in str(err)
    finally:
        for k in client.scan_iter(match=prefix + "*"):
            client.delete(k)
        client.close()


def test_redis_registration_edits_keep_the_record_as_it_was(redis_url: str) -> None:
    """``set_parent`` / ``mark_stopped`` change their fields and nothing else (a schema
    version of 16 digits stays exact), and a record whose ``stopped`` flag is 1 counts as
    stopped for ``register`` as it does for ``agents``."""
    import redis

    prefix = f"record-edits:{os.getpid()}:"
    client = redis.Redis.from_url(redis_url)
    store = RedisStorage(redis_url, prefix=prefix)
    big = 10**15 + 1
    record = AgentRecord(agent_id="x", spec="counter", schema_version=big, initial="{}")
    try:
        store.register(record)
        store.set_parent("x", "p", "t")
        store.mark_stopped("x")
        (got,) = store.agents()
        assert got == AgentRecord(
            agent_id="x",
            spec="counter",
            schema_version=big,
            initial="{}",
            parent_id="p",
            tag="t",
            stopped=True,
        )
        raw = json.loads(client.hget(prefix + "agents", "x") or b"")
        raw["stopped"] = 1
        client.hset(prefix + "agents", "x", json.dumps(raw))
        store.register(record)  # stopped (as 1): a new life, not AgentExists
        (again,) = store.agents()
        assert again == record
    finally:
        store.close()
        client.close()


def test_closing_a_redis_store_leaves_a_client_passed_in_open(redis_url: str) -> None:
    """The store closes the client it made, not one the caller gave it."""
    import redis

    closed: list[str] = []

    class Client(redis.Redis):
        def close(self) -> None:
            closed.append("client")
            super().close()

    client = Client.from_url(redis_url)
    own = RedisStorage(redis_url, prefix=f"client:{os.getpid()}:")
    own._r.__class__ = Client
    own.close()
    assert closed == ["client"]
    store = RedisStorage(client=client, prefix=f"client:{os.getpid()}:")
    store.close()
    assert closed == ["client"]
    client.close()


def test_a_damaged_sqlite_sequence_number_is_named_by_its_place(tmp_path: Path) -> None:
    """A journal row whose seq is no integer is reported at the position it holds (the entry
    after the one before it), not as the agent's registration."""
    path = tmp_path / "seq.db"
    store = SQLiteStorage(path)
    store.append(
        [("c", "/t", "s1", "{}", 0.0), ("c", "/t", "s2", "{}", 0.0), ("c", "/t", "s3", "{}", 0.0)]
    )
    store.close()
    db = sqlite3.connect(path)
    db.execute("UPDATE journal SET seq = 'two' WHERE signal_id = 's2'")
    db.commit()
    db.close()
    store = SQLiteStorage(path)
    try:
        with pytest.raises(CorruptJournal) as info:
            store.load("c")
    finally:
        store.close()
    assert info.value.seq != 0
    assert "registration" not in str(info.value)


_FULL_DISK = """
import resource, signal, sys
from jido_interpreters import AgentRecord, SQLiteStorage

path = sys.argv[1]
store = SQLiteStorage(path)
store.register(AgentRecord(agent_id="a", spec="counter", schema_version=1, initial="{}"))
store.append([("a", "/t", "before", "{}", 0.0)])
# The disk fills: a write past the limit fails with EFBIG (SIGXFSZ ignored), in COMMIT,
# which SQLite rolls back by itself.
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, resource.RLIM_INFINITY))
failed = []
for i in range(400):
    try:
        store.append([("a", "/t", f"full{i}", '"' + "x" * 8000 + '"', 0.0)])
    except Exception as exc:
        failed.append(exc)
resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
assert failed, "the disk never filled"
print(type(failed[0]).__name__, failed[0])
print(store.append([("a", "/t", "after", "{}", 0.0)]))
store.close()
"""


def test_a_write_refused_by_a_full_disk_takes_no_sequence_numbers(tmp_path: Path) -> None:
    """A COMMIT that fails on a full disk (SQLite rolls it back itself): the batch's
    sequence numbers are free again, so the next write follows on and the journal loads.
    They were kept, as the ROLLBACK after the failed COMMIT raised "no transaction is
    active" (hiding the disk's error): the journal had a gap, and no restore could load
    the agent."""
    path = tmp_path / "full.db"
    done = subprocess.run(
        [sys.executable, "-c", _FULL_DISK, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    error, after = done.stdout.splitlines()
    assert error.startswith("OperationalError")
    assert "no transaction" not in error  # the disk's own error, not the rollback's
    store = SQLiteStorage(path)
    try:
        _, entries = store.load("a")
        assert entries[0].signal_id == "before"
        assert entries[-1].signal_id == "after"
        assert after == f"[{entries[-1].seq}]"
        assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    finally:
        store.close()


def test_a_redis_server_that_will_not_say_its_policy_is_taken_on_trust(tmp_path: Path) -> None:
    """A managed Redis may rename or disable CONFIG: its eviction policy cannot be read,
    and the store is claimed all the same (the docs ask for noeviction)."""
    with start_redis(tmp_path, extra=("--rename-command", "CONFIG", '""')) as url:
        store = RedisStorage(url, prefix="trusted:")
        try:
            store.claim()
            store.register(
                AgentRecord(agent_id="x", spec="counter", schema_version=1, initial="{}")
            )
            assert [r.agent_id for r in store.agents() if isinstance(r, AgentRecord)] == ["x"]
        finally:
            store.close()


def test_a_redis_server_that_may_evict_keys_is_refused(redis_url: str) -> None:
    """A server whose maxmemory-policy may evict keys would drop registrations and
    journals under memory pressure, and a restore then found no agent, without a word:
    the store is refused when first claimed, saying why."""
    import redis

    server = redis.Redis.from_url(redis_url)
    before = str(server.config_get("maxmemory-policy")["maxmemory-policy"])
    limit = str(server.config_get("maxmemory")["maxmemory"])
    prefix = f"evicting:{os.getpid()}:"
    server.config_set("maxmemory-policy", "allkeys-lru")
    try:
        unlimited = RedisStorage(redis_url, prefix=prefix)
        unlimited.claim()  # no memory limit: nothing is evicted, whatever the policy
        unlimited.close()
        server.config_set("maxmemory", "1gb")

        async def main() -> None:
            async with AsyncRuntime(SPECS, storage=RedisStorage(redis_url, prefix=prefix)) as rt:
                with pytest.raises(StorageError, match="maxmemory-policy is 'allkeys-lru'"):
                    await rt.restore()
                with pytest.raises(NotDurable) as info:
                    await rt.start(COUNTER, "c")
                assert isinstance(info.value.__cause__, StorageError)

        asyncio.run(main())
    finally:
        server.config_set("maxmemory-policy", before)
        server.config_set("maxmemory", limit)
        server.close()
    store = RedisStorage(redis_url, prefix=prefix)  # noeviction again: claimed
    store.claim()
    store.close()


class SlowRelease(Flaky):
    """A claimable store whose ``release`` waits until it is told to go on."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.releasing = threading.Event()
        self.go = threading.Event()
        self.waited: bool | None = None

    def claim(self) -> None:
        pass

    def release(self) -> None:
        self.releasing.set()
        self.waited = self.go.wait(5)


def test_shutdown_releases_a_slow_store_off_the_event_loop(tmp_path: Path) -> None:
    """A store slow to release its claim (a stalled Redis server answers only when its
    client's timeouts run out) does not stop the event loop: the loop's other tasks run
    meanwhile. Here the only one that lets the release finish is such a task; run on the
    loop, the release waited out its five seconds."""
    store = SlowRelease(tmp_path / "db")

    async def main() -> None:
        rt = await _system(store)
        closing = asyncio.create_task(rt.shutdown())
        while not store.releasing.is_set():
            await asyncio.sleep(0.01)
        store.go.set()
        await asyncio.wait_for(closing, timeout=10)

    asyncio.run(main())
    assert store.waited is True
