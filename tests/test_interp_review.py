"""Review reports show what decides what runs, in every format, as valid text and JSON."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from markdown_it import MarkdownIt
from typer.testing import CliRunner, Result

from jido import (
    CHILD_STARTED,
    FSM,
    ActionResult,
    AgentSpec,
    Context,
    CustomDirective,
    Emit,
    NoParams,
    Route,
    Signal,
    ToSink,
    Transition,
    action,
    cron,
    emit_to_sink,
    invoke,
    ok,
    schedule,
    spawn_agent,
    stop_child,
)
from jido_interpreters import AgentOptions, Change, DryRun, Restart, StopAgent, describe
from jido_interpreters.cli import app


@attrs.frozen
class Box:
    """A state holding any value, and a count of the values set."""

    value: Any = None
    n: int = 0


@attrs.frozen
class Value:
    """The value to set."""

    value: Any = None


@action(params=Value)
def put(state: Box, p: Value, ctx: Context) -> ActionResult[Box]:
    return ok(attrs.evolve(state, value=p.value, n=state.n + 1))


BOX: AgentSpec[Box] = AgentSpec(name="box", state=Box, routes=[Route(pattern="put", target=put)])


def box_run(*values: object) -> DryRun:
    run = DryRun([BOX])
    run.start(BOX, "b")
    for v in values:
        run.send("b", "put", {"value": v})
    return run


# ------------------------------------------------------ what decides what runs (1)


@attrs.frozen
class Limit:
    """A child's state."""

    limit: int = 0


CHILD: AgentSpec[Limit] = AgentSpec(name="child", state=Limit, routes=[])


def parent(limit: int, amount: int, account: str) -> AgentSpec[Box]:
    """A parent whose directives differ only in the fields a review used to leave out."""

    @action()
    def go(state: Box, _: NoParams, ctx: Context) -> ActionResult[Box]:
        return ok(
            state,
            spawn_agent("child", "w", state={"limit": limit}, meta={"m": account}),
            schedule(5, "later", {"amount": amount}),
            cron("*/5 * * * *", "tick", {"amount": amount}, job_id="j"),
            invoke("pay", {"x": 1}, on_ok="paid", on_error="failed", context={"to": account}),
        )

    @action()
    def started(state: Box, _: NoParams, ctx: Context) -> ActionResult[Box]:
        return ok(state, stop_child("w", reason=f"done {account}"))

    return AgentSpec(
        name="p",
        state=Box,
        routes=[Route(pattern="go", target=go), Route(pattern=CHILD_STARTED, target=started)],
    )


def parent_review(limit: int, amount: int, account: str) -> Any:
    spec = parent(limit, amount, account)
    run = DryRun([spec, CHILD])
    run.start(spec, "p")
    run.send("p", "go")
    return run.review()


def test_the_review_shows_every_field_that_decides_what_runs() -> None:
    """A spawn's state and meta, a timer's and a cron job's signal data, an invoke's context,
    a child's initial state and the data of each signal handled (a child.exit's reason) are
    in the report: two runs that differ only there have reports that differ, in every
    format."""
    one, other = parent_review(1, 10, "acct-1"), parent_review(10**6, 10**6, "attacker")
    for fmt in ("text", "md", "json"):
        assert one.render(fmt) != other.render(fmt)
    go = other.steps[0]
    assert go.directives == (
        'spawn child as \'w\' state {"limit": 1000000} meta {"m": "attacker"}',
        'schedule later {"amount": 1000000} in 5s',
        "cron 'j' '*/5 * * * *' (UTC) -> tick {\"amount\": 1000000}",
        'invoke pay({"x": 1}) -> paid | failed context {"to": "attacker"} (no reply)',
    )
    exit_step = other.steps[-1]
    assert exit_step.signal_data["reason"] == "done attacker"
    text = other.to_text()
    assert '  p/w (idle): {"limit": 1000000}\n' in text  # the child's initial state
    assert '"reason": "done attacker"' in text
    doc = json.loads(other.to_json())
    assert doc["steps"][-1]["signal_data"]["reason"] == "done attacker"
    assert doc["initial"]["p/w"] == {"limit": 1000000}
    assert "data: `{" in other.to_markdown()


def test_an_emitted_signals_subject_is_shown() -> None:
    """Two emits differing only in their signal's subject are described apart."""

    def emitted(subject: str) -> str:
        sig = Signal(type="x.y", source="/a", id="1", subject=subject)
        return describe(Emit(signal=sig, to=ToSink("out")))

    assert emitted("order-1") == 'emit x.y subject "order-1" to sink out'
    assert emitted("order-1") != emitted("order-2")


# ------------------------------------------------------------- Markdown (2), ids (12)


@attrs.frozen
class Text:
    """Text from outside."""

    text: str = ""


@action(params=Text)
def say(state: Box, p: Text, ctx: Context) -> ActionResult[Box]:
    return ok(
        state,
        emit_to_sink("out", "note", {"text": p.text}),
        invoke("mail.send", {"body": p.text}, on_ok="sent", on_error="failed"),
    )


SAYER: AgentSpec[Box] = AgentSpec(name="a", state=Box, routes=[Route(pattern="say", target=say)])

HOSTILE = "<img src=x onerror=alert(1)> **bold** `x` _y_ [link](http://evil)"


def test_markdown_shows_user_data_in_directives_as_code_not_markup() -> None:
    """Directive lines hold user data: rendered, it is code, never HTML, a link or emphasis
    (it became an <img> tag, a link and bold text)."""
    run = DryRun([SAYER], sinks=["out"])
    run.start(SAYER, "a")
    run.send("a", "say", {"text": HOSTILE})
    html = MarkdownIt("commonmark").render(run.review(title="<b>t</b>").to_markdown())
    assert "<img" not in html
    assert "<a " not in html
    assert "<b>" not in html
    assert html.count("<strong>") == html.count("<strong>effect</strong>")
    assert "&lt;img src=x onerror=alert(1)&gt; **bold**" in html


def test_ids_that_differ_by_a_backslash_or_a_line_break_read_apart() -> None:
    """An id with a line break and one with a backslash then ``n`` were printed alike; and
    a Markdown heading names the signal's id."""
    run = DryRun([BOX])
    run.start(BOX, "b")
    for sid in ("x\ny", "x\\ny"):
        run.send("b", Signal(type="put", source="/t", id=sid))
    report = run.review()
    heads = [line for line in report.to_text().splitlines() if line.startswith("[")]
    assert heads[0] != heads[1]
    assert heads == ['[0] t=0s b <- put ("x\\ny")', '[1] t=0s b <- put ("x\\\\ny")']
    md = report.to_markdown()
    assert '## 0. `put` → `b` (t=0s, id `"x\\ny"`)' in md
    assert '## 1. `put` → `b` (t=0s, id `"x\\\\ny"`)' in md


# --------------------------------------------------------------------- crashes (3)


@action()
def boom(state: Box, _: NoParams, ctx: Context) -> ActionResult[Box]:
    raise ValueError("would charge twice")


CRASHY: AgentSpec[Box] = AgentSpec(
    name="c",
    state=Box,
    routes=[Route(pattern="put", target=put), Route(pattern="boom", target=boom)],
)


@pytest.mark.parametrize(
    ("policy", "said"), [(StopAgent(), "policy stop: stopped"), (Restart(), "policy restart")]
)
def test_a_crash_an_error_policy_handled_is_in_the_review(policy: Any, said: str) -> None:
    """A crashed step commits nothing and has no trace entry: the review shows it all the
    same, where it happened, with its signal, the policy and the error."""
    run = DryRun([CRASHY], options={"c": AgentOptions(error_policy=policy)})
    run.start(CRASHY, "c")
    run.send("c", "put", {"value": 1})
    run.send("c", "boom", {"card": "4242"})
    report = run.review()
    assert report.crashes == run.crashes
    lines = report.to_text().splitlines()
    at = lines.index('[crash] t=0s c <- boom (ext-1) {"card": "4242"}')
    assert lines[at - 3].startswith("[0] ")  # after the step before it
    assert lines[at + 1].startswith(f"    ! crashed, {said}")
    assert "would charge twice" in lines[at + 1]
    (crash,) = json.loads(report.to_json())["crashes"]
    assert crash["signal_data"] == {"card": "4242"}
    assert crash["policy"] == said.split()[1].rstrip(":")
    assert "## Crash: `boom` → `c`" in report.to_markdown()


# ------------------------------------------------------------- the state diff (4, 10)


@pytest.mark.parametrize(("before", "after"), [(1, True), (0, 0.0), (0.0, -0.0), (0, False)])
def test_the_diff_sees_changes_python_calls_equal(before: object, after: object) -> None:
    """1 -> true, 0 -> 0.0, 0.0 -> -0.0 are changes (their JSON differs), though == says not."""
    report = box_run({"v": before}, {"v": after}).review()
    assert Change("state.value.v", before, after) in report.steps[1].changes


def test_a_value_that_only_changes_type_is_changed_not_added_or_removed() -> None:
    """null -> a map, and a map -> a number, are one change of the value ('removed' and
    'added' are for a key that goes or comes)."""
    steps = box_run({"flag": 1}, 5).review().steps
    assert steps[0].changes == (
        Change("state.n", 0, 1),
        Change("state.value", None, {"flag": 1}),
    )
    assert steps[1].changes == (
        Change("state.n", 1, 2),
        Change("state.value", {"flag": 1}, 5),
    )


# ------------------------------------------------------------- valid JSON (5), times (7)


@action()
def odd(state: Box, _: NoParams, ctx: Context) -> ActionResult[Box]:
    return ok(attrs.evolve(state, value=[float("inf"), float("-inf"), 10**5000 + 7, "\ud83d"]))


ODD: AgentSpec[Box] = AgentSpec(name="o", state=Box, routes=[Route(pattern="odd", target=odd)])


@pytest.fixture
def unlimited_ints() -> Iterator[None]:
    old = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    yield
    sys.set_int_max_str_digits(old)


def strict_json(text: str) -> Any:
    def refuse(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_the_review_is_valid_text_and_json_for_any_state_value(unlimited_ints: None) -> None:
    """An infinity (``Infinity`` is no JSON), an integer of 5,000 digits (str() refuses it)
    and a lone surrogate (no UTF-8 can carry it) render in every format: valid UTF-8, and
    the JSON valid JSON that reads back as the values were."""
    run = DryRun([ODD])
    run.start(ODD, "o")
    run.send("o", "odd")
    sys.set_int_max_str_digits(4300)  # the default, while rendering
    report = run.review()
    rendered = {fmt: report.render(fmt) for fmt in ("text", "md", "json")}
    sys.set_int_max_str_digits(0)
    for text in rendered.values():
        text.encode("utf-8")
    doc = strict_json(rendered["json"])
    assert doc["final"]["o"]["value"] == [float("inf"), float("-inf"), 10**5000 + 7, "\ud83d"]


def test_times_and_delays_are_printed_exactly() -> None:
    """t=1000000.5 and a delay of 1000000.5 s were printed 1e+06."""

    @action(params=Value)
    def arm(state: Box, p: Value, ctx: Context) -> ActionResult[Box]:
        return ok(state, schedule(p.value, "put"))

    spec = AgentSpec(
        name="t",
        state=Box,
        routes=[Route(pattern="arm", target=arm), Route(pattern="put", target=put)],
    )
    run = DryRun([spec])
    run.start(spec, "t")
    run.send("t", "arm", {"value": 1000000.5})
    run.advance(1000001)
    text = run.review().to_text()
    assert "    > schedule put in 1000000.5s\n" in text
    assert "[1] t=1000000.5s t <- put (" in text
    assert "## 1. `put` → `t` (t=1000000.5s," in run.review().to_markdown()


# ------------------------------------------------------------- custom directives (6)


@attrs.frozen
class Weights(CustomDirective):
    """A custom directive holding a map of any keys."""

    weights: Any


@pytest.mark.parametrize(
    ("weights", "shown"),
    [
        ({1: "a", "b": 2}, '{"weights": {"1": "a", "b": 2}}'),
        ({("eu", "de"): 0.5}, "{\"weights\": {\"('eu', 'de')\": 0.5}}"),
    ],
)
def test_a_custom_directive_with_keys_of_any_type_is_described(weights: Any, shown: str) -> None:
    """A map with keys of mixed or non-string types made review() raise TypeError."""

    @action()
    def go(state: Box, _: NoParams, ctx: Context) -> ActionResult[Box]:
        return ok(state, Weights(weights))

    spec = AgentSpec(name="w", state=Box, routes=[Route(pattern="go", target=go)])
    run = DryRun([spec])
    run.start(spec, "w")
    run.send("w", "go")
    assert run.review().steps[0].directives == (f"custom Weights {shown}",)


# ------------------------------------------------------------- FSM status (11)


def test_final_states_show_an_fsm_agents_status() -> None:
    """An FSM agent's status is part of what it is at the end (it decides what it accepts)."""
    fsm = FSM(initial="idle", transitions=[Transition(source="idle", on="put", target="busy")])
    spec = AgentSpec(name="f", state=Box, strategy=fsm, routes=[Route(pattern="put", target=put)])
    run = DryRun([spec])
    run.start(spec, "f")
    run.send("f", "put", {"value": 1})
    report = run.review()
    assert report.final_status == {"f": "busy"}
    assert '  f (busy): {"n": 1, "value": 1}\n' in report.to_text()
    assert "- `f` (`busy`): " in report.to_markdown()
    assert json.loads(report.to_json())["final_status"] == {"f": "busy"}


# ------------------------------------------------------------- the CLI (5, 8, 9)


def cli(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


ONE_PUT = '{"specversion": "1.0", "id": "s1", "source": "/t", "type": "put"}\n'


def test_a_spec_module_calling_sys_exit_is_an_error_line(tmp_path: Path) -> None:
    """sys.exit(0) while a spec module loads made the command exit 0 with no output."""
    (tmp_path / "exits.py").write_text("import sys\nsys.exit(0)\n", encoding="utf-8")
    signals = tmp_path / "s.jsonl"
    signals.write_text(ONE_PUT, encoding="utf-8")
    for args in (
        ("review", f"{tmp_path}/exits.py:SPEC", str(signals)),
        ("graph", f"{tmp_path}/exits.py:SPEC"),
    ):
        result = cli(*args)
        assert result.exit_code == 2, result.output
        assert (
            result.stderr
            == f"error: spec '{tmp_path}/exits.py:SPEC': loading it called sys.exit(0)\n"
        )


def test_a_spec_file_not_ending_in_py_is_said_so(tmp_path: Path) -> None:
    """``specs.txt:SPEC`` was read as the module ``specs``: "No module named 'specs'"."""
    (tmp_path / "specs.txt").write_text("SPEC = 1\n", encoding="utf-8")
    result = cli("graph", f"{tmp_path}/specs.txt:SPEC")
    assert result.exit_code == 2
    assert "a spec file must end in .py" in result.stderr


PAY = """
import attrs
from jido import ActionResult, AgentSpec, Context, NoParams, Route, action, invoke, ok

@attrs.frozen
class O:
    n: int = 0

@action()
def place(state: O, _: NoParams, ctx: Context) -> ActionResult[O]:
    return ok(state, invoke("payment.charge", {}, on_ok="paid", on_error="declined"))

SPEC = AgentSpec(name="order", state=O, routes=[Route(pattern="put", target=place)])
"""


def test_a_reply_no_effect_used_is_noted_and_an_effect_without_one_marked(tmp_path: Path) -> None:
    """A typo'd effect name in --replies passed unnoticed, and nothing said that the effect
    it was meant for got no reply."""
    (tmp_path / "pay.py").write_text(PAY, encoding="utf-8")
    signals = tmp_path / "s.jsonl"
    signals.write_text(ONE_PUT, encoding="utf-8")
    replies = tmp_path / "r.json"
    replies.write_text('{"payment.chrage": {"id": 1}}', encoding="utf-8")
    result = cli("review", f"{tmp_path}/pay.py:SPEC", str(signals), "--replies", str(replies))
    assert result.exit_code == 0, result.output
    assert "> invoke payment.charge({}) -> paid | declined (no reply)\n" in result.stdout
    assert result.stderr == (
        "note: --replies 'payment.chrage' was used by no effect: no agent invoked it (a typo?)\n"
    )
    replies.write_text('{"payment.charge": {"id": 1}}', encoding="utf-8")
    right = cli("review", f"{tmp_path}/pay.py:SPEC", str(signals), "--replies", str(replies))
    assert "(no reply)" not in right.stdout
    assert right.stderr == ""


def test_review_json_of_any_state_is_valid_json(tmp_path: Path) -> None:
    """-f json printed ``Infinity`` (no JSON) with exit code 0, and a lone surrogate made it
    crash."""
    (tmp_path / "odd.py").write_text(
        "import attrs\nfrom typing import Any\n"
        "from jido import ActionResult, AgentSpec, Context, NoParams, Route, action, ok\n"
        "@attrs.frozen\nclass S:\n    v: Any = None\n"
        "@action()\ndef put(state: S, _: NoParams, ctx: Context) -> ActionResult[S]:\n"
        "    return ok(S(v=[float('inf'), '\\ud83d']))\n"
        "SPEC = AgentSpec(name='o', state=S, routes=[Route(pattern='put', target=put)])\n",
        encoding="utf-8",
    )
    signals = tmp_path / "s.jsonl"
    signals.write_text(ONE_PUT, encoding="utf-8")
    result = cli("review", f"{tmp_path}/odd.py:SPEC", str(signals), "-f", "json")
    assert result.exit_code == 0, result.output
    assert strict_json(result.stdout)["final"]["o"]["v"] == [float("inf"), "\ud83d"]
