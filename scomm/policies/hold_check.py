"""The over-hold check: a second, plain reading of the hold limit, for the counters.

The clock (:mod:`scomm.policies.hold_clock`) computes expiries with cumulative tables and
``searchsorted``; a mistake there would let the counters that use it see nothing. This module
shares none of its code: it walks the jail's local days one at a time with :mod:`zoneinfo`,
asks the ``holidays`` package about each date, and counts the minutes of each day that
counts, the way a clerk with a wall calendar would.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from functools import cache
from zoneinfo import ZoneInfo

import holidays
import numpy as np

UTC = dt.UTC


@cache
def _federal_holidays(year: int) -> frozenset[dt.date]:
    return frozenset(holidays.country_holidays("US", years=year, observed=True))


def _counts(day: dt.date) -> bool:
    return day.weekday() < 5 and day not in _federal_holidays(day.year)


def latest_release(
    started_at: dt.datetime, hours: float, excludes_weekends_and_holidays: bool, zone: str
) -> dt.datetime:
    """The last moment a hold may last under one limit (UTC, aware), by walking local days."""
    if started_at.tzinfo is None:
        raise ValueError(f"hold start {started_at} has no time zone")
    left = dt.timedelta(minutes=round(hours * 60))
    moment = started_at.astimezone(UTC)
    if not excludes_weekends_and_holidays or left <= dt.timedelta(0):
        return moment + left  # no limit at all means no hold, weekend or not
    tz = ZoneInfo(zone)
    while True:
        today = moment.astimezone(tz).date()
        tomorrow = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(), tzinfo=tz)
        next_midnight = tomorrow.astimezone(UTC)
        if _counts(today):
            room = next_midnight - moment
            if left <= room:
                return moment + left
            left -= room
        moment = next_midnight


def held_too_long(
    started_at: dt.datetime,
    ended_at: dt.datetime,
    limits: Iterable[tuple[float, bool]],
    zone: str,
) -> bool:
    """Whether a hold that ran from ``started_at`` to ``ended_at`` passed any of its limits."""
    end = ended_at.astimezone(UTC)
    # The same limit twice (a local layer that repeats the federal one) is walked once.
    return any(end > latest_release(started_at, h, e, zone) for h, e in set(limits))


def count_over_holds(
    started_at: Sequence[dt.datetime],
    ended_at: Sequence[dt.datetime],
    limits: Sequence[Sequence[tuple[float, bool]]],
    zones: Sequence[str],
) -> int:
    """How many holds passed a limit (one list of limits and one zone per hold)."""
    return sum(
        held_too_long(s, e, lim, z)
        for s, e, lim, z in zip(started_at, ended_at, limits, zones, strict=True)
    )


def over_held_many(
    started_at: np.ndarray,
    ended_at: np.ndarray,
    limits: Sequence[tuple[np.ndarray, np.ndarray]],
    zones: Sequence[str],
    zone_index: np.ndarray,
) -> np.ndarray:
    """:func:`held_too_long` for arrays of holds (datetime64[m] UTC; limits as the clock takes
    them, one (hours, excluded) array pair per limit; each hold's zone as an index into
    ``zones``), one hold at a time."""
    starts = np.asarray(started_at, dtype="datetime64[m]").astype(dt.datetime)
    ends = np.asarray(ended_at, dtype="datetime64[m]").astype(dt.datetime)
    n = len(starts)
    hours = [np.broadcast_to(np.asarray(h, dtype=np.float64), (n,)) for h, _ in limits]
    excluded = [np.broadcast_to(np.asarray(e, dtype=bool), (n,)) for _, e in limits]
    index = np.asarray(zone_index)
    out = np.zeros(n, dtype=bool)
    for i in range(n):
        out[i] = held_too_long(
            starts[i].replace(tzinfo=UTC),
            ends[i].replace(tzinfo=UTC),
            [(float(h[i]), bool(e[i])) for h, e in zip(hours, excluded, strict=True)],
            zones[int(index[i])],
        )
    return out
