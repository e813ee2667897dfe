"""The hold clock: 48 hours excluding Saturdays, Sundays and federal holidays (8 CFR 287.7(d))."""

import datetime as dt

import numpy as np
import pytest

from scomm.policies.hold_clock import hold_expires_at, hold_expiry, over_held

UTC = dt.UTC


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_weekday_hold_runs_48_hours() -> None:
    # Monday 10:00 -> Wednesday 10:00: no weekend or holiday in between.
    assert hold_expires_at(at(2014, 7, 7, 10), 48) == at(2014, 7, 9, 10)


def test_weekend_and_independence_day_do_not_count() -> None:
    # Thursday 3 July 2014 18:00: 6 h Thursday, Friday 4 July (holiday), Sat, Sun skipped,
    # 24 h Monday, 18 h Tuesday.
    assert hold_expires_at(at(2014, 7, 3, 18), 48) == at(2014, 7, 8, 18)


def test_hold_starting_on_saturday_starts_counting_monday() -> None:
    assert hold_expires_at(at(2014, 7, 5, 10), 48) == at(2014, 7, 9, 0)


def test_observed_holiday_counts_as_holiday() -> None:
    # 4 July 2015 was a Saturday; the federal holiday was observed Friday 3 July.
    assert hold_expires_at(at(2015, 7, 2, 12), 24) == at(2015, 7, 6, 12)


def test_local_shorter_limit() -> None:
    assert hold_expires_at(at(2014, 7, 7, 10), 24) == at(2014, 7, 8, 10)


def test_forms_without_weekend_exclusion_count_every_hour() -> None:
    assert hold_expires_at(at(2014, 7, 3, 18), 48, exclude_non_business_days=False) == at(
        2014, 7, 5, 18
    )


def test_vectorized_matches_one_at_a_time() -> None:
    rng = np.random.default_rng(3)
    base = np.datetime64("2013-11-01T00:00", "m")
    starts = base + rng.integers(0, 60 * 24 * 90, size=200).astype("timedelta64[m]")
    hours = rng.choice([24.0, 48.0], size=200)
    many = hold_expiry(starts, hours)
    for s, h, e in zip(starts, hours, many, strict=True):
        one = hold_expires_at(s.astype(dt.datetime).replace(tzinfo=UTC), float(h))
        assert np.datetime64(one.replace(tzinfo=None), "m") == e


@pytest.mark.parametrize("hours", [1.0, 24.0, 47.5, 48.0])
def test_expiry_counts_exactly_the_business_hours(hours: float) -> None:
    # Walk minute by minute and count only business-day minutes: the brute-force reading of
    # the regulation.
    import holidays

    us = holidays.country_holidays("US", years=[2012], observed=True)
    start = dt.datetime(2012, 11, 21, 15, 30)  # the day before Thanksgiving
    moment, counted = start, 0
    while counted < hours * 60:
        day = moment.date()
        if day.weekday() < 5 and day not in us:
            counted += 1
        moment += dt.timedelta(minutes=1)
    assert hold_expires_at(start.replace(tzinfo=UTC), hours).replace(tzinfo=None) == moment


def test_over_hold_in_imported_data_is_flagged() -> None:
    starts = np.array(["2014-04-01T10:00", "2014-04-01T10:00"], dtype="datetime64[m]")
    ends = np.array(["2014-04-03T10:00", "2014-04-04T05:00"], dtype="datetime64[m]")
    assert over_held(starts, ends, 48.0).tolist() == [False, True]
