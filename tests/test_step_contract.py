"""The step contract at its edges: what an action may return, what a spec may be built from,
and how ``cmd`` reads its instructions."""

from __future__ import annotations

import attrs
from returns.result import Failure

from jido import (
    ActionResult,
    AgentSpec,
    Context,
    NoParams,
    Problem,
    ProblemKind,
    Route,
    Signal,
    action,
    error,
    fail,
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
