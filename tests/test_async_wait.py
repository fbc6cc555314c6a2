"""``AsyncRuntime.wait_until``: wait for an agent's value to meet a condition.

``call`` answers right after the step, before the effects it invoked have run; waiting for
their outcome is what ``wait_until`` is for. It is woken by the agent's steps (no polling),
says where the agent stood when it gives up, and leaves no waiter behind.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import attrs
import pytest

from jido import (
    ActionResult,
    Agent,
    AgentSpec,
    Context,
    FrozenMap,
    JsonValue,
    NoParams,
    Route,
    action,
    invoke,
    ok,
)
from jido_interpreters import (
    AsyncRuntime,
    RuntimeClosed,
    SQLiteStorage,
    UnknownAgent,
    WaitTimeout,
)


@attrs.frozen
class Job:
    """A job whose answer comes from an effect."""

    asked: int = 0
    answer: str | None = None


@attrs.frozen
class Answer:
    """An effect's outcome, as the runtime reports it."""

    result: str = ""


@action(params=NoParams)
def ask(state: Job, _: NoParams, ctx: Context) -> ActionResult[Job]:
    return ok(
        attrs.evolve(state, asked=state.asked + 1),
        invoke("oracle", {}, on_ok="job.answered", on_error="job.failed"),
    )


@action(params=Answer)
def answered(state: Job, p: Answer, ctx: Context) -> ActionResult[Job]:
    return ok(attrs.evolve(state, answer=p.result))


SPEC = AgentSpec(
    name="job",
    state=Job,
    routes=[Route(pattern="job.ask", target=ask), Route(pattern="job.answered", target=answered)],
)


def answered_job(agent: Agent[Any]) -> bool:
    return agent.state.answer is not None


class Oracle:
    """An effect that answers only when the test lets it."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def __call__(self, args: FrozenMap[str, JsonValue]) -> str:
        await self.release.wait()
        return "42"


async def _runtime(**kw: Any) -> tuple[AsyncRuntime, Oracle]:
    oracle = Oracle()
    rt = AsyncRuntime([SPEC], effects={"oracle": oracle}, **kw)
    await rt.start(SPEC, "j")
    return rt, oracle


def test_waits_for_an_effects_outcome() -> None:
    """``call`` returns before the effect answers; ``wait_until`` returns the agent after
    the step that handled the answer."""

    async def main() -> None:
        rt, oracle = await _runtime()
        after_call = await rt.call("j", "job.ask")
        assert after_call.state == Job(asked=1)
        waiting = asyncio.ensure_future(rt.wait_until("j", answered_job))
        await asyncio.sleep(0)  # the waiter is registered; nothing has answered yet
        assert not waiting.done()
        oracle.release.set()
        agent = await waiting
        assert agent.state == Job(asked=1, answer="42")
        assert agent == rt.agent("j")
        assert len(rt._waiters) == 0
        await rt.shutdown()

    asyncio.run(main())


def test_a_condition_already_met_returns_at_once() -> None:
    async def main() -> None:
        rt, _ = await _runtime()
        agent = await rt.wait_until("j", lambda a: a.state.asked == 0, timeout=0.001)
        assert agent.version == 0
        await rt.shutdown()

    asyncio.run(main())


def test_a_timeout_says_where_the_agent_stood_and_leaves_no_waiter() -> None:
    async def main() -> None:
        rt, oracle = await _runtime()
        await rt.call("j", "job.ask")
        with pytest.raises(WaitTimeout) as info:
            await rt.wait_until("j", answered_job, timeout=0.05)
        err = info.value
        assert isinstance(err, TimeoutError)
        assert (err.agent_id, err.timeout, err.version, err.queued, err.effects) == (
            "j",
            0.05,
            1,
            0,
            1,
        )
        assert err.status == "idle"
        assert "1 effects running" in str(err)
        assert len(rt._waiters) == 0
        oracle.release.set()
        await rt.wait_until("j", answered_job)  # the agent went on regardless
        await rt.shutdown()

    asyncio.run(main())


def test_a_cancelled_waiter_is_taken_out() -> None:
    async def main() -> None:
        rt, _ = await _runtime()
        waiting = asyncio.ensure_future(rt.wait_until("j", answered_job))
        await asyncio.sleep(0)
        assert rt._waiters.count("j") == 1
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert len(rt._waiters) == 0
        await rt.shutdown()

    asyncio.run(main())


def test_waiters_fail_when_the_agent_stops_or_the_runtime_shuts_down() -> None:
    async def main() -> None:
        rt, _ = await _runtime()
        await rt.start(SPEC, "k")
        on_j = asyncio.ensure_future(rt.wait_until("j", answered_job))
        on_k = asyncio.ensure_future(rt.wait_until("k", answered_job))
        await asyncio.sleep(0)
        await rt.stop("j")
        with pytest.raises(UnknownAgent):
            await on_j
        await rt.shutdown()
        with pytest.raises(RuntimeClosed):
            await on_k
        assert len(rt._waiters) == 0
        with pytest.raises(RuntimeClosed):
            await rt.wait_until("nobody", answered_job)

    asyncio.run(main())


def test_a_condition_that_raises_fails_its_waiter_only() -> None:
    """A bug in the condition is the waiter's: it gets the exception, the agent goes on and
    other waiters still hear of it."""

    def broken(agent: Agent[Any]) -> bool:
        if agent.version > 0:
            raise KeyError("no such field")
        return False

    async def main() -> None:
        rt, oracle = await _runtime()
        bad = asyncio.ensure_future(rt.wait_until("j", broken))
        good = asyncio.ensure_future(rt.wait_until("j", answered_job))
        await asyncio.sleep(0)
        await rt.cast("j", "job.ask")
        with pytest.raises(KeyError):
            await bad
        oracle.release.set()
        assert (await good).state.answer == "42"
        await rt.shutdown()

    asyncio.run(main())


def test_a_hibernated_agent_is_thawed_to_be_looked_at(tmp_path: Path) -> None:
    async def main() -> None:
        rt, oracle = await _runtime(storage=SQLiteStorage(tmp_path / "db"))
        oracle.release.set()
        await rt.call("j", "job.ask")
        await rt.wait_until("j", answered_job)
        await rt.hibernate("j")
        assert rt.hibernated_ids == ("j",)
        agent = await rt.wait_until("j", lambda a: a.state.asked == 1)
        assert agent.state == Job(asked=1, answer="42")
        assert rt.agent_ids == ("j",)
        await rt.shutdown()

    asyncio.run(main())
