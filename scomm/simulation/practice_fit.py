"""ICE's dated practice fitted to its monthly record on one county run (a linear surrogate).

What ICE's record follows month by month is ICE's practice per federal regime: its capacity
to act on matches (``act_scale``), the prison door (``prison_detainers_per_month``) and how
fast each regime was taken up (``phase_in_days``, :func:`scomm.policies.flow.phased_in`).
Refitting them with a full national run per trial is slow; but the county run depends on them
in a simple way, so one run is enough:

- detainers after an IDENT match scale with ICE's act probability (``act_rate x act_scale``,
  below 1 everywhere), so a run with every ``act_scale`` at 1 and no phase-in gives them at
  scale 1, ``M(t)``, and the practice's are ``f(t) M(t)`` with ``f`` the scale followed on the
  month's days;
- the jail screens' detainers (CAP, 287(g)) do not depend on it: ``S(t)``;
- the prison door is a formula: ``P(t)`` (:func:`scomm.simulation.prisons.prison_detainers`).

The monthly series ``f(t) M(t) + S(t) + P(t)`` is fitted to ICE's national monthly record
and its fiscal years by bounded least squares; the other assumptions stay as they are. The
fit is then checked by full runs, month by month (``benchmarks/fidelity.py``), which is what
tells whether the surrogate held.

Then ICE's pickup rate per regime (:func:`fit_pickup`): whether ICE comes for a person a jail
holds changes no detainer count, only who reaches ICE's custody and is removed, so it is fitted
on its own to the seeds' removals through S-Comm, by October 2010 (the first regime alone) and
to 2014 (the later regimes), with how the first regime's shortfall falls on ICE's lowest
priorities (``pickup_shortfall_power`` of Level 3 and the non-criminal) set by the removals'
non-criminal share by October 2010. The removals' expectation is linear in each regime's
pickup rate, so four county runs give a line and its solution; the share is not linear in
the power, so the line is drawn again through four runs around that solution, and a ninth
checks it.

    python -m scomm.simulation.practice_fit --start FIT.yaml --sample 0.1 --out FIT2.yaml
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import yaml
from scipy.optimize import least_squares, lsq_linear

from scomm.files import write_text_atomic
from scomm.policies.flow import phased_in
from scomm.policies.practice import Practice
from scomm.record import detainers as record
from scomm.simulation.assumptions import Assumptions, read_fit
from scomm.simulation.engine import OUTPUTS, Options
from scomm.simulation.national import Plan, simulate, simulate_plan
from scomm.simulation.prisons import prison_detainers
from scomm.simulation.rates import measured_rates

REGIMES = ("threat_levels_2008", "discretion_memo_2011", "mandatory_2011", "detainer_guidance_2012")
# The two 2011 memos (prosecutorial discretion, 17 June; Secure Communities mandatory, 5 August)
# are one practice here: seven weeks apart, ICE's record cannot tell them apart.
TIED = {"discretion_memo_2011": "mandatory_2011"}
SPAN = ("2008-10", "2014-09")
# The parameters fitted, with their ranges (as scomm.simulation.calibration.FREE).
FITTED = tuple(r for r in REGIMES if r not in TIED)
BOUNDS: dict[str, tuple[float, float]] = {
    **{f"practice.act_scale.{r}": (0.1, 1.5) for r in FITTED},
    **{f"practice.prison_detainers_per_month.{r}": (0.0, 20000.0) for r in FITTED},
    "practice.phase_in_days": (0.0, 720.0),
}
FISCAL_WEIGHT = 2.0  # a fiscal year's gap counts as much as this many months'
# A year's declined-by-LEA gap counts as much as this many months': the declines are what
# tells the jails' detainers from the prisons' (ICE's monthly record counts both as one).
DECLINED_WEIGHT = 6.0
DECLINED_YEARS = range(2009, 2014)  # the calendar years the record gives declines for in SPAN


# The pickup rate's regimes: the first alone, then one practice for the later ones (two removal
# figures cannot date more); ``default`` carries the latest to the regimes after the span. The
# third unknown is how the first regime's shortfall falls on the non-criminal (the power of
# ``pickup_shortfall_power``), set by the non-criminal share of those removals.
PICKUP_FIRST = ("threat_levels_2008",)
PICKUP_LATER = ("discretion_memo_2011", "mandatory_2011", "detainer_guidance_2012", "default")
PICKUP_TARGETS = ("removals_by_oct_2010", "removals_to_2014", "non_criminal_share_by_oct_2010")
# Aim above an "at least" figure by this share, so that the runs' interval clears it.
AT_LEAST_MARGIN = 0.05
# ICE's lowest priorities, as it reads the levels: under the first regime a charge sets the
# level (level_basis conviction_or_charge), so hardly anyone booked is non-criminal to ICE until
# convicted; the shortfall falls on Level 3 and the non-criminal alike.
PICKUP_LAST = ("level_3", "non_criminal")
# (first, later, lowest priorities' power) of the runs that draw the line: a base, then each moved.
PICKUP_TRIALS = ((0.3, 0.3, 1.0), (0.8, 0.3, 1.0), (0.3, 0.8, 1.0), (0.3, 0.3, 2.0))
PICKUP_BOUNDS = ((0.0, 1.0), (0.0, 1.0), (0.0, 4.0))
# The line is drawn again around the first solution, each unknown moved this much (the share
# is not linear in the power), then checked by one more run.
PICKUP_STEPS = (0.1, 0.1, 0.5)


def pickup_values(first: float, later: float, power: float = 1.0) -> dict[str, float]:
    """The dotted assumptions of a pickup rate ``first`` under the first regime and ``later``
    under the others, with the non-criminal's shortfall ``power``."""
    return {
        **{f"practice.pickup_rate.{r}": first for r in PICKUP_FIRST},
        **{f"practice.pickup_rate.{r}": later for r in PICKUP_LATER},
        **{f"practice.pickup_shortfall_power.{lvl}": power for lvl in PICKUP_LAST},
    }


def solve_line(
    trials: np.ndarray,
    seen: np.ndarray,
    aim: np.ndarray,
    bounds: Sequence[tuple[float, float]] | None = None,
) -> np.ndarray:
    """The unknowns (each within ``bounds``, [0, 1] by default) at which a linear response
    comes nearest ``aim``, each target's gap relative to its aim (bounded linear least squares:
    the exact solution where it lies within the bounds): ``seen[k]`` is the response at
    ``trials[k]``; trial k (from 1) moves unknown k - 1 from trial 0."""
    n = trials.shape[1]
    slope = np.column_stack(
        [(seen[k] - seen[0]) / (trials[k] - trials[0])[k - 1] for k in range(1, n + 1)]
    )
    base = seen[0] - slope @ trials[0]
    low, high = np.array(bounds if bounds is not None else [(0.0, 1.0)] * n).T
    scale = 1.0 / np.abs(aim)
    return np.asarray(
        lsq_linear(slope * scale[:, None], (aim - base) * scale, bounds=(low, high)).x
    )


def fit_pickup(
    assumptions: Assumptions, sample: float, seed: int, workers: int | None
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """ICE's pickup rate (first regime, later regimes) and its lowest priorities' shortfall
    power (:data:`PICKUP_LAST`) that give the seeds' removals through S-Comm and their
    non-criminal share (:data:`PICKUP_TARGETS`; an "at least" figure aimed :data:`AT_LEAST_MARGIN` above), with
    each target's figure, aim and the checking run's value."""
    from scomm.simulation.calibration import targets  # calibration -> national; not at import

    by_name = {t.name: t for t in targets()[0]}
    chosen = [by_name[n] for n in PICKUP_TARGETS]
    aim = np.array([t.value * (1 + AT_LEAST_MARGIN if t.at_least else 1.0) for t in chosen])

    def response(x: np.ndarray) -> np.ndarray:
        runs = simulate(
            SPAN[0],
            SPAN[1],
            seed,
            Options(sample=sample),
            measured_rates(),
            assumptions.with_values(pickup_values(*(float(v) for v in x))),
            workers=workers,
        )
        return np.array([t.measure.of(runs) for t in chosen])

    trials = np.array(PICKUP_TRIALS)
    solution = solve_line(trials, np.array([response(x) for x in trials]), aim, PICKUP_BOUNDS)
    # Around the first solution, each unknown moved inward from its bound.
    high = np.array(PICKUP_BOUNDS)[:, 1]
    steps = np.array(PICKUP_STEPS)
    moves = np.where(solution + steps <= high, steps, -steps)
    near = np.vstack([solution, solution + np.diag(moves)])
    solution = solve_line(near, np.array([response(x) for x in near]), aim, PICKUP_BOUNDS)
    check = response(solution)
    report = {
        t.name: {"figure": float(t.value), "aim": float(a), "model": round(float(v), 4)}
        for t, a, v in zip(chosen, aim, check, strict=True)
    }
    values = pickup_values(*(float(v) for v in solution))
    return values, report


def months_of(first: str, last: str) -> list[str]:
    a, b = np.datetime64(first, "M"), np.datetime64(last, "M")
    return [str(a + i) for i in range(int((b - a).astype(int)) + 1)]


def parts(
    assumptions: Assumptions, sample: float, seed: int, workers: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One county run with every ``act_scale`` at 1 and no phase-in: the detainers after a
    match, ``M``, the jail screens', ``S``, and the jails' declines, ``D``, per month of
    :data:`SPAN`."""
    flat = assumptions.with_values(
        {**{f"practice.act_scale.{r}": 1.0 for r in REGIMES}, "practice.phase_in_days": 0.0}
    )
    plan = Plan(*SPAN, seed, 1, (("baseline",),), flat, measured_rates(), Options(sample=sample))
    by_month = simulate_plan(plan, workers=workers)["baseline"].by_month[0]
    issued = by_month[:, OUTPUTS.index("detainers_issued")]
    screens = (
        by_month[:, OUTPUTS.index("cap_detainers")] + by_month[:, OUTPUTS.index("g287_detainers")]
    )
    return issued - screens, screens, by_month[:, OUTPUTS.index("detainers_declined")]


def with_tied(x: Mapping[str, float]) -> dict[str, float]:
    """``x`` with the tied regimes' values set from those they follow (:data:`TIED`)."""
    out = dict(x)
    for name, value in x.items():
        for regime, same_as in TIED.items():
            if name.endswith(f".{same_as}"):
                out[name.removesuffix(same_as) + regime] = value
    return out


def followed_scale(
    months: list[str], values: Mapping[str, float], phase_in_days: float
) -> np.ndarray:
    """The act scale followed, averaged over each month's days."""
    out = np.empty(len(months))
    for i, m in enumerate(months):
        first = np.datetime64(m, "M")
        days = np.arange(first.astype("datetime64[D]"), (first + 1).astype("datetime64[D]"))
        out[i] = phased_in(values, 1.0, days, phase_in_days)[0].mean()
    return out


def series(
    x: Mapping[str, float],
    months: list[str],
    matched: np.ndarray,
    screens: np.ndarray,
    assumptions: Assumptions,
) -> np.ndarray:
    """The national monthly detainers the surrogate gives for the parameters ``x``."""
    practice = assumptions.with_values(with_tied(x)).practice
    return jail_detainers(practice, months, matched, screens) + prison_detainers(months, practice)


def jail_detainers(
    practice: Practice, months: list[str], matched: np.ndarray, screens: np.ndarray
) -> np.ndarray:
    """The jails' detainers per month under ``practice``: ``f(t) M(t) + S(t)``."""
    return followed_scale(months, practice.act_scale, practice.phase_in_days) * matched + screens


def jail_declines(
    x: Mapping[str, float],
    months: list[str],
    matched: np.ndarray,
    screens: np.ndarray,
    declined: np.ndarray,
    assumptions: Assumptions,
) -> np.ndarray:
    """The jails' declines per month the surrogate gives for ``x``: the flat run's declines
    ``D`` scaled as its jail detainers are (a jail declines by its policy, whatever door the
    detainer came through; prisons are not the jails whose policies decline)."""
    practice = assumptions.with_values(with_tied(x)).practice
    flat = matched + screens
    jail = jail_detainers(practice, months, matched, screens)
    return declined * np.where(flat > 0, jail / np.where(flat > 0, flat, 1.0), 0.0)


def real_declines(root: Path | None = None) -> dict[int, float]:
    """ICE's "Detainer Declined by LEA" per calendar year, over the year's share of detainers
    with a recorded reason (as :mod:`scomm.record.series` sets the model beside it)."""
    reasons = record.lift_reasons_by_year(root)
    recorded: dict[int, float] = {}
    declined: dict[int, float] = {}
    for year, reason, n in reasons.iter_rows():
        recorded[year] = recorded.get(year, 0.0) + n
        if reason == record.DECLINED:
            declined[year] = float(n)
    totals = {int(y): float(n) for y, n in record.national_by_year(root).iter_rows()}
    return {
        y: declined[y] * totals[y] / recorded[y]
        for y in DECLINED_YEARS
        if y in declined and recorded.get(y) and totals.get(y)
    }


def fit(
    assumptions: Assumptions,
    matched: np.ndarray,
    screens: np.ndarray,
    root: Path | None = None,
    declined: np.ndarray | None = None,
) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
    """The parameters of :data:`BOUNDS` that bring the surrogate closest to ICE's monthly
    record and its fiscal years, and (given the flat run's ``declined``) to the jails'
    declines by year, jointly; with the record and the surrogate's series."""
    months = months_of(*SPAN)
    real_by = {
        f"{d.year:04d}-{d.month:02d}": float(n)
        for d, n in record.national_by_month(root).iter_rows()
    }
    real = np.array([real_by[m] for m in months])
    fiscal = np.array([int(m[:4]) + (1 if int(m[5:]) >= 10 else 0) for m in months])
    names = list(BOUNDS)
    low = np.array([BOUNDS[n][0] for n in names])
    high = np.array([BOUNDS[n][1] for n in names])
    x0 = np.clip([assumptions.get(n) for n in names], low, high)
    calendar = np.array([int(m[:4]) for m in months])
    declines = real_declines(root) if declined is not None else {}

    def residuals(x: np.ndarray) -> np.ndarray:
        model = series(dict(zip(names, x, strict=True)), months, matched, screens, assumptions)
        monthly = model / real - 1
        years = [model[fiscal == y].sum() / real[fiscal == y].sum() - 1 for y in np.unique(fiscal)]
        gaps = [monthly, np.sqrt(FISCAL_WEIGHT) * np.array(years)]
        if declined is not None and declines:
            jail = jail_declines(
                dict(zip(names, x, strict=True)), months, matched, screens, declined, assumptions
            )
            gaps.append(
                np.sqrt(DECLINED_WEIGHT)
                * np.array([jail[calendar == y].sum() / n - 1 for y, n in declines.items()])
            )
        return np.concatenate(gaps)

    solution = least_squares(residuals, x0, bounds=(low, high), x_scale=high - low)
    best = with_tied(dict(zip(names, (float(v) for v in solution.x), strict=True)))
    return best, real, series(best, months, matched, screens, assumptions)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--start", type=Path, required=True, help="a calibration file to start from"
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--sample", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument(
        "--parts",
        type=Path,
        default=None,
        help="keep the county run's parts here (.npz), or reuse them",
    )
    args = parser.parse_args()
    began = time.perf_counter()
    start = read_fit(args.start)
    assumptions = Assumptions.priors().with_values(start["parameters"])
    if args.parts is not None and args.parts.exists():
        saved = np.load(args.parts)
        matched, screens, declined = saved["matched"], saved["screens"], saved["declined"]
    else:
        matched, screens, declined = parts(assumptions, args.sample, args.seed, args.workers)
        if args.parts is not None:
            np.savez(args.parts, matched=matched, screens=screens, declined=declined)
    best, real, model = fit(assumptions, matched, screens, declined=declined)
    pickup, removals = fit_pickup(
        assumptions.with_values(best), args.sample, args.seed, args.workers
    )
    gaps = model / real - 1
    months = months_of(*SPAN)
    calendar = np.array([int(m[:4]) for m in months])
    jail = jail_declines(best, months, matched, screens, declined, assumptions)
    declined_gaps = {
        y: round(float(jail[calendar == y].sum() / n - 1), 4) for y, n in real_declines().items()
    }
    judged = np.array([m >= "2009-10" for m in months])
    within = float(np.mean(np.abs(gaps[judged]) <= 0.15))
    # The start file's quality figures were measured on its own values, not these: dropped;
    # the full runs' figures are benchmarks/results/fidelity.json.
    out = {k: v for k, v in start.items() if k not in ("quality", "record", "targets")}
    fitted = {**best, **pickup}
    # A single pickup rate of an earlier file is replaced by the dated one.
    kept = {k: v for k, v in start["parameters"].items() if k != "practice.pickup_rate"}
    out["parameters"] = {**kept, **{k: round(v, 6) for k, v in fitted.items()}}
    out["fitted_on"] = dt.date.today().isoformat()
    out["practice_fit"] = {
        "command": f"python -m scomm.simulation.practice_fit --start {args.start} --sample {args.sample} --seed {args.seed} --out {args.out}",
        "what": "act_scale, the prison door and phase_in_days per federal regime, fitted jointly to ICE's monthly record, its fiscal years and the jails' declined-by-LEA counts by year on one county run's parts; then ICE's pickup rate (first regime, later regimes) and the power by which a shortfall falls on its lowest priorities (Level 3 and the non-criminal, pickup_shortfall_power) to the seeds' removals through S-Comm and their non-criminal share by October 2010, by bounded least squares on a line drawn through four county runs and again through four around its solution, checked by a ninth (scomm.simulation.practice_fit); the other parameters as in the start file",
        "surrogate_months_within_15_percent_from_2009_10": round(within, 4),
        "surrogate_rms_monthly_gap": round(float(np.sqrt(np.mean(gaps**2))), 4),
        "surrogate_declined_by_lea_gap_by_year": declined_gaps,
        "pickup_removals_check": removals,
        "seconds": round(time.perf_counter() - began, 1),
        "checked_by": "benchmarks/results/fidelity.json (full runs, month by month)",
    }
    write_text_atomic(args.out, yaml.safe_dump(out, sort_keys=False, width=100))
    print(f"surrogate: {within:.0%} of months from 2009-10 within 15%; written {args.out}")
    for name, r in removals.items():
        print(f"  {name}: figure {r['figure']:,.4g}, aim {r['aim']:,.4g}, model {r['model']:,.4g}")
    for k, v in fitted.items():
        print(f"  {k}: {v:.4g}")


if __name__ == "__main__":
    main()
