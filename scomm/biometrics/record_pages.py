"""Template records laid out by page in a gallery's ``template_bytes`` file (format 6).

A search larger than the page cache reads each shortlisted template's record from disk, and
the disk reads whole pages: a record of 3.4 kB placed anywhere straddles two pages five times
in six, one placed at a page's start straddles none. So the writer moves a record that would
straddle more pages than its size needs to the next page, leaving the rest of the page
before it zero (counted in the previous record's range of bytes: a record's decoder reads
what its map says and ignores what follows). On the records of a 200,000-template gallery
this is 1.19 pages a template instead of 1.84, for a file 22% larger.

This machine's virtual disk (fio, random reads, 256 in flight) served 67,000 reads of 4 kB a
second and 49,000 of 8 kB, so the reads of a 50,000-template shortlist should take about a
fifth less (expected from those rates; not yet measured at 10,000,000).
"""

from __future__ import annotations

import numba
import numpy as np

# The page the layout is for: that of the file, 4 kB on every system a gallery is read on
# (Linux, macOS and Windows on x86-64; Apple silicon's 16 kB pages hold four of these).
RECORD_PAGE = 4096


@numba.njit(cache=True, nogil=True)
def pages_spanned(at: int, size: int, page: int = RECORD_PAGE) -> int:
    """How many pages ``size`` bytes from file offset ``at`` touch."""
    if size <= 0:
        return 0
    return (at + size - 1) // page - at // page + 1


@numba.njit(cache=True, nogil=True)
def lay_out(
    records: np.ndarray, starts: np.ndarray, origin: int, page: int = RECORD_PAGE
) -> tuple[np.ndarray, np.ndarray]:
    """A chunk of records (record ``i`` is bytes ``starts[i]:starts[i + 1]`` of ``records``)
    as they are written when their first byte goes at file offset ``origin``: each record
    moved to the next page where it would straddle more pages than its size needs (but the
    first: what comes before it is written already), and the chunk's end padded to a page so
    that the next chunk's first record starts one. Returns the bytes and their starts."""
    n = starts.shape[0] - 1
    placed = np.empty(n + 1, dtype=np.int64)
    pos = 0
    for i in range(n):
        size = starts[i + 1] - starts[i]
        at = origin + pos
        if i > 0 and pages_spanned(at, size, page) > (size + page - 1) // page:
            pos += page - at % page
        placed[i] = pos
        pos += size
    if n > 0 and (origin + pos) % page:
        pos += page - (origin + pos) % page
    placed[n] = pos
    out = np.zeros(pos, dtype=np.uint8)
    for i in range(n):
        size = starts[i + 1] - starts[i]
        out[placed[i] : placed[i] + size] = records[starts[i] : starts[i + 1]]
    return out, placed
