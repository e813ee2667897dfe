"""The national engine on made-up counties: the same rules as the pipeline, as arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scomm.errors import InputError
from scomm.simulation.assumptions import Assumptions, load_assumptions
from scomm.simulation.cohort import OffenseCodes, status_table
from scomm.simulation.engine import BiometricRates, Counties, Options, simulate_month
from scomm.simulation.scenarios import Rules, baseline_rules, parse_names, rules_for

RULES = baseline_rules()
CODES = OffenseCodes.from_table()
RATES = BiometricRates(miss_rate=0.02, false_match_rate=0.001)
PRIORS = Assumptions.priors()


def counties(activation: str = "2009-01-01") -> Counties:
    fips = np.array(["06037", "04013", "42101"])
    return Counties(
        fips=fips,
        population=np.array([2_000_000.0, 1_000_000.0, 1_500_000.0]),
        activation=np.array([activation] * 3, dtype="datetime64[D]"),
        status_cumulative=status_table(
            np.array([0.2, 0.15, 0.08]), dict(PRIORS.population["status"])
        ),
    )


def month(
    when: str,
    seed: int = 1,
    options: Options | None = None,
    where: Counties | None = None,
    rules: Rules = RULES,
    assumptions: Assumptions = PRIORS,
) -> dict[str, np.ndarray]:
    return simulate_month(
        np.random.default_rng(seed),
        np.datetime64(when, "M"),
        where or counties(),
        0.04,
        rules,
        CODES,
        RATES,
        assumptions,
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
    # Before the Act only the jail's own occasional declines (practice.lea_own_decline_rate).
    answered = before["detainers_declined"][la] + before["detainers_honored"][la]
    assert answered > 100 and before["detainers_declined"][la] < 0.02 * answered
    assert after["detainers_declined"][la] > 0.5 * after["detainers_honored"][la]


def test_philadelphia_judicial_warrant_rule_declines_every_detainer() -> None:
    out = month("2014-09")
    philadelphia = 2
    assert out["detainers_honored"][philadelphia] == 0
    assert out["detainers_declined"][philadelphia] > 0
    # Nor does the city tell ICE of the release (the order's Section 1): no pickup at its door,
    # while Los Angeles, which declines under the TRUST Act but still tells ICE, has some.
    assert out["release_pickups"][philadelphia] == 0 < out["release_pickups"][0]


def test_safeguards_stop_citizens_detainers() -> None:
    historical = month("2012-05", 7)
    guarded = month("2012-05", 7, Options(safeguards=True))
    assert historical["us_citizens_held"].sum() > 0
    assert guarded["detainers_stopped"].sum() > 0
    assert guarded["us_citizens_held"].sum() < historical["us_citizens_held"].sum()


def scenario(*names: str) -> Rules:
    return rules_for(parse_names(list(names)))


def test_without_secure_communities_only_the_jail_screens_find_people() -> None:
    out = month("2013-03", rules=scenario("no_secure_communities"))
    assert out["submissions_to_ident"].sum() == 0 and out["ident_matches"].sum() == 0
    # The other doors: CAP's interviews, and 287(g) officers where an agreement is in force
    # (Los Angeles County's jail agreement ran to 2015; Maricopa's ended in 2011).
    screens = out["cap_detainers"] + out["g287_detainers"]
    assert np.array_equal(out["detainers_issued"], screens)
    assert out["cap_detainers"].sum() > 0
    assert out["g287_detainers"][0] > 0 and out["g287_detainers"][1:].sum() == 0


def test_serious_crimes_only_removes_the_same_level_1_people_and_fewer_others() -> None:
    base = month("2010-05", 5)
    serious = month("2010-05", 5, rules=scenario("serious_crimes_only"))
    # Common random numbers: the same people, the same draws; only the rule differs.
    assert np.array_equal(base["removals_level_1"], serious["removals_level_1"])
    assert serious["detainers_issued"].sum() < 0.7 * base["detainers_issued"].sum()
    assert serious["removals_non_criminal"].sum() < base["removals_non_criminal"].sum()


def test_judicial_warrant_everywhere_means_no_detainer_is_honored() -> None:
    out = month("2011-02", rules=scenario("judicial_warrant_everywhere"))
    assert out["detainers_honored"].sum() == 0 and out["holds"].sum() == 0
    assert out["detainers_declined"].sum() > 100


def test_trust_act_everywhere_declines_minor_cases_in_arizona_in_2010() -> None:
    phoenix = 1
    base = month("2010-05", 2)
    trust = month("2010-05", 2, rules=scenario("trust_act_everywhere"))
    assert base["detainers_declined"][phoenix] == 0
    assert 0 < trust["detainers_declined"][phoenix] < trust["detainers_issued"][phoenix]


def test_without_the_2014_wave_philadelphia_keeps_honoring() -> None:
    philadelphia = 2
    base = month("2014-09", 3)
    kept = month("2014-09", 3, rules=scenario("no_2014_wave"))
    assert base["detainers_honored"][philadelphia] == 0
    assert kept["detainers_declined"][philadelphia] == 0 < kept["detainers_honored"][philadelphia]
    # Los Angeles sits under the California TRUST Act (January 2014), not the wave: it still declines.
    assert kept["detainers_declined"][0] > 0


def test_free_opt_out_keeps_illinois_prints_from_ice_after_its_request() -> None:
    where = Counties(
        fips=np.array(["17031", "04013"]),
        population=np.array([5_000_000.0, 3_000_000.0]),
        activation=np.array(["2009-01-01"] * 2, dtype="datetime64[D]"),
        status_cumulative=status_table(np.array([0.1, 0.1]), dict(PRIORS.population["status"])),
    )
    base = month("2012-06", where=where)
    free = month("2012-06", where=where, rules=scenario("free_opt_out"))
    assert base["submissions_to_ident"][0] > 0 and free["submissions_to_ident"][0] == 0
    assert free["submissions_to_ident"][1] == base["submissions_to_ident"][1]  # Arizona stayed


def test_checking_prints_after_conviction_only_submits_the_convicted() -> None:
    base = month("2012-06", 4)
    after = month("2012-06", 4, rules=scenario("after_conviction"))
    share = after["submissions_to_ident"].sum() / base["submissions_to_ident"].sum()
    sentence_share = PRIORS.population["custody"]["paths"]["sentence_served"]["share"]
    assert abs(share - sentence_share) < 0.03


def test_scenarios_compose_and_unknown_names_are_refused() -> None:
    both = month("2011-02", rules=scenario("serious_crimes_only+judicial_warrant_everywhere"))
    serious = month("2011-02", rules=scenario("serious_crimes_only"))
    assert both["detainers_honored"].sum() == 0
    assert both["detainers_issued"].sum() == serious["detainers_issued"].sum()
    with pytest.raises(InputError, match="no_such_thing.*known: after_conviction"):
        parse_names(["baseline+no_such_thing"])


def test_a_sample_of_bookings_is_weighted_back_to_the_whole() -> None:
    full = month("2012-03", 9)
    part = month("2012-03", 9, Options(sample=0.25))
    assert abs(part["bookings"].sum() / full["bookings"].sum() - 1) < 0.03
    for key in ("ident_matches", "detainers_issued"):
        # Four standard errors of a count drawn at a quarter of its size.
        tolerance = 4 * np.sqrt(full[key].sum() / 0.25) / full[key].sum()
        assert abs(part[key].sum() / full[key].sum() - 1) < tolerance
    with pytest.raises(ValueError, match="sample"):
        Options(sample=0)


def test_fitted_assumptions_change_the_run() -> None:
    more_pickups = PRIORS.with_values({"practice.pickup_rate": 1.0})
    fewer_pickups = PRIORS.with_values({"practice.pickup_rate": 0.2})
    a = month("2012-03", 2, assumptions=more_pickups)
    b = month("2012-03", 2, assumptions=fewer_pickups)
    assert a["transfers"].sum() > 2 * b["transfers"].sum()
    assert b["hold_hours"].sum() > a["hold_hours"].sum()  # unpicked holds run to expiry
    with pytest.raises(InputError, match="no such assumption"):
        PRIORS.with_values({"practice.no_such_rate": 1.0})


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["simulate", "--from", "2007-01", "--to", "2008-12"], "began in 2008-10"),
        (["simulate", "--from", "2012-05", "--to", "2012-01"], "before --from"),
        (["simulate", "--sample", "0"], "--sample"),
        (["simulate", "--scenario", "utopia"], "no such scenario"),
        (["simulate", "--runs", "0"], "at least one run"),
    ],
)
def test_cli_refuses_bad_arguments(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from scomm.cli import main

    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 2
    assert message in capsys.readouterr().err


def test_a_broken_calibration_file_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "fit.yaml"
    bad.write_text("parameters: [1, 2]\n")
    with pytest.raises(InputError, match="fit.yaml.*no 'parameters' mapping"):
        load_assumptions(bad)
    bad.write_text("parameters: {practice.no_such: 1}\n")
    with pytest.raises(InputError, match="no such assumption"):
        load_assumptions(bad)
