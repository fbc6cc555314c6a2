"""Error policies and ``on_parent_death`` on the virtual-time interpreters: SyncRuntime,
Simulation, DryRun and AgentMachine take AsyncRuntime's ``AgentOptions``.

Without options a crash is raised, as it always was (a test never passes over a bug); with
them it follows the agent's policy, as on AsyncRuntime (tests/test_parity.py compares the
outcomes across interpreters).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import attrs
import pytest
from hypothesis import settings
from hypothesis.stateful import rule

from jido import (
    RESTARTED,
    ActionCrashed,
    ActionResult,
    AgentSpec,
    Context,
    CustomDirective,
    NoParams,
    Route,
    Signal,
    action,
    ok,
    schedule,
    spawn_agent,
    stop,
)
from jido_interpreters import (
    AgentOptions,
    AsyncRuntime,
    Continue,
    CrashHandled,
    DryRun,
    Escalate,
    FaultPlan,
    Restart,
    Scenario,
    Simulation,
    StopAgent,
    SyncRuntime,
    replay,
    simulate,
    simulation_to_jsonl,
)
from jido_interpreters.testing import AgentMachine


@attrs.frozen
class Log:
    """What an agent handled."""

    seen: tuple[str, ...] = ()


def _saw(state: Log, what: str) -> Log:
    return Log((*state.seen, what))


@action()
def work(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    """A job done."""
    return ok(_saw(state, "work"))


@action()
def arm(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    """Arm a timer of its own (a restart drops it)."""
    return ok(_saw(state, "arm"), schedule(10, "job.late"))


@action()
def late(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    """The timer it armed itself fired."""
    return ok(_saw(state, "late"))


@action()
def tick(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    """The declared schedule fired."""
    return ok(_saw(state, "tick"))


@action()
def crash(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    """A bug."""
    raise ValueError("boom")


@attrs.frozen
class Boom(CustomDirective):
    """A directive whose handler raises."""


@action()
def explode(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    """Hand the handler a directive it cannot carry out, then do more."""
    return ok(_saw(state, "explode"), Boom(), schedule(1, "job.late"))


def _boom(agent_id: str, d: Boom) -> Iterable[Signal]:
    raise RuntimeError("handler bug")


def _picky(sig: Signal) -> bool:
    raise KeyError("guard bug")


@action()
def record(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    """Record a lifecycle signal, with its reason."""
    assert ctx.signal is not None
    data: Any = ctx.signal.data
    return ok(_saw(state, f"{ctx.signal.type.rsplit('.', 1)[-1]}:{data.get('reason')}"))


@action()
def hire(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    """Spawn a worker and a second one."""
    return ok(state, spawn_agent("worker", "w"), spawn_agent("worker", "v"))


@action()
def quit_(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    """Stop."""
    return ok(state, stop("done"))


@action()
def hire_one(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    """Spawn a sub-worker."""
    return ok(state, spawn_agent("worker", "sub"))


WORKER = AgentSpec(
    name="worker",
    state=Log,
    routes=[
        Route(pattern="job.work", target=work),
        Route(pattern="job.arm", target=arm),
        Route(pattern="job.late", target=late),
        Route(pattern="job.tick", target=tick),
        Route(pattern="job.crash", target=crash),
        Route(pattern="job.explode", target=explode),
        Route(pattern="job.guarded", target=work, guard=_picky),
        Route(pattern="job.hire", target=hire_one),
        Route(pattern="jido.agent.**", target=record),
    ],
    schedules=[schedule(50, "job.tick")],
)
BOSS = AgentSpec(
    name="boss",
    state=Log,
    routes=[
        Route(pattern="boss.hire", target=hire),
        Route(pattern="boss.quit", target=quit_),
        Route(pattern="jido.agent.child.exit", target=record),
    ],
)
SPECS = (WORKER, BOSS)


def _rt(policy: Any = None, **kw: Any) -> SyncRuntime:
    opts = None if policy is None else {"worker": AgentOptions(error_policy=policy, **kw)}
    return SyncRuntime(SPECS, options=opts, directives={Boom: _boom})


# ---------------------------------------------------------------------------- SyncRuntime


def test_without_options_a_crash_is_raised_as_it_always_was() -> None:
    """The default: no policy, the crash reaches the test (unlike AsyncRuntime's Continue)."""
    rt = _rt()
    rt.start(WORKER, "w")
    with pytest.raises(ActionCrashed):
        rt.send("w", "job.crash")
    assert rt.crashes == ()
    # Options for another spec do not supervise this one.
    rt = SyncRuntime(SPECS, options={"boss": AgentOptions(error_policy=Continue())})
    rt.start(WORKER, "w")
    with pytest.raises(ActionCrashed):
        rt.send("w", "job.crash")


def test_continue_keeps_the_last_good_state_and_records_the_crash() -> None:
    rt = _rt(Continue())
    rt.start(WORKER, "w")
    rt.send("w", "job.work")
    rt.send("w", "job.crash")  # handled: send does not raise
    assert rt.state("w").seen == ("work",)
    assert rt.agent("w").version == 1
    (handled,) = rt.crashes
    assert isinstance(handled, CrashHandled)
    assert (handled.index, handled.agent_id, handled.signal.type) == (1, "w", "job.crash")
    assert (handled.policy, handled.outcome, handled.reason) == ("continue", "continued", None)
    assert handled.message.endswith("raised handling 'job.crash': ValueError: boom")
    # ``call`` raises for its own crashed step, as AsyncRuntime's does; the agent goes on.
    with pytest.raises(ActionCrashed):
        rt.call("w", "job.crash")
    assert rt.call("w", "job.work").state.seen == ("work", "work")
    assert len(rt.crashes) == 2


def test_a_crashing_guard_is_a_crash_of_the_step() -> None:
    rt = _rt(Escalate())
    rt.start(BOSS, "b")
    rt.send("b", "boss.hire")
    rt.send("b/w", "job.guarded")
    assert "b/w" not in rt.agent_ids
    assert rt.state("b").seen == ("exit:crashed: KeyError: 'guard bug'",)
    assert rt.crashes[0].message.startswith("action '<step>' of agent 'b/w' raised")


def test_stop_and_escalate_tell_the_parent_as_async_runtime_does() -> None:
    for policy, reason in [
        (StopAgent(), "crashed"),
        (Escalate(), "crashed: ValueError: boom"),
    ]:
        rt = _rt(policy)
        rt.start(BOSS, "b")
        rt.send("b", "boss.hire")
        rt.send("b/w", "job.crash")
        assert rt.agent_ids == ("b", "b/v")
        assert rt.state("b").seen == (f"exit:{reason}",)
        assert rt.crashes[0].reason == reason
        assert rt.pending_timers() == 1  # the crashed worker's declared tick went with it


def test_restart_drops_what_the_agent_armed_and_registers_its_schedules_again() -> None:
    rt = _rt(Restart(max_restarts=5, within=1.0))
    rt.start(WORKER, "w")
    rt.send("w", "job.arm")  # a timer of its own, in 10 s
    rt.advance(5)
    rt.send("w", "job.crash")  # restarted at 5 s: its tick now due at 55 s, not 50 s
    assert rt.crashes[0].outcome == "restarted"
    assert rt.pending_timers() == 1
    told = f"restarted:{rt.crashes[0].message}"  # it was told, first
    rt.advance(49.5)
    assert rt.state("w").seen == ("arm", told)  # no late, no tick at 50 s
    rt.advance(1)
    assert rt.state("w").seen == ("arm", told, "tick")


def test_restarts_are_counted_within_a_window_of_virtual_time() -> None:
    rt = _rt(Restart(max_restarts=1, within=10.0))
    rt.start(BOSS, "b")
    rt.send("b", "boss.hire")
    rt.send("b/w", "job.crash")
    rt.advance(10.5)  # the first restart leaves the window
    rt.send("b/w", "job.crash")
    assert [c.outcome for c in rt.crashes] == ["restarted", "restarted"]
    rt.advance(9.5)
    rt.send("b/w", "job.crash")  # the second within 10 s of virtual time: escalated
    assert rt.crashes[-1].outcome == "escalated"
    reason = "restarted 1 times within 10s: ValueError: boom"
    assert rt.crashes[-1].reason == reason
    assert rt.state("b").seen == (f"exit:{reason}",)


def test_a_directive_handler_that_raises_is_a_crash_only_under_a_policy() -> None:
    unsupervised = _rt()
    unsupervised.start(WORKER, "w")
    unsupervised.send("w", "job.explode")
    assert [p.kind for p in unsupervised.problems] == ["directive"]
    assert unsupervised.pending_timers() == 2  # the step's schedule, after it, was armed

    restarted = _rt(Restart())
    restarted.start(WORKER, "w")
    restarted.send("w", "job.explode")
    assert restarted.problems == ()
    (handled,) = restarted.crashes
    assert handled.outcome == "restarted"
    assert handled.message.endswith(
        "'Boom' of agent 'w' raised handling 'job.explode': RuntimeError: handler bug"
    )
    # The step committed, and the agent was told of its restart.
    assert restarted.state("w").seen == ("explode", f"restarted:{handled.message}")
    assert restarted.pending_timers() == 1  # the rest of the step was not carried out

    stopped = _rt(StopAgent())
    stopped.start(WORKER, "w")
    stopped.send("w", "job.explode")
    assert stopped.agent_ids == ()


def test_on_parent_death_decides_each_childs_fate() -> None:
    """Without options (as before, and as AsyncRuntime's default) children are orphaned;
    ``stop`` stops them (and theirs, following their own options); ``continue`` leaves them
    running, untold."""
    rt = _rt()
    rt.start(BOSS, "b")
    rt.send("b", "boss.hire")
    rt.send("b", "boss.quit")
    assert rt.agent_ids == ("b/w", "b/v")
    assert rt.state("b/w").seen == ("orphaned:done",)
    assert rt.parent("b/w") is None

    rt = _rt(Continue(), on_parent_death="stop")
    rt.start(BOSS, "b")
    rt.send("b", "boss.hire")
    rt.send("b/w", "job.hire")
    assert set(rt.agent_ids) == {"b", "b/w", "b/v", "b/w/sub"}
    rt.send("b", "boss.quit")
    assert rt.agent_ids == ()

    rt = _rt(Continue(), on_parent_death="continue")
    rt.start(BOSS, "b")
    rt.send("b", "boss.hire")
    rt.send("b", "boss.quit")
    assert rt.agent_ids == ("b/w", "b/v")
    assert rt.state("b/w").seen == ()
    assert rt.parent("b/w") is None


def test_stop_by_on_parent_death_matches_async_runtime() -> None:
    """Children whose ``on_parent_death`` is ``stop`` stop with their parent, on both; an
    agent whose spec has other options is left alone."""
    options = {"worker": AgentOptions(on_parent_death="stop")}

    def sync() -> tuple[str, ...]:
        rt = SyncRuntime(SPECS, options=options, default_options=AgentOptions())
        rt.start(BOSS, "top")
        rt.start(BOSS, "b")
        rt.send("b", "boss.hire")
        rt.send("b", "boss.quit")
        return rt.agent_ids

    async def async_() -> tuple[str, ...]:
        async with AsyncRuntime(SPECS, options=options) as art:
            await art.start(BOSS, "top")
            await art.start(BOSS, "b")
            await art.cast("b", "boss.hire")
            await art.wait_idle(timeout=5)
            await art.cast("b", "boss.quit")
            await art.wait_idle(timeout=5)
            return art.agent_ids

    assert sync() == asyncio.run(async_()) == ("top",)


def test_options_must_be_agent_options() -> None:
    with pytest.raises(TypeError, match="options for 'worker' must be AgentOptions"):
        SyncRuntime(SPECS, options={"worker": Continue()})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="options for 'default_options'"):
        Simulation(SPECS, default_options=StopAgent())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="options for 'worker'"):
        Scenario(specs=SPECS, options={"worker": "stop"})  # type: ignore[dict-item]


def test_dry_run_reviews_a_crash_under_a_policy() -> None:
    rt = DryRun(SPECS, options={"worker": AgentOptions(error_policy=StopAgent())})
    rt.start(BOSS, "b")
    rt.send("b", "boss.hire")
    rt.send("b/w", "job.crash")
    assert [c.outcome for c in rt.crashes] == ["stopped"]
    assert rt.state("b").seen == ("exit:crashed",)
    assert "crashed" in rt.review().to_text()


# ---------------------------------------------------------------------------- Simulation


def _setup(sim: Simulation) -> None:
    sim.start(BOSS, "b")
    sim.send("b", "boss.hire", at=1.0)
    sim.send("b/w", "job.arm", at=2.0)
    sim.send("b/w", "job.crash", at=3.0)
    sim.send("b/w", "job.work", at=4.0)
    sim.send("b/w", "job.crash", at=5.0)
    sim.send("b/v", "job.crash", at=30.0)


RESTARTING = Scenario(
    specs=SPECS,
    setup=_setup,
    options={"worker": AgentOptions(error_policy=Restart(max_restarts=1, within=10.0))},
)


def test_a_simulated_crash_under_a_policy_is_an_event_and_the_run_goes_on() -> None:
    result = simulate(RESTARTING, seed=3, until=100.0)
    handled = [e for e in result.events if isinstance(e, CrashHandled)]
    assert [(e.agent_id, e.outcome, e.sender) for e in handled] == [
        ("b/w", "restarted", "@input"),
        ("b/w", "escalated", "@input"),
        ("b/v", "restarted", "@input"),
    ]
    assert result.crash is None
    assert result.counts["crash_handled"] == 3
    sim = RESTARTING.simulation(seed=3)
    sim.run(until=100.0)
    assert sim.crashes == tuple(handled)
    # b/w escalated at 5 s; b/v, restarted at 30 s, ticks at 80 s, not at 50 s.
    assert set(result.agents) == {"b", "b/v"}
    assert result.agents["b"].state.seen == ("exit:restarted 1 times within 10s: ValueError: boom",)
    (told,) = (c.message for c in handled if c.agent_id == "b/v")
    assert result.agents["b/v"].state.seen == (f"restarted:{told}", "tick")
    text = simulation_to_jsonl(result)
    header = text.splitlines()[0]
    assert '"options":{"worker":{"error_policy":{"restart":{"max_restarts":1,"within":10.0}}' in (
        header
    )
    assert '"kind":"crash_handled"' in text
    # Determinism, and replay (which takes the options from the scenario).
    assert simulation_to_jsonl(simulate(RESTARTING, seed=3, until=100.0)) == text
    assert replay(text, RESTARTING) is None
    other = attrs.evolve(RESTARTING, options={"worker": AgentOptions(error_policy=Continue())})
    divergence = replay(text, other)
    assert divergence is not None
    assert divergence.line == 1


def test_a_simulated_restart_agrees_with_an_injected_crash_with_restart_recovery() -> None:
    """The policy's Restart and the fault plan's ``crash`` with ``recovery="restart"`` do
    the same to an agent: its own timers dropped, its declared schedule registered again."""

    def one_worker(sim: Simulation) -> None:
        sim.start(WORKER, "w")
        sim.send("w", "job.arm", at=1.0)

    def and_crash(sim: Simulation) -> None:
        one_worker(sim)
        sim.send("w", "job.crash", at=1.0)

    policy = Scenario(
        specs=SPECS,
        setup=and_crash,
        options={"worker": AgentOptions(error_policy=Restart())},
        latency=0,
    )
    injected = Scenario(specs=SPECS, setup=one_worker, latency=0)
    by_policy = simulate(policy, seed=1, until=60.0)
    by_fault = simulate(
        injected, seed=1, until=60.0, faults=FaultPlan(crash=1.0, recovery="restart")
    )
    # Each is told it restarted (the policy's reason is the crash, the fault's
    # "injected crash"; with crashes certain, the fault's crashes it again after each step).
    seen = by_policy.agents["w"].state.seen
    (handled,) = (e for e in by_policy.events if isinstance(e, CrashHandled))
    assert seen[:2] == ("arm", f"restarted:{handled.message}")
    assert by_fault.agents["w"].state.seen[:2] == ("arm", "restarted:injected crash")
    assert [s for s in seen if not s.startswith("restarted:")] == ["arm", "tick"]
    assert [s for s in by_fault.agents["w"].state.seen if not s.startswith("restarted:")] == [
        "arm",
        "tick",
    ]


def test_a_simulation_without_options_still_stops_at_a_crash() -> None:
    scenario = attrs.evolve(RESTARTING, options={})
    with pytest.raises(ActionCrashed):
        simulate(scenario, seed=3)


# ---------------------------------------------------------------------------- AgentMachine


class RestartingWorker(AgentMachine):
    """A worker whose crashes its Restart policy handles, driven by Hypothesis."""

    spec = WORKER
    options: ClassVar[Mapping[str, AgentOptions]] = {
        "worker": AgentOptions(error_policy=Restart(max_restarts=1_000, within=1.0))
    }

    def __init__(self) -> None:
        super().__init__()
        self.worked = 0

    @rule()
    def work(self) -> None:
        self.worked += 1
        assert self.call("job.work").state.seen.count("work") == self.worked

    @rule()
    def crash(self) -> None:
        before = len(self.runtime.crashes)
        with pytest.raises(ActionCrashed):
            self.call("job.crash")
        assert len(self.runtime.crashes) == before + 1
        assert self.runtime.pending_timers() == 1  # its declared tick, registered again


TestRestartingWorker = RestartingWorker.TestCase
TestRestartingWorker.settings = settings(max_examples=10, stateful_step_count=8)


@action()
def mumble(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    raise ValueError("bad \ud83d title")


MUMBLER = AgentSpec(name="mumbler", state=Log, routes=[Route(pattern="m.boom", target=mumble)])


def _mumbling(sim: Simulation) -> None:
    sim.start(MUMBLER, "m")
    sim.send("m", "m.boom")


@pytest.mark.parametrize("policy", [Escalate(), Restart(max_restarts=0, within=10.0)])
def test_a_handled_crash_reason_holding_a_lone_surrogate_is_text(
    policy: Escalate | Restart,
) -> None:
    """The reason a policy records (and a simulation trace writes) for an exception whose
    message holds a lone surrogate is escaped, as the crash message is: the trace can be
    written as UTF-8 and replays."""
    scenario = Scenario(
        specs=[MUMBLER], setup=_mumbling, default_options=AgentOptions(error_policy=policy)
    )
    result = simulate(scenario, seed=1)
    (crash,) = [e for e in result.events if isinstance(e, CrashHandled)]
    assert crash.reason is not None
    assert "bad \\ud83d title" in crash.reason
    text = simulation_to_jsonl(result)
    text.encode("utf-8")
    assert replay(text, scenario) is None


@action()
def arm_both(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    """Arm a crash and a job of its own, due at the same instant, the crash first."""
    return ok(_saw(state, "arm"), schedule(0.2, "job.crash"), schedule(0.2, "job.late"))


@action()
def arm_then_explode(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    """Arm a timer due at once, then hand the handler a directive it cannot carry out."""
    return ok(_saw(state, "arm"), schedule(0, "job.late"), Boom())


TWIN_TIMERS = AgentSpec(
    name="twins",
    state=Log,
    routes=[
        Route(pattern="job.explode", target=arm_then_explode),
        Route(pattern="job.arm", target=arm_both),
        Route(pattern="job.crash", target=crash),
        Route(pattern="job.late", target=late),
        Route(pattern=RESTARTED, target=record),
    ],
)


@pytest.mark.parametrize("runtime", ["sync", "simulation", "async"])
@pytest.mark.parametrize("kick", ["job.arm", "job.explode"])
def test_a_restart_keeps_what_fell_due_with_the_crash(runtime: str, kick: str) -> None:
    """On AsyncRuntime a timer due at the instant of the crash has put its signal in the
    mailbox before the crashing step ran, and the restart keeps the mailbox. SyncRuntime and
    Simulation fired such timers one at a time, so the restart dropped the second (every
    other tick of a minutely cron job beside a crashing two-minute one). What the crashing
    step armed itself (``job.explode``: a timer due at once, then a directive whose handler
    raises) was not due before it, and goes with the restart, on every runtime."""
    opts = {"twins": AgentOptions(error_policy=Restart(max_restarts=5, within=60.0))}
    directives: Any = {Boom: _boom}
    done = (lambda a: "late" in a.state.seen) if kick == "job.arm" else (lambda a: a.version == 2)
    match runtime:
        case "sync":
            rt = SyncRuntime([TWIN_TIMERS], options=opts, directives=directives)
            rt.start(TWIN_TIMERS, "t")
            rt.send("t", kick)
            rt.advance(1)
            seen = rt.state("t").seen
        case "simulation":
            sim = Simulation([TWIN_TIMERS], seed=3, options=opts, directives=directives)
            sim.start(TWIN_TIMERS, "t")
            sim.send("t", kick, at=0.5)
            seen = sim.run(until=5.0).agents["t"].state.seen
        case _:

            async def main() -> tuple[str, ...]:
                async with AsyncRuntime([TWIN_TIMERS], options=opts, directives=directives) as rt:
                    await rt.start(TWIN_TIMERS, "t")
                    await rt.cast("t", kick)
                    await rt.wait_until("t", done, timeout=5)
                    await rt.wait_idle(timeout=5)
                    return tuple(rt.state("t").seen)

            seen = asyncio.run(main())
    assert seen[0] == "arm"
    assert seen[1].startswith("restarted:")
    assert seen[2:] == (("late",) if kick == "job.arm" else ())
