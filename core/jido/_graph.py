"""Mermaid diagrams of a spec: its routes, and its FSM table if it has one."""

from __future__ import annotations

import re
from typing import Any

from ._agent import AgentSpec
from ._strategy import FSM, Transition

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
    # Mermaid labels are quoted; a double quote inside one would end it.
    return text.replace('"', "'")


def to_mermaid(spec: AgentSpec[Any]) -> str:
    """Render ``spec`` as Mermaid: a ``stateDiagram-v2`` for an FSM, else a ``flowchart``.

    The FSM diagram declares every status as ``state "status" as st_...`` (an id of its own,
    so a status may be any text, a Mermaid keyword such as ``note`` or ``default`` included)
    and draws the rows ``FSM.decide`` can take, as ``source --> target: on / action``:

    * a ``"*"`` row is drawn from each status that has no row of its own with the same ``on``
      pattern (where it has one, that row always wins: ``decide`` looks at the ``"*"`` rows
      only when the status has none for the signal's type);
    * of several rows with the same source and the same ``on``, only the one ``decide`` takes
      is drawn (the highest ``priority``, then the first in the table).

    Rows are compared by their ``on`` pattern as written: a status's row whose different
    pattern matches some or all of the types a ``"*"`` row's does (``job.**`` and
    ``job.cancel``) does not hide the ``"*"`` row.

    The flowchart shows each route (pattern, priority, owner) and the action it runs.

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
    """
    if isinstance(spec.strategy, FSM):
        return _fsm(spec.strategy)
    return _routes(spec)


def _fsm(fsm: FSM) -> str:
    _node_id = _Ids()
    lines = ["stateDiagram-v2"]
    for status in fsm.statuses:
        # Every status is declared with an id of its own: used bare, a status that is a
        # Mermaid keyword (``note``, ``class``, ``default``...) would not parse.
        lines.append(f'    state "{_label(status)}" as {_node_id("st_", status)}')
    lines.append(f"    [*] --> {_node_id('st_', fsm.initial)}")
    # The row decide takes for each (source, on): the highest priority, then the first.
    taken: dict[tuple[str, str], Transition] = {}
    for t in fsm.transitions:
        known = taken.get((t.source, t.on))
        if known is None or t.priority > known.priority:
            taken[(t.source, t.on)] = t
    for t in fsm.transitions:
        if taken[(t.source, t.on)] is not t:
            continue
        label = t.on if t.action is None else f"{t.on} / {t.action.name}"
        if t.source == "*":
            sources = [s for s in fsm.statuses if (s, t.on) not in taken]
        else:
            sources = [t.source]
        for source in sources:
            lines.append(
                f"    {_node_id('st_', source)} --> {_node_id('st_', t.target)}: {_label(label)}"
            )
    return "\n".join(lines)


def _routes(spec: AgentSpec[Any]) -> str:
    _node_id = _Ids()
    lines = ["flowchart LR"]
    if not spec.router.routes:
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
    return "\n".join(lines)
