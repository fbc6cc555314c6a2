"""Example tests of ``jido.step`` and ``jido.cmd``: state, versions, stamping, totality."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import attrs
import pytest

import jido
from jido import (
    SELF,
    ActionResult,
    AgentSpec,
    Context,
    Cron,
    Emit,
    Error,
    Instruction,
    Invoke,
    NoParams,
    ProblemKind,
    Route,
    Schedule,
    Signal,
    Step,
    action,
    agent_source,
    cmd,
    derive_id,
    emit,
    fail,
    invoke,
    ok,
    step,
)

T0 = datetime(2026, 1, 1, 9, 30, tzinfo=UTC)
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@attrs.frozen
class Counter:
    """The counter agent's state."""

    count: int = 0
    seen: tuple[int, ...] = ()


@attrs.frozen
class Inc:
    """How much to add."""

    by: int = 1


@action(params=Inc)
def increment(state: Counter, params: Inc, ctx: Context) -> ActionResult[Counter]:
    """Add ``by`` and announce the new count."""
    new = attrs.evolve(state, count=state.count + params.by)
    return ok(new, emit("counter.incremented", {"count": new.count}))


@action()
def record(state: Counter, params: NoParams, ctx: Context) -> ActionResult[Counter]:
    """Remember the count as it is when this runs."""
    return ok(attrs.evolve(state, seen=(*state.seen, state.count)))


@action()
def broken(state: Counter, params: NoParams, ctx: Context) -> ActionResult[Counter]:
    """Always fail."""
    return fail("broken on purpose")


@action()
def call_out(state: Counter, params: NoParams, ctx: Context) -> ActionResult[Counter]:
    """Emit, invoke, invoke with an explicit key, schedule and cron, in that order."""
    return ok(
        None,
        emit("lookup.requested"),
        invoke("http.get", {"url": "https://x"}, on_ok="lookup.ok", on_error="lookup.failed"),
        Invoke(effect="http.get", on_ok="lookup.ok", on_error="lookup.failed", key="fixed"),
        jido.schedule(5, "lookup.timeout"),
        jido.cron("* * * * *", "lookup.tick", job_id="tick"),
    )


@action()
def emit_own_trace(state: Counter, params: NoParams, ctx: Context) -> ActionResult[Counter]:
    """Emit a draft that sets its own correlation id, and forward a finished signal."""
    own = Signal.draft("own.trace", extensions={"correlationid": "mine"})
    done = Signal(type="already.stamped", source="/elsewhere", id="fixed-id")
    return ok(None, Emit(signal=own), Emit(signal=done))


SPEC = AgentSpec(
    name="counter",
    state=Counter,
    routes=[
        Route(pattern="counter.increment", target=increment),
        Route(pattern="counter.*", target=record, priority=-10),
        Route(pattern="counter.broken-first", target=broken, priority=10),
        Route(pattern="counter.broken-first", target=increment),
        Route(pattern="counter.double", target=increment),
        Route(pattern="lookup.start", target=call_out),
        Route(pattern="trace.own", target=emit_own_trace),
        Route(pattern="all.broken", target=broken),
    ],
)


def sig(type: str, data: object = None, id: str = "s1", **kw: Any) -> Signal:
    """A signal from the test, at T0."""
    return Signal(type=type, source="/test", id=id, time=T0, data=data, **kw)


def fresh(count: int = 0) -> jido.Agent[Counter]:
    """A new counter agent."""
    return SPEC.new("c1", Counter(count=count))


def emits(result: Step[Any]) -> list[Emit]:
    """The Emit directives of a step."""
    return [d for d in result.directives if isinstance(d, Emit)]


def test_counter_increments_state_and_version() -> None:
    """A routed action updates the state and the version goes up by one."""
    agent = fresh()
    result = step(SPEC, agent, sig("counter.increment", {"by": 3}))
    assert result.agent.state.count == 3
    assert result.agent.version == 1
    assert result.agent.id == "c1"
    assert result.agent.status == "idle"
    assert agent.version == 0
    assert agent.state.count == 0


def test_emitted_signal_is_stamped() -> None:
    """The emitted draft gets a derived id, the agent's source, the input's time and trace."""
    s = sig("counter.increment", {"by": 2}, id="in-1", extensions={"traceparent": TRACEPARENT})
    result = step(SPEC, fresh(), s)
    (e,) = emits(result)
    assert e.to == SELF
    out = e.signal
    assert not out.is_draft
    assert out.type == "counter.incremented"
    assert out.data == {"count": 2}
    assert out.id == derive_id("in-1", "c1", 0, salt="/test")
    assert out.source == "jido://agent/c1" == agent_source("c1")
    assert out.time == T0
    assert out.extensions["causationid"] == "in-1"
    assert out.extensions["correlationid"] == "in-1"
    assert out.extensions["traceparent"] == TRACEPARENT
    assert out.causation_id == "in-1"
    assert out.correlation_id == "in-1"


def test_correlation_id_is_kept_along_a_chain() -> None:
    """A signal that already has a correlation id passes it on; tracestate is carried too."""
    s = sig(
        "counter.increment",
        id="in-2",
        extensions={"correlationid": "chain-7", "tracestate": "k=v", "other": "dropped"},
    )
    (e,) = emits(step(SPEC, fresh(), s))
    assert e.signal.extensions["correlationid"] == "chain-7"
    assert e.signal.extensions["causationid"] == "in-2"
    assert e.signal.extensions["tracestate"] == "k=v"
    assert "other" not in e.signal.extensions
    assert "traceparent" not in e.signal.extensions


def test_derived_ids_depend_on_the_source_as_well_as_the_id() -> None:
    """A signal is its source and id together: two inputs that share an id but not a source
    (two webhooks that each number their events from 1) give their drafts and Invoke keys
    ids of their own, which a durable receiver would otherwise take for one signal sent
    twice; the same input gives the same ids again."""

    def derived(source: str) -> list[str]:
        signal = Signal(type="lookup.start", source=source, id="1", time=T0)
        e, inv, _, sch, cr = step(SPEC, fresh(), signal).directives
        assert isinstance(e, Emit)
        assert isinstance(inv, Invoke)
        assert isinstance(sch, Schedule)
        assert isinstance(cr, Cron)
        return [e.signal.id, inv.key, sch.signal.id, cr.signal.id]

    github = derived("/webhooks/github")
    assert github == derived("/webhooks/github")
    assert github == [derive_id("1", "c1", n, salt="/webhooks/github") for n in range(4)]
    assert not set(github) & set(derived("/webhooks/stripe"))


def test_explicit_extensions_win_and_finished_signals_pass_through() -> None:
    """A draft's own extensions override inherited ones; a non-draft is emitted unchanged."""
    result = step(SPEC, fresh(), sig("trace.own", id="in-3"))
    own, done = emits(result)
    assert own.signal.extensions["correlationid"] == "mine"
    assert own.signal.extensions["causationid"] == "in-3"
    assert own.signal.id == derive_id("in-3", "c1", 0, salt="/test")
    assert done.signal == Signal(type="already.stamped", source="/elsewhere", id="fixed-id")


def test_all_matching_routes_run_in_order_and_state_threads_through() -> None:
    """Every matching route runs, in route order, each on the state the previous one left."""
    result = step(SPEC, fresh(count=10), sig("counter.increment", {"by": 5}))
    # increment (priority 0) ran before record (priority -10), and record saw 15
    assert result.agent.state == Counter(count=15, seen=(15,))
    assert result.agent.version == 1  # one step, one version, however many actions


def test_one_failing_instruction_does_not_stop_the_next() -> None:
    """A failure is an Error directive; later instructions still run and the step counts."""
    result = step(SPEC, fresh(), sig("counter.broken-first", {"by": 2}))
    kinds = [type(d) for d in result.directives]
    assert kinds == [Error, Emit]
    assert result.problems[0].kind is ProblemKind.ACTION
    # increment ran, then record (counter.*) saw its result
    assert result.agent.state == Counter(count=2, seen=(2,))
    assert result.agent.version == 1


def test_all_instructions_failing_leaves_the_agent_unchanged() -> None:
    """When nothing succeeds, the agent after equals the agent before (version included)."""
    agent = fresh(count=4)
    result = step(SPEC, agent, sig("all.broken"))
    assert result.agent == agent
    assert [p.kind for p in result.problems] == [ProblemKind.ACTION]


def test_unrouted_signal_is_a_routing_error() -> None:
    """A signal type no route matches gives a ROUTING Error naming the type, agent unchanged."""
    agent = fresh(count=2)
    result = step(SPEC, agent, sig("nobody.listens", id="lost-1"))
    assert result.agent == agent
    (d,) = result.directives
    assert isinstance(d, Error)
    assert d.problem.kind is ProblemKind.ROUTING
    assert d.problem.details["signal_type"] == "nobody.listens"
    assert d.problem.details["signal_id"] == "lost-1"
    assert "nobody.listens" in d.problem.message


def test_a_draft_signal_is_refused() -> None:
    """``step`` refuses an unstamped draft with an Error and leaves the agent unchanged."""
    agent = fresh()
    result = step(SPEC, agent, Signal.draft("counter.increment", {"by": 1}))
    assert result.agent == agent
    (d,) = result.directives
    assert isinstance(d, Error)
    assert d.problem.details["signal_type"] == "counter.increment"
    assert "draft" in d.problem.message


def test_invoke_keys_and_every_draft_get_positions_in_order() -> None:
    """Drafts and unset Invoke keys are numbered in directive order; explicit keys stay."""
    result = step(SPEC, fresh(), sig("lookup.start", id="in-4"))
    e, inv, fixed, sch, cr = result.directives
    assert isinstance(e, Emit)
    assert isinstance(inv, Invoke)
    assert isinstance(fixed, Invoke)
    assert isinstance(sch, Schedule)
    assert isinstance(cr, Cron)
    assert e.signal.id == derive_id("in-4", "c1", 0, salt="/test")
    assert inv.key == derive_id("in-4", "c1", 1, salt="/test")
    assert fixed.key == "fixed"
    assert sch.signal.id == derive_id("in-4", "c1", 2, salt="/test")
    assert cr.signal.id == derive_id("in-4", "c1", 3, salt="/test")
    assert sch.delay == 5.0
    assert sch.signal.source == agent_source("c1")
    assert cr.signal.time == T0
    assert inv.args == {"url": "https://x"}


def test_positions_run_across_actions_in_one_step() -> None:
    """Two actions emitting in one step get consecutive positions, errors not counted."""

    @action()
    def first(state: Counter, params: NoParams, ctx: Context) -> ActionResult[Counter]:
        return ok(None, emit("one"))

    @action()
    def second(state: Counter, params: NoParams, ctx: Context) -> ActionResult[Counter]:
        return ok(None, emit("two"))

    spec = AgentSpec(
        name="two",
        state=Counter,
        routes=[
            Route(pattern="go", target=first),
            Route(pattern="go", target=broken),
            Route(pattern="go", target=second),
        ],
    )
    result = step(spec, spec.new("t1"), sig("go", id="g"))
    one, err, two = result.directives
    assert isinstance(one, Emit)
    assert isinstance(two, Emit)
    assert isinstance(err, Error)
    assert one.signal.id == derive_id("g", "t1", 0, salt="/test")
    assert two.signal.id == derive_id("g", "t1", 1, salt="/test")


def test_step_is_deterministic() -> None:
    """The same spec, agent and signal give equal Steps; another signal id gives other ids."""
    s = sig("lookup.start", id="in-5", extensions={"traceparent": TRACEPARENT})
    first = step(SPEC, fresh(), s)
    second = step(SPEC, fresh(), s)
    assert first == second
    assert hash(first.directives) == hash(second.directives)
    other = step(SPEC, fresh(), sig("lookup.start", id="in-6"))
    assert emits(other)[0].signal.id != emits(first)[0].signal.id


def test_cmd_with_an_action() -> None:
    """``cmd`` runs an action object of the spec with no signal; default params apply."""
    result = cmd(SPEC, fresh(), increment)
    assert result.agent.state.count == 1
    assert result.agent.version == 1


def test_cmd_with_a_name() -> None:
    """``cmd`` runs an action by name."""
    assert cmd(SPEC, fresh(), "increment").agent.state.count == 1


def test_cmd_with_params() -> None:
    """``cmd`` takes (action, params) and (name, params) pairs."""
    assert cmd(SPEC, fresh(), (increment, {"by": 4})).agent.state.count == 4
    assert cmd(SPEC, fresh(), ("increment", {"by": 6})).agent.state.count == 6


def test_cmd_with_an_instruction() -> None:
    """``cmd`` takes a full Instruction."""
    ins = Instruction(action=increment, params=jido.FrozenMap({"by": 7}))
    assert cmd(SPEC, fresh(), ins).agent.state.count == 7


def test_cmd_with_a_list_runs_in_order() -> None:
    """A list of instructions runs in order, in one step, threading state."""
    result = cmd(SPEC, fresh(), [(increment, {"by": 2}), record, ("increment", {"by": 3}), record])
    assert result.agent.state == Counter(count=5, seen=(2, 5))
    assert result.agent.version == 1


def test_cmd_with_a_tuple_runs_each_of_its_instructions() -> None:
    """A tuple is a sequence of instructions like a list, unless it is one
    ``(action, params)`` pair."""
    assert cmd(SPEC, fresh(), (increment, record)).agent.state == Counter(count=1, seen=(1,))
    result = cmd(SPEC, fresh(), ("increment", "increment", "record"))
    assert result.agent.state == Counter(count=2, seen=(2,))
    assert result.problems == ()


@pytest.mark.parametrize(
    ("instructions", "message"),
    [
        ((increment, 5), "params for action 'increment' must be a mapping or a Inc, not 5"),
        (
            (increment, {"by": 2}, {"user": "x"}),
            "an instruction for action 'increment' is a pair (action, params), not a tuple of 3",
        ),
        ({"by": 2}, "params {'by': 2} stand alone: pair them with their action"),
        (5, "5 is not an action or an action name"),
    ],
)
def test_cmd_refuses_a_malformed_instruction_without_running_its_action(
    instructions: Any, message: str
) -> None:
    """``(increment, 5)`` and Jido's ``{action, params, context}`` were taken for lists of
    instructions: the action ran with its default params beside the problem; ``5`` raised
    TypeError (cmd is total on bad data)."""
    agent = fresh()
    result = cmd(SPEC, agent, instructions)
    assert result.agent == agent
    (problem,) = result.problems
    assert problem.kind in (ProblemKind.ACTION, ProblemKind.PARAMS)
    assert problem.message.startswith(message)


def test_an_instruction_must_name_the_specs_action_on_its_own_state() -> None:
    """An Instruction runs only one of the spec's actions, on the state it belongs to: an
    action the spec does not have, or one aimed at another state (a plugin slice), is an
    ACTION error directive; the others still run."""
    foreign = attrs.evolve(increment, name="foreign")
    agent = fresh()
    result = cmd(SPEC, agent, [Instruction(action=foreign), increment])
    assert result.agent.state.count == 1
    (problem,) = result.problems
    assert problem.kind is ProblemKind.ACTION
    assert "has no action 'foreign'" in problem.message
    elsewhere = cmd(SPEC, agent, Instruction(action=increment, slice="nope"))
    assert elsewhere.agent == agent
    (problem,) = elsewhere.problems
    assert (
        problem.message == "action 'increment' runs on the agent's state, not on the slice 'nope'"
        " (spec.action_table['increment'] is an instruction for it, bound to its state)"
    )


def test_cmd_unknown_name_is_an_error_directive() -> None:
    """An unknown action name is an Error directive, not an exception; others still run."""
    agent = fresh()
    result = cmd(SPEC, agent, ["no.such.action", increment])
    err, _ = result.directives
    assert isinstance(err, Error)
    assert err.problem.kind is ProblemKind.ACTION
    assert err.problem.details["action"] == "no.such.action"
    assert result.agent.state.count == 1
    alone = cmd(SPEC, agent, "no.such.action")
    assert alone.agent == agent
    assert len(alone.problems) == 1


def test_cmd_with_an_action_not_in_the_spec_is_an_error() -> None:
    """An action object the spec does not know (even with a known name) is an Error."""

    @action("increment")
    def impostor(state: Counter, params: NoParams, ctx: Context) -> ActionResult[Counter]:
        return ok(Counter(count=999))

    agent = fresh()
    result = cmd(SPEC, agent, impostor)
    assert result.agent == agent
    assert [p.kind for p in result.problems] == [ProblemKind.ACTION]


def test_cmd_with_bad_params_is_a_params_error() -> None:
    """Bad params under ``cmd`` are a PARAMS Error; non-JSON params are too."""
    agent = fresh()
    bad = cmd(SPEC, agent, (increment, {"by": "2"}))
    assert [p.kind for p in bad.problems] == [ProblemKind.PARAMS]
    assert bad.agent == agent
    not_json = cmd(SPEC, agent, (increment, {"by": {1, 2}}))
    assert [p.kind for p in not_json.problems] == [ProblemKind.PARAMS]
    assert not_json.agent == agent


def test_cmd_signals_are_stamped_from_agent_id_and_version() -> None:
    """Signals born under ``cmd`` get ids derived from the agent's id and version."""
    agent = attrs.evolve(fresh(), version=7)
    (e,) = emits(cmd(SPEC, agent, increment))
    cause = "cmd:c1:7"
    assert e.signal.id == derive_id(cause, "c1", 0)
    assert e.signal.extensions["causationid"] == cause
    assert "correlationid" not in e.signal.extensions
    assert e.signal.time is None
    again = emits(cmd(SPEC, agent, increment))[0]
    assert again == e


def test_step_problems_lists_error_problems_in_order() -> None:
    """``Step.problems`` gives the problems of the Error directives only, in order."""
    result = cmd(SPEC, fresh(), [broken, increment, "nope"])
    assert [p.kind for p in result.problems] == [ProblemKind.ACTION, ProblemKind.ACTION]
    assert result.problems[0].message == "broken on purpose"


def test_a_strategy_returning_nonsense_is_a_type_error() -> None:
    """A custom strategy whose decision is neither Run nor Refuse is a programming error."""

    @attrs.frozen
    class Silly:
        @property
        def initial_status(self) -> str:
            return "idle"

        def decide(
            self, status: str, signal: Signal, routed: tuple[Route[Instruction], ...]
        ) -> jido.Decision:
            bad: Any = "nonsense"
            return bad  # type: ignore[no-any-return]

    spec = AgentSpec(name="silly", state=Counter, strategy=Silly())
    with pytest.raises(TypeError, match="not Run or Refuse"):
        step(spec, spec.new("x"), sig("anything"))


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: jido.Run((), next_status=5), "next_status"),  # type: ignore[arg-type]
        (lambda: jido.Refuse("closed"), "problem"),  # type: ignore[arg-type]
    ],
)
def test_a_strategys_malformed_decision_is_refused_where_it_is_made(make: Any, field: str) -> None:
    """A Run whose next status is no string, or a Refuse of no Problem, raises TypeError
    naming the field when the strategy builds it (no agent ever gets that status)."""
    with pytest.raises(TypeError, match=field):
        make()


def test_custom_strategy_can_refuse() -> None:
    """A custom strategy's Refuse becomes the Error directive, agent unchanged."""

    @attrs.frozen
    class Closed:
        @property
        def initial_status(self) -> str:
            return "closed"

        def decide(
            self, status: str, signal: Signal, routed: tuple[Route[Instruction], ...]
        ) -> jido.Decision:
            return jido.Refuse(jido.Problem.of(ProblemKind.TRANSITION, "closed", status=status))

    spec = AgentSpec(
        name="closed",
        state=Counter,
        strategy=Closed(),
        routes=[Route(pattern="counter.increment", target=increment)],
    )
    agent = spec.new("x")
    assert agent.status == "closed"
    result = step(spec, agent, sig("counter.increment"))
    assert result.agent == agent
    assert result.problems == (jido.Problem.of(ProblemKind.TRANSITION, "closed", status="closed"),)


def test_a_route_with_fixed_params_gives_them_to_its_action_whatever_the_data() -> None:
    spec = AgentSpec(
        name="counter",
        state=Counter,
        routes=[Route(pattern="counter.jump", target=increment, params={"by": 10})],
    )
    result = step(spec, spec.new("c1"), sig("counter.jump", {"by": "ignored"}))
    assert result.agent.state.count == 10
    assert result.problems == ()


@pytest.mark.parametrize(
    ("params", "error"),
    [({"by": "ten"}, "expected int @ $.by"), ({"by": 1.5}, "@ $.by")],
)
@pytest.mark.parametrize("owner", ["the agent", "plugin 'extra'"])
def test_fixed_params_the_action_refuses_are_refused_with_the_spec(
    params: dict[str, object], error: str, owner: str
) -> None:
    """They are the same on every signal: each step the route took would fail on them."""
    route = Route(pattern="counter.jump", target=increment, params=params)
    plugin = jido.Plugin(name="extra", state=Counter, routes=[route])
    own = [route] if owner == "the agent" else []
    plugins = [] if owner == "the agent" else [plugin]
    with pytest.raises(jido.SpecError) as info:
        AgentSpec(name="counter", state=Counter, routes=own, plugins=plugins)
    (problem,) = info.value.problems
    assert problem.startswith(
        f"route 'counter.jump' of {owner}: its params are invalid for action 'increment': "
    )
    assert error in problem
