"""The live pipeline's synthetic county books people at the rate the national simulation
uses: the year's admissions paced by the bookings' season (one function, one flow)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np

from scomm.pipeline.synthetic import CountyFacts, booking_rates, draw_bookings
from scomm.population import admissions_per_capita, admissions_rate, season
from scomm.simulation.assumptions import Assumptions

FACTS = CountyFacts(
    fips="06085",
    name="Test County",
    state="CA",
    population=1_000_000,
    noncitizen_share=0.2,
    activation_date=dt.date(2010, 5, 1),
    field_office="SFR",
)


def test_the_pipelines_days_book_at_the_engines_monthly_rate() -> None:
    start = dt.date(2012, 11, 1)  # November to January: the season's low, across a new year
    rates = booking_rates(FACTS, start, 92)
    days = [start + dt.timedelta(days=d) for d in range(92)]
    for year, month in ((2012, 11), (2012, 12), (2013, 1)):
        inside = np.array([(d.year, d.month) == (year, month) for d in days])
        expected = admissions_rate(year, month) * FACTS.population / 365.0
        assert np.allclose(rates[inside], expected)
    # The season is there, not a flat year's rate.
    months = [(d.year, d.month) for d in days]
    december = rates[months.index((2012, 12))]
    flat = admissions_per_capita(2012) * FACTS.population / 365.0
    assert np.isclose(december, flat * season(12))
    assert season(12) != 1.0


def test_drawn_bookings_follow_the_season() -> None:
    county = dataclasses.replace(FACTS, population=200_000)
    start = dt.date(2013, 6, 1)  # June (season high) then December (low), drawn day by day
    june = draw_bookings(np.random.default_rng(3), county, start, 30, 3, Assumptions.priors())
    december = draw_bookings(
        np.random.default_rng(3), county, dt.date(2013, 12, 1), 30, 3, Assumptions.priors()
    )
    expected = (
        booking_rates(county, start, 30).sum(),
        booking_rates(county, dt.date(2013, 12, 1), 30).sum(),
    )
    # Poisson counts: within 4 standard deviations of the rate in force on those days.
    for drawn, mean in zip((len(june), len(december)), expected, strict=True):
        assert abs(drawn - mean) < 4 * np.sqrt(mean)
    assert len(june) > len(december)
    assert all(b.booked_at.date().month == 6 for b in june)
