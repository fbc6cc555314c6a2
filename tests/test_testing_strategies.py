"""``jido.testing`` draws what it promises: agents JSON can hold, and signal types as given."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar

import attrs
import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

from jido import AgentSpec, Plugin
from jido.serde import agent_from_json, to_json
from jido.testing import agents, signal_types, signals


@attrs.frozen
class Required:
    """A state whose container fields have no defaults, so they are drawn."""

    weights: dict[str, float]
    levels: frozenset[float]
    sets: set[int]
    anything: dict[str, Any]


REQUIRED = AgentSpec(name="required", state=Required)


@settings(max_examples=200)
@given(agents(REQUIRED))
def test_drawn_containers_hold_only_what_json_can(agent: Any) -> None:
    """Floats inside dicts and sets are finite, and ``Any`` values are JSON: every drawn
    agent round-trips."""
    assert agent_from_json(to_json(agent), REQUIRED) == agent


@given(signals(types="ping"))
def test_one_type_as_a_string_is_that_type(signal: Any) -> None:
    """``types="ping"`` draws signals of the type ``ping``, not of its characters."""
    assert signal.type == "ping"


def test_a_bad_type_as_a_string_is_refused_whole() -> None:
    """An invalid type given as a string is named whole in the error."""
    with pytest.raises(ValueError, match=r"\['a\.\.b'\]"):
        signals(types="a..b")


def wrong(value: object) -> Any:
    """``value``, typed so that a call passing it is checked at run time only."""
    return value


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda: signals(types=wrong(5)), r"signals: types must be a strategy .* not 5"),
        (lambda: signals(types=wrong(["ping", 5])), r"signals: types must be strings, not \[5\]"),
        (lambda: signals(data=wrong(5)), r"signals: data must be a Hypothesis strategy .* not 5"),
        (lambda: agents(wrong("required")), r"agents: spec must be an AgentSpec, not 'required'"),
        (
            lambda: agents(REQUIRED, states=wrong(Required({}, frozenset(), set(), {}))),
            r"agents: states must be a Hypothesis strategy for Required values",
        ),
        (
            lambda: signal_types(max_segments=wrong("3")),
            r"signal_types: max_segments must be an int",
        ),
    ],
)
def test_bad_arguments_are_refused_when_the_strategy_is_made(make: Any, says: str) -> None:
    """Each names the function and the argument, before Hypothesis draws anything."""
    with pytest.raises(TypeError, match=says):
        make()


def test_a_signal_type_has_at_least_one_segment() -> None:
    with pytest.raises(ValueError, match="max_segments must be at least 1, got 0"):
        signal_types(max_segments=0)


@attrs.frozen
class Other:
    n: int = 0


def test_a_state_of_another_class_is_refused_when_drawn() -> None:
    """An agent of REQUIRED holding an ``Other`` would be no agent of REQUIRED."""
    with pytest.raises(TypeError, match=r"agents\('required'\): .* drew a Other, but spec"):
        find(agents(REQUIRED, states=st.just(Other())), lambda _: True)


def test_a_state_of_the_spec_class_is_drawn_as_given() -> None:
    state = Required({"a": 1.0}, frozenset(), set(), {})
    agent = find(agents(REQUIRED, states=st.just(state)), lambda _: True)
    assert agent.state == state


T = TypeVar("T")


@attrs.frozen
class Box(Generic[T]):
    """A generic class a state holds given its argument."""

    value: T
    more: list[T]


@attrs.frozen
class Shapes:
    """Field types ``st.from_type`` alone draws wrongly for a state."""

    seen: Sequence[int]
    at: datetime
    box: Box[int]


@attrs.frozen
class Hits:
    count: int = 0


SHAPES = AgentSpec(name="shapes", state=Shapes, plugins=[Plugin(name="hits", state=Hits)])


@settings(max_examples=200)
@given(agents(SHAPES))
def test_drawn_agents_are_ones_a_runtime_starts_and_storage_keeps(agent: Any) -> None:
    """The id is one ``AgentSpec.new`` takes (no line break, no control character); a
    ``Sequence`` field holds a list (what it decodes as), a ``datetime`` is aware (as the
    times runtimes stamp), a generic class is built with its argument; the agent
    round-trips."""
    assert SHAPES.new(agent.id, agent.state).id == agent.id
    assert isinstance(agent.state.seen, list)
    assert agent.state.at.tzinfo is not None
    assert all(isinstance(v, int) for v in [agent.state.box.value, *agent.state.box.more])
    assert agent_from_json(to_json(agent), SHAPES) == agent


def test_a_slice_may_be_drawn_from_a_strategy_of_ones_own() -> None:
    """``slices`` draws a plugin's slice where the default keeps its defaults."""
    drawn = find(
        agents(SHAPES, slices={"hits": st.builds(Hits, count=st.integers(1, 9))}),
        lambda a: True,
    )
    assert drawn.slices["hits"] == Hits(1)


@pytest.mark.parametrize(
    ("slices", "error", "says"),
    [
        ({"hitz": st.just(Hits())}, ValueError, r"slices names \['hitz'\] but spec 'shapes'"),
        ({"hits": Hits()}, TypeError, r"slices\['hits'\] must be a Hypothesis strategy"),
    ],
)
def test_bad_slices_are_refused_when_the_strategy_is_made(
    slices: dict[str, Any], error: type[Exception], says: str
) -> None:
    with pytest.raises(error, match=says):
        agents(SHAPES, slices=slices)
