"""The rules in force for many cases at once: which regime and which policy layers apply to
each (county, day), as indexes into tables of distinct rules.

The vectorized twin of :func:`scomm.policies.decisions.rules_in_force`, over the same files.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scomm.policies.decisions import DEFAULT_POLICY, PolicyArrays, RegimeArrays
from scomm.policies.load import federal_regimes, jurisdiction_policies
from scomm.policies.schema import DetainerPolicy, JurisdictionPolicy

_FAR_FUTURE = np.datetime64("9999-12-31", "D")


@dataclass(frozen=True)
class RegimeTable:
    starts: np.ndarray  # datetime64[D], sorted
    arrays: RegimeArrays

    @classmethod
    def load(cls) -> RegimeTable:
        periods = federal_regimes().periods
        return cls(
            starts=np.array([p.start for p in periods], dtype="datetime64[D]"),
            arrays=RegimeArrays.of([p.regime for p in periods]),
        )

    def index(self, days: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(self.starts, days.astype("datetime64[D]"), side="right") - 1
        if np.any(idx < 0):
            raise ValueError("a day before the first federal regime (2008-10-27)")
        return idx

    def on(self, days: np.ndarray) -> RegimeArrays:
        return self.arrays.take(self.index(days))


@dataclass(frozen=True)
class LayerTable:
    """One policy layer (state law, or county policy) for many jurisdictions over time."""

    policies: list[DetainerPolicy]  # index 0: the default (honor all)
    arrays: PolicyArrays
    # Per jurisdiction with a file: period starts, ends and policy indexes.
    periods: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]

    @classmethod
    def build(cls, files: list[JurisdictionPolicy]) -> LayerTable:
        policies = [DEFAULT_POLICY]
        periods = {}
        for f in files:
            starts, ends, index = [], [], []
            for period in sorted(f.periods, key=lambda p: p.start):
                starts.append(period.start)
                ends.append(period.end or _FAR_FUTURE.astype(object))
                index.append(len(policies))
                policies.append(period.policy)
            periods[f.fips] = (
                np.array(starts, dtype="datetime64[D]"),
                np.array(ends, dtype="datetime64[D]"),
                np.array(index),
            )
        return cls(policies, PolicyArrays.of(policies), periods)

    def index(self, jurisdiction: np.ndarray, days: np.ndarray) -> np.ndarray:
        """Policy index per case; ``jurisdiction`` holds FIPS strings (state or county)."""
        out = np.zeros(days.shape[0], dtype=np.int64)
        days = days.astype("datetime64[D]")
        for fips, (starts, ends, index) in self.periods.items():
            rows = np.flatnonzero(jurisdiction == fips)
            if rows.size == 0:
                continue
            d = days[rows]
            k = np.searchsorted(starts, d, side="right") - 1
            inside = (k >= 0) & (d < ends[np.maximum(k, 0)])
            out[rows] = np.where(inside, index[np.maximum(k, 0)], 0)
        return out

    def on(self, jurisdiction: np.ndarray, days: np.ndarray) -> PolicyArrays:
        return self.arrays.take(self.index(jurisdiction, days))


@dataclass(frozen=True)
class PolicyTables:
    regimes: RegimeTable
    state: LayerTable
    county: LayerTable

    @classmethod
    def load(cls) -> PolicyTables:
        files = list(jurisdiction_policies().values())
        return cls(
            regimes=RegimeTable.load(),
            state=LayerTable.build([f for f in files if len(f.fips) == 2]),
            county=LayerTable.build([f for f in files if len(f.fips) == 5]),
        )

    def layers(self, county_fips: np.ndarray, days: np.ndarray) -> list[PolicyArrays]:
        state_fips = county_fips.astype("U2")
        return [self.state.on(state_fips, days), self.county.on(county_fips, days)]
