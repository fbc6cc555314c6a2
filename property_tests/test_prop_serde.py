"""Properties of ``jido.serde``: every signal, directive, problem and agent round-trips."""

from __future__ import annotations

import enum
import json
from datetime import UTC, datetime
from typing import Any, Literal

import attrs
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from jido import (
    FSM,
    ActionResult,
    Agent,
    AgentSpec,
    Context,
    Directive,
    FrozenMap,
    InvalidSignal,
    JsonValue,
    NoParams,
    Plugin,
    Problem,
    Route,
    Signal,
    Transition,
    action,
    freeze,
    lone_surrogate,
    ok,
    serde,
)
from jido._json import MAX_INT_DIGITS
from jido.testing import agents, directives, json_values, problems, signals

# ---------------------------------------------------------------- example specs


@attrs.frozen
class Address:
    city: str = ""
    zip: str | None = None


@attrs.frozen
class Profile:
    count: int = 0
    name: str = ""
    ratio: float = 0.0
    enabled: bool = False
    nickname: str | None = None
    tags: tuple[str, ...] = ()
    scores: FrozenMap[str, int] = attrs.field(factory=FrozenMap)
    data: FrozenMap[str, JsonValue] = attrs.field(factory=FrozenMap)
    address: Address = Address()
    seen: datetime | None = None


@action()
def noop(state: Profile, params: NoParams, ctx: Context) -> ActionResult[Profile]:
    """Change nothing."""
    return ok(None)


PROFILE_SPEC = AgentSpec(
    name="profile", state=Profile, routes=[Route(pattern="profile.touch", target=noop)]
)


@attrs.frozen
class Door:
    opened: int = 0


@attrs.frozen
class Audit:
    entries: tuple[str, ...] = ()
    last: str | None = None


@action()
def note(state: Audit, params: NoParams, ctx: Context) -> ActionResult[Audit]:
    """Record nothing."""
    return ok(None)


@action()
def open_door(state: Door, params: NoParams, ctx: Context) -> ActionResult[Door]:
    """Open the door."""
    return ok(attrs.evolve(state, opened=state.opened + 1))


DOOR_SPEC = AgentSpec(
    name="door",
    state=Door,
    strategy=FSM(
        "closed",
        [
            Transition(source="closed", on="door.open", target="open", action=open_door),
            Transition(source="open", on="door.close", target="closed"),
            Transition(source="*", on="door.lock", target="locked"),
        ],
    ),
    plugins=[
        Plugin(name="audit", state=Audit, routes=[Route(pattern="audit.**", target=note)]),
    ],
)

_short_text = st.text(max_size=10)
profile_states = st.builds(
    Profile,
    count=st.integers(),
    name=_short_text,
    ratio=st.floats(allow_nan=False, allow_infinity=False),
    enabled=st.booleans(),
    nickname=st.none() | _short_text,
    tags=st.lists(_short_text, max_size=3).map(tuple),
    scores=st.dictionaries(_short_text, st.integers(), max_size=3).map(FrozenMap),
    data=st.dictionaries(_short_text, json_values(), max_size=3).map(FrozenMap),
    address=st.builds(Address, city=_short_text, zip=st.none() | _short_text),
    seen=st.none()
    | st.datetimes(
        min_value=datetime(1970, 1, 1),
        max_value=datetime(2200, 1, 1),
        timezones=st.sampled_from([None, UTC]),
    ),
)


# ---------------------------------------------------------------- properties


@given(signals())
def test_signal_round_trips_through_json(s: Signal) -> None:
    """signal_from_json(to_json(s)) == s for every valid signal."""
    text = serde.to_json(s)
    assert serde.signal_from_json(text) == s
    # Equality cannot tell 1 from True or 1.0: the text written again must be the same.
    assert serde.to_json(serde.signal_from_json(text)) == text
    # The wire form is CloudEvents JSON: required attributes at the top level.
    raw = json.loads(text)
    assert raw["specversion"] == "1.0"
    assert (raw["id"], raw["source"], raw["type"]) == (s.id, s.source, s.type)


@given(signals())
def test_signal_round_trip_keeps_the_hash(s: Signal) -> None:
    """A decoded signal hashes like the original, so it can key the same dict entry."""
    assert hash(serde.signal_from_json(serde.to_json(s))) == hash(s)


# Any text, lone surrogates included (what ``st.text()`` never draws). Joined from a list:
# ``st.text`` over the same alphabet merges it into the codec's and drops the surrogates.
_any_text = st.text(max_size=8) | st.lists(
    st.characters(codec="utf-8") | st.characters(categories=["Cs"]), max_size=8
).map("".join)


@given(_any_text, _any_text)
def test_any_string_freeze_accepts_round_trips_through_json(text: str, key: str) -> None:
    """A string ``freeze`` accepts, as a value or a key, is Unicode text: a signal carrying it
    in any field round-trips through JSON text (and its UTF-8 bytes). One it refuses holds a
    lone surrogate, and so does the signal refuse it, whatever the field."""
    value = {key: [text, {text: key}]}
    lone = lone_surrogate(value)
    if lone is not None:
        with pytest.raises(TypeError, match=rf"holds a lone surrogate \(\\u{ord(lone):04x}\)"):
            freeze(value)
        given: dict[str, Any] = {"type": "a.b", "source": "/t", "id": "1"}
        fields: list[tuple[str, object]] = [("data", value)]
        if lone_surrogate(text) is not None:
            fields += [("subject", "s" + text), ("extensions", {"note": text})]
            fields += [("source", "/" + text), ("id", "id:" + text)]
        for name, bad in fields:
            with pytest.raises(InvalidSignal) as refused:
                Signal(**{**given, name: bad})
            assert refused.value.field == name
        return
    frozen = freeze(value)
    signal = Signal(
        type="a.b",
        source="/" + text,
        id="id:" + key,
        subject="s" + text,
        data=frozen,
        extensions={"note": text + key},
    )
    assert serde.signal_from_json(serde.to_json(signal)) == signal
    assert serde.signal_from_json(serde.to_json(signal).encode("utf-8")) == signal


_LIMIT = 10**MAX_INT_DIGITS  # the least integer of MAX_INT_DIGITS + 1 digits


@given(
    st.sampled_from([_LIMIT - 1, _LIMIT, 1 - _LIMIT, -_LIMIT])
    | st.integers(min_value=-10 * _LIMIT, max_value=10 * _LIMIT)
    | st.integers()
)
def test_any_integer_freeze_accepts_round_trips_through_json(n: int) -> None:
    """An integer ``freeze`` accepts has at most 4300 digits and round-trips in a signal;
    one of more is refused, by the signal too."""
    if not -_LIMIT < n < _LIMIT:
        with pytest.raises(TypeError, match="more than 4300 digits"):
            freeze({"n": n, "ns": [n]})
        with pytest.raises(InvalidSignal, match="more than 4300 digits"):
            Signal(type="a.b", source="/t", id="1", data=[n])
        return
    frozen = freeze({"n": n, "ns": [n]})
    signal = Signal(type="a.b", source="/t", id="1", data=frozen)
    assert serde.signal_from_json(serde.to_json(signal)) == signal


@given(directives())
def test_directive_round_trips_through_json(d: Directive) -> None:
    """directive_from_json(to_json(d)) == d for every built-in directive."""
    back = serde.directive_from_json(serde.to_json(d))
    assert type(back) is type(d)
    assert back == d


@given(problems())
def test_problem_round_trips_through_dict(p: Problem) -> None:
    """problem_from_dict(to_dict(p)) == p, also after a trip through JSON text."""
    assert serde._default.problem_from_dict(serde.to_dict(p)) == p
    assert serde._default.problem_from_dict(json.loads(serde.to_json(p))) == p


@given(agents(PROFILE_SPEC, states=profile_states))
def test_agent_with_rich_state_round_trips(a: Agent[Profile]) -> None:
    """agent_from_json(to_json(a), spec) == a for scalar, optional, tuple, map and nested state."""
    assert serde.agent_from_json(serde.to_json(a), PROFILE_SPEC) == a


@given(agents(PROFILE_SPEC))
def test_agent_with_default_state_round_trips(a: Agent[Profile]) -> None:
    """agent_from_json(to_json(a), spec) == a for agents drawn with the default states."""
    assert serde.agent_from_json(serde.to_json(a), PROFILE_SPEC) == a


@attrs.frozen
class Required:
    """A state whose fields have no defaults, of the types jido states are made of: the
    default strategy infers each from its annotation."""

    counts: FrozenMap[str, int]
    blob: JsonValue
    names: tuple[str, ...]
    pair: tuple[int, str]
    either: int | str
    nested: FrozenMap[str, tuple[int, ...]]


REQUIRED_SPEC = AgentSpec(name="required", state=Required)


@given(agents(REQUIRED_SPEC))
def test_agents_infer_states_made_of_jido_types(a: Agent[Required]) -> None:
    """``agents(spec)`` draws states whose fields are FrozenMaps, JSON values, tuples and
    unions of them, and those agents round-trip."""
    assert isinstance(a.state.counts, FrozenMap)
    assert serde.agent_from_json(serde.to_json(a), REQUIRED_SPEC) == a


class Prio(enum.Enum):
    LOW = 1
    HIGH = 2


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@attrs.frozen
class KeyedRequired:
    """Maps keyed by every key type JSON object keys give back, and an enum union whose
    members no other member reads: the default strategy infers each from its annotation."""

    prios: FrozenMap[Prio, int]
    prio_dict: dict[Prio, int]
    colors: FrozenMap[Color, str]
    weights: FrozenMap[float, int]
    flags: FrozenMap[bool, int]
    ones: FrozenMap[Literal[1, 2, "x"], int]
    mixed: dict[Color | int, int]
    paint: int | Color | None
    loose: object


KEYED_SPEC = AgentSpec(name="keyed", state=KeyedRequired)


@given(agents(KEYED_SPEC))
def test_agents_with_maps_keyed_by_json_key_types_round_trip(a: Agent[KeyedRequired]) -> None:
    """An agent whose maps are keyed by enums, floats, bools, Literals or unions of them,
    with enum unions and an ``object`` field, round-trips exactly, its keys of their types."""
    back = serde.agent_from_json(serde.to_json(a), KEYED_SPEC)
    assert back == a
    assert [type(k) for k in back.state.weights] == [type(k) for k in a.state.weights]
    assert [type(k) for k in back.state.mixed] == [type(k) for k in a.state.mixed]
    assert type(back.state.paint) is type(a.state.paint)


audit_slices = st.builds(
    Audit,
    entries=st.lists(_short_text, max_size=3).map(tuple),
    last=st.none() | _short_text,
)


@given(
    agents(DOOR_SPEC, states=st.builds(Door, opened=st.integers(min_value=0))),
    audit_slices,
)
def test_agent_with_plugin_slice_and_fsm_status_round_trips(a: Agent[Door], audit: Audit) -> None:
    """An FSM agent with a plugin slice round-trips, status and slice included."""
    a = attrs.evolve(a, slices=a.slices.set("audit", audit))
    assert a.status in ("closed", "open", "locked")
    back = serde.agent_from_json(serde.to_json(a), DOOR_SPEC)
    assert back == a
    assert back.slices["audit"] == audit


# ---------------------------------------------------------------- sets and unknown kinds


@attrs.frozen
class Tagged:
    names: frozenset[str] = frozenset()
    ids: frozenset[int] = frozenset()


TAGGED_SPEC = AgentSpec(name="tagged", state=Tagged)


@given(st.lists(st.text(max_size=6), max_size=12), st.lists(st.integers(), max_size=12))
def test_sets_in_state_encode_sorted_whatever_the_insertion_order(
    names: list[str], ids: list[int]
) -> None:
    """A set field encodes as its sorted elements; building the set in the reverse order gives
    the same text; the agent round-trips exactly."""
    forward = TAGGED_SPEC.new("t", Tagged(names=frozenset(names), ids=frozenset(ids)))
    backward = TAGGED_SPEC.new("t", Tagged(names=frozenset(names[::-1]), ids=frozenset(ids[::-1])))
    text = serde.to_json(forward)
    assert serde.to_json(backward) == text
    state = json.loads(text)["state"]
    assert state["names"] == sorted(set(names))
    assert state["ids"] == sorted(set(ids))
    assert serde.agent_from_json(text, TAGGED_SPEC) == forward


#: The built-in wire tags, from the codec's own table (each drawn directive's tag must be one).
_KNOWN_KINDS = frozenset(serde._DIRECTIVE_TAGS.values())


@given(directives(), st.text(max_size=12))
def test_unknown_kinds_are_named_in_the_decode_error(d: Directive, kind: str) -> None:
    """Retagging a directive with a kind no class claims gives a DecodeError naming that kind
    and listing every known kind, the directive's real one included."""
    assume(kind not in _KNOWN_KINDS)
    raw = serde.to_dict(d)
    real = raw["kind"]
    raw["kind"] = kind
    with pytest.raises(serde.DecodeError) as info:
        serde.directive_from_dict(raw)
    listing = ", ".join(sorted(_KNOWN_KINDS))
    assert info.value.reason.startswith(
        f"unknown directive kind {kind!r}; known directive kinds: {listing}; "
    )
    assert real in _KNOWN_KINDS
