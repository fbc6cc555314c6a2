"""Traces: what an interpreter did, one entry per signal handled."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any, final

import attrs

from jido import Agent, AgentSpec, Directive, Problem, Signal
from jido.serde import Codec, DecodeError

from ._jsonl import loads, split_lines

__all__ = ["TraceEntry", "trace_from_jsonl", "trace_to_jsonl"]


@final
@attrs.frozen(kw_only=True)
class TraceEntry:
    """One signal handled by one agent.

    Attributes:
        index: position in the run, from 0.
        at: virtual (or, for real-time runtimes, monotonic) seconds since the runtime started.
        agent_id: the agent that handled the signal.
        signal: the signal in.
        before: the agent before the step.
        after: the agent after the step.
        directives: the directives out, as ``step`` returned them.
        problems: what went wrong executing those directives (an effect with no handler, a
            parent that does not exist...). ``Error`` directives stay in ``directives``.
    """

    index: int
    at: float
    agent_id: str
    signal: Signal
    before: Agent[Any]
    after: Agent[Any]
    directives: tuple[Directive, ...]
    problems: tuple[Problem, ...] = ()


def _entry_to_dict(entry: TraceEntry, codec: Codec) -> dict[str, Any]:
    return {
        "index": entry.index,
        "at": entry.at,
        "agent_id": entry.agent_id,
        "signal": codec.to_dict(entry.signal),
        "before": codec.to_dict(entry.before),
        "after": codec.to_dict(entry.after),
        "directives": [codec.to_dict(d) for d in entry.directives],
        "problems": [codec.to_dict(p) for p in entry.problems],
    }


def trace_to_jsonl(entries: Iterable[TraceEntry], *, codec: Codec | None = None) -> str:
    """The trace as JSON lines, one entry per line."""
    c = codec or Codec()
    return "".join(
        json.dumps(_entry_to_dict(e, c), separators=(",", ":"), ensure_ascii=False) + "\n"
        for e in entries
    )


def trace_from_jsonl(
    text: str,
    specs: Mapping[str, AgentSpec[Any]] | Iterable[AgentSpec[Any]],
    *,
    codec: Codec | None = None,
) -> tuple[TraceEntry, ...]:
    """Decode a trace written by :func:`trace_to_jsonl`.

    Args:
        text: the JSON lines.
        specs: the specs of the agents in the trace (by name, or a list).
        codec: a codec that knows any custom directives in the trace.

    Raises:
        DecodeError: a line is not a valid entry (not JSON, a field missing or of the wrong
            type: an ``index`` that is not an integer >= 0, an ``at`` that is not a number
            of seconds >= 0, an ``agent_id`` that is not a string...); the message gives the
            line number and what is wrong.
    """
    c = codec or Codec()
    by_name = dict(specs) if isinstance(specs, Mapping) else {s.name: s for s in specs}
    out: list[TraceEntry] = []
    for lineno, line in enumerate(split_lines(text), start=1):
        if not line.strip():
            continue
        try:
            raw = loads(line)
            name = raw["before"]["spec"]
            spec = by_name.get(name) if isinstance(name, str) else None
            if spec is None:
                given = ", ".join(sorted(by_name)) or "none"
                raise DecodeError(
                    f"trace line {lineno}", f"no spec named {name!r} was given (given: {given})"
                )
            out.append(
                TraceEntry(
                    index=_index(raw["index"]),
                    at=_at(raw["at"]),
                    agent_id=_agent_id(raw["agent_id"]),
                    signal=c.signal_from_dict(raw["signal"]),
                    before=c.agent_from_dict(raw["before"], spec),
                    after=c.agent_from_dict(raw["after"], spec),
                    directives=tuple(c.directive_from_dict(d) for d in raw["directives"]),
                    problems=tuple(c.problem_from_dict(p) for p in raw["problems"]),
                )
            )
        except DecodeError as exc:
            raise DecodeError(f"trace line {lineno}", exc.reason) from None
        except (ValueError, KeyError, TypeError) as exc:  # not JSON; NaN; a field missing
            raise DecodeError(f"trace line {lineno}", f"{type(exc).__name__}: {exc}") from None
    return tuple(out)


# A TraceEntry does not check its fields (the runtimes build it from values they own), so a
# trace read back does, here: a decoded entry must be one a runtime could have written.


def _index(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DecodeError("entry", f"index {value!r} is not an integer >= 0")
    return value


def _at(value: object) -> float:
    # JSON has no NaN or Infinity, but 1e999 parses as infinity.
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
        raise DecodeError("entry", f"at {value!r} is not a number of seconds >= 0")
    return float(value)


def _agent_id(value: object) -> str:
    if not isinstance(value, str):
        raise DecodeError("entry", f"agent_id {value!r} is not a string")
    return value
