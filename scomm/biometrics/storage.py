"""A gallery on disk: its arrays by generation and its manifest with checksums (the journal
on top of a generation: :mod:`scomm.biometrics.journal`).

Storage (a directory)::

    manifest.json           format, versions, generation, counts, decision threshold, and for
                            every file of the generation its shape, size and checksum; the
                            manifest's own checksum over the rest
    gen-<g>/*.npy           the arrays of generation g (memory-mapped on open: fast reopen)
    gen-<g>/subject_*.npy   subject ids by row (scomm.biometrics.subject_ids)
    journal-<g>.bin         enrolments and removals since generation g (append-only records,
                            each with its CRC-32); the manifest records how many records
                            and bytes of it are committed

Every file of a generation is checked against the manifest when the gallery is opened: the
``.npy`` header (dtype, shape), the size, and an XXH3-64 checksum of the whole file (about 8
GB/s on one core, so a gallery of 1,000,000 templates costs a few seconds more to open, and
a flipped bit in a memory-mapped array is found before anything is searched or enrolled on
top of it). Any mismatch is a :class:`~scomm.errors.GalleryError` naming the file.

"""

from __future__ import annotations

import ast
import json
import os
import shutil
import struct
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import xxhash
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from scomm.biometrics import byte_sparse, matcher, readahead, record_pages, subject_ids
from scomm.biometrics.matcher import CYLINDER_WORDS, MINUTIA_BYTES, WORDS_PER_LAYER, Prepared
from scomm.biometrics.screen import CODE_WORDS, INDEX_PARAMETERS, code_size, decode_codes
from scomm.biometrics.subject_ids import SubjectIds
from scomm.errors import GalleryError
from scomm.files import write_bytes_atomic

FORMAT = "scomm-gallery"
# 2: every file of a generation and the manifest itself carry a checksum.
# 3: the manifest records the journal's committed length (a version-2 manifest is read, its
# journal taken as it is, and becomes version 3 at its next write).
# 4: cylinders and index codes stored byte-sparse (scomm.biometrics.byte_sparse): 5 kB a template on
# disk instead of 14. A version-2 or -3 gallery is read only to be rewritten
# (scomm.biometrics.upgrade).
# 5: each template one record (its minutiae, then its cylinders: matcher.encode_template) in
# template_bytes, instead of runs in four files (x, y, theta, cylinder_bytes): a search reading
# its shortlist from disk reads 273 MiB a search at 10M instead of 603. A version-4 gallery is
# read only to be rewritten.
# 6: records laid out by page (scomm.biometrics.record_pages): one that fits in n pages of the
# file does not straddle n + 1, the bytes before the next page zero. A version-5 gallery is
# read as it is (the same records, unpadded: a search reads more pages) and laid out by page
# when it is upgraded or compacted.
FORMAT_VERSION = 6
_READABLE_VERSIONS = (2, 3, 4, 5, 6)
BYTE_SPARSE_FROM = 4
RECORDS_FROM = 5

# What one row of an array is: an entry (a template), a cylinder (one of its minutiae, each
# with its cylinder: no array has a row a cylinder since format 5, but ``offsets`` counts
# them), or a byte of its record or index code. An array of starts has a row more than there
# are entries: entry e's rows of the array it points into are starts[e] to starts[e + 1] - 1.
ENTRY, CYLINDER, TEMPLATE_BYTE, CODE_BYTE, STARTS = (
    "entry", "cylinder", "template byte", "code byte", "starts"
)  # fmt: skip
ARRAYS = (  # name, dtype, trailing shape, rows
    ("entry_subject", np.int32, (), ENTRY),
    ("entry_finger", np.uint8, (), ENTRY),
    ("offsets", np.int64, (), STARTS),  # an entry's cylinders: how many its record holds
    ("alive", np.bool_, (), ENTRY),
    ("code_starts", np.int64, (), STARTS),
    ("code_bytes", np.uint8, (), CODE_BYTE),
    ("code_sizes", np.float32, (), ENTRY),
    ("template_starts", np.int64, (), STARTS),
    ("template_bytes", np.uint8, (), TEMPLATE_BYTE),  # matcher.encode_template, one an entry
)
ROWS = {name: rows for name, _dtype, _shape, rows in ARRAYS}
# What a search reads only for its shortlist, at random (:mod:`scomm.biometrics.readahead`):
# each array with the array of starts that delimits a template's rows in it.
SHORTLIST_READS = (("template_bytes", "template_starts"),)
READ_AT_RANDOM = tuple(name for name, _starts in SHORTLIST_READS)
POINTS_INTO = {"offsets": CYLINDER, "code_starts": CODE_BYTE, "template_starts": TEMPLATE_BYTE}
# Templates a compaction, copy or upgrade holds in memory at a time (about 5 kB each, encoded;
# :class:`GenerationWriter` has the rest on disk already), so that a gallery larger than memory
# can still be rewritten.
MERGE_CHUNK = 65_536
_HASH_CHUNK = 16 << 20  # bytes read at a time when checking a file


# --- the manifest ------------------------------------------------------------------------------


class FileEntry(BaseModel):
    """What the manifest knows of one file of a generation."""

    model_config = ConfigDict(extra="forbid")
    shape: list[int] | None = None  # arrays only
    bytes: int
    xxh3_64: str


class JournalState(BaseModel):
    """The committed part of the generation's journal: its first ``bytes`` bytes, ``records``
    records."""

    model_config = ConfigDict(extra="forbid")
    bytes: int = Field(ge=0)
    records: int = Field(ge=0)


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: str
    version: int
    matcher_version: int
    index: dict[str, int]
    generation: int
    subjects: int
    templates: int
    cylinders: int
    threshold: float | None
    files: dict[str, FileEntry]
    journal: JournalState | None = None  # None: a version-2 manifest, journal unrecorded


def digest(data: bytes) -> str:
    return xxhash.xxh3_64_hexdigest(data)


def file_digest(path: Path) -> str:
    """XXH3-64 of a whole file, read in chunks (memory stays flat however large the file)."""
    hasher = xxhash.xxh3_64()
    with open(path, "rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest()


def _manifest_bytes(manifest: Manifest) -> bytes:
    body = manifest.model_dump(mode="json")
    return json.dumps({**body, "checksum": digest(_canonical(body))}, indent=1).encode()


def _canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def write_manifest(directory: Path, manifest: Manifest) -> None:
    write_bytes_atomic(directory / "manifest.json", _manifest_bytes(manifest), durable=True)


def read_manifest(directory: Path) -> Manifest:
    """The manifest of the gallery in ``directory``, checked (format, versions, checksum)."""
    path = directory / "manifest.json"
    try:
        raw = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise GalleryError(str(path), "no gallery here (manifest.json missing)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise GalleryError(str(path), f"unreadable manifest: {exc}") from None
    except OSError as exc:
        raise GalleryError(str(path), f"cannot read: {exc.strerror}") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise GalleryError(str(path), "not a scomm gallery manifest")
    if raw.get("version") not in _READABLE_VERSIONS:
        raise GalleryError(
            str(path),
            f"gallery format version {raw.get('version')!r}, this scomm reads "
            f"{', '.join(map(str, _READABLE_VERSIONS))}: rebuild the gallery (re-enrol the "
            "subjects)",
        )
    checksum = raw.pop("checksum", None)
    if checksum != digest(_canonical(raw)):
        raise GalleryError(str(path), "the manifest fails its checksum (changed or damaged)")
    try:
        manifest = Manifest.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise GalleryError(str(path), f"manifest field {where}: {first['msg']}") from None
    if manifest.version >= 3 and manifest.journal is None:
        raise GalleryError(str(path), "manifest field journal: missing")
    if manifest.matcher_version != matcher.VERSION:
        raise GalleryError(
            str(path),
            f"built by matcher version {manifest.matcher_version}, this is "
            f"{matcher.VERSION}: re-enrol the subjects",
        )
    if manifest.index != INDEX_PARAMETERS:
        raise GalleryError(
            str(path),
            f"index codes {manifest.index} differ from this version's "
            f"{INDEX_PARAMETERS}: re-enrol the subjects",
        )
    return manifest


# --- the arrays of a generation -------------------------------------------------------------------


class Columns:
    """The gallery's arrays for one segment: read-only memory maps or growable buffers.

    ``rows[kind]`` counts the rows of each kind in use (:data:`ARRAYS`); a growable buffer
    may hold more."""

    def __init__(self, arrays: dict[str, np.ndarray], growable: bool) -> None:
        self.arrays = arrays
        self.growable = growable
        self.entries = int(arrays["entry_subject"].shape[0])
        self.rows = {ENTRY: self.entries}
        for name, kind in POINTS_INTO.items():
            self.rows[kind] = int(arrays[name][self.entries]) if arrays[name].shape[0] else 0

    @property
    def cylinders(self) -> int:
        return self.rows[CYLINDER]

    @classmethod
    def empty(cls) -> Columns:
        arrays = {
            name: np.zeros((1 if rows == STARTS else 0, *shape), dtype=dtype)
            for name, dtype, shape, rows in ARRAYS
        }
        return cls(arrays, growable=True)

    def view(self, name: str) -> np.ndarray:
        rows = ROWS[name]
        n = self.entries + 1 if rows == STARTS else self.rows[rows]
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
        added = {
            ENTRY: 1,
            CYLINDER: len(prepared),
            CODE_BYTE: (encoded_code := byte_sparse.encode(code.reshape(1, -1))).shape[0],
            TEMPLATE_BYTE: (record := matcher.encode_template(prepared)).shape[0],
        }
        e = self.entries
        at = dict(self.rows)
        for name, _dtype, _shape, rows in ARRAYS:
            self._reserve(name, e + 2 if rows == STARTS else at[rows] + added[rows])
        a = self.arrays
        a["entry_subject"][e] = subject_row
        a["entry_finger"][e] = finger
        a["alive"][e] = True
        a["code_sizes"][e] = code_size(code)
        a["code_bytes"][at[CODE_BYTE] : at[CODE_BYTE] + added[CODE_BYTE]] = encoded_code
        a["template_bytes"][at[TEMPLATE_BYTE] : at[TEMPLATE_BYTE] + added[TEMPLATE_BYTE]] = record
        for name, kind in POINTS_INTO.items():
            self.rows[kind] += added[kind]
            a[name][e + 1] = self.rows[kind]
        self.entries += 1
        self.rows[ENTRY] = self.entries
        return e

    def prepared(self, entry: int) -> Prepared:
        a = self.arrays
        k = int(a["offsets"][entry + 1]) - int(a["offsets"][entry])
        lo, hi = int(a["template_starts"][entry]), int(a["template_starts"][entry + 1])
        return matcher.decode_template(a["template_bytes"][lo:hi], k)

    def code(self, entry: int) -> np.ndarray:
        """The index code of ``entry`` (``CODE_WORDS`` words)."""
        return decode_codes(self.view("code_bytes"), self.view("code_starts"), entry, entry + 1)[0]


class NpyWriter:
    """A ``.npy`` file written by appending rows; the header (shape) is filled in at the end."""

    HEADER = 128  # bytes reserved for the magic, version and header dict, padded

    def __init__(
        self, path: Path, dtype: type, trailing: tuple[int, ...], rows: int | None = None
    ) -> None:
        """A new file, or with ``rows`` the file of a stopped build taken up after its first
        ``rows`` rows (anything written after them is cut off)."""
        self.path = path
        self.dtype = np.dtype(dtype)
        self.trailing = trailing
        self.rows = rows or 0
        self.handle: BinaryIO
        if rows is None:
            self.handle = open(path, "wb")  # noqa: SIM115 - closed in close()/abandon()
            self.handle.write(b"\0" * self.HEADER)
            return
        size = self.HEADER + rows * self.dtype.itemsize * int(np.prod(trailing, dtype=np.int64))
        self.handle = open(path, "r+b")  # noqa: SIM115
        if os.fstat(self.handle.fileno()).st_size < size:
            self.handle.close()
            raise GalleryError(str(path), f"shorter than the {rows} rows its build recorded")
        self.handle.truncate(size)
        self.handle.seek(size)

    def sync(self) -> None:
        """Everything appended so far on disk."""
        self.handle.flush()
        os.fsync(self.handle.fileno())

    def append(self, rows: np.ndarray) -> None:
        rows = np.ascontiguousarray(rows, dtype=self.dtype)
        self.handle.write(rows.tobytes())
        self.rows += rows.shape[0]

    def close(self) -> FileEntry:
        shape = (self.rows, *self.trailing)
        header = repr({"descr": self.dtype.str, "fortran_order": False, "shape": shape})
        text = header.encode("latin1")
        text += b" " * (self.HEADER - 10 - len(text) - 1) + b"\n"
        self.handle.seek(0)
        self.handle.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text)
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        return FileEntry(
            shape=list(shape), bytes=self.path.stat().st_size, xxh3_64=file_digest(self.path)
        )

    def abandon(self) -> None:
        self.handle.close()


def _npy_header(path: Path) -> tuple[np.dtype, tuple[int, ...], int]:
    """dtype, shape and data offset of a ``.npy`` file, or a GalleryError saying what is wrong
    (numpy's own reader raises whatever its parser meets: SyntaxError, KeyError...)."""
    with open(path, "rb") as handle:
        head = handle.read(NpyWriter.HEADER * 64)
    if not head:
        raise GalleryError(str(path), "empty file (0 bytes): cut short")
    if head[:6] != b"\x93NUMPY" or len(head) < 10:
        raise GalleryError(str(path), "not a .npy array (bad magic): damaged")
    major = head[6]
    if major == 1:
        (length,), start = struct.unpack_from("<H", head, 8), 10
    elif major in (2, 3) and len(head) >= 12:
        (length,), start = struct.unpack_from("<I", head, 8), 12
    else:
        raise GalleryError(str(path), f"unknown .npy version {major}: damaged")
    text = head[start : start + length]
    if len(text) != length:
        raise GalleryError(str(path), "the .npy header is cut short")
    try:
        header = ast.literal_eval(text.decode("latin1"))
        dtype = np.dtype(header["descr"])
        shape = tuple(int(v) for v in header["shape"])
        fortran = header["fortran_order"]
    except Exception as exc:  # noqa: BLE001 - any parse failure is a damaged header
        raise GalleryError(str(path), f"damaged .npy header: {type(exc).__name__}") from None
    if fortran is not False:
        raise GalleryError(str(path), "the .npy header is not C order: damaged")
    return dtype, shape, start + length


def open_array(path: Path, dtype: type, expected: FileEntry | None, verify: bool) -> np.ndarray:
    """One array of a generation, memory-mapped, after checking it against the manifest."""
    if expected is None:
        raise GalleryError(str(path), "not listed in the manifest")
    try:
        size = path.stat().st_size
        found, shape, offset = _npy_header(path)
    except FileNotFoundError:
        raise GalleryError(str(path), "missing") from None
    except OSError as exc:
        raise GalleryError(str(path), f"cannot read: {exc.strerror}") from None
    if found != np.dtype(dtype) or list(shape) != expected.shape:
        raise GalleryError(
            str(path),
            f"holds {found} {list(shape)}, the manifest says {np.dtype(dtype)} {expected.shape}",
        )
    if size != expected.bytes:
        what = "cut short" if size < expected.bytes else "longer than written"
        raise GalleryError(str(path), f"{what}: {size} bytes, the manifest says {expected.bytes}")
    if verify and file_digest(path) != expected.xxh3_64:
        raise GalleryError(str(path), "fails its checksum: changed or damaged since written")
    count = int(np.prod(shape)) if shape else 1
    if count == 0:
        return np.zeros(shape, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape)


def read_generation(
    directory: Path, manifest: Manifest, verify: bool = True
) -> tuple[Columns, SubjectIds]:
    """The arrays (memory-mapped) and subject ids of the manifest's generation, checked."""
    if manifest.version < RECORDS_FROM:
        stored = (
            "cylinders stored word for word"
            if manifest.version < BYTE_SPARSE_FROM
            else "each template in four files"
        )
        raise GalleryError(
            str(directory),
            f"gallery format version {manifest.version} ({stored}): upgrade it to version "
            f"{FORMAT_VERSION} first (scomm biometrics gallery-upgrade {directory})",
        )
    gen_dir = directory / f"gen-{manifest.generation}"
    arrays: dict[str, np.ndarray] = {}
    for name, dtype, _shape, _rows in ARRAYS:
        arrays[name] = open_array(gen_dir / f"{name}.npy", dtype, manifest.files.get(name), verify)
    readahead.random_access(arrays[name] for name in READ_AT_RANDOM)
    ids = read_subject_ids(gen_dir, manifest, verify)
    _check_consistent(gen_dir, arrays, manifest, ids.rows)
    base = Columns(arrays, growable=False)
    base.arrays["alive"] = np.array(arrays["alive"])  # removals flip it in memory
    return base, ids


def read_subject_ids(gen_dir: Path, manifest: Manifest, verify: bool = True) -> SubjectIds:
    """The subject ids of the generation in ``gen_dir`` (memory-mapped), checked against the
    manifest and each other."""
    ids = {
        name: open_array(gen_dir / f"{name}.npy", dtype, manifest.files.get(name), verify)
        for name, dtype in subject_ids.ARRAYS
    }
    subjects = int(ids["subject_id_starts"].shape[0]) - 1
    if (
        ids["subject_hashes"].shape[0] != subjects
        or ids["subject_hash_rows"].shape[0] != subjects
        or not _delimits(ids["subject_id_starts"], subjects, ids["subject_ids"].shape[0])
    ):
        raise GalleryError(str(gen_dir), "subject id arrays inconsistent with each other")
    return SubjectIds(ids)


def write_subject_ids(directory: Path, ids: Sequence[str | None]) -> dict[str, FileEntry]:
    """The subject id arrays of ``ids`` (by row) written into ``directory``; their entries."""
    files = {}
    for name, array in subject_ids.encode(ids).items():
        path = directory / f"{name}.npy"
        np.save(path, array)
        files[name] = FileEntry(
            shape=list(array.shape), bytes=path.stat().st_size, xxh3_64=file_digest(path)
        )
    return files


def _delimits(starts: np.ndarray, items: int, length: int) -> bool:
    """Whether ``starts`` (one more than ``items``) cuts ``length`` rows into ``items`` runs,
    from the first row to the last, none of negative length."""
    return bool(
        starts.shape[0] == items + 1
        and int(starts[0]) == 0
        and int(starts[-1]) == length
        and not np.any(np.diff(starts) < 0)
    )


def _check_consistent(
    gen_dir: Path, arrays: dict[str, np.ndarray], manifest: Manifest, subjects: int
) -> None:
    """The arrays of a generation agree with each other and with the manifest, or a
    GalleryError names the first that does not."""
    entries = int(arrays["entry_subject"].shape[0])
    found = {ENTRY: entries}
    for kind in POINTS_INTO.values():
        found[kind] = next((int(a.shape[0]) for n, a in arrays.items() if ROWS[n] == kind), -1)
    # the cylinders are in the records: their count is what offsets says it is, if it
    # delimits (checked below)
    found[CYLINDER] = int(arrays["offsets"][-1]) if arrays["offsets"].shape[0] else -1
    rows = arrays["entry_subject"]
    problem = None
    if subjects != manifest.subjects or entries != manifest.templates:
        problem = "subjects or templates differ from the manifest's counts"
    elif found[CYLINDER] != manifest.cylinders:
        problem = "cylinders differ from the manifest's count"
    elif entries and (int(rows.max()) >= subjects or int(rows.min()) < 0):
        problem = "entry_subject names a subject row that is not there"
    for name, _dtype, _shape, kind in ARRAYS:
        if problem is None and kind != STARTS and arrays[name].shape[0] != found[kind]:
            problem = f"{name} has {arrays[name].shape[0]} rows, not {found[kind]}"
    for name, kind in POINTS_INTO.items():
        if problem is None and not _delimits(arrays[name], entries, found[kind]):
            problem = f"{name} does not delimit the {kind}s of every entry"
    # A record holds at least its minutiae and its cylinders' map bytes, one a word: checked
    # here so that a record is never read past its array's end, even unverified (numba does
    # not check bounds).
    if problem is None and entries:
        least = MINUTIA_BYTES + CYLINDER_WORDS + WORDS_PER_LAYER
        if np.any(np.diff(arrays["template_starts"]) < np.diff(arrays["offsets"]) * least):
            problem = "template_starts gives an entry fewer bytes than its record needs"
        elif np.any(np.diff(arrays["code_starts"]) < CODE_WORDS):
            problem = "code_starts gives an entry fewer bytes than its index code needs"
    if problem is not None:
        raise GalleryError(str(gen_dir), f"arrays inconsistent with each other: {problem}")


def write_generation(
    directory: Path,
    generation: int,
    subjects: Sequence[str | None],
    chunks: Iterable[Columns],
    threshold: float | None,
    journal: JournalState | None = None,
) -> None:
    """Write generation ``generation`` a chunk of templates at a time (:class:`GenerationWriter`),
    then its subject ids (``subjects`` is read once every chunk is written, so a caller may
    fill it as it makes them), then switch the manifest to it (its journal empty, or
    ``journal`` where that is already written). On failure nothing of it is left."""
    writer = GenerationWriter(directory, generation)
    try:
        for chunk in chunks:
            writer.append(chunk)
    except BaseException:
        writer.abandon()
        raise
    writer.finish(subjects, threshold, journal)


def append_chunk(
    writers: Mapping[str, NpyWriter],
    arrays: Mapping[str, np.ndarray],
    written: Mapping[str, int],
    subjects_before: int = 0,
) -> dict[str, int]:
    """Append a chunk's arrays (:data:`ARRAYS`, each array of starts from 0 with its leading
    0; its records unpadded) to a generation's files after ``written`` rows of each kind: its
    records laid out by page (:func:`record_pages.lay_out`), its starts moved past the rows
    written, its entries' subject rows past ``subjects_before``. Returns the rows it added of
    each kind (its template bytes with their padding)."""
    laid = dict(arrays)
    laid["template_bytes"], laid["template_starts"] = record_pages.lay_out(
        np.ascontiguousarray(arrays["template_bytes"]),
        np.ascontiguousarray(arrays["template_starts"], dtype=np.int64),
        NpyWriter.HEADER + written.get(TEMPLATE_BYTE, 0),
    )
    for name, _dtype, _shape, _rows in ARRAYS:
        part = laid[name]
        if name in POINTS_INTO:
            part = part[1:] + written.get(POINTS_INTO[name], 0)
        elif name == "entry_subject" and subjects_before:
            part = part + subjects_before
        writers[name].append(part)
    added = {ENTRY: int(laid["entry_subject"].shape[0])}
    added.update({kind: int(laid[name][-1]) for name, kind in POINTS_INTO.items()})
    return added


class GenerationWriter:
    """A generation's arrays written a chunk of templates at a time, so that compacting,
    copying or upgrading a gallery larger than memory holds one chunk of it, not the gallery;
    in a staging folder until :meth:`finish` moves it into place and switches the manifest.
    A writer not finished is :meth:`abandon`-ed: nothing of it is left."""

    def __init__(self, directory: Path, generation: int) -> None:
        self.directory = directory
        self.generation = generation
        self.staging = Path(tempfile.mkdtemp(dir=directory, prefix=f".gen-{generation}."))
        self.rows = {ENTRY: 0, **{kind: 0 for kind in POINTS_INTO.values()}}
        self.writers: dict[str, NpyWriter] = {}
        try:
            for name, dtype, shape, kind in ARRAYS:
                self.writers[name] = NpyWriter(self.staging / f"{name}.npy", dtype, shape)
                if kind == STARTS:
                    self.writers[name].append(np.zeros(1, np.int64))
        except BaseException:
            self.abandon()
            raise

    def append(self, chunk: Columns) -> None:
        """The chunk's templates after those written so far (with the subject rows the chunk
        gives them: the caller numbers subjects across chunks)."""
        added = append_chunk(self.writers, {name: chunk.view(name) for name in ROWS}, self.rows)
        for kind in self.rows:
            self.rows[kind] += added[kind]

    def finish(
        self,
        subjects: Sequence[str | None],
        threshold: float | None,
        journal: JournalState | None = None,
    ) -> None:
        """Close and checksum the files, move them into place and switch the manifest to them
        (its journal empty, or ``journal`` where that is already written)."""
        final = self.directory / f"gen-{self.generation}"
        try:
            files = {name: writer.close() for name, writer in self.writers.items()}
            files.update(write_subject_ids(self.staging, subjects))
            if final.exists():
                shutil.rmtree(final)
            os.replace(self.staging, final)
        except BaseException:
            self.abandon()
            raise
        manifest = new_manifest(
            self.generation, len(subjects), self.rows[ENTRY], self.rows[CYLINDER], files, threshold
        )
        if journal is not None:
            manifest = manifest.model_copy(update={"journal": journal})
        write_manifest(self.directory, manifest)

    def abandon(self) -> None:
        for writer in self.writers.values():
            writer.abandon()
        shutil.rmtree(self.staging, ignore_errors=True)


def new_manifest(
    generation: int,
    subjects: int,
    templates: int,
    cylinders: int,
    files: dict[str, FileEntry],
    threshold: float | None = None,
) -> Manifest:
    return Manifest(
        format=FORMAT,
        version=FORMAT_VERSION,
        matcher_version=matcher.VERSION,
        index=dict(INDEX_PARAMETERS),
        generation=generation,
        subjects=subjects,
        templates=templates,
        cylinders=cylinders,
        threshold=threshold,
        files=files,
        journal=JournalState(bytes=0, records=0),
    )
