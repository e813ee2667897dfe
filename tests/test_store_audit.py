"""The audit log: every read of a person's data, in a hash chain that shows a deleted or edited
entry and never forks under concurrent writers; on SQLite and PostgreSQL, and from the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from scomm.errors import InputError
from scomm.store import EventStore
from scomm.store.audit import GENESIS, Head, entry_hash

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def store(store_url: str) -> Iterator[EventStore]:
    with EventStore.open(store_url) as s:
        yield s


def tamper(store: EventStore, statement: str) -> None:
    """What someone with the database file (or a superuser's psql) can do: drop the
    append-only triggers, then change the log."""
    with store.engine.begin() as conn:
        if store.backend == "postgresql":
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER audit_log_no_delete"))
            conn.execute(text("DROP TRIGGER audit_log_no_update"))
        conn.execute(text(statement))


def test_each_entry_carries_the_hash_of_the_one_before(store: EventStore) -> None:
    store.record_read("alice", "person:7", "listing")
    store.record_reads("bob@county.gov", ["06037-000001", "06037-000002"], "case review")
    entries = store.audit_entries()
    assert [e.seq for e in entries] == [1, 2, 3]
    assert entries[0].prev_hash == GENESIS
    for before, after in zip(entries, entries[1:], strict=False):
        assert after.prev_hash == before.entry_hash
    for e in entries:
        assert e.entry_hash == entry_hash(
            e.seq, e.reader, e.read_at, e.subject, e.purpose, e.prev_hash
        )
    check = store.verify_audit()
    assert check.intact and check.entries == 3 and check.head_hash == entries[-1].entry_hash
    assert [e.subject for e in store.audit_entries(reader="bob@county.gov")] == [
        "06037-000001",
        "06037-000002",
    ]


@pytest.mark.parametrize(
    ("statement", "broken_at", "problem"),
    [
        ("DELETE FROM audit_log WHERE seq = 3", 4, "entry 3 is missing"),
        ("DELETE FROM audit_log WHERE seq = 1", 2, "entry 1 is missing"),
        ("UPDATE audit_log SET reader = 'nobody' WHERE seq = 2", 2, "edited"),
        ("UPDATE audit_log SET purpose = 'routine' WHERE seq = 5", 5, "edited"),
    ],
)
def test_a_deleted_or_edited_entry_breaks_the_chain_there(
    store: EventStore, statement: str, broken_at: int, problem: str
) -> None:
    for n in range(5):
        store.record_read("clerk", f"person:{n}", "listing")
    assert store.verify_audit().intact
    tamper(store, statement)
    check = store.verify_audit()
    assert not check.intact
    assert check.broken_at == broken_at
    assert check.problem is not None and problem in check.problem


def test_a_deletion_renumbered_to_hide_the_gap_still_shows(store: EventStore) -> None:
    for n in range(5):
        store.record_read("clerk", f"person:{n}", "listing")
    tamper(store, "DELETE FROM audit_log WHERE seq = 3")
    with store.engine.begin() as conn:
        for seq in (4, 5):  # one row at a time: seq stays unique throughout
            conn.execute(text(f"UPDATE audit_log SET seq = {seq - 1} WHERE seq = {seq}"))
    check = store.verify_audit()
    assert check.broken_at == 3
    assert check.problem is not None and "previous-entry hash" in check.problem


def test_concurrent_writers_never_fork_the_chain(store: EventStore) -> None:
    errors: list[BaseException] = []

    def reader(name: str) -> None:
        try:
            with EventStore.open(store.url) as own:  # its own engine: its own connections
                for n in range(15):
                    own.record_read(name, f"person:{n}", "concurrent")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader, args=(f"r{k}",)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    check = store.verify_audit()
    assert check.intact and check.entries == 60
    assert [e.seq for e in store.audit_entries()] == list(range(1, 61))


def test_readers_are_names_and_purposes_have_no_control_characters(store: EventStore) -> None:
    for bad in ("", " ", "clerk\nseq 9: forged", "two words", "\x1b[31mred", "-flag", "a" * 129):
        with pytest.raises(InputError, match="not a reader name"):
            store.record_read(bad, "person:1", "listing")
    with pytest.raises(InputError, match="control characters"):
        store.record_read("clerk", "person:1", "listing\nreader: someone else")
    with pytest.raises(InputError, match="control characters"):
        store.record_read("clerk", "person:1\r", "listing")
    assert store.audit_entries() == []


def scomm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scomm", *args], capture_output=True, text=True, check=False
    )


def test_audit_list_and_verify_from_the_command_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/store.sqlite"
    with EventStore.open(url) as store:
        store.record_reads("alice", ["person:1", "person:2", "person:3"], "listing")
    listed = scomm("audit", "list", "--db", url, "--json")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.count('"reader": "alice"') == 3
    ok = scomm("audit", "verify", "--db", url)
    assert ok.returncode == 0 and "3 entries, chain intact" in ok.stdout
    with EventStore.open(url) as store:
        tamper(store, "DELETE FROM audit_log WHERE seq = 2")
    broken = scomm("audit", "verify", "--db", url)
    assert broken.returncode == 1
    assert "broken at entry 3" in broken.stderr and "entry 2 is missing" in broken.stderr
    assert "Traceback" not in broken.stderr


def test_the_newest_entries_deleted_show_against_a_head_kept_elsewhere(store: EventStore) -> None:
    for n in range(5):
        store.record_read("clerk", f"person:{n}", "listing")
    kept = store.verify_audit().head  # what a witness keeps outside the database
    assert kept.entries == 5 and Head.parse(str(kept)) == kept
    store.record_read("clerk", "person:5", "listing")
    assert store.verify_audit([kept]).intact  # a log that grew extends its checkpoint
    tamper(store, "DELETE FROM audit_log WHERE seq >= 4")
    assert store.verify_audit().intact  # the chain alone: a whole, shorter one
    check = store.verify_audit([kept])
    assert not check.intact and check.broken_at == 4
    assert check.problem is not None and "entries 4 to 5 were deleted" in check.problem


def test_a_log_rewritten_past_a_checkpoint_shows(store: EventStore) -> None:
    for n in range(3):
        store.record_read("clerk", f"person:{n}", "listing")
    kept = store.verify_audit().head
    tamper(store, "DELETE FROM audit_log WHERE seq = 3")
    store.record_read("clerk", "person:other", "listing")  # a new, well-chained entry 3
    assert store.verify_audit().intact
    check = store.verify_audit([kept])
    assert check.broken_at == 3
    assert check.problem is not None and "rewritten" in check.problem


def test_a_head_that_is_not_one_is_refused_by_name() -> None:
    for bad in ("", "5", "x:" + "a" * 64, "5:" + "a" * 63, "5:" + "A" * 64, "-1:" + "a" * 64):
        with pytest.raises(InputError, match="--expect-head"):
            Head.parse(bad)


def test_verify_prints_the_head_and_checks_it_from_the_command_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/store.sqlite"
    with EventStore.open(url) as store:
        store.record_reads("alice", ["person:1", "person:2", "person:3"], "listing")
    ok = scomm("audit", "verify", "--db", url, "--json")
    assert ok.returncode == 0, ok.stderr
    head = json.loads(ok.stdout)["head"]
    assert head.startswith("3:")
    with EventStore.open(url) as store:
        tamper(store, "DELETE FROM audit_log WHERE seq = 3")
    assert scomm("audit", "verify", "--db", url).returncode == 0
    cut = scomm("audit", "verify", "--db", url, "--expect-head", head)
    assert cut.returncode == 1 and "entry 3 was deleted" in cut.stderr
    assert "Traceback" not in cut.stderr
    bad = scomm("audit", "verify", "--db", url, "--expect-head", "3:nothex")
    assert bad.returncode == 2 and "is not a head" in bad.stderr
