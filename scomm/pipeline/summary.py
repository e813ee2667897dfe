"""The figures of a run, derived from the case states (themselves derived from the log)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from scomm.jurisdictions.timezones import county_zone
from scomm.pipeline.case import CaseState
from scomm.policies.hold_check import held_too_long

CITIZEN = frozenset({"us_born", "naturalized", "derived_citizen"})
LEVELS = ("level_1", "level_2", "level_3", "non_criminal")

# Row labels of the summary table, in the order of the flow.
LABELS: dict[str, str] = {
    "bookings": "Bookings",
    "secure_communities_not_activated": "  prints to FBI only (not activated)",
    "opted_out_of_results": "  opted out of results",
    "iafis_matches": "IAFIS matches (criminal history found)",
    "ident_matches": "IDENT matches",
    "iars": "IARs (LESC status answers)",
    "iar_us_citizen": "  IAR: US citizen",
    "cap_interviews": "CAP interviews",
    "detainers_issued": "Detainers issued",
    "notification_requests": "Notification requests (I-247N)",
    "detainers_stopped_wrongful": "Wrongful detainers stopped (citizenship record)",
    "detainers_after_release": "Detainers arriving after release",
    "detainers_honored": "Detainers honored",
    "detainers_declined": "Detainers declined",
    "holds_started": "Holds started",
    "holds_ended_by_pickup": "  ended by ICE pickup",
    "holds_expired": "  expired (person released)",
    "hold_hours": "  hold hours",
    "over_holds": "  held past the legal limit",
    "notifications": "Family notifications delivered",
    "notifications_no_contact": "  holds with no designated contact",
    "transfers": "Transfers to ICE",
    "removals": "Removals (incl. voluntary return)",
    "removals_level_1": "  Level 1",
    "removals_level_2": "  Level 2",
    "removals_level_3": "  Level 3",
    "removals_non_criminal": "  non-criminal",
    "us_citizens_held": "US citizens held (synthetic truth)",
    "in_progress": "Cases still in progress",
}


def summarize(cases: Iterable[CaseState]) -> dict[str, Any]:
    n: Counter[str] = Counter()
    hold_hours = 0.0
    for case in cases:
        if case.booking is None:
            continue
        n["bookings"] += 1
        if case.secure_communities == "not_activated":
            n["secure_communities_not_activated"] += 1
        if case.secure_communities == "opted_out":
            n["opted_out_of_results"] += 1
        if case.cjis and case.cjis.get("match"):
            n["iafis_matches"] += 1
        if case.ident and case.ident.get("match"):
            n["ident_matches"] += 1
        if case.iar:
            n["iars"] += 1
            n["iar_us_citizen"] += int(bool(case.iar.get("us_citizen")))
        n["cap_interviews"] += int(case.cap_interview)
        if case.detainer:
            if case.detainer["form"] == "I-247N":
                n["notification_requests"] += 1
            else:
                n["detainers_issued"] += 1
        n["detainers_stopped_wrongful"] += int(case.wrongful_detainer)
        n["detainers_after_release"] += int("detainer.after_release" in case.steps)
        if case.answer is not None and case.detainer and case.detainer["form"] != "I-247N":
            n["detainers_honored" if case.answer["honored"] else "detainers_declined"] += 1
        if case.hold_started_at is not None:
            n["holds_started"] += 1
            truth = (case.booking.get("truth") or {}).get("status")
            n["us_citizens_held"] += int(truth in CITIZEN)
            if case.hold_ended_at is not None:
                hold_hours += (case.hold_ended_at - case.hold_started_at).total_seconds() / 3600
                key = (
                    "holds_expired"
                    if case.hold_end_reason == "expired"
                    else "holds_ended_by_pickup"
                )
                n[key] += 1
                # Checked on its own (the jail's local days walked one by one), not against the
                # expiry the clock wrote: a clock that is wrong would agree with itself.
                if held_too_long(
                    case.hold_started_at,
                    case.hold_ended_at,
                    case.hold_limits,
                    case.hold_zone or county_zone(case.booking["county_fips"]),
                ):
                    n["over_holds"] += 1
        for note in case.notifications:
            n["notifications" if note.get("delivered") else "notifications_no_contact"] += 1
        n["transfers"] += int(case.transferred_at is not None)
        if case.outcome and case.outcome["result"] in ("removal", "voluntary_return"):
            n["removals"] += 1
            n[f"removals_{case.outcome['level']}"] += 1
        finished = case.outcome is not None or (
            case.released_at is not None and case.transferred_at is None
        )
        n["in_progress"] += int(not finished)
    out: dict[str, Any] = {key: int(n.get(key, 0)) for key in LABELS}
    out["hold_hours"] = round(hold_hours, 1)
    return out
