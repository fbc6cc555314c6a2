"""Durable agents on SQLite and on a real Redis server: recovery by replay, and bad data."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import attrs
import pytest

from jido import (
    FSM,
    ActionResult,
    AgentSpec,
    Context,
    FrozenMap,
    JsonValue,
    NoParams,
    Plugin,
    Route,
    Signal,
    Transition,
    action,
    emit_to,
    invoke,
    ok,
)
from jido_interpreters import (
    AgentExists,
    AgentRecord,
    AsyncRuntime,
    CorruptJournal,
    RecoveryError,
    RedisStorage,
    SchemaMismatch,
    SnapshotRecord,
    SQLiteStorage,
    Storage,
    SyncRuntime,
    UnknownAgent,
    UnknownSpec,
)

T = TypeVar("T")


def run(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run one test's coroutine on a fresh loop."""
    return asyncio.run(main())


# ---------------------------------------------------------------------------- the system


@attrs.frozen
class Count:
    """A counter that remembers effect results."""

    n: int = 0
    results: tuple[str, ...] = ()


@attrs.frozen
class By:
    """Increment parameters."""

    by: int = 1


@action(params=By)
def add(state: Count, p: By, ctx: Context) -> ActionResult[Count]:
    """Count, and tell the tally."""
    new = attrs.evolve(state, n=state.n + p.by)
    return ok(new, emit_to("tally", "t.added", {"by": p.by}))


@action(params=By)
def tally(state: Count, p: By, ctx: Context) -> ActionResult[Count]:
    """Sum what the counters report."""
    return ok(attrs.evolve(state, n=state.n + p.by))


@action()
def lookup(state: Count, _: NoParams, ctx: Context) -> ActionResult[Count]:
    """Ask an effect for something."""
    return ok(state, invoke("lookup", {"q": state.n}, on_ok="t.found", on_error="t.lost"))


@attrs.frozen
class Found:
    """The effect's answer."""

    result: JsonValue = None


@action(params=Found)
def found(state: Count, p: Found, ctx: Context) -> ActionResult[Count]:
    """Keep the answer."""
    return ok(attrs.evolve(state, results=(*state.results, str(p.result))))


COUNTER = AgentSpec(
    name="counter",
    state=Count,
    routes=[
        Route(pattern="t.add", target=add),
        Route(pattern="t.lookup", target=lookup),
        Route(pattern="t.found", target=found),
    ],
)
TALLY = AgentSpec(name="tally", state=Count, routes=[Route(pattern="t.added", target=tally)])
SPECS = (COUNTER, TALLY)


async def _answer(args: FrozenMap[str, JsonValue]) -> str:
    return f"answer-{args['q']}"


# ---------------------------------------------------------------------------- stores


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on loopback (``JIDO_REDIS_URL`` if set)."""
    if os.environ.get("JIDO_REDIS_URL"):
        yield os.environ["JIDO_REDIS_URL"]
        return
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (.ci/run installs it)")
    import redis

    port = _free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [
            binary,
            *("--port", str(port), "--bind", "127.0.0.1", "--save", ""),
            *("--appendonly", "yes", "--appendfsync", "always", "--dir", str(workdir)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    try:
        deadline = time.monotonic() + 10
        while True:  # wait until the server answers, within a bound
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(params=["sqlite", "redis"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Storage]]:
    """A factory for the same store, reopened: SQLite in a file, or a Redis key prefix."""
    opened: list[Storage] = []
    if request.param == "sqlite":
        path = tmp_path / "agents.db"

        def make() -> Storage:
            opened.append(SQLiteStorage(path))
            return opened[-1]
    else:
        url = request.getfixturevalue("redis_url")
        prefix = f"test:{request.node.name}:{time.monotonic_ns()}:"

        def make() -> Storage:
            opened.append(RedisStorage(url, prefix=prefix))
            return opened[-1]

    yield make
    for store in opened:
        store.close()


async def _load(storage: Storage, *, snapshot_every: int = 1000, **kw: Any) -> AsyncRuntime:
    rt = AsyncRuntime(SPECS, storage=storage, snapshot_every=snapshot_every, **kw)
    await rt.restore()
    await rt.wait_idle(timeout=5)
    return rt


def _agents(rt: AsyncRuntime) -> dict[str, Any]:
    return {i: rt.agent(i) for i in rt.agent_ids}


# ---------------------------------------------------------------------------- recovery


@pytest.mark.parametrize("snapshot_every", [1000, 5])
def test_restore_gives_equal_agents(open_store: Callable[[], Storage], snapshot_every: int) -> None:
    """After a shutdown, restore() brings back agents equal to those before, with or without
    snapshots along the way."""

    async def first() -> dict[str, Any]:
        rt = AsyncRuntime(SPECS, storage=open_store(), snapshot_every=snapshot_every)
        await rt.start(COUNTER, "c")
        await rt.start(TALLY, "tally")
        for i in range(23):
            await rt.cast("c", "t.add", {"by": i})
        await rt.wait_idle(timeout=5)
        before = _agents(rt)
        await rt.shutdown()
        return before

    async def second() -> dict[str, Any]:
        rt = await _load(open_store())
        after = _agents(rt)
        await rt.shutdown()
        return after

    before = run(first)
    assert before["tally"].state.n == sum(range(23))
    assert run(second) == before


def test_a_signal_id_is_journalled_once(open_store: Callable[[], Storage]) -> None:
    """Casting the same signal twice handles it once (ids are deterministic, re-deliveries
    after a crash are recognised)."""

    async def main() -> None:
        rt = AsyncRuntime(SPECS, storage=open_store())
        await rt.start(COUNTER, "c")
        await rt.start(TALLY, "tally")
        sig = rt.signal("t.add", {"by": 5})
        await rt.cast("c", sig)
        await rt.cast("c", sig)
        await rt.wait_idle(timeout=5)
        assert rt.state("c").n == 5
        assert rt.state("tally").n == 5
        await rt.shutdown()

    run(main)


def test_hibernate_and_thaw(open_store: Callable[[], Storage]) -> None:
    """A hibernated agent leaves memory and comes back equal."""

    async def main() -> None:
        rt = AsyncRuntime(SPECS, storage=open_store())
        await rt.start(COUNTER, "c")
        await rt.start(TALLY, "tally")
        await rt.cast("c", "t.add", {"by": 3})
        await rt.wait_idle(timeout=5)
        before = rt.agent("c")
        await rt.hibernate("c")
        assert "c" not in rt.agent_ids
        with pytest.raises(UnknownAgent):
            rt.agent("c")
        assert await rt.thaw("c") == before
        await rt.shutdown()

    run(main)


def test_an_effect_in_flight_is_reissued_once(open_store: Callable[[], Storage]) -> None:
    """An Invoke whose outcome was never journalled (the runtime went down first) is
    re-issued on recovery, and its outcome applied once."""
    calls: list[str] = []

    async def never(args: FrozenMap[str, JsonValue]) -> str:
        await asyncio.Event().wait()
        return "unreachable"

    async def answer(args: FrozenMap[str, JsonValue]) -> str:
        calls.append(str(args["q"]))
        return f"answer-{args['q']}"

    async def first() -> None:
        rt = AsyncRuntime(SPECS, storage=open_store(), effects={"lookup": never})
        await rt.start(COUNTER, "c")
        await rt.cast("c", "t.lookup")
        report = await rt.shutdown(deadline=0.05)
        assert report.cancelled_effects == 1

    async def second() -> tuple[str, ...]:
        rt = await _load(open_store(), effects={"lookup": answer})
        results: tuple[str, ...] = rt.state("c").results
        await rt.shutdown()
        return results

    run(first)
    assert run(second) == ("answer-0",)
    assert calls == ["0"]


def test_a_stopped_agent_is_not_recovered(open_store: Callable[[], Storage]) -> None:
    """Agents that stopped for good stay stopped."""

    async def first() -> None:
        rt = AsyncRuntime(SPECS, storage=open_store())
        await rt.start(COUNTER, "c")
        await rt.start(TALLY, "tally")
        await rt.stop("tally")
        await rt.shutdown()

    async def second() -> tuple[str, ...]:
        rt = await _load(open_store())
        ids = rt.agent_ids
        await rt.shutdown()
        return ids

    run(first)
    assert run(second) == ("c",)


# ---------------------------------------------------------------------------- bad data


def _prepared(open_store: Callable[[], Storage], spec: AgentSpec[Count] = COUNTER) -> None:
    async def main() -> None:
        # As a crash leaves it: no snapshot at shutdown, the journal left to replay.
        rt = AsyncRuntime([spec, TALLY], storage=open_store(), snapshot_at_shutdown=False)
        await rt.start(spec, "c")
        await rt.start(TALLY, "tally")
        for _ in range(3):
            await rt.cast("c", "t.add", {"by": 1})
        await rt.wait_idle(timeout=5)
        await rt.shutdown()

    run(main)


def test_a_corrupt_journal_entry_names_agent_and_position(tmp_path: Path) -> None:
    """Garbage in a journal entry fails recovery with CorruptJournal(agent, seq), and no agent
    is started: never a silent partial state."""
    path = tmp_path / "agents.db"
    _prepared(lambda: SQLiteStorage(path))
    db = sqlite3.connect(path)
    db.execute("UPDATE journal SET signal = '{\"trunc' WHERE agent_id = 'c' AND seq = 2")
    db.commit()
    db.close()

    async def main() -> None:
        storage = SQLiteStorage(path)
        rt = AsyncRuntime(SPECS, storage=storage)
        with pytest.raises(RecoveryError) as info:
            await rt.restore()
        (err,) = info.value.exceptions
        assert isinstance(err, CorruptJournal)
        assert (err.agent_id, err.seq) == ("c", 2)
        assert "journal entry 2" in str(err)
        assert rt.agent_ids == ()
        await rt.shutdown()
        storage.close()

    run(main)


def test_a_corrupt_redis_entry_is_reported_too(redis_url: str) -> None:
    """The same check holds on Redis: a mangled list entry is a CorruptJournal."""
    import redis

    prefix = f"corrupt:{time.monotonic_ns()}:"
    _prepared(lambda: RedisStorage(redis_url, prefix=prefix))
    client = redis.Redis.from_url(redis_url)
    key = f"{prefix}j:c"
    first = client.lindex(key, 0)
    assert first is not None
    seq, source, sid, _, at = json.loads(first)
    client.lset(key, 0, json.dumps([seq, source, sid, "not a signal", at]))
    client.close()

    async def main() -> None:
        storage = RedisStorage(redis_url, prefix=prefix)
        rt = AsyncRuntime(SPECS, storage=storage)
        with pytest.raises(RecoveryError) as info:
            await rt.restore()
        (err,) = info.value.exceptions
        assert isinstance(err, CorruptJournal)
        assert (err.agent_id, err.seq) == ("c", seq)
        await rt.shutdown()
        storage.close()

    run(main)


def test_an_unknown_spec_is_refused(open_store: Callable[[], Storage]) -> None:
    """Restoring without the spec an agent ran is an UnknownSpec error naming it."""
    _prepared(open_store)

    async def main() -> None:
        rt = AsyncRuntime([TALLY], storage=open_store())
        with pytest.raises(RecoveryError) as info:
            await rt.restore()
        (err,) = info.value.exceptions
        assert isinstance(err, UnknownSpec)
        assert (err.agent_id, err.spec) == ("c", "counter")
        assert rt.agent_ids == ()
        await rt.shutdown()

    run(main)


@attrs.frozen
class CountV2:
    """The counter's state, renamed field, schema version 2."""

    total: int = 0
    results: tuple[str, ...] = ()


@action(params=By)
def add_v2(state: CountV2, p: By, ctx: Context) -> ActionResult[CountV2]:
    """Count (v2)."""
    return ok(attrs.evolve(state, total=state.total + p.by))


COUNTER_V2 = AgentSpec(
    name="counter",
    state=CountV2,
    routes=[Route(pattern="t.add", target=add_v2)],
    schema_version=2,
)


def test_an_older_schema_needs_an_upgrade(open_store: Callable[[], Storage]) -> None:
    """A stored state of schema 1 under a spec at schema 2: SchemaMismatch without an
    upgrade hook; with one, the agent comes back upgraded and replays on top."""
    _prepared(open_store)

    def upgrade(spec: str, version: int, raw: dict[str, Any]) -> dict[str, Any]:
        assert (spec, version) == ("counter", 1)
        state = dict(raw["state"])
        state["total"] = state.pop("n")
        return {**raw, "state": state}

    async def main() -> None:
        rt = AsyncRuntime([COUNTER_V2, TALLY], storage=open_store())
        with pytest.raises(RecoveryError) as info:
            await rt.restore()
        (err,) = info.value.exceptions
        assert isinstance(err, SchemaMismatch)
        assert (err.stored, err.current) == (1, 2)
        await rt.shutdown()

        rt = AsyncRuntime([COUNTER_V2, TALLY], storage=open_store(), upgrade=upgrade)
        await rt.restore()
        await rt.wait_idle(timeout=5)
        assert rt.state("c") == CountV2(total=3)
        await rt.shutdown()

    run(main)


def _upgrade_refused(
    open_store: Callable[[], Storage], specs: list[AgentSpec[Any]], hook: Any
) -> SchemaMismatch:
    """The one SchemaMismatch a restore under ``specs`` with ``hook`` fails with."""

    async def main() -> SchemaMismatch:
        rt = AsyncRuntime(specs, storage=open_store(), upgrade=hook)
        try:
            with pytest.raises(RecoveryError) as info:
                await rt.restore()
            assert rt.agent_ids == ()
        finally:
            await rt.shutdown()
        (err,) = info.value.exceptions
        assert isinstance(err, SchemaMismatch)
        assert (err.agent_id, err.spec) == ("c", "counter")
        assert str(err) in str(info.value)
        return err

    return run(main)


def test_an_upgrade_hook_that_raises_is_said_to_have_raised(
    open_store: Callable[[], Storage],
) -> None:
    """The SchemaMismatch of a hook that raised says so, with the exception, which is also
    its cause: not that no hook covers the version."""
    _prepared(open_store)
    problem = ValueError("unknown label format")

    def upgrade(spec: str, version: int, raw: dict[str, Any]) -> dict[str, Any]:
        raise problem

    err = _upgrade_refused(open_store, [COUNTER_V2, TALLY], upgrade)
    assert str(err) == (
        "agent 'c': stored state has schema version 1, spec 'counter' is at 2, and the"
        " upgrade hook raised ValueError: unknown label format"
    )
    assert err.__cause__ is problem


@pytest.mark.parametrize(
    ("returned", "said"),
    [
        (lambda raw: None, "returned None, not the stored agent"),
        (lambda raw: [raw], "returned list [{"),
        (
            lambda raw: raw["state"],
            "returned a dict without 'id', 'spec', 'state', 'version', 'status': not the"
            " stored agent",
        ),
        (
            lambda raw: {k: v for k, v in raw.items() if k != "status"},
            "returned a dict without 'status': not the stored agent",
        ),
    ],
)
def test_an_upgrade_hook_that_returns_no_stored_agent_is_said_to(
    open_store: Callable[[], Storage], returned: Callable[[dict[str, Any]], object], said: str
) -> None:
    """A hook must return the stored agent as a dict (see ``AsyncRuntime``'s ``upgrade``): one
    that returns something else (a forgotten ``return``, the state alone) is told as what
    it returned, not as a stored agent that does not decode."""
    _prepared(open_store)

    def upgrade(spec: str, version: int, raw: dict[str, Any]) -> Any:
        return returned(raw)

    err = _upgrade_refused(open_store, [COUNTER_V2, TALLY], upgrade)
    prefix = "agent 'c': stored state has schema version 1, spec 'counter' is at 2, and the"
    assert str(err).startswith(f"{prefix} upgrade hook {said}")
    assert "a dict with 'id', 'spec', 'state', 'version', 'status'..." in str(err)


def test_a_store_of_a_newer_schema_version_is_a_downgrade(
    open_store: Callable[[], Storage],
) -> None:
    """A store written by a newer version of the spec (code rolled back): the SchemaMismatch
    says so, and no upgrade hook is asked (none applies to a downgrade)."""
    _prepared(open_store, COUNTER_V2)  # type: ignore[arg-type]
    asked: list[int] = []

    def upgrade(spec: str, version: int, raw: dict[str, Any]) -> dict[str, Any]:
        asked.append(version)
        return raw

    err = _upgrade_refused(open_store, [COUNTER, TALLY], upgrade)
    assert str(err) == (
        "agent 'c': stored state has schema version 2, spec 'counter' is at 1: the store was"
        " written by a newer version of the spec (a downgrade, which no upgrade hook applies"
        " to)"
    )
    assert (err.stored, err.current) == (2, 1)
    assert asked == []


@action()
def _move(state: Count, _: NoParams, ctx: Context) -> ActionResult[Count]:
    """Count a move of the door."""
    return ok(attrs.evolve(state, n=state.n + 1))


def _door(rows: list[tuple[str, str, str]], schema_version: int = 1) -> AgentSpec[Count]:
    return AgentSpec(
        name="door",
        state=Count,
        strategy=FSM(
            "open", [Transition(source=s, on=on, target=t, action=_move) for s, on, t in rows]
        ),
        schema_version=schema_version,
    )


#: The door, then one whose table lost ``closed`` (and with it ``door.open``).
DOOR = _door([("open", "door.close", "closed"), ("closed", "door.open", "open")])
DOOR_LOCKED = [("open", "door.lock", "locked"), ("locked", "door.unlock", "open")]


def test_an_agent_in_a_status_its_fsm_lost_is_refused(open_store: Callable[[], Storage]) -> None:
    """An agent snapshotted in a status the spec's FSM no longer names would refuse every
    signal the table controls, for ever: restore and thaw refuse it (a CorruptJournal naming
    it, saying what to do); an upgrade that moves its status brings it back, working. In a
    status the FSM has, it comes back as it was."""

    async def store() -> None:
        rt = AsyncRuntime([DOOR], storage=open_store(), snapshot_every=1)
        await rt.start(DOOR, "d")
        await rt.call("d", "door.close")
        await rt.start(DOOR, "e")
        await rt.shutdown()

    run(store)
    lost = _door(DOOR_LOCKED)
    reason = (
        "the agent's status 'closed' is not one of the FSM's ['open', 'locked'], and no '*'"
        " row leaves it (if the FSM"
        " changed since it was stored, give spec 'door' a new schema_version and an upgrade"
        " that moves the stored agent's 'status' to one of them)"
    )

    async def refused() -> None:
        rt = AsyncRuntime([lost], storage=open_store())
        try:
            with pytest.raises(RecoveryError) as info:
                await rt.restore()
            (err,) = info.value.exceptions
            assert isinstance(err, CorruptJournal)
            assert (err.agent_id, err.seq, err.reason) == ("d", -1, reason)
            assert rt.agent_ids == ()
            with pytest.raises(RecoveryError) as info:
                await rt.thaw("d")
            (err,) = info.value.exceptions
            assert isinstance(err, CorruptJournal)
            assert (err.agent_id, err.reason) == ("d", reason)
        finally:
            await rt.shutdown()

    run(refused)

    def upgrade(spec: str, version: int, raw: dict[str, Any]) -> dict[str, Any]:
        return {**raw, "status": "locked" if raw["status"] == "closed" else raw["status"]}

    async def upgraded() -> None:
        rt = AsyncRuntime([_door(DOOR_LOCKED, 2)], storage=open_store(), upgrade=upgrade)
        try:
            assert set(await rt.restore()) == {"d", "e"}
            assert (rt.agent("d").status, rt.agent("e").status) == ("locked", "open")
            await rt.call("d", "door.unlock")
            assert rt.agent("d").status == "open"
            assert rt.state("d").n == 2
        finally:
            await rt.shutdown()

    run(upgraded)


def test_an_agent_in_a_status_its_fsm_has_comes_back_in_it(
    open_store: Callable[[], Storage],
) -> None:
    """Every status the FSM reaches, snapshotted or replayed, comes back as it was."""

    async def main() -> None:
        for snapshot_every in (1, 1000):
            rt = AsyncRuntime([DOOR], storage=open_store(), snapshot_every=snapshot_every)
            await rt.start(DOOR, f"d{snapshot_every}")
            await rt.start(DOOR, f"e{snapshot_every}")
            await rt.call(f"d{snapshot_every}", "door.close")
            await rt.shutdown()
            rt = AsyncRuntime([DOOR], storage=open_store())
            await rt.restore()
            assert rt.agent(f"d{snapshot_every}").status == "closed"
            assert rt.agent(f"e{snapshot_every}").status == "open"
            await rt.call(f"d{snapshot_every}", "door.open")
            assert rt.agent(f"d{snapshot_every}").status == "open"
            await rt.shutdown()

    run(main)


@attrs.frozen
class CountLean:
    """The counter's state without ``results``, at the same schema version: a class
    changed under stored values."""

    n: int = 0


@action(params=By)
def add_lean(state: CountLean, p: By, ctx: Context) -> ActionResult[CountLean]:
    """Count (lean)."""
    return ok(CountLean(state.n + p.by))


def _store_a_counter(open_store: Callable[[], Storage]) -> None:
    """Store the counter ``c`` after one step, snapshotted."""

    async def prepare() -> None:
        rt = AsyncRuntime([COUNTER, TALLY], storage=open_store(), snapshot_every=1)
        await rt.start(COUNTER, "c")
        await rt.call("c", "t.add", {"by": 2})
        await rt.shutdown()

    run(prepare)


def test_a_stored_state_with_a_field_its_class_lost_is_refused_not_cut(
    open_store: Callable[[], Storage],
) -> None:
    """A snapshot holding a field the state class no longer has is not decoded by dropping
    it: recovery fails (no agent started), saying which field and what to do (a new
    schema_version and an upgrade), and the RecoveryError's own text says so too."""

    _store_a_counter(open_store)
    lean = AgentSpec(
        name="counter", state=CountLean, routes=[Route(pattern="t.add", target=add_lean)]
    )

    async def main() -> None:
        rt = AsyncRuntime([lean, TALLY], storage=open_store())
        with pytest.raises(RecoveryError) as info:
            await rt.restore()
        (err,) = info.value.exceptions
        assert isinstance(err, CorruptJournal)
        assert (err.agent_id, err.seq) == ("c", -1)
        assert "results" in err.reason
        assert "schema_version" in err.reason
        assert str(err) in str(info.value)
        assert rt.agent_ids == ()
        await rt.shutdown()

    run(main)


def test_a_stored_agent_whose_specs_plugins_changed_is_refused_with_what_to_do(
    open_store: Callable[[], Storage],
) -> None:
    """A plugin mounted since the agent was stored: its slices do not match, which is a
    spec change more often than damage, and the error says what to do about it."""

    _store_a_counter(open_store)
    mounted = attrs.evolve(COUNTER, plugins=[Plugin(name="extra")])

    async def main() -> None:
        rt = AsyncRuntime([mounted, TALLY], storage=open_store())
        with pytest.raises(RecoveryError) as info:
            await rt.restore()
        (err,) = info.value.exceptions
        assert isinstance(err, CorruptJournal)
        assert (err.agent_id, err.seq) == ("c", -1)
        assert err.reason == (
            "its plugin slices [] do not match the spec's plugins ['extra'] (if the spec's"
            " plugins changed since it was stored, give spec 'counter' a new schema_version"
            " and an upgrade that adds or drops the slices in the stored agent's 'slices')"
        )
        await rt.shutdown()

    run(main)


def test_a_recovery_error_shows_its_first_failures() -> None:
    """Its text lists the first five failures, then how many more there are."""
    errors = [CorruptJournal(f"a{i}", 1, "garbage") for i in range(7)]
    text = str(RecoveryError("recovery failed; no agent was started", errors))
    assert text.startswith("recovery failed; no agent was started (7 sub-exceptions):")
    assert text.splitlines()[1:] == [
        *(f"  - agent 'a{i}': journal entry 1 is corrupt: garbage" for i in range(5)),
        "  - and 2 more",
    ]


# ---------------------------------------------------------------------------- a hard kill

_CHILD = """
import asyncio, sys
sys.path.insert(0, {tests!r})
from test_durable_core import SPECS, COUNTER, TALLY
from jido import Signal
from jido_interpreters import AsyncRuntime, SQLiteStorage

async def main():
    rt = AsyncRuntime(SPECS, storage=SQLiteStorage({db!r}, synchronous="FULL"), snapshot_every=7)
    await rt.start(COUNTER, "c1")
    await rt.start(COUNTER, "c2")
    await rt.start(TALLY, "tally")
    with open({acks!r}, "a") as acks:
        i = 0
        while True:
            target = "c1" if i % 3 else "c2"
            sig = Signal(type="t.add", source="/load", id=f"s{{i}}", data={{"by": i % 5}})
            await rt.cast(target, sig)
            acks.write(f"{{target}} s{{i}}\\n")
            acks.flush()
            i += 1

asyncio.run(main())
"""


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_sigkill_loses_no_acknowledged_signal(tmp_path: Path, seed: int) -> None:
    """A process killed with SIGKILL under load: after recovery every acknowledged signal is
    in the journal, and the agents equal a SyncRuntime run over the journalled signals."""
    import random

    db = tmp_path / "agents.db"
    acks = tmp_path / "acks.txt"
    acks.touch()
    script = _CHILD.format(tests=str(Path(__file__).parent), db=str(db), acks=str(acks))
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        # Wait until the child has acknowledged a seeded number of signals, then kill it.
        want = random.Random(seed).randint(20, 400)
        deadline = time.monotonic() + 30
        while len(acks.read_text().splitlines()) < want:
            assert time.monotonic() < deadline, "the load process is too slow"
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.01)  # wakes early only if the child dies
                pytest.fail("the load process died by itself")
        proc.kill()
    finally:
        proc.wait(timeout=10)
    acked = [line.split() for line in acks.read_text().splitlines() if line.strip()]

    # The whole journal (snapshots do not compact it by default), read straight from SQLite.
    con = sqlite3.connect(db)
    rows = con.execute(
        "SELECT agent_id, signal_id, signal FROM journal WHERE agent_id IN ('c1', 'c2')"
        " ORDER BY agent_id, seq"
    ).fetchall()
    con.close()
    journalled: dict[str, list[str]] = {"c1": [], "c2": []}
    external: list[tuple[str, str, str]] = []
    for agent, sid, text in rows:
        journalled[agent].append(sid)
        external.append((agent, sid, text))
    storage = SQLiteStorage(db)
    for agent, sid in acked:
        assert sid in journalled[agent], f"acknowledged {sid} for {agent} was lost"

    async def recover() -> dict[str, Any]:
        rt = AsyncRuntime(SPECS, storage=storage)
        await rt.restore()
        await rt.wait_idle(timeout=10)
        states = {i: rt.state(i) for i in rt.agent_ids}
        await rt.shutdown()
        return states

    recovered = run(recover)
    storage.close()

    # The same journalled signals, in journal order, through SyncRuntime.
    from jido.serde import signal_from_json

    sync = SyncRuntime(SPECS)
    sync.start(COUNTER, "c1")
    sync.start(COUNTER, "c2")
    sync.start(TALLY, "tally")
    for agent, _, text in sorted(external, key=lambda x: int(x[1][1:])):
        sync.send(agent, signal_from_json(text))
    assert recovered == {i: sync.state(i) for i in sync.agent_ids}


# ---------------------------------------------------------------------------- timers, children


@action()
def arm(state: Count, _: NoParams, ctx: Context) -> ActionResult[Count]:
    """Arm a reminder, a cron job and a child."""
    from jido import cron, schedule, spawn_agent

    return ok(
        state,
        schedule(0.2, "t.add", {"by": 100}),
        cron("0 0 1 1 *", "t.add", {"by": 1}, job_id="yearly"),
        spawn_agent("tally", "kid"),
    )


PARENT = AgentSpec(
    name="parent",
    state=Count,
    routes=[Route(pattern="t.arm", target=arm), Route(pattern="t.add", target=add)],
)


def test_schedules_cron_jobs_and_children_survive_a_restart(tmp_path: Path) -> None:
    """A schedule armed before the shutdown fires after recovery (for what is left of its
    delay), the cron job is registered again, and the child comes back linked to its
    parent."""
    path = tmp_path / "agents.db"

    async def first() -> None:
        storage = SQLiteStorage(path)
        rt = AsyncRuntime([PARENT, TALLY], storage=storage)
        await rt.start(PARENT, "p")
        await rt.start(TALLY, "tally")
        await rt.cast("p", "t.arm")
        await rt.wait_idle(timeout=5)
        assert rt.children("p") == {"kid": "p/kid"}
        await rt.shutdown()
        storage.close()

    async def second() -> None:
        storage = SQLiteStorage(path)
        rt = AsyncRuntime([PARENT, TALLY], storage=storage)
        assert set(await rt.restore()) == {"p", "tally", "p/kid"}
        assert rt.children("p") == {"kid": "p/kid"}
        assert rt.parent("p/kid") == "p"
        assert "yearly" in rt._servers["p"].crons
        deadline = time.monotonic() + 5
        while rt.state("p").n != 100:  # the reminder is due about 0.2 s after arming
            assert time.monotonic() < deadline, "the schedule never fired after recovery"
            await asyncio.sleep(0.01)
        await rt.wait_idle(timeout=5)
        assert rt.state("tally").n == 100
        await rt.shutdown()
        storage.close()

    run(first)
    run(second)


# ---------------------------------------------------------------------------- compaction


def _journal_rows(path: Path, agent_id: str) -> int:
    db = sqlite3.connect(path)
    try:
        (n,) = db.execute("SELECT COUNT(*) FROM journal WHERE agent_id = ?", (agent_id,)).fetchone()
        return int(n)
    finally:
        db.close()


def test_append_skips_journalled_ids_and_numbers_the_rest_without_gaps(
    open_store: Callable[[], Storage],
) -> None:
    """A batch mixing new ids, ids already journalled and an id twice in the batch: only
    the first sighting of each id is journalled, and each agent's sequence goes on without a
    gap, in this store and in one opened later."""
    store = open_store()
    assert store.append([("a", "/t", "s1", "{}", 0.0), ("b", "/t", "s1", "{}", 0.0)]) == [1, 1]
    batch = [
        ("a", "/t", "s2", "{}", 0.0),
        ("a", "/t", "s1", "{}", 0.0),  # journalled already
        ("b", "/t", "s2", "{}", 0.0),
        ("a", "/t", "s2", "{}", 0.0),  # twice in this batch
        ("a", "/t", "s3", "{}", 0.0),
    ]
    assert store.append(batch) == [2, None, 2, None, 3]
    assert store.append([("a", "/t", "s4", "{}", 0.0)]) == [4]
    again = open_store()
    assert again.append([("a", "/t", "s3", "{}", 0.0), ("a", "/t", "s5", "{}", 0.0)]) == [None, 5]
    assert [(e.seq, e.signal_id) for e in again.load("a")[1]] == [
        (1, "s1"),
        (2, "s2"),
        (3, "s3"),
        (4, "s4"),
        (5, "s5"),
    ]


def test_registering_an_id_again(open_store: Callable[[], Storage]) -> None:
    """An id registered and not stopped is refused (nothing changes); once it is marked
    stopped, registering it again starts afresh (no journal or snapshot, sequence numbers
    from 1), but the ids the old agent saw are still recognised."""
    store = open_store()
    record = AgentRecord(agent_id="a", spec="counter", schema_version=1, initial="{}")
    store.register(record)
    assert store.append([("a", "/t", "s1", "{}", 0.0), ("a", "/t", "s2", "{}", 0.0)]) == [1, 2]
    store.snapshot(SnapshotRecord(agent_id="a", seq=1, schema_version=1, agent="{}", outbox="{}"))
    with pytest.raises(AgentExists, match="'a' is in storage and has not stopped") as info:
        store.register(attrs.evolve(record, initial='{"other": 1}'))
    assert info.value.agent_id == "a"
    assert isinstance(info.value, ValueError)
    snap, entries = store.load("a")
    assert snap is not None
    assert [e.signal_id for e in entries] == ["s2"]
    assert [r.initial for r in store.agents() if isinstance(r, AgentRecord)] == ["{}"]
    store.mark_stopped("a")
    store.register(attrs.evolve(record, initial='{"other": 1}'))
    assert store.load("a") == (None, [])
    (again,) = store.agents()
    assert isinstance(again, AgentRecord)
    assert (again.initial, again.stopped) == ('{"other": 1}', False)
    assert store.append([("a", "/t", "s1", "{}", 0.0), ("a", "/t", "n1", "{}", 0.0)]) == [None, 1]
    again_store = open_store()
    assert again_store.append([("a", "/t", "s2", "{}", 0.0), ("a", "/t", "n2", "{}", 0.0)]) == [
        None,
        2,
    ]
    assert [e.signal_id for e in again_store.load("a")[1]] == ["n1", "n2"]


@pytest.mark.parametrize("bad", [float("inf"), float("nan"), "1.0", True])
def test_a_batch_with_a_bad_time_is_refused_whole(
    open_store: Callable[[], Storage], bad: Any
) -> None:
    """An entry whose time is no finite number fails the whole batch with ValueError: none
    of it is journalled (not even the entries before it), so sending the batch again once
    it is mended journals every entry, in order."""
    store = open_store()
    with pytest.raises(ValueError, match="finite number"):
        store.append(
            [
                ("a", "/t", "s1", "{}", 1.0),
                ("b", "/t", "s1", "{}", bad),
                ("a", "/t", "s2", "{}", 2.0),
            ]
        )
    assert store.load("a") == (None, []) == store.load("b")
    assert store.append(
        [("a", "/t", "s1", "{}", 1.0), ("b", "/t", "s1", "{}", 1.5), ("a", "/t", "s2", "{}", 2.0)]
    ) == [
        1,
        1,
        2,
    ]


def test_a_journal_entry_keeps_its_time_exactly(open_store: Callable[[], Storage]) -> None:
    """``at`` comes back from the journal as the very float appended (all 17 digits)."""
    store = open_store()
    # The last, a float of 17 digits near the latest a journal time may be (year 9999).
    times = [1712345678.123456, 253402300799.99997, 0.1 + 0.2, -5e-324]
    store.append([("a", "/t", f"s{i}", "{}", at) for i, at in enumerate(times)])
    assert [e.at for e in store.load("a")[1]] == times


def test_registering_an_id_with_no_registration_drops_what_was_left_there(
    open_store: Callable[[], Storage],
) -> None:
    """A journal and snapshot under an id nobody registered belong to no agent: registering
    the id starts afresh without them (as after a stopped agent), and their signal ids are
    still recognised."""
    store = open_store()
    assert store.append([("x", "/t", "s1", "{}", 0.0)]) == [1]
    store.snapshot(SnapshotRecord(agent_id="x", seq=1, schema_version=1, agent="{}", outbox="{}"))
    store.register(AgentRecord(agent_id="x", spec="counter", schema_version=1, initial="{}"))
    assert store.load("x") == (None, [])
    assert store.append([("x", "/t", "s1", "{}", 0.0), ("x", "/t", "s2", "{}", 0.0)]) == [None, 1]


def test_an_undelivered_id_is_known_to_the_agent_registered_later(
    open_store: Callable[[], Storage],
) -> None:
    """``mark_undelivered`` remembers the id for the agent id, with no journal entry: the
    agent registered under it later does not journal that id (nor does a store opened
    later); other ids journal from 1."""
    store = open_store()
    store.mark_undelivered("x", "/t", "s1")
    store.register(AgentRecord(agent_id="x", spec="counter", schema_version=1, initial="{}"))
    assert store.load("x") == (None, [])
    assert store.append([("x", "/t", "s1", "{}", 0.0), ("x", "/t", "s2", "{}", 0.0)]) == [None, 1]
    assert open_store().append([("x", "/t", "s1", "{}", 0.0), ("x", "/t", "s3", "{}", 0.0)]) == [
        None,
        2,
    ]


def test_compaction_keeps_the_ids_it_drops(tmp_path: Path) -> None:
    """``SQLiteStorage(compact=True)`` drops the journal entries a snapshot covers but keeps
    their signal ids: a re-delivery after compaction is still recognised, by this store and
    by any store opened later on the same file, compacting or not."""
    path = tmp_path / "agents.db"
    store = SQLiteStorage(path, compact=True)
    assert store.append([("a", "/t", "s1", "{}", 0.0), ("a", "/t", "s2", "{}", 0.0)]) == [1, 2]
    store.snapshot(SnapshotRecord(agent_id="a", seq=2, schema_version=1, agent="{}", outbox="{}"))
    assert _journal_rows(path, "a") == 0
    assert store.load("a")[1] == []
    assert store.append([("a", "/t", "s1", "{}", 0.0), ("a", "/t", "s3", "{}", 0.0)]) == [None, 3]
    store.close()
    for compact, new in ((True, "s4"), (False, "s5")):
        again = SQLiteStorage(path, compact=compact)
        try:
            assert again.append([("a", "/t", "s2", "{}", 0.0), ("a", "/t", new, "{}", 0.0)]) == [
                None,
                int(new[1:]),
            ]
        finally:
            again.close()


def test_a_compacted_journal_still_handles_a_redelivery_once(tmp_path: Path) -> None:
    """With compaction after every snapshot, and a snapshot after every signal, the same
    signal cast again (in the same runtime, and after a restart) is still handled once."""
    path = tmp_path / "agents.db"
    sig = Signal(type="t.add", source="/test", id="dup", data={"by": 5})

    async def first() -> None:
        storage = SQLiteStorage(path, compact=True)
        rt = AsyncRuntime(SPECS, storage=storage, snapshot_every=1)
        await rt.start(COUNTER, "c")
        await rt.start(TALLY, "tally")
        await rt.cast("c", sig)
        await rt.wait_idle(timeout=5)
        # Its step's snapshot (and compaction) was submitted before this append, and the
        # storage thread applies operations in order: the entry is gone by now.
        await rt.cast("c", sig)
        await rt.wait_idle(timeout=5)
        assert rt.state("c").n == 5
        assert rt.state("tally").n == 5
        await rt.shutdown()
        storage.close()

    async def second() -> None:
        storage = SQLiteStorage(path, compact=True)
        rt = await _load(storage, snapshot_every=1)
        await rt.cast("c", sig)
        await rt.wait_idle(timeout=5)
        assert rt.state("c").n == 5
        assert rt.state("tally").n == 5
        await rt.shutdown()
        storage.close()

    run(first)
    assert _journal_rows(path, "c") == 0  # compacted: only the seen ids remember "dup"
    run(second)


@pytest.mark.parametrize("level", ["BAD", "FULL; DROP TABLE journal", "full"])
def test_sqlite_refuses_an_unknown_synchronous_level(tmp_path: Path, level: str) -> None:
    """Only SQLite's levels, spelled as documented: anything else would be pasted into a
    PRAGMA (SQLite ignores a level it does not know, silently)."""
    with pytest.raises(ValueError, match="synchronous must be"):
        SQLiteStorage(tmp_path / "agents.db", synchronous=level)  # type: ignore[arg-type]
    assert not (tmp_path / "agents.db").exists()
