"""Durable agents: recovery gives back exactly the agents that were running.

Generated runs of a small system (two counters and a boss whose children are counters,
every counter reporting to a tally) mix casts, spawning and stopping children (tags reused),
stopping and starting top-level agents again (ids reused), hibernation, and restarts of the
runtime over the same SQLite file, with snapshots every 1, 2, 3 or 1,000 signals. At every
restart, the agents a fresh runtime recovers equal (``==``) those the old one ran; at the end
of the run too.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any, TypeAlias

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from jido import (
    ActionResult,
    Agent,
    AgentSpec,
    Context,
    NoParams,
    Route,
    action,
    emit_to,
    ok,
    spawn_agent,
    stop_child,
)
from jido_interpreters import AgentExists, AsyncRuntime, SQLiteStorage, UnknownAgent


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


COUNTER = AgentSpec(name="counter", state=Count, routes=[Route(pattern="t.add", target=add)])
TALLY = AgentSpec(name="tally", state=Count, routes=[Route(pattern="t.added", target=added)])
BOSS = AgentSpec(
    name="boss",
    state=Count,
    routes=[
        Route(pattern="t.hire", target=hire),
        Route(pattern="t.fire", target=fire),
        Route(pattern="t.tell", target=tell),
        Route(pattern="jido.agent.child.**", target=noted),
    ],
)
SPECS = (COUNTER, TALLY, BOSS)
TOP = ("c1", "c2")
TAGS = ("a",)  # one tag: spawning again reuses it

Op: TypeAlias = tuple[Any, ...]

ops = st.one_of(
    st.tuples(st.just("cast"), st.sampled_from([*TOP, "boss/a"]), st.integers(1, 9)),
    st.tuples(st.just("hire"), st.sampled_from(TAGS)),
    st.tuples(st.just("fire"), st.sampled_from(TAGS)),
    st.tuples(st.just("tell"), st.sampled_from(TAGS), st.integers(1, 9)),
    st.tuples(st.just("hibernate"), st.sampled_from([*TOP, "tally", "boss", "boss/a"])),
    st.tuples(st.just("stop"), st.sampled_from(TOP)),
    st.tuples(st.just("start"), st.sampled_from(TOP)),
    st.tuples(st.just("restart")),
)


async def _everyone(rt: AsyncRuntime) -> dict[str, Agent[Any]]:
    """Every agent the runtime holds, hibernated ones thawed to be looked at."""
    for agent_id in rt.hibernated_ids:
        await rt.thaw(agent_id)
    await rt.wait_idle(timeout=10)
    return {i: rt.agent(i) for i in rt.agent_ids}


async def _apply(rt: AsyncRuntime, op: Op) -> None:
    try:
        match op:
            case ("cast", target, by):
                await rt.cast(target, "t.add", {"by": by})
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
                await rt.start(COUNTER, target)
            case _:
                raise AssertionError(op)
    except (UnknownAgent, AgentExists, ValueError):
        pass  # not running (or running already): the op does not apply now
    await rt.wait_idle(timeout=10)


async def _run(path: Path, snapshot_every: int, script: list[Op]) -> None:
    def fresh() -> AsyncRuntime:
        storage = SQLiteStorage(path, synchronous="OFF")  # a killed process is test_crash's
        stores.append(storage)
        return AsyncRuntime(SPECS, storage=storage, snapshot_every=snapshot_every)

    stores: list[SQLiteStorage] = []
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
@given(snapshot_every=st.sampled_from([1, 2, 3, 1000]), script=st.lists(ops, max_size=25))
def test_recovery_gives_back_the_running_agents(snapshot_every: int, script: list[Op]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(_run(Path(tmp) / "agents.db", snapshot_every, script))
