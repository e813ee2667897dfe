"""The real record (ICE's detainers under FOIA) and the comparisons with the model."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import polars as pl
import pytest
from _public_data import JURISDICTIONS, needs_public_data
from typer.testing import CliRunner

from scomm.errors import DataError
from scomm.record import detainers as record
from scomm.record.series import Comparison, ModelSeries, Row, compare, gaps_by_year

F = TypeVar("F", bound=Callable[..., None])
RECORD_FILES = [
    record.BY_MONTH_CSV,
    record.BY_YEAR_CSV,
    record.LIFT_REASONS_CSV,
    record.US_CITIZENS_CSV,
    record.PENNSYLVANIA_CSV,
]


def needs_record(test: F) -> F:
    for mark in needs_public_data([*JURISDICTIONS, *RECORD_FILES]):
        test = mark(test)
    return test


def _write_record(root: Path, months: dict[str, int], declined: dict[int, int]) -> None:
    (root / "detainers").mkdir(parents=True)
    lines = ["year_month,count", *(f"{m},{n}" for m, n in months.items())]
    (root / record.BY_MONTH_CSV).write_text("\n".join(lines) + "\n")
    years: dict[int, int] = {}
    for m, n in months.items():
        years[int(m[:4])] = years.get(int(m[:4]), 0) + n
    (root / record.BY_YEAR_CSV).write_text(
        "year,count\n" + "".join(f"{y},{n}\n" for y, n in years.items())
    )
    (root / record.LIFT_REASONS_CSV).write_text(
        "year,lift_reason,count\n"
        + "".join(
            f"{y},{record.DECLINED},{n}\n{y},{record.BOOKED},{n * 3}\n" for y, n in declined.items()
        )
    )
    (root / record.US_CITIZENS_CSV).write_text("year,count\n2010,5\n")


OUTPUTS = ("detainers_issued", "detainers_declined", "transfers", "us_citizens_detainers")


def _model(months: list[str], per_month: np.ndarray) -> ModelSeries:
    """Runs x months of detainers; declined a tenth of them, transfers half."""
    national = np.stack([per_month, per_month * 0.1, per_month * 0.5, per_month * 0.0], axis=-1)
    return ModelSeries(tuple(months), OUTPUTS, national)


def test_rows_gaps_and_tolerance() -> None:
    row = Row("2010-01", 100.0, 112.0, 105.0, 118.0)
    assert row.gap == pytest.approx(0.12)
    assert row.within(0.15) and not row.within(0.10)
    assert math.isnan(Row("2010-01", 0.0, 5.0, 5.0, 5.0).gap)


def test_compare_on_a_made_up_record(tmp_path: Path) -> None:
    months = [f"2010-{m:02d}" for m in range(1, 13)] + ["2011-01", "2011-02"]
    real = {m: 1000 + 10 * i for i, m in enumerate(months)}
    _write_record(tmp_path, real, {2010: 50})
    # Two runs: the model 10% over the record in run 0, 10% under in run 1 (mean = record).
    base = np.array([real[m] for m in months], dtype=float)
    model = _model(months, np.stack([base * 1.1, base * 0.9]))
    by_key = {c.key: c for c in compare(model, tmp_path)}
    monthly = by_key["national_by_month"]
    assert [r.period for r in monthly.rows] == months
    assert all(r.gap == pytest.approx(0.0) for r in monthly.rows)
    assert all(r.low < r.real < r.high for r in monthly.rows)
    assert monthly.within_share == 1.0
    # Calendar 2011 is not wholly simulated: only 2010 is compared by year.
    assert [r.period for r in by_key["national_by_year"].rows] == ["2010"]
    # FY2010 lacks Oct-Dec 2009 in the run, FY2011 the months after February: neither.
    assert by_key["national_by_fiscal_year"].rows == ()
    declined = by_key["declined_by_year"].rows[0]
    # The record gives 200 of 2010's detainers a reason: the model's declines at that share.
    with_reason = 200 / base[:12].sum()
    assert declined.real == 50
    assert declined.mean == pytest.approx(0.1 * base[:12].sum() * with_reason)
    share = by_key["declined_share_by_year"].rows[0]
    assert share.real == pytest.approx(50 / 200) and share.mean == pytest.approx(0.1)
    # No watched counties: no Pennsylvania comparison.
    assert "pennsylvania_county_month" not in by_key


def test_gaps_by_year_sum_months() -> None:
    rows = tuple(Row(f"2010-{m:02d}", 100.0, 90.0, 80.0, 95.0) for m in range(1, 13))
    c = Comparison("x", "x", "x", ("detainers_issued",), True, 0.15, rows, "test")
    (year,) = gaps_by_year(c)
    assert (year.year, year.real, year.model, year.within, year.periods) == (
        "2010",
        1200.0,
        1080.0,
        12,
        12,
    )
    assert year.gap == pytest.approx(-0.1)


def test_a_bad_count_names_its_line(tmp_path: Path) -> None:
    (tmp_path / "detainers").mkdir()
    (tmp_path / record.BY_YEAR_CSV).write_text("year,count\n2010,5\n2011,many\n")
    with pytest.raises(DataError, match=r"npr_all_detainers_by_year.csv:3.*many"):
        record.national_by_year(tmp_path)
    (tmp_path / record.BY_MONTH_CSV).write_text("year_month,count\n2010-13,5\n")
    with pytest.raises(DataError, match=r"by_year_and_month.csv:2.*YYYY-MM"):
        record.national_by_month(tmp_path)


def test_facility_rules() -> None:
    counties = {"MONTGOMERY": "42091", "DELAWARE": "42045", "LACKAWANNA": "42069"}
    assert record.facility_kind("LEWISBURG U.S. PEN.") is record.FacilityKind.FEDERAL
    assert record.facility_kind("SCI GRATERFORD, PA") is record.FacilityKind.STATE_PRISON
    assert record.facility_kind("DELAWARE CO. JUVI CENTER") is record.FacilityKind.JUVENILE
    assert record.facility_kind("MONTGOMERY CNTY JAIL, PA") is record.FacilityKind.LOCAL
    assert record.place_facility("DELAWARE CO JAIL", "THORNTON", counties)[0] == "42045"
    assert record.place_facility("LACKAWANA CNTY JAIL, PA", "SCRANTON", counties)[0] == "42069"
    assert record.place_facility("ROUNDHOUSE PHI, PA", "PHILADELPHIA", counties)[0] == "42101"
    assert record.place_facility("RIVERSIDE CORR. FACILITY", "READING", counties)[0] is None
    assert record.fiscal_year(dt.date(2011, 10, 1)) == 2012
    assert record.fiscal_year(dt.date(2012, 9, 30)) == 2012


# ---------------------------------------------------------------------------------------------
# The record itself


@needs_record
def test_the_national_files_agree_with_each_other() -> None:
    monthly = record.national_by_month()
    yearly = dict(record.national_by_year().iter_rows())
    sums = dict(
        monthly.group_by(pl.col("month").dt.year().alias("y"))
        .agg(pl.col("detainers").sum())
        .iter_rows()
    )
    assert sums == yearly  # the calendar-year file is the months summed
    citizens = dict(record.us_citizens_by_year().iter_rows())
    reasons = record.lift_reasons_by_year().filter(pl.col("lift_reason") == record.US_CITIZEN)
    assert {y: n for y, _, n in reasons.iter_rows()} == citizens
    assert monthly["month"].min() == dt.date(2007, 10, 1)
    assert monthly["month"].max() == dt.date(2015, 7, 1)


@needs_record
def test_pennsylvania_facilities_are_placed_or_listed() -> None:
    rows = record.pennsylvania_detainers()
    assert rows.height == 32757
    for f in record.pennsylvania_facilities():
        if f.kind is record.FacilityKind.LOCAL:
            assert f.fips is not None or f in record.unplaced_facilities()
            assert f.fips is None or f.fips.startswith("42")
        else:
            assert f.fips is None
    county_month = record.pennsylvania_county_month()
    assert county_month["detainers"].sum() == rows.filter(pl.col("fips").is_not_null()).height
    # Philadelphia's April 2014 order: detainers ending in ICE custody fall away.
    philly = rows.filter(
        (pl.col("fips") == record.PHILADELPHIA) & (pl.col("lift_reason") == record.BOOKED)
    )

    def booked(first: dt.date, last: dt.date) -> int:
        return philly.filter(pl.col("day").is_between(first, last)).height

    before = booked(dt.date(2013, 5, 1), dt.date(2013, 12, 31))
    after = booked(dt.date(2014, 5, 1), dt.date(2014, 12, 31))
    assert after < before / 3


@needs_record
def test_validate_on_a_saved_run(tmp_path: Path) -> None:
    from scomm.cli import app
    from scomm.simulation.engine import Options
    from scomm.simulation.national import Plan, simulate_plan
    from scomm.simulation.results import Outcome

    plan = Plan("2013-10", "2013-12", 3, 2, options=Options(sample=0.005))
    runs = simulate_plan(plan, workers=1)
    Outcome(plan, runs, 0.0).write_parquet(tmp_path / "run")
    model = ModelSeries.from_parquet(tmp_path / "run")
    direct = ModelSeries.from_runs(runs["baseline"])
    assert model.months == ("2013-10", "2013-11", "2013-12") and model.runs == 2
    assert np.allclose(model.national, direct.national)
    assert model.watched_fips == direct.watched_fips and len(model.watched_fips) == 67
    assert np.allclose(model.watched, direct.watched)
    # With the run's practice, the prison door stands beside the county run.
    from scomm.simulation.prisons import prison_detainers

    practice = plan.assumptions.practice
    doors = ModelSeries.from_runs(runs["baseline"], practice)
    assert doors.prison is not None
    assert doors.prison.tolist() == prison_detainers(model.months, practice).tolist()
    saved = ModelSeries.from_parquet(tmp_path / "run", practice).prison
    assert saved is not None and saved.tolist() == doors.prison.tolist()
    # The watched counties are the state's share of the national run.
    k = model.outputs.index("detainers_issued")
    assert model.watched[..., k].sum() <= model.national[..., k].sum()

    result = CliRunner().invoke(
        app,
        [
            "validate",
            "--results",
            str(tmp_path / "run"),
            "--json",
            str(tmp_path / "v.json"),
            "--out",
            str(tmp_path / "png"),
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "v.json").read_text())
    series = {s["key"]: s for s in data["series"]}
    monthly = series["national_by_month"]
    assert [r["period"] for r in monthly["rows"]] == list(model.months)
    real = dict((m.strftime("%Y-%m"), n) for m, n in record.national_by_month().iter_rows())
    assert [r["real"] for r in monthly["rows"]] == [real[m] for m in model.months]
    assert series["pennsylvania_county_month"]["rows"]
    # The calibration's residuals from the record: finite, bounded, one per compared period.
    from scomm.simulation.assumptions import load_assumptions
    from scomm.simulation.calibration import GAP_CLIP, record_residuals

    residuals = record_residuals(runs["baseline"], load_assumptions())
    assert residuals.size == 3 + 0 + 0 + 0  # three months; no full year in a quarter
    assert np.isfinite(residuals).all() and (np.abs(residuals) <= GAP_CLIP).all()
    assert (tmp_path / "png" / "national_by_month.png").stat().st_size > 1000


def test_the_prison_door_is_dated_by_regime(tmp_path: Path) -> None:
    import calendar

    from scomm.policies.practice import default_practice
    from scomm.population import season
    from scomm.simulation.prisons import AVERAGE_MONTH_DAYS, prison_detainers

    practice = default_practice().model_copy(
        update={
            "prison_detainers_per_month": {"threat_levels_2008": 100.0, "mandatory_2011": 300.0},
            "prison_custody_share": 0.5,
            "phase_in_days": 0.0,
        }
    )
    months = ["2010-01", "2010-02", "2012-01", "2013-06"]

    def expected(rate: float, month: str) -> float:
        days = calendar.monthrange(int(month[:4]), int(month[5:]))[1]
        return rate * days / AVERAGE_MONTH_DAYS * season(int(month[5:]))

    got = prison_detainers(months, practice)
    assert got.tolist() == pytest.approx(
        [expected(100.0, "2010-01"), expected(100.0, "2010-02"), expected(300.0, "2012-01"), 0.0]
    )
    # A month before the program began takes the first regime's rate.
    assert prison_detainers(["2008-09"], practice)[0] == pytest.approx(expected(100.0, "2008-09"))
    # Taken up over a year: five months into mandatory_2011 (from 2011-08-05) the door stands
    # between the old and the new rate.
    slow = practice.model_copy(update={"phase_in_days": 365.0})
    january = prison_detainers(["2012-01"], slow)[0] / expected(1.0, "2012-01")
    assert 100.0 < january < 300.0
    assert prison_detainers(["2013-06"], slow)[0] > 0.0  # the gap to 0 closes over a year too

    # Beside the county run, the door adds to detainers and, at its custody share, to transfers.
    span = [f"2010-{m:02d}" for m in range(1, 13)]
    _write_record(tmp_path, {m: 1100 for m in span}, {2010: 10})
    model = _model(span, np.full((1, 12), 1000.0)).with_prisons(practice)
    by_key = {c.key: c for c in compare(model, tmp_path)}
    door = prison_detainers(span, practice)
    assert by_key["national_by_month"].rows[0].mean == pytest.approx(1000.0 + door[0])
    assert "prison door" in " ".join(by_key["national_by_month"].model_outputs)
    booked = by_key["booked_by_year"].rows[0]
    with_reason = 40 / (12 * 1100)  # the record's reasons: 10 declined, 30 booked
    assert booked.mean == pytest.approx((12 * 500.0 + 0.5 * door.sum()) * with_reason)
    declined = by_key["declined_by_year"].rows[0]
    assert declined.mean == pytest.approx(12 * 100.0 * with_reason)  # prisons decline nothing


def test_calibrate_refuses_an_unknown_free_assumption() -> None:
    from scomm.cli import app

    result = CliRunner().invoke(app, ["calibrate", "--free", "practice.no_such_rate"])
    assert result.exit_code != 0
    assert "practice.no_such_rate" in str(result.exception)
