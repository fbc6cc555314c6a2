"""The counter every benchmark runs: its state, its params, and the plain spec."""

from __future__ import annotations

import attrs

from jido import ActionResult, AgentSpec, Context, Route, action, ok

__all__ = ["SPEC", "Counter", "Inc", "increment"]


@attrs.frozen
class Counter:
    count: int = 0


@attrs.frozen
class Inc:
    by: int = 1


@action(params=Inc)
def increment(state: Counter, p: Inc, ctx: Context) -> ActionResult[Counter]:
    return ok(Counter(state.count + p.by))


#: A counter that only counts (no directives).
SPEC = AgentSpec(
    name="counter", state=Counter, routes=[Route(pattern="counter.increment", target=increment)]
)
