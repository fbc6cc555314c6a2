"""Group commit: storage operations on one thread, journal appends batched."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeAlias

from ._storage import Storage, StorageError

__all__ = ["Committer", "Done"]

log = logging.getLogger("jido.runtime")

#: Told once an operation is written: the context it was posted with, then its result and
#: ``None``, or ``None`` and the exception that failed it. Called on the event loop, in
#: submission order.
Done: TypeAlias = Callable[[Any, object, BaseException | None], None]

_Waiter: TypeAlias = "asyncio.Future[object] | Done | None"
#: An operation: its kind, payload, who is waiting, and the waiter's context.
_Op: TypeAlias = tuple[str, Any, _Waiter, Any]


class Committer:
    """Runs storage operations on one thread, batching journal appends (group commit).

    While one batch is being written, new operations accumulate; the next write takes them
    all. Once a batch is written, its operations are settled in submission order (futures
    resolved, callbacks called), so what follows a write sees journal order.
    """

    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self._ops: list[_Op] = []
        self._wake = asyncio.Event()
        self._closing = False
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jido-storage")
        # Spawned children whose registration failed, touched on the worker thread only:
        # what follows for them is refused, not written under an id storage may hold for
        # another agent, until the runtime, having stopped the child, posts "admit".
        self._refused: set[str] = set()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="jido-storage")
        self.batches = 0

    def submit(self, kind: str, payload: Any) -> asyncio.Future[object]:
        """Queue an operation; the future resolves once it is written."""
        fut: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._ops.append((kind, payload, fut, None))
        self._wake.set()
        return fut

    def post(self, kind: str, payload: Any, done: Done | None = None, ctx: Any = None) -> None:
        """Queue an operation, calling ``done(ctx, result, exc)`` once it is written.

        No future: this is the path of every journalled signal, and a future per signal
        costs a loop iteration per signal to resolve. ``done`` is meant to be one shared
        function and ``ctx`` a plain tuple: a closure per signal would cost several objects
        for the garbage collector to track while the signal waits. Without ``done``, a
        failed write is logged.
        """
        self._ops.append((kind, payload, done, ctx))
        self._wake.set()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._ops:
                if self._closing:
                    return
                await self._wake.wait()
            self._wake.clear()
            batch, self._ops = self._ops, []
            if not batch:
                continue
            try:
                results = await loop.run_in_executor(self._executor, self._apply, batch)
            except Exception as exc:  # pragma: no cover - _apply catches the storage's errors
                results = [(None, exc)] * len(batch)
            self.batches += 1
            for (kind, _, waiter, ctx), (result, failed) in zip(batch, results, strict=True):
                _settle(kind, waiter, ctx, result, failed)

    def _apply(self, batch: list[_Op]) -> list[tuple[object, Exception | None]]:
        """Write a batch; each operation's result, or the exception that failed it.

        Each operation (each run of consecutive appends, written as one) succeeds or fails
        on its own: a failed snapshot must not report the appends beside it as failed when
        they are durable, or the journal would hold signals nobody saw handled.
        """
        storage = self._storage
        refused = self._refused
        results: list[tuple[object, Exception | None]] = [(None, None)] * len(batch)
        i = 0
        while i < len(batch):
            kind, payload = batch[i][0], batch[i][1]
            if kind == "append":
                j = i
                while j < len(batch) and batch[j][0] == "append":
                    j += 1
                positions = list(range(i, j))
                if refused:
                    for k in positions:
                        if batch[k][1][0] in refused:
                            results[k] = (None, _unregistered(batch[k][1][0]))
                    positions = [k for k in positions if batch[k][1][0] not in refused]
                self._append(batch, positions, results)
                i = j
                continue
            if kind in _BY_AGENT and _BY_AGENT[kind](payload) in refused:
                results[i] = (None, _unregistered(_BY_AGENT[kind](payload)))
                i += 1
                continue
            try:
                if kind == "register":
                    storage.register(payload)
                elif kind == "register_child":
                    try:
                        storage.register(payload)
                    except Exception:
                        refused.add(payload.agent_id)
                        raise
                elif kind == "admit":
                    refused.discard(payload)
                elif kind == "snapshot":
                    storage.snapshot(payload)
                elif kind == "stopped":
                    storage.mark_stopped(payload)
                elif kind == "parent":
                    storage.set_parent(*payload)
                elif kind == "undelivered":
                    storage.mark_undelivered(*payload)
                elif kind == "barrier":
                    pass
                else:  # pragma: no cover - every kind is submitted by this module
                    raise AssertionError(kind)
            except Exception as exc:
                results[i] = (None, exc)
            i += 1
        return results

    def _append(
        self,
        batch: list[_Op],
        positions: list[int],
        results: list[tuple[object, Exception | None]],
    ) -> None:
        """Journal the appends at ``positions`` of ``batch`` as one write."""
        if not positions:
            return
        try:
            seqs = self._storage.append([batch[k][1] for k in positions])
        except Exception as exc:
            for k in positions:
                results[k] = (None, exc)
        else:
            for k, seq in zip(positions, seqs, strict=True):
                results[k] = (seq, None)

    def abandon(self) -> None:
        """Stop the worker without writing what is pending: the event loop the operations
        were to be settled on has closed (nobody waits for them any more)."""
        self._closing = True
        self._ops.clear()
        self._executor.shutdown(wait=True, cancel_futures=True)

    async def close(self) -> None:
        """Write what is pending, the batch being written included, then stop the worker."""
        # Not by cancelling the worker: that would cancel a batch handed to the thread but
        # not yet started there, and its writes would be lost.
        self._closing = True
        self._wake.set()
        # Shielded: a caller cancelled meanwhile (its shutdown cancelled) must not cancel
        # the worker halfway; calling close again waits for the same worker.
        await asyncio.shield(self._task)
        self._executor.shutdown(wait=True)


#: The agent each kind of operation (other than appends and registrations) is about.
_BY_AGENT: dict[str, Callable[[Any], str]] = {
    "snapshot": lambda record: record.agent_id,
    "stopped": lambda agent_id: agent_id,
    "parent": lambda link: link[0],
    "undelivered": lambda marked: marked[0],
}


def _unregistered(agent_id: str) -> StorageError:
    return StorageError(
        f"agent {agent_id!r} is not registered (its registration failed): nothing is written for it"
    )


def _settle(
    kind: str, waiter: _Waiter, ctx: Any, result: object, exc: BaseException | None
) -> None:
    if waiter is None:
        if exc is not None:
            log.error("storage %s failed: %s", kind, exc, extra={"jido": {"operation": kind}})
    elif isinstance(waiter, asyncio.Future):
        if waiter.done():
            return
        if exc is None:
            waiter.set_result(result)
        else:
            waiter.set_exception(exc)
    else:
        try:
            waiter(ctx, result, exc)
        except Exception:
            # A bug in the runtime's own callback: the batch's other operations still settle.
            log.exception("settling a storage %s failed", kind, extra={"jido": {"operation": kind}})
