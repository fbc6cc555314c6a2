"""Observability of what goes wrong: effects the runtime cancels or that fail, malformed
trace context with a trace state beside it, a crashed step's cause, and the dead-letter
log record. (A proxy provider taken before the SDK was configured: test_tracing_edges.)"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import attrs
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from jido import (
    ActionResult,
    AgentSpec,
    Context,
    JsonValue,
    NoParams,
    Route,
    Signal,
    action,
    emit,
    emit_to,
    invoke,
    ok,
)
from jido_interpreters import AgentOptions, AsyncRuntime
from jido_interpreters import _async as async_module


@attrs.frozen
class Seen:
    """What the agent saw: the outcomes of its effects, the trace states of its signals."""

    outcomes: int = 0
    tracestates: tuple[str | None, ...] = ()


@attrs.frozen
class Effect:
    """The effect to invoke."""

    name: str = ""


@action(params=Effect)
def run(state: Seen, p: Effect, ctx: Context) -> ActionResult[Seen]:
    return ok(state, invoke(p.name, {}, on_ok="t.outcome", on_error="t.outcome"))


@action()
def outcome(state: Seen, _: NoParams, ctx: Context) -> ActionResult[Seen]:
    return ok(attrs.evolve(state, outcomes=state.outcomes + 1))


@action()
def relay(state: Seen, _: NoParams, ctx: Context) -> ActionResult[Seen]:
    return ok(state, emit("t.relayed"))


@action()
def relayed(state: Seen, _: NoParams, ctx: Context) -> ActionResult[Seen]:
    assert ctx.signal is not None
    tracestate = ctx.signal.extensions.get("tracestate")
    assert tracestate is None or isinstance(tracestate, str)
    return ok(attrs.evolve(state, tracestates=(*state.tracestates, tracestate)))


@action()
def scatter(state: Seen, _: NoParams, ctx: Context) -> ActionResult[Seen]:
    return ok(state, *[emit_to("nobody", "t.lost", {"i": i}) for i in range(4)])


@action()
def boom(state: Seen, _: NoParams, ctx: Context) -> ActionResult[Seen]:
    raise RuntimeError("kaboom")


SPEC = AgentSpec(
    name="failing",
    state=Seen,
    routes=[
        Route(pattern="t.run", target=run),
        Route(pattern="t.outcome", target=outcome),
        Route(pattern="t.relay", target=relay),
        Route(pattern="t.relayed", target=relayed),
        Route(pattern="t.scatter", target=scatter),
        Route(pattern="t.boom", target=boom),
    ],
)


def traced() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def by_name(spans: Sequence[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


class Hanging:
    """An effect that runs until cancelled; ``started`` is set once it runs, ``task`` is the
    task running it."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.task: asyncio.Task[object] | None = None

    async def __call__(self, args: JsonValue) -> JsonValue:
        self.task = asyncio.current_task()
        self.started.set()
        await asyncio.Event().wait()
        return None


@pytest.mark.parametrize("how", ["shutdown", "stop"])
def test_an_effect_the_runtime_cancels_ends_its_span_and_its_task_cancelled(how: str) -> None:
    """An effect cut short by a stop or a shutdown ends as it does untraced (its task
    cancelled, no exception left unretrieved), and its span ends, saying it was cancelled
    (not an ERROR: the effect did not fail)."""
    provider, exporter = traced()
    hanging = Hanging()
    unretrieved: list[object] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _, ctx: unretrieved.append(ctx.get("exception")))
        rt = AsyncRuntime([SPEC], effects={"hang": hanging}, tracer_provider=provider)
        async with rt:
            await rt.start(SPEC, "a")
            await rt.call("a", "t.run", {"name": "hang"}, timeout=5)
            await asyncio.wait_for(hanging.started.wait(), 5)
            task = hanging.task
            assert task is not None
            if how == "stop":
                await rt.stop("a")
            else:
                await rt.shutdown(0)
            await asyncio.wait([task], timeout=5)
            assert task.cancelled()
            assert rt.statistics().in_flight_effects == 0

    asyncio.run(main())
    assert unretrieved == []
    (span,) = by_name(exporter.get_finished_spans(), "jido.effect hang")
    assert span.attributes is not None
    assert span.attributes["jido.cancelled"] is True
    assert [e.name for e in span.events] == ["jido.cancelled"]
    assert span.status.status_code is StatusCode.UNSET


async def _own_timeout(args: JsonValue) -> JsonValue:
    raise TimeoutError("upstream timed out")


async def _self_cancelled(args: JsonValue) -> JsonValue:
    future = asyncio.get_running_loop().create_future()
    future.cancel()
    await future
    return None


async def _bad_result(args: JsonValue) -> JsonValue:
    return {1, 2}  # type: ignore[return-value]  # not JSON: an InvalidResult


async def _never(args: JsonValue) -> JsonValue:
    await asyncio.Event().wait()
    return None


@pytest.mark.parametrize(
    ("effect", "kind", "exception", "message"),
    [
        ("never", "TimeoutError", "TimeoutError", "effect 'never' took longer than 0.05s"),
        ("own_timeout", "TimeoutError", "TimeoutError", "upstream timed out"),
        (
            "self_cancelled",
            "CancelledError",
            "asyncio.exceptions.CancelledError",
            "effect 'self_cancelled' cancelled",
        ),
        ("bad_result", "InvalidResult", "TypeError", "$: set {1, 2} is not JSON-able"),
    ],
)
def test_a_failed_effect_records_its_exception(
    effect: str, kind: str, exception: str, message: str
) -> None:
    """Every way an effect fails ends its span with an ERROR status naming the outcome's
    error and the exception recorded: the runtime's effect timeout, the handler's own
    timeout or cancellation, a result that is not JSON."""
    provider, exporter = traced()
    effects = {
        "never": _never,
        "own_timeout": _own_timeout,
        "self_cancelled": _self_cancelled,
        "bad_result": _bad_result,
    }
    options = {"failing": AgentOptions(effect_timeout=0.05)}

    async def main() -> None:
        async with AsyncRuntime(
            [SPEC], effects=effects, options=options, tracer_provider=provider
        ) as rt:
            await rt.start(SPEC, "a")
            await rt.call("a", "t.run", {"name": effect}, timeout=5)
            await rt.wait_until("a", lambda a: a.state.outcomes == 1, timeout=5)

    asyncio.run(main())
    (span,) = by_name(exporter.get_finished_spans(), f"jido.effect {effect}")
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == f"{kind}: {message}"
    events = [(e.name, dict(e.attributes or {})) for e in span.events]
    assert [(name, a["exception.type"], a["exception.message"]) for name, a in events] == [
        ("exception", exception, message)
    ]


def test_an_unknown_effect_fails_its_directive_and_effect_spans() -> None:
    """An ``Invoke`` of an effect with no handler is a directive that could not be
    executed: its directive span is an ERROR with the reason, as is the effect's span."""
    provider, exporter = traced()

    async def main() -> None:
        async with AsyncRuntime([SPEC], tracer_provider=provider) as rt:
            await rt.start(SPEC, "a")
            await rt.call("a", "t.run", {"name": "unknown"}, timeout=5)
            await rt.wait_until("a", lambda a: a.state.outcomes == 1, timeout=5)

    asyncio.run(main())
    spans = exporter.get_finished_spans()
    (directive,) = by_name(spans, "jido.directive Invoke")
    assert directive.status.status_code is StatusCode.ERROR
    assert directive.status.description == "no handler for effect 'unknown'"
    (effect,) = by_name(spans, "jido.effect unknown")
    assert effect.status.status_code is StatusCode.ERROR
    assert effect.status.description == "UnknownEffect: no handler for effect 'unknown'"


T = "0af7651916cd43dd8448eb211c80319c"
P = "b7ad6b7169203331"


@pytest.mark.parametrize(
    ("extensions", "carried"),
    [
        ({"traceparent": "garbage", "tracestate": "congo=t61rcWkgMzE"}, None),
        ({"traceparent": 7, "tracestate": "congo=t61rcWkgMzE"}, None),
        ({"tracestate": "congo=t61rcWkgMzE"}, None),
        ({"traceparent": f"00-{T}-{P}-01", "tracestate": "!!!,==,"}, None),
        ({"traceparent": f"00-{T}-{P}-01", "tracestate": "congo=t61rcWkgMzE"}, "congo=t61rcWkgMzE"),
    ],
)
def test_malformed_trace_context_is_ignored_tracestate_included(
    extensions: dict[str, str | int], carried: str | None
) -> None:
    """A ``tracestate`` belongs to its ``traceparent``: beside a malformed (or missing) one,
    the step starts a trace and the stale trace state does not ride on into it; one OTel
    rejects is not sent on either. A valid pair is propagated as it came."""
    provider, exporter = traced()

    async def main() -> None:
        async with AsyncRuntime([SPEC], tracer_provider=provider) as rt:
            await rt.start(SPEC, "a")
            sig = Signal(type="t.relay", source="/t", id="odd", extensions=extensions)
            await rt.call("a", sig, timeout=5)
            agent = await rt.wait_until("a", lambda a: len(a.state.tracestates) == 1, timeout=5)
            assert agent.state.tracestates == (carried,)

    asyncio.run(main())
    spans = exporter.get_finished_spans()
    (step,) = by_name(spans, "jido.step t.relay")
    (then,) = by_name(spans, "jido.step t.relayed")
    assert then.context.trace_id == step.context.trace_id
    expected = {} if carried is None else {"congo": "t61rcWkgMzE"}
    assert dict(then.context.trace_state) == expected


def test_a_crashed_steps_span_records_the_crash_and_its_cause() -> None:
    """The span of a step whose action raised records the ActionCrashed and, as a second
    event, the action's own exception (its cause)."""
    provider, exporter = traced()

    async def main() -> None:
        async with AsyncRuntime([SPEC], tracer_provider=provider) as rt:
            await rt.start(SPEC, "a")
            rt.cast_nowait("a", "t.boom")
            await rt.wait_idle(timeout=5)

    asyncio.run(main())
    (span,) = by_name(exporter.get_finished_spans(), "jido.step t.boom")
    assert span.status.status_code is StatusCode.ERROR
    events = [dict(e.attributes or {}) for e in span.events]
    assert [(a["exception.type"], a["exception.message"]) for a in events] == [
        ("jido._errors.ActionCrashed", "action 'boom' of agent 'a' raised handling 't.boom'"),
        ("RuntimeError", "kaboom"),
    ]
    assert events[1]["jido.exception.cause_of"] == "jido._errors.ActionCrashed"


def test_the_dead_letters_overflow_record_carries_jido_context(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The WARNING that dead letters overflow what the runtime keeps has a ``jido``
    attribute, as every record on ``jido.runtime``."""
    monkeypatch.setattr(async_module, "DEAD_LETTERS_KEPT", 3)

    async def main() -> None:
        async with AsyncRuntime([SPEC]) as rt:
            await rt.start(SPEC, "a")
            await rt.call("a", "t.scatter", timeout=5)
            await rt.wait_idle(timeout=5)
            assert rt.statistics().dead_letters == 4

    with caplog.at_level(logging.DEBUG, logger="jido.runtime"):
        asyncio.run(main())
    (record,) = [r for r in caplog.records if "dead letters" in r.getMessage()]
    assert record.levelno == logging.WARNING
    # ``agent``: the one the dead letter that overflowed was for.
    assert getattr(record, "jido", None) == {"agent": "nobody", "kept": 3}
