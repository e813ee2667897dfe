"""One vocabulary for every figure scomm shows: a human label and a one-line definition for
each output name, shared by the CLI tables, the HTML report, the web application and the CSV
headers (which carry the label beside the code name, so a spreadsheet reads the same as the
page).

The code names and their order are :mod:`scomm.outputs`' (every runner counts the same
things under the same keys); this module gives each its words. The code names stay the keys
of the JSON files and Parquet columns; only what a person reads changes. :func:`term` refuses a name it does not know, so a new output cannot reach a user
without its words.
"""

from __future__ import annotations

from dataclasses import dataclass

from scomm.errors import InputError


@dataclass(frozen=True)
class Term:
    name: str  # the code name: JSON key, Parquet column
    label: str  # what a person reads
    definition: str  # one line: what is counted, and where in the flow
    unit: str = "count"  # count, share, usd, hours, days


def _terms(*rows: tuple[str, str, str] | tuple[str, str, str, str]) -> dict[str, Term]:
    return {row[0]: Term(*row) for row in rows}


# The national simulation's outputs (scomm.simulation.engine.OUTPUTS) and derived shares.
SIMULATION = _terms(
    ("bookings", "Bookings", "Jail bookings: people arrested and fingerprinted at a local jail."),
    (
        "submissions_to_ident",
        "Prints checked by DHS",
        "Bookings whose fingerprints reached DHS IDENT because Secure Communities was active there.",
    ),
    (
        "ident_matches",
        "IDENT matches",
        "Prints that matched a record in DHS's immigration biometric database (true or false match).",
    ),
    (
        "iaqs",
        "Status queries to ICE",
        "Immigration Alien Queries sent to ICE's Law Enforcement Support Center after a match.",
    ),
    (
        "interviews",
        "ICE interviews",
        "People ICE interviewed in jail (after a match, or through the Criminal Alien Program).",
    ),
    (
        "detainers_issued",
        "Detainers issued",
        "ICE requests (Form I-247) that the jail hold a person up to 48 hours past release.",
    ),
    (
        "detainers_honored",
        "Detainers honored",
        "Detainers the jail agreed to under its policy in force that day.",
    ),
    (
        "detainers_declined",
        "Detainers declined",
        "Detainers the jail refused under its policy in force that day.",
    ),
    (
        "detainers_stopped",
        "Detainers stopped (citizen)",
        "Detainers stopped before any hold because a record showed US citizenship.",
    ),
    (
        "holds",
        "Holds",
        "People actually held on a detainer past the time they would have been released.",
    ),
    (
        "hold_hours",
        "Hours held on detainers",
        "Total hours people spent held on detainers past their release.",
        "hours",
    ),
    (
        "hold_bed_days",
        "Jail bed-days of holds",
        "Hours held on detainers, in days of a jail bed (24 hours each).",
        "days",
    ),
    (
        "hold_cost_usd",
        "Cost of holds to counties",
        "Jail bed-days of holds times the county's cost of a jail day (population.yaml).",
        "usd",
    ),
    (
        "over_holds",
        "Held past the legal limit",
        "Holds that lasted longer than the 48 hours (weekends and holidays excluded) the law allows.",
    ),
    (
        "contacts_notified",
        "Families notified",
        "Holds where the person's designated contact was told (none in history: a safeguard).",
    ),
    (
        "us_citizens_detainers",
        "Detainers on US citizens",
        "Detainers issued for people who were in fact US citizens (born or naturalized).",
    ),
    (
        "us_citizens_held",
        "US citizens held",
        "US citizens actually held in jail on an immigration detainer.",
    ),
    (
        "us_citizens_transferred",
        "US citizens handed to ICE",
        "US citizens transferred to ICE custody after a hold.",
    ),
    (
        "transfers",
        "Transfers to ICE",
        "People handed from the jail to ICE custody (at the end of a hold, or from a notification).",
    ),
    (
        "removals",
        "Removals",
        "People deported or sent back (voluntary return counted) after proceedings.",
    ),
    (
        "removals_level_1",
        "Removals, Level 1",
        "Removals of people with an aggravated felony or two or more felonies (ICE's Level 1).",
    ),
    (
        "removals_level_2",
        "Removals, Level 2",
        "Removals of people with one felony or three or more misdemeanors (ICE's Level 2).",
    ),
    (
        "removals_level_3",
        "Removals, Level 3",
        "Removals of people with misdemeanors only (ICE's Level 3).",
    ),
    (
        "removals_non_criminal",
        "Removals, no conviction",
        "Removals of people with no criminal conviction: an immigration violation only.",
    ),
    (
        "cap_detainers",
        "Detainers via jail interviews",
        "Detainers from the Criminal Alien Program's interviews, without an IDENT match.",
    ),
    (
        "cap_interviews",
        "Jail interviews (CAP)",
        "Foreign-born inmates ICE's Criminal Alien Program interviewed in jail, match or not.",
    ),
    (
        "g287_screenings",
        "287(g) screenings",
        "Bookings screened at the jail by local officers deputized under a 287(g) agreement.",
    ),
    (
        "g287_detainers",
        "Detainers via 287(g)",
        "Detainers lodged by deputized local officers under a 287(g) agreement.",
    ),
    (
        "notification_requests",
        "Notification requests",
        "ICE requests (Form I-247N) to be told when a person will be released, without a hold.",
    ),
    (
        "detainers_after_release",
        "Detainers after release",
        "Detainers that reached the jail after the person had already been released.",
    ),
    (
        "release_pickups",
        "Pickups at release",
        "People ICE took at the jail door at release, the jail having told it when.",
    ),
    (
        "at_large_arrests",
        "Arrests after release",
        "People ICE arrested later, at large, after the jail released them.",
    ),
    (
        "secure_communities_not_activated",
        "Prints to the FBI only",
        "Bookings in counties where Secure Communities was not yet active: no IDENT check.",
    ),
    (
        "opted_out_of_results",
        "Opted out of results",
        "Bookings whose IDENT answer the jurisdiction declined to receive (prints still sent).",
    ),
    (
        "iafis_matches",
        "FBI record matches",
        "Bookings whose prints matched a criminal history in the FBI's IAFIS.",
    ),
    (
        "iar_us_citizen",
        "ICE answers: US citizen",
        "Status answers (IARs) from ICE's LESC that said the person is a US citizen.",
    ),
    (
        "holds_ended_by_pickup",
        "Holds ended by ICE pickup",
        "Holds that ended with ICE taking the person within the legal limit.",
    ),
    (
        "holds_expired",
        "Holds that ran out",
        "Holds that reached their legal limit without ICE coming: the person was released.",
    ),
    (
        "notifications_no_contact",
        "Holds with no contact to tell",
        "Holds where the person had named no one to be told.",
    ),
    (
        "removals_non_criminal_share",
        "Share of removals with no conviction",
        "Removals with no criminal conviction, as a share of all removals.",
        "share",
    ),
    (
        "removals_non_criminal_or_level_3_share",
        "Share of removals: no conviction or minor",
        "Removals with no conviction or misdemeanors only (Level 3), as a share of all removals.",
        "share",
    ),
    (
        "removals_level_1_share",
        "Share of removals at Level 1",
        "Removals at ICE's most serious level, as a share of all removals.",
        "share",
    ),
    (
        "detainers_declined_share",
        "Share of detainers declined",
        "Detainers the jail refused, as a share of detainers issued.",
        "share",
    ),
    (
        "foia_detainers",
        "Detainers in ICE's records (FOIA)",
        "Every ICE detainer by month as ICE's own records, released under FOIA, count them.",
    ),
)

# A pipeline case's outcome (scomm.pipeline.outcomes), most advanced step reached.
CASE_OUTCOMES = _terms(
    ("in_progress", "In progress", "The case has steps still waiting in the queue."),
    (
        "not_activated",
        "Not checked by DHS",
        "Secure Communities was not active in the county: prints went to the FBI only.",
    ),
    ("no_ident_match", "No IDENT match", "The prints matched no record in DHS IDENT."),
    ("no_action", "No ICE action", "IDENT matched but ICE issued no detainer or request."),
    (
        "notification_request",
        "Notification request",
        "ICE asked to be told of the release (I-247N) but not for a hold.",
    ),
    (
        "detainer_stopped",
        "Detainer stopped (citizen)",
        "The detainer was stopped because a record showed US citizenship.",
    ),
    (
        "detainer_after_release",
        "Detainer after release",
        "The detainer reached the jail after the person had been released.",
    ),
    ("detainer_declined", "Detainer declined", "The jail refused ICE's detainer."),
    ("detainer_honored", "Detainer honored", "The jail agreed to hold the person for ICE."),
    ("transferred", "Transferred to ICE", "The person was handed to ICE; proceedings pending."),
    ("removed", "Removed", "Removal or voluntary return after proceedings."),
    (
        "relief",
        "Relief or discretion",
        "Proceedings ended with relief from removal or ICE's prosecutorial discretion.",
    ),
)

ALL: dict[str, Term] = {**SIMULATION, **CASE_OUTCOMES}


def term(name: str) -> Term:
    """The words for ``name``; an unknown name is an error (every output needs its words)."""
    try:
        return ALL[name]
    except KeyError:
        raise InputError(
            f"figure {name!r}", "no label or definition in scomm/vocabulary.py"
        ) from None


def label(name: str) -> str:
    return term(name).label


def csv_header(name: str) -> str:
    """A CSV column header: the label with the code name, e.g. ``Holds (holds)``."""
    return f"{label(name)} ({name})"
