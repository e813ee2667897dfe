"""Removals counted in the month they happen, after their proceedings."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from scomm.outputs import OUTPUTS
from scomm.policies import flow
from scomm.policies.practice import default_practice
from scomm.population import admissions_rate
from scomm.simulation.assumptions import Assumptions
from scomm.simulation.cohort import OffenseCodes, status_table
from scomm.simulation.engine import BiometricRates, Counties, Options, month_outputs
from scomm.simulation.national import IDENT_REMOVALS, REMOVAL_COLUMNS, run_months
from scomm.simulation.scenarios import baseline_rules

PRIORS = Assumptions.priors()
RATES = BiometricRates(miss_rate=0.02, false_match_rate=0.001)


def test_proceedings_last_as_practice_says() -> None:
    practice = default_practice().model_copy(
        update={"proceedings_days_median": 45.0, "proceedings_days_sigma": 0.8}
    )
    days = flow.proceedings_minutes(np.random.default_rng(3), 20_000, practice) / 1440
    assert np.median(days) == pytest.approx(45.0, rel=0.03)
    assert np.log(days).std() == pytest.approx(0.8, rel=0.03)
    fixed = practice.model_copy(update={"proceedings_days_sigma": 0.0})
    assert np.all(flow.proceedings_minutes(np.random.default_rng(3), 10, fixed) == 45 * 1440)


def _county() -> Counties:
    return Counties(
        fips=np.array(["04013"]),
        population=np.array([3_000_000.0]),
        activation=np.array(["2009-01-01"], dtype="datetime64[D]"),
        status_cumulative=status_table(np.array([0.15]), dict(PRIORS.population["status"])),
    )


def _run(median_days: float, span: Sequence[np.datetime64]) -> np.ndarray:
    assumptions = PRIORS.with_values(
        {"practice.proceedings_days_median": median_days, "practice.proceedings_days_sigma": 0}
    )
    return run_months(
        np.random.default_rng(5),
        span,
        lambda year: _county(),
        baseline_rules(),
        RATES,
        assumptions,
        Options(),
    )


def test_a_removal_counts_in_the_month_it_happens() -> None:
    span = [np.datetime64("2013-03", "M") + k for k in range(3)]
    quick, slow, never = _run(0.5, span), _run(40.0, span), _run(400.0, span)
    others = [k for k in range(len(OUTPUTS)) if k not in REMOVAL_COLUMNS]
    # The duration moves removals only: every other output is the same, draw for draw.
    assert np.array_equal(quick[:, :, others], slow[:, :, others])
    assert np.array_equal(quick[:, :, others], never[:, :, others])
    removals = OUTPUTS.index("removals")
    booked = month_outputs(
        np.random.default_rng(5),
        span[0],
        _county(),
        admissions_rate(2013, 3),  # the span's first month, as run_months books it
        baseline_rules(),
        OffenseCodes.from_table(),
        RATES,
        PRIORS,
        Options(),
    ).sums[:, removals]
    # The run's first month, drawn alone: its bookings lead to removals, none before them.
    assert booked.sum() > 100
    assert quick[0, 0, removals] <= booked.sum()
    # Half a day after custody: nearly all in the month they happen; 40 days: none in the
    # first month's first part, some pushed past the span; 400 days: all past it.
    assert quick[0, 0, removals] > 0 and slow[0, 0, removals] < quick[0, 0, removals] / 2
    assert slow[:, 0, removals].sum() < quick[:, 0, removals].sum()
    assert never[:, :, REMOVAL_COLUMNS].sum() == 0
    # The levels add up to the total in every month.
    levels = list(REMOVAL_COLUMNS[1:IDENT_REMOVALS])
    assert np.allclose(slow[:, :, levels].sum(axis=2), slow[:, :, removals])


def test_pattern_search_finds_a_bounded_minimum() -> None:
    from concurrent.futures import Future

    from scomm.simulation.calibration import _pattern_search

    target = np.array([0.3, 7.0])

    def submit(xs: list[np.ndarray]) -> list[Future[np.ndarray]]:
        out = []
        for x in xs:
            f: Future[np.ndarray] = Future()
            f.set_result((x - target) / np.array([1.0, 10.0]))
            out.append(f)
        return out

    low, high = np.array([0.0, 0.0]), np.array([1.0, 5.0])  # the second's optimum is outside
    solution = _pattern_search(submit, np.array([0.9, 1.0]), low, high, 200, None)
    assert solution.success and solution.nfev <= 200
    assert abs(solution.x[0] - 0.3) < 0.02 and solution.x[1] == pytest.approx(5.0)
