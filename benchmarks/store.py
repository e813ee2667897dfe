"""Throughput of the event store's work queue with a trivial handler, on SQLite and PostgreSQL.

Each synthetic booking is a chain of eight steps; each step appends one event and enqueues the
next, in the worker's transaction, exactly as the pipeline does (case history read and its read
logged included). What is left is the cost of the store itself: the pipeline's target is 200
bookings/s end to end (about 1,600 tasks/s), so the store alone must be well above that.

    python benchmarks/store.py [--bookings 2000] [--batch 128] [--workers 1 2]
                               [--postgres postgresql://USER:PW@HOST/DB]

PostgreSQL is measured when ``--postgres`` or ``SCOMM_TEST_POSTGRES_URL`` names a server (in a
schema of its own, dropped afterwards). Results go to ``benchmarks/results/store.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import os
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy  # noqa: E402
from machine import describe  # noqa: E402  (benchmarks/machine.py)
from sqlalchemy import create_engine  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from scomm.store import EventStore, Fact, HandlerResult, NewEvent, NextTask, Task, run_worker  # noqa: E402
from scomm.store.queue import counts  # noqa: E402

FLOW = (
    "booking", "sib.route", "cjis.search", "ident.search",
    "lesc.iar", "ero.decision", "jail.detainer", "outcome",
)  # fmt: skip
T0 = dt.datetime(2013, 6, 1, 8, 30, tzinfo=dt.UTC)
RESULTS = ROOT / "benchmarks" / "results" / "store.json"


def step(task: Task, history: Sequence[Fact]) -> HandlerResult:
    at = FLOW.index(task.step)
    event = NewEvent(
        task.case_id, task.step, "SIB", T0 + dt.timedelta(minutes=at),
        {"county_fips": "06037", "n": len(history)}, "8 CFR 287.7",
    )  # fmt: skip
    return HandlerResult((event,), (NextTask(FLOW[at + 1]),) if at + 1 < len(FLOW) else ())


def _worker(url: str, name: str, batch: int, go: Any) -> None:
    with EventStore.open(url) as store:
        go.wait()
        run_worker(store, dict.fromkeys(FLOW, step), worker=name, batch=batch)


@contextmanager
def fresh_database(backend: str, postgres: str | None) -> Iterator[str]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/bench.sqlite"
        return
    assert postgres
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(
        make_url(postgres).set(drivername="postgresql+psycopg"), poolclass=NullPool
    )
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        yield (
            make_url(postgres)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


def measure(
    backend: str, postgres: str | None, bookings: int, batch: int, workers: int
) -> dict[str, Any]:
    with fresh_database(backend, postgres) as url, EventStore.open(url) as store:
        started = time.perf_counter()
        with store.write() as tx:
            for i in range(bookings):
                tx.enqueue(f"06037-{i:07d}", "booking", {"county_fips": "06037"})
        enqueue_s = time.perf_counter() - started

        ctx = mp.get_context("spawn")
        go = ctx.Event()
        procs = [
            ctx.Process(target=_worker, args=(url, f"w{i}", batch, go)) for i in range(workers)
        ]
        for p in procs:
            p.start()
        time.sleep(3.0)  # let every worker import and open the store before the clock starts
        started = time.perf_counter()
        go.set()
        for p in procs:
            p.join()
        seconds = time.perf_counter() - started
        tally = counts(store)
        tasks = bookings * len(FLOW)
        if tally != {"pending": 0, "done": tasks, "failed": 0} or any(p.exitcode for p in procs):
            raise SystemExit(f"{backend}: the run did not finish cleanly: {tally}")
        return {
            "backend": backend,
            "workers": workers,
            "batch": batch,
            "bookings": bookings,
            "steps_per_booking": len(FLOW),
            "tasks": tasks,
            "enqueue_seconds": round(enqueue_s, 3),
            "seconds": round(seconds, 3),
            "tasks_per_s": round(tasks / seconds, 1),
            "bookings_per_s": round(bookings / seconds, 1),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bookings", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--postgres", default=os.environ.get("SCOMM_TEST_POSTGRES_URL"))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    backends = ["sqlite"] + (["postgresql"] if args.postgres else [])
    runs = []
    for backend in backends:
        for workers in args.workers:
            run = measure(backend, args.postgres, args.bookings, args.batch, workers)
            print(json.dumps(run))
            runs.append(run)
    server = None
    if args.postgres:
        # Asked on a bare connection: opening a store would create tables where it points.
        admin = create_engine(
            make_url(args.postgres).set(drivername="postgresql+psycopg"), poolclass=NullPool
        )
        with admin.connect() as conn:
            server = conn.exec_driver_sql("SHOW server_version").scalar()
        admin.dispose()
    report = {
        "command": " ".join(["python", "benchmarks/store.py", *sys.argv[1:]]),
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": describe(
            sqlalchemy=sqlalchemy.__version__, sqlite=sqlite3.sqlite_version, postgresql=server
        ),
        "note": "trivial handler: the cost of the store alone (claim, history read and its "
        "access log, event append, next enqueue, done), one transaction per batch",
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
