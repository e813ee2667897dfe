"""The national simulation's engine: a month of bookings in every county through the same
decision functions as the live pipeline, as arrays.

Each booking meets, in order: Secure Communities activation on its day (rollout), the IDENT
search (the biometric engine's measured miss and false-match rates), LESC's status answer
(stale citizen records), ICE ERO's priorities and discretion, the Criminal Alien Program, the
jail's policy layers, the hold clock, pickup, transfer and removal proceedings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from scomm.people import Status
from scomm.policies.decisions import (
    LEVEL_CODES,
    Action,
    ero_action,
    hold_limit_hours,
    honor_detainer,
    offense_level,
)
from scomm.policies.hold_clock import hold_expiry
from scomm.policies.practice import Practice, default_practice
from scomm.policies.tables import PolicyTables
from scomm.simulation.cohort import STATUS_INDEX, OffenseCodes, draw_cohort

# Hours from booking to ERO's decision (SIB, CJIS, IDENT, LESC, ERO as the pipeline times them).
DECISION_DELAY_HOURS = 3.5

OUTPUTS = (
    "bookings",
    "submissions_to_ident",
    "ident_matches",
    "iaqs",
    "detainers_issued",
    "detainers_honored",
    "detainers_declined",
    "detainers_stopped",
    "holds",
    "hold_hours",
    "over_holds",
    "us_citizens_held",
    "us_citizens_detainers",
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
    """The engine's error rates at its operating threshold."""

    miss_rate: float  # an enrolled person not found (false negative identification rate)
    false_match_rate: float  # a person not enrolled matched to someone else's record


@dataclass(frozen=True)
class Counties:
    fips: np.ndarray  # U5
    population: np.ndarray  # by county, for the year simulated
    activation: np.ndarray  # datetime64[D], NaT where never activated
    status_cumulative: np.ndarray  # [county, status] cumulative shares


@dataclass(frozen=True)
class Options:
    safeguards: bool = False  # the historical system had no citizenship check at the jail
    practice: Practice = field(default_factory=default_practice)


def simulate_month(
    rng: np.random.Generator,
    month: np.datetime64,
    counties: Counties,
    admissions_per_capita: float,
    tables: PolicyTables,
    codes: OffenseCodes,
    rates: BiometricRates,
    options: Options,
) -> dict[str, np.ndarray]:
    """One month, every county: each output summed per county."""
    practice = options.practice
    first = month.astype("datetime64[D]")
    days_in_month = int(((month + 1).astype("datetime64[D]") - first).astype(int))
    expected = counties.population * admissions_per_capita * days_in_month / 365.0
    per_county = rng.poisson(expected)
    county = np.repeat(np.arange(counties.fips.shape[0]), per_county)
    n = county.shape[0]
    out = {name: np.zeros(counties.fips.shape[0]) for name in OUTPUTS}
    if n == 0:
        return out
    c = draw_cohort(
        rng, county, counties.status_cumulative, codes, practice.stale_citizen_record_rate
    )
    booked = first.astype("datetime64[m]") + rng.integers(0, days_in_month * 1440, n).astype(
        "timedelta64[m]"
    )
    day = booked.astype("datetime64[D]")
    fips = counties.fips[county]

    regime = tables.regimes.on(day)
    layers = tables.layers(fips, day)
    activation = counties.activation[county]
    active = ~np.isnat(activation) & (activation <= day) & regime.secure_communities

    # IDENT: the enrolled are found unless the engine misses; others may be falsely matched.
    u = rng.random(n)
    true_match = active & c.in_ident & (u >= rates.miss_rate)
    false_match = active & ~c.in_ident & (u < rates.false_match_rate)
    match = true_match | false_match
    # LESC: a citizen's own current record says citizen; a stale record or someone else's
    # record (a false match) says otherwise.
    iar_citizen = match & c.citizen & ~c.stale_record & ~false_match

    level = offense_level(c.record, regime.count_charges)
    act_rate = np.array([practice.act_rate[lvl.value] for lvl in LEVEL_CODES])[level]
    action = np.where(
        match, ero_action(level, regime, iar_citizen, act_rate, rng.random(n)), Action.NO_ACTION
    )
    # The Criminal Alien Program: foreign-born inmates with no match may be interviewed.
    foreign_born = c.status != STATUS_INDEX[Status.US_BORN]
    cap = (
        ~match
        & foreign_born
        & regime.criminal_alien_program
        & (rng.random(n) < practice.cap_interview_rate)
        & ~c.citizen
        & (rng.random(n) < practice.cap_detainer_rate)
    )
    detainer = (action == Action.DETAINER) | cap
    notification = action == Action.NOTIFICATION_REQUEST

    stopped = detainer & options.safeguards & c.citizenship_record
    arrives_in_time = c.custody_hours > DECISION_DELAY_HOURS
    answered = detainer & ~stopped & arrives_in_time
    honored = answered & honor_detainer(layers, c.record, False, False)
    declined = answered & ~honored

    # The hold clock, from the moment the person would otherwise walk out.
    release = booked + (c.custody_hours * 60).astype("timedelta64[m]")
    limit = hold_limit_hours(layers, regime)
    expiry = hold_expiry(release, limit, regime.hold_excludes_weekends_and_holidays)
    picks_up = rng.random(n) < practice.pickup_rate
    delay = practice.pickup_delay_median_hours * np.exp(
        practice.pickup_delay_sigma * rng.standard_normal(n)
    )
    pickup = release + (delay * 60).astype("timedelta64[m]")
    picked = honored & picks_up & (pickup <= expiry)
    hold_end = np.where(picked, pickup, expiry)
    hold_hours = np.where(honored, (hold_end - release).astype(np.int64) / 60.0, 0.0)
    over = honored & (hold_end > expiry)  # zero by construction; counted to prove it

    # Notification requests (PEP): ICE may take custody at the door, with no hold.
    transfer = picked | (notification & picks_up & arrives_in_time)
    removal_rate = np.array([practice.removal_rate[lvl.value] for lvl in LEVEL_CODES])[level]
    removed = transfer & (rng.random(n) < removal_rate)
    # Removals are counted by convictions ("non-criminal": none), whatever the regime read.
    reported_level = offense_level(c.record, False)

    def add(name: str, mask: np.ndarray, weights: np.ndarray | None = None) -> None:
        w = mask.astype(np.float64) if weights is None else np.where(mask, weights, 0.0)
        out[name] += np.bincount(county, weights=w, minlength=out[name].shape[0])

    ones = np.ones(n, dtype=bool)
    add("bookings", ones)
    add("submissions_to_ident", active)
    add("ident_matches", match)
    add("iaqs", match)
    add("detainers_issued", detainer)
    add("detainers_honored", honored)
    add("detainers_declined", declined)
    add("detainers_stopped", stopped)
    add("holds", honored)
    add("hold_hours", honored, hold_hours)
    add("over_holds", over)
    add("us_citizens_held", honored & c.citizen)
    add("us_citizens_detainers", detainer & c.citizen)
    add("transfers", transfer)
    add("removals", removed)
    for i, lvl in enumerate(LEVEL_CODES):
        add(f"removals_{lvl.value}", removed & (reported_level == i))
    add("cap_detainers", cap)
    return out
