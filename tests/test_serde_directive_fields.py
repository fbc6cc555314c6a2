"""State fields that hold directives: a field typed with several directive classes (the
public ``Directive`` alias, ``BuiltinDirective``, a union of a few) or with
``CustomDirective`` is written with each directive's ``kind`` tag and read back by it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import attrs
import pytest

from jido import (
    ActionResult,
    Agent,
    AgentSpec,
    BuiltinDirective,
    Context,
    CustomDirective,
    Directive,
    Emit,
    NoParams,
    Route,
    Schedule,
    Signal,
    action,
    ok,
    schedule,
    stop,
    stop_child,
)
from jido.serde import (
    Codec,
    DecodeError,
    EncodeError,
    agent_from_dict,
    agent_from_json,
    to_dict,
    to_json,
)
from jido_interpreters import AsyncRuntime, SQLiteStorage


@attrs.frozen
class PostMessage(CustomDirective):
    """A user-defined directive."""

    channel: str


@attrs.frozen
class Unregistered(CustomDirective):
    """A user-defined directive no codec here knows."""


CODEC = Codec(directives={"chat.post": PostMessage})


@attrs.frozen
class Deferred:
    """Directives kept for later, of every kind."""

    later: tuple[Directive, ...] = ()
    one: Directive | None = None
    builtin: BuiltinDirective | None = None
    custom: CustomDirective | None = None
    few: Emit | Schedule | None = None


def _agent(state: Deferred) -> tuple[AgentSpec[Deferred], Agent[Deferred]]:
    spec = AgentSpec(name="d", state=Deferred)
    return spec, attrs.evolve(spec.new("a"), state=state)


def test_directive_fields_round_trip_by_their_tags() -> None:
    """Directives no field names tell apart (a stop, a child's stop) come back as written."""
    state = Deferred(
        later=(schedule(5.0, "a.b"), stop("done"), stop_child("w"), PostMessage(channel="ops")),
        one=stop_child("x"),
        builtin=stop("bye"),
        custom=PostMessage(channel="c"),
        few=Schedule(delay=1.0, signal=Signal(type="a.b", source="/t", id="1")),
    )
    spec, agent = _agent(state)
    text = CODEC.to_json(agent)
    assert '"kind":"stop_child"' in text
    assert '"kind":"chat.post"' in text
    assert CODEC.agent_from_json(text, spec) == agent


def test_empty_directive_fields_round_trip() -> None:
    """``None`` in an optional directive field stays ``None``."""
    spec, agent = _agent(Deferred())
    assert agent_from_json(to_json(agent), spec) == agent


def test_a_directive_of_a_kind_the_field_does_not_allow_is_refused() -> None:
    """A ``stop`` where ``Emit | Schedule`` is declared is a DecodeError naming both."""
    spec, agent = _agent(Deferred(builtin=stop("x")))
    raw = to_dict(agent)
    raw["state"]["few"] = raw["state"]["builtin"]
    with pytest.raises(DecodeError, match=r"expected Emit \| Schedule, got Stop"):
        agent_from_dict(raw, spec)


def test_an_unregistered_custom_directive_in_a_field_is_an_encode_error() -> None:
    """A custom directive the codec does not know cannot be written, as on its own."""
    _, agent = _agent(Deferred(custom=Unregistered()))
    with pytest.raises(EncodeError, match="does not know the class Unregistered"):
        CODEC.to_json(agent)


@action
def defer(state: Deferred, params: NoParams, ctx: Context) -> ActionResult[Deferred]:
    """Keep a timer and a stop for later."""
    return ok(attrs.evolve(state, later=(*state.later, schedule(5.0, "due.now"), stop())))


SPEC = AgentSpec(name="d", state=Deferred, routes=[Route(pattern="work.deferred", target=defer)])


def test_a_durable_agent_holding_directives_is_restored(tmp_path: Path) -> None:
    """A snapshot of such a state is read back, so the agent comes back after a restart."""
    path = str(tmp_path / "d.db")

    async def first() -> Deferred:
        async with AsyncRuntime([SPEC], storage=SQLiteStorage(path)) as rt:
            await rt.restore()
            await rt.start(SPEC, "a")
            state: Deferred = (await rt.call("a", "work.deferred", {})).state
            return state

    async def second() -> Deferred:
        async with AsyncRuntime([SPEC], storage=SQLiteStorage(path)) as rt:
            await rt.restore()
            state: Deferred = rt.agent("a").state
            return state

    before = asyncio.run(first())
    assert len(before.later) == 2
    assert asyncio.run(second()) == before


@attrs.frozen
class Pair:
    """A field of two directive classes that their fields tell apart."""

    d: Emit | Schedule | None = None


def test_an_untagged_directive_written_before_tags_is_still_read() -> None:
    """What such a field held before it was tagged (``Emit`` and ``Schedule`` told apart by
    ``delay``) is read back as it was written."""
    spec = AgentSpec(name="p", state=Pair)
    agent = attrs.evolve(
        spec.new("a"), state=Pair(d=Schedule(delay=1.0, signal=Signal.draft("a.b")))
    )
    raw = to_dict(agent)
    assert raw["state"]["d"].pop("kind") == "schedule"
    assert agent_from_dict(raw, spec) == agent
