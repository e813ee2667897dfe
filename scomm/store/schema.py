"""The tables of the event store and its work queue, and the triggers that keep the log append-only.

One schema for both backends: SQLite (the embedded default) and PostgreSQL. Where they differ
(JSON storage, time stamps, triggers) the difference is kept here and nowhere else.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    Connection,
    Dialect,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    any_,
    bindparam,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import DateTime, TypeDecorator

UTC = dt.UTC

# Namespaces of PostgreSQL advisory locks (the two-key form), so that ours never meet another
# application's: one serializes schema creation, the other appends to one case.
PG_LOCK_SCHEMA = 0x5C0_0001
PG_LOCK_CASE = 0x5C0_0002
PG_LOCK_AUDIT = 0x5C0_0003  # appends to the audit log's hash chain, one transaction at a time


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A time zone-aware UTC time stamp on both backends.

    PostgreSQL stores ``timestamptz``. SQLite has no time type: we store fixed-width ISO text in
    UTC (``2013-06-01T12:00:00.000000+00:00``), which sorts and compares as the times do and
    reads back with the fast ``datetime.fromisoformat``. A naive time is refused: the log must
    never have to guess which zone a step happened in.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(32))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"time {value.isoformat()} has no time zone")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.isoformat(timespec="microseconds")
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# SQLite wants INTEGER PRIMARY KEY (the rowid) for autoincrement; PostgreSQL gets a bigint.
Id = BigInteger().with_variant(Integer(), "sqlite")
Json = JSON().with_variant(JSONB(), "postgresql")

metadata = MetaData()

events = Table(
    "events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),  # global order of appends
    Column("case_id", String(64), nullable=False),
    Column("seq", Integer, nullable=False),  # 1, 2, 3... within the case
    Column("step", String(64), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("occurred_at", UTCDateTime(), nullable=False),  # simulated time of the step
    Column("recorded_at", UTCDateTime(), nullable=False),  # wall time of the append
    Column("payload", Json, nullable=False),
    Column("legal_basis", Text, nullable=False),
    UniqueConstraint("case_id", "seq", name="events_case_seq"),
    CheckConstraint("seq >= 1", name="events_seq_positive"),
)
Index("events_step", events.c.step)

# Every read of a person's record leaves a row here, written in the same transaction as the
# read. The rows form a hash chain: each carries the hash of the one before it (``prev_hash``)
# and its own (``entry_hash``, SHA-256 over a canonical JSON of its fields and ``prev_hash``),
# so that a row deleted or edited behind the application's back shows (scomm.store.audit).
# ``seq`` is the place in the chain: unique, so two writers can never fork it.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("seq", BigInteger, nullable=False),  # 1, 2, 3... without gaps
    Column("reader", String(128), nullable=False),
    Column("read_at", UTCDateTime(), nullable=False),
    Column("subject", String(64), nullable=False),  # a case id, or "person:ID" of a world
    Column("purpose", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("entry_hash", String(64), nullable=False),
    UniqueConstraint("seq", name="audit_log_seq"),
    CheckConstraint("seq >= 1", name="audit_log_seq_positive"),
)
Index("audit_log_subject", audit_log.c.subject)

# One row per run submitted to the queue: its key is derived from the run's parameters, so a
# second process submitting the same run finds the row (or waits on it) and joins the work
# instead of queueing it again.
runs = Table(
    "runs",
    metadata,
    Column("run_key", String(64), primary_key=True),
    Column("parameters", Json, nullable=False),
    Column("submitted_at", UTCDateTime(), nullable=False),
    Column("bookings", Integer, nullable=False),
)

TASK_STATUSES = ("pending", "done", "failed")

tasks = Table(
    "tasks",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("case_id", String(64), nullable=False),
    Column("step", String(64), nullable=False),
    Column("payload", Json, nullable=False),
    Column("status", String(16), nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("not_before", UTCDateTime(), nullable=False),  # wall time; later after a failure
    Column("error", Text, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime(), nullable=True),
    Column("worker", String(128), nullable=True),  # who finished it
    CheckConstraint("status IN ('pending', 'done', 'failed')", name="tasks_status_known"),
)
# Claims look only at pending tasks, in id order: a partial index keeps that cheap however many
# done tasks the table has gathered.
Index(
    "tasks_pending",
    tasks.c.id,
    sqlite_where=text("status = 'pending'"),
    postgresql_where=text("status = 'pending'"),
)
Index("tasks_case", tasks.c.case_id)
# One booking per case, whoever queues it: a second booking of a case (a duplicate transaction
# control number, a second process submitting the same run) is refused by the database itself.
Index(
    "tasks_one_booking_per_case",
    tasks.c.case_id,
    unique=True,
    sqlite_where=text("step = 'booking'"),
    postgresql_where=text("step = 'booking'"),
)

_APPEND_ONLY = ("events", "audit_log")

_SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER IF NOT EXISTS {table}_no_{verb.lower()} BEFORE {verb} ON {table}
        BEGIN SELECT RAISE(ABORT, '{table} is append-only: {verb} refused'); END"""
    for table in _APPEND_ONLY
    for verb in ("UPDATE", "DELETE")
]

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION scomm_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$
"""


def _pg_triggers(table: str) -> dict[str, str]:
    return {
        f"{table}_append_only": f"""CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE
            ON {table} FOR EACH ROW EXECUTE FUNCTION scomm_append_only()""",
        f"{table}_no_truncate": f"""CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE
            ON {table} FOR EACH STATEMENT EXECUTE FUNCTION scomm_append_only()""",
    }


def create_tables(conn: Connection, tables: MetaData) -> None:
    """Create whichever of ``tables`` are missing, inside the caller's (write) transaction.

    The store's own schema and the tables other parts keep beside it (pipeline runs, web
    accounts, what-if jobs) all come through here, so processes creating them at once take
    turns the same way: an advisory lock on PostgreSQL, the caller's ``BEGIN IMMEDIATE`` on
    SQLite.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:ns, 0)"), {"ns": PG_LOCK_SCHEMA})
    tables.create_all(conn, checkfirst=True)


def create_schema(conn: Connection) -> None:
    """Create whatever is missing, inside the caller's (write) transaction.

    Several processes may open a fresh database at once: on PostgreSQL an advisory lock makes
    them take turns; on SQLite the caller's ``BEGIN IMMEDIATE`` already does. Existing triggers
    are left alone: replacing one would lock the whole table against running workers.
    """
    create_tables(conn, metadata)
    # create_all makes the indexes of the tables it creates only: a store made before an index
    # was added gets it here.
    for index in tasks.indexes:
        index.create(conn, checkfirst=True)
    if conn.dialect.name == "postgresql":
        for table in _APPEND_ONLY:
            present = set(
                conn.execute(
                    text("SELECT tgname FROM pg_trigger WHERE tgrelid = CAST(:t AS regclass)"),
                    {"t": table},
                ).scalars()
            )
            wanted = _pg_triggers(table)
            if present >= wanted.keys():
                continue
            conn.execute(text(_PG_FUNCTION))  # text() escapes the % signs
            for name, statement in wanted.items():
                if name not in present:
                    conn.exec_driver_sql(statement)
    else:
        for statement in _SQLITE_TRIGGERS:
            conn.exec_driver_sql(statement)


# --------------------------------------------------------------------------- bulk statements


def is_in(
    column: ColumnElement[Any], values: Sequence[Any], dialect: Dialect
) -> ColumnElement[bool]:
    """``column IN values``. On PostgreSQL as ``= ANY(array)``: one parameter whatever the
    number of values, so the statement's text (and its parse) is the same for every batch."""
    if dialect.name == "postgresql":
        element = Integer() if isinstance(column.type, Integer) else String()
        return column == any_(bindparam(None, list(values), type_=ARRAY(element)))
    return column.in_(list(values))


def _pg_array_type(column: Column[Any]) -> str:
    if isinstance(column.type, UTCDateTime):
        return "timestamptz[]"
    if isinstance(column.type, Integer):
        return "int8[]"
    if isinstance(column.type, JSON):
        return "jsonb[]"
    return "text[]"


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert many rows (all with the same keys) in as few statements as each backend allows."""
    write_all(conn, [(table, rows)])


@dataclass(frozen=True)
class DoneMark:
    """Tasks to mark done, by whom and when."""

    ids: Sequence[int]
    at: dt.datetime
    worker: str


def write_all(
    conn: Connection,
    inserts: Sequence[tuple[Table, Sequence[Mapping[str, Any]]]],
    done: DoneMark | None = None,
) -> None:
    """The writes of one flush: rows to insert into each table, and tasks to mark done.

    SQLite: the driver's ``executemany`` per table (a loop in C, no round trips) and one
    UPDATE. PostgreSQL: ONE statement for all of it, each part a data-modifying ``WITH`` of the
    form ``INSERT ... SELECT FROM unnest(array, array, ...)`` with one array parameter per
    column. A round trip saved is what counts there, and a few array parameters cost far less
    than a parameter (and client-side parsing) per value of a multi-row VALUES list.
    """
    inserts = [(table, rows) for table, rows in inserts if rows]
    if conn.dialect.name != "postgresql":
        for table, rows in inserts:
            conn.execute(table.insert(), list(rows))
        if done is not None and done.ids:
            conn.execute(
                tasks.update()
                .where(tasks.c.id.in_(list(done.ids)))
                .values(status="done", finished_at=done.at, worker=done.worker, error=None)
            )
        return
    parts: list[str] = []
    params: dict[str, Any] = {}
    for n, (table, rows) in enumerate(inserts):
        sql, values = pg_insert_sql(table, rows, f"i{n}_")
        parts.append(sql)
        params.update(values)
    if done is not None and done.ids:
        parts.append(
            "UPDATE tasks SET status = 'done', finished_at = :done_at, worker = :done_by, "
            "error = NULL WHERE id = ANY(CAST(:done_ids AS int8[]))"
        )
        params.update(done_at=done.at, done_by=done.worker, done_ids=list(done.ids))
    if not parts:
        return
    if len(parts) == 1:
        conn.execute(text(parts[0]), params)
        return
    ctes = ", ".join(f"w{n} AS ({part})" for n, part in enumerate(parts))
    conn.execute(text(f"WITH {ctes} SELECT 1"), params)


def pg_insert_sql(
    table: Table, rows: Sequence[Mapping[str, Any]], prefix: str
) -> tuple[str, dict[str, Any]]:
    """``INSERT INTO table (...) SELECT * FROM unnest(:array, ...)`` and its parameters."""
    names = list(rows[0])
    params: dict[str, Any] = {}
    casts = []
    for i, name in enumerate(names):
        column = table.c[name]
        values = [row[name] for row in rows]
        if isinstance(column.type, UTCDateTime):
            values = [None if v is None else v.astimezone(UTC) for v in values]
        elif isinstance(column.type, JSON):
            values = [None if v is None else json_text(v) for v in values]
        params[f"{prefix}{i}"] = values
        casts.append(f"CAST(:{prefix}{i} AS {_pg_array_type(column)})")
    statement = (
        f"INSERT INTO {table.name} ({', '.join(names)}) SELECT * FROM unnest({', '.join(casts)})"
    )
    return statement, params


def json_text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
