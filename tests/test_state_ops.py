"""Example tests of state operations returned by actions (``ok(None, ops=...)``)."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

import jido
from jido import (
    ActionResult,
    AgentSpec,
    Context,
    DeleteKeys,
    DeletePath,
    FrozenMap,
    NoParams,
    ProblemKind,
    ReplaceState,
    SetPath,
    SetState,
    StateOp,
    action,
    cmd,
    ok,
)
from jido._state import apply_ops
from jido.serde import agent_from_json, to_json


@attrs.frozen
class Address:
    """A nested attrs value."""

    city: str = "Paris"
    zip: str = "75001"


def _positive(_: object, __: attrs.Attribute[int], value: int) -> None:
    if value < 0:
        raise ValueError("must be >= 0")


@attrs.frozen
class Profile:
    """The state under test: scalars, a nested attrs value, mappings, factory defaults."""

    name: str = "anon"
    count: int = attrs.field(default=0, validator=_positive)
    address: Address = attrs.field(factory=Address)
    items: tuple[int, ...] = attrs.field(factory=lambda: (1, 2))
    meta: FrozenMap[str, Any] = attrs.field(factory=FrozenMap)
    label: str = attrs.field(default=attrs.Factory(lambda self: f"<{self.name}>", takes_self=True))


@attrs.frozen
class NoDefault:
    """A state with a field that has no default."""

    must: int
    other: int = 0


def run_ops(state: Any, *ops: StateOp) -> jido.Step[Any]:
    """Run one action returning ``ok(None, ops=ops)`` on an agent holding ``state``."""

    @action()
    def apply(s: Any, params: NoParams, ctx: Context) -> ActionResult[Any]:
        return ok(None, ops=ops)

    spec = AgentSpec(name="ops", state=type(state), actions=[apply])
    agent = spec.new("a1", state)
    return cmd(spec, agent, apply)


def ok_state(state: Any, *ops: StateOp) -> Any:
    """The state after ``ops``, which must all apply (one step, version 1, no directives)."""
    result = run_ops(state, *ops)
    assert result.directives == ()
    assert result.agent.version == 1
    return result.agent.state


def state_problem(state: Any, *ops: StateOp) -> jido.Problem:
    """The STATE problem ``ops`` cause; checks the state and version did not change."""
    result = run_ops(state, *ops)
    assert result.agent.state == state
    assert result.agent.version == 0
    assert len(result.problems) == 1
    (problem,) = result.problems
    assert problem.kind is ProblemKind.STATE
    return problem


# ---------------------------------------------------------------------------- SetState


def test_set_state_sets_top_level_fields() -> None:
    """SetState replaces the named scalar fields and keeps the others."""
    new = ok_state(Profile(), SetState({"name": "ada", "count": 3}))
    assert new == Profile(name="ada", count=3, label="<anon>")


def test_set_state_deep_merges_nested_attrs() -> None:
    """A mapping merged into a nested attrs field changes only the keys it names."""
    new = ok_state(Profile(), SetState({"address": {"city": "Lyon"}}))
    assert new.address == Address(city="Lyon", zip="75001")
    assert new.name == "anon"


def test_set_state_deep_merges_frozen_maps() -> None:
    """A mapping merged into a FrozenMap field merges recursively and freezes new values."""
    start = Profile(meta=FrozenMap({"a": FrozenMap({"x": 1, "y": 2}), "keep": True}))
    new = ok_state(start, SetState({"meta": {"a": {"y": 3}, "b": [1, {"c": [2]}]}}))
    assert new.meta == {"a": {"x": 1, "y": 3}, "keep": True, "b": (1, {"c": (2,)})}
    assert isinstance(new.meta, FrozenMap)
    assert isinstance(new.meta["a"], FrozenMap)
    assert isinstance(new.meta["b"], tuple)
    hash(new)  # the new state is still hashable


def test_set_state_replaces_non_mapping_values() -> None:
    """A value that is not a mapping replaces the field whole, even an attrs field."""
    new = ok_state(Profile(), SetState({"address": Address(city="Rome", zip="00100")}))
    assert new.address == Address(city="Rome", zip="00100")


def test_set_state_unknown_field_is_a_state_problem() -> None:
    """SetState naming a field the state lacks is a STATE Error naming the path."""
    problem = state_problem(Profile(), SetState({"nope": 1}))
    assert problem.details["path"] == ("nope",)
    assert "nope" in problem.message


def test_set_state_unknown_nested_field_is_a_state_problem() -> None:
    """A merge into a nested attrs value naming an unknown field names the full path."""
    problem = state_problem(Profile(), SetState({"address": {"planet": "Mars"}}))
    assert problem.details["path"] == ("address", "planet")


def test_set_state_rejected_by_a_validator_is_a_state_problem() -> None:
    """A value the state class's validator rejects is a STATE Error, state unchanged."""
    problem = state_problem(Profile(), SetState({"count": -1}))
    assert "must be >= 0" in problem.message


# ---------------------------------------------------------------------------- ReplaceState


def test_replace_state_replaces_the_whole_state() -> None:
    """ReplaceState swaps in a new instance of the state class."""
    target = Profile(name="new", count=9, address=Address(city="Oslo"))
    assert ok_state(Profile(name="old"), ReplaceState(target)) == target


def test_replace_state_with_the_wrong_type_is_a_state_problem() -> None:
    """ReplaceState with an instance of another class is a STATE Error."""
    problem = state_problem(Profile(), ReplaceState(Address()))
    assert "Profile" in problem.message


# ---------------------------------------------------------------------------- DeleteKeys


def test_delete_keys_resets_fields_to_their_defaults() -> None:
    """DeleteKeys resets plain and factory defaults (takes_self included)."""
    start = Profile(
        name="ada",
        count=4,
        address=Address(city="Lyon", zip="69000"),
        items=(9,),
        meta=FrozenMap({"k": 1}),
        label="custom",
    )
    new = ok_state(start, DeleteKeys(("count", "address", "items", "meta", "label")))
    assert new.name == "ada"
    assert new.count == 0
    assert new.address == Address()
    assert new.items == (1, 2)
    assert new.meta == {}
    # the takes_self factory sees the instance being reset, whose name is "ada"
    assert new.label == "<ada>"


def test_delete_keys_accepts_a_bare_string() -> None:
    """A bare string is one key, not a sequence of characters."""
    assert DeleteKeys("count").keys == ("count",)
    assert ok_state(Profile(count=5), DeleteKeys("count")).count == 0


def test_delete_keys_of_a_field_without_default_is_a_state_problem() -> None:
    """Resetting a field with no default is a STATE Error, state unchanged."""
    problem = state_problem(NoDefault(must=3, other=2), DeleteKeys(("other", "must")))
    assert "must" in problem.message


def test_delete_keys_unknown_field_is_a_state_problem() -> None:
    """DeleteKeys naming a field the state lacks is a STATE Error."""
    problem = state_problem(Profile(), DeleteKeys(("ghost",)))
    assert problem.details["path"] == ("ghost",)


# ---------------------------------------------------------------------------- SetPath


def test_set_path_into_nested_attrs() -> None:
    """SetPath through an attrs field sets the nested field."""
    new = ok_state(Profile(), SetPath(("address", "city"), "Nice"))
    assert new.address == Address(city="Nice")


def test_set_path_creates_intermediate_mappings() -> None:
    """SetPath into a mapping creates the missing intermediate mappings."""
    new = ok_state(Profile(), SetPath(("meta", "x", "y", "z"), 1))
    assert new.meta == {"x": {"y": {"z": 1}}}
    assert isinstance(new.meta["x"], FrozenMap)


def test_set_path_overwrites_non_mapping_intermediates_in_mappings() -> None:
    """A scalar in the way inside a mapping is replaced by a new mapping."""
    start = Profile(meta=FrozenMap({"x": 5, "other": "kept"}))
    new = ok_state(start, SetPath(("meta", "x", "y"), [1, 2]))
    assert new.meta == {"x": {"y": (1, 2)}, "other": "kept"}


def test_set_path_keeps_siblings_in_mappings() -> None:
    """SetPath changes one key and leaves its siblings alone."""
    start = Profile(meta=FrozenMap({"a": FrozenMap({"b": 1, "c": 2})}))
    new = ok_state(start, SetPath(("meta", "a", "b"), 10))
    assert new.meta == {"a": {"b": 10, "c": 2}}


def test_set_path_through_a_scalar_field_is_a_state_problem() -> None:
    """A path that walks into an attrs scalar field cannot be set: STATE Error."""
    state_problem(Profile(), SetPath(("count", "x"), 1))


def test_set_path_unknown_field_is_a_state_problem() -> None:
    """SetPath naming an unknown attrs field is a STATE Error naming the path."""
    problem = state_problem(Profile(), SetPath(("address", "planet"), "Mars"))
    assert problem.details["path"] == ("address", "planet")


def test_set_path_empty_path_is_a_state_problem() -> None:
    """SetPath with an empty path is a STATE Error."""
    state_problem(Profile(), SetPath((), 1))


# ---------------------------------------------------------------------------- DeletePath


def test_delete_path_removes_a_mapping_key() -> None:
    """DeletePath removes the key at the path and keeps its siblings."""
    start = Profile(meta=FrozenMap({"a": FrozenMap({"b": 1, "c": 2})}))
    new = ok_state(start, DeletePath(("meta", "a", "b")))
    assert new.meta == {"a": {"c": 2}}


def test_delete_path_resets_a_nested_attrs_field() -> None:
    """DeletePath ending on an attrs field resets it to its default."""
    start = Profile(address=Address(city="Lyon", zip="69000"))
    new = ok_state(start, DeletePath(("address", "city")))
    assert new.address == Address(city="Paris", zip="69000")


@pytest.mark.parametrize(
    "path",
    [("meta", "missing"), ("meta", "missing", "deeper"), ("meta", "scalar", "below")],
)
def test_delete_path_missing_is_a_no_op(path: tuple[str, ...]) -> None:
    """Deleting a path that does not exist succeeds and changes nothing."""
    start = Profile(meta=FrozenMap({"scalar": 1}))
    assert ok_state(start, DeletePath(path)) == start


def test_delete_path_unknown_attrs_field_is_a_state_problem() -> None:
    """DeletePath through an unknown attrs field is a STATE Error."""
    state_problem(Profile(), DeletePath(("ghost", "x")))


# ---------------------------------------------------------------------------- order and atomicity


def test_ops_apply_in_order() -> None:
    """Ops apply one after another, each on the result of the previous one."""
    set_then_delete = ok_state(Profile(), SetPath(("meta", "k"), 1), DeletePath(("meta", "k")))
    delete_then_set = ok_state(Profile(), DeletePath(("meta", "k")), SetPath(("meta", "k"), 1))
    assert set_then_delete.meta == {}
    assert delete_then_set.meta == {"k": 1}
    last_wins = ok_state(Profile(), SetState({"count": 1}), SetState({"count": 2}))
    assert last_wins.count == 2


def test_a_failing_op_discards_the_earlier_ops_of_the_same_action() -> None:
    """If one op fails, none of the action's ops take effect."""
    problem = state_problem(
        Profile(), SetState({"name": "changed"}), SetState({"ghost": 1}), SetState({"count": 3})
    )
    assert problem.details["path"] == ("ghost",)


def test_new_state_then_ops() -> None:
    """An action returning both a state and ops gets the ops applied to the new state."""

    @action()
    def both(s: Profile, params: NoParams, ctx: Context) -> ActionResult[Profile]:
        return ok(Profile(name="base", count=1), ops=(SetState({"count": 2}),))

    spec = AgentSpec(name="both", state=Profile, actions=[both])
    result = cmd(spec, spec.new("a1"), both)
    assert result.agent.state == Profile(name="base", count=2)


def test_original_state_is_never_mutated() -> None:
    """Applying ops returns new values; the old state and agent are untouched."""
    start = Profile(meta=FrozenMap({"a": FrozenMap({"b": 1})}))
    ok_state(start, SetPath(("meta", "a", "b"), 2), SetState({"name": "x"}))
    assert start == Profile(meta=FrozenMap({"a": FrozenMap({"b": 1})}))


# ------------------------------------------------------------------ plain values on fields


@attrs.frozen
class Holder:
    """Fields a plain dict or list may be set on."""

    meta: FrozenMap[str, Any] = attrs.field(factory=FrozenMap)
    items: tuple[int, ...] = ()
    address: Address | None = None
    anything: Any = None


def test_plain_values_set_on_fields_become_what_the_field_declares() -> None:
    """A dict or list set on an attrs field is structured into the field's type (frozen
    where the type says nothing), as JSON would be: the agent stays hashable, shares nothing
    with the action, and equals its round trip through ``jido.serde``."""
    payload: dict[str, Any] = {"k": [1, 2]}

    @action()
    def fill(s: Holder, params: NoParams, ctx: Context) -> ActionResult[Holder]:
        return ok(
            None,
            ops=(
                SetPath(("meta",), payload),
                SetPath(("items",), [1, 2]),
                SetState({"address": {"city": "Lyon"}}),
                SetPath(("anything",), {"k": [1]}),
            ),
        )

    spec = AgentSpec(name="holder", state=Holder, actions=[fill])
    result = cmd(spec, spec.new("h"), fill)
    assert result.problems == ()
    agent = result.agent
    assert agent.state == Holder(
        meta=FrozenMap({"k": (1, 2)}),
        items=(1, 2),
        address=Address(city="Lyon"),
        anything=FrozenMap({"k": (1,)}),
    )
    hash(agent)
    assert agent_from_json(to_json(agent), spec) == agent
    payload["k"].append(3)  # the action's own dict, changed afterwards
    assert agent.state.meta == FrozenMap({"k": (1, 2)})


def test_a_tuple_set_where_nothing_is_declared_is_frozen_inside() -> None:
    """A tuple set on a field declared ``Any`` is walked into like a list: a dict or list
    it holds is frozen too, so the state stays hashable and equals its JSON round trip (a
    dict left inside the tuple would make the agent unhashable)."""
    value: tuple[Any, ...] = (1, {"a": [2]})

    @action()
    def fill(s: Holder, params: NoParams, ctx: Context) -> ActionResult[Holder]:
        return ok(None, ops=(SetPath(("anything",), value),))

    spec = AgentSpec(name="holder", state=Holder, actions=[fill])
    result = cmd(spec, spec.new("h"), fill)
    assert result.problems == ()
    agent = result.agent
    assert agent.state.anything == (1, FrozenMap({"a": (2,)}))
    assert type(agent.state.anything[1]) is FrozenMap
    hash(agent)
    assert agent_from_json(to_json(agent), spec) == agent


def test_a_plain_value_the_field_cannot_hold_is_a_state_problem() -> None:
    """A list where the field declares a nested attrs value is refused, naming the field."""
    problem = state_problem(Holder(), SetPath(("address",), [1, 2]))
    assert "Holder.address cannot hold [1, 2]" in problem.message
    assert problem.details["path"] == ("address",)


@attrs.frozen
class Account:
    """A state with a field without a default."""

    owner: str
    balance: int = 0
    tags: tuple[str, ...] = ()


ACCOUNT = AgentSpec(name="account", state=Account)


def test_new_builds_a_state_with_required_fields_from_the_mapping() -> None:
    """``new`` with a mapping giving the fields a state class has no defaults for builds the
    state from it (each value written as ``SetState`` writes it), the rest merged over the
    defaults."""
    assert ACCOUNT.new("a", {"owner": "bob"}).state == Account("bob")
    given = ACCOUNT.new("a", {"owner": "bob", "tags": ["x"], "balance": 5}).state
    assert given == Account("bob", 5, ("x",))


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        (None, "Account has no default for 'owner': the mapping must give it"),
        ({"balance": 1}, "Account has no default for 'owner'"),
        ({"owner": 5}, "Account.owner cannot hold 5"),
        ({"owner": "bob", "ghost": 1}, "Account has no field 'ghost'"),
    ],
)
def test_new_without_a_required_field_says_which(state: object, reason: str) -> None:
    """A mapping (or none) that does not give a field without a default, or gives a value a
    field refuses, is a TypeError naming the field."""
    with pytest.raises(TypeError, match=rf"initial state for 'account': {reason}"):
        ACCOUNT.new("a", state)  # type: ignore[arg-type]


def _not_below_lo(inst: Any, _: attrs.Attribute[int], value: int) -> None:
    if value < inst.lo:
        raise ValueError(f"hi ({value}) must be >= lo ({inst.lo})")


@attrs.frozen
class Range:
    """A state whose validator reads one field against another."""

    lo: int
    hi: int = attrs.field(default=0, validator=_not_below_lo)


@attrs.frozen
class Span:
    """A state checked across its fields after it is built."""

    lo: int
    hi: int = 0

    def __attrs_post_init__(self) -> None:
        if self.hi < self.lo:
            raise ValueError("hi < lo")


@pytest.mark.parametrize("cls", [Range, Span])
def test_new_builds_the_state_once_from_the_whole_mapping(cls: type[Any]) -> None:
    """A check across fields (a validator reading another field, ``__attrs_post_init__``)
    sees every value the mapping gives, not the defaults of those it gives later."""
    spec = AgentSpec(name="range", state=cls)
    assert spec.new("r", {"lo": 5, "hi": 10}).state == cls(lo=5, hi=10)
    with pytest.raises(TypeError, match=rf"rejected by {cls.__name__}"):
        spec.new("r", {"lo": 5, "hi": 1})


@attrs.frozen
class Counted:
    """Maps keyed by what is no string."""

    by_id: FrozenMap[int, int] = attrs.field(factory=lambda: FrozenMap({1: 1}))
    by_level: FrozenMap[ProblemKind, int] = attrs.field(
        factory=lambda: FrozenMap({ProblemKind.STATE: 1})
    )


def test_a_map_keyed_by_no_string_merges() -> None:
    """``SetState`` (and ``new``) merge a mapping into a map keyed by ints or enum members:
    the keys name a path in a problem only if one is made."""
    spec = AgentSpec(name="counted", state=Counted)
    state = Counted()
    assert apply_ops(state, [SetState({"by_id": {1: 5, 2: 6}})]).by_id == FrozenMap({1: 5, 2: 6})
    merged = apply_ops(state, [SetState({"by_level": {ProblemKind.STATE: 2}})])
    assert merged.by_level == FrozenMap({ProblemKind.STATE: 2})
    assert spec.new("c", {"by_id": {1: 7}}).state.by_id == FrozenMap({1: 7})
    problem = state_problem(state, SetState({"by_id": {3: "x"}}))
    assert "by_id.3 cannot hold 'x'" in problem.message
