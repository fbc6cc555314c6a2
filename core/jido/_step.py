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
   stop the next (as in Jido). The agent's ``version`` goes up by one if any succeeded (or,
   with none to run, if the status moves: an FSM transition without an action). A
   strategy's status change happens only if every instruction succeeded.
4. Signals born in a step are stamped with ids derived from the handled signal, the agent id
   and their position, so replaying a journal reproduces them exactly.
5. A bug in user code (an action raising) is not bad data: it propagates as
   :class:`ActionCrashed`, for the interpreter's error policy to handle (a route guard or a
   custom strategy raising propagates as it is). The caller still holds the untouched agent
   value, the last good state.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Final, Generic, TypeAlias, TypeGuard, TypeVar, final, get_args

import attrs
from returns.result import Failure, Success

from ._action import Action, Context, Outcome
from ._agent import Agent, AgentSpec
from ._convert import converter, structure_params
from ._directives import BuiltinDirective, CustomDirective, Directive, Error
from ._errors import ActionCrashed, Problem, ProblemKind
from ._json import FrozenMap, JsonValue, freeze_map
from ._router import Route
from ._signal import DRAFT, Signal
from ._stamp import stamp
from ._state import ZONED, StateOpError, apply_ops, fixed_times
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


#: What ``cmd`` accepts for one instruction: an action, its name, either paired with params
#: (a mapping, or an instance of the action's params class), or a full :class:`Instruction`.
#: Not generic in the agent's state: a plugin's action, given itself, runs on its slice, of
#: another state class than the agent's; an action that is not the spec's is an ``Error``
#: directive when ``cmd`` runs.
InstructionLike: TypeAlias = (
    Action[Any, Any]
    | str
    | Instruction
    | tuple[Action[Any, Any] | str, Mapping[str, object]]
    | tuple[Action[Any, Any] | str, object]
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
        ActionCrashed: an action raised (a bug); ``agent`` is untouched. An exception from
            other user code ``step`` calls (a route guard, a custom strategy) is a bug too and
            propagates as it is; the runtimes apply the agent's error policy to both.
    """
    if signal.id == DRAFT:
        problem = Problem.of(
            ProblemKind.ROUTING,
            f"signal {signal.type!r} is an unstamped draft; only step may produce drafts",
            signal_type=signal.type,
        )
        return _step(agent, (Error(problem=problem),))
    decision = spec.strategy.decide(agent.status, signal, spec.router.match(signal))
    # Plain type tests rather than `match` with class patterns: this runs on every step.
    if type(decision) is Run:
        return _run(spec, agent, signal, signal.id, decision.instructions, decision.next_status)
    if type(decision) is Refuse:
        return _step(agent, (Error(problem=decision.problem),))
    raise TypeError(f"strategy {spec.strategy!r} returned {decision!r}, not Run or Refuse")


def cmd(
    spec: AgentSpec[S],
    agent: Agent[S],
    instructions: InstructionLike | Iterable[InstructionLike],
) -> Step[S]:
    """Run actions directly, without a signal: one instruction or a list, in order.

    Each instruction is an action (or its name in the spec), optionally paired with params
    (``(action, {"by": 2})`` or ``(action, Increment(by=2))``), or an :class:`Instruction`;
    a tuple of instructions is a sequence like a list. What is none of these (``(action,
    5)``, a three-item tuple, params alone) is an ``Error`` directive, its action not run.
    The strategy is not consulted and the status does not change. Signals produced get ids
    derived from the agent's id and version.

    Returns:
        As :func:`step`; an unknown action name is an ``Error`` directive, not an exception.

    Raises:
        ActionCrashed: an action raised (a bug); ``agent`` is untouched.
    """
    given: object = instructions
    if (
        isinstance(given, Action | str | Instruction | Mapping)
        or not isinstance(given, Iterable)
        or _is_single(given)
    ):
        items: list[object] = [given]
    else:
        items = list(given)
    resolved: list[Instruction | Problem] = [_resolve(spec, item) for item in items]
    return _run(spec, agent, None, f"cmd:{agent.id}:{agent.version}", resolved, None)


def _is_single(value: object) -> TypeGuard[tuple[object, ...]]:
    # A tuple of an action and what is no instruction is one instruction: ``(action,
    # params)``, or one that is malformed (``(action, 5)``, Jido's ``{action, params,
    # context}``), refused as such, rather than taken for a list whose first action would
    # run with its default params. A tuple of instructions is a sequence.
    return (
        isinstance(value, tuple)
        and len(value) >= 2
        and isinstance(value[0], Action | str)
        and not isinstance(value[1], Action | str | Instruction | tuple)
    )


def _is_pair(value: object) -> TypeGuard[tuple[Action[Any, Any] | str, object]]:
    return _is_single(value) and len(value) == 2


def _not_an_instruction(given: object) -> str:
    # A strategy's Run holds Instructions: an action, or a route, given instead is the
    # likely slip, and the message says what to pass for it.
    if isinstance(given, Action):
        return (
            f"a Run's instructions hold action {given.name!r} itself, not an Instruction:"
            f" pass Instruction(action={given.name}) (or a routed route's target, the"
            " Instruction the spec made of it, with its slice and params)"
        )
    if isinstance(given, Route):
        target: object = given.target
        what = (
            f"Instruction for action {target.action.name!r}"
            if isinstance(target, Instruction)
            else "Instruction"
        )
        return (
            f"a Run's instructions hold route {given.pattern!r}, not an Instruction: pass its"
            f" target (route.target, the {what})"
        )
    return f"a Run's instructions hold {given!r:.80}, not an Instruction"


def _resolve(spec: AgentSpec[Any], item: object) -> Instruction | Problem:
    params: FrozenMap[str, JsonValue] | None = None
    if isinstance(item, Instruction):
        # Only the spec's own actions, each on the state it belongs to (a plugin's action on
        # its slice): an Instruction names one, it does not bring a new one in.
        named = item.action.name
        entry = spec.action_table.get(named)
        if entry is None or entry.action is not item.action:
            return Problem.of(
                ProblemKind.ACTION, f"spec {spec.name!r} has no action {named!r}", action=named
            )
        if entry.slice != item.slice:
            return _misbound(named, entry.slice, item.slice)
        return item
    raw: object = None
    if _is_pair(item):
        item, raw = item
    elif _is_single(item):
        first: object = item[0]
        named = first.name if isinstance(first, Action) else str(first)
        return Problem.of(
            ProblemKind.ACTION,
            f"an instruction for action {named!r} is a pair (action, params), not a tuple of"
            f" {len(item)}",
            action=named,
        )
    elif isinstance(item, Mapping):
        return Problem.of(
            ProblemKind.ACTION,
            f"params {item!r:.60} stand alone: pair them with their action, (action, params)",
        )
    name = item.name if isinstance(item, Action) else item
    if not isinstance(name, str):
        return Problem.of(ProblemKind.ACTION, f"{item!r:.60} is not an action or an action name")
    known = spec.action_table.get(name)
    if known is None or (isinstance(item, Action) and known.action is not item):
        return Problem.of(
            ProblemKind.ACTION, f"spec {spec.name!r} has no action {name!r}", action=name
        )
    if raw is not None:
        wanted = known.action.params
        if not isinstance(raw, Mapping):
            if type(raw) is not wanted:
                return Problem.of(
                    ProblemKind.PARAMS,
                    f"params for action {name!r} must be a mapping or a {wanted.__name__},"
                    f" not {raw!r:.60}",
                    action=name,
                )
            # Validated again when the action runs, as params from a mapping are: the
            # instance is written as the JSON the params converter reads back (sets as
            # lists, int keys as their digits).
            try:
                raw = json.loads(_dumps(converter.unstructure(raw)))
            except (TypeError, ValueError) as exc:
                return Problem.of(
                    ProblemKind.PARAMS, f"params are not JSON-able: {exc}", action=name
                )
        try:
            params = freeze_map(raw)
        except TypeError as exc:
            return Problem.of(ProblemKind.PARAMS, f"params are not JSON-able: {exc}")
    return attrs.evolve(known, params=params)


def _listed(value: object) -> list[Any]:
    # What JSON has no form for but a list: a set (in a stable order).
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    raise TypeError(f"{type(value).__name__} {value!r:.60} is not JSON-able")


_dumps: Final = json.JSONEncoder(allow_nan=False, default=_listed).encode


def _misbound(name: str, bound: str | None, given: str | None) -> Problem:
    return Problem.of(
        ProblemKind.ACTION,
        f"action {name!r} runs on {_state_name(bound)}, not on {_state_name(given)}"
        f" (spec.action_table[{name!r}] is an instruction for it, bound to its state)",
        action=name,
    )


def _state_name(slice: str | None) -> str:
    return "the agent's state" if slice is None else f"the slice {slice!r}"


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
    data_of_signal = signal.data if signal is not None else None
    builtin = _BUILTIN
    table = spec.action_table
    for ins in instructions:
        if type(ins) is not Instruction:
            if not isinstance(ins, Problem):
                raise TypeError(_not_an_instruction(ins))
            directives.append(Error(problem=ins))
            failed += 1
            continue
        act = ins.action
        where = ins.slice
        entry = table.get(act.name)
        if entry is not None and entry.action is act and entry.slice != where:
            # A custom strategy's instruction binding one of the spec's actions to a state
            # it does not work on: the strategy's mistake, reported as such, not a crash
            # blamed on the action (which would meet a state of another class).
            directives.append(Error(problem=_misbound(act.name, entry.slice, where)))
            failed += 1
            continue
        if where is None:
            current = state
        elif where in slices:
            current = slices[where]
        else:
            # An instruction naming a slice the spec has not (or an agent from before the
            # plugin was mounted): bad data, not a crash.
            directives.append(
                Error(
                    problem=Problem.of(
                        ProblemKind.STATE,
                        f"agent {agent.id!r} has no state slice {where!r} for action {act.name!r}",
                        action=act.name,
                        slice=where,
                    )
                )
            )
            failed += 1
            continue
        params = structure_params(
            data_of_signal if ins.params is None else ins.params,
            act.params,
            act.extra == "forbid",
        )
        if type(params) is list:
            directives.append(_bad_params(act.name, params, signal))
            failed += 1
            continue
        ctx = _context(agent, spec.name, signal, where)
        try:
            result = act.run(current, params, ctx)
        except _PASSING:
            raise
        except BaseException as exc:  # a CancelledError raised by hand, an Abort(BaseException)
            raise ActionCrashed(
                agent.id, act.name, signal.type if signal is not None else None
            ) from exc
        # Plain type checks rather than `match` with class patterns: this runs once per
        # instruction, and the pattern costs several times more than the test.
        outcome = result.unwrap() if type(result) is Success else None
        if type(outcome) is Outcome:
            new = outcome.state
            ops = outcome.ops
            try:
                if new is None:
                    new = current
                elif type(new) is not type(current):
                    raise StateOpError(
                        f"returned a {type(new).__name__} where the state is a "
                        f"{type(current).__name__}",
                        (),
                    )
                if ops:
                    new = apply_ops(new, ops)
                if new is not current and ZONED and type(new) in ZONED:
                    # See fixed_times: a state equals its round trip.
                    new = fixed_times(new, current)
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
            except Exception as exc:  # an op that is no op, a key that cannot be one...
                raise _crashed(agent, act, signal) from exc
            made = outcome.directives
            if type(made) is not tuple:
                raise _crashed(agent, act, signal) from TypeError(
                    f"action {act.name!r} returned directives {made!r:.80}, not a tuple of them"
                )
            if made:
                for d in made:
                    # Checked here, with the action known: an interpreter given what is no
                    # directive could only fail, far from the bug.
                    if d.__class__ not in builtin and not isinstance(d, CustomDirective):
                        raise _crashed(agent, act, signal) from TypeError(
                            f"action {act.name!r} returned a {type(d).__name__} among its"
                            f" directives ({d!r:.60}...), which is no directive (pass each"
                            " directive as an argument of ok, and ops as ops=(...))"
                        )
                directives.extend(made)
            if where is None:
                state = new
            else:
                slices = slices.set(where, new)
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
        return _step(agent, stamp(directives, agent.id, cause_id, signal))
    return _step(agent, ())


def _crashed(agent: Agent[Any], act: Action[Any, Any], signal: Signal | None) -> ActionCrashed:
    return ActionCrashed(agent.id, act.name, signal.type if signal is not None else None)


# What an action may raise that is not its crash but the end of the process (an interrupt,
# an exit), and passes as it is; any other exception is ActionCrashed. (The interpreters'
# PASSING: the core cannot import it, nor they a private name of the core's.)
_PASSING: Final = (KeyboardInterrupt, SystemExit)

# The built-in directive classes (the closed union): a membership test per directive.
_BUILTIN: Final = frozenset(get_args(BuiltinDirective))


def _bad_params(action: str, errors: list[str], signal: Signal | None) -> Error:
    return Error(
        problem=Problem.of(
            ProblemKind.PARAMS,
            f"invalid params for action {action!r}: " + "; ".join(errors),
            action=action,
            errors=errors,
            signal_type=signal.type if signal is not None else None,
        )
    )


# Trusted construction on the hot path: Step, Context and Agent have no validators, and every
# field below comes from values the core already holds (or from an action's type-checked
# result), so the instances are filled through their slots' descriptors directly.
_new = object.__new__
_set_step_agent = Step.__dict__["agent"].__set__
_set_step_directives = Step.__dict__["directives"].__set__
_set_ctx_agent_id = Context.__dict__["agent_id"].__set__
_set_ctx_spec = Context.__dict__["spec"].__set__
_set_ctx_version = Context.__dict__["version"].__set__
_set_ctx_status = Context.__dict__["status"].__set__
_set_ctx_signal = Context.__dict__["signal"].__set__
_set_ctx_slice = Context.__dict__["slice"].__set__
_set_agent_id = Agent.__dict__["id"].__set__
_set_agent_spec = Agent.__dict__["spec"].__set__
_set_agent_state = Agent.__dict__["state"].__set__
_set_agent_version = Agent.__dict__["version"].__set__
_set_agent_status = Agent.__dict__["status"].__set__
_set_agent_slices = Agent.__dict__["slices"].__set__


def _step(agent: Agent[S], directives: tuple[Directive, ...]) -> Step[S]:
    new: Step[S] = _new(Step)
    _set_step_agent(new, agent)
    _set_step_directives(new, directives)
    return new


def _context(agent: Agent[Any], spec: str, signal: Signal | None, slice: str | None) -> Context:
    ctx: Context = _new(Context)
    _set_ctx_agent_id(ctx, agent.id)
    _set_ctx_spec(ctx, spec)
    _set_ctx_version(ctx, agent.version)
    _set_ctx_status(ctx, agent.status)
    _set_ctx_signal(ctx, signal)
    _set_ctx_slice(ctx, slice)
    return ctx


def _next_agent(agent: Agent[S], state: S, slices: FrozenMap[str, Any], status: str) -> Agent[S]:
    new: Agent[S] = _new(Agent)
    _set_agent_id(new, agent.id)
    _set_agent_spec(new, agent.spec)
    _set_agent_state(new, state)
    _set_agent_version(new, agent.version + 1)
    _set_agent_status(new, status)
    _set_agent_slices(new, slices)
    return new
