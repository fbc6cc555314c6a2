"""Example tests of directives: helper constructors, validation, custom directive kinds."""

from __future__ import annotations

import dataclasses
import math
import re
from datetime import UTC, datetime
from typing import Any, ClassVar

import attrs
import pytest

import jido
from jido import (
    PARENT,
    SELF,
    ActionResult,
    AdoptChild,
    AgentSpec,
    Context,
    Cron,
    CronCancel,
    CustomDirective,
    Emit,
    Error,
    Invoke,
    NoParams,
    Problem,
    ProblemKind,
    Route,
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
    action,
    ok,
    step,
)
from jido.serde import Codec, DecodeError

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_emit_defaults_to_self_with_a_draft() -> None:
    """``emit`` builds an Emit of a draft signal addressed to the agent itself."""
    d = jido.emit("order.paid", {"n": [1]}, subject="o-1")
    assert type(d) is Emit
    assert d.to == SELF
    assert isinstance(d.to, ToSelf)
    assert d.signal.is_draft
    assert d.signal.type == "order.paid"
    assert d.signal.data == {"n": (1,)}
    assert d.signal.subject == "o-1"


def test_emit_targets() -> None:
    """``emit_to``, ``emit_to_parent`` and ``emit_to_sink`` choose their targets."""
    to_agent = jido.emit_to("agent-9", "hello", {"x": 1})
    assert type(to_agent) is Emit
    assert to_agent.to == ToAgent("agent-9")
    assert to_agent.signal.data == {"x": 1}
    to_parent = jido.emit_to_parent("done", subject="s")
    assert to_parent.to == PARENT
    assert isinstance(to_parent.to, ToParent)
    assert to_parent.signal.subject == "s"
    to_sink = jido.emit_to_sink("audit-log", "audit.entry", [1])
    assert to_sink.to == ToSink("audit-log")
    assert to_sink.signal.type == "audit.entry"
    assert jido.emit("x", to=ToSink("s")).to == ToSink("s")


def test_invoke_helper() -> None:
    """``invoke`` builds an Invoke with frozen args and context and an unset key."""
    d = jido.invoke(
        "http.get", {"url": "u", "h": ["a"]}, on_ok="got.ok", on_error="got.err", context={"r": 1}
    )
    assert type(d) is Invoke
    assert d.effect == "http.get"
    assert d.args == {"url": "u", "h": ("a",)}
    assert isinstance(d.args, jido.FrozenMap)
    assert (d.on_ok, d.on_error) == ("got.ok", "got.err")
    assert d.context == {"r": 1}
    assert d.key != ""
    bare = jido.invoke("e", on_ok="a", on_error="b")
    assert bare.args == {}
    assert bare.context == {}


def test_schedule_helper() -> None:
    """``schedule`` builds a Schedule with a float delay and a draft signal."""
    d = jido.schedule(3, "timer.fired", {"n": 1})
    assert type(d) is Schedule
    assert d.delay == 3.0
    assert isinstance(d.delay, float)
    assert d.signal.is_draft
    assert d.signal.type == "timer.fired"
    assert jido.schedule(0, "t").delay == 0.0


def test_cron_and_cron_cancel_helpers() -> None:
    """``cron`` and ``cron_cancel`` build Cron (UTC by default) and CronCancel."""
    d = jido.cron("*/5 * * * *", "tick", {"a": 1}, job_id="job-1")
    assert type(d) is Cron
    assert d.expression == "*/5 * * * *"
    assert d.job_id == "job-1"
    assert d.timezone == "UTC"
    assert d.signal.is_draft
    assert d.signal.type == "tick"
    assert jido.cron("0 0 * * *", "t", job_id="j", timezone="Europe/Paris").timezone == (
        "Europe/Paris"
    )
    c = jido.cron_cancel("job-1")
    assert type(c) is CronCancel
    assert c.job_id == "job-1"


def test_child_helpers() -> None:
    """``spawn_agent``, ``stop_child`` and ``adopt_child`` build their classes."""
    s = jido.spawn_agent("worker", "w1", id="w-1", state={"n": 1}, meta={"m": [1]})
    assert type(s) is SpawnAgent
    assert (s.spec, s.tag, s.id) == ("worker", "w1", "w-1")
    assert s.state == {"n": 1}
    assert s.meta == {"m": (1,)}
    plain = jido.spawn_agent("worker", "w2")
    assert plain.id is None
    assert plain.state == {}
    assert plain.meta == {}
    st = jido.stop_child("w1")
    assert type(st) is StopChild
    assert (st.tag, st.reason) == ("w1", "normal")
    assert jido.stop_child("w1", "shutdown").reason == "shutdown"
    a = jido.adopt_child("orphan-1", "o1", {"k": "v"})
    assert type(a) is AdoptChild
    assert (a.child_id, a.tag) == ("orphan-1", "o1")
    assert a.meta == {"k": "v"}


def test_sensor_helpers() -> None:
    """``start_sensor`` and ``stop_sensor`` build StartSensor and StopSensor."""
    s = jido.start_sensor("heartbeat", "hb", {"every": 5})
    assert type(s) is StartSensor
    assert (s.sensor, s.tag) == ("heartbeat", "hb")
    assert s.config == {"every": 5}
    assert jido.start_sensor("heartbeat", "hb").config == {}
    t = jido.stop_sensor("hb")
    assert type(t) is StopSensor
    assert t.tag == "hb"


def test_stop_and_error_helpers() -> None:
    """``stop`` builds Stop; ``error`` builds Error carrying a Problem."""
    s = jido.stop()
    assert type(s) is Stop
    assert s.reason == "normal"
    assert jido.stop("done").reason == "done"
    e = jido.error(ProblemKind.EFFECT, "timed out", effect="http.get", after=[1, 2])
    assert type(e) is Error
    assert e.problem == Problem(
        kind=ProblemKind.EFFECT,
        message="timed out",
        details=jido.FrozenMap({"effect": "http.get", "after": (1, 2)}),
    )


ALL_HELPER_DIRECTIVES: list[Any] = [
    jido.emit("a"),
    jido.emit_to("x", "a"),
    jido.emit_to_parent("a"),
    jido.emit_to_sink("s", "a"),
    jido.invoke("e", on_ok="a", on_error="b"),
    jido.schedule(1, "a"),
    jido.cron("* * * * *", "a", job_id="j"),
    jido.cron_cancel("j"),
    jido.spawn_agent("s", "t"),
    jido.stop_child("t"),
    jido.adopt_child("c", "t"),
    jido.start_sensor("s", "t"),
    jido.stop_sensor("t"),
    jido.stop(),
    jido.error(ProblemKind.ACTION, "m"),
]


@pytest.mark.parametrize("d", ALL_HELPER_DIRECTIVES, ids=lambda d: type(d).__name__)
def test_directives_are_frozen_hashable_and_final(d: Any) -> None:
    """Every built-in directive is frozen, hashes, and its class is final."""
    field = attrs.fields(type(d))[0].name
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        setattr(d, field, None)
    assert hash(d) == hash(attrs.evolve(d))
    assert d == attrs.evolve(d)
    assert getattr(type(d), "__final__", False) is True


@pytest.mark.parametrize("delay", [-1, -0.001, math.nan, math.inf, -math.inf])
def test_schedule_rejects_bad_delays(delay: float) -> None:
    """A negative or non-finite delay is rejected."""
    with pytest.raises(ValueError, match="delay"):
        jido.schedule(delay, "a")


@pytest.mark.parametrize("delay", [True, "5", None])
def test_schedule_rejects_non_numbers(delay: Any) -> None:
    """A delay that is not an int or float (bool included) is a TypeError."""
    with pytest.raises(TypeError, match="delay"):
        jido.schedule(delay, "a")


def test_invoke_rejects_an_empty_effect_name() -> None:
    """An Invoke needs a non-empty effect name."""
    with pytest.raises(ValueError, match="effect"):
        jido.invoke("", on_ok="a", on_error="b")


@pytest.mark.parametrize("bad", ["", "a..b", "a.*", "a b"])
def test_invoke_rejects_invalid_outcome_types(bad: str) -> None:
    """``on_ok`` and ``on_error`` must be valid signal types."""
    with pytest.raises(ValueError, match="on_ok"):
        jido.invoke("e", on_ok=bad, on_error="b")
    with pytest.raises(ValueError, match="on_error"):
        jido.invoke("e", on_ok="a", on_error=bad)


def test_invoke_rejects_non_json_args() -> None:
    """Invoke args must be a JSON-able mapping."""
    with pytest.raises(TypeError):
        jido.invoke("e", {"x": {1, 2}}, on_ok="a", on_error="b")
    with pytest.raises(TypeError):
        jido.invoke("e", [1, 2], on_ok="a", on_error="b")


def test_invoke_rejects_an_empty_key() -> None:
    """An explicit Invoke key must not be empty."""
    with pytest.raises(ValueError, match="key"):
        Invoke(effect="e", on_ok="a", on_error="b", key="")


@pytest.mark.parametrize(
    "build",
    [
        lambda: ToAgent(""),
        lambda: ToSink(""),
        lambda: jido.cron("", "a", job_id="j"),
        lambda: jido.cron("* * * * *", "a", job_id=""),
        lambda: jido.cron("* * * * *", "a", job_id="j", timezone=""),
        lambda: jido.cron_cancel(""),
        lambda: jido.spawn_agent("", "t"),
        lambda: jido.spawn_agent("s", ""),
        lambda: jido.stop_child(""),
        lambda: jido.adopt_child("", "t"),
        lambda: jido.adopt_child("c", ""),
        lambda: jido.start_sensor("", "t"),
        lambda: jido.start_sensor("s", ""),
        lambda: jido.stop_sensor(""),
    ],
)
def test_empty_names_are_rejected(build: Any) -> None:
    """Names, tags, ids and expressions of directives must be non-empty strings."""
    with pytest.raises(ValueError, match="non-empty"):
        build()


def test_helpers_reject_bad_signal_types() -> None:
    """Helpers that build drafts reject a bad signal type."""
    with pytest.raises(jido.InvalidSignal):
        jido.emit("a..b")
    with pytest.raises(jido.InvalidSignal):
        jido.schedule(1, "")


# ---------------------------------------------------------------------------- custom directives


@attrs.frozen(kw_only=True)
class Refund(CustomDirective):
    """A user-defined directive: refund an order."""

    order: str
    amount: int
    reasons: tuple[str, ...] = ()


@action()
def refund(state: Any, params: NoParams, ctx: Context) -> ActionResult[Any]:
    """Ask for a refund alongside an ordinary emit."""
    return ok(None, Refund(order="o-1", amount=30, reasons=("late",)), jido.emit("refunded"))


@attrs.frozen
class Empty:
    """A state with nothing in it."""


def test_custom_directive_returned_by_an_action() -> None:
    """A CustomDirective from an action appears in the step's directives as returned."""
    spec = AgentSpec(name="shop", state=Empty, routes=[Route(pattern="order.late", target=refund)])
    result = step(spec, spec.new("s1"), Signal(type="order.late", source="/t", id="i", time=T0))
    custom, e = result.directives
    assert custom == Refund(order="o-1", amount=30, reasons=("late",))
    assert isinstance(e, Emit)
    assert not e.signal.is_draft


def test_custom_directive_round_trips_through_a_codec() -> None:
    """A Codec registered with the class encodes it with its tag and decodes it back."""
    codec = Codec(directives={"my.kind": Refund})
    d = Refund(order="o-1", amount=30, reasons=("late", "broken"))
    text = codec.to_json(d)
    assert '"kind":"my.kind"' in text
    assert codec.directive_from_json(text) == d
    # built-in directives still work through the same codec
    e = jido.emit_to("x", "a.b", {"k": [1]})
    assert codec.directive_from_json(codec.to_json(e)) == e


def test_a_codec_without_the_class_cannot_decode_it() -> None:
    """The default codec does not know the custom tag: a DecodeError, not a crash."""
    codec = Codec(directives={"my.kind": Refund})
    text = codec.to_json(Refund(order="o", amount=1))
    with pytest.raises(DecodeError):
        jido.serde.directive_from_json(text)


@pytest.mark.parametrize("tag", ["emit", "invoke", "error", "stop", "cron_cancel"])
def test_builtin_tag_collision_is_rejected(tag: str) -> None:
    """A custom directive cannot reuse a built-in tag."""
    with pytest.raises(ValueError, match="built in"):
        Codec(directives={tag: Refund})


@dataclasses.dataclass(frozen=True)
class Dataclassed(CustomDirective):
    """A dataclass directive: its fields are no attrs fields."""

    kind: str = "clash"


class Undecorated(CustomDirective):
    """A subclass without its own attrs decorator: its annotation is no field."""

    note: str = "x"


@pytest.mark.parametrize(
    ("directives", "says"),
    [
        ({"": Refund}, "non-empty line of text"),
        ({1: Refund}, "non-empty line of text"),
        ({"a\nb": Refund}, "non-empty line of text"),
        ({"u": Undecorated}, "annotates note but is not decorated"),
        ({"x.a": Refund, "x.b": Refund}, "two tags, 'x.a' and 'x.b'"),
        ({"dc": Dataclassed}, "is a dataclass"),
    ],
    ids=["empty-tag", "int-tag", "two-line-tag", "undecorated", "two-tags", "dataclass"],
)
def test_codec_refuses_registrations_it_could_not_keep(
    directives: dict[Any, Any], says: str
) -> None:
    """A registration the codec could not honour is a ValueError saying why: before, an
    undecorated class was encoded without its fields, a class under two tags was written
    under the last, and a tag that is no text failed with a comparison error."""
    with pytest.raises(ValueError, match=re.escape(says)):
        Codec(directives=directives)


class Escalation(Refund):
    """An undecorated subclass adding nothing: the attrs fields it inherits are its own."""


class Bare(CustomDirective):
    """A directive with no fields at all, only a class variable."""

    registry: ClassVar[dict[str, int]] = {}


def test_codec_keeps_classes_whose_fields_are_all_known() -> None:
    """What the registration check must let through, round-tripping as before: a subclass
    inheriting an attrs directive's fields, a class with none (a class variable is none)."""
    codec = Codec(directives={"x.escalation": Escalation, "x.bare": Bare})
    for d in (Escalation(order="o", amount=1), Bare()):
        back = codec.directive_from_json(codec.to_json(d))
        assert (type(back), back) == (type(d), d)


def test_codec_rejects_classes_that_are_not_custom_directives() -> None:
    """Only CustomDirective subclasses can be registered."""
    bad: Any = Empty
    with pytest.raises(ValueError, match="CustomDirective"):
        Codec(directives={"x": bad})


def test_custom_directive_base_is_not_final() -> None:
    """CustomDirective is meant for subclassing, so it is not final."""
    assert not getattr(CustomDirective, "__final__", False)
    assert issubclass(Refund, CustomDirective)


def _nested_map(depth: int) -> dict[str, object]:
    value: dict[str, object] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def test_what_a_signal_carries_one_level_down_nests_one_level_less() -> None:
    """An Invoke's context goes into its outcome's data, a spawn's meta into child.started:
    one nesting 256 deep (as signal data may) was accepted, and then no outcome signal
    could be built: the effect's caller was left without one."""
    deepest = _nested_map(255)
    invoke = Invoke(effect="e", on_ok="done", on_error="failed", key="k", context=deepest)
    outcome = Signal(type="done", source="/t", id="1", data={"context": invoke.context})
    assert outcome.data is not None
    for make in (
        lambda ctx: Invoke(effect="e", on_ok="done", on_error="failed", key="k", context=ctx),
        lambda meta: SpawnAgent(spec="s", tag="t", meta=meta),
        lambda meta: AdoptChild(child_id="c", tag="t", meta=meta),
    ):
        make(deepest)
        with pytest.raises(TypeError, match="nested more than 255 deep"):  # its own bound
            make(_nested_map(256))
