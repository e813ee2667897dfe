"""The whole country, month by month, as many Monte Carlo runs and scenarios as asked.

The counties are split into a fixed number of groups of about equal bookings; one *task* is
one group of counties through every month of one run of one scenario, through
:func:`scomm.simulation.engine.simulate_month`. Tasks run in this process, in worker processes
on all cores (the default), or on a Ray cluster. Each task's random numbers come from
``(seed, run, group)`` alone, so the result does not depend on where or in what order tasks
run, and a scenario's run *r* meets the same draws as the baseline's run *r* (common random
numbers: the difference between them is the rules', not the dice's).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from functools import cache
from multiprocessing import get_context

import numpy as np
import polars as pl

from scomm.errors import InputError
from scomm.policies.decisions import LEVEL_CODES
from scomm.population import admissions_rate, noncitizen_share
from scomm.simulation.assumptions import Assumptions, load_assumptions
from scomm.simulation.cohort import OffenseCodes, status_table
from scomm.simulation.engine import OUTPUTS, BiometricRates, Counties, Options, month_outputs
from scomm.simulation.rates import measured_rates
from scomm.simulation.scenarios import Rules, parse_names, rules_for

# The removal outputs: the total, then one per level in LEVEL_CODES' order.
REMOVAL_OUTPUTS = (
    "removals",
    *(f"removals_{level.value}" for level in LEVEL_CODES),
    "ident_removals",
    *(f"ident_removals_{level.value}" for level in LEVEL_CODES),
)
IDENT_REMOVALS = 1 + len(LEVEL_CODES)  # where the removals through S-Comm begin, in the above
REMOVAL_COLUMNS = tuple(OUTPUTS.index(name) for name in REMOVAL_OUTPUTS)
GROUPS = 16  # county groups per run: fixed, so that results do not depend on the cores used
# States whose counties are kept month by month for every run: Pennsylvania's detainers are on
# record facility by facility (scomm.record), so its county-month figures get a 90% interval.
WATCHED_STATES = ("42",)
FIRST_MONTH = "2008-10"  # Secure Communities began on 27 October 2008


def months(first: str, last: str) -> list[np.datetime64]:
    try:
        start, end = np.datetime64(first, "M"), np.datetime64(last, "M")
    except ValueError:
        raise InputError("--from/--to", f"months are YYYY-MM, not {first!r} / {last!r}") from None
    if end < start:
        raise InputError("--from/--to", f"--to {last} is before --from {first}")
    if start < np.datetime64(FIRST_MONTH, "M"):
        raise InputError("--from", f"Secure Communities began in {FIRST_MONTH}; {first} is before")
    return [start + i for i in range(int((end - start).astype(int)) + 1)]


@cache
def county_table() -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[int, np.ndarray]]:
    """FIPS, activation dates, non-citizen shares by year and populations by year."""
    from scomm.jurisdictions.counties import load_jurisdictions

    all_counties = load_jurisdictions().all()
    fips = np.array([c.fips for c in all_counties])
    activation = np.array(
        [
            np.datetime64(c.activation_date, "D") if c.activation_date else np.datetime64("NaT")
            for c in all_counties
        ],
        dtype="datetime64[D]",
    )
    years = range(2008, 2016)
    population = {
        y: np.array([c.population_in(y) for c in all_counties], dtype=np.float64) for y in years
    }
    shares = np.array(
        [[noncitizen_share(c.noncitizen_share_in(y)) for y in years] for c in all_counties]
    )
    return fips, activation, shares, population


def counties_in(year: int, assumptions: Assumptions, index: np.ndarray | None = None) -> Counties:
    """The counties (all, or those at ``index``) as the year's run sees them."""
    fips, activation, shares, population = county_table()
    rows = np.arange(fips.shape[0]) if index is None else index
    y = min(max(year, 2008), 2015)
    return Counties(
        fips[rows],
        population[y][rows],
        activation[rows],
        status_table(shares[rows, y - 2008], dict(assumptions.population["status"])),
    )


def county_groups(population: np.ndarray, groups: int = GROUPS) -> list[np.ndarray]:
    """Counties dealt to ``groups`` groups of about equal population (largest first)."""
    order = np.argsort(-population, kind="stable")
    load = np.zeros(groups)
    members: list[list[int]] = [[] for _ in range(groups)]
    for i in order:
        g = int(np.argmin(load))
        members[g].append(int(i))
        load[g] += population[i]
    return [np.array(sorted(m), dtype=np.int64) for m in members]


@dataclass(frozen=True)
class Task:
    seed: int
    run: int
    group: int
    counties: np.ndarray  # indexes into county_table()
    first: str
    last: str
    scenario: tuple[str, ...]
    fitted: Mapping[str, float]  # the assumptions' values over the priors
    rates: BiometricRates
    options: Options


@cache
def _rules(scenario: tuple[str, ...]) -> Rules:
    return rules_for(parse_names(list(scenario)))


@cache
def _codes() -> OffenseCodes:
    return OffenseCodes.from_table()


def run_task(task: Task) -> tuple[Task, np.ndarray]:
    """One group of counties through every month: outputs [month, county, output]."""
    assumptions = Assumptions.priors().with_values(task.fitted)
    rng = np.random.default_rng(np.random.SeedSequence([task.seed, task.run, task.group]))
    out = run_months(
        rng,
        months(task.first, task.last),
        lambda year: counties_in(year, assumptions, task.counties),
        _rules(task.scenario),
        task.rates,
        assumptions,
        task.options,
    )
    return task, out


def run_months(
    rng: np.random.Generator,
    span: Sequence[np.datetime64],
    counties_of_year: Callable[[int], Counties],
    rules: Rules,
    rates: BiometricRates,
    assumptions: Assumptions,
    options: Options,
    on_month: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Counties through the months of ``span``, one month after the other on one random
    stream: outputs [month, county, output]. ``counties_of_year`` gives the counties as they
    are in a year (population, status mix), asked once per year; ``on_month(m)`` is called as
    month m ends.

    Every output counts in the month of its booking but removals, which count in the month
    they happen, after their proceedings (those after the span's end fall outside it, as they
    fall outside ICE's count for its months)."""
    cached: dict[int, Counties] = {}
    out: np.ndarray | None = None
    removals: np.ndarray | None = None  # [month, county, REMOVAL_OUTPUTS]
    for m, month in enumerate(span):
        year = int(str(month)[:4])
        if year not in cached:
            cached[year] = counties_of_year(year)
        one = month_outputs(
            rng,
            month,
            cached[year],
            admissions_rate(year, int(str(month)[5:7])),
            rules,
            _codes(),
            rates,
            assumptions,
            options,
        )
        if out is None or removals is None:
            out = np.zeros((len(span), *one.sums.shape))
            removals = np.zeros((len(span), one.sums.shape[0], len(REMOVAL_OUTPUTS)))
        out[m] = one.sums
        at = m + one.removal_month
        inside = at < len(span)
        cell = (at[inside] * removals.shape[1] + one.removal_county[inside]) * removals.shape[2]
        flat = removals.reshape(-1)  # a view: the total in column 0, the level after it
        np.add.at(flat, cell, one.weight)
        np.add.at(flat, cell + 1 + one.removal_level[inside], one.weight)
        # ... and the same again for those through S-Comm (IDENT matched).
        matched = one.removal_matched[inside]
        via = cell[matched] + IDENT_REMOVALS
        np.add.at(flat, via, one.weight)
        np.add.at(flat, via + 1 + one.removal_level[inside][matched], one.weight)
        if on_month is not None:
            on_month(m)
    if out is None or removals is None:
        return np.zeros((0, 0, len(OUTPUTS)))
    out[:, :, list(REMOVAL_COLUMNS)] = removals
    return out


@dataclass
class ScenarioRuns:
    """One scenario's runs: national figures by month and county totals for every run, and
    the county-by-month detail of the first run."""

    scenario: str
    months: list[str]
    fips: np.ndarray
    by_month: np.ndarray  # [run, month, output]
    by_county: np.ndarray  # [run, county, output], summed over the months
    detail: np.ndarray  # [month, county, output] of run 0
    # The counties of WATCHED_STATES, by month, for every run: [run, month, watched, output].
    watched: np.ndarray | None = None

    @property
    def watched_index(self) -> np.ndarray:
        return np.flatnonzero(np.isin(self.fips.astype("U2"), WATCHED_STATES))

    @property
    def runs(self) -> int:
        return int(self.by_month.shape[0])

    def month_starts(self) -> np.ndarray:
        return np.array(self.months, dtype="datetime64[M]").astype("datetime64[D]")

    def totals(self, run: int = 0) -> dict[str, float]:
        return {
            name: float(v) for name, v in zip(OUTPUTS, self.by_month[run].sum(axis=0), strict=True)
        }

    def run_totals(self) -> np.ndarray:
        """[run, output]: each run's national totals."""
        return self.by_month.sum(axis=1)

    def frame(self) -> pl.DataFrame:
        """County by month, first run: one row per (month, county), a column per output."""
        n_months, n_counties, _ = self.detail.shape
        return pl.DataFrame(
            {
                "scenario": [self.scenario] * (n_months * n_counties),
                "month": np.repeat(self.month_starts(), n_counties),
                "fips": np.tile(self.fips, n_months),
                "state_fips": np.tile(self.fips.astype("U2"), n_months),
                **{name: self.detail[:, :, k].ravel() for k, name in enumerate(OUTPUTS)},
            }
        )

    def by_state(self) -> pl.DataFrame:
        return (
            self.frame()
            .group_by("scenario", "state_fips", "month")
            .agg(pl.col(name).sum() for name in OUTPUTS)
            .sort("state_fips", "month")
        )

    def watched_monthly(self) -> pl.DataFrame:
        """The watched counties by month, for every run."""
        if self.watched is None:
            raise ValueError("this run kept no watched counties")
        runs, n_months, n_watched, _ = self.watched.shape
        fips = self.fips[self.watched_index]
        return pl.DataFrame(
            {
                "scenario": [self.scenario] * (runs * n_months * n_watched),
                "run": np.repeat(np.arange(runs), n_months * n_watched),
                "month": np.tile(np.repeat(self.month_starts(), n_watched), runs),
                "fips": np.tile(fips, runs * n_months),
                **{name: self.watched[..., k].ravel() for k, name in enumerate(OUTPUTS)},
            }
        )

    def monthly(self) -> pl.DataFrame:
        """National figures by month, for every run."""
        runs, n_months, _ = self.by_month.shape
        return pl.DataFrame(
            {
                "scenario": [self.scenario] * (runs * n_months),
                "run": np.repeat(np.arange(runs), n_months),
                "month": np.tile(self.month_starts(), runs),
                **{name: self.by_month[:, :, k].ravel() for k, name in enumerate(OUTPUTS)},
            }
        )


@dataclass(frozen=True)
class Plan:
    first: str
    last: str
    seed: int
    runs: int = 1
    scenarios: tuple[tuple[str, ...], ...] = (("baseline",),)
    assumptions: Assumptions = field(default_factory=load_assumptions)
    rates: BiometricRates = field(default_factory=measured_rates)
    options: Options = field(default_factory=Options)

    def __post_init__(self) -> None:
        months(self.first, self.last)
        if self.runs < 1:
            raise InputError("--runs", f"at least one run, not {self.runs}")
        for names in self.scenarios:
            parse_names(list(names))

    def tasks(self) -> Iterator[Task]:
        _, _, _, population = county_table()
        groups = county_groups(population[2010])
        for scenario in self.scenarios:
            for run in range(self.runs):
                for g, members in enumerate(groups):
                    yield Task(
                        self.seed,
                        run,
                        g,
                        members,
                        self.first,
                        self.last,
                        scenario,
                        dict(self.assumptions.fitted),
                        self.rates,
                        self.options,
                    )


Progress = Callable[[int, int], None]


def simulate_plan(
    plan: Plan,
    workers: int | None = None,
    ray_address: str | None = None,
    progress: Progress | None = None,
) -> dict[str, ScenarioRuns]:
    """Every task of the plan, gathered by scenario. ``workers``: processes on this machine
    (default: all cores; 1: in this process); ``ray_address``: a Ray cluster instead
    ("local" starts Ray on this machine)."""
    tasks = list(plan.tasks())
    fips, _, _, _ = county_table()
    span = [str(m) for m in months(plan.first, plan.last)]
    watched = np.flatnonzero(np.isin(fips.astype("U2"), WATCHED_STATES))
    # Position of each county among the watched (-1: not watched).
    watched_at = np.full(fips.shape[0], -1)
    watched_at[watched] = np.arange(watched.shape[0])
    results = {
        "+".join(s): ScenarioRuns(
            "+".join(s),
            span,
            fips,
            np.zeros((plan.runs, len(span), len(OUTPUTS))),
            np.zeros((plan.runs, fips.shape[0], len(OUTPUTS))),
            np.zeros((len(span), fips.shape[0], len(OUTPUTS))),
            np.zeros((plan.runs, len(span), watched.shape[0], len(OUTPUTS))),
        )
        for s in plan.scenarios
    }
    # Groups' national sums are kept apart and added in group order at the end, so that the
    # floating-point sum does not depend on which task finished first.
    parts: dict[tuple[str, int, int], np.ndarray] = {}
    for task, out in _execute(tasks, workers, ray_address):
        name = "+".join(task.scenario)
        r = results[name]
        parts[(name, task.run, task.group)] = out.sum(axis=1)
        r.by_county[task.run, task.counties] = out.sum(axis=0)
        if task.run == 0:
            r.detail[:, task.counties] = out
        if r.watched is not None:
            mine = watched_at[task.counties] >= 0
            r.watched[task.run][:, watched_at[task.counties[mine]]] = out[:, mine]
        if progress:
            progress(len(parts), len(tasks))
    for (name, run, _), part in sorted(parts.items()):
        results[name].by_month[run] += part
    return results


def _execute(
    tasks: Sequence[Task], workers: int | None, ray_address: str | None
) -> Iterator[tuple[Task, np.ndarray]]:
    if ray_address is not None:
        yield from _execute_on_ray(tasks, ray_address)
        return
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(tasks) == 1:
        for task in tasks:
            yield run_task(task)
        return
    # Spawned, not forked: the parent may hold Polars' and Numba's threads.
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(run_task, t) for t in tasks]
        for future in as_completed(futures):
            yield future.result()


def _execute_on_ray(tasks: Sequence[Task], address: str) -> Iterator[tuple[Task, np.ndarray]]:
    try:
        import ray
    except ImportError:
        raise InputError("--ray", "Ray is not installed: pip install 'scomm[ray]'") from None
    if not ray.is_initialized():
        ray.init(
            address=None if address == "local" else address,
            include_dashboard=False,
            log_to_driver=False,
        )
    remote = ray.remote(run_task)
    pending = [remote.remote(t) for t in tasks]
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        yield ray.get(ready[0])


def simulate(
    first: str,
    last: str,
    seed: int,
    options: Options | None = None,
    rates: BiometricRates | None = None,
    assumptions: Assumptions | None = None,
    scenario: Sequence[str] = ("baseline",),
    workers: int | None = 1,
    progress: Progress | None = None,
) -> ScenarioRuns:
    """One run of one scenario (by default in this process)."""
    plan = Plan(
        first,
        last,
        seed,
        1,
        (tuple(scenario),),
        assumptions or load_assumptions(),
        rates or measured_rates(),
        options or Options(),
    )
    return next(iter(simulate_plan(plan, workers=workers, progress=progress).values()))
