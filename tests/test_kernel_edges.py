"""The synchronous interpreters at their edges: cron jobs that never fire, odd time zones,
extensions that fail, sensors that end, effects and emits of one step, and the same
scenarios on AsyncRuntime where the two must agree."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import attrs
import pytest

from jido import (
    SENSOR_EXIT,
    ActionResult,
    AgentSpec,
    Context,
    CustomDirective,
    FrozenMap,
    JsonValue,
    NoParams,
    ProblemKind,
    Route,
    Signal,
    action,
    cron,
    emit,
    invoke,
    ok,
    schedule,
    start_sensor,
)
from jido_interpreters import (
    AgentOptions,
    AsyncRuntime,
    Continue,
    DryRun,
    ErrorPolicy,
    Restart,
    RunawayError,
    SensorFn,
    Simulation,
    SyncRuntime,
)


@attrs.frozen
class Log:
    """What an agent has seen, by signal type, in order."""

    seen: tuple[str, ...] = ()


@attrs.frozen
class Expr:
    """A cron expression and its timezone."""

    expression: str
    timezone: str = "UTC"


@attrs.frozen
class Reason:
    """A sensor exit's reason."""

    reason: str = ""


@attrs.frozen(kw_only=True)
class Ping(CustomDirective):
    """A directive of the interpreter's own."""


@action()
def note(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    assert ctx.signal is not None
    return ok(Log((*state.seen, ctx.signal.type)))


@action(params=Reason)
def ended(state: Log, p: Reason, ctx: Context) -> ActionResult[Log]:
    return ok(Log((*state.seen, f"sensor.exit:{p.reason}")))


@action(params=Expr)
def register(state: Log, p: Expr, ctx: Context) -> ActionResult[Log]:
    return ok(state, cron(p.expression, "t.tick", job_id="job", timezone=p.timezone))


@action()
def both(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    return ok(state, invoke("fx", None, on_ok="t.ok", on_error="t.err"), emit("t.after"))


@action()
def ping(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    return ok(state, Ping())


@action()
def watch(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    return ok(state, start_sensor("twice", tag="w"))


SPEC = AgentSpec(
    name="edge",
    state=Log,
    routes=[
        Route(pattern="t.register", target=register),
        Route(pattern="t.both", target=both),
        Route(pattern="t.ping", target=ping),
        Route(pattern="t.watch", target=watch),
        Route(pattern=SENSOR_EXIT, target=ended),
        Route(pattern="t.tick", target=note),
        Route(pattern="t.ok", target=note),
        Route(pattern="t.err", target=note),
        Route(pattern="t.after", target=note),
        Route(pattern="t.sensed", target=note),
    ],
)


def problem_messages(rt: SyncRuntime) -> list[str]:
    return [p.message for p in rt.problems]


# ---------------------------------------------------------------- cron


@pytest.mark.parametrize(
    ("expression", "timezone", "says"),
    [
        ("0 0 31 4 *", "UTC", "never fires"),  # April has 30 days
        ("0 0 30,31 2 *", "UTC", "never fires"),
        ("0 0 1 1 * 0 2020", "UTC", "never fires"),  # a year gone by
        ("0 0 * * *", "Europe", "unknown timezone 'Europe'"),  # a folder of zones
        ("not cron", "UTC", "invalid cron expression"),
        # croniter's random values: the job would tick at other times on every run.
        ("R * * * *", "UTC", "invalid cron expression 'R * * * *': R (a random time"),
        ("0 r(1-3) * * *", "UTC", "invalid cron expression '0 r(1-3) * * *': R"),
        ("R/5 * * * *", "UTC", "invalid cron expression 'R/5 * * * *': R"),
        ("0 0 * * R", "UTC", "invalid cron expression '0 0 * * R': R"),
    ],
)
def test_a_cron_job_that_cannot_tick_is_a_problem_on_both_runtimes(
    expression: str, timezone: str, says: str
) -> None:
    """An expression croniter parses but that matches no date, and a timezone that names a
    folder of zones, are recorded problems like an unparsable expression: nothing is armed,
    nothing crashes, on SyncRuntime and AsyncRuntime alike."""
    rt = SyncRuntime([SPEC])
    rt.start(SPEC, "a")
    rt.cast("a", "t.register", {"expression": expression, "timezone": timezone})
    rt.run_until_idle()
    (message,) = problem_messages(rt)
    assert says in message
    assert rt.pending_timers() == 0

    async def main() -> None:
        async with AsyncRuntime([SPEC]) as art:
            await art.start(SPEC, "a")
            await art.call("a", "t.register", {"expression": expression, "timezone": timezone})
            stats = art.statistics()
            assert (stats.crashes, stats.problems) == (0, 1)
            assert says in art.problems[0].message

    asyncio.run(main())


def test_month_and_day_names_with_an_r_are_not_random() -> None:
    """Only a whole R token is croniter's random value: MAR, APR, FRI and THU-FRI are names,
    and a job using them ticks on its dates."""
    rt = SyncRuntime([SPEC])
    rt.start(SPEC, "a")
    rt.cast("a", "t.register", {"expression": "0 12 * MAR,apr FRI,thu-fri"})
    rt.run_until_idle()
    assert not rt.problems
    rt.advance(timedelta(days=90).total_seconds())  # Jan 1 .. Apr 1, 2026
    ticks = [e.signal.time for e in rt.trace if e.signal.type == "t.tick"]
    march = [datetime(2026, 3, day, 12, tzinfo=UTC) for day in (5, 6, 12, 13, 19, 20, 26, 27)]
    assert ticks == march  # its Thursdays and Fridays at noon


def test_a_cron_job_whose_last_tick_passed_ends_after_it() -> None:
    """A job with a year field ticks while dates match, and then is over: its last tick is
    delivered, and advancing further neither fails nor ticks again."""
    rt = SyncRuntime([SPEC], epoch=datetime(2026, 12, 30, tzinfo=UTC))
    rt.start(SPEC, "a")
    rt.cast("a", "t.register", {"expression": "0 0 * * * 0 2026"})
    rt.run_until_idle()
    rt.advance(timedelta(days=5).total_seconds())
    assert rt.state("a").seen == ("t.tick",)  # Dec 31, 2026, the last date that matches
    assert rt.pending_timers() == 0
    rt.advance(timedelta(days=5).total_seconds())
    assert rt.state("a").seen == ("t.tick",)


def test_virtual_time_in_a_zone_with_daylight_saving_is_absolute() -> None:
    """With an epoch in New York on the day clocks go forward, advancing four hours is four
    hours of absolute time, and an hourly cron job ticks on the hour, every hour."""
    new_york = ZoneInfo("America/New_York")
    epoch = datetime(2026, 3, 8, 0, 0, tzinfo=new_york)
    rt = SyncRuntime([SPEC], epoch=epoch)
    rt.start(SPEC, "a")
    rt.cast("a", "t.register", {"expression": "0 * * * *", "timezone": "America/New_York"})
    rt.run_until_idle()
    rt.advance(4 * 3600)
    assert rt.now == epoch.astimezone(UTC) + timedelta(hours=4)
    ticks = [e.signal.time for e in rt.trace if e.signal.type == "t.tick"]
    assert len(ticks) == 4
    assert [t.astimezone(UTC).hour for t in ticks if t is not None] == [6, 7, 8, 9]


def test_virtual_time_ends_with_the_last_date_a_datetime_holds() -> None:
    """A yearly cron job simply stops ticking near the year 9999; advancing past that date
    is refused with a clear error, as is an epoch with no time in UTC."""
    epoch = datetime(9990, 1, 1, tzinfo=UTC)
    rt = SyncRuntime([SPEC], epoch=epoch)
    rt.start(SPEC, "a")
    rt.cast("a", "t.register", {"expression": "0 0 1 1 *", "timezone": "UTC"})
    rt.run_until_idle()
    end = (datetime(9999, 12, 30, tzinfo=UTC) - epoch).total_seconds()
    rt.advance(end)
    assert rt.state("a").seen == ("t.tick",) * 9
    with pytest.raises(ValueError, match="9999"):
        rt.advance(2 * 86400)
    with pytest.raises(ValueError, match="no time in UTC"):
        SyncRuntime([SPEC], epoch=datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))))


@action()
def again_now(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    """Re-arm at once, 150 times (past the test's ``max_steps``: a loop, to the runtime)."""
    seen = Log((*state.seen, "t.again"))
    return ok(seen, schedule(0.0, "t.again")) if len(seen.seen) < 150 else ok(seen)


AGAIN = AgentSpec(name="again", state=Log, routes=[Route(pattern="t.again", target=again_now)])


def test_a_timer_that_rearms_itself_at_once_is_a_runaway() -> None:
    """A timer that re-arms itself with no delay keeps virtual time standing still: the run
    (a timer due now fires within it) stops with RunawayError after ``max_steps`` signals
    at that instant, as for an agent emitting to itself, instead of looping for ever."""
    rt = SyncRuntime([AGAIN], max_steps=100, record=False)
    rt.start(AGAIN, "a")
    with pytest.raises(RunawayError):
        rt.send("a", "t.again")
    assert 100 <= len(rt.state("a").seen) <= 101


def test_two_timers_rearming_at_once_are_a_runaway_too() -> None:
    """Two agents' timers re-arming at the same instant are caught as one is: each timer's
    steps count against ``max_steps``, not a budget pooled over the timers due together
    (a way of firing them that pooled it looped for ever)."""
    rt = SyncRuntime([AGAIN], max_steps=100, record=False)
    for agent_id in ("a", "b"):
        rt.start(AGAIN, agent_id)
    for agent_id in ("a", "b"):
        rt.cast(agent_id, "t.again")
    with pytest.raises(RunawayError):
        rt.run_until_idle()
    assert all(len(rt.state(i).seen) <= 101 for i in ("a", "b"))


HOURLY = AgentSpec(
    name="hourly",
    state=Log,
    routes=[Route(pattern="t.tick", target=note)],
    schedules=[schedule(3600.0, "t.tick")],
)


AT_ONCE = AgentSpec(
    name="at_once",
    state=Log,
    routes=[Route(pattern="t.tick", target=note)],
    schedules=[schedule(0.0, "t.tick")],
)


def test_timers_that_merely_fall_due_together_are_no_runaway() -> None:
    """Many agents whose timers fall due at the same instant are not a loop: each timer's
    signal is a run of its own, bounded by ``max_steps`` alone."""
    rt = SyncRuntime([HOURLY], max_steps=2, record=False)
    for i in range(5):
        rt.start(HOURLY, f"h{i}")
    assert rt.advance(7200) == 5


def test_timers_armed_with_no_delay_fire_in_the_run_that_armed_them() -> None:
    """As on AsyncRuntime, where a timer due now fires at once: a start, a send and a call
    run until idle, which a timer due now is not (it used to wait for an ``advance``). The
    clock does not move."""
    rt = SyncRuntime([AT_ONCE], max_steps=2, record=False)
    for i in range(5):
        rt.start(AT_ONCE, f"h{i}")  # each its own run: no runaway
        assert rt.state(f"h{i}").seen == ("t.tick",)
    assert rt.pending_timers() == 0
    rt = SyncRuntime([AGAIN], record=False)
    rt.start(AGAIN, "a")
    before = rt.now
    assert rt.call("a", "t.again").state.seen == ("t.again",)  # the agent right after it
    assert len(rt.state("a").seen) == 150  # and the 149 re-armed timers ran before call returned
    assert rt.now == before


# ---------------------------------------------------------------- extensions that fail


def test_a_custom_handler_that_raises_or_returns_junk_is_a_problem() -> None:
    """A custom directive handler that raises, or gives something that is not a signal, is
    a directive problem in the trace; the trace stays a chain of befores and afters."""

    def broken(agent_id: str, d: Ping) -> Iterable[Signal]:
        raise RuntimeError("handler bug")

    def junk(agent_id: str, d: Ping) -> Iterable[Signal]:
        return ["not a signal"]  # type: ignore[list-item]

    for handler, says in ((broken, "raised RuntimeError: handler bug"), (junk, "not a Signal")):
        rt = SyncRuntime([SPEC], directives={Ping: handler})
        rt.start(SPEC, "a")
        rt.cast("a", "t.ping")
        rt.cast("a", "t.after")
        rt.run_until_idle()
        (problem,) = rt.problems
        assert problem.kind is ProblemKind.DIRECTIVE
        assert says in problem.message
        assert [e.signal.type for e in rt.trace] == ["t.ping", "t.after"]
        assert all(a.after == b.before for a, b in zip(rt.trace, rt.trace[1:], strict=False))


def test_a_custom_handler_that_returns_junk_is_a_problem_on_asyncruntime_too() -> None:
    """AsyncRuntime agrees: what a custom handler gives that is not a signal is a directive
    problem, and the agent goes on handling signals."""

    def junk(agent_id: str, d: Ping) -> Iterable[Signal]:
        return ["not a signal"]  # type: ignore[list-item]

    async def main() -> None:
        async with AsyncRuntime([SPEC], directives={Ping: junk}) as rt:
            await rt.start(SPEC, "a")
            await rt.call("a", "t.ping", timeout=5)
            after = await rt.call("a", "t.after", timeout=5)
            assert after.state.seen == ("t.after",)
            (problem,) = rt.problems
            assert problem.kind is ProblemKind.DIRECTIVE
            assert "not a Signal" in problem.message
            assert rt.statistics().crashes == 0

    asyncio.run(main())


@action()
def ping_then_emit(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    return ok(state, Ping(), emit("t.after"))


PINGER = AgentSpec(
    name="pinger",
    state=Log,
    routes=[Route(pattern="t.go", target=ping_then_emit), Route(pattern="t.after", target=note)],
)


@pytest.mark.parametrize(
    ("policy", "seen"), [(Continue(), ("t.after",)), (Restart(max_restarts=3, within=60.0), ())]
)
def test_a_restart_ends_the_step_whose_directive_crashed(
    policy: ErrorPolicy, seen: tuple[str, ...]
) -> None:
    """A custom handler raising mid-step under ``Restart`` restarts the agent, and the
    crashed step's remaining directives are not carried out by the restarted agent; under
    ``Continue`` they are."""

    def broken(agent_id: str, d: Ping) -> Iterable[Signal]:
        raise RuntimeError("handler bug")

    async def main() -> None:
        options = {"pinger": AgentOptions(error_policy=policy)}
        async with AsyncRuntime([PINGER], directives={Ping: broken}, options=options) as rt:
            await rt.start(PINGER, "a")
            await rt.call("a", "t.go", timeout=5)
            await rt.wait_idle(timeout=5)
            assert rt.state("a").seen == seen
            assert rt.statistics().crashes == 1

    asyncio.run(main())


def test_a_canned_reply_that_raises_is_the_effects_error() -> None:
    """In a dry run, a reply function that raises gives the effect's ``on_error``, as a
    raising effect handler does in SyncRuntime."""

    def reply(args: object) -> JsonValue:
        raise KeyError("no such order")

    run = DryRun([SPEC], replies={"fx": reply})
    run.start(SPEC, "a")
    run.send("a", "t.both")
    assert run.state("a").seen == ("t.after", "t.err")
    assert [s.signal_type for s in run.review().steps] == ["t.both", "t.after", "t.err"]


def test_start_problems_are_in_the_review() -> None:
    """A declared schedule that cannot be registered is a problem of the agent starting:
    the review lists it (text, Markdown and JSON), for a spawned child too."""
    broken = AgentSpec(
        name="broken",
        state=Log,
        schedules=[cron("not a cron", "t.tick", job_id="nightly")],
    )
    run = DryRun([broken])
    run.start(broken, "b")
    report = run.review()
    assert report.start_problems == ("[start b] [directive] invalid cron expression 'not a cron'",)
    assert "! [start b] [directive] invalid cron expression" in report.to_text()
    assert "[start b]" in report.to_markdown()
    assert "[start b]" in report.to_json()


# ---------------------------------------------------------------- parity


def sensor_twice(config: FrozenMap[str, JsonValue]) -> list[tuple[float, str, JsonValue]]:
    return [(0.0, "t.sensed", None), (1.0, "t.sensed", None)]


async def async_sensor_twice(config: FrozenMap[str, JsonValue]):  # type: ignore[no-untyped-def]
    for _ in range(2):
        yield "t.sensed", None


def effect(args: object) -> JsonValue:
    return "done"


async def async_effect(args: object) -> JsonValue:
    return "done"


@pytest.mark.parametrize("signal", ["t.watch", "t.both"])
def test_sync_and_async_agree_on_sensor_ends_and_effect_order(signal: str) -> None:
    """A sensor that runs out ends with ``sensor.exit`` (reason ``normal``) on both
    runtimes, after its last emission; and a step's effect outcome arrives after what the
    step's later directives sent, on both."""
    rt = SyncRuntime([SPEC], sensors={"twice": sensor_twice}, effects={"fx": effect})
    rt.start(SPEC, "a")
    rt.cast("a", signal)
    rt.run_until_idle()
    rt.advance(5)
    sync_seen = rt.state("a").seen

    async def main() -> tuple[str, ...]:
        async with AsyncRuntime(
            [SPEC], sensors={"twice": async_sensor_twice}, effects={"fx": async_effect}
        ) as art:
            await art.start(SPEC, "a")
            await art.cast("a", signal)
            await art.wait_idle(timeout=5)
            seen: tuple[str, ...] = art.state("a").seen
            return seen

    assert sync_seen == asyncio.run(main())
    if signal == "t.watch":
        assert sync_seen == ("t.sensed", "t.sensed", "sensor.exit:normal")
    else:
        assert sync_seen == ("t.after", "t.ok")


@action()
def echo(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    return ok(Log((*state.seen, "t.echo")), emit("t.after"))


@action()
def listen(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    return ok(state, start_sensor("echo", tag="e"))


ECHO = AgentSpec(
    name="echo",
    state=Log,
    routes=[
        Route(pattern="t.listen", target=listen),
        Route(pattern="t.echo", target=echo),
        Route(pattern="t.after", target=note),
        Route(pattern=SENSOR_EXIT, target=ended),
    ],
)


def sensor_echo(config: FrozenMap[str, JsonValue]) -> list[tuple[float, str, JsonValue]]:
    return [(0.5, "t.echo", None), (1.0, "t.echo", None)]


def seen_alike(sensor: SensorFn) -> tuple[str, ...]:
    """What ECHO's agent saw, listening to ``sensor``, on SyncRuntime and on a Simulation
    with latency 0 (which runs as SyncRuntime does): checked to be the same on both."""
    rt = SyncRuntime([ECHO], sensors={"echo": sensor})
    rt.start(ECHO, "a")
    rt.send("a", "t.listen")
    rt.advance(5)
    sim = Simulation([ECHO], sensors={"echo": sensor}, latency=0)
    sim.start(ECHO, "a")
    sim.send("a", "t.listen")
    simulated: tuple[str, ...] = sim.run(50).agents["a"].state.seen
    assert simulated == rt.state("a").seen
    return simulated


def test_a_simulation_orders_a_sensors_end_as_sync_runtime_does() -> None:
    """With latency 0 a simulation runs as SyncRuntime: a sensor's ``sensor.exit`` comes
    right after its last emission, ahead of what that emission's step sent."""
    seen = seen_alike(sensor_echo)
    assert seen == ("t.echo", "t.after", "t.echo", "sensor.exit:normal", "t.after")


def sensor_echo_then_fail(config: FrozenMap[str, JsonValue]) -> Iterable[tuple[float, str, None]]:
    yield (0.5, "t.echo", None)
    yield (1.0, "t.echo", None)
    raise OSError("unplugged")


def test_a_sensor_that_fails_after_yielding_is_read_alike_by_sync_runtime_and_simulation() -> None:
    """A generator sensor that raises after yielding: both deliver what it yielded, then
    its ``sensor.exit`` with the error, in one order."""
    assert seen_alike(sensor_echo_then_fail) == (
        "t.echo",
        "t.after",
        "t.echo",
        "sensor.exit:OSError: unplugged",
        "t.after",
    )


@action()
def later_then_now(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    return ok(state, schedule(0.0, "t.tick"), emit("t.after"))


PROMPT = AgentSpec(
    name="prompt",
    state=Log,
    routes=[
        Route(pattern="t.go", target=later_then_now),
        Route(pattern="t.tick", target=note),
        Route(pattern="t.after", target=note),
    ],
)


def test_a_timer_due_now_waits_for_what_is_sent_now_everywhere() -> None:
    """A step arms a timer with no delay, then emits: the emit is handled first on
    SyncRuntime, on AsyncRuntime, and in a simulation with latency 0."""
    rt = SyncRuntime([PROMPT])
    rt.start(PROMPT, "a")
    rt.send("a", "t.go")
    rt.advance(1)
    sim = Simulation([PROMPT], latency=0)
    sim.start(PROMPT, "a")
    sim.send("a", "t.go")

    async def main() -> tuple[str, ...]:
        async with AsyncRuntime([PROMPT]) as art:
            await art.start(PROMPT, "a")
            await art.cast("a", "t.go")
            await art.wait_until("a", lambda a: len(a.state.seen) == 2, timeout=5)
            seen: tuple[str, ...] = art.state("a").seen
            return seen

    expected = ("t.after", "t.tick")
    assert rt.state("a").seen == expected
    assert sim.run(20).agents["a"].state.seen == expected
    assert asyncio.run(main()) == expected


def test_in_a_simulation_an_outcome_never_overtakes_its_steps_own_signals() -> None:
    """Whatever latencies a seed draws, the outcome of a step's effect arrives after the
    signal the same step sent its agent, as on both runtimes."""
    for seed in range(40):
        sim = Simulation([SPEC], seed=seed, latency=1.0, effects={"fx": effect})
        sim.start(SPEC, "a")
        sim.send("a", "t.both")
        assert sim.run(50).agents["a"].state.seen == ("t.after", "t.ok"), seed
