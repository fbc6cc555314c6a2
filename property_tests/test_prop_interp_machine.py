"""A stateful test with ``jido_interpreters.testing.AgentMachine``: a counter against a model.

The counter adds, squares its count through an effect, resets (arming a cool-down timer on
the virtual clock) and announces multiples of ten on a sink. Hypothesis drives it with random
rule sequences and checks it against a few integers kept by the test; the base class adds
its own invariant (no unexpected problems, the agent still running).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule

from jido import (
    ActionResult,
    AgentSpec,
    Context,
    Error,
    FrozenMap,
    JsonValue,
    NoParams,
    ProblemKind,
    Route,
    action,
    emit_to_sink,
    freeze,
    invoke,
    ok,
    schedule,
)
from jido_interpreters import EffectHandler
from jido_interpreters.testing import AgentMachine

COOL_DOWN = 10.0


@attrs.frozen
class Tally:
    count: int = 0
    square: int | None = None
    cooled: int = 0


@attrs.frozen
class By:
    by: int


@attrs.frozen
class Squared:
    result: int


@action(params=By, extra="forbid")
def add(state: Tally, p: By, ctx: Context) -> ActionResult[Tally]:
    new = attrs.evolve(state, count=state.count + p.by)
    if p.by and new.count % 10 == 0:
        return ok(new, emit_to_sink("audit", "tally.round", {"count": new.count}))
    return ok(new)


@action()
def square(state: Tally, _: NoParams, ctx: Context) -> ActionResult[Tally]:
    return ok(
        None, invoke("square", {"n": state.count}, on_ok="tally.squared", on_error="tally.oops")
    )


@action(params=Squared)
def squared(state: Tally, p: Squared, ctx: Context) -> ActionResult[Tally]:
    return ok(attrs.evolve(state, square=p.result))


@action()
def reset(state: Tally, _: NoParams, ctx: Context) -> ActionResult[Tally]:
    return ok(attrs.evolve(state, count=0), schedule(COOL_DOWN, "tally.cooled"))


@action()
def cooled(state: Tally, _: NoParams, ctx: Context) -> ActionResult[Tally]:
    return ok(attrs.evolve(state, cooled=state.cooled + 1))


TALLY: AgentSpec[Tally] = AgentSpec(
    name="tally",
    state=Tally,
    routes=[
        Route(pattern="tally.add", target=add),
        Route(pattern="tally.square", target=square),
        Route(pattern="tally.squared", target=squared),
        Route(pattern="tally.reset", target=reset),
        Route(pattern="tally.cooled", target=cooled),
    ],
)


def square_effect(args: FrozenMap[str, JsonValue]) -> object:
    n = args["n"]
    assert isinstance(n, int)
    return n * n


class TallyMachine(AgentMachine):
    """The tally agent against a model: its count, last square, cool-downs and rounds."""

    spec = TALLY
    effects: ClassVar[Mapping[str, EffectHandler]] = {"square": square_effect}
    sinks = ("audit",)

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.square: int | None = None
        self.rounds = 0
        self.now = 0.0
        self.cool_downs_due: list[float] = []  # virtual times of armed cool-downs
        self.cooled = 0

    @rule(by=st.integers(-15, 15))
    def add(self, by: int) -> None:
        agent = self.call("tally.add", {"by": by})
        self.count += by
        if by and self.count % 10 == 0:
            self.rounds += 1
        assert agent.state.count == self.count

    @rule()
    def square_it(self) -> None:
        self.send("tally.square")
        self.square = self.count * self.count
        assert self.state.square == self.square

    @rule()
    def reset(self) -> None:
        agent = self.call("tally.reset")
        self.count = 0
        self.cool_downs_due.append(self.now + COOL_DOWN)
        assert agent.state.count == 0

    @rule(seconds=st.sampled_from([1.0, 4.0, 9.5, 10.0, 25.0]))
    def wait(self, seconds: float) -> None:
        self.now += seconds
        due = [t for t in self.cool_downs_due if t <= self.now]
        self.cool_downs_due = [t for t in self.cool_downs_due if t > self.now]
        assert self.advance(seconds) == len(due)
        self.cooled += len(due)

    @rule(data=st.sampled_from([{"by": "two"}, {"by": None}, {}, {"by": 1, "extra": 2}]))
    def bad_request(self, data: dict[str, Any]) -> None:
        before = self.agent
        after = self.call("tally.add", data)
        assert after == before
        entry = self.runtime.trace[-1]
        assert (entry.signal.type, entry.signal.data) == ("tally.add", freeze(data))
        (err,) = entry.directives
        assert isinstance(err, Error)
        assert err.problem.kind is ProblemKind.PARAMS

    @invariant()
    def agrees_with_the_model(self) -> None:
        state: Tally = self.state
        assert (state.count, state.square, state.cooled) == (self.count, self.square, self.cooled)
        rounds = self.runtime.sink("audit")
        assert len(rounds) == self.rounds
        assert self.runtime.pending_timers() == len(self.cool_downs_due)


TestTally = TallyMachine.TestCase
