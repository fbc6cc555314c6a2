"""A crash under a ``Restart`` policy, recovered: replay does what the live restart did.

Live, a restart keeps the agent's last good state but drops what it armed itself (timers,
cron jobs, sensors) and registers the spec's declared schedules again. The crashed signal is
in the journal, so replay meets the same crash and must drop the same things, or a
recovered agent would re-arm timers the live one had lost. Runs on SQLite and on a real
Redis server, like ``test_durable``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import attrs
import pytest
from tests.redis_server import redis_url
from tests.test_durable import Backend, By, Count, backend, every, remind, tick

from jido import (
    RESTARTED,
    ActionCrashed,
    ActionResult,
    AgentSpec,
    Context,
    CustomDirective,
    NoParams,
    Route,
    Signal,
    action,
    cron,
    emit,
    ok,
    schedule,
)
from jido.serde import Codec
from jido_interpreters import (
    AgentOptions,
    AsyncRuntime,
    Continue,
    ErrorPolicy,
    Outbox,
    Restart,
)

__all__ = ["backend", "redis_url"]  # the fixtures, imported so pytest finds them here


@action(params=NoParams)
def boom(state: Count, _: NoParams, ctx: Context) -> ActionResult[Count]:
    raise RuntimeError("a bug")


@action(params=By)
def bump(state: Count, p: By, ctx: Context) -> ActionResult[Count]:
    return ok(Count(n=state.n + p.by, trail=state.trail))


HEARTBEAT = cron("0 0 * * *", "t.tick", {"job": "heartbeat"}, job_id="heartbeat")
CRASHY = AgentSpec(
    name="crashy",
    state=Count,
    routes=[
        Route(pattern="t.every", target=every),
        Route(pattern="t.remind", target=remind),
        Route(pattern="t.tick", target=tick),
        Route(pattern="t.boom", target=boom),
        Route(pattern="t.bump", target=bump),
    ],
    schedules=[HEARTBEAT],
)


async def _outbox_of(backend: Backend, rt: AsyncRuntime, agent_id: str) -> Outbox:
    """What the agent has outstanding, as a snapshot of it records it."""
    await rt.hibernate(agent_id)
    snap, _ = backend.open().load(agent_id)
    assert snap is not None
    return Outbox.from_json(snap.outbox, Codec())


def _armed(box: Outbox) -> tuple[set[str], set[str]]:
    """The cron job ids and the types of the scheduled signals."""
    return {c.job_id for c in box.crons}, {s.type for _, s in box.schedules}


@pytest.mark.parametrize(
    ("policy", "crons", "schedules"),
    [
        (Restart(max_restarts=5, within=60.0), {"heartbeat"}, set()),
        (Continue(), {"heartbeat", "nightly"}, {"t.add"}),
    ],
)
def test_a_crash_is_replayed_as_its_policy_handled_it(
    backend: Backend, policy: ErrorPolicy, crons: set[str], schedules: set[str]
) -> None:
    """Two agents arm a cron job and a timer, then crash. Under ``Restart`` both are gone
    (the declared heartbeat is back); under ``Continue`` both stay. The first is then
    hibernated, so its snapshot records what it has outstanding live; the second is
    recovered by replaying its journal, crash included, and must have the same."""
    options = {"crashy": AgentOptions(error_policy=policy)}

    async def live() -> Outbox:
        rt = AsyncRuntime([CRASHY], storage=backend.open(), options=options)
        for agent_id in ("c1", "c2"):
            await rt.start(CRASHY, agent_id)
            await rt.cast(agent_id, "t.every", {"job": "nightly", "expression": "0 3 * * *"})
            await rt.cast(agent_id, "t.remind", {"delay": 3600.0, "by": 5})
            await rt.cast(agent_id, "t.bump", {"by": 2})
            await rt.cast(agent_id, "t.boom")
            await rt.cast(agent_id, "t.bump", {"by": 3})
        await rt.wait_idle(timeout=5)
        assert rt.statistics().crashes == 2
        assert rt.state("c1") == rt.state("c2") == Count(n=5)
        box = await _outbox_of(backend, rt, "c1")
        await rt.shutdown()
        return box

    async def recovered() -> tuple[Count, Outbox]:
        rt = AsyncRuntime([CRASHY], storage=backend.open(), options=options)
        await rt.restore()
        await rt.wait_idle(timeout=5)
        state: Count = rt.state("c2")
        box = await _outbox_of(backend, rt, "c2")
        await rt.shutdown()
        return state, box

    live_box = asyncio.run(live())
    assert _armed(live_box) == (crons, schedules)
    state, box = asyncio.run(recovered())
    assert state == Count(n=5)
    assert _armed(box) == (crons, schedules)


BUMPED = AgentSpec(
    name="bumped",
    state=Count,
    routes=[Route(pattern="t.boom", target=boom), Route(pattern="t.bump", target=bump)],
    schedules=[schedule(0.5, "t.bump", {"by": 10})],
)


def test_a_restart_registers_the_declared_schedules_afresh(backend: Backend) -> None:
    """After a crash under ``Restart`` the declared timer fires again, with storage too
    (its signal is not taken for a re-delivery of the first registration's); and a
    recovery that replays the crash arms the same new timer, which then fires once."""
    options = {"bumped": AgentOptions(error_policy=Restart(max_restarts=5, within=60.0))}

    async def live() -> None:
        async with AsyncRuntime([BUMPED], storage=backend.open(), options=options) as rt:
            await rt.start(BUMPED, "live")
            await rt.wait_until("live", lambda a: a.state.n == 10, timeout=5)
            await rt.cast("live", "t.boom")
            await rt.wait_until("live", lambda a: a.state.n == 20, timeout=5)
            # Crashed again, then shut down before the timer fires: left for recovery.
            await rt.start(BUMPED, "later")
            await rt.wait_until("later", lambda a: a.state.n == 10, timeout=5)
            await rt.cast("later", "t.boom")
            await rt.wait_idle(timeout=5)

    async def recovered() -> None:
        async with AsyncRuntime([BUMPED], storage=backend.open(), options=options) as rt:
            assert await rt.restore() == ("live", "later")
            await rt.wait_until("later", lambda a: a.state.n == 20, timeout=5)
            await asyncio.sleep(0.6)  # long enough for a second (wrong) timer to fire too
            assert rt.state("later") == Count(n=20)
            assert rt.state("live") == Count(n=20)

    asyncio.run(live())
    asyncio.run(recovered())


def test_hibernation_does_not_reset_the_restart_budget(backend: Backend) -> None:
    """``Restart(max_restarts=1)``: a second crash within the window escalates, even with a
    hibernation and a thaw between the two."""
    options = {"crashy": AgentOptions(error_policy=Restart(max_restarts=1, within=60.0))}

    async def main() -> None:
        async with AsyncRuntime([CRASHY], storage=backend.open(), options=options) as rt:
            await rt.start(CRASHY, "c")
            await rt.cast("c", "t.boom")
            await rt.wait_idle(timeout=5)
            assert rt.agent_ids == ("c",)
            await rt.hibernate("c")
            await rt.thaw("c")
            await rt.cast("c", "t.boom")
            await rt.wait_idle(timeout=5)
            assert "c" not in rt.agent_ids  # escalated: stopped
            assert rt.statistics().restarts == 1

    asyncio.run(main())


@attrs.frozen(kw_only=True)
class Boom(CustomDirective):
    """A directive whose handler raises (a bug in the interpreter's extension)."""


def _boom(agent_id: str, d: Boom) -> Iterable[Signal]:
    raise RuntimeError("handler bug")


@action(params=NoParams)
def risky(state: Count, _: NoParams, ctx: Context) -> ActionResult[Count]:
    """Arm a timer, then a directive that crashes, then an emit."""
    return ok(state, schedule(3600.0, "t.add", {"by": 1}), Boom(), emit("t.add", {"by": 100}))


RISKY = AgentSpec(
    name="crashy",
    state=Count,
    routes=[Route(pattern="t.risky", target=risky), Route(pattern="t.add", target=bump)],
)


def test_a_restart_after_a_directive_crash_is_what_recovery_sees(backend: Backend) -> None:
    """A directive handler raising under ``Restart``: live, the timer armed before it is
    dropped and the emit after it is not sent. Replay never meets that crash (the step
    itself succeeded), so the restart is snapshotted: a recovery has neither either."""
    options = {"crashy": AgentOptions(error_policy=Restart(max_restarts=5, within=60.0))}

    def runtime() -> AsyncRuntime:
        return AsyncRuntime(
            [RISKY], storage=backend.open(), options=options, directives={Boom: _boom}
        )

    async def main() -> None:
        async with runtime() as rt:
            await rt.start(RISKY, "r")
            await rt.cast("r", "t.risky")
            await rt.wait_idle(timeout=5)
            assert rt.statistics().restarts == 1
            assert rt.state("r") == Count()
            assert not rt._servers["r"].timers
        async with runtime() as rt:
            assert await rt.restore() == ("r",)
            await rt.wait_idle(timeout=5)
            assert rt.state("r") == Count()
            assert not rt._servers["r"].timers

    asyncio.run(main())


@action()
def restarted_noted(state: Count, _: NoParams, ctx: Context) -> ActionResult[Count]:
    return ok(Count(n=state.n + 1, trail=(*state.trail, "restarted")))


NOTICED = AgentSpec(
    name="noticed",
    state=Count,
    routes=[Route(pattern="t.boom", target=boom), Route(pattern=RESTARTED, target=restarted_noted)],
)


def test_a_restart_notice_shutdown_cut_off_is_left_not_dead(backend: Backend) -> None:
    """A restart's notice still being journalled when shutdown stops the agent: storage
    holds it and ``restore`` handles it, so the report lists it as left. It was a dead
    letter too, and counted twice."""
    options = {"noticed": AgentOptions(error_policy=Restart(max_restarts=5, within=60.0))}

    def runtime() -> AsyncRuntime:
        return AsyncRuntime([NOTICED], storage=backend.open(), options=options)

    async def main() -> None:
        rt = runtime()
        await rt.start(NOTICED, "x")
        with pytest.raises(ActionCrashed):
            await rt.call("x", "t.boom", timeout=5)
        report = await rt.shutdown(0)
        assert list(rt.dead_letters) == []
        assert [s.type for s in report.left["x"]] == [RESTARTED]
        async with runtime() as again:
            assert await again.restore() == ("x",)
            await again.wait_idle(timeout=5)
            assert again.state("x").trail == ("restarted",)

    asyncio.run(main())


@action(params=NoParams)
def risky_only(state: Count, _: NoParams, ctx: Context) -> ActionResult[Count]:
    """Count, then a directive that crashes."""
    return ok(Count(n=state.n + 1, trail=state.trail), Boom())


REARMED = AgentSpec(
    name="rearmed",
    state=Count,
    routes=[
        Route(pattern="t.risky", target=risky_only),
        Route(pattern=RESTARTED, target=restarted_noted),
    ],
)


def test_a_directive_crash_whose_notice_is_routed_restores(backend: Backend) -> None:
    """A directive handler raising under ``Restart``, its agent routing the notice: the
    crashed step committed and the notice is a step too, both before the journal position
    the snapshot records (the notice's own comes after it). The snapshot is sound, and a
    restore gives the agent as it was, not a ``RecoveryError`` calling it corrupt."""
    options = {"rearmed": AgentOptions(error_policy=Restart(max_restarts=5, within=60.0))}

    def runtime() -> AsyncRuntime:
        return AsyncRuntime(
            [REARMED], storage=backend.open(), options=options, directives={Boom: _boom}
        )

    async def main() -> None:
        async with runtime() as rt:
            await rt.start(REARMED, "r")
            await rt.cast("r", "t.risky")
            await rt.wait_until("r", lambda a: a.state.trail == ("restarted",), timeout=5)
            before = rt.agent("r")
        async with runtime() as rt:
            assert await rt.restore() == ("r",)
            await rt.wait_idle(timeout=5)
            assert rt.agent("r") == before

    asyncio.run(main())
