"""What a national run says: each output with its 90% interval over the Monte Carlo runs, the
difference from the baseline, the headline figures, and the files (JSON, Parquet)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from scomm.files import write_atomic, write_text_atomic
from scomm.simulation.engine import OUTPUTS
from scomm.simulation.national import Plan, ScenarioRuns

BASELINE = "baseline"
INTERVAL = (5.0, 95.0)  # percentiles of the runs: a 90% interval

# Figures derived from the outputs: (numerator outputs, denominator output).
SHARES: dict[str, tuple[tuple[str, ...], str]] = {
    "removals_non_criminal_share": (("removals_non_criminal",), "removals"),
    "removals_non_criminal_or_level_3_share": (
        ("removals_non_criminal", "removals_level_3"),
        "removals",
    ),
    "removals_level_1_share": (("removals_level_1",), "removals"),
    "detainers_declined_share": (("detainers_declined",), "detainers_issued"),
}

# The headline table, in order: the figures the public debate asks about.
HEADLINE = (
    "bookings",
    "submissions_to_ident",
    "ident_matches",
    "detainers_issued",
    "detainers_honored",
    "detainers_declined",
    "holds",
    "hold_bed_days",
    "hold_cost_usd",
    "over_holds",
    "us_citizens_detainers",
    "us_citizens_held",
    "transfers",
    "removals",
    "removals_level_1",
    "removals_level_2",
    "removals_level_3",
    "removals_non_criminal",
    "ident_removals",
    "ident_removals_non_criminal",
    "removals_non_criminal_share",
    "removals_non_criminal_or_level_3_share",
)


@dataclass(frozen=True)
class Estimate:
    """A figure over the runs: its mean and a 90% interval (equal when there is one run)."""

    mean: float
    low: float
    high: float

    @classmethod
    def of(cls, values: np.ndarray) -> Estimate:
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            return cls(math.nan, math.nan, math.nan)
        low, high = np.percentile(finite, INTERVAL)
        return cls(float(finite.mean()), float(low), float(high))

    def to_json(self) -> dict[str, float | None]:
        def clean(v: float) -> float | None:
            return None if math.isnan(v) else round(v, 6)

        return {"mean": clean(self.mean), "p5": clean(self.low), "p95": clean(self.high)}


def figures_by_run(runs: ScenarioRuns) -> dict[str, np.ndarray]:
    """Each output's and share's national total, one value per run."""
    totals = runs.run_totals()
    out = {name: totals[:, k] for k, name in enumerate(OUTPUTS)}
    with np.errstate(invalid="ignore", divide="ignore"):
        for name, (parts, per) in SHARES.items():
            out[name] = sum(out[p] for p in parts) / out[per]
    return out


def estimates(runs: ScenarioRuns) -> dict[str, Estimate]:
    return {name: Estimate.of(v) for name, v in figures_by_run(runs).items()}


def differences(runs: ScenarioRuns, baseline: ScenarioRuns) -> dict[str, Estimate]:
    """Scenario minus baseline, run by run (both runs met the same random numbers)."""
    a, b = figures_by_run(runs), figures_by_run(baseline)
    return {name: Estimate.of(a[name] - b[name]) for name in a}


@dataclass(frozen=True)
class Outcome:
    plan: Plan
    scenarios: dict[str, ScenarioRuns]
    seconds: float

    @property
    def baseline(self) -> ScenarioRuns | None:
        return self.scenarios.get(BASELINE)

    def to_json(self) -> dict[str, Any]:
        p = self.plan
        data: dict[str, Any] = {
            "from": p.first,
            "to": p.last,
            "seed": p.seed,
            "runs": p.runs,
            "interval": "90% (5th to 95th percentile of the runs)",
            "sample": p.options.sample,
            "safeguards": p.options.safeguards,
            "seconds": round(self.seconds, 1),
            "assumptions": dict(p.assumptions.fitted),
            "biometric_rates": {
                "miss_rate": p.rates.miss_rate,
                "false_match_rate": p.rates.false_match_rate,
                "source": p.rates.source,
            },
            "scenarios": {},
        }
        base = self.baseline
        for name, runs in self.scenarios.items():
            entry: dict[str, Any] = {
                "figures": {k: e.to_json() for k, e in estimates(runs).items()},
            }
            if base is not None and name != BASELINE:
                entry["difference_from_baseline"] = {
                    k: e.to_json() for k, e in differences(runs, base).items()
                }
            data["scenarios"][name] = entry
        first = next(iter(self.scenarios))
        data["headline"] = {k: data["scenarios"][first]["figures"][k]["mean"] for k in HEADLINE}
        return data

    def write_json(self, path: Path) -> None:
        write_text_atomic(path, json.dumps(self.to_json(), indent=2))

    def write_parquet(self, directory: Path) -> list[Path]:
        """County by month (first run of each scenario), state by month, nation by month (all
        runs), the watched counties by month (all runs); read back with
        ``polars.read_parquet``."""
        directory.mkdir(parents=True, exist_ok=True)
        frames: dict[str, pl.DataFrame] = {
            "county_month.parquet": pl.concat([r.frame() for r in self.scenarios.values()]),
            "state_month.parquet": pl.concat([r.by_state() for r in self.scenarios.values()]),
            "national_month.parquet": pl.concat([r.monthly() for r in self.scenarios.values()]),
        }
        if all(r.watched is not None for r in self.scenarios.values()):
            # The watched counties (Pennsylvania's) by month for every run: scomm validate.
            frames["watched_month.parquet"] = pl.concat(
                [r.watched_monthly() for r in self.scenarios.values()]
            )
        written = []
        for name, frame in frames.items():
            write_atomic(directory / name, frame.write_parquet)
            written.append(directory / name)
        return written


def format_value(name: str, value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if name.endswith("_share"):
        return f"{value:.1%}"
    if name.endswith("_usd"):
        return f"${value:,.0f}"
    return f"{value:,.0f}"


def format_estimate(name: str, e: Estimate, runs: int) -> str:
    if runs == 1:
        return format_value(name, e.mean)
    return (
        f"{format_value(name, e.mean)} [{format_value(name, e.low)}, {format_value(name, e.high)}]"
    )


def headline_rows(outcome: Outcome) -> list[list[str]]:
    """Rows of the headline table: a figure, then each scenario (and its difference)."""
    base = outcome.baseline
    per = {name: estimates(r) for name, r in outcome.scenarios.items()}
    diff: Mapping[str, dict[str, Estimate]] = {
        name: differences(r, base)
        for name, r in outcome.scenarios.items()
        if base is not None and name != BASELINE
    }
    from scomm.outputs import label

    rows = []
    for key in HEADLINE:
        row = [label(key)]
        for name in outcome.scenarios:
            row.append(format_estimate(key, per[name][key], outcome.plan.runs))
            if name in diff:
                d = diff[name][key]
                sign = "+" if d.mean >= 0 else ""
                row.append(sign + format_estimate(key, d, outcome.plan.runs))
        rows.append(row)
    return rows
