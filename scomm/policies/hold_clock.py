"""The hold clock: when a detainer hold must end, counted on the jail's local days.

8 CFR 287.7(d): a jail may keep a person on a detainer "for a period not to exceed 48 hours,
excluding Saturdays, Sundays, and holidays" beyond the time they would otherwise be released.
The Saturdays, Sundays and federal holidays are the jail's: its local calendar days, in its
county's time zone (:mod:`scomm.jurisdictions.timezones`), midnight to midnight as its clocks
strike it. The limit stays in elapsed hours: a minute counts once, whatever the clocks do at a
daylight-saving change. Local law may set a shorter limit, counted its own way (DC: 24 hours);
later federal forms (I-247D 2015, I-247A 2017) dropped the exclusion; the regime says which.

How: for each zone, a table of the UTC minute each local day starts (from :mod:`zoneinfo`) and
the business minutes before it (cumulative, the day's length where it is a business day). A
hold's expiry is one ``np.searchsorted`` into that table, so millions of holds cost what one
does; :func:`hold_expires_at` is the same rule for one hold. The over-hold counters check it
with :mod:`scomm.policies.hold_check`, which shares none of this code.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from zoneinfo import ZoneInfo

import holidays
import numpy as np

from scomm.jurisdictions.timezones import with_local_offset

MINUTES_PER_DAY = 1440
# The calendar the clock can count: wide enough for any hold scomm models (1990-2100), each
# year's federal holidays from the ``holidays`` package; a date outside it is refused by name.
# Tables are built by the decade, for the decades a batch of holds needs.
FIRST_YEAR = 1990
LAST_YEAR = 2100
DECADE = 10


class OutsideCalendar(ValueError):
    """A hold that starts or would end outside the clock's calendar."""


@cache
def federal_holiday_calendar(
    first_year: int = FIRST_YEAR, last_year: int = LAST_YEAR
) -> np.busdaycalendar:
    """Monday-Friday, less US federal holidays (as observed), for the years given."""
    if first_year < FIRST_YEAR or last_year > LAST_YEAR:
        raise OutsideCalendar(
            f"years {first_year}-{last_year} are outside the hold clock's calendar, "
            f"{FIRST_YEAR}-{LAST_YEAR}"
        )
    days = holidays.country_holidays("US", years=range(first_year, last_year + 1), observed=True)
    return np.busdaycalendar(weekmask="1111100", holidays=sorted(days.keys()))


@dataclass(frozen=True)
class _ZoneDays:
    """One zone's local days over a span of years: where each starts (UTC minutes since 1970)
    and how many business minutes come before it, one entry more than there are days (the end
    of the last); and, for the way back, each business day's index and an index of business
    minutes by whole days."""

    starts: np.ndarray  # int64 [days + 1]
    business_before: np.ndarray  # int64 [days + 1]
    business_days: np.ndarray  # intp: index of each business day
    business_day_of_bucket: np.ndarray  # intp: last business day (its ordinal) begun by j*1440


@cache
def _zone_days(zone: str, first_year: int, last_year: int) -> _ZoneDays:
    tz = ZoneInfo(zone)
    first = dt.date(first_year, 1, 1)
    n_days = (dt.date(last_year, 12, 31) - first).days + 1
    epoch_day = (first - dt.date(1970, 1, 1)).days
    midnight = dt.datetime.combine(first, dt.time())
    # Each local midnight less the zone's offset then: the UTC minute the day starts. (A
    # midnight a clock change skips takes the offset before the change: the change's instant,
    # which is the first minute of that day.)
    offsets = np.array(
        [
            (tz.utcoffset(midnight + dt.timedelta(days=i)) or dt.timedelta(0))
            // dt.timedelta(minutes=1)
            for i in range(n_days + 1)
        ],
        dtype=np.int64,
    )
    starts = (epoch_day + np.arange(n_days + 1, dtype=np.int64)) * MINUTES_PER_DAY - offsets
    days = np.arange(epoch_day, epoch_day + n_days).astype("datetime64[D]")
    business = np.is_busday(days, busdaycal=federal_holiday_calendar(first_year, last_year))
    before = np.concatenate(([0], np.cumsum(np.diff(starts) * business))).astype(np.int64)
    business_days = np.flatnonzero(business)
    buckets = np.arange(before[-1] // MINUTES_PER_DAY + 1) * MINUTES_PER_DAY
    of_bucket = np.searchsorted(before[business_days], buckets, side="right") - 1
    return _ZoneDays(starts, before, business_days, of_bucket)


def _year(minute: np.int64 | int) -> int:
    return int(np.datetime64(int(minute), "m").astype("datetime64[Y]").astype(np.int64)) + 1970


def _table_for(start: np.ndarray, zone: str) -> _ZoneDays:
    """The zone's table over the decades these starts need, with a year to spare after the
    last (a hold's limit runs days, not years)."""
    lo, hi = _year(start.min()), _year(start.max())
    if lo < FIRST_YEAR or hi > LAST_YEAR:
        outside = start.min() if lo < FIRST_YEAR else start.max()
        raise OutsideCalendar(
            f"a hold starting {np.asarray(outside).astype('datetime64[m]')} UTC ({zone}) is "
            f"outside the hold clock's calendar, {FIRST_YEAR}-01-01 to {LAST_YEAR}-12-31"
        )
    # The years of the starts' *local* days: a UTC year's first hours are the year before's
    # last west of Greenwich (and its last hours the next year's east of it), so a day either
    # side of the UTC bounds (an offset is less than a day).
    lo = max(FIRST_YEAR, _year(start.min() - MINUTES_PER_DAY))
    hi = min(LAST_YEAR, _year(start.max() + MINUTES_PER_DAY))
    first = lo - lo % DECADE
    last = min(LAST_YEAR, (hi + 1) - (hi + 1) % DECADE + DECADE - 1)
    return _zone_days(zone, max(FIRST_YEAR, first), last)


def _expiry_in_zone(start: np.ndarray, minutes: np.ndarray, zone: str) -> np.ndarray:
    """Business-day expiry (UTC minutes, int64) of holds in one zone."""
    table = _table_for(start, zone)
    n_days = table.starts.shape[0] - 1
    if (start < table.starts[0]).any():  # the evening before 1 January 1990, local time
        raise OutsideCalendar(
            f"a hold starting before {FIRST_YEAR}-01-01 in {zone} is outside the hold clock's "
            "calendar"
        )
    # The local day a start falls in: its UTC day's index, or the one either side (a zone's
    # offset is less than a day), found without a search.
    day = np.clip((start - table.starts[0]) // MINUTES_PER_DAY, 0, n_days - 1)
    day -= table.starts[day] > start
    day += table.starts[day + 1] <= start
    into_day = start - table.starts[day]
    is_business = table.business_before[day + 1] > table.business_before[day]
    counted = table.business_before[day] + np.where(is_business, into_day, 0)
    target = counted + minutes
    if (target > table.business_before[-1]).any():
        raise OutsideCalendar(
            f"a hold's limit in {zone} runs past {LAST_YEAR}-12-31, the end of the hold "
            "clock's calendar"
        )
    # The hold ends in the last business day begun before the target: the bucket index gives
    # one at or before it, and a business day is long enough that at most two more follow.
    before = table.business_before[table.business_days]
    ordinal = table.business_day_of_bucket[np.maximum(target - 1, 0) // MINUTES_PER_DAY]
    for _ in range(2):
        later = ordinal + 1
        step = (later < before.shape[0]) & (before[np.minimum(later, before.shape[0] - 1)] < target)
        ordinal += step
    last = table.business_days[ordinal]
    ends = table.starts[last] + (target - table.business_before[last])
    return np.maximum(ends, start)  # a zero limit on a weekend ends where it starts


def hold_expiry(
    starts_at: np.ndarray,
    max_hours: np.ndarray | float,
    exclude_non_business_days: bool | np.ndarray = True,
    zone: str | Sequence[str] | np.ndarray = "UTC",
    zone_index: np.ndarray | None = None,
) -> np.ndarray:
    """When holds starting at ``starts_at`` (datetime64[m], UTC) must end, as datetime64[m] UTC.

    ``zone``: the jail's IANA zone, one for all or one per hold; or, with ``zone_index`` (one
    int per hold), the list of zones that index refers to (a county table's zones, say), which
    spares sorting millions of names.
    """
    starts = np.asarray(starts_at, dtype="datetime64[m]")
    start = starts.astype(np.int64)
    minutes = np.broadcast_to(
        np.round(np.asarray(max_hours, dtype=np.float64) * 60), starts.shape
    ).astype(np.int64)
    exclude = np.broadcast_to(np.asarray(exclude_non_business_days, dtype=bool), starts.shape)
    out = start + minutes  # the elapsed-hours limit; business-day holds replaced below
    if isinstance(zone, str):
        names: Sequence[str] = [zone]
        index = np.zeros(starts.shape, dtype=np.intp)
    elif zone_index is not None:
        names = list(zone)
        index = np.asarray(zone_index, dtype=np.intp)
    else:
        unique, inverse = np.unique(np.asarray(zone, dtype=str), return_inverse=True)
        names, index = [str(z) for z in unique], inverse.reshape(starts.shape)
    # One pass per zone over that zone's holds alone (grouped by one sort).
    rows = np.flatnonzero(exclude)
    rows = rows[np.argsort(index[rows], kind="stable")]
    zone_of_row = index[rows]
    cuts = np.flatnonzero(np.diff(zone_of_row)) + 1
    for group in np.split(rows, cuts):
        if group.size:
            k = int(index[group[0]])
            out[group] = _expiry_in_zone(start[group], minutes[group], names[k])
    return out.astype("datetime64[m]")


def earliest_expiry(
    starts_at: np.ndarray,
    limits: Sequence[tuple[np.ndarray, np.ndarray]],
    zone: str | Sequence[str] | np.ndarray = "UTC",
    zone_index: np.ndarray | None = None,
) -> np.ndarray:
    """The hold's legal end under several limits (the federal one first, then each local law's,
    as ``(hours, excludes weekends and holidays)`` per hold): the earliest of them. A local
    limit is clocked only where it could bind (shorter, or counted another way)."""
    hours0, exclude0 = (np.asarray(a) for a in limits[0])
    out = hold_expiry(starts_at, hours0, exclude0, zone, zone_index)
    starts = np.asarray(starts_at, dtype="datetime64[m]")
    for hours, exclude in limits[1:]:
        h = np.broadcast_to(np.asarray(hours, dtype=np.float64), starts.shape)
        e = np.broadcast_to(np.asarray(exclude, dtype=bool), starts.shape)
        may_bind = np.flatnonzero(
            (h < np.broadcast_to(hours0, starts.shape))
            | (e != np.broadcast_to(exclude0, starts.shape))
        )
        if may_bind.size == 0:
            continue
        local_zone: str | Sequence[str] | np.ndarray = zone
        local_index = None
        if zone_index is not None:
            local_index = np.asarray(zone_index)[may_bind]
        elif not isinstance(zone, str):
            local_zone = np.asarray(zone)[may_bind]
        local = hold_expiry(starts[may_bind], h[may_bind], e[may_bind], local_zone, local_index)
        out[may_bind] = np.minimum(out[may_bind], local)
    return out


def _to_minutes(moment: dt.datetime) -> np.datetime64:
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return np.datetime64(moment, "m")


def hold_expires_at(
    starts_at: dt.datetime,
    max_hours: float = 48.0,
    exclude_non_business_days: bool = True,
    zone: str = "UTC",
) -> dt.datetime:
    """The latest moment a hold that starts at ``starts_at`` may last, on the jail's wall clock
    (with its offset then: it compares with UTC times as the instant it is). A naive
    ``starts_at`` is UTC."""
    expiry = hold_expiry(
        np.array([_to_minutes(starts_at)]), max_hours, exclude_non_business_days, zone
    )[0]
    moment = expiry.astype("datetime64[m]").astype(dt.datetime).replace(tzinfo=dt.UTC)
    return with_local_offset(moment, zone)


def hold_ends_by(
    starts_at: dt.datetime, limits: Sequence[tuple[float, bool]], zone: str = "UTC"
) -> dt.datetime:
    """:func:`earliest_expiry` for one hold: the earliest end under every limit in force."""
    return min(hold_expires_at(starts_at, hours, exclude, zone) for hours, exclude in limits)


def over_held(
    starts_at: np.ndarray,
    ended_at: np.ndarray,
    max_hours: np.ndarray | float,
    exclude_non_business_days: bool | np.ndarray = True,
    zone: str | Sequence[str] | np.ndarray = "UTC",
) -> np.ndarray:
    """Which recorded holds (e.g. in imported jail data) lasted past their legal limit."""
    expiry = hold_expiry(starts_at, max_hours, exclude_non_business_days, zone)
    return np.asarray(ended_at, dtype="datetime64[m]") > expiry
