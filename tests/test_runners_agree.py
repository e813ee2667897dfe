"""The live pipeline and the national engine on the same county and month give the same
distributions: the pipeline's one run (every agency step, the event store, the queue's
workers) against many engine runs, output by output under one vocabulary (scomm/outputs.py).

The biometric search is the one piece set aside: here IDENT and IAFIS answer from the truth
(a person is found if and only if enrolled), and the engine is given a zero miss and
false-match rate to match; the engine's own biometric rates are the matcher's measured ones
(tests/test_biometrics_*.py). Everything else, the people, the rules in force, every chance
and delay, is the code both runners share.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from scomm.biometrics.template import Template
from scomm.outputs import OUTPUTS
from scomm.pipeline.runner import case_states, process, submit
from scomm.pipeline.summary import summarize
from scomm.pipeline.synthetic import CountyFacts, booking_payload, county_world, draw_bookings
from scomm.pipeline.world import Found, World
from scomm.policies.overlays import Rules, rules_for_spec
from scomm.population import admissions_rate, offense_codes, status_table
from scomm.simulation.assumptions import Assumptions
from scomm.simulation.engine import BED_DAY_COST, BiometricRates, Counties, Options, month_outputs
from scomm.store import EventStore

# Los Angeles County's rules (California law, the county's file, its 287(g) jail agreement,
# in force in 2013) on a county of 400,000 people, a third of them non-citizens: about 1,250
# bookings in June 2013, enough to give every route of the flow some cases.
FACTS = CountyFacts(
    fips="06037",
    name="Test County under Los Angeles' rules",
    state="CA",
    population=400_000,
    noncitizen_share=0.3,
    activation_date=dt.date(2009, 8, 27),
    field_office="LOS",
)
START, DAYS, MONTH = dt.date(2013, 6, 1), 30, "2013-06"
PRIORS = Assumptions.priors()
PERFECT = BiometricRates(miss_rate=0.0, false_match_rate=0.0, source="the truth (test)")
ENGINE_RUNS = 300
COMPARED = (
    "bookings",
    "submissions_to_ident",
    "ident_matches",
    "interviews",
    "cap_interviews",
    "g287_screenings",
    "detainers_issued",
    "cap_detainers",
    "g287_detainers",
    "notification_requests",
    "detainers_stopped",
    "detainers_after_release",
    "detainers_honored",
    "detainers_declined",
    "holds",
    "hold_hours",
    "over_holds",
    "contacts_notified",
    "us_citizens_detainers",
    "us_citizens_held",
    "transfers",
    "release_pickups",
    "at_large_arrests",
    "removals",
    "removals_level_1",
    "removals_level_2",
    "removals_level_3",
    "removals_non_criminal",
)


class TruthWorld(World):
    """The agencies' databases with searches answered from the truth: the message's "prints"
    name the person, found if the database holds them."""

    def search(self, database: str, encoded: Mapping[str, str], where: str) -> Found:
        person = encoded["person"]
        key, held = (
            (f"FBI{person}", self.rap_sheets)
            if database == "iafis"
            else (f"FIN{person}", self.encounters)
        )
        return (key, 1.0) if key in held else (None, None)


def _names(person_id: str) -> Callable[[dict[int, Template]], dict[str, str]]:
    """The "prints" a booking carries here: the person's id, for :class:`TruthWorld`."""

    def encode(_: dict[int, Template]) -> dict[str, str]:
        return {"person": person_id}

    return encode


def _pipeline(tmp_path: Path, seed: int, rules: Rules) -> tuple[dict, list[float]]:
    bookings = draw_bookings(np.random.default_rng(seed), FACTS, START, DAYS, seed, PRIORS)
    base = county_world(FACTS, seed, (2, 7))
    world = TruthWorld(
        iafis=base.iafis,
        ident=base.ident,
        activation_date=base.activation_date,
        field_office_of=base.field_office_of,
        practice=PRIORS.practice,
        rules=rules,
        seed=seed,
    )
    messages = []
    for i, b in enumerate(bookings):
        p = b.person
        if p.in_ident:
            world.encounters[f"FIN{p.person_id}"] = [{"kind": e.kind.value} for e in p.encounters]
            world.status_records[f"FIN{p.person_id}"] = p.status_on_record or p.status
        if p.rap_sheet:
            world.rap_sheets[f"FBI{p.person_id}"] = [
                {"on": a.on.isoformat(), "code": a.code, "grade": a.grade, "convicted": a.convicted}
                for a in p.rap_sheet
            ]
        payload = booking_payload(FACTS, b, {}, _names(p.person_id))
        messages.append((f"{FACTS.fips}-{b.booked_at:%Y%m%d}-{i:06d}", b.booked_at, payload))
    with EventStore.open(f"sqlite:///{tmp_path}/agree.sqlite") as store:
        submit(store, messages)
        stats_ = process(store, world, batch=128, workers=1)
        states = case_states(store, [c for c, _, _ in messages], "test", "runners agree")
    assert stats_["failed"] == 0
    hours = [
        (s.hold_ended_at - s.hold_started_at).total_seconds() / 3600
        for s in states
        if s.hold_started_at is not None and s.hold_ended_at is not None
    ]
    return summarize(states, PRIORS.get(BED_DAY_COST)), hours


def _counties(replicas: int = 1) -> Counties:
    return Counties(
        fips=np.array([FACTS.fips] * replicas),
        population=np.full(replicas, FACTS.population / replicas),
        activation=np.array([FACTS.activation_date] * replicas, dtype="datetime64[D]"),
        status_cumulative=np.repeat(
            status_table(np.array([FACTS.noncitizen_share]), dict(PRIORS.population["status"])),
            replicas,
            axis=0,
        ),
    )


def _engine(seed: int, rules: Rules, replicas: int = 1) -> np.ndarray:
    return month_outputs(
        np.random.default_rng(seed),
        np.datetime64(MONTH, "M"),
        _counties(replicas),
        admissions_rate(START.year, START.month),  # the pipeline's days book at this rate
        rules,
        offense_codes(),
        PERFECT,
        PRIORS,
        Options(safeguards=True),  # the pipeline's jail always checks citizenship records
    ).sums  # by month of booking, as the pipeline's case log counts


# History, and the same county under a judicial-warrant overlay from mid-month, where every
# detainer from then on is declined and ICE's other routes (the door, at large) take over.
SPECS = ("baseline", f"judicial_warrant@{FACTS.fips}:2013-06-15")


@pytest.fixture(scope="module", params=SPECS)
def runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict, list[float], np.ndarray, Rules]:
    rules = rules_for_spec(request.param)
    counts, hours = _pipeline(tmp_path_factory.mktemp("agree"), 7, rules)
    engine = np.array([_engine(1000 + s, rules)[0] for s in range(ENGINE_RUNS)])  # [run, output]
    return counts, hours, engine, rules


def test_pipeline_and_engine_give_the_same_counts(
    runs: tuple[dict, list[float], np.ndarray, Rules],
) -> None:
    counts, _, engine, rules = runs
    # The comparison means something only if the month reached every door and route.
    # (In a county with a 287(g) agreement its officers screen instead of CAP agents.)
    for name in (
        "holds",
        "g287_detainers",
        "detainers_after_release",
        "removals",
        *(
            ("detainers_declined", "release_pickups", "at_large_arrests")
            if rules.scenario != "baseline"
            else ()
        ),
    ):
        assert counts[name] > 0, name
    bad = []
    for name in COMPARED:
        column = engine[:, OUTPUTS.index(name)]
        mean, sd = column.mean(), column.std(ddof=1)
        # One pipeline run against the engine's spread of runs: four standard deviations, and
        # one case of slack for counts of a few.
        if abs(counts[name] - mean) > 4 * sd + 1:
            bad.append(f"{name}: pipeline {counts[name]}, engine {mean:.1f} (sd {sd:.1f})")
    assert bad == []


def test_hold_hours_come_from_one_distribution(
    runs: tuple[dict, list[float], np.ndarray, Rules],
) -> None:
    _, hours_pipeline, _, rules = runs
    # The engine's hours of single holds: the county split into replicas, those with exactly
    # one hold (tests/test_simulation_reference.py says why that is a fair sample).
    replicas = 2000
    hours_engine = []
    for s in range(8):
        out = _engine(5000 + s, rules, replicas)
        holds = out[:, OUTPUTS.index("holds")]
        hours_engine.extend(out[holds == 1, OUTPUTS.index("hold_hours")])
    assert len(hours_pipeline) > 20 and len(hours_engine) > 200
    assert stats.ks_2samp(hours_pipeline, hours_engine).pvalue > 0.001
