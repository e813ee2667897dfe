"""A month's bookings as arrays: the same distributions as ``scomm.population`` draws one
person at a time, drawn for a million people at once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from scomm.offenses import offense_table
from scomm.people import Status
from scomm.policies.decisions import CATEGORY_BITS, OffenseRecord
from scomm.population import charge_weights, status_shares

STATUSES: tuple[Status, ...] = tuple(Status)
STATUS_INDEX = {s: i for i, s in enumerate(STATUSES)}
CITIZEN_CODES = np.array([s.is_citizen for s in STATUSES])
MAX_PRIOR_CONVICTIONS = 4


@dataclass(frozen=True)
class OffenseCodes:
    """The NCIC table as arrays, indexed by position in ``codes``."""

    codes: tuple[str, ...]
    category_bit: np.ndarray
    felony: np.ndarray
    misdemeanor: np.ndarray
    aggravated: np.ndarray

    @classmethod
    def from_table(cls) -> OffenseCodes:
        table = offense_table()
        codes = tuple(sorted(table))
        return cls(
            codes=codes,
            category_bit=np.array([CATEGORY_BITS[table[c].category] for c in codes], np.int64),
            felony=np.array([table[c].grade == "felony" for c in codes]),
            misdemeanor=np.array([table[c].grade == "misdemeanor" for c in codes]),
            aggravated=np.array([table[c].aggravated_felony for c in codes]),
        )


@dataclass(frozen=True)
class Cohort:
    """Bookings as arrays (one row per booking)."""

    county: np.ndarray  # index into the simulation's county table
    status: np.ndarray  # index into STATUSES
    in_ident: np.ndarray
    stale_record: np.ndarray  # LESC's record shows a citizen as non-citizen
    citizenship_record: np.ndarray  # the jail holds or is shown a record of citizenship
    record: OffenseRecord
    charge: np.ndarray  # index into OffenseCodes.codes (most serious charge)
    custody_hours: np.ndarray
    convicted: np.ndarray  # custody ends with a sentence served (a conviction on this arrest)
    has_contact: np.ndarray

    def __len__(self) -> int:
        return int(self.county.shape[0])

    @property
    def citizen(self) -> np.ndarray:
        return CITIZEN_CODES[self.status]


def status_table(noncitizen_share: np.ndarray, status_parameters: dict[str, Any]) -> np.ndarray:
    """Per county, the cumulative shares of each status (rows sum to 1)."""
    shares = status_shares(noncitizen_share, status_parameters)
    table = np.stack([np.asarray(shares[s], dtype=np.float64) for s in STATUSES], axis=1)
    table /= table.sum(axis=1, keepdims=True)
    return np.cumsum(table, axis=1)


def _categorical(rng: np.random.Generator, cumulative: np.ndarray, n: int) -> np.ndarray:
    return np.minimum(
        np.searchsorted(cumulative, rng.random(n), side="right"), cumulative.shape[-1] - 1
    )


@lru_cache(maxsize=64)
def _charge_cdf(
    codes: tuple[str, ...], shares: tuple[tuple[str, float], ...], felony_weight: float
) -> np.ndarray:
    """Cumulative charge probabilities over ``codes`` (cached: a run asks for a handful)."""
    index = {c: i for i, c in enumerate(codes)}
    weights = np.zeros(len(codes))
    for c, w in charge_weights(felony_weight, dict(shares)).items():
        weights[index[c]] = w
    return np.cumsum(weights / weights.sum())


def draw_cohort(
    rng: np.random.Generator,
    county: np.ndarray,
    status_cumulative: np.ndarray,
    codes: OffenseCodes,
    p: Mapping[str, Any],
    stale_rate: float,
) -> Cohort:
    """Bookings in the given counties (one row each), drawn from population parameters ``p``."""
    n = int(county.shape[0])
    # Status: inverse-CDF per county row.
    u = rng.random(n)
    status = (u[:, None] > status_cumulative[county]).sum(axis=1).astype(np.int8)
    status = np.minimum(status, len(STATUSES) - 1)

    enroll = np.array([p["ident_enrollment"][s.value] for s in STATUSES])
    in_ident = rng.random(n) < enroll[status]
    naturalized_or_derived = (status == STATUS_INDEX[Status.NATURALIZED]) | (
        status == STATUS_INDEX[Status.DERIVED]
    )
    stale = naturalized_or_derived & (rng.random(n) < stale_rate)
    evidence_rate = np.array([p["citizenship_evidence"].get(s.value, 0.0) for s in STATUSES])
    evidence = rng.random(n) < evidence_rate[status]
    us_birth_place = status == STATUS_INDEX[Status.US_BORN]
    citizenship_record = evidence | us_birth_place

    history = p["criminal_history"]
    shares = tuple(sorted(p["charges"]["shares"].items()))
    charge_cdf = _charge_cdf(codes.codes, shares, 1.0)
    charge = _categorical(rng, charge_cdf, n)

    n_convictions = np.minimum(
        rng.poisson(history["prior_arrests_mean"] * history["conviction_rate"], n),
        MAX_PRIOR_CONVICTIONS,
    )
    prior_cdf = _charge_cdf(codes.codes, shares, float(history["prior_felony_weight"]))
    prior = _categorical(rng, prior_cdf, n * MAX_PRIOR_CONVICTIONS).reshape(
        n, MAX_PRIOR_CONVICTIONS
    )
    present = np.arange(MAX_PRIOR_CONVICTIONS)[None, :] < n_convictions[:, None]
    bits = np.where(present, codes.category_bit[prior], 0)
    felony_bits = np.where(present & codes.felony[prior], bits, 0)
    record = OffenseRecord(
        charge_any=codes.category_bit[charge],
        charge_felony=np.where(codes.felony[charge], codes.category_bit[charge], 0),
        conviction_any=np.bitwise_or.reduce(bits, axis=1),
        conviction_felony=np.bitwise_or.reduce(felony_bits, axis=1),
        felony_convictions=(present & codes.felony[prior]).sum(axis=1),
        misdemeanor_convictions=(present & codes.misdemeanor[prior]).sum(axis=1),
        aggravated_felony_conviction=(present & codes.felony[prior] & codes.aggravated[prior]).any(
            axis=1
        ),
        felony_charges=codes.felony[charge].astype(np.int64),
        misdemeanor_charges=codes.misdemeanor[charge].astype(np.int64),
        aggravated_felony_charge=codes.felony[charge] & codes.aggravated[charge],
    )

    paths = p["custody"]["paths"]
    names = list(paths)
    path_cdf = np.cumsum([paths[k]["share"] for k in names])
    path_cdf /= path_cdf[-1]
    path = _categorical(rng, path_cdf, n)
    median = np.array([paths[k]["median_hours"] for k in names])[path]
    sigma = np.array([paths[k]["sigma"] for k in names])[path]
    custody_hours = np.maximum(median * np.exp(sigma * rng.standard_normal(n)), 0.5)

    return Cohort(
        county=county,
        status=status,
        in_ident=in_ident,
        stale_record=stale,
        citizenship_record=citizenship_record,
        record=record,
        charge=charge,
        custody_hours=custody_hours,
        convicted=path == names.index("sentence_served"),
        has_contact=rng.random(n) < p["contact_on_record"],
    )
