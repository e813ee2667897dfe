"""FBI CJIS / IAFIS: the criminal master file search and the rap sheet."""

from __future__ import annotations

import datetime as dt
from typing import Any

from scomm.agencies.base import Emit, Send, StepResult
from scomm.policies.flow import delay
from scomm.policies.practice import StepDelays


def answer_search(
    at: dt.datetime,
    fbi_number: str | None,
    score: float | None,
    rap_sheet: list[dict[str, Any]],
    forward_to_ident: bool,
    delays: StepDelays | None = None,
) -> StepResult:
    """Answer the booking agency with the criminal history found (or none) and, in an activated
    jurisdiction, pass the prints on to IDENT."""
    d = delays
    found = fbi_number is not None
    payload = {
        "match": found,
        "fbi_number": fbi_number,
        "score": score,
        "rap_sheet": rap_sheet,
        "forwarded_to_ident": forward_to_ident,
    }
    basis = "28 U.S.C. 534: FBI criminal history records; IAFIS ten-print search"
    following = (
        Send("ident.search", at + delay(d, "cjis_to_ident"))
        if forward_to_ident
        else Send("ero.cap_screen", at + delay(d, "no_match_to_screen"))
    )
    return StepResult(
        events=(Emit("cjis.response", "FBI CJIS", at, payload, basis),), next=(following,)
    )
