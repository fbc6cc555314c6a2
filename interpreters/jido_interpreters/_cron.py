"""Cron schedules: a ``Cron`` directive checked, and its ticks as absolute times.

Every interpreter registers cron jobs the same way, so the checks live here once: an unknown
timezone, an expression croniter cannot parse, one with croniter's random ``R`` (see
:func:`cron_ticks`), and one it parses but that never fires (April 31st, a year gone by) are
each a directive problem, not a crash.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter

from jido import Cron, Problem

from ._outcomes import directive_problem

__all__ = ["CronTicks", "cron_ticks"]

# croniter's random value: an R (any case) starting a field or a comma-separated part of
# one, not followed by a letter. Whole tokens only: MAR, APR and FRI hold an R too.
_RANDOM = re.compile(r"r(?![a-z])", re.IGNORECASE)


def _random(expression: str) -> bool:
    return any(_RANDOM.match(part) for field in expression.split() for part in field.split(","))


@final
class CronTicks:
    """The times a job ticks at, one after another."""

    __slots__ = ("_it",)

    def __init__(self, it: croniter) -> None:
        self._it = it

    def next(self) -> datetime | None:
        """The next tick (timezone-aware), or ``None`` once the job will never tick again."""
        try:
            nxt: datetime = self._it.get_next(datetime)
        except CroniterError:  # no date matches any more (a year field in the past)
            return None
        except (ValueError, OverflowError):  # past the last date Python has (year 9999)
            return None
        return nxt


def cron_ticks(d: Cron, start: datetime) -> tuple[CronTicks, datetime] | Problem:
    """The ticks of ``d`` after ``start`` and the first of them, or the problem that keeps
    it from being registered.

    croniter's ``R`` (``R``, ``R(a-b)``, ``R/n``: a value drawn at random) is refused like
    an expression croniter cannot parse: the same job would tick at other times on each
    run, and a virtual-clock run (SyncRuntime, a seeded Simulation) would not repeat.
    """
    try:
        tz = ZoneInfo(d.timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "Europe" is a folder
        return directive_problem(
            f"unknown timezone {d.timezone!r}", job_id=d.job_id, timezone=d.timezone
        )
    if _random(d.expression):
        return directive_problem(
            f"invalid cron expression {d.expression!r}: R (a random time, drawn afresh each"
            " time the job is registered) would make runs differ",
            job_id=d.job_id,
            expression=d.expression,
        )
    if not croniter.is_valid(d.expression):
        return directive_problem(
            f"invalid cron expression {d.expression!r}",
            job_id=d.job_id,
            expression=d.expression,
        )
    ticks = CronTicks(croniter(d.expression, start.astimezone(tz)))
    first = ticks.next()
    if first is None:
        return directive_problem(
            f"cron expression {d.expression!r} never fires after {start.isoformat()}",
            job_id=d.job_id,
            expression=d.expression,
        )
    return ticks, first
