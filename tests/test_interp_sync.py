"""SyncRuntime: lifecycle, every built-in directive, custom directives, runaways, the trace."""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Iterable
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import attrs
import pytest

from jido import (
    CHILD_EXIT,
    CHILD_STARTED,
    ORPHANED,
    SENSOR_EXIT,
    ActionResult,
    AgentSpec,
    Context,
    CustomDirective,
    Emit,
    Error,
    FrozenMap,
    InvalidSignal,
    Invoke,
    JsonValue,
    NoParams,
    Problem,
    ProblemKind,
    Route,
    Signal,
    Stop,
    action,
    adopt_child,
    cron,
    cron_cancel,
    emit,
    emit_to,
    emit_to_parent,
    emit_to_sink,
    freeze,
    invoke,
    ok,
    schedule,
    spawn_agent,
    start_sensor,
    stop,
    stop_child,
    stop_sensor,
    thaw,
)
from jido.serde import DecodeError
from jido_interpreters import (
    DEFAULT_EPOCH,
    AsyncRuntime,
    RunawayError,
    Simulation,
    SyncRuntime,
    TraceEntry,
    UnknownAgent,
    trace_from_jsonl,
    trace_to_jsonl,
)

# ---------------------------------------------------------------- a probe agent


@attrs.frozen
class Probe:
    """Counts, and logs every signal routed to ``record``."""

    count: int = 0
    log: tuple[Signal, ...] = ()


@attrs.frozen
class By:
    by: int = 1


@attrs.frozen
class To:
    to: str


@attrs.frozen
class Call:
    effect: str
    args: FrozenMap[str, JsonValue] = attrs.field(factory=FrozenMap)


@attrs.frozen
class Later:
    delay: float
    tag: str = ""


@attrs.frozen
class CronReq:
    expression: str
    job: str = "job"
    timezone: str = "UTC"


@attrs.frozen
class Job:
    job: str = "job"


@attrs.frozen
class Tag:
    tag: str
    spec: str = "probe"


@attrs.frozen
class Adopt:
    child_id: str
    tag: str


@attrs.frozen
class SensorReq:
    sensor: str
    tag: str
    config: FrozenMap[str, JsonValue] = attrs.field(factory=FrozenMap)


@attrs.frozen(kw_only=True)
class Ping(CustomDirective):
    """A user-defined directive."""

    n: int = 0


@action()
def record(state: Probe, _: NoParams, ctx: Context) -> ActionResult[Probe]:
    assert ctx.signal is not None
    return ok(attrs.evolve(state, log=(*state.log, ctx.signal)))


@action(params=By)
def count(state: Probe, p: By, ctx: Context) -> ActionResult[Probe]:
    return ok(attrs.evolve(state, count=state.count + p.by))


@action()
def emit_self(state: Probe, _: NoParams, ctx: Context) -> ActionResult[Probe]:
    return ok(None, emit("probe.note", {"via": "self"}))


@action()
def emit_parent(state: Probe, _: NoParams, ctx: Context) -> ActionResult[Probe]:
    return ok(None, emit_to_parent("probe.note", {"via": "parent"}))


@action(params=To)
def emit_agent(state: Probe, p: To, ctx: Context) -> ActionResult[Probe]:
    return ok(None, emit_to(p.to, "probe.note", {"via": "agent"}))


@action(params=To)
def emit_sink(state: Probe, p: To, ctx: Context) -> ActionResult[Probe]:
    return ok(None, emit_to_sink(p.to, "probe.note", {"via": "sink"}))


@action(params=Call)
def call_effect(state: Probe, p: Call, ctx: Context) -> ActionResult[Probe]:
    return ok(
        None,
        invoke(p.effect, p.args, on_ok="probe.ok", on_error="probe.failed", context={"req": 7}),
    )


@action(params=Later)
def later(state: Probe, p: Later, ctx: Context) -> ActionResult[Probe]:
    return ok(None, schedule(p.delay, "probe.note", {"tag": p.tag}))


@action(params=CronReq)
def start_cron(state: Probe, p: CronReq, ctx: Context) -> ActionResult[Probe]:
    return ok(None, cron(p.expression, "probe.tick", job_id=p.job, timezone=p.timezone))


@action(params=Job)
def cancel_cron(state: Probe, p: Job, ctx: Context) -> ActionResult[Probe]:
    return ok(None, cron_cancel(p.job))


@action(params=Tag)
def spawn(state: Probe, p: Tag, ctx: Context) -> ActionResult[Probe]:
    return ok(None, spawn_agent(p.spec, p.tag))


@action(params=Tag)
def kill_child(state: Probe, p: Tag, ctx: Context) -> ActionResult[Probe]:
    return ok(None, stop_child(p.tag, reason="enough"))


@action(params=Adopt)
def adopt(state: Probe, p: Adopt, ctx: Context) -> ActionResult[Probe]:
    return ok(None, adopt_child(p.child_id, p.tag))


@action(params=SensorReq)
def sense(state: Probe, p: SensorReq, ctx: Context) -> ActionResult[Probe]:
    return ok(None, start_sensor(p.sensor, p.tag, p.config))


@action(params=Tag)
def unsense(state: Probe, p: Tag, ctx: Context) -> ActionResult[Probe]:
    return ok(None, stop_sensor(p.tag))


@action()
def halt(state: Probe, _: NoParams, ctx: Context) -> ActionResult[Probe]:
    return ok(
        None,
        emit("probe.note", {"when": "before stop"}),
        stop("done"),
        emit("probe.note", {"when": "after stop"}),
    )


@action()
def loop(state: Probe, _: NoParams, ctx: Context) -> ActionResult[Probe]:
    return ok(None, emit("probe.loop"))


@action()
def ping(state: Probe, _: NoParams, ctx: Context) -> ActionResult[Probe]:
    return ok(None, Ping(n=3))


PROBE: AgentSpec[Probe] = AgentSpec(
    name="probe",
    state=Probe,
    routes=[
        Route(pattern="probe.count", target=count),
        Route(pattern="probe.emit.self", target=emit_self),
        Route(pattern="probe.emit.parent", target=emit_parent),
        Route(pattern="probe.emit.agent", target=emit_agent),
        Route(pattern="probe.emit.sink", target=emit_sink),
        Route(pattern="probe.invoke", target=call_effect),
        Route(pattern="probe.schedule", target=later),
        Route(pattern="probe.cron", target=start_cron),
        Route(pattern="probe.cron.cancel", target=cancel_cron),
        Route(pattern="probe.spawn", target=spawn),
        Route(pattern="probe.stop-child", target=kill_child),
        Route(pattern="probe.adopt", target=adopt),
        Route(pattern="probe.sensor.start", target=sense),
        Route(pattern="probe.sensor.stop", target=unsense),
        Route(pattern="probe.halt", target=halt),
        Route(pattern="probe.loop", target=loop),
        Route(pattern="probe.ping", target=ping),
        Route(pattern="probe.note", target=record),
        Route(pattern="probe.tick", target=record),
        Route(pattern="probe.ok", target=record),
        Route(pattern="probe.failed", target=record),
        Route(pattern="probe.pong", target=record),
        Route(pattern="jido.agent.**", target=record),
    ],
)


def log_of(rt: SyncRuntime, agent_id: str, type: str | None = None) -> list[Signal]:
    """The signals the agent recorded (optionally only those of one type)."""
    log: tuple[Signal, ...] = rt.state(agent_id).log
    return [s for s in log if type is None or s.type == type]


def data(s: Signal) -> Any:
    """A signal's data as plain dicts and lists."""
    return thaw(s.data)


def problems_of_kind(rt: SyncRuntime, kind: ProblemKind) -> list[Problem]:
    return [p for p in rt.problems if p.kind is kind]


def started(*ids: str, **kw: Any) -> SyncRuntime:
    rt = SyncRuntime([PROBE], **kw)
    for agent_id in ids:
        rt.start(PROBE, agent_id)
    return rt


# ---------------------------------------------------------------- the trace as JSON lines


def test_a_trace_round_trips_through_json_lines() -> None:
    """``trace_to_jsonl`` then ``trace_from_jsonl`` gives the trace back, entry for entry;
    reading it without the spec its agents run is a DecodeError naming that spec."""
    rt = started("p")
    rt.send("p", "probe.count", {"by": 2})
    rt.send("p", "probe.emit.self")
    text = trace_to_jsonl(rt.trace)
    assert trace_from_jsonl(text, [PROBE]) == rt.trace
    with pytest.raises(DecodeError, match="trace line 1: no spec named 'probe' was given"):
        trace_from_jsonl(text, [])


@pytest.mark.parametrize(
    ("field", "bad", "says"),
    [
        ("index", "zero", "index 'zero' is not an integer >= 0"),
        ("index", 1.5, "index 1.5 is not an integer >= 0"),
        ("index", -5, "index -5 is not an integer >= 0"),
        ("index", True, "index True is not an integer >= 0"),
        ("at", "later", "at 'later' is not a number of seconds >= 0"),
        ("at", None, "at None is not a number of seconds >= 0"),
        ("at", -1.0, "at -1.0 is not a number of seconds >= 0"),
        ("at", 1e999, "at inf is not a number of seconds >= 0"),
        ("agent_id", 42, "agent_id 42 is not a string"),
    ],
)
def test_a_trace_entry_with_a_field_of_the_wrong_type_is_a_decode_error(
    field: str, bad: object, says: str
) -> None:
    """Each field of an entry is checked as it is read: an ``index``, ``at`` or
    ``agent_id`` of the wrong type or out of range is a DecodeError naming the line and
    the field, not an entry holding it."""
    rt = started("p")
    rt.send("p", "probe.count", {"by": 2})
    rt.send("p", "probe.count", {"by": 3})
    first, second = trace_to_jsonl(rt.trace).splitlines()
    raw = json.loads(second)
    raw[field] = bad
    # Written as JSON has it: json.dumps spells an infinite float "Infinity", which is not JSON.
    line = json.dumps(raw).replace("Infinity", "1e999")
    with pytest.raises(DecodeError, match=re.escape(f"trace line 2: {says}")):
        trace_from_jsonl(f"{first}\n{line}\n", [PROBE])


# ---------------------------------------------------------------- lifecycle


def test_start_returns_a_fresh_agent_with_the_spec_defaults() -> None:
    """start() gives version 0, the default state, and lists the agent as running."""
    rt = SyncRuntime()
    agent = rt.start(PROBE, "p")
    assert (agent.id, agent.spec, agent.version, agent.state) == ("p", "probe", 0, Probe())
    assert rt.agent_ids == ("p",)
    assert rt.agent("p") == agent


def test_start_with_initial_state_merges_it_over_the_defaults() -> None:
    """start(state=mapping) merges the mapping over the state defaults."""
    rt = SyncRuntime([PROBE])
    assert rt.start("probe", "p", {"count": 5}).state == Probe(count=5)


def test_start_rejects_a_duplicate_id_and_an_unknown_spec_name() -> None:
    """A second agent with the same id is a ValueError; an unknown spec name a LookupError."""
    rt = started("p")
    with pytest.raises(ValueError, match="already running"):
        rt.start(PROBE, "p")
    with pytest.raises(LookupError, match="nope"):
        rt.start("nope", "q")


def test_send_runs_until_idle_and_state_reads_the_result() -> None:
    """send() handles the signal and everything it caused before returning."""
    rt = started("p")
    rt.send("p", "probe.count", {"by": 2})
    rt.send("p", "probe.emit.self")
    assert rt.state("p").count == 2
    assert [data(s) for s in log_of(rt, "p")] == [{"via": "self"}]
    assert rt.agent("p").version == 3  # count, emit_self, record


def test_call_returns_the_agent_right_after_its_own_step() -> None:
    """call() returns the agent as it was right after the called signal, not after idle."""
    rt = started("p")
    after_call = rt.call("p", "probe.emit.self")
    assert after_call.state.log == ()  # the note it emitted was handled later
    assert len(log_of(rt, "p")) == 1  # ...but before call() returned


def test_call_on_an_agent_that_stops_before_handling_raises_unknown_agent() -> None:
    """call() raises UnknownAgent when the agent stopped before handling the signal."""
    rt = started("p")
    rt.cast("p", "probe.halt")
    with pytest.raises(UnknownAgent):
        rt.call("p", "probe.count")


def test_cast_queues_without_running_until_asked() -> None:
    """cast() only queues; run_until_idle() handles the queue and counts what it handled."""
    rt = started("p")
    sig = rt.cast("p", "probe.count", {"by": 4})
    assert sig.type == "probe.count"
    assert rt.state("p").count == 0
    rt.cast("p", "probe.emit.self")
    assert rt.run_until_idle() == 3  # two cast signals and the note one of them emitted
    assert rt.state("p").count == 4
    assert rt.run_until_idle() == 0


def test_external_signals_get_deterministic_ids_and_the_virtual_time() -> None:
    """Signals made by the runtime have ids ext-0, ext-1... and the current virtual time."""
    rt = started("p")
    first = rt.cast("p", "probe.count")
    rt.advance(90)
    second = rt.cast("p", "probe.count")
    assert (first.id, second.id) == ("ext-0", "ext-1")
    assert first.time == DEFAULT_EPOCH
    assert second.time == DEFAULT_EPOCH + timedelta(seconds=90)
    assert rt.now == DEFAULT_EPOCH + timedelta(seconds=90)


def test_stop_removes_the_agent_and_later_sends_raise_unknown_agent() -> None:
    """stop() ends the agent; reading, sending to or stopping it again raise UnknownAgent."""
    rt = started("p", "q")
    rt.stop("p")
    assert rt.agent_ids == ("q",)
    with pytest.raises(UnknownAgent):
        rt.state("p")
    with pytest.raises(UnknownAgent):
        rt.send("p", "probe.count")
    with pytest.raises(UnknownAgent):
        rt.cast("p", "probe.count")
    with pytest.raises(UnknownAgent):
        rt.stop("p")


def test_unrouted_signal_is_an_error_directive_and_changes_nothing() -> None:
    """A signal no route matches yields a routing Error directive; the state is untouched."""
    rt = started("p")
    rt.send("p", "nobody.listens")
    (entry,) = rt.trace
    assert entry.after == entry.before
    assert [p.kind for p in _errors(entry.directives)] == [ProblemKind.ROUTING]
    assert rt.problems == ()  # an Error directive is the agent's answer, not a runtime problem


def _errors(directives: Iterable[object]) -> list[Problem]:
    return [d.problem for d in directives if isinstance(d, Error)]


# ---------------------------------------------------------------- Emit


def test_emit_to_self_is_delivered_to_the_emitter() -> None:
    """Emit to self queues the signal for the same agent, stamped with the agent as source."""
    rt = started("p")
    rt.send("p", "probe.emit.self")
    (note,) = log_of(rt, "p", "probe.note")
    assert data(note) == {"via": "self"}
    assert note.source != "jido:draft"
    assert note.causation_id == "ext-0"


def test_emit_to_parent_reaches_the_parent() -> None:
    """A spawned child's Emit to parent is delivered to the parent."""
    rt = started("p")
    rt.send("p", "probe.spawn", {"tag": "kid"})
    rt.send("p/kid", "probe.emit.parent")
    assert [data(s) for s in log_of(rt, "p", "probe.note")] == [{"via": "parent"}]
    assert log_of(rt, "p/kid", "probe.note") == []


def test_emit_to_another_agent_reaches_it() -> None:
    """Emit to an agent id delivers to that agent only."""
    rt = started("a", "b")
    rt.send("a", "probe.emit.agent", {"to": "b"})
    assert [data(s) for s in log_of(rt, "b", "probe.note")] == [{"via": "agent"}]
    assert log_of(rt, "a") == []


def test_emit_to_a_named_sink_is_collected_there() -> None:
    """Emit to a configured sink appends the signal to that sink, not to any agent."""
    rt = started("p", sinks=["audit", "other"])
    rt.send("p", "probe.emit.sink", {"to": "audit"})
    (sig,) = rt.sink("audit")
    assert (sig.type, data(sig)) == ("probe.note", {"via": "sink"})
    assert rt.sink("other") == ()
    assert log_of(rt, "p") == []


def test_emit_to_parent_without_a_parent_is_a_directive_problem() -> None:
    """Emit to parent from a parentless agent is a directive problem in the trace, no crash."""
    rt = started("p")
    rt.send("p", "probe.emit.parent")
    (entry,) = rt.trace
    (problem,) = entry.problems
    assert problem.kind is ProblemKind.DIRECTIVE
    assert "no parent" in problem.message
    assert rt.problems == (problem,)
    assert rt.agent_ids == ("p",)


def test_emit_to_an_unknown_agent_is_a_problem_and_a_dead_letter() -> None:
    """Emit to an agent that is not running: a directive problem, and the signal dead-lettered."""
    rt = started("p")
    rt.send("p", "probe.emit.agent", {"to": "ghost"})
    (problem,) = rt.trace[-1].problems
    assert problem.kind is ProblemKind.DIRECTIVE
    assert "ghost" in problem.message
    ((target, sig),) = rt.dead_letters
    assert (target, sig.type) == ("ghost", "probe.note")


def test_emit_to_an_unknown_sink_is_a_problem() -> None:
    """Emit to a sink the runtime was not given is a directive problem naming the sink."""
    rt = started("p", sinks=["audit"])
    rt.send("p", "probe.emit.sink", {"to": "nowhere"})
    (problem,) = rt.trace[-1].problems
    assert problem.kind is ProblemKind.DIRECTIVE
    assert "nowhere" in problem.message
    assert rt.sink("audit") == ()
    with pytest.raises(KeyError):
        rt.sink("nowhere")


# ---------------------------------------------------------------- Invoke


def test_invoke_delivers_the_handler_result_as_on_ok() -> None:
    """A handler's return value comes back as on_ok with result, effect, key and context."""
    calls: list[FrozenMap[str, JsonValue]] = []

    def lookup(args: FrozenMap[str, JsonValue]) -> object:
        calls.append(args)
        return {"answer": 42, "items": [1, 2]}

    rt = started("p", effects={"lookup": lookup})
    rt.send("p", "probe.invoke", {"effect": "lookup", "args": {"q": "life"}})
    assert calls == [{"q": "life"}]
    (inv,) = [d for d in rt.trace[0].directives if isinstance(d, Invoke)]
    (reply,) = log_of(rt, "p", "probe.ok")
    assert data(reply) == {
        "result": {"answer": 42, "items": [1, 2]},
        "effect": "lookup",
        "key": inv.key,
        "context": {"req": 7},
    }
    assert log_of(rt, "p", "probe.failed") == []
    ((agent_id, logged, outcome),) = rt.effect_log
    assert (agent_id, logged) == ("p", inv)
    assert outcome == ("ok", freeze({"answer": 42, "items": [1, 2]}))


def test_invoke_delivers_a_raising_handler_as_on_error() -> None:
    """A handler that raises yields on_error with error.type and error.message."""

    def broken(args: FrozenMap[str, JsonValue]) -> object:
        raise ConnectionError("upstream down")

    rt = started("p", effects={"fetch": broken})
    rt.send("p", "probe.invoke", {"effect": "fetch"})
    (reply,) = log_of(rt, "p", "probe.failed")
    body = data(reply)
    assert body["error"] == {"type": "ConnectionError", "message": "upstream down"}
    assert (body["effect"], body["context"]) == ("fetch", {"req": 7})
    assert log_of(rt, "p", "probe.ok") == []
    assert rt.problems == ()  # a failing effect is an outcome, not an interpreter problem


def test_invoke_with_a_result_that_is_not_json_is_on_error() -> None:
    """A handler returning something not JSON-able yields on_error (InvalidResult)."""
    rt = started("p", effects={"odd": lambda args: {1, 2}})
    rt.send("p", "probe.invoke", {"effect": "odd"})
    (reply,) = log_of(rt, "p", "probe.failed")
    assert data(reply)["error"]["type"] == "InvalidResult"
    assert log_of(rt, "p", "probe.ok") == []


def test_invoke_of_an_unknown_effect_is_an_effect_problem_and_on_error() -> None:
    """An effect with no handler: an effect problem in the trace, and on_error delivered."""
    rt = started("p", effects={"known": lambda args: 1})
    rt.send("p", "probe.invoke", {"effect": "mystery"})
    (problem,) = rt.trace[0].problems
    assert problem.kind is ProblemKind.EFFECT
    assert "mystery" in problem.message
    (reply,) = log_of(rt, "p", "probe.failed")
    assert data(reply)["error"]["type"] == "UnknownEffect"
    assert data(reply)["effect"] == "mystery"


# ---------------------------------------------------------------- Schedule


def test_schedule_fires_on_advance_at_its_virtual_time_and_not_before() -> None:
    """A Schedule of 30 s fires once the clock reaches 30 s, stamped with that time."""
    rt = started("p")
    rt.send("p", "probe.schedule", {"delay": 30, "tag": "t"})
    assert rt.pending_timers() == 1
    assert rt.advance(29.5) == 0
    assert log_of(rt, "p") == []
    assert rt.advance(100) == 1  # overshooting still delivers it at its own time
    (note,) = log_of(rt, "p", "probe.note")
    assert data(note) == {"tag": "t"}
    assert note.time == DEFAULT_EPOCH + timedelta(seconds=30)
    assert rt.trace[-1].at == 30.0
    assert rt.now == DEFAULT_EPOCH + timedelta(seconds=129.5)
    assert rt.pending_timers() == 0


def test_virtual_time_is_kept_in_whole_microseconds() -> None:
    """Ten advances of 0.1 s move the clock 1 s on, and whatever was armed for then has
    fired: a Schedule of 1 s, one of 0.2 s armed at 0.8 s, a sensor's emission 0.3 s after
    0.7 s, a cron tick at every second. Virtual time is counted as the datetimes it
    reports, in whole microseconds (in floats, ten 0.1s add up to less than 1, and 0.8 +
    0.2 to no more than it)."""
    rt = started("p", sensors={"once": lambda config: [(0.3, "probe.note", {"tag": "sensed"})]})
    t0 = rt.now
    rt.send("p", "probe.schedule", {"delay": 1.0, "tag": "1 s"})
    rt.send("p", "probe.cron", {"expression": "* * * * * *", "job": "j"})
    for n in range(10):
        if n == 7:
            rt.send("p", "probe.sensor.start", {"sensor": "once", "tag": "s"})
        if n == 8:
            rt.send("p", "probe.schedule", {"delay": 0.2, "tag": "0.8 + 0.2"})
        rt.advance(0.1)
    assert rt.now - t0 == timedelta(seconds=1)
    fired = log_of(rt, "p")
    assert [data(s)["tag"] for s in fired if s.type == "probe.note"] == [
        "1 s",  # due at the same time: in the order they were armed
        "sensed",
        "0.8 + 0.2",
    ]
    assert {s.time for s in fired} == {rt.now}
    assert [s.type for s in fired].count("probe.tick") == 1
    assert rt.pending_timers() == 1  # the cron job's next tick, at 2 s
    assert rt.trace[-1].at == 1.0


@pytest.mark.parametrize(("step", "times", "delay"), [(1 / 3, 3, 1.0), (4e-7, 10, 2e-6)])
def test_advances_add_up_to_what_was_asked(step: float, times: int, delay: float) -> None:
    """Advancing in steps moves the clock as far as the steps add up to (each is not rounded
    to the microsecond on its own, which would lose time or never move at all), and a
    timer due within that time has fired."""
    rt = started("p")
    t0 = rt.now
    rt.send("p", "probe.schedule", {"delay": delay, "tag": "due"})
    for _ in range(times):
        rt.advance(step)
    assert rt.now - t0 == timedelta(microseconds=round(step * times * 1_000_000))
    assert [data(s)["tag"] for s in log_of(rt, "p") if s.type == "probe.note"] == ["due"]


def test_an_advance_a_step_cut_short_owes_nothing_to_the_next() -> None:
    """An advance that raises (a step crashed at 2 s of 10) leaves the clock where it
    stopped; the next advance goes on from there, not from where the failed one aimed."""
    rt = started("p")
    t0 = rt.now
    rt.send("p", "probe.schedule", {"delay": 2.0, "tag": "boom"})
    rt.send("p", "probe.schedule", {"delay": 5.0, "tag": "later"})
    real = rt._kernel._drain

    def crash_at_two() -> int:
        if rt._kernel.now == 2.0:
            raise RuntimeError("a step crashed")
        return real()

    rt._kernel._drain = crash_at_two  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        rt.advance(10)
    rt._kernel._drain = real  # type: ignore[method-assign]
    rt.advance(1)
    assert rt.now - t0 == timedelta(seconds=3)
    assert rt.pending_timers() == 1  # "later", at 5 s


def test_schedules_fire_in_time_order_whatever_order_they_were_made() -> None:
    """Two schedules fire in due-time order, not creation order."""
    rt = started("p")
    rt.send("p", "probe.schedule", {"delay": 20, "tag": "late"})
    rt.send("p", "probe.schedule", {"delay": 10, "tag": "early"})
    rt.advance(60)
    assert [data(s)["tag"] for s in log_of(rt, "p", "probe.note")] == ["early", "late"]


def test_advance_refuses_to_move_time_backwards() -> None:
    """advance() with a negative number of seconds is a ValueError."""
    rt = started("p")
    with pytest.raises(ValueError, match="forward"):
        rt.advance(-1)


@pytest.mark.parametrize("seconds", [math.inf, math.nan])
def test_advance_refuses_a_time_that_is_not_finite(seconds: float) -> None:
    """advance(inf) would tick a cron job for ever: a ValueError, and the clock stays put."""
    rt = started("p")
    rt.send("p", "probe.cron", {"expression": "* * * * *", "job": "j"})
    before = rt.now
    with pytest.raises(ValueError, match="not a finite number"):
        rt.advance(seconds)
    assert rt.now == before


def test_a_schedule_of_a_stopped_agent_does_not_fire() -> None:
    """Timers of an agent that stopped are dropped."""
    rt = started("p")
    rt.send("p", "probe.schedule", {"delay": 5})
    rt.stop("p")
    assert rt.pending_timers() == 0
    assert rt.advance(10) == 0
    assert rt.dead_letters == ()


def test_a_stopped_agents_schedule_does_not_fire_into_a_new_agent_with_its_id() -> None:
    """A Schedule armed before a stop is dropped, even if an agent restarts under that id."""
    rt = started("p")
    rt.send("p", "probe.schedule", {"delay": 5, "tag": "old"})
    rt.stop("p")
    rt.start(PROBE, "p")
    assert rt.pending_timers() == 0
    rt.send("p", "probe.schedule", {"delay": 8, "tag": "new"})
    rt.advance(10)
    assert [data(s)["tag"] for s in log_of(rt, "p", "probe.note")] == ["new"]


# ---------------------------------------------------------------- Cron


def test_cron_every_five_minutes_ticks_twice_in_ten_minutes() -> None:
    """'*/5 * * * *' from 00:00 ticks at 00:05 and 00:10, each tick a distinct signal."""
    rt = started("p")
    rt.send("p", "probe.cron", {"expression": "*/5 * * * *"})
    rt.advance(299)
    assert log_of(rt, "p", "probe.tick") == []
    rt.advance(301)
    ticks = log_of(rt, "p", "probe.tick")
    assert [t.time for t in ticks] == [
        DEFAULT_EPOCH + timedelta(minutes=5),
        DEFAULT_EPOCH + timedelta(minutes=10),
    ]
    assert len({t.id for t in ticks}) == 2
    assert [e.at for e in rt.trace if e.signal.type == "probe.tick"] == [300.0, 600.0]


def test_cron_respects_its_timezone() -> None:
    """'0 2 * * *' in Europe/Paris fires at 01:00 UTC in January (UTC+1)."""
    rt = started("p")
    rt.send("p", "probe.cron", {"expression": "0 2 * * *", "timezone": "Europe/Paris"})
    rt.advance(3599)
    assert log_of(rt, "p", "probe.tick") == []
    rt.advance(1)
    (tick,) = log_of(rt, "p", "probe.tick")
    assert tick.time == DEFAULT_EPOCH + timedelta(hours=1)


def test_cron_cancel_stops_the_ticks() -> None:
    """After cron_cancel no more ticks arrive and no timer stays armed."""
    rt = started("p")
    rt.send("p", "probe.cron", {"expression": "*/5 * * * *", "job": "j"})
    rt.advance(300)
    rt.send("p", "probe.cron.cancel", {"job": "j"})
    assert rt.pending_timers() == 0
    rt.advance(3600)
    assert len(log_of(rt, "p", "probe.tick")) == 1


def test_registering_a_cron_job_again_replaces_it() -> None:
    """A second Cron with the same job id replaces the first (no double ticks)."""
    rt = started("p")
    rt.send("p", "probe.cron", {"expression": "*/5 * * * *", "job": "j"})
    rt.send("p", "probe.cron", {"expression": "*/10 * * * *", "job": "j"})
    rt.advance(1200)
    ticks = log_of(rt, "p", "probe.tick")
    assert [t.time for t in ticks] == [
        DEFAULT_EPOCH + timedelta(minutes=10),
        DEFAULT_EPOCH + timedelta(minutes=20),
    ]


@pytest.mark.parametrize(
    ("request_data", "needle"),
    [
        ({"expression": "every tuesday"}, "invalid cron expression"),
        ({"expression": "61 * * * *"}, "invalid cron expression"),
        ({"expression": "*/5 * * * *", "timezone": "Mars/Olympus_Mons"}, "unknown timezone"),
    ],
)
def test_a_bad_cron_is_a_directive_problem_not_a_crash(
    request_data: dict[str, str], needle: str
) -> None:
    """An invalid cron expression or unknown timezone is a directive problem; nothing armed."""
    rt = started("p")
    rt.send("p", "probe.cron", request_data)
    (problem,) = rt.trace[-1].problems
    assert problem.kind is ProblemKind.DIRECTIVE
    assert needle in problem.message
    assert rt.pending_timers() == 0
    rt.advance(3600)
    assert log_of(rt, "p", "probe.tick") == []


# ---------------------------------------------------------------- the hierarchy


def test_spawn_agent_starts_a_child_and_tells_the_parent() -> None:
    """SpawnAgent starts '<parent>/<tag>' and the parent gets CHILD_STARTED."""
    rt = started("p")
    rt.send("p", "probe.spawn", {"tag": "kid"})
    assert rt.agent_ids == ("p", "p/kid")
    assert rt.children("p") == {"kid": "p/kid"}
    assert rt.parent("p/kid") == "p"
    (notice,) = log_of(rt, "p", CHILD_STARTED)
    assert data(notice) == {"child_id": "p/kid", "tag": "kid", "spec": "probe", "meta": {}}


def test_spawn_agent_with_an_unknown_spec_or_a_used_tag_is_a_problem() -> None:
    """Spawning an unregistered spec, or reusing a tag, is a directive problem, and the
    parent gets CHILD_EXIT for the tag at once, saying why (no CHILD_STARTED before it);
    the child running under the tag runs on, still the parent's."""
    rt = started("p")
    rt.send("p", "probe.spawn", {"tag": "x", "spec": "unicorn"})
    rt.send("p", "probe.spawn", {"tag": "kid"})
    rt.send("p", "probe.spawn", {"tag": "kid"})
    kinds = [p.kind for p in rt.problems]
    assert kinds == [ProblemKind.DIRECTIVE, ProblemKind.DIRECTIVE]
    assert "unicorn" in rt.problems[0].message
    assert rt.agent_ids == ("p", "p/kid")
    assert rt.children("p") == {"kid": "p/kid"}
    assert rt.parent("p/kid") == "p"
    assert [(s.type, data(s)) for s in log_of(rt, "p") if s.type.startswith("jido.")] == [
        (
            CHILD_EXIT,
            {
                "child_id": "p/x",
                "tag": "x",
                "reason": "not started: no spec named 'unicorn' to spawn",
            },
        ),
        (CHILD_STARTED, {"child_id": "p/kid", "tag": "kid", "spec": "probe", "meta": {}}),
        (
            CHILD_EXIT,
            {
                "child_id": "p/kid",
                "tag": "kid",
                "reason": "not started: an agent 'p/kid' already runs",
            },
        ),
    ]


def test_stop_child_stops_it_and_the_parent_gets_child_exit() -> None:
    """StopChild stops the child; the parent gets CHILD_EXIT with the reason."""
    rt = started("p")
    rt.send("p", "probe.spawn", {"tag": "kid"})
    rt.send("p", "probe.stop-child", {"tag": "kid"})
    assert rt.agent_ids == ("p",)
    assert rt.children("p") == {}
    (notice,) = log_of(rt, "p", CHILD_EXIT)
    assert data(notice) == {"child_id": "p/kid", "tag": "kid", "reason": "enough"}


def test_stop_child_with_an_unknown_tag_is_a_problem() -> None:
    """StopChild naming no child is a directive problem."""
    rt = started("p")
    rt.send("p", "probe.stop-child", {"tag": "nobody"})
    (problem,) = rt.trace[-1].problems
    assert problem.kind is ProblemKind.DIRECTIVE
    assert "nobody" in problem.message


def test_a_child_stopping_itself_tells_its_parent() -> None:
    """A child that executes Stop sends its parent CHILD_EXIT with its reason."""
    rt = started("p")
    rt.send("p", "probe.spawn", {"tag": "kid"})
    rt.send("p/kid", "probe.halt")
    (notice,) = log_of(rt, "p", CHILD_EXIT)
    assert data(notice)["reason"] == "done"
    assert rt.children("p") == {}


def test_stopping_a_parent_orphans_its_children() -> None:
    """Stopping a parent leaves its children running, parentless, told by ORPHANED."""
    rt = started("p")
    rt.send("p", "probe.spawn", {"tag": "a"})
    rt.send("p", "probe.spawn", {"tag": "b"})
    rt.stop("p", "shutdown")
    assert rt.agent_ids == ("p/a", "p/b")
    for child, tag in (("p/a", "a"), ("p/b", "b")):
        assert rt.parent(child) is None
        (notice,) = log_of(rt, child, ORPHANED)
        assert data(notice) == {"parent_id": "p", "tag": tag, "reason": "shutdown"}
    rt.send("p/a", "probe.emit.parent")  # an orphan has no parent to emit to
    assert "no parent" in rt.trace[-1].problems[0].message


def test_adopt_child_links_a_parentless_agent() -> None:
    """AdoptChild makes a running parentless agent a child; the parent gets CHILD_STARTED."""
    rt = started("a", "b")
    rt.send("a", "probe.adopt", {"child_id": "b", "tag": "adoptee"})
    assert rt.problems == ()
    assert rt.children("a") == {"adoptee": "b"}
    assert rt.parent("b") == "a"
    (notice,) = log_of(rt, "a", CHILD_STARTED)
    assert data(notice)["child_id"] == "b"
    rt.send("b", "probe.emit.parent")
    assert len(log_of(rt, "a", "probe.note")) == 1


@pytest.mark.parametrize(
    ("adopter", "child", "tag", "needle"),
    [
        ("a", "a", "me", "cannot adopt itself"),
        ("a", "p/kid", "kid2", "already has a parent"),
        ("p", "a", "kid", "already in use"),
        ("a", "ghost", "g", "no running agent"),
    ],
)
def test_adopt_child_rules_are_problems(adopter: str, child: str, tag: str, needle: str) -> None:
    """Self-adoption, an already parented child, a used tag, an unknown child: problems."""
    rt = started("p", "a")
    rt.send("p", "probe.spawn", {"tag": "kid"})
    rt.send(adopter, "probe.adopt", {"child_id": child, "tag": tag})
    (problem,) = rt.trace[-1].problems
    assert problem.kind is ProblemKind.DIRECTIVE
    assert needle in problem.message
    assert rt.children("p") == {"kid": "p/kid"}
    assert rt.children("a") == {}


# ---------------------------------------------------------------- sensors


def ticker(config: FrozenMap[str, JsonValue]) -> list[tuple[float, str, object]]:
    """A sensor: ``n`` notes, one every ``every`` seconds."""
    n, every = config.get("n", 3), config.get("every", 10)
    assert isinstance(n, int)
    assert isinstance(every, int)
    return [(every * (i + 1), "probe.note", {"i": i}) for i in range(n)]


def broken_sensor(config: FrozenMap[str, JsonValue]) -> list[tuple[float, str, object]]:
    raise OSError("device unplugged")


SENSORS = {"ticker": ticker, "broken": broken_sensor}


def test_a_sensor_emits_on_the_virtual_clock() -> None:
    """A started sensor's emissions arrive at their delays, from a sensor source."""
    rt = started("p", sensors=SENSORS)
    rt.send("p", "probe.sensor.start", {"sensor": "ticker", "tag": "t", "config": {"n": 3}})
    rt.advance(25)
    notes = log_of(rt, "p", "probe.note")
    assert [data(s) for s in notes] == [{"i": 0}, {"i": 1}]
    assert [s.time for s in notes] == [
        DEFAULT_EPOCH + timedelta(seconds=10),
        DEFAULT_EPOCH + timedelta(seconds=20),
    ]
    assert {s.source for s in notes} == {"jido://sensor/ticker"}
    rt.advance(100)
    assert len(log_of(rt, "p", "probe.note")) == 3


def test_stop_sensor_cancels_its_pending_emissions() -> None:
    """StopSensor drops the sensor's emissions that have not fired yet."""
    rt = started("p", sensors=SENSORS)
    rt.send("p", "probe.sensor.start", {"sensor": "ticker", "tag": "t", "config": {"n": 5}})
    rt.advance(15)
    rt.send("p", "probe.sensor.stop", {"tag": "t"})
    assert rt.pending_timers() == 0
    rt.advance(100)
    assert [data(s) for s in log_of(rt, "p", "probe.note")] == [{"i": 0}]


def test_a_generator_sensor_that_raises_delivers_what_it_yielded_first() -> None:
    """A generator sensor that yields readings and then raises: the readings arrive at
    their delays, then SENSOR_EXIT with the error, as an async one's on AsyncRuntime (on
    every virtual-time runtime alike)."""

    def flaky(config: FrozenMap[str, JsonValue]) -> Iterable[tuple[float, str, object]]:
        yield (1.0, "probe.note", {"i": 0})
        yield (2.0, "probe.note", {"i": 1})
        raise OSError("device unplugged")

    rt = started("p", sensors={"flaky": flaky})
    rt.send("p", "probe.sensor.start", {"sensor": "flaky", "tag": "f"})
    assert log_of(rt, "p", SENSOR_EXIT) == []
    rt.advance(1.5)
    assert log_of(rt, "p", SENSOR_EXIT) == []
    rt.advance(1)
    got = [s for s in log_of(rt, "p") if s.type in ("probe.note", SENSOR_EXIT)]
    assert [s.type for s in got] == ["probe.note", "probe.note", SENSOR_EXIT]
    assert [data(s) for s in got[:2]] == [{"i": 0}, {"i": 1}]
    assert data(got[2])["reason"] == "OSError: device unplugged"
    assert rt.pending_timers() == 0


def test_a_raising_sensor_sends_sensor_exit() -> None:
    """A sensor that raises is reported to its agent as SENSOR_EXIT with the reason."""
    rt = started("p", sensors=SENSORS)
    rt.send("p", "probe.sensor.start", {"sensor": "broken", "tag": "b"})
    (notice,) = log_of(rt, "p", SENSOR_EXIT)
    body = data(notice)
    assert (body["tag"], body["sensor"]) == ("b", "broken")
    assert "device unplugged" in body["reason"]
    assert rt.agent_ids == ("p",)


@pytest.mark.parametrize(
    ("output", "needle", "before"),
    [
        ([(1.0, "probe.note", None), (2.0, "not..a.type", None)], "InvalidSignal", 1),
        ([(1.0, "probe.note", {1, 2})], "InvalidSignal", 0),
        ([("soon", "probe.note", None)], "ValueError", 0),
        ([(1.0, "probe.note")], "ValueError", 0),
        ([(1.0, "probe.note", None), (math.nan, "probe.note", None)], "ValueError", 1),
        ([(-1.0, "probe.note", None)], "ValueError", 0),
        ([(math.inf, "probe.note", None)], "ValueError", 0),
    ],
)
def test_a_sensor_with_malformed_output_sends_sensor_exit(
    output: list[Any], needle: str, before: int
) -> None:
    """A sensor whose output is malformed (a delay that is not a finite number of seconds
    >= 0 included) ends like a raising one: what it produced before the malformed item
    arrives, then SENSOR_EXIT, no crash, and nothing left armed."""
    rt = started("p", sensors={"odd": lambda config: output})
    rt.send("p", "probe.sensor.start", {"sensor": "odd", "tag": "o"})
    rt.advance(10)
    got = [s.type for s in log_of(rt, "p") if s.type in ("probe.note", SENSOR_EXIT)]
    assert got == ["probe.note"] * before + [SENSOR_EXIT]
    (notice,) = log_of(rt, "p", SENSOR_EXIT)
    assert data(notice)["reason"].startswith(needle)
    assert rt.pending_timers() == 0


def test_an_unknown_sensor_is_a_directive_problem() -> None:
    """StartSensor naming no registered sensor is a directive problem."""
    rt = started("p", sensors=SENSORS)
    rt.send("p", "probe.sensor.start", {"sensor": "radar", "tag": "r"})
    (problem,) = rt.trace[-1].problems
    assert problem.kind is ProblemKind.DIRECTIVE
    assert "radar" in problem.message


# ---------------------------------------------------------------- Stop


def test_stop_drops_the_rest_of_the_steps_directives() -> None:
    """Directives after Stop in the same step are not executed."""
    rt = started("p")
    rt.send("p", "probe.halt")
    (entry,) = rt.trace
    assert [type(d) for d in entry.directives] == [Emit, Stop, Emit]
    assert rt.agent_ids == ()
    # The note emitted before Stop was queued and is now a dead letter; the one after never was.
    assert [(target, data(s)) for target, s in rt.dead_letters] == [("p", {"when": "before stop"})]


def test_signals_queued_for_a_stopped_agent_become_dead_letters() -> None:
    """Signals still queued when the agent stops are dead letters, not handled or lost."""
    rt = started("p")
    rt.cast("p", "probe.halt")
    first = rt.cast("p", "probe.count", {"by": 1})
    second = rt.cast("p", "probe.count", {"by": 2})
    assert rt.run_until_idle() == 1
    dead = [s for target, s in rt.dead_letters if target == "p"]
    assert first in dead
    assert second in dead
    assert [e.signal.type for e in rt.trace] == ["probe.halt"]


# ---------------------------------------------------------------- custom directives


def test_a_custom_directive_with_a_handler_delivers_its_signals() -> None:
    """A CustomDirective's handler gets (agent id, directive); its signals go to the agent."""
    seen: list[tuple[str, object]] = []

    def on_ping(agent_id: str, d: Ping) -> list[Signal]:
        seen.append((agent_id, d))
        return [Signal(type="probe.pong", source="test://ping", id=f"pong-{d.n}", data={"n": d.n})]

    rt = started("p", directives={Ping: on_ping})
    rt.send("p", "probe.ping")
    assert seen == [("p", Ping(n=3))]
    (pong,) = log_of(rt, "p", "probe.pong")
    assert (pong.id, data(pong)) == ("pong-3", {"n": 3})
    assert rt.problems == ()


@pytest.mark.parametrize(
    ("returned", "says"),
    [
        (None, "returned None, not an iterable of signals"),
        ("pong", "returned 'pong', not an iterable of signals"),
        (Signal(type="probe.pong", source="t", id="1"), "not an iterable of signals"),
        ([42], "produced 42, not a Signal"),
    ],
    ids=["none", "a-string", "a-lone-signal", "no-signal"],
)
@pytest.mark.parametrize("runtime", ["sync", "async"])
def test_what_a_directive_handler_cannot_deliver_is_one_problem(
    runtime: str, returned: object, says: str
) -> None:
    """A handler returning what is no iterable of signals, or an item that is no signal,
    gives one directive problem saying so, on every runtime: no crash for None, no
    problem per character of a string."""

    def on_ping(agent_id: str, d: Ping) -> Any:
        return returned

    if runtime == "sync":
        rt = started("p", directives={Ping: on_ping})
        rt.send("p", "probe.ping")
        trace = rt.trace
    else:

        async def main() -> tuple[TraceEntry, ...]:
            async with AsyncRuntime([PROBE], directives={Ping: on_ping}, record=True) as art:
                await art.start(PROBE, "p")
                await art.call("p", "probe.ping")
                await art.wait_idle(timeout=5)
                return tuple(art.trace)

        trace = asyncio.run(main())
    problems = [p for entry in trace for p in entry.problems]
    assert [p.kind for p in problems] == [ProblemKind.DIRECTIVE]
    assert says in problems[0].message
    assert [e.signal.type for e in trace] == ["probe.ping"]


def test_a_custom_directive_without_a_handler_is_a_directive_problem() -> None:
    """A CustomDirective nobody handles is a directive problem naming its class."""
    rt = started("p")
    rt.send("p", "probe.ping")
    (problem,) = rt.trace[-1].problems
    assert problem.kind is ProblemKind.DIRECTIVE
    assert "Ping" in problem.message
    assert rt.agent_ids == ("p",)


# ---------------------------------------------------------------- runaways


def test_an_agent_emitting_to_itself_forever_raises_runaway_error() -> None:
    """send() on an endless self-emitting loop raises RunawayError carrying max_steps."""
    rt = started("p", max_steps=50)
    with pytest.raises(RunawayError) as info:
        rt.send("p", "probe.loop")
    assert info.value.max_steps == 50
    assert info.value.pending >= 1
    assert len(rt.trace) == 50


def test_call_also_stops_a_runaway() -> None:
    """call() on an endless loop raises RunawayError too."""
    rt = started("p", max_steps=20)
    with pytest.raises(RunawayError):
        rt.call("p", "probe.loop")


# ---------------------------------------------------------------- the trace


def test_the_trace_records_signal_directives_and_the_agent_before_and_after() -> None:
    """Each trace entry holds the signal in, the directives out, and the agent before/after."""
    rt = started("p")
    sig = rt.signal("probe.count", {"by": 3})
    rt.send("p", sig)
    rt.send("p", "probe.emit.self")
    first, second, third = rt.trace
    assert (first.index, first.agent_id, first.signal, first.directives) == (0, "p", sig, ())
    assert (first.before.state.count, first.after.state.count) == (0, 3)
    assert (first.before.version, first.after.version) == (0, 1)
    (out,) = second.directives
    assert isinstance(out, Emit)
    assert second.before == first.after
    # The emitted signal, stamped by step, is exactly what the next entry handled.
    assert third.signal == out.signal
    assert third.after.state.log == (out.signal,)
    assert [e.at for e in rt.trace] == [0.0, 0.0, 0.0]


def test_record_false_keeps_no_trace_but_still_runs() -> None:
    """record=False runs agents as usual and keeps an empty trace."""
    rt = started("p", record=False)
    rt.send("p", "probe.count", {"by": 2})
    assert rt.trace == ()
    assert rt.state("p").count == 2


@pytest.mark.parametrize("reentry", ["advance", "send", "call", "run_until_idle", "stop", "start"])
def test_a_handler_calling_back_into_the_runtime_is_refused(reentry: str) -> None:
    """An effect handler that advanced the clock (or sent, called...) ran steps in the middle
    of another step's directives: the trace held a timer's step before the step that armed
    it. It is refused (the handler's error is the effect's on_error outcome); cast, which
    only queues for the run under way, is allowed."""
    holder: dict[str, SyncRuntime] = {}

    def reenter(args: FrozenMap[str, JsonValue]) -> int:
        rt = holder["rt"]
        match reentry:
            case "advance":
                rt.advance(10)
            case "send":
                rt.send("p", "probe.note")
            case "call":
                rt.call("p", "probe.note")
            case "run_until_idle":
                rt.run_until_idle()
            case "start":
                rt.start(PROBE, "q")
            case _:
                rt.stop("p")
        return 1

    def queue(args: FrozenMap[str, JsonValue]) -> int:
        holder["rt"].cast("p", "probe.note")
        return 2

    rt = holder["rt"] = started("p", effects={"reenter": reenter, "queue": queue})
    rt.send("p", "probe.invoke", {"effect": "reenter"})
    (failed,) = log_of(rt, "p", "probe.failed")
    assert data(failed)["error"] == {
        "type": "RuntimeError",
        "message": f"{reentry} was called while send runs steps (from an effect handler, a"
        " sink, a sensor or a directive handler?): the runtime is not re-entrant; cast"
        " queues a signal for the run under way",
    }
    assert rt.agent_ids == ("p",)
    rt.send("p", "probe.invoke", {"effect": "queue"})
    # Queued while the step's directives ran: ahead of the effect's outcome, queued after.
    assert [s.type for s in log_of(rt, "p")][-2:] == ["probe.note", "probe.ok"]


def test_what_is_sent_from_outside_is_refused_at_the_door() -> None:
    """A draft was accepted, then refused inside its step (with storage, a second draft was
    dropped as a resend of the first); data beside a signal was ignored."""
    rt = started("p")
    draft = Signal.draft("probe.note")
    finished = rt.signal("probe.note")
    sim = Simulation([PROBE])
    sim.start(PROBE, "p")
    for send in (rt.send, rt.cast, rt.call, sim.send):
        with pytest.raises(InvalidSignal, match="is an unstamped draft"):
            send("p", draft)
        with pytest.raises(
            TypeError, match=re.escape("data is given beside the signal 'probe.note'")
        ):
            send("p", finished, {"x": 1})
    assert log_of(rt, "p") == []
    assert rt.trace == ()


@pytest.mark.parametrize(
    ("forged", "says"),
    [
        (CHILD_EXIT, "type 'jido.agent.child.exit': is a lifecycle signal the runtime sends"),
        (
            Signal(type=CHILD_EXIT, source="/webhook", id="w1", data={"tag": "kid"}),
            "is a lifecycle signal the runtime sends",
        ),
        (
            Signal(type="probe.ok", source="jido://effect/pay", id="k:ok"),
            "source 'jido://effect/pay': is where the runtime's own signals come from",
        ),
        (
            Signal(type="probe.note", source="jido://agent/p", id="x"),
            "is where the runtime's own signals come from",
        ),
    ],
    ids=["lifecycle-type", "lifecycle-signal", "effect-outcome", "agent-emit"],
)
def test_what_passes_for_the_runtimes_own_is_refused_from_outside(
    forged: str | Signal, says: str
) -> None:
    """A lifecycle signal (``child.exit``: a parent made to believe a running child crashed),
    or a signal from a source the runtime's own come from (an effect outcome, whose id can
    be worked out from its cause's: with storage the real one was then dropped as a resend)
    is refused at every door. ``rt.signal``'s own (source ``jido://runtime``) still pass."""
    rt = started("p")
    sim = Simulation([PROBE])
    sim.start(PROBE, "p")
    for send in (rt.send, rt.cast, rt.call, sim.send):
        with pytest.raises(InvalidSignal, match=re.escape(says)):
            send("p", forged)
    assert log_of(rt, "p") == []
    rt.send("p", rt.signal("probe.note"))
    assert len(log_of(rt, "p")) == 1


@pytest.mark.parametrize(
    ("seconds", "error", "message"),
    [
        (True, TypeError, "seconds must be a real number, not True"),
        ("5", TypeError, "seconds must be a real number, not '5'"),
        (10**400, ValueError, "virtual time would pass 9999-12-30"),
        (Fraction(10**12), ValueError, "cannot advance 1e+12 s: virtual time would pass"),
    ],
)
def test_advance_refuses_what_is_no_number_of_seconds(
    seconds: Any, error: type[Exception], message: str
) -> None:
    rt = started("p")
    with pytest.raises(error, match=re.escape(message)):
        rt.advance(seconds)


def test_advance_takes_fractions_and_decimals_exactly() -> None:
    """Real numbers other than int and float were refused by the check of what is no number.
    They are taken exactly: 2.5 µs is a tie, rounded to the even 2 µs, where the float
    2.5e-06 (a hair above) would round to 3."""
    for exact in (Fraction(5, 2_000_000), Decimal("0.0000025")):
        rt = started("p")
        rt.advance(exact)
        assert rt.now == DEFAULT_EPOCH + timedelta(microseconds=2)
    rt = started("p")
    for _ in range(10):
        rt.advance(Fraction(1, 10))
    rt.advance(Decimal("0.5"))
    assert rt.now == DEFAULT_EPOCH + timedelta(seconds=1.5)


def test_the_links_of_an_agent_that_is_not_running_are_refused_as_on_async_runtime() -> None:
    """SyncRuntime answered ``{}`` and ``None`` for an id no agent held, where AsyncRuntime
    raises UnknownAgent: a typo looked like an agent without children."""
    rt = started("p")
    rt.send("p", "probe.spawn", {"tag": "kid"})
    rt.stop("p/kid")
    for ask in (rt.children, rt.parent):
        with pytest.raises(UnknownAgent):
            ask("p/kid")
        with pytest.raises(UnknownAgent):
            ask("nobody")
    assert rt.children("p") == {}
