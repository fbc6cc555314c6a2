"""Properties of the FSM's check for rows ``decide`` can never take, against brute force.

``_uncovered`` (is there a type one pattern matches and none of others does?) is checked
against the router's matcher over every type of a small alphabet up to a length, and the
rows ``FSM`` refuses against the rows ``decide`` actually takes for one of those types.
"""

from __future__ import annotations

import functools
import itertools
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from property_tests.test_prop_router import LITERALS, patterns

from jido import FSM, Route, Router, Transition
from jido._router import _uncovered, validate_pattern

# The router's properties' patterns: of the literals LITERALS, "*" and "**". A type may
# also hold one segment they never name ("d"): any other segment is like it.
# Patterns have at most 4 segments: a type the patterns tell apart needs no more than a few
# more segments than the longest, so every type up to 7 segments is a complete check here.
ALL_TYPES = [
    ".".join(segs)
    for n in range(1, 8)
    for segs in itertools.product((*LITERALS, "d"), repeat=n)
    if n <= 5 or set(segs) <= {"a", "d"}
]


@functools.cache
def matcher(pattern: str) -> Router[None]:
    return Router([Route(pattern=pattern, target=None)])


def matches(pattern: str, kind: str) -> bool:
    return bool(matcher(pattern).candidates(kind))


@given(patterns(), st.lists(patterns(), max_size=3))
def test_uncovered_agrees_with_brute_force_matching(pattern: str, covers: list[str]) -> None:
    """A type ``_uncovered`` gives is matched by the pattern and by none of the covers; when
    it gives none, no type is (the router's matcher is the judge)."""
    router = Router([Route(pattern=c, target=i) for i, c in enumerate(covers)])
    mine = Router([Route(pattern=pattern, target=None)])
    found = _uncovered(validate_pattern(pattern), [validate_pattern(c) for c in covers])
    if found is not None:
        assert mine.candidates(found)
        assert not router.candidates(found)
    else:
        for kind in ALL_TYPES:
            assert not mine.candidates(kind) or router.candidates(kind), kind


@given(patterns(), patterns())
def test_one_pattern_covering_another_is_exact(wide: str, narrow: str) -> None:
    """``_uncovered(narrow, [wide]) is None`` exactly when every type ``narrow`` matches
    ``wide`` matches too."""
    covered = _uncovered(validate_pattern(narrow), [validate_pattern(wide)]) is None
    brute = all(matches(wide, k) for k in ALL_TYPES if matches(narrow, k))
    assert covered == brute


@given(st.lists(st.tuples(patterns(), st.integers(min_value=0, max_value=2)), max_size=5))
def test_fsm_refuses_exactly_the_rows_decide_never_takes(rows: list[tuple[str, int]]) -> None:
    """Rows of one source: the FSM is built iff for each row some type makes ``decide``
    take it, and otherwise names exactly the rows no type takes."""
    table = [
        Transition(source="s", on=on, target=f"t{i}", priority=p) for i, (on, p) in enumerate(rows)
    ]
    if not table:
        return
    group = Router(
        [Route(pattern=t.on, target=i, priority=t.priority) for i, t in enumerate(table)]
    )
    taken = {found[0].target for k in ALL_TYPES if (found := group.candidates(k))}
    dead = sorted(set(range(len(table))) - taken)
    if not dead:
        FSM("s", table)
        return
    with pytest.raises(ValueError, match=r"^FSM table: ") as info:
        FSM("s", table)
    named = [
        int(n) for n in re.findall(r"row (\d+) \(from 's'[^)]*\) never applies", str(info.value))
    ]
    assert named == dead
