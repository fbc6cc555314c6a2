"""Concurrency on a durable runtime: nothing acknowledged is lost, nothing is handled twice.

Generated batches of operations run *at the same time* (``asyncio.gather``): casts and calls
to counters, hibernating them, thawing them, restoring, while each counter reports every
addition to a tally. Between batches the runtime may be restarted over the same SQLite
file. After every batch, each counter's total is the sum of the additions whose
``cast``/``call`` returned, and the tally's is the sum of all of them: exactly once each,
however the operations interleaved with hibernation, thaws and recovery.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any, TypeAlias

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from jido import ActionResult, AgentSpec, Context, Route, action, emit_to, ok
from jido_interpreters import AgentExists, AsyncRuntime, SQLiteStorage, UnknownAgent


@attrs.frozen
class Total:
    n: int = 0


@attrs.frozen
class By:
    by: int = 1


@action(params=By)
def add(state: Total, p: By, ctx: Context) -> ActionResult[Total]:
    return ok(Total(state.n + p.by), emit_to("tally", "t.added", {"by": p.by}))


@action(params=By)
def added(state: Total, p: By, ctx: Context) -> ActionResult[Total]:
    return ok(Total(state.n + p.by))


COUNTER = AgentSpec(name="counter", state=Total, routes=[Route(pattern="t.add", target=add)])
TALLY = AgentSpec(name="tally", state=Total, routes=[Route(pattern="t.added", target=added)])
COUNTERS = ("c1", "c2", "c3")

Op: TypeAlias = tuple[Any, ...]
one_op = st.one_of(
    st.tuples(st.just("cast"), st.sampled_from(COUNTERS), st.integers(1, 9)),
    st.tuples(st.just("call"), st.sampled_from(COUNTERS), st.integers(1, 9)),
    st.tuples(st.just("hibernate"), st.sampled_from([*COUNTERS, "tally"])),
    st.tuples(st.just("thaw"), st.sampled_from([*COUNTERS, "tally"])),
    st.tuples(st.just("restore")),  # of whatever is not running: none, or the hibernated
)
batches = st.lists(
    st.one_of(st.lists(one_op, min_size=1, max_size=8), st.just("restart")), max_size=8
)


async def _one(rt: AsyncRuntime, op: Op) -> int:
    """Run one op; the amount it added to its counter if it was acknowledged."""
    match op:
        case ("cast", agent_id, by):
            await rt.cast(agent_id, "t.add", {"by": by})
            return int(by)
        case ("call", agent_id, by):
            await rt.call(agent_id, "t.add", {"by": by}, timeout=10)
            return int(by)
        case ("hibernate", agent_id):
            if agent_id in rt.agent_ids:
                await rt.hibernate(agent_id)
        case ("thaw", agent_id):
            await rt.thaw(agent_id)
        case ("restore",):
            await rt.restore()
        case _:
            raise AssertionError(op)
    return 0


async def _start_system(rt: AsyncRuntime) -> None:
    """The tally, then the counters."""
    await rt.start(TALLY, "tally")
    for agent_id in COUNTERS:
        await rt.start(COUNTER, agent_id)


def _durable(path: Path, stores: list[SQLiteStorage]) -> AsyncRuntime:
    """A runtime over the SQLite file (a killed process is test_crash's concern: no fsync);
    its store is added to ``stores``, to be closed at the end."""
    store = SQLiteStorage(path, synchronous="OFF")
    stores.append(store)
    return AsyncRuntime([COUNTER, TALLY], storage=store, snapshot_every=3)


async def _totals(rt: AsyncRuntime) -> dict[str, int]:
    for agent_id in rt.hibernated_ids:
        await rt.thaw(agent_id)
    await rt.wait_idle(timeout=10)
    return {agent_id: rt.state(agent_id).n for agent_id in rt.agent_ids}


async def _run(path: Path, script: list[list[Op] | str]) -> None:
    def fresh() -> AsyncRuntime:
        return _durable(path, stores)

    stores: list[SQLiteStorage] = []
    expected = dict.fromkeys([*COUNTERS, "tally"], 0)
    rt = fresh()
    try:
        await _start_system(rt)
        for batch in script:
            if batch == "restart":
                await rt.shutdown()
                rt = fresh()
                await rt.restore()
            else:
                ops = [op for op in batch if not isinstance(op, str)]
                done = await asyncio.gather(*(_one(rt, op) for op in ops))
                for op, by in zip(ops, done, strict=True):
                    if by:
                        expected[op[1]] += by
                        expected["tally"] += by
            assert await _totals(rt) == expected, (batch, expected)
    finally:
        await rt.shutdown()
        for store in stores:
            store.close()


@settings(max_examples=40)
@given(script=batches)
def test_concurrent_operations_lose_nothing_and_repeat_nothing(
    script: list[list[Op] | str],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(_run(Path(tmp) / "agents.db", script))


# ---------------------------------------------------------------------------- with stops

with_stops = st.one_of(
    one_op,
    st.tuples(st.just("stop"), st.sampled_from(COUNTERS)),
    st.tuples(st.just("start"), st.sampled_from(COUNTERS)),
)
stop_batches = st.lists(
    st.one_of(st.lists(with_stops, min_size=1, max_size=8), st.just("restart")), max_size=8
)


async def _acked(rt: AsyncRuntime, op: Op) -> tuple[str, int] | None:
    """Run one op; for an acknowledged cast or call, its signal's id and amount."""
    try:
        match op:
            case ("cast" | "call", agent_id, by):
                sig = rt.signal("t.add", {"by": by})
                if op[0] == "cast":
                    await rt.cast(agent_id, sig)
                else:
                    await rt.call(agent_id, sig, timeout=10)
                return sig.id, int(by)
            case ("stop", agent_id):
                await rt.stop(agent_id)
            case ("start", agent_id):
                await rt.start(COUNTER, agent_id)
            case _:
                await _one(rt, op)
    except (UnknownAgent, AgentExists, ValueError):
        pass  # not running, or running already: nothing acknowledged
    return None


_DURABLE_ONLY = ("hibernate", "thaw", "restore", "restart")


async def _run_with_stops(path: Path | None, script: list[list[Op] | str]) -> None:
    """``path=None``: an in-memory runtime (the ops that need storage are left out)."""
    if path is None:
        script = [
            [op for op in b if op[0] not in _DURABLE_ONLY] if isinstance(b, list) else b
            for b in script
            if b != "restart"
        ]

    def fresh() -> AsyncRuntime:
        return AsyncRuntime([COUNTER, TALLY]) if path is None else _durable(path, stores)

    stores: list[SQLiteStorage] = []
    acked: dict[str, int] = {}  # signal id -> amount
    dead: set[str] = set()  # ids of signals that were never handled (their agent stopped)
    rt = fresh()
    try:
        await _start_system(rt)
        for batch in script:
            if batch == "restart":
                dead.update(sig.id for _, sig in rt.dead_letters)
                await rt.shutdown()
                rt = fresh()
                await rt.restore()
            else:
                ops = [op for op in batch if not isinstance(op, str)]
                for got in await asyncio.gather(*(_acked(rt, op) for op in ops)):
                    if got is not None:
                        acked[got[0]] = got[1]
            totals = await _totals(rt)
            gone = dead | {sig.id for _, sig in rt.dead_letters}
            handled = sum(by for sid, by in acked.items() if sid not in gone)
            assert totals["tally"] == handled, (batch, totals, handled)
    finally:
        await rt.shutdown()
        for store in stores:
            store.close()


@settings(max_examples=40)
@given(script=stop_batches, durable=st.booleans())
def test_with_stops_every_acknowledged_signal_is_handled_once_or_a_dead_letter(
    script: list[list[Op] | str], durable: bool
) -> None:
    """Stops and starts (ids reused) join the mix: a signal acknowledged to an agent that
    stops before handling it is a dead letter; every other one reaches the tally once. On a
    durable runtime and on one in memory."""
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(_run_with_stops(Path(tmp) / "agents.db" if durable else None, script))
