"""Pipeline benchmark: bookings per second end to end, and latency per booking.

A synthetic county's bookings go through every step (SIB, CJIS/IAFIS and IDENT biometric
searches, LESC, ERO, jail, hold clock, transfer, proceedings) on the event store, on SQLite and,
where ``SCOMM_TEST_POSTGRES_URL`` (or ``--postgres URL``) names a server, on PostgreSQL (in a
schema of its own, dropped afterwards).

- throughput: all bookings queued, ``--workers`` worker threads of one process (as `scomm run`
  runs them; each searches its next batch's prints while another writes to the store) run the
  queue dry; bookings / wall s.
  The biometric searches are real: each booking's fingers 2 and 7 are searched against IAFIS
  and IDENT, each holding ``--gallery-size`` people (the county's own records and generated
  others). The figures include how many IAFIS and IDENT matches were the person's own record,
  and how many were someone else's (should be none).
- latency: bookings submitted one at a time, each run to the end of its pre-release chain
  (booking to the jail's answer) before the next, by one worker; p50 and p99 of that wall
  time.

Both measure a running worker: before the clock starts, ``--warmup`` bookings go through a
scratch store once (compiled code loaded from numba's cache, policy files read, the galleries'
screen codes transposed); that warm-up's time is reported as ``warmup_seconds``.

Writes ``benchmarks/results/pipeline.json``.

    python benchmarks/pipeline.py --gallery-size 10000 --bookings 2000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402  (benchmarks/machine.py)
from store import fresh_database  # noqa: E402  (benchmarks/store.py: a schema of its own)

from scomm.pipeline.case import CaseState  # noqa: E402
from scomm.pipeline.runner import case_states, process, submit  # noqa: E402
from scomm.pipeline.summary import summarize  # noqa: E402
from scomm.pipeline.synthetic import CountyFacts, SyntheticRun, build  # noqa: E402
from scomm.store import EventStore  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "pipeline.json"
TARGET = 200  # bookings per second end to end (issue 2)


def county(bookings: int, days: int) -> CountyFacts:
    # Population sized so that `days` of bookings number about `bookings`.
    per_day = bookings / days
    population = int(per_day * 365 / 0.0379)
    return CountyFacts(
        "04013", "Benchmark County", "AZ", population, 0.2, dt.date(2010, 1, 1), "PHO"
    )


def matches(states: list[CaseState], run: SyntheticRun) -> dict[str, int]:
    """IAFIS and IDENT matches against the truth: the person's own record, or someone else's."""
    people = {b.person.person_id: b.person for b in run.bookings}
    out = dict.fromkeys(
        (
            "iafis_records_of_bookees",
            "iafis_matches_own",
            "iafis_matches_other",
            "ident_records_of_bookees",
            "ident_matches_own",
            "ident_matches_other",
        ),
        0,
    )
    for case in states:
        assert case.booking is not None
        person = people[case.booking["truth"]["person_id"]]
        out["iafis_records_of_bookees"] += bool(person.rap_sheet)
        out["ident_records_of_bookees"] += person.in_ident
        if case.cjis and case.cjis.get("match"):
            own = case.cjis["fbi_number"] == f"FBI{person.person_id}"
            out["iafis_matches_own" if own else "iafis_matches_other"] += 1
        if case.ident and case.ident.get("match"):
            own = case.ident["fin"] == f"FIN{person.person_id}"
            out["ident_matches_own" if own else "ident_matches_other"] += 1
    return out


def throughput(url: str, run: SyntheticRun, workers: int) -> dict[str, Any]:
    messages = list(run.booking_messages())
    with EventStore.open(url) as store:
        submit(store, messages)
        started, cpu_started = time.perf_counter(), time.process_time()
        stats = process(store, run.world, batch=128, workers=workers)
        seconds = time.perf_counter() - started
        cpu_seconds = time.process_time() - cpu_started
        states = case_states(store, [c for c, _, _ in messages], "benchmark", "figures")
    counts = summarize(states)
    return {
        "workers": workers,
        "bookings": len(messages),
        "tasks": stats["done"],
        "failed": stats["failed"],
        "seconds": round(seconds, 3),
        "bookings_per_second": round(len(messages) / seconds, 1),
        # This process's CPU time, all its threads (not the PostgreSQL server's): on a
        # machine shared with other work, wall time also counts the waits for a core.
        "cpu_seconds": round(cpu_seconds, 3),
        "bookings_per_cpu_second": round(len(messages) / cpu_seconds, 1),
        "steps_per_second": round(stats["done"] / seconds, 1),
        "detainers_issued": counts["detainers_issued"],
        **matches(states, run),
    }


def latency(url: str, run: SyntheticRun, samples: int) -> dict[str, Any]:
    messages = list(run.booking_messages())[:samples]
    # Only the steps up to the jail's answer: the release, hold and court come days later.
    waits = []
    with EventStore.open(url) as store:
        for case_id, at, payload in messages:
            payload = {**payload, "custody": None}
            started = time.perf_counter()
            submit(store, [(f"latency-{case_id}", at, payload)])
            process(store, run.world, batch=16)
            waits.append(time.perf_counter() - started)
    ms = np.array(waits) * 1000
    return {
        "samples": len(ms),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
        "max_ms": round(float(ms.max()), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--gallery-size", type=int, default=10_000, help="people in IDENT and in IAFIS"
    )
    parser.add_argument("--bookings", type=int, default=2000)
    parser.add_argument("--latency-samples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2, help="worker threads (scomm run's)")
    parser.add_argument("--warmup", type=int, default=20, help="bookings run before timing")
    parser.add_argument("--postgres", default=os.environ.get("SCOMM_TEST_POSTGRES_URL"))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    load_at_start = os.getloadavg()
    started = time.perf_counter()
    run = build(
        county(args.bookings, 7), dt.date(2013, 6, 3), 7, args.seed, gallery_size=args.gallery_size
    )
    build_seconds = time.perf_counter() - started
    print(
        f"world: {len(run.bookings)} bookings, IDENT {len(run.world.ident.gallery)} people, "
        f"IAFIS {len(run.world.iafis.gallery)} people, built in {build_seconds:.1f} s"
    )
    started = time.perf_counter()
    with fresh_database("sqlite", None) as url, EventStore.open(url) as store:
        submit(
            store, [(f"warmup-{c}", at, p) for c, at, p in run.booking_messages()][: args.warmup]
        )
        process(store, run.world)
    run.world._probes.clear()  # the timed runs prepare every booking's prints themselves
    warmup_seconds = time.perf_counter() - started
    print(f"warm-up: {args.warmup} bookings in {warmup_seconds:.1f} s")

    backends = {}
    server = None
    for name in ["sqlite"] + (["postgresql"] if args.postgres else []):
        with fresh_database(name, args.postgres) as url:
            result = throughput(url, run, args.workers)
        with fresh_database(name, args.postgres) as url:
            result["latency_to_jail_answer"] = latency(url, run, args.latency_samples)
            if name == "postgresql":
                with EventStore.open(url) as store, store.connection(write=False) as conn:
                    server = conn.exec_driver_sql("SHOW server_version").scalar()
        backends[name] = result
        print(
            f"{name}: {result['bookings_per_second']} bookings/s "
            f"({result['steps_per_second']} steps/s), p99 latency "
            f"{result['latency_to_jail_answer']['p99_ms']} ms; IDENT matches "
            f"{result['ident_matches_own']} own / {result['ident_matches_other']} other "
            f"(bookees with a record: {result['ident_records_of_bookees']})"
        )

    figures = {
        "benchmark": "pipeline",
        "command": " ".join(["python", "benchmarks/pipeline.py", *sys.argv[1:]]),
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": describe(
            numba_threads=numba.get_num_threads(),
            load_average_at_start=[round(x, 2) for x in load_at_start],
            sqlite=sqlite3.sqlite_version,
            postgresql=server,
        ),
        "gallery_people": {
            "ident": len(run.world.ident.gallery),
            "iafis": len(run.world.iafis.gallery),
        },
        "fingers_searched": list(run.world.fingers_searched),
        "world_build_seconds": round(build_seconds, 1),
        "warmup_bookings": args.warmup,
        "warmup_seconds": round(warmup_seconds, 2),
        "backends": backends,
        "target_bookings_per_second": TARGET,
        "target_met": {k: v["bookings_per_second"] >= TARGET for k, v in backends.items()},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
