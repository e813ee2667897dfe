"""Seeded mutations of a gallery's files, and how each damaged gallery ended.

Used by ``tests/fuzz/test_gallery_fuzz.py`` (CI size) and ``benchmarks/faults.py``::

    original = build_original(directory)
    for outcome in run_gallery_cases(original, workdir, count=300, seed=20081027):
        outcome.result   # clean_refusal, accepted, fewer_enrolments, changed, traceback,
                         # unclear_refusal

A damaged gallery must open and search as the intact one did (``accepted``: the damage did
not touch what is read, or was an interrupted write's uncommitted tail), or be refused with a
GalleryError naming a file of it (``clean_refusal``). ``fewer_enrolments`` (a valid journal
cut short or deleted, opened as if it were whole: subjects lost without a word) and
``changed`` (other subjects or other search results) are the silent failures; any other
exception is a ``traceback``, a GalleryError naming something else an ``unclear_refusal``.
"""

from __future__ import annotations

import shutil
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the shared generators
from _biometric_templates import impression, random_template  # noqa: E402

from scomm.biometrics.gallery import Gallery  # noqa: E402
from scomm.errors import GalleryError  # noqa: E402
from tests.fuzz.corpus import Outcome  # noqa: E402

MUTATIONS = ("flip", "flips", "truncate", "empty", "overwrite", "append", "insert", "delete")
GALLERY_RESULTS = (
    "clean_refusal",
    "accepted",
    "fewer_enrolments",
    "changed",
    "traceback",
    "unclear_refusal",
)
PROBES = [{1: impression(random_template(100 * s + 1, n=20), s)} for s in (1, 6)]


def fingers(s: int) -> dict:
    return {1: random_template(100 * s + 1, n=20), 2: random_template(100 * s + 2, n=20)}


def build_original(path: Path) -> Path:
    """A small gallery with every kind of file: generation 1 on disk (five subjects), and a
    journal on top of it (three enrolments, one removal)."""
    g = Gallery.create(path)
    for s in range(5):
        g.enroll(f"S{s}", fingers(s))
    g.compact()
    for s in range(5, 8):
        g.enroll(f"S{s}", fingers(s))
    g.remove("S2")
    return path


def results(g: Gallery) -> list:
    return [g.search(p, 4) for p in PROBES]


def mutate(path: Path, rng: np.random.Generator) -> str:
    """Damage one file of the gallery in ``path``; says what was done."""
    files = sorted(p for p in path.rglob("*") if p.is_file())
    target = files[int(rng.integers(len(files)))]
    kind = MUTATIONS[int(rng.integers(len(MUTATIONS)))]
    data = bytearray(target.read_bytes())
    n = len(data)
    if kind == "delete":
        target.unlink()
        return f"{kind} {target.relative_to(path)}"
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


def classify(copy: Path, what: str, subjects: set[str], expected: list) -> tuple[str, str]:
    """(result, message) of opening the damaged gallery in ``copy``."""
    try:
        g = Gallery.open(copy)
    except GalleryError as exc:
        if str(copy) in exc.where or exc.where in subjects:
            return "clean_refusal", str(exc)
        return "unclear_refusal", str(exc)
    found = set(g.subjects())
    if found < subjects:
        return "fewer_enrolments", f"opened with {len(found)} of {len(subjects)} subjects"
    if found != subjects or results(g) != expected:
        return "changed", "opened with other subjects or other search results"
    if "journal" in what:
        # Opened intact: it must also take the next enrolment, and keep it.
        g.enroll("new", fingers(50))
        if set(Gallery.open(copy).subjects()) != subjects | {"new"}:
            return "changed", "the enrolment after opening it was not kept"
    return "accepted", "opened and searched as the intact gallery"


def run_gallery_cases(original: Path, workdir: Path, count: int, seed: int) -> Iterator[Outcome]:
    """``count`` damaged copies of ``original`` (made in ``workdir``, removed after each)."""
    intact = Gallery.open(original)
    expected = results(intact)
    subjects = set(intact.subjects())
    rng = np.random.default_rng(seed)
    for case in range(count):
        copy = workdir / f"case-{case}"
        shutil.copytree(original, copy)
        what = mutate(copy, rng)
        started = time.monotonic()
        try:
            result, message = classify(copy, what, subjects, expected)
        except Exception as exc:  # noqa: BLE001 - the very thing being looked for
            result = "traceback"
            message = "".join(traceback.format_exception(exc)[-4:])[-1500:]
        seconds = round(time.monotonic() - started, 4)
        shutil.rmtree(copy, ignore_errors=True)
        yield Outcome(f"gallery-{seed}-{case:05d}", "gallery", result, message, seconds, what)


def gallery_tally(outcomes: list[Outcome]) -> dict[str, Any]:
    counts = {result: sum(o.result == result for o in outcomes) for result in GALLERY_RESULTS}
    return {
        "cases": len(outcomes),
        **counts,
        "slowest_s": max((o.seconds for o in outcomes), default=0.0),
    }
