"""The documents between the agencies after a match: IAQ, IAR and the detainer (I-247 family).

Field names follow the forms: the Nlets Immigration Alien Query and Response, and each version
of DHS Form I-247 (the 2007 and 2010 "Immigration Detainer - Notice of Action", the December
2012 revision, PEP's I-247D / I-247N / I-247X of 2015 and the I-247A of 2017).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from scomm.people import Status


@dataclass(frozen=True)
class IAQ:
    """Immigration Alien Query, sent to LESC on an IDENT match (Nlets message fields)."""

    ori: str  # originating agency
    name: str
    date_of_birth: dt.date
    sex: str
    place_of_birth: str
    in_custody: bool  # Nlets CUS: Y/N
    offense_code: str  # NCIC code of the most serious arrest charge
    ident_fin: str  # IDENT fingerprint identification number of the matched record
    sent_at: dt.datetime


class Determination(StrEnum):
    """LESC's status determination in the IAR."""

    US_CITIZEN_BIRTH = "us_citizen_birth"
    US_CITIZEN_NATURALIZED = "us_citizen_naturalized"
    US_CITIZEN_DERIVED = "us_citizen_derived"
    LAWFUL_PERMANENT_RESIDENT = "lawful_permanent_resident"
    NONIMMIGRANT = "nonimmigrant"
    NO_LAWFUL_STATUS = "no_lawful_status"
    PREVIOUSLY_REMOVED = "previously_removed"

    @property
    def is_citizen(self) -> bool:
        return self in (
            Determination.US_CITIZEN_BIRTH,
            Determination.US_CITIZEN_NATURALIZED,
            Determination.US_CITIZEN_DERIVED,
        )

    @classmethod
    def of_status(cls, status: Status) -> Determination:
        return _DETERMINATION_OF_STATUS[status]


_DETERMINATION_OF_STATUS = {
    Status.US_BORN: Determination.US_CITIZEN_BIRTH,
    Status.NATURALIZED: Determination.US_CITIZEN_NATURALIZED,
    Status.DERIVED: Determination.US_CITIZEN_DERIVED,
    Status.LPR: Determination.LAWFUL_PERMANENT_RESIDENT,
    Status.VISA: Determination.NONIMMIGRANT,
    Status.UNDOCUMENTED: Determination.NO_LAWFUL_STATUS,
    Status.PRIOR_REMOVAL: Determination.PREVIOUSLY_REMOVED,
}


@dataclass(frozen=True)
class IAR:
    """Immigration Alien Response: LESC's answer to the ERO field office (and, through the SIB,
    to the booking agency unless it opted out of results)."""

    determination: Determination
    ident_fin: str
    field_office: str
    reaches_agency: bool
    sent_at: dt.datetime


# ---------------------------------------------------------------------------------------------
# The detainer

# The fields each version of the form carries (beyond subject, jail and date).
FORM_FIELDS: dict[str, tuple[str, ...]] = {
    "I-247 (08/07)": (
        "investigation_initiated",
        "notice_to_appear_served",
        "hold_48h_excluding_weekends",
    ),
    "I-247 (08/10)": (
        "investigation_initiated",
        "notice_to_appear_served",
        "hold_48h_excluding_weekends",
    ),
    "I-247 (12/11)": (
        "investigation_initiated",
        "notice_to_appear_served",
        "hold_48h_excluding_weekends",
    ),
    "I-247 (12/12)": (
        "probable_cause_basis",
        "hold_48h_excluding_weekends",
        "notify_before_release",
    ),
    "I-247D": ("priority_conviction", "probable_cause_basis", "hold_48h", "notify_before_release"),
    "I-247N": ("priority_conviction", "notify_before_release"),
    "I-247X": ("priority_conviction", "transfer_request"),
    "I-247A": (
        "probable_cause_basis",
        "administrative_warrant",
        "hold_48h",
        "notify_before_release",
    ),
}


@dataclass(frozen=True)
class Detainer:
    """DHS Form I-247 (any version): a request, signed by an immigration officer, not a judge."""

    form: str
    subject_name: str
    date_of_birth: dt.date
    ident_fin: str
    jail_ori: str
    issued_at: dt.datetime
    issuing_officer: str
    level: str
    fields: dict[str, Any] = field(default_factory=dict)
    judicial_warrant: bool = False  # no version of the form carries one
    reimbursement_offered: bool = False  # ICE does not pay for detainer holds (8 CFR 287.7(e))

    def __post_init__(self) -> None:
        expected = FORM_FIELDS.get(self.form)
        if expected is None:
            raise ValueError(f"unknown detainer form {self.form!r}")
        missing = set(expected) - set(self.fields)
        if missing:
            raise ValueError(f"{self.form} needs the fields {sorted(missing)}")

    @property
    def requests_hold(self) -> bool:
        return any(name.startswith("hold_48h") for name in self.fields)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["date_of_birth"] = self.date_of_birth.isoformat()
        out["issued_at"] = self.issued_at.isoformat()
        return out


def fill_detainer_fields(form: str, *, level: str, administrative_warrant: bool) -> dict[str, Any]:
    """The boxes an officer ticks on this version of the form for a person of ``level``."""
    values: dict[str, Any] = {
        "investigation_initiated": True,
        "notice_to_appear_served": False,
        "hold_48h_excluding_weekends": True,
        "hold_48h": True,
        "notify_before_release": True,
        "probable_cause_basis": "biometric confirmation of identity and records indicating removability",
        "priority_conviction": level,
        "transfer_request": True,
        "administrative_warrant": "I-200" if administrative_warrant else None,
    }
    return {name: values[name] for name in FORM_FIELDS[form]}
