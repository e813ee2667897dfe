"""The screen: MinHash index codes of templates, and the shared-bucket count of a search.

Each prepared template gets a small *index code*: each of its cylinders is reduced to one
bucket per table by MinHash over its set cells, and the code is the set of buckets it fills
(``INDEX_TABLES`` tables of 1,024 buckets, one bit each: 4 kB, stored with the gallery). A
probe's screen score against a candidate is the number of buckets their codes share over the
number the candidate fills (MCC indexing, Cappelli et al. 2011), the most common buckets left
out (:data:`COUNTED`).

What the screen holds in memory is the codes *folded* to a :class:`ScreenLayout` (the first
tables, each folded to fewer buckets: bucket ``b`` modulo ``2 ** bucket_bits``, the same as
hashing to fewer buckets) and transposed on the first search (for each finger position and
folded bucket, one bit per template): a probe reads only its own buckets' rows, a few per
cent of the codes, and adds them 64 templates at a time into bit-sliced counters. The
default layout costs 1.5-2 kB a template instead of the full codes' 4 kB (``DEFAULT_LAYOUT``
says which, and what it was measured to cost in rank-1), and is chosen when a gallery is
opened: no rebuild. Templates enrolled since the transposition are screened word by word
(AND + popcount over each folded code, the same scores) until enough of them have come to
transpose again (:class:`SegmentScreen`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np

from scomm.biometrics.byte_sparse import decode_into
from scomm.biometrics.intrinsics import cttz as _cttz
from scomm.biometrics.intrinsics import popcount as _popcount
from scomm.biometrics.matcher import CYLINDER_WORDS, Prepared
from scomm.biometrics.template import UNKNOWN_FINGER

# MinHash tables. 32, not 16: one FVC2002 finger against 1,000,000 templates, the mate is
# ranked first for 95.0% of probes instead of 93.2% (benchmarks/biometrics.py, rank1: the
# screen kept more low-overlap mates), for twice the index memory and screen work. (Measured
# with the distractors of the time, whose minutiae senses were drawn at random; against the
# ones that lean as FVC2002's do, rank-1 at 1,000,000 is lower: biometrics.json, one_to_n.)
INDEX_TABLES = 32
INDEX_BUCKET_BITS = 10  # 1024 buckets per table
INDEX_HASHES = 2  # MinHashes combined into a bucket
TABLE_WORDS = (1 << INDEX_BUCKET_BITS) // 64
CODE_WORDS = INDEX_TABLES * TABLE_WORDS
_CYLINDER_BITS = CYLINDER_WORDS * 64
INDEX_PARAMETERS = {
    "tables": INDEX_TABLES,
    "bucket_bits": INDEX_BUCKET_BITS,
    "hashes": INDEX_HASHES,
}
# Two MinHash permutations per table, fixed so that stored codes stay comparable.
_PERMUTATIONS = np.stack(
    [
        np.random.default_rng(20110101 + k).permutation(_CYLINDER_BITS)
        for k in range(2 * INDEX_TABLES)
    ]
).astype(np.int32)


# The same permutations cell by cell (row: a cylinder cell's rank in each permutation), so
# that a cell's ranks in all of them are one contiguous row that SIMD takes the minimum of.
_RANKS_BY_CELL = np.ascontiguousarray(_PERMUTATIONS.T)

# The buckets most cylinders of most fingers fall into (cylinders of common shape: few
# neighbours, ridges running alike) say little about which finger a probe is, and a mate
# that shares few buckets is outscored by templates that merely share these. The screen
# counts every bucket but the most common 5%, found once on 20,000 generated templates of
# seeds no gallery uses (:mod:`scomm.biometrics.common_buckets`, `scomm biometrics
# common-buckets`). The benchmark's rank-1 with a 2% shortlist (biometrics.json,
# rank1_analysis) rose from 92.9% to 94.6% at 100,000 templates and from 92.1% to 93.6% at
# 1,000,000. The share was chosen in an experiment outside the benchmark (mate within the
# first 2% at 100,000, default layout): none left out 94.3%, 3% 95.4%, 5% 96.4%, 7% 94.3%;
# weighting rare buckets up instead (inverse document frequency) 93.2%.
COMMON_BUCKETS_FILE = Path(__file__).with_name("screen_common_buckets.json")


def counted_buckets(common: list[int]) -> np.ndarray:
    """Code words with a bit set for every bucket the screen counts: all but ``common``."""
    bits = np.ones(CODE_WORDS * 64, dtype=np.uint8)
    bits[np.asarray(common, dtype=np.int64)] = 0
    return np.packbits(bits, bitorder="little").view(np.uint64).copy()


def _load_counted(path: Path) -> np.ndarray:
    again = "measure them again (scomm biometrics common-buckets)"
    try:
        found = json.loads(path.read_text())
        index, common = found["index"], found["common"]
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise RuntimeError(f"{path}: no readable common buckets ({exc!r}): {again}") from exc
    if index != INDEX_PARAMETERS:
        raise RuntimeError(
            f"{path}: common buckets of index {index}, not {INDEX_PARAMETERS}: {again}"
        )
    buckets = CODE_WORDS * 64
    if not all(isinstance(b, int) and 0 <= b < buckets for b in common):
        raise RuntimeError(f"{path}: a common bucket outside 0-{buckets - 1}: {again}")
    return counted_buckets(common)


COUNTED = _load_counted(COMMON_BUCKETS_FILE)


@numba.njit(cache=True, nogil=True)
def _index_code(bits: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """Bucket presence bitmaps: per table, the bucket of each cylinder's pair of MinHashes
    (``ranks[cell, 2t]`` and ``ranks[cell, 2t + 1]``: the cell's ranks in table t's two
    permutations)."""
    code = np.zeros(CODE_WORDS, dtype=np.uint64)
    n = bits.shape[0]
    hashes = ranks.shape[1]
    tables = hashes // 2
    cells = np.empty(_CYLINDER_BITS, dtype=np.int64)
    low = np.empty(hashes, dtype=np.int32)
    for c in range(n):
        k = 0
        for w in range(CYLINDER_WORDS):
            v = bits[c, w]
            while v != 0:
                cells[k] = w * 64 + int(_cttz(v))
                k += 1
                v &= v - np.uint64(1)
        if k == 0:
            continue  # an empty cylinder says nothing
        low[:] = _CYLINDER_BITS
        for i in range(k):
            row = ranks[cells[i]]
            for q in range(hashes):
                low[q] = min(low[q], row[q])
        for t in range(tables):
            m1 = low[2 * t]
            m2 = low[2 * t + 1] if INDEX_HASHES == 2 else 0
            h = (np.uint64(m1) * np.uint64(_CYLINDER_BITS) + np.uint64(m2)) * np.uint64(2654435761)
            bucket = int((h >> np.uint64(13)) & np.uint64((1 << INDEX_BUCKET_BITS) - 1))
            word = t * TABLE_WORDS + (bucket >> 6)
            code[word] |= np.uint64(1) << np.uint64(bucket & 63)
    return code


def index_code(prepared: Prepared) -> np.ndarray:
    """The screen's code of a prepared template (``CODE_WORDS`` uint64 words)."""
    return _index_code(prepared.bits, _RANKS_BY_CELL)


@numba.njit(cache=True, nogil=True)
def code_size(code: np.ndarray) -> float:
    total = 0
    for w in range(code.shape[0]):
        total += int(_popcount(code[w]))
    return float(total)


@dataclass(frozen=True)
class ScreenLayout:
    """How much of the stored index codes the screen holds in memory: the first ``tables``
    tables, each folded to ``2 ** bucket_bits`` buckets (bucket ``b`` read as ``b`` modulo
    that, the same as hashing to fewer buckets). A template costs ``tables * 2 **
    bucket_bits / 8`` bytes of transposed codes in memory; the stored codes keep every table
    at full width, so a layout is chosen when a gallery is opened, not when it is built."""

    tables: int = INDEX_TABLES
    bucket_bits: int = INDEX_BUCKET_BITS

    def __post_init__(self) -> None:
        if not 1 <= self.tables <= INDEX_TABLES:
            raise ValueError(f"screen tables must be 1-{INDEX_TABLES}, got {self.tables}")
        if not 6 <= self.bucket_bits <= INDEX_BUCKET_BITS:
            raise ValueError(
                f"screen bucket bits must be 6-{INDEX_BUCKET_BITS}, got {self.bucket_bits}"
            )

    @property
    def words(self) -> int:
        """uint64 words of one folded code."""
        return self.tables << (self.bucket_bits - 6)

    @property
    def bytes_per_template(self) -> int:
        return 8 * self.words


FULL_LAYOUT = ScreenLayout()
# What a gallery's screen holds by default: 30 tables of 512 buckets, 1,920 bytes a template
# (the full codes' 4,096 would not leave 2 kB a template with the rest, issue 14). FVC2002
# probes against 200,000 generated templates (benchmarks/biometrics.py, screen_layouts):
# the mate first for 95.0% of them, as with the full codes; 28 tables 94.3%, 24 tables 94.3%,
# 16 tables of 1,024 buckets 93.6%: the number of tables counts more than their width
# (with the distractors of the time, whose minutiae senses were drawn at random).
DEFAULT_LAYOUT = ScreenLayout(tables=30, bucket_bits=9)


@numba.njit(cache=True, nogil=True)
def _fold_into(
    code: np.ndarray, counted: np.ndarray, tables: int, bucket_bits: int, out: np.ndarray
) -> int:
    """``out`` (zeroed here): ``code``'s counted buckets folded to the layout; returns its
    bits set."""
    out[:] = 0
    mask = (1 << bucket_bits) - 1
    for w in range(tables * TABLE_WORDS):
        v = code[w] & counted[w]
        while v != 0:
            k = w * 64 + int(_cttz(v))
            v &= v - np.uint64(1)
            row = (k >> INDEX_BUCKET_BITS) * (mask + 1) + (k & mask)
            out[row >> 6] |= np.uint64(1) << np.uint64(row & 63)
    total = 0
    for w in range(out.shape[0]):
        total += int(_popcount(out[w]))
    return total


def fold(codes: np.ndarray, layout: ScreenLayout) -> tuple[np.ndarray, np.ndarray]:
    """Codes (one or a 2-D array of them), their :data:`COUNTED` buckets folded to
    ``layout``, and their sizes."""
    flat = np.atleast_2d(codes)
    out = np.zeros((flat.shape[0], layout.words), dtype=np.uint64)
    sizes = np.zeros(flat.shape[0], dtype=np.float32)
    for i in range(flat.shape[0]):
        sizes[i] = _fold_into(flat[i], COUNTED, layout.tables, layout.bucket_bits, out[i])
    return (out[0], sizes[:1]) if codes.ndim == 1 else (out, sizes)


@numba.njit(cache=True, nogil=True, parallel=True)
def _screen(
    codes: np.ndarray,
    sizes: np.ndarray,
    fingers: np.ndarray,
    alive: np.ndarray,
    probe: np.ndarray,
    finger: int,
    out: np.ndarray,
) -> None:
    """Screen scores of every entry (-1 for entries of another finger position or removed);
    ``codes`` and ``probe`` of one layout (any width)."""
    n = codes.shape[0]
    width = probe.shape[0]
    for e in numba.prange(n):
        if not alive[e] or (finger != 0 and fingers[e] != finger) or sizes[e] == 0:
            out[e] = -1.0
            continue
        shared = 0
        for w in range(width):
            shared += int(_popcount(codes[e, w] & probe[w]))
        # Shared buckets over the candidate's own: chance collisions grow with the candidate's
        # size (a template with many minutiae fills more buckets), so this is the observed
        # over the expected count, up to the probe's constant. Dividing by the geometric mean
        # of both sizes instead ranked FVC2002 mates among 200,000 generated templates within
        # the first 2% for 86% of probes; this does so for 96%.
        out[e] = shared / sizes[e]


# Below this size (in words of 64 templates) the screen's counting stays on the calling
# thread: a parallel region costs more than it saves for a small gallery.
PARALLEL_WORDS = 1024
# Entries enrolled after a segment's transposed codes were built are screened word by word
# until they number more than this (or an eighth of those transposed); then they are rebuilt.
INDEX_TAIL_MAX = 512


@numba.njit(cache=True, nogil=True)
def _transpose_codes(
    code_bytes: np.ndarray,
    code_starts: np.ndarray,
    members: np.ndarray,
    counted: np.ndarray,
    tables: int,
    bucket_bits: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The codes of entries ``members`` (encoded: entry ``e``'s at ``code_starts[e]`` of
    ``code_bytes``) folded to a layout, bucket by bucket: bit ``j`` of row ``k`` is set when
    the folded code of ``members[j]`` sets bit ``k``; and the folded codes' sizes."""
    m = members.shape[0]
    width = tables << (bucket_bits - 6)
    out = np.zeros((width * 64, (m + 63) // 64), dtype=np.uint64)
    sizes = np.zeros(m, dtype=np.uint16)  # at most 32 tables x ~100 cylinders
    folded = np.zeros(width, dtype=np.uint64)
    code = np.empty((1, CODE_WORDS), dtype=np.uint64)
    for j in range(m):
        decode_into(code_bytes, code_starts[members[j]], code)
        sizes[j] = _fold_into(code[0], counted, tables, bucket_bits, folded)
        word = j >> 6
        bit = np.uint64(1) << np.uint64(j & 63)
        for w in range(width):
            v = folded[w]
            while v != 0:
                out[w * 64 + int(_cttz(v)), word] |= bit
                v &= v - np.uint64(1)
    return out, sizes


@numba.njit(cache=True, nogil=True)
def _probe_rows(probe: np.ndarray) -> np.ndarray:
    """The bits a (folded) probe code sets (its buckets), ascending."""
    rows = np.empty(probe.shape[0] * 64, dtype=np.int64)
    n = 0
    for w in range(probe.shape[0]):
        v = probe[w]
        while v != 0:
            rows[n] = w * 64 + int(_cttz(v))
            n += 1
            v &= v - np.uint64(1)
    return rows[:n]


# Words of transposed codes counted together (16,384 templates): each of the probe's rows is
# read as one contiguous stretch of this many words, which the CPU prefetches and the adders
# below take four words at a time (SIMD); the counters stay in the core's own cache.
COUNT_BLOCK_WORDS = 256


@numba.njit(cache=True, nogil=True)
def _count_block(
    transposed: np.ndarray, rows: np.ndarray, lo: int, hi: int, m: int, shared: np.ndarray
) -> None:
    """Shared-bit counts of templates ``64 * lo`` to ``64 * hi`` (words ``lo:hi``).

    Bit-sliced, 64 templates per word: the probe's rows are summed fifteen at a time into
    4-bit lane counters (carry-save adders, no branches), each sum is added into counter bit
    planes, and each template's count is read out of the planes at the end.
    """
    n = rows.shape[0]
    w = hi - lo
    used = 1  # counter planes: enough for a count of n
    while (1 << used) <= n:
        used += 1
    planes = np.zeros((max(used, 4), w), dtype=np.uint64)
    ones = np.empty(w, dtype=np.uint64)
    twos = np.empty(w, dtype=np.uint64)
    fours = np.empty(w, dtype=np.uint64)
    eights = np.empty(w, dtype=np.uint64)
    for first in range(0, n, 15):
        ones[:] = 0
        twos[:] = 0
        fours[:] = 0
        eights[:] = 0
        for r in range(first, min(first + 15, n)):
            row = transposed[rows[r], lo:hi]
            for i in range(w):
                x = row[i]
                o = ones[i]
                c1 = o & x
                ones[i] = o ^ x
                t = twos[i]
                c2 = t & c1
                twos[i] = t ^ c1
                f = fours[i]
                fours[i] = f ^ c2
                eights[i] ^= f & c2  # at most 15 rows: no carry out of the eights
        # Add the 4-bit sums into the planes: a ripple of fixed depth, the same for every word.
        for i in range(w):
            carry = np.uint64(0)
            for p, b in ((0, ones[i]), (1, twos[i]), (2, fours[i]), (3, eights[i])):
                a = planes[p, i]
                planes[p, i] = a ^ b ^ carry
                carry = (a & b) | (carry & (a ^ b))
            for p in range(4, planes.shape[0]):
                a = planes[p, i]
                planes[p, i] = a ^ carry
                carry &= a
    counts = np.empty(64, dtype=np.uint64)
    for q in range(w):
        counts[:] = 0
        for p in range(planes.shape[0]):
            v = planes[p, q]
            for b in range(64):  # shifts by lane: vectorized
                counts[b] |= ((v >> np.uint64(b)) & np.uint64(1)) << np.uint64(p)
        base = (lo + q) * 64
        for b in range(min(64, m - base)):
            shared[base + b] = counts[b]


@numba.njit(cache=True, nogil=True)
def _count_shared(transposed: np.ndarray, probe: np.ndarray, m: int) -> np.ndarray:
    """For each of the ``m`` transposed codes, the number of bits it shares with ``probe``:
    only the rows of the probe's own buckets are read."""
    shared = np.zeros(m, dtype=np.int32)
    words = transposed.shape[1]
    rows = _probe_rows(probe)
    for lo in range(0, words, COUNT_BLOCK_WORDS):
        _count_block(transposed, rows, lo, min(lo + COUNT_BLOCK_WORDS, words), m, shared)
    return shared


@numba.njit(cache=True, nogil=True, parallel=True)
def _count_shared_parallel(transposed: np.ndarray, probe: np.ndarray, m: int) -> np.ndarray:
    """:func:`_count_shared` with its blocks counted in parallel."""
    shared = np.zeros(m, dtype=np.int32)
    words = transposed.shape[1]
    rows = _probe_rows(probe)
    blocks = (words + COUNT_BLOCK_WORDS - 1) // COUNT_BLOCK_WORDS
    for block in numba.prange(blocks):
        lo = block * COUNT_BLOCK_WORDS
        _count_block(transposed, rows, lo, min(lo + COUNT_BLOCK_WORDS, words), m, shared)
    return shared


@numba.njit(cache=True, nogil=True)
def _scores_of(
    shared: np.ndarray, members: np.ndarray, sizes: np.ndarray, alive: np.ndarray, out: np.ndarray
) -> None:
    """``out[members[j]]``: :func:`_screen`'s score of member ``j`` (folded size
    ``sizes[j]``) from its shared count."""
    for j in range(members.shape[0]):
        e = members[j]
        if not alive[e] or sizes[j] == 0:
            out[e] = -1.0
        else:
            out[e] = shared[j] / sizes[j]


@numba.njit(cache=True, nogil=True)
def _best_by_row(out: np.ndarray, entry_subject: np.ndarray, best: np.ndarray) -> None:
    """``best[row]``: the highest screen score among the row's entries (kept if higher)."""
    for e in range(out.shape[0]):
        if out[e] > best[entry_subject[e]]:
            best[entry_subject[e]] = out[e]


@dataclass(frozen=True)
class Transposed:
    """A segment's first ``entries`` index codes, folded to ``layout`` and transposed by
    finger position."""

    entries: int
    layout: ScreenLayout
    members: dict[int, np.ndarray]  # finger position -> its entries, ascending (int32)
    codes: dict[int, np.ndarray]  # finger position -> transposed codes of those entries
    sizes: dict[int, np.ndarray]  # finger position -> folded sizes of those entries

    @property
    def nbytes(self) -> int:
        return sum(
            int(self.codes[p].nbytes + self.members[p].nbytes + self.sizes[p].nbytes)
            for p in self.members
        )


def transpose(
    code_bytes: np.ndarray,
    code_starts: np.ndarray,
    fingers: np.ndarray,
    layout: ScreenLayout = DEFAULT_LAYOUT,
) -> Transposed:
    """The encoded codes of a segment's entries (as :class:`~scomm.biometrics.storage.Columns`
    holds them) transposed by finger position (see :class:`Transposed`)."""
    members: dict[int, np.ndarray] = {}
    transposed: dict[int, np.ndarray] = {}
    sizes: dict[int, np.ndarray] = {}
    for position in np.unique(fingers).tolist():
        members[position] = np.flatnonzero(fingers == position).astype(np.int32)
        transposed[position], sizes[position] = _transpose_codes(
            code_bytes, code_starts, members[position], COUNTED, layout.tables, layout.bucket_bits
        )
    return Transposed(int(fingers.shape[0]), layout, members, transposed, sizes)


def decode_codes(code_bytes: np.ndarray, code_starts: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """The index codes of entries ``lo`` to ``hi - 1``, decoded (one a row)."""
    out = np.empty((hi - lo, CODE_WORDS), dtype=np.uint64)
    for e in range(lo, hi):
        decode_into(code_bytes, int(code_starts[e]), out[e - lo : e - lo + 1])
    return out


class SegmentScreen:
    """The screen of one segment of a gallery: its codes folded to a layout and transposed by
    the first search that needs them, and transposed again when enough entries came after them.

    Entries are only ever appended and removal only clears ``alive`` (read at search time),
    so a transposition stays true for the entries it covers.
    """

    def __init__(self, layout: ScreenLayout = DEFAULT_LAYOUT) -> None:
        self.layout = layout
        self.index: Transposed | None = None

    def scores(
        self,
        code_bytes: np.ndarray,
        code_starts: np.ndarray,
        fingers: np.ndarray,
        alive: np.ndarray,
        code: np.ndarray,
        position: int,
    ) -> np.ndarray:
        """Screen scores of every entry (-1: another position or removed): :func:`_screen`'s
        over the codes (encoded, as the segment holds them) folded to the layout, counted from
        the transposed codes."""
        entries = int(fingers.shape[0])
        index = self.index
        tail = entries - (index.entries if index is not None else 0)
        if index is None or tail > max(INDEX_TAIL_MAX, index.entries // 8):
            index = self.index = transpose(code_bytes, code_starts, fingers, self.layout)
        probe, _size = fold(code, self.layout)
        out = np.full(entries, -1.0, dtype=np.float32)
        positions = list(index.members) if position == UNKNOWN_FINGER else [position]
        for p in positions:
            members = index.members.get(p)
            if members is None:
                continue
            transposed = index.codes[p]
            wide = transposed.shape[1] >= PARALLEL_WORDS
            count = _count_shared_parallel if wide else _count_shared
            shared = count(transposed, probe, members.shape[0])
            _scores_of(shared, members, index.sizes[p], alive, out)
        n = index.entries
        if n < entries:  # enrolled since the codes were transposed
            folded, sizes = fold(decode_codes(code_bytes, code_starts, n, entries), self.layout)
            _screen(folded, sizes, fingers[n:], alive[n:], probe, position, out[n:])
        return out
