"""Who gets booked: the people of a run, drawn from ``population.yaml``.

One sampler serves every runner: :func:`draw_cohort` draws bookings as arrays (a month of the
whole country for the national engine, a block for the SimPy reference, a county's days for
the live pipeline), and the pipeline makes its synthetic person ``i`` from row ``i``
(:func:`booking_of`), adding only what no rule reads (names, dates of birth, document
numbers, fingerprint seeds). Every draw comes from a seeded generator.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import Any

import numpy as np
import yaml

from scomm.offenses import offense, offense_table
from scomm.people import (
    CitizenshipEvidence,
    Encounter,
    EncounterKind,
    Person,
    PriorArrest,
    Status,
)
from scomm.policies.decisions import CATEGORY_BITS, OffenseRecord

Share = float | np.ndarray


@cache
def parameters() -> dict[str, Any]:
    return yaml.safe_load(resources.files("scomm").joinpath("population.yaml").read_text())


def admissions_per_capita(year: int) -> float:
    table = {int(k): float(v) for k, v in parameters()["jail_admissions"]["per_capita"].items()}
    years = sorted(table)
    return float(np.interp(year, years, [table[y] for y in years]))


def season(month: int) -> float:
    """Jail admissions per day in calendar ``month`` (1-12) over the year's mean
    (``population.yaml``, ``jail_admissions.season``; 1 where none is given)."""
    table = parameters()["jail_admissions"].get("season") or {}
    return float(table.get(month, 1.0))


def admissions_rate(year: int, month: int) -> float:
    """Jail admissions per resident per year in force in ``month`` of ``year``: the year's
    rate paced by the bookings' season. The one rate every runner books people at (the
    engine's month loop, the SimPy desk and the live pipeline's synthetic county)."""
    return admissions_per_capita(year) * season(month)


FIRST = [
    "JOSE",
    "MARIA",
    "JUAN",
    "ANA",
    "LUIS",
    "CARMEN",
    "JAMES",
    "MARY",
    "JOHN",
    "LINDA",
    "DAVID",
    "SARAH",
    "WEI",
    "MINH",
    "OMAR",
    "FATIMA",
]
LAST = [
    "GARCIA",
    "SMITH",
    "LOPEZ",
    "JOHNSON",
    "NGUYEN",
    "MARTINEZ",
    "WILLIAMS",
    "KIM",
    "HERNANDEZ",
    "BROWN",
    "PATEL",
    "RIVERA",
]
# NCIC country-of-birth codes (distinct from the state codes: India is II, not IN).
COUNTRIES = ("MM", "GT", "ES", "HO", "II", "CH", "VM", "PI", "CU", "DR")


@dataclass(frozen=True)
class SyntheticBooking:
    person: Person
    booked_at: dt.datetime
    charges: tuple[tuple[str, str], ...]  # (NCIC code, grade)
    custody_reason: str
    custody_hours: float


def noncitizen_share(county_share: float | None) -> float:
    """The county's ACS non-citizen share, or the national one where ACS has no figure."""
    if county_share is None:
        return float(parameters()["status"]["national_noncitizen_share"])
    return county_share


def status_shares(
    noncitizen_share: Share, status_parameters: dict[str, Any] | None = None
) -> dict[Status, Share]:
    """Shares of each status among the people booked, from the county's non-citizen share
    (``status_parameters``: the ``status`` block of population.yaml, or a fitted one).
    Takes one share or an array of them (one per county)."""
    p = status_parameters if status_parameters is not None else parameters()["status"]
    non = np.clip(np.asarray(noncitizen_share) * p["noncitizen_arrest_ratio"], 0.0, 0.95)
    naturalized = np.minimum(non * p["naturalized_per_noncitizen"], 1 - non)
    citizens = 1 - non
    derived = citizens * p["derived_share_of_citizens"]
    shares = {
        Status.US_BORN: citizens - naturalized - derived,
        Status.NATURALIZED: naturalized,
        Status.DERIVED: derived,
    }
    for name, share in p["noncitizen_split"].items():
        shares[Status(name)] = non * share
    return shares


def charge_weights(
    felony_weight: float = 1.0, shares: Mapping[str, float] | None = None
) -> dict[str, float]:
    """Most serious charge at booking: NCIC code -> relative weight, felonies scaled by
    ``felony_weight`` (prior arrests use ``criminal_history.prior_felony_weight``);
    ``shares``: population.yaml's ``charges.shares`` or a fitted copy."""
    shares = shares if shares is not None else parameters()["charges"]["shares"]
    return {
        code: float(share) * (felony_weight if offense(code).grade == "felony" else 1.0)
        for code, share in shares.items()
    }


# ---------------------------------------------------------------------------------------------
# Bookings as arrays: the one sampler

STATUSES: tuple[Status, ...] = tuple(Status)
STATUS_INDEX = {s: i for i, s in enumerate(STATUSES)}
CITIZEN_CODES = np.array([s.is_citizen for s in STATUSES])
NO_CHARGE = -1


@dataclass(frozen=True)
class OffenseCodes:
    """The NCIC table as arrays, indexed by position in ``codes``."""

    codes: tuple[str, ...]
    category_bit: np.ndarray
    felony: np.ndarray
    misdemeanor: np.ndarray
    aggravated: np.ndarray

    @classmethod
    def from_table(cls) -> OffenseCodes:
        table = offense_table()
        codes = tuple(sorted(table))
        return cls(
            codes=codes,
            category_bit=np.array([CATEGORY_BITS[table[c].category] for c in codes], np.int64),
            felony=np.array([table[c].grade == "felony" for c in codes]),
            misdemeanor=np.array([table[c].grade == "misdemeanor" for c in codes]),
            aggravated=np.array([table[c].aggravated_felony for c in codes]),
        )


@cache
def offense_codes() -> OffenseCodes:
    return OffenseCodes.from_table()


@dataclass(frozen=True)
class Cohort:
    """Bookings as arrays (one row per booking)."""

    county: np.ndarray  # index into the run's county table
    status: np.ndarray  # index into STATUSES
    in_ident: np.ndarray
    stale_record: np.ndarray  # LESC's record shows a citizen as non-citizen
    citizenship_evidence: np.ndarray  # a citizen holds a certificate the jail is shown
    citizenship_record: np.ndarray  # the jail holds or is shown a record of citizenship
    record: OffenseRecord
    charges: np.ndarray  # [n, 2] index into OffenseCodes.codes; NO_CHARGE for no second one
    prior_start: np.ndarray  # [n + 1]: person i's prior arrests are rows prior_start[i]:[i+1]
    prior_code: np.ndarray  # per prior arrest, index into OffenseCodes.codes
    prior_convicted: np.ndarray
    custody_path: np.ndarray  # index into population.yaml's custody paths
    custody_hours: np.ndarray
    convicted: np.ndarray  # custody ends with a sentence served (a conviction on this arrest)
    has_contact: np.ndarray

    def __len__(self) -> int:
        return int(self.county.shape[0])

    @property
    def citizen(self) -> np.ndarray:
        return CITIZEN_CODES[self.status]

    @property
    def foreign_born(self) -> np.ndarray:
        return self.status != STATUS_INDEX[Status.US_BORN]


def status_table(noncitizen_share: np.ndarray, status_parameters: dict[str, Any]) -> np.ndarray:
    """Per county, the cumulative shares of each status (rows sum to 1)."""
    shares = status_shares(noncitizen_share, status_parameters)
    table = np.stack([np.asarray(shares[s], dtype=np.float64) for s in STATUSES], axis=1)
    table /= table.sum(axis=1, keepdims=True)
    return np.cumsum(table, axis=1)


def _categorical(rng: np.random.Generator, cumulative: np.ndarray, n: int) -> np.ndarray:
    return np.minimum(
        np.searchsorted(cumulative, rng.random(n), side="right"), cumulative.shape[-1] - 1
    )


@lru_cache(maxsize=64)
def _charge_cdf(
    codes: tuple[str, ...], shares: tuple[tuple[str, float], ...], felony_weight: float
) -> np.ndarray:
    """Cumulative charge probabilities over ``codes`` (cached: a run asks for a handful)."""
    index = {c: i for i, c in enumerate(codes)}
    weights = np.zeros(len(codes))
    for c, w in charge_weights(felony_weight, dict(shares)).items():
        weights[index[c]] = w
    return np.cumsum(weights / weights.sum())


def _per_person(values: np.ndarray, start: np.ndarray, op: np.ufunc) -> np.ndarray:
    """``op`` reduced over each person's segment of a flat array (0 for an empty segment)."""
    n = start.shape[0] - 1
    out = np.zeros(n, dtype=values.dtype)
    has = start[1:] > start[:-1]
    if values.size:
        out[has] = op.reduceat(values, start[:-1][has])
    return out


def draw_cohort(
    rng: np.random.Generator,
    county: np.ndarray,
    status_cumulative: np.ndarray,
    codes: OffenseCodes,
    p: Mapping[str, Any],
    stale_rate: float,
) -> Cohort:
    """Bookings in the given counties (one row each), drawn from population parameters ``p``
    (population.yaml, or a calibration's values over it)."""
    n = int(county.shape[0])
    u = rng.random(n)
    status = (u[:, None] > status_cumulative[county]).sum(axis=1).astype(np.int8)
    status = np.minimum(status, len(STATUSES) - 1)

    enroll = np.array([p["ident_enrollment"][s.value] for s in STATUSES])
    in_ident = rng.random(n) < enroll[status]
    naturalized_or_derived = (status == STATUS_INDEX[Status.NATURALIZED]) | (
        status == STATUS_INDEX[Status.DERIVED]
    )
    stale = naturalized_or_derived & (rng.random(n) < stale_rate)
    evidence_rate = np.array([p["citizenship_evidence"].get(s.value, 0.0) for s in STATUSES])
    evidence = rng.random(n) < evidence_rate[status]
    us_birth_place = status == STATUS_INDEX[Status.US_BORN]

    history = p["criminal_history"]
    shares = tuple(sorted(p["charges"]["shares"].items()))
    charge_cdf = _charge_cdf(codes.codes, shares, 1.0)
    first = _categorical(rng, charge_cdf, n)
    second = np.where(
        rng.random(n) < float(p["charges"].get("second_charge_share", 0.0)),
        _categorical(rng, charge_cdf, n),
        NO_CHARGE,
    )
    has_second = second != NO_CHARGE
    second_safe = np.maximum(second, 0)

    def of_second(values: np.ndarray) -> np.ndarray:
        return np.where(has_second, values[second_safe], 0)

    bit1, bit2 = codes.category_bit[first], of_second(codes.category_bit)
    fel1, fel2 = codes.felony[first], of_second(codes.felony).astype(bool)

    # Prior arrests: a Poisson count each, every one with its offense and whether it ended in
    # a conviction; drawn flat and reduced per person.
    n_prior = rng.poisson(history["prior_arrests_mean"], n)
    prior_start = np.concatenate(([0], np.cumsum(n_prior))).astype(np.int64)
    total = int(prior_start[-1])
    prior_cdf = _charge_cdf(codes.codes, shares, float(history["prior_felony_weight"]))
    prior_code = _categorical(rng, prior_cdf, total)
    prior_convicted = rng.random(total) < history["conviction_rate"]
    conv_bits = np.where(prior_convicted, codes.category_bit[prior_code], 0)
    conv_felony = prior_convicted & codes.felony[prior_code]
    conv_misdemeanor = prior_convicted & codes.misdemeanor[prior_code]
    conv_aggravated = conv_felony & codes.aggravated[prior_code]
    record = OffenseRecord(
        charge_any=bit1 | bit2,
        charge_felony=np.where(fel1, bit1, 0) | np.where(fel2, bit2, 0),
        conviction_any=_per_person(conv_bits, prior_start, np.bitwise_or),
        conviction_felony=_per_person(
            np.where(conv_felony, conv_bits, 0), prior_start, np.bitwise_or
        ),
        felony_convictions=_per_person(conv_felony.astype(np.int64), prior_start, np.add),
        misdemeanor_convictions=_per_person(conv_misdemeanor.astype(np.int64), prior_start, np.add),
        aggravated_felony_conviction=_per_person(
            conv_aggravated.astype(np.int64), prior_start, np.add
        )
        > 0,
        felony_charges=fel1.astype(np.int64) + fel2.astype(np.int64),
        misdemeanor_charges=codes.misdemeanor[first].astype(np.int64)
        + of_second(codes.misdemeanor).astype(np.int64),
        aggravated_felony_charge=(fel1 & codes.aggravated[first])
        | (fel2 & of_second(codes.aggravated).astype(bool)),
    )

    paths = p["custody"]["paths"]
    names = list(paths)
    path_cdf = np.cumsum([paths[k]["share"] for k in names])
    path_cdf /= path_cdf[-1]
    path = _categorical(rng, path_cdf, n)
    median = np.array([paths[k]["median_hours"] for k in names])[path]
    sigma = np.array([paths[k]["sigma"] for k in names])[path]
    custody_hours = np.maximum(median * np.exp(sigma * rng.standard_normal(n)), 0.5)

    return Cohort(
        county=county,
        status=status,
        in_ident=in_ident,
        stale_record=stale,
        citizenship_evidence=evidence,
        citizenship_record=evidence | us_birth_place,
        record=record,
        charges=np.stack([first, second], axis=1),
        prior_start=prior_start,
        prior_code=prior_code,
        prior_convicted=prior_convicted,
        custody_path=path,
        custody_hours=custody_hours,
        convicted=path == names.index("sentence_served"),
        has_contact=rng.random(n) < p["contact_on_record"],
    )


# ---------------------------------------------------------------------------------------------
# The pipeline's synthetic person: row i of a cohort, with what no rule reads


def booking_of(
    cohort: Cohort,
    i: int,
    rng: np.random.Generator,
    person_id: str,
    booked_at: dt.datetime,
    home_state: str,
    p: Mapping[str, Any] | None = None,
) -> SyntheticBooking:
    """The synthetic booking of row ``i``: its person as the agencies' records hold them. What
    the rules read (status, IDENT enrolment, LESC's record, charges, convictions, custody) is
    the row's; ``rng`` draws the rest (name, birth date and place abroad, dates of the
    encounters and arrests, document numbers, the fingerprint seed)."""
    p = p if p is not None else parameters()
    codes = offense_codes()
    when = booked_at.date()
    status = STATUSES[int(cohort.status[i])]
    dob = when - dt.timedelta(days=int(rng.integers(18 * 365, 65 * 365)))
    pob = home_state if status == Status.US_BORN else str(rng.choice(COUNTRIES))
    encounters: tuple[Encounter, ...] = ()
    if cohort.in_ident[i]:
        kind = {
            Status.NATURALIZED: EncounterKind.NATURALIZATION,
            Status.DERIVED: EncounterKind.BENEFIT,
            Status.LPR: EncounterKind.BENEFIT,
            Status.VISA: EncounterKind.VISA,
            Status.UNDOCUMENTED: EncounterKind.BORDER,
            Status.PRIOR_REMOVAL: EncounterKind.REMOVAL,
            Status.US_BORN: EncounterKind.BORDER,
        }[status]
        encounters = (Encounter(kind, when - dt.timedelta(days=int(rng.integers(30, 15 * 365)))),)
    # A stale record never learned of the naturalization: it still shows the old status.
    on_record = Status.LPR if cohort.stale_record[i] else status
    evidence: tuple[CitizenshipEvidence, ...] = ()
    if cohort.citizenship_evidence[i]:
        document = (
            "naturalization_certificate"
            if status == Status.NATURALIZED
            else "certificate_of_citizenship"
        )
        evidence = (CitizenshipEvidence(document, f"N{rng.integers(10**7, 10**8)}"),)
    first, last = int(cohort.prior_start[i]), int(cohort.prior_start[i + 1])
    arrests = []
    for k in range(first, last):
        code = codes.codes[int(cohort.prior_code[k])]
        arrests.append(
            PriorArrest(
                on=when - dt.timedelta(days=int(rng.integers(60, 10 * 365))),
                code=code,
                grade=offense(code).grade,
                convicted=bool(cohort.prior_convicted[k]),
                sentence_days=int(rng.integers(0, 365)),
            )
        )
    person = Person(
        person_id=person_id,
        name=f"{rng.choice(LAST)},{rng.choice(FIRST)}",
        date_of_birth=dob,
        sex=str(rng.choice(["M", "F"], p=[0.8, 0.2])),
        place_of_birth=pob,
        status=status,
        encounters=encounters,
        rap_sheet=tuple(sorted(arrests, key=lambda a: a.on)),
        status_on_record=on_record,
        citizenship_evidence=evidence,
        contact=f"contact-{person_id}" if cohort.has_contact[i] else None,
        finger_seed=int(rng.integers(0, 2**31 - 1)),
    )
    charges = [
        (codes.codes[int(c)], offense(codes.codes[int(c)]).grade)
        for c in cohort.charges[i]
        if c != NO_CHARGE
    ]
    reason = list(p["custody"]["paths"])[int(cohort.custody_path[i])]
    return SyntheticBooking(
        person, booked_at, tuple(charges), reason, float(cohort.custody_hours[i])
    )
