"""Who gets booked: the synthetic people of a run, drawn from ``population.yaml``.

One person at a time here (the live pipeline's synthetic bookings); the national simulation
draws the same distributions as arrays. Every draw comes from a seeded generator.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import yaml

from scomm.offenses import offense
from scomm.people import (
    CitizenshipEvidence,
    Encounter,
    EncounterKind,
    Person,
    PriorArrest,
    Status,
)

Share = float | np.ndarray


@cache
def parameters() -> dict[str, Any]:
    return yaml.safe_load(resources.files("scomm").joinpath("population.yaml").read_text())


def admissions_per_capita(year: int) -> float:
    table = {int(k): float(v) for k, v in parameters()["jail_admissions"]["per_capita"].items()}
    years = sorted(table)
    return float(np.interp(year, years, [table[y] for y in years]))


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


def draw_person(
    rng: np.random.Generator,
    person_id: str,
    when: dt.date,
    noncitizen_share: float,
    home_state: str,
) -> Person:
    p = parameters()
    shares = status_shares(noncitizen_share)
    statuses = list(shares)
    status = statuses[
        rng.choice(len(statuses), p=np.array(list(shares.values())) / sum(shares.values()))
    ]
    age_days = int(rng.integers(18 * 365, 65 * 365))
    dob = when - dt.timedelta(days=age_days)
    pob = home_state if status == Status.US_BORN else str(rng.choice(COUNTRIES))

    encounters: list[Encounter] = []
    if rng.random() < p["ident_enrollment"][status.value]:
        kind = {
            Status.NATURALIZED: EncounterKind.NATURALIZATION,
            Status.DERIVED: EncounterKind.BENEFIT,
            Status.LPR: EncounterKind.BENEFIT,
            Status.VISA: EncounterKind.VISA,
            Status.UNDOCUMENTED: EncounterKind.BORDER,
            Status.PRIOR_REMOVAL: EncounterKind.REMOVAL,
            Status.US_BORN: EncounterKind.BORDER,
        }[status]
        encounters.append(
            Encounter(kind, when - dt.timedelta(days=int(rng.integers(30, 15 * 365))))
        )

    on_record = status
    if status in (Status.NATURALIZED, Status.DERIVED):
        from scomm.policies.practice import default_practice

        if rng.random() < default_practice().stale_citizen_record_rate:
            on_record = Status.LPR  # the record never learned of the naturalization
    evidence: tuple[CitizenshipEvidence, ...] = ()
    share = p["citizenship_evidence"].get(status.value, 0.0)
    if rng.random() < share:
        document = (
            "naturalization_certificate"
            if status == Status.NATURALIZED
            else "certificate_of_citizenship"
        )
        evidence = (CitizenshipEvidence(document, f"N{rng.integers(10**7, 10**8)}"),)

    history = p["criminal_history"]
    arrests = []
    for _ in range(int(rng.poisson(history["prior_arrests_mean"]))):
        code = _draw_charge(rng, history["prior_felony_weight"])
        arrests.append(
            PriorArrest(
                on=when - dt.timedelta(days=int(rng.integers(60, 10 * 365))),
                code=code,
                grade=offense(code).grade,
                convicted=bool(rng.random() < history["conviction_rate"]),
                sentence_days=int(rng.integers(0, 365)),
            )
        )
    return Person(
        person_id=person_id,
        name=f"{rng.choice(LAST)},{rng.choice(FIRST)}",
        date_of_birth=dob,
        sex=str(rng.choice(["M", "F"], p=[0.8, 0.2])),
        place_of_birth=pob,
        status=status,
        encounters=tuple(encounters),
        rap_sheet=tuple(sorted(arrests, key=lambda a: a.on)),
        status_on_record=on_record,
        citizenship_evidence=evidence,
        contact=f"contact-{person_id}" if rng.random() < p["contact_on_record"] else None,
        finger_seed=int(rng.integers(0, 2**31 - 1)),
    )


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


def _draw_charge(rng: np.random.Generator, felony_weight: float = 1.0) -> str:
    weights_by_code = charge_weights(felony_weight)
    codes = list(weights_by_code)
    weights = np.array([weights_by_code[c] for c in codes])
    return codes[int(rng.choice(len(codes), p=weights / weights.sum()))]


def draw_booking(
    rng: np.random.Generator, person: Person, booked_at: dt.datetime
) -> SyntheticBooking:
    code = _draw_charge(rng)
    charges = [(code, offense(code).grade)]
    if rng.random() < 0.3:
        extra = _draw_charge(rng)
        charges.append((extra, offense(extra).grade))
    paths = parameters()["custody"]["paths"]
    names = list(paths)
    weights = np.array([paths[n]["share"] for n in names])
    reason = names[int(rng.choice(len(names), p=weights / weights.sum()))]
    hours = float(
        paths[reason]["median_hours"] * np.exp(paths[reason]["sigma"] * rng.standard_normal())
    )
    return SyntheticBooking(person, booked_at, tuple(charges), reason, max(hours, 0.5))
