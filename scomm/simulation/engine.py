"""The national simulation's engine: a month of bookings in every county through the same
decision functions as the live pipeline, as arrays.

Each booking meets, in order: Secure Communities activation on its day (rollout), the IDENT
search (the biometric engine's measured miss and false-match rates), LESC's status answer
(stale citizen records), ICE ERO's priorities and discretion, the Criminal Alien Program, the
jail's policy layers, the hold clock, pickup, transfer and removal proceedings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scomm.jurisdictions.timezones import county_zone_index
from scomm.people import Status
from scomm.policies.decisions import (
    LEVEL_CODES,
    Action,
    ero_action,
    hold_limits,
    honor_detainer,
    offense_level,
    receives_results,
)
from scomm.policies.hold_check import over_held_many
from scomm.policies.hold_clock import earliest_expiry
from scomm.simulation.assumptions import Assumptions
from scomm.simulation.cohort import STATUS_INDEX, OffenseCodes, draw_cohort
from scomm.simulation.scenarios import Rules

# Hours from booking to ERO's decision (SIB, CJIS, IDENT, LESC, ERO as the pipeline times them).
DECISION_DELAY_HOURS = 3.5
# What a day in jail costs the county (population.yaml, with its source).
BED_DAY_COST = "population.jail.bed_day_cost_usd"

OUTPUTS = (
    "bookings",
    "submissions_to_ident",
    "ident_matches",
    "iaqs",
    "interviews",
    "detainers_issued",
    "detainers_honored",
    "detainers_declined",
    "detainers_stopped",
    "holds",
    "hold_hours",
    "hold_bed_days",
    "hold_cost_usd",
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
    "cap_detainers",
)


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
    )
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
) -> np.ndarray:
    """:func:`simulate_month` as one array: [county, output] in :data:`OUTPUTS`' order."""
    practice = assumptions.practice
    tables = rules.tables
    first = month.astype("datetime64[D]")
    days_in_month = int(((month + 1).astype("datetime64[D]") - first).astype(int))
    n_counties = counties.fips.shape[0]
    expected = counties.population * admissions_per_capita * days_in_month / 365.0
    per_county = rng.poisson(expected * options.sample)
    county = np.repeat(np.arange(n_counties), per_county)
    n = county.shape[0]
    sums = np.zeros((n_counties, len(OUTPUTS)))
    if n == 0:
        return sums
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
    regime_index = tables.regimes.index_from_start(days)[day_of_month]
    regime = tables.regimes.arrays.take(regime_index)
    layers = [
        layer.arrays.take(grid[county, day_of_month])
        for layer, grid in zip(
            tables.all_layers(), tables.layer_grids(counties.fips, days), strict=True
        )
    ]
    activation = counties.activation[county]
    day = first + day_of_month
    active = ~np.isnat(activation) & (activation <= day) & regime.secure_communities
    if rules.prints_after_conviction_only:
        active &= c.convicted
    if rules.opt_out_withholds_prints:
        active &= receives_results(layers)

    # IDENT: the enrolled are found unless the engine misses; others may be falsely matched.
    u = rng.random(n)
    true_match = active & c.in_ident & (u >= rates.miss_rate)
    false_match = active & ~c.in_ident & (u < rates.false_match_rate)
    match = true_match | false_match
    # LESC: a citizen's own current record says citizen; a stale record or someone else's
    # record (a false match) says otherwise.
    iar_citizen = match & c.citizen & ~c.stale_record & ~false_match

    level = offense_level(c.record, regime.count_charges)
    act_table = np.array(
        [
            [practice.act_probability(lvl.value, name) for lvl in LEVEL_CODES]
            for name in tables.regimes.names
        ]
    )
    act_rate = act_table[regime_index, level]
    ero = ero_action(
        level, regime, iar_citizen, act_rate, rng.random(n), practice.interview_detainer_rate
    )
    action = np.where(match, ero, Action.NO_ACTION)
    # The Criminal Alien Program: foreign-born inmates with no match may be interviewed; one
    # found removable is decided like a match (the pipeline's ero.cap_screen).
    foreign_born = c.status != STATUS_INDEX[Status.US_BORN]
    cap_interview = (
        ~match
        & foreign_born
        & regime.criminal_alien_program
        & (rng.random(n) < practice.cap_interview_rate)
    )
    cap_found = cap_interview & ~c.citizen & (rng.random(n) < practice.cap_detainer_rate)
    cap_action = ero_action(
        level, regime, np.zeros(n, dtype=bool), act_rate, 0.0, practice.interview_detainer_rate
    )
    cap = cap_found & (cap_action == Action.DETAINER)
    detainer = (action == Action.DETAINER) | cap
    notification = (action == Action.NOTIFICATION_REQUEST) | (
        cap_found & (cap_action == Action.NOTIFICATION_REQUEST)
    )
    interviews = (action == Action.INTERVIEW) | cap_interview

    stopped = detainer & options.safeguards & c.citizenship_record
    arrives_in_time = c.custody_hours > DECISION_DELAY_HOURS
    answered = detainer & ~stopped & arrives_in_time
    honored = answered & honor_detainer(layers, c.record, False, False)
    declined = answered & ~honored

    # The hold clock, from the moment the person would otherwise walk out; computed for the
    # held alone (the draws stay one per booking, so the numbers do not depend on who is held).
    release = booked + (c.custody_hours * 60).astype("timedelta64[m]")
    picks_up = rng.random(n) < practice.pickup_rate
    delay = practice.pickup_delay_median_hours * np.exp(
        practice.pickup_delay_sigma * rng.standard_normal(n)
    )
    held = np.flatnonzero(honored)
    held_release = release[held]
    # Every limit in force, each counted its own way on the jail's local days (its county's
    # zone); the earliest binds.
    zone_names, zone_of_county = county_zone_index(counties.fips)
    expiry = earliest_expiry(
        held_release,
        [(h[held], e[held]) for h, e in hold_limits(layers, regime)],
        zone_names,
        zone_of_county[county[held]],
    )
    pickup = held_release + (delay[held] * 60).astype("timedelta64[m]")
    picked_held = picks_up[held] & (pickup <= expiry)
    hold_end = np.where(picked_held, pickup, expiry)
    picked = np.zeros(n, dtype=bool)
    picked[held] = picked_held
    hold_hours = np.zeros(n)
    hold_hours[held] = (hold_end - held_release).astype(np.int64) / 60.0
    over = np.zeros(n, dtype=bool)
    # Zero by construction; counted to prove it by a check that walks the local days on its
    # own (a wrong clock would agree with itself).
    over[held] = over_held_many(
        held_release,
        hold_end,
        [(h[held], e[held]) for h, e in hold_limits(layers, regime)],
        zone_names,
        zone_of_county[county[held]],
    )

    # Notification requests (PEP): ICE may take custody at the door, with no hold.
    transfer = picked | (notification & picks_up & arrives_in_time)
    removal_rate = np.array([practice.removal_rate[lvl.value] for lvl in LEVEL_CODES])[level]
    removed = transfer & (rng.random(n) < removal_rate)
    # Removals are counted by convictions ("non-criminal": none), whatever the regime read;
    # a sentence served for this arrest is a conviction of its charges (ero.conviction_level).
    reported_level = offense_level(c.record, c.convicted)

    hold_days = hold_hours / 24.0
    # Every output, one column each in OUTPUTS' order, summed per county in one reduction
    # (the bookings are grouped by county: np.repeat above).
    columns = {
        "bookings": np.ones(n),
        "submissions_to_ident": active,
        "ident_matches": match,
        "iaqs": match,
        "interviews": interviews,
        "detainers_issued": detainer,
        "detainers_honored": honored,
        "detainers_declined": declined,
        "detainers_stopped": stopped,
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
        "removals": removed,
        **{
            f"removals_{lvl.value}": removed & (reported_level == i)
            for i, lvl in enumerate(LEVEL_CODES)
        },
        "cap_detainers": cap,
    }
    matrix = np.empty((n, len(OUTPUTS)))
    for k, name in enumerate(OUTPUTS):
        matrix[:, k] = columns[name]
    booked_in = np.flatnonzero(per_county)
    starts = np.concatenate(([0], np.cumsum(per_county)[:-1]))[booked_in]
    sums[booked_in] = np.add.reduceat(matrix, starts, axis=0) / options.sample
    return sums
