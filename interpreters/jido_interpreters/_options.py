"""How AsyncRuntime runs one spec's agents: mailbox size, error policy, parent death."""

from __future__ import annotations

from typing import Final, Literal, TypeAlias, final

import attrs

__all__ = [
    "DEFAULT_OPTIONS",
    "AgentOptions",
    "Continue",
    "ErrorPolicy",
    "Escalate",
    "Restart",
    "StopAgent",
]


@final
@attrs.frozen
class Continue:
    """On a crash: log it, keep the last good state, go on with the next signal."""


@final
@attrs.frozen
class StopAgent:
    """On a crash: stop the agent (its parent gets ``jido.agent.child.exit``)."""


@final
@attrs.frozen(kw_only=True)
class Restart:
    """On a crash: restart from the last good state (timers re-registered from the spec),
    at most ``max_restarts`` times within ``within`` seconds; beyond that, escalate."""

    max_restarts: int = 3
    within: float = 5.0


@final
@attrs.frozen
class Escalate:
    """On a crash: stop the agent and tell its parent why (``child.exit`` with the error);
    a root agent is stopped and the crash logged at ERROR."""


ErrorPolicy: TypeAlias = Continue | StopAgent | Restart | Escalate


@final
@attrs.frozen(kw_only=True)
class AgentOptions:
    """How the runtime runs the agents of one spec.

    Attributes:
        mailbox_size: how many signals from outside may wait (``cast`` backpressure).
        error_policy: what a crash in user code does (see :data:`ErrorPolicy`).
        on_parent_death: ``"orphan"`` (keep running, get ``jido.agent.orphaned``),
            ``"stop"`` (stop too), or ``"continue"`` (keep running, no signal).
        effect_timeout: seconds an effect may run before its outcome is a ``TimeoutError``.
    """

    mailbox_size: int = 1024
    error_policy: ErrorPolicy = Continue()
    on_parent_death: Literal["orphan", "stop", "continue"] = "orphan"
    effect_timeout: float = 30.0


#: The options of agents whose spec has none of its own.
DEFAULT_OPTIONS: Final = AgentOptions()
