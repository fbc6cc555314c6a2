"""The agent mailbox: a FIFO whose bound applies to signals from outside only."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, TypeAlias

from jido import Agent, Signal

__all__ = ["Item", "Mailbox", "MailboxFull"]


class MailboxFull(Exception):
    """``cast_nowait`` found the agent's mailbox full; the signal was not accepted."""

    def __init__(self, agent_id: str, size: int) -> None:
        super().__init__(f"mailbox of agent {agent_id!r} is full ({size} signals)")
        self.agent_id = agent_id
        self.size = size


# (signal, a waiting call's reply, its journal position when the runtime is durable)
Item: TypeAlias = "tuple[Signal, asyncio.Future[Agent[Any]] | None, int | None]"


class Mailbox:
    """A FIFO with a bound on external puts only: AsyncRuntime puts signals from other
    agents, effect outcomes and timers with ``put_internal``, so agents cannot deadlock.

    ``incoming`` counts signals accepted for it and still on their way in (being journalled,
    when the runtime is durable): they take room as queued ones do, so the bound holds
    whether or not signals wait for storage first.

    Senders waiting for room get it in the order they came: the room a ``get`` frees is
    reserved for the first of them until it has run, and a newcomer finds the mailbox
    :meth:`crowded` while anyone waits (it neither takes the room nor jumps the queue).

    ``held``: :meth:`get` waits, whatever is queued, until :meth:`put_first` or
    :meth:`release` (a restarted agent's notice is being journalled, and must be the first
    thing it handles).
    """

    __slots__ = ("_getter", "_putters", "_reserved", "held", "incoming", "items", "maxsize")

    def __init__(self, maxsize: int) -> None:
        self.items: deque[Item] = deque()
        self.maxsize = maxsize
        self.incoming = 0
        self.held = False
        self._getter: asyncio.Future[None] | None = None
        self._putters: deque[asyncio.Future[None]] = deque()
        self._reserved = 0  # room handed to woken senders that have not run yet

    def _wake_getter(self) -> None:
        g = self._getter
        if g is not None and not g.done():
            g.set_result(None)

    def put_internal(self, item: Item) -> None:
        self.items.append(item)
        self._wake_getter()

    def put_first(self, item: Item) -> None:
        """Queue ``item`` ahead of everything queued, and end a hold."""
        self.items.appendleft(item)
        self.release()

    def release(self) -> None:
        """End a hold: :meth:`get` takes what is queued again."""
        self.held = False
        self._wake_getter()

    def full(self) -> bool:
        """No room, counting what is reserved for woken senders."""
        return len(self.items) + self.incoming + self._reserved >= self.maxsize

    def crowded(self) -> bool:
        """No room for a newcomer: full, or senders are waiting for room before it."""
        return bool(self._putters) or self.full()

    def arrived(self) -> None:
        """One of the ``incoming`` signals is in (queued, or dropped: a failed write, a
        duplicate); if it never took a place in the queue, its room goes to a waiter."""
        self.incoming -= 1
        self._pass_room()

    async def wait_room(self) -> None:
        """Return once there is room for one more external signal, this sender's turn
        come. The caller must take the room before it next awaits."""
        if not self.crowded():
            return
        first = False
        while True:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            if first:
                self._putters.appendleft(fut)  # woken without room: keep its place
            else:
                self._putters.append(fut)
            try:
                await fut
            except BaseException:
                if fut in self._putters:
                    self._putters.remove(fut)
                elif fut.done() and not fut.cancelled() and fut.exception() is None:
                    # Woken, then cancelled before it could use the room: pass it on, or
                    # the next waiter sleeps on a mailbox with room (asyncio.Queue does so).
                    self._reserved -= 1
                    self._pass_room()
                raise
            self._reserved -= 1
            if not self.full():
                return
            first = True  # internal puts took the room meanwhile

    async def get(self) -> Item:
        while not self.items or self.held:
            self._getter = asyncio.get_running_loop().create_future()
            try:
                await self._getter
            finally:
                self._getter = None
        item = self.items.popleft()
        self._pass_room()
        return item

    def _pass_room(self) -> None:
        """Wake the first waiting sender if there is room, reserving it for that sender."""
        while self._putters and not self.full():
            p = self._putters.popleft()
            if not p.done():
                self._reserved += 1
                p.set_result(None)
                return

    def release_putters(self, exc: BaseException) -> None:
        while self._putters:
            p = self._putters.popleft()
            if not p.done():
                p.set_exception(exc)
