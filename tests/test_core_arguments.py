"""The core's constructors refuse a wrong kind of collection by the argument's name: a number
fails saying which argument it is, and a string or a mapping is not taken apart into its
characters or keys."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import attrs
import pytest

from jido import (
    ActionResult,
    AgentSpec,
    Context,
    DeleteKeys,
    NoParams,
    Plugin,
    Route,
    Router,
    Signal,
    action,
    ok,
    step,
)
from jido.serde import agent_from_json, directive_from_json, signal_from_json, to_json


@attrs.frozen
class Tally:
    count: int = 0


@action()
def bump(state: Tally, params: NoParams, ctx: Context) -> ActionResult[Tally]:
    return ok(Tally(state.count + 1))


ROUTE = Route(pattern="tally.bump", target=bump)

# Called through Any: these are the wrong kinds of argument the type checker would refuse.
MAKERS: dict[str, Callable[[Any], object]] = {
    "AgentSpec routes": lambda v: AgentSpec(name="t", state=Tally, routes=v),
    "AgentSpec actions": lambda v: AgentSpec(name="t", state=Tally, actions=v),
    "AgentSpec plugins": lambda v: AgentSpec(name="t", state=Tally, plugins=v),
    "AgentSpec schedules": lambda v: AgentSpec(name="t", state=Tally, schedules=v),
    "Plugin routes": lambda v: Plugin(name="p", routes=v),
    "Plugin actions": lambda v: Plugin(name="p", actions=v),
    "Plugin schedules": lambda v: Plugin(name="p", schedules=v),
    "Router routes": lambda v: Router(v),
    "DeleteKeys keys": lambda v: DeleteKeys(v),
}


WRONG: list[tuple[object, str]] = [
    (5, "int 5"),
    (None, "None"),
    ("tally.bump", "str 'tally.bump'"),
    ({"a": ROUTE}, "dict"),
]


@pytest.mark.parametrize(
    ("where", "value", "shown"),
    [
        (where, value, shown)
        for where in sorted(MAKERS)
        for value, shown in WRONG
        # A state op takes one string as a one-key path (below).
        if not (where == "DeleteKeys keys" and isinstance(value, str))
    ],
)
def test_a_collection_argument_of_the_wrong_kind_is_refused_by_name(
    where: str, value: object, shown: str
) -> None:
    with pytest.raises(TypeError, match=re.escape(where) + ".* must be a collection") as info:
        MAKERS[where](value)
    assert shown in str(info.value)


def test_a_state_op_path_may_still_be_one_string() -> None:
    assert DeleteKeys("count").keys == ("count",)


def test_a_router_refuses_what_is_no_route_by_its_place() -> None:
    with pytest.raises(TypeError, match=re.escape("Router routes[1] is 5, not a Route")):
        Router([ROUTE, 5])  # type: ignore[arg-type]


def test_action_refuses_to_decorate_what_is_no_function() -> None:
    decorate: Any = action()
    with pytest.raises(TypeError, match=r"@action decorates a function .*, not 5"):
        decorate(5)


def test_a_bare_action_decorator_makes_an_action_without_params() -> None:
    """``@action`` without parentheses used to give back its inner decorator, which the spec
    then refused as "not an action (decorate the function with @action)"."""

    @action
    def reset(state: Tally, params: NoParams, ctx: Context) -> ActionResult[Tally]:
        """Back to zero."""
        return ok(Tally())

    assert (reset.name, reset.params, reset.description) == ("reset", NoParams, "Back to zero.")
    spec = AgentSpec(name="t", state=Tally, routes=[Route(pattern="tally.reset", target=reset)])
    signal = Signal(type="tally.reset", source="/test", id="1")
    after = step(spec, spec.new("a", Tally(3)), signal)
    assert after.agent.state == Tally(0)
    assert after.problems == ()


@pytest.mark.parametrize(
    "decode",
    [
        signal_from_json,
        directive_from_json,
        lambda v: agent_from_json(v, AgentSpec(name="t", state=Tally)),
    ],
)
@pytest.mark.parametrize("value", [5, None, ["{}"]])
def test_decoders_refuse_what_is_no_text(decode: Callable[[Any], object], value: object) -> None:
    with pytest.raises(TypeError, match=r"decodes from JSON text \(str or bytes\), not"):
        decode(value)


def test_decoders_read_a_bytearray_as_bytes() -> None:
    """A bytearray passed the json module but not the check for lone surrogates after it,
    which failed with "a bytes-like object is required, not 'str'"."""
    signal = Signal(type="tally.bump", source="/test", id="1", data={"note": "é"})
    text = bytearray(to_json(signal).encode())
    assert signal_from_json(text) == signal
