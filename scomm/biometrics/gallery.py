"""A gallery of enrolled subjects and its 1:N search (identification).

A subject is an id and up to ten finger templates keyed by ANSI/NIST finger position (1 = right
thumb ... 10 = left little). Every template is stored *prepared* (its MCC cylinders, see
:mod:`scomm.biometrics.matcher`) plus a small *index code*, so that a search never rebuilds a
gallery template. Search runs in named stages:

1. ``screen``: the probe's best fingers (most cylinders) are screened against every gallery
   template of the same finger position (all positions when the probe's is unknown, 0) with the
   index code: each cylinder is reduced to one bucket per table by MinHash over its set cells,
   and the screen score is the number of buckets two templates share over the number the
   candidate fills (MCC indexing, Cappelli et al. 2011). The shared counts are taken from the
   codes transposed in memory on the first search (for each finger position and bucket, one
   bit per template): a probe reads only its own buckets' rows, a few per cent of the codes,
   and adds them 64 templates at a time into bit-sliced counters. The transposed copy costs
   as much memory as the codes (2 kB a template) and about a second per 100,000 templates to
   make. Templates enrolled since the transposition are screened word by word (AND + popcount
   over each whole code, the same scores) until enough of them have come to transpose again.
2. ``match``: the screen's shortlist gets the full MCC comparison. The shortlist is of
   templates, per screened finger, or (``shortlist_subjects``, the engine's) of subjects by
   their screen scores summed over the screened fingers.
3. ``fuse``: each shortlisted subject gets a full comparison of every probe finger with its
   template of the same position; the subject's score is the mean over the probe's fingers (a
   finger the subject lacks counts 0), so ten matching fingers outrank one.

Storage (a directory)::

    manifest.json           format, versions, generation, counts, decision threshold, file sizes
    gen-<g>/*.npy           the arrays of generation g (memory-mapped on open: fast reopen)
    gen-<g>/subjects.json   subject ids by row
    journal-<g>.bin         enrolments and removals since generation g (append-only records)

``compact()`` folds the journal into generation g+1 and switches ``manifest.json`` with an
atomic rename. An enrolment or removal is one journal record written at the end of the file;
if writing fails the file is cut back to where it was, and the in-memory gallery is changed only
after the record is on disk, so a failed operation leaves the gallery as it was. A file cut
short or inconsistent with the manifest raises :class:`~scomm.errors.GalleryError` naming it.

Work is spread over all cores by numba (``prange`` with the GIL released). Across machines, a
gallery is split into several directories (shards) and :func:`search_shards` runs each shard's
search as a Ray task and merges the candidates.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import struct
import tempfile
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from scomm.biometrics import matcher
from scomm.biometrics.matcher import CYLINDER_WORDS, WORDS_PER_LAYER, Prepared, _popcount
from scomm.biometrics.template import Template
from scomm.errors import GalleryError, InputError
from scomm.files import write_bytes_atomic

FORMAT = "scomm-gallery"
FORMAT_VERSION = 1
FINGER_POSITIONS = range(1, 11)  # ANSI/NIST-ITL finger positions of a ten-print
UNKNOWN_FINGER = 0  # a probe finger of unknown position is searched against every position

# --- index code -------------------------------------------------------------------------------
# MinHash tables. 32, not 16: one FVC2002 finger against 1,000,000 templates, the mate is
# ranked first for 95.0% of probes instead of 93.2% (benchmarks/biometrics.py, rank1: the
# screen kept more low-overlap mates), for twice the index memory and screen work.
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

# --- search -----------------------------------------------------------------------------------
SCREEN_FINGERS = 4  # how many of the probe's fingers are screened against the whole gallery
# The screen keeps, per screened finger, SHORTLIST_MIN templates or SHORTLIST_RATE of the
# templates it screened, whichever is more, but never more than SHORTLIST_MAX (the match
# stage's cost). On FVC2002 probes against generated distractors, a one-finger screen ranks
# the mate within its first 2% for 96 probes in 100: a single finger needs a wide
# shortlist; a ten-print search (the engine's) can keep a short one on several fingers.
SHORTLIST_MIN = 64
SHORTLIST_RATE = 0.02
SHORTLIST_MAX = 50_000
FUSE_SUBJECTS = 30  # subjects that go on to the fuse stage (at least max_candidates)


def shortlist_size(
    screened: int, rate: float = SHORTLIST_RATE, minimum: int = SHORTLIST_MIN
) -> int:
    """How many of ``screened`` templates a one-finger screen keeps for full comparison."""
    return int(min(SHORTLIST_MAX, max(minimum, math.ceil(rate * screened))))


_ARRAYS = (  # name, dtype, trailing shape
    ("entry_subject", np.int32, ()),
    ("entry_finger", np.uint8, ()),
    ("offsets", np.int64, ()),  # entries + 1
    ("alive", np.bool_, ()),
    ("codes", np.uint64, (CODE_WORDS,)),
    ("code_sizes", np.float32, ()),
    ("x", np.float32, ()),  # per cylinder from here on
    ("y", np.float32, ()),
    ("theta", np.float32, ()),
    ("bits", np.uint64, (CYLINDER_WORDS,)),
    ("masks", np.uint64, (WORDS_PER_LAYER,)),
)
_JOURNAL_MAGIC = b"SGJ1"
_RECORD_HEAD = struct.Struct(">4scII")  # magic, kind, payload length, CRC-32 of the payload


@intrinsic
def _cttz_intrinsic(typingctx, x):
    """Count of trailing zero bits (llvm.cttz): the next set cell of a cylinder word."""
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        fn = builder.module.declare_intrinsic("llvm.cttz", [ir.IntType(64), ir.IntType(1)])
        return builder.call(fn, [args[0], ir.Constant(ir.IntType(1), 0)])

    return sig, codegen


# Typed alias for callers (mypy cannot see through numba's intrinsic decorator).
_cttz: Callable[[Any], Any] = _cttz_intrinsic  # type: ignore[assignment]


@numba.njit(cache=True, nogil=True)
def _index_code(bits: np.ndarray, perms: np.ndarray) -> np.ndarray:
    """Bucket presence bitmaps: per table, the bucket of each cylinder's pair of MinHashes."""
    code = np.zeros(CODE_WORDS, dtype=np.uint64)
    n = bits.shape[0]
    tables = perms.shape[0] // 2
    for c in range(n):
        for t in range(tables):
            m1 = _CYLINDER_BITS
            m2 = _CYLINDER_BITS
            for w in range(CYLINDER_WORDS):
                v = bits[c, w]
                while v != 0:
                    b = w * 64 + int(_cttz(v))
                    v &= v - np.uint64(1)
                    m1 = min(m1, perms[2 * t, b])
                    m2 = min(m2, perms[2 * t + 1, b])
            if m1 == _CYLINDER_BITS:
                continue  # an empty cylinder says nothing
            if INDEX_HASHES == 1:
                m2 = 0
            h = (np.uint64(m1) * np.uint64(_CYLINDER_BITS) + np.uint64(m2)) * np.uint64(2654435761)
            bucket = int((h >> np.uint64(13)) & np.uint64((1 << INDEX_BUCKET_BITS) - 1))
            word = t * TABLE_WORDS + (bucket >> 6)
            code[word] |= np.uint64(1) << np.uint64(bucket & 63)
    return code


def index_code(prepared: Prepared) -> np.ndarray:
    """The screen's code of a prepared template (``CODE_WORDS`` uint64 words)."""
    return _index_code(prepared.bits, _PERMUTATIONS)


@numba.njit(cache=True, nogil=True)
def _code_size(code: np.ndarray) -> float:
    total = 0
    for w in range(code.shape[0]):
        total += int(_popcount(code[w]))
    return float(total)


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
    """Screen scores of every entry (-1 for entries of another finger position or removed)."""
    n = codes.shape[0]
    for e in numba.prange(n):
        if not alive[e] or (finger != 0 and fingers[e] != finger) or sizes[e] == 0:
            out[e] = -1.0
            continue
        shared = 0
        for w in range(CODE_WORDS):
            shared += int(_popcount(codes[e, w] & probe[w]))
        # Shared buckets over the candidate's own: chance collisions grow with the candidate's
        # size (a template with many minutiae fills more buckets), so this is the observed
        # over the expected count, up to the probe's constant. Dividing by the geometric mean
        # of both sizes instead ranked FVC2002 mates among 200,000 generated templates within
        # the first 2% for 86% of probes; this does so for 96%.
        out[e] = shared / sizes[e]


CODE_BITS = CODE_WORDS * 64
# Below these sizes work stays on the calling thread (see _compare_entries): the full
# comparisons of a shortlist, and the screen's counting (in words of 64 templates).
PARALLEL_COMPARISONS = 64
PARALLEL_WORDS = 1024
# Entries enrolled after a segment's transposed codes were built are screened word by word
# until they number more than this (or an eighth of those transposed); then they are rebuilt.
INDEX_TAIL_MAX = 512


@numba.njit(cache=True, nogil=True)
def _transpose_codes(codes: np.ndarray, members: np.ndarray) -> np.ndarray:
    """The codes of entries ``members`` bucket by bucket: bit ``j`` of row ``k`` is set when
    the code of ``members[j]`` sets bit ``k``."""
    m = members.shape[0]
    out = np.zeros((CODE_BITS, (m + 63) // 64), dtype=np.uint64)
    for j in range(m):
        e = members[j]
        word = j >> 6
        bit = np.uint64(1) << np.uint64(j & 63)
        for w in range(CODE_WORDS):
            v = codes[e, w]
            while v != 0:
                out[w * 64 + int(_cttz(v)), word] |= bit
                v &= v - np.uint64(1)
    return out


@numba.njit(cache=True, nogil=True)
def _probe_rows(probe: np.ndarray) -> np.ndarray:
    """The bits a probe's code sets (its buckets), ascending."""
    rows = np.empty(CODE_BITS, dtype=np.int64)
    n = 0
    for w in range(CODE_WORDS):
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
    """``out[members[j]]``: :func:`_screen`'s score of member ``j`` from its shared count."""
    for j in range(members.shape[0]):
        e = members[j]
        if not alive[e] or sizes[e] == 0:
            out[e] = -1.0
        else:
            out[e] = shared[j] / sizes[e]


@numba.njit(cache=True, nogil=True)
def _best_by_row(out: np.ndarray, entry_subject: np.ndarray, best: np.ndarray) -> None:
    """``best[row]``: the highest screen score among the row's entries (kept if higher)."""
    for e in range(out.shape[0]):
        if out[e] > best[entry_subject[e]]:
            best[entry_subject[e]] = out[e]


@dataclass(frozen=True)
class _Transposed:
    """A segment's first ``entries`` index codes, transposed by finger position."""

    entries: int
    members: dict[int, np.ndarray]  # finger position -> its entries, ascending
    codes: dict[int, np.ndarray]  # finger position -> transposed codes of those entries


@dataclass(frozen=True)
class Candidate:
    """A subject the search proposes, best first; ``finger_scores`` by probe finger position."""

    subject_id: str
    score: float
    finger_scores: dict[int, float] = field(default_factory=dict)


def threshold_for_fpir(target_fpir: float, impostor_scores: Sequence[float] | np.ndarray) -> float:
    """The lowest decision threshold whose false positive identification rate is <= target.

    ``impostor_scores`` are the top scores of searches whose subject is not enrolled; a search
    is a false positive when its top score reaches the threshold (``score >= threshold``).
    """
    scores = np.sort(np.asarray(impostor_scores, dtype=np.float64))[::-1]
    if not 0.0 <= target_fpir <= 1.0:
        raise InputError("target_fpir", f"must be within [0, 1], got {target_fpir}")
    if scores.size == 0:
        raise InputError("impostor_scores", "no impostor scores to set a threshold from")
    allowed = int(math.floor(target_fpir * scores.size + 1e-9))  # false positives allowed
    if allowed >= scores.size:
        return float(scores[-1])
    # Strictly above the (allowed+1)-th highest score: at most ``allowed`` scores reach it.
    return float(np.nextafter(scores[allowed], np.inf))


class _Columns:
    """The gallery's arrays for one segment: read-only memory maps or growable buffers."""

    def __init__(self, arrays: dict[str, np.ndarray], growable: bool) -> None:
        self.arrays = arrays
        self.growable = growable
        self.entries = int(arrays["entry_subject"].shape[0])
        self.cylinders = int(arrays["x"].shape[0])

    @classmethod
    def empty(cls) -> _Columns:
        arrays = {
            name: np.zeros((0 if name != "offsets" else 1, *shape), dtype=dtype)
            for name, dtype, shape in _ARRAYS
        }
        return cls(arrays, growable=True)

    def view(self, name: str) -> np.ndarray:
        n = self.entries + (1 if name == "offsets" else 0)
        if name in ("x", "y", "theta", "bits", "masks"):
            n = self.cylinders
        return np.asarray(self.arrays[name][:n])  # plain ndarray (numba takes no memmap)

    def _reserve(self, name: str, needed: int) -> None:
        array = self.arrays[name]
        if array.shape[0] >= needed:
            return
        grown = np.zeros((max(needed, 2 * array.shape[0], 16), *array.shape[1:]), array.dtype)
        grown[: array.shape[0]] = array
        self.arrays[name] = grown

    def append(self, subject_row: int, finger: int, prepared: Prepared, code: np.ndarray) -> int:
        """Add one template; returns its entry number."""
        assert self.growable
        e, c, k = self.entries, self.cylinders, len(prepared)
        for name in ("entry_subject", "entry_finger", "alive", "codes", "code_sizes"):
            self._reserve(name, e + 1)
        self._reserve("offsets", e + 2)
        for name in ("x", "y", "theta", "bits", "masks"):
            self._reserve(name, c + k)
        a = self.arrays
        a["entry_subject"][e] = subject_row
        a["entry_finger"][e] = finger
        a["alive"][e] = True
        a["codes"][e] = code
        a["code_sizes"][e] = _code_size(code)
        a["x"][c : c + k] = prepared.x
        a["y"][c : c + k] = prepared.y
        a["theta"][c : c + k] = prepared.theta
        a["bits"][c : c + k] = prepared.bits
        a["masks"][c : c + k] = prepared.masks
        a["offsets"][e + 1] = c + k
        self.entries += 1
        self.cylinders += k
        return e

    def prepared(self, entry: int) -> Prepared:
        s, e = int(self.arrays["offsets"][entry]), int(self.arrays["offsets"][entry + 1])
        a = self.arrays
        return Prepared(
            x=a["x"][s:e],
            y=a["y"][s:e],
            theta=a["theta"][s:e],
            bits=a["bits"][s:e],
            masks=a["masks"][s:e],
            minutia_index=np.arange(e - s, dtype=np.int32),
        )


class _NpyWriter:
    """A ``.npy`` file written by appending rows; the header (shape) is filled in at the end."""

    HEADER = 128  # bytes reserved for the magic, version and header dict, padded

    def __init__(self, path: Path, dtype: type, trailing: tuple[int, ...]) -> None:
        self.path = path
        self.dtype = np.dtype(dtype)
        self.trailing = trailing
        self.rows = 0
        self.handle = open(path, "wb")  # noqa: SIM115 - closed in close()/abandon()
        self.handle.write(b"\0" * self.HEADER)

    def append(self, rows: np.ndarray) -> None:
        rows = np.ascontiguousarray(rows, dtype=self.dtype)
        self.handle.write(rows.tobytes())
        self.rows += rows.shape[0]

    def close(self) -> dict[str, object]:
        shape = (self.rows, *self.trailing)
        header = repr({"descr": self.dtype.str, "fortran_order": False, "shape": shape})
        text = header.encode("latin1")
        text += b" " * (self.HEADER - 10 - len(text) - 1) + b"\n"
        self.handle.seek(0)
        self.handle.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text)
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        return {"shape": list(shape), "bytes": self.path.stat().st_size}

    def abandon(self) -> None:
        self.handle.close()


class Gallery:
    """Enrolled subjects, their prepared finger templates, and 1:N search over them."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.generation = 0
        self.threshold: float | None = None
        self._subjects: list[str] = []  # by row
        self._rows: dict[str, int] = {}
        self._entries: dict[int, list[tuple[int, int]]] = {}  # row -> (segment, entry)
        self._segments: list[_Columns] = [_Columns.empty()]  # [base?, delta]
        # Each segment's index codes transposed, built by the first search that needs them.
        # Entries are only ever appended and removal only clears ``alive`` (read at search
        # time), so they stay true for the entries they cover.
        self._transposed: dict[int, _Transposed] = {}

    # --- creating and opening ---------------------------------------------------------------

    @classmethod
    def create(cls, path: str | os.PathLike[str]) -> Gallery:
        """A new, empty gallery in directory ``path`` (which must not hold a gallery yet)."""
        directory = Path(path)
        if (directory / "manifest.json").exists():
            raise GalleryError(str(directory), "a gallery already exists here")
        directory.mkdir(parents=True, exist_ok=True)
        gallery = cls(directory)
        gallery._write_generation(0, [], _Columns.empty())
        return gallery

    @classmethod
    def in_memory(cls) -> Gallery:
        """A gallery that lives only in memory (tests, synthetic runs)."""
        return cls(None)

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Gallery:
        """Open a gallery: the arrays are memory-mapped, then the journal is replayed."""
        directory = Path(path)
        manifest_path = directory / "manifest.json"
        try:
            manifest = json.loads(manifest_path.read_text())
        except FileNotFoundError:
            raise GalleryError(
                str(manifest_path), "no gallery here (manifest.json missing)"
            ) from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise GalleryError(str(manifest_path), f"unreadable manifest: {exc}") from None
        if manifest.get("format") != FORMAT or manifest.get("version") != FORMAT_VERSION:
            raise GalleryError(str(manifest_path), "not a scomm gallery of a known version")
        if manifest.get("matcher_version") != matcher.VERSION:
            raise GalleryError(
                str(manifest_path),
                f"built by matcher version {manifest.get('matcher_version')}, this is "
                f"{matcher.VERSION}: re-enrol the subjects",
            )
        if manifest.get("index") != INDEX_PARAMETERS:
            raise GalleryError(
                str(manifest_path),
                f"index codes {manifest.get('index')} differ from this version's "
                f"{INDEX_PARAMETERS}: re-enrol the subjects",
            )
        gallery = cls(directory)
        gallery.generation = int(manifest["generation"])
        gallery.threshold = manifest.get("threshold")
        gen_dir = directory / f"gen-{gallery.generation}"
        arrays: dict[str, np.ndarray] = {}
        for name, dtype, _shape in _ARRAYS:
            file = gen_dir / f"{name}.npy"
            expected = manifest["files"].get(name)
            try:
                array = np.load(file, mmap_mode="r")
            except FileNotFoundError:
                raise GalleryError(str(file), "missing") from None
            except (ValueError, OSError) as exc:
                raise GalleryError(str(file), f"cut short or corrupt: {exc}") from None
            if (
                expected is None
                or list(array.shape) != expected["shape"]
                or array.dtype != np.dtype(dtype)
                or file.stat().st_size != expected["bytes"]
            ):
                raise GalleryError(str(file), f"does not match the manifest ({expected})")
            arrays[name] = array
        subjects_file = gen_dir / "subjects.json"
        try:
            subjects = json.loads(subjects_file.read_text())
        except (OSError, ValueError) as exc:
            raise GalleryError(str(subjects_file), f"unreadable: {exc}") from None
        base = _Columns(arrays, growable=False)
        base.arrays["alive"] = np.array(arrays["alive"])  # removals flip it in memory
        if (
            int(arrays["offsets"][-1]) != base.cylinders
            or len(subjects) != manifest["subjects"]
            or (base.entries and int(arrays["entry_subject"].max()) >= len(subjects))
        ):
            raise GalleryError(str(gen_dir), "arrays inconsistent with each other")
        gallery._segments = [base, _Columns.empty()]
        for row, subject in enumerate(subjects):
            if subject is not None:
                gallery._rows[subject] = row
                gallery._entries[row] = []
            gallery._subjects.append(subject)
        for e in range(base.entries):
            row = int(arrays["entry_subject"][e])
            if base.arrays["alive"][e] and row in gallery._entries:
                gallery._entries[row].append((0, e))
        gallery._replay_journal()
        return gallery

    @classmethod
    def build(
        cls,
        path: str | os.PathLike[str],
        subjects: Iterable[tuple[str, Mapping[int, Template]]],
        *,
        workers: int | None = None,
        chunk: int = 2048,
    ) -> Gallery:
        """Create a gallery from many subjects at once, streaming them to disk.

        For initial loads (a criminal master file, a synthetic population): templates are
        prepared on ``workers`` threads (numba releases the GIL) and written chunk by chunk,
        so memory stays flat however large the gallery. Nothing is left behind on error.
        """
        from concurrent.futures import ThreadPoolExecutor

        directory = Path(path)
        if (directory / "manifest.json").exists():
            raise GalleryError(str(directory), "a gallery already exists here")
        directory.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=directory, prefix=".gen-0."))
        writers = {
            name: _NpyWriter(staging / f"{name}.npy", dtype, shape)
            for name, dtype, shape in _ARRAYS
        }
        ids: list[str] = []
        seen: set[str] = set()
        counts = {"entries": 0, "cylinders": 0}
        writers["offsets"].append(np.zeros(1, np.int64))

        def prepare_one(item: tuple[str, Mapping[int, Template]]) -> tuple[str, list]:
            subject_id, fingers = item
            if not fingers:
                raise InputError(subject_id, "no fingers to enrol")
            out = []
            for position, template in sorted(fingers.items()):
                if position not in FINGER_POSITIONS:
                    raise InputError(subject_id, f"finger position must be 1-10, got {position}")
                p = matcher.prepare(template)
                out.append((int(position), p, index_code(p)))
            return subject_id, out

        def flush(done: list[tuple[str, list]]) -> None:
            columns = _Columns.empty()
            for subject_id, fingers in done:
                if not isinstance(subject_id, str) or not subject_id or subject_id in seen:
                    raise GalleryError(str(subject_id), "subject id empty or enrolled twice")
                seen.add(subject_id)
                ids.append(subject_id)
                for position, p, code in fingers:
                    columns.append(len(ids) - 1, position, p, code)
            for name, _dtype, _shape in _ARRAYS:
                part = columns.view(name)
                if name == "offsets":
                    part = part[1:] + counts["cylinders"]
                writers[name].append(part)
            counts["entries"] += columns.entries
            counts["cylinders"] += columns.cylinders

        try:
            with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
                batch: list[tuple[str, Mapping[int, Template]]] = []
                for item in subjects:
                    batch.append(item)
                    if len(batch) >= chunk:
                        flush(list(pool.map(prepare_one, batch)))
                        batch = []
                if batch:
                    flush(list(pool.map(prepare_one, batch)))
            files: dict[str, dict[str, object]] = {}
            for name, writer in writers.items():
                files[name] = writer.close()
            (staging / "subjects.json").write_text(json.dumps(ids))
            os.replace(staging, directory / "gen-0")
        except BaseException:
            for writer in writers.values():
                writer.abandon()
            shutil.rmtree(staging, ignore_errors=True)
            raise
        manifest = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "matcher_version": matcher.VERSION,
            "index": INDEX_PARAMETERS,
            "generation": 0,
            "subjects": len(ids),
            "templates": counts["entries"],
            "cylinders": counts["cylinders"],
            "threshold": None,
            "files": files,
        }
        write_bytes_atomic(
            directory / "manifest.json", json.dumps(manifest, indent=1).encode(), durable=True
        )
        return cls.open(directory)

    # --- enrolment and removal ---------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, subject_id: object) -> bool:
        return subject_id in self._rows

    @property
    def template_count(self) -> int:
        return sum(len(v) for v in self._entries.values())

    def subjects(self) -> list[str]:
        return list(self._rows)

    def fingers_of(self, subject_id: str) -> list[int]:
        """Finger positions enrolled for a subject."""
        row = self._row(subject_id)
        return [int(self._segments[s].arrays["entry_finger"][e]) for s, e in self._entries[row]]

    def enroll(self, subject_id: str, fingers: Mapping[int, Template]) -> None:
        """Enrol a new subject with up to ten fingers keyed by position 1-10."""
        self.enroll_many([(subject_id, fingers)])

    def enroll_many(self, subjects: Iterable[tuple[str, Mapping[int, Template]]]) -> None:
        """Enrol several subjects with one journal write (all of them, or none on error)."""
        batch: list[tuple[str, list[tuple[int, Prepared, np.ndarray]]]] = []
        seen: set[str] = set()
        for subject_id, fingers in subjects:
            self._check_new(subject_id, fingers, seen)
            prepared = []
            for position, template in sorted(fingers.items()):
                p = matcher.prepare(template)
                prepared.append((int(position), p, index_code(p)))
            batch.append((subject_id, prepared))
        self._enroll_batch(batch)

    def enroll_prepared(
        self, subjects: Iterable[tuple[str, Mapping[int, tuple[Prepared, np.ndarray]]]]
    ) -> None:
        """:meth:`enroll_many` for fingers already prepared by :func:`prepare_probe` (cylinders
        and index code), so that prints enrolled in several galleries are prepared once."""
        batch: list[tuple[str, list[tuple[int, Prepared, np.ndarray]]]] = []
        seen: set[str] = set()
        for subject_id, fingers in subjects:
            self._check_new(subject_id, fingers, seen)
            batch.append((subject_id, [(int(f), p, c) for f, (p, c) in sorted(fingers.items())]))
        self._enroll_batch(batch)

    def _check_new(self, subject_id: object, fingers: Mapping[int, object], seen: set[str]) -> None:
        if not isinstance(subject_id, str) or not subject_id or len(subject_id) > 256:
            raise InputError("subject_id", f"must be a non-empty string, got {subject_id!r}")
        if subject_id in self._rows or subject_id in seen:
            raise GalleryError(subject_id, "already enrolled (remove it first)")
        seen.add(subject_id)
        if not fingers:
            raise InputError(subject_id, "no fingers to enrol")
        for position in fingers:
            if position not in FINGER_POSITIONS:
                raise InputError(subject_id, f"finger position must be 1-10, got {position}")

    def _enroll_batch(
        self, batch: list[tuple[str, list[tuple[int, Prepared, np.ndarray]]]]
    ) -> None:
        if not batch:
            return
        payload = b"".join(_encode_enrolment(s, fingers) for s, fingers in batch)
        self._append_journal(b"E", payload)
        for subject_id, prepared in batch:
            self._apply_enrolment(subject_id, prepared)

    def remove(self, subject_id: str) -> None:
        """Remove a subject and all its fingers."""
        self._row(subject_id)
        self._append_journal(b"R", subject_id.encode())
        self._apply_removal(subject_id)

    def _row(self, subject_id: str) -> int:
        try:
            return self._rows[subject_id]
        except KeyError:
            raise GalleryError(subject_id, "no such subject in the gallery") from None

    def _apply_enrolment(
        self, subject_id: str, prepared: list[tuple[int, Prepared, np.ndarray]]
    ) -> None:
        row = len(self._subjects)
        self._subjects.append(subject_id)
        self._rows[subject_id] = row
        delta = len(self._segments) - 1
        self._entries[row] = [
            (delta, self._segments[delta].append(row, position, p, code))
            for position, p, code in prepared
        ]

    def _apply_removal(self, subject_id: str) -> None:
        row = self._rows.pop(subject_id)
        for s, e in self._entries.pop(row):
            self._segments[s].arrays["alive"][e] = False
        self._subjects[row] = None  # type: ignore[call-overload]

    # --- the journal ---------------------------------------------------------------------------

    def _journal_path(self) -> Path | None:
        return None if self.path is None else self.path / f"journal-{self.generation}.bin"

    def _append_journal(self, kind: bytes, payload: bytes) -> None:
        path = self._journal_path()
        if path is None:
            return
        record = _RECORD_HEAD.pack(_JOURNAL_MAGIC, kind, len(payload), zlib.crc32(payload))
        with open(path, "ab") as handle:
            start = handle.tell()
            try:
                handle.write(record + payload)
                handle.flush()
                os.fsync(handle.fileno())
            except BaseException:
                handle.truncate(start)  # leave no half-written record behind
                raise

    def _replay_journal(self) -> None:
        path = self._journal_path()
        assert path is not None
        if not path.exists():
            return
        data = path.read_bytes()
        pos = 0
        while pos < len(data):
            if len(data) - pos < _RECORD_HEAD.size:
                raise GalleryError(str(path), f"cut short at byte {pos} (partial record header)")
            magic, kind, length, crc = _RECORD_HEAD.unpack_from(data, pos)
            payload = data[pos + _RECORD_HEAD.size : pos + _RECORD_HEAD.size + length]
            if magic != _JOURNAL_MAGIC:
                raise GalleryError(str(path), f"corrupt record at byte {pos}")
            if len(payload) != length:
                raise GalleryError(str(path), f"cut short at byte {pos} (partial record)")
            if zlib.crc32(payload) != crc:
                raise GalleryError(str(path), f"record at byte {pos} fails its CRC")
            if kind == b"E":
                for subject_id, prepared in _decode_enrolments(payload, str(path)):
                    self._apply_enrolment(subject_id, prepared)
            elif kind == b"R":
                subject_id = payload.decode()
                if subject_id not in self._rows:
                    raise GalleryError(str(path), f"removes {subject_id!r}, never enrolled")
                self._apply_removal(subject_id)
            else:
                raise GalleryError(str(path), f"unknown record kind {kind!r} at byte {pos}")
            pos += _RECORD_HEAD.size + length

    # --- generations -----------------------------------------------------------------------------

    def _merged(self) -> tuple[list[str], _Columns]:
        """The live subjects (by new row) and their templates in one segment."""
        merged = _Columns.empty()
        rows: list[str] = []
        for subject_id, row in self._rows.items():
            new_row = len(rows)
            rows.append(subject_id)
            for s, e in self._entries[row]:
                segment = self._segments[s]
                merged.append(
                    new_row,
                    int(segment.arrays["entry_finger"][e]),
                    segment.prepared(e),
                    np.asarray(segment.arrays["codes"][e]),
                )
        return rows, merged

    def compact(self) -> None:
        """Fold the journal and removals into a new generation of arrays (atomic switch)."""
        if self.path is None:
            return
        rows, merged = self._merged()
        old = self.generation
        self._write_generation(old + 1, rows, merged)
        shutil.rmtree(self.path / f"gen-{old}", ignore_errors=True)
        (self.path / f"journal-{old}.bin").unlink(missing_ok=True)
        reopened = Gallery.open(self.path)
        self.__dict__.update(reopened.__dict__)

    def save_copy(self, path: str | os.PathLike[str]) -> Gallery:
        """Write the live subjects (of an in-memory or on-disk gallery) as a new gallery in
        directory ``path`` (which must not hold a gallery yet), compacted, with this gallery's
        threshold; the copy, opened. Nothing is left in ``path`` on error."""
        directory = Path(path)
        if (directory / "manifest.json").exists():
            raise GalleryError(str(directory), "a gallery already exists here")
        created = not directory.exists()
        directory.mkdir(parents=True, exist_ok=True)
        copy = Gallery(directory)
        copy.threshold = self.threshold
        rows, merged = self._merged()
        try:
            copy._write_generation(0, rows, merged)
        except BaseException:
            shutil.rmtree(directory / "gen-0", ignore_errors=True)
            if created:
                shutil.rmtree(directory, ignore_errors=True)
            raise
        return Gallery.open(directory)

    def set_threshold(self, threshold: float | None) -> None:
        """Store the decision threshold (e.g. from :func:`threshold_for_fpir`)."""
        self.threshold = None if threshold is None else float(threshold)
        if self.path is not None:
            manifest = json.loads((self.path / "manifest.json").read_text())
            manifest["threshold"] = self.threshold
            write_bytes_atomic(
                self.path / "manifest.json", json.dumps(manifest, indent=1).encode(), durable=True
            )

    def _write_generation(self, generation: int, subjects: list[str], columns: _Columns) -> None:
        assert self.path is not None
        final = self.path / f"gen-{generation}"
        staging = Path(tempfile.mkdtemp(dir=self.path, prefix=f".gen-{generation}."))
        files: dict[str, dict[str, object]] = {}
        try:
            for name, _dtype, _shape in _ARRAYS:
                array = np.ascontiguousarray(columns.view(name))
                np.save(staging / f"{name}.npy", array)
                files[name] = {
                    "shape": list(array.shape),
                    "bytes": (staging / f"{name}.npy").stat().st_size,
                }
            (staging / "subjects.json").write_text(json.dumps(subjects))
            if final.exists():
                shutil.rmtree(final)
            os.replace(staging, final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        manifest = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "matcher_version": matcher.VERSION,
            "index": INDEX_PARAMETERS,
            "generation": generation,
            "subjects": len(subjects),
            "templates": columns.entries,
            "cylinders": columns.cylinders,
            "threshold": self.threshold,
            "files": files,
        }
        write_bytes_atomic(
            self.path / "manifest.json", json.dumps(manifest, indent=1).encode(), durable=True
        )
        self.generation = generation

    # --- search ----------------------------------------------------------------------------------

    def search(
        self,
        probe: Mapping[int, Template],
        max_candidates: int = 10,
        threshold: float | None = None,
        *,
        screen_fingers: int = SCREEN_FINGERS,
        shortlist: int = SHORTLIST_MIN,
        shortlist_rate: float = SHORTLIST_RATE,
        fuse_subjects: int = FUSE_SUBJECTS,
        fuse_floor: float = 0.0,
        shortlist_subjects: int | None = None,
    ) -> list[Candidate]:
        """Ranked candidates for a probe of one to ten fingers (position 0: unknown position).

        Only candidates scoring at least ``threshold`` are returned when it is given.
        ``screen_fingers`` of the probe's fingers (those with most cylinders) are screened;
        each keeps ``shortlist`` templates (or ``shortlist_rate`` of those screened if more) for
        full comparison; ``fuse_subjects`` subjects get all their fingers compared, of those
        whose best screened finger scored at least ``fuse_floor``.

        With ``shortlist_subjects`` the shortlist is one of subjects instead: each subject's
        screen scores are summed over the screened fingers (its best entry for each), and
        that many subjects, the best, get every screened finger fully compared. A mate
        usually screens well on several fingers and a stranger on one at most, so a short
        shortlist of subjects keeps the mate as often as a longer one per finger.
        """
        return self.search_prepared(
            _prepare_probe(probe),
            max_candidates,
            threshold,
            screen_fingers=screen_fingers,
            shortlist=shortlist,
            shortlist_rate=shortlist_rate,
            fuse_subjects=fuse_subjects,
            fuse_floor=fuse_floor,
            shortlist_subjects=shortlist_subjects,
        )

    def search_prepared(
        self,
        probe: dict[int, tuple[Prepared, np.ndarray]],
        max_candidates: int = 10,
        threshold: float | None = None,
        *,
        screen_fingers: int = SCREEN_FINGERS,
        shortlist: int = SHORTLIST_MIN,
        shortlist_rate: float = SHORTLIST_RATE,
        fuse_subjects: int = FUSE_SUBJECTS,
        fuse_floor: float = 0.0,
        shortlist_subjects: int | None = None,
    ) -> list[Candidate]:
        """:meth:`search` for a probe already prepared with :func:`prepare_probe`."""
        if max_candidates < 1:
            raise InputError("max_candidates", f"must be at least 1, got {max_candidates}")
        if shortlist_subjects is not None and shortlist_subjects < 1:
            raise InputError("shortlist_subjects", f"must be at least 1, got {shortlist_subjects}")
        if not self._rows:
            return []
        # Stage 1 and 2: screen the probe's best fingers, fully compare their shortlists.
        order = sorted(probe, key=lambda pos: -len(probe[pos][0]))
        screened = order[: max(1, screen_fingers)]
        scores: dict[tuple[int, int], float] = {}  # (row, probe position) -> best score
        rows_best: dict[int, float] = {}
        if shortlist_subjects is None:
            matched = []
            for position in screened:
                prepared, code = probe[position]
                found = self._screen_and_match(position, prepared, code, shortlist, shortlist_rate)
                matched.append((position, found))
        else:
            matched = self._screen_subjects_and_match(probe, screened, shortlist_subjects)
        for position, found in matched:
            for row, score in found:
                key = (row, position)
                if score > scores.get(key, -1.0):
                    scores[key] = score
                rows_best[row] = max(rows_best.get(row, 0.0), score)
        # Stage 3: fuse every probe finger for the best subjects.
        keep = max(fuse_subjects, max_candidates)
        ranked = sorted(rows_best, key=lambda r: -rows_best[r])[:keep]
        finalists = [r for r in ranked if rows_best[r] >= fuse_floor]
        candidates = []
        for row in finalists:
            finger_scores: dict[int, float] = {}
            for position, (prepared, _code) in probe.items():
                if (row, position) in scores:
                    finger_scores[position] = scores[(row, position)]
                    continue
                finger_scores[position] = self._compare_subject(row, position, prepared)
            fused = float(sum(finger_scores.values()) / len(probe))
            candidates.append(Candidate(self._subjects[row], fused, finger_scores))
        candidates.sort(key=lambda c: (-c.score, c.subject_id))
        if threshold is not None:
            candidates = [c for c in candidates if c.score >= threshold]
        return candidates[:max_candidates]

    def _screen_and_match(
        self, position: int, prepared: Prepared, code: np.ndarray, shortlist: int, rate: float
    ) -> list[tuple[int, float]]:
        size = _code_size(code)
        if size == 0 or len(prepared) == 0:
            return []
        shortlists: list[tuple[np.ndarray, np.ndarray, int]] = []  # screen scores, entries, seg
        total = 0
        for s, segment in enumerate(self._segments):
            if segment.entries == 0:
                continue
            out = self._screen_segment(s, segment, code, position)
            total += int(np.count_nonzero(out >= 0))
            shortlists.append((out, np.arange(segment.entries), s))
        keep = shortlist_size(total, rate, shortlist)
        all_scores = np.concatenate([sl[0] for sl in shortlists])
        seg_of = np.concatenate([np.full(sl[0].shape[0], sl[2]) for sl in shortlists])
        entry_of = np.concatenate([sl[1] for sl in shortlists])
        if all_scores.shape[0] > keep:
            top = np.argpartition(-all_scores, keep - 1)[:keep]
        else:
            top = np.arange(all_scores.shape[0])
        top = top[all_scores[top] >= 0]
        results: list[tuple[int, float]] = []
        for s in np.unique(seg_of[top]):
            chosen = entry_of[top[seg_of[top] == s]]
            segment = self._segments[int(s)]
            mcc = _compare_entries(prepared, segment, chosen)
            rows = segment.view("entry_subject")[chosen]
            results.extend(zip(rows.tolist(), mcc.tolist(), strict=True))
        return results

    def _screen_subjects_and_match(
        self,
        probe: dict[int, tuple[Prepared, np.ndarray]],
        screened: list[int],
        keep: int,
    ) -> list[tuple[int, list[tuple[int, float]]]]:
        """Stages 1 and 2 with a shortlist of subjects: the ``keep`` subjects whose screen
        scores summed over the ``screened`` fingers are highest, each of those fingers fully
        compared with the subject's template(s) of that position."""
        rows = len(self._subjects)
        total = np.zeros(rows, dtype=np.float64)
        seen = np.zeros(rows, dtype=np.bool_)
        searched = []
        for position in screened:
            prepared, code = probe[position]
            if _code_size(code) == 0 or len(prepared) == 0:
                continue
            searched.append(position)
            best = np.full(rows, -1.0, dtype=np.float64)
            for s, segment in enumerate(self._segments):
                if segment.entries:
                    out = self._screen_segment(s, segment, code, position)
                    _best_by_row(out, segment.view("entry_subject"), best)
            seen |= best >= 0
            total += np.maximum(best, 0.0)
        candidates = np.flatnonzero(seen)
        if candidates.shape[0] > keep:
            top = np.argpartition(-total[candidates], keep - 1)[:keep]
            candidates = np.sort(candidates[top])
        matched = []
        for position in searched:
            prepared = probe[position][0]
            by_segment: dict[int, list[int]] = {}
            for row in candidates.tolist():
                for s, e in self._entries[row]:
                    segment = self._segments[s]
                    if position == UNKNOWN_FINGER or segment.arrays["entry_finger"][e] == position:
                        by_segment.setdefault(s, []).append(e)
            found: list[tuple[int, float]] = []
            for s, entries in by_segment.items():
                segment = self._segments[s]
                chosen = np.array(entries, dtype=np.int64)
                mcc = _compare_entries(prepared, segment, chosen)
                found.extend(
                    zip(segment.view("entry_subject")[chosen].tolist(), mcc.tolist(), strict=True)
                )
            matched.append((position, found))
        return matched

    def _screen_segment(
        self, s: int, segment: _Columns, code: np.ndarray, position: int
    ) -> np.ndarray:
        """Screen scores of every entry of segment ``s`` (-1: another position or removed):
        :func:`_screen`'s, counted from the transposed codes."""
        index = self._transposed.get(s)
        tail = segment.entries - (index.entries if index is not None else 0)
        if index is None or tail > max(INDEX_TAIL_MAX, index.entries // 8):
            index = self._transposed[s] = _transpose_segment(segment)
        sizes = segment.view("code_sizes")
        alive = segment.view("alive")
        out = np.full(segment.entries, -1.0, dtype=np.float32)
        positions = list(index.members) if position == UNKNOWN_FINGER else [position]
        for p in positions:
            members = index.members.get(p)
            if members is None:
                continue
            codes = index.codes[p]
            count = _count_shared_parallel if codes.shape[1] >= PARALLEL_WORDS else _count_shared
            shared = count(codes, code, members.shape[0])
            _scores_of(shared, members, sizes, alive, out)
        n = index.entries
        if n < segment.entries:  # enrolled since the codes were transposed
            fingers = segment.view("entry_finger")
            codes = segment.view("codes")
            _screen(codes[n:], sizes[n:], fingers[n:], alive[n:], code, position, out[n:])
        return out

    def verify(
        self, probe: dict[int, tuple[Prepared, np.ndarray]], subject_ids: Sequence[str]
    ) -> np.ndarray:
        """Fused scores of a prepared probe against the given subjects, no screen (1:1).

        The fusion is the search's: the mean over the probe's fingers of each finger's full
        comparison with the subject's template of that position (0 where it has none).
        """
        rows = [self._row(s) for s in subject_ids]
        total = np.zeros(len(rows), dtype=np.float64)
        for position, (prepared, _code) in probe.items():
            by_segment: dict[int, tuple[list[int], list[int]]] = {}  # entries, their subjects
            for i, row in enumerate(rows):
                for s, e in self._entries[row]:
                    segment = self._segments[s]
                    if position == UNKNOWN_FINGER or segment.arrays["entry_finger"][e] == position:
                        entries, which = by_segment.setdefault(s, ([], []))
                        entries.append(e)
                        which.append(i)
            best = np.zeros(len(rows), dtype=np.float64)
            for s, (entries, which) in by_segment.items():
                segment = self._segments[s]
                scores = _compare_entries(prepared, segment, np.array(entries, dtype=np.int64))
                np.maximum.at(best, np.array(which, dtype=np.int64), scores)
            total += best
        return total / max(len(probe), 1)

    def _compare_subject(self, row: int, position: int, prepared: Prepared) -> float:
        best = 0.0
        for s, e in self._entries[row]:
            segment = self._segments[s]
            if position != UNKNOWN_FINGER and int(segment.arrays["entry_finger"][e]) != position:
                continue
            best = max(best, matcher.compare(prepared, segment.prepared(e)))
        return best


def _compare_entries(prepared: Prepared, segment: _Columns, entries: np.ndarray) -> np.ndarray:
    """Full comparisons of a probe finger with some of a segment's templates. A handful (a
    ten-print search's shortlist) are compared on this thread: a parallel region costs more
    than it saves for a few comparisons, and much more when another process holds the other
    cores (every thread of the region must be scheduled before it ends)."""
    return matcher.compare_many(
        prepared,
        segment.view("x"),
        segment.view("y"),
        segment.view("theta"),
        segment.view("bits"),
        segment.view("masks"),
        segment.view("offsets"),
        entries,
        parallel=entries.shape[0] >= PARALLEL_COMPARISONS,
    )


def _transpose_segment(segment: _Columns) -> _Transposed:
    fingers = segment.view("entry_finger")
    codes = segment.view("codes")
    members: dict[int, np.ndarray] = {}
    transposed: dict[int, np.ndarray] = {}
    for position in np.unique(fingers).tolist():
        members[position] = np.flatnonzero(fingers == position).astype(np.int64)
        transposed[position] = _transpose_codes(codes, members[position])
    return _Transposed(segment.entries, members, transposed)


def prepare_probe(probe: Mapping[int, Template]) -> dict[int, tuple[Prepared, np.ndarray]]:
    """Prepare a probe once (cylinders and index codes of each finger) for several searches."""
    return _prepare_probe(probe)


def _prepare_probe(probe: Mapping[int, Template]) -> dict[int, tuple[Prepared, np.ndarray]]:
    if not probe:
        raise InputError("probe", "no fingers to search")
    out = {}
    for position, template in probe.items():
        if position != UNKNOWN_FINGER and position not in FINGER_POSITIONS:
            raise InputError("probe", f"finger position must be 0-10, got {position}")
        p = matcher.prepare(template)
        out[int(position)] = (p, index_code(p))
    return out


# --- journal records ---------------------------------------------------------------------------


def _encode_enrolment(subject_id: str, fingers: list[tuple[int, Prepared, np.ndarray]]) -> bytes:
    sid = subject_id.encode()
    parts = [struct.pack(">H", len(sid)), sid, struct.pack(">B", len(fingers))]
    for position, p, code in fingers:
        parts.append(struct.pack(">BI", position, len(p)))
        for array in (p.x, p.y, p.theta, p.bits, p.masks, code):
            parts.append(
                np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()
            )
    payload = b"".join(parts)
    return struct.pack(">I", len(payload)) + payload


def _decode_enrolments(
    data: bytes, where: str
) -> list[tuple[str, list[tuple[int, Prepared, np.ndarray]]]]:
    out = []
    pos = 0
    try:
        while pos < len(data):
            (length,) = struct.unpack_from(">I", data, pos)
            pos += 4
            end = pos + length
            (n,) = struct.unpack_from(">H", data, pos)
            subject_id = data[pos + 2 : pos + 2 + n].decode()
            pos += 2 + n
            (count,) = struct.unpack_from(">B", data, pos)
            pos += 1
            fingers = []
            for _ in range(count):
                position, k = struct.unpack_from(">BI", data, pos)
                pos += 5
                arrays = []
                for dtype, shape in (
                    ("<f4", (k,)),
                    ("<f4", (k,)),
                    ("<f4", (k,)),
                    ("<u8", (k, CYLINDER_WORDS)),
                    ("<u8", (k, WORDS_PER_LAYER)),
                    ("<u8", (CODE_WORDS,)),
                ):
                    size = int(np.prod(shape)) * 4 if dtype == "<f4" else int(np.prod(shape)) * 8
                    arrays.append(
                        np.frombuffer(data, dtype, int(np.prod(shape)), pos).reshape(shape)
                    )
                    pos += size
                x, y, theta, bits, masks, code = (
                    np.array(a, dtype=a.dtype.newbyteorder("=")) for a in arrays
                )
                p = Prepared(x, y, theta, bits, masks, np.arange(k, dtype=np.int32))
                fingers.append((position, p, code))
            if pos != end:
                raise ValueError(f"record length {length} does not match its content")
            out.append((subject_id, fingers))
    except (struct.error, ValueError, UnicodeDecodeError) as exc:
        raise GalleryError(where, f"corrupt enrolment record: {exc}") from None
    return out


# --- several shards, several machines ------------------------------------------------------


def search_shards(
    paths: Sequence[str | os.PathLike[str]],
    probe: Mapping[int, Template],
    max_candidates: int = 10,
    address: str | None = None,
) -> list[Candidate]:
    """Search galleries split over several directories as Ray tasks and merge the candidates.

    ``address`` is a Ray cluster's address; without one Ray starts locally. Each shard must be
    reachable at its path from the node that runs its task (a shared file system).
    """
    try:
        import ray
    except ImportError:
        raise InputError("ray", "not installed: pip install 'scomm[ray]'") from None
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    task = ray.remote(_search_one_shard)
    futures = [task.remote(str(p), dict(probe), max_candidates) for p in paths]
    merged: list[Candidate] = [c for part in ray.get(futures) for c in part]
    merged.sort(key=lambda c: (-c.score, c.subject_id))
    return merged[:max_candidates]


def _search_one_shard(
    path: str, probe: Mapping[int, Template], max_candidates: int
) -> list[Candidate]:
    return Gallery.open(path).search(probe, max_candidates)
