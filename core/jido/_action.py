"""Actions: pure functions with typed, validated parameters.

An action receives the current state (of the agent, or of its plugin's slice), its parameters
already validated into its params class, and a read-only :class:`Context`. It returns a
``returns.result.Result``: ``Success(Outcome)`` (a new state and/or state ops, plus
directives) or ``Failure`` (a message or a :class:`Problem`), which ``step`` turns into an
``Error`` directive, leaving the state unchanged.

.. code-block:: python

    @attrs.frozen
    class Increment:
        by: int = 1

    @action(params=Increment)
    def increment(state: Counter, params: Increment, ctx: Context) -> ActionResult[Counter]:
        new = attrs.evolve(state, count=state.count + params.by)
        return ok(new, emit("counter.incremented", {"count": new.count}))
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, Final, Generic, Literal, TypeAlias, TypeVar, final, overload

import attrs
from returns.result import Failure, Result, Success

from ._directives import Directive
from ._errors import Problem, ProblemKind
from ._signal import Signal
from ._state import StateOp

__all__ = [
    "Action",
    "ActionResult",
    "Context",
    "NoParams",
    "Outcome",
    "action",
    "fail",
    "ok",
]

S = TypeVar("S")
P = TypeVar("P")

_NAME_RE: Final = re.compile(r"[A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]+)*")


@final
@attrs.frozen
class NoParams:
    """The params class of an action that takes none: signal data is ignored."""


@final
@attrs.frozen(kw_only=True)
class Context:
    """What an action may know besides its state and params. Read-only.

    Attributes:
        agent_id: the agent running the action.
        spec: the name of its spec.
        version: the agent's version before this step.
        status: the strategy status before this step.
        signal: the signal being handled, or ``None`` when run through ``cmd``.
        slice: the plugin whose state slice the action received, or ``None`` for the agent's.
    """

    agent_id: str
    spec: str
    version: int
    status: str
    signal: Signal | None
    slice: str | None = None


@final
@attrs.frozen(kw_only=True)
class Outcome(Generic[S]):
    """What a successful action asks for.

    Attributes:
        state: the new state, or ``None`` to keep the current one.
        ops: state operations applied after ``state``, in order.
        directives: directives to return, in order.
    """

    state: S | None = None
    ops: tuple[StateOp, ...] = ()
    directives: tuple[Directive, ...] = ()


#: What an action returns.
ActionResult: TypeAlias = Result[Outcome[S], "Problem | str"]


def ok(
    state: S | None = None, /, *directives: Directive, ops: Iterable[StateOp] = ()
) -> Result[Outcome[S], Problem | str]:
    """``Success(Outcome(state, ops, directives))``: the usual way to end an action.

    ``ops`` may be any iterable of state operations (a list, a tuple); the outcome holds
    them as a tuple.

    >>> ok(None).unwrap().directives
    ()
    """
    # Built without Outcome's __init__: it has no validators, and this is every action's
    # return path.
    outcome: Outcome[S] = _new(Outcome)
    _set_state(outcome, state)
    _set_ops(outcome, ops if type(ops) is tuple else tuple(ops))
    _set_directives(outcome, directives)
    return _success(outcome)


_new = object.__new__
_set_state = Outcome.__dict__["state"].__set__
_set_ops = Outcome.__dict__["ops"].__set__
_set_directives = Outcome.__dict__["directives"].__set__


def _make_success() -> Callable[[object], Success[Any]]:
    # ``Success(x)`` runs two ``__init__`` levels to set one slot. Setting that slot directly
    # is a third of the cost; checked here once, so a release of ``returns`` that lays
    # containers out differently falls back to the constructor instead of misbehaving.
    try:
        set_inner = Success.__dict__.get("_inner_value") or next(
            c.__dict__["_inner_value"] for c in Success.__mro__ if "_inner_value" in c.__dict__
        )
        setter = set_inner.__set__
    except (StopIteration, AttributeError):
        return Success

    def success(value: object) -> Success[Any]:
        new: Success[Any] = _new(Success)
        setter(new, value)
        return new

    probe = object()
    made = success(probe)
    if made == Success(probe) and made.unwrap() is probe:
        return success
    return Success


_success: Final = _make_success()


def fail(message: str, /, **details: object) -> Result[Outcome[Any], Problem | str]:
    """``Failure`` with an ``action`` problem carrying ``details`` (which must be JSON-able)."""
    return Failure(Problem.of(ProblemKind.ACTION, message, **details))


@final
@attrs.frozen(kw_only=True, eq=False)
class Action(Generic[S, P]):
    """A named, pure unit of work. Build one with the :func:`action` decorator.

    Actions compare by identity: two actions are the same action only if they are one object.

    Attributes:
        name: unique within a spec; dot-separated like signal types.
        run: ``(state, params, ctx) -> Result[Outcome, Problem | str]``.
        params: the attrs class the parameters are validated into.
        extra: ``"ignore"`` (default) drops data keys the params class lacks; ``"forbid"``
            reports each as a bad field.
        description: one line for docs and graphs.
    """

    name: str = attrs.field()
    run: Callable[[S, P, Context], Result[Outcome[S], Problem | str]]
    params: type[P]
    extra: Literal["ignore", "forbid"] = "ignore"
    description: str = ""

    @name.validator
    def _check_name(self, _: object, value: object) -> None:
        if not isinstance(value, str) or _NAME_RE.fullmatch(value) is None:
            raise ValueError(f"action name {value!r}: use dot-separated [A-Za-z0-9_-] segments")

    def __attrs_post_init__(self) -> None:
        if not attrs.has(self.params):
            raise TypeError(f"action {self.name!r}: params {self.params!r} is not an attrs class")

    def __call__(self, state: S, params: P, ctx: Context) -> Result[Outcome[S], Problem | str]:
        """Run the action directly (no validation): handy in unit tests of one action."""
        return self.run(state, params, ctx)


@overload
def action(
    name: Callable[[S, NoParams, Context], Result[Outcome[S], Problem | str]],
) -> Action[S, NoParams]: ...
@overload
def action(
    name: str | None = None,
    *,
    extra: Literal["ignore", "forbid"] = "ignore",
    description: str | None = None,
) -> Callable[
    [Callable[[S, NoParams, Context], Result[Outcome[S], Problem | str]]], Action[S, NoParams]
]: ...
@overload
def action(
    name: str | None = None,
    *,
    params: type[P],
    extra: Literal["ignore", "forbid"] = "ignore",
    description: str | None = None,
) -> Callable[[Callable[[S, P, Context], Result[Outcome[S], Problem | str]]], Action[S, P]]: ...
def action(
    name: str | Callable[[Any, Any, Context], Result[Outcome[Any], Problem | str]] | None = None,
    *,
    params: type[Any] = NoParams,
    extra: Literal["ignore", "forbid"] = "ignore",
    description: str | None = None,
) -> (
    Callable[[Callable[[Any, Any, Context], Result[Outcome[Any], Problem | str]]], Action[Any, Any]]
    | Action[Any, Any]
):
    """Decorate ``fn(state, params, ctx)`` into an :class:`Action`.

    Used bare (``@action``) it makes an action of the function with no parameters
    (:class:`NoParams`), named after the function.

    Args:
        name: defaults to the function's name.
        params: the attrs class to validate parameters into (:class:`NoParams` by default).
        extra: what to do with data keys the params class lacks (see :class:`Action`).
        description: defaults to the first line of the function's docstring.
    """

    label = None if callable(name) else name

    def wrap(
        fn: Callable[[Any, Any, Context], Result[Outcome[Any], Problem | str]],
    ) -> Action[Any, Any]:
        if not callable(fn):
            raise TypeError(f"@action decorates a function fn(state, params, ctx), not {fn!r:.60}")
        doc = (fn.__doc__ or "").strip().splitlines()
        return Action(
            name=label or fn.__name__,
            run=fn,
            params=params,
            extra=extra,
            description=description if description is not None else (doc[0] if doc else ""),
        )

    # Bare ``@action``: the function itself came in as the name.
    return wrap(name) if callable(name) else wrap
