"""jido_interpreters.testing.AgentMachine: setup, helpers, and an invariant that can fail."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import attrs
import pytest
from hypothesis import settings
from hypothesis.stateful import invariant, rule, run_state_machine_as_test

from jido import (
    Action,
    ActionResult,
    AgentSpec,
    Context,
    CustomDirective,
    FrozenMap,
    JsonValue,
    NoParams,
    ProblemKind,
    Route,
    Signal,
    action,
    cron,
    emit,
    emit_to_sink,
    invoke,
    ok,
    start_sensor,
    stop,
)
from jido_interpreters import EffectHandler, SensorFn
from jido_interpreters.testing import AgentMachine


@attrs.frozen
class Counter:
    count: int = 0
    notes: int = 0


@attrs.frozen
class By:
    by: int = 1


@action(params=By)
def add(state: Counter, p: By, ctx: Context) -> ActionResult[Counter]:
    return ok(attrs.evolve(state, count=state.count + p.by), emit("c.noted"))


@action()
def noted(state: Counter, _: NoParams, ctx: Context) -> ActionResult[Counter]:
    return ok(attrs.evolve(state, notes=state.notes + 1))


@action()
def leak(state: Counter, _: NoParams, ctx: Context) -> ActionResult[Counter]:
    return ok(None, emit_to_sink("nowhere", "c.leaked"))


@action()
def quit_(state: Counter, _: NoParams, ctx: Context) -> ActionResult[Counter]:
    return ok(None, stop("bye"))


ROUTES: list[Route[Action[Counter, Any]]] = [
    Route(pattern="c.add", target=add),
    Route(pattern="c.noted", target=noted),
    Route(pattern="c.leak", target=leak),
    Route(pattern="c.quit", target=quit_),
]
COUNTER: AgentSpec[Counter] = AgentSpec(name="counter", state=Counter, routes=ROUTES)
BAD_CRON: AgentSpec[Counter] = AgentSpec(
    name="bad-cron",
    state=Counter,
    routes=ROUTES,
    schedules=[cron("not a cron", "c.noted", job_id="broken")],
)


class Base(AgentMachine):
    spec = COUNTER

    @rule()
    def nothing(self) -> None:
        pass


def check(machine: AgentMachine) -> None:
    machine.no_unexpected_problems_and_still_running()


def test_the_machine_starts_the_agent_under_its_spec_name() -> None:
    """__init__ starts a fresh runtime with the agent running, id = spec name."""
    m = Base()
    assert m.agent_id == "counter"
    assert m.running
    assert m.state == Counter()
    assert m.runtime.agent_ids == ("counter",)
    assert Base().runtime is not m.runtime
    check(m)


def test_initial_state_is_merged_over_the_defaults() -> None:
    """The class attribute initial_state is the agent's starting state."""

    class Started(Base):
        initial_state = Counter(count=10)

    assert Started().state == Counter(count=10)


def test_send_returns_the_agent_once_idle_and_call_right_after_its_step() -> None:
    """send() returns the agent after everything ran; call() right after its own step."""
    m = Base()
    after_send = m.send("c.add", {"by": 2})
    assert after_send.state == Counter(count=2, notes=1)
    after_call = m.call("c.add", {"by": 3})
    assert after_call.state == Counter(count=5, notes=1)  # c.noted not yet handled then
    assert m.state == Counter(count=5, notes=2)
    assert m.agent.version == 4


def test_a_spec_is_required() -> None:
    """A subclass that sets no spec fails at construction with a clear TypeError."""

    class NoSpec(AgentMachine):
        @rule()
        def nothing(self) -> None:
            pass

    with pytest.raises(TypeError, match="spec"):
        NoSpec()


def test_error_directives_are_not_problems() -> None:
    """An unrouted signal or bad params (the agent's own answers) pass the invariant."""
    m = Base()
    m.send("c.unknown")
    m.send("c.add", {"by": "many"})
    assert m.state == Counter()
    check(m)


def test_the_invariant_fails_on_a_problem_executing_directives() -> None:
    """A directive problem in the trace fails the invariant, naming the entry."""
    m = Base()
    m.send("c.leak")
    with pytest.raises(AssertionError, match="nowhere") as info:
        check(m)
    assert "counter <- c.leak" in str(info.value)


@pytest.mark.parametrize(
    ("allow", "passes"),
    [
        (True, True),
        ({ProblemKind.DIRECTIVE}, True),
        ({ProblemKind.EFFECT}, False),
        (False, False),
    ],
)
def test_allow_problems_says_which_problems_are_expected(
    allow: bool | set[ProblemKind], passes: bool
) -> None:
    """allow_problems: True allows all, a set allows those kinds, False none."""

    class Allowing(Base):
        allow_problems = allow

    m = Allowing()
    m.send("c.leak")
    if passes:
        check(m)
    else:
        with pytest.raises(AssertionError):
            check(m)


def test_problems_starting_the_agent_fail_the_invariant() -> None:
    """A problem registering the spec's declared schedules fails the invariant too."""

    class BadStart(Base):
        spec = BAD_CRON

    m = BadStart()
    with pytest.raises(AssertionError, match=r"\(start\).*not a cron"):
        check(m)


def test_the_invariant_fails_when_the_agent_stops_by_itself() -> None:
    """An agent that stops without the test stopping it fails the invariant."""
    m = Base()
    m.runtime.send(m.agent_id, "c.quit")
    assert not m.running
    with pytest.raises(AssertionError, match="stopped"):
        check(m)


def test_expect_stop_allows_the_agent_to_stop_itself() -> None:
    """After expect_stop() the agent stopping itself passes the invariant."""
    m = Base()
    m.expect_stop()
    m.runtime.send(m.agent_id, "c.quit")
    check(m)


def test_send_after_expect_stop_returns_the_agent_as_it_stopped() -> None:
    """The documented pattern, ``expect_stop()`` then ``send`` the signal that stops the
    agent, returns the agent as it was when it stopped; without ``expect_stop()`` the same
    send fails saying so, with the hint."""
    m = Base()
    m.expect_stop()
    last = m.send("c.quit")
    assert last.id == m.agent_id
    assert not m.running
    check(m)
    m = Base()
    with pytest.raises(AssertionError, match=r"call expect_stop\(\) first"):
        m.send("c.quit")


def test_stop_stops_the_agent_and_helpers_then_refuse() -> None:
    """stop() ends the agent (invariant still passes); helpers then raise AssertionError."""
    m = Base()
    m.stop()
    assert not m.running
    check(m)
    with pytest.raises(AssertionError, match="not running"):
        m.send("c.add")
    with pytest.raises(AssertionError, match="not running"):
        m.call("c.add")
    with pytest.raises(AssertionError, match="not running"):
        _ = m.state


def test_hypothesis_runs_the_inherited_invariant_and_reports_a_failure() -> None:
    """Under Hypothesis, a rule causing a problem makes the state machine test fail."""

    class Leaky(Base):
        @rule()
        def leak(self) -> None:
            self.send("c.leak")

    with pytest.raises(AssertionError, match="unexpected problems"):
        run_state_machine_as_test(
            Leaky, settings=settings(max_examples=20, database=None, derandomize=True)
        )


@action()
def put(state: Counter, _: NoParams, ctx: Context) -> ActionResult[Counter]:
    return ok(None, invoke("store.put", {"n": 1}, on_ok="c.noted", on_error="c.noted"))


STORE: AgentSpec[Counter] = AgentSpec(
    name="store", state=Counter, routes=[Route(pattern="c.put", target=put), *ROUTES]
)


class StoreMachine(AgentMachine):
    """Each case gets a fake store of its own from ``make_effects``."""

    spec = STORE

    def make_effects(self) -> Mapping[str, EffectHandler]:
        self.written: list[object] = []
        return {"store.put": lambda args: self.written.append(dict(args))}

    @rule()
    def put(self) -> None:
        before = len(self.written)
        self.send("c.put")
        assert len(self.written) == before + 1

    @invariant()
    def one_write_per_note(self) -> None:
        # Fails if a case inherits another's writes.
        assert len(self.written) == self.state.notes


def test_make_effects_gives_every_case_fresh_fakes() -> None:
    """The handlers ``make_effects`` returns are the runtime's, built anew for each case (a
    store shared between cases would break the invariant in the second case)."""
    first, second = StoreMachine(), StoreMachine()
    first.put()
    first.put()
    second.put()
    assert (first.written, second.written) == ([{"n": 1}] * 2, [{"n": 1}])
    run_state_machine_as_test(
        StoreMachine, settings=settings(max_examples=10, stateful_step_count=5, deadline=None)
    )


@action()
def watch(state: Counter, _: NoParams, ctx: Context) -> ActionResult[Counter]:
    return ok(None, start_sensor("ticks", "t", {"every": 1}))


WATCHER: AgentSpec[Counter] = AgentSpec(
    name="watcher", state=Counter, routes=[Route(pattern="c.watch", target=watch), *ROUTES]
)


class WatchMachine(Base):
    """``make_sensors`` gives the case its sensors."""

    spec = WATCHER

    def make_sensors(self) -> Mapping[str, SensorFn]:
        self.configs: list[object] = []

        def ticks(config: FrozenMap[str, JsonValue]) -> Iterator[tuple[float, str, object]]:
            self.configs.append(dict(config))
            yield (1.0, "c.noted", None)

        return {"ticks": ticks}


def test_make_sensors_gives_the_case_its_sensors() -> None:
    m = WatchMachine()
    m.send("c.watch")
    m.advance(1)
    assert m.configs == [{"every": 1}]
    assert m.state.notes == 1
    assert WatchMachine().configs == []


@attrs.frozen
class Post(CustomDirective):
    text: str


@action()
def post(state: Counter, _: NoParams, ctx: Context) -> ActionResult[Counter]:
    return ok(None, Post("hello"))


POSTER: AgentSpec[Counter] = AgentSpec(
    name="poster", state=Counter, routes=[Route(pattern="c.post", target=post), *ROUTES]
)


def posted(_: str, d: Post) -> Iterator[Signal]:
    yield Signal(type="c.noted", source="/test", id="posted")


class PostMachine(Base):
    """The class attribute ``directives`` is the runtime's: no DIRECTIVE problem."""

    spec = POSTER
    directives: ClassVar[Mapping[type[CustomDirective], Any]] = {Post: posted}


class PostKeepingMachine(Base):
    """``make_directives`` gives the case its handlers, made anew for each case."""

    spec = POSTER

    def make_directives(self) -> Mapping[type[CustomDirective], Any]:
        self.posts: list[str] = []

        def keep(_: str, d: Post) -> Iterator[Signal]:
            self.posts.append(d.text)
            return iter(())

        return {Post: keep}


def test_directives_class_attribute_handles_custom_directives() -> None:
    m = PostMachine()
    m.send("c.post")
    assert m.state.notes == 1  # the handler's signal came back
    m.no_unexpected_problems_and_still_running()


def test_make_directives_gives_the_case_its_handlers() -> None:
    m = PostKeepingMachine()
    m.send("c.post")
    m.send("c.post")
    m.no_unexpected_problems_and_still_running()
    assert m.posts == ["hello", "hello"]
    assert PostKeepingMachine().posts == []


@attrs.frozen
class Owned:
    """A state with a field without a default."""

    owner: str
    count: int = 0


def test_an_initial_state_mapping_gives_the_fields_without_defaults() -> None:
    """An ``initial_state`` mapping supplies the state's fields without defaults, as
    ``AgentSpec.new`` takes it."""

    class OwnedMachine(AgentMachine):
        spec = AgentSpec(name="owned", state=Owned)
        initial_state: ClassVar[object] = {"owner": "bob"}

        @rule()
        def nothing(self) -> None:
            pass

    assert OwnedMachine().state == Owned("bob")
