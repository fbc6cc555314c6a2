"""Helpers shared by the benchmark scripts: timing and the report table."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["Row", "best_of", "machine", "print_table"]

Row = tuple[str, float, str]  # (name, microseconds per item, note)


def best_of(fn: Callable[[], int], *, repeat: int = 5) -> float:
    """Microseconds per item: ``fn`` returns how many items it processed; the best of
    ``repeat`` runs is kept (the least disturbed by the rest of the machine)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        n = fn()
        dt = time.perf_counter() - t0
        best = min(best, dt / n * 1e6)
    return best


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown cpu"


def machine() -> str:
    """One line describing where the numbers were taken."""
    return (
        f"{platform.python_implementation()} {platform.python_version()} on "
        f"{platform.machine()} ({_cpu()}, {os.cpu_count()} cores), "
        f"{datetime.now(UTC):%Y-%m-%d}"
    )


def print_table(title: str, rows: list[Row], baseline: str) -> None:
    """Print a Markdown table with each row's ratio to the ``baseline`` row."""
    base = next(us for name, us, _ in rows if name == baseline)
    print(f"### {title}\n")
    print(f"_{machine()}_\n")
    print("| benchmark | µs per signal | ratio to floor | note |")
    print("|---|---:|---:|---|")
    for name, us, note in rows:
        print(f"| {name} | {us:.2f} | {us / base:.2f} | {note} |")
    print()
