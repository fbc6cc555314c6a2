"""Plugins: reusable bundles of routes, actions, a state slice and schedules."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Generic, final

import attrs
from typing_extensions import TypeVar

from ._action import Action
from ._directives import Cron, Schedule
from ._items import items
from ._router import Route

__all__ = ["EmptyState", "Plugin"]


@final
@attrs.frozen
class EmptyState:
    """The state slice of a plugin that keeps none."""


# Defaults to EmptyState, as ``state`` does: ``Plugin(name="p")`` is a Plugin[EmptyState]
# (a TypeVar without a default leaves a type checker nothing to infer it from).
P = TypeVar("P", default=EmptyState)


# Generic in the slice's state, as AgentSpec's: the attrs plugin types ``__init__``'s
# arguments from the converters', so an action for another state is a type error.
def _routes(value: Iterable[Route[Action[P, Any]]]) -> tuple[Route[Action[P, Any]], ...]:
    return items(value, "Plugin routes", "Route values")


def _actions(value: Iterable[Action[P, Any]]) -> tuple[Action[P, Any], ...]:
    return items(value, "Plugin actions", "actions")


def _schedules(value: Iterable[Schedule | Cron]) -> tuple[Schedule | Cron, ...]:
    return items(value, "Plugin schedules", "Schedule or Cron values")


@final
@attrs.frozen(kw_only=True, eq=False)
class Plugin(Generic[P]):
    """A bundle mounted on an :class:`AgentSpec`.

    The plugin's actions see only its own state slice (``agent.slices[name]``), never the
    agent's state or other plugins' slices. Its routes are used exactly as written: no prefix
    is added to patterns, so ``counter.increment`` means ``counter.increment``. Two plugins (or
    a plugin and the agent) routing the same pattern, or declaring cron jobs with the same
    ``job_id``, is reported when the spec is built.

    Attributes:
        name: the slice key; unique on a spec.
        state: the frozen attrs class of the slice (all fields defaulted).
        routes: routes to this plugin's actions.
        actions: further actions, callable through ``cmd`` only.
        schedules: ``Schedule`` / ``Cron`` directives the interpreter registers on start.
    """

    name: str
    state: type[P] = EmptyState  # type: ignore[assignment]
    routes: tuple[Route[Action[P, Any]], ...] = attrs.field(default=(), converter=_routes)
    actions: tuple[Action[P, Any], ...] = attrs.field(default=(), converter=_actions)
    schedules: tuple[Schedule | Cron, ...] = attrs.field(default=(), converter=_schedules)
