"""The decision functions: one rule each, the same for one case or many."""

import datetime as dt

import numpy as np
import pytest

from scomm.policies.decisions import (
    LEVEL_CODES,
    Action,
    OffenseRecord,
    PolicyArrays,
    RegimeArrays,
    ero_action,
    hold_limit_hours,
    honor_detainer,
    offense_level,
    results_reach_agency,
)
from scomm.policies.load import federal_regimes
from scomm.policies.schema import DetainerPolicy, Honor, Level
from scomm.policies.tables import rules_in_force


def level_name(charges, convictions, count_charges=False) -> str:
    record = OffenseRecord.of_one(charges, convictions)
    return LEVEL_CODES[int(offense_level(record, count_charges)[0])].value


def test_levels_follow_ice_definitions() -> None:
    assert level_name([("5499", "misdemeanor")], []) == "non_criminal"
    assert level_name([], [("5499", "misdemeanor")]) == "level_3"
    assert level_name([], [("5499", "misdemeanor")] * 3) == "level_2"
    assert level_name([], [("3599", "felony")]) == "level_2"
    assert level_name([], [("3599", "felony"), ("2499", "felony")]) == "level_1"
    assert level_name([], [("1299", "felony")]) == "level_1"  # robbery: aggravated felony


def test_threat_levels_2008_count_charges() -> None:
    assert level_name([("1299", "felony")], [], count_charges=True) == "level_1"
    assert level_name([("1299", "felony")], [], count_charges=False) == "non_criminal"


def policy(**kwargs) -> PolicyArrays:
    return PolicyArrays.of([DetainerPolicy(**kwargs)])


ROBBERY_CHARGE = OffenseRecord.of_one([("1299", "felony")], [])
TRAFFIC_CHARGE = OffenseRecord.of_one([("5499", "misdemeanor")], [])
ROBBERY_CONVICTION = OffenseRecord.of_one([("5499", "misdemeanor")], [("1299", "felony")])


@pytest.mark.parametrize(
    ("kwargs", "record", "warrant", "paid", "expected"),
    [
        ({"honor": "all"}, TRAFFIC_CHARGE, False, False, True),
        ({"honor": "none"}, ROBBERY_CONVICTION, True, True, False),
        (
            {"honor": "conditional", "judicial_warrant_required": True},
            ROBBERY_CHARGE,
            False,
            False,
            False,
        ),
        (
            {"honor": "conditional", "judicial_warrant_required": True},
            ROBBERY_CHARGE,
            True,
            False,
            True,
        ),
        (
            {"honor": "conditional", "reimbursement_required": True},
            ROBBERY_CHARGE,
            False,
            False,
            False,
        ),
        (
            {"honor": "conditional", "reimbursement_required": True},
            ROBBERY_CHARGE,
            False,
            True,
            True,
        ),
        # TRUST Act shape: serious felony charge or conviction.
        (
            {
                "honor": "conditional",
                "serious_offense_categories": ["robbery"],
                "serious_offense_grade": "felony",
            },
            ROBBERY_CHARGE,
            False,
            False,
            True,
        ),
        (
            {
                "honor": "conditional",
                "serious_offense_categories": ["robbery"],
                "serious_offense_grade": "felony",
            },
            TRAFFIC_CHARGE,
            False,
            False,
            False,
        ),
        # Post-conviction only (Philadelphia's shape, less the warrant).
        (
            {
                "honor": "conditional",
                "serious_offense_categories": ["robbery"],
                "serious_offense_basis": "conviction",
            },
            ROBBERY_CHARGE,
            False,
            False,
            False,
        ),
        (
            {
                "honor": "conditional",
                "serious_offense_categories": ["robbery"],
                "serious_offense_basis": "conviction",
            },
            ROBBERY_CONVICTION,
            False,
            False,
            True,
        ),
        (
            {"honor": "conditional", "conviction_required": True},
            TRAFFIC_CHARGE,
            False,
            False,
            False,
        ),
    ],
)
def test_honor_detainer_per_policy(kwargs, record, warrant, paid, expected) -> None:
    assert honor_detainer([policy(**kwargs)], record, warrant, paid).tolist() == [expected]


def test_every_layer_must_allow_a_hold() -> None:
    state = policy(honor="all")
    county = policy(honor="none")
    assert honor_detainer([state, county], ROBBERY_CHARGE, False, False).tolist() == [False]
    assert honor_detainer([state, state], ROBBERY_CHARGE, False, False).tolist() == [True]


def test_batch_of_many_equals_batches_of_one() -> None:
    policies = [
        DetainerPolicy(honor=Honor.ALL),
        DetainerPolicy(honor=Honor.NONE),
        DetainerPolicy(honor=Honor.CONDITIONAL, serious_offense_categories=["robbery"]),
    ]
    records = [ROBBERY_CHARGE, TRAFFIC_CHARGE, ROBBERY_CONVICTION]
    rows = [(p, r) for p in range(3) for r in range(3)]
    table = PolicyArrays.of(policies).take(np.array([p for p, _ in rows]))
    stacked = OffenseRecord(
        **{
            name: np.concatenate([getattr(records[r], name) for _, r in rows])
            for name in OffenseRecord.__dataclass_fields__
        }
    )
    many = honor_detainer([table], stacked, False, False)
    one_by_one = [
        bool(honor_detainer([PolicyArrays.of([policies[p]])], records[r], False, False)[0])
        for p, r in rows
    ]
    assert many.tolist() == one_by_one


def test_shorter_local_limit_wins() -> None:
    regime = regime_on(dt.date(2012, 6, 1))
    assert hold_limit_hours([policy(max_hold_hours=24)], regime).tolist() == [24.0]
    assert hold_limit_hours([policy()], regime).tolist() == [48.0]


def test_opt_out_of_results_only_while_ice_allowed_it() -> None:
    before = regime_on(dt.date(2010, 6, 1))
    after = regime_on(dt.date(2012, 6, 1))
    assert results_reach_agency(np.array([False]), before).tolist() == [False]
    assert results_reach_agency(np.array([False]), after).tolist() == [True]


def regime_on(day: dt.date) -> RegimeArrays:
    period = federal_regimes().in_force(day)
    assert period is not None, day
    return RegimeArrays.of([period.regime])


@pytest.mark.parametrize(
    ("day", "level", "expected"),
    [
        (dt.date(2009, 5, 1), Level.NON_CRIMINAL, Action.DETAINER),
        (dt.date(2012, 5, 1), Level.NON_CRIMINAL, Action.INTERVIEW),
        (dt.date(2012, 5, 1), Level.LEVEL_3, Action.DETAINER),
        (dt.date(2016, 5, 1), Level.LEVEL_2, Action.NOTIFICATION_REQUEST),
        (dt.date(2016, 5, 1), Level.LEVEL_1, Action.DETAINER),
        (dt.date(2018, 5, 1), Level.NON_CRIMINAL, Action.DETAINER),
    ],
)
def test_ero_action_by_regime(day, level, expected) -> None:
    lvl = np.array([LEVEL_CODES.index(level)], dtype=np.int8)
    assert ero_action(lvl, regime_on(day), np.array([False])).tolist() == [expected]


def test_no_action_on_a_citizen_or_outside_ice_discretion() -> None:
    lvl = np.array([0], dtype=np.int8)
    assert ero_action(lvl, regime_on(dt.date(2012, 1, 1)), np.array([True])).tolist() == [
        Action.NO_ACTION
    ]
    acted = ero_action(
        np.zeros(1000, np.int8),
        regime_on(dt.date(2012, 1, 1)).take(np.zeros(1000, int)),
        np.zeros(1000, bool),
        0.3,
        np.random.default_rng(0).random(1000),
    )
    share = float(np.mean(acted == Action.DETAINER))
    assert 0.25 < share < 0.35


def test_rules_in_force_layers_state_law_and_county() -> None:
    before = rules_in_force("06037", dt.date(2013, 6, 1))
    after = rules_in_force("06037", dt.date(2014, 6, 1))
    robbery, traffic = ROBBERY_CHARGE, TRAFFIC_CHARGE
    assert honor_detainer(before.policy_arrays(), traffic, False, False).tolist() == [True]
    assert honor_detainer(after.policy_arrays(), traffic, False, False).tolist() == [False]
    assert honor_detainer(after.policy_arrays(), robbery, False, False).tolist() == [True]
    assert "7282.5" in after.layers[0].basis
