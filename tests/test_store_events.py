"""The event log: append-only, ordered per case, every read logged; on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from scomm.errors import InputError
from scomm.store import Event, EventStore, NewEvent
from scomm.store.events import _enter_wal

T0 = dt.datetime(2013, 6, 1, 8, 30, tzinfo=dt.UTC)


def ev(case_id: str, step: str, hours: float = 0, **payload: Any) -> NewEvent:
    return NewEvent(
        case_id=case_id,
        step=step,
        actor="LEA ORI CA0194200",
        occurred_at=T0 + dt.timedelta(hours=hours),
        payload=payload,
        legal_basis="Cal. Penal Code 13150",
    )


@pytest.fixture
def store(store_url: str) -> Iterator[EventStore]:
    with EventStore.open(store_url) as s:
        yield s


def test_appends_get_contiguous_seq_per_case_and_a_global_order(store: EventStore) -> None:
    store.append(ev("a", "booking"), ev("b", "booking"))
    with store.write() as tx:
        tx.append(ev("a", "sib.routed", 0.1))
        tx.append(ev("a", "cjis.response", 0.2, match=True))
        tx.append(ev("b", "sib.routed", 0.1))

    a = store.events("a", reader="test")
    b = store.events("b", reader="test")
    assert [(e.seq, e.step) for e in a] == [(1, "booking"), (2, "sib.routed"), (3, "cjis.response")]
    assert [e.seq for e in b] == [1, 2]
    assert a[2].payload == {"match": True}
    ids = sorted(e.id for e in a + b)
    assert len(set(ids)) == 5 and a[0].id < b[0].id < a[1].id
    assert all(isinstance(e, Event) for e in a)


def test_times_come_back_aware_and_in_utc(store: EventStore) -> None:
    eastern = dt.timezone(dt.timedelta(hours=-5))
    local = dt.datetime(2013, 6, 1, 3, 30, tzinfo=eastern)
    store.append(NewEvent("a", "booking", "LEA", local, {}, "basis"))
    (e,) = store.events("a", reader="test")
    assert e.occurred_at == local
    assert e.occurred_at.tzinfo == dt.UTC and e.occurred_at.hour == 8
    assert e.recorded_at.tzinfo == dt.UTC


def test_naive_times_and_bad_payloads_are_refused_before_the_database(store: EventStore) -> None:
    with pytest.raises(InputError, match="no time zone"):
        NewEvent("a", "booking", "LEA", dt.datetime(2013, 6, 1), {}, "basis")
    with pytest.raises(InputError, match="case_id"):
        NewEvent("", "booking", "LEA", T0, {}, "basis")
    with pytest.raises(InputError, match="not JSON"):
        store.append(ev("a", "booking", when=dt.date(2013, 6, 1)))
    with pytest.raises(InputError, match="NUL"):
        store.append(ev("a", "booking", name="a\x00b"))
    # Nothing half-written: the refused appends left no trace.
    assert store.cases() == []


def test_a_failed_write_transaction_leaves_nothing(store: EventStore) -> None:
    with pytest.raises(RuntimeError), store.write() as tx:
        tx.append(ev("a", "booking"))
        tx.enqueue("a", "sib.route")
        tx.flush()  # written, but not committed
        raise RuntimeError("the step changed its mind")
    assert store.cases() == []
    assert store.events("a", reader="test") == []


def test_the_log_refuses_update_and_delete(store: EventStore) -> None:
    store.append(ev("a", "booking"))
    store.events("a", reader="test")  # an access row to try to erase
    for statement in (
        "UPDATE events SET step = 'forged'",
        "DELETE FROM events",
        "UPDATE audit_log SET reader = 'nobody'",
        "DELETE FROM audit_log",
    ):
        with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as conn:
            conn.execute(text(statement))
    assert [e.step for e in store.events("a", reader="test")] == ["booking"]


def test_every_read_is_logged_with_reader_and_purpose(store: EventStore) -> None:
    store.append(ev("a", "booking"), ev("b", "booking"))
    store.events("a", reader="ero.officer17", purpose="detainer review")
    store.fold("a", lambda n, _e: n + 1, 0, reader="auditor", purpose="count")
    store.events("nobody", reader="curious-clerk")  # a read of nothing is still a read
    assert (
        dict(store.histories(["b"], reader="report", purpose="summary"))["b"][0].step == "booking"
    )

    log = store.audit_entries()
    assert [(r.reader, r.subject, r.purpose) for r in log] == [
        ("ero.officer17", "a", "detainer review"),
        ("auditor", "a", "count"),
        ("curious-clerk", "nobody", ""),
        ("report", "b", "summary"),
    ]
    assert all(r.read_at.tzinfo == dt.UTC for r in log)
    for bad in (" ", "", "ERO officer 17", "clerk\nforged entry", "\x1b[2Jclerk"):
        with pytest.raises(InputError, match="not a reader name"):
            store.events("a", reader=bad)


def test_fold_derives_state_from_the_events(store: EventStore) -> None:
    store.append(ev("a", "booking"), ev("a", "hold.started", 5), ev("a", "hold.ended", 29))

    def held_hours(state: dict[str, Any], e: Event) -> dict[str, Any]:
        if e.step == "hold.started":
            return {**state, "since": e.occurred_at}
        if e.step == "hold.ended":
            return {"hours": (e.occurred_at - state["since"]).total_seconds() / 3600}
        return state

    start: dict[str, Any] = {}
    assert store.fold("a", held_hours, start, reader="test") == {"hours": 24.0}


def test_cases_filters_by_step_and_time(store: EventStore) -> None:
    store.append(ev("a", "booking", 0), ev("b", "booking", 30), ev("c", "booking", 60))
    store.append(ev("b", "detainer.issued", 31), ev("c", "detainer.issued", 61))
    assert store.cases() == ["a", "b", "c"]
    assert store.cases(step="detainer.issued") == ["b", "c"]
    assert store.cases(since=T0 + dt.timedelta(hours=30)) == ["b", "c"]
    assert store.cases(until=T0 + dt.timedelta(hours=30)) == ["a"]
    assert store.cases(limit=2) == ["a", "b"]
    # Listing ids reads no record, so it is not access-logged.
    assert store.audit_entries() == []


def test_histories_of_every_case_in_chunks(store: EventStore) -> None:
    for i in range(7):
        store.append(ev(f"c{i}", "booking"), ev(f"c{i}", "sib.routed", 1))
    got = dict(store.histories(reader="report", purpose="summary", chunk=3))
    assert list(got) == [f"c{i}" for i in range(7)]
    assert all([e.seq for e in h] == [1, 2] for h in got.values())
    assert len(store.audit_entries()) == 7


def test_reopening_keeps_the_log(store_url: str) -> None:
    with EventStore.open(store_url) as first:
        first.append(ev("a", "booking"))
    with EventStore.open(store_url) as second:
        second.append(ev("a", "sib.routed", 1))
        assert [e.seq for e in second.events("a", reader="test")] == [1, 2]


def test_two_writers_on_one_case_take_turns(store_url: str) -> None:
    """A second writer to the same case waits for the first to commit, then continues the
    case's numbering (SQLite: BEGIN IMMEDIATE; PostgreSQL: the case's advisory lock)."""
    with EventStore.open(store_url) as one, EventStore.open(store_url) as two:
        one.append(ev("a", "booking"))
        first_flushed = threading.Event()
        release_first = threading.Event()
        errors: list[BaseException] = []

        def first() -> None:
            try:
                with one.write() as tx:
                    tx.append(ev("a", "from.first", 1))
                    tx.flush()
                    first_flushed.set()
                    release_first.wait(30)
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        thread = threading.Thread(target=first)
        thread.start()
        assert first_flushed.wait(30)
        second = threading.Thread(target=lambda: two.append(ev("a", "from.second", 2)))
        second.start()
        release_first.set()
        thread.join(30)
        second.join(30)
        assert not errors
        steps = [(e.seq, e.step) for e in one.events("a", reader="test")]
        assert steps == [(1, "booking"), (2, "from.first"), (3, "from.second")]


def test_urls(tmp_path: Any) -> None:
    with pytest.raises(InputError, match="database URL"):
        EventStore.open("mysql://x@y/z")
    nested = tmp_path / "deep" / "er" / "store.sqlite"
    with EventStore.open(f"sqlite:///{nested}") as s:
        assert s.backend == "sqlite"
    assert nested.exists()
    with EventStore.open("sqlite://") as memory:
        memory.append(ev("a", "booking"))
        assert memory.cases() == ["a"]


class _LockedCursor:
    """A cursor whose journal-mode switch meets another process's lock ``locked`` times."""

    def __init__(self, locked: int, error: str = "database is locked") -> None:
        self.locked, self.error, self.calls = locked, error, 0

    def execute(self, sql: str) -> None:
        self.calls += 1
        if self.calls <= self.locked:
            raise sqlite3.OperationalError(self.error)


def test_switch_to_wal_waits_out_another_process_opening_the_fresh_file() -> None:
    # Seen in test_processes_recording_one_run_at_once_make_one_record: SQLite answers the
    # switch with "database is locked" at once, without its busy handler.
    cursor = _LockedCursor(locked=3)
    _enter_wal(cursor)
    assert cursor.calls == 4


def test_switch_to_wal_does_not_retry_other_errors() -> None:
    cursor = _LockedCursor(locked=1, error="disk I/O error")
    with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
        _enter_wal(cursor)
    assert cursor.calls == 1
