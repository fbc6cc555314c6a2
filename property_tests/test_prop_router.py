"""Properties of ``jido.Router``: the trie agrees with a naive matcher, in a fixed order."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st
from tests.test_router import trie_nodes

from jido import MAX_PRIORITY, MIN_PRIORITY, Route, Router
from jido._router import _walk

# A small alphabet, so that generated patterns and types actually meet.
LITERALS = ("a", "b", "c")


@st.composite
def patterns(draw: st.DrawFn) -> str:
    """A valid pattern: literal, '*' and '**' segments, never '**.**'."""
    segments = draw(st.lists(st.sampled_from((*LITERALS, "*", "**")), min_size=1, max_size=4))
    cleaned: list[str] = []
    for seg in segments:
        if seg == "**" and cleaned and cleaned[-1] == "**":
            continue
        cleaned.append(seg)
    return ".".join(cleaned)


types = st.lists(st.sampled_from((*LITERALS, "d")), min_size=1, max_size=5).map(".".join)
priorities = st.one_of(
    st.integers(min_value=-2, max_value=2),
    st.sampled_from((MIN_PRIORITY, MAX_PRIORITY)),
)
route_specs = st.lists(st.tuples(patterns(), priorities), max_size=12)


@st.composite
def instances(draw: st.DrawFn, pattern: str) -> str:
    """A signal type the pattern matches ('*' becomes one segment, '**' zero to two)."""
    out: list[str] = []
    for seg in pattern.split("."):
        if seg == "*":
            out.append(draw(st.sampled_from(LITERALS)))
        elif seg == "**":
            out.extend(draw(st.lists(st.sampled_from((*LITERALS, "d")), max_size=2)))
        else:
            out.append(seg)
    return ".".join(out) if out else draw(types)


@st.composite
def cases(draw: st.DrawFn) -> tuple[list[tuple[str, int]], str]:
    """Routes and a type: half the time one that some route is built to match."""
    specs = draw(route_specs)
    derived = draw(st.booleans())
    if specs and derived:
        return specs, draw(instances(draw(st.sampled_from(specs))[0]))
    return specs, draw(types)


def naive_match(pattern: list[str], segments: list[str]) -> bool:
    """Reference matcher: a literal matches itself, '*' one segment, '**' zero or more."""
    if not pattern:
        return not segments
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(naive_match(rest, segments[k:]) for k in range(len(segments) + 1))
    if not segments:
        return False
    if head in ("*", segments[0]):
        return naive_match(rest, segments[1:])
    return False


def specificity(pattern: str) -> tuple[int, int, int]:
    """More literal segments, then more '*', then fewer '**' is more specific."""
    segs = pattern.split(".")
    literals = sum(1 for s in segs if s not in ("*", "**"))
    return (literals, segs.count("*"), -segs.count("**"))


def build(specs: list[tuple[str, int]]) -> Router[int]:
    # Each route's target is its registration index.
    return Router(Route(pattern=p, target=i, priority=prio) for i, (p, prio) in enumerate(specs))


def expected(specs: list[tuple[str, int]], signal_type: str) -> list[int]:
    """The indices of matching routes in run order, computed without the trie."""
    segments = signal_type.split(".")
    hits = [i for i, (p, _) in enumerate(specs) if naive_match(p.split("."), segments)]

    def key(i: int) -> tuple[int, int, int, int, int]:
        lit, star, neg_dstar = specificity(specs[i][0])
        return (-specs[i][1], -lit, -star, -neg_dstar, i)

    return sorted(hits, key=key)


@given(cases())
def test_candidates_match_the_naive_matcher(case: tuple[list[tuple[str, int]], str]) -> None:
    """The trie finds exactly the routes the segment-wise reference matcher finds."""
    specs, t = case
    router = build(specs)
    found = {r.target for r in router.candidates(t)}
    segments = t.split(".")
    assert found == {i for i, (p, _) in enumerate(specs) if naive_match(p.split("."), segments)}


@given(cases())
def test_candidates_are_ordered_by_priority_specificity_then_registration(
    case: tuple[list[tuple[str, int]], str],
) -> None:
    """Matches run by priority (desc), then specificity (desc), then registration order."""
    specs, t = case
    router = build(specs)
    assert [r.target for r in router.candidates(t)] == expected(specs, t)


@given(cases())
def test_order_agrees_with_route_specificity(case: tuple[list[tuple[str, int]], str]) -> None:
    """Consecutive candidates never invert (priority, Route.specificity, registration)."""
    specs, t = case
    found = build(specs).candidates(t)
    for r in found:
        assert r.specificity == specificity(r.pattern)
    keys = [(-r.priority, tuple(-x for x in r.specificity), r.target) for r in found]
    assert keys == sorted(keys)


@given(route_specs, st.lists(types, min_size=1, max_size=6))
def test_candidates_are_deterministic(specs: list[tuple[str, int]], queries: list[str]) -> None:
    """Same routes, same answer: asked twice, in another order, or of a fresh router."""
    router = build(specs)
    first = [router.candidates(t) for t in queries]
    again = [router.candidates(t) for t in reversed(queries)][::-1]
    fresh = build(specs)
    from_fresh = [fresh.candidates(t) for t in queries]
    assert first == again == from_fresh
    # Routes are values, and routers with equal routes are equal.
    assert fresh == router


@given(st.lists(patterns(), min_size=1, max_size=8), types)
def test_equal_priorities_and_patterns_keep_registration_order(pats: list[str], t: str) -> None:
    """Two routes with the same pattern and priority run in the order they were given."""
    specs = [(p, 0) for p in pats] + [(p, 0) for p in pats]
    found = [r.target for r in build(specs).candidates(t)]
    n = len(pats)
    for i in range(n):
        if i in found:
            assert i + n in found
            assert found.index(i) < found.index(i + n)


def as_regex(pattern: str) -> re.Pattern[str]:
    """A second reference: the pattern as a regex over ``"." + type`` (each segment of the
    type is a dot and a name; '*' is one of those, '**' any number of them)."""
    parts = {"*": r"\.[^.]+", "**": r"(?:\.[^.]+)*"}
    return re.compile("".join(parts.get(seg, re.escape("." + seg)) for seg in pattern.split(".")))


@st.composite
def long_patterns(draw: st.DrawFn) -> str:
    """Like ``patterns``, longer and with '**' more often (several in one pattern)."""
    segments = draw(st.lists(st.sampled_from((*LITERALS, "*", "**", "**")), min_size=1, max_size=7))
    cleaned = [s for i, s in enumerate(segments) if not (s == "**" and segments[i - 1 : i] == [s])]
    return ".".join(cleaned)


long_types = st.lists(st.sampled_from((*LITERALS, "d")), min_size=1, max_size=40).map(".".join)


@given(st.lists(st.tuples(long_patterns(), priorities), max_size=10), long_types)
def test_candidates_agree_with_patterns_as_regexes_on_long_types(
    specs: list[tuple[str, int]], signal_type: str
) -> None:
    """Longer types and patterns with several '**': the trie finds exactly the routes whose
    pattern, read as a regex, matches, in run order (priority, specificity, registration);
    and its walk goes through at most one state per (trie node, position)."""
    router = build(specs)
    hits = [i for i, (p, _) in enumerate(specs) if as_regex(p).fullmatch("." + signal_type)]

    def key(i: int) -> tuple[int, int, int, int, int]:
        lit, star, neg_dstar = specificity(specs[i][0])
        return (-specs[i][1], -lit, -star, -neg_dstar, i)

    assert [r.target for r in router.candidates(signal_type)] == sorted(hits, key=key)
    segments = signal_type.split(".")
    _, states = _walk(router._root, segments)
    assert states <= trie_nodes(router._root) * (len(segments) + 1)
