"""The shortlist's read-ahead: which ranges are asked for, and that the kernel reads them."""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from _biometric_templates import impression, random_template

from scomm.biometrics import matcher, readahead, search, storage
from scomm.biometrics.gallery import Gallery

PAGE = readahead.PAGE
needs_madvise = pytest.mark.skipif(not readahead.AVAILABLE, reason="no madvise on this platform")


def _mapped(tmp_path: Path, pages: int) -> np.memmap:
    path = tmp_path / "rows.bin"
    with open(path, "wb") as handle:
        handle.write(os.urandom(pages * PAGE))
        handle.flush()
        os.fsync(handle.fileno())  # clean pages, which the kernel can drop
    return np.memmap(path, dtype=np.uint8, mode="r")


@needs_madvise
def test_neighbouring_rows_are_asked_for_in_one_call(tmp_path: Path) -> None:
    array = _mapped(tmp_path, 1000)
    starts = np.arange(0, 1001 * PAGE, PAGE, dtype=np.int64)  # a page a row
    assert readahead.will_need([(array, starts)], np.array([3, 4, 5, 6])) == 1
    far = np.array([0, 100, 200, 300])  # 100 pages apart: more than MERGE_GAP
    assert readahead.will_need([(array, starts)], far) == 4
    # Two arrays, each its own calls; empty rows ask for nothing.
    starts_empty = np.zeros(1001, dtype=np.int64)
    assert readahead.will_need([(array, starts), (array, starts_empty)], far) == 4


def test_heap_arrays_and_empty_shortlists_are_left_alone() -> None:
    array = np.zeros(10 * PAGE, dtype=np.uint8)
    starts = np.arange(0, 11 * PAGE, PAGE, dtype=np.int64)
    assert readahead.will_need([(array, starts)], np.array([1, 5])) == 0
    assert readahead.will_need([(array, starts)], np.array([], dtype=np.int64)) == 0


def _resident(array: np.memmap) -> np.ndarray:
    """Which pages of the mapping are in the page cache (Linux mincore)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mincore.argtypes = [ctypes.c_size_t, ctypes.c_size_t, ctypes.c_void_p]
    pages = array.nbytes // PAGE
    found = np.zeros(pages, dtype=np.uint8)
    assert array.ctypes.data % PAGE == 0
    if libc.mincore(array.ctypes.data, pages * PAGE, found.ctypes.data) != 0:
        pytest.skip(f"mincore failed: errno {ctypes.get_errno()}")
    return (found & 1).astype(bool)


@needs_madvise
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mincore and fadvise: Linux")
def test_the_kernel_reads_the_advised_rows_and_not_the_rest(tmp_path: Path) -> None:
    array = _mapped(tmp_path, 2048)
    with open(array.filename, "rb") as handle:  # type: ignore[arg-type]
        os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
    before = _resident(array)
    if before.mean() > 0.05:
        pytest.skip("the file's pages could not be dropped from the page cache")
    starts = np.arange(0, 2049 * PAGE, PAGE, dtype=np.int64)
    rows = np.arange(0, 2048, 64)  # 32 rows, 63 pages apart
    readahead.will_need([(array, starts)], rows)
    # The reads are queued, not awaited: touching the rows waits for them, nothing more.
    touched = [int(array[r * PAGE]) for r in rows]
    assert len(touched) == rows.shape[0]
    after = _resident(array)
    assert after[rows].all()
    # Without the read-ahead a fault reads about 32 pages around each miss; with it, the
    # rows are read and little else.
    assert after.sum() < 4 * rows.shape[0]


def _compacted(directory: Path, subjects: int) -> Gallery:
    """A gallery of ``subjects`` one-finger subjects, its templates memory-mapped from the
    files of a written generation."""
    g = Gallery.create(directory)
    for s in range(subjects):
        g.enroll(f"S{s}", {1: random_template(1000 * s + 1)})
    g.compact()
    return Gallery.open(directory)


def test_a_search_read_ahead_in_parts_scores_as_one_without(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = _compacted(tmp_path / "g", 40)
    segment = opened._segments[0]
    prepared = matcher.prepare(impression(random_template(7001), 7))
    entries = np.random.default_rng(3).permutation(segment.entries)  # not in file order
    monkeypatch.setattr(search, "READ_AHEAD_FROM", 10**9)
    alone = search._compare_entries(prepared, segment, entries)
    monkeypatch.setattr(search, "READ_AHEAD_FROM", 1)
    monkeypatch.setattr(search, "READ_AHEAD_PART", 7)  # six parts, the last shorter
    in_parts = search._compare_entries(prepared, segment, entries)
    np.testing.assert_array_equal(in_parts, alone)
    assert alone.max() > 0.3  # the probe's own subject is among them, and scores well


def _flags_of(path: Path) -> set[str]:
    """The VmFlags of this process's mappings of ``path`` (Linux /proc/self/smaps)."""
    flags: set[str] = set()
    current = None
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            fields = line.split()
            if fields and "-" in fields[0] and len(fields) >= 5:
                current = fields[-1] if len(fields) >= 6 else None
            elif line.startswith("VmFlags:") and current == str(path):
                flags.update(fields[1:])
    return flags


@needs_madvise
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/smaps: Linux")
def test_templates_are_mapped_for_random_reads_and_compaction_reads_them_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "g"
    opened = _compacted(directory, 5)
    x = (directory / f"gen-{opened.generation}" / "template_bytes.npy").resolve()
    codes = x.with_name("code_bytes.npy")
    assert "rr" in _flags_of(x)  # random read: no read-around on a fault
    assert "rr" not in _flags_of(codes)  # read in order when the screen is transposed
    seen: list[set[str]] = []
    original = storage.Columns.prepared

    def spy(self: storage.Columns, entry: int) -> matcher.Prepared:
        seen.append(_flags_of(x))
        return original(self, entry)

    monkeypatch.setattr(storage.Columns, "prepared", spy)
    for _chunk in opened._merged([]):
        pass
    assert seen and all("sr" in flags for flags in seen)  # sequential while merging
    assert "rr" in _flags_of(x) and "sr" not in _flags_of(x)  # and random again after
