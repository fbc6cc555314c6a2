"""The errors AsyncRuntime raises to its callers (besides :class:`MailboxFull`)."""

from __future__ import annotations

__all__ = ["CallTimeout", "RuntimeClosed"]


class RuntimeClosed(Exception):
    """The runtime is shutting down or shut down; it accepts no new signals or agents."""


class CallTimeout(TimeoutError):
    """``call`` gave up waiting. The signal was accepted and will still be handled."""

    def __init__(self, agent_id: str, signal_type: str, timeout: float) -> None:
        super().__init__(
            f"agent {agent_id!r} did not handle {signal_type!r} within {timeout:g}s "
            "(it is still queued and will be handled)"
        )
        self.agent_id = agent_id
        self.signal_type = signal_type
        self.timeout = timeout
