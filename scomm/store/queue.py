"""The work queue, in the same database as the event log.

A task asks for one step of one case ("cjis.search for case 06037-000123"). A worker claims a
batch of tasks in one transaction (PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED``, so workers
share the queue; SQLite: ``BEGIN IMMEDIATE``, so they take turns) and, in that same transaction,
appends the events each step produced, enqueues the steps that follow and marks the task done.
Either all of it commits or none of it does: a worker killed half-way (even by SIGKILL) leaves
its tasks pending and its events unwritten, and the next worker does the step once.

Low level::

    with claim(store, batch=128, worker="w1") as work:
        for task in work.tasks:
            work.append(NewEvent(...))
            work.enqueue(task.case_id, "next.step", {...})
            work.done(task)

High level: :func:`run_worker` with one pure handler per step, ``handler(task, history) ->
HandlerResult``; a handler that raises fails its own task (retried later, up to ``max_attempts``)
and the rest of the batch goes on.
"""

from __future__ import annotations

import datetime as dt
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from typing import Any

from sqlalchemy import Row, bindparam, func, literal_column, select, update
from sqlalchemy.exc import OperationalError

from scomm.errors import InputError, ScommError
from scomm.store.events import EventStore, Fact, NewEvent, Tx, check_json, task_row, utcnow
from scomm.store.outage import outage, unavailable
from scomm.store.schema import DoneMark, is_in, tasks

MAX_ERROR_CHARS = 4000  # of a failure's text kept in the task row
RECONNECT_S = 120.0  # how long a worker waits for a lost database server to come back
# A literal, not a parameter: the partial index ``tasks_pending`` serves only a condition the
# planner can see is the index's own, which a reused (generic) PostgreSQL plan cannot.
IS_PENDING = tasks.c.status == literal_column("'pending'")


@dataclass(frozen=True, slots=True)
class Task:
    """A row of the queue."""

    id: int
    case_id: str
    step: str
    payload: dict[str, Any]
    status: str  # "pending", "done" or "failed"
    attempts: int  # failed attempts so far
    not_before: dt.datetime
    error: str | None
    created_at: dt.datetime
    finished_at: dt.datetime | None
    worker: str | None

    @classmethod
    def of_row(cls, row: Row[Any]) -> Task:
        """From a row of ``select(tasks)``: the columns are the fields, in order (checked below)."""
        return cls(*tuple(row))


if [f.name for f in fields(Task)] != list(tasks.c.keys()):
    raise RuntimeError("Task's fields and the tasks table's columns are out of step")


@dataclass(frozen=True, slots=True)
class NextTask:
    """A step to run after this one: for the same case unless ``case_id`` says otherwise, not
    before ``not_before`` (wall time) if given."""

    step: str
    payload: dict[str, Any] = field(default_factory=dict)
    case_id: str | None = None
    not_before: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class HandlerResult:
    """What a handler returns: the events to append and the tasks to enqueue."""

    events: Sequence[NewEvent] = ()
    next: Sequence[NextTask] = ()


# A pure function of the task and the case's history (oldest first, this batch's appends
# included). It reads nothing else from the store and writes nothing: the worker does.
Handler = Callable[[Task, Sequence[Fact]], HandlerResult]


def enqueue(
    tx: Tx,
    case_id: str,
    step: str,
    payload: Mapping[str, Any] | None = None,
    *,
    not_before: dt.datetime | None = None,
) -> None:
    """Enqueue a task in the transaction ``tx`` (``with store.write() as tx``): it becomes
    visible to workers when ``tx`` commits, together with whatever else ``tx`` wrote."""
    tx.enqueue(case_id, step, payload, not_before=not_before)


class Work(Tx):
    """A claimed batch of tasks and the transaction that holds them."""

    def __init__(
        self,
        store: EventStore,
        conn: Any,
        worker: str,
        claimed: list[Task],
        max_attempts: int,
        retry_delay: float,
    ) -> None:
        super().__init__(store, conn, reader=f"worker:{worker}")
        self.worker = worker
        self.tasks = claimed
        self.max_attempts = max_attempts
        self.retry_delay = retry_delay
        self._mine = {t.id for t in claimed}
        self._done: list[int] = []  # not yet written
        self._failures: dict[int, dict[str, Any]] = {}  # task id -> its update, not yet written
        self._marked: set[int] = set()
        self._done_count = 0
        self._failure_log: list[Mapping[str, Any]] = []

    def done(self, task: Task) -> None:
        """The task's step is complete: marked done when this transaction commits."""
        self._check_open(task)
        self._mark_done(task)

    def fail(self, task: Task, error: str, *, retry: bool = True) -> None:
        """The task's step failed: one more attempt is counted; it stays pending (due again
        after a backoff) until ``max_attempts``, then it is failed for good. ``retry=False``
        fails it at once (nothing would change on a retry: an unknown step, say)."""
        self._check_open(task)
        update_ = failure_update(task, error, self.max_attempts, self.retry_delay, final=not retry)
        self._failures[task.id] = update_
        self._failure_log.append(update_)
        self._marked.add(task.id)

    def apply(self, task: Task, result: HandlerResult) -> None:
        """Buffer a handler's result and mark the task done; all of it or, if any part is
        malformed, none of it (and the error is raised)."""
        where = f"step {task.step!r} of case {task.case_id!r}"
        if not isinstance(result, HandlerResult):
            raise InputError(
                where, f"the handler returned {type(result).__name__}, not HandlerResult"
            )
        for e in result.events:
            if not isinstance(e, NewEvent):
                raise InputError(where, f"{e!r} is not a NewEvent")
            check_json(e.payload, f"event {e.step!r} of case {e.case_id!r}")
        rows = [
            task_row(n.case_id or task.case_id, n.step, n.payload, n.not_before)
            for n in result.next
        ]
        self._check_open(task)
        for e in result.events:
            self._events.append(e)
            history = self._histories.get(e.case_id)
            if history is not None:
                history.append(e)
        self._tasks.extend(rows)
        self._mark_done(task)

    @property
    def done_count(self) -> int:
        """Tasks marked done in this claim."""
        return self._done_count

    @property
    def failures(self) -> Sequence[Mapping[str, Any]]:
        """The failed attempts recorded in this claim (``t_status`` says pending or failed)."""
        return self._failure_log

    def _mark_done(self, task: Task) -> None:
        self._done.append(task.id)
        self._done_count += 1
        self._marked.add(task.id)

    def _check_open(self, task: Task) -> None:
        if task.id not in self._mine:
            raise ScommError(f"task {task.id} ({task.step}) is not in this claim")
        if task.id in self._marked:
            raise ScommError(f"task {task.id} ({task.step}) is already marked in this claim")

    def _take_done(self) -> DoneMark | None:
        if not self._done:
            return None
        mark = DoneMark(list(self._done), utcnow(), self.worker)
        self._done.clear()
        return mark

    def flush(self) -> None:
        super().flush()
        if self._failures:
            _write_failures(self.conn, list(self._failures.values()), self.worker)
            self._failures.clear()


def failure_update(
    task: Task, error: str, max_attempts: int, retry_delay: float, *, final: bool = False
) -> dict[str, Any]:
    """The new state of a task after a failed attempt."""
    attempts = task.attempts + 1
    now = utcnow()
    if final or attempts >= max_attempts:
        status, not_before, finished = "failed", task.not_before, now
    else:
        # Exponential backoff: a step that failed on a passing cause gets time for it to pass.
        delay = retry_delay * 2 ** (attempts - 1)
        status, not_before, finished = "pending", now + dt.timedelta(seconds=delay), None
    return {
        "t_id": task.id, "t_status": status, "t_attempts": attempts, "t_not_before": not_before,
        "t_error": error[-MAX_ERROR_CHARS:], "t_finished_at": finished,
    }  # fmt: skip


def _write_failures(conn: Any, updates: list[dict[str, Any]], worker: str) -> None:
    # "AND status = 'pending'": never overwrite a task that another worker has since finished.
    statement = (
        update(tasks)
        .where(tasks.c.id == bindparam("t_id"), tasks.c.status == "pending")
        .values(
            status=bindparam("t_status"),
            attempts=bindparam("t_attempts"),
            not_before=bindparam("t_not_before", type_=tasks.c.not_before.type),
            error=bindparam("t_error"),
            finished_at=bindparam("t_finished_at", type_=tasks.c.finished_at.type),
            worker=worker,
        )
    )
    conn.execute(statement, updates)


def describe(exc: BaseException) -> str:
    """A failure's text for the task row: the exception and where it was raised."""
    return "".join(traceback.format_exception(exc)).strip()


@contextmanager
def claim(
    store: EventStore,
    batch: int = 128,
    worker: str = "worker",
    *,
    max_attempts: int = 3,
    retry_delay: float = 1.0,
    ids: Sequence[int] | None = None,
    record_failure: bool = True,
) -> Iterator[Work]:
    """Claim up to ``batch`` due pending tasks (oldest first), or the pending ones among
    ``ids``, in one write transaction that the block's work shares.

    On normal exit everything buffered is written and committed; tasks neither done nor
    failed go back to the queue unchanged. If the block raises, everything is rolled back and,
    when ``record_failure``, one failed attempt of each claimed task is recorded in a separate
    transaction (the error text kept; failed for good after ``max_attempts``).
    """
    if batch < 1:
        raise InputError("batch", f"{batch} is not a positive number of tasks")
    if max_attempts < 1:
        raise InputError("max_attempts", f"{max_attempts} is less than one attempt")
    claimed: list[Task] = []
    with store.writer_turn(), store.engine.connect() as plain:
        conn = plain.execution_options(scomm_write=True)
        transaction = conn.begin()
        try:
            query = select(tasks).where(IS_PENDING).order_by(tasks.c.id)
            if ids is not None:
                query = query.where(is_in(tasks.c.id, list(ids), conn.dialect))
            else:
                query = query.where(tasks.c.not_before <= utcnow()).limit(batch)
            if conn.dialect.name == "postgresql":
                # Rows another worker holds are skipped, not waited for.
                query = query.with_for_update(skip_locked=True)
            claimed = [Task.of_row(r) for r in conn.execute(query)]
            work = Work(store, conn, worker, claimed, max_attempts, retry_delay)
            # Take the claimed cases' append locks now, before any history is read.
            work._lock_cases(t.case_id for t in claimed)
            yield work
            work.flush()
            transaction.commit()
        except BaseException as exc:
            try:
                transaction.rollback()
            except Exception as failed:  # a connection already lost has nothing to roll back
                if outage(failed) is None:
                    raise
            # The database failing is no task's fault: nothing to record against them (and
            # nowhere to record it).
            if claimed and record_failure and isinstance(exc, Exception) and outage(exc) is None:
                record_failures(store, claimed, describe(exc), worker, max_attempts, retry_delay)
            raise


def record_failures(
    store: EventStore,
    failed: Sequence[Task],
    error: str,
    worker: str,
    max_attempts: int,
    retry_delay: float,
) -> None:
    """One failed attempt of each task, in a transaction of its own (the one that ran the
    tasks was rolled back)."""
    updates = [failure_update(t, error, max_attempts, retry_delay) for t in failed]
    with store.connection(write=True) as conn:
        _write_failures(conn, updates, worker)


# --------------------------------------------------------------------------- the worker loop


@dataclass
class WorkerStats:
    done: int = 0  # tasks completed
    retried: int = 0  # failed attempts that will be tried again
    failed: int = 0  # tasks failed for good
    batches: int = 0  # transactions committed with work in them
    batch_errors: int = 0  # batches that could not commit and were redone task by task
    seconds: float = 0.0

    def add(self, work: Work) -> None:
        self.done += work.done_count
        for update_ in work.failures:
            if update_["t_status"] == "failed":
                self.failed += 1
            else:
                self.retried += 1
        self.batches += 1

    @classmethod
    def summed(cls, each: Sequence[WorkerStats], seconds: float) -> WorkerStats:
        """Several workers' statistics as one, over ``seconds`` of wall time."""
        total = cls(seconds=seconds)
        for f in fields(cls):
            if f.name != "seconds":
                setattr(total, f.name, sum(getattr(s, f.name) for s in each))
        return total


# Called with tasks a worker is about to claim, outside any transaction, before their handlers
# run: it may compute what those handlers will read (a biometric search, say) into a cache of
# its own, while another worker holds the store. It writes nothing to the store; what it
# computes must not change what the handlers return, only how soon.
Prefetch = Callable[[Sequence[Task]], None]


def run_worker(
    store: EventStore,
    handlers: Mapping[str, Handler],
    *,
    worker: str = "worker",
    batch: int = 128,
    stop_when_idle: bool = True,
    max_attempts: int = 3,
    retry_delay: float = 1.0,
    poll_interval: float = 0.2,
    should_stop: Callable[[], bool] | None = None,
    prefetch: Prefetch | None = None,
    share: tuple[int, int] = (0, 1),
    reconnect_s: float = RECONNECT_S,
) -> WorkerStats:
    """Run tasks until the queue is empty (``stop_when_idle``) or ``should_stop()`` says so.

    Each batch is one transaction: for each task, ``handlers[task.step](task, history)`` and
    its result applied (events appended, next tasks enqueued, task done). A handler that raises
    fails its own task only. A batch that cannot commit (a database error) is rolled back and
    redone one task per transaction, so one bad task cannot hold back the others.

    With ``prefetch``, the worker first reads which tasks are due (no lock taken), calls
    ``prefetch`` on them, then claims them. ``share = (k, n)``: this worker looks first at the
    tasks whose id is ``k`` modulo ``n`` (so that ``n`` workers do not prefetch the same
    tasks), and at any others when none of those are due (a worker that died leaves no task
    behind). Which worker runs a task never changes its result: the claim decides, in its
    transaction.

    The database failing (see :mod:`scomm.store.outage`) fails no task: a lost connection is
    waited out for up to ``reconnect_s`` seconds, then, like a full disk at once, it stops the
    worker with :class:`~scomm.store.outage.StoreUnavailable`.
    """
    k, n = share
    if not 0 <= k < n:
        raise InputError("share", f"{share}: worker {k} of {n} is not one of them")
    stats = WorkerStats()
    started = time.perf_counter()
    lost_since: float | None = None  # when the database stopped answering
    while should_stop is None or not should_stop():
        try:
            ids = None
            if prefetch is not None:
                due = due_tasks(store, batch, share) or (due_tasks(store, batch) if n > 1 else [])
                if due:
                    prefetch(due)
                    ids = [t.id for t in due]
            claimed = _run_batch(
                store, handlers, worker, batch, max_attempts, retry_delay, stats, ids
            )
            lost_since = None
            if claimed:
                continue
            pending, next_due = queue_state(store)
        except Exception as exc:
            found = outage(exc, store.database_file)
            if found is None:
                raise
            now = time.monotonic()
            lost_since = now if lost_since is None else lost_since
            if not found.retryable or now - lost_since > reconnect_s:
                raise unavailable(found, store.where) from None
            # A server restarting: what was committed stays, what was not is redone.
            time.sleep(min(1.0, max(poll_interval, 0.05)))
            continue
        if pending == 0 and stop_when_idle:
            break
        # Pending tasks not yet due, or held by another worker: wait for them.
        wait = poll_interval
        if next_due is not None:
            wait = min(wait, max(0.0, (next_due - utcnow()).total_seconds()))
        time.sleep(max(wait, 0.001))
    stats.seconds = time.perf_counter() - started
    return stats


def run_workers(
    store: EventStore,
    handlers: Mapping[str, Handler],
    workers: int,
    *,
    worker: str = "worker",
    prefetch: Prefetch | None = None,
    **options: Any,
) -> WorkerStats:
    """:func:`run_worker` on ``workers`` threads of this process (named ``worker-1``, ...),
    sharing the queue; their statistics summed. Threads overlap where the work leaves the
    interpreter: database round trips, and compiled code such as biometric searches."""
    if workers < 1:
        raise InputError("workers", f"{workers} is not a positive number of workers")
    if workers == 1:
        return run_worker(store, handlers, worker=worker, prefetch=prefetch, **options)
    started = time.perf_counter()
    with ThreadPoolExecutor(workers, thread_name_prefix=worker) as pool:
        futures = [
            pool.submit(
                run_worker,
                store,
                handlers,
                worker=f"{worker}-{k + 1}",
                prefetch=prefetch,
                share=(k, workers),
                **options,
            )
            for k in range(workers)
        ]
        each = [f.result() for f in futures]
    return WorkerStats.summed(each, time.perf_counter() - started)


def _run_batch(
    store: EventStore,
    handlers: Mapping[str, Handler],
    worker: str,
    batch: int,
    max_attempts: int,
    retry_delay: float,
    stats: WorkerStats,
    ids: Sequence[int] | None = None,
) -> int:
    claimed: list[Task] = []
    options: dict[str, Any] = {"max_attempts": max_attempts, "retry_delay": retry_delay}
    try:
        with claim(store, batch, worker, record_failure=False, ids=ids, **options) as work:
            claimed = list(work.tasks)
            _handle(work, handlers)
        if claimed:
            stats.add(work)
        return len(claimed)
    except OperationalError as exc:
        if outage(exc) is not None:
            raise
        if not claimed and store.backend == "sqlite" and "locked" in str(exc.orig):
            # Another process held SQLite's write lock past the busy timeout: not a failure
            # of any task; try again.
            return 0
        if not claimed:
            raise
    except Exception as exc:
        if not claimed or outage(exc) is not None:
            raise  # the claim itself failed: the database is not there to record anything
    stats.batch_errors += 1
    for task in claimed:
        try:
            with claim(store, 1, worker, ids=[task.id], **options) as work:
                _handle(work, handlers)
            if work.tasks:
                stats.add(work)
        except Exception as exc:
            if outage(exc) is not None:
                raise  # not this task's fault, nor the next one's
            # The failed attempt is recorded (claim did it); the next task goes on.
            stats.retried += 1
    return len(claimed)


def _handle(work: Work, handlers: Mapping[str, Handler]) -> None:
    purposes: dict[str, str] = {}
    for t in work.tasks:
        purposes.setdefault(t.case_id, f"step {t.step}")
    work.load_histories(purposes)
    for task in work.tasks:
        handler = handlers.get(task.step)
        if handler is None:
            work.fail(task, f"no handler for step {task.step!r}", retry=False)
            continue
        try:
            result = handler(task, work.history(task.case_id, purpose=f"step {task.step}"))
            work.apply(task, result)
        except Exception as exc:
            work.fail(task, describe(exc))


# --------------------------------------------------------------------------- looking at the queue


def due_tasks(store: EventStore, limit: int, share: tuple[int, int] = (0, 1)) -> list[Task]:
    """Up to ``limit`` pending tasks due now, oldest first, whose id is ``k`` modulo ``n``
    (``share = (k, n)``): a look, not a claim; another worker may take them meanwhile."""
    k, n = share
    query = (
        select(tasks)
        .where(IS_PENDING, tasks.c.not_before <= utcnow())
        .order_by(tasks.c.id)
        .limit(limit)
    )
    if n > 1:
        query = query.where(tasks.c.id % n == k)
    with store.connection(write=False) as conn:
        return [Task.of_row(r) for r in conn.execute(query)]


def queue_state(store: EventStore) -> tuple[int, dt.datetime | None]:
    """How many tasks are pending, and when the earliest of them is due."""
    with store.connection(write=False) as conn:
        count, due = conn.execute(
            select(func.count(), func.min(tasks.c.not_before)).where(IS_PENDING)
        ).one()
    return int(count), due


def counts(store: EventStore) -> dict[str, int]:
    """Tasks by status: ``{"pending": n, "done": n, "failed": n}``."""
    found = dict.fromkeys(("pending", "done", "failed"), 0)
    with store.connection(write=False) as conn:
        for status, n in conn.execute(
            select(tasks.c.status, func.count()).group_by(tasks.c.status)
        ):
            found[status] = int(n)
    return found


def task_list(
    store: EventStore, *, status: str | None = None, case_id: str | None = None
) -> list[Task]:
    """Tasks (oldest first), filtered by status and case."""
    query = select(tasks).order_by(tasks.c.id)
    if status is not None:
        query = query.where(tasks.c.status == status)
    if case_id is not None:
        query = query.where(tasks.c.case_id == case_id)
    with store.connection(write=False) as conn:
        return [Task.of_row(r) for r in conn.execute(query)]


def retry_failed(store: EventStore, ids: Sequence[int] | None = None) -> int:
    """Put failed tasks (all, or those among ``ids``) back in the queue with a fresh count of
    attempts; their last error stays until they run. Returns how many."""
    statement = (
        update(tasks)
        .where(tasks.c.status == "failed")
        .values(status="pending", attempts=0, not_before=utcnow(), finished_at=None)
    )
    if ids is not None:
        statement = statement.where(tasks.c.id.in_(list(ids)))
    with store.connection(write=True) as conn:
        return int(conn.execute(statement).rowcount)
