"""Properties of error policies in a simulation: over seeds, fault plans and options, a run
whose crashes a policy handles is deterministic (byte-identical traces), replays from its
trace, and never stops at a crash; each crash is an event that says what the policy did.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from jido import (
    ActionResult,
    AgentSpec,
    Context,
    NoParams,
    Route,
    action,
    emit_to,
    ok,
    schedule,
    spawn_agent,
    stop,
)
from jido_interpreters import (
    AgentOptions,
    Continue,
    CrashHandled,
    ErrorPolicy,
    Escalate,
    FaultPlan,
    Restart,
    Scenario,
    Simulation,
    StopAgent,
    replay,
    simulate,
    simulation_to_jsonl,
)
from jido_interpreters.simulation_testing import fault_plans


@attrs.frozen
class Tally:
    """How many jobs an agent did."""

    done: int = 0


@action()
def job(state: Tally, _: NoParams, ctx: Context) -> ActionResult[Tally]:
    """Every third job crashes; the others are done, reported to the boss, and followed by
    one more a second later (a timer a restart drops)."""
    if state.done % 3 == 2:
        raise ValueError("every third")
    return ok(Tally(state.done + 1), emit_to("boss", "boss.done"), schedule(1, "job.again"))


@action()
def again(state: Tally, _: NoParams, ctx: Context) -> ActionResult[Tally]:
    """A timer the worker armed itself: one more job."""
    return ok(Tally(state.done + 1))


@action()
def done(state: Tally, _: NoParams, ctx: Context) -> ActionResult[Tally]:
    """Count a child's job, or its exit."""
    return ok(Tally(state.done + 1))


@action()
def hire(state: Tally, _: NoParams, ctx: Context) -> ActionResult[Tally]:
    """Spawn two workers."""
    return ok(state, spawn_agent("worker", "a"), spawn_agent("worker", "b"))


@action()
def quit_(state: Tally, _: NoParams, ctx: Context) -> ActionResult[Tally]:
    """Stop: the workers follow their on_parent_death."""
    return ok(state, stop("done"))


WORKER = AgentSpec(
    name="worker",
    state=Tally,
    routes=[
        Route(pattern="job.do", target=job),
        Route(pattern="job.again", target=again),
        Route(pattern="jido.agent.**", target=done),
    ],
    schedules=[schedule(2, "job.do")],
)
BOSS = AgentSpec(
    name="boss",
    state=Tally,
    routes=[
        Route(pattern="boss.hire", target=hire),
        Route(pattern="boss.quit", target=quit_),
        Route(pattern="boss.done", target=done),
        Route(pattern="jido.agent.**", target=done),
    ],
)

policies: st.SearchStrategy[ErrorPolicy] = st.one_of(
    st.just(Continue()),
    st.just(StopAgent()),
    st.just(Escalate()),
    st.builds(
        Restart,
        max_restarts=st.integers(0, 3),
        within=st.sampled_from([0.5, 2.0, 30.0]),
    ),
)
options = st.builds(
    AgentOptions,
    error_policy=policies,
    on_parent_death=st.sampled_from(["orphan", "stop", "continue"]),
)


def _setup(jobs: int) -> Callable[[Simulation], None]:
    def setup(sim: Simulation) -> None:
        sim.start(BOSS, "boss")
        sim.send("boss", "boss.hire", at=0.0)
        for n in range(jobs):
            sim.send("boss/a" if n % 2 else "boss/b", "job.do", at=0.5 + n * 0.7)
        sim.send("boss", "boss.quit", at=0.5 + jobs * 0.7)

    return setup


@settings(max_examples=30)
@given(
    seed=st.integers(0, 2**32 - 1),
    faults=fault_plans(kinds=("drop", "delay", "duplicate", "crash", "reorder")),
    worker=options,
    boss=st.none() | options,
    jobs=st.integers(0, 8),
)
def test_a_run_with_policies_is_deterministic_and_replays(
    seed: int, faults: FaultPlan, worker: AgentOptions, boss: AgentOptions | None, jobs: int
) -> None:
    scenario = Scenario(
        specs=(BOSS, WORKER),
        setup=_setup(jobs),
        options={"worker": worker},
        default_options=boss,
    )
    first = simulate(scenario, seed=seed, faults=faults, until=20.0, events=2_000)
    text = simulation_to_jsonl(first)
    assert (
        simulation_to_jsonl(simulate(scenario, seed=seed, faults=faults, until=20.0, events=2_000))
        == text
    )
    assert replay(text, scenario) is None
    assert first.crash is None  # every crash was the worker's, and its policy handled it
    for event in first.events:
        if isinstance(event, CrashHandled):
            assert event.agent_id.startswith("boss/")
            assert (
                event.policy
                == {
                    Continue: "continue",
                    StopAgent: "stop",
                    Restart: "restart",
                    Escalate: "escalate",
                }[type(worker.error_policy)]
            )
            stopped = event.outcome in ("stopped", "escalated")
            assert stopped == (event.reason is not None)
