"""Example tests of ``jido.Router`` and ``jido.Route``: patterns, guards, priorities, order."""

from __future__ import annotations

import signal as os_signal
from typing import Any

import pytest

from jido import MAX_PRIORITY, MIN_PRIORITY, InvalidPattern, Route, Router, Signal
from jido._router import _MEMO_LIMIT, _Node, _walk


def sig(type: str, data: object = None) -> Signal:
    """A signal of ``type`` from the test."""
    return Signal(type=type, source="/test", id="s1", data=data)


def targets(router: Router[str], type: str) -> list[str]:
    """The targets of the routes matching a signal of ``type``, in run order."""
    return [r.target for r in router.match(sig(type))]


def test_exact_pattern_matches_only_itself() -> None:
    """A literal pattern matches exactly that type: not a prefix, not an extension."""
    r = Router([Route(pattern="order.paid", target="x")])
    assert targets(r, "order.paid") == ["x"]
    assert targets(r, "order") == []
    assert targets(r, "order.paid.late") == []
    assert targets(r, "order.unpaid") == []
    assert targets(r, "Order.paid") == []


def test_star_matches_exactly_one_segment() -> None:
    """``*`` matches one segment, never zero or two."""
    r = Router([Route(pattern="order.*", target="x")])
    assert targets(r, "order.paid") == ["x"]
    assert targets(r, "order.shipped") == ["x"]
    assert targets(r, "order") == []
    assert targets(r, "order.paid.late") == []
    assert targets(r, "invoice.paid") == []


def test_star_in_the_middle() -> None:
    """``a.*.c`` matches any single middle segment."""
    r = Router([Route(pattern="a.*.c", target="x")])
    assert targets(r, "a.b.c") == ["x"]
    assert targets(r, "a.zz.c") == ["x"]
    assert targets(r, "a.c") == []
    assert targets(r, "a.b.b.c") == []


def test_double_star_matches_zero_or_more_segments() -> None:
    """``audit.**`` matches ``audit`` itself and anything below it."""
    r = Router([Route(pattern="audit.**", target="x")])
    assert targets(r, "audit") == ["x"]
    assert targets(r, "audit.login") == ["x"]
    assert targets(r, "audit.login.failed.twice") == ["x"]
    assert targets(r, "auditing") == []
    assert targets(r, "other.audit") == []


def test_double_star_in_the_middle_and_alone() -> None:
    """``a.**.z`` spans any number of middle segments; ``**`` alone matches everything."""
    r = Router([Route(pattern="a.**.z", target="mid")])
    assert targets(r, "a.z") == ["mid"]
    assert targets(r, "a.b.z") == ["mid"]
    assert targets(r, "a.b.c.d.z") == ["mid"]
    assert targets(r, "a.b") == []
    everything = Router([Route(pattern="**", target="all")])
    assert targets(everything, "x") == ["all"]
    assert targets(everything, "x.y.z") == ["all"]


def test_double_star_then_star_needs_at_least_one_segment() -> None:
    """``a.**.*`` needs at least one segment after ``a``."""
    r = Router([Route(pattern="a.**.*", target="x")])
    assert targets(r, "a") == []
    assert targets(r, "a.b") == ["x"]
    assert targets(r, "a.b.c") == ["x"]


def test_every_matching_route_is_returned_once() -> None:
    """All matching routes come back, each once, even when ``**`` could match several ways."""
    r = Router(
        [
            Route(pattern="a.b.c", target="exact"),
            Route(pattern="a.*.c", target="star"),
            Route(pattern="a.**", target="dstar"),
            Route(pattern="**.c", target="tail"),
            Route(pattern="**", target="all"),
            Route(pattern="x.**", target="other"),
        ]
    )
    found = targets(r, "a.b.c")
    assert sorted(found) == ["all", "dstar", "exact", "star", "tail"]
    assert len(found) == len(set(found))


def test_guards_filter_matches() -> None:
    """A route with a guard matches only signals for which the guard is true."""
    r = Router(
        [
            Route(pattern="order.paid", target="big", guard=lambda s: s.data == {"big": True}),
            Route(pattern="order.paid", target="always"),
        ]
    )
    assert [x.target for x in r.match(sig("order.paid", {"big": True}))] == ["big", "always"]
    assert [x.target for x in r.match(sig("order.paid", {"big": False}))] == ["always"]
    # candidates ignores guards
    assert [x.target for x in r.candidates("order.paid")] == ["big", "always"]


@pytest.mark.parametrize("guard", [True, "amount > 100", 0])
def test_a_guard_that_is_not_callable_is_refused_where_the_route_is_built(guard: Any) -> None:
    """``Route(guard=True)`` is a TypeError naming the route and the guard, not a
    "'bool' object is not callable" from the first step that matches it."""
    with pytest.raises(TypeError, match=r"route 'order\.paid': guard .* is not callable"):
        Route(pattern="order.paid", target="x", guard=guard)


def test_priority_orders_before_specificity() -> None:
    """A higher priority runs first even when its pattern is less specific."""
    r = Router(
        [
            Route(pattern="a.b", target="exact"),
            Route(pattern="**", target="urgent", priority=50),
            Route(pattern="a.*", target="low", priority=-5),
        ]
    )
    assert targets(r, "a.b") == ["urgent", "exact", "low"]


def test_specificity_orders_equal_priorities() -> None:
    """At equal priority: more literals first, then more ``*``, then fewer ``**``."""
    r = Router(
        [
            Route(pattern="**", target="dstar-only"),
            Route(pattern="a.**", target="lit-dstar"),
            Route(pattern="*.*", target="two-stars"),
            Route(pattern="a.*", target="lit-star"),
            Route(pattern="a.b", target="exact"),
            Route(pattern="a.**.b", target="lit-dstar-lit"),
        ]
    )
    # literals: exact=2, lit-dstar-lit=2, lit-star=1, lit-dstar=1, two-stars=0, dstar-only=0;
    # then '*' count: exact(0) vs lit-dstar-lit(0) -> fewer '**' wins: exact;
    # lit-star (1 star) before lit-dstar (0 stars); two-stars (2 stars) before dstar-only.
    assert targets(r, "a.b") == [
        "exact",
        "lit-dstar-lit",
        "lit-star",
        "lit-dstar",
        "two-stars",
        "dstar-only",
    ]


def test_registration_order_breaks_remaining_ties() -> None:
    """Routes equal in priority and specificity run in the order given."""
    names = ["first", "second", "third"]
    r = Router([Route(pattern="a.b", target=n) for n in names])
    assert targets(r, "a.b") == names
    reversed_router = Router([Route(pattern="a.b", target=n) for n in reversed(names)])
    assert targets(reversed_router, "a.b") == list(reversed(names))


def test_specificity_property() -> None:
    """``Route.specificity`` counts literals, stars and negated double stars."""
    assert Route(pattern="a.*.**.b", target=0).specificity == (2, 1, -1)
    assert Route(pattern="a.b.c", target=0).specificity == (3, 0, 0)


@pytest.mark.parametrize("priority", [MIN_PRIORITY, -1, 0, 1, MAX_PRIORITY])
def test_priorities_within_bounds_are_accepted(priority: int) -> None:
    """Priorities from -100 to 100 inclusive are accepted."""
    assert Route(pattern="a", target=0, priority=priority).priority == priority


def test_priority_bounds_are_minus_and_plus_one_hundred() -> None:
    """The exported bounds are -100 and 100."""
    assert (MIN_PRIORITY, MAX_PRIORITY) == (-100, 100)


@pytest.mark.parametrize("priority", [101, -101, 1000, True, False, 1.0, "1", None])
def test_bad_priorities_are_rejected(priority: Any) -> None:
    """A priority outside -100..100 or not a plain int (bool included) is rejected."""
    with pytest.raises(ValueError, match="priority"):
        Route(pattern="a", target=0, priority=priority)


@pytest.mark.parametrize(
    "pattern",
    ["", ".", "a.", ".a", "a..b", "a b", "a.b!", "a.**.**", "**.**", "a/b", "ä", "a.*x"],
)
def test_invalid_patterns_raise(pattern: str) -> None:
    """Malformed patterns raise InvalidPattern carrying the pattern."""
    with pytest.raises(InvalidPattern) as info:
        Route(pattern=pattern, target=0)
    assert info.value.pattern == pattern


def test_non_string_pattern_raises() -> None:
    """A pattern that is not a string raises InvalidPattern."""
    bad: Any = 5
    with pytest.raises(InvalidPattern):
        Route(pattern=bad, target=0)


def test_invalid_pattern_is_a_value_error() -> None:
    """InvalidPattern is also a ValueError."""
    with pytest.raises(ValueError, match=r"a\.\.b"):
        Route(pattern="a..b", target=0)


@pytest.mark.parametrize("pattern", ["a", "a-b_c.D9", "*", "**", "a.*.**", "**.a", "*.*.*"])
def test_valid_patterns_are_accepted(pattern: str) -> None:
    """Well-formed patterns, wildcards included, are accepted."""
    assert Route(pattern=pattern, target=0).pattern == pattern


def test_a_thousand_routes_still_answer_correctly() -> None:
    """A router with 1,000 routes returns exactly the matching ones, in order."""
    routes = [Route(pattern=f"svc{i}.event", target=f"t{i}") for i in range(1000)]
    routes.append(Route(pattern="svc500.*", target="star500", priority=1))
    routes.append(Route(pattern="**", target="all", priority=-1))
    r = Router(routes)
    assert len(r) == 1002
    for i in (0, 1, 499, 999):
        expected = [f"t{i}", "all"]
        assert targets(r, f"svc{i}.event") == expected
    assert targets(r, "svc500.event") == ["star500", "t500", "all"]
    assert targets(r, "svc1000.event") == ["all"]
    assert targets(r, "svc5.other") == ["all"]


def test_repeated_lookups_agree() -> None:
    """Asking the same router twice gives the same answer (memoization changes nothing)."""
    r = Router([Route(pattern="a.*", target="x"), Route(pattern="a.b", target="y")])
    first = targets(r, "a.b")
    assert targets(r, "a.b") == first == ["y", "x"]
    # more distinct types than the memo keeps
    for i in range(5000):
        r.candidates(f"a.t{i}")
    assert targets(r, "a.b") == ["y", "x"]


def test_the_memo_stays_within_its_limit() -> None:
    """A router memoizes the routes of each signal type it has seen, up to a limit: a
    process routing ever new types (an id in the type) keeps its memory bounded, and the
    answers stay right after the memo is cleared."""
    r = Router([Route(pattern="a.*", target="x"), Route(pattern="a.b", target="y")])
    for i in range(_MEMO_LIMIT + 10):
        r.candidates(f"a.t{i}")
        assert len(r._memo) <= _MEMO_LIMIT
        assert len(r._unguarded) <= _MEMO_LIMIT
    assert targets(r, "a.b") == ["y", "x"]
    assert targets(r, f"a.t{_MEMO_LIMIT}") == ["x"]


def test_router_equality_and_routes() -> None:
    """Routers with equal route tuples are equal and hash alike; ``routes`` keeps order."""
    rs = [Route(pattern="a", target="x"), Route(pattern="b", target="y")]
    assert Router(rs) == Router(list(rs))
    assert hash(Router(rs)) == hash(Router(list(rs)))
    assert Router(rs).routes == tuple(rs)
    assert Router(rs) != Router(reversed(rs))


def test_empty_router_matches_nothing() -> None:
    """A router without routes returns no match."""
    assert targets(Router([]), "a.b") == []


def test_many_double_stars_match_in_polynomial_time() -> None:
    """A pattern with several ``**`` against a long type that almost matches: each (trie
    node, position) is walked once, so this takes milliseconds. (Walked naively it takes
    longer than the age of the universe; the alarm turns such a hang into a failure.)"""
    pattern = ".".join(["**", "a"] * 8) + ".b"
    router = Router([Route(pattern=pattern, target="x")])

    def too_slow(signum: int, frame: object) -> None:
        raise TimeoutError("matching did not finish in 30 s")

    previous = os_signal.signal(os_signal.SIGALRM, too_slow)
    os_signal.alarm(30)
    try:
        assert router.candidates(".".join(["a"] * 60) + ".c") == ()
        (hit,) = router.candidates(".".join(["a"] * 60) + ".b")
        assert hit.pattern == pattern
    finally:
        os_signal.alarm(0)
        os_signal.signal(os_signal.SIGALRM, previous)


def trie_nodes(node: _Node[Any]) -> int:
    """How many nodes the trie below (and with) ``node`` has."""
    count, todo = 0, [node]
    while todo:
        n = todo.pop()
        count += 1
        todo.extend(n.children.values())
        todo.extend(c for c in (n.star, n.dstar) if c is not None)
    return count


def test_a_very_long_type_is_matched_in_work_linear_in_its_length() -> None:
    """A type of 20,000 segments (a webhook's, say) against patterns with several ``**``:
    the right routes in the right order, no recursion limit hit, and the walk goes through
    at most one state per (trie node, position): linear work, where looping over every
    remaining position at each '**' was quadratic (seconds for such a type)."""
    router = Router(
        [
            Route(pattern="**", target="all"),
            Route(pattern="**.error.**", target="error"),
            Route(pattern="a.**.b.**.c", target="abc"),
            Route(pattern="a.*", target="a-one"),
            Route(pattern="**.error.*.missing", target="missing"),
            Route(pattern="*.**.d", target="ends-d"),
        ]
    )
    segments = ["a", *(["b", "error", "c"] * 6666), "c"]
    assert len(segments) == 20_000
    assert [r.target for r in router.candidates(".".join(segments))] == ["abc", "error", "all"]
    # One literal each: the '*' makes "*.**.d" the more specific.
    longer = ".".join([*segments, "d"])
    assert [r.target for r in router.candidates(longer)] == ["ends-d", "error", "all"]
    ends, states = _walk(router._root, segments)
    assert {r.target for node in ends for _, r in node.entries} == {"abc", "error", "all"}
    assert states <= trie_nodes(router._root) * (len(segments) + 1)
