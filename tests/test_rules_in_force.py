"""One resolver of the rules in force: the one-cell lookup the pipeline reads and the
(county, day) grids the engine reads agree with the policy files themselves, for every county
and a sample of days that includes every period's first and last day and the day after."""

from __future__ import annotations

import datetime as dt

import numpy as np
from _public_data import needs_public_data

from scomm.policies.decisions import DEFAULT_POLICY
from scomm.policies.load import federal_regimes, jurisdiction_policies
from scomm.policies.schema import (
    DetainerPolicy,
    Honor,
    JurisdictionPolicy,
    PolicyPeriod,
    RegimePeriod,
)
from scomm.policies.tables import (
    EVERYWHERE,
    NO_REGIME,
    LayerTable,
    PolicyTables,
    RegimeTable,
    baseline_tables,
)


def _days() -> list[dt.date]:
    """A seeded sample of days, 2008-2019, and every period boundary of every file."""
    rng = np.random.default_rng(11)
    first = dt.date(2008, 1, 1)
    days = {first + dt.timedelta(days=int(k)) for k in rng.integers(0, 12 * 365, 40)}
    periods: list[RegimePeriod | PolicyPeriod] = list(federal_regimes().periods)
    for f in jurisdiction_policies().values():
        periods.extend(f.periods)
    for p in periods:
        days |= {p.start, p.start - dt.timedelta(days=1)}
        if p.end is not None:
            days |= {p.end, p.end - dt.timedelta(days=1)}
    return sorted(days)


def _policy_on(policy_file: JurisdictionPolicy | None, day: dt.date) -> DetainerPolicy:
    period = policy_file.in_force(day) if policy_file else None
    return period.policy if period else DEFAULT_POLICY


SHARED_DATA, NEEDS_DATA = needs_public_data()


@SHARED_DATA
@NEEDS_DATA
def test_grids_and_one_cell_lookups_follow_the_files_for_every_county() -> None:
    from scomm.simulation.national import county_table

    fips = county_table()[0]
    days = _days()
    tables = baseline_tables()
    files = jurisdiction_policies()
    day_array = np.array(days, dtype="datetime64[D]")

    # The federal regime: the file's period covering each day, or none.
    names = tables.regime_names
    grid = tables.regime_grid(fips, day_array)
    expected = []
    for day in days:
        period = federal_regimes().in_force(day)
        expected.append(period.regime.name if period else NO_REGIME.name)
    assert all(
        grid[i, j] == grid[0, j] for i in range(0, fips.shape[0], 97) for j in range(len(days))
    )
    assert [names[r] for r in grid[0]] == expected

    # The state's and the county's layers: each file's period covering the day, or the default.
    state_grid, county_grid = tables.layer_grids(fips, day_array)[:2]
    with_files = [i for i, f in enumerate(fips) if f in files or f[:2] in files]
    assert with_files, "some counties have a policy file or a state law"
    for i in with_files:
        for j, day in enumerate(days):
            assert tables.state.policies[state_grid[i, j]] == _policy_on(
                files.get(fips[i][:2]), day
            )
            assert tables.county.policies[county_grid[i, j]] == _policy_on(files.get(fips[i]), day)
    others = [i for i in range(fips.shape[0]) if i not in set(with_files)]
    assert (state_grid[others] == 0).all() and (county_grid[others] == 0).all()

    # The one-cell lookup, on a sample of cells weighted to the counties with files.
    rng = np.random.default_rng(5)
    cells = [
        (int(i), int(j))
        for i, j in zip(rng.choice(with_files, 150), rng.integers(0, len(days), 150), strict=True)
    ]
    cells += [
        (int(i), int(j))
        for i, j in zip(
            rng.integers(0, fips.shape[0], 50), rng.integers(0, len(days), 50), strict=True
        )
    ]
    layers = tables.all_layers()
    grids = tables.layer_grids(fips, day_array)
    for i, j in cells:
        rules = tables.in_force(str(fips[i]), days[j])
        assert rules.regime.name == expected[j]
        assert rules.layers[0].policy == tables.state.policies[state_grid[i, j]]
        assert rules.layers[1].policy == tables.county.policies[county_grid[i, j]]
        in_force = [layer.policy for layer in rules.layers[2:]]
        from_grid = [
            table.policies[g[i, j]]
            for table, g in zip(layers[2:], grids[2:], strict=True)
            if g[i, j]
        ]
        assert in_force == from_grid


def _regime_period(start: str, end: str | None, name: str) -> RegimePeriod:
    regime = federal_regimes().periods[0].regime.model_copy(update={"name": name})
    return RegimePeriod.model_validate(
        {
            "from": start,
            "to": end,
            "summary": name,
            "reference": "test",
            "source": "test",
            "regime": regime,
        }
    )


def test_a_gap_between_periods_has_no_regime_and_the_default_policy() -> None:
    regimes = RegimeTable.of(
        [
            _regime_period("2009-01-01", "2009-06-01", "first"),
            _regime_period("2009-07-01", None, "second"),
        ]
    )
    days = np.array(
        ["2008-12-31", "2009-01-01", "2009-05-31", "2009-06-01", "2009-06-30", "2009-07-01"],
        dtype="datetime64[D]",
    )
    assert [regimes.names[r] for r in regimes.index(days)] == [
        "no_regime",
        "first",
        "first",
        "no_regime",
        "no_regime",
        "second",
    ]
    strict = DetainerPolicy(honor=Honor.NONE)
    layer = LayerTable.of_spans({"99001": [(dt.date(2009, 1, 1), dt.date(2009, 6, 1), strict)]})
    tables = PolicyTables(
        regimes={EVERYWHERE: regimes},
        state=LayerTable.of_spans({}),
        county=layer,
    )
    county = np.array(["99001"])
    grid = tables.layer_grids(county, days)[1][0]
    assert [layer.policies[k] == strict for k in grid] == [False, True, True, False, False, False]
    for day, in_force in ((dt.date(2009, 3, 1), True), (dt.date(2009, 6, 15), False)):
        rules = tables.in_force("99001", day)
        assert (rules.layers[1].policy == strict) is in_force
        assert (rules.regime.name == "first") is in_force
        assert rules.regime.secure_communities is in_force
