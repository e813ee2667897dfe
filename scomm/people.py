"""The person at the centre of a case: who they are, what the agencies' databases hold on them.

Agencies never see a :class:`Person` whole. The booking agency sees what the person says and the
prints it takes; FBI CJIS holds arrests and convictions (the rap sheet); DHS IDENT holds
immigration encounters; ICE LESC holds status records, which may be out of date (a naturalized
citizen whose record still says "permanent resident" is how US citizens end up on detainers).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum


class Status(StrEnum):
    """Citizenship and immigration status (the truth, not what a record says)."""

    US_BORN = "us_born"
    NATURALIZED = "naturalized"
    DERIVED = "derived_citizen"  # citizenship through a parent (INA 320/321)
    LPR = "lawful_permanent_resident"
    VISA = "visa_holder"
    UNDOCUMENTED = "undocumented"
    PRIOR_REMOVAL = "prior_removal"

    @property
    def is_citizen(self) -> bool:
        return self in (Status.US_BORN, Status.NATURALIZED, Status.DERIVED)


CITIZEN_STATUSES = frozenset(s for s in Status if s.is_citizen)


class EncounterKind(StrEnum):
    """Why DHS IDENT holds someone's prints."""

    VISA = "visa_application"
    BORDER = "border_crossing"
    BENEFIT = "benefit_application"
    ARREST = "immigration_arrest"
    REMOVAL = "removal"
    NATURALIZATION = "naturalization"


@dataclass(frozen=True)
class Encounter:
    kind: EncounterKind
    on: dt.date


@dataclass(frozen=True)
class PriorArrest:
    """One line of a rap sheet."""

    on: dt.date
    code: str  # NCIC offense code
    grade: str
    convicted: bool
    sentence_days: int = 0


@dataclass(frozen=True)
class CitizenshipEvidence:
    """A record that the person is a US citizen: it stops a detainer (a safeguard)."""

    kind: str  # "us_birth_certificate", "naturalization_certificate", "certificate_of_citizenship"
    number: str


@dataclass(frozen=True)
class Person:
    person_id: str
    name: str  # "LAST,FIRST"
    date_of_birth: dt.date
    sex: str
    place_of_birth: str  # US state postal code or country code
    status: Status
    encounters: tuple[Encounter, ...] = ()
    rap_sheet: tuple[PriorArrest, ...] = ()
    # What LESC's status records say; differs from ``status`` when a record is stale.
    status_on_record: Status | None = None
    citizenship_evidence: tuple[CitizenshipEvidence, ...] = ()
    contact: str | None = None  # designated contact to notify when a hold starts
    finger_seed: int = 0  # seed of the person's ten synthetic master prints

    @property
    def in_ident(self) -> bool:
        return bool(self.encounters)

    @property
    def foreign_born(self) -> bool:
        return not born_in_us(self.place_of_birth)

    @property
    def convictions(self) -> list[PriorArrest]:
        return [a for a in self.rap_sheet if a.convicted]


# Place-of-birth codes (NCIC POB): US postal codes for states and territories; any other code
# names a country.
US_STATES = frozenset(
    [
        "AL",
        "AK",
        "AZ",
        "AR",
        "CA",
        "CO",
        "CT",
        "DE",
        "DC",
        "FL",
        "GA",
        "HI",
        "ID",
        "IL",
        "IN",
        "IA",
        "KS",
        "KY",
        "LA",
        "ME",
        "MD",
        "MA",
        "MI",
        "MN",
        "MS",
        "MO",
        "MT",
        "NE",
        "NV",
        "NH",
        "NJ",
        "NM",
        "NY",
        "NC",
        "ND",
        "OH",
        "OK",
        "OR",
        "PA",
        "RI",
        "SC",
        "SD",
        "TN",
        "TX",
        "UT",
        "VT",
        "VA",
        "WA",
        "WV",
        "WI",
        "WY",
        "PR",
        "GU",
        "VI",
        "AS",
        "MP",
    ]
)


def born_in_us(place_of_birth: str) -> bool:
    return place_of_birth in US_STATES


@dataclass
class Custody:
    """How the criminal case ends: when the person would otherwise be released, and why."""

    reason: str  # "bail", "dismissal", "acquittal", "sentence_served"
    after_hours: float
    extra: dict[str, str] = field(default_factory=dict)
