"""What state ops write becomes what the state declares: signal data (frozen) set on a typed
field, values merged into a typed mapping, times in zones with rules, and where a rejected
value is reported."""

from __future__ import annotations

import dataclasses
import enum
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import attrs
import pytest

from jido import (
    ActionResult,
    Agent,
    AgentSpec,
    Context,
    DeletePath,
    FrozenMap,
    NoParams,
    Plugin,
    ProblemKind,
    ReplaceState,
    Route,
    SetPath,
    SetState,
    Signal,
    StateOp,
    action,
    ok,
    step,
)
from jido.serde import agent_from_json, to_json


@attrs.frozen
class Address:
    """A nested value."""

    city: str = ""


@attrs.frozen
class Item:
    """A nested value with a validator."""

    qty: int = attrs.field(default=0, validator=attrs.validators.ge(0))


@attrs.frozen
class Shop:
    """A state of typed fields and typed mappings."""

    address: Address | None = None
    tags: list[str] = attrs.field(factory=list)
    names: tuple[str, ...] = ()
    items: FrozenMap[str, Item] = attrs.field(factory=FrozenMap)
    scores: FrozenMap[str, list[int]] = attrs.field(factory=FrozenMap)
    stock: tuple[Item, ...] = ()
    n: int = attrs.field(default=0, validator=attrs.validators.ge(0))
    inner: Item = attrs.field(factory=Item)
    due: datetime | None = None
    log: tuple[datetime, ...] = ()


#: What the action applies: set per test through the signal type.
OPS: dict[str, tuple[StateOp, ...]] = {}


@action()
def apply(state: Shop, _: NoParams, ctx: Context) -> ActionResult[Shop]:
    assert ctx.signal is not None
    data = ctx.signal.data
    if ctx.signal.type == "from.data":
        assert isinstance(data, FrozenMap)
        return ok(None, ops=(SetPath("address", data["address"]), SetPath("tags", data["tags"])))
    if ctx.signal.type == "merge.data":
        return ok(None, ops=(SetState({"address": data}),))
    return ok(None, ops=OPS[ctx.signal.type])


SPEC = AgentSpec(name="shop", state=Shop, routes=[Route(pattern="**", target=apply)])


def run(type: str, data: object = None, ops: tuple[StateOp, ...] = ()) -> tuple[Shop, list[str]]:
    OPS[type] = ops
    result = step(SPEC, SPEC.new("s"), Signal(type=type, source="/t", id="1", data=data))
    assert agent_from_json(to_json(result.agent), SPEC) == result.agent
    return result.agent.state, [
        f"{p.kind}: {p.message} {p.details.get('path')}" for p in result.problems
    ]


def test_signal_data_set_on_a_typed_field_becomes_what_it_declares() -> None:
    """A FrozenMap or tuple from signal data set on an attrs field is structured into the
    field's type, as a plain dict or list is."""
    state, problems = run("from.data", {"address": {"city": "Oslo"}, "tags": ["x"]})
    assert problems == []
    assert state.address == Address("Oslo")
    assert type(state.address) is Address
    assert state.tags == ["x"]
    assert type(state.tags) is list


def test_signal_data_the_field_cannot_hold_is_refused() -> None:
    """Frozen data that does not fit the field is a state problem, the state unchanged."""
    state, problems = run("merge.data", {"nope": 5})
    assert state == Shop()
    assert len(problems) == 1
    assert problems[0].startswith("state:")


def test_values_merged_into_a_typed_mapping_become_its_value_type() -> None:
    """SetState and SetPath into ``FrozenMap[str, V]`` structure each value written as ``V``,
    and refuse what ``V`` cannot hold."""
    state, problems = run("m1", ops=(SetState({"items": {"k": {"qty": 2}}}),))
    assert problems == []
    assert state.items == {"k": Item(2)}
    assert type(state.items["k"]) is Item
    state, problems = run("m2", ops=(SetPath(("items", "k"), {"qty": 3}),))
    assert state.items == {"k": Item(3)}
    state, problems = run("m3", ops=(SetPath(("items", "k", "qty"), 4),))
    assert problems == []
    assert state.items == {"k": Item(4)}
    assert type(state.items["k"]) is Item
    state, problems = run("m4", ops=(SetState({"scores": {"x": [1, 2]}}),))
    assert state.scores == {"x": [1, 2]}
    assert type(state.scores["x"]) is list
    state, problems = run("m5", ops=(SetState({"items": {"k": "not an item"}}),))
    assert state == Shop()
    assert len(problems) == 1
    assert "('items', 'k')" in problems[0]


def test_typed_values_built_by_the_action_are_kept() -> None:
    """Values already of the declared type (instances, tuples of instances) are stored as
    they are."""
    stock = (Item(1), Item(2))
    state, problems = run("t1", ops=(SetPath("stock", stock), SetPath(("items", "a"), Item(5))))
    assert problems == []
    assert state.stock == stock
    assert state.items == {"a": Item(5)}
    state, problems = run("t2", ops=(SetState({"items": {"b": Item(6)}, "names": ("x",)}),))
    assert problems == []
    assert state.items == {"b": Item(6)}
    assert state.names == ("x",)


def test_a_collection_of_built_values_is_stored_as_it_is() -> None:
    """A tuple of instances the action built is stored as that very object, not rebuilt
    (a large collection written back on every step must cost nothing)."""
    stock = tuple(Item(i) for i in range(100))
    state, problems = run("t3", ops=(SetPath("stock", stock),))
    assert problems == []
    assert state.stock is stock


def _cents(value: object) -> int:
    """An amount (a number, or its text) in cents."""
    return round(Decimal(str(value)) * 100)


@attrs.frozen
class Priced:
    """A field whose attrs converter turns text into a number."""

    cents: int = attrs.field(default=0, converter=_cents)


@action()
def set_price(state: Priced, _: NoParams, ctx: Context) -> ActionResult[Priced]:
    assert ctx.signal is not None
    return ok(None, ops=(SetPath("cents", ctx.signal.data),))


def test_a_field_with_its_own_converter_converts_what_is_written() -> None:
    """A value written to a field with an attrs converter of its own (text to cents) is left
    to that converter, as ``attrs.evolve`` would, not refused for not being an int."""
    spec = AgentSpec(name="priced", state=Priced, routes=[Route(pattern="**", target=set_price)])
    result = step(spec, spec.new("p"), Signal(type="p.set", source="/t", id="1", data="1.50"))
    assert result.problems == ()
    assert result.agent.state.cents == 150


@attrs.frozen
class Money:
    """A number field, with no converter of its own."""

    total: int = 0


@action()
def set_total(state: Money, _: NoParams, ctx: Context) -> ActionResult[Money]:
    assert ctx.signal is not None
    return ok(None, ops=(SetPath("total", ctx.signal.data),))


def test_a_field_without_a_converter_is_refused_what_it_cannot_be() -> None:
    """Text written to an ``int`` field that has no converter is refused (the field would
    hold a str), the state unchanged."""
    spec = AgentSpec(name="money", state=Money, routes=[Route(pattern="**", target=set_total)])
    data = "not a number"
    result = step(spec, spec.new("m"), Signal(type="m.set", source="/t", id="1", data=data))
    assert result.agent.state == Money()
    (problem,) = result.problems
    assert "Money.total cannot hold 'not a number'" in problem.message


@attrs.frozen
class Ledger:
    """Typed collections."""

    stock: tuple[Item, ...] = ()
    by_id: FrozenMap[int, Item] = attrs.field(factory=FrozenMap)


@action()
def write(state: Ledger, _: NoParams, ctx: Context) -> ActionResult[Ledger]:
    assert ctx.signal is not None
    data = ctx.signal.data
    assert isinstance(data, FrozenMap)
    if ctx.signal.type == "l.append":
        return ok(None, ops=(SetPath("stock", (*state.stock, Item(1), data["item"])),))
    return ok(None, ops=(SetPath("by_id", FrozenMap({str(data["id"]): Item(3)})),))


LEDGER = AgentSpec(name="ledger", state=Ledger, routes=[Route(pattern="l.*", target=write)])


def _ledger(type: str, data: object) -> tuple[Ledger, tuple[str, ...]]:
    result = step(LEDGER, LEDGER.new("l"), Signal(type=type, source="/t", id="1", data=data))
    assert agent_from_json(to_json(result.agent), LEDGER) == result.agent
    return result.agent.state, tuple(p.message for p in result.problems)


def test_a_collection_mixing_built_values_and_data_is_structured_whole() -> None:
    """Signal data appended to a tuple of instances, and a map whose keys came as text, are
    made what the field declares, whatever comes first."""
    state, problems = _ledger("l.append", {"item": {"qty": 2}})
    assert problems == ()
    assert state.stock == (Item(1), Item(2))
    state, problems = _ledger("l.by_id", {"id": 7})
    assert problems == ()
    assert state.by_id.get(7) == Item(3)


def test_a_new_agent_from_a_mapping_follows_the_declared_types() -> None:
    """``AgentSpec.new(id, mapping)`` writes as SetState does."""
    agent = SPEC.new("s", {"items": {"k": {"qty": 2}}, "scores": {"x": [1]}})
    assert type(agent.state.items["k"]) is Item
    assert agent_from_json(to_json(agent), SPEC) == agent
    with pytest.raises(TypeError, match="items"):
        SPEC.new("s", {"items": {"k": 5}})


FOLD = datetime(2024, 11, 3, 1, 30, tzinfo=ZoneInfo("America/New_York"))


@action()
def set_due(state: Shop, _: NoParams, ctx: Context) -> ActionResult[Shop]:
    return ok(attrs.evolve(state, due=FOLD, log=(FOLD, FOLD.replace(fold=1))))


def test_a_zoned_time_in_state_round_trips_across_a_fold() -> None:
    """A time in a zone with rules enters the state as the instant at its offset (as a
    Signal's time does), so the agent equals its JSON round trip even in a DST fold: set by
    an op, by a new state, or given to ``AgentSpec.new``."""
    spec = AgentSpec(name="due", state=Shop, routes=[Route(pattern="due", target=set_due)])
    by_op, problems = run("d1", ops=(SetPath("due", FOLD),))
    assert problems == []
    assert by_op.due == FOLD.astimezone(UTC)
    assert by_op.due is not None
    assert by_op.due.utcoffset() == timedelta(hours=-4)
    agent = step(spec, spec.new("a"), Signal(type="due", source="/t", id="1")).agent
    assert agent_from_json(to_json(agent), spec) == agent
    assert agent.state.log[1].utcoffset() == timedelta(hours=-5)
    given = spec.new("a", Shop(due=FOLD))
    assert agent_from_json(to_json(given), spec) == given
    # An agent built directly (as a test or a Hypothesis strategy may), then stepped on a
    # change to another field: its time too is at its offset.
    OPS["bump"] = (SetPath("n", 1),)
    built = Agent(id="a", spec="shop", state=Shop(due=FOLD))
    after = step(SPEC, built, Signal(type="bump", source="/t", id="2")).agent
    assert after.state.n == 1
    assert agent_from_json(to_json(after), SPEC) == after


@attrs.frozen
class Due:
    """A plugin's slice holding a time."""

    due: datetime | None = None
    n: int = 0


@action()
def bump_slice(state: Due, _: NoParams, ctx: Context) -> ActionResult[Due]:
    return ok(attrs.evolve(state, n=state.n + 1))


def test_a_zoned_time_in_a_slice_is_fixed_however_the_agent_is_built() -> None:
    """A plugin's slice enters an agent as its state does: a time in a zone with rules at
    its offset, so an agent built directly, then stepped on another field of the slice,
    equals its JSON round trip even in a DST fold."""
    spec = AgentSpec(
        name="due",
        state=Shop,
        plugins=[Plugin(name="p", state=Due, routes=[Route(pattern="bump", target=bump_slice)])],
    )
    late = FOLD.replace(fold=1)
    built = Agent(id="a", spec="due", state=Shop(), slices={"p": Due(due=late)})
    held = built.slices["p"].due
    assert held is not None
    assert type(held.tzinfo) is timezone
    assert held.utcoffset() == timedelta(hours=-5)
    assert agent_from_json(to_json(built), spec) == built
    after = step(spec, built, Signal(type="bump", source="/t", id="1")).agent
    assert after.slices["p"].n == 1
    assert agent_from_json(to_json(after), spec) == after


@pytest.mark.parametrize(
    ("op", "path"),
    [
        (SetPath("n", -1), ("n",)),
        (SetPath(("inner", "qty"), -1), ("inner", "qty")),
        (SetState({"inner": {"qty": -1}}), ("inner", "qty")),
        (SetState({"n": -1, "names": ("a",)}), ("n",)),
        (ReplaceState(Shop()), None),
        (DeletePath(("inner", "qty")), None),
    ],
)
def test_a_rejected_value_is_reported_at_its_field(
    op: StateOp, path: tuple[str, ...] | None
) -> None:
    """A field validator's rejection names the field's path, not its parent's."""
    _, problems = run("p", ops=(op,))
    if path is None:
        assert problems == []
        return
    assert len(problems) == 1
    assert problems[0].endswith(str(path))
    assert problems[0].startswith(f"{ProblemKind.STATE}:")


@pytest.mark.parametrize(
    "op",
    [
        SetPath("n", {1, 2}),
        SetState({"n": frozenset({1})}),
        SetPath("n", b"x"),
        SetPath("n", object()),
        SetPath("n", uuid.UUID(int=5)),
        SetPath("n", datetime(2026, 1, 1, tzinfo=UTC)),
        SetPath("names", (Path("/tmp"),)),
        SetPath(("scores", "k"), {1}),
        SetState({"items": {"k": b"x"}}),
    ],
)
def test_a_value_that_is_neither_data_nor_built_values_is_refused(op: StateOp) -> None:
    """Non-JSON values holding no attrs instance (a set of numbers, bytes) were taken as
    values the action built, unchecked: the state could then never be written."""
    state, problems = run("p", ops=(op,))
    assert state == Shop()
    (problem,) = problems
    assert problem.startswith(f"{ProblemKind.STATE}:")
    assert "cannot hold" in problem


class Hue(enum.Enum):
    """An enum an action builds values of."""

    RED = 1


@dataclasses.dataclass(frozen=True)
class Spot:
    """A dataclass an action builds values of."""

    x: int = 0


@attrs.frozen
class Palette:
    """Fields of collections of built values that are no attrs instances."""

    hues: frozenset[Hue] = frozenset()
    spots: tuple[Spot, ...] = ()
    named: FrozenMap[str, Spot] = attrs.field(factory=FrozenMap)


@pytest.mark.parametrize(
    "op",
    [
        SetPath("hues", frozenset({Hue.RED})),
        SetPath("spots", (Spot(2),)),
        SetPath("named", FrozenMap({"k": Spot(3)})),
    ],
)
def test_collections_of_built_values_that_are_no_attrs_instances_are_taken(op: StateOp) -> None:
    """Enum members and dataclass instances are values the action built, as attrs
    instances are: refusing what holds no attrs instance refused them too."""

    @action()
    def paint(state: Palette, _: NoParams, ctx: Context) -> ActionResult[Palette]:
        return ok(None, ops=(op,))

    spec = AgentSpec(name="paint", state=Palette, routes=[Route(pattern="p", target=paint)])
    result = step(spec, spec.new("p"), Signal(type="p", source="/t", id="1"))
    assert result.problems == ()
    assert result.agent.state != Palette()
    assert agent_from_json(to_json(result.agent), spec) == result.agent
