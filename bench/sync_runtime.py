"""µs per signal through SyncRuntime: a counter that emits to a second agent.

Each external signal makes two steps (the counter, then the tally agent it emits to), so the
figure is per signal *handled*. The floor, measured in the same run, does the same delivery
with a plain deque, dict routes and ``attrs.evolve``. Target: within 5x of it.

Run: ``python bench/sync_runtime.py [N]``
"""

from __future__ import annotations

import sys
from collections import deque
from typing import Any

import attrs

from jido import ActionResult, AgentSpec, Context, Route, action, emit_to, ok
from jido_interpreters import SyncRuntime

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from _common import Row, best_of, print_table
from _counter import Counter, Inc


@action(params=Inc)
def increment(state: Counter, p: Inc, ctx: Context) -> ActionResult[Counter]:
    new = Counter(state.count + p.by)
    return ok(new, emit_to("tally", "counter.incremented", {"count": new.count}))


@attrs.frozen
class Seen:
    count: int


@action(params=Seen)
def record(state: Counter, p: Seen, ctx: Context) -> ActionResult[Counter]:
    return ok(Counter(p.count))


COUNTER = AgentSpec(
    name="counter", state=Counter, routes=[Route(pattern="counter.increment", target=increment)]
)
TALLY = AgentSpec(
    name="tally", state=Counter, routes=[Route(pattern="counter.incremented", target=record)]
)


def run_sync(n: int) -> int:
    rt = SyncRuntime([COUNTER, TALLY], record=False)
    rt.start(COUNTER, "counter")
    rt.start(TALLY, "tally")
    sigs = [rt.signal("counter.increment", {"by": 1}) for _ in range(n)]
    for s in sigs:
        rt.cast("counter", s)
    handled = rt.run_until_idle()
    assert rt.state("tally").count == n
    return handled


@attrs.frozen
class Event:
    type: str
    data: dict[str, Any]


def run_floor(n: int) -> int:
    states = {"counter": Counter(), "tally": Counter()}

    def inc(state: Counter, data: Any) -> tuple[Counter, list[tuple[str, Event]]]:
        new = attrs.evolve(state, count=state.count + data["by"])
        return new, [("tally", Event("counter.incremented", {"count": new.count}))]

    def rec(state: Counter, data: Any) -> tuple[Counter, list[tuple[str, Event]]]:
        return attrs.evolve(state, count=data["count"]), []

    routes = {"counter.increment": inc, "counter.incremented": rec}
    queue: deque[tuple[str, Event]] = deque(
        ("counter", Event("counter.increment", {"by": 1})) for _ in range(n)
    )
    handled = 0
    while queue:
        target, ev = queue.popleft()
        states[target], out = routes[ev.type](states[target], ev.data)
        queue.extend(out)
        handled += 1
    assert states["tally"].count == n
    return handled


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    floor = best_of(lambda: run_floor(n))
    sync = best_of(lambda: run_sync(n))
    rows: list[Row] = [
        ("floor: deque + dict routes + attrs.evolve", floor, "same delivery, no validation"),
        ("SyncRuntime (counter -> tally)", sync, "target ratio <= 5"),
    ]
    print_table(f"SyncRuntime, {n} external signals ({2 * n} handled)", rows, rows[0][0])


if __name__ == "__main__":
    main()
