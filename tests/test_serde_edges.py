"""serde at its edges: only EncodeError and DecodeError escape it, and CloudEvents input that
the format allows (null attributes, ``dataschema``, any mapping of extensions) is read."""

from __future__ import annotations

from types import MappingProxyType
from typing import Generic, TypeVar

import attrs
import pytest

from jido import AgentSpec, FrozenMap, Signal
from jido.serde import (
    DecodeError,
    EncodeError,
    agent_from_json,
    signal_from_dict,
    signal_from_json,
    to_json,
)

T = TypeVar("T")


@attrs.frozen
class Address:
    """A nested value."""

    city: str = ""


@attrs.frozen
class Home:
    """A state."""

    address: Address | None = None


@attrs.frozen
class Box(Generic[T]):
    """A generic state class, which cattrs cannot decode without its argument."""

    item: T | None = None


def test_a_state_holding_the_wrong_type_is_an_encode_error() -> None:
    """A state built by hand with a value its field's type does not describe is an
    EncodeError, not an AttributeError."""
    spec = AgentSpec(name="home", state=Home)
    agent = spec.new("a", Home(address=FrozenMap({"city": "x"})))  # type: ignore[arg-type]
    with pytest.raises(EncodeError, match="Agent"):
        to_json(agent)


def test_a_state_cattrs_cannot_decode_is_a_decode_error() -> None:
    """A state class cattrs has no hook for is a DecodeError when decoded."""
    spec = AgentSpec(name="box", state=Box)
    text = to_json(spec.new("a", Box(item=3)))
    with pytest.raises(DecodeError, match="agent state"):
        agent_from_json(text, spec)


_EVENT = {"specversion": "1.0", "id": "1", "source": "/x", "type": "a.b"}


def test_null_attributes_are_absent() -> None:
    """CloudEvents JSON: an attribute whose value is null is treated as absent."""
    raw = {**_EVENT, "subject": None, "time": None, "traceparent": None, "datacontenttype": None}
    assert signal_from_dict(raw) == Signal(type="a.b", source="/x", id="1")


def test_dataschema_is_read() -> None:
    """An event with the optional ``dataschema`` attribute decodes; a Signal has no field for
    it, so it is not kept, but it must be a non-empty string."""
    raw = {**_EVENT, "dataschema": "https://example.com/s.json", "data": {"k": 1}}
    assert signal_from_dict(raw) == Signal(type="a.b", source="/x", id="1", data={"k": 1})
    with pytest.raises(DecodeError, match="dataschema"):
        signal_from_dict({**_EVENT, "dataschema": 5})


def test_any_mapping_of_extensions_is_taken() -> None:
    """``extensions`` is annotated as a Mapping, and any mapping is accepted."""
    s = Signal(type="a", source="/x", id="1", extensions=MappingProxyType({"traceparent": "t"}))
    assert s.extensions == {"traceparent": "t"}
    assert isinstance(s.extensions, FrozenMap)


_MINIMAL = '{"specversion":"1.0","id":"e1","source":"/s","type":"a.b"'


@pytest.mark.parametrize(
    ("time", "expected"),
    [
        ("2024-01-01t00:00:00z", "2024-01-01T00:00:00+00:00"),  # RFC 3339 allows lower case
        ("2024-01-01T00:00:00.5+05:30", "2024-01-01T00:00:00.500000+05:30"),
    ],
)
def test_rfc3339_times_are_read(time: str, expected: str) -> None:
    """Every RFC 3339 ``date-time`` decodes, whatever the case of its ``T`` and ``Z``."""
    s = signal_from_json(f'{_MINIMAL},"time":"{time}"}}')
    assert s.time is not None
    assert s.time.isoformat() == expected


@pytest.mark.parametrize(
    "time",
    [
        "20240101T000000Z",  # ISO 8601 basic format
        "2024-W01-1T00:00:00Z",  # a week date
        "2024-01-01T00:00Z",  # no seconds
        "2024-01-01T00:00:00+0100",  # offset without a colon
        "2024-01-01T00:00:00+01:00:30",  # offset with seconds
        "2024-01-01T00:00:00",  # no offset
        "2024-01-01 00:00:00Z",  # a space for the T
        "٢٠٢٤-01-01T00:00:00Z",  # digits of another script
    ],
)
def test_times_rfc3339_does_not_allow_are_refused(time: str) -> None:
    """ISO 8601 forms outside RFC 3339 are a DecodeError naming the time, not read."""
    with pytest.raises(DecodeError, match="RFC 3339"):
        signal_from_json(f'{_MINIMAL},"time":"{time}"}}')


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (b'{"id":"\xff"}', "UnicodeDecodeError"),  # not UTF-8
        ("[" * 5000 + "]" * 5000, "RecursionError"),  # nested past the parser's depth
        (f'{_MINIMAL},"data":{"9" * 5000}}}', "ValueError"),  # an integer too long to read
        (f'{_MINIMAL},"data":"x\\udc80y"}}', "lone surrogate"),
        (f'{_MINIMAL},"subject":"\\uD800"}}', "lone surrogate"),
        (f'{_MINIMAL},"data":{{"k\\ud800":1}}}}', "lone surrogate"),
        (f'{_MINIMAL},"data":"x\udc80y"}}', "lone surrogate"),  # raw, in a str
        (_MINIMAL.encode() + b',"data":"x\xed\xa0\x80"}', "lone surrogate"),  # raw bytes
    ],
)
def test_text_no_signal_can_come_from_is_a_decode_error(text: str | bytes, says: str) -> None:
    """Input the JSON parser refuses in its own ways (bytes that are not UTF-8, nesting
    deeper than it goes, an integer too long), and strings no UTF-8 can hold (a lone
    surrogate, which JSON's escapes can spell), are DecodeErrors saying so."""
    with pytest.raises(DecodeError, match=says):
        signal_from_json(text)


def test_a_surrogate_pair_is_one_character() -> None:
    """An escaped surrogate pair is the character it spells, not a lone surrogate."""
    assert signal_from_json(f'{_MINIMAL},"data":"\\ud83d\\ude00"}}').data == "\U0001f600"
