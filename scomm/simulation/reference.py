"""A reference model of one county, one booking at a time, to check the vectorized engine.

:func:`scomm.simulation.engine.simulate_month` decides millions of bookings at once with masks;
an error there (a mask applied to the wrong rows, a draw shared where it should not be, a clock
read in the wrong unit) would shift the national figures without failing anything. This module
tells the same story the slow way: a SimPy discrete-event model in which each booking is a
process that walks through the flow in time, with its own draws from its own generator:

    booking (Poisson arrivals) -> prints to IDENT after the county's activation (the biometric
    engine's miss and false-match rates) -> LESC's status answer -> ICE ERO's decision
    (priorities, discretion), or with no match a 287(g) or Criminal Alien Program screen ->
    ICE's request reaches the jail after the pipeline's step delays along the case's route, if
    the person is still there -> the jail's answer under its policy layers -> at release, the
    hold: ICE's pickup races the hold clock; with no hold, ICE at the door if the jail tells it,
    or an arrest at large later -> removal proceedings, for as long as they take.

Every rule is the shared one (:mod:`scomm.policies.decisions` on one-element arrays,
:func:`scomm.policies.hold_clock.hold_ends_by`), every chance and delay the shared one
(:mod:`scomm.policies.flow`, batches of one), and the people are drawn by the one sampler
(:func:`scomm.population.draw_cohort`): what the reference re-does is the *order* (which step
follows which, what races what), the part that the engine compresses into array algebra. The
two are then compared in distribution (tests/test_simulation_reference.py), never draw by draw.

:func:`simulate_county_engine` runs the engine on the same county, months, rules, assumptions
and rates, so that the two are fed identically.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
import simpy

from scomm.errors import InputError
from scomm.jurisdictions.timezones import county_zone
from scomm.outputs import OUTPUTS
from scomm.people import Status
from scomm.policies import flow
from scomm.policies.decisions import (
    LEVEL_CODES,
    Action,
    OffenseRecord,
    PolicyArrays,
    RegimeArrays,
    agreement_287g,
    hold_limits,
    honor_detainer,
    offense_level,
)
from scomm.policies.hold_check import held_too_long
from scomm.policies.hold_clock import hold_ends_by
from scomm.policies.overlays import Rules, baseline_rules
from scomm.population import (
    STATUS_INDEX,
    Cohort,
    OffenseCodes,
    admissions_rate,
    draw_cohort,
)
from scomm.simulation.assumptions import Assumptions, load_assumptions
from scomm.simulation.engine import BED_DAY_COST, BiometricRates, Counties, Options
from scomm.simulation.national import counties_in, county_table, months, run_months
from scomm.simulation.rates import measured_rates

MINUTES_PER_YEAR = 365 * 1440
# The reference draws from its own stream of the seed, so that the engine and the reference run
# at the same seed are independent samples (a shared stream would correlate them and make a
# comparison look tighter than it is).
REFERENCE_STREAM = 0x5E_F0_2E
# People are drawn in blocks (draw_cohort per person would cost more than the rest of the flow);
# rows of a block are independent, so the block size changes nothing but the speed.
COHORT_BLOCK = 256
US_BORN = STATUS_INDEX[Status.US_BORN]


@dataclass
class CountyRun:
    """One county through some months, by one model."""

    model: str  # "engine" or "reference"
    fips: str
    months: list[str]
    by_month: dict[str, np.ndarray]  # output -> [month], as the engine's OUTPUTS
    # The hours of each hold. The reference: every hold. The engine: the holds of the replicas
    # that had exactly one (see simulate_county_engine), an unbiased sample of its holds.
    hold_hours: np.ndarray
    bookings_simulated: int = 0  # people drawn and run through the flow (before weighting)

    def totals(self) -> dict[str, float]:
        return {name: float(v.sum()) for name, v in self.by_month.items()}


def county_index(fips: str) -> int:
    all_fips = county_table()[0]
    found = np.flatnonzero(all_fips == fips)
    if found.size == 0:
        raise InputError("fips", f"no county {fips!r} in the Census list")
    return int(found[0])


@cache
def _codes() -> OffenseCodes:
    return OffenseCodes.from_table()


def _county(fips: str, year: int, assumptions: Assumptions) -> Counties:
    return counties_in(year, assumptions, np.array([county_index(fips)]))


# ---------------------------------------------------------------------------------------------
# The engine, on one county


def simulate_county_engine(
    fips: str,
    first: str,
    last: str,
    seed: int,
    *,
    rules: Rules | None = None,
    assumptions: Assumptions | None = None,
    rates: BiometricRates | None = None,
    options: Options | None = None,
    replicas: int = 1,
) -> CountyRun:
    """The vectorized engine on one county alone, month by month, as the national run calls it.

    ``replicas`` > 1 splits the county into that many copies, each with its share of the
    population: the totals keep their distribution (a sum of independent Poisson streams is the
    county's Poisson stream), and a copy with exactly one hold gives that hold's hours, which
    the engine otherwise only reports summed. Given one event, a Poisson stream's event is
    distributed as any of its events, so those hours are a fair sample of the engine's holds.
    """
    rules = rules or baseline_rules()
    assumptions = assumptions or load_assumptions()
    options = options or Options()
    span = months(first, last)

    def split_county(year: int) -> Counties:
        one = _county(fips, year, assumptions).take(np.zeros(replicas, dtype=np.int64))
        return Counties(one.fips, one.population / replicas, one.activation, one.status_cumulative)

    out = run_months(
        np.random.default_rng(seed),
        span,
        split_county,
        rules,
        rates or measured_rates(),
        assumptions,
        options,
    )
    column = {name: out[:, :, i] for i, name in enumerate(OUTPUTS)}  # [month, replica]
    weight = 1.0 / options.sample
    one_hold = np.isclose(column["holds"], weight)
    return CountyRun(
        "engine",
        fips,
        [str(m) for m in span],
        {name: values.sum(axis=1) for name, values in column.items()},
        column["hold_hours"][one_hold] / weight,
        int(np.round(column["bookings"].sum(axis=1) / weight).sum()),
    )


# ---------------------------------------------------------------------------------------------
# The reference: a discrete-event model, one process per booking


@dataclass(frozen=True)
class _Person:
    """One row of a cohort, with its record as one-element arrays (what the rules read)."""

    status: int
    in_ident: bool
    stale_record: bool
    citizenship_record: bool
    citizen: bool
    record: OffenseRecord
    custody_hours: float
    convicted: bool
    has_contact: bool


def _people(cohort: Cohort) -> Iterator[_Person]:
    r = cohort.record
    fields = list(r.__dataclass_fields__)
    citizen = cohort.citizen
    for i in range(len(cohort)):
        yield _Person(
            status=int(cohort.status[i]),
            in_ident=bool(cohort.in_ident[i]),
            stale_record=bool(cohort.stale_record[i]),
            citizenship_record=bool(cohort.citizenship_record[i]),
            citizen=bool(citizen[i]),
            record=OffenseRecord(**{f: getattr(r, f)[i : i + 1] for f in fields}),
            custody_hours=float(cohort.custody_hours[i]),
            convicted=bool(cohort.convicted[i]),
            has_contact=bool(cohort.has_contact[i]),
        )


@dataclass
class _World:
    """The county's jail and the agencies it talks to, for one run."""

    env: simpy.Environment
    rng: np.random.Generator
    fips: str
    start: np.datetime64  # datetime64[m]: simulation time 0
    span: list[np.datetime64]  # months, datetime64[M]
    rules: Rules
    assumptions: Assumptions
    rates: BiometricRates
    options: Options
    out: np.ndarray  # [month, output]
    hold_hours: list[float] = field(default_factory=list)
    people_drawn: int = 0
    _counties: dict[int, Counties] = field(default_factory=dict)
    _queue: dict[int, Iterator[_Person]] = field(default_factory=dict)
    _rules_on: dict[np.datetime64, tuple[RegimeArrays, int, list[PolicyArrays]]] = field(
        default_factory=dict
    )

    def county(self, year: int) -> Counties:
        if year not in self._counties:
            self._counties[year] = _county(self.fips, year, self.assumptions)
        return self._counties[year]

    def next_person(self, year: int) -> _Person:
        """The next person booked in a year (the status mix follows the year's county)."""
        while True:
            queue = self._queue.get(year)
            if queue is not None:
                person = next(queue, None)
                if person is not None:
                    self.people_drawn += 1
                    return person
            cohort = draw_cohort(
                self.rng,
                np.zeros(COHORT_BLOCK, dtype=np.int64),
                self.county(year).status_cumulative,
                _codes(),
                self.assumptions.population,
                self.assumptions.practice.stale_citizen_record_rate,
            )
            self._queue[year] = _people(cohort)

    def rules_on(self, day: np.datetime64) -> tuple[RegimeArrays, int, list[PolicyArrays]]:
        """The federal regime (and its row) and the jail's policy layers in force on a day."""
        if day not in self._rules_on:
            tables = self.rules.tables
            fips = np.array([self.fips])
            days = np.array([day], dtype="datetime64[D]")
            row = tables.regime_grid(fips, days)[0]
            regime = tables.regime_arrays.take(row)
            layers = tables.layers(fips, days)
            self._rules_on[day] = (regime, int(row[0]), layers)
        return self._rules_on[day]

    def count(self, month: int, name: str, value: float = 1.0) -> None:
        self.out[month, OUTPUTS.index(name)] += value / self.options.sample

    def minute(self, t: float) -> np.datetime64:
        return self.start + np.timedelta64(int(np.floor(t)), "m")

    def month_of(self, t: float) -> int:
        """The index in the run's months of the month that simulation time ``t`` falls in."""
        return int((self.minute(t).astype("datetime64[M]") - self.span[0]).astype(np.int64))


def _arrivals(world: _World) -> Generator[simpy.Event, Any, None]:
    """The booking desk: a Poisson stream of arrests, at the rate of the county's jail
    admissions in force each month (exponential gaps; the gap in progress at a month's end is
    redrawn at the new rate, which memorylessness allows)."""
    env = world.env
    for m, month in enumerate(world.span):
        year = int(str(month)[:4])
        county = world.county(year)
        per_minute = (
            float(county.population[0])
            * admissions_rate(year, int(str(month)[5:7]))
            * world.options.sample
            / MINUTES_PER_YEAR
        )
        end = float(((month + 1).astype("datetime64[m]") - world.start).astype(np.int64))
        while True:
            gap = world.rng.exponential(1.0 / per_minute) if per_minute > 0 else np.inf
            if env.now + gap >= end:
                yield env.timeout(end - env.now)
                break
            yield env.timeout(gap)
            env.process(_booking(world, m, year, world.next_person(year)))


def _one(value: bool | float) -> np.ndarray:
    return np.array([value])


def _booking(
    world: _World, m: int, year: int, person: _Person
) -> Generator[simpy.Event, Any, None]:
    """One booking, from the desk to the jail's door (and on to ICE's custody)."""
    env, rng = world.env, world.rng
    practice = world.assumptions.practice
    names = world.rules.tables.regime_names
    booked = world.minute(env.now)
    day = booked.astype("datetime64[D]")
    regime, row, layers = world.rules_on(day)
    world.count(m, "bookings")

    # Fingerprints: to IDENT only once the county is activated and the rules let them through.
    activation = world.county(year).activation[0]
    active = not np.isnat(activation) and activation <= day and bool(regime.secure_communities[0])
    submitted = flow.prints_checked(_one(active), layers, _one(person.convicted))
    match_a, false_a = flow.ident_search(
        rng, submitted, _one(person.in_ident), world.rates.miss_rate, world.rates.false_match_rate
    )
    match = bool(match_a[0])
    if submitted[0]:
        world.count(m, "submissions_to_ident")

    level = offense_level(person.record, regime.count_charges)
    action = Action.NO_ACTION
    door = ""  # which door a detainer came through: "match", "cap" or "287g"
    if match:
        world.count(m, "ident_matches")
        world.count(m, "iaqs")
        iar_citizen = flow.lesc_says_citizen(
            match_a, _one(person.citizen), _one(person.stale_record), false_a
        )
        # ICE's capacity to act, as its field offices had taken up the regime that day.
        act_rate = np.minimum(
            1.0, flow.act_rates(practice, names)[row, level] * flow.act_phase_in(practice, day)
        )
        action = Action(
            int(flow.ero_decision(rng, level, regime, iar_citizen, act_rate, practice)[0])
        )
        door = "match"
    elif person.status != US_BORN:
        # The jail's other doors: 287(g) officers where an agreement is in force, else CAP.
        screens = flow.jail_screens(
            rng,
            _one(True),
            _one(not person.citizen),
            agreement_287g(layers),
            regime.criminal_alien_program,
            practice,
        )
        if screens.cap_interviewed[0]:
            world.count(m, "cap_interviews")
        if screens.g287_screened[0]:
            world.count(m, "g287_screenings")
        if screens.g287_found[0] or screens.cap_found[0]:
            action = Action(int(flow.screen_action(level, regime, practice)[0]))
            door = "287g" if screens.g287_found[0] else "cap"
        if screens.cap_interviewed[0]:
            world.count(m, "interviews")
    if action == Action.INTERVIEW:
        world.count(m, "interviews")
    detainer = action == Action.DETAINER
    notification = action == Action.NOTIFICATION_REQUEST
    if detainer:
        world.count(m, "detainers_issued")
        if door in ("cap", "287g"):
            world.count(m, f"{'cap' if door == 'cap' else 'g287'}_detainers")
        if person.citizen:
            world.count(m, "us_citizens_detainers")
    if notification:
        world.count(m, "notification_requests")
    if not (detainer or notification):
        return

    # The jail's release is set by the case (bail, charges dropped, sentence served); ICE's
    # request reaches the jail after the step delays of the case's route. The two race.
    arrival = flow.request_arrival_minutes(practice.step_delays_minutes, match_a, submitted)[0]
    release_timer = env.timeout(person.custody_hours * 60)
    request_timer = env.timeout(arrival)
    if world.options.safeguards and person.citizenship_record:
        world.count(m, "detainers_stopped")
        return
    fired = yield request_timer | release_timer
    if release_timer in fired:
        # Released before ICE's request reached the jail: ICE may find the person later.
        world.count(m, "detainers_after_release")
        yield from _after_release(world, m, person, row, wanted=True, notified=False, matched=match)
        return
    honored = False
    if detainer:
        # The jail answers under the layers in force on the booking day (as the engine reads
        # them: one day's rules per booking).
        # ... and, whatever they say, the jail may decline this one (a court's order).
        honored = bool(honor_detainer(layers, person.record, False, False)[0]) and not bool(
            flow.jail_declines_anyway(rng, 1, practice)[0]
        )
        world.count(m, "detainers_honored" if honored else "detainers_declined")

    yield release_timer
    notifies = bool(flow.jail_notifies_ice(layers, 1)[0])
    if not honored:
        yield from _after_release(
            world, m, person, row, wanted=True, notified=notifies, matched=match
        )
        return
    # The jail's log, to the minute: the hold clock starts at the logged release.
    released = booked + np.timedelta64(int(person.custody_hours * 60), "m")
    hold_start = env.now
    comes, delay_hours = flow.ice_pickup(
        rng, 1, flow.pickup_followed(practice, day), practice, level
    )
    world.count(m, "holds")
    if person.citizen:
        world.count(m, "us_citizens_held")
    if world.options.safeguards and person.has_contact:
        world.count(m, "contacts_notified")
    released_at = released.astype(dt.datetime).replace(tzinfo=dt.UTC)
    # Every limit in force, each counted its own way on the jail's local days.
    limits = [(float(h[0]), bool(e[0])) for h, e in hold_limits(layers, regime)]
    zone = county_zone(world.fips)
    expires_at = hold_ends_by(released_at, limits, zone)
    clock_minutes = int((expires_at - released_at).total_seconds() // 60)
    # The jail logs ICE's arrival to the minute; the hold ends when ICE comes or the clock
    # runs out, whichever is first (ICE arriving at the last minute still takes custody).
    clock = env.timeout(clock_minutes)
    pickup = env.timeout(int(delay_hours[0] * 60)) if comes[0] else env.event()
    ended = yield pickup | clock
    transferred = pickup in ended
    # Both timers run whole minutes from the release (rounded off the float clock).
    held_minutes = round(env.now - hold_start)
    held_hours = held_minutes / 60.0
    # The clock is a timer, so a hold cannot outlast it: counted to show it, by a check that
    # walks the local days on its own (a wrong clock would agree with itself).
    ended_at = released_at + dt.timedelta(minutes=held_minutes)
    if held_too_long(released_at, ended_at, limits, zone):
        world.count(m, "over_holds")
    world.hold_hours.append(held_hours)
    world.count(m, "hold_hours", held_hours)
    world.count(m, "hold_bed_days", held_hours / 24.0)
    world.count(m, "hold_cost_usd", held_hours / 24.0 * world.assumptions.get(BED_DAY_COST))
    if not transferred:
        # The hold ran out: released, and ICE may find the person later.
        yield from _after_release(world, m, person, row, wanted=True, notified=False, matched=match)
        return
    _transferred(world, m, person)
    yield from _proceedings(world, person, match)


def _after_release(
    world: _World,
    m: int,
    person: _Person,
    row: int,
    *,
    wanted: bool,
    notified: bool,
    matched: bool,
) -> Generator[simpy.Event, Any, None]:
    """ICE's routes to a person it wanted who walked out with no hold: at the door if the
    jail told it of the release, else perhaps an arrest at large, later."""
    practice = world.assumptions.practice
    names = world.rules.tables.regime_names
    after = flow.after_release(
        world.rng,
        _one(wanted),
        _one(notified),
        flow.regime_rates(practice.release_pickup_rate, names)[row],
        flow.regime_rates(practice.at_large_arrest_rate, names)[row],
        practice,
    )
    if after.release_pickup[0]:
        world.count(m, "release_pickups")
        _transferred(world, m, person)
    elif after.at_large[0]:
        yield world.env.timeout(float(after.at_large_delay_days[0]) * 1440)
        world.count(m, "at_large_arrests")
    else:
        return
    yield from _proceedings(world, person, matched)


def _transferred(world: _World, m: int, person: _Person) -> None:
    world.count(m, "transfers")
    if person.citizen:
        world.count(m, "us_citizens_transferred")


def _proceedings(
    world: _World, person: _Person, matched: bool
) -> Generator[simpy.Event, Any, None]:
    """Removal proceedings, at the practice's rate for the level ICE reports (by convictions;
    a sentence served for this arrest is a conviction of its charges), for as long as they
    take: a removal is counted in the month it happens, if that is within the run."""
    practice = world.assumptions.practice
    reported = offense_level(person.record, person.convicted)
    outcome = flow.proceedings_outcome(world.rng, reported, practice)
    duration = float(flow.proceedings_minutes(world.rng, 1, practice)[0])
    if not flow.removed(outcome)[0]:
        return
    yield world.env.timeout(duration)
    month = world.month_of(world.env.now)
    if month < len(world.span):
        level = LEVEL_CODES[int(reported[0])].value
        world.count(month, "removals")
        world.count(month, f"removals_{level}")
        if matched:  # through Secure Communities: IDENT matched the person
            world.count(month, "ident_removals")
            world.count(month, f"ident_removals_{level}")


def simulate_county_reference(
    fips: str,
    first: str,
    last: str,
    seed: int,
    *,
    rules: Rules | None = None,
    assumptions: Assumptions | None = None,
    rates: BiometricRates | None = None,
    options: Options | None = None,
) -> CountyRun:
    """The discrete-event reference on one county: the same outputs as the engine's, by month
    of booking (a hold that ends in the next month counts in its booking's month), but
    removals, by the month they happen."""
    span = months(first, last)
    start = span[0].astype("datetime64[m]")
    env = simpy.Environment()
    world = _World(
        env=env,
        rng=np.random.default_rng(np.random.SeedSequence([seed, REFERENCE_STREAM])),
        fips=fips,
        start=start,
        span=span,
        rules=rules or baseline_rules(),
        assumptions=assumptions or load_assumptions(),
        rates=rates or measured_rates(),
        options=options or Options(),
        out=np.zeros((len(span), len(OUTPUTS))),
    )
    env.process(_arrivals(world))
    env.run()  # to the end of the last booking's story, past the last month if need be
    return CountyRun(
        "reference",
        fips,
        [str(m) for m in span],
        {name: world.out[:, k] for k, name in enumerate(OUTPUTS)},
        np.array(world.hold_hours),
        world.people_drawn,
    )
