"""The hold clock: when a detainer hold must end.

8 CFR 287.7(d): a jail may keep a person on a detainer "for a period not to exceed 48 hours,
excluding Saturdays, Sundays, and holidays" beyond the time they would otherwise be released.
Hours on a Saturday, Sunday or federal holiday do not count; local law may set a shorter limit
(DC: 24 hours). Later federal forms (I-247D 2015, I-247A 2017) dropped the exclusion; the
federal regime says which applies.

Vectorized over NumPy ``datetime64[m]`` arrays (UTC minutes) so the simulation can clock
millions of holds; :func:`hold_expires_at` is the same rule for one hold.
"""

from __future__ import annotations

import datetime as dt
from functools import cache

import holidays
import numpy as np

MINUTES_PER_DAY = 1440


@cache
def federal_holiday_calendar(first_year: int = 2000, last_year: int = 2035) -> np.busdaycalendar:
    """Monday-Friday, less US federal holidays (as observed), from the ``holidays`` package."""
    days = holidays.country_holidays("US", years=range(first_year, last_year + 1), observed=True)
    return np.busdaycalendar(weekmask="1111100", holidays=sorted(days.keys()))


def hold_expiry(
    starts_at: np.ndarray,
    max_hours: np.ndarray | float,
    exclude_non_business_days: bool | np.ndarray = True,
) -> np.ndarray:
    """When holds starting at ``starts_at`` (datetime64[m]) must end, as datetime64[m]."""
    starts = np.asarray(starts_at, dtype="datetime64[m]")
    minutes = np.broadcast_to(
        np.round(np.asarray(max_hours, dtype=np.float64) * 60), starts.shape
    ).astype(np.int64)
    exclude = np.broadcast_to(np.asarray(exclude_non_business_days, dtype=bool), starts.shape)

    plain = starts + minutes.astype("timedelta64[m]")

    calendar = federal_holiday_calendar()
    day = starts.astype("datetime64[D]")
    on_business_day = np.is_busday(day, busdaycal=calendar)
    # A hold that starts on a weekend or holiday starts counting at the next business day's start.
    first_day = np.busday_offset(day, 0, roll="forward", busdaycal=calendar)
    effective_start = np.where(on_business_day, starts, first_day.astype("datetime64[m]"))
    left_today = (
        first_day.astype("datetime64[m]") + np.timedelta64(MINUTES_PER_DAY, "m") - effective_start
    ).astype(np.int64)
    within_day = minutes <= left_today
    remaining = minutes - left_today
    extra_days = np.maximum(-(-remaining // MINUTES_PER_DAY), 1)  # ceil, at least one more day
    last_day = np.busday_offset(first_day, extra_days, roll="forward", busdaycal=calendar)
    into_last_day = remaining - (extra_days - 1) * MINUTES_PER_DAY
    spanning = last_day.astype("datetime64[m]") + into_last_day.astype("timedelta64[m]")
    business = np.where(within_day, effective_start + minutes.astype("timedelta64[m]"), spanning)
    return np.where(exclude, business, plain)


def _to_minutes(moment: dt.datetime) -> np.datetime64:
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return np.datetime64(moment, "m")


def hold_expires_at(
    starts_at: dt.datetime, max_hours: float = 48.0, exclude_non_business_days: bool = True
) -> dt.datetime:
    """The latest moment a hold that starts at ``starts_at`` may last (UTC, timezone-aware)."""
    expiry = hold_expiry(np.array([_to_minutes(starts_at)]), max_hours, exclude_non_business_days)[
        0
    ]
    return expiry.astype("datetime64[m]").astype(dt.datetime).replace(tzinfo=dt.UTC)


def over_held(
    starts_at: np.ndarray,
    ended_at: np.ndarray,
    max_hours: np.ndarray | float,
    exclude_non_business_days: bool | np.ndarray = True,
) -> np.ndarray:
    """Which recorded holds (e.g. in imported jail data) lasted past their legal limit."""
    expiry = hold_expiry(starts_at, max_hours, exclude_non_business_days)
    return np.asarray(ended_at, dtype="datetime64[m]") > expiry
