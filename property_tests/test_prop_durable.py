"""Durable agents: recovery gives back exactly the agents that were running.

Generated runs of a small system (two counters and a boss whose children are counters,
every counter reporting to a tally) mix casts, effects, timers and cron jobs, crashes (under
``Restart`` or ``Continue``), agents stopping themselves, spawning and stopping children (the
tag reused), the boss stopping (its children following each ``on_parent_death`` policy) and
starting again, stopping and starting top-level agents again (ids reused), hibernation,
webhook events whose ids two sources share (and resends of them), and restarts of the
runtime over the same store: SQLite, SQLite with compaction, or a real Redis
server, with snapshots every 1, 2, 3 or 1,000 signals. At every restart, the agents a fresh
runtime recovers equal (``==``) those the old one ran, with the same timers and cron jobs
armed; at the end of the run too.
"""

from __future__ import annotations

import asyncio
import itertools
import tempfile
from pathlib import Path
from typing import Any, TypeAlias

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.redis_server import redis_url

from jido import (
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
    cron,
    emit_to,
    invoke,
    ok,
    schedule,
    spawn_agent,
    stop,
    stop_child,
)
from jido_interpreters import (
    AgentExists,
    AgentOptions,
    AsyncRuntime,
    Continue,
    ErrorPolicy,
    ParentDeath,
    RedisStorage,
    Restart,
    SQLiteStorage,
    Storage,
    UnknownAgent,
)

__all__ = ["redis_url"]  # the fixture, imported so pytest finds it here


@attrs.frozen
class Count:
    n: int = 0
    seen: int = 0


@attrs.frozen
class By:
    by: int = 1


@attrs.frozen
class Tag:
    tag: str = "a"


@attrs.frozen
class Answer:
    result: str = ""


@attrs.frozen
class Tell:
    tag: str = "a"
    by: int = 1


@action(params=By)
def add(state: Count, p: By, ctx: Context) -> ActionResult[Count]:
    return ok(
        Count(n=state.n + p.by, seen=state.seen + 1), emit_to("tally", "t.added", {"by": p.by})
    )


@action(params=By)
def added(state: Count, p: By, ctx: Context) -> ActionResult[Count]:
    return ok(Count(n=state.n + p.by, seen=state.seen + 1))


@action(params=Tag)
def hire(state: Count, p: Tag, ctx: Context) -> ActionResult[Count]:
    return ok(attrs.evolve(state, seen=state.seen + 1), spawn_agent("counter", p.tag))


@action(params=Tag)
def fire(state: Count, p: Tag, ctx: Context) -> ActionResult[Count]:
    return ok(attrs.evolve(state, seen=state.seen + 1), stop_child(p.tag))


@action(params=Tell)
def tell(state: Count, p: Tell, ctx: Context) -> ActionResult[Count]:
    return ok(state, emit_to(f"{ctx.agent_id}/{p.tag}", "t.add", {"by": p.by}))


@action(params=NoParams)
def noted(state: Count, _: NoParams, ctx: Context) -> ActionResult[Count]:
    return ok(attrs.evolve(state, seen=state.seen + 1))


@action(params=By)
def ask(state: Count, p: By, ctx: Context) -> ActionResult[Count]:
    return ok(state, invoke("lookup", {"q": p.by}, on_ok="t.answer", on_error="t.lost"))


@action(params=Answer)
def answer(state: Count, p: Answer, ctx: Context) -> ActionResult[Count]:
    return ok(Count(n=state.n + len(p.result), seen=state.seen + 1))


@action(params=By)
def remind(state: Count, p: By, ctx: Context) -> ActionResult[Count]:
    return ok(state, schedule(3600.0, "t.add", {"by": p.by}))  # not due within a test


@action(params=By)
def every(state: Count, p: By, ctx: Context) -> ActionResult[Count]:
    # Not due within a test either: at midnight on New Year's Day.
    return ok(state, cron("0 0 1 1 *", "t.add", {"by": p.by}, job_id=f"job-{p.by % 3}"))


@action(params=NoParams)
def boom(state: Count, _: NoParams, ctx: Context) -> ActionResult[Count]:
    raise RuntimeError("a bug")


@action(params=NoParams)
def quit_(state: Count, _: NoParams, ctx: Context) -> ActionResult[Count]:
    return ok(state, stop("done"))


async def lookup(args: FrozenMap[str, JsonValue]) -> str:
    return "x" * int(str(args["q"]))


COUNTER = AgentSpec(
    name="counter",
    state=Count,
    routes=[
        Route(pattern="t.add", target=add),
        Route(pattern="t.ask", target=ask),
        Route(pattern="t.answer", target=answer),
        Route(pattern="t.boom", target=boom),
        Route(pattern="t.remind", target=remind),
        Route(pattern="t.every", target=every),
        Route(pattern="t.quit", target=quit_),
    ],
)
TALLY = AgentSpec(name="tally", state=Count, routes=[Route(pattern="t.added", target=added)])
BOSS = AgentSpec(
    name="boss",
    state=Count,
    routes=[
        Route(pattern="t.hire", target=hire),
        Route(pattern="t.fire", target=fire),
        Route(pattern="t.tell", target=tell),
        Route(pattern="t.quit", target=quit_),
        Route(pattern="jido.agent.child.**", target=noted),
    ],
)
SPECS = (COUNTER, TALLY, BOSS)
TOP = ("c1", "c2")
TAGS = ("a",)  # one tag: spawning again reuses it

Op: TypeAlias = tuple[Any, ...]

SOURCES = ("/webhooks/github", "/webhooks/stripe")

ops = st.one_of(
    st.tuples(st.just("cast"), st.sampled_from([*TOP, "boss/a"]), st.integers(1, 9)),
    # An event numbered by its source: the same id from both sources, and resends.
    st.tuples(
        st.just("webhook"),
        st.sampled_from([*TOP, "boss/a"]),
        st.sampled_from(SOURCES),
        st.sampled_from(["1", "2"]),
    ),
    st.tuples(st.just("ask"), st.sampled_from([*TOP, "boss/a"]), st.integers(1, 9)),
    st.tuples(st.just("boom"), st.sampled_from([*TOP, "boss/a"])),
    st.tuples(st.just("remind"), st.sampled_from([*TOP, "boss/a"]), st.integers(1, 9)),
    st.tuples(st.just("every"), st.sampled_from([*TOP, "boss/a"]), st.integers(1, 9)),
    st.tuples(st.just("quit"), st.sampled_from([*TOP, "boss/a", "boss"])),
    st.tuples(st.just("hire"), st.sampled_from(TAGS)),
    st.tuples(st.just("fire"), st.sampled_from(TAGS)),
    st.tuples(st.just("tell"), st.sampled_from(TAGS), st.integers(1, 9)),
    st.tuples(st.just("hibernate"), st.sampled_from([*TOP, "tally", "boss", "boss/a"])),
    st.tuples(st.just("stop"), st.sampled_from([*TOP, "boss"])),
    st.tuples(st.just("start"), st.sampled_from([*TOP, "boss"])),
    st.tuples(st.just("restart")),
)


async def _everyone(rt: AsyncRuntime) -> dict[str, tuple[Agent[Any], Any]]:
    """Every agent the runtime holds (hibernated ones thawed to be looked at), with what it
    has outstanding: the ids of its armed timers and of its cron jobs. (When a timer is due
    is left out: live it counts from when it was armed, on recovery from when its step was
    journalled.)"""
    for agent_id in rt.hibernated_ids:
        await rt.thaw(agent_id)
    await rt.wait_idle(timeout=10)
    out: dict[str, tuple[Agent[Any], Any]] = {}
    for agent_id in rt.agent_ids:
        box = rt._servers[agent_id].outbox()
        armed = (sorted(s.id for _, s in box.schedules), sorted(c.job_id for c in box.crons))
        out[agent_id] = (rt.agent(agent_id), armed)
    return out


async def _apply(rt: AsyncRuntime, op: Op) -> None:
    try:
        match op:
            case ("cast", target, by):
                await rt.cast(target, "t.add", {"by": by})
            case ("webhook", target, source, id):
                by = 10 * (SOURCES.index(source) + 1) + int(id)  # the same for a resend
                await rt.cast(target, Signal(type="t.add", source=source, id=id, data={"by": by}))
            case ("ask", target, by):
                await rt.cast(target, "t.ask", {"by": by})
            case ("remind", target, by):
                await rt.cast(target, "t.remind", {"by": by})
            case ("every", target, by):
                await rt.cast(target, "t.every", {"by": by})
            case ("boom", target):
                await rt.cast(target, "t.boom")
            case ("quit", target):
                await rt.cast(target, "t.quit")
            case ("hire", tag):
                await rt.cast("boss", "t.hire", {"tag": tag})
            case ("fire", tag):
                await rt.cast("boss", "t.fire", {"tag": tag})
            case ("tell", tag, by):
                await rt.cast("boss", "t.tell", {"tag": tag, "by": by})
            case ("hibernate", target):
                await rt.hibernate(target)
            case ("stop", target):
                await rt.stop(target)
            case ("start", target):
                await rt.start(BOSS if target == "boss" else COUNTER, target)
            case _:
                raise AssertionError(op)
    except (UnknownAgent, AgentExists, ValueError):
        pass  # not running (or running already): the op does not apply now
    await rt.wait_idle(timeout=10)


_prefixes = itertools.count()


async def _run(
    open_store: Any,
    snapshot_every: int,
    policy: ErrorPolicy,
    parent_death: ParentDeath,
    script: list[Op],
) -> None:
    def fresh() -> AsyncRuntime:
        storage: Storage = open_store()
        stores.append(storage)
        return AsyncRuntime(
            SPECS,
            storage=storage,
            snapshot_every=snapshot_every,
            effects={"lookup": lookup},
            options={"counter": AgentOptions(error_policy=policy, on_parent_death=parent_death)},
        )

    stores: list[Storage] = []
    rt = fresh()
    try:
        await rt.start(TALLY, "tally")
        await rt.start(BOSS, "boss")
        for agent_id in TOP:
            await rt.start(COUNTER, agent_id)
        for op in [*script, ("restart",)]:
            if op != ("restart",):
                await _apply(rt, op)
                continue
            before = await _everyone(rt)
            await rt.shutdown()
            rt = fresh()
            await rt.restore()
            after = await _everyone(rt)
            assert after == before, f"recovered {after}\nlive was {before}"
    finally:
        await rt.shutdown()
        for s in stores:
            s.close()


@settings(max_examples=150)
@given(
    store=st.sampled_from(["sqlite", "sqlite-compact", "redis"]),
    snapshot_every=st.sampled_from([1, 2, 3, 1000]),
    policy=st.sampled_from([Restart(max_restarts=100, within=60.0), Continue()]),
    parent_death=st.sampled_from(["orphan", "stop", "continue"]),
    script=st.lists(ops, max_size=25),
)
def test_recovery_gives_back_the_running_agents(
    redis_url: str,
    store: str,
    snapshot_every: int,
    policy: ErrorPolicy,
    parent_death: ParentDeath,
    script: list[Op],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "agents.db"
        prefix = f"prop-durable:{next(_prefixes)}:"

        def open_store() -> Storage:
            if store == "redis":
                return RedisStorage(redis_url, prefix=prefix)
            # A killed process is test_crash's concern: no fsync needed here.
            return SQLiteStorage(path, synchronous="OFF", compact=store == "sqlite-compact")

        try:
            asyncio.run(_run(open_store, snapshot_every, policy, parent_death, script))
        finally:
            if store == "redis":
                _drop_keys(redis_url, prefix)


def _drop_keys(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
