"""Review reports: what a run did (or would do), per signal, as text, Markdown or JSON."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from enum import Enum
from typing import Any, Final, Literal, assert_never, final

import attrs

from jido import (
    AdoptChild,
    Agent,
    Cron,
    CronCancel,
    CustomDirective,
    Directive,
    Emit,
    Error,
    FrozenMap,
    Invoke,
    Problem,
    Schedule,
    SpawnAgent,
    StartSensor,
    Stop,
    StopChild,
    StopSensor,
    ToAgent,
    ToParent,
    ToSelf,
    ToSink,
    thaw,
)
from jido.serde import Codec, EncodeError

from ._trace import TraceEntry

__all__ = ["Change", "Review", "ReviewStep", "describe", "review"]


@final
@attrs.frozen
class Change:
    """One value that changed: ``path`` like ``state.count`` or ``slices.audit.events`` (a
    map key with a dot, a bracket, a quote or a space in it is quoted: ``state.m["a.b"]``).

    ``kind`` tells a value that was ``null`` from one that was not there: ``"added"`` (no
    ``before``), ``"removed"`` (no ``after``; a map key deleted) or ``"changed"``.
    """

    path: str
    before: Any
    after: Any
    kind: Literal["added", "removed", "changed"] = "changed"


@final
@attrs.frozen(kw_only=True)
class ReviewStep:
    """One signal handled, as a reviewer reads it."""

    index: int
    at: float
    agent_id: str
    signal_type: str
    signal_id: str
    changes: tuple[Change, ...]
    directives: tuple[str, ...]
    effects: tuple[str, ...]
    problems: tuple[str, ...]


def _json(value: Any, default: Callable[[Any], Any] | None = None) -> str:
    return json.dumps(
        value, separators=(", ", ": "), ensure_ascii=False, sort_keys=True, default=default
    )


def describe(d: Directive, codec: Codec | None = None) -> str:
    """One line saying what a directive asks for.

    A custom directive shows its class and its fields: as ``codec`` writes them when it
    knows the class (its JSON form, the tag left out), else its attrs fields as they are
    (a value JSON has no form for shown by its ``repr``). Keys are sorted either way, so
    the line is the same in every run.

    >>> from jido import emit
    >>> describe(emit("order.placed", {"n": 1}))
    'emit order.placed {"n": 1} to self'
    """
    if isinstance(d, CustomDirective):
        return f"custom {type(d).__name__} {_custom_fields(d, codec)}"
    match d:
        case Emit(signal=s, to=to):
            data = "" if s.data is None else " " + _json(thaw(s.data))
            match to:
                case ToSelf():
                    where = "self"
                case ToParent():
                    where = "parent"
                case ToAgent(id=i):
                    where = f"agent {i}"
                case ToSink(name=n):
                    where = f"sink {n}"
                case _:
                    assert_never(to)
            return f"emit {s.type}{data} to {where}"
        case Invoke(effect=e, args=a, on_ok=ok, on_error=err):
            return f"invoke {e}({_json(thaw(a))}) -> {ok} | {err}"
        case Schedule(delay=delay, signal=s):
            return f"schedule {s.type} in {delay:g}s"
        case Cron(expression=expr, signal=s, job_id=job):
            return f"cron {job!r} {expr!r} ({d.timezone}) -> {s.type}"
        case CronCancel(job_id=job):
            return f"cancel cron {job!r}"
        case SpawnAgent(spec=spec, tag=tag):
            return f"spawn {spec} as {tag!r}"
        case StopChild(tag=tag, reason=reason):
            return f"stop child {tag!r} ({reason})"
        case AdoptChild(child_id=child, tag=tag):
            return f"adopt {child} as {tag!r}"
        case StartSensor(sensor=sensor, tag=tag):
            return f"start sensor {sensor} as {tag!r}"
        case StopSensor(tag=tag):
            return f"stop sensor {tag!r}"
        case Stop(reason=reason):
            return f"stop ({reason})"
        case Error(problem=p):
            return f"error [{p.kind.value}] {p.message}"
    raise AssertionError(f"unhandled directive {d!r}")  # pragma: no cover


def _custom_fields(d: CustomDirective, codec: Codec | None) -> str:
    fields: dict[str, Any] | None = None
    if codec is not None:
        try:
            fields = codec.to_dict(d)
        except EncodeError:
            pass  # a class this codec does not know: its fields as they are
        else:
            fields.pop("kind", None)  # the tag: the class name says it already
    if fields is None:
        fields = {f.name: getattr(d, f.name) for f in attrs.fields(type(d))}
    return _json(fields, default=_loose)


def _loose(value: object) -> object:
    """A JSON-ready stand-in for a field value JSON has no form for, the same in every run
    (a set in a fixed order, not in its hash order)."""
    if isinstance(value, FrozenMap):
        return dict(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    cls = type(value)
    if attrs.has(cls):
        return {f.name: getattr(value, f.name) for f in attrs.fields(cls)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    shown = repr(value)
    # Its repr (a Decimal's amount, a date), unless it is the default one, whose address is
    # another in every run.
    return f"<{type(value).__qualname__}>" if " at 0x" in shown else shown


#: What a review counts as effects. Said in every summary: in a dry run some of them are
#: carried out (spawns, timers and sensors are followed) and some are not (invokes, custom
#: directives), so "effects that would run" would mislead.
_COUNTED = "invokes, custom directives, emits to sinks, spawns, timers, sensors"


def _is_effect(d: Directive) -> bool:
    # What leaves the system: effects run (a custom directive is a user's own kind), signals
    # sent out, timers armed, agents started.
    return isinstance(d, Invoke | CustomDirective | Cron | Schedule | SpawnAgent | StartSensor) or (
        isinstance(d, Emit) and isinstance(d.to, ToSink)
    )


_Path = tuple[str, ...]


def _flatten(prefix: _Path, value: Any, out: dict[_Path, Any]) -> None:
    if isinstance(value, Mapping) and value:
        for k, v in value.items():
            _flatten((*prefix, str(k)), v, out)
    else:
        out[prefix] = value


def _view(agent: Agent[Any], codec: Codec) -> dict[_Path, Any]:
    raw = codec.to_dict(agent)
    flat: dict[_Path, Any] = {("status",): raw["status"]}
    _flatten(("state",), raw["state"], flat)
    _flatten(("slices",), raw["slices"], flat)
    return flat


def _path(keys: _Path) -> str:
    """``state.count``; a key that would read as more than one (a dot in it, say) is
    quoted: ``state.prices["a.b"]``."""
    out = keys[0]
    for k in keys[1:]:
        out += f".{k}" if k and _PLAIN.fullmatch(k) else f"[{json.dumps(k, ensure_ascii=False)}]"
    return out


_PLAIN: Final = re.compile(r"[^.\[\]\"\s]+")


def _changes(before: Agent[Any], after: Agent[Any], codec: Codec) -> tuple[Change, ...]:
    if before == after:
        return ()
    b, a = _view(before, codec), _view(after, codec)
    out: list[Change] = []
    for keys in sorted(b.keys() | a.keys()):
        path = _path(keys)
        if keys in b and keys in a:
            if b[keys] != a[keys]:
                out.append(Change(path, b[keys], a[keys]))
        elif keys in b:
            if not _emptied_into(keys, b[keys], a):
                out.append(Change(path, b[keys], None, "removed"))
        elif not _emptied_into(keys, a[keys], b):
            out.append(Change(path, None, a[keys], "added"))
    return tuple(out)


def _emptied_into(keys: _Path, value: Any, other: Mapping[_Path, Any]) -> bool:
    # An empty map is a leaf of the flat view; once it has entries, they are the leaves. So
    # ``{}`` on one side and entries under its keys on the other are one change, reported
    # by the entries (and the other way round when a map is emptied).
    if value != {}:
        return False
    n = len(keys)
    return any(len(p) > n and p[:n] == keys for p in other)


def _change_line(c: Change) -> str:
    match c.kind:
        case "added":
            return f"+ {c.path}: {_json(c.after)}"
        case "removed":
            return f"- {c.path}: {_json(c.before)}"
        case "changed":
            return f"~ {c.path}: {_json(c.before)} -> {_json(c.after)}"
        case _:
            assert_never(c.kind)


_BACKTICKS: Final = re.compile(r"`+")


def _code(text: str, *, cell: bool = False) -> str:
    """``text`` as a Markdown code span that shows it as it is: fenced with more backticks
    than its longest run of them, padded with a space where it begins or ends with a
    backtick or a space (a span drops one such pair), and in a table ``cell`` with its ``|``
    escaped (a cell ends at a bare one, even inside a code span).

    >>> print(_code('a`b'), _code('`x'), _code('a|b', cell=True))
    ``a`b`` `` `x `` `a\\|b`
    """
    fence = "`" * (max((len(run) for run in _BACKTICKS.findall(text)), default=0) + 1)
    if text[:1] in ("`", " ") or text[-1:] in ("`", " "):
        text = f" {text} "
    if cell:
        text = text.replace("|", "\\|")
    return f"{fence}{text}{fence}"


def _one_line(text: str) -> str:
    """``text`` as one line of printable text: what is not printable (a line break, the
    ESC of a terminal's escape sequence) is shown escaped, so that no field of the report
    (a signal's id, a problem's message) forges a line of its own."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def _cell(value: Any, present: bool) -> str:
    return _code(_json(value), cell=True) if present else "—"


@final
@attrs.frozen(kw_only=True)
class Review:
    """A review report: per signal, the state diff, the directives and the effects.

    Attributes:
        title: a heading.
        steps: one per signal handled, in order.
        final: each agent's final state, JSON-ready, by agent id.
        final_slices: each agent's plugin slices at the end, JSON-ready, by agent id and
            then plugin (the paths ``slices.<plugin>...`` of the changes); an agent with
            no plugin slice is left out.
        problems: problems executing directives, one line each: first those of agents
            starting (their declared schedules; ``[start <agent>] ...``), then the steps'.
    """

    title: str
    steps: tuple[ReviewStep, ...]
    final: Mapping[str, Any]
    problems: tuple[str, ...] = ()
    final_slices: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def start_problems(self) -> tuple[str, ...]:
        """The problems of agents starting (not of a step)."""
        return tuple(p for p in self.problems if p.startswith("[start "))

    def to_json(self) -> str:
        """The report as one JSON document."""
        return json.dumps(
            {
                "title": self.title,
                "steps": [attrs.asdict(s, recurse=True) for s in self.steps],
                "final": dict(self.final),
                "final_slices": dict(self.final_slices),
                "problems": list(self.problems),
            },
            indent=2,
            ensure_ascii=False,
        )

    def to_text(self) -> str:
        """The report as plain text."""
        lines = [self.title, "=" * len(self.title)]
        lines.extend(f"! {p}" for p in self.start_problems)
        for s in self.steps:
            lines.append(f"[{s.index}] t={s.at:g}s {s.agent_id} <- {s.signal_type} ({s.signal_id})")
            lines.extend(f"    {_change_line(c)}" for c in s.changes)
            lines.extend(f"    > {d}" for d in s.directives)
            lines.extend(f"    ! {p}" for p in s.problems)
        lines.append("")
        lines.append(f"effects: {sum(len(s.effects) for s in self.steps)} ({_COUNTED})")
        for s in self.steps:
            lines.extend(f"  [{s.index}] {s.agent_id}: {e}" for e in s.effects)
        lines.append("final states:")
        lines.extend(f"  {k}: {_json(v)}" for k, v in self.final.items())
        if self.final_slices:
            lines.append("final slices:")
            lines.extend(f"  {k}: {_json(v)}" for k, v in self.final_slices.items())
        return "\n".join(map(_one_line, lines)) + "\n"

    def to_markdown(self) -> str:
        """The report as Markdown (a table per step)."""
        out = [f"# {self.title}", ""]
        if self.start_problems:
            out += [f"- **problem**: {p}" for p in self.start_problems]
            out.append("")
        for s in self.steps:
            out.append(f"## {s.index}. {_code(s.signal_type)} → {_code(s.agent_id)} (t={s.at:g}s)")
            out.append("")
            if s.changes:
                out += ["| path | before | after |", "|---|---|---|"]
                out += [
                    f"| {_code(c.path, cell=True)} | {_cell(c.before, c.kind != 'added')} |"
                    f" {_cell(c.after, c.kind != 'removed')} |"
                    for c in s.changes
                ]
                out.append("")
            else:
                out += ["_no state change_", ""]
            # Each directive once, those that are effects marked as such.
            left = Counter(s.effects)
            for d in s.directives:
                if left[d]:
                    left[d] -= 1
                    out.append(f"- **effect**: {d}")
                else:
                    out.append(f"- {d}")
            out += [f"- **effect**: {e}" for e in left.elements()]
            out += [f"- **problem**: {p}" for p in s.problems]
            out.append("")
        out += ["## Final states", ""]
        out += [f"- {_code(k)}: {_code(_json(v))}" for k, v in self.final.items()]
        if self.final_slices:
            out += ["", "## Final slices", ""]
            out += [f"- {_code(k)}: {_code(_json(v))}" for k, v in self.final_slices.items()]
        return "\n".join(map(_one_line, out)) + "\n"

    def render(self, format: str) -> str:
        """``to_text``, ``to_markdown`` or ``to_json`` by name (``text``, ``md``, ``json``)."""
        match format:
            case "text":
                return self.to_text()
            case "md" | "markdown":
                return self.to_markdown()
            case "json":
                return self.to_json()
        raise ValueError(f"unknown format {format!r}: use text, md or json")


def review(
    trace: Iterable[TraceEntry],
    agents: Mapping[str, Agent[Any]],
    *,
    title: str = "Dry-run review",
    codec: Codec | None = None,
    start_problems: Iterable[tuple[str, Problem]] = (),
) -> Review:
    """Build a :class:`Review` from a trace and the final agents (and the problems of agents
    starting, by agent id, which no step of the trace has).

    Raises:
        TypeError: ``title`` is not a string, or ``codec`` is not a :class:`Codec`.
    """
    if not isinstance(title, str):
        raise TypeError(f"title must be a string, not {title!r:.60}")
    if codec is not None and not isinstance(codec, Codec):
        raise TypeError(f"codec must be a jido.serde.Codec, not {codec!r:.60}")
    c = codec or Codec()
    steps = []
    problems = [f"[start {a}] [{p.kind.value}] {p.message}" for a, p in start_problems]
    for e in trace:
        descr = tuple(describe(d, c) for d in e.directives)
        effects = tuple(describe(d, c) for d in e.directives if _is_effect(d))
        probs = tuple(f"[{p.kind.value}] {p.message}" for p in e.problems)
        problems.extend(f"[{e.index}] {p}" for p in probs)
        steps.append(
            ReviewStep(
                index=e.index,
                at=e.at,
                agent_id=e.agent_id,
                signal_type=e.signal.type,
                signal_id=e.signal.id,
                changes=_changes(e.before, e.after, c),
                directives=descr,
                effects=effects,
                problems=probs,
            )
        )
    final: dict[str, Any] = {}
    final_slices: dict[str, Any] = {}
    for k, a in agents.items():
        raw = c.to_dict(a)
        final[k] = raw["state"]
        if raw["slices"]:
            final_slices[k] = raw["slices"]
    return Review(
        title=title,
        steps=tuple(steps),
        final=final,
        problems=tuple(problems),
        final_slices=final_slices,
    )
