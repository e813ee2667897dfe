"""ICE's practice taken up over time, the season of bookings, and jails' own declines."""

from __future__ import annotations

import calendar
import datetime as dt

import numpy as np
import polars as pl
import pytest

from scomm.errors import DataError
from scomm.policies import flow
from scomm.policies.load import federal_regimes
from scomm.policies.practice import default_practice
from scomm.population import season
from scomm.record.detainers import seasonal_profile


def _starts() -> dict[str, np.datetime64]:
    return {p.regime.name: np.datetime64(p.start, "D") for p in federal_regimes().periods}


def test_a_regime_is_taken_up_in_a_straight_line() -> None:
    starts = _starts()
    values = {"threat_levels_2008": 1.0, "discretion_memo_2011": 0.5, "mandatory_2011": 0.5}
    begin = starts["discretion_memo_2011"]
    days = begin + np.array([-1, 0, 10, 20, 40], dtype="timedelta64[D]")
    followed, own = flow.phased_in(values, 1.0, days, 20.0)
    assert own.tolist() == [1.0, 0.5, 0.5, 0.5, 0.5]
    # From the old value on the memo's day to the new one 20 days later, halfway at 10.
    assert followed.tolist() == pytest.approx([1.0, 1.0, 0.75, 0.5, 0.5])
    # Overnight when phase_in_days is 0.
    overnight, _ = flow.phased_in(values, 1.0, days, 0.0)
    assert overnight.tolist() == [1.0, 0.5, 0.5, 0.5, 0.5]


def test_a_regime_cut_short_hands_on_where_the_practice_stood() -> None:
    starts = _starts()
    values = {"threat_levels_2008": 1.0, "discretion_memo_2011": 0.0, "mandatory_2011": 0.0}
    lasted = int((starts["mandatory_2011"] - starts["discretion_memo_2011"]).astype(int))
    slow = 4.0 * lasted  # the 2011 memo's period ends a quarter of the way
    followed, _ = flow.phased_in(values, 1.0, np.array([starts["mandatory_2011"]]), slow)
    assert followed[0] == pytest.approx(0.75)
    # Unnamed regimes take the fallback; days before the first regime its value.
    before, own = flow.phased_in({}, 2.0, np.array([np.datetime64("2000-01-01")]), 30.0)
    assert before[0] == own[0] == 2.0


def test_act_phase_in_is_one_once_taken_up_and_under_equal_scales() -> None:
    practice = default_practice().model_copy(
        update={
            "phase_in_days": 100.0,
            "act_scale": {"threat_levels_2008": 0.5, "discretion_memo_2011": 1.0},
        }
    )
    begin = _starts()["discretion_memo_2011"]
    factor = flow.act_phase_in(practice, np.array([begin, begin + 25, begin - 5]))
    assert factor.tolist() == pytest.approx([0.5, 0.625, 1.0])
    equal = practice.model_copy(update={"act_scale": {}})
    assert (flow.act_phase_in(equal, np.array([begin, begin + 25])) == 1.0).all()


def test_the_season_is_read_from_a_record() -> None:
    # Two flat years but for December, at half the other months' rate per day.
    months = [dt.date(2008 + (m // 12), m % 12 + 1, 1) for m in range(36)]
    counts = [
        (50 if d.month == 12 else 100) * calendar.monthrange(d.year, d.month)[1] for d in months
    ]
    profile = seasonal_profile(
        pl.DataFrame({"month": months, "detainers": counts}), "2008-07", "2010-06"
    )
    assert profile[12] < 0.6 < profile[11]
    assert np.mean(list(profile.values())) == pytest.approx(1.0)
    with pytest.raises(DataError, match="calendar months"):
        seasonal_profile(pl.DataFrame({"month": months, "detainers": counts}), "2009-01", "2009-03")


def test_the_packaged_season_has_every_month_about_one() -> None:
    values = [season(m) for m in range(1, 13)]
    assert np.mean(values) == pytest.approx(1.0, abs=0.01)
    assert min(values) == season(12) and season(12) < 0.95 < season(7)


def test_jails_decline_at_their_own_rate() -> None:
    practice = default_practice().model_copy(update={"lea_own_decline_rate": 0.2})
    declined = flow.jail_declines_anyway(np.random.default_rng(3), 20_000, practice)
    assert declined.mean() == pytest.approx(0.2, abs=0.01)
    none = practice.model_copy(update={"lea_own_decline_rate": 0.0})
    assert not flow.jail_declines_anyway(np.random.default_rng(3), 1000, none).any()
