"""``scomm calibrate``: fit the unknown rates so the national run reproduces the published
figures (``targets.yaml``), and save the fit with its quality.

The fit is a bounded least-squares problem over the named assumptions in :data:`FREE`: each
target's residual is its relative gap (zero inside an ``at_least`` figure's plausible range).
Every evaluation runs the same seed on the same sample of bookings (common random numbers), so
the objective moves with the parameters, not with the dice.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import cache
from importlib import resources
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field
from scipy.optimize import least_squares

from scomm.errors import InputError
from scomm.files import write_text_atomic
from scomm.simulation.assumptions import Assumptions
from scomm.simulation.engine import OUTPUTS, BiometricRates, Options
from scomm.simulation.national import ScenarioRuns, simulate
from scomm.simulation.rates import measured_rates

# The assumptions the fit sets, with the range each may take.
FREE: dict[str, tuple[float, float]] = {
    "population.status.noncitizen_arrest_ratio": (0.3, 3.0),
    "population.ident_enrollment.undocumented": (0.05, 1.0),
    "population.criminal_history.conviction_rate": (0.1, 0.95),
    "population.criminal_history.prior_felony_weight": (0.1, 2.0),
    "practice.act_scale.threat_levels_2008": (0.1, 1.0),
    "practice.act_rate.level_3": (0.02, 1.0),
    "practice.act_rate.non_criminal": (0.02, 1.0),
    "practice.interview_detainer_rate": (0.0, 1.0),
    "practice.pickup_rate.default": (0.1, 1.0),
    "practice.stale_citizen_record_rate": (0.0005, 0.5),
    # ICE's practice as dated parameters, one per federal regime of the span (practice.yaml):
    # where one national set cannot follow ICE's record, the practice moves, not the others.
    "practice.cap_interview_rate": (0.01, 1.0),
    "practice.act_scale.discretion_memo_2011": (0.2, 1.5),
    "practice.act_scale.mandatory_2011": (0.2, 1.5),
    "practice.act_scale.detainer_guidance_2012": (0.1, 1.5),
    "practice.prison_detainers_per_month.threat_levels_2008": (0.0, 20000.0),
    "practice.prison_detainers_per_month.discretion_memo_2011": (0.0, 20000.0),
    "practice.prison_detainers_per_month.mandatory_2011": (0.0, 20000.0),
    "practice.prison_detainers_per_month.detainer_guidance_2012": (0.0, 20000.0),
    # How long ICE takes up a new regime's practice (flow.phased_in).
    "practice.phase_in_days": (0.0, 720.0),
    # Declines by jails before any local policy declined detainers (ICE's record, 2008-2010).
    "practice.lea_own_decline_rate": (0.0, 0.02),
    # The doors and routes the one flow added (practice.yaml marks them as fitted).
    "practice.g287_detainer_rate": (0.05, 1.0),
    "practice.release_pickup_rate.default": (0.0, 1.0),
    "practice.at_large_arrest_rate.default": (0.0, 0.5),
}

# ICE's record (scomm.record.series) in the fit: each comparison's rows count together as
# this many of the seeds' figures (its residuals are its gaps scaled by sqrt(weight / rows)).
RECORD_WEIGHTS: dict[str, float] = {
    "national_by_month": 3.0,
    "declined_by_year": 1.0,
    "booked_share_by_year": 1.0,
    # Pennsylvania's jails, apart from its prisons: the record's one view of how the county
    # doors (IDENT, CAP, 287(g)) and the prison door share the national count.
    "pennsylvania_by_month": 2.0,
}
RECORD_SPAN = ("2008-10", "2014-09")  # the national monthly series fitted
GAP_CLIP = 3.0  # a residual's bound: a series far off must not drown the rest


class Measure(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    output: str | list[str]
    per: str | None = None  # a share: output over this output
    start: str = Field(alias="from")
    end: str = Field(alias="to")
    fips: str | None = None  # a county, or a state (two digits); the nation when absent

    def outputs(self) -> list[str]:
        return [self.output] if isinstance(self.output, str) else list(self.output)

    def of(self, runs: ScenarioRuns) -> float:
        months = np.array(runs.months, dtype="datetime64[M]")
        inside = (months >= np.datetime64(self.start, "M")) & (
            months <= np.datetime64(self.end, "M")
        )
        counties = np.ones(runs.fips.shape[0], dtype=bool)
        if self.fips is not None:
            counties = np.char.startswith(runs.fips.astype(str), self.fips)
        cells = runs.detail[inside][:, counties]

        def total(name: str) -> float:
            return float(cells[:, :, OUTPUTS.index(name)].sum())

        value = sum(total(name) for name in self.outputs())
        if self.per is None:
            return value
        denominator = total(self.per)
        return value / denominator if denominator else float("nan")


class Target(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    figure: str
    value: float
    at_least: bool = False
    plausible_max: float | None = None
    measure: Measure
    source: str

    def residual(self, model: float) -> float:
        if not np.isfinite(model):
            return 1.0
        if self.at_least:
            if model < self.value:
                return (model - self.value) / self.value
            if self.plausible_max is not None and model > self.plausible_max:
                return (model - self.plausible_max) / self.value
            return 0.0
        return (model - self.value) / self.value


@cache
def targets() -> tuple[list[Target], list[Target]]:
    """The fitted targets and the checks shown beside them."""
    data = yaml.safe_load(resources.files(__package__).joinpath("targets.yaml").read_text())
    fitted = [Target.model_validate(t) for t in data["targets"]]
    checks = [Target.model_validate(t) for t in data["checks"]]
    for t in fitted + checks:
        per = [t.measure.per] if t.measure.per else []
        for output in t.measure.outputs() + per:
            if output not in OUTPUTS:
                raise InputError(f"targets.yaml: {t.name}", f"no output {output!r}")
    return fitted, checks


@dataclass(frozen=True)
class Row:
    target: Target
    model: float
    fitted: bool

    @property
    def gap(self) -> float:
        return self.target.residual(self.model)


@dataclass(frozen=True)
class Fit:
    values: dict[str, float]
    rows: list[Row]
    evaluations: int
    seconds: float
    seed: int
    sample: float
    span: tuple[str, str]
    converged: bool
    message: str
    command: str | None = None  # how the fit was asked for, when not from the defaults
    # ICE's record at the fitted values: per comparison, rms gap and share within tolerance.
    record: dict[str, dict[str, float | bool | None]] | None = None

    @property
    def rms_gap(self) -> float:
        gaps = [r.gap for r in self.rows if r.fitted]
        return float(np.sqrt(np.mean(np.square(gaps))))

    def to_yaml(self) -> str:
        data: dict[str, Any] = {
            "description": (
                "Assumptions fitted by `scomm calibrate` so that the national simulation "
                "reproduces the published figures of targets.yaml; the simulation reads them "
                "over the priors of population.yaml and policies/federal/practice.yaml."
            ),
            "fitted_on": dt.date.today().isoformat(),
            "command": self.command
            or (
                f"scomm calibrate --seed {self.seed} --sample {self.sample} "
                f"--from {self.span[0]} --to {self.span[1]}"
            ),
            "parameters": {k: round(v, 6) for k, v in self.values.items()},
            "quality": {
                "rms_relative_gap": round(self.rms_gap, 4),
                "evaluations": self.evaluations,
                "seconds": round(self.seconds, 1),
                "converged": self.converged,
                "message": self.message,
            },
            "record": self.record or {},
            "targets": [
                {
                    "name": r.target.name,
                    "figure": r.target.figure,
                    "target": r.target.value,
                    "model": round(r.model, 4),
                    "gap": round(r.gap, 4),
                    "fitted": r.fitted,
                }
                for r in self.rows
            ],
        }
        return yaml.safe_dump(data, sort_keys=False, width=100)


def evaluate(runs: ScenarioRuns) -> list[Row]:
    fitted, checks = targets()
    return [Row(t, t.measure.of(runs), True) for t in fitted] + [
        Row(t, t.measure.of(runs), False) for t in checks
    ]


@dataclass(frozen=True)
class _Setup:
    seed: int
    sample: float
    first: str
    last: str
    start: Mapping[str, float]  # the starting assumptions' values over the priors
    rates: BiometricRates


def _run(setup: _Setup, values: Mapping[str, float]) -> ScenarioRuns:
    assumptions = Assumptions.priors().with_values({**setup.start, **values})
    return simulate(
        setup.first, setup.last, setup.seed, Options(sample=setup.sample), setup.rates, assumptions
    )


def record_residuals(runs: ScenarioRuns, assumptions: Assumptions) -> np.ndarray:
    """The gaps to ICE's record (:data:`RECORD_WEIGHTS`), weighted; empty without the data.

    Pennsylvania's county-month counts enter summed by year: a sample's few detainers per
    county and month would only add the dice's noise."""
    from scomm.errors import DataError
    from scomm.record.series import ModelSeries, compare, gaps_by_year

    try:
        comparisons = compare(ModelSeries.from_runs(runs, assumptions.practice))
    except DataError:
        return np.zeros(0)
    out: list[float] = []
    for c in comparisons:
        weight = RECORD_WEIGHTS.get(c.key)
        if weight is None:
            continue
        if c.key == "national_by_month":
            gaps = [r.gap for r in c.rows if RECORD_SPAN[0] <= r.period <= RECORD_SPAN[1]]
        elif c.key == "pennsylvania_by_month":
            gaps = [g.gap for g in gaps_by_year(c) if g.periods == 12]
        else:
            gaps = [r.gap for r in c.rows]
        gaps = [g for g in gaps if np.isfinite(g)]
        if gaps:
            scale = np.sqrt(weight / len(gaps))
            out.extend(scale * float(np.clip(g, -GAP_CLIP, GAP_CLIP)) for g in gaps)
    return np.array(out)


def record_quality(
    runs: ScenarioRuns, assumptions: Assumptions
) -> dict[str, dict[str, float | bool | None]]:
    """Per comparison with ICE's record: its rms gap and the share of periods within its
    tolerance (None where it has none)."""
    from scomm.errors import DataError
    from scomm.record.series import ModelSeries, compare

    try:
        comparisons = compare(ModelSeries.from_runs(runs, assumptions.practice))
    except DataError:
        return {}
    out: dict[str, dict[str, float | bool | None]] = {}
    for c in comparisons:
        gaps = np.array([r.gap for r in c.rows], dtype=float)
        gaps = gaps[np.isfinite(gaps)]
        within = c.within_share
        out[c.key] = {
            "rms_gap": round(float(np.sqrt(np.mean(gaps**2))), 4) if gaps.size else None,
            "share_within_tolerance": None if np.isnan(within) else round(within, 4),
            "fitted": c.fitted,
        }
    return out


def _residuals(setup: _Setup, values: Mapping[str, float]) -> np.ndarray:
    assumptions = Assumptions.priors().with_values({**setup.start, **values})
    runs = _run(setup, values)
    seeds = np.array([t.residual(t.measure.of(runs)) for t in targets()[0]])
    return np.concatenate([seeds, record_residuals(runs, assumptions)])


def calibrate(
    seed: int = 1,
    sample: float = 0.01,
    first: str = "2008-10",
    last: str = "2014-09",
    start: Assumptions | None = None,
    rates: BiometricRates | None = None,
    free: Mapping[str, tuple[float, float]] = FREE,
    max_evaluations: int = 40,
    workers: int | None = None,
    progress: Callable[[int, float], None] | None = None,
    method: str = "least_squares",
) -> Fit:
    """Fit ``free`` assumptions to the targets, starting from ``start`` (the priors).

    ``method``: ``least_squares`` (trust region over finite-difference Jacobians) or
    ``coordinate`` (a pattern search: each assumption in turn moved by a step that shrinks when
    no move helps): on a sample the objective is a staircase, where a Jacobian can see no slope
    and a pattern search still moves.

    ``max_evaluations`` bounds the residual evaluations (each Jacobian costs one more run per
    free assumption, run in parallel on ``workers`` processes, all cores by default).
    """
    start = start or Assumptions.priors()
    setup = _Setup(seed, sample, first, last, dict(start.fitted), rates or measured_rates())
    names = list(free)
    low = np.array([free[n][0] for n in names])
    high = np.array([free[n][1] for n in names])
    x0 = np.array(
        [min(max(start.get(n), lo), hi) for n, lo, hi in zip(names, low, high, strict=True)]
    )
    # Steps of a few percent of each range: small ones would only see the sample's graininess.
    step = 0.04 * (high - low)
    count = 0
    began = time.perf_counter()
    workers = workers or os.cpu_count() or 1

    def values(x: np.ndarray) -> dict[str, float]:
        return dict(zip(names, (float(v) for v in x), strict=True))

    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:

        def residuals(x: np.ndarray) -> np.ndarray:
            nonlocal count
            count += 1
            r = pool.submit(_residuals, setup, values(x)).result()
            if progress:
                progress(count, float(np.sqrt(np.mean(r**2))))
            return r

        def jacobian(x: np.ndarray) -> np.ndarray:
            base = pool.submit(_residuals, setup, values(x))
            moved = []
            for i in range(len(names)):
                y = x.copy()
                # Step inwards from a bound.
                y[i] = x[i] + step[i] if x[i] + step[i] <= high[i] else x[i] - step[i]
                moved.append((y[i] - x[i], pool.submit(_residuals, setup, values(y))))
            r0 = base.result()
            return np.stack([(f.result() - r0) / h for h, f in moved], axis=1)

        if method == "coordinate":
            solution = _pattern_search(
                lambda xs: [pool.submit(_residuals, setup, values(x)) for x in xs],
                x0,
                low,
                high,
                max_evaluations,
                progress,
            )
            count = solution.nfev
        elif method == "least_squares":
            solution = least_squares(
                residuals,
                x0,
                jac=jacobian,
                bounds=(low, high),
                max_nfev=max_evaluations,
                x_scale=high - low,
            )
        else:
            raise InputError("--method", f"least_squares or coordinate, not {method!r}")
    final = _run(setup, values(solution.x))
    rows = evaluate(final)
    record = record_quality(
        final, Assumptions.priors().with_values({**setup.start, **values(solution.x)})
    )
    return Fit(
        record=record,
        values={**setup.start, **values(solution.x)},
        rows=rows,
        evaluations=count,
        seconds=time.perf_counter() - began,
        seed=seed,
        sample=sample,
        span=(first, last),
        converged=bool(solution.success),
        message=str(solution.message),
    )


@dataclass(frozen=True)
class _Solution:
    x: np.ndarray
    success: bool
    message: str
    nfev: int


def _pattern_search(
    submit: Callable[[list[np.ndarray]], list[Any]],
    x0: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    max_evaluations: int,
    progress: Callable[[int, float], None] | None,
) -> _Solution:
    """Minimise the sum of squared residuals by moving one coordinate at a time, up and down
    by a step (a fifth of its range at first, halved after a sweep with no gain); the two
    moves of a coordinate are evaluated together (``submit`` returns futures)."""

    def cost(r: np.ndarray) -> float:
        return float(np.sum(r**2))

    x = x0.copy()
    best = cost(submit([x])[0].result())
    step = 0.2 * (high - low)
    used = 1
    while used + 2 <= max_evaluations and step.max() > 0.01 * (high - low).max():
        gained = False
        for i in range(x.size):
            if used + 2 > max_evaluations:
                break
            moves = []
            for sign in (1.0, -1.0):
                y = x.copy()
                y[i] = min(max(x[i] + sign * step[i], low[i]), high[i])
                moves.append(y)
            costs = [cost(f.result()) for f in submit(moves)]
            used += 2
            k = int(np.argmin(costs))
            if costs[k] < best:
                x, best, gained = moves[k], costs[k], True
            if progress:
                progress(used, float(np.sqrt(best)))
        if not gained:
            step = step / 2
    done = step.max() <= 0.01 * (high - low).max()
    return _Solution(
        x, done, "step below 1% of the range" if done else "evaluations exhausted", used
    )


def write_fit(fit: Fit, path: Path) -> None:
    write_text_atomic(path, fit.to_yaml())


def table_rows(rows: Sequence[Row]) -> list[tuple[str, str, str, str, str]]:
    def fmt(v: float) -> str:
        return f"{v:.1%}" if abs(v) < 1.5 else f"{v:,.0f}"

    out = []
    for r in rows:
        target = ("≥ " if r.target.at_least else "") + fmt(r.target.value)
        out.append(
            (
                r.target.figure,
                target,
                fmt(r.model),
                f"{r.gap:+.1%}",
                "fitted" if r.fitted else "check",
            )
        )
    return out
