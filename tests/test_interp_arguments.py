"""What the interpreters are built with is checked at once: a wrong kind of value fails when
the interpreter is made, with a message naming it, not deep inside a later run."""

from __future__ import annotations

import re
from typing import Any

import attrs
import pytest

from jido import ActionResult, AgentSpec, Context, NoParams, Route, action, ok
from jido_interpreters import AsyncRuntime, DryRun, SyncRuntime, new_signal


@attrs.frozen
class Empty:
    """No state to speak of."""


@action(params=NoParams)
def noop(state: Empty, _: NoParams, ctx: Context) -> ActionResult[Empty]:
    return ok(state)


SPEC = AgentSpec(name="thing", state=Empty, routes=[Route(pattern="x.y", target=noop)])
TWIN = AgentSpec(name="thing", state=Empty, routes=[Route(pattern="x.z", target=noop)])

# Called through Any: these are the wrong kinds of argument the type checker would refuse.
MAKERS: dict[str, Any] = {"sync": SyncRuntime, "dryrun": DryRun, "async": AsyncRuntime}

COMMON: list[tuple[tuple[Any, ...], dict[str, Any], type[Exception], str]] = [
    ((["thing"],), {}, TypeError, "AgentSpec values, not 'thing'"),
    ((SPEC,), {}, TypeError, "a collection of AgentSpec"),
    (([SPEC, TWIN],), {}, ValueError, "two different specs are named 'thing'"),
    (([],), {"sinks": "audit"}, TypeError, "not the string 'audit'"),
    (([],), {"sensors": {"feed": 3}}, TypeError, "sensor 'feed' is not callable"),
]
SPECIFIC: list[tuple[str, dict[str, Any], str]] = [
    ("sync", {"effects": {"llm": "gpt"}}, "effect 'llm' is not callable"),
    ("async", {"effects": {"llm": None}}, "effect 'llm' is not callable"),
    ("async", {"sinks": {"audit": 1}}, "sink 'audit' is not callable"),
    ("dryrun", {"replies": [1]}, "replies must be a mapping"),
]


@pytest.mark.parametrize("kind", sorted(MAKERS))
@pytest.mark.parametrize(("args", "kwargs", "error", "message"), COMMON)
def test_every_interpreter_refuses_a_wrong_argument(
    kind: str, args: tuple[Any, ...], kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=re.escape(message)):
        MAKERS[kind](*args, **kwargs)


@pytest.mark.parametrize(("kind", "kwargs", "message"), SPECIFIC)
def test_handlers_that_are_not_callable_are_refused(
    kind: str, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(TypeError, match=re.escape(message)):
        MAKERS[kind]([], **kwargs)


def test_the_same_spec_twice_is_fine() -> None:
    assert SyncRuntime([SPEC, SPEC]).agent_ids == ()


@pytest.mark.parametrize("field", ["id", "time"])
def test_new_signal_refuses_to_be_given_what_it_makes(field: str) -> None:
    """``new_signal`` makes the id and the time: given either, it says so (and what to do
    instead), not "got multiple values for keyword argument"."""
    with pytest.raises(TypeError, match=f"takes no {field}: to choose them, make a Signal"):
        new_signal("a.b", source="/edge", **{field: None})


def test_new_signal_makes_a_fresh_id_and_time_and_takes_other_fields() -> None:
    first = new_signal("a.b", {"x": 1}, source="/edge", subject="s")
    second = new_signal("a.b", {"x": 1}, source="/edge", subject="s")
    assert first.id != second.id
    assert first.time is not None
    assert first.time.tzinfo is not None
    assert (first.subject, first.data) == ("s", {"x": 1})
