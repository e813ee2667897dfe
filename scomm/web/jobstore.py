"""What-if jobs in the event store's database (SQLite by default, PostgreSQL by the same URL),
so that every server process (``scomm serve --workers N``) sees the same jobs, and a restart
keeps them and their results.

A job is a row. Whoever asks a question inserts it (``queued``) unless the question is already
answered or under way; any server process may claim it, and exactly one does: the claim is an
``UPDATE ... WHERE status = 'queued'`` that only one transaction can win. The claimant writes
its progress and a heartbeat as the job runs; a ``running`` job whose heartbeat stops (its
process was killed) is marked failed with a message by the next reader, and asking the
question again runs it anew (the next *attempt* of the same question).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from scomm.errors import InputError
from scomm.store.events import EventStore
from scomm.store.schema import create_tables

# A running job whose process has said nothing for this long is taken for dead.
STALE_S = 30.0
HEARTBEAT_S = 2.0
STATUSES = ("queued", "running", "done", "failed")

metadata = MetaData()

web_jobs = Table(
    "web_whatif_jobs",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("question_key", String(16), nullable=False),
    Column("attempt", Integer, nullable=False),  # 1, then 2... after a failure
    Column("question", Text, nullable=False),  # JSON of the Question
    Column("draft_text", Text, nullable=True),  # the draft policy it runs, if any
    Column("status", String(8), nullable=False),
    Column("progress", Float, nullable=False),
    Column("error", Text, nullable=True),
    Column("result", Text, nullable=True),  # JSON
    Column("submitted_at", Float, nullable=False),  # seconds since the epoch
    Column("started_at", Float, nullable=True),
    Column("heartbeat_at", Float, nullable=True),
    Column("seconds", Float, nullable=True),
    Column("worker", String(96), nullable=True),  # the claimant: host:pid:random
    UniqueConstraint("question_key", "attempt", name="web_whatif_jobs_attempt"),
    Index("web_whatif_jobs_status", "status", "submitted_at"),
)


@dataclass(frozen=True)
class JobRow:
    """A job as the table holds it (the question as a dict: the caller knows its type)."""

    id: str
    question: dict[str, Any]
    status: str
    progress: float
    error: str | None
    result: dict[str, Any] | None
    submitted: float
    seconds: float | None
    worker: str | None
    draft_text: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "question": self.question,
            "status": self.status,
            "progress": round(self.progress, 3),
            "error": self.error,
            "seconds": self.seconds,
            "result": self.result,
        }


def _row(r: Any) -> JobRow:
    return JobRow(
        r.id,
        json.loads(r.question),
        r.status,
        float(r.progress),
        r.error,
        json.loads(r.result) if r.result is not None else None,
        float(r.submitted_at),
        r.seconds,
        r.worker,
        r.draft_text,
    )


def ensure_table(store: EventStore) -> None:
    """Create the table if absent (server processes starting together take turns)."""
    with store.connection(write=True) as conn:
        create_tables(conn, metadata)


class JobStore:
    """The jobs table of one store."""

    def __init__(self, store: EventStore, stale_s: float = STALE_S) -> None:
        self.store = store
        self.stale_s = stale_s
        ensure_table(store)

    # -- asking

    def submit(self, key: str, question: Mapping[str, Any], draft_text: str | None) -> JobRow:
        """The job of this question: the one answered or under way, else a new queued one."""
        self.reap()
        for _ in range(3):
            latest = self.latest(key)
            if latest is not None and latest.status != "failed":
                return latest
            attempt = 1 if latest is None else self._attempt(latest.id) + 1
            job_id = uuid.uuid4().hex[:12]
            try:
                with self.store.connection(write=True) as conn:
                    conn.execute(
                        web_jobs.insert().values(
                            id=job_id, question_key=key, attempt=attempt,
                            question=json.dumps(dict(question), sort_keys=True),
                            draft_text=draft_text, status="queued", progress=0.0,
                            submitted_at=time.time(),
                        )
                    )  # fmt: skip
            except IntegrityError:
                continue  # another process asked the same question at the same moment
            return self.get(job_id)
        raise RuntimeError(f"could not queue the what-if {key} (asked too often at once)")

    def _attempt(self, job_id: str) -> int:
        with self.store.connection(write=False) as conn:
            return int(
                conn.execute(select(web_jobs.c.attempt).where(web_jobs.c.id == job_id)).scalar_one()
            )

    def latest(self, key: str) -> JobRow | None:
        with self.store.connection(write=False) as conn:
            r = conn.execute(
                select(web_jobs)
                .where(web_jobs.c.question_key == key)
                .order_by(web_jobs.c.attempt.desc())
                .limit(1)
            ).first()
        return _row(r) if r is not None else None

    def get(self, job_id: str) -> JobRow:
        self.reap()
        with self.store.connection(write=False) as conn:
            r = conn.execute(select(web_jobs).where(web_jobs.c.id == job_id)).first()
        if r is None:
            raise InputError(f"what-if job {job_id}", "no such job")
        return _row(r)

    # -- running (the claimant's side: every write names the claimant, so a job reaped as
    # dead and asked again is never overwritten by a claimant that comes back to life)

    def claim(self, worker: str) -> JobRow | None:
        """The oldest queued job, now running under ``worker``; None if there is none."""
        for _ in range(5):
            with self.store.connection(write=False) as conn:
                job_id = conn.execute(
                    select(web_jobs.c.id)
                    .where(web_jobs.c.status == "queued")
                    .order_by(web_jobs.c.submitted_at)
                    .limit(1)
                ).scalar()
            if job_id is None:
                return None
            now = time.time()
            with self.store.connection(write=True) as conn:
                won = conn.execute(
                    update(web_jobs)
                    .where(web_jobs.c.id == job_id, web_jobs.c.status == "queued")
                    .values(status="running", worker=worker, started_at=now, heartbeat_at=now)
                ).rowcount
            if won == 1:
                return self.get(job_id)
        return None  # others keep winning: try at the next poll

    def beat(self, job_id: str, worker: str, progress: float | None = None) -> None:
        values: dict[str, Any] = {"heartbeat_at": time.time()}
        if progress is not None:
            values["progress"] = progress
        self._as_claimant(job_id, worker, values)

    def finish(self, job_id: str, worker: str, status: str, value: Any, seconds: float) -> None:
        """``done`` with the result, or ``failed`` with the message."""
        values: dict[str, Any] = {"status": status, "seconds": round(seconds, 2)}
        if status == "done":
            values |= {"result": json.dumps(value), "progress": 1.0}
        else:
            values["error"] = str(value)
        self._as_claimant(job_id, worker, values)

    def give_back(self, worker: str) -> int:
        """Jobs ``worker`` runs back to the queue (the server stops in order): another
        process, or this one restarted, runs them."""
        with self.store.connection(write=True) as conn:
            return int(
                conn.execute(
                    update(web_jobs)
                    .where(web_jobs.c.worker == worker, web_jobs.c.status == "running")
                    .values(status="queued", worker=None, progress=0.0, started_at=None)
                ).rowcount
            )

    def _as_claimant(self, job_id: str, worker: str, values: dict[str, Any]) -> None:
        with self.store.connection(write=True) as conn:
            conn.execute(
                update(web_jobs)
                .where(
                    web_jobs.c.id == job_id,
                    web_jobs.c.worker == worker,
                    web_jobs.c.status == "running",
                )
                .values(**values)
            )

    def reap(self) -> int:
        """Running jobs whose heartbeat stopped: failed, with a message saying so."""
        limit = time.time() - self.stale_s
        with self.store.connection(write=False) as conn:
            stale = conn.execute(
                select(web_jobs.c.id).where(
                    web_jobs.c.status == "running", web_jobs.c.heartbeat_at < limit
                )
            ).first()
        if stale is None:
            return 0  # the usual case: a read, no write lock
        message = (
            f"the server process running this what-if stopped (no word from it for "
            f"{self.stale_s:g} s); ask again to run it anew"
        )
        with self.store.connection(write=True) as conn:
            return int(
                conn.execute(
                    update(web_jobs)
                    .where(web_jobs.c.status == "running", web_jobs.c.heartbeat_at < limit)
                    .values(status="failed", error=message)
                ).rowcount
            )
