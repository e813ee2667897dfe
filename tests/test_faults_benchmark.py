"""The fault benchmark's counting (benchmarks/faults.py), on tiny made-up cases: what it calls
lost, duplicated, half-written and a traceback, and the targets it says are met."""

from __future__ import annotations

import datetime as dt
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from scomm.store import EventStore, NewEvent
from tests.fuzz.processes import (
    cases_with_two_detainers,
    compare,
    count_events,
    event_log,
    store_findings,
    stray_files,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import faults  # noqa: E402
import faults_runs  # noqa: E402


def key(case: str, seq: int, step: str = "booking") -> tuple[Any, ...]:
    return (case, seq, step, "LEA", "2011-10-03T08:00:00+00:00", "{}", "test")


def test_lost_and_duplicated_are_the_two_sides_of_the_multiset_difference() -> None:
    reference = Counter([key("a", 1), key("a", 2), key("b", 1)])
    assert compare(reference, reference) == {"events": 3, "lost": 0, "duplicated": 0}
    killed = Counter([key("a", 1), key("a", 2), key("a", 2), key("c", 1)])
    # b's event is missing; a's second event is there twice and c's was never written
    assert compare(reference, killed) == {"events": 4, "lost": 1, "duplicated": 2}


def test_two_detainers_are_counted_by_case() -> None:
    log = Counter([key("a", 3, "detainer.issued"), key("b", 3, "detainer.issued")])
    assert cases_with_two_detainers(log) == 0
    log[key("a", 4, "detainer.issued")] += 1
    assert cases_with_two_detainers(log) == 1
    log[key("b", 3, "detainer.issued")] += 1  # the same event written twice
    assert cases_with_two_detainers(log) == 2


def test_a_store_s_findings_and_its_count_read_from_a_real_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/store.sqlite"
    assert count_events(url) == 0  # no tables yet: read as nothing written
    at = dt.datetime(2011, 10, 3, 8, tzinfo=dt.UTC)
    with EventStore.open(url) as store:
        for case in ("a", "b"):
            store.append(NewEvent(case, "booking", "LEA", at, {"n": 1}, "test"))
            store.append(NewEvent(case, "detainer.issued", "ERO", at, {"n": 2}, "test"))
        store.append(NewEvent("b", "detainer.issued", "ERO", at, {"n": 3}, "test"))
    assert count_events(url) == 5
    assert sum(event_log(url).values()) == 5
    assert store_findings(url) == {
        "tasks_unfinished": 0,
        "cases_with_seq_gaps": 0,
        "cases_with_two_detainers": 1,
        "runs_recorded": 0,
    }


def test_stray_files_are_what_an_interrupted_atomic_write_leaves(tmp_path: Path) -> None:
    for name in ("run.json", "store.sqlite", "store.sqlite-wal", ".run.json.k3j2.json"):
        (tmp_path / name).write_text("x")
    assert stray_files(tmp_path, {"run.json"}) == [".run.json.k3j2.json"]


def end(rc: int | None, traceback: bool = False, hang: bool = False) -> dict[str, Any]:
    return {"rc": rc, "traceback": traceback, "hang": hang}


def trial(**counts: Any) -> dict[str, Any]:
    base = {"lost": 0, "duplicated": 0, "cases_with_two_detainers": 0, "half_writes": []}
    return {**base, **counts}


def test_totals_count_each_process_end_and_each_trial() -> None:
    trials = [
        trial(resume=end(0)),
        trial(resume=end(2), half_writes=["2 tasks not finished"]),
        trial(runs=[end(None, hang=True), end(1, traceback=True)], lost=3, duplicated=1),
        trial(runs=[end(0), end(0)], cases_with_two_detainers=2),
    ]
    got = faults_runs.totals(trials)
    assert got == {
        "cases": 4,
        "clean_refusals": 1,
        "tracebacks": 1,
        "hangs": 1,
        "half_writes": 1,
        "lost": 3,
        "duplicated": 1,
        "cases_with_two_detainers": 2,
        "identical_to_uninterrupted": 2,
    }


def clean(**extra: Any) -> dict[str, Any]:
    counts = {c: 0 for c in faults.COUNTERS}
    return {"cases": 10, **counts, **extra}


def test_the_summary_meets_the_targets_only_when_every_class_does() -> None:
    classes = {"corpus_png": clean(lost=None, duplicated=None), "hold_clock": clean()}
    classes["hold_clock"]["property_holds"] = True
    summary = faults.summarize(classes)
    assert summary["targets_met"] and summary["cases"] == 20
    for spoiled in (
        {"tracebacks": 1},
        {"crashes": 1},
        {"silently_changed": 1},
        {"cases_with_two_detainers": 1},
        {"processes_failed": 1},
        {"property_holds": False},
    ):
        worse = {**classes, "hold_clock": {**classes["hold_clock"], **spoiled}}
        assert not faults.summarize(worse)["targets_met"], spoiled
    not_run = faults.summarize({**classes, "full_disk": {"not_run": "no root"}})
    assert not not_run["targets_met"] and not_run["not_run"] == ["full_disk"]


@pytest.mark.parametrize("holds", [300])
def test_the_hold_clock_part_finds_no_hold_past_its_limit(holds: int) -> None:
    result = faults.hold_clock(holds, seed=3)
    assert result["cases"] == holds and result["zones"] > 10
    assert result["within_12_h_of_a_new_year"] > 10 and "wrongly_refused" not in result
    assert result["past_the_limit"] == 0 and result["short_of_the_limit"] == 0
    assert result["property_holds"]
