"""Observability at its edges: malformed trace context, failures on spans, work the runtime
makes up (lifecycle signals, a child's first timers) and callers' own spans, an SDK set up
late, structured logs and mailbox depths with storage."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import attrs
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from jido import (
    CHILD_STARTED,
    ActionResult,
    AgentSpec,
    Context,
    CustomDirective,
    Emit,
    NoParams,
    Route,
    Signal,
    ToAgent,
    action,
    cron,
    emit,
    emit_to_parent,
    invoke,
    ok,
    schedule,
    spawn_agent,
)
from jido_interpreters import AgentOptions, AsyncRuntime, Escalate, MailboxFull, SQLiteStorage


@attrs.frozen
class Seen:
    """The signal types an agent handled."""

    seen: tuple[str, ...] = ()


@action()
def note(state: Seen, _: NoParams, ctx: Context) -> ActionResult[Seen]:
    assert ctx.signal is not None
    return ok(Seen((*state.seen, ctx.signal.type)))


@action()
def boom(state: Seen, _: NoParams, ctx: Context) -> ActionResult[Seen]:
    raise RuntimeError("kaboom")


@action()
def go(state: Seen, _: NoParams, ctx: Context) -> ActionResult[Seen]:
    return ok(
        state,
        invoke("bad", None, on_ok="t.ok", on_error="t.failed"),
        spawn_agent("kid", "k"),
    )


@action()
def every(state: Seen, _: NoParams, ctx: Context) -> ActionResult[Seen]:
    return ok(state, cron("* * * * * *", "t.note", job_id="beat"))


@action()
def hello(state: Seen, _: NoParams, ctx: Context) -> ActionResult[Seen]:
    return ok(state, emit_to_parent("t.kid.said"))


ROUTES = [
    Route(pattern="t.note", target=note),
    Route(pattern="t.boom", target=boom),
    Route(pattern="t.go", target=go),
    Route(pattern="t.every", target=every),
    Route(pattern="t.failed", target=note),
    Route(pattern="t.kid.said", target=note),
    Route(pattern=CHILD_STARTED, target=note),
]
PARENT = AgentSpec(name="parent", state=Seen, routes=ROUTES)
KID = AgentSpec(
    name="kid",
    state=Seen,
    routes=[Route(pattern="kid.hi", target=hello)],
    schedules=[schedule(0.0, "kid.hi")],
)


async def _bad(args: object) -> object:
    raise ValueError("effect failed")


def traced() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def by_name(spans: Sequence[ReadableSpan], name: str) -> ReadableSpan:
    (span,) = [s for s in spans if s.name == name]
    return span


def test_malformed_trace_context_does_not_stop_the_agent() -> None:
    """A signal whose ``traceparent`` is not a string (extensions may hold any scalar) is
    handled with tracing on, its span starting a trace of its own."""
    provider, exporter = traced()

    async def main() -> None:
        async with AsyncRuntime([PARENT], tracer_provider=provider) as rt:
            await rt.start(PARENT, "a")
            odd = Signal(type="t.note", source="/t", id="odd", extensions={"traceparent": 1})
            assert (await rt.call("a", odd, timeout=5)).state.seen == ("t.note",)
            assert (await rt.call("a", "t.note", timeout=5)).state.seen == ("t.note", "t.note")

    asyncio.run(main())
    assert [s.name for s in exporter.get_finished_spans()].count("jido.step t.note") == 2


def test_failures_are_errors_on_their_spans() -> None:
    """A step whose action raised and an effect whose handler raised end their spans with
    an ERROR status and the exception recorded (the step's ActionCrashed with its cause, the
    action's exception); effect spans name their agent."""
    provider, exporter = traced()

    async def main() -> None:
        async with AsyncRuntime(
            [PARENT, KID], effects={"bad": _bad}, tracer_provider=provider
        ) as rt:
            await rt.start(PARENT, "a")
            rt.cast_nowait("a", "t.boom")
            await rt.cast("a", "t.go")
            await rt.wait_idle(timeout=5)

    asyncio.run(main())
    spans = exporter.get_finished_spans()
    for name, events in (("jido.step t.boom", 2), ("jido.effect bad", 1)):
        span = by_name(spans, name)
        assert span.status.status_code is StatusCode.ERROR
        assert [e.name for e in span.events] == ["exception"] * events
    effect = by_name(spans, "jido.effect bad").attributes
    assert effect is not None
    assert effect["jido.agent.id"] == "a"


def test_what_a_step_causes_is_in_its_trace_children_included() -> None:
    """``child.started``, the child's first timer and what follows from it belong to the
    trace of the step that spawned the child, as emits, schedules and effects do."""
    provider, exporter = traced()

    async def main() -> None:
        async with AsyncRuntime(
            [PARENT, KID], effects={"bad": _bad}, tracer_provider=provider
        ) as rt:
            await rt.start(PARENT, "a")
            await rt.cast("a", "t.go")
            await rt.wait_idle(timeout=5)

    asyncio.run(main())
    spans = exporter.get_finished_spans()
    root = by_name(spans, "jido.step t.go")
    for name in (
        "jido.step jido.agent.child.started",
        "jido.step kid.hi",
        "jido.step t.kid.said",
        "jido.step t.failed",
    ):
        assert by_name(spans, name).context.trace_id == root.context.trace_id, name


@attrs.frozen(kw_only=True)
class Relay(CustomDirective):
    """A directive of the interpreter's own, whose handler answers with a signal."""


OWN_TRACE = "0af7651916cd43dd8448eb211c80319c"
OWN_PARENT = "b7ad6b7169203331"


@action()
def forward(state: Seen, _: NoParams, ctx: Context) -> ActionResult[Seen]:
    """Emit ready-made signals (with ids of their own, not stamped by the core), one of them
    with trace context of its own, and a directive whose handler makes a signal."""
    made = Signal(type="t.made", source="/app", id="made-1")
    traced = Signal(
        type="t.traced",
        source="/app",
        id="traced-1",
        extensions={"traceparent": f"00-{OWN_TRACE}-{OWN_PARENT}-01"},
    )
    to_b = ToAgent(id="b")
    return ok(state, Emit(signal=made, to=to_b), Emit(signal=traced, to=to_b), Relay())


def test_ready_made_signals_a_step_sends_are_in_its_trace() -> None:
    """A ready-made signal an ``Emit`` holds, and one a custom directive's handler makes,
    carry no trace context of their own: the steps they cause are in the trace of the step
    that sent them, as for the signals the core stamps. One with trace context of its own
    keeps it."""
    provider, exporter = traced()
    spec = AgentSpec(
        name="relay",
        state=Seen,
        routes=[
            Route(pattern="t.forward", target=forward),
            Route(pattern="t.made", target=note),
            Route(pattern="t.traced", target=note),
            Route(pattern="t.relayed", target=note),
        ],
    )

    def relay(agent_id: str, d: Relay) -> list[Signal]:
        return [Signal(type="t.relayed", source="/relay", id="relayed-1")]

    async def main() -> None:
        async with AsyncRuntime([spec], tracer_provider=provider, directives={Relay: relay}) as rt:
            await rt.start(spec, "a")
            await rt.start(spec, "b")
            await rt.call("a", "t.forward", timeout=5)
            await rt.wait_idle(timeout=5)
            assert rt.state("b").seen == ("t.made", "t.traced")
            assert rt.state("a").seen == ("t.relayed",)

    asyncio.run(main())
    spans = exporter.get_finished_spans()
    cause = by_name(spans, "jido.step t.forward")
    for name in ("jido.step t.made", "jido.step t.relayed"):
        span = by_name(spans, name)
        assert span.context.trace_id == cause.context.trace_id, name
        assert span.parent is not None, name
    own = by_name(spans, "jido.step t.traced")
    assert f"{own.context.trace_id:032x}" == OWN_TRACE
    assert own.parent is not None
    assert f"{own.parent.span_id:016x}" == OWN_PARENT


def test_a_signal_made_inside_a_callers_span_joins_its_trace() -> None:
    """``rt.signal`` (and so ``cast``/``call`` with a type) carries the caller's current
    span: the step it causes is part of the caller's trace."""
    provider, exporter = traced()
    tracer = provider.get_tracer("app")

    async def main() -> None:
        async with AsyncRuntime([PARENT], tracer_provider=provider) as rt:
            await rt.start(PARENT, "a")
            with tracer.start_as_current_span("http request"):
                await rt.call("a", "t.note", timeout=5)

    asyncio.run(main())
    spans = exporter.get_finished_spans()
    request, step = by_name(spans, "http request"), by_name(spans, "jido.step t.note")
    assert step.context.trace_id == request.context.trace_id
    assert step.parent is not None
    assert step.parent.span_id == request.context.span_id


def test_each_cron_tick_starts_a_trace_linked_to_the_registering_step() -> None:
    """A cron job's ticks do not pile up in the trace of the step that registered the job:
    each tick is the root span of a trace of its own, linked to that step's span, and the
    tick's step is its child."""
    provider, exporter = traced()
    # A frozen clock a millisecond before a second boundary: every tick is due at once.
    frozen = datetime(2026, 1, 1, 0, 0, 0, 999_000, tzinfo=UTC)

    async def main() -> None:
        async with AsyncRuntime([PARENT], tracer_provider=provider, clock=lambda: frozen) as rt:
            await rt.start(PARENT, "a")
            await rt.call("a", "t.every", timeout=5)
            await rt.wait_until("a", lambda a: len(a.state.seen) >= 3, timeout=5)

    asyncio.run(main())
    spans = exporter.get_finished_spans()
    registering = by_name(spans, "jido.step t.every")
    ticks = [s for s in spans if s.name == "jido.cron t.note"]
    steps = {s.parent.span_id: s for s in spans if s.name == "jido.step t.note" and s.parent}
    assert len(ticks) >= 3
    assert len({t.context.trace_id for t in ticks}) == len(ticks)
    for tick in ticks:
        assert tick.parent is None
        assert tick.context.trace_id != registering.context.trace_id
        linked = [(k.context.trace_id, k.context.span_id) for k in tick.links]
        assert linked == [(registering.context.trace_id, registering.context.span_id)]
        step = steps.get(tick.context.span_id)
        if step is not None:  # the last tick may still be queued at shutdown
            assert step.context.trace_id == tick.context.trace_id
    assert len(steps) >= 3


LATE = """
import asyncio
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from jido_interpreters import AsyncRuntime
from tests.test_tracing_edges import PARENT

async def main():
    rt = AsyncRuntime([PARENT]{given})  # built before any SDK is configured
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    async with rt:
        await rt.start(PARENT, "a")
        await rt.call("a", "t.note", timeout=5)
    print(sorted({s.name for s in exporter.get_finished_spans()}))

asyncio.run(main())
"""


@pytest.mark.parametrize("given", ["", ", tracer_provider=trace.get_tracer_provider()"])
def test_an_sdk_configured_after_the_runtime_was_built_is_used(given: str) -> None:
    """The global provider is looked at again when agents start, so configuring the SDK
    after building the runtime (but before starting agents) still gives spans; so it is
    when the runtime was given ``trace.get_tracer_provider()`` then, which is the API's
    proxy for the global provider. (In a process of its own: the global provider can be
    set once.)"""
    root = Path(__file__).resolve().parent.parent
    script = LATE.replace("{given}", given)
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "'jido.step t.note'" in done.stdout


def test_every_runtime_log_record_carries_jido_context(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Records on ``jido.runtime`` have a ``jido`` attribute, an Escalate on a root agent's
    record included."""
    options = {"parent": AgentOptions(error_policy=Escalate())}

    async def main() -> None:
        async with AsyncRuntime([PARENT], options=options) as rt:
            await rt.start(PARENT, "a")
            rt.cast_nowait("a", "t.boom")
            await rt.wait_idle(timeout=5)

    with caplog.at_level(logging.INFO, logger="jido.runtime"):
        asyncio.run(main())
    records = [r for r in caplog.records if r.name == "jido.runtime"]
    assert any("root agent a stopped" in r.getMessage() for r in records)
    assert all(isinstance(getattr(r, "jido", None), dict) for r in records)


def test_durable_mailbox_depths_count_what_is_being_journalled(tmp_path: Path) -> None:
    """``statistics().mailbox_depths`` counts what the mailbox bound counts: signals still
    being journalled included."""

    async def main() -> None:
        storage = SQLiteStorage(tmp_path / "depth.db")
        options = {"parent": AgentOptions(mailbox_size=3)}
        async with AsyncRuntime([PARENT], storage=storage, options=options) as rt:
            await rt.start(PARENT, "a")
            for _ in range(3):
                rt.cast_nowait("a", "t.note")
            with pytest.raises(MailboxFull):
                rt.cast_nowait("a", "t.note")
            assert rt.statistics().mailbox_depths == {"a": 3}

    asyncio.run(main())


@attrs.frozen
class Parents:
    """The ``traceparent`` each handled signal came with, in order."""

    seen: tuple[str, ...] = ()


@action()
def remember(state: Parents, _: NoParams, ctx: Context) -> ActionResult[Parents]:
    assert ctx.signal is not None
    parent = ctx.signal.extensions.get("traceparent")
    mine = (*state.seen, f"{ctx.signal.type} {parent}")
    if ctx.signal.type == "t.first":
        return ok(Parents(mine), emit("t.second"))
    return ok(Parents(mine))


REMEMBERING = AgentSpec(
    name="remembering",
    state=Parents,
    routes=[Route(pattern="t.first", target=remember), Route(pattern="t.second", target=remember)],
)
SENT_TRACE = "0af7651916cd43dd8448eb211c80319c"


def test_an_action_sees_the_trace_context_a_replay_shows_it(tmp_path: Path) -> None:
    """With tracing on, an action sees the signal as it was sent (and journalled), not one
    carrying its step span's context: the state a restore replays is the state it had. What
    the step emits is still its span's child."""
    provider, exporter = traced()
    sent = f"00-{SENT_TRACE}-b7ad6b7169203331-01"
    first = Signal(type="t.first", source="/t", id="one", extensions={"traceparent": sent})

    async def live() -> Parents:
        rt = AsyncRuntime(
            [REMEMBERING], storage=SQLiteStorage(tmp_path / "j.db"), tracer_provider=provider
        )
        async with rt:
            await rt.start(REMEMBERING, "a")
            await rt.call("a", first, timeout=5)
            await rt.wait_idle(timeout=5)
            state: Parents = rt.state("a")
            return state

    async def restored() -> Parents:
        async with AsyncRuntime([REMEMBERING], storage=SQLiteStorage(tmp_path / "j.db")) as rt:
            assert await rt.restore() == ("a",)
            state: Parents = rt.state("a")
            return state

    before = asyncio.run(live())
    spans = exporter.get_finished_spans()
    step = by_name(spans, "jido.step t.first")
    assert before.seen[0] == f"t.first {sent}"
    assert before.seen[1] == f"t.second 00-{SENT_TRACE}-{step.context.span_id:016x}-01"
    second = by_name(spans, "jido.step t.second")
    assert second.parent is not None
    assert second.parent.span_id == step.context.span_id
    assert asyncio.run(restored()) == before


def test_a_long_type_is_cut_short_in_span_names_and_attributes() -> None:
    """A type comes from outside, as long as its sender likes: every span of its steps
    carried it whole (a 200 KB span name). Spans show its first 200 characters."""
    from jido_interpreters._telemetry import TYPE_SHOWN

    provider, exporter = traced()
    long_type = ".".join(["segment"] * 5_000)
    spec = AgentSpec(name="any", state=Seen, routes=[Route(pattern="**", target=note)])

    async def main() -> None:
        async with AsyncRuntime([spec], tracer_provider=provider) as rt:
            await rt.start(spec, "a")
            await rt.call("a", long_type, timeout=5)

    asyncio.run(main())
    (span,) = [s for s in exporter.get_finished_spans() if s.name.startswith("jido.step ")]
    assert span.name == f"jido.step {long_type[: TYPE_SHOWN - 3]}..."
    assert (span.attributes or {})["jido.signal.type"] == f"{long_type[: TYPE_SHOWN - 3]}..."


@attrs.frozen(kw_only=True)
class Later(CustomDirective):
    """Hands a signal back to its agent, through its handler."""

    signal: Signal


UPSTREAM_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


@action()
def fan_out(state: Seen, _: NoParams, ctx: Context) -> ActionResult[Seen]:
    upstream = f"00-{UPSTREAM_TRACE}-00f067aa0ba902b7-01"
    return ok(
        state,
        Later(signal=Signal.draft("t.via_custom")),
        emit("t.via_emit"),
        Emit(signal=Signal.draft("t.upstream", extensions={"traceparent": upstream})),
    )


def test_what_a_step_stamps_is_its_spans_child_unless_it_says_otherwise() -> None:
    """A draft a custom directive holds is stamped by the step, as an Emit's is: the step
    it causes is a child of the stamping step's span (it kept the sender's context). A
    draft the action gave a trace context of its own (continuing an upstream trace) keeps
    it."""
    provider, exporter = traced()
    spec = AgentSpec(
        name="fan",
        state=Seen,
        routes=[
            Route(pattern="t.go", target=fan_out),
            Route(pattern="t.via_custom", target=note),
            Route(pattern="t.via_emit", target=note),
            Route(pattern="t.upstream", target=note),
        ],
    )

    def later(agent_id: str, d: Later) -> list[Signal]:
        return [d.signal]

    async def main() -> None:
        async with AsyncRuntime([spec], tracer_provider=provider, directives={Later: later}) as rt:
            await rt.start(spec, "a")
            await rt.cast("a", "t.go")
            await rt.wait_idle(timeout=5)
            assert sorted(rt.state("a").seen) == ["t.upstream", "t.via_custom", "t.via_emit"]

    asyncio.run(main())
    spans = exporter.get_finished_spans()
    cause = by_name(spans, "jido.step t.go")
    for name in ("jido.step t.via_custom", "jido.step t.via_emit"):
        span = by_name(spans, name)
        assert span.parent is not None, name
        assert span.parent.span_id == cause.context.span_id, name
    upstream = by_name(spans, "jido.step t.upstream")
    assert f"{upstream.context.trace_id:032x}" == UPSTREAM_TRACE


@attrs.frozen(kw_only=True)
class Echoed(CustomDirective):
    """Holds a signal, and a copy of it, once stamped, that the class makes itself (a field
    not given)."""

    signal: Signal
    echo: Signal | None = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "echo", None if self.signal.is_draft else self.signal)


@action()
def echo_later(state: Seen, _: NoParams, ctx: Context) -> ActionResult[Seen]:
    return ok(state, Echoed(signal=Signal.draft("t.note")))


def test_a_custom_directive_with_fields_it_makes_itself_is_carried_out_with_tracing() -> None:
    """Re-parenting what a step stamped builds a custom directive again from its fields:
    one with a field it makes itself could not be, and its handler never ran (with tracing
    on only)."""
    provider, _ = traced()
    spec = AgentSpec(
        name="echoing",
        state=Seen,
        routes=[Route(pattern="t.go", target=echo_later), Route(pattern="t.note", target=note)],
    )
    handled: list[Echoed] = []

    def echoed(agent_id: str, d: Echoed) -> list[Signal]:
        handled.append(d)
        return []

    async def main() -> None:
        async with AsyncRuntime(
            [spec], tracer_provider=provider, directives={Echoed: echoed}
        ) as rt:
            await rt.start(spec, "a")
            await rt.call("a", "t.go", timeout=5)
            await rt.wait_idle(timeout=5)

    asyncio.run(main())
    (done,) = handled
    assert done.echo == done.signal  # its own copy of the signal as the step stamped it
