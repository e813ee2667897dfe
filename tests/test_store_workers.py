"""Workers in real processes: killed with SIGKILL mid-step, and several at once on one database.

This file is also the worker program the tests start: ``python test_store_workers.py MODE URL
NAME [MARKER]``.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from scomm.store import (  # noqa: E402
    EventStore,
    Fact,
    HandlerResult,
    NewEvent,
    NextTask,
    Task,
    enqueue,
    run_worker,
)
from scomm.store.queue import claim, counts, task_list  # noqa: E402

T0 = dt.datetime(2013, 6, 1, 8, 30, tzinfo=dt.UTC)
FLOW = ("booking", "sib.route", "cjis.search", "ident.search", "lesc.iar", "ero.decision")
STALL_CASE, STALL_STEP = "06037-000009", "ident.search"
WAIT_S = 120.0  # how long a test waits for a worker before it calls the run broken


def chain(task: Task, history: Sequence[Fact]) -> HandlerResult:
    at = FLOW.index(task.step)
    event = NewEvent(task.case_id, task.step, "SIB", T0, {"seen": len(history)}, "test")
    following = (NextTask(FLOW[at + 1]),) if at + 1 < len(FLOW) else ()
    return HandlerResult((event,), following)


# ----------------------------------------------------------------- the worker program


def signal_file(path: Path, content: str = "") -> None:
    """Create ``path`` with its content at once: the test acts as soon as the name exists."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(content)
    tmp.replace(path)


def stalling(marker: Path) -> dict[str, object]:
    """The flow's handlers, one of which (for one case) signals and then hangs, once."""

    def handler(task: Task, history: Sequence[Fact]) -> HandlerResult:
        result = chain(task, history)
        if (task.case_id, task.step) == (STALL_CASE, STALL_STEP) and not marker.exists():
            signal_file(marker, str(os.getpid()))
            time.sleep(600)  # the test kills us here, in the middle of a batch
        return result

    return dict.fromkeys(FLOW, handler)


def main(argv: list[str]) -> int:
    mode, url, name = argv[:3]
    marker = Path(argv[3]) if len(argv) > 3 else None
    with EventStore.open(url) as store:
        if mode == "hold":
            # Claim everything, write the steps' effects into the open transaction, signal,
            # and hang before committing.
            assert marker is not None
            with claim(store, batch=1000, worker=name) as work:
                for task in work.tasks:
                    work.apply(task, chain(task, work.history(task.case_id, purpose="test")))
                work.flush()
                signal_file(marker, str(len(work.tasks)))
                time.sleep(600)
        elif mode == "stall":
            assert marker is not None
            run_worker(store, stalling(marker), worker=name, batch=4)  # type: ignore[arg-type]
        elif mode == "race":
            # Start together: wait for the test's go (a file), after the imports and the open.
            assert marker is not None
            signal_file(Path(f"{marker}.{name}.ready"))
            deadline = time.monotonic() + WAIT_S
            while not marker.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            stats = run_worker(store, dict.fromkeys(FLOW, chain), worker=name, batch=8)
            print(f"{name} done={stats.done} batches={stats.batches}")
        else:
            raise SystemExit(f"unknown mode {mode}")
    return 0


# ----------------------------------------------------------------- the tests


def spawn(*args: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.Popen([sys.executable, __file__, *args], env=env)


def wait_for(path: Path, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not path.exists():
        assert proc.poll() is None, f"the worker exited ({proc.returncode}) before {path.name}"
        assert time.monotonic() < deadline, f"no {path.name} after {WAIT_S} s"
        time.sleep(0.02)


def kill(proc: subprocess.Popen[bytes]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(WAIT_S) == -signal.SIGKILL


def book(store: EventStore, n: int) -> list[str]:
    ids = [f"06037-{i:06d}" for i in range(n)]
    with store.write() as tx:
        for case_id in ids:
            enqueue(tx, case_id, "booking")
    return ids


def assert_complete_once(store: EventStore, ids: list[str]) -> None:
    """Every case went through every step exactly once: no step lost, none done twice."""
    assert counts(store) == {"pending": 0, "done": len(ids) * len(FLOW), "failed": 0}
    per_case = Counter((t.case_id, t.step) for t in task_list(store))
    assert set(per_case.values()) == {1} and len(per_case) == len(ids) * len(FLOW)
    for case_id, history in store.histories(ids, reader="test", purpose="check"):
        assert [e.step for e in history] == list(FLOW), case_id
        assert [e.seq for e in history] == list(range(1, len(FLOW) + 1)), case_id
        assert [e.payload["seen"] for e in history] == list(range(len(FLOW))), case_id


@pytest.mark.slow
def test_sigkill_with_effects_written_but_not_committed(store_url: str, tmp_path: Path) -> None:
    marker = tmp_path / "flushed"
    with EventStore.open(store_url) as store:
        ids = book(store, 5)
        worker = spawn("hold", store_url, "doomed", str(marker))
        try:
            wait_for(marker, worker)
            assert marker.read_text() == "5"
            # The killed transaction's writes were never visible to anyone.
            assert store.cases() == []
        finally:
            kill(worker)
        assert store.cases() == []
        assert [(t.status, t.attempts) for t in task_list(store)] == [("pending", 0)] * 5

        run_worker(store, dict.fromkeys(FLOW, chain), worker="heir")
        assert_complete_once(store, ids)


@pytest.mark.slow
def test_sigkill_mid_batch_then_restart(store_url: str, tmp_path: Path) -> None:
    marker = tmp_path / "stalled"
    with EventStore.open(store_url) as store:
        ids = book(store, 12)
        first = spawn("stall", store_url, "w1", str(marker))
        try:
            wait_for(marker, first)
            done_before = counts(store)["done"]
        finally:
            kill(first)
        # Batches before the stalled one were committed; the stalled one left no trace.
        assert done_before > 0
        assert counts(store)["done"] == done_before
        assert all(t.attempts == 0 for t in task_list(store, status="pending"))
        assert STALL_STEP not in {e.step for e in store.events(STALL_CASE, reader="test")}

        second = spawn("stall", store_url, "w2", str(marker))
        assert second.wait(WAIT_S) == 0
        assert_complete_once(store, ids)
        by_worker = Counter(t.worker for t in task_list(store))
        assert by_worker["w1"] == done_before and by_worker["w2"] > 0


@pytest.mark.slow
def test_concurrent_workers_do_each_task_once(store_url: str, tmp_path: Path) -> None:
    go = tmp_path / "go"
    names = ("r1", "r2", "r3")
    with EventStore.open(store_url) as store:
        ids = book(store, 100)
        workers = [spawn("race", store_url, name, str(go)) for name in names]
        try:
            for name, proc in zip(names, workers, strict=True):
                wait_for(Path(f"{go}.{name}.ready"), proc)
            signal_file(go)
            assert [p.wait(WAIT_S) for p in workers] == [0, 0, 0]
        finally:
            for p in workers:
                if p.poll() is None:
                    kill(p)
        assert_complete_once(store, ids)
        # Which worker did how much is up to the scheduler (and, on SQLite, the file lock).
        by_worker = Counter(t.worker for t in task_list(store))
        assert set(by_worker) <= set(names)
        print(f"\n{store.backend}: tasks by worker {dict(by_worker)}")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
