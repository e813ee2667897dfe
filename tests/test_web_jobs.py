"""What-if jobs kept in the store's database: one job per question, claimed by exactly one
server process, kept across a restart, and a job whose process died shown as failed with a
message. On SQLite and, when SCOMM_TEST_POSTGRES_URL is set, PostgreSQL (``store_url``)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from _public_data import needs_public_data

from scomm.errors import InputError
from scomm.store.events import EventStore
from scomm.web.jobstore import JobStore

QUESTION: dict[str, Any] = {"place": "48453", "reform": "judicial_warrant"}


def test_a_question_asked_twice_is_one_job(store_url: str) -> None:
    with EventStore.open(store_url) as store:
        jobs = JobStore(store)
        first = jobs.submit("k1", QUESTION, None)
        again = jobs.submit("k1", QUESTION, None)
        other = jobs.submit("k2", QUESTION, "draft text")
        assert first.id == again.id and first.status == "queued"
        assert other.id != first.id and jobs.get(other.id).draft_text == "draft text"
        assert jobs.get(first.id).question == QUESTION
        with pytest.raises(InputError, match="no such job"):
            jobs.get("nope")


def test_a_job_is_claimed_by_exactly_one_of_many_workers(store_url: str) -> None:
    with EventStore.open(store_url) as store:
        n_jobs = 6
        ids = {JobStore(store).submit(f"k{i}", QUESTION, None).id for i in range(n_jobs)}
    claimed: dict[str, list[str]] = {}
    lock = threading.Lock()
    start = threading.Barrier(4)

    def worker(name: str) -> None:
        # A store of its own: another server process, as far as the database can tell.
        with EventStore.open(store_url) as own:
            table = JobStore(own)
            start.wait()
            while (row := table.claim(name)) is not None:
                with lock:
                    claimed.setdefault(row.id, []).append(name)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert set(claimed) == ids
    assert all(len(names) == 1 for names in claimed.values()), claimed
    with EventStore.open(store_url) as store:
        table = JobStore(store)
        for job_id, names in claimed.items():
            row = table.get(job_id)
            assert row.status == "running" and row.worker == names[0]


def test_a_job_whose_process_died_fails_with_a_message_and_can_be_asked_again(
    store_url: str,
) -> None:
    with EventStore.open(store_url) as store:
        jobs = JobStore(store, stale_s=0.2)
        job = jobs.submit("k1", QUESTION, None)
        assert jobs.claim("dead-worker") is not None
        jobs.beat(job.id, "dead-worker", 0.4)
        assert jobs.get(job.id).progress == pytest.approx(0.4)
        time.sleep(0.4)  # no heartbeat: the worker was killed
        failed = jobs.get(job.id)
        assert failed.status == "failed"
        assert (
            failed.error is not None and "stopped" in failed.error and "ask again" in failed.error
        )
        # The dead worker coming back to life cannot overwrite what was said of its job.
        jobs.finish(job.id, "dead-worker", "done", {"x": 1}, 1.0)
        assert jobs.get(job.id).status == "failed" and jobs.get(job.id).result is None
        # Asked again: a new attempt, queued.
        rerun = jobs.submit("k1", QUESTION, None)
        assert rerun.id != job.id and rerun.status == "queued"
        assert jobs.latest("k1") == rerun


def test_a_job_is_finished_only_by_its_claimant_and_given_back_on_shutdown(
    store_url: str,
) -> None:
    with EventStore.open(store_url) as store:
        jobs = JobStore(store)
        a = jobs.submit("a", QUESTION, None)
        b = jobs.submit("b", QUESTION, None)
        assert jobs.claim("w1") is not None and jobs.claim("w2") is not None
        jobs.finish(a.id, "w2", "done", {"wrong": True}, 1.0)  # not w2's job
        assert jobs.get(a.id).status == "running"
        jobs.finish(a.id, "w1", "done", {"figures": [1, 2]}, 1.5)
        done = jobs.get(a.id)
        assert done.status == "done" and done.result == {"figures": [1, 2]}
        assert done.progress == 1.0 and done.seconds == 1.5
        assert jobs.give_back("w2") == 1  # the server stops in order
        back = jobs.get(b.id)
        assert back.status == "queued" and back.worker is None
        assert jobs.claim("w3") == jobs.get(b.id)


def _wait(jobs: Any, job_id: str, timeout: float = 240) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = jobs.get(job_id)
        if job.status in ("done", "failed"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} not done in {timeout} s: {jobs.get(job_id)}")


@pytest.mark.parametrize("_", [pytest.param(None, marks=needs_public_data())], ids=["data"])
def test_two_server_processes_share_jobs_and_a_restart_keeps_them(store_url: str, _: None) -> None:
    """Two Jobs (as two uvicorn workers would hold) on one database run the questions between
    them, each once; a third started later (a restart) finds the answers."""
    from scomm.web.whatif import Drafts, Jobs, Question

    questions = [
        Question("48453", "judicial_warrant", "2014-01", "2014-02", runs=2, seed=s)
        for s in (1, 2, 3)
    ]
    stores = [EventStore.open(store_url) for _ in range(2)]
    servers = [Jobs(s, Drafts(None)) for s in stores]
    try:
        for server in servers:
            server.start()
        asked = [servers[i % 2].submit(q) for i, q in enumerate(questions)]
        done = [_wait(servers[0], job.id) for job in asked]
        assert [j.status for j in done] == ["done"] * 3, [j.error for j in done]
        rows = [servers[0].table.get(j.id) for j in asked]
        assert {r.worker for r in rows} <= {servers[0].name, servers[1].name}
        assert all(r.result is not None and r.result["place"]["code"] == "48453" for r in rows)
    finally:
        for server in servers:
            server.shutdown()
        for s in stores:
            s.close()
    with EventStore.open(store_url) as store:
        restarted = Jobs(store, Drafts(None))
        try:
            again = restarted.submit(questions[0])  # not started: nothing runs, it is found
            assert again.id == asked[0].id and again.status == "done"
            assert again.result == done[0].result
        finally:
            restarted.shutdown()
