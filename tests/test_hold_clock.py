"""The hold clock: 48 hours excluding Saturdays, Sundays and federal holidays (8 CFR 287.7(d)),
counted on the jail's local days; checked against the independent walk of
:mod:`scomm.policies.hold_check` and a minute-by-minute count."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import holidays
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scomm.agencies import court, jail
from scomm.jurisdictions.timezones import county_zone
from scomm.pipeline.case import fold
from scomm.pipeline.summary import summarize
from scomm.policies.decisions import hold_limits
from scomm.policies.hold_check import (
    held_too_long,
    latest_release,
    latest_releases,
    over_held_many,
)
from scomm.policies.hold_clock import (
    OutsideCalendar,
    earliest_expiry,
    hold_ends_by,
    hold_expires_at,
    hold_expiry,
    over_held,
)
from scomm.policies.practice import default_practice
from scomm.policies.tables import rules_in_force

UTC = dt.UTC
LA = "America/Los_Angeles"
PHOENIX = "America/Phoenix"
ZONES = [
    PHOENIX,
    "Pacific/Honolulu",
    "America/Anchorage",
    "America/Chicago",
    "America/New_York",
    LA,
    "America/Puerto_Rico",
    "America/Denver",
    "America/Indiana/Indianapolis",
    "America/Adak",
]


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=UTC)


def local(zone: str, *fields: int) -> dt.datetime:
    year, month, day, hour, minute = fields
    return dt.datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone))


# ---------------------------------------------------------------------------------------------
# The rule, in UTC (a jail whose local days are UTC days)


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
    zone = rng.choice(ZONES, size=200)
    many = hold_expiry(starts, hours, True, zone)
    for s, h, z, e in zip(starts, hours, zone, many, strict=True):
        one = hold_expires_at(s.astype(dt.datetime).replace(tzinfo=UTC), float(h), True, str(z))
        assert np.datetime64(one.astimezone(UTC).replace(tzinfo=None), "m") == e


@pytest.mark.parametrize("hours", [1.0, 24.0, 47.5, 48.0])
def test_expiry_counts_exactly_the_business_hours(hours: float) -> None:
    # Walk minute by minute and count only business-day minutes: the brute-force reading of
    # the regulation.
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


# ---------------------------------------------------------------------------------------------
# The jail's local days (regressions: each failed on the clock that counted UTC days)


def test_los_angeles_thursday_midnight_ends_saturday_midnight_local() -> None:
    # Thursday 9 October 2014 00:00 in Los Angeles is 07:00 UTC: counted in UTC days, the
    # last 7 hours fell after the weekend and Columbus Day, on Tuesday (72 h later).
    start = local(LA, 2014, 10, 9, 0, 0)
    expires = hold_expires_at(start, 48, True, county_zone("06037"))
    assert expires == local(LA, 2014, 10, 11, 0, 0)
    assert expires.isoformat() == "2014-10-11T00:00:00-07:00"
    assert latest_release(start, 48, True, LA) == expires


def test_pima_wednesday_evening_hold_ends_friday_evening_local() -> None:
    # Wednesday 5 June 2013 20:00 in Tucson (UTC-7, no daylight saving): 4 h Wednesday,
    # 24 h Thursday, 20 h Friday.
    assert county_zone("04019") == PHOENIX
    expires = hold_expires_at(local(PHOENIX, 2013, 6, 5, 20, 0), 48, True, PHOENIX)
    assert expires == local(PHOENIX, 2013, 6, 7, 20, 0)


def test_honolulu_friday_evening_is_still_friday() -> None:
    # Friday 17:00 in Honolulu is Saturday 03:00 UTC: the 7 local hours left on Friday count.
    start = local("Pacific/Honolulu", 2013, 3, 1, 17, 0)
    expires = hold_expires_at(start, 48, True, "Pacific/Honolulu")
    assert expires == local("Pacific/Honolulu", 2013, 3, 5, 17, 0)


def test_holidays_are_known_after_2035() -> None:
    # 4 July 2040 is a Wednesday: the calendar that ended in 2035 counted it as a workday.
    start = local("America/Chicago", 2040, 7, 3, 18, 0)
    expires = hold_expires_at(start, 48, True, "America/Chicago")
    assert expires == local("America/Chicago", 2040, 7, 6, 18, 0)


def test_dates_outside_the_calendar_are_refused_by_name() -> None:
    with pytest.raises(OutsideCalendar, match="2101.*outside the hold clock's calendar"):
        hold_expires_at(at(2101, 3, 1, 12), 48, True, LA)
    with pytest.raises(OutsideCalendar, match="1989"):
        hold_expires_at(at(1989, 3, 1, 12), 48, True, LA)
    with pytest.raises(OutsideCalendar, match="runs past 2100-12-31"):
        hold_expires_at(at(2100, 12, 31, 12), 48, True, LA)


def test_a_hold_starting_on_new_years_eve_local_time_in_a_new_utc_decade() -> None:
    # 1 January 2010, 03:00 UTC is Thursday 31 December 2009, 19:00 in Los Angeles: the jail's
    # day is the last of the decade before (the clock once looked in 2010's table and refused
    # it as "before 1990"). Five hours of Thursday; Friday is New Year's Day, then the weekend;
    # Monday's 24 hours and 19 of Tuesday's.
    expected = local(LA, 2010, 1, 5, 19, 0)
    assert hold_expires_at(at(2010, 1, 1, 3), 48, True, LA) == expected
    starts = np.array([np.datetime64("2010-01-01T03:00"), np.datetime64("2010-06-01T12:00")])
    ends = hold_expiry(starts, 48.0, True, LA)
    assert ends[0] == np.datetime64(expected.astimezone(UTC).replace(tzinfo=None), "m")
    limits = [(np.full(2, 48.0), np.ones(2, bool))]
    assert not over_held_many(starts, ends, limits, [LA], np.zeros(2, np.intp)).any()


def test_elapsed_limit_stays_in_elapsed_hours_across_daylight_saving() -> None:
    # Friday 1 November 2013 12:00 PDT + 48 elapsed hours: the clocks went back on Sunday,
    # so the wall clock shows 11:00 PST, 48 real hours later.
    start = local(LA, 2013, 11, 1, 12, 0)
    expires = hold_expires_at(start, 48, False, LA)
    assert expires - start == dt.timedelta(hours=48)
    assert expires.replace(tzinfo=None) == dt.datetime(2013, 11, 3, 11, 0)
    # In business hours the weekend (with its 25-hour Sunday) does not count at all.
    assert hold_expires_at(start, 48, True, LA) == local(LA, 2013, 11, 5, 12, 0)


def test_the_earliest_limit_binds() -> None:
    # DC's 24 elapsed hours against the federal 48 business hours, from a Friday noon.
    start = np.array(["2013-06-07T16:00"], dtype="datetime64[m]")
    zone = "America/New_York"
    limits = [(np.array([48.0]), np.array([True])), (np.array([24.0]), np.array([False]))]
    assert earliest_expiry(start, limits, zone)[0] == np.datetime64("2013-06-08T16:00", "m")
    one = hold_ends_by(at(2013, 6, 7, 16), [(48.0, True), (24.0, False)], zone)
    assert one == at(2013, 6, 8, 16)


def test_dc_counts_its_24_hours_as_elapsed_hours() -> None:
    day = dt.date(2013, 6, 7)
    rules = rules_in_force("11001", day)
    limits = [
        (float(h[0]), bool(e[0]))
        for h, e in hold_limits(rules.policy_arrays(), rules.regime_arrays())
    ]
    assert (24.0, False) in limits and limits[0] == (48.0, True)


# ---------------------------------------------------------------------------------------------
# Through the pipeline: Pima County, bail at 20:00 local, ICE 73.7 hours later


@dataclass(frozen=True)
class _Event:
    step: str
    occurred_at: dt.datetime
    payload: dict[str, Any]


PIMA_BAIL = local(PHOENIX, 2013, 6, 5, 20, 0)
ICE_AFTER_HOURS = 73.7


def _pima_hold(delay_hours: float) -> jail.StepResult:
    # ICE always comes, exactly ``delay_hours`` after the hold starts.
    practice = default_practice().model_copy(
        update={
            "pickup_rate": {"default": 1.0},
            "pickup_delay_median_hours": delay_hours,
            "pickup_delay_sigma": 0.0,
        }
    )
    booking = {
        "ori": "AZ0100000",
        "county_fips": "04019",
        "place_of_birth": "MM",
        "booked_at": (PIMA_BAIL - dt.timedelta(hours=30)).isoformat(),
        "custody": {"reason": "bail", "after_hours": 30.0},
        "contact": "brother",
    }
    rules = rules_in_force("04019", PIMA_BAIL.date())
    detainer = {
        "form": "I-247",
        "fields": {"hold_48h": True},
        "judicial_warrant": False,
        "level": "level_2",
    }
    answer = {"honored": True, "form": "I-247", "hold_limit_hours": 48.0}
    return jail.release(
        PIMA_BAIL,
        "bail",
        booking,
        answer,
        detainer,
        rules,
        practice,
        np.random.default_rng(0),
        wanted=True,
    )


def test_pima_person_is_released_at_the_local_limit_not_picked_up_after_it() -> None:
    result = _pima_hold(ICE_AFTER_HOURS)
    started = result.events[0]
    assert started.step == "hold.started"
    assert started.payload["started_at"] == "2013-06-05T20:00:00-07:00"
    assert started.payload["hold_expires_at"] == "2013-06-07T20:00:00-07:00"
    assert started.payload["time_zone"] == PHOENIX
    (nxt,) = result.next
    assert nxt.step == "hold.expire"  # ICE's 73.7 h is past the limit: the clock ends it
    assert nxt.at - PIMA_BAIL == dt.timedelta(hours=48)
    ended = jail.end_hold_at_expiry(
        nxt.at,
        {"ori": "AZ0100000", "county_fips": "04019"},
        PIMA_BAIL,
        rules_in_force("04019", PIMA_BAIL.date()),
        default_practice(),
        np.random.default_rng(0),
    )
    assert ended.events[1].payload["released_at"] == "2013-06-07T20:00:00-07:00"


def _case(started: dict[str, Any], ended_after_hours: float, booking: dict[str, Any]) -> Any:
    end = PIMA_BAIL + dt.timedelta(hours=ended_after_hours)
    events = [
        _Event("booking", PIMA_BAIL - dt.timedelta(hours=30), booking),
        _Event("hold.started", PIMA_BAIL, started),
        _Event("hold.ended", end, {"reason": "ice_pickup"}),
        _Event("transfer", end, {}),
    ]
    return fold("pima-1", events)


def test_over_hold_counter_sees_a_hold_past_the_local_limit() -> None:
    booking = {"county_fips": "04019", "truth": {"status": "unauthorized"}}
    # The log the UTC-day clock wrote: an expiry on Sunday 20:00 local, a pickup at 73.7 h.
    old = {"hold_expires_at": "2013-06-10T03:00:00+00:00", "limit_hours": 48.0}
    assert summarize([_case(old, ICE_AFTER_HOURS, booking)])["over_holds"] == 1
    # The log this clock writes, with ICE inside the limit: no over-hold.
    new = _pima_hold(20.0).events[0].payload
    assert summarize([_case(new, 20.0, booking)])["over_holds"] == 0


def test_no_code_path_lets_a_pickup_pass_the_local_limit() -> None:
    expires = local(PHOENIX, 2013, 6, 7, 20, 0)
    with pytest.raises(AssertionError, match="past the hold's limit"):
        court.transfer(
            expires + dt.timedelta(minutes=1),
            {"ori": "AZ0100000", "county_fips": "04019"},
            PIMA_BAIL,
            expires,
            default_practice(),
            rng=np.random.default_rng(0),
        )


# ---------------------------------------------------------------------------------------------
# Properties: any start 2008-2035, any of the zones, any limit 1-48 h, either way of counting

STARTS = st.datetimes(min_value=dt.datetime(2008, 1, 1), max_value=dt.datetime(2035, 12, 31))
HOURS = st.integers(min_value=60, max_value=48 * 60).map(lambda m: m / 60)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _utc_minute(moment: dt.datetime) -> dt.datetime:
    return moment.replace(second=0, microsecond=0, tzinfo=UTC)


def _counted_minutes(start: dt.datetime, end: dt.datetime, zone: str) -> tuple[int, bool]:
    """Minutes of [start, end) on the jail's business days, one minute at a time; and whether
    the last minute before ``end`` counted (the hold ends as soon as the limit is used up)."""
    tz = ZoneInfo(zone)
    us = holidays.country_holidays("US", observed=True)
    counted, moment, last = 0, start, False
    while moment < end:
        day = moment.astimezone(tz).date()
        last = day.weekday() < 5 and day not in us
        counted += last
        moment += dt.timedelta(minutes=1)
    return counted, last


@SETTINGS
@given(start=STARTS, zone=st.sampled_from(ZONES), hours=HOURS, excluded=st.booleans())
def test_vectorized_expiry_equals_the_independent_walk(
    start: dt.datetime, zone: str, hours: float, excluded: bool
) -> None:
    begin = _utc_minute(start)
    fast = hold_expires_at(begin, hours, excluded, zone)
    assert fast == latest_release(begin, hours, excluded, zone)


@settings(max_examples=25, deadline=None)
@given(start=STARTS, zone=st.sampled_from(ZONES), hours=HOURS)
def test_hold_never_passes_the_limit_counted_in_local_days(
    start: dt.datetime, zone: str, hours: float
) -> None:
    begin = _utc_minute(start)
    expires = hold_expires_at(begin, hours, True, zone)
    counted, last_counted = _counted_minutes(begin, expires.astimezone(UTC), zone)
    assert counted == round(hours * 60)
    assert last_counted  # not a minute kept beyond the limit's last counted minute
    assert not held_too_long(begin, expires, [(hours, True)], zone)
    assert held_too_long(begin, expires + dt.timedelta(minutes=1), [(hours, True)], zone)


@SETTINGS
@given(
    starts=st.lists(STARTS, min_size=1, max_size=30),
    zone_index=st.lists(st.integers(0, len(ZONES) - 1), min_size=30, max_size=30),
    hours=st.lists(HOURS, min_size=30, max_size=30),
    excluded=st.lists(st.booleans(), min_size=30, max_size=30),
)
def test_a_batch_is_clocked_as_each_hold_alone(
    starts: list[dt.datetime], zone_index: list[int], hours: list[float], excluded: list[bool]
) -> None:
    n = len(starts)
    begin = np.array([np.datetime64(s.replace(second=0, microsecond=0), "m") for s in starts])
    index = np.array(zone_index[:n])
    h, e = np.array(hours[:n]), np.array(excluded[:n])
    many = hold_expiry(begin, h, e, ZONES, index)
    for i in range(n):
        one = latest_release(_utc_minute(starts[i]), h[i], bool(e[i]), ZONES[index[i]])
        assert np.datetime64(one.replace(tzinfo=None), "m") == many[i]
    # The counters' own check agrees that the clock's expiry is within every limit, and that a
    # minute more is past it.
    limits = [(h, e)]
    assert not over_held_many(begin, many, limits, ZONES, index).any()
    assert over_held_many(begin, many + np.timedelta64(1, "m"), limits, ZONES, index).all()


@SETTINGS
@given(
    starts=st.lists(STARTS, min_size=1, max_size=40),
    zone=st.sampled_from(ZONES),
    hours=st.lists(st.integers(0, 120 * 60).map(lambda m: m / 60), min_size=40, max_size=40),
    excluded=st.lists(st.booleans(), min_size=40, max_size=40),
)
def test_the_checks_walk_for_many_holds_is_the_walk_for_each(
    starts: list[dt.datetime], zone: str, hours: list[float], excluded: list[bool]
) -> None:
    n = len(starts)
    begin = np.array([np.datetime64(s.replace(second=0, microsecond=0), "m") for s in starts])
    h, e = np.array(hours[:n]), np.array(excluded[:n])
    many = latest_releases(begin, h, e, zone)
    for i in range(n):
        one = latest_release(_utc_minute(starts[i]), h[i], bool(e[i]), zone)
        assert np.datetime64(one.replace(tzinfo=None), "m") == many[i]


@pytest.mark.parametrize(
    "zone, fields",
    [
        (LA, (2014, 3, 7, 23, 30)),  # Friday before the spring change
        (LA, (2014, 3, 9, 1, 59)),  # the last minute before 02:00 becomes 03:00
        ("America/New_York", (2014, 11, 2, 1, 30)),  # the repeated hour (first pass)
        ("America/Chicago", (2013, 11, 1, 18, 0)),
        ("America/Anchorage", (2012, 3, 9, 22, 0)),
    ],
)
def test_daylight_saving_weekends(zone: str, fields: tuple[int, ...]) -> None:
    start = local(zone, *fields).astimezone(UTC)
    for hours in (1.0, 24.0, 48.0):
        for excluded in (True, False):
            fast = hold_expires_at(start, hours, excluded, zone)
            assert fast == latest_release(start, hours, excluded, zone)
        expires = hold_expires_at(start, hours, True, zone).astimezone(UTC)
        assert _counted_minutes(start, expires, zone)[0] == round(hours * 60)
