"""FrozenMap: a read-only dict that hashes, pickles and dumps to JSON as one."""

from __future__ import annotations

import copy
import json
import pickle
from collections.abc import Callable
from typing import Any

import pytest

from jido import FrozenMap, freeze


def test_reads_like_a_dict() -> None:
    m = freeze({"a": 1, "b": [2, 3]})
    assert isinstance(m, FrozenMap)
    assert m["a"] == 1
    assert m.get("b") == (2, 3)
    assert m.get("zz", 9) == 9
    assert list(m) == ["a", "b"]
    assert len(m) == 2
    assert "a" in m
    assert m == {"b": (2, 3), "a": 1}  # equality ignores order, as dict's does
    assert repr(FrozenMap({"a": 1})) == "FrozenMap({'a': 1})"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda m: m.__setitem__("a", 2),
        lambda m: m.__delitem__("a"),
        lambda m: m.update({"a": 2}),
        lambda m: m.pop("a"),
        lambda m: m.popitem(),
        lambda m: m.setdefault("c", 3),
        lambda m: m.clear(),
        lambda m: m.__ior__({"a": 2}),
    ],
)
def test_every_mutation_is_refused(mutate: Callable[[FrozenMap[str, Any]], object]) -> None:
    m = FrozenMap({"a": 1})
    with pytest.raises(TypeError, match="immutable"):
        mutate(m)
    assert m == {"a": 1}


def test_set_and_delete_return_changed_copies() -> None:
    m = FrozenMap({"a": 1})
    assert m.set("b", 2) == {"a": 1, "b": 2}
    assert type(m.set("b", 2)) is FrozenMap
    assert m.delete("a") == {}
    assert m.delete("zz") == m
    assert m == {"a": 1}


def test_hash_is_by_value_and_stable() -> None:
    a, b = freeze({"x": [1, {"y": 2}]}), freeze({"x": [1, {"y": 2}]})
    assert a is not b
    assert hash(a) == hash(b)
    assert hash(a) == hash(a)
    assert {a: "v"}[b] == "v"
    assert hash(FrozenMap({"x": 1})) != hash(FrozenMap({"x": 2}))


@pytest.mark.parametrize(
    "clone",
    [
        lambda m: pickle.loads(pickle.dumps(m)),
        copy.copy,
        copy.deepcopy,
    ],
)
def test_copies_and_pickles_are_frozen_maps(clone: Callable[[Any], Any]) -> None:
    m = freeze({"a": [1, {"b": None}]})
    back = clone(m)
    assert back == m
    assert type(back) is FrozenMap
    assert type(back["a"][1]) is FrozenMap


def test_dumps_to_json_without_thawing() -> None:
    m = freeze({"a": [1, {"b": True}], "c": "s"})
    assert json.loads(json.dumps(m)) == {"a": [1, {"b": True}], "c": "s"}
