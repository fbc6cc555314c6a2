"""Example tests of the FSM strategy and of Mermaid rendering."""

from __future__ import annotations

from datetime import UTC, datetime

import attrs
import pytest

from jido import (
    FSM,
    ActionResult,
    AgentSpec,
    Context,
    Direct,
    Error,
    NoParams,
    Plugin,
    ProblemKind,
    Route,
    Signal,
    SpecError,
    Transition,
    action,
    fail,
    ok,
    step,
    to_mermaid,
)
from jido._router import _UNDECIDED, _uncovered, validate_pattern

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@attrs.frozen
class Order:
    """The order agent's state: a log of which actions ran, in order."""

    log: tuple[str, ...] = ()


def sig(type: str, data: object = None) -> Signal:
    """A signal from the test."""
    return Signal(type=type, source="/test", id=f"id-{type}", time=T0, data=data)


@action()
def place(state: Order, params: NoParams, ctx: Context) -> ActionResult[Order]:
    """The transition action of ``order.place``."""
    return ok(attrs.evolve(state, log=(*state.log, f"place@{ctx.status}")))


@action()
def ship(state: Order, params: NoParams, ctx: Context) -> ActionResult[Order]:
    """The transition action of ``order.ship``."""
    return ok(attrs.evolve(state, log=(*state.log, "ship")))


@action()
def explode_softly(state: Order, params: NoParams, ctx: Context) -> ActionResult[Order]:
    """A transition action that fails."""
    return fail("cannot do that")


@action()
def routed_note(state: Order, params: NoParams, ctx: Context) -> ActionResult[Order]:
    """A routed action on a controlled type."""
    return ok(attrs.evolve(state, log=(*state.log, "routed")))


@action()
def routed_fail(state: Order, params: NoParams, ctx: Context) -> ActionResult[Order]:
    """A routed action that fails."""
    return fail("routed failure")


@action()
def note(state: Order, params: NoParams, ctx: Context) -> ActionResult[Order]:
    """An action on an uncontrolled type."""
    return ok(attrs.evolve(state, log=(*state.log, f"note@{ctx.status}")))


FSM_TABLE = FSM(
    "draft",
    [
        Transition(source="draft", on="order.place", target="placed", action=place),
        Transition(source="placed", on="order.ship", target="shipped", action=ship),
        Transition(source="placed", on="order.break", target="broken", action=explode_softly),
        Transition(source="placed", on="order.audit", target="audited"),
        Transition(source="*", on="order.cancel", target="cancelled"),
        Transition(source="shipped", on="order.cancel", target="refunding"),
        Transition(source="shipped", on="return.*", target="returned", priority=1),
        Transition(source="shipped", on="return.damaged.**", target="inspecting"),
    ],
)

SPEC = AgentSpec(
    name="order",
    state=Order,
    strategy=FSM_TABLE,
    routes=[
        Route(pattern="order.place", target=routed_note),
        Route(pattern="order.audit", target=routed_fail),
        Route(pattern="note.added", target=note),
    ],
)


def test_new_agent_starts_in_the_initial_status() -> None:
    """A new agent's status is the FSM's initial status."""
    assert SPEC.new("o1").status == "draft"
    assert FSM_TABLE.initial_status == "draft"


def test_legal_transition_runs_transition_action_then_routed_actions() -> None:
    """A legal signal moves the status; the transition action runs first, in the old status."""
    agent = SPEC.new("o1")
    result = step(SPEC, agent, sig("order.place"))
    assert result.directives == ()
    assert result.agent.status == "placed"
    assert result.agent.state.log == ("place@draft", "routed")
    assert result.agent.version == 1


def test_second_transition() -> None:
    """A legal signal in the new status moves it again."""
    placed = step(SPEC, SPEC.new("o1"), sig("order.place")).agent
    shipped = step(SPEC, placed, sig("order.ship")).agent
    assert shipped.status == "shipped"
    assert shipped.state.log == ("place@draft", "routed", "ship")
    assert shipped.version == 2


def test_illegal_transition_is_refused_and_changes_nothing() -> None:
    """A controlled type with no row in the status is a TRANSITION Error naming both."""
    agent = SPEC.new("o1", Order(log=("x",)))
    result = step(SPEC, agent, sig("order.ship"))
    assert result.agent == agent
    assert result.agent.status == "draft"
    assert result.agent.state == Order(log=("x",))
    assert result.agent.version == 0
    (d,) = result.directives
    assert isinstance(d, Error)
    assert d.problem.kind is ProblemKind.TRANSITION
    assert d.problem.details["status"] == "draft"
    assert d.problem.details["signal_type"] == "order.ship"
    assert "draft" in d.problem.message
    assert "order.ship" in d.problem.message


def test_repeating_a_transition_is_illegal() -> None:
    """``order.place`` in ``placed`` has no row: refused, with the status named."""
    placed = step(SPEC, SPEC.new("o1"), sig("order.place")).agent
    result = step(SPEC, placed, sig("order.place"))
    assert result.agent == placed
    assert [p.details["status"] for p in result.problems] == ["placed"]


def test_failing_transition_action_leaves_the_status() -> None:
    """If the transition action fails, the status stays and its Error is returned."""
    placed = SPEC.new("o1")
    placed = step(SPEC, placed, sig("order.place")).agent
    result = step(SPEC, placed, sig("order.break"))
    assert result.agent.status == "placed"
    assert result.agent == placed
    assert [p.kind for p in result.problems] == [ProblemKind.ACTION]


def test_failing_routed_action_also_blocks_the_transition() -> None:
    """The transition happens only if every action of the step succeeds."""
    placed = step(SPEC, SPEC.new("o1"), sig("order.place")).agent
    result = step(SPEC, placed, sig("order.audit"))
    assert result.agent.status == "placed"
    assert [p.message for p in result.problems] == ["routed failure"]


def test_transition_without_action_moves_the_status() -> None:
    """A row with no action (and no routed action) still moves the status."""
    placed = step(SPEC, SPEC.new("o1"), sig("order.place")).agent
    result = step(SPEC, placed, sig("order.cancel"))
    assert result.directives == ()
    assert result.agent.status == "cancelled"
    assert result.agent.state == placed.state
    assert result.agent.version == placed.version + 1


def test_star_source_rows_apply_in_every_status() -> None:
    """A ``source="*"`` row applies in statuses that have no row of their own."""
    for status in ("draft", "placed", "cancelled", "somewhere-else"):
        agent = attrs.evolve(SPEC.new("o1"), status=status)
        assert step(SPEC, agent, sig("order.cancel")).agent.status == "cancelled"


def test_status_specific_row_beats_star_row() -> None:
    """A row for the exact status wins over a ``*`` row for the same type."""
    shipped = attrs.evolve(SPEC.new("o1"), status="shipped")
    assert step(SPEC, shipped, sig("order.cancel")).agent.status == "refunding"


def test_row_priority_breaks_ties() -> None:
    """Among matching rows in one status, the higher priority wins even if less specific."""
    shipped = attrs.evolve(SPEC.new("o1"), status="shipped")
    assert step(SPEC, shipped, sig("return.damaged")).agent.status == "returned"
    assert step(SPEC, shipped, sig("return.lost")).agent.status == "returned"
    # the less specific row takes only what the other cannot: (FSM refuses a row that
    # matches nothing another row of higher priority does not)
    assert step(SPEC, shipped, sig("return.damaged.box")).agent.status == "inspecting"
    # in another status the same types are controlled, hence refused
    draft = SPEC.new("o1")
    assert [p.kind for p in step(SPEC, draft, sig("return.damaged")).problems] == [
        ProblemKind.TRANSITION
    ]


def test_uncontrolled_types_fall_back_to_direct_routing() -> None:
    """Types no row matches are routed like Direct, in any status, without moving it."""
    for status in ("draft", "shipped"):
        agent = attrs.evolve(SPEC.new("o1"), status=status)
        result = step(SPEC, agent, sig("note.added"))
        assert result.agent.status == status
        assert result.agent.state.log == (f"note@{status}",)


def test_uncontrolled_unrouted_types_are_routing_errors() -> None:
    """An uncontrolled type with no route is a ROUTING Error, as under Direct."""
    agent = SPEC.new("o1")
    result = step(SPEC, agent, sig("nobody.cares"))
    assert result.agent == agent
    assert [p.kind for p in result.problems] == [ProblemKind.ROUTING]


def test_statuses_lists_each_status_once_initial_first() -> None:
    """``FSM.statuses`` lists the initial status first, then each status named, once."""
    assert FSM_TABLE.statuses == (
        "draft",
        "placed",
        "shipped",
        "broken",
        "audited",
        "cancelled",
        "refunding",
        "returned",
        "inspecting",
    )


def test_fsm_actions_are_callable_through_the_spec() -> None:
    """Transition actions are registered in the spec's action table."""
    assert SPEC.action_table["place"].action is place
    assert SPEC.action_table["ship"].action is ship


def test_mermaid_state_diagram_has_every_row() -> None:
    """``to_mermaid`` draws a stateDiagram-v2: every status declared with an id of its own,
    one edge per row, a ``*`` row from each status without a row of its own for its ``on``."""
    text = to_mermaid(SPEC)
    lines = text.splitlines()
    assert lines[0] == "stateDiagram-v2"
    for status in FSM_TABLE.statuses:
        assert f'    state "{status}" as st_{status}' in lines
    assert "    [*] --> st_draft" in lines
    expected = [
        "draft --> placed: order.place / place",
        "placed --> shipped: order.ship / ship",
        "placed --> broken: order.break / explode_softly",
        "placed --> audited: order.audit",
        "shipped --> refunding: order.cancel",
        "shipped --> returned: return.*",
        "shipped --> inspecting: return.damaged.**",
    ]
    for edge in expected:
        source, rest = edge.split(" --> ")
        assert f"    st_{source} --> st_{rest}" in lines
    # the "*" row is drawn from every status but "shipped", whose own order.cancel row wins
    starred = [s for s in FSM_TABLE.statuses if s != "shipped"]
    for status in starred:
        assert f"    st_{status} --> st_cancelled: order.cancel" in lines
    assert "    st_shipped --> st_cancelled: order.cancel" not in lines
    edge_count = sum(1 for line in lines if " --> " in line and "[*]" not in line)
    assert edge_count == len(expected) + len(starred)


def test_mermaid_state_diagram_leaves_out_rows_decide_never_takes() -> None:
    """A ``*`` row is not drawn from a status whose own rows match every type it does (they
    always win there); a row decide could never take is refused with the table."""
    fsm = FSM(
        "idle",
        [
            Transition(source="idle", on="job.started", target="busy"),
            Transition(source="busy", on="job.cancel", target="idle"),
            Transition(source="*", on="job.cancel", target="cancelled"),
            Transition(source="busy", on="job.done", target="done", priority=5),
            Transition(source="*", on="job.reset", target="idle"),
            Transition(source="done", on="job.**", target="idle"),
            Transition(source="*", on="job.reset.*", target="cancelled"),
        ],
    )
    spec = AgentSpec(name="job", state=Order, strategy=fsm)
    edges = [line.strip() for line in to_mermaid(spec).splitlines() if " --> " in line]
    assert edges == [
        "[*] --> st_idle",
        "st_idle --> st_busy: job.started",
        "st_busy --> st_idle: job.cancel",
        "st_idle --> st_cancelled: job.cancel",
        "st_cancelled --> st_cancelled: job.cancel",
        # not from done: its job.** takes every job.* type
        "st_busy --> st_done: job.done",
        "st_idle --> st_idle: job.reset",
        "st_busy --> st_idle: job.reset",
        "st_cancelled --> st_idle: job.reset",
        "st_done --> st_idle: job.**",
        "st_idle --> st_cancelled: job.reset.*",
        "st_busy --> st_cancelled: job.reset.*",
        "st_cancelled --> st_cancelled: job.reset.*",
    ]
    # what the diagram says is what step does
    busy = step(spec, spec.new("j"), sig("job.started")).agent
    assert step(spec, busy, sig("job.cancel")).agent.status == "idle"
    assert step(spec, busy, sig("job.done")).agent.status == "done"
    assert step(spec, busy, sig("job.reset")).agent.status == "idle"
    done = step(spec, busy, sig("job.done")).agent
    for kind in ("job.cancel", "job.reset", "job.reset.hard"):
        assert step(spec, done, sig(kind)).agent.status == "idle"


@pytest.mark.parametrize(
    ("rows", "initial", "says"),
    [
        (
            [("idle", "go", "a", 0), ("idle", "go", "b", 0)],
            "idle",
            ["row 1 (from 'idle' on 'go') never applies: row 0 has the same source"],
        ),
        (
            [("*", "reset", "idle", 0), ("idle", "go", "a", 0), ("*", "reset", "a", 0)],
            "idle",
            ["row 2 (from '*' on 'reset') never applies: row 0"],
        ),
        (
            [("a", "go", "b", 0), ("b", "go", "a", 0)],
            "nowhere",
            ["no row leaves the initial status 'nowhere'"],
        ),
        (
            [("pay", "order.payment.captured", "paid", 0), ("pay", "order.payment.*", "rev", 5)],
            "pay",
            [
                "row 0 (from 'pay' on 'order.payment.captured') never applies: row 1 (on"
                " 'order.payment.*') matches every type it does and wins with a higher"
                " priority (5)"
            ],
        ),
        (
            [("a", "go.next", "b", 0), ("b", "go.cancel", "z", -50), ("b", "go.**", "w", 50)],
            "a",
            ["row 1 (from 'b' on 'go.cancel') never applies: row 2 (on 'go.**')"],
        ),
        (
            [("a", "**", "b", 0), ("a", "*.**", "c", 0)],
            "a",
            [
                "row 0 (from 'a' on '**') never applies: row 1 (on '*.**') matches every type it"
                " does and wins with the same priority and a more specific on"
            ],
        ),
        (
            [("a", "*.**", "b", 0), ("a", "**.*", "c", 0)],
            "a",
            [
                "row 1 (from 'a' on '**.*') never applies: row 0 (on '*.**') matches every type"
                " it does and wins with the same priority and specificity, and comes first"
            ],
        ),
        (
            [("a", "x", "b", 1), ("a", "x.*.**", "b", 1), ("a", "x.**", "e", 0)],
            "a",
            [
                "row 2 (from 'a' on 'x.**') never applies: rows 0 (on 'x'), 1 (on 'x.*.**')"
                " between them match every type it does, and each wins over it"
            ],
        ),
        (
            [("*", "go", "a", 0), ("*", "go", "b", 3)],
            "a",
            [
                "row 0 (from '*' on 'go') never applies: row 1 (on 'go') matches every type"
                " it does and wins with a higher priority (3)"
            ],
        ),
    ],
    ids=[
        "same-row-twice",
        "same-wildcard-row-twice",
        "stuck-initial",
        "hidden-by-priority",
        "hidden-by-a-wider-wildcard-row",
        "hidden-by-specificity",
        "hidden-by-table-order",
        "hidden-by-two-rows",
        "same-on-lower-priority",
    ],
)
def test_a_table_with_rows_that_never_apply_is_refused_naming_each(
    rows: list[tuple[str, str, str, int]], initial: str, says: list[str]
) -> None:
    """Rows ``decide`` could never take (a copy left behind), or an initial status nothing
    leaves, are mistakes in the table, refused when the FSM is built rather than found when
    a signal is refused in production."""
    table = [Transition(source=s, on=o, target=t, priority=p) for s, o, t, p in rows]
    with pytest.raises(ValueError, match=r"^FSM table: ") as info:
        FSM(initial, table)
    for part in says:
        assert part in str(info.value)


def test_a_table_whose_rows_all_apply_is_accepted() -> None:
    """What the check must not refuse: overlapping rows told apart by priority or
    specificity that each take some type, a wildcard row beside a status's own (even one
    they hide in that status: an agent may be in a status with no row), a row from the
    initial status only, no rows at all, and a row from a status nothing leads to any more
    (the way out for agents an older table left there)."""
    FSM(
        "idle",
        [
            Transition(source="idle", on="go.**", target="busy"),
            Transition(source="idle", on="go.*", target="fast", priority=5),
            Transition(source="idle", on="go.now", target="fast", priority=7),
            Transition(source="idle", on="go.*.*", target="busy", priority=9),
            Transition(source="*", on="go.**", target="idle"),
            Transition(source="*", on="go.now", target="idle", priority=3),
            Transition(source="busy", on="done", target="idle"),
        ],
    )
    FSM("idle", [Transition(source="*", on="reset", target="idle")])
    FSM("idle", [])
    FSM(
        "idle",
        [
            Transition(source="idle", on="go", target="busy"),
            Transition(source="legacy", on="migrate", target="idle"),
        ],
    )


def test_mermaid_statuses_that_are_mermaid_keywords_get_ids_of_their_own() -> None:
    """A status that is a Mermaid keyword (or holds characters ids cannot) is declared with a
    ``st_`` id and used only by it: bare, Mermaid would not parse the diagram."""
    keywords = ["note", "class", "classDef", "default", "style", "click"]
    rows = [Transition(source=k, on=f"go.{i}", target=k) for i, k in enumerate(keywords)]
    rows.append(Transition(source="*", on="go.odd", target="not-started"))
    spec = AgentSpec(name="kw", state=Order, strategy=FSM("note", rows))
    lines = to_mermaid(spec).splitlines()
    for k in keywords:
        assert f'    state "{k}" as st_{k}' in lines
    assert '    state "not-started" as st_not_started' in lines
    assert "    [*] --> st_note" in lines
    for i, k in enumerate(keywords):
        assert f"    st_{k} --> st_{k}: go.{i}" in lines
    for line in lines[1:]:
        words = line.replace(":", " ").split()
        if words[0] != "state":
            # every node an edge names is one of the declared ids
            assert all(w.startswith("st_") for w in (words[0], words[2]) if w != "[*]"), line


def test_mermaid_aliases_statuses_that_are_not_identifiers() -> None:
    """Statuses with characters Mermaid ids cannot hold are declared with a label."""
    spec = AgentSpec(
        name="odd",
        state=Order,
        strategy=FSM(
            "not-started", [Transition(source="not-started", on="go", target="in.flight")]
        ),
    )
    lines = to_mermaid(spec).splitlines()
    assert '    state "not-started" as st_not_started' in lines
    assert '    state "in.flight" as st_in_flight' in lines
    assert "    st_not_started --> st_in_flight: go" in lines


def test_mermaid_flowchart_for_a_direct_spec() -> None:
    """A Direct spec renders as a flowchart of its routes, priorities on the edges."""
    spec = AgentSpec(
        name="direct",
        state=Order,
        strategy=Direct(),
        routes=[
            Route(pattern="note.added", target=note),
            Route(pattern="note.*", target=routed_note, priority=5),
        ],
    )
    lines = to_mermaid(spec).splitlines()
    assert lines[0] == "flowchart LR"
    assert '    sig_note_added(["note.added"])' in lines
    assert '    act_note["note"]' in lines
    assert "    sig_note_added --> act_note" in lines
    assert '    sig_note__(["note.*"])' in lines
    assert "    sig_note__ -->|priority 5| act_routed_note" in lines


def test_rows_that_each_take_a_type_are_kept_and_drawn() -> None:
    """Rows of one source that overlap are kept when each takes some type: a row is refused
    only when rows winning over it match every type it does (a wider wildcard row of higher
    priority, say), not for overlapping at all."""
    fsm = FSM(
        "a",
        [
            Transition(source="a", on="x.*", target="b", priority=2),
            Transition(source="a", on="x.**", target="c"),
            Transition(source="a", on="*.y", target="d", priority=1),
        ],
    )
    spec = AgentSpec(name="kept", state=Order, strategy=fsm)
    agent = spec.new("k")
    assert step(spec, agent, sig("x.y")).agent.status == "b"
    assert step(spec, agent, sig("x.y.z")).agent.status == "c"
    assert step(spec, agent, sig("z.y")).agent.status == "d"
    edges = [line.strip() for line in to_mermaid(spec).splitlines() if " --> st_" in line]
    assert edges[1:] == ["st_a --> st_b: x.*", "st_a --> st_c: x.**", "st_a --> st_d: *.y"]


def test_equal_priority_rows_go_by_specificity_then_table_order() -> None:
    """As docs/concepts.md states: at equal priority the more specific ``on`` wins wherever
    it is in the table, at equal specificity the earlier row; a status's own row wins over a
    ``*`` row whatever their priorities."""
    fsm = FSM(
        "s",
        [
            Transition(source="s", on="a.**", target="any"),
            Transition(source="s", on="a.*", target="wild"),
            Transition(source="s", on="a.b", target="exact"),
            Transition(source="s", on="*.c", target="first"),
            Transition(source="s", on="a.*.**", target="more"),
            Transition(source="*", on="a.b", target="star", priority=100),
        ],
    )
    spec = AgentSpec(name="tie", state=Order, strategy=fsm)
    agent = spec.new("x")
    assert step(spec, agent, sig("a.b")).agent.status == "exact"
    assert step(spec, agent, sig("a.z")).agent.status == "wild"
    assert step(spec, agent, sig("a.c")).agent.status == "wild"  # a.* came first
    assert step(spec, agent, sig("z.c")).agent.status == "first"
    assert step(spec, agent, sig("a.z.y")).agent.status == "more"
    assert step(spec, agent, sig("a")).agent.status == "any"
    elsewhere = attrs.evolve(agent, status="elsewhere")
    assert step(spec, elsewhere, sig("a.b")).agent.status == "star"


def test_a_failed_row_action_keeps_the_status_and_the_routed_actions_work() -> None:
    """As docs/concepts.md states: the row's action failing does not stop the routed actions
    for the signal, which commit (version moved), while the status stays."""
    spec = AgentSpec(
        name="partial",
        state=Order,
        routes=[Route(pattern="order.pay", target=routed_note)],
        strategy=FSM(
            "awaiting",
            [Transition(source="awaiting", on="order.pay", target="paid", action=explode_softly)],
        ),
    )
    result = step(spec, spec.new("p"), sig("order.pay"))
    assert result.agent.status == "awaiting"
    assert result.agent.state.log == ("routed",)
    assert result.agent.version == 1
    assert [p.message for p in result.problems] == ["cannot do that"]


def test_a_row_action_of_a_plugin_is_a_spec_error() -> None:
    """As docs/concepts.md states: a row's action works on the agent's state, so a mounted
    plugin's action in a row is a SpecError."""
    plugin = Plugin(name="p", state=Order, routes=[Route(pattern="p.note", target=routed_note)])
    fsm = FSM("a", [Transition(source="a", on="go", target="b", action=routed_note)])
    with pytest.raises(
        SpecError, match="'routed_note' works on the agent's state and on the slice"
    ):
        AgentSpec(name="plug", state=Order, strategy=fsm, plugins=[plugin])


# Rows on "**.aI.**" for I in 0..13: checked together, their coverage of a type walks
# 2 ** 14 states.
MANY_TWO_STAR = [
    Transition(source="s", on=f"**.a{i}.**", target="s", priority=20) for i in range(14)
]


def test_a_row_one_row_hides_is_refused_without_walking_the_others_together() -> None:
    """The row on "**" at priority 0 is hidden by the one at priority 10 alone; the others
    ("**.aI.**") need not be checked together (which walked 2 ** 14 states first)."""
    rows = [
        Transition(source="s", on="**", target="s", priority=10),
        *MANY_TWO_STAR,
        Transition(source="s", on="**", target="t", priority=0),
    ]
    with pytest.raises(ValueError, match=r"row 15 \(from 's' on '\*\*'\) never applies: row 0"):
        FSM(initial="s", transitions=rows)


def test_coverage_past_the_search_limit_is_undecided_not_covered() -> None:
    """Past the limit the search answers that it does not know (callers keep the row, draw
    the edge): not None, which would refuse a row or drop an edge on a guess. Here no cover
    takes "**" alone, and the shortest type none takes ("x.x.x.x.x.x.x") lies past the
    limit."""
    covers = [validate_pattern(t.on) for t in MANY_TWO_STAR]
    covers += [("*",) * n for n in range(1, 7)]
    assert _uncovered(("**",), covers) == _UNDECIDED


def test_a_star_row_is_not_drawn_from_a_status_whose_own_row_takes_every_type() -> None:
    """The status's own "**" row takes every type, so the "*" row never applies there; the
    graph knows it without walking the other rows together."""
    rows = [
        Transition(source="s", on="**", target="s"),
        *MANY_TWO_STAR,
        Transition(source="*", on="**", target="end"),
    ]
    spec = AgentSpec(name="g", state=Order, strategy=FSM(initial="s", transitions=rows))
    assert "st_s --> st_end" not in to_mermaid(spec)
