"""The durable record of every case: an append-only event log and the work queue its workers
claim from, in one database (SQLite by default, PostgreSQL for many workers).

- :mod:`scomm.store.events`  ``EventStore``, ``NewEvent``, ``Event``: append, read (logged), fold.
- :mod:`scomm.store.queue`   tasks, transactional claims and the ``run_worker`` loop
  (``run_workers``: several, on threads).
- :mod:`scomm.store.schema`  the tables and the triggers that refuse to change the log.
"""

from scomm.store.events import Event, EventStore, Fact, NewEvent, Tx
from scomm.store.queue import (
    Handler,
    HandlerResult,
    NextTask,
    Task,
    Work,
    WorkerStats,
    claim,
    counts,
    enqueue,
    run_worker,
    run_workers,
)

__all__ = [
    "Event",
    "EventStore",
    "Fact",
    "Handler",
    "HandlerResult",
    "NewEvent",
    "NextTask",
    "Task",
    "Tx",
    "Work",
    "WorkerStats",
    "claim",
    "counts",
    "enqueue",
    "run_worker",
    "run_workers",
]
