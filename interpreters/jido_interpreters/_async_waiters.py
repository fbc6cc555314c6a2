"""AsyncRuntime's ``wait_until`` callers: who waits on which agent, for what condition."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeAlias, final

from jido import Agent

from ._policy import PASSING

__all__ = ["Condition", "Waiters"]

#: What ``wait_until`` waits for: true of the agent's value once it is met.
Condition: TypeAlias = Callable[[Agent[Any]], bool]

_Entry: TypeAlias = tuple[Condition, "asyncio.Future[Agent[Any]]"]


@final
class Waiters:
    """Callers waiting for agents' values to meet their conditions.

    Woken by the runtime after each step of an agent (:meth:`woken`), failed when the agent
    stops or the runtime shuts down (:meth:`fail`). A caller that gives up (timeout,
    cancellation) is taken out at once: nothing is left behind.
    """

    __slots__ = ("_by_agent",)

    def __init__(self) -> None:
        self._by_agent: dict[str, list[_Entry]] = {}

    def __bool__(self) -> bool:
        return bool(self._by_agent)

    def __len__(self) -> int:
        """How many callers wait, on all agents."""
        return sum(map(len, self._by_agent.values()))

    def count(self, agent_id: str) -> int:
        """How many callers wait on ``agent_id``."""
        return len(self._by_agent.get(agent_id, ()))

    async def wait(
        self,
        agent_id: str,
        condition: Condition,
        timeout: float | None,
        timed_out: Callable[[], BaseException],
    ) -> Agent[Any]:
        """Wait for a step after which ``condition`` holds; its agent.

        Raises:
            BaseException: ``timed_out()`` if none within ``timeout`` seconds; what
                :meth:`fail` was given; what ``condition`` raised.
        """
        fut: asyncio.Future[Agent[Any]] = asyncio.get_running_loop().create_future()
        entries = self._by_agent.setdefault(agent_id, [])
        entry = (condition, fut)
        entries.append(entry)
        limit = asyncio.timeout(timeout)
        try:
            async with limit:
                return await fut
        except TimeoutError:
            if not limit.expired():
                raise
            raise timed_out() from None
        finally:
            # Gone once resolved; on a timeout or a cancelled caller, taken out here.
            if entry in entries:
                entries.remove(entry)
            if not entries and self._by_agent.get(agent_id) is entries:
                del self._by_agent[agent_id]

    def woken(self, agent_id: str, agent: Agent[Any]) -> None:
        """After a step of ``agent_id``: resolve the callers whose condition now holds."""
        entries = self._by_agent.get(agent_id)
        if not entries:
            return
        for entry in list(entries):
            condition, fut = entry
            if fut.done():
                continue
            try:
                met = condition(agent)
            except PASSING:
                raise
            except BaseException as exc:  # the caller's bug, not the agent's: the caller hears it
                fut.set_exception(exc)
                entries.remove(entry)
                continue
            if met:
                fut.set_result(agent)
                entries.remove(entry)

    def fail(self, agent_id: str | None, exc: BaseException) -> None:
        """The agent stopped (``None``: every agent, at shutdown): its callers fail with
        ``exc``."""
        ids = list(self._by_agent) if agent_id is None else [agent_id]
        for i in ids:
            for _, fut in self._by_agent.pop(i, ()):
                if not fut.done():
                    fut.set_exception(exc)
