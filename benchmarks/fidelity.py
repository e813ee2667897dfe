"""Fidelity benchmark: the national run against ICE's detainer record and the seeds' figures.

Runs ``--runs`` Monte Carlo runs of the whole country (``simulate_plan``, the packaged
calibration or ``--assumptions``) and sets each figure beside the record with the model's 90%
interval over the runs (5th to 95th percentile). The targets (issue 11):

- national detainers by month within ±15% in at least 80% of the months from October 2009 on;
- every fiscal year within ±10%;
- "Detainer Declined by LEA" by calendar year within ±25%;
- the seeds' figures (``scomm/simulation/targets.yaml``) as fitted.

Figures not fitted (the calendar-year file, US citizens, Pennsylvania county by county,
Philadelphia, the seeds' county checks) are kept apart under ``checks``. Each part is written
to ``benchmarks/results/fidelity.json`` as soon as it ends (``--quick``: a short smoke run
written to ``fidelity-quick.json``).

    python benchmarks/fidelity.py --runs 10
    python benchmarks/fidelity.py --quick

Timings depend on the machine and its load (the project's machines are shared): the seconds
are what this run took, not a property of the code alone.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from machine import describe  # benchmarks/machine.py

from scomm.record.series import Comparison, ModelSeries, compare, gaps_by_year
from scomm.simulation.assumptions import load_assumptions
from scomm.simulation.calibration import Target, targets
from scomm.simulation.engine import OUTPUTS, Options
from scomm.simulation.national import Plan, ScenarioRuns, simulate_plan
from scomm.simulation.rates import measured_rates

RESULTS = Path(__file__).parent / "results"
MONTHLY_FROM = "2009-10"
MONTHLY_TOLERANCE, MONTHLY_SHARE = 0.15, 0.80
FISCAL_TOLERANCE = 0.10
DECLINED_TOLERANCE = 0.25
MIN_RUNS = 10


def _interval(values: np.ndarray) -> dict[str, float | None]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return {"mean": None, "p5": None, "p95": None}
    low, high = np.percentile(finite, (5, 95))
    return {"mean": float(finite.mean()), "p5": float(low), "p95": float(high)}


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 4)
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_round(v) for v in value]
    return value


def target_by_run(target: Target, runs: ScenarioRuns) -> tuple[np.ndarray, str]:
    """A seeds' figure per run: national measures from every run's monthly totals; a county's
    or a state's from the first run only (the runs keep county detail for run 0)."""
    m = target.measure
    months = np.array(runs.months, dtype="datetime64[M]")
    inside = (months >= np.datetime64(m.start, "M")) & (months <= np.datetime64(m.end, "M"))
    if m.fips is None:
        cells = runs.by_month[:, inside]  # [run, month, output]

        def total(name: str) -> np.ndarray:
            return np.asarray(cells[:, :, OUTPUTS.index(name)].sum(axis=1))

        value = sum((total(n) for n in m.outputs()), np.zeros(runs.runs))
        if m.per is not None:
            with np.errstate(invalid="ignore", divide="ignore"):
                value = value / total(m.per)
        return value, f"{runs.runs} runs"
    return np.array([m.of(runs)]), "first run only (county detail)"


def seeds_figures(runs: ScenarioRuns) -> dict[str, list[dict[str, Any]]]:
    fitted, checks = targets()
    out: dict[str, list[dict[str, Any]]] = {"fitted": [], "checks": []}
    for group, items in (("fitted", fitted), ("checks", checks)):
        for t in items:
            values, over = target_by_run(t, runs)
            est = _interval(values)
            mean = est["mean"]
            gap = t.residual(mean) if mean is not None else float("nan")
            met = mean is not None and (gap == 0.0 if t.at_least else abs(gap) <= 0.15)
            out[group].append(
                {
                    "name": t.name,
                    "figure": t.figure,
                    "target": t.value,
                    "at_least": t.at_least,
                    "plausible_max": t.plausible_max,
                    **est,
                    "interval_over": over,
                    "gap": gap,
                    "within_15_percent": met,
                    "source": t.source,
                }
            )
    return out


def _rows(c: Comparison) -> list[dict[str, Any]]:
    return [r.to_json() for r in c.rows]


def record_figures(model: ModelSeries) -> dict[str, Any]:
    by_key = {c.key: c for c in compare(model)}
    monthly = by_key["national_by_month"]
    judged = [r for r in monthly.rows if r.period >= MONTHLY_FROM]
    within = sum(r.within(MONTHLY_TOLERANCE) for r in judged)
    fiscal = by_key["national_by_fiscal_year"]
    declined = by_key["declined_by_year"]
    figures: dict[str, Any] = {
        "national_by_month": {
            "months_judged": f"{judged[0].period} to {judged[-1].period}" if judged else None,
            "months": len(judged),
            "months_within_15_percent": within,
            "share_within_15_percent": within / len(judged) if judged else None,
            "target": f">= {MONTHLY_SHARE:.0%} of months within ±{MONTHLY_TOLERANCE:.0%}",
            "met": bool(judged) and within / len(judged) >= MONTHLY_SHARE,
            "model_outputs": list(monthly.model_outputs),
            "rows": _rows(monthly),
        },
        "national_by_fiscal_year": {
            "target": f"every fiscal year within ±{FISCAL_TOLERANCE:.0%}",
            "met": bool(fiscal.rows) and all(r.within(FISCAL_TOLERANCE) for r in fiscal.rows),
            "rows": _rows(fiscal),
        },
        "declined_by_year": {
            "target": f"every calendar year within ±{DECLINED_TOLERANCE:.0%}",
            "met": bool(declined.rows) and all(r.within(DECLINED_TOLERANCE) for r in declined.rows),
            "note": "the record's counts by lift reason are floors: about half its detainers "
            "carry no reason",
            "rows": _rows(declined),
        },
    }
    fitted_too = ("booked_share_by_year", "pennsylvania_by_month", "booked_by_year")
    checks = (
        "national_by_year",
        "us_citizens_by_year",
        "declined_share_by_year",
        "philadelphia_booked_by_month",
    )

    def series_gaps(keys: tuple[str, ...]) -> dict[str, object]:
        return {
            k: {
                "share_within_tolerance": by_key[k].within_share,
                "tolerance": by_key[k].tolerance,
                "by_year": [g.to_json() for g in gaps_by_year(by_key[k])],
            }
            for k in keys
            if k in by_key
        }

    figures["other_fitted_series"] = series_gaps(fitted_too)
    figures["checks"] = series_gaps(checks)
    if "pennsylvania_county_month" in by_key:
        pa = by_key["pennsylvania_county_month"]
        inside = sum(r.low <= r.real <= r.high for r in pa.rows)
        figures["checks"]["pennsylvania_county_month"] = {
            "rows": len(pa.rows),
            "share_record_inside_model_interval": inside / len(pa.rows) if pa.rows else None,
            "by_year": [g.to_json() for g in gaps_by_year(pa)],
        }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--runs", type=int, default=MIN_RUNS)
    parser.add_argument("--sample", type=float, default=1.0, help="share of bookings simulated")
    parser.add_argument("--workers", type=int, default=None, help="default: all cores")
    parser.add_argument("--assumptions", type=Path, default=None, help="a calibration file")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    first, last = ("2013-10", "2014-09") if args.quick else ("2008-10", "2014-09")
    runs_n = 2 if args.quick else args.runs
    sample = 0.01 if args.quick else args.sample
    path = RESULTS / ("fidelity-quick.json" if args.quick else "fidelity.json")
    RESULTS.mkdir(parents=True, exist_ok=True)
    assumptions = load_assumptions(args.assumptions)
    out: dict[str, Any] = {
        "benchmark": "fidelity",
        "command": "python " + " ".join(sys.argv),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": describe(numpy=np.__version__),
        "quick": args.quick,
        "span": [first, last],
        "runs": runs_n,
        "sample": sample,
        "interval": "90% (5th to 95th percentile of the runs)",
        "assumptions": str(args.assumptions or "the package's calibrated.yaml"),
        "parts_done": [],
    }

    def write() -> None:
        path.write_text(json.dumps(_round(out), indent=1) + "\n")

    print(f"(a) {runs_n} national runs {first} to {last}, sample {sample} ...", flush=True)
    began = time.perf_counter()
    plan = Plan(
        first,
        last,
        args.seed,
        runs_n,
        (("baseline",),),
        assumptions,
        measured_rates(),
        Options(sample=sample),
    )
    runs = simulate_plan(plan, workers=args.workers)["baseline"]
    seconds = time.perf_counter() - began
    out["run"] = {
        "seconds": round(seconds, 1),
        "seconds_per_run": round(seconds / runs_n, 1),
        "bookings_per_run": round(float(runs.run_totals()[:, OUTPUTS.index("bookings")].mean())),
    }
    out["parts_done"].append("run")
    write()
    print(f"    {seconds:.0f} s", flush=True)

    print("(b) ICE's detainer record ...", flush=True)
    out["record"] = record_figures(ModelSeries.from_runs(runs, assumptions.practice))
    out["parts_done"].append("record")
    write()

    print("(c) the seeds' figures ...", flush=True)
    out["seeds"] = seeds_figures(runs)
    out["parts_done"].append("seeds")
    rec = out["record"]
    out["targets_met"] = {
        "national_by_month": rec["national_by_month"]["met"],
        "national_by_fiscal_year": rec["national_by_fiscal_year"]["met"],
        "declined_by_year": rec["declined_by_year"]["met"],
        "seeds_fitted_within_15_percent": all(
            f["within_15_percent"] for f in out["seeds"]["fitted"]
        ),
        "runs_at_least_10": runs_n >= MIN_RUNS,
    }
    write()
    for key, met in out["targets_met"].items():
        print(f"    {key}: {'met' if met else 'MISSED'}")
    m = rec["national_by_month"]
    print(
        f"    monthly: {m['months_within_15_percent']}/{m['months']} months within ±15% "
        f"from {MONTHLY_FROM}"
    )
    print(f"written {path}")


if __name__ == "__main__":
    main()
