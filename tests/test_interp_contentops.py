"""The ContentOps example, end to end on SyncRuntime and DryRun."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from jido import CHILD_STARTED, Error, Invoke, ProblemKind, SpawnAgent, thaw
from jido_examples import contentops
from jido_interpreters import DEFAULT_EPOCH, CannedError, Change, DryRun, SyncRuntime

TOPICS = ["release notes", "migration guide", "flaky benchmark story"]


def run_system() -> SyncRuntime:
    rt = SyncRuntime(contentops.SPECS, effects=contentops.EFFECTS, sinks=["audit"])
    rt.start(contentops.ORCHESTRATOR, "orchestrator")
    rt.cast("orchestrator", "contentops.run.requested", {"topics": TOPICS})
    rt.cast("orchestrator", "contentops.run.requested", {"topics": ["too soon"]})
    rt.run_until_idle()
    return rt


def test_a_run_collects_drafts_fails_the_flaky_topic_and_publishes() -> None:
    """Drafts of the good topics are collected, the flaky one failed, the report published."""
    rt = run_system()
    agent = rt.agent("orchestrator")
    state = agent.state
    assert agent.status == "idle"
    # The fake model writes 120 words per word of the topic; "flaky" topics time out.
    assert dict(state.drafts) == {"release notes": 240, "migration guide": 240}
    assert list(state.failed) == ["flaky benchmark story"]
    assert "did not answer" in state.failed["flaky benchmark story"]
    assert state.report == "report-1: 480 words"
    assert rt.problems == ()


def test_every_writer_is_spawned_as_a_child_and_stops_when_done() -> None:
    """One writer child per topic, '<parent>/<tag>', each stopped once it reported."""
    rt = run_system()
    spawns = [d for e in rt.trace for d in e.directives if isinstance(d, SpawnAgent)]
    assert [d.tag for d in spawns] == ["writer-1-0", "writer-1-1", "writer-1-2"]
    started = [
        thaw(e.signal.data)
        for e in rt.trace
        if e.agent_id == "orchestrator" and e.signal.type == CHILD_STARTED
    ]
    assert [s["child_id"] for s in started] == [  # type: ignore[index]
        "orchestrator/writer-1-0",
        "orchestrator/writer-1-1",
        "orchestrator/writer-1-2",
    ]
    assert rt.agent_ids == ("orchestrator",)
    assert rt.children("orchestrator") == {}
    llm = [inv for _, inv, _ in rt.effect_log if inv.effect == "llm.draft"]
    assert sorted(str(inv.args["topic"]) for inv in llm) == sorted(TOPICS)


def test_the_report_is_announced_on_the_audit_sink() -> None:
    """The finished run is announced once on the audit sink."""
    rt = run_system()
    (done,) = rt.sink("audit")
    assert (done.type, thaw(done.data)) == ("contentops.run.completed", {"run": 1})


def test_a_second_request_during_a_run_is_refused_with_a_transition_problem() -> None:
    """A request while running is refused by the FSM: a transition Error, no second run."""
    rt = run_system()
    (refused,) = [
        e
        for e in rt.trace
        if e.signal.type == "contentops.run.requested"
        and thaw(e.signal.data) == {"topics": ["too soon"]}
    ]
    (err,) = refused.directives
    assert isinstance(err, Error)
    assert err.problem.kind is ProblemKind.TRANSITION
    assert err.problem.details["status"] == "running"
    assert refused.after == refused.before
    assert rt.state("orchestrator").runs == 1


def test_the_deadline_after_a_finished_run_changes_nothing() -> None:
    """The 60 s deadline fires, but a finished run is left as it was."""
    rt = run_system()
    before = rt.agent("orchestrator")
    assert rt.advance(contentops.DEADLINE_SECONDS) == 1
    assert rt.trace[-1].signal.type == "contentops.run.deadline"
    assert rt.agent("orchestrator").state == before.state


def test_the_nightly_cron_starts_a_run_at_two_in_the_morning() -> None:
    """The spec's declared cron ticks at 02:00 UTC and plans the nightly digest."""
    rt = SyncRuntime(contentops.SPECS, effects=contentops.EFFECTS, sinks=["audit"])
    rt.start(contentops.ORCHESTRATOR, "orchestrator")
    assert rt.advance(2 * 3600 - 1) == 0
    assert rt.advance(1) > 0
    tick = rt.trace[0].signal
    assert tick.type == "contentops.tick.nightly"
    assert tick.time == DEFAULT_EPOCH + timedelta(hours=2)
    state: Any = rt.state("orchestrator")
    assert dict(state.drafts) == {"nightly digest": 240}
    assert state.report == "report-1: 240 words"


def test_a_dry_run_of_the_system_performs_no_effect_and_waits_at_the_deadline() -> None:
    """Without replies, DryRun records the drafts it would ask for; the deadline fails them."""
    run = DryRun(contentops.SPECS, sinks=["audit"])
    run.start(contentops.ORCHESTRATOR, "orchestrator")
    run.send("orchestrator", "contentops.run.requested", {"topics": ["a", "b"]})
    invokes = [inv for _, inv in run.intents if isinstance(inv, Invoke)]
    assert len(invokes) == len(run.intents)
    assert [(inv.effect, thaw(inv.args)) for inv in invokes] == [
        ("llm.draft", {"topic": "a"}),
        ("llm.draft", {"topic": "b"}),
    ]
    run.advance(contentops.DEADLINE_SECONDS)
    state: Any = run.state("orchestrator")
    assert dict(state.failed) == {"a": "timed out", "b": "timed out"}
    assert run.agent("orchestrator").status == "reporting"  # report.publish got no reply
    assert isinstance(run.intents[-1][1], Invoke)
    assert run.intents[-1][1].effect == "report.publish"


def test_the_review_shows_the_fsm_status_changing() -> None:
    """The review of a run request records the FSM moving from idle to running."""
    run = DryRun(contentops.SPECS, sinks=["audit"])
    run.start(contentops.ORCHESTRATOR, "orchestrator")
    run.send("orchestrator", "contentops.run.requested", {"topics": ["a"]})
    first = run.review().steps[0]
    assert first.signal_type == "contentops.run.requested"
    assert Change("status", "idle", "running") in first.changes
    assert Change("state.runs", 0, 1) in first.changes
    assert first.effects == (
        'spawn writer as \'writer-1-0\' state {"topic": "a"}',
        'schedule contentops.run.deadline {"run": 1} in 60s',
    )


def test_a_report_that_cannot_be_published_ends_the_run_all_the_same() -> None:
    """If ``report.publish`` fails, the run is recorded and announced as failed and the
    orchestrator is idle again: the next run is accepted."""
    run = DryRun(
        contentops.SPECS,
        sinks=["audit"],
        replies={"llm.draft": {"words": 7}, "report.publish": CannedError("IOError", "disk full")},
    )
    run.start(contentops.ORCHESTRATOR, "orchestrator")
    run.send("orchestrator", "contentops.run.requested", {"topics": ["a"]})
    orchestrator = run.agent("orchestrator")
    assert orchestrator.status == "idle"
    state: Any = orchestrator.state
    assert state.report == "not published: disk full"
    assert [s.type for s in run.sink("audit")] == ["contentops.run.failed"]
    run.send("orchestrator", "contentops.run.requested", {"topics": ["b"]})
    assert run.agent("orchestrator").status == "idle"
    assert run.state("orchestrator").runs == 2
    directives = [d for s in run.review().steps for d in s.directives]
    assert not [d for d in directives if "[routing]" in d or "no transition" in d]
