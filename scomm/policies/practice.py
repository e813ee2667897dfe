"""ICE's practice where the rules leave discretion (rates, not law; see practice.yaml)."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from scomm.errors import PolicyError
from scomm.policies.safe_yaml import read_yaml, read_yaml_file

Rate = float


class Practice(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    act_rate: dict[str, Rate]
    # ICE's capacity under each federal regime, as a multiplier of act_rate (1: as act_rate).
    act_scale: dict[str, float] = Field(default_factory=dict)
    pickup_rate: float = Field(ge=0, le=1)
    pickup_delay_median_hours: float = Field(gt=0)
    pickup_delay_sigma: float = Field(ge=0)
    stale_citizen_record_rate: float = Field(ge=0, le=1)
    cap_interview_rate: float = Field(ge=0, le=1)
    cap_detainer_rate: float = Field(ge=0, le=1)
    # Share of ICE interviews of matched non-criminals that end in a detainer.
    interview_detainer_rate: float = Field(default=0.0, ge=0, le=1)
    removal_rate: dict[str, Rate]
    voluntary_return_share: float = Field(ge=0, le=1)
    relief_share: float = Field(ge=0, le=1)
    proceedings_days_median: float = Field(gt=0)

    def act_probability(self, level: str, regime: str) -> float:
        """The share of matches at ``level`` ICE acts on under the regime named ``regime``."""
        return min(1.0, self.act_rate[level] * self.act_scale.get(regime, 1.0))


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
