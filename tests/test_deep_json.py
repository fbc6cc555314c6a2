"""JSON nested deeper than Python's parser goes, in every file a reader or the CLI takes: a
DecodeError (an ``error:`` line and exit 2 from the CLI) naming where, never a raw
RecursionError."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.test_interp_cli import SPEC, TWO_SCENARIOS, one_error_line, request, run

from jido.serde import DecodeError
from jido_interpreters import trace_from_jsonl
from jido_interpreters._jsonl import loads
from jido_interpreters._sim_trace import replay, trace_failure, trace_spec
from jido_interpreters._simulation import Scenario

#: One line of JSON nested far deeper than Python's parser goes.
DEEP = "[" * 100_000 + "]" * 100_000


def _trace(tmp_path: Path) -> Path:
    module = tmp_path / "two.py"
    module.write_text(TWO_SCENARIOS, encoding="utf-8")
    trace = tmp_path / "once.jsonl"
    assert run("simulate", f"{module}:ONCE", "--trace-out", str(trace)).exit_code == 0
    return trace


def test_loads_refuses_what_is_nested_too_deep_with_a_value_error() -> None:
    """``_jsonl.loads`` says ValueError for every way text is not JSON it can read, values
    nested too deep included; stored bytes are read as UTF-8."""
    with pytest.raises(ValueError, match="nested deeper"):
        loads(DEEP)
    assert loads(b'{"a": [1]}') == {"a": [1]}
    with pytest.raises(UnicodeDecodeError):
        loads(b'"\xff"')


def test_the_trace_readers_refuse_what_is_nested_too_deep(tmp_path: Path) -> None:
    """trace_from_jsonl, trace_spec and replay raise DecodeError naming the line (the header
    or a later one); trace_failure finds no failure in such a last line."""
    with pytest.raises(DecodeError, match="trace line 1"):
        trace_from_jsonl(DEEP + "\n", [])
    with pytest.raises(DecodeError, match="line 1"):
        trace_spec(DEEP + "\n")
    scenario = Scenario(specs=[], setup=lambda sim: None)
    with pytest.raises(DecodeError, match="line 1"):
        replay(DEEP + "\n", scenario)
    header = _trace(tmp_path).read_text(encoding="utf-8").splitlines()[0]
    with pytest.raises(DecodeError, match="line 2"):
        replay(f"{header}\n{DEEP}\n", scenario)
    assert trace_failure(f"{header}\n{DEEP}\n") is None


def test_the_cli_refuses_files_nested_too_deep_with_one_error_line(tmp_path: Path) -> None:
    """review's signals and --replies, simulate's --faults and replay's trace (its header or
    a later line): one ``error:`` line naming the file (and line), exit 2."""
    deep = tmp_path / "deep.jsonl"
    deep.write_text(DEEP + "\n", encoding="utf-8")
    trace = _trace(tmp_path)
    later = tmp_path / "later.jsonl"
    header = trace.read_text(encoding="utf-8").splitlines()[0]
    later.write_text(f"{header}\n{DEEP}\n", encoding="utf-8")
    module = tmp_path / "two.py"
    cases = [
        (("review", SPEC, str(deep)), f"{deep}:1"),
        (("review", SPEC, str(request(tmp_path)), "--replies", str(deep)), str(deep)),
        (("simulate", f"{module}:ONCE", "--faults", str(deep)), f"{deep} line 1"),
        (("replay", str(deep), f"{module}:ONCE"), "line 1"),
        (("replay", str(later)), "line 2"),
    ]
    for args, where in cases:
        line = one_error_line(run(*args))
        assert where in line, line
        assert "nested deeper" in line, line
