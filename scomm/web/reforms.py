"""Reforms as the web application takes them: scenario names, composable, each optionally
limited to a place from a date (``judicial_warrant_everywhere@06085:2012-01-01``), and a draft
policy file standing in for an installed one.

A small adapter over :mod:`scomm.simulation.scenarios`: when the "one flow" overlays
(``scomm.policies.overlays``) land, :func:`parse_reform` and :func:`rules_for_reforms` are the
two places to point at them.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from scomm.errors import InputError
from scomm.policies.load import jurisdiction_policies
from scomm.policies.schema import JurisdictionPolicy
from scomm.policies.tables import LayerTable
from scomm.simulation.scenarios import (
    SEPARATOR,
    Rules,
    Scenario,
    every_jail_span,
    parse_names,
    rules_for,
)

_REFORM = re.compile(
    r"^(?P<name>[a-z0-9_]+)(?:@(?P<place>\d{2}|\d{5}):(?P<day>\d{4}-\d{2}-\d{2}))?$"
)


@dataclass(frozen=True)
class Reform:
    scenario: Scenario
    place: str | None = None  # state (2 digits) or county (5 digits) FIPS
    start: dt.date | None = None

    @property
    def text(self) -> str:
        if self.place is None or self.start is None:
            return self.scenario.name
        return f"{self.scenario.name}@{self.place}:{self.start.isoformat()}"


def parse_reform(text: str) -> list[Reform]:
    """``NAME``, ``NAME@PLACE:YYYY-MM-DD``, or several joined with ``+``."""
    out = []
    for item in text.split(SEPARATOR):
        item = item.strip()
        if not item:
            continue
        m = _REFORM.match(item)
        if m is None:
            raise InputError(
                f"reform {item!r}", "write NAME or NAME@FIPS:YYYY-MM-DD (e.g. a@06085:2012-01-01)"
            )
        (scenario,) = parse_names([m["name"]])
        if m["place"] is None:
            out.append(Reform(scenario))
            continue
        try:
            start = dt.date.fromisoformat(m["day"])
        except ValueError:
            raise InputError(f"reform {item!r}", f"{m['day']} is not a date") from None
        if scenario.changes.every_jail is None or any(
            v is not None
            for k, v in scenario.changes.model_dump().items()
            if k not in ("every_jail",)
        ):
            raise InputError(
                f"reform {item!r}",
                "only a scenario that adds a jail policy (every_jail) can be limited to a "
                "place and date",
            )
        out.append(Reform(scenario, m["place"], start))
    return out


def reform_text(reforms: Sequence[Reform]) -> str:
    return SEPARATOR.join(r.text for r in reforms)


def rules_for_reforms(reforms: Sequence[Reform], draft: JurisdictionPolicy | None = None) -> Rules:
    """The rules with each reform applied in order; ``draft`` replaces the installed file of
    its jurisdiction (or adds one) without installing it."""
    files: list[JurisdictionPolicy] | None = None
    if draft is not None:
        installed = dict(jurisdiction_policies())
        installed[draft.fips] = draft
        files = list(installed.values())
    everywhere = [r.scenario for r in reforms if r.place is None]
    rules = rules_for(everywhere, policy_files=files)
    extra = list(rules.tables.extra)
    for r in reforms:
        if r.place is None:
            continue
        change = r.scenario.changes.every_jail
        assert change is not None  # parse_reform refused others
        span = every_jail_span(change.model_copy(update={"start": r.start}))
        extra.append(LayerTable.of_spans({r.place: [span]}))
    name = reform_text(reforms) or "baseline"
    if draft is not None:
        name += f"{SEPARATOR}draft:{draft.fips}" if reforms else f"draft:{draft.fips}"
    return replace(rules, tables=replace(rules.tables, extra=tuple(extra)), scenario=name)
