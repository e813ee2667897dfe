"""The work queue: a step's events, its next tasks and its own completion commit together."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from sqlalchemy import text

from scomm.errors import InputError
from scomm.store import (
    EventStore,
    Fact,
    HandlerResult,
    NewEvent,
    NextTask,
    Task,
    WorkerStats,
    enqueue,
    run_worker,
    run_workers,
)
from scomm.store.queue import claim, counts, retry_failed, task_list

T0 = dt.datetime(2013, 6, 1, 8, 30, tzinfo=dt.UTC)
FLOW = ("booking", "sib.route", "cjis.search", "ident.search", "lesc.iar", "ero.decision")


def ev(case_id: str, step: str, **payload: Any) -> NewEvent:
    return NewEvent(case_id, step, "SIB", T0, payload, "8 CFR 287.7")


def chain(task: Task, history: Sequence[Fact]) -> HandlerResult:
    """A flow of six steps: record this one, ask for the next."""
    at = FLOW.index(task.step)
    event = NewEvent(
        task.case_id, task.step, "SIB", T0 + dt.timedelta(minutes=at), {"n": len(history)}, "test"
    )
    following = (NextTask(FLOW[at + 1], {"from": task.step}),) if at + 1 < len(FLOW) else ()
    return HandlerResult((event,), following)


HANDLERS = dict.fromkeys(FLOW, chain)


@pytest.fixture
def store(store_url: str) -> Iterator[EventStore]:
    with EventStore.open(store_url) as s:
        yield s


def book(store: EventStore, n: int) -> list[str]:
    ids = [f"06037-{i:06d}" for i in range(n)]
    with store.write() as tx:
        for case_id in ids:
            enqueue(tx, case_id, "booking", {"county_fips": "06037"})
    return ids


def test_a_flow_runs_to_its_end_once_per_case(store: EventStore) -> None:
    ids = book(store, 40)
    stats = run_worker(store, HANDLERS, worker="w1", batch=16)
    assert stats.done == 40 * len(FLOW) and stats.failed == stats.retried == 0
    assert counts(store) == {"pending": 0, "done": 240, "failed": 0}
    for case_id, history in store.histories(ids, reader="test"):
        assert [e.step for e in history] == list(FLOW), case_id
        assert [e.seq for e in history] == list(range(1, 7))
        # Each step saw the whole history before it, its own batch's appends included.
        assert [e.payload["n"] for e in history] == list(range(6))
    done = task_list(store, case_id=ids[0])
    assert [t.step for t in done] == list(FLOW)
    assert all(t.worker == "w1" and t.finished_at is not None for t in done)
    assert done[1].payload == {"from": "booking"}


def test_worker_reads_are_logged(store: EventStore) -> None:
    (case_id,) = book(store, 1)
    run_worker(store, HANDLERS, worker="w7")
    log = store.audit_entries(subject=case_id)
    assert len(log) == len(FLOW)
    assert {r.reader for r in log} == {"worker:w7"}
    assert [r.purpose for r in log] == [f"step {s}" for s in FLOW]
    assert store.verify_audit().intact


def test_claim_commits_events_tasks_and_done_together(store: EventStore) -> None:
    book(store, 3)
    with claim(store, batch=2, worker="w1") as work:
        assert [t.case_id for t in work.tasks] == ["06037-000000", "06037-000001"]
        for task in work.tasks:
            work.append(ev(task.case_id, "booking"))
            work.enqueue(task.case_id, "sib.route", {"x": 1})
            work.done(task)
    assert counts(store) == {"pending": 3, "done": 2, "failed": 0}
    assert store.cases() == ["06037-000000", "06037-000001"]


def test_an_exception_rolls_back_the_batch_and_counts_an_attempt(store: EventStore) -> None:
    book(store, 2)
    with pytest.raises(RuntimeError, match="IAFIS down"), claim(store, batch=10) as work:
        for task in work.tasks:
            work.append(ev(task.case_id, "booking"))
            work.enqueue(task.case_id, "sib.route")
            work.done(task)
        work.flush()  # in the database, not yet committed
        raise RuntimeError("IAFIS down")
    assert store.cases() == []
    pending = task_list(store)
    assert [(t.status, t.attempts) for t in pending] == [("pending", 1), ("pending", 1)]
    assert all("IAFIS down" in (t.error or "") for t in pending)
    # Retried after its backoff (1 s by default), not at once.
    assert all(t.not_before > t.created_at for t in pending)


def test_a_failing_handler_fails_its_task_and_the_batch_goes_on(store: EventStore) -> None:
    book(store, 5)

    def flaky(task: Task, history: Sequence[Fact]) -> HandlerResult:
        if task.case_id == "06037-000002":
            raise ValueError("no prints in the transaction")
        return chain(task, history)

    stats = run_worker(
        store, {**HANDLERS, "booking": flaky}, batch=8, max_attempts=3, retry_delay=0
    )
    assert stats.done == 4 * len(FLOW)
    assert stats.retried == 2 and stats.failed == 1
    (failed,) = task_list(store, status="failed")
    assert (failed.case_id, failed.step, failed.attempts) == ("06037-000002", "booking", 3)
    assert "ValueError: no prints in the transaction" in (failed.error or "")
    assert "06037-000002" not in store.cases()

    # Once the cause is gone, an operator can send it back through.
    assert retry_failed(store) == 1
    assert run_worker(store, HANDLERS).done == len(FLOW)
    assert counts(store)["failed"] == 0


def test_a_malformed_result_is_a_failure_of_that_task_only(store: EventStore) -> None:
    book(store, 2)

    def bad(task: Task, history: Sequence[Fact]) -> HandlerResult:
        if task.case_id == "06037-000001":
            good = ev(task.case_id, "booking")
            return HandlerResult((good, ev(task.case_id, "booking", when=dt.date(2013, 1, 1))))
        return chain(task, history)

    run_worker(store, {**HANDLERS, "booking": bad}, max_attempts=1)
    (failed,) = task_list(store, status="failed")
    assert failed.case_id == "06037-000001" and "not JSON" in (failed.error or "")
    # Not even the well-formed first event of the failed step was written.
    assert store.cases() == ["06037-000000"]


def test_an_unknown_step_fails_at_once(store: EventStore) -> None:
    with store.write() as tx:
        enqueue(tx, "x", "no.such.step")
    stats = run_worker(store, HANDLERS, max_attempts=5)
    (failed,) = task_list(store, status="failed")
    assert failed.attempts == 1 and "no handler" in (failed.error or "")
    assert stats.failed == 1


def test_a_batch_that_cannot_commit_is_redone_task_by_task(store: EventStore) -> None:
    """A database error at commit (here a trigger refusing one case's event) must not sink the
    other tasks of the batch."""
    if store.backend == "sqlite":
        poison = """CREATE TRIGGER poison BEFORE INSERT ON events WHEN NEW.case_id = 'bad'
                    BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"""
        statements = [poison]
    else:
        statements = [
            """CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$
               BEGIN IF NEW.case_id = 'bad' THEN RAISE EXCEPTION 'refused by the test';
               END IF; RETURN NEW; END $$""",
            """CREATE TRIGGER poison BEFORE INSERT ON events
               FOR EACH ROW EXECUTE FUNCTION poison()""",
        ]
    with store.engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))
    with store.write() as tx:
        for case_id in ("good-1", "bad", "good-2"):
            enqueue(tx, case_id, "ero.decision")
    stats = run_worker(store, HANDLERS, batch=10, max_attempts=1)
    assert stats.batch_errors == 1 and stats.done == 2
    (failed,) = task_list(store, status="failed")
    assert failed.case_id == "bad" and "refused by the test" in (failed.error or "")
    assert store.cases() == ["good-1", "good-2"]


def test_not_before_is_honored(store: EventStore) -> None:
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    with store.write() as tx:
        enqueue(tx, "a", "booking", not_before=later)
        enqueue(tx, "b", "booking")
    with claim(store, batch=10) as work:
        assert [t.case_id for t in work.tasks] == ["b"]
    # Unfinished tasks go back unchanged.
    assert [(t.case_id, t.attempts) for t in task_list(store, status="pending")] == [
        ("a", 0),
        ("b", 0),
    ]
    with pytest.raises(InputError, match="time zone"), store.write() as tx:
        enqueue(tx, "c", "booking", not_before=dt.datetime(2030, 1, 1))


def test_two_tasks_of_one_case_in_one_batch_see_each_other(store: EventStore) -> None:
    with store.write() as tx:
        enqueue(tx, "a", "booking")
        enqueue(tx, "a", "sib.route")

    def note(task: Task, history: Sequence[Fact]) -> HandlerResult:
        return HandlerResult((ev(task.case_id, task.step, seen=[e.step for e in history]),))

    run_worker(store, {"booking": note, "sib.route": note}, batch=10)
    history = store.events("a", reader="test")
    assert [(e.seq, e.payload["seen"]) for e in history] == [(1, []), (2, ["booking"])]


def test_a_task_cannot_be_marked_twice(store: EventStore) -> None:
    book(store, 1)
    with claim(store) as work:
        (task,) = work.tasks
        work.done(task)
        with pytest.raises(Exception, match="already marked"):
            work.fail(task, "late")


def test_flushing_early_and_again_writes_each_thing_once(store: EventStore) -> None:
    book(store, 2)
    with claim(store, batch=10, max_attempts=2, retry_delay=0) as work:
        first, second = work.tasks
        work.apply(first, chain(first, work.history(first.case_id, purpose="test")))
        work.flush()
        work.fail(second, "LESC did not answer")
        work.flush()
        assert work.done_count == 1 and len(work.failures) == 1
    assert [(t.status, t.attempts) for t in task_list(store, status="pending")] == [
        ("pending", 1),  # the failed one, due again
        ("pending", 0),  # the next step of the first case
    ]
    assert [e.seq for e in store.events(first.case_id, reader="test")] == [1]


def test_worker_threads_do_each_task_once_after_their_prefetch(store: EventStore) -> None:
    ids = book(store, 60)
    seen: list[int] = []

    def prefetch(tasks: Sequence[Task]) -> None:
        seen.extend(t.id for t in tasks)

    stats = run_workers(store, HANDLERS, 3, worker="t", batch=8, prefetch=prefetch)
    assert stats.done == 60 * len(FLOW) and stats.failed == stats.retried == 0
    assert counts(store) == {"pending": 0, "done": 360, "failed": 0}
    for case_id, history in store.histories(ids, reader="test"):
        assert [e.step for e in history] == list(FLOW), case_id
        assert [e.seq for e in history] == list(range(1, 7))
        assert [e.payload["n"] for e in history] == list(range(6))
    done = task_list(store)
    assert {t.worker for t in done} <= {"t-1", "t-2", "t-3"}
    # Every task was looked at before it was claimed (a look may repeat; the claim does not).
    assert {t.id for t in done} <= set(seen)


def test_a_worker_takes_other_shares_when_its_own_is_empty(store: EventStore) -> None:
    book(store, 5)
    stats = run_worker(store, HANDLERS, worker="w", share=(1, 4), prefetch=lambda tasks: None)
    assert stats.done == 5 * len(FLOW)
    assert counts(store)["pending"] == 0
    with pytest.raises(InputError, match="share"):
        run_worker(store, HANDLERS, share=(4, 4))
    with pytest.raises(InputError, match="workers"):
        run_workers(store, HANDLERS, 0)


def test_worker_statistics_add_up_field_by_field() -> None:
    first = WorkerStats(done=3, retried=1, failed=0, batches=2, batch_errors=1, seconds=5.0)
    second = WorkerStats(done=4, retried=0, failed=2, batches=1, batch_errors=0, seconds=7.0)
    total = WorkerStats.summed([first, second], seconds=7.5)
    assert total == WorkerStats(done=7, retried=1, failed=2, batches=3, batch_errors=1, seconds=7.5)
