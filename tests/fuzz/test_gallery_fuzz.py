"""Seeded mutations of a gallery's files: every damaged gallery either opens and searches as
the intact one did, or is refused with a GalleryError naming a file of it; nothing else
(no traceback of numpy's or json's, no crash, no gallery silently changed).

A mutation of the journal may also cut it at a record boundary, which leaves a valid journal
holding the first records (as a crash before the next write would): then the gallery opens
with a prefix of the enrolments, each searched as before, and takes new enrolments.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the shared generators
from _biometric_templates import impression, random_template  # noqa: E402

from scomm.biometrics.gallery import Gallery  # noqa: E402
from scomm.errors import GalleryError  # noqa: E402

CASES = 300
MUTATIONS = ("flip", "flips", "truncate", "empty", "overwrite", "append", "insert", "delete")


def fingers(s: int) -> dict:
    return {1: random_template(100 * s + 1, n=20), 2: random_template(100 * s + 2, n=20)}


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fuzz") / "g"
    g = Gallery.create(path)
    for s in range(5):
        g.enroll(f"S{s}", fingers(s))
    g.compact()  # generation 1 on disk ...
    for s in range(5, 8):
        g.enroll(f"S{s}", fingers(s))  # ... and a journal on top
    g.remove("S2")
    return path


PROBES = [{1: impression(random_template(100 * s + 1, n=20), s)} for s in (1, 6)]


def results(g: Gallery) -> list:
    return [g.search(p, 4) for p in PROBES]


def mutate(path: Path, rng: np.random.Generator) -> str:
    files = sorted(p for p in path.rglob("*") if p.is_file())
    target = files[int(rng.integers(len(files)))]
    kind = MUTATIONS[int(rng.integers(len(MUTATIONS)))]
    data = bytearray(target.read_bytes())
    n = len(data)
    if kind == "delete":
        target.unlink()
        return f"{kind} {target.name}"
    if kind == "flip" and n:
        data[int(rng.integers(n))] ^= 1 << int(rng.integers(8))
    elif kind == "flips" and n:
        for _ in range(int(rng.integers(2, 9))):
            data[int(rng.integers(n))] ^= 1 << int(rng.integers(8))
    elif kind == "truncate":
        data = data[: int(rng.integers(n + 1))]
    elif kind == "empty":
        data = bytearray()
    elif kind == "overwrite" and n:
        at = int(rng.integers(n))
        data[at : at + 16] = rng.integers(0, 256, min(16, n - at), dtype=np.uint8).tobytes()
    elif kind == "append":
        data += rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8).tobytes()
    elif kind == "insert":
        at = int(rng.integers(n + 1))
        data[at:at] = rng.integers(0, 256, int(rng.integers(1, 9)), dtype=np.uint8).tobytes()
    target.write_bytes(bytes(data))
    return f"{kind} {target.relative_to(path)}"


def test_damaged_galleries_open_intact_or_are_refused_by_name(
    original: Path, tmp_path: Path
) -> None:
    intact = Gallery.open(original)
    expected = results(intact)
    subjects = set(intact.subjects())
    rng = np.random.default_rng(20081027)
    refused = 0
    for case in range(CASES):
        copy = tmp_path / f"case-{case}"
        shutil.copytree(original, copy)
        what = mutate(copy, rng)
        try:
            g = Gallery.open(copy)
        except GalleryError as exc:
            refused += 1
            assert str(copy) in exc.where or exc.where in subjects, (what, exc)
            shutil.rmtree(copy)
            continue
        if "journal" in what:
            # A journal cut at a record boundary: a prefix of the records, replayed.
            assert set(g.subjects()) <= subjects | {"S2"}, what
            g.enroll("new", fingers(50))
            assert "new" in Gallery.open(copy)
        else:
            assert set(g.subjects()) == subjects, what
            assert results(g) == expected, what
        shutil.rmtree(copy)
    assert refused > CASES // 2  # most mutations damage something that matters
