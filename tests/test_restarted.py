"""``jido.agent.restarted``: a restarted agent is told, first, so that it may arm again what
the restart dropped; on every runtime that restarts agents, and on none that recovers one
from its journal."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from tests.test_supervision import Log, _saw, arm, late

from jido import (
    RESTARTED,
    ActionResult,
    AgentSpec,
    Context,
    Error,
    NoParams,
    ProblemKind,
    Route,
    action,
    ok,
    schedule,
)
from jido_interpreters import (
    AgentOptions,
    AsyncRuntime,
    DryRun,
    FaultPlan,
    Restart,
    Scenario,
    SignalDelivered,
    Simulation,
    SQLiteStorage,
    SyncRuntime,
    replay,
    simulation_to_jsonl,
)


@action()
def crash(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    """A bug, whose message holds a lone surrogate (half an emoji)."""
    raise ValueError("boom \ud83d")


@action()
def after(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    """A signal queued behind the crash."""
    return ok(_saw(state, "after"))


@action()
def restarted(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    """Told it restarted: re-arm the timer it armed, if it did."""
    assert ctx.signal is not None
    data: Any = ctx.signal.data
    new = _saw(state, f"restarted:{data['restarts']}")
    return ok(new, schedule(10, "job.late")) if "arm" in state.seen else ok(new)


ROUTES = [
    Route(pattern="job.arm", target=arm),
    Route(pattern="job.late", target=late),
    Route(pattern="job.crash", target=crash),
    Route(pattern="job.after", target=after),
]
WORKER = AgentSpec(
    name="worker", state=Log, routes=[*ROUTES, Route(pattern=RESTARTED, target=restarted)]
)
#: The same, deaf to the notice.
DEAF = AgentSpec(name="deaf", state=Log, routes=ROUTES)
OPTIONS = {"worker": AgentOptions(error_policy=Restart(max_restarts=5, within=60.0))}
REASON = "action 'crash' of agent 'w' raised handling 'job.crash': ValueError: boom \\ud83d"


def test_sync_runtime_tells_the_agent_first_and_it_re_arms() -> None:
    """The notice comes before what was queued behind the crash, says how many restarts
    the window holds and why (a lone surrogate escaped), and the re-armed timer fires."""
    rt = SyncRuntime([WORKER], options=OPTIONS)
    rt.start(WORKER, "w")
    rt.send("w", "job.arm")
    rt.cast("w", "job.crash")
    rt.cast("w", "job.after")
    rt.run_until_idle()
    rt.send("w", "job.crash")
    assert rt.state("w").seen == ("arm", "restarted:1", "after", "restarted:2")
    notices = [e.signal for e in rt.trace if e.signal.type == RESTARTED]
    assert [n.data for n in notices] == [
        {"restarts": 1, "reason": REASON},
        {"restarts": 2, "reason": REASON},
    ]
    assert notices[0].source == "jido://runtime"
    assert notices[0].id != notices[1].id
    rt.advance(10)
    assert rt.state("w").seen[-1] == "late"  # the timer it armed again
    # Deterministic: the same run gives the same ids.
    again = SyncRuntime([WORKER], options=OPTIONS)
    again.start(WORKER, "w")
    again.send("w", "job.arm")
    again.cast("w", "job.crash")
    again.cast("w", "job.after")
    again.run_until_idle()
    again.send("w", "job.crash")
    assert [e.signal for e in again.trace if e.signal.type == RESTARTED] == notices


def test_an_agent_deaf_to_the_notice_gets_one_routing_error_as_for_orphaned() -> None:
    """Unrouted, the notice is what any unrouted lifecycle signal is: one ``routing``
    ``Error`` directive, the state unchanged, no directive problem and no crash."""
    rt = SyncRuntime([DEAF], options={"deaf": OPTIONS["worker"]})
    rt.start(DEAF, "w")
    rt.send("w", "job.arm")
    rt.send("w", "job.crash")
    (entry,) = [e for e in rt.trace if e.signal.type == RESTARTED]
    (directive,) = entry.directives
    assert isinstance(directive, Error)
    assert directive.problem.kind == ProblemKind.ROUTING
    assert entry.before == entry.after
    assert rt.problems == ()
    assert [c.outcome for c in rt.crashes] == ["restarted"]
    rt.advance(10)
    assert rt.state("w").seen == ("arm",)  # its own timer is gone, and it did not re-arm


def test_dry_run_tells_the_restarted_agent() -> None:
    rt = DryRun([WORKER], options=OPTIONS)
    rt.start(WORKER, "w")
    rt.send("w", "job.arm")
    rt.send("w", "job.crash")
    assert rt.state("w").seen == ("arm", "restarted:1")
    rt.advance(10)
    assert rt.state("w").seen[-1] == "late"


def _scenario(**kw: Any) -> Scenario:
    def setup(sim: Simulation) -> None:
        sim.start(WORKER, "w")
        sim.send("w", "job.arm", at=1.0)
        sim.send("w", "job.crash", at=2.0)
        sim.send("w", "job.after", at=2.0)

    return Scenario(specs=[WORKER], setup=setup, **kw)


def test_a_simulation_records_the_notice_as_a_delivery_and_replays_it() -> None:
    scenario = _scenario(options=OPTIONS, latency=0)
    result = scenario.simulation(seed=1).run(until=30.0)
    assert result.agents["w"].state.seen == ("arm", "restarted:1", "after", "late")
    (told,) = [
        e for e in result.events if isinstance(e, SignalDelivered) and e.signal.type == RESTARTED
    ]
    assert told.sender == "@runtime"
    assert told.signal.data == {"restarts": 1, "reason": REASON}
    text = simulation_to_jsonl(result)
    assert json.loads(text.splitlines()[0])["version"] == 4
    assert replay(text, scenario) is None


def test_a_version_3_trace_replays_without_the_notice() -> None:
    """A trace written before the notice existed replays as it ran: its restarted agents
    are not told. Read as today's version, it differs where the notice comes."""
    scenario = _scenario(options=OPTIONS, latency=0)
    sim = scenario.simulation(seed=1)
    sim._engine.announce_restarts = False  # as the runtime was then
    result = sim.run(until=30.0)
    assert result.agents["w"].state.seen == ("arm", "after")
    lines = simulation_to_jsonl(result).splitlines()
    header = json.loads(lines[0])
    old = "\n".join([json.dumps({**header, "version": 3}, separators=(",", ":")), *lines[1:]])
    assert replay(old, scenario) is None
    found = replay("\n".join(lines), scenario)
    assert found is not None
    assert found.actual is not None
    assert RESTARTED in found.actual


def test_an_injected_crash_with_restart_recovery_tells_the_agent() -> None:
    """``recovery="restart"``: the agent is told (reason ``injected crash``) and re-arms;
    a notice is no occasion for another injected crash."""

    def setup(sim: Simulation) -> None:
        sim.start(WORKER, "w")
        sim.send("w", "job.arm", at=1.0)

    scenario = Scenario(specs=[WORKER], setup=setup, latency=0)
    plan = FaultPlan(crash=1.0, recovery="restart")
    result = scenario.simulation(seed=1, faults=plan).run(events=5)
    delivered = [e for e in result.events if isinstance(e, SignalDelivered)]
    assert [e.signal.type for e in delivered[:2]] == ["job.arm", RESTARTED]
    assert delivered[1].signal.data == {"restarts": 1, "reason": "injected crash"}
    assert delivered[1].after.state.seen == ("arm", "restarted:1")
    assert delivered[1].at == delivered[0].at  # at once, before anything else
    assert replay(simulation_to_jsonl(result), scenario) is None


def test_durable_recovery_in_a_simulation_sends_no_notice() -> None:
    """``recovery="durable"`` keeps what the agent armed: nothing was lost, nobody is told."""

    def setup(sim: Simulation) -> None:
        sim.start(WORKER, "w")
        sim.send("w", "job.arm", at=1.0)

    scenario = Scenario(specs=[WORKER], setup=setup, latency=0)
    result = scenario.simulation(seed=1, faults=FaultPlan(crash=1.0)).run(until=30.0)
    assert result.counts["crashed"] > 0
    assert not any(
        isinstance(e, SignalDelivered) and e.signal.type == RESTARTED for e in result.events
    )
    assert result.agents["w"].state.seen == ("arm", "late")


def test_async_runtime_tells_the_agent_first() -> None:
    async def main() -> None:
        async with AsyncRuntime([WORKER], options=OPTIONS, record=True) as rt:
            await rt.start(WORKER, "w")
            await rt.call("w", "job.arm")
            await rt.cast("w", "job.crash")
            await rt.cast("w", "job.after")  # queued behind the crash
            await rt.wait_idle(timeout=5)
            assert rt.agent("w").state.seen == ("arm", "restarted:1", "after")
            (entry,) = [e for e in rt.trace if e.signal.type == RESTARTED]
            assert entry.signal.data == {"restarts": 1, "reason": REASON}
            assert rt.statistics().restarts == 1

    asyncio.run(main())


@pytest.mark.parametrize(
    ("snapshot_every", "snapshots_lost"), [(1, False), (1000, False), (1000, True)]
)
def test_a_durable_async_runtime_journals_the_notice_and_recovery_sends_none(
    tmp_path: Path, snapshot_every: int, snapshots_lost: bool
) -> None:
    """Durable, the notice is journalled before it is handled, and still handled before
    what was journalled behind the crash; a restore replays it there (from the journal, or
    from the snapshot taken right after it) and sends no notice of its own: it keeps the
    timers the agent armed again. ``snapshots_lost``: as if the process died before the
    snapshot after the notice was written (replay meets the crash, then the notice)."""
    db = tmp_path / "a.db"

    async def live() -> Any:
        async with AsyncRuntime(
            [WORKER], options=OPTIONS, storage=SQLiteStorage(db), snapshot_every=snapshot_every
        ) as rt:
            await rt.start(WORKER, "w")
            await rt.call("w", "job.arm")
            rt.cast_nowait("w", "job.crash")
            rt.cast_nowait("w", "job.after")  # journalled before the notice
            await rt.wait_idle(timeout=5)
            return rt.agent("w")

    async def recovered() -> Any:
        async with AsyncRuntime(
            [WORKER], options=OPTIONS, storage=SQLiteStorage(db), snapshot_every=snapshot_every
        ) as rt:
            await rt.restore()
            agent = rt.agent("w")
            await rt.wait_idle(timeout=5)
            assert rt.agent("w") == agent  # told nothing on recovery
            assert rt.statistics().restarts == 0
            return agent

    before = asyncio.run(live())
    assert before.state.seen == ("arm", "restarted:1", "after")
    if snapshots_lost:
        with sqlite3.connect(db) as raw:
            raw.execute("DELETE FROM snapshots")
    assert asyncio.run(recovered()) == before
    with sqlite3.connect(db) as raw:
        rows = raw.execute("SELECT signal FROM journal WHERE agent_id = 'w' ORDER BY seq")
        types = [json.loads(r[0])["type"] for r in rows]
    assert types[-3:] == ["job.crash", "job.after", RESTARTED]  # its place in the journal


def test_the_docs_list_the_notice_with_its_data() -> None:
    """The lifecycle table of docs/concepts.md lists every lifecycle signal, the notice
    among them with its data; runtime.md's Restart row mentions it."""
    docs = Path(__file__).parent.parent / "docs"
    rows = [
        line
        for line in (docs / "concepts.md").read_text(encoding="utf-8").splitlines()
        if line.startswith(f"| `{RESTARTED}` |")
    ]
    assert len(rows) == 1
    assert "`restarts`" in rows[0]
    assert "`reason`" in rows[0]
    restart_row = [
        line
        for line in (docs / "runtime.md").read_text(encoding="utf-8").splitlines()
        if line.startswith("| `Restart(")
    ]
    assert len(restart_row) == 1
    assert RESTARTED in restart_row[0]
