"""A synthetic county's bookings through every agency on the event store (SQLite and, where
a server is given, PostgreSQL), the same way `scomm run` does it."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from scomm.pipeline.runner import case_states, process, submit, timeline
from scomm.pipeline.summary import summarize
from scomm.pipeline.synthetic import CountyFacts, build
from scomm.store import EventStore

# A made-up county the size of a small city, activated long before the run, with many
# non-citizens so that a few days give IDENT matches and detainers.
COUNTY = CountyFacts(
    fips="04013",
    name="Test County",
    state="AZ",
    population=120_000,
    noncitizen_share=0.3,
    activation_date=dt.date(2010, 1, 1),
    field_office="PHO",
)
START = dt.date(2013, 6, 3)


def run_once(
    url: str, seed: int = 5, days: int = 2, gallery: int = 150, workers: int = 1
) -> tuple[dict, list]:
    run = build(COUNTY, START, days, seed, gallery_size=gallery)
    messages = list(run.booking_messages())
    with EventStore.open(url) as store:
        submit(store, messages)
        stats = process(store, run.world, batch=32, workers=workers)
        states = case_states(store, [c for c, _, _ in messages], "test", "assertions")
    assert stats["failed"] == 0
    return summarize(states), states


def test_every_booking_goes_through_the_flow(store_url: str) -> None:
    counts, states = run_once(store_url)
    assert counts["bookings"] == len(states) > 10
    for case in states:
        assert case.steps[:3] == ["booking", "sib.routed", "cjis.response"]
        assert case.secure_communities == "activated"
        truth = case.booking["truth"]
        if case.ident and case.ident["match"]:
            # The biometric engine found this person's own IDENT record, not someone else's.
            assert case.ident["fin"] == f"FIN{truth['person_id']}"
            assert case.iar is not None and case.decision is not None
        if case.hold_started_at is not None:
            assert case.notifications, "a hold starts only with the family notified"
            assert case.hold_ended_at is not None and case.hold_ended_at <= case.hold_expires_at
        if case.wrongful_detainer:
            assert truth["status"] in ("naturalized", "derived_citizen", "us_born")
    assert counts["over_holds"] == 0
    assert counts["ident_matches"] > 0
    assert counts["in_progress"] == 0


def test_same_seed_same_figures_other_seed_other_figures(tmp_path: Path) -> None:
    a, _ = run_once(f"sqlite:///{tmp_path}/a.sqlite", seed=11)
    b, _ = run_once(f"sqlite:///{tmp_path}/b.sqlite", seed=11)
    c, _ = run_once(f"sqlite:///{tmp_path}/c.sqlite", seed=12)
    assert a == b
    assert a != c


def test_worker_threads_searching_ahead_give_the_same_cases(tmp_path: Path) -> None:
    one, one_states = run_once(f"sqlite:///{tmp_path}/one.sqlite", seed=13)
    three, three_states = run_once(f"sqlite:///{tmp_path}/three.sqlite", seed=13, workers=3)
    assert one == three and one["ident_matches"] > 0
    # Case by case, step by step: the same events with the same payloads.
    assert [(s.case_id, s.steps, s.ident, s.cjis, s.decision) for s in one_states] == [
        (s.case_id, s.steps, s.ident, s.cjis, s.decision) for s in three_states
    ]


def test_timeline_gives_every_step_its_basis_and_logs_the_read(store_url: str) -> None:
    _, states = run_once(store_url, days=1)
    case_id = states[0].case_id
    events = timeline(store_url, case_id, reader="county-counsel")
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert all(e["legal_basis"] and e["actor"] for e in events)
    assert all("truth" not in e["payload"] for e in events)
    with EventStore.open(store_url) as store, store.connection(write=False) as conn:
        readers = [
            r[0]
            for r in conn.exec_driver_sql(
                "SELECT reader FROM audit_log WHERE subject = %s"
                if store.backend == "postgresql"
                else "SELECT reader FROM audit_log WHERE subject = ?",
                (case_id,),
            )
        ]
    assert "county-counsel" in readers


def test_rerun_resumes_without_duplicating(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/r.sqlite"
    first, _ = run_once(url, seed=9, days=1)
    again, _ = run_once(url, seed=9, days=1)
    assert first == again
    with EventStore.open(url) as store, store.connection(write=False) as conn:
        bookings = conn.exec_driver_sql(
            "SELECT count(*) FROM events WHERE step = 'booking'"
        ).scalar()
    assert bookings == first["bookings"]


WORKER = """
import sys, datetime as dt
sys.path.insert(0, {root!r})
from tests.test_pipeline import COUNTY, START
from scomm.pipeline.runner import process, submit
from scomm.pipeline.synthetic import build
from scomm.store import EventStore
run = build(COUNTY, START, 2, 21, gallery_size=100)
with EventStore.open({url!r}) as store:
    submit(store, list(run.booking_messages()))
    print("submitted", flush=True)
    process(store, run.world, batch=4)
print("finished", flush=True)
"""


def test_a_worker_killed_mid_run_loses_nothing_and_repeats_nothing(tmp_path: Path) -> None:
    root = str(Path(__file__).resolve().parents[1])
    killed_url = f"sqlite:///{tmp_path}/killed.sqlite"
    script = WORKER.format(root=root, url=killed_url)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "submitted"
    # Let it get into the flow, then kill it without warning.
    deadline = time.time() + 60
    with EventStore.open(killed_url) as store:
        while time.time() < deadline:
            with store.connection(write=False) as conn:
                n = conn.exec_driver_sql("SELECT count(*) FROM events").scalar()
            if n and n > 40:
                break
            time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    # Restart: a new worker finishes the queue.
    rerun = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert "finished" in rerun.stdout
    clean_url = f"sqlite:///{tmp_path}/clean.sqlite"
    subprocess.run(
        [sys.executable, "-c", WORKER.format(root=root, url=clean_url)],
        check=True,
        capture_output=True,
    )

    def log(url: str) -> list[tuple]:
        with EventStore.open(url) as store, store.connection(write=False) as conn:
            return [
                tuple(r)
                for r in conn.exec_driver_sql(
                    "SELECT case_id, seq, step, occurred_at, payload FROM events ORDER BY case_id, seq"
                )
            ]

    killed, clean = log(killed_url), log(clean_url)
    assert len(killed) == len(clean)
    assert [(c, s, st, at, json.loads(p)) for c, s, st, at, p in killed] == [
        (c, s, st, at, json.loads(p)) for c, s, st, at, p in clean
    ]
