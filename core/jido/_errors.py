"""Errors: raised exceptions for programming mistakes, :class:`Problem` values for bad data.

The core distinguishes two things:

* **Bad data at run time** (a signal nobody routes, params that do not validate, an illegal FSM
  transition, an action that returns ``Failure``) never raises. It becomes a :class:`Problem`
  inside an ``Error`` directive, and the agent's state is left as it was.
* **Mistakes in code or definitions** raise, at the nearest door, with structured fields:

.. code-block:: text

    JidoError
    ├── InvalidSignal (ValueError)     a Signal that cannot exist; ``field`` names the part
    ├── InvalidPattern (ValueError)    a route pattern that cannot match anything sane
    ├── SpecError (ValueError)         an AgentSpec / Plugin that does not hold together
    └── ActionCrashed (RuntimeError)   user code raised inside ``step``/``cmd`` (a bug)
"""

from __future__ import annotations

from enum import StrEnum
from typing import final

import attrs

from ._json import EMPTY, FrozenMap, JsonValue, _shown, freeze_map

__all__ = [
    "ActionCrashed",
    "InvalidPattern",
    "InvalidSignal",
    "JidoError",
    "Problem",
    "ProblemKind",
    "SpecError",
]


class JidoError(Exception):
    """Root of every exception this library raises on purpose."""


class InvalidSignal(JidoError, ValueError):
    """A signal field holds a value the CloudEvents envelope does not allow.

    Attributes:
        field: the name of the offending field (``"type"``, ``"source"``, ``"data"``...).
        value: the rejected value.
    """

    def __init__(self, field: str, value: object, reason: str) -> None:
        shown = _shown(value)
        if len(shown) > 120:  # data is shown in full in no message: the path says where
            shown = f"{shown[:100]}..."
        super().__init__(f"invalid signal {field} {shown}: {reason}")
        self.field = field
        self.value = value
        self.reason = reason


class InvalidPattern(JidoError, ValueError):
    """A route pattern is malformed.

    Attributes:
        pattern: the rejected pattern.
    """

    def __init__(self, pattern: str, reason: str) -> None:
        super().__init__(f"invalid route pattern {pattern!r}: {reason}")
        self.pattern = pattern
        self.reason = reason


class SpecError(JidoError, ValueError):
    """An agent spec or plugin is inconsistent; ``problems`` lists every issue found."""

    def __init__(self, spec: str, problems: list[str]) -> None:
        super().__init__(f"agent spec {spec!r} is invalid:\n  - " + "\n  - ".join(problems))
        self.spec = spec
        self.problems = tuple(problems)


class ActionCrashed(JidoError, RuntimeError):
    """An action raised instead of returning a ``Result``: a bug in user code.

    Any exception is such a crash, a ``BaseException`` that is no ``Exception`` too (an
    ``asyncio.CancelledError`` the action raised itself), except ``KeyboardInterrupt`` and
    ``SystemExit``: the process ending, not a bug, they pass as they are.

    The core does not swallow it: interpreters apply the agent's error policy. The agent value
    passed to ``step`` is untouched (it is immutable), so the last good state is known.

    Attributes:
        agent_id: the agent that was stepping.
        action: the name of the action that raised.
        signal_type: the type of the signal being handled, or ``None`` under ``cmd``.
    """

    def __init__(self, agent_id: str, action: str, signal_type: str | None) -> None:
        where = f" handling {signal_type!r}" if signal_type is not None else ""
        super().__init__(f"action {action!r} of agent {agent_id!r} raised{where}")
        self.agent_id = agent_id
        self.action = action
        self.signal_type = signal_type


class ProblemKind(StrEnum):
    """Where a :class:`Problem` came from."""

    #: no route matched the signal type
    ROUTING = "routing"
    #: the action's parameters did not validate; ``details["errors"]`` lists every bad field
    PARAMS = "params"
    #: the action returned ``Failure``
    ACTION = "action"
    #: the strategy refused the signal in the current status (e.g. an illegal FSM transition)
    TRANSITION = "transition"
    #: a state change could not be applied (unknown field, bad path, invalid value)
    STATE = "state"
    #: an interpreter could not execute a directive (reported by interpreters, not the core)
    DIRECTIVE = "directive"
    #: an effect handler failed (reported by interpreters)
    EFFECT = "effect"


@final
@attrs.frozen(kw_only=True)
class Problem:
    """A structured, serializable description of something that went wrong.

    Attributes:
        kind: the category.
        message: one human-readable sentence.
        details: machine-readable context (the signal type, the status, the bad fields...).
    """

    kind: ProblemKind = attrs.field(converter=ProblemKind)  # a kind's value is accepted too
    message: str = attrs.field(validator=attrs.validators.instance_of(str))
    details: FrozenMap[str, JsonValue] = attrs.field(default=EMPTY, converter=freeze_map)

    @classmethod
    def of(cls, kind: ProblemKind, message: str, /, **details: object) -> Problem:
        """Build a problem, freezing ``details`` (which must be JSON-able)."""
        return cls(kind=kind, message=message, details=freeze_map(details))
