"""Every county: the Census list, the ICE offices, the rollout dates, against the real data."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import pytest
from _public_data import needs_public_data

from scomm.errors import InputError

pytestmark = needs_public_data()


@pytest.fixture(scope="module")
def registry():
    from scomm.jurisdictions.counties import load_jurisdictions

    return load_jurisdictions()


def test_every_county_of_the_census_list(registry) -> None:
    assert len(registry.all()) == 3142
    assert registry.frame.height == 3142
    assert len(registry.by_state("TX")) == 254
    assert len(registry.by_state("OR")) == 36
    assert len(registry.by_state("41")) == 36  # by FIPS too
    assert len({c.state for c in registry.all()}) == 51
    # The Census estimates add up to the 2010 national total of July 2010.
    assert sum(c.population[2010] for c in registry.all()) == 309_321_666


def test_known_fips(registry) -> None:
    assert registry.known_fips("48201")
    assert registry.known_fips("06")
    assert registry.known_fips("11001")
    assert not registry.known_fips("72")  # Puerto Rico: outside the rollout
    assert not registry.known_fips("99999")
    assert not registry.known_fips("46113")  # Shannon SD: renamed 46102 in 2015
    with pytest.raises(InputError):
        registry.get("99999")
    with pytest.raises(InputError):
        registry.by_state("XX")


def test_harris_county(registry) -> None:
    harris = registry.get("48201")
    assert (harris.name, harris.state, harris.state_fips) == ("Harris County", "TX", "48")
    assert harris.activation_date == dt.date(2008, 10, 27)  # the first county, October 2008
    assert not harris.activation_imputed
    assert harris.aor == "HOU"
    assert harris.field_office.startswith("Houston: 126 Northpoint Drive")
    assert harris.population[2010] == 4_107_666
    assert harris.population[2019] == 4_713_325
    assert harris.noncitizen[2010] == (680_631, 7_188)
    assert harris.noncitizen[2018] == (772_375, 7_971)


def test_nearest_year(registry) -> None:
    harris = registry.get("48201")
    # The estimates start in 2010: 2008 (the first rollout year) reads 2010.
    assert harris.population_in(2008) == 4_107_666
    assert harris.population_in(2030) == 4_713_325
    # The ACS runs 2009-2018; 2019 reads 2018.
    assert harris.noncitizen_share_in(2019) == pytest.approx(772_375 / 4_713_325)
    assert harris.noncitizen_share_in(2010) == pytest.approx(680_631 / 4_107_666)


def test_los_angeles_and_new_york(registry) -> None:
    la = registry.get("06037")
    assert la.population[2019] == 10_039_107
    assert la.aor == "LOS"
    assert la.activation_date == dt.date(2009, 8, 27)
    manhattan = registry.get("36061")
    assert manhattan.aor == "NYC"
    assert manhattan.activation_date == dt.date(2012, 5, 15)  # New York's statewide date


def test_renamed_counties_keep_their_panel_date(registry) -> None:
    kusilvak = registry.get("02158")  # Wade Hampton (02270) until 2015
    assert kusilvak.activation_date == dt.date(2012, 4, 10)
    assert not kusilvak.activation_imputed
    assert registry.renamed == {"02270": "02158", "46113": "46102"}


def test_counties_missing_from_the_panel_get_their_state_date(registry) -> None:
    # Alaska's boroughs created 2007-2013 are not in the panel's older county list.
    assert registry.imputed_activation == ("02105", "02195", "02198", "02230", "02275")
    for fips in registry.imputed_activation:
        county = registry.get(fips)
        assert county.activation_imputed
        assert county.activation_date == registry.statewide_activation["AK"] == dt.date(2012, 4, 10)
    assert any("5 counties not in the rollout panel" in note for note in registry.notes)


def test_rollout_counts_reproduce_the_panel(registry) -> None:
    from scomm.jurisdictions.counties import panel_activated_count_by_month

    recounted, recorded = panel_activated_count_by_month()
    # Our month-end count from date_secure gives the panel's own monthly indicator, every month.
    assert recounted == recorded
    assert len(recorded) == 72  # January 2008 to December 2013
    assert recounted["2008-12"] == 14  # the 14 pilot jurisdictions of 2008
    assert recounted["2008-10"] == 1  # Harris County alone
    assert recounted["2013-01"] == 3143  # everything the panel has a date for


def test_rollout_counts_on_the_census_list(registry) -> None:
    from scomm.jurisdictions.counties import activated_count_by_month

    counts = activated_count_by_month()
    assert counts == registry.activated_count_by_month()
    assert counts["2008-10"] == 1
    assert counts["2008-12"] == 14
    assert counts["2010-12"] == 892
    # January 2013, the last statewide activation (Alabama, Illinois): every county of the
    # 2019 list. The panel's 3,143 also counts codes retired since (Bedford city VA 51515, old
    # Alaska areas) and not the new Alaska boroughs; the two agree to within those 8 codes.
    assert counts["2013-01"] == 3142
    assert counts["2012-12"] == 3036
    values = list(counts.values())
    assert values == sorted(values)  # activation is never undone in the panel
    pilots = sorted(
        c.fips for c in registry.all() if c.activation_date and c.activation_date.year == 2008
    )
    assert "48201" in pilots and "25025" in pilots  # Harris TX, Suffolk MA (Boston)


def test_cli_jurisdictions_json() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "scomm", "jurisdictions", "--state", "DC", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = json.loads(out.stdout)
    assert [r["fips"] for r in rows] == ["11001"]
    assert rows[0]["activation_date"] == "2012-06-05"
    assert rows[0]["aor"] == "WAS"


def test_cli_jurisdiction_on_a_day() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "scomm", "jurisdiction", "42101", "--on", "2014-12-31", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    shown = json.loads(out.stdout)
    assert shown["county"]["name"] == "Philadelphia County"
    assert shown["county"]["secure_communities_active"] is True
    county_layer = shown["layers"][1]
    assert county_layer["period"]["from"] == "2014-04-16"
    assert county_layer["period"]["policy"]["judicial_warrant_required"] is True
    assert shown["layers"][0]["period"] is None  # no Pennsylvania state rule
    assert shown["federal"]["name"] == "transition_2014"
    assert shown["category"] == "conditional"


def test_cli_unknown_county_is_one_line_and_exit_2() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "scomm", "jurisdiction", "99999", "--on", "2012-01-01"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "error: 99999: not a county FIPS code (5 digits, Census 2019 list)"
    ]


def test_cli_bad_date_is_refused() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "scomm", "jurisdiction", "48201", "--on", "2012-13-01"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert "YYYY-MM-DD" in out.stderr
