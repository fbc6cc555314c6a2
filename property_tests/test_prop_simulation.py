"""Properties of the deterministic simulation, over seeds, fault plans and scheduler choices.

* Same seed, specs, inputs and fault plan: byte-identical traces, for a system using every
  directive kind (spawn, stop, effects, schedules, cron, sinks) and for the bank.
* The bank example keeps its invariants under every fault plan, and settles once quiescent.
* A run bounded in virtual time is as deterministic, replays, and records what a longer
  run records up to its bound.
* Setting one fault kind's probability to 0 leaves every other fault where it was.
* A bank that does not deduplicate credits is caught within a bounded number of seeds, and
  Hypothesis shrinks a failing run down to one transfer and one duplicated credit, with no
  fault probability the failure does not need.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import attrs
import hypothesis
import pytest
from hypothesis import Phase, assume, given, settings
from hypothesis import strategies as st

from jido import (
    ActionCrashed,
    ActionResult,
    AgentSpec,
    Context,
    FrozenMap,
    Route,
    action,
    emit_to,
    ok,
    schedule,
)
from jido_examples import bank, contentops
from jido_interpreters import (
    AgentCrashed,
    EffectDelayed,
    EffectFailed,
    Fault,
    FaultPlan,
    InvariantViolated,
    MessageDelayed,
    MessageDropped,
    MessageDuplicated,
    MessageReordered,
    Scenario,
    SignalDelivered,
    Simulation,
    replay,
    simulate,
    simulation_to_jsonl,
    trace_to_jsonl,
)
from jido_interpreters.simulation_testing import fault_plans, first_failure, scheduler_choices

seeds = st.integers(0, 2**32 - 1)
ACCOUNTS = ("alice", "bob", "carol")
OPENING = {"alice": 60, "bob": 30, "carol": 10}

#: Transfer requests: (payer, payee, amount, when). Some are unaffordable, some to oneself.
transfers = st.lists(
    st.tuples(
        st.sampled_from(ACCOUNTS),
        st.sampled_from(ACCOUNTS),
        st.integers(1, 70),
        st.sampled_from((0.0, 0.001, 0.01, 0.2)),
    ),
    min_size=1,
    max_size=6,
)


def contentops_scenario() -> Scenario:
    def setup(sim: Simulation) -> None:
        sim.start(contentops.ORCHESTRATOR, "orchestrator")
        topics = ["alpha", "beta gamma", "flaky one"]
        sim.send("orchestrator", "contentops.run.requested", {"topics": topics})
        sim.send("orchestrator", "contentops.run.requested", {"topics": ["too soon"]}, at=0.002)

    return Scenario(
        specs=contentops.SPECS, setup=setup, effects=contentops.EFFECTS, sinks=["audit"]
    )


CONTENTOPS = contentops_scenario()

# ---------------------------------------------------------------- determinism


@settings(max_examples=25)
@given(seed=seeds, faults=fault_plans())
def test_same_seed_same_bytes_for_the_bank(seed: int, faults: FaultPlan) -> None:
    """Two runs of the bank with one seed and plan write the same bytes."""
    one = simulate(bank.SCENARIO, seed=seed, faults=faults, events=2_000)
    two = simulate(bank.SCENARIO, seed=seed, faults=faults, events=2_000)
    assert simulation_to_jsonl(one).encode() == simulation_to_jsonl(two).encode()
    assert trace_to_jsonl(one.entries).encode() == trace_to_jsonl(two.entries).encode()


@settings(max_examples=15)
@given(seed=seeds, faults=fault_plans())
def test_same_seed_same_bytes_with_every_directive_kind(seed: int, faults: FaultPlan) -> None:
    """ContentOps (spawns, stops, effects, schedules, cron, a sink) is just as deterministic,
    and its trace replays identically."""
    one = simulate(CONTENTOPS, seed=seed, faults=faults, events=150)
    two = simulate(CONTENTOPS, seed=seed, faults=faults, events=150)
    text = simulation_to_jsonl(one)
    assert text.encode() == simulation_to_jsonl(two).encode()
    assert one.sinks == two.sinks
    assert replay(text, CONTENTOPS) is None


@settings(max_examples=15)
@given(
    seed=seeds,
    faults=fault_plans(),
    until=st.floats(0.0, 2 * 86_400.0),
    later=st.floats(0.0, 86_400.0),
)
def test_a_bounded_run_is_the_start_of_a_longer_one(
    seed: int, faults: FaultPlan, until: float, later: float
) -> None:
    """ContentOps on its nightly cron job never runs out of things to do: bounded in
    virtual time, a run writes the same bytes twice and replays identically, and a run
    with a later bound records the same events first, the rest after the bound."""
    one = simulate(CONTENTOPS, seed=seed, faults=faults, until=until)
    two = simulate(CONTENTOPS, seed=seed, faults=faults, until=until)
    text = simulation_to_jsonl(one)
    assert text.encode() == simulation_to_jsonl(two).encode()
    assert replay(text, CONTENTOPS) is None
    assert not one.out_of_events
    assert one.now == until
    longer = simulate(CONTENTOPS, seed=seed, faults=faults, until=until + later)
    assert longer.events[: one.event_count] == one.events
    assert all(e.at > until for e in longer.events[one.event_count :])


#: The event each fault kind records.
FAULT_EVENTS: dict[str, type[Fault]] = {
    "drop": MessageDropped,
    "delay": MessageDelayed,
    "duplicate": MessageDuplicated,
    "reorder": MessageReordered,
    "crash": AgentCrashed,
    "effect_failure": EffectFailed,
    "effect_latency": EffectDelayed,
}


@settings(max_examples=50)
@given(
    seed=seeds,
    faults=fault_plans(),
    scenario=st.sampled_from([bank.SCENARIO, CONTENTOPS]),
    data=st.data(),
)
def test_removing_one_fault_kind_leaves_the_other_faults_where_they_were(
    seed: int, faults: FaultPlan, scenario: Scenario, data: st.DataObject
) -> None:
    """With one kind's probability set to 0, a run is the same up to the first fault of
    that kind: every draw that injected another fault still does. That is what lets
    Hypothesis shrink the probability of a fault a failure does not need to 0 without
    losing the faults it does need."""
    kinds = sorted(kind for kind in FAULT_EVENTS if getattr(faults, kind))
    assume(kinds)
    kind = data.draw(st.sampled_from(kinds))
    zeroed: dict[str, Any] = {kind: 0.0}
    with_it = simulate(scenario, seed=seed, faults=faults, events=400)
    without = simulate(scenario, seed=seed, faults=attrs.evolve(faults, **zeroed), events=400)
    first = next(
        (e.index for e in with_it.events if isinstance(e, FAULT_EVENTS[kind])),
        with_it.event_count,
    )
    assert without.events[:first] == with_it.events[:first]
    if first == with_it.event_count:
        assert without.events == with_it.events


# ---------------------------------------------------------------- the bank holds


def settled(result: Any, total: int) -> None:
    accounts = [a.state for a in result.agents.values()]
    assert all(not a.outbox for a in accounts)
    assert sum(a.balance for a in accounts) == total


@given(requests=transfers, faults=fault_plans(), seed=seeds)
def test_bank_keeps_its_invariants_under_any_fault_plan(
    requests: list[tuple[str, str, int, float]], faults: FaultPlan, seed: int
) -> None:
    """No negative balance and money conserved after every event; once quiescent, the
    outboxes are empty and the balances alone add up."""
    result = simulate(bank.scenario(OPENING, requests), seed=seed, faults=faults, events=20_000)
    assert result.quiescent
    settled(result, sum(OPENING.values()))


@given(requests=transfers, faults=fault_plans(), choices=scheduler_choices())
def test_bank_keeps_its_invariants_under_adversarial_choices(
    requests: list[tuple[str, str, int, float]], faults: FaultPlan, choices: Any
) -> None:
    """With Hypothesis choosing latencies and faults (not a seed), the invariants hold."""
    result = simulate(bank.scenario(OPENING, requests), rng=choices, faults=faults, events=300)
    if result.quiescent:
        settled(result, sum(OPENING.values()))


# ---------------------------------------------------------------- a buggy bank is caught


@action(params=bank.Credit)
def credit_every_time(state: bank.Account, p: bank.Credit, ctx: Context) -> ActionResult[Any]:
    """The bug: credits whatever arrives, without looking the transfer id up."""
    new = attrs.evolve(
        state,
        balance=state.balance + p.amount,
        received=state.received.set(p.transfer_id, p.amount),
    )
    return ok(new, emit_to(p.payer, "bank.credit.acked", {"transfer_id": p.transfer_id}))


BUGGY = AgentSpec(
    name="account",
    state=bank.Account,
    routes=[
        Route(pattern="bank.transfer.requested", target=bank.request_transfer),
        Route(pattern="bank.credit", target=credit_every_time),
        Route(pattern="bank.credit.acked", target=bank.acknowledge),
        Route(pattern="bank.retry", target=bank.retry),
    ],
    schedules=[schedule(bank.RETRY_SECONDS, "bank.retry")],
)
BUGGY_BANK = bank.scenario(
    {"alice": 100, "bob": 50, "carol": 0},
    [("alice", "bob", 30, 0.0), ("bob", "carol", 60, 0.0), ("carol", "alice", 10, 0.001)],
    spec=BUGGY,
)


def test_the_buggy_bank_is_fine_without_faults() -> None:
    """The bug needs the network's help: a clean run of the buggy bank passes."""
    assert first_failure(BUGGY_BANK, seeds=range(20)) is None


@pytest.mark.parametrize(
    "faults",
    [FaultPlan(duplicate=0.1), FaultPlan(drop=0.1), FaultPlan(delay=0.2, max_delay=0.2)],
    ids=["duplicate", "drop-an-ack", "delay-past-a-retry"],
)
def test_the_buggy_bank_is_caught_within_50_seeds(faults: FaultPlan) -> None:
    """Duplicates, lost acks (a retry re-sends the credit) and late credits all expose it;
    the failing seed replays to the same violation."""
    found = first_failure(BUGGY_BANK, seeds=range(50), faults=faults, events=5_000)
    assert found is not None
    assert found.invariant == "money_conserved"
    assert found.seed is not None
    assert replay(simulation_to_jsonl(found.result), BUGGY_BANK) is None
    again = Simulation(BUGGY_BANK.specs, seed=found.seed, faults=faults)
    assert again.seed == found.seed


def transfer_id(e: SignalDelivered) -> str:
    data = e.signal.data
    assert isinstance(data, FrozenMap)
    return str(data["transfer_id"])


def test_hypothesis_shrinks_a_failing_run_to_a_single_fault() -> None:
    """Drawing the scheduler's choices from Hypothesis lets it minimise the run: the
    falsifying example has exactly one injected fault (a duplicated credit, or a lost ack
    whose retry credits again) and a short trace. (How many transfers it keeps is up to
    Hypothesis's shrinker: removing one shifts every later choice, and whether it manages
    varies with things as remote as the process's memory layout, so it is not asserted.)"""
    seen: list[int] = []

    @settings(
        max_examples=300,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
    )
    @given(requests=transfers, faults=fault_plans(), choices=scheduler_choices())
    def buggy_bank_conserves_money(
        requests: list[tuple[str, str, int, float]], faults: FaultPlan, choices: Any
    ) -> None:
        seen.append(len(requests))
        simulate(bank.scenario(OPENING, requests, spec=BUGGY), rng=choices, faults=faults)

    with pytest.raises(InvariantViolated) as caught:
        buggy_bank_conserves_money()
    exc = caught.value
    assert exc.seed is None
    assert exc.invariant == "money_conserved"
    assert max(seen) > 2  # it searched bigger examples before shrinking
    assert exc.index <= 15
    (fault,) = exc.result.faults_injected
    assert isinstance(fault, MessageDuplicated | MessageDropped)
    assert fault.signal.type in {"bank.credit", "bank.credit.acked"}
    credited = Counter(
        transfer_id(e)
        for e in exc.trace
        if isinstance(e, SignalDelivered) and e.signal.type == "bank.credit"
    )
    assert max(credited.values()) == 2
    # No seed, but the trace records every choice: the minimal failure replays exactly.
    assert exc.result.choices is not None
    assert replay(simulation_to_jsonl(exc.result), bank.scenario(OPENING, [], spec=BUGGY)) is None


@pytest.mark.parametrize("seed", [1, 7, 9])
def test_hypothesis_shrinks_the_fault_probabilities_a_failure_does_not_need_to_0(
    seed: int,
) -> None:
    """In the falsifying example every fault kind with a probability above 0 injected a
    fault in the failing run: a probability the failure does not need shrinks to 0 (a
    duplicated credit needs no drop probability, say). The searches are Hypothesis's own,
    from fixed seeds."""
    plans: list[FaultPlan] = []

    @hypothesis.seed(seed)
    @settings(
        max_examples=300,
        derandomize=False,
        database=None,
        deadline=None,
        phases=[Phase.generate, Phase.shrink],
    )
    @given(requests=transfers, faults=fault_plans(), choices=scheduler_choices())
    def buggy_bank_conserves_money(
        requests: list[tuple[str, str, int, float]], faults: FaultPlan, choices: Any
    ) -> None:
        plans.append(faults)
        simulate(bank.scenario(OPENING, requests, spec=BUGGY), rng=choices, faults=faults)

    with pytest.raises(InvariantViolated) as caught:
        buggy_bank_conserves_money()
    minimal = plans[-1]  # the falsifying example runs last
    rates = {kind for kind in FAULT_EVENTS if getattr(minimal, kind)}
    injected = {
        kind
        for kind, event in FAULT_EVENTS.items()
        if any(isinstance(f, event) for f in caught.value.result.faults_injected)
    }
    assert rates, minimal
    assert rates <= injected, minimal


# ---------------------------------------------------------------- the helpers' edges


@attrs.frozen
class Count:
    n: int = 0


@action()
def bump(state: Count, _: Any, ctx: Context) -> ActionResult[Count]:
    if state.n == 1:
        raise RuntimeError("the second one crashes")
    return ok(Count(state.n + 1))


BUMPER = AgentSpec(name="bumper", state=Count, routes=[Route(pattern="b.bump", target=bump)])


def _bumps(sim: Simulation) -> None:
    sim.start(BUMPER, "b")
    sim.send("b", "b.bump")


def test_first_failure_names_the_seed_of_a_run_that_crashed() -> None:
    """A crash is a bug, not a finding: it propagates, and its message starts with the seed
    of the run (here the first whose duplicate delivers a second bump) and says what the
    action raised."""
    scenario = Scenario(specs=[BUMPER], setup=_bumps)
    crashes = [s for s in range(40) if _crashes(scenario, s)]
    assert crashes, "no seed duplicates the bump"
    with pytest.raises(ActionCrashed) as caught:
        first_failure(scenario, seeds=range(40), faults=FaultPlan(duplicate=0.5))
    assert str(caught.value) == (
        f"seed {crashes[0]}: action 'bump' of agent 'b' raised handling 'b.bump':"
        " RuntimeError: the second one crashes"
    )


def _crashes(scenario: Scenario, seed: int) -> bool:
    try:
        simulate(scenario, seed=seed, faults=FaultPlan(duplicate=0.5))
    except ActionCrashed:
        return True
    return False


@given(st.data())
def test_fault_plans_takes_one_kind_as_a_string(data: st.DataObject) -> None:
    """``kinds="drop"`` is the kind ``drop``, not the letters d, r, o and p."""
    plan = data.draw(fault_plans(kinds="drop"))
    others = attrs.asdict(plan, filter=lambda a, _: a.name in {"delay", "duplicate", "reorder"})
    assert set(others.values()) == {0.0}
    assert plan.crash == plan.effect_failure == plan.effect_latency == 0.0
