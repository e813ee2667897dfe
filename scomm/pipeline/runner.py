"""Runs cases through the flow on the event store: the edge where the pure steps meet the
database.

The store's worker (:func:`scomm.store.run_worker`) claims a batch of tasks in one transaction;
for each, the handler here folds the case's events into its state, calls the step, and returns
the events to append and the next tasks; the worker commits all of it with the tasks marked
done, or none of it. A worker killed mid-step leaves nothing behind, and its tasks run once on
restart.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from scomm.agencies.base import StepResult, iso, parse_time
from scomm.errors import InputError, ScommError, TaskFailed
from scomm.pipeline.case import CaseState, fold
from scomm.pipeline.outcomes import outcome_of
from scomm.pipeline.runs import record_run
from scomm.pipeline.steps import HANDLERS, Message, handle
from scomm.pipeline.summary import summarize
from scomm.pipeline.world import World
from scomm.store import EventStore, Fact, HandlerResult, NewEvent, NextTask, Task, Tx, run_workers
from scomm.store.events import hide_password
from scomm.store.queue import Prefetch, task_list
from scomm.store.schema import runs as runs_table
from scomm.store.schema import tasks as tasks_table


def to_store(case_id: str, result: StepResult) -> HandlerResult:
    """A step's result in the store's terms: events to append, tasks to enqueue. The simulated
    time a message is due travels in its payload; workers run it as soon as they can."""
    return HandlerResult(
        events=[
            NewEvent(case_id, e.step, e.actor, e.at, e.payload, e.legal_basis)
            for e in result.events
        ],
        next=[NextTask(s.step, {**s.payload, "at": iso(s.at)}) for s in result.next],
    )


def handlers(world: World, on_done: Callable[[str], None] | None = None) -> dict[str, Any]:
    """One store handler per step of the flow, all sharing ``world``."""

    def run(task: Task, history: Sequence[Fact]) -> HandlerResult:
        state = fold(task.case_id, history)
        msg = Message(task.case_id, task.step, parse_time(task.payload["at"]), task.payload)
        result = to_store(task.case_id, handle(state, msg, world))
        if on_done:
            on_done(task.step)
        return result

    return dict.fromkeys(HANDLERS, run)


# The steps that search a biometric database, and which.
SEARCHES = {"cjis.search": "iafis", "ident.search": "ident"}


def search_ahead(world: World) -> Prefetch:
    """The worker's prefetch: the biometric searches of the tasks it is about to claim, done
    before it takes its turn at the store (see :meth:`World.search_ahead`)."""

    def prefetch(tasks: Sequence[Task]) -> None:
        world.search_ahead(
            (SEARCHES[t.step], t.payload["fingers"])
            for t in tasks
            if t.step in SEARCHES and isinstance(t.payload.get("fingers"), dict)
        )

    return prefetch


Booking = tuple[str, dt.datetime, dict[str, Any]]


def queued_bookings(tx: Tx, case_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The booking tasks already queued (or done) for these cases: ``case_id -> payload``.
    Read inside ``tx``, the write transaction that will queue the others."""
    if not case_ids:
        return {}
    prefix = _common_prefix(list(case_ids))
    query = select(tasks_table.c.case_id, tasks_table.c.payload).where(
        tasks_table.c.step == "booking", tasks_table.c.case_id.startswith(prefix)
    )
    wanted = set(case_ids)
    return {c: p for c, p in tx.conn.execute(query) if c in wanted}


def run_key(parameters: dict[str, Any]) -> str:
    """The key of a run: SHA-256 of its parameters' canonical JSON. Two processes asked for the
    same run get the same key, whoever asks first."""
    canonical = json.dumps(parameters, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def claim_run(tx: Tx, key: str, parameters: dict[str, Any], bookings: int) -> bool:
    """Record the run ``key`` in ``tx``; ``False`` if it was submitted already. The insert
    waits on the unique key for a concurrent submitter's transaction to end (PostgreSQL; SQLite
    writers take turns anyway), so exactly one of them queues the run's bookings."""
    row = {
        "run_key": key, "parameters": parameters, "submitted_at": dt.datetime.now(dt.UTC),
        "bookings": bookings,
    }  # fmt: skip
    dialect = tx.conn.dialect.name
    if dialect == "postgresql":
        statement: Any = pg_insert(runs_table).values(row).on_conflict_do_nothing()
    elif dialect == "sqlite":
        statement = sqlite_insert(runs_table).values(row).on_conflict_do_nothing()
    else:  # pragma: no cover - the store knows two backends
        statement = insert(runs_table).values(row)
    return bool(tx.conn.execute(statement).rowcount)


def submit(
    store: EventStore,
    bookings: Iterable[Booking],
    *,
    run: dict[str, Any] | None = None,
) -> int:
    """Queue bookings (case id, time, payload) in one transaction; skip those already there.

    ``run``: the parameters of the run they make up. The first process to submit it queues
    them; any other (at the same time or later) queues nothing and joins the work. Returns how
    many bookings were queued."""
    items = list(bookings)
    if not items:
        return 0
    with store.write(reader="lea") as tx:
        if run is not None and not claim_run(tx, run_key(run), run, len(items)):
            return 0
        queued, _ = queue_bookings(tx, items)
    return len(queued)


def queue_bookings(tx: Tx, items: Sequence[Booking]) -> tuple[list[str], dict[str, bool]]:
    """Queue the bookings whose case has none yet, in ``tx``. Returns the cases queued, and
    for each case that had one already whether it was this same booking (``True``) or
    another (``False``: a second transaction with the same control number)."""
    have = queued_bookings(tx, [c for c, _, _ in items])
    queued: list[str] = []
    already: dict[str, bool] = {}
    for case_id, at, payload in items:
        body = {**payload, "at": iso(at)}
        if case_id in have:
            already[case_id] = have[case_id] == body
            continue
        tx.enqueue(case_id, "booking", body)
        have[case_id] = body
        queued.append(case_id)
    return queued, already


def failed_tasks(store: EventStore, case_ids: Iterable[str], since: dt.datetime) -> list[Task]:
    """Tasks of these cases, queued since ``since``, that failed for good."""
    wanted = set(case_ids)
    return [
        t
        for t in task_list(store, status="failed")
        if t.case_id in wanted and t.created_at >= since
    ]


def failure_message(failed: Sequence[Task]) -> str:
    """One line per failed task: its case, step, attempts and the error's last line."""
    lines = []
    for t in failed:
        error = (t.error or "no error recorded").strip().splitlines()[-1]
        lines.append(
            f"case {t.case_id}: step {t.step} failed after {t.attempts} attempt(s): {error}"
        )
    return "; ".join(lines)


def _common_prefix(ids: list[str]) -> str:
    first, last = min(ids), max(ids)
    i = 0
    while i < min(len(first), len(last)) and first[i] == last[i]:
        i += 1
    return first[:i]


def process(
    store: EventStore,
    world: World,
    *,
    batch: int = 128,
    worker: str = "worker",
    progress: Callable[[str], None] | None = None,
    workers: int = 1,
) -> dict[str, Any]:
    """Run every queued task until the queue is empty, on ``workers`` threads; the workers'
    statistics. With several, each searches its next batch's prints while another writes."""
    stats = run_workers(
        store,
        handlers(world, progress),
        workers,
        worker=worker,
        batch=batch,
        prefetch=search_ahead(world) if workers > 1 else None,
    )
    return {
        "done": stats.done,
        "failed": stats.failed,
        "retried": stats.retried,
        "seconds": stats.seconds,
    }


def case_states(
    store: EventStore, case_ids: Iterable[str], reader: str, purpose: str
) -> list[CaseState]:
    return [
        fold(case_id, events)
        for case_id, events in store.histories(case_ids, reader=reader, purpose=purpose)
    ]


def run_county(
    *,
    county_fips: str,
    start: dt.date,
    days: int,
    seed: int,
    url: str,
    gallery_size: int,
    workers: int,
    population: int | None,
    console: Console,
    world_dir: Path | None = None,
    scenario: Sequence[str] = (),
) -> dict[str, Any]:
    """``scomm run``: a synthetic county's bookings through the whole pipeline. With
    ``world_dir``, the world built is saved there, or, if one is there already (built with the
    same county, seed, gallery size, start, days and population), it is used instead.
    ``scenario``: overlays the run's rules are under (``scomm.policies.overlays``), as
    ``scomm simulate --scenario`` takes them."""
    from dataclasses import asdict

    from scomm.pipeline import saved_world
    from scomm.pipeline.synthetic import CountyFacts, build, county_facts
    from scomm.policies.overlays import rules_for_spec

    try:
        facts = county_facts(county_fips, start.year)
    except ScommError:
        raise
    except (KeyError, LookupError) as exc:
        raise InputError(
            "--county", f"{county_fips}: not a county in the jurisdictions data ({exc})"
        ) from None
    if population is not None:
        facts = CountyFacts(**{**facts.__dict__, "population": population})
    rules = rules_for_spec(list(scenario))
    built_with = saved_world.BuiltWith(
        county=facts.fips,
        seed=seed,
        gallery_size=gallery_size,
        start=start.isoformat(),
        days=days,
        population=population,
    )
    saved: saved_world.SavedWorld | None = None
    if world_dir is not None and saved_world.is_world(world_dir):
        saved = saved_world.load_world(world_dir)
        differences = saved.built_with.differences(built_with)
        if differences:
            raise InputError(
                "--world",
                f"{world_dir} holds a world built with {'; '.join(differences)}: run with the "
                "options it was built with, or give another directory",
            )
        console.print(f"reusing the world in {world_dir}", highlight=False)
    elif world_dir is not None:
        saved_world.check_can_save(world_dir)

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        tasks: dict[str, Any] = {}

        def on_build(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                label = (
                    "drawing people and prints"
                    if stage == "people"
                    else "enrolling IDENT/IAFIS records"
                )
                tasks[stage] = bar.add_task(label, total=total)
            bar.update(tasks[stage], completed=done)

        if saved is not None:
            world = saved.world
            messages = saved.bookings()
        else:
            run = build(facts, start, days, seed, gallery_size=gallery_size, progress=on_build)
            messages = list(run.booking_messages())
            world = run.world
            if world_dir is not None:
                saved_world.save_world(world_dir, run, built_with, messages)
                # Run on the world as saved: what a later run or `scomm book` will search.
                world = saved_world.load_world(world_dir, people=False).world
                console.print(f"world saved in {world_dir}", highlight=False)
        world.rules = rules
        store = EventStore.open(url)
        try:
            submit(store, messages, run={"command": "run", **asdict(built_with)})
            steps = bar.add_task("processing steps", total=len(messages) * 8)
            done = [0]

            def on_step(step: str) -> None:
                done[0] += 1
                if done[0] % 64 == 0:
                    bar.update(steps, completed=min(done[0], len(messages) * 8))

            started = time.perf_counter()
            stats = process(store, world, progress=on_step, workers=workers)
            elapsed = time.perf_counter() - started
            case_ids = [c for c, _, _ in messages]
            states = case_states(store, case_ids, "scomm-run", "run summary")
            run_id = record_run(store, facts.fips, start, days, seed, case_ids)
        finally:
            store.close()
    counts = summarize(states)
    return {
        "title": f"{facts.name}, {facts.state} ({facts.fips}): {days} days from {start}, seed {seed}"
        + ("" if rules.scenario == "baseline" else f", scenario {rules.scenario}"),
        "scenario": rules.scenario,
        "county": facts.__dict__ | {"activation_date": str(facts.activation_date)},
        "start": start.isoformat(),
        "days": days,
        "seed": seed,
        "gallery_size": gallery_size,
        "database": _hide_password(url),
        "run_id": run_id,
        "counts": counts,
        "cases": {c.case_id: outcome_of(c) for c in states},
        "worker": stats,
        "processing_seconds": round(elapsed, 3),
        "world": None
        if world_dir is None
        else {"path": str(world_dir), "reused": saved is not None},
    }


def _hide_password(url: str) -> str:
    return hide_password(url)


def timeline(url: str, case_id: str, reader: str) -> list[dict[str, Any]]:
    """``scomm case``: the case's events in order (the read is logged under ``reader``)."""
    with EventStore.open(url) as store:
        events = store.events(case_id, reader=reader, purpose="case timeline")
    if not events:
        raise InputError(f"case {case_id}", f"no such case in {_hide_password(url)}")
    return [
        {
            "seq": e.seq,
            "occurred_at": e.occurred_at.isoformat(),
            "step": e.step,
            "actor": e.actor,
            "legal_basis": e.legal_basis,
            "payload": {k: v for k, v in e.payload.items() if k != "truth"},
        }
        for e in events
    ]


def release_case(
    url: str, case_id: str, reason: str, at: dt.datetime, world: World | None = None
) -> None:
    """``scomm release``: the court's word that custody ends; the jail acts on any detainer."""
    with EventStore.open(url) as store:
        history = store.events(case_id, reader="court", purpose="release order")
        if not history:
            raise InputError(f"case {case_id}", "no such case")
        state = fold(case_id, history)
        if state.released_at or state.hold_started_at:
            raise InputError(f"case {case_id}", "already released or held")
        check_release_time(at, state.last_at)
        since = dt.datetime.now(dt.UTC)
        with store.write(reader="court") as tx:
            tx.enqueue(case_id, "jail.release", {"reason": reason, "at": iso(at)})
        process(store, world or World.empty())
        failed = failed_tasks(store, [case_id], since)
    if failed:
        raise TaskFailed(f"release not done: {failure_message(failed)}")


# A release order more than this long after the case's last step is no release order: the
# clock and the calendar it counts in (and Python's datetime) stop long before year 9999.
MAX_CUSTODY = dt.timedelta(days=100 * 366)


def check_release_time(at: dt.datetime, last: dt.datetime | None) -> None:
    """Refuse a release time the case cannot have: before its last step, or a century past."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise InputError("--at", f"{at.isoformat()} has no time zone")
    if last is None:
        return
    if at < last:
        raise InputError(
            "--at", f"{at.isoformat()} is before the case's last step ({last.isoformat()})"
        )
    if at - last > MAX_CUSTODY:
        raise InputError(
            "--at",
            f"{at.isoformat()} is more than a century after the case's last step "
            f"({last.isoformat()}): not a time this case can be released",
        )


def with_databases_of(world: World, world_dir: Path) -> World:
    """``world`` (activation dates and field offices of every county) searching the galleries
    and records of the saved world in ``world_dir``."""
    from scomm.pipeline.saved_world import load_world

    saved = load_world(world_dir, people=False).world
    world.iafis, world.ident = saved.iafis, saved.ident
    world.rap_sheets, world.encounters = saved.rap_sheets, saved.encounters
    world.status_records = saved.status_records
    world.seed, world.fingers_searched = saved.seed, saved.fingers_searched
    return world


@dataclass
class BookingOutcome:
    """What ``scomm book`` did with each file."""

    accepted: list[tuple[str, Path]] = field(default_factory=list)  # (case id, file) queued
    already: list[tuple[str, Path]] = field(default_factory=list)  # the same booking, again
    refused: list[tuple[Path, str]] = field(default_factory=list)  # (file, problem)
    failed: list[Task] = field(default_factory=list)  # steps of the accepted that failed


def book_files(
    files: list[Path], county: str, url: str, console: Console, world_dir: Path | None = None
) -> BookingOutcome:
    """``scomm book``: each transaction read, its prints' minutiae taken (Type-9 where the
    Livescan sent them, else extracted from the Type-14 images), its case queued and run. A
    refused file is listed with its problem; the others go on.

    A transaction control number names one transaction, and its case is ``COUNTY-TCN``: a
    second file with the TCN of another in the same call, or of a booking already in the
    store, is refused, never merged into that case (the same booking submitted again is
    reported as already booked and left alone).

    The IAFIS and IDENT searches run against the galleries and records of the world in
    ``world_dir`` (``scomm run --world``); without one they are empty and nothing matches."""
    from scomm.biometrics.extraction import extract
    from scomm.forms.nist import read_transaction_file
    from scomm.pipeline.prints import encode_fingers

    if not (county.isdigit() and len(county) == 5):
        raise InputError("--county", f"{county!r} is not a 5-digit county FIPS code")
    world = World.of_jurisdictions()
    world.activation_date(county)  # an unknown county is refused before any file is read
    if world_dir is not None:
        world = with_databases_of(world, world_dir)
    outcome = BookingOutcome()
    refused = outcome.refused
    bookings: list[Booking] = []
    files_of: dict[str, Path] = {}
    for path in files:
        try:
            sub = read_transaction_file(path)
            fingers = dict(sub.minutiae) or {
                f: extract(image, finger=f, where=f"{path}: finger {f}")
                for f, image in sub.fingers.items()
            }
        except InputError as exc:
            refused.append((path, str(exc)))
            continue
        case_id = f"{county}-{sub.transaction_control_number}"
        if case_id in files_of:
            refused.append((path, _same_tcn(sub.transaction_control_number, files_of[case_id])))
            continue
        payload = {
            "tcn": sub.transaction_control_number,
            "ori": sub.ori,
            "county_fips": county,
            "name": sub.name,
            "date_of_birth": sub.date_of_birth.isoformat(),
            "sex": sub.sex,
            "place_of_birth": sub.place_of_birth,
            "charges": [{"code": c.code, "grade": c.grade} for c in sub.charges],
            "contact": sub.contact,
            "fingers": encode_fingers(fingers),
        }
        bookings.append((case_id, sub.booked_at, payload))
        files_of[case_id] = path
    if not bookings:
        return outcome
    with EventStore.open(url) as store:
        since = dt.datetime.now(dt.UTC)
        try:
            with store.write(reader="lea") as tx:
                queued, already = queue_bookings(tx, bookings)
        except IntegrityError:
            # Another process booked one of these control numbers between our look and our
            # write (PostgreSQL; the unique index caught it): nothing of ours was written.
            raise InputError(
                "scomm book",
                "another booking with one of these transaction control numbers was written "
                "meanwhile: nothing was booked; run the command again",
            ) from None
        for case_id in queued:
            outcome.accepted.append((case_id, files_of[case_id]))
        for case_id, same in already.items():
            if same:
                outcome.already.append((case_id, files_of[case_id]))
            else:
                tcn = case_id.split("-", 1)[1]
                refused.append((files_of[case_id], _tcn_taken(tcn, case_id)))
        if queued:
            process(store, world)
            outcome.failed = failed_tasks(store, queued, since)
    return outcome


def _same_tcn(tcn: str, first: Path) -> str:
    return (
        f"transaction control number {tcn} is also that of {first}: a TCN names one "
        "transaction, so this one is refused, not merged into that case"
    )


def _tcn_taken(tcn: str, case_id: str) -> str:
    return (
        f"transaction control number {tcn} is already booked, as case {case_id}, from "
        "another transaction: refused, not merged into that case"
    )
