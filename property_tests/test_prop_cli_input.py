"""The command line on any input file: a result or one clear error line, never a traceback.

Generated files (JSON lines of signals, fault plans, canned replies, simulation traces) mix
well-formed content with every way of getting it wrong: text that is not JSON, JSON of the
wrong shape, fields of the wrong type, numbers out of range or not finite, strings holding
line separators. Each command must end with exit code 0, 1 (``replay``: a divergence) or 2
(bad input, said in one line starting ``error:``), and never raise.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from jido_interpreters.cli import app

SPEC = "jido_examples.contentops:ORCHESTRATOR"
BANK = "jido_examples.bank:ACCOUNT"

texts = st.text(
    alphabet=st.sampled_from('\u2028\x85\r\n"{}[]:,\\') | st.characters(codec="utf-8"),
    max_size=10,
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=6,
)
# Raw number tokens Python's json reads, JSON or not.
numbers = st.sampled_from(["1e400", "-1e400", "NaN", "Infinity", "-0", "0.5", "1", "-1", "1e-9"])


def _event(fields: dict[str, Any]) -> dict[str, Any]:
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": "e1",
        "source": "/fuzz",
        "type": "contentops.run.requested",
        "data": {"topics": ["a"]},
    }
    event.update(fields)
    return event


signal_lines = st.one_of(
    st.builds(
        lambda f: json.dumps(_event(f), ensure_ascii=False),
        st.dictionaries(
            st.sampled_from(
                ["id", "source", "type", "time", "data", "specversion", "subject", "x"]
            ),
            json_values,
            max_size=2,
        ),
    ),
    st.builds(lambda n: f'{{"advance": {n}}}', numbers),
    st.builds(lambda v: json.dumps(v, ensure_ascii=False), json_values),
    texts,
)
# A review script's lines: those, and lines addressed to an agent (one running, one not, no
# agent id at all), their signal well-formed or not.
script_lines = signal_lines | st.builds(
    lambda to, signal: json.dumps({"to": to, "signal": signal}, ensure_ascii=False),
    st.sampled_from(["orchestrator", "w1", "nobody"]) | json_values,
    st.builds(_event, st.dictionaries(st.sampled_from(["id", "data", "x"]), json_values))
    | json_values,
)
# --start values: good, malformed, an unknown spec, the root's id, a duplicate.
starts = st.lists(
    st.sampled_from(
        ["w1=writer", "w2=orchestrator", "w1", "=writer", "w3=nope", "orchestrator=writer"]
    ),
    max_size=3,
)
fault_plans = st.one_of(
    st.builds(
        lambda d: json.dumps(d),
        st.dictionaries(
            st.sampled_from(["drop", "delay", "duplicate", "reorder", "crash", "max_delay", "x"]),
            scalars,
            max_size=3,
        ),
    ),
    st.builds(lambda n: f'{{"drop": {n}}}', numbers),
    st.builds(lambda v: json.dumps(v, ensure_ascii=False), json_values),
    texts,
)
replies = st.one_of(
    st.builds(
        lambda d: json.dumps(d, ensure_ascii=False),
        st.dictionaries(st.sampled_from(["llm.plan", "llm.draft", "x"]), json_values, max_size=2),
    ),
    st.builds(lambda v: json.dumps(v, ensure_ascii=False), json_values),
    texts,
)


def _run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def _clean(result: Result, allowed: tuple[int, ...] = (0, 2)) -> None:
    assert result.exit_code in allowed, (result.exit_code, result.output, result.exception)
    if result.exception is not None:
        assert isinstance(result.exception, SystemExit), repr(result.exception)
    if result.exit_code == 2:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("error:"), result.stderr


@settings(max_examples=60)
@given(lines=st.lists(script_lines, max_size=4), reply=st.none() | replies, start=starts)
def test_review_on_any_file(lines: list[str], reply: str | None, start: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        signals = Path(tmp) / "signals.jsonl"
        signals.write_text("\n".join(lines) + "\n", encoding="utf-8")
        args = ["review", SPEC, str(signals), *(a for v in start for a in ("--start", v))]
        if reply is not None:
            (Path(tmp) / "replies.json").write_text(reply, encoding="utf-8")
            args += ["--replies", str(Path(tmp) / "replies.json")]
        _clean(_run(*args))


@settings(max_examples=40)
@given(plan=fault_plans)
def test_simulate_on_any_fault_plan(plan: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "plan.json"
        path.write_text(plan, encoding="utf-8")
        _clean(_run("simulate", BANK, "--seed", "1", "--events", "30", "--faults", str(path)))


@settings(max_examples=40)
@given(data=st.data())
def test_replay_on_any_trace(data: st.DataObject) -> None:
    """A real trace, then damaged: a line replaced, dropped or added."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trace.jsonl"
        made = _run("simulate", BANK, "--seed", "3", "--events", "20", "--trace-out", str(path))
        assert made.exit_code == 0, made.output
        lines = path.read_text(encoding="utf-8").split("\n")[:-1]
        i = data.draw(st.integers(0, len(lines)))
        how = data.draw(st.sampled_from(["replace", "drop", "insert", "keep"]))
        junk = data.draw(script_lines | fault_plans)  # with objects holding "to" and "signal"
        if how == "replace" and i < len(lines):
            lines[i] = junk
        elif how == "drop" and i < len(lines):
            del lines[i]
        elif how == "insert":
            lines.insert(i, junk)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        spec = [BANK] if data.draw(st.booleans()) else []  # else: the one the header names
        _clean(_run("replay", str(path), *spec), allowed=(0, 1, 2))
