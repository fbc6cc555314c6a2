"""Routing: from a signal type to the targets that handle it.

Patterns are dot-separated like signal types. A segment is a literal (``order``), ``*`` (exactly
one segment) or ``**`` (zero or more segments). Matching walks a trie of segments, so its cost
grows with the length of the type, not with the number of routes.

Every matching route runs. Their order is deterministic: higher ``priority`` first (an explicit
number means what it says), then the more specific pattern (more literal segments, then more
``*``, then fewer ``**``), then the order the routes were given.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Final, Generic, TypeVar, final

import attrs

from ._errors import InvalidPattern
from ._items import items
from ._json import FrozenMap, JsonValue, freeze_map
from ._signal import Signal

__all__ = ["MAX_PRIORITY", "MIN_PRIORITY", "Route", "Router", "validate_pattern"]

T = TypeVar("T")

MIN_PRIORITY: Final = -100
MAX_PRIORITY: Final = 100

_SEGMENT_RE: Final = re.compile(r"[A-Za-z0-9_\-]+")
# Distinct signal types whose candidate lists a router remembers; past this the memo is
# cleared, so a stream of ever-new types cannot grow memory without bound.
_MEMO_LIMIT: Final = 4096


def validate_pattern(pattern: object) -> tuple[str, ...]:
    """Split ``pattern`` into segments, checking it.

    Raises:
        InvalidPattern: empty, an empty segment, a bad character, or ``**.**``.

    >>> validate_pattern("audit.**")
    ('audit', '**')
    """
    if not isinstance(pattern, str) or not pattern:
        raise InvalidPattern(str(pattern), "must be a non-empty string")
    segments = tuple(pattern.split("."))
    for i, seg in enumerate(segments):
        if seg in ("*", "**"):
            if seg == "**" and i > 0 and segments[i - 1] == "**":
                raise InvalidPattern(pattern, "'**' may not follow '**'")
            continue
        if not seg:
            raise InvalidPattern(pattern, "empty segment (leading, trailing or double dot)")
        if _SEGMENT_RE.fullmatch(seg) is None:
            raise InvalidPattern(
                pattern, f"segment {seg!r} may hold only letters, digits, '_', '-', or be * / **"
            )
    return segments


def _check_priority(priority: object) -> int:
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise ValueError(f"priority {priority!r} is not an integer")
    if not MIN_PRIORITY <= priority <= MAX_PRIORITY:
        raise ValueError(f"priority {priority!r} is outside {MIN_PRIORITY}..{MAX_PRIORITY}")
    return priority


def _opt_params(value: object) -> FrozenMap[str, JsonValue] | None:
    return None if value is None else freeze_map(value)


@final
@attrs.frozen(kw_only=True)
class Route(Generic[T]):
    """One entry of a routing table.

    Attributes:
        pattern: what signal types it matches (see the module docs).
        target: what handles the match (an action, for agent routes).
        priority: -100..100, higher runs first; 0 by default.
        guard: an optional predicate on the signal; the route matches only if it is true.
            It must be callable (anything else is a ``TypeError`` here). A guard that raises
            is a bug in it, as an action raising is: ``step`` lets the exception out.
        params: fixed parameters for the target; ``None`` means "the signal's data".
    """

    pattern: str = attrs.field()
    target: T
    priority: int = attrs.field(default=0, converter=_check_priority)
    guard: Callable[[Signal], bool] | None = attrs.field(default=None, eq=False)
    params: FrozenMap[str, JsonValue] | None = attrs.field(default=None, converter=_opt_params)

    @pattern.validator
    def _check_pattern(self, _: object, value: object) -> None:
        validate_pattern(value)

    @guard.validator
    def _check_guard(self, _: object, value: object) -> None:
        # Refused here, where it is written: otherwise the first matching signal's step
        # would raise "'bool' object is not callable", far from the mistake.
        if value is not None and not callable(value):
            raise TypeError(
                f"route {self.pattern!r}: guard {value!r:.60} is not callable (a guard is a"
                " predicate on the signal)"
            )

    @property
    def specificity(self) -> tuple[int, int, int]:
        """``(literal segments, '*' segments, -'**' segments)``: larger is more specific."""
        segs = self.pattern.split(".")
        return (
            sum(1 for s in segs if s not in ("*", "**")),
            segs.count("*"),
            -segs.count("**"),
        )


class _Node(Generic[T]):
    # Mutable only while the router is being built; never after.
    __slots__ = ("children", "dstar", "entries", "loops", "star")

    def __init__(self, *, loops: bool = False) -> None:
        self.children: dict[str, _Node[T]] = {}
        self.star: _Node[T] | None = None
        self.dstar: _Node[T] | None = None
        # Whether this node is reached by a '**': there one more segment keeps it where it is.
        self.loops = loops
        self.entries: list[tuple[tuple[int, int, int, int, int], Route[T]]] = []


@final
class Router(Generic[T]):
    """An immutable routing table over a trie of pattern segments.

    >>> r = Router([Route(pattern="order.*", target="a"), Route(pattern="order.**", target="b")])
    >>> [x.target for x in r.candidates("order.paid")]
    ['a', 'b']
    """

    __slots__ = ("_memo", "_root", "_routes", "_unguarded")

    def __init__(self, routes: Iterable[Route[T]] = ()) -> None:
        self._routes: tuple[Route[T], ...] = items(routes, "Router routes", "Route values")
        self._root: _Node[T] = _Node()
        # Memoizes candidates per signal type. Purely a cache of a pure function of the
        # (immutable) table, so it cannot change any answer.
        self._memo: dict[str, tuple[Route[T], ...]] = {}
        self._unguarded: set[str] = set()  # memoized types none of whose routes has a guard
        for seq, route in enumerate(self._routes):
            if not isinstance(route, Route):
                raise TypeError(f"Router routes[{seq}] is {route!r:.60}, not a Route")
            node = self._root
            for seg in validate_pattern(route.pattern):
                if seg == "*":
                    node.star = node.star or _Node()
                    node = node.star
                elif seg == "**":
                    node.dstar = node.dstar or _Node(loops=True)
                    node = node.dstar
                else:
                    node = node.children.setdefault(seg, _Node())
            lit, stars, dstars = route.specificity
            node.entries.append(((-route.priority, -lit, -stars, -dstars, seq), route))

    @property
    def routes(self) -> tuple[Route[T], ...]:
        """The routes, in the order given."""
        return self._routes

    def __len__(self) -> int:
        return len(self._routes)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Router):
            return NotImplemented
        return self._routes == other._routes

    def __hash__(self) -> int:
        return hash(self._routes)

    def __repr__(self) -> str:
        return f"Router({list(self._routes)!r})"

    def candidates(self, signal_type: str) -> tuple[Route[T], ...]:
        """The routes whose pattern matches ``signal_type``, in run order, guards not applied."""
        found = self._memo.get(signal_type)
        if found is not None:
            return found
        ends, _ = _walk(self._root, signal_type.split("."))
        found = tuple(route for _, route in sorted(e for node in ends for e in node.entries))
        if len(self._memo) >= _MEMO_LIMIT:
            self._memo.clear()
            self._unguarded.clear()
        self._memo[signal_type] = found
        if all(route.guard is None for route in found):
            self._unguarded.add(signal_type)
        return found

    def match(self, signal: Signal) -> tuple[Route[T], ...]:
        """The routes that handle ``signal``, in run order, guards applied."""
        found = self._memo.get(signal.type)
        if found is None:
            found = self.candidates(signal.type)
        if not found or signal.type in self._unguarded:
            return found  # the same tuple for every signal of this type: strategies memo on it
        return tuple(r for r in found if r.guard is None or r.guard(signal))


def _walk(root: _Node[T], segments: list[str]) -> tuple[set[_Node[T]], int]:
    """The trie nodes where ``segments`` end (their entries are the matches), and how many
    (node, position) states the walk went through.

    One pass over the segments, carrying the set of nodes reached so far (a node entered by
    a '**' is also reached with none of its segments: a '**' may match none; and from a '**'
    node no other is, as ``**.**`` is not a pattern). A '**' node stays in the set for each
    further segment, one more it swallows. Each (node, position) is thus visited once: the
    cost is at most the nodes times the segments, whatever the patterns (a type comes from
    outside: a costlier walk would be a way to stall a step), and no recursion, however long
    the type.
    """
    here: set[_Node[T]] = {root}
    if root.dstar is not None:
        here.add(root.dstar)
    states = len(here)
    for segment in segments:
        after: set[_Node[T]] = set()
        for node in here:
            if node.loops:
                after.add(node)
            child = node.children.get(segment)
            if child is not None:
                after.add(child)
                if child.dstar is not None:
                    after.add(child.dstar)
            child = node.star
            if child is not None:
                after.add(child)
                if child.dstar is not None:
                    after.add(child.dstar)
        if not after:
            return after, states
        here = after
        states += len(here)
    return here, states


def _overlap(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Whether some signal type matches both patterns, given as segments (``*`` one segment,
    ``**`` zero or more)."""
    for x, y in zip(a, b, strict=False):
        # Most pairs part at a literal segment near the start: said without the search.
        if x == "**" or y == "**":
            break
        if x != y and x != "*" and y != "*":
            return False

    @functools.cache
    def from_(i: int, j: int) -> bool:
        # A "**" matches no more segments (pass it) or one more (the other's next: any
        # segment, a "*" or a "**" too, matches that).
        if i < len(a) and a[i] == "**":
            return from_(i + 1, j) or (j < len(b) and from_(i, j + 1))
        if j < len(b) and b[j] == "**":
            return from_(i, j + 1) or (i < len(a) and from_(i + 1, j))
        if i == len(a) or j == len(b):
            return i == len(a) and j == len(b)
        return (a[i] == b[j] or "*" in (a[i], b[j])) and from_(i + 1, j + 1)

    return from_(0, 0)


def _closure(pattern: tuple[str, ...], positions: Iterable[int]) -> frozenset[int]:
    # The positions in ``pattern`` reached without consuming a segment: a "**" may match none.
    found: set[int] = set()
    todo = list(positions)
    while todo:
        i = todo.pop()
        if i not in found:
            found.add(i)
            if i < len(pattern) and pattern[i] == "**":
                todo.append(i + 1)
    return frozenset(found)


def _advance(pattern: tuple[str, ...], positions: frozenset[int], segment: str) -> frozenset[int]:
    # The positions after matching one more segment of a type.
    after: set[int] = set()
    for i in positions:
        if i < len(pattern):
            seg = pattern[i]
            if seg == "**":
                after.add(i)
            elif seg == "*" or seg == segment:
                after.add(i + 1)
    return _closure(pattern, after)


#: How many states :func:`_uncovered` looks at before it gives up.
_SEARCH_LIMIT: Final = 1024
#: What it answers then: no type, but not ``None`` (which says every type is covered).
_UNDECIDED: Final = "<undecided>"


def _uncovered(pattern: tuple[str, ...], covers: Iterable[tuple[str, ...]]) -> str | None:
    """A signal type ``pattern`` matches and none of ``covers`` does (the shortest, first in
    segment order), or ``None`` if every type ``pattern`` matches some cover matches.

    Patterns are given as segments (see :func:`validate_pattern`). Exact: the patterns are
    automata over segments, and a segment no pattern names is matched only by ``*`` and
    ``**``, so one such segment stands for all of them; the pairs of positions reachable
    are finitely many, and a breadth-first walk over them finds a type or exhausts them.
    Past :data:`_SEARCH_LIMIT` states it stops, answering :data:`_UNDECIDED` (not ``None``:
    callers take the pattern for not covered).
    """
    others = tuple(covers)
    if len(others) > 1 and any(_uncovered(pattern, (other,)) is None for other in others):
        # One covering it alone is the usual case, and a cheap search; all of them together
        # may cost states exponential in their number.
        return None
    explored = 0
    names = sorted({s for p in (pattern, *others) for s in p if s not in ("*", "**")})
    fresh, n = "x", 0
    while fresh in names:
        n += 1
        fresh = f"x{n}"
    alphabet = [*names, fresh]
    start = (_closure(pattern, [0]), tuple(_closure(c, [0]) for c in others))
    seen = {start}
    level: list[tuple[tuple[frozenset[int], tuple[frozenset[int], ...]], tuple[str, ...]]] = [
        (start, ())
    ]
    while level:
        following = []
        for (mine, theirs), path in level:
            for segment in alphabet:
                now = _advance(pattern, mine, segment)
                if not now:
                    continue
                them = tuple(_advance(c, at, segment) for c, at in zip(others, theirs, strict=True))
                if len(pattern) in now and not any(
                    len(c) in at for c, at in zip(others, them, strict=True)
                ):
                    return ".".join((*path, segment))  # a type has at least one segment
                state = (now, them)
                if state not in seen:
                    seen.add(state)
                    following.append((state, (*path, segment)))
        explored += len(level)
        if explored > _SEARCH_LIMIT:
            # Covers such as "**.a1.**" ... "**.aN.**" make the states 2 ** N: past the
            # limit, the answer is "not known to be covered" (a row kept, an edge drawn).
            return _UNDECIDED
        level = following
    return None


def table(routes: Mapping[str, T]) -> list[Route[T]]:
    """Routes from a ``{pattern: target}`` mapping, priority 0, in mapping order."""
    return [Route(pattern=p, target=t) for p, t in routes.items()]
