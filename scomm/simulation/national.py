"""The whole country, month by month: counties from the jurisdictions data, every booking
through :func:`scomm.simulation.engine.simulate_month`, outputs by county and month."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

from scomm.policies.tables import PolicyTables
from scomm.population import admissions_per_capita, noncitizen_share
from scomm.simulation.cohort import OffenseCodes, status_table
from scomm.simulation.engine import OUTPUTS, BiometricRates, Counties, Options, simulate_month

# Until the biometric benchmark's measured operating point is wired in, these are the engine's
# FVC2002-based figures at a 0.1% false-positive identification rate (see biometrics.json).
DEFAULT_RATES = BiometricRates(miss_rate=0.02, false_match_rate=0.001)


@dataclass(frozen=True)
class NationalRun:
    frame: pl.DataFrame  # one row per county and month, a column per output

    def totals(self) -> dict[str, float]:
        return {name: float(self.frame[name].sum()) for name in OUTPUTS}


def counties_in(year: int) -> Counties:
    from scomm.jurisdictions.counties import load_jurisdictions

    all_counties = load_jurisdictions().all()
    fips = np.array([c.fips for c in all_counties])
    population = np.array([c.population_in(year) for c in all_counties], dtype=np.float64)
    shares = np.array(
        [noncitizen_share(c.noncitizen_share_in(year)) for c in all_counties], dtype=np.float64
    )
    activation = np.array(
        [
            np.datetime64(c.activation_date, "D") if c.activation_date else np.datetime64("NaT")
            for c in all_counties
        ],
        dtype="datetime64[D]",
    )
    return Counties(fips, population, activation, status_table(shares))


def months(first: str, last: str) -> list[np.datetime64]:
    start, end = np.datetime64(first, "M"), np.datetime64(last, "M")
    if end < start:
        raise ValueError(f"--to {last} is before --from {first}")
    return [start + i for i in range(int((end - start).astype(int)) + 1)]


def simulate(
    first: str,
    last: str,
    seed: int,
    options: Options | None = None,
    rates: BiometricRates = DEFAULT_RATES,
    progress: Callable[[int, int], None] | None = None,
) -> NationalRun:
    options = options or Options()
    tables = PolicyTables.load()
    codes = OffenseCodes.from_table()
    rng = np.random.default_rng(seed)
    frames = []
    cached: dict[int, Counties] = {}
    span = months(first, last)
    for i, month in enumerate(span):
        year = int(str(month)[:4])
        if year not in cached:
            cached[year] = counties_in(year)
        counties = cached[year]
        out = simulate_month(
            rng, month, counties, admissions_per_capita(year), tables, codes, rates, options
        )
        frames.append(
            pl.DataFrame(
                {
                    "month": [dt.date.fromisoformat(f"{month}-01")] * counties.fips.shape[0],
                    "fips": counties.fips,
                    **out,
                }
            )
        )
        if progress:
            progress(i + 1, len(span))
    return NationalRun(pl.concat(frames))
