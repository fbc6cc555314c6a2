"""Mermaid diagrams of a spec: its routes, and its FSM table if it has one."""

from __future__ import annotations

import re
from typing import Any, assert_never

from ._agent import AgentSpec
from ._directives import Cron, Schedule
from ._router import Route, _overlap, _uncovered, validate_pattern
from ._strategy import FSM, Instruction, Transition, _rank

__all__ = ["to_mermaid"]


class _Ids:
    """Mermaid node ids for names: the name with other characters than letters, digits and
    ``_`` replaced, and a number added where two names would otherwise share one."""

    def __init__(self) -> None:
        self._of: dict[tuple[str, object], str] = {}
        self._taken: set[str] = set()

    def __call__(self, prefix: str, text: str, key: object = None) -> str:
        # ``key`` says what the node stands for, when its text alone does not (an action is
        # its plugin and its name: ``stats__reset`` of the agent is not ``reset`` of stats).
        key = (prefix, text if key is None else key)
        known = self._of.get(key)
        if known is not None:
            return known
        base = prefix + re.sub(r"[^A-Za-z0-9_]", "_", text)
        node, n = base, 1
        while node in self._taken:
            n += 1
            node = f"{base}_{n}"
        self._taken.add(node)
        self._of[key] = node
        return node


def _label(text: str) -> str:
    # Mermaid labels are quoted; a double quote inside one would end it (and a line break,
    # in a job id say, the statement).
    return text.replace('"', "'").replace("\n", " ")


def to_mermaid(spec: AgentSpec[Any]) -> str:
    """Render ``spec`` as Mermaid: a ``stateDiagram-v2`` for an FSM, else a ``flowchart``.

    The FSM diagram declares every status as ``state "status" as st_...`` (an id of its own,
    so a status may be any text, a Mermaid keyword such as ``note`` or ``default`` included)
    and draws the rows ``FSM.decide`` can take, as ``source --> target: on / action``:

    * a ``"*"`` row is drawn from each status in which some type it matches is matched by
      no row of that status (``decide`` looks at the ``"*"`` rows only when the status has
      none for the signal's type) and by no ``"*"`` row ordered before it: from a status
      with ``job.**`` of its own, a ``"*"`` row on ``job.cancel`` is not drawn;
    * every other row is drawn from its source: FSM refuses a table with a row ``decide``
      could never take (one whose types all go to rows of its source that win over it).

    A status no row leaves is an end state, drawn as ``status --> [*]``. The spec's routes
    (its own and its plugins') are a note on the initial status, each as ``pattern /
    action``: first those whose pattern no row's ``on`` can match (they run in any status
    and leave it as it is: ``child.started``, a deadline), then those whose pattern a row's
    can (for a type a row matches they run after its action, in a status with such a row,
    and without one the signal is refused; for any other type, as the first).

    The flowchart shows each route (pattern, priority, owner) and the action it runs.

    Both show the schedules the spec and its plugins declare (what an interpreter registers
    on start): the flowchart as a clock node with a dotted edge to each route whose pattern
    matches the scheduled signal's type (guards aside), or to a node for the type marked
    "no route"; the state diagram as a note on the initial status.

    >>> import attrs
    >>> @attrs.frozen
    ... class S: pass
    >>> print(to_mermaid(AgentSpec(name="empty", state=S)))
    flowchart LR
        %% agent spec empty: no routes
    >>> fsm = FSM("idle", [Transition(source="idle", on="job.started", target="note")])
    >>> print(to_mermaid(AgentSpec(name="job", state=S, strategy=fsm)))
    stateDiagram-v2
        state "idle" as st_idle
        state "note" as st_note
        [*] --> st_idle
        st_idle --> st_note: job.started
        st_note --> [*]
    """
    if isinstance(spec.strategy, FSM):
        return _fsm(spec.strategy, spec, _declared(spec))
    return _routes(spec)


def _declared(spec: AgentSpec[Any]) -> list[tuple[str, Schedule | Cron]]:
    # The declared schedules with their owners, in the order an interpreter registers them.
    found = [("", s) for s in spec.schedules]
    for plugin in spec.plugins:
        found += [(plugin.name, s) for s in plugin.schedules]
    return found


def _when(schedule: Schedule | Cron, owner: str) -> str:
    # What a reader needs to know of a schedule: when it fires, and whose it is.
    by = f" ({owner})" if owner else ""
    match schedule:
        case Schedule(delay=delay):
            return f"after {delay:g} s{by}"
        case Cron(expression=expression, timezone=timezone, job_id=job_id):
            zone = "" if timezone == "UTC" else f" {timezone}"
            return f"cron {expression}{zone}, job {job_id}{by}"
        case _:
            assert_never(schedule)


def _route_text(route: Route[Instruction]) -> str:
    # A route as a note line: what the flowchart's nodes and edge say of it.
    ins = route.target
    owner = f" ({ins.slice})" if ins.slice else ""
    priority = f", priority {route.priority}" if route.priority else ""
    return f"{route.pattern} / {ins.action.name}{owner}{priority}"


def _fsm(fsm: FSM, spec: AgentSpec[Any], declared: list[tuple[str, Schedule | Cron]]) -> str:
    _node_id = _Ids()
    lines = ["stateDiagram-v2"]
    for status in fsm.statuses:
        # Every status is declared with an id of its own: used bare, a status that is a
        # Mermaid keyword (``note``, ``class``, ``default``...) would not parse.
        lines.append(f'    state "{_label(status)}" as {_node_id("st_", status)}')
    lines.append(f"    [*] --> {_node_id('st_', fsm.initial)}")
    left: set[str] = set()  # the statuses a row leaves: the others are end states
    # Every row is one decide can take in its source (FSM refuses a table with one it
    # cannot); a "*" row is taken in a status only for a type none of its rows match.
    own: dict[str, list[tuple[str, ...]]] = {}
    stars: list[tuple[int, Transition]] = []
    for i, t in enumerate(fsm.transitions):
        if t.source == "*":
            stars.append((i, t))
        else:
            own.setdefault(t.source, []).append(validate_pattern(t.on))
    for i, t in enumerate(fsm.transitions):
        label = t.on if t.action is None else f"{t.on} / {t.action.name}"
        if t.source == "*":
            on = validate_pattern(t.on)
            ahead = [validate_pattern(w.on) for k, w in stars if _rank(w, k) < _rank(t, i)]
            sources = [
                s for s in fsm.statuses if _uncovered(on, [*own.get(s, ()), *ahead]) is not None
            ]
        else:
            sources = [t.source]
        for source in sources:
            left.add(source)
            lines.append(
                f"    {_node_id('st_', source)} --> {_node_id('st_', t.target)}: {_label(label)}"
            )
    for status in fsm.statuses:
        if status not in left:
            lines.append(f"    {_node_id('st_', status)} --> [*]")
    # Routes are not the table's: whatever the status, a signal of a type no row controls
    # goes to them (as under Direct), so they are noted once, beside the table.
    ons = [validate_pattern(t.on) for t in fsm.transitions]
    plain: list[str] = []
    with_row: list[str] = []
    for route in spec.router.routes:
        segments = validate_pattern(route.pattern)
        controlled = any(_overlap(segments, on) for on in ons)
        (with_row if controlled else plain).append(_route_text(route))
    if plain or with_row:
        lines.append(f"    note left of {_node_id('st_', fsm.initial)}")
        for heading, texts in (
            ("routes, in any status (status unchanged):", plain),
            ("routes run after a row's action:", with_row),
        ):
            if texts:
                lines.append(f"        {heading}")
                lines.extend(f"        {_label(text)}" for text in texts)
        lines.append("    end note")
    if declared:
        # Registered on start, so noted on the status the agent starts in.
        lines.append(f"    note right of {_node_id('st_', fsm.initial)}")
        lines.append("        on start:")
        for owner, schedule in declared:
            what = f"{_when(schedule, owner)}: {schedule.signal.type}"
            lines.append(f"        {_label(what)}")
        lines.append("    end note")
    return "\n".join(lines)


def _routes(spec: AgentSpec[Any]) -> str:
    _node_id = _Ids()
    lines = ["flowchart LR"]
    declared = _declared(spec)
    if not spec.router.routes and not declared:
        lines.append(f"    %% agent spec {spec.name}: no routes")
        return "\n".join(lines)
    seen: set[str] = set()
    for route in spec.router.routes:
        ins = route.target
        sig = _node_id("sig_", route.pattern)
        act = _node_id(
            "act_",
            (ins.slice + "__" if ins.slice else "") + ins.action.name,
            (ins.slice, ins.action.name),
        )
        if sig not in seen:
            lines.append(f'    {sig}(["{_label(route.pattern)}"])')
            seen.add(sig)
        if act not in seen:
            owner = f" ({ins.slice})" if ins.slice else ""
            lines.append(f'    {act}["{_label(ins.action.name)}{owner}"]')
            seen.add(act)
        edge = f"|priority {route.priority}|" if route.priority else ""
        lines.append(f"    {sig} -->{edge} {act}")
    for n, (owner, schedule) in enumerate(declared, start=1):
        clock = _node_id("clk_", str(n))
        kind = schedule.signal.type
        lines.append(f'    {clock}{{{{"{_label(_when(schedule, owner))}"}}}}')
        routes = spec.router.candidates(kind)
        targets = [_node_id("sig_", r.pattern) for r in routes]
        if not targets:
            unrouted = _node_id("sig_", kind)
            if unrouted not in seen:
                lines.append(f'    {unrouted}(["{_label(kind)} (no route)"])')
                seen.add(unrouted)
            targets = [unrouted]
        for target in dict.fromkeys(targets):
            lines.append(f'    {clock} -.->|"{_label(kind)}"| {target}')
    return "\n".join(lines)
