"""Simulation: determinism, parity with SyncRuntime, every fault kind, invariants, the CLI."""

from __future__ import annotations

import json
import math
import os
import pickle
import random
import subprocess
import sys
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest
from tests.test_parity import BANK as BOSS
from tests.test_parity import SPECS as BOSS_SPECS
from typer.testing import CliRunner, Result

from jido import (
    CHILD_EXIT,
    CHILD_STARTED,
    RESTARTED,
    SENSOR_EXIT,
    ActionCrashed,
    ActionResult,
    AgentSpec,
    Context,
    CustomDirective,
    Error,
    FrozenMap,
    Invoke,
    JsonValue,
    NoParams,
    Route,
    Signal,
    action,
    cron,
    emit_to,
    emit_to_sink,
    invoke,
    ok,
    schedule,
    spawn_agent,
    start_sensor,
    stop,
    stop_child,
)
from jido.serde import Codec, DecodeError, EncodeError
from jido_examples import bank, contentops
from jido_interpreters import (
    NO_FAULTS,
    ActionCrash,
    AgentCrashed,
    AgentStarted,
    DeadLettered,
    Divergence,
    EffectDelayed,
    EffectFailed,
    EffectHandler,
    EffectReissued,
    FaultPlan,
    InvalidFaultPlan,
    InvariantViolated,
    MessageDelayed,
    MessageDropped,
    MessageDuplicated,
    MessageReordered,
    Scenario,
    SensorFn,
    SignalDelivered,
    Simulation,
    SimulationCrashed,
    SimulationResult,
    SyncRuntime,
    fault_plan_from_json,
    replay,
    simulate,
    simulation_to_jsonl,
    trace_failure,
    trace_spec,
    trace_to_jsonl,
)
from jido_interpreters.cli import app
from jido_interpreters.simulation_testing import first_failure

BANK = "jido_examples.bank:ACCOUNT"
ROOT = Path(__file__).resolve().parent.parent

# ---------------------------------------------------------------- small agents


@attrs.frozen
class Log:
    """The types of the signals an agent handled, in order."""

    seen: tuple[str, ...] = ()


@action()
def remember(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    assert ctx.signal is not None
    return ok(Log(seen=(*state.seen, ctx.signal.type)))


RECORDER = AgentSpec(name="recorder", state=Log, routes=[Route(pattern="note.*", target=remember)])


@attrs.frozen
class Ticks:
    armed: int = 0
    alarms: int = 0
    ticks: int = 0


@action()
def arm(state: Ticks, _: NoParams, ctx: Context) -> ActionResult[Ticks]:
    return ok(attrs.evolve(state, armed=state.armed + 1), schedule(5.0, "ticker.alarm"))


@action()
def ring(state: Ticks, _: NoParams, ctx: Context) -> ActionResult[Ticks]:
    return ok(attrs.evolve(state, alarms=state.alarms + 1))


@action()
def tick(state: Ticks, _: NoParams, ctx: Context) -> ActionResult[Ticks]:
    return ok(attrs.evolve(state, ticks=state.ticks + 1))


TICKER = AgentSpec(
    name="ticker",
    state=Ticks,
    routes=[
        Route(pattern="ticker.arm", target=arm),
        Route(pattern="ticker.alarm", target=ring),
        Route(pattern="ticker.tick", target=tick),
    ],
    schedules=[schedule(10.0, "ticker.tick")],
)


@attrs.frozen
class Outcomes:
    got: tuple[str, ...] = ()


@attrs.frozen
class Failed:
    error: FrozenMap[str, JsonValue]


@action()
def call(state: Outcomes, _: NoParams, ctx: Context) -> ActionResult[Outcomes]:
    return ok(state, invoke("fx.echo", {"x": 1}, on_ok="fx.ok", on_error="fx.failed"))


@action()
def succeeded(state: Outcomes, _: NoParams, ctx: Context) -> ActionResult[Outcomes]:
    return ok(Outcomes(got=(*state.got, "ok")))


@action(params=Failed)
def failed(state: Outcomes, p: Failed, ctx: Context) -> ActionResult[Outcomes]:
    return ok(Outcomes(got=(*state.got, f"failed:{p.error['type']}")))


CALLER = AgentSpec(
    name="caller",
    state=Outcomes,
    routes=[
        Route(pattern="fx.go", target=call),
        Route(pattern="fx.ok", target=succeeded),
        Route(pattern="fx.failed", target=failed),
    ],
)


@attrs.frozen
class Count:
    n: int = 0


@action()
def bump(state: Count, _: NoParams, ctx: Context) -> ActionResult[Count]:
    return ok(Count(state.n + 1))


@action()
def explode(state: Count, _: NoParams, ctx: Context) -> ActionResult[Count]:
    raise RuntimeError("a bug")


COUNTER = AgentSpec(
    name="counter",
    state=Count,
    routes=[
        Route(pattern="counter.bump", target=bump),
        Route(pattern="counter.explode", target=explode),
    ],
)


@action()
def doze(state: Ticks, _: NoParams, ctx: Context) -> ActionResult[Ticks]:
    """Arm an alarm, then stop before it rings."""
    return ok(attrs.evolve(state, armed=state.armed + 1), schedule(5.0, "ticker.alarm"), stop())


SLEEPER = AgentSpec(
    name="sleeper",
    state=Ticks,
    routes=[Route(pattern="ticker.arm", target=doze), Route(pattern="ticker.alarm", target=ring)],
)


@attrs.frozen
class Kid:
    child_id: str


@action(params=Kid)
def started(state: Count, p: Kid, ctx: Context) -> ActionResult[Count]:
    """Arm the first child only."""
    if state.n:
        return ok(Count(state.n + 1))
    return ok(Count(state.n + 1), emit_to(p.child_id, "ticker.arm"))


@action()
def respawn(state: Count, _: NoParams, ctx: Context) -> ActionResult[Count]:
    return ok(state, spawn_agent("sleeper", "kid"))


SPAWNER = AgentSpec(
    name="spawner",
    state=Count,
    routes=[
        Route(pattern="spawner.go", target=respawn),
        Route(pattern=CHILD_STARTED, target=started),
        Route(pattern=CHILD_EXIT, target=respawn),
    ],
)


def bumps(n: int, agent: str = "c") -> Scenario:
    def setup(sim: Simulation) -> None:
        sim.start(COUNTER, agent)
        for _ in range(n):
            sim.send(agent, "counter.bump")

    return Scenario(specs=[COUNTER], setup=setup)


def kinds(result: SimulationResult) -> list[str]:
    return [type(e).__name__ for e in result.events]


def delivered(result: SimulationResult) -> list[SignalDelivered]:
    return [e for e in result.events if isinstance(e, SignalDelivered)]


CHAOS = FaultPlan(drop=0.1, delay=0.1, duplicate=0.1, reorder=0.1, crash=0.05)

# ---------------------------------------------------------------- determinism


def test_same_seed_gives_byte_identical_traces() -> None:
    """Two runs with one seed, specs, inputs and fault plan serialize to the same bytes."""
    one = simulate(bank.SCENARIO, seed=11, faults=CHAOS)
    two = simulate(bank.SCENARIO, seed=11, faults=CHAOS)
    assert one.faults_injected, "the plan should have injected something"
    assert simulation_to_jsonl(one).encode() == simulation_to_jsonl(two).encode()
    assert trace_to_jsonl(one.entries) == trace_to_jsonl(two.entries)


def test_seeds_choose_different_interleavings() -> None:
    """Without faults, different seeds still deliver in different orders."""
    traces = {simulation_to_jsonl(simulate(bank.SCENARIO, seed=s)) for s in range(10)}
    assert len(traces) > 1


def test_a_larger_budget_records_the_same_events_first() -> None:
    """The budget only says where to stop: a longer run starts with the shorter one."""
    short = simulate(bank.SCENARIO, seed=4, faults=CHAOS, events=12)
    long = simulate(bank.SCENARIO, seed=4, faults=CHAOS, events=500)
    assert short.event_count == len(short.started) + 12  # the starts came before the run
    assert long.events[: short.event_count] == short.events
    assert not short.quiescent


def test_latency_zero_runs_exactly_as_sync_runtime() -> None:
    """With no latency and no faults the simulation delivers what SyncRuntime does, in order."""
    topics = {"topics": ["alpha", "beta gamma", "flaky one"]}
    rt = SyncRuntime(contentops.SPECS, effects=contentops.EFFECTS, sinks=["audit"])
    rt.start(contentops.ORCHESTRATOR, "orchestrator")
    rt.cast("orchestrator", "contentops.run.requested", topics)
    rt.run_until_idle()
    rt.advance(contentops.DEADLINE_SECONDS)
    sim = Simulation(contentops.SPECS, effects=contentops.EFFECTS, sinks=["audit"], latency=0)
    sim.start(contentops.ORCHESTRATOR, "orchestrator")
    sim.send("orchestrator", "contentops.run.requested", topics)
    result = sim.run(events=len(rt.trace))
    steps = delivered(result)
    assert [(e.agent_id, e.signal, e.after, e.directives) for e in steps] == [
        (e.agent_id, e.signal, e.after, e.directives) for e in rt.trace
    ]
    assert result.sinks["audit"] == rt.sink("audit")


@pytest.mark.parametrize("latency", [0.0, 0.001])
def test_inputs_arrive_in_the_order_of_their_send_times(latency: float) -> None:
    """An input sent at t=0 arrives before one sent at t=10, whichever ``send`` was
    called first; each carries the time it was sent."""
    sim = Simulation([RECORDER], seed=1, latency=latency)
    sim.start(RECORDER, "r")
    sim.send("r", "note.late", at=10.0)
    sim.send("r", "note.early", at=0.0)
    steps = delivered(sim.run())
    assert [s.signal.type for s in steps] == ["note.early", "note.late"]
    assert steps[0].at < 1.0 <= 10.0 <= steps[1].at


def test_an_inputs_time_is_the_virtual_clocks_across_daylight_saving() -> None:
    """Sent three hours into a day whose clocks go forward, an input is stamped three hours
    of absolute time after the epoch, as the virtual clock counts, not three on the wall."""
    epoch = datetime(2026, 3, 29, 0, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    sim = Simulation([RECORDER], epoch=epoch, latency=0)
    sim.start(RECORDER, "r")
    sig = sim.send("r", "note.x", at=3 * 3600.0)
    assert sig.time is not None
    assert sig.time.astimezone(UTC) == epoch.astimezone(UTC) + timedelta(hours=3)
    (step,) = delivered(sim.run())
    assert step.signal.time == sig.time


@action()
def count_tick(state: Count, _: NoParams, ctx: Context) -> ActionResult[Count]:
    return ok(Count(state.n + 1))


MINUTELY = AgentSpec(
    name="minutely",
    state=Count,
    routes=[Route(pattern="clock.tick", target=count_tick)],
    schedules=[cron("* * * * *", "clock.tick", job_id="minute")],
)


def test_progress_is_reported_now_and_then_in_a_run_of_timers() -> None:
    """A run whose events are all timer ticks still reports progress as it goes."""
    sim = Simulation([MINUTELY], seed=1, record=False)
    sim.start(MINUTELY, "m")
    calls: list[int] = []
    sim.run(3000, progress=calls.append)
    assert len(calls) >= 3
    assert calls == sorted(calls)
    assert calls[-1] >= 3000


# ---------------------------------------------------------------- a time bound


def minutely(events: int = 10_000, until: float | None = 3600.0) -> SimulationResult:
    sim = Simulation([MINUTELY], seed=1)
    sim.start(MINUTELY, "m")
    return sim.run(events, until=until)


def test_a_cron_job_runs_to_the_time_bound_and_the_run_ends_idle() -> None:
    """A system with a cron job always has a tick pending: bounded by ``until``, its run
    ends there (the ticks due by then delivered, the one due at the bound too, and the
    clock at the bound), not at the end of its event budget; it was idle there (only the
    next tick pending), not quiescent."""
    result = minutely(until=3600.0)
    assert [e.at for e in delivered(result)] == [60.0 * n for n in range(1, 61)]
    assert result.agents["m"].state.n == 60
    assert (result.now, result.until) == (3600.0, 3600.0)
    assert (result.quiescent, result.idle, result.out_of_events) == (False, True, False)


def test_whichever_bound_comes_first_ends_the_run() -> None:
    """A budget spent before ``until`` leaves the clock at the last event and says the run
    ran out of events (a budget spent exactly on the last event due by then does not); a
    run to ``until`` records the budget-bound run's events first, and a later bound the
    earlier one's."""
    short = minutely(events=10)
    assert (short.now, short.out_of_events, short.idle) == (600.0, True, True)
    exact = minutely(events=60)
    assert (exact.now, exact.out_of_events) == (3600.0, False)
    hour, day = minutely(), minutely(until=86_400.0)
    assert hour.events[: short.event_count] == short.events
    assert day.events[: hour.event_count] == hour.events
    assert day.event_count == len(day.started) + 24 * 60
    unbounded = minutely(events=200, until=None)
    assert unbounded.events[: hour.event_count] == hour.events
    assert (unbounded.until, unbounded.out_of_events, unbounded.now) == (None, True, 12_000.0)


def test_a_bounded_run_with_a_signal_still_in_flight_is_not_idle() -> None:
    """Idle is "nothing pending but timers": an input sent for after the bound is still on
    its way when the run ends, so the run is neither idle nor quiescent (and not cut short
    by its budget either)."""
    sim = Simulation([MINUTELY, RECORDER], seed=1)
    sim.start(MINUTELY, "m")
    sim.start(RECORDER, "r")
    sim.send("r", "note.late", at=100.0)
    result = sim.run(until=90.0)
    assert result.agents["r"].state.seen == ()
    assert result.now == 90.0
    assert (result.quiescent, result.idle, result.out_of_events) == (False, False, False)


def test_a_system_that_settles_before_the_bound_is_quiescent_at_the_bound() -> None:
    """The bank settles (its retry ticks stop once every credit is acknowledged): bounded
    later, its run is quiescent, and its clock still moves on to the bound, as
    ``SyncRuntime.advance`` moves it whatever happened in between."""
    result = simulate(bank.SCENARIO, seed=2, until=5.0)
    assert result.event_count == simulate(bank.SCENARIO, seed=2).event_count
    assert (result.now, result.quiescent, result.idle) == (5.0, True, True)


@pytest.mark.parametrize("until", [-1.0, math.nan, math.inf, 1e300, 10**400])
def test_a_time_bound_that_is_no_time_of_the_calendar_is_refused(until: float) -> None:
    """``until`` must be a finite number of seconds >= 0 and within the calendar; a refused
    run has not begun."""
    sim = Simulation([COUNTER], seed=1)
    with pytest.raises(ValueError, match="until"):
        sim.run(until=until)
    assert sim.run(until=1.0).now == 1.0


def test_records_senders() -> None:
    """Each delivery says where the signal came from."""
    result = simulate(bank.SCENARIO, seed=0)
    senders = {e.sender for e in delivered(result)}
    assert senders >= {"@input", "@timer", "alice", "bob", "carol"}


# ---------------------------------------------------------------- faults


def test_drop_is_recorded_and_loses_the_message() -> None:
    """A dropped input is never handled: the accounts keep their opening balances."""
    result = simulate(bank.SCENARIO, seed=1, faults=FaultPlan(drop=1.0))
    drops = [e for e in result.events if isinstance(e, MessageDropped)]
    assert [d.signal for d in drops] == [sig for _, _, sig in result.inputs]
    assert all(d.sender == "@input" for d in drops)
    assert bank.balances(result.agents) == {"alice": 100, "bob": 50, "carol": 0}
    assert '"kind":"dropped"' in simulation_to_jsonl(result)


def test_delay_is_recorded_and_delivers_at_its_time() -> None:
    """A delayed message arrives exactly when its fault event said, within max_delay."""
    sim = Simulation([RECORDER], seed=3, faults=FaultPlan(delay=1.0, max_delay=0.5))
    sim.start(RECORDER, "r")
    sim.send("r", "note.a")
    result = sim.run()
    (late,) = [e for e in result.events if isinstance(e, MessageDelayed)]
    assert late.at <= late.until <= late.at + 0.5
    (step,) = delivered(result)
    assert step.signal == late.signal
    assert step.at == late.until
    assert '"kind":"delayed"' in simulation_to_jsonl(result)


def test_what_falls_due_after_the_year_9999_never_happens() -> None:
    """Delays long enough to take virtual time past the last date a datetime holds end the
    run there (nothing pending can happen), rather than crash it; it replays identically."""
    plan = FaultPlan(delay=0.5, max_delay=1e12)
    result = simulate(bank.SCENARIO, seed=1, faults=plan, events=2000)
    assert not result.quiescent
    assert result.event_count < 2000
    assert result.now <= (datetime(9999, 12, 31, tzinfo=UTC) - result.epoch).total_seconds()
    assert replay(simulation_to_jsonl(result), bank.SCENARIO) is None


def test_duplicate_is_recorded_and_delivered_twice_once_only() -> None:
    """A duplicated message is handled twice; the copy is not duplicated again."""
    sim = Simulation([RECORDER], seed=5, faults=FaultPlan(duplicate=1.0))
    sim.start(RECORDER, "r")
    sim.send("r", "note.a")
    sim.send("r", "note.b")
    result = sim.run()
    assert sum(isinstance(e, MessageDuplicated) for e in result.events) == 2
    assert sorted(result.agents["r"].state.seen) == ["note.a", "note.a", "note.b", "note.b"]
    assert '"kind":"duplicated"' in simulation_to_jsonl(result)


def test_links_are_fifo_unless_a_reorder_fault_hits() -> None:
    """Messages on one link arrive in order, except when a recorded reorder moved one back."""

    def seen(seed: int, plan: FaultPlan) -> tuple[tuple[str, ...], SimulationResult]:
        sim = Simulation([RECORDER], seed=seed, faults=plan)
        sim.start(RECORDER, "r")
        for name in "abcd":
            sim.send("r", f"note.{name}")
        result = sim.run()
        return result.agents["r"].state.seen, result

    in_order = ("note.a", "note.b", "note.c", "note.d")
    assert all(seen(s, NO_FAULTS)[0] == in_order for s in range(20))
    reordered = 0
    for s in range(20):
        order, result = seen(s, FaultPlan(reorder=0.3))
        if order != in_order:
            reordered += 1
            assert any(isinstance(e, MessageReordered) for e in result.events)
            assert '"kind":"reordered"' in simulation_to_jsonl(result)
    assert reordered > 0


@pytest.mark.parametrize("kind", ["reorder", "duplicate"])
def test_a_faulted_input_goes_behind_the_inputs_sent_before_it_not_those_sent_later(
    kind: str,
) -> None:
    """All inputs are put in flight when the run begins; one sent at 0 and reordered (or
    duplicated) went behind the one sent at 100, which had not been sent yet: a reorder
    became a 100 s delay."""
    plan = FaultPlan(reorder=0.5) if kind == "reorder" else FaultPlan(duplicate=0.5)
    faulted = 0
    for seed in range(30):
        sim = Simulation([RECORDER], seed=seed, faults=plan, latency=0.01)
        sim.start(RECORDER, "r")
        early = sim.send("r", "note.early", at=0.0)
        sim.send("r", "note.late", at=100.0)
        sim.send("r", "note.later", at=100.0)
        result = sim.run()
        arrivals = [
            e.at for e in result.events if isinstance(e, SignalDelivered) and e.signal == early
        ]
        faulted += any(
            isinstance(e, MessageReordered | MessageDuplicated) and e.signal == early
            for e in result.events
        )
        assert arrivals
        assert max(arrivals) < 1.0
        assert {"note.early", "note.late", "note.later"} == set(result.agents["r"].state.seen)
    assert faulted > 0


def test_a_restarted_crash_keeps_the_agent_and_loses_its_timers() -> None:
    """Under ``"restart"`` recovery a crashed agent keeps its value, loses its timers, and
    re-arms its startup schedules."""
    sim = Simulation([TICKER], seed=0, faults=FaultPlan(crash=1.0, recovery="restart"))
    sim.start(TICKER, "t")
    sim.send("t", "ticker.arm")
    result = sim.run(events=6)
    started, armed, crash, *rest = result.events
    assert isinstance(started, AgentStarted)
    assert isinstance(armed, SignalDelivered)
    assert armed.signal.type == "ticker.arm"
    assert isinstance(crash, AgentCrashed)
    assert (crash.agent_id, crash.lost) == ("t", 2)  # the startup tick and the alarm
    # First it is told (it has no route for that: one routing error, its state as it was).
    told, *after = [e for e in rest if isinstance(e, SignalDelivered)]
    assert (told.signal.type, told.sender, told.at) == (RESTARTED, "@runtime", crash.at)
    assert told.signal.data == {"restarts": 1, "reason": "injected crash"}
    assert told.before == told.after == armed.after  # restored from its last state
    assert [type(d) for d in told.directives] == [Error]
    # After each tick it crashes again (no crash follows a notice), and is told again.
    assert [e.signal.type for e in after] == ["ticker.tick", RESTARTED] * (len(after) // 2)
    told_again: list[Any] = [e.signal.data for e in after[1::2]]
    assert [d["restarts"] for d in told_again] == list(range(2, len(after) // 2 + 2))
    assert after[0].at == pytest.approx(crash.at + 10.0)
    assert '"kind":"crashed"' in simulation_to_jsonl(result)


def test_a_durable_crash_keeps_the_agent_and_its_timers() -> None:
    """Under ``"durable"`` recovery (the default) a crashed agent comes back as a journal
    restores it: its value and its timers are kept, and nothing is registered twice."""
    assert FaultPlan().recovery == "durable"
    sim = Simulation([TICKER], seed=0, faults=FaultPlan(crash=1.0))
    sim.start(TICKER, "t")
    sim.send("t", "ticker.arm")
    result = sim.run(events=8)
    _, armed, crash, *rest = result.events
    assert isinstance(armed, SignalDelivered)
    assert isinstance(crash, AgentCrashed)
    assert (crash.agent_id, crash.lost) == ("t", 0)
    after = [e for e in rest if isinstance(e, SignalDelivered)]
    # The alarm armed before the crash rings on time; the startup tick fires once, at 10 s.
    assert [e.signal.type for e in after] == ["ticker.alarm", "ticker.tick"]
    assert [e.at for e in after] == pytest.approx([armed.at + 5.0, 10.0])
    assert after[0].before == armed.after
    assert all(isinstance(e, AgentCrashed) for e in rest if not isinstance(e, SignalDelivered))


def test_the_crashed_agent_is_drawn_among_the_running_ones() -> None:
    """A crash befalls any running agent, not always the first one started: a run of
    several agents tests the recovery of each."""
    crashed: set[str] = set()
    for seed in range(5):
        sim = Simulation([COUNTER], seed=seed, faults=FaultPlan(crash=0.5))
        for agent_id in ("a", "b", "c"):
            sim.start(COUNTER, agent_id)
            sim.send(agent_id, "counter.bump")
        crashed |= {e.agent_id for e in sim.run().events if isinstance(e, AgentCrashed)}
    assert len(crashed) > 1, crashed


def test_a_durable_crash_invokes_effects_in_flight_again() -> None:
    """An effect whose outcome had not arrived when its agent crashed is invoked again on
    recovery (at-least-once): the handler runs twice, one outcome arrives."""
    calls: list[object] = []

    def echo(args: object) -> str:
        calls.append(args)
        return "echo"

    sim = Simulation([CALLER], seed=0, faults=FaultPlan(crash=1.0), effects={"fx.echo": echo})
    sim.start(CALLER, "x")
    sim.send("x", "fx.go")
    result = sim.run()
    kinds = [type(e).__name__ for e in result.events]
    assert kinds == [
        "AgentStarted",
        "SignalDelivered",
        "AgentCrashed",
        "EffectReissued",
        "SignalDelivered",
        "AgentCrashed",
    ]
    reissued = result.events[3]
    assert isinstance(reissued, EffectReissued)
    go = result.events[1]
    assert isinstance(go, SignalDelivered)
    (invoked,) = go.directives
    assert isinstance(invoked, Invoke)
    assert (reissued.agent_id, reissued.effect, reissued.key) == ("x", "fx.echo", invoked.key)
    assert calls == [{"x": 1}, {"x": 1}]
    assert result.agents["x"].state.got == ("ok",)
    assert '"kind":"effect_reissued"' in simulation_to_jsonl(result)
    assert (
        replay(simulation_to_jsonl(result), Scenario(specs=[CALLER], effects={"fx.echo": echo}))
        is None
    )


def test_a_restarted_crash_lets_effects_in_flight_finish() -> None:
    """Under ``"restart"`` recovery an effect in flight is not invoked again: its outcome
    reaches the restarted agent."""
    calls: list[object] = []

    def echo(args: object) -> str:
        calls.append(args)
        return "echo"

    plan = FaultPlan(crash=1.0, recovery="restart")
    sim = Simulation([CALLER], seed=0, faults=plan, effects={"fx.echo": echo})
    sim.start(CALLER, "x")
    sim.send("x", "fx.go")
    result = sim.run()
    assert not any(isinstance(e, EffectReissued) for e in result.events)
    assert calls == [{"x": 1}]
    assert result.agents["x"].state.got == ("ok",)


#: A trace written by the version before the time bound (version 2), whose faults were drawn
#: from bands stacked down from the top of a draw: a ticker and a recorder under every message
#: fault and crashes with ``"restart"`` recovery, one of which lost a timer.
V2_TRACE = Path(__file__).with_name("data") / "simulation_v2.jsonl"
V2_SCENARIO = Scenario(specs=[TICKER, RECORDER])


def reheaded(text: str, **fields: object) -> str:
    """``text`` with these fields of its header changed (or added, last)."""
    lines = text.splitlines()
    header = {**json.loads(lines[0]), **fields}
    return "".join(line + "\n" for line in [compact(header), *lines[1:]])


def test_a_version_2_trace_replays_with_the_faults_it_was_drawn_with() -> None:
    """A trace from before the time bound replays identically: its faults are drawn as they
    were then. Read as today's version (the same header, with no bound) the run differs
    where a draw injects another fault, or none; a version 2 header with a bound is
    refused."""
    text = V2_TRACE.read_text(encoding="utf-8")
    lines = text.splitlines()
    header = json.loads(lines[0])
    assert header["version"] == 2
    assert replay(text, V2_SCENARIO) is None
    today: dict[str, object] = {}
    for key, value in header.items():
        today[key] = 3 if key == "version" else value
        if key == "events":
            today["until"] = None  # where today's header has it
    found = replay("\n".join([compact(today), *lines[1:]]), V2_SCENARIO)
    assert found is not None
    assert found.line > 3  # the header and the starts are the same
    with pytest.raises(DecodeError, match="a version 2 trace has no until"):
        replay(reheaded(text, until=60.0), V2_SCENARIO)


def test_a_trace_whose_input_is_now_refused_at_the_door_still_replays() -> None:
    """A trace recorded when a lifecycle type could be sent from outside (a test of how an
    agent takes a child's exit) replays as it was recorded: replay sends its inputs as they
    were accepted then. It raised the door's InvalidSignal, which replay does not document."""
    spec = attrs.evolve(
        COUNTER, routes=[*COUNTER.routes, Route(pattern="counter.told", target=bump)]
    )
    scenario = Scenario(specs=[spec])
    sim = Simulation([spec], seed=3)
    sim.start(spec, "c")
    sim.send("c", "counter.told")
    text = simulation_to_jsonl(sim.run())
    # As the version before the door check recorded it, with CHILD_EXIT routed alike.
    old = text.replace('"counter.told"', f'"{CHILD_EXIT}"')
    assert old != text
    then = attrs.evolve(spec, routes=[*COUNTER.routes, Route(pattern=CHILD_EXIT, target=bump)])
    assert replay(old, attrs.evolve(scenario, specs=(then,))) is None


def test_a_version_1_trace_replays_with_restart_recovery() -> None:
    """Traces written before ``recovery`` existed (version 1) crashed by restarting: they
    replay that way, and a version 1 header naming a recovery is refused."""
    text = V2_TRACE.read_text(encoding="utf-8")
    faults = json.loads(text.splitlines()[0])["faults"]
    assert faults["recovery"] == "restart"
    assert '"kind":"crashed","agent":"t","lost":1' in text
    old = {k: v for k, v in faults.items() if k != "recovery"}
    assert replay(reheaded(text, version=1, faults=old), V2_SCENARIO) is None
    # Read as durable, the same trace diverges at its first crash's consequences.
    durable = replay(reheaded(text, faults={**faults, "recovery": "durable"}), V2_SCENARIO)
    assert durable is not None
    with pytest.raises(DecodeError, match="a version 1 trace has no recovery"):
        replay(reheaded(text, version=1), V2_SCENARIO)


def test_effect_failure_is_recorded_and_reaches_the_agent_as_on_error() -> None:
    """An injected effect failure replaces the outcome with an InjectedFault error."""
    calls: list[object] = []

    def echo(args: object) -> str:
        calls.append(args)
        return "echo"

    sim = Simulation([CALLER], faults=FaultPlan(effect_failure=1.0), effects={"fx.echo": echo})
    sim.start(CALLER, "x")
    sim.send("x", "fx.go")
    result = sim.run()
    (fault,) = [e for e in result.events if isinstance(e, EffectFailed)]
    assert fault.effect == "fx.echo"
    assert fault.agent_id == "x"
    assert result.agents["x"].state.got == ("failed:InjectedFault",)
    assert len(calls) == 1  # the effect ran; its caller was told it failed
    assert '"kind":"effect_failed"' in simulation_to_jsonl(result)


def test_effect_latency_is_recorded_and_the_outcome_arrives_late() -> None:
    """A slow effect's outcome arrives at the recorded time, and still succeeds."""
    sim = Simulation(
        [CALLER],
        seed=2,
        faults=FaultPlan(effect_latency=1.0, max_latency=3.0),
        effects={"fx.echo": lambda args: "echo"},
    )
    sim.start(CALLER, "x")
    sim.send("x", "fx.go")
    result = sim.run()
    (slow,) = [e for e in result.events if isinstance(e, EffectDelayed)]
    outcome = delivered(result)[-1]
    assert outcome.signal.type == "fx.ok"
    assert outcome.sender == "@effect"
    assert outcome.at == slow.until <= slow.at + 3.0
    assert result.agents["x"].state.got == ("ok",)
    assert '"kind":"effect_delayed"' in simulation_to_jsonl(result)


def test_effect_latency_is_bounded_by_max_latency_not_max_delay() -> None:
    """An injected effect latency is drawn up to ``max_latency``; ``max_delay`` bounds the
    delay of messages only, so the two faults are tuned apart."""
    plan = FaultPlan(effect_latency=1.0, max_latency=0.01, max_delay=5.0)
    slow: list[EffectDelayed] = []
    for seed in range(3):
        sim = Simulation([CALLER], seed=seed, faults=plan, effects={"fx.echo": lambda a: "e"})
        sim.start(CALLER, "x")
        for _ in range(5):
            sim.send("x", "fx.go")
        slow += [e for e in sim.run().events if isinstance(e, EffectDelayed)]
    assert len(slow) == 15  # every effect was slowed
    assert all(0 <= e.until - e.at <= 0.01 for e in slow)


def test_a_stopped_agents_timers_do_not_fire_into_its_successor() -> None:
    """A child that armed a timer and stopped is replaced under the same id: the old
    timer is dropped, as in SyncRuntime, and does not ring in the new child."""
    sim = Simulation([SPAWNER, SLEEPER], seed=1)
    sim.start(SPAWNER, "p")
    sim.send("p", "spawner.go")
    result = sim.run(events=40)
    assert result.agents["p"].state.n == 2  # two children started, under one id
    kid = result.agents["p/kid"].state
    assert (kid.armed, kid.alarms) == (0, 0)
    assert result.quiescent


@action()
def replace(state: Count, _: NoParams, ctx: Context) -> ActionResult[Count]:
    """Send the child a message, stop it, and start another under its id, in one step."""
    return ok(
        Count(state.n + 1),
        emit_to("boss/kid", "ticker.alarm"),
        stop_child("kid"),
        spawn_agent("sleeper", "kid"),
    )


REPLACER = AgentSpec(
    name="replacer",
    state=Count,
    routes=[
        Route(pattern="boss.hire", target=respawn),
        Route(pattern="boss.replace", target=replace),
    ],
)


@pytest.mark.parametrize("latency", [0.0, 0.001])
def test_a_message_for_a_stopped_agent_is_not_news_for_its_successor(latency: float) -> None:
    """A message in flight to a child that is stopped and replaced under the same id is a
    dead letter when it arrives, as in SyncRuntime, not handled by the new child."""
    sync = SyncRuntime([REPLACER, SLEEPER])
    sync.start(REPLACER, "boss")
    sync.send("boss", "boss.hire")
    sync.send("boss", "boss.replace")
    assert sync.state("boss/kid").alarms == 0
    sim = Simulation([REPLACER, SLEEPER], seed=2, latency=latency)
    sim.start(REPLACER, "boss")
    sim.send("boss", "boss.hire")
    sim.send("boss", "boss.replace", at=1.0)
    result = sim.run(events=100)
    assert result.agents["boss/kid"].state.alarms == 0
    dead = [e.signal.type for e in result.events if isinstance(e, DeadLettered)]
    assert dead == [s.type for _, s in sync.dead_letters] == ["ticker.alarm"]


def test_messages_to_agents_not_running_are_dead_letters() -> None:
    """An input for an agent that does not exist is recorded as a dead letter."""
    sim = Simulation([RECORDER])
    sim.start(RECORDER, "r")
    sim.send("nobody", "note.a")
    result = sim.run()
    assert kinds(result) == ["AgentStarted", "DeadLettered"]
    assert '"kind":"dead_letter"' in simulation_to_jsonl(result)


# ---------------------------------------------------------------- fakes per run


@action()
def store(state: Count, _: NoParams, ctx: Context) -> ActionResult[Count]:
    return ok(state, invoke("store.put", {}, on_ok="store.put.ok", on_error="store.put.failed"))


@action()
def stored(state: Count, _: NoParams, ctx: Context) -> ActionResult[Count]:
    return ok(Count(state.n + 1))


STORE = AgentSpec(
    name="store",
    state=Count,
    routes=[
        Route(pattern="x.put", target=store),
        Route(pattern="store.put.ok", target=stored),
    ],
)


def stored_so_far() -> dict[str, EffectHandler]:
    """A fake store that says how many writes it holds: its answers depend on its past."""
    writes: list[object] = []

    def put(args: Mapping[str, Any]) -> JsonValue:
        writes.append(dict(args))
        return len(writes)

    return {"store.put": put}


def storing(**fakes: Any) -> Scenario:
    def setup(sim: Simulation) -> None:
        sim.start(STORE, "s")
        for n in range(3):
            sim.send("s", "x.put", at=float(n))

    return Scenario(specs=[STORE], setup=setup, **fakes)


def test_make_effects_gives_every_run_fakes_of_its_own(tmp_path: Path) -> None:
    """A stateful fake made per run: one seed, one trace, however often the scenario runs
    (simulate, replay); shared through ``effects``, the second run sees the first's writes."""
    shared = storing(effects=stored_so_far())
    first, second = (simulation_to_jsonl(simulate(shared, seed=1)) for _ in range(2))
    assert first != second  # what ``make_effects`` is for
    made = storing(make_effects=stored_so_far)
    first, second = (simulation_to_jsonl(simulate(made, seed=1)) for _ in range(2))
    assert first == second
    assert replay(first, made) is None
    outcomes = [e.signal for e in delivered(simulate(made, seed=1)) if e.sender == "@effect"]
    assert [s.data["result"] for s in outcomes if isinstance(s.data, Mapping)] == [1, 2, 3]


def test_make_sensors_gives_every_run_its_sensors() -> None:
    """``make_sensors`` is called once per run, after ``make_effects``."""
    calls: list[str] = []

    def effects() -> dict[str, EffectHandler]:
        calls.append("effects")
        return {}

    def sensors() -> dict[str, SensorFn]:
        calls.append("sensors")
        return {}

    scenario = storing(make_effects=effects, make_sensors=sensors)
    text = simulation_to_jsonl(simulate(scenario))
    simulate(scenario)
    assert calls == ["effects", "sensors"] * 2
    # Every entry point that runs the scenario: a replay, a hunt over seeds, the CLI's.
    assert replay(text, scenario) is None
    assert first_failure(scenario, seeds=range(3)) is None
    scenario.simulation(seed=4).run()
    assert calls == ["effects", "sensors"] * 7


@attrs.frozen
class Note(CustomDirective):
    text: str


@action()
def noting(state: Count, _: NoParams, ctx: Context) -> ActionResult[Count]:
    return ok(Count(state.n + 1), Note(f"put {state.n}"))


NOTER = AgentSpec(name="noter", state=Count, routes=[Route(pattern="x.put", target=noting)])


def noting_scenario(**kw: Any) -> Scenario:
    def setup(sim: Simulation) -> None:
        sim.start(NOTER, "n")
        for n in range(3):
            sim.send("n", "x.put", at=float(n))

    return Scenario(specs=[NOTER], setup=setup, **kw)


def test_make_directives_gives_every_run_handlers_of_its_own() -> None:
    """``make_directives`` is called once per run, after ``make_sensors``; the handlers it
    makes are the run's (no DIRECTIVE problem), fresh for every run."""
    calls: list[str] = []
    notes: list[list[str]] = []

    def sensors() -> dict[str, SensorFn]:
        calls.append("sensors")
        return {}

    def handlers() -> dict[type[CustomDirective], Any]:
        calls.append("directives")
        kept: list[str] = []
        notes.append(kept)

        def keep(_: str, d: Note) -> list[Signal]:
            kept.append(d.text)
            return []

        return {Note: keep}

    codec = Codec(directives={"note": Note})
    scenario = noting_scenario(make_sensors=sensors, make_directives=handlers, codec=codec)
    result = simulate(scenario, seed=1)
    assert result.problems == ()
    text = simulation_to_jsonl(result)
    assert replay(text, scenario) is None
    assert calls == ["sensors", "directives"] * 2
    assert notes == [["put 0", "put 1", "put 2"]] * 2
    with pytest.raises(ValueError, match="directives or make_directives, not both"):
        noting_scenario(directives={Note: lambda _, __: []}, make_directives=dict)


def test_a_trace_of_a_scenario_run_is_written_with_the_scenario_codec() -> None:
    """``simulation_to_jsonl`` takes the codec from the run (a scenario's), so custom
    directives need not be named twice; a run of no scenario writes as before."""
    codec = Codec(directives={"note": Note})
    scenario = noting_scenario(directives={Note: lambda _, __: []}, codec=codec)
    result = simulate(scenario, seed=2)
    text = simulation_to_jsonl(result)
    assert text == simulation_to_jsonl(result, codec=codec)
    assert '"kind":"note"' in text
    # A simulation given no codec writes with a plain one, as before.
    sim = Simulation([NOTER], seed=2, directives={Note: lambda _, __: []})
    sim.start(NOTER, "n")
    sim.send("n", "x.put")
    with pytest.raises(EncodeError, match="Note"):
        simulation_to_jsonl(sim.run(events=10))


def test_a_scenario_takes_shared_fakes_or_a_maker_not_both() -> None:
    """Both would leave it to a rule of precedence to say which a run gets."""
    with pytest.raises(ValueError, match="effects or make_effects, not both"):
        storing(effects=stored_so_far(), make_effects=stored_so_far)
    with pytest.raises(ValueError, match="sensors or make_sensors, not both"):
        storing(sensors={"s": lambda: iter(())}, make_sensors=dict)


async def _async_fake(args: object) -> int:
    return 1


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"effects": {"pay": _async_fake}}, "effect 'pay' is an async function"),
        ({"effects": {"pay": 42}}, "effect 'pay' is not callable"),
        ({"invariants": {"sane": 42}}, "invariant 'sane' is not callable"),
        ({"sensors": {"s": 42}}, "sensor 's' is not callable"),
        ({"directives": {Note: _async_fake}}, "is an async function"),
    ],
)
def test_a_scenarios_fakes_are_checked_when_it_is_built(
    given: dict[str, Any], message: str
) -> None:
    """A fake no run can call is refused by the scenario itself, as each run's Simulation
    refuses it: it was accepted, and refused only when the first run began."""
    with pytest.raises(TypeError, match=message):
        storing(**given)


# ---------------------------------------------------------------- directive problems


BAD_CRON = AgentSpec(
    name="badcron",
    state=Count,
    schedules=[
        cron("bad", "x.tick", job_id="j"),
        cron("* * * * *", "x.tick", job_id="k", timezone="Mars/Base"),
    ],
)


@action()
def tell_nobody(state: Count, _: NoParams, ctx: Context) -> ActionResult[Count]:
    return ok(Count(state.n + 1), emit_to_sink("nowhere", "x.said"))


TELLER = AgentSpec(name="teller", state=Count, routes=[Route(pattern="x.say", target=tell_nobody)])


def test_a_bad_declared_cron_job_is_a_problem_of_the_agents_start() -> None:
    """A spec's declared schedules that cannot run are problems, as SyncRuntime records
    them: on the start event, in the result, and in the trace, which replays identically."""
    sim = Simulation([BAD_CRON], seed=1)
    sim.start(BAD_CRON, "b")
    result = sim.run(until=600.0)
    sync = SyncRuntime([BAD_CRON])
    sync.start(BAD_CRON, "b")
    assert len(sync.problems) == 2
    (started,) = result.events
    assert isinstance(started, AgentStarted)
    assert started.problems == sync.problems
    assert result.problems == sync.problems
    assert "invalid cron expression 'bad'" in started.problems[0].message
    text = simulation_to_jsonl(result)
    line = json.loads(text.splitlines()[1])
    assert [p["message"] for p in line["problems"]] == [p.message for p in sync.problems]
    scenario = Scenario(specs=[BAD_CRON], setup=lambda sim: sim.start(BAD_CRON, "b"))
    assert replay(text, scenario) is None


def test_a_start_without_problems_writes_none_to_the_trace() -> None:
    """Traces of runs whose starts went well stay as they were: no ``problems`` key."""
    text = simulation_to_jsonl(simulate(bumps(1)))
    assert "problems" not in json.loads(text.splitlines()[1])


def test_the_result_has_every_directive_problem_of_the_run() -> None:
    """The problems of deliveries are the result's too, in order, recorded or not."""

    def setup(sim: Simulation) -> None:
        sim.start(TELLER, "t")
        sim.send("t", "x.say")
        sim.send("t", "x.say", at=1.0)

    scenario = Scenario(specs=[TELLER], setup=setup)
    result = simulate(scenario, seed=1)
    on_events = [p for e in delivered(result) for p in e.problems]
    assert len(on_events) == 2
    assert result.problems == tuple(on_events)
    assert all(p.message == "no sink named 'nowhere'" for p in result.problems)
    assert simulate(scenario, seed=1, record=False).problems == result.problems
    assert simulate(bumps(2)).problems == ()


# ---------------------------------------------------------------- invariants


def test_invariant_violation_carries_seed_index_and_trace() -> None:
    """A failing invariant stops the run after the event that broke it, naming the seed."""
    scenario = attrs.evolve(
        bumps(5), invariants={"below three": lambda agents: agents["c"].state.n < 3}
    )
    with pytest.raises(InvariantViolated) as caught:
        simulate(scenario, seed=42)
    exc = caught.value
    last = exc.trace[-1]
    assert isinstance(last, SignalDelivered)
    assert last.after.state.n == 3
    assert (exc.seed, exc.index, exc.invariant) == (42, last.index, "below three")
    assert f"after event {last.index} (seed 42)" in str(exc)
    assert exc.message == "returned False"
    trailer = json.loads(simulation_to_jsonl(exc.result).splitlines()[-1])
    assert trailer == {
        "i": last.index,
        "kind": "violated",
        "invariant": "below three",
        "message": "returned False",
    }


def test_invariant_messages_and_errors_are_reported() -> None:
    """An invariant may explain itself with a string; one that raises counts as failing,
    its exception the violation's cause (its traceback shows the line that raised; it was
    dropped)."""
    says = attrs.evolve(bumps(1), invariants={"says": lambda agents: "too many counters"})
    with pytest.raises(InvariantViolated, match="too many counters") as told:
        simulate(says)
    assert told.value.__cause__ is None
    raises = attrs.evolve(bumps(1), invariants={"raises": lambda agents: 1 // 0 == 0})
    with pytest.raises(InvariantViolated, match="raised ZeroDivisionError") as info:
        simulate(raises)
    assert isinstance(info.value.__cause__, ZeroDivisionError)


@pytest.mark.parametrize(
    ("verdict", "message"),
    [
        (None, "returned None"),  # a forgotten ``return True``
        ("", "returned ''"),
        (0, "returned 0"),
        (False, "returned False"),
        (bumps, "returned an instance of function"),  # named only: its repr has an address
    ],
)
def test_an_invariant_returning_no_verdict_is_reported_as_what_it_returned(
    verdict: Any, message: str
) -> None:
    """Anything but ``True`` fails, and the violation says what the invariant returned: a
    ``None`` is not a ``False``, and an empty message is no blank one."""
    scenario = attrs.evolve(bumps(1), invariants={"v": lambda agents: verdict})
    with pytest.raises(InvariantViolated) as caught:
        simulate(scenario)
    assert caught.value.message == message
    assert str(caught.value).endswith(f": {message}")
    trailer = json.loads(simulation_to_jsonl(caught.value.result).splitlines()[-1])
    assert trailer["message"] == message


def test_invariants_are_checked_before_the_first_delivery() -> None:
    """A system that starts broken fails at the last start event, before anything runs."""
    scenario = attrs.evolve(bumps(3), invariants={"never": lambda agents: False})
    with pytest.raises(InvariantViolated) as caught:
        simulate(scenario)
    assert caught.value.index == 0
    assert kinds(caught.value.result) == ["AgentStarted"]


def test_an_action_that_raises_propagates_with_the_seed_noted() -> None:
    """A bug in an action is not swallowed; its note says where the simulation was."""
    sim = Simulation([COUNTER], seed=9)
    sim.start(COUNTER, "c")
    sim.send("c", "counter.bump")
    sim.send("c", "counter.explode")
    with pytest.raises(ActionCrashed) as caught:
        sim.run()
    assert any("seed 9" in note for note in caught.value.__notes__)
    assert sim.result().agents["c"].state.n == 1


def test_a_guard_that_raises_propagates_with_the_seed_noted() -> None:
    """A bug in other user code a step runs (a route guard) propagates as it is, with the
    same note saying which run to repeat."""

    def guard(sig: Signal) -> bool:
        raise LookupError("no amount")

    spec = AgentSpec(
        name="guarded", state=Count, routes=[Route(pattern="g.bump", target=bump, guard=guard)]
    )
    sim = Simulation([spec], seed=7)
    sim.start(spec, "g")
    sim.send("g", "g.bump")
    with pytest.raises(LookupError, match="no amount") as caught:
        sim.run()
    assert any("seed 7" in note for note in caught.value.__notes__)


@pytest.mark.parametrize("fold", [0, 1])
def test_an_epoch_the_clocks_skip_replays(fold: int) -> None:
    """An epoch at a local time the clocks skip (02:30 on a spring-forward night) stands for
    the instant it names: the trace records that, and replays as identical."""
    epoch = datetime(2026, 3, 8, 2, 30, fold=fold, tzinfo=ZoneInfo("America/New_York"))
    scenario = attrs.evolve(bank.SCENARIO, epoch=epoch)
    text = simulation_to_jsonl(simulate(scenario, seed=1, events=50))
    assert replay(text, scenario) is None


@attrs.frozen
class Heard:
    """What an agent heard, in order."""

    log: tuple[str, ...] = ()


@action()
def send_then_arm(state: Heard, _: NoParams, ctx: Context) -> ActionResult[Heard]:
    return ok(
        state,
        emit_to(ctx.agent_id, "x.self"),
        schedule(0.0, "x.timer"),
        emit_to(ctx.agent_id, "x.after"),
    )


@action()
def hear(state: Heard, _: NoParams, ctx: Context) -> ActionResult[Heard]:
    assert ctx.signal is not None
    return ok(Heard((*state.log, ctx.signal.type)))


ARMER = AgentSpec(
    name="armer",
    state=Heard,
    routes=[
        Route(pattern="x.go", target=send_then_arm),
        Route(pattern="x.self", target=hear),
        Route(pattern="x.after", target=hear),
        Route(pattern="x.timer", target=hear),
    ],
)


@pytest.mark.parametrize("seed", range(20))
def test_a_timer_due_now_fires_after_what_the_arming_step_sent_itself(seed: int) -> None:
    """With latency, what a step sends its own agent takes time in flight; a timer that
    step armed with no delay still fires after it, as on every runtime: what the step sends
    after arming it too (the timer used to be timed when armed, and fired before those in
    about two seeds of five)."""
    sim = Simulation([ARMER], seed=seed, latency=0.001)
    sim.start(ARMER, "a")
    sim.send("a", "x.go", at=0.3)
    assert sim.run(100).agents["a"].state.log == ("x.self", "x.after", "x.timer")


@action()
def send_then_sense(state: Heard, _: NoParams, ctx: Context) -> ActionResult[Heard]:
    return ok(state, emit_to(ctx.agent_id, "x.self"), start_sensor("s", "t"))


SENSING = AgentSpec(
    name="sensing",
    state=Heard,
    routes=[
        Route(pattern="x.go", target=send_then_sense),
        Route(pattern="x.self", target=hear),
        Route(pattern="e.*", target=hear),
        Route(pattern=SENSOR_EXIT, target=hear),
    ],
)


@pytest.mark.parametrize("seed", range(10))
def test_a_sensors_emissions_keep_their_order_behind_a_self_send_in_flight(seed: int) -> None:
    """A sensor started by a step that also sent its agent something: its emissions due
    before that arrives wait for it in their order, so none is lost behind the sensor's
    end, as on SyncRuntime."""

    def sensor(config: Any) -> list[tuple[float, str, JsonValue]]:
        return [(0.0, "e.a", None), (1e-5, "e.b", None)]

    sim = Simulation([SENSING], seed=seed, latency=0.001, sensors={"s": sensor})
    sim.start(SENSING, "a")
    sim.send("a", "x.go")
    log = sim.run(100).agents["a"].state.log
    assert log == ("x.self", "e.a", "e.b", SENSOR_EXIT)


def crashing_scenario() -> Scenario:
    def setup(sim: Simulation) -> None:
        sim.start(COUNTER, "c")
        sim.send("c", "counter.bump")
        sim.send("c", "counter.explode")

    return Scenario(specs=[COUNTER], setup=setup)


@pytest.mark.parametrize("given", ["seed", "choices"])
def test_simulate_raises_a_crash_carrying_the_run_so_far(given: str) -> None:
    """``simulate`` builds its Simulation itself: its crash carried only the agent, the
    action and a note, so a crash found by Hypothesis (choices, no seed) could be neither
    written out nor replayed."""
    rng = None if given == "seed" else random.Random(4)
    with pytest.raises(SimulationCrashed) as caught:
        simulate(crashing_scenario(), seed=9, rng=rng)
    crash = caught.value
    assert isinstance(crash, ActionCrashed)
    assert (crash.agent_id, crash.action, crash.index) == ("c", "explode", 2)
    assert isinstance(crash.__cause__, RuntimeError)
    assert crash.seed == (9 if given == "seed" else None)
    assert crash.result.crash is not None
    assert crash.result.crash.message.endswith("RuntimeError: a bug")
    text = simulation_to_jsonl(crash.result)
    assert replay(text, crashing_scenario()) is None
    where = "with seed 9" if given == "seed" else "whose choices were given (not a seed)"
    assert crash.__notes__ == [f"in a simulation {where}, at event 2"]
    assert pickle.loads(pickle.dumps(crash)).result == crash.result


def test_a_crash_ends_the_trace_and_its_replay_reproduces_it() -> None:
    """The result of a run an action crashed says so, its trace ends with the crash, and a
    replay that crashes the same way is identical; a trace of such a run written without
    the crash (before crashes were recorded) replays as a divergence at its end."""
    sim = crashing_scenario().simulation(seed=9)
    with pytest.raises(ActionCrashed):
        sim.run()
    result = sim.result()
    assert not result.quiescent
    assert result.crash == ActionCrash(
        index=2,
        agent_id="c",
        action="explode",
        signal_type="counter.explode",
        message="action 'explode' of agent 'c' raised handling 'counter.explode':"
        " RuntimeError: a bug",
    )
    text = simulation_to_jsonl(result)
    last = json.loads(text.splitlines()[-1])
    assert last == {
        "i": 2,
        "kind": "action_crashed",
        "agent": "c",
        "action": "explode",
        "type": "counter.explode",
        "message": result.crash.message,
    }
    assert replay(text, crashing_scenario()) is None
    assert trace_failure(text) == f"action crashed at event 2: {result.crash.message}"
    old = "".join(line + "\n" for line in text.splitlines()[:-1])
    assert trace_failure(old) is None
    divergence = replay(old, crashing_scenario())
    assert divergence is not None
    assert (divergence.line, divergence.expected) == (4, None)
    assert "action_crashed c counter.explode" in divergence.describe()


def test_a_simulation_runs_once_and_is_set_up_before() -> None:
    """start, send and run are refused once the run began; bad arguments are refused."""
    sim = Simulation([COUNTER])
    with pytest.raises(ValueError, match="at must be"):
        sim.send("c", "counter.bump", at=-1)
    with pytest.raises(ValueError, match="events must be"):
        sim.run(events=-1)
    sim.run()
    with pytest.raises(RuntimeError):
        sim.start(COUNTER, "c")
    with pytest.raises(RuntimeError):
        sim.send("c", "counter.bump")
    with pytest.raises(RuntimeError):
        sim.run()
    with pytest.raises(ValueError, match="latency"):
        Simulation(latency=-0.5)


# ---------------------------------------------------------------- fault plans


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"drop": 1.5}, "drop"),
        ({"crash": -0.1}, "crash"),
        ({"delay": float("nan")}, "delay"),
        ({"duplicate": True}, "duplicate"),
        ({"drop": 0.5, "delay": 0.3, "reorder": 0.3}, "reorder"),
        ({"drop": 0.6, "duplicate": 0.6}, "duplicate"),
        ({"drop": 0.5, "delay": 0.5000001}, "delay"),
        ({"effect_failure": 0.7, "effect_latency": 0.7}, "effect_latency"),
        ({"max_delay": 0}, "max_delay"),
        ({"recovery": "reboot"}, "recovery"),
        ({"recovery": 1}, "recovery"),
    ],
)
def test_bad_fault_plans_are_refused_naming_the_field(fields: dict[str, Any], field: str) -> None:
    """A plan that makes no sense cannot be built; the error names the field."""
    with pytest.raises(InvalidFaultPlan) as caught:
        FaultPlan(**fields)
    assert caught.value.field == field
    if len(fields) > 1:  # a sum: it says which fields add up to what, unrounded
        reason = caught.value.reason
        assert all(f"{k} {v!r}" in reason for k, v in fields.items()), reason


@pytest.mark.parametrize(
    "fields",
    [
        {"drop": 0.1, "delay": 0.2, "duplicate": 0.3, "reorder": 0.4},
        # Added as floats, these come to 1.0000000000000002.
        {"drop": 0.34, "delay": 0.56, "duplicate": 0.1},
        {"drop": 0.01, "delay": 0.2, "duplicate": 0.68, "reorder": 0.11},
    ],
)
def test_fault_probabilities_summing_to_one_up_to_rounding_are_accepted(
    fields: dict[str, Any],
) -> None:
    """Message faults whose probabilities add up to 1 as written are a valid plan (every
    message gets one of them), even where adding the floats rounds a little above 1."""
    plan = FaultPlan(**fields)
    assert {k: getattr(plan, k) for k in fields} == fields


def test_fault_plans_from_json_report_the_line() -> None:
    """Parsing a plan file reports the line of the offending key."""
    assert fault_plan_from_json('{"drop": 0.25, "max_delay": 2}') == FaultPlan(
        drop=0.25, max_delay=2.0
    )
    assert fault_plan_from_json('{"crash": 0.1, "recovery": "restart"}').recovery == "restart"
    with pytest.raises(DecodeError, match=r"plan line 2: .*recovery 'reboot': must be one of"):
        fault_plan_from_json('{"crash": 0.1,\n "recovery": "reboot"}', name="plan")
    with pytest.raises(DecodeError, match=r"plan line 3: .*must be a probability"):
        fault_plan_from_json('{\n "drop": 0.1,\n "crash": 7\n}', name="plan")
    with pytest.raises(DecodeError, match="plan line 2: unknown fault 'lose'"):
        fault_plan_from_json('{\n "lose": 0.1\n}', name="plan")
    with pytest.raises(DecodeError, match="plan line 3: not JSON"):
        fault_plan_from_json('{\n "drop": 0.1,\n "crash" 1\n}', name="plan")
    with pytest.raises(DecodeError, match="line 1: expected a JSON object"):
        fault_plan_from_json("[0.1]")
    # A fault set twice: JSON would keep the second, silently.
    with pytest.raises(DecodeError, match="plan line 3: 'drop' is given twice"):
        fault_plan_from_json('{\n "drop": 0.1,\n "drop": 0.9\n}', name="plan")


# ---------------------------------------------------------------- replay (library)


def test_replay_of_a_trace_is_identical() -> None:
    """Replaying a run from its header reproduces it line for line."""
    result = simulate(bank.SCENARIO, seed=8, faults=CHAOS)
    assert replay(simulation_to_jsonl(result), bank.SCENARIO) is None


def test_a_run_from_an_epoch_in_a_zone_with_rules_replays_identically() -> None:
    """An epoch in a zone with daylight saving is recorded with its zone: a run across the
    change replays byte for byte (an offset alone would show the later times an hour off);
    a zone no tz database knows is a DecodeError."""
    epoch = datetime(2026, 3, 29, 0, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    sim = Simulation([RECORDER], epoch=epoch, latency=0)
    sim.start(RECORDER, "r")
    sim.send("r", "note.before", at=3600.0)
    sim.send("r", "note.after", at=4 * 3600.0)
    scenario = Scenario(specs=[RECORDER])
    text = simulation_to_jsonl(sim.run())
    assert replay(text, scenario) is None
    lines = text.splitlines()
    header = json.loads(lines[0])
    assert header["zone"] == "Europe/Berlin"
    header["zone"] = "Mars/Olympus_Mons"
    with pytest.raises(DecodeError, match="names no time zone"):
        replay("\n".join([compact(header), *lines[1:]]), scenario)


def test_a_setup_starting_an_unlisted_spec_is_refused() -> None:
    """A scenario whose setup starts an agent of a spec it does not list is refused when
    the simulation is set up, not found out at replay."""

    def setup(sim: Simulation) -> None:
        sim.start(RECORDER, "r")

    with pytest.raises(ValueError, match="'recorder', which the scenario's specs do not"):
        Scenario(specs=[bank.ACCOUNT], setup=setup).simulation(seed=1)


def test_replay_reports_the_first_changed_line() -> None:
    """An edited event is found at its line, with both versions."""
    lines = simulation_to_jsonl(simulate(bank.SCENARIO, seed=8)).splitlines()
    raw = json.loads(lines[5])
    raw_at = raw["at"]
    raw["at"] = 99.0
    lines[5] = json.dumps(raw, separators=(",", ":"))
    found = replay("\n".join(lines), bank.SCENARIO)
    assert found is not None
    assert found.line == 6
    assert found.expected == lines[5]
    assert found.describe().startswith("line 6: recorded event 4")
    assert found.describe().endswith("(first difference: $.at: 99.0 != " + str(raw_at) + ")")


@pytest.mark.parametrize(
    "damaged",
    [
        {"i": 0, "kind": "delivered", "to": "alice", "signal": True},
        {"i": 0, "kind": "delivered", "to": "alice", "signal": {"type": "x.y"}, "after": [1]},
    ],
)
def test_a_divergence_at_a_damaged_line_is_described(damaged: dict[str, Any]) -> None:
    """A recorded line whose signal or resulting agent is not an object (a trace edited by
    hand, or damaged) is described as it is, not an AttributeError."""
    lines = simulation_to_jsonl(simulate(bank.SCENARIO, seed=8)).splitlines()
    lines[1] = compact(damaged)
    found = replay("\n".join(lines), bank.SCENARIO)
    assert found is not None
    assert found.line == 2
    assert found.describe().startswith("line 2: recorded event 0: delivered alice")


def test_a_divergence_at_a_violation_names_it_in_one_spaced_line() -> None:
    """A violated invariant's line has no agent: its summary reads ``violated <name>``,
    not with the agent's empty place left between them."""
    violated = compact({"i": 17, "kind": "violated", "invariant": "books_balance"})
    held = compact({"i": 17, "kind": "delivered", "to": "a", "signal": {"type": "x.y"}})
    text = Divergence(line=19, expected=violated, actual=held).describe()
    assert text.startswith("line 19: recorded event 17: violated books_balance; replay gave")
    assert "  " not in text


def compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def test_a_run_without_a_seed_replays_from_its_recorded_choices() -> None:
    """A run whose choices a given generator made (Hypothesis's, in property tests) records
    every draw in its trace; replay feeds them back, and a changed choice diverges."""
    result = simulate(bank.SCENARIO, rng=random.Random(3), faults=CHAOS)
    assert result.seed is None
    assert result.choices is not None
    assert len(result.choices) > 10
    text = simulation_to_jsonl(result)
    assert replay(text, bank.SCENARIO) is None
    # The same generator state as a seed gives the same run: the draws are the run.
    seeded = simulate(bank.SCENARIO, seed=3, faults=CHAOS)
    assert seeded.events == result.events

    lines = text.splitlines()
    header = json.loads(lines[0])
    header["choices"][0] = 0.999999 if header["choices"][0] < 0.5 else 0.0
    changed = replay("\n".join([compact(header), *lines[1:]]), bank.SCENARIO)
    assert changed is not None
    assert changed.line > 1
    # Changed and cut short: the difference comes first, running out of choices after it.
    header["choices"] = header["choices"][: len(header["choices"]) // 2]
    both = replay("\n".join([compact(header), *lines[1:]]), bank.SCENARIO)
    assert both is not None
    assert both.actual is not None
    assert both.note == "later, the run drew more choices than the trace recorded"

    header = json.loads(lines[0])
    header["choices"] = header["choices"][:5]
    short = replay("\n".join([compact(header), *lines[1:]]), bank.SCENARIO)
    assert short is not None
    assert short.note == "the run drew more choices than the trace recorded"


def test_replay_needs_a_seed_and_a_header() -> None:
    """A trace with neither a seed nor recorded choices, or that is no trace, is bad input."""
    result = simulate(bank.SCENARIO, seed=1)
    header = json.loads(simulation_to_jsonl(result).splitlines()[0])
    header["seed"] = None
    with pytest.raises(DecodeError, match=r"line 1: no seed and no recorded choices"):
        replay(json.dumps(header), bank.SCENARIO)
    header["choices"] = [0.5, 1.5]
    with pytest.raises(DecodeError, match=r"line 1: choices must be a list of numbers"):
        replay(json.dumps(header), bank.SCENARIO)
    del header["choices"]
    with pytest.raises(DecodeError, match=r"line 1: .*not a simulation trace"):
        replay('{"i": 0}', bank.SCENARIO)
    with pytest.raises(DecodeError, match="line 1: the trace is empty"):
        replay("\n", bank.SCENARIO)


def minutely_scenario() -> Scenario:
    def setup(sim: Simulation) -> None:
        sim.start(MINUTELY, "m")

    return Scenario(specs=[MINUTELY], setup=setup)


def test_a_bounded_run_records_its_bound_and_replays_identically() -> None:
    """The header records the time bound, so the trace of a bounded run of a system with a
    cron job replays byte for byte; under another bound the replay differs where the runs
    part (one tick more, here)."""
    result = simulate(minutely_scenario(), seed=3, until=600.0)
    text = simulation_to_jsonl(result)
    header = json.loads(text.splitlines()[0])
    assert (header["version"], header["events"], header["until"]) == (4, 10_000, 600.0)
    assert replay(text, minutely_scenario()) is None
    found = replay(reheaded(text, until=660.0), minutely_scenario())
    assert found is not None
    assert (found.line, found.expected) == (len(text.splitlines()) + 1, None)
    assert found.actual is not None
    assert json.loads(found.actual)["at"] == 660.0


@pytest.mark.parametrize(
    ("until", "says"),
    [
        (-1, "until -1 is neither null nor a finite number >= 0"),
        ("soon", "until 'soon' is neither null nor a finite number >= 0"),
        (1e300, "until 1e+300 s after the epoch is past the end of the calendar"),
    ],
)
def test_a_header_whose_bound_is_no_time_is_a_decode_error(until: object, says: str) -> None:
    """A recorded ``until`` that is no time of the run's calendar is said so, on line 1."""
    text = simulation_to_jsonl(simulate(minutely_scenario(), seed=3, until=120.0))
    with pytest.raises(DecodeError) as caught:
        replay(reheaded(text, until=until), minutely_scenario())
    assert (caught.value.what, caught.value.reason) == ("simulation trace line 1", says)


# ---------------------------------------------------------------- the command line


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def one_error_line(result: Result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:")
    return lines[0]


def write_plan(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plan.json"
    path.write_text(text, encoding="utf-8")
    return path


def test_cli_simulate_writes_a_trace_that_replays_identically(tmp_path: Path) -> None:
    """``jido simulate`` summarizes the run; ``jido replay`` of its trace exits 0."""
    plan = write_plan(tmp_path, '{"drop": 0.1, "duplicate": 0.1, "crash": 0.02}')
    trace = tmp_path / "run.jsonl"
    args = ["--seed", "3", "--events", "400", "--faults", str(plan), "--trace-out", str(trace)]
    done = run("simulate", BANK, *args)
    assert done.exit_code == 0, done.output
    assert done.stdout.startswith("seed 3: ")
    assert "agents: alice v" in done.stdout
    expected = simulate(
        bank.SCENARIO, seed=3, events=400, faults=fault_plan_from_json(plan.read_text())
    )
    # The header names the spec, so the trace alone says what to replay it against.
    assert trace.read_text(encoding="utf-8") == simulation_to_jsonl(expected, spec=BANK)
    assert trace_spec(trace.read_text(encoding="utf-8")) == BANK
    for again in (run("replay", str(trace)), run("replay", str(trace), BANK)):
        assert again.exit_code == 0, again.output
        assert again.stdout.startswith("identical: ")


def test_cli_simulate_says_what_problems_the_run_had(tmp_path: Path) -> None:
    """A run that went on past directive problems (a sink that does not exist, a declared
    cron job that cannot run) says how many, and which, in its summary."""
    module = tmp_path / "troubled.py"
    module.write_text(
        "import attrs\n"
        "from jido import AgentSpec, cron\n\n"
        "@attrs.frozen\n"
        "class S:\n"
        "    n: int = 0\n\n"
        "BAD = AgentSpec(name='bad', state=S, schedules=[cron('bad', 'x.y', job_id='j')])\n",
        encoding="utf-8",
    )
    done = run("simulate", f"{module}:BAD", "--seed", "1", "--until", "600")
    assert done.exit_code == 0, done.output
    assert "problems: 1\n" in done.stdout
    assert "! [directive] invalid cron expression 'bad'" in done.stdout
    assert "problems" not in run("simulate", BANK, "--seed", "1").stdout


def test_cli_replay_without_spec_needs_a_trace_that_names_one(tmp_path: Path) -> None:
    """A trace written without a spec (simulation_to_jsonl's default) cannot be replayed by
    itself: one error line saying to pass SPEC. With SPEC it replays."""
    trace = tmp_path / "run.jsonl"
    trace.write_text(simulation_to_jsonl(simulate(bank.SCENARIO, seed=1, events=50)))
    assert trace_spec(trace.read_text(encoding="utf-8")) is None
    line = one_error_line(run("replay", str(trace)))
    assert "names no spec (one written from Python names none); pass the scenario it ran" in line
    assert run("replay", str(trace), BANK).exit_code == 0
    trace.write_text("[1, 2]\n", encoding="utf-8")
    assert "not a simulation trace header" in one_error_line(run("replay", str(trace)))


def test_replay_says_that_a_trace_runs_code(tmp_path: Path) -> None:
    """A trace names the module replay imports: its help and the docs where replay is
    described warn that only a trusted trace is to be replayed."""
    root = Path(__file__).parent.parent
    help_text = " ".join(run("replay", "--help").stdout.split())
    readme = " ".join((root / "README.md").read_text(encoding="utf-8").split())
    concepts = " ".join((root / "docs" / "concepts.md").read_text(encoding="utf-8").split())
    assert "Replay only traces you trust" in help_text
    assert "Replay only traces you trust" in readme
    assert "replay only traces you trust" in concepts
    # And it does: the module a trace names runs.
    module = tmp_path / "loud.py"
    module.write_text(
        "from pathlib import Path\n"
        "Path(__file__).with_suffix('.ran').touch()\n"
        "from jido_examples.bank import ACCOUNT, SCENARIO\n",
        encoding="utf-8",
    )
    trace = tmp_path / "run.jsonl"
    text = simulation_to_jsonl(simulate(bank.SCENARIO, seed=1, events=20), spec=f"{module}:ACCOUNT")
    trace.write_text(text, encoding="utf-8")
    assert run("replay", str(trace)).exit_code == 0
    assert (tmp_path / "loud.ran").exists()


def test_cli_replay_catches_a_spec_change(tmp_path: Path) -> None:
    """Replaying against a changed spec reports the first divergence, exit code 1."""
    trace = tmp_path / "run.jsonl"
    assert run("simulate", BANK, "--seed", "2", "--trace-out", str(trace)).exit_code == 0
    variant = tmp_path / "forgetful_bank.py"
    variant.write_text(
        "import attrs\n"
        "from jido import AgentSpec, Route, action, ok, schedule\n"
        "from jido_examples import bank\n\n"
        "@action(params=bank.Ack)\n"
        "def acknowledge(state, p, ctx):\n"
        "    return ok(state)  # forgets to clear the outbox\n\n"
        "ACCOUNT = AgentSpec(\n"
        "    name='account',\n"
        "    state=bank.Account,\n"
        "    routes=[\n"
        "        Route(pattern='bank.transfer.requested', target=bank.request_transfer),\n"
        "        Route(pattern='bank.credit', target=bank.credit),\n"
        "        Route(pattern='bank.credit.acked', target=acknowledge),\n"
        "        Route(pattern='bank.retry', target=bank.retry),\n"
        "    ],\n"
        "    schedules=[schedule(bank.RETRY_SECONDS, 'bank.retry')],\n"
        ")\n"
        "SCENARIO = attrs.evolve(bank.SCENARIO, specs=(ACCOUNT,))\n",
        encoding="utf-8",
    )
    done = run("replay", str(trace), f"{variant}:ACCOUNT")
    assert done.exit_code == 1, done.output
    first = done.stdout.splitlines()[0]
    assert first.startswith("diverged at line ")
    assert "bank.credit.acked" in first
    lineno = int(first.split()[3].rstrip(":"))
    recorded = trace.read_text(encoding="utf-8").splitlines()
    assert all(json.loads(line).get("kind") != "violated" for line in recorded)
    assert json.loads(recorded[lineno - 1])["signal"]["type"] == "bank.credit.acked"


def test_cli_replay_catches_a_truncated_trace(tmp_path: Path) -> None:
    """A trace that ends early differs from its replay where it ends."""
    trace = tmp_path / "run.jsonl"
    assert run("simulate", BANK, "--trace-out", str(trace)).exit_code == 0
    lines = trace.read_text(encoding="utf-8").splitlines()
    trace.write_text("\n".join(lines[:-3]) + "\n", encoding="utf-8")
    done = run("replay", str(trace), BANK)
    assert done.exit_code == 1
    assert f"diverged at line {len(lines) - 2}: recorded the trace ended" in done.stdout


def test_cli_simulate_reports_a_violation_with_its_seed(tmp_path: Path) -> None:
    """An invariant failure exits 1 with the seed and event; its trace replays identically."""
    module = tmp_path / "strict_bank.py"
    module.write_text(
        "import attrs\n"
        "from jido_examples import bank\n"
        "ACCOUNT = bank.ACCOUNT\n"
        "SCENARIO = attrs.evolve(\n"
        "    bank.SCENARIO,\n"
        "    invariants={'alice never pays': lambda a: a['alice'].state.balance >= 100},\n"
        ")\n",
        encoding="utf-8",
    )
    trace = tmp_path / "run.jsonl"
    done = run("simulate", f"{module}:ACCOUNT", "--seed", "6", "--trace-out", str(trace))
    assert done.exit_code == 1, done.output
    assert "invariant 'alice never pays' violated after event" in done.stderr
    assert "(seed 6)" in done.stderr
    assert f"jido replay {trace}" in done.stderr
    last = json.loads(trace.read_text(encoding="utf-8").splitlines()[-1])
    assert last["kind"] == "violated"
    # The replay is identical, so the failure reproduces: said, and exit code 1.
    again = run("replay", str(trace), f"{module}:ACCOUNT")
    assert again.exit_code == 1, again.output
    assert again.stdout.startswith(
        f"reproduces: invariant 'alice never pays' violated after event {last['i']}: "
    )
    assert again.stdout.endswith(" lines replayed identically)\n")


CRASHING = """
from jido_interpreters import Scenario
from tests.test_simulation import COUNTER

def setup(sim):
    sim.start(COUNTER, "c")
    sim.send("c", "counter.explode")

SCENARIO = Scenario(specs=[COUNTER], setup=setup)
"""


def test_cli_replay_of_a_crashed_run_reproduces_the_crash(tmp_path: Path) -> None:
    """``simulate`` says to replay a crashed run; the replay says the crash reproduces, with
    what the action raised, and exits 1."""
    module = tmp_path / "crashing.py"
    module.write_text(CRASHING, encoding="utf-8")
    trace = tmp_path / "run.jsonl"
    done = run("simulate", f"{module}:COUNTER", "--trace-out", str(trace))
    assert done.exit_code == 1, done.output
    assert f"replay it: jido replay {trace}" in done.stderr
    again = run("replay", str(trace))
    assert again.exit_code == 1, again.output
    assert again.stdout == (
        "reproduces: action crashed at event 1: action 'explode' of agent 'c' raised handling"
        " 'counter.explode': RuntimeError: a bug (3 lines replayed identically)\n"
    )


def test_cli_simulate_runs_a_spec_without_a_scenario() -> None:
    """A module without SCENARIO runs one agent of the spec, here on its nightly cron."""
    done = run("simulate", "jido_examples.contentops:ORCHESTRATOR", "--events", "30")
    assert done.exit_code == 0, done.output
    assert "started 1, delivered 30" in done.stdout  # the budget counts the run's events
    assert "stopped" in done.stdout.splitlines()[0]


def test_cli_simulate_bounds_a_run_by_virtual_time(tmp_path: Path) -> None:
    """``--until`` ends the run of a spec on a nightly cron job two days on, not at the end
    of its budget; the summary says it was idle there, and its trace replays identically.
    A budget spent first says the run stopped out of events."""
    trace = tmp_path / "run.jsonl"
    spec = "jido_examples.contentops:ORCHESTRATOR"
    done = run("simulate", spec, "--until", "172800", "--trace-out", str(trace))
    assert done.exit_code == 0, done.output
    first = done.stdout.splitlines()[0]
    assert first.endswith(" events, 172800 s of virtual time, idle: only timers pending")
    assert json.loads(trace.read_text(encoding="utf-8").splitlines()[0])["until"] == 172800.0
    again = run("replay", str(trace))
    assert again.exit_code == 0, again.output
    short = run("simulate", spec, "--until", "172800", "--events", "3")
    assert short.stdout.splitlines()[0] == (
        "seed 0: 4 events, 7200 s of virtual time, stopped: out of events"
    )


@pytest.mark.parametrize(
    ("until", "says"),
    [
        ("nan", "error: --until must be a finite number of seconds >= 0, got nan"),
        ("-1", "error: --until must be a finite number of seconds >= 0, got -1.0"),
        ("1e300", "error: --until 1e+300 s after the epoch is past the end of the calendar"),
    ],
)
def test_cli_simulate_refuses_a_bound_that_is_no_time(until: str, says: str) -> None:
    """A bound that is no time of the calendar is one error line, exit code 2."""
    assert one_error_line(run("simulate", BANK, "--until", until)) == says


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"drop": 0.1,\n "duplicate": 2}', "plan.json line 2: fault plan duplicate 2"),
        ('{"drop": 0.1,\n\n "explode": 1}', "plan.json line 3: unknown fault 'explode'"),
        ('{"drop": 0.1,\n "crash" 1}', "plan.json line 2: not JSON"),
    ],
)
def test_cli_simulate_bad_fault_plans_are_one_line(
    tmp_path: Path, text: str, expected: str
) -> None:
    """A bad plan file is one error line naming the file and line, exit code 2."""
    plan = write_plan(tmp_path, text)
    line = one_error_line(run("simulate", BANK, "--faults", str(plan)))
    assert expected in line


def test_cli_bad_specs_and_files_are_one_line(tmp_path: Path) -> None:
    """Unloadable specs and missing files are one error line each, exit code 2."""
    assert "no.such.module" in one_error_line(run("simulate", "no.such.module:X"))
    typo = one_error_line(run("simulate", "jido_examples.bank:ACCOUNTS"))
    assert "ACCOUNTS is not in the module (its specs: ACCOUNT, account)" in typo
    missing = tmp_path / "nope.json"
    assert "nope.json" in one_error_line(run("simulate", BANK, "--faults", str(missing)))
    assert "nope.json" in one_error_line(run("replay", str(missing), BANK))


def test_cli_replay_bad_traces_are_one_line_with_the_line_number(tmp_path: Path) -> None:
    """A malformed trace line is reported by number, exit code 2."""
    trace = tmp_path / "run.jsonl"
    assert run("simulate", BANK, "--trace-out", str(trace)).exit_code == 0
    lines = trace.read_text(encoding="utf-8").splitlines()
    lines[2] = "{not json"
    trace.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert "simulation trace line 3: not JSON" in one_error_line(run("replay", str(trace), BANK))
    trace.write_text('{"format": "jido.simulation", "version": 7}\n', encoding="utf-8")
    assert "line 1: trace version 7" in one_error_line(run("replay", str(trace), BANK))
    other = tmp_path / "other.jsonl"
    assert run("simulate", BANK, "--trace-out", str(other)).exit_code == 0
    line = one_error_line(run("replay", str(other), "jido_examples.contentops:ORCHESTRATOR"))
    assert "line 1" in line
    assert "runs no spec of the scenario" in line


def test_traces_are_identical_across_processes(tmp_path: Path) -> None:
    """A run in another interpreter, with another hash seed, writes the same bytes."""
    trace = tmp_path / "run.jsonl"
    code = "from jido_interpreters.cli import main; main()"
    args = ["simulate", BANK, "--seed", "5", "--faults", str(write_plan(tmp_path, "{}"))]
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    done = subprocess.run(
        [sys.executable, "-c", code, *args, "--trace-out", str(trace)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    here = simulate(bank.SCENARIO, seed=5, events=10_000)
    assert trace.read_bytes() == simulation_to_jsonl(here, spec=BANK).encode()


def test_a_childs_exit_never_overtakes_its_last_message() -> None:
    """A worker reports to its parent and stops: whatever latencies the seed draws, the
    parent gets the report before ``child.exit`` (as on every runtime, and in Erlang)."""
    for seed in range(60):
        sim = Simulation(BOSS_SPECS, seed=seed, latency=0.01)
        sim.start(BOSS, "bank")
        sim.send("bank", "bank.hire", {"tag": "a"}, at=0.0)
        sim.send("bank/a", "bank.work", None, at=1.0)
        result = sim.run(1_000)
        assert result.agents["bank"].state.seen == ("started:a", "report", "exit:a"), seed


def test_a_setup_that_sends_before_it_starts_replays_identically() -> None:
    """Starts and sends may interleave in a setup (an input only needs its addressee running
    when it arrives); the trace records the order, and replay keeps it."""

    def setup(sim: Simulation) -> None:
        sim.send("alice", "bank.transfer.requested", {"to": "bob", "amount": 30}, at=0.05)
        sim.start(bank.ACCOUNT, "alice", {"balance": 100})
        sim.send("bob", "bank.transfer.requested", {"to": "alice", "amount": 5}, at=0.05)
        sim.start(bank.ACCOUNT, "bob", {"balance": 0})

    scenario = Scenario(specs=bank.SPECS, setup=setup, latency=0.0)
    for seed in range(5):
        result = simulate(scenario, seed=seed)
        assert result.sent_after == (0, 1)
        text = simulation_to_jsonl(result)
        assert [i.get("after") for i in json.loads(text.splitlines()[0])["inputs"]] == [0, 1]
        assert replay(text, scenario) is None


@attrs.frozen
class Got:
    """The effect results an agent received, in order."""

    got: tuple[int, ...] = ()


@action()
def invoke_two(state: Got, _: NoParams, ctx: Context) -> ActionResult[Got]:
    return ok(
        state,
        invoke("fx.n", {"n": 1}, on_ok="fx.got", on_error="fx.failed"),
        invoke("fx.n", {"n": 2}, on_ok="fx.got", on_error="fx.failed"),
    )


@attrs.frozen
class EffectResult:
    """An effect's outcome."""

    result: FrozenMap[str, int]


@action(params=EffectResult)
def got_one(state: Got, p: EffectResult, ctx: Context) -> ActionResult[Got]:
    return ok(Got((*state.got, p.result["n"])))


TWICE = AgentSpec(
    name="twice",
    state=Got,
    routes=[Route(pattern="fx.go", target=invoke_two), Route(pattern="fx.got", target=got_one)],
)


@pytest.mark.parametrize("faults", [FaultPlan(), FaultPlan(crash=0.5)])
def test_one_steps_effect_outcomes_arrive_in_invoke_order(faults: FaultPlan) -> None:
    """As in every runtime, the outcomes of the effects one step invoked arrive in the order
    of its Invoke directives, whatever latency each draws (and when a crash invokes them
    again); only an injected effect latency may reorder them."""
    for seed in range(40):
        sim = Simulation([TWICE], seed=seed, faults=faults, effects={"fx.n": lambda a: a})
        sim.start(TWICE, "a")
        sim.send("a", "fx.go")
        assert sim.run(100).agents["a"].state.got == (1, 2)


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("latency", 10**400, "latency"),
        ("epoch", "9999-12-31T23:59:59.999999+00:00", "past the end of the calendar"),
        ("faults", {"max_delay": 10**400}, "must be finite"),
        ("input_at", 10**400, "finite number 'at'"),
    ],
)
def test_a_header_with_numbers_past_any_clock_is_a_decode_error(
    field: str, value: object, says: str
) -> None:
    """Numbers too large for a float, or times past the calendar's end, in a trace header
    are a DecodeError naming the problem (a ValueError for an input the recorded setup
    cannot send), not an OverflowError."""
    text = simulation_to_jsonl(simulate(bank.SCENARIO, seed=1, events=50))
    lines = text.splitlines()
    header = json.loads(lines[0])
    if field == "input_at":
        header["inputs"][0]["at"] = value
    else:
        header[field] = value
    with pytest.raises(ValueError if field == "epoch" else DecodeError, match=says):
        replay("\n".join([compact(header), *lines[1:]]), bank.SCENARIO)


def test_a_header_whose_latency_outlasts_the_calendar_replays_as_a_divergence() -> None:
    """A latency that takes every message past the year 9999 is a run where nothing is
    delivered: replaying a trace under it reports where the runs part, without crashing."""
    text = simulation_to_jsonl(simulate(bank.SCENARIO, seed=1, events=50))
    lines = text.splitlines()
    header = json.loads(lines[0])
    header["latency"] = 1e300
    found = replay("\n".join([compact(header), *lines[1:]]), bank.SCENARIO)
    assert found is not None


def test_faults_and_times_too_large_for_a_float_are_refused() -> None:
    """``FaultPlan`` and ``Simulation.send`` refuse numbers no float (or no calendar) can
    hold with their own errors, not an OverflowError."""
    with pytest.raises(InvalidFaultPlan) as info:
        FaultPlan(drop=10**400)
    assert info.value.field == "drop"
    sim = Simulation([bank.ACCOUNT])
    with pytest.raises(ValueError, match="past the end of the calendar"):
        sim.send("a", "bank.retry", at=1e300)


def test_cli_simulate_records_a_file_spec_replayable_from_anywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ``FILE.py:NAME`` spec given relative to the working directory is recorded with the
    file's absolute path, so the trace replays from another directory."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "my_bank.py").write_text("from jido_examples.bank import ACCOUNT, SCENARIO\n")
    monkeypatch.chdir(work)
    trace = tmp_path / "run.jsonl"
    assert run("simulate", "my_bank.py:ACCOUNT", "--trace-out", str(trace)).exit_code == 0
    assert trace_spec(trace.read_text(encoding="utf-8")) == f"{work / 'my_bank.py'}:ACCOUNT"
    monkeypatch.chdir(tmp_path)
    again = run("replay", str(trace))
    assert again.exit_code == 0, again.output


def test_a_bank_account_runs_one_retry_chain() -> None:
    """The startup tick is the retry chain: a transfer accepted before it fires joins it
    instead of arming a second one, so each unacknowledged credit is sent again once per
    tick."""
    rt = SyncRuntime(bank.SPECS)
    rt.start(bank.ACCOUNT, "alice", {"balance": 100})
    rt.cast("alice", "bank.transfer.requested", {"to": "bob", "amount": 30})  # bob is away
    rt.run_until_idle()
    rt.advance(4 * bank.RETRY_SECONDS)
    retries = [e.at for e in rt.trace if e.signal.type == "bank.retry"]
    assert len(retries) == 4
    assert len(set(retries)) == 4


def test_cli_progress_leaves_nothing_on_stderr(tmp_path: Path) -> None:
    """Where stderr is no terminal there is no progress bar, so nothing of it is left before
    an error, or after a run."""
    trace = tmp_path / "run.jsonl"
    done = run("simulate", BANK, "--events", "50", "--trace-out", str(trace))
    assert (done.exit_code, done.stderr) == (0, "")
    replayed = run("replay", str(trace))
    assert (replayed.exit_code, replayed.stderr) == (0, "")
    lines = trace.read_text(encoding="utf-8").splitlines()
    lines[1] = "[]"
    trace.write_text("\n".join(lines) + "\n", encoding="utf-8")
    broken = run("replay", str(trace))
    assert broken.exit_code == 2
    assert broken.stderr == f"error: {trace}: simulation trace line 2: expected a JSON object\n"


@pytest.mark.parametrize(
    ("key", "value"),
    [("agents", "x"), ("agents", {"id": "alice"}), ("inputs", "x"), ("inputs", [1])],
)
def test_a_header_whose_agents_or_inputs_are_no_list_of_objects_is_refused(
    key: str, value: object
) -> None:
    """A header's ``agents`` and ``inputs`` are lists of objects: anything else is said so
    (not "agent 'x' runs no spec", from iterating a string's letters)."""
    lines = simulation_to_jsonl(simulate(bank.SCENARIO, seed=1, events=20)).splitlines()
    header = json.loads(lines[0])
    header[key] = value
    text = "\n".join([json.dumps(header), *lines[1:]]) + "\n"
    with pytest.raises(DecodeError) as caught:
        replay(text, bank.SCENARIO)
    assert caught.value.what == "simulation trace line 1"
    assert caught.value.reason == f"{key} must be a list of objects, not {value!r}"


def test_the_fault_classes_are_public() -> None:
    """``FAULT_CLASSES`` (the classes of ``Fault``, for ``isinstance``) is importable from
    the package, as the ``Fault`` docs say: it was only in a private module."""
    import typing

    from jido_interpreters import FAULT_CLASSES, Fault

    assert set(FAULT_CLASSES) == set(typing.get_args(Fault))


@action()
def rearm(state: Ticks, _: NoParams, ctx: Context) -> ActionResult[Ticks]:
    return ok(attrs.evolve(state, ticks=state.ticks + 1), schedule(1.0, "loop.tick"))


LOOP = AgentSpec(name="loop", state=Ticks, routes=[Route(pattern="loop.tick", target=rearm)])


def _looping(sim: Simulation) -> None:
    sim.start(LOOP, "l")
    sim.send("l", "loop.tick")


def test_a_replay_whose_header_asks_for_more_events_stops_past_the_trace() -> None:
    """A header edited to a budget of 10**9 events, for a system that never goes quiet, is
    replayed no further than the trace's last line: the run differs there, and is reported
    so at once, rather than run for a billion events and compared after."""
    scenario = Scenario(specs=[LOOP], setup=_looping)
    text = simulation_to_jsonl(simulate(scenario, events=5))
    assert replay(text, scenario) is None
    seen: list[int] = []

    def progress(n: int) -> None:
        seen.append(n)
        if n > 100:
            raise AssertionError(f"the replay ran on to event {n}")

    found = replay(reheaded(text, events=10**9), scenario, progress=progress)
    assert found is not None
    lines = len(text.splitlines())
    assert (found.line, found.expected) == (lines + 1, None)  # one event more than recorded
    assert found.actual is not None
    assert max(seen) <= lines + 1
