"""Pipeline runs: which cases one ``scomm run`` booked, so that a person can find them again
(``scomm cases --run ID``, the web application's ``/runs/ID``) without opening the database.

A run's record holds its parameters and its case ids, no person's data; it lives in the event
store's database, in a table of its own beside the log.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Integer, MetaData, String, Table, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from scomm.errors import InputError
from scomm.store.events import EventStore
from scomm.store.schema import create_tables

metadata = MetaData()

pipeline_runs = Table(
    "pipeline_runs",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("county", String(5), nullable=False),
    Column("start", String(10), nullable=False),
    Column("days", Integer, nullable=False),
    Column("seed", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("case_ids", JSON, nullable=False),
)


@dataclass(frozen=True)
class PipelineRun:
    run_id: str
    county: str
    start: str
    days: int
    seed: int
    created_at: dt.datetime
    case_ids: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "county": self.county,
            "start": self.start,
            "days": self.days,
            "seed": self.seed,
            "created_at": self.created_at.isoformat(),
            "cases": len(self.case_ids),
        }


def run_id_of(county: str, start: dt.date, days: int, seed: int) -> str:
    """The same run asked again (it resumes) keeps its id."""
    return f"{county}-{start:%Y%m%d}-{days}d-s{seed}"


def _ensure(store: EventStore) -> None:
    with store.connection(write=True) as conn:
        create_tables(conn, metadata)


def record_run(
    store: EventStore, county: str, start: dt.date, days: int, seed: int, case_ids: list[str]
) -> str:
    """Record (or replace) a run's record; its id. Two processes of one run record it at
    once (the second joined the first's work): one insert, the other an update, never a
    duplicate key (a delete then an insert raced there on PostgreSQL)."""
    _ensure(store)
    run_id = run_id_of(county, start, days, seed)
    values = {
        "run_id": run_id,
        "county": county,
        "start": start.isoformat(),
        "days": days,
        "seed": seed,
        "created_at": dt.datetime.now(dt.UTC),
        "case_ids": list(case_ids),
    }
    insert = postgresql_insert if store.engine.dialect.name == "postgresql" else sqlite_insert
    statement = insert(pipeline_runs).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=[pipeline_runs.c.run_id],
        set_={k: statement.excluded[k] for k in values if k != "run_id"},
    )
    with store.connection(write=True) as conn:
        conn.execute(statement)
    return run_id


def _of_row(row: Any) -> PipelineRun:
    created = row.created_at
    if created.tzinfo is None:  # SQLite keeps no zone: written in UTC
        created = created.replace(tzinfo=dt.UTC)
    return PipelineRun(
        row.run_id, row.county, row.start, row.days, row.seed, created, tuple(row.case_ids)
    )


def list_runs(store: EventStore, county: str | None = None) -> list[PipelineRun]:
    """Every recorded run, newest first (``county``: that county's only)."""
    _ensure(store)
    query = select(pipeline_runs).order_by(pipeline_runs.c.created_at.desc())
    if county is not None:
        query = query.where(pipeline_runs.c.county == county)
    with store.connection(write=False) as conn:
        return [_of_row(r) for r in conn.execute(query)]


def get_run(store: EventStore, run_id: str) -> PipelineRun:
    _ensure(store)
    with store.connection(write=False) as conn:
        row = conn.execute(select(pipeline_runs).where(pipeline_runs.c.run_id == run_id)).first()
    if row is None:
        known = ", ".join(r.run_id for r in list_runs(store)[:5]) or "none recorded yet"
        raise InputError(f"run {run_id}", f"no such run in {store.where} (recent: {known})")
    return _of_row(row)
