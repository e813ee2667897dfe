"""Reforms as the web application takes them: overlays (:mod:`scomm.policies.overlays`:
scenario names composed with ``+``, each optionally in a place from a date,
``judicial_warrant@06085:2012-01-01``), and a draft policy file standing in for an
installed one without being installed."""

from __future__ import annotations

from collections.abc import Sequence

from scomm.policies.load import jurisdiction_policies
from scomm.policies.overlays import SEPARATOR, Overlay, Rules, apply, parse_overlays
from scomm.policies.schema import JurisdictionPolicy
from scomm.policies.tables import EVERYWHERE

__all__ = ["Overlay", "parse_reform", "reform_text", "rules_for_reforms"]


def parse_reform(text: str) -> list[Overlay]:
    """``NAME[@PLACE][:DATE]``, several joined with ``+``; ``baseline`` adds nothing. Overlay
    files are not taken from a web form (they would name files on the server)."""
    items = [part.strip() for part in text.split(SEPARATOR) if part.strip()]
    for item in items:
        what = item.split("@")[0].split(":")[0]
        if what.endswith((".yaml", ".yml")) or "/" in what:
            from scomm.errors import InputError

            raise InputError(f"reform {item!r}", "a scenario name, not a file (use /policies)")
    return parse_overlays(items) if items else []


def reform_text(reforms: Sequence[Overlay]) -> str:
    """The canonical spec, which parses back to the same overlays ("" for none): each scenario
    by its own name, never an old alias, so a shared link checks the form's box for it."""
    return SEPARATOR.join(_canonical(o) for o in reforms)


def _canonical(overlay: Overlay) -> str:
    where = "" if overlay.place == EVERYWHERE else f"@{overlay.place}"
    when = f":{overlay.start.isoformat()}" if overlay.start else ""
    return f"{overlay.scenario.name}{where}{when}"


def rules_for_reforms(reforms: Sequence[Overlay], draft: JurisdictionPolicy | None = None) -> Rules:
    """The rules under the overlays; ``draft`` replaces its jurisdiction's installed file (or
    adds one) for this run only."""
    if draft is None:
        return apply(reforms)
    installed = dict(jurisdiction_policies())
    installed[draft.fips] = draft
    rules = apply(reforms, policy_files=list(installed.values()))
    name = (
        f"{reform_text(reforms)}{SEPARATOR}draft:{draft.fips}" if reforms else f"draft:{draft.fips}"
    )
    return Rules(rules.tables, name)
