"""Hierarchies cut by a crash: what a recovery makes of stops, adoptions and restarts
whose writes the crash cut off part-way.

Each test runs a system on a store that, from a chosen write on, writes nothing more (as
a process killed right after that write leaves it), then recovers it in a fresh runtime
and checks that the agents are what the run would have left without the crash.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
from tests.redis_server import redis_url
from tests.test_durable import Backend, ReadsThrough, backend

from jido import (
    CHILD_EXIT,
    ActionResult,
    AgentSpec,
    Context,
    NoParams,
    Route,
    action,
    adopt_child,
    ok,
    spawn_agent,
    stop,
    stop_child,
)
from jido_interpreters import (
    AgentOptions,
    AgentRecord,
    AsyncRuntime,
    Restart,
    SnapshotRecord,
    Storage,
    SyncRuntime,
)

__all__ = ["backend", "redis_url"]  # the fixtures, imported so pytest finds them here


@attrs.frozen
class Log:
    """What an agent handled: its own actions, and each lifecycle signal as
    ``type:tag:reason``."""

    seen: tuple[str, ...] = ()


@action(params=NoParams)
def note(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    sig = ctx.signal
    assert sig is not None
    data = sig.data if isinstance(sig.data, dict) else {}
    return ok(Log((*state.seen, f"{sig.type}:{data.get('tag')}:{data.get('reason')}")))


@action(params=NoParams)
def hire(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    return ok(Log((*state.seen, "hire")), spawn_agent("kid", "k"), spawn_agent("leaf", "l"))


@action(params=NoParams)
def fire(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    return ok(Log((*state.seen, "fire")), stop_child("k"))


@action(params=NoParams)
def quit_(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    return ok(Log((*state.seen, "quit")), stop("bye"))


@action(params=NoParams)
def adopt(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    return ok(Log((*state.seen, "adopt")), adopt_child("free", "f"))


@action(params=NoParams)
def boom(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    raise ValueError("boom")


@action(params=NoParams)
def replace(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    return ok(Log((*state.seen, "replace")), stop_child("k"), spawn_agent("kid", "k"))


@action(params=NoParams)
def renew(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    return ok(Log((*state.seen, "renew")), stop_child("k"), spawn_agent("kid", "k", id="k2"))


@action(params=NoParams)
def swap(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    return ok(Log((*state.seen, "swap")), stop_child("k"), adopt_child("free", "k"))


#: The clock a test injects, which a slow step moves on (see ``slow_boom``).
CLOCK = [datetime(2026, 1, 1, tzinfo=UTC)]


@action(params=NoParams)
def slow_boom(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    CLOCK[0] += timedelta(minutes=2)  # a step that takes two minutes, then crashes
    raise ValueError("boom")


LIFE = Route(pattern="jido.agent.**", target=note)
ROOT = AgentSpec(
    name="root",
    state=Log,
    routes=[
        Route(pattern="do.hire", target=hire),
        Route(pattern="do.fire", target=fire),
        Route(pattern="do.quit", target=quit_),
        Route(pattern="do.adopt", target=adopt),
        Route(pattern="do.replace", target=replace),
        Route(pattern="do.renew", target=renew),
        Route(pattern="do.swap", target=swap),
        LIFE,
    ],
)
KID = AgentSpec(
    name="kid",
    state=Log,
    routes=[
        Route(pattern="do.hire", target=hire),
        Route(pattern="do.note", target=note),
        Route(pattern="do.boom", target=boom),
        Route(pattern="do.slow", target=slow_boom),
        LIFE,
    ],
)
LEAF = AgentSpec(name="leaf", state=Log, routes=[LIFE])
SPECS = (ROOT, KID, LEAF)

#: A write the store is told of: the operation's name and a text that tells it apart.
Write = tuple[str, str]


class _KilledAfter(ReadsThrough):
    """A store that writes nothing more once a write ``last`` says is the last has been
    made: what a process killed right after that write leaves in storage."""

    def __init__(self, inner: Storage, last: Callable[[Write], bool]) -> None:
        self.inner = inner
        self.last = last
        self.dead = False

    def _write(self, write: Write, run: Callable[[], Any]) -> Any:
        if self.dead:
            raise OSError("the process was killed")
        result = run()
        self.dead = self.last(write)
        return result

    def register(self, record: AgentRecord) -> None:
        self._write(("register", record.agent_id), lambda: self.inner.register(record))

    def mark_stopped(self, agent_id: str) -> None:
        self._write(("stopped", agent_id), lambda: self.inner.mark_stopped(agent_id))

    def set_parent(self, agent_id: str, parent_id: str | None, tag: str | None) -> None:
        self._write(
            ("parent", f"{agent_id}->{parent_id}"),
            lambda: self.inner.set_parent(agent_id, parent_id, tag),
        )

    def mark_undelivered(self, agent_id: str, source: str, signal_id: str) -> None:
        self._write(
            ("undelivered", agent_id),
            lambda: self.inner.mark_undelivered(agent_id, source, signal_id),
        )

    def append(self, entries: Sequence[tuple[str, str, str, str, float]]) -> list[int | None]:
        if self.dead:
            raise OSError("the process was killed")
        written: list[int | None] = []
        for entry in entries:  # one at a time: the kill may come between two of a batch
            if self.dead:
                raise OSError("the process was killed")
            written.extend(self.inner.append([entry]))
            self.dead = self.last(("append", f"{entry[0]} {entry[3]}"))
        return written

    def snapshot(self, record: SnapshotRecord) -> None:
        self._write(("snapshot", record.agent_id), lambda: self.inner.snapshot(record))


def _appended(agent_id: str, needle: str) -> Callable[[Write], bool]:
    """The last write: the journal entry of ``agent_id`` whose JSON holds ``needle``."""
    return lambda w: w[0] == "append" and w[1].startswith(f"{agent_id} ") and needle in w[1]


def _seen(rt: AsyncRuntime) -> dict[str, tuple[tuple[str, ...], str | None, dict[str, str]]]:
    """Each running agent: what it handled, its parent, its children."""
    return {i: (rt.state(i).seen, rt.parent(i), dict(rt.children(i))) for i in sorted(rt.agent_ids)}


Steps = Sequence[tuple[str, str]]


async def _run(
    store: Storage,
    starts: Sequence[tuple[AgentSpec[Any], str]],
    steps: Steps,
    options: dict[str, AgentOptions],
    then: Callable[[AsyncRuntime], Any] | None = None,
) -> None:
    rt = AsyncRuntime(SPECS, storage=store, options=options)
    for spec, agent_id in starts:
        await rt.start(spec, agent_id)
    for agent_id, type in steps:
        await rt.cast(agent_id, rt.signal(type))
        await rt.wait_idle(timeout=5)
    if then is not None:
        await then(rt)
        await rt.wait_idle(timeout=5)
    await rt.shutdown()


async def _recovered(backend: Backend, options: dict[str, AgentOptions]) -> dict[str, Any]:
    async with AsyncRuntime(SPECS, storage=backend.open(), options=options) as rt:
        await rt.restore()
        await rt.wait_idle(timeout=5)
        return _seen(rt)


@pytest.fixture
def uncut(tmp_path: Path) -> Backend:
    """The store of the run without the crash, the reference."""
    return Backend(kind="sqlite", path=tmp_path / "uncut.db")


def _same_as_uncut(
    backend: Backend,
    tmp: Backend,
    starts: Sequence[tuple[AgentSpec[Any], str]],
    steps: Steps,
    last: Callable[[Write], bool],
    options: dict[str, AgentOptions] | None = None,
    then: Callable[[AsyncRuntime], Any] | None = None,
) -> dict[str, Any]:
    """Run the steps on ``tmp`` whole, and on ``backend`` cut after ``last``; recover
    both and check that they agree. Returns what the cut run recovered."""
    opts = options or {}
    store = _KilledAfter(backend.open(), last)
    asyncio.run(_run(store, starts, steps, opts, then))
    assert store.dead, "the cut came"
    asyncio.run(_run(tmp.open(), starts, steps, opts, then))
    cut = asyncio.run(_recovered(backend, opts))
    assert cut == asyncio.run(_recovered(tmp, opts))
    return cut


HIRED = ((ROOT, "root"),)


def test_a_stop_child_a_crash_cut_off_is_carried_out_again(
    backend: Backend, uncut: Backend
) -> None:
    """The parent's step giving ``StopChild`` is journalled, then the process dies: the
    child, still stored running, is stopped by the recovery (its parent told), as it was."""
    got = _same_as_uncut(
        backend,
        uncut,
        HIRED,
        [("root", "do.hire"), ("root", "do.fire")],
        _appended("root", '"do.fire"'),
    )
    assert "root/k" not in got
    assert got["root"][0][-1] == f"{CHILD_EXIT}:k:normal"


def test_a_stop_child_whose_exit_was_journalled_tells_the_parent_once(
    backend: Backend, uncut: Backend
) -> None:
    """Cut after the parent's ``child.exit`` was journalled, before the child was marked
    stopped: the recovery stops the child again, and its second ``child.exit`` (the same
    id) is dropped by the parent's journal."""
    got = _same_as_uncut(
        backend,
        uncut,
        HIRED,
        [("root", "do.hire"), ("root", "do.fire")],
        _appended("root", CHILD_EXIT),
    )
    assert [s for s in got["root"][0] if s.startswith(CHILD_EXIT)] == [f"{CHILD_EXIT}:k:normal"]


def test_a_grandchild_of_a_stop_child_a_crash_cut_off_is_stopped(
    backend: Backend, uncut: Backend
) -> None:
    """``on_parent_death="stop"`` down two levels, the ``StopChild`` cut off once the middle
    agent was marked stopped: nothing is left running under a stopped parent."""
    got = _same_as_uncut(
        backend,
        uncut,
        HIRED,
        [("root", "do.hire"), ("root/k", "do.hire"), ("root", "do.fire")],
        lambda w: w == ("stopped", "root/k"),
        options={"kid": AgentOptions(on_parent_death="stop")},
    )
    assert set(got) == {"root", "root/l", "root/k/l"}  # the leaf is orphaned


@pytest.mark.parametrize(
    ("policy", "left", "told"),
    [
        ("stop", set(), ()),
        ("orphan", {"root/k/k", "root/k/l"}, ("jido.agent.orphaned:k:unknown",)),
        ("continue", {"root/k/k", "root/k/l"}, ()),
    ],
)
def test_a_child_stored_under_a_stopped_parent_follows_its_on_parent_death(
    backend: Backend, policy: Any, left: set[str], told: tuple[str, ...]
) -> None:
    """``stop`` (in no journal) marks the agent stopped, then deals with each child: cut
    between the two, the recovery finds children linked to a stopped parent, and each does
    what its ``on_parent_death`` says, as it would have: stops, or runs on parentless, told
    it is orphaned if so (once; the parent's reason was not stored: ``unknown``)."""
    options = {
        "kid": AgentOptions(on_parent_death=policy),
        "leaf": AgentOptions(on_parent_death=policy),
    }

    async def stop_middle(rt: AsyncRuntime) -> None:
        await rt.stop("root/k", "gone")

    store = _KilledAfter(backend.open(), lambda w: w == ("stopped", "root/k"))
    steps = [("root", "do.hire"), ("root/k", "do.hire")]
    asyncio.run(_run(store, HIRED, steps, options, stop_middle))
    assert store.dead
    got = asyncio.run(_recovered(backend, options))
    assert set(got) == {"root", "root/l"} | left
    for agent_id in left:
        assert got[agent_id][1] is None
    if "root/k/k" in left:
        assert got["root/k/k"][0] == told
    again = asyncio.run(_recovered(backend, options))  # unlinked in storage: told once
    assert again == got


def test_an_orphan_whose_unlink_a_crash_cut_off_is_told(backend: Backend, uncut: Backend) -> None:
    """The parent's ``Stop`` is journalled and cut off right after its child was unlinked
    in storage: the child is told it is orphaned all the same (its notice is journalled
    before the unlink, and a recovery that stops the parent again tells it, once)."""
    got = _same_as_uncut(
        backend,
        uncut,
        HIRED,
        [("root", "do.hire"), ("root", "do.quit")],
        lambda w: w == ("parent", "root/l->None"),
    )
    assert got["root/l"] == (("jido.agent.orphaned:l:bye",), None, {})


def test_an_orphan_whose_notice_was_journalled_is_told_once(
    backend: Backend, uncut: Backend
) -> None:
    """Cut right after the orphan's notice was journalled, before its unlink: the recovery
    stops the parent again, and the orphan's second notice (the same id) is dropped."""
    got = _same_as_uncut(
        backend,
        uncut,
        HIRED,
        [("root", "do.hire"), ("root", "do.quit")],
        _appended("root/l", "orphaned"),
    )
    assert got["root/l"] == (("jido.agent.orphaned:l:bye",), None, {})


@action(params=NoParams)
def adopt_root(state: Log, _: NoParams, ctx: Context) -> ActionResult[Log]:
    return ok(Log((*state.seen, "adopt")), adopt_child("root", "up"))


CLIMBER = AgentSpec(
    name="kid",
    state=Log,
    routes=[Route(pattern="do.adopt", target=adopt_root), LIFE],
)
CYCLE_STEPS = (("root", "do.hire"), ("root/k", "do.hire"), ("root/k/k", "do.adopt"))


def test_adopting_an_ancestor_is_refused_on_every_runtime(backend: Backend) -> None:
    """An agent adopting its own ancestor (its grandparent, the root of its tree) would
    close a cycle: SyncRuntime and AsyncRuntime, durable or not, refuse it alike, a
    directive problem naming it, and the root runs on parentless."""
    specs = (ROOT, attrs.evolve(KID, routes=[*KID.routes, *CLIMBER.routes]), LEAF)
    sync = SyncRuntime(specs)
    sync.start(ROOT, "root")
    for agent_id, type in CYCLE_STEPS:
        sync.send(agent_id, type)
    assert [p.message for p in sync.problems] == [
        "agent 'root' is an ancestor of 'root/k/k': adopting it would make a cycle"
    ]
    assert sync.parent("root") is None

    async def run(storage: Storage | None) -> None:
        async with AsyncRuntime(specs, storage=storage) as rt:
            await rt.start(ROOT, "root")
            for agent_id, type in CYCLE_STEPS:
                await rt.cast(agent_id, rt.signal(type))
                await rt.wait_idle(timeout=5)
            assert [p.message for p in rt.problems] == [p.message for p in sync.problems]
            assert rt.parent("root") is None
            assert rt.children("root/k/k") == {}

    asyncio.run(run(None))
    asyncio.run(run(backend.open()))


RESTART_ONCE = {"kid": AgentOptions(error_policy=Restart(max_restarts=1, within=60.0))}
NOTICE = "jido.agent.restarted:None:action 'boom' of agent 'root/k' raised handling 'do.boom'"


def _nth(n: int, last: Callable[[Write], bool]) -> Callable[[Write], bool]:
    """The ``n``-th write ``last`` matches."""
    seen = [0]

    def nth(w: Write) -> bool:
        seen[0] += last(w)
        return seen[0] == n

    return nth


def test_a_restart_whose_notice_a_crash_cut_off_is_announced(
    backend: Backend, uncut: Backend
) -> None:
    """Cut right after the crashing signal was journalled, before its restart's notice
    was: the recovery replays the crash and tells the agent, as the live runtime did."""
    got = _same_as_uncut(
        backend,
        uncut,
        HIRED,
        [("root", "do.hire"), ("root/k", "do.boom")],
        _appended("root/k", '"do.boom"'),
        options=RESTART_ONCE,
    )
    assert got["root/k"][0] == (f"{NOTICE}: ValueError: boom",)


def test_a_cut_off_restart_notice_comes_before_what_followed_the_crash(
    backend: Backend, uncut: Backend
) -> None:
    """A signal journalled after the crashing one, before the notice: live the agent held
    its mailbox until the notice was durable, so it handled the notice first. Cut before
    the notice, the recovery does the same: the notice, then the signal."""

    async def boom_then_hire(rt: AsyncRuntime) -> None:
        rt.cast_nowait("root/k", rt.signal("do.boom"))
        rt.cast_nowait("root/k", rt.signal("do.hire"))

    got = _same_as_uncut(
        backend,
        uncut,
        HIRED,
        [("root", "do.hire")],
        _appended("root/k", '"do.hire"'),
        options=RESTART_ONCE,
        then=boom_then_hire,
    )
    assert got["root/k"][0][:2] == (f"{NOTICE}: ValueError: boom", "hire")


def test_an_escalation_past_the_restart_limit_survives_a_crash(
    backend: Backend, uncut: Backend
) -> None:
    """``Restart(max_restarts=1)``: the second crash escalates. Cut right after the second
    crashing signal was journalled (the first restart's snapshot behind it), the recovery
    counts the first restart still and escalates too: the child stops, its parent told."""
    got = _same_as_uncut(
        backend,
        uncut,
        HIRED,
        [("root", "do.hire"), ("root/k", "do.boom"), ("root/k", "do.boom")],
        _nth(2, _appended("root/k", '"do.boom"')),
        options=RESTART_ONCE,
    )
    assert "root/k" not in got
    assert got["root"][0][-1] == (f"{CHILD_EXIT}:k:restarted 1 times within 60s: ValueError: boom")


FREE = ((ROOT, "root"), (LEAF, "free"))


def test_an_adoption_whose_notice_a_crash_cut_off_is_announced(
    backend: Backend, uncut: Backend
) -> None:
    """Cut right after the adopting step was journalled: the recovery makes the link and
    tells the parent with ``child.started``, as the live runtime did."""
    got = _same_as_uncut(
        backend, uncut, FREE, [("root", "do.adopt")], _appended("root", '"do.adopt"')
    )
    assert got["root"] == (("adopt", "jido.agent.child.started:f:None"), None, {"f": "free"})


CUTS: dict[str, Callable[[Write], bool]] = {
    "after-link": lambda w: w == ("parent", "free->root"),
    "after-notice": _appended("root", "child.started"),
}


@pytest.mark.parametrize("cut", sorted(CUTS))
def test_an_adoption_whose_link_was_written_is_announced_once(
    backend: Backend, uncut: Backend, cut: str
) -> None:
    """Cut right after the link was written, before the parent's ``child.started`` was
    journalled: told by the recovery; cut after that notice, not told again."""
    got = _same_as_uncut(backend, uncut, FREE, [("root", "do.adopt")], CUTS[cut])
    assert got["root"][0] == ("adopt", "jido.agent.child.started:f:None")


ESCALATING = {**RESTART_ONCE, "leaf": AgentOptions(on_parent_death="orphan")}
ESCALATION_CUTS: dict[str, Callable[[Write], bool]] = {
    "after-stopped": lambda w: w == ("stopped", "root/k"),
    "after-unlink": lambda w: w == ("parent", "root/k/l->None"),
}


@pytest.mark.parametrize("cut", sorted(ESCALATION_CUTS))
def test_an_escalation_past_the_restart_limit_is_a_stop_by_its_crash(
    backend: Backend, uncut: Backend, cut: str
) -> None:
    """The escalation past ``max_restarts`` is a stop by the journalled crash, as a
    ``Stop`` is: its parent's ``child.exit`` and its orphan's notice are journalled before
    storage unlinks the orphan and marks it stopped, so a cut after either write loses
    neither (the recovery escalates again; a repeat has the same id, and is dropped)."""
    got = _same_as_uncut(
        backend,
        uncut,
        HIRED,
        [("root", "do.hire"), ("root/k", "do.hire"), ("root/k", "do.boom"), ("root/k", "do.boom")],
        ESCALATION_CUTS[cut],
        options=ESCALATING,
    )
    assert got["root"][0][-1] == (f"{CHILD_EXIT}:k:restarted 1 times within 60s: ValueError: boom")
    assert got["root/k/l"][:2] == (
        ("jido.agent.orphaned:l:restarted 1 times within 60s: ValueError: boom",),
        None,
    )


ORPHANS = {
    "kid": AgentOptions(on_parent_death="orphan"),
    "leaf": AgentOptions(on_parent_death="orphan"),
}


async def _stop_middle(rt: AsyncRuntime) -> None:
    await rt.stop("root/k", "gone")


@pytest.mark.parametrize("notice", ["journalled", "not-journalled"])
def test_an_orphan_of_a_stop_in_no_journal_is_told_once(backend: Backend, notice: str) -> None:
    """``stop`` of a parent with an orphan: cut right after the orphan's notice was
    journalled, or after its unlink, its notice stands and is not repeated."""
    last = (
        _appended("root/k/l", "orphaned")
        if notice == "journalled"
        else (lambda w: w == ("parent", "root/k/l->None"))
    )
    store = _KilledAfter(backend.open(), last)
    asyncio.run(
        _run(store, HIRED, [("root", "do.hire"), ("root/k", "do.hire")], ORPHANS, _stop_middle)
    )
    assert store.dead
    got = asyncio.run(_recovered(backend, ORPHANS))
    assert got["root/k/l"] == (("jido.agent.orphaned:l:gone",), None, {})
    assert asyncio.run(_recovered(backend, ORPHANS)) == got


@pytest.mark.parametrize("notice", ["journalled", "not-journalled"])
def test_an_orphan_a_recovery_tells_is_told_once(backend: Backend, notice: str) -> None:
    """``stop`` of a parent cut right after storage marked it stopped: the recovery tells
    its orphan, and is itself cut right after the notice was journalled, or after the
    unlink; the next recovery leaves it told once."""
    store = _KilledAfter(backend.open(), lambda w: w == ("stopped", "root/k"))
    asyncio.run(
        _run(store, HIRED, [("root", "do.hire"), ("root/k", "do.hire")], ORPHANS, _stop_middle)
    )
    assert store.dead
    last = (
        _appended("root/k/l", "orphaned")
        if notice == "journalled"
        else (lambda w: w == ("parent", "root/k/l->None"))
    )

    async def cut() -> None:
        again = _KilledAfter(backend.open(), last)
        rt = AsyncRuntime(SPECS, storage=again, options=ORPHANS)
        await rt.restore()
        await rt.wait_idle(timeout=5)
        assert again.dead
        await rt.shutdown()

    asyncio.run(cut())
    got = asyncio.run(_recovered(backend, ORPHANS))
    assert got["root/k/l"] == (("jido.agent.orphaned:l:unknown",), None, {})
    assert asyncio.run(_recovered(backend, ORPHANS)) == got


@pytest.mark.parametrize("moved", ["between", "in-step"])
def test_restarts_are_timed_on_the_runtime_clock(
    backend: Backend, uncut: Backend, moved: str
) -> None:
    """``Restart(max_restarts=1, within=60)`` and an injected clock moved on two minutes
    between the journalling of two crashing signals: between the two steps, or by the
    first step itself (a slow one), so that the second crash comes when the first did.
    Live, the second is judged out of the first's window, by when each signal was
    journalled, and restarts the agent again, as a recovery cut right after its signal
    was journalled judges it (on the journal's times, from the same clock)."""
    CLOCK[0] = datetime(2026, 1, 1, tzinfo=UTC)
    once = {"kid": AgentOptions(error_policy=Restart(max_restarts=1, within=60.0))}
    first = "do.boom" if moved == "between" else "do.slow"

    async def run(store: Storage) -> None:
        rt = AsyncRuntime(SPECS, storage=store, options=once, clock=lambda: CLOCK[0])
        await rt.start(KID, "k")
        await rt.cast("k", rt.signal(first))
        await rt.wait_idle(timeout=5)
        if moved == "between":
            CLOCK[0] += timedelta(minutes=2)
        await rt.cast("k", rt.signal("do.boom"))
        await rt.wait_idle(timeout=5)
        await rt.shutdown()

    async def recovered(store: Storage) -> dict[str, Any]:
        async with AsyncRuntime(SPECS, storage=store, options=once, clock=lambda: CLOCK[0]) as rt:
            await rt.restore()
            await rt.wait_idle(timeout=5)
            return _seen(rt)

    cut = _KilledAfter(backend.open(), _nth(2, _appended("k", '"do.')))
    asyncio.run(run(cut))
    assert cut.dead
    asyncio.run(run(uncut.open()))
    whole = asyncio.run(recovered(uncut.open()))
    assert [s.split(":")[0] for s in whole["k"][0]] == ["jido.agent.restarted"] * 2
    assert asyncio.run(recovered(backend.open())) == whole


def _register(agent_id: str, n: int) -> Callable[[Write], bool]:
    """The last write: the ``n``-th registration of ``agent_id``."""
    return _nth(n, lambda w: w == ("register", agent_id))


def _replace_cut(cut: str) -> Callable[[Write], bool]:
    """The last write of a run whose third step replaces child ``k`` (made afresh: an
    ``_nth`` counts)."""
    match cut:
        case "step":  # the replacing step (the spawning one is before it)
            return _nth(2, _appended("root", '"do.'))
        case "exit":
            return _appended("root", "child.exit")
        case "stopped":
            return lambda w: w == ("stopped", "root/k")
        case "registered":
            return _register("root/k", 2)
        case _:
            return _register("k2", 1)


REPLACEMENTS = {"do.replace": "root/k", "do.renew": "k2"}


@pytest.mark.parametrize(
    ("step", "cut"),
    [
        *((step, cut) for step in REPLACEMENTS for cut in ("step", "exit", "stopped")),
        ("do.replace", "registered"),
        ("do.renew", "registered-new"),
    ],
)
def test_a_child_replaced_in_one_step_is_replaced_after_a_crash(
    backend: Backend, uncut: Backend, step: str, cut: str
) -> None:
    """``[stop_child("k"), spawn_agent("kid", "k")]``, the new child under the old one's id
    (``root/k``) or another: cut after any write of that step, the recovery stops the old
    child (its state gone), spawns the new one and tells the parent of both, once each, in
    order."""
    new = REPLACEMENTS[step]
    last = _replace_cut(cut)
    got = _same_as_uncut(
        backend, uncut, HIRED, [("root", "do.hire"), ("root/k", "do.note"), ("root", step)], last
    )
    assert got["root"][0][-3:] == (
        step.removeprefix("do."),
        f"{CHILD_EXIT}:k:normal",
        "jido.agent.child.started:k:None",
    )
    assert got[new] == ((), "root", {})
    assert set(got) == {"root", "root/l", new}


@pytest.mark.parametrize("cut", ["step", "exit", "stopped"])
def test_a_child_replaced_by_an_adoption_is_replaced_after_a_crash(
    backend: Backend, uncut: Backend, cut: str
) -> None:
    """``[stop_child("k"), adopt_child("free", "k")]`` cut after a write of the stop: the
    recovery stops the old child, then makes the adoption, as live."""
    last = _replace_cut(cut)
    got = _same_as_uncut(
        backend,
        uncut,
        FREE,
        [("root", "do.hire"), ("root", "do.swap")],
        last,
    )
    assert got["root"][0][-3:] == (
        "swap",
        f"{CHILD_EXIT}:k:normal",
        "jido.agent.child.started:k:None",
    )
    assert got["free"][1] == "root"
    assert "root/k" not in got


def test_without_storage_a_clock_moved_on_does_not_reset_the_restart_window() -> None:
    """Without storage there is no replay to agree with: crashes are timed on the monotonic
    clock, so two crashes a moment apart are past ``Restart(max_restarts=1, within=60)``
    and escalate, though the injected (wall) clock moved on two minutes between them."""
    CLOCK[0] = datetime(2026, 1, 1, tzinfo=UTC)
    once = {"kid": AgentOptions(error_policy=Restart(max_restarts=1, within=60.0))}

    async def main() -> None:
        rt = AsyncRuntime(SPECS, options=once, clock=lambda: CLOCK[0])
        await rt.start(KID, "k")
        await rt.cast("k", rt.signal("do.boom"))
        await rt.wait_idle(timeout=5)
        assert "k" in rt.agent_ids  # restarted once
        CLOCK[0] += timedelta(minutes=2)
        await rt.cast("k", rt.signal("do.boom"))
        await rt.wait_idle(timeout=5)
        assert "k" not in rt.agent_ids  # past the limit: escalated, and so stopped
        await rt.shutdown()

    asyncio.run(main())
