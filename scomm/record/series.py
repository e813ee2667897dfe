"""Which model output each real series is compared with, and the comparisons themselves.

ICE's record counts every detainer, from every door. The model's ``detainers_issued`` is the
same: detainers after an IDENT match (Secure Communities), through the Criminal Alien Program
(``cap_detainers``, a part of it) and through 287(g) officers (``g287_detainers``, a part of it
where the runner models 287(g)). So:

================================  =============================================  ===========
real series                       model output                                   use
================================  =============================================  ===========
detainers by month                ``detainers_issued`` by month                   fitted
detainers by fiscal year          ``detainers_issued`` by fiscal year (Oct-Sep)   fitted
detainers by calendar year        ``detainers_issued`` by calendar year           check
"Detainer Declined by LEA"        ``detainers_declined`` by calendar year, times  fitted
                                  the year's share with a recorded reason
"Booked into Detention"           ``transfers`` by calendar year, as above        fitted
lift-reason mix (share booked,    ``transfers`` / ``detainers_declined`` /        fitted
declined, other, of detainers     rest, over ``detainers_issued``
with a recorded reason)
"United States Citizen            ``us_citizens_detainers`` by calendar year, as  check
Interviewed"                      above (citizens given a detainer; the record
                                  counts those ICE found out: a floor)
Pennsylvania county-month         ``detainers_issued`` of the county by month     fitted
(local jails and lockups)
Philadelphia, booked into         ``transfers`` of 42101 by month                 check
detention by month
================================  =============================================  ===========

Counts by lift reason cover only the detainers the release gives a reason: about half of each
year's (the lift-reason file's total over the calendar-year file's). The model's count of a
reason is set beside the record's at that year's share, taking the reasons as missing at
random (nothing in the release says which go missing); the mix is compared as shares among
detainers with a reason, which needs no such step.

A period is compared only when the run covers all of it and the record has it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from scomm.record import detainers as record

if TYPE_CHECKING:
    from scomm.policies.practice import Practice
    from scomm.simulation.national import ScenarioRuns

PRISON_DOOR = "prison door (practice.prison_detainers_per_month)"

INTERVAL = (5.0, 95.0)  # percentiles over runs: a 90% interval


@dataclass(frozen=True)
class ModelSeries:
    """What the comparisons need of a run: national outputs by month for every run, and the
    watched counties' (Pennsylvania's) by month for every run."""

    months: tuple[str, ...]  # YYYY-MM
    outputs: tuple[str, ...]
    national: np.ndarray  # [run, month, output]
    watched_fips: tuple[str, ...] = ()
    watched: np.ndarray = field(default_factory=lambda: np.zeros((1, 0, 0, 0)))  # [run, m, c, o]
    # The prison door by month (scomm.simulation.prisons), and the share ending in custody.
    prison: np.ndarray | None = None
    prison_custody_share: float = 0.0

    def with_prisons(self, practice: Practice) -> ModelSeries:
        """The same, with the prison door of ``practice`` beside the county run."""
        from scomm.simulation.prisons import prison_detainers

        return replace(
            self,
            prison=prison_detainers(self.months, practice),
            prison_custody_share=practice.prison_custody_share,
        )

    def prison_share(self, share: float = 1.0) -> np.ndarray:
        """[1, month]: the prison door's detainers (times ``share``), zero without one."""
        if self.prison is None:
            return np.zeros((1, len(self.months)))
        return share * self.prison[None, :]

    def output(self, names: Sequence[str]) -> np.ndarray:
        """[run, month]: the sum of these outputs nationally."""
        return self.national[:, :, [self.outputs.index(n) for n in names]].sum(axis=2)

    def county_output(self, fips: str, names: Sequence[str]) -> np.ndarray | None:
        if fips not in self.watched_fips:
            return None
        c = self.watched_fips.index(fips)
        return self.watched[:, :, c, [self.outputs.index(n) for n in names]].sum(axis=2)

    @property
    def runs(self) -> int:
        return int(self.national.shape[0])

    @classmethod
    def from_runs(cls, runs: ScenarioRuns, practice: Practice | None = None) -> ModelSeries:
        """From a scenario's runs in memory (:func:`scomm.simulation.national.simulate_plan`),
        with the prison door of ``practice`` (the run's assumptions) where given."""
        from scomm.simulation.engine import OUTPUTS

        watched_fips: tuple[str, ...] = ()
        watched = np.zeros((runs.runs, len(runs.months), 0, len(OUTPUTS)))
        if runs.watched is not None:
            watched_fips = tuple(str(f) for f in runs.fips[runs.watched_index])
            watched = runs.watched
        out = cls(tuple(runs.months), tuple(OUTPUTS), runs.by_month, watched_fips, watched)
        return out.with_prisons(practice) if practice is not None else out

    @classmethod
    def from_parquet(cls, directory: Path, practice: Practice | None = None) -> ModelSeries:
        """From ``scomm simulate --parquet DIR``: ``national_month.parquet`` (every run) and,
        where written, ``watched_month.parquet`` (every run of the watched counties)."""
        from scomm.errors import DataError

        path = directory / "national_month.parquet"
        if not path.is_file():
            raise DataError(str(path), "no national_month.parquet (scomm simulate --parquet DIR)")
        frame = pl.read_parquet(path)
        if "scenario" in frame.columns:
            first = frame["scenario"][0]
            frame = frame.filter(pl.col("scenario") == first)
        skip = {"scenario", "run", "month", "fips", "state_fips"}
        outputs = tuple(c for c in frame.columns if c not in skip)
        frame = frame.sort("run", "month")
        months = tuple(sorted({m.strftime("%Y-%m") for m in frame["month"]}))
        runs = frame["run"].n_unique()
        national = frame.select(outputs).to_numpy().reshape(runs, len(months), len(outputs))
        watched_path = directory / "watched_month.parquet"
        if not watched_path.is_file():
            out = cls(months, outputs, national)
            return out.with_prisons(practice) if practice is not None else out
        w = pl.read_parquet(watched_path)
        if "scenario" in w.columns:
            w = w.filter(pl.col("scenario") == w["scenario"][0])
        w = w.sort("run", "month", "fips")
        fips = tuple(sorted(set(w["fips"])))
        watched = w.select(outputs).to_numpy().reshape(runs, len(months), len(fips), len(outputs))
        out = cls(months, outputs, national, fips, watched)
        return out.with_prisons(practice) if practice is not None else out


@dataclass(frozen=True)
class Row:
    """One period of one series: the record, the model's mean and 90% interval, the gap."""

    period: str
    real: float
    mean: float
    low: float
    high: float

    @property
    def gap(self) -> float:
        """Model over record, minus one (+0.10: the model is 10% above)."""
        return self.mean / self.real - 1.0 if self.real else math.nan

    def within(self, tolerance: float) -> bool:
        return not math.isnan(self.gap) and abs(self.gap) <= tolerance

    def to_json(self) -> dict[str, Any]:
        def r(v: float) -> float | None:
            return None if math.isnan(v) else round(v, 4)

        return {
            "period": self.period,
            "real": self.real,
            "model": r(self.mean),
            "p5": r(self.low),
            "p95": r(self.high),
            "gap": r(self.gap),
        }


@dataclass(frozen=True)
class Comparison:
    key: str
    title: str
    real_series: str  # what the record counts
    model_outputs: tuple[str, ...]
    fitted: bool  # calibration fits it; otherwise a check
    tolerance: float | None  # the target's band (|gap|), None where there is none
    rows: tuple[Row, ...]
    source: str
    share: bool = False  # values are shares, not counts

    @property
    def within_share(self) -> float:
        """Share of the rows within the tolerance."""
        if not self.rows or self.tolerance is None:
            return math.nan
        return sum(r.within(self.tolerance) for r in self.rows) / len(self.rows)

    def to_json(self) -> dict[str, Any]:
        within = self.within_share
        return {
            "key": self.key,
            "title": self.title,
            "real_series": self.real_series,
            "model_outputs": list(self.model_outputs),
            "use": "fitted" if self.fitted else "check",
            "tolerance": self.tolerance,
            "share_within_tolerance": None if math.isnan(within) else round(within, 4),
            "source": self.source,
            "rows": [r.to_json() for r in self.rows],
        }


def _estimate(values: np.ndarray) -> tuple[float, float, float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return math.nan, math.nan, math.nan
    low, high = np.percentile(finite, INTERVAL)
    return float(finite.mean()), float(low), float(high)


def _grouped(
    model: ModelSeries, per_run: np.ndarray, label: Callable[[dt.date], str]
) -> dict[str, np.ndarray]:
    """[run] sums of ``per_run`` [run, month] by period, for periods the run wholly covers."""
    days = [dt.date(int(m[:4]), int(m[5:]), 1) for m in model.months]
    out: dict[str, list[int]] = {}
    for i, d in enumerate(days):
        out.setdefault(label(d), []).append(i)
    expected = {k: _months_in(k) for k in out}
    return {k: per_run[:, idx].sum(axis=1) for k, idx in out.items() if len(idx) == expected[k]}


def _months_in(period: str) -> int:
    return 1 if len(period) == 7 else 12


def _fy(d: dt.date) -> str:
    return f"FY{record.fiscal_year(d)}"


def _rows(real: dict[str, float], model: dict[str, np.ndarray]) -> tuple[Row, ...]:
    rows = []
    for period in sorted(set(real) & set(model)):
        rows.append(Row(period, real[period], *_estimate(model[period])))
    return tuple(rows)


def _fy_real(monthly: pl.DataFrame) -> dict[str, float]:
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for month, n in monthly.iter_rows():
        key = _fy(month)
        sums[key] = sums.get(key, 0) + n
        counts[key] = counts.get(key, 0) + 1
    return {k: v for k, v in sums.items() if counts[k] == 12}


def compare(model: ModelSeries, root: Path | None = None) -> list[Comparison]:
    """Every real series beside the model's (the table of the module)."""
    monthly = record.national_by_month(root)
    real_month = {m.strftime("%Y-%m"): float(n) for m, n in monthly.iter_rows()}
    detainers = model.output(["detainers_issued"]) + model.prison_share()
    national = (
        ("detainers_issued", PRISON_DOOR) if model.prison is not None else ("detainers_issued",)
    )
    by_month = {m: detainers[:, i] for i, m in enumerate(model.months)}
    out = [
        Comparison(
            "national_by_month",
            "Detainers nationally, by month",
            "every ICE detainer lodged (all doors)",
            national,
            True,
            0.15,
            _rows(real_month, by_month),
            record.NATIONAL_SOURCE,
        ),
        Comparison(
            "national_by_fiscal_year",
            "Detainers nationally, by fiscal year",
            "every ICE detainer lodged (all doors), October-September",
            national,
            True,
            0.10,
            _rows(_fy_real(monthly), _grouped(model, detainers, _fy)),
            record.NATIONAL_SOURCE,
        ),
        Comparison(
            "national_by_year",
            "Detainers nationally, by calendar year",
            "every ICE detainer lodged (all doors)",
            national,
            False,
            0.10,
            _rows(
                {str(y): float(n) for y, n in record.national_by_year(root).iter_rows()},
                _grouped(model, detainers, lambda d: str(d.year)),
            ),
            record.NATIONAL_SOURCE,
        ),
    ]
    reasons = record.lift_reasons_by_year(root)
    by_reason: dict[str, dict[str, float]] = {}
    recorded: dict[str, float] = {}
    for year, reason, n in reasons.iter_rows():
        by_reason.setdefault(reason, {})[str(year)] = float(n)
        recorded[str(year)] = recorded.get(str(year), 0.0) + n

    custody = PRISON_DOOR + f" x {model.prison_custody_share:g}"
    prison_part = {
        "detainers_issued": model.prison_share(),
        "transfers": model.prison_share(model.prison_custody_share),
    }

    def yearly(names: Sequence[str]) -> dict[str, np.ndarray]:
        per_run = model.output(names)
        for name in names:
            if name in prison_part:
                per_run = per_run + prison_part[name]
        return _grouped(model, per_run, lambda d: str(d.year))

    def shown(names: tuple[str, ...]) -> tuple[str, ...]:
        if model.prison is None:
            return names
        extra = {"detainers_issued": PRISON_DOOR, "transfers": custody}
        return names + tuple(extra[n] for n in names if n in extra)

    # The share of each year's detainers the release gives a lift reason: the record counts a
    # reason only among those, so the model's count is set beside it at that share.
    all_by_year = {str(y): float(n) for y, n in record.national_by_year(root).iter_rows()}
    with_reason = {y: recorded[y] / all_by_year[y] for y in recorded if all_by_year.get(y)}
    for key, reason, outputs, fitted, tol in (
        ("declined_by_year", record.DECLINED, ("detainers_declined",), True, 0.25),
        ("booked_by_year", record.BOOKED, ("transfers",), True, 0.25),
        ("us_citizens_by_year", record.US_CITIZEN, ("us_citizens_detainers",), False, None),
    ):
        counted = {y: v * with_reason[y] for y, v in yearly(outputs).items() if y in with_reason}
        out.append(
            Comparison(
                key,
                f'"{reason}", by year',
                f"detainers ended as {reason!r}; the model's count times the year's share of "
                "detainers with a recorded reason (about half)",
                shown(outputs) + ("x share with a reason",),
                fitted,
                tol,
                _rows(by_reason.get(reason, {}), counted),
                record.NATIONAL_SOURCE,
            )
        )
    issued = yearly(["detainers_issued"])
    booked, declined = yearly(["transfers"]), yearly(["detainers_declined"])
    for key, reason, part in (
        ("booked_share_by_year", record.BOOKED, booked),
        ("declined_share_by_year", record.DECLINED, declined),
    ):
        real_share = {
            y: by_reason.get(reason, {}).get(y, 0.0) / recorded[y] for y in recorded if recorded[y]
        }
        with np.errstate(invalid="ignore", divide="ignore"):
            model_share = {y: part[y] / issued[y] for y in part if y in issued}
        out.append(
            Comparison(
                key,
                f'Share "{reason}" among detainers with a lift reason, by year',
                f"share of {reason!r} among detainers whose end is recorded",
                shown(("transfers",) if reason == record.BOOKED else ("detainers_declined",))
                + ("over", *shown(("detainers_issued",))),
                True,
                0.25,
                _rows(real_share, model_share),
                record.NATIONAL_SOURCE,
                share=True,
            )
        )
    out.extend(_pennsylvania(model, root))
    return out


def _pennsylvania(model: ModelSeries, root: Path | None) -> list[Comparison]:
    if not model.watched_fips:
        return []
    real = record.pennsylvania_county_month(root)
    real_by: dict[tuple[str, str], float] = {
        (f, m.strftime("%Y-%m")): float(n) for f, m, n in real.iter_rows()
    }
    months = model.months
    rows = []
    totals_real: dict[str, float] = {}
    totals_model: dict[str, np.ndarray] = {}
    for fips in sorted({f for f, _ in real_by}):
        series = model.county_output(fips, ["detainers_issued"])
        if series is None:
            continue
        for i, m in enumerate(months):
            if (fips, m) in real_by:
                rows.append(Row(f"{fips} {m}", real_by[(fips, m)], *_estimate(series[:, i])))
                totals_real[m] = totals_real.get(m, 0.0) + real_by[(fips, m)]
                totals_model[m] = totals_model.get(m, 0) + series[:, i]
    out = [
        Comparison(
            "pennsylvania_county_month",
            "Pennsylvania: detainers at each county's jails, by month",
            "detainers lodged at the county's jails and lockups",
            ("detainers_issued",),
            True,
            None,
            tuple(rows),
            record.PENNSYLVANIA_SOURCE,
        ),
        Comparison(
            "pennsylvania_by_month",
            "Pennsylvania: detainers at county jails and lockups, by month",
            "detainers lodged at Pennsylvania's local facilities",
            ("detainers_issued",),
            True,
            0.25,
            _rows(totals_real, totals_model),
            record.PENNSYLVANIA_SOURCE,
        ),
    ]
    philly = model.county_output(record.PHILADELPHIA, ["transfers"])
    if philly is not None:
        d = record.pennsylvania_detainers(root).filter(
            (pl.col("fips") == record.PHILADELPHIA) & (pl.col("lift_reason") == record.BOOKED)
        )
        counts = {m.strftime("%Y-%m"): float(n) for m, n in d.group_by("month").len().iter_rows()}
        real_booked = {m: counts.get(m, 0.0) for m in months if m >= "2007-10" and m <= "2015-07"}
        out.append(
            Comparison(
                "philadelphia_booked_by_month",
                "Philadelphia: detainers ending in ICE custody, by month (the April 2014 order)",
                "detainers at Philadelphia's facilities ended 'Booked into Detention'",
                ("transfers",),
                False,
                None,
                _rows(real_booked, {m: philly[:, i] for i, m in enumerate(months)}),
                record.PENNSYLVANIA_SOURCE,
            )
        )
    return out


@dataclass(frozen=True)
class YearGap:
    """A year of a comparison: totals (or the year's row, for yearly series) and the gap."""

    year: str
    real: float
    model: float
    low: float | None  # the 90% interval where the series is yearly
    high: float | None
    within: int  # periods within the tolerance
    periods: int

    @property
    def gap(self) -> float:
        return self.model / self.real - 1.0 if self.real else math.nan

    def to_json(self) -> dict[str, Any]:
        def r(v: float | None) -> float | None:
            return None if v is None or math.isnan(v) else round(v, 4)

        return {
            "year": self.year,
            "real": r(self.real),
            "model": r(self.model),
            "p5": r(self.low),
            "p95": r(self.high),
            "gap": r(self.gap),
            "periods_within_tolerance": self.within,
            "periods": self.periods,
        }


def gaps_by_year(comparison: Comparison) -> list[YearGap]:
    """The gap per year: monthly rows summed by calendar year (county-month rows by year over
    the counties), yearly rows as they are."""
    tol = comparison.tolerance
    by: dict[str, list[Row]] = {}
    for row in comparison.rows:
        period = row.period.split(" ")[-1]
        year = period if period.startswith("FY") or len(period) == 4 else period[:4]
        by.setdefault(year, []).append(row)
    out = []
    for year, rows in sorted(by.items()):
        within = sum(r.within(tol) for r in rows) if tol is not None else 0
        if len(rows) == 1:
            r0 = rows[0]
            out.append(YearGap(year, r0.real, r0.mean, r0.low, r0.high, within, 1))
        else:
            real = sum(r.real for r in rows)
            model = sum(r.mean for r in rows)
            out.append(YearGap(year, real, model, None, None, within, len(rows)))
    return out


def report_json(comparisons: list[Comparison], runs: int) -> dict[str, Any]:
    """What ``scomm validate --json`` writes: every comparison, its rows and its gap per year."""
    return {
        "runs": runs,
        "interval": "90% (5th to 95th percentile of the runs)",
        "series": [
            {**c.to_json(), "by_year": [g.to_json() for g in gaps_by_year(c)]} for c in comparisons
        ],
    }
