"""Review reports: what a run did (or would do), per signal, as text, Markdown or JSON."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping
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
    JsonValue,
    Problem,
    Schedule,
    Signal,
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

from ._policy import CrashHandled
from ._trace import TraceEntry

__all__ = ["Change", "Review", "ReviewStep", "describe", "review"]


@final
@attrs.frozen
class Change:
    """One value that changed: ``path`` like ``state.count`` or ``slices.audit.events`` (a
    map key with a dot, a bracket, a quote or a space in it is quoted: ``state.m["a.b"]``).

    ``kind`` tells a value that was ``null`` from one that was not there: ``"added"`` (no
    ``before``; a map key that was not there), ``"removed"`` (no ``after``; a map key
    deleted) or ``"changed"`` (a value other than before as JSON writes it: ``1`` ->
    ``true`` included, and ``null`` -> a map, which is one change of the whole value).
    """

    path: str
    before: Any
    after: Any
    kind: Literal["added", "removed", "changed"] = "changed"


@final
@attrs.frozen(kw_only=True)
class ReviewStep:
    """One signal handled, as a reviewer reads it.

    Attributes:
        signal_data: the signal's data, JSON-ready (what the action was given: an effect's
            result, a ``child.exit``'s reason...), ``None`` if it has none.
    """

    index: int
    at: float
    agent_id: str
    signal_type: str
    signal_id: str
    changes: tuple[Change, ...]
    directives: tuple[str, ...]
    effects: tuple[str, ...]
    problems: tuple[str, ...]
    signal_data: Any = None


def _json(
    value: Any,
    default: Callable[[Any], Any] | None = None,
    *,
    indent: int | None = None,
    sort_keys: bool = True,
) -> str:
    """``value`` as JSON text, keys sorted, the same in every run, and valid JSON for every
    value a state may hold, which ``json.dumps`` is not: an infinity is ``1e999`` (a number
    every JSON reader takes for one), NaN the string ``"NaN"`` (JSON has no such number), an
    integer of any length written out in full, a lone surrogate escaped (``"\\ud800"``),
    and a map key that is not a string shown by its ``repr``. On one line, or indented by
    ``indent`` spaces. ``default`` gives what stands in for a value of another type;
    ``sort_keys=False`` keeps maps in their own order.

    >>> print(_json({"b": [1.5, float("inf")], 2: True, "a": None}))
    {"2": true, "a": null, "b": [1.5, 1e999]}
    """
    parts: list[str] = []
    _write(value, default, indent, sort_keys, 0, parts)
    return "".join(parts)


def _write(
    value: Any,
    default: Callable[[Any], Any] | None,
    indent: int | None,
    sort_keys: bool,
    level: int,
    out: list[str],
) -> None:
    if value is None or isinstance(value, bool):
        out.append("null" if value is None else "true" if value else "false")
    elif isinstance(value, int):
        out.append(_digits(value))
    elif isinstance(value, float):
        out.append(_number(value))
    elif isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, Mapping | list | tuple):
        items: list[tuple[str | None, Any]]
        if isinstance(value, Mapping):
            items = [(_key(k), v) for k, v in value.items()]
            if sort_keys:
                items.sort(key=lambda kv: str(kv[0]))
            opening, closing = "{", "}"
        else:
            items = [(None, v) for v in value]
            opening, closing = "[", "]"
        if not items:
            out.append(opening + closing)
            return
        inner = "" if indent is None else "\n" + " " * (indent * (level + 1))
        out.append(opening + inner)
        for n, (k, v) in enumerate(items):
            if n:
                out.append(", " if indent is None else "," + inner)
            if k is not None:
                out.append(_string(k) + ": ")
            _write(v, default, indent, sort_keys, level + 1, out)
        out.append(("" if indent is None else "\n" + " " * (indent * level)) + closing)
    elif default is not None:
        _write(default(value), None, indent, sort_keys, level, out)
    else:
        raise TypeError(f"no JSON form for {type(value).__qualname__}")


def _key(key: object) -> str:
    # JSON's keys are strings; another key (a custom directive's field may hold any map) is
    # shown by its repr, so that keys of several types still sort.
    return key if isinstance(key, str) else repr(key)


def _number(x: float) -> str:
    if math.isfinite(x):
        return repr(x)  # every digit: what the value is, not six of them
    if math.isnan(x):
        return '"NaN"'
    return "1e999" if x > 0 else "-1e999"


def _seconds(x: float) -> str:
    """A time or a delay in seconds, exactly: ``0``, ``1000000.5``, ``1e+16``.

    >>> _seconds(0.0), _seconds(1000000.5), _seconds(5)
    ('0', '1000000.5', '5')
    """
    text = repr(float(x))
    return text.removesuffix(".0")


def _digits(n: int) -> str:
    """An integer's decimal digits, however many (``str`` refuses more than 4300 by
    default, a limit meant for parsing untrusted text, not for writing a value out)."""
    try:
        return str(n)
    except ValueError:
        high, low = divmod(abs(n), 10**_CHUNK)
        return ("-" if n < 0 else "") + _digits(high) + str(low).zfill(_CHUNK)


_CHUNK: Final = 4000

_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def _string(text: str) -> str:
    # ensure_ascii=False leaves a lone surrogate as it is, which no UTF-8 output can carry.
    return _SURROGATE.sub(
        lambda m: f"\\u{ord(m.group()):04x}", json.dumps(text, ensure_ascii=False)
    )


def describe(d: Directive, codec: Codec | None = None) -> str:
    """One line saying what a directive asks for, with every field that decides what would
    run: a signal's data (and subject) for an emit, a schedule or a cron job; an invoke's
    args and the context its outcome carries back; a spawn's id, initial state and meta.
    A field left at its default (no data, an empty context) is left out.

    A custom directive shows its class and its fields: as ``codec`` writes them when it
    knows the class (its JSON form, the tag left out), else its attrs fields as they are
    (a value JSON has no form for, or a map key that is no string, shown by its ``repr``).
    Keys are sorted either way, so the line is the same in every run. A name that could be
    read as another (a line break or a backslash in it) is shown as a JSON string.

    >>> from jido import emit
    >>> describe(emit("order.placed", {"n": 1}))
    'emit order.placed {"n": 1} to self'
    """
    if isinstance(d, CustomDirective):
        return f"custom {type(d).__name__} {_custom_fields(d, codec)}"
    match d:
        case Emit(signal=s, to=to):
            match to:
                case ToSelf():
                    where = "self"
                case ToParent():
                    where = "parent"
                case ToAgent(id=i):
                    where = f"agent {_ident(i)}"
                case ToSink(name=n):
                    where = f"sink {_ident(n)}"
                case _:
                    assert_never(to)
            return f"emit {_signal(s)} to {where}"
        case Invoke(effect=e, args=a, on_ok=ok, on_error=err, context=context):
            return f"invoke {_ident(e)}({_json(thaw(a))}) -> {ok} | {err}" + _extra(context=context)
        case Schedule(delay=delay, signal=s):
            return f"schedule {_signal(s)} in {_seconds(delay)}s"
        case Cron(expression=expr, signal=s, job_id=job):
            return f"cron {job!r} {expr!r} ({d.timezone}) -> {_signal(s)}"
        case CronCancel(job_id=job):
            return f"cancel cron {job!r}"
        case SpawnAgent(spec=spec, tag=tag, id=child, state=state, meta=meta):
            return f"spawn {_ident(spec)} as {tag!r}" + _extra(id=child, state=state, meta=meta)
        case StopChild(tag=tag, reason=reason):
            return f"stop child {tag!r} ({_ident(reason)})"
        case AdoptChild(child_id=child, tag=tag, meta=meta):
            return f"adopt {_ident(child)} as {tag!r}" + _extra(meta=meta)
        case StartSensor(sensor=sensor, tag=tag):
            return f"start sensor {_ident(sensor)} as {tag!r}"
        case StopSensor(tag=tag):
            return f"stop sensor {tag!r}"
        case Stop(reason=reason):
            return f"stop ({_ident(reason)})"
        case Error(problem=p):
            return f"error [{p.kind.value}] {_ident(p.message)}"
    raise AssertionError(f"unhandled directive {d!r}")  # pragma: no cover


def _signal(s: Signal) -> str:
    """A signal a directive sends: its type, then its subject and data if it has them."""
    subject = "" if s.subject is None else f" subject {_string(s.subject)}"
    data = "" if s.data is None else " " + _json(thaw(s.data))
    return f"{s.type}{subject}{data}"


def _extra(**fields: str | FrozenMap[str, JsonValue] | None) -> str:
    # The fields of a directive that are not at their default (None, an empty map), each
    # named: ``id 'w1' state {"limit": 1}``.
    shown = [
        f" {name} {value!r}" if isinstance(value, str) else f" {name} {_json(thaw(value))}"
        for name, value in fields.items()
        if value is not None and not (isinstance(value, Mapping) and not value)
    ]
    return "".join(shown)


def _ident(text: str) -> str:
    r"""A name, an id or a message as it is, unless it could be read as another (it has a
    character that is not printable, a backslash, or begins with a quote): then as a JSON
    string, so that an id ``x`` + line break + ``y`` and one ``x\ny`` differ.

    >>> print(_ident("order-1"), _ident("x\\ny"), _ident("x\ny"))
    order-1 "x\\ny" "x\ny"
    """
    if text.isprintable() and "\\" not in text and not text.startswith('"'):
        return text
    return _string(text)


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


class _Absent:
    """What stands on one side of a diff for a key the other side has."""

    def __repr__(self) -> str:
        return "<absent>"


_ABSENT: Final = _Absent()


def _view(agent: Agent[Any], codec: Codec) -> dict[str, Any]:
    raw = codec.to_dict(agent)
    return {"status": raw["status"], "state": raw["state"], "slices": raw["slices"]}


def _path(keys: _Path) -> str:
    """``state.count``; a key that would read as more than one (a dot in it, say) is
    quoted: ``state.prices["a.b"]``."""
    out = keys[0]
    for k in keys[1:]:
        out += f".{k}" if k and _PLAIN.fullmatch(k) else f"[{_string(k)}]"
    return out


_PLAIN: Final = re.compile(r"[^.\[\]\"\s]+")


def _changes(before: Agent[Any], after: Agent[Any], codec: Codec) -> tuple[Change, ...]:
    # Not ``before == after``: Python calls 1 and True, or 0 and 0.0, equal, and a state
    # going from one to the other has changed (its JSON says so).
    out: list[Change] = []
    _diff((), _view(before, codec), _view(after, codec), out)
    return tuple(out)


def _diff(keys: _Path, before: Any, after: Any, out: list[Change]) -> None:
    """The changes from ``before`` to ``after`` at ``keys``. Two maps (or a map and nothing)
    are compared key by key, so that an entry added to a map is one change of its own;
    values are compared as JSON writes them (``1`` is not ``true``, nor ``0`` ``0.0``).
    A value that is a map on one side only (``null`` -> ``{"a": 1}``) is one change, of the
    whole value: it was neither added nor removed."""
    b_map = isinstance(before, Mapping)
    a_map = isinstance(after, Mapping)
    if (b_map or a_map) and (b_map or before is _ABSENT) and (a_map or after is _ABSENT):
        b = before if b_map else {}
        a = after if a_map else {}
        if b or a or not keys:
            for k in sorted(b.keys() | a.keys(), key=str):
                _diff((*keys, str(k)), b.get(k, _ABSENT), a.get(k, _ABSENT), out)
            return
    if before is _ABSENT:
        out.append(Change(_path(keys), None, after, "added"))
    elif after is _ABSENT:
        out.append(Change(_path(keys), before, None, "removed"))
    elif _json(before) != _json(after):
        out.append(Change(_path(keys), before, after))


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


def _header(at: float, agent_id: str, signal_type: str, signal_id: str, data: Any) -> str:
    """What a text heading says of a signal handled: when, by whom, what, and its data."""
    shown = "" if data is None else " " + _json(data)
    return (
        f"t={_seconds(at)}s {_ident(agent_id)} <- {_ident(signal_type)} ({_ident(signal_id)})"
        f"{shown}"
    )


def _md_heading(at: float, agent_id: str, signal_type: str, signal_id: str) -> str:
    return (
        f"{_code(_ident(signal_type))} → {_code(_ident(agent_id))}"
        f" (t={_seconds(at)}s, id {_code(_ident(signal_id))})"
    )


def _crash_line(c: CrashHandled) -> str:
    """What a policy did with a crash: ``policy stop: stopped (crashed): <message>``."""
    reason = "" if c.reason is None else f" ({_ident(c.reason)})"
    return f"policy {c.policy}: {c.outcome}{reason}: {_ident(c.message)}"


def _crash_json(c: CrashHandled) -> dict[str, Any]:
    return {
        "index": c.index,
        "at": c.at,
        "agent_id": c.agent_id,
        "signal_type": c.signal.type,
        "signal_id": c.signal.id,
        "signal_data": thaw(c.signal.data),
        "policy": c.policy,
        "outcome": c.outcome,
        "reason": c.reason,
        "message": c.message,
    }


#: What Markdown may read as markup in a line of text: emphasis, code, links and images,
#: HTML and entities, a table's cell end, a heading's closing ``#``, a backslash escape.
_MD_SPECIAL: Final = re.compile(r"([\\`*_\[\]<>&!~|#])")


def _md_text(text: str) -> str:
    """``text`` as Markdown that shows it as it is, what could be read as markup escaped
    with a backslash.

    >>> print(_md_text("Review of a-b <b> *c*"))
    Review of a-b \\<b\\> \\*c\\*
    """
    return _MD_SPECIAL.sub(r"\\\1", text)


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
        final_status: each agent's final status (an FSM's state), by agent id.
        initial: the state each agent started with (a spawned child's included), JSON-ready,
            by agent id, in the order they started (an id started twice: the first).
        initial_status: the status each agent started in, by agent id.
        crashes: the crashes an error policy handled (a crashed step commits nothing, so
            it has no step of its own), in order; each one's ``index`` is the step it came
            before.
        problems: problems executing directives, one line each: first those of agents
            starting (their declared schedules; ``[start <agent>] ...``), then the steps'.
    """

    title: str
    steps: tuple[ReviewStep, ...]
    final: Mapping[str, Any]
    problems: tuple[str, ...] = ()
    final_slices: Mapping[str, Any] = attrs.field(factory=dict)
    final_status: Mapping[str, str] = attrs.field(factory=dict)
    initial: Mapping[str, Any] = attrs.field(factory=dict)
    initial_status: Mapping[str, str] = attrs.field(factory=dict)
    crashes: tuple[CrashHandled, ...] = ()

    @property
    def start_problems(self) -> tuple[str, ...]:
        """The problems of agents starting (not of a step)."""
        return tuple(p for p in self.problems if p.startswith("[start "))

    def _events(self) -> list[ReviewStep | CrashHandled]:
        # The steps, each crash before the step that came after it.
        out: list[ReviewStep | CrashHandled] = []
        crashes = list(self.crashes)
        for s in self.steps:
            while crashes and crashes[0].index <= s.index:
                out.append(crashes.pop(0))
            out.append(s)
        return out + crashes

    def _agent(self, agent_id: str, status: Mapping[str, str]) -> str:
        # ``f (running)``: an agent and its status, where known.
        known = status.get(agent_id)
        return _ident(agent_id) + ("" if known is None else f" ({_ident(known)})")

    def to_json(self) -> str:
        """The report as one JSON document (valid JSON whatever the states hold: see
        :func:`_json`)."""
        return _json(
            {
                "title": self.title,
                "initial": dict(self.initial),
                "initial_status": dict(self.initial_status),
                "steps": [attrs.asdict(s, recurse=True) for s in self.steps],
                "crashes": [_crash_json(c) for c in self.crashes],
                "final": dict(self.final),
                "final_status": dict(self.final_status),
                "final_slices": dict(self.final_slices),
                "problems": list(self.problems),
            },
            indent=2,
            sort_keys=False,
        )

    def to_text(self) -> str:
        """The report as plain text."""
        lines = [self.title, "=" * len(self.title)]
        lines.extend(f"! {p}" for p in self.start_problems)
        if self.initial:
            lines.append("initial states:")
            lines.extend(
                f"  {self._agent(k, self.initial_status)}: {_json(v)}"
                for k, v in self.initial.items()
            )
        for e in self._events():
            if isinstance(e, CrashHandled):
                head = _header(e.at, e.agent_id, e.signal.type, e.signal.id, thaw(e.signal.data))
                lines.append(f"[crash] {head}")
                lines.append(f"    ! crashed, {_crash_line(e)}")
                continue
            s = e
            head = _header(s.at, s.agent_id, s.signal_type, s.signal_id, s.signal_data)
            lines.append(f"[{s.index}] {head}")
            lines.extend(f"    {_change_line(c)}" for c in s.changes)
            lines.extend(f"    > {d}" for d in s.directives)
            lines.extend(f"    ! {p}" for p in s.problems)
        lines.append("")
        lines.append(f"effects: {sum(len(s.effects) for s in self.steps)} ({_COUNTED})")
        for s in self.steps:
            lines.extend(f"  [{s.index}] {_ident(s.agent_id)}: {e}" for e in s.effects)
        lines.append("final states:")
        lines.extend(
            f"  {self._agent(k, self.final_status)}: {_json(v)}" for k, v in self.final.items()
        )
        if self.final_slices:
            lines.append("final slices:")
            lines.extend(f"  {_ident(k)}: {_json(v)}" for k, v in self.final_slices.items())
        return "\n".join(map(_one_line, lines)) + "\n"

    def to_markdown(self) -> str:
        """The report as Markdown (a table per step). What came from the run (directives,
        problems, ids, values) is in code spans, so that none of it is read as Markdown or
        HTML."""
        out = [f"# {_md_text(self.title)}", ""]
        if self.start_problems:
            out += [f"- **problem**: {_code(p)}" for p in self.start_problems]
            out.append("")
        if self.initial:
            out += ["## Initial states", ""]
            out += [
                f"- {self._md_agent(k, self.initial_status)}: {_code(_json(v))}"
                for k, v in self.initial.items()
            ]
            out.append("")
        for e in self._events():
            if isinstance(e, CrashHandled):
                out.append(f"## Crash: {_md_heading(e.at, e.agent_id, e.signal.type, e.signal.id)}")
                out.append("")
                if e.signal.data is not None:
                    out += [f"data: {_code(_json(thaw(e.signal.data)))}", ""]
                out += [f"- **crashed**: {_code(_crash_line(e))}", ""]
                continue
            s = e
            out.append(f"## {s.index}. {_md_heading(s.at, s.agent_id, s.signal_type, s.signal_id)}")
            out.append("")
            if s.signal_data is not None:
                out += [f"data: {_code(_json(s.signal_data))}", ""]
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
                    out.append(f"- **effect**: {_code(d)}")
                else:
                    out.append(f"- {_code(d)}")
            out += [f"- **effect**: {_code(e)}" for e in left.elements()]
            out += [f"- **problem**: {_code(p)}" for p in s.problems]
            out.append("")
        out += ["## Final states", ""]
        out += [
            f"- {self._md_agent(k, self.final_status)}: {_code(_json(v))}"
            for k, v in self.final.items()
        ]
        if self.final_slices:
            out += ["", "## Final slices", ""]
            out += [
                f"- {_code(_ident(k))}: {_code(_json(v))}" for k, v in self.final_slices.items()
            ]
        return "\n".join(map(_one_line, out)) + "\n"

    def _md_agent(self, agent_id: str, status: Mapping[str, str]) -> str:
        known = status.get(agent_id)
        shown = _code(_ident(agent_id))
        return shown if known is None else f"{shown} ({_code(_ident(known))})"

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
    crashes: Iterable[CrashHandled] = (),
    started: Iterable[Agent[Any]] = (),
    replies: Collection[str] | None = None,
) -> Review:
    """Build a :class:`Review` from a trace and the final agents (and the problems of agents
    starting, by agent id, which no step of the trace has).

    Args:
        crashes: the crashes an error policy handled (``DryRun.crashes``).
        started: the agents as they started, in order (the report's initial states).
        replies: the effects that have a canned reply: an invoke of another is marked
            ``(no reply)`` (it gets no outcome). ``None``: not marked.

    Raises:
        TypeError: ``title`` is not a string, or ``codec`` is not a :class:`Codec`.
    """
    if not isinstance(title, str):
        raise TypeError(f"title must be a string, not {title!r:.60}")
    if codec is not None and not isinstance(codec, Codec):
        raise TypeError(f"codec must be a jido.serde.Codec, not {codec!r:.60}")
    c = codec or Codec()
    steps = []
    problems = [f"[start {a}] [{p.kind.value}] {_ident(p.message)}" for a, p in start_problems]
    for e in trace:
        descr = tuple(_said(d, c, replies) for d in e.directives)
        effects = tuple(_said(d, c, replies) for d in e.directives if _is_effect(d))
        probs = tuple(f"[{p.kind.value}] {_ident(p.message)}" for p in e.problems)
        problems.extend(f"[{e.index}] {p}" for p in probs)
        steps.append(
            ReviewStep(
                index=e.index,
                at=e.at,
                agent_id=e.agent_id,
                signal_type=e.signal.type,
                signal_id=e.signal.id,
                signal_data=thaw(e.signal.data),
                changes=_changes(e.before, e.after, c),
                directives=descr,
                effects=effects,
                problems=probs,
            )
        )
    initial: dict[str, Any] = {}
    initial_status: dict[str, str] = {}
    for a in started:
        if a.id not in initial:
            raw = c.to_dict(a)
            initial[a.id] = raw["state"]
            initial_status[a.id] = raw["status"]
    final: dict[str, Any] = {}
    final_status: dict[str, str] = {}
    final_slices: dict[str, Any] = {}
    for k, a in agents.items():
        raw = c.to_dict(a)
        final[k] = raw["state"]
        final_status[k] = raw["status"]
        if raw["slices"]:
            final_slices[k] = raw["slices"]
    return Review(
        title=title,
        steps=tuple(steps),
        final=final,
        problems=tuple(problems),
        final_slices=final_slices,
        final_status=final_status,
        initial=initial,
        initial_status=initial_status,
        crashes=tuple(crashes),
    )


def _said(d: Directive, codec: Codec, replies: Collection[str] | None) -> str:
    # An invoke with no canned reply gets no outcome: the review stops down that path.
    line = describe(d, codec)
    if replies is not None and isinstance(d, Invoke) and d.effect not in replies:
        return f"{line} (no reply)"
    return line
