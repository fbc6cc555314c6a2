"""One scenario suite, every interpreter: SyncRuntime, AsyncRuntime (in memory and durable),
a Simulation and a DryRun end in equal states.

Each scenario is a list of steps against a driver; the driver hides whether time is virtual
(SyncRuntime) or real (AsyncRuntime). The assertion is the same for all: the final agents.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest

from jido import (
    CHILD_EXIT,
    CHILD_STARTED,
    FSM,
    ORPHANED,
    RESTARTED,
    ActionResult,
    AgentSpec,
    Context,
    CustomDirective,
    FrozenMap,
    JsonValue,
    NoParams,
    Route,
    Signal,
    Transition,
    action,
    emit_to,
    emit_to_parent,
    invoke,
    ok,
    schedule,
    spawn_agent,
    stop,
    stop_child,
)
from jido_examples import contentops
from jido_interpreters import (
    AgentOptions,
    AsyncRuntime,
    Continue,
    DryRun,
    ErrorPolicy,
    Escalate,
    ParentDeath,
    Restart,
    Simulation,
    SQLiteStorage,
    StopAgent,
    SyncRuntime,
)

# ---------------------------------------------------------------------------- specs


@attrs.frozen
class Book:
    """A log of what an agent saw, and a running total."""

    seen: tuple[str, ...] = ()
    total: int = 0


@attrs.frozen
class Amount:
    """A number."""

    n: int = 0


def _saw(state: Book, what: str, n: int = 0) -> Book:
    return Book((*state.seen, what), state.total + n)


@action(params=Amount)
def deposit(state: Book, p: Amount, ctx: Context) -> ActionResult[Book]:
    """Add and tell the ledger."""
    return ok(_saw(state, "deposit", p.n), emit_to("ledger", "bank.deposited", {"n": p.n}))


@action(params=Amount)
def ledger(state: Book, p: Amount, ctx: Context) -> ActionResult[Book]:
    """Record a deposit."""
    return ok(_saw(state, "ledger", p.n))


@action(params=Amount)
def quote(state: Book, p: Amount, ctx: Context) -> ActionResult[Book]:
    """Ask the pricing effect."""
    return ok(state, invoke("price", {"n": p.n}, on_ok="bank.priced", on_error="bank.unpriced"))


@attrs.frozen
class Priced:
    """A price."""

    result: int


@action(params=Priced)
def priced(state: Book, p: Priced, ctx: Context) -> ActionResult[Book]:
    """Keep the price."""
    return ok(_saw(state, f"priced:{p.result}", p.result))


@attrs.frozen
class Unpriced:
    """A pricing failure."""

    error: FrozenMap[str, JsonValue]


@action(params=Unpriced)
def unpriced(state: Book, p: Unpriced, ctx: Context) -> ActionResult[Book]:
    """Note the failure."""
    return ok(_saw(state, f"unpriced:{p.error['type']}"))


@attrs.frozen
class Tag:
    """A child's tag."""

    tag: str = ""


@action(params=Tag)
def hire(state: Book, p: Tag, ctx: Context) -> ActionResult[Book]:
    """Spawn a worker."""
    return ok(state, spawn_agent("worker", p.tag))


@attrs.frozen
class Recruit:
    """A child to spawn: any spec, id and state."""

    tag: str
    spec: str = "worker"
    id: str | None = None
    state: FrozenMap[str, JsonValue] = attrs.field(factory=FrozenMap)


@action(params=Recruit)
def recruit(state: Book, p: Recruit, ctx: Context) -> ActionResult[Book]:
    """Spawn a child as told (the runtime may refuse it)."""
    return ok(state, spawn_agent(p.spec, p.tag, id=p.id, state=p.state))


@action(params=Tag)
def fire(state: Book, p: Tag, ctx: Context) -> ActionResult[Book]:
    """Stop a worker."""
    return ok(state, stop_child(p.tag))


@attrs.frozen
class Child:
    """Lifecycle data."""

    tag: str = ""
    reason: str = ""


@action(params=Child)
def lifecycle(state: Book, p: Child, ctx: Context) -> ActionResult[Book]:
    """Record a child's start, or its exit (and why, unless it was a normal one)."""
    assert ctx.signal is not None
    why = f":{p.reason}" if p.reason not in ("", "normal") else ""
    return ok(_saw(state, f"{ctx.signal.type.rsplit('.', 1)[-1]}:{p.tag}{why}"))


@action()
def report(state: Book, _: NoParams, ctx: Context) -> ActionResult[Book]:
    """A worker reports to its parent and quits."""
    return ok(_saw(state, "reported"), emit_to_parent("bank.reported", {"n": 1}), stop())


@action(params=Amount)
def count_report(state: Book, p: Amount, ctx: Context) -> ActionResult[Book]:
    """Count a worker's report."""
    return ok(_saw(state, "report", p.n))


@action()
def open_account(state: Book, _: NoParams, ctx: Context) -> ActionResult[Book]:
    """Open (an FSM transition)."""
    return ok(_saw(state, "opened"))


@action(params=Tag)
def hire_temp(state: Book, p: Tag, ctx: Context) -> ActionResult[Book]:
    """Spawn a temp (the agent whose options the supervision scenarios vary)."""
    return ok(state, spawn_agent("temp", p.tag))


@action()
def close_bank(state: Book, _: NoParams, ctx: Context) -> ActionResult[Book]:
    """The bank stops: its children follow their ``on_parent_death``."""
    return ok(_saw(state, "quit"), stop("done"))


@action()
def do_job(state: Book, _: NoParams, ctx: Context) -> ActionResult[Book]:
    """A job done."""
    return ok(_saw(state, "do", 1))


@action()
def tick(state: Book, _: NoParams, ctx: Context) -> ActionResult[Book]:
    """The declared schedule fired."""
    return ok(_saw(state, "tick"))


@action()
def crash_job(state: Book, _: NoParams, ctx: Context) -> ActionResult[Book]:
    """A bug."""
    raise ValueError("boom")


BANK = AgentSpec(
    name="bank",
    state=Book,
    strategy=FSM(
        "closed",
        [
            Transition(source="closed", on="bank.opened", target="open", action=open_account),
            Transition(source="open", on="bank.closed", target="closed"),
        ],
    ),
    routes=[
        Route(pattern="bank.deposit", target=deposit),
        Route(pattern="bank.quote", target=quote),
        Route(pattern="bank.priced", target=priced),
        Route(pattern="bank.unpriced", target=unpriced),
        Route(pattern="bank.hire", target=hire),
        Route(pattern="bank.recruit", target=recruit),
        Route(pattern="bank.fire", target=fire),
        Route(pattern="bank.reported", target=count_report),
        Route(pattern=CHILD_STARTED, target=lifecycle),
        Route(pattern=CHILD_EXIT, target=lifecycle),
        Route(pattern="bank.hire_temp", target=hire_temp),
        Route(pattern="bank.quit", target=close_bank),
    ],
)
LEDGER = AgentSpec(
    name="ledger", state=Book, routes=[Route(pattern="bank.deposited", target=ledger)]
)
WORKER = AgentSpec(name="worker", state=Book, routes=[Route(pattern="bank.work", target=report)])
TEMP = AgentSpec(
    name="temp",
    state=Book,
    routes=[
        Route(pattern="job.do", target=do_job),
        Route(pattern="job.crash", target=crash_job),
        Route(pattern="job.tick", target=tick),
        Route(pattern=ORPHANED, target=lifecycle),
    ],
    schedules=[schedule(3600, "job.tick")],  # an hour: it fires in no scenario
)
SPECS = (BANK, LEDGER, WORKER, TEMP)


def _price(args: FrozenMap[str, JsonValue]) -> int:
    n = args["n"]
    assert isinstance(n, int)
    if n < 0:
        raise ValueError("negative")
    return n * 10


async def _price_async(args: FrozenMap[str, JsonValue]) -> int:
    return _price(args)


# ---------------------------------------------------------------------------- drivers

Step = tuple[str, str, object]  # (agent id, signal type, data)


def run_sync(
    specs: tuple[AgentSpec[Any], ...],
    effects: Mapping[str, Callable[[FrozenMap[str, JsonValue]], object]],
    starts: list[tuple[AgentSpec[Any], str]],
    steps: list[Step],
    options: Mapping[str, AgentOptions] | None = None,
) -> dict[str, Any]:
    """Run a scenario on SyncRuntime; the final states by agent id."""
    rt = SyncRuntime(specs, effects=effects, sinks=["audit"], options=options)
    for spec, agent_id in starts:
        rt.start(spec, agent_id)
    for agent_id, type_, data in steps:
        rt.send(agent_id, type_, data)
    return {i: rt.agent(i) for i in rt.agent_ids}


def run_async(
    specs: tuple[AgentSpec[Any], ...],
    effects: Mapping[str, Callable[[FrozenMap[str, JsonValue]], Any]],
    starts: list[tuple[AgentSpec[Any], str]],
    steps: list[Step],
    store: Path | None = None,
    options: Mapping[str, AgentOptions] | None = None,
) -> dict[str, Any]:
    """Run a scenario on AsyncRuntime, waiting until idle after each signal (as SyncRuntime's
    send does); the final states by agent id. ``store``: durable, in this SQLite file."""

    async def main() -> dict[str, Any]:
        storage = None if store is None else SQLiteStorage(store)
        async with AsyncRuntime(
            specs, effects=effects, sinks=["audit"], storage=storage, options=options
        ) as rt:
            for spec, agent_id in starts:
                await rt.start(spec, agent_id)
            await rt.wait_idle(timeout=5)
            for agent_id, type_, data in steps:
                await rt.cast(agent_id, type_, data)
                await rt.wait_idle(timeout=5)
            return {i: rt.agent(i) for i in rt.agent_ids}

    return asyncio.run(main())


def run_simulation(
    specs: tuple[AgentSpec[Any], ...],
    effects: Mapping[str, Callable[[FrozenMap[str, JsonValue]], object]],
    starts: list[tuple[AgentSpec[Any], str]],
    steps: list[Step],
    options: Mapping[str, AgentOptions] | None = None,
) -> dict[str, Any]:
    """Run a scenario in a Simulation without faults, each signal a virtual second after
    the one before (everything it sets off settles in less, as ``send`` runs until idle),
    until ten seconds after the last."""
    sim = Simulation(specs, seed=7, effects=effects, sinks=["audit"], options=options)
    for spec, agent_id in starts:
        sim.start(spec, agent_id)
    for i, (agent_id, type_, data) in enumerate(steps):
        sim.send(agent_id, type_, data, at=float(i + 1))
    # Bounded in time, as SyncRuntime's clock does not move by itself: a declared schedule
    # (an hour away) does not fire here either.
    result = sim.run(100_000, until=float(len(steps) + 10))
    assert result.idle
    assert not result.out_of_events
    return dict(result.agents)


def run_dry(
    specs: tuple[AgentSpec[Any], ...],
    effects: Mapping[str, Callable[[FrozenMap[str, JsonValue]], object]],
    starts: list[tuple[AgentSpec[Any], str]],
    steps: list[Step],
    options: Mapping[str, AgentOptions] | None = None,
) -> dict[str, Any]:
    """Run a scenario in a DryRun whose canned replies are the effect handlers."""
    rt = DryRun(specs, replies=effects, sinks=["audit"], options=options)
    for spec, agent_id in starts:
        rt.start(spec, agent_id)
    for agent_id, type_, data in steps:
        rt.send(agent_id, type_, data)
    return {i: rt.agent(i) for i in rt.agent_ids}


SCENARIOS: dict[str, list[Step]] = {
    "emit to another agent": [("bank", "bank.deposit", {"n": n}) for n in (5, 7, 11)],
    "effects, ok and error": [
        ("bank", "bank.quote", {"n": 3}),
        ("bank", "bank.quote", {"n": -1}),
        ("bank", "bank.quote", {"n": 4}),
    ],
    "children start, report, stop and are stopped": [
        ("bank", "bank.hire", {"tag": "a"}),
        ("bank", "bank.hire", {"tag": "b"}),
        ("bank/a", "bank.work", None),
        ("bank", "bank.fire", {"tag": "b"}),
    ],
    "refused spawns are reported to the parent": [
        ("bank", "bank.hire", {"tag": "a"}),
        ("bank", "bank.hire", {"tag": "a"}),  # its id runs: the child tagged a
        ("bank", "bank.recruit", {"tag": "b", "id": "ledger"}),  # its id runs: no child
        ("bank", "bank.recruit", {"tag": "a", "id": "bank/x"}),  # the tag is in use
        ("bank", "bank.recruit", {"tag": "c", "spec": "ghost"}),
        ("bank", "bank.recruit", {"tag": "d", "state": {"total": "lots"}}),
        ("bank", "bank.recruit", {"tag": "boss", "spec": "bank"}),
        ("bank/boss", "bank.recruit", {"tag": "z", "id": "bank/a"}),  # another's child
        ("bank/a", "bank.work", None),  # ran on all along, its parent's still: reports
        ("ledger", "bank.deposited", {"n": 2}),  # so did the ledger
    ],
    "FSM transitions, a refused one, bad params, no route": [
        ("bank", "bank.closed", None),
        ("bank", "bank.opened", None),
        ("bank", "bank.opened", None),
        ("bank", "bank.deposit", {"n": "lots"}),
        ("bank", "bank.nothing", None),
        ("bank", "bank.closed", None),
    ],
}


@pytest.mark.parametrize("other", ["async", "async, durable", "simulation", "dry run"])
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_interpreter_ends_in_the_states_sync_runtime_does(
    name: str, other: str, tmp_path: Path
) -> None:
    """The scenario gives equal final agents (state, version, status) on every interpreter."""
    starts = [(BANK, "bank"), (LEDGER, "ledger")]
    steps = SCENARIOS[name]
    sync = run_sync(SPECS, {"price": _price}, starts, steps)
    match other:
        case "async":
            theirs = run_async(SPECS, {"price": _price_async}, starts, steps)
        case "async, durable":
            theirs = run_async(SPECS, {"price": _price_async}, starts, steps, tmp_path / "p.db")
        case "simulation":
            theirs = run_simulation(SPECS, {"price": _price}, starts, steps)
        case _:
            theirs = run_dry(SPECS, {"price": _price}, starts, steps)
    assert theirs == sync
    assert sync["bank"].version > 0  # the scenario did something


#: Supervision: a temp, child of the bank, crashes under each error policy, or outlives the
#: bank under each ``on_parent_death``. (Steps go only to agents still running.)
SUPERVISION: dict[str, tuple[ErrorPolicy, ParentDeath, list[Step]]] = {
    "a crash under Continue: the last good state, and on": (
        Continue(),
        "orphan",
        [
            ("bank", "bank.hire_temp", {"tag": "t"}),
            ("bank/t", "job.do", None),
            ("bank/t", "job.crash", None),
            ("bank/t", "job.do", None),
        ],
    ),
    "a crash under StopAgent: child.exit, crashed": (
        StopAgent(),
        "orphan",
        [
            ("bank", "bank.hire_temp", {"tag": "t"}),
            ("bank/t", "job.do", None),
            ("bank/t", "job.crash", None),
        ],
    ),
    "a crash under Escalate: child.exit with the error": (
        Escalate(),
        "orphan",
        [
            ("bank", "bank.hire_temp", {"tag": "t"}),
            ("bank/t", "job.crash", None),
        ],
    ),
    "crashes under Restart: schedules again, then escalation past the limit": (
        Restart(max_restarts=1, within=60.0),
        "orphan",
        [
            ("bank", "bank.hire_temp", {"tag": "t"}),
            ("bank/t", "job.do", None),
            ("bank/t", "job.crash", None),  # restarted
            ("bank/t", "job.do", None),
            ("bank/t", "job.crash", None),  # the second within 60 s: escalated
        ],
    ),
    "the parent stops, the child is orphaned": (
        Continue(),
        "orphan",
        [
            ("bank", "bank.hire_temp", {"tag": "t"}),
            ("bank", "bank.quit", None),
            ("bank/t", "job.do", None),
        ],
    ),
    "the parent stops, the child stops too": (
        Continue(),
        "stop",
        [
            ("bank", "bank.hire_temp", {"tag": "t"}),
            ("bank", "bank.hire_temp", {"tag": "u"}),
            ("bank", "bank.quit", None),
            ("ledger", "bank.deposited", {"n": 1}),
        ],
    ),
    "the parent stops, the child continues untold": (
        Continue(),
        "continue",
        [
            ("bank", "bank.hire_temp", {"tag": "t"}),
            ("bank", "bank.quit", None),
            ("bank/t", "job.do", None),
        ],
    ),
}


@pytest.mark.parametrize("other", ["async", "async, durable", "simulation", "dry run"])
@pytest.mark.parametrize("name", sorted(SUPERVISION))
def test_every_interpreter_supervises_as_async_runtime_does(
    name: str, other: str, tmp_path: Path
) -> None:
    """Given the same options, a crash follows the same error policy and a parent's stop the
    same ``on_parent_death`` on every interpreter: equal final agents (a child's state shows
    what it handled, a parent's the reasons in its ``child.exit``)."""
    policy, on_parent_death, steps = SUPERVISION[name]
    options = {"temp": AgentOptions(error_policy=policy, on_parent_death=on_parent_death)}
    starts = [(BANK, "bank"), (LEDGER, "ledger")]
    effects = {"price": _price}
    sync = run_sync(SPECS, effects, starts, steps, options)
    match other:
        case "async":
            theirs = run_async(SPECS, {"price": _price_async}, starts, steps, options=options)
        case "async, durable":
            theirs = run_async(
                SPECS, {"price": _price_async}, starts, steps, tmp_path / "p.db", options
            )
        case "simulation":
            theirs = run_simulation(SPECS, effects, starts, steps, options)
        case _:
            theirs = run_dry(SPECS, effects, starts, steps, options)
    assert theirs == sync


def test_the_supervision_scenarios_do_what_they_say() -> None:
    """A spot check of what each supervision scenario ends in, on SyncRuntime."""
    starts = [(BANK, "bank"), (LEDGER, "ledger")]

    def run(name: str) -> dict[str, Any]:
        policy, on_parent_death, steps = SUPERVISION[name]
        opts = {"temp": AgentOptions(error_policy=policy, on_parent_death=on_parent_death)}
        return run_sync(SPECS, {"price": _price}, starts, steps, opts)

    kept = run("a crash under Continue: the last good state, and on")
    assert kept["bank/t"].state.seen == ("do", "do")
    stopped = run("a crash under StopAgent: child.exit, crashed")
    assert "bank/t" not in stopped
    assert stopped["bank"].state.seen[-1] == "exit:t:crashed"
    escalated = run("a crash under Escalate: child.exit with the error")
    assert escalated["bank"].state.seen[-1] == "exit:t:crashed: ValueError: boom"
    restarted = run("crashes under Restart: schedules again, then escalation past the limit")
    assert "bank/t" not in restarted
    assert restarted["bank"].state.seen[-1] == (
        "exit:t:restarted 1 times within 60s: ValueError: boom"
    )
    orphaned = run("the parent stops, the child is orphaned")
    assert orphaned["bank/t"].state.seen == ("orphaned:t:done", "do")
    gone = run("the parent stops, the child stops too")
    assert set(gone) == {"ledger"}
    untold = run("the parent stops, the child continues untold")
    assert untold["bank/t"].state.seen == ("do",)


def test_the_scenarios_do_what_they_say() -> None:
    """A spot check that the scenarios exercise what their names claim."""
    starts = [(BANK, "bank"), (LEDGER, "ledger")]
    effects = {"price": _price}
    emitted = run_sync(SPECS, effects, starts, SCENARIOS["emit to another agent"])
    assert emitted["ledger"].state.total == 23
    quoted = run_sync(SPECS, effects, starts, SCENARIOS["effects, ok and error"])
    assert quoted["bank"].state.seen == ("priced:30", "unpriced:ValueError", "priced:40")
    kids = run_sync(
        SPECS, effects, starts, SCENARIOS["children start, report, stop and are stopped"]
    )
    assert set(kids) == {"bank", "ledger"}
    assert kids["bank"].state.seen == (
        "started:a",
        "started:b",
        "report",
        "exit:a",
        "exit:b",
    )
    refused = run_sync(
        SPECS, effects, starts, SCENARIOS["refused spawns are reported to the parent"]
    )
    assert set(refused) == {"bank", "ledger", "bank/boss"}
    assert refused["bank"].state.seen == (
        "started:a",
        "exit:a:not started: an agent 'bank/a' already runs",
        "exit:b:not started: an agent 'ledger' already runs",
        "exit:a:not started: child tag 'a' is already in use",
        "exit:c:not started: no spec named 'ghost' to spawn",
        "exit:d:not started: cannot start 'bank/d': initial state for 'worker': Book.total"
        " cannot hold 'lots': expected int, got str 'lots'",
        "started:boss",
        "report",
        "exit:a",
    )
    assert refused["bank/boss"].state.seen == (
        "exit:z:not started: an agent 'bank/a' already runs",
    )
    assert refused["ledger"].state.seen == ("ledger",)
    fsm = run_sync(
        SPECS, effects, starts, SCENARIOS["FSM transitions, a refused one, bad params, no route"]
    )
    assert fsm["bank"].status == "closed"
    assert fsm["bank"].state.seen == ("opened",)


def test_contentops_on_both_interpreters() -> None:
    """The ContentOps example ends with the same orchestrator on both interpreters."""
    steps: list[Step] = [
        ("orchestrator", "contentops.run.requested", {"topics": ["a b", "flaky c"]})
    ]
    starts: list[tuple[AgentSpec[Any], str]] = [(contentops.ORCHESTRATOR, "orchestrator")]
    sync = run_sync(contentops.SPECS, contentops.EFFECTS, starts, steps)
    async_ = run_async(contentops.SPECS, contentops.ASYNC_EFFECTS, starts, steps)
    assert async_ == sync
    assert sync["orchestrator"].state.report == "report-1: 240 words"


@action()
def farewell(state: Book, _: NoParams, ctx: Context) -> ActionResult[Book]:
    """Notify, then stop."""
    return ok(
        state,
        invoke("notify", {"n": 1}, on_ok="bank.notified", on_error="bank.unnotified"),
        stop("done"),
    )


LEAVER = AgentSpec(name="leaver", state=Book, routes=[Route(pattern="bank.leave", target=farewell)])


def test_an_effect_invoked_by_the_stopping_step_runs_on_both() -> None:
    """ "Notify, then stop": the effect runs on either interpreter, and its outcome, with
    nobody left to handle it, is a dead letter."""
    notified: list[str] = []

    def notify(args: FrozenMap[str, JsonValue]) -> int:
        notified.append("sync")
        return 1

    async def notify_async(args: FrozenMap[str, JsonValue]) -> int:
        notified.append("async")
        return 1

    rt = SyncRuntime([LEAVER], effects={"notify": notify})
    rt.start(LEAVER, "l")
    rt.send("l", "bank.leave")
    assert [(a, s.type) for a, s in rt.dead_letters] == [("l", "bank.notified")]

    async def main() -> list[tuple[str, str]]:
        async with AsyncRuntime([LEAVER], effects={"notify": notify_async}) as art:
            await art.start(LEAVER, "l")
            await art.cast("l", "bank.leave")
            await art.wait_idle(timeout=5)
            return [(a, s.type) for a, s in art.dead_letters]

    assert asyncio.run(main()) == [("l", "bank.notified")]
    assert notified == ["sync", "async"]


@action()
def quit_and_pass_on(state: Book, _: NoParams, ctx: Context) -> ActionResult[Book]:
    """Notify, ask the bank to start another agent under this one's id, stop."""
    return ok(
        state,
        invoke("notify", {"n": 1}, on_ok="bank.notified", on_error="bank.unnotified"),
        emit_to("bank", "bank.replace"),
        stop("done"),
    )


@action()
def replace_leaver(state: Book, _: NoParams, ctx: Context) -> ActionResult[Book]:
    return ok(state, spawn_agent("successor", "s", id="l"))


@action()
def notified(state: Book, _: NoParams, ctx: Context) -> ActionResult[Book]:
    return ok(_saw(state, "notified"))


PASSER = AgentSpec(
    name="passer", state=Book, routes=[Route(pattern="bank.leave", target=quit_and_pass_on)]
)
REPLACER = AgentSpec(
    name="replacer",
    state=Book,
    routes=[
        Route(pattern="bank.replace", target=replace_leaver),
        Route(pattern="jido.agent.**", target=notified),
    ],
)
SUCCESSOR = AgentSpec(
    name="successor", state=Book, routes=[Route(pattern="bank.notified", target=notified)]
)


def test_a_stopped_agents_last_outcome_is_a_dead_letter_on_every_interpreter() -> None:
    """The outcome of the effect an agent's stopping step invoked is a dead letter, even
    when another agent has been started under the id before it is delivered, on
    SyncRuntime, in a simulation (latency 0) and on AsyncRuntime alike."""
    specs = [PASSER, REPLACER, SUCCESSOR]
    expected = [("l", "bank.notified")]

    rt = SyncRuntime(specs, effects={"notify": lambda args: 1})
    rt.start(REPLACER, "bank")
    rt.start(PASSER, "l")
    rt.send("l", "bank.leave")
    assert rt.state("l") == Book()
    assert [(a, s.type) for a, s in rt.dead_letters] == expected

    sim = Simulation(specs, effects={"notify": lambda args: 1}, latency=0)
    sim.start(REPLACER, "bank")
    sim.start(PASSER, "l")
    sim.send("l", "bank.leave")
    result = sim.run(50)
    assert result.agents["l"].state == Book()

    async def notify_async(args: object) -> int:
        return 1

    async def main() -> list[tuple[str, str]]:
        async with AsyncRuntime(specs, effects={"notify": notify_async}) as art:
            await art.start(REPLACER, "bank")
            await art.start(PASSER, "l")
            await art.cast("l", "bank.leave")
            await art.wait_until("bank", lambda a: a.version == 2, timeout=5)
            await art.wait_idle(timeout=5)
            assert art.state("l") == Book()
            return [(a, s.type) for a, s in art.dead_letters]

    assert asyncio.run(main()) == expected


# ---------------------------------------------------------------------------- restart notice


@action()
def fetch(state: Book, _: NoParams, ctx: Context) -> ActionResult[Book]:
    """A URL in flight: its timeout armed (a timer of the agent's own)."""
    return ok(_saw(state, "fetch"), schedule(0.3, "crawl.timeout"))


@action()
def timed_out(state: Book, _: NoParams, ctx: Context) -> ActionResult[Book]:
    """The URL's timeout fired."""
    return ok(_saw(state, "timeout"))


@action()
def rearm(state: Book, _: NoParams, ctx: Context) -> ActionResult[Book]:
    """Told it restarted (its timers gone): arm the timeout of the URL in flight again."""
    assert ctx.signal is not None
    data: Any = ctx.signal.data
    new = _saw(state, f"restarted:{data['restarts']}:{data['reason']}")
    in_flight = "fetch" in state.seen and "timeout" not in state.seen
    return ok(new, schedule(0.3, "crawl.timeout")) if in_flight else ok(new)


CRAWLER = AgentSpec(
    name="crawler",
    state=Book,
    routes=[
        Route(pattern="crawl.fetch", target=fetch),
        Route(pattern="crawl.timeout", target=timed_out),
        Route(pattern="crawl.crash", target=crash_job),
        Route(pattern=RESTARTED, target=rearm),
    ],
)
CRAWLER_OPTIONS = {"crawler": AgentOptions(error_policy=Restart(max_restarts=3, within=60.0))}


@pytest.mark.parametrize("runtime", ["sync", "async", "async, durable", "simulation", "dry run"])
def test_a_restarted_agent_re_arms_its_timer_alike_on_every_interpreter(
    runtime: str, tmp_path: Path
) -> None:
    """A crawler with a URL in flight crashes under ``Restart``: the restart drops the
    URL's timeout, ``jido.agent.restarted`` tells it so, it arms the timeout again, and the
    timeout fires; the same final agent on every interpreter."""
    opts = CRAWLER_OPTIONS
    agent: Any
    match runtime:
        case "sync" | "dry run":
            rt = (
                SyncRuntime([CRAWLER], options=opts)
                if runtime == "sync"
                else DryRun([CRAWLER], options=opts)
            )
            rt.start(CRAWLER, "c")
            rt.send("c", "crawl.fetch")
            rt.send("c", "crawl.crash")
            rt.advance(1)
            agent = rt.agent("c")
        case "simulation":
            sim = Simulation([CRAWLER], seed=7, options=opts)
            sim.start(CRAWLER, "c")
            sim.send("c", "crawl.fetch", at=1.0)
            sim.send("c", "crawl.crash", at=1.1)
            agent = sim.run(until=10.0).agents["c"]
        case _:
            store = tmp_path / "c.db" if runtime == "async, durable" else None

            async def main() -> Any:
                storage = None if store is None else SQLiteStorage(store)
                async with AsyncRuntime([CRAWLER], options=opts, storage=storage) as rt:
                    await rt.start(CRAWLER, "c")
                    await rt.call("c", "crawl.fetch")
                    await rt.cast("c", "crawl.crash")
                    return await rt.wait_until("c", lambda a: "timeout" in a.state.seen, timeout=5)

            agent = asyncio.run(main())
    reason = "action 'crash_job' of agent 'c' raised handling 'crawl.crash': ValueError: boom"
    assert agent.state.seen == ("fetch", f"restarted:1:{reason}", "timeout")
    assert agent.version == 3


@attrs.frozen
class Audit(CustomDirective):
    """Ask the auditor (a handler of the user's) to confirm ``n``."""

    n: int


@action(params=Amount)
def ask_audit(state: Book, p: Amount, ctx: Context) -> ActionResult[Book]:
    """Hand the amount to the auditor."""
    return ok(_saw(state, "asked", p.n), Audit(n=p.n))


@action(params=Amount)
def audited(state: Book, p: Amount, ctx: Context) -> ActionResult[Book]:
    """Record the auditor's answer."""
    return ok(_saw(state, "audited", p.n))


def auditor(agent_id: str, d: Audit) -> list[Signal]:
    """Two answers, so that both the first and the rest of a handler's signals are seen."""
    return [
        Signal(type="audit.done", source="/auditor", id=f"{d.n}-{i}", data={"n": d.n + i})
        for i in range(2)
    ]


AUDITED = AgentSpec(
    name="audited",
    state=Book,
    routes=[
        Route(pattern="audit.asked", target=ask_audit),
        Route(pattern="audit.done", target=audited),
    ],
)


@pytest.mark.parametrize("runtime", ["sync", "async", "simulation"])
def test_the_signals_of_a_custom_directive_handler_are_delivered_on_every_runtime(
    runtime: str,
) -> None:
    """Simulation kept them in the kernel's queue, unseen, until something else drained it
    (an agent stopping, say)."""
    directives: Any = {Audit: auditor}
    match runtime:
        case "sync":
            rt = SyncRuntime([AUDITED], directives=directives)
            rt.start(AUDITED, "a")
            rt.send("a", "audit.asked", {"n": 5})
            agent = rt.agent("a")
        case "simulation":
            sim = Simulation([AUDITED], seed=7, directives=directives)
            sim.start(AUDITED, "a")
            sim.send("a", "audit.asked", {"n": 5}, at=1.0)
            result = sim.run(until=10.0)
            assert result.idle
            agent = result.agents["a"]
        case _:

            async def main() -> Any:
                async with AsyncRuntime([AUDITED], directives=directives) as rt:
                    await rt.start(AUDITED, "a")
                    await rt.cast("a", "audit.asked", {"n": 5})
                    return await rt.wait_until("a", lambda a: a.state.total == 16, timeout=5)

            agent = asyncio.run(main())
    assert agent.state == Book(("asked", "audited", "audited"), 16)
