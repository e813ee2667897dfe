"""The national simulation's engine: a month of bookings in every county through the same
decision functions and the same flow as the live pipeline, as arrays.

Each booking meets, in order (each piece from :mod:`scomm.policies.flow`): Secure Communities
activation on its day, the IDENT search (the biometric engine's measured miss and false-match
rates), LESC's status answer (stale citizen records), ICE ERO's priorities and discretion, the
jail's screens where IDENT did not match (287(g) officers, the Criminal Alien Program), the time
ICE's request takes to reach the jail, the jail's policy layers, the hold clock and ICE's
pickup, ICE's other routes (at release when the jail tells it, at large later), transfer and
removal proceedings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scomm.jurisdictions.timezones import county_zone_index
from scomm.outputs import OUTPUTS
from scomm.policies import flow
from scomm.policies.decisions import (
    Action,
    PolicyArrays,
    RegimeArrays,
    agreement_287g,
    hold_limits,
    honor_detainer,
    offense_level,
)
from scomm.policies.hold_check import over_held_many
from scomm.policies.hold_clock import earliest_expiry
from scomm.policies.overlays import Rules
from scomm.population import Cohort, OffenseCodes, draw_cohort
from scomm.simulation.assumptions import Assumptions

# What a day in jail costs the county (population.yaml, with its source).
BED_DAY_COST = "population.jail.bed_day_cost_usd"

__all__ = [
    "OUTPUTS",
    "BED_DAY_COST",
    "BiometricRates",
    "Counties",
    "MonthOutputs",
    "Options",
    "Removals",
    "month_outputs",
]


@dataclass(frozen=True)
class BiometricRates:
    """The engine's error rates at its operating threshold, for a search of IDENT."""

    miss_rate: float  # an enrolled person not found (false negative identification rate)
    false_match_rate: float  # a person not enrolled matched to someone else's record
    source: str = "assumed"


@dataclass(frozen=True)
class Counties:
    fips: np.ndarray  # U5
    population: np.ndarray  # by county, for the year simulated
    activation: np.ndarray  # datetime64[D], NaT where never activated
    status_cumulative: np.ndarray  # [county, status] cumulative shares

    def take(self, index: np.ndarray) -> Counties:
        return Counties(
            self.fips[index],
            self.population[index],
            self.activation[index],
            self.status_cumulative[index],
        )


@dataclass(frozen=True)
class Options:
    """How a run is made (not what it assumes)."""

    safeguards: bool = False  # the historical system had no citizenship check at the jail
    sample: float = 1.0  # share of bookings simulated; the outputs are weighted back up

    def __post_init__(self) -> None:
        if not 0 < self.sample <= 1:
            raise ValueError(f"sample must be in (0, 1], not {self.sample}")


@dataclass(frozen=True)
class Removals:
    """The removals among a batch of bookings: which booking, when, at which level."""

    case: np.ndarray  # row of the booking
    at: np.ndarray  # datetime64[m]: the end of the proceedings
    level: np.ndarray  # the level ICE reports (index into LEVEL_CODES)
    matched: np.ndarray  # IDENT matched the person: a removal through Secure Communities


@dataclass(frozen=True)
class MonthOutputs:
    """A month's bookings and everything that follows from them.

    ``sums`` [county, output] counts each output for the bookings of the month, removals
    included (as a case log does, tests/test_runners_agree.py). A removal *happens* months
    later, after its proceedings: ``removal_month`` (months after this one), ``removal_county``,
    ``removal_level`` and ``removal_matched`` (through Secure Communities) say when, where and
    which, for the run to count it in the month it happens
    (:func:`scomm.simulation.national.run_months`); each weighs ``weight``.
    """

    sums: np.ndarray
    removal_month: np.ndarray
    removal_county: np.ndarray
    removal_level: np.ndarray
    removal_matched: np.ndarray
    weight: float

    @staticmethod
    def empty(n_counties: int, weight: float) -> MonthOutputs:
        none = np.zeros(0, dtype=np.int64)
        return MonthOutputs(
            np.zeros((n_counties, len(OUTPUTS))), none, none, none, none.astype(bool), weight
        )


def simulate_month(
    rng: np.random.Generator,
    month: np.datetime64,
    counties: Counties,
    admissions_per_capita: float,
    rules: Rules,
    codes: OffenseCodes,
    rates: BiometricRates,
    assumptions: Assumptions,
    options: Options,
) -> dict[str, np.ndarray]:
    """One month, the given counties: each output summed per county."""
    sums = month_outputs(
        rng, month, counties, admissions_per_capita, rules, codes, rates, assumptions, options
    ).sums
    return {name: sums[:, k] for k, name in enumerate(OUTPUTS)}


def month_outputs(
    rng: np.random.Generator,
    month: np.datetime64,
    counties: Counties,
    admissions_per_capita: float,
    rules: Rules,
    codes: OffenseCodes,
    rates: BiometricRates,
    assumptions: Assumptions,
    options: Options,
) -> MonthOutputs:
    """:func:`simulate_month` as arrays: the sums [county, output] in :data:`OUTPUTS`' order,
    and when each removal happens."""
    practice = assumptions.practice
    tables = rules.tables
    first = month.astype("datetime64[D]")
    days_in_month = int(((month + 1).astype("datetime64[D]") - first).astype(int))
    n_counties = counties.fips.shape[0]
    expected = counties.population * admissions_per_capita * days_in_month / 365.0
    per_county = rng.poisson(expected * options.sample)
    county = np.repeat(np.arange(n_counties), per_county)
    n = county.shape[0]
    weight = 1.0 / options.sample
    if n == 0:
        return MonthOutputs.empty(n_counties, weight)
    c = draw_cohort(
        rng,
        county,
        counties.status_cumulative,
        codes,
        assumptions.population,
        practice.stale_citizen_record_rate,
    )
    minute = rng.integers(0, days_in_month * 1440, n)
    booked = first.astype("datetime64[m]") + minute.astype("timedelta64[m]")
    day_of_month = minute // 1440

    # The rules in force depend on (county, day) only: look them up once on that grid.
    days = first + np.arange(days_in_month)
    regime_row = tables.regime_grid(counties.fips, days)[county, day_of_month]
    regime = tables.regime_arrays.take(regime_row)
    layers = [
        layer.arrays.take(grid[county, day_of_month])
        for layer, grid in zip(
            tables.all_layers(), tables.layer_grids(counties.fips, days), strict=True
        )
    ]
    outcome, removals = cases_outcome(
        rng, c, booked, counties, regime_row, regime, layers, rules, rates, assumptions, options
    )
    # One weighted count per output (a bookings-by-outputs matrix summed by county groups
    # cost four times as much: strided columns).
    sums = np.empty((n_counties, len(OUTPUTS)))
    for k, name in enumerate(OUTPUTS):
        sums[:, k] = np.bincount(county, weights=outcome[name], minlength=n_counties)
    sums *= weight
    months_later = (removals.at.astype("datetime64[M]") - month).astype(np.int64)
    return MonthOutputs(
        sums,
        months_later,
        county[removals.case],
        removals.level.astype(np.int64),
        removals.matched,
        weight,
    )


def cases_outcome(
    rng: np.random.Generator,
    c: Cohort,
    booked: np.ndarray,
    counties: Counties,
    regime_row: np.ndarray,
    regime: RegimeArrays,
    layers: list[PolicyArrays],
    rules: Rules,
    rates: BiometricRates,
    assumptions: Assumptions,
    options: Options,
) -> tuple[dict[str, np.ndarray], Removals]:
    """Every booking's story as masks and amounts, one array per output (:data:`OUTPUTS`),
    and the removals among them with the minute each happens."""
    practice = assumptions.practice
    tables = rules.tables
    n = len(c)
    day = booked.astype("datetime64[D]")
    activation = counties.activation[c.county]
    active = ~np.isnat(activation) & (activation <= day) & regime.secure_communities
    submitted = flow.prints_checked(active, layers, c.convicted)
    match, false_match = flow.ident_search(
        rng, submitted, c.in_ident, rates.miss_rate, rates.false_match_rate
    )
    iar_citizen = flow.lesc_says_citizen(match, c.citizen, c.stale_record, false_match)

    level = offense_level(c.record, regime.count_charges)
    act_rate = flow.act_rates(practice, tables.regime_names)[regime_row, level]
    act_rate = np.minimum(1.0, act_rate * flow.act_phase_in(practice, day))
    ero = flow.ero_decision(rng, level, regime, iar_citizen, act_rate, practice)
    action = np.where(match, ero, Action.NO_ACTION)
    # The jail's other doors, for the foreign-born IDENT did not match: 287(g) officers where
    # an agreement is in force, Criminal Alien Program agents elsewhere.
    screens = flow.jail_screens(
        rng,
        ~match & c.foreign_born,
        ~c.citizen,
        agreement_287g(layers),
        regime.criminal_alien_program,
        practice,
    )
    screen_action = flow.screen_action(level, regime, practice)
    found = screens.g287_found | screens.cap_found
    g287 = screens.g287_found & (screen_action == Action.DETAINER)
    cap = screens.cap_found & (screen_action == Action.DETAINER)
    detainer = (action == Action.DETAINER) | g287 | cap
    notification = (action == Action.NOTIFICATION_REQUEST) | (
        found & (screen_action == Action.NOTIFICATION_REQUEST)
    )
    request = detainer | notification
    interviews = (action == Action.INTERVIEW) | screens.cap_interviewed

    stopped = flow.citizenship_stop(request, c.citizenship_record, options.safeguards)
    arrival = flow.request_arrival_minutes(practice.step_delays_minutes, match, submitted)
    in_time = flow.arrives_in_time(c.custody_hours, arrival)
    late = request & ~stopped & ~in_time
    answered = detainer & ~stopped & in_time
    honored = (
        answered
        & honor_detainer(layers, c.record, False, False)
        & ~flow.jail_declines_anyway(rng, n, practice)
    )
    declined = answered & ~honored

    # The hold clock, from the moment the person would otherwise walk out; computed for the
    # held alone (the draws stay one per booking, so the numbers do not depend on who is held).
    release = booked + (c.custody_hours * 60).astype("timedelta64[m]")
    comes, delay = flow.ice_pickup(rng, n, flow.pickup_followed(practice, day), practice, level)
    held = np.flatnonzero(honored)
    held_release = release[held]
    # Every limit in force, each counted its own way on the jail's local days (its county's
    # zone); the earliest binds.
    zone_names, zone_of_county = county_zone_index(counties.fips)
    held_limits = [(h[held], e[held]) for h, e in hold_limits(layers, regime)]
    held_zone = zone_of_county[c.county[held]]
    expiry = earliest_expiry(held_release, held_limits, zone_names, held_zone)
    pickup = held_release + (delay[held] * 60).astype("timedelta64[m]")
    picked_held = comes[held] & (pickup <= expiry)
    hold_end = np.where(picked_held, pickup, expiry)
    picked = np.zeros(n, dtype=bool)
    picked[held] = picked_held
    hold_hours = np.zeros(n)
    hold_hours[held] = (hold_end - held_release).astype(np.int64) / 60.0
    over = np.zeros(n, dtype=bool)
    # Zero by construction; counted to prove it by a check that walks the local days on its
    # own (a wrong clock would agree with itself).
    over[held] = over_held_many(held_release, hold_end, held_limits, zone_names, held_zone)

    # ICE's other routes to a person it wanted who left with no hold: told of the release by a
    # jail that notifies (a declined detainer, a notification request in time), ICE may be at
    # the door; otherwise (or if not) it may arrest the person later, at large.
    notified = (declined | (notification & ~stopped & in_time)) & flow.jail_notifies_ice(layers, n)
    wanted = declined | late | (notification & ~stopped & in_time) | (honored & ~picked)
    names = tables.regime_names
    after = flow.after_release(
        rng,
        wanted,
        notified,
        flow.regime_rates(practice.release_pickup_rate, names)[regime_row],
        flow.regime_rates(practice.at_large_arrest_rate, names)[regime_row],
        practice,
    )
    transfer = picked | after.release_pickup
    custody = transfer | after.at_large
    # Removals are counted, and their rate read, by convictions ("non-criminal": none), as ICE
    # reports them; a sentence served for this arrest is a conviction of its charges.
    reported_level = offense_level(c.record, c.convicted)
    outcome = flow.proceedings_outcome(rng, reported_level, practice)
    removed = custody & flow.removed(outcome)
    # When ICE took custody: at the jail when the person left it (the hold's end, or the
    # release), or at large some days later; the removal follows after its proceedings.
    left = release.copy()
    left[held] = hold_end
    at_large_minutes = after.at_large_delay_days * 1440.0
    custody_at = left + np.where(after.at_large, at_large_minutes, 0.0).astype("timedelta64[m]")
    removal_at = custody_at + flow.proceedings_minutes(rng, n, practice).astype("timedelta64[m]")

    hold_days = hold_hours / 24.0
    return {
        "bookings": np.ones(n),
        "submissions_to_ident": submitted,
        "ident_matches": match,
        "iaqs": match,
        "interviews": interviews,
        "cap_interviews": screens.cap_interviewed,
        "g287_screenings": screens.g287_screened,
        "detainers_issued": detainer,
        "cap_detainers": cap,
        "g287_detainers": g287,
        "notification_requests": notification,
        "detainers_stopped": stopped,
        "detainers_after_release": late,
        "detainers_honored": honored,
        "detainers_declined": declined,
        "holds": honored,
        "hold_hours": hold_hours,  # zero for everyone not held
        "hold_bed_days": hold_days,
        "hold_cost_usd": hold_days * assumptions.get(BED_DAY_COST),
        "over_holds": over,
        "contacts_notified": honored & c.has_contact & options.safeguards,
        "us_citizens_detainers": detainer & c.citizen,
        "us_citizens_held": honored & c.citizen,
        "us_citizens_transferred": transfer & c.citizen,
        "transfers": transfer,
        "release_pickups": after.release_pickup,
        "at_large_arrests": after.at_large,
        "removals": removed,
        "removals_level_1": removed & (reported_level == 0),
        "removals_level_2": removed & (reported_level == 1),
        "removals_level_3": removed & (reported_level == 2),
        "removals_non_criminal": removed & (reported_level == 3),
        "ident_removals": removed & match,
        "ident_removals_level_1": removed & match & (reported_level == 0),
        "ident_removals_level_2": removed & match & (reported_level == 1),
        "ident_removals_level_3": removed & match & (reported_level == 2),
        "ident_removals_non_criminal": removed & match & (reported_level == 3),
    }, Removals(
        np.flatnonzero(removed), removal_at[removed], reported_level[removed], match[removed]
    )
