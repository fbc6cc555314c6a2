"""Cron schedules: a ``Cron`` directive checked, and its ticks as absolute times.

Every interpreter registers cron jobs the same way, so the checks live here once: an unknown
timezone, an expression croniter cannot parse, one with croniter's random ``R`` (see
:func:`cron_ticks`), and one it parses but that never fires (April 31st, a year gone by) are
each a directive problem, not a crash. The daylight-saving policy lives here too (see
:class:`CronTicks`), so every runtime ticks a job at the same times.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter

from jido import Cron, Problem

from ._outcomes import directive_problem

__all__ = ["CronTicks", "cron_over", "cron_ticks"]

# croniter's random value: an R (any case) starting a field or a comma-separated part of
# one, not followed by a letter. Whole tokens only: MAR, APR and FRI hold an R too.
_RANDOM = re.compile(r"r(?![a-z])", re.IGNORECASE)


def _random(expression: str) -> bool:
    return any(_RANDOM.match(part) for field in expression.split() for part in field.split(","))


# The expressions croniter reads for its @-names (without a hash id, as we use it).
_ALIASES = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
_VALUES = re.compile(r"\d+(?:,\d+)*")  # specific values: 5, or 0,30


def _fixed_time(expression: str) -> bool:
    """Whether a job runs at fixed times of day: its minute and hour fields (and the
    seconds, the sixth field, if it has them) each name specific values, with no ``*``,
    range or step."""
    fields = _ALIASES.get(expression.strip().lower(), expression).split()
    return all(_VALUES.fullmatch(f) for f in (*fields[:2], *fields[5:6]))


@final
class CronTicks:
    """The times a job ticks at, one after another, in its timezone.

    Daylight saving is handled as Vixie cron does, on every runtime alike:

    * A job at fixed times of day (its minute and hour fields, and its seconds if any,
      name specific values: ``30 1 * * *``, ``0 9,17 * * 1-5``, ``@daily``) runs by the
      wall clock. A time the clocks go back over ticks once, on its first pass: the second
      pass is not a new time (a job registered during it waits for the next day). A time
      the clocks skip going forward ticks once, right after the gap (croniter's choice:
      02:30 on a night that jumps from 02:00 to 03:00 ticks at 03:00).
    * Any other job (``*``, a range or a step there: ``0 * * * *``, ``*/15 1 * * *``,
      ``30 1-3 * * *``) runs by real time: it ticks in both passes of a repeated hour, so
      an hourly job stays an hour apart. Across a gap, a job at every hour goes on with its
      next hour; one whose hours include the skipped one ticks right after the gap.
    """

    __slots__ = ("_expression", "_fixed", "_it", "_zone")

    def __init__(self, expression: str, zone: ZoneInfo, start: datetime) -> None:
        self._expression = expression
        self._zone = zone
        self._fixed = _fixed_time(expression)
        self._it = croniter(expression, start.astimezone(zone))

    def next(self) -> datetime | None:
        """The next tick (timezone-aware), or ``None`` once the job will never tick again."""
        while True:
            try:
                nxt: datetime = self._it.get_next(datetime)
            except CroniterError:  # no date matches any more (a year field in the past)
                return None
            except (ValueError, OverflowError):  # past the last date Python has (year 9999)
                return None
            if not (self._fixed and self._second_pass(nxt)):
                return nxt

    def after(self, when: datetime) -> datetime | None:
        """The first tick after ``when`` (``None`` if there is none), the ticks before it
        skipped; :meth:`next` goes on from there. For a job that fell behind."""
        self._it = croniter(self._expression, when.astimezone(self._zone))
        return self.next()

    def _second_pass(self, t: datetime) -> bool:
        """``t`` is the second pass of a wall-clock time (the clocks went back over it)."""
        # Through UTC: zoneinfo then sets ``fold`` itself, whatever croniter left there.
        return t.astimezone(UTC).astimezone(self._zone).fold == 1


def cron_ticks(d: Cron, start: datetime) -> tuple[CronTicks, datetime] | Problem:
    """The ticks of ``d`` after ``start`` and the first of them, or the problem that keeps
    it from being registered.

    croniter's ``R`` (``R``, ``R(a-b)``, ``R/n``: a value drawn at random) is refused like
    an expression croniter cannot parse: the same job would tick at other times on each
    run, and a virtual-clock run (SyncRuntime, a seeded Simulation) would not repeat.
    """
    zone = _zone(d)
    if isinstance(zone, Problem):
        return zone
    ticks = CronTicks(d.expression, zone, start)
    first = ticks.next()
    if first is None:
        return directive_problem(
            f"cron expression {d.expression!r} never fires after {start.isoformat()}",
            job_id=d.job_id,
            expression=d.expression,
        )
    return ticks, first


def cron_over(d: Cron, at: datetime) -> bool:
    """Whether ``d``, a valid job, will never tick after ``at`` (a year field's dates ran
    out). A job registered before whose last tick came while its agent was away
    (hibernated, its runtime down) is over, not a problem, when registered again."""
    zone = _zone(d)
    return not isinstance(zone, Problem) and CronTicks(d.expression, zone, at).next() is None


def _zone(d: Cron) -> ZoneInfo | Problem:
    """The timezone of ``d``, or the problem with its timezone or expression."""
    try:
        zone = ZoneInfo(d.timezone)
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
    return zone
