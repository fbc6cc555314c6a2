"""Durable signals per second: AsyncRuntime + SQLiteStorage vs LangGraph + SqliteSaver.

Both run the same counter in the same process: every signal is made durable before it
counts. jido journals each accepted signal (group commit: one fsync per batch) and
snapshots every 1,000; LangGraph checkpoints the graph state after every invocation.
Target: >= 50k durable signals/s with group commit.

Run: ``python bench/durable.py [N]`` (needs the ``bench`` extra for LangGraph).
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TypedDict

from jido_interpreters import AgentOptions, AsyncRuntime, SQLiteStorage

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from _common import machine
from _counter import SPEC


async def jido_durable(n: int, path: Path, synchronous: Any) -> float:
    storage = SQLiteStorage(path, synchronous=synchronous)
    rt = AsyncRuntime([SPEC], storage=storage, default_options=AgentOptions(mailbox_size=n + 1))
    await rt.start(SPEC, "c")
    sigs = [rt.signal("counter.increment", {"by": 1}) for _ in range(n)]
    t0 = time.perf_counter()
    for s in sigs:
        rt.cast_nowait("c", s)
    await rt.wait_idle()
    dt = time.perf_counter() - t0
    assert rt.state("c").count == n
    await rt.shutdown()
    storage.close()
    return n / dt


class GraphState(TypedDict):
    count: int


def langgraph_durable(n: int, path: Path) -> float:
    from langgraph.checkpoint.sqlite import SqliteSaver
    from langgraph.graph import END, START, StateGraph

    def inc(state: GraphState) -> GraphState:
        return {"count": state["count"] + 1}

    builder = StateGraph(GraphState)
    builder.add_node("inc", inc)
    builder.add_edge(START, "inc")
    builder.add_edge("inc", END)
    conn = sqlite3.connect(str(path), check_same_thread=False)
    saver = SqliteSaver(conn)
    graph = builder.compile(checkpointer=saver)
    config: Any = {"configurable": {"thread_id": "c"}}
    graph.invoke({"count": 0}, config)
    t0 = time.perf_counter()
    for _ in range(n):
        state = graph.get_state(config).values
        graph.invoke({"count": state["count"]}, config)
    dt = time.perf_counter() - t0
    assert graph.get_state(config).values["count"] == n + 1
    conn.close()
    return n / dt


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    lg_n = max(100, n // 20)
    with tempfile.TemporaryDirectory() as tmp:
        full = max(
            asyncio.run(jido_durable(n, Path(tmp) / f"full{i}.db", "FULL")) for i in range(3)
        )
        normal = max(
            asyncio.run(jido_durable(n, Path(tmp) / f"normal{i}.db", "NORMAL")) for i in range(3)
        )
        try:
            lg = max(langgraph_durable(lg_n, Path(tmp) / f"lg{i}.db") for i in range(2))
        except ImportError:
            lg = float("nan")
    print(f"### Durable counter, {n} signals (LangGraph: {lg_n})\n")
    print(f"_{machine()}_\n")
    print("| system | durable signals/s | µs per signal | vs LangGraph | note |")
    print("|---|---:|---:|---:|---|")
    rows = [
        ("LangGraph + SqliteSaver", lg, "checkpoint per invocation"),
        ("jido AsyncRuntime + SQLite (synchronous=FULL)", full, "target >= 50,000/s"),
        ("jido AsyncRuntime + SQLite (synchronous=NORMAL)", normal, "survives a killed process"),
    ]
    for name, rate, note in rows:
        print(f"| {name} | {rate:,.0f} | {1e6 / rate:.1f} | {rate / lg:.1f}x | {note} |")
    print()


if __name__ == "__main__":
    main()
