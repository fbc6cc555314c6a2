"""serde at its edges: only EncodeError and DecodeError escape it, and CloudEvents input that
the format allows (null attributes, ``dataschema``, any mapping of extensions) is read."""

from __future__ import annotations

from types import MappingProxyType
from typing import Generic, TypeVar

import attrs
import pytest

from jido import AgentSpec, FrozenMap, Signal
from jido.serde import DecodeError, EncodeError, agent_from_json, signal_from_dict, to_json

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
