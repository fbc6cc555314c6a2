"""An effect whose result no signal can carry reaches its agent as an ``on_error`` outcome,
on every runtime: a string holding a lone surrogate (a JSON API's truncated emoji, decoded
by ``json.loads``) or an integer of more than 4300 digits is an ``InvalidResult`` error, and
an error message holding a lone surrogate arrives escaped. Nothing is lost: not the outcome,
not the journal entry (with storage), not the simulation's trace."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
from typer.testing import CliRunner

from jido import (
    CHILD_EXIT,
    ActionResult,
    Agent,
    AgentSpec,
    Context,
    FrozenMap,
    JsonValue,
    NoParams,
    Route,
    action,
    invoke,
    lone_surrogate,
    ok,
    spawn_agent,
    stop,
)
from jido_interpreters import (
    AsyncRuntime,
    CannedError,
    DryRun,
    Simulation,
    SQLiteStorage,
    SyncRuntime,
)
from jido_interpreters.cli import app

#: What ``json.loads`` makes of a truncated emoji: "café " and half a UTF-16 pair.
TITLE: str = json.loads('"caf\\u00e9 \\ud83d"')
TRUNCATED: dict[str, object] = {"title": TITLE}
HUGE: dict[str, object] = {"n": 10**4300}


@attrs.frozen
class Page:
    """What the agent heard back: each outcome's type and its error, if any."""

    heard: tuple[str, ...] = ()
    errors: tuple[FrozenMap[str, JsonValue], ...] = ()


@attrs.frozen
class Outcome:
    result: JsonValue = None
    error: FrozenMap[str, JsonValue] | None = None


@action(params=NoParams)
def fetch(state: Page, p: NoParams, ctx: Context) -> ActionResult[Page]:
    return ok(state, invoke("http.get", {"url": "/0"}, on_ok="page.ok", on_error="page.err"))


@action(params=Outcome)
def heard(state: Page, p: Outcome, ctx: Context) -> ActionResult[Page]:
    assert ctx.signal is not None
    errors = state.errors if p.error is None else (*state.errors, p.error)
    return ok(Page((*state.heard, ctx.signal.type), errors))


PAGE = AgentSpec(
    name="page",
    state=Page,
    routes=[
        Route(pattern="page.fetch", target=fetch),
        Route(pattern="page.ok", target=heard),
        Route(pattern="page.err", target=heard),
    ],
)


def invalid_result(state: Page, says: str) -> None:
    """The agent heard one outcome, an InvalidResult error whose message says why."""
    assert state.heard == ("page.err",)
    (error,) = state.errors
    assert error["type"] == "InvalidResult"
    assert says in str(error["message"])
    assert lone_surrogate(error) is None


BAD_RESULTS = pytest.mark.parametrize(
    ("result", "says"),
    [
        (TRUNCATED, "$.title: 'café \\ud83d' holds a lone surrogate (\\ud83d)"),
        (HUGE, "$.n: an integer of more than 4300 digits"),
    ],
    ids=["lone-surrogate", "huge-int"],
)


def raising(args: object) -> object:
    raise ValueError(f"no page: {TITLE}")


def escaped_error(state: Page) -> None:
    """The handler's own error, its message escaped: ``\\ud83d`` as six characters."""
    assert state.heard == ("page.err",)
    (error,) = state.errors
    assert error == {"type": "ValueError", "message": "no page: café \\ud83d"}


# ---------------------------------------------------------------------------- SyncRuntime


@BAD_RESULTS
def test_sync_runtime(result: JsonValue, says: str) -> None:
    rt = SyncRuntime([PAGE], effects={"http.get": lambda args: result})
    rt.start(PAGE, "p")
    rt.send("p", "page.fetch")
    invalid_result(rt.state("p"), says)
    assert rt.problems == ()


def test_sync_runtime_escapes_an_error_message() -> None:
    rt = SyncRuntime([PAGE], effects={"http.get": raising})
    rt.start(PAGE, "p")
    rt.send("p", "page.fetch")
    escaped_error(rt.state("p"))


# ---------------------------------------------------------------------------- DryRun


@BAD_RESULTS
def test_dry_run_with_a_canned_reply(result: JsonValue, says: str) -> None:
    for reply in (result, lambda args: result):
        rt = DryRun([PAGE], replies={"http.get": reply})
        rt.start(PAGE, "p")
        rt.send("p", "page.fetch")
        invalid_result(rt.state("p"), says)


def test_dry_run_escapes_a_canned_error() -> None:
    for reply in (raising, CannedError("ValueError", f"no page: {TITLE}")):
        rt = DryRun([PAGE], replies={"http.get": reply})
        rt.start(PAGE, "p")
        rt.send("p", "page.fetch")
        escaped_error(rt.state("p"))


# ---------------------------------------------------------------------------- Simulation


@BAD_RESULTS
def test_simulation(result: JsonValue, says: str) -> None:
    sim = Simulation([PAGE], effects={"http.get": lambda args: result})
    sim.start(PAGE, "p")
    sim.send("p", "page.fetch")
    run = sim.run(events=100)
    invalid_result(run.agents["p"].state, says)


def test_simulation_escapes_an_error_message() -> None:
    sim = Simulation([PAGE], effects={"http.get": raising})
    sim.start(PAGE, "p")
    sim.send("p", "page.fetch")
    escaped_error(sim.run(events=100).agents["p"].state)


# ---------------------------------------------------------------------------- AsyncRuntime


def async_handler(result: Callable[[], JsonValue], calls: list[int]) -> Any:
    async def handler(args: object) -> JsonValue:
        calls.append(1)
        return result()

    return handler


@BAD_RESULTS
def test_async_runtime_in_memory(result: JsonValue, says: str) -> None:
    calls: list[int] = []

    async def main() -> Page:
        effects = {"http.get": async_handler(lambda: result, calls)}
        async with AsyncRuntime([PAGE], effects=effects) as rt:
            await rt.start(PAGE, "p")
            await rt.cast("p", "page.fetch")
            await rt.wait_idle(timeout=5.0)
            state: Page = rt.state("p")
            return state

    invalid_result(asyncio.run(main()), says)
    assert calls == [1]


@BAD_RESULTS
def test_async_runtime_with_storage_journals_the_error_and_does_not_reissue(
    tmp_path: Path, result: JsonValue, says: str
) -> None:
    """The outcome is journalled like any other: a restored agent has it, and the effect is
    not invoked again (it was, on every restore, while the outcome failed to journal)."""
    calls: list[int] = []
    effects = {"http.get": async_handler(lambda: result, calls)}

    async def first() -> Page:
        async with AsyncRuntime(
            [PAGE], effects=effects, storage=SQLiteStorage(tmp_path / "db")
        ) as rt:
            await rt.start(PAGE, "p")
            await rt.cast("p", "page.fetch")
            await rt.wait_idle(timeout=5.0)
            state: Page = rt.state("p")
            return state

    async def restored() -> Page:
        async with AsyncRuntime(
            [PAGE], effects=effects, storage=SQLiteStorage(tmp_path / "db")
        ) as rt:
            assert await rt.restore() == ("p",)
            await rt.wait_idle(timeout=5.0)
            state: Page = rt.state("p")
            assert rt.statistics().in_flight_effects == 0
            return state

    invalid_result(asyncio.run(first()), says)
    invalid_result(asyncio.run(restored()), says)
    assert calls == [1]


def test_async_runtime_escapes_an_error_message(tmp_path: Path) -> None:
    async def failing(args: object) -> object:
        return raising(args)

    async def main() -> Page:
        storage = SQLiteStorage(tmp_path / "db")
        async with AsyncRuntime([PAGE], effects={"http.get": failing}, storage=storage) as rt:
            await rt.start(PAGE, "p")
            await rt.cast("p", "page.fetch")
            await rt.wait_idle(timeout=5.0)
            state: Page = rt.state("p")
            return state

    escaped_error(asyncio.run(main()))


# ---------------------------------------------------------------------------- lifecycle


@attrs.frozen
class Parent:
    reasons: tuple[str, ...] = ()


@attrs.frozen
class Exit:
    reason: str


@action(params=NoParams)
def hire(state: Parent, p: NoParams, ctx: Context) -> ActionResult[Parent]:
    return ok(state, spawn_agent("quitter", "q"))


@action(params=Exit)
def exited(state: Parent, p: Exit, ctx: Context) -> ActionResult[Parent]:
    return ok(Parent((*state.reasons, p.reason)))


@action(params=NoParams)
def quit(state: Page, p: NoParams, ctx: Context) -> ActionResult[Page]:
    return ok(state, stop(f"gave up on {TITLE}"))


BOSS = AgentSpec(
    name="boss",
    state=Parent,
    routes=[Route(pattern="team.hire", target=hire), Route(pattern=CHILD_EXIT, target=exited)],
)
QUITTER = AgentSpec(name="quitter", state=Page, routes=[Route(pattern="q.quit", target=quit)])


def test_a_child_exit_reason_holding_a_lone_surrogate_arrives_escaped(tmp_path: Path) -> None:
    """A reason is free text (a Stop's, an exception's): the parent is told, not the runtime
    failing to build the lifecycle signal."""
    says = ("gave up on café \\ud83d",)
    rt = SyncRuntime([BOSS, QUITTER])
    rt.start(BOSS, "b")
    rt.send("b", "team.hire")
    rt.send("b/q", "q.quit")
    assert rt.state("b").reasons == says

    async def main() -> Agent[Parent]:
        storage = SQLiteStorage(tmp_path / "db")
        async with AsyncRuntime([BOSS, QUITTER], storage=storage) as rt:
            await rt.start(BOSS, "b")
            await rt.call("b", "team.hire", timeout=5.0)
            await rt.wait_idle(timeout=5.0)
            await rt.cast("b/q", "q.quit")
            agent: Agent[Parent] = await rt.wait_until("b", lambda a: bool(a.state.reasons))
            return agent

    assert asyncio.run(main()).state.reasons == says


# ---------------------------------------------------------------------------- jido simulate

SCENARIO = """
import attrs, json
from jido import AgentSpec, FrozenMap, JsonValue, NoParams, Route, action, invoke, ok
from jido_interpreters import Scenario

@attrs.frozen
class Page:
    heard: tuple[str, ...] = ()

@attrs.frozen
class Outcome:
    result: JsonValue = None
    error: FrozenMap[str, JsonValue] | None = None

@action(params=NoParams)
def fetch(state, p, ctx):
    return ok(state, invoke("http.get", {"url": "/0"}, on_ok="page.ok", on_error="page.err"))

@action(params=Outcome)
def heard(state, p, ctx):
    return ok(Page((*state.heard, ctx.signal.type)))

PAGE = AgentSpec(name="page", state=Page, routes=[
    Route(pattern="page.fetch", target=fetch),
    Route(pattern="page.ok", target=heard),
    Route(pattern="page.err", target=heard),
])

def http_get(args):
    return json.loads('{"title": "caf\\\\u00e9 \\\\ud83d"}')

def setup(sim):
    sim.start(PAGE, "p")
    sim.send("p", "page.fetch")

SCENARIO = Scenario(specs=[PAGE], setup=setup, effects={"http.get": http_get})
"""

CRASHING = """
import attrs, json
from jido import AgentSpec, NoParams, Route, action
from jido_interpreters import Scenario

@attrs.frozen
class S:
    n: int = 0

@action(params=NoParams)
def boom(state, p, ctx):
    raise ValueError(json.loads('"caf\\\\u00e9 \\\\ud83d"'))

SPEC = AgentSpec(name="crashy", state=S, routes=[Route(pattern="c.boom", target=boom)])

def setup(sim):
    sim.start(SPEC, "c")
    sim.send("c", "c.boom")

SCENARIO = Scenario(specs=[SPEC], setup=setup)
"""

MUMBLING = """
import attrs
from jido import AgentSpec, NoParams, Route, action, ok
from jido_interpreters import Scenario

@attrs.frozen
class S:
    said: str = ""

@action(params=NoParams)
def mumble(state, p, ctx):
    return ok(S("caf\\u00e9 \\ud83d"))  # a state may hold what JSON cannot: written, it fails

SPEC = AgentSpec(name="mumbler", state=S, routes=[Route(pattern="m.mumble", target=mumble)])

def setup(sim):
    sim.start(SPEC, "m")
    sim.send("m", "m.mumble")

SCENARIO = Scenario(specs=[SPEC], setup=setup)
"""


def simulate(tmp_path: Path, module: str, text: str, spec: str) -> tuple[Any, Path]:
    (tmp_path / f"{module}.py").write_text(text, encoding="utf-8")
    trace = tmp_path / "t.jsonl"
    result = CliRunner().invoke(
        app, ["simulate", f"{tmp_path}/{module}.py:{spec}", "--trace-out", str(trace)]
    )
    return result, trace


def test_jido_simulate_writes_the_trace_of_an_invalid_result(tmp_path: Path) -> None:
    """``jido simulate --trace-out`` of a system whose effect returns a truncated emoji: the
    run ends, the trace is written (the agent heard an InvalidResult), and it replays."""
    result, trace = simulate(tmp_path, "surrogate_scenario", SCENARIO, "PAGE")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    text = trace.read_text(encoding="utf-8")
    assert '"heard":["page.err"]' in text
    assert '"type":"InvalidResult"' in text
    assert "holds a lone surrogate" in text
    replayed = CliRunner().invoke(app, ["replay", str(trace)])
    assert replayed.exit_code == 0, replayed.output


def test_jido_simulate_writes_the_trace_of_a_crash_whose_message_holds_one(
    tmp_path: Path,
) -> None:
    """An action raising with such a message: the failure is reported and traced, escaped."""
    result, trace = simulate(tmp_path, "crashing_surrogate", CRASHING, "SPEC")
    assert result.exit_code == 1, result.output
    says = "failed: action 'boom' of agent 'c' raised handling 'c.boom': ValueError: café \\ud83d"
    assert result.stderr.splitlines()[0] == says
    assert trace.read_text(encoding="utf-8").splitlines()[-1].endswith('café \\\\ud83d"}')
    replayed = CliRunner().invoke(app, ["replay", str(trace)])
    assert replayed.exit_code == 1
    assert "reproduces" in replayed.output


def test_jido_simulate_reports_a_trace_that_is_no_text(tmp_path: Path) -> None:
    """A state holding a lone surrogate (states are the action's to build): the trace cannot
    be written, which is one error line after the run's summary (exit code 2), and no
    empty file is left behind."""
    result, trace = simulate(tmp_path, "mumbling", MUMBLING, "SPEC")
    assert result.exit_code == 2, result.output
    assert result.stdout.startswith("seed 0: ")
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: {trace}: the trace cannot be written as JSON text: ")
    assert "surrogates not allowed" in line
    assert not trace.exists()
