"""Storage that fails now and then: what was acknowledged is handled once, what was refused
is not handled at all, and recovery agrees.

Generated runs send batches of casts and calls at once to counters (each reporting to a
tally) while the store fails its journal writes, its snapshots, or neither, batch by batch,
with restarts of the runtime between batches (the store working again). Some signals are
webhook events with ids of their own: two sources numbering their events alike, so the same
id comes from both (two signals), and the same source and id comes again (a resend, which
counts once). After every batch each counter holds exactly the sum of its acknowledged
additions and the tally the sum of all of them; a refusal (``NotDurable``) leaves no trace,
before or after recovery.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any, TypeAlias

from hypothesis import given, settings
from hypothesis import strategies as st
from property_tests.test_prop_concurrency import (
    COUNTER,
    COUNTERS,
    TALLY,
    _start_system,
    _totals,
)
from tests.test_storage_faults import Flaky

from jido import Signal
from jido_interpreters import AsyncRuntime, NotDurable

SOURCES = ("/webhooks/github", "/webhooks/stripe")
#: ``(kind, agent, by, event)``: ``event`` is a webhook event's ``(source, id)``, or ``None``
#: for a signal with a fresh id. A webhook event always adds the same amount (a resend is the
#: same event), one that tells its source and id apart.
Op: TypeAlias = tuple[str, str, int, tuple[str, str] | None]
ops = st.one_of(
    st.tuples(
        st.sampled_from(["cast", "call"]), st.sampled_from(COUNTERS), st.integers(1, 9), st.none()
    ),
    st.builds(
        lambda kind, agent_id, event: (kind, agent_id, _amount(event), event),
        st.sampled_from(["cast", "call"]),
        st.sampled_from(COUNTERS),
        st.tuples(st.sampled_from(SOURCES), st.sampled_from(["1", "2"])),
    ),
)
Batch: TypeAlias = "tuple[frozenset[str], list[Op]] | str"
batches = st.lists(
    st.one_of(
        st.tuples(
            st.sampled_from([frozenset(), frozenset({"append"}), frozenset({"snapshot"})]),
            st.lists(ops, min_size=1, max_size=6),
        ),
        st.just("restart"),
    ),
    max_size=8,
)


def _amount(event: tuple[str, str]) -> int:
    source, id = event
    return 10 * (SOURCES.index(source) + 1) + int(id)


async def _send(rt: AsyncRuntime, op: Op) -> int:
    """The amount added if the op was acknowledged, 0 if storage refused it."""
    kind, agent_id, by, event = op
    if event is None:
        signal = rt.signal("t.add", {"by": by})
    else:
        signal = Signal(type="t.add", source=event[0], id=event[1], data={"by": by})
    try:
        if kind == "cast":
            await rt.cast(agent_id, signal)
        else:
            await rt.call(agent_id, signal, timeout=10)
    except NotDurable:
        return 0
    return by


async def _run(path: Path, script: list[Any]) -> None:
    def fresh() -> tuple[AsyncRuntime, Flaky]:
        store = Flaky(path)
        stores.append(store)
        return AsyncRuntime([COUNTER, TALLY], storage=store, snapshot_every=2), store

    stores: list[Flaky] = []
    expected = dict.fromkeys([*COUNTERS, "tally"], 0)
    journalled: set[tuple[str, str, str]] = set()  # (agent, source, id) of webhook events
    rt, store = fresh()
    try:
        await _start_system(rt)
        for batch in script:
            if batch == "restart":
                await rt.shutdown()
                rt, store = fresh()
                await rt.restore()
            else:
                failing, group = batch
                store.failing = set(failing)
                added = await asyncio.gather(*(_send(rt, op) for op in group))
                if "append" in failing:
                    assert not any(added), "a write that failed was acknowledged"
                for (_, agent_id, _, event), by in zip(group, added, strict=True):
                    if by and event is not None:
                        if (agent_id, *event) in journalled:
                            continue  # a resend: acknowledged, and handled the first time only
                        journalled.add((agent_id, *event))
                    expected[agent_id] += by
                    expected["tally"] += by
                await rt.wait_idle(timeout=10)
                store.failing = set()
            assert await _totals(rt) == expected, (batch, expected)
    finally:
        await rt.shutdown()
        for s in stores:
            s.close()


@settings(max_examples=40)
@given(script=batches)
def test_refused_writes_leave_no_trace_and_acknowledged_ones_count_once(
    script: list[Any],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(_run(Path(tmp) / "agents.db", script))
