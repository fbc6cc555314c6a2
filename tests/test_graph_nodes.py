"""Mermaid nodes: one per action, however its name and its plugin's name render; and the
declared schedules."""

from __future__ import annotations

import attrs

from jido import (
    FSM,
    ActionResult,
    AgentSpec,
    Context,
    NoParams,
    Plugin,
    Route,
    Transition,
    action,
    cron,
    ok,
    schedule,
    to_mermaid,
)


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


@action()
def tick(state: S, _: NoParams, ctx: Context) -> ActionResult[S]:
    return ok(None)


def test_declared_schedules_are_clocks_pointing_at_the_routes_their_signal_takes() -> None:
    """Each schedule the spec or a plugin declares is a clock node, labelled with when it
    fires (and whose it is), with a dotted edge to every route its signal's type matches,
    or to a "no route" node for a type nothing handles."""
    spec = AgentSpec(
        name="s",
        state=S,
        routes=[
            Route(pattern="job.*", target=tick),
            Route(pattern="job.**", target=tick),
            Route(pattern="other", target=tick),
        ],
        schedules=[schedule(2.5, "job.tick"), cron("0 3 * * *", "x.y", job_id="nightly")],
        plugins=[
            Plugin(
                name="stats",
                schedules=[cron("*/5 * * * *", "stats.flush", job_id="f", timezone="Asia/Tokyo")],
            )
        ],
    )
    lines = [line.strip() for line in to_mermaid(spec).splitlines()]
    assert 'clk_1{{"after 2.5 s"}}' in lines
    assert 'clk_2{{"cron 0 3 * * *, job nightly"}}' in lines
    assert 'clk_3{{"cron */5 * * * * Asia/Tokyo, job f (stats)"}}' in lines
    dotted = [line for line in lines if " -.->" in line]
    assert dotted == [
        'clk_1 -.->|"job.tick"| sig_job__',
        'clk_1 -.->|"job.tick"| sig_job___',
        'clk_2 -.->|"x.y"| sig_x_y',
        'clk_3 -.->|"stats.flush"| sig_stats_flush',
    ]
    assert 'sig_x_y(["x.y (no route)"])' in lines
    assert 'sig_job__(["job.*"])' in lines


def test_a_spec_with_schedules_but_no_routes_still_draws_them() -> None:
    spec = AgentSpec(name="s", state=S, schedules=[schedule(1, "a.b")])
    lines = [line.strip() for line in to_mermaid(spec).splitlines()]
    assert lines == [
        "flowchart LR",
        'clk_1{{"after 1 s"}}',
        'sig_a_b(["a.b (no route)"])',
        'clk_1 -.->|"a.b"| sig_a_b',
    ]


def test_a_state_diagram_notes_the_schedules_on_the_initial_status() -> None:
    """An FSM spec's schedules are registered on start: a note on the initial status lists
    them, each with the type it sends; a line break in a job id does not end the note."""
    fsm = FSM("idle", [Transition(source="idle", on="job.tick", target="busy")])
    spec = AgentSpec(
        name="f",
        state=S,
        strategy=fsm,
        schedules=[schedule(1, "job.tick"), cron("@daily", "job.tick", job_id="a\nend note")],
    )
    lines = [line.strip() for line in to_mermaid(spec).splitlines()]
    start = lines.index("note right of st_idle")
    assert lines[start:] == [
        "note right of st_idle",
        "on start:",
        "after 1 s: job.tick",
        "cron @daily, job a end note: job.tick",
        "end note",
    ]


def test_a_state_diagram_notes_the_routes_beside_the_table() -> None:
    """An FSM spec's routes (its own and its plugins') are a note on the initial status:
    first those no row controls, which run in any status and leave it as it is, then those
    whose pattern a row's can match (they run after that row's action), each with its
    action, its owner and a priority other than 0."""
    fsm = FSM(
        "idle",
        [
            Transition(source="idle", on="job.started", target="busy", action=tick),
            Transition(source="busy", on="job.*.done", target="idle"),
        ],
    )
    spec = AgentSpec(
        name="f",
        state=S,
        strategy=fsm,
        routes=[
            Route(pattern="jido.agent.child.started", target=tick),
            Route(pattern="job.**", target=agent_reset, priority=5),  # job.started too
            Route(pattern="job.x", target=tick),  # no row's: job.*.done has three segments
            Route(pattern="*.a.done", target=tick),  # job.a.done is a row's
        ],
        plugins=[Plugin(name="stats", routes=[Route(pattern="stats.reset", target=plugin_reset)])],
        schedules=[schedule(1, "job.started")],
    )
    lines = [line.strip() for line in to_mermaid(spec).splitlines()]
    start = lines.index("note left of st_idle")
    assert lines[start : lines.index("end note") + 1] == [
        "note left of st_idle",
        "routes, in any status (status unchanged):",
        "jido.agent.child.started / tick",
        "job.x / tick",
        "stats.reset / reset (stats)",
        "routes run after a row's action:",
        "job.** / stats__reset, priority 5",
        "*.a.done / tick",
        "end note",
    ]
    assert "note right of st_idle" in lines  # the schedules' note stays


def test_a_state_diagram_without_routes_has_no_routes_note() -> None:
    fsm = FSM("idle", [Transition(source="idle", on="go", target="busy")])
    lines = to_mermaid(AgentSpec(name="f", state=S, strategy=fsm)).splitlines()
    assert not [line for line in lines if "note" in line]


def test_a_state_diagram_ends_in_the_statuses_no_row_leaves() -> None:
    """A status no row leaves is an end state (``--> [*]``), in the table's order; one a
    ``"*"`` row or a row back to itself leaves is not."""
    spec = AgentSpec(
        name="f",
        state=S,
        strategy=FSM(
            "new",
            [
                Transition(source="new", on="go", target="busy"),
                Transition(source="busy", on="fail", target="failed"),
                Transition(source="busy", on="done", target="done"),
                Transition(source="busy", on="again", target="busy"),
                Transition(source="failed", on="retry", target="failed"),
            ],
        ),
    )
    edges = [line.strip() for line in to_mermaid(spec).splitlines() if "[*]" in line]
    assert edges == ["[*] --> st_new", "st_done --> [*]"]
    starred = AgentSpec(
        name="g",
        state=S,
        strategy=FSM(
            "new",
            [
                Transition(source="new", on="go", target="done"),
                Transition(source="*", on="reset", target="new"),
            ],
        ),
    )
    edges = [line.strip() for line in to_mermaid(starred).splitlines() if "[*]" in line]
    assert edges == ["[*] --> st_new"]
