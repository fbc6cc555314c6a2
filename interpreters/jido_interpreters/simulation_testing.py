"""Hypothesis support for simulations: fault plans, scheduler choices, seed hunts.

Needs the ``testing`` extra (Hypothesis). Two ways to search for a failing run:

* **Over seeds** — fast, and every failure is a seed you can replay (``jido replay``)::

      found = first_failure(bank.SCENARIO, seeds=range(200), faults=FaultPlan(drop=0.1))
      assert found is None, found

* **Over choices, with shrinking** — the scheduler draws its latencies and faults from
  Hypothesis's data instead of ``random.Random(seed)``. When a run fails, Hypothesis
  shrinks the inputs, the fault plan *and* the choice sequence together: every draw here
  shrinks toward 0, which reads "no latency, no fault", and each fault kind is drawn from a
  band of its own that no other kind's probability moves, so the minimal example keeps only
  the faults the failure needs, the probability of every other kind shrinks to 0, and its
  trace is short::

      @given(faults=fault_plans(), choices=scheduler_choices())
      def test_money_is_conserved(faults, choices):
          simulate(bank.SCENARIO, rng=choices, faults=faults, events=300)

  Keep such runs small (a few hundred events): every choice is a draw from Hypothesis's
  data, whose size is bounded.

Either way the scenario runs many times in one process: fakes that keep state must be made
per run (``Scenario(make_effects=..., make_sensors=..., make_directives=...)``), or one run
sees what another left and a seed no longer repeats its run.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Iterable

try:
    from hypothesis import strategies as st
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "jido_interpreters.simulation_testing needs Hypothesis: install jido[testing]"
        " (pip install 'jido[testing]')"
    ) from exc

from jido import ActionCrashed

from ._faults import NO_FAULTS, FaultPlan
from ._sim_events import InvariantViolated, crash_message
from ._simulation import Scenario, simulate

__all__ = ["FAULT_KINDS", "fault_plans", "first_failure", "scheduler_choices"]

#: The probability fields of :class:`~jido_interpreters.FaultPlan`.
FAULT_KINDS = frozenset(
    {"drop", "delay", "duplicate", "reorder", "crash", "effect_failure", "effect_latency"}
)
_STEPS = 20


def fault_plans(
    *,
    kinds: Collection[str] = FAULT_KINDS,
    max_probability: float = 0.25,
) -> st.SearchStrategy[FaultPlan]:
    """Fault plans injecting some of ``kinds``, each with probability up to the maximum.

    Probabilities are drawn on a grid of 20 steps up to ``max_probability`` and shrink to 0
    (no fault of that kind); delays and latencies from a few magnitudes (0.01 to 2 s); the
    recovery of a crash is either kind, shrinking to ``"durable"``.

    Args:
        kinds: which :data:`FAULT_KINDS` may be non-zero (one kind may be given alone, as a
            string: ``kinds="drop"``).
        max_probability: at most 0.25, so that the four message faults never sum above 1
            and each fits the quarter of a draw the simulation gives it: shrinking one
            kind's probability then leaves every other kind's faults where they were.

    Raises:
        ValueError: an unknown kind, or a maximum outside (0, 0.25].
    """
    if isinstance(kinds, str):
        kinds = (kinds,)  # one kind, not its letters
    unknown = set(kinds) - FAULT_KINDS
    if unknown:
        raise ValueError(
            f"unknown fault kinds {sorted(unknown)}; use some of {sorted(FAULT_KINDS)}"
        )
    if not 0 < max_probability <= 0.25:
        raise ValueError(f"max_probability must be in (0, 0.25], got {max_probability!r}")
    grid = st.integers(0, _STEPS).map(lambda n: n * max_probability / _STEPS)
    durations = st.sampled_from((0.01, 0.1, 0.5, 2.0))
    fields = dict.fromkeys(sorted(kinds), grid)
    return st.builds(
        FaultPlan,
        **fields,
        max_delay=durations,
        max_latency=durations,
        recovery=st.sampled_from(("durable", "restart")),
    )


def scheduler_choices() -> st.SearchStrategy[random.Random]:
    """A generator whose every draw comes from Hypothesis's data, for ``rng=``.

    Pass it to :func:`~jido_interpreters.simulate` (or ``Simulation(rng=...)``) in place
    of a seed: the delivery order and the faults become part of the example, and shrink
    with it.
    """
    return st.randoms(use_true_random=False, note_method_calls=False)


def first_failure(
    scenario: Scenario,
    *,
    seeds: Iterable[int],
    events: int = 10_000,
    faults: FaultPlan = NO_FAULTS,
) -> InvariantViolated | None:
    """The violation of the first seed whose run breaks an invariant, or ``None``.

    The runs are recorded, so the violation carries its trace; replay it with
    ``simulation_to_jsonl(found.result)`` and ``jido replay``.

    Raises:
        ActionCrashed: a run crashed (an action raised: a bug to fix, not a finding); the
            message starts with the seed (``seed 7: action 'pay' of agent 'a' raised
            handling 'x.pay': KeyError: 'card'``), so ``simulate(scenario, seed=7)`` runs it
            again.
    """
    for seed in seeds:
        try:
            simulate(scenario, seed=seed, events=events, faults=faults)
        except InvariantViolated as exc:
            return exc
        except ActionCrashed as exc:
            exc.args = (f"seed {seed}: {crash_message(exc)}",)
            raise
    return None
