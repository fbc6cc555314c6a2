"""What AsyncRuntime reports about itself: counters for ``statistics()``, and OTel spans.

* :class:`Counters` is the runtime's tally (steps, errors, crashes, restarts, problems, dead
  letters, recent step latencies); :meth:`Counters.snapshot` freezes it, with the agents'
  mailbox depths and running effects, into a :class:`RuntimeStatistics`.
* :class:`Spans` makes the OpenTelemetry spans: one per step (a child of the trace context
  the handled signal carries, and the parent of the signals the step makes), one per
  directive, one per effect. With no SDK configured it makes none at all
  (:attr:`Spans.enabled` is false), so the hot path pays nothing for them.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable, Collection, Iterable
from contextlib import AbstractContextManager
from typing import Final, final

import attrs
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from jido import Cron, CustomDirective, Directive, Emit, FrozenMap, Invoke, Schedule, Signal

from ._async_server import Server

__all__ = ["Counters", "RuntimeStatistics", "Spans", "cancelled", "failed"]

_propagator = TraceContextTextMapPropagator()
_TRACE_KEYS = frozenset({"traceparent", "tracestate"})


@final
@attrs.frozen(kw_only=True)
class RuntimeStatistics:
    """A snapshot of a runtime (trio-style ``statistics()``).

    Latency percentiles are over the most recent steps that committed (up to 10,000, the
    ones ``steps`` counts: a step that crashed is in ``crashes`` only), in microseconds,
    measuring ``step`` plus directive execution; ``nan`` before the first such step.

    Attributes:
        agents: running agents (in memory).
        hibernated: hibernated agents (in storage, thawed by what is sent to them).
        mailbox_depths: signals queued, by running agent.
        steps: steps that committed.
        errors: ``Error`` directives executed (an agent refusing bad data: no route, bad
            params, an illegal transition, a failed action...), plus ``crashes``.
        crashes: steps and directive handlers that raised (a bug; each met its agent's
            error policy).
        restarts: restarts by a ``Restart`` policy.
        problems: directives that could not be executed (see ``AsyncRuntime.problems``).
        dead_letters: signals that were never handled (see ``AsyncRuntime.dead_letters``).
        in_flight_effects: effects running, the ones a stopping step invoked included (they
            run on after their agent stopped: "notify, then stop").
        step_latency_p50_us, step_latency_p90_us, step_latency_p99_us: the percentiles.
    """

    agents: int
    hibernated: int = 0
    mailbox_depths: FrozenMap[str, int]
    steps: int
    errors: int
    crashes: int
    restarts: int
    problems: int
    dead_letters: int
    in_flight_effects: int
    step_latency_p50_us: float
    step_latency_p90_us: float
    step_latency_p99_us: float


@final
class Counters:
    """The runtime's running tally; the runtime's modules bump the fields directly.

    Attributes:
        steps: steps that committed.
        errors: ``Error`` directives executed, plus crashes.
        crashes: steps and directive handlers that raised (each met its agent's policy).
        restarts: restarts by a ``Restart`` policy.
        problems: directives that could not be executed.
        dead_letters: signals that were never handled (see ``AsyncRuntime.dead_letters``).
        latencies: the latencies of the most recent steps that committed (step plus
            directives), in microseconds.
    """

    __slots__ = (
        "crashes",
        "dead_letters",
        "errors",
        "latencies",
        "problems",
        "restarts",
        "steps",
    )

    def __init__(self) -> None:
        self.steps = 0
        self.errors = 0
        self.crashes = 0
        self.restarts = 0
        self.problems = 0
        self.dead_letters = 0
        self.latencies: deque[float] = deque(maxlen=10_000)

    def snapshot(
        self,
        servers: Iterable[Server],
        hibernated: int = 0,
        lingering: Collection[asyncio.Task[None]] = (),
    ) -> RuntimeStatistics:
        """The tally, with the depths and running effects of ``servers`` (the runtime's,
        stopped ones included: only running ones count as agents), how many agents are
        ``hibernated``, and the ``lingering`` effects: those a stopping step invoked, which
        run on after their agent's server is gone (each counted once, whether or not its
        stopped server is still listed)."""
        servers = list(servers)
        effects = set(lingering)
        for s in servers:
            effects.update(s.effects)
        lat = sorted(self.latencies)
        running = [s for s in servers if not s.stopped]
        return RuntimeStatistics(
            agents=len(running),
            hibernated=hibernated,
            # Signals accepted and still being journalled take room too: they count.
            mailbox_depths=FrozenMap(
                {s.agent.id: len(s.mailbox.items) + s.mailbox.incoming for s in running}
            ),
            steps=self.steps,
            errors=self.errors,
            crashes=self.crashes,
            restarts=self.restarts,
            problems=self.problems,
            dead_letters=self.dead_letters,
            in_flight_effects=len(effects),
            step_latency_p50_us=_percentile(lat, 0.50),
            step_latency_p90_us=_percentile(lat, 0.90),
            step_latency_p99_us=_percentile(lat, 0.99),
        )


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return math.nan
    k = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[k]


@final
class Spans:
    """The runtime's OpenTelemetry spans, from ``provider`` (the global one if ``None`` or
    the API's proxy for it, which ``trace.get_tracer_provider()`` returns before an SDK is
    configured).

    Callers check :attr:`enabled` before asking for a span: with no SDK configured the API
    hands out no-op spans, and skipping them entirely keeps the hot path free of their
    (small, per-directive) cost.
    """

    __slots__ = ("_global", "_tracer", "enabled")

    def __init__(self, provider: trace.TracerProvider | None) -> None:
        # The API's proxy provider stands for the global one until an SDK is configured:
        # given one (``trace.get_tracer_provider()`` taken early), follow the global one.
        self._global = provider is None or isinstance(provider, trace.ProxyTracerProvider)
        self.enabled = False
        self._tracer: trace.Tracer = trace.NoOpTracer()
        self._use(provider or trace.get_tracer_provider())

    def _use(self, provider: trace.TracerProvider) -> None:
        self.enabled = not isinstance(
            provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider
        )
        self._tracer = provider.get_tracer("jido")

    def refresh(self) -> None:
        """Follow the global provider configured since (an SDK set up after the runtime was
        built). Called where agents start, not per step: the check is not free."""
        if self._global and not self.enabled:
            self._use(trace.get_tracer_provider())

    def enter_step(
        self, agent_id: str, sig: Signal
    ) -> tuple[AbstractContextManager[trace.Span], trace.Span, Signal]:
        """Open (enter) the span of a step handling ``sig``: a child of the trace context
        ``sig`` carries (a malformed one is ignored: the span starts a trace). Returns the
        span's context manager, for the caller to exit after the step, the span, and ``sig``
        carrying the new span's context, for what the step's directives make (see
        :meth:`retrace` for what the core stamped in it)."""
        span_cm = self._tracer.start_as_current_span(
            f"jido.step {_shown(sig.type)}",
            context=_extract(sig),
            attributes={"jido.agent.id": agent_id, "jido.signal.type": _shown(sig.type)},
        )
        span = span_cm.__enter__()
        return span_cm, span, self.carry(sig, replace=True)

    def retrace(
        self, directives: tuple[Directive, ...], handled: Signal, traced: Signal
    ) -> tuple[Directive, ...]:
        """``directives``, from a step that handled ``handled``, with the trace context the
        signals stamped in the step inherited from it replaced by ``traced``'s (the step
        span's): those of ``Emit``, ``Schedule`` and ``Cron``, and those a
        :class:`~jido.CustomDirective` holds (in its fields, or tuples they hold). The core
        stamps from the signal it is given, and it is given ``handled`` itself, as a replay
        of the journal will be; a signal whose action set a trace context of its own, or
        that the step did not stamp, is left as it is."""
        old = _trace_of(handled)
        new = {k: v for k, v in traced.extensions.items() if k in _TRACE_KEYS}

        def moved(s: Signal) -> Signal:
            ext = s.extensions
            if ext.get("causationid") != handled.id or _trace_of(s) != old:
                return s
            bare = {k: v for k, v in ext.items() if k not in _TRACE_KEYS}
            return attrs.evolve(s, extensions={**bare, **new})

        out: list[Directive] = []
        for d in directives:
            if type(d) is Emit or type(d) is Schedule or type(d) is Cron:
                s = moved(d.signal)
                if s is not d.signal:
                    d = attrs.evolve(d, signal=s)
            elif isinstance(d, CustomDirective):
                d = _custom_retraced(d, moved)
            out.append(d)
        return tuple(out)

    def carry(self, sig: Signal, *, replace: bool = False) -> Signal:
        """``sig`` carrying the current span's trace context (unless it carries one of its
        own and ``replace`` is false): what the runtime makes up while a span is current
        (lifecycle signals, a child's first timers) belongs to that span's trace.

        The trace context ``sig`` carried goes entirely: a ``tracestate`` belongs to the
        ``traceparent`` beside it, so one left over from a malformed (or replaced) trace
        context must not ride on into another trace. The current span's own trace state,
        which OTel took from a valid parent (a malformed one it drops), is what is sent on.
        """
        if not replace and "traceparent" in sig.extensions:
            return sig
        carrier: dict[str, str] = {}
        _propagator.inject(carrier)
        if not carrier:
            return sig
        bare = {k: v for k, v in sig.extensions.items() if k not in _TRACE_KEYS}
        return attrs.evolve(sig, extensions={**bare, **carrier})

    def cron_tick(self, agent_id: str, sig: Signal) -> Signal:
        """``sig``, a cron job's tick, in a trace of its own: the root span ``jido.cron``,
        linked to the span that registered the job (whose context ``sig`` carries). A
        job ticks for as long as its agent lives, and one trace per tick keeps the
        registering step's trace from growing for ever."""
        registered = trace.get_current_span(_extract(sig)).get_span_context()
        links = [trace.Link(registered)] if registered.is_valid else None
        bare = {k: v for k, v in sig.extensions.items() if k not in _TRACE_KEYS}
        with self._tracer.start_as_current_span(
            f"jido.cron {_shown(sig.type)}",
            context=Context(),  # a new trace, not the registering one
            links=links,
            attributes={"jido.agent.id": agent_id, "jido.signal.type": _shown(sig.type)},
        ):
            return self.carry(attrs.evolve(sig, extensions=bare), replace=True)

    def directive(self, agent_id: str, d: Directive) -> AbstractContextManager[trace.Span]:
        """The span of executing one directive."""
        return self._tracer.start_as_current_span(
            f"jido.directive {type(d).__name__}", attributes={"jido.agent.id": agent_id}
        )

    def effect(self, agent_id: str, d: Invoke) -> AbstractContextManager[trace.Span]:
        """The span of running one effect."""
        return self._tracer.start_as_current_span(
            f"jido.effect {d.effect}",
            attributes={"jido.agent.id": agent_id, "jido.effect.key": d.key},
        )


def failed(
    span: trace.Span,
    error: BaseException | str,
    message: str | None = None,
    *,
    status: str | None = None,
    with_cause: bool = True,
) -> None:
    """Mark ``span`` as failed: an ERROR status (described by ``status``, else by
    ``message``, else by ``error``), and the exception, if ``error`` is one, as an event
    (its message ``message``, if given: the runtime's own timeout, say, has none).

    An exception raised from another (``raise ... from``: an :class:`jido.ActionCrashed`
    and the action's exception) has that cause recorded too, as a second event (with the
    ``jido.exception.cause_of`` attribute), unless ``with_cause`` is false."""
    if isinstance(error, BaseException):
        if message is None:
            span.record_exception(error)
            message = str(error)
        else:
            span.record_exception(error, attributes={"exception.message": message})
        cause = error.__cause__ if with_cause else None
        if cause is not None:
            span.record_exception(cause, attributes={"jido.exception.cause_of": _name(error)})
    elif message is None:
        message = error
    span.set_status(trace.Status(trace.StatusCode.ERROR, status or message))


def cancelled(span: trace.Span, reason: str) -> None:
    """Mark ``span`` as cut short by the runtime (a stop, a shutdown): not a failure of its
    own, so no ERROR status; the ``jido.cancelled`` attribute and an event say so."""
    span.set_attribute("jido.cancelled", True)
    span.add_event("jido.cancelled", {"jido.reason": reason})


def _name(exc: BaseException) -> str:
    t = type(exc)
    return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


#: The most of a signal's type a span's name and attribute show: a type may come from
#: outside, as long as its sender likes, and every span of its steps would carry it whole.
TYPE_SHOWN: Final = 200


def _shown(type_: str) -> str:
    return type_ if len(type_) <= TYPE_SHOWN else f"{type_[: TYPE_SHOWN - 3]}..."


def _custom_retraced(d: CustomDirective, moved: Callable[[Signal], Signal]) -> CustomDirective:
    # The signals a user-defined directive holds, where the core stamps them (see
    # ``jido._stamp``): in its fields, or in tuples its fields hold.
    changes: dict[str, object] = {}
    for f in attrs.fields(type(d)):
        if not f.init:
            continue  # made by the class itself (from the fields it is given), not given
        value = getattr(d, f.name)
        if type(value) is Signal:
            s = moved(value)
            if s is not value:
                changes[str(f.alias)] = s
        elif type(value) is tuple and any(type(v) is Signal for v in value):
            items = tuple(moved(v) if type(v) is Signal else v for v in value)
            if any(a is not b for a, b in zip(items, value, strict=True)):
                changes[str(f.alias)] = items
    if not changes:
        return d
    try:
        return attrs.evolve(d, **changes)
    except Exception:
        # A class that cannot be built again from its fields: the directive goes on as it
        # is (its signals in the sender's trace), rather than not at all.
        return d


def _trace_of(sig: Signal) -> tuple[object, object]:
    ext = sig.extensions
    return ext.get("traceparent"), ext.get("tracestate")


def _extract(sig: Signal) -> Context | None:
    # Only strings can be trace context (a signal may carry anything in its extensions), and
    # a propagator that chokes on one must not stop the step: the span then starts a trace.
    carrier = {k: v for k, v in sig.extensions.items() if type(v) is str}
    try:
        return _propagator.extract(carrier)
    except Exception:
        return None
