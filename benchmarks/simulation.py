"""National simulation benchmark: a whole run of the program's history, and the vectorized
engine against the one-booking-at-a-time SimPy reference.

(a) full run: October 2008 to September 2014, every booking in every county, one run of the
    baseline (``simulate_plan(Plan("2008-10", "2014-09", seed=1), workers=None)``: worker
    processes on all cores). Wall time, peak memory (this process and its largest worker, from
    getrusage), bookings simulated. Targets: at most 300 s and 8 GB on a 2-core machine.
(b) per booking: the engine (``simulate_county_engine``) and the reference
    (``simulate_county_reference``) on the same county and months, warm (tables loaded), each
    over several seeds; seconds per booking and the ratio. Target: the engine at least 50x.
    Two counties, because the engine's cost per month has a fixed part (the rules grid, the
    calendar) that a mid-sized county's 1,300 bookings do not amortize and Los Angeles's
    30,000 do, while the reference's cost is per booking whatever the county.

Writes ``benchmarks/results/simulation.json`` as each part ends (``parts_not_run`` names those
still to come; ``--quick``: a short smoke run, written to ``simulation-quick.json`` so it never
replaces the real figures).

    python benchmarks/simulation.py
    python benchmarks/simulation.py --quick
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
from machine import describe  # benchmarks/machine.py

from scomm.simulation.national import Plan, simulate_plan
from scomm.simulation.reference import simulate_county_engine, simulate_county_reference

RESULTS = Path(__file__).parent / "results"
TARGET_SECONDS = 300.0
TARGET_GB = 8.0
TARGET_RATIO = 50.0
# (label, county, first month, last month, seeds): Monterey County, CA, the reference test's
# county and months (about 1,300 bookings a month); Los Angeles County (about 30,000).
COMPARISONS = (
    ("mid_sized", "06053", "2010-06", "2010-09", 10),
    ("large", "06037", "2010-06", "2010-06", 2),
)
QUICK_COMPARISONS = (("mid_sized", "06053", "2010-06", "2010-06", 2),)


def _maxrss_gb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024**2  # Linux reports kilobytes


def _cpu_seconds() -> float:
    """CPU time of this process and its finished workers: under a shared machine's load the
    wall time stretches, the CPU time much less."""
    return sum(
        u.ru_utime + u.ru_stime
        for u in (
            resource.getrusage(resource.RUSAGE_SELF),
            resource.getrusage(resource.RUSAGE_CHILDREN),
        )
    )


def full_run(first: str, last: str, workers: int | None) -> dict:
    load_before = os.getloadavg()
    started, cpu_before = time.perf_counter(), _cpu_seconds()
    results = simulate_plan(Plan(first, last, seed=1), workers=workers)
    seconds = time.perf_counter() - started
    cpu_seconds = _cpu_seconds() - cpu_before
    totals = results["baseline"].totals()
    self_gb = _maxrss_gb(resource.RUSAGE_SELF)
    # RUSAGE_CHILDREN's maxrss is the largest single worker's peak, not their sum: with every
    # worker at that peak at once, the machine held at most this process plus all of them.
    child_gb = _maxrss_gb(resource.RUSAGE_CHILDREN)
    n_workers = workers or os.cpu_count() or 1
    bound_gb = self_gb + (n_workers * child_gb if n_workers > 1 else 0.0)
    bookings = totals["bookings"]
    return {
        "call": f'simulate_plan(Plan("{first}", "{last}", seed=1), workers={workers})',
        "months": len(results["baseline"].months),
        "workers": n_workers,
        "seconds": round(seconds, 1),
        "cpu_seconds": round(cpu_seconds, 1),  # this process and its workers
        "load_average_before": [round(x, 2) for x in load_before],
        "bookings": int(bookings),
        "bookings_per_second": round(bookings / seconds),
        "cpu_microseconds_per_booking": round(seconds * n_workers / bookings * 1e6, 3),
        "peak_rss_gb": {
            "self": round(self_gb, 3),
            "largest_worker": round(child_gb, 3),
            "bound_self_plus_all_workers": round(bound_gb, 3),
        },
        "totals": {k: round(v) for k, v in totals.items()},
        "target_seconds": TARGET_SECONDS,
        "target_gb": TARGET_GB,
        "seconds_target_met": seconds <= TARGET_SECONDS,
        "memory_target_met": bound_gb <= TARGET_GB,
    }


def per_booking(fips: str, first: str, last: str, seeds: int) -> dict:
    # Warm both: the county table, the policy tables and the offense codes load once per
    # process and are not what is measured.
    simulate_county_engine(fips, first, first, 0)
    simulate_county_reference(fips, first, first, 0)
    timings = {}
    # Each model's loop is timed REPEATS times and the fastest kept (timeit's convention: the
    # slower repeats measure what else the machine was doing, not the model).
    for name, simulate, repeats in (
        ("engine", simulate_county_engine, 5),
        ("reference", simulate_county_reference, 2),
    ):
        best = float("inf")
        for _ in range(repeats):
            bookings = 0
            started = time.perf_counter()
            for seed in range(1, seeds + 1):
                bookings += simulate(fips, first, last, seed).bookings_simulated
            best = min(best, time.perf_counter() - started)
        timings[name] = {
            "runs": seeds,
            "repeats": repeats,
            "bookings": bookings,
            "seconds": round(best, 4),
            "microseconds_per_booking": round(best / bookings * 1e6, 3),
        }
    ratio = (
        timings["reference"]["microseconds_per_booking"]
        / timings["engine"]["microseconds_per_booking"]
    )
    return {
        "fips": fips,
        "months": f"{first} to {last}",
        **timings,
        "ratio": round(ratio, 1),
        "target_ratio": TARGET_RATIO,
        "ratio_target_met": ratio >= TARGET_RATIO,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--workers", type=int, default=None, help="default: all cores")
    args = parser.parse_args()

    span = ("2013-01", "2013-02") if args.quick else ("2008-10", "2014-09")
    comparisons = QUICK_COMPARISONS if args.quick else COMPARISONS
    path = RESULTS / ("simulation-quick.json" if args.quick else "simulation.json")
    compare: dict[str, dict] = {}
    figures: dict = {}

    def write(full: dict, parts_left: list[str]) -> None:
        """The figures so far, written as each part ends (a stopped run keeps its parts)."""
        targets = {
            "full_run_seconds": full["seconds_target_met"],
            "full_run_memory": full["memory_target_met"],
            **{f"engine_vs_reference_ratio_{k}": c["ratio_target_met"] for k, c in compare.items()},
        }
        figures.update(
            {
                "benchmark": "simulation",
                "command": "python " + " ".join(sys.argv),
                "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "machine": describe(numpy=np.__version__),
                "quick": args.quick,
                "full_run": full,
                "engine_vs_reference": compare,
                "targets_met": targets,
                "parts_not_run": parts_left,
            }
        )
        RESULTS.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"written {path}", flush=True)

    print(f"(a) full run {span[0]} to {span[1]}, every booking in every county ...", flush=True)
    full = full_run(*span, args.workers)
    print(
        f"    {full['bookings']:,} bookings in {full['seconds']} s "
        f"({full['cpu_seconds']} s CPU; load average {full['load_average_before'][0]} before) "
        f"({full['bookings_per_second']:,}/s on {full['workers']} workers); "
        f"peak RSS {full['peak_rss_gb']['self']} GB here, "
        f"{full['peak_rss_gb']['largest_worker']} GB largest worker, "
        f"at most {full['peak_rss_gb']['bound_self_plus_all_workers']} GB in all"
    )
    print(
        f"    targets: <= {TARGET_SECONDS:.0f} s {'met' if full['seconds_target_met'] else 'MISSED'}"
        f", <= {TARGET_GB:.0f} GB {'met' if full['memory_target_met'] else 'MISSED'}"
    )

    def labels_after(i: int) -> list[str]:
        return [f"engine_vs_reference.{c[0]}" for c in comparisons[i + 1 :]]

    write(full, labels_after(-1))

    for i, (label, fips, first, last, seeds) in enumerate(comparisons):
        print(f"(b) engine vs SimPy reference, {label} county {fips}, {first} to {last}")
        c = compare[label] = per_booking(fips, first, last, seeds)
        for name in ("engine", "reference"):
            t = c[name]
            print(
                f"    {name:9s} {t['microseconds_per_booking']:10.3f} us/booking "
                f"({t['bookings']:,} bookings, {t['runs']} runs, {t['seconds']} s)"
            )
        print(
            f"    ratio {c['ratio']}x (target >= {TARGET_RATIO:.0f}x: "
            f"{'met' if c['ratio_target_met'] else 'MISSED'})"
        )
        write(full, labels_after(i))


if __name__ == "__main__":
    main()
