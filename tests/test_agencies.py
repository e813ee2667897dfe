"""Each agency's step as a pure function: (case state, message, rules in force) -> events."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest

from scomm.agencies import court, ero, jail, lesc, sib
from scomm.people import Status
from scomm.policies.decisions import LayerInForce, RulesInForce
from scomm.policies.flow import case_rng
from scomm.policies.load import federal_regimes
from scomm.policies.practice import default_practice
from scomm.policies.schema import DetainerPolicy, Honor
from scomm.policies.tables import rules_in_force

UTC = dt.UTC
PRACTICE = default_practice()
RNG = np.random.default_rng(0)  # draws no assertion here depends on
# ICE acts on every match its priorities allow (every act rate 1): a decision without chance.
ACTING = PRACTICE.model_copy(
    update={"act_rate": dict.fromkeys(PRACTICE.act_rate, 1.0), "act_scale": {}}
)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def practice_with(**rates: Any) -> Any:
    return type(PRACTICE).model_validate({**PRACTICE.model_dump(), **rates})


def booking(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "ori": "CA0370000",
        "county_fips": "06037",
        "name": "GARCIA,JOSE",
        "date_of_birth": "1980-02-03",
        "sex": "M",
        "place_of_birth": "MM",
        "charges": [{"code": "5499", "grade": "misdemeanor"}],
        "booked_at": "2013-06-03T10:00:00+00:00",
        "contact": "sister +1 555 0100",
        "custody": {"reason": "bail", "after_hours": 30.0},
    }
    return {**base, **overrides}


def rules_with(policy: DetainerPolicy, day: dt.date) -> RulesInForce:
    regime = federal_regimes().in_force(day)
    assert regime is not None
    layer = LayerInForce("99001", "Test County", policy, None)
    return RulesInForce(day, regime, (layer,))


def detainer_for(b: dict[str, Any], rules: RulesInForce, at: dt.datetime) -> dict[str, Any]:
    iar = {
        "us_citizen": False,
        "determination": "no_lawful_status",
        "ident_fin": "FIN1",
        "field_office": "LOS",
    }
    result = ero.decide(
        at,
        b,
        [{"code": "2399", "grade": "misdemeanor", "convicted": True}],
        iar,
        rules,
        ACTING,
        rng(),
    )
    issued = [e for e in result.events if e.step == "detainer.issued"]
    assert issued, [e.step for e in result.events]
    return issued[0].payload


def test_sib_routes_by_activation_date() -> None:
    rules = rules_in_force("06037", dt.date(2009, 1, 5))
    at = dt.datetime(2009, 1, 5, 10, tzinfo=UTC)
    before = sib.route("CA0370000", at, dt.date(2009, 3, 1), rules)
    after = sib.route("CA0370000", at, dt.date(2008, 12, 1), rules)
    assert before.events[0].payload["secure_communities"] == "not_activated"
    assert before.next[0].payload["forward_to_ident"] is False
    assert after.events[0].payload["secure_communities"] == "activated"
    assert after.next[0].payload["forward_to_ident"] is True


def test_opt_out_of_results_keeps_prints_flowing_but_not_the_answer() -> None:
    at = dt.datetime(2010, 6, 1, tzinfo=UTC)
    opted = rules_with(DetainerPolicy(receives_results=False), at.date())
    result = sib.route("DC0010000", at, dt.date(2009, 1, 1), opted)
    assert result.events[0].payload["secure_communities"] == "opted_out"
    assert result.next[0].payload["forward_to_ident"] is True
    # From August 2011 ICE no longer let anyone opt out of results.
    later = rules_with(DetainerPolicy(receives_results=False), dt.date(2012, 1, 1))
    result = sib.route("DC0010000", dt.datetime(2012, 1, 1, tzinfo=UTC), dt.date(2009, 1, 1), later)
    assert result.events[0].payload["secure_communities"] == "activated"


def test_lesc_stale_record_answers_with_the_old_status() -> None:
    at = dt.datetime(2013, 6, 3, 11, tzinfo=UTC)
    stale = lesc.respond(at, "FIN1", Status.LPR, "LOS", True).events[0].payload
    current = lesc.respond(at, "FIN1", Status.NATURALIZED, "LOS", True).events[0].payload
    assert stale["us_citizen"] is False and current["us_citizen"] is True


def test_ero_never_issues_a_detainer_on_a_citizen_iar() -> None:
    rules = rules_in_force("06037", dt.date(2013, 6, 3))
    iar = {
        "us_citizen": True,
        "determination": "us_citizen_naturalized",
        "ident_fin": "F",
        "field_office": "LOS",
    }
    result = ero.decide(
        dt.datetime(2013, 6, 3, tzinfo=UTC), booking(), [], iar, rules, ACTING, rng()
    )
    assert [e.step for e in result.events] == ["ero.decision"]
    assert result.events[0].payload["action"] == "no_action"


@pytest.mark.parametrize(
    ("day", "form"),
    [
        (dt.date(2009, 6, 1), "I-247 (08/07)"),
        (dt.date(2013, 6, 1), "I-247 (12/12)"),
        (dt.date(2018, 6, 1), "I-247A"),
    ],
)
def test_detainer_form_follows_the_regime(day: dt.date, form: str) -> None:
    rules = rules_in_force("04013", day)
    at = dt.datetime.combine(day, dt.time(12), UTC)
    d = detainer_for(booking(), rules, at)
    assert d["form"] == form
    assert d["judicial_warrant"] is False
    if form == "I-247A":
        assert d["fields"]["administrative_warrant"] == "I-200"


def test_citizenship_record_stops_the_detainer() -> None:
    at = dt.datetime(2013, 6, 3, 14, tzinfo=UTC)
    rules = rules_in_force("04013", at.date())
    b = booking(
        citizenship_evidence=[{"kind": "naturalization_certificate", "number": "N12345678"}]
    )
    result = jail.receive_detainer(at, b, [], detainer_for(b, rules, at), rules, PRACTICE, rng())
    assert result.events[0].step == "detainer.stopped"
    assert result.events[0].payload["wrongful_detainer"] is True
    assert "citizenship" in result.events[0].legal_basis
    assert [s.step for s in result.next] == ["jail.release"]


def test_trust_act_declines_a_traffic_detainer_and_honors_a_robbery_one() -> None:
    at = dt.datetime(2014, 6, 3, 14, tzinfo=UTC)
    rules = rules_in_force("06037", at.date())
    b = booking(booked_at="2014-06-03T10:00:00+00:00")
    answer = jail.receive_detainer(
        at, b, [], detainer_for(b, rules, at), rules, PRACTICE, rng()
    ).events[0]
    assert answer.step == "jail.detainer_answer" and answer.payload["honored"] is False
    assert "7282.5" in answer.legal_basis
    robbery = booking(
        booked_at="2014-06-03T10:00:00+00:00", charges=[{"code": "1299", "grade": "felony"}]
    )
    answer = jail.receive_detainer(
        at, robbery, [], detainer_for(robbery, rules, at), rules, PRACTICE, rng()
    ).events[0]
    assert answer.payload["honored"] is True


def run_release(b: dict[str, Any], rules: RulesInForce, at: dt.datetime, practice: Any = PRACTICE):
    # Booked 30 hours before release (the custody the booking states).
    b = {**b, "booked_at": (at - dt.timedelta(hours=30)).isoformat()}
    d = detainer_for(b, rules, at - dt.timedelta(hours=20))
    answer = jail.receive_detainer(
        at - dt.timedelta(hours=19), b, [], d, rules, practice, rng()
    ).events[0]
    assert answer.step == "jail.detainer_answer", answer.step
    return jail.release(at, "bail", b, answer.payload, d, rules, practice, rng(), wanted=True)


def test_hold_starts_with_family_notification_and_ends_by_its_limit() -> None:
    at = dt.datetime(2013, 6, 7, 16, tzinfo=UTC)  # a Friday afternoon
    rules = rules_in_force("04013", at.date())
    result = run_release(booking(), rules, at, practice_with(pickup_rate=0.0))  # ICE never comes
    steps = [e.step for e in result.events]
    assert steps == ["hold.started", "contact.notified"]
    assert result.events[1].payload["delivered"] is True
    expires = dt.datetime.fromisoformat(result.events[0].payload["hold_expires_at"])
    assert expires == dt.datetime(2013, 6, 11, 16, tzinfo=UTC)  # weekend not counted
    assert [s.step for s in result.next] == ["hold.expire"] and result.next[0].at == expires


def test_pickup_within_the_limit_is_a_transfer() -> None:
    at = dt.datetime(2013, 6, 4, 16, tzinfo=UTC)
    rules = rules_in_force("04013", at.date())
    result = run_release(booking(), rules, at, practice_with(pickup_rate=1.0))
    assert [s.step for s in result.next] == ["ero.pickup"]
    pickup = result.next[0]
    expires = dt.datetime.fromisoformat(result.events[0].payload["hold_expires_at"])
    assert pickup.at <= expires
    transfer = court.transfer(pickup.at, booking(), at, expires, PRACTICE, rng=RNG)
    assert [e.step for e in transfer.events] == ["hold.ended", "transfer"]


def test_no_code_path_holds_past_the_limit() -> None:
    at = dt.datetime(2013, 6, 4, 16, tzinfo=UTC)
    expires = at + dt.timedelta(hours=48)
    with pytest.raises(AssertionError, match="past the hold's limit"):
        court.transfer(expires + dt.timedelta(minutes=1), booking(), at, expires, PRACTICE, rng=RNG)


def test_dc_limits_holds_to_24_hours() -> None:
    at = dt.datetime(2013, 6, 4, 16, tzinfo=UTC)
    rules = rules_with(DetainerPolicy(max_hold_hours=24), at.date())
    result = run_release(booking(), rules, at, practice_with(pickup_rate=0.0))
    assert result.events[0].payload["limit_hours"] == 24
    assert dt.datetime.fromisoformat(
        result.events[0].payload["hold_expires_at"]
    ) == at + dt.timedelta(hours=24)


def test_declined_detainer_means_release_and_ice_told_who_may_come_to_the_door() -> None:
    at = dt.datetime(2013, 6, 4, 16, tzinfo=UTC)
    rules = rules_with(DetainerPolicy(honor=Honor.NONE), at.date())
    always = practice_with(release_pickup_rate={"default": 1.0})
    result = run_release(booking(), rules, at, always)
    assert [e.step for e in result.events] == ["released", "ice.notified_of_release"]
    assert [(s.step, s.at, s.payload["route"]) for s in result.next] == [
        ("ero.pickup", at, "release")
    ]
    transfer = court.transfer(at, booking(), None, None, always, "release", rng=RNG)
    assert [e.step for e in transfer.events] == ["transfer"]
    assert transfer.events[0].payload["route"] == "release"


def test_proceedings_end_as_long_after_custody_as_they_take() -> None:
    at = dt.datetime(2013, 6, 4, 16, tzinfo=UTC)
    fixed = PRACTICE.model_copy(update={"proceedings_days_sigma": 0.0})
    for result in (
        court.transfer(at, booking(), None, None, fixed, "release", rng=RNG),
        court.arrest_at_large(at, fixed, RNG),
    ):
        [due] = result.next
        assert due.step == "court.proceedings"
        assert due.at == at + dt.timedelta(days=fixed.proceedings_days_median)
    # With their spread, the same draws as every runner's (flow.proceedings_minutes).
    spread = PRACTICE.model_copy(update={"proceedings_days_sigma": 0.8})
    days = [
        (court.arrest_at_large(at, spread, case_rng(3, f"c{i}", "d")).next[0].at - at).days
        for i in range(400)
    ]
    assert len(set(days)) > 50
    assert abs(np.median(days) - spread.proceedings_days_median) < 6


def test_a_jail_that_tells_ice_nothing_leaves_only_an_arrest_at_large() -> None:
    at = dt.datetime(2013, 6, 4, 16, tzinfo=UTC)
    silent = DetainerPolicy(honor=Honor.NONE, notifies_ice_of_release=False)
    # One silent layer is enough: every layer in force must let the jail tell ICE.
    rules = RulesInForce(
        at.date(),
        rules_with(silent, at.date()).regime_period,
        (
            LayerInForce("99", "Test State", DetainerPolicy(), None),
            LayerInForce("99001", "Test County", silent, None),
        ),
    )
    later = practice_with(
        release_pickup_rate={"default": 1.0}, at_large_arrest_rate={"default": 1.0}
    )
    result = run_release(booking(), rules, at, later)
    assert [e.step for e in result.events] == ["released"]
    assert [s.step for s in result.next] == ["ero.arrest_at_large"]
    assert result.next[0].at > at
    never = practice_with(at_large_arrest_rate={"default": 0.0})
    assert run_release(booking(), rules, at, never).next == ()


def test_outcomes_are_classified_by_level_and_seeded() -> None:
    at = dt.datetime(2013, 8, 1, tzinfo=UTC)
    results = {
        court.proceedings(at, "level_3", PRACTICE, case_rng(7, f"c{i}", "court"))
        .events[0]
        .payload["result"]
        for i in range(200)
    }
    assert {"removal", "voluntary_return"} <= results
    again = court.proceedings(at, "level_3", PRACTICE, case_rng(7, "c1", "court")).events[0]
    same = court.proceedings(at, "level_3", PRACTICE, case_rng(7, "c1", "court")).events[0]
    assert again.payload == same.payload
    assert again.payload["level"] == "level_3"


def test_synthetic_countries_of_birth_are_not_us_states() -> None:
    from scomm.people import US_STATES
    from scomm.population import COUNTRIES

    assert not set(COUNTRIES) & US_STATES
