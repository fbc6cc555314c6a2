"""ContentOps: an orchestrator that plans a content run, fans it out to writer agents, and
publishes a report — in the spirit of Jido's ContentOps orchestrator.

The orchestrator is an FSM (``idle`` → ``running`` → ``reporting`` → ``idle``):

1. ``contentops.run.requested`` (or the nightly cron tick) plans the run: one writer child per
   topic, and a deadline 60 s later. A second request while a run is going is refused by the
   FSM, as Jido's orchestrator refuses with ``:already_running``.
2. Each writer asks the ``llm.draft`` effect for a draft, reports back to its parent, and
   stops. A writer whose effect fails reports a failure instead.
3. When every topic is accounted for, the orchestrator invokes ``report.publish``, then
   announces the run on the ``audit`` sink and goes back to ``idle``. A report that cannot be
   published is recorded as failed, announced as such, and the orchestrator is ``idle`` again
   (ready for the next run) all the same.
4. The deadline marks writers that never answered as timed out.

Everything here is pure: the effects are plain functions given to the interpreter
(:data:`EFFECTS` are deterministic fakes: ``jido demo --runtime sync`` prints the same
thing every time; the default, on AsyncRuntime, differs only in its timings).
"""

from __future__ import annotations

import asyncio
from typing import Any

import attrs

from jido import (
    CHILD_EXIT,
    CHILD_STARTED,
    FSM,
    ActionResult,
    AgentSpec,
    Context,
    FrozenMap,
    JsonValue,
    Route,
    Transition,
    action,
    cron,
    emit,
    emit_to,
    emit_to_parent,
    emit_to_sink,
    fail,
    invoke,
    ok,
    schedule,
    spawn_agent,
    stop,
)

__all__ = [
    "ASYNC_EFFECTS",
    "EFFECTS",
    "ORCHESTRATOR",
    "SPECS",
    "WRITER",
    "Orchestrator",
    "Writer",
]

DEADLINE_SECONDS = 60.0

# ---------------------------------------------------------------------------- orchestrator


@attrs.frozen
class Orchestrator:
    """The orchestrator's state."""

    runs: int = 0
    topics: tuple[str, ...] = ()
    workers: FrozenMap[str, str] = attrs.field(factory=FrozenMap)
    drafts: FrozenMap[str, int] = attrs.field(factory=FrozenMap)
    failed: FrozenMap[str, str] = attrs.field(factory=FrozenMap)
    report: str | None = None


@attrs.frozen
class RunRequest:
    """Parameters of a run."""

    topics: list[str] = attrs.field(factory=lambda: ["release notes", "changelog"])


@action(params=RunRequest)
def plan(state: Orchestrator, params: RunRequest, ctx: Context) -> ActionResult[Orchestrator]:
    """Plan a run: one writer per topic, and a deadline."""
    if not params.topics:
        return fail("a run needs at least one topic")
    topics = tuple(dict.fromkeys(params.topics))  # de-duplicated, in order
    run = state.runs + 1
    spawns = [
        spawn_agent("writer", f"writer-{run}-{i}", state={"topic": topic})
        for i, topic in enumerate(topics)
    ]
    new = Orchestrator(runs=run, topics=topics)
    return ok(new, *spawns, schedule(DEADLINE_SECONDS, "contentops.run.deadline", {"run": run}))


@attrs.frozen
class ChildStarted:
    """Data of ``jido.agent.child.started``."""

    child_id: str
    tag: str


@action(params=ChildStarted)
def brief_writer(state: Orchestrator, p: ChildStarted, ctx: Context) -> ActionResult[Orchestrator]:
    """Record a started writer and send it its brief."""
    new = attrs.evolve(state, workers=state.workers.set(p.tag, p.child_id))
    return ok(new, emit_to(p.child_id, "contentops.draft.requested", {"run": state.runs}))


@attrs.frozen
class DraftDone:
    """A writer's report."""

    topic: str
    words: int = 0
    reason: str = ""


def _settle(state: Orchestrator) -> ActionResult[Orchestrator]:
    done = len(state.drafts) + len(state.failed)
    if done == len(state.topics):
        return ok(state, emit("contentops.drafts.settled", {"run": state.runs}))
    return ok(state)


@action(params=DraftDone)
def collect(state: Orchestrator, p: DraftDone, ctx: Context) -> ActionResult[Orchestrator]:
    """Aggregate a finished draft."""
    return _settle(attrs.evolve(state, drafts=state.drafts.set(p.topic, p.words)))


@action(params=DraftDone)
def collect_failure(state: Orchestrator, p: DraftDone, ctx: Context) -> ActionResult[Orchestrator]:
    """Aggregate a failed draft."""
    return _settle(attrs.evolve(state, failed=state.failed.set(p.topic, p.reason)))


@action()
def publish(state: Orchestrator, _: Any, ctx: Context) -> ActionResult[Orchestrator]:
    """Publish the run report through the ``report.publish`` effect."""
    summary: dict[str, object] = {
        "run": state.runs,
        "drafts": dict(state.drafts),
        "failed": dict(state.failed),
        "words": sum(state.drafts.values()),
    }
    return ok(
        state,
        invoke(
            "report.publish",
            summary,
            on_ok="contentops.report.published",
            on_error="contentops.report.failed",
        ),
    )


@attrs.frozen
class Published:
    """Outcome of ``report.publish``."""

    result: str


@action(params=Published)
def finish(state: Orchestrator, p: Published, ctx: Context) -> ActionResult[Orchestrator]:
    """Record the report and announce the run."""
    new = attrs.evolve(state, report=p.result)
    return ok(new, emit_to_sink("audit", "contentops.run.completed", {"run": state.runs}))


@attrs.frozen
class PublishFailed:
    """Outcome of ``report.publish`` when it failed."""

    error: FrozenMap[str, JsonValue]


@action(params=PublishFailed)
def unpublished(state: Orchestrator, p: PublishFailed, ctx: Context) -> ActionResult[Orchestrator]:
    """Record that the report could not be published, and announce the run as failed."""
    new = attrs.evolve(state, report=f"not published: {p.error.get('message')}")
    return ok(new, emit_to_sink("audit", "contentops.run.failed", {"run": state.runs}))


@attrs.frozen
class Deadline:
    """Data of the deadline signal."""

    run: int


@action(params=Deadline)
def deadline(state: Orchestrator, p: Deadline, ctx: Context) -> ActionResult[Orchestrator]:
    """Mark writers that never answered as timed out (a no-op for a finished run)."""
    if p.run != state.runs or ctx.status != "running":
        return ok(state)
    late = [t for t in state.topics if t not in state.drafts and t not in state.failed]
    failed = state.failed
    for topic in late:
        failed = failed.set(topic, "timed out")
    return _settle(attrs.evolve(state, failed=failed))


@action()
def forget_writer(state: Orchestrator, _: Any, ctx: Context) -> ActionResult[Orchestrator]:
    """A writer exited: nothing to do but acknowledge (its report arrived before)."""
    return ok(state)


ORCHESTRATOR: AgentSpec[Orchestrator] = AgentSpec(
    name="orchestrator",
    state=Orchestrator,
    description="Plans content runs, fans out to writers, publishes a report.",
    strategy=FSM(
        "idle",
        [
            Transition(source="idle", on="contentops.run.requested", target="running", action=plan),
            Transition(source="idle", on="contentops.tick.nightly", target="running", action=plan),
            Transition(
                source="running", on="contentops.draft.completed", target="running", action=collect
            ),
            Transition(
                source="running",
                on="contentops.draft.failed",
                target="running",
                action=collect_failure,
            ),
            Transition(
                source="running", on="contentops.drafts.settled", target="reporting", action=publish
            ),
            Transition(
                source="reporting",
                on="contentops.report.published",
                target="idle",
                action=finish,
            ),
            Transition(
                source="reporting",
                on="contentops.report.failed",
                target="idle",
                action=unpublished,
            ),
        ],
    ),
    routes=[
        Route(pattern=CHILD_STARTED, target=brief_writer),
        Route(pattern=CHILD_EXIT, target=forget_writer),
        Route(pattern="contentops.run.deadline", target=deadline),
    ],
    schedules=[
        cron(
            "0 2 * * *", "contentops.tick.nightly", {"topics": ["nightly digest"]}, job_id="nightly"
        )
    ],
)

# ---------------------------------------------------------------------------- writer


@attrs.frozen
class Writer:
    """A writer's state."""

    topic: str = ""
    words: int = 0


@action()
def draft(state: Writer, _: Any, ctx: Context) -> ActionResult[Writer]:
    """Ask the LLM for a draft."""
    return ok(
        state,
        invoke(
            "llm.draft",
            {"topic": state.topic},
            on_ok="contentops.draft.ready",
            on_error="contentops.draft.error",
        ),
    )


@attrs.frozen
class DraftReady:
    """Outcome of ``llm.draft``."""

    result: FrozenMap[str, JsonValue]


@action(params=DraftReady)
def deliver(state: Writer, p: DraftReady, ctx: Context) -> ActionResult[Writer]:
    """Report the draft to the orchestrator and stop."""
    words = p.result.get("words")
    if not isinstance(words, int):
        return fail("llm.draft returned no word count", result=p.result)
    new = attrs.evolve(state, words=words)
    return ok(
        new,
        emit_to_parent("contentops.draft.completed", {"topic": state.topic, "words": words}),
        stop(),
    )


@attrs.frozen
class DraftError:
    """Failure outcome of ``llm.draft``."""

    error: FrozenMap[str, JsonValue]


@action(params=DraftError)
def give_up(state: Writer, p: DraftError, ctx: Context) -> ActionResult[Writer]:
    """Report the failure to the orchestrator and stop."""
    reason = str(p.error.get("message", "unknown error"))
    return ok(
        state,
        emit_to_parent("contentops.draft.failed", {"topic": state.topic, "reason": reason}),
        stop("failed"),
    )


WRITER: AgentSpec[Writer] = AgentSpec(
    name="writer",
    state=Writer,
    description="Drafts one topic through the llm.draft effect.",
    routes=[
        Route(pattern="contentops.draft.requested", target=draft),
        Route(pattern="contentops.draft.ready", target=deliver),
        Route(pattern="contentops.draft.error", target=give_up),
    ],
)

#: Every spec of the system.
SPECS = (ORCHESTRATOR, WRITER)

# ---------------------------------------------------------------------------- fake effects


def _llm_draft(args: FrozenMap[str, JsonValue]) -> dict[str, Any]:
    topic = str(args.get("topic", ""))
    if "flaky" in topic:
        raise TimeoutError(f"the model did not answer for {topic!r}")
    return {"words": 120 * len(topic.split()), "title": topic.title()}


def _publish(args: FrozenMap[str, JsonValue]) -> str:
    return f"report-{args['run']}: {args['words']} words"


#: Deterministic stand-ins for the effects, by name.
EFFECTS = {"llm.draft": _llm_draft, "report.publish": _publish}


async def _llm_draft_async(args: FrozenMap[str, JsonValue]) -> dict[str, Any]:
    await asyncio.sleep(0.01)  # a stand-in for the model's latency; drafts overlap
    return _llm_draft(args)


async def _publish_async(args: FrozenMap[str, JsonValue]) -> str:
    return _publish(args)


#: The same effects, for AsyncRuntime.
ASYNC_EFFECTS = {"llm.draft": _llm_draft_async, "report.publish": _publish_async}
