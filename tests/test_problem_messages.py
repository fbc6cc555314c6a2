"""What a value's own validators say reaches the problem or the error: params, decoded
directives, and values set in state all name the field and the reason."""

from __future__ import annotations

import attrs
import pytest

from jido import (
    ActionResult,
    AgentSpec,
    Context,
    NoParams,
    ProblemKind,
    Route,
    SetPath,
    Signal,
    action,
    ok,
    step,
)
from jido.serde import DecodeError, directive_from_dict


@attrs.frozen
class Transfer:
    """Params with validators."""

    amount: int = attrs.field(validator=attrs.validators.gt(0))
    memo: str = attrs.field(default="", validator=attrs.validators.max_len(5))


@attrs.frozen
class Line:
    """A nested value with a validator."""

    qty: int = attrs.field(default=0, validator=attrs.validators.ge(0))


@attrs.frozen
class Book:
    """A state holding a nested value."""

    line: Line = attrs.field(factory=Line)


@action(params=Transfer)
def transfer(state: Book, p: Transfer, ctx: Context) -> ActionResult[Book]:
    return ok(None)


@action()
def set_line(state: Book, _: NoParams, ctx: Context) -> ActionResult[Book]:
    return ok(None, ops=(SetPath(("line",), {"qty": -1}),))


SPEC = AgentSpec(
    name="book",
    state=Book,
    routes=[Route(pattern="transfer", target=transfer), Route(pattern="line", target=set_line)],
)


def _sig(type: str, data: object = None) -> Signal:
    return Signal(type=type, source="/t", id="s1", data=data)


def test_a_params_validator_names_the_field_and_the_reason() -> None:
    """A params validator's rejection is reported as attrs words it, not as 'invalid value'."""
    result = step(SPEC, SPEC.new("b"), _sig("transfer", {"amount": -5}))
    (problem,) = result.problems
    assert problem.kind is ProblemKind.PARAMS
    errors = problem.details["errors"]
    assert isinstance(errors, tuple)
    assert len(errors) == 1
    assert "'amount' must be > 0: -5" in str(errors[0])
    assert "'amount' must be > 0: -5" in problem.message


def test_a_state_validator_names_the_field_and_the_reason() -> None:
    """A nested value's validator rejecting what a state op sets is a state problem that says
    which field and why."""
    result = step(SPEC, SPEC.new("b"), _sig("line"))
    (problem,) = result.problems
    assert problem.kind is ProblemKind.STATE
    assert "'qty' must be >= 0: -1" in problem.message


_SIG = {"specversion": "1.0", "id": "1", "source": "/x", "type": "a"}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ({"kind": "schedule", "delay": -1, "signal": _SIG}, "delay must be finite and >= 0"),
        (
            {"kind": "invoke", "effect": "e", "on_ok": "bad type!", "on_error": "x.err"},
            "on_ok 'bad type!' is not a valid signal type",
        ),
        (
            {"kind": "cron", "expression": "", "signal": _SIG, "job_id": "j"},
            "expression must be a non-empty string",
        ),
        ({"kind": "spawn_agent", "spec": "", "tag": "t"}, "spec must be a non-empty string"),
    ],
)
def test_a_directive_validator_names_the_field_and_the_reason(
    raw: dict[str, object], reason: str
) -> None:
    """A directive its own validators refuse is a DecodeError that says why."""
    with pytest.raises(DecodeError, match="cannot decode directive") as caught:
        directive_from_dict(raw)
    assert reason in str(caught.value)
