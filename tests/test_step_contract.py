"""The step contract at its edges: what an action may return, what a spec may be built from,
and how ``cmd`` reads its instructions."""

from __future__ import annotations

import attrs
import pytest
from returns.result import Failure

from jido import (
    ActionResult,
    AgentSpec,
    Context,
    NoParams,
    Plugin,
    Problem,
    ProblemKind,
    Route,
    Signal,
    SpecError,
    action,
    error,
    fail,
    ok,
    step,
)


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
