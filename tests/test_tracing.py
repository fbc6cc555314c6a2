"""OpenTelemetry spans from AsyncRuntime, through a real SDK with an in-memory exporter."""

from __future__ import annotations

import asyncio

import attrs
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from jido import (
    ActionResult,
    AgentSpec,
    Context,
    FrozenMap,
    JsonValue,
    NoParams,
    Route,
    action,
    emit,
    invoke,
    ok,
)
from jido_interpreters import AsyncRuntime


@attrs.frozen
class Seen:
    """How many signals of each kind arrived."""

    pinged: int = 0
    ponged: int = 0
    fetched: int = 0


@action()
def ping(state: Seen, _: NoParams, ctx: Context) -> ActionResult[Seen]:
    """Emit a pong to self and fetch something."""
    return ok(
        attrs.evolve(state, pinged=state.pinged + 1),
        emit("test.ponged"),
        invoke("fetch", {"n": 1}, on_ok="test.fetched", on_error="test.failed"),
    )


@action()
def pong(state: Seen, _: NoParams, ctx: Context) -> ActionResult[Seen]:
    """Count the pong."""
    return ok(attrs.evolve(state, ponged=state.ponged + 1))


@action()
def fetched(state: Seen, _: NoParams, ctx: Context) -> ActionResult[Seen]:
    """Count the fetch outcome."""
    return ok(attrs.evolve(state, fetched=state.fetched + 1))


SPEC = AgentSpec(
    name="traced",
    state=Seen,
    routes=[
        Route(pattern="test.pinged", target=ping),
        Route(pattern="test.ponged", target=pong),
        Route(pattern="test.fetched", target=fetched),
    ],
)


async def _fetch(args: FrozenMap[str, JsonValue]) -> int:
    return 42


def _run() -> tuple[list[ReadableSpan], Seen]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    async def main() -> Seen:
        async with AsyncRuntime([SPEC], effects={"fetch": _fetch}, tracer_provider=provider) as rt:
            await rt.start(SPEC, "a")
            await rt.cast("a", "test.pinged")
            await rt.wait_idle(timeout=5)
            state: Seen = rt.state("a")
            return state

    state = asyncio.run(main())
    provider.shutdown()
    return list(exporter.get_finished_spans()), state


def _by_name(spans: list[ReadableSpan], prefix: str) -> list[ReadableSpan]:
    return [s for s in spans if (s.name or "").startswith(prefix)]


def test_steps_and_directives_produce_spans() -> None:
    """Every step and every directive gets a span, with the agent and signal as attributes."""
    spans, state = _run()
    assert state == Seen(pinged=1, ponged=1, fetched=1)
    steps = _by_name(spans, "jido.step ")
    assert sorted(s.name for s in steps) == [
        "jido.step test.fetched",
        "jido.step test.pinged",
        "jido.step test.ponged",
    ]
    assert all((s.attributes or {}).get("jido.agent.id") == "a" for s in steps)
    directives = _by_name(spans, "jido.directive ")
    assert sorted(s.name for s in directives) == ["jido.directive Emit", "jido.directive Invoke"]


def test_emitted_and_invoked_work_is_a_child_of_its_cause() -> None:
    """The step handling an emitted signal, and the effect an Invoke ran, descend from the
    step that caused them, in one trace."""
    spans, _ = _run()
    by_id = {s.context.span_id: s for s in spans if s.context is not None}

    def ancestors(span: ReadableSpan) -> list[str]:
        names = []
        parent = span.parent
        while parent is not None and parent.span_id in by_id:
            p = by_id[parent.span_id]
            names.append(p.name or "")
            parent = p.parent
        return names

    (root,) = _by_name(spans, "jido.step test.pinged")
    (pong_step,) = _by_name(spans, "jido.step test.ponged")
    (effect,) = _by_name(spans, "jido.effect fetch")
    (fetched_step,) = _by_name(spans, "jido.step test.fetched")
    assert root.context is not None
    trace_id = root.context.trace_id
    for span in (pong_step, effect, fetched_step):
        assert span.context is not None
        assert span.context.trace_id == trace_id
        assert "jido.step test.pinged" in ancestors(span)
    assert ancestors(effect)[0] == "jido.directive Invoke"
