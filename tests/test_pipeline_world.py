"""A saved world (`scomm run --world DIR`): written whole or not at all, read back the same,
reused by a second run, searched by `scomm book --world`, and its people exported as
ANSI/NIST-ITL transactions."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from scomm.errors import InputError
from scomm.pipeline import saved_world
from scomm.pipeline.prints import encode_fingers
from scomm.pipeline.synthetic import CountyFacts, SyntheticRun, build
from scomm.pipeline.world import DATABASES
from scomm.settings import data_dir

COUNTY = CountyFacts(
    fips="48201",
    name="Harris County",
    state="TX",
    population=100_000,
    noncitizen_share=0.2,
    activation_date=dt.date(2008, 10, 27),
    field_office="Houston",
)
START = dt.date(2013, 6, 1)
# The options of the world the CLI tests build: 2 days of a county of 100,000 (about 40
# bookings, some of them people with IDENT encounters) and galleries of 100 subjects.
RUN_ARGS = [
    "--county",
    "48201",
    "--days",
    "2",
    "--seed",
    "4",
    "--gallery-size",
    "100",
    "--population",
    "100000",
    "--start",
    START.isoformat(),
]


def needs_data() -> None:
    if not (data_dir() / "census" / "co-est2019-alldata.csv").exists():
        pytest.skip(f"the public datasets are not in {data_dir()} (set SCOMM_DATA_DIR)")


def scomm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scomm", *args], capture_output=True, text=True, check=False
    )


def snapshot(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def built_with(seed: int = 3) -> saved_world.BuiltWith:
    return saved_world.BuiltWith("48201", seed, 60, START.isoformat(), 1, 100_000)


# --------------------------------------------------------------------------------------------
# Saving and reading back (no public data needed)


@pytest.fixture(scope="module")
def small_run() -> tuple[SyntheticRun, list[tuple[str, dt.datetime, dict[str, Any]]]]:
    run = build(COUNTY, START, 1, 3, gallery_size=60)
    return run, list(run.booking_messages())


def test_a_saved_world_reads_back_with_the_same_records_and_search_results(
    tmp_path: Path, small_run: Any
) -> None:

    run, bookings = small_run
    saved_world.save_world(tmp_path / "world", run, built_with(), bookings)
    saved = saved_world.load_world(tmp_path / "world")

    assert saved.built_with == built_with()
    assert saved.county == COUNTY
    assert saved.bookings() == bookings
    loaded, original = saved.world, run.world
    assert loaded.rap_sheets == original.rap_sheets
    assert loaded.encounters == original.encounters
    assert loaded.status_records == original.status_records
    assert (loaded.seed, loaded.fingers_searched) == (original.seed, original.fingers_searched)
    assert sorted(loaded.iafis.gallery.subjects()) == sorted(original.iafis.gallery.subjects())
    assert sorted(loaded.ident.gallery.subjects()) == sorted(original.ident.gallery.subjects())
    assert loaded.iafis.threshold == original.iafis.threshold

    # Every booking's prints, searched in both databases, find the same subject at the same
    # score in the world as built (in memory) and as read back (memory-mapped from disk).
    matched = 0
    for fingers in run.booking_fingers:
        encoded = encode_fingers(fingers)
        for database in DATABASES:
            subject, score = original.search(database, encoded, "test")
            again, score_again = loaded.search(database, encoded, "test")
            assert again == subject
            assert score_again == pytest.approx(score) if score is not None else score_again is None
            matched += subject is not None
    assert matched > 0  # the comparison is not vacuous


def test_a_search_done_ahead_answers_its_step_once(
    small_run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, _ = small_run
    world = run.world
    encoded = encode_fingers(run.booking_fingers[0])
    direct = {database: world.search(database, encoded, "test") for database in DATABASES}
    assert any(subject is not None for subject, _ in direct.values())
    # Prints that cannot be read are left for the step, which names the case.
    unreadable = [("iafis", {"2": "@@@"}), ("ident", {"x": "AAAA"}), ("interpol", encoded)]
    world.search_ahead([(d, encoded) for d in DATABASES] + unreadable)

    def no_search(*_: Any) -> Any:
        raise AssertionError("searched again")

    monkeypatch.setattr(world, "_search", no_search)
    assert {d: world.search(d, encoded, "test") for d in DATABASES} == direct
    with pytest.raises(AssertionError, match="searched again"):
        world.search("iafis", encoded, "test")  # the answer ahead is used once
    with pytest.raises(InputError, match="case 7 CJIS probe.*base64"):
        world.search("iafis", {"2": "@@@"}, "case 7 CJIS probe")


def test_an_interrupted_save_leaves_no_world_behind(
    tmp_path: Path, small_run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, bookings = small_run

    def fail(*_: Any) -> Any:
        raise OSError("disk full (simulated)")

    # The galleries are written, then the records: fail while writing the people.
    monkeypatch.setattr(saved_world, "_people_of", fail)
    with pytest.raises(OSError, match="disk full"):
        saved_world.save_world(tmp_path / "world", run, built_with(), bookings)
    assert list(tmp_path.iterdir()) == []  # no world, no staging directory

    # An empty directory is a fine target; a directory holding something else is refused.
    monkeypatch.undo()
    (tmp_path / "empty").mkdir()
    saved_world.save_world(tmp_path / "empty", run, built_with(), bookings)
    assert saved_world.is_world(tmp_path / "empty")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not an empty directory"):
        saved_world.save_world(tmp_path / "other", run, built_with(), bookings)
    assert snapshot(tmp_path / "other") == {"notes.txt": b"mine"}


def test_an_exported_transaction_is_a_fresh_capture_of_the_person(
    tmp_path: Path, small_run: Any
) -> None:
    from scomm.biometrics.formats import from_bytes
    from scomm.forms.nist import read_transaction_file, write_transaction_file

    run, bookings = small_run
    saved_world.save_world(tmp_path / "world", run, built_with(), bookings)
    saved = saved_world.load_world(tmp_path / "world")
    person = saved.people[0]
    path = write_transaction_file(
        saved_world.export_submission(saved, person.person_id), tmp_path / "p.an2"
    )
    sub = read_transaction_file(path)
    assert sub.name == person.payload["name"]
    assert sorted(sub.minutiae) == list(range(1, 11))
    # Not the capture the run booked (nor, by its seed, one on record): a real 1:N search.
    booked = from_bytes(base64.b64decode(person.payload["fingers"]["2"]))
    assert len(sub.minutiae[2]) != len(booked) or (
        sub.minutiae[2].xy.round().tolist() != booked.xy.round().tolist()
    )
    # The same capture number gives the same file; another one, other prints.
    again = write_transaction_file(
        saved_world.export_submission(saved, person.person_id), tmp_path / "again.an2"
    )
    assert again.read_bytes() == path.read_bytes()
    other = saved_world.export_submission(saved, person.person_id, capture=1)
    assert other.minutiae[2].xy.tolist() != sub.minutiae[2].xy.tolist()
    with pytest.raises(InputError, match="not a person booked"):
        saved_world.export_submission(saved, "no-such-person")


# --------------------------------------------------------------------------------------------
# The commands (they read the county facts from the jurisdictions data)


@pytest.fixture(scope="module")
def cli_world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A world saved by `scomm run --world`, and the run's figures."""
    needs_data()
    tmp = tmp_path_factory.mktemp("cli-world")
    world, figures = tmp / "world", tmp / "run.json"
    db = f"sqlite:///{tmp}/run.sqlite"
    result = scomm("run", *RUN_ARGS, "--db", db, "--world", str(world), "--json", str(figures))
    assert result.returncode == 0, result.stderr
    assert saved_world.is_world(world)
    data = json.loads(figures.read_text())
    assert data["world"] == {"path": str(world), "reused": False}
    return world, data


def steps_of(case_id: str, db: str) -> list[dict[str, Any]]:
    result = scomm("case", case_id, "--db", db, "--json")
    assert result.returncode == 0, result.stderr
    events: list[dict[str, Any]] = json.loads(result.stdout)
    return events


def test_booking_an_exported_transaction_searches_the_saved_world(
    tmp_path: Path, cli_world: tuple[Path, dict[str, Any]]
) -> None:
    world, _ = cli_world
    listed = scomm("world", "people", str(world), "--json")
    assert listed.returncode == 0, listed.stderr
    people = json.loads(listed.stdout)
    known = next(p for p in people if p["fin"] and p["fbi_number"])
    stranger = next(p for p in people if not p["fin"] and not p["fbi_number"])
    files = {}
    for who in (known, stranger):
        out = tmp_path / f"{who['person_id']}.an2"
        result = scomm(
            "world", "export-booking", str(world), "--person", who["person_id"], "--out", str(out)
        )
        assert result.returncode == 0, result.stderr
        files[who["person_id"]] = out
    before = snapshot(world)

    db = f"sqlite:///{tmp_path}/book.sqlite"
    result = scomm(
        "book", *map(str, files.values()), "--county", "48201", "--db", db, "--world", str(world)
    )
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr
    assert snapshot(world) == before  # booking reads the world, never changes it

    events = steps_of(f"48201-TCN{known['person_id']}-0", db)
    by_step = {e["step"]: e["payload"] for e in events}
    assert by_step["cjis.response"]["fbi_number"] == known["fbi_number"]
    assert by_step["ident.response"]["match"] is True
    assert by_step["ident.response"]["fin"] == known["fin"]
    assert by_step["lesc.iaq"]["ident_fin"] == known["fin"]
    assert "lesc.iar" in by_step

    events = steps_of(f"48201-TCN{stranger['person_id']}-0", db)
    by_step = {e["step"]: e["payload"] for e in events}
    assert by_step["ident.response"]["match"] is False
    assert by_step["cjis.response"]["match"] is False
    assert "lesc.iaq" not in by_step and "lesc.iar" not in by_step

    # Without --world the same transaction searches empty galleries, and the user is told.
    db2 = f"sqlite:///{tmp_path}/book2.sqlite"
    result = scomm("book", str(files[known["person_id"]]), "--county", "48201", "--db", db2)
    assert result.returncode == 0, result.stderr
    assert "galleries are empty" in result.stderr
    by_step = {e["step"]: e["payload"] for e in steps_of(f"48201-TCN{known['person_id']}-0", db2)}
    assert by_step["ident.response"]["match"] is False


def test_a_second_run_reuses_the_world_instead_of_building_it(
    tmp_path: Path, cli_world: tuple[Path, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from scomm.pipeline import synthetic
    from scomm.pipeline.runner import run_county

    world, first = cli_world
    before = snapshot(world)
    builds = [0]

    def counting_build(*args: Any, **kwargs: Any) -> SyntheticRun:
        builds[0] += 1
        return build(*args, **kwargs)

    monkeypatch.setattr(synthetic, "build", counting_build)
    options: dict[str, Any] = {
        "county_fips": "48201",
        "start": START,
        "days": 2,
        "seed": 4,
        "gallery_size": 100,
        "workers": 1,
        "population": 100_000,
        "console": Console(file=io.StringIO()),
    }
    figures = run_county(url=f"sqlite:///{tmp_path}/again.sqlite", world_dir=world, **options)
    assert builds[0] == 0
    assert figures["world"] == {"path": str(world), "reused": True}
    assert figures["counts"] == first["counts"]  # the same people, prints and databases
    assert snapshot(world) == before

    # A world is reused only for the run it was built for.
    with pytest.raises(InputError, match=r"seed 4 \(asked for 5\)"):
        run_county(url=f"sqlite:///{tmp_path}/x.sqlite", world_dir=world, **{**options, "seed": 5})
    # The counter does count: a new directory is built (once) and saved.
    run_county(url=f"sqlite:///{tmp_path}/y.sqlite", world_dir=tmp_path / "new", **options)
    assert builds[0] == 1 and saved_world.is_world(tmp_path / "new")
    assert snapshot(world) == before

    three_days = [
        ("3" if a == "2" and RUN_ARGS[i - 1] == "--days" else a) for i, a in enumerate(RUN_ARGS)
    ]
    db = f"sqlite:///{tmp_path}/z.sqlite"
    result = scomm("run", *three_days, "--db", db, "--world", str(world))
    message = result.stderr.replace("\n", "")
    assert result.returncode == 2
    assert "--world" in message and str(world) in message and "days 2 (asked for 3)" in message
    assert snapshot(world) == before


@pytest.mark.parametrize(
    ("damage", "named", "problem"),
    [
        ("records", "records.json", "cut short"),
        ("people", "people.jsonl", "SHA-256"),
        ("manifest", "world.json", "not JSON"),
        ("gallery", "code_bytes.npy", "cut short"),
        ("missing", "world", "no such world directory"),
    ],
)
def test_a_damaged_world_is_refused_and_left_as_it_was(
    tmp_path: Path, cli_world: tuple[Path, dict[str, Any]], damage: str, named: str, problem: str
) -> None:
    original, _ = cli_world
    world = tmp_path / "world"
    shutil.copytree(original, world)
    if damage == "records":
        data = (world / "records.json").read_bytes()
        (world / "records.json").write_bytes(data[: len(data) // 2])
    elif damage == "people":
        flipped = bytearray((world / "people.jsonl").read_bytes())
        flipped[100] ^= 0x01  # same size, one bit flipped
        (world / "people.jsonl").write_bytes(bytes(flipped))
    elif damage == "manifest":
        data = (world / "world.json").read_bytes()
        (world / "world.json").write_bytes(data[:-40])
    elif damage == "gallery":
        codes = next((world / "ident").glob("gen-*/code_bytes.npy"))
        codes.write_bytes(codes.read_bytes()[:-100])
    else:
        shutil.rmtree(world)
    before = snapshot(world) if world.exists() else None

    transaction = tmp_path / "t.an2"
    from scomm.forms.nist import write_transaction_file

    saved = saved_world.load_world(original)
    write_transaction_file(
        saved_world.export_submission(saved, saved.people[0].person_id), transaction
    )
    db = f"sqlite:///{tmp_path}/book.sqlite"
    result = scomm("book", str(transaction), "--county", "48201", "--db", db, "--world", str(world))
    message = result.stderr.replace("\n", "")
    assert result.returncode == 2, result.stdout
    assert named in message and problem in message, message
    assert "Traceback" not in result.stderr

    if damage in ("records", "manifest"):  # `scomm run --world` refuses it too, untouched
        result = scomm("run", *RUN_ARGS, "--db", db, "--world", str(world))
        assert result.returncode == 2
        assert named in result.stderr.replace("\n", "")
    if before is not None:
        assert snapshot(world) == before
    else:
        assert not world.exists()
