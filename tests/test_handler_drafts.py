"""A custom directive's handler may return drafts (``Signal.draft``): every runtime stamps
them the same way, from the step's signal and where they stand, so a simulation gives the
same trace for the same seed, and a durable runtime keeps the signals of two steps apart."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path

import attrs
import pytest

from jido import (
    ActionResult,
    AgentSpec,
    Context,
    CustomDirective,
    InvalidSignal,
    NoParams,
    Route,
    Signal,
    action,
    derive_id,
    ok,
)
from jido.serde import Codec
from jido_interpreters import (
    AsyncRuntime,
    Scenario,
    Simulation,
    SQLiteStorage,
    SyncRuntime,
    replay,
    simulate,
    simulation_to_jsonl,
)


@attrs.frozen
class PostMessage(CustomDirective):
    """Post a message to a chat channel."""

    channel: str


@attrs.frozen
class Log:
    """The acknowledgements the poster got: (source, id, causation id) of each."""

    acks: tuple[tuple[str, str, str], ...] = ()


@action
def post(state: Log, params: NoParams, ctx: Context) -> ActionResult[Log]:
    """Post twice, in one step."""
    return ok(state, PostMessage(channel="ops"), PostMessage(channel="dev"))


@action
def acked(state: Log, params: NoParams, ctx: Context) -> ActionResult[Log]:
    """Keep where an acknowledgement came from."""
    s = ctx.signal
    assert s is not None
    ack = (s.source, s.id, s.causation_id or "")
    return ok(attrs.evolve(state, acks=(*state.acks, ack)))


SPEC: AgentSpec[Log] = AgentSpec(
    name="poster",
    state=Log,
    routes=[Route(pattern="chat.post", target=post), Route(pattern="chat.acked", target=acked)],
)
CODEC = Codec(directives={"chat.post": PostMessage})


def handle_post(agent_id: str, d: PostMessage) -> Iterable[Signal]:
    """Acknowledge each post with two drafts, which the runtime stamps."""
    return [Signal.draft("chat.acked", {"channel": d.channel}), Signal.draft("chat.acked")]


POSTS = (
    Signal(type="chat.post", source="/ui", id="1"),
    Signal(type="chat.post", source="/ui", id="2"),
)


def _sync() -> Log:
    rt = SyncRuntime([SPEC], directives={PostMessage: handle_post})
    rt.start(SPEC, "p")
    for s in POSTS:
        rt.send("p", s)
    state: Log = rt.agent("p").state
    return state


def _simulation() -> Log:
    sim = Simulation([SPEC], seed=3, directives={PostMessage: handle_post})
    sim.start(SPEC, "p")
    for s in POSTS:
        sim.send("p", s)
    state: Log = sim.run().agents["p"].state
    return state


def _async(path: Path | None) -> Log:
    async def main() -> Log:
        storage = None if path is None else SQLiteStorage(str(path / "p.db"))
        async with AsyncRuntime(
            [SPEC], directives={PostMessage: handle_post}, storage=storage
        ) as rt:
            if storage is not None:
                await rt.restore()
            await rt.start(SPEC, "p")
            for s in POSTS:
                await rt.call("p", s)
            await rt.wait_idle(timeout=5)
            state: Log = rt.agent("p").state
            return state

    return asyncio.run(main())


def _expected() -> tuple[tuple[str, str, str], ...]:
    # The i-th directive of the step on post n, the k-th draft of its handler.
    return tuple(
        (
            "jido://directive/PostMessage",
            derive_id(f"directive:{i}:{s.id}", "p", k, s.source),
            s.id,
        )
        for s in POSTS
        for i in (0, 1)
        for k in (0, 1)
    )


@pytest.mark.parametrize("runtime", ["sync", "simulation", "async", "async-durable"])
def test_every_runtime_stamps_a_handlers_drafts_alike(runtime: str, tmp_path: Path) -> None:
    """On every runtime, durable or not, each draft gets an id of its own derived from the
    step's signal, the directive's place and its own: all eight reach the agent."""
    if runtime == "sync":
        log = _sync()
    elif runtime == "simulation":
        log = _simulation()
    else:
        log = _async(tmp_path if runtime == "async-durable" else None)
    assert sorted(log.acks) == sorted(_expected())
    assert len(set(log.acks)) == 8


def test_a_simulation_with_a_drafting_handler_gives_one_trace_per_seed() -> None:
    """Same seed, same trace, byte for byte, with a handler that returns drafts."""

    def run() -> str:
        sim = Simulation([SPEC], seed=7, directives={PostMessage: handle_post}, codec=CODEC)
        sim.start(SPEC, "p")
        sim.send("p", "chat.post")
        return simulation_to_jsonl(sim.run())

    first = run()
    assert "jido://directive/PostMessage" in first
    assert run() == first


def test_a_simulation_with_a_drafting_handler_replays() -> None:
    """A scenario's trace replays as it ran: the handler's signals have the same ids."""

    def setup(sim: Simulation) -> None:
        sim.start(SPEC, "p")
        sim.send("p", "chat.post")

    scenario = Scenario(
        specs=[SPEC], setup=setup, directives={PostMessage: handle_post}, codec=CODEC
    )
    text = simulation_to_jsonl(simulate(scenario, seed=7))
    assert "jido://directive/PostMessage" in text
    assert replay(text, scenario) is None


def test_a_signal_from_outside_may_not_take_a_handlers_source() -> None:
    """``jido://directive/...`` is the runtime's: one from outside could pass for a
    handler's stamped draft, whose id can be worked out."""
    rt = SyncRuntime([SPEC])
    rt.start(SPEC, "p")
    forged = Signal(type="chat.acked", source="jido://directive/PostMessage", id="x")
    with pytest.raises(InvalidSignal, match="runtime's own signals"):
        rt.send("p", forged)


def test_a_stamped_draft_carries_the_trace_of_its_cause_under_its_own_extensions() -> None:
    """The cause's time and correlation id, below what the draft set itself."""

    def handler(agent_id: str, d: PostMessage) -> Iterable[Signal]:
        return [Signal.draft("chat.acked", extensions={"correlationid": "mine"})]

    rt = SyncRuntime([SPEC], directives={PostMessage: handler})
    rt.start(SPEC, "p")
    rt.send("p", Signal(type="chat.post", source="/ui", id="9"))
    delivered = [e.signal for e in rt.trace if e.signal.type == "chat.acked"]
    assert [s.extensions["correlationid"] for s in delivered] == ["mine", "mine"]
    assert {s.causation_id for s in delivered} == {"9"}
    assert {s.time for s in delivered} == {rt.trace[0].signal.time}
