"""AsyncRuntime next to a plain asyncio-queue actor and Pykka, in the same run.

* cast throughput: N casts to one counter agent, then wait until idle; µs per signal.
* call round trip: M sequential calls; µs per call.
* 100k idle agents in one process: the memory they take.

Targets: cast <= 1/2 Pykka ``tell`` µs; call <= 1/3 Pykka ``ask`` µs.

Run: ``python bench/async_runtime.py [N]``
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from typing import Any

import attrs
import pykka

from jido_interpreters import AgentOptions, AsyncRuntime

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from _common import Row, machine
from _counter import SPEC, Counter


def _best(samples: list[float]) -> float:
    return min(samples)


# ---------------------------------------------------------------------------- jido


async def jido_cast(n: int) -> float:
    rt = AsyncRuntime([SPEC], default_options=AgentOptions(mailbox_size=n + 1))
    await rt.start(SPEC, "c")
    sigs = [rt.signal("counter.increment", {"by": 1}) for _ in range(n)]
    t0 = time.perf_counter()
    for s in sigs:
        rt.cast_nowait("c", s)
    await rt.wait_idle()
    dt = time.perf_counter() - t0
    assert rt.state("c").count == n
    await rt.shutdown()
    return dt / n * 1e6


async def jido_call(m: int) -> float:
    rt = AsyncRuntime([SPEC])
    await rt.start(SPEC, "c")
    sigs = [rt.signal("counter.increment", {"by": 1}) for _ in range(m)]
    t0 = time.perf_counter()
    for s in sigs:
        await rt.call("c", s)
    dt = time.perf_counter() - t0
    await rt.shutdown()
    return dt / m * 1e6


# ---------------------------------------------------------------------------- asyncio floor


async def queue_actor(n: int, m: int) -> tuple[float, float]:
    queue: asyncio.Queue[tuple[dict[str, Any], asyncio.Future[Counter] | None]] = asyncio.Queue()
    state = Counter()

    async def run() -> None:
        nonlocal state
        while True:
            msg, reply = await queue.get()
            state = attrs.evolve(state, count=state.count + msg["by"])
            if reply is not None:
                reply.set_result(state)
            queue.task_done()

    task = asyncio.create_task(run())
    t0 = time.perf_counter()
    for _ in range(n):
        queue.put_nowait(({"by": 1}, None))
    await queue.join()
    cast = (time.perf_counter() - t0) / n * 1e6
    loop = asyncio.get_running_loop()
    t0 = time.perf_counter()
    for _ in range(m):
        fut: asyncio.Future[Counter] = loop.create_future()
        queue.put_nowait(({"by": 1}, fut))
        await fut
    call = (time.perf_counter() - t0) / m * 1e6
    task.cancel()
    return cast, call


# ---------------------------------------------------------------------------- pykka


class PykkaCounter(pykka.ThreadingActor):
    def __init__(self) -> None:
        super().__init__()
        self.state = Counter()

    def on_receive(self, message: Any) -> Any:
        self.state = attrs.evolve(self.state, count=self.state.count + message["by"])
        return self.state


def pykka_bench(n: int, m: int) -> tuple[float, float]:
    ref = PykkaCounter.start()
    try:
        t0 = time.perf_counter()
        for _ in range(n):
            ref.tell({"by": 1})
        ref.ask({"by": 0})  # waits until every tell before it was handled
        tell = (time.perf_counter() - t0) / n * 1e6
        t0 = time.perf_counter()
        for _ in range(m):
            ref.ask({"by": 1})
        ask = (time.perf_counter() - t0) / m * 1e6
    finally:
        ref.stop()
    return tell, ask


# ---------------------------------------------------------------------------- idle agents


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


async def idle_agents(k: int) -> tuple[float, float]:
    rt = AsyncRuntime([SPEC])
    gc.collect()
    before = _rss_bytes()
    t0 = time.perf_counter()
    for i in range(k):
        await rt.start(SPEC, f"a{i}")
    await asyncio.sleep(0)  # let every agent task reach its mailbox
    dt = time.perf_counter() - t0
    gc.collect()
    used = _rss_bytes() - before
    assert rt.statistics().agents == k
    await rt.shutdown()
    return used / k, dt / k * 1e6


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    m = max(1, n // 10)
    k = 100_000
    repeat = 3
    cast = _best([asyncio.run(jido_cast(n)) for _ in range(repeat)])
    call = _best([asyncio.run(jido_call(m)) for _ in range(repeat)])
    floor = [asyncio.run(queue_actor(n, m)) for _ in range(repeat)]
    q_cast, q_call = _best([f[0] for f in floor]), _best([f[1] for f in floor])
    pk = [pykka_bench(n, m) for _ in range(repeat)]
    p_tell, p_ask = _best([p[0] for p in pk]), _best([p[1] for p in pk])
    per_agent, start_us = asyncio.run(idle_agents(k))

    rows: list[Row] = [
        ("asyncio queue actor: put (floor)", q_cast, "attrs.evolve per message"),
        ("Pykka tell", p_tell, "threads"),
        ("jido AsyncRuntime cast", cast, f"target <= {p_tell / 2:.2f} (1/2 Pykka tell)"),
        ("asyncio queue actor: request/reply (floor)", q_call, ""),
        ("Pykka ask", p_ask, "threads"),
        ("jido AsyncRuntime call", call, f"target <= {p_ask / 3:.2f} (1/3 Pykka ask)"),
    ]
    print(f"### AsyncRuntime, {n} casts, {m} calls\n")
    print(f"_{machine()}_\n")
    print("| benchmark | µs per signal | vs floor | vs Pykka | note |")
    print("|---|---:|---:|---:|---|")
    for name, us, note in rows:
        is_call = "call" in name or "ask" in name or "reply" in name
        base = q_call if is_call else q_cast
        pyk = p_ask if is_call else p_tell
        print(f"| {name} | {us:.2f} | {us / base:.2f} | {us / pyk:.2f} | {note} |")
    print()
    print(
        f"{k:,} idle agents: {per_agent / 1024:.2f} KiB each "
        f"({per_agent * k / 2**20:.0f} MiB in all), started at {start_us:.1f} µs each\n"
    )


if __name__ == "__main__":
    main()
