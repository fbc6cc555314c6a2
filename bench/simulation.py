"""Simulated events per second: tokens passed around a ring of agents, next to the floor.

100 relay agents pass 50 tokens around a ring; every delivery is one ``jido.step`` plus one
``Emit`` to the next agent, scheduled on the seeded heap. The floor, measured in the same
run, is the least a seeded simulator loop can do: pop a seeded random choice from a list of
pending ``(agent, message)`` pairs, ``attrs.evolve`` the agent, append the next message.
``jido.step`` alone (the same relay, the same number of steps, no scheduling) shows how much
of a simulated event is the core's own cost. Target: 200k simulated events/s.

Run: ``python bench/simulation.py [EVENTS]``
"""

from __future__ import annotations

import random
import sys
from datetime import UTC, datetime
from typing import Any

import attrs

from jido import ActionResult, Agent, AgentSpec, Context, Route, Signal, action, emit_to, ok, step
from jido_interpreters import FaultPlan, Simulation

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from _common import Row, best_of, print_table

AGENTS = 100
TOKENS = 50


@attrs.frozen
class Relay:
    count: int = 0
    next: str = ""


@attrs.frozen
class Token:
    hops: int


@action(params=Token)
def relay(state: Relay, p: Token, ctx: Context) -> ActionResult[Relay]:
    new = Relay(state.count + 1, state.next)
    if p.hops <= 0:
        return ok(new)
    return ok(new, emit_to(state.next, "token.passed", {"hops": p.hops - 1}))


RELAY = AgentSpec(name="relay", state=Relay, routes=[Route(pattern="token.passed", target=relay)])


def ring(i: int) -> str:
    return f"r{i % AGENTS}"


def run_simulation(events: int, *, faults: FaultPlan | None = None, checked: bool = False) -> int:
    def no_one_skips(agents: Any) -> bool:
        return all(a.state.count >= 0 for a in agents.values())

    sim = Simulation(
        [RELAY],
        seed=7,
        faults=faults or FaultPlan(),
        invariants={"counts": no_one_skips} if checked else None,
        record=checked,
    )
    for i in range(AGENTS):
        sim.start(RELAY, ring(i), {"next": ring(i + 1)})
    for t in range(TOKENS):
        sim.send(ring(t * 2), "token.passed", {"hops": 10**9})
    result = sim.run(events)
    return result.counts["delivered"]


@attrs.frozen
class Message:
    hops: int


def run_floor(events: int) -> int:
    rng = random.Random(7)
    states = {ring(i): Relay(next=ring(i + 1)) for i in range(AGENTS)}
    pending: list[tuple[str, Message]] = [(ring(t * 2), Message(10**9)) for t in range(TOKENS)]
    handled = 0
    while pending and handled < events:
        i = rng.randrange(len(pending))
        pending[i], pending[-1] = pending[-1], pending[i]
        agent_id, msg = pending.pop()
        state = states[agent_id]
        states[agent_id] = attrs.evolve(state, count=state.count + 1)
        if msg.hops > 0:
            pending.append((state.next, Message(msg.hops - 1)))
        handled += 1
    return handled


def run_step(events: int) -> int:
    agent: Agent[Relay] = RELAY.new("r0", {"next": "r1"})
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    sig = Signal(type="token.passed", source="/bench", id="s", time=t0, data={"hops": 10**9})
    for _ in range(events):
        agent = step(RELAY, agent, sig).agent
    return events


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    faults = FaultPlan(drop=0.01, delay=0.01, duplicate=0.01, reorder=0.01, crash=0.001)
    floor = best_of(lambda: run_floor(n))
    core = best_of(lambda: run_step(n))
    plain = best_of(lambda: run_simulation(n))
    chaos = best_of(lambda: run_simulation(n, faults=faults, checked=True))

    def note(us: float, extra: str) -> str:
        return f"{1e6 / us:,.0f} events/s; {extra}"

    rows: list[Row] = [
        ("floor: seeded pick from pending + attrs.evolve", floor, note(floor, "no core")),
        ("jido.step alone (relay + 1 Emit)", core, note(core, "no scheduling")),
        ("Simulation, no faults, not recorded", plain, note(plain, "target 200k events/s")),
        (
            "Simulation, 5 fault kinds, recorded, 1 invariant",
            chaos,
            note(chaos, "faults ~1% each, invariant over 100 agents"),
        ),
    ]
    print_table(
        f"Simulation, {n} events, {AGENTS} agents, {TOKENS} tokens in flight", rows, rows[0][0]
    )


if __name__ == "__main__":
    main()
