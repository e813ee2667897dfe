"""287(g) agreements: the reading rules on made-up rows, then the Post's file itself."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TypeVar

import numpy as np
from _public_data import JURISDICTIONS, needs_public_data
from typer.testing import CliRunner

from scomm.jurisdictions.agreements import (
    AGREEMENTS_XLSX,
    AgencyKind,
    Agreement,
    AgreementTable,
    Model,
    Placement,
    _kind,
    _place,
    load_agreements,
)

NAMES = {
    "FL": {"collier": "12021", "columbia": "12023", "liberty": "12077", "desoto": "12027"},
    "MT": {"liberty": "30051"},
}


def _agreement(fips: str | None, years: tuple[int, ...], model: Model = Model.JAIL) -> Agreement:
    return Agreement(
        row=2,
        agency="Test County Sheriff's Office",
        state="FL",
        ori=None,
        fips_in_file=fips,
        years=years,
        ended_section=False,
        notes="",
        kind=AgencyKind.COUNTY,
        model=model,
        fips=fips,
        placement=Placement.FIPS,
        problem="",
    )


def test_placement_rules() -> None:
    # A FIPS that agrees with the name is used as given.
    assert _place("Columbia County Sheriff's Office", "FL", "12023", NAMES)[:2] == (
        "12023",
        Placement.FIPS,
    )
    # A FIPS naming another county of the state: the name decides, and the problem is said.
    fips, how, problem = _place("Collier County Sheriff's Office", "FL", "12023", NAMES)
    assert (fips, how) == ("12021", Placement.CORRECTED) and "columbia" in problem
    # A FIPS of another state.
    fips, how, problem = _place("Liberty County Sheriffs Office", "FL", "30051", NAMES)
    assert (fips, how) == ("12077", Placement.CORRECTED) and "not in FL" in problem
    # No FIPS: by name (spacing and punctuation do not matter), or listed.
    assert _place("De Soto County Sheriff's", "FL", None, NAMES)[:2] == ("12027", Placement.NAME)
    fips, how, problem = _place("San Bernadino County", "FL", None, NAMES)
    assert (fips, how) == (None, Placement.UNMATCHED) and "San Bernadino" in problem
    assert _place("Regional Adult Detention Center", "FL", None, NAMES)[:2] == (
        None,
        Placement.UNMATCHED,
    )


def test_agency_kinds() -> None:
    assert _kind("Gallatin County Sherrifs Office") is AgencyKind.COUNTY
    assert _kind("Okmulgee County Criminal Justice Authority") is AgencyKind.COUNTY
    assert _kind("Carrollton County Police Department") is AgencyKind.POLICE
    assert _kind("Georgia Department of Corrections") is AgencyKind.STATE
    assert _kind("Rhode Island State Police") is AgencyKind.STATE


def test_years_become_dated_periods_with_gaps() -> None:
    a = _agreement("12021", (2007, 2008, 2009, 2012))
    assert a.periods == [
        (dt.date(2007, 1, 1), dt.date(2009, 12, 31)),
        (dt.date(2012, 1, 1), dt.date(2012, 12, 31)),
    ]
    assert a.in_force(dt.date(2009, 12, 31)) and not a.in_force(dt.date(2010, 1, 1))


def test_table_lookups_agree_and_honour_the_model() -> None:
    table = AgreementTable.of(
        [
            _agreement("12021", (2007, 2008, 2012)),
            _agreement("12023", (2009, 2010), Model.TASK_FORCE),  # patrols, no jail screen
        ]
    )
    assert table.counties == ("12021",)
    counties = np.array(["12021", "12023", "06037", "12021"])
    days = np.array(["2006-12-31", "2007-01-01", "2010-06-01", "2012-12-31", "2020-01-01"])
    days = days.astype("datetime64[D]")
    grid = table.grid(counties, days)
    assert grid.shape == (4, 5)
    assert grid[0].tolist() == [False, True, False, True, False]
    assert not grid[1].any() and not grid[2].any()
    for i, fips in enumerate(counties):
        for j, day in enumerate(days):
            assert grid[i, j] == table.in_force(str(fips), day.astype(dt.date))
    flat_c, flat_d = np.repeat(counties, days.size), np.tile(days, counties.size)
    assert (table.mask(flat_c, flat_d) == grid.ravel()).all()


def test_an_empty_table_answers_false() -> None:
    table = AgreementTable.of([])
    assert not table.grid(
        np.array(["12021"]), np.array(["2010-01-01"], dtype="datetime64[D]")
    ).any()


# ---------------------------------------------------------------------------------------------
# The Post's file

F = TypeVar("F", bound=Callable[..., None])


def needs_file(test: F) -> F:
    for mark in needs_public_data([*JURISDICTIONS, AGREEMENTS_XLSX]):
        test = mark(test)
    return test


@needs_file
def test_the_posts_file() -> None:
    from scomm.jurisdictions.counties import load_jurisdictions

    table = load_agreements()
    registry = load_jurisdictions()
    assert len(table.agreements) > 150
    for a in table.agreements:
        if a.fips is not None:
            assert registry.get(a.fips).state == a.state, a
        assert all(2005 <= y <= 2019 for y in a.years)
    # Los Angeles County's jail agreement, 2005-2015 (the Board of Supervisors ended it).
    assert table.in_force("06037", dt.date(2010, 6, 1))
    assert not table.in_force("06037", dt.date(2016, 6, 1))
    # Guilford NC: a task-force agreement, on the county but not a jail screen.
    guilford = table.agreements_of("37081")
    assert guilford and all(a.model is Model.TASK_FORCE for a in guilford)
    assert not table.in_force("37081", dt.date(2010, 6, 1))
    # The file's Collier FIPS is Columbia's: corrected by name, and said.
    collier = [a for a in table.corrected() if a.agency.startswith("Collier")]
    assert collier and collier[0].fips == "12021" and collier[0].fips_in_file == "12023"
    # A misspelt county is listed, not guessed.
    assert any("Bernadino" in a.agency for a in table.unmatched())
    assert all(a.fips is None for a in table.unmatched())
    # Police departments and state agencies are not county jails.
    assert all(a.kind is not AgencyKind.COUNTY for a in table.not_county_jails())
    # The program grew after 2016 (the 2017 executive order): more counties in force in 2019.
    assert len(table.counties_in_force(2019)) > len(table.counties_in_force(2016))


@needs_file
def test_jurisdiction_command_shows_287g() -> None:
    import json

    from scomm.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["jurisdiction", "06037", "--on", "2010-06-01", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)["agreement_287g"]
    assert info["jail_model_in_force"] is True
    assert info["agreements"][0]["years"][0] == 2005
    listed = runner.invoke(app, ["data", "agreements", "--json"])
    out = json.loads(listed.output)
    assert out["counts"][Placement.UNMATCHED.value] == len(load_agreements().unmatched())
    assert listed.exit_code == 0
    listed_agencies = {a["agency"] for a in out["agreements"]}
    assert {a.agency for a in load_agreements().unmatched()} <= listed_agencies
