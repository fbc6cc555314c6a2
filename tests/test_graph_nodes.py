"""Mermaid nodes: one per action, however its name and its plugin's name render."""

from __future__ import annotations

import attrs

from jido import ActionResult, AgentSpec, Context, NoParams, Plugin, Route, action, ok, to_mermaid


@attrs.frozen
class S:
    """A state."""

    n: int = 0


@action("stats__reset")
def agent_reset(state: S, _: NoParams, ctx: Context) -> ActionResult[S]:
    return ok(None)


@action("reset")
def plugin_reset(state: S, _: NoParams, ctx: Context) -> ActionResult[S]:
    return ok(None)


def test_an_agent_action_and_a_plugin_action_that_render_alike_are_two_nodes() -> None:
    """The agent's ``stats__reset`` and plugin ``stats``'s ``reset`` are distinct nodes, and
    each route points at its own."""
    spec = AgentSpec(
        name="s",
        state=S,
        routes=[Route(pattern="agent.reset", target=agent_reset)],
        plugins=[Plugin(name="stats", routes=[Route(pattern="stats.reset", target=plugin_reset)])],
    )
    lines = to_mermaid(spec).splitlines()
    nodes = [line.split("[")[0].strip() for line in lines if line.strip().startswith("act_")]
    assert len(nodes) == len(set(nodes)) == 2
    edges = dict(line.strip().split(" --> ") for line in lines if "-->" in line)
    assert edges["sig_agent_reset"] != edges["sig_stats_reset"]
