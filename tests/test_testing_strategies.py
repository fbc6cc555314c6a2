"""``jido.testing`` draws what it promises: agents JSON can hold, and signal types as given."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from hypothesis import given, settings

from jido import AgentSpec
from jido.serde import agent_from_json, to_json
from jido.testing import agents, signals


@attrs.frozen
class Required:
    """A state whose container fields have no defaults, so they are drawn."""

    weights: dict[str, float]
    levels: frozenset[float]
    sets: set[int]
    anything: dict[str, Any]


REQUIRED = AgentSpec(name="required", state=Required)


@settings(max_examples=200)
@given(agents(REQUIRED))
def test_drawn_containers_hold_only_what_json_can(agent: Any) -> None:
    """Floats inside dicts and sets are finite, and ``Any`` values are JSON: every drawn
    agent round-trips."""
    assert agent_from_json(to_json(agent), REQUIRED) == agent


@given(signals(types="ping"))
def test_one_type_as_a_string_is_that_type(signal: Any) -> None:
    """``types="ping"`` draws signals of the type ``ping``, not of its characters."""
    assert signal.type == "ping"


def test_a_bad_type_as_a_string_is_refused_whole() -> None:
    """An invalid type given as a string is named whole in the error."""
    with pytest.raises(ValueError, match=r"\['a\.\.b'\]"):
        signals(types="a..b")
