"""NCIC offense codes, each with the category and grade the rules read.

The table (``ncic.yaml``) follows the NCIC Uniform Offense Classifications (NCIC 2000 Code
Manual): a four-digit code whose first two digits name the offense group. Each entry gives its
category (the words our policies use: a TRUST Act "serious offense" list is a list of these),
its usual grade (felony or misdemeanor; an arrest may carry another) and whether a conviction
for it counts as an aggravated felony for ICE's Level 1 (8 U.S.C. 1101(a)(43)).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

import yaml

from scomm.errors import InputError

Grade = Literal["felony", "misdemeanor", "infraction"]

# The categories a rule can name. Keep in step with ncic.yaml.
CATEGORIES: frozenset[str] = frozenset(
    {
        "homicide",
        "kidnapping",
        "sexual_assault",
        "robbery",
        "aggravated_assault",
        "simple_assault",
        "arson",
        "burglary",
        "theft",
        "vehicle_theft",
        "fraud",
        "stolen_property",
        "property_damage",
        "drug_trafficking",
        "drug_possession",
        "weapons",
        "sex_offense",
        "family_offense",
        "dui",
        "traffic",
        "immigration",
        "obstruction",
        "public_order",
    }
)


@dataclass(frozen=True)
class Offense:
    code: str
    description: str
    category: str
    grade: Grade
    aggravated_felony: bool
    violent: bool


@cache
def offense_table() -> dict[str, Offense]:
    text = resources.files(__package__).joinpath("ncic.yaml").read_text()
    rows = yaml.safe_load(text)["offenses"]
    table = {}
    for row in rows:
        offense = Offense(
            code=str(row["code"]),
            description=row["description"],
            category=row["category"],
            grade=row["grade"],
            aggravated_felony=bool(row.get("aggravated_felony", False)),
            violent=bool(row.get("violent", False)),
        )
        if offense.category not in CATEGORIES:
            raise ValueError(f"ncic.yaml: code {offense.code}: unknown category {offense.category}")
        table[offense.code] = offense
    return table


def offense(code: str) -> Offense:
    """The offense with this NCIC code, or an :class:`InputError` naming it."""
    try:
        return offense_table()[code]
    except KeyError:
        raise InputError(f"offense code {code!r}", "not an NCIC code scomm knows") from None
