"""Durable agents and their sensors, and what the runtime says of a hibernated agent.

A sensor an agent started is part of what it left outstanding: it is started again when the
agent is recovered (unless a ``StopSensor`` or the sensor's own end is in the journal), and it
keeps running while the agent hibernates, so what it senses thaws the agent. Runs on SQLite
and on a real Redis server, like ``test_durable``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import attrs
import pytest
from tests.redis_server import redis_url
from tests.test_durable import Backend, backend, eventually

from jido import (
    SENSOR_EXIT,
    ActionResult,
    AgentSpec,
    Context,
    FrozenMap,
    JsonValue,
    NoParams,
    Route,
    StartSensor,
    action,
    ok,
    spawn_agent,
    start_sensor,
    stop_sensor,
)
from jido.serde import Codec
from jido_interpreters import (
    AgentHibernated,
    AsyncRuntime,
    AsyncSensorFn,
    Outbox,
    UnknownAgent,
)

__all__ = ["backend", "redis_url"]  # the fixtures, imported so pytest finds them here


@attrs.frozen
class Seen:
    """What the watcher saw, in order."""

    items: tuple[str, ...] = ()


@attrs.frozen
class Item:
    """One sensed item."""

    value: str = ""


@attrs.frozen
class Exit:
    """A sensor's exit, as the runtime reports it."""

    tag: str = ""
    sensor: str = ""
    reason: str = ""


@action(params=NoParams)
def watch(state: Seen, _: NoParams, ctx: Context) -> ActionResult[Seen]:
    return ok(state, start_sensor("feed", "in", {"feed": "main"}))


@action(params=NoParams)
def unwatch(state: Seen, _: NoParams, ctx: Context) -> ActionResult[Seen]:
    return ok(state, stop_sensor("in"))


@action(params=Item)
def saw(state: Seen, p: Item, ctx: Context) -> ActionResult[Seen]:
    return ok(Seen((*state.items, p.value)))


@action(params=Exit)
def ended(state: Seen, p: Exit, ctx: Context) -> ActionResult[Seen]:
    return ok(Seen((*state.items, f"exit:{p.tag}:{p.reason}")))


@action(params=NoParams)
def adopt(state: Seen, _: NoParams, ctx: Context) -> ActionResult[Seen]:
    return ok(state, spawn_agent("watcher", "kid"))


WATCHER = AgentSpec(
    name="watcher",
    state=Seen,
    routes=[
        Route(pattern="w.watch", target=watch),
        Route(pattern="w.unwatch", target=unwatch),
        Route(pattern="w.item", target=saw),
        Route(pattern=SENSOR_EXIT, target=ended),
    ],
)
BOSS = AgentSpec(name="boss", state=Seen, routes=[Route(pattern="w.adopt", target=adopt)])
SPECS = (WATCHER, BOSS)

END = "<end>"


@attrs.define
class Feed:
    """A sensor fed by the test: each item put in the queue becomes a ``w.item`` signal;
    ``END`` ends the sensor normally. ``started`` counts the sensor's starts (each reads
    the same queue), ``running`` the starts not yet ended or cancelled."""

    queue: asyncio.Queue[str] = attrs.Factory(asyncio.Queue)
    started: int = 0
    running: int = 0

    def sensors(self) -> dict[str, AsyncSensorFn]:
        async def feed(config: FrozenMap[str, JsonValue]) -> AsyncIterator[tuple[str, object]]:
            assert config == {"feed": "main"}
            self.started += 1
            self.running += 1
            try:
                while (value := await self.queue.get()) != END:
                    yield "w.item", {"value": value}
            finally:
                self.running -= 1

        return {"feed": feed}


async def sensed(rt: AsyncRuntime, feed: Feed, agent_id: str, value: str) -> None:
    """Feed ``value`` and wait until the agent saw it."""
    feed.queue.put_nowait(value)
    await eventually(
        lambda: agent_id in rt.agent_ids and value in rt.state(agent_id).items,
        f"{agent_id} seeing {value!r}",
    )


async def watching(backend: Backend, feed: Feed, **kw: Any) -> AsyncRuntime:
    """A runtime whose watcher ``w`` started its sensor and saw ``a``."""
    rt = AsyncRuntime(SPECS, storage=backend.open(), sensors=feed.sensors(), **kw)
    await rt.start(WATCHER, "w")
    await rt.call("w", "w.watch")
    await sensed(rt, feed, "w", "a")
    return rt


@pytest.mark.parametrize("snapshot_every", [1, 1000])
def test_a_sensor_is_started_again_after_a_restart(backend: Backend, snapshot_every: int) -> None:
    """After a shutdown, restore() starts the agent's sensor again (from a snapshot's outbox
    or from the replayed StartSensor), once; what it senses then reaches the agent."""

    async def main() -> None:
        feed = Feed()
        rt = await watching(backend, feed, snapshot_every=snapshot_every)
        await rt.shutdown()
        assert feed.running == 0
        async with AsyncRuntime(SPECS, storage=backend.open(), sensors=feed.sensors()) as again:
            assert await again.restore() == ("w",)
            await eventually(lambda: feed.running == 1, "the sensor running again")
            await sensed(again, feed, "w", "b")
            assert again.state("w") == Seen(("a", "b"))
            assert feed.started == 2

    asyncio.run(main())


def test_a_stopped_or_ended_sensor_is_not_started_again(backend: Backend) -> None:
    """A sensor stopped by StopSensor, or one that ended on its own (its exit signal is in the
    journal), is not started again on recovery."""

    async def main() -> None:
        feed = Feed()
        rt = await watching(backend, feed)
        await rt.call("w", "w.unwatch")
        await eventually(lambda: feed.running == 0, "the sensor stopped")
        await rt.call("w", "w.watch")
        await sensed(rt, feed, "w", "b")
        feed.queue.put_nowait(END)
        await rt.wait_until("w", lambda a: "exit:in:normal" in a.state.items)  # the exit
        await rt.shutdown()
        async with AsyncRuntime(SPECS, storage=backend.open(), sensors=feed.sensors()) as again:
            await again.restore()
            await again.wait_idle(timeout=5)
            assert again.state("w") == Seen(("a", "b", "exit:in:normal"))
            assert feed.started == 2
            assert feed.running == 0
            assert not again._servers["w"].sensors

    asyncio.run(main())


def test_a_hibernated_agent_keeps_its_sensor_and_what_it_senses_thaws_it(
    backend: Backend,
) -> None:
    """Hibernation does not stop the sensor: the next item it senses thaws the agent, which
    handles it; the sensor is not started a second time."""

    async def main() -> None:
        feed = Feed()
        async with await watching(backend, feed) as rt:
            await rt.hibernate("w")
            assert list(rt.hibernated_ids) == ["w"]
            assert feed.running == 1
            await sensed(rt, feed, "w", "b")
            assert not list(rt.hibernated_ids)
            assert rt.state("w") == Seen(("a", "b"))
            assert set(rt._servers["w"].sensors) == {"in"}
            assert feed.started == 1
            assert feed.running == 1
            await rt.hibernate("w")  # and again, then a stop cancels it where it is
            await rt.stop("w")
            await eventually(lambda: feed.running == 0, "the sensor cancelled by the stop")

    asyncio.run(main())


def test_a_sensor_that_ends_while_its_agent_hibernates(backend: Backend) -> None:
    """A sensor ending while its agent hibernates reports its exit, which thaws the agent;
    the ended sensor is not started again then, nor after a restart."""

    async def main() -> None:
        feed = Feed()
        rt = await watching(backend, feed)
        await rt.hibernate("w")
        feed.queue.put_nowait(END)
        await eventually(
            lambda: "w" in rt.agent_ids and "exit:in:normal" in rt.state("w").items,
            "the exit thawing the agent",
        )
        assert not rt._servers["w"].sensors
        assert not rt._servers["w"].out_sensors
        await rt.shutdown()
        async with AsyncRuntime(SPECS, storage=backend.open(), sensors=feed.sensors()) as again:
            await again.restore()
            await again.wait_idle(timeout=5)
            assert again.state("w") == Seen(("a", "exit:in:normal"))
        assert feed.started == 1

    asyncio.run(main())


def test_shutdown_cancels_a_hibernated_agents_sensor(backend: Backend) -> None:
    """Shutdown cancels the sensors of hibernated agents too, and counts them."""

    async def main() -> None:
        feed = Feed()
        rt = await watching(backend, feed)
        await rt.hibernate("w")
        report = await rt.shutdown()
        assert report.cancelled_timers == 1
        await eventually(lambda: feed.running == 0, "the sensor cancelled")

    asyncio.run(main())


def test_accessors_of_a_hibernated_agent(backend: Backend) -> None:
    """``agent`` and ``state`` raise AgentHibernated (an UnknownAgent) saying how to bring
    it back; ``children`` and ``parent`` still answer; an agent that never existed is
    plainly unknown."""

    async def main() -> None:
        async with AsyncRuntime(SPECS, storage=backend.open()) as rt:
            await rt.start(BOSS, "boss")
            await rt.call("boss", "w.adopt")
            await rt.wait_idle(timeout=5)
            before = rt.agent("boss")
            await rt.hibernate("boss")
            await rt.hibernate("boss/kid")
            assert list(rt.hibernated_ids) == ["boss", "boss/kid"]
            for read in (rt.agent, rt.state):
                with pytest.raises(AgentHibernated) as info:
                    read("boss")
                assert isinstance(info.value, UnknownAgent)
                assert info.value.agent_id == "boss"
                assert "await runtime.thaw('boss')" in str(info.value)
            assert rt.children("boss") == {"kid": "boss/kid"}
            assert rt.parent("boss/kid") == "boss"
            assert rt.parent("boss") is None
            with pytest.raises(UnknownAgent) as unknown:
                rt.state("nobody")
            assert not isinstance(unknown.value, AgentHibernated)
            assert await rt.thaw("boss") == before
            assert list(rt.hibernated_ids) == ["boss/kid"]

    asyncio.run(main())


def test_outbox_sensors_round_trip_and_older_snapshots_have_none() -> None:
    """An outbox's sensors survive its JSON; an outbox written before sensors were recorded
    (no ``sensors`` key) reads as having none; a non-sensor there is a DecodeError."""
    codec = Codec()
    box = Outbox(sensors=(StartSensor(sensor="feed", tag="in", config={"feed": "main"}),))
    assert Outbox.from_json(box.to_json(codec), codec) == box
    raw = json.loads(box.to_json(codec))
    del raw["sensors"]
    assert Outbox.from_json(json.dumps(raw), codec) == Outbox()
    raw["sensors"] = [codec.to_dict(stop_sensor("in"))]
    with pytest.raises(ValueError, match="expected a sensor, got StopSensor"):
        Outbox.from_json(json.dumps(raw), codec)
