"""An upgrade that mounts or removes a plugin reconciles the declared schedules.

A spec's schedules (its own and its plugins') are registered when an agent starts; a
recovery otherwise re-arms what the snapshot recorded. So an upgrade (a new
``schema_version`` with an ``upgrade=`` hook) that mounts a plugin must arm its cron jobs
and timers, and one that removes a plugin must drop them: they would fire into routing
errors for ever. Runs on SQLite and on a real Redis server, like ``test_durable``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import attrs
from tests.redis_server import redis_url
from tests.test_durable import Backend, backend
from tests.test_durable_restart import _outbox_of

from jido import (
    ActionResult,
    AgentSpec,
    Context,
    NoParams,
    Plugin,
    Route,
    action,
    cron,
    ok,
    schedule,
)
from jido_interpreters import AsyncRuntime, Outbox
from jido_interpreters._durable import reconciled

__all__ = ["backend", "redis_url"]  # the fixtures, imported so pytest finds them here


@attrs.frozen
class Main:
    n: int = 0


@attrs.frozen
class Ticks:
    ticks: int = 0


@action(params=NoParams)
def bump(state: Main, _: NoParams, ctx: Context) -> ActionResult[Main]:
    return ok(Main(state.n + 1))


@action(params=NoParams)
def tick(state: Ticks, _: NoParams, ctx: Context) -> ActionResult[Ticks]:
    return ok(Ticks(state.ticks + 1))


TICKS: Plugin[Ticks] = Plugin(
    name="ticks",
    state=Ticks,
    routes=[Route(pattern="clock.tick", target=tick), Route(pattern="clock.ping", target=tick)],
    schedules=[cron("0 0 * * *", "clock.tick", job_id="ticker"), schedule(3600.0, "clock.ping")],
)
OWN = (schedule(7200.0, "main.bump"),)
ROUTES = [Route(pattern="main.bump", target=bump)]
BARE = AgentSpec(name="main", state=Main, routes=ROUTES, schedules=OWN)
TICKING = AgentSpec(name="main", state=Main, routes=ROUTES, schedules=OWN, plugins=[TICKS])


def _mount(name: str, stored: int, raw: dict[str, Any]) -> dict[str, Any]:
    return {**raw, "slices": {**raw["slices"], "ticks": {"ticks": 0}}}


def _unmount(name: str, stored: int, raw: dict[str, Any]) -> dict[str, Any]:
    return {**raw, "slices": {k: v for k, v in raw["slices"].items() if k != "ticks"}}


def _armed(box: Outbox) -> tuple[set[str], list[str]]:
    """The cron job ids, and the types of the pending timers."""
    return {c.job_id for c in box.crons}, sorted(s.type for _, s in box.schedules)


def _upgraded(
    backend: Backend, old: AgentSpec[Any], new: AgentSpec[Any], hook: Any
) -> list[tuple[set[str], list[str]]]:
    """Start ``old``, then restore twice under ``new`` (a schema_version later) with
    ``hook``; what the agent has armed after each restore."""

    async def first() -> None:
        async with AsyncRuntime([old], storage=backend.open()) as rt:
            await rt.start(old, "a")
            await rt.call("a", "main.bump", timeout=5)

    async def again() -> tuple[set[str], list[str]]:
        async with AsyncRuntime([new], storage=backend.open(), upgrade=hook) as rt:
            assert await rt.restore() == ("a",)
            box = await _outbox_of(backend, rt, "a")
            assert not rt.problems
            return _armed(box)

    asyncio.run(first())
    return [asyncio.run(again()), asyncio.run(again())]


def test_an_upgrade_mounting_a_plugin_arms_its_schedules(backend: Backend) -> None:
    """The mounted plugin's cron job and timer are armed by the upgrade, once: the second
    restore (from the upgraded snapshot) arms no second timer."""
    got = _upgraded(backend, BARE, attrs.evolve(TICKING, schema_version=2), _mount)
    assert got == [({"ticker"}, ["clock.ping", "main.bump"])] * 2


def test_an_upgrade_removing_a_plugin_drops_its_schedules(backend: Backend) -> None:
    """The removed plugin's cron job and timer are dropped by the upgrade (they would fire
    into routing errors); the spec's own timer stays."""
    got = _upgraded(backend, TICKING, attrs.evolve(BARE, schema_version=2), _unmount)
    assert got == [(set(), ["main.bump"])] * 2


def test_a_snapshot_that_does_not_say_what_was_declared_loses_nothing() -> None:
    """A snapshot written before outboxes kept what was declared: the upgrade arms the
    new version's cron jobs it lacks, and arms or drops no timer (it cannot tell a
    declared one that fired from one never declared)."""
    agent = TICKING.new("a")
    armed = Outbox(schedules=((1.0, OWN[0].signal),))
    box = reconciled(armed, TICKING.startup(agent), "a", salt="s", now=0.0)
    assert _armed(box) == ({"ticker"}, ["main.bump"])
    assert box.declared == TICKING.startup(agent)


def test_a_second_upgrade_reconciles_with_what_the_first_declared(backend: Backend) -> None:
    """The snapshot an upgrade writes says what the new spec declared: an upgrade that
    keeps a plugin, left as it wrote it (no later snapshot), then one that removes the
    plugin, drops its cron job and timer."""

    def keep(name: str, stored: int, raw: dict[str, Any]) -> dict[str, Any]:
        return raw

    async def first() -> None:
        async with AsyncRuntime([TICKING], storage=backend.open()) as rt:
            await rt.start(TICKING, "a")
            await rt.call("a", "main.bump", timeout=5)

    async def kept() -> None:
        spec = attrs.evolve(TICKING, schema_version=2)
        async with AsyncRuntime([spec], storage=backend.open(), upgrade=keep) as rt:
            assert await rt.restore() == ("a",)
            await rt.wait_idle(timeout=5)

    async def removed() -> tuple[set[str], list[str]]:
        spec = attrs.evolve(BARE, schema_version=3)
        async with AsyncRuntime([spec], storage=backend.open(), upgrade=_unmount) as rt:
            assert await rt.restore() == ("a",)
            box = await _outbox_of(backend, rt, "a")
            assert not rt.problems
            return _armed(box)

    asyncio.run(first())
    asyncio.run(kept())
    snap, _ = backend.open().load("a")
    assert snap is not None
    assert snap.schema_version == 2  # the upgrade's own snapshot
    assert asyncio.run(removed()) == (set(), ["main.bump"])
