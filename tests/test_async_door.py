"""AsyncRuntime at its door: recoveries under way, the event loop it is bound to, and
what it says when it refuses (the shutdown's phase, why an agent is not there).

* A ``thaw``, ``call`` or ``cast`` of an agent that a ``restore`` or ``thaw`` under way may
  bring back waits for it, then proceeds (``call`` within its timeout).
* ``wait_until``'s timeout bounds the whole wait, a thaw included.
* The runtime is bound to the loop it first ran agents on: a method called from another
  thread or another loop is refused with a ``RuntimeError`` saying what to do instead.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import attrs
import pytest

from jido import (
    CHILD_EXIT,
    ActionResult,
    AgentSpec,
    Context,
    InvalidSignal,
    NoParams,
    Route,
    Signal,
    action,
    emit_to_sink,
    invoke,
    ok,
)
from jido_interpreters import (
    AsyncRuntime,
    CallTimeout,
    RuntimeClosed,
    SQLiteStorage,
    UnknownAgent,
    WaitTimeout,
)
from jido_interpreters._storage import JournalEntry, SnapshotRecord


@attrs.frozen
class Count:
    n: int = 0


@action(params=NoParams)
def bump(state: Count, _: NoParams, ctx: Context) -> ActionResult[Count]:
    return ok(Count(state.n + 1), emit_to_sink("out", "counted", {"n": state.n + 1}))


@action(params=NoParams)
def work(state: Count, _: NoParams, ctx: Context) -> ActionResult[Count]:
    return ok(state, invoke("hold", {}, on_ok="work.done", on_error="work.done"))


@action(params=NoParams)
def done(state: Count, _: NoParams, ctx: Context) -> ActionResult[Count]:
    return ok(state)


SPEC = AgentSpec(
    name="count",
    state=Count,
    routes=[
        Route(pattern="bump", target=bump),
        Route(pattern="work", target=work),
        Route(pattern="work.done", target=done),
    ],
)


class Held:
    """Holds a store's ``load``, once ``held``, until the test lets it go."""

    def __init__(self, store: SQLiteStorage) -> None:
        self.held = False
        self.entered = threading.Event()
        self.go = threading.Event()
        load = store.load

        def held_load(agent_id: str) -> tuple[SnapshotRecord | None, list[JournalEntry]]:
            if self.held:
                self.entered.set()
                self.go.wait(10)
            return load(agent_id)

        store.load = held_load  # type: ignore[method-assign]


async def _stored(path: Path, bumps: int = 1) -> None:
    """A store holding agent 'c' (not stopped) after ``bumps`` steps."""
    async with AsyncRuntime([SPEC], sinks=["out"], storage=SQLiteStorage(path)) as rt:
        await rt.start(SPEC, "c")
        for _ in range(bumps):
            await rt.call("c", "bump")


# ---------------------------------------------------------------------- recoveries


def test_two_thaws_of_an_agent_not_yet_recovered_both_return_it(tmp_path: Path) -> None:
    db = tmp_path / "a.db"

    async def main() -> None:
        await _stored(db, bumps=2)
        async with AsyncRuntime([SPEC], sinks=["out"], storage=SQLiteStorage(db)) as rt:
            first, second = await asyncio.gather(rt.thaw("c"), rt.thaw("c"))
            assert first.state.n == second.state.n == 2
            assert rt.agent_ids == ("c",)

    asyncio.run(main())


def test_thaw_and_call_alongside_a_restore_wait_for_it(tmp_path: Path) -> None:
    db = tmp_path / "a.db"

    async def main() -> None:
        await _stored(db, bumps=1)
        async with AsyncRuntime([SPEC], sinks=["out"], storage=SQLiteStorage(db)) as rt:
            ids, thawed, called = await asyncio.gather(
                rt.restore(), rt.thaw("c"), rt.call("c", "bump")
            )
            assert ids == ("c",)
            assert thawed.state.n >= 1
            assert called.state.n == 2  # delivered once the restore brought it back
            assert rt.state("c").n == 2

    asyncio.run(main())


def test_a_call_alongside_a_thaw_is_delivered(tmp_path: Path) -> None:
    db = tmp_path / "a.db"

    async def main() -> None:
        await _stored(db, bumps=1)
        async with AsyncRuntime([SPEC], sinks=["out"], storage=SQLiteStorage(db)) as rt:
            both = await asyncio.gather(rt.thaw("c"), rt.call("c", "bump"))
            assert both[1].state.n == 2

    asyncio.run(main())


def test_a_call_waiting_for_a_restore_keeps_to_its_timeout(tmp_path: Path) -> None:
    db = tmp_path / "a.db"

    async def main() -> None:
        await _stored(db)
        storage = SQLiteStorage(db)
        hold = Held(storage)
        async with AsyncRuntime([SPEC], sinks=["out"], storage=storage) as rt:
            hold.held = True
            restoring = asyncio.ensure_future(rt.restore())
            await asyncio.to_thread(hold.entered.wait, 10)
            with pytest.raises(UnknownAgent, match="being restored"):
                rt.cast_nowait("c", "bump")
            with pytest.raises(CallTimeout) as info:
                await rt.call("c", "bump", timeout=0.05)
            assert not info.value.queued  # not sent: it waited for the restore
            hold.go.set()
            assert await restoring == ("c",)
            assert rt.state("c").n == 1

    asyncio.run(main())


def test_wait_until_timeout_bounds_a_slow_thaw(tmp_path: Path) -> None:
    db = tmp_path / "a.db"

    async def main() -> None:
        storage = SQLiteStorage(db)
        hold = Held(storage)
        async with AsyncRuntime([SPEC], sinks=["out"], storage=storage) as rt:
            await rt.start(SPEC, "c")
            await rt.hibernate("c")
            hold.held = True
            waiting = asyncio.ensure_future(
                rt.wait_until("c", lambda a: a.state.n > 0, timeout=0.05)
            )
            finished, _ = await asyncio.wait([waiting], timeout=5)
            hold.go.set()  # the load goes on only now: the wait gave up before it
            assert finished, "wait_until waited for the thaw beyond its timeout"
            with pytest.raises(WaitTimeout, match="still being thawed") as info:
                waiting.result()
            assert info.value.version is None
            assert (await rt.thaw("c")).state.n == 0  # the thaw went on

    asyncio.run(main())


# ---------------------------------------------------------------------- the loop


def test_cast_nowait_from_another_thread_is_refused() -> None:
    async def main() -> None:
        async with AsyncRuntime([SPEC], sinks=["out"]) as rt:
            await rt.start(SPEC, "c")
            with pytest.raises(RuntimeError, match="call_soon_threadsafe"):
                await asyncio.to_thread(rt.cast_nowait, "c", "bump")
            with pytest.raises(RuntimeError, match="run_coroutine_threadsafe"):
                await asyncio.to_thread(asyncio.run, rt.call("c", "bump"))
            assert (await rt.call("c", "bump")).state.n == 1  # nothing else was queued

    asyncio.run(main())


def test_a_runtime_used_under_a_second_loop_is_refused() -> None:
    rt = AsyncRuntime([SPEC], sinks=["out"])
    first = asyncio.new_event_loop()
    try:
        first.run_until_complete(rt.start(SPEC, "c"))
        rt.cast_nowait("c", "bump")  # its own thread between runs of its loop: accepted

        async def elsewhere() -> None:
            with pytest.raises(RuntimeError, match="another event loop"):
                await rt.call("c", "bump")

        asyncio.run(elsewhere())
        assert first.run_until_complete(rt.call("c", "bump")).state.n == 2
    finally:
        # As asyncio.run ends: what still runs on the loop is cancelled, then it closes.
        left = asyncio.all_tasks(first)
        for task in left:
            task.cancel()
        first.run_until_complete(asyncio.gather(*left, return_exceptions=True))
        first.close()

    async def after() -> None:
        with pytest.raises(RuntimeError, match="has closed"):
            await rt.call("c", "bump")
        with pytest.raises(RuntimeError, match="has closed"):
            rt.cast_nowait("c", "bump")

    asyncio.run(after())


# ---------------------------------------------------------------------- what is said


def test_refusals_name_the_phase_of_the_shutdown(tmp_path: Path) -> None:
    release = asyncio.Event()

    async def hold(args: Any) -> dict[str, int]:
        await release.wait()
        return {}

    async def main() -> None:
        rt = AsyncRuntime(
            [SPEC], sinks=["out"], effects={"hold": hold}, storage=SQLiteStorage(tmp_path / "a")
        )
        await rt.start(SPEC, "c")
        await rt.start(SPEC, "h")
        await rt.hibernate("h")
        await rt.call("c", "work")  # its effect holds the drain
        shutting = asyncio.ensure_future(rt.shutdown(5))
        await asyncio.sleep(0)
        assert not shutting.done()
        for refused in (rt.start(SPEC, "d"), rt.restore(), rt.thaw("h"), rt.hibernate("c")):
            with pytest.raises(RuntimeClosed, match="is shutting down"):
                await refused
        with pytest.raises(RuntimeClosed, match="is shutting down"):
            await rt.cast("c", "bump")
        release.set()
        await shutting
        with pytest.raises(RuntimeClosed, match="has shut down"):
            await rt.cast("c", "bump")
        with pytest.raises(RuntimeClosed, match="has shut down"):
            await rt.start(SPEC, "e")
        with pytest.raises(RuntimeClosed, match="has shut down"):
            await rt.wait_until("c", lambda a: True)
        with pytest.raises(RuntimeClosed, match="has shut down"):
            await rt.stop("c")

    asyncio.run(main())


def test_thaw_says_why_there_is_no_agent(tmp_path: Path) -> None:
    db = tmp_path / "a.db"

    async def main() -> None:
        async with AsyncRuntime([SPEC], sinks=["out"], storage=SQLiteStorage(db)) as rt:
            await rt.start(SPEC, "c")
            await rt.stop("c")
            with pytest.raises(UnknownAgent, match="it has stopped"):
                await rt.thaw("c")
            with pytest.raises(UnknownAgent, match="storage holds no such agent"):
                await rt.thaw("never")

    asyncio.run(main())


def test_sink_of_a_function_sink_says_it_is_not_collected() -> None:
    rt = AsyncRuntime([SPEC], sinks={"out": lambda sig: None})
    with pytest.raises(KeyError, match="given as a function"):
        rt.sink("out")
    with pytest.raises(KeyError, match="no sink named"):
        rt.sink("other")


def test_what_is_refused_at_the_door_leaves_nothing_behind(tmp_path: Path) -> None:
    """As on the other runtimes: a draft (accepted, journalled, then refused in its step;
    with storage every draft has one source and id, so a second was dropped as a resend),
    data beside a signal (ignored), an async condition (its coroutine counted as true at
    once), and ``only`` given as a string (its characters taken for agent ids)."""

    async def main() -> None:
        async with AsyncRuntime(
            [SPEC], sinks=["out"], storage=SQLiteStorage(tmp_path / "a.db")
        ) as rt:
            await rt.start(SPEC, "c")
            draft = Signal.draft("bump")
            finished = rt.signal("bump")
            for send in (rt.cast, rt.call):
                with pytest.raises(InvalidSignal, match="is an unstamped draft"):
                    await send("c", draft)
                with pytest.raises(TypeError, match="data is given beside the signal"):
                    await send("c", finished, {"n": 1})
            with pytest.raises(InvalidSignal, match="is an unstamped draft"):
                rt.cast_nowait("c", draft)
            with pytest.raises(TypeError, match="data is given beside the signal"):
                rt.cast_nowait("c", finished, {"n": 1})
            # What would pass for the runtime's own: a lifecycle type, an effect's outcome.
            outcome = Signal(type="bump", source="jido://effect/pay", id="k:ok")
            for forged in (CHILD_EXIT, rt.signal(CHILD_EXIT), outcome):
                for send in (rt.cast, rt.call):
                    with pytest.raises(InvalidSignal, match="the runtime"):
                        await send("c", forged)
                with pytest.raises(InvalidSignal, match="the runtime"):
                    rt.cast_nowait("c", forged)

            async def reached(agent: Any) -> bool:
                return bool(agent.state.n)

            class Reached:
                """A callable object whose ``__call__`` is an async def: its kind is told
                only from what calling it gives."""

                async def __call__(self, agent: Any) -> bool:
                    return bool(agent.state.n)

            conditions: list[Any] = [reached, Reached()]
            for condition in conditions:
                with pytest.raises(TypeError, match="not an async def"):
                    await rt.wait_until("c", condition, timeout=5)
            with pytest.raises(TypeError, match="only must be a collection of agent ids"):
                await rt.restore(only="c")
            assert rt.state("c") == Count()
            assert rt.sink("out") == ()

    asyncio.run(main())


def test_a_runtime_whose_loop_closed_refuses_casts_and_lets_its_store_go(tmp_path: Path) -> None:
    """Its agents' tasks ended with the loop of the first asyncio.run. A cast to a hibernated
    agent (no task of its own to tell of it) was accepted and never written, or hung; and
    the advice, a new runtime restoring from the store, met StorageInUse, the old runtime's
    shutdown being refused. Now the casts are refused, and shutdown lets the store go."""
    rt = AsyncRuntime([SPEC], sinks=["out"], storage=SQLiteStorage(tmp_path / "a.db"))

    async def first() -> None:
        await rt.start(SPEC, "c")
        await rt.call("c", "bump")
        await rt.hibernate("c")

    asyncio.run(first())

    async def second() -> None:
        with pytest.raises(RuntimeError, match="has closed"):
            rt.cast_nowait("c", "bump")
        with pytest.raises(RuntimeError, match="has closed"):
            await asyncio.wait_for(rt.cast("c", "bump"), 5)  # it hung
        report = await rt.shutdown()
        assert report.drained
        again = AsyncRuntime([SPEC], sinks=["out"], storage=SQLiteStorage(tmp_path / "a.db"))
        async with again:
            assert await again.restore() == ("c",)
            assert (await again.call("c", "bump")).state == Count(2)

    asyncio.run(second())


def test_the_shutdown_of_a_runtime_whose_loop_closed_reports_what_was_queued() -> None:
    """What its agents had queued, unhandled when the loop closed, is reported as left."""
    rt = AsyncRuntime([SPEC], sinks=["out"])
    loop = asyncio.new_event_loop()
    loop.run_until_complete(rt.start(SPEC, "d"))
    queued = rt.cast_nowait("d", "bump")  # its own thread, between runs of its loop
    # Torn down as asyncio.run tears its loop down: the agent's task is cancelled before it
    # ran again, the signal still queued.
    tasks = asyncio.all_tasks(loop)
    for task in tasks:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    loop.close()

    async def second() -> None:
        report = await rt.shutdown()
        assert not report.drained
        assert report.left == {"d": (queued,)}

    asyncio.run(second())
