"""287(g) agreements: the third door, county by county and year by year.

Under section 287(g) of the Immigration and Nationality Act (8 U.S.C. 1357(g)) ICE signs a
memorandum of agreement with a local agency whose officers it then deputizes for immigration
work. In the *jail model* deputized jail officers screen the foreign-born people booked into the
jail and lodge detainers whether or not IDENT matched; in the *task-force model* officers on
patrol question and arrest people. ICE ended every task-force agreement on 31 December 2012
(DHS FY2013 budget; ICE, "287(g) task force agreements", 2012).

The record is The Washington Post's curated list (``287g/wapo_287g_curated_2019.xlsx``, github
wpinvestigative/sheriffs_287g): one row per agency, an "X" per calendar year of participation
2005-2019, the agency's ORI and its county FIPS where the Post knew it. Its first section lists
the agreements of 2019, its second ("COUNTIES THAT ENDED 287(g)") those that ended, with notes.

How the file is read (every choice is the rule below, none per row):

- **Agency kind.** A police department has no jail; a state department of corrections,
  public safety, highway patrol or state police is not a county jail. Only county agencies
  (sheriffs' offices, county or parish corrections, a county criminal justice authority, a
  regional jail) are placed on a county; the others are kept and listed with their kind.
- **Model.** The file has no model column. An agreement whose notes say "task force" is a
  task-force agreement; every other county agreement is treated as jail-model (the sheriff
  runs the county jail, and the jail model was the program's common form: 2019's agreements are
  all jail or warrant-service models). Only jail-model agreements are :func:`in force
  <AgreementTable.in_force>` for the jail's screen.
- **Dates.** The file's resolution is the calendar year: an agreement is in force from
  1 January of the first year of each run of consecutive "X" years through 31 December of the
  last; a gap year ends one period and a later "X" starts another.
- **County.** A FIPS in the file is used when it is a county of the row's state whose Census
  name is the one the agency is named after (or the agency's name has no county in it, as
  "Jacksonville Sheriff's Office"). A row without a FIPS, or whose FIPS is not a county of its
  state or names another county ("Collier" with Columbia's 12023, "Liberty County, Florida"
  with Montana's 30051), is matched by county name and state against the Census list; what
  still cannot be placed is listed (:meth:`AgreementTable.unmatched`, ``scomm data
  agreements``), never guessed.
- **State.** The spreadsheet's state cells are merged over an agency's rows: a blank state is
  the state of the row above.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path

import numpy as np
import polars as pl

from scomm.errors import DataError
from scomm.jurisdictions.datasets import require
from scomm.jurisdictions.states import STATES
from scomm.settings import data_dir as default_data_dir

AGREEMENTS_XLSX = "287g/wapo_287g_curated_2019.xlsx"
SOURCE = (
    "The Washington Post, 287(g) agreements by sheriff's office and year 2005-2019, github "
    "wpinvestigative/sheriffs_287g data/raw_data (commit 78d5c42), CC BY-NC-SA 4.0"
)
FIRST_YEAR, LAST_YEAR = 2005, 2019
YEARS = range(FIRST_YEAR, LAST_YEAR + 1)
ENDED_SECTION_MARK = "COUNTIES THAT ENDED 287(g)"


class AgencyKind(StrEnum):
    COUNTY = "county agency"
    POLICE = "police department"
    STATE = "state agency"


class Model(StrEnum):
    JAIL = "jail model"
    TASK_FORCE = "task force"


class Placement(StrEnum):
    """How the agreement was placed on a county."""

    FIPS = "FIPS in the file"
    NAME = "no FIPS in the file: matched by name and state"
    CORRECTED = "the file's FIPS contradicts the row: matched by name and state"
    FIPS_NAME_UNKNOWN = "FIPS in the file (its county name does not match the agency's)"
    UNMATCHED = "not matched"
    NOT_A_COUNTY_JAIL = "not a county jail"


@dataclass(frozen=True)
class Agreement:
    """One row of the file: an agency's 287(g) participation, read by the module's rules."""

    row: int  # the spreadsheet's row number (1 is the header), so a reader can find it
    agency: str
    state: str  # postal code
    ori: str | None
    fips_in_file: str | None
    years: tuple[int, ...]
    ended_section: bool  # listed under "COUNTIES THAT ENDED 287(g)"
    notes: str
    kind: AgencyKind
    model: Model
    fips: str | None  # the county it is placed on, None if not placed
    placement: Placement
    problem: str  # why it is unmatched or corrected; "" otherwise

    @property
    def periods(self) -> list[tuple[dt.date, dt.date]]:
        """(first day, last day) of each run of consecutive years."""
        out: list[tuple[dt.date, dt.date]] = []
        for year in self.years:
            if out and out[-1][1].year == year - 1:
                out[-1] = (out[-1][0], dt.date(year, 12, 31))
            else:
                out.append((dt.date(year, 1, 1), dt.date(year, 12, 31)))
        return out

    def in_force(self, day: dt.date) -> bool:
        return day.year in self.years

    @property
    def screens_jail(self) -> bool:
        """A jail-model agreement placed on a county: deputized jail officers screen bookings."""
        return self.kind is AgencyKind.COUNTY and self.model is Model.JAIL and self.fips is not None


@dataclass(frozen=True)
class AgreementTable:
    """Every agreement of the file, and the jail-model ones by county and year as arrays."""

    agreements: tuple[Agreement, ...]
    counties: tuple[str, ...]  # FIPS with a jail-model agreement in some year, sorted
    by_year: np.ndarray  # bool [county, year - FIRST_YEAR]
    source: str = SOURCE

    @classmethod
    def of(cls, agreements: Iterable[Agreement]) -> AgreementTable:
        items = tuple(agreements)
        counties = tuple(sorted({a.fips for a in items if a.screens_jail and a.fips}))
        index = {f: i for i, f in enumerate(counties)}
        by_year = np.zeros((len(counties), len(YEARS)), dtype=bool)
        for a in items:
            if a.screens_jail and a.fips:
                for year in a.years:
                    by_year[index[a.fips], year - FIRST_YEAR] = True
        return cls(items, counties, by_year)

    def in_force(self, fips: str, day: dt.date) -> bool:
        """Whether a jail-model 287(g) agreement is in force in county ``fips`` on ``day``."""
        return bool(self.mask(np.array([fips]), np.array([day], dtype="datetime64[D]"))[0])

    def agreements_of(self, fips: str) -> list[Agreement]:
        """Every agreement placed on this county, of any model."""
        return [a for a in self.agreements if a.fips == fips]

    def _county_index(self, county_fips: np.ndarray) -> np.ndarray:
        """Row of ``by_year`` per county, -1 where the county never had a jail agreement."""
        known = np.array(self.counties or ("",), dtype="U5")
        fips = np.asarray(county_fips).astype("U5")
        k = np.searchsorted(known, fips)
        k = np.minimum(k, len(known) - 1)
        return np.where((known[k] == fips) & bool(self.counties), k, -1)

    @staticmethod
    def _year_index(days: np.ndarray) -> np.ndarray:
        years = np.asarray(days).astype("datetime64[Y]").astype(np.int64) + 1970
        return np.where((years >= FIRST_YEAR) & (years <= LAST_YEAR), years - FIRST_YEAR, -1)

    def mask(self, county_fips: np.ndarray, days: np.ndarray) -> np.ndarray:
        """Per case (county i on day i): a jail-model agreement in force. bool [n]."""
        k = self._county_index(county_fips)
        y = self._year_index(days)
        ok = (k >= 0) & (y >= 0)
        out = np.zeros(k.shape[0], dtype=bool)
        out[ok] = self.by_year[k[ok], y[ok]]
        return out

    def grid(self, county_fips: np.ndarray, days: np.ndarray) -> np.ndarray:
        """For every (county, day): a jail-model agreement in force. bool [county, day], the
        shape of :meth:`scomm.policies.tables.LayerTable.index_grid`."""
        k = self._county_index(county_fips)
        y = self._year_index(days)
        out = np.zeros((k.shape[0], y.shape[0]), dtype=bool)
        rows, cols = np.flatnonzero(k >= 0), np.flatnonzero(y >= 0)
        if rows.size and cols.size:
            out[np.ix_(rows, cols)] = self.by_year[np.ix_(k[rows], y[cols])]
        return out

    def counties_in_force(self, year: int) -> list[str]:
        if not FIRST_YEAR <= year <= LAST_YEAR:
            return []
        return [
            f for f, on in zip(self.counties, self.by_year[:, year - FIRST_YEAR], strict=True) if on
        ]

    def unmatched(self) -> list[Agreement]:
        """County agencies that could not be placed on a county: listed, never guessed."""
        return [a for a in self.agreements if a.placement is Placement.UNMATCHED]

    def corrected(self) -> list[Agreement]:
        return [a for a in self.agreements if a.placement is Placement.CORRECTED]

    def not_county_jails(self) -> list[Agreement]:
        return [a for a in self.agreements if a.placement is Placement.NOT_A_COUNTY_JAIL]


# ---------------------------------------------------------------------------------------------
# Reading the file

_STATE_BY_NAME = {s.name.upper(): s for s in STATES}
_POLICE = re.compile(r"\bpolice\b", re.I)
_STATE_AGENCY = re.compile(
    r"department of (corrections|public safety)|state police|highway patrol|"
    r"^(delware|delaware) department",
    re.I,
)
_TASK_FORCE = re.compile(r"task\s*force", re.I)
# The county an agency is named after: the words before "County" or "Parish".
_COUNTY_IN_NAME = re.compile(r"^(?P<name>.+?)\s+(county|parish)\b", re.I)
# An agency name without "County" that is still a sheriff's office: "Fond du Lac Sheriff's".
_SHERIFF_IN_NAME = re.compile(r"^(?P<name>.+?)\s+sh(e|er)r?i+ff", re.I)
_COUNTY_AGENCY = re.compile(r"county|parish|sh(e|er)r?i+ff|jail|detention", re.I)


def _key(name: str) -> str:
    """A county name compared without case, punctuation, spaces or a Saint's abbreviation."""
    name = name.lower().replace("saint ", "st. ")
    name = re.sub(r"\s+(county|parish|borough|city and borough|census area)$", "", name)
    return re.sub(r"[^a-z]", "", name)


def _state_of(cell: str | None, previous: str | None, row: int) -> str:
    if cell is None or not cell.strip():
        if previous is None:
            raise DataError(f"{AGREEMENTS_XLSX} row {row}", "no state and no row above")
        return previous
    state = _STATE_BY_NAME.get(cell.strip().upper())
    if state is None:
        # The header's own truncated names ("Massachusett", "North Caroli") are prefixes.
        prefix = [s for n, s in _STATE_BY_NAME.items() if n.startswith(cell.strip().upper())]
        if len(prefix) != 1:
            raise DataError(f"{AGREEMENTS_XLSX} row {row}", f"unknown state {cell!r}")
        state = prefix[0]
    return state.postal


def _kind(agency: str) -> AgencyKind:
    if _STATE_AGENCY.search(agency):
        return AgencyKind.STATE
    if _POLICE.search(agency):
        return AgencyKind.POLICE
    if _COUNTY_AGENCY.search(agency):
        return AgencyKind.COUNTY
    return AgencyKind.STATE


def _fips_cell(cell: str | None) -> str | None:
    if cell is None or not cell.strip():
        return None
    digits = cell.strip().split(".")[0]
    return digits.zfill(5) if digits.isdigit() else None


def _place(
    agency: str, state: str, fips_in_file: str | None, names: dict[str, dict[str, str]]
) -> tuple[str | None, Placement, str]:
    """The county an agency is placed on, how, and the problem if any (see the module)."""
    from scomm.jurisdictions.states import BY_POSTAL

    state_counties = names.get(state, {})  # name key -> FIPS
    fips_names = {f: k for k, f in state_counties.items()}
    m = _COUNTY_IN_NAME.match(agency) or _SHERIFF_IN_NAME.match(agency)
    name_key = _key(m.group("name")) if m else None
    by_name = state_counties.get(name_key) if name_key else None
    if fips_in_file is not None:
        if fips_in_file in fips_names:
            if name_key is None or fips_names[fips_in_file] == name_key:
                return fips_in_file, Placement.FIPS, ""
            if by_name is None:
                return (
                    fips_in_file,
                    Placement.FIPS_NAME_UNKNOWN,
                    f"no county named {m.group('name') if m else agency!r} in {state}",
                )
            problem = f"FIPS {fips_in_file} is {fips_names[fips_in_file]!r}, not {name_key!r}"
        elif fips_in_file[:2] != BY_POSTAL[state].fips:
            problem = f"FIPS {fips_in_file} is not in {state}"
        else:
            problem = f"FIPS {fips_in_file} is not a county of the Census list"
        if by_name is not None:
            return by_name, Placement.CORRECTED, problem
        return None, Placement.UNMATCHED, problem + "; and no county of that name in " + state
    if by_name is not None:
        return by_name, Placement.NAME, ""
    what = f"no county named {m.group('name')!r} in {state}" if m else "no county in the name"
    return None, Placement.UNMATCHED, f"no FIPS in the file and {what}"


def _census_names(root: Path) -> dict[str, dict[str, str]]:
    """State postal code -> county name key -> FIPS, from the Census county list."""
    from scomm.jurisdictions.counties import load_jurisdictions

    out: dict[str, dict[str, str]] = {}
    for county in load_jurisdictions(root).all():
        out.setdefault(county.state, {})[_key(county.name)] = county.fips
    return out


def read_agreements(root: Path | None = None) -> AgreementTable:
    """Read the Post's file and place each agreement (the module's rules)."""
    root = root or default_data_dir()
    path = require(AGREEMENTS_XLSX, root)
    try:
        frame = pl.read_excel(path, infer_schema_length=0)
    except Exception as exc:  # fastexcel raises its own types; say which file and why
        raise DataError(str(path), f"cannot read the 287(g) spreadsheet: {exc}") from None
    year_columns = [f"y{y}" for y in YEARS]
    missing = [
        c
        for c in ("State", "County", "ori", "FIPS", "NOTES", *year_columns)
        if c not in frame.columns
    ]
    if missing:
        raise DataError(str(path), f"not the 287(g) spreadsheet: no column {missing}")
    names = _census_names(root)
    agreements: list[Agreement] = []
    ended = False
    state: str | None = None
    for i, r in enumerate(frame.iter_rows(named=True)):
        row = i + 2  # the header is row 1
        agency = " ".join((r["County"] or "").split())
        if agency.upper() == ENDED_SECTION_MARK.upper():
            ended = True
            continue
        if not agency:
            continue
        state = _state_of(r["State"], state, row)
        years = tuple(
            y
            for y, c in zip(YEARS, year_columns, strict=True)
            if (r[c] or "").strip().upper() == "X"
        )
        notes = " ".join((r["NOTES"] or "").split())
        kind = _kind(agency)
        model = (
            Model.TASK_FORCE
            if _TASK_FORCE.search(notes) or kind is AgencyKind.POLICE
            else Model.JAIL
        )
        fips_in_file = _fips_cell(r["FIPS"])
        if kind is AgencyKind.COUNTY:
            fips, placement, problem = _place(agency, state, fips_in_file, names)
        else:
            fips, placement, problem = None, Placement.NOT_A_COUNTY_JAIL, kind.value
        ori = (r["ori"] or "").strip() or None
        agreements.append(
            Agreement(
                row=row,
                agency=agency,
                state=state,
                ori=ori if ori not in ("0", "x") else None,
                fips_in_file=fips_in_file,
                years=years,
                ended_section=ended,
                notes=notes,
                kind=kind,
                model=model,
                fips=fips,
                placement=placement,
                problem=problem,
            )
        )
    return AgreementTable.of(agreements)


@cache
def _load(root: Path) -> AgreementTable:
    return read_agreements(root)


def load_agreements(data_dir: Path | None = None) -> AgreementTable:
    """The 287(g) table (read once per data directory, then cached)."""
    return _load((data_dir or default_data_dir()).resolve())


def in_force(fips: str, day: dt.date, data_dir: Path | None = None) -> bool:
    """Whether a jail-model 287(g) agreement is in force in county ``fips`` on ``day``."""
    return load_agreements(data_dir).in_force(fips, day)
