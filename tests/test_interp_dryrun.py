"""DryRun: no effect is performed, canned replies continue the run, the review report."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import attrs
import pytest
from markdown_it import MarkdownIt

from jido import (
    ActionResult,
    AgentSpec,
    Context,
    CustomDirective,
    FrozenMap,
    Invoke,
    JsonValue,
    NoParams,
    Plugin,
    Route,
    Signal,
    action,
    emit_to,
    emit_to_sink,
    invoke,
    ok,
    thaw,
)
from jido.serde import Codec
from jido_interpreters import CannedError, Change, DryRun, Review, ReviewStep
from jido_interpreters._dryrun import canned_error_from_json

# ---------------------------------------------------------------- a small shop


@attrs.frozen
class Order:
    status: str = "new"
    item: str = ""
    qty: int = 0
    receipt: str | None = None
    failure: str | None = None


@attrs.frozen
class Placed:
    item: str
    qty: int


@attrs.frozen
class Charged:
    result: FrozenMap[str, JsonValue]


@attrs.frozen
class Declined:
    error: FrozenMap[str, JsonValue]


@action(params=Placed)
def place(state: Order, p: Placed, ctx: Context) -> ActionResult[Order]:
    new = attrs.evolve(state, status="charging", item=p.item, qty=p.qty)
    return ok(
        new,
        invoke(
            "payment.charge",
            {"amount": 10 * p.qty, "item": p.item},
            on_ok="order.paid",
            on_error="order.declined",
            context={"item": p.item},
        ),
        emit_to_sink("audit", "order.placed", {"item": p.item}),
    )


@action(params=Charged)
def paid(state: Order, p: Charged, ctx: Context) -> ActionResult[Order]:
    new = attrs.evolve(state, status="paid", receipt=str(p.result.get("receipt")))
    return ok(new, emit_to("shipper", "ship.requested", {"item": state.item}))


@action(params=Declined)
def declined(state: Order, p: Declined, ctx: Context) -> ActionResult[Order]:
    return ok(attrs.evolve(state, status="failed", failure=str(p.error.get("message"))))


ORDER: AgentSpec[Order] = AgentSpec(
    name="order",
    state=Order,
    routes=[
        Route(pattern="order.placed", target=place),
        Route(pattern="order.paid", target=paid),
        Route(pattern="order.declined", target=declined),
    ],
)


@attrs.frozen
class Shipper:
    shipped: int = 0


@action()
def ship(state: Shipper, _: NoParams, ctx: Context) -> ActionResult[Shipper]:
    return ok(Shipper(shipped=state.shipped + 1))


SHIPPER: AgentSpec[Shipper] = AgentSpec(
    name="shipper", state=Shipper, routes=[Route(pattern="ship.requested", target=ship)]
)


def shop(**kw: Any) -> DryRun:
    kw.setdefault("sinks", ["audit"])
    run = DryRun([ORDER, SHIPPER], **kw)
    run.start(ORDER, "order")
    run.start(SHIPPER, "shipper")
    run.send("order", "order.placed", {"item": "book", "qty": 3})
    return run


# ---------------------------------------------------------------- no effects


def test_dry_run_takes_no_effect_handlers_at_all() -> None:
    """DryRun has no way to be given effect handlers, so none can run."""

    def must_not_run(args: FrozenMap[str, JsonValue]) -> object:
        pytest.fail("DryRun called an effect handler")

    with pytest.raises(TypeError):
        DryRun([ORDER], effects={"payment.charge": must_not_run})  # type: ignore[call-arg]


@attrs.frozen
class SendEmail(CustomDirective):
    """A user's own effect."""

    to: str


@action()
def mail(state: Shipper, _: NoParams, ctx: Context) -> ActionResult[Shipper]:
    return ok(Shipper(shipped=state.shipped + 1), SendEmail("boss@example.com"))


MAILER: AgentSpec[Shipper] = AgentSpec(
    name="mailer", state=Shipper, routes=[Route(pattern="mail.go", target=mail)]
)


def test_dry_run_takes_no_directive_handlers_at_all() -> None:
    """A custom directive's handler is a user's effect: DryRun refuses one, saying why."""

    def must_not_run(agent_id: str, d: object) -> list[Any]:
        pytest.fail("DryRun called a directive handler")

    with pytest.raises(TypeError, match="DryRun takes no directive handlers"):
        DryRun([MAILER], directives={SendEmail: must_not_run})  # type: ignore[arg-type]


def test_dry_run_records_a_custom_directive_as_an_effect_it_would_perform() -> None:
    """A custom directive is recorded as an intent, reported among the effects that would
    run, and is no problem (the real system has a handler)."""
    run = DryRun([MAILER])
    run.start(MAILER, "m")
    run.send("m", "mail.go")
    assert run.intents == (("m", SendEmail("boss@example.com")),)
    assert run.problems == ()
    report = run.review()
    (step,) = report.steps
    assert step.effects == ('custom SendEmail {"to": "boss@example.com"}',)
    assert "effects: 1 (invokes, custom directives, emits to sinks, spawns, timers, sensors)\n" in (
        report.to_text()
    )
    assert '- **effect**: `custom SendEmail {"to": "boss@example.com"}`' in report.to_markdown()


@attrs.frozen
class Post(CustomDirective):
    """A custom directive whose fields JSON has no plain form for."""

    to: str
    tags: frozenset[str]
    meta: FrozenMap[str, JsonValue]


@action()
def post(state: Shipper, _: NoParams, ctx: Context) -> ActionResult[Shipper]:
    return ok(None, Post("ops", frozenset({"b", "a", "c"}), FrozenMap({"n": (1, 2)})))


POSTER: AgentSpec[Shipper] = AgentSpec(
    name="poster", state=Shipper, routes=[Route(pattern="p.go", target=post)]
)


def test_the_review_shows_a_custom_directives_fields_in_every_format(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What a custom directive asks for is in the review: as the codec writes it when it
    knows the class (the tag left out), else its fields as they are, in a fixed order."""
    run = DryRun([POSTER])
    run.start(POSTER, "p")
    run.send("p", "p.go")
    plain = 'custom Post {"meta": {"n": [1, 2]}, "tags": ["a", "b", "c"], "to": "ops"}'
    report = run.review()
    assert report.steps[0].directives == (plain,)
    assert f"    > {plain}\n" in report.to_text()
    assert f"- **effect**: `{plain}`\n" in report.to_markdown()
    assert json.loads(report.to_json())["steps"][0]["effects"] == [plain]
    # A codec that knows the class writes the fields its own way (the tag left out).
    codec = Codec(directives={"post": Post})
    assert codec.to_dict(Post("ops", frozenset(), FrozenMap()))["kind"] == "post"
    written = {"kind": "post", "to": "ops", "written": "by the codec"}
    plain_to_dict = Codec.to_dict

    def to_dict(self: Codec, value: Any) -> dict[str, Any]:
        return dict(written) if isinstance(value, Post) else plain_to_dict(self, value)

    monkeypatch.setattr(Codec, "to_dict", to_dict)
    assert run.review(codec=codec).steps[0].directives == (
        'custom Post {"to": "ops", "written": "by the codec"}',
    )


@attrs.frozen(kw_only=True)
class Carry(CustomDirective):
    """A directive holding what JSON has no form for."""

    what: object


def test_a_custom_directives_field_without_a_json_form_reads_the_same_in_every_run() -> None:
    """Such a field is shown by its class, not by a repr holding the object's address
    (another in every run)."""
    from jido_interpreters._review import describe

    class Thing:
        pass

    shown = describe(Carry(what=Thing()))
    assert shown == 'custom Carry {"what": "<' + Thing.__qualname__ + '>"}'
    # A repr without an address says what the value is: kept.
    assert describe(Carry(what=Decimal("12.50"))) == 'custom Carry {"what": "Decimal(\'12.50\')"}'


@attrs.frozen
class Seen:
    n: int = 0


@action()
def seen(state: Seen, _: NoParams, ctx: Context) -> ActionResult[Seen]:
    return ok(Seen(state.n + 1))


AUDITED: AgentSpec[Shipper] = AgentSpec(
    name="audited",
    state=Shipper,
    routes=[Route(pattern="p.ship", target=ship)],
    plugins=[Plugin(name="audit", state=Seen, routes=[Route(pattern="p.*", target=seen)])],
)


def test_the_review_final_states_come_with_the_plugin_slices() -> None:
    """Plugin slices are in the final report too (the changes show ``slices.*`` paths);
    an agent without plugins has no entry."""
    run = DryRun([AUDITED, MAILER])
    run.start(AUDITED, "a")
    run.start(MAILER, "m")
    run.send("a", "p.ship")
    report = run.review()
    assert report.final_slices == {"a": {"audit": {"n": 1}}}
    assert 'final slices:\n  a: {"audit": {"n": 1}}\n' in report.to_text()
    assert '## Final slices\n\n- `a`: `{"audit": {"n": 1}}`\n' in report.to_markdown()
    assert json.loads(report.to_json())["final_slices"] == {"a": {"audit": {"n": 1}}}


def test_dry_run_records_the_intent_and_performs_nothing() -> None:
    """An Invoke is recorded as an intent; without a reply no outcome signal arrives."""
    run = shop()
    ((agent_id, intent),) = run.intents
    assert agent_id == "order"
    assert isinstance(intent, Invoke)
    assert (intent.effect, thaw(intent.args)) == ("payment.charge", {"amount": 30, "item": "book"})
    assert [e.signal.type for e in run.trace] == ["order.placed"]
    assert run.state("order").status == "charging"
    assert run.state("shipper") == Shipper()
    assert run.problems == ()


def test_dry_run_still_follows_the_systems_own_signals() -> None:
    """Signals to sinks are collected as in SyncRuntime (they are the system's logic)."""
    run = shop()
    assert [s.type for s in run.sink("audit")] == ["order.placed"]


# ---------------------------------------------------------------- canned replies


def test_a_canned_reply_continues_down_the_happy_path() -> None:
    """A canned result comes back as on_ok, so the run goes on (payment, then shipping)."""
    run = shop(replies={"payment.charge": {"receipt": "r-1"}})
    order = run.state("order")
    assert (order.status, order.receipt) == ("paid", "r-1")
    assert run.state("shipper").shipped == 1
    assert [e.signal.type for e in run.trace] == ["order.placed", "order.paid", "ship.requested"]
    assert len(run.intents) == 1


def test_a_canned_reply_function_gets_the_invoke_args() -> None:
    """A callable reply is called with the effect's args and its value is the result."""
    run = shop(replies={"payment.charge": lambda args: {"receipt": f"r-{args['amount']}"}})
    assert run.state("order").receipt == "r-30"


def test_a_canned_error_yields_on_error() -> None:
    """A CannedError comes back as on_error with its type and message."""
    run = shop(replies={"payment.charge": CannedError("CardDeclined", "insufficient funds")})
    order = run.state("order")
    assert (order.status, order.failure) == ("failed", "insufficient funds")
    reply = run.trace[-1].signal
    assert reply.type == "order.declined"
    assert thaw(reply.data)["error"] == {"type": "CardDeclined", "message": "insufficient funds"}  # type: ignore[index]
    assert run.state("shipper").shipped == 0


@pytest.mark.parametrize(
    ("type", "message", "says"),
    [
        ("X", 5, "a canned error's message must be a string, not 5"),
        (None, "m", "a canned error's type must be a string, not None"),
    ],
)
def test_a_canned_error_is_a_type_and_a_message_that_are_strings(
    type: object, message: object, says: str
) -> None:
    """A CannedError whose type or message is no string is refused where it is made, in
    Python as from JSON, not passed on to the effect's on_error signal."""
    with pytest.raises(TypeError, match=re.escape(says)):
        CannedError(type, message)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=re.escape(says)):
        canned_error_from_json({"type": type, "message": message})


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("boom", 'expected {"type": string, "message": string}, not "boom"'),
        ({"message": "m"}, '"type" missing'),
        ({"type": "X", "message": "m", "extra": 1}, '"extra" unexpected'),
    ],
)
def test_canned_error_from_json_reads_strictly(raw: object, says: str) -> None:
    """The JSON form of a canned error has a type and a message and nothing else."""
    with pytest.raises(ValueError, match=re.escape(says)):
        canned_error_from_json(raw)
    assert canned_error_from_json({"type": "X", "message": "m"}) == CannedError("X", "m")


# ---------------------------------------------------------------- the review


@attrs.frozen
class Prices:
    """Prices by name, a name with a dot in it among them."""

    by_name: FrozenMap[str, JsonValue] = attrs.field(
        factory=lambda: FrozenMap({"a.b": 1, "a": FrozenMap({"b": 2})})
    )


@action()
def swap_prices(state: Prices, _: NoParams, ctx: Context) -> ActionResult[Prices]:
    return ok(Prices(FrozenMap({"a": FrozenMap({"b": 1}), "a.b": 2})))


def test_a_key_with_a_dot_is_not_taken_for_a_nested_one() -> None:
    """The review's paths quote a key that has a dot in it: ``"a.b"`` and ``a`` -> ``b``
    are two values, each change reported."""
    spec = AgentSpec(name="p", state=Prices, routes=[Route(pattern="p.swap", target=swap_prices)])
    run = DryRun([spec])
    run.start(spec, "p")
    run.send("p", "p.swap")
    (step,) = run.review().steps
    assert set(step.changes) == {
        Change("state.by_name.a.b", 2, 1),
        Change('state.by_name["a.b"]', 1, 2),
    }


def test_the_review_has_per_step_changes_directives_and_effects() -> None:
    """run.review(): per step, the state changes, every directive and the effects."""
    run = shop(replies={"payment.charge": {"receipt": "r-1"}})
    report = run.review(title="Shop review")
    assert report.title == "Shop review"
    assert [s.signal_type for s in report.steps] == [
        "order.placed",
        "order.paid",
        "ship.requested",
    ]
    placed, paid_step, shipped = report.steps
    assert (placed.index, placed.agent_id) == (0, "order")
    assert set(placed.changes) == {
        Change("state.status", "new", "charging"),
        Change("state.item", "", "book"),
        Change("state.qty", 0, 3),
    }
    assert len(placed.directives) == 2
    assert placed.directives[0].startswith("invoke payment.charge(")
    assert '"amount": 30' in placed.directives[0]
    assert "order.paid" in placed.directives[0]
    assert placed.directives[1] == 'emit order.placed {"item": "book"} to sink audit'
    assert placed.effects == placed.directives  # both leave the system
    assert set(paid_step.changes) == {
        Change("state.status", "charging", "paid"),
        Change("state.receipt", None, "r-1"),
    }
    assert paid_step.directives == ('emit ship.requested {"item": "book"} to agent shipper',)
    assert paid_step.effects == ()  # a signal between agents is not an effect
    assert shipped.changes == (Change("state.shipped", 0, 1),)
    assert report.final["order"]["status"] == "paid"
    assert report.final["shipper"] == {"shipped": 1}
    assert report.problems == ()


def test_the_review_lists_problems_per_step() -> None:
    """A directive that could not be executed shows up in its step and in the summary."""
    run = shop(sinks=[])
    report = run.review()
    (problem,) = report.steps[0].problems
    assert problem.startswith("[directive]")
    assert "audit" in problem
    assert report.problems == (f"[0] {problem}",)


def test_the_review_renders_as_text() -> None:
    """render('text') shows the title, each step's changes and directives, and the effects."""
    text = shop(replies={"payment.charge": {"receipt": "r-1"}}).review(title="Shop").render("text")
    lines = text.splitlines()
    assert lines[:2] == ["Shop", "===="]
    assert '[0] t=0s order <- order.placed (ext-0) {"item": "book", "qty": 3}' in lines
    assert '    ~ state.status: "new" -> "charging"' in lines
    assert (
        "effects: 2 (invokes, custom directives, emits to sinks, spawns, timers, sensors)" in lines
    )
    assert any(line.startswith("    > invoke payment.charge(") for line in lines)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"title": None}, "title must be a string, not None"),
        ({"codec": "x"}, "codec must be a jido.serde.Codec, not 'x'"),
    ],
)
def test_the_review_refuses_a_title_or_codec_of_the_wrong_kind(
    kwargs: dict[str, Any], message: str
) -> None:
    """They failed later, rendering (a None title) or reading (a codec that is no Codec)."""
    with pytest.raises(TypeError, match=re.escape(message)):
        shop().review(**kwargs)


def test_the_review_renders_as_markdown() -> None:
    """render('md') is Markdown: a heading, a change table per step, the final states."""
    md = shop(replies={"payment.charge": {"receipt": "r-1"}}).review(title="Shop").render("md")
    assert md.startswith("# Shop\n")
    assert "## 0. `order.placed` → `order` (t=0s, id `ext-0`)" in md
    assert '| `state.status` | `"new"` | `"charging"` |' in md
    assert "- **effect**: `invoke payment.charge(" in md
    assert "## Final states" in md


def test_the_review_renders_as_json_that_parses() -> None:
    """render('json') is one JSON document with the steps, changes and final states."""
    report = shop(replies={"payment.charge": {"receipt": "r-1"}}).review(title="Shop")
    doc = json.loads(report.render("json"))
    assert doc["title"] == "Shop"
    assert len(doc["steps"]) == 3
    assert {"path": "state.status", "before": "new", "after": "charging", "kind": "changed"} in (
        doc["steps"][0]["changes"]
    )
    assert doc["steps"][0]["signal_type"] == "order.placed"
    assert doc["final"]["order"]["receipt"] == "r-1"
    assert doc["problems"] == []
    assert report.render("markdown") == report.render("md")


def test_render_rejects_an_unknown_format() -> None:
    """render() with a format other than text, md or json raises ValueError."""
    with pytest.raises(ValueError, match="unknown format"):
        shop().review().render("html")


@attrs.frozen
class Maps:
    """A state of maps, to diff."""

    m: FrozenMap[str, int | None] = attrs.field(factory=lambda: FrozenMap({"k": None}))
    n: FrozenMap[str, int] = attrs.field(factory=lambda: FrozenMap({"x": 1}))
    workers: FrozenMap[str, str] = attrs.field(factory=FrozenMap)


@action()
def reshape(state: Maps, _: NoParams, ctx: Context) -> ActionResult[Maps]:
    """Delete a key whose value is null, empty a map, fill an empty one."""
    return ok(Maps(m=state.m.delete("k"), n=FrozenMap(), workers=FrozenMap({"w1": "a/w1"})))


def test_the_review_diff_tells_added_removed_and_null_apart() -> None:
    """A deleted key whose value was null is a removal (not "null -> null"), an emptied map
    is its entries removed and a filled one its entries added (not a phantom change of the
    map itself), and the text marks each kind."""
    spec = AgentSpec(name="maps", state=Maps, routes=[Route(pattern="reshape", target=reshape)])
    run = DryRun([spec])
    run.start(spec, "m")
    run.send("m", "reshape")
    (step,) = run.review().steps
    assert step.changes == (
        Change("state.m.k", None, None, "removed"),
        Change("state.n.x", 1, None, "removed"),
        Change("state.workers.w1", None, "a/w1", "added"),
    )
    text = run.review().to_text()
    assert "    - state.m.k: null\n" in text
    assert '    + state.workers.w1: "a/w1"\n' in text
    markdown = run.review().to_markdown()
    assert '| `state.workers.w1` | — | `"a/w1"` |' in markdown


ODD_VALUES: list[object] = ["a|b", "c`d", "``e", "f`", " g ", {"h|i": "`"}, "\\|", "|"]


def test_markdown_shows_values_with_pipes_and_backticks_as_they_are() -> None:
    """A ``|`` in a value does not end its table cell, and a backtick does not end its code
    span: each row keeps three cells, each showing the value's JSON, and so do an agent id
    and a key holding them."""
    changes = tuple(
        Change(f"state.m[{json.dumps(f'k`{n}|')}]", None, v, "added")
        for n, v in enumerate(ODD_VALUES)
    )
    step = ReviewStep(
        index=0,
        at=0.0,
        agent_id="a`|b",
        signal_type="x.y",
        signal_id="s1",
        changes=changes,
        directives=(),
        effects=(),
        problems=(),
    )
    report = Review(title="Odd", steps=(step,), final={"a`|b": {"v": ODD_VALUES}})
    tokens = MarkdownIt("commonmark").enable("table").parse(report.to_markdown())
    rows: list[list[str]] = []
    codes: list[str] = []  # every code span, in order
    in_table = False
    for t in tokens:
        in_table = t.type == "table_open" or (in_table and t.type != "table_close")
        if t.type == "tr_open":
            rows.append([])
        elif t.type == "inline":
            spans = [c.content for c in t.children or [] if c.type == "code_inline"]
            codes += spans
            if in_table:
                rows[-1].append(spans[0] if spans else t.content)
    assert rows == [
        ["path", "before", "after"],
        *([c.path, "—", json.dumps(c.after, ensure_ascii=False)] for c in changes),
    ]
    assert codes[:2] == ["x.y", "a`|b"]  # the heading
    assert codes[-2:] == ["a`|b", json.dumps({"v": ODD_VALUES}, ensure_ascii=False)]


def test_markdown_lists_each_directive_once_marking_the_effects() -> None:
    """A directive that is an effect is one line, marked, not listed again beside itself."""
    md = shop(replies={"payment.charge": {"receipt": "r-1"}}).review(title="Shop").render("md")
    lines = md.splitlines()
    assert sum(line.endswith("to sink audit`") for line in lines) == 1
    assert '- **effect**: `emit order.placed {"item": "book"} to sink audit`' in lines
    assert '- `emit ship.requested {"item": "book"} to agent shipper`' in lines


def test_no_field_of_a_review_forges_a_line_of_it() -> None:
    """A signal's id comes from outside and may hold a line break or a terminal's escape
    sequence: the text review shows it escaped, on its step's one line (it added a line
    of its own, a step that never ran). Every line of the Markdown review goes through the
    same escaping."""
    run = DryRun([ORDER, SHIPPER], sinks=["audit"])
    run.start(ORDER, "order")
    run.start(SHIPPER, "shipper")
    forged = "x1\n[99] t=0s order <- order.refunded (x2)\x1b[2J"
    run.send("order", Signal(type="order.placed", source="/shop", id=forged, data={"item": "b"}))
    report = run.review()
    text = report.to_text()
    assert not any(line.startswith("[99]") for line in text.splitlines())
    (step_line,) = [line for line in text.splitlines() if line.startswith("[0]")]
    assert step_line.endswith(
        r'("x1\n[99] t=0s order <- order.refunded (x2)\u001b[2J") {"item": "b"}'
    )
    assert report.steps[0].signal_id == forged  # the data is as it was
