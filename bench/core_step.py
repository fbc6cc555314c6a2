"""µs per ``jido.step`` for a counter agent with one Emit, next to the floor.

The floor is the least any Python agent loop can do for the same work, measured in the same
run: look the handler up in a dict by signal type, ``attrs.evolve`` the state, and build the
outgoing event. Target: ``step`` within 3x of it.

Run: ``python bench/core_step.py [N]``
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

import attrs

from jido import ActionResult, AgentSpec, Context, Route, Signal, action, emit, ok, step

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from _common import Row, best_of, print_table
from _counter import Counter, Inc


@action(params=Inc)
def increment(state: Counter, p: Inc, ctx: Context) -> ActionResult[Counter]:
    new = Counter(state.count + p.by)
    return ok(new, emit("counter.incremented", {"count": new.count}))


SPEC = AgentSpec(
    name="counter", state=Counter, routes=[Route(pattern="counter.increment", target=increment)]
)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def signals(n: int) -> list[Signal]:
    return [
        Signal(type="counter.increment", source="/bench", id=f"s{i}", time=T0, data={"by": 1})
        for i in range(n)
    ]


def run_step(sigs: list[Signal]) -> int:
    agent = SPEC.new("c1")
    for s in sigs:
        agent = step(SPEC, agent, s).agent
    assert agent.state.count == len(sigs)
    return len(sigs)


@attrs.frozen
class Event:
    type: str
    data: dict[str, Any]


def run_floor(sigs: list[Signal]) -> int:
    def handle(state: Counter, data: Any) -> tuple[Counter, list[Event]]:
        new = attrs.evolve(state, count=state.count + data["by"])
        return new, [Event("counter.incremented", {"count": new.count})]

    routes = {"counter.increment": handle}
    state = Counter()
    for s in sigs:
        state, _out = routes[s.type](state, s.data)
    assert state.count == len(sigs)
    return len(sigs)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    sigs = signals(n)
    floor = best_of(lambda: run_floor(sigs))
    core = best_of(lambda: run_step(sigs))
    rows: list[Row] = [
        ("floor: dict route + attrs.evolve", floor, "same work, no validation"),
        ("jido.step (counter + 1 Emit)", core, "target ratio <= 3"),
    ]
    print_table(f"core step, {n} signals", rows, rows[0][0])


if __name__ == "__main__":
    main()
