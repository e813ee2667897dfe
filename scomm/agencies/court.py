"""Transfer to ICE custody, removal proceedings, the outcome."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from scomm.agencies.base import Emit, Send, StepResult
from scomm.jurisdictions.timezones import county_zone, with_local_offset
from scomm.policies import flow
from scomm.policies.decisions import LEVEL_INDEX
from scomm.policies.practice import Practice
from scomm.policies.schema import Level


def transfer(
    at: dt.datetime,
    booking: dict[str, Any],
    hold_started_at: dt.datetime | None,
    expires_at: dt.datetime | None,
    practice: Practice,
    route: str = "hold",
    *,
    rng: np.random.Generator,
) -> StepResult:
    """ICE takes custody at the jail: at the end of a hold, or at the door on release
    (``route`` "release": the jail told ICE); the hold (if any) ends here."""
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
            {"from_ori": booking["ori"], "route": route},
            "Transfer to ICE custody: 8 U.S.C. 1226(a) (arrest and detention pending removal proceedings)",
        )
    )
    return StepResult(tuple(events), (_proceedings_end(at, practice, rng),))


def _proceedings_end(at: dt.datetime, practice: Practice, rng: np.random.Generator) -> Send:
    """The proceedings' outcome, as long after ICE took custody as they take
    (:func:`scomm.policies.flow.proceedings_minutes`)."""
    minutes = float(flow.proceedings_minutes(rng, 1, practice)[0])
    return Send("court.proceedings", at + dt.timedelta(minutes=minutes))


def arrest_at_large(at: dt.datetime, practice: Practice, rng: np.random.Generator) -> StepResult:
    """ICE arrests, at home or at work, a person it wanted who left the jail with no hold."""
    return StepResult(
        (
            Emit(
                "ice.arrest_at_large",
                "ICE ERO",
                at,
                {},
                "Arrest by an immigration officer (8 U.S.C. 1357(a)(2)), after release from jail",
            ),
        ),
        (_proceedings_end(at, practice, rng),),
    )


def proceedings(
    at: dt.datetime, level: str, practice: Practice, rng: np.random.Generator
) -> StepResult:
    """The outcome of removal proceedings (:func:`scomm.policies.flow.proceedings_outcome`),
    each removal classified by ICE's level."""
    code = int(flow.proceedings_outcome(rng, np.array([LEVEL_INDEX[Level(level)]]), practice)[0])
    result = flow.OUTCOME_NAMES[code]
    basis = {
        flow.VOLUNTARY_RETURN: "INA 240B: voluntary departure",
        flow.REMOVAL: "INA 240: order of removal by an immigration judge, or reinstatement "
        "(INA 241(a)(5))",
        flow.RELIEF: "Relief from removal granted (e.g. cancellation of removal, INA 240A)",
        flow.DISCRETION: "Case closed in ICE's prosecutorial discretion (Morton memo, June 2011)",
    }[code]
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
