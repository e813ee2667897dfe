"""The rules in force for many cases at once: which regime and which policy layers apply to
each (county, day), as indexes into tables of distinct rules.

The vectorized twin of :func:`scomm.policies.decisions.rules_in_force`, over the same files.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from scomm.policies.decisions import DEFAULT_POLICY, PolicyArrays, RegimeArrays
from scomm.policies.load import federal_regimes, jurisdiction_policies
from scomm.policies.schema import DetainerPolicy, JurisdictionPolicy, RegimePeriod

_FAR_FUTURE = np.datetime64("9999-12-31", "D")


@dataclass(frozen=True)
class RegimeTable:
    starts: np.ndarray  # datetime64[D], sorted
    arrays: RegimeArrays
    names: tuple[str, ...]  # each period's regime name

    @classmethod
    def load(cls) -> RegimeTable:
        return cls.of(federal_regimes().periods)

    @classmethod
    def of(cls, periods: Sequence[RegimePeriod]) -> RegimeTable:
        return cls(
            starts=np.array([p.start for p in periods], dtype="datetime64[D]"),
            arrays=RegimeArrays.of([p.regime for p in periods]),
            names=tuple(p.regime.name for p in periods),
        )

    def index(self, days: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(self.starts, days.astype("datetime64[D]"), side="right") - 1
        if np.any(idx < 0):
            raise ValueError("a day before the first federal regime (2008-10-27)")
        return idx

    def on(self, days: np.ndarray) -> RegimeArrays:
        return self.arrays.take(self.index(days))

    def index_from_start(self, days: np.ndarray) -> np.ndarray:
        """:meth:`index`, with days before the first regime given the first one (the days of
        October 2008 before the program began: no jail was activated yet)."""
        idx = np.searchsorted(self.starts, days.astype("datetime64[D]"), side="right") - 1
        return np.maximum(idx, 0)


# A layer's periods for one jurisdiction: (first day, day after the last or None, policy).
Span = tuple[dt.date, dt.date | None, DetainerPolicy]
EVERYWHERE = "*"  # a layer entry that applies to every jurisdiction (scenarios)


@dataclass(frozen=True)
class LayerTable:
    """One policy layer (state law, or county policy) for many jurisdictions over time."""

    policies: list[DetainerPolicy]  # index 0: the default (honor all)
    arrays: PolicyArrays
    # Per jurisdiction with a file: period starts, ends and policy indexes.
    periods: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]
    _entry_cache: dict[bytes, list[tuple[str, np.ndarray]]] = field(
        default_factory=dict, repr=False, compare=False
    )

    @classmethod
    def build(cls, files: list[JurisdictionPolicy]) -> LayerTable:
        return cls.of_spans(
            {f.fips: [(p.start, p.end, p.policy) for p in f.periods] for f in files}
        )

    @classmethod
    def of_spans(cls, spans: Mapping[str, Sequence[Span]]) -> LayerTable:
        """From periods per jurisdiction (FIPS, or :data:`EVERYWHERE`)."""
        policies = [DEFAULT_POLICY]
        periods = {}
        for fips, items in spans.items():
            if not items:
                continue
            starts, ends, index = [], [], []
            for start, end, policy in sorted(items, key=lambda p: p[0]):
                starts.append(start)
                ends.append(end or _FAR_FUTURE.astype(object))
                index.append(len(policies))
                policies.append(policy)
            periods[fips] = (
                np.array(starts, dtype="datetime64[D]"),
                np.array(ends, dtype="datetime64[D]"),
                np.array(index, dtype=np.int64),
            )
        return cls(policies, PolicyArrays.of(policies), periods)

    def index(self, jurisdiction: np.ndarray, days: np.ndarray) -> np.ndarray:
        """Policy index per case; ``jurisdiction`` holds FIPS strings (state or county); a
        state's entry also covers its counties."""
        out = np.zeros(days.shape[0], dtype=np.int64)
        days = days.astype("datetime64[D]")
        for fips, rows in self._entries(jurisdiction):
            starts, ends, index = self.periods[fips]
            d = days[rows]
            k = np.searchsorted(starts, d, side="right") - 1
            inside = (k >= 0) & (d < ends[np.maximum(k, 0)])
            out[rows] = np.where(inside, index[np.maximum(k, 0)], out[rows])
        return out

    def on(self, jurisdiction: np.ndarray, days: np.ndarray) -> PolicyArrays:
        return self.arrays.take(self.index(jurisdiction, days))

    def index_grid(self, jurisdiction: np.ndarray, days: np.ndarray) -> np.ndarray:
        """Policy index for every (jurisdiction, day) pair: [len(jurisdiction), len(days)]."""
        out = np.zeros((jurisdiction.shape[0], days.shape[0]), dtype=np.int64)
        days = days.astype("datetime64[D]")
        for fips, rows in self._entries_for(jurisdiction.tobytes(), jurisdiction.dtype.str):
            starts, ends, index = self.periods[fips]
            k = np.searchsorted(starts, days, side="right") - 1
            inside = (k >= 0) & (days < ends[np.maximum(k, 0)])
            out[rows] = np.where(inside, index[np.maximum(k, 0)], out[rows])
        return out

    def _entries(self, jurisdiction: np.ndarray) -> list[tuple[str, np.ndarray]]:
        """The entries that cover any of these jurisdictions, with the rows they cover."""
        states = jurisdiction.astype("U2")
        found = []
        for fips in self.periods:
            if fips == EVERYWHERE:
                rows = np.arange(jurisdiction.shape[0])
            else:
                # A state's entry covers its counties when the layer is looked up by county.
                rows = np.flatnonzero((jurisdiction == fips) | (states == fips))
            if rows.size:
                found.append((fips, rows))
        return found

    def _entries_for(self, key: bytes, dtype: str) -> list[tuple[str, np.ndarray]]:
        """:meth:`_entries`, kept: a run asks for the same jurisdictions month after month."""
        if key not in self._entry_cache:
            self._entry_cache[key] = self._entries(np.frombuffer(key, dtype=dtype))
        return self._entry_cache[key]


@dataclass(frozen=True)
class PolicyTables:
    """The federal regimes and the policy layers every county's jail answers to: its state's
    law, its own policy, and any layer a scenario adds (each must allow a hold)."""

    regimes: RegimeTable
    state: LayerTable
    county: LayerTable
    extra: tuple[LayerTable, ...] = ()

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
        return [
            self.state.on(state_fips, days),
            self.county.on(county_fips, days),
            *(layer.on(county_fips, days) for layer in self.extra),
        ]

    def layer_grids(self, county_fips: np.ndarray, days: np.ndarray) -> list[np.ndarray]:
        """For each layer, the policy index of every (county, day): [county, day]."""
        state_fips = county_fips.astype("U2")
        return [
            self.state.index_grid(state_fips, days),
            self.county.index_grid(county_fips, days),
            *(layer.index_grid(county_fips, days) for layer in self.extra),
        ]

    def all_layers(self) -> list[LayerTable]:
        return [self.state, self.county, *self.extra]
