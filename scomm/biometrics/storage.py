"""A gallery on disk: its arrays by generation, its manifest with checksums, its journal.

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

The journal's CRCs find a damaged record, but not a journal cut at a record boundary or
deleted: that leaves a valid journal with fewer enrolments. So, as a database's log has its
commit point, the manifest (checksummed) records the journal's committed length and record
count, and is rewritten after each record reaches the disk. A journal shorter than that, or
missing, is refused on open; bytes past it are a record whose write was interrupted before it
was committed (the caller never saw it succeed) and are ignored, then cut off by the next write.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import struct
import tempfile
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import xxhash
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from scomm.biometrics import byte_sparse, matcher, subject_ids
from scomm.biometrics.matcher import CYLINDER_WORDS, WORDS_PER_LAYER, Prepared
from scomm.biometrics.screen import CODE_WORDS, INDEX_PARAMETERS, code_size
from scomm.biometrics.subject_ids import SubjectIds
from scomm.errors import GalleryError
from scomm.files import write_bytes_atomic

FORMAT = "scomm-gallery"
# 2: every file of a generation and the manifest itself carry a checksum.
# 3: the manifest records the journal's committed length (a version-2 manifest is read, its
# journal taken as it is, and becomes version 3 at its next write).
# 4: cylinders and index codes stored byte-sparse (scomm.biometrics.byte_sparse): 5 kB a template on
# disk instead of 14. A version-2 or -3 gallery is read only by upgrade().
FORMAT_VERSION = 4
_READABLE_VERSIONS = (2, 3, 4)
_PACKED_FROM = 4

# What one row of an array is: an entry (a template), a cylinder (one of its minutiae), or a
# byte of its encoded cylinders or index code. An array of starts has a row more than there
# are entries: entry e's rows of the array it points into are starts[e] to starts[e + 1] - 1.
ENTRY, CYLINDER, CYLINDER_BYTE, CODE_BYTE, STARTS = (
    "entry", "cylinder", "cylinder byte", "code byte", "starts"
)  # fmt: skip
ARRAYS = (  # name, dtype, trailing shape, rows
    ("entry_subject", np.int32, (), ENTRY),
    ("entry_finger", np.uint8, (), ENTRY),
    ("offsets", np.int64, (), STARTS),  # into x, y, theta
    ("alive", np.bool_, (), ENTRY),
    ("code_starts", np.int64, (), STARTS),
    ("code_bytes", np.uint8, (), CODE_BYTE),
    ("code_sizes", np.float32, (), ENTRY),
    ("x", np.float32, (), CYLINDER),
    ("y", np.float32, (), CYLINDER),
    ("theta", np.float32, (), CYLINDER),
    ("cylinder_starts", np.int64, (), STARTS),
    ("cylinder_bytes", np.uint8, (), CYLINDER_BYTE),
)
ROWS = {name: rows for name, _dtype, _shape, rows in ARRAYS}
POINTS_INTO = {"offsets": CYLINDER, "code_starts": CODE_BYTE, "cylinder_starts": CYLINDER_BYTE}
# The arrays of a version-2 or -3 generation that version 4 stores otherwise.
_DENSE_ARRAYS = (
    ("codes", np.uint64, (CODE_WORDS,)),
    ("bits", np.uint64, (CYLINDER_WORDS,)),
    ("masks", np.uint64, (WORDS_PER_LAYER,)),
)
_LEGACY_SUBJECTS_FILE = "subjects.json"  # versions 2 and 3: the ids as one JSON list
_JOURNAL_MAGIC = b"SGJ1"
_RECORD_HEAD = struct.Struct(">4scII")  # magic, kind, payload length, CRC-32 of the payload
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


def _digest(data: bytes) -> str:
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
    return json.dumps({**body, "checksum": _digest(_canonical(body))}, indent=1).encode()


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
    if checksum != _digest(_canonical(raw)):
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
            CYLINDER_BYTE: (
                encoded := matcher.encode_cylinders(prepared.bits, prepared.masks)
            ).shape[0],
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
        c, k = at[CYLINDER], len(prepared)
        a["x"][c : c + k] = prepared.x
        a["y"][c : c + k] = prepared.y
        a["theta"][c : c + k] = prepared.theta
        a["code_bytes"][at[CODE_BYTE] : at[CODE_BYTE] + added[CODE_BYTE]] = encoded_code
        a["cylinder_bytes"][at[CYLINDER_BYTE] : at[CYLINDER_BYTE] + added[CYLINDER_BYTE]] = encoded
        for name, kind in POINTS_INTO.items():
            self.rows[kind] += added[kind]
            a[name][e + 1] = self.rows[kind]
        self.entries += 1
        self.rows[ENTRY] = self.entries
        return e

    def prepared(self, entry: int) -> Prepared:
        s, e = int(self.arrays["offsets"][entry]), int(self.arrays["offsets"][entry + 1])
        a = self.arrays
        lo, hi = int(a["cylinder_starts"][entry]), int(a["cylinder_starts"][entry + 1])
        bits, masks = matcher.decode_cylinder_block(a["cylinder_bytes"][lo:hi], e - s)
        return Prepared(
            x=a["x"][s:e],
            y=a["y"][s:e],
            theta=a["theta"][s:e],
            bits=bits,
            masks=masks,
            minutia_index=np.arange(e - s, dtype=np.int32),
        )

    def code(self, entry: int) -> np.ndarray:
        """The index code of ``entry`` (``CODE_WORDS`` words)."""
        a = self.arrays
        lo, hi = int(a["code_starts"][entry]), int(a["code_starts"][entry + 1])
        return byte_sparse.decode(a["code_bytes"][lo:hi], 1, CODE_WORDS)[0]


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


def _read_legacy_subjects(path: Path, expected: FileEntry | None, verify: bool) -> list[str | None]:
    if expected is None:
        raise GalleryError(str(path), "not listed in the manifest")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise GalleryError(str(path), f"unreadable: {exc.strerror}") from None
    if len(data) != expected.bytes or (verify and _digest(data) != expected.xxh3_64):
        raise GalleryError(str(path), "fails its checksum: changed or damaged since written")
    try:
        subjects = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise GalleryError(str(path), f"unreadable: {exc}") from None
    if not isinstance(subjects, list) or not all(s is None or isinstance(s, str) for s in subjects):
        raise GalleryError(str(path), "not a list of subject ids")
    return subjects


def read_generation(
    directory: Path, manifest: Manifest, verify: bool = True
) -> tuple[Columns, SubjectIds]:
    """The arrays (memory-mapped) and subject ids of the manifest's generation, checked."""
    if manifest.version < _PACKED_FROM:
        raise GalleryError(
            str(directory),
            f"gallery format version {manifest.version} (cylinders stored word for word): "
            f"upgrade it to version {FORMAT_VERSION} first (scomm biometrics gallery-upgrade "
            f"{directory})",
        )
    gen_dir = directory / f"gen-{manifest.generation}"
    arrays: dict[str, np.ndarray] = {}
    for name, dtype, _shape, _rows in ARRAYS:
        arrays[name] = open_array(gen_dir / f"{name}.npy", dtype, manifest.files.get(name), verify)
    ids = {
        name: open_array(gen_dir / f"{name}.npy", dtype, manifest.files.get(name), verify)
        for name, dtype in subject_ids.ARRAYS
    }
    subjects = int(ids["subject_id_starts"].shape[0]) - 1
    starts = ids["subject_id_starts"]
    if (
        ids["subject_hashes"].shape[0] != subjects
        or ids["subject_hash_rows"].shape[0] != subjects
        or int(starts[0]) != 0
        or int(starts[-1]) != ids["subject_ids"].shape[0]
        or np.any(np.diff(starts) < 0)
    ):
        raise GalleryError(str(gen_dir), "subject id arrays inconsistent with each other")
    _check_consistent(gen_dir, arrays, manifest, subjects)
    base = Columns(arrays, growable=False)
    base.arrays["alive"] = np.array(arrays["alive"])  # removals flip it in memory
    return base, SubjectIds(ids)


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


def _check_consistent(
    gen_dir: Path, arrays: dict[str, np.ndarray], manifest: Manifest, subjects: int
) -> None:
    """The arrays of a generation agree with each other and with the manifest, or a
    GalleryError names the first that does not."""
    entries = int(arrays["entry_subject"].shape[0])
    found = {ENTRY: entries}
    for kind in POINTS_INTO.values():
        found[kind] = next(int(a.shape[0]) for n, a in arrays.items() if ROWS[n] == kind)
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
        starts = arrays[name]
        if problem is not None:
            break
        if (
            starts.shape[0] != entries + 1
            or int(starts[0]) != 0
            or int(starts[-1]) != found[kind]
            or np.any(np.diff(starts) < 0)
        ):
            problem = f"{name} does not delimit the {kind}s of every entry"
    # An encoded block holds at least its map bytes, one a word: checked here so that a block
    # is never read past its array's end, even unverified (numba does not check bounds).
    if problem is None and entries:
        map_bytes = np.diff(arrays["offsets"]) * (CYLINDER_WORDS + WORDS_PER_LAYER)
        if np.any(np.diff(arrays["cylinder_starts"]) < map_bytes):
            problem = "cylinder_starts gives an entry fewer bytes than its cylinders need"
        elif np.any(np.diff(arrays["code_starts"]) < CODE_WORDS):
            problem = "code_starts gives an entry fewer bytes than its index code needs"
    if problem is not None:
        raise GalleryError(str(gen_dir), f"arrays inconsistent with each other: {problem}")


def write_generation(
    directory: Path,
    generation: int,
    subjects: Sequence[str | None],
    columns: Columns,
    threshold: float | None,
    journal: JournalState | None = None,
) -> None:
    """Write generation ``generation`` (arrays, subject ids), then switch the manifest to it
    (its journal empty, or ``journal`` where that is already written)."""
    final = directory / f"gen-{generation}"
    staging = Path(tempfile.mkdtemp(dir=directory, prefix=f".gen-{generation}."))
    files: dict[str, FileEntry] = {}
    try:
        for name, _dtype, _shape, _rows in ARRAYS:
            array = np.ascontiguousarray(columns.view(name))
            path = staging / f"{name}.npy"
            np.save(path, array)
            files[name] = FileEntry(
                shape=list(array.shape), bytes=path.stat().st_size, xxh3_64=file_digest(path)
            )
        files.update(write_subject_ids(staging, subjects))
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    manifest = new_manifest(
        generation, len(subjects), columns.entries, columns.cylinders, files, threshold
    )
    if journal is not None:
        manifest = manifest.model_copy(update={"journal": journal})
    write_manifest(directory, manifest)


def upgrade(directory: Path, verify: bool = True) -> bool:
    """Rewrite a version-2 or -3 gallery as version 4 (its cylinders and codes byte-sparse), as a
    new generation with the same subjects, templates and committed journal, switched to by
    the manifest; the old generation is removed after. False if it was version 4 already.
    Interrupted, the gallery is left as it was (the old generation until the manifest
    switches, the new one after)."""
    manifest = read_manifest(directory)
    if manifest.version >= _PACKED_FROM:
        return False
    old = manifest.generation
    gen_dir = directory / f"gen-{old}"
    dense = {}
    for name, dtype, _shape in (
        *((n, d, s) for n, d, s, r in ARRAYS if n in _KEPT_BY_UPGRADE),
        *_DENSE_ARRAYS,
    ):
        dense[name] = open_array(gen_dir / f"{name}.npy", dtype, manifest.files.get(name), verify)
    subjects = _read_legacy_subjects(
        gen_dir / _LEGACY_SUBJECTS_FILE, manifest.files.get(_LEGACY_SUBJECTS_FILE), verify
    )
    columns = Columns.empty()
    offsets = dense["offsets"]
    for e in range(int(dense["entry_subject"].shape[0])):
        s, t = int(offsets[e]), int(offsets[e + 1])
        prepared = Prepared(
            x=np.asarray(dense["x"][s:t]),
            y=np.asarray(dense["y"][s:t]),
            theta=np.asarray(dense["theta"][s:t]),
            bits=np.asarray(dense["bits"][s:t]),
            masks=np.asarray(dense["masks"][s:t]),
            minutia_index=np.arange(t - s, dtype=np.int32),
        )
        row = int(dense["entry_subject"][e])
        columns.append(row, int(dense["entry_finger"][e]), prepared, np.asarray(dense["codes"][e]))
        columns.arrays["alive"][e] = bool(dense["alive"][e])
    journal = manifest.journal
    old_journal = journal_path(directory, old)
    if journal is None:  # version 2: the journal as it stands is committed
        size = old_journal.stat().st_size if old_journal.exists() else 0
        records = sum(1 for _ in read_records(old_journal)) if size else 0
        journal = JournalState(bytes=size, records=records)
    new_journal = journal_path(directory, old + 1)
    committed = old_journal.read_bytes()[: journal.bytes] if journal.bytes else b""
    write_bytes_atomic(new_journal, committed, durable=True)
    write_generation(directory, old + 1, subjects, columns, manifest.threshold, journal)
    shutil.rmtree(gen_dir, ignore_errors=True)
    old_journal.unlink(missing_ok=True)
    return True


_KEPT_BY_UPGRADE = ("entry_subject", "entry_finger", "offsets", "alive", "x", "y", "theta")


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


# --- the journal -------------------------------------------------------------------------------


def append_record(path: Path, kind: bytes, payload: bytes) -> None:
    """One journal record at the end of ``path``, on disk before this returns; a failed
    write is cut back so that no half-written record is left behind."""
    record = _RECORD_HEAD.pack(_JOURNAL_MAGIC, kind, len(payload), zlib.crc32(payload))
    with open(path, "ab") as handle:
        start = handle.tell()
        try:
            handle.write(record + payload)
            handle.flush()
            os.fsync(handle.fileno())
        except BaseException:
            handle.truncate(start)
            raise


def journal_path(directory: Path, generation: int) -> Path:
    return directory / f"journal-{generation}.bin"


def append_committed(directory: Path, kind: bytes, payload: bytes) -> None:
    """One record at the end of the committed journal of ``directory``'s generation, then the
    manifest says it is committed. If either write fails, the journal is cut back to its
    committed length and the manifest is left as it was: the record is not there."""
    manifest = read_manifest(directory)
    path = journal_path(directory, manifest.generation)
    state = manifest.journal
    if state is None:  # a version-2 manifest: the journal as it stands is committed
        state = JournalState(
            bytes=path.stat().st_size if path.exists() else 0,
            records=sum(1 for _ in read_records(path)) if path.exists() else 0,
        )
    record = _RECORD_HEAD.size + len(payload)
    size = path.stat().st_size if path.exists() else 0
    if size < state.bytes:
        raise GalleryError(
            str(path), f"cut short since it was opened: {size} bytes, {state.bytes} committed"
        )
    if size > state.bytes:
        with open(path, "ab") as handle:
            handle.truncate(state.bytes)  # an uncommitted tail of an interrupted write
    append_record(path, kind, payload)
    try:
        committed = JournalState(bytes=state.bytes + record, records=state.records + 1)
        write_manifest(
            directory,
            manifest.model_copy(update={"version": FORMAT_VERSION, "journal": committed}),
        )
    except BaseException:
        with open(path, "ab") as handle:
            handle.truncate(state.bytes)
        raise


def committed_records(directory: Path, manifest: Manifest) -> Iterator[tuple[bytes, bytes, int]]:
    """The committed records of the manifest's journal (see :func:`read_records`); a journal
    missing, cut short or holding another number of records than the manifest records is a
    GalleryError naming it."""
    path = journal_path(directory, manifest.generation)
    state = manifest.journal
    if state is None:  # version 2: nothing recorded to check against
        if path.exists():
            yield from read_records(path)
        return
    if state.bytes == 0:
        return
    said = f"the manifest records {state.records} records ({state.bytes} bytes)"
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise GalleryError(str(path), f"missing: {said}") from None
    if size < state.bytes:
        raise GalleryError(str(path), f"cut short: {size} bytes, {said}")
    count = 0
    for record in read_records(path, state.bytes):
        count += 1
        yield record
    if count != state.records:
        raise GalleryError(str(path), f"holds {count} records, {said}")


def read_records(path: Path, length: int | None = None) -> Iterator[tuple[bytes, bytes, int]]:
    """``(kind, payload, byte offset)`` of every record (of the first ``length`` bytes), each
    checked (magic, length, CRC)."""
    data = path.read_bytes()
    if length is not None:
        data = data[:length]
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
        yield kind, payload, pos
        pos += _RECORD_HEAD.size + length


def encode_enrolment(subject_id: str, fingers: list[tuple[int, Prepared, np.ndarray]]) -> bytes:
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


def decode_enrolments(
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
