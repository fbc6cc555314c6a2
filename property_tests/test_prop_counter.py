"""Properties of ``step`` and ``cmd`` on a counter agent, and a stateful model test."""

from __future__ import annotations

import copy
from typing import Any

import attrs
from hypothesis import given, note
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from jido import (
    IDLE,
    ActionResult,
    Agent,
    AgentSpec,
    Context,
    Emit,
    Error,
    FrozenMap,
    Invoke,
    NoParams,
    ProblemKind,
    Route,
    Schedule,
    Signal,
    action,
    agent_source,
    cmd,
    emit,
    fail,
    invoke,
    ok,
    schedule,
    serde,
    step,
)
from jido.testing import agents, signal_types, signals

# ---------------------------------------------------------------- the counter spec


@attrs.frozen
class Counter:
    count: int = 0


@attrs.frozen
class By:
    by: int = 1


@attrs.frozen
class Burst:
    n: int = 0


@action(params=By)
def increment(state: Counter, params: By, ctx: Context) -> ActionResult[Counter]:
    """Add ``by``."""
    new = attrs.evolve(state, count=state.count + params.by)
    return ok(new, emit("counter.changed", {"count": new.count}))


@action(params=By)
def decrement(state: Counter, params: By, ctx: Context) -> ActionResult[Counter]:
    """Subtract ``by``."""
    new = attrs.evolve(state, count=state.count - params.by)
    return ok(new, emit("counter.changed", {"count": new.count}))


@action(params=By)
def add(state: Counter, params: By, ctx: Context) -> ActionResult[Counter]:
    """Add ``by``, refusing negative amounts."""
    if params.by < 0:
        return fail("cannot add a negative amount", by=params.by)
    new = attrs.evolve(state, count=state.count + params.by)
    return ok(new, emit("counter.changed", {"count": new.count}))


@action()
def reset(state: Counter, params: NoParams, ctx: Context) -> ActionResult[Counter]:
    """Back to zero."""
    return ok(Counter(), emit("counter.changed", {"count": 0}))


@action(params=Burst)
def burst(state: Counter, params: Burst, ctx: Context) -> ActionResult[Counter]:
    """Emit ``n`` signals, invoke an effect and schedule a tick; the count is unchanged."""
    n = max(0, min(params.n, 8))
    return ok(
        None,
        *[emit("counter.tick", {"i": i}) for i in range(n)],
        invoke("tick.effect", {"n": n}, on_ok="counter.ticked", on_error="counter.failed"),
        schedule(1.5, "counter.tick", {"i": n}),
    )


SPEC = AgentSpec(
    name="counter",
    state=Counter,
    routes=[
        Route(pattern="counter.increment", target=increment),
        Route(pattern="counter.decrement", target=decrement),
        Route(pattern="counter.add", target=add),
        Route(pattern="counter.reset", target=reset),
        Route(pattern="counter.burst", target=burst),
    ],
)
ROUTED = ("counter.increment", "counter.decrement", "counter.add", "counter.reset")
BY_FIELD = ("counter.increment", "counter.decrement", "counter.add")

# ---------------------------------------------------------------- strategies

amounts = st.integers(min_value=-1000, max_value=1000)
counter_agents = agents(SPEC, states=st.builds(Counter, count=st.integers()))
unrouted_types = signal_types().filter(lambda t: t.split(".")[0] != "counter")
# Values a JSON payload can hold that are not ints (bools are not ints for params).
not_ints = st.one_of(
    st.text(max_size=5),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def good_signals() -> st.SearchStrategy[Signal]:
    """Routed signals with valid params: every one of them succeeds."""
    return st.one_of(
        signals(types=["counter.increment", "counter.decrement"], data=st.builds(dict, by=amounts)),
        signals(types=["counter.add"], data=st.builds(dict, by=st.integers(0, 1000))),
        signals(types=["counter.reset"]),
        signals(types=["counter.burst"], data=st.builds(dict, n=st.integers(0, 8))),
    )


def failing_signals() -> st.SearchStrategy[Signal]:
    """Signals that must fail: unrouted, bad params, or refused by the action."""
    return st.one_of(
        signals(types=unrouted_types),
        signals(types=list(BY_FIELD), data=st.builds(dict, by=not_ints)),
        signals(types=["counter.add"], data=st.builds(dict, by=st.integers(-1000, -1))),
    )


any_signals = st.one_of(good_signals(), failing_signals(), signals(types=list(ROUTED)))


def _snapshot(agent: Agent[Counter], signal: Signal) -> tuple[str, str]:
    return serde.to_json(agent), serde.to_json(signal)


# ---------------------------------------------------------------- step properties


@given(counter_agents, any_signals)
def test_step_is_deterministic(agent: Agent[Counter], signal: Signal) -> None:
    """step(spec, agent, signal) gives equal results for equal (even rebuilt) inputs."""
    first = step(SPEC, agent, signal)
    again = step(SPEC, copy.deepcopy(agent), serde.signal_from_json(serde.to_json(signal)))
    assert first == again
    assert serde.to_json(first) == serde.to_json(again)


@given(counter_agents, any_signals)
def test_step_never_mutates_its_inputs(agent: Agent[Counter], signal: Signal) -> None:
    """step leaves the agent and the signal exactly as they were."""
    agent_copy, signal_copy = copy.deepcopy(agent), copy.deepcopy(signal)
    before = _snapshot(agent, signal)
    step(SPEC, agent, signal)
    assert (agent, signal) == (agent_copy, signal_copy)
    assert _snapshot(agent, signal) == before


@given(counter_agents, good_signals())
def test_successful_step_increments_version_by_one(agent: Agent[Counter], signal: Signal) -> None:
    """A signal handled without error bumps the version by exactly one."""
    result = step(SPEC, agent, signal)
    assert result.problems == ()
    assert result.agent.version == agent.version + 1
    assert (result.agent.id, result.agent.spec, result.agent.status) == (
        agent.id,
        agent.spec,
        IDLE,
    )


@given(counter_agents, failing_signals())
def test_failing_step_keeps_version_and_state(agent: Agent[Counter], signal: Signal) -> None:
    """A signal that fails yields only Error directives and leaves the agent as it was."""
    result = step(SPEC, agent, signal)
    assert result.directives
    assert all(isinstance(d, Error) for d in result.directives)
    assert result.agent == agent


@given(counter_agents, st.lists(any_signals, max_size=6))
def test_version_counts_steps_with_a_non_error_directive(
    agent: Agent[Counter], batch: list[Signal]
) -> None:
    """Over any sequence, the version grows by one per step that returned anything but Errors."""
    for signal in batch:
        result = step(SPEC, agent, signal)
        only_errors = all(isinstance(d, Error) for d in result.directives)
        # Every successful action of this spec returns at least one directive.
        assert result.directives
        if only_errors:
            assert result.agent == agent
        else:
            assert result.agent.version == agent.version + 1
        agent = result.agent


@given(counter_agents, signals(types=unrouted_types))
def test_unrouted_signal_gives_one_routing_error(agent: Agent[Counter], signal: Signal) -> None:
    """An unrouted type gives exactly one ROUTING Error naming the type; agent unchanged."""
    result = step(SPEC, agent, signal)
    assert len(result.directives) == 1
    (directive,) = result.directives
    assert isinstance(directive, Error)
    assert directive.problem.kind is ProblemKind.ROUTING
    assert directive.problem.details["signal_type"] == signal.type
    assert result.agent == agent


@given(counter_agents, st.sampled_from(BY_FIELD), not_ints)
def test_bad_params_give_a_params_problem_naming_the_field(
    agent: Agent[Counter], signal_type: str, bad: Any
) -> None:
    """A non-int for an int param gives one PARAMS Error listing that field; agent unchanged."""
    signal = Signal(type=signal_type, source="/test", id="s1", data={"by": bad})
    result = step(SPEC, agent, signal)
    assert len(result.directives) == 1
    (directive,) = result.directives
    assert isinstance(directive, Error)
    assert directive.problem.kind is ProblemKind.PARAMS
    errors = directive.problem.details["errors"]
    assert isinstance(errors, tuple)
    assert errors
    assert all(isinstance(e, str) and e.endswith("$.by") for e in errors)
    assert result.agent == agent


@given(counter_agents, signals(types=["counter.burst"], data=st.builds(dict, n=st.integers(0, 8))))
def test_derived_ids_are_distinct_and_deterministic(agent: Agent[Counter], signal: Signal) -> None:
    """Signals and keys born in a step get distinct ids, fixed by the cause and the agent."""
    result = step(SPEC, agent, signal)
    ids: list[str] = []
    for d in result.directives:
        if isinstance(d, Emit | Schedule):
            assert not d.signal.is_draft
            assert d.signal.source == agent_source(agent.id)
            assert d.signal.causation_id == signal.id
            assert d.signal.time == signal.time
            ids.append(d.signal.id)
        elif isinstance(d, Invoke):
            ids.append(d.key)
    assert len(ids) == len(result.directives)
    assert len(set(ids)) == len(ids)
    assert signal.id not in ids
    # Same cause, same ids; another cause id or another agent id, all-new ids.
    assert step(SPEC, agent, signal) == result
    other_signal = attrs.evolve(signal, id=signal.id + "'")
    other_agent = attrs.evolve(agent, id=agent.id + "'")
    for other in (step(SPEC, agent, other_signal), step(SPEC, other_agent, signal)):
        other_ids = {
            d.key if isinstance(d, Invoke) else d.signal.id
            for d in other.directives
            if isinstance(d, Emit | Schedule | Invoke)
        }
        assert other_ids.isdisjoint(ids)


@given(counter_agents, amounts)
def test_cmd_is_deterministic_and_matches_step(agent: Agent[Counter], by: int) -> None:
    """cmd gives equal results on equal inputs and changes state like the routed signal."""
    first = cmd(SPEC, agent, ("increment", {"by": by}))
    assert first == cmd(SPEC, agent, (increment, {"by": by}))
    via_signal = step(
        SPEC, agent, Signal(type="counter.increment", source="/t", id="x", data={"by": by})
    )
    assert first.agent == via_signal.agent
    assert first.agent.state.count == agent.state.count + by


# ---------------------------------------------------------------- stateful model


class CounterMachine(RuleBasedStateMachine):
    """A plain int (and a version counter) modelling the agent under step and cmd."""

    def __init__(self) -> None:
        super().__init__()
        self.agent: Agent[Counter] = SPEC.new("machine")
        self.count = 0
        self.version = 0
        self.sent = 0

    def _signal(self, type: str, data: object = None) -> Signal:
        self.sent += 1
        return Signal(type=type, source="/machine", id=f"m-{self.sent}", data=data)

    def _step(self, signal: Signal) -> tuple[Error, ...]:
        result = step(SPEC, self.agent, signal)
        note(f"{signal.type} {signal.data!r} -> {result.directives!r}")
        self.agent = result.agent
        return tuple(d for d in result.directives if isinstance(d, Error))

    def _changed_to(self, directives: tuple[Any, ...]) -> list[object]:
        # The counts announced by the step's counter.changed signals.
        return [
            d.signal.data.get("count")
            for d in directives
            if isinstance(d, Emit)
            and d.signal.type == "counter.changed"
            and isinstance(d.signal.data, FrozenMap)
        ]

    @rule(by=amounts)
    def step_increment(self, by: int) -> None:
        result = step(SPEC, self.agent, self._signal("counter.increment", {"by": by}))
        self.agent = result.agent
        self.count += by
        self.version += 1
        assert self._changed_to(result.directives) == [self.count]

    @rule(by=amounts)
    def step_decrement(self, by: int) -> None:
        assert not self._step(self._signal("counter.decrement", {"by": by}))
        self.count -= by
        self.version += 1

    @rule(by=amounts)
    def step_add(self, by: int) -> None:
        errors = self._step(self._signal("counter.add", {"by": by}))
        if by >= 0:
            assert not errors
            self.count += by
            self.version += 1
        else:
            assert [e.problem.kind for e in errors] == [ProblemKind.ACTION]

    @rule()
    def step_default_increment(self) -> None:
        assert not self._step(self._signal("counter.increment"))
        self.count += 1
        self.version += 1

    @rule()
    def step_reset(self) -> None:
        assert not self._step(self._signal("counter.reset"))
        self.count = 0
        self.version += 1

    @rule(bad=not_ints)
    def step_bad_params(self, bad: Any) -> None:
        errors = self._step(self._signal("counter.increment", {"by": bad}))
        assert [e.problem.kind for e in errors] == [ProblemKind.PARAMS]

    @rule(t=unrouted_types)
    def step_unrouted(self, t: str) -> None:
        errors = self._step(self._signal(t))
        assert [e.problem.kind for e in errors] == [ProblemKind.ROUTING]

    @rule(by=amounts)
    def cmd_increment(self, by: int) -> None:
        result = cmd(SPEC, self.agent, ("increment", {"by": by}))
        self.agent = result.agent
        assert result.problems == ()
        self.count += by
        self.version += 1

    @rule(a=amounts, b=amounts, bad=not_ints)
    def cmd_batch_with_a_bad_instruction(self, a: int, b: int, bad: Any) -> None:
        # One failing instruction does not stop the others; one version bump for the batch.
        result = cmd(
            SPEC,
            self.agent,
            [("increment", {"by": a}), ("decrement", {"by": bad}), ("increment", {"by": b})],
        )
        self.agent = result.agent
        assert [p.kind for p in result.problems] == [ProblemKind.PARAMS]
        self.count += a + b
        self.version += 1

    @rule()
    def cmd_unknown_action(self) -> None:
        result = cmd(SPEC, self.agent, "no-such-action")
        self.agent = result.agent
        assert [p.kind for p in result.problems] == [ProblemKind.ACTION]

    @invariant()
    def agent_matches_model(self) -> None:
        assert self.agent.state.count == self.count
        assert self.agent.version == self.version
        assert self.agent.status == IDLE
        assert self.agent.id == "machine"


TestCounterMachine = CounterMachine.TestCase
