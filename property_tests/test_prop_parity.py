"""SyncRuntime and AsyncRuntime agree on generated scenarios.

The scenario vocabulary of ``tests/test_parity.py`` (emits between agents, effects that
succeed and fail, children spawned, reporting, stopping themselves and stopped under reused
tags, FSM transitions allowed and refused, bad params, unrouted signals, signals for agents
that are gone), drawn in any order: both interpreters end with equal agents (state, version,
status), and refuse the same outside signals (those for an agent that is not running); and
so does a Simulation without faults, whatever its seed.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.test_parity import BANK, LEDGER, SPECS, Step, _price, _price_async

from jido_interpreters import AsyncRuntime, Simulation, SyncRuntime, UnknownAgent

TAGS = ("a", "b")

steps = st.one_of(
    st.builds(lambda n: ("bank", "bank.deposit", {"n": n}), st.integers(-5, 20)),
    st.builds(lambda n: ("bank", "bank.quote", {"n": n}), st.integers(-2, 5)),
    st.builds(lambda t: ("bank", "bank.hire", {"tag": t}), st.sampled_from(TAGS)),
    st.builds(lambda t: ("bank", "bank.fire", {"tag": t}), st.sampled_from(TAGS)),
    st.builds(lambda t: (f"bank/{t}", "bank.work", None), st.sampled_from(TAGS)),
    st.sampled_from(
        [
            ("bank", "bank.opened", None),
            ("bank", "bank.closed", None),
            ("bank", "bank.deposit", {"n": "lots"}),
            ("bank", "bank.nothing", None),
            ("ledger", "bank.deposited", {"n": 1}),
        ]
    ),
)


def _sync(scenario: list[Step]) -> tuple[dict[str, Any], list[int]]:
    """Final agents, and the steps refused because their agent was not running."""
    rt = SyncRuntime(SPECS, effects={"price": _price}, sinks=["audit"])
    rt.start(BANK, "bank")
    rt.start(LEDGER, "ledger")
    refused = []
    for i, (agent_id, type_, data) in enumerate(scenario):
        try:
            rt.send(agent_id, type_, data)
        except UnknownAgent:
            refused.append(i)
    return {i: rt.agent(i) for i in rt.agent_ids}, refused


def _async(scenario: list[Step]) -> tuple[dict[str, Any], list[int]]:
    """As :func:`_sync`, on AsyncRuntime: idle after each signal, as ``send`` leaves it."""

    async def main() -> tuple[dict[str, Any], list[int]]:
        async with AsyncRuntime(SPECS, effects={"price": _price_async}, sinks=["audit"]) as rt:
            await rt.start(BANK, "bank")
            await rt.start(LEDGER, "ledger")
            await rt.wait_idle(timeout=5)
            refused = []
            for i, (agent_id, type_, data) in enumerate(scenario):
                try:
                    await rt.cast(agent_id, type_, data)
                except UnknownAgent:
                    refused.append(i)
                await rt.wait_idle(timeout=5)
            return {i: rt.agent(i) for i in rt.agent_ids}, refused

    return asyncio.run(main())


@settings(max_examples=60)
@given(scenario=st.lists(steps, max_size=20))
def test_sync_and_async_agree(scenario: list[Step]) -> None:
    assert _async(scenario) == _sync(scenario)


def _simulated(scenario: list[Step], refused: list[int], seed: int) -> dict[str, Any]:
    """The scenario in a Simulation without faults, each outside signal a virtual second
    after the one before (long enough for everything it sets off to settle, as ``send``
    runs until idle), leaving out those SyncRuntime refused (no agent to take them)."""
    sim = Simulation(SPECS, seed=seed, effects={"price": _price}, sinks=["audit"])
    sim.start(BANK, "bank")
    sim.start(LEDGER, "ledger")
    for i, (agent_id, type_, data) in enumerate(scenario):
        if i not in refused:
            sim.send(agent_id, type_, data, at=float(i + 1))
    result = sim.run(100_000)
    assert result.quiescent
    return dict(result.agents)


@settings(max_examples=60)
@given(scenario=st.lists(steps, max_size=20), seed=st.integers(0, 2**32 - 1))
def test_a_simulation_without_faults_agrees_with_sync(scenario: list[Step], seed: int) -> None:
    """With no faults and each input settled before the next, the seeded scheduler's choices
    (latencies, interleavings) change nothing: the final agents are SyncRuntime's."""
    sync, refused = _sync(scenario)
    assert _simulated(scenario, refused, seed) == sync
