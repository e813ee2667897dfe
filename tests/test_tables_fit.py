"""Tables a person reads in a terminal fit 80 columns: the national headline with several
scenarios side by side (split into parts, long names by letter with a legend), and the lists
the CLI prints. Nothing is cut: no cell ends in an ellipsis."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from _public_data import needs_public_data
from rich.console import Console

from scomm.simulation.assumptions import load_assumptions
from scomm.simulation.engine import Options
from scomm.simulation.headline import headline_tables, print_headline, scenario_columns, short
from scomm.simulation.national import Plan, simulate_plan
from scomm.simulation.rates import measured_rates
from scomm.simulation.results import HEADLINE, Outcome

pytestmark = needs_public_data()

LONG = "serious_crimes_only+judicial_warrant@06:2014-01-01"
SCENARIOS = ("no_2014_wave", LONG, "trust_act")
ARGS = ["--from", "2014-01", "--to", "2014-02", "--sample", "0.002", "--runs", "2"]


def _lines(text: str) -> list[str]:
    return text.rstrip("\n").split("\n")


def _fits(text: str, width: int) -> None:
    for line in _lines(text):
        assert len(line) <= width, f"{len(line)} columns: {line!r}"
    assert "…" not in text


@pytest.fixture(scope="module")
def outcome() -> Outcome:
    plan = Plan(
        "2014-01",
        "2014-02",
        1,
        2,
        (("baseline",), ("no_2014_wave",), tuple(LONG.split("+")), ("trust_act",)),
        load_assumptions(None),
        measured_rates(),
        Options(sample=0.002),
    )
    return Outcome(plan, simulate_plan(plan, workers=1), 0.0)


def _printed(outcome: Outcome, width: int) -> str:
    out = io.StringIO()
    print_headline(outcome, "United States", Console(file=out, width=width))
    return out.getvalue()


def test_scomm_simulate_with_three_scenarios_fits_80_columns() -> None:
    command = [sys.executable, "-m", "scomm", "simulate", *ARGS, "--workers", "1"]
    for name in SCENARIOS:
        command += ["--scenario", name]
    done = subprocess.run(
        command, capture_output=True, text=True, env={**_env(), "COLUMNS": "80"}, timeout=300
    )
    assert done.returncode == 0, done.stderr
    _fits(done.stdout, 80)
    # Every scenario is there: short names as headers, the long one by letter in the legend.
    assert "no_2014_wave" in done.stdout and "trust_act" in done.stdout
    assert f"A = {LONG}" in done.stdout
    assert done.stdout.count("Share of") >= 3  # the figures repeat in each part


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)


def test_the_headline_splits_at_80_columns_and_not_when_wide(outcome: Outcome) -> None:
    groups, legend = scenario_columns(outcome)
    narrow = headline_tables(groups, "t", Console(file=io.StringIO(), width=80))
    wide = headline_tables(groups, "t", Console(file=io.StringIO(), width=240))
    assert len(narrow) == 3 and len(wide) == 1
    # Each narrow part leads with the baseline, then one scenario and its difference.
    for part in narrow:
        headers = [str(c.header) for c in part.columns]
        assert headers[:2] == ["figure", "baseline"] and len(headers) == 4
    assert legend == [f"A = {LONG}"]
    assert len(_lines(_printed(outcome, 240))[3]) > 80
    _fits(_printed(outcome, 80), 80)


def test_every_cell_holds_its_mean_and_interval(outcome: Outcome) -> None:
    groups, _ = scenario_columns(outcome)
    baseline = groups[0][0]
    assert len(baseline.cells) == len(HEADLINE)
    mean, interval = baseline.cells[HEADLINE.index("holds")].split("\n")
    assert interval.startswith("[") and interval.endswith("]")
    assert mean.replace(",", "").isdigit()


@pytest.mark.parametrize(
    ("name", "value", "text"),
    [
        ("holds", 1_234_567, "1.23M"),
        ("holds", 290_400, "290k"),
        ("holds", 4_510, "4.5k"),
        ("holds", 17, "17"),
        ("holds", -15_000, "-15k"),
        ("hold_cost_usd", -1_790_000, "-$1.79M"),
        ("detainers_declined_share", 0.1234, "12.3%"),
        ("holds", float("nan"), "n/a"),
    ],
)
def test_short_numbers(name: str, value: float, text: str) -> None:
    assert short(name, value) == text


@pytest.mark.parametrize(
    "command",
    [["scenarios"], ["jurisdictions", "--state", "RI"], ["data", "check"], ["data", "agreements"]],
)
def test_lists_fit_80_columns(command: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "scomm", *command],
        capture_output=True,
        text=True,
        env={**_env(), "COLUMNS": "80"},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    _fits(done.stdout, 80)
