"""The step contract at its edges: what an action may return, what a spec may be built from,
and how ``cmd`` reads its instructions."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any

import attrs
import pytest
from returns.result import Failure, Success

from jido import (
    SELF,
    ActionCrashed,
    ActionResult,
    AgentSpec,
    Context,
    CustomDirective,
    DeleteKeys,
    Emit,
    FrozenMap,
    NoParams,
    Outcome,
    Plugin,
    Problem,
    ProblemKind,
    Route,
    SetPath,
    Signal,
    SpecError,
    Target,
    ToAgent,
    action,
    cmd,
    derive_id,
    emit,
    emit_to_sink,
    error,
    fail,
    ok,
    step,
)
from jido.serde import agent_from_json, to_json


@attrs.frozen
class Counter:
    """A state."""

    count: int = 0


def _sig(type: str, data: object = None) -> Signal:
    return Signal(type=type, source="/t", id="s1", data=data)


@action()
def overdraft(state: Counter, _: NoParams, ctx: Context) -> ActionResult[Counter]:
    return fail("insufficient funds", kind="overdraft", message="no")


def test_details_may_be_named_kind_or_message() -> None:
    """``fail``, ``error`` and ``Problem.of`` take ``kind=`` and ``message=`` as details."""
    spec = AgentSpec(name="c", state=Counter, routes=[Route(pattern="go", target=overdraft)])
    (problem,) = step(spec, spec.new("c"), _sig("go")).problems
    assert problem.kind is ProblemKind.ACTION
    assert problem.message == "insufficient funds"
    assert problem.details == {"kind": "overdraft", "message": "no"}
    directive = error(ProblemKind.STATE, "m", kind="k", message="x")
    assert directive.problem.details == {"kind": "k", "message": "x"}
    made = Problem.of(ProblemKind.ACTION, "m", kind="k", message="x")
    assert made.details == {"kind": "k", "message": "x"}
    assert isinstance(fail("m", kind="k"), Failure)


def _local_params_spec() -> AgentSpec[Counter]:
    @attrs.frozen
    class Money:
        cents: int = 0

    @attrs.frozen
    class Pay:
        amount: Money = attrs.Factory(Money)  # a name only this function knows

    @action(params=Pay)
    def pay(state: Counter, p: Pay, ctx: Context) -> ActionResult[Counter]:
        return ok(None)

    return AgentSpec(name="pay", state=Counter, routes=[Route(pattern="pay", target=pay)])


def _local_state_spec() -> AgentSpec[object]:
    @attrs.frozen
    class Money:
        cents: int = 0

    @attrs.frozen
    class Wallet:
        cash: Money = attrs.Factory(Money)

    return AgentSpec(name="wallet", state=Wallet)


def test_params_annotations_that_do_not_resolve_are_a_spec_error() -> None:
    """A params class whose annotations name what cannot be found fails the spec when it is
    built, naming the action and the name, instead of raising NameError on every step."""
    with pytest.raises(SpecError, match=r"action 'pay'.*Money") as caught:
        _local_params_spec()
    assert len(caught.value.problems) == 1


@attrs.frozen
class Opaque:
    """Params with a field no JSON can be read into."""

    payload: date = date(2000, 1, 1)


def test_params_with_a_field_no_json_reads_into_are_a_spec_error() -> None:
    """Params whose hook cannot be built (a field of type ``date``: cattrs has no hook for
    it) fail the spec, naming the action and the type, with what to use instead: ``step``
    raised cattrs' own error on every signal routed there, the field given or not."""

    @action(params=Opaque)
    def peek(state: Counter, p: Opaque, ctx: Context) -> ActionResult[Counter]:
        return ok(None)

    with pytest.raises(SpecError, match=r"action 'peek'.*type date.*JsonValue") as caught:
        AgentSpec(name="peek", state=Counter, routes=[Route(pattern="peek", target=peek)])
    assert len(caught.value.problems) == 1


def test_state_annotations_that_do_not_resolve_are_a_spec_error() -> None:
    """So does a state class whose annotations do not resolve."""
    with pytest.raises(SpecError, match=r"state Wallet.*Money"):
        _local_state_spec()


@attrs.define
class Loose:
    """A mutable state class."""

    count: int = 0


def test_a_mutable_state_class_is_a_spec_error() -> None:
    """A state (or a plugin's state) must be a frozen attrs class: an action could otherwise
    change the agent the caller still holds."""
    with pytest.raises(SpecError, match=r"state Loose is not frozen"):
        AgentSpec(name="loose", state=Loose)
    with pytest.raises(SpecError, match=r"plugin 'p': state Loose is not frozen"):
        AgentSpec(name="loose", state=Counter, plugins=[Plugin(name="p", state=Loose)])


def test_a_state_instance_where_a_class_belongs_is_named_as_such() -> None:
    """``state=Counter()`` (an instance of a frozen class) is reported as an instance where a
    class is expected, for the agent and for a plugin, not as a class that is not frozen."""
    given: Any = Counter()
    with pytest.raises(SpecError) as info:
        AgentSpec(name="c", state=given)
    assert info.value.problems == (
        "state Counter(count=0) is an instance where a class is expected (pass Counter itself)",
    )
    with pytest.raises(SpecError) as info:
        AgentSpec(name="c", state=Counter, plugins=[Plugin(name="p", state=given)])
    assert info.value.problems == (
        "plugin 'p': state Counter(count=0) is an instance where a class is expected"
        " (pass Counter itself)",
    )


def _crash_of(run: Callable[[Counter, NoParams, Context], Any]) -> str:
    spec = AgentSpec(name="c", state=Counter, routes=[Route(pattern="go", target=action("a")(run))])
    with pytest.raises(ActionCrashed) as caught:
        step(spec, spec.new("c"), _sig("go"))
    assert caught.value.action == "a"
    return f"{type(caught.value.__cause__).__name__}: {caught.value.__cause__}"


def _unchecked(value: object) -> Any:
    # What mypy would refuse: the malformed values below are the point.
    return value


_MALFORMED: list[tuple[Callable[[Counter, NoParams, Context], object], str]] = [
    (lambda s, p, c: ok(None, _unchecked([emit("a.b"), emit("a.c")])), "TypeError: .*list"),
    (lambda s, p, c: ok(None, _unchecked(SetPath("count", 1))), "TypeError: .*SetPath"),
    (lambda s, p, c: Success(Outcome(directives=_unchecked(emit("a.b")))), "TypeError: .*tuple"),
    (lambda s, p, c: Success(Outcome(directives=_unchecked(None))), "TypeError: .*tuple"),
    (lambda s, p, c: Success(Outcome(ops=_unchecked(SetPath("count", 1)))), "TypeError"),
    (lambda s, p, c: Success(Outcome(ops=(DeleteKeys(_unchecked([["count"]])),))), "TypeError"),
    (lambda s, p, c: ok(None, emit("a.b", to=_unchecked("agent-2"))), "TypeError: .*'agent-2'"),
]


@pytest.mark.parametrize(("run", "says"), _MALFORMED)
def test_a_malformed_outcome_is_an_action_crash(
    run: Callable[[Counter, NoParams, Context], object], says: str
) -> None:
    """What an action returns that is not a well-formed Outcome (a list where directives go,
    an op among them, one directive or op not in a tuple, an op that cannot apply, a target
    that is no Target) is a bug in the action: ``step`` raises ActionCrashed saying what was
    wrong, never a bare exception or a Step that interpreters cannot execute."""
    assert re.match(says, _crash_of(run))


def test_a_guard_that_raises_is_a_bug_that_propagates_as_it_is() -> None:
    """``step`` is total on bad data, not on bugs: a guard that trips on a signal's data
    (here a missing key) lets its exception out, as the docs say, for the runtime's error
    policy; the caller's agent is untouched."""

    def big(s: Signal) -> bool:
        data: Any = s.data
        return bool(data["amount"] > 100)

    spec = AgentSpec(
        name="g", state=Counter, routes=[Route(pattern="order.placed", target=add, guard=big)]
    )
    agent = spec.new("g")
    assert step(spec, agent, _sig("order.placed", {"amount": 500})).agent.state == Counter(1)
    with pytest.raises(KeyError, match="amount"):
        step(spec, agent, _sig("order.placed", {}))
    assert agent == spec.new("g")


def test_an_emit_needs_a_signal_and_a_target() -> None:
    """``Emit`` refuses what is no Signal or no Target."""
    signal = Signal.draft("a.b")
    with pytest.raises(TypeError, match="signal"):
        Emit(signal="a.b", to=SELF)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="target"):
        Emit(signal=signal, to="agent-2")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="target"):
        emit("a.b", to="agent-2")  # type: ignore[arg-type]


@attrs.frozen
class By:
    """Params."""

    by: int = 1


@action(params=By)
def add(state: Counter, p: By, ctx: Context) -> ActionResult[Counter]:
    return ok(Counter(state.count + p.by))


ADDER = AgentSpec(name="adder", state=Counter, routes=[Route(pattern="add", target=add)])


def test_cmd_takes_an_action_paired_with_a_params_instance() -> None:
    """``cmd(spec, agent, (action, Params(...)))`` runs the action once with those params,
    as with a mapping; an instance of another class is one params problem."""
    result = cmd(ADDER, ADDER.new("a"), (add, By(by=5)))
    assert result.problems == ()
    assert (result.agent.state.count, result.agent.version) == (5, 1)
    result = cmd(ADDER, ADDER.new("a"), [("add", By(by=2)), (add, {"by": 3})])
    assert result.agent.state.count == 5
    result = cmd(ADDER, ADDER.new("a"), (add, Counter(3)))
    assert [p.kind for p in result.problems] == [ProblemKind.PARAMS]
    assert "Counter" in result.problems[0].message
    assert result.agent.version == 0


@attrs.frozen
class Picks:
    """Params JSON writes differently from Python: a set, and a map with int keys."""

    tags: frozenset[str] = frozenset()
    weights: FrozenMap[int, int] = attrs.field(factory=FrozenMap)


@action(params=Picks)
def pick(state: Counter, p: Picks, ctx: Context) -> ActionResult[Counter]:
    return ok(Counter(state.count + len(p.tags) + sum(p.weights.values())))


PICKER = AgentSpec(name="picker", state=Counter, routes=[Route(pattern="pick", target=pick)])


def test_cmd_takes_params_instances_whose_json_differs_from_python() -> None:
    """A params instance holding a set or int-keyed map runs as the same params given as
    a mapping do."""
    params = Picks(tags=frozenset({"x", "y"}), weights=FrozenMap({1: 10}))
    result = cmd(PICKER, PICKER.new("p"), (pick, params))
    assert result.problems == ()
    assert result.agent.state.count == 12
    mapping = cmd(PICKER, PICKER.new("p"), (pick, {"tags": ["x", "y"], "weights": {"1": 10}}))
    assert mapping.agent == result.agent


@attrs.frozen
class Forward:
    """Params holding a signal, trace context and all."""

    signal: Signal


@action(params=Forward)
def forward(state: Counter, p: Forward, ctx: Context) -> ActionResult[Counter]:
    return ok(None, emit_to_sink("out", p.signal.type, dict(p.signal.extensions)))


def test_cmd_takes_a_params_instance_holding_a_signal() -> None:
    """A params instance holding a Signal reaches the action equal, extensions included."""
    spec = AgentSpec(name="fwd", state=Counter, routes=[Route(pattern="fwd", target=forward)])
    sig = Signal(type="x.y", source="/s", id="1", extensions={"traceparent": "00-abc"})
    result = cmd(spec, spec.new("f"), (forward, Forward(sig)))
    assert result.problems == ()
    (emitted,) = result.directives
    assert isinstance(emitted, Emit)
    assert emitted.signal.data == {"traceparent": "00-abc"}


@attrs.frozen
class Notify(CustomDirective):
    """A custom directive carrying signals."""

    signal: Signal
    more: tuple[Signal, ...] = ()
    note: str = ""


@action()
def notify(state: Counter, _: NoParams, ctx: Context) -> ActionResult[Counter]:
    first = Signal.draft("a.b", {"x": 1})
    return ok(
        None,
        emit("a.a"),
        Notify(signal=first, more=(Signal.draft("a.c"), Signal.draft("a.d")), note="n"),
        emit("a.e"),
    )


def test_drafts_in_a_custom_directive_are_stamped() -> None:
    """A draft held in a field (or a tuple field) of a CustomDirective is stamped like an
    Emit's, in order with the others: none is a draft when step returns."""
    spec = AgentSpec(name="n", state=Counter, routes=[Route(pattern="go", target=notify)])
    directives = step(spec, spec.new("c"), _sig("go")).directives
    assert len(directives) == 3
    first, custom, last = directives
    assert isinstance(first, Emit)
    assert isinstance(last, Emit)
    assert isinstance(custom, Notify)
    signals = [first.signal, custom.signal, *custom.more, last.signal]
    assert [s.type for s in signals] == ["a.a", "a.b", "a.c", "a.d", "a.e"]
    assert not any(s.is_draft for s in signals)
    assert [s.id for s in signals] == [derive_id("s1", "c", n, salt="/t") for n in range(5)]
    assert custom.signal.causation_id == "s1"
    assert custom.signal.data == {"x": 1}
    assert custom.note == "n"


@attrs.frozen
class Routing:
    """A state whose field cattrs' own converter cannot read alone (serde's codec can)."""

    routes: dict[str, Target] = attrs.field(factory=dict)


def test_a_state_of_targets_builds() -> None:
    """A field type the core's converter lacks a hook for, but the codec reads (a target,
    by its tag), does not fail a spec: the spec refuses only what the codec could not give
    back."""
    spec = AgentSpec(name="routing", state=Routing)
    agent = spec.new("r", Routing(routes={"x": ToAgent("b")}))
    assert agent_from_json(to_json(agent), spec) == agent
