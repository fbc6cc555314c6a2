"""Properties of frozen JSON values: ``freeze``, ``thaw`` and ``FrozenMap``."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from jido import FrozenMap, JsonValue, freeze, thaw
from jido.testing import json_values

# Plain (mutable) JSON data, as json.loads would produce: lists and dicts, never tuples.
plain_json: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


def _is_frozen(v: object) -> bool:
    # Only immutable containers, all the way down.
    if isinstance(v, FrozenMap):
        return all(isinstance(k, str) and _is_frozen(x) for k, x in v.items())
    if isinstance(v, tuple):
        return all(_is_frozen(x) for x in v)
    if isinstance(v, float):
        return math.isfinite(v)
    return v is None or isinstance(v, bool | int | str)


def _is_plain(v: object) -> bool:
    # Only dicts and lists, all the way down: what json.dumps / json.loads speak.
    if isinstance(v, dict):
        return all(isinstance(k, str) and _is_plain(x) for k, x in v.items())
    if isinstance(v, list):
        return all(_is_plain(x) for x in v)
    return v is None or isinstance(v, bool | int | float | str)


@given(json_values())
def test_freeze_of_thaw_is_identity(v: JsonValue) -> None:
    """freeze(thaw(v)) == v for every frozen JSON value."""
    assert freeze(thaw(v)) == v


@given(json_values())
def test_freeze_is_idempotent_on_frozen_values(v: JsonValue) -> None:
    """Freezing an already-frozen value gives an equal, still-frozen value."""
    assert _is_frozen(v)
    again = freeze(v)
    assert again == v
    assert _is_frozen(again)


@given(json_values())
def test_frozen_values_hash_consistently(v: JsonValue) -> None:
    """Frozen values are hashable, and equal values (rebuilt from thawed data) hash equal."""
    rebuilt = freeze(thaw(v))
    assert hash(v) == hash(rebuilt)
    assert {v: 1}[rebuilt] == 1


@given(json_values())
def test_thaw_gives_plain_json_that_dumps_and_loads_back(v: JsonValue) -> None:
    """json.dumps(thaw(v)) works, and loading then freezing the text gives v back."""
    plain = thaw(v)
    assert _is_plain(plain)
    text = json.dumps(plain)
    assert freeze(json.loads(text)) == v


@given(plain_json)
def test_thaw_of_freeze_is_identity_on_plain_data(x: Any) -> None:
    """thaw(freeze(x)) == x for plain JSON data, and freeze(x) is deeply immutable."""
    frozen = freeze(x)
    assert _is_frozen(frozen)
    assert thaw(frozen) == x


@given(st.dictionaries(st.text(max_size=6), json_values(max_leaves=4), max_size=5))
def test_frozen_map_equality_ignores_insertion_order(d: dict[str, JsonValue]) -> None:
    """Two FrozenMaps with the same items in any order are equal and hash equal."""
    forward = FrozenMap(d)
    backward = FrozenMap(dict(reversed(list(d.items()))))
    assert forward == backward
    assert hash(forward) == hash(backward)
    assert forward == d
