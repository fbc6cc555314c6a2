"""A custom strategy, as docs/concepts.md writes one: it runs what the routes' targets say,
and an Instruction refuses what is no action."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import attrs
import pytest

from jido import (
    FSM,
    ActionResult,
    AgentSpec,
    Context,
    Direct,
    Instruction,
    NoParams,
    Plugin,
    ProblemKind,
    Route,
    Run,
    Signal,
    SpecError,
    action,
    ok,
    step,
)

CONCEPTS = Path(__file__).parent.parent / "docs" / "concepts.md"


def the_guides_strategy() -> Any:
    """The custom strategy docs/concepts.md shows, defined by running its code."""
    (block,) = [
        b
        for b in re.findall(r"```python\n(.*?)```", CONCEPTS.read_text(encoding="utf-8"), re.S)
        if "class FirstOnly" in b
    ]
    namespace: dict[str, Any] = {}
    exec(compile(textwrap.dedent(block), str(CONCEPTS), "exec"), namespace)
    return namespace["FirstOnly"]()


@attrs.frozen
class Seen:
    """Which actions ran."""

    seen: tuple[str, ...] = ()


@action()
def first(state: Seen, _: NoParams, ctx: Context) -> ActionResult[Seen]:
    return ok(Seen((*state.seen, "first")))


@action()
def second(state: Seen, _: NoParams, ctx: Context) -> ActionResult[Seen]:
    return ok(Seen((*state.seen, "second")))


def test_the_guides_custom_strategy_runs_the_first_route_only() -> None:
    """The guide's strategy runs the highest-priority route's action and counts signals in
    its status; an unrouted signal is refused with the problem it makes."""
    spec = AgentSpec(
        name="picky",
        state=Seen,
        strategy=the_guides_strategy(),
        routes=[
            Route(pattern="p.*", target=first, priority=10),
            Route(pattern="p.go", target=second),
        ],
    )
    result = step(spec, spec.new("p"), Signal(type="p.go", source="/t", id="1"))
    assert (result.agent.state, result.agent.status) == (Seen(("first",)), "1")
    refused = step(spec, result.agent, Signal(type="q.go", source="/t", id="2"))
    assert [p.message for p in refused.problems] == ["no route for q.go"]
    assert refused.agent == result.agent


def test_an_instruction_refuses_what_is_no_action() -> None:
    """``Instruction(action=...)`` takes an Action only: a strategy handing it a route's
    target twice wrapped, or a name, fails where the mistake is made."""
    made = Instruction(action=first)
    with pytest.raises(TypeError, match="action"):
        Instruction(action=made)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="action"):
        Instruction(action="first")  # type: ignore[arg-type]


@pytest.mark.parametrize("cls", [Direct, FSM])
def test_a_strategy_class_is_a_spec_error(cls: Any) -> None:
    """``strategy=Direct`` (the class, not an instance) has both members a strategy needs, but
    is none: the spec says so when it is built, instead of a nonsense status and a TypeError
    on the first step."""
    with pytest.raises(SpecError) as info:
        AgentSpec(name="c", state=Seen, strategy=cls)
    assert info.value.problems == (
        f"strategy {cls.__name__} is a class where an instance is expected"
        f" (write {cls.__name__}(...))",
    )


class NumberedStart:
    """A strategy whose initial status is set per instance."""

    def __init__(self, initial: Any) -> None:
        self.initial_status: str = initial

    def decide(self, status: str, signal: Signal, routed: Any) -> Any:
        raise AssertionError("never asked")


@pytest.mark.parametrize(
    ("initial", "says"),
    [
        (0, "initial_status 0 is not a string: a status is a non-empty line of printable text"),
        (None, "initial_status None is not a string"),
        (b"idle", "initial_status b'idle' is not a string"),
        ("", "initial_status '': a status is a non-empty line of printable text"),
        ("a\nb", "initial_status 'a\\nb': a status is a non-empty line of printable text"),
        ("*", "initial_status '*': means any status (an FSM row's source)"),
    ],
)
def test_a_strategy_whose_initial_status_is_no_status_is_a_spec_error(
    initial: object, says: str
) -> None:
    """A new agent's status is the strategy's initial one, and a status is a non-empty line
    of printable text, not ``*``, as an FSM's: a custom strategy starting from anything else
    fails the spec, naming the value."""
    with pytest.raises(SpecError) as info:
        AgentSpec(name="c", state=Seen, strategy=NumberedStart(initial))
    (problem,) = info.value.problems
    assert says in problem
    assert AgentSpec(name="c", state=Seen, strategy=NumberedStart("0")).new("x").status == "0"


class MovesTo:
    """A strategy moving every routed signal to one status."""

    initial_status = "open"

    def __init__(self, status: Any) -> None:
        self.status = status

    def decide(self, status: str, signal: Signal, routed: Any) -> Any:
        return Run(tuple(r.target for r in routed), next_status=self.status)


@pytest.mark.parametrize(
    ("status", "error", "says"),
    [
        ("", ValueError, "next_status '': a status is a non-empty line of printable text"),
        ("a\nb", ValueError, "next_status 'a\\nb': a status is a non-empty line"),
        ("*", ValueError, "next_status '*': means any status"),
        (5, TypeError, "next_status 5 is not a string: a status is a non-empty line"),
    ],
)
def test_a_run_to_what_is_not_a_status_is_refused_where_it_is_made(
    status: object, error: type[Exception], says: str
) -> None:
    """``Run.next_status`` is checked as every status is (an FSM's, an initial one): a
    custom strategy moving to an empty status, several lines or ``*`` raises in its
    ``decide``, naming the field, and no agent is ever given (or serialises) that status."""
    with pytest.raises(error) as info:
        Run((), next_status=status)  # type: ignore[arg-type]
    assert says in str(info.value)
    spec = AgentSpec(
        name="m", state=Seen, strategy=MovesTo(status), routes=[Route(pattern="x.y", target=first)]
    )
    with pytest.raises(error, match="next_status"):
        step(spec, spec.new("a"), Signal(type="x.y", source="/t", id="1"))
    assert Run((), next_status="a b").next_status == "a b"


class Hands:
    """A strategy whose Run holds what is given, not Instructions."""

    initial_status = "open"

    def __init__(self, give: Any) -> None:
        self.give = give

    def decide(self, status: str, signal: Signal, routed: Any) -> Any:
        return Run(self.give(routed))


@pytest.mark.parametrize(
    ("give", "says"),
    [
        (
            lambda routed: (first,),
            "a Run's instructions hold action 'first' itself, not an Instruction: pass"
            " Instruction(action=first)",
        ),
        (
            lambda routed: routed,
            "a Run's instructions hold route 'x.y', not an Instruction: pass its target"
            " (route.target, the Instruction for action 'first')",
        ),
        (lambda routed: ("first",), "a Run's instructions hold 'first', not an Instruction"),
    ],
    ids=["action", "route", "name"],
)
def test_a_run_of_actions_or_routes_says_what_to_pass(give: Any, says: str) -> None:
    """A strategy handing ``Run`` an action or a route where an Instruction belongs gets a
    TypeError saying what to pass instead, naming the action, not a repr of the action."""
    spec = AgentSpec(
        name="h", state=Seen, strategy=Hands(give), routes=[Route(pattern="x.y", target=first)]
    )
    with pytest.raises(TypeError) as info:
        step(spec, spec.new("a"), Signal(type="x.y", source="/t", id="1"))
    assert str(info.value).startswith(says)


@attrs.frozen
class Tally:
    """A plugin's slice."""

    n: int = 0


@action()
def tally(state: Tally, _: NoParams, ctx: Context) -> ActionResult[Tally]:
    return ok(Tally(state.n + 1))


TALLY = Plugin(name="tally", state=Tally, routes=[Route(pattern="t.y", target=tally)])


@pytest.mark.parametrize(
    ("ins", "says"),
    [
        (
            Instruction(action=tally),
            "action 'tally' runs on the slice 'tally', not on the agent's state"
            " (spec.action_table['tally'] is an instruction for it, bound to its state)",
        ),
        (
            Instruction(action=first, slice="tally"),
            "action 'first' runs on the agent's state, not on the slice 'tally'"
            " (spec.action_table['first'] is an instruction for it, bound to its state)",
        ),
    ],
    ids=["plugin-action-on-the-agent", "agent-action-on-a-slice"],
)
def test_an_instruction_bound_to_the_wrong_state_is_the_strategys_problem(
    ins: Instruction, says: str
) -> None:
    """A custom strategy building an Instruction for one of the spec's actions on a state it
    does not work on gets an ``action`` Error directive saying so, as ``cmd`` does, the
    state unchanged: not an ActionCrashed blaming the action for the state it was handed.
    The table's own instruction runs."""
    spec: AgentSpec[Seen] = AgentSpec(
        name="h",
        state=Seen,
        strategy=Hands(lambda routed: (ins, spec.action_table["tally"])),
        routes=[Route(pattern="x.y", target=first)],
        plugins=[TALLY],
    )
    agent = spec.new("a")
    result = step(spec, agent, Signal(type="x.y", source="/t", id="1"))
    (problem,) = result.problems
    assert problem.kind is ProblemKind.ACTION
    assert problem.message == says
    assert result.agent.state == agent.state
    assert result.agent.slices["tally"] == Tally(1)
