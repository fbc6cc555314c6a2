"""Group commit: storage operations on one thread, journal appends batched."""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ._storage import Storage

__all__ = ["Committer"]


class Committer:
    """Runs storage operations on one thread, batching journal appends (group commit).

    While one batch is being written, new operations accumulate; the next write takes them
    all. Futures resolve in submission order, so callbacks see journal order.
    """

    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self._ops: list[tuple[str, Any, asyncio.Future[object]]] = []
        self._wake = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jido-storage")
        self._task = asyncio.get_running_loop().create_task(self._run(), name="jido-storage")
        self.batches = 0

    def submit(self, kind: str, payload: Any) -> asyncio.Future[object]:
        fut: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._ops.append((kind, payload, fut))
        self._wake.set()
        return fut

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._ops = self._ops, []
            if not batch:
                continue
            try:
                results = await loop.run_in_executor(self._executor, self._apply, batch)
            except Exception as exc:
                for _, _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            self.batches += 1
            for (_, _, fut), result in zip(batch, results, strict=True):
                if not fut.done():
                    fut.set_result(result)

    def _apply(self, batch: list[tuple[str, Any, asyncio.Future[object]]]) -> list[object]:
        storage = self._storage
        results: list[object] = [None] * len(batch)
        i = 0
        while i < len(batch):
            kind, payload, _ = batch[i]
            if kind == "append":
                j = i
                while j < len(batch) and batch[j][0] == "append":
                    j += 1
                results[i:j] = storage.append([b[1] for b in batch[i:j]])
                i = j
                continue
            if kind == "register":
                storage.register(payload)
            elif kind == "snapshot":
                storage.snapshot(payload)
            elif kind == "stopped":
                storage.mark_stopped(payload)
            elif kind == "barrier":
                pass
            else:  # pragma: no cover - every kind is submitted by this module
                raise AssertionError(kind)
            i += 1
        return results

    async def close(self) -> None:
        """Write what is pending, then stop the worker."""
        while self._ops:
            last = self._ops[-1][2]
            self._wake.set()
            await asyncio.wait([last])
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._executor.shutdown(wait=True)
