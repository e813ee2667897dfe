"""A reference model of one county, one booking at a time, to check the vectorized engine.

:func:`scomm.simulation.engine.simulate_month` decides millions of bookings at once with masks;
an error there (a mask applied to the wrong rows, a draw shared where it should not be, a clock
read in the wrong unit) would shift the national figures without failing anything. This module
tells the same story the slow way: a SimPy discrete-event model in which each booking is a
process that walks through the flow in time, with its own draws from its own generator:

    booking (Poisson arrivals) -> prints to IDENT after the county's activation (the biometric
    engine's miss and false-match rates) -> LESC's status answer -> ICE ERO's decision
    (priorities, discretion) or a Criminal Alien Program interview -> the detainer reaches the
    jail DECISION_DELAY_HOURS after booking, if the person is still there -> the jail's answer
    under its policy layers -> at release, the hold: ICE's pickup races the hold clock ->
    transfer -> removal proceedings.

Every rule is the shared one (:mod:`scomm.policies.decisions` on one-element arrays,
:func:`scomm.policies.hold_clock.hold_ends_by`), and the people are drawn by the engine's own
:func:`scomm.simulation.cohort.draw_cohort`: what the reference re-does is the *flow* (which step
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
from scomm.people import Status
from scomm.policies.decisions import (
    LEVEL_CODES,
    Action,
    OffenseRecord,
    PolicyArrays,
    RegimeArrays,
    ero_action,
    hold_limits,
    honor_detainer,
    offense_level,
    receives_results,
)
from scomm.policies.hold_check import held_too_long
from scomm.policies.hold_clock import hold_ends_by
from scomm.population import admissions_per_capita
from scomm.simulation.assumptions import Assumptions, load_assumptions
from scomm.simulation.cohort import STATUS_INDEX, Cohort, OffenseCodes, draw_cohort
from scomm.simulation.engine import (
    BED_DAY_COST,
    DECISION_DELAY_HOURS,
    OUTPUTS,
    BiometricRates,
    Counties,
    Options,
)
from scomm.simulation.national import counties_in, county_table, months, run_months
from scomm.simulation.rates import measured_rates
from scomm.simulation.scenarios import Rules, baseline_rules

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


@cache
def _baseline() -> Rules:
    return baseline_rules()


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
    rules = rules or _baseline()
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
    _rules_on: dict[np.datetime64, tuple[RegimeArrays, str, list[PolicyArrays]]] = field(
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

    def rules_on(self, day: np.datetime64) -> tuple[RegimeArrays, str, list[PolicyArrays]]:
        """The federal regime (and its name) and the jail's policy layers in force on a day."""
        if day not in self._rules_on:
            tables = self.rules.tables
            days = np.array([day], dtype="datetime64[D]")
            index = tables.regimes.index_from_start(days)
            regime = tables.regimes.arrays.take(index)
            layers = tables.layers(np.array([self.fips]), days)
            self._rules_on[day] = (regime, tables.regimes.names[int(index[0])], layers)
        return self._rules_on[day]

    def count(self, month: int, name: str, value: float = 1.0) -> None:
        self.out[month, OUTPUTS.index(name)] += value / self.options.sample

    def minute(self, t: float) -> np.datetime64:
        return self.start + np.timedelta64(int(np.floor(t)), "m")


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
            * admissions_per_capita(year)
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


def _ero(
    person: _Person,
    regime: RegimeArrays,
    regime_name: str,
    world: _World,
    iar_citizen: bool,
    draw: float,
) -> tuple[Action, int]:
    """ICE ERO's action on the case, and the level it read (index into LEVEL_CODES)."""
    practice = world.assumptions.practice
    level = offense_level(person.record, regime.count_charges)
    act_rate = np.array([practice.act_probability(LEVEL_CODES[int(level[0])].value, regime_name)])
    action = ero_action(
        level,
        regime,
        np.array([iar_citizen]),
        act_rate,
        np.array([draw]),
        practice.interview_detainer_rate,
    )
    return Action(int(action[0])), int(level[0])


def _booking(
    world: _World, m: int, year: int, person: _Person
) -> Generator[simpy.Event, Any, None]:
    """One booking, from the desk to the jail's door (and on to ICE's custody)."""
    env, rng = world.env, world.rng
    practice = world.assumptions.practice
    booked = world.minute(env.now)
    day = booked.astype("datetime64[D]")
    regime, regime_name, layers = world.rules_on(day)
    world.count(m, "bookings")

    # Fingerprints: to IDENT only once the county is activated and the rules let them through.
    activation = world.county(year).activation[0]
    active = (
        not np.isnat(activation)
        and activation <= day
        and bool(regime.secure_communities[0])
        and not (world.rules.prints_after_conviction_only and not person.convicted)
        and not (world.rules.opt_out_withholds_prints and not receives_results(layers)[0])
    )
    match = false_match = False
    if active:
        world.count(m, "submissions_to_ident")
        if person.in_ident:
            match = rng.random() >= world.rates.miss_rate
        else:
            false_match = match = rng.random() < world.rates.false_match_rate

    action = Action.NO_ACTION
    level = -1  # ICE's level, read only once ICE looks at the case
    cap = cap_interview = False
    if match:
        world.count(m, "ident_matches")
        world.count(m, "iaqs")
        # LESC: a citizen's own current record says citizen; a stale record or someone else's
        # record (a false match) says otherwise.
        iar_citizen = person.citizen and not person.stale_record and not false_match
        action, level = _ero(person, regime, regime_name, world, iar_citizen, rng.random())
    elif (
        person.status != US_BORN
        and bool(regime.criminal_alien_program[0])
        and rng.random() < practice.cap_interview_rate
    ):
        # The Criminal Alien Program's interview: no match, but born abroad.
        cap_interview = True
        if not person.citizen and rng.random() < practice.cap_detainer_rate:
            # A removable person found in interview is decided like a match, with no status
            # answer and ICE always acting (it chose to interview).
            action, level = _ero(person, regime, regime_name, world, False, 0.0)
            cap = action == Action.DETAINER
    if action == Action.INTERVIEW or cap_interview:
        world.count(m, "interviews")
    detainer = action == Action.DETAINER
    notification = action == Action.NOTIFICATION_REQUEST
    if cap:
        world.count(m, "cap_detainers")
    if detainer:
        world.count(m, "detainers_issued")
        if person.citizen:
            world.count(m, "us_citizens_detainers")
    if not (detainer or notification):
        return

    # The jail's release is set by the case (bail, charges dropped, sentence served); what ERO
    # decided reaches the jail DECISION_DELAY_HOURS after booking. The two race.
    release_timer = env.timeout(person.custody_hours * 60)
    decision_timer = env.timeout(DECISION_DELAY_HOURS * 60)
    fired = yield decision_timer | release_timer
    if release_timer in fired:
        return  # released before ICE's request reached the jail
    honored = False
    if detainer:
        if world.options.safeguards and person.citizenship_record:
            world.count(m, "detainers_stopped")
            return
        # The jail answers under the layers in force on the booking day (as the engine reads
        # them: one day's rules per booking).
        honored = bool(honor_detainer(layers, person.record, False, False)[0])
        world.count(m, "detainers_honored" if honored else "detainers_declined")
        if not honored:
            return

    yield release_timer
    # The jail's log, to the minute: the hold clock starts at the logged release.
    released = booked + np.timedelta64(int(person.custody_hours * 60), "m")
    hold_start = env.now
    ice_comes = rng.random() < practice.pickup_rate
    delay_hours = practice.pickup_delay_median_hours * np.exp(
        practice.pickup_delay_sigma * rng.standard_normal()
    )
    transferred = False
    if notification:
        # A notification request: ICE is told the release time and may take custody at the door.
        transferred = ice_comes
    else:
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
        pickup = env.timeout(int(delay_hours * 60)) if ice_comes else env.event()
        ended = yield pickup | clock
        transferred = pickup in ended
        # Both timers run whole minutes from the release (rounded off the float clock).
        held_minutes = round(env.now - hold_start)
        held_hours = held_minutes / 60.0
        # The clock is a timer, so a hold cannot outlast it: counted to show it, by a check
        # that walks the local days on its own (a wrong clock would agree with itself).
        ended_at = released_at + dt.timedelta(minutes=held_minutes)
        if held_too_long(released_at, ended_at, limits, zone):
            world.count(m, "over_holds")
        world.hold_hours.append(held_hours)
        world.count(m, "hold_hours", held_hours)
        world.count(m, "hold_bed_days", held_hours / 24.0)
        world.count(m, "hold_cost_usd", held_hours / 24.0 * world.assumptions.get(BED_DAY_COST))
    if not transferred:
        return

    world.count(m, "transfers")
    if person.citizen:
        world.count(m, "us_citizens_transferred")
    # Removal proceedings: the practice's rate for the level ICE read. The outcome is counted
    # in the booking's month, as the engine counts it.
    if rng.random() < practice.removal_rate[LEVEL_CODES[level].value]:
        world.count(m, "removals")
        # Counted by convictions, as ICE reports them; a sentence served for this arrest is a
        # conviction of its charges (ero.conviction_level).
        reported = LEVEL_CODES[int(offense_level(person.record, person.convicted)[0])]
        world.count(m, f"removals_{reported.value}")


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
    of booking (a hold that ends in the next month counts in its booking's month)."""
    span = months(first, last)
    start = span[0].astype("datetime64[m]")
    env = simpy.Environment()
    world = _World(
        env=env,
        rng=np.random.default_rng(np.random.SeedSequence([seed, REFERENCE_STREAM])),
        fips=fips,
        start=start,
        span=span,
        rules=rules or _baseline(),
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
