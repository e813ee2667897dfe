"""Every US county and county-equivalent: who lives there, which ICE office covers it, and when
Secure Communities reached its jail.

The county list is the Census Bureau's (co-est2019-alldata, SUMLEV 050: 3,142 counties and
county-equivalents of the 50 states and DC). Each county carries

- its population by year (Census estimates, July 1st, 2010-2019),
- its non-citizen population by year with the margin of error (ACS 5-year, B05001, 2009-2018),
- its ICE ERO area of responsibility and field office (UW Center for Human Rights),
- its Secure Communities activation date (the rollout panel's ``date_secure``).

The rollout panel was built on an older county list. Two counties changed code since with the
same territory (Wade Hampton AK 02270 became Kusilvak 02158, Shannon SD 46113 became Oglala
Lakota 46102, both in 2015): their dates are carried over. Counties the panel does not have at
all (Alaska's boroughs created 2007-2013) get their state's statewide activation date and are
marked ``activation_imputed``; :attr:`Jurisdictions.notes` says how many.
"""

from __future__ import annotations

import calendar
import datetime as dt
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import polars as pl

from scomm.errors import DataError, InputError
from scomm.jurisdictions.datasets import require
from scomm.jurisdictions.states import BY_FIPS, BY_POSTAL, state_fips
from scomm.jurisdictions.timezones import CountyTimeZone, county_time_zone
from scomm.settings import data_dir as default_data_dir

POPULATION_CSV = "census/co-est2019-alldata.csv"
NONCITIZEN_CSV = "census/acs_noncitizen_pop_county.csv"
AOR_CSV = "ice_aor/county_aor.csv"
FIELD_OFFICE_CSV = "ice_aor/aor_ero_field_office.csv"
ROLLOUT_ZIP = "scomm_rollout/secure_communities_panel.csv.zip"
ROLLOUT_MEMBER = "secure_communities_panel.csv"

POPULATION_YEARS = range(2010, 2020)

# Census "substantial changes to counties": same territory, new code (both effective 2015).
# The rollout panel predates them and uses the old codes.
RENAMED_FIPS: dict[str, str] = {"02270": "02158", "46113": "46102"}

# The panel's months: January 2008 to December 2013.
PANEL_FIRST_MONTH = "2008-01"
PANEL_LAST_MONTH = "2013-12"

# ICE ERO field offices by area-of-responsibility code, as ICE names them.
AOR_NAMES: dict[str, str] = {
    "ATL": "Atlanta",
    "BAL": "Baltimore",
    "BOS": "Boston",
    "BUF": "Buffalo",
    "CHI": "Chicago",
    "DAL": "Dallas",
    "DEN": "Denver",
    "DET": "Detroit",
    "ELP": "El Paso",
    "HAL": "Harlingen",
    "HOU": "Houston",
    "HQ": "Headquarters",
    "LOS": "Los Angeles",
    "MIA": "Miami",
    "NEW": "Newark",
    "NOL": "New Orleans",
    "NYC": "New York City",
    "PHI": "Philadelphia",
    "PHO": "Phoenix",
    "SEA": "Seattle",
    "SFR": "San Francisco",
    "SLC": "Salt Lake City",
    "SNA": "San Antonio",
    "SND": "San Diego",
    "SPM": "St. Paul",
    "WAS": "Washington",
}


@dataclass(frozen=True)
class FieldOffice:
    """An ICE ERO field office: the office of one area of responsibility."""

    aor: str
    name: str
    address: str
    lat: float
    lon: float


@dataclass(frozen=True)
class County:
    """A county or county-equivalent, by its 5-digit FIPS code."""

    fips: str
    name: str
    state: str  # postal code
    state_fips: str
    population: dict[int, int] = field(hash=False)  # year -> Census estimate (July 1st)
    noncitizen: dict[int, tuple[int, int | None]] = field(hash=False)  # year -> (estimate, MOE)
    aor: str
    field_office: str  # the field office's name and address
    activation_date: dt.date | None
    activation_imputed: bool

    def population_in(self, year: int) -> int:
        """The population estimate of ``year``, or of the nearest year estimated (earlier on a
        tie): the estimates run 2010-2019, the rollout began 2008."""
        if not self.population:
            raise DataError(self.fips, "no population estimate")
        nearest = min(self.population, key=lambda y: (abs(y - year), y))
        return self.population[nearest]

    def noncitizen_in(self, year: int) -> tuple[int, int | None] | None:
        """Non-citizen population (estimate, margin of error) of ``year`` or the nearest year
        the ACS has; None where the ACS has none for this county."""
        if not self.noncitizen:
            return None
        nearest = min(self.noncitizen, key=lambda y: (abs(y - year), y))
        return self.noncitizen[nearest]

    def noncitizen_share_in(self, year: int) -> float | None:
        """Non-citizens as a share of the population in ``year`` (nearest years available)."""
        noncitizen = self.noncitizen_in(year)
        population = self.population_in(year)
        if noncitizen is None or population <= 0:
            return None
        return noncitizen[0] / population

    @property
    def time_zone(self) -> CountyTimeZone:
        """The county's IANA time zone (the jail's, where a zone boundary crosses the county)."""
        return county_time_zone(self.fips)

    def activated_by(self, day: dt.date) -> bool:
        """Whether Secure Communities was active in this county's jails on ``day``."""
        return self.activation_date is not None and self.activation_date <= day


def month_end(month: str) -> dt.date:
    """The last day of a ``YYYY-MM`` month."""
    try:
        year, mon = (int(part) for part in month.split("-"))
        return dt.date(year, mon, calendar.monthrange(year, mon)[1])
    except ValueError:
        raise InputError(month, "a month is written YYYY-MM") from None


def months(first: str, last: str) -> Iterator[str]:
    year, mon = (int(part) for part in first.split("-"))
    while f"{year:04d}-{mon:02d}" <= last:
        yield f"{year:04d}-{mon:02d}"
        year, mon = (year + 1, 1) if mon == 12 else (year, mon + 1)


def count_activated_by_month(
    dates: list[dt.date | None], first: str = PANEL_FIRST_MONTH, last: str = PANEL_LAST_MONTH
) -> dict[str, int]:
    """For each month, how many of ``dates`` fall on or before its last day."""
    known = sorted(d for d in dates if d is not None)
    out: dict[str, int] = {}
    i = 0
    for month in months(first, last):
        end = month_end(month)
        while i < len(known) and known[i] <= end:
            i += 1
        out[month] = i
    return out


@dataclass(frozen=True)
class Jurisdictions:
    """The counties, their ICE offices and activation dates, with a Polars frame of the same."""

    counties: dict[str, County]
    field_offices: dict[str, FieldOffice]
    statewide_activation: dict[str, dt.date]  # state postal code -> statewide activation
    imputed_activation: tuple[str, ...]  # FIPS of counties given their state's date
    renamed: dict[str, str]  # panel FIPS -> current FIPS, dates carried over
    frame: pl.DataFrame

    def get(self, fips: str) -> County:
        try:
            return self.counties[fips]
        except KeyError:
            raise InputError(fips, "not a county FIPS code (5 digits, Census 2019 list)") from None

    def all(self) -> list[County]:
        return list(self.counties.values())

    def by_state(self, state: str) -> list[County]:
        """The counties of a state, given by postal code, FIPS code or name."""
        code = state_fips(state)
        if code is None:
            raise InputError(state, "not a state (postal code, FIPS code or name)")
        return [c for c in self.counties.values() if c.state_fips == code]

    def known_fips(self, fips: str) -> bool:
        """A 2-digit state code or a 5-digit county code of the list."""
        if len(fips) == 2:
            return fips in BY_FIPS
        return fips in self.counties

    def activated_count_by_month(
        self, first: str = PANEL_FIRST_MONTH, last: str = PANEL_LAST_MONTH
    ) -> dict[str, int]:
        """YYYY-MM -> counties activated by the end of that month."""
        return count_activated_by_month(
            [c.activation_date for c in self.counties.values()], first, last
        )

    @property
    def notes(self) -> list[str]:
        """What was filled in, for the user to see."""
        imputed = self.imputed_activation
        return [
            f"{len(self.counties)} counties and county-equivalents (Census 2019 list)",
            f"{len(self.renamed)} counties renamed since the rollout panel, date carried over: "
            + ", ".join(f"{old} -> {new}" for old, new in sorted(self.renamed.items())),
            f"{len(imputed)} counties not in the rollout panel given their state's statewide "
            f"activation date: {', '.join(imputed) if imputed else 'none'}",
        ]


# ---------------------------------------------------------------------------------------------
# Reading


def _read_population(root: Path) -> pl.DataFrame:
    path = require(POPULATION_CSV, root)
    # The Census file is Latin-1 ("Doña Ana County").
    frame = pl.read_csv(path, encoding="latin1", infer_schema_length=0)
    frame = frame.filter(pl.col("SUMLEV") == "050")
    columns = [f"POPESTIMATE{y}" for y in POPULATION_YEARS]
    return frame.select(
        (pl.col("STATE") + pl.col("COUNTY")).alias("fips"),
        pl.col("STATE").alias("state_fips"),
        pl.col("CTYNAME").alias("name"),
        *[pl.col(c).cast(pl.Int64).alias(f"population_{c[-4:]}") for c in columns],
    )


def _read_noncitizen(root: Path) -> dict[str, dict[int, tuple[int, int | None]]]:
    path = require(NONCITIZEN_CSV, root)
    frame = pl.read_csv(
        path,
        null_values=["NA"],
        schema_overrides={
            "fips": pl.String,
            "year": pl.Int64,
            "noncit_pop": pl.Int64,
            "moe": pl.Int64,
        },
    )
    out: dict[str, dict[int, tuple[int, int | None]]] = {}
    for fips, year, estimate, moe in frame.select("fips", "year", "noncit_pop", "moe").iter_rows():
        if estimate is None:  # the ACS published nothing for that county-year
            continue
        out.setdefault(fips, {})[year] = (estimate, moe)
    return out


def _read_field_offices(root: Path) -> dict[str, FieldOffice]:
    frame = pl.read_csv(require(FIELD_OFFICE_CSV, root), infer_schema_length=0)
    return {
        aor: FieldOffice(aor, AOR_NAMES.get(aor, aor), addr, float(lat), float(lon))
        for aor, addr, lat, lon in frame.select(
            "aor", "field_office_addr", "lat", "long"
        ).iter_rows()
    }


def _read_aor(root: Path) -> dict[str, str]:
    frame = pl.read_csv(require(AOR_CSV, root), infer_schema_length=0)
    return dict(frame.select("geoid", "aor").iter_rows())


def read_rollout_panel(root: Path | None = None) -> pl.DataFrame:
    """The rollout panel (county x month), dates parsed; ``fips`` as 5-digit strings."""
    root = root or default_data_dir()
    path = require(ROLLOUT_ZIP, root)
    try:
        with zipfile.ZipFile(path) as archive:
            data = archive.read(ROLLOUT_MEMBER)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise DataError(str(path), f"not the rollout panel archive: {exc}") from None
    frame = pl.read_csv(
        io.BytesIO(data),
        columns=[
            "county",
            "state_name",
            "date_secure",
            "date_statewide_secure",
            "month_year_running",
            "secure2",
        ],
        null_values=["NA"],
        schema_overrides={"date_secure": pl.Date, "date_statewide_secure": pl.Date},
    )
    return frame.with_columns(pl.col("county").cast(pl.String).str.zfill(5).alias("fips"))


def _rollout_dates(panel: pl.DataFrame) -> tuple[dict[str, dt.date], dict[str, dt.date]]:
    """Each panel county's activation date and each state's statewide date.

    The panel repeats a county's date on its rows from the activation year on (NA before), so
    the date is the county's one non-null value.
    """
    per_county = panel.group_by("fips").agg(pl.col("date_secure").drop_nulls().unique())
    county_dates: dict[str, dt.date] = {}
    for fips, dates in per_county.iter_rows():
        if len(dates) > 1:
            raise DataError(ROLLOUT_ZIP, f"county {fips} has several activation dates {dates}")
        if dates:
            county_dates[fips] = dates[0]
    per_state = panel.group_by("state_name").agg(
        pl.col("date_statewide_secure").drop_nulls().unique()
    )
    state_dates = {state: dates[0] for state, dates in per_state.iter_rows() if dates}
    return county_dates, state_dates


def panel_activated_count_by_month(
    root: Path | None = None,
) -> tuple[dict[str, int], dict[str, int]]:
    """The panel's own count by month, two ways: recounted from its ``date_secure`` over its own
    county codes, and as it records it (the sum of its monthly ``secure2`` indicator)."""
    panel = read_rollout_panel(root)
    county_dates, _ = _rollout_dates(panel)
    recounted = count_activated_by_month(list(county_dates.values()))
    recorded = dict(
        panel.group_by("month_year_running")
        .agg(pl.col("secure2").sum())
        .sort("month_year_running")
        .iter_rows()
    )
    return recounted, recorded


def _build(root: Path) -> Jurisdictions:
    population = _read_population(root)
    noncitizen = _read_noncitizen(root)
    aor = _read_aor(root)
    offices = _read_field_offices(root)
    county_dates, state_dates = _rollout_dates(read_rollout_panel(root))
    for old, new in RENAMED_FIPS.items():
        if old in county_dates and new not in county_dates:
            county_dates[new] = county_dates[old]

    counties: dict[str, County] = {}
    imputed: list[str] = []
    for row in population.iter_rows(named=True):
        fips = row["fips"]
        state = BY_FIPS.get(row["state_fips"])
        if state is None:
            raise DataError(
                POPULATION_CSV, f"county {fips}: unknown state FIPS {row['state_fips']}"
            )
        code = aor.get(fips)
        if code is None:
            raise DataError(AOR_CSV, f"county {fips} ({row['name']}) has no ICE area")
        office = offices.get(code)
        date = county_dates.get(fips)
        is_imputed = date is None
        if is_imputed:
            date = state_dates.get(state.postal)
            imputed.append(fips)
        counties[fips] = County(
            fips=fips,
            name=row["name"],
            state=state.postal,
            state_fips=state.fips,
            population={y: row[f"population_{y}"] for y in POPULATION_YEARS},
            noncitizen=noncitizen.get(fips, {}),
            aor=code,
            field_office=f"{office.name}: {office.address}" if office else code,
            activation_date=date,
            activation_imputed=is_imputed,
        )

    frame = population.with_columns(
        pl.col("state_fips")
        .replace_strict({f: s.postal for f, s in BY_FIPS.items()})
        .alias("state"),
        pl.col("fips").replace_strict(aor, default=None).alias("aor"),
        pl.Series(
            "activation_date", [counties[f].activation_date for f in population["fips"]], pl.Date
        ),
        pl.Series(
            "activation_imputed", [counties[f].activation_imputed for f in population["fips"]]
        ),
        pl.Series(
            "noncitizen_2018",
            [(counties[f].noncitizen.get(2018) or (None, None))[0] for f in population["fips"]],
            pl.Int64,
        ),
    ).select(
        "fips",
        "name",
        "state",
        "state_fips",
        "aor",
        "activation_date",
        "activation_imputed",
        pl.col("^population_.*$"),
        "noncitizen_2018",
    )
    return Jurisdictions(
        counties=counties,
        field_offices=offices,
        statewide_activation={s: d for s, d in state_dates.items() if s in BY_POSTAL},
        imputed_activation=tuple(imputed),
        renamed={old: new for old, new in RENAMED_FIPS.items() if old in county_dates},
        frame=frame,
    )


@cache
def _load(root: Path) -> Jurisdictions:
    return _build(root)


def load_jurisdictions(data_dir: Path | None = None) -> Jurisdictions:
    """Every county with its data (read once per data directory, then cached)."""
    return _load((data_dir or default_data_dir()).resolve())


def activated_count_by_month(data_dir: Path | None = None) -> dict[str, int]:
    """YYYY-MM -> counties activated by the end of that month (January 2008 - December 2013)."""
    return load_jurisdictions(data_dir).activated_count_by_month()
