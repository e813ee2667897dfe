"""Transfer to ICE custody, removal proceedings, the outcome."""

from __future__ import annotations

import datetime as dt
from typing import Any

from scomm.agencies.base import Emit, Send, StepResult
from scomm.jurisdictions.timezones import county_zone, with_local_offset
from scomm.policies.practice import Practice


def transfer(
    at: dt.datetime,
    booking: dict[str, Any],
    hold_started_at: dt.datetime | None,
    expires_at: dt.datetime | None,
    practice: Practice,
) -> StepResult:
    """ICE takes custody at the jail; the hold (if any) ends here."""
    events = []
    if hold_started_at is not None:
        if expires_at is not None and at > expires_at:
            raise AssertionError(f"pickup at {at} is past the hold's limit {expires_at}")
        hours = (at - hold_started_at).total_seconds() / 3600
        local = with_local_offset(at, county_zone(booking["county_fips"]))
        events.append(
            Emit(
                "hold.ended",
                f"Jail {booking['ori']}",
                at,
                {"reason": "ice_pickup", "hours": round(hours, 2), "ended_at": local.isoformat()},
                "ICE took custody within the hold's legal limit",
            )
        )
    events.append(
        Emit(
            "transfer",
            "ICE ERO",
            at,
            {"from_ori": booking["ori"]},
            "Transfer to ICE custody: 8 U.S.C. 1226(a) (arrest and detention pending removal proceedings)",
        )
    )
    days = practice.proceedings_days_median
    return StepResult(tuple(events), (Send("court.proceedings", at + dt.timedelta(days=days)),))


def proceedings(
    at: dt.datetime, level: str, practice: Practice, removal_draw: float, kind_draw: float
) -> StepResult:
    """The outcome of removal proceedings, each removal classified by ICE's level."""
    if removal_draw < practice.removal_rate[level]:
        if kind_draw < practice.voluntary_return_share:
            result, basis = "voluntary_return", "INA 240B: voluntary departure"
        else:
            result, basis = (
                "removal",
                "INA 240: order of removal by an immigration judge, or reinstatement (INA 241(a)(5))",
            )
    elif kind_draw < practice.relief_share:
        result, basis = (
            "relief",
            "Relief from removal granted (e.g. cancellation of removal, INA 240A)",
        )
    else:
        result, basis = (
            "prosecutorial_discretion",
            "Case closed in ICE's prosecutorial discretion (Morton memo, June 2011)",
        )
    return StepResult(
        (
            Emit(
                "outcome",
                "Immigration court / ICE ERO",
                at,
                {"result": result, "level": level},
                basis,
            ),
        ),
        (),
    )
