"""The over-hold check: a second, plain reading of the hold limit, for the counters.

The clock (:mod:`scomm.policies.hold_clock`) computes expiries with cumulative tables and
``searchsorted``; a mistake there would let the counters that use it see nothing. This module
shares none of its code: it walks the jail's local days one at a time with :mod:`zoneinfo`,
asks the ``holidays`` package about each date, and counts the minutes of each day that
counts, the way a clerk with a wall calendar would (for arrays of holds, every hold takes the
walk's next step at once: :func:`latest_releases`).
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


@cache
def _year_midnights(zone: str, year: int) -> tuple[np.ndarray, np.ndarray]:
    """The UTC minute (since 1970) of each local midnight that starts a day of ``year``, and
    whether the day counts (the same questions :func:`latest_release` asks of each day)."""
    tz = ZoneInfo(zone)
    epoch = dt.datetime(1970, 1, 1, tzinfo=UTC)
    first = dt.date(year, 1, 1)
    dates = [first + dt.timedelta(days=k) for k in range((dt.date(year + 1, 1, 1) - first).days)]
    midnights = [
        (dt.datetime.combine(d, dt.time(), tzinfo=tz) - epoch) // dt.timedelta(minutes=1)
        for d in dates
    ]
    return np.array(midnights, dtype=np.int64), np.array([_counts(d) for d in dates])


def _local_days(zone: str, first: int, last: int) -> tuple[np.ndarray, np.ndarray]:
    """Local midnights of the years ``first`` to ``last`` and one more (the end of the last
    day), and whether each day of those years counts."""
    years = [_year_midnights(zone, y) for y in range(first, last + 1)]
    end = _year_midnights(zone, last + 1)[0][:1]
    return np.concatenate([m for m, _ in years] + [end]), np.concatenate([c for _, c in years])


def latest_releases(
    started_at: np.ndarray, hours: np.ndarray, excluded: np.ndarray, zone: str
) -> np.ndarray:
    """:func:`latest_release` for arrays of holds in one zone (datetime64[m] UTC in and out):
    the same walk, one local day at a time, taken by every hold at once."""
    start = np.asarray(started_at, dtype="datetime64[m]").astype(np.int64)
    left = np.round(np.asarray(hours, dtype=np.float64) * 60).astype(np.int64)
    out = start + left  # no exclusion (or no limit at all): elapsed minutes
    walking = np.flatnonzero(np.asarray(excluded, dtype=bool) & (left > 0))
    if walking.size == 0:
        return out.astype("datetime64[m]")
    moment, left = start[walking], left[walking]
    # Enough days for the longest limit: at most three in a row do not count (a holiday by a
    # weekend), so two calendar days per counted day and a week to spare.
    first = np.datetime64(int(moment.min()) - 1440, "m").astype(dt.datetime).year
    reach = int(moment.max()) + (2 * int(-(-left.max() // 1440)) + 7) * 1440
    midnights, counts = _local_days(zone, first, np.datetime64(reach, "m").astype(dt.datetime).year)
    day = np.searchsorted(midnights, moment, side="right") - 1  # the local day of each moment
    ends = np.empty_like(moment)
    walk = np.arange(moment.size)
    while walk.size:
        if (day[walk] + 1 >= midnights.size).any():
            raise RuntimeError("the hold check's walk ran past its calendar")
        room = midnights[day[walk] + 1] - moment[walk]
        counted = counts[day[walk]]
        done = counted & (left[walk] <= room)
        ends[walk[done]] = moment[walk[done]] + left[walk[done]]
        on = walk[~done]
        left[on] -= np.where(counted[~done], room[~done], 0)
        moment[on] = midnights[day[on] + 1]
        day[on] += 1
        walk = on
    out[walking] = ends
    return out.astype("datetime64[m]")


def over_held_many(
    started_at: np.ndarray,
    ended_at: np.ndarray,
    limits: Sequence[tuple[np.ndarray, np.ndarray]],
    zones: Sequence[str],
    zone_index: np.ndarray,
) -> np.ndarray:
    """:func:`held_too_long` for arrays of holds (datetime64[m] UTC; limits as the clock takes
    them, one (hours, excluded) array pair per limit; each hold's zone as an index into
    ``zones``), by :func:`latest_releases`, zone by zone."""
    starts = np.asarray(started_at, dtype="datetime64[m]")
    ends = np.asarray(ended_at, dtype="datetime64[m]")
    n = starts.shape[0]
    index = np.asarray(zone_index)
    out = np.zeros(n, dtype=bool)
    for hours, excluded in limits:
        h = np.broadcast_to(np.asarray(hours, dtype=np.float64), (n,))
        e = np.broadcast_to(np.asarray(excluded, dtype=bool), (n,))
        for k in np.unique(index):
            rows = np.flatnonzero(index == k)
            latest = latest_releases(starts[rows], h[rows], e[rows], zones[int(k)])
            out[rows] |= ends[rows] > latest
    return out
