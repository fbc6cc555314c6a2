"""Example tests of ``jido.Signal``: construction, immutability, value semantics, validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import attrs
import pytest

import jido
from jido import FrozenMap, InvalidSignal, Signal
from jido._signal import _VALID_TYPE_MEMO_LENGTH, _VALID_TYPES, _VALID_TYPES_LIMIT
from jido.serde import signal_from_json, to_json

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def make(**overrides: Any) -> Signal:
    """A valid signal, with ``overrides`` applied to the constructor arguments."""
    kwargs: dict[str, Any] = {"type": "order.paid", "source": "/billing", "id": "evt-1"}
    kwargs.update(overrides)
    return Signal(**kwargs)


def test_valid_signal_keeps_every_field() -> None:
    """A well-formed signal stores each CloudEvents attribute as given."""
    s = Signal(
        type="order.payment.captured",
        source="/billing",
        id="evt-1",
        time=T0,
        subject="order-7",
        data={"amount": 10},
        datacontenttype="application/json",
        extensions={"traceparent": "00-abc-def-01", "attempt": 2, "retry": True},
    )
    assert s.type == "order.payment.captured"
    assert s.source == "/billing"
    assert s.id == "evt-1"
    assert s.time == T0
    assert s.subject == "order-7"
    assert s.data == {"amount": 10}
    assert s.extensions == {"traceparent": "00-abc-def-01", "attempt": 2, "retry": True}
    assert not s.is_draft


def test_defaults_of_optional_fields() -> None:
    """Omitted optional fields default to None, JSON content type and no extensions."""
    s = make()
    assert s.time is None
    assert s.subject is None
    assert s.data is None
    assert s.datacontenttype == "application/json"
    assert len(s.extensions) == 0


def test_time_with_any_offset_is_accepted() -> None:
    """A timezone-aware time with a non-UTC offset is valid."""
    t = datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=-5)))
    assert make(time=t).time == t


def test_signal_is_frozen() -> None:
    """Assigning to any field of a signal raises."""
    s = make()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        s.type = "other"  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        s.data = 1  # type: ignore[misc]
    assert s.type == "order.paid"


def test_equal_by_value_and_hashable() -> None:
    """Two signals built from equal values are equal, hash equally and dedupe in a set."""
    a = make(data={"items": [1, 2, {"x": [3]}]}, extensions={"traceparent": "t"})
    b = make(data={"items": [1, 2, {"x": [3]}]}, extensions={"traceparent": "t"})
    assert a == b
    assert hash(a) == hash(b)
    assert len({a, b}) == 1
    assert a != make(data={"items": [1, 2]})
    assert a != make(
        id="evt-2", data={"items": [1, 2, {"x": [3]}]}, extensions={"traceparent": "t"}
    )


def test_data_is_frozen_into_frozenmaps_and_tuples() -> None:
    """Dict data becomes a FrozenMap and lists become tuples, recursively."""
    s = make(data={"items": [1, {"k": [2, 3]}], "name": "x"})
    assert isinstance(s.data, FrozenMap)
    items = s.data["items"]
    assert isinstance(items, tuple)
    assert items[0] == 1
    inner = items[1]
    assert isinstance(inner, FrozenMap)
    assert inner["k"] == (2, 3)
    assert make(data=[1, [2]]).data == (1, (2,))


def test_data_given_as_a_dict_is_not_aliased() -> None:
    """Mutating the dict passed as data afterwards does not change the signal."""
    raw: dict[str, Any] = {"a": [1]}
    s = make(data=raw)
    raw["a"].append(2)
    raw["b"] = 3
    assert s.data == {"a": (1,)}


@pytest.mark.parametrize("bad_type", ["", "a..b", "a.", ".a", "a b", "a.*", "a.**", "ä"])
def test_bad_type_is_rejected(bad_type: str) -> None:
    """A type that is empty or has a bad segment raises InvalidSignal naming ``type``."""
    with pytest.raises(InvalidSignal) as info:
        make(type=bad_type)
    assert info.value.field == "type"
    assert info.value.value == bad_type


def test_non_string_type_is_rejected() -> None:
    """A type that is not a string raises InvalidSignal naming ``type``."""
    with pytest.raises(InvalidSignal) as info:
        make(type=3)
    assert info.value.field == "type"


def test_invalid_signal_is_a_value_error_and_a_jido_error() -> None:
    """InvalidSignal inherits both the library root and ValueError."""
    with pytest.raises(ValueError, match="type"):
        make(type="")
    with pytest.raises(jido.JidoError):
        make(type="")


@pytest.mark.parametrize(("field", "value"), [("source", ""), ("id", ""), ("subject", "")])
def test_empty_strings_are_rejected(field: str, value: str) -> None:
    """An empty source, id or subject raises InvalidSignal naming that field."""
    with pytest.raises(InvalidSignal) as info:
        make(**{field: value})
    assert info.value.field == field


def test_empty_datacontenttype_is_rejected() -> None:
    """An empty datacontenttype raises InvalidSignal naming it."""
    with pytest.raises(InvalidSignal) as info:
        make(datacontenttype="")
    assert info.value.field == "datacontenttype"


class _Opaque:
    """An object that is not JSON."""


@pytest.mark.parametrize(
    "bad_data",
    [
        {1, 2},
        _Opaque(),
        float("nan"),
        float("inf"),
        {1: "non-string key"},
        {"nested": [1, {2}]},
        {"deep": {"x": float("nan")}},
        b"bytes",
    ],
)
def test_non_json_data_is_rejected(bad_data: object) -> None:
    """Data that is not a JSON value raises InvalidSignal naming ``data``."""
    with pytest.raises(InvalidSignal) as info:
        make(data=bad_data)
    assert info.value.field == "data"


def test_bad_data_message_names_the_path() -> None:
    """The data error names the JSON path of the first bad part."""
    with pytest.raises(InvalidSignal, match=r"\$\.items\[1\]"):
        make(data={"items": [1, {3}]})


def test_naive_time_is_rejected() -> None:
    """A naive datetime raises InvalidSignal naming ``time``."""
    with pytest.raises(InvalidSignal) as info:
        make(time=datetime(2026, 1, 1))
    assert info.value.field == "time"


def test_non_datetime_time_is_rejected() -> None:
    """A time that is a string, not a datetime, raises InvalidSignal naming ``time``."""
    with pytest.raises(InvalidSignal) as info:
        make(time="2026-01-01T00:00:00Z")
    assert info.value.field == "time"


@pytest.mark.parametrize(
    "extensions",
    [
        {"Trace": "x"},  # upper case
        {"trace-id": "x"},  # punctuation
        {"": "x"},  # empty
        {"id": "x"},  # a core attribute
        {"data": "x"},  # a core attribute
        {"specversion": "1.0"},  # a core attribute
        {1: "x"},  # not a string
    ],
)
def test_bad_extension_names_are_rejected(extensions: dict[Any, Any]) -> None:
    """Extension names must be lower-case letters or digits and not core attributes."""
    with pytest.raises(InvalidSignal) as info:
        make(extensions=extensions)
    assert info.value.field == "extensions"


@pytest.mark.parametrize("value", [1.5, None, ["x"], {"a": 1}, 2**31, -(2**31) - 1])
def test_bad_extension_values_are_rejected(value: object) -> None:
    """Extension values must be strings, 32-bit integers or booleans."""
    with pytest.raises(InvalidSignal) as info:
        make(extensions={"ext": value})
    assert info.value.field == "extensions"


def test_extensions_that_are_not_a_mapping_are_rejected() -> None:
    """Extensions given as a list raise InvalidSignal naming ``extensions``."""
    with pytest.raises(InvalidSignal) as info:
        make(extensions=[("a", "b")])
    assert info.value.field == "extensions"


def test_extension_integers_span_cloudevents_32_bits() -> None:
    """The smallest and largest 32-bit integers are accepted as extension values."""
    ext = {"lo": -(2**31), "hi": 2**31 - 1}
    assert make(extensions=ext).extensions == ext


def test_a_long_extension_name_is_accepted() -> None:
    """CloudEvents' 20 characters are a recommendation: a longer name (as other producers
    send) is accepted."""
    name = "averyveryverylongextensionname"
    assert make(extensions={name: "v"}).extensions[name] == "v"


@pytest.mark.parametrize("ctype", ["text/csv", "application/octet-stream", "text/plain"])
@pytest.mark.parametrize("data", [["a", 1], {"a": 1}, 5, True])
def test_data_that_is_not_a_string_needs_a_json_content_type(ctype: str, data: object) -> None:
    """CloudEvents writes data of a non-JSON media type as a JSON string: other data with
    such a type raises InvalidSignal naming ``data`` and the type."""
    with pytest.raises(InvalidSignal, match=ctype) as info:
        make(datacontenttype=ctype, data=data)
    assert info.value.field == "data"


@pytest.mark.parametrize(
    "ctype",
    ["application/json", "text/json", "application/ld+json", "Application/JSON; charset=utf-8"],
)
def test_json_content_types_take_any_data(ctype: str) -> None:
    """JSON media types (``+json`` suffixes and parameters included) take any JSON data;
    any media type takes a string or no data."""
    assert make(datacontenttype=ctype, data=["a", 1]).data == ("a", 1)
    assert make(datacontenttype="text/csv", data="a,1").data == "a,1"
    assert make(datacontenttype="text/csv", data=None).data is None


def test_draft_is_a_draft_until_stamped() -> None:
    """``Signal.draft`` builds a signal with the draft id and source, marked ``is_draft``."""
    d = Signal.draft("counter.incremented", {"count": [1]})
    assert d.is_draft
    assert d.type == "counter.incremented"
    assert d.data == {"count": (1,)}
    assert d.time is None
    assert d.id == d.source
    assert not make().is_draft


def test_draft_with_subject_and_extensions() -> None:
    """A draft may carry a subject and extensions and is still a draft."""
    d = Signal.draft("a.b", subject="s", extensions={"traceparent": "t"})
    assert d.is_draft
    assert d.subject == "s"
    assert d.extensions == {"traceparent": "t"}


def test_drafts_equal_by_value() -> None:
    """Two drafts built alike are equal and hash alike, on both construction paths."""
    assert Signal.draft("a.b", [1]) == Signal.draft("a.b", [1])
    assert hash(Signal.draft("a.b", [1])) == hash(Signal.draft("a.b", [1]))
    assert Signal.draft("a.b", subject="s") == Signal.draft("a.b", subject="s")


@pytest.mark.parametrize("bad_type", ["", "a..b", "a.*"])
def test_draft_validates_type(bad_type: str) -> None:
    """``Signal.draft`` rejects a bad type with InvalidSignal naming ``type``."""
    with pytest.raises(InvalidSignal) as info:
        Signal.draft(bad_type)
    assert info.value.field == "type"


def test_draft_validates_data() -> None:
    """``Signal.draft`` rejects non-JSON data with InvalidSignal naming ``data``."""
    with pytest.raises(InvalidSignal) as info:
        Signal.draft("a.b", {1, 2})
    assert info.value.field == "data"


def test_causation_and_correlation_properties() -> None:
    """The causation/correlation properties read the matching extensions, else None."""
    s = make(extensions={"causationid": "c1", "correlationid": "r1"})
    assert s.causation_id == "c1"
    assert s.correlation_id == "r1"
    assert make().causation_id is None
    assert make().correlation_id is None


def test_derive_id_depends_on_every_input() -> None:
    """``derive_id`` is stable and changes when any of its inputs changes."""
    base = jido.derive_id("s1", "a1", 0)
    assert base == jido.derive_id("s1", "a1", 0)
    others = {
        jido.derive_id("s2", "a1", 0),
        jido.derive_id("s1", "a2", 0),
        jido.derive_id("s1", "a1", 1),
        jido.derive_id("s1", "a1", 0, salt="x"),
    }
    assert base not in others
    assert len(others) == 4
    assert len(base) == 32
    int(base, 16)  # hex digits, or this raises


def test_data_that_contains_itself_is_invalid_data() -> None:
    """A list or dict that contains itself is not JSON: ``InvalidSignal`` naming ``data``
    (not a RecursionError), for signals from outside and drafts from actions alike."""
    loop: list[object] = [1]
    loop.append(loop)
    nest: dict[str, object] = {}
    nest["self"] = nest
    for data in (loop, {"k": loop}, nest):
        with pytest.raises(InvalidSignal) as info:
            Signal(type="a.b", source="/t", id="1", data=data)
        assert info.value.field == "data"
        assert "contains itself" in str(info.value)
        with pytest.raises(InvalidSignal) as drafted:
            Signal.draft("a.b", data)
        assert drafted.value.field == "data"
    with pytest.raises(TypeError, match="contains itself"):
        jido.freeze(loop)


def _nested(depth: int) -> list[object]:
    value: list[object] = []
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.parametrize("frames", [0, 600])
def test_data_may_nest_256_deep_wherever_the_signal_is_made(frames: int) -> None:
    """A fixed bound, not the caller's stack: data 980 deep was accepted at the top of a
    shallow stack, journalled, and then no replay could decode it (every restore failed).
    Its refusal names the bound, and shows neither the data nor its path in full."""

    def make(data: object, left: int) -> Signal:
        return (
            Signal(type="a.b", source="/t", id="1", data=data) if not left else make(data, left - 1)
        )

    signal = make(_nested(256), frames)
    assert signal_from_json(to_json(signal)) == signal
    for depth in (257, 980, 5000):
        with pytest.raises(InvalidSignal) as info:
            make(_nested(depth), frames)
        message = str(info.value)
        assert message.endswith("nested more than 256 deep (or it contains itself)")
        assert len(message) < 400


def test_derived_ids_do_not_collide_when_ids_contain_the_separator() -> None:
    """``derive_id`` joins its parts with U+001F; parts that contain it are length-prefixed,
    so moving the separator between parts gives a different id."""
    assert jido.derive_id("s\x1fa", "b", 0) != jido.derive_id("s", "a\x1fb", 0)
    assert jido.derive_id("s", "a\x1fb", 0) != jido.derive_id("s", "a", 0, salt="b")
    assert jido.derive_id("s\x1fa", "b", 0) == jido.derive_id("s\x1fa", "b", 0)
    assert jido.derive_id("s", "a", 0) == jido.derive_id("s", "a", 0)


@pytest.mark.parametrize(
    ("parent", "agent", "salt"),
    [("s\x1fa", "b", ""), ("s", "a\x1fb", ""), ("s", "a", "x\x1fy")],
    ids=["in-parent", "in-agent", "in-salt"],
)
def test_derived_ids_keep_their_position_when_a_part_contains_the_separator(
    parent: str, agent: str, salt: str
) -> None:
    """The length-prefixed form, used when a part contains U+001F, still depends on the
    position: the signals one handling produces from such an id get distinct ids."""
    ids = {jido.derive_id(parent, agent, position, salt) for position in range(3)}
    assert len(ids) == 3


def test_a_long_type_is_checked_every_time_and_not_kept() -> None:
    """Types already checked are remembered only when short: a long one (100 KB, from a
    webhook say) is checked each time it comes, valid or not, and never held in memory."""
    long_type = ".".join(f"s{i}" for i in range(20_000))
    assert len(long_type) > 100_000 > _VALID_TYPE_MEMO_LENGTH
    for _ in range(2):
        assert Signal(type=long_type, source="/test", id="s1").type == long_type
        assert Signal.draft(long_type).type == long_type
    assert long_type not in _VALID_TYPES
    bad = long_type + ".."
    for _ in range(2):
        with pytest.raises(InvalidSignal):
            Signal(type=bad, source="/test", id="s1")
        with pytest.raises(InvalidSignal):
            Signal.draft(bad)
    assert bad not in _VALID_TYPES
    # Right at the bound, a type is still remembered (while the memo has room).
    edge = "e" * _VALID_TYPE_MEMO_LENGTH
    Signal.draft(edge)
    assert edge in _VALID_TYPES or len(_VALID_TYPES) >= _VALID_TYPES_LIMIT
