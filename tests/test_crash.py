"""The crash test: a process killed with SIGKILL under load loses no acknowledged signal, and
recovery by replay is exact.

A child process runs an :class:`AsyncRuntime` over :class:`SQLiteStorage`
(``synchronous="FULL"``) with a few counters that report to a tally and now and then invoke an
effect. Several casters send it external signals with deterministic ids as fast as they can;
after each ``await rt.cast(...)`` returns (the signal is acknowledged: journalled) the id is
appended to an acks file, flushed line by line. The test kills the child with SIGKILL after a
seeded random delay, then recovers in a fresh runtime over the same database file and checks:

* every acknowledged id is in the journal (acked is a subset of journalled: the journal may
  hold a few signals more, journalled but not yet acknowledged when the kill came);
* the recovered agents equal a :class:`SyncRuntime` run over the journalled external signals,
  in journal order (effects in flight at the kill were re-issued, emits the tally had not
  journalled yet were re-delivered, nothing was applied twice).

This module is also what the child imports (its functions ``load`` and the specs).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs
import pytest

from jido import (
    ActionResult,
    AgentSpec,
    Context,
    FrozenMap,
    JsonValue,
    NoParams,
    Route,
    Signal,
    action,
    emit_to,
    invoke,
    ok,
)
from jido.serde import Codec
from jido_interpreters import AsyncRuntime, SQLiteStorage, SyncRuntime

# ---------------------------------------------------------------------------- the system

_MOD = 2**61 - 1


@attrs.frozen
class Meter:
    """A counter. ``digest`` folds the additions in order (so the order of handling shows);
    ``found`` sums effect answers (which arrive whenever the effect finishes)."""

    n: int = 0
    count: int = 0
    digest: int = 0
    found: int = 0
    lost: int = 0


@attrs.frozen
class Add:
    """Add ``by``; ``ask`` also invokes the ``double`` effect on the new count."""

    by: int = 1
    ask: bool = False


@attrs.frozen
class Found:
    """The effect's answer."""

    result: int = 0


@action(params=Add)
def add(state: Meter, p: Add, ctx: Context) -> ActionResult[Meter]:
    """Count, fold, tell the tally, and maybe ask the effect."""
    new = attrs.evolve(
        state,
        n=state.n + p.by,
        count=state.count + 1,
        digest=(state.digest * 1_000_003 + p.by) % _MOD,
    )
    report = emit_to("tally", "t.added", {"by": p.by, "ask": False})
    if not p.ask:
        return ok(new, report)
    return ok(new, report, invoke("double", {"q": new.n}, on_ok="t.found", on_error="t.lost"))


@action(params=Found)
def found(state: Meter, p: Found, ctx: Context) -> ActionResult[Meter]:
    """Sum the effect's answers."""
    return ok(attrs.evolve(state, found=state.found + p.result))


@action()
def lost(state: Meter, _: NoParams, ctx: Context) -> ActionResult[Meter]:
    """Count failed effects (none should fail)."""
    return ok(attrs.evolve(state, lost=state.lost + 1))


@action(params=Add)
def tally(state: Meter, p: Add, ctx: Context) -> ActionResult[Meter]:
    """Sum what the counters report (order does not matter: several counters report)."""
    return ok(attrs.evolve(state, n=state.n + p.by, count=state.count + 1))


COUNTER = AgentSpec(
    name="meter",
    state=Meter,
    routes=[
        Route(pattern="t.add", target=add),
        Route(pattern="t.found", target=found),
        Route(pattern="t.lost", target=lost),
    ],
)
TALLY = AgentSpec(name="tally", state=Meter, routes=[Route(pattern="t.added", target=tally)])
SPECS = (COUNTER, TALLY)
COUNTERS = ("m1", "m2", "m3")
SOURCE = "/load"


def _q(args: FrozenMap[str, JsonValue]) -> int:
    q = args["q"]
    assert isinstance(q, int)
    return q


async def double(args: FrozenMap[str, JsonValue]) -> int:
    """The effect, as the async runtimes run it: takes a moment, so some are in flight."""
    await asyncio.sleep(0.002)
    return 2 * _q(args)


def double_sync(args: FrozenMap[str, JsonValue]) -> int:
    """The same effect for SyncRuntime."""
    return 2 * _q(args)


def external(i: int) -> Signal:
    """The i-th signal of the load: a deterministic id, ``s<i>``."""
    return Signal(
        type="t.add", source=SOURCE, id=f"s{i}", data={"by": i % 7 + 1, "ask": i % 5 == 0}
    )


# ---------------------------------------------------------------------------- the child


async def load(db: str, acks: str, snapshot_every: int, *, casters: int = 3) -> None:
    """The child's work: run the system and cast until killed (or, as a safety net should
    the parent be gone, for at most 60 s)."""
    storage = SQLiteStorage(db, synchronous="FULL")
    rt = AsyncRuntime(
        SPECS, storage=storage, effects={"double": double}, snapshot_every=snapshot_every
    )
    await rt.start(TALLY, "tally")
    for c in COUNTERS:
        await rt.start(COUNTER, c)
    numbers = itertools.count()
    with open(acks, "a", encoding="utf-8") as out:

        async def caster() -> None:
            while True:
                i = next(numbers)
                target = COUNTERS[i % len(COUNTERS)]
                await rt.cast(target, external(i))
                out.write(f"{target} s{i}\n")  # acknowledged: journalled
                out.flush()

        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(60):
                await asyncio.gather(*(caster() for _ in range(casters)))
    await rt.shutdown()
    storage.close()


_LAUNCHER = """\
import asyncio, sys
sys.path.insert(0, {tests!r})
import test_crash
asyncio.run(test_crash.load(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


# ---------------------------------------------------------------------------- the test


def _acked(path: Path) -> list[tuple[str, str]]:
    """The acknowledged ``(agent, id)``: complete lines only (a kill may cut the last one)."""
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")[:-1]  # whatever follows the last newline is unfinished
    out = []
    for line in lines:
        agent, sid = line.split()
        out.append((agent, sid))
    return out


def _journal(db: Path) -> dict[str, list[tuple[int, str, str]]]:
    """Every journal entry, ``(seq, signal_id, signal)`` by agent, in order, straight from
    the file (snapshots do not compact the journal by default)."""
    con = sqlite3.connect(db)
    try:
        rows = con.execute(
            "SELECT agent_id, seq, signal_id, signal FROM journal ORDER BY agent_id, seq"
        ).fetchall()
    finally:
        con.close()
    out: dict[str, list[tuple[int, str, str]]] = {}
    for agent, seq, sid, text in rows:
        out.setdefault(agent, []).append((seq, sid, text))
    return out


def _run_child(tmp_path: Path, db: Path, acks: Path, snapshot_every: int, delay: float) -> None:
    """Start the load, wait for its first acknowledgement, let it run ``delay`` s, SIGKILL."""
    launcher = tmp_path / "load.py"
    launcher.write_text(_LAUNCHER.format(tests=str(Path(__file__).parent)), encoding="utf-8")
    acks.touch()
    with subprocess.Popen(
        [sys.executable, str(launcher), str(db), str(acks), str(snapshot_every)]
    ) as proc:
        try:
            waited = 0.0
            while acks.stat().st_size == 0:  # started and acknowledging (bounded wait)
                assert waited < 20, "the load process acknowledged nothing in 20 s"
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=0.01)  # returns early only if the child died
                    pytest.fail(f"the load process exited early ({proc.returncode})")
                waited += 0.01
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=delay)
                pytest.fail(f"the load process exited early ({proc.returncode})")
            proc.send_signal(signal.SIGKILL)
            assert proc.wait(timeout=10) == -signal.SIGKILL
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)


@pytest.mark.parametrize(
    ("seed", "snapshot_every"), [(1, 1000), (2, 7), (3, 3), (4, 50)], ids=lambda v: str(v)
)
def test_sigkill_under_load_loses_no_acknowledged_signal(
    tmp_path: Path, seed: int, snapshot_every: int
) -> None:
    """After a SIGKILL under load every acknowledged signal is journalled, and the recovered
    agents equal a SyncRuntime run over the journalled external signals in journal order."""
    db = tmp_path / "agents.db"
    acks = tmp_path / "acks.txt"
    delay = random.Random(seed).uniform(0.05, 0.6)
    _run_child(tmp_path, db, acks, snapshot_every, delay)

    acked = _acked(acks)
    assert acked, "nothing was acknowledged before the kill"
    journal = _journal(db)
    codec = Codec()
    external: dict[str, list[Signal]] = {}
    for agent in COUNTERS:
        entries = journal.get(agent, [])
        assert [seq for seq, _, _ in entries] == list(range(1, len(entries) + 1))
        ids = [sid for _, sid, _ in entries]
        assert len(ids) == len(set(ids)), f"{agent}: a signal id journalled twice"
        signals = [codec.signal_from_json(text) for _, _, text in entries]
        external[agent] = [s for s in signals if s.source == SOURCE]
    journalled = {(agent, s.id) for agent, sigs in external.items() for s in sigs}
    missing = [a for a in acked if a not in journalled]
    assert not missing, f"acknowledged but not journalled: {missing[:10]}"
    assert len(journalled) - len(acked) <= 100, "far more journalled than acknowledged"

    storage = SQLiteStorage(db)
    try:
        # What recovery starts from: the latest snapshot and the journal after it.
        for agent in COUNTERS:
            snap, tail = storage.load(agent)
            after = 0 if snap is None else snap.seq
            assert [(e.seq, e.signal_id) for e in tail] == [
                (seq, sid) for seq, sid, _ in journal.get(agent, []) if seq > after
            ]

        async def recover() -> dict[str, Any]:
            rt = AsyncRuntime(
                SPECS, storage=storage, effects={"double": double}, snapshot_every=snapshot_every
            )
            try:
                ids = await rt.restore()
                assert set(ids) == {"tally", *COUNTERS}
                await rt.wait_idle(timeout=10)
                return {i: rt.state(i) for i in ids}
            finally:
                await rt.shutdown()

        recovered = asyncio.run(recover())
    finally:
        storage.close()

    sync = SyncRuntime(SPECS, effects={"double": double_sync}, record=False)
    sync.start(TALLY, "tally")
    for agent in COUNTERS:
        sync.start(COUNTER, agent)
    for agent in COUNTERS:
        for sig in external[agent]:
            sync.send(agent, sig)
    expected = {i: sync.state(i) for i in sync.agent_ids}
    assert recovered == expected
    assert expected["tally"].count == len(journalled)
    assert sum(expected[c].count for c in COUNTERS) == len(journalled)
    assert all(expected[c].lost == 0 for c in COUNTERS)
