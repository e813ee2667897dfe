"""The decisions of the flow, one pure function each, over arrays of cases.

OpenFisca's manner: a function receives the *population* of cases as NumPy arrays and returns
an array, an ``if`` becomes a mask. The live pipeline calls these with a batch of one; the
national simulation with millions. No rule is written anywhere else.

- :func:`offense_level`       ICE's Level 1/2/3 or non-criminal
- :func:`results_reach_agency` whether an IAR reaches the booking agency (opt-out of results)
- :func:`ero_action`          detainer, notification request, interview or no action
- :func:`honor_detainer`      the jail's answer under its policy layers in force
- :func:`hold_limit_hours`    the shorter of the federal and the local limit
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from scomm.offenses import CATEGORIES, offense_table
from scomm.policies.schema import (
    DetainerPolicy,
    FederalRegime,
    Honor,
    Level,
    PolicyPeriod,
    RegimePeriod,
)

# ---------------------------------------------------------------------------------------------
# Codes shared by array code: levels and actions as small integers.

LEVEL_CODES: tuple[Level, ...] = (Level.LEVEL_1, Level.LEVEL_2, Level.LEVEL_3, Level.NON_CRIMINAL)
LEVEL_INDEX = {level: i for i, level in enumerate(LEVEL_CODES)}


class Action(IntEnum):
    """What ICE ERO does with a match."""

    NO_ACTION = 0
    INTERVIEW = 1
    NOTIFICATION_REQUEST = 2
    DETAINER = 3


# Offense categories as bits, so that "any current charge in the TRUST Act list" is one AND.
CATEGORY_BITS: dict[str, int] = {name: 1 << i for i, name in enumerate(sorted(CATEGORIES))}


def category_mask(categories: list[str] | tuple[str, ...] | frozenset[str]) -> int:
    mask = 0
    for name in categories:
        mask |= CATEGORY_BITS[name]
    return mask


@dataclass(frozen=True)
class OffenseRecord:
    """What the rules read of one person's charges and convictions, as arrays over cases."""

    charge_any: np.ndarray  # int64 category bitmask of the current arrest charges
    charge_felony: np.ndarray  # ... of those graded felony
    conviction_any: np.ndarray  # ... of prior convictions
    conviction_felony: np.ndarray
    felony_convictions: np.ndarray  # int counts
    misdemeanor_convictions: np.ndarray
    aggravated_felony_conviction: np.ndarray  # bool
    felony_charges: np.ndarray
    misdemeanor_charges: np.ndarray
    aggravated_felony_charge: np.ndarray

    @classmethod
    def of_one(
        cls, charges: list[tuple[str, str]], convictions: list[tuple[str, str]]
    ) -> OffenseRecord:
        """One person's record from (NCIC code, grade) pairs."""
        table = offense_table()

        def summarize(items: list[tuple[str, str]]) -> tuple[int, int, int, int, bool]:
            any_mask = felony_mask = felonies = misdemeanors = 0
            aggravated = False
            for code, grade in items:
                offense = table[code]
                bit = CATEGORY_BITS[offense.category]
                any_mask |= bit
                if grade == "felony":
                    felony_mask |= bit
                    felonies += 1
                    aggravated |= offense.aggravated_felony
                elif grade == "misdemeanor":
                    misdemeanors += 1
            return any_mask, felony_mask, felonies, misdemeanors, aggravated

        c_any, c_fel, c_n_fel, c_n_mis, c_agg = summarize(charges)
        v_any, v_fel, v_n_fel, v_n_mis, v_agg = summarize(convictions)
        return cls(
            charge_any=np.array([c_any], np.int64),
            charge_felony=np.array([c_fel], np.int64),
            conviction_any=np.array([v_any], np.int64),
            conviction_felony=np.array([v_fel], np.int64),
            felony_convictions=np.array([v_n_fel]),
            misdemeanor_convictions=np.array([v_n_mis]),
            aggravated_felony_conviction=np.array([v_agg]),
            felony_charges=np.array([c_n_fel]),
            misdemeanor_charges=np.array([c_n_mis]),
            aggravated_felony_charge=np.array([c_agg]),
        )


# ---------------------------------------------------------------------------------------------
# ICE's levels


def offense_level(record: OffenseRecord, count_charges: np.ndarray | bool) -> np.ndarray:
    """ICE's offense level (index into :data:`LEVEL_CODES`).

    Level 1: an aggravated felony or two or more felonies; Level 2: one felony or three or more
    misdemeanors; Level 3: misdemeanors; non-criminal: none. From convictions, and from the
    arrest charges too where the regime reads levels that way (``count_charges``).
    """
    charges = np.asarray(count_charges, dtype=bool)
    felonies = record.felony_convictions + np.where(charges, record.felony_charges, 0)
    misdemeanors = record.misdemeanor_convictions + np.where(charges, record.misdemeanor_charges, 0)
    aggravated = record.aggravated_felony_conviction | (charges & record.aggravated_felony_charge)
    level = np.full(felonies.shape, LEVEL_INDEX[Level.NON_CRIMINAL], dtype=np.int8)
    level = np.where(misdemeanors >= 1, LEVEL_INDEX[Level.LEVEL_3], level)
    level = np.where((felonies >= 1) | (misdemeanors >= 3), LEVEL_INDEX[Level.LEVEL_2], level)
    level = np.where(aggravated | (felonies >= 2), LEVEL_INDEX[Level.LEVEL_1], level)
    return level.astype(np.int8)


# ---------------------------------------------------------------------------------------------
# Federal regime as arrays


@dataclass(frozen=True)
class RegimeArrays:
    """The federal rules in force for each case, as arrays (one row per case)."""

    secure_communities: np.ndarray
    opt_out_of_results_allowed: np.ndarray
    count_charges: np.ndarray
    action_by_level: np.ndarray  # int8 [n, 4]: Action for each level
    max_hold_hours: np.ndarray
    hold_excludes_weekends_and_holidays: np.ndarray
    criminal_alien_program: np.ndarray

    @classmethod
    def of(cls, regimes: list[FederalRegime]) -> RegimeArrays:
        def action_row(regime: FederalRegime) -> list[int]:
            row = [Action.NO_ACTION] * len(LEVEL_CODES)
            for level in regime.detainer_levels:
                row[LEVEL_INDEX[level]] = Action.DETAINER
            for level in regime.notification_levels:
                row[LEVEL_INDEX[level]] = Action.NOTIFICATION_REQUEST
            for level in regime.interview_levels:
                row[LEVEL_INDEX[level]] = Action.INTERVIEW
            return [int(a) for a in row]

        return cls(
            secure_communities=np.array([r.secure_communities for r in regimes]),
            opt_out_of_results_allowed=np.array([r.opt_out_of_results_allowed for r in regimes]),
            count_charges=np.array([r.level_basis == "conviction_or_charge" for r in regimes]),
            action_by_level=np.array([action_row(r) for r in regimes], dtype=np.int8).reshape(
                len(regimes), len(LEVEL_CODES)
            ),
            max_hold_hours=np.array([r.max_hold_hours for r in regimes], dtype=np.float64),
            hold_excludes_weekends_and_holidays=np.array(
                [r.hold_excludes_weekends_and_holidays for r in regimes]
            ),
            criminal_alien_program=np.array([r.criminal_alien_program for r in regimes]),
        )

    def take(self, index: np.ndarray) -> RegimeArrays:
        """Rows for each case from a table of distinct regimes (``index`` per case)."""
        return RegimeArrays(**{k: v[index] for k, v in self.__dict__.items()})


def ero_action(
    level: np.ndarray,
    regime: RegimeArrays,
    status_is_citizen: np.ndarray,
    act_rate: np.ndarray | float = 1.0,
    draw: np.ndarray | float = 0.0,
    interview_detainer_rate: np.ndarray | float = 0.0,
) -> np.ndarray:
    """ICE ERO's action on a matched, status-checked person (an :class:`Action` code).

    The regime's priorities say which action each level calls for. Where the regime leaves
    discretion, ICE acts on a share ``act_rate`` of cases (fitted in the simulation; 1 in the
    live pipeline unless a run sets it), decided by a seeded uniform ``draw``. Where the regime
    calls for an interview, a share ``interview_detainer_rate`` of interviews ends in a
    detainer (ICE's non-criminal priorities: re-entrants, fugitives). An IAR that
    determines the person a US citizen ends it: ICE has no authority over a citizen.
    """
    rows = np.arange(level.shape[0])
    action = regime.action_by_level[rows, level.astype(np.intp)]
    acts = np.asarray(draw) < np.asarray(act_rate)
    action = np.where(acts, action, Action.NO_ACTION)
    # An interview that finds an immigration priority (a re-entrant, a fugitive) ends in a
    # detainer; the same draw decides it, so a case ICE does not act on is never interviewed.
    found = np.asarray(draw) < np.asarray(act_rate) * np.asarray(interview_detainer_rate)
    action = np.where((action == Action.INTERVIEW) & found, Action.DETAINER, action)
    return np.where(np.asarray(status_is_citizen, dtype=bool), Action.NO_ACTION, action).astype(
        np.int8
    )


def results_reach_agency(receives_results: np.ndarray, regime: RegimeArrays) -> np.ndarray:
    """Whether an IAR reaches the booking agency: not if it opted out while ICE allowed it."""
    return np.asarray(receives_results, dtype=bool) | ~regime.opt_out_of_results_allowed


# ---------------------------------------------------------------------------------------------
# Local policy as arrays

HONOR_CODES = {Honor.NONE: 0, Honor.ALL: 1, Honor.CONDITIONAL: 2}


@dataclass(frozen=True)
class PolicyArrays:
    """One policy layer (state law or county policy) in force for each case."""

    honor: np.ndarray  # int8, HONOR_CODES
    judicial_warrant_required: np.ndarray
    reimbursement_required: np.ndarray
    serious_mask: np.ndarray  # int64 category bits; 0 = no offense condition
    serious_felony_only: np.ndarray
    serious_conviction_only: np.ndarray
    conviction_required: np.ndarray
    max_hold_hours: np.ndarray
    receives_results: np.ndarray
    notifies_ice_of_release: np.ndarray
    withholds_prints: np.ndarray
    prints_after_conviction_only: np.ndarray
    agreement_287g: np.ndarray

    @classmethod
    def of(cls, policies: list[DetainerPolicy]) -> PolicyArrays:
        return cls(
            honor=np.array([HONOR_CODES[p.honor] for p in policies], dtype=np.int8),
            judicial_warrant_required=np.array([p.judicial_warrant_required for p in policies]),
            reimbursement_required=np.array([p.reimbursement_required for p in policies]),
            serious_mask=np.array(
                [category_mask(p.serious_offense_categories) for p in policies], dtype=np.int64
            ),
            serious_felony_only=np.array([p.serious_offense_grade == "felony" for p in policies]),
            serious_conviction_only=np.array(
                [p.serious_offense_basis == "conviction" for p in policies]
            ),
            conviction_required=np.array([p.conviction_required for p in policies]),
            max_hold_hours=np.array([p.max_hold_hours for p in policies], dtype=np.float64),
            receives_results=np.array([p.receives_results for p in policies]),
            notifies_ice_of_release=np.array([p.notifies_ice_of_release for p in policies]),
            withholds_prints=np.array([p.withholds_prints for p in policies]),
            prints_after_conviction_only=np.array(
                [p.prints_checked == "after_conviction" for p in policies]
            ),
            agreement_287g=np.array([p.agreement_287g for p in policies]),
        )

    def take(self, index: np.ndarray) -> PolicyArrays:
        return PolicyArrays(**{k: v[index] for k, v in self.__dict__.items()})


def honor_detainer(
    layers: list[PolicyArrays],
    record: OffenseRecord,
    judicial_warrant: np.ndarray | bool,
    reimbursement_offered: np.ndarray | bool,
) -> np.ndarray:
    """Whether the jail honors a detainer: every policy layer in force (state law, county
    policy) must allow it. With ``honor: conditional`` every condition the layer sets must hold.
    """
    warrant = np.asarray(judicial_warrant, dtype=bool)
    paid = np.asarray(reimbursement_offered, dtype=bool)
    has_conviction = (record.felony_convictions + record.misdemeanor_convictions) > 0
    honored = np.ones(record.charge_any.shape, dtype=bool)
    for p in layers:
        charges = np.where(p.serious_felony_only, record.charge_felony, record.charge_any)
        convictions = np.where(
            p.serious_felony_only, record.conviction_felony, record.conviction_any
        )
        basis = np.where(p.serious_conviction_only, convictions, convictions | charges)
        serious = (p.serious_mask == 0) | ((basis & p.serious_mask) != 0)
        conditions = (
            (~p.judicial_warrant_required | warrant)
            & (~p.reimbursement_required | paid)
            & serious
            & (~p.conviction_required | has_conviction)
        )
        layer_honors = (p.honor == HONOR_CODES[Honor.ALL]) | (
            (p.honor == HONOR_CODES[Honor.CONDITIONAL]) & conditions
        )
        honored &= layer_honors
    return honored


def hold_limit_hours(layers: list[PolicyArrays], regime: RegimeArrays) -> np.ndarray:
    """The legal limit of a hold: the federal limit or any shorter one local law sets."""
    limit = regime.max_hold_hours.copy()
    for p in layers:
        limit = np.minimum(limit, p.max_hold_hours)
    return limit


def receives_results(layers: list[PolicyArrays]) -> np.ndarray:
    out = np.ones(layers[0].honor.shape, dtype=bool) if layers else np.ones(1, dtype=bool)
    for p in layers:
        out &= p.receives_results
    return out


def agreement_287g(layers: list[PolicyArrays]) -> np.ndarray:
    """Whether a 287(g) jail-model agreement is in force: any layer that has one."""
    out = np.zeros(layers[0].honor.shape, dtype=bool) if layers else np.zeros(1, dtype=bool)
    for p in layers:
        out |= p.agreement_287g
    return out


# ---------------------------------------------------------------------------------------------
# Rules in force on a date, as one case reads them (resolved by scomm.policies.tables).

DEFAULT_POLICY = DetainerPolicy()


@dataclass(frozen=True)
class LayerInForce:
    """One policy layer in force for a jurisdiction on a day, with where it comes from."""

    fips: str
    name: str
    policy: DetainerPolicy
    period: PolicyPeriod | None  # None: no file covers the day, the default (honor all) applies

    @property
    def basis(self) -> str:
        if self.period is None:
            return f"{self.name}: no local detainer policy on record; jail honors detainers"
        return f"{self.name}: {self.period.summary.strip()} ({self.period.reference})"


@dataclass(frozen=True)
class RulesInForce:
    day: dt.date
    regime_period: RegimePeriod
    layers: tuple[LayerInForce, ...]

    @property
    def regime(self) -> FederalRegime:
        return self.regime_period.regime

    def regime_arrays(self) -> RegimeArrays:
        return RegimeArrays.of([self.regime])

    def policy_arrays(self) -> list[PolicyArrays]:
        return [PolicyArrays.of([layer.policy]) for layer in self.layers]
