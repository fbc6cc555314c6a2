"""Stored JSON a store hands back damaged past what its types say: values nested deeper
than the JSON reader goes, and times that are no wall-clock time. Each fails recovery with
a RecoveryError holding a CorruptJournal for the agent, as any other damage does."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from tests.redis_server import redis_url
from tests.test_durable import (
    Backend,
    _prefixes,
    _prepare,
    _redis,
    _refused,
    _sqlite,
    backend,
)

from jido import Signal
from jido.serde import Codec
from jido_interpreters import CorruptJournal
from jido_interpreters._durable import Outbox
from jido_interpreters._storage import entry_time, epoch_seconds

__all__ = ["backend", "redis_url"]  # the fixtures, found here by pytest

#: JSON text nested far deeper than Python's parser goes (it raises RecursionError).
DEEP = "[" * 100_000 + "]" * 100_000


async def _corrupt_c1(backend: Backend) -> CorruptJournal:
    group = await _refused(backend)
    (err,) = group.exceptions
    assert isinstance(err, CorruptJournal), repr(err)
    assert err.agent_id == "c1"
    return err


def _set_sqlite(backend: Backend, sql: str, *args: object) -> None:
    with _sqlite(backend.path) as db:
        assert db.execute(sql, (*args, "c1")).rowcount >= 1


def _edit_redis(backend: Backend, key: str, edit: Any) -> None:
    """Replace the value at ``key`` (a string key) with ``edit(old value)``."""
    with _redis(backend.url) as r:
        r.set(key, edit(r.get(key)))


# ---------------------------------------------------------------- nested too deep


@pytest.mark.parametrize("part", ["agent", "outbox"])
def test_a_snapshot_nested_too_deep_is_a_corrupt_journal(backend: Backend, part: str) -> None:
    """A snapshot's agent or outbox nested deeper than the JSON reader goes is damage to
    the snapshot (seq -1), not a raw RecursionError out of restore()."""
    _prepare(backend, snapshot_every=2)
    if backend.kind == "sqlite":
        _set_sqlite(backend, f"UPDATE snapshots SET {part} = ? WHERE agent_id = ?", DEEP)
    else:
        key = f"{backend.prefix}snap:c1"
        _edit_redis(backend, key, lambda raw: json.dumps({**json.loads(raw), part: DEEP}))
    err = asyncio.run(_corrupt_c1(backend))
    assert err.seq == -1


@pytest.mark.parametrize("snapshot", [False, True])
def test_an_initial_agent_nested_too_deep_is_a_corrupt_journal(
    backend: Backend, snapshot: bool
) -> None:
    """A registration's initial agent nested too deep fails recovery for its agent, whether
    it is decoded (no snapshot) or only read beside a snapshot."""
    _prepare(backend, snapshot_every=2 if snapshot else 1000)
    if backend.kind == "sqlite":
        _set_sqlite(backend, "UPDATE agents SET initial = ? WHERE agent_id = ?", DEEP)
    else:
        with _redis(backend.url) as r:
            key = f"{backend.prefix}agents"
            record = json.loads(r.hget(key, "c1"))
            r.hset(key, "c1", json.dumps({**record, "initial": DEEP}))
    err = asyncio.run(_corrupt_c1(backend))
    assert err.seq == 0


@pytest.mark.parametrize("what", ["registration", "snapshot", "entry"])
def test_a_redis_record_nested_too_deep_is_a_corrupt_journal(
    redis_url: str, tmp_path: Path, what: str
) -> None:
    """On Redis the records themselves are JSON (a registration in a hash, the snapshot
    key, each journal element): one nested too deep is damage to it."""
    prefix = f"jido-test:{time.time_ns()}:{next(_prefixes)}:"
    b = Backend(kind="redis", path=tmp_path, url=redis_url, prefix=prefix)
    try:
        _prepare(b, snapshot_every=2)
        with _redis(redis_url) as r:
            match what:
                case "registration":
                    r.hset(f"{prefix}agents", "c1", DEEP)
                case "snapshot":
                    r.set(f"{prefix}snap:c1", DEEP)
                case _:
                    r.lset(f"{prefix}j:c1", 2, DEEP)
        err = asyncio.run(_corrupt_c1(b))
        assert err.seq == {"registration": 0, "snapshot": -1, "entry": 3}[what]
    finally:
        b.close()
        with _redis(redis_url) as r:
            keys = list(r.scan_iter(match=f"{prefix}*"))
            if keys:
                r.delete(*keys)


# ---------------------------------------------------------------- times


#: Times spelled as both SQL and JSON literals: past the largest float (read as infinity),
#: finite but no year a clock reaches, an integer past the largest float.
BAD_TIMES = ["1e999", "-1e999", "-1e300", "1e300", "1" + "0" * 400]


@pytest.mark.parametrize("at", BAD_TIMES)
def test_a_journal_entry_time_that_is_no_wall_clock_time_is_a_corrupt_journal(
    backend: Backend, at: str
) -> None:
    """An entry's ``at`` that is infinite, or finite but outside the years 1 to 9999, would
    make declared schedules fire at once or never (or overflow): it is damage to the entry,
    as ``entry_time`` refuses it when the entry is written."""
    _prepare(backend)
    if backend.kind == "sqlite":
        sql = f"UPDATE journal SET at = {at} WHERE seq = 1 AND agent_id = ?"
        _set_sqlite(backend, sql)
    else:
        with _redis(backend.url) as r:
            key = f"{backend.prefix}j:c1"
            seq, source, sid, sig, _ = json.loads(r.lindex(key, 0))
            r.lset(key, 0, f"[{seq},{json.dumps(source)},{json.dumps(sid)},{json.dumps(sig)},{at}]")
    err = asyncio.run(_corrupt_c1(backend))
    assert err.seq == 1


@pytest.mark.parametrize(
    "due", ["NaN", '"nan"', "true", "1e999", "-1e999", "-1e300", "1" + "0" * 400]
)
def test_an_outbox_schedule_due_at_no_wall_clock_time_is_a_corrupt_journal(
    backend: Backend, due: str
) -> None:
    """A snapshot's pending schedule due at what is no time (NaN, text, a flag, infinity,
    before the year 1) would fire at once or never: the snapshot is damaged."""
    _prepare(backend, snapshot_every=2)
    signal = {"specversion": "1.0", "id": "x", "source": "/s", "type": "t.add", "data": {"by": 1}}
    outbox = f'{{"invokes":[],"schedules":[[{due},{json.dumps(signal)}]],"crons":[]}}'
    if backend.kind == "sqlite":
        _set_sqlite(backend, "UPDATE snapshots SET outbox = ? WHERE agent_id = ?", outbox)
    else:
        key = f"{backend.prefix}snap:c1"
        _edit_redis(backend, key, lambda raw: json.dumps({**json.loads(raw), "outbox": outbox}))
    err = asyncio.run(_corrupt_c1(backend))
    assert err.seq == -1
    assert "outbox" in str(err)


def test_epoch_seconds_takes_what_a_clock_gives_and_nothing_else() -> None:
    """A wall-clock time is a finite number in the years 1 to 9999; ``entry_time`` refuses
    the rest with a ValueError rather than an OverflowError."""
    assert epoch_seconds(0) == 0.0
    assert epoch_seconds(1_700_000_000.5) == 1_700_000_000.5
    assert epoch_seconds(-62135596800) == -62135596800.0  # 0001-01-01
    for bad in (True, "1", None, float("nan"), float("inf"), 1e300, -1e300, 10**400):
        assert epoch_seconds(bad) is None
        with pytest.raises(ValueError, match="journal entry's time"):
            entry_time(bad)


@pytest.mark.parametrize("delay", [1e12, 1e300])
def test_an_outbox_reads_back_a_schedule_due_past_any_calendar(delay: float) -> None:
    """``schedule(1e12, ...)`` (a "never") is a delay a step may take: the snapshot that
    holds it reads back, rather than make a restore of every agent fail."""
    signal = Signal(type="t.tick", source="/s", id="x", time=None)
    box = Outbox(schedules=((1_700_000_000.0 + delay, signal),))
    codec = Codec()
    assert Outbox.from_json(box.to_json(codec), codec) == box
