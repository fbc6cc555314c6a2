"""``step`` and ``cmd``: the only two ways an agent changes.

Theory of operation
-------------------

1. Everything is a value. ``step(spec, agent, signal)`` reads its three arguments and returns
   a new :class:`Step`; it never mutates an argument, reads a clock, draws a random number or
   touches the outside world. Same arguments, same result.
2. Bad data never raises. An unrouted signal, params that do not validate, an illegal
   transition, a ``Failure`` from an action, a state op that does not apply: each becomes an
   ``Error`` directive, and the state is as it was before that instruction.
3. Instructions run in order, each on the state the previous one left; one failing does not
   stop the next (as in Jido). The agent's ``version`` goes up by one if any succeeded. A
   strategy's status change happens only if every instruction succeeded.
4. Signals born in a step are stamped with ids derived from the handled signal, the agent id
   and their position, so replaying a journal reproduces them exactly.
5. A bug in user code (an action raising) is not bad data: it propagates as
   :class:`ActionCrashed`, for the interpreter's error policy to handle. The caller still holds
   the untouched agent value, the last good state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Generic, TypeAlias, TypeVar, final

import attrs
from returns.result import Failure, Success

from ._action import Action, Context, Outcome
from ._agent import Agent, AgentSpec
from ._convert import structure_params
from ._directives import Directive, Error
from ._errors import ActionCrashed, Problem, ProblemKind
from ._json import FrozenMap, JsonValue, freeze_map
from ._signal import Signal
from ._stamp import stamp
from ._state import StateOpError, apply_ops
from ._strategy import Instruction, Refuse, Run

__all__ = ["InstructionLike", "Step", "cmd", "step"]

S = TypeVar("S")


@final
@attrs.frozen
class Step(Generic[S]):
    """What ``step`` and ``cmd`` return: the agent after, and the directives to execute."""

    agent: Agent[S]
    directives: tuple[Directive, ...] = ()

    @property
    def problems(self) -> tuple[Problem, ...]:
        """The problems of the ``Error`` directives, in order."""
        return tuple(d.problem for d in self.directives if isinstance(d, Error))


#: What ``cmd`` accepts for one instruction: an action, its name, either paired with params,
#: or a full :class:`Instruction`.
InstructionLike: TypeAlias = (
    "Action[Any, Any] | str | Instruction | tuple[Action[Any, Any] | str, Mapping[str, object]]"
)


def step(spec: AgentSpec[S], agent: Agent[S], signal: Signal) -> Step[S]:
    """Handle one signal.

    Args:
        spec: the agent's definition.
        agent: the agent before.
        signal: the signal to handle.

    Returns:
        The agent after and the directives to execute. Bad data (no route, bad params, an
        illegal transition, a failed action) yields ``Error`` directives and leaves the state
        as it was; see the module docs.

    Raises:
        ActionCrashed: an action raised (a bug); ``agent`` is untouched.
    """
    if signal.is_draft:
        problem = Problem.of(
            ProblemKind.ROUTING,
            f"signal {signal.type!r} is an unstamped draft; only step may produce drafts",
            signal_type=signal.type,
        )
        return Step(agent, (Error(problem=problem),))
    decision = spec.strategy.decide(agent.status, signal, spec.router.match(signal))
    match decision:
        case Refuse(problem=problem):
            return Step(agent, (Error(problem=problem),))
        case Run(instructions=instructions, next_status=next_status):
            return _run(spec, agent, signal, signal.id, instructions, next_status)
    raise TypeError(f"strategy {spec.strategy!r} returned {decision!r}, not Run or Refuse")


def cmd(
    spec: AgentSpec[S],
    agent: Agent[S],
    instructions: InstructionLike | Iterable[InstructionLike],
) -> Step[S]:
    """Run actions directly, without a signal: one instruction or a list, in order.

    Each instruction is an action (or its name in the spec), optionally paired with params
    (``(action, {"by": 2})``), or an :class:`Instruction`. The strategy is not consulted and
    the status does not change. Signals produced get ids derived from the agent's id and
    version.

    Returns:
        As :func:`step`; an unknown action name is an ``Error`` directive, not an exception.

    Raises:
        ActionCrashed: an action raised (a bug); ``agent`` is untouched.
    """
    if isinstance(instructions, Action | str | Instruction | tuple):
        items: list[InstructionLike] = [instructions]
    else:
        items = list(instructions)
    resolved: list[Instruction | Problem] = [_resolve(spec, item) for item in items]
    return _run(spec, agent, None, f"cmd:{agent.id}:{agent.version}", resolved, None)


def _resolve(spec: AgentSpec[Any], item: object) -> Instruction | Problem:
    params: FrozenMap[str, JsonValue] | None = None
    if isinstance(item, Instruction):
        return item
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], Mapping):
        item, raw = item
        try:
            params = freeze_map(raw)
        except TypeError as exc:
            return Problem.of(ProblemKind.PARAMS, f"params are not JSON-able: {exc}")
    name = item.name if isinstance(item, Action) else item
    if not isinstance(name, str):
        return Problem.of(ProblemKind.ACTION, f"{item!r} is not an action or an action name")
    known = spec.action_table.get(name)
    if known is None or (isinstance(item, Action) and known.action is not item):
        return Problem.of(
            ProblemKind.ACTION, f"spec {spec.name!r} has no action {name!r}", action=name
        )
    return attrs.evolve(known, params=params)


def _run(
    spec: AgentSpec[S],
    agent: Agent[S],
    signal: Signal | None,
    cause_id: str,
    instructions: Iterable[Instruction | Problem],
    next_status: str | None,
) -> Step[S]:
    state: Any = agent.state
    slices = agent.slices
    directives: list[Directive] = []
    succeeded = 0
    failed = 0
    for ins in instructions:
        if isinstance(ins, Problem):
            directives.append(Error(problem=ins))
            failed += 1
            continue
        act = ins.action
        current = state if ins.slice is None else slices[ins.slice]
        data: object = (
            ins.params if ins.params is not None else (signal.data if signal is not None else None)
        )
        params = structure_params(data, act.params, forbid_extra=act.extra == "forbid")
        if isinstance(params, list):
            directives.append(
                Error(
                    problem=Problem.of(
                        ProblemKind.PARAMS,
                        f"invalid params for action {act.name!r}: " + "; ".join(params),
                        action=act.name,
                        errors=params,
                        signal_type=signal.type if signal is not None else None,
                    )
                )
            )
            failed += 1
            continue
        ctx = _context(agent, spec.name, signal, ins.slice)
        try:
            result = act.run(current, params, ctx)
        except Exception as exc:
            raise ActionCrashed(
                agent.id, act.name, signal.type if signal is not None else None
            ) from exc
        # Plain type checks rather than `match` with class patterns: this runs once per
        # instruction, and the pattern costs several times more than the test.
        outcome = result.unwrap() if type(result) is Success else None
        if type(outcome) is Outcome:
            try:
                new = _apply(current, outcome.state, outcome.ops)
            except StateOpError as exc:
                directives.append(
                    Error(
                        problem=Problem.of(
                            ProblemKind.STATE,
                            f"action {act.name!r}: {exc}",
                            action=act.name,
                            path=list(exc.path),
                        )
                    )
                )
                failed += 1
                continue
            if ins.slice is None:
                state = new
            else:
                slices = slices.set(ins.slice, new)
            directives.extend(outcome.directives)
            succeeded += 1
        elif isinstance(result, Failure):
            err = result.failure()
            problem = (
                err
                if isinstance(err, Problem)
                else Problem.of(ProblemKind.ACTION, str(err), action=act.name)
            )
            directives.append(Error(problem=problem))
            failed += 1
        else:
            raise ActionCrashed(
                agent.id, act.name, signal.type if signal is not None else None
            ) from TypeError(
                f"action {act.name!r} returned {result!r}, not Success(Outcome) or Failure"
            )
    if succeeded:
        status = next_status if next_status is not None and not failed else agent.status
        agent = _next_agent(agent, state, slices, status)
    elif next_status is not None and not failed:
        # A transition with no action at all still moves the status.
        agent = _next_agent(agent, agent.state, agent.slices, next_status)
    if directives:
        return Step(agent, stamp(directives, agent_id=agent.id, cause_id=cause_id, cause=signal))
    return Step(agent, ())


def _context(agent: Agent[Any], spec: str, signal: Signal | None, slice: str | None) -> Context:
    # Context has no validators and every field comes from values the core already holds;
    # skipping attrs' frozen __init__ matters on the hot path (one per instruction).
    ctx: Context = object.__new__(Context)
    set_ = object.__setattr__
    set_(ctx, "agent_id", agent.id)
    set_(ctx, "spec", spec)
    set_(ctx, "version", agent.version)
    set_(ctx, "status", agent.status)
    set_(ctx, "signal", signal)
    set_(ctx, "slice", slice)
    return ctx


def _next_agent(agent: Agent[S], state: S, slices: FrozenMap[str, Any], status: str) -> Agent[S]:
    # attrs.evolve without re-running __init__: every field is the agent's own or came out
    # of an action whose result was type-checked, and version/status are the core's.
    new: Agent[S] = object.__new__(Agent)
    set_ = object.__setattr__
    set_(new, "id", agent.id)
    set_(new, "spec", agent.spec)
    set_(new, "state", state)
    set_(new, "version", agent.version + 1)
    set_(new, "status", status)
    set_(new, "slices", slices)
    return new


def _apply(current: Any, new_state: Any, ops: tuple[Any, ...]) -> Any:
    if new_state is not None:
        if type(new_state) is not type(current):
            raise StateOpError(
                f"returned a {type(new_state).__name__} where the state is a "
                f"{type(current).__name__}",
                (),
            )
        current = new_state
    if ops:
        current = apply_ops(current, ops)
    return current
