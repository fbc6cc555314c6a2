"""How AsyncRuntime runs one spec's agents: mailbox size, error policy, parent death."""

from __future__ import annotations

import math
from typing import Any, Final, Literal, TypeAlias, final, get_args

import attrs

__all__ = [
    "DEFAULT_OPTIONS",
    "AgentOptions",
    "Continue",
    "ErrorPolicy",
    "Escalate",
    "ParentDeath",
    "Restart",
    "StopAgent",
]


def _positive_int(inst: object, attr: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{attr.name} must be an integer >= 1, not {value!r}")


def _count(inst: object, attr: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{attr.name} must be an integer >= 0, not {value!r}")


def _seconds(inst: object, attr: attrs.Attribute[Any], value: object) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{attr.name} must be a finite number of seconds > 0, not {value!r}")


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
    at most ``max_restarts`` times within ``within`` seconds; beyond that, escalate.

    Raises:
        ValueError: ``max_restarts`` is not an integer >= 0, or ``within`` not a finite
            number of seconds > 0.
    """

    max_restarts: int = attrs.field(default=3, validator=_count)
    within: float = attrs.field(default=5.0, validator=_seconds)


@final
@attrs.frozen
class Escalate:
    """On a crash: stop the agent and tell its parent why (``child.exit`` with the error);
    a root agent is stopped and the crash logged at ERROR."""


ErrorPolicy: TypeAlias = Continue | StopAgent | Restart | Escalate

#: What a child does when its parent stops: see :class:`AgentOptions`.
ParentDeath: TypeAlias = Literal["orphan", "stop", "continue"]


def _error_policy(inst: object, attr: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, Continue | StopAgent | Restart | Escalate):
        raise TypeError(
            f"error_policy must be Continue(), StopAgent(), Restart(...) or Escalate(), "
            f"not {value!r}"
        )


def _parent_death(inst: object, attr: attrs.Attribute[Any], value: object) -> None:
    if value not in get_args(ParentDeath):
        choices = ", ".join(repr(c) for c in get_args(ParentDeath))
        raise ValueError(f"on_parent_death must be one of {choices}, not {value!r}")


@final
@attrs.frozen(kw_only=True)
class AgentOptions:
    """How the runtime runs the agents of one spec.

    Raises:
        ValueError, TypeError: an option out of range or of the wrong kind (named).

    Attributes:
        mailbox_size: how many signals from outside may wait (``cast`` backpressure).
        error_policy: what a crash in user code does (see :data:`ErrorPolicy`).
        on_parent_death: ``"orphan"`` (keep running, get ``jido.agent.orphaned``),
            ``"stop"`` (stop too), or ``"continue"`` (keep running, no signal).
        effect_timeout: seconds an effect may run before its outcome is a ``TimeoutError``.
    """

    mailbox_size: int = attrs.field(default=1024, validator=_positive_int)
    error_policy: ErrorPolicy = attrs.field(default=Continue(), validator=_error_policy)
    on_parent_death: ParentDeath = attrs.field(default="orphan", validator=_parent_death)
    effect_timeout: float = attrs.field(default=30.0, validator=_seconds)


#: The options of agents whose spec has none of its own.
DEFAULT_OPTIONS: Final = AgentOptions()
