"""The vectorized engine against the SimPy reference: one county, booking by booking, the same
distributions (scomm/simulation/reference.py says why the reference exists).

Each comparison runs both models over several seeds and checks, output by output, that the
mean over seeds agrees within 4 standard errors of the difference, and that the hours of
individual holds come from one distribution (two-sample Kolmogorov-Smirnov). The seeds are
fixed, so the verdicts are too; a model that drifted by a few percent in any output would fail.
"""

from __future__ import annotations

import numpy as np
import pytest
from _public_data import needs_public_data
from scipy import stats

from scomm.simulation.assumptions import Assumptions

pytestmark = needs_public_data()

# Monterey County, California: about 420,000 people, 1,300 bookings a month, a fifth of them
# non-citizens; activated 6 April 2010, under California's TRUST Act from January 2014.
FIPS = "06053"
# The engine costs milliseconds a run and the reference about a second: many engine runs make
# its side of the standard error small, so that the verdict rests on the reference's sample
# and does not swing with every change to the engine's order of draws.
ENGINE_SEEDS = range(64)
REFERENCE_SEEDS = range(12)
# The priors, not the package's calibration: the comparison is of the two models on the same
# inputs, and the priors give this county enough holds to compare whatever a refit changes.
PRIORS = Assumptions.priors()
# Outputs compared (the others are sums or copies of these: iaqs = ident_matches, bed days and
# cost are hold hours scaled).
COMPARED = (
    "bookings",
    "submissions_to_ident",
    "ident_matches",
    "interviews",
    "detainers_issued",
    "detainers_honored",
    "detainers_declined",
    "detainers_stopped",
    "holds",
    "hold_hours",
    "over_holds",
    "contacts_notified",
    "us_citizens_detainers",
    "us_citizens_held",
    "us_citizens_transferred",
    "transfers",
    "removals",
    "removals_level_1",
    "removals_level_2",
    "removals_level_3",
    "removals_non_criminal",
    "cap_interviews",
    "cap_detainers",
    "g287_detainers",
    "detainers_after_release",
    "release_pickups",
    "at_large_arrests",
)


def _runs(first: str, last: str, **kwargs):
    from scomm.simulation.reference import simulate_county_engine, simulate_county_reference

    kwargs.setdefault("assumptions", PRIORS)
    engine = [simulate_county_engine(FIPS, first, last, s, **kwargs) for s in ENGINE_SEEDS]
    reference = [simulate_county_reference(FIPS, first, last, s, **kwargs) for s in REFERENCE_SEEDS]
    # Per-hold hours from the engine: split runs (simulate_county_engine's replicas), on seeds
    # of their own, about as many holds as the reference's.
    hours_engine = np.concatenate(
        [
            simulate_county_engine(FIPS, first, last, 1000 + s, replicas=4000, **kwargs).hold_hours
            for s in REFERENCE_SEEDS
        ]
    )
    return engine, reference, hours_engine


def _disagreements(engine, reference) -> list[str]:
    """Outputs whose totals, averaged over seeds, differ by more than 4 standard errors.

    The months of a run are independent: each month's bookings are a fresh Poisson draw, and
    removals, counted in the month they happen, are a thinning of those Poisson streams into
    disjoint months (independent counts again). So the variance of a total is the sum of the
    months' variances, each estimated across seeds: more degrees of freedom than the seeds'
    totals alone give, hence a standard error that is itself less noisy.
    """
    bad = []
    for name in COMPARED:
        a = np.array([r.by_month[name] for r in engine])  # [seed, month]
        b = np.array([r.by_month[name] for r in reference])
        var = a.var(axis=0, ddof=1).sum() / a.shape[0] + b.var(axis=0, ddof=1).sum() / b.shape[0]
        se = float(np.sqrt(var))
        diff = a.sum(axis=1).mean() - b.sum(axis=1).mean()
        if (se == 0 and diff != 0) or abs(diff) > 4 * se:
            bad.append(
                f"{name}: engine {a.sum(axis=1).mean():.1f}, "
                f"reference {b.sum(axis=1).mean():.1f} (se {se:.1f})"
            )
    return bad


@pytest.fixture(scope="module")
def after_activation():
    return _runs("2010-06", "2010-09")


@pytest.fixture(scope="module")
def trust_act_with_safeguards():
    from scomm.simulation.engine import Options

    return _runs("2014-02", "2014-05", options=Options(safeguards=True))


def test_means_agree_after_activation(after_activation) -> None:
    engine, reference, _ = after_activation
    totals = reference[0].totals()
    # The comparison means something only if the flow reached the hold and removal.
    assert totals["holds"] > 200 and totals["removals"] > 200 and totals["interviews"] > 10
    assert _disagreements(engine, reference) == []


def test_hold_hours_one_distribution_after_activation(after_activation) -> None:
    _, reference, hours_engine = after_activation
    hours_reference = np.concatenate([r.hold_hours for r in reference])
    assert hours_engine.size > 2000 and hours_reference.size > 2000
    assert stats.ks_2samp(hours_engine, hours_reference).pvalue > 0.001


def test_means_agree_under_the_trust_act_with_safeguards(trust_act_with_safeguards) -> None:
    engine, reference, _ = trust_act_with_safeguards
    totals = reference[0].totals()
    # The TRUST Act honors some detainers and declines others; safeguards stop citizens'.
    assert totals["detainers_honored"] > 20 and totals["detainers_declined"] > 20
    assert totals["detainers_stopped"] > 0 and totals["contacts_notified"] > 0
    assert _disagreements(engine, reference) == []


def test_hold_hours_one_distribution_under_the_trust_act(trust_act_with_safeguards) -> None:
    _, reference, hours_engine = trust_act_with_safeguards
    hours_reference = np.concatenate([r.hold_hours for r in reference])
    assert hours_engine.size > 200 and hours_reference.size > 200
    assert stats.ks_2samp(hours_engine, hours_reference).pvalue > 0.001


def test_reference_follows_the_rules_not_history() -> None:
    """With a judicial warrant required everywhere, no jail holds anyone, in either model; ICE
    still takes people at the door (the jails tell it of releases) and at large."""
    from scomm.simulation.reference import simulate_county_engine, simulate_county_reference
    from scomm.simulation.scenarios import parse_names, rules_for

    rules = rules_for(parse_names(["judicial_warrant"]))
    for simulate in (simulate_county_engine, simulate_county_reference):
        baseline = simulate(FIPS, "2010-06", "2010-07", 3, assumptions=PRIORS).totals()
        warrant = simulate(FIPS, "2010-06", "2010-07", 3, rules=rules, assumptions=PRIORS).totals()
        assert baseline["holds"] > 100, simulate.__name__
        assert warrant["holds"] == 0 and warrant["hold_hours"] == 0, simulate.__name__
        assert warrant["detainers_declined"] > 100, simulate.__name__
        assert warrant["transfers"] == warrant["release_pickups"] > 0, simulate.__name__
        assert warrant["transfers"] < baseline["transfers"], simulate.__name__
        assert warrant["at_large_arrests"] > baseline["at_large_arrests"], simulate.__name__
