"""Example tests of actions: typed params, strict validation, failures and crashes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import attrs
import pytest
from returns.result import Failure, Success

import jido
from jido import (
    ActionCrashed,
    ActionResult,
    AgentSpec,
    Context,
    Error,
    NoParams,
    Problem,
    ProblemKind,
    Route,
    Signal,
    action,
    cmd,
    fail,
    ok,
    step,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@attrs.frozen
class Counter:
    """The state of the test agent."""

    count: int = 0
    seen: tuple[str, ...] = ()


@attrs.frozen
class Order:
    """Params with three required fields and one defaulted."""

    qty: int
    sku: str
    price: float
    note: str = ""


@attrs.frozen
class By:
    """Params with one defaulted int."""

    by: int = 1


def sig(type: str, data: object = None, id: str = "s1") -> Signal:
    """A signal from the test."""
    return Signal(type=type, source="/test", id=id, time=T0, data=data)


@action(params=Order)
def place(state: Counter, params: Order, ctx: Context) -> ActionResult[Counter]:
    """Record the order's sku and add its quantity."""
    return ok(attrs.evolve(state, count=state.count + params.qty, seen=(*state.seen, params.sku)))


@action(params=Order, extra="forbid")
def place_strict(state: Counter, params: Order, ctx: Context) -> ActionResult[Counter]:
    """Like ``place``, but unknown keys are errors."""
    return ok(attrs.evolve(state, count=state.count + params.qty))


@action(params=By)
def add(state: Counter, params: By, ctx: Context) -> ActionResult[Counter]:
    """Add ``by`` to the count."""
    return ok(attrs.evolve(state, count=state.count + params.by))


@action()
def bump(state: Counter, params: NoParams, ctx: Context) -> ActionResult[Counter]:
    """Add one, whatever the data."""
    assert isinstance(params, NoParams)
    return ok(attrs.evolve(state, count=state.count + 1))


@action()
def refuse(state: Counter, params: NoParams, ctx: Context) -> ActionResult[Counter]:
    """Fail with details."""
    return fail("out of stock", sku="x-1", left=0)


@action()
def refuse_plain(state: Counter, params: NoParams, ctx: Context) -> ActionResult[Counter]:
    """Fail with a bare message."""
    return Failure("plain failure")


@action()
def refuse_problem(state: Counter, params: NoParams, ctx: Context) -> ActionResult[Counter]:
    """Fail with a problem of a kind of its own choosing."""
    return Failure(Problem.of(ProblemKind.STATE, "custom", where="here"))


@action()
def explode(state: Counter, params: NoParams, ctx: Context) -> ActionResult[Counter]:
    """Raise: a bug in user code."""
    raise KeyError("boom")


@action()
def wrong_return(state: Counter, params: NoParams, ctx: Context) -> ActionResult[Counter]:
    """Return something that is not a Result."""
    bad: Any = 42
    return bad  # type: ignore[no-any-return]


@action()
def wrong_state(state: Counter, params: NoParams, ctx: Context) -> ActionResult[Counter]:
    """Return a state of the wrong class."""
    bad: Any = By(by=3)
    return ok(bad)


CONTEXTS: list[Context] = []


@action()
def spy(state: Counter, params: NoParams, ctx: Context) -> ActionResult[Counter]:
    """Record the context it was given."""
    CONTEXTS.append(ctx)
    return ok(None)


SPEC = AgentSpec(
    name="shop",
    state=Counter,
    routes=[
        Route(pattern="order.placed", target=place),
        Route(pattern="order.strict", target=place_strict),
        Route(pattern="count.add", target=add),
        Route(pattern="count.bump", target=bump),
        Route(pattern="order.refused", target=refuse),
        Route(pattern="order.plain", target=refuse_plain),
        Route(pattern="order.problem", target=refuse_problem),
        Route(pattern="order.explode", target=explode),
        Route(pattern="order.wrong-return", target=wrong_return),
        Route(pattern="order.wrong-state", target=wrong_state),
        Route(pattern="spy", target=spy),
    ],
)


def fresh() -> jido.Agent[Counter]:
    """A new agent of the test spec, at count 5."""
    return SPEC.new("shop-1", Counter(count=5))


def only_problem(result: jido.Step[Counter]) -> Problem:
    """The one directive of ``result``, which must be an Error; its problem."""
    assert len(result.directives) == 1
    (d,) = result.directives
    assert isinstance(d, Error)
    return d.problem


def test_valid_params_reach_the_action_typed() -> None:
    """Signal data is validated into the params class and the action sees typed values."""
    agent = fresh()
    result = step(SPEC, agent, sig("order.placed", {"qty": 3, "sku": "x-1", "price": 2}))
    assert result.directives == ()
    assert result.agent.state == Counter(count=8, seen=("x-1",))
    assert result.agent.version == 1


def test_int_is_accepted_for_a_float_field() -> None:
    """An int where a float is expected is accepted (JSON has one number type)."""
    result = step(SPEC, fresh(), sig("order.placed", {"qty": 1, "sku": "a", "price": 3}))
    assert result.problems == ()


def test_bad_params_report_every_bad_field_and_change_nothing() -> None:
    """Two wrongly typed fields and a missing one give ONE params Error listing all three."""
    agent = fresh()
    result = step(SPEC, agent, sig("order.placed", {"qty": "3", "sku": 7}))
    problem = only_problem(result)
    assert problem.kind is ProblemKind.PARAMS
    errors = problem.details["errors"]
    assert isinstance(errors, tuple)
    assert len(errors) == 3
    joined = " | ".join(str(e) for e in errors)
    for path in ("$.qty", "$.sku", "$.price"):
        assert path in joined
    assert problem.details["action"] == "place"
    assert problem.details["signal_type"] == "order.placed"
    assert result.agent == agent
    assert result.agent.version == agent.version
    assert result.agent.state == Counter(count=5)


@pytest.mark.parametrize("bad", ["5", 1.5, True, False, None, [5], {"n": 5}])
def test_int_params_are_strict(bad: object) -> None:
    """Nothing but an int is an int: no coercion of strings, floats or bools."""
    agent = fresh()
    result = step(SPEC, agent, sig("count.add", {"by": bad}))
    problem = only_problem(result)
    assert problem.kind is ProblemKind.PARAMS
    assert problem.details["errors"] != ()
    assert "$.by" in str(problem.details["errors"])
    assert result.agent == agent


@pytest.mark.parametrize("bad", [1, 1.0, True, None])
def test_str_params_are_strict(bad: object) -> None:
    """A string field accepts only strings."""
    result = step(SPEC, fresh(), sig("order.placed", {"qty": 1, "sku": bad, "price": 1.0}))
    problem = only_problem(result)
    assert problem.kind is ProblemKind.PARAMS
    assert "$.sku" in str(problem.details["errors"])


@pytest.mark.parametrize("bad", [True, "1.0"])
def test_float_params_reject_bools_and_strings(bad: object) -> None:
    """A float field rejects booleans and numeric strings."""
    result = step(SPEC, fresh(), sig("order.placed", {"qty": 1, "sku": "a", "price": bad}))
    problem = only_problem(result)
    assert "$.price" in str(problem.details["errors"])


def test_default_extra_ignores_unknown_keys() -> None:
    """Without ``extra="forbid"``, keys the params class lacks are ignored."""
    result = step(SPEC, fresh(), sig("count.add", {"by": 2, "unknown": 1}))
    assert result.problems == ()
    assert result.agent.state.count == 7


def test_extra_forbid_reports_each_unknown_key() -> None:
    """With ``extra="forbid"``, every unknown key is reported, with the state unchanged."""
    agent = fresh()
    data = {"qty": 1, "sku": "a", "price": 1.0, "colour": "red", "size": 3}
    result = step(SPEC, agent, sig("order.strict", data))
    problem = only_problem(result)
    assert problem.kind is ProblemKind.PARAMS
    errors = [str(e) for e in problem.details["errors"]]  # type: ignore[union-attr]
    assert len(errors) == 2
    assert any("$.colour" in e for e in errors)
    assert any("$.size" in e for e in errors)
    assert result.agent == agent


def test_extra_forbid_reports_unknown_and_bad_fields_together() -> None:
    """Unknown keys and badly typed fields are reported in the same Error."""
    result = step(SPEC, fresh(), sig("order.strict", {"qty": "1", "sku": "a", "zz": 0}))
    errors = str(only_problem(result).details["errors"])
    for path in ("$.zz", "$.qty", "$.price"):
        assert path in errors


@attrs.frozen
class Point:
    """A nested params value."""

    x: int = 0


@attrs.frozen
class Move:
    """Params holding a nested attrs value with defaults."""

    to: Point = attrs.field(factory=Point)


@action(params=Move)
def move(state: Counter, params: Move, ctx: Context) -> ActionResult[Counter]:
    """Set the count to the target's x."""
    return ok(attrs.evolve(state, count=params.to.x))


@pytest.mark.parametrize("bad", ["somewhere", [1], 3])
def test_nested_params_must_be_objects(bad: object) -> None:
    """A nested params value that is not an object is reported, not defaulted."""
    spec = AgentSpec(name="mover", state=Counter, actions=[move])
    agent = spec.new("m1")
    result = cmd(spec, agent, (move, {"to": bad}))
    assert [p.kind for p in result.problems] == [ProblemKind.PARAMS]
    assert "$.to" in str(result.problems[0].details["errors"])
    assert result.agent == agent
    assert cmd(spec, agent, (move, {"to": {"x": 4}})).agent.state.count == 4


def test_non_mapping_data_is_a_params_error() -> None:
    """Data that is not an object, for an action with params, is a params Error."""
    agent = fresh()
    result = step(SPEC, agent, sig("count.add", [1, 2]))
    assert only_problem(result).kind is ProblemKind.PARAMS
    assert result.agent == agent


def test_missing_data_uses_param_defaults() -> None:
    """No data at all, for params that all have defaults, validates to the defaults."""
    result = step(SPEC, fresh(), sig("count.add"))
    assert result.problems == ()
    assert result.agent.state.count == 6


@pytest.mark.parametrize("data", [None, {"by": "x"}, [1, 2], "text", 3])
def test_no_params_ignores_data(data: object) -> None:
    """An action with ``NoParams`` runs whatever the signal data is."""
    result = step(SPEC, fresh(), sig("count.bump", data))
    assert result.problems == ()
    assert result.agent.state.count == 6


def test_fail_gives_an_action_problem_with_details() -> None:
    """``jido.fail`` becomes an ACTION Error carrying its message and details; state unchanged."""
    agent = fresh()
    result = step(SPEC, agent, sig("order.refused"))
    problem = only_problem(result)
    assert problem.kind is ProblemKind.ACTION
    assert problem.message == "out of stock"
    assert problem.details == {"sku": "x-1", "left": 0}
    assert result.agent == agent


def test_failure_with_a_string_gives_an_action_problem() -> None:
    """``Failure("msg")`` becomes an ACTION Error with that message, naming the action."""
    agent = fresh()
    result = step(SPEC, agent, sig("order.plain"))
    problem = only_problem(result)
    assert problem.kind is ProblemKind.ACTION
    assert problem.message == "plain failure"
    assert problem.details["action"] == "refuse_plain"
    assert result.agent == agent


def test_failure_with_a_problem_passes_it_through() -> None:
    """``Failure(Problem)`` is reported as that problem, unchanged."""
    result = step(SPEC, fresh(), sig("order.problem"))
    assert only_problem(result) == Problem.of(ProblemKind.STATE, "custom", where="here")


def test_fail_rejects_non_json_details() -> None:
    """``fail`` details must be JSON-able."""
    with pytest.raises(TypeError):
        fail("x", bad={1, 2})


def test_raising_action_propagates_as_action_crashed() -> None:
    """An action that raises surfaces as ActionCrashed, with the original as ``__cause__``."""
    agent = fresh()
    with pytest.raises(ActionCrashed) as info:
        step(SPEC, agent, sig("order.explode"))
    exc = info.value
    assert exc.agent_id == "shop-1"
    assert exc.action == "explode"
    assert exc.signal_type == "order.explode"
    assert isinstance(exc.__cause__, KeyError)
    assert exc.__cause__.args == ("boom",)
    assert isinstance(exc, RuntimeError)
    assert agent.state == Counter(count=5)
    assert agent.version == 0


def test_raising_action_under_cmd_has_no_signal_type() -> None:
    """Under ``cmd`` the crash names the action and agent, and ``signal_type`` is None."""
    with pytest.raises(ActionCrashed) as info:
        cmd(SPEC, fresh(), explode)
    assert info.value.signal_type is None
    assert info.value.action == "explode"
    assert isinstance(info.value.__cause__, KeyError)


def test_returning_a_non_result_is_a_crash() -> None:
    """An action returning something other than a Result is a bug: ActionCrashed."""
    with pytest.raises(ActionCrashed) as info:
        step(SPEC, fresh(), sig("order.wrong-return"))
    assert isinstance(info.value.__cause__, TypeError)


def test_returning_a_state_of_another_class_is_a_state_problem() -> None:
    """A new state of the wrong class is a STATE Error; the state is unchanged."""
    agent = fresh()
    result = step(SPEC, agent, sig("order.wrong-state"))
    assert only_problem(result).kind is ProblemKind.STATE
    assert result.agent == agent


def test_context_describes_the_step() -> None:
    """The action's context carries agent id, spec, version, status, signal and no slice."""
    CONTEXTS.clear()
    agent = attrs.evolve(fresh(), version=4)
    s = sig("spy", id="sig-9")
    step(SPEC, agent, s)
    cmd(SPEC, agent, spy)
    assert len(CONTEXTS) == 2
    under_step, under_cmd = CONTEXTS
    assert under_step == Context(
        agent_id="shop-1", spec="shop", version=4, status="idle", signal=s, slice=None
    )
    assert under_cmd.signal is None
    assert under_cmd.version == 4


def test_action_decorator_fills_name_and_description() -> None:
    """The decorator names the action after the function and describes it by its docstring."""
    assert place.name == "place"
    assert place.description == "Record the order's sku and add its quantity."
    assert place.params is Order
    assert place.extra == "ignore"
    assert place_strict.extra == "forbid"
    assert bump.params is NoParams


def test_action_decorator_explicit_name_and_description() -> None:
    """An explicit name and description override the defaults."""

    @action("shop.restock", description="restock", params=By)
    def restock(state: Counter, params: By, ctx: Context) -> ActionResult[Counter]:
        return ok(None)

    assert restock.name == "shop.restock"
    assert restock.description == "restock"


def test_action_can_be_called_directly() -> None:
    """Calling an Action runs its function with no validation."""
    ctx = Context(agent_id="a", spec="s", version=0, status="idle", signal=None)
    result = add(Counter(count=1), By(by=4), ctx)
    assert isinstance(result, Success)
    assert result.unwrap().state == Counter(count=5)


@pytest.mark.parametrize("name", ["", "a..b", "a b", ".a"])
def test_bad_action_names_are_rejected(name: str) -> None:
    """An action name must be dot-separated ``[A-Za-z0-9_-]`` segments."""
    with pytest.raises(ValueError, match="action name"):
        jido.Action(name=name, run=bump.run, params=NoParams)


def test_params_must_be_an_attrs_class() -> None:
    """A params class that is not an attrs class is rejected at definition time."""

    class Plain:
        pass

    with pytest.raises(TypeError, match="attrs"):
        action(params=Plain)(bump.run)  # type: ignore[arg-type]


def test_ok_builds_an_outcome() -> None:
    """``ok`` wraps state, directives and ops in a Success(Outcome)."""
    e = jido.emit("a.b")
    op = jido.SetState({"count": 1})
    out = ok(Counter(), e, ops=(op,)).unwrap()
    assert out == jido.Outcome(state=Counter(), ops=(op,), directives=(e,))


@attrs.frozen
class Shapes:
    """Params of the shapes JSON data comes in: arrays, sets, fixed tuples, unions."""

    tags: list[str] = attrs.Factory(list)
    names: tuple[str, ...] = ()
    unique: frozenset[int] = frozenset()
    pair: tuple[int, str] = (0, "")
    either: int | str = 0
    maybe: int | str | None = None


@action(params=Shapes)
def take_shapes(state: Counter, params: Shapes, ctx: Context) -> ActionResult[Counter]:
    """Record what arrived."""
    return ok(attrs.evolve(state, seen=(*state.seen, repr(params))))


SHAPES = AgentSpec(
    name="shapes", state=Counter, routes=[Route(pattern="shapes", target=take_shapes)]
)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"tags": ["a", "b"]}, Shapes(tags=["a", "b"])),
        ({"names": ["x"]}, Shapes(names=("x",))),
        ({"unique": [1, 2, 1]}, Shapes(unique=frozenset({1, 2}))),
        ({"pair": [7, "seven"]}, Shapes(pair=(7, "seven"))),
        ({"either": 5}, Shapes(either=5)),
        ({"either": "five"}, Shapes(either="five")),
        ({"maybe": None}, Shapes()),
        ({"maybe": "x"}, Shapes(maybe="x")),
    ],
)
def test_params_take_arrays_and_unions_of_plain_types(data: object, expected: Shapes) -> None:
    """Lists, tuples, sets, fixed-length tuples and unions such as ``int | str`` structure
    from the JSON shapes they come in."""
    result = step(SHAPES, SHAPES.new("a"), sig("shapes", data))
    assert result.problems == ()
    assert result.agent.state.seen == (repr(expected),)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"tags": "admin"}, "tags"),  # not its characters
        ({"names": {"k1": 1}}, "names"),  # not its keys
        ({"unique": "ab"}, "unique"),
        ({"pair": "ab"}, "pair"),
        ({"pair": [1]}, "pair"),
        ({"either": 1.5}, "either"),
        ({"either": True}, "either"),
        ({"maybe": [1]}, "maybe"),
    ],
)
def test_params_refuse_what_only_looks_like_an_array_or_a_member(data: object, field: str) -> None:
    """A string or an object is not an array, and a union takes only its members, strictly:
    the step reports the field and leaves the state as it was (no exception)."""
    agent = SHAPES.new("a")
    result = step(SHAPES, agent, sig("shapes", data))
    assert result.agent == agent
    (problem,) = result.problems
    assert problem.kind is ProblemKind.PARAMS
    assert problem.message.endswith(f"@ $.{field}")


@attrs.frozen
class Private:
    """Params whose field is private: its JSON key is the attribute name, as cattrs reads it."""

    _limit: int = 0


@action(params=Private, extra="forbid")
def limit(state: Counter, params: Private, ctx: Context) -> ActionResult[Counter]:
    """Set the count to the limit."""
    return ok(attrs.evolve(state, count=params._limit))


def test_extra_forbid_knows_the_keys_that_are_read() -> None:
    """``extra="forbid"`` accepts exactly the keys params are read from (attribute names):
    the private field's key sets it, and its init alias is an unknown parameter, not a
    value silently dropped."""
    spec = AgentSpec(name="p", state=Counter, routes=[Route(pattern="limit", target=limit)])
    agent = spec.new("a")
    assert step(spec, agent, sig("limit", {"_limit": 5})).agent.state.count == 5
    refused = step(spec, agent, sig("limit", {"limit": 5}))
    assert refused.agent == agent
    assert [p.message for p in refused.problems] == [
        "invalid params for action 'limit': unknown parameter @ $.limit"
    ]


@attrs.frozen
class Address:
    """A nested params class."""

    city: str = ""


@attrs.frozen
class Shipping:
    """Params with a nested object."""

    to: Address = attrs.Factory(Address)
    express: bool = False


@action(params=Shipping, extra="forbid")
def ship(state: Counter, params: Shipping, ctx: Context) -> ActionResult[Counter]:
    """Record the city."""
    return ok(attrs.evolve(state, seen=(*state.seen, params.to.city)))


def test_extra_forbid_applies_at_every_level() -> None:
    """A typo in a nested object is an unknown parameter too, named by its full path, next
    to unknown keys at the top and bad values."""
    spec = AgentSpec(name="ship", state=Counter, routes=[Route(pattern="ship", target=ship)])
    agent = spec.new("a")
    ok_ = step(spec, agent, sig("ship", {"to": {"city": "Paris"}, "express": True}))
    assert ok_.agent.state.seen == ("Paris",)
    result = step(spec, agent, sig("ship", {"to": {"cty": "Paris"}, "fast": 1, "express": 2}))
    assert result.agent == agent
    (problem,) = result.problems
    errors = problem.details["errors"]
    assert isinstance(errors, tuple)
    assert sorted(map(str, errors)) == sorted(
        [
            "unknown parameter @ $.to.cty",
            "unknown parameter @ $.fast",
            "invalid value for type, expected bool @ $.express",
        ]
    )
