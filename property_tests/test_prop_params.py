"""Params validation: the fast path agrees with the detailed one on every input."""

from __future__ import annotations

from typing import Any

import attrs
from hypothesis import given
from hypothesis import strategies as st

from jido._convert import _structure_detailed, structure_params


@attrs.frozen
class Inner:
    n: int


@attrs.frozen
class Params:
    count: int
    name: str = "x"
    ratio: float = 1.0
    flag: bool = False
    maybe: int | None = None
    inner: Inner | None = None
    tags: tuple[str, ...] = ()


_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=6,
)
_keys = st.sampled_from(["count", "name", "ratio", "flag", "maybe", "inner", "tags", "other"])
_data = st.dictionaries(_keys, _values | st.fixed_dictionaries({"n": _values}), max_size=8)


@given(_data, st.booleans())
def test_fast_and_detailed_validation_agree(data: dict[str, Any], forbid: bool) -> None:
    fast = structure_params(data, Params, forbid_extra=forbid)
    detailed = _structure_detailed(data, Params, forbid_extra=forbid)
    assert fast == detailed
