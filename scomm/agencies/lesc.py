"""ICE's Law Enforcement Support Center: checks status records and answers with an IAR."""

from __future__ import annotations

import datetime as dt

from scomm.agencies.base import Emit, Send, StepResult, iso
from scomm.forms.ice import IAR, Determination
from scomm.people import Status
from scomm.policies.flow import delay
from scomm.policies.practice import StepDelays


def respond(
    at: dt.datetime,
    fin: str,
    status_on_record: Status,
    field_office: str,
    results_reach_agency: bool,
    delays: StepDelays | None = None,
) -> StepResult:
    """The IAR: LESC's status determination from the records it has (which may be stale)."""
    iar = IAR(
        determination=Determination.of_status(status_on_record),
        ident_fin=fin,
        field_office=field_office,
        reaches_agency=results_reach_agency,
        sent_at=at,
    )
    payload = {
        "determination": iar.determination.value,
        "us_citizen": iar.determination.is_citizen,
        "ident_fin": fin,
        "field_office": field_office,
        "reaches_agency": results_reach_agency,
        "sent_at": iso(at),
    }
    basis = "8 U.S.C. 1373(c): ICE answers inquiries on a person's immigration status"
    if not results_reach_agency:
        basis += "; the agency opted out of results, so the IAR goes to ICE only"
    return StepResult(
        events=(Emit("lesc.iar", "ICE LESC", at, payload, basis),),
        next=(Send("ero.decide", at + delay(delays, "lesc_to_ero")),),
    )
