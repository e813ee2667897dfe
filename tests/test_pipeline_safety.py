"""Nothing done twice, clear errors, personal data protected: the pipeline's commands against
duplicate control numbers, a second process on the same run, failed steps, impossible times,
a full disk, bad URLs and paths; owner-only files and an audit entry for every read."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from _public_data import JURISDICTIONS

from scomm.errors import InputError, TaskFailed
from scomm.settings import data_dir
from scomm.store import EventStore, NewEvent
from tests.fuzz.processes import cases_with_two_detainers, event_log


def needs_data() -> None:
    missing = [p for p in JURISDICTIONS if not (data_dir() / p).is_file()]
    if missing:
        pytest.skip(f"public data not in {data_dir()} (SCOMM_DATA_DIR): {missing}")


RUN = ["--county", "48201", "--days", "1", "--seed", "4", "--gallery-size", "60"]
RUN += ["--population", "30000", "--workers", "1"]


def scomm(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scomm", *args],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=600,  # a command that spins (a full disk did) fails the test, not the suite
    )


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "scomm", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


# --------------------------------------------------------------------- transaction control numbers


def transaction(tmp_path: Path, name: str, seed: int, tcn: str | None = None) -> Path:
    from scomm.biometrics.synthetic import impression, master_fingerprint
    from scomm.forms.booking import example_submission
    from scomm.forms.nist import write_transaction_file

    sub = example_submission(seed, fingers=(2, 7))
    sub = dataclasses.replace(
        sub,
        fingers={f: impression(master_fingerprint(100 * seed + f), 5 + f) for f in (2, 7)},
        transaction_control_number=tcn or sub.transaction_control_number,
    )
    return write_transaction_file(sub, tmp_path / name)


def bookings_of(url: str) -> Counter[str]:
    with EventStore.open(url) as store:
        return Counter(
            c for c, events in store.histories(reader="test") for e in events if e.step == "booking"
        )


def test_a_duplicate_control_number_is_refused_never_merged(tmp_path: Path) -> None:
    needs_data()
    db = f"sqlite:///{tmp_path}/book.sqlite"
    first = transaction(tmp_path, "first.an2", 3, tcn="TCN-SAME-1")
    second = transaction(tmp_path, "second.an2", 4, tcn="TCN-SAME-1")  # another person
    both = scomm("book", str(first), str(second), "--county", "06037", "--db", db)
    out = both.stdout.replace("\n", "")
    assert both.returncode == 2, both.stderr
    assert f"booked {first}" in out
    assert f"refused {second}" in out and str(first) in out.split(f"refused {second}")[1]
    assert bookings_of(db) == {"06037-TCN-SAME-1": 1}

    third = transaction(tmp_path, "third.an2", 5, tcn="TCN-SAME-1")  # later, in another call
    again = scomm("book", str(third), "--county", "06037", "--db", db)
    assert again.returncode == 2
    assert "already booked, as case 06037-TCN-SAME-1" in again.stdout.replace("\n", "")
    same = scomm("book", str(first), "--county", "06037", "--db", db)  # the same file again
    assert same.returncode == 0 and "already booked" in same.stdout
    assert bookings_of(db) == {"06037-TCN-SAME-1": 1}
    with EventStore.open(db) as store:
        history = store.events("06037-TCN-SAME-1", reader="test")
    assert Counter(e.step for e in history)["booking"] == 1
    assert Counter(e.step for e in history)["sib.routed"] == 1


def test_a_second_booking_of_a_case_is_refused_by_the_database(store_url: str) -> None:
    from sqlalchemy.exc import IntegrityError

    with EventStore.open(store_url) as store:
        with store.write() as tx:
            tx.enqueue("06037-A", "booking", {"n": 1})
        with pytest.raises(IntegrityError), store.write() as tx:
            tx.enqueue("06037-A", "booking", {"n": 2})


# --------------------------------------------------------------------- two processes, one run


def test_two_processes_on_one_run_do_everything_once(store_url: str, tmp_path: Path) -> None:
    needs_data()
    reference = f"sqlite:///{tmp_path}/reference.sqlite"
    alone = scomm("run", *RUN, "--db", reference)
    assert alone.returncode == 0, alone.stderr
    pair = [start("run", *RUN, "--db", store_url) for _ in range(2)]
    results = [p.communicate(timeout=600) for p in pair]
    assert [p.returncode for p in pair] == [0, 0], [err for _, err in results]
    log = event_log(store_url)
    assert log == event_log(reference)
    assert max(log.values()) == 1
    assert cases_with_two_detainers(log) == 0


def test_processes_recording_one_run_at_once_make_one_record(store_url: str) -> None:
    # Found by benchmarks/faults.py: of two `scomm run` started together on PostgreSQL, one
    # exited 2 on "duplicate key ... pipeline_runs_pkey" (a delete then an insert raced).
    import threading

    from scomm.pipeline.runs import list_runs, record_run

    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def record() -> None:
        try:
            with EventStore.open(store_url) as own:  # its own engine, as another process has
                barrier.wait(30)
                record_run(own, "48201", dt.date(2011, 10, 3), 1, 2, ["48201-A", "48201-B"])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    for _ in range(3):
        threads = [threading.Thread(target=record) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert not errors, errors[:2]
    with EventStore.open(store_url) as store:
        runs = list_runs(store)
    assert [(r.run_id, r.case_ids) for r in runs] == [
        ("48201-20111003-1d-s2", ("48201-A", "48201-B"))
    ]


# --------------------------------------------------------------------- release: failures, times


def booked_case(url: str) -> str:
    case_id = "06037-REL-1"
    with EventStore.open(url) as store:
        store.append(
            NewEvent(
                case_id,
                "booking",
                "LEA ORI CA0194200",
                dt.datetime(2013, 6, 1, 8, tzinfo=dt.UTC),
                {"ori": "CA0194200", "county_fips": "06037", "name": "DOE,JANE", "charges": []},
                "test",
            )
        )
    return case_id


def test_a_release_whose_step_fails_is_reported_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scomm.pipeline import steps
    from scomm.pipeline.runner import release_case
    from scomm.pipeline.world import World

    url = f"sqlite:///{tmp_path}/release.sqlite"
    case_id = booked_case(url)

    def broken(*_: object) -> None:
        raise AttributeError("'NoneType' object has no attribute 'hold_limit_hours'")

    monkeypatch.setitem(steps.HANDLERS, "jail.release", broken)
    at = dt.datetime(2013, 6, 2, 20, tzinfo=dt.UTC)
    with pytest.raises(
        TaskFailed, match=r"jail.release failed after 3 attempt\(s\).*AttributeError"
    ):
        release_case(url, case_id, "bail", at, World.empty())
    assert TaskFailed.exit_code == 1


def test_impossible_release_times_are_refused_up_front(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/release.sqlite"
    case_id = booked_case(url)
    result = scomm(
        "release", case_id, "--reason", "bail", "--at", "9999-12-31T20:00:00", "--db", url
    )
    assert result.returncode == 2 and "more than a century after" in result.stderr
    assert "processed" not in result.stdout
    result = scomm("release", case_id, "--reason", "bail", "--at", "2013-02-30T20:00", "--db", url)
    assert result.returncode == 2 and "not an ISO date-time" in result.stderr
    with EventStore.open(url) as store, store.connection(write=False) as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM tasks").scalar() == 0


# --------------------------------------------------------------------- a full disk


def test_a_full_disk_stops_with_a_clear_error_and_a_rerun_completes(tmp_path: Path) -> None:
    needs_data()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(small)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        reference = f"sqlite:///{tmp_path}/reference.sqlite"
        assert scomm("run", *RUN, "--db", reference).returncode == 0
        filler = small / "filler"
        free = shutil.disk_usage(small).free
        filler.write_bytes(b"\0" * (free - 96 * 1024))  # room to start, not to finish
        url = f"sqlite:///{small}/run.sqlite"
        full = scomm("run", *RUN, "--db", url)
        assert full.returncode == 2
        assert "is full" in full.stderr and "Traceback" not in full.stderr
        filler.unlink()
        rerun = scomm("run", *RUN, "--db", url)
        assert rerun.returncode == 0, rerun.stderr
        assert event_log(url) == event_log(reference)
    finally:
        subprocess.run(["umount", "-l", str(small)], check=False)


# --------------------------------------------------------------------- URLs and paths


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://scomm:s3cr3t-pw@localhost:1/scomm",  # nothing listens there
        "postgresql://scomm:s3cr3t-pw@localhost:54x2/scomm",  # a typo in the port
        "postgresq://scomm:s3cr3t-pw@localhost/scomm",  # a typo in the scheme
        "postgresql://scomm:s3cr3t-pw@no-such-host.invalid/scomm",
    ],
)
def test_a_bad_database_url_is_a_clear_error_without_its_password(url: str) -> None:
    result = scomm("case", "06037-000001", "--db", url)
    assert result.returncode == 2
    assert "s3cr3t-pw" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr and result.stderr.startswith("error:")


def test_bad_output_paths_are_clear_errors(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for db in (f"sqlite:///{tmp_path}", f"sqlite:///{blocker}/under/store.sqlite"):
        result = scomm("case", "06037-000001", "--db", db)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert "database file" in result.stderr


def test_write_atomic_refuses_a_folder_and_an_unwritable_place(tmp_path: Path) -> None:
    from scomm.files import write_text_atomic

    with pytest.raises(InputError, match="is a directory"):
        write_text_atomic(tmp_path, "{}")
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(InputError, match="cannot be written"):
        write_text_atomic(blocker / "figures.json", "{}")


# --------------------------------------------------------------------- personal data


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_store_world_and_exports_are_owner_only_and_every_read_is_audited(
    tmp_path: Path,
) -> None:
    needs_data()
    db = f"sqlite:///{tmp_path}/store.sqlite"
    world = tmp_path / "world"
    made = scomm("run", *RUN, "--db", db, "--world", str(world))
    assert made.returncode == 0, made.stderr
    for name in ("store.sqlite", "store.sqlite-wal", "store.sqlite-shm"):
        if (tmp_path / name).exists():
            assert mode(tmp_path / name) == 0o600, name
    assert mode(world) == 0o700
    for path in world.rglob("*"):
        assert mode(path) == (0o700 if path.is_dir() else 0o600), path

    bad = scomm("world", "people", str(world), "--db", db, "--reader", "clerk\nforged")
    assert bad.returncode == 2 and "not a reader name" in bad.stderr
    listed = scomm("world", "people", str(world), "--db", db, "--json", "--reader", "clerk7")
    assert listed.returncode == 0, listed.stderr
    people = [p["person_id"] for p in json.loads(listed.stdout)]
    out = tmp_path / "export.an2"
    exported = scomm(
        "world", "export-booking", str(world), "--person", people[0], "--out", str(out),
        "--db", db, "--reader", "clerk7",
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    assert mode(out) == 0o600
    into_dir = scomm(
        "world", "export-booking", str(world), "--person", people[0], "--out", str(tmp_path),
        "--db", db,
    )  # fmt: skip
    assert into_dir.returncode == 2 and "is a directory" in into_dir.stderr

    with EventStore.open(db) as store:
        mine = store.audit_entries(reader="clerk7")
        assert store.verify_audit().intact
    assert [e.subject for e in mine] == [f"person:{p}" for p in people] + [f"person:{people[0]}"]
    assert "export-booking" in mine[-1].purpose
