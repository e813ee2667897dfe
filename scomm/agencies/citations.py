"""Legal authorities the agencies cite in a case's log, dated: a step cites only what was in
force on its day (a detainer answered in 2013 cannot cite a ruling of 2014).

Each entry is the text cited from the day the authority took effect; :func:`cited_on` picks
the newest one in force."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

Dated = Sequence[tuple[dt.date, str]]

# What a detainer is: a request (the regulation), then also in the courts' words.
DETAINER_IS_A_REQUEST: Dated = (
    (
        dt.date.min,
        "a detainer is a request that the jail tell ICE of the release and hold the person "
        "(8 CFR 287.7(a), (d))",
    ),
    (
        dt.date(2014, 3, 4),
        "detainers are requests, not orders (8 CFR 287.7(a); Galarza v. Szalczyk, "
        "745 F.3d 634, 3d Cir., 4 March 2014)",
    ),
)

# Why ICE may close a case without removal.
PROSECUTORIAL_DISCRETION: Dated = (
    (
        dt.date.min,
        "Case closed in ICE's prosecutorial discretion (INS Commissioner Doris Meissner, "
        "'Exercising Prosecutorial Discretion', 17 November 2000)",
    ),
    (
        dt.date(2011, 6, 17),
        "Case closed in ICE's prosecutorial discretion (ICE Director John Morton, 'Exercising "
        "Prosecutorial Discretion Consistent with the Civil Immigration Enforcement "
        "Priorities of the Agency for the Apprehension, Detention, and Removal of Aliens', "
        "17 June 2011)",
    ),
)


def cited_on(authorities: Dated, day: dt.date) -> str:
    """The newest text in force on ``day`` (entries in date order)."""
    in_force = [text for since, text in authorities if since <= day]
    if not in_force:
        raise ValueError(f"no authority in force on {day}")
    return in_force[-1]
