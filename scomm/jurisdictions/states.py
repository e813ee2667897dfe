"""The 50 states and the District of Columbia: FIPS code, postal code, name (FIPS PUB 5-2).

Secure Communities covered these 51; territories (Puerto Rico, 72) are outside the rollout panel
and the Census county estimates scomm reads, so they are not listed.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class State:
    fips: str
    postal: str
    name: str


STATES: tuple[State, ...] = tuple(
    State(f, p, n)
    for f, p, n in (
        ("01", "AL", "Alabama"),
        ("02", "AK", "Alaska"),
        ("04", "AZ", "Arizona"),
        ("05", "AR", "Arkansas"),
        ("06", "CA", "California"),
        ("08", "CO", "Colorado"),
        ("09", "CT", "Connecticut"),
        ("10", "DE", "Delaware"),
        ("11", "DC", "District of Columbia"),
        ("12", "FL", "Florida"),
        ("13", "GA", "Georgia"),
        ("15", "HI", "Hawaii"),
        ("16", "ID", "Idaho"),
        ("17", "IL", "Illinois"),
        ("18", "IN", "Indiana"),
        ("19", "IA", "Iowa"),
        ("20", "KS", "Kansas"),
        ("21", "KY", "Kentucky"),
        ("22", "LA", "Louisiana"),
        ("23", "ME", "Maine"),
        ("24", "MD", "Maryland"),
        ("25", "MA", "Massachusetts"),
        ("26", "MI", "Michigan"),
        ("27", "MN", "Minnesota"),
        ("28", "MS", "Mississippi"),
        ("29", "MO", "Missouri"),
        ("30", "MT", "Montana"),
        ("31", "NE", "Nebraska"),
        ("32", "NV", "Nevada"),
        ("33", "NH", "New Hampshire"),
        ("34", "NJ", "New Jersey"),
        ("35", "NM", "New Mexico"),
        ("36", "NY", "New York"),
        ("37", "NC", "North Carolina"),
        ("38", "ND", "North Dakota"),
        ("39", "OH", "Ohio"),
        ("40", "OK", "Oklahoma"),
        ("41", "OR", "Oregon"),
        ("42", "PA", "Pennsylvania"),
        ("44", "RI", "Rhode Island"),
        ("45", "SC", "South Carolina"),
        ("46", "SD", "South Dakota"),
        ("47", "TN", "Tennessee"),
        ("48", "TX", "Texas"),
        ("49", "UT", "Utah"),
        ("50", "VT", "Vermont"),
        ("51", "VA", "Virginia"),
        ("53", "WA", "Washington"),
        ("54", "WV", "West Virginia"),
        ("55", "WI", "Wisconsin"),
        ("56", "WY", "Wyoming"),
    )
)

BY_FIPS: dict[str, State] = {s.fips: s for s in STATES}
BY_POSTAL: dict[str, State] = {s.postal: s for s in STATES}


def state_fips(state: str) -> str | None:
    """A state's FIPS code from its postal code, FIPS code or name; None if unknown."""
    key = state.strip()
    if key in BY_FIPS:
        return key
    if key.upper() in BY_POSTAL:
        return BY_POSTAL[key.upper()].fips
    return next((s.fips for s in STATES if s.name.lower() == key.lower()), None)
