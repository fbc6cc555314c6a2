"""Agent specs (definitions) and agents (instance values)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any, Final, Generic, TypeVar, cast, final

import attrs
from cattrs.errors import StructureHandlerNotFoundError

from ._action import Action
from ._convert import prepare_params, prepare_state, state_type_problems, structure_params
from ._directives import Cron, Directive, Schedule
from ._errors import SpecError
from ._items import items
from ._json import EMPTY, FrozenMap, lone_surrogate
from ._plugin import Plugin
from ._router import Route, Router
from ._signal import DRAFT
from ._stamp import stamp
from ._state import StateOpError, fixed_times, may_hold_times, new_state
from ._strategy import FSM, Direct, Instruction, Strategy, _check_status

__all__ = ["Agent", "AgentSpec"]

S = TypeVar("S")

_NAME_RE: Final = re.compile(r"[A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]+)*")


def _fixed(state: S) -> S:
    return fixed_times(state) if may_hold_times(type(state)) else state


def _fixed_slices(value: Mapping[str, Any]) -> FrozenMap[str, Any]:
    # Slices enter an agent as ``state`` does (see ``_fixed``), and as the FrozenMap ``step``
    # updates with ``.set``: a plain dict would make a plugin's step crash.
    if not isinstance(value, Mapping):
        raise TypeError(f"slices {value!r:.60} is not a mapping of plugin names to states")
    if not value:
        return EMPTY
    fixed = {name: _fixed(state) for name, state in value.items()}
    if type(value) is FrozenMap and all(fixed[name] is s for name, s in value.items()):
        return value
    return FrozenMap(fixed)


@final
@attrs.frozen(kw_only=True)
class Agent(Generic[S]):
    """An agent as a value: what ``step`` takes and returns. Immutable.

    Attributes:
        id: unique within a runtime.
        spec: the name of the :class:`AgentSpec` it runs.
        state: the agent's state (an instance of the spec's state class).
        version: how many of its steps took effect: one in which an action succeeded
            (whether or not it changed the state), or that ran none and moved the status
            (an FSM transition without an action). A refused step, or one whose actions
            all failed, leaves it.
        status: the strategy's status (``"idle"`` under ``Direct``).
        slices: each plugin's state slice, by plugin name (any mapping, kept as a
            :class:`FrozenMap`; zoned times fixed as in ``state``).
    """

    id: str
    spec: str
    # A state enters an agent as it will come back from JSON: times in zones with rules at
    # their fixed offsets (see ``fixed_times``), however the agent is built. (``step`` makes
    # its agents without ``__init__``, and fixes what a step changed itself.)
    state: S = attrs.field(converter=_fixed)
    version: int = 0
    status: str = "idle"
    slices: FrozenMap[str, Any] = attrs.field(default=EMPTY, converter=_fixed_slices)


def _misplaced(spec: AgentSpec[Any]) -> list[str]:
    """Entries of the wrong kind (a string among the schedules, a function among the
    actions...), each named by where it is: the rest of the checks rely on the kinds."""
    problems: list[str] = []

    def check(
        where: str, items: Iterable[object], kind: type | tuple[type, ...], what: str
    ) -> None:
        for i, item in enumerate(items):
            if not isinstance(item, kind):
                problems.append(f"{where}[{i}] is {item!r:.60}, not {what}")

    check("routes", spec.routes, Route, "a Route")
    check("actions", spec.actions, Action, "an action")
    check("schedules", spec.schedules, (Schedule, Cron), "a Schedule or Cron")
    check("plugins", spec.plugins, Plugin, "a Plugin")
    for plugin in spec.plugins:
        if isinstance(plugin, Plugin):
            owner = f"plugin {plugin.name!r}"
            check(f"{owner} routes", plugin.routes, Route, "a Route")
            check(f"{owner} actions", plugin.actions, Action, "an action")
            check(f"{owner} schedules", plugin.schedules, (Schedule, Cron), "a Schedule or Cron")
    return problems


def _problems_of_spec(spec: AgentSpec[Any]) -> list[str]:
    problems: list[str] = []
    name: object = spec.name
    if not isinstance(name, str) or _NAME_RE.fullmatch(name) is None:
        problems.append(f"name {spec.name!r}: use dot-separated [A-Za-z0-9_-] segments")
    version: object = spec.schema_version
    if type(version) is not int or version < 1:
        # Stored with every registration and snapshot, and compared on restore.
        problems.append(f"schema_version {version!r}: use an integer >= 1")
    problems.extend(_problems_of_state(spec.state, ""))
    strategy: object = spec.strategy
    if isinstance(strategy, type):
        # A class has both members too (a property object and a function), so it would
        # pass as a strategy and fail on the first step.
        problems.append(
            f"strategy {strategy.__name__} is a class where an instance is expected"
            f" (write {strategy.__name__}(...))"
        )
    elif not isinstance(strategy, Strategy):
        problems.append(f"strategy {spec.strategy!r} lacks initial_status / decide")
    else:
        initial: object = strategy.initial_status
        try:
            # It becomes every new agent's status: checked as every status is.
            _check_status("initial_status", initial, wildcard=False)
        except (TypeError, ValueError) as exc:
            problems.append(f"strategy {strategy!r:.60}: {exc}")
    seen_plugins: dict[str, Plugin[Any]] = {}
    # Where two different plugins share a name, each is named by its place among the
    # plugins as well: "plugin 'x'" would not tell them apart (in a route conflict, say).
    shared = _shared_names(spec.plugins)
    for plugin in spec.plugins:
        plugin_name: object = plugin.name
        if not isinstance(plugin_name, str):
            # Reported, and kept out of ``seen_plugins``: it may not even be hashable.
            problems.append(f"plugin name {plugin_name!r:.60} is not a string: use [A-Za-z0-9_-]")
        else:
            if _NAME_RE.fullmatch(plugin_name) is None or "." in plugin_name:
                problems.append(f"plugin name {plugin_name!r}: use [A-Za-z0-9_-]")
            first = seen_plugins.get(plugin_name)
            if first is plugin:
                problems.append(f"plugin {plugin_name!r} is mounted twice")
            elif first is not None:
                problems.append(
                    f"two different plugins are named {plugin_name!r}: a plugin's name is the"
                    " key of its state slice, so each mounted plugin needs its own (rename one)"
                )
            seen_plugins.setdefault(plugin_name, plugin)
        slice_problems = _problems_of_state(plugin.state, f"plugin {plugin.name!r}: ")
        problems.extend(slice_problems)
        if not slice_problems and any(
            f.init and f.default is attrs.NOTHING for f in attrs.fields(plugin.state)
        ):
            # A slice starts from the state's defaults: there is nowhere to pass others.
            problems.append(
                f"plugin {plugin.name!r}: state {plugin.state.__name__} has fields without"
                " defaults; a slice starts from its defaults"
            )
    targets = [("the agent", r) for r in spec.routes]
    targets += [(f"plugin {p.name!r}", r) for p in spec.plugins for r in p.routes]
    for owner, route in targets:
        target: object = route.target
        if not isinstance(target, Action):
            problems.append(
                f"route {route.pattern!r} of {owner} targets {target!r}, not an action"
                " (decorate the function with @action)"
            )

    # Route conflicts: the same pattern claimed by two owners (the agent, or a plugin). Every
    # matching route runs, so this is almost always a mistake, and with no silent prefixing
    # it would otherwise go unnoticed.
    owners: dict[str, set[str]] = {}
    for route in spec.routes:
        owners.setdefault(route.pattern, set()).add("the agent")

    def owner_of(plugin: Plugin[Any]) -> str:
        name: object = plugin.name
        if isinstance(name, str) and shared.get(name, False):
            return f"plugin {name!r} (plugins[{_first_index(spec.plugins, plugin)}])"
        return f"plugin {name!r}"

    for plugin in spec.plugins:
        for route in plugin.routes:
            owners.setdefault(route.pattern, set()).add(owner_of(plugin))
    for pattern, who in owners.items():
        if len(who) > 1:
            problems.append(f"route {pattern!r} is claimed by {' and '.join(sorted(who))}")

    # Cron job ids: an interpreter keeps one job per id, so a second startup job under an id
    # would silently replace the first.
    declared: dict[str, list[str]] = {}
    schedules = [("the agent", spec.schedules)]
    schedules += [(owner_of(p), p.schedules) for p in spec.plugins]
    for owner, given in schedules:
        for d in given:
            if isinstance(d, Cron):
                declared.setdefault(d.job_id, []).append(owner)
    for job_id, by in declared.items():
        if len(by) > 1:
            named = [
                owner if by.count(owner) == 1 else f"{owner} ({by.count(owner)} times)"
                for owner in dict.fromkeys(by)
            ]
            problems.append(
                f"cron job_id {job_id!r} is declared by {' and '.join(named)}: only the last"
                " job would run"
            )

    # One-shot schedules of finished signals (drafts get ids of their own when the agent
    # starts, and each cron tick an id derived from its job's): a journal takes a second
    # signal of one source and id for a re-delivery of the first, and drops it.
    ids: dict[tuple[str, str], list[str]] = {}
    for owner, given in schedules:
        for d in given:
            if isinstance(d, Schedule) and d.signal.id != DRAFT:
                ids.setdefault((d.signal.source, d.signal.id), []).append(owner)
    for (source, signal_id), by in ids.items():
        if len(by) > 1:
            problems.append(
                f"{len(by)} schedules declared by {' and '.join(dict.fromkeys(by))} deliver"
                f" signals of one source {source!r} and id {signal_id!r}: with storage the"
                " second is dropped as a re-delivery (declare drafts, whose ids are derived)"
            )
    return problems


def _shared_names(plugins: tuple[Plugin[Any], ...]) -> dict[object, bool]:
    """For each hashable plugin name, whether two different plugin objects bear it."""
    holders: dict[object, list[Plugin[Any]]] = {}
    for plugin in plugins:
        name: object = plugin.name
        if isinstance(name, str):
            found = holders.setdefault(name, [])
            if not any(p is plugin for p in found):
                found.append(plugin)
    return {name: len(found) > 1 for name, found in holders.items()}


def _first_index(plugins: tuple[Plugin[Any], ...], plugin: Plugin[Any]) -> int:
    return next(i for i, p in enumerate(plugins) if p is plugin)


@attrs.frozen
class _Frozen:
    pass


# What attrs makes ``__setattr__`` of a frozen class (and of its subclasses).
_FROZEN_SETATTR: Final = _Frozen.__setattr__


def _problems_of_state(cls: type[Any], owner: str) -> list[str]:
    given: object = cls
    if not isinstance(given, type) and attrs.has(type(given)):
        # ``attrs.has`` answers for an instance as for its class: a ``S()`` for ``S`` would
        # be checked as a class, and reported as what it is not.
        name = type(given).__name__
        return [
            f"{owner}state {given!r:.60} is an instance where a class is expected"
            f" (pass {name} itself)"
        ]
    if not attrs.has(cls):
        return [f"{owner}state {cls!r} is not an attrs class"]
    name = getattr(cls, "__name__", repr(cls))
    if cls.__setattr__ is not _FROZEN_SETATTR:
        # Agents are values: ``step`` hands an action the state the caller still holds, so
        # a state an action could change in place would change the caller's agent (even
        # when the action then crashes, and the agent is said to be the last good state).
        return [f"{owner}state {name} is not frozen: declare it with @attrs.frozen"]
    try:
        prepare_state(cls)
    except Exception as exc:
        return [f"{owner}state {name}: its annotations do not resolve ({_reason(exc)})"]
    # Every agent round-trips through JSON: a field type the codec could not give back as
    # it was written is refused now, not at the first snapshot or restore.
    problems = [f"{owner}state {name}: {p}" for p in state_type_problems(cls)]
    if problems:
        return problems
    may_hold_times(cls)  # known before the first step (see ZONED)
    return []


def _problems_of_fixed_params(routes: Iterable[Route[Instruction]]) -> list[str]:
    # A route's fixed params are the same on every signal it takes: params its action refuses
    # would fail each of them, so they are refused with the spec.
    problems: list[str] = []
    for route in routes:
        ins = route.target
        if ins.params is None:
            continue
        act = ins.action
        errors = structure_params(ins.params, act.params, act.extra == "forbid")
        if type(errors) is list:
            owner = "the agent" if ins.slice is None else f"plugin {ins.slice!r}"
            problems.append(
                f"route {route.pattern!r} of {owner}: its params are invalid for action"
                f" {act.name!r}: " + "; ".join(errors)
            )
    return problems


def _problems_of_params(table: Mapping[str, Instruction]) -> list[str]:
    problems: list[str] = []
    for name, ins in table.items():
        params = ins.action.params
        try:
            prepare_params(params, ins.action.extra == "forbid")
        except StructureHandlerNotFoundError as exc:
            t = getattr(exc.type_, "__name__", exc.type_)
            problems.append(
                f"action {name!r}: params {params.__name__}: no parameters could be read from"
                f" JSON into a field of type {t} (use JsonValue for any JSON value, or an attrs"
                " class of fields JSON has)"
            )
        except Exception as exc:
            problems.append(
                f"action {name!r}: params {params.__name__}: its annotations do not resolve"
                f" ({_reason(exc)})"
            )
    return problems


def _reason(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


#: Unicode categories no agent id may hold: control characters (line feed, tab, escape...)
#: and the line and paragraph separators.
_BREAKS: Final = frozenset({"Cc", "Zl", "Zp"})


def check_agent_id(id: object) -> None:
    """Check ``id`` as an agent id, wherever one enters (a new agent, a stored one decoded).

    Raises:
        TypeError: ``id`` is not a string.
        ValueError: ``id`` is empty, or holds a lone surrogate (the agent's signals carry
            it, in their source, and must be writable as UTF-8), or holds a line break or a
            control character (a tab, an escape: it goes into log lines and reports as it
            is).
    """
    if not isinstance(id, str):
        raise TypeError(f"an agent id must be a string, not {id!r:.60}")
    if not id:
        raise ValueError("an agent id must not be empty")
    if not id.isascii() and lone_surrogate(id) is not None:
        raise ValueError(f"agent id {id!r:.60} holds a lone surrogate, which UTF-8 cannot encode")
    if not id.isprintable() and any(unicodedata.category(c) in _BREAKS for c in id):
        # An id goes into log lines and reports as it is: a line break in one (an id made
        # from outside data) would forge a line of its own. (Other characters
        # str.isprintable refuses, a joiner in a name or an emoji, a no-break space, are
        # text.)
        raise ValueError(
            f"agent id {id!r:.60} holds a line break or a control character: an id is"
            " one line of text"
        )


# Typed converters: with ``converter=tuple`` the attrs plugin would type the arguments as
# ``Iterable[_T_co]`` and lose the element types. The plugin types ``__init__``'s arguments
# from the converters', so routes and actions are generic in the state: an action for
# another state class is a type error where the spec is built, not ``Any``.
def _routes(value: Iterable[Route[Action[S, Any]]]) -> tuple[Route[Action[S, Any]], ...]:
    return items(value, "AgentSpec routes", "Route values")


def _actions(value: Iterable[Action[S, Any]]) -> tuple[Action[S, Any], ...]:
    return items(value, "AgentSpec actions", "actions")


def _plugins(value: Iterable[Plugin[Any]]) -> tuple[Plugin[Any], ...]:
    return items(value, "AgentSpec plugins", "Plugin values")


def _schedules(value: Iterable[Schedule | Cron]) -> tuple[Schedule | Cron, ...]:
    return items(value, "AgentSpec schedules", "Schedule or Cron values")


@final
@attrs.frozen(kw_only=True, eq=False)
class AgentSpec(Generic[S]):
    """The definition of a kind of agent. Immutable; compares by identity.

    Building a spec checks it and reports, in one ``SpecError``, every problem it finds
    (a spec whose names or state class are wrong is not checked further: its params
    classes' annotations are looked at once those are right).

    Attributes:
        name: how interpreters and other agents refer to this spec.
        state: the frozen attrs class of the agent's state; ``new`` uses its defaults
            (a field without one is given by the mapping ``new`` takes). Every field's
            type must round-trip through JSON (see ``docs/concepts.md``, Serialization).
        routes: signal patterns to actions.
        actions: further actions, callable through ``cmd`` only.
        strategy: :class:`Direct` (default), :class:`FSM`, or a custom :class:`Strategy`.
        plugins: plugins to mount.
        schedules: ``Schedule`` / ``Cron`` directives an interpreter registers on start.
        description: one line for docs and graphs.
        schema_version: the version of ``state``'s shape, for persisted snapshots.

    Raises:
        SpecError: the spec is inconsistent (bad names, duplicate plugins, action names bound
            to different actions, a route pattern claimed by two owners, a cron ``job_id``
            declared twice among the spec's and plugins' schedules, a state class that
            is not frozen (or an instance given where the class belongs), a state or params
            class whose annotations do not resolve, a strategy that is a class or whose
            initial status is not a status: a non-empty line of printable text, not
            ``"*"``...). Each problem names its culprit: the
            owner (the agent, or a plugin) and where in it.
    """

    name: str
    state: type[S]
    routes: tuple[Route[Action[S, Any]], ...] = attrs.field(default=(), converter=_routes)
    actions: tuple[Action[S, Any], ...] = attrs.field(default=(), converter=_actions)
    strategy: Strategy = attrs.field(factory=Direct)
    plugins: tuple[Plugin[Any], ...] = attrs.field(default=(), converter=_plugins)
    schedules: tuple[Schedule | Cron, ...] = attrs.field(default=(), converter=_schedules)
    description: str = ""
    schema_version: int = 1
    router: Router[Instruction] = attrs.field(init=False, repr=False)
    action_table: Mapping[str, Instruction] = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        misplaced = _misplaced(self)
        if misplaced:
            raise SpecError(str(self.name), misplaced)
        problems = _problems_of_spec(self)
        table: dict[str, Instruction] = {}

        bound_in: dict[str, str] = {}  # where each name in ``table`` was bound first

        def add(action: Action[Any, Any], slice: str | None, where: str) -> Instruction:
            known = table.get(action.name)
            if known is not None and known.action is not action:
                first = bound_in[action.name]
                places = f"both in {where}" if first == where else f"in {first} and in {where}"
                problems.append(
                    f"action name {action.name!r} is bound to two different actions: {places}"
                )
            elif known is not None and known.slice != slice:
                states = [
                    "the agent's state" if s is None else f"the slice of plugin {s!r}"
                    for s in (known.slice, slice)
                ]
                renamed = f"{slice or 'agent'}_{action.name}"
                factory = (
                    "; for a plugin factory mounted twice, make the copy inside the factory:"
                    f' attrs.evolve({action.name}, name=f"{{name}}_{action.name}")'
                    if known.slice is not None and slice is not None
                    else ""
                )
                problems.append(
                    f"action {action.name!r} works on {states[0]} and on {states[1]}: an action"
                    " works on one state (give the other use an action of its own, a copy"
                    f" under another name: attrs.evolve({action.name}, name={renamed!r}){factory})"
                )
            ins = Instruction(action=action, slice=slice)
            table.setdefault(action.name, ins)
            bound_in.setdefault(action.name, where)
            return ins

        routes: list[Route[Instruction]] = []
        for route in self.routes:
            target: object = route.target
            if not isinstance(target, Action):
                continue  # reported above
            ins = add(target, None, f"route {route.pattern!r} of the agent")
            routes.append(_retarget(route, attrs.evolve(ins, params=route.params)))
        for act in self.actions:
            add(act, None, "the actions of the agent")
        if isinstance(self.strategy, FSM):
            for act in self.strategy.actions():
                add(act, None, "the FSM table of the agent")
        for plugin in self.plugins:
            for route in plugin.routes:
                plugged: object = route.target
                if not isinstance(plugged, Action):
                    continue  # reported above
                ins = add(
                    plugged, plugin.name, f"route {route.pattern!r} of plugin {plugin.name!r}"
                )
                routes.append(_retarget(route, attrs.evolve(ins, params=route.params)))
            for act in plugin.actions:
                add(act, plugin.name, f"the actions of plugin {plugin.name!r}")
        if not problems:
            # Only once the rest holds: each action named once, each params an attrs class.
            problems.extend(_problems_of_params(table))
        if not problems:
            problems.extend(_problems_of_fixed_params(routes))
        if problems:
            raise SpecError(str(self.name), problems)
        object.__setattr__(self, "router", Router(routes))
        object.__setattr__(self, "action_table", FrozenMap(table))

    def new(self, id: str, state: S | Mapping[str, Any] | None = None) -> Agent[S]:
        """A fresh agent: version 0, the strategy's initial status, default plugin slices.

        Args:
            id: the agent's id.
            state: a state instance, a mapping merged over the defaults (like ``SetState``),
                or ``None`` for the defaults. A state class with fields without defaults
                is built from the mapping, which must give each of them.

        Raises:
            TypeError: ``id`` is not a string; the state class has fields without
                defaults that ``state`` does not give (the message names them), or
                ``state`` does not fit it.
            ValueError: ``id`` is empty, or holds a lone surrogate (the agent's signals carry
                it, in their source, and must be writable as UTF-8), or holds a line break
                or a control character (a tab, an escape: it goes into log lines and
                reports as it is).
        """
        check_agent_id(id)
        if state is None or isinstance(state, Mapping):
            try:
                value: S = new_state(self.state, state or EMPTY)
            except StateOpError as exc:
                raise TypeError(f"initial state for {self.name!r}: {exc}") from None
        elif isinstance(state, self.state):
            value = state
        else:
            raise TypeError(f"state for {self.name!r} must be a {self.state.__name__}")
        return Agent(
            id=id,
            spec=self.name,
            state=value,  # fixed by Agent's converter
            status=self.strategy.initial_status,
            slices={p.name: p.state() for p in self.plugins},  # fixed by Agent's converter
        )

    def startup(self, agent: Agent[S]) -> tuple[Schedule | Cron, ...]:
        """The spec's and plugins' schedules, stamped for ``agent``: what to register on start."""
        declared: list[Directive] = list(self.schedules)
        for plugin in self.plugins:
            declared.extend(plugin.schedules)
        # ``stamp`` gives each directive back as one of its own class, its signal stamped.
        return cast(
            "tuple[Schedule | Cron, ...]",
            stamp(declared, agent_id=agent.id, cause_id=f"start:{agent.id}", cause=None),
        )


def _retarget(route: Route[Any], target: Instruction) -> Route[Instruction]:
    return Route(pattern=route.pattern, target=target, priority=route.priority, guard=route.guard)
