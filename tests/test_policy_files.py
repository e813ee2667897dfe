"""The packaged jurisdiction policy files: they validate, name real FIPS codes, and say what the
seeds and public documents say."""

from __future__ import annotations

import datetime as dt
import re
from importlib import resources

import pytest

from scomm.errors import PolicyError
from scomm.policies.load import jurisdiction_policies, parse_policy
from scomm.policies.schema import Honor
from scomm.settings import data_dir

needs_data = pytest.mark.skipif(
    not (data_dir() / "census/co-est2019-alldata.csv").is_file(),
    reason=f"public data not in {data_dir()} (SCOMM_DATA_DIR): FIPS codes cannot be checked",
)

FOLDER = resources.files("scomm.policies").joinpath("jurisdictions")
OREGON_LISTED = {
    "41001",
    "41005",
    "41007",
    "41011",
    "41013",
    "41015",
    "41017",
    "41019",
    "41021",
    "41023",
    "41027",
    "41029",
    "41031",
    "41033",
    "41039",
    "41041",
    "41043",
    "41045",
    "41047",
    "41051",
    "41053",
    "41055",
    "41057",
    "41059",
    "41061",
    "41063",
    "41065",
    "41067",
    "41069",
    "41071",
}
OREGON_NOT_KNOWN = {"41003", "41009", "41025", "41035", "41037", "41049"}


def policy(fips: str, day: dt.date):
    period = jurisdiction_policies()[fips].in_force(day)
    assert period is not None, f"{fips} has no period on {day}"
    return period.policy


def test_every_file_validates_and_is_named_by_its_fips() -> None:
    files = jurisdiction_policies()
    names = sorted(e.name for e in FOLDER.iterdir() if e.name.endswith(".yaml"))
    assert len(files) == len(names) == 51
    for name in names:
        fips = name.split("-", 1)[0]
        assert re.fullmatch(r"\d{2}-[a-z-]+\.yaml|\d{5}-[a-z-]+\.yaml", name), name
        assert files[fips].fips == fips


def test_every_period_has_dates_reference_and_source() -> None:
    for fips, file in jurisdiction_policies().items():
        for period in file.periods:
            assert period.reference.strip() and period.source.strip(), fips
            assert dt.date(2008, 1, 1) <= period.start <= dt.date(2018, 1, 1), fips


@needs_data
def test_every_fips_is_a_known_jurisdiction() -> None:
    from scomm.jurisdictions.counties import load_jurisdictions

    registry = load_jurisdictions()
    for fips, file in jurisdiction_policies().items():
        assert registry.known_fips(fips), fips
        if len(fips) == 5:
            assert registry.get(fips).state == file.state, fips
    # The same check through the parser, file by file, as ``scomm policy check`` does.
    for entry in FOLDER.iterdir():
        if entry.name.endswith(".yaml"):
            parse_policy(entry.read_text(), entry.name, known_fips=registry.known_fips)


def test_california_trust_act() -> None:
    assert policy("06", dt.date(2013, 12, 31)).honor == Honor.ALL
    trust = policy("06", dt.date(2014, 1, 1))
    assert trust.honor == Honor.CONDITIONAL
    assert trust.serious_offense_grade == "felony"


def test_connecticut_trust_act() -> None:
    assert jurisdiction_policies()["09"].in_force(dt.date(2013, 12, 31)) is None
    trust = policy("09", dt.date(2014, 1, 1))
    assert trust.conviction_required and trust.serious_offense_basis == "conviction"


def test_cook_county_requires_reimbursement() -> None:
    assert jurisdiction_policies()["17031"].in_force(dt.date(2011, 9, 6)) is None
    cook = policy("17031", dt.date(2011, 9, 7))
    assert cook.honor == Honor.CONDITIONAL and cook.reimbursement_required


def test_santa_clara_2011() -> None:
    rule = policy("06085", dt.date(2012, 1, 1))
    assert rule.reimbursement_required and rule.conviction_required


def test_philadelphia_judicial_warrant() -> None:
    rule = policy("42101", dt.date(2014, 4, 16))
    assert rule.judicial_warrant_required and rule.serious_offense_basis == "conviction"
    assert jurisdiction_policies()["42101"].in_force(dt.date(2014, 4, 15)) is None


def test_washington_dc_2010_withdrawal_and_2012_act() -> None:
    assert not policy("11001", dt.date(2010, 7, 15)).receives_results
    act = policy("11001", dt.date(2013, 1, 1))
    assert act.max_hold_hours == 24
    assert act.reimbursement_required and act.receives_results


@pytest.mark.parametrize("state", ["17", "25", "36"])
def test_2011_state_opt_outs_end_when_ice_made_it_mandatory(state: str) -> None:
    assert not policy(state, dt.date(2011, 7, 1)).receives_results
    assert policy(state, dt.date(2011, 8, 5)).receives_results
    from scomm.policies.load import federal_regimes

    regime = federal_regimes().in_force(dt.date(2011, 8, 5))
    assert regime is not None and not regime.regime.opt_out_of_results_allowed


def test_oregon_counties_after_the_ruling() -> None:
    files = jurisdiction_policies()
    oregon = {f for f in files if f.startswith("41") and len(f) == 5}
    assert oregon == OREGON_LISTED  # "more than two dozen": the 30 a public list names
    for fips in oregon:
        assert files[fips].in_force(dt.date(2014, 4, 10)) is None  # before the ruling of 11 April
        rule = policy(fips, dt.date(2014, 5, 2))
        assert rule.honor == Honor.CONDITIONAL and rule.judicial_warrant_required
    state_unknown = " ".join(files["41"].periods[0].unknown)
    for fips in OREGON_NOT_KNOWN:  # the ones not named are said to be unknown, not invented
        assert fips in state_unknown
        assert fips not in files


@pytest.mark.parametrize(
    ("fips", "day"),
    [
        ("06073", "2014-05-01"),
        ("06037", "2014-07-01"),
        ("27053", "2014-06-01"),
        ("32003", "2014-07-01"),
        ("24510", "2014-05-01"),
        ("08031", "2014-05-01"),
    ],
)
def test_2014_wave_declines(fips: str, day: str) -> None:
    assert policy(fips, dt.date.fromisoformat(day)).honor == Honor.NONE
    before = dt.date.fromisoformat(day) - dt.timedelta(days=1)
    assert jurisdiction_policies()[fips].in_force(before) is None
    # A date taken from a month or a window rather than a known day says so.
    assert any(
        "placeholder" in u or "is used" in u
        for u in jurisdiction_policies()[fips].periods[0].unknown
    )


def test_miami_dade_2013_and_2017() -> None:
    assert policy("12086", dt.date(2014, 6, 1)).reimbursement_required
    assert policy("12086", dt.date(2017, 2, 1)).honor == Honor.ALL


def test_2010_opt_out_requests() -> None:
    for fips in ("51013", "06075"):
        assert not policy(fips, dt.date(2011, 1, 1)).receives_results
        assert jurisdiction_policies()[fips].in_force(dt.date(2011, 8, 5)) is None


# ---------------------------------------------------------------------------------------------
# Refusals, through a real file


def real_file(name: str) -> str:
    return FOLDER.joinpath(name).read_text()


def refusal(text: str, name: str, **kwargs) -> PolicyError:
    with pytest.raises(PolicyError) as info:
        parse_policy(text, name, **kwargs)
    return info.value


def test_malformed_file_is_refused_with_its_line() -> None:
    text = real_file("17031-cook.yaml").replace(
        "reimbursement_required: true", "reimbursement_required: maybe"
    )
    error = refusal(text, "17031-cook.yaml")
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "maybe" in row)
    assert error.where == f"17031-cook.yaml:{line}"
    assert "reimbursement_required" in error.problem


def test_overlapping_periods_are_refused() -> None:
    text = real_file("11001-district-of-columbia.yaml").replace("to: 2012-07-01", "to: 2012-09-01")
    error = refusal(text, "11001-district-of-columbia.yaml")
    assert "overlap" in error.problem
    assert "runs to 2012-09-01 but the next starts 2012-07-01" in error.problem
    assert error.where.startswith("11001-district-of-columbia.yaml:")


@needs_data
def test_unknown_fips_is_refused_with_its_line() -> None:
    from scomm.jurisdictions.counties import load_jurisdictions

    text = real_file("41051-multnomah.yaml").replace('fips: "41051"', 'fips: "41099"')
    error = refusal(text, "41051-multnomah.yaml", known_fips=load_jurisdictions().known_fips)
    assert error.where == "41051-multnomah.yaml:1"
    assert "41099" in error.problem
