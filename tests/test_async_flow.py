"""AsyncRuntime's flow control: senders waiting for room are served in turn and hear of a
shutdown at once, a sensor waits for room as any outside source does, and a shutdown
reports every signal it leaves behind (once, to every caller)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from tests.test_async_core import Log, note, run

from jido import (
    SENSOR_EXIT,
    ActionResult,
    AgentSpec,
    Context,
    FrozenMap,
    JsonValue,
    NoParams,
    ProblemKind,
    Route,
    Signal,
    action,
    emit,
    emit_to_sink,
    invoke,
    ok,
    schedule,
    start_sensor,
)
from jido_interpreters import (
    AgentOptions,
    AsyncRuntime,
    MailboxFull,
    RuntimeClosed,
    ShutdownReport,
    SQLiteStorage,
)
from jido_interpreters._mailbox import Item, Mailbox


@attrs.frozen
class Exit:
    """A sensor's exit, as the runtime reports it."""

    tag: str = ""
    sensor: str = ""
    reason: str = ""


@action()
def to_sink(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    return ok(state, emit_to_sink("s", "t.sunk"))


@action()
def again(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    return ok(state, emit("t.again"))


@action()
def later(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    return ok(state, schedule(60.0, "t.note", {"item": "later"}))


@action()
def slow(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    return ok(state, invoke("slow", None, on_ok="t.done", on_error="t.done"))


@action()
def watch(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    return ok(state, start_sensor("feed", "in"))


@action(params=Exit)
def ended(state: Log, p: Exit, ctx: Context) -> ActionResult[Log]:
    return ok(Log((*state.seen, f"exit:{p.reason}")))


@action()
def boom(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    raise RuntimeError("boom")


SPEC = AgentSpec(
    name="log",
    state=Log,
    routes=[
        Route(pattern="t.note", target=note),
        Route(pattern="t.to_sink", target=to_sink),
        Route(pattern="t.again", target=again),
        Route(pattern="t.later", target=later),
        Route(pattern="t.slow", target=slow),
        Route(pattern="t.watch", target=watch),
        Route(pattern=SENSOR_EXIT, target=ended),
        Route(pattern="t.boom", target=boom),
    ],
)
ONE = {"log": AgentOptions(mailbox_size=1)}


def test_senders_waiting_for_room_are_served_in_turn() -> None:
    """Three casts wait for room in a full mailbox. The room the agent's next step frees is
    the first one's: a ``cast_nowait`` arriving meanwhile finds the mailbox full (it does
    not take the room, which would send the waiting cast to the back of the queue), and
    the three get in in the order they came."""
    refused: list[str] = []
    holder: dict[str, AsyncRuntime] = {}

    def intrude(sig: Signal) -> None:
        # Runs inside the step that freed the room, after the first cast was woken.
        try:
            holder["rt"].cast_nowait("a", "t.note", {"item": "intruder"})
        except MailboxFull:
            refused.append("intruder")

    async def main() -> None:
        async with AsyncRuntime([SPEC], sinks={"s": intrude}, options=ONE) as rt:
            holder["rt"] = rt
            await rt.start(SPEC, "a")
            await asyncio.sleep(0)  # the agent waits on its empty mailbox
            waiting = [
                asyncio.create_task(rt.cast("a", "t.note", {"item": f"S{i}"})) for i in range(3)
            ]
            rt.cast_nowait("a", "t.to_sink")  # full now: the three casts wait for room
            await asyncio.wait_for(asyncio.gather(*waiting), timeout=5.0)
            await rt.wait_idle(timeout=5.0)
            assert refused == ["intruder"]
            assert rt.state("a").seen == ("S0", "S1", "S2")

    run(main)


def test_a_woken_sender_whose_room_was_taken_keeps_its_place() -> None:
    """Senders A, B, C wait in that order for room in a mailbox of 1. The room a ``get``
    frees is A's, but an internal put (another agent's signal, an effect outcome) fills it
    before A runs: A waits again at the front of the line, not behind B and C, so the
    three still get in in the order they came."""

    def item(name: str) -> Item:
        return (Signal(type="t.note", source="/t", id=name), None, None)

    async def main() -> list[str]:
        mb = Mailbox(1)
        mb.put_internal(item("first"))

        async def send(name: str) -> None:
            await mb.wait_room()
            mb.put_internal(item(name))

        senders = [asyncio.create_task(send(name)) for name in "ABC"]
        await asyncio.sleep(0)  # all three wait for room, in that order
        assert (await mb.get())[0].id == "first"  # frees the room, reserved for A
        mb.put_internal(item("internal"))  # takes it before A runs
        await asyncio.sleep(0)  # A runs, finds no room and waits again
        assert not any(s.done() for s in senders)
        got = [(await mb.get())[0].id for _ in range(4)]
        await asyncio.gather(*senders)
        return got

    assert run(main) == ["internal", "A", "B", "C"]


def test_senders_waiting_for_room_hear_of_a_shutdown_at_once() -> None:
    """A shutdown refuses every cast still waiting for room when it begins, at once, not
    as the drain happens to make room (an effect still running keeps the drain going)."""
    release = asyncio.Event()

    async def effect(args: FrozenMap[str, JsonValue]) -> None:
        await release.wait()

    async def main() -> None:
        rt = AsyncRuntime([SPEC], effects={"slow": effect}, options=ONE)
        await rt.start(SPEC, "a")
        await rt.call("a", "t.slow", timeout=5.0)  # its effect runs until released
        rt.cast_nowait("a", "t.note", {"item": "fill"})
        waiting = [asyncio.create_task(rt.cast("a", "t.note", {"item": f"S{i}"})) for i in range(3)]
        shutdown = asyncio.create_task(rt.shutdown(deadline=30.0))
        outcomes = await asyncio.wait_for(
            asyncio.gather(*waiting, return_exceptions=True), timeout=5.0
        )
        assert [type(o) for o in outcomes[1:]] == [RuntimeClosed, RuntimeClosed]
        release.set()
        await shutdown

    run(main)


def test_a_sensor_faster_than_its_agent_waits_for_room() -> None:
    """A sensor that never suspends between items waits for room as ``cast`` does: the
    mailbox never holds more than its bound, and every item is handled, in order."""
    depths: list[int] = []
    holder: dict[str, AsyncRuntime] = {}

    async def feed(config: FrozenMap[str, JsonValue]) -> AsyncIterator[tuple[str, object]]:
        for i in range(300):
            depths.append(holder["rt"].statistics().mailbox_depths.get("a", 0))
            yield "t.note", {"item": str(i)}

    async def main() -> None:
        options = {"log": AgentOptions(mailbox_size=4)}
        async with AsyncRuntime([SPEC], sensors={"feed": feed}, options=options) as rt:
            holder["rt"] = rt
            await rt.start(SPEC, "a")
            await rt.cast("a", "t.watch")
            done = await rt.wait_until("a", lambda a: len(a.state.seen) >= 301, timeout=10.0)
            items = [s for s in done.state.seen if not s.startswith("exit:")]
            assert items == [str(i) for i in range(300)]
            assert max(depths) <= 4

    run(main)


def test_a_sensor_that_ends_with_a_cancelled_error_of_its_own_reports_its_exit() -> None:
    """A sensor whose own await raises CancelledError (a future it waited for was cancelled)
    has ended, as with any error: its agent gets the exit signal saying so, and the
    runtime holds no sensor for it any more (a shutdown cancels no timer for it)."""

    async def feed(config: FrozenMap[str, JsonValue]) -> AsyncIterator[tuple[str, object]]:
        waited: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waited.cancel()
        await waited
        yield "t.note", {"item": "never"}

    async def main() -> None:
        rt = AsyncRuntime([SPEC], sensors={"feed": feed})
        await rt.start(SPEC, "a")
        await rt.cast("a", "t.watch")
        done = await rt.wait_until("a", lambda a: len(a.state.seen) == 1, timeout=5.0)
        assert done.state.seen[0].startswith("exit:CancelledError")
        report = await rt.shutdown()
        assert report.cancelled_timers == 0

    run(main)


def test_a_sensor_that_raises_is_logged_with_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A sensor that raises is logged on ``jido.runtime`` at WARNING, with the traceback and
    the agent, tag and sensor in the record's ``jido`` attribute; its agent gets what it
    yielded first, then the exit signal."""

    async def feed(config: FrozenMap[str, JsonValue]) -> AsyncIterator[tuple[str, object]]:
        yield "t.note", {"item": "first"}
        raise KeyError("missing")

    async def main() -> None:
        async with AsyncRuntime([SPEC], sensors={"feed": feed}) as rt:
            await rt.start(SPEC, "a")
            await rt.cast("a", "t.watch")
            done = await rt.wait_until("a", lambda a: len(a.state.seen) == 2, timeout=5.0)
            assert done.state.seen == ("first", "exit:KeyError: 'missing'")

    with caplog.at_level("WARNING", logger="jido.runtime"):
        run(main)
    (record,) = [r for r in caplog.records if "sensor" in r.getMessage()]
    assert record.levelname == "WARNING"
    assert record.name == "jido.runtime"
    assert "KeyError: 'missing'" in record.getMessage()
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], KeyError)
    assert record.jido == {"agent": "a", "tag": "in", "sensor": "feed"}  # type: ignore[attr-defined]


def test_a_second_shutdown_cuts_the_first_and_both_get_its_report() -> None:
    """A shutdown called while one drains (a second Ctrl-C) cuts the drain to its own
    deadline, and both callers get the one report: what was left, not an empty one."""

    async def main() -> None:
        rt = AsyncRuntime([SPEC])
        await rt.start(SPEC, "busy")
        await rt.cast("busy", "t.again")  # always has work: the drain never ends by itself
        first = asyncio.create_task(rt.shutdown(deadline=30.0))
        await asyncio.sleep(0)  # the first shutdown is draining
        second = await asyncio.wait_for(rt.shutdown(deadline=0.0), timeout=5.0)
        assert await asyncio.wait_for(first, timeout=5.0) == second
        assert not second.drained
        assert [s.type for s in second.left["busy"]] == ["t.again"]

    run(main)


def test_signals_still_being_journalled_at_shutdown_are_left_not_dead(tmp_path: Path) -> None:
    """Signals a shutdown finds on their way into storage are reported as left (a restore
    handles them), not as dead letters."""
    path = tmp_path / "left.db"
    sent = 50

    async def main() -> None:
        options = {"log": AgentOptions(mailbox_size=1000)}
        rt = AsyncRuntime([SPEC], storage=SQLiteStorage(path), options=options)
        await rt.start(SPEC, "a")
        for i in range(sent):
            rt.cast_nowait("a", "t.note", {"item": str(i)})
        report = await rt.shutdown(deadline=0.0)
        assert list(rt.dead_letters) == []
        left = [
            str(s.data["item"]) for s in report.left.get("a", ()) if isinstance(s.data, FrozenMap)
        ]
        assert left
        again = AsyncRuntime([SPEC], storage=SQLiteStorage(path))
        await again.restore()
        await again.wait_idle(timeout=5.0)
        assert again.state("a").seen == tuple(str(i) for i in range(sent))
        assert tuple(left) == again.state("a").seen[-len(left) :]
        await again.shutdown()

    run(main)


def test_a_cancelled_shutdown_can_be_carried_out_by_the_next(tmp_path: Path) -> None:
    """A shutdown cancelled halfway (Ctrl-C reaching the task awaiting it) leaves a runtime
    the next ``shutdown`` still tears down: agents stopped, storage released (another
    runtime can restore from it), and reports what both cancelled (the timer the first
    cancelled included). A shutdown called after one finished reports nothing."""
    path = tmp_path / "cancelled.db"

    async def main() -> None:
        rt = AsyncRuntime([SPEC], storage=SQLiteStorage(path))
        await rt.start(SPEC, "busy")
        await rt.call("busy", "t.later")  # a timer armed
        await rt.cast("busy", "t.again")  # always has work: the drain never ends by itself
        first = asyncio.create_task(rt.shutdown(deadline=30.0))
        await asyncio.sleep(0)  # the first shutdown is draining
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        report = await asyncio.wait_for(rt.shutdown(deadline=0.0), timeout=5.0)
        assert not report.drained
        assert report.cancelled_timers == 1
        assert rt.agent_ids == ()
        again = await rt.shutdown()
        assert (again.drained, dict(again.left)) == (True, {})
        other = AsyncRuntime([SPEC], storage=SQLiteStorage(path))
        assert await other.restore() == ("busy",)
        await other.shutdown(deadline=0.0)

    run(main)


def test_dead_letters_keep_the_latest_and_count_them_all(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Past its bound, ``dead_letters`` keeps the latest signals, ``statistics()`` counts
    every one, and the first one dropped is logged."""
    from jido_interpreters._async import DEAD_LETTERS_KEPT

    async def main() -> None:
        rt = AsyncRuntime([SPEC])
        for i in range(DEAD_LETTERS_KEPT + 2):
            rt._dead("gone", rt.signal("t.note", {"item": str(i)}))
        assert len(rt.dead_letters) == DEAD_LETTERS_KEPT
        assert rt.statistics().dead_letters == DEAD_LETTERS_KEPT + 2
        assert rt.dead_letters[-1][1].data == {"item": str(DEAD_LETTERS_KEPT + 1)}
        await rt.shutdown()

    with caplog.at_level("WARNING", logger="jido.runtime"):
        run(main)
    assert sum("dead letters" in r.getMessage() for r in caplog.records) == 1


def test_dead_letters_emptied_by_their_reader_drop_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A reader that empties ``dead_letters`` as it goes loses none of them, and is not
    told that any were dropped."""
    from jido_interpreters._async import DEAD_LETTERS_KEPT

    async def main() -> None:
        rt = AsyncRuntime([SPEC])
        for i in range(DEAD_LETTERS_KEPT + 2):
            if len(rt.dead_letters) == DEAD_LETTERS_KEPT:
                rt.dead_letters.clear()
            rt._dead("gone", rt.signal("t.note", {"item": str(i)}))
        assert len(rt.dead_letters) == 2
        await rt.shutdown()

    with caplog.at_level("WARNING", logger="jido.runtime"):
        run(main)
    assert not [r for r in caplog.records if "dead letters" in r.getMessage()]


def test_a_shutdown_from_an_effect_joins_the_one_under_way_without_cancelling_it() -> None:
    """An effect that shuts the runtime down while a shutdown drains: the drain does not
    wait for that effect, nor cancel it; both callers get the one report."""
    go = asyncio.Event()
    got: list[ShutdownReport] = []
    holder: dict[str, AsyncRuntime] = {}

    async def stopper(args: FrozenMap[str, JsonValue]) -> None:
        await go.wait()
        got.append(await holder["rt"].shutdown(deadline=1.0))

    async def main() -> None:
        rt = holder["rt"] = AsyncRuntime([SPEC], effects={"slow": stopper})
        await rt.start(SPEC, "a")
        await rt.call("a", "t.slow", timeout=5.0)  # the effect waits for go
        first = asyncio.create_task(rt.shutdown(deadline=30.0))
        await asyncio.sleep(0)  # the first shutdown is draining
        go.set()
        report = await asyncio.wait_for(first, timeout=5.0)
        assert (report.drained, report.cancelled_effects) == (True, 0)
        assert got == [report]

    run(main)


class _HeldWrites:
    """SQLite whose appends wait for ``free`` (a slow disk), for a shutdown to be caught
    while it writes what it was handed."""

    def __init__(self, path: Path) -> None:
        self.inner = SQLiteStorage(path)
        self.free = threading.Event()

    def append(self, entries: Any) -> Any:
        self.free.wait(timeout=10)
        return self.inner.append(entries)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_shutdown_cancelled_while_it_writes_is_finished_by_the_next(tmp_path: Path) -> None:
    """Cancelled while it writes what was handed to storage (its agents already stopped),
    a shutdown leaves the teardown to the next call: that one waits for the writes,
    releases the store (another runtime restores from it) and reports what was left."""
    path = tmp_path / "held.db"

    async def main() -> None:
        store = _HeldWrites(path)
        rt = AsyncRuntime([SPEC], storage=store, options={"log": AgentOptions(mailbox_size=100)})
        await rt.start(SPEC, "a")
        for i in range(5):
            rt.cast_nowait("a", "t.note", {"item": str(i)})
        first = asyncio.create_task(rt.shutdown(deadline=0.0))
        while rt.agent_ids:  # the drain was cut: its agents are stopped, it writes now
            await asyncio.sleep(0)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        store.free.set()
        report = await asyncio.wait_for(rt.shutdown(), timeout=10.0)
        assert [s.data for s in report.left["a"]] == [{"item": str(i)} for i in range(5)]
        store.inner.close()
        other = AsyncRuntime([SPEC], storage=SQLiteStorage(path))
        assert await other.restore() == ("a",)
        await other.wait_idle(timeout=5.0)
        assert other.state("a").seen == tuple(str(i) for i in range(5))
        await other.shutdown()

    run(main)


def test_signals_journalled_for_a_hibernated_agent_at_shutdown_are_left(tmp_path: Path) -> None:
    """Signals on their way into storage for a hibernated agent when a shutdown begins are
    reported as left (its restore handles them), not as dead letters."""
    path = tmp_path / "hibernated.db"

    async def main() -> None:
        rt = AsyncRuntime([SPEC], storage=SQLiteStorage(path))
        await rt.start(SPEC, "a")
        await rt.hibernate("a")
        for i in range(3):
            rt.cast_nowait("a", "t.note", {"item": str(i)})
        report = await rt.shutdown(deadline=0.0)
        assert list(rt.dead_letters) == []
        assert [s.data for s in report.left["a"]] == [{"item": str(i)} for i in range(3)]
        again = AsyncRuntime([SPEC], storage=SQLiteStorage(path))
        await again.restore()
        await again.wait_idle(timeout=5.0)
        assert again.state("a").seen == ("0", "1", "2")
        await again.shutdown()

    run(main)


def test_problems_are_a_tuple_as_on_sync_runtime() -> None:
    """They were a deque: ``rt.problems[-2:]`` raised TypeError, and a reader could empty it."""

    async def main() -> None:
        async with AsyncRuntime([SPEC]) as rt:
            await rt.start(SPEC, "a")
            for _ in range(3):
                await rt.call("a", "t.to_sink")  # no sink named "s": a directive problem
            problems = rt.problems
            assert isinstance(problems, tuple)
            assert [p.kind for p in problems[-2:]] == [ProblemKind.DIRECTIVE] * 2

    run(main)
