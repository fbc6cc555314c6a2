"""AsyncRuntime under awkward conditions: busy agents, cancelled callers, odd effects, odd
states, many short-lived agents, shutdowns at the edges."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import attrs
import pytest
from tests.test_async_core import Item, Log, note, run

from jido import (
    ActionCrashed,
    ActionResult,
    AgentSpec,
    Context,
    FrozenMap,
    JsonValue,
    NoParams,
    Route,
    Signal,
    action,
    emit,
    emit_to_sink,
    invoke,
    ok,
    schedule,
    stop,
)
from jido_interpreters import (
    AgentOptions,
    AsyncRuntime,
    CallTimeout,
    MailboxFull,
    ShutdownReport,
    SQLiteStorage,
    UnknownAgent,
)


@attrs.frozen
class Outcome:
    """An effect's outcome, as the runtime delivers it."""

    result: JsonValue = None
    error: FrozenMap[str, JsonValue] | None = None


@action()
def again(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    """Go round again: an agent that always has work."""
    return ok(state, emit("t.again"))


@action(params=Item)
def later(state: Log, p: Item, ctx: Context) -> ActionResult[Log]:
    """Note the item in a minute."""
    return ok(state, schedule(60.0, "t.note", {"item": p.item}))


@action(params=Item)
def fetch(state: Log, p: Item, ctx: Context) -> ActionResult[Log]:
    """Invoke the effect named by the item."""
    return ok(state, invoke(p.item, None, on_ok="t.fetched", on_error="t.failed"))


@action(params=Outcome)
def failed(state: Log, p: Outcome, ctx: Context) -> ActionResult[Log]:
    """Record an effect's failure by its error type."""
    kind = p.error.get("type") if p.error is not None else None
    return ok(Log((*state.seen, f"failed:{kind}")))


@action()
def to_sink(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    """Emit to the sink ``s``."""
    return ok(state, emit_to_sink("s", "t.sunk"))


@action()
def halt(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    """Stop the agent."""
    return ok(state, stop("done"))


SPEC = AgentSpec(
    name="log",
    state=Log,
    routes=[
        Route(pattern="t.note", target=note),
        Route(pattern="t.again", target=again),
        Route(pattern="t.later", target=later),
        Route(pattern="t.fetch", target=fetch),
        Route(pattern="t.failed", target=failed),
        Route(pattern="t.to_sink", target=to_sink),
        Route(pattern="t.halt", target=halt),
    ],
)


def test_an_agent_that_always_has_work_lets_the_others_run() -> None:
    """An agent whose mailbox never empties (it emits to itself) still yields to the event
    loop: other agents answer calls, and a shutdown ends within its deadline."""

    async def main() -> None:
        rt = AsyncRuntime([SPEC])
        await rt.start(SPEC, "busy")
        await rt.start(SPEC, "other")
        await rt.cast("busy", "t.again")
        answered = await rt.call("other", "t.note", {"item": "x"}, timeout=5.0)
        assert answered.state.seen == ("x",)
        report = await rt.shutdown(deadline=0.05)
        assert not report.drained
        assert [s.type for s in report.left["busy"]] == ["t.again"]

    run(main)


def test_a_cast_cancelled_after_it_was_given_room_passes_the_room_on() -> None:
    """Two casts wait for room in a full mailbox; the first is woken and cancelled before
    it can use the room: the second gets it instead of waiting for ever."""
    tasks: dict[str, asyncio.Task[Signal]] = {}

    def cancel_first(sig: Signal) -> None:
        # Runs inside the step that freed the room, after the first cast was woken.
        tasks["first"].cancel()

    async def main() -> None:
        options = {"log": AgentOptions(mailbox_size=1)}
        async with AsyncRuntime([SPEC], sinks={"s": cancel_first}, options=options) as rt:
            await rt.start(SPEC, "a")
            await asyncio.sleep(0)  # the agent waits on its empty mailbox
            tasks["first"] = asyncio.create_task(rt.cast("a", "t.note", {"item": "first"}))
            second = asyncio.create_task(rt.cast("a", "t.note", {"item": "second"}))
            rt.cast_nowait("a", "t.to_sink")  # full now: both casts wait for room
            await asyncio.wait_for(second, timeout=5.0)
            await rt.wait_idle(timeout=5.0)
            assert tasks["first"].cancelled()
            assert rt.state("a").seen == ("second",)

    run(main)


@attrs.frozen
class Raw:
    """A state the journal's codec cannot write (bytes in a field typed ``object``: a field
    typed ``bytes`` is refused when the spec is built)."""

    blob: object = None
    n: int = 0


@action()
def take_blob(state: Raw, _: NoParams, ctx: Context) -> ActionResult[Raw]:
    """Hold bytes: fine in memory, not JSON."""
    return ok(Raw(b"\x00", state.n + 1))


RAW = AgentSpec(name="raw", state=Raw, routes=[Route(pattern="t.blob", target=take_blob)])


def test_a_snapshot_that_cannot_be_written_is_logged_and_the_agent_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A snapshot the codec cannot encode costs the snapshot, not the agent: it is logged,
    and the agent keeps handling signals (recovery replays the journal instead)."""

    async def main() -> None:
        storage = SQLiteStorage(tmp_path / "raw.db")
        async with AsyncRuntime([RAW], storage=storage, snapshot_every=1) as rt:
            await rt.start(RAW, "r")
            await rt.call("r", "t.blob", timeout=5.0)
            after = await rt.call("r", "t.blob", timeout=5.0)
            assert after.state.n == 2

    with caplog.at_level(logging.ERROR, logger="jido.runtime"):
        run(main)
    assert any("snapshot failed" in r.getMessage() for r in caplog.records)


def test_an_effect_cancelled_from_inside_reports_an_error() -> None:
    """A handler that raises ``CancelledError`` of its own (something it awaited was
    cancelled, not the effect) gives an ``on_error`` outcome, not silence."""

    async def cancelled_inside(args: object) -> object:
        inner: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        inner.cancel()
        return await inner

    async def main() -> None:
        async with AsyncRuntime([SPEC], effects={"fx": cancelled_inside}) as rt:
            await rt.start(SPEC, "a")
            await rt.cast("a", "t.fetch", {"item": "fx"})
            await rt.wait_idle(timeout=5.0)
            assert rt.state("a").seen == ("failed:CancelledError",)

    run(main)


def test_stopped_agents_are_forgotten() -> None:
    """A runtime that starts and stops agents keeps only the running ones."""

    async def main() -> None:
        async with AsyncRuntime([SPEC]) as rt:
            await rt.start(SPEC, "keeper")
            for i in range(200):
                await rt.start(SPEC, f"w{i}")
                await rt.stop(f"w{i}")
            await asyncio.sleep(0)
            assert rt.agent_ids == ("keeper",)
            assert len(rt._servers) == 1
            # An id that was stopped starts again afresh.
            await rt.start(SPEC, "w0")
            assert rt.state("w0") == Log()

    run(main)


def test_shutdown_reports_timers_armed_while_draining() -> None:
    """A step handled during the drain may arm a timer; the shutdown cancels it and says so."""

    async def main() -> None:
        rt = AsyncRuntime([SPEC])
        await rt.start(SPEC, "a")
        rt.cast_nowait("a", "t.later", {"item": "x"})
        report = await rt.shutdown(deadline=5.0)
        assert report.drained
        assert report.cancelled_timers == 1

    run(main)


def test_leaving_the_block_by_cancellation_does_not_wait_out_the_drain() -> None:
    """``async with`` left because its task was cancelled shuts down at once: a running
    effect is cancelled rather than waited on for the 5 s drain deadline."""
    ended: list[str] = []

    async def forever(args: object) -> object:
        try:
            await asyncio.Event().wait()
        finally:
            ended.append("effect")
        return None

    async def main() -> None:
        started = asyncio.Event()

        async def user() -> None:
            async with AsyncRuntime([SPEC], effects={"fx": forever}) as rt:
                await rt.start(SPEC, "a")
                await rt.cast("a", "t.fetch", {"item": "fx"})
                started.set()
                await asyncio.Event().wait()

        task = asyncio.create_task(user())
        await started.wait()
        await asyncio.sleep(0)  # let the effect begin
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=2.5)  # well under the 5 s drain
        assert task in done
        assert task.cancelled()
        assert ended == ["effect"]

    run(main)


def test_an_idle_runtime_is_idle_at_once() -> None:
    """Waiting with a timeout of 0 for what is already true succeeds: ``wait_idle(0)`` on an
    idle runtime returns, and ``shutdown(deadline=0)`` reports it drained."""

    async def main() -> None:
        rt = AsyncRuntime([SPEC])
        await rt.start(SPEC, "a")
        await rt.call("a", "t.note", {"item": "x"}, timeout=5.0)
        await rt.wait_idle(timeout=0)
        report = await rt.shutdown(deadline=0)
        assert report.drained

    run(main)


def test_wait_idle_with_no_time_left_still_times_out_when_busy() -> None:
    """The other side of the above: a runtime with work queued is not idle within 0 s."""

    async def main() -> None:
        async with AsyncRuntime([SPEC]) as rt:
            await rt.start(SPEC, "a")
            rt.cast_nowait("a", "t.note", {"item": "x"})
            with pytest.raises(TimeoutError, match="not idle within 0 s"):
                await rt.wait_idle(timeout=0)
            with pytest.raises(CallTimeout):
                await rt.call("a", "t.note", {"item": "y"}, timeout=0)

    run(main)


def test_wait_idle_says_what_keeps_the_runtime_busy() -> None:
    """A ``wait_idle`` that times out says which agent is busy, and with what."""

    async def forever(args: object) -> object:
        await asyncio.Event().wait()
        return None

    async def main() -> None:
        async with AsyncRuntime([SPEC], effects={"fx": forever}) as rt:
            await rt.start(SPEC, "a")
            await rt.call("a", "t.fetch", {"item": "fx"}, timeout=5.0)
            with pytest.raises(TimeoutError, match=r"a: 0 queued, 1 effects"):
                await rt.wait_idle(timeout=0.01)
            await rt.shutdown(deadline=0)

    run(main)


def test_a_durable_mailbox_counts_signals_still_being_journalled(tmp_path: Path) -> None:
    """With storage, a signal takes its room in the mailbox from the moment it is accepted,
    not once it is written: ``cast_nowait`` refuses past the bound, and concurrent casts
    wait, as without storage."""

    async def main() -> None:
        storage = SQLiteStorage(tmp_path / "bound.db")
        options = {"log": AgentOptions(mailbox_size=3)}
        async with AsyncRuntime([SPEC], storage=storage, options=options) as rt:
            await rt.start(SPEC, "a")
            for i in range(3):
                rt.cast_nowait("a", "t.note", {"item": str(i)})
            with pytest.raises(MailboxFull):
                rt.cast_nowait("a", "t.note", {"item": "refused"})
            srv = rt._servers["a"]
            peak = 0

            async def one(i: int) -> None:
                nonlocal peak
                await rt.cast("a", "t.note", {"item": f"c{i}"})
                peak = max(peak, len(srv.mailbox.items) + srv.mailbox.incoming)

            await asyncio.gather(*(one(i) for i in range(50)))
            await rt.wait_idle(timeout=10.0)
            assert peak <= 3
            seen = rt.state("a").seen
            assert seen[:3] == ("0", "1", "2")
            assert sorted(seen[3:]) == sorted(f"c{i}" for i in range(50))

    run(main)


def test_a_sender_given_room_by_a_step_that_stops_the_agent_is_told() -> None:
    """``cast`` and ``call`` waiting for room in a full mailbox are woken by the step that
    takes the queued signal; when that step stops the agent, they raise ``UnknownAgent``
    rather than queue into the stopped agent's mailbox (where their signal would be
    neither handled nor a dead letter, and the runtime never idle again)."""

    async def main() -> None:
        rt = AsyncRuntime([SPEC], options={"log": AgentOptions(mailbox_size=1)})
        for agent_id, send in (
            ("a", lambda: rt.cast("a", "t.note", {"item": "x"})),
            ("b", lambda: rt.call("b", "t.note", {"item": "x"}, timeout=5.0)),
        ):
            await rt.start(SPEC, agent_id)
            rt.cast_nowait(agent_id, "t.halt")
            with pytest.raises(UnknownAgent):
                await send()
        await rt.wait_idle(timeout=5.0)
        report = await rt.shutdown(deadline=0)
        assert report.drained

    run(main)


def test_shutdown_leaves_the_runtime_idle() -> None:
    """A ``wait_idle`` begun before a shutdown that cancels a running effect returns when
    the shutdown is done, and so does one begun after it."""

    async def forever(args: object) -> object:
        await asyncio.Event().wait()
        return None

    async def main() -> None:
        rt = AsyncRuntime([SPEC], effects={"fx": forever})
        await rt.start(SPEC, "a")
        await rt.cast("a", "t.fetch", {"item": "fx"})
        waiting = asyncio.create_task(rt.wait_idle())
        report = await rt.shutdown(deadline=0)
        assert report.cancelled_effects == 1
        await asyncio.wait_for(waiting, timeout=5.0)
        await rt.wait_idle(timeout=0)

    run(main)


@action(params=Item)
def fetch_and_halt(state: Log, p: Item, ctx: Context) -> ActionResult[Log]:
    """Invoke the effect named by the item, and stop."""
    return ok(state, invoke(p.item, None, on_ok="t.fetched", on_error="t.failed"), stop("done"))


QUITTER = AgentSpec(
    name="quitter",
    state=Log,
    routes=[
        Route(pattern="t.last", target=fetch_and_halt),
        Route(pattern="t.fetched", target=note),
    ],
)


def test_a_stopped_agents_last_outcome_is_not_news_for_its_successor() -> None:
    """The effect a stopping step invoked finishes after another agent was started under
    the id: its outcome is a dead letter, not a signal for the new agent."""
    release = asyncio.Event()

    async def slow(args: object) -> object:
        await release.wait()
        return "late"

    async def main() -> None:
        async with AsyncRuntime([QUITTER], effects={"slow": slow}) as rt:
            await rt.start(QUITTER, "q")
            await rt.call("q", "t.last", {"item": "slow"}, timeout=5.0)
            await asyncio.sleep(0)  # the stop is carried out, the effect begins
            assert rt.agent_ids == ()
            await rt.start(QUITTER, "q")
            release.set()
            await rt.wait_idle(timeout=5.0)
            assert rt.state("q") == Log()
            assert [(a, s.type) for a, s in rt.dead_letters] == [("q", "t.fetched")]

    run(main)


def test_the_effect_of_a_stopping_step_is_in_flight_until_it_ends() -> None:
    """ "Notify, then stop": the effect the stopping step invoked runs on after its agent is
    gone, and ``statistics().in_flight_effects`` counts it (once) until it ends."""
    release = asyncio.Event()
    began = asyncio.Event()

    async def slow(args: object) -> object:
        began.set()
        await release.wait()
        return "late"

    async def main() -> None:
        async with AsyncRuntime([QUITTER], effects={"slow": slow}) as rt:
            await rt.start(QUITTER, "q")
            await rt.call("q", "t.last", {"item": "slow"}, timeout=5.0)
            assert rt.statistics().in_flight_effects == 1  # its stopped agent still listed
            await began.wait()
            assert "q" not in rt._servers  # the stopped agent is forgotten by now
            assert rt.statistics().in_flight_effects == 1
            release.set()
            await rt.wait_idle(timeout=5.0)
            assert rt.statistics().in_flight_effects == 0

    run(main)


def test_an_effect_can_shut_its_runtime_down(tmp_path: Path) -> None:
    """An effect that shuts the runtime down (an agent's command to stop the service) gets
    its report: the drain does not wait for the effect itself, nor is the effect cancelled
    halfway through the shutdown, and the store is released for the next runtime."""
    reports: list[ShutdownReport] = []
    runtimes: list[AsyncRuntime] = []

    async def shut_down(args: object) -> object:
        reports.append(await runtimes[0].shutdown(deadline=60.0))
        return None

    async def main() -> None:
        path = tmp_path / "own.db"
        rt = AsyncRuntime([SPEC], effects={"halt": shut_down}, storage=SQLiteStorage(path))
        runtimes.append(rt)
        await rt.start(SPEC, "a")
        await rt.cast("a", "t.fetch", {"item": "halt"})
        await asyncio.wait_for(rt.wait_idle(), timeout=5.0)

        async def reported() -> None:
            while not reports:  # the effect returns its report once the teardown is done
                await asyncio.sleep(0)

        await asyncio.wait_for(reported(), timeout=5.0)
        (report,) = reports
        assert report.drained
        assert report.cancelled_effects == 0
        async with AsyncRuntime([SPEC], storage=SQLiteStorage(path)) as again:
            assert await again.restore() == ("a",)

    run(main)


def test_a_call_times_out_while_it_waits_for_room() -> None:
    """``call``'s timeout covers waiting for room in a full mailbox: an agent whose mailbox
    never empties (it keeps emitting to itself) makes the call raise CallTimeout instead of
    waiting for ever."""

    async def main() -> None:
        options = {"log": AgentOptions(mailbox_size=1)}
        async with AsyncRuntime([SPEC], options=options) as rt:
            await rt.start(SPEC, "busy")
            rt.cast_nowait("busy", "t.again")
            with pytest.raises(CallTimeout):
                # The outer bound only turns a hang into a failure; the call's own is 0.1 s.
                await asyncio.wait_for(rt.call("busy", "t.note", {"item": "x"}, timeout=0.1), 30)
            await rt.stop("busy")

    run(main)


def test_thaw_without_storage_says_what_it_needs() -> None:
    """``thaw`` on a runtime without storage names itself in its error, not ``restore``."""

    async def main() -> None:
        async with AsyncRuntime([SPEC]) as rt:
            with pytest.raises(ValueError, match="thaw needs a runtime with storage"):
                await rt.thaw("a")

    run(main)


def test_a_sink_function_that_raises_is_a_crash_that_says_it_was_no_action(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The crash names the directive where an action's would be ("action 'Emit' ... raised");
    its note says what raised."""

    def broken(sig: Signal) -> None:
        raise RuntimeError("sink down")

    async def main() -> None:
        async with AsyncRuntime([SPEC], sinks={"s": broken}) as rt:
            await rt.start(SPEC, "a")
            await rt.cast("a", "t.to_sink")
            await rt.wait_idle(timeout=5.0)
            assert rt.statistics().crashes == 1

    with caplog.at_level("ERROR", logger="jido.runtime"):
        run(main)
    (record,) = [r for r in caplog.records if r.exc_info is not None]
    assert record.exc_info is not None
    crash = record.exc_info[1]
    assert isinstance(crash, ActionCrashed)
    assert isinstance(crash.__cause__, RuntimeError)
    assert crash.__notes__ == ["the sink function an Emit directive targets raised, not an action"]
