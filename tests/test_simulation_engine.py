"""The national engine on made-up counties: the same rules as the pipeline, as arrays."""

from __future__ import annotations

import numpy as np

from scomm.policies.tables import PolicyTables
from scomm.simulation.cohort import OffenseCodes, status_table
from scomm.simulation.engine import BiometricRates, Counties, Options, simulate_month

TABLES = PolicyTables.load()
CODES = OffenseCodes.from_table()
RATES = BiometricRates(miss_rate=0.02, false_match_rate=0.001)


def counties(activation: str = "2009-01-01") -> Counties:
    fips = np.array(["06037", "04013", "42101"])
    return Counties(
        fips=fips,
        population=np.array([2_000_000.0, 1_000_000.0, 1_500_000.0]),
        activation=np.array([activation] * 3, dtype="datetime64[D]"),
        status_cumulative=status_table(np.array([0.2, 0.15, 0.08])),
    )


def month(when: str, seed: int = 1, options: Options | None = None, where: Counties | None = None):
    return simulate_month(
        np.random.default_rng(seed),
        np.datetime64(when, "M"),
        where or counties(),
        0.04,
        TABLES,
        CODES,
        RATES,
        options or Options(),
    )


def test_flow_counts_are_consistent() -> None:
    out = month("2013-03")
    total = {k: v.sum() for k, v in out.items()}
    assert total["bookings"] > 10_000
    assert total["ident_matches"] <= total["submissions_to_ident"] <= total["bookings"]
    assert (
        total["detainers_honored"] + total["detainers_declined"] + total["detainers_stopped"]
        <= total["detainers_issued"]
    )
    assert total["over_holds"] == 0
    assert total["removals"] <= total["transfers"]
    levels = sum(
        total[f"removals_{lvl}"] for lvl in ("level_1", "level_2", "level_3", "non_criminal")
    )
    assert levels == total["removals"]


def test_same_seed_same_month_other_seed_other_month() -> None:
    a, b, c = month("2012-05", 3), month("2012-05", 3), month("2012-05", 4)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert any(not np.array_equal(a[k], c[k]) for k in a)


def test_no_prints_reach_ident_before_activation() -> None:
    out = month("2009-03", where=counties(activation="2010-06-01"))
    assert out["submissions_to_ident"].sum() == 0 and out["detainers_issued"].sum() > 0  # CAP only
    assert out["ident_matches"].sum() == 0


def test_california_trust_act_declines_from_2014() -> None:
    before, after = month("2013-10"), month("2014-03")
    la = 0
    assert before["detainers_declined"][la] == 0
    assert after["detainers_declined"][la] > 0.5 * after["detainers_honored"][la]


def test_philadelphia_judicial_warrant_rule_declines_every_detainer() -> None:
    out = month("2014-09")
    philadelphia = 2
    assert out["detainers_honored"][philadelphia] == 0
    assert out["detainers_declined"][philadelphia] > 0


def test_safeguards_stop_citizens_detainers() -> None:
    historical = month("2012-05", 7)
    guarded = month("2012-05", 7, Options(safeguards=True))
    assert historical["us_citizens_held"].sum() > 0
    assert guarded["detainers_stopped"].sum() > 0
    assert guarded["us_citizens_held"].sum() < historical["us_citizens_held"].sum()
