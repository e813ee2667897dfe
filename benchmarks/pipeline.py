"""Pipeline benchmark: bookings per second end to end, and latency per booking.

A synthetic county's bookings go through every step (SIB, CJIS/IAFIS and IDENT biometric
searches, LESC, ERO, jail, hold clock, transfer, proceedings) on the event store, on SQLite and,
where ``SCOMM_TEST_POSTGRES_URL`` (or ``--postgres URL``) names a server, on PostgreSQL.

- throughput: all bookings queued, one in-process worker runs the queue dry; bookings / wall s.
- latency: bookings submitted one at a time, each run to the end of its pre-release chain
  (booking to the jail's answer) before the next; p50 and p99 of that wall time.

Writes ``benchmarks/results/pipeline.json``.

    python benchmarks/pipeline.py --gallery-size 10000 --bookings 2000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from scomm.pipeline.runner import case_states, process, submit
from scomm.pipeline.summary import summarize
from scomm.pipeline.synthetic import CountyFacts, build
from scomm.store import EventStore

RESULTS = Path(__file__).parent / "results" / "pipeline.json"


def county(bookings: int, days: int) -> CountyFacts:
    # Population sized so that `days` of bookings number about `bookings`.
    per_day = bookings / days
    population = int(per_day * 365 / 0.0379)
    return CountyFacts(
        "04013", "Benchmark County", "AZ", population, 0.2, dt.date(2010, 1, 1), "PHO"
    )


def throughput(url: str, run) -> dict:
    messages = list(run.booking_messages())
    with EventStore.open(url) as store:
        submit(store, messages)
        started = time.perf_counter()
        stats = process(store, run.world, batch=128)
        seconds = time.perf_counter() - started
        counts = summarize(case_states(store, [c for c, _, _ in messages], "benchmark", "figures"))
    return {
        "bookings": len(messages),
        "tasks": stats["done"],
        "failed": stats["failed"],
        "seconds": round(seconds, 3),
        "bookings_per_second": round(len(messages) / seconds, 1),
        "steps_per_second": round(stats["done"] / seconds, 1),
        "ident_matches": counts["ident_matches"],
        "detainers_issued": counts["detainers_issued"],
    }


def latency(url: str, run, samples: int) -> dict:
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
        "--gallery-size", type=int, default=10_000, help="subjects in IDENT and in IAFIS"
    )
    parser.add_argument("--bookings", type=int, default=2000)
    parser.add_argument("--latency-samples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--postgres", default=os.environ.get("SCOMM_TEST_POSTGRES_URL"))
    args = parser.parse_args()

    started = time.perf_counter()
    run = build(
        county(args.bookings, 7), dt.date(2013, 6, 3), 7, args.seed, gallery_size=args.gallery_size
    )
    build_seconds = time.perf_counter() - started
    print(
        f"world: {len(run.bookings)} bookings, IDENT {len(run.world.ident.gallery)} subjects, "
        f"IAFIS {len(run.world.iafis.gallery)} subjects, built in {build_seconds:.1f} s"
    )

    backends = {}
    with tempfile.TemporaryDirectory() as tmp:
        urls = {"sqlite": f"sqlite:///{tmp}/bench.sqlite"}
        if args.postgres:
            urls["postgresql"] = args.postgres
        for name, url in urls.items():
            if name == "postgresql":
                with EventStore.open(url) as store, store.connection(write=True) as conn:
                    conn.exec_driver_sql("TRUNCATE events, tasks, access_log RESTART IDENTITY")
            result = throughput(url, run)
            result["latency_to_jail_answer"] = (
                latency(url.replace("bench.sqlite", "latency.sqlite"), run, args.latency_samples)
                if name == "sqlite"
                else latency(url, run, args.latency_samples)
            )
            backends[name] = result
            print(
                f"{name}: {result['bookings_per_second']} bookings/s "
                f"({result['steps_per_second']} steps/s), p99 latency "
                f"{result['latency_to_jail_answer']['p99_ms']} ms"
            )

    figures = {
        "benchmark": "pipeline",
        "date": dt.date.today().isoformat(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "gallery_subjects": {
            "ident": len(run.world.ident.gallery),
            "iafis": len(run.world.iafis.gallery),
        },
        "fingers_searched": list(run.world.fingers_searched),
        "world_build_seconds": round(build_seconds, 1),
        "backends": backends,
        "target_bookings_per_second": 200,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2))
    print(f"written {RESULTS}")


if __name__ == "__main__":
    main()
