"""The flow's timing and chance: written once, read by every runner.

:mod:`scomm.policies.decisions` holds the rules (what the law and the policies say);
this module holds what happens around them and when: how long ICE's answer takes to reach the
jail, whether IDENT finds the person, what LESC's records say, whether ICE acts, who CAP agents
and 287(g) officers screen, whether and when ICE comes for the person (during a hold, at the
door on a notification, or later at large) and how proceedings end. Each piece is a function
over arrays of cases drawing from a seeded :class:`numpy.random.Generator`: the live pipeline
calls it with a batch of one (:func:`case_rng` gives each case and step its own generator), the
national engine with a month of bookings, the SimPy reference one case at a time.

Every rate comes from :class:`~scomm.policies.practice.Practice` (``practice.yaml``, or a
calibration's values over it); every delay from its ``step_delays_minutes``, the same delays
the pipeline's agencies send their messages with.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np

from scomm.policies.decisions import (
    LEVEL_CODES,
    Action,
    PolicyArrays,
    RegimeArrays,
    ero_action,
)
from scomm.policies.practice import ByRegime, Practice, StepDelays, default_practice

Array = np.ndarray


def case_rng(seed: int, case_id: str, purpose: str) -> np.random.Generator:
    """The generator of one case's draws for one purpose: fixed by (seed, case, purpose), so a
    pipeline run is the same whatever worker or order processes its cases."""
    digest = hashlib.blake2b(f"{seed}:{case_id}:{purpose}".encode(), digest_size=16).digest()
    return np.random.default_rng(int.from_bytes(digest, "big"))


# ---------------------------------------------------------------------------------------------
# Time: when ICE's request reaches the jail


def delay(delays: StepDelays | None, step: str) -> dt.timedelta:
    """One step's delay (a field of ``step_delays_minutes``; None: practice.yaml's) as the
    pipeline sends it."""
    d = delays if delays is not None else default_practice().step_delays_minutes
    return dt.timedelta(minutes=float(getattr(d, step)))


def request_arrival_minutes(delays: StepDelays, matched: Array, submitted: Array) -> Array:
    """Minutes from booking until ICE's detainer or notification reaches the jail, along the
    case's route: an IDENT match goes SIB, CJIS, IDENT, LESC, ERO; no match (or prints never
    sent to IDENT) waits for the jail screen (CAP or 287(g)) instead."""
    d = delays
    to_cjis = d.booking_to_sib + d.sib_to_cjis
    by_match = to_cjis + d.cjis_to_ident + d.ident_to_lesc + d.lesc_to_ero + d.ero_to_jail
    by_screen = (
        to_cjis
        + np.where(np.asarray(submitted, dtype=bool), d.cjis_to_ident, 0.0)
        + d.no_match_to_screen
        + d.ero_to_jail
    )
    return np.where(np.asarray(matched, dtype=bool), by_match, by_screen)


def arrives_in_time(custody_hours: Array, arrival_minutes: Array) -> Array:
    """Whether the request reaches the jail before the person walks out."""
    return np.asarray(custody_hours) * 60.0 > np.asarray(arrival_minutes)


# ---------------------------------------------------------------------------------------------
# Chance: the draws of the flow


def prints_checked(active: Array, layers: Sequence[PolicyArrays], convicted: Array) -> Array:
    """Whether a booking's prints reach IDENT: the county is active and no policy layer in force
    withholds them (an opt-out honored, or prints checked only after conviction)."""
    out = np.asarray(active, dtype=bool).copy()
    for p in layers:
        out &= ~p.withholds_prints
        out &= ~p.prints_after_conviction_only | np.asarray(convicted, dtype=bool)
    return out


def ident_search(
    rng: np.random.Generator,
    submitted: Array,
    in_ident: Array,
    miss_rate: float,
    false_match_rate: float,
) -> tuple[Array, Array]:
    """IDENT's answer (match, false match): the enrolled are found unless the engine misses;
    others may be matched to someone else's record. One draw per case."""
    u = rng.random(np.shape(submitted))
    true_match = submitted & in_ident & (u >= miss_rate)
    false_match = submitted & ~in_ident & (u < false_match_rate)
    return true_match | false_match, false_match


def lesc_says_citizen(
    match: Array, citizen: Array, stale_record: Array, false_match: Array
) -> Array:
    """LESC's IAR: a citizen's own current record says citizen; a stale record, or someone
    else's record (a false match), says otherwise."""
    return match & citizen & ~stale_record & ~false_match


def act_rates(practice: Practice, regime_names: Sequence[str]) -> Array:
    """[regime, level]: the share of matches ICE acts on, per regime row and level."""
    return np.array(
        [
            [practice.act_probability(lvl.value, name) for lvl in LEVEL_CODES]
            for name in regime_names
        ]
    ).reshape(len(regime_names), len(LEVEL_CODES))


@cache
def _federal_starts() -> tuple[np.ndarray, tuple[str, ...]]:
    """The federal regimes' first days, in order, and their names."""
    from scomm.policies.load import federal_regimes  # load -> schema; kept out of import time

    periods = sorted(federal_regimes().periods, key=lambda p: p.start)
    starts = np.array([np.datetime64(p.start, "D") for p in periods], dtype="datetime64[D]")
    return starts, tuple(p.regime.name for p in periods)


def phased_in(
    values: Mapping[str, float], fallback: float, days: Array, phase_in_days: float
) -> tuple[Array, Array]:
    """A practice dated by federal regime (``act_scale``, ``prison_detainers_per_month``) as ICE
    followed it on each of ``days``: a new regime's value is reached ``phase_in_days`` after the
    regime begins, moving in a straight line from where the practice stood that day (ICE's
    field offices take up a memo over months, not overnight; ``practice.yaml``). Returns the
    value followed and the regime's own value, per day. Days before the first regime take the
    first regime's value."""
    starts, names = _federal_starts()
    target = np.array([float(values.get(n, fallback)) for n in names])
    begin = target.copy()  # where the practice stood when each regime began
    for k in range(1, len(names)):
        lasted = float((starts[k] - starts[k - 1]).astype(np.int64))
        left = max(0.0, 1.0 - lasted / phase_in_days) if phase_in_days > 0 else 0.0
        begin[k] = target[k - 1] + (begin[k - 1] - target[k - 1]) * left
    d = np.asarray(days, dtype="datetime64[D]")
    row = np.clip(np.searchsorted(starts, d, side="right") - 1, 0, len(names) - 1)
    elapsed = np.maximum((d - starts[row]).astype(np.int64), 0).astype(np.float64)
    left_now = np.clip(1.0 - elapsed / phase_in_days, 0.0, 1.0) if phase_in_days > 0 else 0.0
    return target[row] + (begin[row] - target[row]) * left_now, target[row]


def act_phase_in(practice: Practice, days: Array) -> Array:
    """Per day, ICE's capacity to act as followed over its regime's own (``act_scale``):
    the multiplier of :func:`act_rates` while a regime's practice is being taken up (1 once
    it is, and wherever the regimes' scales are equal, as under the priors)."""
    followed, own = phased_in(practice.act_scale, 1.0, days, practice.phase_in_days)
    return np.where(own > 0, followed / np.where(own > 0, own, 1.0), 1.0)


def pickup_followed(practice: Practice, days: Array) -> Array:
    """Per day, the share of held people ICE comes for (``pickup_rate``, dated by regime), as
    ICE's field offices took each regime up (:func:`phased_in`, like ``act_scale``)."""
    rate = practice.pickup_rate
    return phased_in(rate, rate["default"], days, practice.phase_in_days)[0]


def jail_declines_anyway(rng: np.random.Generator, n: int, practice: Practice) -> Array:
    """Detainers a jail declines whatever its policy says (a court orders the release, a
    sheriff's call on one case): ICE's record has some before any local policy declined a
    detainer (``practice.yaml``, ``lea_own_decline_rate``). One draw per case."""
    return rng.random(n) < practice.lea_own_decline_rate


def ero_decision(
    rng: np.random.Generator,
    level: Array,
    regime: RegimeArrays,
    iar_citizen: Array,
    act_rate: Array | float,
    practice: Practice,
) -> Array:
    """ICE ERO's action on a matched case (an :class:`Action` code); one draw per case."""
    draw = rng.random(np.shape(level))
    return ero_action(level, regime, iar_citizen, act_rate, draw, practice.interview_detainer_rate)


def screen_action(level: Array, regime: RegimeArrays, practice: Practice) -> Array:
    """ICE's action on a person a jail screen found removable: decided like a match, with no
    status answer and ICE acting (it chose to look)."""
    return ero_action(
        level,
        regime,
        np.zeros(np.shape(level), dtype=bool),
        1.0,
        0.0,
        practice.interview_detainer_rate,
    )


@dataclass(frozen=True)
class Screens:
    """Who the jail screens found, among bookings with no IDENT match."""

    g287_screened: Array  # a deputized officer screened the person (287(g) jail model)
    g287_found: Array  # ... and found them removable
    cap_interviewed: Array  # a Criminal Alien Program agent interviewed the person
    cap_found: Array


def jail_screens(
    rng: np.random.Generator,
    eligible: Array,
    noncitizen: Array,
    agreement_287g: Array,
    criminal_alien_program: Array,
    practice: Practice,
) -> Screens:
    """The jail's other doors, for foreign-born inmates IDENT did not match (``eligible``):
    where a 287(g) agreement is in force its officers screen them; elsewhere CAP agents
    interview some. Two draws per case (screened, found removable)."""
    shape = np.shape(eligible)
    screen_draw, found_draw = rng.random(shape), rng.random(shape)
    g287 = np.asarray(agreement_287g, dtype=bool)
    g287_screened = eligible & g287 & (screen_draw < practice.g287_screen_rate)
    cap_interviewed = (
        eligible
        & ~g287
        & np.asarray(criminal_alien_program, dtype=bool)
        & (screen_draw < practice.cap_interview_rate)
    )
    return Screens(
        g287_screened=g287_screened,
        g287_found=g287_screened & noncitizen & (found_draw < practice.g287_detainer_rate),
        cap_interviewed=cap_interviewed,
        cap_found=cap_interviewed & noncitizen & (found_draw < practice.cap_detainer_rate),
    )


def citizenship_stop(detainer: Array, citizenship_record: Array, safeguards: bool) -> Array:
    """Detainers the jail stops on a record of US citizenship (where the safeguard applies)."""
    return np.asarray(detainer, dtype=bool) & bool(safeguards) & citizenship_record


def jail_notifies_ice(layers: Sequence[PolicyArrays], n: int) -> Array:
    """Whether the jail tells ICE of a release: every policy layer in force must allow it, as
    every layer must allow a hold."""
    out = np.ones(n, dtype=bool)
    for p in layers:
        out &= p.notifies_ice_of_release
    return out


def ice_pickup(
    rng: np.random.Generator,
    n: int,
    pickup_rate: Array | float,
    practice: Practice,
    level: Array,
) -> tuple[Array, Array]:
    """Whether ICE comes for a held person (``pickup_rate``: the practice's on each case's
    day, :func:`pickup_followed`; a shortfall falls on the lowest priorities first,
    ``pickup_shortfall_power`` by ICE's level, an index into ``LEVEL_CODES``), and how many
    hours after the hold starts (lognormal). Two draws per case."""
    power = np.array([practice.pickup_shortfall_power.get(lvl.value, 1.0) for lvl in LEVEL_CODES])
    comes = rng.random(n) < np.asarray(pickup_rate, dtype=np.float64) ** power[level]
    hours = practice.pickup_delay_median_hours * np.exp(
        practice.pickup_delay_sigma * rng.standard_normal(n)
    )
    return comes, hours


def regime_rates(rate: ByRegime, regime_names: Sequence[str]) -> Array:
    """A regime-dated rate, per regime row."""
    return np.array([rate.get(name, rate["default"]) for name in regime_names], dtype=np.float64)


@dataclass(frozen=True)
class AfterRelease:
    """ICE's routes to a person it wanted who left the jail without a hold."""

    release_pickup: Array  # ICE took custody at the door, told of the release
    at_large: Array  # ICE arrested the person later
    at_large_delay_days: Array


def after_release(
    rng: np.random.Generator,
    wanted: Array,
    notified: Array,
    release_pickup_rate: Array | float,
    at_large_rate: Array | float,
    practice: Practice,
) -> AfterRelease:
    """For people ICE wanted and the jail released with no hold (a detainer declined or late,
    a notification request): a pickup at the door where the jail told ICE, else perhaps an
    arrest at large. Three draws per case."""
    shape = np.shape(wanted)
    door, later, z = rng.random(shape), rng.random(shape), rng.standard_normal(shape)
    picked = wanted & notified & (door < release_pickup_rate)
    at_large = wanted & ~picked & (later < at_large_rate)
    days = practice.at_large_arrest_delay_days_median * np.exp(
        practice.at_large_arrest_delay_sigma * z
    )
    return AfterRelease(picked, at_large, days)


# Outcomes of removal proceedings, as codes.
REMOVAL, VOLUNTARY_RETURN, RELIEF, DISCRETION = 0, 1, 2, 3
OUTCOME_NAMES = ("removal", "voluntary_return", "relief", "prosecutorial_discretion")


def proceedings_outcome(rng: np.random.Generator, level: Array, practice: Practice) -> Array:
    """How removal proceedings end for people in ICE custody (codes :data:`OUTCOME_NAMES`):
    removed (or returned) at the practice's rate for ICE's level; otherwise relief or
    discretion. Two draws per case."""
    shape = np.shape(level)
    removal_draw, kind_draw = rng.random(shape), rng.random(shape)
    rate = np.array([practice.removal_rate[lvl.value] for lvl in LEVEL_CODES])[
        np.asarray(level, dtype=np.intp)
    ]
    removed = removal_draw < rate
    return np.where(
        removed,
        np.where(kind_draw < practice.voluntary_return_share, VOLUNTARY_RETURN, REMOVAL),
        np.where(kind_draw < practice.relief_share, RELIEF, DISCRETION),
    ).astype(np.int8)


def removed(outcome: Array) -> Array:
    return np.asarray(outcome) <= VOLUNTARY_RETURN


def proceedings_minutes(
    rng: np.random.Generator, shape: int | tuple[int, ...], practice: Practice
) -> Array:
    """How long removal proceedings take, in minutes from ICE's custody to their outcome
    (lognormal: ``proceedings_days_median``, ``proceedings_days_sigma``): a removal happens,
    and is counted, this long after the transfer or the arrest. One draw per case."""
    z = rng.standard_normal(shape)
    days = practice.proceedings_days_median * np.exp(practice.proceedings_days_sigma * z)
    return days * 1440.0


__all__ = [
    "Action",
    "AfterRelease",
    "Screens",
    "act_rates",
    "after_release",
    "arrives_in_time",
    "case_rng",
    "citizenship_stop",
    "delay",
    "ero_decision",
    "ice_pickup",
    "ident_search",
    "jail_notifies_ice",
    "jail_screens",
    "lesc_says_citizen",
    "prints_checked",
    "pickup_followed",
    "proceedings_minutes",
    "proceedings_outcome",
    "regime_rates",
    "removed",
    "request_arrival_minutes",
    "screen_action",
]
