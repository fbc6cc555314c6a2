"""The ``jido`` command line: demo, graph, review, and one-line errors with exit code 2."""

from __future__ import annotations

import colorsys
import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

import jido
import jido_examples
import jido_interpreters
from jido_interpreters.cli import app

SPEC = "jido_examples.contentops:ORCHESTRATOR"


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def cloudevent(n: int, type: str, data: object = None, **extra: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": f"evt-{n}",
        "source": "/tests",
        "type": type,
        "time": "2026-01-01T00:00:00+00:00",
    }
    if data is not None:
        event["data"] = data
    event.update(extra)
    return event


def script(tmp_path: Path, *lines: object, raw: str | None = None) -> Path:
    path = tmp_path / "signals.jsonl"
    text = "".join(json.dumps(line) + "\n" for line in lines)
    path.write_text(text if raw is None else raw, encoding="utf-8")
    return path


def request(tmp_path: Path) -> Path:
    return script(
        tmp_path,
        cloudevent(1, "contentops.run.requested", {"topics": ["alpha", "beta gamma"]}),
        {"advance": 60},
    )


def one_error_line(result: Result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:")
    return lines[0]


# ---------------------------------------------------------------- demo and graph


def test_demo_on_the_sync_runtime_runs_the_example_and_reports() -> None:
    """`jido demo --runtime sync` exits 0 and prints the published report."""
    result = run("demo", "--runtime", "sync")
    assert result.exit_code == 0, result.output
    assert "report: report-1: 480 words" in result.stdout
    assert "audit sink: ['contentops.run.completed']" in result.stdout


def test_demo_on_the_default_runtime_runs_the_example_and_reports() -> None:
    """`jido demo` (AsyncRuntime) exits 0 and prints the published report."""
    result = run("demo")
    assert result.exit_code == 0, result.output
    assert "report: report-1: 480 words" in result.stdout


def test_demo_with_a_store_recovers_what_it_ran(tmp_path: Path) -> None:
    """`jido demo --store FILE` journals the run in SQLite, recovers the agents from it in a
    fresh runtime, and says they equal the live ones; the file then holds the run."""
    db = tmp_path / "demo.db"
    result = run("demo", "--store", str(db))
    assert result.exit_code == 0, result.output
    assert "report: report-1: 480 words" in result.stdout
    assert (
        f"recovered from {db} by replaying its journal: orchestrator, equal to the live agents"
        in result.stdout
    )
    with sqlite3.connect(db) as conn:
        (journalled,) = conn.execute("SELECT COUNT(*) FROM journal").fetchone()
    assert journalled >= 19


def test_demo_refuses_a_store_that_exists_or_the_sync_runtime(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    db.write_bytes(b"")
    assert "exists" in one_error_line(run("demo", "--store", str(db)))
    other = tmp_path / "other.db"
    assert "async runtime" in one_error_line(
        run("demo", "--runtime", "sync", "--store", str(other))
    )
    assert not other.exists()


def test_demo_rejects_an_unknown_runtime() -> None:
    """`jido demo --runtime ray` is bad input: one error line, exit code 2."""
    assert "ray" in one_error_line(run("demo", "--runtime", "ray"))


def test_graph_prints_the_fsm_as_a_mermaid_state_diagram() -> None:
    """`jido graph` on an FSM spec prints a Mermaid stateDiagram-v2 with its statuses."""
    result = run("graph", SPEC)
    assert result.exit_code == 0, result.output
    assert "stateDiagram-v2" in result.stdout
    for status in ("idle", "running", "reporting"):
        assert status in result.stdout


def test_graph_of_an_fsm_spec_draws_its_routes_too() -> None:
    """`jido graph` on an FSM spec draws the routes no row controls as well as the table:
    the orchestrator's child lifecycle and deadline routes are part of what it does."""
    result = run("graph", SPEC)
    assert result.exit_code == 0, result.output
    lines = [line.strip() for line in result.stdout.splitlines()]
    start = lines.index("note left of st_idle")
    assert lines[start : start + 6] == [
        "note left of st_idle",
        "routes, in any status (status unchanged):",
        "jido.agent.child.started / brief_writer",
        "jido.agent.child.exit / forget_writer",
        "contentops.run.deadline / deadline",
        "end note",
    ]


# ---------------------------------------------------------------- review


def test_review_dry_runs_a_script_of_cloudevents_as_text(tmp_path: Path) -> None:
    """`jido review` text: the request's steps, then the deadline after advancing 60 s."""
    result = run("review", SPEC, str(request(tmp_path)))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("Dry-run review of orchestrator (signals.jsonl)")
    assert "orchestrator <- contentops.run.requested (evt-1)" in out
    assert "t=60s orchestrator <- contentops.run.deadline" in out
    assert "effects: " in out


def test_review_as_markdown(tmp_path: Path) -> None:
    """`jido review --format md` prints Markdown."""
    result = run("review", SPEC, str(request(tmp_path)), "--format", "md")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("# Dry-run review of orchestrator")
    assert "`contentops.run.requested` → `orchestrator`" in result.stdout


def test_review_as_json_performs_no_effect(tmp_path: Path) -> None:
    """`jido review --format json` parses; with no replies the drafts time out at the deadline."""
    result = run("review", SPEC, str(request(tmp_path)), "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    types = [s["signal_type"] for s in doc["steps"]]
    assert types[0] == "contentops.run.requested"
    assert "contentops.run.deadline" in types
    assert "contentops.draft.ready" not in types  # llm.draft never ran: no outcome
    final = doc["final"]["orchestrator"]
    assert final["failed"] == {"alpha": "timed out", "beta gamma": "timed out"}
    assert final["drafts"] == {}


def test_review_with_canned_replies_follows_the_happy_path(tmp_path: Path) -> None:
    """`jido review --replies` feeds canned effect results back, so drafts complete."""
    replies = tmp_path / "replies.json"
    replies.write_text(json.dumps({"llm.draft": {"words": 7}, "report.publish": "done"}))
    result = run(
        "review", SPEC, str(request(tmp_path)), "--format", "json", "--replies", str(replies)
    )
    assert result.exit_code == 0, result.output
    final = json.loads(result.stdout)["final"]["orchestrator"]
    assert final["drafts"] == {"alpha": 7, "beta gamma": 7}
    assert final["report"] == "done"


@pytest.mark.parametrize(
    ("error", "says"),
    [
        ("boom", 'expected {"type": string, "message": string}, not "boom"'),
        ({"message": 5}, 'expected {"type": string, "message": string}: "type" missing'),
        ({}, 'expected {"type": string, "message": string}: "type", "message" missing'),
        (
            {"type": "X", "message": "m", "at": 1},
            'expected {"type": string, "message": string}: "at" unexpected',
        ),
        ({"type": "X", "message": 5}, "a canned error's message must be a string, not 5"),
        ({"type": None, "message": "m"}, "a canned error's type must be a string, not None"),
    ],
)
def test_review_refuses_a_canned_error_that_is_not_a_type_and_a_message(
    tmp_path: Path, error: object, says: str
) -> None:
    """A ``$error`` reply must be ``{"type": string, "message": string}``: anything else is
    one error line naming the file and the effect and saying what is wrong, not a canned
    error made up of defaults or of numbers."""
    replies = tmp_path / "replies.json"
    replies.write_text(json.dumps({"llm.draft": {"words": 7}, "report.publish": {"$error": error}}))
    line = one_error_line(run("review", SPEC, str(request(tmp_path)), "--replies", str(replies)))
    assert line == f"error: {replies}: report.publish: $error: {says}"


def test_review_feeds_a_canned_error_back_as_on_error(tmp_path: Path) -> None:
    """A well-formed ``$error`` reply is a CannedError: the effect's on_error signal carries
    its type and message."""
    replies = tmp_path / "replies.json"
    error = {"type": "IOError", "message": "disk full"}
    replies.write_text(json.dumps({"llm.draft": {"words": 7}, "report.publish": {"$error": error}}))
    args = ["review", SPEC, str(request(tmp_path)), "--format", "json", "--replies", str(replies)]
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert "disk full" in result.stdout


# ---------------------------------------------------------------- bad input


def test_review_line_that_is_not_json_is_one_error_naming_the_line(tmp_path: Path) -> None:
    """A script line that is not JSON: exit 2, one error line naming line 2."""
    good = json.dumps(cloudevent(1, "contentops.run.requested"))
    path = script(tmp_path, raw=good + "\n{not json\n")
    line = one_error_line(run("review", SPEC, str(path)))
    assert "signals.jsonl:2:" in line
    assert "not JSON" in line


def test_review_signal_missing_id_is_one_error_naming_the_line(tmp_path: Path) -> None:
    """A CloudEvent without `id`: exit 2, one error line naming the line and the attribute."""
    event = cloudevent(2, "contentops.run.requested")
    del event["id"]
    path = script(tmp_path, {"advance": 1}, event)
    line = one_error_line(run("review", SPEC, str(path)))
    assert "signals.jsonl:2:" in line
    assert "id" in line


def test_review_unknown_spec_module_is_one_error(tmp_path: Path) -> None:
    """A spec module that cannot be imported: exit 2, one error line naming it."""
    line = one_error_line(run("review", "no_such_module_xyz:SPEC", str(request(tmp_path))))
    assert "no_such_module_xyz" in line


def test_review_name_that_is_not_an_agent_spec_is_one_error(tmp_path: Path) -> None:
    """A MODULE:NAME whose NAME is not an AgentSpec: exit 2, one error line saying so."""
    ref = "jido_examples.contentops:DEADLINE_SECONDS"
    line = one_error_line(run("review", ref, str(request(tmp_path))))
    assert "is not an AgentSpec" in line


def test_graph_name_that_is_not_an_agent_spec_is_one_error() -> None:
    """`jido graph` on something that is not a spec: exit 2, one error line."""
    assert "is not an AgentSpec" in one_error_line(run("graph", "jido_examples.contentops:EFFECTS"))


LISTED_ONLY = """
import attrs
from jido import AgentSpec

@attrs.frozen
class S:
    n: int = 0

SPECS = (AgentSpec(name="counter", state=S), AgentSpec(name="worker", state=S))
"""


def test_a_spec_is_found_by_its_name_in_specs(tmp_path: Path) -> None:
    """NAME may be the name of a spec the module lists in SPECS (no variable holds it); a
    name neither has is one error line listing the specs there are."""
    module = tmp_path / "listed.py"
    module.write_text(LISTED_ONLY, encoding="utf-8")
    assert run("graph", f"{module}:worker").exit_code == 0
    line = one_error_line(run("graph", f"{module}:boss"))
    assert line.endswith("boss is not in the module (its specs: counter, worker)")


def test_review_bad_format_is_one_error(tmp_path: Path) -> None:
    """`--format html`: exit 2, one error line naming the format."""
    line = one_error_line(run("review", SPEC, str(request(tmp_path)), "--format", "html"))
    assert "html" in line


@pytest.mark.parametrize("advance", ["-5", '"soon"', "true"])
def test_review_bad_advance_is_one_error_naming_the_line(tmp_path: Path, advance: str) -> None:
    """An `advance` that is not a number of seconds >= 0: exit 2, naming line 1."""
    path = script(tmp_path, raw='{"advance": ' + advance + "}\n")
    assert "signals.jsonl:1:" in one_error_line(run("review", SPEC, str(path)))


def test_review_missing_script_file_is_one_error(tmp_path: Path) -> None:
    """A script path that does not exist: exit 2, one error line."""
    one_error_line(run("review", SPEC, str(tmp_path / "missing.jsonl")))


@pytest.mark.parametrize("seconds", ["1e400", "NaN", "-Infinity", "-1", '"5"', "true"])
def test_review_refuses_an_advance_that_is_not_a_finite_number(
    tmp_path: Path, seconds: str
) -> None:
    """`{"advance": 1e400}` would tick cron jobs for ever; NaN is not JSON: each is one error
    line naming the file and line, exit code 2."""
    path = tmp_path / "signals.jsonl"
    path.write_text(
        json.dumps(cloudevent(1, "contentops.run.requested", {"topics": ["a"]}))
        + f'\n{{"advance": {seconds}}}\n',
        encoding="utf-8",
    )
    line = one_error_line(run("review", SPEC, str(path)))
    assert f"{path}:2:" in line


def test_review_reads_strings_holding_line_separators(tmp_path: Path) -> None:
    """A JSON string may hold U+2028 and U+0085 as they are: the line is one line, and the
    line numbers after it stay right."""
    path = tmp_path / "signals.jsonl"
    event = cloudevent(1, "contentops.run.requested", {"topics": ["a\u2028b", "c\x85d"]})
    path.write_text(json.dumps(event, ensure_ascii=False) + "\n" + "{not json}\n", encoding="utf-8")
    assert "signals.jsonl:2: not JSON" in one_error_line(run("review", SPEC, str(path)))
    path.write_text(json.dumps(event, ensure_ascii=False) + "\n", encoding="utf-8")
    result = run("review", SPEC, str(path), "--format", "json")
    assert result.exit_code == 0, result.output
    review = json.dumps(json.loads(result.stdout), ensure_ascii=False)
    assert "a\u2028b" in review  # the topic, whole, in the plan the orchestrator made


# ---------------------------------------------------------------- odd input, odd specs


def test_review_knows_the_named_sinks_it_is_told_of(tmp_path: Path) -> None:
    """Without ``--sink`` an emit to a named sink is reported as going nowhere; with it, the
    review says what the real system (which has the sink) would do."""
    replies = tmp_path / "replies.json"
    replies.write_text(json.dumps({"llm.draft": {"words": 7}, "report.publish": "done"}))
    args = ["review", SPEC, str(request(tmp_path)), "--replies", str(replies)]
    assert "no sink named 'audit'" in run(*args).stdout
    told = run(*args, "--sink", "audit")
    assert told.exit_code == 0, told.output
    assert "no sink named" not in told.stdout
    assert "audit" in told.stdout
    assert "received nothing" not in told.stderr


def test_review_notes_a_named_sink_that_received_nothing(tmp_path: Path) -> None:
    """A ``--sink`` no agent emitted to (a typo, most likely) is noted on stderr, the review
    on stdout as it was; an empty name, which no agent can emit to, is an error."""
    replies = tmp_path / "replies.json"
    replies.write_text(json.dumps({"llm.draft": {"words": 7}, "report.publish": "done"}))
    args = ["review", SPEC, str(request(tmp_path)), "--replies", str(replies), "--format", "json"]
    typo = run(*args, "--sink", "audit", "--sink", "adit")
    assert typo.exit_code == 0, typo.output
    json.loads(typo.stdout)
    assert typo.stderr == "note: --sink 'adit' received nothing: no agent emitted to it (a typo?)\n"
    assert "received nothing" not in run(*args, "--sink", "audit").stderr
    assert "--sink: a sink's name must not be empty" in one_error_line(run(*args, "--sink", ""))


def test_files_that_are_not_utf8_are_one_error(tmp_path: Path) -> None:
    """Every file the CLI reads (signals, replies, fault plans, traces) that is not UTF-8
    text is one error line naming it, exit code 2."""
    bad = tmp_path / "latin1.json"
    bad.write_bytes(b"\xff\xfe caf\xe9")
    empty = script(tmp_path, raw="")
    bank = "jido_examples.bank:ACCOUNT"
    for args in (
        ("review", SPEC, str(bad)),
        ("review", SPEC, str(empty), "--replies", str(bad)),
        ("simulate", bank, "--faults", str(bad)),
        ("replay", str(bad), bank),
    ):
        assert "latin1.json: not UTF-8 text" in one_error_line(run(*args))


LOOPY = """
import attrs
from jido import AgentSpec, Route, action, emit, ok, schedule, stop

@attrs.frozen
class S:
    n: int = 0

@action()
def quit(state, params, ctx):
    return ok(state, stop())

@action()
def ping(state, params, ctx):
    return ok(S(state.n + 1), emit("l.ping"))

@action()
def boom(state, params, ctx):
    raise RuntimeError("kaboom")

@action()
def later(state, params, ctx):
    return ok(state, schedule(1e308, "l.boom"))

LOOPY = AgentSpec(
    name="loopy",
    state=S,
    routes=[
        Route(pattern="l.ping", target=ping),
        Route(pattern="l.boom", target=boom),
        Route(pattern="l.later", target=later),
        Route(pattern="l.quit", target=quit),
    ],
)
"""


@pytest.mark.parametrize(
    "lines",
    [
        [{"advance": 10**400}],  # an int no float can hold
        [cloudevent(1, "l.later"), {"advance": 1e308}],  # a timer past the year 9999
    ],
)
def test_review_advancing_past_any_clock_is_one_error(tmp_path: Path, lines: list[object]) -> None:
    """An ``advance`` too large for a float, or one that takes virtual time past the
    calendar's end, is one error line, not an OverflowError. (The spec has no timers: with a
    nightly cron, advancing eight thousand years would first run every tick.)"""
    module = tmp_path / "loopy.py"
    module.write_text(LOOPY, encoding="utf-8")
    path = script(tmp_path, *lines)
    assert one_error_line(run("review", f"{module}:LOOPY", str(path))).startswith(f"error: {path}")


def test_review_sending_to_the_agent_after_it_stopped_is_one_error(tmp_path: Path) -> None:
    """A script that goes on sending to the reviewed agent after it stopped is told so, in
    one line naming the line (blank lines counted)."""
    module = tmp_path / "loopy.py"
    module.write_text(LOOPY, encoding="utf-8")
    quit = json.dumps(cloudevent(1, "l.quit"))
    path = script(tmp_path, raw=f"\n{quit}\n\n{quit.replace('evt-1', 'evt-2')}\n")
    line = one_error_line(run("review", f"{module}:LOOPY", str(path)))
    assert line == f"error: {path}:4: agent 'loopy' has stopped, nothing reaches it any more"


@pytest.mark.parametrize("format", ["text", "md", "json"])
@pytest.mark.parametrize(
    ("lines", "says"),
    [
        ([cloudevent(1, "l.quit"), cloudevent(2, "l.quit")], "agent 'loopy' has stopped"),
        ([cloudevent(1, "l.later"), {"advance": 1e308}], "virtual time passes the end"),
    ],
)
def test_review_of_a_bad_line_shows_the_lines_before_it(
    tmp_path: Path, format: str, lines: list[object], says: str
) -> None:
    """A line the run refuses (sending to an agent that stopped, advancing past the
    calendar) comes after the review of the lines before it, in every format, as a crash
    does: a reviewer needs to see how the run got there. Then one error line, exit code 2."""
    module = tmp_path / "loopy.py"
    module.write_text(LOOPY, encoding="utf-8")
    path = script(tmp_path, *lines)
    result = run("review", f"{module}:LOOPY", str(path), "--format", format)
    assert one_error_line(result).startswith(f"error: {path}:2: {says}")
    first = lines[0]["type"]  # type: ignore[index]
    if format == "json":
        doc = json.loads(result.stdout)
        assert [step["signal_type"] for step in doc["steps"]] == [first]
    else:
        assert "Dry-run review of loopy (signals.jsonl)" in result.stdout
        step = f"## 0. `{first}` → `loopy`" if format == "md" else f"[0] t=0s loopy <- {first}"
        assert step in result.stdout
        assert "[1]" not in result.stdout
        assert "## 1." not in result.stdout


def test_review_advancing_past_the_calendar_names_the_line(tmp_path: Path) -> None:
    """An advance that takes virtual time past the year 9999 is named by its line number,
    as every other error in the file, blank lines counted."""
    path = script(tmp_path, raw='\n\n\n{"advance": 1e300}\n')
    line = one_error_line(run("review", SPEC, str(path)))
    assert line == f"error: {path}:4: virtual time passes the end of the calendar"


@pytest.mark.parametrize(
    ("type", "says"),
    [("l.boom", "action 'boom' of agent 'loopy' raised"), ("l.ping", "after 500 signals")],
)
def test_review_of_a_spec_that_crashes_or_runs_away_fails_in_one_line(
    tmp_path: Path, type: str, says: str
) -> None:
    """A reviewed action that raises, or a chain of signals that never ends, is reported as
    a failure (exit code 1) in one line, not a traceback."""
    module = tmp_path / "loopy.py"
    module.write_text(LOOPY, encoding="utf-8")
    path = script(tmp_path, cloudevent(1, type))
    result = run("review", f"{module}:LOOPY", str(path), "--max-steps", "500")
    assert result.exit_code == 1, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("failed:")
    assert says in line


def test_demo_store_in_a_directory_that_does_not_exist_is_one_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "demo.db"
    assert "no directory" in one_error_line(run("demo", "--store", str(missing)))


def test_demo_prints_topics_as_written() -> None:
    """A topic that looks like rich markup (or an emoji code) is printed as written: no
    MarkupError, no brackets lost."""
    result = run(
        "demo", "--runtime", "sync", "--topic", "notes [/x]", "--topic", "[bold]y[/] :smile:"
    )
    assert result.exit_code == 0, result.output
    (drafts,) = (line for line in result.stdout.splitlines() if line.startswith("drafts:"))
    assert "'notes [/x]'" in drafts
    assert "'[bold]y[/] :smile:'" in drafts


def test_error_lines_print_user_text_as_written(tmp_path: Path) -> None:
    """An error line quoting what the user wrote (a path with brackets) keeps it whole."""
    line = one_error_line(run("graph", f"{tmp_path}/notes [/x] [bold]y.py:SPEC"))
    assert line.endswith(f"no file {tmp_path}/notes [/x] [bold]y.py")


@pytest.mark.parametrize(
    "data",
    [
        r'{"topics": ["\ud800"]}',  # a lone high surrogate
        r'{"topics": ["a\uDC00b"]}',  # a lone low one, in capitals
        r'{"\udfff": 1, "topics": ["a"]}',  # in a key
    ],
)
def test_review_refuses_a_lone_surrogate_naming_the_line(tmp_path: Path, data: str) -> None:
    """A JSON-escaped lone surrogate is no character: refused when the file is read (exit 2,
    naming the line), not once the review is printed (a UnicodeEncodeError)."""
    good = json.dumps(cloudevent(1, "contentops.run.requested", {"topics": ["a"]}))
    bad = good.replace('"data": {"topics": ["a"]}', f'"data": {data}')
    assert bad != good
    path = script(tmp_path, raw=f"{good}\n\n{bad}\n")
    line = one_error_line(run("review", SPEC, str(path)))
    assert f"{path}:3: a string holds a lone surrogate" in line


def test_review_reads_surrogate_pairs_and_escaped_backslashes(tmp_path: Path) -> None:
    """A surrogate pair is one character, and ``\\\\ud800`` is a backslash then text: both are
    fine."""
    event = json.dumps(cloudevent(1, "contentops.run.requested", {"topics": ["a"]}))
    path = script(tmp_path, raw=event.replace('["a"]', r'["\ud83d\ude00", "\\ud800"]') + "\n")
    result = run("review", SPEC, str(path), "--format", "json")
    assert result.exit_code == 0, result.output
    changes = json.loads(result.stdout)["steps"][0]["changes"]
    assert {"path": "state.topics", "before": [], "after": ["\U0001f600", "\\ud800"]} in [
        {k: c[k] for k in ("path", "before", "after")} for c in changes
    ]


REQUIRED = """
import attrs
from jido import AgentSpec

@attrs.frozen
class S:
    n: int  # required: the spec cannot make an agent without a state given

REQUIRED = AgentSpec(name="required", state=S)
"""


def test_review_of_a_spec_it_cannot_start_is_one_error(tmp_path: Path) -> None:
    """A spec whose state class has a required field cannot start with no state given: one
    error line saying so (exit 2), as ``simulate`` does, not a TypeError's traceback."""
    module = tmp_path / "required.py"
    module.write_text(REQUIRED, encoding="utf-8")
    path = script(tmp_path, cloudevent(1, "x.y"))
    line = one_error_line(run("review", f"{module}:REQUIRED", str(path)))
    assert line.startswith(f"error: spec '{module}:REQUIRED': cannot start agent 'required': ")
    assert "S has no default for 'n'" in line


CRASHING_SCENARIO = (
    LOOPY
    + """
from jido_interpreters import Scenario

def setup(sim):
    sim.start(LOOPY, "loopy")
    sim.send("loopy", "l.boom")

SCENARIO = Scenario(specs=[LOOPY], setup=setup)
"""
)


def test_a_crash_is_reported_with_the_exception_behind_it(tmp_path: Path) -> None:
    """The ``failed:`` line of ``review`` and ``simulate`` says what the action raised."""
    (tmp_path / "loopy.py").write_text(LOOPY, encoding="utf-8")
    (tmp_path / "crashing.py").write_text(CRASHING_SCENARIO, encoding="utf-8")
    says = "failed: action 'boom' of agent 'loopy' raised handling 'l.boom': RuntimeError: kaboom"
    path = script(tmp_path, cloudevent(1, "l.boom"))
    reviewed = run("review", f"{tmp_path}/loopy.py:LOOPY", str(path))
    assert reviewed.exit_code == 1, reviewed.output
    assert reviewed.stderr.strip() == says
    simulated = run("simulate", f"{tmp_path}/crashing.py:LOOPY")
    assert simulated.exit_code == 1, simulated.output
    assert simulated.stderr.strip().splitlines()[0] == says


def test_review_of_a_crash_shows_the_steps_before_it(tmp_path: Path) -> None:
    """``review`` of a run that crashes prints the review of the steps before the crash
    (what a reviewer needs to see why), then the ``failed:`` line; exit code 1."""
    (tmp_path / "loopy.py").write_text(LOOPY, encoding="utf-8")
    path = script(tmp_path, cloudevent(1, "l.later"), cloudevent(2, "l.boom"))
    reviewed = run("review", f"{tmp_path}/loopy.py:LOOPY", str(path), "--format", "json")
    assert reviewed.exit_code == 1, reviewed.output
    assert reviewed.stderr.startswith("failed: action 'boom' of agent 'loopy' raised")
    doc = json.loads(reviewed.stdout)
    assert [step["signal_type"] for step in doc["steps"]] == ["l.later"]
    assert doc["steps"][0]["directives"] == ["schedule l.boom in 1e+308s"]
    assert doc["final"] == {"loopy": {"n": 0}}


def test_simulate_refuses_a_spec_its_modules_scenario_does_not_run(tmp_path: Path) -> None:
    """A module's SCENARIO is what ``simulate`` runs: SPEC naming a spec the scenario does
    not use is one error line (exit 2), not a run of something else under its name."""
    module = tmp_path / "other.py"
    module.write_text(
        CRASHING_SCENARIO + "\nOTHER = AgentSpec(name='other', state=S)\n", encoding="utf-8"
    )
    line = one_error_line(run("simulate", f"{module}:OTHER"))
    assert "its module's SCENARIO runs 'loopy', not 'other'" in line
    # A spec of the same name as one the scenario runs, but another object: said so (it
    # read "runs 'loopy', not 'loopy'").
    module.write_text(
        CRASHING_SCENARIO + "\nTWIN = AgentSpec(name='loopy', state=S)\n", encoding="utf-8"
    )
    line = one_error_line(run("simulate", f"{module}:TWIN"))
    assert "its module's SCENARIO runs another spec named 'loopy' (of 'loopy')" in line


BROKEN_SETUP = """
import attrs
from jido import AgentSpec
from jido_interpreters import Scenario

@attrs.frozen
class S:
    n: int = 0

SPEC = AgentSpec(name="thing", state=S)

def setup(sim):
    sim.start(SPEC, "a")
    raise RuntimeError("setup exploded")

SCENARIO = Scenario(specs=[SPEC], setup=setup)
"""


def test_simulate_reports_a_setup_that_raises_as_a_failure(tmp_path: Path) -> None:
    """A scenario's setup is user code: a bug in it is one ``failed:`` line, exit code 1,
    not a traceback."""
    module = tmp_path / "broken_setup.py"
    module.write_text(BROKEN_SETUP, encoding="utf-8")
    result = run("simulate", f"{module}:SPEC")
    assert result.exit_code == 1, result.output
    assert result.stderr == "failed: the scenario's setup raised RuntimeError: setup exploded\n"
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('{"llm.draft": {"words": NaN}}', "NaN is not JSON"),
        ('{"llm.draft":\n {"words": -Infinity}}', "-Infinity is not JSON"),
        (r'{"report.publish": "\ud800"}', "lone surrogate"),
    ],
)
def test_review_refuses_replies_that_are_not_json(tmp_path: Path, text: str, says: str) -> None:
    """``--replies`` is read as strictly as the signals: NaN, an infinity or a lone surrogate
    is one error line naming the file (exit 2), not a reply."""
    replies = tmp_path / "replies.json"
    replies.write_text(text, encoding="utf-8")
    line = one_error_line(run("review", SPEC, str(request(tmp_path)), "--replies", str(replies)))
    assert line.startswith(f"error: {replies}: ")
    assert says in line


@pytest.mark.parametrize("where", ["missing", "directory"])
def test_simulate_checks_the_trace_destination_before_the_run(tmp_path: Path, where: str) -> None:
    """A --trace-out that cannot be written is bad input found before anything runs (here
    a setup that would fail): one error line, exit code 2."""
    module = tmp_path / "broken_setup.py"
    module.write_text(BROKEN_SETUP, encoding="utf-8")
    trace = tmp_path / "nowhere" / "t.jsonl" if where == "missing" else tmp_path
    line = one_error_line(run("simulate", f"{module}:SPEC", "--trace-out", str(trace)))
    says = f"no directory {tmp_path / 'nowhere'}" if where == "missing" else "is a directory"
    assert line == f"error: {trace}: {says}"


def test_simulate_reports_its_run_when_the_trace_cannot_be_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trace that fails to write once the run is over (a full disk) does not hide the
    run: its summary and its failure are still reported, with exit code 1."""
    module = tmp_path / "crashing.py"
    module.write_text(CRASHING_SCENARIO, encoding="utf-8")

    def full(self: Path, *args: object, **kwargs: object) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full)
    trace = tmp_path / "t.jsonl"
    result = run("simulate", f"{module}:LOOPY", "--trace-out", str(trace))
    assert result.exit_code == 1, result.output
    assert result.stdout.startswith("seed 0: ")
    assert result.stderr.splitlines() == [
        f"error: {trace}: No space left on device",
        "failed: action 'boom' of agent 'loopy' raised handling 'l.boom': RuntimeError: kaboom",
    ]


AGENTS = """
import attrs
from jido import AgentSpec, Route, action, ok

@attrs.frozen
class S:
    n: int = 0

@action()
def inc(state, params, ctx):
    return ok(S(state.n + 1))

SPEC = AgentSpec(name="mine", state=S, routes=[Route(pattern="x.inc", target=inc)])
"""


def jido_in(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``jido ARGS`` in another process, run from ``cwd`` as the console script runs: with
    neither the working directory nor the script's on ``sys.path`` (``-P``)."""
    code = "import sys; from jido_interpreters.cli import main; sys.argv[0] = 'jido'; main()"
    return python_in(cwd, "-P", "-c", code, *args)


def python_in(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` in another process, run from ``cwd``, finding the project's
    packages wherever they are."""
    roots = {
        str(Path(m.__file__ or "").resolve().parent.parent)
        for m in (jido, jido_interpreters, jido_examples)
    }
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sorted(roots))},
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_module_spec_is_found_in_the_working_directory(tmp_path: Path) -> None:
    """``jido graph myagents:SPEC`` run where myagents.py is finds it, as ``python -m``
    would."""
    (tmp_path / "myagents.py").write_text(AGENTS, encoding="utf-8")
    done = jido_in(tmp_path, "graph", "myagents:SPEC")
    assert (done.returncode, done.stderr) == (0, "")
    assert "x.inc" in done.stdout


def test_a_file_spec_may_import_the_modules_beside_it(tmp_path: Path) -> None:
    """A ``FILE.py:NAME`` whose file imports a sibling module loads, from any directory."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "myagents.py").write_text(AGENTS, encoding="utf-8")
    (project / "system.py").write_text("from myagents import SPEC\n", encoding="utf-8")
    done = jido_in(tmp_path, "graph", "project/system.py:SPEC")
    assert (done.returncode, done.stderr) == (0, "")
    assert "x.inc" in done.stdout


def test_a_file_spec_named_like_a_module_does_not_replace_it(tmp_path: Path) -> None:
    """A spec file named like a module (here ``colorsys.py``) is loaded under a name of its
    own: the module keeps its place in ``sys.modules``, and the file's dataclasses work."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(sys.modules, "colorsys", colorsys)  # put back whatever happens
        (tmp_path / "colorsys.py").write_text(AGENTS, encoding="utf-8")
        path = script(tmp_path, cloudevent(1, "x.inc"))
        result = run("review", f"{tmp_path}/colorsys.py:SPEC", str(path), "--format", "json")
        assert sys.modules["colorsys"] is colorsys
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["final"]["mine"] == {"n": 1}


# ---------------------------------------------------------------- review of several agents

BANK = "jido_examples.bank:ACCOUNT"


def transfer(n: int, to: str, amount: int) -> dict[str, Any]:
    return cloudevent(n, "bank.transfer.requested", {"to": to, "amount": amount})


def test_review_starts_more_agents_and_sends_to_each_by_id(tmp_path: Path) -> None:
    """``--start bob=account`` starts a second account beside the root (alice). A plain line
    goes to the root, a ``{"to", "signal"}`` line to the agent it names, and the money moves
    between the two by their own messages. A CloudEvent with an extension called ``to`` is
    still a plain line, for the root."""
    path = script(
        tmp_path,
        cloudevent(1, "bank.credit", {"transfer_id": "open", "payer": "bob", "amount": 100}),
        transfer(2, "bob", 30),
        {"to": "bob", "signal": transfer(3, "alice", 10)},
        {**transfer(4, "bob", 5), "to": "bob"},
        {"advance": 1},
    )
    args = ["review", BANK, str(path), "--agent-id", "alice", "--start", "bob=account"]
    result = run(*args, "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    sent = [(s["agent_id"], s["signal_id"]) for s in doc["steps"] if s["signal_id"][:4] == "evt-"]
    assert sent == [("alice", "evt-1"), ("alice", "evt-2"), ("bob", "evt-3"), ("alice", "evt-4")]
    assert {k: v["balance"] for k, v in doc["final"].items()} == {"alice": 75, "bob": 25}
    text = run(*args).stdout
    assert "bob <- bank.transfer.requested (evt-3)" in text
    assert "bob <- bank.retry" in text  # bob's own startup schedule was armed


def test_review_starts_an_agent_of_any_spec_its_module_lists(tmp_path: Path) -> None:
    """``--start`` names a spec by its name: the root's, or one its module lists in SPECS
    (here the writer, which the orchestrator otherwise only spawns)."""
    path = script(tmp_path, {"to": "solo", "signal": cloudevent(1, "contentops.draft.requested")})
    result = run("review", SPEC, str(path), "--start", "solo=writer")
    assert result.exit_code == 0, result.output
    assert "[0] t=0s solo <- contentops.draft.requested (evt-1)" in result.stdout
    assert '[0] solo: invoke llm.draft({"topic": ""})' in result.stdout


def test_review_sends_to_an_agent_the_run_spawned(tmp_path: Path) -> None:
    """A ``to`` line reaches a child spawned earlier in the run (here a writer gets its
    draft by hand, as the effect's reply); a line to it once it has stopped is one error
    naming the line."""
    writer = "orchestrator/writer-1-0"
    draft = cloudevent(2, "contentops.draft.ready", {"result": {"words": 5}})
    ready = {"to": writer, "signal": draft}
    requested = cloudevent(1, "contentops.run.requested", {"topics": ["alpha"]})
    result = run("review", SPEC, str(script(tmp_path, requested, ready)), "--format", "json")
    assert result.exit_code == 0, result.output
    final = json.loads(result.stdout)["final"]
    assert final["orchestrator"]["drafts"] == {"alpha": 5}
    assert writer not in final  # it delivered the draft and stopped
    path = script(tmp_path, requested, ready, ready)
    line = one_error_line(run("review", SPEC, str(path)))
    assert line == f"error: {path}:3: agent {writer!r} has stopped, nothing reaches it any more"


def test_review_a_line_to_an_agent_that_is_not_running_is_one_error(tmp_path: Path) -> None:
    """A ``to`` naming no agent the run has (a typo) is one error naming the line and the
    agents that are running, exit code 2."""
    path = script(tmp_path, {"advance": 1}, {"to": "carol", "signal": transfer(1, "bob", 1)})
    line = one_error_line(
        run("review", BANK, str(path), "--agent-id", "alice", "--start", "bob=account")
    )
    assert line == f"error: {path}:2: no agent 'carol' is running (running: 'alice', 'bob')"


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ({"to": "bob"}, 'expected {"to": agent id, "signal": CloudEvent}: "signal" missing'),
        ({"signal": {}}, 'expected {"to": agent id, "signal": CloudEvent}: "to" missing'),
        (
            {"to": "bob", "signal": {}, "at": 1},
            'expected {"to": agent id, "signal": CloudEvent}: "at" unexpected',
        ),
        ({"to": 7, "signal": {}}, '"to" must be an agent id (a non-empty string), not 7'),
        ({"to": "", "signal": {}}, "\"to\" must be an agent id (a non-empty string), not ''"),
        (
            {"to": "bob", "signal": {"type": "bank.credit"}},
            '"signal": missing required attribute(s) id, source',
        ),
        ({"to": "bob", "signal": [1]}, '"signal": a signal must be a JSON object, got list'),
    ],
)
def test_review_refuses_a_malformed_to_line_naming_the_line(
    tmp_path: Path, line: dict[str, Any], says: str
) -> None:
    """A line with ``to`` or ``signal`` (and none of a CloudEvent's id, source, type) is an
    addressed line, read as strictly as the rest: one error naming the line, exit code 2,
    before anything runs."""
    path = script(tmp_path, transfer(1, "bob", 1), line)
    result = run("review", BANK, str(path))
    assert one_error_line(result) == f"error: {path}:2: {says}"
    assert result.stdout == ""


EXPECTED = "expected ID=NAME, an agent id and a spec's name (the specs: account)"


@pytest.mark.parametrize(
    ("starts", "says"),
    [
        (["bob"], f"--start 'bob': {EXPECTED}"),
        (["=account"], f"--start '=account': {EXPECTED}"),
        (["bob="], f"--start 'bob=': {EXPECTED}"),
        (["bob=acount"], "--start 'bob=acount': no spec named 'acount' (the specs: account)"),
        (
            ["alice=account"],
            "--start 'alice=account': 'alice' is the root agent's id (--agent-id names it)",
        ),
        (
            ["bob=account", "carol=account", "bob=account"],
            "--start 'bob=account': agent id 'bob' is given twice",
        ),
    ],
)
def test_review_refuses_a_bad_start_in_one_line(
    tmp_path: Path, starts: list[str], says: str
) -> None:
    """A ``--start`` that is not ID=NAME, names no spec, or takes an id already taken is
    one error line (listing the specs there are where that helps), exit code 2."""
    args = [arg for value in starts for arg in ("--start", value)]
    path = script(tmp_path, transfer(1, "bob", 1))
    line = one_error_line(run("review", BANK, str(path), "--agent-id", "alice", *args))
    assert line == f"error: {says}"


def test_review_unknown_start_spec_lists_the_specs_of_the_module(tmp_path: Path) -> None:
    """The specs listed are all the run knows: the root's and those in SPECS."""
    line = one_error_line(run("review", SPEC, str(request(tmp_path)), "--start", "e=editor"))
    assert (
        line
        == "error: --start 'e=editor': no spec named 'editor' (the specs: orchestrator, writer)"
    )


WITH_REQUIRED = """
import attrs
from jido import AgentSpec

@attrs.frozen
class S:
    n: int = 0

@attrs.frozen
class R:
    n: int  # required: no agent of this spec starts without a state given

ROOT = AgentSpec(name="root", state=S)
SPECS = (ROOT, AgentSpec(name="required", state=R))
"""


def test_review_a_start_agent_that_cannot_start_is_one_error(tmp_path: Path) -> None:
    """An agent ``--start`` asks for whose spec cannot make one with no state given: one
    error line naming the option, exit code 2, as for the root."""
    module = tmp_path / "required.py"
    module.write_text(WITH_REQUIRED, encoding="utf-8")
    path = script(tmp_path, cloudevent(1, "x.y"))
    line = one_error_line(run("review", f"{module}:ROOT", str(path), "--start", "r=required"))
    assert line.startswith("error: --start 'r=required': cannot start agent 'r': ")


CONCEPTS = Path(__file__).parent.parent / "docs" / "concepts.md"


def test_the_concepts_review_example_runs_as_shown(tmp_path: Path) -> None:
    """docs/concepts.md's ``jido review`` example, its script and its command as written,
    ends as the text after it says."""
    (block,) = re.findall(
        r"```sh\n\$ cat transfers.jsonl\n(.*?)```", CONCEPTS.read_text(encoding="utf-8"), re.S
    )
    *lines, command = block.splitlines()
    (tmp_path / "transfers.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    jido, *args = command.removeprefix("$ ").split()
    assert jido == "jido"
    path = str(tmp_path / "transfers.jsonl")
    result = run(*(path if a == "transfers.jsonl" else a for a in args), "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert len(doc["steps"]) == 8
    assert {k: v["balance"] for k, v in doc["final"].items()} == {"alice": 80, "bob": 20}


TWO_SCENARIOS = """
import attrs
from jido import AgentSpec, NoParams, Route, action, ok
from jido_interpreters import Scenario

@attrs.frozen
class S:
    n: int = 0

@action()
def add(state, p: NoParams, ctx):
    return ok(S(state.n + 1))

SPEC = AgentSpec(name="c", state=S, routes=[Route(pattern="c.add", target=add)])

def sending(times):
    def setup(sim):
        sim.start(SPEC, "c")
        for _ in range(times):
            sim.send("c", "c.add")
    return setup

ONCE = Scenario(specs=[SPEC], setup=sending(1))
THRICE = Scenario(specs=[SPEC], setup=sending(3))
"""


def test_simulate_runs_the_scenario_named_and_replay_finds_it_again(tmp_path: Path) -> None:
    """``MODULE:NAME`` may name a Scenario, so a module can hold several; the trace names it,
    and ``replay`` runs the same one."""
    module = tmp_path / "two.py"
    module.write_text(TWO_SCENARIOS, encoding="utf-8")
    for name, version in (("ONCE", 1), ("THRICE", 3)):
        trace = tmp_path / f"{name}.jsonl"
        result = run("simulate", f"{module}:{name}", "--trace-out", str(trace))
        assert result.exit_code == 0, result.output
        assert f"agents: c v{version}" in result.stdout.splitlines()
        replayed = run("replay", str(trace))
        assert replayed.exit_code == 0, replayed.output
        assert replayed.stdout.startswith("identical: ")


GUARDED = """
import attrs
from jido import AgentSpec, NoParams, Route, action, ok
from jido_interpreters import Scenario

@attrs.frozen
class S:
    n: int = 0

@action()
def add(state, p: NoParams, ctx):
    return ok(S(state.n + 1))

def guard(signal):
    raise KeyError("guard bug")

SPEC = AgentSpec(name="g", state=S, routes=[
    Route(pattern="g.add", target=add),
    Route(pattern="g.guarded", target=add, guard=guard),
])

def setup(sim):
    sim.start(SPEC, "g")
    sim.send("g", "g.add")
    sim.send("g", "g.guarded")

SCENARIO = Scenario(specs=[SPEC], setup=setup)
"""


def test_a_raising_route_guard_is_one_failed_line_in_review_and_simulate(tmp_path: Path) -> None:
    """A route guard raising is a bug like an action raising: ``review`` prints the review of
    the steps before it and a ``failed:`` line, ``simulate`` a ``failed:`` line naming the
    seed and the event; exit code 1 and no traceback either way."""
    module = tmp_path / "guarded.py"
    module.write_text(GUARDED, encoding="utf-8")
    path = script(tmp_path, cloudevent(1, "g.add"), cloudevent(2, "g.guarded"))
    reviewed = run("review", f"{module}:SPEC", str(path), "--format", "json")
    assert reviewed.exit_code == 1, reviewed.output
    assert reviewed.stderr == (
        "failed: user code a step ran (a route guard or a custom strategy) raised"
        " KeyError: 'guard bug'\n"
    )
    assert [s["signal_type"] for s in json.loads(reviewed.stdout)["steps"]] == ["g.add"]
    simulated = run("simulate", f"{module}:SPEC", "--seed", "3")
    assert simulated.exit_code == 1, simulated.output
    (line,) = simulated.stderr.splitlines()
    assert line.startswith("failed: user code a step ran (a route guard or a custom strategy)")
    assert "KeyError: 'guard bug' (in a simulation with seed 3, at event " in line


def test_replay_of_a_spec_whose_guard_now_raises_reports_a_divergence(tmp_path: Path) -> None:
    """A trace recorded before a route guard started raising (a spec change) replays to a
    divergence naming the exception, exit code 1, not a traceback."""
    module = tmp_path / "guarded.py"
    module.write_text(GUARDED.replace('raise KeyError("guard bug")', "return True"), "utf-8")
    trace = tmp_path / "t.jsonl"
    recorded = run("simulate", f"{module}:SPEC", "--trace-out", str(trace))
    assert recorded.exit_code == 0, recorded.output
    module.write_text(GUARDED, encoding="utf-8")
    replayed = run("replay", str(trace))
    assert replayed.exit_code == 1, replayed.output
    assert replayed.stdout.startswith("diverged at ")
    assert "raised KeyError: 'guard bug'" in replayed.stdout


@pytest.mark.parametrize("module", ["jido_interpreters", "jido_interpreters.cli"])
def test_python_dash_m_runs_the_command(tmp_path: Path, module: str) -> None:
    """``python -m jido_interpreters`` (and ``.cli``) is the ``jido`` command, for where its
    script is not on the path: it ran nothing and exited 0."""
    (tmp_path / "myagents.py").write_text(AGENTS, encoding="utf-8")
    done = python_in(tmp_path, "-m", module, "graph", "myagents:SPEC")
    assert (done.returncode, done.stderr) == (0, "")
    assert "x.inc" in done.stdout
