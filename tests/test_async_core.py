"""AsyncRuntime: mailboxes, calls, concurrent effects, hierarchy, supervision, shutdown."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import attrs
import pytest

from jido import (
    CHILD_EXIT,
    CHILD_STARTED,
    ORPHANED,
    Action,
    ActionCrashed,
    ActionResult,
    AgentSpec,
    Context,
    FrozenMap,
    JsonValue,
    NoParams,
    Route,
    action,
    emit_to,
    invoke,
    ok,
    spawn_agent,
    stop,
)
from jido_interpreters import (
    AgentOptions,
    AsyncRuntime,
    CallRefused,
    CallTimeout,
    Continue,
    Escalate,
    MailboxFull,
    Restart,
    RuntimeClosed,
    StopAgent,
    SyncRuntime,
    UnknownAgent,
)

T = TypeVar("T")


def run(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run one test's coroutine on a fresh loop."""
    return asyncio.run(main())


@attrs.frozen
class Log:
    """What an agent has seen, in order."""

    seen: tuple[str, ...] = ()
    n: int = 0


@attrs.frozen
class Item:
    """A parameter naming an item."""

    item: str = ""


def _note(state: Log, what: str) -> Log:
    return Log(seen=(*state.seen, what), n=state.n + 1)


@action(params=Item)
def note(state: Log, p: Item, ctx: Context) -> ActionResult[Log]:
    """Record the item."""
    return ok(_note(state, p.item))


@action(params=Item)
def boom(state: Log, p: Item, ctx: Context) -> ActionResult[Log]:
    """A bug: raises."""
    raise RuntimeError(f"bug on {p.item}")


@action()
def fetch_two(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    """Invoke a slow effect, then a fast one."""
    return ok(
        state,
        invoke("slow", {"item": "slow"}, on_ok="t.fetched", on_error="t.failed"),
        invoke("fast", {"item": "fast"}, on_ok="t.fetched", on_error="t.failed"),
    )


@attrs.frozen
class Fetched:
    """An effect outcome."""

    result: JsonValue = None


@action(params=Fetched)
def fetched(state: Log, p: Fetched, ctx: Context) -> ActionResult[Log]:
    """Record an effect's result."""
    return ok(_note(state, str(p.result)))


@action()
def halt(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    """Stop, with a note that must never be recorded after it."""
    return ok(_note(state, "halt"), stop("done"), emit_to("nobody", "t.never"))


@action(params=Item)
def spawn(state: Log, p: Item, ctx: Context) -> ActionResult[Log]:
    """Spawn a child tagged with the item."""
    return ok(state, spawn_agent("worker", p.item))


@attrs.frozen
class Lifecycle:
    """Data of lifecycle signals."""

    tag: str = ""
    reason: str = ""


@action(params=Lifecycle)
def lifecycle(state: Log, p: Lifecycle, ctx: Context) -> ActionResult[Log]:
    """Record a lifecycle signal with its tag and reason."""
    sig = ctx.signal
    assert sig is not None
    return ok(_note(state, f"{sig.type}:{p.tag}:{p.reason}"))


ROUTES: list[Route[Action[Log, Any]]] = [
    Route(pattern="t.note", target=note),
    Route(pattern="t.boom", target=boom),
    Route(pattern="t.fetch", target=fetch_two),
    Route(pattern="t.fetched", target=fetched),
    Route(pattern="t.halt", target=halt),
    Route(pattern="t.spawn", target=spawn),
    Route(pattern="jido.agent.**", target=lifecycle),
]
SPEC = AgentSpec(name="log", state=Log, routes=ROUTES)
WORKER = AgentSpec(name="worker", state=Log, routes=ROUTES)


def test_cast_call_and_state() -> None:
    """cast queues, call returns the agent right after its own step, state reads it."""

    async def main() -> None:
        async with AsyncRuntime([SPEC]) as rt:
            await rt.start(SPEC, "a")
            await rt.cast("a", "t.note", {"item": "x"})
            agent = await rt.call("a", "t.note", {"item": "y"})
            assert agent.state.seen == ("x", "y")
            assert rt.state("a") == agent.state
            assert agent.version == 2

    run(main)


def test_the_recorded_trace_is_a_tuple_taken_when_read() -> None:
    """``trace`` is a tuple, as SyncRuntime's: a reader holds what was recorded when it
    read it, and cannot change what the runtime goes on recording."""

    async def main() -> None:
        async with AsyncRuntime([SPEC], record=True) as rt:
            await rt.start(SPEC, "a")
            await rt.call("a", "t.note", {"item": "x"})
            first = rt.trace
            await rt.call("a", "t.note", {"item": "y"})
            assert isinstance(first, tuple)
            assert [e.signal.data for e in first] == [{"item": "x"}]
            assert [(e.index, e.signal.data) for e in rt.trace] == [
                (0, {"item": "x"}),
                (1, {"item": "y"}),
            ]

    run(main)


def test_cast_nowait_raises_when_the_mailbox_is_full_and_loses_nothing() -> None:
    """With room for 3, the 4th cast_nowait raises MailboxFull; the 3 accepted are handled."""

    async def main() -> None:
        options = {"log": AgentOptions(mailbox_size=3)}
        async with AsyncRuntime([SPEC], options=options) as rt:
            await rt.start(SPEC, "a")
            for i in range(3):
                rt.cast_nowait("a", "t.note", {"item": str(i)})
            with pytest.raises(MailboxFull) as info:
                rt.cast_nowait("a", "t.note", {"item": "3"})
            assert info.value.agent_id == "a"
            await rt.wait_idle(timeout=2)
            assert rt.state("a").seen == ("0", "1", "2")

    run(main)


def test_cast_waits_for_room() -> None:
    """A cast to a full mailbox waits, and goes through once the agent makes room."""

    async def main() -> None:
        async with AsyncRuntime([SPEC], options={"log": AgentOptions(mailbox_size=1)}) as rt:
            await rt.start(SPEC, "a")
            rt.cast_nowait("a", "t.note", {"item": "first"})
            await rt.cast("a", "t.note", {"item": "second"})  # waits for the first
            await rt.wait_idle(timeout=2)
            assert rt.state("a").seen == ("first", "second")

    run(main)


def test_a_slow_effect_does_not_block_call_and_outcomes_keep_directive_order() -> None:
    """While the first effect waits, a call to the same agent answers; when both finish,
    their outcomes arrive in Invoke order though the second finished first."""

    async def main() -> None:
        release = asyncio.Event()

        async def slow(args: FrozenMap[str, JsonValue]) -> str:
            await release.wait()
            return "slow"

        async def fast(args: FrozenMap[str, JsonValue]) -> str:
            return "fast"

        async with AsyncRuntime([SPEC], effects={"slow": slow, "fast": fast}) as rt:
            await rt.start(SPEC, "a")
            await rt.cast("a", "t.fetch")
            agent = await rt.call("a", "t.note", {"item": "meanwhile"}, timeout=2)
            assert agent.state.seen == ("meanwhile",)
            release.set()
            await rt.wait_idle(timeout=2)
            assert rt.state("a").seen == ("meanwhile", "slow", "fast")

    run(main)


def test_call_timeout_keeps_the_signal() -> None:
    """A call that times out raises CallTimeout; its signal is still handled afterwards."""

    async def main() -> None:
        async with AsyncRuntime([SPEC]) as rt:
            await rt.start(SPEC, "a")
            for i in range(200):
                rt.cast_nowait("a", "t.note", {"item": str(i)})
            with pytest.raises(CallTimeout, match="still queued") as caught:
                await rt.call("a", "t.note", {"item": "late"}, timeout=0)
            assert caught.value.queued
            await rt.wait_idle(timeout=5)
            assert rt.state("a").seen[-1] == "late"

    run(main)


def test_call_timeout_while_waiting_for_room_says_the_signal_was_not_sent() -> None:
    """A call whose time runs out while the mailbox is full never sent its signal: the
    error says so (``queued`` false), and the signal is indeed never handled."""

    async def main() -> None:
        async with AsyncRuntime([SPEC], options={"log": AgentOptions(mailbox_size=1)}) as rt:
            await rt.start(SPEC, "a")
            rt.cast_nowait("a", "t.note", {"item": "filler"})  # the mailbox is full
            with pytest.raises(CallTimeout, match="it was not sent") as caught:
                await rt.call("a", "t.note", {"item": "late"}, timeout=0)
            assert not caught.value.queued
            await rt.wait_idle(timeout=5)
            assert rt.state("a").seen == ("filler",)

    run(main)


@pytest.mark.parametrize(
    ("signal_type", "data", "kind"),
    [("t.nope", None, "routing"), ("t.note", {"item": 5}, "params")],
)
def test_a_checked_call_raises_what_its_step_refused(
    signal_type: str, data: object, kind: str
) -> None:
    """``call(check=True)`` raises CallRefused with the step's problems (and the agent
    after it) where a plain call returns the agent as if all were well; SyncRuntime's call
    does the same. A step without problems returns the agent either way."""

    async def main() -> None:
        async with AsyncRuntime([SPEC]) as rt:
            await rt.start(SPEC, "a")
            with pytest.raises(CallRefused) as info:
                await rt.call("a", signal_type, data, check=True)
            refused = info.value
            assert [p.kind for p in refused.problems] == [kind]
            assert (refused.agent_id, refused.signal_type) == ("a", signal_type)
            assert refused.agent == rt.agent("a")
            assert kind in str(refused)
            unchecked = await rt.call("a", signal_type, data)
            assert unchecked.state == Log()
            agent = await rt.call("a", "t.note", {"item": "x"}, check=True)
            assert agent.state.seen == ("x",)
            assert not rt._checked  # nothing left behind
            with pytest.raises(ValueError, match="timeout"):
                await rt.call("a", "t.note", {"item": "y"}, timeout=10**400, check=True)
            assert not rt._checked

    run(main)
    sync = SyncRuntime([SPEC])
    sync.start(SPEC, "a")
    with pytest.raises(CallRefused) as info:
        sync.call("a", signal_type, data, check=True)
    assert [p.kind for p in info.value.problems] == [kind]
    assert sync.call("a", signal_type, data).state == Log()
    assert sync.call("a", "t.note", {"item": "x"}, check=True).state.seen == ("x",)


def test_runtimes_are_independent() -> None:
    """Two runtimes hold agents with the same id without seeing each other."""

    async def main() -> None:
        async with AsyncRuntime([SPEC]) as one, AsyncRuntime([SPEC]) as two:
            await one.start(SPEC, "a")
            await two.start(SPEC, "a")
            await one.call("a", "t.note", {"item": "one"})
            assert two.state("a").seen == ()
            assert one.statistics().steps == 1
            assert two.statistics().steps == 0

    run(main)


def test_statistics_is_a_frozen_snapshot() -> None:
    """statistics() counts agents, steps and errors, with latency percentiles."""

    async def main() -> None:
        async with AsyncRuntime([SPEC]) as rt:
            await rt.start(SPEC, "a")
            await rt.call("a", "t.note", {"item": "x"})
            await rt.call("a", "t.unrouted")
            stats = rt.statistics()
            assert (stats.agents, stats.steps, stats.errors) == (1, 2, 1)
            assert stats.mailbox_depths == {"a": 0}
            assert 0 < stats.step_latency_p50_us <= stats.step_latency_p99_us
            with pytest.raises(attrs.exceptions.FrozenInstanceError):
                stats.steps = 0  # type: ignore[misc]

    run(main)


def test_step_latency_counts_the_steps_that_steps_counts() -> None:
    """A step that crashed is a crash, not a step: it is not in the latency percentiles
    either, which stay ``nan`` until a step commits and then hold only committed ones."""

    async def main() -> None:
        async with AsyncRuntime([SPEC]) as rt:
            await rt.start(SPEC, "a")
            for n in range(3):
                with pytest.raises(ActionCrashed):
                    await rt.call("a", "t.boom", {"item": str(n)})
            stats = rt.statistics()
            assert (stats.steps, stats.crashes) == (0, 3)
            assert math.isnan(stats.step_latency_p50_us)
            assert math.isnan(stats.step_latency_p99_us)
            await rt.call("a", "t.note", {"item": "x"})
            assert len(rt._stats.latencies) == rt.statistics().steps == 1

    run(main)


def test_stop_directive_drops_the_rest_of_the_step_and_queued_signals_become_dead_letters() -> None:
    """After Stop, later directives do not run, and signals queued behind it are reported."""

    async def main() -> None:
        async with AsyncRuntime([SPEC]) as rt:
            await rt.start(SPEC, "a")
            rt.cast_nowait("a", "t.halt")
            rt.cast_nowait("a", "t.note", {"item": "after"})
            await rt.wait_idle(timeout=2)
            assert rt.agent_ids == ()
            assert [s.type for _, s in rt.dead_letters] == ["t.note"]
            assert rt.statistics().problems == 0  # the emit after Stop never ran

    run(main)


@pytest.mark.parametrize("policy", ["orphan", "stop", "continue"])
def test_on_parent_death(policy: str) -> None:
    """When a parent stops, each child follows its on_parent_death policy."""

    async def main() -> None:
        options = {"worker": AgentOptions(on_parent_death=policy)}  # type: ignore[arg-type]
        async with AsyncRuntime([SPEC, WORKER], options=options) as rt:
            await rt.start(SPEC, "p")
            await rt.cast("p", "t.spawn", {"item": "w"})
            await rt.wait_idle(timeout=2)
            assert rt.children("p") == {"w": "p/w"}
            assert rt.state("p").seen == (f"{CHILD_STARTED}:w:",)
            await rt.stop("p")
            await rt.wait_idle(timeout=2)
            if policy == "stop":
                assert rt.agent_ids == ()
            else:
                assert rt.parent("p/w") is None
                expected: tuple[str, ...] = (f"{ORPHANED}:w:normal",) if policy == "orphan" else ()
                assert rt.state("p/w").seen == expected

    run(main)


def _crash_once(policy: Any) -> tuple[tuple[str, ...], list[str], Any]:
    async def main() -> tuple[tuple[str, ...], list[str], Any]:
        options = {"worker": AgentOptions(error_policy=policy)}
        async with AsyncRuntime([SPEC, WORKER], options=options) as rt:
            await rt.start(SPEC, "p")
            await rt.cast("p", "t.spawn", {"item": "w"})
            await rt.wait_idle(timeout=2)
            await rt.cast("p/w", "t.note", {"item": "good"})
            with pytest.raises(ActionCrashed) as info:
                await rt.call("p/w", "t.boom", {"item": "b"})
            assert isinstance(info.value.__cause__, RuntimeError)
            await rt.wait_idle(timeout=2)
            child = rt.state("p/w").seen if "p/w" in rt.agent_ids else ()
            return child, list(rt.state("p").seen), rt.statistics()

    return run(main)


def test_continue_keeps_the_last_good_state() -> None:
    """Under Continue the crashing signal is skipped and the state before it kept."""
    child, parent, stats = _crash_once(Continue())
    assert child == ("good",)
    assert stats.crashes == 1
    assert not any(s.startswith(CHILD_EXIT) for s in parent)


def test_stop_agent_stops_and_tells_the_parent() -> None:
    """Under StopAgent the child stops and the parent gets child.exit with reason crashed."""
    child, parent, _ = _crash_once(StopAgent())
    assert child == ()
    assert f"{CHILD_EXIT}:w:crashed" in parent


def test_escalate_names_the_exception() -> None:
    """Under Escalate the parent's child.exit reason names the exception."""
    _, parent, _ = _crash_once(Escalate())
    (exit_note,) = [s for s in parent if s.startswith(CHILD_EXIT)]
    assert "RuntimeError: bug on b" in exit_note


def test_restart_counts_and_gives_up_past_its_limit() -> None:
    """Restart keeps the agent until it crashes more than max_restarts times in the window."""

    async def main() -> None:
        policy = Restart(max_restarts=2, within=60.0)
        async with AsyncRuntime([SPEC], options={"log": AgentOptions(error_policy=policy)}) as rt:
            await rt.start(SPEC, "a")
            for _ in range(2):
                with pytest.raises(ActionCrashed):
                    await rt.call("a", "t.boom")
            assert rt.agent_ids == ("a",)
            assert rt.statistics().restarts == 2
            with pytest.raises(ActionCrashed):
                await rt.call("a", "t.boom")
            assert "a" not in rt.agent_ids

    run(main)


def test_an_effect_that_raises_or_times_out_comes_back_as_on_error() -> None:
    """A raising handler and one past effect_timeout both produce the on_error signal."""

    @attrs.frozen
    class Failed:
        error: FrozenMap[str, JsonValue]

    @action(params=Failed)
    def failed(state: Log, p: Failed, ctx: Context) -> ActionResult[Log]:
        return ok(_note(state, str(p.error["type"])))

    spec = AgentSpec(
        name="log", state=Log, routes=[*ROUTES, Route(pattern="t.failed", target=failed)]
    )

    async def slow(args: FrozenMap[str, JsonValue]) -> str:
        await asyncio.Event().wait()  # never set: only the timeout ends it
        return "never"

    async def fast(args: FrozenMap[str, JsonValue]) -> str:
        raise ValueError("nope")

    async def main() -> None:
        options = {"log": AgentOptions(effect_timeout=0.05)}
        effects = {"slow": slow, "fast": fast}
        async with AsyncRuntime([spec], effects=effects, options=options) as rt:
            await rt.start(spec, "a")
            await rt.cast("a", "t.fetch")
            await rt.wait_idle(timeout=2)
            assert rt.state("a").seen == ("TimeoutError", "ValueError")

    run(main)


def test_shutdown_reports_what_it_could_not_drain() -> None:
    """A shutdown whose deadline passes lists the signals still queued: handled + left ==
    accepted."""

    async def main() -> None:
        release = asyncio.Event()

        async def slow(args: FrozenMap[str, JsonValue]) -> str:
            await release.wait()
            return "x"

        rt = AsyncRuntime([SPEC], effects={"slow": slow, "fast": slow})
        await rt.start(SPEC, "a")
        await rt.cast("a", "t.fetch")  # two effects that never finish before the deadline
        accepted = 1
        for i in range(50):
            rt.cast_nowait("a", "t.note", {"item": str(i)})
            accepted += 1
        report = await rt.shutdown(deadline=0.05)
        assert not report.drained
        assert report.cancelled_effects == 2
        left = sum(len(v) for v in report.left.values())
        handled = rt.statistics().steps
        assert handled + left == accepted
        with pytest.raises(RuntimeClosed):
            await rt.cast("a", "t.note")

    run(main)


def test_shutdown_with_time_drains_everything() -> None:
    """Given enough time, shutdown handles every accepted signal and reports drained."""

    async def main() -> None:
        rt = AsyncRuntime([SPEC])
        await rt.start(SPEC, "a")
        for i in range(100):
            rt.cast_nowait("a", "t.note", {"item": str(i)})
        report = await rt.shutdown(deadline=5)
        assert report.drained
        assert report.left == {}
        assert rt.statistics().steps == 100

    run(main)


def test_same_final_states_as_sync_runtime() -> None:
    """The same signals through SyncRuntime and AsyncRuntime give equal final agents."""
    signals = [("t.note", {"item": "a"}), ("t.spawn", {"item": "w"}), ("t.unrouted", None)]

    sync = SyncRuntime([SPEC, WORKER])
    sync.start(SPEC, "p")
    for type_, data in signals:
        sync.send("p", type_, data)

    async def main() -> dict[str, Any]:
        async with AsyncRuntime([SPEC, WORKER]) as rt:
            await rt.start(SPEC, "p")
            for type_, data in signals:
                await rt.cast("p", type_, data)
                await rt.wait_idle(timeout=2)
            return {i: rt.state(i) for i in rt.agent_ids}

    assert run(main) == {i: sync.state(i) for i in sync.agent_ids}


def test_unknown_agent() -> None:
    """Casting to an agent that does not run raises UnknownAgent and queues nothing."""

    async def main() -> None:
        async with AsyncRuntime([SPEC]) as rt:
            with pytest.raises(UnknownAgent):
                await rt.cast("ghost", "t.note")
            assert rt.statistics().mailbox_depths == {}

    run(main)


@pytest.mark.parametrize("bad", [-1, -0.5, float("nan"), True, "5", 10**400, None])
@pytest.mark.parametrize("method", ["call", "wait_until", "wait_idle", "shutdown"])
def test_a_bad_timeout_is_refused_before_anything_is_sent(method: str, bad: object) -> None:
    """A timeout (or shutdown deadline) that is no number of seconds >= 0 is a ValueError
    naming it, raised before anything is sent or waited for: a call with a negative timeout
    used to queue its signal and then report it timed out. ``None`` means no limit, except
    for a shutdown's deadline."""

    async def main() -> None:
        async with AsyncRuntime([SPEC]) as rt:
            await rt.start(SPEC, "a")
            attempt: Callable[[], Coroutine[Any, Any, object]] = {
                "call": lambda: rt.call("a", "t.note", {"item": "x"}, timeout=bad),  # type: ignore[arg-type]
                "wait_until": lambda: rt.wait_until("a", lambda a: True, timeout=bad),  # type: ignore[arg-type]
                "wait_idle": lambda: rt.wait_idle(timeout=bad),  # type: ignore[arg-type]
                "shutdown": lambda: rt.shutdown(deadline=bad),  # type: ignore[arg-type]
            }[method]
            if bad is None and method != "shutdown":
                await attempt()
                return
            with pytest.raises(ValueError, match="deadline" if method == "shutdown" else "timeout"):
                await attempt()
            await rt.wait_idle(timeout=5)
            assert rt.state("a").seen == ()  # nothing was sent
            assert rt.agent_ids == ("a",)  # nothing was shut down

    run(main)


@pytest.mark.parametrize(
    ("make", "error", "names"),
    [
        (lambda: AgentOptions(mailbox_size=0), ValueError, "mailbox_size"),
        (lambda: AgentOptions(mailbox_size=True), ValueError, "mailbox_size"),
        (lambda: AgentOptions(effect_timeout=-1), ValueError, "effect_timeout"),
        (lambda: AgentOptions(effect_timeout=float("nan")), ValueError, "effect_timeout"),
        (lambda: AgentOptions(effect_timeout=float("inf")), ValueError, "effect_timeout"),
        (lambda: AgentOptions(on_parent_death="zap"), ValueError, "on_parent_death"),  # type: ignore[arg-type]
        (lambda: AgentOptions(error_policy="restart"), TypeError, "error_policy"),  # type: ignore[arg-type]
        (lambda: Restart(max_restarts=-1), ValueError, "max_restarts"),
        (lambda: Restart(within=0), ValueError, "within"),
        (lambda: AsyncRuntime(snapshot_every=0), ValueError, "snapshot_every"),
        (lambda: AsyncRuntime(snapshot_every=2.5), ValueError, "snapshot_every"),  # type: ignore[arg-type]
        (lambda: AsyncRuntime(options={"log": 3}), TypeError, "'log'"),  # type: ignore[dict-item]
    ],
)
def test_bad_options_are_refused_naming_the_option(
    make: Callable[[], object], error: type[Exception], names: str
) -> None:
    """An option out of range or of the wrong kind fails where it is written, naming it,
    not later inside a running agent."""
    with pytest.raises(error, match=names):
        make()
