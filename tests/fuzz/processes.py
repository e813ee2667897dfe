"""Real ``scomm`` processes and what they left in the event store: the helpers of the fault
campaign (``benchmarks/faults.py``) and of the tests that kill, double or starve a run
(``tests/test_pipeline_safety.py``).

What a run leaves is compared as the *event log* (:func:`event_log`): what each event says,
ids and wall times aside, as a multiset, the same whichever backend holds it. Against an
uninterrupted run's log, :func:`compare` counts the events lost and those written twice;
:func:`store_findings` looks for what a half-done run would leave (a task never finished, a
case whose events skip a number, a case given two detainers, more than one run).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from scomm.store import EventStore

ROOT = Path(__file__).resolve().parents[2]
DETAINER_STEP = "detainer.issued"
# The figures of `scomm run --json` that depend on the store only (not on who did the work,
# nor how fast).
RUN_FIGURES = ("run_id", "counts", "cases")


def scomm_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "scomm", *args]


def scomm_env(**extra: str) -> dict[str, str]:
    """The environment of a ``scomm`` subprocess: this checkout's code first."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, **extra}


@contextmanager
def postgres_schema(base: str, prefix: str) -> Iterator[str]:
    """A fresh schema ``PREFIX_<random>`` on the server of ``base``, dropped after: the URL it
    yields makes every connection (of this process or a subprocess) land in it."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(_driver_url(base), poolclass=NullPool)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.dispose()


def event_log(url: str) -> Counter[tuple[Any, ...]]:
    """The log as a multiset of what each event says (ids and wall times aside), the same
    whichever backend holds it."""
    with EventStore.open(url) as store, store.connection(write=False) as conn:
        rows = conn.exec_driver_sql(
            "SELECT case_id, seq, step, actor, occurred_at, payload, legal_basis FROM events"
        ).all()
    log: Counter[tuple[Any, ...]] = Counter()
    for case_id, seq, step, actor, at, payload, basis in rows:
        when = dt.datetime.fromisoformat(at) if isinstance(at, str) else at
        body = json.loads(payload) if isinstance(payload, str) else payload
        log[(case_id, seq, step, actor, when.astimezone(dt.UTC).isoformat(),
             json.dumps(body, sort_keys=True), basis)] += 1  # fmt: skip
    return log


def compare(reference: Counter[tuple[Any, ...]], got: Counter[tuple[Any, ...]]) -> dict[str, int]:
    """Events of ``reference`` missing from ``got`` (lost) and events of ``got`` beyond the
    reference's (duplicated: written twice, or never written by the uninterrupted run)."""
    return {
        "events": sum(got.values()),
        "lost": sum((reference - got).values()),
        "duplicated": sum((got - reference).values()),
    }


def detainers_per_case(log: Counter[tuple[Any, ...]]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for key, n in log.items():
        if key[2] == DETAINER_STEP:
            counts[key[0]] += n
    return counts


def cases_with_two_detainers(log: Counter[tuple[Any, ...]]) -> int:
    return sum(1 for n in detainers_per_case(log).values() if n > 1)


def store_findings(url: str) -> dict[str, int]:
    """What a half-done run leaves in the store: tasks not finished (pending, claimed or
    failed), cases whose event numbers are not 1..n, and the number of runs recorded."""
    log = event_log(url)
    seqs: dict[str, list[int]] = {}
    for key, n in log.items():
        seqs.setdefault(key[0], []).extend([key[1]] * n)
    gaps = sum(1 for s in seqs.values() if sorted(s) != list(range(1, len(s) + 1)))
    with EventStore.open(url) as store, store.connection(write=False) as conn:
        tasks: dict[str, int] = {
            str(status): int(n)
            for status, n in conn.exec_driver_sql(
                "SELECT status, count(*) FROM tasks GROUP BY status"
            ).all()
        }
        runs = conn.exec_driver_sql("SELECT count(*) FROM runs").scalar() or 0
    return {
        "tasks_unfinished": sum(n for status, n in tasks.items() if status != "done"),
        "cases_with_seq_gaps": gaps,
        "cases_with_two_detainers": cases_with_two_detainers(log),
        "runs_recorded": int(runs),
    }


def count_events(url: str) -> int:
    """Events in the store now, read without opening it as a store (no schema is created; 0
    while the run has not made its tables yet)."""
    engine = create_engine(_driver_url(url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM events")).scalar() or 0)
    except SQLAlchemyError:
        return 0
    finally:
        engine.dispose()


def _driver_url(url: str) -> str:
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def run_figures(path: Path) -> dict[str, Any] | None:
    """The store-only figures of a `scomm run --json` file, or None if it is not valid JSON
    (a half-written file)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return {key: data.get(key) for key in RUN_FIGURES}


def stray_files(directory: Path, keep: set[str]) -> list[str]:
    """Files in ``directory`` (not below) other than ``keep`` and the SQLite store's own: a
    temporary file of an atomic write left behind, say."""
    sqlite = ("-wal", "-shm", "-journal")
    return sorted(
        p.name
        for p in directory.iterdir()
        if p.name not in keep and not any(p.name.endswith(s) for s in sqlite)
        and not p.name.endswith(".sqlite")
    )  # fmt: skip
