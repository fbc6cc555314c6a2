"""Cron jobs in time: across daylight-saving changes, the same on SyncRuntime, a Simulation
and AsyncRuntime (they share one tick iterator), and on AsyncRuntime after the wall clock
jumped ahead.

The policy is Vixie cron's: a job at fixed times of day runs by the wall clock (once in an
hour the clocks repeat, right after an hour they skip); any other job runs by real time.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import attrs
import pytest

from jido import ActionResult, AgentSpec, Context, NoParams, Route, action, cron, ok
from jido_interpreters import AsyncRuntime, Simulation, SyncRuntime

NEW_YORK = "America/New_York"
# 2026 in New York: the clocks go forward at 02:00 on March 8 (07:00 UTC), back at 02:00 on
# November 1 (06:00 UTC), so 01:00-02:00 that morning comes twice: 05:00-06:00 and
# 06:00-07:00 UTC. In London they go back at 02:00 BST on October 25 (01:00 UTC).
NEW_YORK_BACK = datetime(2026, 10, 31, 12, tzinfo=UTC)
NEW_YORK_FORWARD = datetime(2026, 3, 7, tzinfo=UTC)
LONDON_BACK = datetime(2026, 10, 24, 12, tzinfo=UTC)


@attrs.frozen
class Job:
    """A cron expression and its timezone."""

    expression: str
    timezone: str = "UTC"


@attrs.frozen
class Ticks:
    """When the job ticked (UTC, ISO 8601)."""

    at: tuple[str, ...] = ()


@action(params=Job)
def register(state: Ticks, p: Job, ctx: Context) -> ActionResult[Ticks]:
    return ok(state, cron(p.expression, "t.tick", job_id="job", timezone=p.timezone))


@action()
def tick(state: Ticks, _: NoParams, ctx: Context) -> ActionResult[Ticks]:
    assert ctx.signal is not None
    assert ctx.signal.time is not None
    return ok(Ticks((*state.at, ctx.signal.time.astimezone(UTC).strftime("%m-%d %H:%M"))))


SPEC = AgentSpec(
    name="cron",
    state=Ticks,
    routes=[Route(pattern="t.register", target=register), Route(pattern="t.tick", target=tick)],
)


def ticks(expression: str, timezone: str, start: datetime, hours: float) -> tuple[str, ...]:
    """The ticks (UTC) of a job registered at ``start`` on SyncRuntime, for ``hours``."""
    rt = SyncRuntime([SPEC], epoch=start)
    rt.start(SPEC, "a")
    rt.send("a", "t.register", {"expression": expression, "timezone": timezone})
    assert not rt.problems
    rt.advance(hours * 3600)
    return tuple(rt.state("a").at)


@pytest.mark.parametrize(
    ("expression", "timezone", "start", "expected"),
    [
        # 01:30 EDT (05:30 UTC) on November 1, not 01:30 EST an hour later; then 01:30 EST.
        ("30 1 * * *", NEW_YORK, NEW_YORK_BACK, ("11-01 05:30", "11-02 06:30", "11-03 06:30")),
        ("30 1 * * *", "Europe/London", LONDON_BACK, ("10-25 00:30", "10-26 01:30", "10-27 01:30")),
        # A list of hours is fixed times too: 01:30 once, 02:30 (not repeated) once.
        ("30 1,2 * * *", NEW_YORK, NEW_YORK_BACK, ("11-01 05:30", "11-01 07:30", "11-02 06:30")),
        # Havana goes back from 01:00 to midnight: midnight comes twice, @daily ticks once.
        ("@daily", "America/Havana", NEW_YORK_BACK, ("11-01 04:00", "11-02 05:00", "11-03 05:00")),
    ],
)
def test_a_fixed_time_job_ticks_once_on_the_day_the_clocks_go_back(
    expression: str, timezone: str, start: datetime, expected: tuple[str, ...]
) -> None:
    """A job at a fixed time of day whose time the clocks pass twice ticks on the first
    pass only: a daily job ticks once a day, that day too."""
    assert ticks(expression, timezone, start, hours=3 * 24)[:3] == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # Hourly: 01:00 EDT and 01:00 EST, an hour apart, as every other hour.
        ("0 * * * *", ("05:00", "06:00", "07:00", "08:00")),
        # Every 20 minutes during 01:xx: both passes of it, two hours.
        ("*/20 1 * * *", ("05:00", "05:20", "05:40", "06:00", "06:20", "06:40")),
        # A range of hours is no fixed time either: 01:30 EDT, 01:30 EST, 02:30 EST.
        ("30 1-2 * * *", ("05:30", "06:30", "07:30")),
        # A step in the seconds (the sixth field) too: at 01:30:00 and 01:30:30, both passes.
        ("30 1 * * * */30", ("05:30", "05:30", "06:30", "06:30")),
    ],
)
def test_an_interval_job_ticks_in_both_passes_of_the_repeated_hour(
    expression: str, expected: tuple[str, ...]
) -> None:
    """A job with ``*``, a range or a step in its minute or hour field (or its seconds
    field, if it has one) runs by real time: the repeated hour is an hour like any other,
    and it ticks in both passes."""
    start = datetime(2026, 11, 1, 4, 30, tzinfo=UTC)
    assert ticks(expression, NEW_YORK, start, hours=3.5)[: len(expected)] == tuple(
        f"11-01 {t}" for t in expected
    )


def test_a_fixed_time_job_registered_during_the_second_pass_waits_for_the_next_day() -> None:
    """Registered at 01:10 EST, on the second pass of 01:xx, a job at 01:30 does not tick
    20 minutes later: on the wall clock its time came already (at 01:30 EDT)."""
    start = datetime(2026, 11, 1, 6, 10, tzinfo=UTC)
    assert ticks("30 1 * * *", NEW_YORK, start, hours=24 + 1) == ("11-02 06:30",)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # 02:30 does not exist on March 8: the job ticks once, at 03:00 EDT (07:00 UTC).
        ("30 2 * * *", ("03-07 07:30", "03-08 07:00", "03-09 06:30")),
        # However many of its times fall in the gap, it ticks once after it.
        ("15,45 2 * * *", ("03-07 07:15", "03-07 07:45", "03-08 07:00", "03-09 06:15")),
        # Every hour: 01:30 EST, then 03:30 EDT an hour later; nothing at 03:00.
        ("30 * * * *", ("03-08 05:30", "03-08 06:30", "03-08 07:30", "03-08 08:30")),
    ],
)
def test_a_time_the_clocks_skip_ticks_once_right_after_the_gap(
    expression: str, expected: tuple[str, ...]
) -> None:
    """The hour the clocks skip in spring: a job at a time in it ticks once, as the clocks
    reach 03:00; a job at every hour goes on with its next hour, an hour later."""
    start = NEW_YORK_FORWARD if expression != "30 * * * *" else datetime(2026, 3, 8, 5, tzinfo=UTC)
    assert ticks(expression, NEW_YORK, start, hours=3 * 24)[: len(expected)] == expected


def test_a_simulation_ticks_a_job_as_sync_runtime_does() -> None:
    """The Simulation shares the tick iterator: on the day the clocks go back, the daily job
    ticks once there too."""
    sim = Simulation([SPEC], seed=1, epoch=NEW_YORK_BACK)
    sim.start(SPEC, "a")
    sim.send("a", "t.register", {"expression": "30 1 * * *", "timezone": NEW_YORK})
    sim.run(events=4)  # the registration and three ticks
    assert sim.agent("a").state.at == ("11-01 05:30", "11-02 06:30", "11-03 06:30")


def test_async_runtime_arms_a_fixed_time_job_for_the_next_day_after_the_first_pass() -> None:
    """AsyncRuntime too: once the daily job ticked at 01:30 EDT, its next tick is 01:30 EST
    the next day, not 01:30 EST an hour later."""
    now = datetime(2026, 11, 1, 5, 29, 59, 950_000, tzinfo=UTC)  # 50 ms before 01:30 EDT

    async def main() -> None:
        async with AsyncRuntime([SPEC], clock=lambda: now) as rt:
            await rt.start(SPEC, "a")
            await rt.call("a", "t.register", {"expression": "30 1 * * *", "timezone": NEW_YORK})
            # (Stamped with the clock's time, which stands still here.)
            await rt.wait_until("a", lambda a: len(a.state.at) == 1)
            armed = rt._servers["a"].crons["job"].when() - asyncio.get_running_loop().time()
            next_day = datetime(2026, 11, 2, 6, 30, tzinfo=UTC) - now
            assert abs(armed - next_day.total_seconds()) < 60

    asyncio.run(main())


def test_every_day_of_a_year_has_one_tick_of_a_daily_job() -> None:
    """Over a whole year with both changes, a daily job in a zone with daylight saving ticks
    once on each day, on its wall-clock time (or, the day it does not exist, right after)."""
    start = datetime(2026, 1, 1, 12, tzinfo=UTC)
    days = ticks("30 1 * * *", NEW_YORK, start, hours=365 * 24)
    assert len(days) == len({d[:5] for d in days}) == 365


def test_a_job_that_fell_behind_ticks_once_and_resumes_at_its_next_time() -> None:
    """When the wall clock jumps ahead (a laptop resumed, an NTP step, a blocked loop), a
    minutely job does not deliver the 600 ticks of the ten hours it missed back to back: it
    ticks once, late, and its next tick is its first after the current time."""
    now = datetime(2026, 1, 1, 0, 0, 59, 900_000, tzinfo=UTC)  # 0.1 s before its first tick

    async def main() -> None:
        nonlocal now
        async with AsyncRuntime([SPEC], clock=lambda: now) as rt:
            await rt.start(SPEC, "a")
            await rt.call("a", "t.register", {"expression": "* * * * *"})
            now = datetime(2026, 1, 1, 10, 1, 30, tzinfo=UTC)  # 10 h 30 s later
            await rt.wait_until("a", lambda a: len(a.state.at) == 1)
            assert rt.state("a").at == ("01-01 10:01",)  # the late tick, stamped when it came
            armed = rt._servers["a"].crons["job"].when() - asyncio.get_running_loop().time()
            assert 25 < armed <= 30  # 10:02:00, the first tick after 10:01:30

    asyncio.run(main())


@attrs.frozen
class Named:
    """A job id; the job ticks ``tick.<job>``."""

    job: str


@attrs.frozen
class Order:
    """The jobs that ticked, in the order their ticks were handled."""

    ticked: tuple[str, ...] = ()


@action(params=Named)
def register_named(state: Order, p: Named, ctx: Context) -> ActionResult[Order]:
    return ok(state, cron("* * * * *", f"tick.{p.job}", job_id=p.job))


@action()
def ticked(state: Order, _: NoParams, ctx: Context) -> ActionResult[Order]:
    assert ctx.signal is not None
    return ok(Order((*state.ticked, ctx.signal.type.removeprefix("tick."))))


ORDER = AgentSpec(
    name="order",
    state=Order,
    routes=[
        Route(pattern="t.register", target=register_named),
        Route(pattern="tick.*", target=ticked),
    ],
)


def test_cron_jobs_due_at_one_instant_tick_in_the_order_they_were_armed_everywhere() -> None:
    """Jobs of one agent due at the same instant tick in the order they were registered, on
    AsyncRuntime as on SyncRuntime and in a Simulation, though their loop timers were armed
    at different moments (here the later the job, the sooner its timer would fire)."""
    names = ("a", "b", "c")
    rt = SyncRuntime([ORDER])
    rt.start(ORDER, "x")
    for name in names:
        rt.send("x", "t.register", {"job": name})
    rt.advance(120)
    assert rt.state("x").ticked == names * 2
    sim = Simulation([ORDER], seed=3)
    sim.start(ORDER, "x")
    for name in names:
        sim.send("x", "t.register", {"job": name})
    assert sim.run(until=120).agents["x"].state.ticked == names * 2

    due = datetime(2026, 1, 1, 0, 1, tzinfo=UTC)
    now = due

    async def main() -> None:
        nonlocal now
        async with AsyncRuntime([ORDER], clock=lambda: now) as rt:
            await rt.start(ORDER, "x")
            for name, early in zip(names, (0.6, 0.35, 0.1), strict=True):
                now = due - timedelta(seconds=early)  # c's timer is armed to fire first
                await rt.call("x", "t.register", {"job": name})
            done = await rt.wait_until("x", lambda a: len(a.state.ticked) == 3, timeout=5.0)
            assert done.state.ticked == names

    asyncio.run(main())
