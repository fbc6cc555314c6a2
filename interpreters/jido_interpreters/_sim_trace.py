"""Simulation traces: JSON lines out, and replay of a saved trace with its first divergence."""

from __future__ import annotations

import functools
import itertools
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final, assert_never, final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from jido import (
    ActionCrashed,
    Agent,
    Signal,
)
from jido.serde import Codec, DecodeError

from ._checks import seconds
from ._faults import (
    AgentCrashed,
    EffectDelayed,
    EffectFailed,
    EffectReissued,
    FaultPlan,
    InvalidFaultPlan,
    MessageDelayed,
    MessageDropped,
    MessageDuplicated,
    MessageReordered,
)
from ._jsonl import loads, split_lines
from ._outcomes import as_text
from ._policy import CrashHandled, options_json
from ._sim_engine import _ChoicesExhausted, _Replayed
from ._sim_events import (
    AgentStarted,
    DeadLettered,
    InvariantViolated,
    SignalDelivered,
    SimEvent,
    SimulationResult,
)
from ._simulation import Scenario, Simulation

__all__ = [
    "Divergence",
    "replay",
    "simulation_to_jsonl",
    "trace_failure",
    "trace_spec",
]

TRACE_FORMAT: Final = "jido.simulation"
TRACE_VERSION: Final = 4
#: Versions a trace may have and still replay. Version 1 predates ``FaultPlan.recovery``: its
#: crashes restarted the agent without its timers, so it replays with ``"restart"``. Versions
#: 1 and 2 predate the time bound (``until``) and drew their faults from stacked bands (see
#: ``_sim_engine._legacy_bands``): they replay with those. Versions 1 to 3 predate
#: ``jido.agent.restarted``: their restarted agents were not told, so they replay without it.
_READABLE_VERSIONS: Final = (1, 2, 3, 4)


_KIND: Final[Mapping[type[Any], str]] = {
    AgentStarted: "started",
    SignalDelivered: "delivered",
    DeadLettered: "dead_letter",
    MessageDropped: "dropped",
    MessageDelayed: "delayed",
    MessageDuplicated: "duplicated",
    MessageReordered: "reordered",
    AgentCrashed: "crashed",
    EffectFailed: "effect_failed",
    EffectDelayed: "effect_delayed",
    EffectReissued: "effect_reissued",
    CrashHandled: "crash_handled",
}


def _event_to_dict(e: SimEvent, codec: Codec) -> dict[str, Any]:
    out: dict[str, Any] = {"i": e.index, "at": e.at, "kind": _KIND[type(e)]}
    match e:
        case AgentStarted(agent=agent, problems=problems):
            out["agent"] = codec.to_dict(agent)
            if problems:
                # Only when there are some: the trace of a start without stays as it was.
                out["problems"] = [codec.to_dict(p) for p in problems]
        case SignalDelivered():
            out["to"] = e.agent_id
            out["from"] = e.sender
            out["signal"] = codec.to_dict(e.signal)
            out["after"] = codec.to_dict(e.after)
            out["directives"] = [codec.to_dict(d) for d in e.directives]
            out["problems"] = [codec.to_dict(p) for p in e.problems]
        case DeadLettered(agent_id=to, sender=sender, signal=sig):
            out.update({"to": to, "from": sender, "signal": codec.to_dict(sig)})
        case (
            MessageDropped(agent_id=to, sender=sender, signal=sig)
            | MessageDuplicated(agent_id=to, sender=sender, signal=sig)
            | MessageReordered(agent_id=to, sender=sender, signal=sig)
        ):
            out.update({"to": to, "from": sender, "signal_id": sig.id, "type": sig.type})
        case MessageDelayed(agent_id=to, sender=sender, signal=sig, until=until):
            out.update(
                {"to": to, "from": sender, "signal_id": sig.id, "type": sig.type, "until": until}
            )
        case AgentCrashed(agent_id=agent_id, lost=lost):
            out.update({"agent": agent_id, "lost": lost})
        case (
            EffectFailed(agent_id=agent_id, effect=effect, key=key)
            | EffectReissued(agent_id=agent_id, effect=effect, key=key)
        ):
            out.update({"agent": agent_id, "effect": effect, "key": key})
        case EffectDelayed(agent_id=agent_id, effect=effect, key=key, until=until):
            out.update({"agent": agent_id, "effect": effect, "key": key, "until": until})
        case CrashHandled():
            out.update(
                {
                    "to": e.agent_id,
                    "from": e.sender,
                    "signal": codec.to_dict(e.signal),
                    "policy": e.policy,
                    "outcome": e.outcome,
                    "reason": e.reason,
                    "message": e.message,
                }
            )
        case _:
            assert_never(e)
    return out


def _zone_name(when: datetime) -> str | None:
    tz = when.tzinfo
    return tz.key if isinstance(tz, ZoneInfo) else None


def _input_dict(c: Codec, result: SimulationResult, n: int) -> dict[str, Any]:
    at, to, sig = result.inputs[n]
    out: dict[str, Any] = {"at": at, "to": to}
    after = result.sent_after[n] if n < len(result.sent_after) else len(result.started)
    if after != len(result.started):
        out["after"] = after  # sent before some agents were started (the default: after all)
    out["signal"] = c.to_dict(sig)
    return out


@functools.cache
def _codec() -> Codec:
    # Building a codec configures cattrs from scratch (tens of milliseconds): build the
    # default one once.
    return Codec()


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def simulation_to_jsonl(
    result: SimulationResult, *, codec: Codec | None = None, spec: str | None = None
) -> str:
    """The run as JSON lines: a header, one line per event, a last line for a violation
    (``"kind": "violated"``) or a crash (``"kind": "action_crashed"``).

    The header records what :func:`replay` needs to re-run it: ``seed`` (or, for a run whose
    choices a given generator made, ``choices``: every draw), ``events`` (the budget),
    ``until`` (the time bound, or ``null``), ``faults``, ``latency``, ``epoch``, the
    ``agents`` as started and the ``inputs`` sent, and the agents' ``options`` and
    ``default_options`` when the run had any (their error policies and ``on_parent_death``).
    Two runs with the same seed, specs and inputs give the same bytes.

    Args:
        result: a run (recorded: a run with recording off has no events to write).
        codec: a codec that knows any custom directives in the run; by default the one
            the run was given (``result.codec``: a scenario's ``codec``), else a plain one.
        spec: where the system came from (``MODULE:NAME``), recorded in the header so the
            trace alone says what to replay it against (see :func:`trace_spec`).
    """
    c = codec or result.codec or _codec()
    header = {
        "format": TRACE_FORMAT,
        "version": TRACE_VERSION,
        **({} if spec is None else {"spec": spec}),
        "seed": result.seed,
        **({} if result.choices is None else {"choices": list(result.choices)}),
        "events": result.max_events,
        "until": result.until,
        "faults": attrs.asdict(result.faults),
        "latency": result.latency,
        "epoch": result.epoch.isoformat(),
        # The epoch's zone, when it has rules: an offset alone would show times after a
        # daylight-saving change an hour off, and the replayed run would differ.
        **({"zone": zone} if (zone := _zone_name(result.epoch)) is not None else {}),
        # Options, when a run has any (a trace of one without stays as it was): replay takes
        # them from the scenario, and a scenario whose options changed differs here.
        **(
            {"options": {name: options_json(o) for name, o in sorted(result.options.items())}}
            if result.options
            else {}
        ),
        **(
            {"default_options": options_json(result.default_options)}
            if result.default_options is not None
            else {}
        ),
        "agents": [c.to_dict(a) for a in result.started],
        "inputs": [_input_dict(c, result, n) for n in range(len(result.inputs))],
    }
    lines = [_dumps(header)]
    lines.extend(_dumps(_event_to_dict(e, c)) for e in result.events)
    v = result.violation
    if v is not None:
        lines.append(
            _dumps(
                {
                    "i": v.index,
                    "kind": "violated",
                    "invariant": v.invariant,
                    "message": v.message,
                }
            )
        )
    crash = result.crash
    if crash is not None:
        lines.append(
            _dumps(
                {
                    "i": crash.index,
                    "kind": "action_crashed",
                    "agent": crash.agent_id,
                    "action": crash.action,
                    "type": crash.signal_type,
                    "message": crash.message,
                }
            )
        )
    return "".join(line + "\n" for line in lines)


def trace_failure(text: str) -> str | None:
    """The failure a trace ends in, in one line (``invariant 'x' violated after event 7:
    ...``, ``action crashed at event 3: ...``), or ``None`` if its run did not fail.

    A trace that :func:`replay` finds identical reproduces it. (A trace written before
    crashes were recorded does not end in one: replaying a crashed run of that kind shows
    the crash as a divergence at its end.)
    """
    lines = [line for line in split_lines(text) if line.strip()]
    try:
        last = loads(lines[-1]) if len(lines) > 1 else None
    except ValueError:
        return None
    if not isinstance(last, dict):
        return None
    match last.get("kind"):
        case "violated":
            return (
                f"invariant {last.get('invariant')!r} violated after event {last.get('i')}:"
                f" {last.get('message')}"
            )
        case "action_crashed":
            return f"action crashed at event {last.get('i')}: {last.get('message')}"
    return None


@final
@attrs.frozen(kw_only=True)
class Divergence:
    """Where a replayed run first differs from the recorded trace.

    Attributes:
        line: the trace's line number (1 is the header).
        expected: the recorded line, or ``None`` if the trace ended there.
        actual: the replayed line, or ``None`` if the replay ended there.
        note: why the replay stopped early, if it did (an action crashed).
    """

    line: int
    expected: str | None
    actual: str | None
    note: str | None = None

    def describe(self) -> str:
        """One line saying what differs, for people."""
        got = _summary(self.actual) if self.actual is not None else "the run ended"
        if self.note:
            got += f" ({self.note})"
        want = _summary(self.expected) if self.expected is not None else "the trace ended"
        text = f"line {self.line}: recorded {want}; replay gave {got}"
        if self.expected is not None and self.actual is not None:
            where = _first_difference(self.expected, self.actual)
            if where:
                text += f" (first difference: {where})"
        return text


def _first_difference(expected: str, actual: str) -> str:
    """Where two trace lines first differ, as ``path: recorded != replayed``; ``""`` if
    either is not JSON."""
    try:
        a, b = json.loads(expected), json.loads(actual)
    except json.JSONDecodeError:
        return ""

    def walk(x: Any, y: Any, path: str) -> str:
        if isinstance(x, dict) and isinstance(y, dict):
            for k in [*x, *(k for k in y if k not in x)]:
                if k not in x or k not in y:
                    return f"{path}.{k}: {'missing' if k not in x else 'present'} recorded"
                found = walk(x[k], y[k], f"{path}.{k}")
                if found:
                    return found
            return ""
        if isinstance(x, list) and isinstance(y, list):
            for i, (p, q) in enumerate(zip(x, y, strict=False)):
                found = walk(p, q, f"{path}[{i}]")
                if found:
                    return found
            if len(x) != len(y):
                return f"{path}: {len(x)} items recorded, {len(y)} replayed"
            return ""
        if x != y or type(x) is not type(y):
            return f"{path}: {json.dumps(x)[:60]} != {json.dumps(y)[:60]}"
        return ""

    return walk(a, b, "$")


def _summary(line: str) -> str:
    try:
        raw = json.loads(line)
    except json.JSONDecodeError:
        return repr(line[:80])
    if not isinstance(raw, dict):
        return repr(line[:80])
    if raw.get("format") == TRACE_FORMAT:
        return "a header"
    kind = raw.get("kind")
    who = raw.get("to") or raw.get("agent")
    if isinstance(who, dict):
        who = who.get("id")
    # A damaged line may hold anything where an object belongs: read only what is one.
    signal = raw.get("signal")
    what = (
        raw.get("type")
        or (signal.get("type") if isinstance(signal, dict) else None)
        or raw.get("invariant")
        or ""
    )
    text = " ".join(str(part) for part in (f"event {raw.get('i')}:", kind, who, what) if part)
    if kind == "delivered":
        after = raw.get("after")
        after = after if isinstance(after, dict) else {}
        text += f" -> {after.get('id')} v{after.get('version')}"
    return text


@final
@attrs.frozen
class _Header:
    version: int
    spec: str | None
    seed: int | None
    choices: tuple[float, ...] | None
    events: int
    until: float | None
    faults: FaultPlan
    latency: float
    epoch: datetime
    agents: tuple[Agent[Any], ...]
    inputs: tuple[tuple[float, str, Signal], ...]
    sent_after: tuple[int, ...]


_HEADER: Final = "simulation trace line 1"


def _header_dict(raw: object) -> dict[str, Any]:
    if not isinstance(raw, dict) or raw.get("format") != TRACE_FORMAT:
        raise DecodeError(_HEADER, f"not a simulation trace header (no format {TRACE_FORMAT!r})")
    return raw


def _header_spec(raw: dict[str, Any]) -> str | None:
    spec = raw.get("spec")
    if spec is not None and not isinstance(spec, str):
        raise DecodeError(_HEADER, f"spec {spec!r} is not a string")
    return spec


def _read_header(raw: object, scenario: Scenario) -> _Header:
    what = _HEADER
    raw = _header_dict(raw)
    version = raw.get("version")
    if type(version) is not int or version not in _READABLE_VERSIONS:
        raise DecodeError(
            what,
            f"trace version {version!r} is not one of " + ", ".join(map(str, _READABLE_VERSIONS)),
        )
    spec_ref = _header_spec(raw)
    seed, events, latency = raw.get("seed"), raw.get("events"), raw.get("latency")
    choices: tuple[float, ...] | None = None
    if seed is None:
        drawn = raw.get("choices")
        if drawn is None:
            raise DecodeError(what, "no seed and no recorded choices: nothing to replay from")
        if not isinstance(drawn, list) or not all(
            type(c) is float and 0.0 <= c < 1.0 for c in drawn
        ):
            raise DecodeError(what, "choices must be a list of numbers in [0, 1)")
        choices = tuple(drawn)
    elif isinstance(seed, bool) or not isinstance(seed, int):
        raise DecodeError(what, f"seed {seed!r} is not an integer")
    if isinstance(events, bool) or not isinstance(events, int) or events < 0:
        raise DecodeError(what, f"events {events!r} is not an integer >= 0")
    until = raw.get("until")
    if version < 3 and until is not None:
        raise DecodeError(what, f"a version {version} trace has no until")
    until_s = None if until is None else seconds(until)
    if until is not None and until_s is None:
        raise DecodeError(what, f"until {until!r} is neither null nor a finite number >= 0")
    latency_s = seconds(latency)
    if latency_s is None:
        raise DecodeError(what, f"latency {latency!r} is not a finite number >= 0")
    faults = raw.get("faults")
    if not isinstance(faults, dict):
        raise DecodeError(what, "faults must be an object")
    if version == 1:
        if "recovery" in faults:
            raise DecodeError(what, "faults: a version 1 trace has no recovery")
        faults = {**faults, "recovery": "restart"}
    try:
        plan = FaultPlan(**faults)
        epoch = datetime.fromisoformat(str(raw.get("epoch")))
    except InvalidFaultPlan as exc:
        raise DecodeError(what, str(exc)) from None
    except TypeError as exc:
        raise DecodeError(what, f"faults: {exc}") from None
    except ValueError as exc:
        raise DecodeError(what, f"epoch: {exc}") from None
    if epoch.utcoffset() is None:
        raise DecodeError(what, "epoch must be timezone-aware")
    if "zone" in raw:
        zone = raw["zone"]
        try:
            epoch = epoch.astimezone(ZoneInfo(zone if isinstance(zone, str) else ""))
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise DecodeError(what, f"zone: {zone!r} names no time zone") from None
    by_name = {s.name: s for s in scenario.specs}
    codec = scenario.codec or _codec()
    agents: list[Agent[Any]] = []
    inputs: list[tuple[float, str, Signal]] = []
    sent_after: list[int] = []
    listed = {k: raw.get(k, []) for k in ("agents", "inputs")}
    for key, value in listed.items():
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise DecodeError(what, f"{key} must be a list of objects, not {value!r:.60}")
    try:
        for a in listed["agents"]:
            name = a.get("spec")
            spec = by_name.get(name) if isinstance(name, str) else None
            if spec is None:
                raise DecodeError(what, f"agent {a!r} runs no spec of the scenario")
            agents.append(codec.agent_from_dict(a, spec))
        for item in listed["inputs"]:
            at, to = seconds(item["at"]), item["to"]
            if at is None or not isinstance(to, str):
                raise DecodeError(
                    what, f"input {item!r} needs a finite number 'at' >= 0 and a string 'to'"
                )
            after = item.get("after", len(agents))
            if type(after) is not int or not 0 <= after <= len(agents):
                raise DecodeError(what, f"input {item!r}: 'after' must be 0..{len(agents)}")
            if sent_after and after < sent_after[-1]:
                raise DecodeError(what, f"input {item!r}: 'after' goes back in time")
            inputs.append((at, to, codec.signal_from_dict(item["signal"])))
            sent_after.append(after)
    except DecodeError as exc:
        raise DecodeError(what, exc.reason if exc.what == what else str(exc)) from None
    except (KeyError, TypeError, AttributeError) as exc:
        raise DecodeError(what, f"{type(exc).__name__}: {exc}") from None
    return _Header(
        version,
        spec_ref,
        seed,
        choices,
        events,
        until_s,
        plan,
        latency_s,
        epoch,
        tuple(agents),
        tuple(inputs),
        tuple(sent_after),
    )


def trace_spec(text: str) -> str | None:
    """The ``MODULE:NAME`` a trace's header says it was simulated from (``jido simulate``
    records it), or ``None`` if it does not say.

    Raises:
        DecodeError: the first line is not a simulation trace header.
    """
    lines = split_lines(text)
    try:
        raw = loads(lines[0]) if lines else None
    except ValueError as exc:
        raise DecodeError(_HEADER, f"not JSON: {exc}") from None
    return _header_spec(_header_dict(raw))


def replay(
    text: str,
    scenario: Scenario,
    *,
    progress: Callable[[int], None] | None = None,
) -> Divergence | None:
    """Re-run a trace written by :func:`simulation_to_jsonl` and compare it, line by line.

    The run is rebuilt from the header alone (seed or recorded choices, budget, time bound,
    faults, latency, epoch, agents, inputs); ``scenario`` supplies the specs, fakes and
    invariants. A spec, fake or invariant that changed behaviour shows up as a divergence
    (for a run replayed from its choices, possibly as one that drew more choices than were
    recorded). The run stops once it has more events than the trace has lines, whatever
    budget the header names: it differs from the trace there.

    Returns:
        ``None`` if the replay gives the same bytes, else the first :class:`Divergence`.
        The same bytes include a failure the trace ends in (see :func:`trace_failure`): the
        replay reproduced it.

    Raises:
        DecodeError: a line is not a JSON object, or the header is malformed; ``what``
            names the line.
    """
    lines = split_lines(text)
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise DecodeError("simulation trace line 1", "the trace is empty")
    parsed: list[object] = []
    for lineno, line in enumerate(lines, start=1):
        try:
            raw = loads(line)
        except json.JSONDecodeError as exc:
            raise DecodeError(f"simulation trace line {lineno}", f"not JSON: {exc.msg}") from None
        except ValueError as exc:
            raise DecodeError(f"simulation trace line {lineno}", str(exc)) from None
        if not isinstance(raw, dict):
            raise DecodeError(f"simulation trace line {lineno}", "expected a JSON object")
        parsed.append(raw)
    header = _read_header(parsed[0], scenario)
    effects, sensors, handlers = scenario._fakes()  # of this run, as for every run of it
    sim = Simulation(
        scenario.specs,
        seed=header.seed or 0,
        rng=None if header.choices is None else _Replayed(header.choices),
        faults=header.faults,
        effects=effects,
        invariants=scenario.invariants,
        sinks=scenario.sinks,
        sensors=sensors,
        directives=handlers,
        latency=header.latency,
        epoch=header.epoch,
        options=scenario.options,
        default_options=scenario.default_options,
        codec=scenario.codec,
    )
    if header.version < 3:
        sim._engine.lay_out_faults(legacy=True)
    if header.version < 4:
        sim._engine.announce_restarts = False
    try:
        sim._time_bound(header.until)
    except ValueError as exc:
        raise DecodeError(_HEADER, str(exc)) from None
    note: str | None = None
    running = False  # past the setup: what raises now comes from the run
    try:
        # In the order the setup did it: the starts before each input, then the rest.
        agents = iter(header.agents)
        started = 0
        for (at, to, sig), after in zip(header.inputs, header.sent_after, strict=True):
            for agent in itertools.islice(agents, after - started):
                sim.start(agent.spec, agent.id, agent.state)
            started = after
            sim._recorded_input(to, sig, at)
        for agent in agents:
            sim.start(agent.spec, agent.id, agent.state)
        running = True
        # A run of more events than the trace has lines differs from it there, whatever it
        # does next: it runs no further (a header may name any budget, 10**9 for one).
        result = sim.run(min(header.events, len(lines)), until=header.until, progress=progress)
    except InvariantViolated as exc:
        result = exc.result
    except ActionCrashed as exc:
        note = str(exc)
        result = sim.result()
    except _ChoicesExhausted as exc:
        note = str(exc)
        result = sim.result()
    except OverflowError as exc:
        # An epoch (or times) so late that the run's clock passes year 9999.
        raise DecodeError(
            _HEADER, f"the run's virtual time passes the end of the calendar: {exc}"
        ) from None
    except Exception as exc:
        if not running:
            raise  # the recorded setup does not fit the scenario: the caller says so
        # Other user code the run ran (a route guard, a custom strategy) raised: where the
        # recorded run went on, the replay stops, and the comparison says where.
        note = as_text(
            "user code a step ran (a route guard or a custom strategy) raised"
            f" {type(exc).__name__}: {exc}"
        )
        result = sim.result()
    # The header is compared as recorded: the budget it names, not the one the run was cut to.
    result = attrs.evolve(result, max_events=header.events)
    if header.choices is not None:
        # The header is compared as recorded: a diverging run shows at its first differing
        # event, not at a header listing the draws it happened to take.
        result = attrs.evolve(result, choices=header.choices)
    actual = split_lines(simulation_to_jsonl(result, codec=scenario.codec, spec=header.spec))
    if header.version != TRACE_VERSION and actual:
        # An older header was read into today's terms (see _READABLE_VERSIONS); the run is
        # what is compared, and the replay writes today's header.
        actual[0] = lines[0]
    for n in range(max(len(lines), len(actual))):
        want = lines[n] if n < len(lines) else None
        got = actual[n] if n < len(actual) else None
        if want != got:
            if note is not None and got is not None:
                # The replay stopped (out of choices, or user code raised) after this line:
                # what stopped it followed from this difference, it did not cause it.
                note = f"later, {note}"
            return Divergence(line=n + 1, expected=want, actual=got, note=note)
    return None
