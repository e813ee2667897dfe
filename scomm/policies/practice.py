"""ICE's practice where the rules leave discretion (rates, not law; see practice.yaml)."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from scomm.errors import PolicyError
from scomm.policies.safe_yaml import read_yaml, read_yaml_file
from scomm.policies.schema import Level

Rate = float
# A rate dated by federal regime: the regime's name -> rate, ``default`` for the others.
ByRegime = dict[str, Rate]


class StepDelays(BaseModel):
    """Minutes from one agency's step to the next, as the pipeline sends its messages."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    booking_to_sib: float = Field(ge=0)
    sib_to_cjis: float = Field(ge=0)
    cjis_to_ident: float = Field(ge=0)
    ident_to_lesc: float = Field(ge=0)
    lesc_to_ero: float = Field(ge=0)
    ero_to_jail: float = Field(ge=0)
    no_match_to_screen: float = Field(ge=0)
    ero_interview: float = Field(ge=0)


class Practice(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    act_rate: dict[str, Rate]
    # ICE's capacity under each federal regime, as a multiplier of act_rate (1: as act_rate).
    act_scale: dict[str, float] = Field(default_factory=dict)
    # Days ICE's field offices take to move from one regime's practice (act_scale, the prison
    # door) to the next, in a straight line (scomm.policies.flow.phased_in; 0: overnight).
    phase_in_days: float = Field(default=0.0, ge=0)
    # Share of held people ICE comes for before the hold ends, dated by federal regime.
    pickup_rate: ByRegime
    # How a shortfall in ICE's pickups falls on each level: a level's share is pickup_rate to
    # this power (1, or a level not named: the rate itself; above 1: ICE comes less often for
    # the level when it cannot come for everyone; whatever the power, 1 where the rate is 1).
    pickup_shortfall_power: dict[str, float] = Field(default_factory=dict)
    pickup_delay_median_hours: float = Field(gt=0)
    pickup_delay_sigma: float = Field(ge=0)
    stale_citizen_record_rate: float = Field(ge=0, le=1)
    cap_interview_rate: float = Field(ge=0, le=1)
    cap_detainer_rate: float = Field(ge=0, le=1)
    # Share of ICE interviews of matched non-criminals that end in a detainer.
    interview_detainer_rate: float = Field(default=0.0, ge=0, le=1)
    # Detainers lodged in state and federal prisons per month nationally, by federal regime:
    # a door the county model does not draw booking by booking (practice.yaml).
    prison_detainers_per_month: dict[str, float] = Field(default_factory=dict)
    prison_custody_share: float = Field(default=0.9, ge=0, le=1)
    # Share of the detainers a jail receives in time that it declines whatever its policy says.
    lea_own_decline_rate: float = Field(default=0.0, ge=0, le=1)
    removal_rate: dict[str, Rate]
    voluntary_return_share: float = Field(ge=0, le=1)
    relief_share: float = Field(ge=0, le=1)
    proceedings_days_median: float = Field(gt=0)
    # Spread of the proceedings' duration (lognormal sigma): the national run counts a removal
    # in the month it happens, this long after ICE took custody (scomm/policies/flow.py).
    proceedings_days_sigma: float = Field(default=0.8, ge=0)
    step_delays_minutes: StepDelays
    release_pickup_rate: ByRegime
    at_large_arrest_rate: ByRegime
    at_large_arrest_delay_days_median: float = Field(gt=0)
    at_large_arrest_delay_sigma: float = Field(ge=0)
    g287_screen_rate: float = Field(ge=0, le=1)
    g287_detainer_rate: float = Field(ge=0, le=1)
    # Where each rate comes from, or that it is an assumption calibration fits.
    sources: dict[str, str] = Field(default_factory=dict)

    @field_validator("pickup_rate", "release_pickup_rate", "at_large_arrest_rate", mode="before")
    @classmethod
    def _one_rate_for_all(cls, value: object) -> object:
        # A single number (as practice files before the dated pickup rate wrote it) is the
        # same rate under every regime.
        if isinstance(value, int | float) and not isinstance(value, bool):
            return {"default": float(value)}
        return value

    @field_validator("pickup_rate", "release_pickup_rate", "at_large_arrest_rate")
    @classmethod
    def _dated_rate(cls, value: ByRegime) -> ByRegime:
        if "default" not in value:
            raise ValueError("a rate dated by regime needs a 'default' entry")
        bad = {k: v for k, v in value.items() if not 0 <= v <= 1}
        if bad:
            raise ValueError(f"rates must be in [0, 1]: {bad}")
        return value

    @field_validator("pickup_shortfall_power")
    @classmethod
    def _by_level(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - {level.value for level in Level})
        if unknown:
            raise ValueError(f"not ICE levels: {unknown}")
        bad = {k: v for k, v in value.items() if v < 0}
        if bad:
            raise ValueError(f"powers must be at least 0: {bad}")
        return value

    def act_probability(self, level: str, regime: str) -> float:
        """The share of matches at ``level`` ICE acts on under the regime named ``regime``."""
        return min(1.0, self.act_rate[level] * self.act_scale.get(regime, 1.0))

    def under(self, rate: ByRegime, regime: str) -> float:
        """A regime-dated rate (``pickup_rate``, ``release_pickup_rate``, ...) under
        the regime named ``regime``."""
        return rate.get(regime, rate["default"])


def load_practice(path: Path | None = None) -> Practice:
    if path is None:
        return default_practice()
    data, _ = read_yaml_file(path)  # bounded and plain data only, as every policy file
    try:
        return Practice.model_validate(data["practice"])
    except (TypeError, KeyError, ValueError) as exc:
        raise PolicyError(str(path), f"not a practice file: {exc}") from None


@cache
def default_practice() -> Practice:
    where = "scomm/policies/federal/practice.yaml"
    data, _ = read_yaml(
        resources.files(__package__).joinpath("federal/practice.yaml").read_bytes(), where
    )
    return Practice.model_validate(data["practice"])
