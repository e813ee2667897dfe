"""The append-only event log: every step of every case, in order, never changed.

A case's current state is never stored: it is folded from the case's events
(:meth:`EventStore.fold`). Every read of a case's events is itself recorded, in the
audit log (:mod:`scomm.store.audit`, a hash chain) and in the same transaction as the read,
with who read and why.

Backends: SQLite (``sqlite:///path``, the embedded default; WAL, one writer at a time through
``BEGIN IMMEDIATE``, so worker processes on one file take turns correctly) and PostgreSQL
(``postgresql://...``, through psycopg 3; appends to one case take turns on an advisory lock).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    Row,
    create_engine,
    event,
    func,
    select,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.pool import StaticPool

from scomm.errors import InputError, ScommError
from scomm.store import audit, schema
from scomm.store.audit import AuditCheck, AuditEntry, Chain, Read, check_reader
from scomm.store.outage import outage, unavailable
from scomm.store.schema import (
    PG_LOCK_CASE,
    DoneMark,
    audit_log,
    events,
    is_in,
    json_text,
    tasks,
    write_all,
)

UTC = dt.UTC
S = TypeVar("S")

MAX_ID_LENGTH = 64  # case ids and step names: the width of their columns
SQLITE_BUSY_TIMEOUT_S = 60.0  # a writer waits this long for another process's transaction


def utcnow() -> dt.datetime:
    return dt.datetime.now(UTC)


class Fact(Protocol):
    """What a step may read of an event: the fields of :class:`NewEvent`, which
    :class:`Event` has too (a case's history inside a transaction mixes both)."""

    @property
    def case_id(self) -> str: ...
    @property
    def step(self) -> str: ...
    @property
    def actor(self) -> str: ...
    @property
    def occurred_at(self) -> dt.datetime: ...
    @property
    def payload(self) -> dict[str, Any]: ...
    @property
    def legal_basis(self) -> str: ...


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append. The store gives it its id, its place in the case (``seq``) and the
    wall time it was recorded."""

    case_id: str
    step: str  # "booking", "sib.routed", "cjis.response", "lesc.iar", "hold.started", ...
    actor: str  # "LEA ORI CA0194200", "SIB", "CJIS", "IDENT", "LESC", "ERO", "jail"
    occurred_at: dt.datetime  # simulated time of the step, time zone-aware
    payload: dict[str, Any]
    legal_basis: str  # the statute, regulation, order or policy the step acts under

    def __post_init__(self) -> None:
        where = f"event {self.step!r} of case {self.case_id!r}"
        _check_name(self.case_id, where, "case_id")
        _check_name(self.step, where, "step")
        if not self.actor:
            raise InputError(where, "actor is empty: every step is taken by someone")
        if not isinstance(self.occurred_at, dt.datetime):
            raise InputError(where, f"occurred_at {self.occurred_at!r} is not a datetime")
        if self.occurred_at.tzinfo is None or self.occurred_at.utcoffset() is None:
            raise InputError(where, f"occurred_at {self.occurred_at.isoformat()} has no time zone")
        if not isinstance(self.payload, dict):
            raise InputError(where, f"payload is a {type(self.payload).__name__}, not a dict")
        if not isinstance(self.legal_basis, str):
            raise InputError(where, "legal_basis is not a string")
        # The log is in UTC whatever zone the caller spoke in.
        object.__setattr__(self, "occurred_at", self.occurred_at.astimezone(UTC))


@dataclass(frozen=True, slots=True)
class Event:
    """An event as the log holds it."""

    id: int  # global order of appends
    case_id: str
    seq: int  # 1, 2, 3... within the case, without gaps
    step: str
    actor: str
    occurred_at: dt.datetime
    recorded_at: dt.datetime
    payload: dict[str, Any]
    legal_basis: str

    @classmethod
    def of_row(cls, row: Row[Any]) -> Event:
        """From a row of ``select(events)``, whose columns are this class's fields in order
        (checked below, at import): positional is several times cheaper than by name."""
        return cls(*tuple(row))


if [f.name for f in fields(Event)] != list(events.c.keys()):
    raise RuntimeError("Event's fields and the events table's columns are out of step")


def _check_name(value: object, where: str, field: str) -> None:
    if not isinstance(value, str) or not value:
        raise InputError(where, f"{field} {value!r} is not a non-empty string")
    if len(value) > MAX_ID_LENGTH:
        raise InputError(
            where, f"{field} is {len(value)} characters long (at most {MAX_ID_LENGTH})"
        )


def check_json(payload: Mapping[str, Any], where: str) -> None:
    """Refuse a payload JSON cannot hold before it reaches the database, where the error would
    name neither the case nor the step."""
    try:
        encoded = json.dumps(payload, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InputError(where, f"payload is not JSON: {exc}") from None
    # JSON allows a NUL character; PostgreSQL's jsonb does not. The text test is a cheap filter.
    if "\\u0000" in encoded and _has_nul(payload):
        raise InputError(where, "payload holds a NUL character (\\u0000)")


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


def hide_password(url: str) -> str:
    """``url`` fit to print: its password, if any, replaced by ``***``. A URL SQLAlchemy
    cannot parse is masked by pattern (``scheme://user:SECRET@``) instead."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - whatever failed to parse, the password must not print
        return re.sub(r"(://[^/@\s]*?:)[^@\s]*@", r"\1***@", url)


# --------------------------------------------------------------------------- engines


def _engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
        parsed.port  # noqa: B018 - a port that is not a number fails here, not at connect
    except (ArgumentError, ValueError):
        raise InputError("database URL", f"{hide_password(url)!r} is not a URL like "
                         "sqlite:///FILE or postgresql://USER@HOST/DB") from None  # fmt: skip
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        # psycopg 3 is the one PostgreSQL driver scomm ships with, whatever the URL names.
        engine = create_engine(
            parsed.set(drivername="postgresql+psycopg"),
            json_serializer=json_text,
            pool_size=2,
            max_overflow=4,
            # A connection the server dropped (a restart) is replaced, not handed out.
            pool_pre_ping=True,
        )
        return engine
    if backend != "sqlite":
        raise InputError("database URL", f"{backend!r}: use sqlite:///FILE or postgresql://...")
    database = parsed.database or ""
    memory = database in ("", ":memory:")
    if not memory:
        create_private_file(Path(database).expanduser())
    engine = create_engine(
        parsed.set(drivername="sqlite"),
        json_serializer=json_text,
        # The pool hands a connection to one thread at a time, not always the same thread.
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
        # An in-memory database lives in its one connection.
        **({"poolclass": StaticPool} if memory else {}),
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transactions out of the sqlite3 module's hands: we issue BEGIN ourselves.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not memory:
            _enter_wal(cursor)  # readers never wait for the writer
        # Under WAL a commit then survives a killed process; only a power cut can lose the
        # last commits, and never corrupts the file. Full sync would cost an fsync per commit.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A writer takes the write lock at BEGIN, not at its first write: two processes that
        # both read then write would otherwise deadlock ("database is locked") half-way.
        write = conn.get_execution_options().get("scomm_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def _enter_wal(cursor: Any) -> None:
    """Put the file in WAL mode (kept in the file, so this changes something only once).

    SQLite does not always wait in its busy handler for the switch: connections of their own
    opening a fresh file at once (processes started together, or threads each with its own
    store) got "database is locked" here, so the switch is tried again until the busy timeout."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    pause = 0.002
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(2 * pause, 0.05)


def create_private_file(path: Path) -> None:
    """Create the SQLite file (and any missing folder above it) readable by its owner only:
    it holds names, dates of birth, rap sheets and immigration status. SQLite gives its WAL
    and shared-memory files the database file's permissions. An existing file is left as it
    is; a path that cannot be a database file is refused by name."""
    where = f"database file {path}"
    if path.is_dir():
        raise InputError(where, "is a directory: give a file name, e.g. sqlite:///DIR/scomm.sqlite")
    try:
        missing = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
        for folder in reversed(missing):
            folder.mkdir(mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        os.close(fd)
    except FileExistsError:
        pass  # another process made it meanwhile
    except OSError as exc:
        raise InputError(where, f"cannot be created ({exc.strerror or exc})") from None


# --------------------------------------------------------------------------- transactions


class Tx:
    """One write transaction: the events it appends and the tasks it enqueues commit together
    with everything else it did, or not at all.

    Appends and enqueues are buffered and written by :meth:`flush` (at the latest on commit) in
    one multi-row statement each: a batch of steps costs a handful of round trips, not one per
    event.
    """

    def __init__(self, store: EventStore, conn: Connection, reader: str) -> None:
        self.store = store
        self.conn = conn
        self.reader = reader
        self._events: list[NewEvent] = []
        self._tasks: list[dict[str, Any]] = []
        self._last_seq: dict[str, int] = {}  # per case, as of this transaction
        self._locked: set[str] = set()
        self._histories: dict[str, list[Fact]] = {}
        self._reads: list[Read] = []  # to the audit log at the next flush
        self._chain = Chain()

    # -- writing

    def append(self, new: NewEvent) -> None:
        if not isinstance(new, NewEvent):
            raise InputError("append", f"{new!r} is not a NewEvent")
        check_json(new.payload, f"event {new.step!r} of case {new.case_id!r}")
        self._events.append(new)
        history = self._histories.get(new.case_id)
        if history is not None:
            history.append(new)

    def enqueue(
        self,
        case_id: str,
        step: str,
        payload: Mapping[str, Any] | None = None,
        *,
        not_before: dt.datetime | None = None,
    ) -> None:
        """Add a task to the work queue: a worker will run ``step`` for ``case_id``, not before
        ``not_before`` (wall time; default now), once this transaction commits."""
        self._tasks.append(task_row(case_id, step, payload, not_before))

    def flush(self) -> None:
        """Write what is buffered, inside the still open transaction."""
        if self._events:
            self._lock_cases(e.case_id for e in self._events)
            unknown = {e.case_id for e in self._events} - self._last_seq.keys()
            if unknown:
                self._last_seq.update(dict.fromkeys(unknown, 0))
                rows = self.conn.execute(
                    select(events.c.case_id, func.max(events.c.seq))
                    .where(is_in(events.c.case_id, sorted(unknown), self.conn.dialect))
                    .group_by(events.c.case_id)
                )
                self._last_seq.update({case_id: last for case_id, last in rows})
            now = utcnow()
            rows_out = []
            for e in self._events:
                seq = self._last_seq[e.case_id] + 1
                self._last_seq[e.case_id] = seq
                rows_out.append({
                    "case_id": e.case_id, "seq": seq, "step": e.step, "actor": e.actor,
                    "occurred_at": e.occurred_at, "recorded_at": now, "payload": e.payload,
                    "legal_basis": e.legal_basis,
                })  # fmt: skip
        else:
            rows_out = []
        # The audit chain's lock is taken last (after the cases'), so a transaction holds it
        # only from here to its commit.
        reads = self._chain.rows(self.conn, self._reads)
        # Events, next tasks, reads and (in a claim) the done marks go together: on PostgreSQL
        # in one statement, one round trip.
        write_all(
            self.conn,
            [(events, rows_out), (tasks, self._tasks), (audit_log, reads)],
            self._take_done(),
        )
        self._events.clear()
        self._tasks.clear()
        self._reads.clear()

    def _take_done(self) -> DoneMark | None:
        """Tasks to mark done with this flush's writes (a claim has some; see Work)."""
        return None

    # -- reading, inside the transaction

    def history(self, case_id: str, *, purpose: str) -> Sequence[Fact]:
        """The case's events as this transaction sees them (its own appends included). The read
        is logged under this transaction's reader."""
        if case_id not in self._histories:
            self.load_histories({case_id: purpose})
        return self._histories[case_id]

    def load_histories(self, purposes: Mapping[str, str]) -> None:
        """Read the histories of several cases (``case_id -> purpose of the read``) in one
        query, and log one access per case."""
        wanted = sorted(c for c in purposes if c not in self._histories)
        if not wanted:
            return
        self._lock_cases(wanted)
        loaded: dict[str, list[Event]] = {c: [] for c in wanted}
        # Logged with this transaction's other writes, at its flush: read and log commit
        # together or not at all.
        self._reads.extend(audit.check_read(Read(self.reader, c, purposes[c])) for c in wanted)
        result = self.conn.execute(
            select(events)
            .where(is_in(events.c.case_id, wanted, self.conn.dialect))
            .order_by(events.c.case_id, events.c.seq)
        )
        for row in result.all():
            loaded[row.case_id].append(Event.of_row(row))
        for case_id, stored in loaded.items():
            self._last_seq[case_id] = stored[-1].seq if stored else 0
            history: list[Fact] = list(stored)
            # Appends still in the buffer come after what is already in the table.
            history.extend(e for e in self._events if e.case_id == case_id)
            self._histories[case_id] = history

    def _lock_cases(self, case_ids: Iterable[str]) -> None:
        """PostgreSQL: take each case's advisory lock (until commit), in a fixed order, so that
        two workers appending to one case take turns instead of colliding on ``seq``. SQLite
        needs nothing: ``BEGIN IMMEDIATE`` already made this the only writer."""
        if self.conn.dialect.name != "postgresql":
            return
        new = sorted(set(case_ids) - self._locked)
        if not new:
            return
        # Volatile functions in the select list run after ORDER BY, so locks go in hash order.
        self.conn.execute(
            text(
                "SELECT pg_advisory_xact_lock(:ns, hashtext(c)) "
                "FROM unnest(CAST(:ids AS text[])) AS c ORDER BY hashtext(c)"
            ),
            {"ns": PG_LOCK_CASE, "ids": new},
        )
        self._locked.update(new)


def task_row(
    case_id: str,
    step: str,
    payload: Mapping[str, Any] | None,
    not_before: dt.datetime | None,
) -> dict[str, Any]:
    """A checked row of the ``tasks`` table, ready to insert."""
    where = f"task {step!r} of case {case_id!r}"
    _check_name(case_id, where, "case_id")
    _check_name(step, where, "step")
    body = dict(payload or {})
    check_json(body, where)
    if not_before is not None and (not_before.tzinfo is None or not_before.utcoffset() is None):
        raise InputError(where, f"not_before {not_before.isoformat()} has no time zone")
    now = utcnow()
    return {
        "case_id": case_id, "step": step, "payload": body, "status": "pending", "attempts": 0,
        "not_before": not_before or now, "created_at": now,
    }  # fmt: skip


def log_reads(conn: Connection, reads: Sequence[Read]) -> None:
    """Append ``reads`` to the audit chain, in the reading transaction."""
    checked = [audit.check_read(r) for r in reads]
    write_all(conn, [(audit_log, Chain().rows(conn, checked))])


# --------------------------------------------------------------------------- the store


class EventStore:
    """The event log and work queue of one database."""

    def __init__(self, engine: Engine, url: str) -> None:
        self.engine = engine
        self.url = url  # as given, password included: keep it out of messages (see `where`)
        self.where = hide_password(url)
        # SQLite has one writer at a time. Threads of this process wait for it here, woken as
        # soon as it is free, rather than in SQLite's busy handler, which sleeps and polls
        # (up to 100 ms a try). Reentrant: a thread may record a failure inside its own write.
        self._writers = threading.RLock() if engine.dialect.name == "sqlite" else None

    def writer_turn(self) -> contextlib.AbstractContextManager[Any]:
        """Held around a write transaction: this process's threads take turns on SQLite (other
        processes wait in SQLite's own lock); nothing on PostgreSQL, whose writers overlap."""
        return self._writers if self._writers is not None else contextlib.nullcontext()

    @classmethod
    def open(cls, url: str = "sqlite:///scomm.sqlite") -> EventStore:
        """Open the store at ``url`` and create its tables if they are absent."""
        store = cls(_engine(url), url)
        try:
            with store.connection(write=True) as conn:
                schema.create_schema(conn)
        except OperationalError as exc:
            store.close()
            found = outage(exc, store.database_file)
            if found is not None and found.kind == "disk full":
                raise unavailable(found, store.where) from None
            raise ScommError(f"cannot open the event store at {store.where}: {exc.orig}") from exc
        except BaseException:
            store.close()
            raise
        return store

    def close(self) -> None:
        self.engine.dispose()

    @property
    def database_file(self) -> Path | None:
        """The SQLite file (None on PostgreSQL or in memory)."""
        database = self.engine.url.database
        if self.engine.dialect.name != "sqlite" or database in (None, "", ":memory:"):
            return None
        return Path(database).expanduser()

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def backend(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    @contextmanager
    def connection(self, *, write: bool) -> Iterator[Connection]:
        """A connection inside one transaction: committed if the block ends normally, rolled
        back if it raises. ``write`` takes SQLite's write lock at BEGIN."""
        turn = self.writer_turn() if write else contextlib.nullcontext()
        with turn, self.engine.connect() as conn:
            if write:
                conn = conn.execution_options(scomm_write=True)
            with conn.begin():
                yield conn

    # -- writing

    @contextmanager
    def write(self, reader: str = "writer") -> Iterator[Tx]:
        """A write transaction: ``with store.write() as tx: tx.append(...); tx.enqueue(...)``.
        ``reader`` names who reads, should the transaction read a case's history."""
        with self.connection(write=True) as conn:
            tx = Tx(self, conn, reader)
            yield tx
            tx.flush()

    def append(self, *new: NewEvent) -> None:
        """Append events in one transaction (a case that starts outside the queue)."""
        with self.write() as tx:
            for e in new:
                tx.append(e)

    # -- reading (every read of a case's events is logged)

    def events(self, case_id: str, *, reader: str, purpose: str = "") -> list[Event]:
        """A case's events in order. ``reader`` (who) and ``purpose`` (why) go to the access
        log in the same transaction, so no read goes unrecorded."""
        check_reader(reader)
        with self.connection(write=True) as conn:
            rows = conn.execute(
                select(events).where(events.c.case_id == case_id).order_by(events.c.seq)
            ).all()
            log_reads(conn, [Read(reader, case_id, purpose)])
        return [Event.of_row(r) for r in rows]

    def fold(
        self,
        case_id: str,
        reducer: Callable[[S, Event], S],
        initial: S,
        *,
        reader: str,
        purpose: str = "",
    ) -> S:
        """The case's state: ``reducer`` applied to each of its events in order."""
        state = initial
        for e in self.events(case_id, reader=reader, purpose=purpose):
            state = reducer(state, e)
        return state

    def histories(
        self,
        case_ids: Iterable[str] | None = None,
        *,
        reader: str,
        purpose: str = "",
        chunk: int = 500,
    ) -> Iterator[tuple[str, list[Event]]]:
        """``(case_id, events)`` for the given cases (default: every case, oldest first),
        read ``chunk`` cases per transaction, each case's read logged."""
        check_reader(reader)
        ids = list(self.cases() if case_ids is None else dict.fromkeys(case_ids))
        for start in range(0, len(ids), chunk):
            part = ids[start : start + chunk]
            found: dict[str, list[Event]] = {c: [] for c in part}
            with self.connection(write=True) as conn:
                result = conn.execute(
                    select(events)
                    .where(is_in(events.c.case_id, part, conn.dialect))
                    .order_by(events.c.case_id, events.c.seq)
                )
                for row in result:
                    found[row.case_id].append(Event.of_row(row))
                log_reads(conn, [Read(reader, c, purpose) for c in part])
            # Yield outside the transaction: the caller may read or write meanwhile.
            yield from found.items()

    def cases(
        self,
        *,
        step: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        limit: int | None = None,
    ) -> list[str]:
        """Ids of the cases with an event matching every filter given (``step``; occurred in
        ``[since, until)``), in the order of their first such event.

        Ids only, no record: this is the index of the log, and is not access-logged.
        """
        first = func.min(events.c.id)
        query = select(events.c.case_id).group_by(events.c.case_id).order_by(first)
        if step is not None:
            query = query.where(events.c.step == step)
        if since is not None:
            query = query.where(events.c.occurred_at >= since)
        if until is not None:
            query = query.where(events.c.occurred_at < until)
        if limit is not None:
            query = query.limit(limit)
        with self.connection(write=False) as conn:
            return list(conn.execute(query).scalars())

    def case_county(self, case_id: str) -> str | None:
        """The county FIPS the case was booked in (its booking event's ``county_fips``), None
        for an unknown case. Where a case belongs, not its record: like :meth:`cases`, an
        index, and not access-logged (an account's right to read is checked with it before
        any read)."""
        query = (
            select(events.c.payload)
            .where(events.c.case_id == case_id, events.c.step == "booking")
            .order_by(events.c.seq)
            .limit(1)
        )
        with self.connection(write=False) as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        payload = row.payload if isinstance(row.payload, dict) else json.loads(row.payload)
        county = payload.get("county_fips")
        return str(county) if county is not None else None

    # -- the audit log (see scomm.store.audit)

    def record_read(self, reader: str, subject: str, purpose: str) -> None:
        """Log a read of ``subject``'s data (a case id, or ``person:ID``) that happened outside
        the store (a saved world's files, a web page), before the data is shown."""
        self.record_reads(reader, [subject], purpose)

    def record_reads(self, reader: str, subjects: Iterable[str], purpose: str) -> None:
        """:meth:`record_read` for several subjects, in one transaction."""
        check_reader(reader)
        reads = [Read(reader, s, purpose) for s in subjects]
        if reads:
            with self.connection(write=True) as conn:
                log_reads(conn, reads)

    def audit_entries(
        self,
        *,
        subject: str | None = None,
        reader: str | None = None,
        after: int = 0,
        limit: int | None = None,
    ) -> list[AuditEntry]:
        """Who read whose data, when and why, in the chain's order (``seq > after``)."""
        with self.connection(write=False) as conn:
            return audit.entries(conn, subject=subject, reader=reader, after=after, limit=limit)

    def verify_audit(self, expect: Sequence[audit.Head] = ()) -> AuditCheck:
        """Walk the audit chain; where it breaks, if it does, or where it does not extend a
        checkpoint in ``expect`` (see :class:`AuditCheck`)."""

        def chunks() -> Iterator[list[AuditEntry]]:
            after = 0
            while True:
                chunk = self.audit_entries(after=after, limit=audit.VERIFY_CHUNK)
                if not chunk:
                    return
                yield chunk
                after = chunk[-1].seq

        return audit.verify_entries(chunks(), expect)


__all__ = ["Event", "EventStore", "Fact", "NewEvent", "Tx", "hide_password", "utcnow"]
