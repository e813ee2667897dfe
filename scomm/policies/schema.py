"""The policy format: dated parameters with a source on every rule (OpenFisca's manner).

A policy file describes one jurisdiction (``fips``: ``"US"`` for the federal government, two
digits for a state, five for a county or county-equivalent) as a list of ``periods``. Each period
has the date it took effect (``from``), the date it ended (``to``, exclusive; absent while in
force), a one-line ``summary``, the ``reference`` (the law, order or ruling) and the ``source``
(the article or public document we read it in), and the rule itself under ``policy`` (a
jurisdiction) or ``regime`` (the federal government). A rule that ended keeps its period with an
end date; nothing is deleted. A detail not known is listed under ``unknown`` rather than invented.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from scomm.offenses import CATEGORIES


class Level(StrEnum):
    """ICE's offense levels; ``non_criminal`` means an immigration violation only."""

    LEVEL_1 = "level_1"
    LEVEL_2 = "level_2"
    LEVEL_3 = "level_3"
    NON_CRIMINAL = "non_criminal"


class Honor(StrEnum):
    ALL = "all"
    NONE = "none"
    CONDITIONAL = "conditional"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DetainerPolicy(_Strict):
    """A jail's answer to an ICE detainer, as its jurisdiction's policy sets it.

    With ``honor: conditional`` every condition given must hold for the jail to honor.
    """

    honor: Honor = Honor.ALL
    judicial_warrant_required: bool = False
    reimbursement_required: bool = False
    # Offense conditions: empty list = no offense condition.
    serious_offense_categories: list[str] = Field(default_factory=list)
    serious_offense_grade: Literal["any", "felony"] = "any"
    serious_offense_basis: Literal["conviction", "charge_or_conviction"] = "charge_or_conviction"
    conviction_required: bool = False
    max_hold_hours: Annotated[float, Field(gt=0, le=48)] = 48.0
    # Opted out of *receiving* IDENT results: prints still reach ICE, the answer does not reach
    # the agency. Whether ICE lets a jurisdiction do so is the federal regime's call.
    receives_results: bool = True
    notifies_ice_of_release: bool = True
    # Where the prints go: a jurisdiction whose opt-out is honored keeps them from IDENT
    # (``withholds_prints``); a reform may check them only once a court has convicted.
    withholds_prints: bool = False
    prints_checked: Literal["at_booking", "after_conviction"] = "at_booking"
    # A 287(g) jail-model agreement in force: deputized officers screen foreign-born inmates.
    # Unlike the conditions above, any layer having one puts it in force (it is the sheriff's
    # agreement with ICE, not a limit on the jail).
    agreement_287g: bool = False

    @field_validator("serious_offense_categories")
    @classmethod
    def _known_categories(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(CATEGORIES))
        if unknown:
            raise ValueError(
                f"unknown offense categories {unknown}; known: {', '.join(sorted(CATEGORIES))}"
            )
        return value

    @model_validator(mode="after")
    def _conditions_only_when_conditional(self) -> DetainerPolicy:
        conditional = (
            self.judicial_warrant_required
            or self.reimbursement_required
            or self.serious_offense_categories
            or self.conviction_required
        )
        if conditional and self.honor != Honor.CONDITIONAL:
            raise ValueError(
                f"conditions are given but honor is {self.honor.value!r}; use honor: conditional"
            )
        if self.honor == Honor.CONDITIONAL and not conditional:
            raise ValueError("honor: conditional needs at least one condition")
        return self


class FederalRegime(_Strict):
    """The federal rules in force: what ICE does with an IDENT match."""

    name: str
    secure_communities: bool = True  # prints of bookings in activated jurisdictions reach IDENT
    opt_out_of_results_allowed: bool = True
    # How a person's level is read: from convictions only, or also from the arrest charges.
    level_basis: Literal["conviction", "conviction_or_charge"] = "conviction"
    detainer_levels: list[Level]
    notification_levels: list[Level] = Field(default_factory=list)
    interview_levels: list[Level] = Field(default_factory=list)
    detainer_form: str
    notification_form: str | None = None
    administrative_warrant_attached: bool = False
    prosecutorial_discretion: bool = False
    max_hold_hours: Annotated[float, Field(gt=0, le=120)] = 48.0
    hold_excludes_weekends_and_holidays: bool = True
    criminal_alien_program: bool = True

    @model_validator(mode="after")
    def _levels_disjoint(self) -> FederalRegime:
        seen: set[Level] = set()
        for group in (self.detainer_levels, self.notification_levels, self.interview_levels):
            overlap = seen & set(group)
            if overlap:
                raise ValueError(f"levels {sorted(overlap)} appear in two actions")
            seen |= set(group)
        if self.notification_levels and not self.notification_form:
            raise ValueError("notification_levels given without notification_form")
        return self


class _Period(_Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    start: dt.date = Field(alias="from")
    end: dt.date | None = Field(default=None, alias="to")
    summary: str
    reference: str
    source: str
    unknown: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _ordered(self) -> _Period:
        if self.end is not None and self.end <= self.start:
            raise ValueError(f"period ends ({self.end}) on or before it starts ({self.start})")
        return self

    def covers(self, day: dt.date) -> bool:
        return self.start <= day and (self.end is None or day < self.end)


class PolicyPeriod(_Period):
    policy: DetainerPolicy


class RegimePeriod(_Period):
    regime: FederalRegime


class _PolicyFile(_Strict):
    fips: str
    name: str
    description: str = ""

    @model_validator(mode="after")
    def _periods_do_not_overlap(self) -> _PolicyFile:
        periods = sorted(self.periods, key=lambda p: p.start)  # type: ignore[attr-defined]
        for before, after in zip(periods, periods[1:], strict=False):
            if before.end is None or before.end > after.start:
                raise ValueError(
                    f"periods overlap: the one from {before.start} "
                    f"{'has no end' if before.end is None else f'runs to {before.end}'} "
                    f"but the next starts {after.start}"
                )
        return self


class JurisdictionPolicy(_PolicyFile):
    """A state's or county's detainer policy over time."""

    state: str = Field(pattern=r"^[A-Z]{2}$")
    periods: list[PolicyPeriod] = Field(min_length=1)

    @field_validator("fips")
    @classmethod
    def _fips_shape(cls, value: str) -> str:
        if not (value.isdigit() and len(value) in (2, 5)):
            raise ValueError("fips must be 2 digits (a state) or 5 digits (a county)")
        return value

    def in_force(self, day: dt.date) -> PolicyPeriod | None:
        return next((p for p in self.periods if p.covers(day)), None)


class FederalRegimes(_PolicyFile):
    """The federal regimes over time."""

    fips: Literal["US"] = "US"
    periods: list[RegimePeriod] = Field(min_length=1)

    def in_force(self, day: dt.date) -> RegimePeriod | None:
        return next((p for p in self.periods if p.covers(day)), None)
