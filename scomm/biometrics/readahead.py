"""Reading a search's shortlist ahead from the memory-mapped gallery files.

A gallery larger than the page cache (10,000,000 templates are 50 GB on disk, beside a
screen index of 19 GB in memory) is read at random by the match stage: each shortlisted
template is a record of about 3.4 kB at its own place in one file. Left to page faults,
each miss is one synchronous read. Instead, before the comparisons, the byte ranges of the shortlist (in file
order, neighbours merged) are given to the kernel with ``madvise(MADV_WILLNEED)``: it queues
those pages' reads at once, many in flight, and reads nothing more. The comparisons then
find the pages in the cache or on their way.

The arrays a search reads only for its shortlist are also marked for random access
(:func:`random_access`, ``MADV_RANDOM``) when a gallery is opened: a page fault on them reads
that page alone, not the read-around meant for files read in order (128 kB by default, 8 MB
on this machine's virtual disk), which at 10,000,000 templates read 1.7 GB/s of pages no
search wanted and pushed out those it had asked for. Work that reads them in order (a
compaction) marks them sequential for its time (:func:`in_order`).

Only memory-mapped arrays are advised (a heap array is in memory already), and only where the
platform has ``madvise`` (Linux, macOS, the BSDs); elsewhere a search runs as before.
"""

from __future__ import annotations

import ctypes
import mmap
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numba
import numpy as np

PAGE = mmap.PAGESIZE
# Ranges less than this far apart are asked for in one call: a page or two read for nothing
# costs less than a system call where the gallery is in the page cache. Measured both ways
# (the same probes, both orders): at 1,000,000 templates (cached) a gap of 0 was 7-13% slower
# (more calls); at 10,000,000 (read from disk) it read 10-15% less and was 3-7% faster.
MERGE_GAP = 4 * PAGE
WILLNEED: int | None = getattr(mmap, "MADV_WILLNEED", None)
RANDOM: int | None = getattr(mmap, "MADV_RANDOM", None)
SEQUENTIAL: int | None = getattr(mmap, "MADV_SEQUENTIAL", None)


def _libc_madvise() -> Any:
    if WILLNEED is None:
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, TypeError, AttributeError):  # no C library by that name (Windows)
        return None
    # The address as an integer of pointer size: numba passes integers, not void pointers.
    function.argtypes = [ctypes.c_size_t, ctypes.c_size_t, ctypes.c_int]
    function.restype = ctypes.c_int
    return function


_MADVISE = _libc_madvise()
AVAILABLE = _MADVISE is not None

if _MADVISE is not None:
    _madvise = _MADVISE
    _ADVICE = int(WILLNEED or 0)

    # Not cached: the compiled code holds the C function's address, which differs by process.
    @numba.njit(nogil=True)
    def _advise(base: int, itemsize: int, starts: np.ndarray, rows: np.ndarray) -> int:
        calls = 0
        low = -1
        high = -1
        for i in range(rows.shape[0]):
            r = rows[i]
            begin = base + starts[r] * itemsize
            end = base + starts[r + 1] * itemsize
            if end <= begin:
                continue
            begin -= begin % PAGE
            if low >= 0 and begin <= high + MERGE_GAP:
                high = max(high, end)
                continue
            if low >= 0:
                _madvise(low, high - low, _ADVICE)
                calls += 1
            low, high = begin, end
        if low >= 0:
            _madvise(low, high - low, _ADVICE)
            calls += 1
        return calls


def will_need(arrays: Sequence[tuple[np.ndarray, np.ndarray]], rows: np.ndarray) -> int:
    """Ask the kernel to read ahead rows ``starts[r]:starts[r + 1]`` of each memory-mapped
    ``(array, starts)`` pair, for ``rows`` in ascending order: the number of ``madvise``
    calls made (0 where nothing is mapped or the platform has no ``madvise``)."""
    if _MADVISE is None or rows.shape[0] == 0:
        return 0
    calls = 0
    chosen = np.ascontiguousarray(rows, dtype=np.int64)
    for array, starts in arrays:
        if not isinstance(array, np.memmap) or array.size == 0:
            continue
        calls += _advise(int(array.ctypes.data), int(array.itemsize), np.asarray(starts), chosen)
    return calls


def _advise_whole(array: np.ndarray, advice: int | None) -> None:
    if _MADVISE is None or advice is None or not isinstance(array, np.memmap) or not array.size:
        return
    begin = int(array.ctypes.data)
    begin -= begin % PAGE  # the mapping starts at a page boundary at or before the data
    _MADVISE(begin, int(array.ctypes.data) + int(array.nbytes) - begin, advice)


def random_access(arrays: Iterable[np.ndarray]) -> None:
    """Mark memory-mapped arrays as read at random: a page fault reads its page alone."""
    for array in arrays:
        _advise_whole(array, RANDOM)


@contextmanager
def in_order(arrays: Sequence[np.ndarray]) -> Iterator[None]:
    """Within the block, the arrays are read in order (read ahead generously); after it, at
    random again."""
    for array in arrays:
        _advise_whole(array, SEQUENTIAL)
    try:
        yield
    finally:
        random_access(arrays)
