"""Overlays: what-ifs laid over the rules of history, in a place and from a day, read the same
by the pipeline's one-cell lookup and by the engine's grids."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scomm.errors import InputError
from scomm.policies.overlays import EVERYWHERE, apply, parse_overlay, parse_overlays, spec_of
from scomm.policies.schema import Level
from scomm.simulation.assumptions import Assumptions
from scomm.simulation.cohort import OffenseCodes, status_table
from scomm.simulation.engine import BiometricRates, Counties, Options, simulate_month

PRIORS = Assumptions.priors()


def test_the_spec_names_a_scenario_a_place_and_a_day() -> None:
    o = parse_overlay("judicial_warrant@06085:2012-01-01")
    assert (o.scenario.name, o.place, o.start) == ("judicial_warrant", "06085", dt.date(2012, 1, 1))
    assert parse_overlay("judicial_warrant_everywhere").scenario.name == "judicial_warrant"
    assert parse_overlay("serious_crimes_only:2011-06-17").place == EVERYWHERE
    assert parse_overlay("no_secure_communities@06").start is None
    both = parse_overlays("serious_crimes_only+judicial_warrant@06:2014-01-01")
    assert [(o.scenario.name, o.place) for o in both] == [
        ("serious_crimes_only", EVERYWHERE),
        ("judicial_warrant", "06"),
    ]
    assert spec_of(both) == "serious_crimes_only+judicial_warrant@06:2014-01-01"
    assert parse_overlays(["baseline"]) == []


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("judicial_warrant@6085", "not a 2-digit state or 5-digit county"),
        ("judicial_warrant@99001", "no state has FIPS code '99'"),
        ("judicial_warrant@", "needs a place"),
        ("judicial_warrant:2012-13-01", "not a date"),
        ("no_such_thing@06", "no such scenario 'no_such_thing'; known: after_conviction"),
    ],
)
def test_a_bad_spec_is_refused_naming_the_problem(spec: str, problem: str) -> None:
    with pytest.raises(InputError, match=problem):
        parse_overlays(spec)


def test_a_county_reform_from_a_day_changes_that_county_from_that_day_only() -> None:
    rules = apply(parse_overlays("judicial_warrant@04013:2012-01-01"))
    before = rules.in_force("04013", dt.date(2011, 12, 31))
    after = rules.in_force("04013", dt.date(2012, 1, 1))
    elsewhere = rules.in_force("04019", dt.date(2012, 6, 1))
    assert not any(layer.policy.judicial_warrant_required for layer in before.layers)
    assert any(layer.policy.judicial_warrant_required for layer in after.layers)
    assert "scenario judicial_warrant" in "; ".join(layer.basis for layer in after.layers)
    assert not any(layer.policy.judicial_warrant_required for layer in elsewhere.layers)


def test_a_federal_change_in_a_state_composes_with_one_in_a_county() -> None:
    rules = apply(parse_overlays("serious_crimes_only@04:2011-01-01+no_secure_communities@04013"))
    assert Level.LEVEL_3 in rules.in_force("04019", dt.date(2010, 12, 31)).regime.detainer_levels
    pima = rules.in_force("04019", dt.date(2011, 1, 1)).regime
    assert Level.LEVEL_3 not in pima.detainer_levels and pima.secure_communities
    maricopa = rules.in_force("04013", dt.date(2011, 1, 1)).regime
    assert Level.LEVEL_3 not in maricopa.detainer_levels and not maricopa.secure_communities
    assert not rules.in_force("04013", dt.date(2010, 1, 1)).regime.secure_communities
    la = rules.in_force("06037", dt.date(2011, 1, 1)).regime
    assert Level.LEVEL_3 in la.detainer_levels and la.secure_communities


def test_a_yaml_file_is_an_overlay(tmp_path: Path) -> None:
    path = tmp_path / "warrant_in_pima.yaml"
    path.write_text(
        "title: Pima requires a judicial warrant\n"
        "source: a test\n"
        "place: '04019'\n"
        "from: 2013-01-01\n"
        "changes:\n"
        "  every_jail: {policy: {honor: conditional, judicial_warrant_required: true}}\n"
    )
    (o,) = parse_overlays(str(path))
    assert (o.scenario.name, o.place, o.start) == ("warrant_in_pima", "04019", dt.date(2013, 1, 1))
    assert parse_overlay(f"{path}@04013").place == "04013"  # the spec's place wins
    rules = apply([o])
    assert any(
        layer.policy.judicial_warrant_required
        for layer in rules.in_force("04019", dt.date(2013, 2, 1)).layers
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text("title: x\nsource: y\nchanges: {no_such_change: true}\n")
    with pytest.raises(InputError, match="bad.yaml"):
        parse_overlays(str(bad))


def _month(when: str, spec: str) -> dict[str, np.ndarray]:
    counties = Counties(
        fips=np.array(["04013", "06037"]),
        population=np.array([2_000_000.0, 2_000_000.0]),
        activation=np.array(["2009-01-01"] * 2, dtype="datetime64[D]"),
        status_cumulative=status_table(np.array([0.15, 0.2]), dict(PRIORS.population["status"])),
    )
    return simulate_month(
        np.random.default_rng(3),
        np.datetime64(when, "M"),
        counties,
        0.04,
        apply(parse_overlays(spec)),
        OffenseCodes.from_table(),
        BiometricRates(miss_rate=0.02, false_match_rate=0.001),
        PRIORS,
        Options(),
    )


def test_the_engine_runs_a_county_reform_from_its_day() -> None:
    spec = "judicial_warrant@04013:2012-01-01"
    # Common random numbers: before the day, and in the other county, nothing changes.
    for name in ("detainers_honored", "holds", "transfers", "removals"):
        assert np.array_equal(_month("2011-12", spec)[name], _month("2011-12", "baseline")[name])
    base, reform = _month("2012-02", "baseline"), _month("2012-02", spec)
    assert base["detainers_honored"][0] > 50 and reform["detainers_honored"][0] == 0
    assert (
        reform["detainers_declined"][0]
        == base["detainers_issued"][0]
        - reform["detainers_after_release"][0]
        - reform["detainers_stopped"][0]
    )
    assert reform["detainers_honored"][1] == base["detainers_honored"][1]


def test_scomm_scenarios_documents_the_syntax_and_simulate_refuses_a_bad_place() -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "scomm", "scenarios"], capture_output=True, text=True, check=False
    )
    assert listed.returncode == 0
    assert "NAME[@PLACE][:DATE]" in listed.stdout and "judicial_warrant" in listed.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "scomm", "simulate", "--scenario", "judicial_warrant@6085"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2 and "5-digit county FIPS" in bad.stderr
