"""Removals counted in the month they happen, after their proceedings."""

from __future__ import annotations

import numpy as np
import pytest

from scomm.outputs import OUTPUTS
from scomm.policies.practice import default_practice
from scomm.simulation.proceedings import REMOVAL_OUTPUTS, month_shares, time_removals


def test_month_shares_follow_the_duration() -> None:
    short, long = month_shares(10, 0.5), month_shares(120, 0.5)
    assert short.sum() == pytest.approx(1.0, abs=1e-3) and long.sum() == pytest.approx(
        1.0, abs=1e-3
    )
    months = np.arange(short.size)
    assert (short * months).sum() < 1.0 < 3.0 < (long * months).sum() < 5.0
    # No spread: everyone is removed exactly 61 days after a booking spread over its month.
    exact = month_shares(61, 0.0)
    assert exact[:2].sum() == pytest.approx(0.0) and exact[2:4].sum() == pytest.approx(1.0)


def test_time_removals_moves_only_removals() -> None:
    practice = default_practice().model_copy(
        update={"proceedings_days_median": 45.0, "proceedings_days_sigma": 0.8}
    )
    out = np.zeros((12, 2, len(OUTPUTS)))
    out[0, :, :] = 100.0  # one month of everything, in the first month
    timed = time_removals(out, practice)
    removals = OUTPUTS.index("removals")
    others = [k for k, n in enumerate(OUTPUTS) if n not in REMOVAL_OUTPUTS]
    assert np.array_equal(timed[:, :, others], out[:, :, others])
    assert timed[0, 0, removals] < 50 < timed[:3, 0, removals].sum()
    assert timed[:, 0, removals].sum() == pytest.approx(100.0, rel=0.01)
    # Removals after the span's end are not in it.
    late = np.zeros_like(out)
    late[-1] = 100.0
    assert time_removals(late, practice)[:, 0, removals].sum() < 20


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
