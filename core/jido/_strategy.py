"""Strategies: how an agent decides what to run for a signal.

``step`` routes the signal, then asks the spec's strategy for a :data:`Decision`: either
:class:`Run` (these instructions, then maybe a new status) or :class:`Refuse` (a problem; state
and status stay as they were). Two strategies ship: :class:`Direct` and :class:`FSM`. A custom
strategy is any object with the two members of :class:`Strategy`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final, Protocol, TypeAlias, final, runtime_checkable

import attrs

from ._action import Action
from ._errors import InvalidPattern, Problem, ProblemKind
from ._json import FrozenMap, JsonValue
from ._router import Route, Router, _check_priority, _overlap, _uncovered, validate_pattern
from ._signal import Signal

__all__ = [
    "FSM",
    "IDLE",
    "Decision",
    "Direct",
    "Instruction",
    "Refuse",
    "Run",
    "Strategy",
    "Transition",
]

#: The status of an agent whose strategy keeps none (``Direct``).
IDLE: Final = "idle"


@final
@attrs.frozen(kw_only=True)
class Instruction:
    """One action to run, with where its parameters and state come from.

    Attributes:
        action: what to run.
        params: fixed parameters, or ``None`` for "the signal's data".
        slice: the plugin whose state slice the action works on, or ``None`` for the agent's.
    """

    action: Action[Any, Any] = attrs.field(validator=attrs.validators.instance_of(Action))
    params: FrozenMap[str, JsonValue] | None = None
    slice: str | None = None


@final
@attrs.frozen
class Run:
    """Run ``instructions`` in order; then, if all succeeded, move to ``next_status``.

    Attributes:
        instructions: run in order, each on the state the previous one left; one failing does
            not stop the next. Empty runs nothing.
        next_status: the agent's status after the step if no instruction failed, or ``None``
            to keep the current one. With no instructions the status still moves.

    Raises:
        TypeError: ``next_status`` is neither a string nor ``None``.
        ValueError: ``next_status`` is not a status: a non-empty line of printable text,
            not ``"*"`` (which in an FSM table means any status), as everywhere a status
            enters (an initial status, an FSM row).
    """

    instructions: tuple[Instruction, ...]
    next_status: str | None = attrs.field(default=None)

    @next_status.validator
    def _check_next_status(self, attribute: attrs.Attribute[str | None], value: object) -> None:
        if value is not None:
            _check_status(attribute.name, value, wildcard=False)


@final
@attrs.frozen
class Refuse:
    """Run nothing; report ``problem``.

    ``step`` returns the agent unchanged (state, status and version) with one ``Error``
    directive carrying ``problem``.
    """

    problem: Problem = attrs.field(validator=attrs.validators.instance_of(Problem))


#: What :meth:`Strategy.decide` returns: exactly a :class:`Run` or a :class:`Refuse` (``step``
#: raises ``TypeError`` on anything else, a bug in the strategy).
Decision: TypeAlias = Run | Refuse


@runtime_checkable
class Strategy(Protocol):
    """What ``step`` asks of a strategy. Implementations must be pure and deterministic.

    Any object with these two members is a strategy: an instance, not a class. ``AgentSpec``
    checks that it has both, that it is no class, and that :attr:`initial_status` is a
    status (a non-empty line of printable text, not ``"*"``), and raises ``SpecError``
    naming what is wrong otherwise. ``step`` calls :meth:`decide` once per signal and acts
    on the decision; the strategy itself never touches the agent.
    """

    @property
    def initial_status(self) -> str:
        """The status of a new agent (``AgentSpec.new`` puts it in ``Agent.status``)."""
        ...

    def decide(
        self, status: str, signal: Signal, routed: tuple[Route[Instruction], ...]
    ) -> Decision:
        """Choose what to run for ``signal`` in ``status``, given the routes that matched.

        Args:
            status: the agent's current status.
            signal: the signal being handled.
            routed: the routes of the spec that handle ``signal``, guards applied, in run
                order; empty if none matched. Each route's ``target`` is the
                :class:`Instruction` to run (the spec makes one of every route's action), so
                ``Run(tuple(r.target for r in routed))`` runs them all.

        An instruction for an action no route matched is the spec's own,
        ``spec.action_table[name]`` (an action the spec lists in ``actions``, say), or
        ``attrs.evolve`` of one to give it params: it carries the state the action works
        on (its ``slice``, a plugin's name, or ``None`` for the agent's state). One built
        by hand that binds an action of the spec to another state (a plugin's action
        without its ``slice``, the agent's with one) does not run: ``step`` gives an
        ``action`` ``Error`` directive naming the action and both states, as ``cmd`` does.

        Returns:
            :class:`Run` (instructions, and maybe a next status) or :class:`Refuse` (a problem
            for an ``Error`` directive; nothing runs). The same arguments must give an equal
            decision, and bad data must give ``Refuse``, never an exception.
        """
        ...


def _unrouted(signal: Signal) -> Refuse:
    return Refuse(
        Problem.of(
            ProblemKind.ROUTING,
            f"no route for signal type {signal.type!r}",
            signal_type=signal.type,
            signal_id=signal.id,
        )
    )


@final
@attrs.frozen
class Direct:
    """Run every routed action, in route order. The status stays :data:`IDLE`."""

    @property
    def initial_status(self) -> str:
        """Always :data:`IDLE`."""
        return IDLE

    def decide(
        self, status: str, signal: Signal, routed: tuple[Route[Instruction], ...]
    ) -> Decision:
        """Run the targets of ``routed`` in order, whatever ``status`` is.

        Returns:
            ``Run(instructions)`` with no status change, or, if ``routed`` is empty,
            :class:`Refuse` with a ``routing`` problem whose details name the signal's type
            and id.
        """
        if not routed:
            return _unrouted(signal)
        # Routers hand out one tuple per signal type (guards aside), so its identity keys a
        # memo of the decision; the entry holds the tuple, so the id cannot be reused.
        hit = _RUNS.get(id(routed))
        if hit is not None and hit[0] is routed:
            return hit[1]
        run = Run(tuple([r.target for r in routed]))
        if len(_RUNS) >= _RUNS_LIMIT:
            _RUNS.clear()
        _RUNS[id(routed)] = (routed, run)
        return run


# Direct's decisions by routed tuple: a memo of a pure function, bounded.
_RUNS: dict[int, tuple[tuple[Route[Instruction], ...], Run]] = {}
_RUNS_LIMIT: Final = 4096


@final
@attrs.frozen(kw_only=True)
class Transition:
    """One row of an FSM table: in ``source``, a signal matching ``on`` moves to ``target``.

    Attributes:
        source: the status the row applies in (``"*"`` for any status).
        on: a signal type pattern (exact, ``*`` or ``**``, as in routes).
        target: the status after the transition.
        action: run on the transition (before routed actions), on the agent's state (a
            plugin's action here is a ``SpecError``: an action works on one state); the
            transition happens only if every action succeeds, the routed ones included.
            One failing does not stop the others, and what they did commits.
        priority: breaks ties when several rows match in one status (higher wins);
            -100..100, as a route's.

    Raises:
        TypeError: ``source`` or ``target`` is not a string.
        ValueError: ``source`` or ``target`` is not a status (a non-empty line of printable
            text; ``"*"`` only as the source), or ``priority`` is not an integer in -100..100.
        InvalidPattern: ``on`` is not a valid signal type pattern.
        TypeError: ``action`` is not an action.

    The errors about ``on`` and ``priority`` name the row by its source and ``on``.
    """

    source: str = attrs.field(validator=lambda _, a, v: _check_status(a.name, v, wildcard=True))
    on: str = attrs.field()
    target: str = attrs.field(validator=lambda _, a, v: _check_status(a.name, v, wildcard=False))
    action: Action[Any, Any] | None = attrs.field(
        default=None,
        validator=attrs.validators.optional(attrs.validators.instance_of(Action)),
    )
    priority: int = attrs.field(default=0)

    # Checked here, where the row is written, rather than when an FSM makes routes of its
    # rows: there the error could only name a route pattern, not the row.
    @on.validator
    def _check_on(self, _: object, value: object) -> None:
        try:
            validate_pattern(value)
        except InvalidPattern as exc:
            raise InvalidPattern(
                str(value), f"{exc.reason} (the on of the row from {self.source!r})"
            ) from None

    @priority.validator
    def _check_row_priority(self, _: object, value: object) -> None:
        try:
            _check_priority(value)
        except ValueError as exc:
            raise ValueError(f"row from {self.source!r} on {self.on!r}: {exc}") from None


def _check_status(field: str, value: object, *, wildcard: bool) -> None:
    """A status is a non-empty line of printable text (it is stored, rendered and compared as
    one); ``"*"`` means any status, so it may only be a row's source.

    The one check of a status, wherever one enters: ``Run.next_status``, a strategy's
    initial status (``AgentSpec``), an FSM's initial status and its rows.

    Raises:
        TypeError: ``value`` is not a string (the message names ``field``).
        ValueError: it is not a status (the message names ``field``).
    """
    if not isinstance(value, str):
        raise TypeError(
            f"{field} {value!r:.60} is not a string: a status is a non-empty line of printable text"
        )
    if not value or not value.isprintable():
        raise ValueError(f"{field} {value!r:.60}: a status is a non-empty line of printable text")
    if value == "*" and not wildcard:
        raise ValueError(
            f"{field} '*': means any status (an FSM row's source), so it is no status itself"
        )


def _rank(t: Transition, index: int) -> tuple[int, int, int, int, int]:
    """Where row ``index`` comes among the rows of its group matching a type: as ``decide``
    (a :class:`Router` of the group) orders them, smallest first."""
    route = Route(pattern=t.on, target=None, priority=t.priority)
    lit, stars, dstars = route.specificity
    return (-t.priority, -lit, -stars, -dstars, index)


def _why_wins(winner: Transition, loser: Transition) -> str:
    if winner.priority != loser.priority:
        return f"a higher priority ({winner.priority})"
    if _rank(winner, 0)[:4] != _rank(loser, 0)[:4]:
        return "the same priority and a more specific on"
    return "the same priority and specificity, and comes first"


def _dead_rows(rows: tuple[Transition, ...]) -> list[str]:
    """The rows ``decide`` can never take, each with the rows that always win over it.

    ``decide`` picks among the rows whose source is the status, else among the ``"*"`` rows:
    each group apart (a status's rows never hide a ``"*"`` row in every status, as an agent
    restored from storage may be in any). In a group, a row is dead when every type its
    ``on`` matches is matched by rows that come before it in the group's route order.
    """
    groups: dict[str, list[int]] = {}
    for i, t in enumerate(rows):
        groups.setdefault(t.source, []).append(i)
    segments = [validate_pattern(t.on) for t in rows]
    problems: list[str] = []
    for members in groups.values():
        # The group's rows as decide orders them (priority, specificity, table order).
        order = Router(
            [Route(pattern=rows[i].on, target=i, priority=rows[i].priority) for i in members]
        )
        ranked = sorted(members, key=lambda i: _rank(rows[i], i))
        for j in members:
            t = rows[j]
            mine = segments[j]
            if "*" not in mine and "**" not in mine:
                # A row on one type: dead when another row comes first for that type.
                first = order.candidates(t.on)[0].target
                winners = [] if first == j else [first]
                alone = winners
            else:
                winners = [i for i in ranked[: ranked.index(j)] if _overlap(segments[i], mine)]
                if not winners or _uncovered(mine, [segments[i] for i in winners]) is not None:
                    continue
                alone = [i for i in winners if _uncovered(mine, [segments[i]]) is None]
            if not winners:
                continue
            row = f"row {j} (from {t.source!r} on {t.on!r}) never applies: "
            if alone and rows[alone[0]].on == t.on and rows[alone[0]].priority == t.priority:
                problems.append(
                    f"{row}row {alone[0]} has the same source, on and priority ({t.priority})"
                    " and always wins; give one a higher priority, or remove one"
                )
            elif alone:
                w = rows[alone[0]]
                problems.append(
                    f"{row}row {alone[0]} (on {w.on!r}) matches every type it does and wins"
                    f" with {_why_wins(w, t)}; remove the row, or give it a higher priority"
                )
            else:
                # No one row covers it; the fewest of the winners that do between them.
                needed = list(winners)
                for i in winners:
                    rest = [k for k in needed if k != i]
                    if _uncovered(mine, [segments[k] for k in rest]) is None:
                        needed = rest
                named = ", ".join(f"{i} (on {rows[i].on!r})" for i in sorted(needed))
                problems.append(
                    f"{row}rows {named} between them match every type it does, and each wins"
                    " over it; remove the row, or give it a higher priority"
                )
    return problems


def _check_table(initial: str, rows: tuple[Transition, ...]) -> None:
    """Refuse a table with rows that can never apply (see :class:`FSM`), naming them all."""
    if not rows:
        return  # no controlled signal: a status that never moves, as asked
    # (A row from a status no row leads to is not one: an agent restored from storage may
    # be in it, left by an older table, and such a row is its way out.)
    problems = _dead_rows(rows)
    if not any(t.source in (initial, "*") for t in rows):
        problems.append(
            f"no row leaves the initial status {initial!r}: the agent would refuse every"
            " controlled signal for ever"
        )
    if problems:
        raise ValueError("FSM table: " + "; ".join(problems))


def _transitions(value: Iterable[Transition]) -> tuple[Transition, ...]:
    rows = tuple(value)
    for i, row in enumerate(rows):
        if not isinstance(row, Transition):
            raise TypeError(f"FSM row {i} is {row!r}, not a Transition")
    return rows


@final
@attrs.frozen(eq=False)
class FSM:
    """A finite-state machine over the agent's status.

    Signal types that some row's ``on`` pattern matches are *controlled*: in a status with no
    matching row they are refused with a ``transition`` problem naming the status and the
    type. Other signal types are handled like :class:`Direct`.

    Attributes:
        initial: the status of a new agent.
        transitions: the table's rows (any iterable of :class:`Transition`, kept as a tuple).

    Raises:
        TypeError: a row is not a :class:`Transition` (the error names its index), or
            ``initial`` is not a string.
        ValueError: ``initial`` is not a status (a non-empty line of printable text, not
            ``"*"``); or the table is wrong in a way that would only show when a signal is
            refused, each named: a row :meth:`decide` can never take, because every type its
            ``on`` matches is matched by rows of the same source that win over it (a higher
            priority, or the same one and a more specific ``on``, or both the same and
            earlier in the table: ``order.payment.*`` at priority 5 hides
            ``order.payment.captured`` at 0, and a copy of an earlier row is hidden by it);
            or no row at all leaving the initial status (a new agent would refuse every
            controlled signal for ever). A ``"*"`` row is hidden only by ``"*"`` rows.

    A row checks itself when it is built (see :class:`Transition`).

    >>> fsm = FSM("idle", [Transition(source="idle", on="job.started", target="busy")])
    >>> fsm.statuses
    ('idle', 'busy')
    """

    initial: str = attrs.field(validator=lambda _, a, v: _check_status(a.name, v, wildcard=False))
    transitions: tuple[Transition, ...] = attrs.field(converter=_transitions)
    _controlled: Router[Transition] = attrs.field(init=False, repr=False)
    _by_status: dict[str, Router[Transition]] = attrs.field(init=False, repr=False)
    _any: Router[Transition] = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        def route(t: Transition) -> Route[Transition]:
            return Route(pattern=t.on, target=t, priority=t.priority)

        by_status: dict[str, list[Route[Transition]]] = {}
        for t in self.transitions:
            if t.source != "*":
                by_status.setdefault(t.source, []).append(route(t))
        _check_table(self.initial, self.transitions)
        object.__setattr__(self, "_controlled", Router(route(t) for t in self.transitions))
        object.__setattr__(
            self, "_any", Router(route(t) for t in self.transitions if t.source == "*")
        )
        object.__setattr__(self, "_by_status", {s: Router(rs) for s, rs in by_status.items()})

    @property
    def initial_status(self) -> str:
        """:attr:`initial`."""
        return self.initial

    @property
    def statuses(self) -> tuple[str, ...]:
        """Every status named in the table, the initial one first, in order of appearance."""
        seen: dict[str, None] = {self.initial: None}
        for t in self.transitions:
            if t.source != "*":
                seen[t.source] = None
            seen[t.target] = None
        return tuple(seen)

    def actions(self) -> Iterable[Action[Any, Any]]:
        """The actions the table runs."""
        return (t.action for t in self.transitions if t.action is not None)

    def decide(
        self, status: str, signal: Signal, routed: tuple[Route[Instruction], ...]
    ) -> Decision:
        """Pick the transition for ``signal`` in ``status``, or fall back to routing.

        For a controlled type, the row is chosen among those whose ``source`` is ``status``,
        else among the ``"*"`` rows; within one group the first in route order wins (highest
        ``priority``, then the most specific ``on`` pattern, then table order).

        Returns:
            For a controlled type with a row: ``Run`` of the row's action (if any) then the
            routed actions, moving to the row's ``target``. For a controlled type without
            one: :class:`Refuse` with a ``transition`` problem whose details name the status,
            the signal type and the signal id (routed actions do not run). For any other
            type: as :meth:`Direct.decide`.
        """
        if not self._controlled.candidates(signal.type):
            return Direct().decide(status, signal, routed)
        router = self._by_status.get(status)
        rows = router.match(signal) if router is not None else ()
        if not rows:
            rows = self._any.match(signal)
        if not rows:
            return Refuse(
                Problem.of(
                    ProblemKind.TRANSITION,
                    f"no transition from status {status!r} on signal type {signal.type!r}",
                    status=status,
                    signal_type=signal.type,
                    signal_id=signal.id,
                )
            )
        row = rows[0].target
        first = () if row.action is None else (Instruction(action=row.action),)
        return Run(first + tuple(r.target for r in routed), row.target)
