"""The rules in force, for one case or millions: which federal regime and which policy layers
apply to each (county, day), as indexes into tables of distinct rules.

This is the one resolver of the rules in force. :func:`rules_in_force` (one county, one day,
with where each rule comes from: what the pipeline's agencies and ``scomm jurisdiction`` read)
and :meth:`PolicyTables.regime_grid` / :meth:`PolicyTables.layer_grids` (every county by every
day: what the engine reads) look up the same tables, so they cannot disagree. A period's end
is honoured everywhere: a day after a period ended and before the next began falls back to the
default (a policy layer: honor all; the federal regime: :data:`NO_REGIME`, no program).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache

import numpy as np

from scomm.policies.decisions import (
    DEFAULT_POLICY,
    LayerInForce,
    PolicyArrays,
    RegimeArrays,
    RulesInForce,
)
from scomm.policies.load import federal_regimes, jurisdiction_policies
from scomm.policies.schema import (
    DetainerPolicy,
    FederalRegime,
    JurisdictionPolicy,
    PolicyPeriod,
    RegimePeriod,
)

_FAR_FUTURE = np.datetime64("9999-12-31", "D")
EVERYWHERE = "*"  # an entry that applies to every jurisdiction (overlays)

# The federal rules on a day no regime period covers (before 27 October 2008, or a gap between
# periods): no Secure Communities, no Criminal Alien Program, no action on any level.
NO_REGIME = FederalRegime(
    name="no_regime",
    secure_communities=False,
    opt_out_of_results_allowed=True,
    detainer_levels=[],
    detainer_form="I-247",
    criminal_alien_program=False,
)


def _no_regime_period(day: dt.date) -> RegimePeriod:
    return RegimePeriod.model_validate(
        {
            "from": day,
            "summary": "No federal regime on record covers this day: Secure Communities not in force",
            "reference": "scomm/policies/federal/regimes.yaml (no period covers the day)",
            "source": "scomm",
            "regime": NO_REGIME,
        }
    )


@dataclass(frozen=True)
class RegimeTable:
    """A timeline of federal regime periods; row ``len(periods)`` is :data:`NO_REGIME`."""

    periods: tuple[RegimePeriod, ...]
    starts: np.ndarray  # datetime64[D], sorted
    ends: np.ndarray  # datetime64[D], exclusive; far future while in force
    arrays: RegimeArrays  # one row per period, then NO_REGIME
    names: tuple[str, ...]

    @classmethod
    def load(cls) -> RegimeTable:
        return cls.of(federal_regimes().periods)

    @classmethod
    def of(cls, periods: Sequence[RegimePeriod]) -> RegimeTable:
        ordered = tuple(sorted(periods, key=lambda p: p.start))
        regimes = [p.regime for p in ordered] + [NO_REGIME]
        return cls(
            periods=ordered,
            starts=np.array([p.start for p in ordered], dtype="datetime64[D]"),
            ends=np.array(
                [p.end or _FAR_FUTURE.astype(object) for p in ordered], dtype="datetime64[D]"
            ),
            arrays=RegimeArrays.of(regimes),
            names=tuple(r.name for r in regimes),
        )

    @property
    def none_row(self) -> int:
        return len(self.periods)

    def index(self, days: np.ndarray) -> np.ndarray:
        """The row in force on each day, honouring period ends (:attr:`none_row` where no
        period covers the day)."""
        d = np.asarray(days).astype("datetime64[D]")
        k = np.searchsorted(self.starts, d, side="right") - 1
        safe = np.maximum(k, 0)
        inside = (k >= 0) & (d < self.ends[safe]) if self.periods else np.zeros(d.shape, bool)
        return np.where(inside, safe, self.none_row)

    def period(self, row: int, day: dt.date) -> RegimePeriod:
        return self.periods[row] if row < self.none_row else _no_regime_period(day)


# A layer's periods for one jurisdiction: (first day, day after the last or None, policy).
Span = tuple[dt.date, dt.date | None, DetainerPolicy]
# Where a span's policy comes from, for the rules' basis: the jurisdiction's (or the overlay's)
# name and the period, if it is one of a file's.
Origin = tuple[str, PolicyPeriod | None]


@dataclass(frozen=True)
class LayerTable:
    """One policy layer (state law, county policy, or an overlay's) for many jurisdictions
    over time."""

    policies: list[DetainerPolicy]  # index 0: the default (honor all)
    arrays: PolicyArrays
    # Per jurisdiction with periods: period starts, ends and policy indexes.
    periods: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]
    origins: list[Origin | None] = field(default_factory=list)  # per policy index
    names: dict[str, str] = field(default_factory=dict)  # jurisdiction -> its name
    _entry_cache: dict[bytes, list[tuple[str, np.ndarray]]] = field(
        default_factory=dict, repr=False, compare=False
    )

    @classmethod
    def build(cls, files: list[JurisdictionPolicy]) -> LayerTable:
        spans = {f.fips: [(p.start, p.end, p.policy) for p in f.periods] for f in files}
        origins = {
            f.fips: [(f.name, p) for p in sorted(f.periods, key=lambda p: p.start)] for f in files
        }
        return cls.of_spans(spans, origins, {f.fips: f.name for f in files})

    @classmethod
    def of_spans(
        cls,
        spans: Mapping[str, Sequence[Span]],
        origins: Mapping[str, Sequence[Origin]] | None = None,
        names: Mapping[str, str] | None = None,
    ) -> LayerTable:
        """From periods per jurisdiction (FIPS, or :data:`EVERYWHERE`); ``origins``: for each
        jurisdiction, each span's origin in start order."""
        policies = [DEFAULT_POLICY]
        kept_origins: list[Origin | None] = [None]
        periods = {}
        for fips, items in spans.items():
            if not items:
                continue
            starts, ends, index = [], [], []
            order = sorted(range(len(items)), key=lambda i: items[i][0])
            given = list(origins.get(fips, ())) if origins else []
            for rank, i in enumerate(order):
                start, end, policy = items[i]
                starts.append(start)
                ends.append(end or _FAR_FUTURE.astype(object))
                index.append(len(policies))
                policies.append(policy)
                kept_origins.append(given[rank] if rank < len(given) else None)
            periods[fips] = (
                np.array(starts, dtype="datetime64[D]"),
                np.array(ends, dtype="datetime64[D]"),
                np.array(index, dtype=np.int64),
            )
        return cls(policies, PolicyArrays.of(policies), periods, kept_origins, dict(names or {}))

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

    def layer_in_force(self, jurisdiction: str, policy_index: int) -> LayerInForce:
        """The layer at ``policy_index`` for a jurisdiction, with where it comes from."""
        origin = self.origins[policy_index] if policy_index < len(self.origins) else None
        kind = "state" if len(jurisdiction) == 2 else "county"
        default_name = self.names.get(jurisdiction, f"{kind} {jurisdiction}")
        if origin is None:
            return LayerInForce(jurisdiction, default_name, self.policies[policy_index], None)
        name, period = origin
        return LayerInForce(jurisdiction, name, self.policies[policy_index], period)

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


def covers(place: str, county_fips: np.ndarray) -> np.ndarray:
    """Which counties a place (:data:`EVERYWHERE`, a state's 2 digits, a county's 5) covers."""
    if place == EVERYWHERE:
        return np.ones(county_fips.shape, dtype=bool)
    if len(place) == 2:
        return county_fips.astype("U2") == place
    return county_fips == place


def _specificity(place: str) -> int:
    return 0 if place == EVERYWHERE else len(place)


@dataclass(frozen=True)
class PolicyTables:
    """The federal regimes and the policy layers every county's jail answers to: its state's
    law, its own policy, any 287(g) agreement, and any layer an overlay adds (each must allow
    a hold). ``regimes`` maps a place to its regime timeline: :data:`EVERYWHERE` always, and a
    state or county where an overlay changed the federal rules there (the most specific
    place wins)."""

    regimes: Mapping[str, RegimeTable]
    state: LayerTable
    county: LayerTable
    agreements: LayerTable | None = None
    extra: tuple[LayerTable, ...] = ()
    _regime_rows: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if EVERYWHERE not in self.regimes:
            raise ValueError("the regime timelines need an entry for every place ('*')")
        offset = 0
        for place in self._places():
            self._regime_rows[place] = offset
            offset += len(self.regimes[place].names)

    @classmethod
    def load(cls) -> PolicyTables:
        return cls.of(RegimeTable.load(), list(jurisdiction_policies().values()))

    @classmethod
    def of(
        cls,
        regimes: RegimeTable | Mapping[str, RegimeTable],
        files: Sequence[JurisdictionPolicy],
        agreements: LayerTable | None = None,
        extra: tuple[LayerTable, ...] = (),
    ) -> PolicyTables:
        timelines = {EVERYWHERE: regimes} if isinstance(regimes, RegimeTable) else dict(regimes)
        return cls(
            regimes=timelines,
            state=LayerTable.build([f for f in files if len(f.fips) == 2]),
            county=LayerTable.build([f for f in files if len(f.fips) == 5]),
            agreements=agreements if agreements is not None else agreements_layer(),
            extra=extra,
        )

    def _places(self) -> list[str]:
        return sorted(self.regimes, key=lambda p: (_specificity(p), p))

    # -- the federal regime -----------------------------------------------------------------

    @property
    def regime_arrays(self) -> RegimeArrays:
        """Every timeline's rows, stacked: what :meth:`regime_grid` indexes."""
        tables = [self.regimes[p].arrays for p in self._places()]
        return RegimeArrays(
            **{
                k: np.concatenate([getattr(t, k) for t in tables])
                for k in RegimeArrays.__dataclass_fields__
            }
        )

    @property
    def regime_names(self) -> tuple[str, ...]:
        return tuple(n for p in self._places() for n in self.regimes[p].names)

    def regime_grid(self, county_fips: np.ndarray, days: np.ndarray) -> np.ndarray:
        """The regime row (into :attr:`regime_arrays`) of every (county, day): [county, day]."""
        base = self.regimes[EVERYWHERE].index(days)
        grid = np.broadcast_to(base, (county_fips.shape[0], base.shape[0])).copy()
        for place in self._places()[1:]:
            rows = covers(place, county_fips)
            if rows.any():
                grid[rows] = self._regime_rows[place] + self.regimes[place].index(days)
        return grid

    # -- the policy layers --------------------------------------------------------------------

    def all_layers(self) -> list[LayerTable]:
        agreements = [self.agreements] if self.agreements is not None else []
        return [self.state, self.county, *agreements, *self.extra]

    def layer_grids(self, county_fips: np.ndarray, days: np.ndarray) -> list[np.ndarray]:
        """For each layer, the policy index of every (county, day): [county, day]."""
        state_fips = county_fips.astype("U2")
        return [
            self.state.index_grid(state_fips, days),
            *(layer.index_grid(county_fips, days) for layer in self.all_layers()[1:]),
        ]

    def layers(self, county_fips: np.ndarray, days: np.ndarray) -> list[PolicyArrays]:
        """The layers in force for each case (a county and a day per row)."""
        state_fips = county_fips.astype("U2")
        return [
            self.state.arrays.take(self.state.index(state_fips, days)),
            *(layer.arrays.take(layer.index(county_fips, days)) for layer in self.all_layers()[1:]),
        ]

    # -- one county, one day ------------------------------------------------------------------

    def in_force(self, county_fips: str, day: dt.date) -> RulesInForce:
        """The rules in force for a county's jail on a day, with where each comes from: the
        same lookups as the grids, for one cell."""
        fips = np.array([county_fips])
        days = np.array([day], dtype="datetime64[D]")
        row = int(self.regime_grid(fips, days)[0, 0])
        place = next(p for p in reversed(self._places()) if row >= self._regime_rows[p])
        period = self.regimes[place].period(row - self._regime_rows[place], day)
        grids = self.layer_grids(fips, days)
        # The state's and the county's layers always (their basis says what applies); an
        # agreement's or an overlay's only where it has a period that day (their default is
        # the neutral policy, so leaving it out changes no answer).
        layers = tuple(
            table.layer_in_force(county_fips[:2] if k == 0 else county_fips, int(grid[0, 0]))
            for k, (table, grid) in enumerate(zip(self.all_layers(), grids, strict=True))
            if k < 2 or int(grid[0, 0]) != 0
        )
        return RulesInForce(day=day, regime_period=period, layers=layers)


def agreements_layer() -> LayerTable | None:
    """The 287(g) jail-model agreements (:mod:`scomm.jurisdictions.agreements`) as a policy
    layer with ``agreement_287g`` in force; None where the data is not there (``scomm data
    check``), so that the rules still resolve, with no agreement anywhere."""
    from scomm.errors import ScommError
    from scomm.jurisdictions.agreements import FIRST_YEAR, load_agreements

    try:
        table = load_agreements()
    except (ScommError, OSError):
        return None
    policy = DetainerPolicy(agreement_287g=True)
    spans: dict[str, list[Span]] = {}
    origins: dict[str, list[Origin]] = {}
    for fips, years in zip(table.counties, table.by_year, strict=True):
        on = [FIRST_YEAR + int(k) for k in np.flatnonzero(years)]
        runs: list[list[int]] = []
        for year in on:
            if runs and runs[-1][-1] == year - 1:
                runs[-1].append(year)
            else:
                runs.append([year])
        for run in runs:
            start, end = dt.date(run[0], 1, 1), dt.date(run[-1] + 1, 1, 1)
            period = PolicyPeriod.model_validate(
                {
                    "from": start,
                    "to": end,
                    # Only the start: a case's basis must not tell of the end to come.
                    "summary": f"287(g) jail-model agreement, listed from {run[0]}: deputized "
                    "jail officers screen foreign-born inmates",
                    "reference": "INA 287(g), 8 U.S.C. 1357(g): memorandum of agreement with ICE",
                    "source": table.source,
                    "policy": policy,
                }
            )
            spans.setdefault(fips, []).append((start, end, policy))
            origins.setdefault(fips, []).append(("287(g) agreement", period))
    return LayerTable.of_spans(spans, origins)


@cache
def baseline_tables() -> PolicyTables:
    """The rules of history, as the policy files date them."""
    return PolicyTables.load()


def rules_in_force(county_fips: str, day: dt.date) -> RulesInForce:
    """The federal regime and the policy layers in force for a county's jail, as history has
    them (an overlay's: ``Rules.tables.in_force``)."""
    return baseline_tables().in_force(county_fips, day)
