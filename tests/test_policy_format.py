"""The policy format: a malformed file is refused with its file and line."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from scomm.errors import PolicyError
from scomm.policies.load import federal_regimes, parse_policy
from scomm.policies.schema import PolicyPeriod

GOOD = textwrap.dedent(
    """\
    fips: "11001"
    state: DC
    name: District of Columbia
    periods:
      - from: 2012-06-01
        summary: hold at most 24 hours
        reference: "D.C. Act 19-442"
        source: DOMAIN.md
        policy:
          honor: all
          max_hold_hours: 24
    """
)


def test_a_good_file_parses() -> None:
    policy = parse_policy(GOOD, "dc.yaml")
    period = policy.periods[0]
    assert isinstance(period, PolicyPeriod)
    assert period.policy.max_hold_hours == 24


def refusal(text: str, **kwargs) -> PolicyError:
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "p.yaml", **kwargs)
    return info.value


def test_value_out_of_range_names_its_line() -> None:
    error = refusal(GOOD.replace("max_hold_hours: 24", "max_hold_hours: 96"))
    assert error.where == "p.yaml:11"
    assert "max_hold_hours" in error.problem


def test_unknown_key_names_its_line() -> None:
    error = refusal(GOOD.replace("honor: all", "honor: all\n      honour_always: true"))
    assert error.where == "p.yaml:11"
    assert "honour_always" in error.problem


def test_yaml_syntax_error_names_its_line() -> None:
    error = refusal(GOOD.replace("summary: hold", "summary: [hold"))
    assert error.where.startswith("p.yaml:")
    assert "not valid YAML" in error.problem


def test_overlapping_periods_are_refused() -> None:
    text = GOOD.replace(
        "periods:\n",
        "periods:\n  - from: 2010-01-01\n    summary: x\n    reference: r\n    source: s\n    policy: {honor: all}\n",
    )
    error = refusal(text)
    assert "overlap" in error.problem


def test_conditions_need_conditional_honor() -> None:
    error = refusal(GOOD.replace("honor: all", "honor: all\n      judicial_warrant_required: true"))
    assert "honor: conditional" in error.problem


def test_unknown_offense_category_is_refused() -> None:
    text = GOOD.replace(
        "honor: all", "honor: conditional\n      serious_offense_categories: [jaywalking]"
    )
    assert "jaywalking" in refusal(text).problem


def test_unknown_fips_is_refused() -> None:
    error = refusal(GOOD, known_fips=lambda fips: fips != "11001")
    assert "unknown FIPS" in error.problem
    assert error.where == "p.yaml:1"


def test_federal_regimes_cover_2008_to_today_without_gaps() -> None:
    periods = federal_regimes().periods
    assert str(periods[0].start) == "2008-10-27"
    for before, after in zip(periods, periods[1:], strict=False):
        assert before.end == after.start
    assert periods[-1].end is None


def test_cli_check_lists_refused_files_and_exits_2(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("max_hold_hours: 24", "max_hold_hours: -1"))
    run = subprocess.run(
        [sys.executable, "-m", "scomm", "policy", "check", str(good), str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 2
    assert f"{bad}:11" in run.stdout
    assert "ok" in run.stdout and "1 of 2" in run.stdout
