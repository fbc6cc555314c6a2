"""µs per ``Router.candidates`` lookup of a type the router has not seen, with 1,000 routes.

Each lookup is of a new type, so it walks the trie (the memo of answers per type is not
hit). Rows: ordinary short types against 1,000 routes (literals, ``*`` and ``**``), and one
long type (the segments of a hostile webhook) against the same routes, per segment.

Run: ``python bench/router.py [N]``
"""

from __future__ import annotations

import sys
import time

from jido import Route, Router

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from _common import Row, print_table


def routes() -> list[Route[int]]:
    out: list[Route[int]] = []
    for i in range(1000):
        kind = i % 10
        if kind < 6:
            pattern = f"svc{i % 100}.event{i}"
        elif kind < 8:
            pattern = f"svc{i % 100}.*.step{i}"
        elif kind == 8:
            pattern = f"svc{i % 100}.**"
        else:
            pattern = f"**.error{i}.**"
        out.append(Route(pattern=pattern, target=i, priority=i % 3 - 1))
    return out


def short_types(n: int) -> list[str]:
    """Distinct types of 2 to 4 segments, most of which some route matches."""
    out = []
    for k in range(n):
        i = k % 1000
        shape = k % 4
        if shape == 0:
            out.append(f"svc{i % 100}.event{i}.v{k}")
        elif shape == 1:
            out.append(f"svc{i % 100}.x{k}.step{i}")
        elif shape == 2:
            out.append(f"svc{i % 100}.error{i}.n{k}")
        else:
            out.append(f"other{k}.event{i}")
    return out


def per_lookup(table: list[Route[int]], types: list[str], *, repeat: int = 5) -> float:
    """Best of ``repeat`` runs, µs per lookup, each run on a fresh router (an empty memo)."""
    best = float("inf")
    for _ in range(repeat):
        router = Router(table)
        t0 = time.perf_counter()
        for t in types:
            router.candidates(t)
        best = min(best, (time.perf_counter() - t0) / len(types) * 1e6)
    return best


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 4000  # within the router's memo limit
    table = routes()
    floor_map = {r.pattern: r for r in table}

    def floor() -> float:
        best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter()
            for t in types:
                floor_map.get(t.rpartition(".")[0])
            best = min(best, (time.perf_counter() - t0) / len(types) * 1e6)
        return best

    types = short_types(n)
    segments = 2000
    long_type = ".".join(f"error{i % 1000}" for i in range(segments))
    rows: list[Row] = [
        ("floor: one dict lookup per type", floor(), "exact patterns only"),
        ("candidates, short new types", per_lookup(table, types), "1,000 routes"),
        (
            f"candidates, one type of {segments} segments",
            per_lookup(table, [long_type], repeat=1) / segments,
            "per segment",
        ),
    ]
    print_table(f"router, 1,000 routes, {n} types", rows, rows[0][0])


if __name__ == "__main__":
    main()
