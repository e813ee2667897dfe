"""Bulk builds: streamed in chunks, made in worker processes, taken up where they stopped."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from scomm.biometrics import subject_ids
from scomm.biometrics.bulk import PROGRESS_FILE, STATE_DIR
from scomm.biometrics.gallery import Gallery
from scomm.biometrics.storage import ARRAYS
from scomm.biometrics.synthetic import Population, template_impression
from scomm.biometrics.template import Template
from scomm.errors import GalleryError

SUBJECTS = 14


class Stop(BaseException):
    """Stands for Ctrl-C (or a kill) part-way through a build."""


def subjects() -> list[tuple[str, dict[int, Template]]]:
    return Population()(0, SUBJECTS)


def stopping(items: list[tuple[str, dict[int, Template]]], at: int) -> Iterator:
    for i, item in enumerate(items):
        if i == at:
            raise Stop
        yield item


@dataclass(frozen=True)
class StopsAt:
    """A numbered source that stops (as if killed) when asked for subject ``at`` or later."""

    population: Population
    at: int | None

    @property
    def name(self) -> str:
        return self.population.name

    def __call__(self, start: int, stop: int) -> list[tuple[str, dict[int, Template]]]:
        if self.at is not None and stop > self.at:
            raise Stop
        return self.population(start, stop)


def same_arrays(a: Path, b: Path) -> None:
    names = [n for n, *_ in ARRAYS] + [n for n, _dtype in subject_ids.ARRAYS]
    for name in names:
        assert np.array_equal(
            np.load(a / "gen-0" / f"{name}.npy"), np.load(b / "gen-0" / f"{name}.npy")
        ), name


def test_a_stopped_build_goes_on_where_it_stopped(tmp_path: Path) -> None:
    items = subjects()
    whole = Gallery.build(tmp_path / "whole", iter(items), chunk=4, workers=1)
    with pytest.raises(Stop):
        Gallery.build(tmp_path / "g", stopping(items, 10), chunk=4, workers=1)
    state = tmp_path / "g" / STATE_DIR
    progress = json.loads((state / PROGRESS_FILE).read_text())
    assert progress["subjects"] == 8  # two whole chunks recorded, the third never written
    assert not (tmp_path / "g" / "manifest.json").exists()
    with open(
        state / "template_bytes.npy", "ab"
    ) as f:  # killed while writing: bytes past the record
        f.write(b"\x01" * 1000)
    resumed = Gallery.build(tmp_path / "g", iter(items), chunk=4, workers=1, progress=True)
    assert not state.exists()
    same_arrays(tmp_path / "whole", tmp_path / "g")
    probe = {1: template_impression(items[5][1][1], 3)}
    assert resumed.search(probe, 3) == whole.search(probe, 3)
    assert resumed.search(probe, 3)[0].subject_id == items[5][0]


def test_numbered_source_built_in_worker_processes_and_resumed(tmp_path: Path) -> None:
    population = Population(given=tuple(subjects()[:3]), first_seed=100)
    expected = Gallery.build(tmp_path / "threads", iter(population(0, SUBJECTS)), chunk=4)
    with pytest.raises(Stop):
        Gallery.build(tmp_path / "g", StopsAt(population, 9), total=SUBJECTS, chunk=4, workers=2)
    assert json.loads((tmp_path / "g" / STATE_DIR / PROGRESS_FILE).read_text())["subjects"] == 8
    with pytest.raises(GalleryError, match="another source"):
        Gallery.build(tmp_path / "g", Population(), total=SUBJECTS, chunk=4)
    built = Gallery.build(
        tmp_path / "g", StopsAt(population, None), total=SUBJECTS, chunk=4, workers=2
    )
    same_arrays(tmp_path / "threads", tmp_path / "g")
    assert built.subjects() == expected.subjects()
    assert built.subjects()[3] == "syn-100"


def test_a_build_stopped_before_its_manifest_is_finished(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scomm.biometrics import bulk

    def killed(*args: object) -> None:
        raise Stop

    with monkeypatch.context() as patch:
        patch.setattr(bulk.storage, "write_manifest", killed)
        with pytest.raises(Stop):
            Gallery.build(tmp_path / "g", iter(subjects()), chunk=4)
    assert (tmp_path / "g" / "gen-0").exists() and not (tmp_path / "g" / "manifest.json").exists()
    built = Gallery.build(tmp_path / "g", iter(subjects()), chunk=4)
    assert built.subjects() == [s for s, _f in subjects()]
    assert sorted(p.name for p in (tmp_path / "g").iterdir()) == ["gen-0", "manifest.json"]


def test_a_gallery_is_not_built_over(tmp_path: Path) -> None:
    Gallery.build(tmp_path / "h", iter(subjects()[:3]))
    with pytest.raises(GalleryError, match="already exists"):
        Gallery.build(tmp_path / "h", iter(subjects()[:3]))


def test_cli_builds_a_generated_gallery(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from scomm.cli import main

    with pytest.raises(SystemExit) as done:
        main(["biometrics", "build", str(tmp_path / "g"), "--synthetic", "5", "--first-seed", "7"])
    assert done.value.code == 0
    assert "subjects 5, templates 5" in capsys.readouterr().out
    assert Gallery.open(tmp_path / "g").subjects() == [f"syn-{s}" for s in range(7, 12)]
    with pytest.raises(SystemExit) as done:
        main(["biometrics", "build", str(tmp_path / "g"), "--synthetic", "5"])
    assert done.value.code == 2  # a gallery is there already


def test_a_chunk_is_prepared_as_each_template_alone() -> None:
    """The chunk kernels give the cylinders and codes matcher.prepare and index_code give each
    template, empty templates and several fingers a subject included; chunks join in order."""
    from scomm.biometrics import matcher
    from scomm.biometrics.bulk import _joined, prepare_chunk
    from scomm.biometrics.byte_sparse import decode
    from scomm.biometrics.screen import CODE_WORDS, code_size, index_code

    given = subjects()
    empty = Template(np.zeros(0, given[0][1][1].minutiae.dtype), width=288, height=384)
    items = [*given[:3], ("empty", {1: empty}), *given[3:], ("two", {2: empty, 7: given[0][1][1]})]
    chunk = prepare_chunk(items)
    a = chunk.arrays
    entry = 0
    for row, (_sid, fingers) in enumerate(items):
        for position, template in sorted(fingers.items()):
            p = matcher.prepare(template)
            lo, hi = a["offsets"][entry], a["offsets"][entry + 1]
            assert (a["entry_subject"][entry], a["entry_finger"][entry]) == (row, position)
            t0, t1 = a["template_starts"][entry], a["template_starts"][entry + 1]
            stored = matcher.decode_template(a["template_bytes"][t0:t1], hi - lo)
            for name in ("x", "y", "theta", "bits", "masks"):
                assert np.array_equal(getattr(stored, name), getattr(p, name)), name
            k0, k1 = a["code_starts"][entry], a["code_starts"][entry + 1]
            assert np.array_equal(decode(a["code_bytes"][k0:k1], 1, CODE_WORDS)[0], index_code(p))
            assert a["code_sizes"][entry] == code_size(index_code(p))
            entry += 1
    assert entry == chunk.entries
    joined = _joined([prepare_chunk(items[:5]), prepare_chunk(items[5:])])
    assert joined.ids == chunk.ids
    for name, _dtype, _shape, _rows in ARRAYS:
        assert np.array_equal(joined.arrays[name], a[name]), name


def test_a_template_with_a_non_finite_minutia_is_refused_by_subject() -> None:
    from scomm.biometrics.bulk import prepare_chunk
    from scomm.errors import TemplateError

    items = subjects()[:4]
    bad = items[2][1][1].minutiae.copy()
    bad["x"][0] = np.nan
    items[2] = (items[2][0], {1: Template(bad, width=288, height=384)})
    with pytest.raises(TemplateError, match=items[2][0]):
        prepare_chunk(items)
