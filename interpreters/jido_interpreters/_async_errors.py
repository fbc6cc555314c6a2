"""The errors AsyncRuntime raises to its callers (besides :class:`MailboxFull`)."""

from __future__ import annotations

from jido import Signal

from ._kernel import UnknownAgent

__all__ = [
    "AgentHibernated",
    "CallTimeout",
    "NotDurable",
    "RuntimeClosed",
    "WaitTimeout",
    "unknown",
]


def unknown(agent_id: str, why: str) -> UnknownAgent:
    """An :class:`UnknownAgent` that says why there is no running agent ``agent_id``."""
    exc = UnknownAgent(agent_id)
    exc.args = (f"no running agent {agent_id!r}: {why}",)
    return exc


class RuntimeClosed(Exception):
    """The runtime is shutting down or shut down; it accepts no new signals or agents."""


class CallTimeout(TimeoutError):
    """``call`` gave up waiting.

    Attributes:
        agent_id: the agent called.
        signal_type: the type of the signal sent.
        timeout: the seconds waited.
        queued: whether the signal was accepted (queued, or journalled) before the time ran
            out: it will still be handled. ``False``: it was still waiting for room in a
            full mailbox, and was not sent at all; sending it again is up to the caller.
    """

    def __init__(
        self, agent_id: str, signal_type: str, timeout: float, *, queued: bool = True
    ) -> None:
        super().__init__(
            f"agent {agent_id!r} did not handle {signal_type!r} within {timeout:g}s "
            "(it is still queued and will be handled)"
            if queued
            else f"agent {agent_id!r} had no room for {signal_type!r} within {timeout:g}s"
            " (it was not sent)"
        )
        self.agent_id = agent_id
        self.signal_type = signal_type
        self.timeout = timeout
        self.queued = queued


class AgentHibernated(UnknownAgent):
    """The agent is hibernated: its value is in storage, not in memory.

    Raised by the accessors that answer from memory (``agent``, ``state``). It is an
    :class:`UnknownAgent` (the agent is not among the running ones), but it is not gone:
    ``await runtime.thaw(agent_id)`` brings it back, and anything sent to it does so too.
    """

    def __init__(self, agent_id: str) -> None:
        super().__init__(agent_id)
        self.args = (
            f"agent {agent_id!r} is hibernated; await runtime.thaw({agent_id!r}) to bring it "
            "back (a cast or call to it does so too)",
        )


class NotDurable(Exception):
    """Storage failed to write what makes an agent or a signal durable, so it was not
    accepted: a signal is not handled, an agent is not started (or, when its start snapshot
    failed, stopped again at once).

    Whatever the store (SQLite, Redis), the store's own exception is the ``__cause__``.
    Sending the same :class:`Signal` again is safe once storage is back: the journal
    recognises it by its source and id, so it is handled at most once. A Redis write whose
    every resend timed out may be run by a stalled server once it resumes: the store takes
    it back before its next read or write (a signal out of the journal, a registration
    marked stopped), so what was refused stays refused (see :meth:`RedisStorage.append`
    and docs/runtime.md, "a failed write is refused").

    Attributes:
        agent_id: the agent the write was for.
        signal: the signal that was not journalled (``None`` for an agent's registration).
    """

    def __init__(
        self,
        agent_id: str,
        signal: Signal | None,
        cause: BaseException,
        *,
        started: bool = False,
    ) -> None:
        if started:  # registered and started, then its start snapshot failed
            text = f"writing its start snapshot failed: {cause}; it was stopped again"
        else:
            what = "registering it" if signal is None else f"journalling signal {signal.id!r}"
            text = f"{what} failed: {cause}; it was not accepted"
        super().__init__(f"agent {agent_id!r}: {text}")
        self.agent_id = agent_id
        self.signal = signal
        self.__cause__ = cause


class WaitTimeout(TimeoutError):
    """``wait_until`` gave up: the agent's value did not meet the condition in time.

    Says where the agent stood, to tell a stuck agent from a slow one.

    Attributes:
        agent_id: the agent waited on.
        timeout: how long it waited, in seconds.
        status: its status when the wait gave up (``"hibernated"`` if it was still being
            thawed, its value not yet in memory).
        version: its version then (how many of its steps took effect); ``None`` if it was
            still being thawed.
        queued: signals in its mailbox then.
        effects: its effects still running then.
    """

    def __init__(
        self,
        agent_id: str,
        timeout: float,
        *,
        status: str,
        version: int | None,
        queued: int,
        effects: int,
    ) -> None:
        super().__init__(
            f"agent {agent_id!r} did not meet the condition within {timeout:g}s (status "
            f"{status!r}, version {version}, {queued} signals queued, {effects} effects "
            "running)"
            if version is not None
            else f"agent {agent_id!r} did not meet the condition within {timeout:g}s (it was "
            f"still being thawed from storage, {queued} signals waiting for it)"
        )
        self.agent_id = agent_id
        self.timeout = timeout
        self.status = status
        self.version = version
        self.queued = queued
        self.effects = effects
