"""The core at its edges: names that render alike, statuses that are not statuses, values
JSON cannot hold, times in zones with rules, and specs built from the wrong parts."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import given

from jido import (
    FSM,
    ActionResult,
    AgentSpec,
    Context,
    Error,
    InvalidPattern,
    NoParams,
    Plugin,
    Problem,
    ProblemKind,
    Route,
    Signal,
    SpecError,
    Transition,
    action,
    ok,
    to_mermaid,
)
from jido.serde import EncodeError, signal_from_json, to_json
from jido.testing import agents


@attrs.frozen
class S:
    """A state."""

    x: float = 0.0


@action()
def noop(state: S, _: NoParams, ctx: Context) -> ActionResult[S]:
    return ok(state)


@action(name="a.b")
def dotted(state: S, _: NoParams, ctx: Context) -> ActionResult[S]:
    return ok(state)


@action(name="a_b")
def underscored(state: S, _: NoParams, ctx: Context) -> ActionResult[S]:
    return ok(state)


def test_names_that_render_alike_stay_distinct_nodes() -> None:
    """Statuses, patterns and actions whose names differ only in punctuation get distinct
    Mermaid nodes (``a_b`` and ``a_b_2``), so each edge joins what it names."""
    fsm = FSM(
        "a-b",
        [
            Transition(source="a-b", on="go", target="a_b"),
            Transition(source="a_b", on="back", target="a-b"),
        ],
    )
    diagram = to_mermaid(AgentSpec(name="f", state=S, strategy=fsm))
    assert 'state "a-b" as st_a_b' in diagram
    assert 'state "a_b" as st_a_b_2' in diagram
    assert "st_a_b --> st_a_b_2: go" in diagram
    assert "st_a_b_2 --> st_a_b: back" in diagram
    routes = AgentSpec(
        name="r",
        state=S,
        routes=[Route(pattern="x.y", target=dotted), Route(pattern="x_y", target=underscored)],
    )
    chart = to_mermaid(routes)
    assert "sig_x_y --> act_a_b" in chart
    assert "sig_x_y_2 --> act_a_b_2" in chart


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: FSM(1, []), "initial"),  # type: ignore[arg-type]
        (lambda: FSM("", []), "initial"),
        (lambda: FSM("*", []), "initial"),
        (lambda: Transition(source="x\ny", on="go", target="z"), "source"),
        (lambda: Transition(source="x", on="go", target="*"), "target"),
        (lambda: Transition(source="x", on="go", target=2), "target"),  # type: ignore[arg-type]
        (lambda: Transition(source="x", on="go", target="y", action="noop"), "action"),  # type: ignore[arg-type]
    ],
)
def test_an_fsm_refuses_what_is_not_a_status(build: object, field: str) -> None:
    """A status is a non-empty line of printable text, and ``*`` (any status) may only be a
    row's source: anything else fails construction, naming the field."""
    with pytest.raises((ValueError, TypeError), match=field):
        build()  # type: ignore[operator]


@pytest.mark.parametrize(
    ("build", "error", "says"),
    [
        (
            lambda: Transition(source="b", on="x.z", target="a", priority=500),
            ValueError,
            "row from 'b' on 'x.z': priority 500 is outside -100..100",
        ),
        (
            lambda: Transition(source="b", on="x.z", target="a", priority=True),
            ValueError,
            "row from 'b' on 'x.z': priority True is not an integer",
        ),
        (
            lambda: Transition(source="a", on=5, target="b"),  # type: ignore[arg-type]
            InvalidPattern,
            "invalid route pattern '5': must be a non-empty string (the on of the row from 'a')",
        ),
        (
            lambda: Transition(source="a", on="x..y", target="b"),
            InvalidPattern,
            "invalid route pattern 'x..y': empty segment (leading, trailing or double dot)"
            " (the on of the row from 'a')",
        ),
        (
            lambda: FSM(
                "a",
                [Transition(source="a", on="x.y", target="b"), ("a", "x.z", "c")],  # type: ignore[list-item]
            ),
            TypeError,
            "FSM row 1 is ('a', 'x.z', 'c'), not a Transition",
        ),
    ],
)
def test_a_transition_refuses_a_bad_on_or_priority_naming_the_row(
    build: Any, error: type[Exception], says: str
) -> None:
    """A row's ``on`` pattern and priority are checked where the row is written, and the error
    names the row (a route-level error from the FSM could only name a pattern); an FSM row
    that is no Transition is named by its index."""
    with pytest.raises(error) as caught:
        build()
    assert str(caught.value) == says


def test_non_finite_floats_are_encode_errors() -> None:
    """A state holding NaN or an infinity has no JSON form: an EncodeError, not text a
    strict parser refuses (or a NaN that is not equal to itself after a round trip)."""
    spec = AgentSpec(name="f", state=S)
    for value in (math.nan, math.inf, -math.inf):
        with pytest.raises(EncodeError, match="not JSON compliant"):
            to_json(spec.new("a", S(value)))


@attrs.frozen
class Named:
    name: str = ""


def test_a_lone_surrogate_in_a_state_is_an_encode_error() -> None:
    """A state holding a lone surrogate (a truncated emoji) has no UTF-8 form: an
    EncodeError from ``to_json``, not text that fails later, in the store that writes it;
    other text is written as it is."""
    spec = AgentSpec(name="named", state=Named)
    with pytest.raises(EncodeError, match="lone surrogate"):
        to_json(spec.new("a", Named("caf\u00e9 \ud83d")))
    assert "café 😀" in to_json(spec.new("a", Named("café 😀")))


SPEC = AgentSpec(name="floats", state=S)


@given(agents(SPEC))
def test_drawn_agents_hold_only_what_json_can(agent: object) -> None:
    """``jido.testing.agents`` draws finite floats for ``float`` fields: what it draws
    encodes."""
    assert isinstance(to_json(agent), str)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "when",
    [
        datetime(2024, 10, 27, 2, 30, tzinfo=ZoneInfo("Europe/Paris")),  # in the fold
        datetime(2024, 10, 27, 2, 30, fold=1, tzinfo=ZoneInfo("Europe/Paris")),
        datetime(2024, 3, 31, 2, 30, tzinfo=ZoneInfo("Europe/Paris")),  # in the gap
        datetime(2024, 6, 1, 12, 0, tzinfo=timezone(timedelta(microseconds=1))),
        datetime(2024, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=-5))),
    ],
)
def test_signal_times_round_trip_whatever_their_zone(when: datetime) -> None:
    """A time in a zone with rules is kept at the offset it had (its RFC 3339 form), one
    with an offset finer than a minute in UTC: the same instant, equal after a round
    trip."""
    sig = Signal(type="t", source="/s", id="i", time=when)
    assert sig.time is not None
    assert sig.time == when.astimezone(UTC)  # the same instant
    assert signal_from_json(to_json(sig)) == sig


def test_problems_and_errors_are_checked_when_built() -> None:
    """A Problem needs a kind and a text message, an Error a Problem: a wrong value fails
    construction instead of making a directive that cannot be decoded."""
    with pytest.raises(ValueError, match="ProblemKind"):
        Problem(kind="bogus", message="m")
    with pytest.raises(TypeError, match="message"):
        Problem(kind=ProblemKind.ACTION, message=5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="problem"):
        Error(problem="not a problem")  # type: ignore[arg-type]
    assert Problem(kind="action", message="m").kind is ProblemKind.ACTION


def test_a_spec_built_from_the_wrong_parts_lists_each() -> None:
    """A string among the schedules, a function among the actions, something else among the
    plugins or routes: one SpecError naming each, not an AttributeError."""

    def plain(state: S, params: NoParams, ctx: Context) -> None:
        """Never made an action."""

    with pytest.raises(SpecError) as info:
        AgentSpec(
            name="parts",
            state=S,
            routes=["x"],  # type: ignore[list-item]
            actions=[plain],  # type: ignore[list-item]
            schedules=["junk"],  # type: ignore[list-item]
            plugins=[Plugin(name="p", schedules=[None]), "q"],  # type: ignore[list-item]
        )
    problems = info.value.problems
    assert "routes[0] is 'x', not a Route" in problems
    assert any(p.startswith("actions[0] is <function") for p in problems)
    assert "schedules[0] is 'junk', not a Schedule or Cron" in problems
    assert "plugins[1] is 'q', not a Plugin" in problems
    assert "plugin 'p' schedules[0] is None, not a Schedule or Cron" in problems
