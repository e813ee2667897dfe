"""ICE's pickup rate dated by federal regime: read, named, followed day by day, and fitted to
the seeds' removals by a linear solve."""

from __future__ import annotations

import numpy as np
import pytest

from scomm.errors import InputError
from scomm.policies import flow
from scomm.policies.decisions import LEVEL_INDEX
from scomm.policies.load import federal_regimes
from scomm.policies.practice import Practice, default_practice
from scomm.policies.schema import Level
from scomm.simulation.assumptions import Assumptions
from scomm.simulation.practice_fit import PICKUP_BOUNDS, PICKUP_TRIALS, pickup_values, solve_line


def _start(name: str) -> np.datetime64:
    return next(
        np.datetime64(p.start, "D") for p in federal_regimes().periods if p.regime.name == name
    )


def test_a_single_pickup_rate_is_one_rate_for_every_regime() -> None:
    data = default_practice().model_dump()
    data["pickup_rate"] = 0.25  # as practice files wrote it before the rate was dated
    practice = Practice.model_validate(data)
    assert practice.pickup_rate == {"default": 0.25}
    assert practice.under(practice.pickup_rate, "mandatory_2011") == 0.25
    with pytest.raises(ValueError, match="default"):
        Practice.model_validate({**data, "pickup_rate": {"mandatory_2011": 0.5}})
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        Practice.model_validate({**data, "pickup_rate": {"default": 1.5}})


def test_a_regime_the_rate_does_not_name_is_an_assumption_with_the_default() -> None:
    priors = Assumptions.priors()
    default = priors.get("practice.pickup_rate.default")
    assert priors.get("practice.pickup_rate.mandatory_2011") == default
    assert priors.get("practice.pickup_rate") == default
    later = priors.with_values({"practice.pickup_rate.mandatory_2011": 0.7})
    assert later.get("practice.pickup_rate.mandatory_2011") == 0.7
    assert later.get("practice.pickup_rate.threat_levels_2008") == default
    with pytest.raises(InputError, match="no such assumption"):
        priors.get("practice.pickup_rate.no_such_regime")


def test_the_pickup_rate_is_taken_up_like_the_act_scale() -> None:
    practice = (
        Assumptions.priors()
        .with_values({**pickup_values(0.2, 0.8), "practice.phase_in_days": 100.0})
        .practice
    )
    memo = _start("discretion_memo_2011")
    # A quarter of the way in on day 25 (the next memo, seven weeks on, keeps the course).
    days = memo + np.array([-1, 0, 25, 400], dtype="timedelta64[D]")
    assert flow.pickup_followed(practice, days).tolist() == pytest.approx([0.2, 0.2, 0.35, 0.8])


def test_the_engine_picks_up_more_where_the_regime_does() -> None:
    from scomm.simulation.engine import OUTPUTS, Options
    from scomm.simulation.national import simulate

    def picked(first: float, later: float) -> tuple[float, float]:
        assumptions = Assumptions.priors().with_values(
            {**pickup_values(first, later), "practice.phase_in_days": 0.0}
        )
        runs = simulate("2010-01", "2012-12", 3, Options(sample=0.002), assumptions=assumptions)
        months = np.array(runs.months, dtype="datetime64[M]")
        early = months < np.datetime64("2011-06", "M")
        transfers = runs.by_month[0][:, OUTPUTS.index("transfers")]
        holds = runs.by_month[0][:, OUTPUTS.index("holds")]
        return (
            float(transfers[early].sum() / holds[early].sum()),
            float(transfers[~early].sum() / holds[~early].sum()),
        )

    low_then_high = picked(0.1, 0.9)
    high_then_low = picked(0.9, 0.1)
    # ICE's coming during the hold moves transfers per hold, in the regime's own months only.
    assert low_then_high[0] < high_then_low[0] - 0.3
    assert low_then_high[1] > high_then_low[1] + 0.3


def test_the_line_through_the_trials_reaches_the_aim() -> None:
    # A linear response with cross terms (the first rate's people are still removed after the
    # second regime begins; the power moves the share and the early removals): the solve must
    # undo them all.
    slope = np.array(
        [[50_000.0, 0.0, -4_000.0], [120_000.0, 300_000.0, -5_000.0], [0.05, 0.0, -0.04]]
    )
    base = np.array([10_000.0, 40_000.0, 0.4])
    trials = np.array(PICKUP_TRIALS)
    seen = np.array([base + slope @ t for t in trials])
    aim = base + slope @ np.array([0.4, 0.85, 1.6])
    solved = solve_line(trials, seen, aim, PICKUP_BOUNDS)
    assert solved.tolist() == pytest.approx([0.4, 0.85, 1.6])
    # Out of reach: the rates stay rates, the power within its bounds, and the gaps (relative
    # to each aim) are smaller than clipping the exact solution would leave.
    far = base + slope @ np.array([0.6, 0.9, 6.0])
    wild = solve_line(trials, seen, far, PICKUP_BOUNDS)
    low, high = np.array(PICKUP_BOUNDS).T
    assert np.all(wild >= low) and np.all(wild <= high)

    def misfit(x: np.ndarray) -> float:
        return float(np.sum(((base + slope @ x) / far - 1) ** 2))

    assert misfit(wild) < misfit(np.array([0.6, 0.9, 4.0])) - 1e-3
    # Two unknowns, with the default bounds of rates.
    two = np.array([[0.3, 0.3], [0.8, 0.3], [0.3, 0.8]])
    flat = slope[:2, :2]
    seen2 = np.array([base[:2] + flat @ t for t in two])
    assert solve_line(two, seen2, base[:2] + flat @ np.array([0.4, 0.85])).tolist() == (
        pytest.approx([0.4, 0.85])
    )


def test_a_pickup_shortfall_falls_on_the_level_with_the_higher_power() -> None:
    practice = Assumptions.priors().with_values(pickup_values(0.5, 1.0, 2.0)).practice
    n = 40_000
    level = np.repeat(
        np.array([LEVEL_INDEX[Level.LEVEL_1], LEVEL_INDEX[Level.NON_CRIMINAL]]), n // 2
    )
    comes, _ = flow.ice_pickup(np.random.default_rng(5), n, 0.5, practice, level)
    # Level 1 at the rate itself (power 1), the non-criminal at its square.
    assert comes[: n // 2].mean() == pytest.approx(0.5, abs=0.02)
    assert comes[n // 2 :].mean() == pytest.approx(0.25, abs=0.02)
    # ICE coming for everyone leaves no shortfall to fall on anybody.
    everyone, _ = flow.ice_pickup(np.random.default_rng(5), n, 1.0, practice, level)
    assert everyone.all()
    data = default_practice().model_dump()
    with pytest.raises(ValueError, match="not ICE levels"):
        Practice.model_validate({**data, "pickup_shortfall_power": {"level_9": 1.0}})
    with pytest.raises(ValueError, match="at least 0"):
        Practice.model_validate({**data, "pickup_shortfall_power": {"level_1": -1.0}})


def test_the_packaged_fit_dates_the_pickup_rate() -> None:
    from scomm.simulation.assumptions import load_assumptions

    fitted = load_assumptions()
    first = fitted.get("practice.pickup_rate.threat_levels_2008")
    later = fitted.get("practice.pickup_rate.detainer_guidance_2012")
    # The seeds' removals (47,000 by October 2010, more than 300,000 by 2014) ask ICE to come
    # for fewer of the held in the program's first years than later.
    assert first < later
