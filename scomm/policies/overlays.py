"""Overlays: what-ifs as changes laid over the rules of history, usable by every runner.

OpenFisca's reforms are the model: an overlay never edits a policy file or a decision function;
it changes the dated rules the runners read (the federal regimes, the policy layers), and the
same live pipeline (``scomm run --scenario``), national engine (``scomm simulate --scenario``)
and SimPy reference run under it.

An overlay is a named scenario (``scenarios.yaml``, listed by ``scomm scenarios``) or a small
YAML file, optionally limited to a place and a start date::

    NAME[@PLACE][:DATE]     judicial_warrant@06085:2012-01-01
    FILE.yaml[@PLACE][:DATE]

``PLACE`` is a state's 2-digit or a county's 5-digit FIPS code (absent: everywhere); ``DATE``
(YYYY-MM-DD) is the day the change takes effect (absent: the scenario's own date, or the start
of the program). Overlays compose with ``+``, applied in the order given:
``serious_crimes_only+judicial_warrant@06:2014-01-01``.

A file overlay holds one scenario: ``title``, ``description``, ``source`` and ``changes`` as in
``scenarios.yaml``, and optionally ``name``, ``place`` and ``from``.

API (the web app and the CLI call these): :func:`parse_overlays` (a spec string to overlays),
:func:`parse_overlay` (one item), :func:`apply` (overlays to :class:`Rules`),
:func:`baseline_rules`, :func:`scenarios`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from scomm.errors import InputError
from scomm.policies.decisions import RulesInForce
from scomm.policies.load import federal_regimes, jurisdiction_policies
from scomm.policies.schema import DetainerPolicy, JurisdictionPolicy, Level, RegimePeriod
from scomm.policies.tables import (
    EVERYWHERE,
    LayerTable,
    Origin,
    PolicyTables,
    RegimeTable,
    Span,
    agreements_layer,
)

SEPARATOR = "+"
BASELINE = "baseline"
_ITEM = re.compile(r"^(?P<what>[^@:]+?)(?:@(?P<place>[^:]*))?(?::(?P<date>.*))?$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class PolicyLike(_Strict):
    """The policy a jurisdiction's file has in force on a day."""

    fips: str
    day: dt.date


class EveryJail(_Strict):
    """A policy layer added in every jail of the overlay's place (each layer must allow a
    hold)."""

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
    aliases: list[str] = Field(default_factory=list)


class _FileOverlay(_Strict):
    name: str | None = None
    title: str
    description: str = ""
    source: str
    changes: Changes
    place: str | None = None
    start: dt.date | None = Field(default=None, alias="from")


@dataclass(frozen=True)
class Overlay:
    """One scenario laid over the rules, in a place (:data:`EVERYWHERE` by default) from a
    day (None: the scenario's own dates)."""

    scenario: Scenario
    place: str = EVERYWHERE
    start: dt.date | None = None
    spec: str = ""  # how it was asked for, which parses back to it

    @property
    def label(self) -> str:
        where = "" if self.place == EVERYWHERE else f" in {self.place}"
        when = f" from {self.start}" if self.start else ""
        return f"{self.scenario.title}{where}{when}"


@dataclass(frozen=True)
class Rules:
    """Everything a run decides by: the tables of rules in force, under the overlays named."""

    tables: PolicyTables
    scenario: str = BASELINE

    def in_force(self, county_fips: str, day: dt.date) -> RulesInForce:
        return self.tables.in_force(county_fips, day)


# ---------------------------------------------------------------------------------------------
# Reading overlays


@cache
def scenarios() -> dict[str, Scenario]:
    """The named scenarios, by name."""
    text = resources.files(__package__).joinpath("scenarios.yaml").read_text()
    data = yaml.safe_load(text)["scenarios"]
    try:
        return {name: Scenario(name=name, **body) for name, body in data.items()}
    except ValidationError as exc:
        raise InputError("scomm/policies/scenarios.yaml", str(exc)) from None


def _by_name(name: str, where: str) -> Scenario:
    known = scenarios()
    if name in known:
        return known[name]
    for scenario in known.values():
        if name in scenario.aliases:
            return scenario
    raise InputError(where, f"no such scenario {name!r}; known: {', '.join(sorted(known))}")


def _place(value: str | None, where: str) -> str:
    if value is None or value == "":
        if value == "":
            raise InputError(where, "'@' needs a place: a 2-digit state or 5-digit county FIPS")
        return EVERYWHERE
    if not (value.isdigit() and len(value) in (2, 5)):
        raise InputError(
            where, f"place {value!r} is not a 2-digit state or 5-digit county FIPS code"
        )
    from scomm.jurisdictions.states import STATES

    if value[:2] not in {s.fips for s in STATES}:
        raise InputError(where, f"place {value!r}: no state has FIPS code {value[:2]!r}")
    return value


def _day(value: str | None, where: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InputError(where, f"{value!r} is not a date YYYY-MM-DD") from None


def _is_file(what: str) -> bool:
    return what.endswith((".yaml", ".yml")) or "/" in what


def _read_file(path: Path, where: str) -> tuple[Scenario, str | None, dt.date | None]:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(where, f"cannot read the overlay file {path}: {exc}") from None
    if not isinstance(data, dict):
        raise InputError(where, f"{path}: an overlay file is a mapping (title, source, changes)")
    try:
        body = _FileOverlay.model_validate(data)
    except ValidationError as exc:
        raise InputError(f"{where} ({path})", str(exc)) from None
    scenario = Scenario(
        name=body.name or path.stem,
        title=body.title,
        description=body.description,
        source=body.source,
        changes=body.changes,
    )
    return scenario, body.place, body.start


def parse_overlay(spec: str) -> Overlay:
    """One overlay: ``NAME[@PLACE][:DATE]`` or ``FILE.yaml[@PLACE][:DATE]`` (no ``+``)."""
    item = spec.strip()
    where = f"--scenario {item}"
    match = _ITEM.match(item)
    if not item or match is None:
        raise InputError(where, "an overlay is NAME[@PLACE][:DATE] or FILE.yaml[@PLACE][:DATE]")
    what = match["what"].strip()
    place_text, date_text = match["place"], match["date"]
    start = _day(date_text, where)
    if _is_file(what):
        scenario, file_place, file_start = _read_file(Path(what), where)
        place = _place(place_text if place_text is not None else file_place, where)
        return Overlay(scenario, place, start or file_start, item)
    return Overlay(_by_name(what, where), _place(place_text, where), start, item)


def parse_overlays(spec: str | Sequence[str]) -> list[Overlay]:
    """Overlays from a spec (``a+b@06:2014-01-01``) or several (each may compose with ``+``),
    in order; ``baseline`` adds nothing."""
    items = [spec] if isinstance(spec, str) else list(spec)
    out = []
    for item in items:
        for part in item.split(SEPARATOR):
            overlay = parse_overlay(part)
            if overlay.scenario.name != BASELINE:
                out.append(overlay)
    return out


def spec_of(overlays: Sequence[Overlay]) -> str:
    return SEPARATOR.join(o.spec or o.scenario.name for o in overlays) or BASELINE


# ---------------------------------------------------------------------------------------------
# Applying overlays


@cache
def baseline_rules() -> Rules:
    return Rules(PolicyTables.load())


def apply(
    overlays: Sequence[Overlay], policy_files: Sequence[JurisdictionPolicy] | None = None
) -> Rules:
    """The rules of history with each overlay's changes applied in order. ``policy_files``:
    the jurisdictions' files to start from (default: the installed ones), e.g. with a draft
    in place of one of them, which is then run without being installed."""
    if not overlays and policy_files is None:
        return baseline_rules()
    program_start = federal_regimes().periods[0].start
    timelines: dict[str, list[RegimePeriod]] = {EVERYWHERE: list(federal_regimes().periods)}
    files = list(jurisdiction_policies().values() if policy_files is None else policy_files)
    extra: list[LayerTable] = []
    for overlay in overlays:
        c, place, start = overlay.scenario.changes, overlay.place, overlay.start
        origin: Origin = (f"scenario {overlay.scenario.name}", None)

        if c.secure_communities is not None:
            _change_regimes(timelines, place, start, secure_communities=c.secure_communities)
        if c.ice_acts_on_levels is not None:
            levels = set(c.ice_acts_on_levels)
            _change_regimes(timelines, place, start, levels=levels)
        if c.prints_checked == "after_conviction":
            extra.append(
                _layer_at(
                    place,
                    start or program_start,
                    DetainerPolicy(prints_checked="after_conviction"),
                    origin,
                )
            )
        if c.local_policies_before is not None:
            cutoff = start or c.local_policies_before
            files = [_until(f, cutoff) if _within(f.fips, place) else f for f in files]
        if c.opt_out_withholds_prints:
            extra.append(LayerTable.of_spans(_opt_outs(files, place, start)))
        if c.every_jail is not None:
            first = start or c.every_jail.start or program_start
            extra.append(_layer_at(place, first, _every_jail_policy(c.every_jail), origin))
    tables = PolicyTables.of(
        {p: RegimeTable.of(t) for p, t in timelines.items()},
        files,
        agreements=baseline_rules().tables.agreements,
        extra=tuple(extra),
    )
    return Rules(tables, spec_of(overlays))


def rules_for_spec(spec: str | Sequence[str]) -> Rules:
    return apply(parse_overlays(spec))


def _layer_at(place: str, first: dt.date, policy: DetainerPolicy, origin: Origin) -> LayerTable:
    """A layer of one policy in ``place`` from ``first`` on."""
    return LayerTable.of_spans({place: [(first, None, policy)]}, {place: [origin]})


def _within(fips: str, place: str) -> bool:
    """Whether jurisdiction ``fips`` (a state, a county, or :data:`EVERYWHERE`) lies in
    ``place``."""
    if place == EVERYWHERE:
        return True
    if fips == EVERYWHERE:
        return False
    return fips == place or (len(place) == 2 and fips[:2] == place)


def _change_regimes(
    timelines: dict[str, list[RegimePeriod]],
    place: str,
    start: dt.date | None,
    *,
    secure_communities: bool | None = None,
    levels: set[Level] | None = None,
) -> None:
    """Change the federal regime in ``place`` from ``start`` on, in every timeline the place
    covers (a place with none yet starts from the one it lies in)."""
    if place not in timelines:
        enclosing = place[:2] if len(place) == 5 and place[:2] in timelines else EVERYWHERE
        timelines[place] = list(timelines[enclosing])

    def change(period: RegimePeriod) -> RegimePeriod:
        regime = period.regime
        update: dict[str, object] = {}
        if secure_communities is not None:
            update["secure_communities"] = secure_communities
        if levels is not None:
            update["detainer_levels"] = [lvl for lvl in regime.detainer_levels if lvl in levels]
            update["notification_levels"] = [
                lvl for lvl in regime.notification_levels if lvl in levels
            ]
            update["interview_levels"] = [lvl for lvl in regime.interview_levels if lvl in levels]
        return period.model_copy(update={"regime": regime.model_copy(update=update)})

    for key in [k for k in timelines if _within(k, place)]:
        timelines[key] = _from_day(timelines[key], start, change)


def _from_day(
    periods: Sequence[RegimePeriod],
    start: dt.date | None,
    change: Callable[[RegimePeriod], RegimePeriod],
) -> list[RegimePeriod]:
    """The periods with ``change`` applied from ``start`` on (a period running over the day is
    split in two)."""
    out = []
    for p in periods:
        if start is None or p.start >= start:
            out.append(change(p))
        elif p.end is not None and p.end <= start:
            out.append(p)
        else:
            out.append(p.model_copy(update={"end": start}))
            out.append(change(p).model_copy(update={"start": start}))
    return out


def _until(policy_file: JurisdictionPolicy, cutoff: dt.date) -> JurisdictionPolicy:
    """The file as if nothing it dates from ``cutoff`` on had happened: later periods dropped,
    the period they ended left open."""
    kept = [p for p in sorted(policy_file.periods, key=lambda p: p.start) if p.start < cutoff]
    if kept and kept[-1].end is not None and kept[-1].end >= cutoff:
        kept[-1] = kept[-1].model_copy(update={"end": None})
    return policy_file.model_copy(update={"periods": kept})


def _opt_outs(
    files: Sequence[JurisdictionPolicy], place: str, start: dt.date | None
) -> dict[str, list[Span]]:
    """For each jurisdiction in ``place`` that ever opted out of results (a state: all its
    counties), a layer withholding its prints from its first request (or ``start``) on."""
    spans: dict[str, list[Span]] = {}
    withheld = DetainerPolicy(receives_results=False, withholds_prints=True)
    for f in files:
        if not _within(f.fips, place):
            continue
        asked = [p.start for p in f.periods if not p.policy.receives_results]
        if asked:
            first = max(min(asked), start) if start else min(asked)
            spans[f.fips] = [(first, None, withheld)]
    return spans


def _every_jail_policy(change: EveryJail) -> DetainerPolicy:
    if change.policy is not None:
        return change.policy
    assert change.like is not None
    like = change.like
    policy_file = jurisdiction_policies().get(like.fips)
    period = policy_file.in_force(like.day) if policy_file else None
    if period is None:
        raise InputError(
            f"every_jail.like {like.fips} on {like.day}", "no policy file period covers that day"
        )
    return period.policy


__all__ = [
    "BASELINE",
    "EVERYWHERE",
    "SEPARATOR",
    "Changes",
    "Overlay",
    "Rules",
    "Scenario",
    "agreements_layer",
    "apply",
    "baseline_rules",
    "parse_overlay",
    "parse_overlays",
    "rules_for_spec",
    "scenarios",
    "spec_of",
]
