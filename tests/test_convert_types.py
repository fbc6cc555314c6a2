"""Typed values through the converter: enums that are ints or strings, numbers that are ints
or floats, as params and as state through a JSON round trip."""

from __future__ import annotations

import datetime
import decimal
import enum
import uuid
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from typing import Any, Generic, Literal, NamedTuple, TypedDict, TypeVar

import attrs
import pytest

from jido import (
    SELF,
    ActionResult,
    AgentSpec,
    Context,
    FrozenMap,
    JsonValue,
    ProblemKind,
    Route,
    Signal,
    SpecError,
    Target,
    ToAgent,
    action,
    ok,
    step,
)
from jido.serde import DecodeError, agent_from_dict, agent_from_json, to_dict, to_json


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


class Prio(enum.Enum):
    """A plain enum with int values."""

    LOW = 1
    HIGH = 2


class Shade(enum.Enum):
    """An enum sharing a value with ``Color``."""

    RED = "red"


@attrs.frozen
class Keyed:
    """Maps keyed by every type whose keys JSON object keys give back."""

    prios: FrozenMap[Prio, int] = attrs.field(factory=FrozenMap)
    prio_dict: dict[Prio, int] = attrs.field(factory=dict)
    levels: FrozenMap[Level, int] = attrs.field(factory=FrozenMap)
    colors: FrozenMap[Color, int] = attrs.field(factory=FrozenMap)
    weights: FrozenMap[float, int] = attrs.field(factory=FrozenMap)
    flags: FrozenMap[bool, int] = attrs.field(factory=FrozenMap)
    ones: FrozenMap[Literal[1, 2], str] = attrs.field(factory=FrozenMap)
    letters: dict[Literal["a", "b"], int] = attrs.field(factory=dict)
    mixed: FrozenMap[Color | int, int] = attrs.field(factory=FrozenMap)


KEYED = AgentSpec(name="keyed", state=Keyed)


def test_map_keys_of_every_json_key_type_round_trip() -> None:
    """A map keyed by an enum (int- or str-valued), a float, a bool, a Literal or a union
    of them whose texts differ gives its keys back as they were, of their own types: JSON
    writes each key as text, and the key's type reads exactly that text back."""
    state = Keyed(
        prios=FrozenMap({Prio.LOW: 3, Prio.HIGH: 4}),
        prio_dict={Prio.HIGH: 1},
        levels=FrozenMap({Level.HIGH: 1}),
        colors=FrozenMap({Color.BLUE: 1}),
        weights=FrozenMap({1.5: 1, 2: 2, 1e22: 3, -0.0: 4}),
        flags=FrozenMap({True: 1, False: 0}),
        ones=FrozenMap({2: "two"}),
        letters={"b": 2},
        mixed=FrozenMap({Color.RED: 1, 7: 2}),
    )
    agent = KEYED.new("k", state)
    text = to_json(agent)
    back = agent_from_json(text, KEYED)
    assert back == agent
    assert to_json(back) == text
    keys = [k for m in attrs.astuple(back.state, recurse=False) for k in m]
    assert [type(k) for k in keys] == [
        *[Prio] * 3,
        Level,
        Color,
        float,
        int,
        float,
        float,
        bool,
        bool,
        int,
        str,
        Color,
        int,
    ]


@pytest.mark.parametrize(
    ("field", "text", "reason"),
    [
        ("prios", '{"3": 1}', "expected a key of Prio"),
        ("weights", '{"1e22": 1}', "expected a key of float"),
        ("weights", '{"01": 1}', "expected a key of float"),
        ("flags", '{"True": 1}', "expected a key of bool"),
        ("ones", '{"1.0": "x"}', "expected a key of Literal"),
        ("mixed", '{"blue": 1, "x": 2}', "expected a key of"),
    ],
)
def test_map_keys_no_value_of_the_key_type_is_written_as_are_refused(
    field: str, text: str, reason: str
) -> None:
    """A key no value of the key type is written as (a float not in its shortest form, a
    bool spelled otherwise) is a DecodeError: decoding takes only what it writes back."""
    good = to_json(KEYED.new("k"))
    bad = good.replace(f'"{field}":{{}}', f'"{field}":{text}')
    assert bad != good
    with pytest.raises(DecodeError, match=reason):
        agent_from_json(bad, KEYED)


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        (tuple[int, int], "no key type JSON can hold"),
        (int | str, "int and str keys may be written as the same text"),
        (float | int, "keys may be written as the same text"),
        (int | None, "NoneType is no key type JSON can hold"),
        (Literal[1, "1"], "are both written as the key '1'"),
        (Level | int, "are both written as the key '1'"),
        (Color | str, "are both written as the key 'red'"),
    ],
)
def test_map_key_types_json_cannot_give_back_are_refused_with_the_spec(
    key: object, reason: str
) -> None:
    """A map key type whose keys JSON object keys (strings) cannot give back, or cannot tell
    apart, is a SpecError naming the field: not an agent that fails its first restore."""
    cls = attrs.make_class("Bad", {"counts": attrs.field(type=FrozenMap[key, int])}, frozen=True)  # type: ignore[valid-type]
    with pytest.raises(SpecError, match=rf"field 'counts' .*{reason}"):
        AgentSpec(name="bad", state=cls)


@pytest.mark.parametrize(
    ("annotation", "reason"),
    [
        (str | Color, "Color is written as its values, and str reads 'red' too"),
        (Color | str, "Color is written as its values, and str reads 'red' too"),
        (int | Level, "Level is written as its values, and int reads 1 too"),
        (float | Prio | None, "Prio is written as its values, and float reads 1 too"),
        (Color | Shade, "Shade is written as its values, and Color reads 'red' too"),
        (Literal["red", "x"] | Color, "Color is written as its values, and Literal"),
    ],
)
def test_a_union_of_an_enum_and_a_member_reading_its_values_is_refused(
    annotation: Any, reason: str
) -> None:
    """A union holding an enum and another member that reads the enum's values (``str |
    Color``) cannot round-trip: the member is written as its value, and reading tries the
    members in order, so one would come back as the other. The spec refuses it, saying so."""
    cls = attrs.make_class("Paint", {"color": attrs.field(type=annotation)}, frozen=True)
    with pytest.raises(SpecError, match=rf"field 'color' .*{reason}"):
        AgentSpec(name="paint", state=cls)


@attrs.frozen
class Either:
    """Unions of an enum and members no enum value is read by."""

    color: int | Color = 0
    level: Level | str = ""
    maybe: Color | Level | None = None


def test_a_union_of_an_enum_and_members_of_other_json_kinds_round_trips() -> None:
    """Where no other member reads the enum's values, its members come back as members and
    the other values as themselves, whatever the order."""
    spec = AgentSpec(name="either", state=Either)
    for state in (Either(Color.RED, Level.HIGH, Level.LOW), Either(3, "1", Color.BLUE)):
        agent = spec.new("e", state)
        back = agent_from_json(to_json(agent), spec)
        assert back == agent
        assert [type(v) for v in attrs.astuple(back.state)] == [
            type(v) for v in attrs.astuple(state)
        ]


@attrs.frozen
class Loose:
    """A field typed ``object``: any value, as ``Any``."""

    payload: object = None


def test_an_object_field_round_trips_as_any_does() -> None:
    """A field typed ``object`` reads any JSON value back, frozen, as one typed ``Any``."""
    spec = AgentSpec(name="loose", state=Loose)
    agent = spec.new("l", Loose(FrozenMap({"a": (1, "x", None)})))
    assert agent_from_json(to_json(agent), spec) == agent


@attrs.frozen
class Inner:
    """A nested state class holding a type JSON has no form for."""

    at: datetime.date


@pytest.mark.parametrize(
    ("annotation", "where", "instead"),
    [
        (datetime.date, "x", "a datetime"),
        (datetime.time, "x", "seconds since midnight"),
        (datetime.timedelta, "x", "a number of seconds"),
        (decimal.Decimal | None, "x", "an int of the smallest unit"),
        (tuple[uuid.UUID, ...], "x", "its text"),
        (FrozenMap[str, bytes], "x", "text"),
        (Inner, "x.at", "a datetime"),
    ],
)
def test_field_types_json_has_no_form_for_are_refused_with_the_spec(
    annotation: Any, where: str, instead: str
) -> None:
    """A field (or what a field holds, or a field of a nested class) of a type JSON has no
    form for the codec reads back is a SpecError naming it and what to hold instead: not an
    EncodeError at the first snapshot."""
    cls = attrs.make_class("Dated", {"x": attrs.field(type=annotation)}, frozen=True)
    with pytest.raises(SpecError, match=rf"field '{where}' .*JSON has no .*hold .*{instead}"):
        AgentSpec(name="dated", state=cls)
    timed = attrs.make_class("Timed", {"at": attrs.field(type=datetime.datetime)}, frozen=True)
    AgentSpec(name="timed", state=timed)  # a datetime, a date's subclass, is RFC 3339 text


class Cents:
    """A plain class: no JSON form the codec reads back."""

    def __init__(self, n: int) -> None:
        self.n = n


def test_a_plain_class_field_is_refused_with_the_spec() -> None:
    """A field of a class the codec has no JSON form for (no attrs class, dataclass, enum
    or scalar) is a SpecError naming it and what to hold instead."""
    annotation: Any = Cents | None
    cls = attrs.make_class("Till", {"x": attrs.field(type=annotation)}, frozen=True)
    with pytest.raises(SpecError, match=r"field 'x' \(Cents\): the codec has no JSON form"):
        AgentSpec(name="till", state=cls)


@attrs.frozen
class KeyedJson:
    """Maps keyed by an enum whose values are any JSON."""

    notes: FrozenMap[Prio, JsonValue] = attrs.field(factory=FrozenMap)
    extra: dict[Level, object] = attrs.field(factory=dict)


def test_map_keys_are_read_by_their_type_whatever_the_values() -> None:
    """A map of JSON values keyed by an enum reads its keys back as members too."""
    spec = AgentSpec(name="keyed.json", state=KeyedJson)
    agent = spec.new("k", KeyedJson(FrozenMap({Prio.HIGH: (1, "x")}), {Level.LOW: None}))
    back = agent_from_json(to_json(agent), spec)
    assert back == agent
    assert list(back.state.notes) == [Prio.HIGH]


class Point(NamedTuple):
    """Annotated, in this module, as strings (``from __future__ import annotations``)."""

    x: int
    label: str = "origin"


@attrs.frozen
class Plotted:
    at: Point = attrs.field(factory=lambda: Point(0))
    trail: tuple[Point, ...] = ()


PLOTTED = AgentSpec(name="plotted", state=Plotted)


def test_a_named_tuple_annotated_as_strings_round_trips() -> None:
    """A NamedTuple is read as the fixed tuple of its fields' types, resolved: cattrs alone
    read its annotations as written, the strings postponed annotations leave, and failed."""
    agent = PLOTTED.new("p", Plotted(Point(2, "b"), (Point(3),)))
    back = agent_from_json(to_json(agent), PLOTTED)
    assert back == agent
    assert type(back.state.at) is Point
    with pytest.raises(DecodeError, match=r"expected Point @ \$\.at"):
        agent_from_dict({**to_dict(agent), "state": {"at": [1]}}, PLOTTED)


@pytest.mark.parametrize(
    "annotation",
    [
        FrozenMap[Any, Any],
        dict[Any, Any],
        Mapping[Any, Any],
        FrozenMap[Any, JsonValue],
        FrozenMap[Any, int],
        dict[object, object],
    ],
)
def test_a_map_keyed_by_any_reads_its_keys_as_text(annotation: Any) -> None:
    """A map keyed by ``Any`` or ``object`` builds, and gives its keys back as the text JSON
    holds them, as an untyped map does."""
    cls = attrs.make_class("Loosely", {"m": attrs.field(type=annotation)}, frozen=True)
    spec: AgentSpec[Any] = AgentSpec(name="loosely", state=cls)
    agent = spec.new("l", cls(FrozenMap({"k": 1})))
    assert agent_from_json(to_json(agent), spec) == agent


def test_a_refusal_names_json_value_as_written() -> None:
    """An error names ``JsonValue`` so, not as the union it expands to."""
    annotation: Any = FrozenMap[bytes, JsonValue]
    cls = attrs.make_class("Bytes", {"m": attrs.field(type=annotation)}, frozen=True)
    with pytest.raises(SpecError, match=r"field 'm' \(FrozenMap\[bytes, JsonValue\]\): its"):
        AgentSpec(name="bytes", state=cls)


class Perm(enum.IntFlag):
    """Flags an int value combines."""

    R = 1
    W = 2


class Bits(enum.Flag):
    """Flags of a plain Flag."""

    A = 1
    B = 2


@attrs.frozen
class Flagged:
    perms: FrozenMap[Perm, int] = attrs.field(factory=FrozenMap)
    bits: FrozenMap[Bits, int] = attrs.field(factory=FrozenMap)


def test_a_map_keyed_by_flags_round_trips_any_combination() -> None:
    """A flag key is written as its int value and read back by it: a combination of
    members, or none, as a single member."""
    spec = AgentSpec(name="flagged", state=Flagged)
    state = Flagged(
        FrozenMap({Perm.R | Perm.W: 1, Perm(0): 2, Perm.W: 3}),
        FrozenMap({Bits.A | Bits.B: 1, Bits(0): 2}),
    )
    agent = spec.new("f", state)
    back = agent_from_json(to_json(agent), spec)
    assert back == agent
    assert [type(k) for k in back.state.perms] == [Perm] * 3
    bad = to_json(agent).replace('"3":1', '"4":1')
    with pytest.raises(DecodeError, match="expected a key of Bits"):
        agent_from_json(bad, spec)


class Dated(NamedTuple):
    on: datetime.date


class DatedDict(TypedDict):
    on: datetime.date


T = TypeVar("T")


@attrs.frozen
class Box(Generic[T]):
    item: T


class Pair(enum.Enum):
    """An enum whose values are no JSON scalars."""

    A = (1, 2)


@pytest.mark.parametrize(
    ("annotation", "reason"),
    [
        (Dated, r"field 'x\.on' \(date\): JSON has no date"),
        (DatedDict, r"field 'x\.on' \(date\): JSON has no date"),
        (Box[datetime.date], r"field 'x\.item' \(date\): JSON has no date"),
        (tuple[Box[datetime.date], ...], r"field 'x\.item' \(date\): JSON has no date"),
        (Pair, r"field 'x' \(Pair\): <Pair\.A: \(1, 2\)> is written as its value"),
        (enum.Enum, r"field 'x' \(Enum\): an enum without members"),
    ],
)
def test_what_a_named_tuple_typed_dict_generic_or_enum_cannot_give_back_is_refused(
    annotation: Any, reason: str
) -> None:
    """The fields of a NamedTuple, a TypedDict and a generic attrs class (as its parameters
    are bound) are checked as an attrs class's are; an enum must have members whose values
    JSON gives back."""
    cls = attrs.make_class("Held", {"x": attrs.field(type=annotation)}, frozen=True)
    with pytest.raises(SpecError, match=reason):
        AgentSpec(name="held", state=cls)


class Painted(NamedTuple):
    """Annotated as strings: its enum field is written by its resolved type."""

    n: int
    color: Color


@attrs.frozen
class Tree:
    """A recursive class, annotated as strings, holding an enum-keyed map of itself."""

    v: int = 0
    kids: FrozenMap[Color, Tree] = attrs.field(factory=FrozenMap)


@attrs.frozen
class Held:
    painted: Painted = attrs.field(factory=lambda: Painted(1, Color.RED))
    tree: Tree = Tree(1, FrozenMap({Color.BLUE: Tree(2, FrozenMap({Color.RED: Tree()}))}))
    nums: AbstractSet[int] = frozenset({1, 2})


def test_named_tuples_recursive_maps_and_sets_round_trip() -> None:
    """A NamedTuple's enum field is written as its value, an enum-keyed map a recursive
    class holds (cattrs finds its hook by the value's class) writes its keys as values, and
    a set named abstractly comes back a frozenset."""
    spec = AgentSpec(name="held", state=Held)
    agent = spec.new("h")
    back = agent_from_json(to_json(agent), spec)
    assert back == agent
    assert type(back.state.nums) is frozenset


@attrs.frozen
class Spot:
    x: int = 1
    y: int = 2


@attrs.frozen
class Tag:
    name: str = "t"


@attrs.frozen
class Label:
    name: str = "l"


@attrs.frozen
class Named:
    name: str


@attrs.frozen
class Sized:
    size: int


@pytest.mark.parametrize(
    ("annotation", "reason"),
    [
        (str | datetime.datetime, "a datetime would come back as a str"),
        (datetime.datetime | str, "a str would come back as a datetime, or a datetime as a str"),
        (FrozenMap[str, int] | Spot, "a Spot would come back as a FrozenMap\\[str, int\\]"),
        (JsonValue | Spot, "a Spot would come back as a FrozenMap\\[str, JsonValue\\]"),
        (JsonValue | Color, "Color is written as its values, and str reads 'red' too"),
        (Tag | Label, "a union of Tag and Label reads an object by a field only one"),
        (tuple[int, ...] | frozenset[int], "a frozenset\\[int\\] would come back as a tuple"),
    ],
)
def test_a_union_whose_members_json_forms_overlap_is_refused(annotation: Any, reason: str) -> None:
    """A union whose members' JSON forms overlap (a member reads what a later one writes,
    or cattrs cannot tell its classes apart) is a SpecError saying which member would come
    back as which."""
    cls = attrs.make_class("Mixed", {"x": attrs.field(type=annotation)}, frozen=True)
    with pytest.raises(SpecError, match=rf"field 'x' .*{reason}"):
        AgentSpec(name="mixed", state=cls)


@attrs.frozen
class Apart:
    """Unions whose members' JSON forms do not overlap."""

    maybe: int | None = None
    spot: Spot | None = None
    either: str | int = 0
    shape: tuple[int, ...] | Spot = ()
    thing: Named | Sized = Sized(1)
    level: Level | float = 1.5


def test_a_union_whose_members_json_forms_differ_round_trips() -> None:
    """Unions whose members JSON tells apart (by kind, by a field only one class requires;
    a float written ``1.0``, never an IntEnum's ``1``) give each value back as itself."""
    spec = AgentSpec(name="apart", state=Apart)
    for state in (
        Apart(),
        Apart(3, Spot(), "x", Spot(4, 5), Named("n"), Level.LOW),
        Apart(level=1.0),
    ):
        back = agent_from_json(to_json(spec.new("a", state)), spec).state
        assert back == state
        assert [type(v) for v in attrs.astuple(back, recurse=False)] == [
            type(v) for v in attrs.astuple(state, recurse=False)
        ]


@pytest.mark.parametrize(("field", "key"), [("weights", "-0"), ("mixed", "-0")])
def test_a_negative_zero_key_is_no_int_key(field: str, key: str) -> None:
    """``-0`` is no text JSON writes for an int (``0``) or a float (``-0.0``) key."""
    good = to_json(KEYED.new("k"))
    bad = good.replace(f'"{field}":{{}}', f'"{field}":{{"{key}":1}}')
    with pytest.raises(DecodeError, match="expected a key of"):
        agent_from_json(bad, KEYED)
