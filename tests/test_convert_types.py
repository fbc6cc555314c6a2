"""Typed values through the converter: enums that are ints or strings, numbers that are ints
or floats, as params and as state through a JSON round trip."""

from __future__ import annotations

import enum
from typing import Literal

import attrs
import pytest

from jido import (
    SELF,
    ActionResult,
    AgentSpec,
    Context,
    FrozenMap,
    ProblemKind,
    Route,
    Signal,
    Target,
    ToAgent,
    action,
    ok,
    step,
)
from jido.serde import agent_from_json, to_dict, to_json


class Level(enum.IntEnum):
    """An enum whose members are ints."""

    LOW = 1
    HIGH = 2


class Mode(enum.StrEnum):
    """An enum whose members are strings."""

    ON = "on"
    OFF = "off"


class Color(enum.Enum):
    """A plain enum with string values."""

    RED = "red"
    BLUE = "blue"


@attrs.frozen
class Knobs:
    """A state of enum fields."""

    level: Level = Level.LOW
    mode: Mode = Mode.ON
    color: Color = Color.RED
    maybe: Level | None = None


@attrs.frozen
class SetKnobs:
    """Params of enum fields."""

    level: Level
    mode: Mode
    color: Color = Color.RED


@action(params=SetKnobs)
def set_knobs(state: Knobs, p: SetKnobs, ctx: Context) -> ActionResult[Knobs]:
    assert type(p.level) is Level
    assert type(p.mode) is Mode
    return ok(Knobs(p.level, p.mode, p.color, p.level))


KNOBS = AgentSpec(name="knobs", state=Knobs, routes=[Route(pattern="knobs.set", target=set_knobs)])


def _sig(data: object, type: str = "knobs.set") -> Signal:
    return Signal(type=type, source="/t", id="s1", data=data)


def test_enum_params_are_enum_members() -> None:
    """IntEnum and StrEnum params arrive as members, not as the bare int or str."""
    result = step(KNOBS, KNOBS.new("k"), _sig({"level": 2, "mode": "off", "color": "blue"}))
    assert result.problems == ()
    state = result.agent.state
    assert (type(state.level), type(state.mode), type(state.color)) == (Level, Mode, Color)
    assert state == Knobs(Level.HIGH, Mode.OFF, Color.BLUE, Level.HIGH)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"level": 99, "mode": "on"}, "$.level"),
        ({"level": 1, "mode": "bogus"}, "$.mode"),
        ({"level": True, "mode": "on"}, "$.level"),
        ({"level": "1", "mode": "on"}, "$.level"),
        ({"level": 1.0, "mode": "on"}, "$.level"),
        ({"level": 1, "mode": "on", "color": 1}, "$.color"),
    ],
)
def test_enum_params_refuse_what_is_no_member(data: dict[str, object], field: str) -> None:
    """A value no member has (or a member's value in another type) is a params problem."""
    agent = KNOBS.new("k")
    result = step(KNOBS, agent, _sig(data))
    assert [p.kind for p in result.problems] == [ProblemKind.PARAMS]
    assert field in str(result.problems[0].details["errors"])
    assert result.agent == agent


@attrs.frozen
class Pick:
    """Params of a Literal field."""

    side: Literal["buy", "sell"]


@action(params=Pick)
def pick(state: Knobs, p: Pick, ctx: Context) -> ActionResult[Knobs]:
    return ok(state)


def test_a_literal_param_refused_says_what_it_may_be() -> None:
    """A value outside a Literal is a params problem listing the values allowed, not
    cattrs' "unknown error"."""
    spec = AgentSpec(name="pick", state=Knobs, routes=[Route(pattern="pick", target=pick)])
    result = step(spec, spec.new("p"), _sig({"side": "hold"}, type="pick"))
    (problem,) = result.problems
    assert problem.details["errors"] == ("expected one of 'buy', 'sell' @ $.side",)


def test_enum_state_round_trips_as_members() -> None:
    """A state of enum fields decodes to members, and encodes again to the same text."""
    agent = step(KNOBS, KNOBS.new("k"), _sig({"level": 2, "mode": "off"})).agent
    text = to_json(agent)
    back = agent_from_json(text, KNOBS)
    assert back == agent
    assert type(back.state.level) is Level
    assert type(back.state.mode) is Mode
    assert type(back.state.maybe) is Level
    assert to_json(back) == text


@attrs.frozen
class Numbers:
    """Number fields, declared every way round."""

    f: float = 0.0
    fi: float | int = 0
    i_f: int | float = 0
    opt: float | None = None


def test_an_int_stays_an_int_where_a_float_is_allowed() -> None:
    """An int in a float (or float-or-int) field keeps its type: the JSON text of a state is
    the same after a round trip."""
    spec = AgentSpec(name="nums", state=Numbers)
    agent = spec.new("n", Numbers(3, 4, 5, 6))
    text = to_json(agent)
    back = agent_from_json(text, spec)
    assert [type(v) for v in attrs.astuple(back.state)] == [int, int, int, int]
    assert to_json(back) == text
    floats = spec.new("n", Numbers(3.5, 4.5, 5.5, 6.5))
    again = agent_from_json(to_json(floats), spec)
    assert again == floats
    assert [type(v) for v in attrs.astuple(again.state)] == [float, float, float, float]


@action(params=Numbers)
def take_numbers(state: Numbers, p: Numbers, ctx: Context) -> ActionResult[Numbers]:
    return ok(p)


def test_int_params_in_float_fields_stay_ints() -> None:
    """Params declared ``float | int`` (or ``float``) receive an int as the int it is."""
    spec = AgentSpec(
        name="nums", state=Numbers, routes=[Route(pattern="n.set", target=take_numbers)]
    )
    result = step(spec, spec.new("n"), _sig({"f": 1, "fi": 2, "i_f": 3, "opt": 4}, "n.set"))
    assert result.problems == ()
    assert [type(v) for v in attrs.astuple(result.agent.state)] == [int, int, int, int]


@attrs.frozen
class Maps:
    """FrozenMap fields whose values need the codec's own hooks."""

    sets: FrozenMap[str, frozenset[int]] = attrs.field(factory=FrozenMap)
    targets: FrozenMap[str, Target] = attrs.field(factory=FrozenMap)
    pending: FrozenMap[str, Signal] = attrs.field(factory=FrozenMap)
    modes: FrozenMap[Mode, int] = attrs.field(factory=FrozenMap)


def test_frozen_map_values_use_the_codecs_hooks() -> None:
    """Inside a ``FrozenMap[K, V]`` a set is written sorted, a target with its kind tag, a
    signal in CloudEvents form, an enum key as its value: as inside a ``dict[K, V]``, and the
    agent round-trips."""
    spec = AgentSpec(name="maps", state=Maps)
    sig = Signal(type="a.b", source="/x", id="1", data={"k": 1}, extensions={"traceparent": "t"})
    state = Maps(
        sets=FrozenMap({"x": frozenset({3, 1, 2})}),
        targets=FrozenMap({"x": ToAgent("b"), "y": SELF}),
        pending=FrozenMap({"1": sig}),
        modes=FrozenMap({Mode.OFF: 1}),
    )
    agent = spec.new("a", state)
    encoded = to_dict(agent)["state"]
    assert encoded["sets"] == {"x": [1, 2, 3]}
    assert encoded["targets"] == {"x": {"kind": "agent", "id": "b"}, "y": {"kind": "self"}}
    assert encoded["pending"] == {"1": to_dict(sig)}
    assert encoded["modes"] == {"off": 1}
    back = agent_from_json(to_json(agent), spec)
    assert back == agent
    assert type(next(iter(back.state.modes))) is Mode
