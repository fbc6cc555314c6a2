"""User code raising what is no ``Exception``: a ``BaseException`` subclass of its own, or an
``asyncio.CancelledError`` it raises by hand, is a crash like any other (the agent's error
policy, an effect's ``on_error``, a sensor's exit); ``KeyboardInterrupt``, ``SystemExit``
and ``GeneratorExit`` pass as they are. Before, on AsyncRuntime, the first kind ended the
agent's task unseen: the agent looked alive, took signals and handled none."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import attrs
import pytest
from tests.test_async_core import Log, note
from tests.test_async_flow import ended
from tests.test_async_robustness import failed

from jido import (
    SENSOR_EXIT,
    ActionCrashed,
    ActionResult,
    AgentSpec,
    Context,
    CustomDirective,
    FrozenMap,
    JsonValue,
    NoParams,
    Route,
    Signal,
    action,
    invoke,
    ok,
    start_sensor,
    step,
)
from jido_interpreters import AgentOptions, AsyncRuntime, Simulation, SQLiteStorage, SyncRuntime


class Abort(BaseException):
    """What some libraries raise to get past ``except Exception``."""


@attrs.frozen
class Touchy:
    """Params whose construction raises (a validator gone wrong)."""

    item: str = ""

    def __attrs_post_init__(self) -> None:
        raise Abort("params")


@attrs.frozen(kw_only=True)
class Boom(CustomDirective):
    """A directive whose handler raises an Abort."""


@action(params=NoParams)
def aborts(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    raise Abort("action")


@action(params=NoParams)
def cancels(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    raise asyncio.CancelledError("by hand")


@action(params=NoParams)
def closes(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    raise GeneratorExit("by hand")


@action(params=NoParams)
def interrupted(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    raise KeyboardInterrupt


@action(params=Touchy)
def touchy(state: Log, p: Touchy, ctx: Context) -> ActionResult[Log]:
    return ok(state)


@action(params=NoParams)
def booms(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    return ok(state, Boom())


@action(params=NoParams)
def fetches(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    return ok(state, invoke("fetch", None, on_ok="t.fetched", on_error="t.failed"))


@action(params=NoParams)
def watches(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    return ok(state, start_sensor("feed", "in"))


def _guard(sig: Signal) -> bool:
    raise Abort("guard")


SPEC = AgentSpec(
    name="touchy",
    state=Log,
    routes=[
        Route(pattern="t.note", target=note),
        Route(pattern="t.abort", target=aborts),
        Route(pattern="t.cancel", target=cancels),
        Route(pattern="t.interrupt", target=interrupted),
        Route(pattern="t.close", target=closes),
        Route(pattern="t.params", target=touchy),
        Route(pattern="t.guarded", target=note, guard=_guard),
        Route(pattern="t.boom", target=booms),
        Route(pattern="t.fetch", target=fetches),
        Route(pattern="t.failed", target=failed),
        Route(pattern="t.watch", target=watches),
        Route(pattern=SENSOR_EXIT, target=ended),
    ],
)


def _boom(agent_id: str, d: Boom) -> Iterable[Signal]:
    raise Abort("directive handler")


async def _fetch(args: object) -> object:
    raise Abort("effect")


async def _feed(config: FrozenMap[str, JsonValue]) -> AsyncIterator[tuple[str, object]]:
    yield "t.note", {"item": "sensed"}
    raise Abort("sensor")


@pytest.mark.parametrize(
    ("signal_type", "cause"),
    [("t.abort", Abort), ("t.cancel", asyncio.CancelledError), ("t.close", GeneratorExit)],
    ids=["own-base-exception", "cancelled-by-hand", "generator-exit-by-hand"],
)
def test_step_makes_any_crash_of_an_action_an_action_crashed(
    signal_type: str, cause: type[BaseException]
) -> None:
    sig = Signal(type=signal_type, source="/test", id="1")
    with pytest.raises(ActionCrashed, match="raised handling") as caught:
        step(SPEC, SPEC.new("a"), sig)
    assert isinstance(caught.value.__cause__, cause)
    assert caught.value.action == SPEC.router.match(sig)[0].target.action.name


def test_step_lets_an_interrupt_pass() -> None:
    with pytest.raises(KeyboardInterrupt):
        step(SPEC, SPEC.new("a"), Signal(type="t.interrupt", source="/test", id="1"))


@pytest.mark.parametrize(
    ("signal_type", "message"),
    [
        ("t.abort", "action"),
        ("t.cancel", "by hand"),
        ("t.close", "by hand"),
        ("t.params", "params"),
        ("t.guarded", "guard"),
        ("t.boom", "directive handler"),
    ],
)
def test_async_runtime_applies_the_error_policy_and_the_agent_goes_on(
    signal_type: str, message: str
) -> None:
    """The crash is counted and logged as a crash; the agent (policy ``Continue``, the
    default) keeps its last good state and handles what comes next."""

    async def main() -> None:
        async with AsyncRuntime([SPEC], directives={Boom: _boom}) as rt:
            await rt.start(SPEC, "a")
            await rt.cast("a", "t.note", {"item": "before"})
            await rt.cast("a", signal_type)
            agent = await rt.call("a", "t.note", {"item": "after"}, timeout=5)
            assert agent.state.seen == ("before", "after")
            stats = rt.statistics()
            assert (stats.crashes, stats.errors) == (1, 1)

    asyncio.run(main())


def test_async_runtime_stops_an_agent_whose_policy_says_so() -> None:
    """Under ``StopAgent`` such a crash stops the agent (nothing left looking alive)."""
    from jido_interpreters import StopAgent

    async def main() -> None:
        options = {"touchy": AgentOptions(error_policy=StopAgent())}
        async with AsyncRuntime([SPEC], options=options) as rt:
            await rt.start(SPEC, "a")
            await rt.cast("a", "t.abort")
            await rt.wait_idle(timeout=5)
            assert rt.agent_ids == ()

    asyncio.run(main())


def test_an_effect_raising_one_is_its_on_error() -> None:
    async def main() -> None:
        async with AsyncRuntime([SPEC], effects={"fetch": _fetch}) as rt:
            await rt.start(SPEC, "a")
            await rt.cast("a", "t.fetch")
            await rt.wait_idle(timeout=5)
            assert rt.state("a").seen == ("failed:Abort",)

    asyncio.run(main())


def test_a_sensor_raising_one_ends_with_its_exit() -> None:
    async def main() -> None:
        async with AsyncRuntime([SPEC], sensors={"feed": _feed}) as rt:
            await rt.start(SPEC, "a")
            await rt.cast("a", "t.watch")
            await rt.wait_until("a", lambda a: len(a.state.seen) == 2, timeout=5)
            assert rt.state("a").seen == ("sensed", "exit:Abort: sensor")

    asyncio.run(main())


def test_a_wait_condition_raising_one_is_raised_to_its_caller_only() -> None:
    def condition(agent: object) -> bool:
        if getattr(agent, "version", 0):
            raise Abort("condition")
        return False

    async def main() -> None:
        async with AsyncRuntime([SPEC]) as rt:
            await rt.start(SPEC, "a")
            waiting = asyncio.create_task(rt.wait_until("a", condition, timeout=5))
            await asyncio.sleep(0)  # the waiter is registered
            await rt.cast("a", "t.note", {"item": "x"})
            with pytest.raises(Abort, match="condition"):
                await waiting
            agent = await rt.call("a", "t.note", {"item": "y"}, timeout=5)
            assert agent.state.seen == ("x", "y")

    asyncio.run(main())


def test_an_interrupt_in_a_step_ends_the_run() -> None:
    """``KeyboardInterrupt`` is no crash to contain: it leaves ``asyncio.run``, as from any
    task."""

    tasks: list[asyncio.Task[None]] = []

    async def main() -> None:
        rt = AsyncRuntime([SPEC])
        await rt.start(SPEC, "a")
        task = rt._servers["a"].task
        assert task is not None
        tasks.append(task)
        await rt.cast("a", "t.interrupt")
        await rt.wait_idle(timeout=5)

    with pytest.raises(KeyboardInterrupt):
        asyncio.run(main())
    # The agent's task ended with it (retrieved, or asyncio would report it unretrieved).
    assert isinstance(tasks[0].exception(), KeyboardInterrupt)


def test_sync_runtime_with_options_handles_them_as_async_does() -> None:
    """Parity: the same crashes, the same outcome, on SyncRuntime given options."""
    rt = SyncRuntime([SPEC], default_options=AgentOptions())
    rt.start(SPEC, "a")
    for t in ("t.abort", "t.cancel", "t.guarded"):
        rt.send("a", t)
    rt.send("a", "t.note", {"item": "after"})
    assert rt.state("a").seen == ("after",)
    assert [c.outcome for c in rt.crashes] == ["continued"] * 3


def test_a_journal_with_such_a_crash_is_recovered_as_it_ran(tmp_path: Path) -> None:
    """Recovery replays the step that crashed as the live runtime handled it (the policy,
    here Continue): it does not raise what the guard raised."""
    path = tmp_path / "agents.db"

    async def live() -> None:
        async with AsyncRuntime([SPEC], storage=SQLiteStorage(path)) as rt:
            await rt.start(SPEC, "a")
            await rt.cast("a", "t.guarded", {"item": "lost"})
            await rt.call("a", "t.note", {"item": "after"})

    async def recovered() -> None:
        async with AsyncRuntime([SPEC], storage=SQLiteStorage(path)) as rt:
            assert await rt.restore() == ("a",)
            assert rt.state("a").seen == ("after",)

    asyncio.run(live())
    asyncio.run(recovered())


def test_an_unsupervised_simulation_says_which_run_to_repeat() -> None:
    """As for any bug in a guard: the exception goes up as it is, noting the seed."""
    sim = Simulation([SPEC], seed=3)
    sim.start(SPEC, "a")
    sim.send("a", "t.guarded", {"item": "x"})
    with pytest.raises(Abort) as info:
        sim.run(10)
    assert any("in a simulation with seed 3" in note for note in info.value.__notes__)
