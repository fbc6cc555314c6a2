"""Properties of the synchronous interpreters on generated signal sequences.

A small two-agent system (a counter that emits to a ledger, invokes an effect and schedules a
tick; a ledger that writes to a sink and can stop itself) is driven by generated sequences of
signals (routed and unrouted types, good and bad params) and clock moves. Then:

* SyncRuntime and DryRun (given canned replies equal to what the Sync handler returns) agree on
  the directive trace and the final states, and DryRun never calls a handler;
* a SyncRuntime trace survives ``trace_to_jsonl`` / ``trace_from_jsonl`` unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias

import attrs
from hypothesis import given
from hypothesis import strategies as st

from jido import (
    ActionResult,
    AgentSpec,
    Context,
    FrozenMap,
    Invoke,
    JsonValue,
    NoParams,
    Route,
    Signal,
    action,
    emit,
    emit_to,
    emit_to_sink,
    invoke,
    ok,
    schedule,
    stop,
)
from jido_interpreters import (
    CannedError,
    DryRun,
    SyncRuntime,
    trace_from_jsonl,
    trace_to_jsonl,
)

# ---------------------------------------------------------------- the system


@attrs.frozen
class Count:
    count: int = 0
    doubled: int = 0
    failures: int = 0
    resets: int = 0
    ticks: int = 0


@attrs.frozen
class Add:
    by: int


@attrs.frozen
class Doubled:
    result: int


@action(params=Add)
def add(state: Count, p: Add, ctx: Context) -> ActionResult[Count]:
    new = attrs.evolve(state, count=state.count + p.by)
    return ok(
        new,
        emit_to("ledger", "ledger.add", {"by": p.by}),
        invoke("double", {"n": new.count}, on_ok="count.doubled", on_error="count.failed"),
    )


@action(params=Doubled)
def doubled(state: Count, p: Doubled, ctx: Context) -> ActionResult[Count]:
    return ok(attrs.evolve(state, doubled=p.result))


@action()
def failed(state: Count, _: NoParams, ctx: Context) -> ActionResult[Count]:
    return ok(attrs.evolve(state, failures=state.failures + 1))


@action()
def reset(state: Count, _: NoParams, ctx: Context) -> ActionResult[Count]:
    return ok(attrs.evolve(state, count=0), emit("count.was-reset"), schedule(5, "count.tick"))


@action()
def was_reset(state: Count, _: NoParams, ctx: Context) -> ActionResult[Count]:
    return ok(attrs.evolve(state, resets=state.resets + 1))


@action()
def tick(state: Count, _: NoParams, ctx: Context) -> ActionResult[Count]:
    new = attrs.evolve(state, ticks=state.ticks + 1)
    return ok(new, emit_to_sink("audit", "count.ticked", {"count": state.count}))


COUNTER: AgentSpec[Count] = AgentSpec(
    name="counter",
    state=Count,
    routes=[
        Route(pattern="count.add", target=add),
        Route(pattern="count.doubled", target=doubled),
        Route(pattern="count.failed", target=failed),
        Route(pattern="count.reset", target=reset),
        Route(pattern="count.was-reset", target=was_reset),
        Route(pattern="count.tick", target=tick),
    ],
)


@attrs.frozen
class Ledger:
    total: int = 0
    entries: int = 0


@action(params=Add)
def book(state: Ledger, p: Add, ctx: Context) -> ActionResult[Ledger]:
    new = Ledger(total=state.total + p.by, entries=state.entries + 1)
    if new.total > 100:
        return ok(new, emit_to_sink("audit", "ledger.big", {"total": new.total}))
    return ok(new)


@action()
def close(state: Ledger, _: NoParams, ctx: Context) -> ActionResult[Ledger]:
    return ok(None, stop("closed"))


LEDGER: AgentSpec[Ledger] = AgentSpec(
    name="ledger",
    state=Ledger,
    routes=[Route(pattern="ledger.add", target=book), Route(pattern="ledger.close", target=close)],
)

SPECS = (COUNTER, LEDGER)


def doubling(n: int) -> int:
    """What the ``double`` effect computes (it refuses negative numbers)."""
    if n < 0:
        raise ValueError(f"cannot double a negative number: {n}")
    return 2 * n


class Double:
    """The SyncRuntime handler for ``double``, counting its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, args: FrozenMap[str, JsonValue]) -> object:
        self.calls += 1
        n = args["n"]
        assert isinstance(n, int)
        return doubling(n)


def canned_double(args: FrozenMap[str, JsonValue]) -> object:
    """DryRun's canned reply: the same result as the handler, without running it."""
    n = args["n"]
    assert isinstance(n, int)
    try:
        return doubling(n)
    except ValueError as exc:
        return CannedError(type(exc).__name__, str(exc))


# ---------------------------------------------------------------- generated scripts


@attrs.frozen
class Send:
    agent: str
    type: str
    data: object


@attrs.frozen
class Advance:
    seconds: float


Op: TypeAlias = Send | Advance

TYPES = (
    "count.add",
    "count.reset",
    "count.tick",
    "count.doubled",
    "count.failed",
    "ledger.add",
    "ledger.close",
    "nobody.home",  # routed nowhere
)
DATA: st.SearchStrategy[object] = st.one_of(
    st.none(),
    st.builds(lambda by: {"by": by}, st.integers(-60, 60)),
    st.builds(lambda r: {"result": r}, st.integers(-10, 10)),
    # bad params: wrong types, missing fields, not an object
    st.sampled_from([{"by": "many"}, {"by": 1.5}, {"result": "x"}, {"other": 1}, [1, 2], "text"]),
)
ANY_SEND: st.SearchStrategy[Op] = st.builds(
    Send, st.sampled_from(["counter", "ledger"]), st.sampled_from(TYPES), DATA
)
GOOD_ADD: st.SearchStrategy[Op] = st.builds(
    lambda by: Send("counter", "count.add", {"by": by}), st.integers(-20, 40)
)
RESET: st.SearchStrategy[Op] = st.just(Send("counter", "count.reset", None))
LEDGER_OPS: st.SearchStrategy[Op] = st.one_of(
    st.builds(lambda by: Send("ledger", "ledger.add", {"by": by}), st.integers(0, 80)),
    st.just(Send("ledger", "ledger.close", None)),
)
ADVANCE: st.SearchStrategy[Op] = st.builds(Advance, st.sampled_from([0.5, 3.0, 5.0, 12.0]))
#: Scripts: well-formed requests are as likely as arbitrary (often unrouted or bad) ones.
OPS: st.SearchStrategy[list[Op]] = st.lists(
    st.one_of(GOOD_ADD, GOOD_ADD, RESET, LEDGER_OPS, ANY_SEND, ADVANCE), max_size=25
)


def drive(rt: SyncRuntime | DryRun, ops: Sequence[Op]) -> None:
    rt.start(COUNTER, "counter")
    rt.start(LEDGER, "ledger")
    for op in ops:
        if isinstance(op, Advance):
            rt.advance(op.seconds)
        elif op.agent in rt.agent_ids:
            rt.send(op.agent, op.type, op.data)


def sync_run(ops: Sequence[Op]) -> tuple[SyncRuntime, Double]:
    handler = Double()
    rt = SyncRuntime(SPECS, effects={"double": handler}, sinks=["audit"])
    drive(rt, ops)
    return rt, handler


def directive_trace(rt: SyncRuntime | DryRun) -> list[tuple[Any, ...]]:
    return [(e.agent_id, e.signal, e.directives, e.after) for e in rt.trace]


def final_states(rt: SyncRuntime | DryRun) -> dict[str, Any]:
    return {agent_id: rt.agent(agent_id) for agent_id in rt.agent_ids}


# ---------------------------------------------------------------- properties


@given(OPS)
def test_sync_and_dry_run_agree_given_canned_replies(ops: list[Op]) -> None:
    """With canned replies equal to the handlers' results, DryRun's run is SyncRuntime's."""
    sync, handler = sync_run(ops)
    calls = handler.calls
    dry = DryRun(SPECS, replies={"double": canned_double}, sinks=["audit"])
    drive(dry, ops)
    assert handler.calls == calls  # DryRun never called the handler
    assert directive_trace(dry) == directive_trace(sync)
    assert final_states(dry) == final_states(sync)
    assert dry.sink("audit") == sync.sink("audit")
    assert dry.intents == tuple((agent, inv) for agent, inv, _ in sync.effect_log)
    assert dry.problems == sync.problems


@given(OPS)
def test_dry_run_without_replies_records_every_invoke_and_gets_no_outcome(ops: list[Op]) -> None:
    """Without replies, DryRun records one intent per Invoke directive and nothing comes back."""
    dry = DryRun(SPECS, sinks=["audit"])
    drive(dry, ops)
    invokes = [(e.agent_id, d) for e in dry.trace for d in e.directives if isinstance(d, Invoke)]
    assert list(dry.intents) == invokes
    assert all(e.signal.source != "jido://effect/double" for e in dry.trace)


def test_a_trace_holding_line_separators_round_trips_through_jsonl() -> None:
    """Signal ids and data may hold U+2028, U+0085 and the like, which the writer leaves
    unescaped: each entry is still one line, read back whole."""
    rt = SyncRuntime(SPECS, effects={"double": Double()}, sinks=["audit"])
    rt.start(COUNTER, "counter")
    rt.start(LEDGER, "ledger")
    for i, odd in enumerate("\u2028\u2029\x85\x1c"):
        sig = Signal(type="count.add", source=f"/test{odd}", id=f"s{odd}{i}", data={"by": i})
        rt.send("counter", sig)
    text = trace_to_jsonl(rt.trace)
    assert "\u2028" in text
    assert trace_from_jsonl(text, SPECS) == rt.trace


@given(OPS)
def test_a_sync_trace_round_trips_through_jsonl(ops: list[Op]) -> None:
    """trace_from_jsonl(trace_to_jsonl(trace), specs) gives back the same trace."""
    sync, _ = sync_run(ops)
    text = trace_to_jsonl(sync.trace)
    assert text.count("\n") == len(sync.trace)
    assert trace_from_jsonl(text, SPECS) == sync.trace
    assert trace_from_jsonl(text, {s.name: s for s in SPECS}) == sync.trace


@given(OPS)
def test_the_handler_runs_once_per_invoke_and_every_outcome_returns(ops: list[Op]) -> None:
    """SyncRuntime performs each Invoke once, and each outcome comes back as a signal."""
    sync, handler = sync_run(ops)
    invokes = [d for e in sync.trace for d in e.directives if isinstance(d, Invoke)]
    assert handler.calls == len(invokes) == len(sync.effect_log)
    outcomes = [e.signal for e in sync.trace if e.signal.source == "jido://effect/double"]
    expected = []
    for inv in invokes:
        n = inv.args["n"]
        assert isinstance(n, int)
        expected.append(f"{inv.key}:ok" if n >= 0 else f"{inv.key}:error")
    assert sorted(s.id for s in outcomes) == sorted(expected)
