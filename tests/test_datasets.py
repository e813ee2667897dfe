"""The dataset registry: origins, checksums, ``data check`` and ``data fetch`` from a local mirror."""

from __future__ import annotations

import functools
import http.server
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from scomm.jurisdictions.datasets import check, dataset, datasets, fetch, sha256_of
from scomm.settings import data_dir

DATA = data_dir()
needs_data = pytest.mark.skipif(
    not (DATA / "README.md").is_file(),
    reason=f"public data not in {DATA} (set SCOMM_DATA_DIR)",
)


def test_registry_shape() -> None:
    keys = [d.key for d in datasets()]
    assert keys == [
        "fvc2002",
        "census_population",
        "acs_noncitizen",
        "scomm_rollout",
        "ice_aor",
        "ice_detainers_national",
        "ice_detainers_pennsylvania",
        "sheriffs_287g",
    ]
    for d in datasets():
        assert d.origin and d.origin_url.startswith(("http://", "https://"))
        for f in d.files:
            assert re.fullmatch(r"[0-9a-f]{64}", f.sha256), f.path
            assert f.size > 0 and not f.path.startswith("/")
    assert len(dataset("fvc2002").files) == 640  # 4 sets x 10 fingers x 8 impressions x (tif, iso)
    census = dataset("census_population").files[0]
    assert census.url == (
        "https://www2.census.gov/programs-surveys/popest/datasets/2010-2019/counties/totals/"
        "co-est2019-alldata.csv"
    )


@needs_data
def test_every_dataset_of_the_readme_is_registered() -> None:
    readme = (DATA / "README.md").read_text()
    paths = re.findall(r"^\| `([^`]+)`", readme, flags=re.M)
    registered = {f.path for d in datasets() for f in d.files}
    for path in paths:
        if path.startswith("fvc2002/"):
            path = "fvc2002/DB1_B/"  # the README row names DB1_B ... DB4_B together
        assert any(r.startswith(path) for r in registered), path


@needs_data
def test_the_shared_data_is_valid() -> None:
    statuses = check(DATA)
    assert {s.dataset.key: s.state for s in statuses} == {d.key: "valid" for d in datasets()}


def test_check_reports_missing_and_corrupt(tmp_path: Path) -> None:
    statuses = {s.dataset.key: s for s in check(tmp_path)}
    assert all(s.state == "missing" for s in statuses.values())
    item = dataset("ice_aor").files[1]  # county_aor.csv
    target = tmp_path / item.path
    target.parent.mkdir(parents=True)
    target.write_bytes(b"x" * item.size)  # the right size, the wrong bytes
    ice = {s.dataset.key: s for s in check(tmp_path)}["ice_aor"]
    assert ice.state == "invalid"
    assert ice.corrupt == (item.path,)


@pytest.fixture
def mirror() -> Iterator[tuple[str, Path]]:
    """An HTTP server on 127.0.0.1 serving a directory laid out like the data directory."""
    root = DATA

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    served = {"root": root}

    def handler(*args: object, **kwargs: object) -> http.server.SimpleHTTPRequestHandler:
        return Quiet(*args, directory=str(served["root"]), **kwargs)  # type: ignore[arg-type]

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", served  # type: ignore[misc]
    finally:
        server.shutdown()
        server.server_close()


@needs_data
def test_fetch_from_a_local_mirror(tmp_path: Path, mirror) -> None:
    base, _ = mirror
    keys = ["ice_aor", "census_population", "scomm_rollout"]
    results = fetch(tmp_path, base, keys)
    assert {r.outcome for r in results} == {"fetched"}
    assert len(results) == 4
    statuses = {s.dataset.key: s.state for s in check(tmp_path)}
    assert statuses["ice_aor"] == statuses["scomm_rollout"] == "valid"
    assert statuses["fvc2002"] == "missing"
    zipped = tmp_path / "scomm_rollout/secure_communities_panel.csv.zip"
    assert sha256_of(zipped) == dataset("scomm_rollout").files[0].sha256
    # Nothing half-written is left beside the files.
    assert not list(tmp_path.rglob("*.part"))
    # A second run finds them valid and downloads nothing.
    again = fetch(tmp_path, base, keys)
    assert {r.outcome for r in again} == {"already valid"}


@needs_data
def test_fetch_refuses_a_file_with_a_wrong_checksum(tmp_path: Path, mirror) -> None:
    base, served = mirror
    bad_root = tmp_path / "mirror"
    good, item = dataset("ice_aor").files  # aor_ero_field_office.csv, county_aor.csv
    (bad_root / "ice_aor").mkdir(parents=True)
    shutil.copy(DATA / good.path, bad_root / good.path)
    (bad_root / item.path).write_text("geoid,aor\n48201,SEA\n")
    served["root"] = bad_root
    target = tmp_path / "data"
    results = {r.path: r.outcome for r in fetch(target, base, ["ice_aor"])}
    assert results[good.path] == "fetched"
    assert results[item.path].startswith("failed: checksum mismatch")
    assert not (target / item.path).exists()  # never written
    assert not list(target.rglob("*.part"))


def test_fetch_without_a_direct_origin_says_where_to_get_it(tmp_path: Path) -> None:
    # The ACS extract comes from a paper's replication files: no direct URL, no network touched.
    results = fetch(tmp_path, None, ["acs_noncitizen"])
    assert len(results) == 1
    assert results[0].outcome.startswith("no direct download: get it from https://")


def test_fetch_an_unreachable_mirror_fails_cleanly(tmp_path: Path) -> None:
    results = fetch(tmp_path, "http://127.0.0.1:9", ["ice_aor"], timeout=5)
    assert all(r.outcome.startswith("failed:") for r in results)
    assert not any(tmp_path.rglob("*.csv"))


@needs_data
def test_cli_fetch_and_check(tmp_path: Path, mirror) -> None:
    from scomm.cli import main

    base, _ = mirror
    with pytest.raises(SystemExit) as done:
        main(["data", "fetch", "--from", base, "--dataset", "ice_aor", "--data-dir", str(tmp_path)])
    assert done.value.code == 0
    assert (tmp_path / "ice_aor/county_aor.csv").is_file()
    with pytest.raises(SystemExit) as checked:
        main(["data", "check", "--data-dir", str(tmp_path), "--json"])
    assert checked.value.code == 1  # the others are still missing


def test_fetch_an_unknown_dataset_is_refused(tmp_path: Path) -> None:
    from scomm.errors import DataError

    with pytest.raises(DataError) as info:
        fetch(tmp_path, None, ["census"])
    assert "census_population" in info.value.problem  # it lists the known keys
    assert not any(tmp_path.iterdir())
