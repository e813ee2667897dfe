"""A case's outcome in one word: the furthest point of the flow it reached. Used by
``scomm run`` (a few case ids of each outcome), ``scomm cases`` and the web application's
case lists; the words for each are in :data:`scomm.outputs.CASE_OUTCOMES`."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from scomm.outputs import CASE_OUTCOMES
from scomm.pipeline.case import CaseState

OUTCOMES = tuple(CASE_OUTCOMES)


def outcome_of(case: CaseState) -> str:
    """The furthest point the case reached (a key of :data:`OUTCOMES`)."""
    if case.outcome is not None:
        result = case.outcome.get("result")
        return "removed" if result in ("removal", "voluntary_return") else "relief"
    if case.transferred_at is not None:
        return "transferred"
    if case.wrongful_detainer:
        return "detainer_stopped"
    if case.answer is not None and case.detainer and case.detainer.get("form") != "I-247N":
        return "detainer_honored" if case.answer.get("honored") else "detainer_declined"
    if "detainer.after_release" in case.steps:
        return "detainer_after_release"
    if case.detainer is not None:
        return "notification_request" if case.detainer.get("form") == "I-247N" else "in_progress"
    finished = case.released_at is not None
    if case.secure_communities == "not_activated":
        return "not_activated" if finished else "in_progress"
    if case.ident is not None and not case.ident.get("match"):
        return "no_ident_match" if finished else "in_progress"
    if case.decision is not None:
        return "no_action" if finished else "in_progress"
    return "in_progress"


def by_outcome(cases: Iterable[CaseState]) -> dict[str, list[str]]:
    """Case ids grouped by outcome, in the order of :data:`OUTCOMES` (empty ones left out)."""
    groups: dict[str, list[str]] = defaultdict(list)
    for case in cases:
        groups[outcome_of(case)].append(case.case_id)
    return {name: groups[name] for name in OUTCOMES if groups.get(name)}
