"""ICE's detainer records as released under FOIA (2016): national counts and Pennsylvania's rows.

Every detainer ICE lodged, from every door (Secure Communities matches, the Criminal Alien
Program, 287(g) officers), counted by NPR's news apps team (github nprapps/sanctuary-cities,
export/) and, for Pennsylvania, listed one by one (github eads/geocode-pa-detainers):

- national detainers by month, 2007-10 to 2015-07 (:func:`national_by_month`);
- the same by calendar year (:func:`national_by_year`; the files' "year" is the calendar
  year: 2007's count is October-December 2007's months);
- by how the detainer ended ("lift reason") and year (:func:`lift_reasons_by_year`). About
  half the detainers have no lift reason in the release (still open, or not recorded): a
  count by reason is a floor, and the *mix* is taken among those with a reason;
- those lifted because the person was a US citizen, by year (:func:`us_citizens_by_year`);
- Pennsylvania's detainers one by one, each facility placed on its county
  (:func:`pennsylvania_detainers`, :func:`pennsylvania_facilities`).

**Pennsylvania facilities to counties.** The model books people into county jails. A facility
is first sorted by kind from its name: federal prisons (FCI, USP, FDC, "U.S. PEN.", the
Allenwood complex, Moshannon Valley, a Bureau of Prisons contract prison), the US Marshals,
ICE's own office, state prisons (SCI, SRCF), juvenile and family facilities, and local jails
and lockups. A local facility is placed on the county its name gives ("MONTGOMERY CNTY JAIL",
"DELAWARE CO JAIL", "PIKE COUNTY JAIL"), or, for Philadelphia's facilities (the city's prisons,
police districts, the Roundhouse), on Philadelphia County by its city: Philadelphia is the one
city of the state coextensive with its county (FIPS 42101). A local facility placed neither way
is listed by :func:`unplaced_facilities`, never guessed; prisons are not placed on a county
at all (their detainers come from CAP in prisons, a door the county model does not draw) and
are kept apart by kind.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any, cast

import numpy as np
import polars as pl

from scomm.errors import DataError
from scomm.jurisdictions.datasets import require
from scomm.settings import data_dir as default_data_dir

BY_MONTH_CSV = "detainers/npr_detainers_by_year_and_month.csv"
BY_YEAR_CSV = "detainers/npr_all_detainers_by_year.csv"
LIFT_REASONS_CSV = "detainers/npr_detainers_by_lift_reason_and_year.csv"
US_CITIZENS_CSV = "detainers/npr_americans_by_year.csv"
PENNSYLVANIA_CSV = "detainers/pa_detainers.csv"

NATIONAL_SOURCE = (
    "ICE detainer records released under FOIA (2016), aggregated by NPR "
    "(github nprapps/sanctuary-cities, export/, commit f80c438)"
)
PENNSYLVANIA_SOURCE = (
    "ICE detainer records released under FOIA (2016), Pennsylvania facilities "
    "(github eads/geocode-pa-detainers, commit bbd824a)"
)

DECLINED = "Detainer Declined by LEA"
BOOKED = "Booked into Detention"
US_CITIZEN = "United States Citizen Interviewed"
PHILADELPHIA = "42101"


def _read(path_in_data: str, root: Path | None, columns: dict[str, Any]) -> pl.DataFrame:
    """A small CSV of the record, its columns checked and typed; a bad cell names its line."""
    path = require(path_in_data, root or default_data_dir())
    frame = pl.read_csv(path, infer_schema_length=0)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(str(path), f"no column {missing} (columns: {frame.columns})")
    for name, dtype in columns.items():
        if dtype == pl.String:
            continue
        cast = frame[name].cast(dtype, strict=False)
        bad = frame.with_row_index("line", offset=2).filter(
            cast.is_null() | ((cast < 0) if dtype.is_numeric() else False)
        )
        if bad.height:
            line, value = bad.row(0, named=True)["line"], bad.row(0, named=True)[name]
            raise DataError(f"{path}:{line}", f"column {name}: {value!r} is not a count")
        frame = frame.with_columns(cast)
    return frame.select(list(columns))


def national_by_month(root: Path | None = None) -> pl.DataFrame:
    """``month`` (date, the first of the month), ``detainers``: every detainer in the country."""
    frame = _read(BY_MONTH_CSV, root, {"year_month": pl.String, "count": pl.Int64})
    month = pl.col("year_month").str.to_date("%Y-%m", strict=False)
    parsed = frame.with_columns(month.alias("month"))
    bad = parsed.with_row_index("line", offset=2).filter(pl.col("month").is_null())
    if bad.height:
        raise DataError(
            f"{BY_MONTH_CSV}:{bad['line'][0]}", f"{bad['year_month'][0]!r} is not YYYY-MM"
        )
    return parsed.select("month", pl.col("count").alias("detainers")).sort("month")


def national_by_year(root: Path | None = None) -> pl.DataFrame:
    """``year`` (calendar), ``detainers``."""
    frame = _read(BY_YEAR_CSV, root, {"year": pl.Int64, "count": pl.Int64})
    return frame.select("year", pl.col("count").alias("detainers")).sort("year")


def lift_reasons_by_year(root: Path | None = None) -> pl.DataFrame:
    """``year``, ``lift_reason``, ``detainers``: how the detainers ended, where recorded."""
    frame = _read(
        LIFT_REASONS_CSV, root, {"year": pl.Int64, "lift_reason": pl.String, "count": pl.Int64}
    )
    return frame.select("year", "lift_reason", pl.col("count").alias("detainers")).sort(
        "year", "lift_reason"
    )


def us_citizens_by_year(root: Path | None = None) -> pl.DataFrame:
    """``year``, ``detainers``: lifted because the person was a US citizen."""
    frame = _read(US_CITIZENS_CSV, root, {"year": pl.Int64, "count": pl.Int64})
    return frame.select("year", pl.col("count").alias("detainers")).sort("year")


def fiscal_year(day: dt.date) -> int:
    """The federal fiscal year of a day: FY2012 is October 2011 to September 2012."""
    return day.year + 1 if day.month >= 10 else day.year


# ---------------------------------------------------------------------------------------------
# Pennsylvania


class FacilityKind(StrEnum):
    LOCAL = "county jail or local lockup"
    STATE_PRISON = "state prison"
    FEDERAL = "federal prison or US Marshals"
    ICE = "ICE office"
    JUVENILE = "juvenile or family facility"


# Order matters: the first pattern that matches sorts the facility.
_KINDS: tuple[tuple[FacilityKind, re.Pattern[str]], ...] = (
    (FacilityKind.JUVENILE, re.compile(r"JUVI|JUVENILE|YOUTH|CHILDREN|FAMILY SHELTER")),
    (
        FacilityKind.FEDERAL,
        re.compile(
            r"FED\.|\bFCI\b|\bUSP\b|\bFDC\b|U\.S\. ?PEN|ALLENWOOD|MOSHANNON|US MARSHAL|"
            r"FED\.PRISON"
        ),
    ),
    (FacilityKind.ICE, re.compile(r"DISTRICT OFFICE")),
    (FacilityKind.STATE_PRISON, re.compile(r"\bSCI\b|S\.C\.I\.|\bSRCF\b")),
)
_COUNTY_IN_NAME = re.compile(r"^(?P<name>[A-Z .]+?)\s+(COUNTY|CNTY|CO\.|CO)\b")
# Names of Pennsylvania's counties as facility names spell them, where they differ.
_SPELLINGS = {"LACKAWANA": "LACKAWANNA"}


def facility_kind(facility: str) -> FacilityKind:
    for kind, pattern in _KINDS:
        if pattern.search(facility):
            return kind
    return FacilityKind.LOCAL


@dataclass(frozen=True)
class Facility:
    name: str
    city: str
    kind: FacilityKind
    fips: str | None  # the county, for local facilities placed on one
    how: str  # how it was placed, or why not
    detainers: int


def _pa_counties(root: Path) -> dict[str, str]:
    """Pennsylvania county name (upper case, no "County") -> FIPS."""
    from scomm.jurisdictions.counties import load_jurisdictions

    return {
        c.name.upper().removesuffix(" COUNTY"): c.fips
        for c in load_jurisdictions(root).by_state("PA")
    }


def place_facility(name: str, city: str, counties: dict[str, str]) -> tuple[str | None, str]:
    """The county of a local facility and how it was found (see the module)."""
    m = _COUNTY_IN_NAME.match(" ".join(name.split()))
    if m:
        county = m.group("name").strip()
        county = _SPELLINGS.get(county, county)
        if county in counties:
            return counties[county], f"county in the name ({county.title()})"
    if city.strip().upper() == "PHILADELPHIA":
        return PHILADELPHIA, "city of Philadelphia (coextensive with Philadelphia County)"
    return None, "no county in the name, city not coextensive with a county"


@cache
def _pennsylvania(root: Path) -> tuple[pl.DataFrame, tuple[Facility, ...]]:
    path = require(PENNSYLVANIA_CSV, root)
    columns = ["date", "lift_reason", "det_facility", "city", "state", "detainer_type"]
    frame = pl.read_csv(path, infer_schema_length=0)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(str(path), f"no column {missing}")
    day = pl.col("date").str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
    frame = frame.with_columns(day.alias("day"))
    bad = frame.with_row_index("line", offset=2).filter(pl.col("day").is_null())
    if bad.height:
        raise DataError(f"{path}:{bad['line'][0]}", f"date {bad['date'][0]!r} is not a date")
    counties = _pa_counties(root)
    facilities = []
    fips_of: dict[tuple[str, str], str | None] = {}
    kind_of: dict[tuple[str, str], str] = {}
    grouped = frame.group_by("det_facility", "city").len().sort("len", descending=True)
    for name, city, n in grouped.iter_rows():
        name, city = name or "", city or ""
        kind = facility_kind(name)
        if kind is FacilityKind.LOCAL:
            fips, how = place_facility(name, city, counties)
        else:
            fips, how = None, f"not a county jail ({kind.value})"
        facilities.append(Facility(name, city, kind, fips, how, int(n)))
        fips_of[(name, city)] = fips
        kind_of[(name, city)] = kind.value
    keys = list(zip(frame["det_facility"].fill_null(""), frame["city"].fill_null(""), strict=True))
    out = frame.select(
        "day",
        pl.col("day").dt.truncate("1mo").alias("month"),
        "lift_reason",
        pl.col("det_facility").alias("facility"),
        "city",
        "detainer_type",
        pl.Series("kind", [kind_of[k] for k in keys], pl.String),
        pl.Series("fips", [fips_of[k] for k in keys], pl.String),
    )
    return out, tuple(facilities)


def pennsylvania_detainers(root: Path | None = None) -> pl.DataFrame:
    """Every detainer at a Pennsylvania facility: ``day``, ``month``, ``lift_reason``,
    ``facility``, ``city``, ``detainer_type``, ``kind`` (:class:`FacilityKind`) and ``fips``
    (the county of a local facility; null for prisons and the unplaced)."""
    return _pennsylvania((root or default_data_dir()).resolve())[0]


def pennsylvania_facilities(root: Path | None = None) -> tuple[Facility, ...]:
    """Each facility of the file with its kind, county and how it was placed."""
    return _pennsylvania((root or default_data_dir()).resolve())[1]


def unplaced_facilities(root: Path | None = None) -> list[Facility]:
    """Local facilities that could not be placed on a county: listed, never guessed."""
    return [
        f for f in pennsylvania_facilities(root) if f.kind is FacilityKind.LOCAL and f.fips is None
    ]


def pennsylvania_county_month(root: Path | None = None) -> pl.DataFrame:
    """``fips``, ``month``, ``detainers``: detainers at each county's local facilities (jails
    and lockups) by month; months with none are rows with 0, from the file's first month to
    its last, for every county with a placed facility."""
    rows = pennsylvania_detainers(root).filter(pl.col("fips").is_not_null())
    counts = rows.group_by("fips", "month").len("detainers")
    first, last = cast(dt.date, rows["month"].min()), cast(dt.date, rows["month"].max())
    span = pl.date_range(first, last, "1mo", eager=True)
    grid = pl.DataFrame({"fips": sorted(set(rows["fips"]))}).join(
        pl.DataFrame({"month": span}), how="cross"
    )
    return (
        grid.join(counts, on=["fips", "month"], how="left")
        .with_columns(pl.col("detainers").fill_null(0).cast(pl.Int64))
        .sort("fips", "month")
    )


def seasonal_profile(series: pl.DataFrame, first: str, last: str) -> dict[int, float]:
    """Calendar month -> detainers per day over their centred 12-month mean, averaged over the
    months ``first``..``last`` (``YYYY-MM``) of ``series`` (:func:`national_by_month`), scaled
    to a mean of 1. Per day, so February's short month is not read as a season; the centred
    mean (a 2x12 moving average) takes out the trend of the rollout and of ICE's practice.
    ``population.yaml``'s ``jail_admissions.season`` is this profile over the months before
    the judged span (the figures then set beside the record are not the ones it was read from).
    """
    months = series["month"].to_list()
    per_day = np.array(
        [
            count / calendar.monthrange(m.year, m.month)[1]
            for m, count in zip(months, series["detainers"].to_list(), strict=True)
        ],
        dtype=np.float64,
    )
    ratios: dict[int, list[float]] = {}
    for i in range(6, len(months) - 6):
        label = f"{months[i].year:04d}-{months[i].month:02d}"
        if not first <= label <= last:
            continue
        centred = (per_day[i - 6] / 2 + per_day[i - 5 : i + 6].sum() + per_day[i + 6] / 2) / 12
        ratios.setdefault(months[i].month, []).append(per_day[i] / centred)
    missing = sorted(set(range(1, 13)) - set(ratios))
    if missing:
        raise DataError(
            BY_MONTH_CSV, f"months {first}..{last} do not cover calendar months {missing}"
        )
    profile = {m: float(np.mean(v)) for m, v in sorted(ratios.items())}
    mean = float(np.mean(list(profile.values())))
    return {m: v / mean for m, v in profile.items()}
