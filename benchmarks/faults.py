"""The fault campaign (issue 12): hostile inputs and a broken machine, counted by class.

    python benchmarks/faults.py                      # every part, the default sizes (~15 min)
    python benchmarks/faults.py --parts corpora,gallery --fuzz-cases 2000 --gallery-cases 3000
    python benchmarks/faults.py --kills 100 --pairs 5 --restarts 6 --disk-trials 10 --resume

For every class: ``cases`` tried, ``clean_refusals``, ``tracebacks``, ``hangs``,
``half_writes``, ``lost`` and ``duplicated`` (``null`` where a class cannot have them: an
image refused has nothing to lose), and what is particular to the class. Classes:

- ``corpus_<kind>``: the seeded mutation corpora of tests/fuzz (ANSI/NIST transactions,
  WSQ, PNG, TIFF, policy YAML; ``--fuzz-cases`` each, seed ``--fuzz-seed``), each case run in a
  worker process (tests/fuzz/corpus.py): clean refusal, accepted, traceback, hang (past 10 s),
  crash (the worker died), half-write, unclear refusal (not naming the file).
- ``gallery``: damaged copies of a small gallery (tests/fuzz/gallery.py): refused by name, or
  opened as the intact one; ``lost`` counts galleries opened with fewer subjects.
- ``sigkill_sqlite`` / ``sigkill_postgresql``: a real ``scomm run`` (county ``--county``,
  ``--days``, ``--population``, ``--gallery-size``, on a saved world built once) killed with
  SIGKILL at a seeded moment, run again and killed again (``--kills-per-chain`` times on one
  store: each kill lands in a resuming run; one time in four by the clock, from 0.2 s to
  when the uninterrupted run wrote its first event: start-up, world loading, submission;
  otherwise when the store holds a number of events drawn for the chain: inside the steps),
  then run to its end; lost and duplicated events against an
  uninterrupted run's log, cases with two detainers, half-writes (tasks not finished, a case's
  events cut part-way at a kill, a figures file not the uninterrupted run's, temporary files
  left). ``--kills`` kills per backend; ``cases`` counts the kills.
- ``concurrent_sqlite`` / ``concurrent_postgresql``: ``--pairs`` pairs of processes on one run
  (started together; the later pairs' second process joining part-way): one run's log, and
  every process ends with exit 0 (``processes_failed`` counts those that do not).
- ``pg_restart``: a throwaway PostgreSQL cluster of our own (``pg_createcluster 15 faults
  --port 5442``, dropped after; the shared server is never restarted): restarted mid-run, or
  stopped for ``--down-s`` seconds; the run waits for it and finishes with the log.
- ``full_disk``: the store on a 20 MB tmpfs filled to a random room: a clear error (exit 2),
  nothing half-written, and a rerun with room finishes with the log.
- ``hold_clock``: ``--holds`` seeded holds (starts 2008-2035, one in ten within 12 hours of a
  New Year, every county's zone, a federal 48 h limit beside a local one of 1-48 h counted
  either way): the clock's expiry against the independent walk over local days
  (scomm/policies/hold_check.py); 0 past the limit, 0 refused.

Targets: 0 tracebacks, 0 hangs, 0 half-writes, 0 lost, 0 duplicated, the hold-clock property
holds. Writes ``benchmarks/results/faults.json`` as each part ends (``--resume`` skips parts
measured already with the same settings); ``summary`` adds the classes up. Timings on this
shared 2-core machine are noisy (the load average is recorded with each part).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import faults_outages  # noqa: E402  (benchmarks/faults_outages.py)
import faults_runs  # noqa: E402  (benchmarks/faults_runs.py)
from machine import describe  # noqa: E402  (benchmarks/machine.py)

PARTS = (
    "corpora",
    "gallery",
    "hold_clock",
    "sigkill_sqlite",
    "sigkill_postgresql",
    "concurrent_sqlite",
    "concurrent_postgresql",
    "pg_restart",
    "full_disk",
)
COUNTERS = ("tracebacks", "hangs", "half_writes", "lost", "duplicated")
DEFAULT_POSTGRES = "postgresql://scomm_ci:scomm_ci@localhost:5432/scomm_ci"


# --------------------------------------------------------------------------- inputs


def corpora(count: int, seed: int) -> dict[str, dict[str, Any]]:
    from tests.fuzz.corpus import KINDS, cases, run_cases, tally

    out = {}
    for kind in KINDS:
        outcomes = list(run_cases(cases(kind, count, seed), timeout_s=10.0))
        counts = tally(outcomes)[kind]
        bad = [o for o in outcomes if not o.ok]
        out[f"corpus_{kind}"] = {
            "cases": counts["cases"],
            "clean_refusals": counts["clean_refusal"],
            "accepted": counts["accepted"],
            "tracebacks": counts["traceback"],
            "hangs": counts["hang"],
            "crashes": counts["crash"],
            "unclear_refusals": counts["unclear_refusal"],
            "half_writes": counts["half_write"],
            "lost": None,
            "duplicated": None,
            "slowest_s": counts["slowest_s"],
            "went_wrong": [f"{o.case} [{o.mutation}] {o.result}: {o.message}" for o in bad[:20]],
        }
        print(f"faults: corpus {kind}: {counts}", flush=True)
    return out


def gallery(count: int, seed: int) -> dict[str, Any]:
    from tests.fuzz.gallery import build_original, gallery_tally, run_gallery_cases

    with tempfile.TemporaryDirectory(prefix="scomm-faults-gallery-") as tmp:
        original = build_original(Path(tmp) / "original")
        work = Path(tmp) / "cases"
        work.mkdir()
        outcomes = list(run_gallery_cases(original, work, count, seed))
    counts = gallery_tally(outcomes)
    bad = [o for o in outcomes if not o.ok]
    print(f"faults: gallery: {counts}", flush=True)
    return {
        "cases": counts["cases"],
        "clean_refusals": counts["clean_refusal"],
        "accepted": counts["accepted"],
        "tracebacks": counts["traceback"],
        "hangs": 0,  # run in this process: a hang would stop the benchmark, not be counted
        "unclear_refusals": counts["unclear_refusal"],
        "half_writes": None,
        "lost": counts["fewer_enrolments"],
        "silently_changed": counts["changed"],
        "duplicated": None,
        "slowest_s": counts["slowest_s"],
        "went_wrong": [f"{o.case} [{o.mutation}] {o.result}: {o.message}" for o in bad[:20]],
    }


# --------------------------------------------------------------------------- the hold clock


def hold_clock(holds: int, seed: int) -> dict[str, Any]:
    """The clock against the independent walk on seeded holds: none past any limit, and a
    minute more is past one (the clock gives the whole limit, not less). Besides the uniform
    starts, one in ten starts within twelve hours of a New Year (UTC), where a jail's local
    day is another year's (the clock once refused 2010's first UTC hours in the west)."""
    from scomm.jurisdictions.timezones import time_zone_table
    from scomm.policies.hold_check import over_held_many
    from scomm.policies.hold_clock import OutsideCalendar, earliest_expiry

    rng = np.random.default_rng(seed)
    zones = sorted({c.zone for c in time_zone_table().values()})
    first = np.datetime64("2008-01-01T00:00", "m").astype(np.int64)
    last = np.datetime64("2035-12-31T00:00", "m").astype(np.int64)
    starts = rng.integers(first, last, holds)
    edges = rng.random(holds) < 0.1
    new_years = np.array(
        [np.datetime64(f"{y}-01-01T00:00", "m").astype(np.int64) for y in range(2009, 2036)]
    )
    starts[edges] = rng.choice(new_years, int(edges.sum())) + rng.integers(-720, 720, edges.sum())
    starts = starts.astype("datetime64[m]")
    index = rng.integers(0, len(zones), holds)
    federal = (np.full(holds, 48.0), np.ones(holds, dtype=bool))
    local = (rng.integers(60, 48 * 60 + 1, holds) / 60.0, rng.random(holds) < 0.5)
    limits = [federal, local]
    result: dict[str, Any] = {
        "cases": holds,
        "zones": len(zones),
        "starts": [str(starts.min()), str(starts.max())],
        "within_12_h_of_a_new_year": int(edges.sum()),
        "tracebacks": 0,
        "hangs": 0,
        "half_writes": None,
        "lost": None,
        "duplicated": None,
    }
    started = time.perf_counter()
    try:
        expiry = earliest_expiry(starts, limits, zones, index)
    except OutsideCalendar as exc:  # every start is inside the calendar: a wrong refusal
        result.update(wrongly_refused=str(exc), property_holds=False)
        print(f"faults: hold clock: {result}", flush=True)
        return result
    clock_s = time.perf_counter() - started
    started = time.perf_counter()
    past = over_held_many(starts, expiry, limits, zones, index)
    a_minute_more = over_held_many(starts, expiry + np.timedelta64(1, "m"), limits, zones, index)
    result.update(
        past_the_limit=int(past.sum()),
        short_of_the_limit=int((~a_minute_more).sum()),
        property_holds=bool(not past.any() and a_minute_more.all()),
        clock_s=round(clock_s, 3),
        independent_walk_s=round(time.perf_counter() - started, 1),
    )
    print(f"faults: hold clock: {result}", flush=True)
    return result


# --------------------------------------------------------------------------- the file


def summarize(classes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The counters added over the classes measured; the targets, met or not."""
    totals = {c: sum(v.get(c) or 0 for v in classes.values()) for c in COUNTERS}
    totals["cases"] = sum(v.get("cases") or 0 for v in classes.values())
    extra = {
        "crashes": sum(v.get("crashes") or 0 for v in classes.values()),
        "unclear_refusals": sum(v.get("unclear_refusals") or 0 for v in classes.values()),
        "silently_changed": sum(v.get("silently_changed") or 0 for v in classes.values()),
        "processes_failed": sum(v.get("processes_failed") or 0 for v in classes.values()),
        "cases_with_two_detainers": sum(
            v.get("cases_with_two_detainers") or 0 for v in classes.values()
        ),
    }
    hold = classes.get("hold_clock", {}).get("property_holds")
    not_run = sorted(name for name, v in classes.items() if v.get("not_run"))
    return {
        "classes": sorted(classes),
        **totals,
        **extra,
        "hold_clock_property_holds": hold,
        "not_run": not_run,
        "targets_met": not any(totals[c] for c in COUNTERS)
        and not any(extra.values())
        and hold is not False
        and not not_run,
    }


def _write(path: Path, results: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(results, indent=1))
    tmp.replace(path)


def _settings(part: str, args: argparse.Namespace) -> dict[str, Any]:
    run = {"run": run_args(args)}
    by_part: dict[str, dict[str, Any]] = {
        "corpora": {"cases": args.fuzz_cases, "seed": args.fuzz_seed},
        "gallery": {"cases": args.gallery_cases, "seed": args.fuzz_seed},
        "hold_clock": {"holds": args.holds, "seed": args.seed},
        "sigkill_sqlite": {**run, "kills": args.kills, "chain": args.kills_per_chain},
        "sigkill_postgresql": {**run, "kills": args.kills, "chain": args.kills_per_chain},
        "concurrent_sqlite": {**run, "pairs": args.pairs, "seed": args.seed},
        "concurrent_postgresql": {**run, "pairs": args.pairs, "seed": args.seed},
        "pg_restart": {**run, "restarts": args.restarts, "down_s": args.down_s},
        "full_disk": {**run, "trials": args.disk_trials, "seed": args.seed},
    }
    return by_part[part]


def run_args(args: argparse.Namespace) -> list[str]:
    return [
        "--county", args.county, "--days", str(args.days), "--seed", "2",
        "--gallery-size", str(args.gallery_size), "--population", str(args.population),
        "--workers", "2", "--start", args.start,
    ]  # fmt: skip


def part_classes(part: str, args: argparse.Namespace, ws: faults_runs.Workspace) -> dict:
    """The classes one part measures, by name."""
    if part == "corpora":
        return corpora(args.fuzz_cases, args.fuzz_seed)
    if part == "gallery":
        return {"gallery": gallery(args.gallery_cases, args.fuzz_seed)}
    if part == "hold_clock":
        return {"hold_clock": hold_clock(args.holds, args.seed)}
    backend = part.rsplit("_", 1)[-1]
    if backend == "postgresql" and ws.postgres_url is None:
        return {part: {"not_run": "no PostgreSQL URL (--postgres-url or SCOMM_TEST_POSTGRES_URL)"}}
    try:
        if part.startswith("sigkill_"):
            return {
                part: faults_runs.sigkills(ws, backend, args.kills, args.kills_per_chain, args.seed)
            }
        if part.startswith("concurrent_"):
            return {part: faults_runs.concurrent(ws, backend, args.pairs, args.seed)}
        if part == "pg_restart":
            return {part: faults_outages.pg_restart(ws, args.restarts, args.down_s, args.seed)}
        return {part: faults_outages.full_disk(ws, args.disk_trials, args.seed)}
    except faults_runs.CannotRun as exc:  # the machine does not allow it: said, not hidden
        return {part: {"not_run": str(exc)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", default=",".join(PARTS), help=f"subset of {','.join(PARTS)}")
    parser.add_argument("--resume", action="store_true", help="skip parts measured already")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/faults.json")
    parser.add_argument("--fuzz-cases", type=int, default=200, help="cases per corpus kind")
    parser.add_argument("--fuzz-seed", type=int, default=12)
    parser.add_argument("--gallery-cases", type=int, default=300)
    parser.add_argument("--holds", type=int, default=20_000)
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs per backend")
    parser.add_argument(
        "--kills-per-chain", type=int, default=5, help="killed runs on one store before its end"
    )
    parser.add_argument("--pairs", type=int, default=2, help="pairs of processes per backend")
    parser.add_argument("--restarts", type=int, default=2, help="server restarts (own cluster)")
    parser.add_argument("--down-s", type=float, default=5.0, help="a stopped server's downtime")
    parser.add_argument("--disk-trials", type=int, default=3)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--county", default="48201")
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument(
        "--start", default="2011-10-03", help="a Monday of the mandatory era: detainers issued"
    )
    parser.add_argument("--population", type=int, default=400_000)
    parser.add_argument("--gallery-size", type=int, default=100)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("SCOMM_TEST_POSTGRES_URL", DEFAULT_POSTGRES),
        help="a server to make throwaway schemas on ('' for none)",
    )
    args = parser.parse_args()
    parts = [p for p in args.parts.split(",") if p]
    if unknown := set(parts) - set(PARTS):
        raise SystemExit(f"unknown --parts: {', '.join(sorted(unknown))}")
    command = " ".join([Path(sys.executable).name, *sys.argv])
    with tempfile.TemporaryDirectory(prefix="scomm-faults-") as tmp:
        ws = faults_runs.Workspace(Path(tmp), run_args(args), args.postgres_url or None)
        for part in parts:
            results = json.loads(args.out.read_text()) if args.out.exists() else {}
            settings = _settings(part, args)
            previous = results.get("parts", {}).get(part, {})
            if args.resume and previous.get("settings") == settings:
                print(f"{part}: measured already with these settings ({previous['date_utc']})")
                continue
            started = time.time()
            classes = part_classes(part, args, ws)
            measured = {
                "command": command,
                "machine": describe(),
                "date_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "wall_s": round(time.time() - started, 1),
                "load_average": [round(v, 2) for v in os.getloadavg()],
                "settings": settings,
                "classes": sorted(classes),
            }
            # Into the file as it is now: another run may have written its parts meanwhile.
            results = json.loads(args.out.read_text()) if args.out.exists() else {}
            results.setdefault("parts", {})[part] = measured
            results.setdefault("classes", {}).update(classes)
            results["summary"] = summarize(results["classes"])
            _write(args.out, results)
            print(f"{part}: wrote {args.out} ({measured['wall_s']} s)", flush=True)


if __name__ == "__main__":
    main()
