"""Scenarios: named, composable changes to the rules in force (``scenarios.yaml``).

A scenario never touches the decision functions: it changes the rules they read (the federal
regimes, the policy layers) and two switches of the flow (when prints are checked, whether an
opt-out withholds them), and the same engine runs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from scomm.errors import InputError
from scomm.policies.load import federal_regimes, jurisdiction_policies
from scomm.policies.schema import DetainerPolicy, JurisdictionPolicy, Level, RegimePeriod
from scomm.policies.tables import EVERYWHERE, LayerTable, PolicyTables, RegimeTable, Span

SEPARATOR = "+"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class PolicyLike(_Strict):
    """The policy a jurisdiction's file has in force on a day."""

    fips: str
    day: dt.date


class EveryJail(_Strict):
    """A policy layer added in every county (each layer must allow a hold)."""

    policy: DetainerPolicy | None = None
    like: PolicyLike | None = None
    start: dt.date | None = Field(default=None, alias="from")

    @model_validator(mode="after")
    def _one_source(self) -> EveryJail:
        if (self.policy is None) == (self.like is None):
            raise ValueError("every_jail needs exactly one of 'policy' or 'like'")
        return self


class Changes(_Strict):
    secure_communities: bool | None = None
    ice_acts_on_levels: list[Level] | None = None
    prints_checked: Literal["at_booking", "after_conviction"] | None = None
    opt_out_withholds_prints: bool | None = None
    every_jail: EveryJail | None = None
    local_policies_before: dt.date | None = None


class Scenario(_Strict):
    name: str
    title: str
    description: str
    source: str
    changes: Changes


@dataclass(frozen=True)
class Rules:
    """Everything a run decides by: the tables of rules and the flow's two switches."""

    tables: PolicyTables
    prints_after_conviction_only: bool = False
    opt_out_withholds_prints: bool = False
    scenario: str = "baseline"


@cache
def scenarios() -> dict[str, Scenario]:
    text = resources.files(__package__).joinpath("scenarios.yaml").read_text()
    data = yaml.safe_load(text)["scenarios"]
    try:
        return {name: Scenario(name=name, **body) for name, body in data.items()}
    except ValidationError as exc:
        raise InputError("scomm/simulation/scenarios.yaml", str(exc)) from None


def parse_names(names: Sequence[str]) -> list[Scenario]:
    """Scenarios by name; ``a+b`` composes two. Unknown names are refused with the list."""
    known = scenarios()
    chosen = []
    for item in names:
        for name in item.split(SEPARATOR):
            name = name.strip()
            if name not in known:
                raise InputError(
                    f"--scenario {name}", f"no such scenario; known: {', '.join(sorted(known))}"
                )
            chosen.append(known[name])
    return chosen


def baseline_rules() -> Rules:
    return Rules(PolicyTables.load())


def rules_for(
    chosen: Sequence[Scenario], policy_files: Sequence[JurisdictionPolicy] | None = None
) -> Rules:
    """The rules of history with each scenario's changes applied in order. ``policy_files``:
    the jurisdictions' files to start from (default: the package's), e.g. with a draft file
    in place of an installed one."""
    periods = list(federal_regimes().periods)
    files = list(jurisdiction_policies().values() if policy_files is None else policy_files)
    extra: list[LayerTable] = []
    after_conviction = withhold = False
    for scenario in chosen:
        c = scenario.changes
        if c.secure_communities is not None:
            periods = [_regime(p, secure_communities=c.secure_communities) for p in periods]
        if c.ice_acts_on_levels is not None:
            periods = [_acts_only_on(p, set(c.ice_acts_on_levels)) for p in periods]
        if c.prints_checked is not None:
            after_conviction = c.prints_checked == "after_conviction"
        if c.local_policies_before is not None:
            files = [_until(f, c.local_policies_before) for f in files]
        if c.opt_out_withholds_prints:
            withhold = True
            extra.append(LayerTable.of_spans(_opt_outs_from_first_request(files)))
        if c.every_jail is not None:
            extra.append(LayerTable.of_spans({EVERYWHERE: [_every_jail(c.every_jail)]}))
    tables = PolicyTables(
        regimes=RegimeTable.of(periods),
        state=LayerTable.build([f for f in files if len(f.fips) == 2]),
        county=LayerTable.build([f for f in files if len(f.fips) == 5]),
        extra=tuple(extra),
    )
    name = SEPARATOR.join(s.name for s in chosen) or "baseline"
    return Rules(tables, after_conviction, withhold, name)


def _regime(period: RegimePeriod, **update: object) -> RegimePeriod:
    return period.model_copy(update={"regime": period.regime.model_copy(update=update)})


def _acts_only_on(period: RegimePeriod, levels: set[Level]) -> RegimePeriod:
    r = period.regime
    return _regime(
        period,
        detainer_levels=[lvl for lvl in r.detainer_levels if lvl in levels],
        notification_levels=[lvl for lvl in r.notification_levels if lvl in levels],
        interview_levels=[lvl for lvl in r.interview_levels if lvl in levels],
    )


def _until(policy_file: JurisdictionPolicy, cutoff: dt.date) -> JurisdictionPolicy:
    """The file as if nothing it dates from ``cutoff`` on had happened: later periods dropped,
    the period they ended left open."""
    kept = [p for p in sorted(policy_file.periods, key=lambda p: p.start) if p.start < cutoff]
    if kept and kept[-1].end is not None and kept[-1].end >= cutoff:
        kept[-1] = kept[-1].model_copy(update={"end": None})
    return policy_file.model_copy(update={"periods": kept})


def _opt_outs_from_first_request(files: Sequence[JurisdictionPolicy]) -> dict[str, list[Span]]:
    """For each jurisdiction that ever opted out of results (a state: all its counties), a
    layer withholding its prints from its first request on."""
    spans: dict[str, list[Span]] = {}
    withheld = DetainerPolicy(receives_results=False)
    for f in files:
        asked = [p.start for p in f.periods if not p.policy.receives_results]
        if asked:
            spans[f.fips] = [(min(asked), None, withheld)]
    return spans


def every_jail_span(change: EveryJail) -> Span:
    """The policy layer an ``every_jail`` change adds, as one span from its start."""
    return _every_jail(change)


def _every_jail(change: EveryJail) -> Span:
    start = change.start or federal_regimes().periods[0].start
    if change.policy is not None:
        return (start, None, change.policy)
    assert change.like is not None
    like = change.like
    policy_file = jurisdiction_policies().get(like.fips)
    period = policy_file.in_force(like.day) if policy_file else None
    if period is None:
        raise InputError(
            f"every_jail.like {like.fips} on {like.day}", "no policy file period covers that day"
        )
    return (start, None, period.policy)
