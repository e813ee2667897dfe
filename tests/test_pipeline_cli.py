"""The pipeline's commands as a user runs them: `scomm run`, `scomm case`, `scomm book`,
`scomm release`. They read the county facts from the jurisdictions data."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from scomm.settings import data_dir


def needs_data() -> None:
    if not (data_dir() / "census" / "co-est2019-alldata.csv").exists():
        pytest.skip(f"the public datasets are not in {data_dir()} (set SCOMM_DATA_DIR)")


def scomm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scomm", *args], capture_output=True, text=True, check=False
    )


def test_run_prints_the_summary_and_writes_json(tmp_path: Path) -> None:
    needs_data()
    db = f"sqlite:///{tmp_path}/run.sqlite"
    out = tmp_path / "run.json"
    args = [
        "run",
        "--county",
        "48201",
        "--days",
        "1",
        "--seed",
        "4",
        "--db",
        db,
        "--gallery-size",
        "100",
        "--population",
        "40000",
        "--json",
        str(out),
    ]
    result = scomm(*args)
    assert result.returncode == 0, result.stderr
    assert "Harris County" in result.stdout and "Detainers honored" in result.stdout
    figures = json.loads(out.read_text())
    counts = figures["counts"]
    assert counts["bookings"] > 0
    assert counts["detainers_honored"] + counts["detainers_declined"] <= counts["detainers_issued"]
    assert counts["over_holds"] == 0
    assert figures["county"]["activation_date"] == "2008-10-27"
    # The case ids are in the store: the timeline of the first one reads back.
    from scomm.store import EventStore

    with EventStore.open(db) as store:
        case_id = store.cases(step="booking")[0]
    timeline = scomm("case", case_id, "--db", db, "--json")
    assert timeline.returncode == 0
    steps = [e["step"] for e in json.loads(timeline.stdout)]
    assert steps[:3] == ["booking", "sib.routed", "cjis.response"]


def test_bad_arguments_exit_2_with_a_message(tmp_path: Path) -> None:
    result = scomm("run", "--county", "6037", "--db", f"sqlite:///{tmp_path}/x.sqlite")
    assert result.returncode == 2
    assert "5-digit county FIPS" in result.stderr
    result = scomm("case", "no-such-case", "--db", f"sqlite:///{tmp_path}/x.sqlite")
    assert result.returncode == 2 and "no such case" in result.stderr


def test_book_accepts_good_transactions_and_lists_refused_ones(tmp_path: Path) -> None:
    needs_data()
    from scomm.biometrics.synthetic import impression, master_fingerprint
    from scomm.forms.booking import example_submission
    from scomm.forms.nist import write_transaction_file

    sub = example_submission(3, fingers=(2, 7))
    sub = dataclasses.replace(
        sub, fingers={f: impression(master_fingerprint(100 + f), 5 + f) for f in (2, 7)}
    )
    good = write_transaction_file(sub, tmp_path / "good.an2")
    data = Path(good).read_bytes()
    cut = tmp_path / "cut.an2"
    cut.write_bytes(data[: len(data) // 2])
    db = f"sqlite:///{tmp_path}/book.sqlite"

    result = scomm("book", str(good), str(cut), "--county", "06037", "--db", db)
    assert result.returncode == 2
    assert f"booked {good}" in result.stdout.replace("\n", "")
    assert "truncated" in result.stdout and "1 of 2" in result.stdout
    case_id = f"06037-{sub.transaction_control_number}"
    steps = [e["step"] for e in json.loads(scomm("case", case_id, "--db", db, "--json").stdout)]
    assert steps[:3] == ["booking", "sib.routed", "cjis.response"]

    too_early = scomm(
        "release", case_id, "--reason", "bail", "--at", "2000-01-01T00:00", "--db", db
    )
    assert too_early.returncode == 2 and "before the case's last step" in too_early.stderr
    later = (
        sub.booked_at.replace(tzinfo=None) + __import__("datetime").timedelta(days=1)
    ).isoformat()
    released = scomm("release", case_id, "--reason", "bail", "--at", later, "--db", db)
    assert released.returncode == 0, released.stderr
    steps = [e["step"] for e in json.loads(scomm("case", case_id, "--db", db, "--json").stdout)]
    assert steps[-1] == "released"
