"""The database failing under a worker: a full database stops it at once with a clear error and
leaves the queue as it was (a rerun completes); a connection the server drops is waited out and
the run completes with every step once."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from scomm.store import EventStore, Fact, HandlerResult, NewEvent, NextTask, Task, enqueue
from scomm.store.outage import StoreUnavailable
from scomm.store.queue import counts, run_worker

T0 = dt.datetime(2013, 6, 1, 8, 30, tzinfo=dt.UTC)
FLOW = ("booking", "sib.route", "cjis.search", "ident.search")


def chain(task: Task, history: Sequence[Fact]) -> HandlerResult:
    at = FLOW.index(task.step)
    event_ = NewEvent(
        task.case_id, task.step, "SIB", T0, {"n": len(history), "pad": "x" * 600}, "t"
    )
    following = (NextTask(FLOW[at + 1]),) if at + 1 < len(FLOW) else ()
    return HandlerResult((event_,), following)


HANDLERS = dict.fromkeys(FLOW, chain)


def book(store: EventStore, n: int) -> None:
    with store.write() as tx:
        for i in range(n):
            enqueue(tx, f"06037-{i:06d}", "booking", {})


def steps_per_case(store: EventStore) -> Counter[tuple[str, str]]:
    with store.connection(write=False) as conn:
        return Counter(
            (c, s) for c, s in conn.execute(text("SELECT case_id, step FROM events")).all()
        )


def test_a_full_database_stops_the_worker_and_a_rerun_completes(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path}/full.sqlite"
    with EventStore.open(url) as store:
        book(store, 200)
        with store.connection(write=False) as conn:
            pages = int(conn.exec_driver_sql("PRAGMA page_count").scalar_one())
    # SQLite's own cap on the file's size gives the error a full disk gives: SQLITE_FULL.
    with EventStore.open(url) as store:

        @event.listens_for(store.engine, "connect")
        def _cap(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute(f"PRAGMA max_page_count={pages + 8}")

        store.engine.dispose()
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match="is full") as raised:
            run_worker(store, HANDLERS, batch=16, retry_delay=0.01)
        assert time.monotonic() - started < 30  # stopped, not spinning
        assert "free some space" in str(raised.value)
        done_before = counts(store)
        assert done_before["failed"] == 0  # no task blamed for the disk
    with EventStore.open(url) as store:
        run_worker(store, HANDLERS, batch=16)
        assert counts(store) == {"pending": 0, "done": 200 * len(FLOW), "failed": 0}
        per_step = steps_per_case(store)
        assert len(per_step) == 200 * len(FLOW) and set(per_step.values()) == {1}


@pytest.mark.postgres
def test_connections_dropped_mid_run_are_waited_out(store_url: str) -> None:
    if not store_url.startswith("postgresql"):
        pytest.skip("the server dropping connections is a PostgreSQL test")
    name = f"scomm-drop-{uuid.uuid4().hex[:8]}"
    url = make_url(store_url).update_query_dict({"application_name": name})
    admin = create_engine(make_url(store_url).set(drivername="postgresql+psycopg"),
                          poolclass=NullPool)  # fmt: skip
    dropped = [0]
    stop = threading.Event()

    def drop_connections() -> None:
        # What a server restart does to a worker: every connection of it terminated, twice.
        while not stop.is_set() and dropped[0] < 4:
            time.sleep(0.3)
            with admin.begin() as conn:
                dropped[0] += len(
                    conn.execute(
                        text(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE application_name = :n AND pid <> pg_backend_pid()"
                        ),
                        {"n": name},
                    ).all()
                )

    with EventStore.open(url.render_as_string(hide_password=False)) as store:
        book(store, 300)
        dropper = threading.Thread(target=drop_connections)
        dropper.start()
        slow = {step: _slowly(chain) for step in FLOW}
        try:
            run_worker(store, slow, batch=8, retry_delay=0.01, reconnect_s=60)
        finally:
            stop.set()
            dropper.join(30)
            admin.dispose()
        assert dropped[0] > 0
        assert counts(store) == {"pending": 0, "done": 300 * len(FLOW), "failed": 0}
        per_step = steps_per_case(store)
        assert len(per_step) == 300 * len(FLOW) and set(per_step.values()) == {1}
        assert store.verify_audit().intact


def _slowly(handler: Any) -> Any:
    def run(task: Task, history: Sequence[Fact]) -> HandlerResult:
        time.sleep(0.001)
        return handler(task, history)

    return run


def test_an_io_error_on_a_disk_without_room_is_called_a_full_disk(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite says only "disk I/O error" when a nearly full disk has no room for its journal
    # or shared-memory file (seen on a 20 MB tmpfs with 27 KB left): the free space tells.
    import sqlite3

    from sqlalchemy.exc import OperationalError

    from scomm.store import outage as outages

    orig = sqlite3.OperationalError("disk I/O error")
    orig.sqlite_errorcode = 10 | (3 << 8)  # SQLITE_IOERR_WRITE
    exc = OperationalError("INSERT INTO events ...", {}, orig)
    database = tmp_path / "store.sqlite"
    monkeypatch.setattr(outages, "free_bytes", lambda _path: 27_664)
    found = outages.outage(exc, database)
    assert found is not None and found.kind == "disk full" and "27,664 bytes free" in found.detail
    assert "is full" in str(outages.unavailable(found, "sqlite:///store.sqlite"))
    monkeypatch.setattr(outages, "free_bytes", lambda _path: 10 << 30)
    assert outages.outage(exc, database) == outages.Outage("unusable", "disk I/O error")
    assert outages.outage(exc) == outages.Outage("unusable", "disk I/O error")  # no file known
