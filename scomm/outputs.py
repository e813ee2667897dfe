"""The figures every runner reports, under one name each.

The live pipeline (``scomm run``, derived from the case log), the vectorized engine
(``scomm simulate``) and the SimPy reference count the same things under the same keys, so that
their outputs can be set side by side (tests/test_runners_agree.py). The pipeline adds a few
figures only a case log knows (:data:`PIPELINE_ONLY`).
"""

from __future__ import annotations

# Each output with its label, in the order of the flow.
LABELS: dict[str, str] = {
    "bookings": "Bookings",
    "submissions_to_ident": "Prints checked against IDENT",
    "ident_matches": "IDENT matches",
    "iaqs": "IAQs to LESC",
    "interviews": "ICE interviews (ERO and CAP)",
    "cap_interviews": "  Criminal Alien Program interviews",
    "g287_screenings": "287(g) screenings at booking",
    "detainers_issued": "Detainers issued (all doors)",
    "cap_detainers": "  through the Criminal Alien Program",
    "g287_detainers": "  through 287(g) officers",
    "notification_requests": "Notification requests (I-247N)",
    "detainers_stopped": "Wrongful detainers stopped (citizenship record)",
    "detainers_after_release": "Detainers arriving after release",
    "detainers_honored": "Detainers honored",
    "detainers_declined": "Detainers declined",
    "holds": "Holds",
    "hold_hours": "  hold hours",
    "hold_bed_days": "  hold bed-days",
    "hold_cost_usd": "  hold cost to the county (USD)",
    "over_holds": "  held past the legal limit",
    "contacts_notified": "Family notifications delivered",
    "us_citizens_detainers": "US citizens given a detainer",
    "us_citizens_held": "US citizens held",
    "us_citizens_transferred": "US citizens transferred",
    "transfers": "Transfers to ICE at the jail",
    "release_pickups": "  at release, the jail having told ICE",
    "at_large_arrests": "ICE arrests after release (at large)",
    "removals": "Removals (incl. voluntary return)",
    "removals_level_1": "  Level 1",
    "removals_level_2": "  Level 2",
    "removals_level_3": "  Level 3",
    "removals_non_criminal": "  non-criminal",
}
OUTPUTS: tuple[str, ...] = tuple(LABELS)

# What only the pipeline's case log knows.
PIPELINE_ONLY: dict[str, str] = {
    "secure_communities_not_activated": "Prints to FBI only (not activated)",
    "opted_out_of_results": "Opted out of results",
    "iafis_matches": "IAFIS matches (criminal history found)",
    "iar_us_citizen": "IAR: US citizen",
    "holds_ended_by_pickup": "Holds ended by ICE pickup",
    "holds_expired": "Holds expired (person released)",
    "notifications_no_contact": "Holds with no designated contact",
    "in_progress": "Cases still in progress",
}
