"""Example tests of ``jido.serde``: exact round trips and DecodeError on bad input."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, get_args

import attrs
import pytest

import jido
from jido import FrozenMap, JsonValue, Plugin, ProblemKind, Signal
from jido.serde import (
    Codec,
    DecodeError,
    EncodeError,
    agent_from_dict,
    agent_from_json,
    directive_from_dict,
    directive_from_json,
    signal_from_dict,
    signal_from_json,
    to_dict,
    to_json,
)

T0 = datetime(2026, 1, 1, 8, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))


@attrs.frozen
class Address:
    """A nested attrs value in the state."""

    city: str = "Paris"


@attrs.frozen
class State:
    """A state with scalars, a tuple, a nested value, a JSON map, an optional."""

    count: int = 0
    ratio: float = 0.5
    tags: tuple[str, ...] = ()
    address: Address = attrs.field(factory=Address)
    meta: FrozenMap[str, JsonValue] = attrs.field(factory=FrozenMap)
    note: str | None = None


@attrs.frozen
class Slice:
    """A plugin slice."""

    hits: int = 0


SPEC = jido.AgentSpec(name="store", state=State, plugins=[Plugin(name="metrics", state=Slice)])
OTHER_SPEC = jido.AgentSpec(name="other", state=State)


def full_signal() -> Signal:
    """A signal with every optional attribute set."""
    return Signal(
        type="order.paid",
        source="/billing",
        id="evt-1",
        time=T0,
        subject="order-7",
        data={"amount": 10.5, "items": [1, "two", None, True, {"x": []}]},
        datacontenttype="application/json",
        extensions={"traceparent": "00-a-b-01", "attempt": 2, "replayed": False},
    )


# ---------------------------------------------------------------------------- good round trips


def test_signal_round_trips_exactly() -> None:
    """A fully populated signal survives JSON text unchanged, time offset included."""
    s = full_signal()
    back = signal_from_json(to_json(s))
    assert back == s
    assert back.time is not None
    assert back.time.utcoffset() == timedelta(hours=2)


def test_signal_json_is_cloudevents() -> None:
    """A signal encodes as CloudEvents JSON: specversion 1.0, extensions at the top level."""
    raw = json.loads(to_json(full_signal()))
    assert raw["specversion"] == "1.0"
    assert raw["type"] == "order.paid"
    assert raw["traceparent"] == "00-a-b-01"
    assert raw["attempt"] == 2
    assert raw["data"]["items"] == [1, "two", None, True, {"x": []}]
    assert "extensions" not in raw


def test_minimal_signal_round_trips() -> None:
    """A signal with only the required attributes round-trips and omits absent ones."""
    s = Signal(type="a", source="/s", id="1")
    raw = to_dict(s)
    assert "time" not in raw
    assert "subject" not in raw
    assert "data" not in raw
    assert signal_from_dict(raw) == s


#: One of each built-in directive class, with its optional fields set.
BUILTIN_DIRECTIVES: list[Any] = [
    jido.emit_to("agent-2", "hello.there", {"k": [1, 2]}),
    jido.emit_to_sink("log", "audit.entry"),
    jido.emit_to_parent("done"),
    jido.invoke("http.get", {"url": "u"}, on_ok="a.ok", on_error="a.err", context={"n": 1}),
    jido.schedule(2.5, "timer.fired"),
    jido.cron("0 * * * *", "tick", job_id="hourly", timezone="Europe/Paris"),
    jido.cron_cancel("hourly"),
    jido.spawn_agent("worker", "w1", id="w-1", state={"n": 1}, meta={"m": [True]}),
    jido.stop_child("w1", "shutdown"),
    jido.adopt_child("orphan", "o", {"k": None}),
    jido.start_sensor("heartbeat", "hb", {"every": 5}),
    jido.stop_sensor("hb"),
    jido.stop("done"),
    jido.error(ProblemKind.PARAMS, "bad", errors=["x @ $.a"], action="act"),
    jido.Emit(signal=Signal(type="x", source="/s", id="i", time=T0, data=[1])),
]


@pytest.mark.parametrize("d", BUILTIN_DIRECTIVES, ids=lambda d: type(d).__name__)
def test_directives_round_trip_exactly(d: Any) -> None:
    """Each built-in directive survives JSON text unchanged and carries its kind tag."""
    text = to_json(d)
    assert directive_from_json(text) == d
    assert isinstance(json.loads(text)["kind"], str)


def test_directive_kind_tags_are_stable() -> None:
    """The wire tags are fixed strings, independent of class names."""
    assert to_dict(jido.emit("a"))["kind"] == "emit"
    assert to_dict(jido.emit("a"))["to"] == {"kind": "self"}
    assert to_dict(jido.cron_cancel("j"))["kind"] == "cron_cancel"
    assert to_dict(jido.emit_to("x", "a"))["to"] == {"kind": "agent", "id": "x"}


def test_agent_round_trips_exactly() -> None:
    """An agent with nested state, a JSON map and a plugin slice round-trips exactly."""
    agent = attrs.evolve(
        SPEC.new(
            "a1",
            State(
                count=2,
                ratio=1.0,
                tags=("a", "b"),
                address=Address(city="Lyon"),
                meta=FrozenMap({"k": (1, FrozenMap({"z": None}))}),
                note="n",
            ),
        ),
        version=3,
        status="busy",
        slices=FrozenMap({"metrics": Slice(hits=4)}),
    )
    back = agent_from_json(to_json(agent), SPEC)
    assert back == agent
    assert isinstance(back.state.meta, FrozenMap)
    assert isinstance(back.state.tags, tuple)


def test_problem_round_trips() -> None:
    """A problem survives the default codec."""
    problem = jido.Problem.of(ProblemKind.STATE, "m", path=["a", "b"], n=1)
    assert jido.serde.Codec().problem_from_dict(to_dict(problem)) == problem


def test_step_encodes_agent_and_directives() -> None:
    """A Step encodes as its agent and its directives, each decodable on its own."""
    agent = SPEC.new("a1")
    st = jido.Step(agent, (jido.stop(), jido.emit_to("x", "y")))
    raw = to_dict(st)
    assert agent_from_dict(raw["agent"], SPEC) == agent
    assert tuple(directive_from_dict(x) for x in raw["directives"]) == st.directives


# ---------------------------------------------------------------------------- bad signals


def signal_dict(**changes: Any) -> dict[str, Any]:
    """A valid signal dict with ``changes``; a value of ``...`` removes the key."""
    raw: dict[str, Any] = {"specversion": "1.0", "id": "1", "source": "/s", "type": "a.b"}
    for k, v in changes.items():
        if v is ...:
            raw.pop(k, None)
        else:
            raw[k] = v
    return raw


@pytest.mark.parametrize("text", ["not json", "{", "", "{'id': 1}"])
def test_non_json_text_is_a_decode_error(text: str) -> None:
    """Text that is not JSON raises DecodeError saying so."""
    with pytest.raises(DecodeError) as info:
        signal_from_json(text)
    assert info.value.what == "signal"
    assert "not JSON" in info.value.reason


@pytest.mark.parametrize("missing", ["id", "source", "type"])
def test_missing_required_attribute_is_a_decode_error(missing: str) -> None:
    """A signal without id, source or type raises DecodeError naming it, as its field."""
    with pytest.raises(DecodeError, match=missing) as info:
        signal_from_json(json.dumps(signal_dict(**{missing: ...})))
    assert info.value.field == missing


@pytest.mark.parametrize("version", ["0.3", "2.0", 1.0, None])
def test_wrong_specversion_is_a_decode_error(version: object) -> None:
    """A specversion other than "1.0" raises DecodeError."""
    with pytest.raises(DecodeError, match="specversion") as info:
        signal_from_dict(signal_dict(specversion=version))
    assert info.value.field == "specversion"


def test_the_cloudevents_leniencies_are_as_documented() -> None:
    """A missing specversion reads as 1.0; ``"data": null`` as no data (written without
    it); binary data is refused, naming ``data_base64``."""
    assert signal_from_dict(signal_dict(specversion=...)) == signal_from_dict(signal_dict())
    nulled = signal_from_dict(signal_dict(data=None))
    assert nulled.data is None
    assert "data" not in json.loads(to_json(nulled))
    with pytest.raises(DecodeError, match="data_base64") as info:
        signal_from_dict(signal_dict(data_base64="AA=="))
    assert info.value.field == "data_base64"


@pytest.mark.parametrize("time", ["yesterday", "2026-13-01T00:00:00Z", 5, "2026-01-01T00:00:00"])
def test_bad_time_is_a_decode_error(time: object) -> None:
    """A time that is not an RFC 3339 string with an offset raises DecodeError."""
    with pytest.raises(DecodeError, match="time"):
        signal_from_dict(signal_dict(time=time))


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"type": "a..b"}, "type"),
        ({"type": "com.example/order.created"}, "type"),
        ({"id": ""}, "id"),
        ({"source": 5}, "source"),
        ({"BadExt": 1}, "extensions"),
        ({"ext": 1.5}, "extensions"),
        ({"subject": ""}, "subject"),
        ({"time": "noon"}, "time"),
    ],
)
def test_invalid_signal_fields_are_decode_errors(changes: dict[str, Any], field: str) -> None:
    """A field the Signal constructor rejects surfaces as DecodeError, naming it."""
    with pytest.raises(DecodeError) as info:
        signal_from_dict(signal_dict(**changes))
    assert info.value.field == field


def test_non_object_signal_is_a_decode_error() -> None:
    """JSON that is not an object raises DecodeError."""
    with pytest.raises(DecodeError, match="object"):
        signal_from_json("[1, 2]")


def test_decode_error_is_a_value_error_and_jido_error() -> None:
    """DecodeError sits in the library's error tree and is a ValueError."""
    assert issubclass(DecodeError, jido.JidoError)
    assert issubclass(DecodeError, ValueError)


# ---------------------------------------------------------------------------- bad directives


def builtin_kinds() -> list[str]:
    """The wire tags of the built-in directives, sorted, read off encoded examples."""
    kinds = {to_dict(x)["kind"] for x in BUILTIN_DIRECTIVES}
    # the examples cover every built-in class, so these are all the tags
    assert {type(x) for x in BUILTIN_DIRECTIVES} == set(get_args(jido.BuiltinDirective))
    return sorted(kinds)


def test_unknown_directive_kind_is_a_decode_error() -> None:
    """A directive whose kind no class claims raises DecodeError naming the kind."""
    with pytest.raises(DecodeError, match="teleport") as info:
        directive_from_json('{"kind": "teleport", "where": "mars"}')
    assert info.value.what == "directive"


def test_unknown_directive_kind_reason_lists_the_known_kinds() -> None:
    """The reason names the unknown kind, lists every known kind and says how to register one,
    rather than reporting a bare KeyError."""
    with pytest.raises(DecodeError) as info:
        directive_from_dict({"kind": "teleport", "where": "mars"})
    reason = info.value.reason
    assert "KeyError" not in reason
    assert reason.startswith("unknown directive kind 'teleport'; ")
    assert f"known directive kinds: {', '.join(builtin_kinds())};" in reason
    assert "Codec(directives={'teleport': MyDirective})" in reason


def test_known_kinds_include_the_codecs_own_directives() -> None:
    """A codec with user-defined directives lists their tags among the known kinds."""
    codec = Codec(directives={"billing.refund": Refund})
    with pytest.raises(DecodeError) as info:
        codec.directive_from_dict({"kind": "teleport"})
    listed = sorted([*builtin_kinds(), "billing.refund"])
    assert f"known directive kinds: {', '.join(listed)};" in info.value.reason


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ({"reason": "no kind"}, "no 'kind' tag; known directive kinds: "),
        ({"kind": 5}, "'kind' must be a string, got int 5"),
        ({"kind": ["stop"]}, "'kind' must be a string, got list ['stop']"),
        ([], "expected a JSON object, got list"),
        ("stop", "expected a JSON object, got str"),
    ],
)
def test_missing_or_mistyped_kind_is_named(raw: object, reason: str) -> None:
    """A directive without a string kind, or that is no object, says which, not KeyError."""
    with pytest.raises(DecodeError) as info:
        directive_from_dict(raw)
    assert info.value.reason.startswith(reason)
    assert "Error" not in info.value.reason  # no exception class names leak into the reason


def test_unknown_target_kind_is_named_with_its_path() -> None:
    """An emit whose target kind is unknown names the kind, the known ones and the field."""
    raw = to_dict(jido.emit_to("x", "a"))
    raw["to"] = {"kind": "mars"}
    with pytest.raises(DecodeError) as info:
        directive_from_dict(raw)
    emits = [jido.emit("a"), jido.emit_to_parent("a"), jido.emit_to("x", "a")]
    emits.append(jido.emit_to_sink("log", "a"))
    known = sorted({to_dict(e)["to"]["kind"] for e in emits})
    assert info.value.reason == (
        f"unknown target kind 'mars'; known target kinds: {', '.join(known)} @ $.to"
    )


@pytest.mark.parametrize(
    "raw",
    [
        {"reason": "no kind"},
        {"kind": "stop", "reason": 5},
        {"kind": "schedule", "delay": -1, "signal": signal_dict()},
        {"kind": "schedule", "delay": "soon", "signal": signal_dict()},
        {"kind": "invoke", "effect": "", "on_ok": "a", "on_error": "b"},
        {"kind": "cron_cancel"},
        {"kind": "emit", "signal": signal_dict(type="a..b")},
        [],
        "stop",
    ],
)
def test_malformed_directives_are_decode_errors(raw: object) -> None:
    """Missing kinds, wrong field types and invalid values raise DecodeError."""
    with pytest.raises(DecodeError):
        directive_from_dict(raw)


# ---------------------------------------------------------------------------- custom directives


@attrs.frozen
class Refund(jido.CustomDirective):
    """A user-defined directive."""

    order: str = "o-1"
    amount: int = 5


def test_registered_custom_directive_round_trips() -> None:
    """A codec that registers a custom directive encodes it under its tag and decodes it."""
    codec = Codec(directives={"billing.refund": Refund})
    text = codec.to_json(Refund(amount=7))
    assert json.loads(text) == {"kind": "billing.refund", "order": "o-1", "amount": 7}
    assert codec.directive_from_json(text) == Refund(amount=7)


@pytest.mark.parametrize("encode", [to_dict, to_json], ids=["to_dict", "to_json"])
def test_unregistered_custom_directive_is_an_encode_error(encode: Any) -> None:
    """Encoding a custom directive the codec does not know raises EncodeError naming the
    class and how to register it, not a bare KeyError."""
    with pytest.raises(EncodeError) as info:
        encode(Refund())
    qualname = Refund.__qualname__
    assert info.value.what == f"directive {__name__}.{qualname}"
    assert f"Codec(directives={{'my.tag': {qualname}}})" in info.value.reason
    assert str(info.value) == f"cannot encode {info.value.what}: {info.value.reason}"
    assert not isinstance(info.value.__cause__, KeyError)
    assert info.value.__suppress_context__


def test_unregistered_custom_directive_in_a_step_is_an_encode_error() -> None:
    """A step holding an unregistered directive fails the same way, naming the class."""
    st = jido.Step(SPEC.new("a1"), (jido.stop(), Refund()))
    with pytest.raises(EncodeError, match=Refund.__qualname__):
        to_json(st)


def test_custom_directive_known_to_another_codec_only_is_an_encode_error() -> None:
    """Registration is per codec: the default codec still refuses the class."""
    Codec(directives={"billing.refund": Refund})
    with pytest.raises(EncodeError):
        to_dict(Refund())


def test_value_the_codec_cannot_encode_is_an_encode_error() -> None:
    """A value that is no signal, directive, agent, problem or step raises EncodeError."""
    with pytest.raises(EncodeError, match=r"builtins\.int"):
        to_dict(5)  # type: ignore[arg-type]


def test_encode_error_is_a_type_error_and_jido_error() -> None:
    """EncodeError sits in the library's error tree and is a TypeError."""
    assert issubclass(EncodeError, jido.JidoError)
    assert issubclass(EncodeError, TypeError)


def test_unregistered_custom_directive_is_a_decode_error() -> None:
    """The default codec decoding a custom directive's JSON raises DecodeError naming its
    kind and how to register the class."""
    text = Codec(directives={"billing.refund": Refund}).to_json(Refund())
    with pytest.raises(DecodeError) as info:
        directive_from_json(text)
    assert info.value.what == "directive"
    assert info.value.reason.startswith("unknown directive kind 'billing.refund'; ")
    assert "Codec(directives={'billing.refund': MyDirective})" in info.value.reason


# ---------------------------------------------------------------------------- bad agents


def agent_raw() -> dict[str, Any]:
    """A valid encoded agent of SPEC."""
    return to_dict(SPEC.new("a1"))


def test_agent_of_another_spec_is_a_decode_error() -> None:
    """Decoding an agent against a spec it does not run raises DecodeError naming both."""
    text = to_json(SPEC.new("a1"))
    with pytest.raises(DecodeError) as info:
        agent_from_json(text, OTHER_SPEC)
    assert "store" in info.value.reason
    assert "other" in info.value.reason


@pytest.mark.parametrize("slices", [{}, {"metrics": {}, "extra": {}}, {"wrong": {}}, [1]])
def test_agent_with_wrong_slices_is_a_decode_error(slices: object) -> None:
    """Slices that do not match the spec's plugins raise DecodeError."""
    raw = agent_raw()
    raw["slices"] = slices
    with pytest.raises(DecodeError, match="slices"):
        agent_from_dict(raw, SPEC)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("state", {"count": "2"}),
        ("state", {"address": {"city": 5}}),
        ("state", "nope"),
        ("state", [1, 2]),
        ("state", {"address": "nowhere"}),
        ("version", 1.5),
        ("version", None),
        ("status", 3),
        ("id", None),
    ],
)
def test_agent_with_bad_fields_is_a_decode_error(key: str, value: object) -> None:
    """Badly typed agent fields or state raise DecodeError saying "cannot decode" once."""
    raw = agent_raw()
    raw[key] = value
    with pytest.raises(DecodeError) as info:
        agent_from_dict(raw, SPEC)
    assert str(info.value).count("cannot decode") == 1
    assert str(info.value).count(info.value.reason) == 1


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("version", 1.5, "cannot decode agent version: expected int, got float 1.5"),
        ("version", None, "cannot decode agent version: expected int, got NoneType None"),
        ("status", 3, "cannot decode agent status: expected str, got int 3"),
        ("id", None, "cannot decode agent id: expected str, got NoneType None"),
        ("state", "nope", "cannot decode agent state: expected an object, got str 'nope'"),
    ],
)
def test_agent_decode_error_message_is_exact(key: str, value: object, message: str) -> None:
    """The message says what failed and why once: no repeated prefix, no exception name."""
    raw = agent_raw()
    raw[key] = value
    with pytest.raises(DecodeError) as info:
        agent_from_dict(raw, SPEC)
    assert str(info.value) == message
    assert f"cannot decode {info.value.what}: {info.value.reason}" == message


DOOR = jido.AgentSpec(
    name="door",
    state=State,
    strategy=jido.FSM(
        "open",
        [
            jido.Transition(source="open", on="door.close", target="closed"),
            jido.Transition(source="closed", on="door.lock", target="locked"),
            jido.Transition(source="*", on="door.reset", target="open"),
        ],
    ),
)


def test_an_agent_decodes_in_every_status_its_fsm_has() -> None:
    """A new agent's status, and every status a row leads to, decodes: only one the table
    does not name is refused."""
    assert DOOR.strategy.statuses == ("open", "closed", "locked")  # type: ignore[attr-defined]
    agent = DOOR.new("d1")
    assert agent_from_dict(to_dict(agent), DOOR) == agent
    reached = []
    for signal_type in ("door.close", "door.lock", "door.reset"):
        agent = jido.step(DOOR, agent, Signal(type=signal_type, source="/t", id=signal_type)).agent
        assert agent_from_dict(to_dict(agent), DOOR) == agent
        reached.append(agent.status)
    assert reached == ["closed", "locked", "open"]


def test_an_agent_in_a_status_its_fsm_lacks_is_a_decode_error() -> None:
    """An agent in a status its spec's FSM does not name, and that no ``"*"`` row leaves,
    would refuse every signal, for ever: decoding refuses it, naming the status and the
    FSM's. With a ``"*"`` row it has a way out (the table keeps such rows for a restored
    agent), and decodes. A strategy of another kind has no statuses to check against."""
    strict = attrs.evolve(
        DOOR,
        strategy=jido.FSM(
            "open",
            [
                jido.Transition(source="open", on="door.close", target="closed"),
                jido.Transition(source="closed", on="door.lock", target="locked"),
            ],
        ),
    )
    raw = to_dict(strict.new("d1"))
    raw["status"] = "ajar"
    with pytest.raises(DecodeError) as info:
        agent_from_dict(raw, strict)
    assert str(info.value) == (
        "cannot decode FSM status: the agent's status 'ajar' is not one of the FSM's"
        " ['open', 'closed', 'locked'], and no '*' row leaves it"
    )
    ajar = agent_from_dict(raw, DOOR)
    assert ajar.status == "ajar"
    for no_status in ("*", "", "a\nb"):  # a "*" row excuses an unknown status, not these
        raw["status"] = no_status
        with pytest.raises(DecodeError, match="is no status"):
            agent_from_dict(raw, DOOR)
    raw["status"] = "ajar"
    reset = Signal(type="door.reset", source="/t", id="r")
    assert jido.step(DOOR, ajar, reset).agent.status == "open"
    raw = agent_raw()
    raw["status"] = "ajar"
    assert agent_from_dict(raw, SPEC).status == "ajar"


@pytest.mark.parametrize(
    ("where", "value"),
    [("state", {"count": 2, "gone": 1}), ("slices", {"metrics": {"hits": 1, "gone": 1}})],
)
def test_agent_state_with_a_field_its_class_lacks_is_a_decode_error(
    where: str, value: dict[str, object]
) -> None:
    """A state (or slice) holding a field its class does not have is not decoded by
    dropping the field: the decode fails, naming it."""
    raw = agent_raw()
    raw[where] = value
    with pytest.raises(DecodeError, match="gone"):
        agent_from_dict(raw, SPEC)


def test_agent_with_bad_slice_contents_is_a_decode_error() -> None:
    """A slice whose contents do not fit its class raises DecodeError naming the slice."""
    raw = agent_raw()
    raw["slices"] = {"metrics": {"hits": "many"}}
    with pytest.raises(DecodeError, match="metrics"):
        agent_from_dict(raw, SPEC)


def test_agent_that_is_not_an_object_is_a_decode_error() -> None:
    """JSON that is not an object raises DecodeError for agents too."""
    with pytest.raises(DecodeError):
        agent_from_json("[]", SPEC)
    with pytest.raises(DecodeError):
        agent_from_json("not json", SPEC)


# ---------------------------------------------------------------------------- sets in state


@attrs.frozen
class Bag:
    """A state holding sets: typed, nested and untyped."""

    tags: frozenset[str] = frozenset()
    ids: set[int] = attrs.field(factory=set)
    groups: tuple[frozenset[int], ...] = ()
    loose: Any = None


BAG_SPEC = jido.AgentSpec(name="bag", state=Bag)


def test_sets_in_state_encode_in_a_fixed_order() -> None:
    """Two equal sets that iterate in different orders encode to the same, sorted text."""
    a, b = frozenset([8, 16, 24]), frozenset([24, 16, 8])
    assert a == b
    assert list(a) != list(b)  # the hash-table order really differs: the test can catch it
    text_a = to_json(BAG_SPEC.new("b", Bag(ids=set(a), groups=(a,), loose=a)))
    text_b = to_json(BAG_SPEC.new("b", Bag(ids=set(b), groups=(b,), loose=b)))
    assert text_a == text_b
    state = json.loads(text_a)["state"]
    assert state["ids"] == state["groups"][0] == state["loose"] == sorted(a)


def test_sets_of_strings_encode_sorted() -> None:
    """A set of strings becomes a JSON array sorted by code point."""
    tags = frozenset({"zeta", "alpha", "Beta", "é", "a"})
    raw = to_dict(BAG_SPEC.new("b", Bag(tags=tags)))
    assert raw["state"]["tags"] == sorted(tags)


def test_mixed_set_orders_null_numbers_strings_then_the_rest() -> None:
    """Elements of different JSON types sort by type first, then by value (or JSON text)."""
    loose = frozenset({"b", (2, "x"), 3, None, "a", 1.5, (1,), -7})
    state = json.loads(to_json(BAG_SPEC.new("b", Bag(loose=loose))))["state"]
    assert state["loose"] == [None, -7, 1.5, 3, "a", "b", [1], [2, "x"]]


def test_sets_in_state_round_trip_as_sets() -> None:
    """Fields annotated as sets decode back to sets equal to the originals."""
    agent = BAG_SPEC.new(
        "b", Bag(tags=frozenset({"x", "y"}), ids={3, 1, 2}, groups=(frozenset({2, 1}),))
    )
    back = agent_from_json(to_json(agent), BAG_SPEC)
    assert back == agent
    assert isinstance(back.state.tags, frozenset)
    assert isinstance(back.state.ids, set)


def test_decoded_time_is_utc_equivalent() -> None:
    """A Z-suffixed time decodes to an aware datetime equal to the UTC instant."""
    s = signal_from_dict(signal_dict(time="2026-01-01T00:00:00Z"))
    assert s.time == datetime(2026, 1, 1, tzinfo=UTC)


@attrs.frozen
class Mixed:
    """A state with unions of plain types and arrays."""

    either: int | str = 0
    maybe: int | None = None
    names: tuple[str, ...] = ()
    pair: tuple[int, str] = (0, "")


MIXED = jido.AgentSpec(name="mixed", state=Mixed)


@pytest.mark.parametrize(
    "state",
    [Mixed(), Mixed(either="x", maybe=3, names=("a", "b"), pair=(1, "one")), Mixed(either=7)],
)
def test_states_with_unions_and_tuples_round_trip(state: Mixed) -> None:
    """``int | str``, ``int | None``, homogeneous and fixed-length tuples decode exactly."""
    agent = attrs.evolve(MIXED.new("m"), state=state)
    assert agent_from_json(to_json(agent), MIXED) == agent


def test_a_string_where_an_array_belongs_does_not_decode() -> None:
    """Decoding is as strict as params: a string is not an array of its characters."""
    text = to_json(MIXED.new("m")).replace('"names":[]', '"names":"ab"')
    with pytest.raises(DecodeError, match="names"):
        agent_from_json(text, MIXED)


@attrs.frozen
class Blob:
    """A state holding bytes in a field typed ``object``: fine in memory, not JSON (a field
    typed ``bytes`` is refused when the spec is built)."""

    raw: object = b""


@attrs.frozen
class Big:
    """A state holding an integer: any, in memory."""

    n: int = 0


def test_values_json_cannot_write_are_encode_errors() -> None:
    """A state field JSON cannot write, or an integer beyond JSON's 4,300 digits in a state
    (a signal refuses one when it is built), is an ``EncodeError`` naming what was being
    encoded, not a bare TypeError or ValueError."""
    agent = jido.AgentSpec(name="blob", state=Blob).new("b", Blob(b"\x00"))
    with pytest.raises(EncodeError, match="cannot encode Agent"):
        to_json(agent)
    huge = jido.AgentSpec(name="big", state=Big).new("b", Big(10**5000))
    with pytest.raises(EncodeError, match=r"cannot encode Agent.*4300 digits"):
        to_json(huge)


def test_a_custom_directive_with_a_kind_field_is_refused() -> None:
    """A field named ``kind`` would be overwritten by the directive's tag on the wire (and
    decode wrong): the codec refuses the class when it is built, saying why."""

    @attrs.frozen(kw_only=True)
    class Sort(jido.CustomDirective):
        kind: str
        amount: int

    with pytest.raises(ValueError, match="Sort has a field named 'kind'"):
        Codec(directives={"billing.sort": Sort})


@attrs.frozen
class ById:
    """States keyed by integers: JSON writes the keys as strings."""

    names: FrozenMap[int, str] = attrs.field(factory=FrozenMap)
    plain: dict[int, tuple[int, ...]] = attrs.field(factory=dict, hash=False)


def test_integer_keys_round_trip() -> None:
    """An ``int``-keyed map's keys are written as digits and read back as integers (only the
    canonical spelling: ``"01"`` is not ``1``)."""
    spec = jido.AgentSpec(name="by-id", state=ById)
    agent = spec.new("a", ById(FrozenMap({1: "one", -2: "minus two"}), {7: (1, 2)}))
    assert agent_from_json(to_json(agent), spec) == agent
    with pytest.raises(DecodeError, match="names"):
        agent_from_json(to_json(agent).replace('"1":"one"', '"01":"one"'), spec)
