"""The figures scomm counts and shows: one code name each, with a human label and a one-line
definition, for every runner and every reader.

The live pipeline (``scomm run``, derived from the case log), the vectorized engine
(``scomm simulate``) and the SimPy reference count the same things under the same code names,
in the order of the flow (:data:`OUTPUTS`), so that their outputs can be set side by side
(tests/test_runners_agree.py); the pipeline adds a few figures only a case log knows
(:data:`PIPELINE_ONLY`). The CLI tables, the HTML report, the web application and the CSV
headers (which carry the label beside the code name, so a spreadsheet reads the same as the
page) all take their words from here. The code names stay the keys of the JSON files and
Parquet columns; only what a person reads changes. :func:`term` refuses a name it does not
know, so a new output cannot reach a user without its words.
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
    part_of: str | None = None  # the figure this one is a part or measure of (tables indent it)


def _terms(*terms: Term) -> dict[str, Term]:
    return {t.name: t for t in terms}


# What every runner counts, in the order of the flow.
RUNNERS = _terms(
    Term(
        "bookings",
        "Bookings",
        "Jail bookings: people arrested and fingerprinted at a local jail.",
    ),
    Term(
        "submissions_to_ident",
        "Prints checked by DHS",
        "Bookings whose fingerprints reached DHS IDENT because Secure Communities was active there.",
    ),
    Term(
        "ident_matches",
        "IDENT matches",
        "Prints that matched a record in DHS's immigration biometric database (true or false match).",
    ),
    Term(
        "iaqs",
        "Status queries to ICE",
        "Immigration Alien Queries sent to ICE's Law Enforcement Support Center after a match.",
    ),
    Term(
        "interviews",
        "ICE interviews",
        "People ICE interviewed in jail (after a match, or through the Criminal Alien Program).",
    ),
    Term(
        "cap_interviews",
        "Jail interviews (CAP)",
        "Foreign-born inmates ICE's Criminal Alien Program interviewed in jail, match or not.",
        part_of="interviews",
    ),
    Term(
        "g287_screenings",
        "287(g) screenings",
        "Bookings screened at the jail by local officers deputized under a 287(g) agreement.",
    ),
    Term(
        "detainers_issued",
        "Detainers issued",
        "ICE requests (Form I-247) that the jail hold a person up to 48 hours past release.",
    ),
    Term(
        "cap_detainers",
        "Detainers via jail interviews",
        "Detainers from the Criminal Alien Program's interviews, without an IDENT match.",
        part_of="detainers_issued",
    ),
    Term(
        "g287_detainers",
        "Detainers via 287(g)",
        "Detainers lodged by deputized local officers under a 287(g) agreement.",
        part_of="detainers_issued",
    ),
    Term(
        "notification_requests",
        "Notification requests",
        "ICE requests (Form I-247N) to be told when a person will be released, without a hold.",
    ),
    Term(
        "detainers_stopped",
        "Detainers stopped (citizen)",
        "Detainers stopped before any hold because a record showed US citizenship.",
    ),
    Term(
        "detainers_after_release",
        "Detainers after release",
        "Detainers that reached the jail after the person had already been released.",
    ),
    Term(
        "detainers_honored",
        "Detainers honored",
        "Detainers the jail agreed to under its policy in force that day.",
    ),
    Term(
        "detainers_declined",
        "Detainers declined",
        "Detainers the jail refused under its policy in force that day.",
    ),
    Term(
        "holds",
        "Holds",
        "People actually held on a detainer past the time they would have been released.",
    ),
    Term(
        "hold_hours",
        "Hours held on detainers",
        "Total hours people spent held on detainers past their release.",
        unit="hours",
        part_of="holds",
    ),
    Term(
        "hold_bed_days",
        "Jail bed-days of holds",
        "Hours held on detainers, in days of a jail bed (24 hours each).",
        unit="days",
        part_of="holds",
    ),
    Term(
        "hold_cost_usd",
        "Cost of holds to counties",
        "Jail bed-days of holds times the county's cost of a jail day (population.yaml).",
        unit="usd",
        part_of="holds",
    ),
    Term(
        "over_holds",
        "Held past the legal limit",
        "Holds that lasted longer than the 48 hours (weekends and holidays excluded) the law allows.",
        part_of="holds",
    ),
    Term(
        "contacts_notified",
        "Families notified",
        "Holds where the person's designated contact was told (none in history: a safeguard).",
    ),
    Term(
        "us_citizens_detainers",
        "Detainers on US citizens",
        "Detainers issued for people who were in fact US citizens (born or naturalized).",
    ),
    Term(
        "us_citizens_held",
        "US citizens held",
        "US citizens actually held in jail on an immigration detainer.",
    ),
    Term(
        "us_citizens_transferred",
        "US citizens handed to ICE",
        "US citizens transferred to ICE custody after a hold.",
    ),
    Term(
        "transfers",
        "Transfers to ICE",
        "People handed from the jail to ICE custody (at the end of a hold, or from a notification).",
    ),
    Term(
        "release_pickups",
        "Pickups at release",
        "People ICE took at the jail door at release, the jail having told it when.",
        part_of="transfers",
    ),
    Term(
        "at_large_arrests",
        "Arrests after release",
        "People ICE arrested later, at large, after the jail released them.",
    ),
    Term(
        "removals",
        "Removals",
        "People deported or sent back (voluntary return counted) after proceedings.",
    ),
    Term(
        "removals_level_1",
        "Removals, Level 1",
        "Removals of people with an aggravated felony or two or more felonies (ICE's Level 1).",
        part_of="removals",
    ),
    Term(
        "removals_level_2",
        "Removals, Level 2",
        "Removals of people with one felony or three or more misdemeanors (ICE's Level 2).",
        part_of="removals",
    ),
    Term(
        "removals_level_3",
        "Removals, Level 3",
        "Removals of people with misdemeanors only (ICE's Level 3).",
        part_of="removals",
    ),
    Term(
        "removals_non_criminal",
        "Removals, no conviction",
        "Removals of people with no criminal conviction: an immigration violation only.",
        part_of="removals",
    ),
    # ICE counts "removals through Secure Communities" as the removals of people IDENT matched
    # (the Atlantic, 2014: "a number that doesn't even account for CAP"): the jail screens'
    # doors (CAP, 287(g)) are removals too, but not Secure Communities'.
    Term(
        "ident_removals",
        "Removals through S-Comm",
        "Removals of people whose prints IDENT matched at booking (not found by CAP or 287(g)).",
        part_of="removals",
    ),
    Term(
        "ident_removals_level_1",
        "Removals through S-Comm, Level 1",
        "Removals through Secure Communities of people at ICE's Level 1.",
        part_of="ident_removals",
    ),
    Term(
        "ident_removals_level_2",
        "Removals through S-Comm, Level 2",
        "Removals through Secure Communities of people at ICE's Level 2.",
        part_of="ident_removals",
    ),
    Term(
        "ident_removals_level_3",
        "Removals through S-Comm, Level 3",
        "Removals through Secure Communities of people at ICE's Level 3.",
        part_of="ident_removals",
    ),
    Term(
        "ident_removals_non_criminal",
        "Removals through S-Comm, no conviction",
        "Removals through Secure Communities of people with no criminal conviction.",
        part_of="ident_removals",
    ),
)
OUTPUTS: tuple[str, ...] = tuple(RUNNERS)

# What only the pipeline's case log knows (and its cases still in the queue).
PIPELINE = _terms(
    Term(
        "secure_communities_not_activated",
        "Prints to the FBI only",
        "Bookings in counties where Secure Communities was not yet active: no IDENT check.",
    ),
    Term(
        "opted_out_of_results",
        "Opted out of results",
        "Bookings whose IDENT answer the jurisdiction declined to receive (prints still sent).",
    ),
    Term(
        "iafis_matches",
        "FBI record matches",
        "Bookings whose prints matched a criminal history in the FBI's IAFIS.",
    ),
    Term(
        "iar_us_citizen",
        "ICE answers: US citizen",
        "Status answers (IARs) from ICE's LESC that said the person is a US citizen.",
    ),
    Term(
        "holds_ended_by_pickup",
        "Holds ended by ICE pickup",
        "Holds that ended with ICE taking the person within the legal limit.",
    ),
    Term(
        "holds_expired",
        "Holds that ran out",
        "Holds that reached their legal limit without ICE coming: the person was released.",
    ),
    Term(
        "notifications_no_contact",
        "Holds with no contact to tell",
        "Holds where the person had named no one to be told.",
    ),
)
PIPELINE_ONLY: tuple[str, ...] = (*PIPELINE, "in_progress")

# Shares derived from the counts, and the real record shown beside them.
DERIVED = _terms(
    Term(
        "removals_non_criminal_share",
        "Share of removals with no conviction",
        "Removals with no criminal conviction, as a share of all removals.",
        unit="share",
    ),
    Term(
        "removals_non_criminal_or_level_3_share",
        "Share of removals: no conviction or minor",
        "Removals with no conviction or misdemeanors only (Level 3), as a share of all removals.",
        unit="share",
    ),
    Term(
        "removals_level_1_share",
        "Share of removals at Level 1",
        "Removals at ICE's most serious level, as a share of all removals.",
        unit="share",
    ),
    Term(
        "detainers_declined_share",
        "Share of detainers declined",
        "Detainers the jail refused, as a share of detainers issued.",
        unit="share",
    ),
    Term(
        "foia_detainers",
        "Detainers in ICE's records (FOIA)",
        "Every ICE detainer by month as ICE's own records, released under FOIA, count them.",
    ),
)

# Every figure a table, page or CSV may show.
FIGURES: dict[str, Term] = {**RUNNERS, **PIPELINE, **DERIVED}

# A pipeline case's outcome (scomm.pipeline.outcomes), most advanced step reached.
CASE_OUTCOMES = _terms(
    Term("in_progress", "In progress", "The case has steps still waiting in the queue."),
    Term(
        "not_activated",
        "Not checked by DHS",
        "Secure Communities was not active in the county: prints went to the FBI only.",
    ),
    Term("no_ident_match", "No IDENT match", "The prints matched no record in DHS IDENT."),
    Term("no_action", "No ICE action", "IDENT matched but ICE issued no detainer or request."),
    Term(
        "notification_request",
        "Notification request",
        "ICE asked to be told of the release (I-247N) but not for a hold.",
    ),
    Term(
        "detainer_stopped",
        "Detainer stopped (citizen)",
        "The detainer was stopped because a record showed US citizenship.",
    ),
    Term(
        "detainer_after_release",
        "Detainer after release",
        "The detainer reached the jail after the person had been released.",
    ),
    Term("detainer_declined", "Detainer declined", "The jail refused ICE's detainer."),
    Term("detainer_honored", "Detainer honored", "The jail agreed to hold the person for ICE."),
    Term("transferred", "Transferred to ICE", "The person was handed to ICE; proceedings pending."),
    Term("removed", "Removed", "Removal or voluntary return after proceedings."),
    Term(
        "relief",
        "Relief or discretion",
        "Proceedings ended with relief from removal or ICE's prosecutorial discretion.",
    ),
)

ALL: dict[str, Term] = {**FIGURES, **CASE_OUTCOMES}


def term(name: str) -> Term:
    """The words for ``name``; an unknown name is an error (every output needs its words)."""
    try:
        return ALL[name]
    except KeyError:
        raise InputError(f"figure {name!r}", "no label or definition in scomm/outputs.py") from None


def label(name: str) -> str:
    return term(name).label


def csv_header(name: str) -> str:
    """A CSV column header: the label with the code name, e.g. ``Holds (holds)``."""
    return f"{label(name)} ({name})"
