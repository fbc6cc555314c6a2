"""Example tests of the pure core: signals, routing, params, FSM, plugins, serde, crashes."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest
from returns.result import Failure

from jido import (
    FSM,
    ActionCrashed,
    ActionResult,
    AgentSpec,
    Context,
    Emit,
    EmptyState,
    FrozenMap,
    InvalidPattern,
    InvalidSignal,
    NoParams,
    Plugin,
    ProblemKind,
    Route,
    Router,
    Signal,
    SpecError,
    Transition,
    action,
    cmd,
    derive_id,
    emit,
    fail,
    ok,
    schedule,
    step,
    to_mermaid,
)
from jido.serde import DecodeError, agent_from_json, directive_from_json, signal_from_json, to_json

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def sig(type: str, data: object = None, id: str = "s1", **kw: Any) -> Signal:
    """A signal from the test."""
    return Signal(type=type, source="/test", id=id, time=T0, data=data, **kw)


# ---------------------------------------------------------------------------- signals


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("type", {"type": ""}),
        ("type", {"type": "a..b"}),
        ("type", {"type": "a."}),
        ("type", {"type": "a b"}),
        ("type", {"type": "a.*"}),
        ("source", {"source": ""}),
        ("id", {"id": ""}),
        ("data", {"data": {1, 2}}),
        ("data", {"data": {"x": math.nan}}),
        ("data", {"data": {1: "non-string key"}}),
        ("data", {"data": {"deep": [object()]}}),
        ("time", {"time": datetime(2026, 1, 1)}),
        ("extensions", {"extensions": {"Bad-Name": "x"}}),
        ("extensions", {"extensions": {"ok": 1.5}}),
        ("extensions", {"extensions": {"type": "reserved"}}),
    ],
)
def test_a_malformed_signal_cannot_exist(field: str, kwargs: dict[str, Any]) -> None:
    """Construction rejects each malformed field with InvalidSignal naming that field."""
    base: dict[str, Any] = {"type": "order.paid", "source": "/shop", "id": "1"}
    with pytest.raises(InvalidSignal) as info:
        Signal(**{**base, **kwargs})
    assert info.value.field == field


def test_bad_data_names_its_path() -> None:
    """The error for non-JSON data says where in the data it is."""
    with pytest.raises(InvalidSignal, match=r"\$\.items\[1\]"):
        sig("a.b", {"items": [1, {2}]})


def test_signals_are_frozen_and_hash_by_value() -> None:
    """Equal signals hash equal; data is frozen (dict -> FrozenMap, list -> tuple)."""
    a, b = sig("a.b", {"x": [1, 2]}), sig("a.b", {"x": [1, 2]})
    assert a == b
    assert hash(a) == hash(b)
    assert a.data == FrozenMap({"x": (1, 2)})
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        a.type = "c.d"  # type: ignore[misc]


# ---------------------------------------------------------------------------- routing


def test_patterns_exact_star_and_double_star() -> None:
    """'*' matches one segment, '**' zero or more, literals themselves."""
    r = Router(
        [
            Route(pattern="order.paid", target="exact"),
            Route(pattern="order.*", target="star"),
            Route(pattern="order.**", target="dstar"),
            Route(pattern="**", target="all"),
            Route(pattern="audit.*.done", target="mid"),
        ]
    )
    assert {x.target for x in r.candidates("order.paid")} == {"exact", "star", "dstar", "all"}
    assert {x.target for x in r.candidates("order")} == {"dstar", "all"}
    assert {x.target for x in r.candidates("order.a.b")} == {"dstar", "all"}
    assert {x.target for x in r.candidates("audit.x.done")} == {"mid", "all"}
    assert {x.target for x in r.candidates("audit.done")} == {"all"}


def test_order_is_priority_then_specificity_then_registration() -> None:
    """Higher priority first; among equals, the more specific; then the order given."""
    r = Router(
        [
            Route(pattern="a.**", target="dstar"),
            Route(pattern="a.*", target="star"),
            Route(pattern="a.b", target="exact-1"),
            Route(pattern="a.b", target="exact-2"),
            Route(pattern="**", target="urgent", priority=100),
        ]
    )
    assert [x.target for x in r.candidates("a.b")] == [
        "urgent",
        "exact-1",
        "exact-2",
        "star",
        "dstar",
    ]


def test_guards_filter_matches() -> None:
    """A route whose guard is false does not match."""
    r = Router(
        [
            Route(pattern="a.b", target="big", guard=lambda s: s.data == 2),
            Route(pattern="a.b", target="any"),
        ]
    )
    assert [x.target for x in r.match(sig("a.b", 1))] == ["any"]
    assert [x.target for x in r.match(sig("a.b", 2))] == ["big", "any"]


@pytest.mark.parametrize("pattern", ["", "a..b", ".a", "a.", "a b", "a.**.**", "a.b$"])
def test_bad_patterns_are_rejected(pattern: str) -> None:
    """Malformed patterns raise InvalidPattern."""
    with pytest.raises(InvalidPattern):
        Route(pattern=pattern, target=None)


@pytest.mark.parametrize("priority", [101, -101, True])
def test_priorities_are_bounded_integers(priority: Any) -> None:
    """Priorities outside -100..100 (or not integers) are refused."""
    with pytest.raises(ValueError, match="priority"):
        Route(pattern="a", target=None, priority=priority)


def test_a_thousand_routes() -> None:
    """With 1,000 routes, each type still finds exactly its own route."""
    r = Router([Route(pattern=f"svc{i}.event{i % 7}.*", target=i) for i in range(1000)])
    for i in range(0, 1000, 97):
        assert [x.target for x in r.candidates(f"svc{i}.event{i % 7}.done")] == [i]
    assert r.candidates("svc1.event3.done") == ()


# ---------------------------------------------------------------------------- params


@attrs.frozen
class Counter:
    """A counter."""

    count: int = 0
    label: str = ""


@attrs.frozen
class Set:
    """Strict params: two required fields."""

    count: int
    label: str


@action(params=Set, extra="forbid")
def set_both(state: Counter, p: Set, ctx: Context) -> ActionResult[Counter]:
    """Set both fields."""
    return ok(Counter(p.count, p.label))


@action()
def crash(state: Counter, _: NoParams, ctx: Context) -> ActionResult[Counter]:
    """A bug."""
    raise ZeroDivisionError("oops")


@action()
def refuse(state: Counter, _: NoParams, ctx: Context) -> ActionResult[Counter]:
    """Fails as a value."""
    return fail("not now", why="closed")


@action()
def refuse_plainly(state: Counter, _: NoParams, ctx: Context) -> ActionResult[Counter]:
    """Fails with a bare message."""
    return Failure("nope")


SPEC = AgentSpec(
    name="counter",
    state=Counter,
    routes=[
        Route(pattern="c.set", target=set_both),
        Route(pattern="c.crash", target=crash),
        Route(pattern="c.refuse", target=refuse),
        Route(pattern="c.refuse2", target=refuse_plainly),
    ],
)


def test_bad_params_list_every_bad_field_and_change_nothing() -> None:
    """A wrong type, a missing field and an unknown one are all reported, in one Error."""
    agent = SPEC.new("a")
    result = step(SPEC, agent, sig("c.set", {"count": "5", "extra": 1}))
    assert result.agent == agent
    (problem,) = result.problems
    assert problem.kind is ProblemKind.PARAMS
    errors = [str(e) for e in problem.details["errors"]]  # type: ignore[union-attr]
    assert any(e.endswith("$.count") for e in errors)
    assert any(e.endswith("$.label") for e in errors)
    assert any(e.endswith("$.extra") for e in errors)


@pytest.mark.parametrize("bad", [1.5, True, "1", None])
def test_params_are_strict(bad: object) -> None:
    """No silent coercion into an int field."""
    result = step(SPEC, SPEC.new("a"), sig("c.set", {"count": bad, "label": "x"}))
    assert [p.kind for p in result.problems] == [ProblemKind.PARAMS]


def test_failures_become_errors_and_crashes_propagate() -> None:
    """fail() and Failure() give ACTION problems; an exception is ActionCrashed."""
    agent = SPEC.new("a")
    (p1,) = step(SPEC, agent, sig("c.refuse")).problems
    (p2,) = step(SPEC, agent, sig("c.refuse2")).problems
    assert (p1.kind, p1.message, p1.details["why"]) == (ProblemKind.ACTION, "not now", "closed")
    assert (p2.kind, p2.message) == (ProblemKind.ACTION, "nope")
    with pytest.raises(ActionCrashed) as info:
        step(SPEC, agent, sig("c.crash"))
    assert (info.value.agent_id, info.value.action, info.value.signal_type) == (
        "a",
        "crash",
        "c.crash",
    )
    assert isinstance(info.value.__cause__, ZeroDivisionError)


# ---------------------------------------------------------------------------- FSM


@action()
def begin(state: Counter, _: NoParams, ctx: Context) -> ActionResult[Counter]:
    """Start a job."""
    return ok(attrs.evolve(state, count=state.count + 1), emit("job.begun"))


JOB = AgentSpec(
    name="job",
    state=Counter,
    strategy=FSM(
        "idle",
        [
            Transition(source="idle", on="job.started", target="running", action=begin),
            Transition(source="running", on="job.finished", target="idle"),
            Transition(source="running", on="job.failed", target="broken", action=refuse),
        ],
    ),
    routes=[Route(pattern="c.set", target=set_both)],
)


def test_fsm_transitions_and_refusals() -> None:
    """Legal rows move the status; an illegal one is refused naming status and type; a
    failing transition action leaves the status; uncontrolled types route as usual."""
    agent = JOB.new("j")
    assert agent.status == "idle"
    running = step(JOB, agent, sig("job.started")).agent
    assert (running.status, running.state.count, running.version) == ("running", 1, 1)

    refused = step(JOB, running, sig("job.started"))
    assert refused.agent == running
    (problem,) = refused.problems
    assert problem.kind is ProblemKind.TRANSITION
    assert (problem.details["status"], problem.details["signal_type"]) == (
        "running",
        "job.started",
    )

    failed = step(JOB, running, sig("job.failed"))
    assert failed.agent.status == "running"
    assert [p.kind for p in failed.problems] == [ProblemKind.ACTION]

    assert step(JOB, running, sig("job.finished")).agent.status == "idle"
    routed = step(JOB, running, sig("c.set", {"count": 7, "label": "x"}))
    assert (routed.agent.status, routed.agent.state.count) == ("running", 7)


def test_fsm_renders_as_mermaid() -> None:
    """The transition table renders as a state diagram, one edge per row."""
    text = to_mermaid(JOB)
    assert text.startswith("stateDiagram-v2")
    assert "[*] --> st_idle" in text
    assert "st_idle --> st_running: job.started / begin" in text
    assert "st_running --> st_idle: job.finished" in text
    assert "st_running --> st_broken: job.failed / refuse" in text
    assert to_mermaid(SPEC).startswith("flowchart LR")


# ---------------------------------------------------------------------------- plugins


@attrs.frozen
class Audit:
    """The audit plugin's slice."""

    events: tuple[str, ...] = ()


@action()
def record(state: Audit, _: NoParams, ctx: Context) -> ActionResult[Audit]:
    """Record the signal type ("cmd" when run directly)."""
    assert ctx.slice == "audit"
    return ok(Audit((*state.events, ctx.signal.type if ctx.signal else "cmd")))


AUDIT = Plugin(
    name="audit",
    state=Audit,
    routes=[Route(pattern="counter.increment", target=record)],
    schedules=[schedule(60, "audit.flush")],
)


@action()
def inc(state: Counter, _: NoParams, ctx: Context) -> ActionResult[Counter]:
    """Count."""
    return ok(attrs.evolve(state, count=state.count + 1))


def test_plugin_routes_are_used_as_written_and_see_only_their_slice() -> None:
    """The plugin's route is not prefixed; its action updates its slice and nothing else."""
    spec = AgentSpec(
        name="c",
        state=Counter,
        routes=[Route(pattern="counter.inc", target=inc)],
        plugins=[AUDIT],
    )
    agent = spec.new("a")
    assert agent.slices == {"audit": Audit()}
    after = step(spec, agent, sig("counter.increment")).agent
    assert after.slices["audit"] == Audit(("counter.increment",))
    assert after.state == agent.state
    assert cmd(spec, agent, "record").agent.slices["audit"].events == ("cmd",)


def test_plugin_schedules_start_stamped() -> None:
    """The plugin's schedules are in the spec's startup directives, with stamped signals."""
    spec = AgentSpec(name="c", state=Counter, plugins=[AUDIT])
    (d,) = spec.startup(spec.new("a"))
    assert not d.signal.is_draft
    assert d.signal.id == derive_id("start:a", "a", 0)


@action()
def noop(state: EmptyState, _: NoParams, ctx: Context) -> ActionResult[EmptyState]:
    """Do nothing, on a plugin's empty slice."""
    return ok()


def test_conflicting_plugin_routes_are_reported_when_the_spec_is_built() -> None:
    """A pattern claimed by two plugins, or by a plugin and the agent, is a SpecError that
    lists every conflict; so are duplicate plugin names."""
    other: Plugin[EmptyState] = Plugin(
        name="other", routes=[Route(pattern="counter.increment", target=noop)]
    )
    with pytest.raises(SpecError) as info:
        AgentSpec(
            name="c",
            state=Counter,
            routes=[Route(pattern="counter.increment", target=inc)],
            plugins=[AUDIT, other, AUDIT],
        )
    text = str(info.value)
    assert "route 'counter.increment' is claimed by plugin 'audit' and plugin 'other'" in text
    assert "the agent" in text
    assert "plugin 'audit' is mounted twice" in text
    assert isinstance(EmptyState(), EmptyState)


# ---------------------------------------------------------------------------- serde


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("{", "not JSON"),
        ('{"source": "/x", "type": "a.b"}', "missing required attribute(s) id"),
        ('{"specversion": "0.3", "id": "1", "source": "/x", "type": "a.b"}', "specversion"),
        ('{"id": "1", "source": "/x", "type": "a.b", "time": "yesterday"}', "time"),
    ],
)
def test_bad_signal_json(text: str, fragment: str) -> None:
    """Malformed signal JSON is a DecodeError that says what is wrong."""
    with pytest.raises(DecodeError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        signal_from_json(text)


def test_round_trips_and_bad_directives() -> None:
    """A step's directives and agent round-trip; an unknown directive kind is refused."""
    result = step(JOB, JOB.new("j"), sig("job.started"))
    (d,) = result.directives
    assert isinstance(d, Emit)
    assert directive_from_json(to_json(d)) == d
    assert agent_from_json(to_json(result.agent), JOB) == result.agent
    with pytest.raises(DecodeError):
        directive_from_json('{"kind": "teleport"}')
    with pytest.raises(DecodeError, match="runs spec"):
        agent_from_json(to_json(result.agent), SPEC)
