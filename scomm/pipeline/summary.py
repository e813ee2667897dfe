"""The figures of a run, derived from the case states (themselves derived from the log), under
the names every runner uses (:mod:`scomm.outputs`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from scomm.jurisdictions.timezones import county_zone
from scomm.outputs import OUTPUTS, PIPELINE_ONLY
from scomm.pipeline.case import CaseState
from scomm.policies.hold_check import held_too_long

CITIZEN = frozenset({"us_born", "naturalized", "derived_citizen"})
NOTIFICATION_FORM = "I-247N"
# What a day in jail costs the county: the figure the national simulation prices holds with.
BED_DAY_COST = "population.jail.bed_day_cost_usd"


def _bed_day_cost() -> float:
    from scomm.simulation.assumptions import load_assumptions

    return load_assumptions().get(BED_DAY_COST)


def summarize(cases: Iterable[CaseState], bed_day_cost: float | None = None) -> dict[str, Any]:
    """Every output of :data:`scomm.outputs.OUTPUTS` (and the pipeline's own extras) counted
    over the cases' states."""
    n: Counter[str] = Counter()
    hold_hours = 0.0
    for case in cases:
        if case.booking is None:
            continue
        truth_citizen = (case.booking.get("truth") or {}).get("status") in CITIZEN
        n["bookings"] += 1
        if case.secure_communities == "not_activated":
            n["secure_communities_not_activated"] += 1
        if case.secure_communities == "opted_out":
            n["opted_out_of_results"] += 1
        if case.cjis and case.cjis.get("match"):
            n["iafis_matches"] += 1
        n["submissions_to_ident"] += int(case.ident is not None)
        if case.ident and case.ident.get("match"):
            n["ident_matches"] += 1
            n["iaqs"] += 1
        if case.iar:
            n["iar_us_citizen"] += int(bool(case.iar.get("us_citizen")))
        n["cap_interviews"] += int(case.cap_interview)
        n["g287_screenings"] += int(case.g287_screening)
        n["interviews"] += int(case.cap_interview) + int(case.interviewed)
        request = case.detainer or {}
        detainer = bool(request) and request.get("form") != NOTIFICATION_FORM
        if request and not detainer:
            n["notification_requests"] += 1
        if detainer:
            n["detainers_issued"] += 1
            door = request.get("door")
            n["cap_detainers"] += int(door == "cap")
            n["g287_detainers"] += int(door == "287g")
            n["us_citizens_detainers"] += int(truth_citizen)
        n["detainers_stopped"] += int(case.wrongful_detainer)
        n["detainers_after_release"] += int("detainer.after_release" in case.steps)
        if case.answer is not None and detainer:
            n["detainers_honored" if case.answer["honored"] else "detainers_declined"] += 1
        if case.hold_started_at is not None:
            n["holds"] += 1
            n["us_citizens_held"] += int(truth_citizen)
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
            n["contacts_notified" if note.get("delivered") else "notifications_no_contact"] += 1
        if case.transferred_at is not None:
            n["transfers"] += 1
            n["release_pickups"] += int(case.transfer_route == "release")
            n["us_citizens_transferred"] += int(truth_citizen)
        n["at_large_arrests"] += int(case.arrested_at_large_at is not None)
        if case.outcome and case.outcome["result"] in ("removal", "voluntary_return"):
            n["removals"] += 1
            n[f"removals_{case.outcome['level']}"] += 1
            if case.ident and case.ident.get("match"):  # through Secure Communities
                n["ident_removals"] += 1
                n[f"ident_removals_{case.outcome['level']}"] += 1
        in_custody = case.transferred_at is not None or case.arrested_at_large_at is not None
        finished = case.outcome is not None or (case.released_at is not None and not in_custody)
        n["in_progress"] += int(not finished)
    out: dict[str, Any] = {key: int(n.get(key, 0)) for key in (*OUTPUTS, *PIPELINE_ONLY)}
    cost = bed_day_cost if bed_day_cost is not None else _bed_day_cost()
    out["hold_hours"] = round(hold_hours, 1)
    out["hold_bed_days"] = round(hold_hours / 24.0, 2)
    out["hold_cost_usd"] = round(hold_hours / 24.0 * cost, 2)
    return out
